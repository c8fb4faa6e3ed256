//! [`Cluster`]: the object store, the scheduler, the controller manager and one kubelet per
//! node in one pure value, driven from outside with explicit time (raft-rs' Ready pattern).
//!
//! A driver (the simulator, runtime-linux, or a test) does, over and over:
//! 1. hand the cluster what happened, with [`Cluster::handle`]: a runtime command finished, a
//!    container exited, a probe result came back, a node went silent or came back;
//! 2. make changes of its own, if any: [`Cluster::apply`] (as `kubectl apply`),
//!    [`Cluster::delete`], [`Cluster::add_node`];
//! 3. call [`Cluster::poll`] with the current time: the cluster runs every component until
//!    nothing is left to do at that time, and returns a [`Ready`] with the runtime commands each
//!    node must execute and the time it next wants to be polled even if nothing happens.
//!
//! The cluster never blocks, sleeps or reads a clock. Within one poll, components take turns
//! in a fixed order (controllers, then the scheduler, then the kubelets in node-name order),
//! each seeing every store change made before its turn, so the same inputs give the same
//! history, bit for bit.

use std::collections::{BTreeSet, HashMap, VecDeque};
use std::sync::Arc;

use flotilla_model::api::{ConditionStatus, Node, PodCondition};
use flotilla_model::auth::{self, UserInfo};
use flotilla_model::hash::BuildFxHasher;
use flotilla_model::store::{
    DeleteOptions, DeleteOutcome, ObjectKey, Store, StoreConfig, StoreError, WatchEvent,
    WatchEventType,
};
use flotilla_model::{Duration, Kind, Object, Time};
use flotilla_scheduler::config::SchedulerConfig;
use flotilla_scheduler::scheduler::{Scheduler, SchedulingOutcome};

use crate::controller::{Controller, EventRecorder, EventType};
use crate::kubelet::{Kubelet, KubeletConfig, RuntimeCommand, RuntimeEvent};
use crate::manager::ControllerManager;

/// The annotation in which `kubectl apply` keeps the configuration it last applied, to know
/// which fields a later apply removes.
pub const LAST_APPLIED_ANNOTATION: &str = "kubectl.kubernetes.io/last-applied-configuration";

/// How long a node may be silent before its heartbeat deadline passes (kube-controller-manager's
/// `--node-monitor-grace-period`: 50 s since v1.32, 40 s before; see
/// [`ClusterConfig::node_monitor_grace_period`]).
pub const DEFAULT_NODE_MONITOR_GRACE_PERIOD: Duration = Duration::from_secs(50);

/// Settings of a [`Cluster`].
pub struct ClusterConfig {
    /// The run's seed; every component's random stream derives from it and its name.
    pub seed: u64,
    /// The scheduler's profiles.
    pub scheduler: SchedulerConfig,
    /// Settings shared by every node's kubelet.
    pub kubelet: KubeletConfig,
    /// The workload controllers to run; [`default_controllers`] by default.
    pub controllers: Vec<Box<dyn Controller>>,
    /// How many events the event log keeps.
    pub event_limit: usize,
    /// How long a silent node keeps its heartbeat deadline (kube-controller-manager's
    /// `--node-monitor-grace-period`, 50 s by default since v1.32).
    pub node_monitor_grace_period: Duration,
    /// Authorize every component's writes with RBAC, as a Kubernetes control plane does
    /// (off by default, so simulations are unchanged): [`Cluster::new`] creates the bootstrap
    /// roles and bindings ([`auth::bootstrap_policy`]), the store authorizes writes
    /// ([`StoreConfig::authorization`]), and each component writes as its own identity: each
    /// controller as its service account `kube-system/<name>`
    /// ([`service_account_name`](crate::manager::service_account_name)), the scheduler as
    /// `system:kube-scheduler`, each kubelet as `system:node:<node>`. Users write through
    /// [`Cluster::apply_as`] and [`Cluster::delete_as`].
    pub rbac: bool,
    /// The cluster's clock at creation: the bootstrap objects' `creationTimestamp` and the
    /// first `now`. The epoch by default (the simulator's scenarios start there); a driver on
    /// the wall clock passes the time it starts.
    pub start: Time,
}

impl std::fmt::Debug for ClusterConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClusterConfig")
            .field("seed", &self.seed)
            .field("controllers", &self.controllers.len())
            .field("event_limit", &self.event_limit)
            .field("rbac", &self.rbac)
            .finish_non_exhaustive()
    }
}

impl ClusterConfig {
    /// kube-scheduler's default profile, default kubelets and every controller, seeded with
    /// `seed`.
    pub fn new(seed: u64) -> ClusterConfig {
        let registry = flotilla_scheduler::plugins::registry::default_registry();
        ClusterConfig {
            seed,
            scheduler: SchedulerConfig::default_with(&registry)
                .expect("the default scheduler configuration is valid"),
            kubelet: KubeletConfig::default(),
            controllers: default_controllers(),
            event_limit: 100_000,
            node_monitor_grace_period: DEFAULT_NODE_MONITOR_GRACE_PERIOD,
            rbac: false,
            start: Time::ZERO,
        }
    }
}

/// Every controller of this crate, in the order they take turns.
pub fn default_controllers() -> Vec<Box<dyn Controller>> {
    vec![
        Box::new(crate::deployment::DeploymentController::new()),
        Box::new(crate::replica_set::ReplicaSetController::new()),
        Box::new(crate::stateful_set::StatefulSetController::new()),
        Box::new(crate::daemon_set::DaemonSetController::new()),
        Box::new(crate::job::JobController::new()),
        Box::new(crate::cron_job::CronJobController::new()),
        Box::new(crate::job::TtlAfterFinishedController::new()),
        Box::new(crate::garbage_collector::GarbageCollectorController::new()),
        Box::new(crate::node_lifecycle::NodeLifecycleController::new()),
        Box::new(crate::node_lifecycle::TaintEvictionController::new()),
        Box::new(crate::disruption::DisruptionController::new()),
        Box::new(crate::pod_gc::PodGcController::new()),
        Box::new(crate::endpoint_slice::EndpointSliceController::new()),
        Box::new(crate::proxy::LoadBalancerController::new()),
        Box::new(crate::horizontal_pod_autoscaler::HorizontalPodAutoscalerController::new()),
        Box::new(crate::persistent_volume::PersistentVolumeController::new()),
        Box::new(crate::namespace::NamespaceController::new()),
        Box::new(crate::resource_quota::ResourceQuotaController::new()),
    ]
}

