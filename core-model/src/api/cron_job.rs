//! CronJob (`batch/v1`): Jobs created on a cron schedule, and [`CronSchedule`], the parsed
//! schedule the CronJob controller computes run times with.
//!
//! The schedule syntax is the one Kubernetes accepts (it parses schedules with
//! `github.com/robfig/cron/v3`'s `ParseStandard`): five fields `minute hour day-of-month month
//! day-of-week`, each a comma-separated list of `*`, `?`, numbers, names (`jan`–`dec`,
//! `sun`–`sat`), ranges `a-b` and steps `/n`; or one of the macros `@yearly`, `@annually`,
//! `@monthly`, `@weekly`, `@daily`, `@midnight` and `@hourly`. Error messages are Kubernetes'.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::api::deployment::{api_str, Json};
use crate::api::job::{validate_job_spec_fields, JobSpec};
use crate::api::persistent_volume::ObjectReference;
use crate::meta::ObjectMeta;
use crate::time::{Duration, Time};
use crate::validation::{
    check_non_negative, ErrorList, FieldError, FieldPath, SetDefaults, Validate,
};

/// Longest CronJob name: the controller appends an 11-character suffix (`-<minutes since epoch>`)
/// to name its Jobs, which must stay within 63 characters.
pub const MAX_CRON_JOB_NAME_LENGTH: usize = 52;

/// A CronJob: creates a Job from `jobTemplate` at each time of `schedule`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CronJob {
    /// Standard object metadata.
    #[serde(default)]
    pub metadata: ObjectMeta,
    /// The desired state.
    #[serde(default)]
    pub spec: CronJobSpec,
    /// The observed state, written by the CronJob controller.
    #[serde(default, skip_serializing_if = "crate::meta::is_default")]
    pub status: CronJobStatus,
}

/// The desired state of a [`CronJob`].
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CronJobSpec {
    /// The schedule in cron format (`*/5 * * * *`, `@daily`); required.
    #[serde(default)]
    pub schedule: String,
    /// IANA time zone the schedule is read in (`Europe/Paris`); the controller's zone when unset.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub time_zone: Option<String>,
    /// Seconds after a missed scheduled time during which the Job may still be started late.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub starting_deadline_seconds: Option<i64>,
    /// What to do when a run is due while the previous one still runs; defaults to Allow.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub concurrency_policy: Option<ConcurrencyPolicy>,
    /// Whether future runs are suspended (running Jobs are not affected); defaults to false.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub suspend: Option<bool>,
    /// The Job to create at each run.
    #[serde(default)]
    pub job_template: JobTemplateSpec,
    /// Finished successful Jobs to keep; defaults to 3.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub successful_jobs_history_limit: Option<i32>,
    /// Finished failed Jobs to keep; defaults to 1.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failed_jobs_history_limit: Option<i32>,
}

/// What a [`CronJob`] does when a run is due while earlier Jobs still run.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize,
)]
pub enum ConcurrencyPolicy {
    /// Run Jobs concurrently (the default).
    #[default]
    Allow,
    /// Skip the new run.
    Forbid,
    /// Delete the running Jobs and start the new one.
    Replace,
}

/// The Job a [`CronJob`] creates: its metadata (labels and annotations copied to the Job) and
/// spec. The selector is always generated.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct JobTemplateSpec {
    /// Labels and annotations for the created Jobs.
    #[serde(default, skip_serializing_if = "crate::meta::is_default")]
    pub metadata: ObjectMeta,
    /// The spec of the created Jobs.
    #[serde(default)]
    pub spec: JobSpec,
}

/// The observed state of a [`CronJob`].
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CronJobStatus {
    /// The Jobs of this CronJob that are running.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub active: Vec<ObjectReference>,
    /// When a Job was last scheduled.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_schedule_time: Option<Time>,
    /// When a Job last completed successfully.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_successful_time: Option<Time>,
}

impl SetDefaults for CronJob {
    /// Kubernetes' `SetDefaults_CronJob` (pkg/apis/batch/v1/defaults.go) and the defaults of the
    /// job template's pod template and pod failure policy. As in Kubernetes, the job spec's own
    /// defaults (completions, backoffLimit, …) are not applied to the template: the Job the
    /// controller creates gets them.
    fn set_defaults(&mut self) {
        let spec = &mut self.spec;
        spec.concurrency_policy
            .get_or_insert(ConcurrencyPolicy::Allow);
        spec.suspend.get_or_insert(false);
        spec.successful_jobs_history_limit.get_or_insert(3);
        spec.failed_jobs_history_limit.get_or_insert(1);
        let job = &mut spec.job_template.spec;
        if let Some(policy) = &mut job.pod_failure_policy {
            for rule in &mut policy.rules {
                for pattern in &mut rule.on_pod_conditions {
                    pattern
                        .status
                        .get_or_insert(crate::api::pod::ConditionStatus::True);
                }
            }
        }
        job.template.set_defaults();
    }
}

