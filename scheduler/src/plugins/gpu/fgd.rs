//! FGD, fragmentation gradient descent (Weng et al., ATC'23, §4; the artifact's
//! `pkg/simulator/plugin/fgd_score.go` and `pkg/utils/frag.go`).
//!
//! **Target workload.** The pod shapes the cluster expects, each with its popularity p_m
//! ([`TargetWorkload`]): the trace's pods grouped by (CPU, milli-GPU per GPU, GPU count, accepted
//! models), most frequent first, the most frequent shapes that together make up 95 % of the pods,
//! renormalised (`GetTypicalPods`, `podPopularityThreshold: 95`, `podIncreaseStep: 1`, CPU-only
//! pods included).
//!
//! **Fragmentation** of a node for one shape m (`NodeGpuShareFragAmount`): the free milli-GPUs
//! that m cannot use. If m asks for no GPU, or the node's model is not one m accepts, or m does
//! not fit (fewer than `count` GPUs with `milli` free, or not enough CPU), that is every free
//! milli-GPU of the node; otherwise it is the free milli-GPUs of the GPUs where m's share does not
//! fit. The node's fragmentation is the expectation over the target workload,
//! F_n = Σ_m p_m · F_n(m).
//!
//! **Score.** The increase of F_n if the pod were placed, mapped through the logistic function:
//! `⌊100 · σ((F_before − F_after) / 1000)⌋`, so the node whose fragmentation grows least (or
//! shrinks most) wins. For a share every GPU where it fits is tried and the best one is both the
//! node's score and the GPU the pod gets (lowest index among equal scores); for whole GPUs and
//! CPU-only pods "after" takes the CPU and the least-free GPUs that fit (`NodeResource.Sub`).
//! A pod that requests nothing scores 100.

use std::collections::BTreeMap;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use super::{cpu_left, cpu_request};
use crate::framework::{CycleState, Plugin, ScorePlugin, Status, MAX_NODE_SCORE};
use crate::gpu::{GpuRequest, NodeGpus};
use crate::node_info::{NodeInfo, PodInfo};

/// The plugin's name (`FGDScorePluginName`).
pub const NAME: &str = "FGDScore";
/// The share of pods the target workload's shapes cover, in percent (the artifact's
/// `podPopularityThreshold`).
pub const POPULARITY_THRESHOLD: f64 = 95.0;

/// One pod shape of the target workload.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TargetPod {
    /// Millicores of CPU.
    pub cpu_milli: i64,
    /// Milli-GPUs on each GPU (0 for a pod without GPUs).
    pub gpu_milli: u32,
    /// Number of GPUs (0 for a pod without GPUs).
    pub gpu_count: u32,
    /// Accepted GPU models; empty accepts any.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub gpu_models: Vec<String>,
    /// Popularity: the probability of the shape (the list's weights are renormalised).
    pub weight: f64,
}

/// The target workload: pod shapes with probabilities summing to 1. See the [module docs](self).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct TargetWorkload {
    /// The shapes, most popular first.
    pub pods: Vec<TargetPod>,
}

/// A pod's shape key: (CPU, milli-GPU per GPU, GPU count, accepted models as written).
type Shape = (i64, u32, u32, String);

fn shape_of(pod: &PodInfo) -> Shape {
    match &pod.gpu {
        Some(g) => (cpu_request(pod), g.milli, g.count, g.models.join("|")),
        None => (cpu_request(pod), 0, 0, String::new()),
    }
}

impl TargetWorkload {
    /// The shapes given, with their weights renormalised to sum to 1 (shapes with no weight are
    /// dropped).
    pub fn new(pods: Vec<TargetPod>) -> TargetWorkload {
        let total: f64 = pods.iter().map(|p| p.weight.max(0.0)).sum();
        let pods = pods
            .into_iter()
            .filter(|p| p.weight > 0.0)
            .map(|mut p| {
                p.weight /= total;
                p
            })
            .collect();
        TargetWorkload { pods }
    }

