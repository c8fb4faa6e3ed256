//! The placement plugins (TaintToleration, NodeAffinity, PodTopologySpread, SchedulingGates,
//! PrioritySort) driven only through their public API, as a profile would: arguments decoded
//! from a KubeSchedulerConfiguration's JSON, extension points reached through `Plugin::as_*`.

use std::sync::Arc;

use flotilla_model::api::{Node, Pod, ReplicaSet};
use flotilla_scheduler::framework::{Code, CycleState, NodeScore, Plugin, Status};
use flotilla_scheduler::node_info::PodInfo;
use flotilla_scheduler::plugins::node_affinity::{NodeAffinity, NodeAffinityArgs};
use flotilla_scheduler::plugins::pod_topology_spread::{
    workload_selectors, PodTopologySpread, PodTopologySpreadArgs, LABEL_HOSTNAME,
};
use flotilla_scheduler::plugins::scheduling_gates::SchedulingGates;
use flotilla_scheduler::plugins::taint_toleration::TaintToleration;
use flotilla_scheduler::snapshot::{Snapshot, ZONE_LABEL};
use serde_json::json;

fn pod(v: serde_json::Value) -> Arc<Pod> {
    let mut p: Pod = serde_json::from_value(v).expect("pod decodes");
    if p.metadata.namespace.is_empty() {
        p.metadata.namespace = "default".into();
    }
    Arc::new(p)
}

fn node(name: &str, zone: &str, taints: serde_json::Value) -> Arc<Node> {
    Arc::new(
        serde_json::from_value(json!({
            "metadata": {"name": name, "labels": {LABEL_HOSTNAME: name, ZONE_LABEL: zone}},
            "spec": {"taints": taints}
        }))
        .expect("node decodes"),
    )
}

/// What a profile does with one plugin: PreFilter, Filter on the nodes PreFilter allows, then
/// PreScore, Score and NormalizeScore on the feasible ones. Returns per node `None` when
/// filtered out, else the normalized score (`Some(0)` when the plugin skips scoring).
fn run(plugin: &dyn Plugin, p: &Arc<Pod>, snapshot: &Snapshot) -> Vec<(String, Option<i64>)> {
    let info = PodInfo::new(p.clone());
    let mut state = CycleState::new();
    let mut allowed: Vec<usize> = (0..snapshot.len()).collect();
    let mut skip_filter = false;
    if let Some(pf) = plugin.as_pre_filter() {
        let (result, status) = pf.pre_filter(&mut state, &info, snapshot);
        match status.code {
            Code::Skip => skip_filter = true,
            Code::Success => {}
            _ => allowed.clear(),
        }
        if let Some(nodes) = result.nodes {
            allowed.retain(|i| nodes.contains(i));
        }
    }
    let feasible: Vec<usize> = allowed
        .into_iter()
        .filter(|&i| {
            skip_filter
                || plugin
                    .as_filter()
                    .is_none_or(|f| f.filter(&state, &info, &snapshot.nodes[i]).is_success())
        })
        .collect();
    let mut scores: Vec<NodeScore> = feasible
        .iter()
        .map(|&node| NodeScore { node, score: 0 })
        .collect();
    let skipped = plugin
        .as_pre_score()
        .is_some_and(|ps| ps.pre_score(&mut state, &info, snapshot, &feasible).code == Code::Skip);
    if let (Some(scorer), false) = (plugin.as_score(), skipped) {
        for s in &mut scores {
            s.score = scorer
                .score(&state, &info, &snapshot.nodes[s.node])
                .expect("score");
        }
        assert!(scorer
            .normalize_scores(&state, &info, &mut scores)
            .is_success());
    }
    snapshot
        .nodes
        .iter()
        .enumerate()
        .map(|(i, n)| {
            (
                n.name().to_string(),
                scores.iter().find(|s| s.node == i).map(|s| s.score),
            )
        })
        .collect()
}

#[test]
fn taint_toleration_prefers_the_tolerated_taint() {
    // The example.
    let snapshot = Snapshot::new(
        &[
            node(
                "A",
                "z",
                json!([{"key": "foo", "value": "bar", "effect": "PreferNoSchedule"}]),
            ),
            node(
                "B",
                "z",
                json!([{"key": "foo", "value": "blah", "effect": "PreferNoSchedule"}]),
            ),
            node(
                "C",
                "z",
                json!([{"key": "foo", "value": "bar", "effect": "NoSchedule"}]),
            ),
        ],
        &[],
        &[],
    );
    let p = pod(json!({"metadata": {"name": "p"}, "spec": {"tolerations": [
        {"key": "foo", "operator": "Equal", "value": "bar", "effect": "PreferNoSchedule"}
    ]}}));
    let got = run(&TaintToleration::new(), &p, &snapshot);
    assert_eq!(
        got,
        vec![
            ("A".into(), Some(100)),
            ("B".into(), Some(0)),
            ("C".into(), None)
        ]
    );
}

