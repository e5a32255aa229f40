//! The rollout engine: a pure state machine from `(spec, state, observations, now)` to
//! the next state (traffic table included), the events to publish and when to look
//! again. All memory lives in the state, which the operator keeps in
//! `BertModel.status`, so a restarted operator decides the same way.
//!
//! States, read off the state: first deploy (no stable version), serving (stable is
//! spec.version), canary loading (`currentStep` absent), canary at a step, and a
//! rejected spec.version (rolled back, or failed before anything served).

use std::time::Duration;

use crate::analysis::{Verdict, judge};
use crate::conditions;
use crate::loading::{LoadPlan, LoadProgress, progress};
use crate::observe::{Observations, VersionState};
use crate::policy::Spec;
use crate::state::{AnalysisState, Phase, RejectedVersion, RejectionReason, RolloutState};
use crate::time::Time;
use crate::traffic::{round_weight, table, weight_of};

/// How often to look at pods that are loading a version (they do not notify us).
pub const LOAD_POLL: Duration = Duration::from_secs(2);
/// Rejections kept in `status.rejectedVersions` (oldest dropped first).
pub const MAX_REJECTED: usize = 10;

/// Everything a decision depends on.
#[derive(Debug, Clone)]
pub struct Input<'a> {
    pub spec: &'a Spec,
    pub generation: Option<i64>,
    pub status: &'a RolloutState,
    /// The user asked to abort the rollout (`berth.dev/abort: "true"`).
    pub abort: bool,
    /// The user asked to promote the canary now (`berth.dev/promote: "true"`).
    pub promote: bool,
    pub obs: &'a Observations,
    pub now: Time,
}

/// Something worth a Kubernetes Event.
#[derive(Debug, Clone, PartialEq)]
pub struct RolloutEvent {
    pub warning: bool,
    pub reason: &'static str,
    pub message: String,
}

/// How a rollout ended, for metrics.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    Promoted { version: String, seconds: Option<f64> },
    RolledBack { version: String, reason: RejectionReason },
}

/// What the engine decided; `S` is the state type, which the operator maps to its API
/// status with [`Decision::map_status`].
#[derive(Debug, Clone, PartialEq)]
pub struct Decision<S = RolloutState> {
    pub status: S,
    pub events: Vec<RolloutEvent>,
    pub outcome: Option<Outcome>,
    /// When to decide again at the latest (`None`: only when something changes).
    pub requeue_after: Option<Duration>,
    /// The abort/promote annotation was acted on and should be removed.
    pub clear_annotations: bool,
}

impl<S> Decision<S> {
    /// The same decision over another representation of the state.
    pub fn map_status<T>(self, f: impl FnOnce(S) -> T) -> Decision<T> {
        Decision {
            status: f(self.status),
            events: self.events,
            outcome: self.outcome,
            requeue_after: self.requeue_after,
            clear_annotations: self.clear_annotations,
        }
    }

    fn event(&mut self, warning: bool, reason: &'static str, message: String) {
        self.events.push(RolloutEvent { warning, reason, message });
    }
    fn requeue(&mut self, after: Duration) {
        let after = after.max(Duration::from_millis(500));
        self.requeue_after = Some(self.requeue_after.map_or(after, |d| d.min(after)));
    }
}

/// Whether `version` was rejected and `spec.version` has not moved away since.
pub fn is_rejected(status: &RolloutState, version: &str) -> bool {
    status.rejected_versions.iter().any(|r| r.version == version && r.blocking)
}

/// A rejection blocks only until spec.version changes: entries for other versions
/// become history.
fn lift_rejections(status: &mut RolloutState, desired: &str) {
    for r in status.rejected_versions.iter_mut().filter(|r| r.version != desired) {
        r.blocking = false;
    }
}

impl RolloutState {
    /// No canary any more: whatever rollout ran is over.
    fn end_rollout(&mut self) {
        self.canary_version = None;
        self.canary_pods = None;
        self.current_step = None;
        self.step_started_at = None;
        self.mirror = None;
    }
}

/// Why `desired` cannot replace `stable` in the clients' stored vectors' space: another
/// output width than stable's, as the pods report them.
fn width_change(input: &Input<'_>, stable: &str, desired: &str) -> Option<String> {
    if input.spec.rollout.allow_embedding_space_change {
        return None;
    }
    let widths = &input.obs.output_widths;
    match (widths.get(stable), widths.get(desired)) {
        (Some(old), Some(new)) if old != new => Some(format!(
            "version {desired} answers {new} dimensions where {stable} answers {old}: vectors stored from \
             {stable} would not match (set rollout.allowEmbeddingSpaceChange to roll it out anyway)"
        )),
        _ => None,
    }
}

