//! The service proxy: gives every Service a cluster IP from 127.2.0.0/16 (set
//! in `spec.clusterIP` when empty) and listens on clusterIP:port, spreading
//! connections round-robin over the Service's ready endpoints. Only TCP.
use std::collections::{BTreeMap, BTreeSet};
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use k8s_openapi::api::core::v1::{Endpoints, Service};
use kube::api::{ListParams, Patch, PatchParams};
use kube::{Api, Client, ResourceExt};
use serde_json::json;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Notify, watch};
use tokio::task::JoinHandle;

use crate::controllers::{run_loop, trigger_on};
use crate::error::Result;
use crate::ipalloc::IpPool;

type Backends = Arc<RwLock<Vec<SocketAddr>>>;

struct Listener {
    backends: Backends,
    task: JoinHandle<()>,
}

#[derive(Default)]
struct Proxy {
    /// (namespace, service, clusterIP, port) -> listener.
    listeners: BTreeMap<(String, String, Ipv4Addr, u16), Listener>,
}

pub async fn run(client: Client, shutdown: watch::Receiver<bool>) {
    let notify = Arc::new(Notify::new());
    let t1 = trigger_on::<Service>(client.clone(), notify.clone());
    let t2 = trigger_on::<Endpoints>(client.clone(), notify.clone());
    let pool = Arc::new(IpPool::services());
    let proxy = Arc::new(tokio::sync::Mutex::new(Proxy::default()));
    let p2 = proxy.clone();
    run_loop("service-proxy", notify, Duration::from_secs(5), shutdown, || {
        let client = client.clone();
        let pool = pool.clone();
        let proxy = p2.clone();
        async move { reconcile(&client, &pool, &mut *proxy.lock().await).await }
    })
    .await;
    for (_, l) in std::mem::take(&mut proxy.lock().await.listeners) {
        l.task.abort();
    }
    t1.abort();
    t2.abort();
}

async fn reconcile(client: &Client, pool: &IpPool, proxy: &mut Proxy) -> Result<()> {
    let services = Api::<Service>::all(client.clone()).list(&ListParams::default()).await?.items;
    let endpoints = Api::<Endpoints>::all(client.clone()).list(&ListParams::default()).await?.items;
    for s in &services {
        if let Some(ip) = cluster_ip(s) {
            pool.reserve(ip);
        }
    }
    let mut wanted = BTreeSet::new();
    for svc in &services {
        let spec = svc.spec.clone().unwrap_or_default();
        if spec.type_.as_deref() == Some("ExternalName") || spec.cluster_ip.as_deref() == Some("None") {
            continue;
        }
        let ns = svc.namespace().unwrap_or_default();
        let name = svc.name_any();
        let ip = match cluster_ip(svc) {
            Some(ip) => ip,
            None => {
                let ip = pool.allocate()?;
                let api: Api<Service> = Api::namespaced(client.clone(), &ns);
                let patch = json!({"spec": {"clusterIP": ip.to_string(), "clusterIPs": [ip.to_string()]}});
                if let Err(e) = api.patch(&name, &PatchParams::default(), &Patch::Merge(&patch)).await {
                    pool.release(ip);
                    return Err(e.into());
                }
                ip
            }
        };
        let ep = endpoints.iter().find(|e| e.namespace().as_deref() == Some(ns.as_str()) && e.name_any() == name);
        for sp in spec.ports.iter().flatten() {
            if sp.protocol.as_deref().unwrap_or("TCP") != "TCP" {
                continue;
            }
            let Ok(port) = u16::try_from(sp.port) else { continue };
            let backends = ready_backends(ep, sp.name.as_deref().unwrap_or(""));
            let key = (ns.clone(), name.clone(), ip, port);
            wanted.insert(key.clone());
            match proxy.listeners.get(&key) {
                Some(l) if !l.task.is_finished() => {
                    if let Ok(mut b) = l.backends.write() {
                        *b = backends;
                    }
                }
                _ => {
                    let addr = SocketAddr::from((ip, port));
                    match TcpListener::bind(addr).await {
                        Ok(listener) => {
                            let b: Backends = Arc::new(RwLock::new(backends));
                            let task = tokio::spawn(serve(listener, b.clone()));
                            proxy.listeners.insert(key, Listener { backends: b, task });
                        }
                        Err(e) => tracing::warn!(service = %name, %addr, error = %e, "service proxy bind"),
                    }
                }
            }
        }
    }
    proxy.listeners.retain(|k, l| {
        let keep = wanted.contains(k);
        if !keep {
            l.task.abort();
        }
        keep
    });
    Ok(())
}

fn cluster_ip(svc: &Service) -> Option<Ipv4Addr> {
    svc.spec.as_ref()?.cluster_ip.as_deref()?.parse().ok()
}

/// Ready addresses with the endpoint port named like the service port.
pub fn ready_backends(ep: Option<&Endpoints>, port_name: &str) -> Vec<SocketAddr> {
    let mut out = Vec::new();
    for subset in ep.and_then(|e| e.subsets.as_ref()).into_iter().flatten() {
        let Some(port) = subset
            .ports
            .iter()
            .flatten()
            .find(|p| p.name.as_deref().unwrap_or("") == port_name)
            .and_then(|p| u16::try_from(p.port).ok())
        else {
            continue;
        };
        for a in subset.addresses.iter().flatten() {
            if let Ok(ip) = a.ip.parse::<Ipv4Addr>() {
                out.push(SocketAddr::from((ip, port)));
            }
        }
    }
    out.sort();
    out
}

async fn serve(listener: TcpListener, backends: Backends) {
    let next = Arc::new(AtomicUsize::new(0));
    loop {
        let Ok((mut inbound, _)) = listener.accept().await else {
            tokio::time::sleep(Duration::from_millis(50)).await;
            continue;
        };
        let backends = backends.clone();
        let next = next.clone();
        tokio::spawn(async move {
            let list = backends.read().map(|b| b.clone()).unwrap_or_default();
            if list.is_empty() {
                return; // No ready endpoint: the connection is closed, as kube-proxy rejects it.
            }
            let start = next.fetch_add(1, Ordering::Relaxed);
            // Try each backend once, starting with this connection's turn.
            for i in 0..list.len() {
                let addr = list[(start + i) % list.len()];
                let conn = tokio::time::timeout(Duration::from_secs(2), TcpStream::connect(addr)).await;
                if let Ok(Ok(mut outbound)) = conn {
                    let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
                    return;
                }
            }
        });
    }
}