#[test]
fn node_affinity_from_configuration_args() {
    let args: NodeAffinityArgs = serde_json::from_value(json!({
        "addedAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [
            {"matchExpressions": [{"key": ZONE_LABEL, "operator": "In", "values": ["z1", "z2"]}]}
        ]}}
    }))
    .expect("args decode");
    let plugin = NodeAffinity::new(args).expect("valid");
    let snapshot = Snapshot::new(
        &[
            node("a", "z1", json!([])),
            node("b", "z2", json!([])),
            node("c", "z3", json!([])),
        ],
        &[],
        &[],
    );
    let p = pod(
        json!({"metadata": {"name": "p"}, "spec": {"affinity": {"nodeAffinity": {
            "preferredDuringSchedulingIgnoredDuringExecution": [
                {"weight": 10, "preference": {"matchExpressions": [{"key": ZONE_LABEL, "operator": "In", "values": ["z2"]}]}}
            ]
        }}}}),
    );
    assert_eq!(
        run(&plugin, &p, &snapshot),
        vec![
            ("a".into(), Some(0)),
            ("b".into(), Some(100)),
            ("c".into(), None)
        ]
    );

    let bad: NodeAffinityArgs = serde_json::from_value(json!({
        "addedAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [
            {"matchExpressions": [{"key": "a/b/c", "operator": "In", "values": ["x"]}]}
        ]}}
    }))
    .expect("args decode");
    let errs = NodeAffinity::new(bad).expect_err("invalid key");
    assert!(errs[0]
        .to_string()
        .starts_with("addedAffinity.requiredDuringSchedulingIgnoredDuringExecution.nodeSelectorTerms[0].matchExpressions[0].key: Invalid value: \"a/b/c\""));
}

#[test]
fn system_default_spreading_follows_the_replica_set() {
    // Three nodes in two zones; the ReplicaSet already has two pods on node a (zone z1).
    let rs: Arc<ReplicaSet> = Arc::new(
        serde_json::from_value(json!({
            "metadata": {"name": "web", "namespace": "default"},
            "spec": {"selector": {"matchLabels": {"app": "web"}}, "template": {"metadata": {"labels": {"app": "web"}}}}
        }))
        .expect("replica set"),
    );
    let owned = |name: &str, node_name: &str| {
        pod(json!({
            "metadata": {"name": name, "labels": {"app": "web"}, "ownerReferences": [
                {"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "web", "uid": "u", "controller": true}
            ]},
            "spec": {"nodeName": node_name}
        }))
    };
    let nodes = [
        node("a", "z1", json!([])),
        node("b", "z1", json!([])),
        node("c", "z2", json!([])),
    ];
    let mut snapshot = Snapshot::new(&nodes, &[owned("w1", "a"), owned("w2", "a")], &[]);
    let plugin = PodTopologySpread::new(PodTopologySpreadArgs::default()).expect("valid");

    // Without the ReplicaSet's selector in the snapshot the pod gets no default constraints.
    let incoming = owned("w3", "");
    assert!(run(&plugin, &incoming, &snapshot)
        .iter()
        .all(|(_, s)| *s == Some(0)));

    snapshot.workload_selectors = workload_selectors(&[], &[rs], &[]);
    let got = run(&plugin, &incoming, &snapshot);
    // hostname: a has 2 → 2·ln 5 + 2; b, c → 2. zone: z1 has 2 → 2·ln 4 + 4; z2 → 4.
    // Raw: a = round(3.219 + 2 + 2.773 + 4) = 12, b = round(2 + 2.773 + 4) = 9, c = 6.
    // Normalized: 100·(12 + 6 − s)/12 → a 50, b 75, c 100.
    assert_eq!(
        got,
        vec![
            ("a".into(), Some(50)),
            ("c".into(), Some(100)),
            ("b".into(), Some(75))
        ]
    );
}

#[test]
fn gated_pod_waits() {
    let p = PodInfo::new(pod(
        json!({"metadata": {"name": "p"}, "spec": {"schedulingGates": [{"name": "example.com/quota"}]}}),
    ));
    let gates = SchedulingGates::new();
    let status = gates.as_pre_enqueue().expect("PreEnqueue").pre_enqueue(&p);
    assert_eq!(
        status,
        Status::new(
            Code::Pending,
            "waiting for scheduling gates: [example.com/quota]"
        )
    );
}
