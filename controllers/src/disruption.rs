//! The disruption controller (pkg/controller/disruption/disruption.go, v1.34): keeps each
//! PodDisruptionBudget's status current, so that the Eviction API ([`crate::eviction`]) knows how
//! many of the budget's pods may go.
//!
//! For a budget it counts the pods its selector picks in its namespace: the pods expected
//! (`expectedPods`: the scale of the pods' controllers, or the number of pods when
//! `minAvailable` is an integer), the healthy ones (`currentHealthy`: ready and not being
//! deleted, and not just evicted), the healthy ones required (`desiredHealthy`, from
//! `minAvailable` or `maxUnavailable`, percentages rounded up), and from them
//! `disruptionsAllowed` and the `DisruptionAllowed` condition. Evictions the API server recorded
//! in `disruptedPods` count as gone for two minutes ([`DELETION_TIMEOUT`]); an entry whose pod
//! was not deleted by then is dropped, at a requeue set for that moment.
//!
//! It also resets stale `DisruptionTarget` conditions: a pod marked for a disruption that did
//! not delete it within two minutes gets the condition set back to `False`
//! (`syncStalePodDisruption`).

use std::collections::BTreeMap;

use flotilla_model::api::{
    ConditionStatus, Pod, PodCondition, PodDisruptionBudget, PodDisruptionBudgetCondition,
    DISRUPTION_ALLOWED_CONDITION,
};
use flotilla_model::store::{ObjectKey, WatchEvent, WatchEventType};
use flotilla_model::{Duration, IntOrString, Kind, Object, Time};

use crate::controller::{
    resolve_controller_ref, Action, Context, Controller, Lookup, ReconcileError,
};
use crate::eviction::set_pod_condition;

/// How long an eviction recorded in `disruptedPods` counts as a pod about to go
/// (disruption.go `DeletionTimeout`).
pub const DELETION_TIMEOUT: Duration = Duration::from_secs(120);

/// How long a `DisruptionTarget` condition may stand on a pod that is not being deleted before
/// it is reset (disruption.go `stalePodDisruptionTimeout`).
pub const STALE_POD_DISRUPTION_TIMEOUT: Duration = Duration::from_secs(120);

/// `DisruptionAllowed` reason: the budget allows at least one disruption.
pub const SUFFICIENT_PODS: &str = "SufficientPods";
/// `DisruptionAllowed` reason: the budget allows none.
pub const INSUFFICIENT_PODS: &str = "InsufficientPods";
/// `DisruptionAllowed` reason: the controller could not compute the status.
pub const SYNC_FAILED: &str = "SyncFailed";

/// The disruption controller. See the [module docs](self).
#[derive(Debug, Default)]
pub struct DisruptionController {}

impl DisruptionController {
    /// A new controller.
    pub fn new() -> DisruptionController {
        DisruptionController::default()
    }
}

impl Controller for DisruptionController {
    fn name(&self) -> &'static str {
        "disruption-controller"
    }

    fn watched_kinds(&self) -> &'static [Kind] {
        &[Kind::PodDisruptionBudget, Kind::Pod]
    }

    fn keys_for_event(&self, event: &WatchEvent, lookup: Lookup<'_>) -> Vec<ObjectKey> {
        match &*event.object {
            Object::PodDisruptionBudget(_) => vec![ObjectKey::of(&event.object)],
            // disruption.go addPod/updatePod/deletePod: the budgets over the pod, and the pod
            // itself when it carries a DisruptionTarget condition that may go stale.
            Object::Pod(pod) => {
                let mut keys: Vec<ObjectKey> = lookup
                    .store
                    .iter_namespace(Kind::PodDisruptionBudget, &pod.metadata.namespace)
                    .filter(|o| match &***o {
                        Object::PodDisruptionBudget(b) => selects(b, pod),
                        _ => false,
                    })
                    .map(|o| ObjectKey::of(o))
                    .collect();
                if event.event_type != WatchEventType::Deleted
                    && stale_disruption_deadline(pod).is_some()
                {
                    keys.push(ObjectKey::of(&event.object));
                }
                keys
            }
            _ => Vec::new(),
        }
    }

    fn reconcile(
        &mut self,
        key: &ObjectKey,
        ctx: &mut Context<'_>,
    ) -> Result<Action, ReconcileError> {
        match key.kind {
            Kind::PodDisruptionBudget => sync_budget(key, ctx),
            Kind::Pod => sync_stale_pod_disruption(key, ctx),
            _ => Ok(Action::await_change()),
        }
    }
}

