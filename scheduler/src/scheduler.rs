//! [`Scheduler`]: the cache, the queue, the profiles and the scheduling loop together, driven
//! by store events and explicit time.
//!
//! A driver calls, in any order and as often as it likes:
//! 1. [`handle_event`](Scheduler::handle_event) with every watch event of Pods, Nodes and
//!    Namespaces from the store (and of the Services, ReplicaSets, StatefulSets,
//!    PodDisruptionBudgets, PersistentVolumeClaims, PersistentVolumes and StorageClasses the
//!    plugins read);
//! 2. [`schedule_next`](Scheduler::schedule_next) at `now` until it returns `None`, carrying out
//!    each [`SchedulingOutcome`] (write the binding, or the `PodScheduled=False` condition);
//! 3. [`binding_failed`](Scheduler::binding_failed) when a binding write fails;
//! 4. again at [`next_wakeup`](Scheduler::next_wakeup), when back-offs expire.
//!
//! The scheduler never reads a clock or global randomness: ties between equally good nodes are
//! broken with a `ChaCha8Rng` seeded from the run's seed and the name `scheduler`.

use std::sync::Arc;

use flotilla_model::api::PodPhase;
use flotilla_model::store::{WatchEvent, WatchEventType};
use flotilla_model::{Object, Time};

use crate::cache::Cache;
use crate::config::{SchedulerConfig, DEFAULT_SCHEDULER_NAME};
use crate::node_info::PodInfo;
use crate::queue::SchedulingQueue;
use crate::schedule::{schedule_pod_with_cache, ScheduleError, SchedulingCycleState};
use crate::score_cache::ScoreCache;

/// What one scheduling attempt decided, for the driver to carry out.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SchedulingOutcome {
    /// Bind the pod to the node (write `spec.nodeName`, as the DefaultBinder's Binding does).
    Bind {
        /// The pod's namespace.
        namespace: String,
        /// The pod's name.
        name: String,
        /// The chosen node.
        node: String,
    },
    /// The pod fits nowhere now; record `PodScheduled=False` with reason `Unschedulable` and
    /// this message. The pod waits in the queue for a change that could help.
    Unschedulable {
        /// The pod's namespace.
        namespace: String,
        /// The pod's name.
        name: String,
        /// kube-scheduler's message (`0/3 nodes are available: …`).
        message: String,
    },
    /// The pod fits nowhere now, but would fit on `nominated_node` once `victims` are gone
    /// (DefaultPreemption). The driver deletes the victims (kube-scheduler first gives each the
    /// `DisruptionTarget` condition with reason `PreemptionByScheduler`), sets the pod's
    /// `status.nominatedNodeName`, and records `PodScheduled=False` with `message`, as for
    /// [`Unschedulable`](SchedulingOutcome::Unschedulable). The pod waits in the queue; the
    /// victims' deletion events bring it back, and it is bound on a later attempt.
    Preempt {
        /// The pod's namespace.
        namespace: String,
        /// The pod's name.
        name: String,
        /// The node the pod is nominated to.
        nominated_node: String,
        /// The pods to delete, as `(namespace, name)`, most important first.
        victims: Vec<(String, String)>,
        /// kube-scheduler's message (`0/3 nodes are available: 3 Insufficient cpu.`).
        message: String,
    },
}

