//! Run the API server alone: `cargo run -p berth-apiserver --example serve -- [PORT] [KUBECONFIG_PATH]`.
//! Writes a kubeconfig for kubectl and serves until interrupted.

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let port: u16 = args.next().and_then(|p| p.parse().ok()).unwrap_or(0);
    let kubeconfig = args.next().unwrap_or_else(|| "/tmp/berth-apiserver.kubeconfig".into());
    let handle = berth_apiserver::start(berth_apiserver::ApiServerConfig {
        bind: std::net::SocketAddr::from(([127, 0, 0, 1], port)),
        state_dir: None,
    })
    .await?;
    std::fs::write(&kubeconfig, handle.kubeconfig_yaml())?;
    println!("serving on {} (kubeconfig {kubeconfig})", handle.url());
    tokio::signal::ctrl_c().await?;
    handle.shutdown().await?;
    Ok(())
}
