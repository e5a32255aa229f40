//! Materialises a pod's volumes as directories under the pod's state folder.
//! Contents are written once, when the pod starts (the real kubelet refreshes
//! ConfigMap and Secret volumes periodically; berth-local does not).
use std::collections::BTreeMap;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use k8s_openapi::api::core::v1::{DownwardAPIVolumeFile, KeyToPath, Pod, Volume};

use super::env::Sources;
use super::fieldref::field_value;
use super::resource_ref::{NodeAllocatable, resource_value};
use crate::error::{Error, Result};

/// The token written for projected ServiceAccount tokens. The local API server
/// does not authenticate, so any bearer string works; this one names its owner
/// for debugging.
pub fn service_account_token(namespace: &str, service_account: &str) -> String {
    format!("berth-local:{namespace}:{service_account}")
}

/// Placeholder CA for `kube-root-ca.crt` when that ConfigMap does not exist:
/// the local API server speaks plain HTTP, so no client verifies it.
pub const PLACEHOLDER_CA: &str = "# berth-local serves plain HTTP on loopback; no CA is used\n";

pub struct VolumeContext<'a> {
    pub pod: &'a Pod,
    pub pod_ip: &'a str,
    pub node_name: &'a str,
    pub pod_dir: &'a Path,
}

/// Writes every volume and returns volume name -> host directory.
pub async fn materialise(ctx: &VolumeContext<'_>, sources: &mut Sources) -> Result<BTreeMap<String, PathBuf>> {
    let mut out = BTreeMap::new();
    let vols = ctx.pod.spec.as_ref().and_then(|s| s.volumes.clone()).unwrap_or_default();
    for vol in &vols {
        let dir = ctx.pod_dir.join("volumes").join(&vol.name);
        let path = materialise_one(ctx, vol, &dir, sources).await?;
        out.insert(vol.name.clone(), path);
    }
    Ok(out)
}

async fn materialise_one(ctx: &VolumeContext<'_>, vol: &Volume, dir: &Path, sources: &mut Sources) -> Result<PathBuf> {
    if let Some(hp) = &vol.host_path {
        // A hostPath is already a host directory: that part is honest.
        return Ok(PathBuf::from(&hp.path));
    }
    mkdir(dir)?;
    if vol.empty_dir.is_some() {
        return Ok(dir.to_path_buf());
    }
    let mut files: BTreeMap<String, (Vec<u8>, Option<i32>)> = BTreeMap::new();
    let default_mode;
    if let Some(cm) = &vol.config_map {
        default_mode = cm.default_mode;
        match sources.config_map_data(&cm.name).await? {
            Some(data) => add_items(&mut files, data, cm.items.as_deref(), &cm.name)?,
            None if cm.optional == Some(true) => {}
            None => return Err(not_found("configmap", &cm.name)),
        }
    } else if let Some(sec) = &vol.secret {
        default_mode = sec.default_mode;
        let name = sec.secret_name.clone().unwrap_or_default();
        match sources.secret_data(&name).await? {
            Some(data) => add_items(&mut files, data, sec.items.as_deref(), &name)?,
            None if sec.optional == Some(true) => {}
            None => return Err(not_found("secret", &name)),
        }
    } else if let Some(dapi) = &vol.downward_api {
        default_mode = dapi.default_mode;
        for item in dapi.items.iter().flatten() {
            let v = downward_item(ctx, item)?;
            files.insert(item.path.clone(), (v.into_bytes(), item.mode));
        }
    } else if let Some(proj) = &vol.projected {
        default_mode = proj.default_mode;
        for src in proj.sources.iter().flatten() {
            if let Some(tok) = &src.service_account_token {
                let ns = ctx.pod.metadata.namespace.clone().unwrap_or_default();
                let sa = ctx
                    .pod
                    .spec
                    .as_ref()
                    .and_then(|s| s.service_account_name.clone())
                    .unwrap_or_else(|| "default".into());
                files.insert(tok.path.clone(), (service_account_token(&ns, &sa).into_bytes(), None));
            }
            if let Some(cm) = &src.config_map {
                match sources.config_map_data(&cm.name).await? {
                    Some(data) => add_items(&mut files, data, cm.items.as_deref(), &cm.name)?,
                    // Real clusters publish kube-root-ca.crt in every namespace.
                    None if cm.name == "kube-root-ca.crt" => {
                        let data = BTreeMap::from([("ca.crt".to_string(), PLACEHOLDER_CA.as_bytes().to_vec())]);
                        add_items(&mut files, data, cm.items.as_deref(), &cm.name)?
                    }
                    None if cm.optional == Some(true) => {}
                    None => return Err(not_found("configmap", &cm.name)),
                }
            }
            if let Some(sec) = &src.secret {
                match sources.secret_data(&sec.name).await? {
                    Some(data) => add_items(&mut files, data, sec.items.as_deref(), &sec.name)?,
                    None if sec.optional == Some(true) => {}
                    None => return Err(not_found("secret", &sec.name)),
                }
            }
            if let Some(dapi) = &src.downward_api {
                for item in dapi.items.iter().flatten() {
                    let v = downward_item(ctx, item)?;
                    files.insert(item.path.clone(), (v.into_bytes(), item.mode));
                }
            }
        }
    } else {
        return Err(Error::Unsupported(format!(
            "volume {:?}: only emptyDir, hostPath, configMap, secret, downwardAPI and projected volumes are supported",
            vol.name
        )));
    }
    for (rel, (bytes, mode)) in files {
        write_file(dir, &rel, &bytes, mode.or(default_mode).unwrap_or(0o644))?;
    }
    Ok(dir.to_path_buf())
}

