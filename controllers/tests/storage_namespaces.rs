//! Storage orchestration and namespaces through the test driver: claims bound and provisioned
//! before their pods start (Immediate and WaitForFirstConsumer), static volumes matched by size
//! and class, reclaim policies, a namespace deleted with everything in it, and a ResourceQuota
//! refusing the pod that would exceed it.

mod common;

use common::{object, storage_config, stored, Behaviour, TestDriver};
use flotilla_controllers::kubelet::RuntimeCommand;
use flotilla_controllers::persistent_volume::{ANN_SELECTED_NODE, LABEL_HOSTNAME};
use flotilla_model::api::{
    PersistentVolume, PersistentVolumeClaim, PersistentVolumeClaimPhase, PersistentVolumePhase,
    PodPhase, ResourceQuota,
};
use flotilla_model::store::DeleteOptions;
use flotilla_model::{Duration, Kind, Object, Quantity};

fn driver() -> TestDriver {
    let mut d = TestDriver::with_config(storage_config(7));
    d.add_nodes(2);
    d
}

fn claim(d: &TestDriver, ns: &str, name: &str) -> PersistentVolumeClaim {
    stored(&d.cluster, ns, name)
}

fn volume(d: &TestDriver, name: &str) -> Option<PersistentVolume> {
    object(&d.cluster, "", name)
}

/// When the sandbox of pod `name` was first asked for.
fn sandbox_time(d: &TestDriver, name: &str) -> Option<flotilla_model::Time> {
    d.commands.iter().find_map(|(t, _, c)| match c {
        RuntimeCommand::RunPodSandbox { pod } if pod.metadata.name == name => Some(*t),
        _ => None,
    })
}

fn pod_events(d: &TestDriver, name: &str) -> Vec<String> {
    d.cluster
        .events()
        .events()
        .filter(|e| e.object.kind == Kind::Pod && e.object.name == name)
        .map(|e| e.reason.clone())
        .collect()
}

fn pod_using(name: &str, claim: &str) -> String {
    format!(
        "
apiVersion: v1
kind: Pod
metadata: {{name: {name}}}
spec:
  containers: [{{name: app, image: postgres:16}}]
  volumes: [{{name: data, persistentVolumeClaim: {{claimName: {claim}}}}}]
"
    )
}

fn pvc(name: &str, size: &str, class: &str) -> String {
    format!(
        "
apiVersion: v1
kind: PersistentVolumeClaim
metadata: {{name: {name}}}
spec:
  accessModes: [ReadWriteOnce]
  storageClassName: {class}
  resources: {{requests: {{storage: {size}}}}}
"
    )
}

fn pv(name: &str, size: &str, class: &str, policy: &str) -> String {
    format!(
        "
apiVersion: v1
kind: PersistentVolume
metadata: {{name: {name}}}
spec:
  capacity: {{storage: {size}}}
  accessModes: [ReadWriteOnce]
  storageClassName: {class}
  persistentVolumeReclaimPolicy: {policy}
  hostPath: {{path: /srv/{name}}}
"
    )
}

const IMMEDIATE: &str = "
apiVersion: storage.k8s.io/v1
kind: StorageClass
metadata: {name: fast}
provisioner: flotilla.io/sim
";

const WAIT: &str = "
apiVersion: storage.k8s.io/v1
kind: StorageClass
metadata: {name: local}
provisioner: flotilla.io/sim
volumeBindingMode: WaitForFirstConsumer
";

fn assert_running(d: &TestDriver, name: &str) {
    let pod = d
        .pods("default")
        .into_iter()
        .find(|p| p.metadata.name == name)
        .unwrap_or_else(|| panic!("no pod {name}"));
    assert_eq!(pod.status.phase, Some(PodPhase::Running), "{name}");
}

#[test]
fn an_immediate_claim_is_provisioned_and_bound_before_its_pod_starts() {
    let mut d = driver();
    d.apply_yaml(&format!(
        "{IMMEDIATE}---{}---{}",
        pod_using("db", "data"),
        pvc("data", "2Gi", "fast")
    ));
    d.run_for(Duration::from_secs(10));
    assert_running(&d, "db");
    let c = claim(&d, "default", "data");
    assert_eq!(c.status.phase, Some(PersistentVolumeClaimPhase::Bound));
    let pv = volume(&d, c.spec.volume_name.as_deref().unwrap()).unwrap();
    assert_eq!(pv.status.phase, Some(PersistentVolumePhase::Bound));
    assert_eq!(pv.storage(), Some(&"2Gi".parse::<Quantity>().unwrap()));
    let bound_at = pv.status.last_phase_transition_time.unwrap();
    assert!(bound_at <= sandbox_time(&d, "db").unwrap());
    assert!(!pod_events(&d, "db").contains(&"FailedMount".to_string()));
}

