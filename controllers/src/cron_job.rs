//! The CronJob controller (kube-controller-manager's `cronjob-controller`,
//! `pkg/controller/cronjob/cronjob_controllerv2.go` and `utils.go`, v1.34): creates a Job from
//! a CronJob's `jobTemplate` at each time of its cron schedule.
//!
//! Each sync finds the most recent scheduled time that has not run yet
//! (`mostRecentScheduleTime`), skips it when it is past `startingDeadlineSeconds`, when the
//! CronJob is suspended or, under `concurrencyPolicy: Forbid`, while a Job is still active
//! (`Replace` deletes the active Jobs instead), and otherwise creates the Job
//! `<cronjob>-<minutes since the epoch of the scheduled time>` — the name is the lock that keeps
//! a scheduled time from running twice. It keeps `status.active`, `lastScheduleTime` and
//! `lastSuccessfulTime`, deletes the oldest finished Jobs beyond the history limits, and asks to
//! be woken at the next scheduled time (plus 100 ms, as Kubernetes does): it never ticks.
//!
//! Schedules are parsed by [`CronSchedule`] (robfig/cron's `ParseStandard` syntax, which is what
//! Kubernetes accepts: Sunday is 0 only — `7` is rejected there too). Times are UTC. A
//! `spec.timeZone` other than `UTC`/`Etc/UTC`, or a `TZ=`/`CRON_TZ=` prefix naming another zone,
//! is not supported: the controller reports it in an event and creates nothing rather than guess
//! an offset.

use std::sync::Arc;

use flotilla_model::api::{
    ConcurrencyPolicy, CronJob, CronJobStatus, CronSchedule, Job, JobConditionType, ObjectReference,
};
use flotilla_model::store::{DeleteOptions, ObjectKey, PropagationPolicy, StoreError, WatchEvent};
use flotilla_model::{Duration, Kind, Object, ObjectMeta, Time};

use crate::controller::{controller_key, Action, Context, Controller, Lookup, ReconcileError};
use crate::pods::{controller_ref, is_controlled_by, secs};

/// The annotation a CronJob's Job carries with its scheduled time in RFC 3339 (batch/v1
/// `CronJobScheduledTimestampAnnotation`).
pub const CRON_JOB_SCHEDULED_TIMESTAMP_ANNOTATION: &str =
    "batch.kubernetes.io/cronjob-scheduled-timestamp";
/// How long after a scheduled time the controller wakes for it (cronjob_controllerv2.go
/// `nextScheduleDelta`).
pub const NEXT_SCHEDULE_DELTA: Duration = Duration::from_millis(100);
/// Beyond this many missed start times the controller warns `TooManyMissedTimes` (utils.go).
pub const MAX_MISSED_START_TIMES: i64 = 100;

/// The time zones the controller can compute schedules in.
const UTC_ZONES: [&str; 2] = ["UTC", "Etc/UTC"];

/// How many start times were missed (utils.go `missedSchedulesType`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MissedSchedules {
    /// None, or just the one about to run.
    None,
    /// Some, at most [`MAX_MISSED_START_TIMES`].
    Few,
    /// More than [`MAX_MISSED_START_TIMES`].
    Many,
}

/// The result of [`most_recent_schedule_time`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MostRecent {
    /// The time from which scheduled times count: the last schedule time, or the creation
    /// time, or `now - startingDeadlineSeconds` if later.
    pub earliest: Time,
    /// The most recent scheduled time in `(earliest, now]`, if any.
    pub most_recent: Option<Time>,
    /// How many were missed.
    pub missed: MissedSchedules,
}

/// A schedule that can be parsed but never gives two distinct run times (utils.go
/// `mostRecentScheduleTime`'s error), such as `0 0 30 2 *`.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("time difference between two schedules is less than 1 second")]
pub struct ScheduleNeverRepeats;