/// How long the control plane takes, for a driver that models it (the simulator's
/// `spec.controlPlane`, see [`Cluster::set_control_plane_timing`]). All zero by default: every
/// write is seen by the other components in the same [`poll`](Cluster::poll), and every
/// scheduling decision takes no time.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ControlPlaneTiming {
    /// How long after a write its watch event reaches the scheduler and the kubelets: the API
    /// server's write latency plus the watch's delivery delay. A new pod reaches the scheduler,
    /// and its binding reaches its kubelet, this long after they were written. The controllers
    /// still see every change at once: their reconciles rely on a current view and do not
    /// keep client-go's expectations (see [`crate::controller`]), so with a delayed view a
    /// ReplicaSet would create pods it has already created.
    pub watch_delay: Duration,
    /// How long one scheduling decision takes per node it evaluates
    /// ([`Scheduler::last_evaluated_nodes`]): the scheduler decides one pod at a time, so the
    /// next decision waits for this one, and the decision's binding (or `PodScheduled=False`,
    /// or preemption) is written when the decision ends.
    pub scheduler_time_per_node: Duration,
}

/// Something that happened outside the cluster, for [`Cluster::handle`].
#[derive(Clone, Debug, PartialEq)]
pub enum ClusterInput {
    /// A node's runtime reports the result of a command, or a container exited.
    Runtime {
        /// The node.
        node: String,
        /// What happened.
        event: RuntimeEvent,
    },
    /// A node stopped talking to the control plane (it crashed, or a network partition cut it
    /// off): its kubelet writes nothing and its heartbeat deadline starts running. Runtime
    /// events still reach its kubelet (its containers may keep running).
    NodeSilent {
        /// The node.
        node: String,
    },
    /// A silent node talks again: its kubelet resumes and reports what it saw meanwhile.
    NodeRecovered {
        /// The node.
        node: String,
    },
    /// A pod's measured resource use, as the metrics server would report it (for the HPA).
    PodMetrics {
        /// The pod's namespace.
        namespace: String,
        /// The pod's name.
        name: String,
        /// CPU in millicores.
        cpu_millis: i64,
        /// Memory in bytes.
        memory_bytes: i64,
    },
}

/// The name under which the node lifecycle controller is woken when a node goes silent or
/// talks again.
pub const NODE_LIFECYCLE_CONTROLLER: &str = "node-lifecycle-controller";

/// A runtime command for one node.
#[derive(Clone, Debug, PartialEq)]
pub struct NodeCommand {
    /// The node whose runtime must execute it.
    pub node: String,
    /// What to do.
    pub command: RuntimeCommand,
}

/// What a [`Cluster::poll`] wants done.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Ready {
    /// Runtime commands, per node, in the order they were decided.
    pub commands: Vec<NodeCommand>,
    /// When to poll again even if nothing happens (a back-off, a probe, a deadline), if ever.
    pub next_wakeup: Option<Time>,
}

/// What [`Cluster::apply`] did, as kubectl reports it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ApplyOutcome {
    /// The object did not exist and was created.
    Created,
    /// The object existed and was changed.
    Configured,
    /// The object existed and already matched.
    Unchanged,
}

impl ApplyOutcome {
    /// `created`, `configured` or `unchanged`.
    pub fn as_str(self) -> &'static str {
        match self {
            ApplyOutcome::Created => "created",
            ApplyOutcome::Configured => "configured",
            ApplyOutcome::Unchanged => "unchanged",
        }
    }
}

/// Why a request to the cluster failed.
#[derive(Debug, thiserror::Error)]
pub enum ClusterError {
    /// The store refused the request.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The input named a node the cluster does not have.
    #[error("node {0:?} not found")]
    UnknownNode(String),
}

struct NodeAgent {
    kubelet: Kubelet,
    silent_since: Option<Time>,
    /// The kubelet's next wake-up as last read (its entry in `Cluster::wakeups`).
    wakeup: Option<Time>,
    /// When the kubelet last synced.
    last_sync: Option<Time>,
}

/// The cluster. See the [module docs](self).
pub struct Cluster {
    store: Store,
    scheduler: Scheduler,
    manager: ControllerManager,
    /// The nodes' agents by node name. A hash map: an event's node is looked up on every
    /// delivery, and nothing iterates it where order reaches an output (`node_names` sorts).
    nodes: HashMap<String, NodeAgent, BuildFxHasher>,
    /// Kubelets that something reached since their last sync.
    dirty: BTreeSet<String>,
    /// Every talking kubelet's next wake-up, so none has to be asked on every poll.
    wakeups: BTreeSet<(Time, String)>,
    kubelet_config: KubeletConfig,
    recorder: EventRecorder,
    cursor: u64,
    now: Time,
    node_monitor_grace_period: Duration,
    seed: u64,
    /// The control plane's timing ([`Cluster::set_control_plane_timing`]).
    timing: ControlPlaneTiming,
    /// With a watch delay: `(v, t)` says the writes from resourceVersion `v` on were made at
    /// `t` or later; the entries whose changes are not all delivered yet, in order.
    written: VecDeque<(u64, Time)>,
    /// With a scheduler time per node: the decision being made and when it is done.
    deciding: Option<(Time, SchedulingOutcome)>,
    /// With a watch delay: the controllers' own cursor (they see changes at once).
    controllers_cursor: u64,
}

