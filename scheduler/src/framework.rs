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
use std::fmt;
use std::sync::Arc;

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

/// One reason of a [`Status`]: usually a constant (`Insufficient cpu`), which a rejection then
/// carries and copies without allocating; formatted text, shared by its copies, when it names
/// something. A cycle records one status per rejected node, so both cases copy for free.
#[derive(Clone)]
pub struct Reason(ReasonText);

#[derive(Clone)]
enum ReasonText {
    Static(&'static str),
    Shared(Arc<str>),
}

impl Reason {
    /// The text.
    pub fn as_str(&self) -> &str {
        match &self.0 {
            ReasonText::Static(s) => s,
            ReasonText::Shared(s) => s,
        }
    }
}

impl std::ops::Deref for Reason {
    type Target = str;
    fn deref(&self) -> &str {
        self.as_str()
    }
}

impl AsRef<str> for Reason {
    fn as_ref(&self) -> &str {
        self.as_str()
    }
}

impl std::borrow::Borrow<str> for Reason {
    fn borrow(&self) -> &str {
        self.as_str()
    }
}

impl From<&'static str> for Reason {
    fn from(s: &'static str) -> Reason {
        Reason(ReasonText::Static(s))
    }
}

impl From<String> for Reason {
    fn from(s: String) -> Reason {
        Reason(ReasonText::Shared(s.into()))
    }
}

impl From<Arc<str>> for Reason {
    fn from(s: Arc<str>) -> Reason {
        Reason(ReasonText::Shared(s))
    }
}

impl fmt::Debug for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.as_str(), f)
    }
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl PartialEq for Reason {
    fn eq(&self, other: &Reason) -> bool {
        self.as_str() == other.as_str()
    }
}

impl Eq for Reason {}

impl PartialEq<str> for Reason {
    fn eq(&self, other: &str) -> bool {
        self.as_str() == other
    }
}

impl PartialEq<&str> for Reason {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

impl PartialEq<String> for Reason {
    fn eq(&self, other: &String) -> bool {
        self.as_str() == other
    }
}

impl PartialOrd for Reason {
    fn partial_cmp(&self, other: &Reason) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Reason {
    fn cmp(&self, other: &Reason) -> std::cmp::Ordering {
        self.as_str().cmp(other.as_str())
    }
}

impl std::hash::Hash for Reason {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.as_str().hash(state);
    }
}

/// The reasons of a [`Status`], read as a slice. Nearly every rejection has one reason, which
/// is kept inline so that a status is made and copied without allocating.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Reasons(ReasonList);

#[derive(Clone, Default, PartialEq, Eq)]
enum ReasonList {
    #[default]
    None,
    One(Reason),
    Many(Vec<Reason>),
}

impl Reasons {
    /// No reasons.
    pub fn new() -> Reasons {
        Reasons::default()
    }

    /// Appends a reason.
    pub fn push(&mut self, reason: impl Into<Reason>) {
        let reason = reason.into();
        self.0 = match std::mem::take(&mut self.0) {
            ReasonList::None => ReasonList::One(reason),
            ReasonList::One(first) => ReasonList::Many(vec![first, reason]),
            ReasonList::Many(mut all) => {
                all.push(reason);
                ReasonList::Many(all)
            }
        };
    }
}

impl std::ops::Deref for Reasons {
    type Target = [Reason];
    fn deref(&self) -> &[Reason] {
        match &self.0 {
            ReasonList::None => &[],
            ReasonList::One(r) => std::slice::from_ref(r),
            ReasonList::Many(all) => all,
        }
    }
}

impl From<Vec<Reason>> for Reasons {
    fn from(mut all: Vec<Reason>) -> Reasons {
        Reasons(match all.len() {
            0 => ReasonList::None,
            1 => ReasonList::One(all.remove(0)),
            _ => ReasonList::Many(all),
        })
    }
}

impl FromIterator<Reason> for Reasons {
    fn from_iter<I: IntoIterator<Item = Reason>>(iter: I) -> Reasons {
        let mut out = Reasons::new();
        for r in iter {
            out.push(r);
        }
        out
    }
}

impl IntoIterator for Reasons {
    type Item = Reason;
    type IntoIter = std::vec::IntoIter<Reason>;
    fn into_iter(self) -> Self::IntoIter {
        match self.0 {
            ReasonList::None => Vec::new(),
            ReasonList::One(r) => vec![r],
            ReasonList::Many(all) => all,
        }
        .into_iter()
    }
}

impl<'a> IntoIterator for &'a Reasons {
    type Item = &'a Reason;
    type IntoIter = std::slice::Iter<'a, Reason>;
    fn into_iter(self) -> Self::IntoIter {
        self.iter()
    }
}

impl fmt::Debug for Reasons {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.iter()).finish()
    }
}

