//! Job (`batch/v1`): pods that run to completion, with retries (`backoffLimit`, per index for
//! Indexed jobs), failure and success policies, and the selector the API server generates from
//! the job's uid.

use serde::{Deserialize, Serialize};

use crate::api::deployment::{api_str, check_immutable, check_template_labels, Json};
use crate::api::pod::{
    validate_pod_template_spec, ConditionStatus, PodTemplateSpec, RestartPolicy,
};
use crate::meta::ObjectMeta;
use crate::selector::{validate_label_selector, LabelSelector};
use crate::time::Time;
use crate::validation::{
    check_non_negative, check_syntax, is_dns1123_label, is_dns1123_subdomain, is_qualified_name,
    ErrorList, FieldError, FieldPath, SetDefaults, Validate,
};

/// Label with the uid of the Job that owns a pod; the generated selector selects on it.
pub const CONTROLLER_UID_LABEL: &str = "batch.kubernetes.io/controller-uid";
/// Label with the name of the Job that owns a pod.
pub const JOB_NAME_LABEL: &str = "batch.kubernetes.io/job-name";
/// The unprefixed form of [`CONTROLLER_UID_LABEL`], still set for compatibility.
pub const LEGACY_CONTROLLER_UID_LABEL: &str = "controller-uid";
/// The unprefixed form of [`JOB_NAME_LABEL`], still set for compatibility.
pub const LEGACY_JOB_NAME_LABEL: &str = "job-name";
/// Annotation (and label) with the completion index of a pod of an Indexed job.
pub const JOB_COMPLETION_INDEX_ANNOTATION: &str = "batch.kubernetes.io/job-completion-index";
/// The value of `spec.managedBy` that means the built-in job controller.
pub const JOB_CONTROLLER_NAME: &str = "kubernetes.io/job-controller";

/// Largest `parallelism` of an Indexed job (caps the length of `status.completedIndexes`).
pub const MAX_PARALLELISM_FOR_INDEXED_JOB: i32 = 100_000;
/// Largest `maxFailedIndexes` of an Indexed job.
pub const MAX_FAILED_INDEXES_FOR_INDEXED_JOB: i32 = 100_000;
const COMPLETIONS_SOFT_LIMIT: i32 = 100_000;
const PARALLELISM_LIMIT_FOR_HIGH_COMPLETIONS: i32 = 10_000;
const MAX_FAILED_INDEXES_LIMIT_FOR_HIGH_COMPLETIONS: i32 = 10_000;
const MAX_POD_FAILURE_POLICY_RULES: usize = 20;
const MAX_POD_FAILURE_POLICY_ON_EXIT_CODES_VALUES: usize = 255;
const MAX_POD_FAILURE_POLICY_ON_POD_CONDITIONS_PATTERNS: usize = 20;
const MAX_MANAGED_BY_LENGTH: usize = 63;
const MAX_SUCCEEDED_INDEXES_LENGTH: usize = 64 * 1024;
const MAX_SUCCESS_POLICY_RULES: usize = 20;

/// A Job: runs pods from `template` until `completions` of them succeed (or, without
/// completions, until one succeeds and all have finished), retrying failures up to a limit.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Job {
    /// Standard object metadata.
    #[serde(default)]
    pub metadata: ObjectMeta,
    /// The desired state.
    #[serde(default)]
    pub spec: JobSpec,
    /// The observed state, written by the job controller.
    #[serde(default, skip_serializing_if = "crate::meta::is_default")]
    pub status: JobStatus,
}

/// The desired state of a [`Job`] (also the `jobTemplate.spec` of a CronJob).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct JobSpec {
    /// Most pods running at once; defaults to 1.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parallelism: Option<i32>,
    /// Successful pods needed to complete; defaults to 1 when neither this nor parallelism is
    /// set. Unset means a work queue: the job completes when any pod succeeds and all finished.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub completions: Option<i32>,
    /// Seconds since the job started after which it is failed and its pods are killed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub active_deadline_seconds: Option<i64>,
    /// How pod failures count towards `backoffLimit`, fail the job, or are ignored.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pod_failure_policy: Option<PodFailurePolicy>,
    /// When an Indexed job may be declared succeeded before all indexes succeed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub success_policy: Option<SuccessPolicy>,
    /// Retries before the job is failed; defaults to 6 (or the largest int32 with
    /// `backoffLimitPerIndex`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub backoff_limit: Option<i32>,
    /// Retries per index of an Indexed job before the index is failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub backoff_limit_per_index: Option<i32>,
    /// Failed indexes of an Indexed job after which the whole job fails; needs
    /// `backoffLimitPerIndex`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_failed_indexes: Option<i32>,
    /// Label selector for the pods; generated from the job's uid unless `manualSelector` is true.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub selector: Option<LabelSelector>,
    /// Whether the user manages `selector` and the pods' labels; defaults to false.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub manual_selector: Option<bool>,
    /// The pods to run; `restartPolicy` must be OnFailure or Never.
    #[serde(default)]
    pub template: PodTemplateSpec,
    /// Seconds after the job finishes after which it is deleted (by the TTL controller).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ttl_seconds_after_finished: Option<i32>,
    /// How completions are tracked; defaults to NonIndexed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub completion_mode: Option<CompletionMode>,
    /// Whether the job controller should not create pods (and should delete running ones);
    /// defaults to false.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub suspend: Option<bool>,
    /// When a replacement pod is created: as soon as a pod terminates, or once it has fully
    /// failed; defaults to TerminatingOrFailed, or Failed with a pod failure policy.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pod_replacement_policy: Option<PodReplacementPolicy>,
    /// The controller that reconciles the job; the built-in one when unset
    /// ([`JOB_CONTROLLER_NAME`]). Immutable.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub managed_by: Option<String>,
}

/// How a [`Job`]'s completions are tracked.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize,
)]
pub enum CompletionMode {
    /// Pods are interchangeable; the job completes after `completions` successes (the default).
    #[default]
    NonIndexed,
    /// Each pod gets an index 0..completions (annotation and env `JOB_COMPLETION_INDEX`); the job
    /// completes when every index has succeeded.
    Indexed,
}

/// When a [`Job`] creates a replacement for a pod.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize,
)]
pub enum PodReplacementPolicy {
    /// As soon as the pod is terminating or failed (the default without a pod failure policy).
    #[default]
    TerminatingOrFailed,
    /// Only once the pod has fully terminated with phase Failed.
    Failed,
}

/// Rules deciding what a failed pod means for its [`Job`]; the first matching rule applies, and a
/// failure matching none counts towards `backoffLimit`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PodFailurePolicy {
    /// At most 20 rules, evaluated in order.
    #[serde(default)]
    pub rules: Vec<PodFailurePolicyRule>,
}

/// One rule of a [`PodFailurePolicy`]: exactly one of `onExitCodes` and `onPodConditions`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PodFailurePolicyRule {
    /// What to do when the rule matches; required.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub action: Option<PodFailurePolicyAction>,
    /// Matches on container exit codes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub on_exit_codes: Option<PodFailurePolicyOnExitCodesRequirement>,
    /// Matches on pod conditions (any pattern).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub on_pod_conditions: Vec<PodFailurePolicyOnPodConditionsPattern>,
}

/// What a matching [`PodFailurePolicyRule`] does.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize,
)]
pub enum PodFailurePolicyAction {
    /// Fail the job and terminate its pods.
    FailJob,
    /// Fail the pod's index (Indexed jobs with `backoffLimitPerIndex`).
    FailIndex,
    /// Do not count the failure; replace the pod.
    Ignore,
    /// Count the failure towards `backoffLimit` (the behaviour without a rule).
    #[default]
    Count,
}

/// Matches container exit codes.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PodFailurePolicyOnExitCodesRequirement {
    /// Only this container's exit code is checked; all containers when unset.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub container_name: Option<String>,
    /// How the exit code relates to `values`; required.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub operator: Option<PodFailurePolicyOnExitCodesOperator>,
    /// 1 to 255 exit codes, ordered and without duplicates; 0 is not allowed with In.
    #[serde(default)]
    pub values: Vec<i32>,
}

