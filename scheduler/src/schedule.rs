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

use rand::Rng;
use rayon::prelude::*;

use crate::framework::{Code, CycleState, NodeScore, Status, MAX_NODE_SCORE};
use crate::node_info::PodInfo;
use crate::profile::Profile;
use crate::snapshot::Snapshot;

/// Below this many nodes, every node is evaluated (`minFeasibleNodesToFind`).
pub const MIN_FEASIBLE_NODES_TO_FIND: usize = 100;
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
}

/// No node fits the pod.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FitError {
    /// How many nodes the cluster has.
    pub num_all_nodes: usize,
    /// What each node said.
    pub diagnosis: Diagnosis,
}

impl fmt::Display for FitError {
    /// kube-scheduler's message: `0/5 nodes are available: 2 Insufficient cpu, 3 node(s) had
    /// untolerated taint {dedicated: gpu}.` — reasons counted over nodes and sorted as strings.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "0/{} nodes are available:", self.num_all_nodes)?;
        if let Some(msg) = &self.diagnosis.pre_filter_msg {
            return write!(f, " {msg}.");
        }
        let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
        for status in self.diagnosis.node_to_status.values() {
            for reason in &status.reasons {
                *counts.entry(reason.as_str()).or_insert(0) += 1;
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
        Ok(())
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

/// Runs PreFilter plugins. Returns the nodes to consider or the rejection.
fn run_pre_filter(
    profile: &Profile,
    state: &mut CycleState,
    pod: &PodInfo,
    snapshot: &Snapshot,
) -> Result<PreFilterOutcome, Status> {
    let mut outcome = PreFilterOutcome {
        nodes: None,
        narrowed_by: Vec::new(),
    };
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
            _ => return Err(status.from_plugin(plugin.name())),
        }
        if let Some(nodes) = result.nodes {
            outcome.narrowed_by.push(plugin.name());
            outcome.nodes = Some(match outcome.nodes {
                None => nodes,
                Some(prev) => prev.into_iter().filter(|n| nodes.contains(n)).collect(),
            });
        }
    }
    outcome.narrowed_by.sort_unstable();
    Ok(outcome)
}

/// Runs every Filter plugin on one node; the first rejection decides.
pub fn run_filters(
    profile: &Profile,
    state: &CycleState,
    pod: &PodInfo,
    snapshot: &Snapshot,
    node: usize,
) -> Status {
    let info = &snapshot.nodes[node];
    for plugin in &profile.filter {
        if state.skip_filter_plugins.contains(&plugin.name()) {
            continue;
        }
        let Some(f) = plugin.as_filter() else {
            continue;
        };
        let status = f.filter(state, pod, info);
        if !status.is_success() {
            return status.from_plugin(plugin.name());
        }
    }
    Status::success()
}

/// Per-plugin normalized scores (before weight) of each feasible node, in `feasible` order.
pub type PluginScores = Vec<(&'static str, i64, Vec<i64>)>;

/// Runs PreScore, Score and NormalizeScore; returns (plugin, weight, normalized scores per
/// feasible node) for every plugin that did not skip.
fn run_scores(
    profile: &Profile,
    state: &mut CycleState,
    pod: &PodInfo,
    snapshot: &Snapshot,
    feasible: &[usize],
) -> Result<PluginScores, ScheduleError> {
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
    let mut out = Vec::new();
    for wp in &profile.score {
        let name = wp.plugin.name();
        if state.skip_score_plugins.contains(&name) {
            continue;
        }
        let Some(scorer) = wp.plugin.as_score() else {
            continue;
        };
        let raw: Result<Vec<NodeScore>, Status> = feasible
            .par_iter()
            .map(|&n| {
                scorer
                    .score(state, pod, &snapshot.nodes[n])
                    .map(|score| NodeScore { node: n, score })
            })
            .collect();
        let mut scores = raw.map_err(|s| ScheduleError::Plugin {
            plugin: name,
            message: s.to_string(),
        })?;
        let status = scorer.normalize_scores(state, pod, &mut scores);
        if !status.is_success() {
            return Err(ScheduleError::Plugin {
                plugin: name,
                message: status.to_string(),
            });
        }
        if let Some(bad) = scores
            .iter()
            .find(|s| !(0..=MAX_NODE_SCORE).contains(&s.score))
        {
            return Err(ScheduleError::Plugin {
                plugin: name,
                message: format!(
                    "plugin {name} returns an invalid score {}, it should in the range of [0, {MAX_NODE_SCORE}] after normalizing",
                    bad.score
                ),
            });
        }
        out.push((
            name,
            wp.weight,
            scores.into_iter().map(|s| s.score).collect(),
        ));
    }
    Ok(out)
}

/// Chooses a pod's node as kube-scheduler does: filter a rotating sample of nodes until enough
/// are feasible, score them, pick the highest total (ties broken at random from `cycle.rng`).
pub fn schedule_pod(
    profile: &Profile,
    snapshot: &Snapshot,
    pod: &PodInfo,
    global_percentage: i32,
    cycle: &mut SchedulingCycleState,
) -> Result<ScheduleResult, ScheduleError> {
    let n = snapshot.len();
    if n == 0 {
        return Err(ScheduleError::NoNodes);
    }
    let mut state = CycleState::new();
    let outcome = match run_pre_filter(profile, &mut state, pod, snapshot) {
        Ok(a) => a,
        Err(status) => {
            let diagnosis = Diagnosis {
                pre_filter_msg: Some(status.to_string()),
                unschedulable_plugins: vec![status.plugin],
                node_to_status: BTreeMap::new(),
            };
            return Err(ScheduleError::Unschedulable(FitError {
                num_all_nodes: n,
                diagnosis,
            }));
        }
    };
    let allowed = outcome.nodes.clone();
    let pct = profile
        .percentage_of_nodes_to_score
        .unwrap_or(global_percentage);
    let want = if profile.score.is_empty() {
        1
    } else {
        num_feasible_nodes_to_find(n, pct)
    };
    // Candidate order: the allowed subset as given, or all nodes from the rotating start index.
    let order: Vec<usize> = match &allowed {
        Some(subset) => subset.clone(),
        None => (0..n)
            .map(|i| (cycle.next_start_node_index + i) % n)
            .collect(),
    };
    let mut feasible = Vec::new();
    let mut diagnosis = Diagnosis::default();
    let mut processed = 0;
    // Filter in parallel chunks; each chunk's results are combined in order, so the feasible set
    // is the first `want` feasible nodes in `order` whatever the thread count.
    let chunk = 512.max(want);
    'outer: for part in order.chunks(chunk) {
        let statuses: Vec<Status> = part
            .par_iter()
            .map(|&i| run_filters(profile, &state, pod, snapshot, i))
            .collect();
        for (&i, status) in part.iter().zip(statuses) {
            processed += 1;
            if status.is_success() {
                feasible.push(i);
                if feasible.len() >= want {
                    break 'outer;
                }
            } else {
                if !diagnosis.unschedulable_plugins.contains(&status.plugin) {
                    diagnosis.unschedulable_plugins.push(status.plugin);
                }
                diagnosis.node_to_status.insert(i, status);
            }
        }
    }
    match &allowed {
        None => cycle.next_start_node_index = (cycle.next_start_node_index + processed) % n,
        Some(subset) => {
            // Nodes the PreFilter plugins ruled out count as rejected by them.
            let excluded = outcome.excluded_status();
            for i in (0..n).filter(|i| !subset.contains(i)) {
                diagnosis.node_to_status.insert(i, excluded.clone());
            }
            for p in &outcome.narrowed_by {
                if !diagnosis.unschedulable_plugins.contains(p) {
                    diagnosis.unschedulable_plugins.push(p);
                }
            }
        }
    }
    if feasible.is_empty() {
        return Err(ScheduleError::Unschedulable(FitError {
            num_all_nodes: n,
            diagnosis,
        }));
    }
    if feasible.len() == 1 {
        return Ok(ScheduleResult {
            suggested_host: snapshot.nodes[feasible[0]].name().to_string(),
            evaluated_nodes: 1 + diagnosis.node_to_status.len(),
            feasible_nodes: 1,
        });
    }
    let scores = run_scores(profile, &mut state, pod, snapshot, &feasible)?;
    let totals = weighted_totals(&scores, feasible.len());
    let best = select_host(&totals, &mut cycle.rng);
    Ok(ScheduleResult {
        suggested_host: snapshot.nodes[feasible[best]].name().to_string(),
        evaluated_nodes: feasible.len() + diagnosis.node_to_status.len(),
        feasible_nodes: feasible.len(),
    })
}

fn weighted_totals(scores: &PluginScores, len: usize) -> Vec<i64> {
    let mut totals = vec![0i64; len];
    for (_, weight, list) in scores {
        for (t, s) in totals.iter_mut().zip(list) {
            *t += s * weight;
        }
    }
    totals
}

/// The index of the highest total; among equal totals, each is chosen with equal probability by
/// reservoir sampling, as kube-scheduler's `selectHost` does.
pub fn select_host(totals: &[i64], rng: &mut impl Rng) -> usize {
    let mut best = 0;
    let mut ties = 0u32;
    for (i, &t) in totals.iter().enumerate() {
        if i == 0 || t > totals[best] {
            best = i;
            ties = 1;
        } else if t == totals[best] {
            ties += 1;
            if rng.random_range(0..ties) == 0 {
                best = i;
            }
        }
    }
    best
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
    let mut state = CycleState::new();
    let outcome = match run_pre_filter(profile, &mut state, pod, snapshot) {
        Ok(a) => a,
        Err(status) => {
            for n in &mut nodes {
                n.reasons = status.reasons.clone();
            }
            let diagnosis = Diagnosis {
                pre_filter_msg: Some(status.to_string()),
                unschedulable_plugins: vec![status.plugin],
                node_to_status: BTreeMap::new(),
            };
            explanation.message = FitError {
                num_all_nodes: snapshot.len(),
                diagnosis,
            }
            .to_string();
            explanation.nodes = nodes;
            return Ok(explanation);
        }
    };
    let statuses: Vec<Status> = (0..snapshot.len())
        .into_par_iter()
        .map(|i| match &outcome.nodes {
            Some(subset) if !subset.contains(&i) => outcome.excluded_status(),
            _ => run_filters(profile, &state, pod, snapshot, i),
        })
        .collect();
    let mut feasible = Vec::new();
    let mut diagnosis = Diagnosis::default();
    for (i, status) in statuses.into_iter().enumerate() {
        if status.is_success() {
            nodes[i].feasible = true;
            feasible.push(i);
        } else {
            nodes[i].reasons = status.reasons.clone();
            diagnosis.node_to_status.insert(i, status);
        }
    }
    if feasible.is_empty() {
        explanation.message = FitError {
            num_all_nodes: snapshot.len(),
            diagnosis,
        }
        .to_string();
        explanation.nodes = nodes;
        return Ok(explanation);
    }
    let scores = run_scores(profile, &mut state, pod, snapshot, &feasible)?;
    let totals = weighted_totals(&scores, feasible.len());
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
    use rand::SeedableRng;

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
        assert_eq!(select_host(&[1, 5, 3], &mut rng), 1);
        let mut seen = [0u32; 3];
        for _ in 0..3000 {
            seen[select_host(&[7, 7, 7], &mut rng)] += 1;
        }
        assert!(seen.iter().all(|&c| c > 800), "{seen:?}");
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
        };
        assert_eq!(
            e.to_string(),
            "0/5 nodes are available: 2 node(s) had untolerated taint {dedicated: gpu}, 3 Insufficient cpu."
        );
    }
}
