//! GPU sharing: device-level fit and allocation, the `Open-Gpu-Share` filter, and each of the six
//! policies' scores on small cases computed by hand from the artifact's formulas
//! (hkust-adsl/kubernetes-scheduler-simulator, `pkg/simulator/plugin/`).

use std::sync::Arc;

use flotilla_model::api::{Container, Node, Pod, ResourceRequirements};
use flotilla_model::quantity::Format;
use flotilla_model::{ObjectMeta, Quantity, ResourceList};
use flotilla_scheduler::framework::{Code, CycleState, NodeScore};
use flotilla_scheduler::gpu::{
    GpuRequest, NodeGpus, GPU_INDEX_ANNOTATION, GPU_MILLI_RESOURCE, GPU_MODEL_ANNOTATION,
    GPU_MODEL_LABEL, GPU_RESOURCE,
};
use flotilla_scheduler::node_info::{NodeInfo, PodInfo};
use flotilla_scheduler::plugins::gpu::{
    best_fit, dot_product, fgd, gpu_clustering, gpu_packing, profile, OpenGpuShare, Policy,
    TargetPod, TargetWorkload,
};
use flotilla_scheduler::schedule::{schedule_pod, SchedulingCycleState};
use flotilla_scheduler::snapshot::Snapshot;
use rand::SeedableRng;

fn node(name: &str, cpu_milli: i64, gpus: i64, model: &str) -> Arc<Node> {
    let mut capacity = ResourceList::new();
    capacity.insert("cpu".into(), Quantity::from_milli(cpu_milli));
    capacity.insert(
        "memory".into(),
        Quantity::from_value(1 << 40, Format::BinarySI),
    );
    capacity.insert("pods".into(), Quantity::from_value(110, Format::DecimalSI));
    if gpus > 0 {
        capacity.insert(
            GPU_RESOURCE.into(),
            Quantity::from_value(gpus, Format::DecimalSI),
        );
        capacity.insert(
            GPU_MILLI_RESOURCE.into(),
            Quantity::from_value(gpus * 1000, Format::DecimalSI),
        );
    }
    let mut meta = ObjectMeta::named("", name);
    if !model.is_empty() {
        meta.labels.insert(GPU_MODEL_LABEL.into(), model.into());
    }
    let mut n = Node {
        metadata: meta,
        ..Default::default()
    };
    n.status.capacity = capacity;
    Arc::new(n)
}

/// A pod asking `cpu_milli`, and `gpus` whole GPUs or (with `gpus` 0) a share of `milli`.
fn pod(name: &str, cpu_milli: i64, gpus: i64, milli: i64, models: &str) -> PodInfo {
    let mut requests = ResourceList::new();
    requests.insert("cpu".into(), Quantity::from_milli(cpu_milli));
    if gpus > 0 {
        requests.insert(
            GPU_RESOURCE.into(),
            Quantity::from_value(gpus, Format::DecimalSI),
        );
    } else if milli > 0 {
        requests.insert(
            GPU_MILLI_RESOURCE.into(),
            Quantity::from_value(milli, Format::DecimalSI),
        );
    }
    let mut meta = ObjectMeta::named("default", name);
    if !models.is_empty() {
        meta.annotations
            .insert(GPU_MODEL_ANNOTATION.into(), models.into());
    }
    let mut p = Pod {
        metadata: meta,
        ..Default::default()
    };
    p.spec.containers.push(Container {
        name: "c".into(),
        image: "i".into(),
        resources: ResourceRequirements {
            limits: requests.clone(),
            requests,
        },
        ..Default::default()
    });
    PodInfo::new(Arc::new(p))
}

fn with_free(cpu_milli: i64, model: &str, free: &[u32]) -> NodeInfo {
    let mut info = NodeInfo::new(node("n", cpu_milli, free.len() as i64, model));
    info.gpus.free = free.to_vec();
    info
}

