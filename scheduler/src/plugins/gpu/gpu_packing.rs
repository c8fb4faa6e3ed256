//! GpuPacking (`pkg/simulator/plugin/gpu_packing_score.go`, `getPackingScore`), from high to
//! low:
//!
//! 1. the pod fits on partially used GPUs (taken in increasing order of free share):
//!    `max(100 − ⌊Σ ⌊free·100/1000⌋ / 10⌋, 50)` over the GPUs it would use;
//! 2. it needs entirely free GPUs of a node already in use: `max(50 − free GPUs used, 33)`;
//! 3. every GPU of the node is free: `max(33 − free GPUs, free GPUs)`.
//!
//! Pods without GPUs score 0 everywhere. Shares go to the best-fitting GPU.

use crate::framework::{CycleState, Plugin, ScorePlugin, Status, MAX_NODE_SCORE, MIN_NODE_SCORE};
use crate::gpu::{GpuRequest, NodeGpus, MILLI_PER_GPU};
use crate::node_info::{NodeInfo, PodInfo};

/// The plugin's name (`GpuPackingScorePluginName`).
pub const NAME: &str = "GpuPackingScore";

/// The GpuPacking policy's score plugin. It has no args.
#[derive(Clone, Copy, Debug, Default)]
pub struct GpuPackingScore;

/// The score of `gpus` for `req`; `None` when the pod does not fit.
pub fn packing_score(gpus: &NodeGpus, req: &GpuRequest) -> Option<i64> {
    let fully_free = gpus.fully_free() as i64;
    if fully_free == gpus.count() as i64 {
        return Some((MAX_NODE_SCORE / 3 - fully_free).max(fully_free));
    }
    // GPUs by increasing free share, stable (`SortedMilliGpuLeftIndexList(true)`).
    let mut order: Vec<usize> = (0..gpus.count()).collect();
    order.sort_by_key(|&i| gpus.free[i]);
    let mut wanted = req.count;
    let mut free_used = 0i64;
    let mut share_sum = 0i64;
    for i in order {
        if wanted == 0 {
            break;
        }
        let f = gpus.free[i];
        if req.milli <= f {
            wanted -= 1;
            share_sum += i64::from(f) * 100 / i64::from(MILLI_PER_GPU);
            if f == MILLI_PER_GPU {
                free_used += 1;
            }
        }
    }
    if wanted != 0 {
        return None;
    }
    if free_used > 0 {
        return Some((MAX_NODE_SCORE / 2 - free_used).max(MAX_NODE_SCORE / 3));
    }
    Some((MAX_NODE_SCORE - share_sum / 10).max(MAX_NODE_SCORE / 2))
}

impl Plugin for GpuPackingScore {
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

impl ScorePlugin for GpuPackingScore {
    fn has_score_extensions(&self) -> bool {
        // Its scores are final (no NormalizeScore).
        false
    }

    fn score(&self, _state: &CycleState, pod: &PodInfo, node: &NodeInfo) -> Result<i64, Status> {
        Ok(match &pod.gpu {
            Some(req) => packing_score(&node.gpus, req).unwrap_or(MIN_NODE_SCORE),
            None => MIN_NODE_SCORE,
        })
    }
}
