//! The DaemonSet controller (kube-controller-manager's `daemonset-controller`,
//! pkg/controller/daemon, v1.34): one pod of the DaemonSet's template on every node that the
//! template's node selector, required node affinity and tolerations admit.
//!
//! Each reconcile of a DaemonSet key:
//!
//! 1. claims the DaemonSet's pods (adopting matching orphans, releasing owned pods that no
//!    longer match the selector) and groups them by the node they run on, or are meant for;
//! 2. `manage`: creates a pod for each eligible node that has none, deletes pods on nodes that
//!    should not run one, trims extra pods (keeping the oldest), and replaces failed pods with
//!    a per-node back-off;
//! 3. when `manage` had nothing to do, runs the update strategy: `RollingUpdate` replaces
//!    out-of-date pods within `maxUnavailable` (or surges within `maxSurge`); `OnDelete` waits
//!    for someone else to delete them;
//! 4. writes the status when it changed.
//!
//! Daemon pods are not bound by this controller: they are created with a required node
//! affinity `matchFields metadata.name In [<node>]` (Kubernetes'
//! `ReplaceDaemonSetPodNodeNameNodeAffinity`) and the default scheduler binds them.
//!
//! Kubernetes keeps each template revision in a ControllerRevision; Flotilla has no such kind,
//! so a pod's revision is only its `controller-revision-hash` label, computed with
//! [`template_hash`]. History cleanup (`revisionHistoryLimit`) therefore has nothing to do.

use std::collections::BTreeMap;

use flotilla_model::api::{
    find_untolerated_taint, Affinity, DaemonSet, DaemonSetStatus, DaemonSetUpdateStrategyType,
    Node, NodeAffinity, NodeSelector, NodeSelectorOperator, NodeSelectorRequirement,
    NodeSelectorTerm, Pod, PodPhase, PodSpec, PodTemplateSpec, TaintEffect, Toleration,
    TolerationOperator, NODE_FIELD_SELECTOR_KEY_NAME,
};
use flotilla_model::store::{DeleteOptions, ObjectKey, StoreError, WatchEvent};
use flotilla_model::{Duration, Kind, LabelSelector, Object, Time};
use flotilla_scheduler::plugins::node_affinity::RequiredNodeAffinity;
use flotilla_scheduler::plugins::taint_toleration::untolerated_do_not_schedule_taint;

use crate::claim::{claim_pods, controlled_pods};
use crate::controller::{
    get_typed, resolve_controller_ref, Action, Context, Controller, Lookup, ReconcileError,
};
use crate::pods::{available_at, is_pod_available, pod_from_template, template_hash};

/// The label holding the hash of the template revision a pod was made from
/// (apps/v1 `ControllerRevisionHashLabelKey`, `DefaultDaemonSetUniqueLabelKey`).
pub const CONTROLLER_REVISION_HASH_LABEL: &str = "controller-revision-hash";

/// The most pods one sync creates or deletes (daemon_controller.go `BurstReplicas`).
pub const BURST_REPLICAS: usize = 250;

/// The first delay before a failed daemon pod on a node is replaced again
/// (daemon_controller.go `NewDaemonSetsController`: `flowcontrol.NewBackOff(1s, 15min)`).
pub const FAILED_POD_BACKOFF_INITIAL: Duration = Duration::from_secs(1);

/// The longest delay before a failed daemon pod on a node is replaced again.
pub const FAILED_POD_BACKOFF_MAX: Duration = Duration::from_secs(15 * 60);

/// Taint keys of the tolerations every daemon pod gets (k8s.io/api/core/v1 well-known taints).
pub mod taints {
    /// The node's Ready condition is not `True`.
    pub const NOT_READY: &str = "node.kubernetes.io/not-ready";
    /// The node controller cannot reach the node.
    pub const UNREACHABLE: &str = "node.kubernetes.io/unreachable";
    /// The node reports disk pressure.
    pub const DISK_PRESSURE: &str = "node.kubernetes.io/disk-pressure";
    /// The node reports memory pressure.
    pub const MEMORY_PRESSURE: &str = "node.kubernetes.io/memory-pressure";
    /// The node reports PID pressure.
    pub const PID_PRESSURE: &str = "node.kubernetes.io/pid-pressure";
    /// The node is cordoned (`spec.unschedulable`).
    pub const UNSCHEDULABLE: &str = "node.kubernetes.io/unschedulable";
    /// The node's network is not configured.
    pub const NETWORK_UNAVAILABLE: &str = "node.kubernetes.io/network-unavailable";
}

/// The DaemonSet controller. See the [module docs](self).
#[derive(Debug, Default)]
pub struct DaemonSetController {
    /// Back-off of failed-pod replacement per `<uid>/<observedGeneration>/<node>`
    /// (daemon_controller.go `failedPodsBackoff`, `failedPodsBackoffKey`).
    failed_pods_backoff: BTreeMap<String, Backoff>,
}

/// One entry of client-go's `flowcontrol.Backoff`.
#[derive(Clone, Copy, Debug)]
struct Backoff {
    delay: Duration,
    last_update: Time,
}

impl DaemonSetController {
    /// A controller with no back-off history.
    pub fn new() -> DaemonSetController {
        DaemonSetController::default()
    }

    /// flowcontrol.Backoff `IsInBackOffSinceUpdate`: the delay, if `key` is still backing off.
    fn in_backoff(&self, key: &str, now: Time) -> Option<Duration> {
        let entry = self.failed_pods_backoff.get(key)?;
        let since = now.saturating_duration_since(entry.last_update);
        (!backoff_expired(entry, now) && since < entry.delay).then_some(entry.delay)
    }

    /// flowcontrol.Backoff `Next`: start at the initial delay, or double up to the maximum.
    fn next_backoff(&mut self, key: &str, now: Time) {
        let entry = self
            .failed_pods_backoff
            .entry(key.to_string())
            .or_insert(Backoff {
                delay: Duration::ZERO,
                last_update: now,
            });
        entry.delay = if entry.delay.is_zero() || backoff_expired(entry, now) {
            FAILED_POD_BACKOFF_INITIAL
        } else {
            (entry.delay * 2).min(FAILED_POD_BACKOFF_MAX)
        };
        entry.last_update = now;
    }
}

/// flowcontrol.Backoff `hasExpired`: unused for more than twice the maximum delay.
fn backoff_expired(entry: &Backoff, now: Time) -> bool {
    now.saturating_duration_since(entry.last_update) > FAILED_POD_BACKOFF_MAX * 2
}

