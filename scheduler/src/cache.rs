//! The scheduler's cache (kube-scheduler's `backend/cache`): the nodes, the pods bound or
//! assumed on them, and the namespaces, kept as a [`Snapshot`] that pod and node events update
//! in place.
//!
//! A pod the scheduler has chosen a node for is *assumed* on that node at once, so the next
//! decision already counts it, before the binding is confirmed by the store. When the bound pod
//! arrives from the store the assumption is confirmed; if binding fails, the pod is *forgotten*
//! and its resources are released.
//!
//! Each node's [`NodeInfo`] lives as long as the node: pod events touch only the pod's node
//! (`O(pods on the node)`), and so does a change of a node's taints, labels or capacity (its
//! `NodeInfo` is rebuilt from the new object with the same pods, in the same order; a change of
//! its images updates the cluster's image counts by its own images). Only a change of the node
//! list or of a node's zone re-lays the node order and recounts the images (`O(nodes)`, once
//! at the next decision however many nodes changed), as kube-scheduler's snapshot rebuilds its
//! node list only when nodes come or go. A node's pods are kept in the order they were placed
//! on it, as kube-scheduler's `NodeInfo.Pods` is, so what a decision sees does not depend on
//! when the cache re-laid the nodes.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use flotilla_model::api::{Namespace, Node, Pod, PodPhase};
use flotilla_model::hash::BuildFxHasher;
use flotilla_model::Shared;

use crate::node_info::{NodeInfo, PodInfo};
use crate::queue::ClusterEvent;
use crate::snapshot::{zone_key, Snapshot, WorkloadSelectors};

/// The cache. See the [module docs](self).
#[derive(Clone, Debug, Default)]
pub struct Cache {
    /// Nodes in the order they joined.
    nodes: Vec<Arc<Node>>,
    /// The position of each node in `nodes`, by name (so that adding N nodes is not O(N²)).
    node_index: HashMap<String, usize, BuildFxHasher>,
    /// Pods on nodes (bound or assumed), by `namespace/name`, with the node they are on.
    /// Unordered: what reads them all sorts them by key first.
    pods: HashMap<String, (Arc<Pod>, String), BuildFxHasher>,
    /// Pods assumed and not yet confirmed.
    assumed: HashMap<String, String, BuildFxHasher>,
    namespaces: BTreeMap<String, Arc<Namespace>>,
    snapshot: Snapshot,
    /// Nodes joined or left, or a node changed zone, since the snapshot's node order was
    /// laid: the next [`Cache::snapshot`] lays it again.
    relayout: bool,
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

