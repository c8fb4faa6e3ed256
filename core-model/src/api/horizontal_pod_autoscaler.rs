//! HorizontalPodAutoscaler (`autoscaling/v2`): scales a workload's replicas between bounds to keep
//! observed metrics (resource utilization, per-pod, object or external metrics) at their targets,
//! at a rate limited by its scaling behavior.

use serde::{Deserialize, Serialize};

use crate::api::deployment::Json;
use crate::api::pod::ConditionStatus;
use crate::meta::ObjectMeta;
use crate::quantity::Quantity;
use crate::selector::{validate_label_selector, LabelSelector};
use crate::time::Time;
use crate::validation::{
    check_syntax, is_dns1123_label, is_qualified_name, ErrorList, FieldError, FieldPath,
    SetDefaults, Validate,
};

/// Target CPU utilization, in percent of the pods' requests, of an autoscaler without metrics.
pub const DEFAULT_CPU_UTILIZATION: i32 = 80;
/// Scale-down stabilization window, in seconds, of the horizontal pod autoscaler controller when
/// `behavior.scaleDown.stabilizationWindowSeconds` is unset (kube-controller-manager's
/// `--horizontal-pod-autoscaler-downscale-stabilization`, 5 minutes).
pub const DEFAULT_SCALE_DOWN_STABILIZATION_SECONDS: i32 = 300;
/// Longest allowed scaling policy period, in seconds.
pub const MAX_PERIOD_SECONDS: i32 = 1800;
/// Longest allowed stabilization window, in seconds.
pub const MAX_STABILIZATION_WINDOW_SECONDS: i32 = 3600;

/// A HorizontalPodAutoscaler: adjusts the replicas of `scaleTargetRef` to its metrics.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct HorizontalPodAutoscaler {
    /// Standard object metadata.
    #[serde(default)]
    pub metadata: ObjectMeta,
    /// The desired state.
    #[serde(default)]
    pub spec: HorizontalPodAutoscalerSpec,
    /// The observed state, written by the autoscaler controller.
    #[serde(default, skip_serializing_if = "crate::meta::is_default")]
    pub status: HorizontalPodAutoscalerStatus,
}

/// The desired state of a [`HorizontalPodAutoscaler`].
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct HorizontalPodAutoscalerSpec {
    /// The scaled resource (a Deployment, StatefulSet, …, anything with a scale subresource).
    #[serde(default)]
    pub scale_target_ref: CrossVersionObjectReference,
    /// Lower bound of the replicas; defaults to 1.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_replicas: Option<i32>,
    /// Upper bound of the replicas; required, at least `minReplicas`.
    #[serde(default)]
    pub max_replicas: i32,
    /// The metrics whose targets decide the replicas (the largest proposal wins); defaults to
    /// CPU at 80% average utilization.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub metrics: Vec<MetricSpec>,
    /// How fast to scale up and down; Kubernetes' default rules when unset (see
    /// [`HorizontalPodAutoscalerSpec::scale_up_rules`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub behavior: Option<HorizontalPodAutoscalerBehavior>,
}

/// A reference to an object in the same namespace, with its API version.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CrossVersionObjectReference {
    /// The kind (`Deployment`); required.
    #[serde(default)]
    pub kind: String,
    /// The name; required.
    #[serde(default)]
    pub name: String,
    /// The API version (`apps/v1`).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub api_version: String,
}

/// One metric of an autoscaler: `type` says which of the source fields is set.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MetricSpec {
    /// The kind of source; required.
    #[serde(rename = "type", default, skip_serializing_if = "Option::is_none")]
    pub type_: Option<MetricSourceType>,
    /// A metric describing one object (requests per second of an Ingress).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub object: Option<ObjectMetricSource>,
    /// A metric averaged over the target's pods (transactions per second).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pods: Option<PodsMetricSource>,
    /// A resource (cpu, memory) of the target's pods, as in their requests.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resource: Option<ResourceMetricSource>,
    /// A resource of one container of the target's pods.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub container_resource: Option<ContainerResourceMetricSource>,
    /// A metric from outside the cluster (queue length).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub external: Option<ExternalMetricSource>,
}

/// The kinds of metric source.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize,
)]
pub enum MetricSourceType {
    /// [`MetricSpec::object`].
    Object,
    /// [`MetricSpec::pods`].
    Pods,
    /// [`MetricSpec::resource`].
    #[default]
    Resource,
    /// [`MetricSpec::container_resource`].
    ContainerResource,
    /// [`MetricSpec::external`].
    External,
}

/// A metric describing a single Kubernetes object.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ObjectMetricSource {
    /// The object the metric describes.
    #[serde(default)]
    pub described_object: CrossVersionObjectReference,
    /// The target: a value or an average value.
    #[serde(default)]
    pub target: MetricTarget,
    /// The metric.
    #[serde(default)]
    pub metric: MetricIdentifier,
}

/// A metric averaged over the pods of the target.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PodsMetricSource {
    /// The metric.
    #[serde(default)]
    pub metric: MetricIdentifier,
    /// The target: an average value.
    #[serde(default)]
    pub target: MetricTarget,
}

