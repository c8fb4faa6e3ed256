//! Scenario tests of `Cluster` through the test driver: the ten steps of DESIGN.md, end to end,
//! with the scheduler, the controllers and the kubelets together.

mod common;

use common::{is_serving, pods_of, Behaviour, TestDriver};
use flotilla_controllers::cluster::{ApplyOutcome, Cluster};
use flotilla_controllers::pods::is_pod_active;
use flotilla_model::api::PodPhase;
use flotilla_model::store::{DeleteOptions, PropagationPolicy};
use flotilla_model::{Duration, Kind, Object};

const WEB: &str = r#"
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
spec:
  replicas: 3
  selector:
    matchLabels: {app: web}
  strategy:
    rollingUpdate: {maxSurge: 1, maxUnavailable: 1}
  template:
    metadata:
      labels: {app: web}
    spec:
      containers:
      - name: web
        image: nginx:1.27
        resources:
          requests: {cpu: 100m, memory: 64Mi}
"#;

fn running_ready(cluster: &Cluster, namespace: &str) -> usize {
    pods_of(cluster, namespace)
        .iter()
        .filter(|p| is_serving(p))
        .count()
}

fn web_with_image(image: &str) -> String {
    WEB.replace("nginx:1.27", image)
}

#[test]
fn a_deployment_of_three_replicas_runs_three_pods() {
    let mut d = TestDriver::new(1);
    d.add_nodes(2);
    d.apply_yaml(WEB);
    d.run_for(Duration::from_secs(30));
    let pods = d.pods("default");
    assert_eq!(pods.len(), 3, "{pods:#?}");
    for p in &pods {
        assert_eq!(p.phase(), PodPhase::Running);
        assert!(p.is_ready());
        assert!(!p.spec.node_name.is_empty());
        assert!(p.metadata.name.starts_with("web-"));
    }
    let Some(Object::Deployment(dep)) = d
        .cluster
        .store()
        .get(Kind::Deployment, "default", "web")
        .as_deref()
        .cloned()
    else {
        panic!("no deployment");
    };
    assert_eq!(dep.status.ready_replicas, 3);
    assert_eq!(dep.status.available_replicas, 3);
    assert_eq!(dep.status.updated_replicas, 3);
}

#[test]
fn an_image_change_rolls_within_max_surge_and_max_unavailable_and_rolls_back() {
    let mut d = TestDriver::new(2);
    d.add_nodes(3);
    d.apply_yaml(WEB);
    d.run_for(Duration::from_secs(30));
    assert_eq!(running_ready(&d.cluster, "default"), 3);

    d.apply_yaml(&web_with_image("nginx:1.28"));
    let mut max_active = 0;
    let mut min_ready = usize::MAX;
    d.run_for_with(Duration::from_secs(120), |c| {
        let pods = pods_of(c, "default");
        let active = pods.iter().filter(|p| is_pod_active(p)).count();
        max_active = max_active.max(active);
        min_ready = min_ready.min(running_ready(c, "default"));
    });
    // replicas + maxSurge, replicas - maxUnavailable.
    assert!(max_active <= 4, "at most 4 active pods, saw {max_active}");
    assert!(min_ready >= 2, "at least 2 ready pods, saw {min_ready}");
    let pods = d.pods("default");
    assert_eq!(pods.len(), 3);
    assert!(pods
        .iter()
        .all(|p| p.spec.containers[0].image == "nginx:1.28"));

    flotilla_controllers::deployment::rollback(
        d.cluster.store_mut(),
        "default",
        "web",
        None,
        d.now,
    )
    .expect("rollback to the previous revision");
    d.run_for(Duration::from_secs(120));
    let pods = d.pods("default");
    assert_eq!(pods.len(), 3);
    assert!(
        pods.iter()
            .all(|p| p.spec.containers[0].image == "nginx:1.27"),
        "{pods:#?}"
    );
}

