//! The scheduling framework's contract: extension points as traits, the [`Status`] a plugin
//! returns, and the per-cycle [`CycleState`] plugins share.
//!
//! As in kube-scheduler (`pkg/scheduler/framework/interface.go`), a plugin is one value with a
//! name that implements any subset of the extension points. Here that is the [`Plugin`] trait,
//! whose `as_*` methods say which extension-point traits the plugin implements; a profile calls
//! each plugin at the points it takes part in, in the profile's order.
//!
//! Order of calls in one scheduling cycle for a pod (the "scheduling cycle" of kube-scheduler):
//! PreFilter (every plugin; may narrow the nodes or skip the plugin's Filter), Filter (per node,
//! in parallel), PostFilter (only when no node fits: preemption), PreScore, Score (per node, in
//! parallel), NormalizeScore, then Reserve and Permit on the chosen node, and Bind. All calls are
//! pure: plugins read the snapshot and the cycle state and return values.

use std::any::Any;
use std::collections::HashMap;
use std::fmt;

use crate::node_info::{NodeInfo, PodInfo};
use crate::snapshot::Snapshot;

/// The highest score a Score plugin may give a node after normalization (`MaxNodeScore`).
pub const MAX_NODE_SCORE: i64 = 100;
/// The lowest score a Score plugin may give a node (`MinNodeScore`).
pub const MIN_NODE_SCORE: i64 = 0;

/// What a plugin's answer means (kube-scheduler's `framework.Code`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Code {
    /// The plugin is content.
    Success,
    /// An internal error: the pod is retried with back-off.
    Error,
    /// The pod does not fit, but preemption might make room.
    Unschedulable,
    /// The pod does not fit, and preemption on this node cannot help.
    UnschedulableAndUnresolvable,
    /// Permit: wait before binding.
    Wait,
    /// PreFilter/PreScore: the plugin has nothing to do for this pod; its Filter/Score is skipped.
    Skip,
    /// PreEnqueue: the pod is not ready to be scheduled (scheduling gates).
    Pending,
}

/// A plugin's verdict with the reasons a user reads (`Insufficient cpu`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Status {
    /// What the verdict is.
    pub code: Code,
    /// Why, in kube-scheduler's words; empty for success.
    pub reasons: Vec<String>,
    /// The plugin that gave the verdict (set by the framework when it records the status).
    pub plugin: &'static str,
}

impl Status {
    /// Success with no reasons.
    pub fn success() -> Status {
        Status {
            code: Code::Success,
            reasons: Vec::new(),
            plugin: "",
        }
    }

    /// A verdict with one reason.
    pub fn new(code: Code, reason: impl Into<String>) -> Status {
        Status {
            code,
            reasons: vec![reason.into()],
            plugin: "",
        }
    }

    /// A verdict with several reasons.
    pub fn with_reasons(code: Code, reasons: Vec<String>) -> Status {
        Status {
            code,
            reasons,
            plugin: "",
        }
    }

    /// `Unschedulable` with one reason.
    pub fn unschedulable(reason: impl Into<String>) -> Status {
        Status::new(Code::Unschedulable, reason)
    }

    /// `UnschedulableAndUnresolvable` with one reason.
    pub fn unresolvable(reason: impl Into<String>) -> Status {
        Status::new(Code::UnschedulableAndUnresolvable, reason)
    }

    /// `Skip`.
    pub fn skip() -> Status {
        Status {
            code: Code::Skip,
            reasons: Vec::new(),
            plugin: "",
        }
    }

    /// An internal error.
    pub fn error(reason: impl Into<String>) -> Status {
        Status::new(Code::Error, reason)
    }

    /// Whether the verdict is success.
    pub fn is_success(&self) -> bool {
        self.code == Code::Success
    }

    /// Whether the verdict rejects the pod (Unschedulable or UnschedulableAndUnresolvable).
    pub fn is_rejected(&self) -> bool {
        matches!(
            self.code,
            Code::Unschedulable | Code::UnschedulableAndUnresolvable
        )
    }

    /// The same verdict, attributed to `plugin`.
    pub fn from_plugin(mut self, plugin: &'static str) -> Status {
        self.plugin = plugin;
        self
    }
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.reasons.is_empty() {
            write!(f, "{:?}", self.code)
        } else {
            f.write_str(&self.reasons.join(", "))
        }
    }
}

