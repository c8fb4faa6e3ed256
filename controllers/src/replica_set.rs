//! The ReplicaSet controller (Kubernetes' `pkg/controller/replicaset/replica_set.go`, v1.34):
//! keeps `spec.replicas` active pods matching a ReplicaSet's selector.
//!
//! One reconcile of a ReplicaSet key does what `syncReplicaSet` does:
//!
//! 1. claim pods (`controller_ref_manager.go` `ClaimPods`): the active pods it controls whose
//!    labels still match stay; the ones that no longer match are released (their owner
//!    reference removed); active orphans that match are adopted, unless the ReplicaSet is being
//!    deleted. The [`OwnerIndex`](crate::controller::OwnerIndex) names both sets, so no
//!    reconcile scans the namespace's pods;
//! 2. manage replicas (`manageReplicas`): create the missing pods in slow-start batches, or
//!    delete the surplus in Kubernetes' deletion preference order ([`pod_deletion_order`]);
//! 3. write the status (`replica_set_utils.go` `calculateStatus`) when it changed, and ask to
//!    be reconciled again when a ready pod becomes available under `minReadySeconds`.
//!
//! The store is in memory and every write's watch event reaches the controller before its next
//! reconcile, so client-go's "expectations" are not needed (see [`crate::controller`]).

use std::cmp::Ordering;
use std::collections::{BTreeMap, BTreeSet};

use flotilla_model::api::{
    ConditionStatus, ContainerRestartPolicy, NamespacePhase, Pod, PodCondition, PodPhase,
    ReplicaSet, ReplicaSetCondition, ReplicaSetConditionType, ReplicaSetStatus,
};
use flotilla_model::store::{DeleteOptions, ObjectKey, Store, StoreError, WatchEvent};
use flotilla_model::{Kind, Object, Time};

use crate::claim::{claim_pods, PodRef};
use crate::controller::{
    resolve_controller_ref, Action, Context, Controller, Lookup, ReconcileError,
};
use crate::pods;

/// The most pods one reconcile creates or deletes (kube-controller-manager's
/// `--replicaset-burst-replicas` default, `BurstReplicas` in replica_set.go).
pub const BURST_REPLICAS: usize = 500;

/// The size of the first batch of creates (controller_utils.go `SlowStartInitialBatchSize`).
pub const SLOW_START_INITIAL_BATCH_SIZE: usize = 1;

/// The annotation by which a user ranks a pod's cost of deletion: pods with a lower cost go
/// first on scale-down (core/v1 `PodDeletionCost`).
pub const POD_DELETION_COST_ANNOTATION: &str = "controller.kubernetes.io/pod-deletion-cost";

/// The ReplicaSet controller. See the [module docs](self).
#[derive(Debug, Default)]
pub struct ReplicaSetController {
    _private: (),
}

impl ReplicaSetController {
    /// A ReplicaSet controller.
    pub fn new() -> ReplicaSetController {
        ReplicaSetController::default()
    }
}

impl Controller for ReplicaSetController {
    fn name(&self) -> &'static str {
        "replicaset-controller"
    }

    fn watched_kinds(&self) -> &'static [Kind] {
        &[Kind::ReplicaSet, Kind::Pod]
    }

    fn keys_for_event(&self, event: &WatchEvent, lookup: Lookup<'_>) -> Vec<ObjectKey> {
        match &*event.object {
            // replica_set.go addRS / updateRS / deleteRS.
            Object::ReplicaSet(_) => vec![ObjectKey::of(&event.object)],
            Object::Pod(pod) => keys_for_pod(pod, lookup.store),
            _ => Vec::new(),
        }
    }

    fn reconcile(
        &mut self,
        key: &ObjectKey,
        ctx: &mut Context<'_>,
    ) -> Result<Action, ReconcileError> {
        // replica_set.go syncReplicaSet: a ReplicaSet that is gone needs nothing.
        let Some(object) = ctx.store.get(Kind::ReplicaSet, &key.namespace, &key.name) else {
            return Ok(Action::await_change());
        };
        let Object::ReplicaSet(rs) = &*object else {
            return Ok(Action::await_change());
        };
        // syncReplicaSet: a selector that does not convert is reported and not retried; a
        // missing or empty one selects nothing (validation rejects both anyway).
        let selector = match &rs.spec.selector {
            Some(s) if !s.is_empty() && s.to_selector().is_ok() => s,
            _ => return Ok(Action::await_change()),
        };
        let rs_key = ObjectKey::of(&object);

        // replica_set.go syncReplicaSet claims only the active pods (FilterActivePods).
        let matches = |pod: &Pod| selector.matches(&pod.metadata.labels);
        let active = claim_pods(
            ctx,
            Kind::ReplicaSet,
            &rs.metadata,
            &pods::is_pod_active,
            &matches,
        )?;
        // syncReplicaSet: the terminating pods it controls, for status.terminatingReplicas.
        let terminating = ctx
            .dependents(&rs.metadata.uid, Kind::Pod)
            .into_iter()
            .filter_map(PodRef::new)
            .filter(|p| {
                let pod = p.pod();
                pods::is_controlled_by(&pod.metadata, &rs.metadata.uid)
                    && pods::is_pod_terminating(pod)
                    && !pod.phase().is_terminal()
                    && selector.matches(&pod.metadata.labels)
            })
            .count();

        // syncReplicaSet: a ReplicaSet being deleted creates and deletes nothing.
        let manage_error = if rs.metadata.deletion_timestamp.is_none() {
            manage_replicas(&active, rs, &rs_key, ctx).err()
        } else {
            None
        };

        let status = calculate_status(rs, &active, terminating, manage_error.as_ref(), ctx.now);
        if status != rs.status {
            let mut fresh = rs.clone();
            fresh.status = status;
            ctx.store
                .update_status(Object::ReplicaSet(fresh), ctx.now)?;
        }
        if let Some(e) = manage_error {
            return Err(e);
        }
        // Reconcile again when the next ready pod turns available (the sooner and more exact
        // form of syncReplicaSet's `AddAfter(minReadySeconds)`).
        let next = active
            .iter()
            .filter_map(|p| pods::available_at(p.pod(), rs.spec.min_ready_seconds, ctx.now))
            .min();
        Ok(match next {
            Some(at) => Action::requeue(at.saturating_duration_since(ctx.now)),
            None => Action::await_change(),
        })
    }
}