/// Adds the tolerations Kubernetes gives every daemon pod, replacing a toleration of the same
/// key, operator, value and effect (daemonset_util.go `AddOrUpdateDaemonPodTolerations`,
/// v1helper `AddOrUpdateTolerationInPodSpec`): `not-ready` and `unreachable` `NoExecute`
/// without `tolerationSeconds` (so a daemon pod is never evicted for them), the
/// disk/memory/PID-pressure and `unschedulable` `NoSchedule` taints, and
/// `network-unavailable` `NoSchedule` for host-network pods.
pub fn add_daemon_pod_tolerations(spec: &mut PodSpec) {
    let mut wanted = vec![
        (taints::NOT_READY, TaintEffect::NoExecute),
        (taints::UNREACHABLE, TaintEffect::NoExecute),
        (taints::DISK_PRESSURE, TaintEffect::NoSchedule),
        (taints::MEMORY_PRESSURE, TaintEffect::NoSchedule),
        (taints::PID_PRESSURE, TaintEffect::NoSchedule),
        (taints::UNSCHEDULABLE, TaintEffect::NoSchedule),
    ];
    if spec.host_network {
        wanted.push((taints::NETWORK_UNAVAILABLE, TaintEffect::NoSchedule));
    }
    for (key, effect) in wanted {
        let toleration = Toleration {
            key: key.to_string(),
            operator: Some(TolerationOperator::Exists),
            value: String::new(),
            effect: Some(effect),
            toleration_seconds: None,
        };
        // v1 Toleration.MatchToleration: same key, operator, value and effect.
        let same = |t: &Toleration| {
            t.key == toleration.key
                && t.operator.unwrap_or_default() == TolerationOperator::Exists
                && t.value == toleration.value
                && t.effect == toleration.effect
        };
        match spec.tolerations.iter_mut().find(|t| same(t)) {
            Some(existing) => *existing = toleration,
            None => spec.tolerations.push(toleration),
        }
    }
}

/// `affinity` with its required node affinity replaced by the single term
/// `matchFields metadata.name In [node]`, so that the scheduler can only place the pod on
/// `node` (daemonset_util.go `ReplaceDaemonSetPodNodeNameNodeAffinity`). Preferred terms and
/// pod (anti-)affinity are kept; the old required terms are dropped, which is safe because the
/// controller has already checked that `node` satisfies them.
pub fn replace_node_name_node_affinity(affinity: Option<Affinity>, node: &str) -> Affinity {
    let term = NodeSelectorTerm {
        match_expressions: Vec::new(),
        match_fields: vec![NodeSelectorRequirement {
            key: NODE_FIELD_SELECTOR_KEY_NAME.to_string(),
            operator: NodeSelectorOperator::In,
            values: vec![node.to_string()],
        }],
    };
    let mut affinity = affinity.unwrap_or_default();
    let node_affinity = affinity
        .node_affinity
        .get_or_insert_with(NodeAffinity::default);
    node_affinity.required_during_scheduling_ignored_during_execution = Some(NodeSelector {
        node_selector_terms: vec![term],
    });
    affinity
}

/// The node a daemon pod runs on or is meant for: its `nodeName`, else the value of its
/// required `matchFields metadata.name In [...]` requirement (daemonset_util.go
/// `GetTargetNodeName`). `None` when neither says.
pub fn target_node_name(pod: &Pod) -> Option<String> {
    if !pod.spec.node_name.is_empty() {
        return Some(pod.spec.node_name.clone());
    }
    let required = pod
        .spec
        .affinity
        .as_ref()?
        .node_affinity
        .as_ref()?
        .required_during_scheduling_ignored_during_execution
        .as_ref()?;
    for term in &required.node_selector_terms {
        for req in &term.match_fields {
            if req.key == NODE_FIELD_SELECTOR_KEY_NAME && req.operator == NodeSelectorOperator::In {
                // GetTargetNodeName: exactly one value, else an error.
                return match req.values.as_slice() {
                    [one] => Some(one.clone()),
                    _ => None,
                };
            }
        }
    }
    None
}

/// The template of the DaemonSet's pods with the daemon tolerations added and the revision
/// hash label set (daemonset_util.go `CreatePodTemplate`).
pub fn daemon_pod_template(ds: &DaemonSet, hash: &str) -> PodTemplateSpec {
    let mut template = ds.spec.template.clone();
    add_daemon_pod_tolerations(&mut template.spec);
    if !hash.is_empty() {
        template
            .metadata
            .labels
            .insert(CONTROLLER_REVISION_HASH_LABEL.to_string(), hash.to_string());
    }
    template
}

/// Where a DaemonSet's pods may run, computed once per reconcile from its template
/// (daemon_controller.go `NodeShouldRunDaemonPod` and `predicates`, with the pod of `NewPod`).
#[derive(Clone, Debug)]
pub struct DaemonPlacement {
    node_name: String,
    affinity: RequiredNodeAffinity,
    tolerations: Vec<Toleration>,
}

impl DaemonPlacement {
    /// The placement rules of `ds`'s pods.
    pub fn new(ds: &DaemonSet) -> DaemonPlacement {
        // daemon_controller.go NewPod: the template plus the daemon tolerations.
        let mut pod = Pod {
            metadata: ds.spec.template.metadata.clone(),
            spec: ds.spec.template.spec.clone().into(),
            status: Default::default(),
        };
        add_daemon_pod_tolerations(&mut pod.spec);
        DaemonPlacement {
            node_name: ds.spec.template.spec.node_name.clone(),
            affinity: RequiredNodeAffinity::from_pod(&pod),
            tolerations: pod.spec.into_inner().tolerations,
        }
    }

    /// `(shouldRun, shouldContinueRunning)` for `node` (daemon_controller.go
    /// `NodeShouldRunDaemonPod`): a daemon pod should run on a node whose name, labels and
    /// `NoSchedule`/`NoExecute` taints it fits; one already there may keep running on a node
    /// whose only untolerated taints are `NoSchedule`.
    pub fn should_run(&self, node: &Node) -> (bool, bool) {
        if !(self.node_name.is_empty() || self.node_name == node.metadata.name) {
            return (false, false);
        }
        if !self.affinity.matches(node) {
            return (false, false);
        }
        if untolerated_do_not_schedule_taint(node, &self.tolerations).is_some() {
            // Scheduled daemon pods keep running if they tolerate the NoExecute taints.
            let untolerated_no_execute =
                find_untolerated_taint(&node.spec.taints, &self.tolerations, |t| {
                    t.effect == TaintEffect::NoExecute
                });
            return (false, untolerated_no_execute.is_none());
        }
        (true, true)
    }
}

