//! The controller: observe -> plan (pure, in `core`) -> apply -> status, for every
//! BertModel, triggered by the model, its children and its pods, and requeued at the
//! rollout's next deadline.

pub mod apply;
pub mod error;
pub mod metrics;
pub mod observe;

use std::sync::Arc;
use std::time::Duration;

use berth_api::labels::{ABORT_ANNOTATION, APP_NAME, APP_NAME_LABEL, MODEL_LABEL, PROMOTE_ANNOTATION, selector_string};
use berth_api::{BertModel, BertModelStatus, validate_spec};
use futures::StreamExt;
use futures::future::BoxFuture;
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{Pod, Service, ServiceAccount};
use k8s_openapi::api::policy::v1::PodDisruptionBudget;
use k8s_openapi::api::rbac::v1::{Role, RoleBinding};
use kube::api::{Patch, PatchParams};
use kube::runtime::controller::{Action, Controller};
use kube::runtime::events::{Event, EventType, Recorder, Reporter};
use kube::runtime::reflector::ObjectRef;
use kube::runtime::watcher;
use kube::{Api, Client, Resource, ResourceExt};
use serde_json::{Value, json};

use crate::build::BuildConfig;
use crate::core::conditions::{invalid_spec, rolling_update};
use crate::core::{Decision, Input, Outcome, decide};
pub use error::ReconcileError;
pub use metrics::Metrics;

/// How often a model at rest is looked at again (watches do the rest).
pub const IDLE_RESYNC: Duration = Duration::from_secs(300);

pub struct Context {
    pub client: Client,
    pub config: BuildConfig,
    pub recorder: Recorder,
    pub metrics: Arc<Metrics>,
    pub http: reqwest::Client,
}

impl Context {
    pub fn new(client: Client, config: BuildConfig, metrics: Arc<Metrics>, instance: Option<String>) -> Self {
        let reporter = Reporter { controller: "berth-operator".into(), instance };
        Self {
            recorder: Recorder::new(client.clone(), reporter),
            client,
            config,
            metrics,
            http: reqwest::Client::new(),
        }
    }

    async fn publish(&self, model: &BertModel, warning: bool, reason: &str, note: String) {
        let event = Event {
            type_: if warning { EventType::Warning } else { EventType::Normal },
            reason: reason.to_string(),
            action: event_action(&note),
            note: Some(note.chars().take(1000).collect()),
            secondary: None,
        };
        if let Err(e) = self.recorder.publish(&event, &model.object_ref(&())).await {
            tracing::warn!(error = %e, reason, "could not publish an event");
        }
    }
}

/// kube-runtime's recorder folds an event into the previous one with the same type,
/// reason and action (a series), keeping the first note. Two different rollout steps
/// are two events, so the action carries the note's start (the Events API allows 128
/// characters); the same message repeated still becomes a series.
fn event_action(note: &str) -> String {
    note.chars().take(128).collect()
}

fn annotation(model: &BertModel, key: &str) -> bool {
    model.annotations().get(key).is_some_and(|v| v == "true")
}

/// A merge patch from `old` to `new`: fields that disappeared are set to null.
pub fn status_patch(old: &BertModelStatus, new: &BertModelStatus) -> Result<Value, ReconcileError> {
    let mut new_value = serde_json::to_value(new).map_err(|e| ReconcileError::Serialize("status", e))?;
    let old_value = serde_json::to_value(old).map_err(|e| ReconcileError::Serialize("status", e))?;
    if let (Some(new_map), Some(old_map)) = (new_value.as_object_mut(), old_value.as_object()) {
        for key in old_map.keys() {
            new_map.entry(key.clone()).or_insert(Value::Null);
        }
    }
    Ok(json!({ "status": new_value }))
}

