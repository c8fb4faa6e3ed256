//! DotProd (`pkg/simulator/plugin/dot_product_score.go` with the artifact's `-dimext merge
//! -norm max`): the node's free resources and the pod's request as vectors of (CPU, GPU), each
//! divided by the largest node's ([`MAX_SPEC_CPU`], [`MAX_SPEC_GPU`]); the score is
//! `⌊100 · (1 − node·pod / 2)⌋`. Note the sign, kept from the artifact: the *smallest* dot
//! product scores highest (Tetris maximises it). A node with less CPU left than the pod asks
//! scores 0. Shares go to the best-fitting GPU (`-gpusel best`).

use super::{cpu_left, cpu_request, MAX_SPEC_CPU, MAX_SPEC_GPU};
use crate::framework::{CycleState, Plugin, ScorePlugin, Status, MAX_NODE_SCORE, MIN_NODE_SCORE};
use crate::node_info::{NodeInfo, PodInfo};

/// The plugin's name (`DotProductScorePluginName`).
pub const NAME: &str = "DotProductScore";

/// The DotProd policy's score plugin. It has no args.
#[derive(Clone, Copy, Debug, Default)]
pub struct DotProductScore;

/// The score of a node with `cpu_left` millicores and `gpu_left` milli-GPUs free for a pod
/// asking `cpu` millicores and `gpu` milli-GPUs in all.
pub fn dot_product_score(cpu_left: i64, gpu_left: i64, cpu: i64, gpu: i64) -> i64 {
    if cpu_left < cpu {
        return MIN_NODE_SCORE;
    }
    let node = [
        cpu_left as f64 / MAX_SPEC_CPU as f64,
        gpu_left as f64 / MAX_SPEC_GPU as f64,
    ];
    let pod = [
        cpu as f64 / MAX_SPEC_CPU as f64,
        gpu as f64 / MAX_SPEC_GPU as f64,
    ];
    let dot = (node[0] * pod[0] + node[1] * pod[1]) / 2.0;
    (MAX_NODE_SCORE as f64 * (1.0 - dot)) as i64
}

impl Plugin for DotProductScore {
    fn name(&self) -> &'static str {
        NAME
    }
    fn is_node_local(&self) -> bool {
        true
    }
    fn as_score(&self) -> Option<&dyn ScorePlugin> {
        Some(self)
    }
}

impl ScorePlugin for DotProductScore {
    fn has_score_extensions(&self) -> bool {
        // Its scores are final (no NormalizeScore).
        false
    }

    fn score(&self, _state: &CycleState, pod: &PodInfo, node: &NodeInfo) -> Result<i64, Status> {
        let gpu = pod.gpu.as_ref().map_or(0, |g| g.total_milli() as i64);
        Ok(dot_product_score(
            cpu_left(node),
            node.gpus.free_total() as i64,
            cpu_request(pod),
            gpu,
        ))
    }
}