impl Validate for CronJob {
    /// Kubernetes' `ValidateCronJobCreate` (pkg/apis/batch/validation/validation.go) without the
    /// generic metadata checks. The time zone is checked for syntax only: Flotilla carries no
    /// time zone database, so an unknown but well-formed zone name passes.
    fn validate(&self) -> ErrorList {
        let spec = &self.spec;
        let path = FieldPath::new("spec");
        let mut errs = ErrorList::new();
        let schedule_path = path.child("schedule");
        if spec.schedule.is_empty() {
            errs.push(FieldError::required(&schedule_path, ""));
        } else {
            match CronSchedule::parse(&spec.schedule) {
                Ok(_) | Err(CronScheduleError::TimeZone) => {}
                Err(e) => errs.push(FieldError::invalid(
                    &schedule_path,
                    &spec.schedule,
                    e.to_string(),
                )),
            }
            if spec.schedule.contains("TZ") {
                errs.push(FieldError::invalid(
                    &schedule_path,
                    &spec.schedule,
                    CronScheduleError::TimeZone.to_string(),
                ));
            }
        }
        if let Some(deadline) = spec.starting_deadline_seconds {
            check_non_negative(&mut errs, &path.child("startingDeadlineSeconds"), deadline);
        }
        if let Some(zone) = &spec.time_zone {
            errs.extend(validate_time_zone(zone, &path.child("timeZone")));
        }
        if spec.concurrency_policy.is_none() {
            errs.push(FieldError::required(&path.child("concurrencyPolicy"), ""));
        }
        let job_spec_path = path.child("jobTemplate").child("spec");
        let job = &spec.job_template.spec;
        errs.extend(validate_job_spec_fields(job, &job_spec_path));
        if let Some(selector) = &job.selector {
            errs.push(FieldError::invalid(
                &job_spec_path.child("selector"),
                Json(selector),
                "`selector` will be auto-generated",
            ));
        }
        if job.manual_selector == Some(true) {
            errs.push(FieldError::not_supported(
                &job_spec_path.child("manualSelector"),
                true,
                &["nil", "false"],
            ));
        }
        for (field, limit) in [
            (
                "successfulJobsHistoryLimit",
                spec.successful_jobs_history_limit,
            ),
            ("failedJobsHistoryLimit", spec.failed_jobs_history_limit),
        ] {
            if let Some(limit) = limit {
                check_non_negative(&mut errs, &path.child(field), limit.into());
            }
        }
        if self.metadata.name.len() > MAX_CRON_JOB_NAME_LENGTH {
            errs.push(FieldError::invalid(
                &FieldPath::new("metadata").child("name"),
                &self.metadata.name,
                format!("must be no more than {MAX_CRON_JOB_NAME_LENGTH} characters"),
            ));
        }
        errs
    }
}

/// Kubernetes' `validateTimeZone`, without loading the zone: every `/`-separated part is 1 to 14
/// characters of letters, digits, `.`, `-`, `_` or `+`, not `.`/`..` and not starting with `-`;
/// `Local` is rejected.
fn validate_time_zone(zone: &str, path: &FieldPath) -> ErrorList {
    let mut errs = ErrorList::new();
    if zone.is_empty() {
        errs.push(FieldError::invalid(
            path,
            zone,
            "timeZone must be nil or non-empty string",
        ));
        return errs;
    }
    let part_ok = |part: &str| {
        (1..=14).contains(&part.len())
            && part != "."
            && part != ".."
            && !part.starts_with('-')
            && part
                .bytes()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'.' | b'-' | b'_' | b'+'))
    };
    if !zone.split('/').all(part_ok) {
        errs.push(FieldError::invalid(
            path,
            zone,
            format!("unknown time zone {zone}"),
        ));
        return errs;
    }
    if zone.eq_ignore_ascii_case("Local") {
        errs.push(FieldError::invalid(
            path,
            zone,
            "timeZone must be an explicit time zone as defined in https://www.iana.org/time-zones",
        ));
    }
    errs
}

// ---------------------------------------------------------------------------------------------
// Cron schedules.
// ---------------------------------------------------------------------------------------------

