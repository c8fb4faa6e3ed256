//! NodeUnschedulable: keeps pods off cordoned nodes (`spec.unschedulable: true`) unless the pod
//! tolerates the `node.kubernetes.io/unschedulable:NoSchedule` taint (kube-scheduler v1.34,
//! `nodeunschedulable/node_unschedulable.go`). Rejections are `UnschedulableAndUnresolvable` with
//! `node(s) were unschedulable`: preemption cannot uncordon a node.

use std::sync::OnceLock;

use flotilla_model::api::{tolerations_tolerate_taint, Taint, TaintEffect};

use crate::framework::{CycleState, FilterPlugin, Plugin, Status};
use crate::node_info::{NodeInfo, PodInfo};

/// The plugin's name in a KubeSchedulerConfiguration.
pub const NAME: &str = "NodeUnschedulable";
/// The reason of a rejection (`ErrReasonUnschedulable`).
pub const ERR_REASON_UNSCHEDULABLE: &str = "node(s) were unschedulable";
/// The taint key a pod tolerates to run on an unschedulable node (`v1.TaintNodeUnschedulable`).
pub const TAINT_NODE_UNSCHEDULABLE: &str = "node.kubernetes.io/unschedulable";

/// `{key: node.kubernetes.io/unschedulable, effect: NoSchedule}`, built once.
fn unschedulable_taint() -> &'static Taint {
    static TAINT: OnceLock<Taint> = OnceLock::new();
    TAINT.get_or_init(|| Taint::new(TAINT_NODE_UNSCHEDULABLE, "", TaintEffect::NoSchedule))
}

/// Whether `pod` may run on `node` as far as cordoning goes.
pub fn fits(pod: &PodInfo, node: &NodeInfo) -> bool {
    // The tolerations are only looked at for the (rare) unschedulable nodes.
    !node.unschedulable
        || tolerations_tolerate_taint(&pod.pod.spec.tolerations, unschedulable_taint())
}

/// The NodeUnschedulable plugin (Filter). It has no args.
#[derive(Clone, Copy, Debug, Default)]
pub struct NodeUnschedulable;

impl NodeUnschedulable {
    /// The plugin (it has no args).
    pub fn new() -> NodeUnschedulable {
        NodeUnschedulable
    }
}

impl Plugin for NodeUnschedulable {
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

impl FilterPlugin for NodeUnschedulable {
    fn filter(&self, _state: &CycleState, pod: &PodInfo, node: &NodeInfo) -> Status {
        if fits(pod, node) {
            Status::success()
        } else {
            Status::unresolvable(ERR_REASON_UNSCHEDULABLE)
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
    fn node_unschedulable_table() {
        // TestNodeUnschedulable (node_unschedulable_test.go), all 3 cases, plus tolerations that
        // do not match.
        let plain = pod(json!({"metadata": {"name": "p"}, "spec": {}}));
        let tolerating = pod(json!({"metadata": {"name": "p"}, "spec": {"tolerations": [
            {"key": "node.kubernetes.io/unschedulable", "effect": "NoSchedule"}
        ]}}));
        let wrong_effect = pod(json!({"metadata": {"name": "p"}, "spec": {"tolerations": [
            {"key": "node.kubernetes.io/unschedulable", "effect": "NoExecute"}
        ]}}));
        let exists_all = pod(
            json!({"metadata": {"name": "p"}, "spec": {"tolerations": [{"operator": "Exists"}]}}),
        );
        let cordoned = Snapshot::new(
            &[node(
                json!({"metadata": {"name": "n"}, "spec": {"unschedulable": true}}),
            )],
            &[],
            &[],
        );
        let normal = Snapshot::new(
            &[node(
                json!({"metadata": {"name": "n"}, "spec": {"unschedulable": false}}),
            )],
            &[],
            &[],
        );
        let plugin = NodeUnschedulable::new();
        assert_eq!(
            run_filter(&plugin, &plain, &cordoned),
            vec![Status::unresolvable(ERR_REASON_UNSCHEDULABLE)],
            "Does not schedule pod to unschedulable node"
        );
        assert_eq!(
            run_filter(&plugin, &plain, &normal),
            vec![Status::success()],
            "Schedule pod to normal node"
        );
        assert_eq!(
            run_filter(&plugin, &tolerating, &cordoned),
            vec![Status::success()],
            "Schedule pod with toleration"
        );
        assert_eq!(
            run_filter(&plugin, &wrong_effect, &cordoned),
            vec![Status::unresolvable(ERR_REASON_UNSCHEDULABLE)]
        );
        assert_eq!(
            run_filter(&plugin, &exists_all, &cordoned),
            vec![Status::success()]
        );
    }
}