/// The scheduler. See the [module docs](self).
pub struct Scheduler {
    config: SchedulerConfig,
    cache: Cache,
    queue: SchedulingQueue,
    cycle: SchedulingCycleState,
    /// Verdicts and raw scores kept for the next pod with the same spec (how fast a decision
    /// is made, never which).
    score_cache: ScoreCache,
    /// Services, ReplicaSets and StatefulSets by `namespace/name`, whose selectors decide which
    /// pods get PodTopologySpread's default constraints.
    services: std::collections::BTreeMap<String, Arc<flotilla_model::api::Service>>,
    replica_sets: std::collections::BTreeMap<String, Arc<flotilla_model::api::ReplicaSet>>,
    stateful_sets: std::collections::BTreeMap<String, Arc<flotilla_model::api::StatefulSet>>,
    /// Pods assumed on a node whose binding is not yet confirmed, by `namespace/name`.
    binding: std::collections::BTreeMap<String, crate::framework::QueuedPodInfo>,
    /// PodDisruptionBudgets by `namespace/name` (preemption tries not to violate them).
    pdbs: std::collections::BTreeMap<String, Arc<flotilla_model::api::PodDisruptionBudget>>,
    /// Pending pods nominated to a node, by `namespace/name`: the node and the pod
    /// (kube-scheduler's nominator).
    nominated: std::collections::BTreeMap<String, (String, PodInfo)>,
    /// PersistentVolumeClaims by `namespace/name`, PersistentVolumes and StorageClasses by name,
    /// for the volume plugins.
    pvcs: std::collections::BTreeMap<String, Arc<flotilla_model::api::PersistentVolumeClaim>>,
    pvs: std::collections::BTreeMap<String, Arc<flotilla_model::api::PersistentVolume>>,
    storage_classes: std::collections::BTreeMap<String, Arc<flotilla_model::api::StorageClass>>,
    /// How many nodes the last scheduling cycle ran the Filter plugins on (see
    /// [`Scheduler::last_evaluated_nodes`]).
    last_evaluated_nodes: usize,
}

impl std::fmt::Debug for Scheduler {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Scheduler")
            .field("queue", &self.queue)
            .finish_non_exhaustive()
    }
}

impl Scheduler {
    /// A scheduler with `config`'s profiles and tie-breaking seeded by `seed`.
    pub fn new(config: SchedulerConfig, seed: u64) -> Scheduler {
        // queueSort is the same for every profile (validated); PreEnqueue plugins are each
        // profile's own.
        let first = config.profiles.values().next();
        let queue_sort = first.and_then(|p| p.queue_sort.clone());
        let pre_enqueue = config
            .profiles
            .iter()
            .map(|(name, p)| (name.clone(), p.pre_enqueue.clone()))
            .collect();
        let queue = SchedulingQueue::new(
            queue_sort,
            Vec::new(),
            flotilla_model::Duration::from_secs(config.pod_initial_backoff_seconds.max(0) as u64),
            flotilla_model::Duration::from_secs(config.pod_max_backoff_seconds.max(0) as u64),
        )
        .with_profile_pre_enqueue(pre_enqueue);
        Scheduler {
            config,
            cache: Cache::new(),
            queue,
            cycle: SchedulingCycleState {
                next_start_node_index: 0,
                rng: flotilla_model::rng::component_rng(seed, "scheduler"),
            },
            score_cache: ScoreCache::default(),
            binding: std::collections::BTreeMap::new(),
            pdbs: std::collections::BTreeMap::new(),
            nominated: std::collections::BTreeMap::new(),
            pvcs: std::collections::BTreeMap::new(),
            pvs: std::collections::BTreeMap::new(),
            storage_classes: std::collections::BTreeMap::new(),
            services: std::collections::BTreeMap::new(),
            replica_sets: std::collections::BTreeMap::new(),
            stateful_sets: std::collections::BTreeMap::new(),
            last_evaluated_nodes: 0,
        }
    }

    /// How many nodes the last decision of [`schedule_next`](Scheduler::schedule_next)
    /// evaluated: ran the Filter plugins on (`percentageOfNodesToScore` stops the search early
    /// for a pod that fits; an unschedulable pod is filtered on every node), 0 when a PreFilter
    /// plugin rejected the pod or there are no nodes. A driver that models how long
    /// kube-scheduler takes per decision reads it after each decision (the simulator's
    /// control-plane timing model charges a time per node evaluated). Counted whether or not a
    /// verdict came from the score cache: it describes the decision, not this scheduler's work.
    pub fn last_evaluated_nodes(&self) -> usize {
        self.last_evaluated_nodes
    }

    /// The cache (its snapshot is what the next decision sees).
    pub fn cache(&self) -> &Cache {
        &self.cache
    }

    /// The snapshot the next decision will see.
    pub fn snapshot(&mut self) -> &crate::snapshot::Snapshot {
        self.cache.snapshot()
    }

