//! kube-scheduler v1.34 podtopologyspread tests re-created: filtering_test.go (TestPreFilterState,
//! TestSingleConstraint, TestMultipleConstraints, TestPreFilterDisabled), scoring_test.go
//! (TestPreScoreSkip, TestPreScoreStateEmptyNodes, TestPodTopologySpreadScore) and
//! validation_pluginargs_test.go (TestValidatePodTopologySpreadArgs). The builders mirror
//! kube-scheduler's `st.MakePod()` / `st.MakeNode()` wrappers.

use std::collections::BTreeMap;
use std::sync::Arc;

use flotilla_model::api::{Node, Pod};
use serde_json::{json, Value};

use super::filtering::PreFilterState;
use super::scoring::{topology_normalizing_weight, PreScoreState};
use super::*;
use crate::framework::{Code, CycleState, NodeScore, Status};
use crate::node_info::PodInfo;
use crate::plugins::testing::{node, pod};
use crate::snapshot::Snapshot;

// ---------------------------------------------------------------------------------------------
// Builders
// ---------------------------------------------------------------------------------------------

const DNS: &str = "DoNotSchedule";
const SA: &str = "ScheduleAnyway";

#[derive(Clone)]
struct PodB(Value);

fn mk_pod(name: &str) -> PodB {
    PodB(json!({"metadata": {"name": name, "labels": {}}, "spec": {}}))
}

impl PodB {
    fn ns(mut self, ns: &str) -> PodB {
        self.0["metadata"]["namespace"] = json!(ns);
        self
    }
    fn label(mut self, k: &str, v: &str) -> PodB {
        self.0["metadata"]["labels"][k] = json!(v);
        self
    }
    fn node(mut self, n: &str) -> PodB {
        self.0["spec"]["nodeName"] = json!(n);
        self
    }
    fn terminating(mut self) -> PodB {
        self.0["metadata"]["deletionTimestamp"] = json!("2024-01-01T00:00:00Z");
        self
    }
    fn node_selector(mut self, k: &str, v: &str) -> PodB {
        self.0["spec"]["nodeSelector"][k] = json!(v);
        self
    }
    fn node_affinity(mut self, key: &str, op: &str, values: &[&str]) -> PodB {
        self.0["spec"]["affinity"] = json!({"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {
            "nodeSelectorTerms": [{"matchExpressions": [{"key": key, "operator": op, "values": values}]}]
        }}});
        self
    }
    fn toleration(mut self, key: &str) -> PodB {
        push(
            &mut self.0["spec"]["tolerations"],
            json!({"key": key, "operator": "Exists", "effect": "NoSchedule"}),
        );
        self
    }
    fn owner(mut self, api_version: &str, kind: &str, name: &str) -> PodB {
        self.0["metadata"]["ownerReferences"] = json!([{"apiVersion": api_version, "kind": kind, "name": name, "uid": name, "controller": true}]);
        self
    }
    fn spread(self, max_skew: i32, key: &str, action: &str, selector: Option<Value>) -> PodB {
        self.spread_with(max_skew, key, action, selector, json!({}))
    }
    /// A constraint with extra fields (`minDomains`, `nodeAffinityPolicy`, `nodeTaintsPolicy`,
    /// `matchLabelKeys`).
    fn spread_with(
        mut self,
        max_skew: i32,
        key: &str,
        action: &str,
        selector: Option<Value>,
        extra: Value,
    ) -> PodB {
        let mut c = json!({"maxSkew": max_skew, "topologyKey": key, "whenUnsatisfiable": action});
        if let Some(s) = selector {
            c["labelSelector"] = s;
        }
        if let Value::Object(m) = extra {
            for (k, v) in m {
                c[k] = v;
            }
        }
        push(&mut self.0["spec"]["topologySpreadConstraints"], c);
        self
    }
    fn obj(self) -> Arc<Pod> {
        pod(self.0)
    }
}

fn push(slot: &mut Value, item: Value) {
    if slot.is_null() {
        *slot = json!([]);
    }
    slot.as_array_mut().expect("an array").push(item);
}

struct NodeB(Value);

fn mk_node(name: &str) -> NodeB {
    NodeB(json!({"metadata": {"name": name, "labels": {}}, "spec": {}}))
}

impl NodeB {
    fn label(mut self, k: &str, v: &str) -> NodeB {
        self.0["metadata"]["labels"][k] = json!(v);
        self
    }
    /// The `node.kubernetes.io/unschedulable:NoSchedule` taint of the Go tests' `taints`.
    fn tainted(mut self) -> NodeB {
        self.0["spec"]["taints"] =
            json!([{"key": "node.kubernetes.io/unschedulable", "effect": "NoSchedule"}]);
        self
    }
    fn obj(self) -> Arc<Node> {
        node(self.0)
    }
}

fn exists(key: &str) -> Option<Value> {
    Some(json!({"matchExpressions": [{"key": key, "operator": "Exists"}]}))
}
fn foo() -> Option<Value> {
    exists("foo")
}
fn bar() -> Option<Value> {
    exists("bar")
}
fn match_label(k: &str, v: &str) -> Option<Value> {
    Some(json!({"matchLabels": {k: v}}))
}

/// node-a, node-b in zone1 and node-x, node-y in zone2 (label `zone`), each with `node=<name>`.
fn four_nodes() -> Vec<Arc<Node>> {
    [
        ("node-a", "zone1"),
        ("node-b", "zone1"),
        ("node-x", "zone2"),
        ("node-y", "zone2"),
    ]
    .iter()
    .map(|(n, z)| mk_node(n).label("zone", z).label("node", n).obj())
    .collect()
}

/// Pods labelled `foo=""` named `p-<suffix>` on the node `node-<first letter of suffix>`.
fn foo_pods(names: &[&str]) -> Vec<Arc<Pod>> {
    names
        .iter()
        .map(|n| {
            mk_pod(&format!("p-{n}"))
                .node(&format!("node-{}", &n[..1]))
                .label("foo", "")
                .obj()
        })
        .collect()
}

fn list_plugin(defaults: Value) -> PodTopologySpread {
    let args: PodTopologySpreadArgs =
        serde_json::from_value(json!({"defaultingType": "List", "defaultConstraints": defaults}))
            .expect("args");
    PodTopologySpread::new(args).expect("valid args")
}

fn system_plugin() -> PodTopologySpread {
    PodTopologySpread::new(PodTopologySpreadArgs::default()).expect("valid args")
}

// ---------------------------------------------------------------------------------------------
// Filter: TestSingleConstraint and TestMultipleConstraints
// ---------------------------------------------------------------------------------------------

use Code::{Success as S, Unschedulable as U, UnschedulableAndUnresolvable as X};

/// Runs PreFilter (which must succeed) and Filter on every node; checks the codes by node name
/// and that each rejection carries kube-scheduler's reason for its code.
fn check_filter(
    name: &str,
    p: Arc<Pod>,
    nodes: Vec<Arc<Node>>,
    existing: Vec<Arc<Pod>>,
    want: &[(&str, Code)],
) {
    let plugin = list_plugin(json!([]));
    let snapshot = Snapshot::new(&nodes, &existing, &[]);
    let info = PodInfo::new(p);
    let mut state = CycleState::new();
    let (_, status) = plugin.pre_filter(&mut state, &info, &snapshot);
    assert_eq!(status, Status::success(), "{name}: PreFilter");
    let mut got = BTreeMap::new();
    for n in &snapshot.nodes {
        let s = plugin.filter(&state, &info, n);
        let want_reasons: Vec<String> = match s.code {
            Code::Success => vec![],
            Code::Unschedulable => vec![ERR_REASON_CONSTRAINTS_NOT_MATCH.to_string()],
            _ => vec![ERR_REASON_NODE_LABEL_NOT_MATCH.to_string()],
        };
        assert_eq!(s.reasons, want_reasons, "{name}: reasons on {}", n.name());
        got.insert(n.name().to_string(), s.code);
    }
    let want: BTreeMap<String, Code> = want.iter().map(|(n, c)| (n.to_string(), *c)).collect();
    assert_eq!(got, want, "{name}");
}

fn nodes_with_foo(foo_on: &[&str], all: &[&str]) -> Vec<Arc<Node>> {
    all.iter()
        .map(|n| {
            let b = mk_node(n).label("node", n);
            if foo_on.contains(n) {
                b.label("foo", "").obj()
            } else {
                b.obj()
            }
        })
        .collect()
}

