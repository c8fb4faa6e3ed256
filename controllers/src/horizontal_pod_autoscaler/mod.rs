//! The horizontal pod autoscaler controller (pkg/controller/podautoscaler/horizontal.go,
//! v1.34): every 15 seconds it reads the use of the pods a HorizontalPodAutoscaler's target
//! selects, computes the replicas that would bring it to the targets, and sets the target's
//! `spec.replicas` within `minReplicas`/`maxReplicas` and the scaling behavior.
//!
//! - **Targets**: Deployments, ReplicaSets and StatefulSets (`apps/v1`), through their
//!   `spec.replicas` and `spec.selector` (what their `scale` subresource shows).
//! - **Metrics**: `Resource` metrics for `cpu` and `memory`, with `Utilization` targets (percent
//!   of the pods' requests) or `AverageValue` targets; the largest proposal of several metrics
//!   wins. The use comes from the driver, as the metrics server would report it
//!   ([`ClusterInput::PodMetrics`](crate::cluster::ClusterInput::PodMetrics), read through
//!   [`Observations::pod_usage`](crate::controller::Observations::pod_usage)). Flotilla has no
//!   custom or external metrics API and its metrics are per pod, so `Pods`, `Object`,
//!   `External` and `ContainerResource` metrics fail as they do in a cluster without those APIs.
//! - **The calculation** ([`replica_calculator`]): `ceil(current × use / target)` with the 10%
//!   tolerance, and Kubernetes' conservative treatment of missing and not-yet-ready pods.
//! - **Normalization** ([`behavior`]): stabilization windows, policies, min and max.
//! - **Status**: `currentReplicas`, `desiredReplicas`, `currentMetrics`, `lastScaleTime`,
//!   `observedGeneration` and the conditions `AbleToScale`, `ScalingActive` and
//!   `ScalingLimited` with Kubernetes' reasons; events `SuccessfulRescale`, `FailedRescale`,
//!   `FailedGetScale`, `FailedGetResourceMetric`, `FailedComputeMetricsReplicas`.
//!
//! The sync period is a deadline: each reconcile asks to be requeued after
//! [`HorizontalPodAutoscalerConfig::sync_period`]; nothing ticks in between. A change of an
//! autoscaler's spec (a new generation) reconciles it at once; its own status writes do not.

pub mod behavior;
pub mod replica_calculator;

use std::collections::BTreeMap;
use std::sync::Arc;

use flotilla_model::api::{
    ConditionStatus, HorizontalPodAutoscaler, HorizontalPodAutoscalerCondition,
    HorizontalPodAutoscalerConditionType as ConditionType, HorizontalPodAutoscalerStatus,
    MetricSourceType, MetricSpec, MetricStatus, MetricTarget, MetricTargetType, MetricValueStatus,
    Pod, ResourceMetricSource, ResourceMetricStatus, DEFAULT_CPU_UTILIZATION,
    DEFAULT_SCALE_DOWN_STABILIZATION_SECONDS,
};
use flotilla_model::store::{qualified_resource, ObjectKey, Store, WatchEvent, WatchEventType};
use flotilla_model::{Duration, Kind, LabelSelector, Object, Quantity, Time};

use crate::controller::{Action, Context, Controller, Lookup, Observations, ReconcileError};
use behavior::{History, NormalizationArg, Normalized};
use replica_calculator::{PodMetric, PodMetricsInfo, ReplicaCalculator};

/// The controller's name, as kube-controller-manager's event source calls it.
pub const HORIZONTAL_POD_AUTOSCALER: &str = "horizontal-pod-autoscaler";

/// The settings of the controller (kube-controller-manager's `--horizontal-pod-autoscaler-*`
/// flags).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct HorizontalPodAutoscalerConfig {
    /// How often each autoscaler is synced (`--horizontal-pod-autoscaler-sync-period`, 15 s).
    pub sync_period: Duration,
    /// The scale-down stabilization window of autoscalers without `behavior`
    /// (`--horizontal-pod-autoscaler-downscale-stabilization`, 5 minutes).
    pub downscale_stabilization: Duration,
    /// Tolerance, CPU initialization period and initial readiness delay.
    pub calculator: ReplicaCalculator,
    /// The window a pod's measurement covers (the metrics server's `window`; its default
    /// resolution is 15 s).
    pub metric_window: Duration,
}