#[test]
fn requests_are_whole_gpus_or_a_share_of_one() {
    let whole = pod("w", 1000, 2, 0, "");
    let share = pod("s", 1000, 0, 250, "V100M16|V100M32");
    let none = pod("c", 1000, 0, 0, "");
    let w = whole.gpu.as_deref().expect("asks for GPUs");
    assert_eq!((w.count, w.milli, w.is_share()), (2, 1000, false));
    let s = share.gpu.as_deref().expect("asks for a share");
    assert_eq!((s.count, s.milli, s.is_share()), (1, 250, true));
    assert_eq!(s.models, ["V100M16", "V100M32"]);
    assert!(s.accepts_model(Some("V100M32")) && !s.accepts_model(Some("T4")));
    assert!(none.gpu.is_none());
}

#[test]
fn node_info_charges_the_assigned_gpus_and_releases_them() {
    let mut info = NodeInfo::new(node("n", 32_000, 4, "T4"));
    assert_eq!(info.gpus.free, vec![1000; 4]);
    // An assignment written at bind is honoured.
    let mut p = (*pod("a", 1000, 0, 300, "").pod).clone();
    p.metadata
        .annotations
        .insert(GPU_INDEX_ANNOTATION.into(), "2".into());
    info.add_pod(PodInfo::new(Arc::new(p)));
    assert_eq!(info.gpus.free, vec![1000, 1000, 700, 1000]);
    // Without one, best fit: the tightest GPU for a share, the first free GPUs for whole ones.
    info.add_pod(pod("b", 1000, 0, 600, ""));
    assert_eq!(info.gpus.free, vec![1000, 1000, 100, 1000]);
    info.add_pod(pod("c", 1000, 2, 0, ""));
    assert_eq!(info.gpus.free, vec![0, 0, 100, 1000]);
    assert_eq!(info.gpus.tags[0], 2);
    assert_eq!(info.gpus.tags[2], 1);
    assert!(info.remove_pod("default", "b"));
    assert_eq!(info.gpus.free, vec![0, 0, 700, 1000]);
    assert!(info.remove_pod("default", "c"));
    assert_eq!(info.gpus.free, vec![1000, 1000, 700, 1000]);
}

#[test]
fn the_filter_checks_per_gpu_fit_and_model() {
    use flotilla_scheduler::framework::FilterPlugin;
    let state = CycleState::new();
    let n = with_free(32_000, "T4", &[600, 600]);
    // 1,200 milli-GPUs free in all, but no single GPU has 700.
    let s = OpenGpuShare.filter(&state, &pod("a", 0, 0, 700, ""), &n);
    assert_eq!(s.code, Code::Unschedulable);
    assert!(OpenGpuShare
        .filter(&state, &pod("b", 0, 0, 600, ""), &n)
        .is_success());
    // Whole GPUs must be entirely free.
    let s = OpenGpuShare.filter(&state, &pod("c", 0, 1, 0, ""), &n);
    assert_eq!(s.code, Code::Unschedulable);
    let s = OpenGpuShare.filter(&state, &pod("d", 0, 0, 100, "V100M32"), &n);
    assert_eq!(s.code, Code::UnschedulableAndUnresolvable);
    let cpu_only = NodeInfo::new(node("c", 32_000, 0, ""));
    let s = OpenGpuShare.filter(&state, &pod("e", 0, 0, 100, ""), &cpu_only);
    assert_eq!(s.code, Code::UnschedulableAndUnresolvable);
    assert!(OpenGpuShare
        .filter(&state, &pod("f", 1000, 0, 0, ""), &cpu_only)
        .is_success());
}

#[test]
fn dot_product_prefers_the_smallest_product() {
    // Node: 64 of 128 cores and 4 of 8 GPUs free; pod: 32 cores, 1 GPU.
    // node·pod = 0.5·0.25 + 0.5·0.125 = 0.1875; /2 = 0.09375; ⌊100·(1 − 0.09375)⌋ = 90.
    assert_eq!(
        dot_product::dot_product_score(64_000, 4000, 32_000, 1000),
        90
    );
    // An emptier node scores lower: 128 cores, 8 GPUs: (0.25 + 0.125)/2 = 0.1875 → 81.
    assert_eq!(
        dot_product::dot_product_score(128_000, 8000, 32_000, 1000),
        81
    );
    // Not enough CPU: 0.
    assert_eq!(dot_product::dot_product_score(1000, 8000, 32_000, 1000), 0);
}

