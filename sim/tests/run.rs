//! Whole simulation runs: determinism of the event log, the invariants after every step, and
//! the outcome of a small scenario.

use std::collections::BTreeMap;
use std::path::Path;

use flotilla_model::{Kind, Object, Quantity};
use flotilla_sim::engine::Simulation;
use flotilla_sim::scenario;

fn small() -> scenario::Scenario {
    scenario::load(Path::new("tests/testdata/scenarios/small.yaml")).expect("valid scenario")
}

#[test]
fn the_same_seed_gives_the_same_event_log_digest() {
    let run = |seed| {
        let mut sim = Simulation::new(small(), seed).expect("starts");
        sim.run();
        sim.summary(0.0)
    };
    let a = run(7);
    let b = run(7);
    assert_eq!(a.event_log_digest, b.event_log_digest);
    assert_eq!(a, b);
    let c = run(8);
    assert_ne!(
        a.event_log_digest, c.event_log_digest,
        "another seed, other arrivals"
    );
}

/// The samples are kept up to date change by change; at every step they equal a recount of
/// the store's objects.
#[test]
fn samples_follow_the_store_change_by_change() {
    let mut sim = Simulation::new(small(), 7).expect("starts");
    let mut compared = 0;
    while sim.step() {
        let mut followed = sim.metrics().clone();
        let mut recounted = sim.metrics().clone();
        recounted.resync(sim.cluster().store());
        followed.sample(sim.cluster(), sim.now());
        recounted.sample(sim.cluster(), sim.now());
        assert_eq!(followed.samples.last(), recounted.samples.last());
        compared += 1;
    }
    assert!(compared > 100, "{compared} steps");
    let last = sim.metrics().samples.last().expect("samples").clone();
    assert!(last.running > 0 && last.succeeded > 0, "{last:?}");
    assert!(last.resources["cpu"].0 > 0.0 && last.resources["cpu"].1 > 0.0);
}

#[test]
fn a_small_run_schedules_runs_and_completes_its_pods() {
    let mut sim = Simulation::new(small(), 7).expect("starts");
    sim.run();
    assert!(sim.apply_errors().is_empty(), "{:?}", sim.apply_errors());
    let s = sim.summary(0.0);
    assert_eq!(s.nodes, 12);
    assert!(s.pods_created > 20, "{s:#?}");
    assert_eq!(s.pods_running_at_end, 10 + running_job_pods(&sim), "{s:#?}");
    assert!(s.pods_succeeded > 0, "{s:#?}");
    assert_eq!(s.pods_failed, 0, "{s:#?}");
    assert!(s.scheduling_latency_ms.count > 0);
    assert!(s.allocation_ratio_mean["cpu"] > 0.0);
    // The rollout finished: every web pod runs the new image.
    for o in sim.cluster().store().iter_namespace(Kind::Pod, "default") {
        if let Object::Pod(p) = &**o {
            if p.metadata.labels.get("app").map(String::as_str) == Some("web") {
                assert_eq!(p.spec.containers[0].image, "nginx:1.28");
            }
        }
    }
}

fn running_job_pods(sim: &Simulation) -> u64 {
    sim.cluster()
        .store()
        .iter_namespace(Kind::Pod, "default")
        .filter(|o| match &***o {
            Object::Pod(p) => {
                p.metadata.name.starts_with("job-")
                    && p.phase() == flotilla_model::api::PodPhase::Running
            }
            _ => false,
        })
        .count() as u64
}

#[test]
fn no_node_is_overcommitted_and_no_pod_moves_at_any_step() {
    let mut sim = Simulation::new(small(), 3).expect("starts");
    let mut bound: BTreeMap<String, String> = BTreeMap::new();
    while sim.step() {
        let store = sim.cluster().store();
        let mut used: BTreeMap<String, Quantity> = BTreeMap::new();
        for o in store.iter_kind(Kind::Pod) {
            let Object::Pod(p) = &**o else { continue };
            if p.spec.node_name.is_empty() {
                continue;
            }
            if let Some(node) = bound.insert(p.metadata.uid.clone(), p.spec.node_name.clone()) {
                assert_eq!(node, p.spec.node_name, "pod {} moved", p.metadata.name);
            }
            if p.phase().is_terminal() {
                continue;
            }
            for c in &p.spec.containers {
                if let Some(q) = c.resources.requests.get("cpu") {
                    *used
                        .entry(p.spec.node_name.clone())
                        .or_insert(Quantity::ZERO) += *q;
                }
            }
        }
        for (node, cpu) in used {
            let Some(Object::Node(n)) = store.get(Kind::Node, "", &node).as_deref().cloned() else {
                panic!("pod bound to missing node {node}");
            };
            let alloc = n.status.allocatable["cpu"];
            assert!(cpu <= alloc, "node {node}: {cpu} requested of {alloc}");
        }
    }
}

/// A pool's `images` are on its nodes from the start: the registered Node lists them (with
/// their sizes) before any pod runs, as a kubelet's first node status does, and a pod using one
/// starts without a pull.
#[test]
fn a_pools_images_are_in_the_node_status_from_the_start() {
    let text = r#"
apiVersion: sim.flotilla.io/v1
kind: Scenario
metadata: {name: images}
spec:
  seed: 1
  duration: 1m
  nodePools:
  - name: warm
    count: 2
    capacity: {cpu: "4", memory: 16Gi}
    images: ["nginx:1.27"]
  - name: cold
    count: 1
    capacity: {cpu: "4", memory: 16Gi}
  runtime:
    imageSizes: {"nginx:1.27": 64Mi}
  workloads:
  - at: 1s
    manifests: |
      apiVersion: v1
      kind: Pod
      metadata: {name: web}
      spec:
        nodeName: warm-0
        containers:
        - name: web
          image: nginx:1.27
"#;
    let scenario = scenario::parse("images.yaml", text).expect("valid scenario");
    let mut sim = Simulation::new(scenario, 1).expect("starts");
    let images = |sim: &Simulation, node: &str| -> Vec<(Vec<String>, Option<i64>)> {
        match sim.cluster().store().get(Kind::Node, "", node).as_deref() {
            Some(Object::Node(n)) => n
                .status
                .images
                .iter()
                .map(|i| (i.names.clone(), i.size_bytes))
                .collect(),
            _ => panic!("node {node} is registered"),
        }
    };
    let nginx = vec![(vec!["nginx:1.27".to_string()], Some(64 << 20))];
    assert_eq!(images(&sim, "warm-0"), nginx);
    assert_eq!(images(&sim, "warm-1"), nginx);
    assert_eq!(images(&sim, "cold-0"), vec![]);
    sim.run();
    let pod = flotilla_model::store::ObjectKey {
        kind: Kind::Pod,
        namespace: "default".into(),
        name: "web".into(),
    };
    let reasons: Vec<(String, String)> = sim
        .cluster()
        .events()
        .events_for(&pod)
        .map(|e| (e.reason.clone(), e.message.clone()))
        .collect();
    assert!(
        reasons
            .iter()
            .any(|(r, m)| r == "Pulled" && m.contains("already present on machine")),
        "{reasons:?}"
    );
    assert!(!reasons.iter().any(|(r, _)| r == "Pulling"), "{reasons:?}");
}
