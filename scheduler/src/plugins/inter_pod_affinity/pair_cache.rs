//! The per-node sums of InterPodAffinity's scans, kept from one scheduling cycle to the next.
//!
//! PreFilter and PreScore each scan every existing pod of the cluster and sum, per topology pair
//! `(key, value)`, what the pods match (see [`pair_sums`](super::filtering::pair_sums)). What a
//! node adds is a function of the *query* (the incoming pod's resolved terms, or its namespace and
//! labels, and the plugin's arguments) and of that node's own [`NodeInfo`]: its pods and its
//! labels. Consecutive pods are usually copies of one template, so the query repeats, and a
//! binding changes one node. A [`PairCache`] keeps each node's contribution with the node's
//! [`NodeInfo::generation`] and the totals over all nodes; a cycle with the same query
//! re-counts only the nodes whose generation changed, subtracting what they added before and
//! adding what they add now. The totals are integer sums with a count of the nodes that added
//! to each pair, so they are exactly what a full scan gives, in any order: the pairs present
//! (some node counted something for the pair, even if it sums to 0) and their sums.
//!
//! A query seen for the first time is answered by the plain scan and only remembered; the
//! second consecutive cycle with it builds the per-node entries (a full scan, in parallel), and
//! the cycles after that use them. So pods that alternate between templates cost what the plain
//! scan costs, and a series of like pods pays the full scan twice. A snapshot with a different
//! number of nodes starts over. When only a few nodes can add anything (a scan limited to the
//! nodes with affinity pods, and those are under an eighth of the cluster), the plain scan of
//! those is cheaper than checking every node's generation, and is used.

use std::collections::HashMap;

use rayon::prelude::*;

use super::filtering::{pair_sums, KeySums};
use crate::node_info::NodeInfo;
use crate::snapshot::Snapshot;

/// A topology pair `(key, value)`.
pub(crate) type Pair = (String, String);

/// Below this many nodes to re-count, the cache counts them on the calling thread.
const PARALLEL_MIN_NODES: usize = 128;

/// Per-node contributions and their totals for one query. See the [module docs](self).
#[derive(Clone, Debug)]
pub(crate) struct PairCache<Q> {
    /// The query the entries are for.
    query: Option<Q>,
    /// The query of the last call, when it had no entries (answered by the plain scan).
    seen: Option<Q>,
    /// Per node (snapshot index): the generation the contribution was counted at, 0 for none.
    generations: Vec<u64>,
    /// Per node: what it adds, per pair (only the keys the node has a label for).
    contributions: Vec<Vec<(Pair, i64)>>,
    /// Per pair: the sum over the nodes, and how many nodes added to it.
    totals: HashMap<Pair, (i64, usize)>,
}

impl<Q> Default for PairCache<Q> {
    fn default() -> Self {
        PairCache {
            query: None,
            seen: None,
            generations: Vec::new(),
            contributions: Vec::new(),
            totals: HashMap::new(),
        }
    }
}

/// What `count` says `node` adds, as pairs with the node's values of the keys.
fn contribution<'a>(
    node: &'a NodeInfo,
    count: &(impl Fn(&'a NodeInfo, &mut KeySums<'a>) + Sync),
) -> Vec<(Pair, i64)> {
    let mut sums = KeySums::new();
    count(node, &mut sums);
    let labels = &node.node.metadata.labels;
    sums.into_iter()
        .filter_map(|(key, sum)| {
            let value = labels.get(key)?;
            Some(((key.to_string(), value.clone()), sum))
        })
        .collect()
}

