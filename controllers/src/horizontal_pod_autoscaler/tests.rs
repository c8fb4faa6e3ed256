//! The controller through the [`Harness`](crate::testing::Harness): a Deployment (or
//! StatefulSet) written by hand, its pods made ready by hand, and their use reported as the
//! driver would.

use super::*;
use crate::controller::PodUsage;
use crate::testing::Harness;
use flotilla_model::api::PodPhase;

const DEPLOYMENT: &str = r#"
apiVersion: apps/v1
kind: Deployment
metadata: {name: web, namespace: default}
spec:
  replicas: 2
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      containers:
      - name: web
        image: nginx:1.27
        resources: {requests: {cpu: 200m, memory: 100Mi}}
"#;

const HPA: &str = r#"
apiVersion: autoscaling/v2
kind: HorizontalPodAutoscaler
metadata: {name: web, namespace: default}
spec:
  scaleTargetRef: {apiVersion: apps/v1, kind: Deployment, name: web}
  minReplicas: 1
  maxReplicas: 10
  metrics:
  - type: Resource
    resource: {name: cpu, target: {type: Utilization, averageUtilization: 50}}
"#;

fn objects(yaml: &str) -> Vec<Object> {
    flotilla_model::manifest::parse_str("t.yaml", yaml)
        .unwrap()
        .objects
        .into_iter()
        .map(|m| m.object)
        .collect()
}

fn harness() -> Harness {
    let mut h = Harness::new(vec![Box::new(HorizontalPodAutoscalerController::new())]);
    h.now = Time::from_secs(1_000_000);
    h
}

/// Makes sure running, ready pods `web-0…web-{n-1}` exist, with the template's labels and
/// requests, started and ready an hour ago.
fn add_pods(h: &mut Harness, n: usize) {
    let Object::Deployment(d) = objects(DEPLOYMENT).remove(0) else {
        panic!("a deployment")
    };
    for i in 0..n {
        if h.pod("default", &format!("web-{i}")).is_some() {
            continue;
        }
        let mut pod = crate::pods::pod_from_template(
            &d.spec.template,
            Kind::Deployment,
            &d.metadata,
            "",
            Some(format!("web-{i}")),
        );
        pod.metadata.owner_references.clear();
        h.store.create(pod.into(), h.now).unwrap();
        let name = format!("web-{i}");
        h.bind("default", &name, "node-1");
        let now = h.now;
        h.now = now - Duration::from_secs(3600);
        h.set_pod_status("default", &name, PodPhase::Running, true);
        h.now = now;
    }
}

fn report(h: &mut Harness, cpu_millis: i64) {
    for pod in h.pods("default") {
        let usage = PodUsage {
            cpu_millis,
            memory_bytes: 50 << 20,
            timestamp: h.now,
        };
        h.manager
            .observed_mut()
            .set_pod_usage("default", &pod.metadata.name, usage);
    }
}

fn replicas(h: &Harness) -> i32 {
    match h.store.get(Kind::Deployment, "default", "web").as_deref() {
        Some(Object::Deployment(d)) => d.spec.replicas.unwrap_or(1),
        _ => panic!("no deployment"),
    }
}

fn hpa(h: &Harness) -> HorizontalPodAutoscaler {
    h.stored("default", "web")
}

fn condition(hpa: &HorizontalPodAutoscaler, t: ConditionType) -> (ConditionStatus, String) {
    let c = hpa
        .status
        .conditions
        .iter()
        .find(|c| c.type_ == t)
        .unwrap_or_else(|| panic!("no {t:?} condition"));
    (c.status, c.reason.clone())
}

fn events(h: &Harness) -> Vec<(String, String)> {
    h.recorder
        .events()
        .map(|e| (e.reason.clone(), e.message.clone()))
        .collect()
}

fn setup(hpa_yaml: &str, pods: usize) -> Harness {
    let mut h = harness();
    for o in objects(DEPLOYMENT) {
        h.apply(o).unwrap();
    }
    add_pods(&mut h, pods);
    report(&mut h, 200);
    for o in objects(hpa_yaml) {
        h.apply(o).unwrap();
    }
    h
}

#[test]
fn two_pods_at_twice_the_target_scale_the_deployment_to_four() {
    let h = setup(HPA, 2);
    assert_eq!(replicas(&h), 4);
    let a = hpa(&h);
    assert_eq!(a.status.current_replicas, 2);
    assert_eq!(a.status.desired_replicas, 4);
    assert_eq!(a.status.last_scale_time, Some(h.now));
    assert_eq!(a.status.observed_generation, Some(a.metadata.generation));
    let current = &a.status.current_metrics[0]
        .resource
        .as_ref()
        .unwrap()
        .current;
    assert_eq!(current.average_utilization, Some(100));
    assert_eq!(current.average_value, Some(Quantity::from_milli(200)));
    assert_eq!(
        condition(&a, ConditionType::AbleToScale),
        (ConditionStatus::True, "SucceededRescale".into())
    );
    assert_eq!(
        condition(&a, ConditionType::ScalingActive),
        (ConditionStatus::True, "ValidMetricFound".into())
    );
    assert_eq!(
        condition(&a, ConditionType::ScalingLimited),
        (ConditionStatus::False, "DesiredWithinRange".into())
    );
    assert!(events(&h).contains(&(
        "SuccessfulRescale".into(),
        "New size: 4; reason: cpu resource utilization (percentage of request) above target".into()
    )));
}