    /// The queue.
    pub fn queue(&self) -> &SchedulingQueue {
        &self.queue
    }

    fn serves(&self, scheduler_name: &str) -> bool {
        let name = if scheduler_name.is_empty() {
            DEFAULT_SCHEDULER_NAME
        } else {
            scheduler_name
        };
        self.config.profiles.contains_key(name)
    }

    /// Takes one change from the store.
    pub fn handle_event(&mut self, event: &WatchEvent, now: Time) {
        let mut cluster_events = Vec::new();
        match (event.event_type, event.object.as_ref()) {
            (WatchEventType::Deleted, Object::Node(n)) => self.cache.remove_node(&n.metadata.name),
            (_, Object::Node(n)) => {
                cluster_events = self.cache.upsert_node(Arc::new((**n).clone()))
            }
            (WatchEventType::Deleted, Object::Namespace(ns)) => {
                self.cache.remove_namespace(&ns.metadata.name)
            }
            (_, Object::Namespace(ns)) => self.cache.upsert_namespace(Arc::new(ns.clone())),
            (WatchEventType::Deleted, Object::Pod(p)) => {
                let key = format!("{}/{}", p.metadata.namespace, p.metadata.name);
                self.set_nomination(&key, None);
                self.queue.remove(&key);
                self.binding.remove(&key);
                cluster_events = self
                    .cache
                    .remove_pod(&p.metadata.namespace, &p.metadata.name);
            }
            (_, Object::Pod(p)) => {
                if !p.spec.node_name.is_empty() {
                    let key = format!("{}/{}", p.metadata.namespace, p.metadata.name);
                    self.set_nomination(&key, None);
                    self.queue.remove(&key);
                    self.binding.remove(&key);
                    cluster_events = self.cache.upsert_pod_from(p);
                } else if p.metadata.deletion_timestamp.is_some()
                    || matches!(p.status.phase, Some(PodPhase::Succeeded | PodPhase::Failed))
                    || !self.serves(&p.spec.scheduler_name)
                {
                    // Going away, finished, or no longer ours: nothing to schedule.
                    let key = format!("{}/{}", p.metadata.namespace, p.metadata.name);
                    self.set_nomination(&key, None);
                    self.queue.remove(&key);
                } else {
                    let key = format!("{}/{}", p.metadata.namespace, p.metadata.name);
                    // An update of a pod whose binding is on its way is not a new pod to
                    // schedule (eventhandlers.go skips assumed pods).
                    if !self.binding.contains_key(&key) {
                        let pod = Arc::new(p.clone());
                        // A nomination written to the pod's status is kube-scheduler's
                        // nominator's input too.
                        let node = &p.status.nominated_node_name;
                        if !node.is_empty() {
                            self.set_nomination(
                                &key,
                                Some((node.clone(), PodInfo::new(pod.clone()))),
                            );
                        }
                        self.queue.update(PodInfo::new(pod), now);
                    }
                }
            }
            (t, Object::Service(o)) => {
                upsert_or_remove(&mut self.services, t, o);
                self.refresh_workload_selectors();
            }
            (t, Object::ReplicaSet(o)) => {
                upsert_or_remove(&mut self.replica_sets, t, o);
                self.refresh_workload_selectors();
            }
            (t, Object::StatefulSet(o)) => {
                upsert_or_remove(&mut self.stateful_sets, t, o);
                self.refresh_workload_selectors();
            }
            (t, Object::PodDisruptionBudget(o)) => {
                upsert_or_remove(&mut self.pdbs, t, o);
                self.cache.set_pdbs(self.pdbs.values().cloned().collect());
            }
            (t, Object::PersistentVolumeClaim(o)) => {
                upsert_or_remove(&mut self.pvcs, t, o);
                cluster_events = self.refresh_volumes(t);
            }
            (t, Object::PersistentVolume(o)) => {
                upsert_or_remove(&mut self.pvs, t, o);
                cluster_events = self.refresh_volumes(t);
            }
            (t, Object::StorageClass(o)) => {
                upsert_or_remove(&mut self.storage_classes, t, o);
                cluster_events = self.refresh_volumes(t);
            }
            _ => {}
        }
        for e in cluster_events {
            self.queue.on_cluster_event(e, now);
        }
    }

