//! kubectl 1.35 and helm 4 against the server (the acceptance tests). The tools come
//! from `make k8s-tools` (scripts/fetch-k8s-tools.sh, cached in .cache/k8s-tools);
//! the tests are ignored by a plain `cargo test` and `make test` runs them with
//! `--ignored`. Run by hand without the tools, they fail saying what to do.

use crate::common::*;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

const NEEDS_TOOLS: &str = "run `make k8s-tools` (kubectl and helm into .cache/k8s-tools)";

/// A tool from the project's cache; panics naming the fix when it is missing.
fn cached_tool(name: &str) -> PathBuf {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../.cache/k8s-tools").join(name);
    assert!(path.exists(), "{} is missing: {NEEDS_TOOLS}", path.display());
    path
}

struct Kubectl {
    bin: PathBuf,
    kubeconfig: PathBuf,
}

impl Kubectl {
    fn run(&self, args: &[&str], stdin: Option<&str>) -> (bool, String) {
        let mut cmd = Command::new(&self.bin);
        cmd.args(args)
            .env("KUBECONFIG", &self.kubeconfig)
            .env("HOME", self.kubeconfig.parent().unwrap())
            .stdin(if stdin.is_some() { Stdio::piped() } else { Stdio::null() })
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = cmd.spawn().unwrap();
        if let Some(input) = stdin {
            use std::io::Write;
            child.stdin.take().unwrap().write_all(input.as_bytes()).unwrap();
        }
        let out = child.wait_with_output().unwrap();
        let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
        (out.status.success(), text)
    }

    fn ok(&self, args: &[&str], stdin: Option<&str>) -> String {
        let (ok, text) = self.run(args, stdin);
        assert!(ok, "kubectl {args:?} failed:\n{text}");
        text
    }
}

const DEPLOY: &str = r#"
apiVersion: v1
kind: Namespace
metadata: {name: demo}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: web, namespace: demo, labels: {app: web}}
spec:
  replicas: 2
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      containers:
      - {name: app, image: "nginx:1.27", env: [{name: A, value: "1"}]}
      - {name: side, image: "busybox:1"}
---
apiVersion: v1
kind: Service
metadata: {name: web, namespace: demo}
spec: {selector: {app: web}, ports: [{port: 80}]}
"#;

#[ignore = "needs kubectl: make k8s-tools"]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubectl_acceptance() {
    let bin = cached_tool("kubectl");
    let (h, _client) = server().await;
    let dir = tempfile::tempdir().unwrap();
    let kubeconfig = dir.path().join("kubeconfig");
    std::fs::write(&kubeconfig, h.kubeconfig_yaml()).unwrap();
    let k = Kubectl { bin, kubeconfig };
    let k = std::sync::Arc::new(k);
    let kk = k.clone();
    tokio::task::spawn_blocking(move || scenario(&kk)).await.unwrap();
    h.shutdown().await.unwrap();
}