/// Data plugins keep for the length of one scheduling cycle, keyed by plugin name.
///
/// PreFilter and PreScore write; Filter and Score (which run in parallel over nodes) only read,
/// so the state is `Sync` and needs no locking.
#[derive(Default)]
pub struct CycleState {
    data: HashMap<&'static str, Box<dyn Any + Send + Sync>>,
    /// Plugins whose Filter is skipped for this pod (their PreFilter returned Skip).
    pub skip_filter_plugins: Vec<&'static str>,
    /// Plugins whose Score is skipped for this pod (their PreScore returned Skip).
    pub skip_score_plugins: Vec<&'static str>,
}

impl fmt::Debug for CycleState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut keys: Vec<&&str> = self.data.keys().collect();
        keys.sort();
        f.debug_struct("CycleState").field("keys", &keys).finish()
    }
}

impl CycleState {
    /// An empty state.
    pub fn new() -> CycleState {
        CycleState::default()
    }

    /// Stores `value` under `key` (normally the plugin's name).
    pub fn write<T: Any + Send + Sync>(&mut self, key: &'static str, value: T) {
        self.data.insert(key, Box::new(value));
    }

    /// Reads the value stored under `key`, if it has type `T`.
    pub fn read<T: Any + Send + Sync>(&self, key: &'static str) -> Option<&T> {
        self.data.get(key).and_then(|b| b.downcast_ref::<T>())
    }

    /// Mutable access to the value stored under `key`, if it has type `T` (PreFilter extensions
    /// update their state in place when preemption adds or removes pods).
    pub fn read_mut<T: Any + Send + Sync>(&mut self, key: &'static str) -> Option<&mut T> {
        self.data.get_mut(key).and_then(|b| b.downcast_mut::<T>())
    }
}

/// A node's score from one plugin.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NodeScore {
    /// Index of the node in the snapshot.
    pub node: usize,
    /// The score (raw before NormalizeScore, 0–100 after).
    pub score: i64,
}

/// The nodes a PreFilter plugin narrowed the search to (`PreFilterResult.NodeNames`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PreFilterResult {
    /// Snapshot indices of the only nodes worth filtering; `None` means all nodes.
    pub nodes: Option<Vec<usize>>,
}

/// A plugin: a name and the extension points it implements.
pub trait Plugin: Send + Sync {
    /// The plugin's name as in a KubeSchedulerConfiguration (`NodeResourcesFit`).
    fn name(&self) -> &'static str;

    /// The PreEnqueue part, if any.
    fn as_pre_enqueue(&self) -> Option<&dyn PreEnqueuePlugin> {
        None
    }
    /// The QueueSort part, if any.
    fn as_queue_sort(&self) -> Option<&dyn QueueSortPlugin> {
        None
    }
    /// The PreFilter part, if any.
    fn as_pre_filter(&self) -> Option<&dyn PreFilterPlugin> {
        None
    }
    /// The Filter part, if any.
    fn as_filter(&self) -> Option<&dyn FilterPlugin> {
        None
    }
    /// The PreScore part, if any.
    fn as_pre_score(&self) -> Option<&dyn PreScorePlugin> {
        None
    }
    /// The Score part, if any.
    fn as_score(&self) -> Option<&dyn ScorePlugin> {
        None
    }
}

/// PreEnqueue: whether a pod may enter the active queue at all.
pub trait PreEnqueuePlugin: Send + Sync {
    /// `Success`, or `Pending` with the reason the pod waits.
    fn pre_enqueue(&self, pod: &PodInfo) -> Status;
}

/// QueueSort: the order of the active queue.
pub trait QueueSortPlugin: Send + Sync {
    /// Whether `a` should be scheduled before `b`.
    fn less(&self, a: &QueuedPodInfo, b: &QueuedPodInfo) -> bool;
}

/// A pod waiting in the scheduling queue.
#[derive(Clone, Debug)]
pub struct QueuedPodInfo {
    /// The pod.
    pub pod: PodInfo,
    /// When the pod first entered the queue (nanoseconds of the cluster clock).
    pub initial_attempt_timestamp: flotilla_model::Time,
    /// When the pod was last added to the queue.
    pub timestamp: flotilla_model::Time,
    /// How many times scheduling was attempted.
    pub attempts: u32,
}

