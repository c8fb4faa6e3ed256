//! The cluster's clock values: [`Time`], an instant, and [`Duration`], a span.
//!
//! The pure crates never read a clock. A driver owns the clock and passes `now: Time` into every
//! call that needs it. A `Time` counts nanoseconds since the Unix epoch, so the simulator's virtual
//! clock (which starts wherever its scenario says) and runtime-linux's wall clock share one type,
//! and timestamps print as the RFC 3339 strings Kubernetes uses (`2026-01-01T00:00:00Z`).

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

pub use std::time::Duration;

/// An instant on the cluster's clock: nanoseconds since 1970-01-01T00:00:00Z.
///
/// Serialized as an RFC 3339 timestamp in UTC, as Kubernetes' `metav1.Time` is; fractional
/// seconds are printed only when they are not zero.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Time(u64);

impl Time {
    /// The epoch, 1970-01-01T00:00:00Z.
    pub const ZERO: Time = Time(0);
    /// The latest representable instant.
    pub const MAX: Time = Time(u64::MAX);

    /// The instant `nanos` nanoseconds after the epoch.
    pub const fn from_nanos(nanos: u64) -> Time {
        Time(nanos)
    }

    /// The instant `millis` milliseconds after the epoch.
    pub const fn from_millis(millis: u64) -> Time {
        Time(millis.saturating_mul(1_000_000))
    }

    /// The instant `secs` seconds after the epoch.
    pub const fn from_secs(secs: u64) -> Time {
        Time(secs.saturating_mul(1_000_000_000))
    }

    /// Nanoseconds since the epoch.
    pub const fn as_nanos(self) -> u64 {
        self.0
    }

    /// Whole seconds since the epoch (rounded down).
    pub const fn as_secs(self) -> u64 {
        self.0 / 1_000_000_000
    }

    /// The span from `earlier` to `self`, or zero when `earlier` is later.
    pub fn saturating_duration_since(self, earlier: Time) -> Duration {
        Duration::from_nanos(self.0.saturating_sub(earlier.0))
    }

    /// `self + d`, saturating at [`Time::MAX`].
    pub fn saturating_add(self, d: Duration) -> Time {
        let nanos = u64::try_from(d.as_nanos()).unwrap_or(u64::MAX);
        Time(self.0.saturating_add(nanos))
    }

    /// `self - d`, saturating at [`Time::ZERO`].
    pub fn saturating_sub(self, d: Duration) -> Time {
        let nanos = u64::try_from(d.as_nanos()).unwrap_or(u64::MAX);
        Time(self.0.saturating_sub(nanos))
    }

    /// Formats as RFC 3339 in UTC (`2026-11-26T11:14:30Z`, or with `.5` style fractions).
    pub fn to_rfc3339(self) -> String {
        self.to_string()
    }

    /// Parses an RFC 3339 timestamp (`Z` or a `±hh:mm` offset; fractions up to nanoseconds).
    pub fn parse_rfc3339(s: &str) -> Result<Time, TimeParseError> {
        parse_rfc3339(s).ok_or_else(|| TimeParseError(s.to_string()))
    }
}

impl std::ops::Add<Duration> for Time {
    type Output = Time;
    fn add(self, d: Duration) -> Time {
        self.saturating_add(d)
    }
}

impl std::ops::Sub<Duration> for Time {
    type Output = Time;
    fn sub(self, d: Duration) -> Time {
        self.saturating_sub(d)
    }
}

/// A timestamp that is not RFC 3339.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0:?} is not an RFC 3339 timestamp (expected e.g. \"2026-01-01T00:00:00Z\")")]
pub struct TimeParseError(pub String);

// Days from civil and civil from days: Howard Hinnant's public-domain algorithms
// ("chrono-Compatible Low-Level Date Algorithms"), re-derived for the proleptic Gregorian calendar.
fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = if y >= 0 { y } else { y - 399 } / 400;
    let yoe = y - era * 400;
    let mp = (i64::from(m) + 9) % 12;
    let doy = (153 * mp + 2) / 5 + i64::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// Year, month (1–12) and day (1–31) of day `z` counted from 1970-01-01.
pub(crate) fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = if z >= 0 { z } else { z - 146_096 } / 146_097;
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

fn days_in_month(y: i64, m: u32) -> u32 {
    match m {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        _ if (y % 4 == 0 && y % 100 != 0) || y % 400 == 0 => 29,
        _ => 28,
    }
}

