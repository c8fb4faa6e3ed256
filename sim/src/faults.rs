//! Fault injection: node crashes and recoveries, failures by MTBF/MTTR, zone outages, network
//! partitions and kubelet restarts (`spec.faults` of a scenario).
//!
//! Two things can happen to a node, and the [engine](crate::engine) keeps count of each per
//! node, so faults may overlap (a partition during a zone outage, a crash of a node that is
//! already down):
//!
//! - **down** (a crash, a zone outage, a failure drawn from MTBF): the node's containers die
//!   (the [runtime model](crate::runtime_model) forgets them, and runtime events in flight are
//!   dropped) and its kubelet goes silent
//!   ([`ClusterInput::NodeSilent`](flotilla_controllers::cluster::ClusterInput::NodeSilent)).
//!   When it comes back, the kubelet first learns what a rebooted node shows (every container
//!   it had exited with code 255, sandboxes being created failed, pulls in flight failed,
//!   sandboxes being removed are gone), then talks again
//!   ([`ClusterInput::NodeRecovered`](flotilla_controllers::cluster::ClusterInput::NodeRecovered));
//! - **cut off** (a partition, a kubelet restart): the kubelet stops posting status but the
//!   containers keep running and runtime events still reach it; when the partition heals it
//!   reports what happened meanwhile.
//!
//! A silent node is noticed by the node lifecycle controller after its grace period (50 s),
//! tainted `unreachable:NoExecute` (rate-limited per zone: 0.1 node per second), and its pods,
//! which tolerate that taint for 300 s by default, are evicted 300 s after the taint.
//!
//! Failures by MTBF/MTTR are a superposition of one exponential clock per node, simulated by
//! thinning: candidate failures of the pool arrive at rate `nodes / mtbf` from the pool's
//! stream (`faults/nodeFailures/<pool>`), each picks a node uniformly, and a pick that is
//! already down is dropped; a failed node comes back after an exponential time of mean `mttr`
//! from the same stream. Since exponential times have no memory, this is the same as every node
//! alternating exponential up times (mean `mtbf`) and down times (mean `mttr`), and the draws
//! happen in time order, so a longer run repeats a shorter one's failures.

use flotilla_model::Duration;
use rand::Rng;
use rand_chacha::ChaCha8Rng;

/// What a fault does to its nodes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FaultEffect {
    /// The node goes down: containers die, the kubelet is silent; it reboots on recovery.
    Crash,
    /// The kubelet is cut off from the control plane; containers keep running.
    Silence,
}

/// Which nodes a fault hits.
#[derive(Clone, Debug, PartialEq)]
pub enum Target {
    /// These nodes.
    Nodes(Vec<String>),
    /// `count` nodes drawn at the start of the run from `from` (a pool's or a zone's nodes),
    /// with the fault's own stream (`faults/<index>`), so another seed picks other nodes.
    Sample {
        /// The candidates, in node order.
        from: Vec<String>,
        /// How many.
        count: usize,
    },
}

impl Target {
    /// The nodes hit, in the order of the candidates.
    pub fn resolve(&self, rng: &mut ChaCha8Rng) -> Vec<String> {
        match self {
            Target::Nodes(nodes) => nodes.clone(),
            Target::Sample { from, count } => {
                // A partial Fisher–Yates shuffle, then back to node order.
                let mut idx: Vec<usize> = (0..from.len()).collect();
                let count = (*count).min(from.len());
                for i in 0..count {
                    let j = rng.random_range(i..idx.len());
                    idx.swap(i, j);
                }
                let mut chosen: Vec<usize> = idx[..count].to_vec();
                chosen.sort_unstable();
                chosen.into_iter().map(|i| from[i].clone()).collect()
            }
        }
    }
}

/// One scheduled fault, checked (`nodeCrash`, `zoneOutage`, `partition`, `kubeletRestart`).
#[derive(Clone, Debug, PartialEq)]
pub struct Fault {
    /// The kind as the scenario names it (`nodeCrash`, `zoneOutage`, …), for logs.
    pub kind: &'static str,
    /// What it does.
    pub effect: FaultEffect,
    /// Which nodes.
    pub target: Target,
    /// When it starts (since the start of the run).
    pub at: Duration,
    /// How long it lasts; `None`: the nodes never come back.
    pub duration: Option<Duration>,
}

/// Failures of a pool's nodes by mean time between failures and mean time to repair
/// (`nodeFailures`), checked.
#[derive(Clone, Debug, PartialEq)]
pub struct NodeFailures {
    /// The pool's name (it names the random stream).
    pub pool: String,
    /// The pool's nodes, in order.
    pub nodes: Vec<String>,
    /// Mean time between failures of one node.
    pub mtbf: Duration,
    /// Mean time to repair.
    pub mttr: Duration,
}

impl NodeFailures {
    /// The random stream's component name.
    pub fn stream_name(&self) -> String {
        format!("faults/nodeFailures/{}", self.pool)
    }
}

/// A fault happening to a node, as the engine logs it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FaultRecord {
    /// When, since the start of the run.
    pub at: Duration,
    /// The node.
    pub node: String,
    /// What happened.
    pub what: FaultEvent,
}

/// What happened to a node.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FaultEvent {
    /// It went down (crash, zone outage, MTBF failure).
    Down,
    /// It came back up (rebooted).
    Up,
    /// It was cut off (partition, kubelet restart).
    CutOff,
    /// It was reconnected.
    Reconnected,
}

/// An exponential time of mean `mean`: `-ln(1 - U) × mean`.
pub fn exponential(rng: &mut ChaCha8Rng, mean: Duration) -> Duration {
    let u: f64 = rng.random::<f64>();
    let nanos = -(1.0 - u).ln() * mean.as_nanos() as f64;
    Duration::from_nanos(nanos.min(u64::MAX as f64 / 4.0) as u64)
}

/// Per node, how many faults hold it down or cut off, and its boot generation (bumped at each
/// crash, so runtime events from before the crash can be told apart and dropped).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct NodeHealth {
    /// Crashes holding the node down.
    pub down: u32,
    /// Partitions and kubelet restarts cutting it off.
    pub cut_off: u32,
    /// Boots so far.
    pub generation: u64,
}

impl NodeHealth {
    /// Whether the kubelet is silent.
    pub fn silent(&self) -> bool {
        self.down > 0 || self.cut_off > 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use flotilla_model::rng::component_rng;

    #[test]
    fn a_sample_is_seeded_and_in_node_order() {
        let from: Vec<String> = (0..10).map(|i| format!("n-{i}")).collect();
        let t = Target::Sample { from, count: 3 };
        let a = t.resolve(&mut component_rng(1, "faults/0"));
        let b = t.resolve(&mut component_rng(1, "faults/0"));
        assert_eq!(a, b);
        assert_eq!(a.len(), 3);
        let mut sorted = a.clone();
        sorted.sort_by_key(|n| n[2..].parse::<u32>().expect("number"));
        assert_eq!(a, sorted);
    }
}