/// The ReplicaSets a pod event concerns (replica_set.go addPod / updatePod / deletePod).
fn keys_for_pod(pod: &Pod, store: &Store) -> Vec<ObjectKey> {
    let namespace = &pod.metadata.namespace;
    // If it has a controller reference, that is all that matters (resolveControllerRef: the
    // kind must be ReplicaSet and the uid the stored one's).
    if let Some(r) = pod.metadata.controller_ref() {
        return resolve_controller_ref(store, namespace, r, Kind::ReplicaSet)
            .map(|rs| ObjectKey::of(&rs))
            .into_iter()
            .collect();
    }
    // deletePod: no controller cares about an orphan going away.
    if pod.metadata.deletion_timestamp.is_some() {
        return Vec::new();
    }
    // An orphan: every ReplicaSet that selects it may adopt it (getPodReplicaSets; a nil or
    // empty selector matches nothing).
    store
        .iter_namespace(Kind::ReplicaSet, namespace)
        .filter(|o| match &***o {
            Object::ReplicaSet(rs) => rs
                .spec
                .selector
                .as_ref()
                .is_some_and(|s| !s.is_empty() && s.matches(&pod.metadata.labels)),
            _ => false,
        })
        .map(|o| ObjectKey::of(o))
        .collect()
}

/// replica_set.go `manageReplicas`: creates or deletes pods to close the gap between the
/// active pods and `spec.replicas`, at most [`BURST_REPLICAS`] per reconcile.
fn manage_replicas(
    active: &[PodRef],
    rs: &ReplicaSet,
    rs_key: &ObjectKey,
    ctx: &mut Context<'_>,
) -> Result<(), ReconcileError> {
    let want = usize::try_from(rs.spec.replicas.unwrap_or(1)).unwrap_or(0);
    let have = active.len();
    match have.cmp(&want) {
        Ordering::Equal => Ok(()),
        Ordering::Less => {
            let count = (want - have).min(BURST_REPLICAS);
            // controller_utils.go getPodsPrefix: pods are named `<rs-name>-<random>`.
            let prefix = format!("{}-", rs.metadata.name);
            let (_, error) = slow_start_batch(count, SLOW_START_INITIAL_BATCH_SIZE, || {
                create_pod(rs, rs_key, &prefix, ctx)
            });
            error.map_or(Ok(()), |e| Err(e.into()))
        }
        Ordering::Greater => {
            let count = (have - want).min(BURST_REPLICAS);
            let related = related_pods(rs, ctx);
            let victims = pods_to_delete(active, &related, count, ctx.now);
            let mut first_error = None;
            for p in victims {
                let name = p.pod().metadata.name.clone();
                match ctx.store.delete(
                    Kind::Pod,
                    &rs.metadata.namespace,
                    &name,
                    &DeleteOptions::default(),
                    ctx.now,
                ) {
                    // controller_utils.go DeletePod.
                    Ok(_) => ctx.normal(rs_key, "SuccessfulDelete", format!("Deleted pod: {name}")),
                    Err(StoreError::NotFound { .. }) => {}
                    Err(e) => {
                        ctx.warning(rs_key, "FailedDelete", format!("Error deleting: {e}"));
                        first_error.get_or_insert(e);
                    }
                }
            }
            first_error.map_or(Ok(()), |e| Err(e.into()))
        }
    }
}

/// Creates one pod from the template (controller_utils.go `createPods`): `SuccessfulCreate`
/// on success, `FailedCreate` on failure, except that a create refused because the namespace
/// is terminating counts as done and is not reported (manageReplicas checks
/// `NamespaceTerminatingCause`).
fn create_pod(
    rs: &ReplicaSet,
    rs_key: &ObjectKey,
    prefix: &str,
    ctx: &mut Context<'_>,
) -> Result<(), StoreError> {
    let pod = pods::pod_from_template(
        &rs.spec.template,
        Kind::ReplicaSet,
        &rs.metadata,
        prefix,
        None,
    );
    match ctx.store.create(Object::Pod(pod), ctx.now) {
        Ok(created) => {
            let name = created.metadata().name.clone();
            ctx.normal(rs_key, "SuccessfulCreate", format!("Created pod: {name}"));
            Ok(())
        }
        Err(_) if namespace_terminating(ctx.store, &rs.metadata.namespace) => Ok(()),
        Err(e) => {
            ctx.warning(rs_key, "FailedCreate", format!("Error creating: {e}"));
            Err(e)
        }
    }
}

