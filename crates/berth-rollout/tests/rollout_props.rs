//! Property tests of the rollout engine's invariants, over random specs, fleets,
//! version behaviours and timings.

// Test helpers outside #[test] fns: a failed setup should fail the test loudly.
#![allow(clippy::unwrap_used)]

mod sim;

use std::time::Duration;

use berth_rollout::{Outcome, RolloutState, Step, VersionState, effective_weights, validate_traffic, weight_of};
use proptest::prelude::*;
use sim::{Behaviour, Sim};

fn behaviour() -> impl Strategy<Value = Behaviour> {
    prop_oneof![
        3 => Just(Behaviour::Good),
        1 => Just(Behaviour::LoadFails),
        1 => Just(Behaviour::Crash),
        1 => Just(Behaviour::Hangs),
        1 => (0.05f64..1.0).prop_map(Behaviour::Errors),
        1 => Just(Behaviour::Slow),
        1 => Just(Behaviour::Wider),
    ]
}

/// Steps, sometimes led by a shadow step (weight 0, mirrored) and sometimes mirroring
/// a share of stable's requests at live steps too.
fn steps() -> impl Strategy<Value = Vec<Step>> {
    (plain_steps(), prop::option::of((1u64..20, 1.0f64..=100.0)), prop::option::of(1.0f64..=100.0)).prop_map(
        |(mut steps, shadow, live_mirror)| {
            if let Some(m) = live_mirror {
                for step in steps.iter_mut().filter(|s| s.weight < 100.0) {
                    step.mirror = Some(m);
                }
            }
            if let Some((pause, mirror)) = shadow {
                steps.insert(0, Step { weight: 0.0, pause: Some(Duration::from_secs(pause)), mirror: Some(mirror) });
            }
            steps
        },
    )
}

fn plain_steps() -> impl Strategy<Value = Vec<Step>> {
    (prop::collection::btree_set(1u32..100, 0..4), prop::collection::vec(0u64..20, 5)).prop_map(|(weights, pauses)| {
        let mut steps: Vec<Step> = weights
            .into_iter()
            .zip(pauses.iter())
            .map(|(w, p)| Step { weight: f64::from(w), pause: Some(Duration::from_secs(*p)), mirror: None })
            .collect();
        steps.push(Step { weight: 100.0, pause: None, mirror: None });
        steps
    })
}

#[derive(Debug, Clone)]
struct Scenario {
    replicas: i32,
    max_loading: usize,
    failure_limit: u32,
    steps: Vec<Step>,
    canary: Behaviour,
    tick_ms: u64,
    /// Reconciles at which a user changes something: (round, action).
    actions: Vec<(usize, u8)>,
}

fn scenario() -> impl Strategy<Value = Scenario> {
    (
        1i32..5,
        1usize..4,
        1u32..4,
        steps(),
        behaviour(),
        200u64..4000,
        prop::collection::vec((0usize..150, 0u8..6), 0..3),
    )
        .prop_map(|(replicas, max_loading, failure_limit, steps, canary, tick_ms, actions)| Scenario {
            replicas,
            max_loading,
            failure_limit,
            steps,
            canary,
            tick_ms,
            actions,
        })
}

