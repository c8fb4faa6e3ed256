//! NodeResourcesBalancedAllocation: favours nodes whose resources would be used in balanced
//! shares with the pod on them (kube-scheduler v1.34, `noderesources/balanced_allocation.go`).
//!
//! Per configured resource (default cpu and memory) that the node offers (allocatable > 0; a
//! scalar resource only if the pod requests it), `f = min(1, requested / allocatable)` in `f64`,
//! with the node's *real* requests plus the pod's real requests (no 100m/200Mi defaults). The
//! spread of those fractions is `|f1 − f2| / 2` for two resources, the population standard
//! deviation for more, 0 for fewer; the score is `int64((1 − std) · 100)`, truncated, and final
//! (no NormalizeScore).
//!
//! A pod that requests none of the resources (a best-effort pod) makes PreScore return Skip, so
//! the plugin does not score it (kubernetes/kubernetes#129138, in v1.34). Later releases changed
//! the formula (PR #135573, `50 + (50 + withPod − withoutPod)/2`); this is the v1.34 one.

use flotilla_model::{ErrorList, FieldError, FieldPath, SetDefaults};
use serde::{Deserialize, Serialize};

use crate::framework::{CycleState, Plugin, PreScorePlugin, ScorePlugin, Status, MAX_NODE_SCORE};
use crate::node_info::{NodeInfo, PodInfo};
use crate::plugins::resource_allocation::{
    default_resources, ResourceAllocationScorer, ResourceSpec,
};
use crate::snapshot::Snapshot;

/// The plugin's name in a KubeSchedulerConfiguration.
pub const NAME: &str = "NodeResourcesBalancedAllocation";
/// The CycleState key of what PreScore computes, as kube-scheduler names it.
pub const PRE_SCORE_STATE_KEY: &str = "PreScoreNodeResourcesBalancedAllocation";

/// The args of NodeResourcesBalancedAllocation (kube-scheduler's
/// `NodeResourcesBalancedAllocationArgs`). [`Default`] is kube-scheduler's v1 default: cpu and
/// memory, weight 1. After decoding, call [`SetDefaults::set_defaults`] ([`new`] does it too).
///
/// [`new`]: NodeResourcesBalancedAllocation::new
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct NodeResourcesBalancedAllocationArgs {
    /// The resources whose shares are balanced; every weight must be 1.
    pub resources: Vec<ResourceSpec>,
}

impl Default for NodeResourcesBalancedAllocationArgs {
    fn default() -> Self {
        NodeResourcesBalancedAllocationArgs {
            resources: default_resources(),
        }
    }
}

impl SetDefaults for NodeResourcesBalancedAllocationArgs {
    /// kube-scheduler's `SetDefaults_NodeResourcesBalancedAllocationArgs`: no resources means cpu
    /// and memory; a weight of 0 becomes 1.
    fn set_defaults(&mut self) {
        if self.resources.is_empty() {
            self.resources = default_resources();
            return;
        }
        for r in &mut self.resources {
            r.set_default_weight();
        }
    }
}

impl NodeResourcesBalancedAllocationArgs {
    /// Checks the args as kube-scheduler's `ValidateNodeResourcesBalancedAllocationArgs`: no
    /// resource twice, every weight 1. Paths are under `path`.
    pub fn validate(&self, path: &FieldPath) -> Result<(), ErrorList> {
        let mut errs = ErrorList::new();
        let resources = path.child("resources");
        for (i, r) in self.resources.iter().enumerate() {
            if self.resources[..i].iter().any(|seen| seen.name == r.name) {
                errs.push(FieldError::duplicate(
                    &resources.index(i).child("name"),
                    &r.name,
                ));
            }
            if r.weight != 1 {
                errs.push(FieldError::invalid(
                    &resources.index(i).child("weight"),
                    r.weight,
                    "must be 1",
                ));
            }
        }
        if errs.is_empty() {
            Ok(())
        } else {
            Err(errs)
        }
    }
}

