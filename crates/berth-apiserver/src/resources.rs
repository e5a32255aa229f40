//! The resource types served: built-in kinds and those CRDs add.

use serde_json::Value;
use std::sync::Arc;

/// Where the scale subresource reads and writes (JSON paths like `.spec.replicas`).
#[derive(Debug, Clone)]
pub struct ScaleSpec {
    pub spec_replicas: String,
    pub status_replicas: String,
    pub label_selector: Option<String>,
}

/// What a CRD adds beyond the names: schemas and printer columns per version.
#[derive(Debug, Clone, Default)]
pub struct CrdInfo {
    /// version name -> openAPIV3Schema (may be Null when absent).
    pub schemas: Vec<(String, Value)>,
    /// version name -> additionalPrinterColumns.
    pub columns: Vec<(String, Vec<Value>)>,
}

impl CrdInfo {
    pub fn schema(&self, version: &str) -> Option<&Value> {
        self.schemas.iter().find(|(v, _)| v == version).map(|(_, s)| s).filter(|s| !s.is_null())
    }
    pub fn columns(&self, version: &str) -> &[Value] {
        self.columns.iter().find(|(v, _)| v == version).map(|(_, c)| c.as_slice()).unwrap_or(&[])
    }
}

#[derive(Debug, Clone)]
pub struct ResourceInfo {
    pub group: String,
    /// Group objects are stored under: events.k8s.io Events share storage
    /// with core Events, as in Kubernetes.
    pub storage_group: String,
    /// Served versions; the first is the preferred (storage) one.
    pub versions: Vec<String>,
    pub plural: String,
    pub singular: String,
    pub kind: String,
    pub namespaced: bool,
    pub short_names: Vec<String>,
    pub categories: Vec<String>,
    pub status: bool,
    pub scale: Option<ScaleSpec>,
    /// Pods: `log` subresource.
    pub log: bool,
    /// ServiceAccounts: `token` subresource.
    pub token: bool,
    pub crd: Option<Arc<CrdInfo>>,
}

impl ResourceInfo {
    pub fn api_version(&self, version: &str) -> String {
        if self.group.is_empty() { version.to_string() } else { format!("{}/{}", self.group, version) }
    }
    /// `Kind.group` as used in Invalid messages (`Pod`, `BertModel.berth.dev`).
    pub fn kind_group(&self) -> String {
        if self.group.is_empty() { self.kind.clone() } else { format!("{}.{}", self.kind, self.group) }
    }
    pub fn is_crd(&self) -> bool {
        self.crd.is_some()
    }
}

#[allow(clippy::too_many_arguments)]
fn builtin(
    group: &str,
    version: &str,
    plural: &str,
    kind: &str,
    namespaced: bool,
    short: &[&str],
    status: bool,
    scale: bool,
) -> ResourceInfo {
    ResourceInfo {
        group: group.to_string(),
        storage_group: if group == "events.k8s.io" { String::new() } else { group.to_string() },
        versions: vec![version.to_string()],
        plural: plural.to_string(),
        singular: kind.to_lowercase(),
        kind: kind.to_string(),
        namespaced,
        short_names: short.iter().map(|s| s.to_string()).collect(),
        categories: Vec::new(),
        status,
        scale: scale.then(|| ScaleSpec {
            spec_replicas: ".spec.replicas".into(),
            status_replicas: ".status.replicas".into(),
            label_selector: Some(".status.selector".into()),
        }),
        log: false,
        token: false,
        crd: None,
    }
}

