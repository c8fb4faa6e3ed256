//! Filter verdicts and raw scores kept from one scheduling cycle to the next: the per pod-shape
//! cache of the scheduler's hot path.
//!
//! Consecutive pods are usually copies of one template (the replicas of a Deployment, the pods
//! of scheduler_perf's workloads), and a binding changes one node. For a *node-local* plugin
//! ([`Plugin::is_node_local`]) a node's Filter verdict and raw Score are a function of the pod's
//! spec, the plugin (its configuration) and the node's own [`NodeInfo`] (plus the number of
//! nodes and what [`ScorePlugin::score_inputs`] reports: ImageLocality's counts of the pod's
//! images). So when a pod has the spec of an earlier pod and the same
//! plugins take part, only the nodes whose [`NodeInfo::generation`] changed since they were
//! evaluated for that spec need evaluating again; the others give the verdict and the raw
//! scores they gave. The cache keeps an entry for each of the last [`capacity`] specs it saw, so
//! pods of several templates arriving interleaved (a trace's pod shapes) each find theirs.
//!
//! Sampling runs on every cycle exactly as without the cache. So do NormalizeScore, weighting and
//! the choice among the best nodes, over the same values, with one shortcut: each entry also
//! keeps per node the weighted sum of the raw scores of the scorers that do not normalize, and
//! when every normalizing scorer gave every feasible node 0 (and says such a list normalizes to
//! one value, [`ScorePlugin::normalizes_zeros_uniformly`]), the totals differ from those sums by
//! one constant, so the cycle chooses from the sums (`ScoreCache::select_best`). Either way a
//! cycle decides the same and draws the same random numbers as without the cache (the property
//! test `cache_decides_as_plain` below runs both side by side over random clusters and
//! sequences of pods bound and removed).
//!
//! Finding the nodes that changed costs no pass over all of them when the snapshot keeps a
//! journal of the nodes its owner changed (the scheduler's [`Cache`](crate::cache::Cache) does):
//! an entry filters again the nodes noted since its last cycle, and scores again the nodes
//! listed when their verdict was computed. Without a journal, each cycle compares the
//! generations of the nodes it reads.
//!
//! The cache is bypassed for a cycle (and costs nothing) when a Filter or Score plugin that takes
//! part is not node-local (InterPodAffinity and PodTopologySpread when they do not skip, the
//! volume plugins, user plugins), and when pods are nominated to nodes (their filters then
//! depend on other pods).
//!
//! An entry's key holds the pod (compared by spec) and the participating plugins (compared by
//! address, and kept alive by the key so an address is never reused while cached). Node
//! generations are unique in the process, so an entry stays valid across node additions,
//! removals and re-layouts of the snapshot; its verdicts are reset only when the number of
//! nodes changes.

use std::sync::Arc;

use flotilla_model::api::Pod;
use flotilla_model::Shared;
use rand::Rng;
use rayon::prelude::*;

#[cfg(doc)]
use crate::framework::ScorePlugin;
use crate::framework::{Plugin, Status, MAX_NODE_SCORE};
#[cfg(doc)]
use crate::node_info::NodeInfo;
use crate::node_info::PodInfo;
use crate::schedule::choose_in_runs;
use crate::snapshot::Snapshot;

/// Below this many nodes to (re)evaluate, the cache does so on the calling thread.
const PARALLEL_MIN_NODES: usize = 128;

/// The most pod specs the cache keeps entries for. Pods of many templates that arrive
/// interleaved (a trace's pod shapes, several Deployments scaling at once) each find their
/// entry again; the least recently used entry makes room for a new spec. Fewer are kept on
/// large clusters: see [`capacity`].
pub const SHAPES: usize = 128;

/// Node entries (one pod spec's verdict and raw scores for one node, about a hundred bytes)
/// the cache holds at most, when that allows more than [`MIN_SHAPES`] specs.
const NODE_ENTRIES: usize = 1 << 20;

/// The fewest pod specs the cache keeps entries for, however large the cluster.
pub const MIN_SHAPES: usize = 16;

/// How many pod specs the cache keeps entries for on a cluster of `num_nodes` nodes: as many
/// as fit in about a million node entries, between [`MIN_SHAPES`] and [`SHAPES`] (128 up
/// to 8,192 nodes, 104 at 10,000, 16 from 65,536).
pub fn capacity(num_nodes: usize) -> usize {
    (NODE_ENTRIES / num_nodes.max(1)).clamp(MIN_SHAPES, SHAPES)
}

/// Verdicts and raw scores per node, for up to [`capacity`] pod specs, each valid for one set of
/// plugins. See the [module docs](self).
#[derive(Clone, Default)]
pub struct ScoreCache {
    /// When false, every cycle evaluates every node (the plain computation).
    disabled: bool,
    /// The entries, most recently used first; the current cycle's entry is the first.
    entries: Vec<ShapeEntry>,
    /// The list of feasible nodes of the last cycle, kept for its memory.
    feasible_list: Vec<usize>,
    /// `Some(start)` when this cycle's feasible nodes are consecutive nodes of the list,
    /// `start, start + 1, …` and round past the end (set by the scan): all the nodes it read
    /// passed.
    feasible_rotation: Option<usize>,
}

