//! The Eviction API (`pods/eviction`, the API server's `EvictionREST`) and what `kubectl` builds
//! on it: [`evict`] a pod if its PodDisruptionBudget allows, [`cordon`] and [`uncordon`] a
//! node, and [`drain`] one.
//!
//! An eviction is a delete that asks the pod's disruption budget first
//! (pkg/registry/core/pod/storage/eviction.go, v1.34): with budget left it records the pod in
//! the budget's `status.disruptedPods`, takes one from `disruptionsAllowed`, marks the pod with
//! the `DisruptionTarget` condition and deletes it; with none left it is refused with
//! `429 Too Many Requests`, and the caller (kubectl drain) tries again later. The disruption
//! controller ([`crate::disruption`]) keeps the budgets' counts current.

use std::sync::Arc;

use flotilla_model::api::{
    ConditionStatus, Node, Pod, PodCondition, PodDisruptionBudget, PodPhase,
    UnhealthyPodEvictionPolicyType,
};
use flotilla_model::store::{DeleteOptions, Store, StoreError};
use flotilla_model::{Kind, Object, Time};

use crate::controller::resolve_controller_ref;
use crate::disruption::set_disruption_allowed_condition;

/// The message of a refused eviction (eviction.go `checkAndDecrement`).
pub const DISRUPTION_BUDGET_MESSAGE: &str =
    "Cannot evict pod as it would violate the pod's disruption budget.";

/// The message when a pod is covered by several budgets (eviction.go `Create`).
pub const MULTIPLE_BUDGETS_MESSAGE: &str =
    "This pod has more than one PodDisruptionBudget, which the eviction subresource does not support.";

/// Past this many unconfirmed evictions in a budget's `disruptedPods` the API server refuses
/// more (eviction.go `MaxDisruptedPodSize`).
pub const MAX_DISRUPTED_POD_SIZE: usize = 2000;

/// The annotation that marks a mirror pod (the API's copy of a kubelet's static pod).
pub const MIRROR_POD_ANNOTATION: &str = "kubernetes.io/config.mirror";

/// The `DisruptionTarget` reason of a pod deleted through the Eviction API.
pub const EVICTION_BY_EVICTION_API: &str = "EvictionByEvictionAPI";

/// Why an eviction was refused. [`EvictionError::code`] gives the HTTP status the API server
/// answers with.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum EvictionError {
    /// The budget allows no disruption now, or the disruption controller has not yet seen its
    /// latest spec (429): try again later.
    #[error("{message}")]
    TooManyRequests {
        /// [`DISRUPTION_BUDGET_MESSAGE`].
        message: String,
        /// The budget that refused.
        budget: String,
        /// The `DisruptionBudget` cause: `The disruption budget web-pdb needs 2 healthy pods
        /// and has 2 currently`.
        cause: String,
    },
    /// The pod is selected by more than one budget (500).
    #[error("{}", MULTIPLE_BUDGETS_MESSAGE)]
    MultipleBudgets {
        /// The budgets, in name order.
        budgets: Vec<String>,
    },
    /// The budget is in a state that refuses evictions (403): a negative `disruptionsAllowed`
    /// or too many unconfirmed evictions.
    #[error("poddisruptionbudget.policy {budget:?} is forbidden: {reason}")]
    Forbidden {
        /// The budget.
        budget: String,
        /// What is wrong with it.
        reason: String,
    },
    /// Reading or writing the store failed (the pod does not exist, a conflict, …).
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl EvictionError {
    /// The HTTP status code the API server answers with.
    pub fn code(&self) -> u16 {
        match self {
            EvictionError::TooManyRequests { .. } => 429,
            EvictionError::MultipleBudgets { .. } => 500,
            EvictionError::Forbidden { .. } => 403,
            EvictionError::Store(StoreError::NotFound { .. }) => 404,
            EvictionError::Store(StoreError::AlreadyExists { .. })
            | EvictionError::Store(StoreError::Conflict { .. }) => 409,
            EvictionError::Store(StoreError::Invalid { .. }) => 422,
            EvictionError::Store(StoreError::Forbidden(_)) => 403,
            EvictionError::Store(StoreError::BadRequest(_)) => 400,
            EvictionError::Store(StoreError::ResourceVersionTooOld { .. }) => 410,
        }
    }

    /// Whether a budget refused for now (429), so that trying again later may succeed.
    pub fn is_too_many_requests(&self) -> bool {
        matches!(self, EvictionError::TooManyRequests { .. })
    }
}

