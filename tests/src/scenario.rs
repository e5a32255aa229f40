//! Pieces the scenarios share: the usual rollout, rejected versions, and a rollback
//! watched under load.

use std::time::{Duration, Instant};

use berth_api::conditions::is_true;
use berth_api::{BertModelStatus, RejectionReason};
use serde_json::{Value, json};

use crate::harness::Harness;
use crate::load::Load;

/// 50% for 3 s, then 100%, one pod loading at a time.
pub fn rollout(analysis: Value) -> Value {
    json!({
        "steps": [{"weight": 50, "pause": "3s"}, {"weight": 100}],
        "analysis": analysis,
        "loadTimeout": "60s",
        "maxLoadingPods": 1
    })
}

pub fn rejected(status: &BertModelStatus, version: &str) -> Option<(RejectionReason, String)> {
    status.rejected_versions.iter().find(|r| r.version == version).map(|r| (r.reason, r.message.clone()))
}

/// What [`expect_rollback`] saw.
pub struct Rollback {
    pub status: BertModelStatus,
    /// From the patch to the rejection in status.
    pub took: Duration,
    /// From the canary taking live traffic (a weight above 0 in status) to its
    /// rejection (weight 0), if it took any. A failing canary's requests are answered
    /// by stable in the pods, so clients see no failure to time this from.
    pub reaction: Option<Duration>,
    /// Requests the load saw fail from the patch to the rejection.
    pub failed: usize,
}

/// Rolls out `version` under load and waits for its rejection with `reason`, `stable`
/// untouched; prints how fast the rollback reacted once the canary went live.
pub async fn expect_rollback(
    h: &Harness,
    load: &Load,
    version: &str,
    stable: &str,
    patch: Value,
    reason: RejectionReason,
) -> Rollback {
    let t = Instant::now();
    h.merge(patch).await;
    let mut first_failed_analysis = None;
    let mut live_since = None;
    let status = h
        .watch(
            &format!("rollback of {version}"),
            Duration::from_secs(120),
            |s| {
                let judging = s.canary_version.as_deref() == Some(version);
                if live_since.is_none() && judging && s.canary_weight.is_some_and(|w| w > 0.0) {
                    live_since = Some(Instant::now());
                }
                if first_failed_analysis.is_none()
                    && judging
                    && s.analysis.as_ref().is_some_and(|a| a.consecutive_failures > 0)
                {
                    first_failed_analysis = Some(Instant::now());
                }
            },
            |s| rejected(s, version).is_some(),
        )
        .await;
    let rolled_back = Instant::now();
    let (got, message) = rejected(&status, version).unwrap();
    eprintln!("rollout {stable} -> {version} rolled back in {:.1}s: {got:?}: {message}", t.elapsed().as_secs_f64());
    let reaction = live_since.map(|live| rolled_back.duration_since(live));
    if let Some(reaction) = reaction {
        eprintln!("  rollback reaction: canary live in status -> canary weight 0: {:.2}s", reaction.as_secs_f64());
    }
    let failed = load.failures_since(t).len();
    eprintln!("  client requests that failed from the patch to the rollback: {failed}");
    if let Some(first) = first_failed_analysis {
        eprintln!(
            "  rollback reaction: first failed analysis in status -> canary weight 0: {:.2}s",
            rolled_back.duration_since(first).as_secs_f64()
        );
    }
    assert_eq!(got, reason, "{message}");
    assert_eq!(status.stable_version.as_deref(), Some(stable));
    assert_eq!(status.traffic.len(), 1, "{:?}", status.traffic);
    assert!(is_true(&status.conditions, "Degraded") && is_true(&status.conditions, "Ready"));
    // Once the rollback is written the pods drop the canary within a watch event:
    // from a second later on, nothing fails.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let late = load.failures_since(rolled_back + Duration::from_secs(1));
    assert!(late.is_empty(), "requests failed after the rollback of {version}: {late:?}");
    Rollback { status, took: rolled_back.duration_since(t), reaction, failed }
}
