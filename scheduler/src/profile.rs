//! A scheduling profile: the plugins enabled at each extension point, in order, with score
//! weights — what a `profiles[]` entry of a KubeSchedulerConfiguration becomes once defaults and
//! `multiPoint` are expanded (kube-scheduler's `frameworkImpl`).

use std::sync::Arc;

use crate::framework::Plugin;

/// A plugin at the Score extension point, with its weight.
#[derive(Clone)]
pub struct WeightedPlugin {
    /// The plugin.
    pub plugin: Arc<dyn Plugin>,
    /// The weight its normalized score is multiplied by.
    pub weight: i64,
}

impl std::fmt::Debug for WeightedPlugin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}(weight {})", self.plugin.name(), self.weight)
    }
}

/// One scheduling profile, selected by a pod's `spec.schedulerName`.
#[derive(Clone, Default)]
pub struct Profile {
    /// The `schedulerName` this profile serves.
    pub scheduler_name: String,
    /// PreEnqueue plugins, in order.
    pub pre_enqueue: Vec<Arc<dyn Plugin>>,
    /// The QueueSort plugin.
    pub queue_sort: Option<Arc<dyn Plugin>>,
    /// PreFilter plugins, in order.
    pub pre_filter: Vec<Arc<dyn Plugin>>,
    /// Filter plugins, in order; the first rejection of a node ends its evaluation.
    pub filter: Vec<Arc<dyn Plugin>>,
    /// PostFilter plugins (preemption), in order.
    pub post_filter: Vec<Arc<dyn Plugin>>,
    /// PreScore plugins, in order.
    pub pre_score: Vec<Arc<dyn Plugin>>,
    /// Score plugins with weights, in order.
    pub score: Vec<WeightedPlugin>,
    /// Bind plugins, in order (the first that handles the pod binds it).
    pub bind: Vec<Arc<dyn Plugin>>,
    /// This profile's `percentageOfNodesToScore`, overriding the global one when set.
    pub percentage_of_nodes_to_score: Option<i32>,
}

impl std::fmt::Debug for Profile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let names = |v: &[Arc<dyn Plugin>]| v.iter().map(|p| p.name()).collect::<Vec<_>>();
        f.debug_struct("Profile")
            .field("scheduler_name", &self.scheduler_name)
            .field("pre_enqueue", &names(&self.pre_enqueue))
            .field("queue_sort", &self.queue_sort.as_ref().map(|p| p.name()))
            .field("pre_filter", &names(&self.pre_filter))
            .field("filter", &names(&self.filter))
            .field("post_filter", &names(&self.post_filter))
            .field("pre_score", &names(&self.pre_score))
            .field("score", &self.score)
            .field("bind", &names(&self.bind))
            .field(
                "percentage_of_nodes_to_score",
                &self.percentage_of_nodes_to_score,
            )
            .finish()
    }
}