// ANCHOR: wffc
#[test]
fn a_wait_for_first_consumer_claim_is_provisioned_on_the_pods_node_before_it_starts() {
    let mut d = driver();
    d.apply_yaml(&format!("{WAIT}---{}", pvc("data", "1Gi", "local")));
    d.run_for(Duration::from_secs(5));
    // Nothing happens without a consumer.
    assert_eq!(
        claim(&d, "default", "data").status.phase,
        Some(PersistentVolumeClaimPhase::Pending)
    );
    assert!(d
        .cluster
        .store()
        .iter_kind(Kind::PersistentVolume)
        .next()
        .is_none());
    d.apply_yaml(&pod_using("db", "data"));
    d.run_for(Duration::from_secs(10));
    assert_running(&d, "db");
    let node = d
        .pods("default")
        .into_iter()
        .find(|p| p.metadata.name == "db")
        .unwrap()
        .spec
        .node_name
        .clone();
    let c = claim(&d, "default", "data");
    assert_eq!(c.status.phase, Some(PersistentVolumeClaimPhase::Bound));
    assert_eq!(c.metadata.annotations.get(ANN_SELECTED_NODE), Some(&node));
    let pv = volume(&d, c.spec.volume_name.as_deref().unwrap()).unwrap();
    let term = &pv
        .spec
        .node_affinity
        .unwrap()
        .required
        .unwrap()
        .node_selector_terms[0];
    assert_eq!(term.match_expressions[0].key, LABEL_HOSTNAME);
    assert_eq!(term.match_expressions[0].values, vec![node]);
    let bound_at = pv.status.last_phase_transition_time.unwrap();
    assert!(bound_at <= sandbox_time(&d, "db").unwrap());
}
// ANCHOR_END: wffc

#[test]
fn a_static_volume_is_bound_by_size_and_class() {
    let mut d = driver();
    d.apply_yaml(&format!(
        "{}---{}---{}---{}",
        pv("pv-1g", "1Gi", "manual", "Retain"),
        pv("pv-5g", "5Gi", "manual", "Retain"),
        pv("pv-10g", "10Gi", "manual", "Retain"),
        pv("pv-other", "4Gi", "other", "Retain"),
    ));
    d.apply_yaml(&format!(
        "{}---{}",
        pvc("data", "4Gi", "manual"),
        pod_using("db", "data")
    ));
    d.run_for(Duration::from_secs(10));
    assert_running(&d, "db");
    assert_eq!(
        claim(&d, "default", "data").spec.volume_name.as_deref(),
        Some("pv-5g")
    );
    for free in ["pv-1g", "pv-10g", "pv-other"] {
        assert_eq!(
            volume(&d, free).unwrap().status.phase,
            Some(PersistentVolumePhase::Available)
        );
    }
}

#[test]
fn deleting_claims_applies_delete_and_retain() {
    let mut d = driver();
    d.apply_yaml(&format!(
        "{IMMEDIATE}---{}---{}---{}---{}---{}",
        pv("kept", "1Gi", "manual", "Retain"),
        pvc("scratch", "1Gi", "fast"),
        pvc("archive", "1Gi", "manual"),
        pod_using("a", "scratch"),
        pod_using("b", "archive"),
    ));
    d.run_for(Duration::from_secs(10));
    assert_running(&d, "a");
    assert_running(&d, "b");
    let provisioned = claim(&d, "default", "scratch").spec.volume_name.unwrap();
    assert!(volume(&d, &provisioned).is_some());
    for pod in ["a", "b"] {
        d.cluster
            .delete(Kind::Pod, "default", pod, &DeleteOptions::default())
            .unwrap();
    }
    d.run_for(Duration::from_secs(40));
    assert!(d.pods("default").is_empty());
    for c in ["scratch", "archive"] {
        d.cluster
            .delete(
                Kind::PersistentVolumeClaim,
                "default",
                c,
                &DeleteOptions::default(),
            )
            .unwrap();
    }
    d.run_for(Duration::from_secs(1));
    assert!(
        volume(&d, &provisioned).is_none(),
        "Delete removes the volume"
    );
    let kept = volume(&d, "kept").unwrap();
    assert_eq!(kept.status.phase, Some(PersistentVolumePhase::Released));
    assert_eq!(kept.spec.claim_ref.unwrap().name, "archive");
}

