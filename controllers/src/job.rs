//! The Job controller (kube-controller-manager's `job-controller`,
//! `pkg/controller/job/job_controller.go`, v1.34) and the TTL-after-finished controller
//! (`pkg/controller/ttlafterfinished/ttlafterfinished_controller.go`).
//!
//! A Job runs pods to completion. The controller keeps `parallelism` pods running until
//! `completions` of them have succeeded (or, without `completions`, until one has succeeded and
//! the rest have ended), re-creates failed pods after the pod failure back-off, and fails the Job
//! when its `backoffLimit`, its `activeDeadlineSeconds` or a `podFailurePolicy` rule says so. In
//! `Indexed` mode every pod carries a completion index and each index must succeed once.
//!
//! Finished pods are accounted for as Kubernetes does since the job-tracking finalizer went GA
//! (`trackJobStatusAndRemoveFinalizers`): every pod is created with the
//! `batch.kubernetes.io/job-tracking` finalizer; a finished pod's uid is first written into
//! `status.uncountedTerminatedPods` (or, for Indexed jobs, its index into
//! `status.completedIndexes`), then its finalizer is removed, then the uid moves into the
//! `succeeded`/`failed` counters. A pod that is deleted after it finished can therefore never be
//! lost, and a pod is never counted twice.
//!
//! Not modelled (yet): `backoffLimitPerIndex`, `maxFailedIndexes` and the `FailIndex` action
//! (a `FailIndex` rule counts the failure like `Count`), `successPolicy`, adoption of orphan
//! pods by selector (the selector is generated from the Job's uid, so in practice only the
//! Job's own pods match), and the `managedBy` hand-off beyond ignoring Jobs managed by someone
//! else.

use std::cmp::Ordering;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use flotilla_model::api::{
    ConditionStatus, EnvVar, EnvVarSource, Job, JobCondition, JobConditionType, JobStatus,
    ObjectFieldSelector, Pod, PodCondition, PodFailurePolicy, PodFailurePolicyAction,
    PodFailurePolicyOnExitCodesOperator, PodPhase, PodReplacementPolicy, RestartPolicy,
    UncountedTerminatedPods, JOB_COMPLETION_INDEX_ANNOTATION, JOB_CONTROLLER_NAME,
};
use flotilla_model::store::{DeleteOptions, ObjectKey, PropagationPolicy, StoreError, WatchEvent};
use flotilla_model::{Duration, Kind, Object, Time};

use crate::controller::{controller_key, Action, Context, Controller, Lookup, ReconcileError};
use crate::pods::{is_controlled_by, is_pod_active, pod_from_template, ready_since, secs};

/// The finalizer the controller puts on every pod it creates, so that a finished pod stays
/// until it has been counted (batch/v1 `JobTrackingFinalizer`).
pub const JOB_TRACKING_FINALIZER: &str = "batch.kubernetes.io/job-tracking";
/// The label carrying an Indexed Job pod's completion index (batch/v1 `JobCompletionIndexLabel`,
/// the same key as the annotation).
pub const JOB_COMPLETION_INDEX_LABEL: &str = JOB_COMPLETION_INDEX_ANNOTATION;
/// The environment variable an Indexed Job pod's containers read their index from
/// (job_controller.go `addCompletionIndexEnvVariable`).
pub const JOB_COMPLETION_INDEX_ENV: &str = "JOB_COMPLETION_INDEX";
/// The first delay before a failed pod is replaced (job_controller.go
/// `DefaultJobPodFailureBackOff`); it doubles with each further failure.
pub const DEFAULT_JOB_POD_FAILURE_BACKOFF: Duration = Duration::from_secs(10);
/// The longest delay before a failed pod is replaced (job_controller.go
/// `MaxJobPodFailureBackOff`).
pub const MAX_JOB_POD_FAILURE_BACKOFF: Duration = Duration::from_secs(360);
/// The `backoffLimit` of a Job that sets none (batch/v1 defaults).
pub const DEFAULT_BACKOFF_LIMIT: i32 = 6;

/// job_controller.go `MaxPodCreateDeletePerSync`.
const MAX_POD_CREATE_DELETE_PER_SYNC: usize = 500;
/// job_controller.go `MaxUncountedPods`: how many uids one status write may carry.
const MAX_UNCOUNTED_PODS: usize = 500;
/// apiserver `names.MaxGeneratedNameLength` (63 minus the 5 random characters).
const MAX_GENERATED_NAME_LENGTH: usize = 58;

// Condition reasons and messages (batch/v1 `JobReason*`, job_controller.go).
const REASON_BACKOFF_LIMIT_EXCEEDED: &str = "BackoffLimitExceeded";
const REASON_DEADLINE_EXCEEDED: &str = "DeadlineExceeded";
const REASON_POD_FAILURE_POLICY: &str = "PodFailurePolicy";
const REASON_COMPLETIONS_REACHED: &str = "CompletionsReached";

// ---------------------------------------------------------------------------------------------
// The Job controller.
// ---------------------------------------------------------------------------------------------

/// The pod failure back-off of one Job (job_controller.go `backoffRecord`): how many pods
/// failed since the last success, and when the last of them did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
struct BackoffRecord {
    uid: String,
    failures_after_last_success: u32,
    last_failure_time: Option<Time>,
}

impl BackoffRecord {
    /// backoff_utils.go `getRemainingTimeForFailuresCount`: 10 s · 2^(n-1), at most 6 min,
    /// counted from the last failure.
    fn remaining(&self, now: Time) -> Duration {
        let Some(last) = self.last_failure_time else {
            return Duration::ZERO;
        };
        if self.failures_after_last_success == 0 {
            return Duration::ZERO;
        }
        let mut backoff = DEFAULT_JOB_POD_FAILURE_BACKOFF;
        for _ in 1..self.failures_after_last_success {
            backoff = backoff.saturating_mul(2);
            if backoff >= MAX_JOB_POD_FAILURE_BACKOFF {
                backoff = MAX_JOB_POD_FAILURE_BACKOFF;
                break;
            }
        }
        backoff.saturating_sub(now.saturating_duration_since(last))
    }

    /// backoff_utils.go `newBackoffRecord`: the record after this sync's newly finished pods
    /// (each list sorted by finish time).
    fn after(&self, succeeded: &[&Pod], failed: &[&Pod]) -> BackoffRecord {
        let mut record = self.clone();
        match (succeeded.last(), failed.last()) {
            (None, None) => {}
            (None, Some(last)) => {
                record.failures_after_last_success = record
                    .failures_after_last_success
                    .saturating_add(failed.len() as u32);
                record.last_failure_time = Some(finish_time(last));
            }
            (Some(last_success), _) => {
                record.failures_after_last_success = 0;
                record.last_failure_time = None;
                let success_time = finish_time(last_success);
                for pod in failed.iter().rev() {
                    let t = finish_time(pod);
                    if t <= success_time {
                        break;
                    }
                    record.last_failure_time.get_or_insert(t);
                    record.failures_after_last_success += 1;
                }
            }
        }
        record
    }
}

/// The Job controller (`job-controller`). See the [module docs](self).
#[derive(Debug, Default)]
pub struct JobController {
    /// The pod failure back-off per Job (job_controller.go `podBackoffStore`), rebuilt from
    /// the pods it sees finish.
    backoff: BTreeMap<ObjectKey, BackoffRecord>,
}

impl JobController {
    /// A Job controller with no back-off history.
    pub fn new() -> JobController {
        JobController::default()
    }
}

impl Controller for JobController {
    fn name(&self) -> &'static str {
        "job-controller"
    }

    fn watched_kinds(&self) -> &'static [Kind] {
        &[Kind::Job, Kind::Pod]
    }

    fn keys_for_event(&self, event: &WatchEvent, _lookup: Lookup<'_>) -> Vec<ObjectKey> {
        match &*event.object {
            Object::Job(_) => vec![ObjectKey::of(&event.object)],
            // job_controller.go addPod/updatePod/deletePod: a pod wakes the Job named by its
            // controller reference (pods are never adopted by selector in practice: the
            // selector is generated from the Job's uid).
            Object::Pod(pod) => controller_key(&pod.metadata, Kind::Job)
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
        let Some(object) = ctx.store.get(Kind::Job, &key.namespace, &key.name) else {
            // The Job is gone: release the pods it still holds by the tracking finalizer
            // (job_controller.go syncOrphanPod).
            self.backoff.remove(key);
            release_orphan_pods(key, ctx)?;
            return Ok(Action::await_change());
        };
        let Object::Job(job) = &*object else {
            return Ok(Action::await_change());
        };
        // job_controller.go syncJob: Jobs managed by another controller are left alone.
        if job
            .spec
            .managed_by
            .as_deref()
            .is_some_and(|m| m != JOB_CONTROLLER_NAME)
        {
            return Ok(Action::await_change());
        }
        let uid = job.metadata.uid.clone();
        let objects = ctx.dependents(&uid, Kind::Pod);
        let pods: Vec<&Pod> = objects
            .iter()
            .filter_map(|o| match &**o {
                Object::Pod(p) if is_controlled_by(&p.metadata, &uid) => Some(p),
                _ => None,
            })
            .collect();
        if job.is_finished() {
            // A finished Job creates nothing; its pods no longer need to be tracked
            // (job_controller.go syncJob, syncOrphanPod).
            self.backoff.remove(key);
            remove_finalizers(ctx, pods.iter().copied().filter(|p| has_finalizer(p)))?;
            return Ok(Action::await_change());
        }
        let record = match self.backoff.get(key) {
            Some(r) if r.uid == uid => r.clone(),
            _ => BackoffRecord {
                uid: uid.clone(),
                ..BackoffRecord::default()
            },
        };
        let mut sync = Sync {
            key,
            job,
            pods: &pods,
            record,
        };
        let result = sync.run(ctx);
        if let Ok((_, record)) = &result {
            self.backoff.insert(key.clone(), record.clone());
        }
        result.map(|(action, _)| action)
    }
}

