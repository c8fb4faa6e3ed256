//! InterPodAffinity's PreFilter and Filter (kube-scheduler v1.34,
//! pkg/scheduler/framework/plugins/interpodaffinity/filtering.go), and the PreFilter extensions
//! preemption uses to add and remove pods from the PreFilter state.

use flotilla_model::api::Pod;
use flotilla_model::Labels;

use super::{
    matches_all, namespace_labels, parse_error, IncomingTerm, InterPodAffinity, TopologyCounts,
};
use crate::framework::{Code, CycleState, FilterPlugin, PreFilterPlugin, PreFilterResult, Status};
use crate::node_info::{NodeInfo, PodInfo};
use crate::snapshot::Snapshot;

/// The key of the PreFilter state in the [`CycleState`] (kube-scheduler's `preFilterStateKey`).
pub const PRE_FILTER_STATE_KEY: &str = "PreFilterInterPodAffinity";

/// Filter reason when the node breaks an existing pod's required anti-affinity (Unschedulable).
pub const ERR_REASON_EXISTING_ANTI_AFFINITY_RULES_NOT_MATCH: &str =
    "node(s) didn't satisfy existing pods anti-affinity rules";
/// Filter reason when the node does not satisfy the pod's required affinity
/// (UnschedulableAndUnresolvable).
pub const ERR_REASON_AFFINITY_RULES_NOT_MATCH: &str = "node(s) didn't match pod affinity rules";
/// Filter reason when the node breaks the pod's required anti-affinity (Unschedulable).
pub const ERR_REASON_ANTI_AFFINITY_RULES_NOT_MATCH: &str =
    "node(s) didn't match pod anti-affinity rules";

/// What PreFilter computes for Filter (kube-scheduler's `preFilterState`).
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct PreFilterState {
    /// Per pair, the existing pods' required anti-affinity terms that match the incoming pod.
    pub(crate) existing_anti_affinity_counts: TopologyCounts,
    /// Per pair, the existing pods that match all the incoming pod's required affinity terms
    /// (counted once per term).
    pub(crate) affinity_counts: TopologyCounts,
    /// Per pair, the existing pods that match each of the incoming pod's required anti-affinity
    /// terms.
    pub(crate) anti_affinity_counts: TopologyCounts,
    /// The incoming pod's required affinity terms, namespaces resolved.
    pub(crate) required_affinity: Vec<IncomingTerm>,
    /// The incoming pod's required anti-affinity terms, namespaces resolved.
    pub(crate) required_anti_affinity: Vec<IncomingTerm>,
    /// Whether the incoming pod matches all its own required affinity terms (the first pod of a
    /// self-affine group may then go anywhere while no pod matches).
    pub(crate) matches_own_affinity: bool,
    /// The labels of the incoming pod's namespace, which existing pods' terms are matched with.
    pub(crate) namespace_labels: Labels,
}

impl PreFilterState {
    /// Every topology key of the affinity terms is on the node, and each term's pair has a
    /// matching pod, or no pair has one and the pod matches its own terms
    /// (kube-scheduler's `satisfyPodAffinity`).
    fn satisfies_pod_affinity(&self, labels: &Labels) -> bool {
        let mut pods_exist = true;
        for term in &self.required_affinity {
            match labels.get(&term.topology_key) {
                Some(value) => {
                    if self.affinity_counts.get(&term.topology_key, value) <= 0 {
                        pods_exist = false;
                    }
                }
                // All topology labels must exist on the node.
                None => return false,
            }
        }
        // The first pod of a series with affinity to themselves: when no pod in the cluster
        // matches, a pod that matches its own terms passes on any node with the keys.
        pods_exist || (self.affinity_counts.is_empty() && self.matches_own_affinity)
    }

    /// No anti-affinity term's pair on the node has a matching pod
    /// (kube-scheduler's `satisfyPodAntiAffinity`).
    fn satisfies_pod_anti_affinity(&self, labels: &Labels) -> bool {
        if self.anti_affinity_counts.is_empty() {
            return true;
        }
        !self.required_anti_affinity.iter().any(|term| {
            labels
                .get(&term.topology_key)
                .is_some_and(|v| self.anti_affinity_counts.get(&term.topology_key, v) > 0)
        })
    }

