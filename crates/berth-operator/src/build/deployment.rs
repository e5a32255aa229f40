//! The serving pods: berth-serve in controlled mode (it watches this model and
//! converges on `status.traffic`), hardened, probed on the V2 health endpoints, with a
//! drain on the way out. Version swaps never touch this template; only changes to the
//! serving settings, image or resources roll the pods (readiness-gated, one at a time).

use std::collections::BTreeMap;

use berth_api::labels::{ENV_MODEL_NAME, ENV_MODEL_NAMESPACE, ENV_POD_NAME, selector_labels};
use berth_api::{BertModel, BertModelRef, KubeDuration, LogFormat, ServeSettings, SourceLocation};
use k8s_openapi::api::apps::v1::{Deployment, DeploymentSpec, DeploymentStrategy, RollingUpdateDeployment};
use k8s_openapi::api::core::v1::{
    Capabilities, Container, ContainerPort, EmptyDirVolumeSource, EnvFromSource, EnvVar, EnvVarSource, HTTPGetAction,
    Lifecycle, LifecycleHandler, ObjectFieldSelector, PersistentVolumeClaimVolumeSource, PodSecurityContext, PodSpec,
    PodTemplateSpec, Probe, ResourceRequirements, SeccompProfile, SecretEnvSource, SecurityContext, SleepAction,
    Volume, VolumeMount,
};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, ObjectMeta};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use kube::ResourceExt;

use super::service::{GRPC_PORT, HTTP_PORT};
use super::{BuildConfig, BuildError, child_meta, serve_account_name};

pub const CONTAINER: &str = "berth-serve";
/// Seconds the pod keeps serving after it is marked for deletion, so endpoints and
/// proxies stop sending to it before berth-serve starts draining.
pub const PRE_STOP_SLEEP: i64 = 5;
/// berth-serve's own drain of in-flight requests after SIGTERM.
pub const DRAIN_SECONDS: i64 = 30;
const MODELS_MOUNT: &str = "/models";
const CACHE_MOUNT: &str = "/var/cache/berth";
const UID: i64 = 65532;

/// Where berth-serve finds version N (`{base}/{N}/`), and the volume that holds it.
fn model_base(location: &SourceLocation) -> (String, Option<Volume>) {
    match location {
        SourceLocation::File { path } => (path.clone(), None),
        SourceLocation::Pvc { claim, path } => {
            let volume = Volume {
                name: "models".into(),
                persistent_volume_claim: Some(PersistentVolumeClaimVolumeSource {
                    claim_name: claim.clone(),
                    read_only: Some(true),
                }),
                ..Volume::default()
            };
            (format!("{MODELS_MOUNT}/{path}").trim_end_matches('/').to_string(), Some(volume))
        }
        // Remote stores: berth-serve fetches them itself (credentials from the secret).
        remote => (remote.to_string(), None),
    }
}

fn settings(model: &BertModel, base: String, namespace: &str) -> ServeSettings {
    let name = model.name_any();
    ServeSettings {
        rest_api_port: port(HTTP_PORT),
        grpc_port: port(GRPC_PORT),
        bertmodel: Some(BertModelRef { name: name.clone(), namespace: namespace.to_string() }),
        task: model.spec.task,
        drain_timeout: KubeDuration::from_secs(DRAIN_SECONDS.unsigned_abs()),
        log_format: LogFormat::Json,
        ..ServeSettings::new(name, base, &model.spec.serving)
    }
}

/// The Service's ports are Kubernetes' i32; berth-serve's are u16.
fn port(number: i32) -> u16 {
    u16::try_from(number).unwrap_or_default()
}

fn field_env(name: &str, path: &str) -> EnvVar {
    EnvVar {
        name: name.to_string(),
        value_from: Some(EnvVarSource {
            field_ref: Some(ObjectFieldSelector { field_path: path.to_string(), ..ObjectFieldSelector::default() }),
            ..EnvVarSource::default()
        }),
        ..EnvVar::default()
    }
}

fn default_resources() -> ResourceRequirements {
    let q = |s: &str| Quantity(s.to_string());
    ResourceRequirements {
        requests: Some(BTreeMap::from([("cpu".into(), q("500m")), ("memory".into(), q("1Gi"))])),
        limits: Some(BTreeMap::from([("memory".into(), q("2Gi"))])),
        ..ResourceRequirements::default()
    }
}

