//! Invariants of a run, checked from the store's watch events as the engine drains them
//! ([`Invariants::observe`]) and after every step ([`Invariants::check`]):
//!
//! - **no node over-committed**: the requests of the pods the scheduler bound to a node and that
//!   have not finished never exceed the node's allocatable, resource by resource, nor its pod
//!   count (kube-scheduler's NodeResourcesFit, `noderesources/fit.go` `fitsRequest`). Pods
//!   created with `spec.nodeName` already set skip the scheduler; the kubelet's admission
//!   (`lifecycle/predicate.go`) is what rejects those, so they are not counted.
//! - **no pod bound twice**: a pod's `spec.nodeName`, once set, never changes (the API server's
//!   binding subresource refuses to bind a bound pod, `registry/core/pod/storage/storage.go`
//!   `setPodNodeAndMetadata`).
//! - **no pod lost**: every pod created ends in exactly one terminal phase (once `Succeeded` or
//!   `Failed`, its phase never changes again) or is still accounted for: every pod seen created
//!   is either still in the store or was seen deleted, and [`Invariants::reconcile`] compares
//!   the pods it tracks with the store's, one by one.
//!
//! The bookkeeping is incremental: a step costs the pod events it produced and the nodes they
//! touched, so the checks can run after every event of a debug build.

use std::collections::{BTreeSet, HashMap};

use flotilla_model::api::{pod_requests, Pod, PodPhase};
use flotilla_model::store::{Store, WatchEvent, WatchEventType};
use flotilla_model::{Kind, Object};
use flotilla_scheduler::node_info::Resource;

/// A broken invariant: what, and the object it is about.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum InvariantViolation {
    /// A node's bound, unfinished pods request more than it can allocate.
    #[error("node {node} is over-committed: {resource} requested {requested}, allocatable {allocatable} (pods: {pods})")]
    OverCommitted {
        /// The node.
        node: String,
        /// The resource (`cpu` in millicores, `pods` for the pod count).
        resource: String,
        /// The sum of the requests.
        requested: i64,
        /// The node's allocatable.
        allocatable: i64,
        /// The pods counted, as `namespace/name`.
        pods: String,
    },
    /// A bound pod was bound again, to another node or to none.
    #[error("pod {pod} (uid {uid}) was bound to {first:?}, now to {second:?}")]
    BoundTwice {
        /// The pod, as `namespace/name`.
        pod: String,
        /// Its uid.
        uid: String,
        /// The first node.
        first: String,
        /// The node it has now.
        second: String,
    },
    /// A pod that had finished changed its phase again.
    #[error("pod {pod} (uid {uid}) finished as {first:?}, then became {second:?}")]
    PhaseAfterFinish {
        /// The pod, as `namespace/name`.
        pod: String,
        /// Its uid.
        uid: String,
        /// The terminal phase it reached first.
        first: String,
        /// The phase it has now.
        second: String,
    },
    /// A pod is in the store but was never seen created, or was seen but is gone from the
    /// store without a deletion, or the counts of created, live and deleted pods disagree.
    #[error("pod accounting: {0}")]
    Lost(String),
}

/// What is known of one pod.
#[derive(Clone, Debug)]
struct Tracked {
    key: String,
    /// The node, once bound.
    node: String,
    /// Counted against `node` (bound by the scheduler and not finished).
    counted: bool,
    requests: Resource,
    /// The first terminal phase it reached.
    finished: Option<PodPhase>,
}

/// The incremental invariant checker. See the [module docs](self).
#[derive(Debug, Default)]
pub struct Invariants {
    pods: HashMap<String, Tracked>,
    /// Allocatable per node.
    allocatable: HashMap<String, Resource>,
    /// The counted requests and pods per node.
    used: HashMap<String, (Resource, BTreeSet<String>)>,
    /// Nodes whose sums changed since the last check.
    touched: BTreeSet<String>,
    created: u64,
    deleted: u64,
    /// The first violation seen while observing, until the next check reports it.
    pending: Option<InvariantViolation>,
}