async fn write_status(
    api: &Api<BertModel>,
    name: &str,
    old: &BertModelStatus,
    new: &BertModelStatus,
) -> Result<bool, ReconcileError> {
    if old == new {
        return Ok(false);
    }
    let patch = status_patch(old, new)?;
    api.patch_status(name, &PatchParams::default(), &Patch::Merge(&patch)).await.map_err(ReconcileError::Status)?;
    Ok(true)
}

pub async fn reconcile(model: Arc<BertModel>, ctx: Arc<Context>) -> Result<Action, ReconcileError> {
    let name = model.name_any();
    let namespace = model.namespace().ok_or(ReconcileError::NoNamespace)?;
    if model.meta().deletion_timestamp.is_some() {
        return Ok(Action::await_change());
    }
    let api: Api<BertModel> = Api::namespaced(ctx.client.clone(), &namespace);
    let old = model.status.clone().unwrap_or_default();
    let generation = model.meta().generation;
    let now = jiff::Timestamp::now();

    // A spec the schema let through but the rules reject: say so and wait for a fix.
    if let Err(errors) = validate_spec(&model.spec) {
        let mut status = old.clone();
        invalid_spec(&mut status, generation, errors.to_string(), crate::core::rollout::whole_seconds(now));
        if write_status(&api, &name, &old, &status).await? {
            ctx.publish(&model, true, "InvalidSpec", errors.to_string()).await;
        }
        return Ok(Action::await_change());
    }

    let deployment = apply::apply_children(&ctx.client, &model, &ctx.config).await?;
    let d_status = deployment.status.clone().unwrap_or_default();
    let ready = d_status.ready_replicas.unwrap_or(0);
    let pods: Api<Pod> = Api::namespaced(ctx.client.clone(), &namespace);
    let mut obs = observe::observe(&pods, &ctx.http, &name, ready).await?;
    obs.rolling_update = rolling_update(
        deployment.metadata.generation,
        d_status.observed_generation,
        model.spec.replicas,
        d_status.updated_replicas.unwrap_or(0),
        d_status.available_replicas.unwrap_or(0),
    );

    let input = Input {
        spec: &model.spec,
        generation,
        status: &old,
        abort: annotation(&model, ABORT_ANNOTATION),
        promote: annotation(&model, PROMOTE_ANNOTATION),
        obs: &obs,
        now,
    };
    let mut decision: Decision = decide(&input);
    decision.status.selector = Some(selector_string(&name));

    write_status(&api, &name, &old, &decision.status).await?;
    if decision.clear_annotations {
        let patch = json!({"metadata": {"annotations": {ABORT_ANNOTATION: null, PROMOTE_ANNOTATION: null}}});
        api.patch(&name, &PatchParams::default(), &Patch::Merge(&patch)).await.map_err(ReconcileError::Annotations)?;
    }
    for event in &decision.events {
        tracing::info!(model = %name, namespace = %namespace, reason = event.reason, "{}", event.message);
        ctx.publish(&model, event.warning, event.reason, event.message.clone()).await;
    }
    match &decision.outcome {
        Some(Outcome::Promoted { seconds, .. }) => {
            ctx.metrics.rollouts.with_label_values(&["promoted"]).inc();
            if let Some(seconds) = seconds {
                ctx.metrics.rollout_duration.with_label_values(&[] as &[&str]).observe(*seconds);
            }
        }
        Some(Outcome::RolledBack { reason, .. }) => {
            ctx.metrics.rollouts.with_label_values(&["rolled_back"]).inc();
            ctx.metrics.rollbacks.with_label_values(&[reason.as_str()]).inc();
        }
        None => {}
    }
    ctx.metrics.set_traffic(&namespace, &name, &decision.status.traffic);
    Ok(Action::requeue(decision.requeue_after.unwrap_or(IDLE_RESYNC)))
}

