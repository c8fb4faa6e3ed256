//! The FGD study: Weng et al., "Beware of Fragmentation: Scheduling GPU-Sharing Workloads with
//! Fragmentation Gradient Descent" (USENIX ATC 2023), Fig. 9(a), with the protocol of the
//! authors' simulator (hkust-adsl/kubernetes-scheduler-simulator, `pkg/simulator/core.go` and
//! `simulator.go`).
//!
//! One experiment is one policy, one trace file and one seed:
//!
//! 1. the cluster is the trace's GPU nodes (`openb_node_list_gpu_node.csv`: 1,213 nodes, 6,212
//!    GPUs);
//! 2. the pods of the trace file are sorted by name and shuffled with the seed
//!    (`SortClusterPods`);
//! 3. the list is tuned to 130 % of the cluster's GPU capacity (`TunePodsByNodeTotalResource`):
//!    copies of pods drawn uniformly from the name-sorted originals are appended (named
//!    `<name>-tuned-<i>`) until the next copy's per-GPU share would pass the target, or, for a
//!    trace that asks for more, pods drawn at random are removed until it no longer does;
//! 4. pods arrive one at a time and never leave; each is scheduled once with the policy's
//!    [profile](flotilla_scheduler::plugins::gpu::profile) and bound with the GPUs the policy
//!    chooses; a pod that fits nowhere fails and is not retried;
//! 5. after every pod: arrived GPU request (every pod tried, failed ones included) and
//!    allocated milli-GPUs, as percentages of the cluster's GPUs.
//!
//! The result is the GPU allocation ratio at each percent x = 0…130 of arrived GPU request
//! (the mean of the per-pod ratios whose arrived request rounds to x, as the artifact's
//! `merge_alloc_discrete.py`).
//!
//! The scheduler framework is driven directly: a [`Snapshot`] of the nodes and
//! [`schedule_pod_with_cache`], with no object store, controllers or virtual clock. Nothing of
//! the cluster matters to this protocol but the nodes' free resources, and that takes an
//! experiment from minutes to a few seconds.
//!
//! **Ties.** The artifact's scheduler (a kube-scheduler v1.20 fork) gives a tie among the best
//! nodes to the node whose name is smallest, and the simulator renames the nodes
//! `<%04d>-<name>` with a seeded permutation: ties go to the first node of a seeded random order
//! that stays the same for the whole experiment. That matters (FGD gives every node on which a
//! pod changes nothing the same score 50, and a fixed order packs those pods where a random
//! choice spreads them), so the study adds that order as two tie-break score plugins
//! ([`NodeOrder`]) whose weighted sum is below one point of the policy's score: the policy
//! decides, the order breaks its ties, and the framework's own random tie-break never has a tie
//! to break.
//!
//! Randomness: the shuffle, tuning, node order and Random's GPU choice draw from `ChaCha8Rng`
//! streams seeded by the seed (`component_rng(seed, "fgd-study")`, `"fgd-study/node-order"`,
//! `"fgd-study/gpu"`). The artifact uses Go's `math/rand`: the seeds are the same numbers but
//! not the same streams, so single runs differ and the comparison is between distributions over
//! seeds.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use flotilla_model::api::Node;
use flotilla_model::rng::component_rng;
use flotilla_scheduler::framework::{CycleState, Plugin, ScorePlugin, Status};
use flotilla_scheduler::gpu::{format_index, GpuRequest, GPU_INDEX_ANNOTATION};
use flotilla_scheduler::node_info::{NodeInfo, PodInfo};
use flotilla_scheduler::plugins::gpu::{self as policies, Policy, TargetWorkload};
use flotilla_scheduler::profile::{Profile, WeightedPlugin};
use flotilla_scheduler::schedule::{schedule_pod_with_cache, SchedulingCycleState};
use flotilla_scheduler::score_cache::ScoreCache;
use flotilla_scheduler::snapshot::Snapshot;
use rand::seq::SliceRandom;
use rand::Rng;
use rayon::prelude::*;

use crate::trace::{alibaba, TraceError};