impl<T> PartialEq<Vec<T>> for Reasons
where
    Reason: PartialEq<T>,
{
    fn eq(&self, other: &Vec<T>) -> bool {
        self.len() == other.len() && self.iter().zip(other).all(|(a, b)| a == b)
    }
}

impl<T, const N: usize> PartialEq<[T; N]> for Reasons
where
    Reason: PartialEq<T>,
{
    fn eq(&self, other: &[T; N]) -> bool {
        self.len() == N && self.iter().zip(other).all(|(a, b)| a == b)
    }
}

/// A plugin's verdict with the reasons a user reads (`Insufficient cpu`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Status {
    /// What the verdict is.
    pub code: Code,
    /// Why, in kube-scheduler's words; empty for success.
    pub reasons: Reasons,
    /// The plugin that gave the verdict (set by the framework when it records the status).
    pub plugin: &'static str,
}

impl Status {
    /// Success with no reasons.
    pub fn success() -> Status {
        Status {
            code: Code::Success,
            reasons: Reasons::new(),
            plugin: "",
        }
    }

    /// A verdict with one reason.
    pub fn new(code: Code, reason: impl Into<Reason>) -> Status {
        Status {
            code,
            reasons: Reasons(ReasonList::One(reason.into())),
            plugin: "",
        }
    }

    /// A verdict with several reasons.
    pub fn with_reasons(code: Code, reasons: Vec<Reason>) -> Status {
        Status {
            code,
            reasons: reasons.into(),
            plugin: "",
        }
    }

    /// `Unschedulable` with one reason.
    pub fn unschedulable(reason: impl Into<Reason>) -> Status {
        Status::new(Code::Unschedulable, reason)
    }

    /// `UnschedulableAndUnresolvable` with one reason.
    pub fn unresolvable(reason: impl Into<Reason>) -> Status {
        Status::new(Code::UnschedulableAndUnresolvable, reason)
    }

    /// `Skip`.
    pub fn skip() -> Status {
        Status {
            code: Code::Skip,
            reasons: Reasons::new(),
            plugin: "",
        }
    }