fn scenario(k: &Kubectl) {
    assert!(k.ok(&["version"], None).contains("Server Version: v1.35"));
    k.ok(&["api-resources"], None);
    // Client-side apply, twice (second is unchanged), then a change.
    let out = k.ok(&["apply", "-f", "-"], Some(DEPLOY));
    assert!(out.contains("deployment.apps/web created"), "{out}");
    let out = k.ok(&["apply", "-f", "-"], Some(DEPLOY));
    assert!(out.contains("deployment.apps/web unchanged"), "{out}");
    let out = k.ok(&["apply", "-f", "-"], Some(&DEPLOY.replace("replicas: 2", "replicas: 3")));
    assert!(out.contains("deployment.apps/web configured"), "{out}");
    let y = k.ok(&["-n", "demo", "get", "deploy", "web", "-o", "yaml"], None);
    assert!(y.contains("replicas: 3") && y.contains("generation: 2"), "{y}");
    // Patches of each type.
    k.ok(
        &[
            "-n",
            "demo",
            "patch",
            "deploy",
            "web",
            "--type=strategic",
            "-p",
            r#"{"spec":{"template":{"spec":{"containers":[{"name":"app","image":"nginx:1.28"}]}}}}"#,
        ],
        None,
    );
    let y =
        k.ok(&["-n", "demo", "get", "deploy", "web", "-o", "jsonpath={.spec.template.spec.containers[*].image}"], None);
    assert_eq!(y.trim(), "nginx:1.28 busybox:1");
    k.ok(&["-n", "demo", "patch", "deploy", "web", "--type=merge", "-p", r#"{"metadata":{"labels":{"m":"1"}}}"#], None);
    k.ok(
        &[
            "-n",
            "demo",
            "patch",
            "deploy",
            "web",
            "--type=json",
            "-p",
            r#"[{"op":"replace","path":"/spec/replicas","value":1}]"#,
        ],
        None,
    );
    let y = k.ok(&["-n", "demo", "get", "deploy", "web", "-o", "jsonpath={.metadata.labels.m} {.spec.replicas}"], None);
    assert_eq!(y.trim(), "1 1");
    k.ok(&["-n", "demo", "scale", "deploy", "web", "--replicas=2"], None);
    // Server-side apply.
    let cm = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: ssa, namespace: demo}\ndata: {a: '1', b: '2'}\n";
    let out = k.ok(&["apply", "--server-side", "-f", "-"], Some(cm));
    assert!(out.contains("serverside-applied"), "{out}");
    k.ok(&["apply", "--server-side", "-f", "-"], Some(&cm.replace(", b: '2'", "")));
    let y = k.ok(&["-n", "demo", "get", "cm", "ssa", "-o", "yaml", "--show-managed-fields"], None);
    assert!(y.contains("manager: kubectl") && !y.contains("b: \"2\""), "{y}");
    let (ok, out) = k.run(&["-n", "demo", "patch", "cm", "ssa", "--type=merge", "-p", r#"{"data":{"a":"x"}}"#], None);
    assert!(ok, "{out}");
    let (ok, out) = k.run(&["apply", "--server-side", "-f", "-"], Some(&cm.replace("a: '1'", "a: '2'")));
    assert!(!ok && out.contains("conflict"), "{out}");
    k.ok(&["apply", "--server-side", "--force-conflicts", "-f", "-"], Some(&cm.replace("a: '1'", "a: '2'")));

    // CRD, printer columns, wait.
    let crd = serde_json::to_string(&crate::crd::widget_crd()).unwrap();
    k.ok(&["apply", "-f", "-"], Some(&crd));
    k.ok(&["wait", "--for=condition=Established", "crd/widgets.example.com", "--timeout=10s"], None);
    k.ok(
        &["apply", "-f", "-"],
        Some("apiVersion: example.com/v1\nkind: Widget\nmetadata: {name: w, namespace: demo}\nspec: {size: small}\n"),
    );
    let (ok, out) = k.run(&["apply", "-f", "-"], Some("apiVersion: example.com/v1\nkind: Widget\nmetadata: {name: bad, namespace: demo}\nspec: {size: small, replicas: -1}\n"));
    assert!(
        !ok && out
            .contains("spec.replicas: Invalid value: -1: spec.replicas in body should be greater than or equal to 0"),
        "{out}"
    );
    k.ok(
        &[
            "-n",
            "demo",
            "patch",
            "widget",
            "w",
            "--subresource=status",
            "--type=merge",
            "-p",
            r#"{"status":{"conditions":[{"type":"Ready","status":"True"}]}}"#,
        ],
        None,
    );
    let table = k.ok(&["-n", "demo", "get", "widgets"], None);
    let header: Vec<&str> = table.lines().next().unwrap().split_whitespace().collect();
    assert_eq!(header, ["NAME", "REPLICAS", "READY"], "{table}");
    assert!(table.lines().nth(1).unwrap().split_whitespace().collect::<Vec<_>>() == ["w", "1", "True"], "{table}");
    k.ok(&["-n", "demo", "wait", "--for=condition=Ready", "widget/w", "--timeout=10s"], None);
    let out = k.ok(&["explain", "widget.spec.size"], None);
    assert!(out.contains("size"), "{out}");

    // get --watch sees a change made while it runs.
    let mut child = Command::new(&k.bin)
        .args(["-n", "demo", "get", "cm", "--watch", "--request-timeout=4s", "-o", "name"])
        .env("KUBECONFIG", &k.kubeconfig)
        .env("HOME", k.kubeconfig.parent().unwrap())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(std::time::Duration::from_millis(700));
    k.ok(
        &["-n", "demo", "apply", "-f", "-"],
        Some("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: late}\ndata: {x: '1'}\n"),
    );
    std::thread::sleep(std::time::Duration::from_millis(700));
    let _ = child.kill();
    let out = child.wait_with_output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("configmap/late"), "watch output: {text} {}", String::from_utf8_lossy(&out.stderr));

    // Table watch (kubectl's default output) keeps the printer columns.
    let child = Command::new(&k.bin)
        .args(["-n", "demo", "get", "widgets", "--watch", "--request-timeout=3s"])
        .env("KUBECONFIG", &k.kubeconfig)
        .env("HOME", k.kubeconfig.parent().unwrap())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(std::time::Duration::from_millis(700));
    k.ok(&["-n", "demo", "patch", "widget", "w", "--type=merge", "-p", r#"{"spec":{"replicas":7}}"#], None);
    let out = child.wait_with_output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.lines().any(|l| l.split_whitespace().collect::<Vec<_>>() == ["w", "7", "True"]),
        "table watch output: {text}"
    );
    assert_eq!(k.ok(&["auth", "can-i", "delete", "pods"], None).trim(), "yes");

    // Cascading delete.
    let rs = "apiVersion: apps/v1\nkind: ReplicaSet\nmetadata: {name: web-rs, namespace: demo, ownerReferences: [{apiVersion: apps/v1, kind: Deployment, name: web, uid: UID}]}\nspec: {replicas: 0, selector: {matchLabels: {app: web}}, template: {metadata: {labels: {app: web}}, spec: {containers: [{name: a, image: 'x:1'}]}}}\n";
    let uid = k.ok(&["-n", "demo", "get", "deploy", "web", "-o", "jsonpath={.metadata.uid}"], None);
    k.ok(&["apply", "-f", "-"], Some(&rs.replace("UID", uid.trim())));
    k.ok(&["-n", "demo", "delete", "deploy", "web", "--cascade=foreground", "--wait=true", "--timeout=10s"], None);
    let (ok, out) = k.run(&["-n", "demo", "get", "rs", "web-rs"], None);
    assert!(!ok && out.contains("not found"), "{out}");

    // Typed-client commands send protobuf bodies.
    k.ok(&["create", "namespace", "typed"], None);
    k.ok(&["-n", "typed", "create", "configmap", "c", "--from-literal=a=b"], None);
    k.ok(&["-n", "typed", "create", "secret", "generic", "s", "--from-literal=p=q"], None);
    k.ok(&["-n", "typed", "create", "serviceaccount", "robot"], None);
    let y = k.ok(&["-n", "typed", "get", "cm", "c", "-o", "jsonpath={.data.a}"], None);
    assert_eq!(y.trim(), "b");
    let y = k.ok(&["-n", "typed", "get", "secret", "s", "-o", "jsonpath={.data.p}"], None);
    assert_eq!(y.trim(), "cQ==");
    // Strict field validation (kubectl's default) refuses unknown fields.
    let (ok, out) = k.run(&["apply", "-f", "-"], Some("apiVersion: example.com/v1\nkind: Widget\nmetadata: {name: j, namespace: typed}\nspec: {size: small, junk: 1}\n"));
    assert!(!ok && out.contains("strict decoding error: unknown field \"spec.junk\""), "{out}");

    // Logs come from the file the kubelet names in an annotation.
    let log = k.kubeconfig.parent().unwrap().join("app.log");
    std::fs::write(&log, "line 1\nline 2\nline 3\n").unwrap();
    let pod = format!(
        "apiVersion: v1\nkind: Pod\nmetadata: {{name: p, namespace: typed, annotations: {{berth.dev/log-path.app: '{}'}}}}\nspec: {{containers: [{{name: app, image: 'x:1'}}]}}\n",
        log.display()
    );
    k.ok(&["apply", "-f", "-"], Some(&pod));
    assert_eq!(k.ok(&["-n", "typed", "logs", "p"], None), "line 1\nline 2\nline 3\n");
    assert_eq!(k.ok(&["-n", "typed", "logs", "p", "--tail=1"], None), "line 3\n");

    k.ok(&["delete", "ns", "demo", "typed", "--wait=true", "--timeout=10s"], None);
}

#[ignore = "needs kubectl and helm: make k8s-tools"]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn helm_install_and_uninstall() {
    let helm = cached_tool("helm");
    let (h, _client) = server().await;
    let dir = tempfile::tempdir().unwrap();
    let kubeconfig = dir.path().join("kubeconfig");
    std::fs::write(&kubeconfig, h.kubeconfig_yaml()).unwrap();
    let chart = dir.path().join("chart");
    std::fs::create_dir_all(chart.join("templates")).unwrap();
    std::fs::write(chart.join("Chart.yaml"), "apiVersion: v2\nname: small\nversion: 0.1.0\n").unwrap();
    std::fs::write(chart.join("templates/all.yaml"), "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: '{{ .Release.Name }}-cfg'}\ndata: {a: '1'}\n---\napiVersion: v1\nkind: Service\nmetadata: {name: '{{ .Release.Name }}-svc'}\nspec: {ports: [{port: 80}]}\n").unwrap();
    let run = move |args: Vec<String>| {
        let out = Command::new(&helm)
            .args(&args)
            .env("KUBECONFIG", &kubeconfig)
            .env("HOME", kubeconfig.parent().unwrap())
            .env("HELM_CACHE_HOME", kubeconfig.parent().unwrap().join("cache"))
            .env("HELM_CONFIG_HOME", kubeconfig.parent().unwrap().join("config"))
            .env("HELM_DATA_HOME", kubeconfig.parent().unwrap().join("data"))
            .output()
            .unwrap();
        let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
        assert!(out.status.success(), "helm {args:?}: {text}");
        text
    };
    let chart_s = chart.display().to_string();
    let client = _client.clone();
    let run = std::sync::Arc::new(run);
    let r = run.clone();
    tokio::task::spawn_blocking(move || {
        r(vec!["install".into(), "rel".into(), chart_s]);
        assert!(r(vec!["list".into()]).contains("deployed"));
    })
    .await
    .unwrap();
    let cms: kube::Api<k8s_openapi::api::core::v1::ConfigMap> = kube::Api::namespaced(client, "default");
    assert!(cms.get_opt("rel-cfg").await.unwrap().is_some());
    tokio::task::spawn_blocking(move || run(vec!["uninstall".into(), "rel".into()])).await.unwrap();
    assert!(cms.get_opt("rel-cfg").await.unwrap().is_none());
    h.shutdown().await.unwrap();
}
