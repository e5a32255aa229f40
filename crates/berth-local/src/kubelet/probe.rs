//! One probe attempt: HTTP GET, TCP connect or exec, with the probe's timeout.
use std::time::Duration;

use k8s_openapi::api::core::v1::{Container, Probe};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

use crate::network::PodNetns;

/// Outcome of one attempt; the message explains a failure for events/logs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProbeResult {
    Success,
    Failure(String),
}

pub fn timeout(p: &Probe) -> Duration {
    Duration::from_secs(p.timeout_seconds.unwrap_or(1).max(1) as u64)
}

pub fn period(p: &Probe) -> Duration {
    Duration::from_secs(p.period_seconds.unwrap_or(10).max(1) as u64)
}

pub fn initial_delay(p: &Probe) -> Duration {
    Duration::from_secs(p.initial_delay_seconds.unwrap_or(0).max(0) as u64)
}

pub fn failure_threshold(p: &Probe) -> u32 {
    p.failure_threshold.unwrap_or(3).max(1) as u32
}

pub fn success_threshold(p: &Probe) -> u32 {
    p.success_threshold.unwrap_or(1).max(1) as u32
}

/// A named or numbered port of the container.
pub fn resolve_port(port: &IntOrString, container: &Container) -> Option<u16> {
    match port {
        IntOrString::Int(n) => u16::try_from(*n).ok(),
        IntOrString::String(name) => container
            .ports
            .iter()
            .flatten()
            .find(|p| p.name.as_deref() == Some(name.as_str()))
            .and_then(|p| u16::try_from(p.container_port).ok())
            .or_else(|| name.parse().ok()),
    }
}

/// `netns`: exec probes run in the pod's network namespace (so they reach
/// the container at 127.0.0.1 as in Kubernetes).
pub async fn run(
    probe: &Probe,
    container: &Container,
    pod_ip: &str,
    netns: Option<&PodNetns>,
    http: &reqwest::Client,
) -> ProbeResult {
    let t = timeout(probe);
    if let Some(h) = &probe.http_get {
        let Some(port) = resolve_port(&h.port, container) else {
            return ProbeResult::Failure(format!("unknown port {:?}", h.port));
        };
        let scheme = h.scheme.as_deref().unwrap_or("HTTP").to_ascii_lowercase();
        let host = h.host.clone().unwrap_or_else(|| pod_ip.to_string());
        let path = h.path.clone().unwrap_or_else(|| "/".to_string());
        let url = format!("{scheme}://{host}:{port}{path}");
        let mut req = http.get(&url).timeout(t);
        for hd in h.http_headers.iter().flatten() {
            req = req.header(hd.name.as_str(), hd.value.as_str());
        }
        return match req.send().await {
            Ok(r) if (200..400).contains(&r.status().as_u16()) => ProbeResult::Success,
            Ok(r) => ProbeResult::Failure(format!("HTTP probe failed with statuscode: {}", r.status().as_u16())),
            Err(e) => ProbeResult::Failure(format!("Get {url:?}: {e}")),
        };
    }
    if let Some(tcp) = &probe.tcp_socket {
        let Some(port) = resolve_port(&tcp.port, container) else {
            return ProbeResult::Failure(format!("unknown port {:?}", tcp.port));
        };
        let host = tcp.host.clone().unwrap_or_else(|| pod_ip.to_string());
        let addr = format!("{host}:{port}");
        return match tokio::time::timeout(t, tokio::net::TcpStream::connect(&addr)).await {
            Ok(Ok(_)) => ProbeResult::Success,
            Ok(Err(e)) => ProbeResult::Failure(format!("dial tcp {addr}: {e}")),
            Err(_) => ProbeResult::Failure(format!("dial tcp {addr}: timeout")),
        };
    }
    if let Some(exec) = &probe.exec {
        let cmd = exec.command.clone().unwrap_or_default();
        let Some((first, rest)) = cmd.split_first() else {
            return ProbeResult::Failure("exec probe without command".into());
        };
        let (program, args) = match netns {
            Some(n) => n.wrap(first, rest),
            None => (first.clone(), rest.to_vec()),
        };
        let child = tokio::process::Command::new(program)
            .args(args)
            .env("BERTH_POD_IP", pod_ip)
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .kill_on_drop(true)
            .status();
        return match tokio::time::timeout(t, child).await {
            Ok(Ok(s)) if s.success() => ProbeResult::Success,
            Ok(Ok(s)) => ProbeResult::Failure(format!("command exited with {s}")),
            Ok(Err(e)) => ProbeResult::Failure(format!("exec: {e}")),
            Err(_) => ProbeResult::Failure("command timed out".into()),
        };
    }
    ProbeResult::Failure("probe type not supported by berth-local (grpc)".into())
}