    /// An internal error.
    pub fn error(reason: impl Into<Reason>) -> Status {
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

/// A value plugins keep in the [`CycleState`]: any `Clone + Send + Sync` type, so the whole state
/// can be copied for preemption's dry runs (kube-scheduler's `StateData` with its `Clone`).
pub trait StateData: Any + Send + Sync {
    /// A boxed copy of the value.
    fn clone_data(&self) -> Box<dyn StateData>;
    /// The value as `Any`, to downcast.
    fn as_any(&self) -> &dyn Any;
    /// The value as mutable `Any`, to downcast.
    fn as_any_mut(&mut self) -> &mut dyn Any;
}

impl<T: Any + Clone + Send + Sync> StateData for T {
    fn clone_data(&self) -> Box<dyn StateData> {
        Box::new(self.clone())
    }
    fn as_any(&self) -> &dyn Any {
        self
    }
    fn as_any_mut(&mut self) -> &mut dyn Any {
        self
    }
}

/// Data plugins keep for the length of one scheduling cycle, keyed by plugin name.
///
/// PreFilter and PreScore write; Filter and Score (which run in parallel over nodes) only read,
/// so the state is `Sync` and needs no locking. The state is `Clone`: preemption copies it for
/// each node it simulates evicting pods from, and the PreFilter extensions update the copy.
#[derive(Default)]
pub struct CycleState {
    /// The values by key, in the order first written. A cycle holds a dozen at most, and Filter
    /// and Score read them once per node per plugin: a short scan comparing the keys' addresses
    /// (they are `&'static str` constants) is several times cheaper than hashing the key.
    data: Vec<(&'static str, Box<dyn StateData>)>,
    /// Plugins whose Filter is skipped for this pod (their PreFilter returned Skip).
    pub skip_filter_plugins: Vec<&'static str>,
    /// Plugins whose Score is skipped for this pod (their PreScore returned Skip).
    pub skip_score_plugins: Vec<&'static str>,
}

impl Clone for CycleState {
    fn clone(&self) -> CycleState {
        CycleState {
            data: self
                .data
                .iter()
                .map(|(k, v)| (*k, (**v).clone_data()))
                .collect(),
            skip_filter_plugins: self.skip_filter_plugins.clone(),
            skip_score_plugins: self.skip_score_plugins.clone(),
        }
    }
}

impl fmt::Debug for CycleState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut keys: Vec<&&str> = self.data.iter().map(|(k, _)| k).collect();
        keys.sort();
        f.debug_struct("CycleState").field("keys", &keys).finish()
    }
}

impl CycleState {
    /// An empty state.
    pub fn new() -> CycleState {
        CycleState::default()
    }

    /// The position of `key` in `data`. Plugins read with the constant they wrote with, so the
    /// addresses usually match; equal text at another address (the same literal in another
    /// crate) is found by the second pass.
    #[inline]
    fn position(&self, key: &str) -> Option<usize> {
        self.data
            .iter()
            .position(|(k, _)| std::ptr::eq(*k, key))
            .or_else(|| self.data.iter().position(|(k, _)| *k == key))
    }

    /// Stores `value` under `key` (normally the plugin's name).
    pub fn write<T: Any + Clone + Send + Sync>(&mut self, key: &'static str, value: T) {
        match self.position(key) {
            Some(i) => self.data[i].1 = Box::new(value),
            None => self.data.push((key, Box::new(value))),
        }
    }

    /// Reads the value stored under `key`, if it has type `T`.
    #[inline]
    pub fn read<T: Any + Send + Sync>(&self, key: &'static str) -> Option<&T> {
        self.position(key)
            .and_then(|i| (*self.data[i].1).as_any().downcast_ref::<T>())
    }

