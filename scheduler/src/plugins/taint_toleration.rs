//! TaintToleration: a pod goes only to nodes whose repelling taints it tolerates, and prefers
//! nodes with fewer `PreferNoSchedule` taints it does not tolerate
//! (kube-scheduler v1.34, pkg/scheduler/framework/plugins/tainttoleration/taint_toleration.go).
//!
//! - **Filter**: every `NoSchedule` and `NoExecute` taint of the node must be tolerated by one of
//!   the pod's tolerations; the first that is not rejects the node with
//!   `node(s) had untolerated taint {key: value}`, UnschedulableAndUnresolvable (evicting pods
//!   does not remove a taint, so preemption cannot help).
//! - **Score**: the number of the node's `PreferNoSchedule` taints that none of the pod's
//!   tolerations with effect `PreferNoSchedule` or no effect tolerates.
//! - **NormalizeScore**: `DefaultNormalizeScore(100, reverse)`: `100 - 100 * count / max count`,
//!   so the node with the most intolerable taints scores 0, and every node scores 100 when no
//!   node has any.

use flotilla_model::api::{find_untolerated_taint, Node, Taint, TaintEffect, Toleration};

use crate::framework::{
    default_normalize_score, CycleState, FilterPlugin, NodeScore, Plugin, PreScorePlugin,
    ScorePlugin, Status, MAX_NODE_SCORE,
};
use crate::node_info::{NodeInfo, PodInfo};
use crate::snapshot::Snapshot;

/// The plugin's name in a KubeSchedulerConfiguration.
pub const NAME: &str = "TaintToleration";

/// The TaintToleration plugin; it takes no arguments.
#[derive(Clone, Copy, Debug, Default)]
pub struct TaintToleration;

impl TaintToleration {
    /// The plugin (kube-scheduler's `tainttoleration.New`).
    pub fn new() -> TaintToleration {
        TaintToleration
    }
}

/// Whether a taint repels pods at scheduling time: `NoSchedule` and `NoExecute`
/// (kube-scheduler's `helper.DoNotScheduleTaintsFilterFunc`).
pub fn is_do_not_schedule_taint(taint: &Taint) -> bool {
    matches!(
        taint.effect,
        TaintEffect::NoSchedule | TaintEffect::NoExecute
    )
}

/// The first `NoSchedule` or `NoExecute` taint of `node` that none of `tolerations` tolerates.
/// PodTopologySpread's `nodeTaintsPolicy: Honor` uses the same test.
pub fn untolerated_do_not_schedule_taint<'a>(
    node: &'a Node,
    tolerations: &[Toleration],
) -> Option<&'a Taint> {
    find_untolerated_taint(&node.spec.taints, tolerations, is_do_not_schedule_taint)
}

/// What PreScore computes for Score: the pod's tolerations that can tolerate a
/// `PreferNoSchedule` taint (those with that effect or with no effect).
#[derive(Clone, Debug)]
struct PreScoreState {
    tolerations_prefer_no_schedule: Vec<Toleration>,
}

impl Plugin for TaintToleration {
    fn name(&self) -> &'static str {
        NAME
    }
    /// Reads only the pod's spec and the node's own state (see [`Plugin::is_node_local`]).
    fn is_node_local(&self) -> bool {
        true
    }
    fn as_filter(&self) -> Option<&dyn FilterPlugin> {
        Some(self)
    }
    fn as_pre_score(&self) -> Option<&dyn PreScorePlugin> {
        Some(self)
    }
    fn as_score(&self) -> Option<&dyn ScorePlugin> {
        Some(self)
    }
}

impl FilterPlugin for TaintToleration {
    fn filter(&self, _state: &CycleState, pod: &PodInfo, node: &NodeInfo) -> Status {
        // Most nodes have no taint: answer without reading the node object.
        if !node.has_taints {
            return Status::success();
        }
        match untolerated_do_not_schedule_taint(&node.node, &pod.pod.spec.tolerations) {
            None => Status::success(),
            Some(taint) => Status::unresolvable(format!(
                "node(s) had untolerated taint {{{}: {}}}",
                taint.key, taint.value
            )),
        }
    }
}

