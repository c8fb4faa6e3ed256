//! GpuClustering (`pkg/simulator/plugin/gpu_clustering_score.go`): pods of the same GPU shape
//! (a share, or k whole GPUs) are kept together. For a GPU pod the score is
//! `⌊25 · (8000 − free milli-GPUs) / 8000⌋` plus 75 when the node holds only pods of the pod's
//! shape, 50 when it holds that shape among others, 25 when it holds no GPU pod, 0 otherwise.
//! Pods without GPUs score 0 everywhere. Shares go to the best-fitting GPU.

use super::MAX_SPEC_GPU;
use crate::framework::{CycleState, Plugin, ScorePlugin, Status, MAX_NODE_SCORE, MIN_NODE_SCORE};
use crate::gpu::NodeGpus;
use crate::node_info::{NodeInfo, PodInfo};

/// The plugin's name (`GpuClusteringScorePluginName`).
pub const NAME: &str = "GpuClusteringScore";

/// The GpuClustering policy's score plugin. It has no args.
#[derive(Clone, Copy, Debug, Default)]
pub struct GpuClusteringScore;

/// The score of `gpus` for a pod with GpuClustering tag `tag`
/// ([`GpuRequest::tag`](crate::gpu::GpuRequest::tag)).
pub fn clustering_score(gpus: &NodeGpus, tag: usize) -> i64 {
    let used = MAX_SPEC_GPU - gpus.free_total() as i64;
    let base = MAX_NODE_SCORE / 4 * used / MAX_SPEC_GPU;
    let kinds = gpus.tags.iter().filter(|&&n| n > 0).count();
    let bonus = if gpus.tags[tag] > 0 {
        if kinds == 1 {
            MAX_NODE_SCORE * 3 / 4
        } else {
            MAX_NODE_SCORE * 2 / 4
        }
    } else if kinds == 0 {
        MAX_NODE_SCORE / 4
    } else {
        0
    };
    base + bonus
}

impl Plugin for GpuClusteringScore {
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

impl ScorePlugin for GpuClusteringScore {
    fn has_score_extensions(&self) -> bool {
        // Its scores are final (no NormalizeScore).
        false
    }

    fn score(&self, _state: &CycleState, pod: &PodInfo, node: &NodeInfo) -> Result<i64, Status> {
        Ok(match &pod.gpu {
            Some(req) => clustering_score(&node.gpus, req.tag()),
            None => MIN_NODE_SCORE,
        })
    }
}
