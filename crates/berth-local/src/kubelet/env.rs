//! Builds a container's environment the way the kubelet does: `envFrom` first,
//! then `env` in order (each value may reference earlier ones with `$(VAR)`),
//! with `valueFrom` reading the downward API, ConfigMaps and Secrets.
use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{ConfigMap, Container, Pod, Secret};
use kube::{Api, Client};

use super::expand::expand;
use super::fieldref::field_value;
use super::resource_ref::{NodeAllocatable, resource_value};
use crate::error::{Error, Result};

/// Reads ConfigMaps and Secrets of one namespace, each at most once per
/// resolution.
pub struct Sources {
    client: Client,
    namespace: String,
    config_maps: BTreeMap<String, Option<ConfigMap>>,
    secrets: BTreeMap<String, Option<Secret>>,
}

impl Sources {
    pub fn new(client: Client, namespace: &str) -> Self {
        Sources { client, namespace: namespace.to_string(), config_maps: BTreeMap::new(), secrets: BTreeMap::new() }
    }

    pub async fn config_map(&mut self, name: &str) -> Result<Option<&ConfigMap>> {
        if !self.config_maps.contains_key(name) {
            let api: Api<ConfigMap> = Api::namespaced(self.client.clone(), &self.namespace);
            let got = api.get_opt(name).await?;
            self.config_maps.insert(name.to_string(), got);
        }
        Ok(self.config_maps.get(name).and_then(|c| c.as_ref()))
    }

    pub async fn secret(&mut self, name: &str) -> Result<Option<&Secret>> {
        if !self.secrets.contains_key(name) {
            let api: Api<Secret> = Api::namespaced(self.client.clone(), &self.namespace);
            let got = api.get_opt(name).await?;
            self.secrets.insert(name.to_string(), got);
        }
        Ok(self.secrets.get(name).and_then(|c| c.as_ref()))
    }

    /// All keys of a ConfigMap (`data` and `binaryData`) as bytes.
    pub async fn config_map_data(&mut self, name: &str) -> Result<Option<BTreeMap<String, Vec<u8>>>> {
        Ok(self.config_map(name).await?.map(|cm| {
            let mut out: BTreeMap<String, Vec<u8>> = BTreeMap::new();
            for (k, v) in cm.data.iter().flatten() {
                out.insert(k.clone(), v.clone().into_bytes());
            }
            for (k, v) in cm.binary_data.iter().flatten() {
                out.insert(k.clone(), v.0.clone());
            }
            out
        }))
    }

    /// All keys of a Secret (`data` and `stringData`) as bytes.
    pub async fn secret_data(&mut self, name: &str) -> Result<Option<BTreeMap<String, Vec<u8>>>> {
        Ok(self.secret(name).await?.map(|s| {
            let mut out: BTreeMap<String, Vec<u8>> = BTreeMap::new();
            for (k, v) in s.data.iter().flatten() {
                out.insert(k.clone(), v.0.clone());
            }
            for (k, v) in s.string_data.iter().flatten() {
                out.insert(k.clone(), v.clone().into_bytes());
            }
            out
        }))
    }
}

/// What a container's environment is built from besides the pod itself.
pub struct EnvContext<'a> {
    pub pod: &'a Pod,
    pub pod_ip: &'a str,
    pub node_name: &'a str,
    /// Variables berth-local adds (KUBECONFIG, BERTH_POD_IP, ...) before the
    /// container's own, so the container's `env` can override them.
    pub base: BTreeMap<String, String>,
}

pub async fn container_env(
    ctx: &EnvContext<'_>,
    container: &Container,
    sources: &mut Sources,
) -> Result<BTreeMap<String, String>> {
    let mut vars = ctx.base.clone();
    for from in container.env_from.iter().flatten() {
        let prefix = from.prefix.clone().unwrap_or_default();
        if let Some(cm) = &from.config_map_ref {
            match sources.config_map_data(&cm.name).await? {
                Some(data) => insert_all(&mut vars, &prefix, data),
                None if cm.optional == Some(true) => {}
                None => return Err(missing("configmap", &cm.name)),
            }
        }
        if let Some(sec) = &from.secret_ref {
            match sources.secret_data(&sec.name).await? {
                Some(data) => insert_all(&mut vars, &prefix, data),
                None if sec.optional == Some(true) => {}
                None => return Err(missing("secret", &sec.name)),
            }
        }
    }
    for env in container.env.iter().flatten() {
        let value = match (&env.value, &env.value_from) {
            (_, Some(from)) => {
                if let Some(f) = &from.field_ref {
                    Some(field_value(ctx.pod, ctx.pod_ip, ctx.node_name, &f.field_path)?)
                } else if let Some(k) = &from.config_map_key_ref {
                    let data = sources.config_map_data(&k.name).await?;
                    match data.and_then(|d| d.get(&k.key).cloned()) {
                        Some(v) => Some(String::from_utf8_lossy(&v).into_owned()),
                        None if k.optional == Some(true) => None,
                        None => return Err(missing_key("configmap", &k.name, &k.key)),
                    }
                } else if let Some(k) = &from.secret_key_ref {
                    let data = sources.secret_data(&k.name).await?;
                    match data.and_then(|d| d.get(&k.key).cloned()) {
                        Some(v) => Some(String::from_utf8_lossy(&v).into_owned()),
                        None if k.optional == Some(true) => None,
                        None => return Err(missing_key("secret", &k.name, &k.key)),
                    }
                } else if let Some(r) = &from.resource_field_ref {
                    Some(resource_value(ctx.pod, container, r, NodeAllocatable::of_this_machine())?)
                } else {
                    return Err(Error::Unsupported(format!("env {}: valueFrom source", env.name)));
                }
            }
            (Some(v), None) => Some(expand(v, &vars)),
            (None, None) => Some(String::new()),
        };
        if let Some(v) = value {
            vars.insert(env.name.clone(), v);
        }
    }
    Ok(vars)
}

fn insert_all(vars: &mut BTreeMap<String, String>, prefix: &str, data: BTreeMap<String, Vec<u8>>) {
    for (k, v) in data {
        vars.insert(format!("{prefix}{k}"), String::from_utf8_lossy(&v).into_owned());
    }
}

fn missing(kind: &str, name: &str) -> Error {
    Error::ContainerConfig(format!("{kind} {name:?} not found"))
}

fn missing_key(kind: &str, name: &str, key: &str) -> Error {
    Error::ContainerConfig(format!("couldn't find key {key} in {kind} {name}"))
}
