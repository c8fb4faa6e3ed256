//! Node failure and self-healing through the test driver: a node that goes silent is marked
//! unreachable and tainted, its pods are evicted after their 300 s toleration and replaced on
//! the other node; a node that comes back loses its taints; a drain respects the
//! PodDisruptionBudget; the disruption controller keeps the budget's counts.

mod common;

use common::{is_serving, pods_of, stored, TestDriver};
use flotilla_controllers::cluster::{Cluster, ClusterConfig, ClusterInput};
use flotilla_controllers::eviction::drain;
use flotilla_model::api::{ConditionStatus, Node, PodCondition, PodDisruptionBudget, TaintEffect};
use flotilla_model::{Duration, IntOrString};

const WEB: &str = r#"
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
          requests: {cpu: 100m, memory: 64Mi}
"#;

const PDB: &str = r#"
apiVersion: policy/v1
kind: PodDisruptionBudget
metadata:
  name: web-pdb
spec:
  minAvailable: 2
  selector:
    matchLabels: {app: web}
"#;

/// A driver whose cluster runs the default controllers, the self-healing ones among them.
fn driver(seed: u64) -> TestDriver {
    let config = ClusterConfig::new(seed);
    let names = [
        "node-lifecycle-controller",
        "taint-eviction-controller",
        "disruption-controller",
        "pod-garbage-collector",
    ];
    for name in names {
        assert!(
            config.controllers.iter().any(|c| c.name() == name),
            "{name} runs by default"
        );
    }
    TestDriver::with_config(config)
}

fn node(cluster: &Cluster, name: &str) -> Node {
    stored(cluster, "", name)
}

fn budget(cluster: &Cluster) -> PodDisruptionBudget {
    stored(cluster, "default", "web-pdb")
}

/// Active, running and ready pods per node.
fn serving_on(cluster: &Cluster, node: &str) -> usize {
    pods_of(cluster, "default")
        .iter()
        .filter(|p| p.spec.node_name == node && is_serving(p))
        .count()
}

fn taints(n: &Node) -> Vec<String> {
    let mut v: Vec<String> = n.spec.taints.iter().map(|t| t.to_string()).collect();
    v.sort();
    v
}

#[test]
fn a_silent_node_is_tainted_and_its_pods_move_after_300_seconds() {
    let mut d = driver(7);
    d.add_nodes(2);
    d.apply_yaml(WEB);
    d.run_for(Duration::from_secs(30));
    // The node that runs at least one of the pods fails; the other takes over.
    let pods = d.pods("default");
    assert_eq!(pods.len(), 2);
    let failed = pods[0].spec.node_name.clone();
    let healthy = if failed == "node-0" {
        "node-1"
    } else {
        "node-0"
    };
    let stranded: Vec<String> = pods
        .iter()
        .filter(|p| p.spec.node_name == failed)
        .map(|p| p.metadata.name.clone())
        .collect();
    assert!(!stranded.is_empty());
    // ANCHOR: silent
    let silent_at = d.now;
    d.cluster
        .handle(ClusterInput::NodeSilent {
            node: failed.clone(),
        })
        .unwrap();

    // Before the 50 s grace period ends nothing happens.
    d.run_for(Duration::from_secs(49));
    assert!(node(&d.cluster, &failed).is_ready());
    assert!(node(&d.cluster, &failed).spec.taints.is_empty());

    // Then it is Unknown, tainted unreachable, and its pods stop being ready.
    d.run_for(Duration::from_secs(2));
    let n = node(&d.cluster, &failed);
    let ready = n.condition("Ready").unwrap();
    assert_eq!(ready.status, ConditionStatus::Unknown);
    assert_eq!(ready.reason, "NodeStatusUnknown");
    assert_eq!(ready.message, "Kubelet stopped posting node status.");
    assert_eq!(
        taints(&n),
        [
            "node.kubernetes.io/unreachable:NoExecute",
            "node.kubernetes.io/unreachable:NoSchedule"
        ]
    );
    let tainted_at = n
        .spec
        .taints
        .iter()
        .find(|t| t.effect == TaintEffect::NoExecute)
        .and_then(|t| t.time_added)
        .unwrap();
    assert_eq!(tainted_at, silent_at + Duration::from_secs(50));
    // ANCHOR_END: silent
    for name in &stranded {
        let p = pods_of(&d.cluster, "default")
            .into_iter()
            .find(|p| &p.metadata.name == name)
            .unwrap();
        assert!(!p.is_ready(), "{name} is no longer ready");
        assert!(p.metadata.deletion_timestamp.is_none());
    }

    // Just before the pods' default 300 s toleration ends they are still there.
    d.run_for(Duration::from_secs(297));
    assert!(pods_of(&d.cluster, "default")
        .iter()
        .all(|p| p.metadata.deletion_timestamp.is_none()));

    // After it they are deleted; they stay Terminating (the node cannot confirm) and
    // replacements run on the healthy node.
    d.run_for(Duration::from_secs(60));
    let pods = d.pods("default");
    for name in &stranded {
        let p = pods.iter().find(|p| &p.metadata.name == name).unwrap();
        assert!(
            p.metadata.deletion_timestamp.is_some(),
            "{name} terminating"
        );
        let c = p.condition(PodCondition::DISRUPTION_TARGET).unwrap();
        assert_eq!(c.reason, "DeletionByTaintManager");
    }
    assert_eq!(serving_on(&d.cluster, healthy), 2, "{pods:#?}");
    assert_eq!(serving_on(&d.cluster, &failed), 0);

    // The node comes back: the taints go, Ready is True, and its kubelet finishes the
    // deletions.
    d.cluster
        .handle(ClusterInput::NodeRecovered {
            node: failed.clone(),
        })
        .unwrap();
    d.run_for(Duration::from_secs(60));
    let n = node(&d.cluster, &failed);
    assert!(n.is_ready());
    assert!(n.spec.taints.is_empty(), "{:?}", n.spec.taints);
    let names: Vec<String> = d
        .pods("default")
        .iter()
        .map(|p| p.metadata.name.clone())
        .collect();
    for name in &stranded {
        assert!(!names.contains(name), "{name} is gone");
    }
    assert_eq!(d.pods("default").len(), 2);
}

