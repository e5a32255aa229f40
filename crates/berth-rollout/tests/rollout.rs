//! Example-based tests of the rollout engine, driven through whole rollouts by the
//! simulated pods in `sim`.

// Test helpers outside #[test] fns: a failed setup should fail the test loudly.
#![allow(clippy::unwrap_used)]

mod sim;

use std::time::Duration;

use berth_rollout::conditions::is_true;
use berth_rollout::{Outcome, Phase, RejectionReason, Step, TrafficTarget, weight_of};
use sim::{Behaviour, Sim, spec};

const TICK: Duration = Duration::from_secs(1);

fn t(entries: &[(&str, f64)]) -> Vec<TrafficTarget> {
    entries.iter().map(|(v, w)| TrafficTarget { version: v.to_string(), weight: *w }).collect()
}

fn cond(sim: &Sim, type_: &str) -> bool {
    is_true(&sim.status.conditions, type_)
}

#[test]
fn first_deploy_loads_then_serves() {
    let mut sim = Sim::new(spec("1", 2));
    let d = sim.reconcile();
    assert_eq!(d.status.phase, Phase::Loading);
    assert_eq!(d.status.traffic, t(&[("1", 100.0)]));
    assert_eq!(d.status.stable_version, None);
    assert!(!cond(&sim, "Ready") && cond(&sim, "Reconciling") && cond(&sim, "Progressing"));
    sim.run(TICK, 10, |s| s.status.stable_version.is_some());
    assert_eq!(sim.status.stable_version.as_deref(), Some("1"));
    assert_eq!(sim.status.phase, Phase::Serving);
    assert!(cond(&sim, "Ready") && !cond(&sim, "Progressing") && !cond(&sim, "Degraded"));
    assert!(sim.status.conditions.iter().all(|c| c.observed_generation == Some(1)));
}

#[test]
fn first_deploy_load_failure_fails_the_model() {
    let mut sim = Sim::new(spec("1", 2));
    sim.behaviour.insert("1".into(), Behaviour::LoadFails);
    sim.run(TICK, 10, |s| s.status.phase == Phase::Failed);
    assert_eq!(sim.status.phase, Phase::Failed);
    assert!(sim.status.traffic.is_empty());
    assert_eq!(sim.status.rejected_versions[0].reason, RejectionReason::LoadFailed);
    assert!(cond(&sim, "Stalled") && cond(&sim, "Degraded") && !cond(&sim, "Ready") && !cond(&sim, "Reconciling"));
}

#[test]
fn scaled_to_zero_adopts_the_spec() {
    let mut sim = Sim::new(spec("1", 0));
    let d = sim.reconcile();
    assert_eq!(d.status.stable_version.as_deref(), Some("1"));
    assert_eq!(d.status.phase, Phase::Serving);
    assert!(cond(&sim, "Ready"));
    assert_eq!(d.requeue_after, None);
}

#[test]
fn rollout_walks_the_steps_and_promotes() {
    let mut sim = Sim::serving("1", 3);
    sim.set_version("2");
    let d = sim.reconcile();
    assert_eq!(d.status.phase, Phase::Loading);
    assert_eq!(d.status.traffic, t(&[("1", 100.0), ("2", 0.0)]));
    assert_eq!(d.status.canary_version.as_deref(), Some("2"));
    let decisions = sim.run(TICK, 200, |s| s.status.stable_version.as_deref() == Some("2"));
    let weights: Vec<f64> = decisions.iter().filter_map(|d| d.status.canary_weight).collect();
    assert!(weights.contains(&10.0) && weights.contains(&50.0), "{weights:?}");
    assert_eq!(sim.status.traffic, t(&[("2", 100.0)]));
    assert_eq!(sim.status.phase, Phase::Serving);
    assert!(cond(&sim, "Ready") && !cond(&sim, "Progressing"));
    let promoted = decisions.iter().filter_map(|d| d.outcome.clone()).collect::<Vec<_>>();
    assert!(
        matches!(&promoted[..], [Outcome::Promoted { version, seconds: Some(s) }] if version == "2" && *s >= 20.0),
        "{promoted:?}"
    );
}