/// What PreScore computes: the pod's real request of each configured resource.
#[derive(Clone, Debug)]
struct PreScoreState {
    pod_requests: Vec<i64>,
}

/// The NodeResourcesBalancedAllocation plugin (PreScore, Score).
#[derive(Clone, Debug)]
pub struct NodeResourcesBalancedAllocation {
    scorer: ResourceAllocationScorer,
}

impl NodeResourcesBalancedAllocation {
    /// Builds the plugin: applies kube-scheduler's v1 defaults to `args`, then validates them.
    pub fn new(
        mut args: NodeResourcesBalancedAllocationArgs,
    ) -> Result<NodeResourcesBalancedAllocation, ErrorList> {
        args.set_defaults();
        args.validate(&FieldPath::root())?;
        Ok(NodeResourcesBalancedAllocation {
            scorer: ResourceAllocationScorer::new(&args.resources, true),
        })
    }

    /// The score of `node` for a pod with these requests (`balancedResourceScorer`).
    fn score_with(&self, node: &NodeInfo, pod_requests: &[i64]) -> i64 {
        let fraction = |alloc: i64, req: i64| (req as f64 / alloc as f64).min(1.0);
        let mut count = 0usize;
        let mut total = 0.0f64;
        let (mut f0, mut f1) = (0.0f64, 0.0f64);
        self.scorer.for_each(node, pod_requests, |alloc, req, _| {
            let f = fraction(alloc, req);
            match count {
                0 => f0 = f,
                1 => f1 = f,
                _ => {}
            }
            total += f;
            count += 1;
        });
        let std = match count {
            // For cpu and memory alone the standard deviation is half the difference.
            2 => ((f0 - f1) / 2.0).abs(),
            n if n > 2 => {
                // The population standard deviation, summed in the same order as Go.
                let mean = total / n as f64;
                let mut sum = 0.0f64;
                self.scorer.for_each(node, pod_requests, |alloc, req, _| {
                    let f = fraction(alloc, req);
                    sum += (f - mean) * (f - mean);
                });
                (sum / n as f64).sqrt()
            }
            _ => 0.0,
        };
        ((1.0 - std) * MAX_NODE_SCORE as f64) as i64
    }
}

impl Plugin for NodeResourcesBalancedAllocation {
    fn name(&self) -> &'static str {
        NAME
    }
    /// Reads only the pod's spec and the node's own state (see [`Plugin::is_node_local`]).
    fn is_node_local(&self) -> bool {
        true
    }
    fn as_pre_score(&self) -> Option<&dyn PreScorePlugin> {
        Some(self)
    }
    fn as_score(&self) -> Option<&dyn ScorePlugin> {
        Some(self)
    }
}

impl PreScorePlugin for NodeResourcesBalancedAllocation {
    fn pre_score(
        &self,
        state: &mut CycleState,
        pod: &PodInfo,
        _snapshot: &Snapshot,
        _feasible: &[usize],
    ) -> Status {
        let pod_requests = self.scorer.pod_requests(pod);
        if ResourceAllocationScorer::is_best_effort(&pod_requests) {
            // Scoring best-effort pods piles them onto one node (kubernetes/kubernetes#129138).
            return Status::skip();
        }
        state.write(PRE_SCORE_STATE_KEY, PreScoreState { pod_requests });
        Status::success()
    }
}

impl ScorePlugin for NodeResourcesBalancedAllocation {
    fn has_score_extensions(&self) -> bool {
        // Its scores are final (no NormalizeScore).
        false
    }