/// The cached verdicts and raw scores of one pod spec.
#[derive(Clone, Default)]
struct ShapeEntry {
    /// The pod whose spec the entry is for.
    pod: Option<Arc<Pod>>,
    /// The pod's CPU and memory requests: compared before the spec, so that looking up a
    /// spec among the entries rarely compares whole specs that differ.
    requests: (i64, i64),
    /// The number of nodes of the snapshot the entry is for.
    num_nodes: usize,
    /// The Filter plugins the verdicts are for, in order.
    filters: Vec<Arc<dyn Plugin>>,
    /// Per node (snapshot index): the generation the verdict was computed at, 0 for none.
    verdict_generation: Vec<u64>,
    /// How many nodes have no verdict (generation 0).
    unverdicted: usize,
    /// The snapshot [journal](crate::snapshot::Journal) the verdicts were brought up to date
    /// with (0 for none), and how far: while it is the snapshot's, every node with a verdict
    /// has a current one once the nodes noted since are filtered again.
    journal_id: u64,
    journal_pos: usize,
    /// Per node: the verdict, attributed to the plugin that gave it.
    verdicts: Vec<Status>,
    /// Per node: whether the verdict is success (what the hot loop reads).
    passes: Vec<bool>,
    /// The Score plugins the raw scores are for, in order.
    scorers: Vec<Arc<dyn Plugin>>,
    /// Per scorer: what it reported in [`ScorePlugin::score_inputs`] when its raw scores were
    /// computed (ImageLocality's image counts).
    score_inputs: Vec<Vec<u64>>,
    /// Per scorer, per node: the generation its raw score was computed at, 0 for none (per
    /// scorer, so that when one scorer's inputs change only its scores are computed again).
    score_generation: Vec<Vec<u64>>,
    /// Per node: the generation at which every scorer's raw score was current, 0 when some
    /// may not be (the one comparison the common case makes).
    all_scored_generation: Vec<u64>,
    /// Every node whose verdict passes and whose raw scores may not be current for it (and
    /// maybe others): the nodes [`refresh_scores`](ScoreCache::refresh_scores) looks at, so
    /// that a cycle does not compare the generations of every feasible node.
    unscored: Vec<usize>,
    /// Per node: whether it is in `unscored`.
    listed: Vec<bool>,
    /// Per scorer, the raw score of each node (columns, so that the per-plugin passes over the
    /// feasible nodes read consecutive memory).
    raw: Vec<Vec<i64>>,
    /// Per scorer, its weight in the profile.
    weights: Vec<i64>,
    /// A bit per scorer that normalizes its scores (`has_score_extensions`).
    normalizing: u64,
    /// Whether every normalizing scorer gives all nodes one score when all their raw scores
    /// are 0 ([`ScorePlugin::normalizes_zeros_uniformly`]), and the weights keep every sum of
    /// scores within `base`'s 32 bits: then, for pods whose feasible
    /// nodes all have raw score 0 from those scorers, [`select_best`](ScoreCache::select_best)
    /// chooses from `base` alone.
    uniform: bool,
    /// Per node: the weighted sum of the raw scores of the scorers that do not normalize,
    /// current with `all_scored_generation` (32 bits, which `uniform` requires to hold every
    /// possible sum, so that the choice compares twice as many at a time).
    base: Vec<i32>,
    /// Per node: a bit per scorer whose raw score keeps `base` from ranking the node the way
    /// the totals would: a normalizing scorer's raw score that is not 0, or another scorer's
    /// score outside `0..=MAX_NODE_SCORE` (which the plain computation reports as an error).
    odd: Vec<u64>,
}

impl std::fmt::Debug for ScoreCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let names = |v: &[Arc<dyn Plugin>]| v.iter().map(|p| p.name()).collect::<Vec<_>>();
        let current = self.entries.first();
        f.debug_struct("ScoreCache")
            .field("disabled", &self.disabled)
            .field("entries", &self.entries.len())
            .field("num_nodes", &current.map(|e| e.num_nodes))
            .field("filters", &current.map(|e| names(&e.filters)))
            .field("scorers", &current.map(|e| names(&e.scorers)))
            .finish_non_exhaustive()
    }
}

/// Whether two plugin lists are the same plugins (by address) in the same order.
fn same_plugins(held: &[Arc<dyn Plugin>], now: &[&Arc<dyn Plugin>]) -> bool {
    held.len() == now.len() && held.iter().zip(now).all(|(a, b)| Arc::ptr_eq(a, b))
}

impl ShapeEntry {
    /// Whether the entry is for `pod`'s spec.
    fn is_for(&self, pod: &PodInfo) -> bool {
        self.requests == (pod.requests.milli_cpu, pod.requests.memory)
            && self
                .pod
                .as_ref()
                .is_some_and(|p| Arc::ptr_eq(p, &pod.pod) || p.spec == pod.pod.spec)
    }

    /// Whether the entry's pod shares `pod`'s spec (compares by address).
    fn shares_spec(&self, pod: &PodInfo) -> bool {
        self.pod
            .as_ref()
            .is_some_and(|p| Shared::ptr_eq(&p.spec, &pod.pod.spec))
    }
}

/// Whether node `i` has a verdict computed at another generation than its current one.
fn changed_now(entry: &ShapeEntry, snapshot: &Snapshot, i: usize) -> bool {
    let g = entry.verdict_generation[i];
    g != 0 && g != snapshot.nodes[i].generation
}

impl ScoreCache {
    /// A cache that never holds anything: every cycle computes every node, as kube-scheduler
    /// does (to compare with, and for callers that want no state kept between cycles).
    pub fn disabled() -> ScoreCache {
        ScoreCache {
            disabled: true,
            ..ScoreCache::default()
        }
    }

    /// Whether the cache is in use.
    pub fn is_enabled(&self) -> bool {
        !self.disabled
    }

    /// An empty list for a cycle's feasible nodes, with the memory of an earlier one (kept
    /// even when the cache is disabled: it holds no decision).
    pub(crate) fn take_feasible_list(&mut self) -> Vec<usize> {
        let mut list = std::mem::take(&mut self.feasible_list);
        list.clear();
        list
    }

    /// Records that this cycle's feasible nodes are consecutive nodes, read from `start` and
    /// round past the end of the list (`None`: they may be any nodes in any order).
    pub(crate) fn set_feasible_rotation(&mut self, start: Option<usize>) {
        self.feasible_rotation = start;
    }