#[test]
fn canary_loads_one_batch_at_a_time() {
    let mut sim = Sim::serving("1", 4);
    sim.spec.rollout.max_loading_pods = 1;
    sim.set_version("2");
    let d = sim.reconcile();
    assert_eq!(d.status.canary_pods, Some(vec!["pod-0".to_string()]));
    sim.advance(TICK);
    sim.reconcile();
    // pod-0 is still loading: no second pod yet.
    assert_eq!(sim.status.canary_pods, Some(vec!["pod-0".to_string()]));
    sim.advance(TICK);
    sim.reconcile();
    assert_eq!(sim.status.canary_pods, Some(vec!["pod-0".to_string(), "pod-1".to_string()]));
}

#[test]
fn crashing_canary_takes_down_one_pod_only() {
    let mut sim = Sim::serving("1", 4);
    sim.behaviour.insert("2".into(), Behaviour::Crash);
    sim.set_version("2");
    let decisions = sim.run(TICK, 30, |s| s.status.canary_version.is_none());
    assert_eq!(sim.pods.iter().filter(|p| p.restarts > 0).count(), 1);
    assert_eq!(sim.status.rejected_versions[0].reason, RejectionReason::CrashLoop);
    assert_eq!(sim.status.traffic, t(&[("1", 100.0)]));
    assert!(decisions.iter().any(|d| d.events.iter().any(|e| e.warning && e.reason == "RolledBack")));
}

fn rolled_back(behaviour: Behaviour, expected: RejectionReason) {
    let mut sim = Sim::serving("1", 2);
    sim.behaviour.insert("2".into(), behaviour);
    sim.set_version("2");
    let decisions = sim.run(TICK, 300, |s| !s.status.rejected_versions.is_empty());
    assert_eq!(sim.status.rejected_versions.len(), 1, "{behaviour:?}");
    let rejected = &sim.status.rejected_versions[0];
    assert_eq!((rejected.version.as_str(), rejected.reason), ("2", expected), "{}", rejected.message);
    assert_eq!(sim.status.traffic, t(&[("1", 100.0)]));
    assert_eq!(sim.status.stable_version.as_deref(), Some("1"));
    assert!(cond(&sim, "Ready") && cond(&sim, "Degraded") && cond(&sim, "Stalled"));
    let outcome = decisions.iter().find_map(|d| d.outcome.clone());
    assert_eq!(outcome, Some(Outcome::RolledBack { version: "2".into(), reason: expected }));
    // The pods unload it; the phase settles at Degraded and the version is not retried.
    let after = sim.run(TICK, 100, |_| false);
    assert_eq!(sim.status.phase, Phase::Degraded);
    assert!(after.iter().all(|d| weight_of(&d.status.traffic, "2") == 0.0 && d.status.canary_version.is_none()));
}

#[test]
fn rollback_on_load_failure() {
    rolled_back(Behaviour::LoadFails, RejectionReason::LoadFailed);
}

#[test]
fn rollback_on_golden_set_before_any_traffic() {
    let mut sim = Sim::serving("1", 2);
    sim.behaviour.insert("2".into(), Behaviour::FailsGoldenSet);
    sim.set_version("2");
    let decisions = sim.run(TICK, 300, |s| !s.status.rejected_versions.is_empty());
    // The canary never had a client share nor a mirrored one.
    assert!(decisions.iter().all(|d| weight_of(&d.status.traffic, "2") == 0.0 && d.status.mirror.is_none()));
    assert!(sim.status.rejected_versions[0].message.contains("failed the golden set"));
    rolled_back(Behaviour::FailsGoldenSet, RejectionReason::GoldenSet);
}

#[test]
fn rollback_on_load_timeout() {
    rolled_back(Behaviour::Hangs, RejectionReason::LoadTimeout);
}

#[test]
fn rollback_on_error_rate() {
    rolled_back(Behaviour::Errors(0.5), RejectionReason::ErrorRate);
}