impl PreScorePlugin for TaintToleration {
    fn pre_score(
        &self,
        state: &mut CycleState,
        pod: &PodInfo,
        _snapshot: &Snapshot,
        _feasible: &[usize],
    ) -> Status {
        // An empty effect matches every effect, PreferNoSchedule included.
        let tolerations_prefer_no_schedule = pod
            .pod
            .spec
            .tolerations
            .iter()
            .filter(|t| t.effect.is_none_or(|e| e == TaintEffect::PreferNoSchedule))
            .cloned()
            .collect();
        state.write(
            NAME,
            PreScoreState {
                tolerations_prefer_no_schedule,
            },
        );
        Status::success()
    }
}

/// The number of `PreferNoSchedule` taints that none of `tolerations` tolerates
/// (`countIntolerableTaintsPreferNoSchedule`).
fn count_intolerable_prefer_no_schedule(taints: &[Taint], tolerations: &[Toleration]) -> i64 {
    taints
        .iter()
        .filter(|t| {
            t.effect == TaintEffect::PreferNoSchedule
                && !tolerations.iter().any(|tol| tol.tolerates(t))
        })
        .count() as i64
}

impl ScorePlugin for TaintToleration {
    fn score(&self, state: &CycleState, pod: &PodInfo, node: &NodeInfo) -> Result<i64, Status> {
        // No taint, nothing intolerable: answer without reading the node object.
        if !node.has_taints {
            return Ok(0);
        }
        let taints = &node.node.spec.taints;
        match state.read::<PreScoreState>(NAME) {
            Some(s) => Ok(count_intolerable_prefer_no_schedule(
                taints,
                &s.tolerations_prefer_no_schedule,
            )),
            // Without PreScore, filter the tolerations here (slower, same result).
            None => {
                let tolerations: Vec<Toleration> = pod
                    .pod
                    .spec
                    .tolerations
                    .iter()
                    .filter(|t| t.effect.is_none_or(|e| e == TaintEffect::PreferNoSchedule))
                    .cloned()
                    .collect();
                Ok(count_intolerable_prefer_no_schedule(taints, &tolerations))
            }
        }
    }

    fn normalize_scores(
        &self,
        _state: &CycleState,
        _pod: &PodInfo,
        scores: &mut [NodeScore],
    ) -> Status {
        default_normalize_score(MAX_NODE_SCORE, true, scores);
        Status::success()
    }

    /// All zeros normalize to MAX_NODE_SCORE each ([`default_normalize_score`]).
    fn normalizes_zeros_uniformly(&self) -> bool {
        true
    }
}

#[cfg(test)]
mod tests {
    //! kube-scheduler v1.34 tainttoleration/taint_toleration_test.go, TestTaintTolerationScore and
    //! TestTaintTolerationFilter.
    use std::sync::Arc;

    use flotilla_model::api::Pod;
    use serde_json::{json, Value};

    use super::*;
    use crate::framework::Code;
    use crate::plugins::testing::{node, pod, run_filter, run_score};

    fn pod_with_tolerations(tolerations: Value) -> Arc<Pod> {
        pod(json!({"metadata": {"name": "pod1"}, "spec": {"tolerations": tolerations}}))
    }

    fn node_with_taints(name: &str, taints: Value) -> Arc<flotilla_model::api::Node> {
        node(json!({"metadata": {"name": name}, "spec": {"taints": taints}}))
    }

    fn scores(p: &Arc<Pod>, nodes: Vec<Arc<flotilla_model::api::Node>>) -> Vec<i64> {
        let snapshot = Snapshot::new(&nodes, &[], &[]);
        run_score(&TaintToleration::new(), p, &snapshot).expect("TaintToleration never skips")
    }

    #[test]
    fn score_tolerated_taint_beats_intolerable_one() {
        // "node with taints tolerated by the pod, gets a higher score than those node with
        // intolerable taints" (the issue's example).
        let p = pod_with_tolerations(
            json!([{"key": "foo", "operator": "Equal", "value": "bar", "effect": "PreferNoSchedule"}]),
        );
        let nodes = vec![
            node_with_taints(
                "nodeA",
                json!([{"key": "foo", "value": "bar", "effect": "PreferNoSchedule"}]),
            ),
            node_with_taints(
                "nodeB",
                json!([{"key": "foo", "value": "blah", "effect": "PreferNoSchedule"}]),
            ),
        ];
        assert_eq!(scores(&p, nodes), vec![100, 0]);
    }

