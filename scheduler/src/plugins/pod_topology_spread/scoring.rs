//! PodTopologySpread's PreScore, Score and NormalizeScore: the `ScheduleAnyway` constraints and
//! the default constraints (kube-scheduler v1.34, podtopologyspread/scoring.go).
//!
//! PreScore finds the domains of the feasible nodes and counts the matching pods of those
//! domains over all nodes; Score adds, per constraint the node has the key of,
//!
//! ```text
//! count(domain) * ln(domains + 2) + (maxSkew - 1)
//! ```
//!
//! (for `kubernetes.io/hostname` the count is the node's own, and `domains` the number of
//! feasible nodes that are not ignored) and rounds the sum half away from zero (`math.Round`).
//! NormalizeScore: nodes missing a key (when every key is required) score 0; otherwise
//! `100 * (max + min - score) / max` in integers, or 100 for every node when `max` is 0.

use std::collections::HashMap;

use flotilla_model::api::UnsatisfiableConstraintAction;
use rayon::prelude::*;

use super::{has_all_keys, Constraint, PodTopologySpread, LABEL_HOSTNAME, NAME};
use crate::framework::{
    CycleState, NodeScore, PreScorePlugin, ScorePlugin, Status, MAX_NODE_SCORE,
};
use crate::node_info::{NodeInfo, PodInfo};
use crate::plugins::node_affinity::RequiredNodeAffinity;
use crate::snapshot::Snapshot;

/// What PreScore computes for Score and NormalizeScore (`preScoreState`).
#[derive(Clone, Debug)]
pub(super) struct PreScoreState {
    pub(super) constraints: Vec<Constraint>,
    /// Whether nodes must carry every topology key (not with the system defaults).
    pub(super) require_all_topologies: bool,
    /// Snapshot indices of the feasible nodes that miss a key, sorted (`IgnoredNodes`).
    pub(super) ignored_nodes: Vec<usize>,
    /// Per constraint: matching pods per domain of the feasible nodes; empty for hostname
    /// constraints, which count per node in Score (`TopologyValueToPodCounts`).
    pub(super) topology_value_to_pod_counts: Vec<HashMap<String, i64>>,
    /// Per constraint: `ln(domains + 2)` (`TopologyNormalizingWeight`).
    pub(super) topology_normalizing_weight: Vec<f64>,
    /// The incoming pod's namespace, where the counted pods must be.
    namespace: String,
}

/// `topologyNormalizingWeight`: the weight of a topology with `size` domains.
pub(super) fn topology_normalizing_weight(size: usize) -> f64 {
    (size as f64 + 2.0).ln()
}

/// `scoreForCount`: `maxSkew - 1` waters down the differences between domains.
fn score_for_count(count: i64, max_skew: i32, weight: f64) -> f64 {
    count as f64 * weight + f64::from(max_skew - 1)
}