impl<Q: PartialEq> PairCache<Q> {
    /// Calls `emit(key, value, sum)` for each pair of the sums over the nodes of `snapshot`
    /// that `count` gives for `query` (what [`pair_sums`] gives, in no particular order),
    /// re-counting only the nodes that changed since the last call with an equal query.
    /// `count` must depend only on the query and the node it is given. `nodes` lists the only
    /// nodes that can add anything (every node when `None`); the plain scan visits only those.
    pub(crate) fn for_each_sum<'a>(
        &mut self,
        query: Q,
        snapshot: &'a Snapshot,
        nodes: Option<&'a [usize]>,
        count: impl Fn(&'a NodeInfo, &mut KeySums<'a>) + Sync,
        mut emit: impl FnMut(&str, &str, i64),
    ) {
        let n = snapshot.len();
        if nodes.is_some_and(|list| list.len() * 8 < n) {
            // Few nodes can add anything (pods with affinity terms are rare): scanning them is
            // cheaper than checking the generation of every node. The entries stay valid.
            for ((key, value), sum) in pair_sums(snapshot, nodes, &count) {
                emit(key, value, sum);
            }
            return;
        }
        if self.query.as_ref() != Some(&query) || self.generations.len() != n {
            if self.seen.as_ref() != Some(&query) {
                // A new query: the plain scan, and remember it.
                for ((key, value), sum) in pair_sums(snapshot, nodes, &count) {
                    emit(key, value, sum);
                }
                self.seen = Some(query);
                return;
            }
            // The same query twice in a row: keep the nodes' sums from now on.
            self.seen = None;
            self.query = Some(query);
            self.generations = vec![0; n];
            self.contributions = vec![Vec::new(); n];
            self.totals.clear();
        }
        let stale: Vec<usize> = (0..n)
            .filter(|&i| self.generations[i] != snapshot.nodes[i].generation)
            .collect();
        let fresh: Vec<Vec<(Pair, i64)>> = if stale.len() < PARALLEL_MIN_NODES {
            stale
                .iter()
                .map(|&i| contribution(&snapshot.nodes[i], &count))
                .collect()
        } else {
            stale
                .par_iter()
                .with_min_len(64)
                .map(|&i| contribution(&snapshot.nodes[i], &count))
                .collect()
        };
        for (i, added) in stale.into_iter().zip(fresh) {
            for (pair, sum) in std::mem::take(&mut self.contributions[i]) {
                if let Some(total) = self.totals.get_mut(&pair) {
                    total.0 -= sum;
                    total.1 -= 1;
                    if total.1 == 0 {
                        self.totals.remove(&pair);
                    }
                }
            }
            for (pair, sum) in &added {
                let total = self.totals.entry(pair.clone()).or_insert((0, 0));
                total.0 += sum;
                total.1 += 1;
            }
            self.contributions[i] = added;
            self.generations[i] = snapshot.nodes[i].generation;
        }
        for ((key, value), &(sum, _)) in &self.totals {
            emit(key, value, sum);
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use flotilla_model::api::{Node, Pod};
    use proptest::prelude::*;
    use serde_json::json;

    use super::super::filtering::{
        existing_anti_affinity_counts, PreFilterState, PRE_FILTER_STATE_KEY,
    };
    use super::super::scoring::{PreScoreState, PRE_SCORE_STATE_KEY};
    use super::super::{InterPodAffinity, InterPodAffinityArgs};
    use crate::framework::{CycleState, PreFilterPlugin, PreScorePlugin, Status};
    use crate::node_info::{NodeInfo, PodInfo};
    use crate::snapshot::Snapshot;

    /// A node in zone `zone` (none for 0) and rack `rack`.
    fn node(i: usize, zone: u8, rack: u8) -> Arc<Node> {
        let mut labels =
            json!({"kubernetes.io/hostname": format!("n{i}"), "rack": format!("r{rack}")});
        if zone > 0 {
            labels["zone"] = json!(format!("z{zone}"));
        }
        Arc::new(
            serde_json::from_value(
                json!({"metadata": {"name": format!("n{i}"), "labels": labels}}),
            )
            .expect("node decodes"),
        )
    }

    /// A pod of app `app` in namespace `ns`, with (by `kind`) no terms, required affinity,
    /// required anti-affinity, or preferred affinity and anti-affinity, to app `target`.
    fn pod(i: usize, app: u8, ns: u8, kind: u8, target: u8) -> Pod {
        let term = |key: &str| {
            json!({"labelSelector": {"matchLabels": {"app": format!("a{target}")}},
                   "topologyKey": key, "namespaces": ["ns0", "ns1"]})
        };
        let affinity = match kind {
            1 => {
                json!({"podAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": [term("zone")]}})
            }
            2 => {
                json!({"podAntiAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": [term("rack")]}})
            }
            3 => json!({
                "podAffinity": {"preferredDuringSchedulingIgnoredDuringExecution":
                    [{"weight": 5, "podAffinityTerm": term("zone")}]},
                "podAntiAffinity": {"preferredDuringSchedulingIgnoredDuringExecution":
                    [{"weight": 3, "podAffinityTerm": term("rack")}]}}),
            _ => json!({}),
        };
        serde_json::from_value(json!({
            "metadata": {"name": format!("p{i}"), "namespace": format!("ns{ns}"),
                         "labels": {"app": format!("a{app}")}},
            "spec": {"affinity": affinity, "containers": [{"name": "c", "image": "i"}]},
        }))
        .expect("pod decodes")
    }

    /// A change to the cluster, or a cycle of an incoming pod.
    #[derive(Clone, Debug)]
    enum Step {
        /// Add a pod (app, namespace, kind, target) to node `i`.
        Add(usize, u8, u8, u8, u8),
        /// Remove the first pod of node `i`.
        Remove(usize),
        /// Move node `i` to another zone.
        Relabel(usize, u8),
        /// A cycle of an incoming pod (app, namespace, kind, target).
        Cycle(u8, u8, u8, u8),
    }

    fn step() -> impl Strategy<Value = Step> {
        prop_oneof![
            3 => (0usize..8, 0u8..3, 0u8..2, 0u8..4, 0u8..3)
                .prop_map(|(i, a, n, k, t)| Step::Add(i, a, n, k, t)),
            1 => (0usize..8).prop_map(Step::Remove),
            1 => (0usize..8, 0u8..3).prop_map(|(i, z)| Step::Relabel(i, z)),
            4 => (0u8..3, 0u8..2, 0u8..4, 0u8..3).prop_map(|(a, n, k, t)| Step::Cycle(a, n, k, t)),
        ]
    }

    /// PreFilter's and PreScore's statuses and states for `pod`.
    fn cycle(
        plugin: &InterPodAffinity,
        pod: &PodInfo,
        snapshot: &Snapshot,
    ) -> (
        Status,
        Option<PreFilterState>,
        Status,
        Option<PreScoreState>,
    ) {
        let mut state = CycleState::new();
        let (_, filter_status) = plugin.pre_filter(&mut state, pod, snapshot);
        let filter_state = state.read::<PreFilterState>(PRE_FILTER_STATE_KEY).cloned();
        let score_status = plugin.pre_score(&mut state, pod, snapshot, &[]);
        let score_state = state.read::<PreScoreState>(PRE_SCORE_STATE_KEY).cloned();
        (filter_status, filter_state, score_status, score_state)
    }

    proptest! {
        /// A plugin that keeps its scan caches across cycles computes, on every cycle, the
        /// PreFilter and PreScore states a new plugin (the plain scans) computes.
        #[test]
        fn cached_scans_equal_plain_scans(
            zones in prop::collection::vec(0u8..3, 8),
            steps in prop::collection::vec(step(), 1..60),
        ) {
            let nodes: Vec<Arc<Node>> =
                zones.iter().enumerate().map(|(i, &z)| node(i, z, (i % 3) as u8)).collect();
            let mut snapshot = Snapshot::new(&nodes, &[], &[]);
            let long_lived = InterPodAffinity::new(InterPodAffinityArgs::default()).unwrap();
            let mut next = 0;
            for step in steps {
                match step {
                    Step::Add(i, app, ns, kind, target) => {
                        let mut p = pod(next, app, ns, kind, target);
                        next += 1;
                        p.spec.node_name = snapshot.nodes[i].name().to_string();
                        snapshot.nodes[i].add_pod(PodInfo::new(Arc::new(p)));
                        snapshot.refresh_affinity_lists();
                    }
                    Step::Remove(i) => {
                        if let Some(first) = snapshot.nodes[i].pods.first().cloned() {
                            let meta = &first.pod.metadata;
                            snapshot.nodes[i].remove_pod(&meta.namespace, &meta.name);
                            snapshot.refresh_affinity_lists();
                        }
                    }
                    Step::Relabel(i, zone) => {
                        let info = &mut snapshot.nodes[i];
                        let mut fresh = NodeInfo::new(node(i, zone, (i % 3) as u8));
                        for p in std::mem::take(&mut info.pods) {
                            fresh.add_pod(p);
                        }
                        *info = fresh;
                    }
                    Step::Cycle(app, ns, kind, target) => {
                        let incoming = PodInfo::new(Arc::new(pod(10_000, app, ns, kind, target)));
                        // Twice, so the second builds the cache for the query.
                        for _ in 0..2 {
                            let got = cycle(&long_lived, &incoming, &snapshot);
                            let fresh = InterPodAffinity::new(InterPodAffinityArgs::default()).unwrap();
                            let want = cycle(&fresh, &incoming, &snapshot);
                            if let Some(state) = &got.1 {
                                let plain = existing_anti_affinity_counts(
                                    &incoming.pod,
                                    &state.namespace_labels,
                                    &snapshot,
                                );
                                prop_assert_eq!(&state.existing_anti_affinity_counts, &plain);
                            }
                            prop_assert_eq!(got, want);
                        }
                    }
                }
            }
        }
    }
}
