//! Names of everything one cluster makes, derived from its state dir so that
//! several clusters can run side by side and `down` (or the next `up`) of the
//! same state dir finds a crashed cluster's leftovers.
use std::net::Ipv4Addr;
use std::path::Path;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Names {
    /// 6 hex digits of a hash of the absolute state dir.
    tag: String,
}

impl Names {
    pub fn for_state_dir(dir: &Path) -> Self {
        let abs = std::path::absolute(dir).unwrap_or_else(|_| dir.to_path_buf());
        Names { tag: format!("{:06x}", fnv1a(abs.as_os_str().as_encoded_bytes()) & 0xff_ffff) }
    }

    /// Preferred subnet index (third octet), stable per state dir.
    pub fn preferred_index(&self) -> u8 {
        u8::from_str_radix(self.tag.get(4..6).unwrap_or("00"), 16).unwrap_or(0)
    }

    /// The bridge: `berth-1a2b3c` (12 characters; Linux allows 15).
    pub fn bridge(&self) -> String {
        format!("berth-{}", self.tag)
    }

    /// Every pod namespace of this cluster starts with this.
    pub fn netns_prefix(&self) -> String {
        format!("berth-{}-", self.tag)
    }

    /// The pod's namespace (`/run/netns/<name>`): unique while the pod holds
    /// its address.
    pub fn netns(&self, ip: Ipv4Addr) -> String {
        format!("{}{}", self.netns_prefix(), ip.octets()[3])
    }

    /// Every host-side veth of this cluster starts with this.
    pub fn veth_prefix(&self) -> String {
        format!("bv{}", self.tag)
    }

    /// Host end of the pod's veth pair: `bv1a2b3c0a` (10 characters).
    pub fn veth(&self, ip: Ipv4Addr) -> String {
        format!("{}{:02x}", self.veth_prefix(), ip.octets()[3])
    }
}

fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325u64, |h, b| (h ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_fit_linux_limits_and_differ_per_state_dir() {
        let a = Names::for_state_dir(Path::new("/tmp/a/.berth-local"));
        let b = Names::for_state_dir(Path::new("/tmp/b/.berth-local"));
        assert_ne!(a, b);
        let ip = Ipv4Addr::new(10, 87, 1, 254);
        assert!(a.bridge().len() <= 15 && a.veth(ip).len() <= 15, "{} {}", a.bridge(), a.veth(ip));
        assert!(a.veth(ip).starts_with(&a.veth_prefix()));
        assert!(a.netns(ip).starts_with(&a.netns_prefix()));
        assert_eq!(a, Names::for_state_dir(Path::new("/tmp/a/.berth-local")));
    }
}
