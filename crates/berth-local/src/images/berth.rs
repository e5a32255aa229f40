//! Berth's own images, mapped by `berth local up` to the binaries installed
//! beside the running `berth` (e.g. `target/debug/`), with what each image's
//! Dockerfile (`deploy/docker/Dockerfile.*`) sets: `CMD` and `ENV`.
use std::path::{Path, PathBuf};

use super::{ImageConfig, ImageMap, ImageRule};

pub const OPERATOR_IMAGE: &str = "ghcr.io/berth-dev/berth-operator";
pub const SERVE_IMAGE: &str = "ghcr.io/berth-dev/berth-serve";
/// Where the ONNX Runtime library is looked for below a workspace.
pub const ORT_IN_WORKSPACE: &str = ".cache/ort/libonnxruntime.so";

/// Adds rules for Berth's images (any tag or digest) after the map's own,
/// so `--image` rules still win.
pub fn add_defaults(map: &mut ImageMap, bin_dir: &Path, ort: &Result<PathBuf, String>) {
    let operator = ImageConfig {
        // Dockerfile.operator: CMD ["run", "--metrics-bind", "0.0.0.0:8080"]
        args: ["run", "--metrics-bind", "0.0.0.0:8080"].map(String::from).to_vec(),
        env: Vec::new(),
        unavailable: missing(bin_dir, "berth-operator", "berth-operator"),
    };
    let serve = ImageConfig {
        args: Vec::new(),
        // Dockerfile.serve: ENV ORT_DYLIB_PATH=/usr/local/lib/berth/libonnxruntime.so,
        // here the host's copy of the library.
        env: ort.iter().map(|p| ("ORT_DYLIB_PATH".to_string(), p.to_string_lossy().into_owned())).collect(),
        unavailable: missing(bin_dir, "berth-serve", "berth-serve").or_else(|| ort.as_ref().err().cloned()),
    };
    for (image, binary, config) in [(OPERATOR_IMAGE, "berth-operator", operator), (SERVE_IMAGE, "berth-serve", serve)] {
        for sep in [":*", "@*"] {
            let rule = ImageRule { pattern: format!("{image}{sep}"), binary: bin_dir.join(binary) };
            map.push_with(rule, config.clone());
        }
    }
}

fn missing(bin_dir: &Path, binary: &str, package: &str) -> Option<String> {
    let path = bin_dir.join(binary);
    (!path.is_file()).then(|| {
        format!(
            "{} is not built (berth local maps this image to the {binary} binary beside berth: \
             cargo build -p {package}, or map the image with --image PATTERN=PATH)",
            path.display()
        )
    })
}

/// The host's ONNX Runtime library for berth-serve: `--ort-library`, else
/// `ORT_DYLIB_PATH` of `berth local up`, else `.cache/ort/libonnxruntime.so`
/// in the workspace the binaries were built in (an ancestor of `bin_dir`).
pub fn find_ort_library(flag: Option<&Path>, env: Option<&Path>, bin_dir: &Path) -> Result<PathBuf, String> {
    if let Some(p) = flag.or(env) {
        let p = std::path::absolute(p).unwrap_or_else(|_| p.to_path_buf());
        return if p.is_file() {
            Ok(p)
        } else {
            Err(format!("the ONNX Runtime library {} (--ort-library or ORT_DYLIB_PATH) does not exist", p.display()))
        };
    }
    bin_dir.ancestors().map(|d| d.join(ORT_IN_WORKSPACE)).find(|p| p.is_file()).ok_or_else(|| {
        format!(
            "berth-serve needs the ONNX Runtime library and none was found: start `berth local up` with \
             --ort-library PATH or ORT_DYLIB_PATH=PATH, or fetch it into {ORT_IN_WORKSPACE} (make ort)"
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn berth_images_map_to_binaries_beside_berth() -> std::io::Result<()> {
        let dir = tempfile::tempdir()?;
        std::fs::write(dir.path().join("berth-operator"), "")?;
        std::fs::write(dir.path().join("berth-serve"), "")?;
        let ort = dir.path().join("libonnxruntime.so");
        std::fs::write(&ort, "")?;
        let mut m = ImageMap::new(vec![ImageRule { pattern: "nginx".into(), binary: "/bin/true".into() }]);
        add_defaults(&mut m, dir.path(), &Ok(ort.clone()));
        let op = m.image("ghcr.io/berth-dev/berth-operator:0.1.0").ok_or(std::io::ErrorKind::NotFound)?;
        assert_eq!(op.binary, &dir.path().join("berth-operator"));
        assert_eq!(op.config.args, ["run", "--metrics-bind", "0.0.0.0:8080"]);
        assert_eq!(op.config.unavailable, None);
        let serve = m.image("ghcr.io/berth-dev/berth-serve@sha256:abc").ok_or(std::io::ErrorKind::NotFound)?;
        assert_eq!(serve.config.env, vec![("ORT_DYLIB_PATH".to_string(), ort.to_string_lossy().into_owned())]);
        assert!(m.image("ghcr.io/other/berth-serve:1").is_none());
        Ok(())
    }

    #[test]
    fn missing_binary_or_library_makes_the_image_unavailable_with_a_reason() {
        let mut m = ImageMap::default();
        add_defaults(&mut m, Path::new("/nonexistent"), &Err("no ORT".into()));
        let serve = m.image("ghcr.io/berth-dev/berth-serve:1");
        let why = serve.and_then(|i| i.config.unavailable.clone()).unwrap_or_default();
        assert!(why.contains("/nonexistent/berth-serve is not built"), "{why}");
        assert!(find_ort_library(None, None, Path::new("/nonexistent/target/debug")).is_err());
        let flag = find_ort_library(Some(Path::new("/nonexistent.so")), None, Path::new("/"));
        assert!(flag.is_err_and(|e| e.contains("does not exist")));
    }
}