    #[test]
    fn score_count_of_tolerated_taints_does_not_matter() {
        let p = pod_with_tolerations(json!([
            {"key": "cpu-type", "operator": "Equal", "value": "arm64", "effect": "PreferNoSchedule"},
            {"key": "disk-type", "operator": "Equal", "value": "ssd", "effect": "PreferNoSchedule"}
        ]));
        let nodes = vec![
            node_with_taints("nodeA", json!([])),
            node_with_taints(
                "nodeB",
                json!([{"key": "cpu-type", "value": "arm64", "effect": "PreferNoSchedule"}]),
            ),
            node_with_taints(
                "nodeC",
                json!([
                    {"key": "cpu-type", "value": "arm64", "effect": "PreferNoSchedule"},
                    {"key": "disk-type", "value": "ssd", "effect": "PreferNoSchedule"}
                ]),
            ),
        ];
        assert_eq!(scores(&p, nodes), vec![100, 100, 100]);
    }

    #[test]
    fn score_more_intolerable_taints_lower_score() {
        let p = pod_with_tolerations(
            json!([{"key": "foo", "operator": "Equal", "value": "bar", "effect": "PreferNoSchedule"}]),
        );
        let nodes = vec![
            node_with_taints("nodeA", json!([])),
            node_with_taints(
                "nodeB",
                json!([{"key": "cpu-type", "value": "arm64", "effect": "PreferNoSchedule"}]),
            ),
            node_with_taints(
                "nodeC",
                json!([
                    {"key": "cpu-type", "value": "arm64", "effect": "PreferNoSchedule"},
                    {"key": "disk-type", "value": "ssd", "effect": "PreferNoSchedule"}
                ]),
            ),
        ];
        assert_eq!(scores(&p, nodes), vec![100, 50, 0]);
    }

    #[test]
    fn score_only_prefer_no_schedule_counts() {
        let p = pod_with_tolerations(json!([
            {"key": "cpu-type", "operator": "Equal", "value": "arm64", "effect": "NoSchedule"},
            {"key": "disk-type", "operator": "Equal", "value": "ssd", "effect": "NoSchedule"}
        ]));
        let nodes = vec![
            node_with_taints("nodeA", json!([])),
            node_with_taints(
                "nodeB",
                json!([{"key": "cpu-type", "value": "arm64", "effect": "NoSchedule"}]),
            ),
            node_with_taints(
                "nodeC",
                json!([
                    {"key": "cpu-type", "value": "arm64", "effect": "PreferNoSchedule"},
                    {"key": "disk-type", "value": "ssd", "effect": "PreferNoSchedule"}
                ]),
            ),
        ];
        assert_eq!(scores(&p, nodes), vec![100, 100, 0]);
    }

    #[test]
    fn score_default_no_taints_no_tolerations() {
        let p = pod_with_tolerations(json!([]));
        let nodes = vec![
            node_with_taints("nodeA", json!([])),
            node_with_taints(
                "nodeB",
                json!([{"key": "cpu-type", "value": "arm64", "effect": "PreferNoSchedule"}]),
            ),
        ];
        assert_eq!(scores(&p, nodes), vec![100, 0]);
    }

    #[test]
    fn score_empty_effect_toleration_tolerates_prefer_no_schedule() {
        // Not in the Go table: a toleration without effect counts for PreferNoSchedule taints.
        let p = pod_with_tolerations(json!([{"key": "foo", "operator": "Exists"}]));
        let nodes = vec![
            node_with_taints(
                "nodeA",
                json!([{"key": "foo", "value": "x", "effect": "PreferNoSchedule"}]),
            ),
            node_with_taints(
                "nodeB",
                json!([{"key": "bar", "value": "x", "effect": "PreferNoSchedule"}]),
            ),
        ];
        assert_eq!(scores(&p, nodes), vec![100, 0]);
    }

    fn filter_one(p: Arc<Pod>, n: Arc<flotilla_model::api::Node>) -> Status {
        let snapshot = Snapshot::new(&[n], &[], &[]);
        run_filter(&TaintToleration::new(), &p, &snapshot).remove(0)
    }

