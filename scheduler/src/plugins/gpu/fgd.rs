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

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};

use serde::{Deserialize, Serialize};

use super::{cpu_left, cpu_request};
use crate::framework::{CycleState, Plugin, PreScorePlugin, ScorePlugin, Status, MAX_NODE_SCORE};
use crate::gpu::{GpuRequest, NodeGpus};
use crate::node_info::{NodeInfo, PodInfo};
use crate::snapshot::Snapshot;

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

/// A node's fragmentation before a placement: the per-shape parts (when the target workload is
/// small enough to evaluate incrementally) and F_n itself. Depends on the node's CPU left, GPU
/// model and free milli-GPUs only, so it is computed once per node state (see [`FgdScore`]).
struct Before {
    parts: Option<Box<Parts>>,
    frag: f64,
}

impl TargetWorkload {
    fn before(&self, cpu_left: i64, gpus: &NodeGpus) -> Before {
        let model = gpus.model();
        let parts = self.parts(model, &gpus.free).map(Box::new);
        let frag = match &parts {
            Some(p) => self.frag_of_parts(p, cpu_left, &[]),
            None => self.fragmentation(cpu_left, model, &gpus.free),
        };
        Before { parts, frag }
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
    best_share_gpu_from(
        target,
        &target.before(cpu_left, gpus),
        cpu_left,
        cpu,
        gpus,
        req,
    )
}

fn best_share_gpu_from(
    target: &TargetWorkload,
    before: &Before,
    cpu_left: i64,
    cpu: i64,
    gpus: &NodeGpus,
    req: &GpuRequest,
) -> Option<(u32, i64)> {
    let model = gpus.model();
    let mut best: Option<(u32, i64)> = None;
    for (i, &f) in gpus.free.iter().enumerate() {
        // GPUs with equal free shares give equal scores; the first of them is the one kept.
        if f < req.milli || gpus.free[..i].contains(&f) {
            continue;
        }
        let after = match &before.parts {
            Some(p) => target.frag_of_parts(p, cpu_left - cpu, &[(f, f - req.milli)]),
            None => {
                let mut after = gpus.free.clone();
                after[i] = f - req.milli;
                target.fragmentation(cpu_left - cpu, model, &after)
            }
        };
        let score = score_of(before.frag, after);
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
    fgd_score_from(
        target,
        &target.before(cpu_left, gpus),
        cpu_left,
        cpu,
        gpus,
        req,
    )
}

/// [`fgd_score`] with the node's fragmentation already computed: only the candidate
/// placement's fragmentation is evaluated.
fn fgd_score_from(
    target: &TargetWorkload,
    before: &Before,
    cpu_left: i64,
    cpu: i64,
    gpus: &NodeGpus,
    req: Option<&GpuRequest>,
) -> i64 {
    let model = gpus.model();
    let Some(req) = req else {
        // CPU only: the GPUs stay as they are.
        let after = match &before.parts {
            Some(p) => target.frag_of_parts(p, cpu_left - cpu, &[]),
            None => target.fragmentation(cpu_left - cpu, model, &gpus.free),
        };
        return score_of(before.frag, after);
    };
    if req.is_share() {
        return best_share_gpu_from(target, before, cpu_left, cpu, gpus, req).map_or(0, |(_, s)| s);
    }
    // `NodeResource.Sub`: the least-free GPUs that fit, in increasing order (stable).
    if let (Some(p), true) = (&before.parts, gpus.count() <= MAX_CHANGED) {
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
            before.frag,
            target.frag_of_parts(p, cpu_left - cpu, &changes[..taken]),
        );
    }
    // The same sum as `frag_of_parts` (same shapes, same order, same integer amounts), so
    // `before.frag` is exact here too.
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
    score_of(
        before.frag,
        target.fragmentation(cpu_left - cpu, model, &after),
    )
}

/// What FGD's score depends on in a pod: CPU millicores, GPU count (0 without GPUs) and
/// milli-GPUs per GPU. (The accepted models are the filter's business.)
type PodShape = (i64, u32, u32);

fn pod_shape(pod: &PodInfo) -> PodShape {
    match &pod.gpu {
        Some(g) => (cpu_request(pod), g.count, g.milli),
        None => (cpu_request(pod), 0, 0),
    }
}

/// Scores of one node state are kept for at most this many pod shapes of one plugin (shapes
/// seen later are scored every time).
const MAX_SHAPES: usize = 4096;

/// The pod shapes one [`FgdScore`] has scored, numbered in the order first seen.
#[derive(Debug, Default)]
struct ShapeIds(Mutex<HashMap<PodShape, u32>>);

/// The shape of this cycle's pod, written by PreScore for Score.
#[derive(Clone, Copy, Debug)]
struct CycleShape {
    /// The [`ShapeIds`] that numbered it (its address; compared while the plugin holds it).
    owner: usize,
    id: u32,
}

/// What FGD keeps about one node state (in the node's [`DerivedCache`](crate::gpu::DerivedCache)):
/// the state it was computed from, its fragmentation, and its score for each pod shape seen
/// since.
struct NodeMemo {
    /// The plugin's shape numbering (kept alive here, so its address identifies it).
    owner: Arc<ShapeIds>,
    cpu_left: i64,
    model: Option<Arc<str>>,
    free: Vec<u32>,
    before: Before,
    /// By shape id: 0 when not scored yet, else the score + 1 (scores are 0–100).
    scores: Vec<u8>,
}

impl NodeMemo {
    fn is_for(&self, owner: &Arc<ShapeIds>, cpu_left: i64, gpus: &NodeGpus) -> bool {
        Arc::ptr_eq(&self.owner, owner)
            && self.cpu_left == cpu_left
            && self.free == gpus.free
            && self.model == gpus.model
    }
}

/// The FGD policy's score plugin, measuring against a target workload.
///
/// A node's score depends on the pod's shape (`PodShape`) and the node's CPU left, GPU model
/// and free milli-GPUs, nothing else; and one binding changes one node. So the plugin keeps, in
/// each node's [`DerivedCache`](crate::gpu::DerivedCache), the node's fragmentation and its
/// score for every pod shape scored since the node last changed: PreScore numbers the pod's
/// shape, Score looks the node's entry up and evaluates only what is missing (for a new node
/// state, the fragmentation once; for a new shape, the candidate placements only). An entry is
/// used only when the state it was computed from equals the node's, so the scores are those
/// computed afresh, bit for bit.
#[derive(Clone, Debug, Default)]
pub struct FgdScore {
    target: Arc<TargetWorkload>,
    shapes: Arc<ShapeIds>,
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
        FgdScore {
            target,
            shapes: Arc::default(),
        }
    }