#[test]
fn single_constraint() {
    let foo_pod = || mk_pod("p").label("foo", "");
    check_filter(
        "no existing pods",
        foo_pod().spread(1, "zone", DNS, foo()).obj(),
        four_nodes(),
        vec![],
        &[("node-a", S), ("node-b", S), ("node-x", S), ("node-y", S)],
    );
    check_filter(
        "no existing pods, incoming pod doesn't match itself",
        foo_pod().spread(1, "zone", DNS, bar()).obj(),
        four_nodes(),
        vec![],
        &[("node-a", S), ("node-b", S), ("node-x", S), ("node-y", S)],
    );
    check_filter(
        "existing pods in a different namespace do not count",
        foo_pod().spread(1, "zone", DNS, foo()).obj(),
        four_nodes(),
        vec![
            mk_pod("p-a1")
                .ns("ns1")
                .node("node-a")
                .label("foo", "")
                .obj(),
            mk_pod("p-b1")
                .ns("ns2")
                .node("node-a")
                .label("foo", "")
                .obj(),
            mk_pod("p-x1").node("node-x").label("foo", "").obj(),
            mk_pod("p-y1").node("node-y").label("foo", "").obj(),
        ],
        &[("node-a", S), ("node-b", S), ("node-x", U), ("node-y", U)],
    );
    check_filter(
        "existing pods do not match null selector",
        foo_pod().spread(1, "zone", DNS, None).obj(),
        four_nodes(),
        foo_pods(&["x1", "y1"]),
        &[("node-a", S), ("node-b", S), ("node-x", S), ("node-y", S)],
    );
    check_filter(
        "pods spread across zones as 3/3, all nodes fit",
        foo_pod().spread(1, "zone", DNS, foo()).obj(),
        four_nodes(),
        foo_pods(&["a1", "a2", "b1", "y1", "y2", "y3"]),
        &[("node-a", S), ("node-b", S), ("node-x", S), ("node-y", S)],
    );
    check_filter(
        "pods spread across zones as 1/2 due to absence of label 'zone' on node-b",
        foo_pod().spread(1, "zone", DNS, foo()).obj(),
        vec![
            mk_node("node-a")
                .label("zone", "zone1")
                .label("node", "node-a")
                .obj(),
            mk_node("node-b")
                .label("zon", "zone1")
                .label("node", "node-b")
                .obj(),
            mk_node("node-x")
                .label("zone", "zone2")
                .label("node", "node-x")
                .obj(),
            mk_node("node-y")
                .label("zone", "zone2")
                .label("node", "node-y")
                .obj(),
        ],
        foo_pods(&["a1", "b1", "x1", "y1"]),
        &[("node-a", S), ("node-b", X), ("node-x", U), ("node-y", U)],
    );
    check_filter(
        "pod cannot be scheduled as all nodes don't have label 'rack'",
        foo_pod().spread(1, "rack", DNS, foo()).obj(),
        vec![
            mk_node("node-a")
                .label("zone", "zone1")
                .label("node", "node-a")
                .obj(),
            mk_node("node-x")
                .label("zone", "zone2")
                .label("node", "node-x")
                .obj(),
        ],
        vec![],
        &[("node-a", X), ("node-x", X)],
    );
    let spread_2_1_0_3 = || foo_pods(&["a1", "a2", "b1", "y1", "y2", "y3"]);
    check_filter(
        "pods spread across nodes as 2/1/0/3, only node-x fits",
        foo_pod().spread(1, "node", DNS, foo()).obj(),
        four_nodes(),
        spread_2_1_0_3(),
        &[("node-a", U), ("node-b", U), ("node-x", S), ("node-y", U)],
    );
    check_filter(
        "pods spread across nodes as 2/1/0/3, maxSkew is 2, node-b and node-x fit",
        foo_pod().spread(2, "node", DNS, foo()).obj(),
        four_nodes(),
        spread_2_1_0_3(),
        &[("node-a", U), ("node-b", S), ("node-x", S), ("node-y", U)],
    );
    check_filter(
        "pods spread across nodes as 2/1/0/3, but pod doesn't match itself",
        mk_pod("p")
            .label("bar", "")
            .spread(1, "node", DNS, foo())
            .obj(),
        four_nodes(),
        spread_2_1_0_3(),
        &[("node-a", U), ("node-b", S), ("node-x", S), ("node-y", U)],
    );
    check_filter(
        "incoming pod has nodeAffinity, pods spread as 2/~1~/~0~/3, hence node-a fits",
        foo_pod()
            .node_affinity("node", "In", &["node-a", "node-y"])
            .spread(1, "node", DNS, foo())
            .obj(),
        four_nodes(),
        spread_2_1_0_3(),
        &[("node-a", S), ("node-b", S), ("node-x", S), ("node-y", U)],
    );
    check_filter(
        "terminating Pods should be excluded",
        foo_pod().spread(1, "node", DNS, foo()).obj(),
        vec![
            mk_node("node-a").label("node", "node-a").obj(),
            mk_node("node-b").label("node", "node-b").obj(),
        ],
        vec![
            mk_pod("p-a")
                .node("node-a")
                .label("foo", "")
                .terminating()
                .obj(),
            mk_pod("p-b").node("node-b").label("foo", "").obj(),
        ],
        &[("node-a", S), ("node-b", U)],
    );
    check_filter(
        "incoming pod has nodeAffinity, pods spread as 0/~2~/0/1, hence node-a fits",
        foo_pod()
            .node_affinity("node", "NotIn", &["node-b"])
            .spread(1, "zone", DNS, foo())
            .obj(),
        four_nodes(),
        foo_pods(&["b1", "b2", "y1"]),
        &[("node-a", S), ("node-b", S), ("node-x", U), ("node-y", U)],
    );
    let three = || {
        ["node-a", "node-b", "node-c"]
            .iter()
            .map(|n| mk_node(n).label("node", n).obj())
            .collect::<Vec<_>>()
    };
    check_filter(
        "pods spread across nodes as 2/2/1, maxSkew is 2, and the number of domains < minDomains",
        foo_pod()
            .spread_with(2, "node", DNS, foo(), json!({"minDomains": 4}))
            .obj(),
        three(),
        foo_pods(&["a1", "a2", "b1", "b2", "c1"]),
        &[("node-a", U), ("node-b", U), ("node-c", S)],
    );
    check_filter(
        "pods spread across nodes as 2/2/1, maxSkew is 2, and the number of domains > minDomains",
        foo_pod()
            .spread_with(2, "node", DNS, foo(), json!({"minDomains": 2}))
            .obj(),
        three(),
        foo_pods(&["a1", "a2", "b1", "b2", "c1"]),
        &[("node-a", S), ("node-b", S), ("node-c", S)],
    );
    // p-b1 is on node-a in the Go table.
    let zone_2_1 = || {
        vec![
            mk_pod("p-b1").node("node-a").label("foo", "").obj(),
            mk_pod("p-b2").node("node-b").label("foo", "").obj(),
            mk_pod("p-y1").node("node-y").label("foo", "").obj(),
        ]
    };
    check_filter(
        "pods spread across zone as 2/1, maxSkew is 2 and the number of domains < minDomains",
        foo_pod()
            .spread_with(2, "zone", DNS, foo(), json!({"minDomains": 3}))
            .obj(),
        four_nodes(),
        zone_2_1(),
        &[("node-a", U), ("node-b", U), ("node-x", S), ("node-y", S)],
    );
    check_filter(
        "pods spread across zone as 2/1, maxSkew is 2 and the number of domains > minDomains",
        foo_pod()
            .spread_with(2, "zone", DNS, foo(), json!({"minDomains": 1}))
            .obj(),
        four_nodes(),
        zone_2_1(),
        &[("node-a", S), ("node-b", S), ("node-x", S), ("node-y", S)],
    );
    let abxy = ["node-a", "node-b", "node-x", "node-y"];
    check_filter(
        "NodeAffinityPolicy honored with labelSelectors",
        foo_pod()
            .node_selector("foo", "")
            .spread(1, "node", DNS, foo())
            .obj(),
        nodes_with_foo(&["node-a", "node-b", "node-x"], &abxy),
        zone_2_1(),
        &[("node-a", U), ("node-b", U), ("node-x", S), ("node-y", S)],
    );
    check_filter(
        "NodeAffinityPolicy ignored with labelSelectors",
        foo_pod()
            .node_selector("foo", "")
            .spread_with(
                1,
                "node",
                DNS,
                foo(),
                json!({"nodeAffinityPolicy": "Ignore"}),
            )
            .obj(),
        nodes_with_foo(&["node-a", "node-b", "node-x"], &abxy),
        zone_2_1(),
        &[("node-a", U), ("node-b", U), ("node-x", S), ("node-y", U)],
    );
    check_filter(
        "NodeAffinityPolicy honored with nodeAffinity",
        foo_pod()
            .node_affinity("foo", "In", &[""])
            .spread(1, "node", DNS, foo())
            .obj(),
        nodes_with_foo(&["node-a", "node-b", "node-x"], &abxy),
        zone_2_1(),
        &[("node-a", U), ("node-b", U), ("node-x", S), ("node-y", S)],
    );
    check_filter(
        "NodeAffinityPolicy ignored with nodeAffinity",
        foo_pod()
            .node_affinity("foo", "In", &[""])
            .spread_with(
                1,
                "node",
                DNS,
                foo(),
                json!({"nodeAffinityPolicy": "Ignore"}),
            )
            .obj(),
        nodes_with_foo(&["node-a", "node-b", "node-x"], &abxy),
        zone_2_1(),
        &[("node-a", U), ("node-b", U), ("node-x", S), ("node-y", U)],
    );
    let tainted_y = || {
        vec![
            mk_node("node-a")
                .label("node", "node-a")
                .label("foo", "")
                .obj(),
            mk_node("node-b")
                .label("node", "node-b")
                .label("foo", "")
                .obj(),
            mk_node("node-x")
                .label("node", "node-x")
                .label("foo", "")
                .obj(),
            mk_node("node-y").label("node", "node-y").tainted().obj(),
        ]
    };
    check_filter(
        "NodeTaintsPolicy honored",
        foo_pod()
            .spread_with(1, "node", DNS, foo(), json!({"nodeTaintsPolicy": "Honor"}))
            .obj(),
        tainted_y(),
        zone_2_1(),
        &[("node-a", U), ("node-b", U), ("node-x", S), ("node-y", S)],
    );
    check_filter(
        "NodeTaintsPolicy ignored",
        foo_pod().spread(1, "node", DNS, foo()).obj(),
        tainted_y(),
        zone_2_1(),
        &[("node-a", U), ("node-b", U), ("node-x", S), ("node-y", U)],
    );
}

