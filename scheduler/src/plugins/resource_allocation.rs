//! The resource-allocation scorer shared by NodeResourcesFit and NodeResourcesBalancedAllocation
//! (kube-scheduler v1.34, `noderesources/resource_allocation.go`).
//!
//! For each configured resource the scorer pairs what the node can give (`allocatable`) with what
//! would be requested on the node once the pod is there (`requested`), and hands the pairs to a
//! strategy. Which requests count:
//!
//! - the pod's requests are computed once per pod (PreScore). The Fit strategies count a
//!   container without a CPU or memory request as requesting 100m CPU and 200 MiB
//!   ([`PodInfo::non_zero_requests`]); BalancedAllocation uses the real requests;
//! - on the node, CPU and memory come from [`NodeInfo::non_zero_requested`] for the Fit strategies
//!   and from [`NodeInfo::requested`] for BalancedAllocation; ephemeral storage and scalar
//!   resources always from [`NodeInfo::requested`];
//! - a scalar (extended, hugepages, …) resource the pod does not request, a resource the node
//!   does not list, a resource with allocatable 0 and any other name (`pods`) are left out, weight
//!   included.
//!
//! The strategies' per-resource formulas (integer arithmetic, Go's truncating division):
//!
//! - LeastAllocated (`least_allocated.go`): `(cap − req) · 100 / cap`, 0 when `req > cap`;
//! - MostAllocated (`most_allocated.go`): `min(req, cap) · 100 / cap`;
//!
//! both combined as `Σ score·weight / Σ weight`; RequestedToCapacityRatio
//! (`requested_to_capacity_ratio.go`) is [`BrokenLinearFunction`] of `req · 100 / cap`.

use serde::{Deserialize, Serialize};

use crate::framework::MAX_NODE_SCORE;
use crate::node_info::{is_scalar_resource_name, NodeInfo, PodInfo};

/// A resource and its weight in a scoring strategy (kube-scheduler's `config.ResourceSpec`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct ResourceSpec {
    /// The resource name (`cpu`, `memory`, `nvidia.com/gpu`).
    pub name: String,
    /// The weight, 1–100 (0 is defaulted to 1 by [`ResourceSpec::set_default_weight`]).
    pub weight: i64,
}

impl ResourceSpec {
    /// A resource with a weight.
    pub fn new(name: &str, weight: i64) -> ResourceSpec {
        ResourceSpec {
            name: name.to_string(),
            weight,
        }
    }

    /// kube-scheduler's v1 defaulting: an unset (0) weight becomes 1.
    pub fn set_default_weight(&mut self) {
        if self.weight == 0 {
            self.weight = 1;
        }
    }
}

/// kube-scheduler's default resources for the Fit strategies and BalancedAllocation
/// (`defaultResourceSpec`: cpu and memory, weight 1 each).
pub fn default_resources() -> Vec<ResourceSpec> {
    vec![ResourceSpec::new("cpu", 1), ResourceSpec::new("memory", 1)]
}

/// A configured resource, resolved once so the per-node code does no string matching for the
/// native resources.
#[derive(Clone, Debug, PartialEq, Eq)]
enum ResourceKind {
    Cpu,
    Memory,
    EphemeralStorage,
    /// An extended, hugepages, attachable-volumes or prefixed-native resource.
    Scalar(String),
    /// Any other name (`pods`, `storage`): never scored.
    Other(String),
}

impl ResourceKind {
    fn from_name(name: &str) -> ResourceKind {
        match name {
            "cpu" => ResourceKind::Cpu,
            "memory" => ResourceKind::Memory,
            "ephemeral-storage" => ResourceKind::EphemeralStorage,
            other if is_scalar_resource_name(other) => ResourceKind::Scalar(other.to_string()),
            other => ResourceKind::Other(other.to_string()),
        }
    }
}