/// One sync of one Job (job_controller.go `syncJob` and its `syncJobCtx`).
struct Sync<'a> {
    key: &'a ObjectKey,
    job: &'a Job,
    pods: &'a [&'a Pod],
    record: BackoffRecord,
}

impl Sync<'_> {
    fn run(&mut self, ctx: &mut Context<'_>) -> Result<(Action, BackoffRecord), ReconcileError> {
        let job = self.job;
        let now = ctx.now;
        let spec = &job.spec;
        let indexed = job.is_indexed();
        let completions = spec.completions;
        let backoff_limit = spec.backoff_limit.unwrap_or(DEFAULT_BACKOFF_LIMIT);
        let suspended = spec.suspend == Some(true);
        let only_failed = only_replace_failed_pods(job);
        let policy = spec.pod_failure_policy.as_ref();

        let mut status = job.status.clone();
        let uncounted = status
            .uncounted_terminated_pods
            .get_or_insert_with(UncountedTerminatedPods::default)
            .clone();
        let uncounted_succeeded: BTreeSet<&str> =
            uncounted.succeeded.iter().map(String::as_str).collect();
        let uncounted_failed: BTreeSet<&str> =
            uncounted.failed.iter().map(String::as_str).collect();

        let active_pods: Vec<&Pod> = self
            .pods
            .iter()
            .copied()
            .filter(|p| is_pod_active(p))
            .collect();
        let mut terminating = self.pods.iter().filter(|p| is_terminating(p)).count();
        let valid_index = |p: &Pod| {
            !indexed || completion_index(p).is_some_and(|ix| ix < completions.unwrap_or(0))
        };

        // job_controller.go getNewFinishedPods: finished pods not yet in the status.
        let mut new_succeeded: Vec<&Pod> = self
            .pods
            .iter()
            .copied()
            .filter(|p| {
                has_finalizer(p)
                    && !uncounted_succeeded.contains(p.metadata.uid.as_str())
                    && valid_index(p)
                    && p.phase() == PodPhase::Succeeded
            })
            .collect();
        let mut new_failed: Vec<&Pod> = self
            .pods
            .iter()
            .copied()
            .filter(|p| {
                has_finalizer(p)
                    && !uncounted_failed.contains(p.metadata.uid.as_str())
                    && valid_index(p)
                    && is_pod_failed(p, only_failed)
            })
            .collect();
        new_succeeded.sort_by_key(|p| (finish_time(p), p.metadata.name.clone()));
        new_failed.sort_by_key(|p| (finish_time(p), p.metadata.name.clone()));
        // nonIgnoredFailedPodsCount: pods a policy ignores do not count towards the limit.
        let counted_new_failed = new_failed
            .iter()
            .filter(|p| match_pod_failure_policy(policy, p).count_failed)
            .count();
        let failed =
            i64::from(status.failed) + (counted_new_failed + uncounted_failed.len()) as i64;
        let mut succeeded =
            i64::from(status.succeeded) + (new_succeeded.len() + uncounted_succeeded.len()) as i64;
        let record = self.record.after(&new_succeeded, &new_failed);

        // job_controller.go syncJob: the start time is set when the Job first runs.
        if status.start_time.is_none() && !suspended {
            status.start_time = Some(now);
        }

        // job_controller.go calculateSucceededIndexes.
        let completions_bound = completions.unwrap_or(0);
        let prev_succeeded_indexes = if indexed {
            Intervals::parse(&status.completed_indexes, completions_bound)
        } else {
            Intervals::default()
        };
        let mut succeeded_indexes = prev_succeeded_indexes.clone();
        if indexed {
            for pod in self.pods {
                if pod.phase() == PodPhase::Succeeded && has_finalizer(pod) {
                    if let Some(ix) = completion_index(pod).filter(|ix| *ix < completions_bound) {
                        succeeded_indexes.insert(ix);
                    }
                }
            }
            succeeded = succeeded_indexes.total();
        }

        // The finished condition this sync works towards (job_controller.go syncJob).
        let mut requeue = Action::await_change();
        let mut finished: Option<JobCondition> =
            condition_true(&status, JobConditionType::SuccessCriteriaMet).cloned();
        if finished.is_none() {
            if let Some(target) = condition_true(&status, JobConditionType::FailureTarget) {
                // newFailedConditionForFailureTarget.
                finished = Some(new_condition(
                    JobConditionType::Failed,
                    &target.reason,
                    &target.message,
                    now,
                ));
            } else if let Some(message) = fail_job_message(job, self.pods, only_failed) {
                finished = Some(new_condition(
                    JobConditionType::FailureTarget,
                    REASON_POD_FAILURE_POLICY,
                    &message,
                    now,
                ));
            }
        }
        if finished.is_none() {
            if failed > i64::from(backoff_limit) || past_backoff_limit_on_failure(job, self.pods) {
                finished = Some(new_condition(
                    JobConditionType::FailureTarget,
                    REASON_BACKOFF_LIMIT_EXCEEDED,
                    "Job has reached the specified backoff limit",
                    now,
                ));
            } else if let Some(deadline) = active_deadline(job, &status) {
                if now >= deadline {
                    finished = Some(new_condition(
                        JobConditionType::FailureTarget,
                        REASON_DEADLINE_EXCEEDED,
                        "Job was active longer than specified deadline",
                        now,
                    ));
                } else {
                    requeue = requeue.min(Action::requeue(deadline.saturating_duration_since(now)));
                }
            }
        }

        let mut active = active_pods.len();
        let mut ready = active_pods.iter().filter(|p| p.is_ready()).count();
        let mut manage_error = None;
        if finished.is_some() {
            // job_controller.go syncJob: a failing (or successful by policy) Job deletes its
            // active pods; it is finished only once all of them are.
            let outcome = delete_pods(ctx, self.key, &active_pods);
            if outcome.deleted != active {
                finished = None;
            }
            active -= outcome.deleted;
            ready -= outcome.deleted_ready;
            terminating += outcome.deleted;
            manage_error = outcome.error;
        } else {
            let mut managed = false;
            if job.metadata.deletion_timestamp.is_none() {
                let outcome = self.manage_job(
                    ctx,
                    &active_pods,
                    succeeded,
                    &succeeded_indexes,
                    terminating,
                    &record,
                );
                active = outcome.active;
                ready -= outcome.deleted_ready;
                terminating += outcome.deleted;
                requeue = requeue.min(outcome.requeue);
                manage_error = outcome.error;
                managed = true;
            }
            let complete = match completions {
                // Without completions, any success completes the Job once the rest end.
                None => succeeded > 0 && active == 0,
                Some(c) => succeeded >= i64::from(c) && active == 0,
            };
            if complete {
                finished = Some(new_condition(
                    JobConditionType::SuccessCriteriaMet,
                    REASON_COMPLETIONS_REACHED,
                    "Reached expected number of succeeded pods",
                    now,
                ));
            } else if managed {
                let changed = if suspended {
                    ensure_condition(
                        &mut status.conditions,
                        JobConditionType::Suspended,
                        ConditionStatus::True,
                        "JobSuspended",
                        "Job suspended",
                        now,
                    )
                } else {
                    ensure_condition(
                        &mut status.conditions,
                        JobConditionType::Suspended,
                        ConditionStatus::False,
                        "JobResumed",
                        "Job resumed",
                        now,
                    )
                };
                if changed && suspended {
                    ctx.normal(self.key, "Suspended", "Job suspended".into());
                } else if changed {
                    ctx.normal(self.key, "Resumed", "Job resumed".into());
                    // A resumed Job's active deadline counts from the resumption.
                    status.start_time = Some(now);
                }
            }
        }

        status.active = count(active);
        status.ready = Some(count(ready));
        status.terminating = Some(count(terminating));

        let tracking = Tracking {
            job,
            pods: self.pods,
            indexed,
            completions: completions_bound,
            only_failed,
            prev_succeeded_indexes,
            terminating,
        };
        let finished_now = tracking.track_and_remove_finalizers(ctx, &mut status, finished)?;
        if let Some(condition) = finished_now {
            // job_controller.go recordJobFinished.
            if condition.type_ == JobConditionType::Complete {
                ctx.normal(self.key, "Completed", "Job completed".into());
            } else {
                ctx.warning(self.key, &condition.reason, condition.message.clone());
            }
            return match manage_error {
                Some(e) => Err(e),
                None => Ok((Action::await_change(), record)),
            };
        }
        match manage_error {
            Some(e) => Err(e),
            None => Ok((requeue, record)),
        }
    }

    /// job_controller.go `manageJob`: creates or deletes pods to reach the wanted number of
    /// active ones.
    fn manage_job(
        &self,
        ctx: &mut Context<'_>,
        active_pods: &[&Pod],
        succeeded: i64,
        succeeded_indexes: &Intervals,
        terminating: usize,
        record: &BackoffRecord,
    ) -> ManageOutcome {
        let job = self.job;
        let spec = &job.spec;
        let active = active_pods.len();
        let parallelism = spec.parallelism.unwrap_or(1).max(0) as usize;
        if spec.suspend == Some(true) {
            let to_delete = pods_for_removal(job, active_pods, active);
            let outcome = delete_pods(ctx, self.key, &to_delete);
            return ManageOutcome {
                active: active - outcome.deleted,
                deleted: outcome.deleted,
                deleted_ready: outcome.deleted_ready,
                requeue: Action::await_change(),
                error: outcome.error,
            };
        }
        let want_active = match spec.completions {
            // Without completions, once a pod has succeeded, the running ones are left to end.
            None if succeeded > 0 => active,
            None => parallelism,
            Some(c) => (i64::from(c) - succeeded).clamp(0, parallelism as i64) as usize,
        };
        let rm_at_least = active.saturating_sub(want_active);
        let mut to_delete = pods_for_removal(job, active_pods, rm_at_least);
        to_delete.truncate(MAX_POD_CREATE_DELETE_PER_SYNC);
        if !to_delete.is_empty() {
            let outcome = delete_pods(ctx, self.key, &to_delete);
            return ManageOutcome {
                active: active - outcome.deleted,
                deleted: outcome.deleted,
                deleted_ready: outcome.deleted_ready,
                requeue: Action::await_change(),
                error: outcome.error,
            };
        }
        // With podReplacementPolicy Failed, terminating pods still hold their place.
        let held = if only_replace_failed_pods(job) {
            terminating
        } else {
            0
        };
        let mut outcome = ManageOutcome {
            active,
            ..ManageOutcome::default()
        };
        if active + held >= want_active {
            return outcome;
        }
        // The pod failure back-off holds creation back. (Kubernetes also reports 0 active
        // pods for such a sync; the true count is kept here.)
        let remaining = record.remaining(ctx.now);
        if !remaining.is_zero() {
            outcome.requeue = Action::requeue(remaining);
            return outcome;
        }
        let diff = (want_active - active - held).min(MAX_POD_CREATE_DELETE_PER_SYNC);
        let indexes = if job.is_indexed() {
            first_pending_indexes(job, self.pods, active_pods, succeeded_indexes, diff)
                .into_iter()
                .map(Some)
                .collect()
        } else {
            vec![None; diff]
        };
        let (created, error) = create_pods(ctx, self.key, job, &indexes);
        outcome.active += created;
        outcome.error = error;
        outcome
    }
}

