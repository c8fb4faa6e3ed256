//! Deployment (`apps/v1`): declarative rollouts of a replicated pod template through ReplicaSets,
//! with its defaults and validation as the API server applies them.
//!
//! This module also holds the validation helpers the pod-owning workloads share (selectors that
//! must match the template, integer-or-percent fields, immutable fields), the counterparts of
//! Kubernetes' `pkg/apis/apps/validation`.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::api::pod::{
    validate_pod_template_spec, ConditionStatus, PodTemplateSpec, RestartPolicy,
};
use crate::meta::{IntOrString, Labels, ObjectMeta};
use crate::selector::{validate_label_selector, LabelSelector};
use crate::time::Time;
use crate::validation::{
    check_non_negative, ErrorList, FieldError, FieldPath, SetDefaults, Validate,
};

/// A Deployment: keeps `replicas` pods of `template` running and rolls out template changes
/// through ReplicaSets according to `strategy`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Deployment {
    /// Standard object metadata.
    #[serde(default)]
    pub metadata: ObjectMeta,
    /// The desired state.
    #[serde(default)]
    pub spec: DeploymentSpec,
    /// The observed state, written by the deployment controller.
    #[serde(default, skip_serializing_if = "crate::meta::is_default")]
    pub status: DeploymentStatus,
}

/// The desired state of a [`Deployment`].
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DeploymentSpec {
    /// Number of desired pods; defaults to 1.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replicas: Option<i32>,
    /// Label selector for the pods; required, must match the template's labels and is immutable.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub selector: Option<LabelSelector>,
    /// The pods to create.
    #[serde(default)]
    pub template: PodTemplateSpec,
    /// How old pods are replaced by new ones; defaults to RollingUpdate with 25%/25%.
    #[serde(default, skip_serializing_if = "crate::meta::is_default")]
    pub strategy: DeploymentStrategy,
    /// Seconds a new pod must be ready, without any container crashing, to count as available;
    /// defaults to 0.
    #[serde(default, skip_serializing_if = "crate::meta::is_default")]
    pub min_ready_seconds: i32,
    /// Number of old ReplicaSets kept to allow rollback; defaults to 10.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revision_history_limit: Option<i32>,
    /// Whether the rollout is paused; defaults to false.
    #[serde(default, skip_serializing_if = "crate::meta::is_default")]
    pub paused: bool,
    /// Seconds the rollout may go without progress before it is reported as failed
    /// (`Progressing=False`, reason `ProgressDeadlineExceeded`); defaults to 600.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub progress_deadline_seconds: Option<i32>,
}

/// How a [`Deployment`] replaces old pods with new ones.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DeploymentStrategy {
    /// The kind of strategy; defaults to RollingUpdate.
    #[serde(rename = "type", default, skip_serializing_if = "Option::is_none")]
    pub type_: Option<DeploymentStrategyType>,
    /// Parameters of a rolling update; only with `type: RollingUpdate`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rolling_update: Option<RollingUpdateDeployment>,
}

/// The kinds of [`DeploymentStrategy`].
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize,
)]
pub enum DeploymentStrategyType {
    /// Kill all existing pods before creating new ones.
    Recreate,
    /// Replace the old ReplicaSet by the new one gradually (the default).
    #[default]
    RollingUpdate,
}

/// Parameters of a Deployment's rolling update.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RollingUpdateDeployment {
    /// Pods that may be unavailable during the update, absolute or a percentage of the desired
    /// replicas (rounded down); defaults to `25%`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_unavailable: Option<IntOrString>,
    /// Pods that may be created above the desired replicas, absolute or a percentage (rounded
    /// up); defaults to `25%`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_surge: Option<IntOrString>,
}

