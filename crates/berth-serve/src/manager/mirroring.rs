//! Which requests are copied to the canary (`status.canaryVersion` at `status.mirror`
//! percent) and when a copy may run. A copy runs on the same cores as the clients'
//! requests and cannot be preempted once it is in ONNX Runtime, so "spare capacity"
//! is enforced three ways: one copy in flight per model, nothing of a client's waiting
//! at stable or the canary when it starts, and a budget of the serving time copies may
//! use (`--mirror_budget`, a token bucket charged with each copy's measured run time).
//! A copy refused for any of these is dropped and counted, never queued.

use std::sync::{Arc, Mutex, RwLock};
use std::time::Instant;

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use super::VersionId;
use crate::engine::Version;

/// Mirrored copies in flight per model. One is enough to measure agreement at any
/// request rate (a share of requests, not all of them, is what a gate needs).
const MIRRORS_IN_FLIGHT: usize = 1;
/// At most this many seconds of wall time's budget is saved up, so an idle minute does
/// not buy a burst of copies that would all land on the next clients.
const BURST_SECONDS: f64 = 1.0;

/// The copy budget as a token bucket of seconds of copy run time.
#[derive(Debug)]
struct Budget {
    /// Seconds copies may still run; negative after a copy that overran.
    available: f64,
    refilled: Instant,
}

#[derive(Debug)]
pub struct Mirroring {
    target: RwLock<Option<(VersionId, f64)>>,
    permits: Arc<Semaphore>,
    /// Share of wall time copies may run (0-1); 1 turns the budget off.
    fraction: f64,
    budget: Mutex<Budget>,
}

/// A copy allowed to run: holds the in-flight permit and charges the budget with the
/// copy's run time when dropped.
pub struct MirrorTicket {
    pub version: Arc<Version>,
    owner: Arc<Mirroring>,
    started: Instant,
    _permit: OwnedSemaphorePermit,
}

impl Drop for MirrorTicket {
    fn drop(&mut self) {
        self.owner.charge(self.started.elapsed().as_secs_f64());
    }
}

/// Why a drawn copy was not sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refused {
    /// A client's request is queued at stable or the canary.
    Busy,
    /// Another copy is in flight.
    InFlight,
    /// The copy budget is spent.
    Budget,
}

impl Mirroring {
    pub fn new(fraction: f64) -> Arc<Self> {
        let fraction = if fraction.is_finite() { fraction.clamp(0.0, 1.0) } else { 1.0 };
        Arc::new(Self {
            target: RwLock::new(None),
            permits: Arc::new(Semaphore::new(MIRRORS_IN_FLIGHT)),
            fraction,
            budget: Mutex::new(Budget { available: fraction * BURST_SECONDS, refilled: Instant::now() }),
        })
    }

    pub fn set(&self, target: Option<(VersionId, f64)>) {
        match self.target.write() {
            Ok(mut t) => *t = target,
            Err(poisoned) => *poisoned.into_inner() = target,
        }
    }

    /// The version a copy of a request `answered_by` answers would go to, drawn at
    /// the mirror's share (`draw` in [0, 1)); None when not mirroring or not drawn.
    pub fn draw(&self, answered_by: &VersionId, draw: f64) -> Option<VersionId> {
        let (target, percent) = match self.target.read() {
            Ok(t) => t.clone()?,
            Err(poisoned) => poisoned.into_inner().clone()?,
        };
        (&target != answered_by && draw * 100.0 < percent).then_some(target)
    }

    /// Lets a copy to `canary` run now, after `stable` answered its request.
    pub fn admit(self: &Arc<Self>, canary: Arc<Version>, stable: &Version) -> Result<MirrorTicket, Refused> {
        if !canary.is_idle() || !stable.is_idle() {
            return Err(Refused::Busy);
        }
        if self.fraction < 1.0 && !self.has_budget(Instant::now()) {
            return Err(Refused::Budget);
        }
        let permit = Arc::clone(&self.permits).try_acquire_owned().map_err(|_| Refused::InFlight)?;
        Ok(MirrorTicket { version: canary, owner: Arc::clone(self), started: Instant::now(), _permit: permit })
    }

    fn has_budget(&self, now: Instant) -> bool {
        let mut b = self.lock_budget();
        let earned = now.saturating_duration_since(b.refilled).as_secs_f64() * self.fraction;
        b.available = (b.available + earned).min(self.fraction * BURST_SECONDS);
        b.refilled = now;
        b.available > 0.0
    }

    fn charge(&self, seconds: f64) {
        if self.fraction < 1.0 {
            self.lock_budget().available -= seconds;
        }
    }

    fn lock_budget(&self) -> std::sync::MutexGuard<'_, Budget> {
        match self.budget.lock() {
            Ok(b) => b,
            Err(poisoned) => poisoned.into_inner(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn copies_are_drawn_at_the_share_and_never_of_the_canary_itself() {
        let m = Mirroring::new(1.0);
        let (stable, canary) = (VersionId::from(1), VersionId::from(2));
        assert_eq!(m.draw(&stable, 0.0), None, "not mirroring");
        m.set(Some((canary.clone(), 25.0)));
        assert_eq!(m.draw(&stable, 0.24), Some(canary.clone()));
        assert_eq!(m.draw(&stable, 0.25), None);
        assert_eq!(m.draw(&canary, 0.0), None);
    }

    #[test]
    fn the_budget_refills_at_its_fraction_of_wall_time() {
        let m = Mirroring::new(0.02);
        let t0 = Instant::now();
        assert!(m.has_budget(t0));
        // A 50 ms copy overdraws the 20 ms burst: 30 ms in debt, repaid at 20 ms/s.
        m.charge(0.050);
        assert!(!m.has_budget(t0 + Duration::from_millis(1000)));
        assert!(m.has_budget(t0 + Duration::from_millis(1600)));
        // Saved-up budget is capped at one second's worth.
        let m = Mirroring::new(0.02);
        assert!(m.has_budget(t0 + Duration::from_secs(60)));
        m.charge(0.021);
        assert!(!m.has_budget(t0 + Duration::from_secs(60)));
    }

    #[test]
    fn a_full_budget_is_never_charged() {
        let m = Mirroring::new(1.0);
        m.charge(100.0);
        assert!(m.has_budget(Instant::now()));
    }
}