fn namespace_terminating(store: &Store, namespace: &str) -> bool {
    matches!(
        store.get(Kind::Namespace, "", namespace).as_deref(),
        Some(Object::Namespace(ns))
            if ns.metadata.deletion_timestamp.is_some()
                || ns.status.phase == Some(NamespacePhase::Terminating)
    )
}

/// replica_set.go `slowStartBatch`: calls `call` `count` times in batches of
/// `initial_batch_size`, then twice as many, and so on. Every call of a batch is made (they run
/// concurrently in Kubernetes); after a batch with a failure no further batch starts. Returns
/// the number of successful calls and the first error.
pub fn slow_start_batch<E>(
    count: usize,
    initial_batch_size: usize,
    mut call: impl FnMut() -> Result<(), E>,
) -> (usize, Option<E>) {
    let mut remaining = count;
    let mut successes = 0;
    let mut batch = remaining.min(initial_batch_size);
    while batch > 0 {
        let mut error = None;
        for _ in 0..batch {
            match call() {
                Ok(()) => successes += 1,
                Err(e) => {
                    error.get_or_insert(e);
                }
            }
        }
        if error.is_some() {
            return (successes, error);
        }
        remaining -= batch;
        batch = (2 * batch).min(remaining);
    }
    (successes, None)
}

/// replica_set.go `getIndirectlyRelatedPods`: the pods of every ReplicaSet with the same
/// controller as `rs` (the ReplicaSets of one Deployment), each pod once. A ReplicaSet without
/// a controller has no related pods, as in Kubernetes, so all its pods rank equal.
///
/// Kubernetes lists the pods each related ReplicaSet's selector matches; here they are the
/// pods each one controls (from the owner index), which are the same pods once adoption has
/// run and avoid a scan of the namespace.
fn related_pods(rs: &ReplicaSet, ctx: &Context<'_>) -> Vec<PodRef> {
    let Some(controller) = rs.metadata.controller_ref() else {
        return Vec::new();
    };
    let mut seen = BTreeSet::new();
    let mut related = Vec::new();
    for sibling in ctx.dependents(&controller.uid, Kind::ReplicaSet) {
        let sibling_uid = &sibling.metadata().uid;
        if !pods::is_controlled_by(sibling.metadata(), &controller.uid) {
            continue;
        }
        for p in ctx
            .dependents(sibling_uid, Kind::Pod)
            .into_iter()
            .filter_map(PodRef::new)
        {
            if pods::is_controlled_by(&p.pod().metadata, sibling_uid)
                && seen.insert(p.pod().metadata.uid.clone())
            {
                related.push(p);
            }
        }
    }
    related
}

/// replica_set.go `getPodsToDelete`: the first `count` pods in deletion preference order,
/// ranked by how many related active pods share their node.
fn pods_to_delete(active: &[PodRef], related: &[PodRef], count: usize, now: Time) -> Vec<PodRef> {
    let mut pods: Vec<PodRef> = active.to_vec();
    if count < pods.len() {
        // getPodsRankedByRelatedPodsOnSameNode.
        let mut on_node: BTreeMap<&str, usize> = BTreeMap::new();
        for p in related {
            if pods::is_pod_active(p.pod()) {
                *on_node.entry(p.pod().spec.node_name.as_str()).or_default() += 1;
            }
        }
        let mut ranked: Vec<(usize, PodRef)> = pods
            .into_iter()
            .map(|p| {
                let rank = on_node
                    .get(p.pod().spec.node_name.as_str())
                    .copied()
                    .unwrap_or(0);
                (rank, p)
            })
            .collect();
        merge_sort_by(&mut ranked, &|a: &(usize, PodRef), b: &(usize, PodRef)| {
            pod_deletion_order(a.1.pod(), a.0, b.1.pod(), b.0, now)
        });
        pods = ranked.into_iter().map(|(_, p)| p).collect();
    }
    pods.truncate(count);
    pods
}