fn parse_rfc3339(s: &str) -> Option<Time> {
    let b = s.as_bytes();
    let num = |r: std::ops::Range<usize>| -> Option<u32> {
        let part = s.get(r)?;
        if part.bytes().all(|c| c.is_ascii_digit()) {
            part.parse().ok()
        } else {
            None
        }
    };
    if b.len() < 20 || b[4] != b'-' || b[7] != b'-' || !matches!(b[10], b'T' | b't' | b' ') {
        return None;
    }
    if b[13] != b':' || b[16] != b':' {
        return None;
    }
    let (year, month, day) = (i64::from(num(0..4)?), num(5..7)?, num(8..10)?);
    let (hour, minute, second) = (num(11..13)?, num(14..16)?, num(17..19)?);
    if !(1..=12).contains(&month) || day == 0 || day > days_in_month(year, month) {
        return None;
    }
    if hour > 23 || minute > 59 || second > 60 {
        return None;
    }
    let mut i = 19;
    let mut nanos: u64 = 0;
    if b.get(i) == Some(&b'.') {
        i += 1;
        let start = i;
        while i < b.len() && b[i].is_ascii_digit() {
            i += 1;
        }
        let digits = &s[start..i];
        if digits.is_empty() || digits.len() > 9 {
            return None;
        }
        nanos = digits.parse::<u64>().ok()? * 10u64.pow(9 - digits.len() as u32);
    }
    let offset_secs: i64 = match &s[i..] {
        "Z" | "z" => 0,
        rest if rest.len() == 6 && (rest.starts_with('+') || rest.starts_with('-')) => {
            if rest.as_bytes()[3] != b':' {
                return None;
            }
            let oh = i64::from(num(i + 1..i + 3)?);
            let om = i64::from(num(i + 4..i + 6)?);
            let sign = if rest.starts_with('-') { -1 } else { 1 };
            sign * (oh * 3600 + om * 60)
        }
        _ => return None,
    };
    let days = days_from_civil(year, month, day);
    let secs = days * 86_400 + i64::from(hour) * 3600 + i64::from(minute) * 60 + i64::from(second)
        - offset_secs;
    let secs = u64::try_from(secs).ok()?;
    Some(Time(secs.checked_mul(1_000_000_000)?.checked_add(nanos)?))
}

impl fmt::Display for Time {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let secs = self.0 / 1_000_000_000;
        let nanos = self.0 % 1_000_000_000;
        let days = (secs / 86_400) as i64;
        let rem = secs % 86_400;
        let (y, m, d) = civil_from_days(days);
        write!(
            f,
            "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}",
            rem / 3600,
            (rem % 3600) / 60,
            rem % 60
        )?;
        if nanos != 0 {
            let frac = format!("{nanos:09}");
            write!(f, ".{}", frac.trim_end_matches('0'))?;
        }
        f.write_str("Z")
    }
}

impl FromStr for Time {
    type Err = TimeParseError;
    fn from_str(s: &str) -> Result<Time, TimeParseError> {
        Time::parse_rfc3339(s)
    }
}

impl Serialize for Time {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Time {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Time, D::Error> {
        let s = String::deserialize(deserializer)?;
        Time::parse_rfc3339(&s).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_and_parses_known_instants() {
        assert_eq!(Time::ZERO.to_string(), "1970-01-01T00:00:00Z");
        let t = Time::parse_rfc3339("2026-11-26T11:14:30Z").unwrap();
        assert_eq!(t.as_secs(), 1795691670);
        assert_eq!(t.to_string(), "2026-11-26T11:14:30Z");
        assert_eq!(
            Time::from_secs(951_782_400).to_string(),
            "2000-02-29T00:00:00Z"
        );
        let frac = Time::parse_rfc3339("2024-02-29T23:59:59.25+01:00").unwrap();
        assert_eq!(frac.to_string(), "2024-02-29T22:59:59.25Z");
    }

    #[test]
    fn rejects_malformed_timestamps() {
        for bad in [
            "",
            "2026-13-01T00:00:00Z",
            "2026-02-30T00:00:00Z",
            "2026-01-01 00:00",
            "x",
        ] {
            assert!(Time::parse_rfc3339(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn round_trips_every_day_for_a_few_centuries() {
        let mut secs = 0u64;
        while secs < 400 * 366 * 86_400 {
            let t = Time::from_secs(secs + 3_723);
            assert_eq!(Time::parse_rfc3339(&t.to_string()), Ok(t));
            secs += 86_400 * 7 + 13;
        }
    }
}
