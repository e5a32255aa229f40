//! The per-version life cycle, with TF Serving's names.

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum VersionState {
    /// Known (directory seen or listed in traffic), load not started.
    Start,
    Loading,
    /// Warmed up and eligible for traffic.
    Available,
    /// Out of routing, finishing its in-flight requests.
    Unloading,
    /// Unloaded, or failed to load (then the error is kept beside it).
    End,
}

impl VersionState {
    pub const ALL: [VersionState; 5] = [
        VersionState::Start,
        VersionState::Loading,
        VersionState::Available,
        VersionState::Unloading,
        VersionState::End,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            VersionState::Start => "START",
            VersionState::Loading => "LOADING",
            VersionState::Available => "AVAILABLE",
            VersionState::Unloading => "UNLOADING",
            VersionState::End => "END",
        }
    }
}

impl std::fmt::Display for VersionState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}