/// Evicts the pod `namespace/name` (a `POST` of an `Eviction` to `pods/<name>/eviction`),
/// deleting it with `options` if its PodDisruptionBudget allows.
///
/// As eviction.go `Create` and `checkAndDecrement` do:
/// - a pod that is `Pending`, finished, or already being deleted is deleted without asking any
///   budget (`canIgnorePDB`: it is not providing service, so evicting it disrupts nothing);
/// - the budgets of the pod's namespace whose selector matches its labels are found (one with
///   an empty selector matches nothing here); more than one is an error;
/// - a pod that is not ready is deleted without using up budget when the budget's
///   `unhealthyPodEvictionPolicy` is `AlwaysAllow`, or when the budget is met anyway
///   (`currentHealthy >= desiredHealthy > 0`);
/// - otherwise the budget must have seen its latest generation and allow a disruption: then
///   `disruptionsAllowed` goes down by one, the pod is recorded in `disruptedPods` at `now`,
///   and the budget's status is written before the pod is deleted.
///
/// The pod gets the `DisruptionTarget` condition (reason `EvictionByEvictionAPI`) just before
/// its deletion.
pub fn evict(
    store: &mut Store,
    namespace: &str,
    name: &str,
    options: &DeleteOptions,
    now: Time,
) -> Result<(), EvictionError> {
    let pod = get_pod(store, namespace, name)?;
    if can_ignore_pdb(&pod) {
        return add_condition_and_delete(store, pod, options, now);
    }
    let budgets = budgets_for_pod(store, &pod);
    let mut budget = match budgets.as_slice() {
        [] => return add_condition_and_delete(store, pod, options, now),
        [one] => one.clone(),
        many => {
            return Err(EvictionError::MultipleBudgets {
                budgets: many.iter().map(|b| b.metadata.name.clone()).collect(),
            })
        }
    };
    // eviction.go Create: an unhealthy pod does not count towards currentHealthy, so taking it
    // away does not use up the budget.
    if !pod.is_ready() {
        let always = budget.spec.unhealthy_pod_eviction_policy
            == Some(UnhealthyPodEvictionPolicyType::AlwaysAllow);
        let status = &budget.status;
        if always
            || (status.current_healthy >= status.desired_healthy && status.desired_healthy > 0)
        {
            return add_condition_and_delete(store, pod, options, now);
        }
    }
    check_and_decrement(&mut budget, &pod.metadata.name, now)?;
    store.update_status(budget.into(), now)?;
    add_condition_and_delete(store, pod, options, now)
}

/// eviction.go `canIgnorePDB`.
fn can_ignore_pdb(pod: &Pod) -> bool {
    matches!(
        pod.phase(),
        PodPhase::Succeeded | PodPhase::Failed | PodPhase::Pending
    ) || pod.metadata.deletion_timestamp.is_some()
}

/// eviction.go `checkAndDecrement`, on a copy of the budget that the caller writes.
fn check_and_decrement(
    budget: &mut PodDisruptionBudget,
    pod_name: &str,
    now: Time,
) -> Result<(), EvictionError> {
    let name = budget.metadata.name.clone();
    if budget.status.observed_generation < budget.metadata.generation {
        return Err(EvictionError::TooManyRequests {
            message: DISRUPTION_BUDGET_MESSAGE.into(),
            cause: format!("The disruption budget {name} is still being processed by the server."),
            budget: name,
        });
    }
    if budget.status.disruptions_allowed < 0 {
        return Err(EvictionError::Forbidden {
            budget: name,
            reason: "pdb disruptions allowed is negative".into(),
        });
    }
    if budget.status.disrupted_pods.len() > MAX_DISRUPTED_POD_SIZE {
        return Err(EvictionError::Forbidden {
            budget: name,
            reason:
                "DisruptedPods map too big - too many evictions not confirmed by PDB controller"
                    .into(),
        });
    }
    if budget.status.disruptions_allowed == 0 {
        return Err(EvictionError::TooManyRequests {
            message: DISRUPTION_BUDGET_MESSAGE.into(),
            cause: format!(
                "The disruption budget {name} needs {} healthy pods and has {} currently",
                budget.status.desired_healthy, budget.status.current_healthy
            ),
            budget: name,
        });
    }
    budget.status.disruptions_allowed -= 1;
    if budget.status.disruptions_allowed == 0 {
        set_disruption_allowed_condition(budget, now);
    }
    budget
        .status
        .disrupted_pods
        .insert(pod_name.to_string(), now);
    Ok(())
}

