//! Golden tests: kube-scheduler v1.34's
//! pkg/scheduler/framework/plugins/interpodaffinity/scoring_test.go, case by case (same pods,
//! nodes, namespaces, arguments and expected normalized scores; Go's `""` namespace is `default`
//! here).

use std::sync::Arc;

use flotilla_model::api::{Node, Pod};
use flotilla_model::FieldPath;
use serde_json::{json, Value};

use super::test_support::*;
use super::{InterPodAffinity, InterPodAffinityArgs, NAME};
use crate::framework::{Code, CycleState, NodeScore, Plugin, ScorePlugin, Status};
use crate::node_info::PodInfo;

const MAX: i64 = crate::framework::MAX_NODE_SCORE;

/// A preferred (anti-)affinity with one weighted term.
fn preferred(kind: &str, weight: i32, t: Value) -> Value {
    let mut affinity = json!({});
    affinity[kind] = json!({"preferredDuringSchedulingIgnoredDuringExecution": [{"weight": weight, "podAffinityTerm": t}]});
    affinity
}

fn in_term(key: &str, values: &[&str], topo: &str) -> Value {
    term(sel(vec![expr(key, "In", values)]), topo)
}

struct Case {
    name: &'static str,
    pod: Arc<Pod>,
    pods: Vec<Arc<Pod>>,
    nodes: Vec<Arc<Node>>,
    args: InterPodAffinityArgs,
    /// `Ok(scores)` in node order, or the PreScore status code.
    want: Result<Vec<i64>, Code>,
}

