//! Adding a scheduler plugin and comparing it with kube-scheduler's default profile on the
//! Alibaba GPU trace sample: `GpuBinPack`, a Score plugin that packs GPU pods onto the GPUs
//! already in use and keeps CPU-only pods off GPU nodes, registered next to the in-tree plugins
//! ([`Simulation::with_registry`]) and enabled through a KubeSchedulerConfiguration.
//!
//! ```sh
//! cargo run --release -p flotilla-examples --example plugin_on_trace            # seeds 1..10
//! cargo run --release -p flotilla-examples --example plugin_on_trace -- --quick # seeds 1..3
//! ```
//!
//! The workload is the committed sample (`sim/tests/testdata/traces/alibaba-gpu-v2023`: 61
//! nodes with 226 GPUs, 300 pods asking for about 237 GPUs' worth), replayed as the trace's
//! `multigpu` variants are: every pod arrives at the start and runs to the end. The cluster is
//! over-subscribed, so where the first pods go decides how many of the last ones fit. Both
//! configurations enable the in-tree `Open-Gpu-Share` filter, so that a GPU share is placed on
//! one device and whole GPUs are counted device by device. Each seed
//! runs under both configurations (the same seed, so the same random numbers: the comparison is
//! paired), and the table gives each metric's mean, its 95% confidence interval, and the mean
//! per-seed difference from the default profile.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::Context;
use flotilla_model::api::PodPhase;
use flotilla_model::{Kind, Object};
use flotilla_scheduler::config::Registry;
use flotilla_scheduler::framework::{CycleState, Plugin, ScorePlugin, Status, MAX_NODE_SCORE};
use flotilla_scheduler::node_info::{NodeInfo, PodInfo, Resource};
use flotilla_scheduler::plugins::default_registry;
use flotilla_sim::engine::Simulation;
use flotilla_sim::scenario::{self, Scenario};
use flotilla_sim::sweep::{metric_values, statistics, statistics_table, RunRow};

// ANCHOR: plugin
/// The name the plugin is registered and configured under.
const GPU_BIN_PACK: &str = "GpuBinPack";

/// The resource whole GPUs are requested as.
const GPU: &str = "nvidia.com/gpu";

/// Scores a node for a GPU pod by how full its GPUs would be with the pod (best fit: the
/// fullest node that still fits wins, so whole GPUs stay free for the pods that need many), and
/// for a CPU-only pod 100 on a node without GPUs, 0 on a GPU node.
struct GpuBinPack;

impl Plugin for GpuBinPack {
    fn name(&self) -> &'static str {
        GPU_BIN_PACK
    }

    fn as_score(&self) -> Option<&dyn ScorePlugin> {
        Some(self)
    }
}

impl ScorePlugin for GpuBinPack {
    // Called for every feasible node, in parallel: read only.
    fn score(&self, _state: &CycleState, pod: &PodInfo, node: &NodeInfo) -> Result<i64, Status> {
        // The node's GPUs device by device, and what the pod asks of them (whole GPUs or a
        // share of one), as the scheduler's cache keeps them.
        let capacity = node.gpus.count() as u64 * 1000;
        let wanted = pod.gpu.as_ref().map_or(0, |g| g.total_milli());
        Ok(match (wanted, capacity) {
            (0, 0) => MAX_NODE_SCORE,
            (0, _) => 0,
            // A GPU pod on a node without GPUs was filtered out already.
            (_, 0) => 0,
            (_, _) => {
                let used = (capacity - node.gpus.free_total() + wanted).min(capacity);
                MAX_NODE_SCORE * used as i64 / capacity as i64
            }
        })
    }
}

/// The in-tree plugins plus `GpuBinPack` (it has no args).
fn registry() -> Registry {
    let mut registry = default_registry();
    registry.register(GPU_BIN_PACK, |args| match args {
        serde_json::Value::Null => Ok(Arc::new(GpuBinPack) as Arc<dyn Plugin>),
        other => Err(vec![format!("{GPU_BIN_PACK} takes no args, got {other}")]),
    });
    registry
}

/// kube-scheduler's default plugins plus `GpuBinPack` with weight 5, so that its 0–100
/// outweighs the default plugins' differences (NodeResourcesFit's LeastAllocated spreads).
/// Both configurations enable the in-tree `Open-Gpu-Share` filter, which places GPU shares on
/// single devices (without it only the node's total of milli-GPUs is checked).
const CONFIG: &str = r#"
apiVersion: kubescheduler.config.k8s.io/v1
kind: KubeSchedulerConfiguration
profiles:
- schedulerName: default-scheduler
  plugins:
    multiPoint:
      enabled:
      - name: Open-Gpu-Share
      - name: GpuBinPack
        weight: 5
"#;
// ANCHOR_END: plugin

/// The default profile, with the `Open-Gpu-Share` filter.
const DEFAULT_CONFIG: &str = r#"
apiVersion: kubescheduler.config.k8s.io/v1
kind: KubeSchedulerConfiguration
profiles:
- schedulerName: default-scheduler
  plugins:
    multiPoint:
      enabled:
      - name: Open-Gpu-Share
"#;

/// The committed trace sample.
fn sample_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../sim/tests/testdata/traces/alibaba-gpu-v2023")
}