/// utils.go `mostRecentScheduleTime`: the most recent time a Job should have been created for,
/// at or before `now`, and how many start times were missed. With
/// `include_starting_deadline`, nothing older than `startingDeadlineSeconds` counts.
pub fn most_recent_schedule_time(
    cron_job: &CronJob,
    now: Time,
    schedule: &CronSchedule,
    include_starting_deadline: bool,
) -> Result<MostRecent, ScheduleNeverRepeats> {
    let mut earliest = cron_job
        .status
        .last_schedule_time
        .or(cron_job.metadata.creation_timestamp)
        .unwrap_or(Time::ZERO);
    if include_starting_deadline {
        if let Some(deadline) = cron_job.spec.starting_deadline_seconds {
            let cutoff = now.saturating_sub(secs(deadline));
            if cutoff > earliest {
                earliest = cutoff;
            }
        }
    }
    let none = |most_recent| MostRecent {
        earliest,
        most_recent,
        missed: MissedSchedules::None,
    };
    let t1 = schedule.next_after(earliest).ok_or(ScheduleNeverRepeats)?;
    if now < t1 {
        return Ok(none(None));
    }
    let t2 = schedule.next_after(t1).ok_or(ScheduleNeverRepeats)?;
    if now < t2 {
        return Ok(none(Some(t1)));
    }
    // A rough count of the missed times: how many intervals between the first two fit
    // between the first and now; then walk the schedule from just before the estimate.
    let interval = (t2.saturating_duration_since(t1).as_secs_f64()).round() as i64;
    if interval < 1 {
        return Err(ScheduleNeverRepeats);
    }
    let elapsed = now.saturating_duration_since(t1).as_secs() as i64;
    let missed_count = elapsed / interval + 1;
    let back = u64::try_from((missed_count - 2).max(0) * interval).unwrap_or(0);
    let potential_earliest = t1.saturating_add(Duration::from_secs(back));
    let mut most_recent = None;
    let mut t = schedule.next_after(potential_earliest);
    while let Some(run) = t.filter(|run| *run <= now) {
        most_recent = Some(run);
        t = schedule.next_after(run);
    }
    let missed = if missed_count > MAX_MISSED_START_TIMES {
        MissedSchedules::Many
    } else if missed_count > 0 {
        MissedSchedules::Few
    } else {
        MissedSchedules::None
    };
    Ok(MostRecent {
        earliest,
        most_recent,
        missed,
    })
}

/// utils.go `nextScheduleTimeDuration`: how long until the controller should look again — the
/// next scheduled time after the most recent one (or after the last schedule time, or `now`),
/// plus [`NEXT_SCHEDULE_DELTA`]. `None` when the schedule never fires again.
pub fn next_schedule_time_duration(
    cron_job: &CronJob,
    now: Time,
    schedule: &CronSchedule,
) -> Option<Duration> {
    let from = match most_recent_schedule_time(cron_job, now, schedule, false) {
        Err(_) => now,
        Ok(MostRecent {
            most_recent: Some(t),
            ..
        }) => t,
        Ok(MostRecent {
            earliest,
            missed: MissedSchedules::None,
            ..
        }) => earliest,
        Ok(_) => now,
    };
    let next = schedule.next_after(from)?;
    Some(
        next.saturating_add(NEXT_SCHEDULE_DELTA)
            .saturating_duration_since(now),
    )
}

/// utils.go `getJobName`: `<cronjob>-<minutes since the epoch of the scheduled time>`.
pub fn job_name(cron_job_name: &str, scheduled: Time) -> String {
    format!("{cron_job_name}-{}", scheduled.as_secs() / 60)
}

/// Formats `t` as Go's `time.RFC1123Z` in UTC (`Mon, 02 Jan 2006 15:04:05 +0000`), the format
/// of the `MissSchedule` event.
pub fn rfc1123z(t: Time) -> String {
    const DAYS: [&str; 7] = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"];
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    // Read the calendar fields back from the RFC 3339 form (`2026-01-02T15:04:05Z`).
    let text = t.to_rfc3339();
    let field = |range: std::ops::Range<usize>| text.get(range).unwrap_or("00");
    let month = field(5..7).parse::<usize>().unwrap_or(1).clamp(1, 12);
    let weekday = DAYS[((t.as_secs() / 86_400) % 7) as usize];
    format!(
        "{weekday}, {} {} {} {} +0000",
        field(8..10),
        MONTHS[month - 1],
        field(0..4),
        field(11..19)
    )
}

/// The parsed schedule of a CronJob, or the event explaining why there is none.
fn parse_schedule(cron_job: &CronJob) -> Result<CronSchedule, (&'static str, String)> {
    let spec = &cron_job.spec;
    if let Some(zone) = &spec.time_zone {
        if !UTC_ZONES.contains(&zone.as_str()) {
            return Err((
                "UnknownTimeZone",
                format!(
                    "invalid timeZone: {zone:?}: time zones other than UTC are not supported by flotilla"
                ),
            ));
        }
    }
    let mut schedule = spec.schedule.as_str();
    // cronjob_controllerv2.go formatSchedule: a `TZ=`/`CRON_TZ=` prefix names the zone.
    if let Some(rest) = schedule
        .strip_prefix("TZ=")
        .or_else(|| schedule.strip_prefix("CRON_TZ="))
    {
        let (zone, rest) = rest.split_once(char::is_whitespace).unwrap_or((rest, ""));
        if !UTC_ZONES.contains(&zone) {
            return Err((
                "UnparseableSchedule",
                format!(
                    "unparseable schedule: {:?} : time zone {zone:?} is not supported by flotilla, only UTC",
                    spec.schedule
                ),
            ));
        }
        schedule = rest.trim_start();
    }
    CronSchedule::parse(schedule).map_err(|e| {
        (
            "UnparseableSchedule",
            format!("unparseable schedule: {:?} : {e}", spec.schedule),
        )
    })
}