/// A schedule that is not valid cron syntax, worded as Kubernetes reports it
/// (`spec.schedule: Invalid value: "61 * * * *": end of range (61) above maximum (59): 61`).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum CronScheduleError {
    /// The schedule is empty.
    #[error("empty spec string")]
    Empty,
    /// The schedule names a time zone (`TZ=…` or `CRON_TZ=…`), which Kubernetes rejects in favour
    /// of `spec.timeZone`.
    #[error("cannot use TZ or CRON_TZ in schedule, use timeZone field instead")]
    TimeZone,
    /// An `@every <duration>` interval, which Flotilla does not accept: a CronJob's runs are
    /// points of a calendar schedule.
    #[error("{0}: @every intervals are not supported, use a five-field schedule such as \"*/5 * * * *\"")]
    Every(String),
    /// A `@` macro that is not one of the supported ones.
    #[error("unrecognized descriptor: {0}")]
    UnrecognizedDescriptor(String),
    /// Not exactly five fields.
    #[error("expected exactly 5 fields, found {}: [{}]", .0.len(), .0.join(" "))]
    FieldCount(Vec<String>),
    /// A range with more than one `-`.
    #[error("too many hyphens: {0}")]
    TooManyHyphens(String),
    /// A range with more than one `/`.
    #[error("too many slashes: {0}")]
    TooManySlashes(String),
    /// A part that is neither a number nor a name of the field (`reason` is Go's
    /// `invalid syntax` or `value out of range`).
    #[error("failed to parse int from {text}: strconv.Atoi: parsing {text:?}: {reason}")]
    NotANumber {
        /// The part.
        text: String,
        /// Why it is not a number.
        reason: &'static str,
    },
    /// A negative step.
    #[error("negative number ({value}) not allowed: {text}")]
    Negative {
        /// The number.
        value: i64,
        /// The part it was read from.
        text: String,
    },
    /// A range starting below the field's minimum.
    #[error("beginning of range ({start}) below minimum ({min}): {expr}")]
    BelowMinimum {
        /// The start of the range.
        start: i64,
        /// The field's minimum.
        min: i64,
        /// The range expression.
        expr: String,
    },
    /// A range ending above the field's maximum.
    #[error("end of range ({end}) above maximum ({max}): {expr}")]
    AboveMaximum {
        /// The end of the range.
        end: i64,
        /// The field's maximum.
        max: i64,
        /// The range expression.
        expr: String,
    },
    /// A range whose start is after its end.
    #[error("beginning of range ({start}) beyond end of range ({end}): {expr}")]
    BeyondEnd {
        /// The start of the range.
        start: i64,
        /// The end of the range.
        end: i64,
        /// The range expression.
        expr: String,
    },
    /// A step of 0.
    #[error("step of range should be a positive number: {0}")]
    ZeroStep(String),
}

/// A parsed cron schedule: the minutes, hours, days of the month, months and days of the week at
/// which it fires, as bit sets.
///
/// As in cron (and robfig/cron), when both the day-of-month and the day-of-week field are
/// restricted (neither starts with `*` or `?` without a step), a day matches if either does;
/// otherwise both must.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct CronSchedule {
    minutes: u64,
    hours: u64,
    days_of_month: u64,
    months: u64,
    days_of_week: u64,
    day_of_month_star: bool,
    day_of_week_star: bool,
}

struct FieldBounds {
    min: i64,
    max: i64,
    names: &'static [(&'static str, i64)],
}

const MINUTES: FieldBounds = FieldBounds {
    min: 0,
    max: 59,
    names: &[],
};
const HOURS: FieldBounds = FieldBounds {
    min: 0,
    max: 23,
    names: &[],
};
const DAYS_OF_MONTH: FieldBounds = FieldBounds {
    min: 1,
    max: 31,
    names: &[],
};
const MONTHS: FieldBounds = FieldBounds {
    min: 1,
    max: 12,
    names: &[
        ("jan", 1),
        ("feb", 2),
        ("mar", 3),
        ("apr", 4),
        ("may", 5),
        ("jun", 6),
        ("jul", 7),
        ("aug", 8),
        ("sep", 9),
        ("oct", 10),
        ("nov", 11),
        ("dec", 12),
    ],
};
const DAYS_OF_WEEK: FieldBounds = FieldBounds {
    min: 0,
    max: 6,
    names: &[
        ("sun", 0),
        ("mon", 1),
        ("tue", 2),
        ("wed", 3),
        ("thu", 4),
        ("fri", 5),
        ("sat", 6),
    ],
};

