//! InterPodAffinity's PreFilter and Filter (kube-scheduler v1.34,
//! pkg/scheduler/framework/plugins/interpodaffinity/filtering.go), and the PreFilter extensions
//! preemption uses to add and remove pods from the PreFilter state.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

use flotilla_model::api::Pod;
use flotilla_model::Labels;
use rayon::prelude::*;

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

/// Sums per topology key of what one node's pods contribute, in the order the keys were first
/// seen.
pub(crate) type KeySums<'a> = Vec<(&'a str, i64)>;

/// Adds `value` to the sum of `key`.
pub(crate) fn add_to_key<'a>(sums: &mut KeySums<'a>, key: &'a str, value: i64) {
    match sums.iter_mut().find(|(k, _)| *k == key) {
        Some((_, sum)) => *sum += value,
        None => sums.push((key, value)),
    }
}

/// FNV-1a, for the maps of one cycle keyed by short borrowed strings: several times cheaper
/// than std's SipHash on them, and nothing depends on the order of their entries.
#[derive(Clone, Copy)]
pub(crate) struct Fnv(u64);

impl Default for Fnv {
    fn default() -> Fnv {
        Fnv(0xcbf2_9ce4_8422_2325)
    }
}

impl Hasher for Fnv {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 ^= u64::from(b);
            self.0 = self.0.wrapping_mul(0x0100_0000_01b3);
        }
    }
}

/// Sums per topology pair `(key, value)`, borrowing the strings from the terms and the nodes.
pub(crate) type PairSums<'a> = HashMap<(&'a str, &'a str), i64, BuildHasherDefault<Fnv>>;

/// Runs `count` on the nodes `nodes` (snapshot indices; every node when `None`) and sums what
/// each node counts per topology key into its pair `(key, node's value of key)`; nodes without
/// the key add nothing. A pair is present when some node counted something for it, even if
/// the sum is 0.
///
/// Matching the existing pods against affinity terms is the bulk of InterPodAffinity's PreFilter
/// and PreScore; it runs here in parallel over nodes, and each node's contributions are summed
/// per key before they touch a map. The callers turn the sums into their maps, which come out
/// as when adding pod by pod: integer sums do not depend on the order, and an entry exists when
/// some pod contributed to it.
pub(crate) fn pair_sums<'a>(
    snapshot: &'a Snapshot,
    nodes: Option<&'a [usize]>,
    count: impl Fn(&'a NodeInfo, &mut KeySums<'a>) + Sync,
) -> PairSums<'a> {
    let fold = |(mut sums, mut pairs): (KeySums<'a>, PairSums<'a>), node: &'a NodeInfo| {
        sums.clear();
        count(node, &mut sums);
        let labels = &node.node.metadata.labels;
        for &(key, sum) in &sums {
            if let Some(value) = labels.get(key) {
                *pairs.entry((key, value.as_str())).or_insert(0) += sum;
            }
        }
        (sums, pairs)
    };
    let merge = |a: PairSums<'a>, b: PairSums<'a>| {
        let (mut into, from) = if a.len() >= b.len() { (a, b) } else { (b, a) };
        for (pair, sum) in from {
            *into.entry(pair).or_insert(0) += sum;
        }
        into
    };
    let start = || (KeySums::new(), PairSums::default());
    match nodes {
        None => snapshot
            .nodes
            .par_iter()
            .with_min_len(64)
            .fold(start, fold)
            .map(|(_, pairs)| pairs)
            .reduce(PairSums::default, merge),
        Some(list) => list
            .par_iter()
            .with_min_len(64)
            .filter_map(|&i| snapshot.nodes.get(i))
            .fold(start, fold)
            .map(|(_, pairs)| pairs)
            .reduce(PairSums::default, merge),
    }
}

/// Adds a pair's sum of positive contributions to `counts`, unless it is 0 (so the result is
/// what adding them one by one with [`TopologyCounts::update`] gives).
fn add_count(counts: &mut TopologyCounts, key: &str, value: &str, sum: i64) {
    if sum != 0 {
        counts
            .0
            .entry(key.to_string())
            .or_default()
            .insert(value.to_string(), sum);
    }
}

/// The counts of pairs summed from positive contributions (see [`add_count`]).
#[cfg(test)]
fn into_counts<'p>(pairs: impl IntoIterator<Item = ((&'p str, &'p str), i64)>) -> TopologyCounts {
    let mut counts = TopologyCounts::default();
    for ((key, value), sum) in pairs {
        add_count(&mut counts, key, value, sum);
    }
    counts
}

/// What a node adds to the existing pods' anti-affinity counts for `pod` (in a namespace with
/// `ns_labels`): each required anti-affinity term of its pods that matches `pod`.
fn count_existing_anti_affinity<'a>(
    pod: &'a Pod,
    ns_labels: &'a Labels,
) -> impl Fn(&'a NodeInfo, &mut KeySums<'a>) + Sync + 'a {
    move |node, sums| {
        for existing in &node.pods {
            for term in &existing.required_anti_affinity_terms {
                if term.matches(pod, Some(ns_labels)) {
                    add_to_key(sums, &term.topology_key, 1);
                }
            }
        }
    }
}

