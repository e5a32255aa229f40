//! An S3 bucket (moto's server, started by `s3_store.py` from the project's venv)
//! holding versions of a model under `{prefix}/{N}/`; stopped when dropped. moto
//! listens on the address berth-local's pods reach this machine at (their network's
//! gateway).

use std::io::BufRead;
use std::path::Path;
use std::process::{Child, Command, Stdio};

use crate::root;

pub struct S3Store {
    child: Child,
    pub endpoint: String,
}

impl S3Store {
    pub fn start(bind: std::net::IpAddr, prefix: &str, versions: &[(&str, &Path)]) -> S3Store {
        let python = root().join(".cache/venv/bin/python");
        assert!(python.exists(), "run `make venv` (moto and boto3 come with it)");
        let mut child = Command::new(python)
            .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("src/s3_store.py"))
            .arg(bind.to_string())
            .arg(prefix)
            .args(versions.iter().map(|(v, dir)| format!("{v}={}", dir.display())))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let mut line = String::new();
        std::io::BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
        assert!(line.starts_with("http://"), "s3_store.py did not start: {line:?}");
        S3Store { child, endpoint: line.trim().to_string() }
    }
}

impl Drop for S3Store {
    fn drop(&mut self) {
        // Closing stdin ends the script; kill it should that not be enough.
        drop(self.child.stdin.take());
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