/// The CronJob controller (`cronjob-controller`). See the [module docs](self).
#[derive(Debug, Default)]
pub struct CronJobController;

impl CronJobController {
    /// A CronJob controller.
    pub fn new() -> CronJobController {
        CronJobController
    }
}

impl Controller for CronJobController {
    fn name(&self) -> &'static str {
        "cronjob-controller"
    }

    fn watched_kinds(&self) -> &'static [Kind] {
        &[Kind::CronJob, Kind::Job]
    }

    fn keys_for_event(&self, event: &WatchEvent, _lookup: Lookup<'_>) -> Vec<ObjectKey> {
        match &*event.object {
            Object::CronJob(_) => vec![ObjectKey::of(&event.object)],
            // cronjob_controllerv2.go addJob/updateJob/deleteJob: a Job wakes the CronJob
            // named by its controller reference.
            Object::Job(job) => controller_key(&job.metadata, Kind::CronJob)
                .into_iter()
                .collect(),
            _ => Vec::new(),
        }
    }

    fn reconcile(
        &mut self,
        key: &ObjectKey,
        ctx: &mut Context<'_>,
    ) -> Result<Action, ReconcileError> {
        // cronjob_controllerv2.go sync.
        let Some(object) = ctx.store.get(Kind::CronJob, &key.namespace, &key.name) else {
            return Ok(Action::await_change());
        };
        let Object::CronJob(stored) = &*object else {
            return Ok(Action::await_change());
        };
        let uid = stored.metadata.uid.clone();
        let job_objects: Vec<Arc<Object>> = ctx.dependents(&uid, Kind::Job);
        let jobs: Vec<&Job> = job_objects
            .iter()
            .filter_map(|o| match &**o {
                Object::Job(j) if is_controlled_by(&j.metadata, &uid) => Some(&**j),
                _ => None,
            })
            .collect();
        let mut cron_job = stored.clone();
        cleanup_finished_jobs(ctx, key, &mut cron_job, &jobs);
        let result = sync_cron_job(ctx, key, &mut cron_job, &jobs);
        write_status(ctx, stored, &cron_job.status)?;
        let requeue = result?;
        Ok(match requeue {
            Some(after) => Action::requeue(after),
            None => Action::await_change(),
        })
    }
}

fn is_succeeded(job: &Job) -> bool {
    job.status.is_condition_true(JobConditionType::Complete)
}

fn remove_from_active(status: &mut CronJobStatus, uid: &str) {
    status.active.retain(|r| r.uid != uid);
}