/// The tune ratio of the paper's runs: pods up to 130 % of the cluster's GPUs.
pub const TUNE_RATIO: f64 = 1.3;
/// The largest x of the curves (percent of GPU capacity requested).
pub const MAX_X: usize = 130;
/// The paper's seeds.
pub const SEEDS: std::ops::RangeInclusive<u64> = 42..=51;
/// The node list of the paper's cluster, beside the pod lists.
pub const GPU_NODE_LIST: &str = "openb_node_list_gpu_node.csv";

/// The 17 trace files of the paper's experiments (`generate_run_scripts.py`), without `.csv`.
pub const PAPER_TRACES: [&str; 17] = [
    "openb_pod_list_default",
    "openb_pod_list_cpu050",
    "openb_pod_list_cpu100",
    "openb_pod_list_cpu200",
    "openb_pod_list_cpu250",
    "openb_pod_list_gpushare100",
    "openb_pod_list_gpushare40",
    "openb_pod_list_gpushare60",
    "openb_pod_list_gpushare80",
    "openb_pod_list_gpuspec10",
    "openb_pod_list_gpuspec20",
    "openb_pod_list_gpuspec25",
    "openb_pod_list_gpuspec33",
    "openb_pod_list_multigpu20",
    "openb_pod_list_multigpu30",
    "openb_pod_list_multigpu40",
    "openb_pod_list_multigpu50",
];

/// The published allocation ratios for `openb_pod_list_default` at x = 95, 100 and 130: the
/// median over seeds 42–51 of the artifact's cached results
/// (`experiments/analysis/expected_results/analysis_allo_discrete.csv`), which its plot scripts
/// turn into Fig. 9(a).
pub const PAPER_DEFAULT: [(Policy, [f64; 3]); 6] = [
    (Policy::Random, [85.68, 86.25, 87.38]),
    (Policy::DotProduct, [90.53, 90.56, 90.80]),
    (Policy::GpuClustering, [91.53, 91.58, 91.79]),
    (Policy::GpuPacking, [91.77, 91.81, 92.06]),
    (Policy::BestFit, [92.86, 92.91, 93.11]),
    (Policy::Fgd, [94.91, 95.23, 95.40]),
];

