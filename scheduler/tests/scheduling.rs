//! The scheduler as a whole, driven like a real driver drives it: Nodes and Pods are written to a
//! [`Store`], the store's watch events are fed to [`Scheduler::handle_event`], and every
//! [`SchedulingOutcome`] is written back (a binding, or a `PodScheduled=False` condition), whose
//! events are fed back in turn. Time is explicit.
//!
//! Bindings go through the store's `pods/binding` subresource ([`Store::bind`]), which the
//! scheduler sees as one `Modified` event; preemption's victims are deleted through the store.

use flotilla_model::api::{ConditionStatus, Pod, PodCondition};
use flotilla_model::store::{DeleteOptions, Store, StoreConfig, WatchCursor};
use flotilla_model::{Duration, Kind, Object, Time};
use flotilla_scheduler::config::SchedulerConfig;
use flotilla_scheduler::plugins::default_registry;
use flotilla_scheduler::scheduler::{Scheduler, SchedulingOutcome};
use serde_json::{json, Value};
use std::collections::BTreeMap;

/// A store, a scheduler and the loop between them.
struct Cluster {
    store: Store,
    scheduler: Scheduler,
    cursor: WatchCursor,
    now: Time,
    /// Every outcome, in order.
    outcomes: Vec<SchedulingOutcome>,
}

const KINDS: [Kind; 6] = [
    Kind::Pod,
    Kind::Node,
    Kind::Namespace,
    Kind::Service,
    Kind::ReplicaSet,
    Kind::StatefulSet,
];

impl Cluster {
    fn new() -> Cluster {
        Cluster::with_config(None, 7)
    }

    fn with_config(yaml: Option<&str>, seed: u64) -> Cluster {
        let registry = default_registry();
        let config = match yaml {
            None => SchedulerConfig::default_with(&registry),
            Some(y) => SchedulerConfig::from_yaml(y, &registry),
        }
        .expect("valid configuration");
        let mut cluster = Cluster {
            store: Store::new(StoreConfig {
                seed,
                ..StoreConfig::default()
            }),
            scheduler: Scheduler::new(config, seed),
            cursor: WatchCursor::new(&KINDS, 0),
            now: Time::from_secs(100),
            outcomes: Vec::new(),
        };
        cluster.pump();
        cluster
    }

    /// Feeds the scheduler every store event it has not seen.
    fn pump(&mut self) {
        let events = self.store.watch(&mut self.cursor).expect("watch");
        for e in &events {
            self.scheduler.handle_event(e, self.now);
        }
    }

    fn create(&mut self, kind: Kind, value: Value) {
        let object = Object::from_value(kind, value).expect("object decodes");
        if let Err(e) = self.store.create(object, self.now) {
            panic!("create rejected: {e}");
        }
        self.pump();
    }

    fn node(&mut self, name: &str, cpu: &str, labels: Value) {
        let mut labels = labels;
        labels["kubernetes.io/hostname"] = json!(name);
        self.create(
            Kind::Node,
            json!({
                "metadata": {"name": name, "labels": labels},
                "status": {"allocatable": {"cpu": cpu, "memory": "16Gi", "pods": "110"}}
            }),
        );
    }

    /// A pod requesting `cpu`, with `extra` merged into its spec.
    fn pod(&mut self, name: &str, cpu: &str, extra: Value) {
        let mut spec = json!({
            "containers": [{"name": "c", "image": "app:1",
                "resources": {"requests": {"cpu": cpu, "memory": "100Mi"}}}]
        });
        merge(&mut spec, &extra);
        let labels = spec
            .as_object_mut()
            .and_then(|m| m.remove("labels"))
            .unwrap_or(json!({}));
        self.create(
            Kind::Pod,
            json!({"metadata": {"name": name, "namespace": "default", "labels": labels}, "spec": spec}),
        );
    }