/// The DaemonSet's selector; a DaemonSet without one selects its template's labels (the
/// extensions/v1beta1 default).
fn selector_of(ds: &DaemonSet) -> LabelSelector {
    ds.spec.selector.clone().unwrap_or_else(|| LabelSelector {
        match_labels: (*ds.spec.template.metadata.labels).clone(),
        ..Default::default()
    })
}

/// daemon_controller.go `podByCreationTimestampAndPhase`: bound pods first, then oldest
/// first, then by name.
fn sort_by_creation_and_phase(pods: &mut [Pod]) {
    pods.sort_by(|a, b| {
        a.spec
            .node_name
            .is_empty()
            .cmp(&b.spec.node_name.is_empty())
            .then(
                a.metadata
                    .creation_timestamp
                    .cmp(&b.metadata.creation_timestamp),
            )
            .then_with(|| a.metadata.name.cmp(&b.metadata.name))
    });
}

/// podutil `IsPodReady`.
fn is_ready(pod: &Pod) -> bool {
    pod.is_ready()
}

/// daemonset_util.go `IsPodUpdated` (the hash half; Flotilla's API server does not keep the
/// deprecated `daemonset.template.generation` annotation).
fn is_updated(pod: &Pod, hash: &str) -> bool {
    !hash.is_empty()
        && pod
            .metadata
            .labels
            .get(CONTROLLER_REVISION_HASH_LABEL)
            .is_some_and(|h| h == hash)
}

/// The nodes, in name order.
fn list_nodes(ctx: &Context<'_>) -> Vec<Node> {
    ctx.store
        .iter_kind(Kind::Node)
        .filter_map(|o| match &**o {
            Object::Node(n) => Some((**n).clone()),
            _ => None,
        })
        .collect()
}

/// daemon_controller.go `getNodesToDaemonPods(ds, includeDeletedTerminal=false)`: the claimed
/// pods by target node, leaving out finished pods already being deleted and pods whose node
/// cannot be told.
fn nodes_to_daemon_pods(pods: &[Pod]) -> BTreeMap<String, Vec<Pod>> {
    let mut map: BTreeMap<String, Vec<Pod>> = BTreeMap::new();
    for pod in pods {
        if pod.phase().is_terminal() && pod.metadata.deletion_timestamp.is_some() {
            continue;
        }
        if let Some(node) = target_node_name(pod) {
            map.entry(node).or_default().push(pod.clone());
        }
    }
    map
}

/// What one sync decided: the nodes to create a pod for and the pods to delete.
#[derive(Debug, Default)]
struct Plan {
    create_on: Vec<String>,
    delete: Vec<String>,
    requeue: Action,
}

/// The resolved rolling-update limits (update.go `updatedDesiredNodeCounts`).
struct Limits {
    max_surge: usize,
    max_unavailable: usize,
    desired: usize,
}

impl DaemonSetController {
    /// daemon_controller.go `podsShouldBeOnNode` for every node, plus
    /// `getUnscheduledPodsWithoutNode`.
    fn manage(
        &mut self,
        ds: &DaemonSet,
        nodes: &[Node],
        placement: &DaemonPlacement,
        by_node: &BTreeMap<String, Vec<Pod>>,
        hash: &str,
        ctx: &mut Context<'_>,
    ) -> Plan {
        let mut plan = Plan::default();
        let surge = allows_surge(ds);
        for node in nodes {
            let (should_run, should_continue) = placement.should_run(node);
            let pods = by_node.get(&node.metadata.name);
            let exists = pods.is_some();
            if should_run && !exists {
                plan.create_on.push(node.metadata.name.clone());
            } else if should_continue {
                let mut running = Vec::new();
                for pod in pods.into_iter().flatten() {
                    if pod.metadata.deletion_timestamp.is_some() {
                        continue;
                    }
                    match pod.phase() {
                        PodPhase::Failed => {
                            // A kubelet rejecting the pod makes this a hot loop; back off per
                            // node (podsShouldBeOnNode, failedPodsBackoff).
                            let key = format!(
                                "{}/{}/{}",
                                ds.metadata.uid, ds.status.observed_generation, node.metadata.name
                            );
                            if let Some(delay) = self.in_backoff(&key, ctx.now) {
                                plan.requeue = plan.requeue.min(Action::requeue(delay));
                                continue;
                            }
                            self.next_backoff(&key, ctx.now);
                            let ds_key = key_of(ds);
                            ctx.warning(
                                &ds_key,
                                "FailedDaemonPod",
                                format!(
                                    "Found failed daemon pod {}/{} on node {}, will try to kill it",
                                    pod.metadata.namespace, pod.metadata.name, node.metadata.name
                                ),
                            );
                            plan.delete.push(pod.metadata.name.clone());
                        }
                        // A daemon pod that succeeded is gone for good: replace it.
                        PodPhase::Succeeded => plan.delete.push(pod.metadata.name.clone()),
                        _ => running.push(pod.clone()),
                    }
                }
                if running.len() <= 1 {
                    continue;
                }
                sort_by_creation_and_phase(&mut running);
                if !surge {
                    // More than one pod on the node: keep the oldest.
                    plan.delete
                        .extend(running[1..].iter().map(|p| p.metadata.name.clone()));
                    continue;
                }
                // With surge, one old and one new pod may share a node until the new one is
                // available; anything beyond the oldest of each goes.
                let mut oldest_new: Option<&Pod> = None;
                let mut oldest_old: Option<&Pod> = None;
                for pod in &running {
                    let slot = if is_updated(pod, hash) {
                        &mut oldest_new
                    } else {
                        &mut oldest_old
                    };
                    if slot.is_none() {
                        *slot = Some(pod);
                    } else {
                        plan.delete.push(pod.metadata.name.clone());
                    }
                }
                if let (Some(new), Some(old)) = (oldest_new, oldest_old) {
                    if !is_ready(old) || is_pod_available(new, ds.spec.min_ready_seconds, ctx.now) {
                        plan.delete.push(old.metadata.name.clone());
                    }
                }
            } else if exists {
                // The node should not run a daemon pod: delete every one there.
                for pod in pods.into_iter().flatten() {
                    if pod.metadata.deletion_timestamp.is_none() {
                        plan.delete.push(pod.metadata.name.clone());
                    }
                }
            }
        }
        // Unbound pods meant for nodes that no longer exist are never scheduled, and the pod
        // GC only collects bound ones: delete them here.
        for (node, pods) in by_node {
            if nodes.iter().any(|n| &n.metadata.name == node) {
                continue;
            }
            for pod in pods {
                if pod.spec.node_name.is_empty() && pod.metadata.deletion_timestamp.is_none() {
                    plan.delete.push(pod.metadata.name.clone());
                }
            }
        }
        plan
    }

