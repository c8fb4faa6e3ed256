//! One scheduling decision (kube-scheduler's `schedulePod` in `schedule_one.go`): PreFilter,
//! Filter over a sample of nodes, PreScore and Score over the feasible ones, and the choice of a
//! host — plus [`explain`], which evaluates every node and records why each was kept or rejected
//! and what each plugin scored.
//!
//! Sampling follows kube-scheduler: nodes are read from a rotating start index in the
//! snapshot's zone-interleaved order, and filtering stops once `numFeasibleNodesToFind` feasible
//! nodes are found. Filtering and scoring run in parallel (rayon) over nodes; results are combined
//! in node order, and ties among the best nodes are broken with the scheduler's seeded random
//! stream, so a decision depends only on the inputs and the seed, not on the thread count.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;

use rand::Rng;
use rayon::prelude::*;

use crate::framework::{
    Code, CycleState, FilterPlugin, FrameworkHandle, NodeScore, Plugin, PostFilterResult,
    ScorePlugin, Status, MAX_NODE_SCORE,
};
use crate::node_info::{NodeInfo, PodInfo};
use crate::profile::{Profile, WeightedPlugin};
use crate::score_cache::ScoreCache;
use crate::snapshot::Snapshot;

/// Below this many nodes, every node is evaluated (`minFeasibleNodesToFind`).
pub const MIN_FEASIBLE_NODES_TO_FIND: usize = 100;

/// Below this many nodes, a cycle filters and scores them on the calling thread: handing the
/// work to the thread pool and waiting for it costs more than it saves on small clusters (the
/// `schedule_pod` bench). Results are combined in node order either way.
const PARALLEL_MIN_NODES: usize = 128;
/// The floor of the adaptive percentage (`minFeasibleNodesPercentageToFind`).
pub const MIN_FEASIBLE_NODES_PERCENTAGE_TO_FIND: i64 = 5;

/// How many feasible nodes to look for among `num_all_nodes` (kube-scheduler's
/// `numFeasibleNodesToFind`): all of them below 100 nodes or at 100%; otherwise the percentage
/// (adaptive `max(5, 50 - nodes/125)` when 0) of the nodes, but at least 100.
pub fn num_feasible_nodes_to_find(num_all_nodes: usize, percentage: i32) -> usize {
    if num_all_nodes < MIN_FEASIBLE_NODES_TO_FIND {
        return num_all_nodes;
    }
    let mut pct = i64::from(percentage);
    if pct >= 100 {
        return num_all_nodes;
    }
    if pct <= 0 {
        pct = (50 - num_all_nodes as i64 / 125).max(MIN_FEASIBLE_NODES_PERCENTAGE_TO_FIND);
    }
    let n = num_all_nodes as i64 * pct / 100;
    (n as usize).max(MIN_FEASIBLE_NODES_TO_FIND)
}

/// Where a pod should go.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ScheduleResult {
    /// The chosen node's name.
    pub suggested_host: String,
    /// How many nodes were evaluated (filtered).
    pub evaluated_nodes: usize,
    /// How many of them were feasible.
    pub feasible_nodes: usize,
}

/// Why no node fits: the status of every node that was rejected (kube-scheduler's `Diagnosis`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Diagnosis {
    /// The rejection of each evaluated node, by snapshot index.
    pub node_to_status: BTreeMap<usize, Status>,
    /// A PreFilter plugin's rejection, when one rejected the pod before any node was filtered.
    pub pre_filter_msg: Option<String>,
    /// The plugins that rejected the pod somewhere (what could make it schedulable later).
    pub unschedulable_plugins: Vec<&'static str>,
    /// What the PostFilter plugins (preemption) said, when they ran and had something to say
    /// (`preemption: 0/3 nodes are available: …`); appended to the message.
    pub post_filter_msg: Option<String>,
}

/// No node fits the pod.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FitError {
    /// How many nodes the cluster has.
    pub num_all_nodes: usize,
    /// What each node said.
    pub diagnosis: Diagnosis,
    /// What the PostFilter plugins proposed (preemption: the node to nominate the pod to and
    /// the victims to delete there), if anything.
    pub post_filter_result: Option<Box<PostFilterResult>>,
}

impl fmt::Display for FitError {
    /// kube-scheduler's message: `0/5 nodes are available: 2 Insufficient cpu, 3 node(s) had
    /// untolerated taint {dedicated: gpu}.` — reasons counted over nodes and sorted as strings.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "0/{} nodes are available:", self.num_all_nodes)?;
        if let Some(msg) = &self.diagnosis.pre_filter_msg {
            write!(f, " {msg}.")?;
            return self.write_post_filter_msg(f);
        }
        let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
        for status in self.diagnosis.node_to_status.values() {
            for reason in &status.reasons {
                *counts.entry(reason.as_ref()).or_insert(0) += 1;
            }
        }
        let mut parts: Vec<String> = counts
            .into_iter()
            .map(|(r, n)| format!("{n} {r}"))
            .collect();
        parts.sort();
        if !parts.is_empty() {
            write!(f, " {}.", parts.join(", "))?;
        }
        self.write_post_filter_msg(f)
    }
}

impl FitError {
    /// The PostFilter message, as kube-scheduler appends it (`SeparatorFormat`, " %v."; the
    /// message usually ends with its own period, hence kube-scheduler's `..`).
    fn write_post_filter_msg(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.diagnosis.post_filter_msg {
            Some(msg) if !msg.is_empty() => write!(f, " {msg}."),
            _ => Ok(()),
        }
    }
}

impl std::error::Error for FitError {}

/// Why a scheduling attempt failed.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ScheduleError {
    /// The cluster has no nodes.
    #[error("no nodes available to schedule pods")]
    NoNodes,
    /// No node fits.
    #[error("{0}")]
    Unschedulable(FitError),
    /// A plugin failed internally.
    #[error("running {plugin}: {message}")]
    Plugin {
        /// The plugin.
        plugin: &'static str,
        /// Its error.
        message: String,
    },
}

/// The scheduler's rotating position in the node list and its random stream: the state one
/// scheduling decision leaves for the next.
#[derive(Clone, Debug)]
pub struct SchedulingCycleState {
    /// Where the next cycle starts reading nodes (`nextStartNodeIndex`).
    pub next_start_node_index: usize,
    /// Tie-breaking randomness.
    pub rng: rand_chacha::ChaCha8Rng,
}

/// What the PreFilter plugins allowed: the nodes to consider (`None`: all) and the plugins that
/// narrowed them.
struct PreFilterOutcome {
    nodes: Option<Vec<usize>>,
    narrowed_by: Vec<&'static str>,
}

impl PreFilterOutcome {
    /// The status of a node left out by the narrowing plugins, as kube-scheduler records it.
    fn excluded_status(&self) -> Status {
        Status::unresolvable(format!(
            "node(s) didn't satisfy plugin(s) [{}]",
            self.narrowed_by.join(" ")
        ))
        .from_plugin(self.narrowed_by.first().copied().unwrap_or(""))
    }
}

