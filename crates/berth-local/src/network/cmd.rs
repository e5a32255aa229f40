//! Running iproute2 (`ip`) and friends.
use tokio::process::Command;

use super::NetworkError;

/// Runs `program args`, returning stdout; a failure carries stderr.
pub async fn run(program: &str, args: &[&str]) -> Result<String, NetworkError> {
    let command = format!("{program} {}", args.join(" "));
    let out = Command::new(program)
        .args(args)
        .stdin(std::process::Stdio::null())
        .output()
        .await
        .map_err(|e| NetworkError::Command { command: command.clone(), message: e.to_string() })?;
    if !out.status.success() {
        let message = String::from_utf8_lossy(&out.stderr).trim().to_string();
        return Err(NetworkError::Command { command, message: format!("{} ({message})", out.status) });
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

pub async fn ip(args: &[&str]) -> Result<String, NetworkError> {
    run("ip", args).await
}

/// Writes a sysctl under /proc/sys (e.g. `net/ipv4/conf/berth-x/forwarding`).
pub fn sysctl(key: &str, value: &str) -> Result<(), NetworkError> {
    let path = format!("/proc/sys/{key}");
    std::fs::write(&path, value).map_err(|e| NetworkError::io(format!("writing {path}"), e))
}

/// Network namespace names (`ip netns list` prints `name (id: N)`).
pub async fn netns_names() -> Result<Vec<String>, NetworkError> {
    let out = ip(&["netns", "list"]).await?;
    Ok(out.lines().filter_map(|l| l.split_whitespace().next()).map(str::to_string).collect())
}

/// Link names in this namespace (`ip -o link show` prints `N: name@peer: ...`).
pub async fn link_names() -> Result<Vec<String>, NetworkError> {
    let out = ip(&["-o", "link", "show"]).await?;
    Ok(out.lines().filter_map(|l| l.split(": ").nth(1)).map(|n| n.split('@').next().unwrap_or(n).to_string()).collect())
}
