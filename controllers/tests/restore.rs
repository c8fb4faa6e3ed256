//! Restoring a cluster from its persisted objects (single-host mode's restart, issue 8): the
//! store comes back with `Store::restore`, the components with `Cluster::restore`, the node with
//! `add_node`, and a fresh, empty runtime runs the pods again without any controller replacing
//! them.

mod common;

use std::collections::BTreeSet;

use common::TestDriver;
use flotilla_controllers::cluster::{ApplyOutcome, Cluster, ClusterConfig};
use flotilla_model::api::{Pod, PodPhase, ReplicaSet, Service};
use flotilla_model::store::{Store, StoreConfig};
use flotilla_model::{Duration, Kind, Object};

const SEED: u64 = 11;

const DEPLOYMENT: &str = r#"
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
spec:
  replicas: 3
  selector:
    matchLabels: {app: web}
  template:
    metadata:
      labels: {app: web}
    spec:
      containers:
      - name: web
        image: nginx:1.27
        ports: [{name: http, containerPort: 8080}]
"#;

const SERVICE: &str = r#"
apiVersion: v1
kind: Service
metadata:
  name: web
spec:
  selector: {app: web}
  type: NodePort
  ports:
  - {name: http, port: 80, targetPort: http}
"#;

const OTHER_SERVICE: &str = r#"
apiVersion: v1
kind: Service
metadata:
  name: other
spec:
  selector: {app: other}
  ports:
  - {port: 80}
"#;

fn apply(cluster: &mut Cluster, yaml: &str) -> Vec<ApplyOutcome> {
    let manifests = flotilla_model::manifest::parse_str("test.yaml", yaml).expect("valid");
    manifests
        .objects
        .into_iter()
        .map(|m| cluster.apply(m.object).expect("apply"))
        .collect()
}

fn everything(store: &Store) -> Vec<Object> {
    Kind::ALL
        .iter()
        .flat_map(|k| store.iter_kind(*k))
        .map(|o| (**o).clone())
        .collect()
}

fn names<T: flotilla_model::Resource>(items: &[T]) -> BTreeSet<String> {
    items.iter().map(|i| i.metadata().name.clone()).collect()
}

fn replica_sets(cluster: &Cluster) -> Vec<ReplicaSet> {
    cluster
        .store()
        .iter_kind(Kind::ReplicaSet)
        .filter_map(|o| match &**o {
            Object::ReplicaSet(rs) => Some((**rs).clone()),
            _ => None,
        })
        .collect()
}

fn running(pods: &[Pod]) -> bool {
    pods.iter().all(|p| {
        p.phase() == PodPhase::Running
            && p.metadata.deletion_timestamp.is_none()
            && p.status
                .container_statuses
                .iter()
                .all(|c| c.state.running.is_some())
    })
}

#[test]
fn a_restored_cluster_runs_the_same_pods_again() {
    let mut before = TestDriver::new(SEED);
    before.add_nodes(1);
    before.apply_yaml(DEPLOYMENT);
    before.apply_yaml(SERVICE);
    before.run_for(Duration::from_secs(60));
    let old_pods = before.pods("default");
    assert_eq!(old_pods.len(), 3);
    assert!(running(&old_pods), "{old_pods:#?}");
    let old_service: Service = common::stored(&before.cluster, "default", "web");
    let old_rs = names(&replica_sets(&before.cluster));

    // What the state log would hold, restored in a new process with an empty runtime.
    let store = Store::restore(
        StoreConfig {
            seed: SEED,
            kubernetes_service: true,
            ..StoreConfig::default()
        },
        everything(before.cluster.store()),
        before.cluster.store().resource_version(),
    )
    .expect("a store's own objects restore");
    let mut after = TestDriver::new(SEED);
    after.now = before.now + Duration::from_secs(30);
    after.cluster = Cluster::restore(ClusterConfig::new(SEED), store);
    after.cluster.poll(after.now);
    after.add_nodes(1);
    after.run_for(Duration::from_secs(60));

    // The same pods, none replaced, running again after one restart each.
    let pods = after.pods("default");
    assert_eq!(names(&pods), names(&old_pods));
    assert!(running(&pods), "{pods:#?}");
    for (old, new) in old_pods.iter().zip(&pods) {
        assert_eq!(new.metadata.uid, old.metadata.uid);
        let restarts = |p: &Pod| p.status.container_statuses[0].restart_count;
        assert_eq!(restarts(new), restarts(old) + 1, "{}", new.metadata.name);
        let last = new.status.container_statuses[0]
            .last_state
            .terminated
            .as_ref();
        assert_eq!(
            last.map(|t| (t.reason.as_str(), t.exit_code)),
            Some(("ContainerStatusUnknown", 137)),
            "{}",
            new.metadata.name
        );
    }
    assert_eq!(names(&replica_sets(&after.cluster)), old_rs);
    // The kubelet started them in a new sandbox each.
    let sandboxes = after
        .commands
        .iter()
        .filter(|(_, _, c)| {
            matches!(
                c,
                flotilla_controllers::kubelet::RuntimeCommand::RunPodSandbox { .. }
            )
        })
        .count();
    assert_eq!(sandboxes, 3);

    // The Node was taken over, not created again.
    let node: flotilla_model::api::Node = common::stored(&after.cluster, "", "node-0");
    let old_node: flotilla_model::api::Node = common::stored(&before.cluster, "", "node-0");
    assert_eq!(node.metadata.uid, old_node.metadata.uid);

    // The Service keeps its address; its endpoints follow the restarted pods.
    let service: Service = common::stored(&after.cluster, "default", "web");
    assert_eq!(service.spec.cluster_ip, old_service.spec.cluster_ip);
    assert_eq!(service.spec.ports, old_service.spec.ports);
    let ready_endpoints: usize = after
        .cluster
        .store()
        .iter_kind(Kind::EndpointSlice)
        .filter_map(|o| match &**o {
            Object::EndpointSlice(s)
                if s.metadata.labels.get("kubernetes.io/service-name")
                    == Some(&"web".to_string()) =>
            {
                Some(
                    s.endpoints
                        .iter()
                        .filter(|e| e.conditions.ready == Some(true))
                        .count(),
                )
            }
            _ => None,
        })
        .sum();
    assert_eq!(ready_endpoints, 3);

    // Applying the same manifests again changes nothing.
    assert_eq!(
        apply(&mut after.cluster, DEPLOYMENT),
        vec![ApplyOutcome::Unchanged]
    );
    assert_eq!(
        apply(&mut after.cluster, SERVICE),
        vec![ApplyOutcome::Unchanged]
    );
    // A new Service gets an address no restored one holds.
    assert_eq!(
        apply(&mut after.cluster, OTHER_SERVICE),
        vec![ApplyOutcome::Created]
    );
    let other: Service = common::stored(&after.cluster, "default", "other");
    let held: BTreeSet<Option<String>> = before
        .cluster
        .store()
        .iter_kind(Kind::Service)
        .filter_map(|o| match &**o {
            Object::Service(s) => Some(s.spec.cluster_ip.clone()),
            _ => None,
        })
        .collect();
    assert!(other.spec.cluster_ip.is_some());
    assert!(!held.contains(&other.spec.cluster_ip), "{held:?}");
    after.run_for(Duration::from_secs(10));
    assert_eq!(names(&after.pods("default")), names(&old_pods));
}