/// Go's `strconv.Atoi` on a 64-bit platform: an optional sign and decimal digits.
fn atoi(text: &str) -> Result<i64, CronScheduleError> {
    let digits = text.strip_prefix(['+', '-']).unwrap_or(text);
    if digits.is_empty() || !digits.bytes().all(|c| c.is_ascii_digit()) {
        return Err(CronScheduleError::NotANumber {
            text: text.to_string(),
            reason: "invalid syntax",
        });
    }
    text.parse::<i64>()
        .map_err(|_| CronScheduleError::NotANumber {
            text: text.to_string(),
            reason: "value out of range",
        })
}

fn parse_number(text: &str) -> Result<i64, CronScheduleError> {
    let n = atoi(text)?;
    if n < 0 {
        return Err(CronScheduleError::Negative {
            value: n,
            text: text.to_string(),
        });
    }
    Ok(n)
}

fn parse_number_or_name(text: &str, bounds: &FieldBounds) -> Result<i64, CronScheduleError> {
    let lower = text.to_ascii_lowercase();
    match bounds.names.iter().find(|(name, _)| *name == lower) {
        Some(&(_, n)) => Ok(n),
        None => parse_number(text),
    }
}

/// One range expression (`*`, `5`, `1-5`, `*/15`, `mon-fri`, `10/5`): its bits and whether it is
/// a star without a step.
fn parse_range(expr: &str, bounds: &FieldBounds) -> Result<(u64, bool), CronScheduleError> {
    let range_and_step: Vec<&str> = expr.split('/').collect();
    let low_and_high: Vec<&str> = range_and_step[0].split('-').collect();
    let (start, mut end, mut star);
    if low_and_high[0] == "*" || low_and_high[0] == "?" {
        (start, end, star) = (bounds.min, bounds.max, true);
    } else {
        start = parse_number_or_name(low_and_high[0], bounds)?;
        end = match low_and_high.len() {
            1 => start,
            2 => parse_number_or_name(low_and_high[1], bounds)?,
            _ => return Err(CronScheduleError::TooManyHyphens(expr.to_string())),
        };
        star = false;
    }
    let step = match range_and_step.len() {
        1 => 1,
        2 => {
            let step = parse_number(range_and_step[1])?;
            // `N/step` means `N-max/step`.
            if low_and_high.len() == 1 {
                end = bounds.max;
            }
            if step > 1 {
                star = false;
            }
            step
        }
        _ => return Err(CronScheduleError::TooManySlashes(expr.to_string())),
    };
    if start < bounds.min {
        return Err(CronScheduleError::BelowMinimum {
            start,
            min: bounds.min,
            expr: expr.to_string(),
        });
    }
    if end > bounds.max {
        return Err(CronScheduleError::AboveMaximum {
            end,
            max: bounds.max,
            expr: expr.to_string(),
        });
    }
    if start > end {
        return Err(CronScheduleError::BeyondEnd {
            start,
            end,
            expr: expr.to_string(),
        });
    }
    if step == 0 {
        return Err(CronScheduleError::ZeroStep(expr.to_string()));
    }
    let mut bits = 0u64;
    let mut i = start;
    while i <= end {
        bits |= 1 << i;
        i = i.saturating_add(step);
    }
    Ok((bits, star))
}

/// A comma-separated list of ranges (empty items are skipped, as robfig/cron does).
fn parse_field(field: &str, bounds: &FieldBounds) -> Result<(u64, bool), CronScheduleError> {
    let mut bits = 0;
    let mut star = false;
    for expr in field.split(',').filter(|e| !e.is_empty()) {
        let (b, s) = parse_range(expr, bounds)?;
        bits |= b;
        star |= s;
    }
    Ok((bits, star))
}

impl CronSchedule {
    /// Parses a schedule as Kubernetes accepts it (see the module documentation). `@every`
    /// intervals and `TZ=`/`CRON_TZ=` prefixes are rejected.
    pub fn parse(spec: &str) -> Result<CronSchedule, CronScheduleError> {
        if spec.is_empty() {
            return Err(CronScheduleError::Empty);
        }
        if spec.starts_with("TZ=") || spec.starts_with("CRON_TZ=") {
            return Err(CronScheduleError::TimeZone);
        }
        if spec.starts_with('@') {
            let equivalent = match spec {
                "@yearly" | "@annually" => "0 0 1 1 *",
                "@monthly" => "0 0 1 * *",
                "@weekly" => "0 0 * * 0",
                "@daily" | "@midnight" => "0 0 * * *",
                "@hourly" => "0 * * * *",
                _ if spec.starts_with("@every ") => {
                    return Err(CronScheduleError::Every(spec.to_string()))
                }
                _ => return Err(CronScheduleError::UnrecognizedDescriptor(spec.to_string())),
            };
            return CronSchedule::parse(equivalent);
        }
        let fields: Vec<&str> = spec.split_whitespace().collect();
        let [minute, hour, day_of_month, month, day_of_week] = fields.as_slice() else {
            return Err(CronScheduleError::FieldCount(
                fields.iter().map(|f| f.to_string()).collect(),
            ));
        };
        let (minutes, _) = parse_field(minute, &MINUTES)?;
        let (hours, _) = parse_field(hour, &HOURS)?;
        let (days_of_month, day_of_month_star) = parse_field(day_of_month, &DAYS_OF_MONTH)?;
        let (months, _) = parse_field(month, &MONTHS)?;
        let (days_of_week, day_of_week_star) = parse_field(day_of_week, &DAYS_OF_WEEK)?;
        Ok(CronSchedule {
            minutes,
            hours,
            days_of_month,
            months,
            days_of_week,
            day_of_month_star,
            day_of_week_star,
        })
    }

