//! Node failure and self-healing: the node lifecycle controller, which notices nodes that
//! stopped talking and taints them, and the taint eviction controller, which deletes the pods
//! that do not tolerate those taints.
//!
//! [`NodeLifecycleController`] (pkg/controller/nodelifecycle/node_lifecycle_controller.go,
//! v1.34), per node:
//! - **health** (`tryUpdateNodeHealth`): a node silent for longer than
//!   `nodeMonitorGracePeriod` (50 s) gets `Ready` and the kubelet's other conditions set to
//!   `Unknown` (`NodeStatusUnknown`, "Kubelet stopped posting node status.") and its pods marked
//!   not ready (`MarkPodsNotReady`). The controller does not poll: the driver reports silence
//!   ([`Observations::silent_since`](crate::controller::Observations::silent_since)) and the
//!   controller requeues the node for the moment its grace period ends;
//! - **NoSchedule taints** (`doNoScheduleTaintingPass`): one per unhealthy condition
//!   (`not-ready`, `unreachable`, `memory-pressure`, …) and `unschedulable` for a cordoned node,
//!   added and removed at once;
//! - **NoExecute taints** (`processTaintBaseEviction`, `doNoExecuteTaintingPass`): a node whose
//!   `Ready` is `False` gets `node.kubernetes.io/not-ready:NoExecute`, one whose `Ready` is
//!   `Unknown` gets `node.kubernetes.io/unreachable:NoExecute` (with `timeAdded`), through a
//!   rate-limited queue per zone; a ready node loses both at once;
//! - **zones** (`ComputeZoneState`, `handleDisruption`, `setLimiterInZone`): each zone's
//!   tainting rate is `evictionLimiterQPS` (0.1/s) while it is `Normal` or `FullDisruption`,
//!   `secondaryEvictionLimiterQPS` (0.01/s) in `PartialDisruption` (at least 55% of more than two
//!   nodes not ready) when the zone has more than 50 nodes and 0 when it has fewer; when every
//!   zone is fully disrupted the controller assumes the problem is its own (the control plane
//!   lost the network, not every node at once), removes every NoExecute taint and stops tainting
//!   until some node is ready again. The rate limit is a token bucket of one token, kept as the
//!   time the next token comes; a node waiting for it is requeued for that time.
//!
//! [`TaintEvictionController`] (pkg/controller/tainteviction/taint_eviction.go): a pod on a
//! node with NoExecute taints it does not tolerate is deleted at once, after the
//! `DisruptionTarget` condition (`DeletionByTaintManager`); one that tolerates them all for a
//! limited time (`tolerationSeconds`, 300 s for the defaults admission adds) is deleted when the
//! shortest of those times has passed since its taint's `timeAdded`, unless the taint is gone by
//! then; one that tolerates them forever stays.

use std::collections::{BTreeMap, HashMap};

use flotilla_model::api::{
    ConditionStatus, Node, NodeCondition, Pod, PodCondition, Taint, TaintEffect, Toleration,
};
use flotilla_model::store::{DeleteOptions, ObjectKey, WatchEvent, WatchEventType};
use flotilla_model::{Duration, Kind, Object, Time};

use crate::cluster::{DEFAULT_NODE_MONITOR_GRACE_PERIOD, NODE_LIFECYCLE_CONTROLLER};
use crate::controller::{get_typed, Action, Context, Controller, Lookup, ReconcileError};
use crate::daemon_set::taints;
use crate::eviction::{pods_on_node, set_pod_condition};

/// The taint of a node being shut down or otherwise out of service: the pod garbage collector
/// force-deletes the terminating pods of a not-ready node that has it.
pub const TAINT_NODE_OUT_OF_SERVICE: &str = "node.kubernetes.io/out-of-service";

/// A node with this label does not count in its zone's health (node_lifecycle_controller.go
/// `labelNodeDisruptionExclusion`).
pub const LABEL_NODE_EXCLUDE_DISRUPTION: &str = "node.kubernetes.io/exclude-disruption";

/// The reason of a condition the controller set to `Unknown` for a silent kubelet.
pub const NODE_STATUS_UNKNOWN: &str = "NodeStatusUnknown";

/// The message of a condition the controller set to `Unknown` for a silent kubelet.
pub const NODE_STATUS_UNKNOWN_MESSAGE: &str = "Kubelet stopped posting node status.";

/// The reason of a condition the controller added as `Unknown` because the kubelet never
/// posted it.
pub const NODE_STATUS_NEVER_UPDATED: &str = "NodeStatusNeverUpdated";

/// Settings of the node lifecycle controller (kube-controller-manager's flags of the same
/// names).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct NodeLifecycleConfig {
    /// How long a node may be silent before it is considered unhealthy
    /// (`--node-monitor-grace-period`, 50 s since v1.32).
    pub node_monitor_grace_period: Duration,
    /// Nodes tainted NoExecute per second per zone (`--node-eviction-rate`, 0.1).
    pub eviction_limiter_qps: f64,
    /// The rate in a partially disrupted large zone (`--secondary-node-eviction-rate`, 0.01).
    pub secondary_eviction_limiter_qps: f64,
    /// Above this many nodes a zone is large (`--large-cluster-size-threshold`, 50).
    pub large_cluster_threshold: usize,
    /// The fraction of not-ready nodes that makes a zone partially disrupted
    /// (`--unhealthy-zone-threshold`, 0.55).
    pub unhealthy_zone_threshold: f64,
}

impl Default for NodeLifecycleConfig {
    fn default() -> Self {
        NodeLifecycleConfig {
            node_monitor_grace_period: DEFAULT_NODE_MONITOR_GRACE_PERIOD,
            eviction_limiter_qps: 0.1,
            secondary_eviction_limiter_qps: 0.01,
            large_cluster_threshold: 50,
            unhealthy_zone_threshold: 0.55,
        }
    }
}

/// The health of a zone (node_lifecycle_controller.go `ZoneState`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ZoneState {
    /// Seen for the first time.
    Initial,
    /// Some nodes may be down.
    Normal,
    /// Many nodes are down (at least the unhealthy threshold of more than two).
    PartialDisruption,
    /// No node is ready.
    FullDisruption,
}

/// One zone's NoExecute tainting queue (`RateLimitedTimedQueue` with a token bucket of burst 1).
#[derive(Clone, Debug)]
struct ZoneTainter {
    qps: f64,
    /// When the next token is available (`None`: never, at 0 QPS).
    next_token: Option<Time>,
    /// Nodes waiting to be tainted, first in first out.
    queue: Vec<String>,
}

impl ZoneTainter {
    fn new(qps: f64) -> ZoneTainter {
        ZoneTainter {
            qps,
            next_token: (qps > 0.0).then_some(Time::ZERO),
            queue: Vec::new(),
        }
    }

    /// The time one token takes, to the nanosecond.
    fn interval(qps: f64) -> Duration {
        Duration::from_nanos((1e9 / qps).round() as u64)
    }

    /// rate_limited_queue.go `SwapLimiter`: a new bucket, drained if the old one had no token
    /// left.
    fn swap_limiter(&mut self, qps: f64, now: Time) {
        if self.qps == qps {
            return;
        }
        let had_token = self.next_token.is_some_and(|t| t <= now);
        self.qps = qps;
        self.next_token = if qps <= 0.0 {
            None
        } else if had_token {
            Some(now)
        } else {
            Some(now.saturating_add(Self::interval(qps)))
        };
    }