impl std::fmt::Debug for Cluster {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Cluster")
            .field("now", &self.now)
            .field("objects", &self.store.len())
            .field("nodes", &self.nodes.len())
            .field("manager", &self.manager)
            .finish_non_exhaustive()
    }
}

impl Cluster {
    /// A new cluster at time zero: a bootstrapped store (the initial namespaces and system
    /// priority classes, and with [`rbac`](ClusterConfig::rbac) the bootstrap RBAC policy), the
    /// scheduler and the controllers, no nodes yet.
    pub fn new(config: ClusterConfig) -> Cluster {
        let mut store = Store::new(StoreConfig {
            seed: config.seed,
            kubernetes_service: true,
            authorization: config.rbac,
            bootstrap_time: config.start,
            ..StoreConfig::default()
        });
        if config.rbac {
            // The API server's RBAC post-start hook (rest/storage_rbac.go
            // `EnsureRBACPolicy`) writes the bootstrap policy before any component starts.
            for object in auth::bootstrap_policy() {
                store
                    .create(object, config.start)
                    .expect("the bootstrap policy is valid");
            }
        }
        let mut cluster = Cluster {
            scheduler: Scheduler::new(config.scheduler, config.seed),
            manager: ControllerManager::new(config.seed, config.controllers),
            nodes: HashMap::default(),
            dirty: BTreeSet::new(),
            wakeups: BTreeSet::new(),
            kubelet_config: config.kubelet,
            recorder: EventRecorder::new(config.event_limit),
            cursor: 0,
            now: config.start,
            node_monitor_grace_period: config.node_monitor_grace_period,
            seed: config.seed,
            timing: ControlPlaneTiming::default(),
            written: VecDeque::new(),
            deciding: None,
            controllers_cursor: 0,
            store,
        };
        cluster.deliver();
        cluster
    }

    /// A cluster over `store`, an object store restored from what a previous process
    /// persisted ([`Store::restore`]): like [`new`](Cluster::new), but the components start
    /// as informers do after their initial list — the scheduler, the controller manager (and
    /// its owner index) get every stored object as an `Added` watch event, namespaces first,
    /// then by kind and key, and watch from the store's resourceVersion on. So every
    /// controller reconciles every object once, and the scheduler's cache holds the nodes and
    /// the bound pods before it schedules the pending ones.
    ///
    /// The cluster has no nodes yet: a driver adds its node again with
    /// [`add_node`](Cluster::add_node), whose fresh kubelet takes over the stored Node and the
    /// pods bound to it. The clock starts at zero, as for [`new`](Cluster::new); the first
    /// [`poll`](Cluster::poll) sets it.
    ///
    /// With [`rbac`](ClusterConfig::rbac) the store authorizes writes from now on; the RBAC
    /// objects are whatever was persisted (no bootstrap policy is written again).
    pub fn restore(config: ClusterConfig, mut store: Store) -> Cluster {
        if config.rbac {
            store.set_authorization(true);
        }
        let mut cluster = Cluster {
            scheduler: Scheduler::new(config.scheduler, config.seed),
            manager: ControllerManager::new(config.seed, config.controllers),
            nodes: HashMap::default(),
            dirty: BTreeSet::new(),
            wakeups: BTreeSet::new(),
            kubelet_config: config.kubelet,
            recorder: EventRecorder::new(config.event_limit),
            cursor: store.resource_version(),
            now: Time::ZERO,
            node_monitor_grace_period: config.node_monitor_grace_period,
            seed: config.seed,
            timing: ControlPlaneTiming::default(),
            written: VecDeque::new(),
            deciding: None,
            controllers_cursor: 0,
            store,
        };
        for event in initial_list(&cluster.store) {
            cluster.scheduler.handle_event(&event, cluster.now);
            cluster.manager.handle_event(&event, &cluster.store);
        }
        cluster
    }

    /// The current time: the latest `now` handed to [`poll`](Cluster::poll).
    pub fn now(&self) -> Time {
        self.now
    }

    /// Models the control plane's delays from now on ([`ControlPlaneTiming`]); the default,
    /// all zero, is how the cluster behaves without this call. A driver sets it once, before
    /// it adds nodes and workloads; the cluster then asks to be polled (in
    /// [`Ready::next_wakeup`]) when a delayed watch event is due or a decision is done.
    pub fn set_control_plane_timing(&mut self, timing: ControlPlaneTiming) {
        self.deliver();
        self.timing = timing;
        self.controllers_cursor = self.cursor;
        if !timing.watch_delay.is_zero() {
            // The writes from now on are made at `now` or later.
            self.written.clear();
            self.written
                .push_back((self.store.resource_version() + 1, self.now));
        }
    }

    /// The control plane's timing.
    pub fn control_plane_timing(&self) -> ControlPlaneTiming {
        self.timing
    }

    /// Moves the clock to `now` (never back), noting where the writes made from then on start
    /// when watch events are delayed.
    fn advance_to(&mut self, now: Time) {
        if now <= self.now {
            return;
        }
        self.now = now;
        if self.timing.watch_delay.is_zero() {
            return;
        }
        let next = self.store.resource_version() + 1;
        match self.written.back_mut() {
            // Nothing was written since the last mark: its versions start at `now` or later.
            Some(last) if last.0 == next => last.1 = now,
            _ => self.written.push_back((next, now)),
        }
    }

    /// The last resourceVersion whose watch event may reach the components now: every one
    /// without a watch delay, else those written at least the delay ago.
    fn delivery_limit(&mut self) -> u64 {
        if self.timing.watch_delay.is_zero() {
            return self.store.resource_version();
        }
        let horizon = self.now.saturating_sub(self.timing.watch_delay);
        while self.written.front().is_some_and(|&(_, t)| t <= horizon) {
            self.written.pop_front();
        }
        match self.written.front() {
            Some(&(first, _)) => first - 1,
            None => self.store.resource_version(),
        }
    }