#[test]
fn the_autoscaler_syncs_every_15_seconds_and_holds_within_the_tolerance() {
    let mut h = setup(HPA, 2);
    assert_eq!(
        h.manager.next_wakeup(),
        Some(h.now + Duration::from_secs(15))
    );
    // The two new pods appear; all four at 52%: within 10% of 50%, nothing changes.
    add_pods(&mut h, 4);
    report(&mut h, 104);
    let version = h.store.resource_version();
    assert!(h.advance_to_next_wakeup(Duration::from_secs(15)));
    assert_eq!(replicas(&h), 4);
    let a = hpa(&h);
    assert_eq!(a.status.current_replicas, 4);
    assert_eq!(a.status.desired_replicas, 4);
    assert!(
        h.store.resource_version() > version,
        "the status shows the new use"
    );
    assert_eq!(
        condition(&a, ConditionType::AbleToScale),
        (ConditionStatus::True, "ReadyForNewScale".into())
    );
    // A status write of its own does not wake it before the period is over.
    assert_eq!(
        h.manager.next_wakeup(),
        Some(h.now + Duration::from_secs(15))
    );
}

#[test]
fn without_metrics_nothing_changes_and_scaling_is_inactive() {
    let mut h = harness();
    for o in objects(DEPLOYMENT) {
        h.apply(o).unwrap();
    }
    add_pods(&mut h, 2);
    for o in objects(HPA) {
        h.apply(o).unwrap();
    }
    assert_eq!(replicas(&h), 2);
    let a = hpa(&h);
    assert_eq!(
        condition(&a, ConditionType::ScalingActive),
        (ConditionStatus::False, "FailedGetResourceMetric".into())
    );
    let message = &a
        .status
        .conditions
        .iter()
        .find(|c| c.type_ == ConditionType::ScalingActive)
        .unwrap()
        .message;
    assert_eq!(
        message,
        "the HPA was unable to compute the replica count: failed to get cpu utilization: unable \
         to get metrics for resource cpu: no metrics returned from resource metrics API"
    );
    assert_eq!(a.status.current_replicas, 2);
    let reasons: Vec<String> = events(&h).into_iter().map(|(r, _)| r).collect();
    assert_eq!(
        reasons,
        ["FailedGetResourceMetric", "FailedComputeMetricsReplicas"]
    );
    // Metrics arrive: the next sync scales.
    report(&mut h, 200);
    h.advance(Duration::from_secs(15));
    assert_eq!(replicas(&h), 4);
    assert_eq!(
        condition(&hpa(&h), ConditionType::ScalingActive),
        (ConditionStatus::True, "ValidMetricFound".into())
    );
}

#[test]
fn replicas_outside_the_bounds_are_brought_back() {
    let mut h = setup(HPA, 2);
    assert_eq!(replicas(&h), 4);
    let Some(Object::Deployment(mut d)) = h
        .store
        .get(Kind::Deployment, "default", "web")
        .as_deref()
        .cloned()
    else {
        panic!()
    };
    d.spec.replicas = Some(12);
    h.store.update(d.into(), h.now).unwrap();
    h.advance(Duration::from_secs(15));
    assert_eq!(replicas(&h), 10);
    assert!(events(&h).contains(&(
        "SuccessfulRescale".into(),
        "New size: 10; reason: Current number of replicas above Spec.MaxReplicas".into()
    )));
}

#[test]
fn the_scale_up_is_capped_by_max_replicas() {
    // Two pods at 500% of target want 20; the legacy limit allows 4, then 8, then max 10.
    let mut h = setup(
        &HPA.replace("averageUtilization: 50", "averageUtilization: 10"),
        2,
    );
    assert_eq!(replicas(&h), 4);
    assert_eq!(
        condition(&hpa(&h), ConditionType::ScalingLimited),
        (ConditionStatus::True, "ScaleUpLimit".into())
    );
    add_pods(&mut h, 4);
    report(&mut h, 100);
    h.advance(Duration::from_secs(15));
    assert_eq!(replicas(&h), 8);
    add_pods(&mut h, 8);
    report(&mut h, 100);
    h.advance(Duration::from_secs(15));
    assert_eq!(replicas(&h), 10);
    assert_eq!(
        condition(&hpa(&h), ConditionType::ScalingLimited),
        (ConditionStatus::True, "TooManyReplicas".into())
    );
}

