//! Turns the kubelet's runtime state into a Pod `status` the way the real
//! kubelet reports it (phase, conditions, containerStatuses).
use jiff::Timestamp;
use k8s_openapi::api::core::v1::{
    ContainerState, ContainerStateRunning, ContainerStateTerminated, ContainerStateWaiting, ContainerStatus,
    PodCondition, PodIP, PodStatus,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;

use super::state::{CState, ContainerRuntime, PodRuntime, Terminated};

pub fn phase(rt: &PodRuntime) -> &'static str {
    let regular: Vec<&ContainerRuntime> = rt.containers.iter().filter(|c| !c.init).collect();
    let init_failed = rt
        .containers
        .iter()
        .any(|c| c.init && c.done && !matches!(&c.state, CState::Terminated(t) if t.exit_code == 0));
    if init_failed {
        return "Failed";
    }
    if regular.iter().any(|c| !c.ever_ran) {
        return "Pending";
    }
    if regular.iter().all(|c| c.done) {
        let ok = regular.iter().all(|c| matches!(&c.state, CState::Terminated(t) if t.exit_code == 0));
        return if ok { "Succeeded" } else { "Failed" };
    }
    "Running"
}

fn time(t: Timestamp) -> Time {
    Time(t)
}

fn terminated(t: &Terminated) -> ContainerStateTerminated {
    ContainerStateTerminated {
        exit_code: t.exit_code,
        reason: Some(t.reason.clone()),
        message: t.message.clone(),
        started_at: t.started_at.map(time),
        finished_at: Some(time(t.finished_at)),
        ..Default::default()
    }
}

fn state(s: &CState) -> ContainerState {
    match s {
        CState::Waiting { reason, message } => ContainerState {
            waiting: Some(ContainerStateWaiting { reason: Some(reason.clone()), message: message.clone() }),
            ..Default::default()
        },
        CState::Running { started_at } => ContainerState {
            running: Some(ContainerStateRunning { started_at: Some(time(*started_at)) }),
            ..Default::default()
        },
        CState::Terminated(t) => ContainerState { terminated: Some(terminated(t)), ..Default::default() },
    }
}

fn container_status(c: &ContainerRuntime, pod_uid: &str) -> ContainerStatus {
    ContainerStatus {
        name: c.name.clone(),
        image: c.image.clone(),
        image_id: format!("berth-local://{}", c.image),
        container_id: c.ever_ran.then(|| format!("berth-local://{pod_uid}/{}", c.name)),
        ready: c.ready,
        started: Some(c.started),
        restart_count: c.restart_count,
        state: Some(state(&c.state)),
        last_state: c
            .last_terminated
            .as_ref()
            .map(|t| ContainerState { terminated: Some(terminated(t)), ..Default::default() }),
        ..Default::default()
    }
}

fn condition(kind: &str, ok: bool, since: Timestamp, reason: Option<&str>) -> PodCondition {
    PodCondition {
        type_: kind.to_string(),
        status: if ok { "True" } else { "False" }.to_string(),
        last_transition_time: Some(time(since)),
        reason: reason.map(str::to_string),
        ..Default::default()
    }
}

/// The full status; `pod_uid` names container IDs.
pub fn pod_status(rt: &PodRuntime, pod_uid: &str) -> PodStatus {
    let phase = phase(rt);
    let regular: Vec<&ContainerRuntime> = rt.containers.iter().filter(|c| !c.init).collect();
    let initialized = rt.containers.iter().filter(|c| c.init).all(|c| c.done);
    let ready = phase == "Running" && !regular.is_empty() && regular.iter().all(|c| c.ready);
    let since = rt.ready_since.map(|(_, t)| t).unwrap_or(rt.start_time);
    let not_ready_reason = (!ready).then_some(if phase == "Succeeded" || phase == "Failed" {
        "PodCompleted"
    } else {
        "ContainersNotReady"
    });
    let mut conditions = vec![
        condition("PodScheduled", true, rt.start_time, None),
        condition("Initialized", initialized, rt.start_time, None),
        condition("ContainersReady", ready, since, not_ready_reason),
        condition("Ready", ready, since, not_ready_reason),
    ];
    if let Some((reason, message)) = &rt.setup_error {
        for c in conditions.iter_mut().skip(2) {
            c.reason = Some(reason.clone());
            c.message = Some(message.clone());
        }
    }
    PodStatus {
        phase: Some(phase.to_string()),
        conditions: Some(conditions),
        host_ip: Some("127.0.0.1".into()),
        pod_ip: (!rt.pod_ip.is_empty()).then(|| rt.pod_ip.clone()),
        pod_ips: (!rt.pod_ip.is_empty()).then(|| vec![PodIP { ip: rt.pod_ip.clone() }]),
        start_time: Some(time(rt.start_time)),
        qos_class: Some("BestEffort".into()),
        container_statuses: Some(regular.iter().map(|c| container_status(c, pod_uid)).collect()),
        init_container_statuses: Some(
            rt.containers.iter().filter(|c| c.init).map(|c| container_status(c, pod_uid)).collect(),
        ),
        ..Default::default()
    }
}

/// Whether every regular container is ready (the pod's Ready condition).
pub fn is_ready(rt: &PodRuntime) -> bool {
    phase(rt) == "Running" && rt.containers.iter().filter(|c| !c.init).all(|c| c.ready)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rt(cs: Vec<ContainerRuntime>) -> PodRuntime {
        PodRuntime {
            pod_ip: "127.1.0.2".into(),
            start_time: Timestamp::now(),
            containers: cs,
            setup_error: None,
            ready_since: None,
        }
    }

    #[test]
    fn phases() {
        let mut c = ContainerRuntime::new("a", "img", false);
        assert_eq!(phase(&rt(vec![c.clone()])), "Pending");
        c.ever_ran = true;
        c.state = CState::Running { started_at: Timestamp::now() };
        assert_eq!(phase(&rt(vec![c.clone()])), "Running");
        c.done = true;
        c.state = CState::Terminated(Terminated {
            exit_code: 0,
            reason: "Completed".into(),
            message: None,
            started_at: None,
            finished_at: Timestamp::now(),
        });
        assert_eq!(phase(&rt(vec![c.clone()])), "Succeeded");
        if let CState::Terminated(t) = &mut c.state {
            t.exit_code = 2;
        }
        assert_eq!(phase(&rt(vec![c.clone()])), "Failed");
    }

    #[test]
    fn ready_condition_follows_containers() {
        let mut c = ContainerRuntime::new("a", "img", false);
        c.ever_ran = true;
        c.state = CState::Running { started_at: Timestamp::now() };
        let s = pod_status(&rt(vec![c.clone()]), "u");
        let ready = s.conditions.iter().flatten().find(|c| c.type_ == "Ready").map(|c| c.status.clone());
        assert_eq!(ready.as_deref(), Some("False"));
        c.ready = true;
        let r = rt(vec![c]);
        assert!(is_ready(&r));
        let s = pod_status(&r, "u");
        let ready = s.conditions.iter().flatten().find(|c| c.type_ == "Ready").map(|c| c.status.clone());
        assert_eq!(ready.as_deref(), Some("True"));
    }
}
