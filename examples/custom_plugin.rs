//! Writing a scheduler plugin: `PreferLabel`, a Score plugin that prefers nodes carrying a label
//! given in its args, registered next to the in-tree plugins and enabled through a
//! KubeSchedulerConfiguration — the same way kube-scheduler's out-of-tree plugins are built into
//! a custom scheduler binary.
//!
//! ```sh
//! cargo run -p flotilla-examples --example custom_plugin
//! ```
//!
//! The example explains one pod's placement on four nodes twice, with kube-scheduler's default
//! profile and with `PreferLabel` enabled, and prints every plugin's score per node: the default
//! profile spreads the pod to the emptiest node, `PreferLabel` pulls it to the SSD node.

use std::sync::Arc;

use anyhow::Context;
use flotilla_model::api::{Node, Pod};
use flotilla_model::rng::component_rng;
use flotilla_scheduler::config::{Registry, SchedulerConfig, DEFAULT_SCHEDULER_NAME};
use flotilla_scheduler::framework::{CycleState, Plugin, ScorePlugin, Status, MAX_NODE_SCORE};
use flotilla_scheduler::node_info::{NodeInfo, PodInfo};
use flotilla_scheduler::plugins::default_registry;
use flotilla_scheduler::schedule::{explain, Explanation};
use flotilla_scheduler::snapshot::Snapshot;
use serde::Deserialize;
use serde_json::json;

// ANCHOR: plugin
/// The name the plugin is registered and configured under.
const PREFER_LABEL: &str = "PreferLabel";

/// `PreferLabel`'s args, from the `pluginConfig` entry of a KubeSchedulerConfiguration. As for
/// kube-scheduler's own args: camelCase fields, and every field has a default.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
struct PreferLabelArgs {
    /// The node label to look for.
    label_key: String,
    /// The value it must have; any value when empty.
    label_value: String,
}

/// Scores 100 the nodes that have the label (with the value, if one is given), 0 the others.
struct PreferLabel {
    args: PreferLabelArgs,
}

impl PreferLabel {
    /// Validates the args as a kube-scheduler plugin's constructor does; errors name the field.
    fn new(args: PreferLabelArgs) -> Result<PreferLabel, Vec<String>> {
        if args.label_key.is_empty() {
            return Err(vec!["labelKey: Required value".to_string()]);
        }
        Ok(PreferLabel { args })
    }
}

impl Plugin for PreferLabel {
    fn name(&self) -> &'static str {
        PREFER_LABEL
    }

    // The extension points the plugin takes part in: Score only.
    fn as_score(&self) -> Option<&dyn ScorePlugin> {
        Some(self)
    }
}

impl ScorePlugin for PreferLabel {
    // Called for every feasible node, in parallel: read only, no allocation.
    fn score(&self, _state: &CycleState, _pod: &PodInfo, node: &NodeInfo) -> Result<i64, Status> {
        let labels = &node.node.metadata.labels;
        let matches = labels.get(&self.args.label_key).is_some_and(|value| {
            self.args.label_value.is_empty() || *value == self.args.label_value
        });
        Ok(if matches { MAX_NODE_SCORE } else { 0 })
    }
    // Scores are already in 0..=100, so the default `normalize_scores` (keep them) is right.
}

/// The in-tree plugins plus `PreferLabel`.
fn registry() -> Registry {
    let mut registry = default_registry();
    registry.register(PREFER_LABEL, |args| {
        // `Null` when the configuration has no pluginConfig entry for the plugin.
        let args: PreferLabelArgs = match args {
            serde_json::Value::Null => PreferLabelArgs::default(),
            value => serde_json::from_value(value.clone()).map_err(|e| vec![e.to_string()])?,
        };
        Ok(Arc::new(PreferLabel::new(args)?) as Arc<dyn Plugin>)
    });
    registry
}

/// kube-scheduler's default plugins, plus `PreferLabel` at every extension point it implements,
/// with a score weight of 5 (so its 100 outweighs the default plugins' differences).
const CONFIG: &str = r#"
apiVersion: kubescheduler.config.k8s.io/v1
kind: KubeSchedulerConfiguration
profiles:
- schedulerName: default-scheduler
  plugins:
    multiPoint:
      enabled:
      - name: PreferLabel
        weight: 5
  pluginConfig:
  - name: PreferLabel
    args:
      labelKey: disktype
      labelValue: ssd
"#;
// ANCHOR_END: plugin

/// A node with 4 CPU and 16 GiB.
fn node(name: &str, labels: serde_json::Value) -> anyhow::Result<Arc<Node>> {
    let node = serde_json::from_value(json!({
        "metadata": {"name": name, "labels": labels},
        "status": {"allocatable": {"cpu": "4", "memory": "16Gi", "pods": "110"}}
    }))?;
    Ok(Arc::new(node))
}

/// A pod asking for `cpu` and `memory`, bound to `node` when it is not empty.
fn pod(name: &str, node: &str, cpu: &str, memory: &str) -> anyhow::Result<Arc<Pod>> {
    let pod = serde_json::from_value(json!({
        "metadata": {"name": name, "namespace": "default"},
        "spec": {
            "nodeName": node,
            "containers": [{
                "name": "app",
                "image": "registry.k8s.io/pause:3.10.1",
                "resources": {"requests": {"cpu": cpu, "memory": memory}}
            }]
        }
    }))?;
    Ok(Arc::new(pod))
}

fn print(title: &str, explanation: &Explanation) {
    println!("{title}: {}", explanation.pod);
    for n in &explanation.nodes {
        let scores: Vec<String> = n
            .scores
            .iter()
            .filter(|(_, s)| **s != 0)
            .map(|(plugin, s)| format!("{plugin} {s}"))
            .collect();
        let verdict = if n.feasible {
            format!("total {:>4}", n.total)
        } else {
            format!("rejected: {}", n.reasons.join(", "))
        };
        println!("  {:<8} {verdict}  [{}]", n.name, scores.join(", "));
    }
    println!(
        "  -> {}\n",
        explanation.selected.as_deref().unwrap_or("no node")
    );
}

fn main() -> anyhow::Result<()> {
    let nodes = vec![
        node("empty", json!({"disktype": "hdd"}))?,
        node("busy", json!({}))?,
        node("ssd", json!({"disktype": "ssd"}))?,
        node("full", json!({"disktype": "ssd"}))?,
    ];
    let running = vec![
        pod("busy-1", "busy", "2", "8Gi")?,
        pod("ssd-1", "ssd", "1", "4Gi")?,
        pod("full-1", "full", "3800m", "4Gi")?,
    ];
    let snapshot = Snapshot::new(&nodes, &running, &[]);
    let incoming = PodInfo::new(pod("web", "", "500m", "1Gi")?);

    let registry = registry();
    let default = SchedulerConfig::default_with(&registry)?;
    let custom = SchedulerConfig::from_yaml(CONFIG, &registry)?;
    for (title, config) in [("default profile", &default), ("with PreferLabel", &custom)] {
        let profile = config
            .profiles
            .get(DEFAULT_SCHEDULER_NAME)
            .context("the configuration has the default profile")?;
        let mut rng = component_rng(1, "scheduler");
        print(title, &explain(profile, &snapshot, &incoming, &mut rng)?);
    }

    // Invalid args are reported with the path of the field, as kube-scheduler reports them.
    let bad = CONFIG.replace("labelKey: disktype", "labelKey: \"\"");
    match SchedulerConfig::from_yaml(&bad, &registry) {
        Ok(_) => anyhow::bail!("an empty labelKey was accepted"),
        Err(e) => println!("an empty labelKey is rejected: {e}"),
    }
    Ok(())
}