    #[test]
    fn filter_table() {
        let untolerated = |k: &str, v: &str| {
            Status::unresolvable(format!("node(s) had untolerated taint {{{k}: {v}}}"))
        };
        let cases: Vec<(&str, Value, Value, Status)> = vec![
            (
                "A pod having no tolerations can't be scheduled onto a node with nonempty taints",
                json!([]),
                json!([{"key": "dedicated", "value": "user1", "effect": "NoSchedule"}]),
                untolerated("dedicated", "user1"),
            ),
            (
                "A pod which can be scheduled on a dedicated node assigned to user1 with effect NoSchedule",
                json!([{"key": "dedicated", "value": "user1", "effect": "NoSchedule"}]),
                json!([{"key": "dedicated", "value": "user1", "effect": "NoSchedule"}]),
                Status::success(),
            ),
            (
                "A pod which can't be scheduled on a dedicated node assigned to user2 with effect NoSchedule",
                json!([{"key": "dedicated", "operator": "Equal", "value": "user2", "effect": "NoSchedule"}]),
                json!([{"key": "dedicated", "value": "user1", "effect": "NoSchedule"}]),
                untolerated("dedicated", "user1"),
            ),
            (
                "A pod can be scheduled onto the node, with a toleration uses operator Exists that tolerates the taints on the node",
                json!([{"key": "foo", "operator": "Exists", "effect": "NoSchedule"}]),
                json!([{"key": "foo", "value": "bar", "effect": "NoSchedule"}]),
                Status::success(),
            ),
            (
                "A pod has multiple tolerations, node has multiple taints, all the taints are tolerated",
                json!([
                    {"key": "dedicated", "operator": "Equal", "value": "user2", "effect": "NoSchedule"},
                    {"key": "foo", "operator": "Exists", "effect": "NoSchedule"}
                ]),
                json!([
                    {"key": "dedicated", "value": "user2", "effect": "NoSchedule"},
                    {"key": "foo", "value": "bar", "effect": "NoSchedule"}
                ]),
                Status::success(),
            ),
            (
                "keys and values match the taint but the (non-empty) effect doesn't",
                json!([{"key": "foo", "operator": "Equal", "value": "bar", "effect": "PreferNoSchedule"}]),
                json!([{"key": "foo", "value": "bar", "effect": "NoSchedule"}]),
                untolerated("foo", "bar"),
            ),
            (
                "keys and values match, the effect of toleration is empty and the taint's NoSchedule",
                json!([{"key": "foo", "operator": "Equal", "value": "bar"}]),
                json!([{"key": "foo", "value": "bar", "effect": "NoSchedule"}]),
                Status::success(),
            ),
            (
                "key and value don't match but the taint is PreferNoSchedule",
                json!([{"key": "dedicated", "operator": "Equal", "value": "user2", "effect": "NoSchedule"}]),
                json!([{"key": "dedicated", "value": "user1", "effect": "PreferNoSchedule"}]),
                Status::success(),
            ),
            (
                "no toleration, but the taint is PreferNoSchedule",
                json!([]),
                json!([{"key": "dedicated", "value": "user1", "effect": "PreferNoSchedule"}]),
                Status::success(),
            ),
            (
                // Not in the Go table: NoExecute taints filter too.
                "an untolerated NoExecute taint rejects the node",
                json!([{"key": "dedicated", "operator": "Exists", "effect": "NoSchedule"}]),
                json!([{"key": "dedicated", "value": "user1", "effect": "NoExecute"}]),
                untolerated("dedicated", "user1"),
            ),
        ];
        for (name, tolerations, taints, want) in cases {
            let got = filter_one(
                pod_with_tolerations(tolerations),
                node_with_taints("nodeA", taints),
            );
            assert_eq!(got, want, "{name}");
        }
    }

    #[test]
    fn filter_rejection_is_unresolvable() {
        let got = filter_one(
            pod_with_tolerations(json!([])),
            node_with_taints("nodeA", json!([{"key": "k", "effect": "NoSchedule"}])),
        );
        assert_eq!(got.code, Code::UnschedulableAndUnresolvable);
        assert_eq!(
            got.reasons,
            vec!["node(s) had untolerated taint {k: }".to_string()]
        );
    }

    #[test]
    fn score_without_pre_score_matches() {
        let p = pod_with_tolerations(
            json!([{"key": "foo", "operator": "Equal", "value": "bar", "effect": "PreferNoSchedule"}]),
        );
        let n = node_with_taints(
            "nodeA",
            json!([
                {"key": "foo", "value": "bar", "effect": "PreferNoSchedule"},
                {"key": "foo", "value": "baz", "effect": "PreferNoSchedule"}
            ]),
        );
        let snapshot = Snapshot::new(&[n], &[], &[]);
        let info = PodInfo::new(p);
        let got = TaintToleration::new().score(&CycleState::new(), &info, &snapshot.nodes[0]);
        assert_eq!(got, Ok(1));
    }
}
