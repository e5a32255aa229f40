//! Picks the cluster's /24 inside 10.87.0.0/16 and claims it, so clusters
//! starting at the same moment never share one. A claim is a file in
//! `/run/berth-local/subnets/` holding the owner's pid and state dir; a claim
//! whose pid is gone, or that names our own state dir (a crashed run), is
//! stale and taken over.
use std::io::Write;
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};

use super::NetworkError;
use super::cmd;

pub const RANGE: &str = "10.87.0.0/16";
const CLAIMS: &str = "/run/berth-local/subnets";

/// 10.87.`index`.0/24: the bridge is .1, pods .2 to .254.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Subnet {
    pub index: u8,
}

impl Subnet {
    pub fn network(&self) -> Ipv4Addr {
        Ipv4Addr::new(10, 87, self.index, 0)
    }

    pub fn gateway(&self) -> Ipv4Addr {
        Ipv4Addr::new(10, 87, self.index, 1)
    }

    pub fn prefix_len(&self) -> u8 {
        24
    }

    pub fn cidr(&self) -> String {
        format!("{}/24", self.network())
    }

    fn claim_file(&self) -> PathBuf {
        Path::new(CLAIMS).join(self.network().to_string())
    }
}

/// Claims a free /24, trying `preferred` first.
pub async fn claim(preferred: u8, state_dir: &Path) -> Result<Subnet, NetworkError> {
    std::fs::create_dir_all(CLAIMS).map_err(|e| NetworkError::io(format!("mkdir {CLAIMS}"), e))?;
    let routes = cmd::ip(&["-4", "route", "show", "table", "all"]).await?;
    let taken = taken_prefixes(&routes);
    let me = format!("{}\n{}\n", std::process::id(), state_dir.display());
    for i in 0..=255u8 {
        let s = Subnet { index: preferred.wrapping_add(i) };
        if taken.iter().any(|(net, len)| overlaps(*net, *len, s.network(), 24)) {
            continue;
        }
        let file = s.claim_file();
        if let Ok(text) = std::fs::read_to_string(&file)
            && is_stale(&text, state_dir)
        {
            let _ = std::fs::remove_file(&file);
        }
        match std::fs::OpenOptions::new().write(true).create_new(true).open(&file) {
            Ok(mut f) => {
                f.write_all(me.as_bytes()).map_err(|e| NetworkError::io(format!("writing {}", file.display()), e))?;
                return Ok(s);
            }
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(NetworkError::io(format!("creating {}", file.display()), e)),
        }
    }
    Err(NetworkError::NoSubnet(RANGE))
}

/// Removes our claim (and any claim naming our state dir).
pub fn release(state_dir: &Path) {
    let Ok(entries) = std::fs::read_dir(CLAIMS) else { return };
    for e in entries.flatten() {
        let text = std::fs::read_to_string(e.path()).unwrap_or_default();
        if text.lines().nth(1) == Some(&*state_dir.to_string_lossy()) {
            let _ = std::fs::remove_file(e.path());
        }
    }
}

fn is_stale(text: &str, state_dir: &Path) -> bool {
    let mut lines = text.lines();
    let pid = lines.next().and_then(|p| p.trim().parse::<i32>().ok());
    let dir = lines.next();
    dir == Some(&*state_dir.to_string_lossy()) || !pid.is_some_and(crate::procs::alive)
}

/// Destinations of every IPv4 route on the machine except default routes.
fn taken_prefixes(routes: &str) -> Vec<(Ipv4Addr, u8)> {
    routes
        .lines()
        .filter_map(|l| {
            let mut f = l.split_whitespace();
            let mut dst = f.next()?;
            if matches!(dst, "broadcast" | "local" | "unicast" | "multicast" | "anycast") {
                dst = f.next()?;
            }
            let (net, len) = dst.split_once('/').unwrap_or((dst, "32"));
            Some((net.parse().ok()?, len.parse().ok()?))
        })
        .filter(|(_, len)| *len > 0)
        .collect()
}

fn overlaps(a: Ipv4Addr, alen: u8, b: Ipv4Addr, blen: u8) -> bool {
    let len = alen.min(blen).min(32);
    let mask = if len == 0 { 0 } else { u32::MAX << (32 - u32::from(len)) };
    u32::from(a) & mask == u32::from(b) & mask
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes_are_parsed_and_overlaps_found() {
        let routes = "default via 192.0.2.1 dev eth0\n192.0.2.0/24 dev eth0 proto kernel scope link\n\
                      10.87.5.0/24 dev berth-x proto kernel\nlocal 127.0.0.1 dev lo table local\n";
        let t = taken_prefixes(routes);
        assert!(t.contains(&(Ipv4Addr::new(10, 87, 5, 0), 24)));
        assert!(t.contains(&(Ipv4Addr::new(127, 0, 0, 1), 32)));
        assert!(!t.iter().any(|(_, l)| *l == 0), "default routes are ignored");
        assert!(overlaps(Ipv4Addr::new(10, 87, 5, 0), 24, Subnet { index: 5 }.network(), 24));
        assert!(!overlaps(Ipv4Addr::new(10, 87, 5, 0), 24, Subnet { index: 6 }.network(), 24));
        assert!(overlaps(Ipv4Addr::new(10, 0, 0, 0), 8, Subnet { index: 6 }.network(), 24));
    }
}