    fn score(&self, state: &CycleState, pod: &PodInfo, node: &NodeInfo) -> Result<i64, Status> {
        if let Some(s) = state.read::<PreScoreState>(PRE_SCORE_STATE_KEY) {
            return Ok(self.score_with(node, &s.pod_requests));
        }
        // Without PreScore, as kube-scheduler: compute here, and give best-effort pods 0.
        let pod_requests = self.scorer.pod_requests(pod);
        if ResourceAllocationScorer::is_best_effort(&pod_requests) {
            return Ok(0);
        }
        Ok(self.score_with(node, &pod_requests))
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use flotilla_model::api::{Node, Pod};
    use serde_json::{json, Value};

    use super::*;
    use crate::plugins::testing::{node, pod, run_score};

    /// `makeNode` of kube-scheduler's noderesources tests.
    fn make_node(name: &str, milli_cpu: i64, memory: i64, extended: &[(&str, i64)]) -> Arc<Node> {
        let mut list = serde_json::Map::new();
        list.insert("cpu".into(), json!(format!("{milli_cpu}m")));
        list.insert("memory".into(), json!(memory.to_string()));
        for (k, v) in extended {
            list.insert((*k).into(), json!(v.to_string()));
        }
        node(json!({"metadata": {"name": name}, "status": {"capacity": list, "allocatable": list}}))
    }

    fn spec_pod(name: &str, node_name: &str, containers: &[&[(&str, &str)]]) -> Arc<Pod> {
        let cs: Vec<Value> = containers
            .iter()
            .enumerate()
            .map(|(i, r)| {
                let m: serde_json::Map<String, Value> =
                    r.iter().map(|(k, v)| (k.to_string(), json!(v))).collect();
                json!({"name": format!("c{i}"), "resources": {"requests": m}})
            })
            .collect();
        pod(json!({"metadata": {"name": name}, "spec": {"nodeName": node_name, "containers": cs}}))
    }

    // The pod specs of balanced_allocation_test.go.
    const CPU_AND_MEMORY: &[&[(&str, &str)]] = &[
        &[("cpu", "1000m"), ("memory", "2000")],
        &[("cpu", "2000m"), ("memory", "3000")],
    ];
    const CPU_ONLY: &[&[(&str, &str)]] = &[
        &[("cpu", "1000m"), ("memory", "0")],
        &[("cpu", "2000m"), ("memory", "0")],
    ];
    const MEMORY_ONLY: &[&[(&str, &str)]] = &[
        &[("cpu", "0"), ("memory", "2000")],
        &[("cpu", "0"), ("memory", "3000")],
    ];
    const CPU_AND_MEMORY_AND_GPU: &[&[(&str, &str)]] = &[
        &[("cpu", "1000m"), ("memory", "2000")],
        &[
            ("cpu", "2000m"),
            ("memory", "3000"),
            ("nvidia.com/gpu", "3"),
        ],
    ];

    fn args(resources: &[&str]) -> NodeResourcesBalancedAllocationArgs {
        NodeResourcesBalancedAllocationArgs {
            resources: resources.iter().map(|r| ResourceSpec::new(r, 1)).collect(),
        }
    }

    fn scores(
        a: NodeResourcesBalancedAllocationArgs,
        p: &Arc<Pod>,
        nodes: &[Arc<Node>],
        existing: &[Arc<Pod>],
    ) -> Option<Vec<i64>> {
        let plugin = NodeResourcesBalancedAllocation::new(a).expect("valid args");
        run_score(&plugin, p, &Snapshot::new(nodes, existing, &[]))
    }

    #[test]
    fn balanced_allocation_table() {
        // TestNodeResourcesBalancedAllocation at v1.34: the old formula, with best-effort pods
        // skipped in PreScore. The expected scores are the "with pod" scores kube-scheduler's
        // table records for the v1.34 formula; the two DRA cases are not reproduced.
        let d = || args(&["cpu", "memory"]);
        let none = pod(json!({"metadata": {"name": "p"}, "spec": {}}));
        let cpu_and_memory = spec_pod("p", "", CPU_AND_MEMORY);
        let cpu_only = spec_pod("p", "", CPU_ONLY);

        // Best-effort pods: nothing scheduled; pods without containers; pods with containers;
        // pods with resources; zero node resources: PreScore skips.
        let nodes = [
            make_node("node1", 4000, 10000, &[]),
            make_node("node2", 4000, 10000, &[]),
        ];
        assert_eq!(
            scores(d(), &none, &nodes, &[]),
            None,
            "nothing scheduled, nothing requested"
        );
        let bare = |n: &str, i: u32| {
            pod(json!({"metadata": {"name": format!("b{i}")}, "spec": {"nodeName": n}}))
        };
        assert_eq!(
            scores(
                d(),
                &none,
                &nodes,
                &[bare("node1", 1), bare("node1", 2), bare("node2", 3)]
            ),
            None
        );
        let with_container = |i: u32| {
            pod(
                json!({"metadata": {"name": format!("w{i}")}, "spec": {"nodeName": "node1", "containers": [{"name": "c"}]}}),
            )
        };
        let small = [
            make_node("node1", 250, 1000 * 1024 * 1024, &[]),
            make_node("node2", 250, 1000 * 1024 * 1024, &[]),
        ];
        assert_eq!(
            scores(d(), &none, &small, &[with_container(1), with_container(2)]),
            None
        );
        let big = [
            make_node("node1", 10000, 20000, &[]),
            make_node("node2", 10000, 20000, &[]),
        ];
        let existing = [
            spec_pod("a", "node1", CPU_ONLY),
            spec_pod("b", "node1", CPU_ONLY),
            spec_pod("c", "node2", CPU_ONLY),
            spec_pod("d", "node2", CPU_AND_MEMORY),
        ];
        assert_eq!(
            scores(d(), &none, &big, &existing),
            None,
            "no resources requested, pods scheduled with resources"
        );
        let zero = [make_node("node1", 0, 0, &[]), make_node("node2", 0, 0, &[])];
        assert_eq!(
            scores(
                d(),
                &none,
                &zero,
                &[
                    spec_pod("a", "node1", CPU_ONLY),
                    spec_pod("d", "node2", CPU_AND_MEMORY)
                ]
            ),
            None
        );

        // CPU 3000/4000 and memory 5000/10000: std 0.125 → 87; node2 balanced → 100.
        let nodes = [
            make_node("node1", 4000, 10000, &[]),
            make_node("node2", 6000, 10000, &[]),
        ];
        assert_eq!(
            scores(d(), &cpu_and_memory, &nodes, &[]),
            Some(vec![87, 100]),
            "differently sized nodes"
        );

        let existing = [
            spec_pod("a", "node1", CPU_ONLY),
            spec_pod("b", "node2", CPU_AND_MEMORY),
        ];
        assert_eq!(
            scores(d(), &cpu_and_memory, &big, &existing),
            Some(vec![82, 95]),
            "pods scheduled with resources"
        );
        let mixed = [
            make_node("node1", 10000, 20000, &[]),
            make_node("node2", 10000, 50000, &[]),
        ];
        assert_eq!(
            scores(d(), &cpu_and_memory, &mixed, &existing),
            Some(vec![82, 80]),
            "differently sized nodes"
        );

        let min_max = [
            make_node("node1", 3000, 5000, &[]),
            make_node("node2", 3000, 5000, &[]),
        ];
        let memory_only = spec_pod("p", "", MEMORY_ONLY);
        assert_eq!(
            scores(
                d(),
                &memory_only,
                &min_max,
                &[spec_pod("a", "node1", CPU_ONLY)]
            ),
            Some(vec![100, 50]),
            "nodes to reach min/max score"
        );

        let at_capacity = [
            make_node("node1", 6000, 10000, &[]),
            make_node("node2", 6000, 10000, &[]),
        ];
        assert_eq!(
            scores(d(), &cpu_only, &at_capacity, &existing),
            Some(vec![50, 75]),
            "requested resources at node capacity"
        );

        // Three resources: the population standard deviation.
        let gpu_nodes = [
            make_node("node1", 3500, 40000, &[("nvidia.com/gpu", 8)]),
            make_node("node2", 3500, 40000, &[("nvidia.com/gpu", 8)]),
        ];
        let existing = [
            spec_pod("a", "node1", CPU_AND_MEMORY_AND_GPU),
            spec_pod("b", "node2", CPU_AND_MEMORY),
        ];
        let gpu_pod = spec_pod("p", "", &[&[("memory", "0"), ("nvidia.com/gpu", "1")]]);
        assert_eq!(
            scores(
                args(&["cpu", "memory", "nvidia.com/gpu"]),
                &gpu_pod,
                &gpu_nodes,
                &existing
            ),
            Some(vec![70, 65]),
            "include scalar resource on a node for balanced resource allocation"
        );

        // A scalar resource the pod does not request is left out.
        let one_gpu = [
            make_node("node1", 3500, 40000, &[("nvidia.com/gpu", 8)]),
            make_node("node2", 3500, 40000, &[]),
        ];
        assert_eq!(
            scores(
                args(&["cpu", "memory", "nvidia.com/gpu"]),
                &cpu_and_memory,
                &one_gpu,
                &[]
            ),
            Some(vec![63, 63]),
            "node without the scalar resource should skip the scalar resource"
        );
    }

    #[test]
    fn score_without_pre_score() {
        // "resources requested, pods scheduled with resources if PreScore not called".
        let plugin =
            NodeResourcesBalancedAllocation::new(NodeResourcesBalancedAllocationArgs::default())
                .unwrap();
        let big = [
            make_node("node1", 10000, 20000, &[]),
            make_node("node2", 10000, 20000, &[]),
        ];
        let existing = [
            spec_pod("a", "node1", CPU_ONLY),
            spec_pod("b", "node2", CPU_AND_MEMORY),
        ];
        let snapshot = Snapshot::new(&big, &existing, &[]);
        let p = PodInfo::new(spec_pod("p", "", CPU_AND_MEMORY));
        let got: Vec<i64> = snapshot
            .nodes
            .iter()
            .map(|n| plugin.score(&CycleState::new(), &p, n).unwrap())
            .collect();
        assert_eq!(got, vec![82, 95]);
        // A best-effort pod scores 0 when PreScore did not run.
        let none = PodInfo::new(pod(json!({"metadata": {"name": "p"}, "spec": {}})));
        assert_eq!(
            plugin.score(&CycleState::new(), &none, &snapshot.nodes[0]),
            Ok(0)
        );
    }

    #[test]
    fn args_validation() {
        // TestValidateNodeResourcesBalancedAllocationArgs.
        let fields = |a: NodeResourcesBalancedAllocationArgs| match a.validate(&FieldPath::root()) {
            Ok(()) => vec![],
            Err(errs) => errs.iter().map(|e| e.to_string()).collect::<Vec<_>>(),
        };
        assert!(fields(args(&["cpu", "memory"])).is_empty(), "valid config");
        let invalid = NodeResourcesBalancedAllocationArgs {
            resources: vec![ResourceSpec::new("cpu", 2), ResourceSpec::new("memory", 1)],
        };
        assert_eq!(
            fields(invalid),
            vec!["resources[0].weight: Invalid value: 2: must be 1"]
        );
        assert_eq!(
            fields(args(&["cpu", "cpu"])),
            vec![r#"resources[1].name: Duplicate value: "cpu""#]
        );

        // Defaults: empty resources are cpu and memory; a weight of 0 becomes 1.
        let mut a: NodeResourcesBalancedAllocationArgs = serde_json::from_value(json!({})).unwrap();
        a.set_defaults();
        assert_eq!(a, NodeResourcesBalancedAllocationArgs::default());
        let mut a: NodeResourcesBalancedAllocationArgs = serde_json::from_value(
            json!({"resources": [{"name": "cpu"}, {"name": "nvidia.com/gpu"}]}),
        )
        .unwrap();
        a.set_defaults();
        assert_eq!(
            a.resources,
            vec![
                ResourceSpec::new("cpu", 1),
                ResourceSpec::new("nvidia.com/gpu", 1)
            ]
        );
        assert!(NodeResourcesBalancedAllocation::new(a).is_ok());
    }
}