    /// `TryAccept`.
    fn try_accept(&mut self, now: Time) -> bool {
        match self.next_token {
            Some(t) if t <= now => {
                self.next_token = Some(now.saturating_add(Self::interval(self.qps)));
                true
            }
            _ => false,
        }
    }

    fn add(&mut self, node: &str) {
        if !self.queue.iter().any(|n| n == node) {
            self.queue.push(node.to_string());
        }
    }

    fn remove(&mut self, node: &str) -> bool {
        let before = self.queue.len();
        self.queue.retain(|n| n != node);
        self.queue.len() != before
    }
}

/// The node lifecycle controller. See the [module docs](self).
#[derive(Debug)]
pub struct NodeLifecycleController {
    config: NodeLifecycleConfig,
    tainters: BTreeMap<String, ZoneTainter>,
    zone_states: BTreeMap<String, ZoneState>,
    /// When the controller last left "all zones fully disrupted": silent nodes get a fresh
    /// grace period from then (`handleDisruption` resets the probe timestamps).
    probe_reset_at: Option<Time>,
    /// Ready and not-ready nodes per zone, as the zone pass counts them.
    zone_counts: ZoneCounts,
}

/// The ready and not-ready nodes of each zone, as [`NodeLifecycleController`]'s zone pass
/// counts them (`handleDisruption` lists every node), kept up to date from the store's change
/// log: each pass reads only the node changes since the last one (`O(changes)` instead of
/// `O(nodes)`), and lists every node again only the first time and when the log no longer
/// reaches back that far. The counts are always those a full count of the store's nodes gives.
#[derive(Debug, Default)]
struct ZoneCounts {
    /// The store's resourceVersion the counts are as of (`None` before the first pass).
    as_of: Option<u64>,
    /// Each counted node's zone key and whether its `Ready` is `True` (nodes labelled
    /// `node.kubernetes.io/exclude-disruption` are not counted).
    nodes: HashMap<String, (String, bool)>,
    /// Per zone key: (ready, not ready). A zone is present while it has a counted node.
    zones: BTreeMap<String, (usize, usize)>,
}

impl ZoneCounts {
    /// How `node` is counted: its zone key and readiness, `None` when it is excluded.
    fn entry_of(node: &Node) -> Option<(ZoneLabels<'_>, bool)> {
        if node
            .metadata
            .labels
            .contains_key(LABEL_NODE_EXCLUDE_DISRUPTION)
        {
            return None;
        }
        Some((
            zone_labels(node),
            ready_status(node) == Some(ConditionStatus::True),
        ))
    }

    /// Counts the node named `name` as `entry` from now on (`None`: not at all).
    fn set(&mut self, name: &str, entry: Option<(ZoneLabels<'_>, bool)>) {
        if let (Some((zone, ready)), Some((labels, now_ready))) = (self.nodes.get(name), &entry) {
            if *ready == *now_ready && *zone == labels.key() {
                return;
            }
        }
        if let Some((zone, ready)) = self.nodes.remove(name) {
            if let Some(counts) = self.zones.get_mut(&zone) {
                if ready {
                    counts.0 -= 1;
                } else {
                    counts.1 -= 1;
                }
                if *counts == (0, 0) {
                    self.zones.remove(&zone);
                }
            }
        }
        if let Some((labels, ready)) = entry {
            let zone = labels.key();
            let counts = self.zones.entry(zone.clone()).or_default();
            if ready {
                counts.0 += 1;
            } else {
                counts.1 += 1;
            }
            self.nodes.insert(name.to_string(), (zone, ready));
        }
    }

    /// Brings the counts up to the store's current state.
    fn catch_up(&mut self, store: &flotilla_model::store::Store) {
        let caught_up = self.as_of.is_some_and(|version| {
            let Ok(changes) = store.changes_since(version) else {
                return false;
            };
            for event in changes {
                let Object::Node(node) = &*event.object else {
                    continue;
                };
                let entry = match event.event_type {
                    WatchEventType::Deleted => None,
                    _ => Self::entry_of(node),
                };
                self.set(&node.metadata.name, entry);
            }
            true
        });
        if !caught_up {
            // The first pass, or the log was compacted past the last one: count every node.
            self.nodes.clear();
            self.zones.clear();
            for object in store.iter_kind(Kind::Node) {
                if let Object::Node(node) = &**object {
                    self.set(&node.metadata.name, Self::entry_of(node));
                }
            }
        }
        self.as_of = Some(store.resource_version());
    }
}

impl Default for NodeLifecycleController {
    fn default() -> Self {
        NodeLifecycleController::with_config(NodeLifecycleConfig::default())
    }
}

impl NodeLifecycleController {
    /// A controller with the default settings.
    pub fn new() -> NodeLifecycleController {
        NodeLifecycleController::default()
    }

    /// A controller with `config`.
    pub fn with_config(config: NodeLifecycleConfig) -> NodeLifecycleController {
        NodeLifecycleController {
            config,
            tainters: BTreeMap::new(),
            zone_states: BTreeMap::new(),
            probe_reset_at: None,
            zone_counts: ZoneCounts::default(),
        }
    }

    /// The state of `zone` (a key from [`zone_key`]) as of the last reconcile.
    pub fn zone_state(&self, zone: &str) -> Option<ZoneState> {
        self.zone_states.get(zone).copied()
    }

    fn tainter(&mut self, zone: &str) -> &mut ZoneTainter {
        let qps = self.config.eviction_limiter_qps;
        self.tainters
            .entry(zone.to_string())
            .or_insert_with(|| ZoneTainter::new(qps))
    }

    /// When the next node waiting in some zone's tainting queue gets its token, if any waits.
    fn next_token_time(&self, now: Time) -> Option<Time> {
        self.tainters
            .values()
            .filter(|t| !t.queue.is_empty())
            .filter_map(|t| t.next_token)
            .map(|t| t.max(now))
            .min()
    }
}

/// A node's region and zone labels as [`zone_key`] reads them, borrowed: two nodes have the
/// same `zone_key` exactly when these are equal.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct ZoneLabels<'a> {
    region: &'a str,
    zone: &'a str,
}

impl ZoneLabels<'_> {
    /// The [`zone_key`] of a node with these labels.
    fn key(&self) -> String {
        if self.region.is_empty() && self.zone.is_empty() {
            return String::new();
        }
        format!("{}:\x00:{}", self.region, self.zone)
    }
}

/// The labels [`zone_key`] reads (the stable label, else the beta one; `""` when absent).
fn zone_labels(node: &Node) -> ZoneLabels<'_> {
    let labels = &node.metadata.labels;
    let get = |stable: &str, beta: &str| {
        labels
            .get(stable)
            .or_else(|| labels.get(beta))
            .map_or("", String::as_str)
    };
    ZoneLabels {
        region: get(
            "topology.kubernetes.io/region",
            "failure-domain.beta.kubernetes.io/region",
        ),
        zone: get(
            "topology.kubernetes.io/zone",
            "failure-domain.beta.kubernetes.io/zone",
        ),
    }
}

/// The zone of a node (component-helpers node/topology `GetZoneKey`): its region and zone
/// labels, `""` when it has neither.
pub fn zone_key(node: &Node) -> String {
    let labels = &node.metadata.labels;
    let get = |stable: &str, beta: &str| {
        labels
            .get(stable)
            .or_else(|| labels.get(beta))
            .cloned()
            .unwrap_or_default()
    };
    let region = get(
        "topology.kubernetes.io/region",
        "failure-domain.beta.kubernetes.io/region",
    );
    let zone = get(
        "topology.kubernetes.io/zone",
        "failure-domain.beta.kubernetes.io/zone",
    );
    if region.is_empty() && zone.is_empty() {
        return String::new();
    }
    format!("{region}:\x00:{zone}")
}