/// What a node adds to the incoming pod's affinity counts: each pod matching all of
/// `affinity`, once per term.
fn count_affinity<'a>(
    affinity: &'a [IncomingTerm],
) -> impl Fn(&'a NodeInfo, &mut KeySums<'a>) + Sync + 'a {
    move |node, sums| {
        for existing in &node.pods {
            if matches_all(affinity, &existing.pod) {
                for term in affinity {
                    add_to_key(sums, &term.topology_key, 1);
                }
            }
        }
    }
}

/// What a node adds to the incoming pod's anti-affinity counts: each pod matching a term of
/// `anti_affinity`, once per term it matches.
fn count_anti_affinity<'a>(
    anti_affinity: &'a [IncomingTerm],
) -> impl Fn(&'a NodeInfo, &mut KeySums<'a>) + Sync + 'a {
    move |node, sums| {
        for existing in &node.pods {
            for term in anti_affinity {
                if term.matches(&existing.pod) {
                    add_to_key(sums, &term.topology_key, 1);
                }
            }
        }
    }
}

/// Per pair, the required anti-affinity terms of existing pods that match `pod` (in a namespace
/// with `ns_labels`), scanning only the nodes that have pods with such terms
/// (kube-scheduler's `getExistingAntiAffinityCounts`): the plain scan, which the tests compare
/// the plugin's cached counts with.
#[cfg(test)]
pub(crate) fn existing_anti_affinity_counts(
    pod: &Pod,
    ns_labels: &Labels,
    snapshot: &Snapshot,
) -> TopologyCounts {
    if snapshot.nodes_with_required_anti_affinity_pods.is_empty() {
        return TopologyCounts::default();
    }
    into_counts(pair_sums(
        snapshot,
        Some(&snapshot.nodes_with_required_anti_affinity_pods),
        count_existing_anti_affinity(pod, ns_labels),
    ))
}

/// Per pair, the existing pods that match all of `affinity` (once per term) and those that match
/// each of `anti_affinity` (kube-scheduler's `getIncomingAffinityAntiAffinityCounts`): the
/// plain scan, which the tests compare the plugin's cached counts with.
#[cfg(test)]
pub(crate) fn incoming_affinity_counts(
    affinity: &[IncomingTerm],
    anti_affinity: &[IncomingTerm],
    snapshot: &Snapshot,
) -> (TopologyCounts, TopologyCounts) {
    let mut affinity_counts = TopologyCounts::default();
    let mut anti_affinity_counts = TopologyCounts::default();
    if !affinity.is_empty() {
        affinity_counts = into_counts(pair_sums(snapshot, None, count_affinity(affinity)));
    }
    if !anti_affinity.is_empty() {
        anti_affinity_counts = into_counts(pair_sums(
            snapshot,
            None,
            count_anti_affinity(anti_affinity),
        ));
    }
    (affinity_counts, anti_affinity_counts)
}

impl InterPodAffinity {
    /// kube-scheduler's `getExistingAntiAffinityCounts` and
    /// `getIncomingAffinityAntiAffinityCounts`, from the plugin's scan caches: the counts of
    /// the existing pods' anti-affinity terms matching `pod`, of the pods matching all of
    /// `affinity`, and of those matching each of `anti_affinity`.
    fn cached_counts(
        &self,
        pod: &Pod,
        ns_labels: &Labels,
        affinity: &[IncomingTerm],
        anti_affinity: &[IncomingTerm],
        snapshot: &Snapshot,
    ) -> (TopologyCounts, TopologyCounts, TopologyCounts) {
        let mut caches = self.caches();
        let mut existing = TopologyCounts::default();
        if !snapshot.nodes_with_required_anti_affinity_pods.is_empty() {
            let query = (
                pod.metadata.namespace.clone(),
                (*pod.metadata.labels).clone(),
                ns_labels.clone(),
            );
            caches.existing_anti_affinity.for_each_sum(
                query,
                snapshot,
                Some(&snapshot.nodes_with_required_anti_affinity_pods),
                count_existing_anti_affinity(pod, ns_labels),
                |key, value, sum| add_count(&mut existing, key, value, sum),
            );
        }
        let mut affinity_counts = TopologyCounts::default();
        if !affinity.is_empty() {
            caches.affinity.for_each_sum(
                affinity.to_vec(),
                snapshot,
                None,
                count_affinity(affinity),
                |key, value, sum| add_count(&mut affinity_counts, key, value, sum),
            );
        }
        let mut anti_affinity_counts = TopologyCounts::default();
        if !anti_affinity.is_empty() {
            caches.anti_affinity.for_each_sum(
                anti_affinity.to_vec(),
                snapshot,
                None,
                count_anti_affinity(anti_affinity),
                |key, value, sum| add_count(&mut anti_affinity_counts, key, value, sum),
            );
        }
        (existing, affinity_counts, anti_affinity_counts)
    }
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

        let (existing, affinity_counts, anti_affinity_counts) = self.cached_counts(
            &pod.pod,
            ns_labels,
            &required_affinity,
            &required_anti_affinity,
            snapshot,
        );

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