/// Why a study could not run.
#[derive(Debug, thiserror::Error)]
pub enum StudyError {
    /// The trace could not be read.
    #[error(transparent)]
    Trace(#[from] TraceError),
    /// The trace has no GPU node.
    #[error("{0}: no node with GPUs")]
    NoGpus(String),
    /// An output file could not be written.
    #[error("writing {path}: {source}")]
    Write {
        /// The file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// The plot could not be drawn.
    #[error("drawing the plot: {0}")]
    Plot(String),
}

/// A trace ready for experiments: the nodes, the pods sorted by name, the target workload FGD
/// measures against, and the cluster's GPU capacity.
#[derive(Clone, Debug)]
pub struct Workload {
    /// The trace's name (the pod list's file stem).
    pub name: String,
    /// The nodes.
    pub nodes: Vec<Arc<Node>>,
    /// The pods, sorted by name, with their requests computed.
    pub pods: Vec<PodInfo>,
    /// FGD's target workload: the trace's most popular pod shapes.
    pub target: Arc<TargetWorkload>,
    /// Milli-GPUs of the whole cluster.
    pub capacity_milli: u64,
}

impl Workload {
    /// Reads a node list and a pod list of the Alibaba trace.
    pub fn load(nodes: &Path, pods: &Path) -> Result<Workload, StudyError> {
        let trace = alibaba::load(nodes, pods, None)?;
        let name = pods.file_stem().map_or_else(
            || pods.display().to_string(),
            |s| s.to_string_lossy().into(),
        );
        Workload::from_trace(&name, trace.nodes, trace.pods.into_iter().map(|p| p.pod))
    }

    /// A workload of nodes and pods (any order; the pods are sorted by name).
    pub fn from_trace(
        name: &str,
        nodes: Vec<Node>,
        pods: impl IntoIterator<Item = flotilla_model::api::Pod>,
    ) -> Result<Workload, StudyError> {
        let nodes: Vec<Arc<Node>> = nodes.into_iter().map(Arc::new).collect();
        let snapshot = Snapshot::new(&nodes, &[], &[]);
        let capacity_milli: u64 = snapshot
            .nodes
            .iter()
            .map(|n| n.gpus.count() as u64 * u64::from(flotilla_scheduler::gpu::MILLI_PER_GPU))
            .sum();
        if capacity_milli == 0 {
            return Err(StudyError::NoGpus(name.to_string()));
        }
        let mut pods: Vec<PodInfo> = pods
            .into_iter()
            .map(|p| PodInfo::new(Arc::new(p)))
            .collect();
        pods.sort_by(|a, b| a.pod.metadata.name.cmp(&b.pod.metadata.name));
        let target = Arc::new(TargetWorkload::from_pods(
            &pods,
            policies::fgd::POPULARITY_THRESHOLD,
        ));
        Ok(Workload {
            name: name.to_string(),
            nodes,
            pods,
            target,
            capacity_milli,
        })
    }

    /// Milli-GPUs the pods ask for in all.
    pub fn requested_milli(&self) -> u64 {
        self.pods.iter().map(gpu_milli).sum()
    }
}

/// Milli-GPUs a pod asks for in all.
fn gpu_milli(pod: &PodInfo) -> u64 {
    pod.gpu.as_ref().map_or(0, |g| g.total_milli())
}

/// Milli-GPUs per GPU a pod asks for (what the artifact's tuning compares, a quirk kept).
fn gpu_milli_per_gpu(pod: &PodInfo) -> u64 {
    pod.gpu.as_ref().map_or(0, |g| u64::from(g.milli))
}

/// One experiment's result.
#[derive(Clone, Debug, PartialEq)]
pub struct RunOutcome {
    /// The policy.
    pub policy: Policy,
    /// The seed.
    pub seed: u64,
    /// GPU allocation ratio (percent) at each x = 0…130 of arrived GPU request; NaN where no
    /// pod arrived at or next to that x.
    pub curve: Vec<f64>,
    /// Pods tried.
    pub pods: usize,
    /// Pods that fit nowhere.
    pub failed: usize,
    /// Milli-GPUs requested by the pods tried.
    pub arrived_milli: u64,
    /// Milli-GPUs allocated at the end.
    pub allocated_milli: u64,
}

/// The arrival sequence of one seed: the pods sorted by name, shuffled, tuned to `ratio` of the
/// GPU capacity (see the [module docs](self)).
pub fn arrivals(workload: &Workload, seed: u64, ratio: f64) -> Vec<PodInfo> {
    let mut rng = component_rng(seed, "fgd-study");
    let mut order: Vec<PodInfo> = workload.pods.clone();
    order.shuffle(&mut rng);
    let target = ratio * workload.capacity_milli as f64;
    let mut total: u64 = order.iter().map(gpu_milli).sum();
    if (total as f64) < target && !workload.pods.is_empty() {
        let mut i = 0usize;
        loop {
            let original = &workload.pods[rng.random_range(0..workload.pods.len())];
            if (total + gpu_milli_per_gpu(original)) as f64 > target {
                break;
            }
            let mut pod = (*original.pod).clone();
            pod.metadata.name = format!("{}-tuned-{i}", pod.metadata.name);
            total += gpu_milli(original);
            order.push(PodInfo::new(Arc::new(pod)));
            i += 1;
        }
    } else {
        while total as f64 > target && !order.is_empty() {
            let removed = order.remove(rng.random_range(0..order.len()));
            total -= gpu_milli(&removed);
        }
    }
    order
}

/// Distinct tie-break values of one [`NodeOrder`] digit (scores 0..=100).
const DIGIT: u32 = 101;

/// The artifact's tie-break as a score plugin: a node's place in a seeded random order of the
/// nodes, as one base-101 digit (`high`: the first, otherwise the second), the first node of the
/// order scoring highest. Two of them, at weights 101 and 1 under a policy at weight 101², order
/// up to 10,201 nodes with no tie and never outweigh a point of the policy's score.
#[derive(Clone, Debug)]
pub struct NodeOrder {
    /// Rank by the node object's address (the snapshot shares the workload's `Arc<Node>`s),
    /// with the name as the fallback.
    by_address: Arc<HashMap<usize, u32, BuildAddressHasher>>,
    rank: Arc<HashMap<String, u32>>,
    high: bool,
}

/// A hasher for addresses (already well spread): one multiplication.
#[derive(Clone, Copy, Debug, Default)]
struct BuildAddressHasher;

#[derive(Clone, Copy, Debug, Default)]
struct AddressHasher(u64);

impl std::hash::BuildHasher for BuildAddressHasher {
    type Hasher = AddressHasher;
    fn build_hasher(&self) -> AddressHasher {
        AddressHasher(0)
    }
}

impl std::hash::Hasher for AddressHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0 ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
        }
    }
    fn write_usize(&mut self, n: usize) {
        self.0 = (n as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15);
    }
}

