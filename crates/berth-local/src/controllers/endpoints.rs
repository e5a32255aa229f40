//! Endpoints and EndpointSlice controller: for every Service with a selector,
//! the matching pods' addresses, ready ones in `addresses`, others in
//! `notReadyAddresses` (and slice conditions), ports resolved per pod.
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::api::core::v1::{Endpoints, Pod, Service, ServicePort};
use k8s_openapi::api::discovery::v1::EndpointSlice;
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use kube::api::{DeleteParams, ListParams, PostParams};
use kube::{Api, Client, ResourceExt};
use serde_json::{Value, json};
use tokio::sync::{Notify, watch};

use super::replicaset::ready_since;
use super::{controller_ref, matches_labels, run_loop, trigger_on};
use crate::error::Result;

/// Marks Endpoints written by this controller, so they can be removed when
/// their Service goes (Kubernetes Endpoints carry no owner reference).
pub const MANAGED_BY: &str = "berth.dev/managed-by";
const SLICE_MANAGER: &str = "endpointslice-controller.k8s.io";

pub async fn run(client: Client, shutdown: watch::Receiver<bool>) {
    let notify = Arc::new(Notify::new());
    let t1 = trigger_on::<Service>(client.clone(), notify.clone());
    let t2 = trigger_on::<Pod>(client.clone(), notify.clone());
    run_loop("endpoints", notify, Duration::from_secs(5), shutdown, || reconcile_all(client.clone())).await;
    t1.abort();
    t2.abort();
}

/// A service port's target on one pod (named target ports are looked up in
/// the pod's container ports).
pub fn target_port(sp: &ServicePort, pod: &Pod) -> Option<i32> {
    match sp.target_port.as_ref() {
        None => Some(sp.port),
        Some(IntOrString::Int(n)) => Some(*n),
        Some(IntOrString::String(name)) => pod
            .spec
            .as_ref()?
            .containers
            .iter()
            .flat_map(|c| c.ports.iter().flatten())
            .find(|p| p.name.as_deref() == Some(name.as_str()))
            .map(|p| p.container_port),
    }
}

async fn reconcile_all(client: Client) -> Result<()> {
    let services = Api::<Service>::all(client.clone()).list(&ListParams::default()).await?.items;
    let pods = Api::<Pod>::all(client.clone()).list(&ListParams::default()).await?.items;
    let existing = Api::<Endpoints>::all(client.clone()).list(&ListParams::default()).await?.items;
    let mut wanted: BTreeSet<(String, String)> = BTreeSet::new();
    for svc in &services {
        let Some(selector) = svc.spec.as_ref().and_then(|s| s.selector.clone()).filter(|s| !s.is_empty()) else {
            continue;
        };
        let ns = svc.namespace().unwrap_or_default();
        wanted.insert((ns.clone(), svc.name_any()));
        let members: Vec<&Pod> = pods
            .iter()
            .filter(|p| p.namespace().as_deref() == Some(ns.as_str()))
            .filter(|p| p.metadata.deletion_timestamp.is_none())
            .filter(|p| p.status.as_ref().and_then(|s| s.pod_ip.as_ref()).is_some())
            .filter(|p| matches_labels(&selector, p.metadata.labels.as_ref()))
            .collect();
        let publish_all = svc.spec.as_ref().and_then(|s| s.publish_not_ready_addresses) == Some(true);
        write_endpoints(&client, svc, &members, publish_all, &existing).await?;
        write_slice(&client, svc, &members, publish_all).await?;
    }
    // Endpoints of deleted Services.
    for ep in existing {
        let key = (ep.namespace().unwrap_or_default(), ep.name_any());
        if ep.labels().get(MANAGED_BY).is_some() && !wanted.contains(&key) {
            let api: Api<Endpoints> = Api::namespaced(client.clone(), &key.0);
            let _ = api.delete(&key.1, &DeleteParams::default()).await;
        }
    }
    Ok(())
}

fn address(p: &Pod) -> Value {
    json!({
        "ip": p.status.as_ref().and_then(|s| s.pod_ip.clone()).unwrap_or_default(),
        "nodeName": p.spec.as_ref().and_then(|s| s.node_name.clone()),
        "targetRef": {"kind": "Pod", "name": p.name_any(), "namespace": p.namespace(), "uid": p.metadata.uid},
    })
}

fn ports_for(svc: &Service, pod: &Pod) -> Vec<Value> {
    svc.spec
        .as_ref()
        .and_then(|s| s.ports.clone())
        .unwrap_or_default()
        .iter()
        .filter_map(|sp| {
            target_port(sp, pod).map(|port| {
                json!({"name": sp.name.clone().unwrap_or_default(), "port": port,
                       "protocol": sp.protocol.clone().unwrap_or_else(|| "TCP".into())})
            })
        })
        .collect()
}