    /// When the next delayed watch event is due, if one is waiting.
    fn next_delivery(&self) -> Option<Time> {
        if self.cursor >= self.store.resource_version() {
            return None;
        }
        let (_, t) = self.written.front()?;
        Some(t.saturating_add(self.timing.watch_delay))
    }

    /// The scheduler's next decision to carry out now: one just made when decisions take no
    /// time; with a time per node, the decision under way once it is done (and until then
    /// none: the scheduler decides one pod at a time).
    fn next_decision(&mut self, now: Time) -> Option<SchedulingOutcome> {
        if let Some((done, _)) = &self.deciding {
            if *done > now {
                return None;
            }
            return self.deciding.take().map(|(_, outcome)| outcome);
        }
        let outcome = self.scheduler.schedule_next(now)?;
        let nodes = u32::try_from(self.scheduler.last_evaluated_nodes()).unwrap_or(u32::MAX);
        let took = self.timing.scheduler_time_per_node.saturating_mul(nodes);
        if took.is_zero() {
            return Some(outcome);
        }
        self.deciding = Some((now.saturating_add(took), outcome));
        None
    }

    /// The object store (read-only; writes go through the cluster's methods).
    pub fn store(&self) -> &Store {
        &self.store
    }

    /// The object store, for writes the cluster has no method for (a status written by hand
    /// in a test, a `kubectl patch`). The next [`poll`](Cluster::poll) delivers the changes.
    pub fn store_mut(&mut self) -> &mut Store {
        &mut self.store
    }

    /// The scheduler.
    pub fn scheduler(&self) -> &Scheduler {
        &self.scheduler
    }

    /// The controller manager.
    pub fn controllers(&self) -> &ControllerManager {
        &self.manager
    }

    /// The event log (`kubectl get events`).
    pub fn events(&self) -> &EventRecorder {
        &self.recorder
    }

    /// kube-proxy's view of the cluster now: a routing table from Service addresses and node
    /// ports to ready endpoints, built from the Services and EndpointSlices in the store, with
    /// its backend choice seeded from the cluster's seed. A driver that routes traffic keeps it
    /// current with [`ProxyTable::handle_event`](crate::proxy::ProxyTable::handle_event).
    pub fn proxy(&self, mode: crate::proxy::BalanceMode) -> crate::proxy::ProxyTable {
        crate::proxy::ProxyTable::from_store(&self.store, self.seed, mode)
    }

    /// The kubelet of `node`, if the cluster has that node.
    pub fn kubelet(&self, node: &str) -> Option<&Kubelet> {
        self.nodes.get(node).map(|n| &n.kubelet)
    }

