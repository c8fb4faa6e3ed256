//! Builders for the golden tests, after kube-scheduler's `st.MakePod()` wrappers
//! (pkg/scheduler/testing/wrappers.go), and a runner for the plugin's extension points.

use std::sync::Arc;

use flotilla_model::api::{Namespace, Node, Pod};
use serde_json::{json, Value};

use super::{InterPodAffinity, InterPodAffinityArgs};
use crate::framework::{
    Code, CycleState, FilterPlugin, NodeScore, PreFilterPlugin, PreScorePlugin, ScorePlugin, Status,
};
use crate::node_info::PodInfo;
use crate::plugins::testing;
use crate::snapshot::Snapshot;

/// Whether a term built by the `pod_(anti_)affinity_*` helpers is required or preferred
/// (weight 1), as `st.PodAffinityWithRequiredReq` / `st.PodAffinityWithPreferredReq`.
#[derive(Clone, Copy)]
pub(super) enum Kind {
    Required,
    Preferred,
}
pub(super) use Kind::{Preferred, Required};

/// A pod under construction, as JSON.
pub(super) struct PodBuilder(Value);

/// A pod with nothing set (`new(v1.Pod)`, `st.MakePod()`); its namespace becomes `default`.
pub(super) fn make_pod() -> PodBuilder {
    PodBuilder(json!({"metadata": {}, "spec": {}}))
}

/// A label selector requirement.
pub(super) fn expr(key: &str, op: &str, values: &[&str]) -> Value {
    if values.is_empty() {
        json!({"key": key, "operator": op})
    } else {
        json!({"key": key, "operator": op, "values": values})
    }
}

/// A label selector of `matchExpressions`.
pub(super) fn sel(exprs: Vec<Value>) -> Value {
    json!({ "matchExpressions": exprs })
}

/// A pod affinity term.
pub(super) fn term(selector: Value, topology_key: &str) -> Value {
    json!({"labelSelector": selector, "topologyKey": topology_key})
}

/// A term with namespaces and a namespace selector.
pub(super) fn term_ns(
    selector: Value,
    topology_key: &str,
    namespaces: &[&str],
    ns_selector: Option<Value>,
) -> Value {
    let mut t = term(selector, topology_key);
    if !namespaces.is_empty() {
        t["namespaces"] = json!(namespaces);
    }
    if let Some(ns) = ns_selector {
        t["namespaceSelector"] = ns;
    }
    t
}

impl PodBuilder {
    pub(super) fn name(mut self, name: &str) -> Self {
        self.0["metadata"]["name"] = json!(name);
        self
    }
    /// Go tests' `""` namespace is the default one; pass `""` to leave it so.
    pub(super) fn namespace(mut self, ns: &str) -> Self {
        if !ns.is_empty() {
            self.0["metadata"]["namespace"] = json!(ns);
        }
        self
    }
    pub(super) fn node(mut self, node: &str) -> Self {
        self.0["spec"]["nodeName"] = json!(node);
        self
    }
    pub(super) fn label(mut self, k: &str, v: &str) -> Self {
        self.0["metadata"]["labels"][k] = json!(v);
        self
    }
    pub(super) fn labels(mut self, labels: &[(&str, &str)]) -> Self {
        for (k, v) in labels {
            self = self.label(k, v);
        }
        self
    }
    fn push(mut self, kind: &str, list: &str, item: Value) -> Self {
        let slot = &mut self.0["spec"]["affinity"][kind][list];
        if slot.is_null() {
            *slot = json!([]);
        }
        slot.as_array_mut().expect("an array").push(item);
        self
    }
    pub(super) fn required_affinity(self, t: Value) -> Self {
        self.push(
            "podAffinity",
            "requiredDuringSchedulingIgnoredDuringExecution",
            t,
        )
    }
    pub(super) fn required_anti_affinity(self, t: Value) -> Self {
        self.push(
            "podAntiAffinity",
            "requiredDuringSchedulingIgnoredDuringExecution",
            t,
        )
    }
    pub(super) fn preferred_affinity(self, weight: i32, t: Value) -> Self {
        self.push(
            "podAffinity",
            "preferredDuringSchedulingIgnoredDuringExecution",
            json!({"weight": weight, "podAffinityTerm": t}),
        )
    }
    pub(super) fn preferred_anti_affinity(self, weight: i32, t: Value) -> Self {
        self.push(
            "podAntiAffinity",
            "preferredDuringSchedulingIgnoredDuringExecution",
            json!({"weight": weight, "podAffinityTerm": t}),
        )
    }
    fn affinity(self, anti: bool, t: Value, kind: Kind) -> Self {
        match (anti, kind) {
            (false, Required) => self.required_affinity(t),
            (true, Required) => self.required_anti_affinity(t),
            (false, Preferred) => self.preferred_affinity(1, t),
            (true, Preferred) => self.preferred_anti_affinity(1, t),
        }
    }
    pub(super) fn pod_affinity_in(
        self,
        key: &str,
        topo: &str,
        values: &[&str],
        kind: Kind,
    ) -> Self {
        self.affinity(false, term(sel(vec![expr(key, "In", values)]), topo), kind)
    }
    pub(super) fn pod_affinity_not_in(
        self,
        key: &str,
        topo: &str,
        values: &[&str],
        kind: Kind,
    ) -> Self {
        self.affinity(
            false,
            term(sel(vec![expr(key, "NotIn", values)]), topo),
            kind,
        )
    }
    pub(super) fn pod_affinity_exists(self, key: &str, topo: &str, kind: Kind) -> Self {
        self.affinity(false, term(sel(vec![expr(key, "Exists", &[])]), topo), kind)
    }
    pub(super) fn pod_anti_affinity_in(
        self,
        key: &str,
        topo: &str,
        values: &[&str],
        kind: Kind,
    ) -> Self {
        self.affinity(true, term(sel(vec![expr(key, "In", values)]), topo), kind)
    }
    pub(super) fn pod_anti_affinity_not_in(
        self,
        key: &str,
        topo: &str,
        values: &[&str],
        kind: Kind,
    ) -> Self {
        self.affinity(
            true,
            term(sel(vec![expr(key, "NotIn", values)]), topo),
            kind,
        )
    }
    pub(super) fn pod_anti_affinity_exists(self, key: &str, topo: &str, kind: Kind) -> Self {
        self.affinity(true, term(sel(vec![expr(key, "Exists", &[])]), topo), kind)
    }
    /// Sets the whole `spec.affinity`.
    pub(super) fn affinity_json(mut self, affinity: &Value) -> Self {
        self.0["spec"]["affinity"] = affinity.clone();
        self
    }
    pub(super) fn obj(self) -> Arc<Pod> {
        testing::pod(self.0)
    }
}