    /// No pair of the node is counted by an existing pod's anti-affinity
    /// (kube-scheduler's `satisfyExistingPodsAntiAffinity`).
    fn satisfies_existing_pods_anti_affinity(&self, labels: &Labels) -> bool {
        self.existing_anti_affinity_counts.is_empty()
            || !self.existing_anti_affinity_counts.any_positive(labels)
    }

    /// Adds (`delta` 1) or removes (`delta` −1) the contributions of `other` on `node`
    /// (kube-scheduler's `preFilterState.updateWithPod`).
    fn update_with_pod(
        &mut self,
        incoming: &Pod,
        other: &PodInfo,
        node_labels: &Labels,
        delta: i64,
    ) {
        for term in &other.required_anti_affinity_terms {
            if term.matches(incoming, Some(&self.namespace_labels)) {
                self.existing_anti_affinity_counts
                    .update(node_labels, &term.topology_key, delta);
            }
        }
        if matches_all(&self.required_affinity, &other.pod) {
            for term in &self.required_affinity {
                self.affinity_counts
                    .update(node_labels, &term.topology_key, delta);
            }
        }
        for term in &self.required_anti_affinity {
            if term.matches(&other.pod) {
                self.anti_affinity_counts
                    .update(node_labels, &term.topology_key, delta);
            }
        }
    }
}

/// Per pair, the required anti-affinity terms of existing pods that match `pod` (in a namespace
/// with `ns_labels`), scanning only the nodes that have pods with such terms
/// (kube-scheduler's `getExistingAntiAffinityCounts`).
pub(crate) fn existing_anti_affinity_counts(
    pod: &Pod,
    ns_labels: &Labels,
    snapshot: &Snapshot,
) -> TopologyCounts {
    let mut counts = TopologyCounts::default();
    for &i in &snapshot.nodes_with_required_anti_affinity_pods {
        let Some(node) = snapshot.nodes.get(i) else {
            continue;
        };
        let labels = &node.node.metadata.labels;
        for existing in &node.pods {
            for term in &existing.required_anti_affinity_terms {
                if term.matches(pod, Some(ns_labels)) {
                    counts.update(labels, &term.topology_key, 1);
                }
            }
        }
    }
    counts
}

/// Per pair, the existing pods that match all of `affinity` (once per term) and those that match
/// each of `anti_affinity` (kube-scheduler's `getIncomingAffinityAntiAffinityCounts`).
pub(crate) fn incoming_affinity_counts(
    affinity: &[IncomingTerm],
    anti_affinity: &[IncomingTerm],
    snapshot: &Snapshot,
) -> (TopologyCounts, TopologyCounts) {
    let mut affinity_counts = TopologyCounts::default();
    let mut anti_affinity_counts = TopologyCounts::default();
    if affinity.is_empty() && anti_affinity.is_empty() {
        return (affinity_counts, anti_affinity_counts);
    }
    for node in &snapshot.nodes {
        let labels = &node.node.metadata.labels;
        for existing in &node.pods {
            if matches_all(affinity, &existing.pod) {
                for term in affinity {
                    affinity_counts.update(labels, &term.topology_key, 1);
                }
            }
            for term in anti_affinity {
                if term.matches(&existing.pod) {
                    anti_affinity_counts.update(labels, &term.topology_key, 1);
                }
            }
        }
    }
    (affinity_counts, anti_affinity_counts)
}