/// Computes, per configured resource, the node's allocatable amount and the amount requested
/// with the pod (kube-scheduler's `resourceAllocationScorer`).
#[derive(Clone, Debug)]
pub(crate) struct ResourceAllocationScorer {
    resources: Vec<(ResourceKind, i64)>,
    /// Use the real requests for CPU and memory (BalancedAllocation) rather than the non-zero
    /// ones (the Fit strategies).
    use_requested: bool,
}

impl ResourceAllocationScorer {
    /// A scorer over `resources` (already validated).
    pub(crate) fn new(resources: &[ResourceSpec], use_requested: bool) -> ResourceAllocationScorer {
        ResourceAllocationScorer {
            resources: resources
                .iter()
                .map(|r| (ResourceKind::from_name(&r.name), r.weight))
                .collect(),
            use_requested,
        }
    }

    /// Whether no resource is configured (kube-scheduler then fails Score with an error).
    pub(crate) fn is_empty(&self) -> bool {
        self.resources.is_empty()
    }

    /// The pod's request of each configured resource, in configuration order
    /// (`calculatePodResourceRequestList`).
    pub(crate) fn pod_requests(&self, pod: &PodInfo) -> Vec<i64> {
        self.resources
            .iter()
            .map(|(kind, _)| match kind {
                ResourceKind::Cpu if !self.use_requested => pod.non_zero_requests.milli_cpu,
                ResourceKind::Memory if !self.use_requested => pod.non_zero_requests.memory,
                ResourceKind::Cpu => pod.requests.milli_cpu,
                ResourceKind::Memory => pod.requests.memory,
                ResourceKind::EphemeralStorage => pod.requests.ephemeral_storage,
                ResourceKind::Scalar(name) | ResourceKind::Other(name) => pod.requests.get(name),
            })
            .collect()
    }

    /// Whether the pod requests none of the configured resources (`isBestEffortPod`).
    pub(crate) fn is_best_effort(pod_requests: &[i64]) -> bool {
        pod_requests.iter().all(|&r| r == 0)
    }

    /// Calls `f(allocatable, requested, weight)` for every configured resource that takes part in
    /// the score on `node`, in configuration order (`calculateResourceAllocatableRequest` and the
    /// `alloc == 0` skip of `score`). Does not allocate.
    #[inline]
    pub(crate) fn for_each(
        &self,
        node: &NodeInfo,
        pod_requests: &[i64],
        mut f: impl FnMut(i64, i64, i64),
    ) {
        let requested = if self.use_requested {
            &node.requested
        } else {
            &node.non_zero_requested
        };
        for ((kind, weight), &pod_request) in self.resources.iter().zip(pod_requests) {
            let (alloc, req) = match kind {
                ResourceKind::Cpu => (
                    node.allocatable.milli_cpu,
                    requested.milli_cpu.wrapping_add(pod_request),
                ),
                ResourceKind::Memory => (
                    node.allocatable.memory,
                    requested.memory.wrapping_add(pod_request),
                ),
                ResourceKind::EphemeralStorage => (
                    node.allocatable.ephemeral_storage,
                    node.requested.ephemeral_storage.wrapping_add(pod_request),
                ),
                // A scalar resource the pod does not request is left out of the score.
                ResourceKind::Scalar(_) if pod_request == 0 => continue,
                ResourceKind::Scalar(name) => match node.allocatable.scalar_resources.get(name) {
                    Some(&alloc) => (alloc, node.requested.get(name).wrapping_add(pod_request)),
                    None => continue,
                },
                ResourceKind::Other(_) => continue,
            };
            if alloc == 0 {
                continue;
            }
            f(alloc, req, *weight);
        }
    }
}

/// LeastAllocated's per-resource score: the unused share, 0–100 (`leastRequestedScore`).
#[inline]
pub(crate) fn least_requested_score(requested: i64, capacity: i64) -> i64 {
    if capacity == 0 || requested > capacity {
        return 0;
    }
    capacity
        .wrapping_sub(requested)
        .wrapping_mul(MAX_NODE_SCORE)
        / capacity
}