    /// update.go `updatedDesiredNodeCounts`.
    fn limits(
        ds: &DaemonSet,
        nodes: &[Node],
        placement: &DaemonPlacement,
        by_node: &mut BTreeMap<String, Vec<Pod>>,
    ) -> Limits {
        let mut desired = 0usize;
        for node in nodes {
            if placement.should_run(node).0 {
                desired += 1;
                by_node.entry(node.metadata.name.clone()).or_default();
            }
        }
        let total = i32::try_from(desired).unwrap_or(i32::MAX);
        let rolling = ds.spec.update_strategy.rolling_update.as_ref();
        // daemonset_util.go UnavailableCount and SurgeCount: percentages round up.
        let scaled = |v: Option<&flotilla_model::IntOrString>| {
            v.and_then(|v| v.scaled_value(total, true))
                .map_or(0, |v| usize::try_from(v).unwrap_or(0))
        };
        let mut max_unavailable = scaled(rolling.and_then(|r| r.max_unavailable.as_ref()));
        let max_surge = scaled(rolling.and_then(|r| r.max_surge.as_ref()));
        // An impossible configuration falls back to one unavailable pod.
        if desired > 0 && max_unavailable == 0 && max_surge == 0 {
            max_unavailable = 1;
        }
        Limits {
            max_surge,
            max_unavailable,
            desired,
        }
    }

    /// update.go `rollingUpdate`.
    fn rolling_update(
        ds: &DaemonSet,
        nodes: &[Node],
        placement: &DaemonPlacement,
        mut by_node: BTreeMap<String, Vec<Pod>>,
        hash: &str,
        now: Time,
    ) -> Plan {
        let limits = Self::limits(ds, nodes, placement, &mut by_node);
        let min_ready = ds.spec.min_ready_seconds;
        let available = |p: &Pod| is_pod_available(p, min_ready, now);
        let mut plan = Plan::default();
        if limits.max_surge == 0 {
            // Delete just enough old pods to stay within maxUnavailable; manage() creates
            // their replacements. Deleted pods do not count as unavailable.
            let mut unavailable = 0usize;
            let mut replacements = Vec::new();
            let mut candidates = Vec::new();
            for pods in by_node.values() {
                let Some((new, old)) = find_updated_pods_on_node(pods, hash) else {
                    // Excess pods: manage() trims them; count the node as unavailable.
                    unavailable += 1;
                    continue;
                };
                match (new, old) {
                    (None, None) | (Some(_), Some(_)) => unavailable += 1,
                    (Some(new), None) => {
                        if !available(new) {
                            unavailable += 1;
                        }
                    }
                    (None, Some(old)) => {
                        if !available(old) {
                            replacements.push(old.metadata.name.clone());
                            unavailable += 1;
                        } else if unavailable < limits.max_unavailable {
                            candidates.push(old.metadata.name.clone());
                        }
                    }
                }
            }
            let remaining = limits
                .max_unavailable
                .saturating_sub(unavailable)
                .min(candidates.len());
            plan.delete = replacements;
            plan.delete.extend(candidates.into_iter().take(remaining));
            return plan;
        }

        // Surge: start a new pod beside an old one, delete the old once the new is available.
        let mut should_not_run = Vec::new();
        let mut candidate_nodes = Vec::new();
        let mut allowed_nodes = Vec::new();
        let mut surging = 0usize;
        let mut num_available = 0usize;
        for (node_name, pods) in &by_node {
            let Some((new, old)) = find_updated_pods_on_node(pods, hash) else {
                surging += 1;
                continue;
            };
            if old.is_some_and(available) || new.is_some_and(available) {
                num_available += 1;
            }
            let node_should_run = || {
                nodes
                    .iter()
                    .find(|n| &n.metadata.name == node_name)
                    .is_some_and(|n| placement.should_run(n).0)
            };
            match (new, old) {
                (_, None) => {}
                (None, Some(old)) => {
                    if !available(old) {
                        if !node_should_run() {
                            plan.delete.push(old.metadata.name.clone());
                            continue;
                        }
                        allowed_nodes.push(node_name.clone());
                    } else {
                        if !node_should_run() {
                            should_not_run.push(old.metadata.name.clone());
                            continue;
                        }
                        if surging >= limits.max_surge {
                            continue;
                        }
                        candidate_nodes.push(node_name.clone());
                    }
                }
                (Some(new), Some(old)) => {
                    if !available(new) {
                        surging += 1;
                        continue;
                    }
                    plan.delete.push(old.metadata.name.clone());
                }
            }
        }
        // With surge the owner expects full availability: a pod on a node that should no
        // longer run one goes only when another has become available elsewhere.
        let deletable = num_available
            .saturating_sub(limits.desired)
            .min(should_not_run.len());
        plan.delete
            .extend(should_not_run.into_iter().take(deletable));
        let remaining = limits
            .max_surge
            .saturating_sub(surging)
            .min(candidate_nodes.len());
        plan.create_on = allowed_nodes;
        plan.create_on
            .extend(candidate_nodes.into_iter().take(remaining));
        plan
    }

