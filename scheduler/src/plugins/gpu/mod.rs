//! GPU sharing: the `Open-Gpu-Share` filter and the six GPU scoring policies compared by Weng et
//! al., "Beware of Fragmentation: Scheduling GPU-Sharing Workloads with Fragmentation Gradient
//! Descent" (USENIX ATC 2023), re-implemented from their simulator
//! (hkust-adsl/kubernetes-scheduler-simulator, `pkg/simulator/plugin/`).
//!
//! | policy | plugin (the artifact's name) | file |
//! |---|---|---|
//! | Random | `RandomScore` | [`random`] |
//! | DotProd | `DotProductScore` | [`dot_product`] |
//! | GpuClustering | `GpuClusteringScore` | [`gpu_clustering`] |
//! | GpuPacking | `GpuPackingScore` | [`gpu_packing`] |
//! | BestFit | `BestFitScore` | [`best_fit`] |
//! | FGD | `FGDScore` | [`fgd`] |
//!
//! Each policy scores nodes and also chooses the GPU(s) a pod gets on the chosen node
//! ([`Policy::select_gpus`]), as the artifact's `-gpusel` does: Random takes a random GPU that
//! fits, FGD the GPU whose use increases fragmentation least, the others the best-fitting GPU.
//! The driver writes the choice to the pod's [`GPU_INDEX_ANNOTATION`](crate::gpu::GPU_INDEX_ANNOTATION)
//! when it binds the pod, and [`NodeInfo::add_pod`](crate::node_info::NodeInfo::add_pod) charges
//! those GPUs.
//!
//! Scores read the node's CPU left (allocatable − requested millicores) and its GPUs
//! ([`crate::gpu::NodeGpus`]); memory is ignored by every policy, as in the artifact.

pub mod best_fit;
pub mod dot_product;
pub mod fgd;
pub mod gpu_clustering;
pub mod gpu_packing;
pub mod random;

use std::sync::Arc;

use rand::Rng;

use crate::framework::{
    CycleState, FilterPlugin, Plugin, PreFilterPlugin, PreFilterResult, Status,
};
use crate::gpu::{GpuRequest, NodeGpus, MAX_GPUS_PER_NODE, MILLI_PER_GPU};
use crate::node_info::{NodeInfo, PodInfo};
use crate::plugins::node_resources_fit::{NodeResourcesFit, NodeResourcesFitArgs};
use crate::profile::{Profile, WeightedPlugin};

pub use fgd::{TargetPod, TargetWorkload};

/// The filter's name (`OpenGpuSharePluginName`, pkg/type/const.go).
pub const NAME: &str = "Open-Gpu-Share";
/// Rejection: the node has no GPU.
pub const ERR_REASON_NO_GPU: &str = "node(s) had no GPU";
/// Rejection: the node's GPU model is not one the pod accepts.
pub const ERR_REASON_MODEL: &str = "node(s) didn't match the requested GPU model";
/// Rejection: not enough GPUs with enough free.
pub const ERR_REASON_INSUFFICIENT: &str = "Insufficient free GPU";

/// The largest CPU of a node in the scoring formulas, in millicores (`MaxSpecCpu`,
/// pkg/type/open-gpu-share/utils/const.go).
pub const MAX_SPEC_CPU: i64 = 128_000;
/// The most milli-GPUs of a node in the scoring formulas (`MaxSpecGpu`).
pub const MAX_SPEC_GPU: i64 = (MAX_GPUS_PER_NODE * MILLI_PER_GPU) as i64;

/// The millicores of CPU left on a node (allocatable − requested).
pub fn cpu_left(node: &NodeInfo) -> i64 {
    node.allocatable.milli_cpu - node.requested.milli_cpu
}

/// The millicores of CPU a pod requests.
pub fn cpu_request(pod: &PodInfo) -> i64 {
    pod.requests.milli_cpu
}

/// The `Open-Gpu-Share` filter (`pkg/simulator/plugin/open_gpu_share.go`, Filter): a pod that
/// asks for GPUs passes a node that has GPUs of an accepted model and enough of them with the
/// requested share free. Pods without a GPU request pass every node.
#[derive(Clone, Copy, Debug, Default)]
pub struct OpenGpuShare;

