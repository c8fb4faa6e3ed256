//! Horizontal pod autoscaling through the test driver: a Deployment under an HPA, its pods'
//! CPU use reported every 15 s of virtual time as the metrics server would, scaling up within
//! the rate limits under load and down only after the stabilization window, between
//! `minReplicas` and `maxReplicas`.

mod common;

use common::{config_with, stored, TestDriver};
use flotilla_controllers::cluster::{Cluster, ClusterInput};
use flotilla_controllers::horizontal_pod_autoscaler::HorizontalPodAutoscalerController;
use flotilla_model::api::{Deployment, HorizontalPodAutoscaler, PodPhase};
use flotilla_model::{Duration, Time};

const APP: &str = r#"
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
spec:
  replicas: 2
  selector:
    matchLabels: {app: web}
  template:
    metadata:
      labels: {app: web}
    spec:
      containers:
      - name: web
        image: nginx:1.27
        resources:
          requests: {cpu: 200m, memory: 64Mi}
---
apiVersion: autoscaling/v2
kind: HorizontalPodAutoscaler
metadata:
  name: web
spec:
  scaleTargetRef: {apiVersion: apps/v1, kind: Deployment, name: web}
  minReplicas: 2
  maxReplicas: 10
  metrics:
  - type: Resource
    resource:
      name: cpu
      target: {type: Utilization, averageUtilization: 50}
"#;

const SYNC: Duration = Duration::from_secs(15);

fn driver(manifests: &str) -> TestDriver {
    // Until the lead registers it in `default_controllers()`.
    let config = config_with(11, vec![Box::new(HorizontalPodAutoscalerController::new())]);
    let mut d = TestDriver::with_config(config);
    d.add_nodes(3);
    d.apply_yaml(manifests);
    d
}

/// Reports `cpu_millis` of use for every running pod of the Deployment, as the metrics server
/// would.
fn report_use(d: &mut TestDriver, cpu_millis: i64) {
    for name in running_pods(d) {
        d.cluster
            .handle(ClusterInput::PodMetrics {
                namespace: "default".into(),
                name,
                cpu_millis,
                memory_bytes: 32 << 20,
            })
            .expect("metrics are accepted");
    }
}

fn replicas(cluster: &Cluster) -> i32 {
    stored::<Deployment>(cluster, "default", "web")
        .spec
        .replicas
        .unwrap_or(1)
}

fn hpa(cluster: &Cluster) -> HorizontalPodAutoscaler {
    stored(cluster, "default", "web")
}

/// The names of the running pods that are not being deleted.
fn running_pods(d: &TestDriver) -> Vec<String> {
    d.pods("default")
        .into_iter()
        .filter(|p| p.phase() == PodPhase::Running && p.metadata.deletion_timestamp.is_none())
        .map(|p| p.metadata.name)
        .collect()
}

/// Runs `steps` sync periods reporting `cpu_millis` for every running pod at the start of each,
/// and returns every change of the Deployment's replicas as (time, old, new).
fn run_under(d: &mut TestDriver, cpu_millis: i64, steps: usize) -> Vec<(Time, i32, i32)> {
    let mut changes = Vec::new();
    let mut last = replicas(&d.cluster);
    for _ in 0..steps {
        report_use(d, cpu_millis);
        d.run_for_with(SYNC, |c| {
            let now = replicas(c);
            if now != last {
                changes.push((c.now(), last, now));
                last = now;
            }
        });
    }
    changes
}

