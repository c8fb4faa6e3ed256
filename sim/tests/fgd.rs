//! The FGD study on the committed sample of the Alibaba trace (61 nodes, 300 pods): the protocol's
//! invariants and determinism. The full study runs with `flotilla study fgd`.

use std::path::Path;

use flotilla_scheduler::plugins::gpu::Policy;
use flotilla_sim::study::fgd::{self, Workload};

const DATA: &str = "tests/testdata/traces/alibaba-gpu-v2023";

fn sample() -> Workload {
    let dir = Path::new(DATA);
    Workload::load(
        &dir.join("openb_node_list_sample.csv"),
        &dir.join("openb_pod_list_sample.csv"),
    )
    .expect("the sample is valid")
}

#[test]
fn the_sample_workload_has_gpus_and_a_target_workload() {
    let w = sample();
    assert_eq!(w.capacity_milli, 226_000);
    assert_eq!(w.pods.len(), 300);
    // Sorted by name.
    assert!(w
        .pods
        .windows(2)
        .all(|p| p[0].pod.metadata.name < p[1].pod.metadata.name));
    let total: f64 = w.target.pods.iter().map(|p| p.weight).sum();
    assert!((total - 1.0).abs() < 1e-9, "{total}");
}

#[test]
fn arrivals_are_a_seeded_shuffle_tuned_to_the_ratio() {
    let w = sample();
    let a = fgd::arrivals(&w, 42, 1.3);
    let b = fgd::arrivals(&w, 42, 1.3);
    let names = |v: &[flotilla_scheduler::node_info::PodInfo]| {
        v.iter()
            .map(|p| p.pod.metadata.name.clone())
            .collect::<Vec<_>>()
    };
    assert_eq!(names(&a), names(&b));
    assert_ne!(names(&a), names(&fgd::arrivals(&w, 43, 1.3)));
    let requested: u64 = a
        .iter()
        .filter_map(|p| p.gpu.as_ref().map(|g| g.total_milli()))
        .sum();
    let target = 1.3 * w.capacity_milli as f64;
    assert!(requested as f64 <= target, "{requested} > {target}");
    // Copies are appended after the originals, and named as the artifact names them.
    if w.requested_milli() as f64 <= target {
        assert!(a.len() >= w.pods.len());
        assert!(a[w.pods.len()..]
            .iter()
            .all(|p| p.pod.metadata.name.contains("-tuned-")));
    }
    // Tuned down: fewer pods than the trace.
    let down = fgd::arrivals(&w, 42, 0.5);
    assert!(down.len() < w.pods.len());
}

#[test]
fn an_experiment_is_deterministic_and_never_overcommits() {
    let w = sample();
    for policy in Policy::ALL {
        let a = fgd::run(&w, policy, 42, 1.3);
        let b = fgd::run(&w, policy, 42, 1.3);
        assert_eq!(
            format!("{:?}", a.curve),
            format!("{:?}", b.curve),
            "{policy:?} seed 42"
        );
        assert_eq!((a.pods, a.failed), (b.pods, b.failed));
        assert!(a.allocated_milli <= w.capacity_milli);
        assert!(a.allocated_milli <= a.arrived_milli);
        // The ratio never exceeds 100 % and never falls as pods arrive.
        let known: Vec<f64> = a.curve.iter().copied().filter(|v| !v.is_nan()).collect();
        assert!(known.iter().all(|&v| (0.0..=100.0).contains(&v)));
        assert!(known.windows(2).all(|v| v[0] <= v[1] + 1e-9), "{policy:?}");
    }
}

#[test]
fn the_grid_and_its_outputs_are_deterministic() {
    let w = sample();
    let seeds = [42, 43];
    let policies = [Policy::BestFit, Policy::Fgd];
    let a = fgd::grid(&w, &policies, &seeds, 1.3);
    let b = fgd::grid(&w, &policies, &seeds, 1.3);
    let gpus = w.capacity_milli / 1000;
    assert_eq!(
        fgd::curves_csv(&w.name, gpus, &a),
        fgd::curves_csv(&w.name, gpus, &b)
    );
    assert_eq!(a.len(), 4);
    let summary = fgd::summarize(&a);
    assert_eq!(summary.len(), 2);
    let dir = tempfile::tempdir().expect("a temporary directory");
    let files = fgd::write_outputs(dir.path(), &w, &a).expect("written");
    assert_eq!(files.len(), 3);
    let svg = std::fs::read_to_string(&files[2]).expect("readable");
    assert!(svg.starts_with("<svg") && svg.contains("FGD"));
}

#[test]
fn reductions_are_measured_on_unallocated_gpus() {
    // 95 % against 90 % allocated: half as many unallocated GPUs, 5 % of 6212 GPUs.
    let (pct, gpus) = fgd::reduction(95.0, 90.0, 6212.0);
    assert!((pct - 50.0).abs() < 1e-9);
    assert!((gpus - 310.6).abs() < 1e-9);
}