/// cronjob_controllerv2.go `syncCronJob`: tracks the Jobs and starts the one due, if any;
/// returns when to look again.
fn sync_cron_job(
    ctx: &mut Context<'_>,
    key: &ObjectKey,
    cron_job: &mut CronJob,
    jobs: &[&Job],
) -> Result<Option<Duration>, ReconcileError> {
    let now = ctx.now;
    for job in jobs {
        let uid = &job.metadata.uid;
        let found = cron_job.status.active.iter().any(|r| &r.uid == uid);
        if !found && !job.is_finished() {
            ctx.warning(
                key,
                "UnexpectedJob",
                format!(
                    "Saw a job that the controller did not create or forgot: {}",
                    job.metadata.name
                ),
            );
        } else if found && job.is_finished() {
            let status = if is_succeeded(job) {
                "Complete"
            } else {
                "Failed"
            };
            remove_from_active(&mut cron_job.status, uid);
            ctx.normal(
                key,
                "SawCompletedJob",
                format!("Saw completed job: {}, status: {status}", job.metadata.name),
            );
        } else if is_succeeded(job) {
            // A succeeded Job need not be active for its completion time to count.
            let last = &mut cron_job.status.last_successful_time;
            if let Some(t) = job.status.completion_time {
                if last.is_none_or(|l| t > l) {
                    *last = Some(t);
                }
            }
        }
    }
    // Active references to Jobs that no longer exist go.
    let children: Vec<&str> = jobs.iter().map(|j| j.metadata.uid.as_str()).collect();
    let missing: Vec<ObjectReference> = cron_job
        .status
        .active
        .iter()
        .filter(|r| !children.contains(&r.uid.as_str()))
        .filter(|r| ctx.store.get(Kind::Job, &r.namespace, &r.name).is_none())
        .cloned()
        .collect();
    for r in missing {
        ctx.normal(
            key,
            "MissingJob",
            format!("Active job went missing: {}", r.name),
        );
        remove_from_active(&mut cron_job.status, &r.uid);
    }

    if cron_job.metadata.deletion_timestamp.is_some() {
        return Ok(None);
    }
    let schedule = match parse_schedule(cron_job) {
        Ok(s) => s,
        Err((reason, message)) => {
            ctx.warning(key, reason, message);
            return Ok(None);
        }
    };
    if cron_job.spec.suspend == Some(true) {
        return Ok(None);
    }

    // utils.go nextScheduleTime.
    let scheduled = match most_recent_schedule_time(cron_job, now, &schedule, true) {
        Err(e) => {
            ctx.warning(
                key,
                "InvalidSchedule",
                format!("invalid schedule: {} : {e}", cron_job.spec.schedule),
            );
            return Ok(None);
        }
        Ok(recent) => {
            if recent.most_recent.is_some() && recent.missed == MissedSchedules::Many {
                ctx.warning(
                    key,
                    "TooManyMissedTimes",
                    "too many missed start times. Set or decrease .spec.startingDeadlineSeconds or check clock skew"
                        .into(),
                );
            }
            recent.most_recent
        }
    };
    let next = |cj: &CronJob| next_schedule_time_duration(cj, now, &schedule);
    let Some(scheduled) = scheduled else {
        return Ok(next(cron_job));
    };
    if let Some(deadline) = cron_job.spec.starting_deadline_seconds {
        if scheduled.saturating_add(secs(deadline)) < now {
            ctx.warning(
                key,
                "MissSchedule",
                format!(
                    "Missed scheduled time to start a job: {}",
                    rfc1123z(scheduled)
                ),
            );
            return Ok(next(cron_job));
        }
    }
    let name = job_name(&cron_job.metadata.name, scheduled);
    if cron_job.status.active.iter().any(|r| r.name == name)
        || cron_job.status.last_schedule_time == Some(scheduled)
    {
        return Ok(next(cron_job));
    }
    let policy = cron_job.spec.concurrency_policy.unwrap_or_default();
    if policy == ConcurrencyPolicy::Forbid && !cron_job.status.active.is_empty() {
        ctx.normal(
            key,
            "JobAlreadyActive",
            "Not starting job because prior execution is running and concurrency policy is Forbid"
                .into(),
        );
        return Ok(next(cron_job));
    }
    if policy == ConcurrencyPolicy::Replace {
        for r in cron_job.status.active.clone() {
            let Some(object) = ctx.store.get(Kind::Job, &r.namespace, &r.name) else {
                let message = format!("jobs.batch {:?} not found", r.name);
                ctx.warning(key, "FailedGet", format!("Get job: {message}"));
                return Err(ReconcileError::Other(message));
            };
            let Object::Job(job) = &*object else {
                continue;
            };
            if !delete_job(ctx, key, cron_job, job) {
                return Err(ReconcileError::Other(format!(
                    "could not replace job {}/{}",
                    r.namespace, r.name
                )));
            }
        }
    }

    let job = job_from_template(cron_job, scheduled);
    let created = match ctx.store.create(job.into(), now) {
        Ok(created) => {
            ctx.normal(key, "SuccessfulCreate", format!("Created job {name}"));
            created
        }
        Err(StoreError::AlreadyExists { .. }) => {
            // Created before, but the status update was lost: adopt it into the active list
            // if it is ours.
            let Some(existing) = ctx
                .store
                .get(Kind::Job, &cron_job.metadata.namespace, &name)
            else {
                return Ok(None);
            };
            let ours = is_controlled_by(existing.metadata(), &cron_job.metadata.uid);
            let listed = cron_job
                .status
                .active
                .iter()
                .any(|r| r.uid == existing.metadata().uid);
            if !ours || listed {
                return Ok(None);
            }
            existing
        }
        Err(e) => {
            ctx.warning(key, "FailedCreate", format!("Error creating job: {e}"));
            return Err(e.into());
        }
    };
    let meta = created.metadata();
    cron_job.status.active.push(ObjectReference {
        kind: Kind::Job.name().into(),
        namespace: meta.namespace.clone(),
        name: meta.name.clone(),
        uid: meta.uid.clone(),
        api_version: Kind::Job.api_version().into(),
        resource_version: meta.resource_version.clone(),
        field_path: String::new(),
    });
    cron_job.status.last_schedule_time = Some(scheduled);
    Ok(next(cron_job))
}

/// utils.go `getJobFromTemplate2`: the Job for `scheduled`, with the template's labels and
/// annotations, the scheduled-timestamp annotation and a controller reference.
fn job_from_template(cron_job: &CronJob, scheduled: Time) -> Job {
    let template = &cron_job.spec.job_template;
    let mut annotations = template.metadata.annotations.clone();
    annotations.insert(
        CRON_JOB_SCHEDULED_TIMESTAMP_ANNOTATION.into(),
        scheduled.to_rfc3339(),
    );
    Job {
        metadata: ObjectMeta {
            name: job_name(&cron_job.metadata.name, scheduled),
            namespace: cron_job.metadata.namespace.clone(),
            labels: template.metadata.labels.clone(),
            annotations,
            owner_references: vec![controller_ref(Kind::CronJob, &cron_job.metadata)],
            ..ObjectMeta::default()
        },
        spec: template.spec.clone(),
        status: Default::default(),
    }
}