/// The operator of a [`PodFailurePolicyOnExitCodesRequirement`].
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize,
)]
pub enum PodFailurePolicyOnExitCodesOperator {
    /// The exit code is one of the values.
    #[default]
    In,
    /// The exit code is none of the values (exit code 0 never matches).
    NotIn,
}

/// Matches a pod condition.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PodFailurePolicyOnPodConditionsPattern {
    /// The pod condition type (`DisruptionTarget`).
    #[serde(rename = "type")]
    pub type_: String,
    /// The condition status to match; defaults to True.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<ConditionStatus>,
}

/// When an Indexed [`Job`] counts as succeeded: any rule satisfied is enough.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SuccessPolicy {
    /// 1 to 20 rules.
    #[serde(default)]
    pub rules: Vec<SuccessPolicyRule>,
}

/// One rule of a [`SuccessPolicy`]; at least one field is required.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SuccessPolicyRule {
    /// Indexes that must succeed, as intervals (`"0,2-4"`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub succeeded_indexes: Option<String>,
    /// How many (of `succeededIndexes`, or of all indexes) must succeed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub succeeded_count: Option<i32>,
}

/// The observed state of a [`Job`].
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct JobStatus {
    /// The latest observations of the job's state.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub conditions: Vec<JobCondition>,
    /// When the job controller started the job (or last resumed it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start_time: Option<Time>,
    /// When the job completed; only set on success.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub completion_time: Option<Time>,
    /// Pending or running pods that are not terminating.
    #[serde(default, skip_serializing_if = "crate::meta::is_default")]
    pub active: i32,
    /// Pods that reached phase Succeeded.
    #[serde(default, skip_serializing_if = "crate::meta::is_default")]
    pub succeeded: i32,
    /// Pods that reached phase Failed.
    #[serde(default, skip_serializing_if = "crate::meta::is_default")]
    pub failed: i32,
    /// Pods that are terminating.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub terminating: Option<i32>,
    /// Succeeded indexes of an Indexed job, as intervals (`"1,3-5"`).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub completed_indexes: String,
    /// Failed indexes of an Indexed job with `backoffLimitPerIndex`, as intervals.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failed_indexes: Option<String>,
    /// Finished pods the controller has not yet counted in `succeeded`/`failed`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uncounted_terminated_pods: Option<UncountedTerminatedPods>,
    /// Active pods with a Ready condition.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ready: Option<i32>,
}

/// Uids of finished pods not yet counted in a [`JobStatus`].
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct UncountedTerminatedPods {
    /// Uids of succeeded pods.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub succeeded: Vec<String>,
    /// Uids of failed pods.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub failed: Vec<String>,
}

/// One observation of a [`Job`]'s state.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct JobCondition {
    /// The condition.
    #[serde(rename = "type")]
    pub type_: JobConditionType,
    /// Whether it holds.
    pub status: ConditionStatus,
    /// When the condition was last checked.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_probe_time: Option<Time>,
    /// When the status last changed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_transition_time: Option<Time>,
    /// A CamelCase reason for the last transition (`BackoffLimitExceeded`).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub reason: String,
    /// A human-readable explanation.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub message: String,
}

/// The conditions of a [`Job`].
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize,
)]
pub enum JobConditionType {
    /// The job is suspended.
    Suspended,
    /// The job completed successfully (terminal).
    #[default]
    Complete,
    /// The job failed (terminal).
    Failed,
    /// The job is about to fail; its pods are being terminated.
    FailureTarget,
    /// The success policy is met; the job is about to complete.
    SuccessCriteriaMet,
}

impl JobStatus {
    /// The condition of `type_`, if present.
    pub fn condition(&self, type_: JobConditionType) -> Option<&JobCondition> {
        self.conditions.iter().find(|c| c.type_ == type_)
    }

    /// Whether the condition of `type_` is present with status True.
    pub fn is_condition_true(&self, type_: JobConditionType) -> bool {
        self.condition(type_)
            .is_some_and(|c| c.status == ConditionStatus::True)
    }
}

impl Job {
    /// Whether the job reached a terminal state (Complete or Failed is True).
    pub fn is_finished(&self) -> bool {
        self.status.is_condition_true(JobConditionType::Complete)
            || self.status.is_condition_true(JobConditionType::Failed)
    }

    /// Whether `spec.completionMode` is Indexed.
    pub fn is_indexed(&self) -> bool {
        self.spec.completion_mode == Some(CompletionMode::Indexed)
    }

    /// Generates the selector of a job without `manualSelector: true`, as the API server's job
    /// strategy does on create (pkg/registry/batch/job/strategy.go `generateSelector`): the
    /// template gets the labels [`CONTROLLER_UID_LABEL`] and [`LEGACY_CONTROLLER_UID_LABEL`] (the
    /// uid), [`JOB_NAME_LABEL`] and [`LEGACY_JOB_NAME_LABEL`] (the name), each unless already
    /// present, and `spec.selector.matchLabels` gets [`CONTROLLER_UID_LABEL`]. Labels the user set
    /// are kept, so a conflicting one is then reported by validation.
    ///
    /// The store calls this after assigning `metadata.uid`; without a uid it does nothing.
    pub fn set_generated_selector(&mut self) {
        if self.spec.manual_selector == Some(true) || self.metadata.uid.is_empty() {
            return;
        }
        let uid = self.metadata.uid.clone();
        let name = self.metadata.name.clone();
        let labels = &mut self.spec.template.metadata.labels;
        for key in [LEGACY_JOB_NAME_LABEL, JOB_NAME_LABEL] {
            labels
                .entry(key.to_string())
                .or_insert_with(|| name.clone());
        }
        for key in [LEGACY_CONTROLLER_UID_LABEL, CONTROLLER_UID_LABEL] {
            labels.entry(key.to_string()).or_insert_with(|| uid.clone());
        }
        let selector = self
            .spec
            .selector
            .get_or_insert_with(LabelSelector::default);
        selector
            .match_labels
            .entry(CONTROLLER_UID_LABEL.to_string())
            .or_insert(uid);
    }
}

impl SetDefaults for JobSpec {
    /// The spec part of Kubernetes' `SetDefaults_Job` (pkg/apis/batch/v1/defaults.go) and of the
    /// pod failure policy defaults, plus the pod template's defaults.
    fn set_defaults(&mut self) {
        if self.completions.is_none() && self.parallelism.is_none() {
            self.completions = Some(1);
        }
        self.parallelism.get_or_insert(1);
        if self.backoff_limit.is_none() {
            self.backoff_limit = Some(if self.backoff_limit_per_index.is_some() {
                i32::MAX
            } else {
                6
            });
        }
        self.completion_mode
            .get_or_insert(CompletionMode::NonIndexed);
        self.suspend.get_or_insert(false);
        if self.pod_replacement_policy.is_none() {
            self.pod_replacement_policy = Some(if self.pod_failure_policy.is_some() {
                PodReplacementPolicy::Failed
            } else {
                PodReplacementPolicy::TerminatingOrFailed
            });
        }
        self.manual_selector.get_or_insert(false);
        if let Some(policy) = &mut self.pod_failure_policy {
            for rule in &mut policy.rules {
                for pattern in &mut rule.on_pod_conditions {
                    pattern.status.get_or_insert(ConditionStatus::True);
                }
            }
        }
        self.template.set_defaults();
    }
}

impl SetDefaults for Job {
    /// Kubernetes' `SetDefaults_Job`: the spec defaults, and the job's labels copied from the
    /// template's when the job has none.
    fn set_defaults(&mut self) {
        if self.metadata.labels.is_empty() {
            self.metadata.labels = self.spec.template.metadata.labels.clone();
        }
        self.spec.set_defaults();
    }
}

