//! A simulated fleet of serving pods that obey `status.traffic` the way berth-serve
//! does, so the rollout engine can be driven through whole rollouts in tests.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::time::Duration;

use berth_rollout::{
    AnalysisLimits, CounterSnapshot, Decision, Input, LatencyBucket, Observations, PodObservation, Policy,
    RolloutState, Spec, Step, Time, VersionReport, VersionState, decide, effective_weights,
};

/// How a version behaves once a pod has it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Behaviour {
    Good,
    LoadFails,
    /// Kills the process while loading.
    Crash,
    /// Never finishes loading.
    Hangs,
    /// Fails this fraction of requests.
    Errors(f64),
    /// Answers in one second.
    Slow,
    /// Answers fast and without errors, but its answers agree with stable's this much
    /// on average (cosine similarity).
    Disagrees(f64),
    /// Answers with another output width than the others (another embedding space).
    Wider,
    /// Loads, then fails the golden set in every pod.
    FailsGoldenSet,
}

impl Behaviour {
    fn width(self) -> u64 {
        if self == Behaviour::Wider { 64 } else { 32 }
    }

    /// Mean agreement with stable of a compared input; `None`: cannot be compared.
    fn agreement(self) -> Option<f64> {
        match self {
            Behaviour::Disagrees(a) => Some(a),
            Behaviour::Wider => None,
            _ => Some(1.0),
        }
    }
}

#[derive(Debug, Clone)]
pub struct SimPod {
    pub name: String,
    pub versions: BTreeMap<String, VersionReport>,
    pub restarts: i32,
    pub last_terminated_at: Option<Time>,
}

pub struct Sim {
    pub spec: Spec,
    pub status: RolloutState,
    pub generation: i64,
    pub pods: Vec<SimPod>,
    pub behaviour: BTreeMap<String, Behaviour>,
    pub counters: BTreeMap<String, CounterSnapshot>,
    pub now: Time,
    pub abort: bool,
    pub promote: bool,
    pub requests_per_pod: u64,
}

/// A spec with short steps and the API's defaults elsewhere.
pub fn spec(version: &str, replicas: i32) -> Spec {
    Spec {
        version: version.to_string(),
        replicas,
        rollout: Policy {
            steps: vec![
                Step { weight: 10.0, pause: Some(Duration::from_secs(10)), mirror: None },
                Step { weight: 50.0, pause: Some(Duration::from_secs(10)), mirror: None },
                Step { weight: 100.0, pause: None, mirror: None },
            ],
            analysis: AnalysisLimits {
                interval: Duration::from_secs(5),
                max_error_rate: 0.01,
                max_p99_latency: Duration::from_millis(500),
                min_requests: 10,
                failure_limit: 2,
                min_agreement: None,
                min_agreement_samples: 20,
                embedding_space_guard: true,
            },
            load_timeout: Duration::from_secs(60),
            max_loading_pods: 1,
            paused: false,
            allow_embedding_space_change: false,
        },
    }
}

pub fn start() -> Time {
    Time::from_unix_seconds(1_800_000_000)
}

impl Sim {
    pub fn new(spec: Spec) -> Self {
        let pods = (0..spec.replicas)
            .map(|i| SimPod {
                name: format!("pod-{i}"),
                versions: BTreeMap::new(),
                restarts: 0,
                last_terminated_at: None,
            })
            .collect();
        Self {
            spec,
            status: RolloutState::default(),
            generation: 1,
            pods,
            behaviour: BTreeMap::new(),
            counters: BTreeMap::new(),
            now: start(),
            abort: false,
            promote: false,
            requests_per_pod: 50,
        }
    }

    pub fn observations(&self) -> Observations {
        let pods = self
            .pods
            .iter()
            .map(|p| PodObservation {
                name: p.name.clone(),
                ready: p.versions.values().any(|r| r.state == VersionState::Available),
                restarts: p.restarts,
                last_terminated_at: p.last_terminated_at,
                reports: Some(p.versions.values().cloned().collect()),
            })
            .collect::<Vec<_>>();
        let ready = pods.iter().filter(|p| p.ready).count() as i32;
        let output_widths = self
            .pods
            .iter()
            .flat_map(|p| p.versions.values())
            .filter(|r| r.state == VersionState::Available)
            .map(|r| (r.version.clone(), self.behaviour(&r.version).width()))
            .collect();
        Observations {
            pods,
            counters: self.counters.clone(),
            ready_replicas: ready,
            rolling_update: None,
            output_widths,
        }
    }

    pub fn decide(&self) -> Decision {
        let obs = self.observations();
        let input = Input {
            spec: &self.spec,
            generation: Some(self.generation),
            status: &self.status,
            abort: self.abort,
            promote: self.promote,
            obs: &obs,
            now: self.now,
        };
        decide(&input)
    }

    /// One reconcile: decide and adopt the decision.
    pub fn reconcile(&mut self) -> Decision {
        let d = self.decide();
        self.status = d.status.clone();
        if d.clear_annotations {
            self.abort = false;
            self.promote = false;
        }
        d
    }

    fn behaviour(&self, version: &str) -> Behaviour {
        self.behaviour.get(version).copied().unwrap_or(Behaviour::Good)
    }