/// Whether the budget's selector picks the pod (disruption.go `getPodsForPdb`: a missing
/// selector selects nothing, an empty one every pod of the namespace, as in `policy/v1`).
fn selects(budget: &PodDisruptionBudget, pod: &Pod) -> bool {
    budget
        .spec
        .selector
        .as_ref()
        .is_some_and(|s| s.matches(&pod.metadata.labels))
}

/// disruption.go `sync` / `trySync`, with `failSafe` when the counts cannot be computed.
fn sync_budget(key: &ObjectKey, ctx: &mut Context<'_>) -> Result<Action, ReconcileError> {
    let Some(Object::PodDisruptionBudget(budget)) = ctx
        .store
        .get(key.kind, &key.namespace, &key.name)
        .as_deref()
        .cloned()
    else {
        return Ok(Action::await_change());
    };
    let pods: Vec<Pod> = ctx
        .store
        .iter_namespace(Kind::Pod, &budget.metadata.namespace)
        .filter_map(|o| match &**o {
            Object::Pod(p) if selects(&budget, p) => Some(p.clone()),
            _ => None,
        })
        .collect();
    let (expected, desired, unmanaged) = match expected_pod_count(ctx, &budget, &pods) {
        Ok(counts) => counts,
        Err(message) => {
            ctx.warning(
                key,
                "CalculateExpectedPodCountFailed",
                format!("Failed to calculate the number of expected pods: {message}"),
            );
            fail_safe(ctx, budget, &message)?;
            return Ok(Action::await_change());
        }
    };
    if !unmanaged.is_empty() {
        ctx.warning(
            key,
            "UnmanagedPods",
            format!(
                "Pods selected by this PodDisruptionBudget (selector: {}) were found to be \
                 unmanaged. As a result, the status of the PDB cannot be calculated correctly, \
                 which may result in undefined behavior. To account for these pods please set \
                 \".spec.minAvailable\" field of the PDB to an integer value.",
                selector_string(&budget)
            ),
        );
    }
    let now = ctx.now;
    let (disrupted, recheck) = build_disrupted_pod_map(ctx, &pods, &budget);
    let current = count_healthy_pods(&pods, &disrupted, now);
    // disruption.go updatePdbStatus: no disruption while no pod is expected, so a budget whose
    // first pods appear before the controller catches up is safe.
    let mut allowed = current - desired;
    if expected <= 0 || allowed <= 0 {
        allowed = 0;
    }
    let status = &budget.status;
    let up_to_date = status.current_healthy == current
        && status.desired_healthy == desired
        && status.expected_pods == expected
        && status.disruptions_allowed == allowed
        && status.disrupted_pods == disrupted
        && status.observed_generation == budget.metadata.generation
        && conditions_are_up_to_date(&budget);
    if !up_to_date {
        if pods.is_empty() {
            ctx.normal(key, "NoPods", "No matching pods found".into());
        }
        let mut updated = budget.clone();
        updated.status.current_healthy = current;
        updated.status.desired_healthy = desired;
        updated.status.expected_pods = expected;
        updated.status.disruptions_allowed = allowed;
        updated.status.disrupted_pods = disrupted;
        updated.status.observed_generation = budget.metadata.generation;
        set_disruption_allowed_condition(&mut updated, now);
        ctx.store.update_status(updated.into(), now)?;
    }
    Ok(match recheck {
        Some(at) => Action::requeue(at.saturating_duration_since(now)),
        None => Action::await_change(),
    })
}

