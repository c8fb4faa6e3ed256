//! A snapshot of the cluster as the scheduler sees it for one cycle: every node's
//! [`NodeInfo`] in kube-scheduler's node order, plus the cluster-wide facts plugins need.

use std::collections::{BTreeMap, HashMap};

use flotilla_model::hash::BuildFxHasher;
use std::sync::Arc;

use flotilla_model::api::{Namespace, Node, Pod, PodPhase};
use flotilla_model::{Labels, Selector};

use crate::node_info::{NodeInfo, PodInfo};

/// The label with a node's zone.
pub const ZONE_LABEL: &str = "topology.kubernetes.io/zone";
/// The label with a node's region.
pub const REGION_LABEL: &str = "topology.kubernetes.io/region";

/// The nodes and what runs on them, frozen for a scheduling cycle.
#[derive(Debug, Default)]
pub struct Snapshot {
    /// Nodes in kube-scheduler's order: zones interleaved (the first node of each zone, then the
    /// second, …), insertion order within a zone (`backend/cache/node_tree.go`).
    pub nodes: Vec<NodeInfo>,
    index: HashMap<String, usize, BuildFxHasher>,
    /// Labels of every namespace, for affinity terms with a namespace selector.
    pub namespace_labels: BTreeMap<String, Labels>,
    /// Indices of nodes with at least one pod that has pod (anti-)affinity terms.
    pub nodes_with_affinity_pods: Vec<usize>,
    /// Indices of nodes with at least one pod that has required anti-affinity terms.
    pub nodes_with_required_anti_affinity_pods: Vec<usize>,
    /// The selectors of Services and workload controllers, from which PodTopologySpread builds
    /// the selector of its default constraints (empty unless the driver fills it in).
    pub workload_selectors: WorkloadSelectors,
    /// The PodDisruptionBudgets of the cluster, which preemption tries not to violate (filled
    /// by the cache from PDB watch events, or by whoever builds the snapshot).
    pub pdbs: Vec<Arc<flotilla_model::api::PodDisruptionBudget>>,
    /// Pending pods nominated to a node by preemption (`status.nominatedNodeName`), by node name.
    /// Filtering a node adds those with at least the incoming pod's priority first
    /// (`RunFilterPluginsWithNominatedPods`); empty, it costs nothing.
    pub nominated_pods: Arc<HashMap<String, Vec<PodInfo>>>,
    /// The PersistentVolumeClaims, PersistentVolumes and StorageClasses the volume plugins read
    /// (kube-scheduler's listers; empty unless the driver fills it in).
    pub volumes: Arc<VolumeObjects>,
    /// How many distinct nodes report each image name (names as the nodes report them), as
    /// kube-scheduler's cache counts them for `ImageStateSummary.NumNodes`.
    image_nodes: HashMap<String, usize>,
    /// The nodes changed since the journal began, when the snapshot keeps one (see
    /// [`Journal`]).
    journal: Journal,
}

/// The indices of the nodes whose state (and [`NodeInfo::generation`]) changed, in the order
/// they changed, kept by the owner of a snapshot that promises to note every change it makes
/// (the scheduler's [`Cache`](crate::cache::Cache)). The score cache then finds the nodes to
/// filter again from the journal instead of comparing the generation of every node. A
/// snapshot built any other way, or copied, keeps none (`id` 0): code that changes `nodes`
/// directly needs no journal.
#[derive(Debug, Default)]
pub(crate) struct Journal {
    /// Which journal this is: 0 for none, else unique in the process (a
    /// [`next_generation`](crate::node_info::next_generation)), new whenever the journal
    /// starts again, so that a position recorded in an older one is never trusted.
    pub(crate) id: u64,
    /// The indices noted, oldest first (a node may appear several times).
    pub(crate) changed: Vec<usize>,
}

impl Clone for Snapshot {
    /// A copy of every node and fact, without the journal: whoever changes the copy does not
    /// note its changes.
    fn clone(&self) -> Snapshot {
        Snapshot {
            nodes: self.nodes.clone(),
            index: self.index.clone(),
            namespace_labels: self.namespace_labels.clone(),
            nodes_with_affinity_pods: self.nodes_with_affinity_pods.clone(),
            nodes_with_required_anti_affinity_pods: self
                .nodes_with_required_anti_affinity_pods
                .clone(),
            workload_selectors: self.workload_selectors.clone(),
            pdbs: self.pdbs.clone(),
            nominated_pods: self.nominated_pods.clone(),
            volumes: self.volumes.clone(),
            image_nodes: self.image_nodes.clone(),
            journal: Journal::default(),
        }
    }
}