impl Plugin for OpenGpuShare {
    fn name(&self) -> &'static str {
        NAME
    }
    /// Not node-local in the score cache's sense: the accepted models come from an annotation,
    /// which the cache's key (the pod's spec) does not cover.
    fn is_node_local(&self) -> bool {
        false
    }
    fn as_pre_filter(&self) -> Option<&dyn PreFilterPlugin> {
        Some(self)
    }
    fn as_filter(&self) -> Option<&dyn FilterPlugin> {
        Some(self)
    }
}

impl PreFilterPlugin for OpenGpuShare {
    /// Skips pods without a GPU request; for the others, narrows the nodes to those whose GPUs
    /// can take the request (one pass over the snapshot's compact GPU state, so the framework
    /// filters and records nothing for the rest), or rejects the pod when there is none.
    fn pre_filter(
        &self,
        _state: &mut CycleState,
        pod: &PodInfo,
        snapshot: &crate::snapshot::Snapshot,
    ) -> (PreFilterResult, Status) {
        let Some(req) = &pod.gpu else {
            return (PreFilterResult::default(), Status::skip());
        };
        let nodes: Vec<usize> = snapshot
            .nodes
            .iter()
            .enumerate()
            .filter(|(_, n)| n.gpus.fits(req))
            .map(|(i, _)| i)
            .collect();
        if nodes.is_empty() {
            return (
                PreFilterResult::default(),
                Status::unschedulable(ERR_REASON_INSUFFICIENT),
            );
        }
        (PreFilterResult { nodes: Some(nodes) }, Status::success())
    }
}

impl FilterPlugin for OpenGpuShare {
    fn filter(&self, _state: &CycleState, pod: &PodInfo, node: &NodeInfo) -> Status {
        let Some(req) = &pod.gpu else {
            return Status::success();
        };
        let gpus = &node.gpus;
        if gpus.count() == 0 {
            return Status::unresolvable(ERR_REASON_NO_GPU);
        }
        if !req.accepts_model(gpus.model()) {
            return Status::unresolvable(ERR_REASON_MODEL);
        }
        if gpus.fitting(req.milli) < req.count as usize {
            return Status::unschedulable(ERR_REASON_INSUFFICIENT);
        }
        Status::success()
    }
}

/// The six policies of the paper's Fig. 9, in its order.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Policy {
    /// A random feasible node; a random fitting GPU.
    Random,
    /// Least dot product of node and pod resource vectors (the artifact's sign).
    DotProduct,
    /// Nodes that already hold pods of the same GPU shape.
    GpuClustering,
    /// Partially used GPUs first, then used nodes, then free nodes.
    GpuPacking,
    /// The node left with the least CPU and GPU.
    BestFit,
    /// Fragmentation gradient descent.
    Fgd,
}

impl Policy {
    /// All six, in the paper's order.
    pub const ALL: [Policy; 6] = [
        Policy::Random,
        Policy::DotProduct,
        Policy::GpuClustering,
        Policy::GpuPacking,
        Policy::BestFit,
        Policy::Fgd,
    ];

