//! Properties of the scheduler over random clusters:
//!
//! - no node is over-committed, whatever the order of node arrivals, pod arrivals, deletions,
//!   confirmed and failed bindings;
//! - decisions depend only on the inputs and the seed: the same run twice, or on one thread and
//!   on four, binds the same pods to the same nodes and explains them the same way;
//! - [`explain`] and [`schedule_pod`] agree at `percentageOfNodesToScore: 100`.
//!
//! A failing case prints its inputs (proptest shrinks them first).

use std::collections::BTreeMap;
use std::sync::Arc;

use flotilla_model::api::{Node, Pod};
use flotilla_model::store::{WatchEvent, WatchEventType};
use flotilla_model::{Object, SetDefaults, Time};
use flotilla_scheduler::config::{KubeSchedulerConfiguration, SchedulerConfig};
use flotilla_scheduler::node_info::PodInfo;
use flotilla_scheduler::plugins::default_registry;
use flotilla_scheduler::schedule::{explain, schedule_pod, ScheduleError, SchedulingCycleState};
use flotilla_scheduler::scheduler::{Scheduler, SchedulingOutcome};
use flotilla_scheduler::snapshot::Snapshot;
use proptest::prelude::*;
use serde_json::json;

/// A node of a random cluster.
#[derive(Clone, Debug)]
struct NodeSpec {
    milli_cpu: u32,
    mem_mi: u32,
    pods: u32,
    zone: u8,
    tier: u8,
    /// 0 none, 1 PreferNoSchedule, 2 NoSchedule (key `dedicated`).
    taint: u8,
}

/// A pod of a random cluster.
#[derive(Clone, Debug)]
struct PodSpec {
    milli_cpu: u32,
    mem_mi: u32,
    /// Require `tier` = this (0: no selector).
    tier: u8,
    tolerates: bool,
    /// Spread over zones (ScheduleAnyway) among pods of the same app.
    spread: bool,
    /// Prefer zone (0: no preference).
    prefer_zone: u8,
    app: u8,
    priority: i32,
}

fn node_spec() -> impl Strategy<Value = NodeSpec> {
    (
        prop::sample::select(vec![1000u32, 2000, 4000]),
        prop::sample::select(vec![1024u32, 4096]),
        1u32..6,
        0u8..3,
        0u8..2,
        prop::sample::select(vec![0u8, 0, 1, 2]),
    )
        .prop_map(|(milli_cpu, mem_mi, pods, zone, tier, taint)| NodeSpec {
            milli_cpu,
            mem_mi,
            pods,
            zone,
            tier,
            taint,
        })
}

fn pod_spec() -> impl Strategy<Value = PodSpec> {
    (
        (0u32..5).prop_map(|c| c * 300),
        (0u32..4).prop_map(|m| m * 512),
        prop::sample::select(vec![0u8, 0, 1, 2]),
        any::<bool>(),
        any::<bool>(),
        0u8..4,
        0u8..3,
        prop::sample::select(vec![0i32, 0, 100]),
    )
        .prop_map(
            |(milli_cpu, mem_mi, tier, tolerates, spread, prefer_zone, app, priority)| PodSpec {
                milli_cpu,
                mem_mi,
                tier,
                tolerates,
                spread,
                prefer_zone,
                app,
                priority,
            },
        )
}

fn make_node(i: usize, s: &NodeSpec) -> Node {
    let taints = match s.taint {
        1 => json!([{"key": "dedicated", "value": "x", "effect": "PreferNoSchedule"}]),
        2 => json!([{"key": "dedicated", "value": "x", "effect": "NoSchedule"}]),
        _ => json!([]),
    };
    let name = format!("node-{i}");
    serde_json::from_value(json!({
        "metadata": {"name": name, "labels": {
            "kubernetes.io/hostname": name,
            "topology.kubernetes.io/zone": format!("zone-{}", s.zone),
            "tier": format!("t{}", s.tier),
        }},
        "spec": {"taints": taints},
        "status": {"allocatable": {
            "cpu": format!("{}m", s.milli_cpu),
            "memory": format!("{}Mi", s.mem_mi),
            "pods": s.pods.to_string(),
        }}
    }))
    .expect("node decodes")
}