fn downward_item(ctx: &VolumeContext<'_>, item: &DownwardAPIVolumeFile) -> Result<String> {
    if let Some(f) = &item.field_ref {
        return field_value(ctx.pod, ctx.pod_ip, ctx.node_name, &f.field_path);
    }
    let Some(r) = &item.resource_field_ref else {
        return Err(Error::ContainerConfig(format!(
            "downwardAPI item {:?}: neither fieldRef nor resourceFieldRef",
            item.path
        )));
    };
    // In a volume the API requires containerName; the first container stands in
    // for "the current one" should it be missing.
    let first = ctx.pod.spec.as_ref().and_then(|s| s.containers.first()).cloned().unwrap_or_default();
    resource_value(ctx.pod, &first, r, NodeAllocatable::of_this_machine())
}

fn add_items(
    files: &mut BTreeMap<String, (Vec<u8>, Option<i32>)>,
    data: BTreeMap<String, Vec<u8>>,
    items: Option<&[KeyToPath]>,
    source: &str,
) -> Result<()> {
    match items {
        None => {
            for (k, v) in data {
                files.insert(k, (v, None));
            }
        }
        Some(items) => {
            for it in items {
                let v = data
                    .get(&it.key)
                    .cloned()
                    .ok_or_else(|| Error::ContainerConfig(format!("key {:?} not found in {source:?}", it.key)))?;
                files.insert(it.path.clone(), (v, it.mode));
            }
        }
    }
    Ok(())
}

pub fn mkdir(dir: &Path) -> Result<()> {
    std::fs::create_dir_all(dir).map_err(|e| Error::io(format!("mkdir {}", dir.display()), e))
}

fn write_file(dir: &Path, rel: &str, bytes: &[u8], mode: i32) -> Result<()> {
    if rel.split('/').any(|c| c == ".." || c.is_empty()) {
        return Err(Error::ContainerConfig(format!("volume item path {rel:?} is not allowed")));
    }
    let path = dir.join(rel);
    if let Some(parent) = path.parent() {
        mkdir(parent)?;
    }
    std::fs::write(&path, bytes).map_err(|e| Error::io(format!("write {}", path.display()), e))?;
    let perm = std::fs::Permissions::from_mode((mode as u32) & 0o7777);
    std::fs::set_permissions(&path, perm).map_err(|e| Error::io(format!("chmod {}", path.display()), e))
}

fn not_found(kind: &str, name: &str) -> Error {
    Error::ContainerConfig(format!("{kind} {name:?} not found"))
}