#[derive(Debug, Default)]
struct ManageOutcome {
    active: usize,
    deleted: usize,
    deleted_ready: usize,
    requeue: Action,
    error: Option<ReconcileError>,
}

/// The status accounting of one sync (job_controller.go `trackJobStatusAndRemoveFinalizers`,
/// `flushUncountedAndRemoveFinalizers`, `enactJobFinished`).
struct Tracking<'a> {
    job: &'a Job,
    pods: &'a [&'a Pod],
    indexed: bool,
    completions: i32,
    only_failed: bool,
    prev_succeeded_indexes: Intervals,
    terminating: usize,
}

impl Tracking<'_> {
    /// Records newly finished pods in the status, removes their finalizers, moves them into
    /// the counters and, when the Job is done, adds its final condition. Returns the final
    /// condition when it was added now.
    fn track_and_remove_finalizers(
        &self,
        ctx: &mut Context<'_>,
        status: &mut JobStatus,
        mut finished: Option<JobCondition>,
    ) -> Result<Option<JobCondition>, ReconcileError> {
        let now = ctx.now;
        let policy = self.job.spec.pod_failure_policy.as_ref();
        // The interim condition is written before any finalizer goes, the final one after.
        if let Some(c) = &finished {
            if c.type_ == JobConditionType::FailureTarget {
                status.conditions.push(c.clone());
                finished = Some(new_condition(
                    JobConditionType::Failed,
                    &c.reason,
                    &c.message,
                    now,
                ));
            } else if c.type_ == JobConditionType::SuccessCriteriaMet {
                if condition_true(status, JobConditionType::SuccessCriteriaMet).is_none() {
                    status.conditions.push(c.clone());
                }
                finished = Some(new_condition(
                    JobConditionType::Complete,
                    &c.reason,
                    &c.message,
                    now,
                ));
            }
        }
        let failing = finished
            .as_ref()
            .is_some_and(|c| c.type_ == JobConditionType::Failed);
        let mut uncounted = status.uncounted_terminated_pods.clone().unwrap_or_default();
        let known_succeeded: BTreeSet<String> = uncounted.succeeded.iter().cloned().collect();
        let known_failed: BTreeSet<String> = uncounted.failed.iter().cloned().collect();
        let mut to_release: Vec<&Pod> = Vec::new();
        let mut new_indexes: Vec<i32> = Vec::new();
        let mut reached_max = false;
        for &pod in self.pods {
            if !has_finalizer(pod) {
                continue;
            }
            let uid = &pod.metadata.uid;
            let consider_failed = is_pod_failed(pod, self.only_failed);
            // canRemoveFinalizer.
            let releasable = self.job.metadata.deletion_timestamp.is_some()
                || finished.is_some()
                || pod.phase() == PodPhase::Succeeded
                || consider_failed;
            if !releasable {
                continue;
            }
            to_release.push(pod);
            let index = completion_index(pod).filter(|ix| *ix < self.completions);
            if pod.phase() == PodPhase::Succeeded && !known_failed.contains(uid) {
                if self.indexed {
                    // The index is enough to never count a succeeded pod twice.
                    if let Some(ix) = index.filter(|ix| !self.prev_succeeded_indexes.contains(*ix))
                    {
                        new_indexes.push(ix);
                    }
                } else if !known_succeeded.contains(uid) {
                    uncounted.succeeded.push(uid.clone());
                }
            } else if (consider_failed || failing)
                && !known_failed.contains(uid)
                && (!self.indexed || index.is_some())
                && match_pod_failure_policy(policy, pod).count_failed
            {
                // When the Job fails, every pod that did not succeed counts as failed.
                uncounted.failed.push(uid.clone());
            }
            if new_indexes.len() + uncounted.succeeded.len() + uncounted.failed.len()
                >= MAX_UNCOUNTED_PODS
            {
                reached_max = true;
                break;
            }
        }
        if self.indexed {
            let mut indexes = self.prev_succeeded_indexes.clone();
            for ix in new_indexes {
                indexes.insert(ix);
            }
            status.completed_indexes = indexes.to_string();
            status.succeeded = count(indexes.total() as usize);
        }
        status.uncounted_terminated_pods = Some(uncounted.clone());
        // First flush: the uncounted uids and indexes are stored before any finalizer goes.
        write_status(ctx, self.job, status)?;

        let mut with_finalizer: BTreeSet<&str> = self
            .pods
            .iter()
            .filter(|p| has_finalizer(p))
            .map(|p| p.metadata.uid.as_str())
            .collect();
        let mut first_error = None;
        for pod in to_release {
            match remove_finalizer(ctx, pod) {
                Ok(()) => {
                    with_finalizer.remove(pod.metadata.uid.as_str());
                }
                Err(e) => {
                    first_error.get_or_insert(e);
                }
            }
        }
        // cleanUncountedPodsWithoutFinalizers: a uid whose pod no longer holds the finalizer
        // moves into the counters.
        let before = (uncounted.succeeded.len(), uncounted.failed.len());
        uncounted
            .succeeded
            .retain(|uid| with_finalizer.contains(uid.as_str()));
        uncounted
            .failed
            .retain(|uid| with_finalizer.contains(uid.as_str()));
        status.succeeded += count(before.0 - uncounted.succeeded.len());
        status.failed += count(before.1 - uncounted.failed.len());
        let all_counted = uncounted.succeeded.is_empty() && uncounted.failed.is_empty();
        status.uncounted_terminated_pods = Some(uncounted);

        // enactJobFinished: the final condition waits for every pod to be counted and for
        // the terminating ones to be gone.
        let mut enacted = None;
        if let Some(condition) = finished {
            if !reached_max && all_counted && self.terminating == 0 && first_error.is_none() {
                ensure_condition(
                    &mut status.conditions,
                    condition.type_,
                    ConditionStatus::True,
                    &condition.reason,
                    &condition.message,
                    now,
                );
                if condition.type_ == JobConditionType::Complete {
                    status.completion_time = Some(now);
                }
                enacted = Some(condition);
            }
        }
        write_status(ctx, self.job, status)?;
        match first_error {
            Some(e) => Err(e),
            None => Ok(enacted),
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Pod writes.
// ---------------------------------------------------------------------------------------------

#[derive(Debug, Default)]
struct DeleteOutcome {
    deleted: usize,
    deleted_ready: usize,
    error: Option<ReconcileError>,
}

/// Deletes `pods` (job_controller.go `deleteJobPods`/`deleteActivePods`); a pod already gone
/// counts as deleted.
fn delete_pods(ctx: &mut Context<'_>, key: &ObjectKey, pods: &[&Pod]) -> DeleteOutcome {
    let mut outcome = DeleteOutcome::default();
    for pod in pods {
        let name = &pod.metadata.name;
        match ctx.store.delete(
            Kind::Pod,
            &pod.metadata.namespace,
            name,
            &DeleteOptions::default(),
            ctx.now,
        ) {
            Ok(_) => {
                ctx.normal(key, "SuccessfulDelete", format!("Deleted pod: {name}"));
            }
            Err(StoreError::NotFound { .. }) => {}
            Err(e) => {
                ctx.warning(key, "FailedDelete", format!("Error deleting: {e}"));
                outcome.error.get_or_insert(e.into());
                continue;
            }
        }
        outcome.deleted += 1;
        if pod.is_ready() {
            outcome.deleted_ready += 1;
        }
    }
    outcome
}

/// Creates one pod per entry of `indexes` (`None` for a NonIndexed Job) in slow-start batches
/// of 1, 2, 4, … (job_controller.go manageJob, controller_utils `SlowStartInitialBatchSize`),
/// stopping after a batch with a failure. Returns how many were created.
fn create_pods(
    ctx: &mut Context<'_>,
    key: &ObjectKey,
    job: &Job,
    indexes: &[Option<i32>],
) -> (usize, Option<ReconcileError>) {
    let mut template = job.spec.template.clone();
    if !template
        .metadata
        .finalizers
        .iter()
        .any(|f| f == JOB_TRACKING_FINALIZER)
    {
        template
            .metadata
            .finalizers
            .push(JOB_TRACKING_FINALIZER.to_string());
    }
    if job.is_indexed() {
        add_completion_index_env(&mut template.spec);
    }
    let mut created = 0;
    let mut error = None;
    let mut batch = 1;
    let mut next = 0;
    while next < indexes.len() && error.is_none() {
        let end = (next + batch).min(indexes.len());
        for index in &indexes[next..end] {
            let generate_name = match index {
                Some(ix) => pod_generate_name_with_index(&job.metadata.name, *ix),
                None => format!("{}-", job.metadata.name),
            };
            let mut pod =
                pod_from_template(&template, Kind::Job, &job.metadata, &generate_name, None);
            if let Some(ix) = index {
                // job_controller.go addCompletionIndexAnnotation, PodIndexLabel, and the
                // `<job>-<index>` hostname.
                pod.metadata
                    .annotations
                    .insert(JOB_COMPLETION_INDEX_ANNOTATION.into(), ix.to_string());
                pod.metadata
                    .labels
                    .insert(JOB_COMPLETION_INDEX_LABEL.into(), ix.to_string());
                pod.spec.hostname = format!("{}-{ix}", job.metadata.name);
            }
            match ctx.store.create(pod.into(), ctx.now) {
                Ok(stored) => {
                    created += 1;
                    let name = stored.metadata().name.clone();
                    ctx.normal(key, "SuccessfulCreate", format!("Created pod: {name}"));
                }
                Err(e) => {
                    ctx.warning(key, "FailedCreate", format!("Error creating: {e}"));
                    error.get_or_insert(e.into());
                }
            }
        }
        next = end;
        batch *= 2;
    }
    (created, error)
}

/// job_controller.go `podGenerateNameWithIndex`: `<job>-<index>-`, the Job name cut so that the
/// whole fits a generated name.
fn pod_generate_name_with_index(job_name: &str, index: i32) -> String {
    let suffix = format!("-{index}-");
    let mut prefix = job_name.to_string();
    if prefix.len() + suffix.len() > MAX_GENERATED_NAME_LENGTH {
        let mut cut = MAX_GENERATED_NAME_LENGTH.saturating_sub(suffix.len());
        while !prefix.is_char_boundary(cut) {
            cut -= 1;
        }
        prefix.truncate(cut);
    }
    prefix + &suffix
}

/// job_controller.go `addCompletionIndexEnvVariables`: every container (and init container)
/// reads `JOB_COMPLETION_INDEX` from the pod's completion-index annotation.
fn add_completion_index_env(spec: &mut flotilla_model::api::PodSpec) {
    let var = EnvVar {
        name: JOB_COMPLETION_INDEX_ENV.into(),
        value: String::new(),
        value_from: Some(EnvVarSource {
            field_ref: Some(ObjectFieldSelector {
                field_path: format!("metadata.annotations['{JOB_COMPLETION_INDEX_ANNOTATION}']"),
                ..Default::default()
            }),
            ..Default::default()
        }),
    };
    for container in spec
        .init_containers
        .iter_mut()
        .chain(spec.containers.iter_mut())
    {
        if !container
            .env
            .iter()
            .any(|e| e.name == JOB_COMPLETION_INDEX_ENV)
        {
            container.env.push(var.clone());
        }
    }
}

/// Removes the tracking finalizer from the stored copy of `pod`; a pod already gone or
/// without it is fine.
fn remove_finalizer(ctx: &mut Context<'_>, pod: &Pod) -> Result<(), ReconcileError> {
    let meta = &pod.metadata;
    let Some(stored) = ctx.store.get(Kind::Pod, &meta.namespace, &meta.name) else {
        return Ok(());
    };
    let Object::Pod(fresh) = &*stored else {
        return Ok(());
    };
    if fresh.metadata.uid != meta.uid || !has_finalizer(fresh) {
        return Ok(());
    }
    // A patch of the finalizers with the resourceVersion as a precondition, as
    // job_controller.go `removeTrackingFinalizerPatch` sends (the job controller's role may
    // patch pods, not update them).
    let finalizers: Vec<&String> = fresh
        .metadata
        .finalizers
        .iter()
        .filter(|f| *f != JOB_TRACKING_FINALIZER)
        .collect();
    let patch = serde_json::json!({
        "metadata": {
            "finalizers": finalizers,
            "resourceVersion": fresh.metadata.resource_version,
        }
    });
    match ctx
        .store
        .patch(Kind::Pod, &meta.namespace, &meta.name, &patch, ctx.now)
    {
        Ok(_) | Err(StoreError::NotFound { .. }) => Ok(()),
        Err(e) => Err(e.into()),
    }
}

fn remove_finalizers<'p>(
    ctx: &mut Context<'_>,
    pods: impl Iterator<Item = &'p Pod>,
) -> Result<(), ReconcileError> {
    for pod in pods {
        remove_finalizer(ctx, pod)?;
    }
    Ok(())
}

/// The pods of a deleted Job still holding the tracking finalizer lose it
/// (job_controller.go `syncOrphanPod`).
fn release_orphan_pods(key: &ObjectKey, ctx: &mut Context<'_>) -> Result<(), ReconcileError> {
    let orphans: Vec<Arc<Object>> = ctx
        .store
        .iter_namespace(Kind::Pod, &key.namespace)
        .filter(|o| match &***o {
            Object::Pod(p) => {
                has_finalizer(p)
                    && p.metadata
                        .controller_ref()
                        .is_some_and(|r| r.kind == Kind::Job.name() && r.name == key.name)
            }
            _ => false,
        })
        .cloned()
        .collect();
    for object in &orphans {
        if let Object::Pod(pod) = &**object {
            remove_finalizer(ctx, pod)?;
        }
    }
    Ok(())
}

/// Writes `status` onto a fresh copy of the stored Job, unless nothing changed.
fn write_status(
    ctx: &mut Context<'_>,
    job: &Job,
    status: &JobStatus,
) -> Result<(), ReconcileError> {
    let meta = &job.metadata;
    let stored = ctx
        .store
        .get(Kind::Job, &meta.namespace, &meta.name)
        .ok_or_else(|| StoreError::NotFound {
            kind: Kind::Job,
            namespace: meta.namespace.clone(),
            name: meta.name.clone(),
        })?;
    let Object::Job(fresh) = &*stored else {
        return Err(ReconcileError::Other(format!("{} is not a job", meta.name)));
    };
    if fresh.metadata.uid != meta.uid {
        return Err(ReconcileError::Other(format!(
            "job {}/{} was replaced while it was being synced",
            meta.namespace, meta.name
        )));
    }
    if fresh.status == *status {
        return Ok(());
    }
    let mut updated = fresh.clone();
    updated.status = status.clone();
    ctx.store.update_status(updated.into(), ctx.now)?;
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Pod predicates.
// ---------------------------------------------------------------------------------------------

fn has_finalizer(pod: &Pod) -> bool {
    pod.metadata
        .finalizers
        .iter()
        .any(|f| f == JOB_TRACKING_FINALIZER)
}

/// Being deleted but not finished (job_controller.go `countTerminatingPods`).
fn is_terminating(pod: &Pod) -> bool {
    pod.metadata.deletion_timestamp.is_some() && !pod.phase().is_terminal()
}

/// job_controller.go `onlyReplaceFailedPods`: `podReplacementPolicy: Failed`, implied by a
/// `podFailurePolicy`.
fn only_replace_failed_pods(job: &Job) -> bool {
    job.spec.pod_replacement_policy == Some(PodReplacementPolicy::Failed)
        || job.spec.pod_failure_policy.is_some()
}

/// job_controller.go `isPodFailed`: `Failed`, or (unless only failed pods are replaced) being
/// deleted before it succeeded.
fn is_pod_failed(pod: &Pod, only_failed: bool) -> bool {
    match pod.phase() {
        PodPhase::Failed => true,
        _ if only_failed => false,
        PodPhase::Succeeded => false,
        _ => pod.metadata.deletion_timestamp.is_some(),
    }
}

/// The completion index of an Indexed Job's pod, from its annotation (or label)
/// (job_controller.go `getCompletionIndex`).
fn completion_index(pod: &Pod) -> Option<i32> {
    let meta = &pod.metadata;
    let value = meta
        .annotations
        .get(JOB_COMPLETION_INDEX_ANNOTATION)
        .or_else(|| meta.labels.get(JOB_COMPLETION_INDEX_LABEL))?;
    value.parse::<i32>().ok().filter(|ix| *ix >= 0)
}

/// When the pod finished (job_controller.go `getFinishedTime`): its containers' last exit,
/// else its `Ready=False` transition, else its deletion, else its creation.
fn finish_time(pod: &Pod) -> Time {
    let statuses = &pod.status.container_statuses;
    let from_containers = if statuses.is_empty() {
        None
    } else {
        statuses
            .iter()
            .map(|s| s.state.terminated.as_ref().and_then(|t| t.finished_at))
            .try_fold(Time::ZERO, |latest, t| t.map(|t| latest.max(t)))
    };
    from_containers
        .or_else(|| {
            pod.condition(PodCondition::READY)
                .filter(|c| c.status == ConditionStatus::False)
                .and_then(|c| c.last_transition_time)
        })
        .or(pod.metadata.deletion_timestamp)
        .or(pod.metadata.creation_timestamp)
        .unwrap_or(Time::ZERO)
}

/// What a pod failure policy says about a failed pod (job_controller.go
/// `matchPodFailurePolicy`).
struct PolicyMatch {
    /// The `FailJob` message, when a `FailJob` rule matched.
    fail_job: Option<String>,
    /// Whether the failure counts towards `backoffLimit` (not when `Ignore` matched).
    count_failed: bool,
}

fn match_pod_failure_policy(policy: Option<&PodFailurePolicy>, pod: &Pod) -> PolicyMatch {
    let count = PolicyMatch {
        fail_job: None,
        count_failed: true,
    };
    let Some(policy) = policy else {
        return count;
    };
    let meta = &pod.metadata;
    for (i, rule) in policy.rules.iter().enumerate() {
        let action = rule.action.unwrap_or_default();
        let matched: Option<String> = if let Some(on_exit_codes) = &rule.on_exit_codes {
            // matchOnExitCodes: app containers first, then init containers; only terminated
            // containers with a non-zero exit code.
            pod.status
                .container_statuses
                .iter()
                .chain(pod.status.init_container_statuses.iter())
                .find(|s| {
                    let Some(t) = &s.state.terminated else {
                        return false;
                    };
                    let name_matches = on_exit_codes
                        .container_name
                        .as_deref()
                        .is_none_or(|n| n == s.name);
                    let contains = on_exit_codes.values.contains(&t.exit_code);
                    let op_matches = match on_exit_codes.operator.unwrap_or_default() {
                        PodFailurePolicyOnExitCodesOperator::In => contains,
                        PodFailurePolicyOnExitCodesOperator::NotIn => !contains,
                    };
                    name_matches && t.exit_code != 0 && op_matches
                })
                .map(|s| {
                    let code = s.state.terminated.as_ref().map_or(0, |t| t.exit_code);
                    format!(
                        "Container {} for pod {}/{} failed with exit code {code} matching FailJob rule at index {i}",
                        s.name, meta.namespace, meta.name
                    )
                })
        } else if !rule.on_pod_conditions.is_empty() {
            // matchOnPodConditions.
            rule.on_pod_conditions.iter().find_map(|pattern| {
                let want = pattern.status.unwrap_or(ConditionStatus::True);
                pod.status
                    .conditions
                    .iter()
                    .find(|c| c.r#type == pattern.type_ && c.status == want)
                    .map(|c| {
                        format!(
                            "Pod {}/{} has condition {} matching FailJob rule at index {i}",
                            meta.namespace, meta.name, c.r#type
                        )
                    })
            })
        } else {
            None
        };
        let Some(message) = matched else {
            continue;
        };
        return match action {
            PodFailurePolicyAction::Ignore => PolicyMatch {
                fail_job: None,
                count_failed: false,
            },
            PodFailurePolicyAction::FailJob => PolicyMatch {
                fail_job: Some(message),
                count_failed: true,
            },
            // FailIndex needs backoffLimitPerIndex, which is not modelled: it counts.
            PodFailurePolicyAction::Count | PodFailurePolicyAction::FailIndex => count,
        };
    }
    count
}

/// job_controller.go `getFailJobMessage`: the message of the first failed pod a `FailJob`
/// rule matches.
fn fail_job_message(job: &Job, pods: &[&Pod], only_failed: bool) -> Option<String> {
    let policy = job.spec.pod_failure_policy.as_ref()?;
    pods.iter()
        .filter(|p| is_pod_failed(p, only_failed))
        .find_map(|p| match_pod_failure_policy(Some(policy), p).fail_job)
}

/// job_controller.go `pastBackoffLimitOnFailure`: with `restartPolicy: OnFailure` the
/// container restarts of running and pending pods count towards `backoffLimit`.
fn past_backoff_limit_on_failure(job: &Job, pods: &[&Pod]) -> bool {
    if job.spec.template.spec.restart_policy != Some(RestartPolicy::OnFailure) {
        return false;
    }
    let restarts: i64 = pods
        .iter()
        .filter(|p| matches!(p.phase(), PodPhase::Running | PodPhase::Pending))
        .flat_map(|p| {
            p.status
                .init_container_statuses
                .iter()
                .chain(p.status.container_statuses.iter())
        })
        .map(|s| i64::from(s.restart_count))
        .sum();
    let limit = i64::from(job.spec.backoff_limit.unwrap_or(DEFAULT_BACKOFF_LIMIT));
    if limit == 0 {
        restarts > 0
    } else {
        restarts >= limit
    }
}

/// When `activeDeadlineSeconds` runs out, counted from `startTime` (job_controller.go
/// `pastActiveDeadline`); none while suspended.
fn active_deadline(job: &Job, status: &JobStatus) -> Option<Time> {
    let seconds = job.spec.active_deadline_seconds?;
    if job.spec.suspend == Some(true) {
        return None;
    }
    Some(status.start_time?.saturating_add(secs(seconds)))
}

/// The order in which active pods are removed, first to go first (controller_utils
/// `ActivePods`): unscheduled before scheduled, pending before running, not ready before
/// ready, ready for less time before more, more restarts before fewer, newer before older.
fn removal_order(a: &Pod, b: &Pod) -> Ordering {
    let scheduled = |p: &Pod| !p.spec.node_name.is_empty();
    let phase_rank = |p: &Pod| match p.phase() {
        PodPhase::Pending => 0,
        PodPhase::Unknown => 1,
        PodPhase::Running => 2,
        _ => 3,
    };
    let restarts = |p: &Pod| {
        p.status
            .container_statuses
            .iter()
            .map(|s| s.restart_count)
            .max()
            .unwrap_or(0)
    };
    scheduled(a)
        .cmp(&scheduled(b))
        .then_with(|| phase_rank(a).cmp(&phase_rank(b)))
        .then_with(|| a.is_ready().cmp(&b.is_ready()))
        .then_with(|| match (ready_since(a), ready_since(b)) {
            (Some(x), Some(y)) => y.cmp(&x),
            _ => Ordering::Equal,
        })
        .then_with(|| restarts(b).cmp(&restarts(a)))
        .then_with(|| {
            b.metadata
                .creation_timestamp
                .cmp(&a.metadata.creation_timestamp)
        })
        .then_with(|| a.metadata.name.cmp(&b.metadata.name))
}

/// job_controller.go `activePodsForRemoval`: for an Indexed Job, pods with a bad or
/// duplicated index first (of duplicates the most advanced stays), then the first pods in
/// [`removal_order`] until `rm_at_least` are chosen.
fn pods_for_removal<'p>(job: &Job, active: &[&'p Pod], rm_at_least: usize) -> Vec<&'p Pod> {
    let mut rm: Vec<&Pod> = Vec::new();
    let mut left: Vec<&Pod> = Vec::new();
    if job.is_indexed() {
        let completions = job.spec.completions.unwrap_or(0);
        let mut by_index: BTreeMap<i32, Vec<&Pod>> = BTreeMap::new();
        for &pod in active {
            match completion_index(pod).filter(|ix| *ix < completions) {
                Some(ix) => by_index.entry(ix).or_default().push(pod),
                None => rm.push(pod),
            }
        }
        for (_, mut group) in by_index {
            group.sort_by(|a, b| removal_order(a, b));
            let keep = group.pop();
            rm.extend(group);
            left.extend(keep);
        }
    } else {
        left = active.to_vec();
    }
    if rm.len() < rm_at_least {
        left.sort_by(|a, b| removal_order(a, b));
        let more = (rm_at_least - rm.len()).min(left.len());
        rm.extend(left.into_iter().take(more));
    }
    rm
}

