//! A private etcd and kube-apiserver for the live comparison: free ports on
//! 127.0.0.1, data and certificates in a temporary folder, an admin token in
//! system:masters; both processes are killed when the value is dropped.

use crate::client::Server;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub const TOKEN: &str = "berth-differential-admin";

pub struct KubeServers {
    children: Vec<Child>,
    pub url: String,
    pub etcd_url: String,
    dir: tempfile::TempDir,
}

impl Drop for KubeServers {
    fn drop(&mut self) {
        // The API server first, then etcd under it.
        for c in self.children.iter_mut().rev() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// The folder with kube-apiserver and etcd (`scripts/cluster/build-tools.sh --print-dir`/bin),
/// or `BERTH_CLUSTER_TOOLS_BIN`.
pub fn bin_dir() -> PathBuf {
    if let Ok(d) = std::env::var("BERTH_CLUSTER_TOOLS_BIN") {
        return PathBuf::from(d);
    }
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let out = Command::new("bash")
        .arg(root.join("scripts/cluster/build-tools.sh"))
        .arg("--print-dir")
        .output()
        .expect("run scripts/cluster/build-tools.sh --print-dir");
    PathBuf::from(String::from_utf8_lossy(&out.stdout).trim()).join("bin")
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").expect("bind").local_addr().expect("addr").port()
}

fn spawn(bin: &Path, args: &[String], log: &Path) -> Child {
    let out = std::fs::File::create(log).expect("log file");
    let err = out.try_clone().expect("log file");
    Command::new(bin)
        .args(args)
        .stdin(Stdio::null())
        .stdout(out)
        .stderr(err)
        .spawn()
        .unwrap_or_else(|e| panic!("start {}: {e}", bin.display()))
}

fn run(cmd: &mut Command) {
    let st = cmd.status().unwrap_or_else(|e| panic!("{cmd:?}: {e}"));
    assert!(st.success(), "{cmd:?} failed");
}

impl KubeServers {
    pub async fn start() -> Self {
        let bin = bin_dir();
        let (apiserver, etcd) = (bin.join("kube-apiserver"), bin.join("etcd"));
        assert!(
            apiserver.is_file() && etcd.is_file(),
            "kube-apiserver and etcd are not built in {}: run `make cluster-tools` \
             (scripts/cluster/build-tools.sh) first, or set BERTH_CLUSTER_TOOLS_BIN",
            bin.display()
        );
        let dir = tempfile::tempdir().expect("tempdir");
        let d = dir.path();
        let (client_port, peer_port, secure_port) = (free_port(), free_port(), free_port());
        let etcd_url = format!("http://127.0.0.1:{client_port}");
        let peer = format!("http://127.0.0.1:{peer_port}");
        let mut children = Vec::new();
        let s = |x: &str| x.to_string();
        children.push(spawn(
            &etcd,
            &[
                s("--name=diff"),
                format!("--data-dir={}", d.join("etcd").display()),
                format!("--listen-client-urls={etcd_url}"),
                format!("--advertise-client-urls={etcd_url}"),
                format!("--listen-peer-urls={peer}"),
                format!("--initial-advertise-peer-urls={peer}"),
                format!("--initial-cluster=diff={peer}"),
                s("--unsafe-no-fsync"),
                s("--log-level=warn"),
            ],
            &d.join("etcd.log"),
        ));
        run(Command::new("openssl").args(["genrsa", "-out"]).arg(d.join("sa.key")).arg("2048").stderr(Stdio::null()));
        run(Command::new("openssl")
            .args(["rsa", "-pubout", "-in"])
            .arg(d.join("sa.key"))
            .arg("-out")
            .arg(d.join("sa.pub"))
            .stderr(Stdio::null()));
        std::fs::write(d.join("tokens.csv"), format!("{TOKEN},admin,admin-uid,\"system:masters\"\n"))
            .expect("token file");
        let p = |name: &str| d.join(name).display().to_string();
        children.push(spawn(
            &apiserver,
            &[
                format!("--etcd-servers={etcd_url}"),
                s("--bind-address=127.0.0.1"),
                s("--advertise-address=127.0.0.1"),
                format!("--secure-port={secure_port}"),
                format!("--cert-dir={}", p("certs")),
                format!("--token-auth-file={}", p("tokens.csv")),
                s("--authorization-mode=RBAC"),
                format!("--service-account-key-file={}", p("sa.pub")),
                format!("--service-account-signing-key-file={}", p("sa.key")),
                s("--service-account-issuer=https://kubernetes.default.svc"),
                s("--service-cluster-ip-range=10.0.0.0/24"),
                s("--disable-admission-plugins=ServiceAccount"),
                s("--etcd-compaction-interval=0"),
                s("--v=1"),
            ],
            &d.join("kube-apiserver.log"),
        ));
        let me = Self { children, url: format!("https://127.0.0.1:{secure_port}"), etcd_url, dir };
        me.wait_ready().await;
        me
    }

    async fn wait_ready(&self) {
        let c = Server::new(&self.url, TOKEN);
        let start = Instant::now();
        loop {
            if c.try_get("/readyz").await == Some(200) {
                return;
            }
            if start.elapsed() > Duration::from_secs(90) {
                let log = std::fs::read_to_string(self.dir.path().join("kube-apiserver.log")).unwrap_or_default();
                let tail: String =
                    log.lines().rev().take(40).collect::<Vec<_>>().into_iter().rev().collect::<Vec<_>>().join("\n");
                panic!("kube-apiserver at {} not ready after 90 s; log tail:\n{tail}", self.url);
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    }

    pub fn client(&self) -> Server {
        Server::new(&self.url, TOKEN)
    }
}