/// disruption.go `getExpectedPodCount`: `(expectedPods, desiredHealthy, unmanaged pods)`.
fn expected_pod_count(
    ctx: &Context<'_>,
    budget: &PodDisruptionBudget,
    pods: &[Pod],
) -> Result<(i32, i32, Vec<String>), String> {
    let spec = &budget.spec;
    if let Some(max_unavailable) = &spec.max_unavailable {
        let (expected, unmanaged) = expected_scale(ctx, pods)?;
        let max = scaled(max_unavailable, expected)?;
        return Ok((expected, (expected - max).max(0), unmanaged));
    }
    match &spec.min_available {
        Some(IntOrString::Int(min)) => Ok((
            i32::try_from(pods.len()).unwrap_or(i32::MAX),
            *min,
            Vec::new(),
        )),
        Some(min @ IntOrString::String(_)) => {
            let (expected, unmanaged) = expected_scale(ctx, pods)?;
            Ok((expected, scaled(min, expected)?, unmanaged))
        }
        None => Ok((0, 0, Vec::new())),
    }
}

/// `intstr.GetScaledValueFromIntOrPercent(value, total, roundUp=true)`.
fn scaled(value: &IntOrString, total: i32) -> Result<i32, String> {
    value
        .scaled_value(total, true)
        .ok_or_else(|| format!("invalid value for IntOrString: invalid value {value:?}"))
}

/// disruption.go `getExpectedScale`: the sum of the scales of the pods' controllers, each
/// counted once; pods without a controller are reported as unmanaged.
fn expected_scale(ctx: &Context<'_>, pods: &[Pod]) -> Result<(i32, Vec<String>), String> {
    let mut scales: BTreeMap<String, i32> = BTreeMap::new();
    let mut unmanaged = Vec::new();
    for pod in pods {
        let Some(owner) = pod.metadata.controller_ref() else {
            unmanaged.push(pod.metadata.name.clone());
            continue;
        };
        if scales.contains_key(&owner.uid) {
            continue;
        }
        match controller_scale(
            ctx,
            &pod.metadata.namespace,
            &owner.kind,
            &owner.name,
            &owner.uid,
        )? {
            Some((uid, scale)) => {
                scales.insert(uid, scale);
            }
            None => {
                return Err(format!(
                    "found no controllers for pod {:?}",
                    pod.metadata.name
                ))
            }
        }
    }
    Ok((scales.values().sum(), unmanaged))
}

/// The finders of disruption.go (`getPodDeployment`, `getPodReplicaSet`, `getPodStatefulSet`,
/// then `getScaleController`): the controller's uid and `spec.replicas`. A ReplicaSet managed
/// by a Deployment counts as its Deployment.
fn controller_scale(
    ctx: &Context<'_>,
    namespace: &str,
    kind: &str,
    name: &str,
    uid: &str,
) -> Result<Option<(String, i32)>, String> {
    match kind {
        "ReplicaSet" => {
            let Some(Object::ReplicaSet(rs)) = ctx
                .store
                .get(Kind::ReplicaSet, namespace, name)
                .as_deref()
                .cloned()
            else {
                return Ok(None);
            };
            if rs.metadata.uid != uid {
                return Ok(None);
            }
            let dep = rs
                .metadata
                .controller_ref()
                .and_then(|r| resolve_controller_ref(ctx.store, namespace, r, Kind::Deployment));
            if let Some(Object::Deployment(dep)) = dep.as_deref() {
                return Ok(Some((
                    dep.metadata.uid.clone(),
                    dep.spec.replicas.unwrap_or(1),
                )));
            }
            // getScaleController: the ReplicaSet's own scale subresource.
            Ok(Some((
                rs.metadata.uid.clone(),
                rs.spec.replicas.unwrap_or(1),
            )))
        }
        "StatefulSet" => match ctx.store.get(Kind::StatefulSet, namespace, name).as_deref() {
            Some(Object::StatefulSet(ss)) if ss.metadata.uid == uid => Ok(Some((
                ss.metadata.uid.clone(),
                ss.spec.replicas.unwrap_or(1),
            ))),
            _ => Ok(None),
        },
        "Deployment" => match ctx.store.get(Kind::Deployment, namespace, name).as_deref() {
            Some(Object::Deployment(d)) if d.metadata.uid == uid => {
                Ok(Some((d.metadata.uid.clone(), d.spec.replicas.unwrap_or(1))))
            }
            _ => Ok(None),
        },
        // getScaleController on a kind without a scale subresource.
        "DaemonSet" => Err("daemonsets.apps does not implement the scale subresource".into()),
        "Job" => Err("jobs.batch does not implement the scale subresource".into()),
        _ => Ok(None),
    }
}