    /// The names of the nodes, in order.
    pub fn node_names(&self) -> impl Iterator<Item = &str> + '_ {
        let mut names: Vec<&str> = self.nodes.keys().map(String::as_str).collect();
        names.sort_unstable();
        names.into_iter()
    }

    /// When `node`'s heartbeat deadline passes: `None` while it is talking (its heartbeats keep
    /// moving the deadline), `silent_since + node_monitor_grace_period` once it went silent.
    pub fn heartbeat_deadline(&self, node: &str) -> Option<Time> {
        let since = self.nodes.get(node)?.silent_since?;
        Some(since.saturating_add(self.node_monitor_grace_period))
    }

    /// Adds a node: its kubelet registers it (creates the Node object with its status) and
    /// starts watching for pods bound to it. A node the cluster runs already is left as it is.
    ///
    /// When the Node object exists but no kubelet runs it (a cluster made by
    /// [`restore`](Cluster::restore)), a fresh kubelet takes it over: the stored Node's status
    /// is replaced by the one registered now (kubelet_node_status.go `tryRegisterWithAPIServer`
    /// on an existing node), and the kubelet gets every pod already bound to the node as an
    /// `Added` event, as its pod informer's initial list would give them. Those pods' stored
    /// statuses say what ran before; the kubelet starts them again (see
    /// [`Kubelet`]).
    pub fn add_node(&mut self, node: Node) -> Result<Arc<Object>, ClusterError> {
        let name = node.metadata.name.clone();
        if let Some(agent) = self.nodes.get(&name) {
            if let Some(existing) = self.store.get(Kind::Node, "", &name) {
                let _ = agent;
                return Ok(existing);
            }
        }
        let mut kubelet = Kubelet::new(&name, self.kubelet_config.clone());
        let previous = self.begin_as(|| UserInfo::node(&name));
        let registered = kubelet.register(node, &mut self.store, self.now);
        self.end_as(previous);
        let registered = registered?;
        // The kubelet's pod informer lists the pods bound to it (field selector
        // spec.nodeName) before it watches; later changes come through `deliver`.
        let resource_version = self.store.resource_version();
        for pod in self.store.iter_kind(Kind::Pod) {
            if let Object::Pod(p) = pod.as_ref() {
                if p.spec.node_name == name {
                    let event = WatchEvent {
                        event_type: WatchEventType::Added,
                        object: pod.clone(),
                        resource_version,
                    };
                    kubelet.handle_pod_event(&event, self.now);
                }
            }
        }
        let name_key = name.clone();
        self.nodes.insert(
            name,
            NodeAgent {
                kubelet,
                silent_since: None,
                wakeup: None,
                last_sync: None,
            },
        );
        self.dirty.insert(name_key);
        Ok(registered)
    }

    /// `kubectl create` of one object, as a client that makes new objects (a load generator, a
    /// trace replayer) sends it: the object is created with server-side defaults and validation,
    /// and an existing object of the same kind and name is an error
    /// ([`StoreError::AlreadyExists`]). Unlike [`apply`](Cluster::apply), no
    /// last-applied annotation is stored, so the object carries only what it states. A Node
    /// is added as by [`add_node`](Cluster::add_node).
    pub fn create(&mut self, object: Object) -> Result<Arc<Object>, ClusterError> {
        match object {
            Object::Node(node) => {
                if self
                    .store
                    .get(Kind::Node, "", &node.metadata.name)
                    .is_some()
                {
                    return Err(StoreError::AlreadyExists {
                        kind: Kind::Node,
                        namespace: String::new(),
                        name: node.metadata.name,
                    }
                    .into());
                }
                self.add_node(*node)
            }
            object => Ok(self.store.create(object, self.now)?),
        }
    }

    /// `kubectl apply` of one object: created when absent; otherwise the fields of this
    /// manifest are merged into the live object and the fields an earlier apply set but this
    /// one omits are removed (a three-way merge against the
    /// [`LAST_APPLIED_ANNOTATION`]), so fields that controllers or other writers set are kept.
    /// Server-side defaults and validation apply as for any write. A Node is added as by
    /// [`add_node`](Cluster::add_node).
    ///
    /// Lists are replaced as a whole (JSON merge patch), where kubectl's strategic merge patch
    /// would merge some lists by key; a manifest that states whole lists, as manifests do, gets
    /// the same result.
    pub fn apply(&mut self, object: Object) -> Result<ApplyOutcome, ClusterError> {
        let mut object = object;
        if let Object::Node(node) = object {
            let existed = self
                .store
                .get(Kind::Node, "", &node.metadata.name)
                .is_some();
            self.add_node(*node)?;
            return Ok(if existed {
                ApplyOutcome::Unchanged
            } else {
                ApplyOutcome::Created
            });
        }
        let kind = object.kind();
        if kind.namespaced() && object.metadata().namespace.is_empty() {
            object.metadata_mut().namespace = flotilla_model::store::DEFAULT_NAMESPACE.into();
        }
        object
            .metadata_mut()
            .annotations
            .remove(LAST_APPLIED_ANNOTATION);
        let mut manifest = object.to_value();
        if let Some(map) = manifest.as_object_mut() {
            map.remove("status");
        }
        let applied = serde_json::to_string(&manifest).unwrap_or_default();
        let (namespace, name) = {
            let meta = object.metadata();
            (meta.namespace.clone(), meta.name.clone())
        };
        let live = if name.is_empty() {
            None
        } else {
            self.store.get(kind, &namespace, &name)
        };
        match live {
            None => {
                object
                    .metadata_mut()
                    .annotations
                    .insert(LAST_APPLIED_ANNOTATION.into(), applied);
                self.store.create(object, self.now)?;
                Ok(ApplyOutcome::Created)
            }
            Some(live) => {
                let mut patch = manifest;
                if let Some(last) = live
                    .metadata()
                    .annotations
                    .get(LAST_APPLIED_ANNOTATION)
                    .and_then(|text| serde_json::from_str::<serde_json::Value>(text).ok())
                {
                    add_removals(&mut patch, &last);
                }
                if let Some(meta) = patch
                    .get_mut("metadata")
                    .and_then(serde_json::Value::as_object_mut)
                {
                    let annotations = meta
                        .entry("annotations")
                        .or_insert_with(|| serde_json::Value::Object(Default::default()));
                    if !annotations.is_object() {
                        *annotations = serde_json::Value::Object(Default::default());
                    }
                    if let Some(a) = annotations.as_object_mut() {
                        a.insert(LAST_APPLIED_ANNOTATION.into(), applied.into());
                    }
                }
                let before = live.metadata().resource_version.clone();
                let after = self
                    .store
                    .patch(kind, &namespace, &name, &patch, self.now)?;
                Ok(if after.metadata().resource_version == before {
                    ApplyOutcome::Unchanged
                } else {
                    ApplyOutcome::Configured
                })
            }
        }
    }

    /// Deletes an object as `kubectl delete` does (with the store's semantics: graceful for
    /// running pods, cascading through the garbage collector per the propagation policy).
    pub fn delete(
        &mut self,
        kind: Kind,
        namespace: &str,
        name: &str,
        options: &DeleteOptions,
    ) -> Result<DeleteOutcome, ClusterError> {
        Ok(self
            .store
            .delete(kind, namespace, name, options, self.now)?)
    }

    /// [`apply`](Cluster::apply) as `user` would through the API: with
    /// [`rbac`](ClusterConfig::rbac), the create or patch is authorized for `user` (and an RBAC
    /// object must not grant more than `user` holds) before anything changes, and a refusal
    /// is [`StoreError::Forbidden`] with the API server's message. A Node needs `create
    /// nodes`; its kubelet then registers it. Without `rbac` this is [`apply`](Cluster::apply).
    pub fn apply_as(
        &mut self,
        user: &UserInfo,
        object: Object,
    ) -> Result<ApplyOutcome, ClusterError> {
        if let (true, Object::Node(node)) = (self.store.authorization(), &object) {
            let attrs =
                auth::Attributes::for_kind(user, "create", Kind::Node, "", &node.metadata.name);
            if let auth::Decision::Deny(message) = auth::authorize(&self.store, &attrs) {
                return Err(StoreError::Forbidden(message).into());
            }
        }
        let previous = self.begin_as(|| user.clone());
        let result = self.apply(object);
        self.end_as(previous);
        result
    }

    /// [`delete`](Cluster::delete) as `user` would through the API, authorized like
    /// [`apply_as`](Cluster::apply_as).
    pub fn delete_as(
        &mut self,
        user: &UserInfo,
        kind: Kind,
        namespace: &str,
        name: &str,
        options: &DeleteOptions,
    ) -> Result<DeleteOutcome, ClusterError> {
        let previous = self.begin_as(|| user.clone());
        let result = self.delete(kind, namespace, name, options);
        self.end_as(previous);
        result
    }

    /// Makes `user` the store's actor when writes are authorized, and returns what
    /// [`end_as`](Cluster::end_as) needs to put the previous one back (nothing, and no
    /// allocation, when they are not).
    fn begin_as(&mut self, user: impl FnOnce() -> UserInfo) -> Option<Option<UserInfo>> {
        if self.store.authorization() {
            Some(self.store.set_actor(Some(user())))
        } else {
            None
        }
    }

    /// Puts back the actor [`begin_as`](Cluster::begin_as) replaced.
    fn end_as(&mut self, previous: Option<Option<UserInfo>>) {
        if let Some(previous) = previous {
            self.store.set_actor(previous);
        }
    }

    /// Takes one thing that happened outside the cluster at `now` (time never goes back: an
    /// earlier `now` counts as the current time). Call [`poll`](Cluster::poll) afterwards to
    /// let the cluster react.
    pub fn handle_at(&mut self, now: Time, input: ClusterInput) -> Result<(), ClusterError> {
        self.advance_to(now);
        self.handle(input)
    }

    /// Takes one thing that happened outside the cluster, at the cluster's current time (that
    /// of the last [`poll`](Cluster::poll) or [`handle_at`](Cluster::handle_at)). A driver
    /// delivering what happened at a new instant uses [`handle_at`](Cluster::handle_at), so
    /// that the kubelet stamps container states and events with the right time.
    pub fn handle(&mut self, input: ClusterInput) -> Result<(), ClusterError> {
        match input {
            ClusterInput::Runtime { node, event } => {
                let agent = self
                    .nodes
                    .get_mut(&node)
                    .ok_or_else(|| ClusterError::UnknownNode(node.clone()))?;
                agent.kubelet.handle_runtime_event(event, self.now);
                self.dirty.insert(node.clone());
                self.refresh_wakeup(&node);
            }
            ClusterInput::NodeSilent { node } => {
                let agent = self
                    .nodes
                    .get_mut(&node)
                    .ok_or_else(|| ClusterError::UnknownNode(node.clone()))?;
                agent.silent_since.get_or_insert(self.now);
                self.refresh_wakeup(&node);
                self.manager.observed_mut().set_silent(&node, self.now);
                self.manager
                    .enqueue(NODE_LIFECYCLE_CONTROLLER, node_key(&node));
            }
            ClusterInput::NodeRecovered { node } => {
                let agent = self
                    .nodes
                    .get_mut(&node)
                    .ok_or_else(|| ClusterError::UnknownNode(node.clone()))?;
                agent.silent_since = None;
                self.dirty.insert(node.clone());
                self.refresh_wakeup(&node);
                self.manager.observed_mut().set_talking(&node);
                self.manager
                    .enqueue(NODE_LIFECYCLE_CONTROLLER, node_key(&node));
            }
            ClusterInput::PodMetrics {
                namespace,
                name,
                cpu_millis,
                memory_bytes,
            } => {
                let usage = crate::controller::PodUsage {
                    cpu_millis,
                    memory_bytes,
                    timestamp: self.now,
                };
                self.manager
                    .observed_mut()
                    .set_pod_usage(&namespace, &name, usage);
            }
        }
        Ok(())
    }

    /// Runs every component until nothing is left to do at `now` (time never goes back: an
    /// earlier `now` counts as the current time), and returns what the nodes must do and when
    /// to poll next.
    pub fn poll(&mut self, now: Time) -> Ready {
        self.advance_to(now);
        let now = self.now;
        let mut commands = Vec::new();
        let mut idle_rounds = 0;
        loop {
            self.deliver();
            if self
                .manager
                .reconcile_next(&mut self.store, &mut self.recorder, now)
            {
                continue;
            }
            if let Some(outcome) = self.next_decision(now) {
                let previous = self.begin_as(|| {
                    UserInfo::new(auth::KUBE_SCHEDULER, &[auth::SYSTEM_AUTHENTICATED])
                });
                self.carry_out(outcome);
                self.end_as(previous);
                continue;
            }
            // The kubelets, in node order: each syncs when something reached it since its last
            // sync, when it says it has work, or when one of its deadlines has come (once per
            // instant, so a deadline that stays due cannot spin the loop).
            let due: Vec<String> = self
                .wakeups
                .iter()
                .take_while(|(t, _)| *t <= now)
                .map(|(_, n)| n.clone())
                .collect();
            let mut todo = std::mem::take(&mut self.dirty);
            // What the kubelets' writes are compared with (with a watch delay, the changes
            // not yet delivered are not theirs).
            let settled = if self.timing.watch_delay.is_zero() {
                self.cursor
            } else {
                self.store.resource_version()
            };
            for name in due {
                if self
                    .nodes
                    .get(&name)
                    .is_some_and(|a| a.last_sync.is_none_or(|t| t < now))
                {
                    todo.insert(name);
                }
            }
            let mut synced_any = false;
            for name in todo {
                let Some(agent) = self.nodes.get_mut(&name) else {
                    continue;
                };
                if agent.silent_since.is_some() {
                    // It syncs when it talks again.
                    self.dirty.insert(name);
                    continue;
                }
                agent.last_sync = Some(now);
                synced_any = true;
                // Each kubelet writes as `system:node:<node>` when writes are authorized.
                let previous = if self.store.authorization() {
                    Some(self.store.set_actor(Some(UserInfo::node(&name))))
                } else {
                    None
                };
                let synced = agent.kubelet.sync(&mut self.store, &mut self.recorder, now);
                if let Some(previous) = previous {
                    self.store.set_actor(previous);
                }
                for command in synced {
                    commands.push(NodeCommand {
                        node: name.clone(),
                        command,
                    });
                }
                if agent.kubelet.has_work(now) {
                    self.dirty.insert(name.clone());
                }
                self.refresh_wakeup(&name);
            }
            if synced_any {
                idle_rounds = if self.store.resource_version() != settled {
                    0
                } else {
                    idle_rounds + 1
                };
                // A kubelet that wrote nothing but still has work gets a few more turns; more
                // would mean it never settles, which the next poll can pick up.
                if idle_rounds < 4 {
                    continue;
                }
            }
            break;
        }
        Ready {
            commands,
            next_wakeup: self.next_wakeup(),
        }
    }

    /// When the cluster next has timed work (after `now`), if ever.
    pub fn next_wakeup(&self) -> Option<Time> {
        let now = self.now;
        let kubelets = self.wakeups.iter().map(|(t, _)| *t).find(|&t| t > now);
        [
            self.scheduler.next_wakeup(),
            self.manager.next_wakeup(),
            kubelets,
            self.deciding.as_ref().map(|(done, _)| *done),
            self.next_delivery(),
        ]
        .into_iter()
        .flatten()
        .filter(|&t| t > now)
        .min()
    }

    /// Re-reads `node`'s kubelet's next wake-up into the index (none while it is silent).
    fn refresh_wakeup(&mut self, node: &str) {
        let Some(agent) = self.nodes.get_mut(node) else {
            return;
        };
        let next = if agent.silent_since.is_some() {
            None
        } else {
            agent.kubelet.next_wakeup()
        };
        if next == agent.wakeup {
            return;
        }
        if let Some(old) = agent.wakeup.take() {
            self.wakeups.remove(&(old, node.to_string()));
        }
        if let Some(t) = next {
            self.wakeups.insert((t, node.to_string()));
        }
        agent.wakeup = next;
    }

    /// Delivers the store's changes since the last delivery to every component.
    fn deliver(&mut self) {
        let delayed = !self.timing.watch_delay.is_zero();
        if delayed {
            // The controllers see every change at once (see ControlPlaneTiming::watch_delay).
            let events: Vec<WatchEvent> = match self.store.changes_since(self.controllers_cursor) {
                Ok(events) => events.cloned().collect(),
                Err(_) => Vec::new(),
            };
            for event in &events {
                self.manager.handle_event(event, &self.store);
            }
            self.controllers_cursor = self.store.resource_version();
        }
        let limit = self.delivery_limit();
        let events: Vec<WatchEvent> = match self.store.changes_since(self.cursor) {
            Ok(events) => events
                .take_while(|e| e.resource_version <= limit)
                .cloned()
                .collect(),
            // The bounded history wrapped within one step: not reachable with the default
            // history, since every step is delivered; relisting would be the remedy.
            Err(_) => Vec::new(),
        };
        for event in &events {
            self.cursor = event.resource_version;
            self.scheduler.handle_event(event, self.now);
            if !delayed {
                self.manager.handle_event(event, &self.store);
            }
            match event.object.as_ref() {
                Object::Pod(pod) if !pod.spec.node_name.is_empty() => {
                    if let Some(agent) = self.nodes.get_mut(&pod.spec.node_name) {
                        // The echo of the kubelet's own status write gives it nothing to do.
                        if agent.kubelet.handle_pod_event(event, self.now) {
                            self.dirty.insert(pod.spec.node_name.clone());
                        }
                    }
                }
                Object::Node(node) => {
                    if let Some(agent) = self.nodes.get_mut(&node.metadata.name) {
                        agent.kubelet.handle_node_event(event);
                        self.dirty.insert(node.metadata.name.clone());
                    }
                }
                Object::ConfigMap(_) | Object::Secret(_) => self.deliver_config(event),
                _ => {}
            }
        }
        self.cursor = self.cursor.max(limit);
    }

    /// Delivers a ConfigMap or Secret event to the kubelets whose pods' volumes use it (the
    /// kubelet's configMap and secret managers watch the objects their pods reference,
    /// pkg/kubelet/util/manager/watch_based_manager.go); only those sync for it.
    fn deliver_config(&mut self, event: &WatchEvent) {
        for (name, agent) in &mut self.nodes {
            if agent.kubelet.handle_config_event(event) {
                self.dirty.insert(name.clone());
            }
        }
    }

    /// Writes what the scheduler decided (the DefaultBinder's binding, or the
    /// `PodScheduled=False` condition, or preemption's victims and nomination).
    fn carry_out(&mut self, outcome: SchedulingOutcome) {
        let now = self.now;
        match outcome {
            SchedulingOutcome::Bind {
                namespace,
                name,
                node,
            } => {
                // The GPUs the scheduler assumed the pod on (its cache charged them when the
                // pod was assumed) go onto the pod before the binding, as a GPU-sharing
                // scheduler extender writes its device choice before it binds
                // (gpushare-scheduler-extender `Bind`: update the pod's GPU index annotation,
                // then create the Binding), so the kubelet finds them on the bound pod and
                // the scheduler places the bound pod on the same GPUs. An update of a pod
                // whose binding is on its way does not requeue it (Scheduler::handle_event).
                // Written as the control plane (no actor): kube-scheduler's role may not
                // update pods, the extender's service account may.
                let key = format!("{namespace}/{name}");
                let devices = self.scheduler.snapshot().node(&node).and_then(|n| {
                    n.gpus
                        .devices_of(&key)
                        .map(flotilla_scheduler::gpu::format_index)
                });
                let pod = self.store.get(Kind::Pod, &namespace, &name);
                if let (Some(devices), Some(Object::Pod(pod))) = (devices, pod.as_deref()) {
                    let annotation = flotilla_scheduler::gpu::GPU_INDEX_ANNOTATION;
                    if pod.metadata.annotations.get(annotation) != Some(&devices) {
                        let mut pod = pod.clone();
                        pod.metadata.annotations.insert(annotation.into(), devices);
                        let actor = self.store.set_actor(None);
                        // A failed update leaves the pod unannotated; the bind below decides.
                        let _ = self.store.update(pod.into(), now);
                        self.store.set_actor(actor);
                    }
                }
                match self.store.bind(&namespace, &name, &node, now) {
                    Ok(_) => self.record_pod(
                        &namespace,
                        &name,
                        EventType::Normal,
                        "Scheduled",
                        format!("Successfully assigned {namespace}/{name} to {node}"),
                    ),
                    Err(_) => self.scheduler.binding_failed(&namespace, &name, now),
                }
            }
            SchedulingOutcome::Unschedulable {
                namespace,
                name,
                message,
            } => {
                self.set_unschedulable(&namespace, &name, &message, None);
                self.record_pod(
                    &namespace,
                    &name,
                    EventType::Warning,
                    "FailedScheduling",
                    message,
                );
            }
            SchedulingOutcome::Preempt {
                namespace,
                name,
                nominated_node,
                victims,
                message,
            } => {
                let preemptor_uid = self
                    .store
                    .get(Kind::Pod, &namespace, &name)
                    .map(|p| p.metadata().uid.clone())
                    .unwrap_or_default();
                for (vns, vname) in victims {
                    // preemption.go prepareCandidate: DisruptionTarget, then delete.
                    if let Some(Object::Pod(victim)) =
                        self.store.get(Kind::Pod, &vns, &vname).as_deref()
                    {
                        let mut victim = victim.clone();
                        set_condition(
                            &mut victim.status.conditions,
                            PodCondition {
                                r#type: PodCondition::DISRUPTION_TARGET.into(),
                                status: ConditionStatus::True,
                                reason: "PreemptionByScheduler".into(),
                                message: format!(
                                    "{}: preempting to accommodate a higher priority pod",
                                    self.scheduler_name_of(&namespace, &name)
                                ),
                                last_transition_time: Some(now),
                                ..Default::default()
                            },
                        );
                        let _ = self.store.update_status(victim.into(), now);
                    }
                    if self
                        .store
                        .delete(Kind::Pod, &vns, &vname, &DeleteOptions::default(), now)
                        .is_ok()
                    {
                        self.record_pod(
                            &vns,
                            &vname,
                            EventType::Normal,
                            "Preempted",
                            format!("Preempted by pod {preemptor_uid} on node {nominated_node}"),
                        );
                    }
                }
                self.set_unschedulable(&namespace, &name, &message, Some(&nominated_node));
                self.record_pod(
                    &namespace,
                    &name,
                    EventType::Warning,
                    "FailedScheduling",
                    message,
                );
            }
        }
    }

    fn scheduler_name_of(&self, namespace: &str, name: &str) -> String {
        match self.store.get(Kind::Pod, namespace, name).as_deref() {
            Some(Object::Pod(p)) if !p.spec.scheduler_name.is_empty() => {
                p.spec.scheduler_name.clone()
            }
            _ => flotilla_scheduler::config::DEFAULT_SCHEDULER_NAME.to_string(),
        }
    }

    fn set_unschedulable(
        &mut self,
        namespace: &str,
        name: &str,
        message: &str,
        nominated_node: Option<&str>,
    ) {
        let Some(Object::Pod(pod)) = self
            .store
            .get(Kind::Pod, namespace, name)
            .as_deref()
            .cloned()
        else {
            return;
        };
        let mut pod = pod;
        set_condition(
            &mut pod.status.conditions,
            PodCondition {
                r#type: PodCondition::POD_SCHEDULED.into(),
                status: ConditionStatus::False,
                reason: "Unschedulable".into(),
                message: message.to_string(),
                last_transition_time: Some(self.now),
                ..Default::default()
            },
        );
        if let Some(node) = nominated_node {
            pod.status.nominated_node_name = node.to_string();
        }
        let _ = self.store.update_status(pod.into(), self.now);
    }

    fn record_pod(
        &mut self,
        namespace: &str,
        name: &str,
        event_type: EventType,
        reason: &str,
        message: String,
    ) {
        let key = ObjectKey {
            kind: Kind::Pod,
            namespace: namespace.to_string(),
            name: name.to_string(),
        };
        let source = flotilla_scheduler::config::DEFAULT_SCHEDULER_NAME;
        self.recorder
            .record(self.now, key, event_type, reason, message, source);
    }
}