    /// The target workload of a list of pods, as the artifact's `GetTypicalPods` builds it:
    /// shapes by decreasing count (ties: the larger shape first, by CPU, milli-GPU, count, then
    /// models), taken one at a time until they cover `threshold_pct` percent of the pods.
    pub fn from_pods<'a>(
        pods: impl IntoIterator<Item = &'a PodInfo>,
        threshold_pct: f64,
    ) -> TargetWorkload {
        let mut counts: BTreeMap<Shape, u64> = BTreeMap::new();
        let mut total = 0u64;
        for pod in pods {
            *counts.entry(shape_of(pod)).or_insert(0) += 1;
            total += 1;
        }
        let mut shapes: Vec<(Shape, u64)> = counts.into_iter().collect();
        // Decreasing count, then decreasing shape (`sort.Reverse` of TargetPodList.Less).
        shapes.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| b.0.cmp(&a.0)));
        let expected = threshold_pct * total as f64 / 100.0;
        let mut cum = 0u64;
        let mut chosen = Vec::new();
        for (shape, n) in shapes {
            if cum as f64 >= expected {
                break;
            }
            cum += n;
            chosen.push((shape, n));
        }
        TargetWorkload::new(
            chosen
                .into_iter()
                .map(|((cpu, milli, count, models), n)| TargetPod {
                    cpu_milli: cpu,
                    gpu_milli: milli,
                    gpu_count: count,
                    gpu_models: crate::gpu::parse_models(&models),
                    weight: n as f64,
                })
                .collect(),
        )
    }

    /// The expected fragmentation F_n, in milli-GPUs, of a node with `cpu_left` millicores free,
    /// GPU model `model` and `free` milli-GPUs on each GPU.
    pub fn fragmentation(&self, cpu_left: i64, model: Option<&str>, free: &[u32]) -> f64 {
        let total: u64 = free.iter().map(|&f| u64::from(f)).sum();
        if total == 0 {
            return 0.0;
        }
        let mut frag = 0.0;
        for m in &self.pods {
            let accessible = m.gpu_models.is_empty()
                || model.is_some_and(|x| m.gpu_models.iter().any(|y| y == x));
            let amount = if m.gpu_milli == 0 || !accessible {
                total
            } else {
                let mut fitting = 0u32;
                let mut small = 0u64;
                for &f in free {
                    if f >= m.gpu_milli {
                        fitting += 1;
                    } else {
                        small += u64::from(f);
                    }
                }
                if fitting >= m.gpu_count && cpu_left >= m.cpu_milli {
                    small
                } else {
                    total
                }
            };
            frag += m.weight * amount as f64;
        }
        frag
    }
}

/// The logistic function.
fn sigmoid(x: f64) -> f64 {
    1.0 / (1.0 + (-x).exp())
}

/// `⌊100 · σ((before − after) / 1000)⌋`.
fn score_of(before: f64, after: f64) -> i64 {
    (sigmoid((before - after) / 1000.0) * MAX_NODE_SCORE as f64) as i64
}

/// Shapes evaluated incrementally on the stack; a larger target workload is evaluated in full
/// for every candidate (the same values, more slowly).
const MAX_INCREMENTAL: usize = 64;
/// Nodes with up to this many GPUs have a whole-GPU placement evaluated on the stack.
const MAX_CHANGED: usize = 16;

/// Per shape of the target workload, on one node: whether the node's model is accepted, how
/// many GPUs have the shape's share free, and the free milli-GPUs of those that do not. From
/// these, the fragmentation after taking CPU, or a share of one GPU, is a pass over the shapes
/// instead of over shapes × GPUs.
struct Parts {
    total: u64,
    fitting: [u32; MAX_INCREMENTAL],
    small: [u64; MAX_INCREMENTAL],
    accessible: [bool; MAX_INCREMENTAL],
}

impl TargetWorkload {
    fn parts(&self, model: Option<&str>, free: &[u32]) -> Option<Parts> {
        if self.pods.len() > MAX_INCREMENTAL {
            return None;
        }
        let mut p = Parts {
            total: free.iter().map(|&f| u64::from(f)).sum(),
            fitting: [0; MAX_INCREMENTAL],
            small: [0; MAX_INCREMENTAL],
            accessible: [false; MAX_INCREMENTAL],
        };
        for (j, m) in self.pods.iter().enumerate() {
            p.accessible[j] = m.gpu_milli > 0
                && (m.gpu_models.is_empty()
                    || model.is_some_and(|x| m.gpu_models.iter().any(|y| y == x)));
            if !p.accessible[j] {
                continue;
            }
            for &f in free {
                if f >= m.gpu_milli {
                    p.fitting[j] += 1;
                } else {
                    p.small[j] += u64::from(f);
                }
            }
        }
        Some(p)
    }

    /// The fragmentation of the node the parts describe, with `cpu_left` free and the GPUs in
    /// `changes` changed from `from` to `to` free milli-GPUs.
    fn frag_of_parts(&self, p: &Parts, cpu_left: i64, changes: &[(u32, u32)]) -> f64 {
        let total = changes.iter().fold(p.total, |t, &(from, to)| {
            t - u64::from(from) + u64::from(to)
        });
        if total == 0 {
            return 0.0;
        }
        let mut frag = 0.0;
        for (j, m) in self.pods.iter().enumerate() {
            let amount = if !p.accessible[j] {
                total
            } else {
                let (mut fitting, mut small) = (p.fitting[j], p.small[j]);
                for &(from, to) in changes {
                    if from >= m.gpu_milli {
                        fitting -= 1;
                    } else {
                        small -= u64::from(from);
                    }
                    if to >= m.gpu_milli {
                        fitting += 1;
                    } else {
                        small += u64::from(to);
                    }
                }
                if fitting >= m.gpu_count && cpu_left >= m.cpu_milli {
                    small
                } else {
                    total
                }
            };
            frag += m.weight * amount as f64;
        }
        frag
    }
}