/// PreFilter: per-pod work before Filter.
pub trait PreFilterPlugin: Send + Sync {
    /// Computes what Filter needs into `state`. May narrow the nodes to consider, return `Skip`
    /// (this plugin's Filter is skipped), or reject the pod outright.
    fn pre_filter(
        &self,
        state: &mut CycleState,
        pod: &PodInfo,
        snapshot: &Snapshot,
    ) -> (PreFilterResult, Status);
}

/// Filter: whether the pod can run on one node.
pub trait FilterPlugin: Send + Sync {
    /// `Success`, or a rejection with the reasons.
    fn filter(&self, state: &CycleState, pod: &PodInfo, node: &NodeInfo) -> Status;
}

/// PreScore: per-pod work before Score, given the feasible nodes.
pub trait PreScorePlugin: Send + Sync {
    /// Computes what Score needs into `state`, or returns `Skip`.
    fn pre_score(
        &self,
        state: &mut CycleState,
        pod: &PodInfo,
        snapshot: &Snapshot,
        feasible: &[usize],
    ) -> Status;
}

/// Score: how good one feasible node is for the pod.
pub trait ScorePlugin: Send + Sync {
    /// The node's raw score.
    fn score(&self, state: &CycleState, pod: &PodInfo, node: &NodeInfo) -> Result<i64, Status>;

    /// Maps raw scores into `0..=MAX_NODE_SCORE`; the default keeps them (for plugins whose
    /// scores are already in range).
    fn normalize_scores(
        &self,
        state: &CycleState,
        pod: &PodInfo,
        scores: &mut [NodeScore],
    ) -> Status {
        let _ = (state, pod, scores);
        Status::success()
    }
}

/// kube-scheduler's `DefaultNormalizeScore`: scale so the highest score becomes `max_priority`
/// (`score * max_priority / highest`), optionally reversed (`max_priority - that`). When every
/// score is zero, all get 0, or `max_priority` when reversed
/// (pkg/scheduler/framework/plugins/helper/normalize_score.go).
pub fn default_normalize_score(max_priority: i64, reverse: bool, scores: &mut [NodeScore]) {
    let highest = scores.iter().map(|s| s.score).max().unwrap_or(0);
    if highest == 0 {
        if reverse {
            for s in scores.iter_mut() {
                s.score = max_priority;
            }
        }
        return;
    }
    for s in scores.iter_mut() {
        let mut v = max_priority * s.score / highest;
        if reverse {
            v = max_priority - v;
        }
        s.score = v;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scores(v: &[i64]) -> Vec<NodeScore> {
        v.iter()
            .enumerate()
            .map(|(node, &score)| NodeScore { node, score })
            .collect()
    }

    #[test]
    fn default_normalize_matches_kube_scheduler() {
        // helper/normalize_score_test.go: scores {10, 20, 30} → {33, 66, 100}; reversed → {67, 34, 0}.
        let mut s = scores(&[10, 20, 30]);
        default_normalize_score(100, false, &mut s);
        assert_eq!(
            s.iter().map(|x| x.score).collect::<Vec<_>>(),
            vec![33, 66, 100]
        );
        let mut s = scores(&[10, 20, 30]);
        default_normalize_score(100, true, &mut s);
        assert_eq!(
            s.iter().map(|x| x.score).collect::<Vec<_>>(),
            vec![67, 34, 0]
        );
        let mut s = scores(&[0, 0]);
        default_normalize_score(100, true, &mut s);
        assert_eq!(
            s.iter().map(|x| x.score).collect::<Vec<_>>(),
            vec![100, 100]
        );
        let mut s = scores(&[0, 0]);
        default_normalize_score(100, false, &mut s);
        assert_eq!(s.iter().map(|x| x.score).collect::<Vec<_>>(), vec![0, 0]);
    }

    #[test]
    fn cycle_state_is_typed() {
        let mut state = CycleState::new();
        state.write("A", 5u32);
        assert_eq!(state.read::<u32>("A"), Some(&5));
        assert_eq!(state.read::<i64>("A"), None);
        assert_eq!(state.read::<u32>("B"), None);
    }
}