fn add(into: &mut Resource, r: &Resource, sign: i64) {
    into.milli_cpu += sign * r.milli_cpu;
    into.memory += sign * r.memory;
    into.ephemeral_storage += sign * r.ephemeral_storage;
    for (name, v) in &r.scalar_resources {
        *into.scalar_resources.entry(name.clone()).or_insert(0) += sign * v;
    }
}

fn pod_key(pod: &Pod) -> String {
    format!("{}/{}", pod.metadata.namespace, pod.metadata.name)
}

impl Invariants {
    /// A checker that has seen nothing yet; it must observe every watch event from the store's
    /// first on.
    pub fn new() -> Invariants {
        Invariants::default()
    }

    /// Takes one watch event of the store, in order.
    pub fn observe(&mut self, event: &WatchEvent) {
        match event.object.as_ref() {
            Object::Node(node) => {
                let name = node.metadata.name.clone();
                if event.event_type == WatchEventType::Deleted {
                    self.allocatable.remove(&name);
                } else {
                    let mut r = Resource::from_list(&node.status.allocatable);
                    if r.allowed_pod_number == 0 && !node.status.allocatable.contains_key("pods") {
                        r.allowed_pod_number = i64::MAX;
                    }
                    self.allocatable.insert(name.clone(), r);
                }
                self.touched.insert(name);
            }
            Object::Pod(pod) => {
                if let Err(v) = self.observe_pod(event.event_type, pod) {
                    self.pending.get_or_insert(v);
                }
            }
            _ => {}
        }
    }

    fn uncount(&mut self, uid: &str) {
        let Some(t) = self.pods.get_mut(uid) else {
            return;
        };
        if !t.counted {
            return;
        }
        t.counted = false;
        if let Some((used, pods)) = self.used.get_mut(&t.node) {
            add(used, &t.requests, -1);
            pods.remove(&t.key);
        }
        self.touched.insert(t.node.clone());
    }

    fn observe_pod(&mut self, kind: WatchEventType, pod: &Pod) -> Result<(), InvariantViolation> {
        let uid = pod.metadata.uid.clone();
        let key = pod_key(pod);
        if kind == WatchEventType::Deleted {
            self.uncount(&uid);
            if self.pods.remove(&uid).is_none() {
                return Err(InvariantViolation::Lost(format!(
                    "pod {key} (uid {uid}) deleted but never seen created"
                )));
            }
            self.deleted += 1;
            return Ok(());
        }
        let phase = pod.phase();
        let node = pod.spec.node_name.clone();
        let known = self.pods.contains_key(&uid);
        if !known {
            self.created += 1;
            self.pods.insert(
                uid.clone(),
                Tracked {
                    key: key.clone(),
                    // Bound at creation: the scheduler is not involved (see the module docs).
                    node: node.clone(),
                    counted: false,
                    requests: Resource::from_list(&pod_requests(&pod.spec)),
                    finished: phase.is_terminal().then_some(phase),
                },
            );
            return Ok(());
        }
        let Some(t) = self.pods.get_mut(&uid) else {
            return Ok(());
        };
        if let Some(first) = t.finished {
            if phase != first {
                return Err(InvariantViolation::PhaseAfterFinish {
                    pod: key,
                    uid,
                    first: format!("{first:?}"),
                    second: format!("{phase:?}"),
                });
            }
        } else if phase.is_terminal() {
            t.finished = Some(phase);
        }
        if t.node.is_empty() && !node.is_empty() {
            // The binding.
            t.node = node.clone();
            if t.finished.is_none() {
                t.counted = true;
                let (used, pods) = self.used.entry(node.clone()).or_default();
                add(used, &t.requests, 1);
                pods.insert(key.clone());
                self.touched.insert(node.clone());
            }
        } else if t.node != node {
            return Err(InvariantViolation::BoundTwice {
                pod: key,
                uid,
                first: t.node.clone(),
                second: node,
            });
        }
        if phase.is_terminal() {
            self.uncount(&uid);
        }
        Ok(())
    }

