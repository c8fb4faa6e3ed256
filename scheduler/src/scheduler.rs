//! [`Scheduler`]: the cache, the queue, the profiles and the scheduling loop together, driven
//! by store events and explicit time.
//!
//! A driver calls, in any order and as often as it likes:
//! 1. [`handle_event`](Scheduler::handle_event) with every watch event of Pods, Nodes and
//!    Namespaces from the store;
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
use crate::schedule::{schedule_pod, ScheduleError, SchedulingCycleState};

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
}

/// The scheduler. See the [module docs](self).
pub struct Scheduler {
    config: SchedulerConfig,
    cache: Cache,
    queue: SchedulingQueue,
    cycle: SchedulingCycleState,
    /// Services, ReplicaSets and StatefulSets by `namespace/name`, whose selectors decide which
    /// pods get PodTopologySpread's default constraints.
    services: std::collections::BTreeMap<String, Arc<flotilla_model::api::Service>>,
    replica_sets: std::collections::BTreeMap<String, Arc<flotilla_model::api::ReplicaSet>>,
    stateful_sets: std::collections::BTreeMap<String, Arc<flotilla_model::api::StatefulSet>>,
    /// Pods assumed on a node whose binding is not yet confirmed, by `namespace/name`.
    binding: std::collections::BTreeMap<String, crate::framework::QueuedPodInfo>,
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
        // queueSort and the PreEnqueue plugins are the same for every profile (validated).
        let first = config.profiles.values().next();
        let queue_sort = first.and_then(|p| p.queue_sort.clone());
        let pre_enqueue = first.map(|p| p.pre_enqueue.clone()).unwrap_or_default();
        let queue = SchedulingQueue::new(
            queue_sort,
            pre_enqueue,
            flotilla_model::Duration::from_secs(config.pod_initial_backoff_seconds.max(0) as u64),
            flotilla_model::Duration::from_secs(config.pod_max_backoff_seconds.max(0) as u64),
        );
        Scheduler {
            config,
            cache: Cache::new(),
            queue,
            cycle: SchedulingCycleState {
                next_start_node_index: 0,
                rng: flotilla_model::rng::component_rng(seed, "scheduler"),
            },
            binding: std::collections::BTreeMap::new(),
            services: std::collections::BTreeMap::new(),
            replica_sets: std::collections::BTreeMap::new(),
            stateful_sets: std::collections::BTreeMap::new(),
        }
    }

    /// The cache (its snapshot is what the next decision sees).
    pub fn cache(&self) -> &Cache {
        &self.cache
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
            (_, Object::Node(n)) => cluster_events = self.cache.upsert_node(Arc::new(n.clone())),
            (WatchEventType::Deleted, Object::Namespace(ns)) => {
                self.cache.remove_namespace(&ns.metadata.name)
            }
            (_, Object::Namespace(ns)) => self.cache.upsert_namespace(Arc::new(ns.clone())),
            (WatchEventType::Deleted, Object::Pod(p)) => {
                let key = format!("{}/{}", p.metadata.namespace, p.metadata.name);
                self.queue.remove(&key);
                self.binding.remove(&key);
                cluster_events = self
                    .cache
                    .remove_pod(&p.metadata.namespace, &p.metadata.name);
            }
            (_, Object::Pod(p)) => {
                let pod = Arc::new(p.clone());
                if !p.spec.node_name.is_empty() {
                    let key = format!("{}/{}", p.metadata.namespace, p.metadata.name);
                    self.queue.remove(&key);
                    self.binding.remove(&key);
                    cluster_events = self.cache.upsert_pod(pod);
                } else if p.metadata.deletion_timestamp.is_none()
                    && !matches!(p.status.phase, Some(PodPhase::Succeeded | PodPhase::Failed))
                    && self.serves(&p.spec.scheduler_name)
                {
                    self.queue.update(PodInfo::new(pod), now);
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
            _ => {}
        }
        for e in cluster_events {
            self.queue.on_cluster_event(e, now);
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
        let info = self.queue.pop(now)?;
        let pod = info.pod.pod.clone();
        let (namespace, name) = (pod.metadata.namespace.clone(), pod.metadata.name.clone());
        let scheduler_name = if pod.spec.scheduler_name.is_empty() {
            DEFAULT_SCHEDULER_NAME
        } else {
            pod.spec.scheduler_name.as_str()
        };
        let Some(profile) = self.config.profiles.get(scheduler_name) else {
            // The profile went away with a reconfiguration; nothing can schedule this pod.
            return None;
        };
        match schedule_pod(
            profile,
            self.cache.snapshot(),
            &info.pod,
            self.config.percentage_of_nodes_to_score,
            &mut self.cycle,
        ) {
            Ok(result) => {
                self.cache.assume_pod(&pod, &result.suggested_host);
                self.binding.insert(info.pod.key(), info);
                Some(SchedulingOutcome::Bind {
                    namespace,
                    name,
                    node: result.suggested_host,
                })
            }
            Err(ScheduleError::Unschedulable(fit)) => {
                let message = fit.to_string();
                self.queue
                    .add_unschedulable(info, fit.diagnosis.unschedulable_plugins, now);
                Some(SchedulingOutcome::Unschedulable {
                    namespace,
                    name,
                    message,
                })
            }
            Err(ScheduleError::NoNodes) => {
                // Any node event may help: wait as rejected by every plugin.
                self.queue.add_unschedulable(info, vec![""], now);
                Some(SchedulingOutcome::Unschedulable {
                    namespace,
                    name,
                    message: ScheduleError::NoNodes.to_string(),
                })
            }
            Err(e @ ScheduleError::Plugin { .. }) => {
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
        self.cache.forget_pod(&key);
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