/// A resource of the target's pods, as known from their requests and limits.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ResourceMetricSource {
    /// The resource (`cpu`, `memory`); required.
    #[serde(default)]
    pub name: String,
    /// The target: an average utilization or an average value.
    #[serde(default)]
    pub target: MetricTarget,
}

/// A resource of one container of the target's pods.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ContainerResourceMetricSource {
    /// The resource; required.
    #[serde(default)]
    pub name: String,
    /// The target: an average utilization or an average value.
    #[serde(default)]
    pub target: MetricTarget,
    /// The container; required.
    #[serde(default)]
    pub container: String,
}

/// A metric not associated with any Kubernetes object.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ExternalMetricSource {
    /// The metric.
    #[serde(default)]
    pub metric: MetricIdentifier,
    /// The target: a value or an average value.
    #[serde(default)]
    pub target: MetricTarget,
}

/// A metric name and an optional selector narrowing it.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MetricIdentifier {
    /// The metric's name; required.
    #[serde(default)]
    pub name: String,
    /// A label selector passed to the metrics server to scope the metric.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub selector: Option<LabelSelector>,
}

/// The target of a metric.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MetricTarget {
    /// The kind of target; required.
    #[serde(rename = "type", default, skip_serializing_if = "Option::is_none")]
    pub type_: Option<MetricTargetType>,
    /// The target value of the metric.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<Quantity>,
    /// The target value of the metric averaged over the pods.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub average_value: Option<Quantity>,
    /// The target average of the resource's use in percent of the pods' requests (resource
    /// metrics only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub average_utilization: Option<i32>,
}

/// The kinds of [`MetricTarget`].
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize,
)]
pub enum MetricTargetType {
    /// [`MetricTarget::average_utilization`].
    #[default]
    Utilization,
    /// [`MetricTarget::value`].
    Value,
    /// [`MetricTarget::average_value`].
    AverageValue,
}

/// How an autoscaler scales up and down.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct HorizontalPodAutoscalerBehavior {
    /// Rules for scaling up; defaults to no stabilization and the faster of 4 pods or 100% per
    /// 15 seconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scale_up: Option<HpaScalingRules>,
    /// Rules for scaling down; defaults to 100% per 15 seconds after a 300-second stabilization
    /// window.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scale_down: Option<HpaScalingRules>,
}

/// The rules of one scaling direction (Kubernetes' `HPAScalingRules`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct HpaScalingRules {
    /// Seconds of past recommendations considered, to avoid flapping (0–3600).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stabilization_window_seconds: Option<i32>,
    /// Which policy wins when several apply; defaults to Max.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub select_policy: Option<ScalingPolicySelect>,
    /// The allowed rates of change; at least one.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub policies: Vec<HpaScalingPolicy>,
    /// Relative metric deviation tolerated before scaling (alpha `HPAConfigurableTolerance`);
    /// the controller's 10% when unset.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tolerance: Option<Quantity>,
}

/// How the policies of an [`HpaScalingRules`] combine.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize,
)]
pub enum ScalingPolicySelect {
    /// The policy allowing the largest change (the default).
    #[default]
    Max,
    /// The policy allowing the smallest change.
    Min,
    /// No scaling in this direction.
    Disabled,
}

/// One allowed rate of change (Kubernetes' `HPAScalingPolicy`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct HpaScalingPolicy {
    /// Whether `value` is a number of pods or a percentage of the current replicas; required.
    #[serde(rename = "type", default, skip_serializing_if = "Option::is_none")]
    pub type_: Option<HpaScalingPolicyType>,
    /// The change allowed per period; greater than zero.
    #[serde(default)]
    pub value: i32,
    /// The period, in seconds (1–1800).
    #[serde(default)]
    pub period_seconds: i32,
}

/// The unit of an [`HpaScalingPolicy`].
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize,
)]
pub enum HpaScalingPolicyType {
    /// An absolute number of pods.
    #[default]
    Pods,
    /// A percentage of the current replicas.
    Percent,
}

/// The observed state of a [`HorizontalPodAutoscaler`].
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct HorizontalPodAutoscalerStatus {
    /// The generation the controller last observed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    /// When the autoscaler last changed the replicas.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_scale_time: Option<Time>,
    /// The replicas of the target as last seen.
    #[serde(default, skip_serializing_if = "crate::meta::is_default")]
    pub current_replicas: i32,
    /// The replicas the autoscaler last computed.
    #[serde(default)]
    pub desired_replicas: i32,
    /// The last read value of each metric.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub current_metrics: Vec<MetricStatus>,
    /// The latest observations of the autoscaler's state.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub conditions: Vec<HorizontalPodAutoscalerCondition>,
}

/// The last read value of one metric.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MetricStatus {
    /// The kind of source.
    #[serde(rename = "type", default, skip_serializing_if = "Option::is_none")]
    pub type_: Option<MetricSourceType>,
    /// An object metric.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub object: Option<ObjectMetricStatus>,
    /// A pods metric.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pods: Option<PodsMetricStatus>,
    /// A resource metric.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resource: Option<ResourceMetricStatus>,
    /// A container resource metric.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub container_resource: Option<ContainerResourceMetricStatus>,
    /// An external metric.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub external: Option<ExternalMetricStatus>,
}