impl PreFilterPlugin for InterPodAffinity {
    fn pre_filter(
        &self,
        state: &mut CycleState,
        pod: &PodInfo,
        snapshot: &Snapshot,
    ) -> (PreFilterResult, Status) {
        if let Some(err) = parse_error(pod) {
            return (
                PreFilterResult::default(),
                Status::unresolvable(format!("parsing pod: {err}")),
            );
        }
        let required_affinity: Vec<IncomingTerm> = pod
            .required_affinity_terms
            .iter()
            .map(|t| IncomingTerm::resolve(t, snapshot))
            .collect();
        let required_anti_affinity: Vec<IncomingTerm> = pod
            .required_anti_affinity_terms
            .iter()
            .map(|t| IncomingTerm::resolve(t, snapshot))
            .collect();
        let ns_labels = namespace_labels(snapshot, &pod.pod.metadata.namespace);

        let existing = existing_anti_affinity_counts(&pod.pod, ns_labels, snapshot);
        let (affinity_counts, anti_affinity_counts) =
            incoming_affinity_counts(&required_affinity, &required_anti_affinity, snapshot);

        if existing.is_empty() && required_affinity.is_empty() && required_anti_affinity.is_empty()
        {
            return (PreFilterResult::default(), Status::skip());
        }
        let matches_own_affinity = matches_all(&required_affinity, &pod.pod);
        state.write(
            PRE_FILTER_STATE_KEY,
            PreFilterState {
                existing_anti_affinity_counts: existing,
                affinity_counts,
                anti_affinity_counts,
                required_affinity,
                required_anti_affinity,
                matches_own_affinity,
                namespace_labels: ns_labels.clone(),
            },
        );
        (PreFilterResult::default(), Status::success())
    }
}

/// The error Filter and the PreFilter extensions return when PreFilter did not run (or skipped).
fn missing_state() -> Status {
    Status::error(format!(
        "error reading {PRE_FILTER_STATE_KEY:?} from cycleState: not found"
    ))
}

impl FilterPlugin for InterPodAffinity {
    fn filter(&self, state: &CycleState, _pod: &PodInfo, node: &NodeInfo) -> Status {
        let Some(s) = state.read::<PreFilterState>(PRE_FILTER_STATE_KEY) else {
            return missing_state();
        };
        let labels = &node.node.metadata.labels;
        if !s.satisfies_pod_affinity(labels) {
            return Status::new(
                Code::UnschedulableAndUnresolvable,
                ERR_REASON_AFFINITY_RULES_NOT_MATCH,
            );
        }
        if !s.satisfies_pod_anti_affinity(labels) {
            return Status::new(
                Code::Unschedulable,
                ERR_REASON_ANTI_AFFINITY_RULES_NOT_MATCH,
            );
        }
        if !s.satisfies_existing_pods_anti_affinity(labels) {
            return Status::new(
                Code::Unschedulable,
                ERR_REASON_EXISTING_ANTI_AFFINITY_RULES_NOT_MATCH,
            );
        }
        Status::success()
    }
}

impl InterPodAffinity {
    /// PreFilter extension `AddPod`: updates the PreFilter state as if `pod_to_add` ran on
    /// `node` (preemption re-adds victims it reprieves and nominated pods). Like kube-scheduler,
    /// the framework must not call it when this plugin's PreFilter returned Skip; it then returns
    /// an error.
    pub fn add_pod(
        &self,
        state: &mut CycleState,
        pod_to_schedule: &PodInfo,
        pod_to_add: &PodInfo,
        node: &NodeInfo,
    ) -> Status {
        self.update(state, pod_to_schedule, pod_to_add, node, 1)
    }

    /// PreFilter extension `RemovePod`: updates the PreFilter state as if `pod_to_remove` no
    /// longer ran on `node` (preemption removes victims). See [`InterPodAffinity::add_pod`].
    pub fn remove_pod(
        &self,
        state: &mut CycleState,
        pod_to_schedule: &PodInfo,
        pod_to_remove: &PodInfo,
        node: &NodeInfo,
    ) -> Status {
        self.update(state, pod_to_schedule, pod_to_remove, node, -1)
    }

    fn update(
        &self,
        state: &mut CycleState,
        incoming: &PodInfo,
        other: &PodInfo,
        node: &NodeInfo,
        delta: i64,
    ) -> Status {
        let Some(s) = state.read_mut::<PreFilterState>(PRE_FILTER_STATE_KEY) else {
            return missing_state();
        };
        s.update_with_pod(&incoming.pod, other, &node.node.metadata.labels, delta);
        Status::success()
    }
}