/// Decide the next status.
pub fn decide(input: &Input<'_>) -> Decision {
    // Kubernetes stores times to the second: deciding on whole seconds makes the status
    // we write identical to the one we read back, so a restart decides the same way.
    let input = &Input { now: input.now.whole_seconds(), ..input.clone() };
    let mut d = Decision {
        status: input.status.clone(),
        events: Vec::new(),
        outcome: None,
        requeue_after: None,
        clear_annotations: false,
    };
    let desired = input.spec.version.as_str();
    lift_rejections(&mut d.status, desired);
    let stable = input.status.stable_version.clone();
    if (input.abort || input.promote) && input.status.canary_version.is_none() && stable.as_deref() == Some(desired) {
        // Nothing to abort or promote: drop the annotation so it does not act later.
        d.clear_annotations = true;
    }
    if is_rejected(&d.status, desired) && stable.as_deref() != Some(desired) {
        settle_rejected(&mut d, input, desired);
    } else if input.spec.replicas == 0 {
        // No pods to load or judge anything: the spec is adopted as it is.
        adopt(&mut d, desired);
    } else {
        match stable {
            None => first_deploy(&mut d, input, desired),
            Some(s) if s == desired => {
                if let Some(canary) = d.status.canary_version.clone() {
                    d.event(
                        false,
                        "RolloutCancelled",
                        format!("spec.version is back to {s}; version {canary} dropped"),
                    );
                }
                adopt(&mut d, desired);
            }
            Some(s) => canary(&mut d, input, &s, desired),
        }
    }
    d.status.canary_weight = d.status.canary_version.as_deref().map(|c| weight_of(&d.status.traffic, c));
    conditions::finish(&mut d.status, input);
    d
}

/// spec.version is rejected: serve stable alone (or nothing), until spec.version changes.
fn settle_rejected(d: &mut Decision, input: &Input<'_>, desired: &str) {
    let s = &mut d.status;
    s.end_rollout();
    match s.stable_version.clone() {
        Some(stable) => {
            s.traffic = table(&[(&stable, 100.0)]);
            let still_loaded = input.obs.pods.iter().any(|p| {
                p.report(desired).is_some_and(|r| {
                    matches!(r.state, VersionState::Loading | VersionState::Available | VersionState::Unloading)
                })
            });
            s.phase = if still_loaded { Phase::RollingBack } else { Phase::Degraded };
            if still_loaded {
                d.requeue(LOAD_POLL);
            }
        }
        None => {
            s.traffic = Vec::new();
            s.phase = Phase::Failed;
        }
    }
}

fn adopt(d: &mut Decision, version: &str) {
    let s = &mut d.status;
    s.stable_version = Some(version.to_string());
    s.end_rollout();
    s.analysis = None;
    s.traffic = table(&[(version, 100.0)]);
    s.phase = Phase::Serving;
}

fn reject(d: &mut Decision, input: &Input<'_>, version: &str, reason: RejectionReason, message: String) {
    let s = &mut d.status;
    s.rejected_versions.retain(|r| r.version != version);
    s.rejected_versions.push(RejectedVersion {
        version: version.to_string(),
        reason,
        message: message.clone(),
        time: input.now,
        blocking: true,
    });
    let excess = s.rejected_versions.len().saturating_sub(MAX_REJECTED);
    s.rejected_versions.drain(..excess);
    s.end_rollout();
    match s.stable_version.clone() {
        // Rollback: the stable version takes everything at once; the canary leaves the
        // table, so every pod unloads it.
        Some(stable) => {
            s.traffic = table(&[(&stable, 100.0)]);
            s.phase = Phase::RollingBack;
            d.event(true, "RolledBack", format!("version {version} rolled back ({}): {message}", reason.as_str()));
            d.outcome = Some(Outcome::RolledBack { version: version.to_string(), reason });
            d.requeue(LOAD_POLL);
        }
        None => {
            s.traffic = Vec::new();
            s.phase = Phase::Failed;
            d.event(true, "VersionFailed", format!("version {version} failed ({}): {message}", reason.as_str()));
        }
    }
}