/// The key of the zone pass: the zone states, their tainting rates and the rate-limited
/// NoExecute tainting, over all nodes (node_lifecycle_controller.go monitorNodeHealth's
/// handleDisruption and doNoExecuteTaintingPass). It runs once after a batch of node changes
/// rather than inside every node's reconcile, so a change costs one pass, not one per node.
/// (No node has an empty name, so the key cannot clash with a node's.)
fn zone_pass_key() -> ObjectKey {
    node_key("")
}

fn node_key(name: &str) -> ObjectKey {
    ObjectKey {
        kind: Kind::Node,
        namespace: String::new(),
        name: name.to_string(),
    }
}

fn ready_status(node: &Node) -> Option<ConditionStatus> {
    node.condition(NodeCondition::READY).map(|c| c.status)
}

fn not_ready_taint() -> Taint {
    Taint::new(taints::NOT_READY, "", TaintEffect::NoExecute)
}

fn unreachable_taint() -> Taint {
    Taint::new(taints::UNREACHABLE, "", TaintEffect::NoExecute)
}

/// taints.go `TaintExists` (key and effect; value and time do not matter).
fn has_taint(node: &Node, taint: &Taint) -> bool {
    node.spec
        .taints
        .iter()
        .any(|t| t.key == taint.key && t.effect == taint.effect)
}

/// controller/util/node `SwapNodeControllerTaint`: adds `add` (with `timeAdded = now` for a
/// NoExecute taint) and removes `remove`, in one update; `None` when nothing changes.
fn swap_taints(node: &Node, add: &[Taint], remove: &[Taint], now: Time) -> Option<Node> {
    let mut updated = node.clone();
    updated.spec.taints.retain(|t| {
        !remove
            .iter()
            .any(|r| r.key == t.key && r.effect == t.effect)
    });
    for taint in add {
        if !has_taint(&updated, taint) {
            let mut taint = taint.clone();
            if taint.effect == TaintEffect::NoExecute {
                taint.time_added = Some(now);
            }
            updated.spec.taints.push(taint);
        }
    }
    (updated.spec.taints != node.spec.taints).then_some(updated)
}

fn write_node_spec(ctx: &mut Context<'_>, node: Node) -> Result<Node, ReconcileError> {
    match &*ctx.store.update(node.into(), ctx.now)? {
        Object::Node(n) => Ok((**n).clone()),
        _ => Err(ReconcileError::Other("stored object is not a node".into())),
    }
}

impl NodeLifecycleController {
    /// tryUpdateNodeHealth: the node's conditions go `Unknown` once its grace period has
    /// passed. Returns the node as stored afterwards, whether `Ready` turned from `True` to
    /// something else here, and when the grace period ends if it has not yet.
    fn update_health(
        &self,
        ctx: &mut Context<'_>,
        node: Node,
    ) -> Result<(Node, bool, Option<Time>), ReconcileError> {
        let now = ctx.now;
        let name = node.metadata.name.clone();
        let Some(since) = ctx.observed.silent_since(&name) else {
            return self.restore_health(ctx, node).map(|n| (n, false, None));
        };
        let since = self.probe_reset_at.map_or(since, |r| r.max(since));
        let deadline = since.saturating_add(self.config.node_monitor_grace_period);
        if now < deadline {
            return Ok((node, false, Some(deadline)));
        }
        let was_ready = ready_status(&node) == Some(ConditionStatus::True);
        let mut updated = node.clone();
        // We don't change NetworkUnavailable: it is managed on the control plane's side.
        for kind in [
            NodeCondition::READY,
            NodeCondition::MEMORY_PRESSURE,
            NodeCondition::DISK_PRESSURE,
            NodeCondition::PID_PRESSURE,
        ] {
            match updated
                .status
                .conditions
                .iter_mut()
                .find(|c| c.r#type == kind)
            {
                Some(c) => {
                    if c.status != ConditionStatus::Unknown {
                        c.status = ConditionStatus::Unknown;
                        c.reason = NODE_STATUS_UNKNOWN.into();
                        c.message = NODE_STATUS_UNKNOWN_MESSAGE.into();
                        c.last_transition_time = Some(now);
                    }
                }
                None => updated.status.conditions.push(NodeCondition {
                    r#type: kind.to_string(),
                    status: ConditionStatus::Unknown,
                    last_heartbeat_time: node.metadata.creation_timestamp,
                    last_transition_time: Some(now),
                    reason: NODE_STATUS_NEVER_UPDATED.into(),
                    message: "Kubelet never posted node status.".into(),
                }),
            }
        }
        if updated.status.conditions == node.status.conditions {
            return Ok((node, false, None));
        }
        let stored = match &*ctx.store.update_status(updated.into(), now)? {
            Object::Node(n) => (**n).clone(),
            _ => return Err(ReconcileError::Other("stored object is not a node".into())),
        };
        Ok((stored, was_ready, None))
    }

    /// A node that talks again after the controller marked it `Unknown`: in Kubernetes its
    /// kubelet posts a fresh status at once (`Ready=True`, `KubeletReady`, and the pressure
    /// conditions `False`). Here the kubelet only registers once, so the controller writes that
    /// status on the kubelet's behalf, for the conditions it set to `Unknown` itself.
    fn restore_health(&self, ctx: &mut Context<'_>, node: Node) -> Result<Node, ReconcileError> {
        let now = ctx.now;
        let mut updated = node.clone();
        let mut became_ready = false;
        for c in &mut updated.status.conditions {
            if c.status != ConditionStatus::Unknown
                || (c.reason != NODE_STATUS_UNKNOWN && c.reason != NODE_STATUS_NEVER_UPDATED)
            {
                continue;
            }
            // kubelet nodestatus setters (ReadyCondition, MemoryPressureCondition, …).
            let (status, reason, message) = match c.r#type.as_str() {
                NodeCondition::READY => (
                    ConditionStatus::True,
                    "KubeletReady",
                    "kubelet is posting ready status",
                ),
                NodeCondition::MEMORY_PRESSURE => (
                    ConditionStatus::False,
                    "KubeletHasSufficientMemory",
                    "kubelet has sufficient memory available",
                ),
                NodeCondition::DISK_PRESSURE => (
                    ConditionStatus::False,
                    "KubeletHasNoDiskPressure",
                    "kubelet has no disk pressure",
                ),
                NodeCondition::PID_PRESSURE => (
                    ConditionStatus::False,
                    "KubeletHasSufficientPID",
                    "kubelet has sufficient PID available",
                ),
                _ => continue,
            };
            became_ready |= c.r#type == NodeCondition::READY;
            c.status = status;
            c.reason = reason.into();
            c.message = message.into();
            c.last_heartbeat_time = Some(now);
            c.last_transition_time = Some(now);
        }
        if updated.status.conditions == node.status.conditions {
            return Ok(node);
        }
        let name = node.metadata.name.clone();
        let stored = match &*ctx.store.update_status(updated.into(), now)? {
            Object::Node(n) => (**n).clone(),
            _ => return Err(ReconcileError::Other("stored object is not a node".into())),
        };
        if became_ready {
            // The event the kubelet records when it posts Ready (kubelet_node_status.go).
            ctx.normal(
                &node_key(&name),
                "NodeReady",
                format!("Node {name} status is now: NodeReady"),
            );
        }
        Ok(stored)
    }