#[test]
fn gpu_clustering_groups_pods_of_one_shape() {
    let mut g = NodeGpus::with_free(None, vec![1000; 8]);
    // Idle node: ⌊25·0/8000⌋ + 25.
    assert_eq!(gpu_clustering::clustering_score(&g, 0), 25);
    g.free[0] = 500;
    g.tags[0] = 1;
    // Only shares, 500 milli used: ⌊25·500/8000⌋ = 1, + 75.
    assert_eq!(gpu_clustering::clustering_score(&g, 0), 76);
    // A 1-GPU pod on that node: other shapes only → 1.
    assert_eq!(gpu_clustering::clustering_score(&g, 1), 1);
    g.tags[1] = 1;
    g.free[1] = 0;
    // Both shapes: ⌊25·1500/8000⌋ = 4, + 50.
    assert_eq!(gpu_clustering::clustering_score(&g, 0), 54);
}

#[test]
fn gpu_packing_prefers_used_gpus_then_used_nodes() {
    let share = GpuRequest {
        count: 1,
        milli: 200,
        models: Vec::new(),
        assigned: None,
    };
    // Every GPU free: max(33 − 8, 8) = 25.
    let idle = NodeGpus::with_free(None, vec![1000; 8]);
    assert_eq!(gpu_packing::packing_score(&idle, &share), Some(25));
    // A partially used GPU with 300 free: 100 − ⌊30/10⌋ = 97.
    let used = NodeGpus::with_free(None, vec![300, 1000, 1000, 1000]);
    assert_eq!(gpu_packing::packing_score(&used, &share), Some(97));
    // A used node, but the pod needs a free GPU: max(50 − 1, 33) = 49.
    let full = NodeGpus::with_free(None, vec![100, 1000]);
    assert_eq!(gpu_packing::packing_score(&full, &share), Some(49));
}

#[test]
fn best_fit_scores_what_is_left_and_normalises() {
    // 64 cores and 4 GPUs free, pod 32 cores and 1 GPU: left 32/128·½ + 3/8·½ = 0.3125 → 68.
    assert_eq!(best_fit::best_fit_raw(64_000, 4000, 32_000, 1000), Some(68));
    assert_eq!(best_fit::best_fit_raw(1000, 4000, 32_000, 1000), None);
    let mut s: Vec<NodeScore> = [68, 50, 41]
        .iter()
        .enumerate()
        .map(|(node, &score)| NodeScore { node, score })
        .collect();
    best_fit::normalize_min_max(&mut s);
    // (68−41)·100/27 = 100, (50−41)·100/27 = 33, 0.
    assert_eq!(
        s.iter().map(|x| x.score).collect::<Vec<_>>(),
        vec![100, 33, 0]
    );
}

/// The two-node FGD example: a target workload of half 1-GPU pods and half half-GPU shares,
/// and a share of 500 milli-GPUs to place.
#[test]
fn fgd_places_a_share_where_fragmentation_grows_least() {
    let target = TargetWorkload::new(vec![
        TargetPod {
            cpu_milli: 1000,
            gpu_milli: 1000,
            gpu_count: 1,
            gpu_models: Vec::new(),
            weight: 1.0,
        },
        TargetPod {
            cpu_milli: 1000,
            gpu_milli: 500,
            gpu_count: 1,
            gpu_models: Vec::new(),
            weight: 1.0,
        },
    ]);
    // Node A: GPUs with 1000 and 500 free. F(1-GPU) = 500 (the half GPU is unusable to it),
    // F(share) = 0: F_A = ½·500 + ½·0 = 250.
    let a = NodeGpus::with_free(None, vec![1000, 500]);
    assert_eq!(target.fragmentation(8000, None, &a.free), 250.0);
    // Node B: two free GPUs: F_B = 0.
    let b = NodeGpus::with_free(None, vec![1000, 1000]);
    assert_eq!(target.fragmentation(8000, None, &b.free), 0.0);
    let share = GpuRequest {
        count: 1,
        milli: 500,
        models: Vec::new(),
        assigned: None,
    };
    // On A, into the half-free GPU: [1000, 0] → F = 0, Δ = −250: ⌊100·σ(0.25)⌋ = 56.
    // On A, into the free GPU: [500, 500] → F = ½·1000 + 0 = 500, Δ = +250: ⌊100·σ(−0.25)⌋ = 43.
    assert_eq!(
        fgd::best_share_gpu(&target, 8000, 0, &a, &share),
        Some((1, 56))
    );
    // On B: [500, 1000] → F = 250, Δ = +250: 43.
    assert_eq!(
        fgd::best_share_gpu(&target, 8000, 0, &b, &share),
        Some((0, 43))
    );
    // So FGD puts the share on A's half-used GPU, closing the fragment.
    assert_eq!(fgd::fgd_score(&target, 8000, 0, &a, Some(&share)), 56);
    // A whole GPU on B leaves one free GPU: F stays 0 → 50.
    let whole = GpuRequest {
        count: 1,
        milli: 1000,
        models: Vec::new(),
        assigned: None,
    };
    assert_eq!(fgd::fgd_score(&target, 8000, 0, &b, Some(&whole)), 50);
    // A CPU-only pod that takes all the CPU leaves every GPU unusable: F_B = 2000, Δ = −2000:
    // ⌊100·σ(−2)⌋ = 11.
    assert_eq!(fgd::fgd_score(&target, 8000, 8000, &b, None), 11);
}