/// For a share `req` of a pod asking `cpu` millicores, on a node with `cpu_left` free and GPUs
/// `gpus`: the GPU whose use increases fragmentation least and its score (the lowest index among
/// equal scores, as `calculateGpuShareFragExtendScore`); `None` when the share fits no GPU.
pub fn best_share_gpu(
    target: &TargetWorkload,
    cpu_left: i64,
    cpu: i64,
    gpus: &NodeGpus,
    req: &GpuRequest,
) -> Option<(u32, i64)> {
    let model = gpus.model();
    let parts = target.parts(model, &gpus.free);
    let before = match &parts {
        Some(p) => target.frag_of_parts(p, cpu_left, &[]),
        None => target.fragmentation(cpu_left, model, &gpus.free),
    };
    let mut best: Option<(u32, i64)> = None;
    for (i, &f) in gpus.free.iter().enumerate() {
        // GPUs with equal free shares give equal scores; the first of them is the one kept.
        if f < req.milli || gpus.free[..i].contains(&f) {
            continue;
        }
        let after = match &parts {
            Some(p) => target.frag_of_parts(p, cpu_left - cpu, &[(f, f - req.milli)]),
            None => {
                let mut after = gpus.free.clone();
                after[i] = f - req.milli;
                target.fragmentation(cpu_left - cpu, model, &after)
            }
        };
        let score = score_of(before, after);
        if best.is_none_or(|(_, s)| score > s) {
            best = Some((i as u32, score));
        }
    }
    best
}

/// The FGD score of a node with `cpu_left` free and GPUs `gpus` for a pod asking `cpu`
/// millicores and `req` of GPUs.
pub fn fgd_score(
    target: &TargetWorkload,
    cpu_left: i64,
    cpu: i64,
    gpus: &NodeGpus,
    req: Option<&GpuRequest>,
) -> i64 {
    let model = gpus.model();
    let Some(req) = req else {
        // CPU only: the GPUs stay as they are.
        return match target.parts(model, &gpus.free) {
            Some(p) => score_of(
                target.frag_of_parts(&p, cpu_left, &[]),
                target.frag_of_parts(&p, cpu_left - cpu, &[]),
            ),
            None => score_of(
                target.fragmentation(cpu_left, model, &gpus.free),
                target.fragmentation(cpu_left - cpu, model, &gpus.free),
            ),
        };
    };
    if req.is_share() {
        return best_share_gpu(target, cpu_left, cpu, gpus, req).map_or(0, |(_, s)| s);
    }
    // `NodeResource.Sub`: the least-free GPUs that fit, in increasing order (stable).
    if let (Some(p), true) = (target.parts(model, &gpus.free), gpus.count() <= MAX_CHANGED) {
        let mut fit = [(0u32, 0usize); MAX_CHANGED];
        let mut n = 0;
        for (i, &f) in gpus.free.iter().enumerate() {
            if f >= req.milli {
                fit[n] = (f, i);
                n += 1;
            }
        }
        fit[..n].sort_unstable();
        let taken = (req.count as usize).min(n);
        let mut changes = [(0u32, 0u32); MAX_CHANGED];
        for (c, &(f, _)) in changes.iter_mut().zip(&fit[..taken]) {
            *c = (f, f - req.milli);
        }
        return score_of(
            target.frag_of_parts(&p, cpu_left, &[]),
            target.frag_of_parts(&p, cpu_left - cpu, &changes[..taken]),
        );
    }
    let before = target.fragmentation(cpu_left, model, &gpus.free);
    let mut after = gpus.free.clone();
    let mut order: Vec<usize> = (0..after.len()).collect();
    order.sort_by_key(|&i| after[i]);
    let mut wanted = req.count;
    for i in order {
        if wanted == 0 {
            break;
        }
        if after[i] >= req.milli {
            after[i] -= req.milli;
            wanted -= 1;
        }
    }
    score_of(before, target.fragmentation(cpu_left - cpu, model, &after))
}

/// The FGD policy's score plugin, measuring against a target workload.
#[derive(Clone, Debug, Default)]
pub struct FgdScore {
    target: Arc<TargetWorkload>,
}

/// FGDScore's args: the target workload's shapes (weights are renormalised).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FgdScoreArgs {
    /// The pod shapes the cluster expects.
    #[serde(default)]
    pub target_workload: Vec<TargetPod>,
}

impl FgdScore {
    /// The plugin, measuring fragmentation against `target`.
    pub fn new(target: Arc<TargetWorkload>) -> FgdScore {
        FgdScore { target }
    }

    /// The target workload.
    pub fn target(&self) -> &TargetWorkload {
        &self.target
    }
}

impl Plugin for FgdScore {
    fn name(&self) -> &'static str {
        NAME
    }
    /// The score depends on the pod, the node and the plugin's fixed target workload only.
    fn is_node_local(&self) -> bool {
        true
    }
    fn as_score(&self) -> Option<&dyn ScorePlugin> {
        Some(self)
    }
}

impl ScorePlugin for FgdScore {
    fn score(&self, _state: &CycleState, pod: &PodInfo, node: &NodeInfo) -> Result<i64, Status> {
        if pod.gpu.is_none() && pod.requests.milli_cpu == 0 && pod.requests.memory == 0 {
            return Ok(MAX_NODE_SCORE);
        }
        Ok(fgd_score(
            &self.target,
            cpu_left(node),
            cpu_request(pod),
            &node.gpus,
            pod.gpu.as_deref(),
        ))
    }
}