/// The budgets of the pod's namespace that select it, in name order (eviction.go
/// `getPodDisruptionBudgets`: "a PDB with a nil or empty selector ... should match nothing").
pub fn budgets_for_pod(store: &Store, pod: &Pod) -> Vec<PodDisruptionBudget> {
    store
        .iter_namespace(Kind::PodDisruptionBudget, &pod.metadata.namespace)
        .filter_map(|o| match &**o {
            Object::PodDisruptionBudget(b) => Some(b),
            _ => None,
        })
        .filter(|b| {
            b.spec
                .selector
                .as_ref()
                .is_some_and(|s| !s.is_empty() && s.matches(&pod.metadata.labels))
        })
        .cloned()
        .collect()
}

/// eviction.go `addConditionAndDeletePod`: the `DisruptionTarget` condition, then the delete.
fn add_condition_and_delete(
    store: &mut Store,
    mut pod: Pod,
    options: &DeleteOptions,
    now: Time,
) -> Result<(), EvictionError> {
    let changed = set_pod_condition(
        &mut pod.status.conditions,
        PodCondition {
            r#type: PodCondition::DISRUPTION_TARGET.into(),
            status: ConditionStatus::True,
            reason: EVICTION_BY_EVICTION_API.into(),
            message: "Eviction API: evicting".into(),
            ..Default::default()
        },
        now,
    );
    let (namespace, name) = (pod.metadata.namespace.clone(), pod.metadata.name.clone());
    if changed {
        store.update_status(pod.into(), now)?;
    }
    store.delete(Kind::Pod, &namespace, &name, options, now)?;
    Ok(())
}

/// Sets a pod condition as podutil `UpdatePodCondition` does: a new condition, or a changed
/// status, gets `now` as its transition time; an unchanged status keeps the old one. Returns
/// whether anything changed.
pub fn set_pod_condition(conditions: &mut Vec<PodCondition>, new: PodCondition, now: Time) -> bool {
    match conditions.iter_mut().find(|c| c.r#type == new.r#type) {
        Some(c) => {
            let time = if c.status == new.status {
                c.last_transition_time
            } else {
                Some(now)
            };
            let updated = PodCondition {
                last_transition_time: time,
                last_probe_time: c.last_probe_time,
                ..new
            };
            if *c == updated {
                return false;
            }
            *c = updated;
            true
        }
        None => {
            conditions.push(PodCondition {
                last_transition_time: Some(now),
                ..new
            });
            true
        }
    }
}

fn get_pod(store: &Store, namespace: &str, name: &str) -> Result<Pod, StoreError> {
    match store.get(Kind::Pod, namespace, name).as_deref() {
        Some(Object::Pod(p)) => Ok(p.clone()),
        _ => Err(StoreError::NotFound {
            kind: Kind::Pod,
            namespace: namespace.to_string(),
            name: name.to_string(),
        }),
    }
}

fn get_node(store: &Store, name: &str) -> Result<Node, StoreError> {
    match store.get(Kind::Node, "", name).as_deref() {
        Some(Object::Node(n)) => Ok((**n).clone()),
        _ => Err(StoreError::NotFound {
            kind: Kind::Node,
            namespace: String::new(),
            name: name.to_string(),
        }),
    }
}

/// The pods bound to `node`, in key order.
pub fn pods_on_node(store: &Store, node: &str) -> Vec<Arc<Object>> {
    store
        .iter_kind(Kind::Pod)
        .filter(|o| matches!(&***o, Object::Pod(p) if p.spec.node_name == node))
        .cloned()
        .collect()
}

/// `kubectl cordon`: marks the node unschedulable. Returns whether it changed (a cordoned node
/// is left alone).
pub fn cordon(store: &mut Store, node: &str, now: Time) -> Result<bool, StoreError> {
    set_unschedulable(store, node, true, now)
}

/// `kubectl uncordon`: makes the node schedulable again. Returns whether it changed.
pub fn uncordon(store: &mut Store, node: &str, now: Time) -> Result<bool, StoreError> {
    set_unschedulable(store, node, false, now)
}

fn set_unschedulable(
    store: &mut Store,
    node: &str,
    unschedulable: bool,
    now: Time,
) -> Result<bool, StoreError> {
    let mut n = get_node(store, node)?;
    if n.spec.unschedulable == unschedulable {
        return Ok(false);
    }
    n.spec.unschedulable = unschedulable;
    store.update(n.into(), now)?;
    Ok(true)
}