    /// Keeps `list` for the next cycle's [`take_feasible_list`](Self::take_feasible_list).
    pub(crate) fn keep_feasible_list(&mut self, list: Vec<usize>) {
        self.feasible_list = list;
    }

    /// Drops every entry.
    pub fn clear(&mut self) {
        self.entries.clear();
    }

    /// The number of pod specs the cache holds entries for (at most [`capacity`] of the
    /// number of nodes).
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether the cache holds no entry.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The current cycle's entry. Only called after [`begin_filter`](Self::begin_filter)
    /// returned true, which puts it first.
    #[inline]
    fn current(&self) -> &ShapeEntry {
        &self.entries[0]
    }

    #[inline]
    fn current_mut(&mut self) -> &mut ShapeEntry {
        &mut self.entries[0]
    }

    /// Prepares the verdicts for a cycle of `pod` with the Filter plugins `filters` (those that
    /// take part, in order); returns whether this cycle can use them. The entry for the pod's
    /// spec becomes the current one (a new entry when there is none, in place of the least
    /// recently used when the cache is full); its verdicts recorded for other plugins or
    /// another number of nodes are dropped.
    pub(crate) fn begin_filter(
        &mut self,
        pod: &PodInfo,
        snapshot: &Snapshot,
        filters: &[&Arc<dyn Plugin>],
    ) -> bool {
        if self.disabled
            || !snapshot.nominated_pods.is_empty()
            || filters.iter().any(|p| !p.is_node_local())
        {
            return false;
        }
        match self.entries.iter().position(|e| e.is_for(pod)) {
            Some(j) => {
                // Keep the latest pod of the spec: the pods that follow it often share its
                // spec (copies of one pod), and then compare by address.
                if !self.entries[j].shares_spec(pod) {
                    self.entries[j].pod = Some(pod.pod.clone());
                }
                self.entries[..=j].rotate_right(1)
            }
            None => {
                self.entries.truncate(capacity(snapshot.len()) - 1);
                self.entries.insert(
                    0,
                    ShapeEntry {
                        pod: Some(pod.pod.clone()),
                        requests: (pod.requests.milli_cpu, pod.requests.memory),
                        ..ShapeEntry::default()
                    },
                );
            }
        }
        let n = snapshot.len();
        let entry = self.current_mut();
        if entry.num_nodes != n {
            let pod = entry.pod.take();
            let requests = entry.requests;
            *entry = ShapeEntry {
                pod,
                requests,
                num_nodes: n,
                ..ShapeEntry::default()
            };
        }
        if !same_plugins(&entry.filters, filters) {
            entry.filters = filters.iter().map(|&p| p.clone()).collect();
            entry.verdict_generation.clear();
            entry.unverdicted = 0;
            entry.verdicts.clear();
            entry.passes.clear();
            // Every node is filtered again before it is read, and listed then if it passes.
            entry.unscored.clear();
            entry.listed.clear();
        }
        entry.unverdicted += n - entry.verdict_generation.len();
        entry.verdict_generation.resize(n, 0);
        entry.verdicts.resize(n, Status::success());
        entry.passes.resize(n, true);
        entry.listed.resize(n, false);
        true
    }

    /// Brings the verdicts of the nodes that have one up to date, evaluating again with
    /// `filter` those of nodes changed since: the nodes the snapshot's journal noted since
    /// the last cycle of this entry, or, without a journal to follow, every node whose
    /// generation differs. Call once per cycle, after [`begin_filter`](Self::begin_filter)
    /// returned true; [`refresh_verdicts`](Self::refresh_verdicts) then only has nodes without a
    /// verdict to evaluate.
    pub(crate) fn sync_verdicts(
        &mut self,
        snapshot: &Snapshot,
        filter: impl Fn(usize) -> Status + Sync,
    ) {
        let journal = snapshot.journal();
        let entry = self.current_mut();
        if journal.id == 0 {
            entry.journal_id = 0;
            return;
        }
        let n = entry.num_nodes;
        let changed = |i: usize| {
            let g = entry.verdict_generation[i];
            g != 0 && g != snapshot.nodes[i].generation
        };
        let mut stale: Vec<usize> = if entry.journal_id == journal.id {
            journal.changed[entry.journal_pos.min(journal.changed.len())..]
                .iter()
                .copied()
                .filter(|&i| i < n && changed(i))
                .collect()
        } else {
            (0..n).filter(|&i| changed(i)).collect()
        };
        // A node noted twice is evaluated once.
        stale.sort_unstable();
        stale.dedup();
        entry.journal_id = journal.id;
        entry.journal_pos = journal.changed.len();
        Self::record_verdicts(entry, snapshot, stale, filter);
        debug_assert!((0..n).all(|i| !changed_now(entry, snapshot, i)));
    }

    /// Makes the verdicts of `nodes` current, evaluating with `filter` the nodes that changed
    /// since (in parallel when there are many): after [`sync_verdicts`](Self::sync_verdicts)
    /// with a journal, only the nodes without a verdict; otherwise every node whose
    /// generation differs. Call after [`begin_filter`](Self::begin_filter) returned true.
    pub(crate) fn refresh_verdicts(
        &mut self,
        snapshot: &Snapshot,
        nodes: impl Iterator<Item = usize>,
        filter: impl Fn(usize) -> Status + Sync,
    ) {
        let entry = self.current_mut();
        let stale: Vec<usize> = if entry.journal_id != 0 {
            if entry.unverdicted == 0 {
                return;
            }
            nodes
                .filter(|&i| entry.verdict_generation[i] == 0)
                .collect()
        } else {
            nodes
                .filter(|&i| entry.verdict_generation[i] != snapshot.nodes[i].generation)
                .collect()
        };
        Self::record_verdicts(entry, snapshot, stale, filter);
    }

