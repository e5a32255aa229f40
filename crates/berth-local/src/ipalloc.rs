//! Hands out addresses: one per pod and one per Service. Without network
//! namespaces pods get loopback addresses (127.1.0.0/16) and Services
//! 127.2.0.0/16: every 127/8 address is local on Linux, so processes can bind
//! them without configuring an interface. With network namespaces pods get
//! addresses from the cluster's bridge subnet (see `network`).
use std::collections::BTreeSet;
use std::net::Ipv4Addr;
use std::sync::Mutex;

use crate::error::{Error, Result};

#[derive(Debug)]
pub struct IpPool {
    name: String,
    base: u32,
    /// Offsets from `base` that may be handed out: `first..=last`.
    first: u32,
    last: u32,
    used: Mutex<BTreeSet<u32>>,
}

impl IpPool {
    pub fn pods() -> Self {
        Self::new("pods 127.1.0.0/16", Ipv4Addr::new(127, 1, 0, 0), 2, 0xfffe)
    }

    pub fn services() -> Self {
        Self::new("services 127.2.0.0/16", Ipv4Addr::new(127, 2, 0, 0), 2, 0xfffe)
    }

    /// Addresses `base + first ..= base + last`.
    pub fn new(name: impl Into<String>, base: Ipv4Addr, first: u32, last: u32) -> Self {
        IpPool { name: name.into(), base: u32::from(base), first, last, used: Mutex::new(BTreeSet::new()) }
    }

    fn contains(&self, ip: Ipv4Addr) -> Option<u32> {
        let n = u32::from(ip).checked_sub(self.base)?;
        (self.first..=self.last).contains(&n).then_some(n)
    }

    fn addr(&self, n: u32) -> Ipv4Addr {
        Ipv4Addr::from(self.base.wrapping_add(n))
    }

    /// Marks an address already in use (found on an existing object).
    pub fn reserve(&self, ip: Ipv4Addr) -> bool {
        match (self.contains(ip), self.used.lock()) {
            (Some(n), Ok(mut used)) => used.insert(n),
            _ => false,
        }
    }

    /// A free address, starting from a random point so two berth-local
    /// instances on one machine rarely pick the same one, and skipping
    /// addresses something on this machine already listens on. x.0 and x.255
    /// are skipped so addresses never look like network or broadcast ones.
    pub fn allocate(&self) -> Result<Ipv4Addr> {
        let busy = listening_addresses();
        let exhausted = || Error::PoolExhausted(self.name.clone());
        let mut used = self.used.lock().map_err(|_| exhausted())?;
        let start: u32 = rand::random_range(self.first..=self.last);
        let n = (start..=self.last)
            .chain(self.first..start)
            .filter(|n| {
                let last_octet = self.addr(*n).octets()[3];
                last_octet != 0 && last_octet != 255
            })
            .find(|n| !used.contains(n) && !busy.contains(&self.addr(*n)))
            .ok_or_else(exhausted)?;
        used.insert(n);
        Ok(self.addr(n))
    }

    pub fn release(&self, ip: Ipv4Addr) {
        if let (Some(n), Ok(mut used)) = (self.contains(ip), self.used.lock()) {
            used.remove(&n);
        }
    }
}

/// IPv4 addresses with a listening TCP socket (from /proc/net/tcp, where
/// addresses are little-endian hex).
fn listening_addresses() -> BTreeSet<Ipv4Addr> {
    let text = std::fs::read_to_string("/proc/net/tcp").unwrap_or_default();
    text.lines()
        .skip(1)
        .filter_map(|l| {
            let mut f = l.split_whitespace();
            let local = f.nth(1)?;
            let state = f.nth(1)?;
            (state == "0A").then_some(())?;
            let hex = local.split(':').next()?;
            let v = u32::from_str_radix(hex, 16).ok()?;
            Some(Ipv4Addr::from(v.swap_bytes()))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn allocates_distinct_addresses_in_range() -> Result<()> {
        let p = IpPool::pods();
        let mut seen = BTreeSet::new();
        for _ in 0..200 {
            let a = p.allocate()?;
            let o = a.octets();
            assert_eq!((o[0], o[1]), (127, 1));
            assert!(o[3] != 0 && o[3] != 255);
            assert!(seen.insert(a), "{a} handed out twice");
        }
        let a = *seen.iter().next().unwrap_or(&Ipv4Addr::LOCALHOST);
        assert!(!p.reserve(a), "already in use");
        p.release(a);
        assert!(p.reserve(a));
        assert!(!p.reserve(Ipv4Addr::new(127, 2, 0, 9)), "other pool");
        Ok(())
    }

    #[test]
    fn a_small_pool_is_used_up_exactly() -> Result<()> {
        let p = IpPool::new("test", Ipv4Addr::new(10, 87, 3, 0), 2, 5);
        let mut got: Vec<Ipv4Addr> = (0..4).map(|_| p.allocate()).collect::<Result<_>>()?;
        got.sort();
        assert_eq!(got, (2..=5).map(|n| Ipv4Addr::new(10, 87, 3, n)).collect::<Vec<_>>());
        assert!(matches!(p.allocate(), Err(Error::PoolExhausted(_))));
        assert!(!p.reserve(Ipv4Addr::new(10, 87, 3, 1)), "outside first..=last");
        Ok(())
    }

    #[test]
    fn skips_addresses_with_listeners() -> Result<()> {
        let l = std::net::TcpListener::bind("127.1.77.7:0").map_err(|e| Error::io("bind", e))?;
        assert!(listening_addresses().contains(&Ipv4Addr::new(127, 1, 77, 7)));
        drop(l);
        Ok(())
    }
}