/// disruption.go `buildDisruptedPodMap`: the evictions still expected to complete, and when the
/// first of them times out. Pods being deleted, and entries past [`DELETION_TIMEOUT`], drop out
/// (the latter with a `NotDeleted` warning on the pod).
fn build_disrupted_pod_map(
    ctx: &mut Context<'_>,
    pods: &[Pod],
    budget: &PodDisruptionBudget,
) -> (BTreeMap<String, Time>, Option<Time>) {
    let mut result = BTreeMap::new();
    let mut recheck: Option<Time> = None;
    for pod in pods {
        if pod.metadata.deletion_timestamp.is_some() {
            continue;
        }
        let Some(&at) = budget.status.disrupted_pods.get(&pod.metadata.name) else {
            continue;
        };
        let expected_deletion = at.saturating_add(DELETION_TIMEOUT);
        if expected_deletion < ctx.now {
            let key = ObjectKey {
                kind: Kind::Pod,
                namespace: pod.metadata.namespace.clone(),
                name: pod.metadata.name.clone(),
            };
            ctx.warning(
                &key,
                "NotDeleted",
                format!(
                    "Pod was expected by PDB {}/{} to be deleted but it wasn't",
                    budget.metadata.namespace, budget.metadata.name
                ),
            );
        } else {
            // Rechecked just after the deadline, when `expected_deletion < now` holds.
            let at_recheck = expected_deletion.saturating_add(Duration::from_nanos(1));
            recheck = Some(recheck.map_or(at_recheck, |r| r.min(at_recheck)));
            result.insert(pod.metadata.name.clone(), at);
        }
    }
    (result, recheck)
}

/// disruption.go `countHealthyPods`: ready pods that are not being deleted and were not just
/// evicted.
fn count_healthy_pods(pods: &[Pod], disrupted: &BTreeMap<String, Time>, now: Time) -> i32 {
    let healthy = pods
        .iter()
        .filter(|p| p.metadata.deletion_timestamp.is_none())
        .filter(|p| {
            disrupted
                .get(&p.metadata.name)
                .is_none_or(|at| at.saturating_add(DELETION_TIMEOUT) <= now)
        })
        .filter(|p| p.is_ready())
        .count();
    i32::try_from(healthy).unwrap_or(i32::MAX)
}

/// disruption.go `failSafe`: no disruptions allowed, with the `SyncFailed` reason.
fn fail_safe(
    ctx: &mut Context<'_>,
    mut budget: PodDisruptionBudget,
    message: &str,
) -> Result<(), ReconcileError> {
    budget.status.disruptions_allowed = 0;
    let generation = budget.status.observed_generation;
    set_condition(
        &mut budget.status.conditions,
        PodDisruptionBudgetCondition {
            type_: DISRUPTION_ALLOWED_CONDITION.into(),
            status: ConditionStatus::False,
            observed_generation: Some(generation),
            last_transition_time: None,
            reason: SYNC_FAILED.into(),
            message: message.to_string(),
        },
        ctx.now,
    );
    ctx.store.update_status(budget.into(), ctx.now)?;
    Ok(())
}

/// component-helpers poddisruptionbudget `UpdateDisruptionAllowedCondition`: `True` with
/// `SufficientPods` while disruptions are allowed, `False` with `InsufficientPods` otherwise.
pub fn set_disruption_allowed_condition(budget: &mut PodDisruptionBudget, now: Time) {
    let allowed = budget.status.disruptions_allowed > 0;
    let generation = budget.status.observed_generation;
    set_condition(
        &mut budget.status.conditions,
        PodDisruptionBudgetCondition {
            type_: DISRUPTION_ALLOWED_CONDITION.into(),
            status: if allowed {
                ConditionStatus::True
            } else {
                ConditionStatus::False
            },
            observed_generation: Some(generation),
            last_transition_time: None,
            reason: if allowed {
                SUFFICIENT_PODS
            } else {
                INSUFFICIENT_PODS
            }
            .into(),
            message: String::new(),
        },
        now,
    );
}