/// The current value of an object metric.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ObjectMetricStatus {
    /// The metric.
    #[serde(default)]
    pub metric: MetricIdentifier,
    /// Its current value.
    #[serde(default)]
    pub current: MetricValueStatus,
    /// The object it describes.
    #[serde(default)]
    pub described_object: CrossVersionObjectReference,
}

/// The current value of a pods metric.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PodsMetricStatus {
    /// The metric.
    #[serde(default)]
    pub metric: MetricIdentifier,
    /// Its current value.
    #[serde(default)]
    pub current: MetricValueStatus,
}

/// The current value of a resource metric.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ResourceMetricStatus {
    /// The resource.
    #[serde(default)]
    pub name: String,
    /// Its current value.
    #[serde(default)]
    pub current: MetricValueStatus,
}

/// The current value of a container resource metric.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ContainerResourceMetricStatus {
    /// The resource.
    #[serde(default)]
    pub name: String,
    /// Its current value.
    #[serde(default)]
    pub current: MetricValueStatus,
    /// The container.
    #[serde(default)]
    pub container: String,
}

/// The current value of an external metric.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ExternalMetricStatus {
    /// The metric.
    #[serde(default)]
    pub metric: MetricIdentifier,
    /// Its current value.
    #[serde(default)]
    pub current: MetricValueStatus,
}

/// A metric's current value.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MetricValueStatus {
    /// The value.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<Quantity>,
    /// The value averaged over the pods.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub average_value: Option<Quantity>,
    /// The average use in percent of the pods' requests.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub average_utilization: Option<i32>,
}

/// One observation of a [`HorizontalPodAutoscaler`]'s state.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct HorizontalPodAutoscalerCondition {
    /// The condition.
    #[serde(rename = "type")]
    pub type_: HorizontalPodAutoscalerConditionType,
    /// Whether it holds.
    pub status: ConditionStatus,
    /// When the status last changed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_transition_time: Option<Time>,
    /// A CamelCase reason for the last transition (`ReadyForNewScale`).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub reason: String,
    /// A human-readable explanation.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub message: String,
}

/// The conditions of a [`HorizontalPodAutoscaler`].
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize,
)]
pub enum HorizontalPodAutoscalerConditionType {
    /// The autoscaler can fetch metrics and compute scales.
    #[default]
    ScalingActive,
    /// The autoscaler can change the target's scale (no backoff, scale subresource reachable).
    AbleToScale,
    /// The desired replicas were capped by minReplicas or maxReplicas.
    ScalingLimited,
}

/// Kubernetes' default scale-up rules: no stabilization, the larger of 4 pods or 100% per 15
/// seconds (pkg/apis/autoscaling/v2/defaults.go).
pub fn default_scale_up_rules() -> HpaScalingRules {
    HpaScalingRules {
        stabilization_window_seconds: Some(0),
        select_policy: Some(ScalingPolicySelect::Max),
        policies: vec![
            HpaScalingPolicy {
                type_: Some(HpaScalingPolicyType::Pods),
                value: 4,
                period_seconds: 15,
            },
            HpaScalingPolicy {
                type_: Some(HpaScalingPolicyType::Percent),
                value: 100,
                period_seconds: 15,
            },
        ],
        tolerance: None,
    }
}

/// Kubernetes' default scale-down rules: 100% per 15 seconds. The stabilization window is left
/// unset, as in Kubernetes: the controller then applies its own default,
/// [`DEFAULT_SCALE_DOWN_STABILIZATION_SECONDS`].
pub fn default_scale_down_rules() -> HpaScalingRules {
    HpaScalingRules {
        stabilization_window_seconds: None,
        select_policy: Some(ScalingPolicySelect::Max),
        policies: vec![HpaScalingPolicy {
            type_: Some(HpaScalingPolicyType::Percent),
            value: 100,
            period_seconds: 15,
        }],
        tolerance: None,
    }
}

/// `rules` completed field by field from `defaults` (Kubernetes' `copyHPAScalingRules`).
fn complete_rules(
    rules: Option<&HpaScalingRules>,
    mut defaults: HpaScalingRules,
) -> HpaScalingRules {
    if let Some(rules) = rules {
        if rules.select_policy.is_some() {
            defaults.select_policy = rules.select_policy;
        }
        if rules.stabilization_window_seconds.is_some() {
            defaults.stabilization_window_seconds = rules.stabilization_window_seconds;
        }
        if !rules.policies.is_empty() {
            defaults.policies.clone_from(&rules.policies);
        }
        if rules.tolerance.is_some() {
            defaults.tolerance.clone_from(&rules.tolerance);
        }
    }
    defaults
}

impl HorizontalPodAutoscalerSpec {
    /// The scale-up rules the controller applies: `behavior.scaleUp` completed with
    /// [`default_scale_up_rules`].
    pub fn scale_up_rules(&self) -> HpaScalingRules {
        complete_rules(
            self.behavior.as_ref().and_then(|b| b.scale_up.as_ref()),
            default_scale_up_rules(),
        )
    }

