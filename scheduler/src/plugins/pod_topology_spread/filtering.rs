//! PodTopologySpread's PreFilter and Filter: the `DoNotSchedule` constraints
//! (kube-scheduler v1.34, podtopologyspread/filtering.go).
//!
//! PreFilter counts, once per pod and over all nodes of the snapshot, the matching pods of each
//! eligible domain and the smallest of those counts; Filter then checks one node with two map
//! lookups per constraint:
//!
//! ```text
//! skew = count(node's domain) + selfMatch - (domains < minDomains ? 0 : min over domains)
//! reject (Unschedulable) when skew > maxSkew
//! ```

use std::collections::HashMap;

use flotilla_model::api::UnsatisfiableConstraintAction;
use rayon::prelude::*;

use super::{
    has_all_keys, Constraint, PodTopologySpread, ERR_REASON_CONSTRAINTS_NOT_MATCH,
    ERR_REASON_NODE_LABEL_NOT_MATCH, NAME,
};
use crate::framework::{
    CycleState, FilterPlugin, PreFilterExtensions, PreFilterPlugin, PreFilterResult, Status,
};
use crate::node_info::{NodeInfo, PodInfo};
use crate::plugins::node_affinity::RequiredNodeAffinity;
use crate::snapshot::Snapshot;

/// What PreFilter computes for Filter (`preFilterState`).
#[derive(Clone, Debug)]
pub(super) struct PreFilterState {
    pub(super) constraints: Vec<Constraint>,
    /// Per constraint: 1 when the incoming pod matches the constraint's own selector.
    pub(super) self_match: Vec<i64>,
    /// Per constraint: matching pods per eligible domain (`TpValueToMatchNum`).
    pub(super) tp_value_to_match_num: Vec<HashMap<String, i64>>,
    /// Per constraint: the smallest count over the domains (`CriticalPaths[i][0].MatchNum`),
    /// `i32::MAX` when there is no domain.
    pub(super) min_match_num: Vec<i64>,
}

impl PreFilterState {
    /// The global minimum of constraint `i`, 0 while there are fewer than `minDomains` domains
    /// (`preFilterState.minMatchNum`).
    fn global_min(&self, i: usize) -> i64 {
        if (self.tp_value_to_match_num[i].len() as i64) < i64::from(self.constraints[i].min_domains)
        {
            0
        } else {
            self.min_match_num[i]
        }
    }
}