impl Default for HorizontalPodAutoscalerConfig {
    fn default() -> Self {
        HorizontalPodAutoscalerConfig {
            sync_period: Duration::from_secs(15),
            downscale_stabilization: Duration::from_secs(
                DEFAULT_SCALE_DOWN_STABILIZATION_SECONDS as u64,
            ),
            calculator: ReplicaCalculator::default(),
            metric_window: Duration::from_secs(15),
        }
    }
}

/// The horizontal pod autoscaler controller. See the [module docs](self).
#[derive(Debug, Default)]
pub struct HorizontalPodAutoscalerController {
    config: HorizontalPodAutoscalerConfig,
    /// Per autoscaler (and its uid, so a re-created one starts afresh): its recommendations and
    /// scale events, which Kubernetes keeps in the controller's memory too.
    histories: BTreeMap<ObjectKey, (String, History)>,
}

impl HorizontalPodAutoscalerController {
    /// A controller with kube-controller-manager's defaults.
    pub fn new() -> HorizontalPodAutoscalerController {
        HorizontalPodAutoscalerController::default()
    }

    /// A controller with other settings.
    pub fn with_config(config: HorizontalPodAutoscalerConfig) -> HorizontalPodAutoscalerController {
        HorizontalPodAutoscalerController {
            config,
            histories: BTreeMap::new(),
        }
    }

    /// The recorded recommendations and scale events of an autoscaler, if it has any.
    pub fn history(&self, key: &ObjectKey) -> Option<&History> {
        self.histories.get(key).map(|(_, h)| h)
    }
}

impl Controller for HorizontalPodAutoscalerController {
    fn name(&self) -> &'static str {
        HORIZONTAL_POD_AUTOSCALER
    }

    fn watched_kinds(&self) -> &'static [Kind] {
        &[Kind::HorizontalPodAutoscaler]
    }

    fn keys_for_event(&self, event: &WatchEvent, _lookup: Lookup<'_>) -> Vec<ObjectKey> {
        let Object::HorizontalPodAutoscaler(hpa) = &*event.object else {
            return Vec::new();
        };
        // horizontal.go enqueueHPA/updateHPA/deleteHPA. The periodic sync is this controller's
        // requeue; an update wakes it early only when the spec changed (a status it wrote
        // itself carries the generation it observed), so its own writes do not shorten the
        // sync period.
        let spec_changed = hpa.status.observed_generation != Some(hpa.metadata.generation);
        if event.event_type == WatchEventType::Deleted || spec_changed {
            vec![ObjectKey::of(&event.object)]
        } else {
            Vec::new()
        }
    }

    fn reconcile(
        &mut self,
        key: &ObjectKey,
        ctx: &mut Context<'_>,
    ) -> Result<Action, ReconcileError> {
        let Some(Object::HorizontalPodAutoscaler(hpa)) = ctx
            .store
            .get(key.kind, &key.namespace, &key.name)
            .as_deref()
            .cloned()
        else {
            // horizontal.go reconcileKey: a deleted autoscaler's history goes with it.
            self.histories.remove(key);
            return Ok(Action::await_change());
        };
        let config = self.config;
        let entry = self.histories.entry(key.clone()).or_default();
        if entry.0 != hpa.metadata.uid {
            *entry = (hpa.metadata.uid.clone(), History::default());
        }
        reconcile_autoscaler(&config, &mut entry.1, key, *hpa, ctx)?;
        Ok(Action::requeue(config.sync_period))
    }
}

/// A target's scale subresource: its kind, stored object, `spec.replicas` and selector.
struct Scale {
    object: Arc<Object>,
    replicas: i32,
    selector: Option<LabelSelector>,
}