impl NodeOrder {
    /// The two digits of the order of `nodes` shuffled with `seed`'s `"fgd-study/node-order"`
    /// stream (from the nodes sorted by name).
    pub fn pair(nodes: &[Arc<Node>], seed: u64) -> [NodeOrder; 2] {
        let mut sorted: Vec<&Arc<Node>> = nodes.iter().collect();
        sorted.sort_unstable_by(|a, b| a.metadata.name.cmp(&b.metadata.name));
        sorted.shuffle(&mut component_rng(seed, "fgd-study/node-order"));
        let rank: Arc<HashMap<String, u32>> = Arc::new(
            sorted
                .iter()
                .enumerate()
                .map(|(i, n)| (n.metadata.name.clone(), i as u32))
                .collect(),
        );
        let by_address: Arc<HashMap<usize, u32, BuildAddressHasher>> = Arc::new(
            sorted
                .iter()
                .enumerate()
                .map(|(i, n)| (Arc::as_ptr(n) as usize, i as u32))
                .collect(),
        );
        [
            NodeOrder {
                by_address: by_address.clone(),
                rank: rank.clone(),
                high: true,
            },
            NodeOrder {
                by_address,
                rank,
                high: false,
            },
        ]
    }
}

impl Plugin for NodeOrder {
    fn name(&self) -> &'static str {
        if self.high {
            "NodeOrderHigh"
        } else {
            "NodeOrderLow"
        }
    }
    fn is_node_local(&self) -> bool {
        true
    }
    fn as_score(&self) -> Option<&dyn ScorePlugin> {
        Some(self)
    }
}

impl ScorePlugin for NodeOrder {
    fn has_score_extensions(&self) -> bool {
        // Its scores are final (no NormalizeScore).
        false
    }

    fn score(&self, _state: &CycleState, _pod: &PodInfo, node: &NodeInfo) -> Result<i64, Status> {
        let rank = self
            .by_address
            .get(&(Arc::as_ptr(&node.node) as usize))
            .or_else(|| self.rank.get(node.name()))
            .copied()
            .unwrap_or(DIGIT * DIGIT - 1);
        let value = (DIGIT * DIGIT - 1).saturating_sub(rank);
        Ok(i64::from(if self.high {
            value / DIGIT
        } else {
            value % DIGIT
        }))
    }
}

/// The study's profile: the policy's ([`policies::profile`]) with the [`NodeOrder`] tie-break.
pub fn study_profile(workload: &Workload, policy: Policy, seed: u64) -> Profile {
    let mut profile = policies::profile(policy, &workload.target, seed);
    for wp in &mut profile.score {
        wp.weight = i64::from(DIGIT * DIGIT);
    }
    let [high, low] = NodeOrder::pair(&workload.nodes, seed);
    profile.score.push(WeightedPlugin {
        plugin: Arc::new(high),
        weight: i64::from(DIGIT),
    });
    profile.score.push(WeightedPlugin {
        plugin: Arc::new(low),
        weight: 1,
    });
    profile
}