/// Why the PreFilter plugins stopped the cycle.
enum PreFilterFailure {
    /// The pod is rejected everywhere: the status (its reasons become the FitError's
    /// PreFilter message) and the plugins that rejected it.
    Rejected(Status, Vec<&'static str>),
    /// A plugin failed internally.
    Error(ScheduleError),
}

/// Runs the PreFilter plugins as kube-scheduler's `RunPreFilterPlugins` (framework/runtime/
/// framework.go): a Skip skips the plugin's Filter; UnschedulableAndUnresolvable stops at once;
/// Unschedulable is remembered while the other plugins still run (the last one is reported);
/// node subsets are intersected, and an intersection that becomes empty rejects the pod with
/// "node(s) didn't satisfy plugin(s) [A B] simultaneously".
fn run_pre_filter(
    profile: &Profile,
    state: &mut CycleState,
    pod: &PodInfo,
    snapshot: &Snapshot,
) -> Result<PreFilterOutcome, PreFilterFailure> {
    let mut outcome = PreFilterOutcome {
        nodes: None,
        narrowed_by: Vec::new(),
    };
    let mut rejection: Option<Status> = None;
    for plugin in &profile.pre_filter {
        let Some(pf) = plugin.as_pre_filter() else {
            continue;
        };
        let (result, status) = pf.pre_filter(state, pod, snapshot);
        match status.code {
            Code::Success => {}
            Code::Skip => {
                state.skip_filter_plugins.push(plugin.name());
                continue;
            }
            Code::UnschedulableAndUnresolvable => {
                let status = status.from_plugin(plugin.name());
                let plugins = vec![status.plugin];
                return Err(PreFilterFailure::Rejected(status, plugins));
            }
            Code::Unschedulable => {
                rejection = Some(status.from_plugin(plugin.name()));
                continue;
            }
            _ => {
                return Err(PreFilterFailure::Error(ScheduleError::Plugin {
                    plugin: plugin.name(),
                    message: format!("running PreFilter plugin {:?}: {status}", plugin.name()),
                }))
            }
        }
        if let Some(nodes) = result.nodes {
            let narrowing = !nodes.is_empty();
            outcome.narrowed_by.push(plugin.name());
            outcome.nodes = Some(match outcome.nodes.take() {
                None => nodes,
                Some(prev) => {
                    let mut keep = vec![false; snapshot.len()];
                    for &n in &nodes {
                        if let Some(k) = keep.get_mut(n) {
                            *k = true;
                        }
                    }
                    prev.into_iter()
                        .filter(|&n| keep.get(n).copied().unwrap_or(false))
                        .collect()
                }
            });
            // Two non-empty subsets that do not meet: kube-scheduler rejects the pod outright.
            // (A plugin's own empty subset, which kube-scheduler gets as names of nodes that do
            // not exist, leaves every node "didn't satisfy plugin(s)" instead, below.)
            if narrowing && outcome.nodes.as_ref().is_some_and(Vec::is_empty) {
                let mut plugins = outcome.narrowed_by.clone();
                plugins.sort_unstable();
                let msg = if plugins.len() == 1 {
                    format!("node(s) didn't satisfy plugin {}", plugins[0])
                } else {
                    format!(
                        "node(s) didn't satisfy plugin(s) [{}] simultaneously",
                        plugins.join(" ")
                    )
                };
                return Err(PreFilterFailure::Rejected(
                    Status::unresolvable(msg).from_plugin(plugins[0]),
                    plugins,
                ));
            }
        }
    }
    outcome.narrowed_by.sort_unstable();
    match rejection {
        Some(status) => {
            let plugins = vec![status.plugin];
            Err(PreFilterFailure::Rejected(status, plugins))
        }
        None => Ok(outcome),
    }
}

/// The FitError of a pod the PreFilter plugins rejected.
fn pre_filter_fit_error(
    status: &Status,
    plugins: Vec<&'static str>,
    num_all_nodes: usize,
) -> FitError {
    FitError {
        num_all_nodes,
        diagnosis: Diagnosis {
            pre_filter_msg: Some(status.to_string()),
            unschedulable_plugins: plugins,
            node_to_status: BTreeMap::new(),
            post_filter_msg: None,
        },
        post_filter_result: None,
    }
}

/// Runs every Filter plugin on one node; the first rejection decides.
pub fn run_filters(
    profile: &Profile,
    state: &CycleState,
    pod: &PodInfo,
    snapshot: &Snapshot,
    node: usize,
) -> Status {
    run_active_filters(
        &active_filters(profile, state),
        state,
        pod,
        &snapshot.nodes[node],
    )
}

/// The Filter plugins of a cycle with their names: the profile's, minus those whose PreFilter
/// returned Skip. Resolved once per cycle, so the per-node loop compares no names.
fn active_filters<'p>(
    profile: &'p Profile,
    state: &CycleState,
) -> Vec<(&'static str, &'p dyn FilterPlugin)> {
    profile
        .filter
        .iter()
        .filter_map(|plugin| {
            let name = plugin.name();
            if state.skip_filter_plugins.contains(&name) {
                return None;
            }
            plugin.as_filter().map(|f| (name, f))
        })
        .collect()
}

/// The Filter plugins of a cycle themselves (the same as [`active_filters`]), to key the
/// [`ScoreCache`] with.
fn active_filter_plugins<'p>(profile: &'p Profile, state: &CycleState) -> Vec<&'p Arc<dyn Plugin>> {
    profile
        .filter
        .iter()
        .filter(|p| !state.skip_filter_plugins.contains(&p.name()) && p.as_filter().is_some())
        .collect()
}

