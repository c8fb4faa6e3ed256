//! Scheduling throughput on kube-scheduler's `scheduler_perf` workloads
//! (kubernetes/kubernetes test/integration/scheduler_perf): the same nodes, pod templates and
//! counts, driven through Flotilla's [`Scheduler`] the way a driver does it — watch events in,
//! `schedule_next` until the queue is empty, and each binding confirmed by feeding the bound pod
//! back as a `Modified` event.
//!
//! ```sh
//! cargo run --release -p flotilla-examples --example scheduler_perf
//! cargo run --release -p flotilla-examples --example scheduler_perf -- --quick --percentage 100
//! ```
//!
//! Workloads (nodes: 4 CPU, 32 GiB, 110 pods, as `templates/node-default.yaml`):
//!
//! - **SchedulingBasic** (`misc/performance-config.yaml`, 5000Nodes_10000Pods, CI threshold 680
//!   pods/s): 1,000 initial `pod-default` pods, then 10,000 measured ones.
//! - **SchedulingPodAffinity** (`affinity/`, 5000Nodes_5000Pods, threshold 35): every node in
//!   zone `zone1`; 5,000 pods in `sched-0` and 5,000 measured in `sched-1`, each with required
//!   pod affinity to `color: blue` pods of both namespaces over the zone.
//! - **SchedulingNodeAffinity** (`affinity/`, 5000Nodes_10000Pods, threshold 220): every node in
//!   `zone1`; 5,000 + 10,000 pods requiring `zone in (zone1, zone2)`.
//! - **SchedulingBasic/percentage100**: SchedulingBasic with `percentageOfNodesToScore: 100`
//!   (every node filtered and scored); every pod fits, so no preemption is involved.
//!
//! Only the measured pods are timed, from their creation events to the last confirmed binding,
//! as scheduler_perf's `SchedulingThroughput` measures them, but here without an API server:
//! the figure is the scheduler's own cost, the time spent in its calls (`handle_event` for each
//! creation and each confirmation, `schedule_next` for each decision). The driver's work between
//! the calls stands in for the API server (it keeps the pods, writes each binding into a copy of
//! the pod, builds the watch events); the line prints it as "with the driver", the wall time of
//! the whole measured phase. `--quick` runs 500 nodes instead of 5,000 (the
//! workloads' `500Nodes` sizes); `--percentage N` sets the global `percentageOfNodesToScore` of
//! every workload but the 100% one (default 0, adaptive); `--only NAME` runs one workload;
//! `--nodes N` changes the number of nodes (not of pods). Each line ends with a hash of every
//! binding in order: two builds that print the same hash made the same decisions.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use flotilla_model::api::{Namespace, Node, Pod};
use flotilla_model::store::{WatchEvent, WatchEventType};
use flotilla_model::{Object, Time};
use flotilla_scheduler::config::{KubeSchedulerConfiguration, SchedulerConfig};
use flotilla_scheduler::plugins::default_registry;
use flotilla_scheduler::scheduler::{Scheduler, SchedulingOutcome};
use serde_json::json;

/// One scheduler_perf workload.
struct Workload {
    name: &'static str,
    nodes: usize,
    init_pods: usize,
    measure_pods: usize,
    /// Zone label of every node (`labelNodePrepareStrategy`), if any.
    zone: Option<&'static str>,
    /// The pod template (as JSON) of the initial and measured pods.
    template: fn() -> serde_json::Value,
    init_namespace: &'static str,
    measure_namespace: &'static str,
    /// `percentageOfNodesToScore` forced by the workload (else the `--percentage` flag).
    percentage: Option<i32>,
}

/// A pause container asking 100m CPU and 500Mi (`templates/pod-default.yaml`).
fn container() -> serde_json::Value {
    json!({
        "name": "pause",
        "image": "registry.k8s.io/pause:3.10.1",
        "ports": [{"containerPort": 80}],
        "resources": {
            "limits": {"cpu": "100m", "memory": "500Mi"},
            "requests": {"cpu": "100m", "memory": "500Mi"}
        }
    })
}

/// `templates/pod-default.yaml`.
fn pod_default() -> serde_json::Value {
    json!({"metadata": {}, "spec": {"containers": [container()]}})
}

/// `templates/pod-with-pod-affinity.yaml`.
fn pod_with_pod_affinity() -> serde_json::Value {
    json!({
        "metadata": {"labels": {"color": "blue"}},
        "spec": {
            "affinity": {"podAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": [{
                "labelSelector": {"matchLabels": {"color": "blue"}},
                "topologyKey": "topology.kubernetes.io/zone",
                "namespaces": ["sched-1", "sched-0"]
            }]}},
            "containers": [container()]
        }
    })
}