/// Runs one experiment: `policy` on `workload` with `seed`, pods tuned to `ratio`.
pub fn run(workload: &Workload, policy: Policy, seed: u64, ratio: f64) -> RunOutcome {
    let pods = arrivals(workload, seed, ratio);
    let profile = study_profile(workload, policy, seed);
    let mut snapshot = Snapshot::new(&workload.nodes, &[], &[]);
    let mut cycle = SchedulingCycleState {
        next_start_node_index: 0,
        rng: component_rng(seed, "scheduler"),
    };
    let mut gpu_rng = component_rng(seed, "fgd-study/gpu");
    // The trace's pods rarely repeat the previous pod's spec, so a score cache would be
    // refilled on almost every cycle: the plain computation is faster here (and decides the
    // same).
    let mut cache = ScoreCache::disabled();
    let capacity = workload.capacity_milli as f64;
    let (mut arrived, mut allocated, mut failed) = (0u64, 0u64, 0usize);
    // Per x: (sum of ratios, count).
    let mut buckets = vec![(0.0f64, 0u32); MAX_X + 1];
    for info in &pods {
        let milli = gpu_milli(info);
        arrived += milli;
        match schedule_pod_with_cache(&profile, &snapshot, info, 100, &mut cycle, &mut cache) {
            Ok(result) => {
                let i = snapshot
                    .index_of(&result.suggested_host)
                    .expect("the scheduler chose a node of the snapshot");
                let devices =
                    policy.select_gpus(&workload.target, info, &snapshot.nodes[i], &mut gpu_rng);
                snapshot.nodes[i].add_pod(bound(info, &result.suggested_host, devices));
                allocated += milli;
            }
            Err(_) => failed += 1,
        }
        let x = (arrived as f64 / capacity * 100.0).round() as usize;
        if let Some(b) = buckets.get_mut(x) {
            b.0 += allocated as f64 / capacity * 100.0;
            b.1 += 1;
        }
    }
    RunOutcome {
        policy,
        seed,
        curve: curve_of(&buckets),
        pods: pods.len(),
        failed,
        arrived_milli: arrived,
        allocated_milli: allocated,
    }
}

/// The pod as bound to `node` with `devices` (written to its GPU index annotation, as a
/// GPU-sharing scheduler's bind does).
fn bound(info: &PodInfo, node: &str, devices: Option<Vec<u32>>) -> PodInfo {
    let mut pod = (*info.pod).clone();
    pod.spec.node_name = node.to_string();
    let mut placed = info.clone();
    if let (Some(devices), Some(req)) = (devices, &info.gpu) {
        pod.metadata
            .annotations
            .insert(GPU_INDEX_ANNOTATION.into(), format_index(&devices));
        placed.gpu = Some(Arc::new(GpuRequest {
            assigned: Some(devices),
            ..(**req).clone()
        }));
    }
    placed.pod = Arc::new(pod);
    placed
}

/// Means per x; an empty x takes the mean of its neighbours' means (the artifact's fallback to
/// x ± 1), else NaN.
fn curve_of(buckets: &[(f64, u32)]) -> Vec<f64> {
    let mean = |b: &(f64, u32)| (b.1 > 0).then(|| b.0 / f64::from(b.1));
    (0..buckets.len())
        .map(|x| {
            mean(&buckets[x]).unwrap_or_else(|| {
                let near: Vec<f64> = [x.checked_sub(1), Some(x + 1)]
                    .into_iter()
                    .flatten()
                    .filter_map(|y| buckets.get(y).and_then(mean))
                    .collect();
                if near.is_empty() {
                    f64::NAN
                } else {
                    near.iter().sum::<f64>() / near.len() as f64
                }
            })
        })
        .collect()
}

/// Runs every (policy, seed) pair, in parallel; results in (policy, seed) order.
pub fn grid(
    workload: &Workload,
    policies: &[Policy],
    seeds: &[u64],
    ratio: f64,
) -> Vec<RunOutcome> {
    let pairs: Vec<(Policy, u64)> = policies
        .iter()
        .flat_map(|&p| seeds.iter().map(move |&s| (p, s)))
        .collect();
    pairs
        .par_iter()
        .map(|&(p, s)| run(workload, p, s, ratio))
        .collect()
}

/// The median, minimum and maximum over seeds of one policy's ratio at one x.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Spread {
    /// Median over seeds.
    pub median: f64,
    /// Smallest.
    pub min: f64,
    /// Largest.
    pub max: f64,
}

/// The median and spread of `values` (NaN-free; empty gives NaNs).
pub fn spread(values: &[f64]) -> Spread {
    let mut v: Vec<f64> = values.iter().copied().filter(|x| !x.is_nan()).collect();
    if v.is_empty() {
        return Spread {
            median: f64::NAN,
            min: f64::NAN,
            max: f64::NAN,
        };
    }
    v.sort_by(f64::total_cmp);
    let n = v.len();
    let median = if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    };
    Spread {
        median,
        min: v[0],
        max: v[n - 1],
    }
}