    /// daemon_controller.go `syncNodes`: delete, then create pods (at most
    /// [`BURST_REPLICAS`] of each). Returns whether anything was written.
    fn sync_nodes(
        ds: &DaemonSet,
        plan: &Plan,
        hash: &str,
        ctx: &mut Context<'_>,
    ) -> Result<bool, ReconcileError> {
        let ds_key = key_of(ds);
        let mut wrote = false;
        let template = daemon_pod_template(ds, hash);
        let generate_name = format!("{}-", ds.metadata.name);
        // Kubernetes creates in slow-start batches (1, 2, 4, …) and stops at the first batch
        // with a failure; in-memory creates either all succeed or fail at once, so creating
        // one by one and stopping at the first error gives the same result.
        for node in plan.create_on.iter().take(BURST_REPLICAS) {
            let mut pod_template = template.clone();
            pod_template.spec.affinity = Some(replace_node_name_node_affinity(
                pod_template.spec.affinity.take(),
                node,
            ));
            let pod = pod_from_template(
                &pod_template,
                Kind::DaemonSet,
                &ds.metadata,
                &generate_name,
                None,
            );
            match ctx.store.create(pod.into(), ctx.now) {
                Ok(created) => {
                    wrote = true;
                    let name = created.metadata().name.clone();
                    // controller_utils.go RealPodControl.CreatePods.
                    ctx.normal(&ds_key, "SuccessfulCreate", format!("Created pod: {name}"));
                }
                Err(e) => {
                    ctx.warning(&ds_key, "FailedCreate", format!("Error creating: {e}"));
                    return Err(e.into());
                }
            }
        }
        let mut deleted = std::collections::BTreeSet::new();
        for name in plan.delete.iter().take(BURST_REPLICAS) {
            if !deleted.insert(name.clone()) {
                continue;
            }
            match ctx.store.delete(
                Kind::Pod,
                &ds.metadata.namespace,
                name,
                &DeleteOptions::default(),
                ctx.now,
            ) {
                Ok(_) => {
                    wrote = true;
                    ctx.normal(&ds_key, "SuccessfulDelete", format!("Deleted pod: {name}"));
                }
                Err(StoreError::NotFound { .. }) => {}
                Err(e) => {
                    ctx.warning(&ds_key, "FailedDelete", format!("Error deleting: {e}"));
                    return Err(e.into());
                }
            }
        }
        Ok(wrote)
    }

    /// daemon_controller.go `updateDaemonSetStatus` (`storeDaemonSetStatus`): counts from
    /// the nodes and pods, written only when they changed. Returns when a pod next becomes
    /// available, for a requeue.
    fn update_status(
        ds: &DaemonSet,
        nodes: &[Node],
        placement: &DaemonPlacement,
        by_node: &BTreeMap<String, Vec<Pod>>,
        hash: &str,
        ctx: &mut Context<'_>,
    ) -> Result<Option<Time>, ReconcileError> {
        let min_ready = ds.spec.min_ready_seconds;
        let mut status = DaemonSetStatus {
            observed_generation: ds.metadata.generation,
            collision_count: ds.status.collision_count,
            conditions: ds.status.conditions.clone(),
            ..Default::default()
        };
        let mut wake: Option<Time> = None;
        for node in nodes {
            let (should_run, _) = placement.should_run(node);
            let pods = by_node.get(&node.metadata.name).filter(|p| !p.is_empty());
            if !should_run {
                if pods.is_some() {
                    status.number_misscheduled += 1;
                }
                continue;
            }
            status.desired_number_scheduled += 1;
            let Some(pods) = pods else {
                continue;
            };
            status.current_number_scheduled += 1;
            let mut pods = pods.clone();
            sort_by_creation_and_phase(&mut pods);
            let pod = &pods[0];
            if is_ready(pod) {
                status.number_ready += 1;
                if is_pod_available(pod, min_ready, ctx.now) {
                    status.number_available += 1;
                } else if let Some(at) = available_at(pod, min_ready, ctx.now) {
                    wake = Some(wake.map_or(at, |w| w.min(at)));
                }
            }
            if is_updated(pod, hash) {
                status.updated_number_scheduled += 1;
            }
        }
        status.number_unavailable = status.desired_number_scheduled - status.number_available;
        if status != ds.status {
            let mut fresh = ds.clone();
            fresh.status = status;
            ctx.store.update_status(fresh.into(), ctx.now)?;
        }
        Ok(wake)
    }
}

/// update.go `findUpdatedPodsOnNode`: the node's new and old pod, ignoring pods being
/// deleted; `None` when there is more than one of either.
fn find_updated_pods_on_node<'a>(
    pods: &'a [Pod],
    hash: &str,
) -> Option<(Option<&'a Pod>, Option<&'a Pod>)> {
    let mut new = None;
    let mut old = None;
    for pod in pods {
        if pod.metadata.deletion_timestamp.is_some() {
            continue;
        }
        let slot = if is_updated(pod, hash) {
            &mut new
        } else {
            &mut old
        };
        if slot.is_some() {
            return None;
        }
        *slot = Some(pod);
    }
    Some((new, old))
}

/// daemonset_util.go `AllowsSurge`: a rolling update with a non-zero `maxSurge`.
fn allows_surge(ds: &DaemonSet) -> bool {
    let strategy = &ds.spec.update_strategy;
    strategy.type_.unwrap_or_default() == DaemonSetUpdateStrategyType::RollingUpdate
        && strategy
            .rolling_update
            .as_ref()
            .and_then(|r| r.max_surge.as_ref())
            .and_then(|s| s.scaled_value(1, true))
            .is_some_and(|v| v != 0)
}

fn key_of(ds: &DaemonSet) -> ObjectKey {
    ObjectKey {
        kind: Kind::DaemonSet,
        namespace: ds.metadata.namespace.clone(),
        name: ds.metadata.name.clone(),
    }
}