#[test]
fn a_crashed_container_restarts_with_back_off() {
    let mut d = TestDriver::new(3);
    d.behaviours.insert(
        "crasher:1".into(),
        Behaviour {
            run_for: Some(Duration::from_secs(1)),
            exit_code: 1,
            ..Default::default()
        },
    );
    d.add_nodes(1);
    d.apply_yaml(
        r#"
apiVersion: v1
kind: Pod
metadata: {name: crash}
spec:
  containers:
  - {name: app, image: "crasher:1"}
"#,
    );
    d.run_for(Duration::from_secs(120));
    let pod = d.pods("default").remove(0);
    let status = &pod.status.container_statuses[0];
    // Runs of 1 s with back-offs of 10, 20, 40 s: about 4 restarts in two minutes.
    assert!(
        (3..=5).contains(&status.restart_count),
        "restart count {}",
        status.restart_count
    );
    let waiting = status.state.waiting.as_ref().map(|w| w.reason.as_str());
    let running = status.state.running.is_some();
    assert!(
        waiting == Some("CrashLoopBackOff") || running,
        "{status:#?}"
    );
    assert_eq!(
        status.last_state.terminated.as_ref().map(|t| t.exit_code),
        Some(1)
    );
}

#[test]
fn a_killed_container_of_a_deployment_is_restarted() {
    let mut d = TestDriver::new(4);
    d.add_nodes(1);
    d.apply_yaml(WEB);
    d.run_for(Duration::from_secs(30));
    let name = d.pods("default")[0].metadata.name.clone();
    d.crash_container("default", &name, "web");
    d.run_for(Duration::from_secs(30));
    let pod = d
        .pods("default")
        .into_iter()
        .find(|p| p.metadata.name == name)
        .expect("the pod is kept; its container restarts");
    assert_eq!(pod.status.container_statuses[0].restart_count, 1);
    assert_eq!(running_ready(&d.cluster, "default"), 3);
}

#[test]
fn a_deleted_pod_is_replaced() {
    let mut d = TestDriver::new(5);
    d.add_nodes(2);
    d.apply_yaml(WEB);
    d.run_for(Duration::from_secs(30));
    let victim = d.pods("default")[0].metadata.name.clone();
    d.cluster
        .delete(Kind::Pod, "default", &victim, &DeleteOptions::default())
        .expect("delete");
    d.run_for(Duration::from_secs(60));
    let pods = d.pods("default");
    assert_eq!(pods.len(), 3);
    assert!(pods.iter().all(|p| p.metadata.name != victim));
    assert_eq!(running_ready(&d.cluster, "default"), 3);
}

#[test]
fn a_job_of_ten_with_parallelism_three_completes() {
    let mut d = TestDriver::new(6);
    d.behaviours.insert(
        "worker:1".into(),
        Behaviour {
            run_for: Some(Duration::from_secs(5)),
            ..Default::default()
        },
    );
    d.add_nodes(2);
    d.apply_yaml(
        r#"
apiVersion: batch/v1
kind: Job
metadata: {name: batch}
spec:
  completions: 10
  parallelism: 3
  template:
    spec:
      restartPolicy: Never
      containers:
      - {name: work, image: "worker:1"}
"#,
    );
    let mut max_active = 0;
    d.run_for_with(Duration::from_secs(300), |c| {
        let active = pods_of(c, "default")
            .iter()
            .filter(|p| is_pod_active(p))
            .count();
        max_active = max_active.max(active);
    });
    assert!(max_active <= 3, "at most 3 active pods, saw {max_active}");
    let Some(Object::Job(job)) = d
        .cluster
        .store()
        .get(Kind::Job, "default", "batch")
        .as_deref()
        .cloned()
    else {
        panic!("no job");
    };
    assert_eq!(job.status.succeeded, 10);
    assert!(job.status.conditions.iter().any(|c| c.type_
        == flotilla_model::api::JobConditionType::Complete
        && c.status == flotilla_model::api::ConditionStatus::True));
}

#[test]
fn deleting_a_deployment_cascades_to_its_replica_sets_and_pods() {
    let mut d = TestDriver::new(7);
    d.add_nodes(2);
    d.apply_yaml(WEB);
    d.run_for(Duration::from_secs(30));
    assert_eq!(d.pods("default").len(), 3);
    d.cluster
        .delete(
            Kind::Deployment,
            "default",
            "web",
            &DeleteOptions {
                propagation_policy: PropagationPolicy::Foreground,
                ..Default::default()
            },
        )
        .expect("delete");
    d.run_for(Duration::from_secs(120));
    assert!(d.pods("default").is_empty(), "{:#?}", d.pods("default"));
    assert_eq!(
        d.cluster
            .store()
            .iter_namespace(Kind::ReplicaSet, "default")
            .count(),
        0
    );
    assert!(d
        .cluster
        .store()
        .get(Kind::Deployment, "default", "web")
        .is_none());
}

