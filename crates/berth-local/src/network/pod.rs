//! One pod's network namespace: a veth pair (host end on the bridge, pod end
//! `eth0`), `lo` up, the pod address on the bridge's subnet and an
//! `unreachable` default route: pods reach this machine only.
use std::net::Ipv4Addr;

use super::names::Names;
use super::subnet::Subnet;
use super::{NetworkError, cmd};

/// A pod's namespace, entered with `nsenter --net=/run/netns/<name>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PodNetns {
    pub name: String,
    pub veth: String,
    pub ip: Ipv4Addr,
}

impl PodNetns {
    pub fn path(&self) -> String {
        format!("/run/netns/{}", self.name)
    }

    /// `program args` run inside the namespace. `nsenter` execs into the
    /// program, so its pid stays the container's.
    pub fn wrap(&self, program: &str, args: &[String]) -> (String, Vec<String>) {
        let mut out = vec![format!("--net={}", self.path()), "--".to_string(), program.to_string()];
        out.extend(args.iter().cloned());
        ("nsenter".to_string(), out)
    }
}

pub async fn create(names: &Names, subnet: Subnet, bridge: &str, ip: Ipv4Addr) -> Result<PodNetns, NetworkError> {
    let p = PodNetns { name: names.netns(ip), veth: names.veth(ip), ip };
    // Leftovers of an earlier pod with this address (a crash) go first.
    remove(&p).await;
    let made = setup(&p, subnet, bridge).await;
    if made.is_err() {
        remove(&p).await;
    }
    made.map(|_| p)
}

async fn setup(p: &PodNetns, subnet: Subnet, bridge: &str) -> Result<(), NetworkError> {
    let ns = p.name.as_str();
    let addr = format!("{}/{}", p.ip, subnet.prefix_len());
    cmd::ip(&["netns", "add", ns]).await?;
    cmd::ip(&["link", "add", &p.veth, "type", "veth", "peer", "name", "eth0", "netns", ns]).await?;
    cmd::ip(&["link", "set", &p.veth, "master", bridge, "up"]).await?;
    cmd::ip(&["-n", ns, "link", "set", "lo", "up"]).await?;
    cmd::ip(&["-n", ns, "addr", "add", &addr, "dev", "eth0"]).await?;
    cmd::ip(&["-n", ns, "link", "set", "eth0", "up"]).await?;
    // Everything a pod may reach is on the bridge's subnet (the host at .1,
    // the other pods). Anything else fails at once with "network is
    // unreachable" instead of being sent to the host, which would drop it
    // silently: a DNS lookup would then hang for 10 s (python's http.server
    // with --bind does one) instead of failing fast.
    cmd::ip(&["-n", ns, "route", "add", "unreachable", "default"]).await?;
    Ok(())
}

/// Deletes the namespace (which takes the veth pair with it) and the host
/// end in case it outlived it. Errors mean it was gone already.
pub async fn remove(p: &PodNetns) {
    let _ = cmd::ip(&["netns", "delete", &p.name]).await;
    let _ = cmd::ip(&["link", "delete", &p.veth]).await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wrap_enters_the_namespace_and_execs() {
        let p = PodNetns { name: "berth-abc-7".into(), veth: "bvabc07".into(), ip: Ipv4Addr::new(10, 87, 1, 7) };
        let (prog, args) = p.wrap("/bin/echo", &["hi".to_string()]);
        assert_eq!(prog, "nsenter");
        assert_eq!(args, vec!["--net=/run/netns/berth-abc-7", "--", "/bin/echo", "hi"]);
    }
}