    /// node_lifecycle_controller.go `doNoScheduleTaintingPass`.
    fn no_schedule_taints(
        &self,
        ctx: &mut Context<'_>,
        node: Node,
    ) -> Result<Node, ReconcileError> {
        let mut wanted: Vec<Taint> = Vec::new();
        for c in &node.status.conditions {
            let key = match (c.r#type.as_str(), c.status) {
                (NodeCondition::READY, ConditionStatus::False) => taints::NOT_READY,
                (NodeCondition::READY, ConditionStatus::Unknown) => taints::UNREACHABLE,
                (NodeCondition::MEMORY_PRESSURE, ConditionStatus::True) => taints::MEMORY_PRESSURE,
                (NodeCondition::DISK_PRESSURE, ConditionStatus::True) => taints::DISK_PRESSURE,
                (NodeCondition::NETWORK_UNAVAILABLE, ConditionStatus::True) => {
                    taints::NETWORK_UNAVAILABLE
                }
                (NodeCondition::PID_PRESSURE, ConditionStatus::True) => taints::PID_PRESSURE,
                _ => continue,
            };
            wanted.push(Taint::new(key, "", TaintEffect::NoSchedule));
        }
        if node.spec.unschedulable {
            wanted.push(Taint::new(
                taints::UNSCHEDULABLE,
                "",
                TaintEffect::NoSchedule,
            ));
        }
        let managed = [
            taints::NOT_READY,
            taints::UNREACHABLE,
            taints::MEMORY_PRESSURE,
            taints::DISK_PRESSURE,
            taints::NETWORK_UNAVAILABLE,
            taints::PID_PRESSURE,
            taints::UNSCHEDULABLE,
        ];
        let remove: Vec<Taint> = node
            .spec
            .taints
            .iter()
            .filter(|t| t.effect == TaintEffect::NoSchedule && managed.contains(&t.key.as_str()))
            .filter(|t| !wanted.iter().any(|w| w.key == t.key))
            .cloned()
            .collect();
        match swap_taints(&node, &wanted, &remove, ctx.now) {
            Some(updated) => write_node_spec(ctx, updated),
            None => Ok(node),
        }
    }

    /// markNodeAsReachable: both NoExecute taints go, and the node leaves its zone's queue.
    fn mark_reachable(
        &mut self,
        ctx: &mut Context<'_>,
        node: Node,
    ) -> Result<Node, ReconcileError> {
        let zone = zone_key(&node);
        self.tainter(&zone).remove(&node.metadata.name);
        match swap_taints(
            &node,
            &[],
            &[not_ready_taint(), unreachable_taint()],
            ctx.now,
        ) {
            Some(updated) => write_node_spec(ctx, updated),
            None => Ok(node),
        }
    }

    /// processTaintBaseEviction (with markNodeForTainting).
    fn process_taint_based_eviction(
        &mut self,
        ctx: &mut Context<'_>,
        node: Node,
    ) -> Result<Node, ReconcileError> {
        let zone = zone_key(&node);
        let name = node.metadata.name.clone();
        let (wanted, opposite) = match ready_status(&node) {
            None => return Ok(node),
            Some(ConditionStatus::True) => return self.mark_reachable(ctx, node),
            Some(ConditionStatus::False) => (not_ready_taint(), unreachable_taint()),
            Some(ConditionStatus::Unknown) => (unreachable_taint(), not_ready_taint()),
        };
        // A node already tainted with the opposite taint is switched over at once, without
        // waiting for the rate limiter.
        if has_taint(&node, &opposite) {
            return match swap_taints(&node, &[wanted], &[opposite], ctx.now) {
                Some(updated) => write_node_spec(ctx, updated),
                None => Ok(node),
            };
        }
        if !has_taint(&node, &wanted) {
            self.tainter(&zone).add(&name);
        } else {
            self.tainter(&zone).remove(&name);
        }
        Ok(node)
    }

    /// handleDisruption: zone states from every node's `Ready` condition, and the tainting
    /// rates that follow from them.
    fn handle_disruption(&mut self, ctx: &mut Context<'_>) -> Result<(), ReconcileError> {
        let now = ctx.now;
        // Ready and not-ready nodes per zone, from the node changes since the last pass.
        self.zone_counts.catch_up(ctx.store);
        let zones = self.zone_counts.zones.clone();
        let threshold = self.config.unhealthy_zone_threshold;
        // ComputeZoneState.
        let new_states: BTreeMap<String, ZoneState> = zones
            .iter()
            .map(|(zone, &(ready, not_ready))| {
                let state = if ready == 0 && not_ready > 0 {
                    ZoneState::FullDisruption
                } else if not_ready > 2
                    && not_ready as f64 / (not_ready + ready) as f64 >= threshold
                {
                    ZoneState::PartialDisruption
                } else {
                    ZoneState::Normal
                };
                (zone.clone(), state)
            })
            .collect();
        let all_are_fully_disrupted = new_states.values().all(|s| *s == ZoneState::FullDisruption);
        for zone in new_states.keys() {
            self.zone_states
                .entry(zone.clone())
                .or_insert(ZoneState::Initial);
            self.tainter(zone);
        }
        self.zone_states
            .retain(|zone, _| new_states.contains_key(zone));
        let all_were_fully_disrupted = self
            .zone_states
            .values()
            .all(|s| *s == ZoneState::FullDisruption);
        if all_are_fully_disrupted && all_were_fully_disrupted {
            return Ok(());
        }
        if all_are_fully_disrupted {
            // Entering "master disruption mode": every node is not ready at once, which more
            // likely means the control plane is cut off than that every node failed. Remove
            // every NoExecute taint and stop tainting.
            let nodes: Vec<Node> = ctx
                .store
                .iter_kind(Kind::Node)
                .filter_map(|o| match &**o {
                    Object::Node(n) => Some((**n).clone()),
                    _ => None,
                })
                .collect();
            for node in nodes {
                self.mark_reachable(ctx, node)?;
            }
            for tainter in self.tainters.values_mut() {
                tainter.swap_limiter(0.0, now);
            }
            for state in self.zone_states.values_mut() {
                *state = ZoneState::FullDisruption;
            }
            return Ok(());
        }
        if all_were_fully_disrupted {
            // Leaving it: every node gets a fresh grace period from now, and every zone the
            // rate of its state.
            self.probe_reset_at = Some(now);
            for (zone, state) in &new_states {
                let size = zones.get(zone).map_or(0, |(r, n)| r + n);
                self.set_limiter_in_zone(zone, size, *state, now);
                self.zone_states.insert(zone.clone(), *state);
            }
            return Ok(());
        }
        for (zone, state) in &new_states {
            if self.zone_states.get(zone) == Some(state) {
                continue;
            }
            let size = zones.get(zone).map_or(0, |(r, n)| r + n);
            self.set_limiter_in_zone(zone, size, *state, now);
            self.zone_states.insert(zone.clone(), *state);
        }
        Ok(())
    }

