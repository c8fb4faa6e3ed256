//! Random (`pkg/simulator/plugin/random_score.go`): PreScore draws one feasible node uniformly
//! and Score gives it the maximum score, every other node 0. The draw is a pure function of the
//! plugin's `seed` and the pod (`component_rng(seed, "RandomScore/<namespace>/<name>")`), so a
//! decision depends only on the inputs, as everything in this crate. A share goes to a random
//! GPU where it fits ([`Policy::select_gpus`](super::Policy::select_gpus)).

use rand::Rng;
use serde::{Deserialize, Serialize};

use crate::framework::{
    CycleState, Plugin, PreScorePlugin, ScorePlugin, Status, MAX_NODE_SCORE, MIN_NODE_SCORE,
};
use crate::node_info::{NodeInfo, PodInfo};
use crate::snapshot::Snapshot;

/// The plugin's name (`RandomScorePluginName`).
pub const NAME: &str = "RandomScore";

/// RandomScore's args.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RandomScoreArgs {
    /// The seed of the draws.
    #[serde(default)]
    pub seed: u64,
}

/// The Random policy's score plugin.
#[derive(Clone, Copy, Debug, Default)]
pub struct RandomScore {
    seed: u64,
}

/// The node PreScore drew: the address of its `Node` (compared instead of the name on every
/// node scored; the snapshot holds the node for the whole cycle, so the address is its own).
#[derive(Clone, Debug)]
struct Chosen(usize);

impl RandomScore {
    /// The plugin, drawing with `seed`.
    pub fn new(seed: u64) -> RandomScore {
        RandomScore { seed }
    }
}

impl Plugin for RandomScore {
    fn name(&self) -> &'static str {
        NAME
    }
    fn as_pre_score(&self) -> Option<&dyn PreScorePlugin> {
        Some(self)
    }
    fn as_score(&self) -> Option<&dyn ScorePlugin> {
        Some(self)
    }
}

impl PreScorePlugin for RandomScore {
    fn pre_score(
        &self,
        state: &mut CycleState,
        pod: &PodInfo,
        snapshot: &Snapshot,
        feasible: &[usize],
    ) -> Status {
        if feasible.is_empty() {
            return Status::skip();
        }
        let mut rng =
            flotilla_model::rng::component_rng(self.seed, &format!("{NAME}/{}", pod.key()));
        let node = feasible[rng.random_range(0..feasible.len())];
        state.write(
            NAME,
            Chosen(std::sync::Arc::as_ptr(&snapshot.nodes[node].node) as usize),
        );
        Status::success()
    }
}

impl ScorePlugin for RandomScore {
    fn has_score_extensions(&self) -> bool {
        // Its scores are final (no NormalizeScore).
        false
    }

    fn score(&self, state: &CycleState, _pod: &PodInfo, node: &NodeInfo) -> Result<i64, Status> {
        let Some(&Chosen(chosen)) = state.read::<Chosen>(NAME) else {
            return Err(Status::error("RandomScore: PreScore did not run"));
        };
        Ok(if std::sync::Arc::as_ptr(&node.node) as usize == chosen {
            MAX_NODE_SCORE
        } else {
            MIN_NODE_SCORE
        })
    }
}