    /// Mutable access to the value stored under `key`, if it has type `T` (PreFilter extensions
    /// update their state in place when preemption adds or removes pods).
    pub fn read_mut<T: Any + Send + Sync>(&mut self, key: &'static str) -> Option<&mut T> {
        let i = self.position(key)?;
        (*self.data[i].1).as_any_mut().downcast_mut::<T>()
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
    /// The PreFilter extensions (AddPod/RemovePod), if any.
    fn as_pre_filter_extensions(&self) -> Option<&dyn PreFilterExtensions> {
        None
    }
    /// The PostFilter part (preemption), if any.
    fn as_post_filter(&self) -> Option<&dyn PostFilterPlugin> {
        None
    }
    /// The Bind part, if any.
    fn as_bind(&self) -> Option<&dyn BindPlugin> {
        None
    }

    /// Whether the plugin is *node-local*: what its PreFilter and PreScore store depends only on
    /// the pod's spec (and the plugin's own configuration), and its Filter verdict and raw Score
    /// for a node depend only on that, the pod's spec and the node's own [`NodeInfo`] (plus the
    /// number of nodes, and the values outside the node that its PreScore records and reports
    /// in [`ScorePlugin::score_inputs`], which the cache compares as well: ImageLocality's
    /// image counts). Not on other nodes, other pods' labels, namespaces, volumes or the
    /// feasible set; NormalizeScore may depend on anything, as it runs on every cycle.
    ///
    /// The scheduler reuses a node-local plugin's verdicts and raw scores across cycles for pods
    /// with an equal spec, recomputing only the nodes that changed (see
    /// [`score_cache`](crate::score_cache)). The default, `false`, is always correct.
    fn is_node_local(&self) -> bool {
        false
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

/// PreFilter extensions (kube-scheduler's `PreFilterExtensions`): update what this plugin's
/// PreFilter stored in the [`CycleState`] as if a pod were added to or removed from a node.
/// Preemption's dry runs call them on a copy of the state when they remove victims and reprieve
/// them, and the Filter pass with nominated pods calls `add_pod` for pods nominated to a node.
/// The framework calls them only for plugins whose PreFilter did not return Skip. Plugins that
/// read everything from the [`NodeInfo`] (NodeResourcesFit, NodePorts) need none.
pub trait PreFilterExtensions: Send + Sync {
    /// Updates `state` as if `pod_to_add` ran on `node` (`node` does not include it yet).
    fn add_pod(
        &self,
        state: &mut CycleState,
        pod_to_schedule: &PodInfo,
        pod_to_add: &PodInfo,
        node: &NodeInfo,
    ) -> Status;

    /// Updates `state` as if `pod_to_remove` no longer ran on `node`.
    fn remove_pod(
        &self,
        state: &mut CycleState,
        pod_to_schedule: &PodInfo,
        pod_to_remove: &PodInfo,
        node: &NodeInfo,
    ) -> Status;
}

/// What a PostFilter plugin proposes when no node fits (kube-scheduler's `PostFilterResult`
/// with its `NominatingInfo`): the node to nominate the pod to, and the pods to evict there.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PostFilterResult {
    /// The node the pod is nominated to (`status.nominatedNodeName`).
    pub nominated_node: String,
    /// The pods to delete on that node, as `(namespace, name)`.
    pub victims: Vec<(String, String)>,
}

/// PostFilter: called when no node passed the filters (preemption).
pub trait PostFilterPlugin: Send + Sync {
    /// Tries to make the pod schedulable. `node_statuses` holds the Filter status of every
    /// rejected node by snapshot index; `state` is the cycle state after PreFilter. Returns a
    /// result with `Success`, or `Unschedulable` with the reasons it could not help.
    ///
    /// `handle` runs the profile's filters; `rng` is the scheduler's seeded random stream (the
    /// dry runs' starting offset), so a decision depends only on the inputs and the seed.
    fn post_filter(
        &self,
        state: &CycleState,
        pod: &PodInfo,
        snapshot: &Snapshot,
        node_statuses: &std::collections::BTreeMap<usize, Status>,
        handle: &dyn FrameworkHandle,
        rng: &mut dyn rand::RngCore,
    ) -> (Option<PostFilterResult>, Status);
}

/// What the framework offers a PostFilter plugin (kube-scheduler's `framework.Handle`, the part
/// preemption uses): running the profile's Filter plugins and PreFilter extensions.
pub trait FrameworkHandle: Sync {
    /// Runs the Filter plugins on `node` as kube-scheduler's `RunFilterPluginsWithNominatedPods`:
    /// first with the pods nominated to the node whose priority is at least the pod's added to a
    /// copy of the node and the state, then, if that passed and such pods exist, without them.
    fn run_filter_plugins_with_nominated_pods(
        &self,
        state: &CycleState,
        pod: &PodInfo,
        node: &NodeInfo,
    ) -> Status;

    /// Calls every PreFilter extension's `add_pod` (plugins whose PreFilter skipped are left
    /// out).
    fn run_pre_filter_extension_add_pod(
        &self,
        state: &mut CycleState,
        pod: &PodInfo,
        pod_to_add: &PodInfo,
        node: &NodeInfo,
    ) -> Status;

    /// Calls every PreFilter extension's `remove_pod`.
    fn run_pre_filter_extension_remove_pod(
        &self,
        state: &mut CycleState,
        pod: &PodInfo,
        pod_to_remove: &PodInfo,
        node: &NodeInfo,
    ) -> Status;
}

/// The binding a Bind plugin asks the driver to write: the pod's `pods/binding` subresource.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Binding {
    /// The pod's namespace.
    pub namespace: String,
    /// The pod's name.
    pub name: String,
    /// The node to bind it to.
    pub node: String,
}

/// Bind: writes the pod's placement.
pub trait BindPlugin: Send + Sync {
    /// The binding to write (`Success`), or `Skip` when this plugin does not handle the pod
    /// (the next Bind plugin is asked), or an error.
    fn bind(&self, state: &CycleState, pod: &PodInfo, node: &str) -> (Option<Binding>, Status);
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

