//! DefaultBinder: the Bind plugin that binds a pod to its node through the API's `pods/binding`
//! subresource (kube-scheduler v1.34, pkg/scheduler/framework/plugins/defaultbinder).
//!
//! Flotilla's scheduler writes nothing itself: the plugin returns the [`Binding`] to write, and
//! the driver writes it (`Store::bind` in the simulator). It handles every pod.

use crate::framework::{BindPlugin, Binding, CycleState, Plugin, Status};
use crate::node_info::PodInfo;

/// The plugin's name in a KubeSchedulerConfiguration.
pub const NAME: &str = "DefaultBinder";

/// The DefaultBinder plugin (Bind).
#[derive(Clone, Copy, Debug, Default)]
pub struct DefaultBinder;

impl DefaultBinder {
    /// The plugin (it takes no args).
    pub fn new() -> DefaultBinder {
        DefaultBinder
    }
}

impl Plugin for DefaultBinder {
    fn name(&self) -> &'static str {
        NAME
    }
    fn as_bind(&self) -> Option<&dyn BindPlugin> {
        Some(self)
    }
}

impl BindPlugin for DefaultBinder {
    fn bind(&self, _state: &CycleState, pod: &PodInfo, node: &str) -> (Option<Binding>, Status) {
        (
            Some(Binding {
                namespace: pod.pod.metadata.namespace.clone(),
                name: pod.pod.metadata.name.clone(),
                node: node.to_string(),
            }),
            Status::success(),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plugins::testing::pod;

    #[test]
    fn binds_the_pod_to_the_node() {
        let p = PodInfo::new(pod(serde_json::json!({
            "metadata": {"name": "p", "namespace": "ns"},
            "spec": {"containers": [{"name": "c", "image": "i"}]}
        })));
        let (binding, status) = DefaultBinder::new().bind(&CycleState::new(), &p, "n1");
        assert!(status.is_success());
        assert_eq!(
            binding,
            Some(Binding {
                namespace: "ns".into(),
                name: "p".into(),
                node: "n1".into()
            })
        );
    }
}