#[test]
fn rollback_on_latency() {
    rolled_back(Behaviour::Slow, RejectionReason::Latency);
}

#[test]
fn one_failed_analysis_below_the_limit_holds_the_step() {
    let mut sim = Sim::serving("1", 2);
    sim.spec.rollout.analysis.failure_limit = 100;
    sim.behaviour.insert("2".into(), Behaviour::Errors(0.5));
    sim.set_version("2");
    sim.run(TICK, 100, |_| false);
    assert_eq!(sim.status.current_step, Some(0), "a failing canary must not advance");
    assert!(sim.status.analysis.as_ref().is_some_and(|a| a.consecutive_failures > 0));
}

#[test]
fn too_few_requests_never_fail_the_canary() {
    let mut sim = Sim::serving("1", 2);
    sim.requests_per_pod = 1;
    sim.spec.rollout.analysis.min_requests = 1000;
    sim.behaviour.insert("2".into(), Behaviour::Errors(1.0));
    sim.set_version("2");
    sim.run(TICK, 200, |s| s.status.stable_version.as_deref() == Some("2"));
    assert!(sim.status.rejected_versions.is_empty());
}

#[test]
fn paused_rollout_holds_and_resumes() {
    let mut sim = Sim::serving("1", 2);
    sim.set_version("2");
    sim.run(TICK, 50, |s| s.status.current_step == Some(0));
    sim.spec.rollout.paused = true;
    sim.run(TICK, 100, |_| false);
    assert_eq!(sim.status.phase, Phase::Paused);
    assert_eq!(sim.status.current_step, Some(0));
    assert!(cond(&sim, "Reconciling"));
    sim.spec.rollout.paused = false;
    sim.run(TICK, 100, |s| s.status.stable_version.as_deref() == Some("2"));
    assert_eq!(sim.status.stable_version.as_deref(), Some("2"));
}

#[test]
fn abort_annotation_rolls_back_and_is_cleared() {
    let mut sim = Sim::serving("1", 2);
    sim.set_version("2");
    sim.run(TICK, 50, |s| s.status.current_step == Some(0));
    sim.abort = true;
    let d = sim.reconcile();
    assert!(d.clear_annotations);
    assert_eq!(d.status.traffic, t(&[("1", 100.0)]));
    assert_eq!(d.status.rejected_versions[0].reason, RejectionReason::Aborted);
}

#[test]
fn promote_annotation_skips_the_steps() {
    let mut sim = Sim::serving("1", 2);
    sim.set_version("2");
    sim.run(TICK, 50, |s| s.status.current_step == Some(0));
    sim.promote = true;
    let d = sim.reconcile();
    assert!(d.clear_annotations);
    assert_eq!(d.status.traffic, t(&[("2", 100.0)]));
}

#[test]
fn no_pauses_promote_as_soon_as_loaded() {
    let mut sim = Sim::serving("1", 2);
    sim.spec.rollout.steps = vec![Step { weight: 100.0, pause: None, mirror: None }];
    sim.spec.rollout.max_loading_pods = 2;
    sim.set_version("2");
    let decisions = sim.run(TICK, 20, |s| s.status.stable_version.as_deref() == Some("2"));
    // Start, see it loading, see it loaded (and promote in that same decision).
    assert!(decisions.len() <= 3, "took {} reconciles", decisions.len());
}

#[test]
fn reverting_spec_version_cancels_the_canary() {
    let mut sim = Sim::serving("1", 2);
    sim.set_version("2");
    sim.run(TICK, 50, |s| s.status.current_step == Some(0));
    sim.set_version("1");
    let d = sim.reconcile();
    assert_eq!(d.status.traffic, t(&[("1", 100.0)]));
    assert!(d.status.rejected_versions.is_empty());
    assert!(d.events.iter().any(|e| e.reason == "RolloutCancelled"));
}