fn make_pod(i: usize, s: &PodSpec) -> Pod {
    let mut spec = json!({
        "containers": [{"name": "c", "image": format!("app-{}:1", s.app),
            "resources": {"requests": {
                "cpu": format!("{}m", s.milli_cpu),
                "memory": format!("{}Mi", s.mem_mi),
            }}}],
        "priority": s.priority,
    });
    if s.tier > 0 {
        spec["nodeSelector"] = json!({"tier": format!("t{}", s.tier - 1)});
    }
    if s.tolerates {
        spec["tolerations"] = json!([{"key": "dedicated", "operator": "Exists"}]);
    }
    if s.spread {
        spec["topologySpreadConstraints"] = json!([{
            "maxSkew": 1,
            "topologyKey": "topology.kubernetes.io/zone",
            "whenUnsatisfiable": "ScheduleAnyway",
            "labelSelector": {"matchLabels": {"app": format!("a{}", s.app)}}
        }]);
    }
    if s.prefer_zone > 0 {
        spec["affinity"] = json!({"nodeAffinity": {"preferredDuringSchedulingIgnoredDuringExecution": [{
            "weight": 10,
            "preference": {"matchExpressions": [{
                "key": "topology.kubernetes.io/zone", "operator": "In",
                "values": [format!("zone-{}", s.prefer_zone - 1)]
            }]}
        }]}});
    }
    let mut pod: Pod = serde_json::from_value(json!({
        "metadata": {"name": format!("pod-{i}"), "namespace": "default",
            "labels": {"app": format!("a{}", s.app)}},
        "spec": spec,
    }))
    .expect("pod decodes");
    pod.set_defaults();
    pod
}

fn event(event_type: WatchEventType, object: impl Into<Object>) -> WatchEvent {
    WatchEvent {
        event_type,
        object: Arc::new(object.into()),
        resource_version: 0,
    }
}

/// A step of a random run.
#[derive(Clone, Debug)]
enum Step {
    AddNode(NodeSpec),
    AddPod(PodSpec),
    /// Schedule what can be scheduled now.
    Schedule,
    /// Confirm the oldest unconfirmed binding (the store accepted it).
    Confirm,
    /// The oldest unconfirmed binding failed.
    FailBinding,
    /// Delete the bound pod at this position among the bound ones (modulo their number).
    DeleteBound(usize),
    /// Let this many seconds pass.
    Wait(u64),
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        2 => node_spec().prop_map(Step::AddNode),
        6 => pod_spec().prop_map(Step::AddPod),
        3 => Just(Step::Schedule),
        3 => Just(Step::Confirm),
        1 => Just(Step::FailBinding),
        1 => any::<usize>().prop_map(Step::DeleteBound),
        1 => (1u64..20).prop_map(Step::Wait),
    ]
}

/// What a run did: the outcomes in order, and the pods on each node at the end (confirmed and
/// still assumed).
struct Run {
    outcomes: Vec<SchedulingOutcome>,
    placed: BTreeMap<String, Vec<Pod>>,
    nodes: Vec<Node>,
}

fn scheduler(seed: u64, percentage: i32) -> Scheduler {
    let config = KubeSchedulerConfiguration {
        percentage_of_nodes_to_score: Some(percentage),
        ..KubeSchedulerConfiguration::default()
    };
    Scheduler::new(
        SchedulerConfig::from_config(&config, &default_registry()).expect("valid"),
        seed,
    )
}

