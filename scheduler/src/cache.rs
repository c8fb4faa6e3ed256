//! The scheduler's cache (kube-scheduler's `backend/cache`): the nodes, the pods bound or
//! assumed on them, and the namespaces, kept as a [`Snapshot`] that pod events update in place.
//!
//! A pod the scheduler has chosen a node for is *assumed* on that node at once, so the next
//! decision already counts it, before the binding is confirmed by the store. When the bound pod
//! arrives from the store the assumption is confirmed; if binding fails, the pod is *forgotten*
//! and its resources are released.
//!
//! Pod events touch only the pod's node (`O(pods on the node)`); node and namespace events
//! rebuild the node order and image counts (`O(cluster)`), as they are rare.

use std::collections::BTreeMap;
use std::sync::Arc;

use flotilla_model::api::{Namespace, Node, Pod, PodPhase};

use crate::node_info::{NodeInfo, PodInfo};
use crate::queue::ClusterEvent;
use crate::snapshot::{Snapshot, WorkloadSelectors};

/// The cache. See the [module docs](self).
#[derive(Clone, Debug, Default)]
pub struct Cache {
    /// Nodes in the order they joined.
    nodes: Vec<Arc<Node>>,
    /// The position of each node in `nodes`, by name (so that adding N nodes is not O(N²)).
    node_index: std::collections::HashMap<String, usize>,
    /// Pods on nodes (bound or assumed), by `namespace/name`, with the node they are on and,
    /// once computed, `PodInfo::new` of the pod (a rebuild reuses it instead of recomputing the
    /// requests and affinity terms of every pod).
    pods: BTreeMap<String, (Arc<Pod>, String, Option<PodInfo>)>,
    /// `NodeInfo::new` of each node of `nodes` (same index), once computed: a rebuild copies
    /// it for the nodes that did not change instead of parsing their resources again.
    node_bases: Vec<Option<NodeInfo>>,
    /// Pods assumed and not yet confirmed.
    assumed: BTreeMap<String, String>,
    namespaces: BTreeMap<String, Arc<Namespace>>,
    snapshot: Snapshot,
    /// Nodes changed since the snapshot was built: the next [`Cache::snapshot`] rebuilds it.
    dirty: bool,
}

fn key_of(pod: &Pod) -> String {
    format!("{}/{}", pod.metadata.namespace, pod.metadata.name)
}

fn is_terminal(pod: &Pod) -> bool {
    matches!(
        pod.status.phase,
        Some(PodPhase::Succeeded | PodPhase::Failed)
    )
}

impl Cache {
    /// An empty cache.
    pub fn new() -> Cache {
        Cache::default()
    }

    /// The current snapshot, rebuilt first if nodes changed since the last one.
    pub fn snapshot(&mut self) -> &Snapshot {
        if self.dirty {
            self.rebuild();
        }
        &self.snapshot
    }

    /// Sets the Service and controller selectors PodTopologySpread's default constraints use.
    pub fn set_workload_selectors(&mut self, selectors: WorkloadSelectors) {
        self.snapshot.workload_selectors = selectors;
    }

    /// Sets the PodDisruptionBudgets preemption reads.
    pub fn set_pdbs(&mut self, pdbs: Vec<Arc<flotilla_model::api::PodDisruptionBudget>>) {
        self.snapshot.pdbs = pdbs;
    }

    /// Sets the pods nominated to nodes by preemption, by node name.
    pub fn set_nominated_pods(
        &mut self,
        nominated: Arc<std::collections::HashMap<String, Vec<PodInfo>>>,
    ) {
        self.snapshot.nominated_pods = nominated;
    }

    /// Sets the PersistentVolumeClaims, PersistentVolumes and StorageClasses the volume plugins
    /// read.
    pub fn set_volumes(&mut self, volumes: Arc<crate::snapshot::VolumeObjects>) {
        self.snapshot.volumes = volumes;
    }

    /// Whether a pod is assumed and not yet confirmed.
    pub fn is_assumed(&self, key: &str) -> bool {
        self.assumed.contains_key(key)
    }

