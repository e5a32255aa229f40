//! Per-pod network namespaces: containers bind 0.0.0.0 as in a container,
//! replicas on one port do not collide, the host and the Service proxy reach
//! pods at their own addresses, and nothing of the network outlives the
//! cluster. Needs root (as the other berth-local tests).
mod support;

use std::collections::BTreeSet;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{Pod, Service};
use kube::Api;
use kube::api::{ListParams, PostParams};
use serde_json::json;
use support::{TestCluster, berth, http_get, obj, wait_for};

fn ip_output(args: &[&str]) -> String {
    let out = Command::new("ip").args(args).output().unwrap_or_else(|e| panic!("ip {args:?}: {e}"));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Nothing named after this state dir in `ip netns list` or `ip link`.
fn assert_no_network_left(state_dir: &Path) {
    let dir = std::path::absolute(state_dir).unwrap_or_else(|_| state_dir.to_path_buf());
    let n = berth_local::network::Names::for_state_dir(&dir);
    let netns = ip_output(&["netns", "list"]);
    assert!(!netns.contains(&n.netns_prefix()), "namespaces left: {netns}");
    let links = ip_output(&["-o", "link", "show"]);
    assert!(!links.contains(&n.bridge()) && !links.contains(&n.veth_prefix()), "links left: {links}");
}

/// `python3 -m http.server 8080 --bind 0.0.0.0`, as an image would run it.
fn web_on_8080(name: &str, replicas: i32) -> serde_json::Value {
    json!({
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": name, "namespace": "default"},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app": name}},
            "template": {
                "metadata": {"labels": {"app": name}},
                "spec": {
                    "terminationGracePeriodSeconds": 2,
                    "containers": [{
                        "name": "web", "image": "python:3.11",
                        "command": ["python3", "-m", "http.server", "8080", "--bind", "0.0.0.0"],
                        "ports": [{"name": "http", "containerPort": 8080}],
                        "readinessProbe": {"httpGet": {"path": "/", "port": "http"}, "periodSeconds": 1},
                        // exec probes run in the pod's namespace: 127.0.0.1 is the pod.
                        "livenessProbe": {"exec": {"command": ["python3", "-c",
                            "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8080/', timeout=2)"]},
                            "periodSeconds": 2, "initialDelaySeconds": 2}
                    }]
                }
            }
        }
    })
}