fn error_policy(model: Arc<BertModel>, error: &ReconcileError, ctx: Arc<Context>) -> Action {
    tracing::warn!(model = %model.name_any(), category = error.category(), "reconcile failed: {error}");
    if !error.is_transient() {
        let ctx = Arc::clone(&ctx);
        let message = error.to_string();
        let category = error.category();
        tokio::spawn(async move {
            ctx.publish(&model, true, &format!("ReconcileError{}", capitalised(category)), message).await;
        });
    }
    Action::requeue(Duration::from_secs(5))
}

fn capitalised(text: &str) -> String {
    let mut chars = text.chars();
    chars.next().map(|c| c.to_ascii_uppercase().to_string() + chars.as_str()).unwrap_or_default()
}

/// Run one controller per watched namespace (or one for all) until `shutdown`.
pub async fn run(
    ctx: Arc<Context>,
    namespaces: Vec<String>,
    shutdown: futures::future::Shared<BoxFuture<'static, ()>>,
) {
    let scopes: Vec<Option<String>> =
        if namespaces.is_empty() { vec![None] } else { namespaces.into_iter().map(Some).collect() };
    let controllers = scopes.into_iter().map(|scope| {
        let ctx = Arc::clone(&ctx);
        let shutdown = shutdown.clone();
        async move {
            let client = ctx.client.clone();
            fn api<K>(client: &Client, scope: &Option<String>) -> Api<K>
            where
                K: Resource<DynamicType = (), Scope = k8s_openapi::NamespaceResourceScope>,
            {
                match scope {
                    Some(ns) => Api::namespaced(client.clone(), ns),
                    None => Api::all(client.clone()),
                }
            }
            let config = watcher::Config::default();
            let pods_config = watcher::Config::default().labels(&format!("{APP_NAME_LABEL}={APP_NAME}"));
            Controller::new(api::<BertModel>(&client, &scope), config.clone())
                .owns(api::<Deployment>(&client, &scope), config.clone())
                .owns(api::<Service>(&client, &scope), config.clone())
                .owns(api::<ServiceAccount>(&client, &scope), config.clone())
                .owns(api::<Role>(&client, &scope), config.clone())
                .owns(api::<RoleBinding>(&client, &scope), config.clone())
                .owns(api::<PodDisruptionBudget>(&client, &scope), config.clone())
                .watches(api::<Pod>(&client, &scope), pods_config, |pod: Pod| {
                    let namespace = pod.namespace();
                    pod.labels().get(MODEL_LABEL).map(|model| {
                        let r = ObjectRef::<BertModel>::new(model);
                        match namespace {
                            Some(ns) => r.within(&ns),
                            None => r,
                        }
                    })
                })
                .graceful_shutdown_on(shutdown)
                .run(reconcile, error_policy, Arc::clone(&ctx))
                .for_each(|result| {
                    let metrics = Arc::clone(&ctx.metrics);
                    async move {
                        match result {
                            Ok(_) => metrics.reconciles.with_label_values(&["ok"]).inc(),
                            Err(kube::runtime::controller::Error::ReconcilerFailed(e, _)) => {
                                metrics.reconciles.with_label_values(&["error"]).inc();
                                metrics.errors.with_label_values(&[e.category()]).inc();
                            }
                            Err(e) => {
                                tracing::debug!(error = %e, "controller event");
                            }
                        }
                    }
                })
                .await;
        }
    });
    futures::future::join_all(controllers).await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_patch_nulls_fields_that_disappeared() {
        let old = BertModelStatus {
            canary_version: Some("3".into()),
            canary_weight: Some(5.0),
            stable_version: Some("2".into()),
            ..BertModelStatus::default()
        };
        let new = BertModelStatus { stable_version: Some("2".into()), ..BertModelStatus::default() };
        let patch = status_patch(&old, &new).unwrap_or_default();
        assert_eq!(patch["status"]["canaryVersion"], Value::Null);
        assert!(patch["status"].as_object().is_some_and(|s| s.contains_key("canaryVersion")));
        assert_eq!(patch["status"]["stableVersion"], "2");
        assert_eq!(capitalised("apply"), "Apply");
    }
}