    fn day_matches(&self, day_of_month: u32, day_of_week: u32) -> bool {
        let dom = self.days_of_month & (1 << day_of_month) != 0;
        let dow = self.days_of_week & (1 << day_of_week) != 0;
        if self.day_of_month_star || self.day_of_week_star {
            dom && dow
        } else {
            dom || dow
        }
    }

    /// The first time strictly after `t` at which the schedule fires, read in UTC (whole
    /// minutes), or `None` when it does not fire within the next five years (as robfig/cron gives
    /// up) — `0 0 30 2 *` never fires.
    pub fn next_after(&self, t: Time) -> Option<Time> {
        if self.minutes == 0 || self.hours == 0 || self.months == 0 {
            return None;
        }
        let first_minute = (t.as_secs() / 60).checked_add(1)?;
        let mut day = first_minute / (24 * 60);
        let mut minute_of_day = first_minute % (24 * 60);
        let (first_year, _, _) = crate::time::civil_from_days(day as i64);
        loop {
            let (year, month, day_of_month) = crate::time::civil_from_days(day as i64);
            if year > first_year + 5 {
                return None;
            }
            let day_of_week = ((day + 4) % 7) as u32; // 1970-01-01 was a Thursday.
            if self.months & (1 << month) != 0 && self.day_matches(day_of_month, day_of_week) {
                for m in minute_of_day..24 * 60 {
                    if self.hours & (1 << (m / 60)) != 0 && self.minutes & (1 << (m % 60)) != 0 {
                        let secs = day.checked_mul(86_400)?.checked_add(m * 60)?;
                        return Some(Time::from_secs(secs)).filter(|t| t.as_secs() == secs);
                    }
                }
            }
            day += 1;
            minute_of_day = 0;
        }
    }

    /// The scheduled times in `(after, until]`, oldest first, at most `limit` of them (the
    /// CronJob controller looks for missed runs this way).
    pub fn times_between(&self, after: Time, until: Time, limit: usize) -> Vec<Time> {
        let mut out = Vec::new();
        let mut t = after;
        while out.len() < limit {
            match self.next_after(t) {
                Some(next) if next <= until => {
                    out.push(next);
                    t = next;
                }
                _ => break,
            }
        }
        out
    }

    /// The time from one run to the next, measured at the first two runs after `t`; `None`
    /// when there are not two. (The controller uses it to warn about too many missed runs.)
    pub fn interval_after(&self, t: Time) -> Option<Duration> {
        let first = self.next_after(t)?;
        let second = self.next_after(first)?;
        Some(second.saturating_duration_since(first))
    }
}

impl std::str::FromStr for CronSchedule {
    type Err = CronScheduleError;
    fn from_str(s: &str) -> Result<CronSchedule, CronScheduleError> {
        CronSchedule::parse(s)
    }
}

impl fmt::Display for ConcurrencyPolicy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&api_str(self))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::deployment::manifest_docs;
    use crate::api::pod::RestartPolicy;

    const HELLO: &str = r#"
metadata:
  name: hello
  namespace: default
spec:
  schedule: "*/5 * * * *"
  timeZone: Etc/UTC
  startingDeadlineSeconds: 120
  concurrencyPolicy: Forbid
  jobTemplate:
    metadata:
      labels:
        app: hello
    spec:
      backoffLimit: 2
      template:
        spec:
          restartPolicy: OnFailure
          containers:
          - name: hello
            image: busybox:1.36
            command: ["/bin/sh", "-c", "date; echo Hello from the Kubernetes cluster"]
