//! Test helpers for plugins: build nodes and pods tersely, run one plugin over a snapshot the way
//! the framework would (PreFilter then Filter; PreScore, Score, NormalizeScore).

use std::sync::Arc;

use flotilla_model::api::{Node, Pod};

use crate::framework::{Code, CycleState, NodeScore, Plugin, Status};
use crate::node_info::PodInfo;
use crate::snapshot::Snapshot;

/// A pod from JSON (`metadata`/`spec`/`status` as in the API), defaulted as the API server would.
pub(crate) fn pod(json: serde_json::Value) -> Arc<Pod> {
    let mut pod: Pod = serde_json::from_value(json).expect("test pod decodes");
    if pod.metadata.namespace.is_empty() {
        pod.metadata.namespace = "default".into();
    }
    flotilla_model::SetDefaults::set_defaults(&mut pod);
    Arc::new(pod)
}

/// A node from JSON, as [`pod`].
pub(crate) fn node(json: serde_json::Value) -> Arc<Node> {
    let node: Node = serde_json::from_value(json).expect("test node decodes");
    Arc::new(node)
}

/// A node named `name` with `cpu` millicores, `memory` bytes and `pods` allocatable, and labels.
pub(crate) fn simple_node(
    name: &str,
    milli_cpu: i64,
    memory: i64,
    labels: &[(&str, &str)],
) -> Arc<Node> {
    let labels: serde_json::Map<String, serde_json::Value> = labels
        .iter()
        .map(|(k, v)| (k.to_string(), serde_json::Value::from(*v)))
        .collect();
    node(serde_json::json!({
        "metadata": {"name": name, "labels": labels},
        "status": {"allocatable": {"cpu": format!("{milli_cpu}m"), "memory": memory.to_string(), "pods": "110"}}
    }))
}

/// Runs PreFilter and Filter of `plugin` for `pod` on every node of `snapshot`, as the framework
/// does: a PreFilter rejection rejects every node, a PreFilter Skip makes every node pass, and a
/// PreFilter node subset rejects the nodes outside it.
pub(crate) fn run_filter(plugin: &dyn Plugin, pod: &Arc<Pod>, snapshot: &Snapshot) -> Vec<Status> {
    let info = PodInfo::new(pod.clone());
    let mut state = CycleState::new();
    if let Some(pf) = plugin.as_pre_filter() {
        let (result, status) = pf.pre_filter(&mut state, &info, snapshot);
        match status.code {
            Code::Skip => return vec![Status::success(); snapshot.len()],
            Code::Success => {}
            _ => return vec![status; snapshot.len()],
        }
        if let Some(subset) = result.nodes {
            let filter = plugin.as_filter();
            return (0..snapshot.len())
                .map(|i| {
                    if !subset.contains(&i) {
                        Status::unresolvable("node(s) didn't satisfy plugin(s) [PreFilter]")
                    } else {
                        filter.map_or_else(Status::success, |f| {
                            f.filter(&state, &info, &snapshot.nodes[i])
                        })
                    }
                })
                .collect();
        }
    }
    let Some(filter) = plugin.as_filter() else {
        return vec![Status::success(); snapshot.len()];
    };
    snapshot
        .nodes
        .iter()
        .map(|n| filter.filter(&state, &info, n))
        .collect()
}

/// Runs PreScore, Score and NormalizeScore of `plugin` for `pod` over all nodes of `snapshot`
/// (all treated as feasible). Returns the normalized scores in snapshot order, or `None` when
/// PreScore skipped the plugin.
pub(crate) fn run_score(
    plugin: &dyn Plugin,
    pod: &Arc<Pod>,
    snapshot: &Snapshot,
) -> Option<Vec<i64>> {
    let info = PodInfo::new(pod.clone());
    let mut state = CycleState::new();
    let feasible: Vec<usize> = (0..snapshot.len()).collect();
    if let Some(pf) = plugin.as_pre_filter() {
        let _ = pf.pre_filter(&mut state, &info, snapshot);
    }
    if let Some(ps) = plugin.as_pre_score() {
        let status = ps.pre_score(&mut state, &info, snapshot, &feasible);
        if status.code == Code::Skip {
            return None;
        }
        assert!(status.is_success(), "PreScore failed: {status}");
    }
    let scorer = plugin.as_score().expect("a score plugin");
    let mut scores: Vec<NodeScore> = feasible
        .iter()
        .map(|&i| NodeScore {
            node: i,
            score: scorer
                .score(&state, &info, &snapshot.nodes[i])
                .expect("score succeeds"),
        })
        .collect();
    let status = scorer.normalize_scores(&state, &info, &mut scores);
    assert!(status.is_success(), "NormalizeScore failed: {status}");
    Some(scores.into_iter().map(|s| s.score).collect())
}