    fn rebuild(&mut self) {
        self.dirty = false;
        // The same snapshot as `Snapshot::new(nodes, pods, namespaces)` builds, from the
        // node and pod infos computed before where the objects did not change.
        self.node_bases.resize(self.nodes.len(), None);
        let bases: Vec<NodeInfo> = self
            .nodes
            .iter()
            .zip(self.node_bases.iter_mut())
            .map(|(node, base)| {
                base.get_or_insert_with(|| NodeInfo::new(node.clone()))
                    .clone()
            })
            .collect();
        let pods: Vec<PodInfo> = self
            .pods
            .values_mut()
            .map(|(pod, _, info)| {
                info.get_or_insert_with(|| PodInfo::new(pod.clone()))
                    .clone()
            })
            .collect();
        let namespaces: Vec<Arc<Namespace>> = self.namespaces.values().cloned().collect();
        let selectors = std::mem::take(&mut self.snapshot.workload_selectors);
        let pdbs = std::mem::take(&mut self.snapshot.pdbs);
        let nominated = std::mem::take(&mut self.snapshot.nominated_pods);
        let volumes = std::mem::take(&mut self.snapshot.volumes);
        self.snapshot = Snapshot::from_infos(bases, pods, &namespaces);
        self.snapshot.workload_selectors = selectors;
        self.snapshot.pdbs = pdbs;
        self.snapshot.nominated_pods = nominated;
        self.snapshot.volumes = volumes;
    }

    /// Adds or replaces a node; returns the events it amounts to for the queue.
    pub fn upsert_node(&mut self, node: Arc<Node>) -> Vec<ClusterEvent> {
        let mut events = Vec::new();
        match self.node_index.get(&node.metadata.name).copied() {
            Some(i) => {
                let old = &self.nodes[i];
                if old.spec == node.spec
                    && old.metadata.labels == node.metadata.labels
                    && old.status.allocatable == node.status.allocatable
                    && old.status.capacity == node.status.capacity
                    && old.status.images == node.status.images
                {
                    // Nothing the plugins read changed (a heartbeat, a condition, an
                    // annotation): keep the snapshot; a later rebuild takes the new object.
                    self.nodes[i] = node;
                    self.forget_base(i);
                    return events;
                }
                if old.allocatable() != node.allocatable() {
                    events.push(ClusterEvent::NodeAllocatableChange);
                }
                if old.metadata.labels != node.metadata.labels {
                    events.push(ClusterEvent::NodeLabelChange);
                }
                if old.spec.taints != node.spec.taints
                    || old.spec.unschedulable != node.spec.unschedulable
                {
                    events.push(ClusterEvent::NodeTaintChange);
                }
                self.nodes[i] = node;
                self.forget_base(i);
            }
            None => {
                self.node_index
                    .insert(node.metadata.name.clone(), self.nodes.len());
                self.nodes.push(node);
                events.push(ClusterEvent::NodeAdd);
            }
        }
        // Node events are batched: many nodes joining cost one rebuild, at the next decision.
        self.dirty = true;
        events
    }

    /// Removes a node (its pods stay known and reappear if the node comes back).
    pub fn remove_node(&mut self, name: &str) {
        if self.node_index.remove(name).is_some() {
            let mut i = 0;
            self.node_bases.resize(self.nodes.len(), None);
            self.node_bases.retain(|_| {
                let keep = self.nodes[i].metadata.name != name;
                i += 1;
                keep
            });
            self.nodes.retain(|n| n.metadata.name != name);
            self.node_index = self
                .nodes
                .iter()
                .enumerate()
                .map(|(i, n)| (n.metadata.name.clone(), i))
                .collect();
        }
        self.dirty = true;
    }

    /// Adds or replaces a namespace (its labels matter to affinity namespace selectors).
    pub fn upsert_namespace(&mut self, ns: Arc<Namespace>) {
        let name = ns.metadata.name.clone();
        let changed = self
            .namespaces
            .get(&name)
            .is_none_or(|old| old.metadata.labels != ns.metadata.labels);
        self.namespaces.insert(name.clone(), ns.clone());
        if changed {
            self.snapshot
                .namespace_labels
                .insert(name, ns.metadata.labels.clone());
        }
    }

    /// Removes a namespace.
    pub fn remove_namespace(&mut self, name: &str) {
        self.namespaces.remove(name);
        self.snapshot.namespace_labels.remove(name);
    }

    /// Drops the stored `NodeInfo::new` of the node at `i` after its object changed.
    fn forget_base(&mut self, i: usize) {
        if let Some(base) = self.node_bases.get_mut(i) {
            *base = None;
        }
    }

