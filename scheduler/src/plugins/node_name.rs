//! NodeName: a pod that names a node in `spec.nodeName` fits only that node (kube-scheduler
//! v1.34, `nodename/node_name.go`). Other nodes are rejected as `UnschedulableAndUnresolvable`
//! with `node(s) didn't match the requested node name`: preemption cannot change a node's name.

use crate::framework::{CycleState, FilterPlugin, Plugin, Status};
use crate::node_info::{NodeInfo, PodInfo};

/// The plugin's name in a KubeSchedulerConfiguration.
pub const NAME: &str = "NodeName";
/// The reason of a rejection (`ErrReason`).
pub const ERR_REASON: &str = "node(s) didn't match the requested node name";

/// Whether `pod` may run on `node` as far as its `spec.nodeName` goes (kube-scheduler's `Fits`).
pub fn fits(pod: &PodInfo, node: &NodeInfo) -> bool {
    let wanted = &pod.pod.spec.node_name;
    wanted.is_empty() || wanted == node.name()
}

/// The NodeName plugin (Filter). It has no args.
#[derive(Clone, Copy, Debug, Default)]
pub struct NodeName;

impl NodeName {
    /// The plugin (it has no args).
    pub fn new() -> NodeName {
        NodeName
    }
}

impl Plugin for NodeName {
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
}

impl FilterPlugin for NodeName {
    fn filter(&self, _state: &CycleState, pod: &PodInfo, node: &NodeInfo) -> Status {
        if fits(pod, node) {
            Status::success()
        } else {
            Status::unresolvable(ERR_REASON)
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::plugins::testing::{node, pod, run_filter};
    use crate::snapshot::Snapshot;

    #[test]
    fn node_name_table() {
        // TestNodeName (node_name_test.go), all 3 cases.
        let cases = [
            ("no host specified", "", Status::success()),
            ("host matches", "foo", Status::success()),
            (
                "host doesn't match",
                "bar",
                Status::unresolvable(ERR_REASON),
            ),
        ];
        let snapshot = Snapshot::new(&[node(json!({"metadata": {"name": "foo"}}))], &[], &[]);
        for (name, node_name, want) in cases {
            let p = pod(json!({"metadata": {"name": "p"}, "spec": {"nodeName": node_name}}));
            assert_eq!(
                run_filter(&NodeName::new(), &p, &snapshot),
                vec![want],
                "{name}"
            );
        }
    }
}