    /// The target workload.
    pub fn target(&self) -> &TargetWorkload {
        &self.target
    }

    fn owner(&self) -> usize {
        Arc::as_ptr(&self.shapes) as usize
    }

    /// The number of `pod`'s shape, if there is room for it.
    fn shape_id(&self, pod: &PodInfo) -> Option<u32> {
        let mut ids = self.shapes.0.lock().unwrap_or_else(|e| e.into_inner());
        let next = ids.len();
        match ids.entry(pod_shape(pod)) {
            std::collections::hash_map::Entry::Occupied(e) => Some(*e.get()),
            std::collections::hash_map::Entry::Vacant(e) if next < MAX_SHAPES => {
                Some(*e.insert(next as u32))
            }
            std::collections::hash_map::Entry::Vacant(_) => None,
        }
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
    fn as_pre_score(&self) -> Option<&dyn PreScorePlugin> {
        Some(self)
    }
    fn as_score(&self) -> Option<&dyn ScorePlugin> {
        Some(self)
    }
}

impl PreScorePlugin for FgdScore {
    /// Numbers the pod's shape, so that Score can find the nodes' kept scores for it.
    fn pre_score(
        &self,
        state: &mut CycleState,
        pod: &PodInfo,
        _snapshot: &Snapshot,
        _feasible: &[usize],
    ) -> Status {
        if let Some(id) = self.shape_id(pod) {
            state.write(
                NAME,
                CycleShape {
                    owner: self.owner(),
                    id,
                },
            );
        }
        Status::success()
    }
}

impl ScorePlugin for FgdScore {
    fn has_score_extensions(&self) -> bool {
        // Its scores are final (no NormalizeScore).
        false
    }

    fn score(&self, state: &CycleState, pod: &PodInfo, node: &NodeInfo) -> Result<i64, Status> {
        if pod.gpu.is_none() && pod.requests.milli_cpu == 0 && pod.requests.memory == 0 {
            return Ok(MAX_NODE_SCORE);
        }
        let (cpu_left, cpu, gpus) = (cpu_left(node), cpu_request(pod), &node.gpus);
        let req = pod.gpu.as_deref();
        let shape = state
            .read::<CycleShape>(NAME)
            .filter(|s| s.owner == self.owner())
            .map(|s| s.id as usize);
        if gpus.count() == 0 {
            // Nothing to keep: no GPU, no fragmentation.
            return Ok(fgd_score(&self.target, cpu_left, cpu, gpus, req));
        }
        Ok(gpus.derived.with(|slot| {
            let kept = slot
                .as_mut()
                .and_then(|b| b.downcast_mut::<NodeMemo>())
                .filter(|m| m.is_for(&self.shapes, cpu_left, gpus));
            let memo = match kept {
                Some(m) => m,
                None => {
                    let fresh: Box<dyn std::any::Any + Send> = Box::new(NodeMemo {
                        owner: self.shapes.clone(),
                        cpu_left,
                        model: gpus.model.clone(),
                        free: gpus.free.clone(),
                        before: self.target.before(cpu_left, gpus),
                        scores: Vec::new(),
                    });
                    slot.insert(fresh)
                        .downcast_mut::<NodeMemo>()
                        .expect("the entry was just written with this type")
                }
            };
            if let Some(&kept) = shape.and_then(|id| memo.scores.get(id)) {
                if kept > 0 {
                    return i64::from(kept - 1);
                }
            }
            let score = fgd_score_from(&self.target, &memo.before, cpu_left, cpu, gpus, req);
            if let (Some(id), Ok(byte)) = (shape, u8::try_from(score + 1)) {
                if memo.scores.len() <= id {
                    memo.scores.resize(id + 1, 0);
                }
                memo.scores[id] = byte;
            }
            score
        }))
    }
}

#[cfg(test)]
mod tests {
    use rand::{Rng, SeedableRng};
    use serde_json::json;