    /// Evaluates the nodes `stale` with `filter` (in parallel when there are many) and records
    /// their verdicts at their current generations.
    fn record_verdicts(
        entry: &mut ShapeEntry,
        snapshot: &Snapshot,
        stale: Vec<usize>,
        filter: impl Fn(usize) -> Status + Sync,
    ) {
        if stale.is_empty() {
            return;
        }
        let fresh: Vec<Status> = if stale.len() < PARALLEL_MIN_NODES {
            stale.iter().map(|&i| filter(i)).collect()
        } else {
            stale.par_iter().map(|&i| filter(i)).collect()
        };
        for (i, status) in stale.into_iter().zip(fresh) {
            if entry.verdict_generation[i] == 0 {
                entry.unverdicted -= 1;
            }
            entry.verdict_generation[i] = snapshot.nodes[i].generation;
            let passes = status.is_success();
            entry.passes[i] = passes;
            entry.verdicts[i] = status;
            // A new generation: no raw score is current for it.
            if passes && !entry.listed[i] {
                entry.listed[i] = true;
                entry.unscored.push(i);
            }
        }
    }

    /// Lists every node whose verdict passes as [`unscored`](ShapeEntry::unscored), after the
    /// raw scores of some scorer were dropped.
    fn list_every_passing_node(entry: &mut ShapeEntry) {
        entry.unscored.clear();
        for (i, listed) in entry.listed.iter_mut().enumerate() {
            *listed = entry.passes[i] && entry.verdict_generation[i] != 0;
            if *listed {
                entry.unscored.push(i);
            }
        }
    }

    /// Per node, whether it passed, as [`verdict`](Self::verdict) says (current for the nodes
    /// given to [`refresh_verdicts`](Self::refresh_verdicts)).
    #[inline]
    pub(crate) fn passes_by_node(&self) -> &[bool] {
        &self.current().passes
    }

    /// The verdict of node `i`, made current by [`refresh_verdicts`](Self::refresh_verdicts).
    pub(crate) fn verdict(&self, i: usize) -> &Status {
        &self.current().verdicts[i]
    }

    /// Prepares the raw scores for the Score plugins `scorers` (those that take part, in
    /// order) of a cycle whose verdicts came from the cache, given what each reports in
    /// [`ScorePlugin::score_inputs`] after this cycle's PreScore; returns whether this cycle
    /// can use them. A scorer whose inputs changed has every node's raw score computed again.
    pub(crate) fn begin_score(
        &mut self,
        scorers: &[&Arc<dyn Plugin>],
        weights: &[i64],
        inputs: Vec<Vec<u64>>,
    ) -> bool {
        if scorers.len() > 64 || scorers.iter().any(|p| !p.is_node_local()) {
            return false;
        }
        let entry = self.current_mut();
        let n = entry.num_nodes;
        if !same_plugins(&entry.scorers, scorers) || entry.weights != weights {
            entry.scorers = scorers.iter().map(|&p| p.clone()).collect();
            entry.weights = weights.to_vec();
            entry.normalizing = 0;
            // Every sum of weighted scores in 0..=MAX_NODE_SCORE fits in `base`'s 32 bits.
            entry.uniform = weights.iter().all(|&w| w >= 0)
                && weights.iter().sum::<i64>().saturating_mul(MAX_NODE_SCORE)
                    <= i64::from(i32::MAX);
            for (p, plugin) in scorers.iter().enumerate() {
                if let Some(scorer) = plugin.as_score() {
                    if scorer.has_score_extensions() {
                        entry.normalizing |= 1 << p;
                        entry.uniform &= scorer.normalizes_zeros_uniformly();
                    }
                }
            }
            entry.score_inputs = inputs;
            entry.score_generation = vec![vec![0; n]; scorers.len()];
            entry.all_scored_generation = vec![0; n];
            entry.raw = vec![vec![0; n]; scorers.len()];
            entry.base = vec![0; n];
            entry.odd = vec![0; n];
            Self::list_every_passing_node(entry);
            return true;
        }
        let mut dropped = false;
        for ((held, now), generations) in entry
            .score_inputs
            .iter_mut()
            .zip(inputs)
            .zip(&mut entry.score_generation)
        {
            if *held != now {
                *held = now;
                generations.fill(0);
                entry.all_scored_generation.fill(0);
                dropped = true;
            }
        }
        if dropped {
            Self::list_every_passing_node(entry);
        }
        entry.all_scored_generation.resize(n, 0);
        for column in &mut entry.score_generation {
            column.resize(n, 0);
        }
        for column in &mut entry.raw {
            column.resize(n, 0);
        }
        entry.base.resize(n, 0);
        entry.odd.resize(n, 0);
        true
    }