fn first_deploy(d: &mut Decision, input: &Input<'_>, desired: &str) {
    let want = table(&[(desired, 100.0)]);
    if d.status.traffic != want || d.status.step_started_at.is_none() {
        d.status.traffic = want;
        d.status.step_started_at = Some(input.now);
        d.status.canary_version = None;
        d.status.canary_pods = None;
        d.status.current_step = None;
        d.event(false, "Loading", format!("loading version {desired}"));
    }
    d.status.phase = Phase::Loading;
    let started = d.status.step_started_at.unwrap_or(input.now);
    let plan = LoadPlan {
        version: desired,
        allowed: None,
        max_loading: 1,
        need_all: false,
        started,
        timeout: input.spec.rollout.load_timeout,
        retry: d.status.rejected_versions.iter().any(|r| r.version == desired),
    };
    match progress(&plan, input.obs, input.now) {
        LoadProgress::Done => {
            adopt(d, desired);
            d.event(false, "Deployed", format!("version {desired} is serving"));
        }
        LoadProgress::Failed { reason, message } => reject(d, input, desired, reason, message),
        LoadProgress::Loading { .. } => d.requeue(LOAD_POLL),
    }
}

fn canary(d: &mut Decision, input: &Input<'_>, stable: &str, desired: &str) {
    if input.abort {
        d.clear_annotations = true;
        reject(d, input, desired, RejectionReason::Aborted, "aborted with the berth.dev/abort annotation".into());
        return;
    }
    if d.status.canary_version.as_deref() != Some(desired) {
        if let Some(old) = &d.status.canary_version {
            d.event(false, "RolloutSuperseded", format!("version {old} replaced by {desired} before promotion"));
        }
        let s = &mut d.status;
        s.canary_version = Some(desired.to_string());
        s.traffic = table(&[(stable, 100.0), (desired, 0.0)]);
        s.current_step = None;
        s.step_started_at = Some(input.now);
        s.canary_pods = Some(Vec::new());
        s.analysis = None;
        d.event(false, "RolloutStarted", format!("loading version {desired} beside {stable}"));
    }
    match d.status.current_step {
        None => canary_loading(d, input, stable, desired),
        Some(step) => canary_step(d, input, stable, desired, step as usize),
    }
}

fn canary_loading(d: &mut Decision, input: &Input<'_>, stable: &str, desired: &str) {
    d.status.phase = Phase::Loading;
    let started = d.status.step_started_at.unwrap_or(input.now);
    let allowed = d.status.canary_pods.clone();
    let plan = LoadPlan {
        version: desired,
        allowed: allowed.as_deref(),
        max_loading: input.spec.rollout.max_loading_pods.max(1),
        need_all: true,
        started,
        timeout: input.spec.rollout.load_timeout,
        retry: d.status.rejected_versions.iter().any(|r| r.version == desired),
    };
    match progress(&plan, input.obs, input.now) {
        LoadProgress::Failed { reason, message } => reject(d, input, desired, reason, message),
        LoadProgress::Loading { canary_pods } => {
            d.status.canary_pods = canary_pods;
            d.requeue(LOAD_POLL);
        }
        LoadProgress::Done => {
            d.status.canary_pods = None;
            if input.promote {
                d.clear_annotations = true;
                promote(d, input, desired, "promoted with the berth.dev/promote annotation");
            } else if input.spec.rollout.paused {
                d.status.phase = Phase::Paused;
            } else if let Some(message) = width_change(input, stable, desired) {
                reject(d, input, desired, RejectionReason::EmbeddingSpaceChanged, message);
            } else {
                d.event(false, "CanaryLoaded", format!("version {desired} is loaded in every pod"));
                enter_step(d, input, stable, desired, 0);
            }
        }
    }
}