/// Reads the scale of the autoscaler's target (horizontal.go `scaleForResourceMappings` via
/// the REST mapper): an `apps` Deployment, ReplicaSet or StatefulSet. The error is the API
/// server's.
fn get_scale(store: &Store, hpa: &HorizontalPodAutoscaler) -> Result<Scale, String> {
    let reference = &hpa.spec.scale_target_ref;
    let group = reference
        .api_version
        .rsplit_once('/')
        .map(|(g, _)| g)
        .unwrap_or("");
    let kind = match (group, reference.kind.as_str()) {
        ("apps", "Deployment") => Kind::Deployment,
        ("apps", "ReplicaSet") => Kind::ReplicaSet,
        ("apps", "StatefulSet") => Kind::StatefulSet,
        (group, kind) => {
            return Err(format!(
                "no matches for kind \"{kind}\" in group \"{group}\""
            ));
        }
    };
    let namespace = &hpa.metadata.namespace;
    let Some(object) = store.get(kind, namespace, &reference.name) else {
        return Err(format!(
            "{} \"{}\" not found",
            qualified_resource(kind),
            reference.name
        ));
    };
    let (replicas, selector) = match &*object {
        Object::Deployment(d) => (d.spec.replicas, d.spec.selector.clone()),
        Object::ReplicaSet(r) => (r.spec.replicas, r.spec.selector.clone()),
        Object::StatefulSet(s) => (s.spec.replicas, s.spec.selector.clone()),
        _ => {
            return Err(format!(
                "{} \"{}\" not found",
                qualified_resource(kind),
                reference.name
            ))
        }
    };
    Ok(Scale {
        replicas: replicas.unwrap_or(1),
        selector,
        object,
    })
}

/// The target with `spec.replicas` set to `replicas` (the scale subresource's update).
fn with_replicas(object: &Object, replicas: i32) -> Object {
    let mut object = object.clone();
    match &mut object {
        Object::Deployment(d) => d.spec.replicas = Some(replicas),
        Object::ReplicaSet(r) => r.spec.replicas = Some(replicas),
        Object::StatefulSet(s) => s.spec.replicas = Some(replicas),
        _ => {}
    }
    object
}

/// horizontal.go `setCondition`/`setConditionInList`: sets a condition, adding it when absent;
/// the transition time moves only when the status changes.
fn set_condition(
    status: &mut HorizontalPodAutoscalerStatus,
    type_: ConditionType,
    condition_status: ConditionStatus,
    reason: &str,
    message: String,
    now: Time,
) {
    let index = match status.conditions.iter().position(|c| c.type_ == type_) {
        Some(i) => i,
        None => {
            status.conditions.push(HorizontalPodAutoscalerCondition {
                type_,
                ..Default::default()
            });
            status.conditions.len() - 1
        }
    };
    let condition = &mut status.conditions[index];
    if condition.status != condition_status || condition.last_transition_time.is_none() {
        condition.last_transition_time = Some(now);
    }
    condition.status = condition_status;
    condition.reason = reason.to_string();
    condition.message = message;
}

/// horizontal.go `updateStatusIfNeeded`: writes the status when it changed.
fn write_status(
    ctx: &mut Context<'_>,
    original: &HorizontalPodAutoscalerStatus,
    mut hpa: HorizontalPodAutoscaler,
) -> Result<(), ReconcileError> {
    hpa.status.observed_generation = Some(hpa.metadata.generation);
    if hpa.status == *original {
        return Ok(());
    }
    ctx.store.update_status(hpa.into(), ctx.now)?;
    Ok(())
}