status:
  lastScheduleTime: "2026-01-01T10:05:00Z"
  lastSuccessfulTime: "2026-01-01T10:00:12Z"
  active:
  - apiVersion: batch/v1
    kind: Job
    name: hello-29452205
    namespace: default
    uid: 1b2c
    resourceVersion: "42"
"#;

    fn hello() -> CronJob {
        let mut cj: CronJob = serde_yaml::from_str(HELLO).expect("valid yaml");
        cj.set_defaults();
        cj
    }

    fn messages(errs: &ErrorList) -> Vec<String> {
        errs.iter().map(ToString::to_string).collect()
    }

    fn at(s: &str) -> Time {
        Time::parse_rfc3339(s).expect("valid time")
    }

    fn next(schedule: &str, after: &str) -> Option<String> {
        CronSchedule::parse(schedule)
            .expect("valid schedule")
            .next_after(at(after))
            .map(|t| t.to_string())
    }

    fn parse_error(schedule: &str) -> String {
        CronSchedule::parse(schedule)
            .expect_err("invalid schedule")
            .to_string()
    }

    #[test]
    fn reads_defaults_and_validates_a_cron_job() {
        let cj = hello();
        assert_eq!(cj.spec.concurrency_policy, Some(ConcurrencyPolicy::Forbid));
        assert_eq!(cj.spec.suspend, Some(false));
        assert_eq!(cj.spec.successful_jobs_history_limit, Some(3));
        assert_eq!(cj.spec.failed_jobs_history_limit, Some(1));
        assert_eq!(
            cj.spec
                .job_template
                .metadata
                .labels
                .get("app")
                .map(String::as_str),
            Some("hello")
        );
        // The job spec's own defaults are left to the created Job.
        assert_eq!(cj.spec.job_template.spec.completions, None);
        assert_eq!(cj.spec.job_template.spec.backoff_limit, Some(2));
        assert_eq!(cj.status.active[0].name, "hello-29452205");
        assert_eq!(
            cj.status.last_schedule_time,
            Some(at("2026-01-01T10:05:00Z"))
        );
        assert_eq!(messages(&cj.validate()), Vec::<String>::new());

        let mut empty = CronJob::default();
        empty.set_defaults();
        assert_eq!(
            empty.spec.concurrency_policy,
            Some(ConcurrencyPolicy::Allow)
        );
        assert_eq!(ConcurrencyPolicy::Replace.to_string(), "Replace");
    }

    #[test]
    fn schedule_validation_messages() {
        let with = |schedule: &str| {
            let mut cj = hello();
            cj.spec.schedule = schedule.into();
            messages(&cj.validate())
        };
        assert_eq!(with(""), vec!["spec.schedule: Required value".to_string()]);
        assert_eq!(
            with("0 0 0/1 * * ?"),
            vec!["spec.schedule: Invalid value: \"0 0 0/1 * * ?\": expected exactly 5 fields, found 6: [0 0 0/1 * * ?]"
                .to_string()]
        );
        assert_eq!(
            with("*/60 * * * *"),
            Vec::<String>::new(),
            "a step larger than the range still fires at minute 0"
        );
        assert_eq!(
            with("60 * * * *"),
            vec!["spec.schedule: Invalid value: \"60 * * * *\": end of range (60) above maximum (59): 60".to_string()]
        );
        assert_eq!(
            with("*/* 24 * * *"),
            vec!["spec.schedule: Invalid value: \"*/* 24 * * *\": failed to parse int from *: strconv.Atoi: parsing \
                  \"*\": invalid syntax"
                .to_string()]
        );
        assert_eq!(
            with("TZ=Europe/Paris 0 12 * * *"),
            vec!["spec.schedule: Invalid value: \"TZ=Europe/Paris 0 12 * * *\": cannot use TZ or CRON_TZ in schedule, \
                  use timeZone field instead"
                .to_string()]
        );
        assert_eq!(
            with("@every 1h"),
            vec!["spec.schedule: Invalid value: \"@every 1h\": @every 1h: @every intervals are not supported, use a \
                  five-field schedule such as \"*/5 * * * *\""
                .to_string()]
        );
        assert_eq!(
            with("@fortnightly"),
            vec!["spec.schedule: Invalid value: \"@fortnightly\": unrecognized descriptor: @fortnightly".to_string()]
        );
    }

    #[test]
    fn parse_errors() {
        assert_eq!(parse_error(""), "empty spec string");
        assert_eq!(
            parse_error("* * * *"),
            "expected exactly 5 fields, found 4: [* * * *]"
        );
        assert_eq!(
            parse_error(" @daily"),
            "expected exactly 5 fields, found 1: [@daily]"
        );
        assert_eq!(parse_error("1-2-3 * * * *"), "too many hyphens: 1-2-3");
        assert_eq!(parse_error("*/2/3 * * * *"), "too many slashes: */2/3");
        assert_eq!(
            parse_error("* * 0 * *"),
            "beginning of range (0) below minimum (1): 0"
        );
        assert_eq!(
            parse_error("* * * * 7"),
            "end of range (7) above maximum (6): 7"
        );
        assert_eq!(
            parse_error("* 5-3 * * *"),
            "beginning of range (5) beyond end of range (3): 5-3"
        );
        assert_eq!(
            parse_error("*/0 * * * *"),
            "step of range should be a positive number: */0"
        );
        assert_eq!(
            parse_error("*/-1 * * * *"),
            "negative number (-1) not allowed: -1"
        );
        assert_eq!(
            parse_error("* * * foo *"),
            "failed to parse int from foo: strconv.Atoi: parsing \"foo\": invalid syntax"
        );
        assert_eq!(
            parse_error("99999999999999999999 * * * *"),
            "failed to parse int from 99999999999999999999: strconv.Atoi: parsing \"99999999999999999999\": value \
             out of range"
        );
        assert_eq!(
            parse_error("CRON_TZ=UTC * * * * *"),
            CronScheduleError::TimeZone.to_string()
        );
        assert_eq!(parse_error("@daily "), "unrecognized descriptor: @daily ");
    }

    #[test]
    fn accepts_the_whole_syntax() {
        for ok in [
            "* * * * *",
            "? ? ? ? ?",
            "0,15,30,45 * * * *",
            "0 9-17 * * mon-fri",
            "0 0 1 JAN,jul *",
            "5/10 * * * *",
            "0 0 * * SUN",
            "1-10/3 * 1,15 * *",
            "@yearly",
            "@annually",
            "@monthly",
            "@weekly",
            "@daily",
            "@midnight",
            "@hourly",
            "  0   12 * *    *  ",
        ] {
            assert!(CronSchedule::parse(ok).is_ok(), "{ok}");
        }
        assert_eq!(
            CronSchedule::parse("@daily"),
            CronSchedule::parse("0 0 * * *")
        );
        assert_eq!(
            "*/15 * * * *".parse::<CronSchedule>(),
            CronSchedule::parse("0-59/15 * * * *")
        );
    }

    #[test]
    fn next_run_times() {
        assert_eq!(
            next("*/5 * * * *", "2026-01-01T10:02:30Z").as_deref(),
            Some("2026-01-01T10:05:00Z")
        );
        // Strictly after: a time on the schedule gives the following one.
        assert_eq!(
            next("*/5 * * * *", "2026-01-01T10:05:00Z").as_deref(),
            Some("2026-01-01T10:10:00Z")
        );
        assert_eq!(
            next("0 * * * *", "2026-01-01T23:59:59.5Z").as_deref(),
            Some("2026-01-02T00:00:00Z")
        );
        assert_eq!(
            next("@daily", "2026-12-31T12:00:00Z").as_deref(),
            Some("2027-01-01T00:00:00Z")
        );
        assert_eq!(
            next("@yearly", "2026-03-01T00:00:00Z").as_deref(),
            Some("2027-01-01T00:00:00Z")
        );
        assert_eq!(
            next("@monthly", "2026-01-31T00:00:00Z").as_deref(),
            Some("2026-02-01T00:00:00Z")
        );
        // 2026-01-01 is a Thursday; the next Sunday is 2026-01-04.
        assert_eq!(
            next("@weekly", "2026-01-01T00:00:00Z").as_deref(),
            Some("2026-01-04T00:00:00Z")
        );
        assert_eq!(
            next("30 9 * * mon-fri", "2026-01-02T10:00:00Z").as_deref(),
            Some("2026-01-05T09:30:00Z")
        );
        // Leap day.
        assert_eq!(
            next("0 0 29 2 *", "2026-01-01T00:00:00Z").as_deref(),
            Some("2028-02-29T00:00:00Z")
        );
        // Day of month and day of week both restricted: either matches (the 13th, or a Friday).
        assert_eq!(
            next("0 0 13 * 5", "2026-01-01T00:00:00Z").as_deref(),
            Some("2026-01-02T00:00:00Z")
        );
        // A stepped star is a restriction too: every tenth day OR Mondays.
        assert_eq!(
            next("0 0 */10 * 1", "2026-01-02T00:00:00Z").as_deref(),
            Some("2026-01-05T00:00:00Z")
        );
        // With a star day of week, only the day of month counts.
        assert_eq!(
            next("0 0 13 * *", "2026-01-01T00:00:00Z").as_deref(),
            Some("2026-01-13T00:00:00Z")
        );
        // Never.
        assert_eq!(next("0 0 30 2 *", "2026-01-01T00:00:00Z"), None);
        assert_eq!(next(", * * * *", "2026-01-01T00:00:00Z"), None);
    }

    #[test]
    fn missed_runs_and_interval() {
        let s = CronSchedule::parse("0 * * * *").expect("valid");
        let runs = s.times_between(at("2026-01-01T00:30:00Z"), at("2026-01-01T03:00:00Z"), 10);
        let text: Vec<String> = runs.iter().map(ToString::to_string).collect();
        assert_eq!(
            text,
            [
                "2026-01-01T01:00:00Z",
                "2026-01-01T02:00:00Z",
                "2026-01-01T03:00:00Z"
            ]
        );
        assert_eq!(
            s.times_between(at("2026-01-01T00:30:00Z"), at("2026-01-02T00:00:00Z"), 2)
                .len(),
            2
        );
        assert_eq!(
            s.interval_after(at("2026-01-01T00:30:00Z")),
            Some(Duration::from_secs(3600))
        );
    }

    #[test]
    fn spec_validation_rules() {
        let mut cj = hello();
        cj.spec.starting_deadline_seconds = Some(-1);
        cj.spec.concurrency_policy = None;
        cj.spec.successful_jobs_history_limit = Some(-1);
        cj.spec.failed_jobs_history_limit = Some(-1);
        cj.spec.job_template.spec.template.spec.restart_policy = Some(RestartPolicy::Always);
        cj.spec.job_template.spec.manual_selector = Some(true);
        cj.spec.job_template.spec.selector = Some(Default::default());
        assert_eq!(
            messages(&cj.validate()),
            vec![
                "spec.startingDeadlineSeconds: Invalid value: -1: must be greater than or equal to 0".to_string(),
                "spec.concurrencyPolicy: Required value".to_string(),
                "spec.jobTemplate.spec.template.spec.restartPolicy: Required value: valid values: \"OnFailure\", \
                 \"Never\""
                    .to_string(),
                "spec.jobTemplate.spec.selector: Invalid value: {}: `selector` will be auto-generated".to_string(),
                "spec.jobTemplate.spec.manualSelector: Unsupported value: true: supported values: \"nil\", \"false\""
                    .to_string(),
                "spec.successfulJobsHistoryLimit: Invalid value: -1: must be greater than or equal to 0".to_string(),
                "spec.failedJobsHistoryLimit: Invalid value: -1: must be greater than or equal to 0".to_string(),
            ]
        );

        let mut cj = hello();
        cj.metadata.name = "n".repeat(53);
        assert_eq!(
            messages(&cj.validate()),
            vec![format!(
                "metadata.name: Invalid value: \"{}\": must be no more than 52 characters",
                "n".repeat(53)
            )]
        );
    }

    #[test]
    fn time_zone_syntax() {
        let with = |zone: &str| {
            let mut cj = hello();
            cj.spec.time_zone = Some(zone.into());
            messages(&cj.validate())
        };
        assert!(with("America/Argentina/Buenos_Aires").is_empty());
        assert!(with("Etc/GMT+5").is_empty());
        assert_eq!(
            with(""),
            vec![
                "spec.timeZone: Invalid value: \"\": timeZone must be nil or non-empty string"
                    .to_string()
            ]
        );
        assert_eq!(
            with("Europe/../Paris"),
            vec!["spec.timeZone: Invalid value: \"Europe/../Paris\": unknown time zone Europe/../Paris".to_string()]
        );
        assert_eq!(with("America/Very_Long_City_Name").len(), 1);
        assert_eq!(
            with("local"),
            vec!["spec.timeZone: Invalid value: \"local\": timeZone must be an explicit time zone as defined in \
                  https://www.iana.org/time-zones"
                .to_string()]
        );
    }

    #[test]
    fn example_manifest_is_valid() {
        let docs = manifest_docs(include_str!("../../../examples/manifests/cron-job.yaml"));
        assert!(!docs.is_empty());
        for doc in docs {
            let mut cj: CronJob = serde_json::from_value(doc).expect("a CronJob");
            cj.set_defaults();
            assert_eq!(
                messages(&cj.validate()),
                Vec::<String>::new(),
                "{}",
                cj.metadata.name
            );
            assert!(cj.metadata.namespace == "shop" || cj.metadata.namespace == "default");
            assert!(CronSchedule::parse(&cj.spec.schedule).is_ok());
        }
    }
}