/// The scenario: the sample's nodes, and its pods with their first five columns only (the
/// `multigpu` form: all arrive at the start and run to the end), written to `dir`.
fn scenario(dir: &Path) -> anyhow::Result<Scenario> {
    let pods = std::fs::read_to_string(sample_dir().join("openb_pod_list_sample.csv"))
        .context("reading the pod list")?;
    let five: String = pods
        .lines()
        .map(|line| line.split(',').take(5).collect::<Vec<_>>().join(",") + "\n")
        .collect();
    std::fs::write(dir.join("pods.csv"), five)?;
    let nodes = sample_dir().join("openb_node_list_sample.csv");
    let text = format!(
        "apiVersion: sim.flotilla.io/v1\nkind: Scenario\nmetadata: {{name: alibaba-sample-snapshot}}\nspec:\n  duration: 10m\n  sampleInterval: 1m\n  traces:\n  - {{format: alibaba-v2023, nodes: {}, pods: pods.csv}}\n",
        nodes.display()
    );
    let file = dir.join("scenario.yaml");
    Ok(scenario::parse(&file.display().to_string(), &text)?)
}

/// CPU-only pods bound to a GPU node at the end of a run.
fn cpu_pods_on_gpu_nodes(sim: &Simulation) -> usize {
    let store = sim.cluster().store();
    let gpu_node = |name: &str| {
        matches!(store.get(Kind::Node, "", name).as_deref(),
            Some(Object::Node(n)) if n.status.allocatable.contains_key(GPU))
    };
    store
        .iter_kind(Kind::Pod)
        .filter(|o| match o.as_ref() {
            Object::Pod(p) => {
                let gpu = flotilla_scheduler::gpu::GpuRequest::from_pod(
                    p,
                    &Resource::from_list(&flotilla_model::api::pod_requests(&p.spec)),
                );
                gpu.is_none() && p.phase() == PodPhase::Running && gpu_node(&p.spec.node_name)
            }
            _ => false,
        })
        .count()
}

/// The metrics the table shows.
const METRICS: &[&str] = &[
    "pods_running_at_end",
    "pods_pending_at_end",
    "allocation_ratio_mean.nvidia.com/gpu",
    "scheduling_latency_ms.p90",
    "cpu_pods_on_gpu_nodes",
];

/// One run of `base` under `configuration` (`default` or `GpuBinPack`).
fn run(base: &Scenario, configuration: &str, seed: u64) -> anyhow::Result<RunRow> {
    let mut scenario = base.clone();
    let config = if configuration == GPU_BIN_PACK {
        CONFIG
    } else {
        DEFAULT_CONFIG
    };
    scenario.scheduler_config = Some(config.to_string());
    let mut sim = Simulation::with_registry(scenario, seed, &registry())?;
    sim.run();
    anyhow::ensure!(sim.apply_errors().is_empty(), "{:?}", sim.apply_errors());
    let summary = sim.summary(0.0);
    let mut values: Vec<(String, f64)> = metric_values(&summary)
        .into_iter()
        .filter(|(name, _)| METRICS.contains(&name.as_str()))
        .collect();
    values.push((
        "cpu_pods_on_gpu_nodes".into(),
        cpu_pods_on_gpu_nodes(&sim) as f64,
    ));
    Ok(RunRow {
        configuration: configuration.to_string(),
        seed,
        digest: summary.event_log_digest.clone(),
        values,
    })
}

/// Runs every seed under both configurations, in (configuration, seed) order.
fn compare(seeds: std::ops::RangeInclusive<u64>) -> anyhow::Result<Vec<RunRow>> {
    let dir = std::env::temp_dir().join(format!("flotilla-plugin-on-trace-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let result = (|| {
        let base = scenario(&dir)?;
        let mut rows = Vec::new();
        for configuration in ["default", GPU_BIN_PACK] {
            for seed in seeds.clone() {
                rows.push(run(&base, configuration, seed)?);
            }
        }
        Ok(rows)
    })();
    std::fs::remove_dir_all(&dir)?;
    result
}

fn main() -> anyhow::Result<()> {
    let quick = std::env::args().any(|a| a == "--quick");
    let seeds = if quick { 1..=3 } else { 1..=10 };
    println!(
        "Alibaba GPU v2023 sample, all pods at the start; seeds {}..{}\n",
        seeds.start(),
        seeds.end()
    );
    let rows = compare(seeds)?;
    print!("{}", statistics_table(&statistics(&rows)));
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn value(row: &RunRow, metric: &str) -> f64 {
        row.values
            .iter()
            .find(|(m, _)| m == metric)
            .map(|(_, v)| *v)
            .unwrap_or(f64::NAN)
    }

    #[test]
    fn the_plugin_keeps_cpu_pods_off_gpu_nodes() {
        let rows = compare(1..=1).unwrap();
        let (default, packed) = (&rows[0], &rows[1]);
        assert_eq!(packed.configuration, GPU_BIN_PACK);
        // The default profile spreads CPU-only pods over every node; GpuBinPack keeps them on
        // the ten CPU nodes, which have room for all of them.
        assert!(value(default, "cpu_pods_on_gpu_nodes") > 0.0, "{default:?}");
        assert_eq!(value(packed, "cpu_pods_on_gpu_nodes"), 0.0, "{packed:?}");
        // Both place pods until the GPUs run out: every pod runs or waits.
        for row in [default, packed] {
            let running = value(row, "pods_running_at_end");
            assert!(running > 250.0, "{row:?}");
            assert_eq!(
                running + value(row, "pods_pending_at_end"),
                300.0,
                "{row:?}"
            );
        }
    }

    #[test]
    fn the_plugin_is_registered_and_rejects_args() {
        let registry = registry();
        let bad = format!("{CONFIG}  pluginConfig:\n  - name: GpuBinPack\n    args: {{x: 1}}\n");
        let e = flotilla_scheduler::config::SchedulerConfig::from_yaml(&bad, &registry)
            .unwrap_err()
            .to_string();
        assert!(e.contains("takes no args"), "{e}");
        flotilla_scheduler::config::SchedulerConfig::from_yaml(CONFIG, &registry).unwrap();
    }
}