/// cronjob_controllerv2.go `deleteJob`: deletes the Job (Background propagation) and drops it
/// from the active list; returns whether it is gone.
fn delete_job(ctx: &mut Context<'_>, key: &ObjectKey, cron_job: &mut CronJob, job: &Job) -> bool {
    let options = DeleteOptions {
        propagation_policy: PropagationPolicy::Background,
        ..DeleteOptions::default()
    };
    let meta = &job.metadata;
    match ctx
        .store
        .delete(Kind::Job, &meta.namespace, &meta.name, &options, ctx.now)
    {
        Ok(_) | Err(StoreError::NotFound { .. }) => {
            remove_from_active(&mut cron_job.status, &meta.uid);
            ctx.normal(
                key,
                "SuccessfulDelete",
                format!("Deleted job {}", meta.name),
            );
            true
        }
        Err(e) => {
            ctx.warning(key, "FailedDelete", format!("Deleted job: {e}"));
            false
        }
    }
}

/// cronjob_controllerv2.go `cleanupFinishedJobs`/`removeOldestJobs`: deletes the oldest
/// finished Jobs (by start time, then name) beyond `successfulJobsHistoryLimit` and
/// `failedJobsHistoryLimit`.
fn cleanup_finished_jobs(
    ctx: &mut Context<'_>,
    key: &ObjectKey,
    cron_job: &mut CronJob,
    jobs: &[&Job],
) {
    let spec = &cron_job.spec;
    let limits = [
        (spec.successful_jobs_history_limit, true),
        (spec.failed_jobs_history_limit, false),
    ];
    for (limit, successful) in limits {
        let Some(limit) = limit else {
            continue;
        };
        let mut finished: Vec<&Job> = jobs
            .iter()
            .copied()
            .filter(|j| j.is_finished() && is_succeeded(j) == successful)
            .filter(|j| j.metadata.deletion_timestamp.is_none())
            .collect();
        let excess = finished.len().saturating_sub(limit.max(0) as usize);
        if excess == 0 {
            continue;
        }
        // byJobStartTime: Jobs without a start time sort last.
        finished.sort_by(|a, b| {
            let start = |j: &Job| (j.status.start_time.is_none(), j.status.start_time);
            start(a)
                .cmp(&start(b))
                .then_with(|| a.metadata.name.cmp(&b.metadata.name))
        });
        for job in finished.into_iter().take(excess) {
            delete_job(ctx, key, cron_job, job);
        }
    }
}