/// The observed state of a [`Deployment`].
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DeploymentStatus {
    /// The generation observed by the deployment controller.
    #[serde(default, skip_serializing_if = "crate::meta::is_default")]
    pub observed_generation: i64,
    /// Non-terminating pods targeted by this deployment (their labels match the selector).
    #[serde(default, skip_serializing_if = "crate::meta::is_default")]
    pub replicas: i32,
    /// Non-terminating pods that have the desired template.
    #[serde(default, skip_serializing_if = "crate::meta::is_default")]
    pub updated_replicas: i32,
    /// Non-terminating pods with a Ready condition.
    #[serde(default, skip_serializing_if = "crate::meta::is_default")]
    pub ready_replicas: i32,
    /// Non-terminating pods ready for at least `minReadySeconds`.
    #[serde(default, skip_serializing_if = "crate::meta::is_default")]
    pub available_replicas: i32,
    /// Pods still needed for 100% availability: created but not available, or not yet created.
    #[serde(default, skip_serializing_if = "crate::meta::is_default")]
    pub unavailable_replicas: i32,
    /// Pods of this deployment that are terminating (have a deletionTimestamp).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub terminating_replicas: Option<i32>,
    /// The latest observations of the deployment's state.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub conditions: Vec<DeploymentCondition>,
    /// Count of hash collisions, used to make the name of the newest ReplicaSet unique.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub collision_count: Option<i32>,
}

/// One observation of a [`Deployment`]'s state.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DeploymentCondition {
    /// The condition.
    #[serde(rename = "type")]
    pub type_: DeploymentConditionType,
    /// Whether it holds.
    pub status: ConditionStatus,
    /// When the condition was last updated.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_update_time: Option<Time>,
    /// When the status last changed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_transition_time: Option<Time>,
    /// A CamelCase reason for the last transition (`NewReplicaSetAvailable`).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub reason: String,
    /// A human-readable explanation.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub message: String,
}

/// The conditions of a [`Deployment`].
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize,
)]
pub enum DeploymentConditionType {
    /// At least the minimum number of pods (replicas minus maxUnavailable) is available.
    #[default]
    Available,
    /// The rollout is making progress, is complete, or has exceeded its progress deadline.
    Progressing,
    /// A pod could not be created or deleted.
    ReplicaFailure,
}

impl SetDefaults for Deployment {
    /// Kubernetes' `SetDefaults_Deployment` (pkg/apis/apps/v1/defaults.go) plus the pod template's
    /// defaults.
    fn set_defaults(&mut self) {
        let spec = &mut self.spec;
        spec.replicas.get_or_insert(1);
        let strategy = &mut spec.strategy;
        let kind = *strategy
            .type_
            .get_or_insert(DeploymentStrategyType::RollingUpdate);
        if kind == DeploymentStrategyType::RollingUpdate {
            let rolling = strategy.rolling_update.get_or_insert_with(Default::default);
            rolling
                .max_unavailable
                .get_or_insert_with(|| IntOrString::String("25%".into()));
            rolling
                .max_surge
                .get_or_insert_with(|| IntOrString::String("25%".into()));
        }
        spec.revision_history_limit.get_or_insert(10);
        spec.progress_deadline_seconds.get_or_insert(600);
        spec.template.set_defaults();
    }
}

impl Validate for Deployment {
    /// Kubernetes' `ValidateDeploymentSpec` (pkg/apis/apps/validation/validation.go).
    fn validate(&self) -> ErrorList {
        let spec = &self.spec;
        let path = FieldPath::new("spec");
        let mut errs = ErrorList::new();
        if let Some(replicas) = spec.replicas {
            check_non_negative(&mut errs, &path.child("replicas"), replicas.into());
        }
        errs.extend(validate_replicated_pods(
            spec.selector.as_ref(),
            &spec.template,
            "deployment",
            &path,
        ));
        errs.extend(validate_deployment_strategy(
            &spec.strategy,
            &path.child("strategy"),
        ));
        check_non_negative(
            &mut errs,
            &path.child("minReadySeconds"),
            spec.min_ready_seconds.into(),
        );
        if let Some(limit) = spec.revision_history_limit {
            check_non_negative(&mut errs, &path.child("revisionHistoryLimit"), limit.into());
        }
        if let Some(deadline) = spec.progress_deadline_seconds {
            let p = path.child("progressDeadlineSeconds");
            check_non_negative(&mut errs, &p, deadline.into());
            if deadline <= spec.min_ready_seconds {
                errs.push(FieldError::invalid(
                    &p,
                    deadline,
                    "must be greater than minReadySeconds",
                ));
            }
        }
        errs
    }

