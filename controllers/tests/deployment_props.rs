//! Property tests of a Deployment under random operations, through the test driver: for random
//! sequences of scaling, image changes, container crashes and pod deletions, the Deployment
//! never runs more than `replicas + maxSurge` pods, keeps at least `replicas - maxUnavailable`
//! available (after `minReadySeconds`) while it rolls out, converges to its spec, and the same
//! seed gives the same history.

mod common;

use common::{pods_of, TestDriver};
use flotilla_controllers::cluster::Cluster;
use flotilla_controllers::pods::{is_pod_active, is_pod_available};
use flotilla_model::api::PodPhase;
use flotilla_model::store::DeleteOptions;
use flotilla_model::{Duration, Kind, Object};
use proptest::prelude::*;

const MIN_READY: i32 = 5;
const IMAGES: [&str; 3] = ["nginx:1.26", "nginx:1.27", "nginx:1.28"];

fn manifest(replicas: i32, image: &str) -> String {
    format!(
        r#"
apiVersion: apps/v1
kind: Deployment
metadata: {{name: web}}
spec:
  replicas: {replicas}
  minReadySeconds: {MIN_READY}
  selector: {{matchLabels: {{app: web}}}}
  strategy: {{rollingUpdate: {{maxSurge: 1, maxUnavailable: 1}}}}
  template:
    metadata: {{labels: {{app: web}}}}
    spec:
      containers:
      - name: web
        image: {image}
        resources: {{requests: {{cpu: 100m, memory: 64Mi}}}}
"#
    )
}

#[derive(Clone, Debug)]
enum Op {
    Scale(i32),
    Image(usize),
    Crash(usize),
    Delete(usize),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        (1i32..6).prop_map(Op::Scale),
        (0usize..3).prop_map(Op::Image),
        (0usize..8).prop_map(Op::Crash),
        (0usize..8).prop_map(Op::Delete),
    ]
}

fn active_web(c: &Cluster) -> Vec<flotilla_model::api::Pod> {
    pods_of(c, "default")
        .into_iter()
        .filter(is_pod_active)
        .collect()
}

/// Runs the operations; returns a digest of the history and checks the invariants on the way.
fn run(seed: u64, ops: &[Op]) -> Result<String, TestCaseError> {
    let mut d = TestDriver::new(seed);
    d.add_nodes(3);
    let (mut replicas, mut image) = (3, 1);
    d.apply_yaml(&manifest(replicas, IMAGES[image]));
    d.run_for(Duration::from_secs(60));
    let mut history = Vec::new();
    for op in ops {
        let mut rolling = false;
        match *op {
            Op::Scale(n) => {
                replicas = n;
                d.apply_yaml(&manifest(replicas, IMAGES[image]));
            }
            Op::Image(i) => {
                rolling = i != image;
                image = i;
                d.apply_yaml(&manifest(replicas, IMAGES[image]));
            }
            Op::Crash(i) => {
                let running: Vec<_> = active_web(&d.cluster)
                    .into_iter()
                    .filter(|p| p.phase() == PodPhase::Running)
                    .collect();
                if !running.is_empty() {
                    let name = running[i % running.len()].metadata.name.clone();
                    d.crash_container("default", &name, "web");
                }
            }
            Op::Delete(i) => {
                let active = active_web(&d.cluster);
                if !active.is_empty() {
                    let name = active[i % active.len()].metadata.name.clone();
                    d.cluster
                        .delete(Kind::Pod, "default", &name, &DeleteOptions::default())
                        .expect("delete");
                }
            }
        }
        let (mut too_many, mut too_few) = (None, None);
        d.run_for_with(Duration::from_secs(120), |c| {
            let active = active_web(c);
            // replicas + maxSurge; a scale-down is carried out within the same instant.
            if active.len() > replicas as usize + 1 && too_many.is_none() {
                too_many = Some(active.len());
            }
            if rolling {
                let available = active
                    .iter()
                    .filter(|p| is_pod_available(p, MIN_READY, c.now()))
                    .count();
                if available + 1 < replicas as usize && too_few.is_none() {
                    too_few = Some(available);
                }
            }
        });
        prop_assert!(
            too_many.is_none(),
            "{op:?}: {too_many:?} active pods for {replicas} replicas"
        );
        prop_assert!(
            too_few.is_none(),
            "{op:?}: {too_few:?} available pods for {replicas} replicas"
        );
        let names: Vec<String> = active_web(&d.cluster)
            .iter()
            .map(|p| format!("{}@{}", p.metadata.name, p.spec.node_name))
            .collect();
        history.push(format!("{op:?} -> {names:?}"));
    }
    // Converged: exactly `replicas` pods, all running the latest image, ready and available.
    d.run_for(Duration::from_secs(600));
    let active = active_web(&d.cluster);
    prop_assert_eq!(active.len(), replicas as usize);
    for p in &active {
        prop_assert_eq!(&p.spec.containers[0].image, IMAGES[image]);
        prop_assert!(
            is_pod_available(p, MIN_READY, d.cluster.now()),
            "{} not available",
            p.metadata.name
        );
    }
    let Some(Object::Deployment(dep)) = d
        .cluster
        .store()
        .get(Kind::Deployment, "default", "web")
        .as_deref()
        .cloned()
    else {
        return Err(TestCaseError::fail("deployment gone"));
    };
    prop_assert_eq!(dep.status.replicas, replicas);
    prop_assert_eq!(dep.status.updated_replicas, replicas);
    prop_assert_eq!(dep.status.available_replicas, replicas);
    history.push(format!("rv {}", d.cluster.store().resource_version()));
    Ok(history.join("\n"))
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    #[test]
    fn a_deployment_stays_within_its_bounds_and_converges(
        seed in 0u64..1000,
        ops in proptest::collection::vec(op(), 1..6),
    ) {
        run(seed, &ops)?;
    }
}

#[test]
fn the_same_seed_and_operations_give_the_same_history() {
    let ops = [
        Op::Image(2),
        Op::Crash(1),
        Op::Scale(5),
        Op::Delete(3),
        Op::Image(0),
    ];
    let a = run(17, &ops).expect("invariants hold");
    let b = run(17, &ops).expect("invariants hold");
    assert_eq!(a, b);
}