/// horizontal.go `reconcileAutoscaler`.
fn reconcile_autoscaler(
    config: &HorizontalPodAutoscalerConfig,
    history: &mut History,
    key: &ObjectKey,
    mut hpa: HorizontalPodAutoscaler,
    ctx: &mut Context<'_>,
) -> Result<(), ReconcileError> {
    let now = ctx.now;
    let original = hpa.status.clone();
    let scale = match get_scale(ctx.store, &hpa) {
        Ok(scale) => scale,
        Err(message) => {
            ctx.warning(key, "FailedGetScale", message.clone());
            set_condition(
                &mut hpa.status,
                ConditionType::AbleToScale,
                ConditionStatus::False,
                "FailedGetScale",
                format!(
                    "the HPA controller was unable to get the target's current scale: {message}"
                ),
                now,
            );
            return write_status(ctx, &original, hpa);
        }
    };
    set_condition(
        &mut hpa.status,
        ConditionType::AbleToScale,
        ConditionStatus::True,
        "SucceededGetScale",
        "the HPA controller was able to get the target's current scale".into(),
        now,
    );
    let current_replicas = scale.replicas;
    history.record_initial_recommendation(current_replicas, now);

    let min_replicas = hpa.spec.min_replicas.unwrap_or(1);
    let max_replicas = hpa.spec.max_replicas;
    let mut metric_statuses = Vec::new();
    let mut desired_replicas = 0;
    let mut rescale_reason = String::new();
    let rescale;
    if current_replicas == 0 && min_replicas != 0 {
        // Autoscaling is off while the target is scaled to zero.
        set_condition(
            &mut hpa.status,
            ConditionType::ScalingActive,
            ConditionStatus::False,
            "ScalingDisabled",
            "scaling is disabled since the replica count of the target is zero".into(),
            now,
        );
        rescale = false;
    } else if current_replicas > max_replicas {
        rescale_reason = "Current number of replicas above Spec.MaxReplicas".into();
        desired_replicas = max_replicas;
        rescale = true;
    } else if current_replicas < min_replicas {
        rescale_reason = "Current number of replicas below Spec.MinReplicas".into();
        desired_replicas = min_replicas;
        rescale = true;
    } else {
        let computed = compute_replicas_for_metrics(config, ctx, key, &mut hpa, &scale);
        let (metric_desired, metric_name, statuses) = match computed {
            Ok(found) => found,
            Err((statuses, message)) => {
                // horizontal.go setCurrentReplicasAndMetricsInStatus.
                hpa.status.current_replicas = current_replicas;
                hpa.status.current_metrics = statuses;
                write_status(ctx, &original, hpa)?;
                ctx.warning(key, "FailedComputeMetricsReplicas", message);
                return Ok(());
            }
        };
        metric_statuses = statuses;
        if metric_desired > desired_replicas {
            desired_replicas = metric_desired;
        }
        if desired_replicas > current_replicas {
            rescale_reason = format!("{metric_name} above target");
        }
        if desired_replicas < current_replicas {
            rescale_reason = "All metrics below target".into();
        }
        let normalized = normalize(
            config,
            history,
            &hpa,
            current_replicas,
            desired_replicas,
            min_replicas,
            now,
        );
        let (reason, message) = normalized.able_to_scale;
        set_condition(
            &mut hpa.status,
            ConditionType::AbleToScale,
            ConditionStatus::True,
            reason,
            message.into(),
            now,
        );
        let (limited, reason, message) = normalized.scaling_limited;
        set_condition(
            &mut hpa.status,
            ConditionType::ScalingLimited,
            if limited {
                ConditionStatus::True
            } else {
                ConditionStatus::False
            },
            reason,
            message.into(),
            now,
        );
        desired_replicas = normalized.replicas;
        rescale = desired_replicas != current_replicas;
    }

    if rescale {
        let updated = with_replicas(&scale.object, desired_replicas);
        if let Err(error) = ctx.store.update(updated, now) {
            ctx.warning(
                key,
                "FailedRescale",
                format!("New size: {desired_replicas}; reason: {rescale_reason}; error: {error}"),
            );
            set_condition(
                &mut hpa.status,
                ConditionType::AbleToScale,
                ConditionStatus::False,
                "FailedUpdateScale",
                format!("the HPA controller was unable to update the target scale: {error}"),
                now,
            );
            hpa.status.current_replicas = current_replicas;
            write_status(ctx, &original, hpa)?;
            return Err(error.into());
        }
        set_condition(
            &mut hpa.status,
            ConditionType::AbleToScale,
            ConditionStatus::True,
            "SucceededRescale",
            format!("the HPA controller was able to update the target scale to {desired_replicas}"),
            now,
        );
        ctx.normal(
            key,
            "SuccessfulRescale",
            format!("New size: {desired_replicas}; reason: {rescale_reason}"),
        );
        if hpa.spec.behavior.is_some() {
            history.store_scale_event(
                &hpa.spec.scale_up_rules(),
                &hpa.spec.scale_down_rules(),
                current_replicas,
                desired_replicas,
                now,
            );
        }
    } else {
        desired_replicas = current_replicas;
    }

    // horizontal.go setStatus.
    hpa.status.current_replicas = current_replicas;
    hpa.status.desired_replicas = desired_replicas;
    hpa.status.current_metrics = metric_statuses;
    if rescale {
        hpa.status.last_scale_time = Some(now);
    }
    write_status(ctx, &original, hpa)
}