    /// The selector of an `apps/v1` Deployment is immutable (pkg/registry/apps/deployment/strategy.go).
    fn validate_update(&self, old: &Self) -> ErrorList {
        let mut errs = ErrorList::new();
        check_immutable(
            &mut errs,
            &self.spec.selector,
            &old.spec.selector,
            &FieldPath::new("spec").child("selector"),
        );
        errs
    }
}

fn validate_deployment_strategy(strategy: &DeploymentStrategy, path: &FieldPath) -> ErrorList {
    let mut errs = ErrorList::new();
    match strategy.type_ {
        Some(DeploymentStrategyType::Recreate) => {
            if strategy.rolling_update.is_some() {
                errs.push(FieldError::forbidden(
                    &path.child("rollingUpdate"),
                    "may not be specified when strategy `type` is 'Recreate'",
                ));
            }
        }
        Some(DeploymentStrategyType::RollingUpdate) => match &strategy.rolling_update {
            None => errs.push(FieldError::required(
                &path.child("rollingUpdate"),
                "this should be defaulted and never be nil",
            )),
            Some(rolling) => errs.extend(validate_rolling_update_deployment(
                rolling,
                &path.child("rollingUpdate"),
            )),
        },
        None => errs.push(FieldError::not_supported(
            path,
            "",
            &["Recreate", "RollingUpdate"],
        )),
    }
    errs
}

fn validate_rolling_update_deployment(
    rolling: &RollingUpdateDeployment,
    path: &FieldPath,
) -> ErrorList {
    let zero = IntOrString::Int(0);
    let max_unavailable = rolling.max_unavailable.as_ref().unwrap_or(&zero);
    let max_surge = rolling.max_surge.as_ref().unwrap_or(&zero);
    let mut errs = validate_int_or_percent(max_unavailable, &path.child("maxUnavailable"));
    errs.extend(validate_int_or_percent(max_surge, &path.child("maxSurge")));
    if int_or_percent_value(max_unavailable) == 0 && int_or_percent_value(max_surge) == 0 {
        errs.push(FieldError::invalid(
            &path.child("maxUnavailable"),
            Json(max_unavailable),
            "may not be 0 when `maxSurge` is 0",
        ));
    }
    errs.extend(validate_not_more_than_100_percent(
        max_unavailable,
        &path.child("maxUnavailable"),
    ));
    errs
}

// ---------------------------------------------------------------------------------------------
// Validation shared by the pod-owning workloads (pkg/apis/apps/validation, pkg/apis/batch/validation).
// ---------------------------------------------------------------------------------------------

/// Prints a value in an error message as the compact JSON of its API form (`{"matchLabels":
/// {"app":"web"}}`, `"25%"`, `3`), which reads better than Rust's `Debug` for API structs.
pub(crate) struct Json<'a, T: ?Sized>(pub(crate) &'a T);

impl<T: Serialize + ?Sized> fmt::Debug for Json<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match serde_json::to_string(self.0) {
            Ok(text) => f.write_str(&text),
            Err(_) => f.write_str("<unprintable>"),
        }
    }
}

/// The API string of a unit enum (`"OnFailure"`), as serde writes it.
pub(crate) fn api_str<T: Serialize>(value: &T) -> String {
    match serde_json::to_value(value) {
        Ok(serde_json::Value::String(s)) => s,
        _ => String::new(),
    }
}

/// Pushes Kubernetes' `ValidateImmutableField` error (`field is immutable`) when `new != old`.
pub(crate) fn check_immutable<T: PartialEq + Serialize>(
    errs: &mut ErrorList,
    new: &T,
    old: &T,
    path: &FieldPath,
) {
    if new != old {
        errs.push(FieldError::invalid(path, Json(new), "field is immutable"));
    }
}