impl Validate for Job {
    /// Kubernetes' `ValidateJob` (pkg/apis/batch/validation/validation.go) without the metadata
    /// checks. A job without `manualSelector: true` may come without a selector: the store
    /// generates it ([`Job::set_generated_selector`]).
    fn validate(&self) -> ErrorList {
        let mut errs = self.validate_generated_selector();
        let spec = &self.spec;
        let path = FieldPath::new("spec");
        errs.extend(validate_job_spec_fields(spec, &path));
        let manual = spec.manual_selector == Some(true);
        let template_path = path.child("template");
        match &spec.selector {
            None if manual => {
                errs.push(FieldError::required(&path.child("selector"), ""));
                check_template_labels(
                    &mut errs,
                    None,
                    &spec.template.metadata.labels,
                    &template_path,
                );
            }
            None => {}
            Some(selector) => {
                let syntax = validate_label_selector(selector, &path.child("selector"));
                let usable = syntax.is_empty();
                errs.extend(syntax);
                if usable {
                    check_template_labels(
                        &mut errs,
                        Some(selector),
                        &spec.template.metadata.labels,
                        &template_path,
                    );
                }
            }
        }
        // The controller names the pods of an Indexed job's hostnames `<job>-<index>`.
        if let (Some(CompletionMode::Indexed), Some(completions)) =
            (spec.completion_mode, spec.completions)
        {
            if completions > 0 {
                let hostname = format!("{}-{}", self.metadata.name, completions - 1);
                if !is_dns1123_label(&hostname).is_empty() {
                    errs.push(FieldError::invalid(
                        &FieldPath::new("metadata").child("name"),
                        &self.metadata.name,
                        format!("will not able to create pod with invalid DNS label: {hostname}"),
                    ));
                }
            }
        }
        errs
    }

    /// Kubernetes' `ValidateJobSpecUpdate`: the selector, completion mode, pod failure policy,
    /// per-index backoff limit, managedBy and success policy are immutable; completions may only
    /// change for an Indexed job, together with parallelism; the template is immutable except
    /// for the scheduling directives (node selector, node affinity, tolerations, scheduling
    /// gates, labels, annotations) of a suspended job that never started.
    fn validate_update(&self, old: &Self) -> ErrorList {
        let spec = &self.spec;
        let old_spec = &old.spec;
        let path = FieldPath::new("spec");
        let mut errs = ErrorList::new();
        let completions_path = path.child("completions");
        if self.is_indexed() {
            if spec.completions != old_spec.completions {
                if let Some(completions) = spec.completions {
                    if Some(completions) != spec.parallelism {
                        errs.push(FieldError::invalid(
                            &completions_path,
                            completions,
                            "can only be modified in tandem with spec.parallelism",
                        ));
                    }
                }
            }
        } else {
            check_immutable(
                &mut errs,
                &spec.completions,
                &old_spec.completions,
                &completions_path,
            );
        }
        check_immutable(
            &mut errs,
            &spec.selector,
            &old_spec.selector,
            &path.child("selector"),
        );
        let suspended_never_started =
            old_spec.suspend == Some(true) && old.status.start_time.is_none();
        let mut old_template = old_spec.template.clone();
        if suspended_never_started {
            allow_scheduling_directive_changes(&mut old_template, &spec.template);
        }
        if spec.template != old_template {
            errs.push(FieldError::invalid(
                &path.child("template"),
                Json(&spec.template),
                "field is immutable",
            ));
        }
        check_immutable(
            &mut errs,
            &spec.completion_mode,
            &old_spec.completion_mode,
            &path.child("completionMode"),
        );
        check_immutable(
            &mut errs,
            &spec.pod_failure_policy,
            &old_spec.pod_failure_policy,
            &path.child("podFailurePolicy"),
        );
        check_immutable(
            &mut errs,
            &spec.backoff_limit_per_index,
            &old_spec.backoff_limit_per_index,
            &path.child("backoffLimitPerIndex"),
        );
        check_immutable(
            &mut errs,
            &spec.managed_by,
            &old_spec.managed_by,
            &path.child("managedBy"),
        );
        check_immutable(
            &mut errs,
            &spec.success_policy,
            &old_spec.success_policy,
            &path.child("successPolicy"),
        );
        errs
    }
}

/// Copies the fields a suspended, never started job may change from `new` into `old`, so that
/// comparing the two templates ignores them (Kubernetes' `validatePodTemplateUpdate` with
/// `AllowMutableSchedulingDirectives`).
fn allow_scheduling_directive_changes(old: &mut PodTemplateSpec, new: &PodTemplateSpec) {
    match (&new.spec.affinity, &mut old.spec.affinity) {
        (None, Some(old_affinity)) => {
            // Clearing the affinity is allowed when it held nothing but node affinity.
            old_affinity.node_affinity = None;
            if *old_affinity == Default::default() {
                old.spec.affinity = None;
            }
        }
        (Some(new_affinity), None) => {
            old.spec.affinity = Some(crate::api::pod::Affinity {
                node_affinity: new_affinity.node_affinity.clone(),
                ..Default::default()
            });
        }
        (Some(new_affinity), Some(old_affinity)) => old_affinity
            .node_affinity
            .clone_from(&new_affinity.node_affinity),
        (None, None) => {}
    }
    old.spec.node_selector.clone_from(&new.spec.node_selector);
    old.spec.tolerations.clone_from(&new.spec.tolerations);
    old.spec
        .scheduling_gates
        .clone_from(&new.spec.scheduling_gates);
    old.metadata
        .annotations
        .clone_from(&new.metadata.annotations);
    old.metadata.labels.clone_from(&new.metadata.labels);
}

impl Job {
    /// Kubernetes' `validateGeneratedSelector`: a generated selector must select the labels the
    /// store put on the template, which must carry the job's uid and name.
    fn validate_generated_selector(&self) -> ErrorList {
        let mut errs = ErrorList::new();
        if self.spec.manual_selector == Some(true) {
            return errs;
        }
        let Some(selector) = &self.spec.selector else {
            return errs;
        };
        let uid = &self.metadata.uid;
        let name = &self.metadata.name;
        if uid.is_empty() {
            errs.push(FieldError::required(
                &FieldPath::new("metadata").child("uid"),
                "",
            ));
        }
        let meta_path = FieldPath::new("spec").child("template").child("metadata");
        let labels = &self.spec.template.metadata.labels;
        let expected = [
            (LEGACY_CONTROLLER_UID_LABEL, uid),
            (LEGACY_JOB_NAME_LABEL, name),
            (CONTROLLER_UID_LABEL, uid),
            (JOB_NAME_LABEL, name),
        ];
        for (key, value) in expected {
            let p = meta_path.child("labels").key(key);
            match labels.get(key) {
                None => errs.push(FieldError::required(&p, format!("must be '{value}'"))),
                Some(actual) if actual != value => {
                    errs.push(FieldError::invalid(
                        &p,
                        actual,
                        format!("must be '{value}'"),
                    ));
                }
                Some(_) => {}
            }
        }
        let expected_labels = expected
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        if validate_label_selector(selector, &FieldPath::new("spec").child("selector")).is_empty()
            && !selector.matches(&expected_labels)
        {
            errs.push(FieldError::invalid(
                &FieldPath::new("spec").child("selector"),
                Json(selector),
                "`selector` not auto-generated",
            ));
        }
        errs
    }
}

/// Go's `%q` of a list of strings (`["In" "NotIn"]`), as Kubernetes prints valid values.
fn go_quoted_list(values: &[&str]) -> String {
    let quoted: Vec<String> = values.iter().map(|v| format!("{v:?}")).collect();
    format!("[{}]", quoted.join(" "))
}

