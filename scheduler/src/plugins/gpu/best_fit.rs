//! BestFit (`pkg/simulator/plugin/best_fit_score.go`): the node that would be left with the
//! least, `⌊100 · (1 − [½·(CPU left − request)/128000 + ½·(GPU left − request)/8000])⌋`, then
//! min-max normalised over the scored nodes with integer arithmetic
//! (`plugin_utils.go:NormalizeScore`: all 0 when every node scores the same). Shares go to the
//! best-fitting GPU.

use super::{cpu_left, cpu_request, MAX_SPEC_CPU, MAX_SPEC_GPU};
use crate::framework::{
    CycleState, NodeScore, Plugin, ScorePlugin, Status, MAX_NODE_SCORE, MIN_NODE_SCORE,
};
use crate::node_info::{NodeInfo, PodInfo};

/// The plugin's name (`BestFitScorePluginName`).
pub const NAME: &str = "BestFitScore";

/// The BestFit policy's score plugin. It has no args.
#[derive(Clone, Copy, Debug, Default)]
pub struct BestFitScore;

/// The raw score of a node with `cpu_left` millicores and `gpu_left` milli-GPUs free for a pod
/// asking `cpu` and `gpu`; `None` when either does not fit.
pub fn best_fit_raw(cpu_left: i64, gpu_left: i64, cpu: i64, gpu: i64) -> Option<i64> {
    if cpu_left < cpu || gpu_left < gpu {
        return None;
    }
    let left = (cpu_left - cpu) as f64 / MAX_SPEC_CPU as f64 * 0.5
        + (gpu_left - gpu) as f64 / MAX_SPEC_GPU as f64 * 0.5;
    Some(((1.0 - left) * MAX_NODE_SCORE as f64) as i64)
}

/// Min-max normalisation to 0..=100 (`NormalizeScore`).
pub fn normalize_min_max(scores: &mut [NodeScore]) {
    let highest = scores.iter().map(|s| s.score).max().unwrap_or(0);
    let lowest = scores.iter().map(|s| s.score).min().unwrap_or(0);
    let range = highest - lowest;
    for s in scores {
        s.score = if range == 0 {
            MIN_NODE_SCORE
        } else {
            (s.score - lowest) * (MAX_NODE_SCORE - MIN_NODE_SCORE) / range + MIN_NODE_SCORE
        };
    }
}

impl Plugin for BestFitScore {
    fn name(&self) -> &'static str {
        NAME
    }
    /// The raw score is node-local; the normalisation runs on every cycle.
    fn is_node_local(&self) -> bool {
        true
    }
    fn as_score(&self) -> Option<&dyn ScorePlugin> {
        Some(self)
    }
}

impl ScorePlugin for BestFitScore {
    fn score(&self, _state: &CycleState, pod: &PodInfo, node: &NodeInfo) -> Result<i64, Status> {
        let gpu = pod.gpu.as_ref().map_or(0, |g| g.total_milli() as i64);
        best_fit_raw(
            cpu_left(node),
            node.gpus.free_total() as i64,
            cpu_request(pod),
            gpu,
        )
        .ok_or_else(|| Status::error("the pod does not fit the node's free CPU or GPU"))
    }

    fn normalize_scores(
        &self,
        _state: &CycleState,
        _pod: &PodInfo,
        scores: &mut [NodeScore],
    ) -> Status {
        normalize_min_max(scores);
        Status::success()
    }
}