const PERCENT_MESSAGE: &str =
    "a valid percent string must be a numeric string followed by an ending '%' (e.g. '1%',  or '93%')";

/// The number in a percent string (`"25%"` → 25), as Kubernetes' `IsValidPercent` accepts it.
fn percent_value(value: &IntOrString) -> Option<i64> {
    match value {
        IntOrString::String(s) => {
            let digits = s.strip_suffix('%')?;
            if digits.is_empty() || !digits.bytes().all(|c| c.is_ascii_digit()) {
                return None;
            }
            Some(digits.parse().unwrap_or(i64::MAX))
        }
        IntOrString::Int(_) => None,
    }
}

/// The magnitude of an integer-or-percent value as Kubernetes' `getIntOrPercentValue` sees it: the
/// number of a percent string, the integer, or the integer a non-percent string parses to (0 when
/// it does not).
pub(crate) fn int_or_percent_value(value: &IntOrString) -> i64 {
    match (percent_value(value), value) {
        (Some(p), _) => p,
        (None, IntOrString::Int(i)) => i64::from(*i),
        (None, IntOrString::String(s)) => s.parse().unwrap_or(0),
    }
}

/// Validates an integer-or-percent field (`maxSurge`, `maxUnavailable`, `minAvailable`): a
/// non-negative integer or a string of digits followed by `%`, as Kubernetes'
/// `ValidatePositiveIntOrPercent` does.
pub fn validate_int_or_percent(value: &IntOrString, path: &FieldPath) -> ErrorList {
    let mut errs = ErrorList::new();
    match value {
        IntOrString::String(s) => {
            if percent_value(value).is_none() {
                errs.push(FieldError::invalid(path, s, PERCENT_MESSAGE));
            }
        }
        IntOrString::Int(i) => check_non_negative(&mut errs, path, i64::from(*i)),
    }
    errs
}

/// Rejects a percentage above 100% (Kubernetes' `IsNotMoreThan100Percent`); integers and malformed
/// strings pass (the latter are reported by [`validate_int_or_percent`]).
pub fn validate_not_more_than_100_percent(value: &IntOrString, path: &FieldPath) -> ErrorList {
    match percent_value(value) {
        Some(p) if p > 100 => vec![FieldError::invalid(
            path,
            Json(value),
            "must not be greater than 100%",
        )],
        _ => ErrorList::new(),
    }
}

/// Whether `selector` selects pods with `labels` for the template check, as Kubernetes'
/// `LabelSelectorAsSelector` turns it into a selector: a missing selector selects nothing, an
/// empty one everything.
fn template_selected(selector: Option<&LabelSelector>, labels: &Labels) -> bool {
    match selector {
        None => false,
        Some(s) => s.is_empty() || s.matches(labels),
    }
}

/// The "`selector` does not match template `labels`" error at `template_path.metadata.labels`,
/// unless `selector` selects the template's labels.
pub(crate) fn check_template_labels(
    errs: &mut ErrorList,
    selector: Option<&LabelSelector>,
    template_labels: &Labels,
    template_path: &FieldPath,
) {
    if !template_selected(selector, template_labels) {
        errs.push(FieldError::invalid(
            &template_path.child("metadata").child("labels"),
            template_labels,
            "`selector` does not match template `labels`",
        ));
    }
}