/// `templates/pod-with-node-affinity.yaml`.
fn pod_with_node_affinity() -> serde_json::Value {
    json!({
        "metadata": {},
        "spec": {
            "affinity": {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {
                "nodeSelectorTerms": [{"matchExpressions": [{
                    "key": "topology.kubernetes.io/zone",
                    "operator": "In",
                    "values": ["zone1", "zone2"]
                }]}]
            }}},
            "containers": [container()]
        }
    })
}

/// `templates/node-default.yaml`, with a hostname label and the workload's zone.
fn node(i: usize, zone: Option<&str>) -> anyhow::Result<Node> {
    let name = format!("scheduler-perf-{i}");
    let mut labels = serde_json::Map::new();
    labels.insert("kubernetes.io/hostname".into(), json!(name));
    if let Some(zone) = zone {
        labels.insert("topology.kubernetes.io/zone".into(), json!(zone));
    }
    let node = serde_json::from_value(json!({
        "metadata": {"name": name, "labels": labels},
        "status": {
            "capacity": {"pods": "110", "cpu": "4", "memory": "32Gi"},
            "conditions": [{"type": "Ready", "status": "True"}]
        }
    }))?;
    Ok(node)
}

fn pods(
    template: &serde_json::Value,
    prefix: &str,
    namespace: &str,
    count: usize,
) -> anyhow::Result<Vec<Pod>> {
    let base: Pod = serde_json::from_value(template.clone()).context("pod template")?;
    Ok((0..count)
        .map(|i| {
            let mut pod = base.clone();
            pod.metadata.name = format!("{prefix}-{i}");
            pod.metadata.namespace = namespace.to_string();
            pod
        })
        .collect())
}

fn event(event_type: WatchEventType, object: impl Into<Object>) -> WatchEvent {
    WatchEvent {
        event_type,
        object: Arc::new(object.into()),
        resource_version: 0,
    }
}

/// Time spent in each part of the measured phase, and a digest of the decisions.
#[derive(Default)]
struct Timings {
    enqueue: Duration,
    schedule: Duration,
    confirm: Duration,
    /// FNV-1a of every `namespace/name=node;` binding in order: equal digests mean equal
    /// decisions (to check that a performance change decides the same).
    digest: u64,
}

impl Timings {
    fn record(&mut self, namespace: &str, name: &str, node: &str) {
        if self.digest == 0 {
            self.digest = 0xcbf2_9ce4_8422_2325;
        }
        for part in [namespace, "/", name, "=", node, ";"] {
            for &b in part.as_bytes() {
                self.digest ^= u64::from(b);
                self.digest = self.digest.wrapping_mul(0x0100_0000_01b3);
            }
        }
    }
}

/// Creates `pods`, then schedules until the queue is empty, confirming every binding. Returns how
/// many pods were bound.
///
/// Only the scheduler's own calls are timed (`handle_event`, `schedule_next`): the driver's
/// work between them, which stands in for the API server (keeping the pods, writing the
/// binding into a copy of the pod, building the watch events), is not the scheduler's cost.
fn schedule_all(
    scheduler: &mut Scheduler,
    pods: Vec<Pod>,
    now: Time,
    timings: &mut Timings,
) -> anyhow::Result<usize> {
    let mut pending: HashMap<(String, String), Pod> = HashMap::with_capacity(pods.len());
    for pod in pods {
        let added = event(WatchEventType::Added, pod.clone());
        let t = Instant::now();
        scheduler.handle_event(&added, now);
        timings.enqueue += t.elapsed();
        let key = (pod.metadata.namespace.clone(), pod.metadata.name.clone());
        pending.insert(key, pod);
    }
    let mut bound = 0;
    loop {
        let t = Instant::now();
        let outcome = scheduler.schedule_next(now);
        timings.schedule += t.elapsed();
        match outcome {
            None => break,
            Some(SchedulingOutcome::Bind {
                namespace,
                name,
                node,
            }) => {
                timings.record(&namespace, &name, &node);
                let mut pod = pending
                    .remove(&(namespace, name))
                    .context("the scheduler bound a pod it was not given")?;
                pod.spec.node_name = node;
                let modified = event(WatchEventType::Modified, pod);
                let t = Instant::now();
                scheduler.handle_event(&modified, now);
                timings.confirm += t.elapsed();
                bound += 1;
            }
            // Every pod of these workloads fits: no waiting, no preemption.
            Some(SchedulingOutcome::Unschedulable {
                namespace,
                name,
                message,
            }) => bail!("{namespace}/{name} is unschedulable: {message}"),
            Some(SchedulingOutcome::Preempt {
                namespace,
                name,
                message,
                ..
            }) => bail!("{namespace}/{name} would preempt: {message}"),
        }
    }
    Ok(bound)
}