    /// The scale-down rules the controller applies: `behavior.scaleDown` completed with
    /// [`default_scale_down_rules`], and the stabilization window defaulted to
    /// [`DEFAULT_SCALE_DOWN_STABILIZATION_SECONDS`].
    pub fn scale_down_rules(&self) -> HpaScalingRules {
        let mut rules = complete_rules(
            self.behavior.as_ref().and_then(|b| b.scale_down.as_ref()),
            default_scale_down_rules(),
        );
        rules
            .stabilization_window_seconds
            .get_or_insert(DEFAULT_SCALE_DOWN_STABILIZATION_SECONDS);
        rules
    }
}

impl SetDefaults for HorizontalPodAutoscaler {
    /// Kubernetes' `SetDefaults_HorizontalPodAutoscaler` (pkg/apis/autoscaling/v2/defaults.go):
    /// minReplicas 1, CPU at 80% when there are no metrics, and a given `behavior` completed with
    /// the default rules (an absent one stays absent).
    fn set_defaults(&mut self) {
        let spec = &mut self.spec;
        spec.min_replicas.get_or_insert(1);
        if spec.metrics.is_empty() {
            spec.metrics.push(MetricSpec {
                type_: Some(MetricSourceType::Resource),
                resource: Some(ResourceMetricSource {
                    name: "cpu".into(),
                    target: MetricTarget {
                        type_: Some(MetricTargetType::Utilization),
                        average_utilization: Some(DEFAULT_CPU_UTILIZATION),
                        ..Default::default()
                    },
                }),
                ..Default::default()
            });
        }
        if let Some(behavior) = &mut spec.behavior {
            behavior.scale_up = Some(complete_rules(
                behavior.scale_up.as_ref(),
                default_scale_up_rules(),
            ));
            behavior.scale_down = Some(complete_rules(
                behavior.scale_down.as_ref(),
                default_scale_down_rules(),
            ));
        }
    }
}

impl Validate for HorizontalPodAutoscaler {
    /// Kubernetes' `validateHorizontalPodAutoscalerSpec` (pkg/apis/autoscaling/validation), with
    /// the alpha `HPAScaleToZero` gate off: minReplicas is at least 1.
    fn validate(&self) -> ErrorList {
        let spec = &self.spec;
        let path = FieldPath::new("spec");
        let mut errs = ErrorList::new();
        if let Some(min) = spec.min_replicas.filter(|m| *m < 1) {
            errs.push(FieldError::invalid(
                &path.child("minReplicas"),
                min,
                "must be greater than or equal to 1",
            ));
        }
        let max_path = path.child("maxReplicas");
        if spec.max_replicas < 1 {
            errs.push(FieldError::invalid(
                &max_path,
                spec.max_replicas,
                "must be greater than 0",
            ));
        }
        if spec.min_replicas.is_some_and(|m| spec.max_replicas < m) {
            errs.push(FieldError::invalid(
                &max_path,
                spec.max_replicas,
                "must be greater than or equal to `minReplicas`",
            ));
        }
        errs.extend(validate_object_reference(
            &spec.scale_target_ref,
            &path.child("scaleTargetRef"),
        ));
        let metrics_path = path.child("metrics");
        for (i, metric) in spec.metrics.iter().enumerate() {
            errs.extend(validate_metric_spec(metric, &metrics_path.index(i)));
        }
        if spec.min_replicas == Some(0)
            && !spec.metrics.iter().any(|m| {
                matches!(
                    m.type_,
                    Some(MetricSourceType::Object) | Some(MetricSourceType::External)
                )
            })
        {
            errs.push(FieldError::forbidden(
                &metrics_path,
                "must specify at least one Object or External metric to support scaling to zero replicas",
            ));
        }
        if let Some(behavior) = &spec.behavior {
            let p = path.child("behavior");
            if let Some(rules) = &behavior.scale_up {
                errs.extend(validate_scaling_rules(rules, &p.child("scaleUp")));
            }
            if let Some(rules) = &behavior.scale_down {
                errs.extend(validate_scaling_rules(rules, &p.child("scaleDown")));
            }
        }
        errs
    }
}

/// Kubernetes' `IsValidPathSegmentName`: not `.` or `..`, no `/` or `%`.
fn check_path_segment_name(errs: &mut ErrorList, path: &FieldPath, name: &str) {
    if name == "." || name == ".." {
        errs.push(FieldError::invalid(
            path,
            name,
            format!("may not be '{name}'"),
        ));
        return;
    }
    for illegal in ["/", "%"] {
        if name.contains(illegal) {
            errs.push(FieldError::invalid(
                path,
                name,
                format!("may not contain '{illegal}'"),
            ));
        }
    }
}

fn validate_object_reference(
    reference: &CrossVersionObjectReference,
    path: &FieldPath,
) -> ErrorList {
    let mut errs = ErrorList::new();
    for (field, value) in [("kind", &reference.kind), ("name", &reference.name)] {
        let p = path.child(field);
        if value.is_empty() {
            errs.push(FieldError::required(&p, ""));
        } else {
            check_path_segment_name(&mut errs, &p, value);
        }
    }
    errs
}

fn validate_metric_identifier(id: &MetricIdentifier, path: &FieldPath) -> ErrorList {
    let mut errs = ErrorList::new();
    let p = path.child("name");
    if id.name.is_empty() {
        errs.push(FieldError::required(&p, "must specify a metric name"));
    } else {
        check_path_segment_name(&mut errs, &p, &id.name);
    }
    if let Some(selector) = &id.selector {
        errs.extend(validate_label_selector(selector, &path.child("selector")));
    }
    errs
}