/// Validates the selector a replicated workload requires (Deployment, ReplicaSet, StatefulSet):
/// present, syntactically valid and not empty (`empty selector is invalid for {kind}`). Returns
/// the errors and whether the selector could be turned into a selector for the template check.
pub(crate) fn validate_required_selector(
    selector: Option<&LabelSelector>,
    kind: &str,
    path: &FieldPath,
) -> (ErrorList, bool) {
    let mut errs = ErrorList::new();
    let p = path.child("selector");
    match selector {
        None => {
            errs.push(FieldError::required(&p, ""));
            (errs, true)
        }
        Some(s) => {
            let syntax = validate_label_selector(s, &p);
            let usable = syntax.is_empty();
            errs.extend(syntax);
            if s.match_labels.is_empty() && s.match_expressions.is_empty() {
                errs.push(FieldError::invalid(
                    &p,
                    Json(s),
                    format!("empty selector is invalid for {kind}"),
                ));
            }
            if !usable {
                errs.push(FieldError::invalid(&p, Json(s), "invalid label selector"));
            }
            (errs, usable)
        }
    }
}

/// Requires `restartPolicy: Always` (a missing policy defaults to it) and forbids
/// `activeDeadlineSeconds` in the template of a long-running workload.
pub(crate) fn validate_long_running_template(
    template: &PodTemplateSpec,
    kind: &str,
    template_path: &FieldPath,
) -> ErrorList {
    let mut errs = ErrorList::new();
    let spec_path = template_path.child("spec");
    let policy = template
        .spec
        .restart_policy
        .unwrap_or(RestartPolicy::Always);
    if policy != RestartPolicy::Always {
        errs.push(FieldError::not_supported(
            &spec_path.child("restartPolicy"),
            api_str(&policy),
            &["Always"],
        ));
    }
    if template.spec.active_deadline_seconds.is_some() {
        errs.push(FieldError::forbidden(
            &spec_path.child("activeDeadlineSeconds"),
            format!("activeDeadlineSeconds in {kind} is not Supported"),
        ));
    }
    errs
}

/// Selector and template validation of a Deployment or ReplicaSet (Kubernetes' selector checks
/// of `ValidateDeploymentSpec`/`ValidateReplicaSetSpec` and `ValidatePodTemplateSpecForReplicaSet`).
/// `selector_kind` is the word in the empty-selector message.
pub(crate) fn validate_replicated_pods(
    selector: Option<&LabelSelector>,
    template: &PodTemplateSpec,
    selector_kind: &str,
    spec_path: &FieldPath,
) -> ErrorList {
    let (mut errs, usable) = validate_required_selector(selector, selector_kind, spec_path);
    if usable {
        let template_path = spec_path.child("template");
        check_template_labels(
            &mut errs,
            selector,
            &template.metadata.labels,
            &template_path,
        );
        errs.extend(validate_pod_template_spec(template, &template_path));
        errs.extend(validate_long_running_template(
            template,
            "ReplicaSet",
            &template_path,
        ));
    }
    errs
}