/// Runs a workload; returns the measured pods per second.
fn run(w: &Workload, percentage: i32) -> anyhow::Result<f64> {
    let config = KubeSchedulerConfiguration {
        percentage_of_nodes_to_score: Some(w.percentage.unwrap_or(percentage)),
        ..KubeSchedulerConfiguration::default()
    };
    let config = SchedulerConfig::from_config(&config, &default_registry())?;
    let mut scheduler = Scheduler::new(config, 1);
    let now = Time::from_secs(1);

    let setup = Instant::now();
    for ns in ["sched-0", "sched-1", "default"] {
        let ns: Namespace = serde_json::from_value(json!({"metadata": {"name": ns}}))?;
        scheduler.handle_event(&event(WatchEventType::Added, ns), now);
    }
    for i in 0..w.nodes {
        scheduler.handle_event(&event(WatchEventType::Added, node(i, w.zone)?), now);
    }
    let template = (w.template)();
    let init = pods(&template, "init", w.init_namespace, w.init_pods)?;
    let mut init_timings = Timings::default();
    let bound = schedule_all(&mut scheduler, init, now, &mut init_timings)?;
    if bound != w.init_pods {
        bail!("{}: {bound} of {} initial pods bound", w.name, w.init_pods);
    }
    let setup = setup.elapsed();

    let measured = pods(&template, "measured", w.measure_namespace, w.measure_pods)?;
    let mut timings = Timings {
        digest: init_timings.digest,
        ..Timings::default()
    };
    let start = Instant::now();
    let bound = schedule_all(&mut scheduler, measured, now, &mut timings)?;
    let elapsed = start.elapsed();
    if bound != w.measure_pods {
        bail!(
            "{}: {bound} of {} measured pods bound",
            w.name,
            w.measure_pods
        );
    }
    let scheduler_time = timings.enqueue + timings.schedule + timings.confirm;
    let rate = bound as f64 / scheduler_time.as_secs_f64();
    let pct = w.percentage.unwrap_or(percentage);
    println!(
        "{:<34} {:>6} nodes {:>6} pods  pct {:>3}  {:>10.0} pods/s  (scheduler {:.3} s: enqueue {:.3}, schedule {:.3}, confirm {:.3}; with the driver {:.3} s; setup {:.2} s) decisions {:016x}",
        w.name,
        w.nodes,
        bound,
        pct,
        rate,
        scheduler_time.as_secs_f64(),
        timings.enqueue.as_secs_f64(),
        timings.schedule.as_secs_f64(),
        timings.confirm.as_secs_f64(),
        elapsed.as_secs_f64(),
        setup.as_secs_f64(),
        timings.digest,
    );
    Ok(rate)
}

fn main() -> anyhow::Result<()> {
    let mut quick = false;
    let mut percentage = 0;
    let mut only: Option<String> = None;
    let mut node_count: Option<usize> = None;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--quick" => quick = true,
            "--percentage" => {
                let value = args.next().context("--percentage needs a value")?;
                percentage = value
                    .parse()
                    .with_context(|| format!("--percentage {value:?}"))?;
            }
            "--only" => only = Some(args.next().context("--only needs a workload name")?),
            "--nodes" => {
                let value = args.next().context("--nodes needs a value")?;
                node_count = Some(
                    value
                        .parse()
                        .with_context(|| format!("--nodes {value:?}"))?,
                );
            }
            other => bail!(
                "unknown argument {other:?} (use --quick, --percentage N, --only NAME, --nodes N)"
            ),
        }
    }
    // scheduler_perf's 500Nodes workloads with --quick, the CI ("performance") ones otherwise.
    let (nodes, scale) = if quick { (500, 10) } else { (5000, 1) };
    let nodes = node_count.unwrap_or(nodes);
    let workloads = [
        Workload {
            name: "SchedulingBasic",
            nodes,
            init_pods: if quick { 500 } else { 1000 },
            measure_pods: 10_000 / scale,
            zone: None,
            template: pod_default,
            init_namespace: "default",
            measure_namespace: "default",
            percentage: None,
        },
        Workload {
            name: "SchedulingPodAffinity",
            nodes,
            init_pods: 5000 / scale,
            measure_pods: 5000 / scale,
            zone: Some("zone1"),
            template: pod_with_pod_affinity,
            init_namespace: "sched-0",
            measure_namespace: "sched-1",
            percentage: None,
        },
        Workload {
            name: "SchedulingNodeAffinity",
            nodes,
            init_pods: 5000 / scale,
            measure_pods: 10_000 / scale,
            zone: Some("zone1"),
            template: pod_with_node_affinity,
            init_namespace: "default",
            measure_namespace: "default",
            percentage: None,
        },
        Workload {
            name: "SchedulingBasic/percentage100",
            nodes,
            init_pods: if quick { 500 } else { 1000 },
            measure_pods: 10_000 / scale,
            zone: None,
            template: pod_default,
            init_namespace: "default",
            measure_namespace: "default",
            percentage: Some(100),
        },
    ];
    for w in &workloads {
        if only.as_ref().is_some_and(|o| o != w.name) {
            continue;
        }
        run(w, percentage)?;
    }
    Ok(())
}