    use super::*;
    use crate::plugins::testing::{node, pod};

    fn gpu_pod(i: usize, cpu: i64, count: i64, milli: i64) -> PodInfo {
        let mut requests = serde_json::Map::new();
        requests.insert("cpu".into(), json!(format!("{cpu}m")));
        if count > 0 {
            requests.insert("nvidia.com/gpu".into(), json!(count.to_string()));
        }
        if milli > 0 {
            requests.insert("flotilla.io/gpu-milli".into(), json!(milli.to_string()));
        }
        PodInfo::new(pod(json!({
            "metadata": {"name": format!("p{i}")},
            "spec": {"containers": [{"name": "c", "image": "i",
                "resources": {"requests": requests, "limits": requests}}]},
        })))
    }

    /// The kept scores are those computed afresh: over random pods scored on a node whose
    /// GPUs and CPU change (by binding, and by direct writes that bypass the generation),
    /// the plugin (PreScore then Score, with its per-node entry) gives `fgd_score`'s value.
    #[test]
    fn kept_scores_equal_fresh_ones_as_the_node_changes() {
        let target = Arc::new(TargetWorkload::new(vec![
            TargetPod {
                cpu_milli: 4000,
                gpu_milli: 500,
                gpu_count: 1,
                gpu_models: Vec::new(),
                weight: 3.0,
            },
            TargetPod {
                cpu_milli: 8000,
                gpu_milli: 1000,
                gpu_count: 2,
                gpu_models: Vec::new(),
                weight: 1.0,
            },
            TargetPod {
                cpu_milli: 2000,
                gpu_milli: 0,
                gpu_count: 0,
                gpu_models: Vec::new(),
                weight: 1.0,
            },
        ]));
        let plugin = FgdScore::new(target.clone());
        let n = node(json!({
            "metadata": {"name": "n", "labels": {"flotilla.io/gpu-model": "T4"}},
            "status": {"allocatable": {"cpu": "64", "memory": "256Gi", "pods": "110",
                "nvidia.com/gpu": "4", "flotilla.io/gpu-milli": "4000"}},
        }));
        let mut info = NodeInfo::new(n);
        let shapes = [
            (1000, 0, 300),
            (4000, 0, 500),
            (2000, 1, 0),
            (8000, 2, 0),
            (500, 0, 0),
        ];
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(5);
        let snapshot = Snapshot::default();
        let (mut hits, mut added) = (0, 0);
        for i in 0..400 {
            let (cpu, count, milli) = shapes[rng.random_range(0..shapes.len())];
            let p = gpu_pod(i, cpu, count, milli);
            let mut state = CycleState::new();
            let pre = plugin.pre_score(&mut state, &p, &snapshot, &[]);
            assert!(pre.is_success());
            let kept = plugin.score(&state, &p, &info).expect("scores");
            let fresh = fgd_score(
                &target,
                cpu_left(&info),
                cpu_request(&p),
                &info.gpus,
                p.gpu.as_deref(),
            );
            assert_eq!(
                kept,
                fresh,
                "step {i}: {:?}, free {:?}",
                (cpu, count, milli),
                info.gpus.free
            );
            // Scored again with no change: from the entry.
            assert_eq!(plugin.score(&state, &p, &info).expect("scores"), fresh);
            hits += 1;
            match rng.random_range(0..6) {
                0 if p.gpu.as_ref().is_none_or(|g| info.gpus.fits(g)) && cpu_left(&info) >= cpu => {
                    info.add_pod(p);
                    added += 1;
                }
                1 => {
                    // A direct write that does not touch the generation.
                    let g = rng.random_range(0..4);
                    info.gpus.free[g] = rng.random_range(0..=10) * 100;
                }
                2 if info.pods.len() > 3 => {
                    let name = info.pods[0].pod.metadata.name.clone();
                    assert!(info.remove_pod("default", &name));
                }
                _ => {}
            }
        }
        assert!(hits == 400 && added > 10, "{added} pods added");
    }
}