    /// Makes the raw scores current for every node whose verdict passes and is current
    /// (`feasible`, this cycle's feasible nodes, among them), computing with `score` (scorer
    /// `p`'s raw score of node `i`) those of nodes that changed since they were scored and of
    /// scorers whose inputs changed. Only the [listed](ShapeEntry::unscored) nodes are looked
    /// at: a node is listed when its verdict is computed and passes, and every passing node
    /// when a scorer's scores are dropped. A listed node whose verdict is older than the node
    /// stays listed (it is filtered, and scored, when a cycle reaches it). When a plugin fails
    /// on some node, nothing is recorded and `false` is returned: the caller then scores the
    /// plain way, which reports the failure as it would without the cache.
    pub(crate) fn refresh_scores(
        &mut self,
        snapshot: &Snapshot,
        feasible: &[usize],
        score: impl Fn(usize, usize) -> Option<i64> + Sync,
    ) -> bool {
        let entry = self.current_mut();
        let k = entry.scorers.len();
        if k == 0 {
            return true;
        }
        // The listed nodes with a stale raw score, each with the set of scorers to run (a bit
        // each; at most 64 scorers, as `begin_score` checks).
        let listed = std::mem::take(&mut entry.unscored);
        let mut stale: Vec<(usize, u64)> = Vec::with_capacity(listed.len());
        let mut kept: Vec<usize> = Vec::new();
        for &i in &listed {
            let current = entry.verdict_generation[i];
            if !entry.passes[i] || entry.all_scored_generation[i] == current {
                entry.listed[i] = false;
            } else if current != snapshot.nodes[i].generation {
                kept.push(i);
            } else {
                let mask = entry
                    .score_generation
                    .iter()
                    .enumerate()
                    .filter(|(_, g)| g[i] != current)
                    .fold(0u64, |mask, (p, _)| mask | 1 << p);
                if mask == 0 {
                    entry.all_scored_generation[i] = current;
                    entry.listed[i] = false;
                } else {
                    stale.push((i, mask));
                }
            }
        }
        let run = |&(i, mask): &(usize, u64), row: &mut [i64]| {
            (0..k)
                .filter(|p| mask & 1 << p != 0)
                .all(|p| score(i, p).map(|s| row[p] = s).is_some())
        };
        let mut fresh = vec![0i64; stale.len() * k];
        let ok = if stale.len() < PARALLEL_MIN_NODES {
            stale
                .iter()
                .zip(fresh.chunks_mut(k))
                .all(|(s, row)| run(s, row))
        } else {
            stale
                .par_iter()
                .zip(fresh.par_chunks_mut(k))
                .map(|(s, row)| run(s, row))
                .reduce(|| true, |a, b| a && b)
        };
        if !ok {
            // The nodes not scored stay listed.
            entry.unscored = kept;
            entry.unscored.extend(stale.iter().map(|&(i, _)| i));
            return false;
        }
        entry.unscored = kept;
        for (&(i, mask), row) in stale.iter().zip(fresh.chunks(k)) {
            entry.listed[i] = false;
            let current = entry.verdict_generation[i];
            for p in (0..k).filter(|p| mask & 1 << p != 0) {
                entry.score_generation[p][i] = current;
                entry.raw[p][i] = row[p];
            }
            entry.all_scored_generation[i] = current;
            let (mut base, mut odd) = (0i64, 0u64);
            for (p, (column, &weight)) in entry.raw.iter().zip(&entry.weights).enumerate() {
                let raw = column[i];
                if entry.normalizing & 1 << p != 0 {
                    if raw != 0 {
                        odd |= 1 << p;
                    }
                } else if (0..=MAX_NODE_SCORE).contains(&raw) {
                    base += raw * weight;
                } else {
                    odd |= 1 << p;
                }
            }
            // In range when `uniform`; otherwise never read.
            entry.base[i] = i32::try_from(base).unwrap_or(i32::MAX);
            entry.odd[i] = odd;
        }
        debug_assert!(feasible
            .iter()
            .all(|&i| entry.all_scored_generation[i] == entry.verdict_generation[i]));
        true
    }

    /// Chooses among `feasible` (not empty) as [`select_host`](crate::schedule::select_host)
    /// would from the weighted totals of the normalized scores, without computing them: when
    /// every normalizing scorer gave every feasible node a raw score of 0 and normalizes zeros
    /// uniformly, each normalizing scorer adds one value to every total, so the totals rank and
    /// tie as the nodes' `base` sums do, and choosing among the best of those draws the same
    /// random number and picks the same node. Returns the position in `feasible` of the node
    /// chosen, or `None` (without drawing) when that does not hold and the totals must be
    /// computed. The raw scores of `feasible` must be current
    /// ([`refresh_scores`](Self::refresh_scores) returned true).
    pub(crate) fn select_best(&self, feasible: &[usize], rng: &mut impl Rng) -> Option<usize> {
        let entry = self.current();
        if !entry.uniform || entry.scorers.is_empty() {
            return None;
        }
        let (base, odd) = (&entry.base[..], &entry.odd[..]);
        let n = base.len();
        // Consecutive nodes, read from some start and round past the end of the list: the sums
        // are two consecutive runs of the kept ones, read without indirection.
        if let Some(start) = self.feasible_rotation {
            let end = (start + feasible.len()).min(n);
            let wrapped = start + feasible.len() - end;
            debug_assert!(feasible.iter().copied().eq((start..end).chain(0..wrapped)));
            let runs = [&base[start..end], &base[..wrapped]];
            let odd_mask = [&odd[start..end], &odd[..wrapped]]
                .iter()
                .flat_map(|run| run.iter())
                .fold(0u64, |mask, &o| mask | o);
            if odd_mask != 0 {
                return None;
            }
            return Some(choose_in_runs(runs, rng));
        }
        if feasible.iter().fold(0u64, |mask, &i| mask | odd[i]) != 0 {
            return None;
        }
        let sums: Vec<i32> = feasible.iter().map(|&i| base[i]).collect();
        Some(choose_in_runs([&sums, &[]], rng))
    }

