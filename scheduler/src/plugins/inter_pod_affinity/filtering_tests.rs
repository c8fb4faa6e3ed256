//! Golden tests: kube-scheduler v1.34's
//! pkg/scheduler/framework/plugins/interpodaffinity/filtering_test.go, case by case (same pods,
//! nodes, namespaces and expected statuses; Go's `""` namespace is `default` here).

use std::sync::Arc;

use flotilla_model::api::{Namespace, Node, Pod};
use serde_json::json;

use super::filtering::{incoming_affinity_counts, PreFilterState};
use super::test_support::*;
use super::{IncomingTerm, InterPodAffinity, PRE_FILTER_STATE_KEY};
use crate::framework::{Code, CycleState, FilterPlugin, PreFilterPlugin, Status};
use crate::node_info::PodInfo;
use crate::snapshot::Snapshot;

struct Case {
    name: &'static str,
    pod: Arc<Pod>,
    pods: Vec<Arc<Pod>>,
    nodes: Vec<Arc<Node>>,
    /// PreFilter's status; Filter runs only when it is success.
    want_pre: Status,
    /// Filter's status per node.
    want: Vec<Status>,
}

fn check(cases: Vec<Case>, namespaces: &[Arc<Namespace>]) {
    let mut failures = Vec::new();
    for c in cases {
        let (pre, got) = run_filter(&c.pod, &c.pods, &c.nodes, namespaces);
        if pre != c.want_pre {
            failures.push(format!(
                "{}: PreFilter: got {pre:?}, want {:?}",
                c.name, c.want_pre
            ));
            continue;
        }
        if pre.is_success() && got != c.want {
            failures.push(format!(
                "{}: Filter: got {got:?}, want {:?}",
                c.name, c.want
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "{} case(s) failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

fn skip() -> Status {
    Status::skip()
}

// TestRequiredAffinitySingleNode.
#[test]
fn required_affinity_single_node() {
    let pod_label = [("service", "securityscan")];
    let pod_label2 = [("security", "S1")];
    let pod = || make_pod().labels(&pod_label).node("node1").obj();
    let node1 = || vec![node("node1", &[("region", "r1"), ("zone", "z11")])];
    let ns_team1 = || Some(sel(vec![expr("team", "In", &["team1"])]));
    let cases = vec![
        Case {
            name: "A pod that has no required pod affinity scheduling rules can schedule onto a node with no existing pods",
            pod: make_pod().obj(),
            pods: vec![],
            nodes: node1(),
            want_pre: skip(),
            want: vec![],
        },
        Case {
            name: "satisfies with requiredDuringSchedulingIgnoredDuringExecution in PodAffinity using In operator that matches the existing pod",
            pod: make_pod().labels(&pod_label2).pod_affinity_in("service", "region", &["securityscan", "value2"], Required).obj(),
            pods: vec![pod()],
            nodes: node1(),
            want_pre: ok(),
            want: vec![ok()],
        },
        Case {
            name: "satisfies the pod with requiredDuringSchedulingIgnoredDuringExecution in PodAffinity using not in operator in labelSelector that matches the existing pod",
            pod: make_pod().labels(&pod_label2).pod_affinity_not_in("service", "region", &["securityscan3", "value3"], Required).obj(),
            pods: vec![pod()],
            nodes: node1(),
            want_pre: ok(),
            want: vec![ok()],
        },
        Case {
            name: "Does not satisfy the PodAffinity with labelSelector because of diff Namespace",
            pod: make_pod()
                .labels(&pod_label2)
                .required_affinity(term_ns(sel(vec![expr("service", "In", &["securityscan", "value2"])]), "", &["DiffNameSpace"], None))
                .obj(),
            pods: vec![make_pod().namespace("ns").label("service", "securityscan").node("node1").obj()],
            nodes: node1(),
            want_pre: ok(),
            want: vec![affinity_fail()],
        },
        Case {
            name: "Doesn't satisfy the PodAffinity because of unmatching labelSelector with the existing pod",
            pod: make_pod().labels(&pod_label).pod_affinity_in("service", "", &["antivirusscan", "value2"], Required).obj(),
            pods: vec![pod()],
            nodes: node1(),
            want_pre: ok(),
            want: vec![affinity_fail()],
        },
        Case {
            name: "satisfies the PodAffinity with different label Operators in multiple RequiredDuringSchedulingIgnoredDuringExecution",
            pod: make_pod()
                .labels(&pod_label2)
                .required_affinity(term(sel(vec![expr("service", "Exists", &[]), expr("wrongkey", "DoesNotExist", &[])]), "region"))
                .required_affinity(term(
                    sel(vec![expr("service", "In", &["securityscan"]), expr("service", "NotIn", &["WrongValue"])]),
                    "region",
                ))
                .obj(),
            pods: vec![pod()],
            nodes: node1(),
            want_pre: ok(),
            want: vec![ok()],
        },
        Case {
            name: "The labelSelector requirements(items of matchExpressions) are ANDed, the pod cannot schedule onto the node because one of the matchExpression item don't match.",
            pod: make_pod()
                .labels(&pod_label2)
                .required_affinity(term(sel(vec![expr("service", "Exists", &[]), expr("wrongkey", "DoesNotExist", &[])]), "region"))
                .required_affinity(term(
                    sel(vec![expr("service", "In", &["securityscan2"]), expr("service", "NotIn", &["WrongValue"])]),
                    "region",
                ))
                .obj(),
            pods: vec![pod()],
            nodes: node1(),
            want_pre: ok(),
            want: vec![affinity_fail()],
        },
        Case {
            name: "satisfies the PodAffinity and PodAntiAffinity with the existing pod",
            pod: make_pod()
                .labels(&pod_label2)
                .pod_affinity_in("service", "region", &["securityscan", "value2"], Required)
                .pod_anti_affinity_in("service", "node", &["antivirusscan", "value2"], Required)
                .obj(),
            pods: vec![pod()],
            nodes: node1(),
            want_pre: ok(),
            want: vec![ok()],
        },
        Case {
            name: "satisfies the PodAffinity and PodAntiAffinity and PodAntiAffinity symmetry with the existing pod",
            pod: make_pod()
                .labels(&pod_label2)
                .pod_affinity_in("service", "region", &["securityscan", "value2"], Required)
                .pod_anti_affinity_in("service", "node", &["antivirusscan", "value2"], Required)
                .obj(),
            pods: vec![make_pod()
                .node("node1")
                .labels(&pod_label)
                .pod_anti_affinity_in("service", "node", &["antivirusscan", "value2"], Required)
                .obj()],
            nodes: node1(),
            want_pre: ok(),
            want: vec![ok()],
        },
        Case {
            name: "satisfies the PodAffinity but doesn't satisfy the PodAntiAffinity with the existing pod",
            pod: make_pod()
                .labels(&pod_label2)
                .pod_affinity_in("service", "region", &["securityscan", "value2"], Required)
                .pod_anti_affinity_in("service", "zone", &["securityscan", "value2"], Required)
                .obj(),
            pods: vec![pod()],
            nodes: node1(),
            want_pre: ok(),
            want: vec![anti_fail()],
        },
        Case {
            name: "satisfies the PodAffinity and PodAntiAffinity but doesn't satisfy PodAntiAffinity symmetry with the existing pod",
            pod: make_pod()
                .labels(&pod_label)
                .pod_affinity_in("service", "region", &["securityscan", "value2"], Required)
                .pod_anti_affinity_in("service", "node", &["antivirusscan", "value2"], Required)
                .obj(),
            pods: vec![make_pod()
                .labels(&pod_label)
                .node("node1")
                .pod_anti_affinity_in("service", "zone", &["securityscan", "value2"], Required)
                .obj()],
            nodes: node1(),
            want_pre: ok(),
            want: vec![existing_fail()],
        },
        Case {
            name: "pod matches its own Label in PodAffinity and that matches the existing pod Labels",
            pod: make_pod().labels(&pod_label).pod_affinity_not_in("service", "region", &["securityscan", "value2"], Required).obj(),
            pods: vec![make_pod().label("service", "securityscan").node("node2").obj()],
            nodes: node1(),
            want_pre: ok(),
            want: vec![affinity_fail()],
        },
        Case {
            name: "verify that PodAntiAffinity from existing pod is respected when pod has no AntiAffinity constraints. doesn't satisfy PodAntiAffinity symmetry with the existing pod",
            pod: make_pod().labels(&pod_label).obj(),
            pods: vec![make_pod()
                .node("node1")
                .labels(&pod_label)
                .pod_anti_affinity_in("service", "zone", &["securityscan", "value2"], Required)
                .obj()],
            nodes: node1(),
            want_pre: ok(),
            want: vec![existing_fail()],
        },
        Case {
            name: "verify that PodAntiAffinity from existing pod is respected when pod has no AntiAffinity constraints. satisfy PodAntiAffinity symmetry with the existing pod",
            pod: make_pod().labels(&pod_label).obj(),
            pods: vec![make_pod()
                .node("node1")
                .labels(&pod_label)
                .pod_anti_affinity_not_in("service", "zone", &["securityscan", "value2"], Required)
                .obj()],
            nodes: node1(),
            want_pre: skip(),
            want: vec![],
        },
        Case {
            name: "satisfies the PodAntiAffinity with existing pod but doesn't satisfy PodAntiAffinity symmetry with incoming pod",
            pod: make_pod()
                .labels(&pod_label)
                .pod_anti_affinity_exists("service", "region", Required)
                .pod_anti_affinity_exists("security", "region", Required)
                .obj(),
            pods: vec![make_pod().node("node1").labels(&pod_label2).pod_anti_affinity_exists("security", "zone", Required).obj()],
            nodes: node1(),
            want_pre: ok(),
            want: vec![anti_fail()],
        },
        Case {
            name: "PodAntiAffinity symmetry check a1: incoming pod and existing pod partially match each other on AffinityTerms",
            pod: make_pod()
                .labels(&pod_label)
                .pod_anti_affinity_exists("service", "zone", Required)
                .pod_anti_affinity_exists("security", "zone", Required)
                .obj(),
            pods: vec![make_pod().node("node1").labels(&pod_label2).pod_anti_affinity_exists("security", "zone", Required).obj()],
            nodes: node1(),
            want_pre: ok(),
            want: vec![anti_fail()],
        },
        Case {
            name: "PodAntiAffinity symmetry check a2: incoming pod and existing pod partially match each other on AffinityTerms",
            pod: make_pod().labels(&pod_label2).pod_anti_affinity_exists("security", "zone", Required).obj(),
            pods: vec![make_pod()
                .node("node1")
                .labels(&pod_label)
                .pod_anti_affinity_exists("service", "zone", Required)
                .pod_anti_affinity_exists("security", "zone", Required)
                .obj()],
            nodes: node1(),
            want_pre: ok(),
            want: vec![existing_fail()],
        },
        Case {
            name: "PodAntiAffinity symmetry check b1: incoming pod and existing pod partially match each other on AffinityTerms",
            pod: make_pod()
                .labels(&[("abc", ""), ("xyz", "")])
                .pod_anti_affinity_exists("abc", "zone", Required)
                .pod_anti_affinity_exists("def", "zone", Required)
                .obj(),
            pods: vec![make_pod()
                .node("node1")
                .labels(&[("def", ""), ("xyz", "")])
                .pod_anti_affinity_exists("abc", "zone", Required)
                .pod_anti_affinity_exists("def", "zone", Required)
                .obj()],
            nodes: node1(),
            want_pre: ok(),
            want: vec![anti_fail()],
        },
        Case {
            name: "PodAntiAffinity symmetry check b2: incoming pod and existing pod partially match each other on AffinityTerms",
            pod: make_pod()
                .labels(&[("def", ""), ("xyz", "")])
                .pod_anti_affinity_exists("abc", "zone", Required)
                .pod_anti_affinity_exists("def", "zone", Required)
                .obj(),
            pods: vec![make_pod()
                .node("node1")
                .labels(&[("abc", ""), ("xyz", "")])
                .pod_anti_affinity_exists("abc", "zone", Required)
                .pod_anti_affinity_exists("def", "zone", Required)
                .obj()],
            nodes: node1(),
            want_pre: ok(),
            want: vec![anti_fail()],
        },
        // The two "fails PreFilter with an invalid label syntax" cases are in
        // `invalid_terms_fail_pre_filter` (the message's tail is core-model's wording).
        Case {
            name: "affinity with NamespaceSelector",
            pod: make_pod()
                .labels(&pod_label2)
                .required_affinity(term_ns(sel(vec![expr("service", "In", &["securityscan", "value2"])]), "region", &[], ns_team1()))
                .obj(),
            pods: vec![make_pod().node("node1").namespace("subteam1.team1").labels(&pod_label).obj()],
            nodes: node1(),
            want_pre: ok(),
            want: vec![ok()],
        },
        Case {
            name: "affinity with non-matching NamespaceSelector",
            pod: make_pod()
                .labels(&pod_label2)
                .required_affinity(term_ns(sel(vec![expr("service", "In", &["securityscan", "value2"])]), "region", &[], ns_team1()))
                .obj(),
            pods: vec![make_pod().node("node1").namespace("subteam1.team2").labels(&pod_label).obj()],
            nodes: node1(),
            want_pre: ok(),
            want: vec![affinity_fail()],
        },
        Case {
            name: "anti-affinity with matching NamespaceSelector",
            pod: make_pod()
                .namespace("subteam1.team1")
                .labels(&pod_label2)
                .required_anti_affinity(term_ns(sel(vec![expr("service", "In", &["securityscan", "value2"])]), "zone", &[], ns_team1()))
                .obj(),
            pods: vec![make_pod().node("node1").namespace("subteam2.team1").labels(&pod_label).obj()],
            nodes: node1(),
            want_pre: ok(),
            want: vec![anti_fail()],
        },
        Case {
            name: "anti-affinity with matching all NamespaceSelector",
            pod: make_pod()
                .namespace("subteam1.team1")
                .labels(&pod_label2)
                .required_anti_affinity(term_ns(sel(vec![expr("service", "In", &["securityscan", "value2"])]), "zone", &[], Some(json!({}))))
                .obj(),
            pods: vec![make_pod().node("node1").namespace("subteam2.team1").labels(&pod_label).obj()],
            nodes: node1(),
            want_pre: ok(),
            want: vec![anti_fail()],
        },
        Case {
            name: "anti-affinity with non-matching NamespaceSelector",
            pod: make_pod()
                .namespace("subteam1.team1")
                .labels(&pod_label2)
                .required_anti_affinity(term_ns(sel(vec![expr("service", "In", &["securityscan", "value2"])]), "zone", &[], ns_team1()))
                .obj(),
            pods: vec![make_pod().node("node1").namespace("subteam1.team2").labels(&pod_label).obj()],
            nodes: node1(),
            want_pre: ok(),
            want: vec![ok()],
        },
    ];
    assert_eq!(cases.len(), 24);
    check(cases, &team_namespaces());
}

// TestRequiredAffinitySingleNode, the two cases whose PreFilter fails on a selector that does not
// parse. kube-scheduler's message is `parsing pod: requiredAffinityTerms: values[0][service]:
// Invalid value: "{{.bad-value.}}": a valid label must be …`; after `requiredAffinityTerms: ` ours
// has core-model's wording of the same selector error.
#[test]
fn invalid_terms_fail_pre_filter() {
    let node1 = vec![node("node1", &[("region", "r1"), ("zone", "z11")])];
    let pods = [
        make_pod()
            .label("service", "securityscan")
            .pod_affinity_in("service", "region", &["{{.bad-value.}}"], Required)
            .pod_affinity_in("service", "node", &["antivirusscan", "value2"], Required)
            .obj(),
        make_pod()
            .label("service", "securityscan")
            .pod_affinity_in("service", "region", &["foo"], Required)
            .pod_affinity_in("service", "node", &["{{.bad-value.}}"], Required)
            .obj(),
    ];
    for pod in pods {
        let (pre, filters) = run_filter(&pod, &[], &node1, &team_namespaces());
        assert_eq!(pre.code, Code::UnschedulableAndUnresolvable, "{pre:?}");
        assert_eq!(pre.reasons.len(), 1);
        assert!(
            pre.reasons[0].starts_with("parsing pod: requiredAffinityTerms: "),
            "{pre:?}"
        );
        assert!(pre.reasons[0].contains("{{.bad-value.}}"), "{pre:?}");
        assert!(filters.is_empty());
    }
    // An invalid preferred term fails PreFilter too (NewPodInfo parses all four groups).
    let pod = make_pod()
        .pod_affinity_in("service", "region", &["{{.bad-value.}}"], Preferred)
        .obj();
    let (pre, _) = run_filter(&pod, &[], &node1, &[]);
    assert_eq!(pre.code, Code::UnschedulableAndUnresolvable);
    assert!(
        pre.reasons[0].starts_with("parsing pod: preferredAffinityTerms: "),
        "{pre:?}"
    );
}

// TestRequiredAffinityMultipleNodes.
#[test]
fn required_affinity_multiple_nodes() {
    let pod_label_a = [("foo", "bar")];
    let rg_china = [("region", "China")];
    let rg_china_az1 = [("region", "China"), ("az", "az1")];
    let rg_india = [("region", "India")];
    let three = || {
        vec![
            node("node1", &rg_china),
            node("node2", &rg_china_az1),
            node("node3", &rg_india),
        ]
    };
    let abc = || {
        vec![
            node("nodeA", &rg_china),
            node("nodeB", &rg_china_az1),
            node("nodeC", &rg_india),
        ]
    };
    let ab = |za: &str, zb: &str| {
        vec![
            node(
                "nodeA",
                &[("region", "r1"), ("zone", za), ("hostname", "nodeA")],
            ),
            node(
                "nodeB",
                &[("region", "r1"), ("zone", zb), ("hostname", "nodeB")],
            ),
        ]
    };
    let cases = vec![
        Case {
            name: "A pod can be scheduled onto all the nodes that have the same topology key & label value with one of them has an existing pod that matches the affinity rules",
            pod: make_pod().pod_affinity_in("foo", "region", &["bar"], Required).obj(),
            pods: vec![make_pod().name("p1").node("node1").labels(&pod_label_a).obj()],
            nodes: three(),
            want_pre: ok(),
            want: vec![ok(), ok(), affinity_fail()],
        },
        Case {
            name: "The affinity rule is to schedule all of the pods of this collection to the same zone. The first pod of the collection should not be blocked from being scheduled onto any node, even there's no existing pod that matches the rule anywhere.",
            pod: make_pod()
                .labels(&[("foo", "bar"), ("service", "securityscan")])
                .pod_affinity_in("foo", "zone", &["bar"], Required)
                .pod_affinity_in("service", "zone", &["securityscan"], Required)
                .obj(),
            pods: vec![make_pod().name("p1").node("nodeA").labels(&[("foo", "bar")]).obj()],
            nodes: vec![
                node("nodeA", &[("zone", "az1"), ("hostname", "h1")]),
                node("nodeB", &[("zone", "az2"), ("hostname", "h2")]),
            ],
            want_pre: ok(),
            want: vec![ok(), ok()],
        },
        Case {
            name: "The first pod of the collection can only be scheduled on nodes labelled with the requested topology keys",
            pod: make_pod()
                .labels(&[("foo", "bar"), ("service", "securityscan")])
                .pod_affinity_in("foo", "zone", &["bar"], Required)
                .pod_affinity_in("service", "zone", &["securityscan"], Required)
                .obj(),
            pods: vec![make_pod().name("p1").node("nodeA").labels(&[("foo", "bar")]).obj()],
            nodes: vec![
                node("nodeA", &[("zoneLabel", "az1"), ("hostname", "h1")]),
                node("nodeB", &[("zoneLabel", "az2"), ("hostname", "h2")]),
            ],
            want_pre: ok(),
            want: vec![affinity_fail(), affinity_fail()],
        },
        Case {
            name: "NodeA and nodeB have same topologyKey and label value. NodeA has an existing pod that matches the inter pod affinity rule. The pod can not be scheduled onto nodeA and nodeB.",
            pod: make_pod().pod_anti_affinity_in("foo", "region", &["abc"], Required).obj(),
            pods: vec![make_pod().node("nodeA").labels(&[("foo", "abc")]).obj()],
            nodes: vec![
                node("nodeA", &[("region", "r1"), ("hostname", "nodeA")]),
                node("nodeB", &[("region", "r1"), ("hostname", "nodeB")]),
            ],
            want_pre: ok(),
            want: vec![anti_fail(), anti_fail()],
        },
        Case {
            name: "This test ensures that anti-affinity matches a pod when any term of the anti-affinity rule matches a pod.",
            pod: make_pod()
                .pod_anti_affinity_in("foo", "region", &["abc"], Required)
                .pod_anti_affinity_in("service", "zone", &["securityscan"], Required)
                .obj(),
            pods: vec![make_pod().node("nodeA").labels(&[("foo", "abc"), ("service", "securityscan")]).obj()],
            nodes: ab("z1", "z2"),
            want_pre: ok(),
            want: vec![anti_fail(), anti_fail()],
        },
        Case {
            name: "NodeA and nodeB have same topologyKey and label value. NodeA has an existing pod that matches the inter pod affinity rule. The pod can not be scheduled onto nodeA and nodeB but can be scheduled onto nodeC",
            pod: make_pod().pod_anti_affinity_in("foo", "region", &["abc"], Required).obj(),
            pods: vec![make_pod().node("nodeA").labels(&[("foo", "abc")]).obj()],
            nodes: abc(),
            want_pre: ok(),
            want: vec![anti_fail(), anti_fail(), ok()],
        },
        Case {
            name: "NodeA and nodeB have same topologyKey and label value. NodeA has an existing pod that matches the inter pod affinity rule. The pod can not be scheduled onto nodeA, nodeB, but can be scheduled onto nodeC (NodeC has an existing pod that match the inter pod affinity rule but in different namespace)",
            pod: make_pod().namespace("NS1").labels(&[("foo", "123")]).pod_anti_affinity_in("foo", "region", &["bar"], Required).obj(),
            pods: vec![
                make_pod().node("nodeA").namespace("NS1").labels(&[("foo", "bar")]).obj(),
                make_pod().node("nodeC").namespace("NS2").pod_anti_affinity_in("foo", "region", &["123"], Required).obj(),
            ],
            nodes: abc(),
            want_pre: ok(),
            want: vec![anti_fail(), anti_fail(), ok()],
        },
        Case {
            name: "Test existing pod's anti-affinity: if an existing pod has a term with invalid topologyKey, labelSelector of the term is firstly checked, and then topologyKey of the term is also checked",
            pod: make_pod().label("foo", "").obj(),
            pods: vec![make_pod().node("nodeA").pod_anti_affinity_exists("foo", "invalid-node-label", Required).obj()],
            nodes: ab("z1", "z1"),
            want_pre: skip(),
            want: vec![ok(), ok()],
        },
        Case {
            name: "Test incoming pod's anti-affinity: even if labelSelector matches, we still check if topologyKey matches",
            pod: make_pod().node("nodeA").pod_anti_affinity_exists("foo", "invalid-node-label", Required).obj(),
            pods: vec![make_pod().node("nodeA").labels(&[("foo", "")]).obj()],
            nodes: ab("z1", "z1"),
            want_pre: ok(),
            want: vec![ok(), ok()],
        },
        Case {
            name: "Test existing pod's anti-affinity: incoming pod wouldn't considered as a fit as it violates each existingPod's terms on all nodes",
            pod: make_pod().label("foo", "").label("bar", "").obj(),
            pods: vec![
                make_pod().node("nodeA").pod_anti_affinity_exists("foo", "zone", Required).obj(),
                make_pod().node("nodeA").pod_anti_affinity_exists("bar", "region", Required).obj(),
            ],
            nodes: ab("z1", "z2"),
            want_pre: ok(),
            want: vec![existing_fail(), existing_fail()],
        },
        Case {
            name: "Test incoming pod's anti-affinity: incoming pod wouldn't considered as a fit as it at least violates one anti-affinity rule of existingPod",
            pod: make_pod()
                .pod_anti_affinity_exists("foo", "zone", Required)
                .pod_anti_affinity_exists("bar", "region", Required)
                .obj(),
            pods: vec![
                make_pod().node("nodeA").labels(&[("foo", "")]).obj(),
                make_pod().node("nodeB").labels(&[("bar", "")]).obj(),
            ],
            nodes: ab("z1", "z2"),
            want_pre: ok(),
            want: vec![anti_fail(), anti_fail()],
        },
        Case {
            name: "Test existing pod's anti-affinity: only when labelSelector and topologyKey both match, it's counted as a single term match - case when one term has invalid topologyKey",
            pod: make_pod().label("foo", "").label("bar", "").obj(),
            pods: vec![make_pod()
                .node("nodeA")
                .pod_anti_affinity_exists("foo", "invalid-node-label", Required)
                .pod_anti_affinity_exists("bar", "zone", Required)
                .obj()],
            nodes: ab("z1", "z2"),
            want_pre: ok(),
            want: vec![existing_fail(), ok()],
        },
        Case {
            name: "Test incoming pod's anti-affinity: only when labelSelector and topologyKey both match, it's counted as a single term match - case when one term has invalid topologyKey",
            pod: make_pod()
                .pod_anti_affinity_exists("foo", "invalid-node-label", Required)
                .pod_anti_affinity_exists("bar", "zone", Required)
                .obj(),
            pods: vec![make_pod().name("podA").node("nodeA").labels(&[("foo", ""), ("bar", "")]).obj()],
            nodes: ab("z1", "z2"),
            want_pre: ok(),
            want: vec![anti_fail(), ok()],
        },
        Case {
            name: "Test existing pod's anti-affinity: only when labelSelector and topologyKey both match, it's counted as a single term match - case when all terms have valid topologyKey",
            pod: make_pod().label("foo", "").label("bar", "").obj(),
            pods: vec![make_pod()
                .node("nodeA")
                .pod_anti_affinity_exists("foo", "region", Required)
                .pod_anti_affinity_exists("bar", "zone", Required)
                .obj()],
            nodes: ab("z1", "z2"),
            want_pre: ok(),
            want: vec![existing_fail(), existing_fail()],
        },
        Case {
            name: "Test incoming pod's anti-affinity: only when labelSelector and topologyKey both match, it's counted as a single term match - case when all terms have valid topologyKey",
            pod: make_pod()
                .pod_anti_affinity_exists("foo", "region", Required)
                .pod_anti_affinity_exists("bar", "zone", Required)
                .obj(),
            pods: vec![make_pod().node("nodeA").labels(&[("foo", ""), ("bar", "")]).obj()],
            nodes: ab("z1", "z2"),
            want_pre: ok(),
            want: vec![anti_fail(), anti_fail()],
        },
        Case {
            name: "Test existing pod's anti-affinity: existingPod on nodeA and nodeB has at least one anti-affinity term matches incoming pod, so incoming pod can only be scheduled to nodeC",
            pod: make_pod().label("foo", "").label("bar", "").obj(),
            pods: vec![
                make_pod()
                    .node("nodeA")
                    .pod_anti_affinity_exists("foo", "zone", Required)
                    .pod_anti_affinity_exists("labelA", "zone", Required)
                    .obj(),
                make_pod()
                    .node("nodeB")
                    .pod_anti_affinity_exists("bar", "zone", Required)
                    .pod_anti_affinity_exists("labelB", "zone", Required)
                    .obj(),
            ],
            nodes: vec![
                node("nodeA", &[("region", "r1"), ("zone", "z1"), ("hostname", "nodeA")]),
                node("nodeB", &[("region", "r1"), ("zone", "z2"), ("hostname", "nodeB")]),
                node("nodeC", &[("region", "r1"), ("zone", "z3"), ("hostname", "nodeC")]),
            ],
            want_pre: ok(),
            want: vec![existing_fail(), existing_fail(), ok()],
        },
        Case {
            name: "Test incoming pod's affinity: firstly check if all affinityTerms match, and then check if all topologyKeys match",
            pod: make_pod().pod_affinity_exists("foo", "region", Required).pod_affinity_exists("bar", "zone", Required).obj(),
            pods: vec![make_pod().name("pod1").labels(&[("foo", ""), ("bar", "")]).node("nodeA").obj()],
            nodes: ab("z1", "z1"),
            want_pre: ok(),
            want: vec![ok(), ok()],
        },
        Case {
            name: "Test incoming pod's affinity: firstly check if all affinityTerms match, and then check if all topologyKeys match, and the match logic should be satisfied on the same pod",
            pod: make_pod().pod_affinity_exists("foo", "region", Required).pod_affinity_exists("bar", "zone", Required).obj(),
            pods: vec![
                make_pod().node("nodeA").name("pod1").labels(&[("foo", "")]).obj(),
                make_pod().node("nodeB").name("pod2").labels(&[("bar", "")]).obj(),
            ],
            nodes: ab("z1", "z2"),
            want_pre: ok(),
            want: vec![affinity_fail(), affinity_fail()],
        },
    ];
    assert_eq!(cases.len(), 18);
    check(cases, &[namespace("NS1", &[])]);
}

// TestPreFilterDisabled: Filter without PreFilter state is an error.
#[test]
fn filter_without_pre_filter_state_is_an_error() {
    let plugin = InterPodAffinity::default_args();
    let snapshot = Snapshot::new(&[node("n", &[])], &[], &[]);
    let info = PodInfo::new(make_pod().obj());
    let status = plugin.filter(&CycleState::new(), &info, &snapshot.nodes[0]);
    assert_eq!(
        status,
        Status::error(r#"error reading "PreFilterInterPodAffinity" from cycleState: not found"#)
    );
}

// TestPreFilterStateAddRemovePod: the state after AddPod equals PreFilter's over all pods; after
// RemovePod it equals the original.
#[test]
fn pre_filter_state_add_remove_pod() {
    let label1 = [("region", "r1"), ("zone", "z11")];
    let label2 = [("region", "r1"), ("zone", "z12")];
    let label3 = [("region", "r2"), ("zone", "z21")];
    let nodes = || {
        vec![
            node("nodeA", &label1),
            node("nodeB", &label2),
            node("nodeC", &label3),
        ]
    };
    let anti_foo_bar = json!({"podAntiAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": [
        term(sel(vec![expr("foo", "In", &["bar"])]), "region")]}});
    let complex_terms = json!([
        term(sel(vec![expr("foo", "In", &["bar", "buzz"])]), "region"),
        term(
            sel(vec![expr("service", "NotIn", &["bar", "security", "test"])]),
            "zone"
        ),
    ]);
    let anti_complex = json!({"podAntiAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": complex_terms}});
    let affinity_complex =
        json!({"podAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": complex_terms}});
    let anti_foo_bar_and_affinity_complex = json!({
        "podAntiAffinity": anti_foo_bar["podAntiAffinity"],
        "podAffinity": affinity_complex["podAffinity"],
    });
    let foo_bar = [("foo", "bar")];
    type Counts = Vec<(String, String, i64)>;
    let counts = |v: &[(&str, &str, i64)]| -> Counts {
        v.iter()
            .map(|(k, val, c)| (k.to_string(), val.to_string(), *c))
            .collect()
    };
    struct AddRemove {
        pending: Arc<Pod>,
        existing: Vec<Arc<Pod>>,
        added: Arc<Pod>,
        want_anti: Counts,
        want_affinity: Counts,
    }
    let cases = vec![
        AddRemove {
            pending: make_pod()
                .name("pending")
                .labels(&foo_bar)
                .affinity_json(&anti_foo_bar)
                .obj(),
            existing: vec![
                make_pod().name("p1").labels(&foo_bar).node("nodeA").obj(),
                make_pod()
                    .name("p2")
                    .node("nodeC")
                    .affinity_json(&anti_foo_bar)
                    .obj(),
            ],
            added: make_pod()
                .name("addedPod")
                .labels(&foo_bar)
                .node("nodeB")
                .affinity_json(&anti_foo_bar)
                .obj(),
            want_anti: counts(&[("region", "r1", 2)]),
            want_affinity: vec![],
        },
        AddRemove {
            pending: make_pod()
                .name("pending")
                .labels(&foo_bar)
                .affinity_json(&anti_complex)
                .obj(),
            existing: vec![
                make_pod().name("p1").labels(&foo_bar).node("nodeA").obj(),
                make_pod()
                    .name("p2")
                    .node("nodeC")
                    .affinity_json(&anti_foo_bar)
                    .obj(),
            ],
            added: make_pod()
                .name("addedPod")
                .labels(&foo_bar)
                .node("nodeA")
                .affinity_json(&anti_complex)
                .obj(),
            want_anti: counts(&[("region", "r1", 2), ("zone", "z11", 2), ("zone", "z21", 1)]),
            want_affinity: vec![],
        },
        AddRemove {
            pending: make_pod()
                .name("pending")
                .labels(&foo_bar)
                .affinity_json(&affinity_complex)
                .obj(),
            existing: vec![
                make_pod().name("p1").labels(&foo_bar).node("nodeA").obj(),
                make_pod()
                    .name("p2")
                    .node("nodeC")
                    .affinity_json(&anti_foo_bar_and_affinity_complex)
                    .obj(),
            ],
            added: make_pod()
                .name("addedPod")
                .labels(&foo_bar)
                .node("nodeA")
                .affinity_json(&anti_complex)
                .obj(),
            want_anti: vec![],
            want_affinity: counts(&[("region", "r1", 2), ("zone", "z11", 2)]),
        },
    ];
    let plugin = InterPodAffinity::default_args();
    for (i, c) in cases.into_iter().enumerate() {
        let pending = PodInfo::new(c.pending.clone());
        let pre_filter = |pods: &[Arc<Pod>]| -> (CycleState, Snapshot) {
            let snapshot = Snapshot::new(&nodes(), pods, &[]);
            let mut state = CycleState::new();
            let (_, status) = plugin.pre_filter(&mut state, &pending, &snapshot);
            assert!(status.is_success(), "case {i}: PreFilter: {status:?}");
            (state, snapshot)
        };
        let mut all = c.existing.clone();
        all.push(c.added.clone());
        let (all_state, _) = pre_filter(&all);
        let all_state = all_state
            .read::<PreFilterState>(PRE_FILTER_STATE_KEY)
            .expect("state")
            .clone();

        let (mut state, snapshot) = pre_filter(&c.existing);
        let original = state
            .read::<PreFilterState>(PRE_FILTER_STATE_KEY)
            .expect("state")
            .clone();
        let node_info = snapshot.node(&c.added.spec.node_name).expect("node");
        let added = PodInfo::new(c.added.clone());
        assert!(plugin
            .add_pod(&mut state, &pending, &added, node_info)
            .is_success());
        let got = state
            .read::<PreFilterState>(PRE_FILTER_STATE_KEY)
            .expect("state")
            .clone();
        assert_eq!(
            got.anti_affinity_counts.sorted(),
            c.want_anti,
            "case {i}: anti-affinity counts"
        );
        assert_eq!(
            got.affinity_counts.sorted(),
            c.want_affinity,
            "case {i}: affinity counts"
        );
        assert_eq!(
            got, all_state,
            "case {i}: AddPod differs from PreFilter over all pods"
        );

        assert!(plugin
            .remove_pod(&mut state, &pending, &added, node_info)
            .is_success());
        let got = state
            .read::<PreFilterState>(PRE_FILTER_STATE_KEY)
            .expect("state")
            .clone();
        assert_eq!(
            got, original,
            "case {i}: RemovePod does not restore the state"
        );
    }
    // Without PreFilter state (PreFilter skipped), the extensions report an error as Filter does.
    let mut empty = CycleState::new();
    let snapshot = Snapshot::new(&nodes(), &[], &[]);
    let p = PodInfo::new(make_pod().obj());
    assert_eq!(
        plugin.add_pod(&mut empty, &p, &p, &snapshot.nodes[0]).code,
        Code::Error
    );
}

// TestGetTPMapMatchingIncomingAffinityAntiAffinity.
#[test]
fn incoming_affinity_anti_affinity_counts() {
    let normal = |labels: &[&str]| {
        let mut p = make_pod().name("normal").node("nodeA");
        for l in labels {
            p = p.label(l, "");
        }
        p.obj()
    };
    let node_a = || vec![node("nodeA", &[("hostname", "nodeA")])];
    let host_a = |n: i64| vec![("hostname".to_string(), "nodeA".to_string(), n)];
    struct Tp {
        name: &'static str,
        existing: Vec<Arc<Pod>>,
        pod: Arc<Pod>,
        want_affinity: Vec<(String, String, i64)>,
        want_anti: Vec<(String, String, i64)>,
    }
    let cases = vec![
        Tp { name: "nil test", existing: vec![], pod: make_pod().name("aaa-normal").obj(), want_affinity: vec![], want_anti: vec![] },
        Tp {
            name: "incoming pod without affinity/anti-affinity causes a no-op",
            existing: vec![normal(&["aaa"])],
            pod: make_pod().name("aaa-normal").obj(),
            want_affinity: vec![],
            want_anti: vec![],
        },
        Tp {
            name: "no pod has label that violates incoming pod's affinity and anti-affinity",
            existing: vec![normal(&["bbb"])],
            pod: make_pod()
                .name("aaa-anti")
                .pod_affinity_exists("aaa", "hostname", Required)
                .pod_anti_affinity_exists("aaa", "hostname", Required)
                .obj(),
            want_affinity: vec![],
            want_anti: vec![],
        },
        Tp {
            name: "existing pod matches incoming pod's affinity and anti-affinity - single term case",
            existing: vec![normal(&["aaa"])],
            pod: make_pod()
                .name("affi-antiaffi")
                .pod_affinity_exists("aaa", "hostname", Required)
                .pod_anti_affinity_exists("aaa", "hostname", Required)
                .obj(),
            want_affinity: host_a(1),
            want_anti: host_a(1),
        },
        Tp {
            name: "existing pod matches incoming pod's affinity and anti-affinity - multiple terms case",
            existing: vec![normal(&["aaa", "bbb"])],
            pod: make_pod()
                .name("affi-antiaffi")
                .pod_affinity_exists("aaa", "hostname", Required)
                .pod_affinity_exists("bbb", "hostname", Required)
                .pod_anti_affinity_exists("aaa", "hostname", Required)
                .obj(),
            want_affinity: host_a(2), // one for each term
            want_anti: host_a(1),
        },
        Tp {
            name: "existing pod not match incoming pod's affinity but matches anti-affinity",
            existing: vec![normal(&["aaa"])],
            pod: make_pod()
                .name("affi-antiaffi")
                .pod_affinity_exists("aaa", "hostname", Required)
                .pod_affinity_exists("bbb", "hostname", Required)
                .pod_anti_affinity_exists("aaa", "hostname", Required)
                .pod_anti_affinity_exists("bbb", "hostname", Required)
                .obj(),
            want_affinity: vec![],
            want_anti: host_a(1),
        },
        Tp {
            name: "incoming pod's anti-affinity has more than one term - existing pod violates partial term - case 1",
            existing: vec![normal(&["aaa", "bbb"])],
            pod: make_pod()
                .name("anaffi-antiaffiti")
                .pod_affinity_exists("aaa", "hostname", Required)
                .pod_affinity_exists("ccc", "hostname", Required)
                .pod_anti_affinity_exists("aaa", "hostname", Required)
                .pod_anti_affinity_exists("ccc", "hostname", Required)
                .obj(),
            want_affinity: vec![],
            want_anti: host_a(1),
        },
        Tp {
            name: "incoming pod's anti-affinity has more than one term - existing pod violates partial term - case 2",
            existing: vec![normal(&["bbb"])],
            pod: make_pod()
                .name("affi-antiaffi")
                .pod_affinity_exists("aaa", "hostname", Required)
                .pod_affinity_exists("bbb", "hostname", Required)
                .pod_anti_affinity_exists("aaa", "hostname", Required)
                .pod_anti_affinity_exists("bbb", "hostname", Required)
                .obj(),
            want_affinity: vec![],
            want_anti: host_a(1),
        },
    ];
    assert_eq!(cases.len(), 8);
    for c in cases {
        let snapshot = Snapshot::new(&node_a(), &c.existing, &[]);
        let info = PodInfo::new(c.pod.clone());
        let aff: Vec<IncomingTerm> = info
            .required_affinity_terms
            .iter()
            .map(|t| IncomingTerm::resolve(t, &snapshot))
            .collect();
        let anti: Vec<IncomingTerm> = info
            .required_anti_affinity_terms
            .iter()
            .map(|t| IncomingTerm::resolve(t, &snapshot))
            .collect();
        let (got_aff, got_anti) = incoming_affinity_counts(&aff, &anti, &snapshot);
        assert_eq!(got_aff.sorted(), c.want_affinity, "{}: affinity", c.name);
        assert_eq!(got_anti.sorted(), c.want_anti, "{}: anti-affinity", c.name);
    }
}

// Beyond kube-scheduler's tables: behaviours the tables leave implicit.

/// matchLabelKeys / mismatchLabelKeys take the incoming pod's label values (folded by
/// `PodInfo::new`, as the API server folds them at creation).
#[test]
fn match_label_keys_restrict_to_own_group() {
    let nodes = vec![node("n1", &[("zone", "a")]), node("n2", &[("zone", "b")])];
    let with_keys = |version: &str| {
        make_pod()
            .labels(&[("app", "web"), ("version", version)])
            .required_anti_affinity(json!({
                "labelSelector": sel(vec![expr("app", "In", &["web"])]),
                "topologyKey": "zone",
                "matchLabelKeys": ["version"],
            }))
            .obj()
    };
    // v1 on n1 and v2 on n2: a v2 pod must avoid only zone b.
    let pods = vec![
        make_pod()
            .node("n1")
            .labels(&[("app", "web"), ("version", "v1")])
            .obj(),
        make_pod()
            .node("n2")
            .labels(&[("app", "web"), ("version", "v2")])
            .obj(),
    ];
    let (pre, got) = run_filter(&with_keys("v2"), &pods, &nodes, &[]);
    assert!(pre.is_success());
    assert_eq!(got, vec![ok(), anti_fail()]);

    let mismatch = make_pod()
        .labels(&[("app", "web"), ("version", "v2")])
        .required_affinity(json!({
            "labelSelector": sel(vec![expr("app", "In", &["web"])]),
            "topologyKey": "zone",
            "mismatchLabelKeys": ["version"],
        }))
        .obj();
    // Affinity to web pods of another version: only v1's zone a.
    let (_, got) = run_filter(&mismatch, &pods, &nodes, &[]);
    assert_eq!(got, vec![ok(), affinity_fail()]);
}

/// An existing pod's term with a namespace selector is evaluated against the incoming pod's
/// namespace labels; an unknown namespace has no labels, so only `{}` (or a negative
/// requirement) selects it.
#[test]
fn existing_terms_see_incoming_namespace_labels() {
    let nodes = vec![node("n1", &[("zone", "a")])];
    let existing = |ns_selector: serde_json::Value| {
        make_pod()
            .node("n1")
            .namespace("other")
            .required_anti_affinity(term_ns(
                sel(vec![expr("app", "Exists", &[])]),
                "zone",
                &[],
                Some(ns_selector),
            ))
            .obj()
    };
    let incoming = |ns: &str| make_pod().namespace(ns).label("app", "x").obj();
    let nss = team_namespaces();
    let team1 = sel(vec![expr("team", "In", &["team1"])]);
    let cases: Vec<(serde_json::Value, &str, Status)> = vec![
        (team1.clone(), "subteam1.team1", existing_fail()),
        (team1.clone(), "subteam1.team2", Status::skip()),
        (team1, "unknown", Status::skip()),
        (json!({}), "unknown", existing_fail()),
        (
            sel(vec![expr("team", "DoesNotExist", &[])]),
            "unknown",
            existing_fail(),
        ),
    ];
    for (sel, ns, want) in cases {
        let (pre, got) = run_filter(&incoming(ns), &[existing(sel.clone())], &nodes, &nss);
        if want.code == Code::Skip {
            assert_eq!(pre, want, "{sel} / {ns}");
        } else {
            assert_eq!(got, vec![want], "{sel} / {ns}");
        }
    }
}

/// PreFilter finds existing anti-affinity through `Snapshot::nodes_with_required_anti_affinity_pods`
/// (kube-scheduler's `HavePodsWithRequiredAntiAffinityList`), not by scanning every pod.
#[test]
fn existing_anti_affinity_uses_the_snapshot_list() {
    let nodes = vec![node("n1", &[("zone", "a")]), node("n2", &[("zone", "a")])];
    let pods = vec![make_pod()
        .node("n2")
        .pod_anti_affinity_exists("app", "zone", Required)
        .obj()];
    let incoming = make_pod().label("app", "x").obj();
    let (_, got) = run_filter(&incoming, &pods, &nodes, &[]);
    assert_eq!(got, vec![existing_fail(), existing_fail()]);
    // A stale list hides the pod: the plugin trusts the list, as kube-scheduler trusts its cache.
    let mut snapshot = Snapshot::new(&nodes, &pods, &[]);
    snapshot.nodes_with_required_anti_affinity_pods.clear();
    let plugin = InterPodAffinity::default_args();
    let (_, status) = plugin.pre_filter(&mut CycleState::new(), &PodInfo::new(incoming), &snapshot);
    assert_eq!(status, Status::skip());
}