/// A node with labels.
pub(super) fn node(name: &str, labels: &[(&str, &str)]) -> Arc<Node> {
    let labels: serde_json::Map<String, Value> = labels
        .iter()
        .map(|(k, v)| (k.to_string(), json!(v)))
        .collect();
    testing::node(json!({"metadata": {"name": name, "labels": labels}}))
}

/// A namespace with labels.
pub(super) fn namespace(name: &str, labels: &[(&str, &str)]) -> Arc<Namespace> {
    let labels: serde_json::Map<String, Value> = labels
        .iter()
        .map(|(k, v)| (k.to_string(), json!(v)))
        .collect();
    Arc::new(
        serde_json::from_value(json!({"metadata": {"name": name, "labels": labels}}))
            .expect("namespace decodes"),
    )
}

/// The namespaces of kube-scheduler's filtering and scoring tests.
pub(super) fn team_namespaces() -> Vec<Arc<Namespace>> {
    vec![
        namespace("subteam1.team1", &[("team", "team1")]),
        namespace("subteam2.team1", &[("team", "team1")]),
        namespace("subteam1.team2", &[("team", "team2")]),
        namespace("subteam2.team2", &[("team", "team2")]),
    ]
}

/// Runs PreFilter, then (when it succeeded) Filter on every node in `nodes` order, as the Go
/// tests do. Returns the PreFilter status and the Filter statuses (empty when PreFilter did not
/// succeed).
pub(super) fn run_filter(
    pod: &Arc<Pod>,
    pods: &[Arc<Pod>],
    nodes: &[Arc<Node>],
    namespaces: &[Arc<Namespace>],
) -> (Status, Vec<Status>) {
    let snapshot = Snapshot::new(nodes, pods, namespaces);
    let plugin = InterPodAffinity::default_args();
    let info = PodInfo::new(pod.clone());
    let mut state = CycleState::new();
    let (_, pre) = plugin.pre_filter(&mut state, &info, &snapshot);
    if pre.code != Code::Success {
        return (pre, Vec::new());
    }
    let statuses = nodes
        .iter()
        .map(|n| {
            plugin.filter(
                &state,
                &info,
                snapshot.node(&n.metadata.name).expect("node in snapshot"),
            )
        })
        .collect();
    (pre, statuses)
}

/// Runs PreScore over all nodes, Score on every node in `nodes` order and NormalizeScore.
/// Returns the normalized scores, or the PreScore status when it did not succeed.
pub(super) fn run_score(
    args: InterPodAffinityArgs,
    pod: &Arc<Pod>,
    pods: &[Arc<Pod>],
    nodes: &[Arc<Node>],
    namespaces: &[Arc<Namespace>],
) -> Result<Vec<i64>, Status> {
    let snapshot = Snapshot::new(nodes, pods, namespaces);
    let plugin = InterPodAffinity::new(args).expect("valid args");
    let info = PodInfo::new(pod.clone());
    let mut state = CycleState::new();
    let feasible: Vec<usize> = (0..snapshot.len()).collect();
    let status = plugin.pre_score(&mut state, &info, &snapshot, &feasible);
    if !status.is_success() {
        return Err(status);
    }
    let mut scores: Vec<NodeScore> = nodes
        .iter()
        .map(|n| {
            let i = snapshot
                .index_of(&n.metadata.name)
                .expect("node in snapshot");
            NodeScore {
                node: i,
                score: plugin
                    .score(&state, &info, &snapshot.nodes[i])
                    .expect("score succeeds"),
            }
        })
        .collect();
    let status = plugin.normalize_scores(&state, &info, &mut scores);
    assert!(status.is_success(), "NormalizeScore failed: {status}");
    Ok(scores.into_iter().map(|s| s.score).collect())
}

impl InterPodAffinity {
    /// The plugin with default arguments.
    pub(super) fn default_args() -> InterPodAffinity {
        InterPodAffinity::new(InterPodAffinityArgs::default()).expect("defaults are valid")
    }
}

/// Filter statuses in kube-scheduler's words.
pub(super) fn ok() -> Status {
    Status::success()
}
pub(super) fn affinity_fail() -> Status {
    Status::new(
        Code::UnschedulableAndUnresolvable,
        super::ERR_REASON_AFFINITY_RULES_NOT_MATCH,
    )
}
pub(super) fn anti_fail() -> Status {
    Status::new(
        Code::Unschedulable,
        super::ERR_REASON_ANTI_AFFINITY_RULES_NOT_MATCH,
    )
}
pub(super) fn existing_fail() -> Status {
    Status::new(
        Code::Unschedulable,
        super::ERR_REASON_EXISTING_ANTI_AFFINITY_RULES_NOT_MATCH,
    )
}
