//! InterPodAffinity's PreScore, Score and NormalizeScore (kube-scheduler v1.34,
//! pkg/scheduler/framework/plugins/interpodaffinity/scoring.go).

use std::collections::HashMap;

use flotilla_model::api::Pod;
use flotilla_model::Labels;

use super::filtering::{add_to_key, KeySums};
use super::{namespace_labels, parse_error, IncomingTerm, InterPodAffinity};
use crate::framework::{
    CycleState, NodeScore, PreScorePlugin, ScorePlugin, Status, MAX_NODE_SCORE,
};
use crate::node_info::{AffinityTerm, NodeInfo, PodInfo};
use crate::snapshot::Snapshot;

/// The key of the PreScore state in the [`CycleState`] (kube-scheduler's `preScoreStateKey`).
pub const PRE_SCORE_STATE_KEY: &str = "PreScoreInterPodAffinity";

/// `topologyScore[key][value]`: the score every node in the domain `key=value` gets.
type ScoreMap = HashMap<String, HashMap<String, i64>>;

/// What PreScore computes for Score (kube-scheduler's `preScoreState`).
#[derive(Clone, Debug, Default, PartialEq)]
pub(crate) struct PreScoreState {
    /// The score of each topology domain.
    pub(crate) topology_score: ScoreMap,
}

/// The incoming pod's preferred terms, namespaces resolved, with weights.
#[derive(Clone, Debug, PartialEq)]
struct IncomingPreferred {
    affinity: Vec<(IncomingTerm, i64)>,
    anti_affinity: Vec<(IncomingTerm, i64)>,
}

/// What PreScore's scan of a node depends on besides the node (the plugin's arguments are the
/// plugin's own): the key of its [`PairCache`](super::pair_cache::PairCache).
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct ScoreQuery {
    preferred: IncomingPreferred,
    namespace: String,
    labels: Labels,
    namespace_labels: Labels,
    only_affinity_pods: bool,
}

impl InterPodAffinity {
    /// Adds the contributions of `existing` (on a node with `labels`) for `incoming` to the
    /// node's sums per topology key (kube-scheduler's `processExistingPod`); the sums go into
    /// `topologyScore[key][labels[key]]`, for the keys the node has.
    fn process_existing_pod<'a>(
        &self,
        preferred: &'a IncomingPreferred,
        incoming: &Pod,
        ns_labels: &Labels,
        existing: &'a PodInfo,
        labels: &Labels,
        sums: &mut KeySums<'a>,
    ) {
        if labels.is_empty() {
            return;
        }
        // The incoming pod's preferred terms over the existing pod (namespace selectors already
        // resolved into namespace sets).
        for (term, weight) in &preferred.affinity {
            if term.matches(&existing.pod) {
                add_to_key(sums, &term.topology_key, *weight);
            }
        }
        for (term, weight) in &preferred.anti_affinity {
            if term.matches(&existing.pod) {
                add_to_key(sums, &term.topology_key, -*weight);
            }
        }
        // The existing pod's terms over the incoming pod.
        let matching = |t: &AffinityTerm| t.matches(incoming, Some(ns_labels));
        let hard = i64::from(self.args.hard_pod_affinity_weight);
        if hard > 0 {
            for term in existing
                .required_affinity_terms
                .iter()
                .filter(|t| matching(t))
            {
                add_to_key(sums, &term.topology_key, hard);
            }
        }
        for w in existing
            .preferred_affinity_terms
            .iter()
            .filter(|w| matching(&w.term))
        {
            add_to_key(sums, &w.term.topology_key, i64::from(w.weight));
        }
        for w in existing
            .preferred_anti_affinity_terms
            .iter()
            .filter(|w| matching(&w.term))
        {
            add_to_key(sums, &w.term.topology_key, -i64::from(w.weight));
        }
    }
}

impl InterPodAffinity {
    /// What a node adds to PreScore's sums: [`process_existing_pod`](Self::process_existing_pod)
    /// of each of its pods (only those with affinity terms when `only_affinity_pods`).
    fn count_for_score<'a>(
        &'a self,
        preferred: &'a IncomingPreferred,
        incoming: &'a Pod,
        ns_labels: &'a Labels,
        only_affinity_pods: bool,
    ) -> impl Fn(&'a NodeInfo, &mut KeySums<'a>) + Sync + 'a {
        move |node, sums| {
            let labels = &node.node.metadata.labels;
            for existing in &node.pods {
                if only_affinity_pods && !existing.has_affinity() {
                    continue;
                }
                self.process_existing_pod(preferred, incoming, ns_labels, existing, labels, sums);
            }
        }
    }
}