/// Plays `steps`, then schedules until nothing is left to try (following the scheduler's
/// wake-ups for a while), confirming every binding.
fn play(steps: &[Step], seed: u64, percentage: i32) -> Run {
    let mut s = scheduler(seed, percentage);
    let mut now = Time::from_secs(1);
    let mut pods: BTreeMap<String, Pod> = BTreeMap::new();
    let mut nodes: Vec<Node> = Vec::new();
    // Bindings decided and not yet confirmed, oldest first; confirmed placements.
    let mut unconfirmed: Vec<(String, String)> = Vec::new();
    let mut confirmed: BTreeMap<String, String> = BTreeMap::new();
    let mut outcomes = Vec::new();
    let mut next_pod = 0;
    let schedule = |s: &mut Scheduler,
                    now: Time,
                    unconfirmed: &mut Vec<(String, String)>,
                    outcomes: &mut Vec<SchedulingOutcome>| {
        while let Some(o) = s.schedule_next(now) {
            if let SchedulingOutcome::Bind { name, node, .. } = &o {
                unconfirmed.push((name.clone(), node.clone()));
            }
            outcomes.push(o);
        }
    };
    let confirm = |s: &mut Scheduler,
                   now: Time,
                   pods: &BTreeMap<String, Pod>,
                   confirmed: &mut BTreeMap<String, String>,
                   (name, node): (String, String)| {
        let mut pod = pods[&name].clone();
        pod.spec.node_name = node.clone();
        s.handle_event(&event(WatchEventType::Modified, pod), now);
        confirmed.insert(name, node);
    };
    for st in steps {
        match st {
            Step::AddNode(spec) => {
                let node = make_node(nodes.len(), spec);
                s.handle_event(&event(WatchEventType::Added, node.clone()), now);
                nodes.push(node);
            }
            Step::AddPod(spec) => {
                let pod = make_pod(next_pod, spec);
                next_pod += 1;
                s.handle_event(&event(WatchEventType::Added, pod.clone()), now);
                pods.insert(pod.metadata.name.clone(), pod);
            }
            Step::Schedule => schedule(&mut s, now, &mut unconfirmed, &mut outcomes),
            Step::Confirm => {
                if !unconfirmed.is_empty() {
                    let b = unconfirmed.remove(0);
                    confirm(&mut s, now, &pods, &mut confirmed, b);
                }
            }
            Step::FailBinding => {
                if !unconfirmed.is_empty() {
                    let (name, _) = unconfirmed.remove(0);
                    s.binding_failed("default", &name, now);
                }
            }
            Step::DeleteBound(i) => {
                if !confirmed.is_empty() {
                    let name = confirmed.keys().nth(i % confirmed.len()).cloned();
                    if let Some(name) = name {
                        let node = confirmed.remove(&name).expect("bound");
                        let mut pod = pods.remove(&name).expect("known");
                        pod.spec.node_name = node;
                        s.handle_event(&event(WatchEventType::Deleted, pod), now);
                    }
                }
            }
            Step::Wait(secs) => {
                now = now.saturating_add(flotilla_model::Duration::from_secs(*secs))
            }
        }
    }
    // Drain: schedule, confirm everything, follow wake-ups a bounded number of times.
    for _ in 0..8 {
        schedule(&mut s, now, &mut unconfirmed, &mut outcomes);
        for b in std::mem::take(&mut unconfirmed) {
            confirm(&mut s, now, &pods, &mut confirmed, b);
        }
        match s.next_wakeup() {
            Some(t) if t > now => now = t,
            _ => {}
        }
    }
    let mut placed: BTreeMap<String, Vec<Pod>> = BTreeMap::new();
    for (name, node) in confirmed
        .iter()
        .chain(unconfirmed.iter().map(|(a, b)| (a, b)))
    {
        placed
            .entry(node.clone())
            .or_default()
            .push(pods[name].clone());
    }
    Run {
        outcomes,
        placed,
        nodes,
    }
}