    /// Checks what the events observed since the last check changed: the first violation
    /// seen, else the nodes they touched and the pod counts.
    pub fn check(&mut self) -> Result<(), InvariantViolation> {
        if let Some(v) = self.pending.take() {
            return Err(v);
        }
        if self.created != self.pods.len() as u64 + self.deleted {
            return Err(InvariantViolation::Lost(format!(
                "{} pods seen created, {} live and {} deleted",
                self.created,
                self.pods.len(),
                self.deleted
            )));
        }
        for node in std::mem::take(&mut self.touched) {
            let (Some(alloc), Some((used, pods))) =
                (self.allocatable.get(&node), self.used.get(&node))
            else {
                continue;
            };
            let mut checks = vec![
                ("cpu".to_string(), used.milli_cpu, alloc.milli_cpu),
                ("memory".to_string(), used.memory, alloc.memory),
                (
                    "ephemeral-storage".to_string(),
                    used.ephemeral_storage,
                    alloc.ephemeral_storage,
                ),
                (
                    "pods".to_string(),
                    pods.len() as i64,
                    alloc.allowed_pod_number,
                ),
            ];
            for (name, v) in &used.scalar_resources {
                let a = alloc.scalar_resources.get(name).copied().unwrap_or(0);
                checks.push((name.clone(), *v, a));
            }
            for (resource, requested, allocatable) in checks {
                // Only what is requested must fit (a pod asking nothing of a resource fits a
                // node that reports none of it).
                if requested > 0 && requested > allocatable {
                    return Err(InvariantViolation::OverCommitted {
                        node,
                        resource,
                        requested,
                        allocatable,
                        pods: pods.iter().cloned().collect::<Vec<_>>().join(", "),
                    });
                }
            }
        }
        Ok(())
    }

    /// Compares the pods tracked with the store's, one by one (a full pass: for the ends of
    /// runs and for metrics samples, not every step). Call it when every change of `store`
    /// has been observed.
    pub fn reconcile(&self, store: &Store) -> Result<(), InvariantViolation> {
        let mut in_store = 0usize;
        for object in store.iter_kind(Kind::Pod) {
            let Object::Pod(pod) = object.as_ref() else {
                continue;
            };
            in_store += 1;
            if !self.pods.contains_key(&pod.metadata.uid) {
                return Err(InvariantViolation::Lost(format!(
                    "pod {} (uid {}) is in the store but was never seen created",
                    pod_key(pod),
                    pod.metadata.uid
                )));
            }
        }
        if in_store != self.pods.len() {
            let missing = self
                .pods
                .iter()
                .filter(|(uid, t)| {
                    let (ns, name) = t.key.split_once('/').unwrap_or(("", &t.key));
                    store
                        .get(Kind::Pod, ns, name)
                        .is_none_or(|p| p.metadata().uid != **uid)
                })
                .map(|(uid, t)| format!("{} (uid {uid})", t.key))
                .min()
                .unwrap_or_default();
            return Err(InvariantViolation::Lost(format!(
                "{} pods tracked, {in_store} in the store; gone without a deletion: {missing}",
                self.pods.len()
            )));
        }
        Ok(())
    }