/// What kube-scheduler's PersistentVolumeClaim, PersistentVolume and StorageClass listers give
/// the volume plugins (VolumeRestrictions, VolumeBinding, VolumeZone).
#[derive(Clone, Debug, Default)]
pub struct VolumeObjects {
    /// Claims by `namespace/name`.
    pub pvcs: HashMap<String, Arc<flotilla_model::api::PersistentVolumeClaim>>,
    /// Volumes by name, in name order (the order VolumeBinding considers them in).
    pub pvs: BTreeMap<String, Arc<flotilla_model::api::PersistentVolume>>,
    /// Classes by name.
    pub storage_classes: HashMap<String, Arc<flotilla_model::api::StorageClass>>,
}

impl VolumeObjects {
    /// Collects the objects (a later object with the same key replaces an earlier one).
    pub fn new(
        pvcs: &[Arc<flotilla_model::api::PersistentVolumeClaim>],
        pvs: &[Arc<flotilla_model::api::PersistentVolume>],
        storage_classes: &[Arc<flotilla_model::api::StorageClass>],
    ) -> VolumeObjects {
        VolumeObjects {
            pvcs: pvcs
                .iter()
                .map(|c| {
                    let key = format!("{}/{}", c.metadata.namespace, c.metadata.name);
                    (key, c.clone())
                })
                .collect(),
            pvs: pvs
                .iter()
                .map(|v| (v.metadata.name.clone(), v.clone()))
                .collect(),
            storage_classes: storage_classes
                .iter()
                .map(|c| (c.metadata.name.clone(), c.clone()))
                .collect(),
        }
    }

    /// The claim `name` in `namespace`.
    pub fn pvc(
        &self,
        namespace: &str,
        name: &str,
    ) -> Option<&Arc<flotilla_model::api::PersistentVolumeClaim>> {
        self.pvcs.get(&format!("{namespace}/{name}"))
    }

    /// Whether there are no objects at all.
    pub fn is_empty(&self) -> bool {
        self.pvcs.is_empty() && self.pvs.is_empty() && self.storage_classes.is_empty()
    }
}

/// What kube-scheduler's Service, ReplicationController, ReplicaSet and StatefulSet listers give
/// PodTopologySpread: the selectors from which `helper.DefaultSelector` builds the selector of a
/// pod's default spreading constraints (pkg/scheduler/framework/plugins/helper/spread.go).
///
/// [`workload_selectors`](crate::plugins::pod_topology_spread::workload_selectors) builds one
/// from API objects.
#[derive(Clone, Debug, Default)]
pub struct WorkloadSelectors {
    /// `(namespace, spec.selector)` of every Service that has a selector; a Service selects the
    /// pods of its namespace whose labels include all of its selector.
    pub services: Vec<(String, Labels)>,
    /// The pod selector of every ReplicationController, ReplicaSet and StatefulSet, keyed by
    /// `(namespace, kind, name)`, where kind is `ReplicationController`, `ReplicaSet` or
    /// `StatefulSet`; a pod's controller owner reference finds its entry.
    pub controllers: BTreeMap<(String, String, String), Selector>,
}

impl Snapshot {
    /// Builds a snapshot from nodes (in the order they joined the cluster), the pods bound to
    /// them (`spec.nodeName` set; pods that finished are left out, as the scheduler's informer
    /// leaves them out) and the namespaces.
    pub fn new(nodes: &[Arc<Node>], pods: &[Arc<Pod>], namespaces: &[Arc<Namespace>]) -> Snapshot {
        Snapshot::from_infos(
            nodes.iter().cloned().map(NodeInfo::new).collect(),
            pods.iter().cloned().map(PodInfo::new).collect(),
            namespaces,
        )
    }