fn validate_metric_target(target: &MetricTarget, path: &FieldPath) -> ErrorList {
    let mut errs = ErrorList::new();
    if target.type_.is_none() {
        errs.push(FieldError::required(
            &path.child("type"),
            "must specify a metric target type",
        ));
    }
    for (field, value) in [
        ("value", &target.value),
        ("averageValue", &target.average_value),
    ] {
        if let Some(q) = value.as_ref().filter(|q| q.is_zero() || q.is_negative()) {
            errs.push(FieldError::invalid(
                &path.child(field),
                Json(q),
                "must be positive",
            ));
        }
    }
    if let Some(u) = target.average_utilization.filter(|u| *u < 1) {
        errs.push(FieldError::invalid(
            &path.child("averageUtilization"),
            u,
            "must be greater than 0",
        ));
    }
    errs
}

/// Kubernetes' `validateMetricSpec`: the source named by `type` is set and valid, and no other.
fn validate_metric_spec(spec: &MetricSpec, path: &FieldPath) -> ErrorList {
    let mut errs = ErrorList::new();
    if spec.type_.is_none() {
        errs.push(FieldError::required(
            &path.child("type"),
            "must specify a metric source type",
        ));
    }
    let mut present: Vec<&str> = Vec::new();
    if let Some(src) = &spec.object {
        present.push("object");
        if present.len() == 1 {
            let p = path.child("object");
            errs.extend(validate_object_reference(
                &src.described_object,
                &p.child("describedObject"),
            ));
            errs.extend(validate_metric_identifier(&src.metric, &p.child("metric")));
            errs.extend(validate_metric_target(&src.target, &p.child("target")));
            if src.target.value.is_none() && src.target.average_value.is_none() {
                errs.push(FieldError::required(
                    &p.child("target").child("averageValue"),
                    "must set either a target value or averageValue",
                ));
            }
        }
    }
    if let Some(src) = &spec.external {
        present.push("external");
        if present.len() == 1 {
            let p = path.child("external");
            errs.extend(validate_metric_identifier(&src.metric, &p.child("metric")));
            errs.extend(validate_metric_target(&src.target, &p.child("target")));
            let target = &src.target;
            if target.value.is_none() && target.average_value.is_none() {
                errs.push(FieldError::required(
                    &p.child("target").child("averageValue"),
                    "must set either a target value for metric or a per-pod target",
                ));
            }
            if target.value.is_some() && target.average_value.is_some() {
                errs.push(FieldError::forbidden(
                    &p.child("target").child("value"),
                    "may not set both a target value for metric and a per-pod target",
                ));
            }
        }
    }
    if let Some(src) = &spec.pods {
        present.push("pods");
        if present.len() == 1 {
            let p = path.child("pods");
            errs.extend(validate_metric_identifier(&src.metric, &p.child("metric")));
            errs.extend(validate_metric_target(&src.target, &p.child("target")));
            if src.target.average_value.is_none() {
                errs.push(FieldError::required(
                    &p.child("target").child("averageValue"),
                    "must specify a positive target averageValue",
                ));
            }
        }
    }
    if let Some(src) = &spec.resource {
        present.push("resource");
        if present.len() == 1 {
            let p = path.child("resource");
            if src.name.is_empty() {
                errs.push(FieldError::required(
                    &p.child("name"),
                    "must specify a resource name",
                ));
            }
            errs.extend(validate_resource_target(&src.target, &p.child("target")));
        }
    }
    if let Some(src) = &spec.container_resource {
        present.push("containerResource");
        if present.len() == 1 {
            let p = path.child("containerResource");
            if src.name.is_empty() {
                errs.push(FieldError::required(
                    &p.child("name"),
                    "must specify a resource name",
                ));
            } else {
                check_syntax(&mut errs, &p.child("name"), &src.name, is_qualified_name);
            }
            if src.container.is_empty() {
                errs.push(FieldError::required(
                    &p.child("container"),
                    "must specify a container",
                ));
            } else {
                check_syntax(
                    &mut errs,
                    &p.child("container"),
                    &src.container,
                    is_dns1123_label,
                );
            }
            errs.extend(validate_resource_target(&src.target, &p.child("target")));
        }
    }
    let expected = match spec.type_ {
        None => None,
        Some(MetricSourceType::Object) => Some(("object", spec.object.is_some())),
        Some(MetricSourceType::Pods) => Some(("pods", spec.pods.is_some())),
        Some(MetricSourceType::Resource) => Some(("resource", spec.resource.is_some())),
        Some(MetricSourceType::External) => Some(("external", spec.external.is_some())),
        Some(MetricSourceType::ContainerResource) => {
            Some(("containerResource", spec.container_resource.is_some()))
        }
    };
    if let Some((field, false)) = expected {
        errs.push(FieldError::required(
            &path.child(field),
            "must populate information for the given metric source",
        ));
    }
    if present.len() != 1 {
        for field in present
            .into_iter()
            .filter(|f| Some(*f) != expected.map(|(e, _)| e))
        {
            errs.push(FieldError::forbidden(
                &path.child(field),
                "must populate the given metric source only",
            ));
        }
    }
    errs
}

