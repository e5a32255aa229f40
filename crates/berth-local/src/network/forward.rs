//! A TCP forwarder: pods reach the API server (which listens on 127.0.0.1,
//! their own loopback inside a namespace) at the bridge address.
use std::net::SocketAddr;

use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;

use super::NetworkError;

/// Listens on `ip:target.port()` (another port when that one is taken) and
/// forwards every connection to `target`. Returns the address and the task.
pub async fn start(ip: std::net::Ipv4Addr, target: SocketAddr) -> Result<(SocketAddr, JoinHandle<()>), NetworkError> {
    let listener = match TcpListener::bind((ip, target.port())).await {
        Ok(l) => l,
        Err(_) => TcpListener::bind((ip, 0)).await.map_err(|e| NetworkError::io(format!("listening on {ip}"), e))?,
    };
    let addr = listener.local_addr().map_err(|e| NetworkError::io("forwarder address", e))?;
    let task = tokio::spawn(async move {
        loop {
            let Ok((mut inbound, _)) = listener.accept().await else {
                tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                continue;
            };
            tokio::spawn(async move {
                if let Ok(mut outbound) = TcpStream::connect(target).await {
                    let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
                }
            });
        }
    });
    Ok((addr, task))
}