#[test]
fn behavior_policies_limit_the_rate() {
    let with_behavior = format!(
        "{HPA}  behavior:\n    scaleUp:\n      policies:\n      - {{type: Pods, value: 1, periodSeconds: 60}}\n"
    );
    let mut h = setup(&with_behavior, 2);
    assert_eq!(replicas(&h), 3, "one pod per minute");
    add_pods(&mut h, 3);
    report(&mut h, 200);
    for _ in 0..3 {
        h.advance(Duration::from_secs(15));
        assert_eq!(replicas(&h), 3, "within the minute");
    }
    h.advance(Duration::from_secs(15));
    assert_eq!(replicas(&h), 4, "a minute later");
    assert_eq!(
        condition(&hpa(&h), ConditionType::ScalingLimited),
        (ConditionStatus::True, "ScaleUpLimit".into())
    );
}

#[test]
fn the_largest_proposal_of_several_metrics_wins() {
    // CPU at 100% of a 50% target wants 4; memory at 50Mi against 10Mi average wants 10.
    let yaml = format!(
        "{HPA}  - type: Resource\n    resource: {{name: memory, target: {{type: AverageValue, averageValue: 10Mi}}}}\n"
    );
    let mut h = setup(&yaml, 2);
    assert_eq!(replicas(&h), 4, "the legacy limit: max(2 × 2, 4)");
    let a = hpa(&h);
    assert_eq!(a.status.current_metrics.len(), 2);
    let memory = a.status.current_metrics[1].resource.as_ref().unwrap();
    assert_eq!(memory.name, "memory");
    assert_eq!(
        memory.current.average_value,
        Some(Quantity::from_value(50 << 20, Default::default()))
    );
    assert!(events(&h).iter().any(|(r, m)| r == "SuccessfulRescale"
        && m == "New size: 4; reason: memory resource above target"));
    add_pods(&mut h, 4);
    report(&mut h, 200);
    h.advance(Duration::from_secs(15));
    assert_eq!(replicas(&h), 8);
}

#[test]
fn a_missing_or_unsupported_target_cannot_scale() {
    let mut h = harness();
    for o in objects(HPA) {
        h.apply(o).unwrap();
    }
    let a = hpa(&h);
    assert_eq!(
        condition(&a, ConditionType::AbleToScale),
        (ConditionStatus::False, "FailedGetScale".into())
    );
    assert_eq!(
        events(&h),
        [(
            "FailedGetScale".to_string(),
            "deployments.apps \"web\" not found".to_string()
        )]
    );
    for o in objects(&HPA.replace("kind: Deployment", "kind: DaemonSet")) {
        h.apply(o).unwrap();
    }
    assert_eq!(
        events(&h).last().unwrap().1,
        "no matches for kind \"DaemonSet\" in group \"apps\""
    );
}

#[test]
fn a_stateful_set_is_scaled_through_its_replicas() {
    let mut h = harness();
    let set = DEPLOYMENT
        .replace("kind: Deployment", "kind: StatefulSet")
        .replace("  replicas: 2\n", "  replicas: 2\n  serviceName: web\n");
    for o in objects(&set) {
        h.apply(o).unwrap();
    }
    add_pods(&mut h, 2);
    report(&mut h, 200);
    for o in objects(&HPA.replace("kind: Deployment", "kind: StatefulSet")) {
        h.apply(o).unwrap();
    }
    match h.store.get(Kind::StatefulSet, "default", "web").as_deref() {
        Some(Object::StatefulSet(s)) => assert_eq!(s.spec.replicas, Some(4)),
        _ => panic!("no stateful set"),
    }
}

#[test]
fn a_deleted_autoscaler_forgets_its_history() {
    let mut controller = HorizontalPodAutoscalerController::new();
    let key = ObjectKey {
        kind: Kind::HorizontalPodAutoscaler,
        namespace: "default".into(),
        name: "web".into(),
    };
    let mut h = setup(HPA, 2);
    h.store
        .delete(
            Kind::HorizontalPodAutoscaler,
            "default",
            "web",
            &Default::default(),
            h.now,
        )
        .unwrap();
    h.settle();
    // The harness's controller is boxed; reconcile a fresh one on the same store to see the
    // forgetting.
    controller
        .histories
        .insert(key.clone(), ("u".into(), History::default()));
    let mut recorder = crate::controller::EventRecorder::default();
    let mut rng = flotilla_model::rng::component_rng(0, HORIZONTAL_POD_AUTOSCALER);
    let observed = Observations::default();
    let index = crate::controller::OwnerIndex::new();
    let mut ctx = Context {
        store: &mut h.store,
        index: &index,
        observed: &observed,
        now: h.now,
        recorder: &mut recorder,
        rng: &mut rng,
        source: HORIZONTAL_POD_AUTOSCALER,
    };
    let action = controller.reconcile(&key, &mut ctx).unwrap();
    assert_eq!(action, Action::await_change());
    assert!(controller.history(&key).is_none());
}