    /// The current snapshot, with the node order laid again first if nodes joined or left
    /// (or a node changed zone) since the last one.
    pub fn snapshot(&mut self) -> &Snapshot {
        if self.relayout {
            self.relayout();
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

    /// Lays the node order again (zones interleaved, as `Snapshot::new` lays it) and recounts
    /// the images: each node keeps its `NodeInfo` and its pods; a node new to the snapshot gets
    /// the pods already bound to it, in key order.
    fn relayout(&mut self) {
        self.relayout = false;
        let mut kept: HashMap<String, NodeInfo> = std::mem::take(&mut self.snapshot.nodes)
            .into_iter()
            .map(|info| (info.name().to_string(), info))
            .collect();
        let mut joined: HashMap<&str, usize> = HashMap::new();
        let mut infos: Vec<NodeInfo> = Vec::with_capacity(self.nodes.len());
        for node in &self.nodes {
            match kept.remove(&node.metadata.name) {
                Some(mut info) => {
                    if !Arc::ptr_eq(&info.node, node) {
                        refresh(&mut info, node.clone());
                    }
                    infos.push(info);
                }
                None => {
                    joined.insert(&node.metadata.name, infos.len());
                    infos.push(NodeInfo::new(node.clone()));
                }
            }
        }
        if !joined.is_empty() {
            let mut placed: Vec<(&String, &Arc<Pod>, usize)> = self
                .pods
                .iter()
                .filter_map(|(key, (pod, node))| joined.get(node.as_str()).map(|&i| (key, pod, i)))
                .collect();
            placed.sort_unstable_by(|a, b| a.0.cmp(b.0));
            for (_, pod, i) in placed {
                infos[i].add_pod(PodInfo::new(pod.clone()));
            }
        }
        let namespaces: Vec<Arc<Namespace>> = self.namespaces.values().cloned().collect();
        let selectors = std::mem::take(&mut self.snapshot.workload_selectors);
        let pdbs = std::mem::take(&mut self.snapshot.pdbs);
        let nominated = std::mem::take(&mut self.snapshot.nominated_pods);
        let volumes = std::mem::take(&mut self.snapshot.volumes);
        self.snapshot = Snapshot::from_infos(infos, Vec::new(), &namespaces);
        // Every change to a node goes through this cache, which notes it.
        self.snapshot.start_journal();
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
                let same_for_plugins = old.spec == node.spec
                    && old.metadata.labels == node.metadata.labels
                    && old.status.allocatable == node.status.allocatable
                    && old.status.capacity == node.status.capacity
                    && old.status.images == node.status.images;
                if !same_for_plugins {
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
                    if zone_key(old) != zone_key(&node) {
                        // Its place in the zone-interleaved order changes.
                        self.relayout = true;
                    }
                }
                if let Some(j) = self.snapshot.index_of(&node.metadata.name) {
                    if old.status.images != node.status.images {
                        self.snapshot.replace_node_images(old, &node);
                    }
                    let info = &mut self.snapshot.nodes[j];
                    if same_for_plugins {
                        // Nothing the plugins read changed (a heartbeat, a condition, an
                        // annotation): the node keeps its state and its generation.
                        info.node = node.clone();
                    } else {
                        refresh(info, node.clone());
                        self.snapshot.note_changed(j);
                    }
                }
                self.nodes[i] = node;
            }
            None => {
                self.node_index
                    .insert(node.metadata.name.clone(), self.nodes.len());
                self.nodes.push(node);
                events.push(ClusterEvent::NodeAdd);
                self.relayout = true;
            }
        }
        events
    }