#[test]
fn apply_creates_then_configures_then_leaves_unchanged() {
    let mut d = TestDriver::new(8);
    let objects = flotilla_model::manifest::parse_str("web.yaml", WEB).expect("manifest");
    let dep = objects.objects[0].object.clone();
    assert_eq!(d.cluster.apply(dep.clone()).unwrap(), ApplyOutcome::Created);
    d.run_for(Duration::from_secs(1));
    assert_eq!(d.cluster.apply(dep).unwrap(), ApplyOutcome::Unchanged);
    let scaled =
        flotilla_model::manifest::parse_str("web.yaml", &WEB.replace("replicas: 3", "replicas: 5"))
            .expect("manifest")
            .objects
            .remove(0)
            .object;
    assert_eq!(d.cluster.apply(scaled).unwrap(), ApplyOutcome::Configured);
}

#[test]
fn create_stores_the_object_as_stated_and_refuses_a_second() {
    let mut d = TestDriver::new(8);
    d.add_nodes(2);
    let objects = flotilla_model::manifest::parse_str("web.yaml", WEB).expect("manifest");
    let dep = objects.objects[0].object.clone();
    let created = d.cluster.create(dep.clone()).expect("created");
    assert_eq!(created.metadata().namespace, "default");
    assert!(
        !created
            .metadata()
            .annotations
            .contains_key(flotilla_controllers::cluster::LAST_APPLIED_ANNOTATION),
        "create keeps no last-applied annotation"
    );
    let again = d.cluster.create(dep).expect_err("a second create");
    assert!(again.to_string().contains("already exists"), "{again}");
    d.run_for(Duration::from_secs(30));
    assert_eq!(running_ready(&d.cluster, "default"), 3);
    let node_name = d.cluster.node_names().next().expect("a node").to_string();
    let node = d
        .cluster
        .store()
        .get(Kind::Node, "", &node_name)
        .expect("node")
        .as_ref()
        .clone();
    let again = d.cluster.create(node).expect_err("an existing node");
    assert!(again.to_string().contains("already exists"), "{again}");
}

#[test]
fn the_same_seed_gives_the_same_history() {
    let run = |seed| {
        let mut d = TestDriver::new(seed);
        d.add_nodes(3);
        d.apply_yaml(WEB);
        d.run_for(Duration::from_secs(30));
        d.apply_yaml(&web_with_image("nginx:1.28"));
        d.run_for(Duration::from_secs(60));
        let names: Vec<String> = d
            .pods("default")
            .iter()
            .map(|p| format!("{} {}", p.metadata.name, p.spec.node_name))
            .collect();
        (
            names,
            d.commands.len(),
            d.cluster.store().resource_version(),
        )
    };
    assert_eq!(run(11), run(11));
}

#[test]
fn changing_a_running_pods_image_restarts_its_container_from_the_new_image() {
    let mut d = TestDriver::new(9);
    d.add_nodes(1);
    let pod = r#"
apiVersion: v1
kind: Pod
metadata: {name: solo}
spec:
  containers:
  - {name: app, image: "nginx:1.27"}
"#;
    d.apply_yaml(pod);
    d.run_for(Duration::from_secs(30));
    assert_eq!(d.pods("default")[0].phase(), PodPhase::Running);
    d.apply_yaml(&pod.replace("nginx:1.27", "nginx:1.28"));
    d.run_for(Duration::from_secs(60));
    let pod = d.pods("default").remove(0);
    let status = &pod.status.container_statuses[0];
    assert_eq!(status.image, "nginx:1.28", "{status:#?}");
    assert_eq!(status.restart_count, 1);
    assert!(status.state.running.is_some(), "{status:#?}");
    let started: Vec<String> = d
        .commands
        .iter()
        .filter_map(|(_, _, c)| match c {
            flotilla_controllers::kubelet::RuntimeCommand::StartContainer { pod, .. } => {
                Some(pod.spec.containers[0].image.clone())
            }
            _ => None,
        })
        .collect();
    assert_eq!(started, ["nginx:1.27", "nginx:1.28"]);
    assert!(d
        .cluster
        .events()
        .events()
        .any(|e| e.reason == "Killing" && e.message.contains("definition changed")));
}