/// Kubernetes' deletion preference between two active pods of a workload, `Less` before
/// `Greater` (controller_utils.go `ActivePodsWithRanks.Less`, v1.34, with the `PodDeletionCost`
/// and `LogarithmicScaleDown` features on, as they are by default). `rank` is the number of
/// related active pods on the pod's node. The first rule that tells the pods apart decides:
///
/// 1. unassigned before assigned;
/// 2. `Pending` before `Unknown` before `Running`;
/// 3. not ready before ready;
/// 4. lower `controller.kubernetes.io/pod-deletion-cost` first (unset or invalid is 0);
/// 5. higher rank (more doubled up) first;
/// 6. of two ready pods, the one ready for less time first, compared in logarithmic buckets
///    (powers of two of the nanoseconds since) with the uid breaking a tie of buckets;
/// 7. more container restarts first (regular containers, then restartable init containers);
/// 8. newer first, in logarithmic buckets of age with the uid breaking a tie; a pod without a
///    creation time goes first.
///
/// Like Kubernetes' it is not a strict total order in every corner (rules 6 and 8 compare
/// buckets only when the times differ), which is why it is applied with a merge sort that
/// tolerates that rather than the standard sort.
pub fn pod_deletion_order(a: &Pod, rank_a: usize, b: &Pod, rank_b: usize, now: Time) -> Ordering {
    let less = |yes: bool| {
        if yes {
            Ordering::Less
        } else {
            Ordering::Greater
        }
    };
    // 1. Unassigned < assigned.
    let (node_a, node_b) = (&a.spec.node_name, &b.spec.node_name);
    if node_a != node_b && (node_a.is_empty() || node_b.is_empty()) {
        return less(node_a.is_empty());
    }
    // 2. PodPending < PodUnknown < PodRunning (podPhaseToOrdinal; others count as Pending).
    let ordinal = |p: &Pod| match p.phase() {
        PodPhase::Unknown => 1,
        PodPhase::Running => 2,
        _ => 0,
    };
    if ordinal(a) != ordinal(b) {
        return less(ordinal(a) < ordinal(b));
    }
    // 3. Not ready < ready.
    let (ready_a, ready_b) = (a.is_ready(), b.is_ready());
    if ready_a != ready_b {
        return less(!ready_a);
    }
    // 4. Lower pod-deletion-cost < higher pod-deletion-cost.
    let (cost_a, cost_b) = (deletion_cost(a), deletion_cost(b));
    if cost_a != cost_b {
        return less(cost_a < cost_b);
    }
    // 5. Doubled up < not doubled up.
    if rank_a != rank_b {
        return less(rank_a > rank_b);
    }
    // 6. Been ready for empty time < less time < more time.
    if ready_a && ready_b {
        let (t_a, t_b) = (ready_time(a), ready_time(b));
        if t_a != t_b {
            return compare_times_logarithmically(t_a, t_b, a, b, now);
        }
    }
    // 7. Higher restart counts < lower restart counts (compareMaxContainerRestarts).
    let (restarts_a, restarts_b) = (max_restarts(a), max_restarts(b));
    if restarts_a.0 != restarts_b.0 {
        return less(restarts_a.0 > restarts_b.0);
    }
    if restarts_a.1 != restarts_b.1 {
        return less(restarts_a.1 > restarts_b.1);
    }
    // 8. Empty creation time < newer < older.
    let (created_a, created_b) = (a.metadata.creation_timestamp, b.metadata.creation_timestamp);
    if created_a != created_b {
        return compare_times_logarithmically(created_a, created_b, a, b, now);
    }
    Ordering::Equal
}

/// The later (more recent) time first, in logarithmic buckets of the time since, the uid
/// breaking a tie of buckets; an unset time counts as the latest (controller_utils.go
/// `afterOrZero` and `logarithmicRankDiff`). Only called for times that differ.
fn compare_times_logarithmically(
    t_a: Option<Time>,
    t_b: Option<Time>,
    a: &Pod,
    b: &Pod,
    now: Time,
) -> Ordering {
    let (t_a, t_b) = match (t_a, t_b) {
        (Some(x), Some(y)) => (x, y),
        // afterOrZero: a zero time is "after" any other.
        (x, _) => {
            return if x.is_none() {
                Ordering::Less
            } else {
                Ordering::Greater
            }
        }
    };
    let bucket = |t: Time| -> i64 {
        // int64(math.Log2(float64(d))) for d > 0, -1 otherwise; the integer logarithm gives
        // the same buckets without floating point (they can differ only within a rounding
        // error of a power of two).
        let d = now.as_nanos().saturating_sub(t.as_nanos());
        if d == 0 || now < t {
            -1
        } else {
            i64::from(d.ilog2())
        }
    };
    match bucket(t_a).cmp(&bucket(t_b)) {
        Ordering::Equal => {
            if a.metadata.uid < b.metadata.uid {
                Ordering::Less
            } else {
                Ordering::Greater
            }
        }
        other => other,
    }
}

/// The transition time of the pod's `Ready=True` condition (controller_utils.go
/// `podReadyTime`); `None` stands for Kubernetes' zero time.
fn ready_time(pod: &Pod) -> Option<Time> {
    pod.condition(PodCondition::READY)
        .filter(|c| c.status == ConditionStatus::True)
        .and_then(|c| c.last_transition_time)
}

/// The pod's deletion cost annotation as an int32, 0 when unset or not a valid int32
/// (core/v1 helper `GetDeletionCostFromPodAnnotations`).
fn deletion_cost(pod: &Pod) -> i32 {
    pod.metadata
        .annotations
        .get(POD_DELETION_COST_ANNOTATION)
        .and_then(|v| v.parse::<i32>().ok())
        .unwrap_or(0)
}

/// The most restarts of a regular container and of a restartable init (sidecar) container
/// (controller_utils.go `maxContainerRestarts`).
fn max_restarts(pod: &Pod) -> (i32, i32) {
    let regular = pod
        .status
        .container_statuses
        .iter()
        .map(|c| c.restart_count)
        .max()
        .unwrap_or(0)
        .max(0);
    let sidecars: BTreeSet<&str> = pod
        .spec
        .init_containers
        .iter()
        .filter(|c| c.restart_policy == Some(ContainerRestartPolicy::Always))
        .map(|c| c.name.as_str())
        .collect();
    let sidecar = pod
        .status
        .init_container_statuses
        .iter()
        .filter(|c| sidecars.contains(c.name.as_str()))
        .map(|c| c.restart_count)
        .max()
        .unwrap_or(0)
        .max(0);
    (regular, sidecar)
}

/// A stable merge sort that never panics, whatever the comparator: Kubernetes' pod order is
/// not a strict total order in every corner, and the standard library's sort may panic on such
/// comparators.
fn merge_sort_by<T: Clone>(items: &mut [T], cmp: &impl Fn(&T, &T) -> Ordering) {
    if items.len() <= 1 {
        return;
    }
    let mid = items.len() / 2;
    merge_sort_by(&mut items[..mid], cmp);
    merge_sort_by(&mut items[mid..], cmp);
    let (left, right) = (items[..mid].to_vec(), items[mid..].to_vec());
    let (mut i, mut j) = (0, 0);
    for slot in items.iter_mut() {
        let take_left =
            j >= right.len() || (i < left.len() && cmp(&right[j], &left[i]) != Ordering::Less);
        if take_left {
            *slot = left[i].clone();
            i += 1;
        } else {
            *slot = right[j].clone();
            j += 1;
        }
    }
}