    /// The name in the paper's figures (`DotProd`, `FGD` …).
    pub fn label(self) -> &'static str {
        match self {
            Policy::Random => "Random",
            Policy::DotProduct => "DotProd",
            Policy::GpuClustering => "GpuClustering",
            Policy::GpuPacking => "GpuPacking",
            Policy::BestFit => "BestFit",
            Policy::Fgd => "FGD",
        }
    }

    /// The policy named by its label or its plugin name (case-insensitive).
    pub fn from_name(name: &str) -> Option<Policy> {
        Policy::ALL.into_iter().find(|p| {
            p.label().eq_ignore_ascii_case(name) || p.plugin_name().eq_ignore_ascii_case(name)
        })
    }

    /// The score plugin's name.
    pub fn plugin_name(self) -> &'static str {
        match self {
            Policy::Random => random::NAME,
            Policy::DotProduct => dot_product::NAME,
            Policy::GpuClustering => gpu_clustering::NAME,
            Policy::GpuPacking => gpu_packing::NAME,
            Policy::BestFit => best_fit::NAME,
            Policy::Fgd => fgd::NAME,
        }
    }

    /// The score plugin; FGD measures fragmentation against `target`, Random draws with
    /// `seed`.
    pub fn score_plugin(self, target: &Arc<TargetWorkload>, seed: u64) -> Arc<dyn Plugin> {
        match self {
            Policy::Random => Arc::new(random::RandomScore::new(seed)),
            Policy::DotProduct => Arc::new(dot_product::DotProductScore),
            Policy::GpuClustering => Arc::new(gpu_clustering::GpuClusteringScore),
            Policy::GpuPacking => Arc::new(gpu_packing::GpuPackingScore),
            Policy::BestFit => Arc::new(best_fit::BestFitScore),
            Policy::Fgd => Arc::new(fgd::FgdScore::new(target.clone())),
        }
    }

    /// The GPUs `pod` gets on `node` under this policy (the artifact's `-gpusel`: `random` for
    /// Random, FGD's own choice for FGD, `best` otherwise); `None` when it does not fit.
    /// `rng` is drawn from only by Random, for shares.
    pub fn select_gpus(
        self,
        target: &TargetWorkload,
        pod: &PodInfo,
        node: &NodeInfo,
        rng: &mut impl Rng,
    ) -> Option<Vec<u32>> {
        let req = pod.gpu.as_deref()?;
        let gpus = &node.gpus;
        if !gpus.fits(req) {
            return None;
        }
        match self {
            Policy::Random if req.is_share() => random_fit(gpus, req, rng),
            Policy::Fgd if req.is_share() => {
                fgd::best_share_gpu(target, cpu_left(node), cpu_request(pod), gpus, req)
                    .map(|(gpu, _)| vec![gpu])
            }
            _ => gpus.best_fit(req),
        }
    }
}

/// A uniformly random GPU among those where a share fits (`allocateGpuIdBasedOnRandomFit`:
/// reservoir sampling in index order).
fn random_fit(gpus: &NodeGpus, req: &GpuRequest, rng: &mut impl Rng) -> Option<Vec<u32>> {
    let mut chosen = None;
    let mut seen = 0u32;
    for (i, &f) in gpus.free.iter().enumerate() {
        if f >= req.milli {
            seen += 1;
            if rng.random_range(0..seen) == 0 {
                chosen = Some(i as u32);
            }
        }
    }
    chosen.map(|g| vec![g])
}

/// The profile of the paper's experiments: NodeResourcesFit (CPU, memory, pod count and the
/// extended resources' totals) and `Open-Gpu-Share` as filters, the policy's score plugin alone
/// at weight 1000, every node scored (`percentageOfNodesToScore: 100`), as the artifact's
/// scheduler configuration has it (`scripts/generate_config_and_run.py`). The other default
/// filters are left out: the trace's pods use none of what they check (a `gpu_spec` is checked
/// by `Open-Gpu-Share`). `seed` is Random's.
pub fn profile(policy: Policy, target: &Arc<TargetWorkload>, seed: u64) -> Profile {
    let fit: Arc<dyn Plugin> = Arc::new(
        NodeResourcesFit::new(NodeResourcesFitArgs::default())
            .expect("the default NodeResourcesFit args are valid"),
    );
    let gpu: Arc<dyn Plugin> = Arc::new(OpenGpuShare);
    let score = policy.score_plugin(target, seed);
    Profile {
        scheduler_name: format!("gpu-{}", policy.label().to_ascii_lowercase()),
        pre_filter: vec![fit.clone(), gpu.clone()],
        filter: vec![fit, gpu],
        pre_score: vec![score.clone()],
        score: vec![WeightedPlugin {
            plugin: score,
            weight: 1000,
        }],
        percentage_of_nodes_to_score: Some(100),
        ..Profile::default()
    }
}