fn quantity(node: &Node, resource: &str) -> i64 {
    let q = &node.status.allocatable[resource];
    if resource == "cpu" {
        q.milli_value()
    } else {
        q.value()
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 96, ..ProptestConfig::default() })]

    /// (a) Whatever happens, no node holds more than it can: Σ requests ≤ allocatable for CPU and
    /// memory, and no more pods than its `pods`.
    #[test]
    fn no_node_is_over_committed(
        steps in prop::collection::vec(step(), 1..60),
        seed in any::<u64>(),
        percentage in prop::sample::select(vec![0, 30, 100]),
    ) {
        let run = play(&steps, seed, percentage);
        for node in &run.nodes {
            let pods = run.placed.get(&node.metadata.name).map_or(&[][..], Vec::as_slice);
            let infos: Vec<PodInfo> = pods.iter().map(|p| PodInfo::new(Arc::new(p.clone()))).collect();
            let cpu: i64 = infos.iter().map(|p| p.requests.milli_cpu).sum();
            let mem: i64 = infos.iter().map(|p| p.requests.memory).sum();
            prop_assert!(cpu <= quantity(node, "cpu"), "{}: cpu {cpu} > {}", node.metadata.name, quantity(node, "cpu"));
            prop_assert!(mem <= quantity(node, "memory"), "{}: memory {mem}", node.metadata.name);
            prop_assert!(pods.len() as i64 <= quantity(node, "pods"), "{}: {} pods", node.metadata.name, pods.len());
        }
        // Nothing is placed on a node that does not exist.
        for name in run.placed.keys() {
            prop_assert!(run.nodes.iter().any(|n| &n.metadata.name == name));
        }
    }

    /// (b) The same inputs and seed give the same decisions, on one thread or four.
    #[test]
    fn decisions_do_not_depend_on_threads_or_repetition(
        steps in prop::collection::vec(step(), 1..50),
        seed in any::<u64>(),
        percentage in prop::sample::select(vec![0, 50, 100]),
    ) {
        let one = rayon::ThreadPoolBuilder::new().num_threads(1).build().expect("pool");
        let four = rayon::ThreadPoolBuilder::new().num_threads(4).build().expect("pool");
        let a = one.install(|| play(&steps, seed, percentage));
        let b = four.install(|| play(&steps, seed, percentage));
        let c = four.install(|| play(&steps, seed, percentage));
        prop_assert_eq!(&a.outcomes, &b.outcomes);
        prop_assert_eq!(&b.outcomes, &c.outcomes);
    }

    /// (b) Explanations too.
    #[test]
    fn explanations_do_not_depend_on_threads(
        nodes in prop::collection::vec(node_spec(), 1..12),
        running in prop::collection::vec((pod_spec(), any::<prop::sample::Index>()), 0..10),
        pod in pod_spec(),
        seed in any::<u64>(),
    ) {
        let (snapshot, info) = cluster(&nodes, &running, &pod);
        let config = SchedulerConfig::default_with(&default_registry()).expect("defaults");
        let profile = &config.profiles["default-scheduler"];
        let run = || {
            let mut rng = flotilla_model::rng::component_rng(seed, "scheduler");
            explain(profile, &snapshot, &info, &mut rng).expect("explained")
        };
        let one = rayon::ThreadPoolBuilder::new().num_threads(1).build().expect("pool");
        let four = rayon::ThreadPoolBuilder::new().num_threads(4).build().expect("pool");
        prop_assert_eq!(one.install(run), four.install(run));
    }

    /// (c) At 100%, explain and schedule_pod agree: from start index 0 on the same random
    /// stream they choose the same node; from any start index, schedule_pod's node has the best
    /// total of the explanation; both fail alike, with the same message.
    #[test]
    fn explain_and_schedule_pod_agree(
        nodes in prop::collection::vec(node_spec(), 1..12),
        running in prop::collection::vec((pod_spec(), any::<prop::sample::Index>()), 0..10),
        pod in pod_spec(),
        seed in any::<u64>(),
        start in any::<prop::sample::Index>(),
    ) {
        let (snapshot, info) = cluster(&nodes, &running, &pod);
        let config = SchedulerConfig::default_with(&default_registry()).expect("defaults");
        let profile = &config.profiles["default-scheduler"];
        let rng = flotilla_model::rng::component_rng(seed, "scheduler");
        let e = explain(profile, &snapshot, &info, &mut rng.clone()).expect("explained");
        let mut cycle = SchedulingCycleState { next_start_node_index: 0, rng: rng.clone() };
        let r = schedule_pod(profile, &snapshot, &info, 100, &mut cycle);
        match (&r, &e.selected) {
            (Ok(result), Some(selected)) => {
                prop_assert_eq!(&result.suggested_host, selected);
                prop_assert_eq!(result.feasible_nodes, e.nodes.iter().filter(|n| n.feasible).count());
            }
            (Err(ScheduleError::Unschedulable(fit)), None) => {
                prop_assert_eq!(fit.to_string(), e.message.clone());
            }
            _ => prop_assert!(false, "schedule_pod {:?} but explain {:?}", r, e),
        }
        // Another start index: the same best total.
        let mut cycle = SchedulingCycleState {
            next_start_node_index: start.index(snapshot.len()),
            rng,
        };
        if let Ok(result) = schedule_pod(profile, &snapshot, &info, 100, &mut cycle) {
            let best = e.nodes.iter().filter(|n| n.feasible).map(|n| n.total).max();
            let chosen = e.nodes.iter().find(|n| n.name == result.suggested_host).map(|n| n.total);
            prop_assert_eq!(chosen, best);
        }
    }
}

