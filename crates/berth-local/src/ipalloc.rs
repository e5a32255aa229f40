//! Hands out loopback addresses: one per pod (127.1.0.0/16) and one per Service
//! (127.2.0.0/16). Every 127/8 address is local on Linux, so processes can bind
//! them without configuring an interface.
use std::collections::BTreeSet;
use std::net::Ipv4Addr;
use std::sync::Mutex;

use crate::error::{Error, Result};

#[derive(Debug)]
pub struct IpPool {
    name: &'static str,
    second_octet: u8,
    used: Mutex<BTreeSet<u16>>,
}

impl IpPool {
    pub fn pods() -> Self {
        Self::new("pods 127.1.0.0/16", 1)
    }

    pub fn services() -> Self {
        Self::new("services 127.2.0.0/16", 2)
    }

    fn new(name: &'static str, second_octet: u8) -> Self {
        IpPool { name, second_octet, used: Mutex::new(BTreeSet::new()) }
    }

    fn contains(&self, ip: Ipv4Addr) -> Option<u16> {
        let o = ip.octets();
        (o[0] == 127 && o[1] == self.second_octet).then(|| u16::from_be_bytes([o[2], o[3]]))
    }

    fn addr(&self, n: u16) -> Ipv4Addr {
        let [a, b] = n.to_be_bytes();
        Ipv4Addr::new(127, self.second_octet, a, b)
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
        let mut used = self.used.lock().map_err(|_| Error::PoolExhausted(self.name))?;
        let start: u16 = rand::random_range(2..u16::MAX);
        let n = (start..u16::MAX)
            .chain(2..start)
            .filter(|n| n & 0xff != 0xff && n & 0xff != 0)
            .find(|n| !used.contains(n) && !busy.contains(&self.addr(*n)))
            .ok_or(Error::PoolExhausted(self.name))?;
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
    fn skips_addresses_with_listeners() -> Result<()> {
        let l = std::net::TcpListener::bind("127.1.77.7:0").map_err(|e| Error::io("bind", e))?;
        assert!(listening_addresses().contains(&Ipv4Addr::new(127, 1, 77, 7)));
        drop(l);
        Ok(())
    }
}