/// Every object of `store` as an `Added` event, as informers deliver their initial list:
/// namespaces first (the scheduler and the namespace-scoped controllers look namespaces up),
/// then the other kinds in [`Kind::ALL`] order (Nodes before Pods, so the scheduler places
/// bound pods on known nodes) and each kind in key order. Each event carries the store's
/// resourceVersion, the version of the list.
fn initial_list(store: &Store) -> Vec<WatchEvent> {
    let resource_version = store.resource_version();
    let kinds = std::iter::once(Kind::Namespace)
        .chain(Kind::ALL.iter().copied().filter(|k| *k != Kind::Namespace));
    kinds
        .flat_map(|kind| store.iter_kind(kind))
        .map(|object| WatchEvent {
            event_type: WatchEventType::Added,
            object: object.clone(),
            resource_version,
        })
        .collect()
}

fn node_key(node: &str) -> ObjectKey {
    ObjectKey {
        kind: Kind::Node,
        namespace: String::new(),
        name: node.to_string(),
    }
}

/// Sets a condition, keeping its transition time when its status does not change (as the API's
/// condition helpers do).
fn set_condition(conditions: &mut Vec<PodCondition>, new: PodCondition) {
    match conditions.iter_mut().find(|c| c.r#type == new.r#type) {
        Some(c) => {
            let time = if c.status == new.status {
                c.last_transition_time
            } else {
                new.last_transition_time
            };
            *c = PodCondition {
                last_transition_time: time,
                ..new
            };
        }
        None => conditions.push(new),
    }
}

/// Adds to a merge patch a `null` for every field the last applied configuration had and the
/// new one lacks, recursively through objects (kubectl's three-way merge, for maps).
fn add_removals(patch: &mut serde_json::Value, last: &serde_json::Value) {
    let (Some(patch), Some(last)) = (patch.as_object_mut(), last.as_object()) else {
        return;
    };
    for (key, old) in last {
        match patch.get_mut(key) {
            None => {
                patch.insert(key.clone(), serde_json::Value::Null);
            }
            Some(new) => add_removals(new, old),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn removals_null_what_the_last_apply_had() {
        let last = serde_json::json!({"a": 1, "m": {"x": 1, "y": 2}, "l": [1]});
        let mut patch = serde_json::json!({"m": {"x": 3}, "l": [2]});
        add_removals(&mut patch, &last);
        assert_eq!(
            patch,
            serde_json::json!({"a": null, "m": {"x": 3, "y": null}, "l": [2]})
        );
    }
}