/// Move to step `index` (or promote past the last one), and on through steps that
/// have no pause.
fn enter_step(d: &mut Decision, input: &Input<'_>, stable: &str, desired: &str, index: usize) {
    let steps = &input.spec.rollout.steps;
    let mut index = index;
    loop {
        let Some(step) = steps.get(index) else {
            promote(d, input, desired, "all steps passed");
            return;
        };
        let weight = round_weight(step.weight);
        let s = &mut d.status;
        s.current_step = u32::try_from(index).ok();
        s.step_started_at = Some(input.now);
        s.traffic = table(&[(stable, 100.0 - weight), (desired, weight)]);
        s.mirror = step.mirror.filter(|m| *m > 0.0).map(round_weight);
        s.phase = Phase::Progressing;
        let baseline = input.obs.counters.get(desired).cloned().unwrap_or_default();
        let failures = s.analysis.as_ref().map_or(0, |a| a.consecutive_failures);
        s.analysis = Some(AnalysisState {
            consecutive_failures: failures,
            last_time: Some(input.now),
            baseline: Some(baseline),
            ..AnalysisState::default()
        });
        d.event(false, "StepStarted", format!("version {desired} at {weight}% (step {})", index + 1));
        let pause = step.pause.unwrap_or_default();
        if !pause.is_zero() {
            d.requeue(pause.min(input.spec.rollout.analysis.interval));
            return;
        }
        if index + 1 == steps.len() {
            promote(d, input, desired, "all steps passed");
            return;
        }
        index += 1;
    }
}

fn canary_step(d: &mut Decision, input: &Input<'_>, stable: &str, desired: &str, step: usize) {
    // A pod that (re)loads the canary mid-rollout and fails ends it as a load failure.
    if let Some((pod, failure)) = input.obs.pods.iter().find_map(|p| p.load_failure(desired).map(|f| (&p.name, f))) {
        let (reason, message) = crate::loading::load_failure(pod, desired, failure);
        reject(d, input, desired, reason, message);
        return;
    }
    if let Some(message) = width_change(input, stable, desired) {
        reject(d, input, desired, RejectionReason::EmbeddingSpaceChanged, message);
        return;
    }
    if input.promote {
        d.clear_annotations = true;
        promote(d, input, desired, "promoted with the berth.dev/promote annotation");
        return;
    }
    let limits = &input.spec.rollout.analysis;
    let interval = limits.interval;
    let mut analysis = d.status.analysis.clone().unwrap_or_default();
    let current = input.obs.counters.get(desired).cloned().unwrap_or_default();
    let due = analysis.last_time.is_none_or(|t| input.now.since(t) >= interval);
    if due {
        match &analysis.baseline {
            None => analysis.baseline = Some(current),
            Some(before) => {
                let j = judge(limits, before, &current);
                analysis.requests = j.requests;
                analysis.errors = j.errors;
                analysis.error_rate = j.error_rate;
                analysis.p99_latency_seconds = j.p99_seconds;
                analysis.agreement = j.agreement;
                analysis.agreement_samples = j.agreement_samples;
                analysis.baseline = Some(current);
                match j.verdict {
                    Verdict::Pass => analysis.consecutive_failures = 0,
                    Verdict::Inconclusive | Verdict::Reset => {}
                    Verdict::Fail { reason, message } => {
                        analysis.consecutive_failures += 1;
                        if analysis.consecutive_failures >= limits.failure_limit {
                            let message =
                                format!("{message}; {} consecutive failed analyses", analysis.consecutive_failures);
                            d.status.analysis = Some(analysis);
                            reject(d, input, desired, reason, message);
                            return;
                        }
                        d.event(true, "AnalysisFailed", format!("version {desired}: {message}"));
                    }
                }
            }
        }
        analysis.last_time = Some(input.now);
    }
    let failures = analysis.consecutive_failures;
    let next_analysis = analysis.last_time.map_or(interval, |t| interval.saturating_sub(input.now.since(t)));
    d.status.analysis = Some(analysis);
    d.requeue(next_analysis);

    if input.spec.rollout.paused {
        d.status.phase = Phase::Paused;
        return;
    }
    d.status.phase = Phase::Progressing;
    let pause = input.spec.rollout.steps.get(step).and_then(|s| s.pause).unwrap_or_default();
    let started = d.status.step_started_at.unwrap_or(input.now);
    let held = input.now.since(started);
    if held >= pause && failures == 0 {
        enter_step(d, input, stable, desired, step + 1);
    } else if held < pause {
        d.requeue(pause - held);
    }
}

fn promote(d: &mut Decision, input: &Input<'_>, version: &str, why: &str) {
    let since = conditions::rollout_started(input.status);
    adopt(d, version);
    d.event(false, "Promoted", format!("version {version} is stable: {why}"));
    d.outcome = Some(Outcome::Promoted {
        version: version.to_string(),
        seconds: since.map(|t| input.now.since(t).as_secs_f64()),
    });
}
