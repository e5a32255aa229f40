//! The controller: one reconcile per BertModel, triggered by the model, its children
//! and its pods, and requeued at the rollout's next deadline. A reconcile is a fixed
//! sequence of steps (`steps/`), each a function with a typed input and output:
//!
//! ```text
//! validate -> build -> apply -> observe -> decide -> status -> report
//!   pure      pure     API     API+pods    pure      API       API (events), metrics
//! ```
//!
//! Why this order:
//! - **validate** first: an invalid spec builds nothing; its status says why and the
//!   reconcile waits for the next change (`validate -> status -> report` only).
//! - **build, apply before observe**: the children depend only on the spec, never on
//!   the rollout decision (a version swap changes `status.traffic`, which berth-serve
//!   watches, not the pod template), so they can be applied first. And the decision
//!   needs the Deployment as the API server stores it after this reconcile's template
//!   (ready replicas; whether a template change is still rolling, by its
//!   `generation` against `observedGeneration`): apply returns exactly that, so
//!   observing after applying needs no extra read and never judges a stale template.
//! - **observe, decide**: the pods' reports and counters, then the pure engine.
//! - **status before report**: Events describe what the status now says; a failed
//!   status write (a conflict) retries the whole reconcile without having announced it.
//!
//! Only apply, observe, status and report touch the API server. Every reconcile has a
//! span (model, namespace, generation) and each step one of its own.

pub mod context;
pub mod error;
pub mod metrics;
pub mod run;
pub mod steps;

use std::sync::Arc;
use std::time::Duration;

use berth_api::BertModel;
use k8s_openapi::api::core::v1::Pod;
use kube::runtime::controller::Action;
use kube::{Api, Resource, ResourceExt};

use crate::build::Children;
use steps::validate::{Target, Validation};
use steps::{apply, decide, observe, report, status, validate};

pub use context::Context;
pub use error::ReconcileError;
pub use metrics::Metrics;
pub use run::run;

/// How often a model at rest is looked at again (watches do the rest).
pub const IDLE_RESYNC: Duration = Duration::from_secs(300);

#[tracing::instrument(
    name = "reconcile",
    skip_all,
    fields(model = %model.name_any(), namespace = model.namespace().unwrap_or_default(), generation = model.meta().generation)
)]
pub async fn reconcile(model: Arc<BertModel>, ctx: Arc<Context>) -> Result<Action, ReconcileError> {
    if model.meta().deletion_timestamp.is_some() {
        return Ok(Action::await_change());
    }
    let old = model.status.clone().unwrap_or_default();
    let now = jiff::Timestamp::now();
    let target = match validate::validate(&model)? {
        Validation::Valid(target) => target,
        Validation::Invalid { target, message } => {
            // A spec the schema let through but the rules reject: say so and wait for a fix.
            let new = decide::invalid(&old, target.generation, &message, now);
            if status::write(&models(&ctx, &target), &target.name, &old, &new).await? {
                ctx.publish(&model, true, "InvalidSpec", message).await;
            }
            return Ok(Action::await_change());
        }
    };

    let children = tracing::info_span!("build").in_scope(|| Children::build(&model, &ctx.config))?;
    let applied = apply::apply(&ctx.client, &target.namespace, &children).await?;
    let pods: Api<Pod> = Api::namespaced(ctx.client.clone(), &target.namespace);
    let obs = observe::observe(&pods, &ctx.http, &target.name, model.spec.replicas, &applied.deployment).await?;
    let decision = tracing::info_span!("decide").in_scope(|| decide::decide(&model, &old, &obs, now));

    let api = models(&ctx, &target);
    status::write(&api, &target.name, &old, &decision.status).await?;
    if decision.clear_annotations {
        status::clear_annotations(&api, &target.name).await?;
    }
    report::report(&ctx, &model, &target.namespace, &decision).await;
    Ok(Action::requeue(decision.requeue_after.unwrap_or(IDLE_RESYNC)))
}

fn models(ctx: &Context, target: &Target) -> Api<BertModel> {
    Api::namespaced(ctx.client.clone(), &target.namespace)
}

pub(crate) fn error_policy(model: Arc<BertModel>, error: &ReconcileError, ctx: Arc<Context>) -> Action {
    tracing::warn!(model = %model.name_any(), step = error.step(), category = error.category(), "reconcile failed: {error}");
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn event_reasons_are_capitalised_categories() {
        assert_eq!(capitalised("apply"), "Apply");
        assert_eq!(capitalised(""), "");
    }
}