#[test]
fn a_drain_respects_the_disruption_budget() {
    let mut d = driver(11);
    d.add_nodes(2);
    d.apply_yaml(WEB);
    d.apply_yaml(PDB);
    d.run_for(Duration::from_secs(30));
    let b = budget(&d.cluster);
    assert_eq!(b.status.disruptions_allowed, 0);

    // minAvailable = replicas: every eviction is refused, but the node is cordoned.
    let target = d.pods("default")[0].spec.node_name.clone();
    let on_target = serving_on(&d.cluster, &target);
    // ANCHOR: drain
    let now = d.now;
    let out = drain(d.cluster.store_mut(), &target, now).unwrap();
    assert!(out.cordoned);
    assert!(out.evicted.is_empty());
    assert_eq!(out.refused.len(), on_target);
    for (_, e) in &out.refused {
        assert_eq!(e.code(), 429);
        assert_eq!(
            e.to_string(),
            "Cannot evict pod as it would violate the pod's disruption budget."
        );
    }
    // ANCHOR_END: drain
    d.run_for(Duration::from_secs(60));
    assert_eq!(serving_on(&d.cluster, &target), on_target, "nothing moved");
    assert!(node(&d.cluster, &target).spec.unschedulable);
    assert!(taints(&node(&d.cluster, &target))
        .contains(&"node.kubernetes.io/unschedulable:NoSchedule".to_string()));

    // With room for one disruption, repeated drains (as kubectl retries) empty the node one
    // pod at a time, each replacement going to the other node.
    let mut pdb = budget(&d.cluster);
    pdb.spec.min_available = Some(IntOrString::Int(1));
    pdb.metadata.resource_version.clear();
    d.cluster.store_mut().update(pdb.into(), now).unwrap();
    for _ in 0..10 {
        d.run_for(Duration::from_secs(10));
        let now = d.now;
        let out = drain(d.cluster.store_mut(), &target, now).unwrap();
        if out.is_complete() && serving_on(&d.cluster, &target) == 0 {
            break;
        }
    }
    d.run_for(Duration::from_secs(30));
    assert_eq!(serving_on(&d.cluster, &target), 0);
    let other = if target == "node-0" {
        "node-1"
    } else {
        "node-0"
    };
    assert_eq!(serving_on(&d.cluster, other), 2);
}

#[test]
fn the_budget_status_counts_expected_healthy_and_allowed() {
    let mut d = driver(3);
    d.add_nodes(2);
    d.apply_yaml(&WEB.replace("replicas: 2", "replicas: 3"));
    d.apply_yaml(&PDB.replace("minAvailable: 2", "maxUnavailable: 1"));
    d.run_for(Duration::from_secs(30));
    let b = budget(&d.cluster);
    let s = &b.status;
    assert_eq!(
        (
            s.expected_pods,
            s.current_healthy,
            s.desired_healthy,
            s.disruptions_allowed
        ),
        (3, 3, 2, 1)
    );
    assert_eq!(s.observed_generation, b.metadata.generation);
    let c = &s.conditions[0];
    assert_eq!(c.type_, "DisruptionAllowed");
    assert_eq!(c.status, ConditionStatus::True);
    assert_eq!(c.reason, "SufficientPods");
    // Scaling to 5 raises the expected pods and, once they are ready, the healthy ones.
    d.apply_yaml(&WEB.replace("replicas: 2", "replicas: 5"));
    d.run_for(Duration::from_secs(30));
    let s = budget(&d.cluster).status;
    assert_eq!(
        (
            s.expected_pods,
            s.current_healthy,
            s.desired_healthy,
            s.disruptions_allowed
        ),
        (5, 5, 4, 1)
    );
}
