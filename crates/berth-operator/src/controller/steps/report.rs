//! Step 7, report: the decision's events (Kubernetes Events and the log) and metrics.
//! Publishing is best effort: a lost Event is logged, never a reconcile error.

use berth_api::BertModel;

use crate::controller::Context;
use crate::core::{Decision, Outcome};

#[tracing::instrument(name = "report", skip_all)]
pub async fn report(ctx: &Context, model: &BertModel, namespace: &str, decision: &Decision) {
    let name = model.metadata.name.as_deref().unwrap_or_default();
    for event in &decision.events {
        tracing::info!(model = %name, namespace = %namespace, reason = event.reason, "{}", event.message);
        ctx.publish(model, event.warning, event.reason, event.message.clone()).await;
    }
    let metrics = &ctx.metrics;
    match &decision.outcome {
        Some(Outcome::Promoted { seconds, .. }) => {
            metrics.rollouts.with_label_values(&["promoted"]).inc();
            if let Some(seconds) = seconds {
                metrics.rollout_duration.with_label_values(&[] as &[&str]).observe(*seconds);
            }
        }
        Some(Outcome::RolledBack { reason, .. }) => {
            metrics.rollouts.with_label_values(&["rolled_back"]).inc();
            metrics.rollbacks.with_label_values(&[reason.as_str()]).inc();
        }
        None => {}
    }
    metrics.set_traffic(namespace, name, &decision.status.traffic);
}