    /// setLimiterInZone (with HealthyQPSFunc and ReducedQPSFunc).
    fn set_limiter_in_zone(&mut self, zone: &str, size: usize, state: ZoneState, now: Time) {
        let qps = match state {
            ZoneState::Normal | ZoneState::FullDisruption => self.config.eviction_limiter_qps,
            ZoneState::PartialDisruption => {
                if size > self.config.large_cluster_threshold {
                    self.config.secondary_eviction_limiter_qps
                } else {
                    0.0
                }
            }
            ZoneState::Initial => return,
        };
        self.tainter(zone).swap_limiter(qps, now);
    }

    /// doNoExecuteTaintingPass: each zone taints the nodes at the head of its queue while it
    /// has tokens.
    fn no_execute_tainting_pass(&mut self, ctx: &mut Context<'_>) -> Result<(), ReconcileError> {
        let now = ctx.now;
        let zones: Vec<String> = self.tainters.keys().cloned().collect();
        for zone in zones {
            while let Some(tainter) = self.tainters.get_mut(&zone) {
                let Some(head) = tainter.queue.first().cloned() else {
                    break;
                };
                if !tainter.try_accept(now) {
                    break;
                }
                tainter.queue.remove(0);
                let Some(node) = get_typed::<Node>(ctx.store, "", &head) else {
                    continue;
                };
                // "unreachable" and "not ready" mirror Ready and exclude each other.
                let (add, opposite) = match ready_status(&node) {
                    Some(ConditionStatus::False) => (not_ready_taint(), unreachable_taint()),
                    Some(ConditionStatus::Unknown) => (unreachable_taint(), not_ready_taint()),
                    // Ready again, or it never reported: nothing to taint.
                    _ => continue,
                };
                if let Some(updated) = swap_taints(&node, &[add], &[opposite], now) {
                    write_node_spec(ctx, updated)?;
                }
            }
        }
        Ok(())
    }

    /// controller/util/node `MarkPodsNotReady`: the node's pods stop being ready, since nobody
    /// can vouch for them.
    fn mark_pods_not_ready(ctx: &mut Context<'_>, node: &str) -> Result<(), ReconcileError> {
        let now = ctx.now;
        for object in pods_on_node(ctx.store, node) {
            let Object::Pod(pod) = &*object else {
                continue;
            };
            let mut pod = pod.clone();
            let Some(c) = pod
                .status
                .conditions
                .iter_mut()
                .find(|c| c.r#type == PodCondition::READY)
            else {
                continue;
            };
            if c.status == ConditionStatus::False {
                continue;
            }
            c.status = ConditionStatus::False;
            c.last_transition_time = Some(now);
            let key = ObjectKey::of(&object);
            ctx.store.update_status(pod.into(), now)?;
            ctx.warning(&key, "NodeNotReady", "Node is not ready".into());
        }
        Ok(())
    }
}

impl Controller for NodeLifecycleController {
    fn name(&self) -> &'static str {
        NODE_LIFECYCLE_CONTROLLER
    }

    fn watched_kinds(&self) -> &'static [Kind] {
        &[Kind::Node]
    }

    /// The node itself, and the zone pass: a change of any node can change its zone's state
    /// and so the rate the nodes waiting for a tainting token get.
    fn keys_for_event(&self, event: &WatchEvent, _lookup: Lookup<'_>) -> Vec<ObjectKey> {
        let name = &event.object.metadata().name;
        vec![node_key(name), zone_pass_key()]
    }

    fn reconcile(
        &mut self,
        key: &ObjectKey,
        ctx: &mut Context<'_>,
    ) -> Result<Action, ReconcileError> {
        let now = ctx.now;
        if *key == zone_pass_key() {
            self.handle_disruption(ctx)?;
            self.no_execute_tainting_pass(ctx)?;
            // Nodes still waiting for a token: the pass runs again when the next one is due.
            return Ok(match self.next_token_time(now) {
                Some(at) => Action::requeue(at.saturating_duration_since(now)),
                None => Action::await_change(),
            });
        }
        let Some(node) = get_typed::<Node>(ctx.store, "", &key.name) else {
            for tainter in self.tainters.values_mut() {
                tainter.remove(&key.name);
            }
            return Ok(Action::await_change());
        };
        let (node, went_unready, deadline) = self.update_health(ctx, node)?;
        if went_unready {
            let name = node.metadata.name.clone();
            ctx.normal(
                &node_key(&name),
                "NodeNotReady",
                format!("Node {name} status is now: NodeNotReady"),
            );
            Self::mark_pods_not_ready(ctx, &name)?;
        }
        let node = self.no_schedule_taints(ctx, node)?;
        self.process_taint_based_eviction(ctx, node)?;
        let action = match deadline {
            Some(at) => Action::requeue(at.saturating_duration_since(now)),
            None => Action::await_change(),
        };
        Ok(action)
    }
}

/// The taint eviction controller. See the [module docs](self).
#[derive(Debug, Default)]
pub struct TaintEvictionController {
    /// When the controller first saw a NoExecute taint that has no `timeAdded`, per node and
    /// taint key (taint_eviction.go counts from the moment it processes the taint).
    noticed: BTreeMap<(String, String), Time>,
}

impl TaintEvictionController {
    /// A new controller.
    pub fn new() -> TaintEvictionController {
        TaintEvictionController::default()
    }
}

fn no_execute_taints(node: &Node) -> Vec<&Taint> {
    node.spec
        .taints
        .iter()
        .filter(|t| t.effect == TaintEffect::NoExecute)
        .collect()
}

/// taint_eviction.go `GetMatchingTolerations`: for each taint the first toleration that
/// tolerates it, or `None` if some taint is not tolerated.
fn matching_tolerations<'a>(
    taints: &[&Taint],
    tolerations: &'a [Toleration],
) -> Option<Vec<&'a Toleration>> {
    taints
        .iter()
        .map(|taint| tolerations.iter().find(|t| t.tolerates(taint)))
        .collect()
}