    fn place(&mut self, pod: Arc<Pod>, node: &str) {
        let info = PodInfo::new(pod);
        self.place_info(info.clone(), node, Some(info));
    }

    /// Places `info` on `node`; `exact` is `PodInfo::new` of the pod when `info` is that.
    fn place_info(&mut self, info: PodInfo, node: &str, exact: Option<PodInfo>) {
        let pod = info.pod.clone();
        if self.dirty {
            // The rebuild will place every known pod.
        } else if let Some(i) = self.snapshot.index_of(node) {
            let n = &mut self.snapshot.nodes[i];
            let before = (
                n.pods_with_affinity > 0,
                n.pods_with_required_anti_affinity > 0,
            );
            n.add_pod(info);
            if before
                != (
                    n.pods_with_affinity > 0,
                    n.pods_with_required_anti_affinity > 0,
                )
            {
                self.snapshot.refresh_affinity_lists();
            }
        }
        self.pods
            .insert(key_of(&pod), (pod, node.to_string(), exact));
    }

    fn unplace(&mut self, key: &str) -> bool {
        let Some((pod, node, _)) = self.pods.remove(key) else {
            return false;
        };
        if let Some(i) = self.snapshot.index_of(&node) {
            let n = &mut self.snapshot.nodes[i];
            let before = (
                n.pods_with_affinity > 0,
                n.pods_with_required_anti_affinity > 0,
            );
            n.remove_pod(&pod.metadata.namespace, &pod.metadata.name);
            if before
                != (
                    n.pods_with_affinity > 0,
                    n.pods_with_required_anti_affinity > 0,
                )
            {
                self.snapshot.refresh_affinity_lists();
            }
        }
        true
    }

    /// Assumes `pod` runs on `node` until the binding is confirmed or forgotten.
    pub fn assume_pod(&mut self, pod: &PodInfo, node: &str) {
        let key = key_of(&pod.pod);
        self.unplace(&key);
        let mut bound = (*pod.pod).clone();
        bound.spec.node_name = node.to_string();
        // The requests and affinity terms do not depend on the node: reuse what the queue computed.
        let info = PodInfo {
            pod: Arc::new(bound),
            ..pod.clone()
        };
        // A rebuild computes `PodInfo::new` of the bound pod itself, as it always has.
        self.place_info(info, node, None);
        self.assumed.insert(key, node.to_string());
    }

    /// Releases an assumed pod whose binding failed.
    pub fn forget_pod(&mut self, key: &str) {
        if self.assumed.remove(key).is_some() {
            self.unplace(key);
        }
    }

    /// Applies a pod from the store: a bound, running pod is placed (confirming an assumption);
    /// a finished or unbound one is removed. Returns the events for the queue.
    pub fn upsert_pod(&mut self, pod: Arc<Pod>) -> Vec<ClusterEvent> {
        let key = key_of(&pod);
        if pod.spec.node_name.is_empty() || is_terminal(&pod) {
            self.assumed.remove(&key);
            return if self.unplace(&key) {
                vec![ClusterEvent::AssignedPodDelete]
            } else {
                Vec::new()
            };
        }
        let previous = self.pods.get(&key).cloned();
        self.assumed.remove(&key);
        let mut events = Vec::new();
        match &previous {
            None => events.push(ClusterEvent::AssignedPodAdd),
            Some((old, _, _)) if old.metadata.labels != pod.metadata.labels => {
                events.push(ClusterEvent::AssignedPodLabelChange)
            }
            Some(_) => {}
        }
        let same = previous.as_ref().is_some_and(|(old, node, _)| {
            *node == pod.spec.node_name
                && old.spec == pod.spec
                && old.metadata.labels == pod.metadata.labels
        });
        if !same {
            self.unplace(&key);
            let node = pod.spec.node_name.clone();
            self.place(pod, &node);
        }
        events
    }

    /// Removes a deleted pod. Returns the events for the queue.
    pub fn remove_pod(&mut self, namespace: &str, name: &str) -> Vec<ClusterEvent> {
        let key = format!("{namespace}/{name}");
        self.assumed.remove(&key);
        if self.unplace(&key) {
            vec![ClusterEvent::AssignedPodDelete]
        } else {
            Vec::new()
        }
    }
}