    fn get_pod(&self, name: &str) -> Pod {
        match self.store.get(Kind::Pod, "default", name).as_deref() {
            Some(Object::Pod(p)) => p.clone(),
            other => panic!("no pod {name}: {other:?}"),
        }
    }

    /// The node a pod is bound to in the store ("" if none).
    fn node_of(&self, name: &str) -> String {
        self.get_pod(name).spec.node_name.clone()
    }

    /// The `PodScheduled=False` message the scheduler left on a pod.
    fn unschedulable_message(&self, name: &str) -> Option<String> {
        self.get_pod(name)
            .status
            .conditions
            .iter()
            .find(|c| c.r#type == PodCondition::POD_SCHEDULED && c.status == ConditionStatus::False)
            .map(|c| c.message.clone())
    }

    /// Writes a binding through the store's pods/binding subresource.
    fn bind(&mut self, namespace: &str, name: &str, node: &str) {
        self.store
            .bind(namespace, name, node, self.now)
            .expect("the binding is written");
        self.pump();
    }

    /// Carries out one outcome as a driver would.
    fn apply(&mut self, outcome: &SchedulingOutcome) {
        match outcome {
            SchedulingOutcome::Bind {
                namespace,
                name,
                node,
            } => self.bind(namespace, name, node),
            SchedulingOutcome::Preempt {
                namespace,
                name,
                nominated_node,
                victims,
                message,
            } => {
                // No kubelet here: the victims go at once (grace period 0).
                let now_options = DeleteOptions {
                    grace_period_seconds: Some(0),
                    ..DeleteOptions::default()
                };
                for (ns, victim) in victims {
                    self.store
                        .delete(Kind::Pod, ns, victim, &now_options, self.now)
                        .expect("victim deleted");
                }
                let Some(Object::Pod(mut pod)) = self
                    .store
                    .get(Kind::Pod, namespace, name)
                    .as_deref()
                    .cloned()
                else {
                    panic!("no pod {namespace}/{name}");
                };
                pod.status.nominated_node_name = nominated_node.clone();
                pod.status
                    .conditions
                    .retain(|c| c.r#type != PodCondition::POD_SCHEDULED);
                pod.status.conditions.push(PodCondition {
                    r#type: PodCondition::POD_SCHEDULED.into(),
                    status: ConditionStatus::False,
                    reason: "Unschedulable".into(),
                    message: message.clone(),
                    last_transition_time: Some(self.now),
                    ..PodCondition::default()
                });
                self.store
                    .update_status(pod.into(), self.now)
                    .expect("status written");
                self.pump();
            }
            SchedulingOutcome::Unschedulable {
                namespace,
                name,
                message,
            } => {
                let Some(Object::Pod(mut pod)) = self
                    .store
                    .get(Kind::Pod, namespace, name)
                    .as_deref()
                    .cloned()
                else {
                    panic!("no pod {namespace}/{name}");
                };
                pod.status
                    .conditions
                    .retain(|c| c.r#type != PodCondition::POD_SCHEDULED);
                pod.status.conditions.push(PodCondition {
                    r#type: PodCondition::POD_SCHEDULED.into(),
                    status: ConditionStatus::False,
                    reason: "Unschedulable".into(),
                    message: message.clone(),
                    last_transition_time: Some(self.now),
                    ..PodCondition::default()
                });
                self.store
                    .update_status(pod.into(), self.now)
                    .expect("status written");
                self.pump();
            }
        }
    }

    /// Schedules until the scheduler has nothing to do now; returns what it decided.
    fn run(&mut self) -> Vec<SchedulingOutcome> {
        let mut out = Vec::new();
        loop {
            self.pump();
            let Some(outcome) = self.scheduler.schedule_next(self.now) else {
                break;
            };
            self.apply(&outcome);
            out.push(outcome);
        }
        self.outcomes.extend(out.iter().cloned());
        out
    }

    fn advance_to(&mut self, t: Time) {
        assert!(t >= self.now);
        self.now = t;
    }

    fn delete_pod(&mut self, name: &str) {
        let options = DeleteOptions {
            grace_period_seconds: Some(0),
            ..DeleteOptions::default()
        };
        self.store
            .delete(Kind::Pod, "default", name, &options, self.now)
            .expect("deleted");
        self.pump();
    }

    /// Pods per node, from the store.
    fn placement(&self) -> BTreeMap<String, Vec<String>> {
        let mut out: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for o in self.store.iter_kind(Kind::Pod) {
            if let Object::Pod(p) = o.as_ref() {
                if !p.spec.node_name.is_empty() {
                    out.entry(p.spec.node_name.clone())
                        .or_default()
                        .push(p.metadata.name.clone());
                }
            }
        }
        out
    }
}

fn merge(target: &mut Value, extra: &Value) {
    if let (Some(t), Some(e)) = (target.as_object_mut(), extra.as_object()) {
        for (k, v) in e {
            t.insert(k.clone(), v.clone());
        }
    }
}

fn bound(name: &str, node: &str) -> SchedulingOutcome {
    SchedulingOutcome::Bind {
        namespace: "default".into(),
        name: name.into(),
        node: node.into(),
    }
}

fn unschedulable(name: &str, message: &str) -> SchedulingOutcome {
    SchedulingOutcome::Unschedulable {
        namespace: "default".into(),
        name: name.into(),
        message: message.into(),
    }
}

#[test]
fn a_pod_goes_to_the_least_allocated_node() {
    // least_allocated_test.go's nodes (4 and 6 CPUs, 10000 bytes of memory, as far as the
    // store's validation allows; here 16Gi): NodeResourcesFit and BalancedAllocation both
    // prefer the bigger node for a 3-CPU pod.
    let mut c = Cluster::new();
    c.node("n1", "4", json!({}));
    c.node("n2", "6", json!({}));
    c.pod("p", "3", json!({}));
    assert_eq!(c.run(), [bound("p", "n2")]);
    assert_eq!(c.node_of("p"), "n2");
}

#[test]
fn equal_pods_spread_over_equal_nodes() {
    let mut c = Cluster::new();
    for n in ["a", "b", "c"] {
        c.node(n, "4", json!({}));
    }
    for i in 0..6 {
        c.pod(&format!("p{i}"), "500m", json!({}));
    }
    let outcomes = c.run();
    assert_eq!(outcomes.len(), 6);
    let placement = c.placement();
    assert_eq!(
        placement.values().map(Vec::len).collect::<Vec<_>>(),
        [2, 2, 2],
        "{placement:?}"
    );
}

#[test]
fn taints_tolerations_and_node_affinity_decide_placement() {
    let mut c = Cluster::new();
    c.create(
        Kind::Node,
        json!({
            "metadata": {"name": "gpu", "labels": {"kind": "gpu"}},
            "spec": {"taints": [{"key": "dedicated", "value": "gpu", "effect": "NoSchedule"}]},
            "status": {"allocatable": {"cpu": "32", "memory": "64Gi", "pods": "110"}}
        }),
    );
    c.create(
        Kind::Node,
        json!({
            "metadata": {"name": "soft", "labels": {"kind": "cpu"}},
            "spec": {"taints": [{"key": "spot", "value": "true", "effect": "PreferNoSchedule"}]},
            "status": {"allocatable": {"cpu": "32", "memory": "64Gi", "pods": "110"}}
        }),
    );
    c.node("plain", "2", json!({"kind": "cpu"}));
    // No toleration: not on gpu; the PreferNoSchedule taint costs `soft` TaintToleration's 100×3
    // points, more than NodeResourcesFit and BalancedAllocation give it for its size.
    c.pod("web", "1", json!({}));
    // Tolerates the gpu taint and requires kind=gpu.
    c.pod(
        "trainer",
        "1",
        json!({
            "tolerations": [{"key": "dedicated", "operator": "Equal", "value": "gpu", "effect": "NoSchedule"}],
            "affinity": {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {
                "nodeSelectorTerms": [{"matchExpressions": [{"key": "kind", "operator": "In", "values": ["gpu"]}]}]
            }}}
        }),
    );
    assert_eq!(c.run(), [bound("web", "plain"), bound("trainer", "gpu")]);
}

#[test]
fn topology_spread_balances_zones() {
    let mut c = Cluster::new();
    c.node("a1", "8", json!({"topology.kubernetes.io/zone": "a"}));
    c.node("a2", "8", json!({"topology.kubernetes.io/zone": "a"}));
    c.node("b1", "8", json!({"topology.kubernetes.io/zone": "b"}));
    for i in 0..4 {
        c.pod(
            &format!("web-{i}"),
            "100m",
            json!({
                "labels": {"app": "web"},
                "topologySpreadConstraints": [{
                    "maxSkew": 1,
                    "topologyKey": "topology.kubernetes.io/zone",
                    "whenUnsatisfiable": "DoNotSchedule",
                    "labelSelector": {"matchLabels": {"app": "web"}}
                }]
            }),
        );
    }
    assert_eq!(c.run().len(), 4);
    let p = c.placement();
    let zone_a = p.get("a1").map_or(0, Vec::len) + p.get("a2").map_or(0, Vec::len);
    assert_eq!((zone_a, p["b1"].len()), (2, 2), "{p:?}");
}

#[test]
fn an_unschedulable_pod_gets_the_message_and_waits_for_a_node() {
    let mut c = Cluster::new();
    c.node("small", "1", json!({}));
    c.pod("big", "2", json!({}));
    let msg = "0/1 nodes are available: 1 Insufficient cpu. preemption: 0/1 nodes are available: 1 Preemption is not helpful for scheduling..";
    assert_eq!(c.run(), [unschedulable("big", msg)]);
    assert_eq!(c.unschedulable_message("big").as_deref(), Some(msg));
    assert_eq!(c.scheduler.queue().counts(), (0, 0, 1));

    // An event NodeResourcesFit does not care about leaves it waiting.
    c.advance_to(Time::from_secs(110));
    let Some(Object::Node(mut small)) = c.store.get(Kind::Node, "", "small").as_deref().cloned()
    else {
        panic!("node small");
    };
    small.metadata.labels.insert("team".into(), "a".into());
    c.store.update(small.into(), c.now).expect("label added");
    assert!(c.run().is_empty());
    assert_eq!(c.scheduler.queue().counts(), (0, 0, 1));

    // A node big enough moves it; its back-off (1 s after its one attempt, from t=100) is over.
    c.node("large", "4", json!({}));
    assert_eq!(c.run(), [bound("big", "large")]);
    assert_eq!(c.node_of("big"), "large");
    assert!(c.scheduler.queue().is_empty());
}

#[test]
fn a_pod_moved_during_its_back_off_waits_for_it_to_end() {
    let mut c = Cluster::new();
    c.node("small", "1", json!({}));
    c.pod("big", "2", json!({}));
    assert_eq!(c.run().len(), 1);
    // 300 ms after the failure a node arrives: the pod goes to backoff until t=101 s.
    c.advance_to(Time::from_millis(100_300));
    c.node("large", "4", json!({}));
    assert!(c.run().is_empty());
    assert_eq!(c.scheduler.queue().counts(), (0, 1, 0));
    assert_eq!(c.scheduler.next_wakeup(), Some(Time::from_secs(101)));
    c.advance_to(Time::from_millis(100_999));
    assert!(c.run().is_empty());
    c.advance_to(Time::from_secs(101));
    assert_eq!(c.run(), [bound("big", "large")]);
}

#[test]
fn an_unschedulable_pod_is_retried_after_five_minutes_anyway() {
    let mut c = Cluster::new();
    c.node("small", "1", json!({}));
    c.pod("big", "2", json!({}));
    assert_eq!(c.run().len(), 1);
    assert_eq!(c.scheduler.next_wakeup(), Some(Time::from_secs(400)));
    c.advance_to(Time::from_secs(399));
    assert!(c.run().is_empty());
    c.advance_to(Time::from_secs(400));
    let msg = "0/1 nodes are available: 1 Insufficient cpu. preemption: 0/1 nodes are available: 1 Preemption is not helpful for scheduling..";
    assert_eq!(c.run(), [unschedulable("big", msg)]);
    // Two attempts now: the next time limit is again 5 minutes after this failure.
    assert_eq!(c.scheduler.next_wakeup(), Some(Time::from_secs(700)));
}

#[test]
fn higher_priority_pods_are_scheduled_first() {
    let mut c = Cluster::new();
    for (name, value) in [("low", 10), ("high", 1000)] {
        c.create(
            Kind::PriorityClass,
            json!({"metadata": {"name": name}, "value": value}),
        );
    }
    c.node("only", "2", json!({}));
    // Both pending before the scheduler runs; the low one arrived first.
    c.pod("batch", "1500m", json!({"priorityClassName": "low"}));
    c.pod("web", "1500m", json!({"priorityClassName": "high"}));
    c.pod("web-2", "100m", json!({"priorityClassName": "high"}));
    assert_eq!(
        c.run(),
        [
            bound("web", "only"),
            bound("web-2", "only"),
            unschedulable("batch", "0/1 nodes are available: 1 Insufficient cpu. preemption: 0/1 nodes are available: 1 No preemption victims found for incoming pod.."),
        ]
    );
}

#[test]
fn scheduling_gates_hold_a_pod_until_removed() {
    let mut c = Cluster::new();
    c.node("n", "2", json!({}));
    c.pod(
        "gated",
        "1",
        json!({"schedulingGates": [{"name": "example.com/quota"}, {"name": "example.com/review"}]}),
    );
    assert!(c.run().is_empty());
    assert_eq!(c.scheduler.queue().counts(), (0, 0, 1));
    // Gated pods do not wait for the 5-minute flush.
    assert_eq!(c.scheduler.next_wakeup(), None);
    c.advance_to(Time::from_secs(1000));
    assert!(c.run().is_empty());

    let mut pod = c.get_pod("gated");
    pod.spec.scheduling_gates.remove(0);
    c.store.update(pod.into(), c.now).expect("a gate removed");
    assert!(c.run().is_empty(), "one gate left");

    let mut pod = c.get_pod("gated");
    pod.spec.scheduling_gates.clear();
    c.store
        .update(pod.into(), c.now)
        .expect("last gate removed");
    assert_eq!(c.run(), [bound("gated", "n")]);
}

#[test]
fn assumed_pods_count_before_their_binding_is_confirmed() {
    let mut c = Cluster::new();
    c.node("n", "2", json!({}));
    c.pod("a", "1500m", json!({}));
    c.pod("b", "1500m", json!({}));
    // Two decisions before any binding is written: the second sees the first's assumption.
    let first = c.scheduler.schedule_next(c.now).expect("a decision");
    let second = c.scheduler.schedule_next(c.now).expect("a decision");
    assert_eq!(first, bound("a", "n"));
    assert_eq!(
        second,
        unschedulable("b", "0/1 nodes are available: 1 Insufficient cpu. preemption: 0/1 nodes are available: 1 No preemption victims found for incoming pod..")
    );
    assert!(c.scheduler.cache().is_assumed("default/a"));
    c.apply(&first);
    c.apply(&second);
    assert!(!c.scheduler.cache().is_assumed("default/a"));
    assert_eq!(c.node_of("a"), "n");
    assert_eq!(c.node_of("b"), "");
}

#[test]
fn a_failed_binding_releases_the_node() {
    let mut c = Cluster::new();
    c.node("n", "2", json!({}));
    c.pod("a", "1500m", json!({}));
    c.pod("b", "1500m", json!({}));
    let first = c.scheduler.schedule_next(c.now).expect("a decision");
    assert_eq!(first, bound("a", "n"));
    let second = c.scheduler.schedule_next(c.now).expect("a decision");
    c.apply(&second);
    // The binding of `a` could not be written.
    c.scheduler.binding_failed("default", "a", c.now);
    assert!(!c.scheduler.cache().is_assumed("default/a"));
    // `b` was waiting on NodeResourcesFit; the freed room moves it (after its 1 s back-off),
    // and `a` backs off too (1 s after its failed attempt). `b` failed first, so it goes first.
    assert!(c.run().is_empty());
    c.advance_to(Time::from_secs(101));
    assert_eq!(
        c.run(),
        [
            bound("b", "n"),
            unschedulable("a", "0/1 nodes are available: 1 Insufficient cpu. preemption: 0/1 nodes are available: 1 No preemption victims found for incoming pod..")
        ]
    );
}

#[test]
fn deleting_a_bound_pod_frees_its_room() {
    let mut c = Cluster::new();
    c.node("n", "2", json!({}));
    c.pod("a", "1500m", json!({}));
    assert_eq!(c.run(), [bound("a", "n")]);
    c.pod("b", "1500m", json!({}));
    assert_eq!(
        c.run(),
        [unschedulable(
            "b",
            "0/1 nodes are available: 1 Insufficient cpu. preemption: 0/1 nodes are available: 1 No preemption victims found for incoming pod.."
        )]
    );
    c.advance_to(Time::from_secs(105));
    c.delete_pod("a");
    assert_eq!(c.run(), [bound("b", "n")]);
}

#[test]
fn a_terminating_pod_still_holds_its_room() {
    let mut c = Cluster::new();
    c.node("n", "2", json!({}));
    c.pod("a", "1500m", json!({}));
    assert_eq!(c.run(), [bound("a", "n")]);
    // A graceful delete: `a` keeps running (deletionTimestamp set) for its grace period.
    c.store
        .delete(Kind::Pod, "default", "a", &DeleteOptions::default(), c.now)
        .expect("deletion started");
    c.pod("b", "1500m", json!({}));
    assert_eq!(c.run().len(), 1);
    assert_eq!(c.node_of("b"), "");
}

#[test]
fn profiles_schedule_the_pods_that_name_them() {
    let mut c = Cluster::with_config(
        Some(
            r#"
apiVersion: kubescheduler.config.k8s.io/v1
kind: KubeSchedulerConfiguration
profiles:
- schedulerName: default-scheduler
- schedulerName: bin-packing
  plugins:
    score:
      disabled: [{name: "*"}]
      enabled: [{name: NodeResourcesFit}]
  pluginConfig:
  - name: NodeResourcesFit
    args: {scoringStrategy: {type: MostAllocated}}
"#,
        ),
        3,
    );
    c.node("busy", "4", json!({}));
    c.node("idle", "4", json!({}));
    c.pod("seed", "2", json!({"nodeName": "busy"}));
    c.pod("spread", "500m", json!({}));
    c.pod("packed", "500m", json!({"schedulerName": "bin-packing"}));
    c.pod(
        "elsewhere",
        "500m",
        json!({"schedulerName": "another-scheduler"}),
    );
    assert_eq!(c.run(), [bound("spread", "idle"), bound("packed", "busy")]);
    // No profile serves another-scheduler: the pod is left alone.
    assert_eq!(c.node_of("elsewhere"), "");
    assert!(c.scheduler.queue().is_empty());
}

#[test]
fn a_cluster_without_nodes_reports_it_and_waits() {
    let mut c = Cluster::new();
    c.pod("p", "1", json!({}));
    assert_eq!(
        c.run(),
        [unschedulable("p", "no nodes available to schedule pods")]
    );
    c.advance_to(Time::from_secs(102));
    c.node("n", "2", json!({}));
    assert_eq!(c.run(), [bound("p", "n")]);
}

#[test]
fn pods_bound_by_someone_else_are_counted_and_not_scheduled() {
    let mut c = Cluster::new();
    c.node("n1", "2", json!({}));
    c.node("n2", "2", json!({}));
    c.pod("static", "1500m", json!({"nodeName": "n1"}));
    c.pod("p", "1", json!({}));
    assert_eq!(c.run(), [bound("p", "n2")]);
}

#[test]
fn a_pod_deleted_while_waiting_leaves_the_queue() {
    let mut c = Cluster::new();
    c.node("small", "1", json!({}));
    c.pod("big", "2", json!({}));
    assert_eq!(c.run().len(), 1);
    c.delete_pod("big");
    assert!(c.scheduler.queue().is_empty());
    assert_eq!(c.scheduler.next_wakeup(), None);
}

#[test]
fn node_heartbeats_do_not_disturb_waiting_pods() {
    let mut c = Cluster::new();
    c.node("small", "1", json!({}));
    c.pod("big", "2", json!({}));
    assert_eq!(c.run().len(), 1);
    // A status update with only a condition changing.
    let Some(Object::Node(mut n)) = c.store.get(Kind::Node, "", "small").as_deref().cloned() else {
        panic!("node");
    };
    n.status
        .conditions
        .push(flotilla_model::api::NodeCondition {
            r#type: "Ready".into(),
            status: ConditionStatus::True,
            ..Default::default()
        });
    c.store.update_status(n.into(), c.now).expect("heartbeat");
    c.advance_to(c.now.saturating_add(Duration::from_secs(30)));
    assert!(c.run().is_empty());
    assert_eq!(c.scheduler.queue().counts(), (0, 0, 1));
}

#[test]
fn an_update_of_a_pod_being_bound_does_not_schedule_it_twice() {
    let mut c = Cluster::new();
    c.node("n", "2", json!({}));
    c.pod("a", "1", json!({}));
    let decision = c.scheduler.schedule_next(c.now).expect("a decision");
    assert_eq!(decision, bound("a", "n"));
    // Before the binding is written, someone labels the (still unbound) pod.
    let mut pod = c.get_pod("a");
    pod.metadata.labels.insert("touched".into(), "yes".into());
    c.store.update(pod.into(), c.now).expect("labelled");
    c.pump();
    assert!(c.scheduler.queue().is_empty());
    assert_eq!(c.scheduler.schedule_next(c.now), None);
    c.apply(&decision);
    assert_eq!(c.node_of("a"), "n");
}

#[test]
fn updating_an_unschedulable_pod_retries_it_after_its_back_off() {
    let mut c = Cluster::new();
    c.node("small", "1", json!({}));
    c.pod("big", "2", json!({}));
    assert_eq!(c.run().len(), 1);
    // A label change 500 ms later: retried once the 1 s back-off from t=100 is over, not at once.
    c.advance_to(Time::from_millis(100_500));
    let mut pod = c.get_pod("big");
    pod.metadata.labels.insert("app".into(), "x".into());
    c.store.update(pod.into(), c.now).expect("labelled");
    assert!(c.run().is_empty());
    assert_eq!(c.scheduler.queue().counts(), (0, 1, 0));
    c.advance_to(Time::from_secs(101));
    assert_eq!(c.run().len(), 1);
    // A status-only update (the scheduler's own condition) does not move it.
    assert_eq!(c.scheduler.queue().counts(), (0, 0, 1));
}

#[test]
fn each_profile_has_its_own_pre_enqueue_plugins() {
    let mut c = Cluster::with_config(
        Some(
            r#"
apiVersion: kubescheduler.config.k8s.io/v1
kind: KubeSchedulerConfiguration
profiles:
- schedulerName: default-scheduler
- schedulerName: ungated
  plugins:
    multiPoint:
      disabled: [{name: SchedulingGates}]
"#,
        ),
        1,
    );
    c.node("n", "2", json!({}));
    let gates = json!([{"name": "example.com/hold"}]);
    c.pod("held", "1", json!({"schedulingGates": gates.clone()}));
    c.pod(
        "free",
        "1",
        json!({"schedulingGates": gates, "schedulerName": "ungated"}),
    );
    // The `ungated` profile has no SchedulingGates plugin, so its pod is tried (its binding
    // would then be refused by the API server, which the driver reports with binding_failed).
    assert_eq!(c.scheduler.schedule_next(c.now), Some(bound("free", "n")));
    assert_eq!(c.scheduler.schedule_next(c.now), None);
    c.scheduler.binding_failed("default", "free", c.now);
    assert_eq!(c.scheduler.queue().counts(), (0, 1, 1));
}

#[test]
fn a_high_priority_pod_preempts_low_priority_pods_and_is_bound_later() {
    let mut c = Cluster::new();
    priority_classes(&mut c);
    c.node("n1", "2", json!({}));
    c.node("n2", "2", json!({}));
    // Both nodes full of low-priority pods; n2's are more important, so n1's go.
    c.pod(
        "low-1a",
        "1",
        json!({"priorityClassName": "p1", "nodeName": "n1"}),
    );
    c.pod(
        "low-1b",
        "1",
        json!({"priorityClassName": "p1", "nodeName": "n1"}),
    );
    c.pod(
        "low-2a",
        "1",
        json!({"priorityClassName": "p5", "nodeName": "n2"}),
    );
    c.pod(
        "low-2b",
        "1",
        json!({"priorityClassName": "p5", "nodeName": "n2"}),
    );
    let low_node = "n1".to_string();
    c.pod("high", "2", json!({"priorityClassName": "p100"}));
    let out = c.run();
    let [SchedulingOutcome::Preempt {
        nominated_node,
        victims,
        message,
        ..
    }] = out.as_slice()
    else {
        panic!("one preemption: {out:?}");
    };
    assert_eq!(*nominated_node, low_node);
    let mut victims = victims.clone();
    victims.sort();
    assert_eq!(
        victims,
        [
            ("default".to_string(), "low-1a".to_string()),
            ("default".to_string(), "low-1b".to_string())
        ]
    );
    assert_eq!(message, "0/2 nodes are available: 2 Insufficient cpu.");
    // The victims are gone; the pod, nominated there, is bound once its back-off ends.
    assert_eq!(c.get_pod("high").status.nominated_node_name, low_node);
    c.advance_to(c.now + Duration::from_secs(2));
    let out = c.run();
    assert_eq!(out, vec![bound("high", &low_node)]);
    assert_eq!(c.node_of("high"), low_node);
}

#[test]
fn a_pod_that_never_preempts_says_so() {
    let mut c = Cluster::new();
    priority_classes(&mut c);
    c.node("n", "1", json!({}));
    c.pod("low", "1", json!({"priorityClassName": "p1"}));
    c.run();
    c.pod("high", "1", json!({"priorityClassName": "p100-never"}));
    let out = c.run();
    assert_eq!(
        out,
        vec![unschedulable(
            "high",
            "0/1 nodes are available: 1 Insufficient cpu. preemption: not eligible due to preemptionPolicy=Never.."
        )]
    );
}

fn priority_classes(c: &mut Cluster) {
    for (name, value, policy) in [
        ("p1", 1, "PreemptLowerPriority"),
        ("p5", 5, "PreemptLowerPriority"),
        ("p100", 100, "PreemptLowerPriority"),
        ("p100-never", 100, "Never"),
    ] {
        c.create(
            Kind::PriorityClass,
            json!({"metadata": {"name": name}, "value": value, "preemptionPolicy": policy}),
        );
    }
}
