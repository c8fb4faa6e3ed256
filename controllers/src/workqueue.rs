//! The work queue every controller reads its keys from (client-go's `workqueue`).
//!
//! A key is queued at most once at a time, however many events name it: a burst of pod events
//! becomes one reconcile of their owner. A key can also be queued for later
//! ([`add_after`](WorkQueue::add_after)), and a key whose reconcile failed is retried with a
//! per-key exponential back-off ([`add_rate_limited`](WorkQueue::add_rate_limited)) of
//! 5 ms doubling up to 1000 s, client-go's `ItemExponentialFailureRateLimiter` defaults, until
//! [`forget`](WorkQueue::forget) clears the key's failure count after a success. (client-go's
//! default controller limiter also has an overall 10 qps token bucket; Flotilla leaves that out,
//! since in a simulation it would only slow every controller down uniformly.)
//!
//! Time is passed in: a delayed key becomes ready when [`pop`](WorkQueue::pop) is called at or
//! after its time, and [`next_wakeup`](WorkQueue::next_wakeup) says when that is.

use std::collections::{BTreeMap, BTreeSet, VecDeque};

use flotilla_model::{Duration, Time};

/// The first retry delay of a failing key (client-go: 5 ms).
pub const BASE_RETRY_DELAY: Duration = Duration::from_millis(5);
/// The longest retry delay of a failing key (client-go: 1000 s).
pub const MAX_RETRY_DELAY: Duration = Duration::from_secs(1000);

/// A de-duplicating queue of keys with delayed adds and per-key retry back-off.
#[derive(Clone, Debug)]
pub struct WorkQueue<K: Ord + Clone> {
    ready: VecDeque<K>,
    queued: BTreeSet<K>,
    delayed: BTreeMap<(Time, u64), K>,
    delayed_at: BTreeMap<K, (Time, u64)>,
    failures: BTreeMap<K, u32>,
    seq: u64,
}

impl<K: Ord + Clone> Default for WorkQueue<K> {
    fn default() -> Self {
        WorkQueue {
            ready: VecDeque::new(),
            queued: BTreeSet::new(),
            delayed: BTreeMap::new(),
            delayed_at: BTreeMap::new(),
            failures: BTreeMap::new(),
            seq: 0,
        }
    }
}

impl<K: Ord + Clone> WorkQueue<K> {
    /// An empty queue.
    pub fn new() -> Self {
        Self::default()
    }

    /// Queues `key` now, unless it is queued already. A delayed add of the same key stays
    /// pending (it is harmless: the key is reconciled again then).
    pub fn add(&mut self, key: K) {
        if self.queued.insert(key.clone()) {
            self.ready.push_back(key);
        }
    }

    /// Queues `key` at `at`. Of several delayed adds of one key the earliest wins.
    pub fn add_after(&mut self, key: K, at: Time) {
        if let Some(&(existing, seq)) = self.delayed_at.get(&key) {
            if existing <= at {
                return;
            }
            self.delayed.remove(&(existing, seq));
        }
        self.seq += 1;
        self.delayed.insert((at, self.seq), key.clone());
        self.delayed_at.insert(key, (at, self.seq));
    }

    /// Queues `key` again after its back-off (5 ms · 2^failures, at most 1000 s) and counts a
    /// failure; returns when it will be ready.
    pub fn add_rate_limited(&mut self, key: K, now: Time) -> Time {
        let failures = self.failures.entry(key.clone()).or_insert(0);
        let delay = retry_delay(*failures);
        *failures = failures.saturating_add(1);
        let at = now.saturating_add(delay);
        self.add_after(key, at);
        at
    }

    /// How many times `key` has failed since it was last forgotten.
    pub fn failures(&self, key: &K) -> u32 {
        self.failures.get(key).copied().unwrap_or(0)
    }

    /// Clears `key`'s failure count (after a successful reconcile).
    pub fn forget(&mut self, key: &K) {
        self.failures.remove(key);
    }

    /// The next key ready at `now`, oldest first. Delayed keys whose time has come join the
    /// back of the ready queue, in time order, first.
    pub fn pop(&mut self, now: Time) -> Option<K> {
        self.promote(now);
        let key = self.ready.pop_front()?;
        self.queued.remove(&key);
        Some(key)
    }

    /// Whether a key is ready at `now`.
    pub fn has_ready(&mut self, now: Time) -> bool {
        self.promote(now);
        !self.ready.is_empty()
    }

    fn promote(&mut self, now: Time) {
        while let Some(entry) = self.delayed.first_entry() {
            if entry.key().0 > now {
                break;
            }
            let key = entry.remove();
            self.delayed_at.remove(&key);
            self.add(key);
        }
    }

    /// The time of the earliest delayed key, if any.
    pub fn next_wakeup(&self) -> Option<Time> {
        self.delayed.keys().next().map(|&(t, _)| t)
    }

    /// Keys ready or delayed.
    pub fn len(&self) -> usize {
        self.ready.len() + self.delayed.len()
    }

    /// Whether nothing is queued, now or later.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// The back-off after `failures` earlier failures: 5 ms · 2^failures, capped at 1000 s.
pub fn retry_delay(failures: u32) -> Duration {
    let factor = 1u64.checked_shl(failures.min(40)).unwrap_or(u64::MAX);
    let nanos = (BASE_RETRY_DELAY.as_nanos() as u64).saturating_mul(factor);
    Duration::from_nanos(nanos).min(MAX_RETRY_DELAY)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_key_is_queued_once() {
        let mut q = WorkQueue::new();
        q.add("a");
        q.add("b");
        q.add("a");
        assert_eq!(q.pop(Time::ZERO), Some("a"));
        assert_eq!(q.pop(Time::ZERO), Some("b"));
        assert_eq!(q.pop(Time::ZERO), None);
        q.add("a");
        assert_eq!(q.pop(Time::ZERO), Some("a"));
    }

    #[test]
    fn delayed_keys_wait_for_their_time_and_the_earliest_wins() {
        let mut q = WorkQueue::new();
        q.add_after("a", Time::from_secs(10));
        q.add_after("a", Time::from_secs(5));
        q.add_after("a", Time::from_secs(7));
        assert_eq!(q.next_wakeup(), Some(Time::from_secs(5)));
        assert_eq!(q.pop(Time::from_secs(4)), None);
        assert_eq!(q.pop(Time::from_secs(5)), Some("a"));
        assert!(q.is_empty());
    }

    #[test]
    fn retries_back_off_exponentially_until_forgotten() {
        let mut q = WorkQueue::new();
        let now = Time::from_secs(100);
        assert_eq!(q.add_rate_limited("k", now), now + Duration::from_millis(5));
        q.pop(Time::from_secs(101));
        assert_eq!(
            q.add_rate_limited("k", now),
            now + Duration::from_millis(10)
        );
        q.pop(Time::from_secs(101));
        assert_eq!(
            q.add_rate_limited("k", now),
            now + Duration::from_millis(20)
        );
        q.forget(&"k");
        q.pop(Time::from_secs(101));
        assert_eq!(q.add_rate_limited("k", now), now + Duration::from_millis(5));
        assert_eq!(retry_delay(30), MAX_RETRY_DELAY);
        assert_eq!(retry_delay(u32::MAX), MAX_RETRY_DELAY);
    }
}