#[test]
fn the_target_workload_keeps_the_most_popular_shapes() {
    let pods: Vec<PodInfo> = (0..10)
        .map(|i| match i {
            0..=5 => pod(&format!("a{i}"), 1000, 1, 0, ""),
            6..=8 => pod(&format!("b{i}"), 2000, 0, 500, ""),
            _ => pod(&format!("c{i}"), 4000, 0, 0, ""),
        })
        .collect();
    // 60 % + 30 % reach 90 %: the CPU-only shape is left out at an 85 % threshold.
    let t = TargetWorkload::from_pods(&pods, 85.0);
    assert_eq!(t.pods.len(), 2);
    assert_eq!((t.pods[0].gpu_count, t.pods[0].gpu_milli), (1, 1000));
    assert!((t.pods[0].weight - 2.0 / 3.0).abs() < 1e-12);
    assert_eq!(TargetWorkload::from_pods(&pods, 95.0).pods.len(), 3);
}

#[test]
fn every_policy_schedules_through_the_framework_and_chooses_gpus() {
    let nodes = vec![
        node("a", 32_000, 2, "T4"),
        node("b", 32_000, 2, "T4"),
        node("c", 32_000, 2, "V100M32"),
    ];
    let target = Arc::new(TargetWorkload::new(vec![TargetPod {
        cpu_milli: 1000,
        gpu_milli: 500,
        gpu_count: 1,
        gpu_models: Vec::new(),
        weight: 1.0,
    }]));
    for policy in Policy::ALL {
        let mut snapshot = Snapshot::new(&nodes, &[], &[]);
        // Half of a's first GPU is taken.
        snapshot.nodes[0].gpus.free[0] = 500;
        let prof = profile(policy, &target, 7);
        let mut cycle = SchedulingCycleState {
            next_start_node_index: 0,
            rng: rand_chacha::ChaCha8Rng::seed_from_u64(1),
        };
        let p = pod("s", 1000, 0, 500, "V100M32");
        let r = schedule_pod(&prof, &snapshot, &p, 100, &mut cycle).expect("fits on c");
        assert_eq!(r.suggested_host, "c", "{policy:?}: only c has the model");
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(2);
        let i = snapshot.index_of("c").expect("c");
        let devices = policy
            .select_gpus(&target, &p, &snapshot.nodes[i], &mut rng)
            .expect("a GPU");
        assert_eq!(devices.len(), 1);
        // A share too large for any GPU fits nowhere.
        let big = pod("big", 1000, 0, 600, "T4");
        snapshot.nodes[1].gpus.free = vec![500, 500];
        snapshot.nodes[0].gpus.free = vec![500, 500];
        assert!(schedule_pod(&prof, &snapshot, &big, 100, &mut cycle).is_err());
    }
}

#[test]
fn the_gpu_plugins_are_registered_by_their_artifact_names() {
    let registry = flotilla_scheduler::plugins::default_registry();
    for name in [
        "Open-Gpu-Share",
        "RandomScore",
        "DotProductScore",
        "GpuClusteringScore",
        "GpuPackingScore",
        "BestFitScore",
        "FGDScore",
    ] {
        assert!(registry.contains(name), "{name}");
    }
}