/// component-helpers poddisruptionbudget `ConditionsAreUpToDate`.
fn conditions_are_up_to_date(budget: &PodDisruptionBudget) -> bool {
    let Some(c) = budget
        .status
        .conditions
        .iter()
        .find(|c| c.type_ == DISRUPTION_ALLOWED_CONDITION)
    else {
        return false;
    };
    if budget.status.observed_generation != budget.metadata.generation {
        return false;
    }
    if budget.status.disruptions_allowed > 0 {
        c.status == ConditionStatus::True && c.reason == SUFFICIENT_PODS
    } else {
        c.status == ConditionStatus::False && c.reason == INSUFFICIENT_PODS
    }
}

/// apimachinery `meta.SetStatusCondition`: the transition time moves only when the status
/// changes.
fn set_condition(
    conditions: &mut Vec<PodDisruptionBudgetCondition>,
    new: PodDisruptionBudgetCondition,
    now: Time,
) {
    match conditions.iter_mut().find(|c| c.type_ == new.type_) {
        Some(c) => {
            let time = if c.status == new.status {
                c.last_transition_time.or(Some(now))
            } else {
                Some(now)
            };
            *c = PodDisruptionBudgetCondition {
                last_transition_time: time,
                ..new
            };
        }
        None => conditions.push(PodDisruptionBudgetCondition {
            last_transition_time: Some(now),
            ..new
        }),
    }
}

fn selector_string(budget: &PodDisruptionBudget) -> String {
    budget
        .spec
        .selector
        .as_ref()
        .and_then(|s| s.to_selector().ok())
        .map(|s| s.to_string())
        .unwrap_or_default()
}

/// disruption.go `nonTerminatingPodHasStaleDisruptionCondition`: when a `DisruptionTarget`
/// condition on a pod that is not being deleted becomes stale. Conditions the kubelet sets, and
/// those of finished pods, never do.
fn stale_disruption_deadline(pod: &Pod) -> Option<Time> {
    if pod.metadata.deletion_timestamp.is_some() || pod.phase().is_terminal() {
        return None;
    }
    let c = pod.condition(PodCondition::DISRUPTION_TARGET)?;
    if c.status != ConditionStatus::True || c.reason == "TerminationByKubelet" {
        return None;
    }
    Some(
        c.last_transition_time
            .unwrap_or(Time::ZERO)
            .saturating_add(STALE_POD_DISRUPTION_TIMEOUT),
    )
}