/// A snapshot of `nodes` with `running` pods bound to nodes chosen by index, and the pod to
/// place.
fn cluster(
    nodes: &[NodeSpec],
    running: &[(PodSpec, prop::sample::Index)],
    pod: &PodSpec,
) -> (Snapshot, PodInfo) {
    let nodes: Vec<Arc<Node>> = nodes
        .iter()
        .enumerate()
        .map(|(i, s)| Arc::new(make_node(i, s)))
        .collect();
    let pods: Vec<Arc<Pod>> = running
        .iter()
        .enumerate()
        .map(|(i, (s, at))| {
            let mut p = make_pod(100 + i, s);
            p.spec.node_name = nodes[at.index(nodes.len())].metadata.name.clone();
            Arc::new(p)
        })
        .collect();
    let snapshot = Snapshot::new(&nodes, &pods, &[]);
    (snapshot, PodInfo::new(Arc::new(make_pod(0, pod))))
}

/// Filtering runs in parallel chunks of 512 nodes: with more nodes than that, a small
/// percentage, and many equal nodes (ties), one thread and four still decide alike.
#[test]
fn large_clusters_decide_alike_on_any_thread_count() {
    let run = || {
        let mut s = scheduler(11, 5);
        let now = Time::from_secs(1);
        for i in 0..700 {
            let spec = NodeSpec {
                milli_cpu: 2000,
                mem_mi: 4096,
                pods: 3,
                zone: (i % 3) as u8,
                tier: (i % 2) as u8,
                taint: if i % 7 == 0 { 2 } else { 0 },
            };
            s.handle_event(&event(WatchEventType::Added, make_node(i, &spec)), now);
        }
        let mut outcomes = Vec::new();
        for i in 0..40 {
            let spec = PodSpec {
                milli_cpu: 300 * (i % 4) as u32,
                mem_mi: 512,
                tier: (i % 3) as u8,
                tolerates: false,
                spread: i % 2 == 0,
                prefer_zone: (i % 4) as u8,
                app: (i % 3) as u8,
                priority: 0,
            };
            s.handle_event(&event(WatchEventType::Added, make_pod(i, &spec)), now);
            while let Some(o) = s.schedule_next(now) {
                outcomes.push(o);
            }
        }
        outcomes
    };
    let one = rayon::ThreadPoolBuilder::new()
        .num_threads(1)
        .build()
        .expect("pool");
    let four = rayon::ThreadPoolBuilder::new()
        .num_threads(4)
        .build()
        .expect("pool");
    let a = one.install(run);
    let b = four.install(run);
    assert_eq!(a.len(), 40);
    assert_eq!(a, b);
}