/// job_controller.go `firstPendingIndexes`: the lowest `count` indexes that have neither
/// succeeded nor an active pod (nor, with `podReplacementPolicy: Failed`, a terminating one).
fn first_pending_indexes(
    job: &Job,
    pods: &[&Pod],
    active: &[&Pod],
    succeeded: &Intervals,
    count: usize,
) -> Vec<i32> {
    let mut busy: BTreeSet<i32> = active.iter().filter_map(|p| completion_index(p)).collect();
    if only_replace_failed_pods(job) {
        busy.extend(
            pods.iter()
                .filter(|p| is_terminating(p))
                .filter_map(|p| completion_index(p)),
        );
    }
    let completions = job.spec.completions.unwrap_or(0);
    (0..completions)
        .filter(|ix| !busy.contains(ix) && !succeeded.contains(*ix))
        .take(count)
        .collect()
}

// ---------------------------------------------------------------------------------------------
// Conditions and counters.
// ---------------------------------------------------------------------------------------------

fn count(n: usize) -> i32 {
    i32::try_from(n).unwrap_or(i32::MAX)
}

fn condition_true(status: &JobStatus, type_: JobConditionType) -> Option<&JobCondition> {
    status
        .condition(type_)
        .filter(|c| c.status == ConditionStatus::True)
}

