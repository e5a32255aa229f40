//! Condition bookkeeping: a condition's `lastTransitionTime` moves only when its
//! status flips, and every condition records the generation it speaks for.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};

/// The new value of one condition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConditionUpdate<'a> {
    pub type_: &'a str,
    pub status: bool,
    pub reason: &'a str,
    pub message: String,
}

/// Set or replace a condition. Returns true when anything changed.
pub fn set_condition(
    conditions: &mut Vec<Condition>,
    update: ConditionUpdate<'_>,
    generation: Option<i64>,
    now: &Time,
) -> bool {
    let status = if update.status { "True" } else { "False" }.to_string();
    match conditions.iter_mut().find(|c| c.type_ == update.type_) {
        Some(existing) => {
            let transition = existing.status != status;
            let changed = transition
                || existing.reason != update.reason
                || existing.message != update.message
                || existing.observed_generation != generation;
            if transition {
                existing.last_transition_time = now.clone();
            }
            existing.status = status;
            existing.reason = update.reason.to_string();
            existing.message = update.message;
            existing.observed_generation = generation;
            changed
        }
        None => {
            conditions.push(Condition {
                type_: update.type_.to_string(),
                status,
                reason: update.reason.to_string(),
                message: update.message,
                observed_generation: generation,
                last_transition_time: now.clone(),
            });
            true
        }
    }
}

/// Whether a condition is present and True.
pub fn is_true(conditions: &[Condition], type_: &str) -> bool {
    conditions.iter().any(|c| c.type_ == type_ && c.status == "True")
}

pub fn find<'a>(conditions: &'a [Condition], type_: &str) -> Option<&'a Condition> {
    conditions.iter().find(|c| c.type_ == type_)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(seconds: i64) -> Time {
        Time(jiff::Timestamp::from_second(seconds).expect("valid timestamp"))
    }

    fn ready(status: bool, reason: &str) -> ConditionUpdate<'_> {
        ConditionUpdate { type_: "Ready", status, reason, message: String::new() }
    }

    #[test]
    fn transition_time_moves_only_when_status_flips() {
        let mut conditions = Vec::new();
        assert!(set_condition(&mut conditions, ready(false, "Loading"), Some(1), &at(10)));
        assert!(set_condition(&mut conditions, ready(false, "StillLoading"), Some(1), &at(20)));
        assert_eq!(conditions[0].last_transition_time, at(10));
        assert!(set_condition(&mut conditions, ready(true, "Serving"), Some(2), &at(30)));
        assert_eq!(conditions[0].last_transition_time, at(30));
        assert_eq!(conditions[0].observed_generation, Some(2));
    }

    #[test]
    fn unchanged_update_reports_no_change() {
        let mut conditions = Vec::new();
        set_condition(&mut conditions, ready(true, "Serving"), Some(3), &at(1));
        assert!(!set_condition(&mut conditions, ready(true, "Serving"), Some(3), &at(99)));
        assert_eq!(conditions.len(), 1);
        assert!(is_true(&conditions, "Ready"));
        assert!(set_condition(&mut conditions, ready(true, "Serving"), Some(4), &at(99)));
    }
}