    /// Sets (or clears) the node `key` is nominated to, and hands the nominations to the cache's
    /// snapshot when they changed.
    fn set_nomination(&mut self, key: &str, nomination: Option<(String, PodInfo)>) {
        let changed = match nomination {
            Some(n) => {
                let changed = self.nominated.get(key).is_none_or(|(node, _)| *node != n.0);
                self.nominated.insert(key.to_string(), n);
                changed
            }
            None => self.nominated.remove(key).is_some(),
        };
        if changed {
            let mut by_node: std::collections::HashMap<String, Vec<PodInfo>> =
                std::collections::HashMap::new();
            for (node, info) in self.nominated.values() {
                by_node.entry(node.clone()).or_default().push(info.clone());
            }
            self.cache.set_nominated_pods(Arc::new(by_node));
        }
    }

    /// Hands the volume objects to the cache's snapshot; an addition or change may make pods
    /// that the volume plugins rejected schedulable.
    fn refresh_volumes(&mut self, event: WatchEventType) -> Vec<crate::queue::ClusterEvent> {
        let pvcs: Vec<_> = self.pvcs.values().cloned().collect();
        let pvs: Vec<_> = self.pvs.values().cloned().collect();
        let classes: Vec<_> = self.storage_classes.values().cloned().collect();
        self.cache
            .set_volumes(Arc::new(crate::snapshot::VolumeObjects::new(
                &pvcs, &pvs, &classes,
            )));
        if event == WatchEventType::Deleted {
            Vec::new()
        } else {
            vec![crate::queue::ClusterEvent::StorageChange]
        }
    }

    fn refresh_workload_selectors(&mut self) {
        let services: Vec<_> = self.services.values().cloned().collect();
        let replica_sets: Vec<_> = self.replica_sets.values().cloned().collect();
        let stateful_sets: Vec<_> = self.stateful_sets.values().cloned().collect();
        self.cache
            .set_workload_selectors(crate::plugins::pod_topology_spread::workload_selectors(
                &services,
                &replica_sets,
                &stateful_sets,
            ));
    }

    /// Schedules the next pod whose turn it is at `now`, if any.
    pub fn schedule_next(&mut self, now: Time) -> Option<SchedulingOutcome> {
        loop {
            let info = self.queue.pop(now)?;
            if let Some(outcome) = self.schedule_one(info, now) {
                return Some(outcome);
            }
        }
    }