/// horizontal.go: `normalizeDesiredReplicas` for an autoscaler without `behavior`,
/// `normalizeDesiredReplicasWithBehaviors` (with the rules completed by their defaults and the
/// scale-down window defaulted, `maybeInitScaleDownStabilizationWindow`) for one with it.
fn normalize(
    config: &HorizontalPodAutoscalerConfig,
    history: &mut History,
    hpa: &HorizontalPodAutoscaler,
    current_replicas: i32,
    desired_replicas: i32,
    min_replicas: i32,
    now: Time,
) -> Normalized {
    if hpa.spec.behavior.is_none() {
        return history.normalize_desired_replicas(
            current_replicas,
            desired_replicas,
            min_replicas,
            hpa.spec.max_replicas,
            config.downscale_stabilization,
            now,
        );
    }
    let mut scale_down = hpa.spec.scale_down_rules();
    if hpa
        .spec
        .behavior
        .as_ref()
        .and_then(|b| b.scale_down.as_ref())
        .is_none_or(|r| r.stabilization_window_seconds.is_none())
    {
        scale_down.stabilization_window_seconds =
            Some(i32::try_from(config.downscale_stabilization.as_secs()).unwrap_or(i32::MAX));
    }
    let arg = NormalizationArg {
        scale_up: hpa.spec.scale_up_rules(),
        scale_down,
        min_replicas,
        max_replicas: hpa.spec.max_replicas,
        current_replicas,
        desired_replicas,
    };
    history.normalize_desired_replicas_with_behaviors(&arg, now)
}

/// The metric a defaulted autoscaler without metrics has: CPU at 80% (admission adds it; this
/// covers an object written around admission).
fn default_metrics() -> Vec<MetricSpec> {
    vec![MetricSpec {
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
    }]
}

/// A metric computation that failed: the condition to set (reason) and the error.
struct MetricFailure {
    reason: &'static str,
    error: String,
}

/// The largest proposal of the metrics, the name of the metric that made it, and the statuses.
type MetricsProposal = (i32, String, Vec<MetricStatus>);
/// The statuses of the metrics that could be read, and the error of those that could not.
type MetricsFailure = (Vec<MetricStatus>, String);

/// horizontal.go `computeReplicasForMetrics`: the largest proposal of the metrics, the name of
/// the metric that made it, and each metric's status. On success `ScalingActive` is true
/// (`ValidMetricFound`); when every metric failed, or some failed and the others would scale
/// down, it is false with the first failure's reason and the error is returned with the
/// statuses.
fn compute_replicas_for_metrics(
    config: &HorizontalPodAutoscalerConfig,
    ctx: &mut Context<'_>,
    key: &ObjectKey,
    hpa: &mut HorizontalPodAutoscaler,
    scale: &Scale,
) -> Result<MetricsProposal, MetricsFailure> {
    let now = ctx.now;
    let Some(selector) = &scale.selector else {
        ctx.warning(key, "SelectorRequired", "selector is required".into());
        set_condition(
            &mut hpa.status,
            ConditionType::ScalingActive,
            ConditionStatus::False,
            "InvalidSelector",
            "the HPA target's scale is missing a selector".into(),
            now,
        );
        return Err((Vec::new(), "selector is required".into()));
    };
    let selector = match selector.to_selector() {
        Ok(s) => s,
        Err(e) => {
            let message = format!(
                "couldn't convert selector into a corresponding internal selector object: {e}"
            );
            ctx.warning(key, "InvalidSelector", message.clone());
            set_condition(
                &mut hpa.status,
                ConditionType::ScalingActive,
                ConditionStatus::False,
                "InvalidSelector",
                message.clone(),
                now,
            );
            return Err((Vec::new(), message));
        }
    };
    let namespace = hpa.metadata.namespace.clone();
    let pods: Vec<Arc<Object>> = ctx
        .store
        .iter_namespace(Kind::Pod, &namespace)
        .filter(|o| selector.matches(&o.metadata().labels))
        .cloned()
        .collect();
    let pods: Vec<&Pod> = pods
        .iter()
        .filter_map(|o| match &**o {
            Object::Pod(p) => Some(p),
            _ => None,
        })
        .collect();

    let specs = if hpa.spec.metrics.is_empty() {
        default_metrics()
    } else {
        hpa.spec.metrics.clone()
    };
    let spec_replicas = scale.replicas;
    let mut statuses = vec![MetricStatus::default(); specs.len()];
    let mut replicas = 0;
    let mut metric = String::new();
    let mut invalid = 0usize;
    let mut first_failure: Option<MetricFailure> = None;
    for (i, spec) in specs.iter().enumerate() {
        match compute_replicas_for_metric(
            config,
            ctx.observed,
            spec,
            spec_replicas,
            &namespace,
            &pods,
            now,
        ) {
            Ok((proposal, name, status)) => {
                statuses[i] = status;
                if replicas == 0 || proposal > replicas {
                    replicas = proposal;
                    metric = name;
                }
            }
            Err(failure) => {
                // horizontal.go getUnableComputeReplicaCountCondition records the event.
                ctx.warning(key, failure.reason, failure.error.clone());
                invalid += 1;
                first_failure.get_or_insert(failure);
            }
        }
    }
    if let Some(failure) = first_failure {
        let error = format!(
            "invalid metrics ({invalid} invalid out of {}), first error is: {}",
            specs.len(),
            failure.error
        );
        if invalid >= specs.len() || replicas < spec_replicas {
            set_condition(
                &mut hpa.status,
                ConditionType::ScalingActive,
                ConditionStatus::False,
                failure.reason,
                format!(
                    "the HPA was unable to compute the replica count: {}",
                    failure.error
                ),
                now,
            );
            return Err((statuses, error));
        }
    }
    set_condition(
        &mut hpa.status,
        ConditionType::ScalingActive,
        ConditionStatus::True,
        "ValidMetricFound",
        format!("the HPA was able to successfully calculate a replica count from {metric}"),
        now,
    );
    Ok((replicas, metric, statuses))
}

