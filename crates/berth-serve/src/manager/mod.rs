//! The versions of one model. The desired set (versions, directories,
//! optional weights) comes from outside: the filesystem poller in standalone
//! mode, the BertModel watcher in controlled mode. The manager converges on
//! it: loads what is wanted beside what is served, unloads what is not (only
//! once something else is serving, so a swap never leaves a gap), and keeps
//! the routing table in step.

pub mod controlled;
pub mod error;
pub mod golden;
pub mod golden_fetch;
pub mod labels;
pub mod mirroring;
pub mod poller;
pub mod repository;
pub mod routing;
pub mod state;
pub mod version_id;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use tokio::sync::Semaphore;

pub use error::{RepoError, RouteError};
pub use golden::{GoldenCheck, GoldenGate};
pub use labels::VersionLabels;
pub use mirroring::{MirrorTicket, Mirroring};
pub use repository::VersionPolicy;
pub use routing::Routing;
pub use state::VersionState;
pub use version_id::{InvalidVersion, VersionId};

use crate::config::ServingConfig;
use crate::engine::Version;
use crate::engine::load::load;
use crate::metrics::Metrics;
use crate::remote::RemoteStore;

/// One version the source wants served.
#[derive(Debug, Clone, PartialEq)]
pub struct DesiredVersion {
    pub version: VersionId,
    pub dir: PathBuf,
    /// Directory fingerprint: a failed version is retried when it changes.
    pub fingerprint: u64,
    /// Share of default traffic; `None` everywhere means "newest AVAILABLE
    /// gets everything" (standalone mode).
    pub weight: Option<f64>,
    /// Set when the version lives in an object store: `dir` is then its local
    /// mirror, filled while the version is LOADING.
    pub remote: Option<RemoteVersion>,
}

/// Where a remote version comes from.
#[derive(Debug, Clone)]
pub struct RemoteVersion {
    pub store: Arc<RemoteStore>,
}

impl PartialEq for RemoteVersion {
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.store, &other.store)
    }
}

/// What one version looks like from outside.
#[derive(Debug, Clone, PartialEq)]
pub struct VersionStatus {
    pub version: VersionId,
    pub state: VersionState,
    pub error: Option<String>,
    /// Current share of default traffic, percent.
    pub traffic: f64,
    /// Loaded, then failed its golden set (`error` says how): reported as
    /// FAILED_PRECONDITION so the operator rejects it as `GoldenSet`.
    pub failed_golden_set: bool,
}

struct Slot {
    state: VersionState,
    error: Option<String>,
    failed_golden_set: bool,
    dir: PathBuf,
    fingerprint: u64,
    weight: Option<f64>,
    /// In the desired set.
    wanted: bool,
    /// Bumped on every (re)load so a stale load result is discarded.
    generation: u64,
    version: Option<Arc<Version>>,
}

/// Ended versions kept in the status for the operator to read.
const KEEP_ENDED: usize = 8;
/// `result` of a mirrored copy that was not sent: no spare capacity.
pub const MIRROR_DROPPED: &str = "dropped";

pub struct ModelManager {
    name: String,
    cfg: Arc<ServingConfig>,
    metrics: Metrics,
    slots: Mutex<BTreeMap<VersionId, Slot>>,
    routing: RwLock<Arc<Routing<Arc<Version>>>>,
    /// Version labels from the source (see [`labels`]).
    labels: RwLock<VersionLabels>,
    /// One load at a time: loads are CPU- and memory-heavy and would slow
    /// the versions that are serving.
    load_permits: Semaphore,
    /// Copies of stable's requests for the canary (`status.canaryVersion` at
    /// `status.mirror` percent), on spare capacity only.
    mirroring: Arc<Mirroring>,
    /// The golden set the canary must pass before it is AVAILABLE (controlled mode).
    golden: RwLock<Option<GoldenGate>>,
    /// A handle to spawn loads and unloads from wherever `apply` is called.
    runtime: tokio::runtime::Handle,
}

impl std::fmt::Debug for ModelManager {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ModelManager").field("name", &self.name).finish_non_exhaustive()
    }
}