/// job_controller.go `newCondition`: a true condition probed and changed now.
fn new_condition(type_: JobConditionType, reason: &str, message: &str, now: Time) -> JobCondition {
    JobCondition {
        type_,
        status: ConditionStatus::True,
        last_probe_time: Some(now),
        last_transition_time: Some(now),
        reason: reason.to_string(),
        message: message.to_string(),
    }
}

/// job_controller.go `ensureJobConditionStatus`: sets the condition of `type_` (adding it only
/// when it is not `False`); returns whether anything changed.
fn ensure_condition(
    conditions: &mut Vec<JobCondition>,
    type_: JobConditionType,
    status: ConditionStatus,
    reason: &str,
    message: &str,
    now: Time,
) -> bool {
    let mut condition = new_condition(type_, reason, message, now);
    condition.status = status;
    match conditions.iter_mut().find(|c| c.type_ == type_) {
        Some(c) if c.status != status || c.reason != reason || c.message != message => {
            *c = condition;
            true
        }
        Some(_) => false,
        None if status != ConditionStatus::False => {
            conditions.push(condition);
            true
        }
        None => false,
    }
}

// ---------------------------------------------------------------------------------------------
// Index intervals ("1,3-5").
// ---------------------------------------------------------------------------------------------

/// A set of completion indexes as sorted, disjoint, non-adjacent closed intervals
/// (job indexed_job_utils.go `orderedIntervals`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Intervals(Vec<(i32, i32)>);