/// Per policy (in the paper's order), the spread over seeds at every x.
pub fn summarize(runs: &[RunOutcome]) -> BTreeMap<Policy, Vec<Spread>> {
    let mut by: BTreeMap<Policy, Vec<&RunOutcome>> = BTreeMap::new();
    for r in runs {
        by.entry(r.policy).or_default().push(r);
    }
    by.into_iter()
        .map(|(p, rs)| {
            let curve = (0..=MAX_X)
                .map(|x| spread(&rs.iter().map(|r| r.curve[x]).collect::<Vec<_>>()))
                .collect();
            (p, curve)
        })
        .collect()
}

/// FGD's reduction of unallocated GPUs against `baseline` at x, in percent of the baseline's
/// unallocated GPUs, and in GPUs of a cluster of `gpus`: from medians.
pub fn reduction(fgd: f64, baseline: f64, gpus: f64) -> (f64, f64) {
    let (u_fgd, u_base) = (100.0 - fgd, 100.0 - baseline);
    (
        (1.0 - u_fgd / u_base) * 100.0,
        (fgd - baseline) / 100.0 * gpus,
    )
}

/// The experiments' curves as CSV, one row per experiment, in the artifact's wide form
/// (`workload,sc_policy,tune,seed,total_gpus,0,…,130`), plus the failed pods.
pub fn curves_csv(workload: &str, gpus: u64, runs: &[RunOutcome]) -> String {
    let mut out = String::from("workload,sc_policy,tune,seed,total_gpus,pods,failed_pods");
    for x in 0..=MAX_X {
        out.push_str(&format!(",{x}"));
    }
    out.push('\n');
    for r in runs {
        out.push_str(&format!(
            "{workload},{},{TUNE_RATIO},{},{gpus},{},{}",
            r.policy.label(),
            r.seed,
            r.pods,
            r.failed
        ));
        for v in &r.curve {
            out.push_str(&format!(",{v:.2}"));
        }
        out.push('\n');
    }
    out
}

/// The medians and spreads as CSV (`policy,x,median,min,max`).
pub fn summary_csv(summary: &BTreeMap<Policy, Vec<Spread>>) -> String {
    let mut out = String::from("policy,x,median,min,max\n");
    for (p, curve) in summary {
        for (x, s) in curve.iter().enumerate() {
            out.push_str(&format!(
                "{},{x},{:.2},{:.2},{:.2}\n",
                p.label(),
                s.median,
                s.min,
                s.max
            ));
        }
    }
    out
}

/// The paper's plot: GPU allocation ratio (median over seeds, with the min–max band) against
/// arrived workload, one line per policy, as an SVG.
pub fn plot_svg(
    title: &str,
    summary: &BTreeMap<Policy, Vec<Spread>>,
) -> Result<String, StudyError> {
    use plotters::prelude::*;
    const COLOURS: [RGBColor; 6] = [
        RGBColor(0x7f, 0x7f, 0x7f),
        RGBColor(0x1f, 0x77, 0xb4),
        RGBColor(0x2c, 0xa0, 0x2c),
        RGBColor(0x94, 0x67, 0xbd),
        RGBColor(0xff, 0x7f, 0x0e),
        RGBColor(0xd6, 0x27, 0x28),
    ];
    let e = |e: &dyn std::fmt::Display| StudyError::Plot(e.to_string());
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (900, 560)).into_drawing_area();
        root.fill(&WHITE).map_err(|x| e(&x))?;
        let mut chart = ChartBuilder::on(&root)
            .caption(title, ("sans-serif", 20))
            .margin(15)
            .x_label_area_size(45)
            .y_label_area_size(60)
            .build_cartesian_2d(60f64..130f64, 60f64..100f64)
            .map_err(|x| e(&x))?;
        chart
            .configure_mesh()
            .x_desc("Arrived workloads (% of cluster GPU capacity)")
            .y_desc("GPU allocation ratio (%)")
            .draw()
            .map_err(|x| e(&x))?;
        for (i, (p, curve)) in summary.iter().enumerate() {
            let colour = COLOURS[(*p as usize).min(5)];
            let _ = i;
            let band: Vec<(f64, f64)> = curve
                .iter()
                .enumerate()
                .filter(|(_, s)| !s.max.is_nan())
                .map(|(x, s)| (x as f64, s.max))
                .chain(
                    curve
                        .iter()
                        .enumerate()
                        .rev()
                        .filter(|(_, s)| !s.min.is_nan())
                        .map(|(x, s)| (x as f64, s.min)),
                )
                .collect();
            chart
                .draw_series(std::iter::once(Polygon::new(
                    band,
                    colour.mix(0.2).filled(),
                )))
                .map_err(|x| e(&x))?;
            chart
                .draw_series(LineSeries::new(
                    curve
                        .iter()
                        .enumerate()
                        .filter(|(_, s)| !s.median.is_nan())
                        .map(|(x, s)| (x as f64, s.median)),
                    colour.stroke_width(2),
                ))
                .map_err(|x| e(&x))?
                .label(p.label())
                .legend(move |(x, y)| {
                    PathElement::new(vec![(x, y), (x + 20, y)], colour.stroke_width(2))
                });
        }
        chart
            .configure_series_labels()
            .background_style(WHITE.mix(0.8))
            .border_style(BLACK)
            .position(SeriesLabelPosition::LowerRight)
            .draw()
            .map_err(|x| e(&x))?;
        root.present().map_err(|x| e(&x))?;
    }
    Ok(svg)
}

