//! Step 4, observe: the model's serving pods from the API, and each running pod's
//! per-version report and counters over HTTP from its IP, plus the Deployment's
//! rollout of its own template (from what apply returned). A pod that does not answer
//! is observed as "no report" (it is starting, or crashed), never as an error.

use std::time::Duration;

use berth_api::labels::selector_string;
use futures::future::join_all;
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::Pod;
use kube::Api;
use kube::api::ListParams;

use crate::build::deployment::CONTAINER;
use crate::build::service::HTTP_PORT;
use crate::core::{Observations, PodObservation, parse, rolling_update};

/// How long one pod may take to answer one poll.
pub const POLL_TIMEOUT: Duration = Duration::from_secs(2);

/// Pod facts from the API object alone.
pub fn pod_facts(pod: &Pod) -> Option<(PodObservation, Option<String>)> {
    let meta = &pod.metadata;
    if meta.deletion_timestamp.is_some() {
        return None;
    }
    let status = pod.status.as_ref();
    let ready = status
        .and_then(|s| s.conditions.as_ref())
        .is_some_and(|c| c.iter().any(|c| c.type_ == "Ready" && c.status == "True"));
    let container = status
        .and_then(|s| s.container_statuses.as_ref())
        .and_then(|cs| cs.iter().find(|c| c.name == CONTAINER).cloned());
    let restarts = container.as_ref().map_or(0, |c| c.restart_count);
    let last_terminated_at = container
        .as_ref()
        .and_then(|c| c.last_state.as_ref())
        .and_then(|s| s.terminated.as_ref())
        .and_then(|t| t.finished_at.as_ref())
        .map(crate::core::edge::time_in);
    let running = status.and_then(|s| s.phase.as_deref()) == Some("Running");
    let ip = status.and_then(|s| s.pod_ip.clone()).filter(|_| running);
    let observation = PodObservation {
        name: meta.name.clone().unwrap_or_default(),
        ready,
        restarts,
        last_terminated_at,
        reports: None,
    };
    Some((observation, ip))
}

async fn fetch(http: &reqwest::Client, url: String) -> Option<Vec<u8>> {
    let response = http.get(&url).timeout(POLL_TIMEOUT).send().await.ok()?;
    if !response.status().is_success() {
        return None;
    }
    response.bytes().await.ok().map(|b| b.to_vec())
}

#[derive(Debug, thiserror::Error)]
#[error("listing the serving pods: {0}")]
pub struct ObserveError(#[source] pub kube::Error);

/// Observe the pods of `model` (`replicas` as the spec asks) and its `deployment` as
/// apply stored it.
#[tracing::instrument(name = "observe", skip_all)]
pub async fn observe(
    pods: &Api<Pod>,
    http: &reqwest::Client,
    model: &str,
    replicas: i32,
    deployment: &Deployment,
) -> Result<Observations, ObserveError> {
    let d_status = deployment.status.clone().unwrap_or_default();
    let mut obs = poll(pods, http, model, d_status.ready_replicas.unwrap_or(0)).await?;
    obs.rolling_update = rolling_update(
        deployment.metadata.generation,
        d_status.observed_generation,
        replicas,
        d_status.updated_replicas.unwrap_or(0),
        d_status.available_replicas.unwrap_or(0),
    );
    Ok(obs)
}

async fn poll(
    pods: &Api<Pod>,
    http: &reqwest::Client,
    model: &str,
    ready_replicas: i32,
) -> Result<Observations, ObserveError> {
    let list = pods.list(&ListParams::default().labels(&selector_string(model))).await.map_err(ObserveError)?;
    let polls = list.items.iter().filter_map(pod_facts).map(|(mut observation, ip)| async move {
        let mut counters = None;
        let mut widths = None;
        if let Some(ip) = ip {
            let host = if ip.contains(':') { format!("[{ip}]") } else { ip };
            let base = format!("http://{host}:{HTTP_PORT}");
            let (status, metrics) = futures::join!(
                fetch(http, format!("{base}/v1/models/{model}")),
                fetch(http, format!("{base}/metrics"))
            );
            observation.reports = status.and_then(|body| parse::model_status(&body).ok());
            let text = metrics.map(|body| String::from_utf8_lossy(&body).into_owned());
            counters = text.as_deref().map(|text| parse::counters(text, model));
            widths = text.as_deref().map(|text| parse::output_widths(text, model));
        }
        (observation, counters, widths)
    });
    let mut obs = Observations { ready_replicas, ..Observations::default() };
    for (observation, counters, widths) in join_all(polls).await {
        for (version, snapshot) in counters.unwrap_or_default() {
            obs.add_counters(&version, &snapshot);
        }
        // Pods load the same files: a version has one width. Should two pods
        // disagree (a changed file), the larger one is kept, which still differs
        // from stable's if either does.
        for (version, width) in widths.unwrap_or_default() {
            let kept = obs.output_widths.entry(version).or_insert(width);
            *kept = (*kept).max(width);
        }
        obs.pods.push(observation);
    }
    Ok(obs)
}