impl Intervals {
    /// Reads Kubernetes' interval format (`1,3-5`), keeping indexes below `completions` and
    /// skipping anything malformed (indexed_job_utils.go `parseIndexesFromString`).
    pub fn parse(text: &str, completions: i32) -> Intervals {
        let mut intervals = Intervals::default();
        for part in text.split(',').filter(|p| !p.is_empty()) {
            let (first, last) = match part.split_once('-') {
                Some((a, b)) => (a.parse::<i32>(), b.parse::<i32>()),
                None => (part.parse::<i32>(), part.parse::<i32>()),
            };
            let (Ok(first), Ok(last)) = (first, last) else {
                continue;
            };
            let last = last.min(completions - 1);
            if first < 0 || first > last {
                continue;
            }
            intervals.0.push((first, last));
        }
        intervals.normalize();
        intervals
    }

    fn normalize(&mut self) {
        self.0.sort_unstable();
        let mut merged: Vec<(i32, i32)> = Vec::with_capacity(self.0.len());
        for &(a, b) in &self.0 {
            match merged.last_mut() {
                Some(last) if i64::from(a) <= i64::from(last.1) + 1 => last.1 = last.1.max(b),
                _ => merged.push((a, b)),
            }
        }
        self.0 = merged;
    }

    /// Adds one index.
    pub fn insert(&mut self, ix: i32) {
        if !self.contains(ix) {
            self.0.push((ix, ix));
            self.normalize();
        }
    }

    /// Whether `ix` is in the set.
    pub fn contains(&self, ix: i32) -> bool {
        self.0.iter().any(|&(a, b)| a <= ix && ix <= b)
    }

    /// How many indexes the set holds.
    pub fn total(&self) -> i64 {
        self.0
            .iter()
            .map(|&(a, b)| i64::from(b) - i64::from(a) + 1)
            .sum()
    }
}

impl std::fmt::Display for Intervals {
    /// Kubernetes' format: `0-4`, with two adjacent indexes written `1,2`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        for (i, &(a, b)) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str(",")?;
            }
            write!(f, "{a}")?;
            if b == a + 1 {
                write!(f, ",{b}")?;
            } else if b > a {
                write!(f, "-{b}")?;
            }
        }
        Ok(())
    }
}

// ---------------------------------------------------------------------------------------------
// The TTL-after-finished controller.
// ---------------------------------------------------------------------------------------------

/// The TTL-after-finished controller (`ttl-after-finished-controller`): deletes a finished Job
/// `ttlSecondsAfterFinished` after it finished, cascading to its pods.
///
/// Like Kubernetes (ttlafterfinished_controller.go `processJob`) it deletes with `Foreground`
/// propagation and a uid precondition, so the Job stays (with a `deletionTimestamp`) until the
/// garbage collector has removed its pods.
#[derive(Debug, Default)]
pub struct TtlAfterFinishedController;

impl TtlAfterFinishedController {
    /// A TTL-after-finished controller.
    pub fn new() -> TtlAfterFinishedController {
        TtlAfterFinishedController
    }
}

/// When a finished Job finished: the transition time of its true `Complete` or `Failed`
/// condition (ttlafterfinished_controller.go `jobFinishTime`).
pub fn job_finish_time(job: &Job) -> Option<Time> {
    job.status
        .conditions
        .iter()
        .find(|c| {
            matches!(
                c.type_,
                JobConditionType::Complete | JobConditionType::Failed
            ) && c.status == ConditionStatus::True
        })
        .and_then(|c| c.last_transition_time)
}