/// Writes `status` onto a fresh copy of the stored CronJob, unless nothing changed.
fn write_status(
    ctx: &mut Context<'_>,
    stored: &CronJob,
    status: &CronJobStatus,
) -> Result<(), ReconcileError> {
    if stored.status == *status {
        return Ok(());
    }
    let meta = &stored.metadata;
    let Some(object) = ctx.store.get(Kind::CronJob, &meta.namespace, &meta.name) else {
        return Ok(());
    };
    let Object::CronJob(fresh) = &*object else {
        return Ok(());
    };
    let mut updated = fresh.clone();
    updated.status = status.clone();
    ctx.store.update_status(updated.into(), ctx.now)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::job::JobController;
    use crate::testing::Harness;
    use flotilla_model::api::{Container, PodPhase, RestartPolicy};

    const NS: &str = "default";

    fn at(s: &str) -> Time {
        Time::parse_rfc3339(s).expect("a time")
    }

    fn next(schedule: &str, after: &str) -> String {
        CronSchedule::parse(schedule)
            .expect("valid")
            .next_after(at(after))
            .expect("fires")
            .to_string()
    }

    fn cron_job(name: &str, schedule: &str) -> CronJob {
        let mut cj = CronJob {
            metadata: ObjectMeta::named(NS, name),
            ..Default::default()
        };
        cj.spec.schedule = schedule.into();
        let job = &mut cj.spec.job_template.spec;
        job.backoff_limit = Some(0);
        job.template.spec.restart_policy = Some(RestartPolicy::Never);
        job.template.spec.containers = vec![Container {
            name: "hello".into(),
            image: "busybox:1.36".into(),
            ..Default::default()
        }]
        .into();
        cj
    }

    /// A harness at `start` running the CronJob and Job controllers.
    fn harness(start: &str) -> Harness {
        let mut h = Harness::new(vec![
            Box::new(CronJobController::new()),
            Box::new(JobController::new()),
        ]);
        h.now = at(start);
        h
    }

    fn stored(h: &Harness, name: &str) -> CronJob {
        h.stored(NS, name)
    }

    fn job_names(h: &Harness) -> Vec<String> {
        h.store
            .iter_namespace(Kind::Job, NS)
            .map(|o| o.metadata().name.clone())
            .collect()
    }

    fn active_names(h: &Harness, name: &str) -> Vec<String> {
        stored(h, name)
            .status
            .active
            .iter()
            .map(|r| r.name.clone())
            .collect()
    }

    /// Plays the kubelet for the Job's pods: each active one ends in `phase`.
    fn finish_job(h: &mut Harness, job: &str, phase: PodPhase) {
        for pod in h.pods(NS) {
            let owned = pod.metadata.controller_ref().is_some_and(|r| r.name == job);
            if owned && !pod.phase().is_terminal() {
                h.set_pod_status(NS, &pod.metadata.name, phase, false);
            }
        }
    }

    fn events(h: &Harness, reason: &str) -> Vec<String> {
        h.recorder
            .events()
            .filter(|e| e.reason == reason && e.object.kind == Kind::CronJob)
            .map(|e| e.message.clone())
            .collect()
    }

    #[test]
    fn schedules_give_hand_computed_next_times() {
        // 2026-01-02 is a Friday.
        let business = "*/15 9-17 * * MON-FRI";
        assert_eq!(
            next(business, "2026-01-02T17:50:00Z"),
            "2026-01-05T09:00:00Z"
        );
        assert_eq!(
            next(business, "2026-01-05T09:00:00Z"),
            "2026-01-05T09:15:00Z"
        );
        assert_eq!(
            next(business, "2026-01-05T17:45:00Z"),
            "2026-01-06T09:00:00Z"
        );
        assert_eq!(
            next("0 0 1,15 * *", "2026-01-01T00:00:00Z"),
            "2026-01-15T00:00:00Z"
        );
        assert_eq!(
            next("0 0 1,15 * *", "2026-01-15T00:00:00Z"),
            "2026-02-01T00:00:00Z"
        );
        // 2028 is a leap year.
        assert_eq!(
            next("0 0 29 2 *", "2027-03-01T00:00:00Z"),
            "2028-02-29T00:00:00Z"
        );
        assert_eq!(
            next("0 0 29 2 *", "2028-02-29T00:00:00Z"),
            "2032-02-29T00:00:00Z"
        );
        // @weekly is Sunday midnight; 2026-01-04 is a Sunday.
        assert_eq!(
            next("@weekly", "2026-01-04T00:00:00Z"),
            "2026-01-11T00:00:00Z"
        );
        assert_eq!(
            next("@hourly", "2026-01-04T10:59:59Z"),
            "2026-01-04T11:00:00Z"
        );
        // Sunday is 0; both day fields restricted: the 1st of the month OR a Sunday.
        assert_eq!(
            next("0 12 1 * 0", "2026-01-02T00:00:00Z"),
            "2026-01-04T12:00:00Z"
        );
        assert_eq!(
            next("0 12 1 * sun", "2026-01-25T13:00:00Z"),
            "2026-02-01T12:00:00Z"
        );
        // Kubernetes (robfig/cron) accepts 0–6 only for the day of the week.
        assert!(CronSchedule::parse("0 0 * * 7").is_err());
        assert!(CronSchedule::parse("0 0 * * mon-fri").is_ok());
    }

    #[test]
    fn the_most_recent_unmet_time_and_missed_counts() {
        let schedule = CronSchedule::parse("0 * * * *").unwrap();
        let mut cj = cron_job("hourly", "0 * * * *");
        cj.metadata.creation_timestamp = Some(at("2026-01-01T09:30:00Z"));
        let recent = |cj: &CronJob, now: &str, deadline| {
            most_recent_schedule_time(cj, at(now), &schedule, deadline).unwrap()
        };
        let r = recent(&cj, "2026-01-01T09:59:00Z", true);
        assert_eq!((r.most_recent, r.missed), (None, MissedSchedules::None));
        let r = recent(&cj, "2026-01-01T10:00:05Z", true);
        assert_eq!(r.most_recent, Some(at("2026-01-01T10:00:00Z")));
        let r = recent(&cj, "2026-01-01T13:30:00Z", true);
        assert_eq!(r.most_recent, Some(at("2026-01-01T13:00:00Z")));
        assert_eq!(r.missed, MissedSchedules::Few);
        let r = recent(&cj, "2026-01-10T13:30:00Z", true);
        assert_eq!(r.missed, MissedSchedules::Many);
        assert_eq!(r.most_recent, Some(at("2026-01-10T13:00:00Z")));
        // The starting deadline hides runs older than it.
        cj.spec.starting_deadline_seconds = Some(600);
        let r = recent(&cj, "2026-01-01T10:20:00Z", true);
        assert_eq!(r.most_recent, None);
        assert_eq!(r.earliest, at("2026-01-01T10:10:00Z"));
        assert_eq!(
            next_schedule_time_duration(&cj, at("2026-01-01T10:20:00Z"), &schedule),
            Some(Duration::from_secs(40 * 60) + NEXT_SCHEDULE_DELTA)
        );
        let never = CronSchedule::parse("0 0 30 2 *").unwrap();
        assert_eq!(
            most_recent_schedule_time(&cj, at("2026-01-01T10:20:00Z"), &never, true),
            Err(ScheduleNeverRepeats)
        );
        assert_eq!(
            job_name("hello", at("2026-01-01T10:05:00Z")),
            "hello-29454365"
        );
        assert_eq!(
            rfc1123z(at("2026-01-02T15:04:05Z")),
            "Fri, 02 Jan 2026 15:04:05 +0000"
        );
    }

    #[test]
    fn an_every_minute_cron_job_creates_jobs_at_the_scheduled_times() {
        let mut h = harness("2026-01-01T10:00:30Z");
        h.apply(cron_job("hello", "* * * * *")).unwrap();
        assert!(job_names(&h).is_empty());
        assert_eq!(
            h.manager.next_wakeup(),
            Some(at("2026-01-01T10:01:00Z") + NEXT_SCHEDULE_DELTA)
        );
        for minute in 1..=3 {
            assert!(h.advance_to_next_wakeup(Duration::from_secs(120)));
            let scheduled = at("2026-01-01T10:00:00Z") + Duration::from_secs(60 * minute);
            assert_eq!(h.now, scheduled + NEXT_SCHEDULE_DELTA);
            let name = job_name("hello", scheduled);
            let job: Job = h.stored(NS, &name);
            assert_eq!(
                job.metadata.annotations[CRON_JOB_SCHEDULED_TIMESTAMP_ANNOTATION],
                scheduled.to_rfc3339()
            );
            let owner = job.metadata.controller_ref().unwrap();
            assert_eq!(
                (owner.kind.as_str(), owner.name.as_str()),
                ("CronJob", "hello")
            );
            let cj = stored(&h, "hello");
            assert_eq!(cj.status.last_schedule_time, Some(scheduled));
            assert!(cj.status.active.iter().any(|r| r.name == name));
            finish_job(&mut h, &name, PodPhase::Succeeded);
        }
        assert_eq!(job_names(&h).len(), 3);
        let cj = stored(&h, "hello");
        assert!(cj.status.active.is_empty());
        assert_eq!(cj.status.last_successful_time, Some(h.now));
        assert_eq!(
            events(&h, "SuccessfulCreate"),
            [
                "Created job hello-29454361",
                "Created job hello-29454362",
                "Created job hello-29454363"
            ]
        );
        assert_eq!(events(&h, "SawCompletedJob").len(), 3);
        assert_eq!(
            events(&h, "SawCompletedJob")[0],
            "Saw completed job: hello-29454361, status: Complete"
        );
    }

    #[test]
    fn forbid_skips_while_a_job_is_active() {
        let mut h = harness("2026-01-01T10:00:30Z");
        let mut cj = cron_job("single", "* * * * *");
        cj.spec.concurrency_policy = Some(ConcurrencyPolicy::Forbid);
        h.apply(cj).unwrap();
        assert!(h.advance_to_next_wakeup(Duration::from_secs(120)));
        assert_eq!(job_names(&h), ["single-29454361"]);
        assert!(h.advance_to_next_wakeup(Duration::from_secs(120)));
        assert_eq!(job_names(&h), ["single-29454361"], "the 10:02 run waits");
        assert_eq!(events(&h, "JobAlreadyActive").len(), 1);
        // When the first Job ends, the 10:02 run (still within its window) starts.
        h.advance(Duration::from_secs(10));
        finish_job(&mut h, "single-29454361", PodPhase::Succeeded);
        assert_eq!(job_names(&h), ["single-29454361", "single-29454362"]);
        assert_eq!(active_names(&h, "single"), ["single-29454362"]);
    }

    #[test]
    fn replace_deletes_the_active_job_and_starts_a_new_one() {
        let mut h = harness("2026-01-01T10:00:30Z");
        let mut cj = cron_job("fresh", "* * * * *");
        cj.spec.concurrency_policy = Some(ConcurrencyPolicy::Replace);
        h.apply(cj).unwrap();
        assert!(h.advance_to_next_wakeup(Duration::from_secs(120)));
        assert_eq!(active_names(&h, "fresh"), ["fresh-29454361"]);
        assert!(h.advance_to_next_wakeup(Duration::from_secs(120)));
        assert_eq!(job_names(&h), ["fresh-29454362"]);
        assert_eq!(active_names(&h, "fresh"), ["fresh-29454362"]);
        assert_eq!(
            events(&h, "SuccessfulDelete"),
            ["Deleted job fresh-29454361"]
        );
        // The replaced Job's pod is released by the job controller.
        assert!(h
            .pods(NS)
            .iter()
            .filter(|p| p.metadata.controller_ref().unwrap().name == "fresh-29454361")
            .all(|p| p.metadata.finalizers.is_empty()));
    }

    #[test]
    fn history_limits_delete_the_oldest_finished_jobs() {
        let mut h = harness("2026-01-01T10:00:30Z");
        let mut cj = cron_job("history", "* * * * *");
        cj.spec.successful_jobs_history_limit = Some(2);
        cj.spec.failed_jobs_history_limit = Some(1);
        h.apply(cj).unwrap();
        let outcomes = [
            PodPhase::Succeeded,
            PodPhase::Failed,
            PodPhase::Succeeded,
            PodPhase::Failed,
            PodPhase::Succeeded,
        ];
        for outcome in outcomes {
            assert!(h.advance_to_next_wakeup(Duration::from_secs(120)));
            let name = active_names(&h, "history")[0].clone();
            finish_job(&mut h, &name, outcome);
        }
        // Kept: the two newest successes (minutes 3 and 5) and the newest failure (4).
        assert_eq!(
            job_names(&h),
            ["history-29454363", "history-29454364", "history-29454365"]
        );
        assert_eq!(
            events(&h, "SuccessfulDelete"),
            [
                "Deleted job history-29454362",
                "Deleted job history-29454361"
            ]
        );
    }

    #[test]
    fn starting_deadline_skips_late_runs() {
        let mut h = harness("2026-01-01T09:59:00Z");
        let mut cj = cron_job("late", "0 * * * *");
        cj.spec.starting_deadline_seconds = Some(30);
        h.apply(cj).unwrap();
        // The controller manager is stalled past 10:00:30.
        h.advance(Duration::from_secs(120));
        assert!(
            job_names(&h).is_empty(),
            "the 10:00 run is past its deadline"
        );
        assert_eq!(stored(&h, "late").status.last_schedule_time, None);
        assert_eq!(
            h.manager.next_wakeup(),
            Some(at("2026-01-01T11:00:00Z") + NEXT_SCHEDULE_DELTA)
        );
        assert!(h.advance_to_next_wakeup(Duration::from_secs(3600)));
        assert_eq!(
            job_names(&h),
            [job_name("late", at("2026-01-01T11:00:00Z"))]
        );
    }

    #[test]
    fn too_many_missed_start_times_warn_and_start_only_the_latest() {
        let mut h = harness("2026-01-01T10:00:30Z");
        h.apply(cron_job("behind", "* * * * *")).unwrap();
        h.advance(Duration::from_secs(3 * 3600));
        assert_eq!(
            events(&h, "TooManyMissedTimes"),
            ["too many missed start times. Set or decrease .spec.startingDeadlineSeconds or check clock skew"]
        );
        assert_eq!(
            job_names(&h),
            [job_name("behind", at("2026-01-01T13:00:00Z"))]
        );
    }

    #[test]
    fn suspended_never_firing_and_non_utc_cron_jobs_start_nothing() {
        let mut h = harness("2026-01-01T10:00:30Z");
        let mut suspended = cron_job("paused", "* * * * *");
        suspended.spec.suspend = Some(true);
        h.apply(suspended).unwrap();
        h.apply(cron_job("feb30", "0 0 30 2 *")).unwrap();
        let mut paris = cron_job("paris", "* * * * *");
        paris.spec.time_zone = Some("Europe/Paris".into());
        h.apply(paris).unwrap();
        let mut utc = cron_job("utc", "* * * * *");
        utc.spec.time_zone = Some("Etc/UTC".into());
        h.apply(utc).unwrap();
        h.advance(Duration::from_secs(600));
        assert_eq!(job_names(&h), [job_name("utc", at("2026-01-01T10:10:00Z"))]);
        assert_eq!(
            events(&h, "InvalidSchedule"),
            ["invalid schedule: 0 0 30 2 * : time difference between two schedules is less than 1 second"]
        );
        assert_eq!(
            events(&h, "UnknownTimeZone"),
            ["invalid timeZone: \"Europe/Paris\": time zones other than UTC are not supported by flotilla"]
        );
        let mut tz = cron_job("tz", "TZ=Europe/Paris 0 * * * *");
        let parsed = parse_schedule(&tz);
        assert_eq!(
            parsed.map_err(|e| e.0),
            Err("UnparseableSchedule"),
            "a TZ prefix naming another zone is refused"
        );
        tz.spec.schedule = "CRON_TZ=UTC 0 * * * *".into();
        assert_eq!(
            parse_schedule(&tz),
            Ok(CronSchedule::parse("0 * * * *").unwrap())
        );
    }
}