impl Controller for TaintEvictionController {
    fn name(&self) -> &'static str {
        "taint-eviction-controller"
    }

    fn watched_kinds(&self) -> &'static [Kind] {
        &[Kind::Node, Kind::Pod]
    }

    fn keys_for_event(&self, event: &WatchEvent, lookup: Lookup<'_>) -> Vec<ObjectKey> {
        if event.event_type == WatchEventType::Deleted {
            return Vec::new();
        }
        match &*event.object {
            // taint_eviction.go handleNodeUpdate: every pod of a node with NoExecute taints.
            Object::Node(node) => {
                if no_execute_taints(node).is_empty() {
                    return Vec::new();
                }
                pods_on_node(lookup.store, &node.metadata.name)
                    .iter()
                    .filter(|o| o.metadata().deletion_timestamp.is_none())
                    .map(|o| ObjectKey::of(o))
                    .collect()
            }
            // handlePodUpdate: a pod bound to such a node.
            Object::Pod(pod) => {
                if pod.spec.node_name.is_empty() || pod.metadata.deletion_timestamp.is_some() {
                    return Vec::new();
                }
                match lookup
                    .store
                    .get(Kind::Node, "", &pod.spec.node_name)
                    .as_deref()
                {
                    Some(Object::Node(node)) if !no_execute_taints(node).is_empty() => {
                        vec![ObjectKey::of(&event.object)]
                    }
                    _ => Vec::new(),
                }
            }
            _ => Vec::new(),
        }
    }

    fn reconcile(
        &mut self,
        key: &ObjectKey,
        ctx: &mut Context<'_>,
    ) -> Result<Action, ReconcileError> {
        let now = ctx.now;
        let Some(Object::Pod(pod)) = ctx
            .store
            .get(Kind::Pod, &key.namespace, &key.name)
            .as_deref()
            .cloned()
        else {
            return Ok(Action::await_change());
        };
        if pod.metadata.deletion_timestamp.is_some() || pod.spec.node_name.is_empty() {
            return Ok(Action::await_change());
        }
        let Some(node) = get_typed::<Node>(ctx.store, "", &pod.spec.node_name) else {
            return Ok(Action::await_change());
        };
        let node_name = node.metadata.name.clone();
        let taints = no_execute_taints(&node);
        // Forget when taints without timeAdded were first seen once they are gone.
        self.noticed.retain(|(n, k), _| {
            *n != node_name || taints.iter().any(|t| t.key == *k && t.time_added.is_none())
        });
        if taints.is_empty() {
            return Ok(Action::await_change());
        }
        // processPodOnNode.
        let Some(used) = matching_tolerations(&taints, &pod.spec.tolerations) else {
            evict(ctx, pod)?;
            return Ok(Action::await_change());
        };
        // The earliest end of a limited toleration, counted from its taint's timeAdded;
        // tolerated forever when every toleration is unlimited.
        let mut trigger: Option<Time> = None;
        for (taint, toleration) in taints.iter().zip(&used) {
            let Some(seconds) = toleration.toleration_seconds else {
                continue;
            };
            let added = match taint.time_added {
                Some(t) => t,
                None => *self
                    .noticed
                    .entry((node_name.clone(), taint.key.clone()))
                    .or_insert(now),
            };
            let at = added.saturating_add(crate::pods::secs(seconds));
            trigger = Some(trigger.map_or(at, |t| t.min(at)));
        }
        match trigger {
            None => Ok(Action::await_change()),
            Some(at) if at <= now => {
                evict(ctx, pod)?;
                Ok(Action::await_change())
            }
            Some(at) => Ok(Action::requeue(at.saturating_duration_since(now))),
        }
    }
}

