//! One scheduling decision (`schedule_pod` with kube-scheduler's default profile) on clusters of
//! 100, 1,000, 5,000 and 15,000 nodes with four pods per node, at `percentageOfNodesToScore` 100
//! (every node filtered and scored) and at the default (0: adaptive, 42% of 1,000 nodes, 10% of
//! 5,000, 5% of 15,000; all of 100); and a pod with required pod affinity and preferred
//! anti-affinity on a cluster where labelled pods, some with anti-affinity of their own, run.
//!
//! Throughput is in nodes evaluated per decision, so the figures of different sizes compare.

// criterion's macros generate the undocumented `benches` and `main` functions.
#![allow(missing_docs)]

use std::sync::Arc;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use flotilla_model::api::{Node, Pod};
use flotilla_model::rng::component_rng;
use flotilla_scheduler::config::{SchedulerConfig, DEFAULT_SCHEDULER_NAME};
use flotilla_scheduler::node_info::PodInfo;
use flotilla_scheduler::plugins::default_registry;
use flotilla_scheduler::profile::Profile;
use flotilla_scheduler::schedule::{
    num_feasible_nodes_to_find, schedule_pod, SchedulingCycleState,
};
use flotilla_scheduler::snapshot::Snapshot;
use serde_json::json;

const ZONES: usize = 3;

/// A node of 8 CPU, 32 GiB and 110 pods, with hostname and zone labels.
fn node(i: usize) -> Arc<Node> {
    let name = format!("node-{i}");
    Arc::new(
        serde_json::from_value(json!({
            "metadata": {"name": name, "labels": {
                "kubernetes.io/hostname": name,
                "topology.kubernetes.io/zone": format!("zone-{}", i % ZONES),
            }},
            "status": {"allocatable": {"cpu": "8", "memory": "32Gi", "pods": "110"}}
        }))
        .expect("the bench node decodes"),
    )
}

/// A running pod of app `app-{app}` on `node`, asking 100m–800m CPU and 256–1024 MiB; every
/// tenth pod has a required anti-affinity to its own app per host.
fn running_pod(i: usize, app: usize, node: &str) -> Arc<Pod> {
    let mut spec = json!({
        "nodeName": node,
        "containers": [{
            "name": "app",
            "image": "registry.k8s.io/pause:3.10.1",
            "resources": {"requests": {
                "cpu": format!("{}m", 100 * (1 + i % 8)),
                "memory": format!("{}Mi", 256 * (1 + i % 4)),
            }}
        }]
    });
    if i % 10 == 0 {
        spec["affinity"] = json!({"podAntiAffinity": {
            "requiredDuringSchedulingIgnoredDuringExecution": [{
                "labelSelector": {"matchLabels": {"app": format!("app-{app}")}},
                "topologyKey": "kubernetes.io/hostname"
            }]
        }});
    }
    Arc::new(
        serde_json::from_value(json!({
            "metadata": {"name": format!("pod-{i}"), "namespace": "default",
                         "labels": {"app": format!("app-{app}"), "tier": "backend"}},
            "spec": spec
        }))
        .expect("the bench pod decodes"),
    )
}

/// `nodes` nodes over three zones with `pods_per_node` pods each, of 50 apps.
fn cluster(nodes: usize, pods_per_node: usize) -> Snapshot {
    let node_list: Vec<Arc<Node>> = (0..nodes).map(node).collect();
    let pods: Vec<Arc<Pod>> = (0..nodes * pods_per_node)
        .map(|i| running_pod(i, i % 50, &node_list[i % nodes].metadata.name))
        .collect();
    Snapshot::new(&node_list, &pods, &[])
}

/// The pod to place: 250m CPU and 512 MiB.
fn incoming_pod() -> PodInfo {
    PodInfo::new(Arc::new(
        serde_json::from_value(json!({
            "metadata": {"name": "incoming", "namespace": "default", "labels": {"app": "web"}},
            "spec": {"containers": [{
                "name": "web",
                "image": "nginx:1.27",
                "resources": {"requests": {"cpu": "250m", "memory": "512Mi"}}
            }]}
        }))
        .expect("the bench pod decodes"),
    ))
}

/// A pod that must share a zone with `app-7` pods and prefers hosts without `app-3` pods.
fn affinity_pod() -> PodInfo {
    PodInfo::new(Arc::new(
        serde_json::from_value(json!({
            "metadata": {"name": "affine", "namespace": "default", "labels": {"app": "web"}},
            "spec": {
                "affinity": {
                    "podAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": [{
                        "labelSelector": {"matchLabels": {"app": "app-7"}},
                        "topologyKey": "topology.kubernetes.io/zone"
                    }]},
                    "podAntiAffinity": {"preferredDuringSchedulingIgnoredDuringExecution": [{
                        "weight": 50,
                        "podAffinityTerm": {
                            "labelSelector": {"matchLabels": {"app": "app-3"}},
                            "topologyKey": "kubernetes.io/hostname"
                        }
                    }]}
                },
                "containers": [{
                    "name": "web",
                    "image": "nginx:1.27",
                    "resources": {"requests": {"cpu": "250m", "memory": "512Mi"}}
                }]
            }
        }))
        .expect("the bench pod decodes"),
    ))
}

fn default_profile() -> Profile {
    let config = SchedulerConfig::default_with(&default_registry()).expect("the default config");
    config.profiles[DEFAULT_SCHEDULER_NAME].clone()
}

fn cycle() -> SchedulingCycleState {
    SchedulingCycleState {
        next_start_node_index: 0,
        rng: component_rng(1, "scheduler"),
    }
}

fn schedule_one(c: &mut Criterion) {
    let profile = default_profile();
    let pod = incoming_pod();
    let mut group = c.benchmark_group("schedule_pod");
    group.sample_size(10);
    for nodes in [100, 1_000, 5_000, 15_000] {
        let snapshot = cluster(nodes, 4);
        for pct in [100, 0] {
            let evaluated = num_feasible_nodes_to_find(nodes, pct);
            group.throughput(Throughput::Elements(evaluated as u64));
            let id = BenchmarkId::new(format!("pct{pct}"), nodes);
            let mut state = cycle();
            group.bench_with_input(id, &snapshot, |b, snapshot| {
                b.iter(|| {
                    schedule_pod(&profile, snapshot, &pod, pct, &mut state).expect("the pod fits")
                })
            });
        }
    }
    group.finish();
}

fn schedule_with_affinity(c: &mut Criterion) {
    let profile = default_profile();
    let pod = affinity_pod();
    let mut group = c.benchmark_group("schedule_pod_affinity");
    group.sample_size(10);
    for nodes in [1_000, 5_000] {
        let snapshot = cluster(nodes, 4);
        for pct in [100, 0] {
            let evaluated = num_feasible_nodes_to_find(nodes, pct);
            group.throughput(Throughput::Elements(evaluated as u64));
            let id = BenchmarkId::new(format!("pct{pct}"), nodes);
            let mut state = cycle();
            group.bench_with_input(id, &snapshot, |b, snapshot| {
                b.iter(|| {
                    schedule_pod(&profile, snapshot, &pod, pct, &mut state).expect("the pod fits")
                })
            });
        }
    }
    group.finish();
}

criterion_group!(benches, schedule_one, schedule_with_affinity);
criterion_main!(benches);