/// Validation of a job spec's own fields, shared by Job and the job template of a CronJob
/// (Kubernetes' `validateJobSpec`): everything but the selector.
pub(crate) fn validate_job_spec_fields(spec: &JobSpec, path: &FieldPath) -> ErrorList {
    let mut errs = ErrorList::new();
    let non_negative = [
        ("parallelism", spec.parallelism.map(i64::from)),
        ("completions", spec.completions.map(i64::from)),
        ("activeDeadlineSeconds", spec.active_deadline_seconds),
        ("backoffLimit", spec.backoff_limit.map(i64::from)),
        (
            "ttlSecondsAfterFinished",
            spec.ttl_seconds_after_finished.map(i64::from),
        ),
        (
            "backoffLimitPerIndex",
            spec.backoff_limit_per_index.map(i64::from),
        ),
    ];
    for (field, value) in non_negative {
        if let Some(v) = value {
            check_non_negative(&mut errs, &path.child(field), v);
        }
    }
    if let Some(max_failed) = spec.max_failed_indexes {
        check_non_negative(
            &mut errs,
            &path.child("maxFailedIndexes"),
            max_failed.into(),
        );
        if spec.backoff_limit_per_index.is_none() {
            errs.push(FieldError::required(
                &path.child("backoffLimitPerIndex"),
                "when maxFailedIndexes is specified",
            ));
        }
    }
    if let Some(managed_by) = &spec.managed_by {
        let p = path.child("managedBy");
        errs.extend(validate_domain_prefixed_path(managed_by, &p));
        if managed_by.len() > MAX_MANAGED_BY_LENGTH {
            errs.push(FieldError::too_long(&p, MAX_MANAGED_BY_LENGTH));
        }
    }
    let indexed = spec.completion_mode == Some(CompletionMode::Indexed);
    if indexed {
        errs.extend(validate_indexed_limits(spec, path));
    } else {
        if let Some(v) = spec.backoff_limit_per_index {
            errs.push(FieldError::invalid(
                &path.child("backoffLimitPerIndex"),
                v,
                "requires indexed completion mode",
            ));
        }
        if let Some(v) = spec.max_failed_indexes {
            errs.push(FieldError::invalid(
                &path.child("maxFailedIndexes"),
                v,
                "requires indexed completion mode",
            ));
        }
    }
    if let Some(policy) = &spec.pod_failure_policy {
        errs.extend(validate_pod_failure_policy(
            spec,
            policy,
            &path.child("podFailurePolicy"),
        ));
    }
    if let Some(policy) = &spec.success_policy {
        let p = path.child("successPolicy");
        if indexed {
            errs.extend(validate_success_policy(spec, policy, &p));
        } else {
            errs.push(FieldError::invalid(
                &p,
                Json(policy),
                "requires indexed completion mode",
            ));
        }
    }
    if let (Some(policy), Some(_)) = (spec.pod_replacement_policy, &spec.pod_failure_policy) {
        if policy != PodReplacementPolicy::Failed {
            errs.push(FieldError::not_supported(
                &path.child("podReplacementPolicy"),
                api_str(&policy),
                &["Failed"],
            ));
        }
    }
    let template_path = path.child("template");
    errs.extend(validate_pod_template_spec(&spec.template, &template_path));
    let restart_path = template_path.child("spec").child("restartPolicy");
    match spec.template.spec.restart_policy {
        None | Some(RestartPolicy::Always) => {
            errs.push(FieldError::required(
                &restart_path,
                "valid values: \"OnFailure\", \"Never\"",
            ));
        }
        Some(RestartPolicy::OnFailure) if spec.pod_failure_policy.is_some() => {
            errs.push(FieldError::invalid(
                &restart_path,
                "OnFailure",
                "only \"Never\" is supported when podFailurePolicy is specified",
            ))
        }
        Some(_) => {}
    }
    errs
}

fn validate_indexed_limits(spec: &JobSpec, path: &FieldPath) -> ErrorList {
    let mut errs = ErrorList::new();
    if spec.completions.is_none() {
        errs.push(FieldError::required(
            &path.child("completions"),
            "when completion mode is Indexed",
        ));
    }
    if let Some(parallelism) = spec
        .parallelism
        .filter(|p| *p > MAX_PARALLELISM_FOR_INDEXED_JOB)
    {
        errs.push(FieldError::invalid(
            &path.child("parallelism"),
            parallelism,
            format!("must be less than or equal to {MAX_PARALLELISM_FOR_INDEXED_JOB} when completion mode is Indexed"),
        ));
    }
    let max_failed_path = path.child("maxFailedIndexes");
    if let (Some(completions), Some(max_failed)) = (spec.completions, spec.max_failed_indexes) {
        if max_failed > completions {
            errs.push(FieldError::invalid(
                &max_failed_path,
                max_failed,
                "must be less than or equal to completions",
            ));
        }
    }
    if let Some(max_failed) = spec
        .max_failed_indexes
        .filter(|m| *m > MAX_FAILED_INDEXES_FOR_INDEXED_JOB)
    {
        errs.push(FieldError::invalid(
            &max_failed_path,
            max_failed,
            format!("must be less than or equal to {MAX_FAILED_INDEXES_FOR_INDEXED_JOB}"),
        ));
    }
    let high_completions = spec.completions.is_some_and(|c| c > COMPLETIONS_SOFT_LIMIT);
    if high_completions && spec.backoff_limit_per_index.is_some() {
        let suffix = format!("when completions are above {COMPLETIONS_SOFT_LIMIT} and used with backoff limit per index");
        if spec.max_failed_indexes.is_none() {
            errs.push(FieldError::required(
                &max_failed_path,
                format!("must be specified when completions is above {COMPLETIONS_SOFT_LIMIT}"),
            ));
        }
        if let Some(p) = spec
            .parallelism
            .filter(|p| *p > PARALLELISM_LIMIT_FOR_HIGH_COMPLETIONS)
        {
            errs.push(FieldError::invalid(
                &path.child("parallelism"),
                p,
                format!("must be less than or equal to {PARALLELISM_LIMIT_FOR_HIGH_COMPLETIONS} {suffix}"),
            ));
        }
        if let Some(m) = spec
            .max_failed_indexes
            .filter(|m| *m > MAX_FAILED_INDEXES_LIMIT_FOR_HIGH_COMPLETIONS)
        {
            errs.push(FieldError::invalid(
                &max_failed_path,
                m,
                format!("must be less than or equal to {MAX_FAILED_INDEXES_LIMIT_FOR_HIGH_COMPLETIONS} {suffix}"),
            ));
        }
    }
    errs
}

/// Kubernetes' `IsDomainPrefixedPath` (apimachinery/pkg/util/validation): `domain/path`.
fn validate_domain_prefixed_path(value: &str, path: &FieldPath) -> ErrorList {
    let mut errs = ErrorList::new();
    if value.is_empty() {
        errs.push(FieldError::required(path, ""));
        return errs;
    }
    let Some((host, rest)) = value
        .split_once('/')
        .filter(|(h, r)| !h.is_empty() && !r.is_empty())
    else {
        errs.push(FieldError::invalid(
            path,
            value,
            "must be a domain-prefixed path (such as \"acme.io/foo\")",
        ));
        return errs;
    };
    for reason in is_dns1123_subdomain(host) {
        errs.push(FieldError::invalid(path, host, reason));
    }
    let path_char_ok = |c: char| c.is_ascii_alphanumeric() || "/-._~%!$&'()*+,;=:".contains(c);
    if !rest.chars().all(path_char_ok) {
        errs.push(FieldError::invalid(path, rest, "Invalid path"));
    }
    errs
}