/// replica_set_utils.go `calculateStatus` (with `updateReplicaSetStatus` setting
/// `observedGeneration`): counts over the active claimed pods, the terminating ones, and the
/// `ReplicaFailure` condition, set on a failed create or delete and removed once one succeeds.
fn calculate_status(
    rs: &ReplicaSet,
    active: &[PodRef],
    terminating: usize,
    manage_error: Option<&ReconcileError>,
    now: Time,
) -> ReplicaSetStatus {
    let mut status = rs.status.clone();
    let template_labels = &rs.spec.template.metadata.labels;
    let mut fully_labeled = 0;
    let mut ready = 0;
    let mut available = 0;
    for p in active {
        let pod = p.pod();
        if template_labels
            .iter()
            .all(|(k, v)| pod.metadata.labels.get(k) == Some(v))
        {
            fully_labeled += 1;
        }
        if pod.is_ready() {
            ready += 1;
            if pods::is_pod_available(pod, rs.spec.min_ready_seconds, now) {
                available += 1;
            }
        }
    }
    let failure = status
        .conditions
        .iter()
        .position(|c| c.type_ == ReplicaSetConditionType::ReplicaFailure);
    match (manage_error, failure) {
        (Some(error), None) => {
            let want = i64::from(rs.spec.replicas.unwrap_or(1));
            let reason = match (active.len() as i64).cmp(&want) {
                Ordering::Less => "FailedCreate",
                Ordering::Greater => "FailedDelete",
                Ordering::Equal => "",
            };
            status.conditions.push(ReplicaSetCondition {
                type_: ReplicaSetConditionType::ReplicaFailure,
                status: ConditionStatus::True,
                last_transition_time: Some(now),
                reason: reason.to_string(),
                message: error.to_string(),
            });
        }
        (None, Some(i)) => {
            status.conditions.remove(i);
        }
        _ => {}
    }
    let count = |n: usize| i32::try_from(n).unwrap_or(i32::MAX);
    status.replicas = count(active.len());
    status.fully_labeled_replicas = count(fully_labeled);
    status.ready_replicas = count(ready);
    status.available_replicas = count(available);
    status.terminating_replicas = Some(count(terminating));
    status.observed_generation = rs.metadata.generation;
    status
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::controller::EventType;
    use crate::testing::Harness;
    use flotilla_model::api::{
        Container, ContainerStatus, Deployment, DeploymentSpec, PodSpec, PodTemplateSpec,
        ReplicaSetSpec, ResourceQuota,
    };
    use flotilla_model::{Duration, LabelSelector, Labels, ObjectMeta, Quantity};
    use std::sync::Arc;

    const NS: &str = "default";

    fn labels(app: &str) -> Labels {
        Labels::from([("app".to_string(), app.to_string())])
    }

    fn template(app: &str) -> PodTemplateSpec {
        PodTemplateSpec {
            metadata: ObjectMeta {
                labels: labels(app).into(),
                ..ObjectMeta::default()
            },
            spec: PodSpec {
                containers: vec![Container {
                    name: "web".into(),
                    image: "nginx:1.27".into(),
                    ..Container::default()
                }]
                .into(),
                ..PodSpec::default()
            },
        }
    }

    fn replica_set(name: &str, replicas: i32) -> ReplicaSet {
        ReplicaSet {
            metadata: ObjectMeta::named(NS, name),
            spec: ReplicaSetSpec {
                replicas: Some(replicas),
                selector: Some(LabelSelector {
                    match_labels: labels("web"),
                    ..LabelSelector::default()
                }),
                template: template("web"),
                ..ReplicaSetSpec::default()
            },
            ..ReplicaSet::default()
        }
    }

    fn harness() -> Harness {
        let mut h = Harness::new(vec![Box::new(ReplicaSetController::new())]);
        h.advance(Duration::from_secs(1000));
        h
    }

    fn stored_rs(h: &Harness, name: &str) -> ReplicaSet {
        h.stored(NS, name)
    }

    fn scale(h: &mut Harness, name: &str, replicas: i32) {
        let mut rs = stored_rs(h, name);
        rs.spec.replicas = Some(replicas);
        h.apply(rs).unwrap();
    }

    fn active_pods(h: &Harness) -> Vec<Arc<Pod>> {
        h.pods(NS)
            .into_iter()
            .filter(|p| pods::is_pod_active(p))
            .collect()
    }

    fn events(h: &Harness, rs: &str, reason: &str) -> Vec<String> {
        let key = ObjectKey {
            kind: Kind::ReplicaSet,
            namespace: NS.into(),
            name: rs.into(),
        };
        h.recorder
            .events_for(&key)
            .filter(|e| e.reason == reason)
            .map(|e| e.message.clone())
            .collect()
    }

    #[test]
    fn scale_up_creates_the_missing_pods_and_reports_them() {
        let mut h = harness();
        h.apply(replica_set("web", 3)).unwrap();
        let pods = h.pods(NS);
        assert_eq!(pods.len(), 3);
        let uid = stored_rs(&h, "web").metadata.uid;
        for p in &pods {
            assert!(p.metadata.name.starts_with("web-"), "{}", p.metadata.name);
            assert_eq!(p.metadata.name.len(), "web-".len() + 5);
            assert!(pods::is_controlled_by(&p.metadata, &uid));
            assert_eq!(p.metadata.labels["app"], "web");
        }
        let mut created = events(&h, "web", "SuccessfulCreate");
        created.sort();
        let mut expected: Vec<String> = pods
            .iter()
            .map(|p| format!("Created pod: {}", p.metadata.name))
            .collect();
        expected.sort();
        assert_eq!(created, expected);
        let status = stored_rs(&h, "web").status;
        assert_eq!(status.replicas, 3);
        assert_eq!(status.fully_labeled_replicas, 3);
        assert_eq!(status.ready_replicas, 0);
        assert_eq!(status.observed_generation, 1);
        assert!(status.conditions.is_empty());
    }

    #[test]
    fn slow_start_doubles_the_batches_and_stops_after_a_failing_one() {
        let mut calls = 0;
        let (ok, err) = slow_start_batch(10, 1, || {
            calls += 1;
            Ok::<(), ()>(())
        });
        assert_eq!((ok, err, calls), (10, None, 10));

        // Batches of 1, 2 and 4: the fifth call fails, the rest of its batch is still made
        // and no fourth batch starts.
        let mut calls = 0;
        let (ok, err) = slow_start_batch(10, 1, || {
            calls += 1;
            if calls == 5 {
                Err(calls)
            } else {
                Ok(())
            }
        });
        assert_eq!((ok, err, calls), (6, Some(5), 7));
        assert_eq!(slow_start_batch(0, 1, || Err::<(), ()>(())), (0, None));
    }

    #[test]
    fn a_quota_failure_stops_the_batches_and_sets_replica_failure() {
        let mut h = harness();
        let mut quota = ResourceQuota {
            metadata: ObjectMeta::named(NS, "pods"),
            ..ResourceQuota::default()
        };
        quota
            .spec
            .hard
            .insert("pods".into(), Quantity::parse("4").unwrap());
        h.apply(quota.clone()).unwrap();

        // One reconcile by hand: batches of 1 and 2 succeed, the batch of 4 creates one pod
        // and fails three times, and no batch follows (without slow start there would be six
        // failures).
        let before = h.store.resource_version();
        h.store
            .create(replica_set("web", 10).into(), h.now)
            .unwrap();
        let changes: Vec<_> = h.store.changes_since(before).unwrap().cloned().collect();
        for change in &changes {
            h.manager.handle_event(change, &h.store);
        }
        assert!(h
            .manager
            .reconcile_next(&mut h.store, &mut h.recorder, h.now));
        assert_eq!(h.pods(NS).len(), 4);
        assert_eq!(events(&h, "web", "SuccessfulCreate").len(), 4);
        let failed = events(&h, "web", "FailedCreate");
        assert_eq!(failed.len(), 3);
        assert!(failed[0].starts_with("Error creating: "), "{}", failed[0]);
        assert!(failed[0].contains("exceeded quota"), "{}", failed[0]);
        let status = stored_rs(&h, "web").status;
        assert_eq!(status.conditions.len(), 1);
        assert_eq!(
            status.conditions[0].type_,
            ReplicaSetConditionType::ReplicaFailure
        );
        assert_eq!(status.conditions[0].reason, "FailedCreate");
        assert_eq!(status.conditions[0].status, ConditionStatus::True);

        // Retries back off and still create nothing while the quota is full.
        h.settle();
        assert_eq!(h.pods(NS).len(), 4);

        // Once the quota allows it, the retry creates the rest and clears the condition.
        quota
            .spec
            .hard
            .insert("pods".into(), Quantity::parse("20").unwrap());
        h.apply(quota).unwrap();
        for _ in 0..20 {
            if !h.advance_to_next_wakeup(Duration::from_secs(2000)) {
                break;
            }
        }
        assert_eq!(h.pods(NS).len(), 10);
        let status = stored_rs(&h, "web").status;
        assert!(status.conditions.is_empty(), "{:?}", status.conditions);
        assert_eq!(status.replicas, 10);
    }

    #[test]
    fn scale_down_deletes_in_kubernetes_preference_order() {
        let mut h = harness();
        h.apply(replica_set("web", 6)).unwrap();
        let names: Vec<String> = h.pods(NS).iter().map(|p| p.metadata.name.clone()).collect();
        assert_eq!(names.len(), 6);
        // names[0]: unbound; [1]: bound and Pending; [2]: Running, not ready;
        // [3]: ready with a high deletion cost; [4]: ready long ago; [5]: ready recently.
        for n in &names[1..] {
            h.bind(NS, n, "node-a");
        }
        h.set_pod_status(NS, &names[2], PodPhase::Running, false);
        h.set_pod_status(NS, &names[3], PodPhase::Running, true);
        h.set_pod_status(NS, &names[4], PodPhase::Running, true);
        h.advance(Duration::from_secs(1000));
        h.set_pod_status(NS, &names[5], PodPhase::Running, true);
        let patch = serde_json::json!({"metadata": {"annotations": {
            POD_DELETION_COST_ANNOTATION: "100"
        }}});
        h.store
            .patch(Kind::Pod, NS, &names[3], &patch, h.now)
            .unwrap();
        h.advance(Duration::from_secs(100));

        scale(&mut h, "web", 1);
        let deleted = events(&h, "web", "SuccessfulDelete");
        let expected: Vec<String> = [0, 1, 2, 5, 4]
            .iter()
            .map(|&i| format!("Deleted pod: {}", names[i]))
            .collect();
        assert_eq!(deleted, expected);
        let active = active_pods(&h);
        assert_eq!(active.len(), 1);
        assert_eq!(active[0].metadata.name, names[3]);
        // Bound pods are deleted gracefully and count as terminating until they are gone.
        let status = stored_rs(&h, "web").status;
        assert_eq!(status.replicas, 1);
        assert_eq!(status.terminating_replicas, Some(4));
        h.finish_all_deletions(NS);
        assert_eq!(h.pods(NS).len(), 1);
        assert_eq!(stored_rs(&h, "web").status.terminating_replicas, Some(0));
    }

    #[test]
    fn scale_down_prefers_pods_doubled_up_with_their_siblings() {
        let mut h = harness();
        let deployment = Deployment {
            metadata: ObjectMeta::named(NS, "web"),
            spec: DeploymentSpec {
                replicas: Some(3),
                selector: Some(LabelSelector {
                    match_labels: labels("web"),
                    ..LabelSelector::default()
                }),
                template: template("web"),
                ..DeploymentSpec::default()
            },
            ..Deployment::default()
        };
        let deployment = h.apply(deployment).unwrap();
        let mut rs = replica_set("web-1", 3);
        rs.metadata.owner_references.push(pods::controller_ref(
            Kind::Deployment,
            deployment.metadata(),
        ));
        h.apply(rs).unwrap();
        let names: Vec<String> = h.pods(NS).iter().map(|p| p.metadata.name.clone()).collect();
        // The first pod by name is alone on its node; the other two share one. All are ready
        // at the same moment and created together, so only the rank tells them apart.
        h.bind(NS, &names[0], "node-b");
        h.bind(NS, &names[1], "node-a");
        h.bind(NS, &names[2], "node-a");
        for n in &names {
            h.set_pod_status(NS, n, PodPhase::Running, true);
        }
        scale(&mut h, "web-1", 2);
        assert_eq!(
            events(&h, "web-1", "SuccessfulDelete"),
            vec![format!("Deleted pod: {}", names[1])]
        );
    }

    fn pod(name: &str, uid: &str) -> Pod {
        let mut p = Pod {
            metadata: ObjectMeta::named(NS, name),
            ..Pod::default()
        };
        p.metadata.uid = uid.into();
        p.metadata.creation_timestamp = Some(Time::from_secs(100));
        p.spec.node_name = "n1".into();
        p.status.phase = Some(PodPhase::Running);
        p
    }

    fn ready(mut p: Pod, since: u64) -> Pod {
        p.status.conditions.push(PodCondition {
            r#type: PodCondition::READY.into(),
            status: ConditionStatus::True,
            last_transition_time: Some(Time::from_secs(since)),
            ..PodCondition::default()
        });
        p
    }

    #[test]
    fn deletion_order_follows_each_kubernetes_rule() {
        let now = Time::from_secs(10_000);
        let first = |a: &Pod, ra: usize, b: &Pod, rb: usize| {
            assert_eq!(pod_deletion_order(a, ra, b, rb, now), Ordering::Less);
            assert_eq!(pod_deletion_order(b, rb, a, ra, now), Ordering::Greater);
        };
        let base = pod("a", "u1");
        // 1. Unassigned first.
        let mut unassigned = pod("b", "u2");
        unassigned.spec.node_name.clear();
        first(&unassigned, 0, &base, 0);
        // 2. Pending before Unknown before Running.
        let mut pending = pod("b", "u2");
        pending.status.phase = Some(PodPhase::Pending);
        let mut unknown = pod("c", "u3");
        unknown.status.phase = Some(PodPhase::Unknown);
        first(&pending, 0, &unknown, 0);
        first(&unknown, 0, &base, 0);
        // 3. Not ready before ready.
        first(&base, 0, &ready(pod("b", "u2"), 100), 0);
        // 4. Lower deletion cost first; an invalid cost counts as 0.
        let mut cheap = ready(pod("b", "u2"), 100);
        cheap
            .metadata
            .annotations
            .insert(POD_DELETION_COST_ANNOTATION.into(), "-5".into());
        let mut invalid = ready(pod("c", "u3"), 100);
        invalid
            .metadata
            .annotations
            .insert(POD_DELETION_COST_ANNOTATION.into(), "lots".into());
        first(&cheap, 0, &invalid, 0);
        // 5. More related pods on the node first, even if ready for less time.
        first(
            &ready(pod("b", "u2"), 100),
            2,
            &ready(pod("c", "u3"), 9_000),
            1,
        );
        // 6. Ready more recently first, by logarithmic bucket; one bucket: lower uid first.
        first(
            &ready(pod("b", "u9"), 9_000),
            0,
            &ready(pod("c", "u1"), 100),
            0,
        );
        first(
            &ready(pod("b", "u1"), 9_000),
            0,
            &ready(pod("c", "u9"), 9_001),
            0,
        );
        // 7. More restarts first.
        let mut crashy = pod("b", "u9");
        crashy.status.container_statuses.push(ContainerStatus {
            name: "web".into(),
            restart_count: 3,
            ..ContainerStatus::default()
        });
        first(&crashy, 0, &pod("c", "u1"), 0);
        // 8. Newer first (by bucket, then uid); no creation time first of all.
        let mut newer = pod("b", "u9");
        newer.metadata.creation_timestamp = Some(Time::from_secs(9_900));
        first(&newer, 0, &pod("c", "u1"), 0);
        let mut timeless = pod("b", "u9");
        timeless.metadata.creation_timestamp = None;
        first(&timeless, 0, &newer, 0);
        let mut same_bucket = pod("b", "u0");
        same_bucket.metadata.creation_timestamp = Some(Time::from_secs(101));
        first(&same_bucket, 0, &pod("c", "u1"), 0);
        assert_eq!(pod_deletion_order(&base, 0, &base, 0, now), Ordering::Equal);
    }

    #[test]
    fn adopts_a_matching_orphan_and_releases_a_pod_whose_labels_change() {
        let mut h = harness();
        let orphan = Pod {
            metadata: ObjectMeta {
                labels: labels("web").into(),
                ..ObjectMeta::named(NS, "stray")
            },
            spec: template("web").spec.into(),
            ..Pod::default()
        };
        h.apply(orphan).unwrap();
        h.apply(replica_set("web", 2)).unwrap();
        let uid = stored_rs(&h, "web").metadata.uid;
        let stray = h.pod(NS, "stray").unwrap();
        assert!(pods::is_controlled_by(&stray.metadata, &uid));
        assert_eq!(h.pods(NS).len(), 2, "one adopted, one created");
        assert_eq!(events(&h, "web", "SuccessfulCreate").len(), 1);

        let patch = serde_json::json!({"metadata": {"labels": {"app": "debug"}}});
        h.store
            .patch(Kind::Pod, NS, "stray", &patch, h.now)
            .unwrap();
        h.settle();
        let stray = h.pod(NS, "stray").unwrap();
        assert!(stray.metadata.owner_references.is_empty(), "released");
        let owned: Vec<_> = h
            .pods(NS)
            .into_iter()
            .filter(|p| pods::is_controlled_by(&p.metadata, &uid))
            .collect();
        assert_eq!(owned.len(), 2, "a replacement was created");
        assert_eq!(h.pods(NS).len(), 3);
        assert_eq!(stored_rs(&h, "web").status.replicas, 2);
    }

    #[test]
    fn available_replicas_wait_for_min_ready_seconds() {
        let mut h = harness();
        let mut rs = replica_set("web", 2);
        rs.spec.min_ready_seconds = 10;
        h.apply(rs).unwrap();
        h.make_pods_ready(NS, "node-a");
        let status = stored_rs(&h, "web").status;
        assert_eq!((status.ready_replicas, status.available_replicas), (2, 0));
        h.advance(Duration::from_secs(9));
        assert_eq!(stored_rs(&h, "web").status.available_replicas, 0);
        // No event arrives; the requeue for the moment of availability does it.
        h.advance(Duration::from_secs(1));
        let status = stored_rs(&h, "web").status;
        assert_eq!((status.ready_replicas, status.available_replicas), (2, 2));
        assert_eq!(h.manager.next_wakeup(), None);
    }

    #[test]
    fn a_deleted_pod_is_replaced() {
        let mut h = harness();
        h.apply(replica_set("web", 2)).unwrap();
        let first = h.pods(NS)[0].metadata.name.clone();
        h.store
            .delete(Kind::Pod, NS, &first, &DeleteOptions::default(), h.now)
            .unwrap();
        h.settle();
        let pods = h.pods(NS);
        assert_eq!(pods.len(), 2);
        assert!(pods.iter().all(|p| p.metadata.name != first));

        // A pod in its grace period no longer counts: its replacement comes at once.
        h.make_pods_ready(NS, "node-a");
        let second = h.pods(NS)[0].metadata.name.clone();
        h.store
            .delete(Kind::Pod, NS, &second, &DeleteOptions::default(), h.now)
            .unwrap();
        h.settle();
        assert_eq!(h.pods(NS).len(), 3);
        assert_eq!(active_pods(&h).len(), 2);
        let status = stored_rs(&h, "web").status;
        assert_eq!((status.replicas, status.terminating_replicas), (2, Some(1)));
    }

    #[test]
    fn an_unchanged_status_is_not_written_again() {
        let mut h = harness();
        h.apply(replica_set("web", 1)).unwrap();
        let version = stored_rs(&h, "web").metadata.resource_version;
        let key = ObjectKey {
            kind: Kind::ReplicaSet,
            namespace: NS.into(),
            name: "web".into(),
        };
        h.manager.enqueue("replicaset-controller", key);
        assert_eq!(h.settle(), 1);
        assert_eq!(stored_rs(&h, "web").metadata.resource_version, version);
        assert!(h
            .recorder
            .events()
            .all(|e| e.event_type == EventType::Normal));
    }

    #[test]
    fn a_replica_set_being_deleted_creates_no_pods() {
        let mut h = harness();
        let mut rs = replica_set("web", 2);
        rs.metadata.finalizers.push("example.com/hold".into());
        h.apply(rs).unwrap();
        assert_eq!(h.pods(NS).len(), 2);
        h.store
            .delete(
                Kind::ReplicaSet,
                NS,
                "web",
                &DeleteOptions::default(),
                h.now,
            )
            .unwrap();
        let first = h.pods(NS)[0].metadata.name.clone();
        h.store
            .delete(Kind::Pod, NS, &first, &DeleteOptions::default(), h.now)
            .unwrap();
        h.settle();
        assert_eq!(h.pods(NS).len(), 1);
        assert_eq!(stored_rs(&h, "web").status.replicas, 1);
    }
}