/// horizontal.go `computeReplicasForMetric`: one metric's proposal, metric name and status.
fn compute_replicas_for_metric(
    config: &HorizontalPodAutoscalerConfig,
    observed: &Observations,
    spec: &MetricSpec,
    spec_replicas: i32,
    namespace: &str,
    pods: &[&Pod],
    now: Time,
) -> Result<(i32, String, MetricStatus), MetricFailure> {
    const NO_CUSTOM_METRICS: &str =
        "unable to fetch metrics from custom metrics API: the server could not find the requested resource";
    const NO_EXTERNAL_METRICS: &str =
        "unable to fetch metrics from external metrics API: the server could not find the requested resource";
    match spec.type_ {
        Some(MetricSourceType::Resource) => {
            let Some(source) = &spec.resource else {
                return Err(MetricFailure {
                    reason: "FailedGetResourceMetric",
                    error: "invalid resource metric source: no resource given".into(),
                });
            };
            let (replicas, current, name) = resource_metric(
                config,
                observed,
                spec_replicas,
                &source.name,
                &source.target,
                namespace,
                pods,
                now,
            )
            .map_err(|error| MetricFailure {
                reason: "FailedGetResourceMetric",
                error,
            })?;
            Ok((
                replicas,
                name,
                MetricStatus {
                    type_: Some(MetricSourceType::Resource),
                    resource: Some(ResourceMetricStatus {
                        name: source.name.clone(),
                        current,
                    }),
                    ..Default::default()
                },
            ))
        }
        Some(MetricSourceType::Pods) => {
            let name = spec
                .pods
                .as_ref()
                .map(|p| p.metric.name.as_str())
                .unwrap_or("");
            Err(MetricFailure {
                reason: "FailedGetPodsMetric",
                error: format!(
                    "failed to get pods metric value: unable to get metric {name}: {NO_CUSTOM_METRICS}"
                ),
            })
        }
        Some(MetricSourceType::Object) => {
            let name = spec
                .object
                .as_ref()
                .map(|o| o.metric.name.as_str())
                .unwrap_or("");
            Err(MetricFailure {
                reason: "FailedGetObjectMetric",
                error: format!(
                    "failed to get object metric value: unable to get metric {name}: {NO_CUSTOM_METRICS}"
                ),
            })
        }
        Some(MetricSourceType::External) => {
            let name = spec
                .external
                .as_ref()
                .map(|e| e.metric.name.as_str())
                .unwrap_or("");
            Err(MetricFailure {
                reason: "FailedGetExternalMetric",
                error: format!(
                    "failed to get external metric {name}: unable to get external metric {namespace}/{name}: \
                     {NO_EXTERNAL_METRICS}"
                ),
            })
        }
        Some(MetricSourceType::ContainerResource) => {
            let (resource, container) = spec
                .container_resource
                .as_ref()
                .map(|c| (c.name.as_str(), c.container.as_str()))
                .unwrap_or(("", ""));
            Err(MetricFailure {
                reason: "FailedGetContainerResourceMetric",
                error: format!(
                    "failed to get {resource} utilization: unable to get metrics for resource {resource}: \
                     failed to get container metrics: container {container} not present in metrics \
                     (flotilla measures whole pods)"
                ),
            })
        }
        None => Err(MetricFailure {
            reason: "InvalidMetricSourceType",
            error: "unknown metric source type \"\"".into(),
        }),
    }
}