async fn write_endpoints(
    client: &Client,
    svc: &Service,
    members: &[&Pod],
    publish_all: bool,
    existing: &[Endpoints],
) -> Result<()> {
    let ns = svc.namespace().unwrap_or_default();
    let name = svc.name_any();
    // Pods whose ports resolve the same share a subset.
    // ports key -> (ready addresses, not-ready addresses, ports)
    type Subset = (Vec<Value>, Vec<Value>, Vec<Value>);
    let mut subsets: BTreeMap<String, Subset> = BTreeMap::new();
    for p in members {
        let ports = ports_for(svc, p);
        let key = serde_json::to_string(&ports)?;
        let entry = subsets.entry(key).or_insert_with(|| (Vec::new(), Vec::new(), ports));
        if publish_all || ready_since(p).is_some() {
            entry.0.push(address(p));
        } else {
            entry.1.push(address(p));
        }
    }
    let subsets: Vec<Value> = subsets
        .into_values()
        .map(|(ready, not_ready, ports)| {
            let mut s = json!({"ports": ports});
            if !ready.is_empty() {
                s["addresses"] = Value::Array(ready);
            }
            if !not_ready.is_empty() {
                s["notReadyAddresses"] = Value::Array(not_ready);
            }
            s
        })
        .collect();
    let mut labels = svc.labels().clone();
    labels.insert(MANAGED_BY.into(), "berth-local".into());
    let desired = json!({
        "apiVersion": "v1", "kind": "Endpoints",
        "metadata": {"name": name, "namespace": ns, "labels": labels},
        "subsets": subsets,
    });
    let api: Api<Endpoints> = Api::namespaced(client.clone(), &ns);
    let cur = existing.iter().find(|e| e.namespace().as_deref() == Some(ns.as_str()) && e.name_any() == name);
    match cur {
        None => {
            let ep: Endpoints = serde_json::from_value(desired)?;
            match api.create(&PostParams::default(), &ep).await {
                Ok(_) => {}
                Err(kube::Error::Api(s)) if s.code == 409 => {}
                Err(e) => return Err(e.into()),
            }
        }
        Some(cur) => {
            let cur_subsets = serde_json::to_value(cur.subsets.clone().unwrap_or_default())?;
            if cur_subsets != desired["subsets"] || cur.labels().get(MANAGED_BY).is_none() {
                let mut ep: Endpoints = serde_json::from_value(desired)?;
                ep.metadata.resource_version = cur.metadata.resource_version.clone();
                api.replace(&name, &PostParams::default(), &ep).await?;
            }
        }
    }
    Ok(())
}

async fn write_slice(client: &Client, svc: &Service, members: &[&Pod], publish_all: bool) -> Result<()> {
    let ns = svc.namespace().unwrap_or_default();
    let name = format!("{}-berth", svc.name_any());
    let endpoints: Vec<Value> = members
        .iter()
        .map(|p| {
            let ready = ready_since(p).is_some();
            json!({
                "addresses": [p.status.as_ref().and_then(|s| s.pod_ip.clone()).unwrap_or_default()],
                "conditions": {"ready": ready || publish_all, "serving": ready, "terminating": false},
                "nodeName": p.spec.as_ref().and_then(|s| s.node_name.clone()),
                "targetRef": {"kind": "Pod", "name": p.name_any(), "namespace": p.namespace(), "uid": p.metadata.uid},
            })
        })
        .collect();
    let ports: Vec<Value> = members.first().map(|p| ports_for(svc, p)).unwrap_or_default();
    let desired = json!({
        "apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
        "metadata": {"name": name, "namespace": ns,
                     "labels": {"kubernetes.io/service-name": svc.name_any(),
                                "endpointslice.kubernetes.io/managed-by": SLICE_MANAGER},
                     "ownerReferences": controller_ref(svc).map(|r| vec![r])},
        "addressType": "IPv4",
        "endpoints": endpoints,
        "ports": ports,
    });
    let api: Api<EndpointSlice> = Api::namespaced(client.clone(), &ns);
    match api.get_opt(&name).await? {
        None => {
            let s: EndpointSlice = serde_json::from_value(desired)?;
            match api.create(&PostParams::default(), &s).await {
                Ok(_) => {}
                Err(kube::Error::Api(s)) if s.code == 409 => {}
                Err(e) => return Err(e.into()),
            }
        }
        Some(cur) => {
            let same = serde_json::to_value(&cur.endpoints)? == desired["endpoints"]
                && serde_json::to_value(cur.ports.clone().unwrap_or_default())? == desired["ports"];
            if !same {
                let mut s: EndpointSlice = serde_json::from_value(desired)?;
                s.metadata.resource_version = cur.metadata.resource_version.clone();
                api.replace(&name, &PostParams::default(), &s).await?;
            }
        }
    }
    Ok(())
}