/// Runs `filters` in order on one node; the first rejection decides.
#[inline]
fn run_active_filters(
    filters: &[(&'static str, &dyn FilterPlugin)],
    state: &CycleState,
    pod: &PodInfo,
    info: &NodeInfo,
) -> Status {
    for &(name, f) in filters {
        let status = f.filter(state, pod, info);
        if !status.is_success() {
            return status.from_plugin(name);
        }
    }
    Status::success()
}

/// Runs every Filter plugin on `info` (kube-scheduler's `RunFilterPlugins`).
pub fn run_filter_plugins(
    profile: &Profile,
    state: &CycleState,
    pod: &PodInfo,
    info: &NodeInfo,
) -> Status {
    run_active_filters(&active_filters(profile, state), state, pod, info)
}

/// The priority of a pod (`spec.priority`, 0 when unset: `corev1helpers.PodPriority`).
pub fn pod_priority(pod: &flotilla_model::api::Pod) -> i32 {
    pod.spec.priority.unwrap_or(0)
}

/// kube-scheduler's `RunFilterPluginsWithNominatedPods` (framework/runtime/framework.go): when
/// pods with at least `pod`'s priority are nominated to the node, the filters run first with
/// them added to copies of the node and of the state (PreFilter extensions' `add_pod`), and, if
/// that passes, a second time without them, so the pod must fit both ways. `filters` are the
/// cycle's active filters.
fn run_filters_with_nominated_pods(
    profile: &Profile,
    filters: &[(&'static str, &dyn FilterPlugin)],
    snapshot: &Snapshot,
    state: &CycleState,
    pod: &PodInfo,
    info: &NodeInfo,
) -> Status {
    let Some(list) = snapshot.nominated_pods.get(info.name()) else {
        return run_active_filters(filters, state, pod, info);
    };
    let priority = pod_priority(&pod.pod);
    let mut nominated = list
        .iter()
        .filter(|p| {
            pod_priority(&p.pod) >= priority
                && !(p.pod.metadata.namespace == pod.pod.metadata.namespace
                    && p.pod.metadata.name == pod.pod.metadata.name)
        })
        .peekable();
    if nominated.peek().is_none() {
        return run_active_filters(filters, state, pod, info);
    }
    let mut info_with = info.clone();
    let mut state_with = state.clone();
    for p in nominated {
        info_with.add_pod(p.clone());
        let status = run_pre_filter_extension(profile, &mut state_with, pod, p, &info_with, true);
        if !status.is_success() {
            return status;
        }
    }
    let status = run_active_filters(filters, &state_with, pod, &info_with);
    if !status.is_success() {
        return status;
    }
    run_active_filters(filters, state, pod, info)
}

/// Runs the cycle's active filters on node `i` of the snapshot, with the nominated pods when
/// there are any.
#[inline]
fn filter_node(
    profile: &Profile,
    filters: &[(&'static str, &dyn FilterPlugin)],
    snapshot: &Snapshot,
    state: &CycleState,
    pod: &PodInfo,
    i: usize,
) -> Status {
    let info = &snapshot.nodes[i];
    if snapshot.nominated_pods.is_empty() {
        run_active_filters(filters, state, pod, info)
    } else {
        run_filters_with_nominated_pods(profile, filters, snapshot, state, pod, info)
    }
}

/// Calls the PreFilter extensions' `add_pod` (`add`) or `remove_pod` of every plugin whose
/// PreFilter did not skip (`RunPreFilterExtensionAddPod` / `RemovePod`).
fn run_pre_filter_extension(
    profile: &Profile,
    state: &mut CycleState,
    pod: &PodInfo,
    other: &PodInfo,
    info: &NodeInfo,
    add: bool,
) -> Status {
    for plugin in &profile.pre_filter {
        let Some(ext) = plugin.as_pre_filter_extensions() else {
            continue;
        };
        if state.skip_filter_plugins.contains(&plugin.name()) {
            continue;
        }
        let status = if add {
            ext.add_pod(state, pod, other, info)
        } else {
            ext.remove_pod(state, pod, other, info)
        };
        if !status.is_success() {
            let op = if add { "AddPod" } else { "RemovePod" };
            return Status::error(format!(
                "running {op} on PreFilter plugin {:?}: {status}",
                plugin.name()
            ))
            .from_plugin(plugin.name());
        }
    }
    Status::success()
}

/// The framework as PostFilter plugins see it: the profile's filters and PreFilter extensions
/// over a snapshot (with its nominated pods).
pub struct ProfileHandle<'a> {
    /// The profile whose plugins run.
    pub profile: &'a Profile,
    /// The snapshot of the cycle.
    pub snapshot: &'a Snapshot,
}

impl FrameworkHandle for ProfileHandle<'_> {
    fn run_filter_plugins_with_nominated_pods(
        &self,
        state: &CycleState,
        pod: &PodInfo,
        node: &NodeInfo,
    ) -> Status {
        let filters = active_filters(self.profile, state);
        run_filters_with_nominated_pods(self.profile, &filters, self.snapshot, state, pod, node)
    }

    fn run_pre_filter_extension_add_pod(
        &self,
        state: &mut CycleState,
        pod: &PodInfo,
        pod_to_add: &PodInfo,
        node: &NodeInfo,
    ) -> Status {
        run_pre_filter_extension(self.profile, state, pod, pod_to_add, node, true)
    }

    fn run_pre_filter_extension_remove_pod(
        &self,
        state: &mut CycleState,
        pod: &PodInfo,
        pod_to_remove: &PodInfo,
        node: &NodeInfo,
    ) -> Status {
        run_pre_filter_extension(self.profile, state, pod, pod_to_remove, node, false)
    }
}

/// Runs the PostFilter plugins as kube-scheduler's `RunPostFilterPlugins` and records their
/// message and result in `fit` (schedule_one.go): the first success or
/// UnschedulableAndUnresolvable ends the run; otherwise the reasons of all are joined.
fn run_post_filter(
    profile: &Profile,
    snapshot: &Snapshot,
    state: &CycleState,
    pod: &PodInfo,
    fit: &mut FitError,
    rng: &mut dyn rand::RngCore,
) {
    if profile.post_filter.is_empty() {
        return;
    }
    let handle = ProfileHandle { profile, snapshot };
    let mut reasons: Vec<crate::framework::Reason> = Vec::new();
    let mut result = None;
    for plugin in &profile.post_filter {
        let Some(pf) = plugin.as_post_filter() else {
            continue;
        };
        let (r, status) = pf.post_filter(
            state,
            pod,
            snapshot,
            &fit.diagnosis.node_to_status,
            &handle,
            rng,
        );
        if status.is_success() || status.code == Code::UnschedulableAndUnresolvable {
            fit.diagnosis.post_filter_msg = Some(status.reasons.join(", "));
            fit.post_filter_result = r.map(Box::new);
            return;
        }
        if !status.is_rejected() {
            fit.diagnosis.post_filter_msg = Some(status.reasons.join(", "));
            return;
        }
        if r.is_some() {
            result = r;
        }
        reasons.extend(status.reasons);
    }
    fit.diagnosis.post_filter_msg = Some(reasons.join(", "));
    fit.post_filter_result = result.map(Box::new);
}

/// PostFilter after a PreFilter rejection: kube-scheduler then gives every node the PreFilter
/// status (as the status of absent nodes), so only an `Unschedulable` PreFilter leaves nodes
/// where preemption might help.
fn run_post_filter_after_pre_filter(
    profile: &Profile,
    snapshot: &Snapshot,
    state: &CycleState,
    pod: &PodInfo,
    status: &Status,
    fit: &mut FitError,
    rng: &mut dyn rand::RngCore,
) {
    if profile.post_filter.is_empty() {
        return;
    }
    let saved = std::mem::take(&mut fit.diagnosis.node_to_status);
    if status.code == Code::Unschedulable {
        for i in 0..snapshot.len() {
            fit.diagnosis.node_to_status.insert(i, status.clone());
        }
    }
    run_post_filter(profile, snapshot, state, pod, fit, rng);
    fit.diagnosis.node_to_status = saved;
}

/// Per-plugin normalized scores (before weight) of each feasible node, in `feasible` order.
pub type PluginScores = Vec<(&'static str, i64, Vec<i64>)>;

/// Runs PreScore, Score and NormalizeScore; returns each feasible node's weighted total and,
/// when `keep_per_plugin`, (plugin, weight, normalized scores per feasible node) for every
/// plugin that did not skip. With a `cache` (whose verdicts this cycle used), raw scores of
/// unchanged nodes come from it. A plugin without score extensions
/// ([`ScorePlugin::has_score_extensions`]) has its raw scores checked and weighed in place.
#[allow(clippy::too_many_arguments)]
fn run_scores(
    profile: &Profile,
    state: &mut CycleState,
    pod: &PodInfo,
    snapshot: &Snapshot,
    feasible: &[usize],
    cache: Option<&mut ScoreCache>,
    keep_per_plugin: bool,
    rng: Option<&mut rand_chacha::ChaCha8Rng>,
) -> Result<Scored, ScheduleError> {
    for plugin in &profile.pre_score {
        let Some(ps) = plugin.as_pre_score() else {
            continue;
        };
        let status = ps.pre_score(state, pod, snapshot, feasible);
        match status.code {
            Code::Success => {}
            Code::Skip => state.skip_score_plugins.push(plugin.name()),
            _ => {
                return Err(ScheduleError::Plugin {
                    plugin: plugin.name(),
                    message: status.to_string(),
                })
            }
        }
    }
    let state = &*state;
    // The plugins that score this pod, in profile order.
    let active: Vec<&WeightedPlugin> = profile
        .score
        .iter()
        .filter(|wp| {
            !state.skip_score_plugins.contains(&wp.plugin.name()) && wp.plugin.as_score().is_some()
        })
        .collect();
    let scorers: Vec<(&'static str, i64, &dyn ScorePlugin)> = active
        .iter()
        .filter_map(|wp| {
            let scorer = wp.plugin.as_score()?;
            Some((wp.plugin.name(), wp.weight, scorer))
        })
        .collect();
    let k = scorers.len();
    if k == 0 {
        return Ok(Scored::Totals(vec![0; feasible.len()], Vec::new()));
    }
    // Raw scores, a row of `k` per feasible node. As in kube-scheduler's RunScorePlugins
    // (framework/runtime/framework.go), one parallel task runs every plugin on a node, so each
    // node is read once and one parallel loop serves all plugins. Per plugin, the failure at the
    // first feasible node is kept, so the error reported does not depend on the thread count.
    // From the cache: every node's raw scores are current there (the changed nodes rescored),
    // unless a plugin failed, which the plain computation below then reports.
    let plugins: Vec<&Arc<dyn Plugin>> = active.iter().map(|wp| &wp.plugin).collect();
    let cache = cache.and_then(|c| {
        let inputs = scorers
            .iter()
            .map(|(_, _, scorer)| {
                let mut inputs = Vec::new();
                scorer.score_inputs(state, &mut inputs);
                inputs
            })
            .collect();
        let weights: Vec<i64> = scorers.iter().map(|&(_, weight, _)| weight).collect();
        c.begin_score(&plugins, &weights, inputs).then_some(c)
    });
    let cached: Option<&ScoreCache> = match cache {
        Some(cache) => {
            let current = cache.refresh_scores(snapshot, feasible, |i, p| {
                scorers[p].2.score(state, pod, &snapshot.nodes[i]).ok()
            });
            current.then_some(&*cache)
        }
        None => None,
    };
    if let (Some(cache), Some(rng), false) = (cached, rng, keep_per_plugin) {
        if let Some(best) = cache.select_best(feasible, rng) {
            return Ok(Scored::Chosen(best));
        }
    }
    let mut raw = vec![
        0i64;
        if cached.is_some() {
            0
        } else {
            feasible.len() * k
        }
    ];
    let score_node = |errors: &mut Vec<Option<(usize, Status)>>, pos: usize, row: &mut [i64]| {
        let info = &snapshot.nodes[feasible[pos]];
        for (p, (_, _, scorer)) in scorers.iter().enumerate() {
            match scorer.score(state, pod, info) {
                Ok(score) => row[p] = score,
                Err(status) => {
                    if errors[p].as_ref().is_none_or(|(first, _)| pos < *first) {
                        errors[p] = Some((pos, status));
                    }
                }
            }
        }
    };
    let errors: Vec<Option<(usize, Status)>> = if cached.is_some() {
        vec![None; k]
    } else if feasible.len() < PARALLEL_MIN_NODES {
        let mut errors = vec![None; k];
        for (pos, row) in raw.chunks_mut(k).enumerate() {
            score_node(&mut errors, pos, row);
        }
        errors
    } else {
        raw.par_chunks_mut(k)
            .enumerate()
            .fold(
                || vec![None; k],
                |mut errors, (pos, row)| {
                    score_node(&mut errors, pos, row);
                    errors
                },
            )
            .reduce(
                || vec![None; k],
                |mut a, b| {
                    for (x, y) in a.iter_mut().zip(b) {
                        if let Some((pos, status)) = y {
                            if x.as_ref().is_none_or(|(first, _)| pos < *first) {
                                *x = Some((pos, status));
                            }
                        }
                    }
                    a
                },
            )
    };
    let mut totals = vec![0i64; feasible.len()];
    let mut per_plugin: PluginScores = Vec::new();
    // One buffer serves every plugin that normalizes (or whose scores are kept).
    let mut buffer: Vec<NodeScore> = Vec::new();
    for (p, (&(name, weight, scorer), error)) in scorers.iter().zip(errors).enumerate() {
        // Plugin by plugin, as if each were scored and normalized in turn: a plugin's Score
        // error is reported before the later plugins' NormalizeScore errors.
        if let Some((_, status)) = error {
            return Err(ScheduleError::Plugin {
                plugin: name,
                message: status.to_string(),
            });
        }
        let column = cached.map(|cache| cache.raw_scores(p));
        if !keep_per_plugin && !scorer.has_score_extensions() {
            // Nothing to normalize: check and weigh the raw scores in place.
            let weighed = match column {
                Some(column) => weigh(&mut totals, feasible.iter().map(|&i| column[i]), weight),
                None => weigh(&mut totals, raw.iter().skip(p).step_by(k).copied(), weight),
            };
            weighed.map_err(|score| invalid_score(name, score))?;
            continue;
        }
        buffer.clear();
        match column {
            Some(column) => buffer.extend(feasible.iter().map(|&node| NodeScore {
                node,
                score: column[node],
            })),
            None => buffer.extend(feasible.iter().enumerate().map(|(pos, &node)| NodeScore {
                node,
                score: raw[pos * k + p],
            })),
        }
        let status = scorer.normalize_scores(state, pod, &mut buffer);
        if !status.is_success() {
            return Err(ScheduleError::Plugin {
                plugin: name,
                message: status.to_string(),
            });
        }
        if let Some(bad) = buffer
            .iter()
            .find(|s| !(0..=MAX_NODE_SCORE).contains(&s.score))
        {
            return Err(invalid_score(name, bad.score));
        }
        for (total, s) in totals.iter_mut().zip(&buffer) {
            *total += s.score * weight;
        }
        if keep_per_plugin {
            per_plugin.push((name, weight, buffer.iter().map(|s| s.score).collect()));
        }
    }
    Ok(Scored::Totals(totals, per_plugin))
}

/// What [`run_scores`] found.
enum Scored {
    /// Each feasible node's weighted total, and each plugin's normalized scores when they were
    /// asked for.
    Totals(Vec<i64>, PluginScores),
    /// The position among the feasible nodes of the node [`select_host`] would choose from the
    /// totals, chosen by the score cache without computing them (the random numbers drawn
    /// the same).
    Chosen(usize),
}

/// kube-scheduler's error for a score outside `0..=MAX_NODE_SCORE` after NormalizeScore.
fn invalid_score(plugin: &'static str, score: i64) -> ScheduleError {
    ScheduleError::Plugin {
        plugin,
        message: format!(
            "plugin {plugin} returns an invalid score {score}, it should in the range of [0, \
             {MAX_NODE_SCORE}] after normalizing"
        ),
    }
}

/// Adds `weight ×` each score to its node's total; the first score out of
/// `0..=MAX_NODE_SCORE` is returned instead.
#[inline]
fn weigh(totals: &mut [i64], scores: impl Iterator<Item = i64>, weight: i64) -> Result<(), i64> {
    let mut bad = None;
    for (total, score) in totals.iter_mut().zip(scores) {
        if !(0..=MAX_NODE_SCORE).contains(&score) {
            bad.get_or_insert(score);
        }
        *total += score * weight;
    }
    bad.map_or(Ok(()), Err)
}

/// Chooses a pod's node as kube-scheduler does: filter a rotating sample of nodes until enough
/// are feasible, score them, pick the highest total (ties broken at random from `cycle.rng`).
///
/// This is the plain computation: every node sampled is filtered and every feasible node
/// scored. [`schedule_pod_with_cache`] decides the same, faster for a run of similar pods.
pub fn schedule_pod(
    profile: &Profile,
    snapshot: &Snapshot,
    pod: &PodInfo,
    global_percentage: i32,
    cycle: &mut SchedulingCycleState,
) -> Result<ScheduleResult, ScheduleError> {
    let mut no_cache = ScoreCache::disabled();
    schedule_pod_with_cache(
        profile,
        snapshot,
        pod,
        global_percentage,
        cycle,
        &mut no_cache,
    )
}

/// [`schedule_pod`], reusing from `cache` the Filter verdicts and raw scores of node-local
/// plugins for nodes unchanged since a pod with the same spec was scheduled, and recording the
/// new ones there (see [`score_cache`](crate::score_cache)). The decision, the cycle state left
/// behind and the random numbers drawn are those of [`schedule_pod`].
pub fn schedule_pod_with_cache(
    profile: &Profile,
    snapshot: &Snapshot,
    pod: &PodInfo,
    global_percentage: i32,
    cycle: &mut SchedulingCycleState,
    cache: &mut ScoreCache,
) -> Result<ScheduleResult, ScheduleError> {
    let n = snapshot.len();
    if n == 0 {
        return Err(ScheduleError::NoNodes);
    }
    let mut state = CycleState::new();
    let outcome = match run_pre_filter(profile, &mut state, pod, snapshot) {
        Ok(a) => a,
        Err(PreFilterFailure::Rejected(status, plugins)) => {
            let mut fit = pre_filter_fit_error(&status, plugins, n);
            run_post_filter_after_pre_filter(
                profile,
                snapshot,
                &state,
                pod,
                &status,
                &mut fit,
                &mut cycle.rng,
            );
            return Err(ScheduleError::Unschedulable(fit));
        }
        Err(PreFilterFailure::Error(e)) => return Err(e),
    };
    // The candidates: the PreFilter subset, or every node. As in kube-scheduler's
    // `findNodesThatPassFilters`, the target count is computed on the candidates, which are read
    // from the rotating start index; the index then advances by the number of nodes processed,
    // modulo the number of all nodes (schedule_one.go).
    let subset = outcome.nodes.as_deref();
    let candidates = subset.map_or(n, <[usize]>::len);
    let pct = profile
        .percentage_of_nodes_to_score
        .unwrap_or(global_percentage);
    let want = if profile.score.is_empty() {
        1
    } else {
        num_feasible_nodes_to_find(candidates, pct)
    };
    let start = cycle.next_start_node_index;
    let node_at = |k: usize| {
        // `(start + k) % candidates`, without a division in the common case.
        let j = start + k;
        let j = if j < candidates { j } else { j % candidates };
        match subset {
            Some(s) => s[j],
            None => j,
        }
    };
    // The list from an earlier cycle, so that a cycle allocates none.
    let mut feasible = cache.take_feasible_list();
    feasible.reserve(want.min(candidates));
    // Rejected nodes in scan order: without the cache, their statuses are moved here; with it,
    // their verdicts stay in the cache and only their number is kept (`rejected_cached`): when
    // no node fits, every node scanned was rejected, so the scan order gives them back. Either
    // way nothing is copied or indexed until the pod turns out not to fit, which is the only
    // case that reads them (a cycle that finds a node needs only their number).
    let mut rejected: Vec<(usize, Status)> = Vec::new();
    let mut rejected_cached = 0usize;
    let mut processed = 0;
    // Filter in parallel chunks; each chunk's results are combined in order, so the feasible set
    // is the first `want` feasible nodes in candidate order whatever the thread count.
    let chunk = 512.max(want);
    let filters = active_filters(profile, &state);
    // With the cache, verdicts of nodes unchanged since they were last filtered for a pod of
    // this spec are reused (score_cache.rs); the loop below reads them in the same order.
    let cached = cache.begin_filter(pod, snapshot, &active_filter_plugins(profile, &state));
    if cached {
        cache.sync_verdicts(snapshot, |i| {
            filter_node(profile, &filters, snapshot, &state, pod, i)
        });
    }
    let mut from = 0;
    'outer: while from < candidates {
        let to = (from + chunk).min(candidates);
        let filter = |i: usize| filter_node(profile, &filters, snapshot, &state, pod, i);
        if cached {
            cache.refresh_verdicts(snapshot, (from..to).map(node_at), filter);
            let passes = cache.passes_by_node();
            let mut k = from;
            while k < to {
                if subset.is_none() {
                    // Positions k.. are consecutive nodes up to the end of the list: take the
                    // nodes that pass there as one run.
                    let i = node_at(k);
                    let run = (to - k).min(candidates - i);
                    let fit = passes[i..i + run]
                        .iter()
                        .position(|&p| !p)
                        .unwrap_or(run)
                        .min(want - feasible.len());
                    feasible.extend(i..i + fit);
                    processed += fit;
                    k += fit;
                    if feasible.len() >= want {
                        break 'outer;
                    }
                    if fit == run {
                        continue;
                    }
                }
                // Node by node; without a subset, this node was rejected.
                processed += 1;
                let i = node_at(k);
                k += 1;
                if passes[i] {
                    feasible.push(i);
                    if feasible.len() >= want {
                        break 'outer;
                    }
                } else {
                    let status = cache.verdict(i);
                    if !status.is_rejected() {
                        return Err(filter_error(status));
                    }
                    rejected_cached += 1;
                }
            }
            from = to;
            continue;
        }
        let statuses: Vec<Status> = if to - from < PARALLEL_MIN_NODES {
            (from..to).map(|k| filter(node_at(k))).collect()
        } else {
            (from..to)
                .into_par_iter()
                .map(|k| filter(node_at(k)))
                .collect()
        };
        for (k, status) in (from..to).zip(statuses) {
            processed += 1;
            let i = node_at(k);
            if status.is_success() {
                feasible.push(i);
                if feasible.len() >= want {
                    break 'outer;
                }
            } else if status.is_rejected() {
                rejected.push((i, status));
            } else {
                return Err(filter_error(&status));
            }
        }
        from = to;
    }
    cycle.next_start_node_index = (start + processed) % n;
    let evaluated_nodes = feasible.len() + rejected.len() + rejected_cached;
    if !feasible.is_empty() {
        // Every node read passed, from `start` and round: the scoring may read the feasible
        // nodes as two runs of the list.
        let consecutive = subset.is_none() && feasible.len() == processed;
        cache.set_feasible_rotation(consecutive.then(|| feasible[0]));
        let result = score_feasible(
            profile,
            snapshot,
            pod,
            cycle,
            state,
            &feasible,
            evaluated_nodes,
            cached.then_some(&mut *cache),
        );
        cache.keep_feasible_list(feasible);
        return result;
    }
    // No node fits: kube-scheduler's Diagnosis, the rejections by node and the plugins that
    // gave them in the order the scan met them.
    let mut diagnosis = Diagnosis::default();
    let mut in_scan_order: Vec<(usize, Status)> = if rejected_cached == 0 {
        rejected
    } else {
        debug_assert_eq!(rejected_cached, processed);
        (0..processed)
            .map(node_at)
            .map(|i| (i, cache.verdict(i).clone()))
            .collect()
    };
    for (_, status) in &in_scan_order {
        if !diagnosis.unschedulable_plugins.contains(&status.plugin) {
            diagnosis.unschedulable_plugins.push(status.plugin);
        }
    }
    if let Some(subset) = subset {
        // Nodes the PreFilter plugins ruled out count as rejected by them (kube-scheduler's
        // "absent nodes" status).
        let excluded = outcome.excluded_status();
        let mut inside = vec![false; n];
        for &i in subset {
            inside[i] = true;
        }
        in_scan_order.extend(
            (0..n)
                .filter(|&i| !inside[i])
                .map(|i| (i, excluded.clone())),
        );
        for p in &outcome.narrowed_by {
            if !diagnosis.unschedulable_plugins.contains(p) {
                diagnosis.unschedulable_plugins.push(p);
            }
        }
    }
    diagnosis.node_to_status = in_scan_order.into_iter().collect();
    let mut fit = FitError {
        num_all_nodes: n,
        diagnosis,
        post_filter_result: None,
    };
    run_post_filter(profile, snapshot, &state, pod, &mut fit, &mut cycle.rng);
    Err(ScheduleError::Unschedulable(fit))
}

/// The error of a cycle in which a Filter plugin returned neither success nor a rejection
/// (framework.go `RunFilterPlugins`: any other status is an error of the cycle).
fn filter_error(status: &Status) -> ScheduleError {
    ScheduleError::Plugin {
        plugin: status.plugin,
        message: format!("running {:?} filter plugin: {status}", status.plugin),
    }
}

/// The scoring half of [`schedule_pod_with_cache`]: the best of `feasible` (not empty).
#[allow(clippy::too_many_arguments)]
fn score_feasible(
    profile: &Profile,
    snapshot: &Snapshot,
    pod: &PodInfo,
    cycle: &mut SchedulingCycleState,
    mut state: CycleState,
    feasible: &[usize],
    evaluated_nodes: usize,
    cache: Option<&mut ScoreCache>,
) -> Result<ScheduleResult, ScheduleError> {
    if feasible.len() == 1 {
        return Ok(ScheduleResult {
            suggested_host: snapshot.nodes[feasible[0]].name().to_string(),
            evaluated_nodes,
            feasible_nodes: 1,
        });
    }
    let rng = &mut cycle.rng;
    let best = match run_scores(
        profile,
        &mut state,
        pod,
        snapshot,
        feasible,
        cache,
        false,
        Some(&mut *rng),
    )? {
        Scored::Chosen(best) => best,
        Scored::Totals(totals, _) => select_host(&totals, rng),
    };
    Ok(ScheduleResult {
        suggested_host: snapshot.nodes[feasible[best]].name().to_string(),
        evaluated_nodes,
        feasible_nodes: feasible.len(),
    })
}

/// The index of the highest total. When several nodes share it, each of them is equally likely
/// to be chosen, with one draw from `rng` (none when one node has it). kube-scheduler's
/// `selectHost` (v1.34, pkg/scheduler/schedule_one.go) pops the nodes with the highest total
/// from a heap and reservoir-samples among them with one `rand.Intn` per tied node, which
/// also makes every tied node equally likely; one draw of the position among the tied nodes,
/// in the order the nodes were scanned, gives that distribution at the cost of one random
/// number per cycle.
pub fn select_host(totals: &[i64], rng: &mut impl Rng) -> usize {
    choose_in_runs([totals, &[]], rng)
}

/// [`select_host`] over the totals of `runs` read one after the
/// other: the position (in that order) of the node chosen among those with the highest total,
/// with the same draw. The totals are read in blocks: a block's highest total first, then,
/// only in blocks that reach the best so far, its count of nodes at that total, so that the
/// tied node drawn is found in its block rather than by a second pass over every node.
pub(crate) fn choose_in_runs<T: Copy + Ord>(runs: [&[T]; 2], rng: &mut impl Rng) -> usize {
    const BLOCK: usize = 256;
    let mut best: Option<T> = None;
    let mut tied = 0usize;
    // The blocks that hold the best total so far: (run, start in the run, nodes at the best).
    let mut blocks: Vec<(usize, usize, usize)> = Vec::new();
    for (r, run) in runs.iter().enumerate() {
        for (b, block) in run.chunks(BLOCK).enumerate() {
            let Some(highest) = block.iter().copied().max() else {
                continue;
            };
            if best.is_some_and(|b| highest < b) {
                continue;
            }
            if best.is_none_or(|b| highest > b) {
                best = Some(highest);
                tied = 0;
                blocks.clear();
            }
            let count = block.iter().filter(|&&t| t == highest).count();
            tied += count;
            blocks.push((r, b * BLOCK, count));
        }
    }
    // One draw, none for a single node.
    let mut skip = if tied > 1 {
        rng.random_range(0..tied as u64) as usize
    } else {
        0
    };
    for (r, start, count) in blocks {
        if skip >= count {
            skip -= count;
            continue;
        }
        let offset = if r == 0 { 0 } else { runs[0].len() };
        let block = &runs[r][start..(start + BLOCK).min(runs[r].len())];
        let at = block
            .iter()
            .enumerate()
            .filter(|(_, &t)| Some(t) == best)
            .nth(skip)
            .map_or(0, |(pos, _)| pos);
        return offset + start + at;
    }
    0
}

/// How one node fared for a pod.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct NodeExplanation {
    /// The node's name.
    pub name: String,
    /// Whether every filter passed.
    pub feasible: bool,
    /// Why a filter rejected it.
    pub reasons: Vec<String>,
    /// Each score plugin's normalized score (0–100, before weight), by plugin name; plugins that
    /// skipped the pod are absent.
    pub scores: BTreeMap<String, i64>,
    /// The weighted sum of the scores.
    pub total: i64,
}

/// A full explanation of a scheduling decision: every node, with filter verdicts and scores.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Explanation {
    /// `namespace/name` of the pod.
    pub pod: String,
    /// The node the scheduler would choose, if any.
    pub selected: Option<String>,
    /// The failure message when no node fits (empty otherwise).
    pub message: String,
    /// Every node, in the snapshot's order.
    pub nodes: Vec<NodeExplanation>,
}

/// Explains how `pod` would be scheduled with `profile`: every node is filtered (as with
/// `percentageOfNodesToScore: 100`) and every feasible node scored; ties are broken with `rng`.
///
/// With the same random stream, the node chosen is the one [`schedule_pod`] chooses at
/// `percentageOfNodesToScore: 100` when its rotating start index is 0 (the candidates are then
/// read in the same order); from another start index, it is one of the nodes with the same best
/// total.
pub fn explain(
    profile: &Profile,
    snapshot: &Snapshot,
    pod: &PodInfo,
    rng: &mut impl Rng,
) -> Result<Explanation, ScheduleError> {
    let mut nodes: Vec<NodeExplanation> = snapshot
        .nodes
        .iter()
        .map(|n| NodeExplanation {
            name: n.name().to_string(),
            feasible: false,
            reasons: Vec::new(),
            scores: BTreeMap::new(),
            total: 0,
        })
        .collect();
    let mut explanation = Explanation {
        pod: pod.key(),
        selected: None,
        message: String::new(),
        nodes: Vec::new(),
    };
    if snapshot.is_empty() {
        explanation.message = ScheduleError::NoNodes.to_string();
        return Ok(explanation);
    }
    let mut state = CycleState::new();
    let outcome = match run_pre_filter(profile, &mut state, pod, snapshot) {
        Ok(a) => a,
        Err(PreFilterFailure::Rejected(status, plugins)) => {
            for n in &mut nodes {
                n.reasons = status.reasons.iter().map(|r| r.to_string()).collect();
            }
            let mut fit = pre_filter_fit_error(&status, plugins, snapshot.len());
            run_post_filter_after_pre_filter(
                profile, snapshot, &state, pod, &status, &mut fit, rng,
            );
            explanation.message = fit.to_string();
            explanation.nodes = nodes;
            return Ok(explanation);
        }
        Err(PreFilterFailure::Error(e)) => return Err(e),
    };
    let inside: Option<Vec<bool>> = outcome.nodes.as_ref().map(|subset| {
        let mut inside = vec![false; snapshot.len()];
        for &i in subset {
            inside[i] = true;
        }
        inside
    });
    let filters = active_filters(profile, &state);
    let statuses: Vec<Status> = (0..snapshot.len())
        .into_par_iter()
        .map(|i| match &inside {
            Some(inside) if !inside[i] => outcome.excluded_status(),
            _ => filter_node(profile, &filters, snapshot, &state, pod, i),
        })
        .collect();
    let mut feasible = Vec::new();
    let mut diagnosis = Diagnosis::default();
    for (i, status) in statuses.into_iter().enumerate() {
        if status.is_success() {
            nodes[i].feasible = true;
            feasible.push(i);
        } else if status.is_rejected() {
            nodes[i].reasons = status.reasons.iter().map(|r| r.to_string()).collect();
            diagnosis.node_to_status.insert(i, status);
        } else {
            return Err(ScheduleError::Plugin {
                plugin: status.plugin,
                message: format!("running {:?} filter plugin: {status}", status.plugin),
            });
        }
    }
    if feasible.is_empty() {
        let mut fit = FitError {
            num_all_nodes: snapshot.len(),
            diagnosis,
            post_filter_result: None,
        };
        run_post_filter(profile, snapshot, &state, pod, &mut fit, rng);
        explanation.message = fit.to_string();
        explanation.nodes = nodes;
        return Ok(explanation);
    }
    let Scored::Totals(totals, scores) = run_scores(
        profile, &mut state, pod, snapshot, &feasible, None, true, None,
    )?
    else {
        unreachable!("without the cache, run_scores computes the totals");
    };
    for (name, _, list) in &scores {
        for (&node, &s) in feasible.iter().zip(list) {
            nodes[node].scores.insert((*name).to_string(), s);
        }
    }
    for (&node, &t) in feasible.iter().zip(&totals) {
        nodes[node].total = t;
    }
    let best = select_host(&totals, rng);
    explanation.selected = Some(snapshot.nodes[feasible[best]].name().to_string());
    explanation.nodes = nodes;
    Ok(explanation)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::framework::{FilterPlugin, Plugin, PreFilterPlugin, PreFilterResult, ScorePlugin};
    use crate::node_info::NodeInfo;
    use crate::plugins::testing::{pod, simple_node};
    use crate::profile::WeightedPlugin;
    use rand::SeedableRng;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;

    /// A test plugin: its PreFilter returns `subset` (or `status`), its Filter passes every node
    /// not in `reject`, its Score is 0; it counts its PreFilter calls.
    struct Fake {
        name: &'static str,
        subset: Option<Vec<usize>>,
        status: Code,
        reject: Vec<usize>,
        calls: AtomicUsize,
    }

    impl Fake {
        fn new(name: &'static str) -> Fake {
            Fake {
                name,
                subset: None,
                status: Code::Success,
                reject: Vec::new(),
                calls: AtomicUsize::new(0),
            }
        }
    }

    impl Plugin for Fake {
        fn name(&self) -> &'static str {
            self.name
        }
        fn as_pre_filter(&self) -> Option<&dyn PreFilterPlugin> {
            Some(self)
        }
        fn as_filter(&self) -> Option<&dyn FilterPlugin> {
            Some(self)
        }
        fn as_score(&self) -> Option<&dyn ScorePlugin> {
            Some(self)
        }
    }

    impl PreFilterPlugin for Fake {
        fn pre_filter(
            &self,
            _: &mut CycleState,
            _: &PodInfo,
            _: &Snapshot,
        ) -> (PreFilterResult, Status) {
            self.calls.fetch_add(1, Ordering::Relaxed);
            let status = match self.status {
                Code::Success => Status::success(),
                code => Status::new(code, format!("{} says no", self.name)),
            };
            (
                PreFilterResult {
                    nodes: self.subset.clone(),
                },
                status,
            )
        }
    }

    impl FilterPlugin for Fake {
        fn filter(&self, _: &CycleState, _: &PodInfo, node: &NodeInfo) -> Status {
            let i: usize = node.name()[1..].parse().expect("nN");
            if self.reject.contains(&i) {
                Status::unschedulable(format!("{} rejects", self.name))
            } else {
                Status::success()
            }
        }
    }

    impl ScorePlugin for Fake {
        fn score(&self, _: &CycleState, _: &PodInfo, _: &NodeInfo) -> Result<i64, Status> {
            Ok(0)
        }
    }

    fn setup(n: usize, plugins: Vec<Arc<Fake>>) -> (Profile, Snapshot, PodInfo) {
        let nodes: Vec<_> = (0..n)
            .map(|i| simple_node(&format!("n{i}"), 1000, 1 << 30, &[]))
            .collect();
        let snapshot = Snapshot::new(&nodes, &[], &[]);
        let as_dyn: Vec<Arc<dyn Plugin>> = plugins
            .iter()
            .map(|p| p.clone() as Arc<dyn Plugin>)
            .collect();
        let profile = Profile {
            scheduler_name: "test".into(),
            pre_filter: as_dyn.clone(),
            filter: as_dyn.clone(),
            score: as_dyn
                .iter()
                .map(|p| WeightedPlugin {
                    plugin: p.clone(),
                    weight: 1,
                })
                .collect(),
            ..Profile::default()
        };
        let p = PodInfo::new(pod(serde_json::json!({
            "metadata": {"name": "p"},
            "spec": {"containers": [{"name": "c", "image": "i"}]}
        })));
        (profile, snapshot, p)
    }

    fn cycle(start: usize) -> SchedulingCycleState {
        SchedulingCycleState {
            next_start_node_index: start,
            rng: rand_chacha::ChaCha8Rng::seed_from_u64(3),
        }
    }

    #[test]
    fn sampling_starts_at_the_rotating_index_and_advances_it() {
        // 200 nodes, adaptive percentage: max(100, 200 * 49 / 100) = 100 nodes to find.
        let (profile, snapshot, p) = setup(200, vec![Arc::new(Fake::new("A"))]);
        let mut c = cycle(150);
        let r = schedule_pod(&profile, &snapshot, &p, 0, &mut c).expect("scheduled");
        assert_eq!((r.evaluated_nodes, r.feasible_nodes), (100, 100));
        assert_eq!(c.next_start_node_index, 50);
        // Rejected nodes count as processed too (schedule_one.go: feasible + NodeToStatus).
        let mut a = Fake::new("A");
        a.reject = (50..60).collect();
        let (profile, snapshot, p) = setup(200, vec![Arc::new(a)]);
        let mut c = cycle(50);
        let r = schedule_pod(&profile, &snapshot, &p, 0, &mut c).expect("scheduled");
        assert_eq!((r.evaluated_nodes, r.feasible_nodes), (110, 100));
        assert_eq!(c.next_start_node_index, 160);
    }

    #[test]
    fn a_pre_filter_subset_is_sampled_like_all_nodes() {
        // findNodesThatPassFilters computes the target on the subset (150 nodes: 100) and reads
        // it from the rotating index; the index then advances modulo all the nodes.
        let mut a = Fake::new("A");
        a.subset = Some((0..150).collect());
        let (profile, snapshot, p) = setup(300, vec![Arc::new(a)]);
        let mut c = cycle(120);
        let r = schedule_pod(&profile, &snapshot, &p, 0, &mut c).expect("scheduled");
        assert_eq!((r.evaluated_nodes, r.feasible_nodes), (100, 100));
        assert_eq!(c.next_start_node_index, 220);
        // With a 50-node subset every node of it is evaluated.
        let mut a = Fake::new("A");
        a.subset = Some((100..150).collect());
        let (profile, snapshot, p) = setup(300, vec![Arc::new(a)]);
        let mut c = cycle(0);
        let r = schedule_pod(&profile, &snapshot, &p, 0, &mut c).expect("scheduled");
        assert_eq!((r.evaluated_nodes, r.feasible_nodes), (50, 50));
    }

    #[test]
    fn disjoint_pre_filter_subsets_reject_the_pod_outright() {
        let mut a = Fake::new("Zeta");
        a.subset = Some(vec![0, 1]);
        let mut b = Fake::new("Alpha");
        b.subset = Some(vec![2]);
        let (profile, snapshot, p) = setup(3, vec![Arc::new(a), Arc::new(b)]);
        let err = schedule_pod(&profile, &snapshot, &p, 0, &mut cycle(0)).expect_err("rejected");
        assert_eq!(
            err.to_string(),
            "0/3 nodes are available: node(s) didn't satisfy plugin(s) [Alpha Zeta] simultaneously."
        );
        // Nodes outside one plugin's subset are rejected by it.
        let mut a = Fake::new("A");
        a.subset = Some(vec![1]);
        a.reject = vec![1];
        let (profile, snapshot, p) = setup(3, vec![Arc::new(a)]);
        let err = schedule_pod(&profile, &snapshot, &p, 0, &mut cycle(0)).expect_err("rejected");
        assert_eq!(
            err.to_string(),
            "0/3 nodes are available: 1 A rejects, 2 node(s) didn't satisfy plugin(s) [A]."
        );
    }

    #[test]
    fn an_unschedulable_pre_filter_lets_the_others_run() {
        // RunPreFilterPlugins: Unschedulable is remembered and the remaining plugins still run
        // (kubernetes#119770); UnschedulableAndUnresolvable stops at once.
        let mut a = Fake::new("A");
        a.status = Code::Unschedulable;
        let a = Arc::new(a);
        let b = Arc::new(Fake::new("B"));
        let (profile, snapshot, p) = setup(2, vec![a.clone(), b.clone()]);
        let err = schedule_pod(&profile, &snapshot, &p, 0, &mut cycle(0)).expect_err("rejected");
        assert_eq!(err.to_string(), "0/2 nodes are available: A says no.");
        assert_eq!(b.calls.load(Ordering::Relaxed), 1);
        let ScheduleError::Unschedulable(fit) = err else {
            panic!("a fit error");
        };
        assert_eq!(fit.diagnosis.unschedulable_plugins, ["A"]);

        let mut a = Fake::new("A");
        a.status = Code::UnschedulableAndUnresolvable;
        let b = Arc::new(Fake::new("B"));
        let (profile, snapshot, p) = setup(2, vec![Arc::new(a), b.clone()]);
        schedule_pod(&profile, &snapshot, &p, 0, &mut cycle(0)).expect_err("rejected");
        assert_eq!(b.calls.load(Ordering::Relaxed), 0);

        // An internal error is an error, not a rejection.
        let mut a = Fake::new("A");
        a.status = Code::Error;
        let (profile, snapshot, p) = setup(2, vec![Arc::new(a)]);
        let err = schedule_pod(&profile, &snapshot, &p, 0, &mut cycle(0)).expect_err("error");
        assert!(
            matches!(err, ScheduleError::Plugin { plugin: "A", .. }),
            "{err:?}"
        );
    }

    #[test]
    fn feasible_nodes_to_find_follows_kube_scheduler() {
        // Figures from schedule_one.go's documented examples.
        assert_eq!(num_feasible_nodes_to_find(50, 0), 50);
        assert_eq!(num_feasible_nodes_to_find(500, 0), 230);
        assert_eq!(num_feasible_nodes_to_find(1000, 0), 420);
        assert_eq!(num_feasible_nodes_to_find(5000, 0), 500);
        assert_eq!(num_feasible_nodes_to_find(6000, 0), 300);
        assert_eq!(num_feasible_nodes_to_find(5000, 100), 5000);
        assert_eq!(num_feasible_nodes_to_find(1000, 1), 100);
        assert_eq!(num_feasible_nodes_to_find(1000, 30), 300);
    }

    #[test]
    fn select_host_picks_the_best_and_spreads_ties() {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(1);
        let before = rng.clone();
        assert_eq!(select_host(&[1, 5, 3], &mut rng), 1);
        assert!(rng == before, "a single best node draws no random number");
        let mut seen = [0u32; 3];
        for _ in 0..3000 {
            seen[select_host(&[7, 7, 7], &mut rng)] += 1;
        }
        assert!(seen.iter().all(|&c| c > 800), "{seen:?}");
        // Only the nodes with the highest total take part, however the lower ones tie.
        let mut seen = [0u32; 6];
        for _ in 0..3000 {
            seen[select_host(&[4, 4, 9, 4, 9, 2], &mut rng)] += 1;
        }
        assert_eq!(seen[0] + seen[1] + seen[3] + seen[5], 0, "{seen:?}");
        assert!(seen[2] > 1300 && seen[4] > 1300, "{seen:?}");
    }

    #[test]
    fn fit_error_counts_and_sorts_reasons() {
        let mut d = Diagnosis::default();
        for i in 0..3 {
            d.node_to_status
                .insert(i, Status::unschedulable("Insufficient cpu"));
        }
        for i in 3..5 {
            d.node_to_status.insert(
                i,
                Status::unresolvable("node(s) had untolerated taint {dedicated: gpu}"),
            );
        }
        let e = FitError {
            num_all_nodes: 5,
            diagnosis: d,
            post_filter_result: None,
        };
        assert_eq!(
            e.to_string(),
            "0/5 nodes are available: 2 node(s) had untolerated taint {dedicated: gpu}, 3 Insufficient cpu."
        );
    }
}
