//! RBAC inside the cluster: with `ClusterConfig::rbac`, every controller, the scheduler and
//! each kubelet write as their own system identities under the bootstrap roles, and users
//! write through `Cluster::apply_as`. The workloads of the other integration tests reach the
//! same end state with and without RBAC and no write is refused (least privilege holds for
//! what the components do); taking a controller's binding away stops it with a Forbidden
//! event; a user bound to `edit` in one namespace is confined to it; escalation is refused.

mod common;

use std::collections::{BTreeMap, BTreeSet};

use common::{pods_of, storage_config, Behaviour, TestDriver};
use flotilla_controllers::cluster::{ApplyOutcome, ClusterConfig, ClusterError, ClusterInput};
use flotilla_controllers::controller::EventType;
use flotilla_model::api::{PodPhase, RoleBinding, RoleRef, Subject};
use flotilla_model::auth::{self, UserInfo};
use flotilla_model::store::{DeleteOptions, ObjectKey, PropagationPolicy, StoreError};
use flotilla_model::{Duration, Kind, Object};

const WORKLOADS: &str = r#"
apiVersion: storage.k8s.io/v1
kind: StorageClass
metadata: {name: fast}
provisioner: flotilla.io/sim
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: web}
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
        resources:
          requests: {cpu: 200m, memory: 64Mi}
---
apiVersion: v1
kind: Service
metadata: {name: web}
spec:
  selector: {app: web}
  ports: [{port: 80}]
---
apiVersion: autoscaling/v2
kind: HorizontalPodAutoscaler
metadata: {name: web}
spec:
  scaleTargetRef: {apiVersion: apps/v1, kind: Deployment, name: web}
  minReplicas: 3
  maxReplicas: 6
  metrics:
  - type: Resource
    resource:
      name: cpu
      target: {type: Utilization, averageUtilization: 50}
---
apiVersion: batch/v1
kind: Job
metadata: {name: batch}
spec:
  completions: 3
  parallelism: 2
  template:
    spec:
      restartPolicy: Never
      containers:
      - {name: work, image: "worker:1"}
---
apiVersion: batch/v1
kind: Job
metadata: {name: short}
spec:
  ttlSecondsAfterFinished: 10
  template:
    spec:
      restartPolicy: Never
      containers:
      - {name: work, image: "worker:1"}
---
apiVersion: v1
kind: Service
metadata: {name: edge}
spec:
  type: LoadBalancer
  selector: {app: web}
  ports: [{port: 80}]
---
apiVersion: batch/v1
kind: CronJob
metadata: {name: tick}
spec:
  schedule: "*/1 * * * *"
  jobTemplate:
    spec:
      template:
        spec:
          restartPolicy: Never
          containers:
          - {name: tick, image: "worker:1"}
---
apiVersion: apps/v1
kind: DaemonSet
metadata: {name: agent}
spec:
  selector:
    matchLabels: {app: agent}
  template:
    metadata:
      labels: {app: agent}
    spec:
      containers:
      - {name: agent, image: "agent:1"}
---
apiVersion: apps/v1
kind: StatefulSet
metadata: {name: db}
spec:
  serviceName: db
  replicas: 2
  selector:
    matchLabels: {app: db}
  template:
    metadata:
      labels: {app: db}
    spec:
      containers:
      - name: db
        image: postgres:16
        volumeMounts: [{name: data, mountPath: /var/lib/postgresql}]
  volumeClaimTemplates:
  - metadata: {name: data}
    spec:
      accessModes: [ReadWriteOnce]
      storageClassName: fast
      resources: {requests: {storage: 1Gi}}
---
apiVersion: v1
kind: Namespace
metadata: {name: doomed}
---
apiVersion: v1
kind: ConfigMap
metadata: {name: settings, namespace: doomed}
data: {mode: fast}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: app, namespace: doomed}
spec:
  replicas: 2
  selector:
    matchLabels: {app: app}
  template:
    metadata:
      labels: {app: app}
    spec:
      containers:
      - {name: app, image: "nginx:1.27"}
"#;

fn config(seed: u64, rbac: bool) -> ClusterConfig {
    let mut config = storage_config(seed);
    config.rbac = rbac;
    config
}

fn driver(rbac: bool) -> TestDriver {
    let mut d = TestDriver::with_config(config(13, rbac));
    d.behaviours.insert(
        "worker:1".into(),
        Behaviour {
            run_for: Some(Duration::from_secs(5)),
            ..Default::default()
        },
    );
    d
}

