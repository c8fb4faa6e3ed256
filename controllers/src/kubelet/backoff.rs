//! The kubelet's per-item exponential back-off (client-go `util/flowcontrol/backoff.go`), used
//! for crash loops (`CrashLoopBackOff`) and failed image pulls (`ImagePullBackOff`), and Go's
//! duration printing, which the kubelet's messages use (`back-off 40s`, `back-off 5m0s`).
//!
//! The kubelet creates both with an initial 10 s and a 300 s cap and no jitter
//! (kubelet.go `backOffPeriod`, `MaxContainerBackOff`; images `MaxImageBackOff`).

use std::collections::BTreeMap;

use flotilla_model::{Duration, Time};

/// The initial back-off of crash loops and image pulls (kubelet.go `backOffPeriod`).
pub const BACK_OFF_PERIOD: Duration = Duration::from_secs(10);
/// The cap of the crash-loop back-off (kubelet.go `MaxContainerBackOff`).
pub const MAX_CONTAINER_BACK_OFF: Duration = Duration::from_secs(300);
/// The cap of the image-pull back-off (kubelet.go `MaxImageBackOff`).
pub const MAX_IMAGE_BACK_OFF: Duration = Duration::from_secs(300);

#[derive(Clone, Debug)]
struct Entry {
    backoff: Duration,
    last_update: Time,
}

/// Per-key exponential back-off (flowcontrol `Backoff`, without jitter).
#[derive(Clone, Debug)]
pub struct Backoff {
    initial: Duration,
    max: Duration,
    entries: BTreeMap<String, Entry>,
}

impl Backoff {
    /// A back-off starting at `initial` and doubling up to `max`.
    pub fn new(initial: Duration, max: Duration) -> Backoff {
        Backoff {
            initial,
            max,
            entries: BTreeMap::new(),
        }
    }

    /// backoff.go `hasExpired`: after twice the cap without an update, the back-off starts over
    /// ("consider stable if it's ok for twice the maxDuration").
    fn has_expired(&self, event_time: Time, last_update: Time) -> bool {
        event_time.saturating_duration_since(last_update) > self.max * 2
    }

    /// backoff.go `Next`: starts the key at the initial back-off (new, or expired since
    /// `event_time`), else doubles it up to the cap; the update time is `now`.
    pub fn next(&mut self, key: &str, event_time: Time, now: Time) {
        let expired = self
            .entries
            .get(key)
            .is_none_or(|e| self.has_expired(event_time, e.last_update));
        let backoff = match self.entries.get(key) {
            Some(e) if !expired => (e.backoff * 2).min(self.max),
            _ => self.initial,
        };
        self.entries.insert(
            key.to_string(),
            Entry {
                backoff,
                last_update: now,
            },
        );
    }

    /// The current back-off of `key` (zero when it has none): backoff.go `Get`.
    pub fn get(&self, key: &str) -> Duration {
        self.entries.get(key).map_or(Duration::ZERO, |e| e.backoff)
    }

    /// backoff.go `IsInBackOffSince`: whether `now` is within the back-off counted from
    /// `event_time` (a container's `finishedAt`). Returns when it ends, if it does.
    pub fn in_back_off_since(&self, key: &str, event_time: Time, now: Time) -> Option<Time> {
        let e = self.entries.get(key)?;
        if self.has_expired(event_time, e.last_update) {
            return None;
        }
        let end = event_time.saturating_add(e.backoff);
        (now < end).then_some(end)
    }

    /// backoff.go `IsInBackOffSinceUpdate`: whether `now` is within the back-off counted from
    /// the key's last update. Returns when it ends, if it does.
    pub fn in_back_off_since_update(&self, key: &str, now: Time) -> Option<Time> {
        let e = self.entries.get(key)?;
        if self.has_expired(now, e.last_update) {
            return None;
        }
        let end = e.last_update.saturating_add(e.backoff);
        (now < end).then_some(end)
    }

    /// Forgets every key starting with `prefix` (a pod's keys when it goes).
    pub fn forget_prefix(&mut self, prefix: &str) {
        self.entries.retain(|k, _| !k.starts_with(prefix));
    }

    /// backoff.go `GC`: drops entries not updated for twice the cap.
    pub fn gc(&mut self, now: Time) {
        let max = self.max;
        self.entries
            .retain(|_, e| now.saturating_duration_since(e.last_update) <= max * 2);
    }
}

/// Prints a duration as Go's `time.Duration.String` does: `10s`, `1m20s`, `5m0s`, `1.5s`,
/// `250ms`, `0s`.
pub fn go_duration(d: Duration) -> String {
    let nanos = d.as_nanos();
    if nanos == 0 {
        return "0s".to_string();
    }
    if nanos < 1_000_000_000 {
        // Sub-second: the largest of ns, µs, ms that keeps a whole part.
        let (unit, scale) = if nanos < 1_000 {
            ("ns", 1)
        } else if nanos < 1_000_000 {
            ("µs", 1_000)
        } else {
            ("ms", 1_000_000)
        };
        return format!("{}{unit}", fraction(nanos, scale));
    }
    let total_secs = nanos / 1_000_000_000;
    let frac = nanos % 1_000_000_000;
    let hours = total_secs / 3600;
    let minutes = (total_secs % 3600) / 60;
    let secs = total_secs % 60;
    let mut out = String::new();
    if hours > 0 {
        out.push_str(&format!("{hours}h"));
    }
    if hours > 0 || minutes > 0 {
        out.push_str(&format!("{minutes}m"));
    }
    out.push_str(&fraction(secs * 1_000_000_000 + frac, 1_000_000_000));
    out.push('s');
    out
}

/// `value / scale` with the fraction's trailing zeros trimmed.
fn fraction(value: u128, scale: u128) -> String {
    let whole = value / scale;
    let rest = value % scale;
    if rest == 0 {
        return whole.to_string();
    }
    let width = scale.to_string().len() - 1;
    let digits = format!("{rest:0width$}");
    format!("{whole}.{}", digits.trim_end_matches('0'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_durations_print_like_go() {
        assert_eq!(go_duration(Duration::from_secs(10)), "10s");
        assert_eq!(go_duration(Duration::from_secs(80)), "1m20s");
        assert_eq!(go_duration(Duration::from_secs(300)), "5m0s");
        assert_eq!(go_duration(Duration::from_millis(1500)), "1.5s");
        assert_eq!(go_duration(Duration::from_millis(250)), "250ms");
        assert_eq!(go_duration(Duration::from_secs(3725)), "1h2m5s");
        assert_eq!(go_duration(Duration::ZERO), "0s");
    }

    #[test]
    fn back_off_doubles_to_the_cap_and_resets_after_twice_the_cap() {
        let mut b = Backoff::new(BACK_OFF_PERIOD, MAX_CONTAINER_BACK_OFF);
        let t = |s| Time::from_secs(s);
        assert_eq!(b.in_back_off_since("k", t(0), t(0)), None);
        b.next("k", t(0), t(0));
        assert_eq!(b.get("k"), Duration::from_secs(10));
        assert_eq!(b.in_back_off_since("k", t(1), t(5)), Some(t(11)));
        for expected in [20, 40, 80, 160, 300, 300] {
            b.next("k", t(2), t(2));
            assert_eq!(b.get("k"), Duration::from_secs(expected));
        }
        // An exit more than 600 s after the last update starts over.
        assert_eq!(b.in_back_off_since("k", t(603), t(603)), None);
        b.next("k", t(603), t(603));
        assert_eq!(b.get("k"), Duration::from_secs(10));
    }
}