fn check(cases: Vec<Case>) {
    let mut failures = Vec::new();
    for c in cases {
        let got = run_score(
            c.args.clone(),
            &c.pod,
            &c.pods,
            &c.nodes,
            &team_namespaces(),
        )
        .map_err(|s| s.code);
        if got != c.want {
            failures.push(format!("{}: got {got:?}, want {:?}", c.name, c.want));
        }
    }
    assert!(
        failures.is_empty(),
        "{} case(s) failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

fn args(hard: i32, ignore: bool) -> InterPodAffinityArgs {
    InterPodAffinityArgs {
        hard_pod_affinity_weight: hard,
        ignore_preferred_terms_of_existing_pods: ignore,
    }
}

// TestPreferredAffinity.
#[test]
fn preferred_affinity() {
    let rg_china = [("region", "China")];
    let rg_india = [("region", "India")];
    let az1 = [("az", "az1")];
    let az2 = [("az", "az2")];
    let rg_china_az1 = [("region", "China"), ("az", "az1")];
    let s1 = [("security", "S1")];
    let s2 = [("security", "S2")];

    let stay_with_s1_in_region =
        preferred("podAffinity", 5, in_term("security", &["S1"], "region"));
    let stay_with_s2_in_region =
        preferred("podAffinity", 6, in_term("security", &["S2"], "region"));
    let affinity3 = json!({"podAffinity": {"preferredDuringSchedulingIgnoredDuringExecution": [
        {"weight": 8, "podAffinityTerm": term(sel(vec![expr("security", "NotIn", &["S1"]), expr("security", "In", &["S2"])]), "region")},
        {"weight": 2, "podAffinityTerm": term(sel(vec![expr("security", "Exists", &[]), expr("wrongkey", "DoesNotExist", &[])]), "region")},
    ]}});
    let hard_affinity = json!({"podAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": [
        in_term("security", &["S1", "value2"], "region"),
        term(sel(vec![expr("security", "Exists", &[]), expr("wrongkey", "DoesNotExist", &[])]), "region"),
    ]}});
    let away_from_s1_in_az = preferred("podAntiAffinity", 5, in_term("security", &["S1"], "az"));
    let away_from_s2_in_az = preferred("podAntiAffinity", 5, in_term("security", &["S2"], "az"));
    let stay_with_s1_in_region_away_from_s2_in_az = json!({
        "podAffinity": {"preferredDuringSchedulingIgnoredDuringExecution": [
            {"weight": 8, "podAffinityTerm": in_term("security", &["S1"], "region")}]},
        "podAntiAffinity": {"preferredDuringSchedulingIgnoredDuringExecution": [
            {"weight": 5, "podAffinityTerm": in_term("security", &["S2"], "az")}]},
    });
    let ns_term = || {
        term_ns(
            sel(vec![expr("security", "In", &["S1"])]),
            "region",
            &["subteam2.team2"],
            Some(sel(vec![expr("team", "In", &["team1"])])),
        )
    };
    let affinity_namespace_selector = preferred("podAffinity", 5, ns_term());
    let anti_affinity_namespace_selector = preferred("podAntiAffinity", 5, ns_term());
    let invalid_affinity_labels = preferred(
        "podAffinity",
        8,
        in_term("security", &["{{.bad-value.}}"], "region"),
    );
    let invalid_anti_affinity_labels = preferred(
        "podAntiAffinity",
        5,
        in_term("security", &["{{.bad-value.}}"], "az"),
    );

    let p = |node: &str, labels: &[(&str, &str)]| make_pod().node(node).labels(labels).obj();
    let pa = |node: &str, labels: &[(&str, &str)], affinity: &Value| {
        make_pod()
            .node(node)
            .labels(labels)
            .affinity_json(affinity)
            .obj()
    };
    let pn = |node: &str, ns: &str, labels: &[(&str, &str)]| {
        make_pod().node(node).namespace(ns).labels(labels).obj()
    };
    let incoming = |labels: &[(&str, &str)], affinity: Option<&Value>| {
        let b = make_pod().labels(labels);
        match affinity {
            Some(a) => b.affinity_json(a).obj(),
            None => b.obj(),
        }
    };
    let incoming_ns = |ns: &str, labels: &[(&str, &str)], affinity: Option<&Value>| {
        let b = make_pod().namespace(ns).labels(labels);
        match affinity {
            Some(a) => b.affinity_json(a).obj(),
            None => b.obj(),
        }
    };
    let d = || args(1, false);
    let cases = vec![
        Case {
            name: "all nodes are same priority as Affinity is nil",
            pod: incoming(&s1, None),
            pods: vec![],
            nodes: vec![node("node1", &rg_china), node("node2", &rg_india), node("node3", &az1)],
            args: d(),
            want: Err(Code::Skip),
        },
        Case {
            name: "Affinity: pod that matches topology key & pods in nodes will get high score comparing to otherswhich doesn't match either pods in nodes or in topology key",
            pod: incoming(&s1, Some(&stay_with_s1_in_region)),
            pods: vec![p("node1", &s1), p("node2", &s2), p("node3", &s1)],
            nodes: vec![node("node1", &rg_china), node("node2", &rg_india), node("node3", &az1)],
            args: d(),
            want: Ok(vec![MAX, 0, 0]),
        },
        Case {
            name: "All the nodes that have the same topology key & label value with one of them has an existing pod that match the affinity rules, have the same score",
            pod: incoming(&[], Some(&stay_with_s1_in_region)),
            pods: vec![p("node1", &s1)],
            nodes: vec![node("node1", &rg_china), node("node2", &rg_china_az1), node("node3", &rg_india)],
            args: d(),
            want: Ok(vec![MAX, MAX, 0]),
        },
        Case {
            name: "Affinity: nodes in one region has more matching pods comparing to other region, so the region which has more matches will get high score",
            pod: incoming(&s1, Some(&stay_with_s2_in_region)),
            pods: vec![p("node1", &s2), p("node1", &s2), p("node2", &s2), p("node3", &s2), p("node4", &s2), p("node5", &s2)],
            nodes: vec![
                node("node1", &rg_china),
                node("node2", &rg_india),
                node("node3", &rg_china),
                node("node4", &rg_china),
                node("node5", &rg_india),
            ],
            args: d(),
            want: Ok(vec![MAX, 0, MAX, MAX, 0]),
        },
        Case {
            name: "Affinity: different Label operators and values for pod affinity scheduling preference, including some match failures ",
            pod: incoming(&s1, Some(&affinity3)),
            pods: vec![p("node1", &s1), p("node2", &s2), p("node3", &s1)],
            nodes: vec![node("node1", &rg_china), node("node2", &rg_india), node("node3", &az1)],
            args: d(),
            want: Ok(vec![20, MAX, 0]),
        },
        Case {
            name: "Affinity symmetry: considered only the preferredDuringSchedulingIgnoredDuringExecution in pod affinity symmetry",
            pod: incoming(&s2, None),
            pods: vec![pa("node1", &s1, &stay_with_s1_in_region), pa("node2", &s2, &stay_with_s2_in_region)],
            nodes: vec![node("node1", &rg_china), node("node2", &rg_india), node("node3", &az1)],
            args: d(),
            want: Ok(vec![0, MAX, 0]),
        },
        Case {
            name: "Affinity symmetry with namespace selector",
            pod: incoming_ns("subteam1.team1", &s1, None),
            pods: vec![pa("node1", &s1, &affinity_namespace_selector), pa("node2", &s2, &stay_with_s2_in_region)],
            nodes: vec![node("node1", &rg_china), node("node2", &rg_india), node("node3", &az1)],
            args: d(),
            want: Ok(vec![MAX, 0, 0]),
        },
        Case {
            name: "AntiAffinity symmetry with namespace selector",
            pod: incoming_ns("subteam1.team1", &s1, None),
            pods: vec![pa("node1", &s1, &anti_affinity_namespace_selector), pa("node2", &s2, &stay_with_s2_in_region)],
            nodes: vec![node("node1", &rg_china), node("node2", &rg_india), node("node3", &az1)],
            args: d(),
            want: Ok(vec![0, MAX, MAX]),
        },
        Case {
            name: "Affinity symmetry: considered RequiredDuringSchedulingIgnoredDuringExecution in pod affinity symmetry",
            pod: incoming(&s1, None),
            pods: vec![pa("node1", &s1, &hard_affinity), pa("node2", &s2, &hard_affinity)],
            nodes: vec![node("node1", &rg_china), node("node2", &rg_india), node("node3", &az1)],
            args: d(),
            want: Ok(vec![MAX, MAX, 0]),
        },
        Case {
            name: "Anti Affinity: pod that does not match existing pods in node will get high score ",
            pod: incoming(&s1, Some(&away_from_s1_in_az)),
            pods: vec![p("node1", &s1), p("node2", &s2)],
            nodes: vec![node("node1", &az1), node("node2", &rg_china)],
            args: d(),
            want: Ok(vec![0, MAX]),
        },
        Case {
            name: "Anti Affinity: pod that does not match topology key & match the pods in nodes will get higher score comparing to others ",
            pod: incoming(&s1, Some(&away_from_s1_in_az)),
            pods: vec![p("node1", &s1), p("node2", &s1)],
            nodes: vec![node("node1", &az1), node("node2", &rg_china)],
            args: d(),
            want: Ok(vec![0, MAX]),
        },
        Case {
            name: "Anti Affinity: one node has more matching pods comparing to other node, so the node which has more unmatches will get high score",
            pod: incoming(&s1, Some(&away_from_s1_in_az)),
            pods: vec![p("node1", &s1), p("node1", &s1), p("node2", &s2)],
            nodes: vec![node("node1", &az1), node("node2", &rg_india)],
            args: d(),
            want: Ok(vec![0, MAX]),
        },
        Case {
            name: "Anti Affinity symmetry: the existing pods in node which has anti affinity match will get high score",
            pod: incoming(&s2, None),
            pods: vec![pa("node1", &s1, &away_from_s2_in_az), pa("node2", &s2, &away_from_s1_in_az)],
            nodes: vec![node("node1", &az1), node("node2", &az2)],
            args: d(),
            want: Ok(vec![0, MAX]),
        },
        Case {
            name: "Affinity and Anti Affinity: considered only preferredDuringSchedulingIgnoredDuringExecution in both pod affinity & anti affinity",
            pod: incoming(&s1, Some(&stay_with_s1_in_region_away_from_s2_in_az)),
            pods: vec![p("node1", &s1), p("node2", &s1)],
            nodes: vec![node("node1", &rg_china), node("node2", &az1)],
            args: d(),
            want: Ok(vec![MAX, 0]),
        },
        Case {
            name: "Affinity and Anti Affinity: considering both affinity and anti-affinity, the pod to schedule and existing pods have the same labels",
            pod: incoming(&s1, Some(&stay_with_s1_in_region_away_from_s2_in_az)),
            pods: vec![
                p("node1", &s1),
                p("node1", &s1),
                p("node2", &s1),
                p("node3", &s1),
                p("node3", &s1),
                p("node4", &s1),
                p("node5", &s1),
            ],
            nodes: vec![
                node("node1", &rg_china_az1),
                node("node2", &rg_india),
                node("node3", &rg_china),
                node("node4", &rg_china),
                node("node5", &rg_india),
            ],
            args: d(),
            want: Ok(vec![MAX, 0, MAX, MAX, 0]),
        },
        Case {
            name: "Affinity and Anti Affinity and symmetry: considered only preferredDuringSchedulingIgnoredDuringExecution in both pod affinity & anti affinity & symmetry",
            pod: incoming(&s1, Some(&stay_with_s1_in_region_away_from_s2_in_az)),
            pods: vec![
                p("node1", &s1),
                p("node2", &s2),
                pa("node3", &[], &stay_with_s1_in_region_away_from_s2_in_az),
                pa("node4", &[], &away_from_s1_in_az),
            ],
            nodes: vec![node("node1", &rg_china), node("node2", &az1), node("node3", &rg_india), node("node4", &az2)],
            args: d(),
            want: Ok(vec![MAX, 0, MAX, 0]),
        },
        Case {
            // kubernetes/kubernetes#82796. Both nodes score 8 raw: with v1.34's min/max seeded
            // from the scores this is 0 for both (seeding min with 0, as older releases did,
            // would give 100).
            name: "Avoid panic when partial nodes in a topology don't have pods with affinity",
            pod: incoming(&s1, None),
            pods: vec![p("node1", &s1), pa("node2", &[], &stay_with_s1_in_region_away_from_s2_in_az)],
            nodes: vec![node("node1", &rg_china), node("node2", &rg_china)],
            args: d(),
            want: Ok(vec![0, 0]),
        },
        Case {
            name: "invalid Affinity fails PreScore",
            pod: incoming(&[], Some(&invalid_affinity_labels)),
            pods: vec![],
            nodes: vec![node("node1", &rg_china), node("node2", &rg_china)],
            args: d(),
            want: Err(Code::Error),
        },
        Case {
            name: "invalid AntiAffinity fails PreScore",
            pod: incoming(&[], Some(&invalid_anti_affinity_labels)),
            pods: vec![],
            nodes: vec![node("node1", &rg_china), node("node2", &rg_china)],
            args: d(),
            want: Err(Code::Error),
        },
        Case {
            name: "Affinity with pods matching NamespaceSelector",
            pod: incoming_ns("subteam1.team1", &s1, Some(&affinity_namespace_selector)),
            pods: vec![
                pn("node1", "subteam1.team1", &s1),
                pn("node1", "subteam1.team1", &s1),
                pn("node1", "subteam1.team2", &s1),
                pn("node2", "subteam2.team1", &s1),
            ],
            nodes: vec![node("node1", &rg_china), node("node2", &rg_india)],
            args: d(),
            want: Ok(vec![MAX, 0]),
        },
        Case {
            name: "Affinity with pods matching both NamespaceSelector and Namespaces fields",
            pod: incoming_ns("subteam1.team1", &s1, Some(&affinity_namespace_selector)),
            pods: vec![
                pn("node1", "subteam1.team1", &s1),
                pn("node1", "subteam1.team1", &s1),
                pn("node1", "subteam2.team2", &s1),
                pn("node2", "subteam2.team1", &s1),
            ],
            nodes: vec![node("node1", &rg_china), node("node2", &rg_india)],
            args: d(),
            want: Ok(vec![MAX, 0]),
        },
        Case {
            name: "Affinity with pods matching NamespaceSelector (anti-affinity)",
            pod: incoming_ns("subteam1.team1", &s1, Some(&anti_affinity_namespace_selector)),
            pods: vec![
                pn("node1", "subteam1.team1", &s1),
                pn("node1", "subteam1.team1", &s1),
                pn("node1", "subteam1.team2", &s1),
                pn("node2", "subteam2.team1", &s1),
            ],
            nodes: vec![node("node1", &rg_china), node("node2", &rg_india)],
            args: d(),
            want: Ok(vec![0, MAX]),
        },
        Case {
            name: "Affinity with pods matching both NamespaceSelector and Namespaces fields (anti-affinity)",
            pod: incoming_ns("subteam1.team1", &s1, Some(&anti_affinity_namespace_selector)),
            pods: vec![
                pn("node1", "subteam1.team1", &s1),
                pn("node1", "subteam1.team1", &s1),
                pn("node1", "subteam2.team2", &s1),
                pn("node2", "subteam2.team1", &s1),
            ],
            nodes: vec![node("node1", &rg_china), node("node2", &rg_india)],
            args: d(),
            want: Ok(vec![0, MAX]),
        },
        Case {
            name: "Ignore preferred terms of existing pods",
            pod: incoming(&s2, None),
            pods: vec![pa("node1", &s1, &stay_with_s1_in_region_away_from_s2_in_az), pa("node2", &s2, &stay_with_s2_in_region)],
            nodes: vec![node("node1", &rg_china), node("node2", &rg_india)],
            args: args(1, true),
            want: Err(Code::Skip),
        },
        Case {
            name: "Do not ignore preferred terms of existing pods",
            pod: incoming(&s2, None),
            pods: vec![pa("node1", &s1, &stay_with_s1_in_region_away_from_s2_in_az), pa("node2", &s2, &stay_with_s2_in_region)],
            nodes: vec![node("node1", &rg_china), node("node2", &rg_india)],
            args: args(1, false),
            want: Ok(vec![0, MAX]),
        },
        Case {
            name: "No nodes to score",
            pod: incoming(&s2, None),
            pods: vec![],
            nodes: vec![],
            args: d(),
            want: Err(Code::Skip),
        },
    ];
    assert_eq!(cases.len(), 26);
    check(cases);
}

// TestPreferredAffinity's two "invalid … fails PreScore" cases check the message contains
// `Invalid value: "{{.bad-value.}}"` (apimachinery's wording); ours names the same value in
// core-model's wording.
#[test]
fn invalid_terms_fail_pre_score_with_the_value() {
    let pod = make_pod()
        .preferred_affinity(8, in_term("security", &["{{.bad-value.}}"], "region"))
        .obj();
    let err = run_score(
        args(1, false),
        &pod,
        &[],
        &[node("node1", &[("region", "China")])],
        &[],
    )
    .expect_err("fails");
    assert_eq!(err.code, Code::Error);
    assert!(
        err.reasons[0].starts_with("failed to parse pod: preferredAffinityTerms: "),
        "{err:?}"
    );
    assert!(err.reasons[0].contains("{{.bad-value.}}"), "{err:?}");
}

// TestPreferredAffinityWithHardPodAffinitySymmetricWeight.
#[test]
fn preferred_affinity_with_hard_pod_affinity_symmetric_weight() {
    let service_s1 = [("service", "S1")];
    let hard_pod_affinity = json!({"podAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": [
        // Go's "" namespace is the default one.
        term_ns(sel(vec![expr("service", "In", &["S1"])]), "region", &["default", "subteam2.team2"],
            Some(sel(vec![expr("team", "In", &["team1"])]))),
    ]}});
    let pods = || {
        vec![
            make_pod()
                .node("node1")
                .affinity_json(&hard_pod_affinity)
                .obj(),
            make_pod()
                .node("node2")
                .affinity_json(&hard_pod_affinity)
                .obj(),
        ]
    };
    let nodes = || {
        vec![
            node("node1", &[("region", "China")]),
            node("node2", &[("region", "India")]),
            node("node3", &[("az", "az1")]),
        ]
    };
    let incoming = |ns: &str| make_pod().namespace(ns).labels(&service_s1).obj();
    let cases = vec![
        Case {
            name: "with default weight",
            pod: incoming(""),
            pods: pods(),
            nodes: nodes(),
            args: args(1, false),
            want: Ok(vec![MAX, MAX, 0]),
        },
        Case {
            name: "with zero weight",
            pod: incoming(""),
            pods: pods(),
            nodes: nodes(),
            args: args(0, false),
            want: Err(Code::Skip),
        },
        Case {
            name: "with no matching namespace",
            pod: incoming("subteam1.team2"),
            pods: pods(),
            nodes: nodes(),
            args: args(1, false),
            want: Err(Code::Skip),
        },
        Case {
            name: "with matching NamespaceSelector",
            pod: incoming("subteam1.team1"),
            pods: pods(),
            nodes: nodes(),
            args: args(1, false),
            want: Ok(vec![MAX, MAX, 0]),
        },
        Case {
            name: "with matching Namespaces",
            pod: incoming("subteam2.team2"),
            pods: pods(),
            nodes: nodes(),
            args: args(1, false),
            want: Ok(vec![MAX, MAX, 0]),
        },
    ];
    assert_eq!(cases.len(), 5);
    check(cases);
}