/// Every refusal the components met: the store's count of refused writes, and the distinct
/// events (reconcile errors among them) whose message is a 403, as `source reason: what was
/// refused` (without the object's name, so that one refusal repeated on many pods is one line).
fn refusals(d: &TestDriver) -> (u64, BTreeSet<String>) {
    let events = d
        .cluster
        .events()
        .events()
        .filter_map(|e| {
            let (_, what) = e.message.split_once("is forbidden: ")?;
            Some(format!("{} {}: {what}", e.source, e.reason))
        })
        .collect();
    (d.cluster.store().denied_writes(), events)
}

/// The end state, in words that do not depend on generated names, uids or resourceVersions
/// (the bootstrap policy's objects shift the store's random stream).
fn summary(d: &TestDriver) -> Vec<String> {
    let store = d.cluster.store();
    let mut out = Vec::new();
    for kind in [
        Kind::Namespace,
        Kind::Deployment,
        Kind::StatefulSet,
        Kind::DaemonSet,
        Kind::Job,
        Kind::CronJob,
        Kind::HorizontalPodAutoscaler,
        Kind::PersistentVolumeClaim,
        Kind::Service,
        Kind::Node,
    ] {
        for object in store.iter_kind(kind) {
            let line = match object.as_ref() {
                Object::Namespace(n) => format!("namespace {} {:?}", n.metadata.name, n.status),
                Object::Deployment(x) => format!(
                    "deployment {}/{} spec={:?} replicas={} updated={} available={}",
                    x.metadata.namespace,
                    x.metadata.name,
                    x.spec.replicas,
                    x.status.replicas,
                    x.status.updated_replicas,
                    x.status.available_replicas
                ),
                Object::StatefulSet(x) => format!(
                    "statefulset {} ready={} replicas={}",
                    x.metadata.name, x.status.ready_replicas, x.status.replicas
                ),
                Object::DaemonSet(x) => format!(
                    "daemonset {} desired={} ready={}",
                    x.metadata.name, x.status.desired_number_scheduled, x.status.number_ready
                ),
                Object::Job(x) => format!(
                    "job {} succeeded={} failed={} active={}",
                    x.metadata.name, x.status.succeeded, x.status.failed, x.status.active
                ),
                Object::CronJob(x) => format!(
                    "cronjob {} last={:?}",
                    x.metadata.name, x.status.last_schedule_time
                ),
                Object::HorizontalPodAutoscaler(x) => format!(
                    "hpa {} desired={} current={}",
                    x.metadata.name, x.status.desired_replicas, x.status.current_replicas
                ),
                Object::PersistentVolumeClaim(x) => {
                    format!("pvc {} {:?}", x.metadata.name, x.status.phase)
                }
                Object::Service(x) => format!(
                    "service {}/{} {:?}",
                    x.metadata.namespace, x.metadata.name, x.status
                ),
                Object::Node(x) => format!(
                    "node {} ready={} taints={:?}",
                    x.metadata.name,
                    x.is_ready(),
                    x.spec
                        .taints
                        .iter()
                        .map(|t| t.to_string())
                        .collect::<Vec<_>>()
                ),
                other => format!("{:?}", other.kind()),
            };
            out.push(line);
        }
    }
    // ReplicaSets and EndpointSlices by count; pods by namespace, phase and readiness.
    let replica_sets: Vec<i32> = store
        .iter_kind(Kind::ReplicaSet)
        .filter_map(|o| match o.as_ref() {
            Object::ReplicaSet(rs) => Some(rs.spec.replicas.unwrap_or(1)),
            _ => None,
        })
        .collect();
    out.push(format!("replicasets {replica_sets:?}"));
    let mut ready_endpoints = 0;
    for object in store.iter_kind(Kind::EndpointSlice) {
        if let Object::EndpointSlice(slice) = object.as_ref() {
            ready_endpoints += slice
                .endpoints
                .iter()
                .filter(|e| e.conditions.ready == Some(true))
                .count();
        }
    }
    out.push(format!("ready endpoints {ready_endpoints}"));
    for namespace in ["default", "doomed"] {
        let mut phases: BTreeMap<String, usize> = BTreeMap::new();
        for pod in pods_of(&d.cluster, namespace) {
            let key = format!(
                "{namespace} {:?} ready={} deleting={}",
                pod.phase(),
                pod.is_ready(),
                pod.metadata.deletion_timestamp.is_some()
            );
            *phases.entry(key).or_default() += 1;
        }
        out.push(format!("pods {phases:?}"));
    }
    out
}

