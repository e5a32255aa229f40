//! Finds and removes what a cluster made: pod namespaces, veths, the bridge
//! and the subnet claim. Used by `down`, by the next `up` of the same state
//! dir (a crashed cluster's leftovers) and by teardown.
use std::path::Path;

use super::names::Names;
use super::{NetworkError, cmd, subnet};

/// Namespaces and links of the cluster with this state dir still present.
pub async fn leftovers(state_dir: &Path) -> Result<Vec<String>, NetworkError> {
    let n = Names::for_state_dir(state_dir);
    let mut out: Vec<String> = cmd::netns_names()
        .await?
        .into_iter()
        .filter(|ns| ns.starts_with(&n.netns_prefix()))
        .map(|ns| format!("netns {ns}"))
        .collect();
    out.extend(
        cmd::link_names()
            .await?
            .into_iter()
            .filter(|l| l.starts_with(&n.veth_prefix()) || *l == n.bridge())
            .map(|l| format!("link {l}")),
    );
    Ok(out)
}

/// Removes every namespace, veth and the bridge of the cluster; returns what
/// it removed. Missing `ip` means nothing can have been made: nothing to do.
pub async fn remove_all(state_dir: &Path) -> Result<Vec<String>, NetworkError> {
    if !ip_available().await {
        return Ok(Vec::new());
    }
    let n = Names::for_state_dir(state_dir);
    let mut removed = Vec::new();
    let mut first_error = None;
    for ns in cmd::netns_names().await?.into_iter().filter(|ns| ns.starts_with(&n.netns_prefix())) {
        match cmd::ip(&["netns", "delete", &ns]).await {
            Ok(_) => removed.push(format!("netns {ns}")),
            Err(e) => {
                first_error.get_or_insert(e);
            }
        }
    }
    for link in cmd::link_names().await?.into_iter().filter(|l| l.starts_with(&n.veth_prefix()) || *l == n.bridge()) {
        match cmd::ip(&["link", "delete", &link]).await {
            Ok(_) => removed.push(format!("link {link}")),
            // A veth goes away with its peer's namespace: already gone is fine.
            Err(e) if !link_exists(&link).await => drop(e),
            Err(e) => {
                first_error.get_or_insert(e);
            }
        }
    }
    subnet::release(state_dir);
    match first_error {
        Some(e) => Err(e),
        None => Ok(removed),
    }
}

async fn link_exists(name: &str) -> bool {
    cmd::ip(&["link", "show", "dev", name]).await.is_ok()
}

/// `remove_all` for `Drop`: blocking, best effort, no errors.
pub fn remove_all_blocking(state_dir: &Path) {
    let n = Names::for_state_dir(state_dir);
    let ip = |args: &[&str]| {
        std::process::Command::new("ip")
            .args(args)
            .stdin(std::process::Stdio::null())
            .output()
            .ok()
            .filter(|o| o.status.success())
            .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
    };
    for ns in ip(&["netns", "list"]).unwrap_or_default().lines().filter_map(|l| l.split_whitespace().next()) {
        if ns.starts_with(&n.netns_prefix()) {
            ip(&["netns", "delete", ns]);
        }
    }
    let links = ip(&["-o", "link", "show"]).unwrap_or_default();
    for link in links.lines().filter_map(|l| l.split(": ").nth(1)).map(|l| l.split('@').next().unwrap_or(l)) {
        if link.starts_with(&n.veth_prefix()) || link == n.bridge() {
            ip(&["link", "delete", link]);
        }
    }
    subnet::release(state_dir);
}

pub async fn ip_available() -> bool {
    cmd::ip(&["-V"]).await.is_ok()
}