/// Counts, for each constraint, the matching pods per domain over all nodes that carry every
/// constraint's key and that the constraint's inclusion policies admit (`calPreFilterState`).
/// Nodes are processed in parallel; the sums do not depend on the order.
fn count_domains(
    pod: &PodInfo,
    constraints: &[Constraint],
    snapshot: &Snapshot,
) -> Vec<HashMap<String, i64>> {
    let required = RequiredNodeAffinity::from_pod(&pod.pod);
    let ns = pod.pod.metadata.namespace.as_str();
    let n = constraints.len();
    let partial = snapshot
        .nodes
        .par_iter()
        .with_min_len(64)
        .fold(
            || vec![HashMap::<&str, i64>::new(); n],
            |mut acc, info| {
                let node = &*info.node;
                let labels = &node.metadata.labels;
                if !has_all_keys(labels, constraints) {
                    return acc;
                }
                for (i, c) in constraints.iter().enumerate() {
                    if !c.includes_node(&pod.pod, node, &required) {
                        continue;
                    }
                    let Some(value) = labels.get(&c.topology_key) else {
                        continue;
                    };
                    *acc[i].entry(value.as_str()).or_insert(0) += c.count_matching(&info.pods, ns);
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
    partial
        .into_iter()
        .map(|m| m.into_iter().map(|(k, v)| (k.to_string(), v)).collect())
        .collect()
}

impl PreFilterPlugin for PodTopologySpread {
    fn pre_filter(
        &self,
        state: &mut CycleState,
        pod: &PodInfo,
        snapshot: &Snapshot,
    ) -> (PreFilterResult, Status) {
        let constraints = match self.constraints_for(
            &pod.pod,
            UnsatisfiableConstraintAction::DoNotSchedule,
            &snapshot.workload_selectors,
        ) {
            Ok(c) => c,
            Err(e) => {
                return (
                    PreFilterResult::default(),
                    Status::error(format!("get constraints from pod: {e}")),
                )
            }
        };
        if constraints.is_empty() {
            return (PreFilterResult::default(), Status::skip());
        }
        let tp_value_to_match_num = count_domains(pod, &constraints, snapshot);
        let min_match_num = tp_value_to_match_num
            .iter()
            .map(|m| m.values().copied().min().unwrap_or(i64::from(i32::MAX)))
            .collect();
        let self_match = constraints
            .iter()
            .map(|c| i64::from(c.matches(&pod.pod.metadata.labels)))
            .collect();
        state.write(
            NAME,
            PreFilterState {
                constraints,
                self_match,
                tp_value_to_match_num,
                min_match_num,
            },
        );
        (PreFilterResult::default(), Status::success())
    }
}

impl FilterPlugin for PodTopologySpread {
    fn filter(&self, state: &CycleState, _pod: &PodInfo, node: &NodeInfo) -> Status {
        let Some(s) = state.read::<PreFilterState>(NAME) else {
            return Status::error(
                "reading \"PreFilterPodTopologySpread\" from cycleState: not found",
            );
        };
        let labels = &node.node.metadata.labels;
        for (i, c) in s.constraints.iter().enumerate() {
            let Some(value) = labels.get(&c.topology_key) else {
                return Status::unresolvable(ERR_REASON_NODE_LABEL_NOT_MATCH);
            };
            let match_num = s.tp_value_to_match_num[i]
                .get(value.as_str())
                .copied()
                .unwrap_or(0);
            let skew = match_num + s.self_match[i] - s.global_min(i);
            if skew > i64::from(c.max_skew) {
                return Status::unschedulable(ERR_REASON_CONSTRAINTS_NOT_MATCH);
            }
        }
        Status::success()
    }
}

impl PreFilterState {
    /// Adds `delta` for `other` on `node` to every constraint whose selector matches it, as
    /// kube-scheduler's `preFilterState.updateWithPod` (filtering.go): only pods of the incoming
    /// pod's namespace, only on nodes that carry every constraint's key and that the constraint's
    /// inclusion policies admit. The minimum over domains is then recomputed exactly
    /// (kube-scheduler keeps the two smallest counts, which gives the same minimum).
    fn update_with_pod(
        &mut self,
        incoming: &PodInfo,
        other: &PodInfo,
        node: &NodeInfo,
        delta: i64,
    ) {
        if other.pod.metadata.namespace != incoming.pod.metadata.namespace {
            return;
        }
        let labels = &node.node.metadata.labels;
        if !has_all_keys(labels, &self.constraints) {
            return;
        }
        let required = RequiredNodeAffinity::from_pod(&incoming.pod);
        for (i, c) in self.constraints.iter().enumerate() {
            if !c.includes_node(&incoming.pod, &node.node, &required)
                || !c.matches(&other.pod.metadata.labels)
            {
                continue;
            }
            let Some(value) = labels.get(&c.topology_key) else {
                continue;
            };
            let counts = &mut self.tp_value_to_match_num[i];
            *counts.entry(value.clone()).or_insert(0) += delta;
            self.min_match_num[i] = counts
                .values()
                .copied()
                .min()
                .unwrap_or(i64::from(i32::MAX));
        }
    }

    fn update(
        state: &mut CycleState,
        incoming: &PodInfo,
        other: &PodInfo,
        node: &NodeInfo,
        delta: i64,
    ) -> Status {
        let Some(s) = state.read_mut::<PreFilterState>(NAME) else {
            return Status::error(
                "reading \"PreFilterPodTopologySpread\" from cycleState: not found",
            );
        };
        s.update_with_pod(incoming, other, node, delta);
        Status::success()
    }
}

/// kube-scheduler's `AddPod`/`RemovePod`: the per-domain counts follow the pods preemption
/// removes, reprieves and nominates.
impl PreFilterExtensions for PodTopologySpread {
    fn add_pod(
        &self,
        state: &mut CycleState,
        pod_to_schedule: &PodInfo,
        pod_to_add: &PodInfo,
        node: &NodeInfo,
    ) -> Status {
        PreFilterState::update(state, pod_to_schedule, pod_to_add, node, 1)
    }

    fn remove_pod(
        &self,
        state: &mut CycleState,
        pod_to_schedule: &PodInfo,
        pod_to_remove: &PodInfo,
        node: &NodeInfo,
    ) -> Status {
        PreFilterState::update(state, pod_to_schedule, pod_to_remove, node, -1)
    }
}
