//! PrioritySort: the active queue's order, higher `spec.priority` first and, at equal priority,
//! the pod that entered the queue earlier first (kube-scheduler v1.34,
//! pkg/scheduler/framework/plugins/queuesort/priority_sort.go).
//!
//! `less(a, b) = prio(a) > prio(b) || (prio(a) == prio(b) && a.timestamp < b.timestamp)`, where a
//! pod without a resolved priority counts as 0 (`corev1helpers.PodPriority`).

use crate::framework::{Plugin, QueueSortPlugin, QueuedPodInfo};

/// The plugin's name in a KubeSchedulerConfiguration.
pub const NAME: &str = "PrioritySort";

/// The PrioritySort plugin; it takes no arguments.
#[derive(Clone, Copy, Debug, Default)]
pub struct PrioritySort;

impl PrioritySort {
    /// The plugin (kube-scheduler's `queuesort.New`).
    pub fn new() -> PrioritySort {
        PrioritySort
    }
}

impl Plugin for PrioritySort {
    fn name(&self) -> &'static str {
        NAME
    }
    fn as_queue_sort(&self) -> Option<&dyn QueueSortPlugin> {
        Some(self)
    }
}

impl QueueSortPlugin for PrioritySort {
    fn less(&self, a: &QueuedPodInfo, b: &QueuedPodInfo) -> bool {
        let (p1, p2) = (a.pod.pod.priority(), b.pod.pod.priority());
        p1 > p2 || (p1 == p2 && a.timestamp < b.timestamp)
    }
}

#[cfg(test)]
mod tests {
    //! kube-scheduler v1.34 queuesort/priority_sort_test.go, TestLess.
    use flotilla_model::Time;
    use serde_json::json;

    use super::*;
    use crate::node_info::PodInfo;
    use crate::plugins::testing::pod;

    fn queued(priority: i32, timestamp: Time) -> QueuedPodInfo {
        QueuedPodInfo {
            pod: PodInfo::new(pod(
                json!({"metadata": {"name": "p"}, "spec": {"priority": priority}}),
            )),
            initial_attempt_timestamp: timestamp,
            timestamp,
            attempts: 0,
        }
    }

    #[test]
    fn less_table() {
        let (low, high) = (10, 100);
        let t1 = Time::from_secs(1);
        let t2 = Time::from_secs(2);
        let cases = [
            (
                "p1.priority less than p2.priority",
                queued(low, t1),
                queued(high, t1),
                false,
            ),
            (
                "p1.priority greater than p2.priority",
                queued(high, t1),
                queued(low, t1),
                true,
            ),
            (
                "equal priority. p1 is added to schedulingQ earlier than p2",
                queued(high, t1),
                queued(high, t2),
                true,
            ),
            (
                "equal priority. p2 is added to schedulingQ earlier than p1",
                queued(high, t2),
                queued(high, t1),
                false,
            ),
        ];
        for (name, p1, p2, want) in cases {
            assert_eq!(PrioritySort::new().less(&p1, &p2), want, "{name}");
        }
    }

    #[test]
    fn missing_priority_counts_as_zero() {
        let t = Time::from_secs(1);
        let none = QueuedPodInfo {
            pod: PodInfo::new(pod(json!({"metadata": {"name": "p"}}))),
            initial_attempt_timestamp: t,
            timestamp: t,
            attempts: 0,
        };
        assert!(PrioritySort::new().less(&queued(1, t), &none));
        assert!(!PrioritySort::new().less(&none, &queued(0, t)));
    }
}