impl Controller for DaemonSetController {
    fn name(&self) -> &'static str {
        "daemonset-controller"
    }

    fn watched_kinds(&self) -> &'static [Kind] {
        &[Kind::DaemonSet, Kind::Pod, Kind::Node]
    }

    fn keys_for_event(&self, event: &WatchEvent, lookup: Lookup<'_>) -> Vec<ObjectKey> {
        match &*event.object {
            Object::DaemonSet(_) => vec![ObjectKey::of(&event.object)],
            // daemon_controller.go addNode/updateNode/deleteNode: a node can change where
            // every DaemonSet's pods belong.
            Object::Node(_) => lookup
                .store
                .iter_kind(Kind::DaemonSet)
                .map(|o| ObjectKey::of(o))
                .collect(),
            Object::Pod(pod) => {
                let namespace = &pod.metadata.namespace;
                if let Some(r) = pod.metadata.controller_ref() {
                    // resolveControllerRef: the owner must be a DaemonSet with that uid.
                    return resolve_controller_ref(lookup.store, namespace, r, Kind::DaemonSet)
                        .map(|ds| ObjectKey::of(&ds))
                        .into_iter()
                        .collect();
                }
                // An orphan wakes every DaemonSet that selects it, for adoption
                // (getDaemonSetsForPod).
                lookup
                    .store
                    .iter_namespace(Kind::DaemonSet, namespace)
                    .filter(|o| match &***o {
                        Object::DaemonSet(ds) => selector_of(ds).matches(&pod.metadata.labels),
                        _ => false,
                    })
                    .map(|o| ObjectKey::of(o))
                    .collect()
            }
            _ => Vec::new(),
        }
    }

    fn reconcile(
        &mut self,
        key: &ObjectKey,
        ctx: &mut Context<'_>,
    ) -> Result<Action, ReconcileError> {
        let Some(ds) = get_typed::<DaemonSet>(ctx.store, &key.namespace, &key.name) else {
            return Ok(Action::await_change());
        };
        // daemon_controller.go syncDaemonSet: nothing to do for a set being deleted.
        if ds.metadata.deletion_timestamp.is_some() {
            return Ok(Action::await_change());
        }
        let selector = selector_of(&ds);
        if selector.is_empty() {
            // An empty selector would select every pod of the namespace.
            ctx.warning(
                key,
                "SelectingAll",
                "This daemon set is selecting all pods. A non-empty selector is required."
                    .to_string(),
            );
            return Ok(Action::await_change());
        }
        // Forget back-off entries that have expired.
        let now = ctx.now;
        self.failed_pods_backoff
            .retain(|_, b| !backoff_expired(b, now));

        let hash = template_hash(&ds.spec.template, ds.status.collision_count);
        let nodes = list_nodes(ctx);
        let placement = DaemonPlacement::new(&ds);
        let matches = |p: &Pod| selector.matches(&p.metadata.labels);
        let pods: Vec<Pod> = claim_pods(ctx, Kind::DaemonSet, &ds.metadata, &|_| true, &matches)?
            .iter()
            .map(|p| p.pod().clone())
            .collect();
        let by_node = nodes_to_daemon_pods(&pods);

        let plan = self.manage(&ds, &nodes, &placement, &by_node, &hash, ctx);
        let mut action = plan.requeue;
        let mut wrote = Self::sync_nodes(&ds, &plan, &hash, ctx)?;
        // Kubernetes runs the update strategy only once the writes of manage() have been
        // observed (expectations); here they are the watch events that will requeue the key.
        if !wrote
            && ds.spec.update_strategy.type_.unwrap_or_default()
                == DaemonSetUpdateStrategyType::RollingUpdate
        {
            let plan =
                Self::rolling_update(&ds, &nodes, &placement, by_node.clone(), &hash, ctx.now);
            wrote = Self::sync_nodes(&ds, &plan, &hash, ctx)?;
        }

        // The status is counted from the pods as they are after this sync's writes (the owner
        // index has not seen them yet, so they are read from the store).
        let by_node = if wrote {
            nodes_to_daemon_pods(&controlled_pods(ctx, &ds.metadata))
        } else {
            by_node
        };
        if let Some(at) = Self::update_status(&ds, &nodes, &placement, &by_node, &hash, ctx)? {
            action = action.min(Action::requeue(at.saturating_duration_since(ctx.now)));
        }
        Ok(action)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pods::is_controlled_by;
    use crate::testing::Harness;
    use flotilla_model::api::Taint;
    use flotilla_model::ObjectMeta;
    use serde_json::json;

    const NS: &str = "default";

    fn harness() -> Harness {
        Harness::new(vec![Box::new(DaemonSetController::new())])
    }

    fn node(name: &str, labels: serde_json::Value, taints: Vec<Taint>) -> Node {
        let mut node: Node =
            serde_json::from_value(json!({"metadata": {"name": name, "labels": labels}})).unwrap();
        node.spec.taints = taints;
        node
    }

    fn daemon_set(name: &str, spec_extra: serde_json::Value) -> DaemonSet {
        let mut ds: DaemonSet = serde_json::from_value(json!({
            "metadata": {"name": name, "namespace": NS},
            "spec": {
                "selector": {"matchLabels": {"app": name}},
                "template": {
                    "metadata": {"labels": {"app": name}},
                    "spec": {"containers": [{"name": "agent", "image": "agent:1"}]}
                }
            }
        }))
        .unwrap();
        let extra: PodSpec = serde_json::from_value(spec_extra).unwrap();
        ds.spec.template.spec.node_selector = extra.node_selector;
        ds.spec.template.spec.tolerations = extra.tolerations;
        ds
    }

    fn stored(h: &Harness, name: &str) -> DaemonSet {
        h.stored(NS, name)
    }

    /// The live (not terminating) pods by target node.
    fn live_by_node(h: &Harness) -> BTreeMap<String, Vec<Pod>> {
        let mut map: BTreeMap<String, Vec<Pod>> = BTreeMap::new();
        for pod in h.pods(NS) {
            if pod.metadata.deletion_timestamp.is_none() {
                map.entry(target_node_name(&pod).unwrap())
                    .or_default()
                    .push((*pod).clone());
            }
        }
        map
    }

    /// Plays the scheduler and the kubelets: binds every unbound pod to the node of its
    /// affinity and makes it running and ready.
    fn run_pods(h: &mut Harness) {
        for pod in h.pods(NS) {
            if pod.metadata.deletion_timestamp.is_some() || pod.phase().is_terminal() {
                continue;
            }
            if pod.spec.node_name.is_empty() {
                let node = target_node_name(&pod).unwrap();
                h.bind(NS, &pod.metadata.name, &node);
            }
            if !pod.is_ready() {
                h.set_pod_status(NS, &pod.metadata.name, PodPhase::Running, true);
            }
        }
    }

    fn nodes_of(map: &BTreeMap<String, Vec<Pod>>) -> Vec<&str> {
        map.keys().map(String::as_str).collect()
    }

    #[test]
    fn one_pod_per_eligible_node_respecting_selector_and_taints() {
        let mut h = harness();
        let worker = json!({"role": "worker"});
        h.apply(node("n1", worker.clone(), vec![])).unwrap();
        h.apply(node(
            "n2",
            worker.clone(),
            vec![Taint::new("dedicated", "db", TaintEffect::NoSchedule)],
        ))
        .unwrap();
        h.apply(node(
            "n3",
            worker.clone(),
            vec![Taint::new("gpu", "", TaintEffect::NoExecute)],
        ))
        .unwrap();
        // Cordoned: daemon pods tolerate node.kubernetes.io/unschedulable.
        h.apply(node(
            "n4",
            worker,
            vec![Taint::new(
                taints::UNSCHEDULABLE,
                "",
                TaintEffect::NoSchedule,
            )],
        ))
        .unwrap();
        h.apply(node("n5", json!({"role": "edge"}), vec![]))
            .unwrap();
        let ds = daemon_set(
            "agent",
            json!({
                "nodeSelector": {"role": "worker"},
                "tolerations": [{"key": "gpu", "operator": "Exists"}]
            }),
        );
        h.apply(ds).unwrap();

        let by_node = live_by_node(&h);
        assert_eq!(nodes_of(&by_node), ["n1", "n3", "n4"]);
        let ds = stored(&h, "agent");
        let hash = template_hash(&ds.spec.template, None);
        for (node, pods) in &by_node {
            assert_eq!(pods.len(), 1);
            let pod = &pods[0];
            assert!(
                pod.spec.node_name.is_empty(),
                "left for the scheduler to bind"
            );
            assert!(pod.metadata.name.starts_with("agent-"));
            assert_eq!(pod.metadata.labels[CONTROLLER_REVISION_HASH_LABEL], hash);
            assert!(is_controlled_by(&pod.metadata, &ds.metadata.uid));
            let required = pod
                .spec
                .affinity
                .as_ref()
                .and_then(|a| a.node_affinity.as_ref())
                .and_then(|n| {
                    n.required_during_scheduling_ignored_during_execution
                        .as_ref()
                })
                .unwrap();
            assert_eq!(required.node_selector_terms.len(), 1);
            assert_eq!(
                required.node_selector_terms[0].match_fields[0].values,
                std::slice::from_ref(node)
            );
            let tolerated: Vec<&str> = pod
                .spec
                .tolerations
                .iter()
                .map(|t| t.key.as_str())
                .collect();
            for key in [
                taints::NOT_READY,
                taints::UNREACHABLE,
                taints::UNSCHEDULABLE,
                "gpu",
            ] {
                assert!(tolerated.contains(&key), "{key} in {tolerated:?}");
            }
            assert!(!tolerated.contains(&taints::NETWORK_UNAVAILABLE));
        }
        let events: Vec<_> = h
            .recorder
            .events()
            .filter(|e| e.reason == "SuccessfulCreate")
            .map(|e| e.message.clone())
            .collect();
        assert_eq!(events.len(), 3);
        assert!(events[0].starts_with("Created pod: agent-"));

        assert_eq!(ds.status.desired_number_scheduled, 3);
        assert_eq!(ds.status.current_number_scheduled, 3);
        assert_eq!(ds.status.number_ready, 0);
        assert_eq!(ds.status.number_unavailable, 3);
        run_pods(&mut h);
        let status = stored(&h, "agent").status;
        assert_eq!(status.number_ready, 3);
        assert_eq!(status.number_available, 3);
        assert_eq!(status.updated_number_scheduled, 3);
        assert_eq!(status.number_unavailable, 0);
        assert_eq!(status.observed_generation, 1);
    }

    #[test]
    fn a_new_node_gets_a_pod_and_a_relabelled_node_loses_it() {
        let mut h = harness();
        h.apply(node("n1", json!({"role": "worker"}), vec![]))
            .unwrap();
        h.apply(daemon_set(
            "agent",
            json!({"nodeSelector": {"role": "worker"}}),
        ))
        .unwrap();
        run_pods(&mut h);
        assert_eq!(nodes_of(&live_by_node(&h)), ["n1"]);

        h.apply(node("n2", json!({"role": "worker"}), vec![]))
            .unwrap();
        assert_eq!(nodes_of(&live_by_node(&h)), ["n1", "n2"]);
        run_pods(&mut h);
        assert_eq!(stored(&h, "agent").status.number_available, 2);

        // n1 stops being a worker: its (bound) pod is deleted and starts terminating.
        h.apply(node("n1", json!({"role": "db"}), vec![])).unwrap();
        assert_eq!(nodes_of(&live_by_node(&h)), ["n2"]);
        let status = stored(&h, "agent").status;
        assert_eq!(status.desired_number_scheduled, 1);
        assert_eq!(
            status.number_misscheduled, 1,
            "the terminating pod still runs on n1"
        );
        h.finish_all_deletions(NS);
        assert_eq!(h.pods(NS).len(), 1);
        assert_eq!(stored(&h, "agent").status.number_misscheduled, 0);
        assert!(h.recorder.events().any(
            |e| e.reason == "SuccessfulDelete" && e.message.starts_with("Deleted pod: agent-")
        ));
    }

    #[test]
    fn a_no_execute_taint_evicts_and_a_no_schedule_taint_keeps_running_pods() {
        let mut h = harness();
        h.apply(node("n1", json!({}), vec![])).unwrap();
        h.apply(node("n2", json!({}), vec![])).unwrap();
        h.apply(daemon_set("agent", json!({}))).unwrap();
        run_pods(&mut h);
        h.apply(node(
            "n1",
            json!({}),
            vec![Taint::new("maintenance", "", TaintEffect::NoSchedule)],
        ))
        .unwrap();
        h.apply(node(
            "n2",
            json!({}),
            vec![Taint::new("broken", "", TaintEffect::NoExecute)],
        ))
        .unwrap();
        // shouldContinueRunning: NoSchedule keeps the running pod, NoExecute removes it.
        assert_eq!(nodes_of(&live_by_node(&h)), ["n1"]);
        let status = stored(&h, "agent").status;
        assert_eq!(status.desired_number_scheduled, 0);
        assert_eq!(status.number_misscheduled, 2);
    }

    #[test]
    fn a_rolling_update_with_max_unavailable_one_replaces_one_node_at_a_time() {
        let mut h = harness();
        for n in ["n1", "n2", "n3"] {
            h.apply(node(n, json!({}), vec![])).unwrap();
        }
        h.apply(daemon_set("agent", json!({}))).unwrap();
        run_pods(&mut h);
        let old_hash = template_hash(&stored(&h, "agent").spec.template, None);

        let mut ds = stored(&h, "agent");
        ds.spec.template.spec.containers[0].image = "agent:2".into();
        h.apply(ds).unwrap();
        let new_hash = template_hash(&stored(&h, "agent").spec.template, None);
        assert_ne!(old_hash, new_hash);

        let mut replaced = Vec::new();
        for _ in 0..3 {
            // Exactly one old pod is being deleted; the other nodes still run old pods.
            let terminating: Vec<_> = h
                .pods(NS)
                .into_iter()
                .filter(|p| p.metadata.deletion_timestamp.is_some())
                .collect();
            assert_eq!(terminating.len(), 1);
            assert_eq!(
                terminating[0].metadata.labels[CONTROLLER_REVISION_HASH_LABEL],
                old_hash
            );
            let node = terminating[0].spec.node_name.clone();
            assert!(!replaced.contains(&node));
            // No replacement until the old pod is gone.
            assert!(!live_by_node(&h).contains_key(&node));
            h.finish_all_deletions(NS);
            let by_node = live_by_node(&h);
            let new_pod = &by_node[&node][0];
            assert_eq!(
                new_pod.metadata.labels[CONTROLLER_REVISION_HASH_LABEL],
                new_hash
            );
            // The new pod is not available yet, so nothing else is touched.
            assert!(h
                .pods(NS)
                .iter()
                .all(|p| p.metadata.deletion_timestamp.is_none()));
            replaced.push(node);
            run_pods(&mut h);
        }
        assert_eq!(replaced, ["n1", "n2", "n3"]);
        let status = stored(&h, "agent").status;
        assert_eq!(status.updated_number_scheduled, 3);
        assert_eq!(status.number_available, 3);
        assert_eq!(h.pods(NS).len(), 3);
    }

    #[test]
    fn on_delete_leaves_old_pods_until_someone_deletes_them() {
        let mut h = harness();
        h.apply(node("n1", json!({}), vec![])).unwrap();
        let mut ds = daemon_set("agent", json!({}));
        ds.spec.update_strategy.type_ = Some(DaemonSetUpdateStrategyType::OnDelete);
        h.apply(ds).unwrap();
        run_pods(&mut h);
        let mut ds = stored(&h, "agent");
        ds.spec.template.spec.containers[0].image = "agent:2".into();
        h.apply(ds).unwrap();
        let old = h.pods(NS)[0].clone();
        assert!(old.metadata.deletion_timestamp.is_none());
        assert_eq!(stored(&h, "agent").status.updated_number_scheduled, 0);

        h.store
            .delete(
                Kind::Pod,
                NS,
                &old.metadata.name,
                &DeleteOptions::default(),
                h.now,
            )
            .unwrap();
        h.finish_all_deletions(NS);
        let pods = h.pods(NS);
        assert_eq!(pods.len(), 1);
        assert_ne!(pods[0].metadata.name, old.metadata.name);
        let new_hash = template_hash(&stored(&h, "agent").spec.template, None);
        assert_eq!(
            pods[0].metadata.labels[CONTROLLER_REVISION_HASH_LABEL],
            new_hash
        );
    }

    #[test]
    fn duplicate_pods_on_a_node_are_trimmed_to_the_oldest() {
        let mut h = harness();
        h.apply(node("n1", json!({}), vec![])).unwrap();
        h.apply(daemon_set("agent", json!({}))).unwrap();
        run_pods(&mut h);
        let original = h.pods(NS)[0].clone();

        // Someone creates a second matching pod for n1; the controller adopts it and, as it
        // is unbound and newer, deletes it.
        h.advance(Duration::from_secs(5));
        let mut extra = (*original).clone();
        extra.metadata = ObjectMeta::named(NS, "agent-extra");
        extra.metadata.labels = original.metadata.labels.clone();
        extra.spec.node_name.clear();
        extra.status = Default::default();
        h.apply(extra).unwrap();

        let pods = h.pods(NS);
        assert_eq!(pods.len(), 1);
        assert_eq!(pods[0].metadata.name, original.metadata.name);
        assert!(h
            .recorder
            .events()
            .any(|e| e.reason == "SuccessfulDelete" && e.message == "Deleted pod: agent-extra"));
    }

    #[test]
    fn a_failed_pod_is_replaced_with_back_off() {
        let mut h = harness();
        h.apply(node("n1", json!({}), vec![])).unwrap();
        h.apply(daemon_set("agent", json!({}))).unwrap();
        run_pods(&mut h);
        let first = h.pods(NS)[0].metadata.name.clone();

        h.set_pod_status(NS, &first, PodPhase::Failed, false);
        let pods = h.pods(NS);
        assert_eq!(pods.len(), 1);
        let second = pods[0].metadata.name.clone();
        assert_ne!(second, first, "the failed pod was replaced");
        assert!(h
            .recorder
            .events()
            .any(|e| e.reason == "FailedDaemonPod" && e.message.contains(&first)));

        // The replacement fails at once: it stays until the 1 s back-off has passed.
        run_pods(&mut h);
        h.set_pod_status(NS, &second, PodPhase::Failed, false);
        assert_eq!(h.pods(NS)[0].metadata.name, second);
        assert!(h.advance_to_next_wakeup(Duration::from_secs(2)));
        let pods = h.pods(NS);
        assert_eq!(pods.len(), 1);
        assert_ne!(pods[0].metadata.name, second);

        // And the next failure waits twice as long.
        let third = pods[0].metadata.name.clone();
        run_pods(&mut h);
        h.set_pod_status(NS, &third, PodPhase::Failed, false);
        h.advance(Duration::from_millis(1500));
        assert_eq!(h.pods(NS)[0].metadata.name, third);
        h.advance(Duration::from_millis(600));
        assert_ne!(h.pods(NS)[0].metadata.name, third);
    }

    #[test]
    fn unbound_pods_for_a_deleted_node_are_removed() {
        let mut h = harness();
        h.apply(node("n1", json!({}), vec![])).unwrap();
        h.apply(daemon_set("agent", json!({}))).unwrap();
        assert_eq!(h.pods(NS).len(), 1);
        h.store
            .delete(Kind::Node, "", "n1", &DeleteOptions::default(), h.now)
            .unwrap();
        h.settle();
        assert!(h.pods(NS).is_empty());
        let status = stored(&h, "agent").status;
        assert_eq!(status.desired_number_scheduled, 0);
        assert_eq!(status.current_number_scheduled, 0);
    }

    #[test]
    fn host_network_pods_tolerate_network_unavailable() {
        let mut spec = PodSpec {
            host_network: true,
            tolerations: vec![Toleration {
                key: taints::NOT_READY.into(),
                operator: Some(TolerationOperator::Exists),
                effect: Some(TaintEffect::NoExecute),
                toleration_seconds: Some(300),
                ..Default::default()
            }],
            ..Default::default()
        };
        add_daemon_pod_tolerations(&mut spec);
        assert_eq!(spec.tolerations.len(), 7);
        // The user's not-ready toleration is replaced by one without tolerationSeconds.
        assert_eq!(spec.tolerations[0].key, taints::NOT_READY);
        assert_eq!(spec.tolerations[0].toleration_seconds, None);
        assert!(spec
            .tolerations
            .iter()
            .any(|t| t.key == taints::NETWORK_UNAVAILABLE));
    }
}