    /// The raw scores of scorer `p` by node, made current by
    /// [`refresh_scores`](Self::refresh_scores) for the nodes it was given.
    #[inline]
    pub(crate) fn raw_scores(&self, p: usize) -> &[i64] {
        &self.current().raw[p]
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use proptest::prelude::*;
    use rand::SeedableRng;
    use serde_json::json;

    use super::*;
    use crate::config::{SchedulerConfig, DEFAULT_SCHEDULER_NAME};
    use crate::framework::{CycleState, FilterPlugin, ScorePlugin};
    use crate::node_info::NodeInfo;
    use crate::plugins::default_registry;
    use crate::plugins::testing::{node, pod};
    use crate::profile::{Profile, WeightedPlugin};
    use crate::schedule::{schedule_pod, schedule_pod_with_cache, SchedulingCycleState};

    /// A node of a random cluster: cpu (m), memory (Mi), pods, zone, a taint (0 none,
    /// 1 PreferNoSchedule, 2 NoSchedule), unschedulable, whether it holds the `app` image.
    type NodeSpec = (u32, u32, u32, u8, u8, bool, bool);

    fn make_node(
        i: usize,
        (cpu, mem, pods, zone, taint, unschedulable, image): NodeSpec,
    ) -> Arc<flotilla_model::api::Node> {
        let taints = match taint {
            1 => json!([{"key": "dedicated", "value": "x", "effect": "PreferNoSchedule"}]),
            2 => json!([{"key": "dedicated", "value": "x", "effect": "NoSchedule"}]),
            _ => json!([]),
        };
        let images = if image {
            json!([{"names": ["registry.example/app:1"], "sizeBytes": 300 * 1024 * 1024}])
        } else {
            json!([])
        };
        node(json!({
            "metadata": {"name": format!("n{i}"), "labels": {
                "kubernetes.io/hostname": format!("n{i}"),
                "topology.kubernetes.io/zone": format!("z{zone}"),
            }},
            "spec": {"taints": taints, "unschedulable": unschedulable},
            "status": {
                "allocatable": {"cpu": format!("{cpu}m"), "memory": format!("{mem}Mi"), "pods": pods.to_string()},
                "images": images,
            }
        }))
    }

    /// Pod templates: plain, with no requests (best effort), tolerating the taint and
    /// preferring a zone, asking a host port, with required pod anti-affinity (which the cache
    /// does not serve), with an image.
    fn template(t: u8, cpu: u32, mem: u32) -> serde_json::Value {
        let resources =
            json!({"requests": {"cpu": format!("{cpu}m"), "memory": format!("{mem}Mi")}});
        let mut spec =
            json!({"containers": [{"name": "c", "image": "pause", "resources": resources}]});
        match t {
            1 => spec["containers"][0]["resources"] = json!({}),
            2 => {
                spec["tolerations"] = json!([{"key": "dedicated", "operator": "Exists"}]);
                spec["affinity"] = json!({"nodeAffinity": {"preferredDuringSchedulingIgnoredDuringExecution": [
                    {"weight": 5, "preference": {"matchExpressions": [
                        {"key": "topology.kubernetes.io/zone", "operator": "In", "values": ["z1"]}]}}]}});
            }
            3 => spec["containers"][0]["ports"] = json!([{"containerPort": 80, "hostPort": 8080}]),
            4 => {
                spec["affinity"] = json!({"podAntiAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": [
                    {"labelSelector": {"matchLabels": {"app": "a4"}}, "topologyKey": "kubernetes.io/hostname"}]}});
            }
            5 => spec["containers"][0]["image"] = json!("registry.example/app:1"),
            _ => {}
        }
        json!({"metadata": {"labels": {"app": format!("a{t}")}}, "spec": spec})
    }

    /// One step: schedule a pod of a template (and bind it where it was placed), or remove the
    /// bound pod at some index.
    #[derive(Clone, Debug)]
    enum Step {
        Schedule {
            template: u8,
            cpu: u32,
            mem: u32,
        },
        Remove(prop::sample::Index),
        /// The node at some index pulls the `app` image or loses it: the image counts change
        /// and, with them, ImageLocality's score of every node holding the image.
        ToggleImage(prop::sample::Index),
    }

    fn step() -> impl Strategy<Value = Step> {
        prop_oneof![
            4 => (0u8..6, prop::sample::select(vec![100u32, 700]), prop::sample::select(vec![256u32, 1024]))
                .prop_map(|(template, cpu, mem)| Step::Schedule { template, cpu, mem }),
            1 => any::<prop::sample::Index>().prop_map(Step::Remove),
            1 => any::<prop::sample::Index>().prop_map(Step::ToggleImage),
        ]
    }

    proptest! {
        /// Reading the totals in blocks chooses what counting the ties of the best in one
        /// list and drawing once chooses, with the same random numbers, wherever the runs split and however many
        /// blocks tie.
        #[test]
        fn choosing_in_blocks_is_choosing_from_the_list(
            totals in prop::collection::vec(0i64..4, 1..1500),
            split in any::<prop::sample::Index>(),
            seed in any::<u64>(),
        ) {
            let at = split.index(totals.len() + 1);
            let mut a = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
            let mut b = a.clone();
            let in_blocks = choose_in_runs([&totals[..at], &totals[at..]], &mut a);
            // The plain way: the best, its ties counted, one draw, the tied node found.
            let best = *totals.iter().max().expect("not empty");
            let tied: Vec<usize> = (0..totals.len()).filter(|&i| totals[i] == best).collect();
            let pick = if tied.len() > 1 { rand::Rng::random_range(&mut b, 0..tied.len() as u64) as usize } else { 0 };
            let from_list = tied[pick];
            prop_assert_eq!(in_blocks, from_list);
            prop_assert!(a == b);
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(48))]