impl Controller for TtlAfterFinishedController {
    fn name(&self) -> &'static str {
        "ttl-after-finished-controller"
    }

    fn watched_kinds(&self) -> &'static [Kind] {
        &[Kind::Job]
    }

    fn keys_for_event(&self, event: &WatchEvent, _lookup: Lookup<'_>) -> Vec<ObjectKey> {
        match &*event.object {
            // ttlafterfinished_controller.go addJob/updateJob: only Jobs that need cleanup.
            Object::Job(job)
                if job.metadata.deletion_timestamp.is_none()
                    && job.spec.ttl_seconds_after_finished.is_some()
                    && job.is_finished() =>
            {
                vec![ObjectKey::of(&event.object)]
            }
            _ => Vec::new(),
        }
    }

    fn reconcile(
        &mut self,
        key: &ObjectKey,
        ctx: &mut Context<'_>,
    ) -> Result<Action, ReconcileError> {
        let Some(object) = ctx.store.get(Kind::Job, &key.namespace, &key.name) else {
            return Ok(Action::await_change());
        };
        let Object::Job(job) = &*object else {
            return Ok(Action::await_change());
        };
        // processTTL: Jobs being deleted, unfinished or without a TTL are left alone.
        let Some(ttl) = job.spec.ttl_seconds_after_finished else {
            return Ok(Action::await_change());
        };
        if job.metadata.deletion_timestamp.is_some() || !job.is_finished() {
            return Ok(Action::await_change());
        }
        let finished_at = job_finish_time(job).ok_or_else(|| {
            ReconcileError::Other(format!(
                "unable to find the time when the job {}/{} finished",
                key.namespace, key.name
            ))
        })?;
        let expire_at = finished_at.saturating_add(secs(ttl));
        if ctx.now < expire_at {
            return Ok(Action::requeue(
                expire_at.saturating_duration_since(ctx.now),
            ));
        }
        let options = DeleteOptions {
            propagation_policy: PropagationPolicy::Foreground,
            precondition_uid: Some(job.metadata.uid.clone()),
            ..DeleteOptions::default()
        };
        match ctx
            .store
            .delete(Kind::Job, &key.namespace, &key.name, &options, ctx.now)
        {
            Ok(_) | Err(StoreError::NotFound { .. }) => Ok(Action::await_change()),
            Err(e) => Err(e.into()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::Harness;
    use flotilla_model::api::{
        CompletionMode, Container, ContainerState, ContainerStateTerminated, ContainerStatus,
        PodFailurePolicyOnExitCodesRequirement, PodFailurePolicyOnPodConditionsPattern,
        PodFailurePolicyRule,
    };
    use flotilla_model::store::FOREGROUND_FINALIZER;
    use flotilla_model::ObjectMeta;

    const NS: &str = "default";

    fn harness() -> Harness {
        Harness::new(vec![
            Box::new(JobController::new()),
            Box::new(TtlAfterFinishedController::new()),
        ])
    }

    fn new_job(name: &str, completions: Option<i32>, parallelism: i32) -> Job {
        let mut job = Job {
            metadata: ObjectMeta::named(NS, name),
            ..Default::default()
        };
        job.spec.completions = completions;
        job.spec.parallelism = Some(parallelism);
        job.spec.template.spec.restart_policy = Some(RestartPolicy::Never);
        job.spec.template.spec.containers = vec![Container {
            name: "main".into(),
            image: "busybox:1.36".into(),
            ..Default::default()
        }]
        .into();
        job
    }

    fn stored(h: &Harness, name: &str) -> Job {
        h.stored(NS, name)
    }

    fn active(h: &Harness) -> Vec<Arc<Pod>> {
        h.pods(NS)
            .into_iter()
            .filter(|p| is_pod_active(p))
            .collect()
    }

    fn has_condition(job: &Job, type_: JobConditionType, reason: &str) -> bool {
        job.status
            .conditions
            .iter()
            .any(|c| c.type_ == type_ && c.status == ConditionStatus::True && c.reason == reason)
    }

    /// Plays the kubelet: the pod's only container exited with `exit_code` at `now`.
    fn exit(h: &mut Harness, name: &str, exit_code: i32) {
        let mut pod = h.pod(NS, name).expect("pod");
        pod.status.phase = Some(if exit_code == 0 {
            PodPhase::Succeeded
        } else {
            PodPhase::Failed
        });
        pod.status.container_statuses = vec![ContainerStatus {
            name: "main".into(),
            state: ContainerState {
                terminated: Some(ContainerStateTerminated {
                    exit_code,
                    finished_at: Some(h.now),
                    ..Default::default()
                }),
                ..Default::default()
            },
            ..Default::default()
        }];
        h.store.update_status(pod.into(), h.now).expect("status");
        h.settle();
    }

    fn events(h: &Harness, reason: &str) -> Vec<String> {
        h.recorder
            .events()
            .filter(|e| e.reason == reason)
            .map(|e| e.message.clone())
            .collect()
    }

    #[test]
    fn intervals_use_kubernetes_format() {
        let mut i = Intervals::default();
        for ix in [3, 5, 4, 1] {
            i.insert(ix);
        }
        assert_eq!(i.to_string(), "1,3-5");
        assert_eq!(i.total(), 4);
        assert_eq!(Intervals::parse("1,2", 10).to_string(), "1,2");
        assert_eq!(Intervals::parse("0-2,3,7-9", 8).to_string(), "0-3,7");
        assert!(Intervals::parse("0-4", 5).contains(4));
        assert!(!Intervals::parse("x,0-4", 5).contains(5));
    }

    #[test]
    fn ten_completions_with_parallelism_three_never_exceed_three_active_pods() {
        let mut h = harness();
        h.apply(new_job("pi", Some(10), 3)).unwrap();
        let mut finished = 0;
        while !stored(&h, "pi").is_finished() {
            let running = active(&h);
            assert!(running.len() <= 3, "{} active pods", running.len());
            assert!(
                !running.is_empty(),
                "no active pod after {finished} completions"
            );
            let pod = &running[0];
            assert!(pod.metadata.name.starts_with("pi-"));
            assert!(has_finalizer(pod));
            assert_eq!(pod.metadata.labels[LEGACY_JOB_NAME_LABEL_FOR_TEST], "pi");
            h.set_pod_status(NS, &pod.metadata.name, PodPhase::Succeeded, false);
            finished += 1;
            assert!(finished <= 10, "more than 10 pods had to succeed");
        }
        let job = stored(&h, "pi");
        assert_eq!(job.status.succeeded, 10);
        assert_eq!(job.status.failed, 0);
        assert_eq!(job.status.active, 0);
        assert!(has_condition(
            &job,
            JobConditionType::SuccessCriteriaMet,
            "CompletionsReached"
        ));
        assert!(has_condition(
            &job,
            JobConditionType::Complete,
            "CompletionsReached"
        ));
        assert_eq!(job.status.completion_time, Some(h.now));
        assert!(job.status.start_time.is_some());
        assert_eq!(h.pods(NS).len(), 10);
        assert!(h.pods(NS).iter().all(|p| !has_finalizer(p)));
        assert_eq!(events(&h, "SuccessfulCreate").len(), 10);
        assert_eq!(events(&h, "Completed"), ["Job completed"]);
    }

    const LEGACY_JOB_NAME_LABEL_FOR_TEST: &str = "job-name";

    #[test]
    fn reaching_the_backoff_limit_fails_the_job_and_deletes_active_pods() {
        let mut h = harness();
        let mut job = new_job("flaky", Some(5), 3);
        job.spec.backoff_limit = Some(1);
        h.apply(job).unwrap();
        let pods = active(&h);
        assert_eq!(pods.len(), 3);
        for p in &pods {
            h.bind(NS, &p.metadata.name, "node-1");
        }
        h.set_pod_status(NS, &pods[0].metadata.name, PodPhase::Failed, false);
        assert!(
            !stored(&h, "flaky").is_finished(),
            "one failure is within the limit"
        );
        h.set_pod_status(NS, &pods[1].metadata.name, PodPhase::Failed, false);
        let job = stored(&h, "flaky");
        assert!(has_condition(
            &job,
            JobConditionType::FailureTarget,
            "BackoffLimitExceeded"
        ));
        assert!(
            !job.is_finished(),
            "failed only once the deleted pod is gone"
        );
        assert_eq!(job.status.terminating, Some(1));
        let survivor = h.pod(NS, &pods[2].metadata.name).unwrap();
        assert!(survivor.metadata.deletion_timestamp.is_some());
        assert!(!has_finalizer(&survivor));
        h.finish_all_deletions(NS);
        let job = stored(&h, "flaky");
        assert!(has_condition(
            &job,
            JobConditionType::Failed,
            "BackoffLimitExceeded"
        ));
        let failed = job.status.condition(JobConditionType::Failed).unwrap();
        assert_eq!(
            failed.message,
            "Job has reached the specified backoff limit"
        );
        // Two failed pods and the deleted one, each counted once.
        assert_eq!(job.status.failed, 3);
        assert_eq!(job.status.active, 0);
        assert!(active(&h).is_empty());
        assert_eq!(
            events(&h, "BackoffLimitExceeded"),
            ["Job has reached the specified backoff limit"]
        );
    }

    #[test]
    fn the_failure_back_off_delays_re_creation() {
        let mut h = harness();
        h.apply(new_job("retry", Some(1), 1)).unwrap();
        let first = active(&h)[0].metadata.name.clone();
        h.set_pod_status(NS, &first, PodPhase::Failed, false);
        assert!(active(&h).is_empty(), "no replacement before the back-off");
        assert_eq!(stored(&h, "retry").status.failed, 1);
        h.advance(Duration::from_secs(9));
        assert!(active(&h).is_empty());
        assert!(h.advance_to_next_wakeup(Duration::from_secs(2)));
        let second = active(&h);
        assert_eq!(second.len(), 1, "replaced after 10 s");
        let second = second[0].metadata.name.clone();
        // The second failure doubles the delay.
        h.set_pod_status(NS, &second, PodPhase::Failed, false);
        h.advance(Duration::from_secs(19));
        assert!(active(&h).is_empty());
        h.advance(Duration::from_secs(1));
        assert_eq!(active(&h).len(), 1, "replaced after 20 s");
        // A success resets the back-off record.
        let record = BackoffRecord {
            uid: "u".into(),
            failures_after_last_success: 7,
            last_failure_time: Some(Time::from_secs(100)),
        };
        assert_eq!(
            record.remaining(Time::from_secs(100)),
            MAX_JOB_POD_FAILURE_BACKOFF
        );
        assert_eq!(record.remaining(Time::from_secs(500)), Duration::ZERO);
    }

    #[test]
    fn active_deadline_fails_the_job_when_it_runs_out() {
        let mut h = harness();
        let mut job = new_job("slow", Some(2), 2);
        job.spec.active_deadline_seconds = Some(30);
        h.apply(job).unwrap();
        let start = h.now;
        assert_eq!(active(&h).len(), 2);
        assert!(h.advance_to_next_wakeup(Duration::from_secs(60)));
        assert_eq!(h.now, start + Duration::from_secs(30));
        let job = stored(&h, "slow");
        assert!(has_condition(
            &job,
            JobConditionType::Failed,
            "DeadlineExceeded"
        ));
        assert_eq!(
            job.status
                .condition(JobConditionType::Failed)
                .unwrap()
                .message,
            "Job was active longer than specified deadline"
        );
        assert!(h.pods(NS).is_empty(), "unbound pods go at once");
        assert_eq!(job.status.failed, 2);
    }

    #[test]
    fn an_indexed_job_completes_each_index_once() {
        let mut h = harness();
        let mut job = new_job("idx", Some(5), 2);
        job.spec.completion_mode = Some(CompletionMode::Indexed);
        h.apply(job).unwrap();
        let mut failed_once = false;
        let mut rounds = 0;
        while !stored(&h, "idx").is_finished() {
            rounds += 1;
            assert!(rounds < 50);
            let running = active(&h);
            if running.is_empty() {
                assert!(h.advance_to_next_wakeup(Duration::from_secs(60)));
                continue;
            }
            assert!(running.len() <= 2);
            let pod = &running[0];
            let ix = completion_index(pod).expect("an index");
            assert_eq!(pod.spec.hostname, format!("idx-{ix}"));
            assert!(pod.metadata.name.starts_with(&format!("idx-{ix}-")));
            assert_eq!(
                pod.metadata.labels[JOB_COMPLETION_INDEX_LABEL],
                ix.to_string()
            );
            let env = &pod.spec.containers[0].env;
            assert!(env.iter().any(|e| e.name == JOB_COMPLETION_INDEX_ENV));
            if ix == 0 && !failed_once {
                failed_once = true;
                h.set_pod_status(NS, &pod.metadata.name, PodPhase::Failed, false);
            } else {
                h.set_pod_status(NS, &pod.metadata.name, PodPhase::Succeeded, false);
            }
        }
        let job = stored(&h, "idx");
        assert!(has_condition(
            &job,
            JobConditionType::Complete,
            "CompletionsReached"
        ));
        assert_eq!(job.status.completed_indexes, "0-4");
        assert_eq!(job.status.succeeded, 5);
        assert_eq!(job.status.failed, 1);
        let mut per_index: BTreeMap<i32, usize> = BTreeMap::new();
        for pod in h.pods(NS) {
            if pod.phase() == PodPhase::Succeeded {
                *per_index
                    .entry(completion_index(&pod).unwrap())
                    .or_default() += 1;
            }
        }
        assert_eq!(per_index, (0..5).map(|i| (i, 1)).collect());
        // The failed index 0 was created again.
        let index_zero = h
            .pods(NS)
            .iter()
            .filter(|p| completion_index(p) == Some(0))
            .count();
        assert_eq!(index_zero, 2);
    }

    fn policy_job(name: &str) -> Job {
        let mut job = new_job(name, Some(1), 1);
        job.spec.backoff_limit = Some(0);
        job.spec.pod_failure_policy = Some(PodFailurePolicy {
            rules: vec![
                PodFailurePolicyRule {
                    action: Some(PodFailurePolicyAction::Ignore),
                    on_exit_codes: Some(PodFailurePolicyOnExitCodesRequirement {
                        container_name: None,
                        operator: Some(PodFailurePolicyOnExitCodesOperator::In),
                        values: vec![42],
                    }),
                    on_pod_conditions: Vec::new(),
                },
                PodFailurePolicyRule {
                    action: Some(PodFailurePolicyAction::Ignore),
                    on_exit_codes: None,
                    on_pod_conditions: vec![PodFailurePolicyOnPodConditionsPattern {
                        type_: PodCondition::DISRUPTION_TARGET.into(),
                        status: Some(ConditionStatus::True),
                    }],
                },
                PodFailurePolicyRule {
                    action: Some(PodFailurePolicyAction::FailJob),
                    on_exit_codes: Some(PodFailurePolicyOnExitCodesRequirement {
                        container_name: Some("main".into()),
                        operator: Some(PodFailurePolicyOnExitCodesOperator::NotIn),
                        values: vec![42],
                    }),
                    on_pod_conditions: Vec::new(),
                },
            ],
        });
        job
    }

    #[test]
    fn pod_failure_policy_ignores_and_fails_on_exit_codes() {
        let mut h = harness();
        h.apply(policy_job("pfp")).unwrap();
        let first = active(&h)[0].metadata.name.clone();
        exit(&mut h, &first, 42);
        let job = stored(&h, "pfp");
        assert_eq!(job.status.failed, 0, "an ignored failure is not counted");
        assert!(
            !job.is_finished(),
            "backoffLimit 0 is not reached by ignored failures"
        );
        // A disruption is ignored too.
        assert!(h.advance_to_next_wakeup(Duration::from_secs(60)));
        let second = active(&h)[0].metadata.name.clone();
        let mut pod = h.pod(NS, &second).unwrap();
        pod.status.phase = Some(PodPhase::Failed);
        pod.status.conditions.push(PodCondition {
            r#type: PodCondition::DISRUPTION_TARGET.into(),
            status: ConditionStatus::True,
            ..Default::default()
        });
        h.store.update_status(pod.into(), h.now).unwrap();
        h.settle();
        assert_eq!(stored(&h, "pfp").status.failed, 0);
        assert!(h.advance_to_next_wakeup(Duration::from_secs(60)));
        let third = active(&h)[0].metadata.name.clone();
        exit(&mut h, &third, 1);
        let job = stored(&h, "pfp");
        assert!(has_condition(
            &job,
            JobConditionType::FailureTarget,
            "PodFailurePolicy"
        ));
        assert!(has_condition(
            &job,
            JobConditionType::Failed,
            "PodFailurePolicy"
        ));
        assert_eq!(
            job.status.condition(JobConditionType::Failed).unwrap().message,
            format!("Container main for pod default/{third} failed with exit code 1 matching FailJob rule at index 2")
        );
        assert_eq!(job.status.failed, 1);
    }

    #[test]
    fn a_deleted_succeeded_pod_is_still_counted_once() {
        let mut h = harness();
        h.apply(new_job("keep", Some(2), 1)).unwrap();
        let first = active(&h)[0].metadata.name.clone();
        h.bind(NS, &first, "node-1");
        // The pod succeeds and is deleted before the controller sees either change.
        let mut pod = h.pod(NS, &first).unwrap();
        pod.status.phase = Some(PodPhase::Succeeded);
        h.store.update_status(pod.into(), h.now).unwrap();
        let force = DeleteOptions {
            grace_period_seconds: Some(0),
            ..Default::default()
        };
        h.store
            .delete(Kind::Pod, NS, &first, &force, h.now)
            .unwrap();
        assert!(h.pod(NS, &first).is_some(), "the finalizer holds the pod");
        h.settle();
        assert!(h.pod(NS, &first).is_none(), "released once counted");
        let job = stored(&h, "keep");
        assert_eq!(job.status.succeeded, 1);
        let second = active(&h);
        assert_eq!(second.len(), 1);
        h.set_pod_status(NS, &second[0].metadata.name, PodPhase::Succeeded, false);
        let job = stored(&h, "keep");
        assert!(job.is_finished());
        assert_eq!(job.status.succeeded, 2);
        assert_eq!(
            job.status.uncounted_terminated_pods,
            Some(Default::default())
        );
    }

    #[test]
    fn an_uncounted_pod_is_moved_to_the_counters_exactly_once() {
        let mut h = harness();
        h.apply(new_job("crash", Some(3), 1)).unwrap();
        let name = active(&h)[0].metadata.name.clone();
        // As if a previous sync wrote the uid and stopped before removing the finalizer.
        let mut pod = h.pod(NS, &name).unwrap();
        pod.status.phase = Some(PodPhase::Succeeded);
        let uid = pod.metadata.uid.clone();
        h.store.update_status(pod.into(), h.now).unwrap();
        let mut job = stored(&h, "crash");
        job.status.uncounted_terminated_pods = Some(UncountedTerminatedPods {
            succeeded: vec![uid],
            failed: Vec::new(),
        });
        h.store.update_status(job.into(), h.now).unwrap();
        h.settle();
        let job = stored(&h, "crash");
        assert_eq!(job.status.succeeded, 1);
        assert_eq!(
            job.status.uncounted_terminated_pods,
            Some(Default::default())
        );
        assert!(!has_finalizer(&h.pod(NS, &name).unwrap()));
    }

    #[test]
    fn without_completions_one_success_completes_the_job_when_the_rest_end() {
        let mut h = harness();
        h.apply(new_job("work-queue", None, 2)).unwrap();
        let pods = active(&h);
        assert_eq!(pods.len(), 2);
        h.set_pod_status(NS, &pods[0].metadata.name, PodPhase::Succeeded, false);
        assert_eq!(active(&h).len(), 1, "no new pod after a success");
        assert!(!stored(&h, "work-queue").is_finished());
        h.set_pod_status(NS, &pods[1].metadata.name, PodPhase::Succeeded, false);
        let job = stored(&h, "work-queue");
        assert!(has_condition(
            &job,
            JobConditionType::Complete,
            "CompletionsReached"
        ));
        assert_eq!(job.status.succeeded, 2);
    }

    #[test]
    fn suspending_deletes_active_pods_and_resuming_restarts() {
        let mut h = harness();
        let mut job = new_job("pause", Some(2), 2);
        job.spec.suspend = Some(true);
        h.apply(job).unwrap();
        assert!(h.pods(NS).is_empty());
        let stored_job = stored(&h, "pause");
        assert!(has_condition(
            &stored_job,
            JobConditionType::Suspended,
            "JobSuspended"
        ));
        assert_eq!(stored_job.status.start_time, None);
        let set_suspend = |h: &mut Harness, suspend: bool| {
            let mut job = stored(h, "pause");
            job.spec.suspend = Some(suspend);
            h.store.update(job.into(), h.now).unwrap();
            h.settle();
        };
        h.advance(Duration::from_secs(5));
        set_suspend(&mut h, false);
        assert_eq!(active(&h).len(), 2);
        let resumed = stored(&h, "pause");
        let c = resumed
            .status
            .condition(JobConditionType::Suspended)
            .unwrap();
        assert_eq!(
            (c.status, c.reason.as_str()),
            (ConditionStatus::False, "JobResumed")
        );
        assert_eq!(resumed.status.start_time, Some(h.now));
        set_suspend(&mut h, true);
        assert!(active(&h).is_empty());
        assert_eq!(events(&h, "Suspended").len(), 2);
        assert_eq!(events(&h, "Resumed").len(), 1);
        assert_eq!(events(&h, "SuccessfulDelete").len(), 2);
    }

    #[test]
    fn ttl_after_finished_deletes_the_job() {
        let mut h = harness();
        let mut job = new_job("short-lived", Some(1), 1);
        job.spec.ttl_seconds_after_finished = Some(100);
        h.apply(job).unwrap();
        let pod = active(&h)[0].metadata.name.clone();
        h.set_pod_status(NS, &pod, PodPhase::Succeeded, false);
        let finished = h.now;
        assert!(stored(&h, "short-lived").is_finished());
        h.advance(Duration::from_secs(99));
        assert!(stored(&h, "short-lived")
            .metadata
            .deletion_timestamp
            .is_none());
        assert!(h.advance_to_next_wakeup(Duration::from_secs(10)));
        assert_eq!(h.now, finished + Duration::from_secs(100));
        let job = stored(&h, "short-lived");
        assert!(job.metadata.deletion_timestamp.is_some());
        assert!(job
            .metadata
            .finalizers
            .iter()
            .any(|f| f == FOREGROUND_FINALIZER));
    }
}