/// Reports `cpu_millis` of use for every running pod of `web`, as the metrics server would.
fn report_use(d: &mut TestDriver, cpu_millis: i64) {
    let names: Vec<String> = d
        .pods("default")
        .into_iter()
        .filter(|p| {
            p.metadata.labels.get("app").map(String::as_str) == Some("web")
                && p.phase() == PodPhase::Running
                && p.metadata.deletion_timestamp.is_none()
        })
        .map(|p| p.metadata.name)
        .collect();
    for name in names {
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

/// The other integration tests' workloads in one cluster: a Deployment rolled to a new image
/// behind a Service and scaled by an HPA under load, a Job, a CronJob, a DaemonSet, a
/// StatefulSet with claims provisioned on demand, a namespace deleted with its contents, a
/// node that fails and whose pods are evicted, and a cascading delete through the garbage
/// collector.
fn run_workloads(rbac: bool) -> TestDriver {
    let mut d = driver(rbac);
    d.add_nodes(3);
    d.apply_yaml(WORKLOADS);
    d.run_for(Duration::from_secs(60));
    d.apply_yaml(&WORKLOADS.replacen("image: nginx:1.27", "image: nginx:1.28", 1));
    for _ in 0..6 {
        report_use(&mut d, 180);
        d.run_for(Duration::from_secs(15));
    }
    d.cluster
        .delete(Kind::Namespace, "", "doomed", &DeleteOptions::default())
        .expect("the namespace exists");
    d.run_for(Duration::from_secs(60));
    d.cluster
        .handle(ClusterInput::NodeSilent {
            node: "node-2".into(),
        })
        .expect("node-2 exists");
    d.run_for(Duration::from_secs(400));
    d.cluster
        .delete(
            Kind::Job,
            "default",
            "batch",
            &DeleteOptions {
                propagation_policy: PropagationPolicy::Foreground,
                ..DeleteOptions::default()
            },
        )
        .expect("the job exists");
    d.run_for(Duration::from_secs(60));
    d
}

#[test]
fn the_workloads_reach_the_same_end_state_with_rbac_and_nothing_is_refused() {
    let with = run_workloads(true);
    let (denied, events) = refusals(&with);
    assert_eq!(
        (denied, events),
        (0, BTreeSet::new()),
        "last refusal: {:?}",
        with.cluster.store().last_denial()
    );
    let without = run_workloads(false);
    let expected = summary(&without);
    assert_eq!(summary(&with), expected);
    // The run did what it says (so that equality means something).
    let text = expected.join("\n");
    for fact in [
        // Rolled, then scaled up by the HPA under load.
        "deployment default/web spec=Some(6) replicas=6 updated=6 available=6",
        "replicasets [0, 6]",
        "hpa web desired=6",
        "ready endpoints 12",
        "job tick-",
        "daemonset agent desired=2 ready=2",
        "statefulset db",
        "pvc data-db-0 Some(Bound)",
        "pvc data-db-1 Some(Bound)",
        "node node-2 ready=false",
    ] {
        assert!(text.contains(fact), "{fact} not in\n{text}");
    }
    assert!(!text.contains("namespace doomed"), "{text}");
    assert!(!text.contains("job batch "), "the job is gone: {text}");
    assert!(!text.contains("job short "), "its TTL removed it: {text}");
    assert!(
        text.contains("service default/edge") && text.contains("ingress: [LoadBalancerIngress"),
        "{text}"
    );
}

/// The job controller takes its tracking finalizer off finished pods with a patch, as
/// job_controller.go `removeTrackingFinalizerPatch` does: within its role, which may patch
/// pods but not update them.
#[test]
fn the_job_controller_patches_its_finalizer_off_within_its_role() {
    let mut d = driver(true);
    d.add_nodes(1);
    d.apply_yaml(
        r#"
apiVersion: batch/v1
kind: Job
metadata: {name: batch}
spec:
  completions: 1
  template:
    spec:
      restartPolicy: Never
      containers:
      - {name: work, image: "worker:1"}
"#,
    );
    d.run_for(Duration::from_secs(30));
    let (denied, events) = refusals(&d);
    assert_eq!((denied, events), (0, BTreeSet::new()));
    let pods: Vec<_> = d
        .cluster
        .store()
        .iter_namespace(Kind::Pod, "default")
        .collect();
    assert_eq!(pods.len(), 1);
    assert!(
        pods[0].metadata().finalizers.is_empty(),
        "{:?}",
        pods[0].metadata().finalizers
    );
}

const WEB: &str = r#"
apiVersion: apps/v1
kind: Deployment
metadata: {name: web}
spec:
  replicas: 2
  selector:
    matchLabels: {app: web}
  template:
    metadata:
      labels: {app: web}
    spec:
      containers:
      - {name: web, image: "nginx:1.27"}
"#;

fn replica_sets(d: &TestDriver, namespace: &str) -> usize {
    d.cluster
        .store()
        .iter_namespace(Kind::ReplicaSet, namespace)
        .count()
}

#[test]
fn without_its_binding_the_deployment_controller_creates_no_replica_sets() {
    let mut d = driver(true);
    d.add_nodes(1);
    let binding = "system:controller:deployment-controller";
    let removed = d
        .cluster
        .store()
        .get(Kind::ClusterRoleBinding, "", binding)
        .expect("the bootstrap policy binds the deployment controller");
    d.cluster
        .delete(
            Kind::ClusterRoleBinding,
            "",
            binding,
            &DeleteOptions::default(),
        )
        .unwrap();
    d.apply_yaml(WEB);
    d.run_for(Duration::from_secs(60));
    assert_eq!(replica_sets(&d, "default"), 0);
    let key = ObjectKey {
        kind: Kind::Deployment,
        namespace: "default".into(),
        name: "web".into(),
    };
    let refused = "replicasets.apps is forbidden: User \
        \"system:serviceaccount:kube-system:deployment-controller\" cannot create resource \
        \"replicasets\" in API group \"apps\" in the namespace \"default\"";
    let warnings: BTreeSet<(String, String)> = d
        .cluster
        .events()
        .events_for(&key)
        .filter(|e| e.event_type == EventType::Warning)
        .map(|e| (e.reason.clone(), e.message.clone()))
        .collect();
    assert_eq!(
        warnings,
        BTreeSet::from([
            (
                "ReplicaSetCreateError".to_string(),
                format!("Failed to create new replica set \"web-6598877c79\": {refused}")
            ),
            ("ReconcileError".to_string(), refused.to_string()),
        ])
    );
    // Retried with the work queue's exponential back-off (5 ms doubling, as client-go's
    // default controller rate limiter), not on every poll: about 14 tries in 60 s.
    let retries = d
        .cluster
        .events()
        .events_for(&key)
        .filter(|e| e.reason == "ReconcileError")
        .count();
    assert!((5..20).contains(&retries), "{retries} retries in 60 s");

    // The binding back: the next retry goes through.
    let mut restored = (*removed).clone();
    restored.metadata_mut().resource_version.clear();
    d.cluster.apply(restored).unwrap();
    d.run_for(Duration::from_secs(120));
    assert_eq!(replica_sets(&d, "default"), 1);
    let running = d
        .pods("default")
        .iter()
        .filter(|p| p.phase() == PodPhase::Running)
        .count();
    assert_eq!(running, 2);
}

/// team-a and team-b, alice bound to `edit` in team-a and bob to `admin` there.
fn teams() -> TestDriver {
    let mut d = driver(true);
    d.add_nodes(1);
    d.apply_yaml(
        r#"
apiVersion: v1
kind: Namespace
metadata: {name: team-a}
---
apiVersion: v1
kind: Namespace
metadata: {name: team-b}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {name: alice-edit, namespace: team-a}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: edit}
subjects: [{kind: User, name: alice, apiGroup: rbac.authorization.k8s.io}]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {name: bob-admin, namespace: team-a}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: admin}
subjects: [{kind: User, name: bob, apiGroup: rbac.authorization.k8s.io}]
"#,
    );
    d
}