/// The documents of a manifest file as JSON values, without `apiVersion` and `kind`.
#[cfg(test)]
pub(crate) fn manifest_docs(text: &str) -> Vec<serde_json::Value> {
    let mut out = Vec::new();
    for doc in serde_yaml::Deserializer::from_str(text) {
        let value = serde_yaml::Value::deserialize(doc).expect("valid YAML");
        if value.is_null() {
            continue;
        }
        let mut json = serde_json::to_value(value).expect("JSON-compatible YAML");
        if let serde_json::Value::Object(map) = &mut json {
            map.remove("apiVersion");
            map.remove("kind");
        }
        out.push(json);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const WEB: &str = r#"
metadata:
  name: web
  namespace: shop
spec:
  replicas: 3
  selector:
    matchLabels:
      app: web
  template:
    metadata:
      labels:
        app: web
    spec:
      containers:
      - name: nginx
        image: nginx:1.27
"#;

    fn web() -> Deployment {
        let mut d: Deployment = serde_yaml::from_str(WEB).expect("valid yaml");
        d.set_defaults();
        d
    }

    fn messages(errs: &ErrorList) -> Vec<String> {
        errs.iter().map(ToString::to_string).collect()
    }

    #[test]
    fn reads_a_realistic_deployment() {
        let yaml = r#"
metadata:
  name: web
spec:
  replicas: 2
  revisionHistoryLimit: 5
  minReadySeconds: 10
  progressDeadlineSeconds: 120
  paused: true
  strategy:
    type: RollingUpdate
    rollingUpdate:
      maxSurge: 1
      maxUnavailable: 10%
  selector:
    matchLabels: {app: web}
  template:
    metadata:
      labels: {app: web}
    spec:
      containers:
      - name: nginx
        image: nginx:1.27
status:
  observedGeneration: 4
  replicas: 2
  updatedReplicas: 2
  readyReplicas: 1
  availableReplicas: 1
  unavailableReplicas: 1
  terminatingReplicas: 0
  collisionCount: 1
  conditions:
  - type: Progressing
    status: "True"
    reason: NewReplicaSetAvailable
    lastUpdateTime: "2026-01-01T00:00:00Z"
    lastTransitionTime: "2026-01-01T00:00:00Z"
"#;
        let d: Deployment = serde_yaml::from_str(yaml).expect("valid yaml");
        assert_eq!(d.spec.replicas, Some(2));
        assert_eq!(d.spec.min_ready_seconds, 10);
        assert!(d.spec.paused);
        let rolling = d
            .spec
            .strategy
            .rolling_update
            .as_ref()
            .expect("rolling update");
        assert_eq!(rolling.max_surge, Some(IntOrString::Int(1)));
        assert_eq!(
            rolling.max_unavailable,
            Some(IntOrString::String("10%".into()))
        );
        assert_eq!(
            d.status.conditions[0].type_,
            DeploymentConditionType::Progressing
        );
        assert_eq!(d.status.conditions[0].status, ConditionStatus::True);
        assert_eq!(d.status.terminating_replicas, Some(0));
        assert!(d.validate().is_empty(), "{:?}", d.validate());
        // Round trip through JSON keeps the API shape.
        let json = serde_json::to_value(&d).expect("serializable");
        assert_eq!(json["spec"]["strategy"]["type"], "RollingUpdate");
        assert_eq!(
            json["spec"]["strategy"]["rollingUpdate"]["maxUnavailable"],
            "10%"
        );
        let back: Deployment = serde_json::from_value(json).expect("round trip");
        assert_eq!(back, d);
    }

    #[test]
    fn defaults_follow_apps_v1() {
        let mut d = Deployment::default();
        d.set_defaults();
        assert_eq!(d.spec.replicas, Some(1));
        assert_eq!(
            d.spec.strategy.type_,
            Some(DeploymentStrategyType::RollingUpdate)
        );
        let rolling = d.spec.strategy.rolling_update.expect("defaulted");
        assert_eq!(
            rolling.max_unavailable,
            Some(IntOrString::String("25%".into()))
        );
        assert_eq!(rolling.max_surge, Some(IntOrString::String("25%".into())));
        assert_eq!(d.spec.revision_history_limit, Some(10));
        assert_eq!(d.spec.progress_deadline_seconds, Some(600));

        // Recreate gets no rollingUpdate; explicit values are kept.
        let mut d = Deployment::default();
        d.spec.strategy.type_ = Some(DeploymentStrategyType::Recreate);
        d.spec.replicas = Some(0);
        d.spec.revision_history_limit = Some(0);
        d.set_defaults();
        assert_eq!(d.spec.strategy.rolling_update, None);
        assert_eq!(d.spec.replicas, Some(0));
        assert_eq!(d.spec.revision_history_limit, Some(0));

        // A partially given rolling update is completed.
        let mut d = Deployment::default();
        d.spec.strategy.rolling_update = Some(RollingUpdateDeployment {
            max_surge: Some(IntOrString::Int(0)),
            max_unavailable: None,
        });
        d.set_defaults();
        let rolling = d.spec.strategy.rolling_update.expect("kept");
        assert_eq!(rolling.max_surge, Some(IntOrString::Int(0)));
        assert_eq!(
            rolling.max_unavailable,
            Some(IntOrString::String("25%".into()))
        );
    }

    #[test]
    fn a_valid_deployment_passes() {
        assert_eq!(messages(&web().validate()), Vec::<String>::new());
    }

    #[test]
    fn selector_is_required_and_must_match_the_template() {
        let mut d = web();
        d.spec.selector = None;
        assert_eq!(
            messages(&d.validate()),
            vec![
                "spec.selector: Required value".to_string(),
                "spec.template.metadata.labels: Invalid value: {\"app\": \"web\"}: `selector` does not match \
                 template `labels`"
                    .to_string(),
            ]
        );

        let mut d = web();
        d.spec.selector = Some(LabelSelector::default());
        assert_eq!(
            messages(&d.validate()),
            vec![
                "spec.selector: Invalid value: {}: empty selector is invalid for deployment"
                    .to_string()
            ]
        );

        let mut d = web();
        d.spec
            .template
            .metadata
            .labels
            .insert("app".into(), "api".into());
        let errs = d.validate();
        assert_eq!(errs.len(), 1);
        assert_eq!(errs[0].path.to_string(), "spec.template.metadata.labels");
        assert!(errs[0]
            .to_string()
            .ends_with("`selector` does not match template `labels`"));
    }

    #[test]
    fn template_must_restart_always_and_have_no_deadline() {
        let mut d = web();
        d.spec.template.spec.restart_policy = Some(RestartPolicy::OnFailure);
        d.spec.template.spec.active_deadline_seconds = Some(30);
        assert_eq!(
            messages(&d.validate()),
            vec![
                "spec.template.spec.restartPolicy: Unsupported value: \"OnFailure\": supported values: \"Always\""
                    .to_string(),
                "spec.template.spec.activeDeadlineSeconds: Forbidden: activeDeadlineSeconds in ReplicaSet is not \
                 Supported"
                    .to_string(),
            ]
        );
    }

    #[test]
    fn counts_must_be_non_negative_and_deadline_above_min_ready() {
        let mut d = web();
        d.spec.replicas = Some(-1);
        d.spec.min_ready_seconds = -2;
        d.spec.revision_history_limit = Some(-3);
        d.spec.progress_deadline_seconds = Some(-4);
        assert_eq!(
            messages(&d.validate()),
            vec![
                "spec.replicas: Invalid value: -1: must be greater than or equal to 0".to_string(),
                "spec.minReadySeconds: Invalid value: -2: must be greater than or equal to 0".to_string(),
                "spec.revisionHistoryLimit: Invalid value: -3: must be greater than or equal to 0".to_string(),
                "spec.progressDeadlineSeconds: Invalid value: -4: must be greater than or equal to 0".to_string(),
                "spec.progressDeadlineSeconds: Invalid value: -4: must be greater than minReadySeconds".to_string(),
            ]
        );
        let mut d = web();
        d.spec.min_ready_seconds = 600;
        assert_eq!(
            messages(&d.validate()),
            vec!["spec.progressDeadlineSeconds: Invalid value: 600: must be greater than minReadySeconds".to_string()]
        );
    }

    #[test]
    fn rolling_update_parameters_are_checked() {
        let set = |surge: IntOrString, unavailable: IntOrString| {
            let mut d = web();
            d.spec.strategy.rolling_update = Some(RollingUpdateDeployment {
                max_surge: Some(surge),
                max_unavailable: Some(unavailable),
            });
            messages(&d.validate())
        };
        assert_eq!(
            set(IntOrString::Int(0), IntOrString::String("0%".into())),
            vec!["spec.strategy.rollingUpdate.maxUnavailable: Invalid value: \"0%\": may not be 0 when `maxSurge` is 0"
                .to_string()]
        );
        assert_eq!(
            set(IntOrString::Int(1), IntOrString::String("150%".into())),
            vec!["spec.strategy.rollingUpdate.maxUnavailable: Invalid value: \"150%\": must not be greater than 100%"
                .to_string()]
        );
        // A surge above 100% is allowed.
        assert!(set(IntOrString::String("200%".into()), IntOrString::Int(0)).is_empty());
        assert_eq!(
            set(IntOrString::String("x%".into()), IntOrString::Int(-1)),
            vec![
                "spec.strategy.rollingUpdate.maxUnavailable: Invalid value: -1: must be greater than or equal to 0"
                    .to_string(),
                format!("spec.strategy.rollingUpdate.maxSurge: Invalid value: \"x%\": {PERCENT_MESSAGE}"),
            ]
        );
    }

    #[test]
    fn strategy_type_rules() {
        let mut d = web();
        d.spec.strategy.type_ = Some(DeploymentStrategyType::Recreate);
        assert_eq!(
            messages(&d.validate()),
            vec!["spec.strategy.rollingUpdate: Forbidden: may not be specified when strategy `type` is 'Recreate'"
                .to_string()]
        );
        d.spec.strategy.rolling_update = None;
        assert!(d.validate().is_empty());
        let mut d = web();
        d.spec.strategy.rolling_update = None;
        assert_eq!(
            messages(&d.validate()),
            vec!["spec.strategy.rollingUpdate: Required value: this should be defaulted and never be nil".to_string()]
        );
        let mut d = web();
        d.spec.strategy = DeploymentStrategy::default();
        assert_eq!(
            messages(&d.validate()),
            vec!["spec.strategy: Unsupported value: \"\": supported values: \"Recreate\", \"RollingUpdate\"".to_string()]
        );
    }

    #[test]
    fn selector_is_immutable() {
        let old = web();
        let mut new = web();
        new.spec.replicas = Some(10);
        assert!(new.validate_update(&old).is_empty());
        new.spec
            .selector
            .as_mut()
            .expect("set")
            .match_labels
            .insert("tier".into(), "front".into());
        assert_eq!(
            messages(&new.validate_update(&old)),
            vec!["spec.selector: Invalid value: {\"matchLabels\":{\"app\":\"web\",\"tier\":\"front\"}}: field is \
                  immutable"
                .to_string()]
        );
    }

    #[test]
    fn int_or_percent_helpers() {
        assert_eq!(int_or_percent_value(&IntOrString::String("25%".into())), 25);
        assert_eq!(int_or_percent_value(&IntOrString::Int(3)), 3);
        assert_eq!(int_or_percent_value(&IntOrString::String("7".into())), 7);
        assert_eq!(int_or_percent_value(&IntOrString::String("%".into())), 0);
        let p = FieldPath::new("x");
        assert!(validate_int_or_percent(&IntOrString::String("100%".into()), &p).is_empty());
        assert_eq!(
            validate_int_or_percent(&IntOrString::String("-5%".into()), &p).len(),
            1
        );
        assert_eq!(
            validate_int_or_percent(&IntOrString::String("5".into()), &p).len(),
            1
        );
        assert!(validate_not_more_than_100_percent(&IntOrString::Int(500), &p).is_empty());
        assert_eq!(
            validate_not_more_than_100_percent(&IntOrString::String("101%".into()), &p).len(),
            1
        );
    }

    #[test]
    fn example_manifest_is_valid() {
        let docs = manifest_docs(include_str!("../../../examples/manifests/deployment.yaml"));
        assert!(!docs.is_empty());
        for doc in docs {
            let mut d: Deployment = serde_json::from_value(doc).expect("a Deployment");
            d.set_defaults();
            assert_eq!(
                messages(&d.validate()),
                Vec::<String>::new(),
                "{}",
                d.metadata.name
            );
            assert!(d.metadata.namespace == "shop" || d.metadata.namespace == "default");
        }
        let mut web = serde_json::from_value::<Deployment>(
            manifest_docs(include_str!("../../../examples/manifests/deployment.yaml")).remove(0),
        )
        .expect("a Deployment");
        web.set_defaults();
        assert_eq!(web.metadata.name, "web");
        assert_eq!(web.spec.replicas, Some(3));
        assert_eq!(
            web.spec.strategy.type_,
            Some(DeploymentStrategyType::RollingUpdate)
        );
    }
}
