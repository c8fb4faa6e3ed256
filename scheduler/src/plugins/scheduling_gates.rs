//! SchedulingGates: a pod with `spec.schedulingGates` waits outside the active queue until every
//! gate is removed (kube-scheduler v1.34,
//! pkg/scheduler/framework/plugins/schedulinggates/scheduling_gates.go).
//!
//! PreEnqueue only: a pod without gates passes; a pod with gates gets
//! `waiting for scheduling gates: [a b]`, the gate names in spec order printed as Go prints a
//! string slice.

use crate::framework::{Code, Plugin, PreEnqueuePlugin, Status};
use crate::node_info::PodInfo;

/// The plugin's name in a KubeSchedulerConfiguration.
pub const NAME: &str = "SchedulingGates";

/// The SchedulingGates plugin; it takes no arguments.
#[derive(Clone, Copy, Debug, Default)]
pub struct SchedulingGates;

impl SchedulingGates {
    /// The plugin (kube-scheduler's `schedulinggates.New`).
    pub fn new() -> SchedulingGates {
        SchedulingGates
    }
}

impl Plugin for SchedulingGates {
    fn name(&self) -> &'static str {
        NAME
    }
    fn as_pre_enqueue(&self) -> Option<&dyn PreEnqueuePlugin> {
        Some(self)
    }
}

impl PreEnqueuePlugin for SchedulingGates {
    /// kube-scheduler answers a gated pod with UnschedulableAndUnresolvable; Flotilla's framework
    /// spells "not ready to enter the queue" as [`Code::Pending`], with kube-scheduler's message.
    fn pre_enqueue(&self, pod: &PodInfo) -> Status {
        let gates = &pod.pod.spec.scheduling_gates;
        if gates.is_empty() {
            return Status::success();
        }
        let names: Vec<&str> = gates.iter().map(|g| g.name.as_str()).collect();
        Status::new(
            Code::Pending,
            format!("waiting for scheduling gates: [{}]", names.join(" ")),
        )
    }
}

#[cfg(test)]
mod tests {
    //! kube-scheduler v1.34 schedulinggates/scheduling_gates_test.go, TestPreEnqueue.
    use serde_json::json;

    use super::*;
    use crate::plugins::testing::pod;

    #[test]
    fn pod_without_gates_passes() {
        let p = PodInfo::new(pod(json!({"metadata": {"name": "p"}})));
        assert_eq!(SchedulingGates::new().pre_enqueue(&p), Status::success());
    }

    #[test]
    fn pod_with_gates_waits() {
        let p = PodInfo::new(pod(json!({
            "metadata": {"name": "p"},
            "spec": {"schedulingGates": [{"name": "foo"}, {"name": "bar"}]}
        })));
        assert_eq!(
            SchedulingGates::new().pre_enqueue(&p),
            Status::new(Code::Pending, "waiting for scheduling gates: [foo bar]")
        );
    }
}
