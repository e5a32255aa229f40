//! What every reconcile shares: the client, the build settings, the event recorder,
//! the metrics and the HTTP client that polls pods.

use std::sync::Arc;

use berth_api::BertModel;
use kube::Client;
use kube::Resource;
use kube::runtime::events::{Event, EventType, Recorder, Reporter};

use crate::build::BuildConfig;
use crate::controller::Metrics;

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

    /// Publish an Event about `model`; a failure is logged (events are best effort).
    pub async fn publish(&self, model: &BertModel, warning: bool, reason: &str, note: String) {
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