fn validate_pod_failure_policy(
    spec: &JobSpec,
    policy: &PodFailurePolicy,
    path: &FieldPath,
) -> ErrorList {
    let mut errs = ErrorList::new();
    let rules_path = path.child("rules");
    if policy.rules.len() > MAX_POD_FAILURE_POLICY_RULES {
        errs.push(FieldError::too_many(
            &rules_path,
            policy.rules.len(),
            MAX_POD_FAILURE_POLICY_RULES,
        ));
    }
    let pod = &spec.template.spec;
    let container_names: Vec<&str> = pod
        .containers
        .iter()
        .chain(pod.init_containers.iter())
        .map(|c| c.name.as_str())
        .collect();
    for (i, rule) in policy.rules.iter().enumerate() {
        let rule_path = rules_path.index(i);
        let action_path = rule_path.child("action");
        match rule.action {
            None => errs.push(FieldError::required(
                &action_path,
                format!(
                    "valid values: {}",
                    go_quoted_list(&["Count", "FailIndex", "FailJob", "Ignore"])
                ),
            )),
            Some(PodFailurePolicyAction::FailIndex) if spec.backoff_limit_per_index.is_none() => {
                errs.push(FieldError::invalid(
                    &action_path,
                    "FailIndex",
                    "requires the backoffLimitPerIndex to be set",
                ));
            }
            Some(_) => {}
        }
        if let Some(on_exit_codes) = &rule.on_exit_codes {
            errs.extend(validate_on_exit_codes(
                on_exit_codes,
                &rule_path.child("onExitCodes"),
                &container_names,
            ));
        }
        if !rule.on_pod_conditions.is_empty() {
            errs.extend(validate_on_pod_conditions(
                &rule.on_pod_conditions,
                &rule_path.child("onPodConditions"),
            ));
        }
        match (
            rule.on_exit_codes.is_some(),
            rule.on_pod_conditions.is_empty(),
        ) {
            (true, false) => errs.push(FieldError::invalid(
                &rule_path,
                Json(rule),
                "specifying both OnExitCodes and OnPodConditions is not supported",
            )),
            (false, true) => errs.push(FieldError::invalid(
                &rule_path,
                Json(rule),
                "specifying one of OnExitCodes and OnPodConditions is required",
            )),
            _ => {}
        }
    }
    errs
}

fn validate_on_exit_codes(
    requirement: &PodFailurePolicyOnExitCodesRequirement,
    path: &FieldPath,
    container_names: &[&str],
) -> ErrorList {
    let mut errs = ErrorList::new();
    if requirement.operator.is_none() {
        errs.push(FieldError::required(
            &path.child("operator"),
            format!("valid values: {}", go_quoted_list(&["In", "NotIn"])),
        ));
    }
    if let Some(name) = &requirement.container_name {
        if !container_names.contains(&name.as_str()) {
            errs.push(FieldError::invalid(
                &path.child("containerName"),
                name,
                "must be one of the container or initContainer names in the pod template",
            ));
        }
    }
    let values_path = path.child("values");
    let values = &requirement.values;
    if values.is_empty() {
        errs.push(FieldError::invalid(
            &values_path,
            Json(values),
            "at least one value is required",
        ));
    } else if values.len() > MAX_POD_FAILURE_POLICY_ON_EXIT_CODES_VALUES {
        errs.push(FieldError::too_many(
            &values_path,
            values.len(),
            MAX_POD_FAILURE_POLICY_ON_EXIT_CODES_VALUES,
        ));
    }
    let mut seen = std::collections::BTreeSet::new();
    for (j, value) in values.iter().enumerate() {
        let value_path = values_path.index(j);
        if requirement.operator == Some(PodFailurePolicyOnExitCodesOperator::In) && *value == 0 {
            errs.push(FieldError::invalid(
                &value_path,
                value,
                "must not be 0 for the In operator",
            ));
        }
        if !seen.insert(*value) {
            errs.push(FieldError::duplicate(&value_path, value));
        }
    }
    if values.windows(2).any(|w| w[0] > w[1]) {
        errs.push(FieldError::invalid(
            &values_path,
            Json(values),
            "must be ordered",
        ));
    }
    errs
}

fn validate_on_pod_conditions(
    patterns: &[PodFailurePolicyOnPodConditionsPattern],
    path: &FieldPath,
) -> ErrorList {
    let mut errs = ErrorList::new();
    if patterns.len() > MAX_POD_FAILURE_POLICY_ON_POD_CONDITIONS_PATTERNS {
        errs.push(FieldError::too_many(
            path,
            patterns.len(),
            MAX_POD_FAILURE_POLICY_ON_POD_CONDITIONS_PATTERNS,
        ));
    }
    for (j, pattern) in patterns.iter().enumerate() {
        let pattern_path = path.index(j);
        check_syntax(
            &mut errs,
            &pattern_path.child("type"),
            &pattern.type_,
            is_qualified_name,
        );
        if pattern.status.is_none() {
            errs.push(FieldError::required(
                &pattern_path.child("status"),
                format!(
                    "valid values: {}",
                    go_quoted_list(&["False", "True", "Unknown"])
                ),
            ));
        }
    }
    errs
}

fn validate_success_policy(spec: &JobSpec, policy: &SuccessPolicy, path: &FieldPath) -> ErrorList {
    let mut errs = ErrorList::new();
    let rules_path = path.child("rules");
    if policy.rules.is_empty() {
        errs.push(FieldError::required(
            &rules_path,
            "at least one rules must be specified when the successPolicy is specified",
        ));
    }
    if policy.rules.len() > MAX_SUCCESS_POLICY_RULES {
        errs.push(FieldError::too_many(
            &rules_path,
            policy.rules.len(),
            MAX_SUCCESS_POLICY_RULES,
        ));
    }
    // An Indexed job without completions is already reported; count against 0 then.
    let completions = spec.completions.unwrap_or(0);
    for (i, rule) in policy.rules.iter().enumerate() {
        let rule_path = rules_path.index(i);
        if rule.succeeded_count.is_none() && rule.succeeded_indexes.is_none() {
            errs.push(FieldError::required(
                &rule_path,
                "at least one of succeededCount or succeededIndexes must be specified",
            ));
        }
        let mut total_indexes: i64 = 0;
        if let Some(indexes) = &rule.succeeded_indexes {
            let p = rule_path.child("succeededIndexes");
            if indexes.len() > MAX_SUCCEEDED_INDEXES_LENGTH {
                errs.push(FieldError::too_long(&p, MAX_SUCCEEDED_INDEXES_LENGTH));
            }
            match parse_indexes(indexes, completions) {
                Ok(intervals) => {
                    total_indexes = intervals.iter().map(|(x, y)| i64::from(y - x) + 1).sum()
                }
                Err(e) => errs.push(FieldError::invalid(
                    &p,
                    indexes,
                    format!("error parsing succeededIndexes: {e}"),
                )),
            }
        }
        if let Some(count) = rule.succeeded_count {
            let p = rule_path.child("succeededCount");
            check_non_negative(&mut errs, &p, count.into());
            if count > completions {
                errs.push(FieldError::invalid(
                    &p,
                    count,
                    format!("must be less than or equal to {completions} (the number of specified completions)"),
                ));
            }
            if rule.succeeded_indexes.is_some() && i64::from(count) > total_indexes {
                errs.push(FieldError::invalid(
                    &p,
                    count,
                    format!(
                        "must be less than or equal to {total_indexes} (the number of indexes in the specified \
                         succeededIndexes field)"
                    ),
                ));
            }
        }
    }
    errs
}

/// A malformed list of index intervals (`status.completedIndexes`, `succeededIndexes`), worded as
/// Kubernetes' `parseIndexInterval` words it.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum IndexesError {
    /// An interval has more than one `-`.
    #[error("the fragment {0:?} violates the requirement that an index interval can have at most two parts separated by '-'")]
    TooManyParts(String),
    /// A bound is not an integer.
    #[error("cannot convert string to integer for index: {0:?}")]
    NotAnInteger(String),
    /// A bound is not below the number of completions.
    #[error("too large index: {0:?}")]
    TooLarge(String),
    /// Intervals or bounds are not strictly increasing.
    #[error("non-increasing order, previous: {previous}, current: {current}")]
    NonIncreasing {
        /// The previous index.
        previous: i64,
        /// The index that is not above it.
        current: i64,
    },
}

