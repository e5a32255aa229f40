//! The kubelet against the real API server: real processes, real probes.
mod support;

use std::time::Duration;

use k8s_openapi::api::core::v1::{ConfigMap, Pod};
use kube::Api;
use kube::api::{DeleteParams, PostParams};
use serde_json::json;
use support::{TestCluster, obj, wait_for};

fn container_status(p: &Pod) -> Option<k8s_openapi::api::core::v1::ContainerStatus> {
    p.status.as_ref()?.container_statuses.as_ref()?.first().cloned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn crash_loop_shows_backoff_restart_count_and_last_state() {
    let c = TestCluster::start().await;
    let pods: Api<Pod> = Api::namespaced(c.client.clone(), "default");
    let pod: Pod = obj(json!({
        "apiVersion": "v1", "kind": "Pod", "metadata": {"name": "crasher"},
        "spec": {"containers": [{"name": "main", "image": "shell",
                                 "command": ["sh", "-c", "echo boom; exit 3"]}]}
    }));
    pods.create(&PostParams::default(), &pod).await.unwrap_or_else(|e| panic!("{e}"));
    let st = wait_for("CrashLoopBackOff with 2 restarts", Duration::from_secs(30), || async {
        let p = pods.get("crasher").await.ok()?;
        let cs = container_status(&p)?;
        let waiting = cs.state.as_ref()?.waiting.as_ref()?.reason.clone()?;
        (waiting == "CrashLoopBackOff" && cs.restart_count >= 2).then_some(p)
    })
    .await;
    let cs = container_status(&st).unwrap_or_default();
    let last = cs.last_state.and_then(|s| s.terminated).unwrap_or_default();
    assert_eq!(last.exit_code, 3);
    assert_eq!(last.reason.as_deref(), Some("Error"));
    assert_eq!(st.status.as_ref().and_then(|s| s.phase.as_deref()), Some("Running"));
    // Each run logs to its own file; the annotations name the current and
    // the previous one (for `kubectl logs --previous`).
    // The status read above may already be a run behind: the current run's file can
    // exist before its shell has printed, so wait for its line.
    for key in ["berth.dev/log-path.main", "berth.dev/log-path-previous.main"] {
        let path = st.metadata.annotations.as_ref().and_then(|a| a.get(key).cloned()).unwrap_or_default();
        let log = wait_for(&format!("{key} to hold the run's output"), Duration::from_secs(10), || async {
            let log = std::fs::read_to_string(&path).unwrap_or_default();
            (!log.is_empty()).then_some(log)
        })
        .await;
        assert_eq!(log, "boom\n", "{key} {path:?}");
    }
    c.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unmapped_image_is_err_image_pull_then_backoff() {
    let c = TestCluster::start().await;
    let pods: Api<Pod> = Api::namespaced(c.client.clone(), "default");
    let pod: Pod = obj(json!({
        "apiVersion": "v1", "kind": "Pod", "metadata": {"name": "nope"},
        "spec": {"containers": [{"name": "main", "image": "nginx:1.27"}]}
    }));
    pods.create(&PostParams::default(), &pod).await.unwrap_or_else(|e| panic!("{e}"));
    let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::<String>::new()));
    wait_for("ErrImagePull then ImagePullBackOff", Duration::from_secs(20), || {
        let pods = pods.clone();
        let seen = seen.clone();
        async move {
            let p = pods.get("nope").await.ok()?;
            assert_eq!(p.status.as_ref().and_then(|s| s.phase.as_deref()), Some("Pending"));
            let w = container_status(&p)?.state?.waiting?;
            let reason = w.reason.unwrap_or_default();
            if reason == "ErrImagePull" {
                assert!(w.message.unwrap_or_default().contains("nginx:1.27"));
            }
            let mut seen = seen.lock().unwrap_or_else(|p| p.into_inner());
            if !seen.contains(&reason) {
                seen.push(reason);
            }
            (seen.contains(&"ErrImagePull".to_string()) && seen.contains(&"ImagePullBackOff".to_string())).then_some(())
        }
    })
    .await;
    c.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn graceful_termination_runs_prestop_then_sigterm_then_deletes() {
    let c = TestCluster::start().await;
    let pods: Api<Pod> = Api::namespaced(c.client.clone(), "default");
    let marker = c.dir.path().join("events.txt");
    let m = marker.display().to_string();
    let pod: Pod = obj(json!({
        "apiVersion": "v1", "kind": "Pod", "metadata": {"name": "graceful"},
        "spec": {
            "terminationGracePeriodSeconds": 10,
            "containers": [{"name": "main", "image": "shell",
                "command": ["sh", "-c", format!("trap 'echo sigterm >> {m}; exit 0' TERM; echo started >> {m}; while true; do sleep 0.1; done")],
                "lifecycle": {"preStop": {"exec": {"command": ["sh", "-c", format!("echo prestop >> {m}")]}}}
            }]
        }
    }));
    pods.create(&PostParams::default(), &pod).await.unwrap_or_else(|e| panic!("{e}"));
    wait_for("started", Duration::from_secs(20), || async {
        std::fs::read_to_string(&marker).ok().filter(|s| s.contains("started"))
    })
    .await;
    let t0 = std::time::Instant::now();
    pods.delete("graceful", &DeleteParams::default()).await.unwrap_or_else(|e| panic!("{e}"));
    wait_for("pod object gone", Duration::from_secs(15), || async {
        matches!(pods.get_opt("graceful").await, Ok(None)).then_some(())
    })
    .await;
    let events = std::fs::read_to_string(&marker).unwrap_or_default();
    assert_eq!(events.lines().collect::<Vec<_>>(), vec!["started", "prestop", "sigterm"], "{events}");
    assert!(t0.elapsed() < Duration::from_secs(8), "the process stopped on SIGTERM, not at the deadline");

    // A process that ignores SIGTERM is killed when the grace period ends.
    let stubborn: Pod = obj(json!({
        "apiVersion": "v1", "kind": "Pod", "metadata": {"name": "stubborn"},
        "spec": {"terminationGracePeriodSeconds": 1,
                 "containers": [{"name": "main", "image": "shell",
                    "command": ["sh", "-c", format!("trap '' TERM; echo up >> {m}.2; while true; do sleep 0.1; done")]}]}
    }));
    pods.create(&PostParams::default(), &stubborn).await.unwrap_or_else(|e| panic!("{e}"));
    let m2 = format!("{m}.2");
    wait_for("stubborn started", Duration::from_secs(20), || async {
        std::fs::read_to_string(&m2).ok().filter(|s| s.contains("up"))
    })
    .await;
    let t0 = std::time::Instant::now();
    pods.delete("stubborn", &DeleteParams::default()).await.unwrap_or_else(|e| panic!("{e}"));
    wait_for("stubborn gone", Duration::from_secs(10), || async {
        matches!(pods.get_opt("stubborn").await, Ok(None)).then_some(())
    })
    .await;
    let took = t0.elapsed();
    assert!(took >= Duration::from_millis(900), "killed before the grace period: {took:?}");
    c.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn env_downward_api_and_volumes_at_their_mount_paths() {
    let c = TestCluster::start().await;
    let cms: Api<ConfigMap> = Api::namespaced(c.client.clone(), "default");
    let cm: ConfigMap = obj(json!({"apiVersion": "v1", "kind": "ConfigMap",
        "metadata": {"name": "cfg"}, "data": {"greeting": "hello-from-configmap", "mode": "fast"}}));
    cms.create(&PostParams::default(), &cm).await.unwrap_or_else(|e| panic!("{e}"));
    let pods: Api<Pod> = Api::namespaced(c.client.clone(), "default");
    let script = "cat /etc/berth-test-cfg/greeting; echo; echo name=$MY_NAME ns=$MY_NS ip=$MY_IP mode=$mode \
                  expanded=$EXPANDED mem=$MEM_MI cpu=$CPU_M; cat /var/run/secrets/kubernetes.io/serviceaccount/namespace; echo; \
                  echo scratch > /scratch/x && cat /scratch/x; echo kubeconfig=$KUBECONFIG; sleep 1000";
    let pod: Pod = obj(json!({
        "apiVersion": "v1", "kind": "Pod", "metadata": {"name": "envy"},
        "spec": {
            "volumes": [{"name": "cfg", "configMap": {"name": "cfg"}}, {"name": "scratch", "emptyDir": {}}],
            "containers": [{"name": "main", "image": "shell", "command": ["sh", "-c", script],
                "envFrom": [{"configMapRef": {"name": "cfg"}}],
                "env": [
                    {"name": "MY_NAME", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
                    {"name": "MY_NS", "valueFrom": {"fieldRef": {"fieldPath": "metadata.namespace"}}},
                    {"name": "MY_IP", "valueFrom": {"fieldRef": {"fieldPath": "status.podIP"}}},
                    {"name": "EXPANDED", "value": "$(MY_NAME)-x"},
                    {"name": "MEM_MI", "valueFrom": {"resourceFieldRef": {"resource": "limits.memory", "divisor": "1Mi"}}},
                    {"name": "CPU_M", "valueFrom": {"resourceFieldRef": {"resource": "requests.cpu", "divisor": "1m"}}}
                ],
                "resources": {"limits": {"memory": "300Mi", "cpu": "1"}, "requests": {"cpu": "250m"}},
                "volumeMounts": [{"name": "cfg", "mountPath": "/etc/berth-test-cfg"},
                                 {"name": "scratch", "mountPath": "/scratch"}]}]
        }
    }));
    pods.create(&PostParams::default(), &pod).await.unwrap_or_else(|e| panic!("{e}"));
    let p = wait_for("running", Duration::from_secs(20), || async {
        let p = pods.get("envy").await.ok()?;
        (p.status.as_ref()?.phase.as_deref() == Some("Running")).then_some(p)
    })
    .await;
    let ip = p.status.as_ref().and_then(|s| s.pod_ip.clone()).unwrap_or_default();
    let range = if c.netns() { "10.87." } else { "127.1." };
    assert!(ip.starts_with(range), "pod IP {ip}");
    let path = c.dir.path().join("pods").join(format!("default_envy_{}", p.metadata.uid.clone().unwrap_or_default()));
    let log_path = path.join("logs/main/0.log");
    let log = wait_for("log output", Duration::from_secs(10), || async {
        std::fs::read_to_string(&log_path).ok().filter(|s| s.contains("kubeconfig="))
    })
    .await;
    if berth_local::kubelet::namespaces_available() {
        assert!(log.contains("hello-from-configmap"), "{log}");
        assert!(log.contains("scratch"), "{log}");
        assert!(log.lines().any(|l| l == "default"), "service account namespace file: {log}");
    }
    assert!(log.contains(&format!("name=envy ns=default ip={ip} mode=fast expanded=envy-x mem=300 cpu=250")), "{log}");
    pods.delete("envy", &DeleteParams::default().grace_period(1)).await.unwrap_or_else(|e| panic!("{e}"));
    wait_for("envy gone", Duration::from_secs(15), || async {
        matches!(pods.get_opt("envy").await, Ok(None)).then_some(())
    })
    .await;
    c.stop().await;
    // The mount point made for the pod is gone once the kubelet stops.
    assert!(!std::path::Path::new("/etc/berth-test-cfg").exists());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failing_liveness_probe_restarts_and_readiness_gates_ready() {
    let c = TestCluster::start().await;
    let pods: Api<Pod> = Api::namespaced(c.client.clone(), "default");
    // Serves HTTP on the pod IP; /healthz exists only while the flag file does.
    let flag = c.dir.path().join("healthy");
    std::fs::write(&flag, "").unwrap_or_else(|e| panic!("{e}"));
    let www = c.dir.path().join("www");
    std::fs::create_dir_all(&www).unwrap_or_else(|e| panic!("{e}"));
    let pod: Pod = obj(json!({
        "apiVersion": "v1", "kind": "Pod", "metadata": {"name": "probed"},
        "spec": {"terminationGracePeriodSeconds": 1, "containers": [{
            "name": "web", "image": "python",
            "args": ["-m", "http.server", "38080", "--bind", "$(BERTH_POD_IP)", "--directory", www.display().to_string()],
            "readinessProbe": {"httpGet": {"path": "/ready", "port": 38080}, "periodSeconds": 1},
            "livenessProbe": {"exec": {"command": ["test", "-e", flag.display().to_string()]},
                              "periodSeconds": 1, "failureThreshold": 2}
        }]}
    }));
    pods.create(&PostParams::default(), &pod).await.unwrap_or_else(|e| panic!("{e}"));
    let ready = |p: &Pod| container_status(p).map(|c| c.ready);
    wait_for("running but not ready", Duration::from_secs(20), || async {
        let p = pods.get("probed").await.ok()?;
        (p.status.as_ref()?.phase.as_deref() == Some("Running") && ready(&p) == Some(false)).then_some(())
    })
    .await;
    std::fs::write(www.join("ready"), "ok").unwrap_or_else(|e| panic!("{e}"));
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    loop {
        let p = pods.get("probed").await.unwrap_or_else(|e| panic!("{e}"));
        if ready(&p) == Some(true) {
            break;
        }
        if std::time::Instant::now() > deadline {
            let logs =
                c.dir.path().join(format!("pods/default_probed_{}/logs/web", p.metadata.uid.unwrap_or_default()));
            let text: Vec<String> = std::fs::read_dir(&logs)
                .into_iter()
                .flatten()
                .flatten()
                .map(|e| std::fs::read_to_string(e.path()).unwrap_or_default())
                .collect();
            panic!("not ready: {:?}\nlogs: {text:?}", p.status);
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    std::fs::remove_file(&flag).unwrap_or_else(|e| panic!("{e}"));
    let p = wait_for("restarted by liveness", Duration::from_secs(20), || async {
        let p = pods.get("probed").await.ok()?;
        (container_status(&p)?.restart_count >= 1).then_some(p)
    })
    .await;
    let cs = container_status(&p).unwrap_or_default();
    let last = cs.last_state.and_then(|s| s.terminated).unwrap_or_default();
    let log = std::fs::read_to_string(
        c.dir.path().join(format!("pods/default_probed_{}/logs/web/0.log", p.metadata.uid.clone().unwrap_or_default())),
    )
    .unwrap_or_default();
    assert!(last.message.clone().unwrap_or_default().contains("Liveness probe failed"), "{last:?}\n{log}");
    c.stop().await;
}

#[ignore = "needs kubectl: make k8s-tools"]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn in_pod_clients_reach_the_api_server_through_kubeconfig() {
    assert!(support::kubectl().exists(), "kubectl missing: run `make k8s-tools`");
    let c = TestCluster::start().await;
    let pods: Api<Pod> = Api::namespaced(c.client.clone(), "default");
    let pod: Pod = obj(json!({
        "apiVersion": "v1", "kind": "Pod", "metadata": {"name": "client"},
        "spec": {"restartPolicy": "Never", "containers": [{
            "name": "kubectl", "image": "registry.k8s.io/kubectl:v1.35.0",
            "args": ["get", "pod", "$(HOSTNAME)", "-o", "jsonpath={.status.podIP}"]
        }]}
    }));
    pods.create(&PostParams::default(), &pod).await.unwrap_or_else(|e| panic!("{e}"));
    let p = wait_for("client pod succeeded", Duration::from_secs(30), || async {
        let p = pods.get("client").await.ok()?;
        let phase = p.status.as_ref()?.phase.clone()?;
        (phase == "Succeeded" || phase == "Failed").then_some(p)
    })
    .await;
    let path = p.metadata.annotations.as_ref().and_then(|a| a.get("berth.dev/log-path.kubectl").cloned());
    let log = std::fs::read_to_string(path.unwrap_or_default()).unwrap_or_default();
    let ip = p.status.as_ref().and_then(|s| s.pod_ip.clone()).unwrap_or_default();
    assert_eq!(p.status.as_ref().and_then(|s| s.phase.as_deref()), Some("Succeeded"), "{log}");
    assert_eq!(log, ip);
    // A finished pod is still deleted properly (its container tasks are gone).
    pods.delete("client", &DeleteParams::default()).await.unwrap_or_else(|e| panic!("{e}"));
    wait_for("finished pod deleted", Duration::from_secs(10), || async {
        matches!(pods.get_opt("client").await, Ok(None)).then_some(())
    })
    .await;
    c.stop().await;
}