fn parse(yaml: &str) -> Object {
    let m = flotilla_model::manifest::parse_str("t.yaml", yaml).expect("valid manifest");
    m.objects.into_iter().next().expect("one object").object
}

fn in_namespace(yaml: &str, namespace: &str) -> Object {
    let mut object = parse(yaml);
    object.metadata_mut().namespace = namespace.into();
    object
}

fn forbidden(result: Result<impl std::fmt::Debug, ClusterError>) -> String {
    match result {
        Err(ClusterError::Store(StoreError::Forbidden(message))) => message,
        other => panic!("not refused: {other:?}"),
    }
}

#[test]
fn a_user_bound_to_edit_in_team_a_works_there_and_nowhere_else() {
    let mut d = teams();
    let alice = UserInfo::new("alice", &[auth::SYSTEM_AUTHENTICATED]);
    assert_eq!(
        d.cluster
            .apply_as(&alice, in_namespace(WEB, "team-a"))
            .unwrap(),
        ApplyOutcome::Created
    );
    assert_eq!(
        forbidden(d.cluster.apply_as(&alice, in_namespace(WEB, "team-b"))),
        "deployments.apps is forbidden: User \"alice\" cannot create resource \"deployments\" \
         in API group \"apps\" in the namespace \"team-b\""
    );
    assert_eq!(
        forbidden(d.cluster.apply_as(
            &alice,
            parse("apiVersion: v1\nkind: Namespace\nmetadata: {name: team-c}\n")
        )),
        "namespaces is forbidden: User \"alice\" cannot create resource \"namespaces\" in API \
         group \"\" at the cluster scope"
    );
    assert_eq!(
        forbidden(d.cluster.apply_as(
            &alice,
            parse("apiVersion: v1\nkind: Node\nmetadata: {name: node-9}\n")
        )),
        "nodes \"node-9\" is forbidden: User \"alice\" cannot create resource \"nodes\" in API \
         group \"\" at the cluster scope"
    );
    assert!(d.cluster.kubelet("node-9").is_none());
    // A second apply is a patch, which `edit` allows; the controllers then do their part as
    // their own identities.
    let scaled = in_namespace(&WEB.replace("replicas: 2", "replicas: 3"), "team-a");
    assert_eq!(
        d.cluster.apply_as(&alice, scaled).unwrap(),
        ApplyOutcome::Configured
    );
    d.run_for(Duration::from_secs(30));
    let running = pods_of(&d.cluster, "team-a")
        .iter()
        .filter(|p| p.phase() == PodPhase::Running)
        .count();
    assert_eq!(running, 3);
    // Two store writes were refused (the Node was refused before any write); none of the
    // components' writes was.
    assert_eq!(refusals(&d), (2, BTreeSet::new()));
    // Deleting follows the same rules.
    assert_eq!(
        forbidden(d.cluster.delete_as(
            &alice,
            Kind::Namespace,
            "",
            "team-a",
            &DeleteOptions::default()
        )),
        "namespaces \"team-a\" is forbidden: User \"alice\" cannot delete resource \
         \"namespaces\" in API group \"\" at the cluster scope"
    );
    d.cluster
        .delete_as(
            &alice,
            Kind::Deployment,
            "team-a",
            "web",
            &DeleteOptions::default(),
        )
        .unwrap();
    d.run_for(Duration::from_secs(30));
    assert!(pods_of(&d.cluster, "team-a").is_empty());
    // A user with no binding can do nothing.
    let nobody = UserInfo::new("nobody", &[auth::SYSTEM_AUTHENTICATED]);
    assert!(
        forbidden(d.cluster.apply_as(&nobody, in_namespace(WEB, "team-a")))
            .starts_with("deployments.apps is forbidden: User \"nobody\" cannot create")
    );
}