    /// One scheduling cycle for a popped pod; `None` when no profile serves it (it is dropped).
    fn schedule_one(
        &mut self,
        info: crate::framework::QueuedPodInfo,
        now: Time,
    ) -> Option<SchedulingOutcome> {
        let pod = info.pod.pod.clone();
        let (namespace, name) = (pod.metadata.namespace.clone(), pod.metadata.name.clone());
        let scheduler_name = if pod.spec.scheduler_name.is_empty() {
            DEFAULT_SCHEDULER_NAME
        } else {
            pod.spec.scheduler_name.as_str()
        };
        let profile = self.config.profiles.get(scheduler_name)?;
        match schedule_pod_with_cache(
            profile,
            self.cache.snapshot(),
            &info.pod,
            self.config.percentage_of_nodes_to_score,
            &mut self.cycle,
            &mut self.score_cache,
        ) {
            Ok(result) => {
                self.last_evaluated_nodes = result.evaluated_nodes;
                // The Bind plugins: the first that does not skip the pod binds it (with none
                // configured, the pod is bound as DefaultBinder would).
                let state = crate::framework::CycleState::new();
                let mut node = result.suggested_host;
                for plugin in &profile.bind {
                    let Some(b) = plugin.as_bind() else { continue };
                    let (binding, status) = b.bind(&state, &info.pod, &node);
                    if status.code == crate::framework::Code::Skip {
                        continue;
                    }
                    if let (Some(binding), true) = (binding, status.is_success()) {
                        node = binding.node;
                    }
                    break;
                }
                let key = info.pod.key();
                self.set_nomination(&key, None);
                self.cache.assume_pod(&info.pod, &node);
                self.binding.insert(key, info);
                Some(SchedulingOutcome::Bind {
                    namespace,
                    name,
                    node,
                })
            }
            Err(ScheduleError::Unschedulable(mut fit)) => {
                self.last_evaluated_nodes = fit.diagnosis.node_to_status.len();
                let message = fit.to_string();
                if let Some(result) = fit.post_filter_result.take() {
                    // prepareCandidate: pods of lower priority nominated to the same node lose
                    // their nomination; the preemptor is nominated there.
                    let priority = crate::schedule::pod_priority(&pod);
                    let lower: Vec<String> = self
                        .nominated
                        .iter()
                        .filter(|(_, (node, p))| {
                            *node == result.nominated_node
                                && crate::schedule::pod_priority(&p.pod) < priority
                        })
                        .map(|(k, _)| k.clone())
                        .collect();
                    for k in lower {
                        self.set_nomination(&k, None);
                    }
                    let mut nominated = (*pod).clone();
                    nominated.status.nominated_node_name = result.nominated_node.clone();
                    self.set_nomination(
                        &info.pod.key(),
                        Some((
                            result.nominated_node.clone(),
                            PodInfo::new(Arc::new(nominated)),
                        )),
                    );
                    self.queue
                        .add_unschedulable(info, fit.diagnosis.unschedulable_plugins, now);
                    return Some(SchedulingOutcome::Preempt {
                        namespace,
                        name,
                        nominated_node: result.nominated_node,
                        victims: result.victims,
                        message,
                    });
                }
                self.queue
                    .add_unschedulable(info, fit.diagnosis.unschedulable_plugins, now);
                Some(SchedulingOutcome::Unschedulable {
                    namespace,
                    name,
                    message,
                })
            }
            Err(ScheduleError::NoNodes) => {
                self.last_evaluated_nodes = 0;
                // Any node event may help: wait as rejected by every plugin.
                self.queue.add_unschedulable(info, vec![""], now);
                Some(SchedulingOutcome::Unschedulable {
                    namespace,
                    name,
                    message: ScheduleError::NoNodes.to_string(),
                })
            }
            Err(e @ ScheduleError::Plugin { .. }) => {
                self.last_evaluated_nodes = 0;
                self.queue.add_unschedulable(info, Vec::new(), now);
                Some(SchedulingOutcome::Unschedulable {
                    namespace,
                    name,
                    message: e.to_string(),
                })
            }
        }
    }

    /// Undoes the assumption of a pod whose binding could not be written, and retries it after
    /// its back-off.
    pub fn binding_failed(&mut self, namespace: &str, name: &str, now: Time) {
        let key = format!("{namespace}/{name}");
        if !self.cache.is_assumed(&key) {
            return;
        }
        self.cache.forget_pod(&key);
        // schedule_one.go handleBindingCycleError: forgetting an assumed pod frees what it held,
        // like a deleted pod, for the other pods waiting (the failed pod itself backs off).
        self.queue
            .on_cluster_event(crate::queue::ClusterEvent::AssignedPodDelete, now);
        if let Some(info) = self.binding.remove(&key) {
            self.queue.add_unschedulable(info, Vec::new(), now);
        }
    }

    /// When the scheduler next has timed work (a back-off or the 5-minute retry), if any.
    pub fn next_wakeup(&self) -> Option<Time> {
        self.queue.next_wakeup()
    }
}

fn upsert_or_remove<T: Clone + flotilla_model::Resource>(
    map: &mut std::collections::BTreeMap<String, Arc<T>>,
    event: WatchEventType,
    object: &T,
) {
    let meta = object.metadata();
    let key = format!("{}/{}", meta.namespace, meta.name);
    if event == WatchEventType::Deleted {
        map.remove(&key);
    } else {
        map.insert(key, Arc::new(object.clone()));
    }
}
