//! The downward API's `resourceFieldRef` (env vars and downwardAPI volume files):
//! a container's request or limit divided by `divisor` (default 1) and rounded up,
//! as the kubelet reports it. `limits.memory: 150Mi` reads `157286400`; with
//! divisor `1Mi`, `150`; `limits.cpu: 500m` reads `1`, with divisor `1m`, `500`.

use k8s_openapi::api::core::v1::{Container, Pod, ResourceFieldSelector};

use super::quantity::divide_ceil;
use crate::error::{Error, Result};

/// What the node offers, used where a container sets no limit: the kubelet then
/// reports the node's allocatable amount, and berth-local's node is this machine.
#[derive(Debug, Clone, Copy)]
pub struct NodeAllocatable {
    pub cpu_millis: u64,
    pub memory_bytes: u64,
}

impl NodeAllocatable {
    pub fn of_this_machine() -> Self {
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        let memory_kib = std::fs::read_to_string("/proc/meminfo").ok().and_then(|m| {
            m.lines()
                .find_map(|l| l.strip_prefix("MemTotal:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        });
        Self {
            cpu_millis: (cores as u64).saturating_mul(1000),
            memory_bytes: memory_kib.unwrap_or(0).saturating_mul(1024),
        }
    }
}

/// `selector` resolved for `current` (the container whose env or volume asks;
/// `containerName` may name another container of the pod).
pub fn resource_value(
    pod: &Pod,
    current: &Container,
    selector: &ResourceFieldSelector,
    node: NodeAllocatable,
) -> Result<String> {
    let container = match selector.container_name.as_deref() {
        None | Some("") => current,
        Some(name) => pod
            .spec
            .iter()
            .flat_map(|s| s.containers.iter().chain(s.init_containers.iter().flatten()))
            .find(|c| c.name == name)
            .ok_or_else(|| Error::ContainerConfig(format!("resourceFieldRef: no container {name:?} in the pod")))?,
    };
    let (kind, name) = selector.resource.split_once('.').unwrap_or(("", selector.resource.as_str()));
    if !matches!(kind, "limits" | "requests")
        || !(matches!(name, "cpu" | "memory" | "ephemeral-storage") || name.starts_with("hugepages-"))
    {
        return Err(Error::ContainerConfig(format!(
            "resourceFieldRef: unsupported resource {:?} (limits.* or requests.* of cpu, memory, ephemeral-storage, hugepages-*)",
            selector.resource
        )));
    }
    let resources = container.resources.as_ref();
    let limit = resources.and_then(|r| r.limits.as_ref()).and_then(|m| m.get(name)).map(|q| q.0.clone());
    let request = resources.and_then(|r| r.requests.as_ref()).and_then(|m| m.get(name)).map(|q| q.0.clone());
    let quantity = match kind {
        // The API server defaults an unset request to the limit.
        "requests" => request.or(limit).unwrap_or_else(|| "0".to_string()),
        _ => match (limit, name) {
            (Some(limit), _) => limit,
            (None, "cpu") => format!("{}m", node.cpu_millis),
            (None, "memory") => node.memory_bytes.to_string(),
            (None, _) => {
                return Err(Error::Unsupported(format!(
                    "resourceFieldRef {}: berth-local does not track the node's {name}; set the container's limit",
                    selector.resource
                )));
            }
        },
    };
    let divisor = selector.divisor.as_ref().map_or("1", |d| d.0.as_str());
    divide_ceil(&quantity, divisor).map(|v| v.to_string()).ok_or_else(|| {
        Error::ContainerConfig(format!(
            "resourceFieldRef {}: cannot divide {quantity:?} by divisor {divisor:?}",
            selector.resource
        ))
    })
}

#[cfg(test)]
mod tests {
    use k8s_openapi::apimachinery::pkg::api::resource::Quantity;

    use super::*;

    const NODE: NodeAllocatable = NodeAllocatable { cpu_millis: 2000, memory_bytes: 24 << 30 };

    fn pod() -> Pod {
        serde_json::from_value(serde_json::json!({
            "metadata": {"name": "p"},
            "spec": {"containers": [
                {"name": "serve", "resources": {"limits": {"cpu": "500m", "memory": "150Mi"}, "requests": {"cpu": "250m"}}},
                {"name": "sidecar"}
            ]}
        }))
        .unwrap()
    }

    fn value(container: usize, resource: &str, divisor: Option<&str>, other: Option<&str>) -> Result<String> {
        let pod = pod();
        let current = pod.spec.as_ref().unwrap().containers[container].clone();
        let selector = ResourceFieldSelector {
            container_name: other.map(String::from),
            resource: resource.to_string(),
            divisor: divisor.map(|d| Quantity(d.to_string())),
        };
        resource_value(&pod, &current, &selector, NODE)
    }

    #[test]
    fn quantities_are_divided_and_rounded_up_like_the_kubelet() {
        assert_eq!(value(0, "limits.memory", None, None).unwrap(), "157286400");
        assert_eq!(value(0, "limits.memory", Some("1Mi"), None).unwrap(), "150");
        assert_eq!(value(0, "limits.cpu", None, None).unwrap(), "1");
        assert_eq!(value(0, "limits.cpu", Some("1m"), None).unwrap(), "500");
        assert_eq!(value(0, "requests.cpu", Some("1m"), None).unwrap(), "250");
        // An unset request is the limit; with neither, 0.
        assert_eq!(value(0, "requests.memory", Some("1Mi"), None).unwrap(), "150");
        assert_eq!(value(1, "requests.memory", None, None).unwrap(), "0");
    }

    #[test]
    fn an_unset_limit_is_the_node_and_container_name_picks_another() {
        assert_eq!(value(1, "limits.cpu", None, None).unwrap(), "2");
        assert_eq!(value(1, "limits.memory", Some("1Gi"), None).unwrap(), "24");
        assert_eq!(value(1, "limits.memory", Some("1Mi"), Some("serve")).unwrap(), "150");
        assert!(value(0, "limits.cpu", None, Some("nope")).unwrap_err().to_string().contains("\"nope\""));
    }

    #[test]
    fn bad_selectors_name_the_problem() {
        assert!(value(0, "limits.gpu", None, None).unwrap_err().to_string().contains("limits.gpu"));
        assert!(value(0, "memory", None, None).unwrap_err().to_string().contains("unsupported resource"));
        assert!(value(0, "limits.memory", Some("0"), None).unwrap_err().to_string().contains("divisor"));
        assert!(
            value(1, "limits.ephemeral-storage", None, None)
                .unwrap_err()
                .to_string()
                .contains("set the container's limit")
        );
    }
}