#[test]
fn a_new_version_after_a_rejection_rolls_out() {
    let mut sim = Sim::serving("1", 2);
    sim.behaviour.insert("2".into(), Behaviour::LoadFails);
    sim.set_version("2");
    sim.run(TICK, 30, |s| !s.status.rejected_versions.is_empty());
    sim.set_version("3");
    sim.run(TICK, 200, |s| s.status.stable_version.as_deref() == Some("3"));
    assert_eq!(sim.status.stable_version.as_deref(), Some("3"));
    assert!(!cond(&sim, "Degraded"));
    assert_eq!(sim.status.rejected_versions.len(), 1, "history is kept");
}

#[test]
fn a_rejected_version_stays_rejected_until_spec_version_moves_away_and_back() {
    let mut sim = Sim::serving("1", 2);
    sim.behaviour.insert("2".into(), Behaviour::LoadFails);
    sim.set_version("2");
    sim.run(TICK, 30, |s| !s.status.rejected_versions.is_empty());
    // Unchanged spec.version: reconciles go on, 2 is not retried.
    let decisions = sim.run(TICK, 30, |_| false);
    assert!(decisions.iter().all(|d| d.status.canary_version.is_none()));
    assert!(sim.status.rejected_versions[0].blocking && cond(&sim, "Degraded"));
    // Back to 1, then 2 again: 2 is tried again (berth-serve reloads it when its files
    // changed; here they did not, so it fails again and is rejected anew).
    let first = sim.status.rejected_versions[0].time;
    sim.set_version("1");
    sim.reconcile();
    assert!(!sim.status.rejected_versions[0].blocking, "history only once spec.version moved");
    assert!(!cond(&sim, "Degraded"));
    sim.set_version("2");
    let d = sim.reconcile();
    assert_eq!(d.status.canary_version.as_deref(), Some("2"), "a retry starts: {:#?}", d.status);
    sim.run(TICK, 30, |s| s.status.rejected_versions.iter().any(|r| r.blocking));
    let again = &sim.status.rejected_versions;
    assert_eq!(again.len(), 1, "{again:?}");
    assert!(again[0].blocking && again[0].time > first, "{again:?}");
    assert!(cond(&sim, "Degraded"));
}

#[test]
fn requeues_while_a_rollout_runs_and_rests_when_serving() {
    let mut sim = Sim::serving("1", 2);
    assert_eq!(sim.reconcile().requeue_after, None);
    sim.set_version("2");
    let d = sim.reconcile();
    assert!(d.requeue_after.is_some_and(|r| r <= Duration::from_secs(2)));
    sim.run(TICK, 50, |s| s.status.current_step == Some(0));
    let d = sim.reconcile();
    assert!(d.requeue_after.is_some_and(|r| r <= Duration::from_secs(5)));
}

#[test]
fn a_rolling_pod_template_update_reads_as_progressing() {
    let sim = Sim::serving("1", 2);
    let mut obs = sim.observations();
    obs.rolling_update = Some("rolling update: 1 of 2 pods updated".into());
    let input = berth_rollout::Input {
        spec: &sim.spec,
        generation: Some(sim.generation),
        status: &sim.status,
        abort: false,
        promote: false,
        obs: &obs,
        now: sim.now,
    };
    let d = berth_rollout::decide(&input);
    assert_eq!(d.status.phase, Phase::Serving);
    assert!(is_true(&d.status.conditions, "Progressing") && is_true(&d.status.conditions, "Reconciling"));
    assert!(is_true(&d.status.conditions, "Ready"));
}

/// A shadow step (weight 0, every request stable answers mirrored) before going live.
fn shadow_first(sim: &mut Sim, min_agreement: Option<f64>) {
    sim.spec.rollout.steps = vec![
        Step { weight: 0.0, pause: Some(Duration::from_secs(10)), mirror: Some(100.0) },
        Step { weight: 50.0, pause: Some(Duration::from_secs(5)), mirror: Some(50.0) },
        Step { weight: 100.0, pause: None, mirror: None },
    ];
    sim.spec.rollout.analysis.min_agreement = min_agreement;
}