#[test]
fn multiple_constraints() {
    let zone_and_node = || {
        mk_pod("p")
            .label("foo", "")
            .spread(1, "zone", DNS, foo())
            .spread(1, "node", DNS, foo())
    };
    check_filter(
        "two Constraints on zone and node, spreads = [3/3, 2/1/0/3]",
        zone_and_node().obj(),
        four_nodes(),
        foo_pods(&["a1", "a2", "b1", "y1", "y2", "y3"]),
        &[("node-a", U), ("node-b", U), ("node-x", S), ("node-y", U)],
    );
    check_filter(
        "two Constraints on zone and node, spreads = [3/4, 2/1/0/4]",
        zone_and_node().obj(),
        four_nodes(),
        foo_pods(&["a1", "a2", "b1", "y1", "y2", "y3", "y4"]),
        &[("node-a", U), ("node-b", U), ("node-x", U), ("node-y", U)],
    );
    let foo_bar = || {
        mk_pod("p")
            .label("foo", "")
            .label("bar", "")
            .spread(1, "zone", DNS, foo())
            .spread(1, "node", DNS, bar())
    };
    check_filter(
        "Constraints hold different labelSelectors, spreads = [1/0, 1/0/0/1]",
        foo_bar().obj(),
        four_nodes(),
        vec![
            mk_pod("p-a1").node("node-a").label("foo", "").obj(),
            mk_pod("p-y1").node("node-y").label("bar", "").obj(),
        ],
        &[("node-a", U), ("node-b", U), ("node-x", S), ("node-y", U)],
    );
    check_filter(
        "Constraints hold different labelSelectors, spreads = [1/0, 0/0/1/1]",
        foo_bar().obj(),
        four_nodes(),
        vec![
            mk_pod("p-a1").node("node-a").label("foo", "").obj(),
            mk_pod("p-x1").node("node-x").label("bar", "").obj(),
            mk_pod("p-y1").node("node-y").label("bar", "").obj(),
        ],
        &[("node-a", U), ("node-b", U), ("node-x", U), ("node-y", U)],
    );
    check_filter(
        "Constraints hold different labelSelectors, spreads = [2/3, 1/0/0/1]",
        foo_bar().obj(),
        four_nodes(),
        vec![
            mk_pod("p-a1").node("node-a").label("foo", "").obj(),
            mk_pod("p-a2")
                .node("node-a")
                .label("foo", "")
                .label("bar", "")
                .obj(),
            mk_pod("p-y1").node("node-y").label("foo", "").obj(),
            mk_pod("p-y2")
                .node("node-y")
                .label("foo", "")
                .label("bar", "")
                .obj(),
            mk_pod("p-y3").node("node-y").label("foo", "").obj(),
        ],
        &[("node-a", U), ("node-b", S), ("node-x", U), ("node-y", U)],
    );
    check_filter(
        "Constraints hold different labelSelectors but pod doesn't match itself on 'zone' constraint",
        mk_pod("p").label("bar", "").spread(1, "zone", DNS, foo()).spread(1, "node", DNS, bar()).obj(),
        four_nodes(),
        vec![
            mk_pod("p-a1").node("node-a").label("foo", "").obj(),
            mk_pod("p-x1").node("node-x").label("bar", "").obj(),
            mk_pod("p-y1").node("node-y").label("bar", "").obj(),
        ],
        &[("node-a", S), ("node-b", S), ("node-x", U), ("node-y", U)],
    );
    check_filter(
        "two Constraints on zone and node, absence of label 'node' on node-x, spreads = [1/1, 1/0/0/1]",
        zone_and_node().obj(),
        vec![
            mk_node("node-a").label("zone", "zone1").label("node", "node-a").obj(),
            mk_node("node-b").label("zone", "zone1").label("node", "node-b").obj(),
            mk_node("node-x").label("zone", "zone2").obj(),
            mk_node("node-y").label("zone", "zone2").label("node", "node-y").obj(),
        ],
        foo_pods(&["a1", "y3"]),
        &[("node-a", U), ("node-b", S), ("node-x", X), ("node-y", U)],
    );
    let zone_nodes = |foo_on: &[&str], tainted: Option<&str>| -> Vec<Arc<Node>> {
        [
            ("node-a", "zone1"),
            ("node-b", "zone1"),
            ("node-x", "zone2"),
            ("node-y", "zone2"),
        ]
        .iter()
        .map(|(n, z)| {
            let mut b = mk_node(n).label("zone", z).label("node", n);
            if foo_on.contains(n) {
                b = b.label("foo", "");
            }
            if tainted == Some(*n) {
                b = b.tainted();
            }
            b.obj()
        })
        .collect()
    };
    check_filter(
        "two node inclusion Constraints, zone: honor/ignore, node: ignore/ignore",
        mk_pod("p")
            .label("foo", "")
            .node_selector("foo", "")
            .spread(1, "zone", DNS, foo())
            .spread_with(
                1,
                "node",
                DNS,
                foo(),
                json!({"nodeAffinityPolicy": "Ignore"}),
            )
            .obj(),
        zone_nodes(&["node-a", "node-b", "node-x"], None),
        foo_pods(&["a1", "b1", "y1"]),
        &[("node-a", U), ("node-b", U), ("node-x", S), ("node-y", U)],
    );
    check_filter(
        "two node inclusion Constraints, zone: honor/honor, node: honor/ignore",
        mk_pod("p")
            .label("foo", "")
            .spread_with(1, "zone", DNS, foo(), json!({"nodeTaintsPolicy": "Honor"}))
            .spread(1, "node", DNS, foo())
            .obj(),
        zone_nodes(&["node-a", "node-b", "node-x"], Some("node-y")),
        foo_pods(&["a1", "b1", "y1"]),
        &[("node-a", U), ("node-b", U), ("node-x", S), ("node-y", U)],
    );
    check_filter(
        "two node inclusion Constraints, zone: honor/ignore, node: honor/ignore",
        mk_pod("p")
            .label("foo", "")
            .node_selector("foo", "")
            .spread(1, "zone", DNS, foo())
            .spread(1, "node", DNS, foo())
            .obj(),
        zone_nodes(&["node-a", "node-x", "node-y"], Some("node-y")),
        foo_pods(&["a1", "b1", "y1"]),
        &[("node-a", U), ("node-b", S), ("node-x", S), ("node-y", U)],
    );
    check_filter(
        "two node inclusion Constraints, zone: honor/honor, node: ignore/ignore",
        mk_pod("p")
            .label("foo", "")
            .node_selector("foo", "")
            .spread_with(1, "zone", DNS, foo(), json!({"nodeTaintsPolicy": "Honor"}))
            .spread_with(
                1,
                "node",
                DNS,
                foo(),
                json!({"nodeAffinityPolicy": "Ignore"}),
            )
            .obj(),
        zone_nodes(&["node-a", "node-x", "node-y"], Some("node-y")),
        foo_pods(&["a1", "b1", "y1"]),
        &[("node-a", U), ("node-b", U), ("node-x", S), ("node-y", U)],
    );
    let two_zone = || {
        mk_pod("p")
            .label("foo", "")
            .label("bar", "")
            .spread(1, "zone", DNS, bar())
            .spread(1, "zone", DNS, foo())
    };
    let mut existing = vec![
        mk_pod("p-a1")
            .node("node-a")
            .label("foo", "")
            .label("bar", "")
            .obj(),
        mk_pod("p-a2").node("node-a").label("foo", "").obj(),
        mk_pod("p-b1")
            .node("node-b")
            .label("foo", "")
            .label("bar", "")
            .obj(),
        mk_pod("p-y1").node("node-y").label("foo", "").obj(),
        mk_pod("p-y2")
            .node("node-y")
            .label("foo", "")
            .label("bar", "")
            .obj(),
        mk_pod("p-y3").node("node-y").label("foo", "").obj(),
    ];
    check_filter(
        "two Constraints on zone, spreads = [3/3, 2/1]",
        two_zone().obj(),
        four_nodes(),
        existing.clone(),
        &[("node-a", U), ("node-b", U), ("node-x", S), ("node-y", S)],
    );
    existing.push(mk_pod("p-y4").node("node-y").label("foo", "").obj());
    check_filter(
        "two Constraints on zone, spreads = [3/4, 2/1]",
        two_zone().obj(),
        four_nodes(),
        existing,
        &[("node-a", U), ("node-b", U), ("node-x", U), ("node-y", U)],
    );
}

#[test]
fn filter_without_pre_filter_is_an_error() {
    // TestPreFilterDisabled.
    let plugin = list_plugin(json!([]));
    let snapshot = Snapshot::new(&[mk_node("n").obj()], &[], &[]);
    let info = PodInfo::new(mk_pod("p").obj());
    let got = plugin.filter(&CycleState::new(), &info, &snapshot.nodes[0]);
    assert_eq!(got.code, Code::Error);
}

// ---------------------------------------------------------------------------------------------
// PreFilter state: TestPreFilterState
// ---------------------------------------------------------------------------------------------