    /// Whether [`normalize_scores`](ScorePlugin::normalize_scores) does anything
    /// (kube-scheduler's `ScoreExtensions()`, nil for plugins that do not normalize). The
    /// default, `true`, is always correct; a plugin that keeps the default `normalize_scores`
    /// may answer `false`, and the framework then weighs its raw scores without copying them.
    fn has_score_extensions(&self) -> bool {
        true
    }

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

    /// Whether [`normalize_scores`](ScorePlugin::normalize_scores), given a raw score of 0 for
    /// every node, gives every node one and the same score in `0..=MAX_NODE_SCORE`, whatever
    /// the number of nodes (true of [`default_normalize_score`]). The score cache then ranks
    /// such nodes without normalizing. The default, `false`, is always correct.
    fn normalizes_zeros_uniformly(&self) -> bool {
        false
    }

    /// For a [node-local](Plugin::is_node_local) plugin whose raw scores read values from
    /// outside the node, which its PreScore recorded in `state`: those values, appended to
    /// `out` (ImageLocality: how many nodes hold each of the pod's images). The score cache
    /// reuses a node's raw scores for a pod spec only while every scorer reports the same
    /// values. The default reports none, which is right for a plugin that reads only the pod
    /// and the node.
    fn score_inputs(&self, state: &CycleState, out: &mut Vec<u64>) {
        let _ = (state, out);
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

    #[test]
    fn reasons_read_as_a_slice_however_many_they_are() {
        let mut r = Reasons::new();
        assert!(r.is_empty());
        r.push("Insufficient cpu");
        assert_eq!(r, ["Insufficient cpu"]);
        r.push(format!("Insufficient {}", "nvidia.com/gpu"));
        r.push("Too many pods");
        assert_eq!(
            r,
            vec![
                "Insufficient cpu",
                "Insufficient nvidia.com/gpu",
                "Too many pods"
            ]
        );
        assert_eq!(
            r.join(", "),
            "Insufficient cpu, Insufficient nvidia.com/gpu, Too many pods"
        );
        let copy = r.clone();
        assert_eq!(copy, r);
        assert_eq!(copy.into_iter().count(), 3);
        let status = Status::with_reasons(Code::Unschedulable, vec!["a".into(), "b".into()]);
        assert_eq!(status.to_string(), "a, b");
        assert_eq!(Status::unschedulable("x").reasons.len(), 1);
        // A shared text and a constant with the same words are equal, and order as text.
        assert_eq!(Reason::from("x"), Reason::from("x".to_string()));
        let (a, b) = (Reason::from("a"), Reason::from("b".to_string()));
        assert!(a < b);
    }

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

    #[test]
    fn cycle_state_clones_are_independent() {
        let mut state = CycleState::new();
        state.write("A", vec![1u32]);
        state.skip_filter_plugins.push("X");
        let mut copy = state.clone();
        copy.read_mut::<Vec<u32>>("A").expect("stored").push(2);
        assert_eq!(state.read::<Vec<u32>>("A"), Some(&vec![1]));
        assert_eq!(copy.read::<Vec<u32>>("A"), Some(&vec![1, 2]));
        assert_eq!(copy.skip_filter_plugins, ["X"]);
    }
}