fn ready_ips(pods: &[Pod]) -> BTreeSet<String> {
    pods.iter()
        .filter(|p| {
            p.status
                .as_ref()
                .and_then(|s| s.conditions.as_ref())
                .is_some_and(|c| c.iter().any(|c| c.type_ == "Ready" && c.status == "True"))
        })
        .filter_map(|p| p.status.as_ref()?.pod_ip.clone())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replicas_bind_the_same_port_in_their_own_namespaces() {
    let c = TestCluster::start().await;
    assert!(c.netns(), "network namespaces must work here (root): {}", c.networking.summary());
    let subnet = c.networking.network().map(|n| n.subnet().cidr()).unwrap_or_default();
    let deps: Api<Deployment> = Api::namespaced(c.client.clone(), "default");
    deps.create(&PostParams::default(), &obj(web_on_8080("web", 2))).await.unwrap_or_else(|e| panic!("{e}"));
    let pods: Api<Pod> = Api::namespaced(c.client.clone(), "default");
    let ips = wait_for("two ready replicas", Duration::from_secs(60), || async {
        let list = pods.list(&ListParams::default().labels("app=web")).await.ok()?;
        let ips = ready_ips(&list.items);
        (ips.len() == 2).then_some(ips)
    })
    .await;
    let prefix = subnet.trim_end_matches("0/24");
    for ip in &ips {
        assert!(ip.starts_with(prefix), "{ip} is not in {subnet}");
        let body = http_get(format!("{ip}:8080")).await.unwrap_or_default();
        assert!(body.starts_with("HTTP/1.0 200"), "{ip}: {body}");
    }
    // Nothing bound 8080 on the host: the port is the pods' own.
    let host_listeners = std::fs::read_to_string("/proc/net/tcp").unwrap_or_default();
    assert!(!host_listeners.lines().any(|l| l.contains(":1F90 ") && l.contains(" 0A ")), "8080 taken on the host");

    let svcs: Api<Service> = Api::namespaced(c.client.clone(), "default");
    let svc: Service = obj(json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "web"},
        "spec": {"selector": {"app": "web"}, "ports": [{"name": "http", "port": 80, "targetPort": "http"}]}}));
    svcs.create(&PostParams::default(), &svc).await.unwrap_or_else(|e| panic!("{e}"));
    let ip = wait_for("cluster IP", Duration::from_secs(10), || async { svcs.get("web").await.ok()?.spec?.cluster_ip })
        .await;
    let body = wait_for("the Service answers", Duration::from_secs(20), || async {
        http_get(format!("{ip}:80")).await.filter(|b| b.starts_with("HTTP/1.0 200"))
    })
    .await;
    assert!(body.contains("Directory listing"), "{body}");
    let namespaces = ip_output(&["netns", "list"]);
    let names = berth_local::network::Names::for_state_dir(c.dir.path());
    assert_eq!(namespaces.matches(&names.netns_prefix()).count(), 2, "{namespaces}");
    // Pods reach this machine only: no route off it (checked without sending anything).
    let ns =
        namespaces.lines().filter_map(|l| l.split_whitespace().next()).find(|n| n.starts_with(&names.netns_prefix()));
    let ns = ns.unwrap_or_else(|| panic!("no pod namespace in {namespaces}"));
    let out = Command::new("ip").args(["-n", ns, "route", "get", "192.0.2.1"]).output();
    let out = out.unwrap_or_else(|e| panic!("ip route get: {e}"));
    assert!(!out.status.success(), "a pod has a route off the machine: {}", String::from_utf8_lossy(&out.stdout));
    let dir = c.dir.path().to_path_buf();
    c.stop().await;
    assert_no_network_left(&dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_network_namespaces_pods_get_loopback_addresses() {
    let c = TestCluster::start_full(Duration::from_millis(200), Some(false)).await;
    assert!(!c.netns());
    let pods: Api<Pod> = Api::namespaced(c.client.clone(), "default");
    let pod: Pod = obj(json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "lo"},
        "spec": {"terminationGracePeriodSeconds": 1, "containers": [{"name": "web", "image": "python",
            "args": ["-m", "http.server", "38081", "--bind", "$(BERTH_POD_IP)"],
            "readinessProbe": {"tcpSocket": {"port": 38081}, "periodSeconds": 1}}]}}));
    pods.create(&PostParams::default(), &pod).await.unwrap_or_else(|e| panic!("{e}"));
    let ip = wait_for("lo ready", Duration::from_secs(30), || async {
        let p = pods.get("lo").await.ok()?;
        ready_ips(&[p]).into_iter().next()
    })
    .await;
    assert!(ip.starts_with("127.1."), "{ip}");
    let body = http_get(format!("{ip}:38081")).await.unwrap_or_default();
    assert!(body.starts_with("HTTP/1.0 200"), "{body}");
    let names = berth_local::network::Names::for_state_dir(c.dir.path());
    assert!(!ip_output(&["-o", "link", "show"]).contains(&names.bridge()), "no bridge without namespaces");
    c.stop().await;
}

/// A daemon killed with SIGKILL leaves its bridge and namespaces; `down`
/// with the same state dir removes them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn down_cleans_up_after_a_crashed_daemon() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let d = dir.path();
    let (ok, out) = berth(d, &["local", "up", "--image", "shell=/bin/sh"]);
    assert!(ok, "{out}");
    assert!(out.contains("pod network: network namespaces: pods in 10.87."), "{out}");
    let kc = kube::config::Kubeconfig::read_from(d.join("kubeconfig")).unwrap_or_else(|e| panic!("{e}"));
    let cfg = kube::Config::from_custom_kubeconfig(kc, &Default::default()).await.unwrap_or_else(|e| panic!("{e}"));
    let client = kube::Client::try_from(cfg).unwrap_or_else(|e| panic!("{e}"));
    let pods: Api<Pod> = Api::namespaced(client, "default");
    let pod: Pod = obj(json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "s"},
        "spec": {"containers": [{"name": "main", "image": "shell", "command": ["sleep", "1000"]}]}}));
    pods.create(&PostParams::default(), &pod).await.unwrap_or_else(|e| panic!("{e}"));
    wait_for("s running", Duration::from_secs(20), || async {
        let p = pods.get("s").await.ok()?;
        (p.status?.phase.as_deref() == Some("Running")).then_some(())
    })
    .await;
    let pid = berth_local::procs::read_pid(&d.join("berth-local.pid")).unwrap_or_else(|| panic!("no pid file"));
    berth_local::procs::signal(pid, nix::sys::signal::Signal::SIGKILL);
    wait_for("daemon dead", Duration::from_secs(10), || async { (!berth_local::procs::alive(pid)).then_some(()) })
        .await;
    let left = berth_local::network::leftovers(d).await.unwrap_or_default();
    assert!(left.iter().any(|l| l.starts_with("netns")) && left.iter().any(|l| l.starts_with("link")), "{left:?}");
    let (ok, out) = berth(d, &["local", "down"]);
    assert!(ok, "{out}");
    assert!(out.contains("removed the pod network left behind"), "{out}");
    assert_no_network_left(d);
}