impl PreScorePlugin for PodTopologySpread {
    fn pre_score(
        &self,
        state: &mut CycleState,
        pod: &PodInfo,
        snapshot: &Snapshot,
        feasible: &[usize],
    ) -> Status {
        if snapshot.is_empty() {
            return Status::skip();
        }
        // Only non-system spreading requires every key, so nodes without a zone label still
        // get hostname spreading from the system defaults.
        let require_all_topologies =
            !pod.pod.spec.topology_spread_constraints.is_empty() || !self.system_defaulted;
        let constraints = match self.constraints_for(
            &pod.pod,
            UnsatisfiableConstraintAction::ScheduleAnyway,
            &snapshot.workload_selectors,
        ) {
            Ok(c) => c,
            Err(e) => return Status::error(format!("calculating preScoreState: {e}")),
        };
        if constraints.is_empty() {
            return Status::skip();
        }

        // initPreScoreState: the domains of the feasible nodes.
        let mut ignored_nodes = Vec::new();
        let mut counts: Vec<HashMap<String, i64>> = vec![HashMap::new(); constraints.len()];
        for &i in feasible {
            let labels = &snapshot.nodes[i].node.metadata.labels;
            if require_all_topologies && !has_all_keys(labels, &constraints) {
                ignored_nodes.push(i);
                continue;
            }
            for (ci, c) in constraints.iter().enumerate() {
                if c.topology_key == LABEL_HOSTNAME {
                    continue;
                }
                // A node without the key is domain "" (possible with the system defaults).
                let value = labels.get(&c.topology_key).map_or("", String::as_str);
                if !counts[ci].contains_key(value) {
                    counts[ci].insert(value.to_string(), 0);
                }
            }
        }
        ignored_nodes.sort_unstable();
        let topology_normalizing_weight = constraints
            .iter()
            .zip(&counts)
            .map(|(c, m)| {
                let size = if c.topology_key == LABEL_HOSTNAME {
                    feasible.len() - ignored_nodes.len()
                } else {
                    m.len()
                };
                topology_normalizing_weight(size)
            })
            .collect();

        // Count the matching pods of those domains over all nodes.
        let required = RequiredNodeAffinity::from_pod(&pod.pod);
        let ns = pod.pod.metadata.namespace.as_str();
        let n = constraints.len();
        let increments = snapshot
            .nodes
            .par_iter()
            .with_min_len(64)
            .fold(
                || vec![HashMap::<&str, i64>::new(); n],
                |mut acc, info| {
                    let node = &*info.node;
                    let labels = &node.metadata.labels;
                    if require_all_topologies && !has_all_keys(labels, &constraints) {
                        return acc;
                    }
                    for (ci, c) in constraints.iter().enumerate() {
                        if !c.includes_node(&pod.pod, node, &required) {
                            continue;
                        }
                        let value = labels.get(&c.topology_key).map_or("", String::as_str);
                        // Domains of no feasible node, and hostname domains, are not counted here.
                        if let Some((key, _)) = counts[ci].get_key_value(value) {
                            *acc[ci].entry(key.as_str()).or_insert(0) +=
                                c.count_matching(&info.pods, ns);
                        }
                    }
                    acc
                },
            )
            .reduce(
                || vec![HashMap::new(); n],
                |mut a, b| {
                    for (ma, mb) in a.iter_mut().zip(b) {
                        for (k, v) in mb {
                            *ma.entry(k).or_insert(0) += v;
                        }
                    }
                    a
                },
            );
        let increments: Vec<Vec<(String, i64)>> = increments
            .into_iter()
            .map(|m| m.into_iter().map(|(k, v)| (k.to_string(), v)).collect())
            .collect();
        for (map, inc) in counts.iter_mut().zip(increments) {
            for (k, v) in inc {
                if let Some(c) = map.get_mut(&k) {
                    *c += v;
                }
            }
        }

        state.write(
            NAME,
            PreScoreState {
                constraints,
                require_all_topologies,
                ignored_nodes,
                topology_value_to_pod_counts: counts,
                topology_normalizing_weight,
                namespace: ns.to_string(),
            },
        );
        Status::success()
    }
}

impl ScorePlugin for PodTopologySpread {
    fn score(&self, state: &CycleState, _pod: &PodInfo, node: &NodeInfo) -> Result<i64, Status> {
        let Some(s) = state.read::<PreScoreState>(NAME) else {
            return Err(Status::error(
                "reading \"PreScorePodTopologySpread\" from cycleState: not found",
            ));
        };
        let labels = &node.node.metadata.labels;
        // An ignored node (the feasible nodes missing a key) scores 0.
        if s.require_all_topologies && !has_all_keys(labels, &s.constraints) {
            return Ok(0);
        }
        let mut score = 0.0;
        for (i, c) in s.constraints.iter().enumerate() {
            let Some(value) = labels.get(&c.topology_key) else {
                continue;
            };
            let count = if c.topology_key == LABEL_HOSTNAME {
                c.count_matching(&node.pods, &s.namespace)
            } else {
                s.topology_value_to_pod_counts[i]
                    .get(value.as_str())
                    .copied()
                    .unwrap_or(0)
            };
            score += score_for_count(count, c.max_skew, s.topology_normalizing_weight[i]);
        }
        // Go's math.Round and f64::round both round half away from zero.
        Ok(score.round() as i64)
    }

    fn normalize_scores(
        &self,
        state: &CycleState,
        _pod: &PodInfo,
        scores: &mut [NodeScore],
    ) -> Status {
        let Some(s) = state.read::<PreScoreState>(NAME) else {
            return Status::error(
                "reading \"PreScorePodTopologySpread\" from cycleState: not found",
            );
        };
        let ignored = |node: usize| s.ignored_nodes.binary_search(&node).is_ok();
        let mut min_score = i64::MAX;
        let mut max_score = 0;
        for ns in scores.iter() {
            if ignored(ns.node) {
                continue;
            }
            min_score = min_score.min(ns.score);
            max_score = max_score.max(ns.score);
        }
        for ns in scores.iter_mut() {
            if ignored(ns.node) {
                ns.score = 0;
            } else if max_score == 0 {
                ns.score = MAX_NODE_SCORE;
            } else {
                ns.score = MAX_NODE_SCORE * (max_score + min_score - ns.score) / max_score;
            }
        }
        Status::success()
    }
}