impl ModelManager {
    /// Must be called inside a tokio runtime.
    pub fn new(name: impl Into<String>, cfg: Arc<ServingConfig>, metrics: Metrics) -> Arc<Self> {
        Arc::new(Self {
            mirroring: Mirroring::new(cfg.mirror_budget),
            name: name.into(),
            cfg,
            metrics,
            slots: Mutex::new(BTreeMap::new()),
            routing: RwLock::new(Arc::new(Routing::default())),
            labels: RwLock::new(VersionLabels::default()),
            load_permits: Semaphore::new(1),
            golden: RwLock::new(None),
            runtime: tokio::runtime::Handle::current(),
        })
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn config(&self) -> &ServingConfig {
        &self.cfg
    }

    pub fn routing(&self) -> Arc<Routing<Arc<Version>>> {
        match self.routing.read() {
            Ok(r) => Arc::clone(&r),
            Err(poisoned) => Arc::clone(&poisoned.into_inner()),
        }
    }

    pub fn is_ready(&self) -> bool {
        self.routing().is_ready()
    }

    /// The version a request goes to: the named one, or one drawn by weight.
    pub fn route(&self, explicit: Option<&str>) -> Result<Arc<Version>, RouteError> {
        let routing = self.routing();
        match explicit.filter(|v| !v.is_empty()) {
            Some(text) => {
                let unknown = || RouteError::UnknownVersion { model: self.name.clone(), version: text.to_string() };
                let number: VersionId = text.parse().map_err(|_| unknown())?;
                if let Some(v) = routing.available.get(&number) {
                    return Ok(Arc::clone(v));
                }
                let slots = self.lock_slots();
                match slots.get(&number) {
                    Some(slot) => Err(RouteError::NotAvailable {
                        model: self.name.clone(),
                        version: number,
                        state: slot.state,
                        error: slot.error.clone(),
                    }),
                    None => Err(unknown()),
                }
            }
            None => {
                routing.pick(rand::random::<f64>()).cloned().ok_or_else(|| RouteError::NoneAvailable(self.name.clone()))
            }
        }
    }

    /// Where a request the router sent to `failed` goes when that version fails it
    /// server-side: the stable version (`status.stableVersion`, or the one taking the
    /// most traffic), while it is AVAILABLE and is not the one that failed. Stable
    /// itself has no fallback: its failures are the clients' to see.
    pub fn fallback_for(&self, failed: &VersionId) -> Option<Arc<Version>> {
        let stable = self.label_version(labels::STABLE).ok()?;
        if &stable == failed {
            return None;
        }
        self.routing().available.get(&stable).cloned()
    }

    /// Copy `percent` of the requests stable answers to `version` (`None`: copy none).
    pub fn set_mirror(&self, mirror: Option<(VersionId, f64)>) {
        self.mirroring.set(mirror);
    }

    /// Where a copy of a request `answered_by` answers would go, drawn at the mirror's
    /// share: the mirror version, when `answered_by` is stable and the mirror version
    /// is AVAILABLE. Whether the copy runs is decided once stable has answered
    /// ([`Self::admit_mirror`]).
    pub fn mirror_for(&self, answered_by: &VersionId) -> Option<Arc<Version>> {
        let target = self.mirroring.draw(answered_by, rand::random::<f64>())?;
        if self.label_version(labels::STABLE).ok().as_ref() != Some(answered_by) {
            return None;
        }
        self.routing().available.get(&target).cloned()
    }

    /// Lets the copy to `canary` of a request `stable` just answered run now, on spare
    /// capacity; a refused copy is dropped and counted.
    pub fn admit_mirror(&self, canary: Arc<Version>, stable: &Version) -> Option<MirrorTicket> {
        let version = canary.number.clone();
        match self.mirroring.admit(canary, stable) {
            Ok(ticket) => Some(ticket),
            Err(refused) => {
                tracing::trace!(model = %self.name, version = %version, ?refused, "mirrored copy dropped");
                self.metrics.observe_mirrored(&self.name, version.as_str(), MIRROR_DROPPED, &[]);
                None
            }
        }
    }

    /// The golden set the next load of `gate.version` must pass (`None`: no gate). Set
    /// before the version is applied: a load already past its golden set keeps its result.
    pub fn set_golden_gate(&self, gate: Option<GoldenGate>) {
        match self.golden.write() {
            Ok(mut g) => *g = gate,
            Err(poisoned) => *poisoned.into_inner() = gate,
        }
    }

    fn golden_gate_for(&self, version: &VersionId) -> Option<GoldenGate> {
        let gate = match self.golden.read() {
            Ok(g) => g.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        };
        gate.filter(|g| &g.version == version)
    }

    /// Replaces the version labels (controlled mode: on every status change).
    pub fn set_labels(&self, labels: VersionLabels) {
        match self.labels.write() {
            Ok(mut l) => *l = labels,
            Err(poisoned) => *poisoned.into_inner() = labels,
        }
    }

    /// The version `label` names now (it may not be AVAILABLE).
    pub fn label_version(&self, label: &str) -> Result<VersionId, RouteError> {
        let routing = self.routing();
        let labels = match self.labels.read() {
            Ok(l) => l,
            Err(poisoned) => poisoned.into_inner(),
        };
        labels
            .resolve(label, routing.main_version())
            .ok_or_else(|| RouteError::UnknownLabel { model: self.name.clone(), label: label.to_string() })
    }

    pub fn status(&self) -> Vec<VersionStatus> {
        let shares = self.routing().shares();
        self.lock_slots()
            .iter()
            .map(|(version, slot)| VersionStatus {
                version: version.clone(),
                state: slot.state,
                error: slot.error.clone(),
                traffic: shares.get(version).copied().unwrap_or(0.0),
                failed_golden_set: slot.failed_golden_set,
            })
            .collect()
    }

    /// Converges on `desired`: starts loads and unloads and returns at once.
    pub fn apply(self: &Arc<Self>, desired: &[DesiredVersion]) {
        let mut to_load = Vec::new();
        {
            let mut slots = self.lock_slots();
            for slot in slots.values_mut() {
                slot.wanted = false;
            }
            for d in desired {
                let slot = slots.entry(d.version.clone()).or_insert_with(|| Slot {
                    state: VersionState::End,
                    error: None,
                    failed_golden_set: false,
                    dir: d.dir.clone(),
                    fingerprint: d.fingerprint,
                    weight: None,
                    wanted: true,
                    generation: 0,
                    version: None,
                });
                slot.wanted = true;
                slot.weight = d.weight;
                // New, unloaded earlier, or failed and changed since: (re)load.
                let retry = slot.error.is_none() || slot.fingerprint != d.fingerprint || slot.dir != d.dir;
                if slot.state == VersionState::End && (slot.generation == 0 || retry) {
                    slot.state = VersionState::Start;
                    slot.error = None;
                    slot.failed_golden_set = false;
                    slot.dir = d.dir.clone();
                    slot.fingerprint = d.fingerprint;
                    slot.generation += 1;
                    self.metrics.set_state(&self.name, &d.version.to_string(), VersionState::Start);
                    to_load.push((d.version.clone(), d.dir.clone(), slot.generation, d.remote.clone()));
                }
            }
            self.prune_ended(&mut slots);
        }
        for (version, dir, generation, remote) in to_load {
            let this = Arc::clone(self);
            self.runtime.spawn(async move { this.load_version(version, dir, generation, remote).await });
        }
        self.settle();
    }

    async fn load_version(
        self: Arc<Self>,
        version: VersionId,
        dir: PathBuf,
        generation: u64,
        remote: Option<RemoteVersion>,
    ) {
        let Ok(_permit) = self.load_permits.acquire().await else {
            return;
        };
        let label = version.to_string();
        {
            // Unwanted while it waited for its turn: never load it.
            let mut slots = self.lock_slots();
            match slots.get_mut(&version) {
                Some(slot) if slot.generation == generation && slot.wanted => {
                    slot.state = VersionState::Loading;
                    self.metrics.set_state(&self.name, &label, VersionState::Loading);
                }
                Some(slot) if slot.generation == generation => {
                    slot.state = VersionState::End;
                    self.metrics.set_state(&self.name, &label, VersionState::End);
                    return;
                }
                _ => return,
            }
        }
        tracing::info!(model = %self.name, version = %label, dir = %dir.display(), "loading version");
        let started = Instant::now();
        let fetched = match &remote {
            Some(r) => crate::remote::mirror::mirror(&r.store, version.as_str(), &dir).await.map(|bytes| {
                let seconds = started.elapsed().as_secs_f64();
                tracing::info!(model = %self.name, version = %label, from = r.store.uri(), bytes, seconds, "version fetched");
            }),
            None => Ok(()),
        };
        let result = match fetched {
            Ok(()) => {
                let (name, cfg, vm) =
                    (self.name.clone(), Arc::clone(&self.cfg), self.metrics.version(&self.name, &label));
                let v = version.clone();
                match tokio::task::spawn_blocking(move || load(&name, v, &dir, &cfg, vm)).await {
                    Ok(r) => r.map_err(|e| (e.category(), e.to_string())),
                    Err(join) => Err(("panic", format!("loading panicked: {join}"))),
                }
            }
            Err(e) => Err((e.category(), format!("fetching the version: {e}"))),
        };
        let result = match result {
            Ok(loaded) => self.judge_golden(&version, loaded).await,
            Err(e) => Err(e),
        };
        let seconds = started.elapsed().as_secs_f64();
        {
            let mut slots = self.lock_slots();
            let Some(slot) = slots.get_mut(&version).filter(|s| s.generation == generation) else {
                return;
            };
            match result {
                Ok(loaded) => {
                    tracing::info!(model = %self.name, version = %label, seconds, "version AVAILABLE");
                    self.metrics.set_load_duration(&self.name, &label, seconds);
                    self.metrics.set_output_width(&self.name, &label, loaded.output_width);
                    slot.state = VersionState::Available;
                    slot.version = Some(Arc::new(loaded));
                }
                Err((category, message)) => {
                    tracing::warn!(model = %self.name, version = %label, category, error = %message, "version failed to load");
                    slot.state = VersionState::End;
                    slot.error = Some(message);
                    slot.failed_golden_set = category == golden::FAILED_CATEGORY;
                }
            }
            self.metrics.set_state(&self.name, &label, slot.state);
        }
        self.settle();
    }

    /// Passes `loaded` through its golden gate, if it has one. A version that fails is
    /// stopped here, before any request can reach it.
    async fn judge_golden(&self, version: &VersionId, loaded: Version) -> Result<Version, (&'static str, String)> {
        let Some(gate) = self.golden_gate_for(version) else { return Ok(loaded) };
        let verdict = match &gate.check {
            Ok(check) => golden::evaluate(&loaded, check, self.cfg.max_batch_size).await.map(|score| {
                tracing::info!(model = %self.name, version = %version, source = %check.source,
                    score = score.score, examples = score.examples, "golden set passed");
            }),
            Err(unreadable) => Err(format!("the golden set could not be read: {unreadable}")),
        };
        match verdict {
            Ok(()) => Ok(loaded),
            Err(message) => {
                let workers = loaded.take_workers();
                // Dropping the only reference closes the queue; the workers exit.
                drop(loaded);
                let _ = tokio::task::spawn_blocking(move || {
                    for w in workers {
                        let _ = w.join();
                    }
                })
                .await;
                Err((golden::FAILED_CATEGORY, message))
            }
        }
    }

    /// Moves a slot of the given generation to `state`; false when the slot
    /// was replaced or removed meanwhile.
    fn transition(&self, version: &VersionId, generation: u64, state: VersionState) -> bool {
        let mut slots = self.lock_slots();
        match slots.get_mut(version) {
            Some(slot) if slot.generation == generation => {
                slot.state = state;
                self.metrics.set_state(&self.name, &version.to_string(), state);
                true
            }
            _ => false,
        }
    }

    /// Unloads unwanted AVAILABLE versions once a wanted one is AVAILABLE (or
    /// nothing is wanted at all), then rebuilds the routing table.
    fn settle(self: &Arc<Self>) {
        let mut unloads = Vec::new();
        {
            let mut slots = self.lock_slots();
            // Availability first: an unwanted version keeps serving until a
            // wanted one is AVAILABLE, so a new version that is still
            // loading, or broken, never leaves the model without one. Only
            // an empty desired set (everything removed, shutdown) unloads
            // regardless.
            let wanted_available = slots.values().any(|s| s.wanted && s.state == VersionState::Available);
            let any_wanted = slots.values().any(|s| s.wanted);
            if wanted_available || !any_wanted {
                for (v, slot) in slots.iter_mut() {
                    if !slot.wanted
                        && slot.state == VersionState::Available
                        && let Some(version) = slot.version.take()
                    {
                        slot.state = VersionState::Unloading;
                        self.metrics.set_state(&self.name, &v.to_string(), VersionState::Unloading);
                        unloads.push((v.clone(), slot.generation, version));
                    }
                }
            }
            self.rebuild_routing(&slots);
        }
        for (v, generation, version) in unloads {
            let this = Arc::clone(self);
            self.runtime.spawn(async move { this.unload_version(v, generation, version).await });
        }
    }

    fn rebuild_routing(&self, slots: &BTreeMap<VersionId, Slot>) {
        let available: BTreeMap<VersionId, Arc<Version>> = slots
            .iter()
            .filter(|(_, s)| s.state == VersionState::Available)
            .filter_map(|(v, s)| s.version.clone().map(|h| (v.clone(), h)))
            .collect();
        let weights: Vec<(VersionId, f64)> =
            slots.iter().filter(|(_, s)| s.wanted).filter_map(|(v, s)| s.weight.map(|w| (v.clone(), w))).collect();
        // Newest wanted AVAILABLE version, else newest AVAILABLE (an
        // unwanted one still serving until its replacement is ready).
        let default = slots
            .iter()
            .rev()
            .find(|(_, s)| s.wanted && s.state == VersionState::Available)
            .or_else(|| slots.iter().rev().find(|(_, s)| s.state == VersionState::Available))
            .map(|(v, _)| v.clone());
        let table = Arc::new(Routing::new(available, &weights, default));
        match self.routing.write() {
            Ok(mut r) => *r = table,
            Err(poisoned) => *poisoned.into_inner() = table,
        }
    }

    /// Waits for in-flight requests (each holds an `Arc<Version>`), then stops
    /// the workers.
    async fn unload_version(self: Arc<Self>, v: VersionId, generation: u64, version: Arc<Version>) {
        tracing::info!(model = %self.name, version = %v, "unloading version");
        let deadline = Instant::now() + self.cfg.drain_timeout;
        while Arc::strong_count(&version) > 1 && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        let drained = Arc::strong_count(&version) == 1;
        let workers = version.take_workers();
        // Dropping the last reference closes the queue; workers finish what
        // is queued and exit.
        drop(version);
        if drained {
            let _ = tokio::task::spawn_blocking(move || {
                for w in workers {
                    let _ = w.join();
                }
            })
            .await;
        } else {
            tracing::warn!(model = %self.name, version = %v, "drain timeout; stopping with requests in flight");
        }
        if self.transition(&v, generation, VersionState::End) {
            tracing::info!(model = %self.name, version = %v, "version unloaded");
        }
        let mut slots = self.lock_slots();
        self.prune_ended(&mut slots);
    }

    /// Forgets the oldest unwanted ended versions beyond `KEEP_ENDED`.
    fn prune_ended(&self, slots: &mut BTreeMap<VersionId, Slot>) {
        let ended: Vec<VersionId> =
            slots.iter().filter(|(_, s)| !s.wanted && s.state == VersionState::End).map(|(v, _)| v.clone()).collect();
        for v in ended.iter().take(ended.len().saturating_sub(KEEP_ENDED)) {
            slots.remove(v);
        }
    }

    /// Unloads everything (shutdown): returns once every version has drained.
    pub async fn unload_all(self: &Arc<Self>) {
        self.apply(&[]);
        let deadline = Instant::now() + self.cfg.drain_timeout + Duration::from_secs(5);
        while Instant::now() < deadline
            && self.lock_slots().values().any(|s| s.state != VersionState::End && s.state != VersionState::Start)
        {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    fn lock_slots(&self) -> std::sync::MutexGuard<'_, BTreeMap<VersionId, Slot>> {
        match self.slots.lock() {
            Ok(g) => g,
            Err(poisoned) => poisoned.into_inner(),
        }
    }
}