/// Check every invariant of one decision against what came before.
fn check(sim: &Sim, before: &RolloutState, after: &RolloutState, outcome: Option<&Outcome>) {
    // Weights always sum to 100 (or nothing is listed before anything could serve).
    assert_eq!(validate_traffic(&after.traffic), Ok(()), "{:?}", after.traffic);
    if after.stable_version.is_some() {
        assert!(!after.traffic.is_empty());
    }
    // Stable stays in the table (so every pod keeps it loaded) until promotion ends.
    if let (Some(stable), Some(canary)) = (&after.stable_version, &after.canary_version) {
        assert!(after.traffic.iter().any(|t| &t.version == stable), "stable left early");
        assert!(after.traffic.iter().any(|t| &t.version == canary));
    }
    // The canary gets weight only after it loaded in every pod.
    if let Some(canary) = &after.canary_version
        && weight_of(&after.traffic, canary) > 0.0
        && before.current_step.is_none()
    {
        assert!(sim.pods.iter().all(|p| p.versions.get(canary).is_some_and(|r| r.state == VersionState::Available)));
    }
    // Rollback returns stable to 100 in one step.
    if let Some(Outcome::RolledBack { .. }) = outcome
        && let Some(stable) = &after.stable_version
    {
        assert_eq!(after.traffic.len(), 1);
        assert_eq!(weight_of(&after.traffic, stable), 100.0);
    }
    // A rejected version is never taken up again while spec.version names it (since
    // the rejection: once spec.version moved elsewhere the entry is history).
    for r in &before.rejected_versions {
        if r.blocking && r.version == sim.spec.version {
            assert_ne!(after.canary_version.as_deref(), Some(r.version.as_str()));
            assert_ne!(after.stable_version.as_deref(), Some(r.version.as_str()));
            assert_eq!(weight_of(&after.traffic, &r.version), 0.0);
        }
    }
    // Mirroring is not traffic: the client weights alone sum to 100, the mirror share
    // is stable's to copy and only while a canary is judged; a shadow step gives the
    // canary nothing in any pod.
    if let Some(m) = after.mirror {
        assert!(after.canary_version.is_some() && (0.0..=100.0).contains(&m), "{after:?}");
    }
    let shadow =
        after.current_step.and_then(|i| sim.spec.rollout.steps.get(i as usize)).is_some_and(|step| step.weight == 0.0);
    if let (true, Some(canary)) = (shadow, &after.canary_version) {
        assert_eq!(weight_of(&after.traffic, canary), 0.0);
        for pod in &sim.pods {
            let weights = effective_weights(&after.traffic, |v| {
                pod.versions.get(v).is_some_and(|r| r.state == VersionState::Available)
            });
            assert!(weights.iter().all(|w| &w.version != canary || w.weight == 0.0), "{weights:?}");
        }
    }
    // Every pod only routes to versions it has AVAILABLE.
    for pod in &sim.pods {
        let weights = effective_weights(&after.traffic, |v| {
            pod.versions.get(v).is_some_and(|r| r.state == VersionState::Available)
        });
        for w in &weights {
            assert!(pod.versions.get(&w.version).is_some_and(|r| r.state == VersionState::Available));
        }
        if !weights.is_empty() {
            let sum: f64 = weights.iter().map(|w| w.weight).sum();
            assert!((sum - 100.0).abs() < 1e-6);
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 200, .. ProptestConfig::default() })]

    #[test]
    fn invariants_hold_through_random_rollouts(s in scenario()) {
        let mut sim = Sim::serving("1", s.replicas);
        prop_assert_eq!(sim.status.stable_version.as_deref(), Some("1"));
        sim.spec.rollout.steps = s.steps.clone();
        sim.spec.rollout.max_loading_pods = s.max_loading;
        sim.spec.rollout.analysis.failure_limit = s.failure_limit;
        sim.behaviour.insert("2".into(), s.canary);
        sim.set_version("2");
        let tick = Duration::from_millis(s.tick_ms);
        for round in 0..400 {
            for (at, action) in &s.actions {
                if *at == round {
                    match action {
                        0 => sim.abort = true,
                        1 => sim.promote = true,
                        2 => sim.spec.rollout.paused = !sim.spec.rollout.paused,
                        3 => sim.set_version("1"),
                        4 => sim.set_version("2"),
                        _ => sim.set_version("3"),
                    }
                }
            }
            let before = sim.status.clone();
            let decision = sim.decide();
            // Same state, same observations, same time: same decision (a restarted
            // operator resumes exactly; that the stored status maps back to the same
            // state is the operator's edge test).
            prop_assert_eq!(&sim.decide(), &decision);
            sim.reconcile();
            check(&sim, &before, &sim.status, decision.outcome.as_ref());
            sim.advance(tick);
        }
        // Unless paused, the rollout has ended: promoted, or rejected with stable serving.
        if !sim.spec.rollout.paused && s.canary != Behaviour::Hangs {
            let v = sim.spec.version.clone();
            let ended = sim.status.stable_version.as_deref() == Some(v.as_str())
                || sim.status.rejected_versions.iter().any(|r| r.version == v);
            prop_assert!(ended, "{:?}", sim.status);
        }
    }

    #[test]
    fn good_versions_are_always_promoted(replicas in 1i32..6, max_loading in 1usize..4, steps in steps()) {
        let mut sim = Sim::serving("1", replicas);
        sim.spec.rollout.steps = steps;
        sim.spec.rollout.max_loading_pods = max_loading;
        sim.set_version("2");
        sim.run(Duration::from_secs(1), 500, |s| s.status.stable_version.as_deref() == Some("2"));
        prop_assert_eq!(sim.status.stable_version.as_deref(), Some("2"));
        prop_assert!(sim.status.rejected_versions.is_empty());
    }

    #[test]
    fn bad_versions_are_always_rejected(replicas in 1i32..6, canary in behaviour()) {
        prop_assume!(canary != Behaviour::Good);
        let mut sim = Sim::serving("1", replicas);
        sim.behaviour.insert("2".into(), canary);
        sim.set_version("2");
        sim.run(Duration::from_secs(1), 500, |s| !s.status.rejected_versions.is_empty());
        prop_assert_eq!(sim.status.stable_version.as_deref(), Some("1"));
        prop_assert_eq!(sim.status.rejected_versions.len(), 1);
        prop_assert_eq!(weight_of(&sim.status.traffic, "1"), 100.0);
    }
}