    /// [`Snapshot::new`] from `NodeInfo::new` of each node (in the order they joined, without
    /// pods) and `PodInfo::new` of each pod, computed before: the scheduler's cache keeps them
    /// between rebuilds. Builds exactly what `Snapshot::new` builds from the same objects.
    pub fn from_infos(
        nodes: Vec<NodeInfo>,
        pods: Vec<PodInfo>,
        namespaces: &[Arc<Namespace>],
    ) -> Snapshot {
        let mut infos = zone_interleaved(nodes);
        for info in &mut infos {
            // Each state of a node has its own generation, as `NodeInfo::new` gives it.
            info.touch();
        }
        let index: HashMap<String, usize, BuildFxHasher> = infos
            .iter()
            .enumerate()
            .map(|(i, n)| (n.name().to_string(), i))
            .collect();
        for info in pods {
            let pod = &info.pod;
            if pod.spec.node_name.is_empty()
                || matches!(
                    pod.status.phase,
                    Some(PodPhase::Succeeded | PodPhase::Failed)
                )
            {
                continue;
            }
            if let Some(&i) = index.get(&pod.spec.node_name) {
                infos[i].add_pod(info);
            }
        }
        let mut snapshot = Snapshot {
            nodes: infos,
            index,
            namespace_labels: namespaces
                .iter()
                .map(|n| (n.metadata.name.clone(), (*n.metadata.labels).clone()))
                .collect(),
            nodes_with_affinity_pods: Vec::new(),
            nodes_with_required_anti_affinity_pods: Vec::new(),
            workload_selectors: WorkloadSelectors::default(),
            pdbs: Vec::new(),
            nominated_pods: Arc::default(),
            volumes: Arc::default(),
            image_nodes: HashMap::new(),
            journal: Journal::default(),
        };
        for info in &snapshot.nodes {
            for name in image_names(&info.node) {
                *snapshot.image_nodes.entry(name.to_string()).or_insert(0) += 1;
            }
        }
        snapshot.refresh_affinity_lists();
        snapshot
    }

    /// Starts a journal of node changes (a new one when there was one): the caller promises
    /// to [note](Self::note_changed) every change it makes to a node from now on.
    pub(crate) fn start_journal(&mut self) {
        self.journal.id = crate::node_info::next_generation();
        self.journal.changed.clear();
    }

    /// Notes that node `i` changed (when the snapshot keeps a journal). A journal grown past
    /// twice the number of nodes starts again, so that it stays small; whoever read the old
    /// one then compares every node once.
    pub(crate) fn note_changed(&mut self, i: usize) {
        if self.journal.id == 0 {
            return;
        }
        if self.journal.changed.len() >= 2 * self.nodes.len() + 64 {
            self.start_journal();
        }
        self.journal.changed.push(i);
    }

    /// The journal of node changes (`id` 0 when none is kept).
    pub(crate) fn journal(&self) -> &Journal {
        &self.journal
    }

    /// Recomputes the lists of nodes with affinity pods (after pods were added or removed).
    pub fn refresh_affinity_lists(&mut self) {
        self.nodes_with_affinity_pods = self
            .nodes
            .iter()
            .enumerate()
            .filter(|(_, n)| n.pods_with_affinity > 0)
            .map(|(i, _)| i)
            .collect();
        self.nodes_with_required_anti_affinity_pods = self
            .nodes
            .iter()
            .enumerate()
            .filter(|(_, n)| n.pods_with_required_anti_affinity > 0)
            .map(|(i, _)| i)
            .collect();
    }

    /// How many nodes report holding the image `name` (as they name it).
    pub fn image_num_nodes(&self, name: &str) -> usize {
        self.image_nodes.get(name).copied().unwrap_or(0)
    }

    /// Updates the image counts for a node whose object changed from `old` to `new` (same
    /// name); nothing else changes.
    pub(crate) fn replace_node_images(&mut self, old: &Node, new: &Node) {
        let before = image_names(old);
        let after = image_names(new);
        if before == after {
            return;
        }
        for name in &before {
            if let Some(count) = self.image_nodes.get_mut(*name) {
                *count -= 1;
                if *count == 0 {
                    self.image_nodes.remove(*name);
                }
            }
        }
        for name in after {
            *self.image_nodes.entry(name.to_string()).or_insert(0) += 1;
        }
    }

    /// The index of the node named `name`.
    pub fn index_of(&self, name: &str) -> Option<usize> {
        self.index.get(name).copied()
    }