#[test]
fn a_role_binding_granting_more_than_its_author_holds_is_refused() {
    let mut d = teams();
    let bob = UserInfo::new("bob", &[auth::SYSTEM_AUTHENTICATED]);
    let binding = |name: &str, role: &str| {
        let mut b = RoleBinding::new(
            "team-a",
            name,
            RoleRef::cluster_role(role),
            vec![Subject::user("erin")],
        );
        b.metadata.namespace = "team-a".into();
        Object::from(b)
    };
    // bob holds admin in team-a, so he may hand out edit there…
    assert_eq!(
        d.cluster
            .apply_as(&bob, binding("erin-edit", "edit"))
            .unwrap(),
        ApplyOutcome::Created
    );
    // …but not cluster-admin.
    assert_eq!(
        forbidden(
            d.cluster
                .apply_as(&bob, binding("erin-root", "cluster-admin"))
        ),
        "rolebindings.rbac.authorization.k8s.io \"erin-root\" is forbidden: user \"bob\" \
         (groups=[\"system:authenticated\"]) is attempting to grant RBAC permissions not \
         currently held:\n{APIGroups:[\"*\"], Resources:[\"*\"], Verbs:[\"*\"]}\n\
         {NonResourceURLs:[\"*\"], Verbs:[\"*\"]}"
    );
    assert!(d
        .cluster
        .store()
        .get(Kind::RoleBinding, "team-a", "erin-root")
        .is_none());
    // Nor may alice (edit: no rolebindings at all) hand out even what she holds.
    let alice = UserInfo::new("alice", &[auth::SYSTEM_AUTHENTICATED]);
    assert_eq!(
        forbidden(d.cluster.apply_as(&alice, binding("erin-view", "view"))),
        "rolebindings.rbac.authorization.k8s.io is forbidden: User \"alice\" cannot create \
         resource \"rolebindings\" in API group \"rbac.authorization.k8s.io\" in the namespace \
         \"team-a\""
    );
}