/// The target rules of resource and container resource metrics: exactly one of
/// averageUtilization and averageValue.
fn validate_resource_target(target: &MetricTarget, path: &FieldPath) -> ErrorList {
    let mut errs = validate_metric_target(target, path);
    match (
        target.average_utilization.is_some(),
        target.average_value.is_some(),
    ) {
        (false, false) => errs.push(FieldError::required(
            &path.child("averageUtilization"),
            "must set either a target raw value or a target utilization",
        )),
        (true, true) => errs.push(FieldError::forbidden(
            &path.child("averageValue"),
            "may not set both a target raw value and a target utilization",
        )),
        _ => {}
    }
    errs
}

fn validate_scaling_rules(rules: &HpaScalingRules, path: &FieldPath) -> ErrorList {
    let mut errs = ErrorList::new();
    if let Some(window) = rules.stabilization_window_seconds {
        let p = path.child("stabilizationWindowSeconds");
        if window < 0 {
            errs.push(FieldError::invalid(
                &p,
                window,
                "must be greater than or equal to zero",
            ));
        }
        if window > MAX_STABILIZATION_WINDOW_SECONDS {
            errs.push(FieldError::invalid(
                &p,
                window,
                format!("must be less than or equal to {MAX_STABILIZATION_WINDOW_SECONDS}"),
            ));
        }
    }
    let policies_path = path.child("policies");
    if rules.policies.is_empty() {
        errs.push(FieldError::required(
            &policies_path,
            "must specify at least one Policy",
        ));
    }
    for (i, policy) in rules.policies.iter().enumerate() {
        let p = policies_path.index(i);
        if policy.type_.is_none() {
            errs.push(FieldError::not_supported(
                &p.child("type"),
                "",
                &["Percent", "Pods"],
            ));
        }
        if policy.value <= 0 {
            errs.push(FieldError::invalid(
                &p.child("value"),
                policy.value,
                "must be greater than zero",
            ));
        }
        let period = p.child("periodSeconds");
        if policy.period_seconds <= 0 {
            errs.push(FieldError::invalid(
                &period,
                policy.period_seconds,
                "must be greater than zero",
            ));
        }
        if policy.period_seconds > MAX_PERIOD_SECONDS {
            errs.push(FieldError::invalid(
                &period,
                policy.period_seconds,
                format!("must be less than or equal to {MAX_PERIOD_SECONDS}"),
            ));
        }
    }
    errs
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::deployment::manifest_docs;

    const WEB: &str = r#"
metadata:
  name: web
  namespace: shop
spec:
  scaleTargetRef:
    apiVersion: apps/v1
    kind: Deployment
    name: web
  minReplicas: 2
  maxReplicas: 10
  metrics:
  - type: Resource
    resource:
      name: cpu
      target:
        type: Utilization
        averageUtilization: 60
  - type: Resource
    resource:
      name: memory
      target:
        type: AverageValue
        averageValue: 500Mi
  - type: Pods
    pods:
      metric:
        name: packets-per-second
      target:
        type: AverageValue
        averageValue: 1k
  - type: Object
    object:
      metric:
        name: requests-per-second
      describedObject:
        apiVersion: networking.k8s.io/v1
        kind: Ingress
        name: main-route
      target:
        type: Value
        value: 10k
  - type: External
    external:
      metric:
        name: queue_messages_ready
        selector:
          matchLabels:
            queue: worker_tasks
      target:
        type: AverageValue
        averageValue: 30
  - type: ContainerResource
    containerResource:
      name: cpu
      container: application
      target:
        type: Utilization
        averageUtilization: 60
  behavior:
    scaleDown:
      stabilizationWindowSeconds: 120
      policies:
      - type: Pods
        value: 1
        periodSeconds: 60
status:
  observedGeneration: 1
  lastScaleTime: "2026-01-01T00:00:00Z"
  currentReplicas: 2
  desiredReplicas: 3
  currentMetrics:
  - type: Resource
    resource:
      name: cpu
      current:
        averageUtilization: 75
        averageValue: 150m
  conditions:
  - type: AbleToScale
    status: "True"
    reason: ReadyForNewScale
"#;

    fn web() -> HorizontalPodAutoscaler {
        let mut hpa: HorizontalPodAutoscaler = serde_yaml::from_str(WEB).expect("valid yaml");
        hpa.set_defaults();
        hpa
    }

    fn messages(errs: &ErrorList) -> Vec<String> {
        errs.iter().map(ToString::to_string).collect()
    }

    fn q(s: &str) -> Quantity {
        Quantity::parse(s).expect("valid quantity")
    }

    #[test]
    fn reads_every_metric_source() {
        let hpa = web();
        assert_eq!(hpa.spec.scale_target_ref.kind, "Deployment");
        assert_eq!(hpa.spec.metrics.len(), 6);
        let memory = hpa.spec.metrics[1].resource.as_ref().expect("resource");
        assert_eq!(memory.target.average_value, Some(q("500Mi")));
        let external = hpa.spec.metrics[4].external.as_ref().expect("external");
        assert_eq!(external.target.average_value, Some(q("30")));
        assert_eq!(
            hpa.status.current_metrics[0]
                .resource
                .as_ref()
                .map(|r| r.current.average_utilization),
            Some(Some(75))
        );
        assert_eq!(
            hpa.status.conditions[0].type_,
            HorizontalPodAutoscalerConditionType::AbleToScale
        );
        assert_eq!(messages(&hpa.validate()), Vec::<String>::new());
    }

    #[test]
    fn defaults() {
        let mut hpa = HorizontalPodAutoscaler::default();
        hpa.set_defaults();
        assert_eq!(hpa.spec.min_replicas, Some(1));
        assert_eq!(hpa.spec.metrics.len(), 1);
        let cpu = hpa.spec.metrics[0].resource.as_ref().expect("cpu metric");
        assert_eq!(cpu.name, "cpu");
        assert_eq!(cpu.target.type_, Some(MetricTargetType::Utilization));
        assert_eq!(cpu.target.average_utilization, Some(80));
        // Without behavior, none is written; the controller uses the default rules.
        assert_eq!(hpa.spec.behavior, None);
        assert_eq!(hpa.spec.scale_up_rules(), default_scale_up_rules());
        let down = hpa.spec.scale_down_rules();
        assert_eq!(down.stabilization_window_seconds, Some(300));
        assert_eq!(down.policies, default_scale_down_rules().policies);

        // A given behavior is completed direction by direction.
        let hpa = web();
        let behavior = hpa.spec.behavior.as_ref().expect("kept");
        let up = behavior.scale_up.as_ref().expect("defaulted scale up");
        assert_eq!(up.stabilization_window_seconds, Some(0));
        assert_eq!(up.select_policy, Some(ScalingPolicySelect::Max));
        assert_eq!(
            up.policies,
            vec![
                HpaScalingPolicy {
                    type_: Some(HpaScalingPolicyType::Pods),
                    value: 4,
                    period_seconds: 15
                },
                HpaScalingPolicy {
                    type_: Some(HpaScalingPolicyType::Percent),
                    value: 100,
                    period_seconds: 15
                },
            ]
        );
        let down = behavior.scale_down.as_ref().expect("kept scale down");
        assert_eq!(down.stabilization_window_seconds, Some(120));
        assert_eq!(down.select_policy, Some(ScalingPolicySelect::Max));
        assert_eq!(down.policies.len(), 1);
        assert_eq!(down.policies[0].value, 1);

        let mut hpa = HorizontalPodAutoscaler::default();
        hpa.spec.behavior = Some(HorizontalPodAutoscalerBehavior::default());
        hpa.set_defaults();
        let down = hpa
            .spec
            .behavior
            .and_then(|b| b.scale_down)
            .expect("defaulted");
        assert_eq!(down.stabilization_window_seconds, None);
        assert_eq!(down.policies[0].type_, Some(HpaScalingPolicyType::Percent));
    }

    #[test]
    fn replica_bounds() {
        let mut hpa = web();
        hpa.spec.min_replicas = Some(0);
        hpa.spec.max_replicas = 0;
        assert_eq!(
            messages(&hpa.validate()),
            vec![
                "spec.minReplicas: Invalid value: 0: must be greater than or equal to 1"
                    .to_string(),
                "spec.maxReplicas: Invalid value: 0: must be greater than 0".to_string(),
            ]
        );
        let mut hpa = web();
        hpa.spec.max_replicas = 1;
        assert_eq!(
            messages(&hpa.validate()),
            vec!["spec.maxReplicas: Invalid value: 1: must be greater than or equal to `minReplicas`".to_string()]
        );
    }

    #[test]
    fn scale_target_ref() {
        let mut hpa = web();
        hpa.spec.scale_target_ref = CrossVersionObjectReference {
            kind: String::new(),
            name: "a/b".into(),
            api_version: String::new(),
        };
        assert_eq!(
            messages(&hpa.validate()),
            vec![
                "spec.scaleTargetRef.kind: Required value".to_string(),
                "spec.scaleTargetRef.name: Invalid value: \"a/b\": may not contain '/'".to_string(),
            ]
        );
        hpa.spec.scale_target_ref.kind = "..".into();
        hpa.spec.scale_target_ref.name = "web".into();
        assert_eq!(
            messages(&hpa.validate()),
            vec!["spec.scaleTargetRef.kind: Invalid value: \"..\": may not be '..'".to_string()]
        );
    }

    fn metric(yaml: &str) -> Vec<String> {
        let mut hpa = web();
        hpa.spec.metrics = vec![serde_yaml::from_str(yaml).expect("valid metric")];
        messages(&hpa.validate())
    }

    #[test]
    fn metric_source_rules() {
        assert_eq!(
            metric("type: Resource\nresource: {name: cpu, target: {type: Utilization}}"),
            vec!["spec.metrics[0].resource.target.averageUtilization: Required value: must set either a target raw \
                  value or a target utilization"
                .to_string()]
        );
        assert_eq!(
            metric("type: Resource\nresource: {name: cpu, target: {type: Utilization, averageUtilization: 50, averageValue: 1}}"),
            vec!["spec.metrics[0].resource.target.averageValue: Forbidden: may not set both a target raw value and a \
                  target utilization"
                .to_string()]
        );
        assert_eq!(
            metric("type: Resource\nresource: {name: cpu, target: {type: Utilization, averageUtilization: 0}}"),
            vec!["spec.metrics[0].resource.target.averageUtilization: Invalid value: 0: must be greater than 0"
                .to_string()]
        );
        assert_eq!(
            metric("type: Pods\npods: {metric: {name: qps}, target: {type: Value, value: 10}}"),
            vec!["spec.metrics[0].pods.target.averageValue: Required value: must specify a positive target averageValue"
                .to_string()]
        );
        assert_eq!(
            metric("type: Object\nobject: {metric: {name: rps}, describedObject: {kind: Ingress, name: main}, target: {type: Value}}"),
            vec!["spec.metrics[0].object.target.averageValue: Required value: must set either a target value or \
                  averageValue"
                .to_string()]
        );
        assert_eq!(
            metric("type: External\nexternal: {metric: {name: queue}, target: {type: Value, value: 1, averageValue: 2}}"),
            vec!["spec.metrics[0].external.target.value: Forbidden: may not set both a target value for metric and a \
                  per-pod target"
                .to_string()]
        );
        assert_eq!(
            metric("type: External\nexternal: {metric: {name: queue}, target: {type: Value, value: \"-1\"}}"),
            vec!["spec.metrics[0].external.target.value: Invalid value: \"-1\": must be positive".to_string()]
        );
        assert_eq!(
            metric("type: ContainerResource\ncontainerResource: {name: cpu, target: {averageUtilization: 50}}"),
            vec![
                "spec.metrics[0].containerResource.container: Required value: must specify a container".to_string(),
                "spec.metrics[0].containerResource.target.type: Required value: must specify a metric target type"
                    .to_string(),
            ]
        );
        assert_eq!(
            metric("type: Pods\nresource: {name: cpu, target: {type: Utilization, averageUtilization: 50}}"),
            vec!["spec.metrics[0].pods: Required value: must populate information for the given metric source"
                .to_string()]
        );
        let errs = metric(
            "type: Resource\nresource: {name: cpu, target: {type: Utilization, averageUtilization: 50}}\n\
             pods: {metric: {name: qps}, target: {type: AverageValue, averageValue: 1}}",
        );
        assert_eq!(
            errs,
            vec![
                "spec.metrics[0].pods: Forbidden: must populate the given metric source only"
                    .to_string()
            ]
        );
        assert_eq!(
            metric("resource: {name: '', target: {type: Utilization, averageUtilization: 50}}"),
            vec![
                "spec.metrics[0].type: Required value: must specify a metric source type"
                    .to_string(),
                "spec.metrics[0].resource.name: Required value: must specify a resource name"
                    .to_string(),
            ]
        );
        let mut hpa = web();
        hpa.spec.metrics[1]
            .resource
            .as_mut()
            .expect("memory")
            .target
            .average_value = Some(q("0"));
        assert_eq!(
            messages(&hpa.validate()),
            vec!["spec.metrics[1].resource.target.averageValue: Invalid value: \"0\": must be positive".to_string()]
        );
    }

    #[test]
    fn behavior_rules() {
        let mut hpa = web();
        hpa.spec.behavior = Some(HorizontalPodAutoscalerBehavior {
            scale_up: Some(HpaScalingRules {
                stabilization_window_seconds: Some(3601),
                policies: vec![],
                ..Default::default()
            }),
            scale_down: Some(HpaScalingRules {
                stabilization_window_seconds: Some(-1),
                policies: vec![HpaScalingPolicy {
                    type_: None,
                    value: 0,
                    period_seconds: 1801,
                }],
                ..Default::default()
            }),
        });
        assert_eq!(
            messages(&hpa.validate()),
            vec![
                "spec.behavior.scaleUp.stabilizationWindowSeconds: Invalid value: 3601: must be less than or equal to \
                 3600"
                    .to_string(),
                "spec.behavior.scaleUp.policies: Required value: must specify at least one Policy".to_string(),
                "spec.behavior.scaleDown.stabilizationWindowSeconds: Invalid value: -1: must be greater than or equal \
                 to zero"
                    .to_string(),
                "spec.behavior.scaleDown.policies[0].type: Unsupported value: \"\": supported values: \"Percent\", \
                 \"Pods\""
                    .to_string(),
                "spec.behavior.scaleDown.policies[0].value: Invalid value: 0: must be greater than zero".to_string(),
                "spec.behavior.scaleDown.policies[0].periodSeconds: Invalid value: 1801: must be less than or equal \
                 to 1800"
                    .to_string(),
            ]
        );
    }

    #[test]
    fn example_manifest_is_valid() {
        let docs = manifest_docs(include_str!("../../../examples/manifests/hpa.yaml"));
        assert!(!docs.is_empty());
        for doc in docs {
            let mut hpa: HorizontalPodAutoscaler = serde_json::from_value(doc).expect("an HPA");
            hpa.set_defaults();
            assert_eq!(
                messages(&hpa.validate()),
                Vec::<String>::new(),
                "{}",
                hpa.metadata.name
            );
            assert!(hpa.metadata.namespace == "shop" || hpa.metadata.namespace == "default");
        }
    }
}