fn http_probe(path: &str, period: i32, failures: i32) -> Probe {
    Probe {
        http_get: Some(HTTPGetAction {
            path: Some(path.to_string()),
            port: IntOrString::String("http".into()),
            ..HTTPGetAction::default()
        }),
        period_seconds: Some(period),
        failure_threshold: Some(failures),
        timeout_seconds: Some(2),
        ..Probe::default()
    }
}

fn mount(name: &str, path: &str) -> VolumeMount {
    VolumeMount { name: name.to_string(), mount_path: path.to_string(), ..VolumeMount::default() }
}

fn empty_dir(name: &str) -> Volume {
    Volume { name: name.to_string(), empty_dir: Some(EmptyDirVolumeSource::default()), ..Volume::default() }
}

pub fn deployment(model: &BertModel, config: &BuildConfig) -> Result<Deployment, BuildError> {
    let name = model.name_any();
    let metadata = child_meta(model, name.clone())?;
    let namespace = metadata.namespace.clone().unwrap_or_default();
    // The validate step rejects an unparseable uri before anything is built; should one
    // get here anyway, berth-serve is handed it as written and reports it, as before.
    let (base, models_volume) = match model.spec.source.location() {
        Ok(location) => model_base(&location),
        Err(_) => (model.spec.source.uri.clone(), None),
    };
    // One writable scratch volume (the root filesystem is read-only), deliberately not
    // at /tmp: on berth-local pods share the host's filesystem, and a volume over /tmp
    // would hide whatever the host keeps there (a checkout, its models, its binaries).
    let mut volumes = vec![empty_dir("cache")];
    let mut mounts = vec![mount("cache", CACHE_MOUNT)];
    if let Some(volume) = models_volume {
        volumes.push(volume);
        mounts.push(VolumeMount { read_only: Some(true), ..mount("models", MODELS_MOUNT) });
    }
    let env = vec![
        field_env(ENV_POD_NAME, "metadata.name"),
        EnvVar { name: ENV_MODEL_NAME.into(), value: Some(name.clone()), ..EnvVar::default() },
        field_env(ENV_MODEL_NAMESPACE, "metadata.namespace"),
        EnvVar { name: "TMPDIR".into(), value: Some(CACHE_MOUNT.into()), ..EnvVar::default() },
    ];
    let env_from = model.spec.source.secret_name.as_ref().map(|secret| {
        vec![EnvFromSource {
            secret_ref: Some(SecretEnvSource { name: secret.clone(), optional: Some(false) }),
            ..EnvFromSource::default()
        }]
    });
    let container = Container {
        name: CONTAINER.into(),
        image: Some(model.spec.image.clone().unwrap_or_else(|| config.serve_image.clone())),
        args: Some(settings(model, base, &namespace).to_args()),
        ports: Some(vec![
            ContainerPort {
                name: Some("http".into()),
                container_port: HTTP_PORT,
                protocol: Some("TCP".into()),
                ..ContainerPort::default()
            },
            ContainerPort {
                name: Some("grpc".into()),
                container_port: GRPC_PORT,
                protocol: Some("TCP".into()),
                ..ContainerPort::default()
            },
        ]),
        env: Some(env),
        env_from,
        resources: Some(model.spec.resources.clone().unwrap_or_else(default_resources)),
        // Loading and warming a model can take minutes: the startup probe holds the
        // liveness probe off until the server answers at all.
        startup_probe: Some(http_probe("/v2/health/live", 2, 150)),
        liveness_probe: Some(http_probe("/v2/health/live", 10, 3)),
        readiness_probe: Some(http_probe("/v2/health/ready", 2, 2)),
        lifecycle: Some(Lifecycle {
            pre_stop: Some(LifecycleHandler {
                sleep: Some(SleepAction { seconds: PRE_STOP_SLEEP }),
                ..LifecycleHandler::default()
            }),
            ..Lifecycle::default()
        }),
        security_context: Some(SecurityContext {
            run_as_non_root: Some(true),
            run_as_user: Some(UID),
            allow_privilege_escalation: Some(false),
            read_only_root_filesystem: Some(true),
            capabilities: Some(Capabilities { drop: Some(vec!["ALL".into()]), ..Capabilities::default() }),
            seccomp_profile: Some(SeccompProfile { type_: "RuntimeDefault".into(), ..SeccompProfile::default() }),
            ..SecurityContext::default()
        }),
        volume_mounts: Some(mounts),
        ..Container::default()
    };
    let pod = PodSpec {
        service_account_name: Some(serve_account_name(&name)),
        termination_grace_period_seconds: Some(PRE_STOP_SLEEP + DRAIN_SECONDS + 5),
        security_context: Some(PodSecurityContext {
            run_as_non_root: Some(true),
            run_as_user: Some(UID),
            run_as_group: Some(UID),
            fs_group: Some(UID),
            seccomp_profile: Some(SeccompProfile { type_: "RuntimeDefault".into(), ..SeccompProfile::default() }),
            ..PodSecurityContext::default()
        }),
        containers: vec![container],
        volumes: Some(volumes),
        ..PodSpec::default()
    };
    Ok(Deployment {
        metadata,
        spec: Some(DeploymentSpec {
            replicas: Some(model.spec.replicas),
            selector: LabelSelector { match_labels: Some(selector_labels(&name)), ..LabelSelector::default() },
            // A new pod must be ready before an old one goes: capacity never drops.
            strategy: Some(DeploymentStrategy {
                type_: Some("RollingUpdate".into()),
                rolling_update: Some(RollingUpdateDeployment {
                    max_surge: Some(IntOrString::Int(1)),
                    max_unavailable: Some(IntOrString::Int(0)),
                }),
            }),
            template: PodTemplateSpec {
                metadata: Some(ObjectMeta { labels: Some(selector_labels(&name)), ..ObjectMeta::default() }),
                spec: Some(pod),
            },
            ..DeploymentSpec::default()
        }),
        ..Deployment::default()
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::build::testing::{SENTIMENT, model};

    fn config() -> BuildConfig {
        BuildConfig { serve_image: "ghcr.io/berth-dev/berth-serve:0.1.0".into() }
    }

    fn pod(d: &Deployment) -> PodSpec {
        d.spec.clone().unwrap_or_default().template.spec.unwrap_or_default()
    }

    #[test]
    fn runs_berth_serve_in_controlled_mode_with_the_serving_settings() {
        let d = deployment(&model(SENTIMENT), &config()).unwrap_or_default();
        let c = pod(&d).containers[0].clone();
        let args = c.args.unwrap_or_default();
        for expected in [
            "--model_name=sentiment",
            "--model_base_path=/models/sentiment",
            "--bertmodel_name=sentiment",
            "--bertmodel_namespace=ml",
            "--max_batch_size=16",
            "--max_batch_delay=5000us",
            "--max_batch_tokens=512",
            "--pooling=auto",
            "--normalize=auto",
            "--threads=2",
            "--rest_api_port=8501",
            "--port=8500",
        ] {
            assert!(args.iter().any(|a| a == expected), "{expected} missing from {args:?}");
        }
        assert_eq!(c.image.as_deref(), Some("ghcr.io/berth-dev/berth-serve:0.1.0"));
        let ports: Vec<_> = c.ports.unwrap_or_default().into_iter().map(|p| (p.name, p.container_port)).collect();
        assert_eq!(ports, [(Some("http".into()), 8501), (Some("grpc".into()), 8500)]);
        assert_eq!(c.env_from.unwrap_or_default()[0].secret_ref.as_ref().map(|s| s.name.as_str()), Some("creds"));
        let env = c.env.unwrap_or_default();
        assert!(env.iter().any(|e| e.name == "POD_NAME" && e.value_from.is_some()));
        assert!(env.iter().any(|e| e.name == "BERTH_MODEL_NAME" && e.value.as_deref() == Some("sentiment")));
    }

    #[test]
    fn hardened_probed_and_drained() {
        let d = deployment(&model(SENTIMENT), &config()).unwrap_or_default();
        let p = pod(&d);
        let c = &p.containers[0];
        let sc = c.security_context.clone().unwrap_or_default();
        assert_eq!(sc.run_as_non_root, Some(true));
        assert_eq!(sc.read_only_root_filesystem, Some(true));
        assert_eq!(sc.allow_privilege_escalation, Some(false));
        assert_eq!(sc.capabilities.and_then(|c| c.drop), Some(vec!["ALL".to_string()]));
        assert_eq!(sc.seccomp_profile.map(|s| s.type_), Some("RuntimeDefault".to_string()));
        let path =
            |probe: &Option<Probe>| probe.as_ref().and_then(|p| p.http_get.as_ref()).and_then(|h| h.path.clone());
        assert_eq!(path(&c.liveness_probe).as_deref(), Some("/v2/health/live"));
        assert_eq!(path(&c.readiness_probe).as_deref(), Some("/v2/health/ready"));
        assert!(c.startup_probe.is_some());
        assert!(c.lifecycle.as_ref().and_then(|l| l.pre_stop.as_ref()).is_some());
        assert!(p.termination_grace_period_seconds.unwrap_or_default() > PRE_STOP_SLEEP + DRAIN_SECONDS);
        assert_eq!(p.service_account_name.as_deref(), Some("sentiment-berth-serve"));
        let requests = c.resources.clone().and_then(|r| r.requests).unwrap_or_default();
        assert!(requests.contains_key("cpu") && requests.contains_key("memory"));
        let mounts = c.volume_mounts.clone().unwrap_or_default();
        assert!(mounts.iter().any(|m| m.mount_path == CACHE_MOUNT), "a writable scratch volume");
        let tmpdir = c.env.clone().unwrap_or_default().into_iter().find(|e| e.name == "TMPDIR");
        assert_eq!(tmpdir.and_then(|e| e.value).as_deref(), Some(CACHE_MOUNT));
    }

    #[test]
    fn selects_its_pods_and_is_owned() {
        let d = deployment(&model(SENTIMENT), &config()).unwrap_or_default();
        let spec = d.spec.clone().unwrap_or_default();
        assert_eq!(spec.replicas, Some(3));
        assert_eq!(spec.selector.match_labels, Some(selector_labels("sentiment")));
        assert_eq!(spec.template.metadata.and_then(|m| m.labels), Some(selector_labels("sentiment")));
        assert_eq!(d.metadata.owner_references.unwrap_or_default()[0].controller, Some(true));
    }

    #[test]
    fn pvc_sources_are_mounted_read_only() {
        let yaml = SENTIMENT.replace("file:///models/sentiment", "pvc://model-store/sentiment");
        let d = deployment(&model(&yaml), &config()).unwrap_or_default();
        let p = pod(&d);
        let volumes = p.volumes.unwrap_or_default();
        assert!(
            volumes.iter().any(|v| v.persistent_volume_claim.as_ref().is_some_and(|c| c.claim_name == "model-store"))
        );
        let args = p.containers[0].args.clone().unwrap_or_default();
        assert!(args.contains(&"--model_base_path=/models/sentiment".to_string()));
    }

    #[test]
    fn object_store_sources_and_the_task_go_to_berth_serve() {
        let args =
            |yaml: &str| pod(&deployment(&model(yaml), &config()).unwrap_or_default()).containers[0].args.clone();
        let yaml = SENTIMENT.replace("file:///models/sentiment", "s3://models/nlp/sentiment");
        let s3 = args(&format!("{yaml}  task: classification\n")).unwrap_or_default();
        assert!(s3.contains(&"--model_base_path=s3://models/nlp/sentiment".to_string()), "{s3:?}");
        assert!(s3.contains(&"--task=classification".to_string()), "{s3:?}");
        let plain = args(SENTIMENT).unwrap_or_default();
        assert!(!plain.iter().any(|a| a.starts_with("--task")), "no task in the spec, none on the command line");
    }

    #[test]
    fn spec_image_and_resources_win() {
        let yaml = format!("{SENTIMENT}  image: my/serve:1\n  resources: {{requests: {{cpu: '2'}}}}\n");
        let d = deployment(&model(&yaml), &config()).unwrap_or_default();
        let c = pod(&d).containers[0].clone();
        assert_eq!(c.image.as_deref(), Some("my/serve:1"));
        let requests = c.resources.and_then(|r| r.requests).unwrap_or_default();
        assert_eq!(requests.get("cpu"), Some(&Quantity("2".into())));
        assert!(!requests.contains_key("memory"));
    }
}