    /// The node named `name`.
    pub fn node(&self, name: &str) -> Option<&NodeInfo> {
        self.index_of(name).map(|i| &self.nodes[i])
    }

    /// Number of nodes.
    pub fn len(&self) -> usize {
        self.nodes.len()
    }

    /// Whether there are no nodes.
    pub fn is_empty(&self) -> bool {
        self.nodes.is_empty()
    }
}

/// The distinct names of the images `node` reports, sorted.
fn image_names(node: &Node) -> Vec<&str> {
    let mut names: Vec<&str> = node
        .status
        .images
        .iter()
        .flat_map(|i| i.names.iter().map(String::as_str))
        .collect();
    names.sort_unstable();
    names.dedup();
    names
}

/// An image name as kube-scheduler compares them: a name without a tag or digest means `:latest`
/// (`imagelocality.normalizedImageName`).
pub fn normalized_image_name(name: &str) -> String {
    let last = name.rsplit('/').next().unwrap_or(name);
    if last.contains(':') || last.contains('@') {
        name.to_string()
    } else {
        format!("{name}:latest")
    }
}

/// A node's zone as kube-scheduler's node tree keys it (`utilnode.GetZoneKey`: region and
/// zone, both empty for a node without them), borrowed from the node's labels. Two nodes are
/// in the same zone when their pairs are equal (the node tree joins the two with a separator
/// that label values cannot contain).
pub(crate) fn zone_key(node: &Node) -> (&str, &str) {
    let labels = &node.metadata.labels;
    let region = labels.get(REGION_LABEL).map(String::as_str).unwrap_or("");
    let zone = labels.get(ZONE_LABEL).map(String::as_str).unwrap_or("");
    (region, zone)
}

/// Orders nodes as kube-scheduler's node tree lists them: one node from each zone in turn.
fn zone_interleaved(nodes: Vec<NodeInfo>) -> Vec<NodeInfo> {
    let total = nodes.len();
    // The zones in the order their first node joined, with the positions of their nodes.
    let mut zones: Vec<((String, String), Vec<usize>)> = Vec::new();
    for (i, info) in nodes.iter().enumerate() {
        let key = zone_key(&info.node);
        // Nodes usually come zone after zone or round-robin: try the last zone first.
        match zones
            .iter_mut()
            .rev()
            .find(|((r, z), _)| (r.as_str(), z.as_str()) == key)
        {
            Some((_, list)) => list.push(i),
            None => zones.push(((key.0.to_string(), key.1.to_string()), vec![i])),
        }
    }
    let mut slots: Vec<Option<NodeInfo>> = nodes.into_iter().map(Some).collect();
    let mut out = Vec::with_capacity(total);
    let mut round = 0;
    while out.len() < total {
        for (_, list) in &zones {
            if let Some(&i) = list.get(round) {
                if let Some(info) = slots[i].take() {
                    out.push(info);
                }
            }
        }
        round += 1;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use flotilla_model::ObjectMeta;

    fn node(name: &str, zone: &str) -> Arc<Node> {
        let mut meta = ObjectMeta::named("", name);
        if !zone.is_empty() {
            meta.labels.insert(ZONE_LABEL.into(), zone.into());
        }
        Arc::new(Node {
            metadata: meta,
            ..Default::default()
        })
    }

    #[test]
    fn nodes_are_zone_interleaved_in_insertion_order() {
        let nodes = vec![
            node("a1", "a"),
            node("a2", "a"),
            node("b1", "b"),
            node("a3", "a"),
            node("c1", "c"),
        ];
        let s = Snapshot::new(&nodes, &[], &[]);
        let names: Vec<&str> = s.nodes.iter().map(|n| n.name()).collect();
        assert_eq!(names, vec!["a1", "b1", "c1", "a2", "a3"]);
        assert_eq!(s.index_of("a2"), Some(3));
    }

    #[test]
    fn images_without_tags_are_latest() {
        assert_eq!(normalized_image_name("nginx"), "nginx:latest");
        assert_eq!(normalized_image_name("nginx:1.27"), "nginx:1.27");
        assert_eq!(
            normalized_image_name("registry:5000/app"),
            "registry:5000/app:latest"
        );
        assert_eq!(normalized_image_name("app@sha256:abc"), "app@sha256:abc");
    }
}