/// Why [`drain`] left a pod alone.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DrainSkip {
    /// Its DaemonSet would put it back at once (`--ignore-daemonsets`).
    DaemonSetManaged,
    /// A mirror pod: the kubelet's static pod, which the API cannot remove.
    MirrorPod,
}

/// What [`drain`] did, in pod key order.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct DrainOutcome {
    /// Whether the drain cordoned the node (false when it was cordoned already).
    pub cordoned: bool,
    /// The pods evicted (`namespace/name`).
    pub evicted: Vec<String>,
    /// The pods left alone, and why.
    pub skipped: Vec<(String, DrainSkip)>,
    /// The pods whose eviction was refused, with the refusal: a disruption budget's 429 (kubectl
    /// retries those every five seconds until its timeout; call [`drain`] again later) or
    /// another error.
    pub refused: Vec<(String, EvictionError)>,
}

impl DrainOutcome {
    /// Whether every pod that had to go was evicted.
    pub fn is_complete(&self) -> bool {
        self.refused.is_empty()
    }
}

/// `kubectl drain <node> --ignore-daemonsets --delete-emptydir-data --force` (staging
/// k8s.io/kubectl/pkg/drain, `Helper.GetPodsForDeletion` and `evictPods`): cordons the node,
/// then evicts every pod bound to it through [`evict`], except DaemonSet-managed pods and
/// mirror pods (`daemonSetFilter`, `mirrorPodFilter`) and pods already being deleted. Pods
/// without a controller and pods with `emptyDir` volumes are evicted too, as `--force` and
/// `--delete-emptydir-data` allow. Evictions that a budget refuses are reported in
/// [`DrainOutcome::refused`]; nothing waits.
pub fn drain(store: &mut Store, node: &str, now: Time) -> Result<DrainOutcome, StoreError> {
    let mut outcome = DrainOutcome {
        cordoned: cordon(store, node, now)?,
        ..Default::default()
    };
    for object in pods_on_node(store, node) {
        let Object::Pod(pod) = &*object else {
            continue;
        };
        let key = format!("{}/{}", pod.metadata.namespace, pod.metadata.name);
        if pod.metadata.annotations.contains_key(MIRROR_POD_ANNOTATION) {
            outcome.skipped.push((key, DrainSkip::MirrorPod));
            continue;
        }
        // filters.go daemonSetFilter: a pod whose DaemonSet is gone is deleted like any other.
        if let Some(owner) = pod.metadata.controller_ref() {
            if resolve_controller_ref(store, &pod.metadata.namespace, owner, Kind::DaemonSet)
                .is_some()
            {
                outcome.skipped.push((key, DrainSkip::DaemonSetManaged));
                continue;
            }
        }
        // filters.go skipDeletedFilter: a pod already going is not evicted again.
        if pod.metadata.deletion_timestamp.is_some() {
            continue;
        }
        match evict(
            store,
            &pod.metadata.namespace,
            &pod.metadata.name,
            &DeleteOptions::default(),
            now,
        ) {
            Ok(()) => outcome.evicted.push(key),
            // Gone in the meantime: nothing left to evict (drain.go evictPods ignores NotFound).
            Err(EvictionError::Store(StoreError::NotFound { .. })) => {}
            Err(e) => outcome.refused.push((key, e)),
        }
    }
    Ok(outcome)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::disruption::DisruptionController;
    use crate::testing::Harness;
    use flotilla_model::api::{Container, DaemonSet, PodDisruptionBudgetSpec, PodSpec};
    use flotilla_model::{Duration, IntOrString, LabelSelector, ObjectMeta};

    fn labels() -> flotilla_model::Labels {
        [("app".to_string(), "web".to_string())].into()
    }

    fn node(name: &str) -> Node {
        Node {
            metadata: ObjectMeta::named("", name),
            ..Default::default()
        }
    }

    fn bare_pod(name: &str) -> Pod {
        let mut meta = ObjectMeta::named("default", name);
        meta.labels = labels().into();
        Pod {
            metadata: meta,
            spec: PodSpec {
                containers: vec![Container {
                    name: "web".into(),
                    image: "nginx".into(),
                    ..Default::default()
                }]
                .into(),
                ..Default::default()
            }
            .into(),
            ..Default::default()
        }
    }

    fn pdb(min_available: i32) -> PodDisruptionBudget {
        PodDisruptionBudget {
            metadata: ObjectMeta::named("default", "web-pdb"),
            spec: PodDisruptionBudgetSpec {
                min_available: Some(IntOrString::Int(min_available)),
                selector: Some(LabelSelector {
                    match_labels: labels(),
                    ..Default::default()
                }),
                ..Default::default()
            },
            ..Default::default()
        }
    }

    /// A harness with the disruption controller, one node, and `n` ready pods `web-i` on it.
    fn cluster(n: usize) -> Harness {
        let mut h = Harness::new(vec![Box::new(DisruptionController::new())]);
        h.apply(node("n1")).unwrap();
        for i in 0..n {
            h.apply(bare_pod(&format!("web-{i}"))).unwrap();
        }
        h.make_pods_ready("default", "n1");
        h
    }

    fn budget(h: &Harness) -> PodDisruptionBudget {
        h.stored("default", "web-pdb")
    }

    #[test]
    fn a_pod_without_a_budget_is_evicted_with_the_disruption_target_condition() {
        let mut h = cluster(1);
        evict(
            &mut h.store,
            "default",
            "web-0",
            &DeleteOptions::default(),
            h.now,
        )
        .unwrap();
        let pod = h
            .pod("default", "web-0")
            .expect("graceful deletion keeps it");
        assert!(pod.metadata.deletion_timestamp.is_some());
        let c = pod.condition(PodCondition::DISRUPTION_TARGET).unwrap();
        assert_eq!(c.status, ConditionStatus::True);
        assert_eq!(c.reason, "EvictionByEvictionAPI");
        assert_eq!(c.message, "Eviction API: evicting");
    }

    #[test]
    fn a_budget_with_room_is_decremented_and_records_the_pod() {
        let mut h = cluster(3);
        h.apply(pdb(2)).unwrap();
        assert_eq!(budget(&h).status.disruptions_allowed, 1);
        h.now = h.now + Duration::from_secs(7);
        evict(
            &mut h.store,
            "default",
            "web-0",
            &DeleteOptions::default(),
            h.now,
        )
        .unwrap();
        let b = budget(&h);
        assert_eq!(b.status.disruptions_allowed, 0);
        assert_eq!(b.status.disrupted_pods.get("web-0"), Some(&h.now));
        assert!(h
            .pod("default", "web-0")
            .unwrap()
            .metadata
            .deletion_timestamp
            .is_some());
        // The second eviction is refused with Kubernetes' 429 and its cause.
        let err = evict(
            &mut h.store,
            "default",
            "web-1",
            &DeleteOptions::default(),
            h.now,
        )
        .unwrap_err();
        assert_eq!(err.code(), 429);
        assert_eq!(
            err.to_string(),
            "Cannot evict pod as it would violate the pod's disruption budget."
        );
        // The controller has not run since: the status still says 3 healthy.
        let EvictionError::TooManyRequests { cause, budget, .. } = &err else {
            panic!("{err:?}");
        };
        assert_eq!(budget, "web-pdb");
        assert_eq!(
            cause,
            "The disruption budget web-pdb needs 2 healthy pods and has 3 currently"
        );
        assert!(h
            .pod("default", "web-1")
            .unwrap()
            .metadata
            .deletion_timestamp
            .is_none());
        assert!(h
            .pod("default", "web-1")
            .unwrap()
            .condition(PodCondition::DISRUPTION_TARGET)
            .is_none());
    }

    #[test]
    fn a_budget_not_yet_observed_refuses_until_the_controller_catches_up() {
        let mut h = Harness::new(Vec::new());
        h.apply(node("n1")).unwrap();
        h.apply(bare_pod("web-0")).unwrap();
        h.make_pods_ready("default", "n1");
        h.apply(pdb(0)).unwrap();
        let err = evict(
            &mut h.store,
            "default",
            "web-0",
            &DeleteOptions::default(),
            h.now,
        )
        .unwrap_err();
        let EvictionError::TooManyRequests { cause, .. } = err else {
            panic!("{err:?}");
        };
        assert_eq!(
            cause,
            "The disruption budget web-pdb is still being processed by the server."
        );
    }

    #[test]
    fn pending_pods_and_unready_pods_with_a_met_budget_go_without_using_it() {
        let mut h = cluster(3);
        h.apply(bare_pod("web-9")).unwrap(); // Pending, unbound
        h.apply(pdb(2)).unwrap();
        assert_eq!(budget(&h).status.disruptions_allowed, 1);
        evict(
            &mut h.store,
            "default",
            "web-9",
            &DeleteOptions::default(),
            h.now,
        )
        .unwrap();
        assert!(
            h.pod("default", "web-9").is_none(),
            "an unbound pod goes at once"
        );
        // A running pod that is not ready, while 2 of 2 desired are healthy.
        h.set_pod_status("default", "web-2", PodPhase::Running, false);
        let b = budget(&h);
        assert_eq!((b.status.current_healthy, b.status.desired_healthy), (2, 2));
        evict(
            &mut h.store,
            "default",
            "web-2",
            &DeleteOptions::default(),
            h.now,
        )
        .unwrap();
        assert_eq!(budget(&h).status.disrupted_pods.len(), 0);
    }

    #[test]
    fn two_budgets_over_one_pod_are_an_error() {
        let mut h = cluster(1);
        h.apply(pdb(0)).unwrap();
        let mut other = pdb(0);
        other.metadata.name = "web-pdb-2".into();
        h.apply(other).unwrap();
        let err = evict(
            &mut h.store,
            "default",
            "web-0",
            &DeleteOptions::default(),
            h.now,
        )
        .unwrap_err();
        assert_eq!(err.code(), 500);
        assert_eq!(
            err,
            EvictionError::MultipleBudgets {
                budgets: vec!["web-pdb".into(), "web-pdb-2".into()]
            }
        );
    }

    #[test]
    fn a_missing_pod_is_not_found() {
        let mut h = Harness::new(Vec::new());
        let err = evict(
            &mut h.store,
            "default",
            "nope",
            &DeleteOptions::default(),
            h.now,
        )
        .unwrap_err();
        assert_eq!(err.code(), 404);
        assert_eq!(err.to_string(), "pods \"nope\" not found");
    }

    #[test]
    fn drain_cordons_skips_daemon_pods_and_reports_budget_refusals() {
        let mut h = cluster(2);
        // A ReplicaSet-less budget over both pods that allows nothing.
        h.apply(pdb(2)).unwrap();
        // A DaemonSet pod on the node.
        let ds: DaemonSet = serde_json::from_value(serde_json::json!({
            "metadata": {"name": "agent", "namespace": "default"},
            "spec": {"selector": {"matchLabels": {"app": "agent"}},
                     "template": {"metadata": {"labels": {"app": "agent"}},
                                  "spec": {"containers": [{"name": "a", "image": "a"}]}}}
        }))
        .unwrap();
        let ds = h.apply(ds).unwrap();
        let mut agent = bare_pod("agent-x");
        agent.metadata.labels = [("app".to_string(), "agent".to_string())].into();
        agent.metadata.owner_references =
            vec![crate::pods::controller_ref(Kind::DaemonSet, ds.metadata())];
        h.apply(agent).unwrap();
        h.bind("default", "agent-x", "n1");
        let mut mirror = bare_pod("static-n1");
        mirror.metadata.labels.clear();
        mirror
            .metadata
            .annotations
            .insert(MIRROR_POD_ANNOTATION.into(), "x".into());
        h.apply(mirror).unwrap();
        h.bind("default", "static-n1", "n1");

        let out = drain(&mut h.store, "n1", h.now).unwrap();
        assert!(out.cordoned);
        let Some(Object::Node(n)) = h.store.get(Kind::Node, "", "n1").as_deref().cloned() else {
            panic!()
        };
        assert!(n.spec.unschedulable);
        assert_eq!(
            out.skipped,
            vec![
                ("default/agent-x".to_string(), DrainSkip::DaemonSetManaged),
                ("default/static-n1".to_string(), DrainSkip::MirrorPod),
            ]
        );
        assert!(out.evicted.is_empty());
        let refused: Vec<_> = out
            .refused
            .iter()
            .map(|(k, e)| (k.as_str(), e.code()))
            .collect();
        assert_eq!(refused, [("default/web-0", 429), ("default/web-1", 429)]);
        assert!(!out.is_complete());
        // Draining again does not cordon again.
        assert!(!drain(&mut h.store, "n1", h.now).unwrap().cordoned);
        assert!(uncordon(&mut h.store, "n1", h.now).unwrap());
    }

    #[test]
    fn drain_evicts_what_the_budget_allows() {
        let mut h = cluster(3);
        h.apply(pdb(2)).unwrap();
        let out = drain(&mut h.store, "n1", h.now).unwrap();
        assert_eq!(out.evicted, vec!["default/web-0".to_string()]);
        assert_eq!(out.refused.len(), 2);
    }
}