/// The built-in kinds this server serves.
pub fn builtins() -> Vec<ResourceInfo> {
    let mut v = vec![
        builtin("", "v1", "namespaces", "Namespace", false, &["ns"], true, false),
        builtin("", "v1", "pods", "Pod", true, &["po"], true, false),
        builtin("", "v1", "services", "Service", true, &["svc"], true, false),
        builtin("", "v1", "endpoints", "Endpoints", true, &["ep"], false, false),
        builtin("", "v1", "configmaps", "ConfigMap", true, &["cm"], false, false),
        builtin("", "v1", "secrets", "Secret", true, &[], false, false),
        builtin("", "v1", "serviceaccounts", "ServiceAccount", true, &["sa"], false, false),
        builtin("", "v1", "events", "Event", true, &["ev"], false, false),
        builtin("", "v1", "nodes", "Node", false, &["no"], true, false),
        builtin("", "v1", "persistentvolumeclaims", "PersistentVolumeClaim", true, &["pvc"], true, false),
        builtin("apps", "v1", "deployments", "Deployment", true, &["deploy"], true, true),
        builtin("apps", "v1", "replicasets", "ReplicaSet", true, &["rs"], true, true),
        builtin("apps", "v1", "statefulsets", "StatefulSet", true, &["sts"], true, true),
        builtin("apps", "v1", "daemonsets", "DaemonSet", true, &["ds"], true, false),
        builtin("apps", "v1", "controllerrevisions", "ControllerRevision", true, &[], false, false),
        builtin("batch", "v1", "jobs", "Job", true, &[], true, false),
        builtin("discovery.k8s.io", "v1", "endpointslices", "EndpointSlice", true, &[], false, false),
        builtin("events.k8s.io", "v1", "events", "Event", true, &["ev"], false, false),
        builtin("policy", "v1", "poddisruptionbudgets", "PodDisruptionBudget", true, &["pdb"], true, false),
        builtin("coordination.k8s.io", "v1", "leases", "Lease", true, &[], false, false),
        builtin("rbac.authorization.k8s.io", "v1", "roles", "Role", true, &[], false, false),
        builtin("rbac.authorization.k8s.io", "v1", "rolebindings", "RoleBinding", true, &[], false, false),
        builtin("rbac.authorization.k8s.io", "v1", "clusterroles", "ClusterRole", false, &[], false, false),
        builtin(
            "rbac.authorization.k8s.io",
            "v1",
            "clusterrolebindings",
            "ClusterRoleBinding",
            false,
            &[],
            false,
            false,
        ),
        builtin(
            "apiextensions.k8s.io",
            "v1",
            "customresourcedefinitions",
            "CustomResourceDefinition",
            false,
            &["crd", "crds"],
            true,
            false,
        ),
        builtin(
            "authorization.k8s.io",
            "v1",
            "selfsubjectaccessreviews",
            "SelfSubjectAccessReview",
            false,
            &[],
            false,
            false,
        ),
        builtin("authorization.k8s.io", "v1", "subjectaccessreviews", "SubjectAccessReview", false, &[], false, false),
        builtin("networking.k8s.io", "v1", "ingresses", "Ingress", true, &["ing"], true, false),
        builtin(
            "autoscaling",
            "v2",
            "horizontalpodautoscalers",
            "HorizontalPodAutoscaler",
            true,
            &["hpa"],
            true,
            false,
        ),
    ];
    for r in &mut v {
        match r.plural.as_str() {
            "pods" => {
                r.log = true;
                r.categories = vec!["all".into()];
            }
            "serviceaccounts" => r.token = true,
            "services" | "deployments" | "replicasets" | "statefulsets" | "daemonsets" | "jobs" => {
                r.categories = vec!["all".into()]
            }
            "endpointslices" => r.singular = "endpointslice".into(),
            _ => {}
        }
    }
    v
}

/// Build a ResourceInfo from a CRD object (apiextensions.k8s.io/v1).
pub fn from_crd(crd: &Value) -> Option<ResourceInfo> {
    let spec = crd.get("spec")?;
    let group = spec.get("group")?.as_str()?.to_string();
    let names = spec.get("names")?;
    let plural = names.get("plural")?.as_str()?.to_string();
    let kind = names.get("kind")?.as_str()?.to_string();
    let singular =
        names.get("singular").and_then(Value::as_str).map(str::to_string).unwrap_or_else(|| kind.to_lowercase());
    let strs = |v: Option<&Value>| -> Vec<String> {
        v.and_then(Value::as_array)
            .map(|a| a.iter().filter_map(|s| s.as_str().map(str::to_string)).collect())
            .unwrap_or_default()
    };
    let short_names = strs(names.get("shortNames"));
    let categories = strs(names.get("categories"));
    let namespaced = spec.get("scope").and_then(Value::as_str) != Some("Cluster");
    let mut versions = Vec::new();
    let mut info = CrdInfo::default();
    let mut status = false;
    let mut scale = None;
    let vers = spec.get("versions").and_then(Value::as_array)?;
    // Storage version first so it is the preferred one.
    let mut ordered: Vec<&Value> = vers.iter().collect();
    ordered.sort_by_key(|v| !v.get("storage").and_then(Value::as_bool).unwrap_or(false));
    for v in ordered {
        let name = v.get("name")?.as_str()?.to_string();
        if v.get("served").and_then(Value::as_bool) == Some(false) {
            continue;
        }
        let schema = v.pointer("/schema/openAPIV3Schema").cloned().unwrap_or(Value::Null);
        info.schemas.push((name.clone(), schema));
        let cols = v.get("additionalPrinterColumns").and_then(Value::as_array).cloned().unwrap_or_default();
        info.columns.push((name.clone(), cols));
        if let Some(sub) = v.get("subresources") {
            if sub.get("status").is_some() {
                status = true;
            }
            if let Some(sc) = sub.get("scale") {
                scale = Some(ScaleSpec {
                    spec_replicas: sc
                        .get("specReplicasPath")
                        .and_then(Value::as_str)
                        .unwrap_or(".spec.replicas")
                        .to_string(),
                    status_replicas: sc
                        .get("statusReplicasPath")
                        .and_then(Value::as_str)
                        .unwrap_or(".status.replicas")
                        .to_string(),
                    label_selector: sc.get("labelSelectorPath").and_then(Value::as_str).map(str::to_string),
                });
            }
        }
        versions.push(name);
    }
    if versions.is_empty() {
        return None;
    }
    Some(ResourceInfo {
        storage_group: group.clone(),
        group,
        versions,
        plural,
        singular,
        kind,
        namespaced,
        short_names,
        categories,
        status,
        scale,
        log: false,
        token: false,
        crd: Some(Arc::new(info)),
    })
}