/// MostAllocated's per-resource score: the used share, 0–100, requests above capacity counted as
/// capacity (`mostRequestedScore`).
#[inline]
pub(crate) fn most_requested_score(requested: i64, capacity: i64) -> i64 {
    if capacity == 0 {
        return 0;
    }
    requested.min(capacity).wrapping_mul(MAX_NODE_SCORE) / capacity
}

/// A piecewise-linear function of utilization given by points (kube-scheduler's
/// `helper.BuildBrokenLinearFunction`, plugins/helper/shape_score.go): the first point's score
/// below the first point, the last point's score above the last, and between two points
/// `s(i−1) + (s(i) − s(i−1)) · (p − u(i−1)) / (u(i) − u(i−1))` with truncating division.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BrokenLinearFunction {
    /// (utilization, score) pairs with strictly increasing utilization (validated).
    points: Vec<(i64, i64)>,
}

impl BrokenLinearFunction {
    /// A function through `points` of (utilization, score); the utilizations must increase
    /// strictly and there must be at least one point (as the args validation guarantees).
    pub fn new(points: Vec<(i64, i64)>) -> BrokenLinearFunction {
        BrokenLinearFunction { points }
    }

    /// The function's value at utilization `p`.
    pub fn eval(&self, p: i64) -> i64 {
        for (i, &(u, s)) in self.points.iter().enumerate() {
            if p <= u {
                if i == 0 {
                    return s;
                }
                let (u0, s0) = self.points[i - 1];
                return s0 + (s - s0) * (p - u0) / (u - u0);
            }
        }
        self.points.last().map_or(0, |&(_, s)| s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn broken_linear_function_matches_kube_scheduler() {
        // requested_to_capacity_ratio_test.go, TestBrokenLinearFunction.
        // (the points, then (p, expected value) pairs)
        type Case = (Vec<(i64, i64)>, Vec<(i64, i64)>);
        let cases: Vec<Case> = vec![
            (
                vec![(10, 1), (90, 9)],
                vec![
                    (-10, 1),
                    (0, 1),
                    (9, 1),
                    (10, 1),
                    (15, 1),
                    (19, 1),
                    (20, 2),
                    (89, 8),
                    (90, 9),
                    (99, 9),
                    (100, 9),
                    (110, 9),
                ],
            ),
            (
                vec![(0, 2), (40, 10), (100, 0)],
                vec![
                    (-10, 2),
                    (0, 2),
                    (20, 6),
                    (30, 8),
                    (40, 10),
                    (70, 5),
                    (100, 0),
                    (110, 0),
                ],
            ),
            (
                vec![(0, 2), (40, 2), (100, 2)],
                vec![
                    (-10, 2),
                    (0, 2),
                    (20, 2),
                    (30, 2),
                    (40, 2),
                    (70, 2),
                    (100, 2),
                    (110, 2),
                ],
            ),
        ];
        for (points, assertions) in cases {
            let f = BrokenLinearFunction::new(points.clone());
            for (p, want) in assertions {
                assert_eq!(f.eval(p), want, "points {points:?}, p {p}");
            }
        }
    }

    #[test]
    fn per_resource_scores() {
        assert_eq!(least_requested_score(3000, 4000), 25);
        assert_eq!(least_requested_score(5000, 4000), 0);
        assert_eq!(least_requested_score(0, 0), 0);
        assert_eq!(most_requested_score(3000, 4000), 75);
        assert_eq!(most_requested_score(5000, 4000), 100);
        assert_eq!(most_requested_score(1, 0), 0);
    }

    #[test]
    fn resource_names_resolve() {
        assert_eq!(ResourceKind::from_name("cpu"), ResourceKind::Cpu);
        assert_eq!(
            ResourceKind::from_name("nvidia.com/gpu"),
            ResourceKind::Scalar("nvidia.com/gpu".into())
        );
        assert_eq!(
            ResourceKind::from_name("hugepages-2Mi"),
            ResourceKind::Scalar("hugepages-2Mi".into())
        );
        assert_eq!(
            ResourceKind::from_name("pods"),
            ResourceKind::Other("pods".into())
        );
    }
}