#[test]
fn an_hpa_scales_a_deployment_up_under_load_and_down_after_the_stabilization_window() {
    let mut d = driver(APP);
    // The pods start; without metrics the autoscaler does nothing and says why.
    d.run_for(SYNC);
    assert_eq!(running_pods(&d).len(), 2);
    assert_eq!(replicas(&d.cluster), 2);
    let inactive = hpa(&d.cluster)
        .status
        .conditions
        .iter()
        .any(|c| c.reason == "FailedGetResourceMetric");
    assert!(
        inactive,
        "ScalingActive=False (FailedGetResourceMetric) without metrics"
    );

    // ANCHOR: up
    // High use: every pod at 200m, 100% of its request, twice the 50% target.
    let ups = run_under(&mut d, 200, 16);
    assert!(!ups.is_empty(), "it scaled up");
    for &(at, old, new) in &ups {
        assert!(new > old, "only up under load: {old} → {new} at {at:?}");
        // Without `behavior`: at most double (or 4) per sync, never above maxReplicas.
        assert!(
            new <= (2 * old).max(4),
            "{old} → {new} at {at:?} is too fast"
        );
        assert!(new <= 10, "above maxReplicas: {new}");
    }
    assert_eq!(ups[0].2, 4, "2 pods at twice the target → 4");
    assert_eq!(replicas(&d.cluster), 10, "reached maxReplicas");
    // ANCHOR_END: up
    assert_eq!(running_pods(&d).len(), 10);
    let events: Vec<String> = d
        .cluster
        .events()
        .events()
        .filter(|e| e.reason == "SuccessfulRescale")
        .map(|e| e.message.clone())
        .collect();
    assert_eq!(
        events[0],
        "New size: 4; reason: cpu resource utilization (percentage of request) above target"
    );
    let status = hpa(&d.cluster).status;
    assert_eq!(status.current_replicas, 10);
    assert_eq!(status.desired_replicas, 10);
    assert!(status
        .conditions
        .iter()
        .any(|c| c.reason == "TooManyReplicas"
            && c.status == flotilla_model::api::ConditionStatus::True));

    // ANCHOR: down
    // Low use: 20m, 10% of the request. The highest recommendation of the last 300 s holds the
    // Deployment at 10 until the last high one leaves the window. Use is reported right after
    // a sync, so the sync at `last_high` was the last to see high use.
    let last_high = d.now;
    let downs = run_under(&mut d, 20, 24);
    assert_eq!(downs.len(), 1, "one scale down: {downs:?}");
    let (at, old, new) = downs[0];
    assert_eq!((old, new), (10, 2), "down to minReplicas at once");
    // Without `behavior` a recommendation exactly 300 s old still counts (horizontal.go
    // stabilizeRecommendation): the first sync after that scales down.
    assert_eq!(
        at,
        last_high + Duration::from_secs(315),
        "scaled down at {at:?}"
    );
    // ANCHOR_END: down
    d.run_for(Duration::from_secs(30));
    assert_eq!(running_pods(&d).len(), 2);
    let events: Vec<String> = d
        .cluster
        .events()
        .events()
        .filter(|e| e.reason == "SuccessfulRescale")
        .map(|e| e.message.clone())
        .collect();
    assert_eq!(
        events.last().map(String::as_str),
        Some("New size: 2; reason: All metrics below target")
    );
}

#[test]
fn behavior_policies_pace_scaling_through_the_driver() {
    // One pod per 30 s up; down after a 60 s window, one pod per 30 s.
    let manifests = format!(
        "{APP}  behavior:\n    scaleUp:\n      policies:\n      - {{type: Pods, value: 1, periodSeconds: 30}}\n    \
         scaleDown:\n      stabilizationWindowSeconds: 60\n      policies:\n      - {{type: Pods, value: 1, periodSeconds: 30}}\n"
    );
    let mut d = driver(&manifests);
    d.run_for(SYNC);
    let ups = run_under(&mut d, 200, 20);
    assert!(ups.len() >= 3, "it kept scaling up: {ups:?}");
    for pair in ups.windows(2) {
        assert_eq!(pair[1].1 + 1, pair[1].2, "one pod at a time");
        assert!(pair[1].0 >= pair[0].0 + Duration::from_secs(30), "{pair:?}");
    }
    let top = replicas(&d.cluster);
    let last_high = d.now;
    let downs = run_under(&mut d, 20, 30);
    assert!(downs.len() >= 2, "it scaled down: {downs:?}");
    // With `behavior` only recommendations newer than the window count: 60 s after the last
    // high one.
    assert_eq!(downs[0].0, last_high + Duration::from_secs(60), "{downs:?}");
    for &(_, old, new) in &downs {
        assert_eq!(old, new + 1, "one pod at a time");
    }
    for pair in downs.windows(2) {
        assert!(pair[1].0 >= pair[0].0 + Duration::from_secs(30), "{pair:?}");
    }
    assert!(replicas(&d.cluster) < top);
    assert!(replicas(&d.cluster) >= 2, "never below minReplicas");
}