    /// How many pods were seen created, are live, and were seen deleted.
    pub fn counts(&self) -> (u64, usize, u64) {
        (self.created, self.pods.len(), self.deleted)
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;

    fn pod(uid: &str, node: &str, cpu: &str, phase: PodPhase) -> Arc<Object> {
        let mut p: Pod = serde_json::from_value(serde_json::json!({
            "metadata": {"name": format!("p-{uid}"), "namespace": "default", "uid": uid},
            "spec": {"nodeName": node, "containers": [{"name": "c", "image": "i",
                "resources": {"requests": {"cpu": cpu}}}]}
        }))
        .unwrap();
        p.status.phase = Some(phase);
        Arc::new(Object::Pod(p))
    }

    fn node(name: &str, cpu: &str) -> Arc<Object> {
        Arc::new(Object::Node(
            serde_json::from_value(serde_json::json!({
                "metadata": {"name": name},
                "status": {"allocatable": {"cpu": cpu, "pods": "10"}}
            }))
            .unwrap(),
        ))
    }

    fn ev(t: WatchEventType, object: Arc<Object>) -> WatchEvent {
        WatchEvent {
            event_type: t,
            object,
            resource_version: 0,
        }
    }

    use WatchEventType::{Added, Deleted, Modified};

    #[test]
    fn over_commitment_is_caught_and_finished_pods_free_their_share() {
        let mut inv = Invariants::new();
        inv.observe(&ev(Added, node("n1", "1")));
        for uid in ["a", "b"] {
            inv.observe(&ev(Added, pod(uid, "", "600m", PodPhase::Pending)));
        }
        inv.observe(&ev(Modified, pod("a", "n1", "600m", PodPhase::Pending)));
        assert_eq!(inv.check(), Ok(()));
        inv.observe(&ev(Modified, pod("a", "n1", "600m", PodPhase::Succeeded)));
        inv.observe(&ev(Modified, pod("b", "n1", "600m", PodPhase::Pending)));
        assert_eq!(inv.check(), Ok(()));
        inv.observe(&ev(Added, pod("c", "", "600m", PodPhase::Pending)));
        inv.observe(&ev(Modified, pod("c", "n1", "600m", PodPhase::Pending)));
        match inv.check() {
            Err(InvariantViolation::OverCommitted {
                node,
                resource,
                requested,
                allocatable,
                ..
            }) => assert_eq!(
                (node.as_str(), resource.as_str(), requested, allocatable),
                ("n1", "cpu", 1200, 1000)
            ),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn pods_created_bound_skip_the_node_check() {
        let mut inv = Invariants::new();
        inv.observe(&ev(Added, node("n1", "1")));
        inv.observe(&ev(Added, pod("a", "n1", "2", PodPhase::Pending)));
        assert_eq!(inv.check(), Ok(()));
    }

    #[test]
    fn a_second_binding_and_a_second_ending_are_caught() {
        let mut inv = Invariants::new();
        inv.observe(&ev(Added, pod("a", "", "1m", PodPhase::Pending)));
        inv.observe(&ev(Modified, pod("a", "n1", "1m", PodPhase::Running)));
        inv.observe(&ev(Modified, pod("a", "n2", "1m", PodPhase::Running)));
        assert!(matches!(
            inv.check(),
            Err(InvariantViolation::BoundTwice { .. })
        ));
        let mut inv = Invariants::new();
        inv.observe(&ev(Added, pod("a", "n1", "1m", PodPhase::Failed)));
        inv.observe(&ev(Modified, pod("a", "n1", "1m", PodPhase::Succeeded)));
        assert!(matches!(
            inv.check(),
            Err(InvariantViolation::PhaseAfterFinish { .. })
        ));
    }

    #[test]
    fn pods_are_accounted_for() {
        let mut inv = Invariants::new();
        inv.observe(&ev(Added, pod("a", "", "1m", PodPhase::Pending)));
        inv.observe(&ev(Deleted, pod("a", "", "1m", PodPhase::Pending)));
        assert_eq!(inv.check(), Ok(()));
        assert_eq!(inv.counts(), (1, 0, 1));
        inv.observe(&ev(Deleted, pod("b", "", "1m", PodPhase::Pending)));
        assert!(matches!(inv.check(), Err(InvariantViolation::Lost(_))));
        // A store holding a pod the checker never saw.
        let inv = Invariants::new();
        let mut store = Store::new(Default::default());
        store
            .create(
                Object::Pod(match pod("x", "", "1m", PodPhase::Pending).as_ref() {
                    Object::Pod(p) => p.clone(),
                    _ => unreachable!(),
                }),
                flotilla_model::Time::ZERO,
            )
            .unwrap();
        assert!(matches!(
            inv.reconcile(&store),
            Err(InvariantViolation::Lost(_))
        ));
    }
}