/// Writes `<stem>_curves.csv`, `<stem>_summary.csv` and `<stem>.svg` into `dir`; returns their
/// paths.
pub fn write_outputs(
    dir: &Path,
    workload: &Workload,
    runs: &[RunOutcome],
) -> Result<Vec<PathBuf>, StudyError> {
    std::fs::create_dir_all(dir).map_err(|source| StudyError::Write {
        path: dir.to_path_buf(),
        source,
    })?;
    let summary = summarize(runs);
    let gpus = workload.capacity_milli / u64::from(flotilla_scheduler::gpu::MILLI_PER_GPU);
    let stem = format!("fgd_{}", workload.name);
    let files = [
        (
            format!("{stem}_curves.csv"),
            curves_csv(&workload.name, gpus, runs),
        ),
        (format!("{stem}_summary.csv"), summary_csv(&summary)),
        (
            format!("{stem}.svg"),
            plot_svg(
                &format!(
                    "GPU allocation, {} ({} seeds)",
                    workload.name,
                    seeds_of(runs)
                ),
                &summary,
            )?,
        ),
    ];
    let mut written = Vec::new();
    for (name, text) in files {
        let path = dir.join(name);
        std::fs::write(&path, text).map_err(|source| StudyError::Write {
            path: path.clone(),
            source,
        })?;
        written.push(path);
    }
    Ok(written)
}

fn seeds_of(runs: &[RunOutcome]) -> usize {
    let mut s: Vec<u64> = runs.iter().map(|r| r.seed).collect();
    s.sort_unstable();
    s.dedup();
    s.len()
}

/// A table of the medians at x = 95, 100 and 130 next to the paper's (for the default trace),
/// and FGD's reduction of unallocated GPUs against each policy at x = 100.
pub fn report(workload: &Workload, summary: &BTreeMap<Policy, Vec<Spread>>) -> String {
    let gpus = workload.capacity_milli as f64 / 1000.0;
    let paper = (workload.name == "openb_pod_list_default").then_some(&PAPER_DEFAULT);
    let mut out = format!(
        "{:<14} {:>22} {:>22} {:>22}\n",
        "policy", "x=95 ours (paper)", "x=100 ours (paper)", "x=130 ours (paper)"
    );
    for (p, curve) in summary {
        out.push_str(&format!("{:<14}", p.label()));
        for (k, x) in [95usize, 100, 130].into_iter().enumerate() {
            let s = curve[x];
            let published = paper
                .and_then(|t| t.iter().find(|(q, _)| q == p))
                .map_or(String::from("-"), |(_, v)| format!("{:.2}", v[k]));
            out.push_str(&format!(
                " {:>22}",
                format!("{:.2} [{:.2}–{:.2}] ({published})", s.median, s.min, s.max)
            ));
        }
        out.push('\n');
    }
    if let Some(fgd) = summary.get(&Policy::Fgd) {
        out.push_str("\nFGD's reduction of unallocated GPUs at x=100 (medians):\n");
        for (p, curve) in summary {
            if *p == Policy::Fgd {
                continue;
            }
            let (pct, n) = reduction(fgd[100].median, curve[100].median, gpus);
            out.push_str(&format!(
                "  vs {:<14} {:>5.1} % fewer, {:>4.0} GPUs\n",
                p.label(),
                pct,
                n
            ));
        }
    }
    out
}