impl PreScorePlugin for InterPodAffinity {
    fn pre_score(
        &self,
        state: &mut CycleState,
        pod: &PodInfo,
        snapshot: &Snapshot,
        _feasible: &[usize],
    ) -> Status {
        // kube-scheduler decides from the spec, before parsing the terms.
        let affinity = pod.pod.spec.affinity.as_ref();
        let has_preferred_affinity =
            affinity
                .and_then(|a| a.pod_affinity.as_ref())
                .is_some_and(|a| {
                    !a.preferred_during_scheduling_ignored_during_execution
                        .is_empty()
                });
        let has_preferred_anti_affinity = affinity
            .and_then(|a| a.pod_anti_affinity.as_ref())
            .is_some_and(|a| {
                !a.preferred_during_scheduling_ignored_during_execution
                    .is_empty()
            });
        let has_constraints = has_preferred_affinity || has_preferred_anti_affinity;

        // Optionally ignore existing pods' preferences when the pod has none of its own.
        if self.args.ignore_preferred_terms_of_existing_pods && !has_constraints {
            return Status::skip();
        }
        if let Some(err) = parse_error(pod) {
            return Status::error(format!("failed to parse pod: {err}"));
        }
        let preferred = IncomingPreferred {
            affinity: pod
                .preferred_affinity_terms
                .iter()
                .map(|w| {
                    (
                        IncomingTerm::resolve(&w.term, snapshot),
                        i64::from(w.weight),
                    )
                })
                .collect(),
            anti_affinity: pod
                .preferred_anti_affinity_terms
                .iter()
                .map(|w| {
                    (
                        IncomingTerm::resolve(&w.term, snapshot),
                        i64::from(w.weight),
                    )
                })
                .collect(),
        };
        let ns_labels = namespace_labels(snapshot, &pod.pod.metadata.namespace);

        // Every node and pod of the cluster counts, not only the feasible nodes. Unless the pod
        // has preferred terms, only pods with affinity terms can contribute (kube-scheduler
        // then scans only the nodes that have such pods; the others add nothing). The per-node
        // sums are kept from the last cycle with the same query (see `pair_cache`).
        let only_affinity_pods = !has_constraints;
        let query = ScoreQuery {
            preferred: preferred.clone(),
            namespace: pod.pod.metadata.namespace.clone(),
            labels: (*pod.pod.metadata.labels).clone(),
            namespace_labels: ns_labels.clone(),
            only_affinity_pods,
        };
        let count = self.count_for_score(&preferred, &pod.pod, ns_labels, only_affinity_pods);
        // Every pair some term matched for has an entry, even when its sum is 0, as in
        // kube-scheduler (an entry means "a term matched").
        let mut scores = ScoreMap::new();
        let nodes = only_affinity_pods.then_some(snapshot.nodes_with_affinity_pods.as_slice());
        self.caches()
            .score
            .for_each_sum(query, snapshot, nodes, count, |key, value, sum| {
                scores
                    .entry(key.to_string())
                    .or_default()
                    .insert(value.to_string(), sum);
            });
        if scores.is_empty() {
            return Status::skip();
        }
        state.write(
            PRE_SCORE_STATE_KEY,
            PreScoreState {
                topology_score: scores,
            },
        );
        Status::success()
    }
}

/// The error Score and NormalizeScore return when PreScore did not run (or skipped).
fn missing_state() -> Status {
    Status::error(format!(
        "failed to read {PRE_SCORE_STATE_KEY:?} from cycleState: not found"
    ))
}

impl ScorePlugin for InterPodAffinity {
    /// `Σ_key topologyScore[key][node.labels[key]]`: positive for affinity, negative for
    /// anti-affinity.
    fn score(&self, state: &CycleState, _pod: &PodInfo, node: &NodeInfo) -> Result<i64, Status> {
        let s = state
            .read::<PreScoreState>(PRE_SCORE_STATE_KEY)
            .ok_or_else(missing_state)?;
        let labels = &node.node.metadata.labels;
        Ok(s.topology_score
            .iter()
            .filter_map(|(key, values)| labels.get(key).and_then(|v| values.get(v.as_str())))
            .sum())
    }

    /// Min–max normalization: `int64(100 * ((s − min) / (max − min)))` in float64, with min and
    /// max over the scored nodes (v1.34 seeds them with MaxInt64/MinInt64, so all-positive scores
    /// do not count 0 as the minimum, as older releases did); all 0 when max = min.
    fn normalize_scores(
        &self,
        state: &CycleState,
        _pod: &PodInfo,
        scores: &mut [NodeScore],
    ) -> Status {
        let Some(s) = state.read::<PreScoreState>(PRE_SCORE_STATE_KEY) else {
            return missing_state();
        };
        if s.topology_score.is_empty() {
            return Status::success();
        }
        let min = scores.iter().map(|s| s.score).min().unwrap_or(i64::MAX);
        let max = scores.iter().map(|s| s.score).max().unwrap_or(i64::MIN);
        let diff = max.wrapping_sub(min);
        for s in scores.iter_mut() {
            let f = if diff > 0 {
                MAX_NODE_SCORE as f64 * ((s.score - min) as f64 / diff as f64)
            } else {
                0.0
            };
            s.score = f as i64;
        }
        Status::success()
    }
}