/// disruption.go `syncStalePodDisruption`: resets a stale `DisruptionTarget` condition to
/// `False`.
fn sync_stale_pod_disruption(
    key: &ObjectKey,
    ctx: &mut Context<'_>,
) -> Result<Action, ReconcileError> {
    let Some(Object::Pod(pod)) = ctx
        .store
        .get(Kind::Pod, &key.namespace, &key.name)
        .as_deref()
        .cloned()
    else {
        return Ok(Action::await_change());
    };
    let Some(deadline) = stale_disruption_deadline(&pod) else {
        return Ok(Action::await_change());
    };
    if deadline > ctx.now {
        return Ok(Action::requeue(deadline.saturating_duration_since(ctx.now)));
    }
    let mut pod = pod;
    if set_pod_condition(
        &mut pod.status.conditions,
        PodCondition {
            r#type: PodCondition::DISRUPTION_TARGET.into(),
            status: ConditionStatus::False,
            ..Default::default()
        },
        ctx.now,
    ) {
        ctx.store.update_status(pod.into(), ctx.now)?;
    }
    Ok(Action::await_change())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::eviction::evict;
    use crate::testing::Harness;
    use flotilla_model::api::{Node, PodDisruptionBudgetSpec};
    use flotilla_model::store::DeleteOptions;
    use flotilla_model::{LabelSelector, ObjectMeta};

    const WEB: &str = r#"
apiVersion: apps/v1
kind: Deployment
metadata: {name: web, namespace: default}
spec:
  replicas: 4
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      containers: [{name: web, image: nginx}]
"#;

    fn harness() -> Harness {
        let mut h = Harness::new(vec![
            Box::new(crate::deployment::DeploymentController::new()),
            Box::new(crate::replica_set::ReplicaSetController::new()),
            Box::new(DisruptionController::new()),
        ]);
        h.apply(Node {
            metadata: ObjectMeta::named("", "n1"),
            ..Default::default()
        })
        .unwrap();
        h
    }

    fn apply_yaml(h: &mut Harness, yaml: &str) {
        let m = flotilla_model::manifest::parse_str("t.yaml", yaml).unwrap();
        for o in m.objects {
            h.apply(o.object).unwrap();
        }
    }

    fn pdb(min: Option<IntOrString>, max: Option<IntOrString>) -> PodDisruptionBudget {
        PodDisruptionBudget {
            metadata: ObjectMeta::named("default", "web-pdb"),
            spec: PodDisruptionBudgetSpec {
                min_available: min,
                max_unavailable: max,
                selector: Some(LabelSelector {
                    match_labels: [("app".to_string(), "web".to_string())].into(),
                    ..Default::default()
                }),
                ..Default::default()
            },
            ..Default::default()
        }
    }

    fn budget(h: &Harness) -> PodDisruptionBudget {
        h.stored("default", "web-pdb")
    }

    fn counts(b: &PodDisruptionBudget) -> (i32, i32, i32, i32) {
        let s = &b.status;
        (
            s.expected_pods,
            s.current_healthy,
            s.desired_healthy,
            s.disruptions_allowed,
        )
    }

    #[test]
    fn min_available_counts_pods_and_ready_ones() {
        let mut h = harness();
        apply_yaml(&mut h, WEB);
        h.apply(pdb(Some(IntOrString::Int(3)), None)).unwrap();
        // Four pods, none ready yet.
        let b = budget(&h);
        assert_eq!(counts(&b), (4, 0, 3, 0));
        assert_eq!(b.status.observed_generation, 1);
        let c = &b.status.conditions[0];
        assert_eq!(
            (c.status, c.reason.as_str()),
            (ConditionStatus::False, "InsufficientPods")
        );
        h.make_pods_ready("default", "n1");
        let b = budget(&h);
        assert_eq!(counts(&b), (4, 4, 3, 1));
        let c = &b.status.conditions[0];
        assert_eq!(
            (c.status, c.reason.as_str()),
            (ConditionStatus::True, "SufficientPods")
        );
    }

    #[test]
    fn percentages_use_the_deployment_scale_and_round_up() {
        let mut h = harness();
        apply_yaml(&mut h, WEB);
        h.make_pods_ready("default", "n1");
        // maxUnavailable 30% of 4 = 1.2 → 2 (rounded up): desired 2.
        h.apply(pdb(None, Some(IntOrString::String("30%".into()))))
            .unwrap();
        assert_eq!(counts(&budget(&h)), (4, 4, 2, 2));
        // minAvailable 30% of 4 → 2 too; 80% → 3.2 → 4.
        h.apply(pdb(Some(IntOrString::String("80%".into())), None))
            .unwrap();
        let b = budget(&h);
        assert_eq!(counts(&b), (4, 4, 4, 0));
        assert_eq!(b.status.observed_generation, b.metadata.generation);
        // A pod being deleted is not healthy.
        let name = h.pods("default")[0].metadata.name.clone();
        h.store
            .delete(
                Kind::Pod,
                "default",
                &name,
                &DeleteOptions::default(),
                h.now,
            )
            .unwrap();
        h.settle();
        // The ReplicaSet makes a replacement (not ready): 5 pods, 3 healthy, scale still 4.
        let b = budget(&h);
        assert_eq!(counts(&b), (4, 3, 4, 0));
    }

    #[test]
    fn unmanaged_pods_with_a_percentage_are_warned_about() {
        let mut h = harness();
        let mut meta = ObjectMeta::named("default", "loose");
        meta.labels = [("app".to_string(), "web".to_string())].into();
        let p = Pod {
            metadata: meta,
            spec: flotilla_model::api::PodSpec {
                containers: vec![flotilla_model::api::Container {
                    name: "c".into(),
                    image: "i".into(),
                    ..Default::default()
                }]
                .into(),
                ..Default::default()
            }
            .into(),
            ..Default::default()
        };
        h.apply(p).unwrap();
        h.make_pods_ready("default", "n1");
        h.apply(pdb(None, Some(IntOrString::Int(1)))).unwrap();
        assert_eq!(counts(&budget(&h)), (0, 1, 0, 0));
        assert!(h.recorder.events().any(|e| e.reason == "UnmanagedPods"));
    }

    #[test]
    fn disrupted_pods_count_as_gone_until_the_deletion_timeout() {
        let mut h = harness();
        apply_yaml(&mut h, WEB);
        h.make_pods_ready("default", "n1");
        h.apply(pdb(Some(IntOrString::Int(2)), None)).unwrap();
        assert_eq!(counts(&budget(&h)), (4, 4, 2, 2));
        // The API server records an eviction whose delete never happens (as if it failed).
        let name = h.pods("default")[0].metadata.name.clone();
        let mut b = budget(&h);
        b.status.disrupted_pods.insert(name.clone(), h.now);
        b.status.disruptions_allowed = 1;
        h.store.update_status(b.into(), h.now).unwrap();
        h.settle();
        let b = budget(&h);
        assert_eq!(counts(&b), (4, 3, 2, 1));
        assert!(b.status.disrupted_pods.contains_key(&name));
        // After two minutes the entry is dropped at the controller's own requeue.
        assert!(h.advance_to_next_wakeup(Duration::from_secs(121)));
        let b = budget(&h);
        assert!(b.status.disrupted_pods.is_empty());
        assert_eq!(counts(&b), (4, 4, 2, 2));
        assert!(h.recorder.events().any(|e| e.reason == "NotDeleted"));
    }

    #[test]
    fn an_eviction_lowers_the_budget_and_the_controller_recounts() {
        let mut h = harness();
        apply_yaml(&mut h, WEB);
        h.make_pods_ready("default", "n1");
        h.apply(pdb(Some(IntOrString::Int(3)), None)).unwrap();
        let name = h.pods("default")[0].metadata.name.clone();
        evict(
            &mut h.store,
            "default",
            &name,
            &DeleteOptions::default(),
            h.now,
        )
        .unwrap();
        h.settle();
        // The evicted pod is terminating (gone from the map), a replacement is pending.
        let b = budget(&h);
        assert_eq!(counts(&b), (5, 3, 3, 0));
        assert!(b.status.disrupted_pods.is_empty());
    }

    #[test]
    fn a_stale_disruption_target_is_reset_after_two_minutes() {
        let mut h = harness();
        apply_yaml(&mut h, WEB);
        h.make_pods_ready("default", "n1");
        let mut pod = h.pods("default")[0].as_ref().clone();
        set_pod_condition(
            &mut pod.status.conditions,
            PodCondition {
                r#type: PodCondition::DISRUPTION_TARGET.into(),
                status: ConditionStatus::True,
                reason: "EvictionByEvictionAPI".into(),
                ..Default::default()
            },
            h.now,
        );
        let name = pod.metadata.name.clone();
        h.store.update_status(pod.into(), h.now).unwrap();
        h.settle();
        h.advance(Duration::from_secs(119));
        let c = h.pod("default", &name).unwrap();
        assert_eq!(
            c.condition(PodCondition::DISRUPTION_TARGET).unwrap().status,
            ConditionStatus::True
        );
        assert!(h.advance_to_next_wakeup(Duration::from_secs(2)));
        let c = h.pod("default", &name).unwrap();
        let c = c.condition(PodCondition::DISRUPTION_TARGET).unwrap();
        assert_eq!(c.status, ConditionStatus::False);
        assert_eq!(c.reason, "");
    }
}