// Beyond kube-scheduler's tables.

/// Raw scores and min–max normalization with negative, zero and positive raw scores, and the
/// float truncation (`int64(100 * 1/3) = 33`).
#[test]
fn raw_scores_and_normalization() {
    // Incoming pod prefers app=db in its zone (weight 3) and avoids app=web on the host (weight 2).
    let pod = make_pod()
        .preferred_affinity(3, in_term("app", &["db"], "zone"))
        .preferred_anti_affinity(2, in_term("app", &["web"], "host"))
        .obj();
    let nodes = vec![
        node("a1", &[("zone", "a"), ("host", "a1")]),
        node("a2", &[("zone", "a"), ("host", "a2")]),
        node("b1", &[("zone", "b"), ("host", "b1")]),
        node("c1", &[("zone", "c"), ("host", "c1")]),
    ];
    let pods = vec![
        make_pod().node("a1").label("app", "db").obj(),
        make_pod().node("a1").label("app", "web").obj(),
        make_pod().node("b1").label("app", "web").obj(),
        make_pod().node("b1").label("app", "web").obj(),
    ];
    // Raw: a1 = 3 − 2 = 1, a2 = 3, b1 = −4, c1 = 0 → (s + 4) * 100 / 7.
    let snapshot = crate::snapshot::Snapshot::new(&nodes, &pods, &[]);
    let plugin = InterPodAffinity::default_args();
    let info = PodInfo::new(pod.clone());
    let mut state = CycleState::new();
    let feasible: Vec<usize> = (0..4).collect();
    assert!(crate::framework::PreScorePlugin::pre_score(
        &plugin, &mut state, &info, &snapshot, &feasible
    )
    .is_success());
    let raw: Vec<i64> = nodes
        .iter()
        .map(|n| {
            plugin
                .score(
                    &state,
                    &info,
                    snapshot.node(&n.metadata.name).expect("node"),
                )
                .expect("score")
        })
        .collect();
    assert_eq!(raw, vec![1, 3, -4, 0]);
    let mut scores: Vec<NodeScore> = raw
        .iter()
        .enumerate()
        .map(|(node, &score)| NodeScore { node, score })
        .collect();
    assert!(plugin
        .normalize_scores(&state, &info, &mut scores)
        .is_success());
    assert_eq!(
        scores.iter().map(|s| s.score).collect::<Vec<_>>(),
        vec![71, 100, 0, 57]
    );

    // 0, 1, 3 → 0, 33, 100 (float truncation, not rounding).
    let mut scores: Vec<NodeScore> = [0, 1, 3]
        .iter()
        .enumerate()
        .map(|(node, &score)| NodeScore { node, score })
        .collect();
    assert!(plugin
        .normalize_scores(&state, &info, &mut scores)
        .is_success());
    assert_eq!(
        scores.iter().map(|s| s.score).collect::<Vec<_>>(),
        vec![0, 33, 100]
    );

    // Score without PreScore is an error.
    let err = plugin
        .score(&CycleState::new(), &info, &snapshot.nodes[0])
        .expect_err("no state");
    assert_eq!(
        err,
        Status::error(r#"failed to read "PreScoreInterPodAffinity" from cycleState: not found"#)
    );
}

/// A term that matched creates its domain's entry even when weights cancel out, so PreScore
/// does not skip (kube-scheduler checks for entries, not for non-zero sums).
#[test]
fn cancelling_weights_do_not_skip() {
    let pod = make_pod()
        .preferred_affinity(4, in_term("app", &["db"], "zone"))
        .preferred_anti_affinity(4, in_term("app", &["db"], "zone"))
        .obj();
    let nodes = vec![node("a1", &[("zone", "a")]), node("b1", &[("zone", "b")])];
    let pods = vec![make_pod().node("a1").label("app", "db").obj()];
    assert_eq!(
        run_score(args(1, false), &pod, &pods, &nodes, &[]),
        Ok(vec![0, 0])
    );
}

#[test]
fn args_defaults_decoding_and_validation() {
    assert_eq!(InterPodAffinityArgs::default(), args(1, false));
    let decoded: InterPodAffinityArgs = serde_json::from_value(json!({})).expect("decodes");
    assert_eq!(decoded, args(1, false));
    let decoded: InterPodAffinityArgs = serde_json::from_value(
        json!({"hardPodAffinityWeight": 0, "ignorePreferredTermsOfExistingPods": true, "other": 1}),
    )
    .expect("decodes");
    assert_eq!(decoded, args(0, true));

    // validation_pluginargs_test.go: the range is [0, 100].
    let path = FieldPath::new("profiles")
        .index(0)
        .child("pluginConfig")
        .index(0)
        .child("args");
    for ok in [0, 1, 100] {
        assert_eq!(args(ok, false).validate(&path), Ok(()));
    }
    for (bad, value) in [(-1, "-1"), (101, "101")] {
        let errs = args(bad, false).validate(&path).expect_err("invalid");
        assert_eq!(errs.len(), 1);
        assert_eq!(
            errs[0].to_string(),
            format!("profiles[0].pluginConfig[0].args.hardPodAffinityWeight: Invalid value: {value}: not in valid range [0, 100]")
        );
    }
    assert!(InterPodAffinity::new(args(101, false)).is_err());
    let plugin = InterPodAffinity::new(args(7, true)).expect("valid");
    assert_eq!(plugin.args(), &args(7, true));
    assert_eq!(plugin.name(), NAME);
    assert!(plugin.as_pre_filter().is_some() && plugin.as_filter().is_some());
    assert!(plugin.as_pre_score().is_some() && plugin.as_score().is_some());
}