/// The measured use of `resource` of each pod that has one, in milli-units (the metrics
/// client's `GetResourceMetric`): CPU in millicores, memory in bytes × 1000.
fn pod_metrics(
    config: &HorizontalPodAutoscalerConfig,
    observed: &Observations,
    resource: &str,
    namespace: &str,
    pods: &[&Pod],
) -> PodMetricsInfo {
    pods.iter()
        .filter_map(|pod| {
            let usage = observed.pod_usage(namespace, &pod.metadata.name)?;
            let value = match resource {
                "cpu" => usage.cpu_millis,
                "memory" => usage.memory_bytes.saturating_mul(1000),
                _ => return None,
            };
            Some((
                pod.metadata.name.clone(),
                PodMetric {
                    value,
                    timestamp: usage.timestamp,
                    window: config.metric_window,
                },
            ))
        })
        .collect()
}

/// horizontal.go `computeStatusForResourceMetricGeneric`: an `AverageValue` target goes to the
/// raw calculation, an `Utilization` target to the utilization one; returns the proposal, the
/// current value and the metric's name for events.
#[allow(clippy::too_many_arguments)]
fn resource_metric(
    config: &HorizontalPodAutoscalerConfig,
    observed: &Observations,
    current_replicas: i32,
    resource: &str,
    target: &MetricTarget,
    namespace: &str,
    pods: &[&Pod],
    now: Time,
) -> Result<(i32, MetricValueStatus, String), String> {
    let metrics = pod_metrics(config, observed, resource, namespace, pods);
    let no_metrics = || {
        format!(
            "unable to get metrics for resource {resource}: no metrics returned from resource \
             metrics API"
        )
    };
    let calculator = &config.calculator;
    if let Some(average_value) = &target.average_value {
        if metrics.is_empty() {
            return Err(format!("failed to get {resource} usage: {}", no_metrics()));
        }
        let proposal = calculator
            .raw_resource_replicas(
                current_replicas,
                average_value.milli_value(),
                resource,
                pods,
                &metrics,
                now,
            )
            .map_err(|e| format!("failed to get {resource} usage: {e}"))?;
        return Ok((
            proposal.replicas,
            MetricValueStatus {
                average_value: Some(Quantity::from_milli(proposal.average)),
                ..Default::default()
            },
            format!("{resource} resource"),
        ));
    }
    let Some(target_utilization) = target.average_utilization else {
        return Err(
            "invalid resource metric source: neither an average utilization target nor \
                    an average value (usage) target was set"
                .into(),
        );
    };
    if metrics.is_empty() {
        return Err(format!(
            "failed to get {resource} utilization: {}",
            no_metrics()
        ));
    }
    let proposal = calculator
        .resource_replicas(
            current_replicas,
            target_utilization,
            resource,
            pods,
            &metrics,
            now,
        )
        .map_err(|e| format!("failed to get {resource} utilization: {e}"))?;
    Ok((
        proposal.replicas,
        MetricValueStatus {
            average_utilization: Some(proposal.utilization),
            average_value: Some(Quantity::from_milli(proposal.raw_average)),
            ..Default::default()
        },
        format!("{resource} resource utilization (percentage of request)"),
    ))
}

#[cfg(test)]
mod tests;
