//! The Deployment controller's arithmetic, as pure functions (the same rules
//! as Kubernetes' `pkg/controller/deployment`), so it can be tested alone.
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

/// `maxSurge`/`maxUnavailable` as pod counts: surge rounds up, unavailable
/// rounds down, and both zero means one unavailable so a rollout can move.
pub fn fenceposts(max_surge: Option<&IntOrString>, max_unavailable: Option<&IntOrString>, desired: i32) -> (i32, i32) {
    let default = IntOrString::String("25%".into());
    let surge = scaled(max_surge.unwrap_or(&default), desired, true);
    let unavailable = scaled(max_unavailable.unwrap_or(&default), desired, false);
    if surge == 0 && unavailable == 0 { (0, 1) } else { (surge, unavailable) }
}

fn scaled(v: &IntOrString, total: i32, round_up: bool) -> i32 {
    match v {
        IntOrString::Int(n) => (*n).max(0),
        IntOrString::String(s) => {
            let pct: i64 = s.trim_end_matches('%').parse().unwrap_or(0);
            let x = pct * i64::from(total);
            let r = if round_up { (x + 99) / 100 } else { x / 100 };
            i32::try_from(r.max(0)).unwrap_or(i32::MAX)
        }
    }
}

/// One ReplicaSet as the arithmetic sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rs {
    pub spec: i32,
    pub available: i32,
}

/// New replica count for the new ReplicaSet in a rolling update.
pub fn new_rs_replicas(desired: i32, surge: i32, new: &Rs, all_spec_total: i32) -> i32 {
    if new.spec >= desired {
        return desired;
    }
    let max_total = desired + surge;
    if all_spec_total >= max_total {
        return new.spec;
    }
    let up = (max_total - all_spec_total).min(desired - new.spec);
    new.spec + up
}

/// New spec for each old ReplicaSet (ordered oldest first) in a rolling
/// update: unhealthy replicas go first, then available ones while at least
/// `desired - maxUnavailable` stay available.
pub fn scale_down_old(desired: i32, unavailable: i32, new: &Rs, old: &[Rs]) -> Vec<i32> {
    let mut specs: Vec<i32> = old.iter().map(|r| r.spec).collect();
    let all: i32 = new.spec + specs.iter().sum::<i32>();
    let min_available = desired - unavailable;
    let new_unavailable = (new.spec - new.available).max(0);
    let mut max_down = all - min_available - new_unavailable;
    if max_down <= 0 {
        return specs;
    }
    for (i, r) in old.iter().enumerate() {
        let unhealthy = (specs[i] - r.available).max(0);
        let d = unhealthy.min(max_down);
        specs[i] -= d;
        max_down -= d;
    }
    let available: i32 = new.available + old.iter().zip(&specs).map(|(r, s)| r.available.min(*s)).sum::<i32>();
    if available <= min_available {
        return specs;
    }
    let mut budget = available - min_available;
    for s in specs.iter_mut() {
        let d = (*s).min(budget);
        *s -= d;
        budget -= d;
        if budget == 0 {
            break;
        }
    }
    specs
}

/// Kubernetes' `pod-template-hash`: FNV-1a (32 bit) of the template,
/// rendered with the alphabet of generated names.
pub fn template_hash(template_json: &[u8], collision_count: i32) -> String {
    let mut h: u32 = 0x811c_9dc5;
    let mut feed = |b: u8| {
        h ^= u32::from(b);
        h = h.wrapping_mul(0x0100_0193);
    };
    template_json.iter().copied().for_each(&mut feed);
    if collision_count > 0 {
        collision_count.to_le_bytes().iter().copied().for_each(&mut feed);
    }
    safe_encode(&h.to_string())
}

fn safe_encode(s: &str) -> String {
    const ALPHANUMS: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";
    s.bytes().map(|b| ALPHANUMS[(b as usize) % ALPHANUMS.len()] as char).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fenceposts_round_like_kubernetes() {
        let pct = |s: &str| IntOrString::String(s.into());
        assert_eq!(fenceposts(None, None, 4), (1, 1));
        assert_eq!(fenceposts(Some(&pct("25%")), Some(&pct("25%")), 3), (1, 0));
        assert_eq!(fenceposts(Some(&IntOrString::Int(0)), Some(&IntOrString::Int(0)), 3), (0, 1));
        assert_eq!(fenceposts(Some(&IntOrString::Int(2)), Some(&pct("50%")), 3), (2, 1));
    }

    #[test]
    fn rolling_update_respects_surge_and_unavailable() {
        // desired 3, surge 1, unavailable 0: one new pod at a time.
        let new = Rs { spec: 0, available: 0 };
        assert_eq!(new_rs_replicas(3, 1, &new, 3), 1);
        let new = Rs { spec: 1, available: 0 };
        // New pod not yet available: nothing old may go.
        assert_eq!(scale_down_old(3, 0, &new, &[Rs { spec: 3, available: 3 }]), vec![3]);
        let new = Rs { spec: 1, available: 1 };
        assert_eq!(scale_down_old(3, 0, &new, &[Rs { spec: 3, available: 3 }]), vec![2]);
        // Unhealthy old replicas are removed first, within the budget
        // (4 pods - 2 must stay available - 1 new pod not yet available).
        let new = Rs { spec: 1, available: 0 };
        assert_eq!(scale_down_old(3, 1, &new, &[Rs { spec: 3, available: 1 }]), vec![2]);
        // Scaling down the new set when desired drops.
        assert_eq!(new_rs_replicas(2, 1, &Rs { spec: 5, available: 5 }, 5), 2);
    }

    #[test]
    fn template_hash_is_stable_and_sensitive() {
        let a = template_hash(br#"{"a":1}"#, 0);
        assert_eq!(a, template_hash(br#"{"a":1}"#, 0));
        assert_ne!(a, template_hash(br#"{"a":2}"#, 0));
        assert!(a.chars().all(|c| c.is_ascii_alphanumeric()));
    }
}