type Domains<'a> = &'a [(&'a str, i64)];

/// Runs PreFilter with List defaulting and `defaults`; `want` is `None` for Skip, else per
/// constraint `(topologyKey, maxSkew, counts per domain)`; the minimum is checked against the
/// counts.
fn check_pre_filter_state(
    name: &str,
    defaults: Value,
    p: Arc<Pod>,
    nodes: Vec<Arc<Node>>,
    existing: Vec<Arc<Pod>>,
    services: &[(&str, &[(&str, &str)])],
    want: Option<&[(&str, i32, Domains<'_>)]>,
) {
    let plugin = list_plugin(defaults);
    let mut snapshot = Snapshot::new(&nodes, &existing, &[]);
    for (ns, sel) in services {
        snapshot.workload_selectors.services.push((
            ns.to_string(),
            sel.iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        ));
    }
    let info = PodInfo::new(p);
    let mut state = CycleState::new();
    let (_, status) = plugin.pre_filter(&mut state, &info, &snapshot);
    let Some(want) = want else {
        assert_eq!(status, Status::skip(), "{name}");
        return;
    };
    assert_eq!(status, Status::success(), "{name}");
    let s = state.read::<PreFilterState>(NAME).expect("state written");
    assert_eq!(s.constraints.len(), want.len(), "{name}: constraints");
    for (i, (key, skew, domains)) in want.iter().enumerate() {
        let c = &s.constraints[i];
        assert_eq!(
            (c.topology_key.as_str(), c.max_skew),
            (*key, *skew),
            "{name}: constraint {i}"
        );
        let got: BTreeMap<&str, i64> = s.tp_value_to_match_num[i]
            .iter()
            .map(|(k, v)| (k.as_str(), *v))
            .collect();
        let want_map: BTreeMap<&str, i64> = domains.iter().copied().collect();
        assert_eq!(got, want_map, "{name}: counts of constraint {i}");
        let want_min = domains
            .iter()
            .map(|d| d.1)
            .min()
            .unwrap_or(i64::from(i32::MAX));
        assert_eq!(
            s.min_match_num[i], want_min,
            "{name}: minimum of constraint {i}"
        );
    }
}

#[test]
fn pre_filter_state() {
    let foo_pod = || mk_pod("p").label("foo", "");
    let none: &[(&str, &[(&str, &str)])] = &[];
    check_pre_filter_state(
        "clean cluster with one spreadConstraint",
        json!([]),
        foo_pod()
            .spread(5, "zone", DNS, match_label("foo", "bar"))
            .obj(),
        four_nodes(),
        vec![],
        none,
        Some(&[("zone", 5, &[("zone1", 0), ("zone2", 0)])]),
    );
    check_pre_filter_state(
        "normal case with one spreadConstraint",
        json!([]),
        foo_pod().spread(1, "zone", DNS, foo()).obj(),
        four_nodes(),
        foo_pods(&["a1", "a2", "b1", "y1", "y2"]),
        none,
        Some(&[("zone", 1, &[("zone1", 3), ("zone2", 2)])]),
    );
    check_pre_filter_state(
        "normal case with null label selector",
        json!([]),
        foo_pod().spread(1, "zone", DNS, None).obj(),
        four_nodes(),
        foo_pods(&["a1", "a2", "b1", "y1", "y2"]),
        none,
        Some(&[("zone", 1, &[("zone1", 0), ("zone2", 0)])]),
    );
    let mut six = four_nodes();
    six.push(
        mk_node("node-o")
            .label("zone", "zone3")
            .label("node", "node-o")
            .obj(),
    );
    six.push(
        mk_node("node-p")
            .label("zone", "zone3")
            .label("node", "node-p")
            .obj(),
    );
    check_pre_filter_state(
        "normal case with one spreadConstraint, on a 3-zone cluster",
        json!([]),
        foo_pod().spread(1, "zone", DNS, foo()).obj(),
        six,
        foo_pods(&["a1", "a2", "b1", "y1", "y2"]),
        none,
        Some(&[("zone", 1, &[("zone1", 3), ("zone2", 2), ("zone3", 0)])]),
    );
    check_pre_filter_state(
        "namespace mismatch doesn't count",
        json!([]),
        foo_pod().spread(1, "zone", DNS, foo()).obj(),
        four_nodes(),
        vec![
            mk_pod("p-a1").node("node-a").label("foo", "").obj(),
            mk_pod("p-a2")
                .ns("ns1")
                .node("node-a")
                .label("foo", "")
                .obj(),
            mk_pod("p-b1").node("node-b").label("foo", "").obj(),
            mk_pod("p-y1")
                .ns("ns2")
                .node("node-y")
                .label("foo", "")
                .obj(),
            mk_pod("p-y2").node("node-y").label("foo", "").obj(),
        ],
        none,
        Some(&[("zone", 1, &[("zone1", 2), ("zone2", 1)])]),
    );
    let seven = || foo_pods(&["a1", "a2", "b1", "y1", "y2", "y3", "y4"]);
    let two_constraints = || {
        foo_pod()
            .spread(1, "zone", DNS, foo())
            .spread(1, "node", DNS, foo())
    };
    for name in [
        "normal case with two spreadConstraints",
        "TpKeyToDomainsNum is calculated when MinDomains is enabled",
    ] {
        check_pre_filter_state(
            name,
            json!([]),
            two_constraints().obj(),
            four_nodes(),
            seven(),
            none,
            Some(&[
                ("zone", 1, &[("zone1", 3), ("zone2", 4)]),
                (
                    "node",
                    1,
                    &[("node-a", 2), ("node-b", 1), ("node-x", 0), ("node-y", 4)],
                ),
            ]),
        );
    }
    let aby = || {
        vec![
            mk_node("node-a")
                .label("zone", "zone1")
                .label("node", "node-a")
                .obj(),
            mk_node("node-b")
                .label("zone", "zone1")
                .label("node", "node-b")
                .obj(),
            mk_node("node-y")
                .label("zone", "zone2")
                .label("node", "node-y")
                .obj(),
        ]
    };
    check_pre_filter_state(
        "soft spreadConstraints should be bypassed",
        json!([]),
        foo_pod()
            .spread(1, "zone", SA, foo())
            .spread(1, "zone", DNS, foo())
            .spread(1, "node", SA, foo())
            .spread(1, "node", DNS, foo())
            .obj(),
        aby(),
        seven(),
        none,
        Some(&[
            ("zone", 1, &[("zone1", 3), ("zone2", 4)]),
            ("node", 1, &[("node-a", 2), ("node-b", 1), ("node-y", 4)]),
        ]),
    );
    let foo_bar = || {
        mk_pod("p")
            .label("foo", "")
            .label("bar", "")
            .spread(1, "zone", DNS, foo())
            .spread(1, "node", DNS, bar())
    };
    check_pre_filter_state(
        "different labelSelectors - simple version",
        json!([]),
        foo_bar().obj(),
        aby(),
        vec![
            mk_pod("p-a").node("node-a").label("foo", "").obj(),
            mk_pod("p-b").node("node-b").label("bar", "").obj(),
        ],
        none,
        Some(&[
            ("zone", 1, &[("zone1", 1), ("zone2", 0)]),
            ("node", 1, &[("node-a", 0), ("node-b", 1), ("node-y", 0)]),
        ]),
    );
    check_pre_filter_state(
        "different labelSelectors - complex pods",
        json!([]),
        foo_bar().obj(),
        aby(),
        vec![
            mk_pod("p-a1").node("node-a").label("foo", "").obj(),
            mk_pod("p-a2")
                .node("node-a")
                .label("foo", "")
                .label("bar", "")
                .obj(),
            mk_pod("p-b1").node("node-b").label("foo", "").obj(),
            mk_pod("p-y1").node("node-y").label("foo", "").obj(),
            mk_pod("p-y2")
                .node("node-y")
                .label("foo", "")
                .label("bar", "")
                .obj(),
            mk_pod("p-y3").node("node-y").label("foo", "").obj(),
            mk_pod("p-y4")
                .node("node-y")
                .label("foo", "")
                .label("bar", "")
                .obj(),
        ],
        none,
        Some(&[
            ("zone", 1, &[("zone1", 3), ("zone2", 4)]),
            ("node", 1, &[("node-a", 1), ("node-b", 0), ("node-y", 2)]),
        ]),
    );
    check_pre_filter_state(
        "two spreadConstraints, and with podAffinity",
        json!([]),
        foo_pod()
            .node_affinity("node", "NotIn", &["node-x"])
            .spread(1, "zone", DNS, foo())
            .spread(1, "node", DNS, foo())
            .obj(),
        four_nodes(),
        seven(),
        none,
        Some(&[
            ("zone", 1, &[("zone1", 3), ("zone2", 4)]),
            ("node", 1, &[("node-a", 2), ("node-b", 1), ("node-y", 4)]),
        ]),
    );
    let service: &[(&str, &[(&str, &str)])] = &[("default", &[("foo", "bar")])];
    check_pre_filter_state(
        "default constraints and a service",
        json!([
            {"maxSkew": 3, "topologyKey": "node", "whenUnsatisfiable": DNS},
            {"maxSkew": 2, "topologyKey": "node", "whenUnsatisfiable": SA},
            {"maxSkew": 5, "topologyKey": "rack", "whenUnsatisfiable": DNS}
        ]),
        mk_pod("p").label("foo", "bar").label("baz", "kar").obj(),
        vec![],
        vec![],
        service,
        Some(&[("node", 3, &[]), ("rack", 5, &[])]),
    );
    check_pre_filter_state(
        "default constraints and a service that doesn't match",
        json!([{"maxSkew": 3, "topologyKey": "node", "whenUnsatisfiable": DNS}]),
        mk_pod("p").label("foo", "bar").obj(),
        vec![],
        vec![],
        &[("default", &[("baz", "kep")])],
        None,
    );
    check_pre_filter_state(
        "default constraints and a service, but pod has constraints",
        json!([{"maxSkew": 2, "topologyKey": "node", "whenUnsatisfiable": DNS}]),
        mk_pod("p")
            .label("foo", "bar")
            .label("baz", "tar")
            .spread(1, "zone", DNS, match_label("baz", "tar"))
            .spread(2, "planet", SA, match_label("fot", "rok"))
            .obj(),
        vec![],
        vec![],
        service,
        Some(&[("zone", 1, &[])]),
    );
    check_pre_filter_state(
        "default soft constraints and a service",
        json!([{"maxSkew": 2, "topologyKey": "node", "whenUnsatisfiable": SA}]),
        mk_pod("p").label("foo", "bar").obj(),
        vec![],
        vec![],
        service,
        None,
    );

    // Node inclusion policies: nodes a, b (labels node, foo) and c (labels node, bar).
    let abc = |tainted_c: bool| {
        let c = mk_node("node-c").label("node", "node-c").label("bar", "");
        vec![
            mk_node("node-a")
                .label("node", "node-a")
                .label("foo", "")
                .obj(),
            mk_node("node-b")
                .label("node", "node-b")
                .label("foo", "")
                .obj(),
            if tainted_c {
                c.tainted().obj()
            } else {
                c.obj()
            },
        ]
    };
    let bar_pods = || {
        vec![
            mk_pod("p-a").node("node-a").label("bar", "").obj(),
            mk_pod("p-b").node("node-b").label("bar", "").obj(),
            mk_pod("p-c").node("node-b").label("bar", "").obj(),
            mk_pod("p-d").node("node-c").obj(),
        ]
    };
    let ab: Domains<'_> = &[("node-a", 1), ("node-b", 2)];
    let abc0: Domains<'_> = &[("node-a", 1), ("node-b", 2), ("node-c", 0)];
    check_pre_filter_state(
        "NodeAffinityPolicy honored with labelSelectors",
        json!([]),
        foo_pod()
            .node_selector("foo", "")
            .spread(1, "node", DNS, bar())
            .obj(),
        abc(false),
        bar_pods(),
        none,
        Some(&[("node", 1, ab)]),
    );
    check_pre_filter_state(
        "NodeAffinityPolicy ignored with labelSelectors",
        json!([]),
        foo_pod()
            .node_selector("foo", "")
            .spread_with(
                1,
                "node",
                DNS,
                bar(),
                json!({"nodeAffinityPolicy": "Ignore"}),
            )
            .obj(),
        abc(false),
        bar_pods(),
        none,
        Some(&[("node", 1, abc0)]),
    );
    check_pre_filter_state(
        "NodeAffinityPolicy honored with nodeAffinity",
        json!([]),
        foo_pod()
            .node_affinity("foo", "In", &[""])
            .spread(1, "node", DNS, bar())
            .obj(),
        abc(false),
        bar_pods(),
        none,
        Some(&[("node", 1, ab)]),
    );
    check_pre_filter_state(
        "NodeAffinityPolicy ignored with nodeAffinity",
        json!([]),
        foo_pod()
            .node_affinity("foo", "In", &[""])
            .spread_with(
                1,
                "node",
                DNS,
                bar(),
                json!({"nodeAffinityPolicy": "Ignore"}),
            )
            .obj(),
        abc(false),
        bar_pods(),
        none,
        Some(&[("node", 1, abc0)]),
    );
    let plain_abc = || {
        vec![
            mk_node("node-a").label("node", "node-a").obj(),
            mk_node("node-b").label("node", "node-b").obj(),
            mk_node("node-c")
                .label("node", "node-c")
                .tainted()
                .label("bar", "")
                .obj(),
        ]
    };
    check_pre_filter_state(
        "NodeTaintsPolicy ignored",
        json!([]),
        foo_pod().spread(1, "node", DNS, bar()).obj(),
        plain_abc(),
        bar_pods(),
        none,
        Some(&[("node", 1, abc0)]),
    );
    check_pre_filter_state(
        "NodeTaintsPolicy honored",
        json!([]),
        foo_pod()
            .spread_with(1, "node", DNS, bar(), json!({"nodeTaintsPolicy": "Honor"}))
            .obj(),
        plain_abc(),
        bar_pods(),
        none,
        Some(&[("node", 1, ab)]),
    );
    check_pre_filter_state(
        "NodeTaintsPolicy honored with tolerated taints",
        json!([]),
        foo_pod()
            .toleration("node.kubernetes.io/unschedulable")
            .spread_with(1, "node", DNS, bar(), json!({"nodeTaintsPolicy": "Honor"}))
            .obj(),
        plain_abc(),
        bar_pods(),
        none,
        Some(&[("node", 1, abc0)]),
    );
    let abx = |foo_on: &[&str], tainted: Option<&str>| -> Vec<Arc<Node>> {
        [
            ("node-a", "zone1"),
            ("node-b", "zone1"),
            ("node-x", "zone2"),
        ]
        .iter()
        .map(|(n, z)| {
            let mut b = mk_node(n).label("zone", z).label("node", n);
            if foo_on.contains(n) {
                b = b.label("foo", "");
            }
            if tainted == Some(*n) {
                b = b.tainted();
            }
            b.obj()
        })
        .collect()
    };
    check_pre_filter_state(
        "two node inclusion Constraints, zone: honor/ignore, node: ignore/ignore",
        json!([]),
        foo_pod()
            .node_selector("foo", "")
            .spread(1, "zone", DNS, foo())
            .spread_with(
                1,
                "node",
                DNS,
                foo(),
                json!({"nodeAffinityPolicy": "Ignore"}),
            )
            .obj(),
        abx(&["node-a", "node-x"], None),
        foo_pods(&["b1", "b2", "x1"]),
        none,
        Some(&[
            ("zone", 1, &[("zone1", 0), ("zone2", 1)]),
            ("node", 1, &[("node-a", 0), ("node-b", 2), ("node-x", 1)]),
        ]),
    );
    check_pre_filter_state(
        "two node inclusion Constraints, zone: honor/honor, node: honor/ignore",
        json!([]),
        foo_pod()
            .spread_with(1, "zone", DNS, foo(), json!({"nodeTaintsPolicy": "Honor"}))
            .spread(1, "node", DNS, foo())
            .obj(),
        abx(&["node-a", "node-x"], Some("node-b")),
        foo_pods(&["b1", "b2", "x1"]),
        none,
        Some(&[
            ("zone", 1, &[("zone1", 0), ("zone2", 1)]),
            ("node", 1, &[("node-a", 0), ("node-b", 2), ("node-x", 1)]),
        ]),
    );
    let abxy = |foo_on: &[&str]| -> Vec<Arc<Node>> {
        [
            ("node-a", "zone1"),
            ("node-b", "zone1"),
            ("node-x", "zone2"),
            ("node-y", "zone2"),
        ]
        .iter()
        .map(|(n, z)| {
            let mut b = mk_node(n).label("zone", z).label("node", n);
            if foo_on.contains(n) {
                b = b.label("foo", "");
            }
            if *n == "node-b" {
                b = b.tainted();
            }
            b.obj()
        })
        .collect()
    };
    check_pre_filter_state(
        "two node inclusion Constraints, zone: honor/ignore, node: honor/ignore",
        json!([]),
        foo_pod()
            .node_selector("foo", "")
            .spread(1, "zone", DNS, foo())
            .spread(1, "node", DNS, foo())
            .obj(),
        abxy(&["node-b", "node-x"]),
        foo_pods(&["a1", "a2", "x1", "y1"]),
        none,
        Some(&[
            ("zone", 1, &[("zone1", 0), ("zone2", 1)]),
            ("node", 1, &[("node-b", 0), ("node-x", 1)]),
        ]),
    );
    check_pre_filter_state(
        "two node inclusion Constraints, zone: ignore/ignore, node: honor/honor",
        json!([]),
        foo_pod()
            .node_selector("foo", "")
            .spread_with(
                1,
                "zone",
                DNS,
                foo(),
                json!({"nodeAffinityPolicy": "Ignore"}),
            )
            .spread_with(1, "node", DNS, foo(), json!({"nodeTaintsPolicy": "Honor"}))
            .obj(),
        abxy(&["node-b", "node-x", "node-y"]),
        foo_pods(&["a1", "a2", "x1", "x2", "y1"]),
        none,
        Some(&[
            ("zone", 1, &[("zone1", 2), ("zone2", 3)]),
            ("node", 1, &[("node-x", 2), ("node-y", 1)]),
        ]),
    );

    // matchLabelKeys.
    check_pre_filter_state(
        "matchLabelKeys ANDed with LabelSelector when LabelSelector isn't empty",
        json!([]),
        mk_pod("p")
            .label("foo", "")
            .label("bar", "a")
            .spread_with(1, "zone", DNS, foo(), json!({"matchLabelKeys": ["bar"]}))
            .obj(),
        four_nodes(),
        vec![
            mk_pod("p-a1").node("node-a").label("foo", "").obj(),
            mk_pod("p-a2")
                .node("node-a")
                .label("foo", "")
                .label("bar", "a")
                .obj(),
            mk_pod("p-b1").node("node-b").label("foo", "").obj(),
            mk_pod("p-y1")
                .node("node-y")
                .label("foo", "")
                .label("bar", "a")
                .obj(),
            mk_pod("p-y2").node("node-y").label("bar", "").obj(),
        ],
        none,
        Some(&[("zone", 1, &[("zone1", 1), ("zone2", 1)])]),
    );
    let foo_a = || {
        ["a1", "a2", "b1", "y1", "y2"]
            .iter()
            .map(|n| {
                mk_pod(&format!("p-{n}"))
                    .node(&format!("node-{}", &n[..1]))
                    .label("foo", "a")
                    .obj()
            })
            .collect::<Vec<_>>()
    };
    check_pre_filter_state(
        "matchLabelKeys ANDed with LabelSelector when LabelSelector is empty",
        json!([]),
        mk_pod("p")
            .label("foo", "a")
            .spread_with(
                1,
                "zone",
                DNS,
                Some(json!({})),
                json!({"matchLabelKeys": ["foo"]}),
            )
            .obj(),
        four_nodes(),
        foo_a(),
        none,
        Some(&[("zone", 1, &[("zone1", 3), ("zone2", 2)])]),
    );
    check_pre_filter_state(
        "key in matchLabelKeys is ignored when LabelSelector is nil",
        json!([]),
        foo_pod()
            .spread_with(1, "zone", DNS, None, json!({"matchLabelKeys": ["bar"]}))
            .obj(),
        four_nodes(),
        foo_a(),
        none,
        Some(&[("zone", 1, &[("zone1", 0), ("zone2", 0)])]),
    );
    check_pre_filter_state(
        "key in matchLabelKeys is ignored when it isn't exist in pod.labels",
        json!([]),
        foo_pod()
            .spread_with(1, "zone", DNS, foo(), json!({"matchLabelKeys": ["bar"]}))
            .obj(),
        four_nodes(),
        foo_a(),
        none,
        Some(&[("zone", 1, &[("zone1", 3), ("zone2", 2)])]),
    );
    check_pre_filter_state(
        "two spreadConstraints with the same topologyKey",
        json!([]),
        mk_pod("p")
            .label("foo", "")
            .label("bar", "")
            .spread(1, "zone", DNS, foo())
            .spread(1, "zone", DNS, bar())
            .obj(),
        four_nodes(),
        vec![
            mk_pod("p-a1")
                .node("node-a")
                .label("foo", "")
                .label("bar", "")
                .obj(),
            mk_pod("p-b1").node("node-b").label("foo", "").obj(),
            mk_pod("p-x1").node("node-x").label("bar", "").obj(),
            mk_pod("p-y1")
                .node("node-y")
                .label("foo", "")
                .label("bar", "")
                .obj(),
            mk_pod("p-y2").node("node-y").label("bar", "").obj(),
        ],
        none,
        Some(&[
            ("zone", 1, &[("zone1", 2), ("zone2", 1)]),
            ("zone", 1, &[("zone1", 1), ("zone2", 3)]),
        ]),
    );
    check_pre_filter_state(
        "skip if not specified",
        json!([]),
        foo_pod().obj(),
        vec![mk_node("node-a")
            .label("zone", "zone1")
            .label("node", "node-a")
            .obj()],
        vec![],
        none,
        None,
    );
}

#[test]
fn match_label_keys_merge_into_selector() {
    // The merged selector is `bar=a` AND `foo` exists, as kube-scheduler builds it.
    let p = mk_pod("p").label("foo", "").label("bar", "a").spread_with(
        1,
        "zone",
        DNS,
        foo(),
        json!({"matchLabelKeys": ["bar"]}),
    );
    let plugin = list_plugin(json!([]));
    let snapshot = Snapshot::new(&four_nodes(), &[], &[]);
    let mut state = CycleState::new();
    let _ = plugin.pre_filter(&mut state, &PodInfo::new(p.obj()), &snapshot);
    let s = state.read::<PreFilterState>(NAME).expect("state");
    assert_eq!(
        s.constraints[0].selector.as_ref().map(ToString::to_string),
        Some("bar=a,foo".to_string())
    );
}

// ---------------------------------------------------------------------------------------------
// Scoring: TestPreScoreSkip, TestPreScoreStateEmptyNodes, TestPodTopologySpreadScore
// ---------------------------------------------------------------------------------------------

fn rs_workloads(snapshot: &mut Snapshot, name: &str, selector: Value) {
    let sel: flotilla_model::LabelSelector = serde_json::from_value(selector).expect("selector");
    snapshot.workload_selectors.controllers.insert(
        ("default".into(), "ReplicaSet".into(), name.into()),
        sel.to_selector().expect("valid"),
    );
}

#[test]
fn pre_score_skip() {
    let nodes = vec![
        mk_node("node-a").label(LABEL_HOSTNAME, "node-a").obj(),
        mk_node("node-b").label(LABEL_HOSTNAME, "node-b").obj(),
    ];
    let snapshot = Snapshot::new(&nodes, &[], &[]);
    let mut state = CycleState::new();
    let info = PodInfo::new(mk_pod("p").ns("default").obj());
    assert_eq!(
        list_plugin(json!([])).pre_score(&mut state, &info, &snapshot, &[0, 1]),
        Status::skip(),
        "the pod doesn't have soft topology spread Constraints"
    );

    let mut snapshot = Snapshot::new(&[mk_node("node-a").label("planet", "mars").obj()], &[], &[]);
    rs_workloads(
        &mut snapshot,
        "rs1",
        json!({"matchExpressions": [{"key": "tar", "operator": "Exists"}]}),
    );
    let info = PodInfo::new(
        mk_pod("p")
            .ns("default")
            .label("foo", "bar")
            .label("baz", "sup")
            .owner("apps/v1", "ReplicaSet", "rs2")
            .obj(),
    );
    let plugin =
        list_plugin(json!([{"maxSkew": 2, "topologyKey": "planet", "whenUnsatisfiable": SA}]));
    assert_eq!(
        plugin.pre_score(&mut CycleState::new(), &info, &snapshot, &[0]),
        Status::skip(),
        "default constraints and a replicaset that doesn't match"
    );
}

/// Runs PreScore over all nodes (no existing pods) and checks the state: per constraint
/// `(topologyKey, maxSkew, domains, weight size)`, and the ignored node names.
fn check_pre_score_state(
    name: &str,
    plugin: &PodTopologySpread,
    p: Arc<Pod>,
    nodes: Vec<Arc<Node>>,
    rs1: Option<Value>,
    want: &[(&str, i32, &[&str], usize)],
    want_ignored: &[&str],
) {
    let mut snapshot = Snapshot::new(&nodes, &[], &[]);
    if let Some(sel) = rs1 {
        rs_workloads(&mut snapshot, "rs1", sel);
    }
    let feasible: Vec<usize> = (0..snapshot.len()).collect();
    let mut state = CycleState::new();
    let status = plugin.pre_score(&mut state, &PodInfo::new(p), &snapshot, &feasible);
    assert_eq!(status, Status::success(), "{name}");
    let s = state.read::<PreScoreState>(NAME).expect("state");
    assert_eq!(s.constraints.len(), want.len(), "{name}: constraints");
    for (i, (key, skew, domains, size)) in want.iter().enumerate() {
        let c = &s.constraints[i];
        assert_eq!(
            (c.topology_key.as_str(), c.max_skew),
            (*key, *skew),
            "{name}: constraint {i}"
        );
        let mut got: Vec<(&str, i64)> = s.topology_value_to_pod_counts[i]
            .iter()
            .map(|(k, v)| (k.as_str(), *v))
            .collect();
        got.sort();
        let mut want_domains: Vec<(&str, i64)> = domains.iter().map(|d| (*d, 0)).collect();
        want_domains.sort();
        assert_eq!(got, want_domains, "{name}: domains of constraint {i}");
        assert_eq!(
            s.topology_normalizing_weight[i],
            topology_normalizing_weight(*size),
            "{name}: weight {i}"
        );
    }
    let ignored: Vec<&str> = s
        .ignored_nodes
        .iter()
        .map(|&i| snapshot.nodes[i].name())
        .collect();
    assert_eq!(ignored, want_ignored, "{name}: ignored nodes");
}

#[test]
fn pre_score_state_empty_nodes() {
    let list = list_plugin(json!([]));
    let abx = |x_zone: bool| {
        let x = mk_node("node-x").label(LABEL_HOSTNAME, "node-x");
        vec![
            mk_node("node-a")
                .label("zone", "zone1")
                .label(LABEL_HOSTNAME, "node-a")
                .obj(),
            mk_node("node-b")
                .label("zone", "zone1")
                .label(LABEL_HOSTNAME, "node-b")
                .obj(),
            if x_zone {
                x.label("zone", "zone2").obj()
            } else {
                x.obj()
            },
        ]
    };
    check_pre_score_state(
        "normal case",
        &list,
        mk_pod("p")
            .label("foo", "")
            .spread(1, "zone", SA, foo())
            .spread(1, LABEL_HOSTNAME, SA, foo())
            .obj(),
        abx(true),
        None,
        &[
            ("zone", 1, &["zone1", "zone2"], 2),
            (LABEL_HOSTNAME, 1, &[], 3),
        ],
        &[],
    );
    check_pre_score_state(
        "null selector",
        &list,
        mk_pod("p")
            .label("foo", "")
            .spread(1, "zone", SA, None)
            .obj(),
        abx(true),
        None,
        &[("zone", 1, &["zone1", "zone2"], 2)],
        &[],
    );
    check_pre_score_state(
        "node-x doesn't have label zone",
        &list,
        mk_pod("p")
            .label("foo", "")
            .spread(1, "zone", SA, foo())
            .spread(1, LABEL_HOSTNAME, SA, bar())
            .obj(),
        abx(false),
        None,
        &[("zone", 1, &["zone1"], 1), (LABEL_HOSTNAME, 1, &[], 2)],
        &["node-x"],
    );
    check_pre_score_state(
        "system default constraints and a replicaset",
        &system_plugin(),
        mk_pod("p")
            .ns("default")
            .label("foo", "tar")
            .label("baz", "sup")
            .owner("apps/v1", "ReplicaSet", "rs1")
            .obj(),
        vec![
            mk_node("node-a")
                .label(LABEL_HOSTNAME, "node-a")
                .label(ZONE_LABEL, "mars")
                .obj(),
            mk_node("node-b")
                .label(LABEL_HOSTNAME, "node-b")
                .label(ZONE_LABEL, "mars")
                .obj(),
            // Nodes with no zone are not excluded: they are the zone "".
            mk_node("node-c").label(LABEL_HOSTNAME, "node-c").obj(),
            mk_node("node-d").label(LABEL_HOSTNAME, "node-d").obj(),
        ],
        foo(),
        &[
            (LABEL_HOSTNAME, 3, &[], 4),
            (ZONE_LABEL, 5, &["mars", ""], 2),
        ],
        &[],
    );
    check_pre_score_state(
        "default constraints and a replicaset",
        &list_plugin(json!([
            {"maxSkew": 1, "topologyKey": LABEL_HOSTNAME, "whenUnsatisfiable": SA},
            {"maxSkew": 2, "topologyKey": "rack", "whenUnsatisfiable": DNS},
            {"maxSkew": 2, "topologyKey": "planet", "whenUnsatisfiable": SA}
        ])),
        mk_pod("p")
            .ns("default")
            .label("foo", "tar")
            .label("baz", "sup")
            .owner("apps/v1", "ReplicaSet", "rs1")
            .obj(),
        vec![mk_node("node-a")
            .label("rack", "rack1")
            .label(LABEL_HOSTNAME, "node-a")
            .label("planet", "mars")
            .obj()],
        foo(),
        &[(LABEL_HOSTNAME, 1, &[], 1), ("planet", 2, &["mars"], 1)],
        &[],
    );
    check_pre_score_state(
        "default constraints and a replicaset, but pod has constraints",
        &list_plugin(json!([{"maxSkew": 2, "topologyKey": "galaxy", "whenUnsatisfiable": SA}])),
        mk_pod("p")
            .ns("default")
            .label("foo", "bar")
            .label("baz", "sup")
            .owner("apps/v1", "ReplicaSet", "rs1")
            .spread(1, "zone", DNS, bar())
            .spread(2, "planet", SA, match_label("baz", "sup"))
            .obj(),
        vec![mk_node("node-a")
            .label("planet", "mars")
            .label("galaxy", "andromeda")
            .obj()],
        foo(),
        &[("planet", 2, &["mars"], 1)],
        &[],
    );
    let policy_nodes = |taint_x: bool| {
        let x = mk_node("node-x")
            .label("zone", "zone2")
            .label(LABEL_HOSTNAME, "node-x");
        vec![
            mk_node("node-a")
                .label("zone", "zone1")
                .label("foo", "")
                .label(LABEL_HOSTNAME, "node-a")
                .obj(),
            mk_node("node-b")
                .label("zone", "zone1")
                .label("foo", "")
                .label(LABEL_HOSTNAME, "node-b")
                .obj(),
            if taint_x { x.tainted().obj() } else { x.obj() },
        ]
    };
    let zones: &[(&str, i32, &[&str], usize)] = &[("zone", 1, &["zone1", "zone2"], 2)];
    let cases: Vec<(&str, PodB, bool)> = vec![
        (
            "NodeAffinityPolicy honored with labelSelectors",
            mk_pod("p")
                .node_selector("foo", "")
                .spread(1, "zone", SA, bar()),
            false,
        ),
        (
            "NodeAffinityPolicy ignored with labelSelectors",
            mk_pod("p").node_selector("foo", "").spread_with(
                1,
                "zone",
                SA,
                bar(),
                json!({"nodeAffinityPolicy": "Ignore"}),
            ),
            false,
        ),
        (
            "NodeAffinityPolicy honored with nodeAffinity",
            mk_pod("p")
                .node_affinity("foo", "In", &[""])
                .spread(1, "zone", SA, bar()),
            false,
        ),
        (
            "NodeAffinityPolicy ignored with nodeAffinity",
            mk_pod("p").node_affinity("foo", "In", &[""]).spread_with(
                1,
                "zone",
                SA,
                bar(),
                json!({"nodeAffinityPolicy": "Ignore"}),
            ),
            false,
        ),
        (
            "NodeTaintsPolicy honored",
            mk_pod("p").spread_with(1, "zone", SA, bar(), json!({"nodeTaintsPolicy": "Honor"})),
            true,
        ),
        (
            "NodeTaintsPolicy ignored",
            mk_pod("p").spread(1, "zone", SA, bar()),
            true,
        ),
    ];
    for (name, p, taint_x) in cases {
        check_pre_score_state(
            name,
            &list,
            p.label("foo", "").obj(),
            policy_nodes(taint_x),
            None,
            zones,
            &[],
        );
    }
}

/// TestPodTopologySpreadScore's harness: the plugin has system defaulting; the snapshot holds
/// `nodes` then `failed`; only `nodes` are feasible and scored. Returns the normalized scores
/// of `nodes` in order.
fn score(
    p: PodB,
    nodes: Vec<Arc<Node>>,
    failed: Vec<Arc<Node>>,
    existing: Vec<Arc<Pod>>,
    service: Option<(&str, &str)>,
) -> Vec<i64> {
    let plugin = system_plugin();
    let names: Vec<String> = nodes.iter().map(|n| n.metadata.name.clone()).collect();
    let mut all = nodes;
    all.extend(failed);
    let mut snapshot = Snapshot::new(&all, &existing, &[]);
    if let Some((k, v)) = service {
        snapshot
            .workload_selectors
            .services
            .push(("default".into(), [(k.to_string(), v.to_string())].into()));
    }
    let feasible: Vec<usize> = names
        .iter()
        .map(|n| snapshot.index_of(n).expect("node"))
        .collect();
    let info = PodInfo::new(p.obj());
    let mut state = CycleState::new();
    assert_eq!(
        plugin.pre_score(&mut state, &info, &snapshot, &feasible),
        Status::success()
    );
    let mut scores: Vec<NodeScore> = feasible
        .iter()
        .map(|&i| NodeScore {
            node: i,
            score: plugin
                .score(&state, &info, &snapshot.nodes[i])
                .expect("score"),
        })
        .collect();
    assert_eq!(
        plugin.normalize_scores(&state, &info, &mut scores),
        Status::success()
    );
    scores.into_iter().map(|s| s.score).collect()
}

fn host_nodes(names: &[&str]) -> Vec<Arc<Node>> {
    names
        .iter()
        .map(|n| mk_node(n).label(LABEL_HOSTNAME, n).obj())
        .collect()
}

#[test]
fn pod_topology_spread_score_one_constraint() {
    let host = |skew: i32, sel: Option<Value>| {
        mk_pod("p")
            .label("foo", "")
            .spread(skew, LABEL_HOSTNAME, SA, sel)
    };
    assert_eq!(
        score(
            host(1, foo()),
            host_nodes(&["node-a", "node-b"]),
            vec![],
            vec![],
            None
        ),
        vec![100, 100],
        "no existing pods"
    );
    assert_eq!(
        score(
            host(1, foo()),
            host_nodes(&["node-a"]),
            host_nodes(&["node-b"]),
            foo_pods(&["a1", "a2", "b1"]),
            None
        ),
        vec![100],
        "only one node is candidate"
    );
    assert_eq!(
        score(
            host(1, foo()),
            host_nodes(&["node-a", "node-b"]),
            vec![],
            foo_pods(&["a1", "b1"]),
            None
        ),
        vec![100, 100],
        "all nodes have the same number of matching pods"
    );
    let abcd = || host_nodes(&["node-a", "node-b", "node-c", "node-d"]);
    let spread_2_1_0_3 = || foo_pods(&["a1", "a2", "b1", "d1", "d2", "d3"]);
    assert_eq!(
        score(host(1, foo()), abcd(), vec![], spread_2_1_0_3(), None),
        vec![20, 60, 100, 0],
        "all 4 nodes are candidates"
    );
    assert_eq!(
        score(host(1, None), abcd(), vec![], spread_2_1_0_3(), None),
        vec![100, 100, 100, 100],
        "null selector"
    );
    assert_eq!(
        score(host(2, foo()), abcd(), vec![], spread_2_1_0_3(), None),
        vec![33, 66, 100, 16],
        "maxSkew=2"
    );
    let spread_4_3_2_1 = || foo_pods(&["a1", "a2", "a3", "a4", "b1", "b2", "b3", "c1", "c2", "d1"]);
    assert_eq!(
        score(host(3, foo()), abcd(), vec![], spread_4_3_2_1(), None),
        vec![44, 66, 77, 100],
        "maxSkew=3"
    );
    assert_eq!(
        score(
            mk_pod("p").label("foo", ""),
            abcd(),
            vec![],
            spread_4_3_2_1(),
            Some(("foo", ""))
        ),
        vec![44, 66, 77, 100],
        "system defaulting, nodes don't have zone, pods match service"
    );
    let spread_4_2_1_3 = || foo_pods(&["a1", "a2", "a3", "a4", "b1", "b2", "x1", "y1", "y2", "y3"]);
    assert_eq!(
        score(
            host(1, foo()),
            host_nodes(&["node-a", "node-b", "node-x"]),
            host_nodes(&["node-y"]),
            spread_4_2_1_3(),
            None
        ),
        vec![33, 83, 100],
        "3 out of 4 nodes are candidates"
    );
    assert_eq!(
        score(
            host(1, foo()),
            vec![
                mk_node("node-a").label(LABEL_HOSTNAME, "node-a").obj(),
                mk_node("node-b").label("n", "node-b").obj(),
                mk_node("node-x").label(LABEL_HOSTNAME, "node-x").obj(),
            ],
            host_nodes(&["node-y"]),
            spread_4_2_1_3(),
            None
        ),
        vec![16, 0, 100],
        "3 out of 4 nodes are candidates, one node doesn't match topology key"
    );
    let zoned = |names: &[(&str, &str)]| -> Vec<Arc<Node>> {
        names
            .iter()
            .map(|(n, z)| mk_node(n).label("zone", z).label(LABEL_HOSTNAME, n).obj())
            .collect()
    };
    assert_eq!(
        score(
            mk_pod("p").label("foo", "").spread(1, "zone", SA, foo()),
            zoned(&[
                ("node-a", "zone1"),
                ("node-b", "zone1"),
                ("node-x", "zone2")
            ]),
            zoned(&[("node-y", "zone2")]),
            spread_4_2_1_3(),
            None
        ),
        vec![75, 75, 100],
        "one constraint on zone, 3 out of 4 nodes are candidates"
    );
    assert_eq!(
        score(
            mk_pod("p")
                .label("foo", "")
                .spread(1, LABEL_HOSTNAME, SA, foo()),
            host_nodes(&["node-a", "node-b"]),
            vec![],
            vec![
                mk_pod("p-a1")
                    .ns("ns1")
                    .node("node-a")
                    .label("foo", "")
                    .obj(),
                mk_pod("p-a2").node("node-a").label("foo", "").obj(),
                mk_pod("p-b1").node("node-b").label("foo", "").obj(),
                mk_pod("p-b2").node("node-b").label("foo", "").obj(),
            ],
            None
        ),
        vec![100, 33],
        "existing pods in a different namespace do not count"
    );
    assert_eq!(
        score(
            mk_pod("p")
                .label("foo", "")
                .spread(1, LABEL_HOSTNAME, SA, foo()),
            host_nodes(&["node-a", "node-b"]),
            vec![],
            vec![
                mk_pod("p-a")
                    .node("node-a")
                    .label("foo", "")
                    .terminating()
                    .obj(),
                mk_pod("p-b").node("node-b").label("foo", "").obj(),
            ],
            None
        ),
        vec![100, 0],
        "terminating Pods should be excluded"
    );
    assert_eq!(
        score(
            mk_pod("p").label("foo", "").spread_with(
                2,
                "node",
                SA,
                foo(),
                json!({"minDomains": 10})
            ),
            ["node-a", "node-b", "node-c"]
                .iter()
                .map(|n| mk_node(n).label("node", n).obj())
                .collect(),
            vec![],
            foo_pods(&["a1", "a2", "b1", "b2", "c1"]),
            None
        ),
        vec![75, 75, 100],
        "minDomains has no effect when ScheduleAnyway"
    );
}

#[test]
fn pod_topology_spread_score_two_constraints() {
    let zoned = |names: &[(&str, &str)]| -> Vec<Arc<Node>> {
        names
            .iter()
            .map(|(n, z)| mk_node(n).label("zone", z).label(LABEL_HOSTNAME, n).obj())
            .collect()
    };
    assert_eq!(
        score(
            mk_pod("p")
                .label("foo", "")
                .spread(1, "zone", SA, foo())
                .spread(1, LABEL_HOSTNAME, SA, foo()),
            zoned(&[("node-a", "zone1"), ("node-x", "zone2")]),
            zoned(&[("node-b", "zone1"), ("node-y", "zone2")]),
            foo_pods(&["a1", "a2", "b1", "x1", "x2", "y1", "y2", "y3", "y4"]),
            None
        ),
        vec![100, 63],
        "two Constraints on zone and node, 2 out of 4 nodes are candidates"
    );
    let plain_zoned = |names: &[(&str, &str)]| -> Vec<Arc<Node>> {
        names
            .iter()
            .map(|(n, z)| mk_node(n).label("zone", z).obj())
            .collect()
    };
    assert_eq!(
        score(
            mk_pod("p")
                .label("foo", "")
                .label("bar", "")
                .spread(1, "zone", SA, foo())
                .spread(1, "zone", SA, bar()),
            plain_zoned(&[("node-a", "zone1"), ("node-x", "zone2")]),
            plain_zoned(&[("node-b", "zone1"), ("node-y", "zone2")]),
            vec![
                mk_pod("p-a1")
                    .node("node-a")
                    .label("foo", "")
                    .label("bar", "")
                    .obj(),
                mk_pod("p-a2").node("node-a").label("foo", "").obj(),
                mk_pod("p-b1")
                    .node("node-b")
                    .label("foo", "")
                    .label("bar", "")
                    .obj(),
                mk_pod("p-y1").node("node-y").label("foo", "").obj(),
                mk_pod("p-y2")
                    .node("node-y")
                    .label("foo", "")
                    .label("bar", "")
                    .obj(),
                mk_pod("p-y3").node("node-y").label("foo", "").obj(),
            ],
            None
        ),
        vec![85, 100],
        "two Constraints on zone, 2 out of 4 nodes are candidates"
    );
    let foo_bar = || {
        mk_pod("p")
            .label("foo", "")
            .label("bar", "")
            .spread(1, "zone", SA, foo())
            .spread(1, LABEL_HOSTNAME, SA, bar())
    };
    let four = || {
        zoned(&[
            ("node-a", "zone1"),
            ("node-b", "zone1"),
            ("node-x", "zone2"),
            ("node-y", "zone2"),
        ])
    };
    let complex = || {
        vec![
            mk_pod("p-a1").node("node-a").label("foo", "").obj(),
            mk_pod("p-b1")
                .node("node-b")
                .label("foo", "")
                .label("bar", "")
                .obj(),
            mk_pod("p-y1").node("node-y").label("foo", "").obj(),
            mk_pod("p-y2").node("node-y").label("bar", "").obj(),
        ]
    };
    assert_eq!(
        score(foo_bar(), four(), vec![], complex(), None),
        vec![60, 20, 100, 60],
        "with different labelSelectors"
    );
    assert_eq!(
        score(
            foo_bar(),
            four(),
            vec![],
            vec![
                mk_pod("p-b1").node("node-b").label("bar", "").obj(),
                mk_pod("p-x1").node("node-x").label("foo", "").obj(),
                mk_pod("p-y1")
                    .node("node-y")
                    .label("foo", "")
                    .label("bar", "")
                    .obj(),
            ],
            None
        ),
        vec![100, 60, 40, 0],
        "with different labelSelectors, some nodes have 0 pods"
    );
    assert_eq!(
        score(
            foo_bar(),
            zoned(&[
                ("node-a", "zone1"),
                ("node-b", "zone1"),
                ("node-x", "zone2")
            ]),
            zoned(&[("node-y", "zone2")]),
            complex(),
            None
        ),
        vec![50, 25, 100],
        "with different labelSelectors, 3 out of 4 nodes are candidates"
    );
    // matchLabelKeys (the feature-gate-disabled row is not reproduced: the gate is on in v1.34).
    let mlk_nodes = || {
        zoned(&[
            ("node-a", "zone1"),
            ("node-b", "zone1"),
            ("node-c", "zone2"),
            ("node-d", "zone2"),
        ])
    };
    assert_eq!(
        score(
            mk_pod("p")
                .label("foo", "")
                .label("bar", "")
                .spread_with(
                    1,
                    "zone",
                    SA,
                    Some(json!({})),
                    json!({"matchLabelKeys": ["foo"]})
                )
                .spread_with(
                    1,
                    LABEL_HOSTNAME,
                    SA,
                    Some(json!({})),
                    json!({"matchLabelKeys": ["bar"]})
                ),
            mlk_nodes(),
            vec![],
            vec![
                mk_pod("p-a1").node("node-a").label("foo", "").obj(),
                mk_pod("p-b1")
                    .node("node-b")
                    .label("foo", "")
                    .label("bar", "")
                    .obj(),
                mk_pod("p-y1").node("node-c").label("foo", "").obj(),
                mk_pod("p-y2").node("node-c").label("bar", "").obj(),
            ],
            None
        ),
        vec![60, 20, 60, 100],
        "matchLabelKeys ANDed with LabelSelector when LabelSelector is empty"
    );
    assert_eq!(
        score(
            mk_pod("p")
                .label("foo", "")
                .label("bar", "")
                .label("baz", "")
                .spread(1, "zone", SA, foo())
                .spread_with(
                    1,
                    LABEL_HOSTNAME,
                    SA,
                    bar(),
                    json!({"matchLabelKeys": ["baz"]})
                ),
            mlk_nodes(),
            vec![],
            vec![
                mk_pod("p-a1").node("node-a").label("foo", "").obj(),
                mk_pod("p-b1")
                    .node("node-b")
                    .label("foo", "")
                    .label("bar", "")
                    .label("baz", "")
                    .obj(),
                mk_pod("p-c1").node("node-c").label("foo", "").obj(),
                mk_pod("p-c2").node("node-c").label("bar", "").obj(),
                mk_pod("p-d3")
                    .node("node-c")
                    .label("bar", "")
                    .label("baz", "")
                    .obj(),
            ],
            None
        ),
        vec![60, 20, 60, 100],
        "matchLabelKeys ANDed with LabelSelector when LabelSelector isn't empty"
    );
}

#[test]
fn pod_topology_spread_score_inclusion_policies() {
    let abc = |foo_on: &[&str], tainted: Option<&str>| -> Vec<Arc<Node>> {
        ["node-a", "node-b", "node-c"]
            .iter()
            .map(|n| {
                let mut b = mk_node(n).label("node", n);
                if foo_on.contains(n) {
                    b = b.label("foo", "");
                }
                if tainted == Some(*n) {
                    b = b.tainted();
                }
                b.obj()
            })
            .collect()
    };
    let existing = || foo_pods(&["a1", "a2", "b1", "c1"]);
    let foo_pod = || mk_pod("p").label("foo", "");
    let ignore_affinity = json!({"nodeAffinityPolicy": "Ignore"});
    type Case = (&'static str, PodB, Vec<Arc<Node>>, Vec<i64>);
    let cases: Vec<Case> = vec![
        (
            "NodeAffinityPolicy honoed with labelSelectors",
            foo_pod()
                .node_selector("foo", "")
                .spread(1, "node", SA, foo()),
            abc(&["node-a", "node-b"], None),
            vec![0, 33, 100],
        ),
        (
            "NodeAffinityPolicy ignored with labelSelectors",
            foo_pod().node_selector("foo", "").spread_with(
                1,
                "node",
                SA,
                foo(),
                ignore_affinity.clone(),
            ),
            abc(&["node-a", "node-b"], None),
            vec![66, 100, 100],
        ),
        (
            "NodeAffinityPolicy honoed with nodeAffinity",
            foo_pod()
                .node_affinity("foo", "In", &[""])
                .spread(1, "node", SA, foo()),
            abc(&["node-a", "node-b"], None),
            vec![0, 33, 100],
        ),
        (
            "NodeAffinityPolicy ignored with nodeAffinity",
            foo_pod().node_affinity("foo", "In", &[""]).spread_with(
                1,
                "node",
                SA,
                foo(),
                ignore_affinity,
            ),
            abc(&["node-a", "node-b"], None),
            vec![66, 100, 100],
        ),
        (
            "NodeTaintsPolicy honored",
            foo_pod().spread_with(1, "node", SA, foo(), json!({"nodeTaintsPolicy": "Honor"})),
            abc(&[], Some("node-c")),
            vec![0, 33, 100],
        ),
        (
            "NodeTaintsPolicy ignored",
            foo_pod().spread(1, "node", SA, foo()),
            abc(&[], Some("node-c")),
            vec![66, 100, 100],
        ),
    ];
    for (name, p, nodes, want) in cases {
        assert_eq!(score(p, nodes, vec![], existing(), None), want, "{name}");
    }
}

#[test]
fn system_defaults_need_a_workload() {
    // A pod that no Service or controller selects gets no default constraints.
    let snapshot = Snapshot::new(&host_nodes(&["node-a"]), &[], &[]);
    let info = PodInfo::new(mk_pod("p").label("foo", "").obj());
    assert_eq!(
        system_plugin().pre_score(&mut CycleState::new(), &info, &snapshot, &[0]),
        Status::skip()
    );
    // System defaults are ScheduleAnyway only, so PreFilter skips even with a Service.
    let mut snapshot = Snapshot::new(&host_nodes(&["node-a"]), &[], &[]);
    snapshot.workload_selectors.services.push((
        "default".into(),
        [("foo".to_string(), String::new())].into(),
    ));
    let (_, status) = system_plugin().pre_filter(&mut CycleState::new(), &info, &snapshot);
    assert_eq!(status, Status::skip());
}

#[test]
fn default_selector_combines_services_and_controller() {
    let mut w = WorkloadSelectors::default();
    w.services.push((
        "default".into(),
        [("app".to_string(), "web".to_string())].into(),
    ));
    w.services.push((
        "other".into(),
        [("tier".to_string(), "x".to_string())].into(),
    ));
    w.services.push((
        "default".into(),
        [("app".to_string(), "db".to_string())].into(),
    ));
    w.controllers.insert(
        ("default".into(), "StatefulSet".into(), "web".into()),
        Selector::parse("role in (a,b)").expect("parses"),
    );
    let p = mk_pod("p")
        .label("app", "web")
        .label("role", "a")
        .owner("apps/v1", "StatefulSet", "web")
        .obj();
    assert_eq!(
        default_selector(&p, &w).to_string(),
        "app=web,role in (a,b)"
    );
    // An owner of another kind (a Job) adds nothing; nor does a non-controller reference.
    let p = mk_pod("p")
        .label("app", "web")
        .owner("batch/v1", "Job", "web")
        .obj();
    assert_eq!(default_selector(&p, &w).to_string(), "app=web");
}

#[test]
fn workload_selectors_from_objects() {
    let svc: Arc<Service> = Arc::new(
        serde_json::from_value(json!({"metadata": {"name": "s", "namespace": "ns"}, "spec": {"selector": {"app": "web"}}}))
            .expect("service"),
    );
    let headless: Arc<Service> = Arc::new(
        serde_json::from_value(json!({"metadata": {"name": "e", "namespace": "ns"}, "spec": {}}))
            .expect("service"),
    );
    let rs: Arc<ReplicaSet> = Arc::new(
        serde_json::from_value(json!({
            "metadata": {"name": "rs", "namespace": "ns"},
            "spec": {"selector": {"matchLabels": {"app": "web"}}, "template": {"metadata": {"labels": {"app": "web"}}}}
        }))
        .expect("replica set"),
    );
    let w = workload_selectors(&[svc, headless], &[rs], &[]);
    assert_eq!(
        w.services,
        vec![(
            "ns".to_string(),
            [("app".to_string(), "web".to_string())].into()
        )]
    );
    let key = ("ns".to_string(), "ReplicaSet".to_string(), "rs".to_string());
    assert_eq!(
        w.controllers.get(&key).map(ToString::to_string),
        Some("app=web".to_string())
    );
}

// ---------------------------------------------------------------------------------------------
// Arguments: TestValidatePodTopologySpreadArgs
// ---------------------------------------------------------------------------------------------

fn validate(args: Value) -> Result<(), Vec<String>> {
    let args: PodTopologySpreadArgs = serde_json::from_value(args).expect("args decode");
    args.validate(&FieldPath::root())
        .map_err(|errs| errs.iter().map(ToString::to_string).collect())
}

#[test]
fn validate_args() {
    let c = |skew: i32, key: &str, action: &str| json!({"maxSkew": skew, "topologyKey": key, "whenUnsatisfiable": action});
    assert_eq!(
        validate(
            json!({"defaultingType": "List", "defaultConstraints": [c(1, "node", DNS), c(2, "zone", SA)]})
        ),
        Ok(()),
        "valid config"
    );
    assert_eq!(
        validate(json!({"defaultingType": "List", "defaultConstraints": [c(-1, "node", DNS)]})),
        Err(vec![
            "defaultConstraints[0].maxSkew: Invalid value: -1: not in valid range (0, inf)"
                .to_string()
        ]),
        "maxSkew less than zero"
    );
    assert_eq!(
        validate(json!({"defaultingType": "List", "defaultConstraints": [c(1, "", DNS)]})),
        Err(vec![
            "defaultConstraints[0].topologyKey: Required value: can not be empty".to_string()
        ]),
        "empty topology key"
    );
    assert_eq!(
        validate(
            json!({"defaultingType": "List", "defaultConstraints": [{"maxSkew": 1, "topologyKey": "node"}]})
        ),
        Err(vec![
            "defaultConstraints[0].whenUnsatisfiable: Required value: can not be empty".to_string()
        ]),
        "whenUnsatisfiable is empty"
    );
    // "whenUnsatisfiable contains unsupported action": the typed field rejects it when decoding.
    assert!(serde_json::from_value::<PodTopologySpreadArgs>(
        json!({"defaultingType": "List", "defaultConstraints": [c(1, "node", "unknown action")]})
    )
    .is_err());
    assert_eq!(
        validate(
            json!({"defaultingType": "List", "defaultConstraints": [c(1, "node", DNS), c(2, "node", DNS)]})
        ),
        Err(vec![
            "defaultConstraints[1]: Duplicate value: \"{node, DoNotSchedule}\"".to_string()
        ]),
        "duplicated constraints"
    );
    let mut with_selector = c(1, "key", DNS);
    with_selector["labelSelector"] = json!({"matchLabels": {"a": "b"}});
    assert_eq!(
        validate(json!({"defaultingType": "List", "defaultConstraints": [with_selector]})),
        Err(vec![
            "defaultConstraints[0].labelSelector: Forbidden: constraint must not define a selector, as they deduced for each pod"
                .to_string()
        ]),
        "label selector present"
    );
    assert_eq!(
        validate(json!({"defaultingType": "List"})),
        Ok(()),
        "list default constraints, no constraints"
    );
    assert_eq!(
        validate(json!({"defaultingType": "System"})),
        Ok(()),
        "system default constraints"
    );
    assert_eq!(
        validate(json!({"defaultingType": "unknown"})),
        Err(vec!["defaultingType: Unsupported value: \"unknown\": supported values: \"System\", \"List\"".to_string()]),
        "wrong constraints"
    );
    assert_eq!(
        validate(json!({"defaultingType": "System", "defaultConstraints": [c(1, "key", DNS)]})),
        Err(vec![
            "defaultingType: Invalid value: \"System\": when .defaultConstraints are not empty"
                .to_string()
        ]),
        "system default constraints, but has constraints"
    );
    // v1 defaulting: no defaultingType means System, so constraints alone are rejected too.
    assert!(validate(json!({"defaultConstraints": [c(1, "key", DNS)]})).is_err());
    assert_eq!(
        PodTopologySpreadArgs::default().defaulting_type,
        SYSTEM_DEFAULTING
    );
    assert!(PodTopologySpread::new(
        serde_json::from_value(json!({"defaultingType": "unknown"})).expect("decodes")
    )
    .is_err());
}