#[test]
fn a_canary_that_agrees_with_stable_passes_the_shadow_step_and_promotes() {
    let mut sim = Sim::serving("1", 2);
    shadow_first(&mut sim, Some(0.99));
    sim.set_version("2");
    let decisions = sim.run(TICK, 200, |s| s.status.stable_version.as_deref() == Some("2"));
    assert_eq!(sim.status.stable_version.as_deref(), Some("2"));
    let shadow: Vec<_> = decisions.iter().filter(|d| d.status.current_step == Some(0)).collect();
    assert!(!shadow.is_empty(), "never held the shadow step");
    assert!(shadow.iter().all(|d| weight_of(&d.status.traffic, "2") == 0.0 && d.status.mirror == Some(100.0)));
    let agreements: Vec<f64> = decisions.iter().filter_map(|d| d.status.analysis.as_ref()?.agreement).collect();
    assert!(!agreements.is_empty() && agreements.iter().all(|a| (*a - 1.0).abs() < 1e-9), "{agreements:?}");
    assert_eq!(sim.status.mirror, None, "promotion ends mirroring");
}

#[test]
fn a_canary_that_drifted_is_rolled_back_in_the_shadow_step_before_any_client_reaches_it() {
    let mut sim = Sim::serving("1", 2);
    shadow_first(&mut sim, Some(0.99));
    sim.behaviour.insert("2".into(), Behaviour::Disagrees(0.93));
    sim.set_version("2");
    let decisions = sim.run(TICK, 200, |s| !s.status.rejected_versions.is_empty());
    let rejected = &sim.status.rejected_versions[0];
    assert_eq!(rejected.reason, RejectionReason::QualityGate, "{}", rejected.message);
    assert!(rejected.message.contains("minAgreement"), "{}", rejected.message);
    assert!(decisions.iter().all(|d| weight_of(&d.status.traffic, "2") == 0.0), "2 took live traffic");
    assert_eq!(sim.status.traffic, t(&[("1", 100.0)]));
    assert_eq!(sim.status.mirror, None);
}

#[test]
fn another_output_dimension_is_rejected_before_any_traffic_unless_allowed() {
    let mut sim = Sim::serving("1", 2);
    sim.behaviour.insert("2".into(), Behaviour::Wider);
    sim.set_version("2");
    let decisions = sim.run(TICK, 100, |s| !s.status.rejected_versions.is_empty());
    let rejected = &sim.status.rejected_versions[0];
    assert_eq!(rejected.reason, RejectionReason::EmbeddingSpaceChanged, "{}", rejected.message);
    assert!(rejected.message.contains("64 dimensions where 1 answers 32"), "{}", rejected.message);
    assert!(decisions.iter().all(|d| weight_of(&d.status.traffic, "2") == 0.0));

    let mut sim = Sim::serving("1", 2);
    sim.behaviour.insert("2".into(), Behaviour::Wider);
    sim.spec.rollout.allow_embedding_space_change = true;
    sim.set_version("2");
    sim.run(TICK, 200, |s| s.status.stable_version.as_deref() == Some("2"));
    assert_eq!(sim.status.stable_version.as_deref(), Some("2"));
    assert!(sim.status.rejected_versions.is_empty());
}

#[test]
fn answers_from_another_embedding_space_are_rejected_without_a_min_agreement() {
    let mut sim = Sim::serving("1", 2);
    shadow_first(&mut sim, None);
    sim.behaviour.insert("2".into(), Behaviour::Disagrees(0.05));
    sim.set_version("2");
    sim.run(TICK, 200, |s| !s.status.rejected_versions.is_empty());
    assert_eq!(sim.status.rejected_versions[0].reason, RejectionReason::EmbeddingSpaceChanged);
    // Allowed: the same answers roll out (no minAgreement to hold them).
    let mut sim = Sim::serving("1", 2);
    shadow_first(&mut sim, None);
    sim.behaviour.insert("2".into(), Behaviour::Disagrees(0.05));
    sim.spec.rollout.allow_embedding_space_change = true;
    sim.spec.rollout.analysis.embedding_space_guard = false;
    sim.set_version("2");
    sim.run(TICK, 200, |s| s.status.stable_version.as_deref() == Some("2"));
    assert_eq!(sim.status.stable_version.as_deref(), Some("2"));
}