// ANCHOR: namespace
#[test]
fn a_namespace_is_deleted_with_everything_in_it() {
    let mut d = driver();
    d.apply_yaml(
        "
apiVersion: v1
kind: Namespace
metadata: {name: shop}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: web, namespace: shop}
spec:
  replicas: 2
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      containers: [{name: web, image: nginx:1.27}]
---
apiVersion: v1
kind: Service
metadata: {name: web, namespace: shop}
spec:
  selector: {app: web}
  ports: [{port: 80}]
---
apiVersion: v1
kind: ConfigMap
metadata: {name: settings, namespace: shop}
data: {mode: production}
",
    );
    d.run_for(Duration::from_secs(10));
    assert_eq!(d.pods("shop").len(), 2);
    assert!(d
        .pods("shop")
        .iter()
        .all(|p| p.status.phase == Some(PodPhase::Running)));
    d.cluster
        .delete(Kind::Namespace, "", "shop", &DeleteOptions::default())
        .unwrap();
    d.run_for(Duration::from_secs(2));
    assert!(
        d.cluster.store().get(Kind::Namespace, "", "shop").is_some(),
        "the namespace waits for its pods"
    );
    d.run_for(Duration::from_secs(60));
    let store = d.cluster.store();
    for kind in Kind::ALL.iter().filter(|k| k.namespaced()) {
        assert_eq!(
            store.iter_namespace(*kind, "shop").count(),
            0,
            "{kind:?} left"
        );
    }
    assert!(store.get(Kind::Namespace, "", "shop").is_none());
}
// ANCHOR_END: namespace

// ANCHOR: quota
#[test]
fn a_quota_of_two_pods_refuses_the_third_with_kubernetes_message() {
    let mut d = driver();
    d.behaviours.insert(
        "busybox:short".into(),
        Behaviour {
            run_for: Some(Duration::from_secs(5)),
            ..Default::default()
        },
    );
    d.apply_yaml(
        "
apiVersion: v1
kind: ResourceQuota
metadata: {name: q}
spec:
  hard: {pods: \"2\"}
",
    );
    let pod = |name: &str, image: &str| {
        format!(
            "apiVersion: v1\nkind: Pod\nmetadata: {{name: {name}}}\nspec:\n  restartPolicy: Never\n  containers: [{{name: c, image: \"{image}\"}}]\n"
        )
    };
    d.apply_yaml(&pod("one", "busybox:short"));
    d.apply_yaml(&pod("two", "nginx:1.27"));
    let third = flotilla_model::manifest::parse_str("x.yaml", &pod("x", "nginx:1.27")).unwrap();
    let err = d
        .cluster
        .apply(third.objects[0].object.clone())
        .expect_err("over quota");
    assert_eq!(
        err.to_string(),
        "pods \"x\" is forbidden: exceeded quota: q, requested: pods=1, used: pods=2, limited: pods=2"
    );
    let quota = |d: &TestDriver| match d
        .cluster
        .store()
        .get(Kind::ResourceQuota, "default", "q")
        .as_deref()
    {
        Some(Object::ResourceQuota(q)) => q.clone(),
        _ => panic!("no quota"),
    };
    let used = |q: &ResourceQuota| q.status.used.get("pods").copied();
    assert_eq!(
        used(&quota(&d)),
        Some(Quantity::from_value(2, Default::default()))
    );
    assert_eq!(quota(&d).status.hard, quota(&d).spec.hard);
    // The short pod finishes: it stops counting, and the third pod fits.
    d.run_for(Duration::from_secs(20));
    assert_eq!(
        used(&quota(&d)),
        Some(Quantity::from_value(1, Default::default()))
    );
    d.apply_yaml(&pod("x", "nginx:1.27"));
    assert_eq!(
        used(&quota(&d)),
        Some(Quantity::from_value(2, Default::default()))
    );
}
// ANCHOR_END: quota
