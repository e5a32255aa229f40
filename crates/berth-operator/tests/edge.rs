//! The operator's edge to the rollout engine: a stored status maps to the engine's
//! state and back without losing anything, and survives the JSON it is stored as, so a
//! restarted operator hands the engine exactly the state it left.

use berth_api::{
    AnalysisStatus, BertModelStatus, CounterSnapshot, LatencyBucket, Phase, RejectedVersion, RejectionReason,
    TrafficTarget,
};
use berth_operator::core::edge::{state_in, status_out};
use jiff::Timestamp;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};
use proptest::prelude::*;

/// Times as the API server stores them: whole seconds (the mapping itself is exact to
/// the nanosecond, which `nanos` adds).
fn time(nanos: bool) -> impl Strategy<Value = Time> {
    (1_600_000_000i64..2_000_000_000, 0i64..1_000_000_000).prop_map(move |(s, n)| {
        let t = Timestamp::from_nanosecond(i128::from(s) * 1_000_000_000 + if nanos { i128::from(n) } else { 0 });
        Time(t.unwrap_or(Timestamp::UNIX_EPOCH))
    })
}

fn phase() -> impl Strategy<Value = Phase> {
    prop_oneof![
        Just(Phase::Pending),
        Just(Phase::Loading),
        Just(Phase::Progressing),
        Just(Phase::Paused),
        Just(Phase::Serving),
        Just(Phase::RollingBack),
        Just(Phase::Degraded),
        Just(Phase::Failed),
    ]
}

fn reason() -> impl Strategy<Value = RejectionReason> {
    prop_oneof![
        Just(RejectionReason::LoadFailed),
        Just(RejectionReason::LoadTimeout),
        Just(RejectionReason::CrashLoop),
        Just(RejectionReason::ErrorRate),
        Just(RejectionReason::Latency),
        Just(RejectionReason::Aborted),
    ]
}

fn counters() -> impl Strategy<Value = CounterSnapshot> {
    (any::<u32>(), any::<u32>(), prop::collection::vec((0u32..100, any::<u32>()), 0..4), any::<u32>(), any::<u16>())
        .prop_map(|(requests, errors, buckets, count, samples)| CounterSnapshot {
            requests: u64::from(requests),
            errors: u64::from(errors),
            latency_buckets: buckets
                .into_iter()
                .map(|(le, c)| LatencyBucket { le: f64::from(le) / 10.0, count: u64::from(c) })
                .collect(),
            latency_count: u64::from(count),
            agreement_sum: f64::from(samples) * 0.97,
            agreement_samples: u64::from(samples),
        })
}

fn analysis(nanos: bool) -> impl Strategy<Value = AnalysisStatus> {
    (
        any::<u32>(),
        any::<u32>(),
        any::<u32>(),
        prop::option::of(0.0f64..1.0),
        prop::option::of(0.0f64..5.0),
        prop::option::of(-1.0f64..1.0),
        any::<u16>(),
    )
        .prop_flat_map(move |(f, r, e, rate, p99, agreement, samples)| {
            (prop::option::of(time(nanos)), prop::option::of(counters())).prop_map(move |(last_time, baseline)| {
                AnalysisStatus {
                    consecutive_failures: f,
                    requests: u64::from(r),
                    errors: u64::from(e),
                    error_rate: rate,
                    p99_latency_seconds: p99,
                    agreement,
                    agreement_samples: u64::from(samples),
                    last_time,
                    baseline,
                }
            })
        })
}

fn condition(nanos: bool) -> impl Strategy<Value = Condition> {
    ("[A-Z][a-z]{2,8}", prop_oneof![Just("True"), Just("False"), Just("Unknown")], "[A-Za-z]{0,8}", ".{0,12}")
        .prop_flat_map(move |(type_, status, reason, message)| {
            (prop::option::of(0i64..100), time(nanos)).prop_map(move |(observed_generation, at)| Condition {
                type_: type_.clone(),
                status: status.to_string(),
                reason: reason.clone(),
                message: message.clone(),
                observed_generation,
                last_transition_time: at,
            })
        })
}

fn rejected(nanos: bool) -> impl Strategy<Value = RejectedVersion> {
    ("[0-9]{1,3}", reason(), ".{0,12}", time(nanos), any::<bool>()).prop_map(
        |(version, reason, message, time, blocking)| RejectedVersion { version, reason, message, time, blocking },
    )
}

fn status(nanos: bool) -> impl Strategy<Value = BertModelStatus> {
    let versions = (
        prop::option::of(0i64..1000),
        phase(),
        prop::option::of("[0-9]{1,3}"),
        prop::option::of("[0-9]{1,3}"),
        prop::option::of(0.0f64..100.0),
        prop::collection::vec(("[0-9]{1,3}", 0.0f64..100.0), 0..3),
        prop::option::of(prop::collection::vec("pod-[0-9]", 0..3)),
        prop::option::of(0u32..5),
        prop::option::of(0.0f64..100.0),
    );
    let rest = (
        prop::option::of(time(nanos)),
        prop::option::of(analysis(nanos)),
        prop::collection::vec(rejected(nanos), 0..3),
        0i32..10,
        0i32..10,
        prop::option::of("app=[a-z]{1,5}"),
        prop::collection::vec(condition(nanos), 0..5),
    );
    (versions, rest).prop_map(
        |(
            (
                observed_generation,
                phase,
                stable_version,
                canary_version,
                canary_weight,
                traffic,
                canary_pods,
                current_step,
                mirror,
            ),
            (step_started_at, analysis, rejected_versions, replicas, ready_replicas, selector, conditions),
        )| BertModelStatus {
            observed_generation,
            phase,
            stable_version,
            canary_version,
            canary_weight,
            traffic: traffic.into_iter().map(|(version, weight)| TrafficTarget { version, weight }).collect(),
            canary_pods,
            current_step,
            mirror,
            step_started_at,
            analysis,
            rejected_versions,
            replicas,
            ready_replicas,
            selector,
            conditions,
        },
    )
}

proptest! {
    #[test]
    fn a_status_maps_to_the_engine_and_back_unchanged(s in status(true)) {
        let back = status_out(state_in(&s), s.selector.clone());
        prop_assert_eq!(back, s);
    }

    #[test]
    fn a_stored_status_reads_back_as_the_same_engine_state(s in status(false)) {
        let json = serde_json::to_value(&s).map_err(|e| TestCaseError::fail(e.to_string()))?;
        let stored: BertModelStatus = serde_json::from_value(json).map_err(|e| TestCaseError::fail(e.to_string()))?;
        prop_assert_eq!(state_in(&stored), state_in(&s));
    }
}