/// Parses comma-separated index intervals (`"1,3-5,7"`) of an Indexed job with `completions`
/// indexes into inclusive `(first, last)` pairs, checking what Kubernetes' `validateIndexesFormat`
/// checks: each index below `completions`, intervals strictly increasing. The empty string is no
/// intervals.
pub fn parse_indexes(text: &str, completions: i32) -> Result<Vec<(i32, i32)>, IndexesError> {
    let mut out: Vec<(i32, i32)> = Vec::new();
    if text.is_empty() {
        return Ok(out);
    }
    let bound = |s: &str| -> Result<i32, IndexesError> {
        let n: i64 = s
            .parse()
            .map_err(|_| IndexesError::NotAnInteger(s.to_string()))?;
        if n >= i64::from(completions) {
            return Err(IndexesError::TooLarge(s.to_string()));
        }
        i32::try_from(n).map_err(|_| IndexesError::NotAnInteger(s.to_string()))
    };
    for interval in text.split(',') {
        let parts: Vec<&str> = interval.split('-').collect();
        let (x, y) = match parts.as_slice() {
            [single] => {
                let x = bound(single)?;
                (x, x)
            }
            [first, last] => {
                let (x, y) = (bound(first)?, bound(last)?);
                if x >= y {
                    return Err(IndexesError::NonIncreasing {
                        previous: x.into(),
                        current: y.into(),
                    });
                }
                (x, y)
            }
            _ => return Err(IndexesError::TooManyParts(interval.to_string())),
        };
        if let Some(&(_, previous)) = out.last() {
            if previous >= x {
                return Err(IndexesError::NonIncreasing {
                    previous: previous.into(),
                    current: x.into(),
                });
            }
        }
        out.push((x, y));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::deployment::manifest_docs;

    const PI: &str = r#"
metadata:
  name: pi
  namespace: default
spec:
  backoffLimit: 4
  activeDeadlineSeconds: 600
  ttlSecondsAfterFinished: 3600
  template:
    metadata:
      labels:
        app: pi
    spec:
      restartPolicy: Never
      containers:
      - name: pi
        image: perl:5.34.0
        command: ["perl", "-Mbignum=bpi", "-wle", "print bpi(2000)"]
"#;

    fn pi() -> Job {
        let mut job: Job = serde_yaml::from_str(PI).expect("valid yaml");
        job.set_defaults();
        job
    }

    fn stored(mut job: Job) -> Job {
        job.metadata.uid = "6d1f1a5e-0000-4000-8000-000000000001".into();
        job.set_generated_selector();
        job
    }

    fn messages(errs: &ErrorList) -> Vec<String> {
        errs.iter().map(ToString::to_string).collect()
    }

    #[test]
    fn defaults_follow_batch_v1() {
        let job = pi();
        assert_eq!(job.spec.completions, Some(1));
        assert_eq!(job.spec.parallelism, Some(1));
        assert_eq!(job.spec.backoff_limit, Some(4));
        assert_eq!(job.spec.completion_mode, Some(CompletionMode::NonIndexed));
        assert_eq!(job.spec.suspend, Some(false));
        assert_eq!(job.spec.manual_selector, Some(false));
        assert_eq!(
            job.spec.pod_replacement_policy,
            Some(PodReplacementPolicy::TerminatingOrFailed)
        );
        assert_eq!(
            job.metadata.labels.get("app").map(String::as_str),
            Some("pi")
        );

        // A work queue: parallelism without completions keeps completions unset.
        let mut spec = JobSpec {
            parallelism: Some(3),
            ..Default::default()
        };
        spec.set_defaults();
        assert_eq!(spec.completions, None);
        assert_eq!(spec.backoff_limit, Some(6));

        let mut spec = JobSpec {
            completions: Some(5),
            backoff_limit_per_index: Some(1),
            ..Default::default()
        };
        spec.pod_failure_policy = Some(PodFailurePolicy {
            rules: vec![PodFailurePolicyRule {
                action: Some(PodFailurePolicyAction::Ignore),
                on_exit_codes: None,
                on_pod_conditions: vec![PodFailurePolicyOnPodConditionsPattern {
                    type_: "DisruptionTarget".into(),
                    status: None,
                }],
            }],
        });
        spec.set_defaults();
        assert_eq!(spec.parallelism, Some(1));
        assert_eq!(spec.backoff_limit, Some(i32::MAX));
        assert_eq!(
            spec.pod_replacement_policy,
            Some(PodReplacementPolicy::Failed)
        );
        let pattern = &spec.pod_failure_policy.expect("kept").rules[0].on_pod_conditions[0];
        assert_eq!(pattern.status, Some(ConditionStatus::True));

        // Labels of the job itself are kept.
        let mut job: Job = serde_yaml::from_str(PI).expect("valid yaml");
        job.metadata.labels.insert("team".into(), "math".into());
        job.set_defaults();
        assert_eq!(job.metadata.labels.len(), 1);
    }

    #[test]
    fn a_job_without_selector_is_valid_before_the_store_generates_it() {
        assert_eq!(messages(&pi().validate()), Vec::<String>::new());
    }

    #[test]
    fn generated_selector_and_labels() {
        let job = stored(pi());
        let uid = job.metadata.uid.clone();
        let selector = job.spec.selector.as_ref().expect("generated");
        assert_eq!(selector.match_labels.len(), 1);
        assert_eq!(selector.match_labels.get(CONTROLLER_UID_LABEL), Some(&uid));
        let labels = &job.spec.template.metadata.labels;
        assert_eq!(labels.get(CONTROLLER_UID_LABEL), Some(&uid));
        assert_eq!(labels.get(LEGACY_CONTROLLER_UID_LABEL), Some(&uid));
        assert_eq!(labels.get(JOB_NAME_LABEL).map(String::as_str), Some("pi"));
        assert_eq!(
            labels.get(LEGACY_JOB_NAME_LABEL).map(String::as_str),
            Some("pi")
        );
        assert_eq!(labels.get("app").map(String::as_str), Some("pi"));
        assert_eq!(messages(&job.validate()), Vec::<String>::new());

        // Without a uid, or with a manual selector, nothing is generated.
        let mut job = pi();
        job.set_generated_selector();
        assert_eq!(job.spec.selector, None);
        let mut job = pi();
        job.metadata.uid = "u".into();
        job.spec.manual_selector = Some(true);
        job.set_generated_selector();
        assert_eq!(job.spec.selector, None);
    }

    #[test]
    fn conflicting_generated_labels_are_rejected() {
        let mut job = pi();
        job.spec
            .template
            .metadata
            .labels
            .insert(JOB_NAME_LABEL.into(), "other".into());
        let job = stored(job);
        assert_eq!(
            messages(&job.validate()),
            vec!["spec.template.metadata.labels[batch.kubernetes.io/job-name]: Invalid value: \"other\": must be 'pi'"
                .to_string()]
        );

        // A selector written by the user without manualSelector is not the generated one.
        let mut job = pi();
        job.spec.selector = Some(LabelSelector {
            match_labels: [("app".to_string(), "pi".to_string())]
                .into_iter()
                .collect(),
            ..Default::default()
        });
        let errs = messages(&job.validate());
        assert_eq!(errs[0], "metadata.uid: Required value");
        assert_eq!(
            errs[1],
            "spec.template.metadata.labels[controller-uid]: Required value: must be ''"
        );
        assert_eq!(
            errs.last().map(String::as_str),
            Some("spec.selector: Invalid value: {\"matchLabels\":{\"app\":\"pi\"}}: `selector` not auto-generated")
        );
    }

    #[test]
    fn manual_selector_needs_a_matching_selector() {
        let mut job = pi();
        job.spec.manual_selector = Some(true);
        assert_eq!(
            messages(&job.validate()),
            vec![
                "spec.selector: Required value".to_string(),
                "spec.template.metadata.labels: Invalid value: {\"app\": \"pi\"}: `selector` does not match template \
                 `labels`"
                    .to_string(),
            ]
        );
        job.spec.selector = Some(LabelSelector {
            match_labels: [("app".to_string(), "pi".to_string())]
                .into_iter()
                .collect(),
            ..Default::default()
        });
        assert!(job.validate().is_empty());
        job.spec.template.metadata.labels.clear();
        assert_eq!(
            job.validate()[0].path.to_string(),
            "spec.template.metadata.labels"
        );
    }

    #[test]
    fn restart_policy_must_be_on_failure_or_never() {
        let mut job = pi();
        job.spec.template.spec.restart_policy = Some(RestartPolicy::Always);
        assert_eq!(
            messages(&job.validate()),
            vec!["spec.template.spec.restartPolicy: Required value: valid values: \"OnFailure\", \"Never\"".to_string()]
        );
        job.spec.template.spec.restart_policy = None;
        assert_eq!(job.validate().len(), 1);
        job.spec.template.spec.restart_policy = Some(RestartPolicy::OnFailure);
        assert!(job.validate().is_empty());
    }

    #[test]
    fn counts_must_be_non_negative() {
        let mut job = pi();
        job.spec.parallelism = Some(-1);
        job.spec.completions = Some(-1);
        job.spec.active_deadline_seconds = Some(-1);
        job.spec.backoff_limit = Some(-1);
        job.spec.ttl_seconds_after_finished = Some(-1);
        let paths: Vec<String> = job.validate().iter().map(|e| e.path.to_string()).collect();
        assert_eq!(
            paths,
            [
                "spec.parallelism",
                "spec.completions",
                "spec.activeDeadlineSeconds",
                "spec.backoffLimit",
                "spec.ttlSecondsAfterFinished"
            ]
        );
        assert!(job.validate()[0]
            .to_string()
            .ends_with("must be greater than or equal to 0"));
    }

    #[test]
    fn indexed_rules() {
        let mut job = pi();
        job.spec.completion_mode = Some(CompletionMode::Indexed);
        job.spec.completions = None;
        job.spec.max_failed_indexes = Some(2);
        assert_eq!(
            messages(&job.validate()),
            vec![
                "spec.backoffLimitPerIndex: Required value: when maxFailedIndexes is specified"
                    .to_string(),
                "spec.completions: Required value: when completion mode is Indexed".to_string(),
            ]
        );

        let mut job = pi();
        job.spec.completion_mode = Some(CompletionMode::Indexed);
        job.spec.completions = Some(3);
        job.spec.parallelism = Some(100_001);
        job.spec.backoff_limit_per_index = Some(1);
        job.spec.max_failed_indexes = Some(4);
        assert_eq!(
            messages(&job.validate()),
            vec![
                "spec.parallelism: Invalid value: 100001: must be less than or equal to 100000 when completion mode \
                 is Indexed"
                    .to_string(),
                "spec.maxFailedIndexes: Invalid value: 4: must be less than or equal to completions".to_string(),
            ]
        );

        let mut job = pi();
        job.spec.completion_mode = Some(CompletionMode::Indexed);
        job.spec.completions = Some(200_000);
        job.spec.parallelism = Some(20_000);
        job.spec.backoff_limit_per_index = Some(1);
        let errs = messages(&job.validate());
        assert_eq!(
            errs,
            vec![
                "spec.maxFailedIndexes: Required value: must be specified when completions is above 100000".to_string(),
                "spec.parallelism: Invalid value: 20000: must be less than or equal to 10000 when completions are \
                 above 100000 and used with backoff limit per index"
                    .to_string(),
            ]
        );

        let mut job = pi();
        job.spec.backoff_limit_per_index = Some(1);
        job.spec.max_failed_indexes = Some(1);
        assert_eq!(
            messages(&job.validate()),
            vec![
                "spec.backoffLimitPerIndex: Invalid value: 1: requires indexed completion mode"
                    .to_string(),
                "spec.maxFailedIndexes: Invalid value: 1: requires indexed completion mode"
                    .to_string(),
            ]
        );

        // Pod hostnames are `<job>-<index>`, which must be DNS labels.
        let mut job = pi();
        job.metadata.name = "a".repeat(62);
        job.spec.completion_mode = Some(CompletionMode::Indexed);
        job.spec.completions = Some(10);
        let errs = job.validate();
        assert_eq!(errs.len(), 1);
        assert_eq!(errs[0].path.to_string(), "metadata.name");
        assert!(errs[0]
            .to_string()
            .contains("will not able to create pod with invalid DNS label"));
    }

    #[test]
    fn pod_failure_policy_rules() {
        let yaml = r#"
rules:
- action: FailJob
  onExitCodes:
    containerName: main
    operator: In
    values: [42, 0, 3, 3]
- onPodConditions:
  - type: DisruptionTarget
- action: FailIndex
  onExitCodes:
    operator: NotIn
    values: []
  onPodConditions:
  - type: "bad type!"
    status: "True"
- action: Ignore
"#;
        let policy: PodFailurePolicy = serde_yaml::from_str(yaml).expect("valid yaml");
        let mut job = pi();
        job.spec.pod_failure_policy = Some(policy);
        job.spec.pod_replacement_policy = Some(PodReplacementPolicy::TerminatingOrFailed);
        job.spec.template.spec.restart_policy = Some(RestartPolicy::OnFailure);
        let errs = messages(&job.validate());
        let expected_starts = [
            "spec.podFailurePolicy.rules[0].onExitCodes.containerName: Invalid value: \"main\": must be one of the \
             container or initContainer names in the pod template",
            "spec.podFailurePolicy.rules[0].onExitCodes.values[1]: Invalid value: 0: must not be 0 for the In operator",
            "spec.podFailurePolicy.rules[0].onExitCodes.values[3]: Duplicate value: 3",
            "spec.podFailurePolicy.rules[0].onExitCodes.values: Invalid value: [42,0,3,3]: must be ordered",
            "spec.podFailurePolicy.rules[1].action: Required value: valid values: [\"Count\" \"FailIndex\" \
             \"FailJob\" \"Ignore\"]",
            "spec.podFailurePolicy.rules[1].onPodConditions[0].status: Required value: valid values: [\"False\" \
             \"True\" \"Unknown\"]",
            "spec.podFailurePolicy.rules[2].action: Invalid value: \"FailIndex\": requires the backoffLimitPerIndex \
             to be set",
            "spec.podFailurePolicy.rules[2].onExitCodes.values: Invalid value: []: at least one value is required",
            "spec.podFailurePolicy.rules[2].onPodConditions[0].type: Invalid value: \"bad type!\"",
            "spec.podFailurePolicy.rules[2]: Invalid value: ",
            "spec.podFailurePolicy.rules[3]: Invalid value: ",
            "spec.podReplacementPolicy: Unsupported value: \"TerminatingOrFailed\": supported values: \"Failed\"",
            "spec.template.spec.restartPolicy: Invalid value: \"OnFailure\": only \"Never\" is supported when \
             podFailurePolicy is specified",
        ];
        assert_eq!(errs.len(), expected_starts.len(), "{errs:#?}");
        for (err, start) in errs.iter().zip(expected_starts) {
            assert!(
                err.starts_with(start),
                "{err}\ndoes not start with\n{start}"
            );
        }
        assert!(
            errs[9].ends_with("specifying both OnExitCodes and OnPodConditions is not supported")
        );
        assert!(errs[10].ends_with("specifying one of OnExitCodes and OnPodConditions is required"));
    }

    #[test]
    fn success_policy_rules() {
        let mut job = pi();
        job.spec.success_policy = Some(SuccessPolicy { rules: vec![] });
        assert_eq!(
            messages(&job.validate()),
            vec!["spec.successPolicy: Invalid value: {\"rules\":[]}: requires indexed completion mode".to_string()]
        );
        job.spec.completion_mode = Some(CompletionMode::Indexed);
        job.spec.completions = Some(5);
        assert_eq!(
            messages(&job.validate()),
            vec!["spec.successPolicy.rules: Required value: at least one rules must be specified when the \
                  successPolicy is specified"
                .to_string()]
        );
        job.spec.success_policy = Some(SuccessPolicy {
            rules: vec![
                SuccessPolicyRule {
                    succeeded_indexes: Some("0,2-3".into()),
                    succeeded_count: Some(3),
                },
                SuccessPolicyRule {
                    succeeded_indexes: None,
                    succeeded_count: None,
                },
                SuccessPolicyRule {
                    succeeded_indexes: Some("0-7".into()),
                    succeeded_count: None,
                },
                SuccessPolicyRule {
                    succeeded_indexes: Some("1,3".into()),
                    succeeded_count: Some(6),
                },
            ],
        });
        assert_eq!(
            messages(&job.validate()),
            vec![
                "spec.successPolicy.rules[1]: Required value: at least one of succeededCount or succeededIndexes must \
                 be specified"
                    .to_string(),
                "spec.successPolicy.rules[2].succeededIndexes: Invalid value: \"0-7\": error parsing \
                 succeededIndexes: too large index: \"7\""
                    .to_string(),
                "spec.successPolicy.rules[3].succeededCount: Invalid value: 6: must be less than or equal to 5 (the \
                 number of specified completions)"
                    .to_string(),
                "spec.successPolicy.rules[3].succeededCount: Invalid value: 6: must be less than or equal to 2 (the \
                 number of indexes in the specified succeededIndexes field)"
                    .to_string(),
            ]
        );
    }

    #[test]
    fn managed_by_must_be_a_domain_prefixed_path() {
        let mut job = pi();
        job.spec.managed_by = Some(JOB_CONTROLLER_NAME.into());
        assert!(job.validate().is_empty());
        job.spec.managed_by = Some("no-slash".into());
        assert_eq!(
            messages(&job.validate()),
            vec!["spec.managedBy: Invalid value: \"no-slash\": must be a domain-prefixed path (such as \"acme.io/foo\")"
                .to_string()]
        );
        job.spec.managed_by = Some(format!("example.com/{}", "x".repeat(60)));
        assert_eq!(
            messages(&job.validate()),
            vec!["spec.managedBy: Too long: may not be more than 63 bytes".to_string()]
        );
        job.spec.managed_by = Some("Example.com/x y".into());
        assert_eq!(job.validate().len(), 2);
    }

    #[test]
    fn index_intervals() {
        assert_eq!(parse_indexes("", 3), Ok(vec![]));
        assert_eq!(
            parse_indexes("0,2-4,6", 7),
            Ok(vec![(0, 0), (2, 4), (6, 6)])
        );
        assert_eq!(
            parse_indexes("1-2-3", 7),
            Err(IndexesError::TooManyParts("1-2-3".into()))
        );
        assert_eq!(
            parse_indexes("a", 7),
            Err(IndexesError::NotAnInteger("a".into()))
        );
        assert_eq!(
            parse_indexes("7", 7),
            Err(IndexesError::TooLarge("7".into()))
        );
        assert_eq!(
            parse_indexes("3-3", 7),
            Err(IndexesError::NonIncreasing {
                previous: 3,
                current: 3
            })
        );
        assert_eq!(
            parse_indexes("2-4,4", 7),
            Err(IndexesError::NonIncreasing {
                previous: 4,
                current: 4
            })
        );
        assert_eq!(
            IndexesError::TooManyParts("1-2-3".into()).to_string(),
            "the fragment \"1-2-3\" violates the requirement that an index interval can have at most two parts \
             separated by '-'"
        );
    }

    #[test]
    fn immutable_fields_on_update() {
        let old = stored(pi());
        let mut new = old.clone();
        new.spec.parallelism = Some(4);
        new.spec.active_deadline_seconds = Some(100);
        new.spec.suspend = Some(true);
        assert!(new.validate_update(&old).is_empty());

        let mut new = old.clone();
        new.spec.completions = Some(2);
        new.spec.selector = Some(LabelSelector::default());
        new.spec
            .template
            .spec
            .node_selector
            .insert("disk".into(), "ssd".into());
        new.spec.backoff_limit_per_index = Some(1);
        new.spec.managed_by = Some("example.com/queue".into());
        let errs = new.validate_update(&old);
        let paths: Vec<String> = errs.iter().map(|e| e.path.to_string()).collect();
        assert_eq!(
            paths,
            [
                "spec.completions",
                "spec.selector",
                "spec.template",
                "spec.backoffLimitPerIndex",
                "spec.managedBy"
            ]
        );
        assert_eq!(
            errs[0].to_string(),
            "spec.completions: Invalid value: 2: field is immutable"
        );
        assert_eq!(
            errs[1].to_string(),
            "spec.selector: Invalid value: {}: field is immutable"
        );

        let mut new = old.clone();
        new.spec.completion_mode = Some(CompletionMode::Indexed);
        new.spec.success_policy = Some(SuccessPolicy::default());
        new.spec.pod_failure_policy = Some(PodFailurePolicy::default());
        let paths: Vec<String> = new
            .validate_update(&old)
            .iter()
            .map(|e| e.path.to_string())
            .collect();
        assert_eq!(
            paths,
            [
                "spec.completionMode",
                "spec.podFailurePolicy",
                "spec.successPolicy"
            ]
        );
    }

    #[test]
    fn suspended_jobs_may_change_scheduling_directives() {
        let mut old = stored(pi());
        old.spec.suspend = Some(true);
        let mut new = old.clone();
        new.spec.suspend = Some(false);
        new.spec
            .template
            .spec
            .node_selector
            .insert("disk".into(), "ssd".into());
        new.spec
            .template
            .metadata
            .annotations
            .insert("example.com/queue".into(), "gpu".into());
        assert!(new.validate_update(&old).is_empty());
        // Not once the job has started.
        old.status.start_time = Some(Time::from_secs(1_700_000_000));
        assert_eq!(new.validate_update(&old).len(), 1);
    }

    #[test]
    fn elastic_indexed_jobs_scale_completions_with_parallelism() {
        let mut old = pi();
        old.spec.completion_mode = Some(CompletionMode::Indexed);
        old.spec.completions = Some(3);
        old.spec.parallelism = Some(3);
        let mut new = old.clone();
        new.spec.completions = Some(5);
        new.spec.parallelism = Some(5);
        assert!(new.validate_update(&old).is_empty());
        new.spec.parallelism = Some(4);
        assert_eq!(
            messages(&new.validate_update(&old)),
            vec!["spec.completions: Invalid value: 5: can only be modified in tandem with spec.parallelism".to_string()]
        );
    }

    #[test]
    fn reads_a_status() {
        let yaml = r#"
metadata: {name: pi}
status:
  startTime: "2026-01-01T00:00:00Z"
  completionTime: "2026-01-01T00:01:00Z"
  succeeded: 1
  ready: 0
  terminating: 0
  completedIndexes: "0"
  uncountedTerminatedPods: {}
  conditions:
  - type: SuccessCriteriaMet
    status: "True"
  - type: Complete
    status: "True"
    lastProbeTime: "2026-01-01T00:01:00Z"
    lastTransitionTime: "2026-01-01T00:01:00Z"
"#;
        let job: Job = serde_yaml::from_str(yaml).expect("valid yaml");
        assert!(job.is_finished());
        assert!(job
            .status
            .is_condition_true(JobConditionType::SuccessCriteriaMet));
        assert!(!job.status.is_condition_true(JobConditionType::Failed));
        assert_eq!(job.status.succeeded, 1);
        assert_eq!(
            job.status.uncounted_terminated_pods,
            Some(UncountedTerminatedPods::default())
        );
    }

    #[test]
    fn example_manifest_is_valid() {
        let docs = manifest_docs(include_str!("../../../examples/manifests/job.yaml"));
        let mut modes = Vec::new();
        for (i, doc) in docs.into_iter().enumerate() {
            let mut job: Job = serde_json::from_value(doc).expect("a Job");
            job.set_defaults();
            assert_eq!(
                messages(&job.validate()),
                Vec::<String>::new(),
                "{}",
                job.metadata.name
            );
            job.metadata.uid = format!("00000000-0000-4000-8000-00000000000{i}");
            job.set_generated_selector();
            assert_eq!(
                messages(&job.validate()),
                Vec::<String>::new(),
                "{}",
                job.metadata.name
            );
            assert!(job.metadata.namespace == "shop" || job.metadata.namespace == "default");
            modes.push(job.spec.completion_mode);
        }
        assert!(modes.contains(&Some(CompletionMode::NonIndexed)));
        assert!(modes.contains(&Some(CompletionMode::Indexed)));
    }
}