/// taint_eviction.go `addConditionAndDeletePod` (and its `TaintManagerEviction` event).
fn evict(ctx: &mut Context<'_>, mut pod: Pod) -> Result<(), ReconcileError> {
    let now = ctx.now;
    let key = ObjectKey {
        kind: Kind::Pod,
        namespace: pod.metadata.namespace.clone(),
        name: pod.metadata.name.clone(),
    };
    ctx.normal(
        &key,
        "TaintManagerEviction",
        format!("Marking for deletion Pod {}/{}", key.namespace, key.name),
    );
    if set_pod_condition(
        &mut pod.status.conditions,
        PodCondition {
            r#type: PodCondition::DISRUPTION_TARGET.into(),
            status: ConditionStatus::True,
            reason: "DeletionByTaintManager".into(),
            message: "Taint manager: deleting due to NoExecute taint".into(),
            ..Default::default()
        },
        now,
    ) {
        ctx.store.update_status(pod.into(), now)?;
    }
    match ctx.store.delete(
        Kind::Pod,
        &key.namespace,
        &key.name,
        &DeleteOptions::default(),
        now,
    ) {
        Ok(_) | Err(flotilla_model::store::StoreError::NotFound { .. }) => Ok(()),
        Err(e) => Err(e.into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::Harness;
    use flotilla_model::api::{Container, PodPhase, PodSpec, TolerationOperator};
    use flotilla_model::ObjectMeta;

    fn ready_node(name: &str, zone: &str) -> Node {
        let mut meta = ObjectMeta::named("", name);
        if !zone.is_empty() {
            meta.labels
                .insert("topology.kubernetes.io/zone".into(), zone.into());
        }
        Node {
            metadata: meta,
            status: flotilla_model::api::NodeStatus {
                conditions: vec![
                    NodeCondition {
                        r#type: NodeCondition::MEMORY_PRESSURE.into(),
                        status: ConditionStatus::False,
                        reason: "KubeletHasSufficientMemory".into(),
                        ..Default::default()
                    },
                    NodeCondition {
                        r#type: NodeCondition::READY.into(),
                        status: ConditionStatus::True,
                        reason: "KubeletReady".into(),
                        message: "kubelet is posting ready status".into(),
                        ..Default::default()
                    },
                ],
                ..Default::default()
            },
            ..Default::default()
        }
    }

    fn harness(nodes: &[(&str, &str)]) -> Harness {
        let mut h = Harness::new(vec![
            Box::new(NodeLifecycleController::new()),
            Box::new(TaintEvictionController::new()),
        ]);
        h.now = Time::from_secs(1_000_000);
        for (name, zone) in nodes {
            h.apply(ready_node(name, zone)).unwrap();
        }
        h
    }

    fn node(h: &Harness, name: &str) -> Node {
        h.stored("", name)
    }

    fn taint_strings(n: &Node) -> Vec<String> {
        let mut v: Vec<String> = n.spec.taints.iter().map(|t| t.to_string()).collect();
        v.sort();
        v
    }

    fn no_execute(h: &Harness, name: &str) -> Vec<(String, Option<Time>)> {
        node(h, name)
            .spec
            .taints
            .iter()
            .filter(|t| t.effect == TaintEffect::NoExecute)
            .map(|t| (t.key.clone(), t.time_added))
            .collect()
    }

    fn silence(h: &mut Harness, name: &str) {
        let now = h.now;
        h.manager.observed_mut().set_silent(name, now);
        h.manager.enqueue(NODE_LIFECYCLE_CONTROLLER, node_key(name));
        h.settle();
    }

    fn recover(h: &mut Harness, name: &str) {
        h.manager.observed_mut().set_talking(name);
        h.manager.enqueue(NODE_LIFECYCLE_CONTROLLER, node_key(name));
        h.settle();
    }

    fn running_pod(h: &mut Harness, name: &str, node: &str, tolerations: Vec<Toleration>) {
        h.apply(Pod {
            metadata: ObjectMeta::named("default", name),
            spec: PodSpec {
                containers: vec![Container {
                    name: "c".into(),
                    image: "i".into(),
                    ..Default::default()
                }]
                .into(),
                tolerations,
                ..Default::default()
            }
            .into(),
            ..Default::default()
        })
        .unwrap();
        h.bind("default", name, node);
        h.set_pod_status("default", name, PodPhase::Running, true);
    }

    fn set_taints(h: &mut Harness, name: &str, taints: Vec<Taint>) {
        let mut n = node(h, name);
        n.spec.taints = taints;
        h.store.update(n.into(), h.now).unwrap();
        h.settle();
    }

    /// The zone pass's counts, kept from the change log, are those a full count gives, after
    /// every kind of change: nodes added, turning not ready, moving zone, excluded, deleted.
    #[test]
    fn zone_counts_from_changes_equal_a_full_count() {
        let mut h = harness(&[("a1", "a"), ("a2", "a"), ("b1", "b"), ("n1", "")]);
        let mut counts = ZoneCounts::default();
        let full = |store: &flotilla_model::store::Store| {
            let mut fresh = ZoneCounts::default();
            fresh.catch_up(store);
            fresh.zones
        };
        counts.catch_up(&h.store);
        assert_eq!(counts.zones, full(&h.store));
        assert_eq!(counts.zones.get(":\x00:a"), Some(&(2, 0)));
        let now = h.now;
        let mut a2 = node(&h, "a2");
        for c in &mut a2.status.conditions {
            if c.r#type == "Ready" {
                c.status = ConditionStatus::False;
            }
        }
        h.store.update_status(a2.into(), now).unwrap();
        let mut b1 = node(&h, "b1");
        b1.metadata
            .labels
            .insert("topology.kubernetes.io/zone".into(), "c".into());
        h.store.update(b1.into(), now).unwrap();
        h.apply(ready_node("b2", "b")).unwrap();
        let mut n1 = node(&h, "n1");
        n1.metadata
            .labels
            .insert(LABEL_NODE_EXCLUDE_DISRUPTION.into(), String::new());
        h.store.update(n1.into(), now).unwrap();
        h.store
            .delete(Kind::Node, "", "a1", &DeleteOptions::default(), now)
            .unwrap();
        counts.catch_up(&h.store);
        assert_eq!(counts.zones, full(&h.store));
        assert_eq!(counts.zones.get(":\x00:a"), Some(&(0, 1)));
        assert_eq!(counts.zones.get(":\x00:c"), Some(&(1, 0)));
        assert_eq!(counts.zones.get(""), None);
    }

    #[test]
    fn a_silent_node_turns_unknown_at_its_deadline_and_is_tainted_unreachable() {
        let mut h = harness(&[("n1", ""), ("n2", ""), ("n3", "")]);
        running_pod(&mut h, "web", "n1", Vec::new());
        let t0 = h.now;
        silence(&mut h, "n1");
        // It waits for the deadline, without ticking.
        assert_eq!(h.manager.next_wakeup(), Some(t0 + Duration::from_secs(50)));
        h.advance(Duration::from_secs(49));
        assert!(node(&h, "n1").is_ready());
        assert!(h.advance_to_next_wakeup(Duration::from_secs(1)));
        let n = node(&h, "n1");
        for kind in ["Ready", "MemoryPressure"] {
            let c = n.condition(kind).unwrap();
            assert_eq!(c.status, ConditionStatus::Unknown, "{kind}");
            assert_eq!(c.reason, "NodeStatusUnknown");
            assert_eq!(c.message, "Kubelet stopped posting node status.");
            assert_eq!(c.last_transition_time, Some(h.now));
        }
        // A condition the kubelet never posted is added as Unknown.
        let c = n.condition("DiskPressure").unwrap();
        assert_eq!(c.status, ConditionStatus::Unknown);
        assert_eq!(c.reason, "NodeStatusNeverUpdated");
        assert_eq!(
            taint_strings(&n),
            [
                "node.kubernetes.io/unreachable:NoExecute",
                "node.kubernetes.io/unreachable:NoSchedule"
            ]
        );
        assert_eq!(
            no_execute(&h, "n1"),
            [(taints::UNREACHABLE.to_string(), Some(h.now))]
        );
        // Its pod is no longer ready, and nobody else changed.
        assert!(!h.pod("default", "web").unwrap().is_ready());
        assert!(node(&h, "n2").spec.taints.is_empty());
        assert!(h
            .recorder
            .events()
            .any(|e| e.reason == "NodeNotReady"
                && e.message == "Node n1 status is now: NodeNotReady"));
    }

    #[test]
    fn a_node_that_talks_again_is_ready_and_untainted() {
        let mut h = harness(&[("n1", ""), ("n2", "")]);
        silence(&mut h, "n1");
        h.advance(Duration::from_secs(50));
        assert_eq!(no_execute(&h, "n1").len(), 1);
        h.advance(Duration::from_secs(30));
        recover(&mut h, "n1");
        let n = node(&h, "n1");
        let ready = n.condition("Ready").unwrap();
        assert_eq!(ready.status, ConditionStatus::True);
        assert_eq!(ready.reason, "KubeletReady");
        assert_eq!(
            n.condition("MemoryPressure").unwrap().status,
            ConditionStatus::False
        );
        assert!(n.spec.taints.is_empty(), "{:?}", n.spec.taints);
    }

    #[test]
    fn a_not_ready_node_is_tainted_not_ready_and_switches_to_unreachable_at_once() {
        let mut h = harness(&[("n1", ""), ("n2", ""), ("n3", "")]);
        let mut n = node(&h, "n1");
        n.status.conditions[1].status = ConditionStatus::False;
        n.status.conditions[1].reason = "KubeletNotReady".into();
        h.store.update_status(n.into(), h.now).unwrap();
        h.settle();
        assert_eq!(
            taint_strings(&node(&h, "n1")),
            [
                "node.kubernetes.io/not-ready:NoExecute",
                "node.kubernetes.io/not-ready:NoSchedule"
            ]
        );
        // Ten seconds later (no token is needed for a swap) its kubelet goes silent.
        h.advance(Duration::from_secs(1));
        silence(&mut h, "n1");
        h.advance(Duration::from_secs(50));
        assert_eq!(
            no_execute(&h, "n1"),
            [(taints::UNREACHABLE.to_string(), Some(h.now))]
        );
        assert_eq!(
            taint_strings(&node(&h, "n1")),
            [
                "node.kubernetes.io/unreachable:NoExecute",
                "node.kubernetes.io/unreachable:NoSchedule"
            ]
        );
    }

    #[test]
    fn cordoned_and_pressured_nodes_get_no_schedule_taints() {
        let mut h = harness(&[("n1", ""), ("n2", "")]);
        let mut n = node(&h, "n1");
        n.spec.unschedulable = true;
        h.store.update(n.into(), h.now).unwrap();
        let mut n = node(&h, "n1");
        n.status.conditions.push(NodeCondition {
            r#type: NodeCondition::DISK_PRESSURE.into(),
            status: ConditionStatus::True,
            ..Default::default()
        });
        h.store.update_status(n.into(), h.now).unwrap();
        h.settle();
        assert_eq!(
            taint_strings(&node(&h, "n1")),
            [
                "node.kubernetes.io/disk-pressure:NoSchedule",
                "node.kubernetes.io/unschedulable:NoSchedule"
            ]
        );
        let mut n = node(&h, "n1");
        n.spec.unschedulable = false;
        h.store.update(n.into(), h.now).unwrap();
        h.settle();
        assert_eq!(
            taint_strings(&node(&h, "n1")),
            ["node.kubernetes.io/disk-pressure:NoSchedule"]
        );
    }

    #[test]
    fn no_execute_tainting_is_rate_limited_per_zone() {
        let names: Vec<String> = (0..10).map(|i| format!("n{i}")).collect();
        let mut nodes: Vec<(&str, &str)> = names.iter().map(|n| (n.as_str(), "a")).collect();
        nodes.push(("b0", "b"));
        let mut h = harness(&nodes);
        for name in ["n0", "n1", "n2"] {
            silence(&mut h, name);
        }
        // The other zone fails at the same time and is not held up by zone a.
        silence(&mut h, "b0");
        let t0 = h.now + Duration::from_secs(50);
        h.advance(Duration::from_secs(50));
        // b's only node makes it fully disrupted, which keeps the normal rate there.
        assert_eq!(no_execute(&h, "b0").len(), 1);
        let tainted = |h: &Harness| {
            ["n0", "n1", "n2"]
                .iter()
                .filter_map(|n| no_execute(h, n).first().and_then(|t| t.1))
                .collect::<Vec<_>>()
        };
        assert_eq!(tainted(&h), [t0]);
        while h.advance_to_next_wakeup(Duration::from_secs(60)) {}
        let mut times = tainted(&h);
        times.sort();
        assert_eq!(
            times,
            [
                t0,
                t0 + Duration::from_secs(10),
                t0 + Duration::from_secs(20)
            ]
        );
    }

    #[test]
    fn a_partially_disrupted_small_zone_stops_tainting_until_it_recovers() {
        let mut h = harness(&[
            ("a0", "a"),
            ("a1", "a"),
            ("a2", "a"),
            ("a3", "a"),
            ("a4", "a"),
            ("b0", "b"),
        ]);
        for name in ["a0", "a1", "a2"] {
            silence(&mut h, name);
        }
        h.advance(Duration::from_secs(50));
        h.advance(Duration::from_secs(600));
        // The three go Unknown at the same instant; the zone pass after them sees 3 of 5 down:
        // 60% ≥ 55% of more than two nodes, and a zone of 5 nodes gets rate 0, so none is
        // tainted (monitorNodeHealth: handleDisruption after the health loop).
        let count = |h: &Harness| {
            ["a0", "a1", "a2"]
                .iter()
                .filter(|n| !no_execute(h, n).is_empty())
                .count()
        };
        assert_eq!(count(&h), 0);
        assert_eq!(h.manager.next_wakeup(), None);
        // One comes back: 2 of 5 is normal again, and the rest are tainted at the normal rate.
        recover(&mut h, "a0");
        while h.advance_to_next_wakeup(Duration::from_secs(60)) {}
        assert_eq!(count(&h), 2);
        assert!(no_execute(&h, "a0").is_empty());
    }

    #[test]
    fn when_every_node_is_down_no_node_keeps_a_no_execute_taint() {
        let mut h = harness(&[("n1", ""), ("n2", "")]);
        running_pod(&mut h, "web", "n1", Vec::new());
        silence(&mut h, "n1");
        h.advance(Duration::from_secs(20));
        silence(&mut h, "n2");
        h.advance(Duration::from_secs(30));
        assert_eq!(no_execute(&h, "n1").len(), 1);
        h.advance(Duration::from_secs(20));
        // Both are Unknown: the controller suspects itself and removes the NoExecute taints.
        assert_eq!(
            ready_status(&node(&h, "n2")),
            Some(ConditionStatus::Unknown)
        );
        assert!(no_execute(&h, "n1").is_empty());
        assert!(no_execute(&h, "n2").is_empty());
        // Long after the pods' 300 s, nothing was evicted.
        h.advance(Duration::from_secs(600));
        assert!(h
            .pod("default", "web")
            .unwrap()
            .metadata
            .deletion_timestamp
            .is_none());
        // n2 comes back: n1 is tainted again, at the normal rate.
        recover(&mut h, "n2");
        while h.advance_to_next_wakeup(Duration::from_secs(60)) {}
        assert_eq!(no_execute(&h, "n1").len(), 1);
    }

    #[test]
    fn pods_tolerate_an_unreachable_node_for_300_seconds_by_default() {
        let mut h = harness(&[("n1", ""), ("n2", ""), ("n3", "")]);
        running_pod(&mut h, "web", "n1", Vec::new());
        silence(&mut h, "n1");
        h.advance(Duration::from_secs(50));
        let tainted_at = h.now;
        h.advance(Duration::from_secs(299));
        assert!(h
            .pod("default", "web")
            .unwrap()
            .metadata
            .deletion_timestamp
            .is_none());
        assert!(h.advance_to_next_wakeup(Duration::from_secs(1)));
        assert_eq!(h.now, tainted_at + Duration::from_secs(300));
        let pod = h.pod("default", "web").unwrap();
        assert!(
            pod.metadata.deletion_timestamp.is_some(),
            "deleted gracefully"
        );
        let c = pod.condition(PodCondition::DISRUPTION_TARGET).unwrap();
        assert_eq!(c.reason, "DeletionByTaintManager");
        assert_eq!(c.message, "Taint manager: deleting due to NoExecute taint");
        assert!(h
            .recorder
            .events()
            .any(|e| e.reason == "TaintManagerEviction"
                && e.message == "Marking for deletion Pod default/web"));
    }

    #[test]
    fn a_taint_removed_before_the_toleration_ends_saves_the_pod() {
        let mut h = harness(&[("n1", ""), ("n2", "")]);
        running_pod(&mut h, "web", "n1", Vec::new());
        silence(&mut h, "n1");
        h.advance(Duration::from_secs(50));
        h.advance(Duration::from_secs(200));
        recover(&mut h, "n1");
        h.advance(Duration::from_secs(600));
        while h.advance_to_next_wakeup(Duration::from_secs(600)) {}
        assert!(h
            .pod("default", "web")
            .unwrap()
            .metadata
            .deletion_timestamp
            .is_none());
    }

    #[test]
    fn untolerated_taints_evict_at_once_and_forever_tolerations_never() {
        let mut h = harness(&[("n1", "")]);
        running_pod(&mut h, "plain", "n1", Vec::new());
        running_pod(
            &mut h,
            "patient",
            "n1",
            vec![Toleration {
                key: "example.com/maintenance".into(),
                operator: Some(TolerationOperator::Exists),
                ..Default::default()
            }],
        );
        let mut taint = Taint::new("example.com/maintenance", "", TaintEffect::NoExecute);
        taint.time_added = Some(h.now);
        set_taints(&mut h, "n1", vec![taint]);
        assert!(h
            .pod("default", "plain")
            .unwrap()
            .metadata
            .deletion_timestamp
            .is_some());
        h.advance(Duration::from_secs(100_000));
        assert!(h
            .pod("default", "patient")
            .unwrap()
            .metadata
            .deletion_timestamp
            .is_none());
        assert_eq!(h.manager.next_wakeup(), None);
    }

    #[test]
    fn the_shortest_toleration_counts_from_its_taints_time() {
        let mut h = harness(&[("n1", "")]);
        let limited = |key: &str, secs: i64| Toleration {
            key: key.into(),
            operator: Some(TolerationOperator::Exists),
            effect: Some(TaintEffect::NoExecute),
            toleration_seconds: Some(secs),
            ..Default::default()
        };
        running_pod(
            &mut h,
            "web",
            "n1",
            vec![limited("example.com/a", 100), limited("example.com/b", 30)],
        );
        let t0 = h.now;
        let mut a = Taint::new("example.com/a", "", TaintEffect::NoExecute);
        a.time_added = Some(t0);
        let mut b = Taint::new("example.com/b", "", TaintEffect::NoExecute);
        b.time_added = Some(t0 + Duration::from_secs(80));
        set_taints(&mut h, "n1", vec![a]);
        h.advance(Duration::from_secs(80));
        let mut a = Taint::new("example.com/a", "", TaintEffect::NoExecute);
        a.time_added = Some(t0);
        set_taints(&mut h, "n1", vec![a, b]);
        // a ends at t0+100, b at t0+110: a's comes first.
        assert!(h.advance_to_next_wakeup(Duration::from_secs(60)));
        assert_eq!(h.now, t0 + Duration::from_secs(100));
        assert!(h
            .pod("default", "web")
            .unwrap()
            .metadata
            .deletion_timestamp
            .is_some());
    }

    #[test]
    fn zone_keys_follow_region_and_zone_labels() {
        let mut n = ready_node("n", "z1");
        assert_eq!(zone_key(&n), ":\x00:z1");
        n.metadata
            .labels
            .insert("topology.kubernetes.io/region".into(), "r".into());
        assert_eq!(zone_key(&n), "r:\x00:z1");
        assert_eq!(zone_key(&ready_node("m", "")), "");
    }
}