        /// The cache decides as the plain computation: over a sequence of pods (with repeated
        /// specs, so the cache serves them) bound where they were placed and removed again, the
        /// results, the rotating start index and the random stream are the same.
        #[test]
        fn cache_decides_as_plain(
            nodes in prop::collection::vec(
                (prop::sample::select(vec![1000u32, 2000, 4000]), prop::sample::select(vec![1024u32, 4096]),
                 1u32..8, 0u8..3, prop::sample::select(vec![0u8, 0, 0, 1, 2]), prop::bool::weighted(0.1), any::<bool>()),
                1..160),
            steps in prop::collection::vec(step(), 1..60),
            percentage in prop::sample::select(vec![0i32, 30, 100]),
            seed in any::<u64>(),
            prefer_no_schedule in any::<bool>(),
        ) {
            // Without PreferNoSchedule taints, TaintToleration's raw scores are all 0 and the
            // cache chooses from its weighted sums (`select_best`); with them, it cannot.
            let nodes: Vec<_> = nodes
                .iter()
                .enumerate()
                .map(|(i, &(cpu, mem, pods, zone, taint, unschedulable, image))| {
                    let taint = if taint == 1 && !prefer_no_schedule { 0 } else { taint };
                    make_node(i, (cpu, mem, pods, zone, taint, unschedulable, image))
                })
                .collect();
            let mut snapshot = Snapshot::new(&nodes, &[], &[]);
            let config = SchedulerConfig::default_with(&default_registry()).expect("defaults");
            let profile = &config.profiles[DEFAULT_SCHEDULER_NAME];
            let rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
            let mut plain = SchedulingCycleState { next_start_node_index: 0, rng: rng.clone() };
            let mut cached = SchedulingCycleState { next_start_node_index: 0, rng };
            let mut cache = ScoreCache::default();
            let mut bound: Vec<(usize, String)> = Vec::new();
            for (n, step) in steps.into_iter().enumerate() {
                match step {
                    Step::Schedule { template: t, cpu, mem } => {
                        let mut json = template(t, cpu, mem);
                        json["metadata"]["name"] = json!(format!("p{n}"));
                        let info = PodInfo::new(pod(json));
                        let a = schedule_pod(profile, &snapshot, &info, percentage, &mut plain);
                        let b = schedule_pod_with_cache(profile, &snapshot, &info, percentage, &mut cached, &mut cache);
                        match (&a, &b) {
                            (Ok(a), Ok(b)) => prop_assert_eq!(a, b),
                            (Err(a), Err(b)) => prop_assert_eq!(a.to_string(), b.to_string()),
                            _ => prop_assert!(false, "plain {:?}, cached {:?}", a, b),
                        }
                        prop_assert_eq!(plain.next_start_node_index, cached.next_start_node_index);
                        prop_assert!(plain.rng == cached.rng, "the random streams diverged");
                        if let Ok(result) = a {
                            let i = snapshot.index_of(&result.suggested_host).expect("a node");
                            let mut p = (*info.pod).clone();
                            p.spec.node_name = result.suggested_host.clone();
                            snapshot.nodes[i].add_pod(PodInfo::new(Arc::new(p)));
                            snapshot.refresh_affinity_lists();
                            bound.push((i, format!("p{n}")));
                        }
                    }
                    Step::Remove(index) if !bound.is_empty() => {
                        let (i, name) = bound.remove(index.index(bound.len()));
                        prop_assert!(snapshot.nodes[i].remove_pod("default", &name));
                        snapshot.refresh_affinity_lists();
                    }
                    Step::Remove(_) => {}
                    Step::ToggleImage(index) => {
                        let i = index.index(snapshot.len());
                        let old = snapshot.nodes[i].node.clone();
                        let mut node = (*old).clone();
                        if node.status.images.is_empty() {
                            node.status.images = make_node(0, (1000, 1024, 1, 0, 0, false, true))
                                .status
                                .images
                                .clone();
                        } else {
                            node.status.images.clear();
                        }
                        snapshot.replace_node_images(&old, &node);
                        let mut fresh = NodeInfo::new(Arc::new(node));
                        for p in std::mem::take(&mut snapshot.nodes[i].pods) {
                            fresh.add_pod(p);
                        }
                        snapshot.nodes[i] = fresh;
                    }
                }
            }
        }
    }

    /// A node-local plugin that counts its Filter and Score calls.
    #[derive(Default)]
    struct Counting {
        filtered: AtomicUsize,
        scored: AtomicUsize,
    }

    impl Plugin for Counting {
        fn name(&self) -> &'static str {
            "Counting"
        }
        fn as_filter(&self) -> Option<&dyn FilterPlugin> {
            Some(self)
        }
        fn as_score(&self) -> Option<&dyn ScorePlugin> {
            Some(self)
        }
        fn is_node_local(&self) -> bool {
            true
        }
    }

    impl FilterPlugin for Counting {
        fn filter(&self, _: &CycleState, _: &PodInfo, _: &NodeInfo) -> Status {
            self.filtered.fetch_add(1, Ordering::Relaxed);
            Status::success()
        }
    }

    impl ScorePlugin for Counting {
        fn score(&self, _: &CycleState, _: &PodInfo, node: &NodeInfo) -> Result<i64, Status> {
            self.scored.fetch_add(1, Ordering::Relaxed);
            Ok(100 - node.pods.len() as i64)
        }
    }

    #[test]
    fn only_changed_nodes_are_evaluated_again() {
        let nodes: Vec<_> = (0..10)
            .map(|i| make_node(i, (4000, 4096, 10, 0, 0, false, false)))
            .collect();
        let mut snapshot = Snapshot::new(&nodes, &[], &[]);
        let plugin = Arc::new(Counting::default());
        let profile = Profile {
            filter: vec![plugin.clone()],
            score: vec![WeightedPlugin {
                plugin: plugin.clone(),
                weight: 1,
            }],
            ..Profile::default()
        };
        let mut cycle = SchedulingCycleState {
            next_start_node_index: 0,
            rng: rand_chacha::ChaCha8Rng::seed_from_u64(1),
        };
        let mut cache = ScoreCache::default();
        let schedule = |name: &str,
                        snapshot: &Snapshot,
                        cycle: &mut SchedulingCycleState,
                        cache: &mut ScoreCache| {
            let info = PodInfo::new(pod(template(0, 100, 256)));
            let mut p = (*info.pod).clone();
            p.metadata.name = name.to_string();
            let info = PodInfo::new(Arc::new(p));
            let host = schedule_pod_with_cache(&profile, snapshot, &info, 100, cycle, cache)
                .expect("fits")
                .suggested_host;
            (info, host)
        };
        let (first, host) = schedule("a", &snapshot, &mut cycle, &mut cache);
        assert_eq!(plugin.filtered.load(Ordering::Relaxed), 10);
        assert_eq!(plugin.scored.load(Ordering::Relaxed), 10);
        let i = snapshot.index_of(&host).expect("a node");
        snapshot.nodes[i].add_pod(first);
        schedule("b", &snapshot, &mut cycle, &mut cache);
        assert_eq!(plugin.filtered.load(Ordering::Relaxed), 11);
        assert_eq!(plugin.scored.load(Ordering::Relaxed), 11);
        // A pod of another spec gets an entry of its own: every node once.
        let other = PodInfo::new(pod(template(0, 700, 1024)));
        schedule_pod_with_cache(&profile, &snapshot, &other, 100, &mut cycle, &mut cache)
            .expect("fits");
        assert_eq!(plugin.filtered.load(Ordering::Relaxed), 21);
        assert_eq!(cache.len(), 2);
        // The first spec again, after a node changed: its entry is still there, so only that
        // node is evaluated again.
        let j = (i + 1) % snapshot.len();
        snapshot.nodes[j].add_pod(PodInfo::new(pod(template(0, 700, 1024))));
        schedule("c", &snapshot, &mut cycle, &mut cache);
        assert_eq!(plugin.filtered.load(Ordering::Relaxed), 22);
        assert_eq!(plugin.scored.load(Ordering::Relaxed), 22);
        // Without the cache, every node again.
        let (_, _) = {
            let info = PodInfo::new(pod(template(0, 100, 256)));
            let r = schedule_pod(&profile, &snapshot, &info, 100, &mut cycle).expect("fits");
            (info, r)
        };
        assert_eq!(plugin.filtered.load(Ordering::Relaxed), 32);
    }

    /// Weights whose sums of scores could exceed the kept sums' 32 bits turn the choice from
    /// them off: the cycle computes the totals, and decides as the plain computation.
    #[test]
    fn weights_too_large_for_the_kept_sums_compute_the_totals() {
        let config = SchedulerConfig::default_with(&default_registry()).expect("defaults");
        let mut profile = config.profiles[DEFAULT_SCHEDULER_NAME].clone();
        for wp in &mut profile.score {
            wp.weight = 30_000_000;
        }
        let nodes: Vec<_> = (0..12)
            .map(|i| make_node(i, (4000, 4096, 10, (i % 3) as u8, 0, false, false)))
            .collect();
        let snapshot = Snapshot::new(&nodes, &[], &[]);
        let info = PodInfo::new(pod(template(0, 100, 256)));
        let mut cache = ScoreCache::default();
        let rng = rand_chacha::ChaCha8Rng::seed_from_u64(3);
        let mut plain = SchedulingCycleState {
            next_start_node_index: 0,
            rng: rng.clone(),
        };
        let mut cached = SchedulingCycleState {
            next_start_node_index: 0,
            rng: rng.clone(),
        };
        let a = schedule_pod(&profile, &snapshot, &info, 100, &mut plain).expect("fits");
        let b = schedule_pod_with_cache(&profile, &snapshot, &info, 100, &mut cached, &mut cache)
            .expect("fits");
        assert_eq!(a, b);
        assert!(plain.rng == cached.rng);
        let feasible: Vec<usize> = (0..snapshot.len()).collect();
        let mut direct_rng = rng.clone();
        assert_eq!(cache.select_best(&feasible, &mut direct_rng), None);
        assert!(direct_rng == rng);
    }

    /// `select_best` chooses what `select_host` chooses from the totals `explain` computes,
    /// with the same random numbers, when the normalizing scorers (TaintToleration here) give
    /// every feasible node 0; when one node has a PreferNoSchedule taint it declines and leaves
    /// the random stream untouched.
    #[test]
    fn the_cache_chooses_from_its_sums_only_when_normalizing_changes_no_ranking() {
        let config = SchedulerConfig::default_with(&default_registry()).expect("defaults");
        let profile = &config.profiles[DEFAULT_SCHEDULER_NAME];
        for (tainted, expect_direct) in [(None, true), (Some(5), false)] {
            // Two sizes of node, so that there are ties and a best group.
            let nodes: Vec<_> = (0..24)
                .map(|i| {
                    let cpu = if i % 3 == 0 { 8000 } else { 4000 };
                    let taint = if tainted == Some(i) { 1 } else { 0 };
                    make_node(i, (cpu, 4096, 10, (i % 3) as u8, taint, false, false))
                })
                .collect();
            let snapshot = Snapshot::new(&nodes, &[], &[]);
            let info = PodInfo::new(pod(template(0, 100, 256)));
            let mut cache = ScoreCache::default();
            for seed in 0..8u64 {
                // From the start of the node list, and from the middle (the rotating index).
                let start = [0, 7][seed as usize % 2];
                let n = snapshot.len();
                let rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
                let mut cycle = SchedulingCycleState {
                    next_start_node_index: start,
                    rng: rng.clone(),
                };
                let chosen =
                    schedule_pod_with_cache(profile, &snapshot, &info, 100, &mut cycle, &mut cache)
                        .expect("fits");
                // The entry is current: choose again from it directly.
                let feasible: Vec<usize> = (start..n).chain(0..start).collect();
                let mut direct_rng = rng.clone();
                let direct = cache.select_best(&feasible, &mut direct_rng);
                let explained =
                    crate::schedule::explain(profile, &snapshot, &info, &mut rng.clone())
                        .expect("explains");
                let totals: Vec<i64> = feasible.iter().map(|&i| explained.nodes[i].total).collect();
                let mut host_rng = rng.clone();
                let best = crate::schedule::select_host(&totals, &mut host_rng);
                assert_eq!(chosen.suggested_host, explained.nodes[feasible[best]].name);
                assert!(cycle.rng == host_rng, "the cycle drew other random numbers");
                match direct {
                    Some(pos) => {
                        assert!(expect_direct, "chose directly past a tainted node");
                        assert_eq!(pos, best);
                        assert!(direct_rng == host_rng);
                    }
                    None => {
                        assert!(!expect_direct, "declined to choose on plain nodes");
                        assert!(direct_rng == rng, "declining drew random numbers");
                    }
                }
            }
        }
    }
}