    /// Removes a node (its pods stay known and reappear if the node comes back).
    pub fn remove_node(&mut self, name: &str) {
        if self.node_index.remove(name).is_some() {
            self.nodes.retain(|n| n.metadata.name != name);
            self.node_index = self
                .nodes
                .iter()
                .enumerate()
                .map(|(i, n)| (n.metadata.name.clone(), i))
                .collect();
            self.relayout = true;
        }
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
                .insert(name, (*ns.metadata.labels).clone());
        }
    }

    /// Removes a namespace.
    pub fn remove_namespace(&mut self, name: &str) {
        self.namespaces.remove(name);
        self.snapshot.namespace_labels.remove(name);
    }

    /// Places `info` on `node`: on its `NodeInfo` when the snapshot has the node (a node that
    /// joined since the last re-lay gets its pods then).
    fn place_info(&mut self, info: PodInfo, node: &str) {
        let pod = info.pod.clone();
        if let Some(i) = self.snapshot.index_of(node) {
            self.snapshot.note_changed(i);
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
        self.pods.insert(key_of(&pod), (pod, node.to_string()));
    }

    fn unplace(&mut self, key: &str) -> bool {
        let Some((pod, node)) = self.pods.remove(key) else {
            return false;
        };
        if let Some(i) = self.snapshot.index_of(&node) {
            self.snapshot.note_changed(i);
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
        self.place_info(info, node);
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
        let read = Arc::clone(&pod);
        self.upsert(&read, move || pod)
    }

    /// [`upsert_pod`](Cache::upsert_pod) of a pod read from a watch event, copied only when the
    /// cache keeps it: a status change of a placed pod (most pod events) copies nothing.
    pub fn upsert_pod_from(&mut self, pod: &Pod) -> Vec<ClusterEvent> {
        self.upsert(pod, || Arc::new(pod.clone()))
    }

    fn upsert(&mut self, pod: &Pod, owned: impl FnOnce() -> Arc<Pod>) -> Vec<ClusterEvent> {
        let key = key_of(pod);
        if pod.spec.node_name.is_empty() || is_terminal(pod) {
            self.assumed.remove(&key);
            return if self.unplace(&key) {
                vec![ClusterEvent::AssignedPodDelete]
            } else {
                Vec::new()
            };
        }
        self.assumed.remove(&key);
        let mut events = Vec::new();
        let mut same = false;
        match self.pods.get_mut(&key) {
            None => events.push(ClusterEvent::AssignedPodAdd),
            Some((old, node)) => {
                let same_labels = old.metadata.labels == pod.metadata.labels;
                if !same_labels {
                    events.push(ClusterEvent::AssignedPodLabelChange);
                }
                same = same_labels && *node == pod.spec.node_name && old.spec == pod.spec;
                if same && !Shared::ptr_eq(&old.spec, &pod.spec) {
                    // The stored pod's spec is a copy of the one the cache holds (the binding
                    // wrote it): keep the stored pod, so that its later events compare by
                    // address.
                    *old = owned();
                    return events;
                }
            }
        }
        if !same {
            self.unplace(&key);
            let node = pod.spec.node_name.clone();
            self.place_info(PodInfo::new(owned()), &node);
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

/// Rebuilds `info` for the changed `node` object with the same pods, placed again in the same
/// order (so GPU devices are handed out as they were).
fn refresh(info: &mut NodeInfo, node: Arc<Node>) {
    let mut fresh = NodeInfo::new(node);
    for pod in std::mem::take(&mut info.pods) {
        fresh.add_pod(pod);
    }
    fresh.touch();
    *info = fresh;
}

#[cfg(test)]
mod tests {
    use super::*;
    use flotilla_model::api::{ContainerImage, Taint, TaintEffect};
    use flotilla_model::{ObjectMeta, Quantity};
    use proptest::prelude::*;

    fn node(name: &str, zone: u8, tainted: bool, image: bool, cpu: u32) -> Arc<Node> {
        let mut node = Node {
            metadata: ObjectMeta::named("", name),
            ..Default::default()
        };
        node.metadata
            .labels
            .insert(crate::snapshot::ZONE_LABEL.into(), format!("z{zone}"));
        if tainted {
            node.spec.taints.push(Taint {
                key: "node.kubernetes.io/not-ready".into(),
                effect: TaintEffect::NoSchedule,
                ..Default::default()
            });
        }
        if image {
            node.status.images.push(ContainerImage {
                names: vec!["app:1".into()],
                size_bytes: Some(1 << 20),
            });
        }
        for (resource, value) in [("cpu", cpu.to_string()), ("pods", "8".into())] {
            let quantity: Quantity = value.parse().expect("quantity");
            node.status.allocatable.insert(resource.into(), quantity);
        }
        Arc::new(node)
    }

    fn pod(i: usize, node: &str, cpu_milli: u32) -> Arc<Pod> {
        let mut pod = Pod {
            metadata: ObjectMeta::named("default", &format!("p{i}")),
            ..Default::default()
        };
        pod.spec.node_name = node.to_string();
        let mut container = flotilla_model::api::Container {
            name: "c".into(),
            image: "app:1".into(),
            ..Default::default()
        };
        let quantity: Quantity = format!("{cpu_milli}m").parse().expect("quantity");
        container.resources.requests.insert("cpu".into(), quantity);
        pod.spec.containers.push(container);
        Arc::new(pod)
    }

    /// One change the cache hears of.
    #[derive(Clone, Debug)]
    enum Change {
        /// Node `i` joins or changes (zone, taint, image, CPU).
        Node(u8, u8, bool, bool, u32),
        RemoveNode(u8),
        /// Pod `i` is bound to node `j` with this much CPU.
        Bind(u8, u8, u32),
        /// Pod `i` is assumed on node `j`.
        Assume(u8, u8),
        Forget(u8),
        Delete(u8),
        /// Pod `i`'s status changes (a watch event read by reference); with `true`, its spec
        /// also arrives as an equal copy instead of the shared value.
        Status(u8, bool),
        /// Take a snapshot (the cache re-lays what is pending).
        Snapshot,
    }

    fn change() -> impl Strategy<Value = Change> {
        prop_oneof![
            3 => (0u8..8, 0u8..3, any::<bool>(), any::<bool>(), 1u32..4)
                .prop_map(|(i, z, t, im, c)| Change::Node(i, z, t, im, c)),
            1 => (0u8..8).prop_map(Change::RemoveNode),
            4 => (0u8..20, 0u8..8, 0u32..1000).prop_map(|(i, j, c)| Change::Bind(i, j, c)),
            2 => (0u8..20, 0u8..8).prop_map(|(i, j)| Change::Assume(i, j)),
            1 => (0u8..20).prop_map(Change::Forget),
            2 => (0u8..20).prop_map(Change::Delete),
            3 => (0u8..20, any::<bool>()).prop_map(|(i, copy)| Change::Status(i, copy)),
            3 => Just(Change::Snapshot),
        ]
    }

    /// What a snapshot says of a node: name, object, CPU requested and allocatable, the pods'
    /// keys sorted, image states, whether tainted.
    type NodeSummary = (String, Node, i64, i64, Vec<String>, String, bool);

    /// What a snapshot says of each node.
    fn summary(snapshot: &Snapshot) -> Vec<NodeSummary> {
        snapshot
            .nodes
            .iter()
            .map(|n| {
                let mut pods: Vec<String> = n.pods.iter().map(|p| p.key()).collect();
                pods.sort();
                (
                    n.name().to_string(),
                    (*n.node).clone(),
                    n.requested.milli_cpu,
                    n.allocatable.milli_cpu,
                    pods,
                    format!("{:?}", n.image_states),
                    n.has_taints,
                )
            })
            .collect()
    }

    #[test]
    fn a_status_change_keeps_the_placed_pod_and_an_equal_spec_is_adopted() {
        let mut cache = Cache::new();
        cache.upsert_node(node("n0", 0, false, false, 4));
        let placed = pod(0, "n0", 500);
        assert_eq!(
            cache.upsert_pod_from(&placed),
            vec![ClusterEvent::AssignedPodAdd]
        );
        let first = cache.pods["default/p0"].0.clone();
        let mut running = (*placed).clone();
        running.status.phase = Some(PodPhase::Running);
        assert!(cache.upsert_pod_from(&running).is_empty());
        let kept = cache.pods["default/p0"].0.clone();
        assert!(Arc::ptr_eq(&kept, &first), "a status change copies nothing");
        // The binding wrote an equal copy of the spec: the cache keeps the stored pod from
        // then on, so that later events compare specs by address.
        let mut copied = running.clone();
        copied.spec = Shared::new((*copied.spec).clone());
        assert!(cache.upsert_pod_from(&copied).is_empty());
        assert!(Shared::ptr_eq(
            &cache.pods["default/p0"].0.spec,
            &copied.spec
        ));
        assert_eq!(cache.snapshot().nodes[0].requested.milli_cpu, 500);
        // A change of labels is an event and places the pod again.
        let mut labelled = copied;
        labelled.metadata.labels.insert("app".into(), "web".into());
        assert_eq!(
            cache.upsert_pod_from(&labelled),
            vec![ClusterEvent::AssignedPodLabelChange]
        );
        assert_eq!(cache.snapshot().nodes[0].pods.len(), 1);
    }

    proptest! {
        /// Whatever the changes and whenever the snapshots are taken, the cache's snapshot holds
        /// what `Snapshot::new` builds from the same nodes and pods: the same node order, the
        /// same objects, requests, pods and image counts. And at each snapshot, the score
        /// cache (which follows the snapshot's journal of changed nodes) decides as the plain
        /// computation.
        #[test]
        fn the_cache_snapshot_is_the_snapshot_of_its_objects(
            changes in prop::collection::vec(change(), 1..60),
            seed in any::<u64>(),
        ) {
            use rand::SeedableRng;
            let config = crate::config::SchedulerConfig::default_with(
                &crate::plugins::default_registry(),
            )
            .expect("defaults");
            let profile = &config.profiles[crate::config::DEFAULT_SCHEDULER_NAME];
            let rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
            let mut plain = crate::schedule::SchedulingCycleState {
                next_start_node_index: 0,
                rng: rng.clone(),
            };
            let mut with_cache = crate::schedule::SchedulingCycleState {
                next_start_node_index: 0,
                rng,
            };
            let mut score_cache = crate::score_cache::ScoreCache::default();
            let mut cycles = 0usize;
            let mut cache = Cache::new();
            for change in changes {
                match change {
                    Change::Node(i, z, t, im, c) => {
                        cache.upsert_node(node(&format!("n{i}"), z, t, im, c));
                    }
                    Change::RemoveNode(i) => cache.remove_node(&format!("n{i}")),
                    Change::Bind(i, j, c) => {
                        cache.upsert_pod(pod(i as usize, &format!("n{j}"), c));
                    }
                    Change::Assume(i, j) => {
                        let info = PodInfo::new(pod(i as usize, "", 100));
                        cache.assume_pod(&info, &format!("n{j}"));
                    }
                    Change::Forget(i) => cache.forget_pod(&format!("default/p{i}")),
                    Change::Delete(i) => {
                        cache.remove_pod("default", &format!("p{i}"));
                    }
                    Change::Status(i, copy) => {
                        if let Some((p, _)) = cache.pods.get(&format!("default/p{i}")) {
                            let mut p = (**p).clone();
                            p.status.message = format!("{}.", p.status.message);
                            if copy {
                                p.spec = Shared::new((*p.spec).clone());
                            }
                            cache.upsert_pod_from(&p);
                        }
                    }
                    Change::Snapshot => {
                        let snapshot = cache.snapshot();
                        cycles += 1;
                        let incoming = PodInfo::new(pod(100, "", [100, 700][cycles % 2]));
                        for percentage in [100, 40] {
                            let a = crate::schedule::schedule_pod(
                                profile, snapshot, &incoming, percentage, &mut plain,
                            );
                            let b = crate::schedule::schedule_pod_with_cache(
                                profile,
                                snapshot,
                                &incoming,
                                percentage,
                                &mut with_cache,
                                &mut score_cache,
                            );
                            match (&a, &b) {
                                (Ok(a), Ok(b)) => prop_assert_eq!(a, b),
                                (Err(a), Err(b)) => prop_assert_eq!(a.to_string(), b.to_string()),
                                _ => prop_assert!(false, "plain {:?}, cached {:?}", a, b),
                            }
                            prop_assert!(plain.rng == with_cache.rng);
                        }
                    }
                }
            }
            let nodes = cache.nodes.clone();
            let pods: Vec<Arc<Pod>> = cache.pods.values().map(|(p, _)| p.clone()).collect();
            let expected = Snapshot::new(&nodes, &pods, &[]);
            let got = cache.snapshot();
            prop_assert_eq!(summary(got), summary(&expected));
            prop_assert_eq!(&got.nodes_with_affinity_pods, &expected.nodes_with_affinity_pods);
            prop_assert_eq!(got.image_num_nodes("app:1"), expected.image_num_nodes("app:1"));
            for (i, n) in got.nodes.iter().enumerate() {
                prop_assert_eq!(got.index_of(n.name()), Some(i));
            }
        }
    }
}