    /// Time passes: pods converge on the traffic table by one step and serve requests.
    pub fn advance(&mut self, by: Duration) {
        self.now = self.now.checked_add(by).unwrap_or_else(|| panic!("time overflow"));
        let table = self.status.traffic.clone();
        let canary = self.status.canary_version.clone();
        let allowed = self.status.canary_pods.clone();
        let behaviours: BTreeMap<String, Behaviour> =
            table.iter().map(|t| (t.version.clone(), self.behaviour(&t.version))).collect();
        let now = self.now;
        for pod in &mut self.pods {
            let may_load =
                |v: &str| Some(v) != canary.as_deref() || allowed.as_ref().is_none_or(|a| a.contains(&pod.name));
            let wanted: Vec<String> = table.iter().map(|t| t.version.clone()).filter(|v| may_load(v)).collect();
            pod.versions.retain(|v, r| wanted.contains(v) || r.error.is_some());
            let mut crashed = false;
            for version in &wanted {
                let b = behaviours.get(version).copied().unwrap_or(Behaviour::Good);
                match pod.versions.get(version).map(|r| r.state) {
                    None => {
                        pod.versions.insert(
                            version.clone(),
                            VersionReport {
                                version: version.clone(),
                                state: VersionState::Loading,
                                error: None,
                                failed_golden_set: false,
                            },
                        );
                    }
                    Some(VersionState::Loading) => match b {
                        Behaviour::Hangs => {}
                        Behaviour::Crash => crashed = true,
                        Behaviour::LoadFails | Behaviour::FailsGoldenSet => {
                            let golden = b == Behaviour::FailsGoldenSet;
                            let error =
                                if golden { "accuracy 0.00 < minAccuracy 0.90" } else { "model.onnx: no such file" };
                            pod.versions.insert(
                                version.clone(),
                                VersionReport {
                                    version: version.clone(),
                                    state: VersionState::End,
                                    error: Some(error.into()),
                                    failed_golden_set: golden,
                                },
                            );
                        }
                        _ => {
                            if let Some(r) = pod.versions.get_mut(version) {
                                r.state = VersionState::Available;
                            }
                        }
                    },
                    _ => {}
                }
            }
            if crashed {
                pod.versions.clear();
                pod.restarts += 1;
                pod.last_terminated_at = Some(now);
            }
        }
        // Mirrored copies of what stable answers go to the canary where a pod has both.
        let mirror = self.status.mirror.unwrap_or(0.0);
        let stable = self.status.stable_version.clone();
        if let (Some(canary), Some(stable)) = (canary.as_deref(), stable.as_deref())
            && mirror > 0.0
        {
            let b = behaviours.get(canary).copied().unwrap_or(Behaviour::Good);
            let has = |p: &SimPod, v: &str| p.versions.get(v).is_some_and(|r| r.state == VersionState::Available);
            for pod in self.pods.iter().filter(|p| has(p, canary) && has(p, stable)) {
                let stable_share = effective_weights(&table, |v| has(pod, v))
                    .iter()
                    .find(|w| w.version == stable)
                    .map_or(0.0, |w| w.weight);
                let n = (self.requests_per_pod as f64 * stable_share / 100.0 * mirror / 100.0).round() as u64;
                let c = self.counters.entry(canary.to_string()).or_default();
                let failed = if let Behaviour::Errors(rate) = b { (n as f64 * rate).round() as u64 } else { 0 };
                c.requests += n;
                c.errors += failed;
                if let Some(agreement) = b.agreement() {
                    c.agreement_samples += n - failed;
                    c.agreement_sum += (n - failed) as f64 * agreement;
                }
            }
        }
        // Requests: each pod splits by the weights it can apply.
        for pod in &self.pods {
            let weights =
                effective_weights(&table, |v| pod.versions.get(v).is_some_and(|r| r.state == VersionState::Available));
            for w in weights {
                let n = (self.requests_per_pod as f64 * w.weight / 100.0).round() as u64;
                let b = behaviours.get(&w.version).copied().unwrap_or(Behaviour::Good);
                let c = self.counters.entry(w.version.clone()).or_default();
                c.requests += n;
                c.latency_count += n;
                if let Behaviour::Errors(rate) = b {
                    c.errors += (n as f64 * rate).round() as u64;
                }
                let le = if b == Behaviour::Slow { 2.5 } else { 0.025 };
                for bound in [0.025, 0.1, 0.5, 2.5] {
                    let add = if bound >= le { n } else { 0 };
                    match c.latency_buckets.iter_mut().find(|x| x.le == bound) {
                        Some(x) => x.count += add,
                        None => c.latency_buckets.push(LatencyBucket { le: bound, count: add }),
                    }
                }
            }
        }
    }

    /// Reconcile and advance until `done` or `max` rounds; returns every decision.
    pub fn run(&mut self, tick: Duration, max: usize, done: impl Fn(&Sim) -> bool) -> Vec<Decision> {
        let mut decisions = Vec::new();
        for _ in 0..max {
            decisions.push(self.reconcile());
            if done(self) {
                break;
            }
            self.advance(tick);
        }
        decisions
    }

    /// Serve `version` as stable with every pod having it loaded.
    pub fn serving(version: &str, replicas: i32) -> Self {
        let mut sim = Sim::new(spec(version, replicas));
        sim.run(Duration::from_secs(1), 20, |s| s.status.stable_version.as_deref() == Some(version));
        sim.advance(Duration::from_secs(1));
        sim.reconcile();
        sim
    }

    pub fn set_version(&mut self, version: &str) {
        self.spec.version = version.to_string();
        self.generation += 1;
    }
}
