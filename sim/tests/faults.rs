//! Faults, offered load and rate curves in whole runs: crashes evict and reschedule after the
//! node lifecycle's 50 s and the taint toleration's 300 s, partitions keep containers running,
//! zones go down and come back, MTBF/MTTR failures repeat with their seed, the HPA follows a
//! load spike, a rate curve shapes arrivals, and the default scenario is deterministic.

use std::path::Path;

use flotilla_model::api::{ConditionStatus, Node, Pod, PodPhase};
use flotilla_model::{Duration, Kind, Object, Time};
use flotilla_sim::engine::{Simulation, EPOCH};
use flotilla_sim::faults::FaultEvent;
use flotilla_sim::scenario;

fn load(name: &str) -> scenario::Scenario {
    let path = format!("tests/testdata/scenarios/{name}");
    scenario::load(Path::new(&path)).expect("valid scenario")
}

fn at(secs: u64) -> Time {
    EPOCH + Duration::from_secs(secs)
}

fn pods(sim: &Simulation) -> Vec<Pod> {
    sim.cluster()
        .store()
        .iter_namespace(Kind::Pod, "default")
        .filter_map(|o| match &**o {
            Object::Pod(p) => Some(p.clone()),
            _ => None,
        })
        .collect()
}

fn node(sim: &Simulation, name: &str) -> Node {
    match sim.cluster().store().get(Kind::Node, "", name).as_deref() {
        Some(Object::Node(n)) => (**n).clone(),
        _ => panic!("no node {name}"),
    }
}

fn ready_status(n: &Node) -> Option<ConditionStatus> {
    n.status
        .conditions
        .iter()
        .find(|c| c.r#type == "Ready")
        .map(|c| c.status)
}

fn on_node<'a>(pods: &'a [Pod], node: &str) -> Vec<&'a Pod> {
    pods.iter().filter(|p| p.spec.node_name == node).collect()
}

fn since_start(t: Option<Time>) -> Option<Duration> {
    t.map(|t| t.saturating_duration_since(EPOCH))
}

fn restarts(p: &Pod) -> i32 {
    p.status
        .container_statuses
        .iter()
        .map(|c| c.restart_count)
        .sum()
}

#[test]
fn a_crashed_node_s_pods_are_evicted_after_50_s_and_300_s_and_replaced() {
    let mut sim = Simulation::new(load("crash.yaml"), 11).expect("starts");
    sim.run_until(Duration::from_secs(59));
    let before = pods(&sim);
    let victims: Vec<String> = on_node(&before, "n-1")
        .iter()
        .map(|p| p.metadata.uid.clone())
        .collect();
    assert!(!victims.is_empty(), "the scheduler put no pod on n-1");
    assert!(!sim.runtime().containers_on("n-1").is_empty());

    // The crash: containers gone at once, the node still Ready until its grace period ends.
    sim.run_until(Duration::from_secs(60));
    assert!(sim.runtime().containers_on("n-1").is_empty());
    sim.run_until(Duration::from_secs(109));
    assert_eq!(
        ready_status(&node(&sim, "n-1")),
        Some(ConditionStatus::True)
    );

    // 50 s later: Unknown, tainted unreachable:NoExecute at that time.
    sim.run_until(Duration::from_secs(110));
    let n = node(&sim, "n-1");
    assert_eq!(ready_status(&n), Some(ConditionStatus::Unknown));
    let taint = n
        .spec
        .taints
        .iter()
        .find(|t| t.key == "node.kubernetes.io/unreachable" && t.time_added.is_some())
        .expect("NoExecute taint");
    assert_eq!(taint.time_added, Some(at(110)));

    // Not evicted before the 300 s toleration ends.
    sim.run_until(Duration::from_secs(409));
    assert!(pods(&sim)
        .iter()
        .filter(|p| victims.contains(&p.metadata.uid))
        .all(|p| p.metadata.deletion_timestamp.is_none()));

    sim.run();
    let after = pods(&sim);
    for p in after.iter().filter(|p| victims.contains(&p.metadata.uid)) {
        // Deleted at 410 s with the default 30 s grace; the dead kubelet cannot finish it.
        assert_eq!(
            since_start(p.metadata.deletion_timestamp),
            Some(Duration::from_secs(440)),
            "{}",
            p.metadata.name
        );
    }
    let live: Vec<&Pod> = after
        .iter()
        .filter(|p| p.metadata.deletion_timestamp.is_none())
        .collect();
    assert_eq!(live.len(), 8);
    assert!(live.iter().all(|p| p.spec.node_name != "n-1"));
    assert!(live.iter().all(|p| p.phase() == PodPhase::Running));
    let replacements: Vec<&&Pod> = live
        .iter()
        .filter(|p| since_start(p.metadata.creation_timestamp) != Some(Duration::ZERO))
        .collect();
    assert_eq!(replacements.len(), victims.len());
    for p in replacements {
        assert_eq!(
            since_start(p.metadata.creation_timestamp),
            Some(Duration::from_secs(410))
        );
    }
    let log = sim.fault_log();
    assert_eq!(log.len(), 1);
    assert_eq!(
        (log[0].at, log[0].node.as_str(), log[0].what),
        (Duration::from_secs(60), "n-1", FaultEvent::Down)
    );
}

#[test]
fn a_partition_keeps_containers_running_and_heals() {
    let mut sim = Simulation::new(load("partition.yaml"), 5).expect("starts");
    sim.run_until(Duration::from_secs(59));
    let running = sim.runtime().containers_on("n-1");
    assert!(!running.is_empty(), "the scheduler put no pod on n-1");
    let uids: Vec<String> = pods(&sim).iter().map(|p| p.metadata.uid.clone()).collect();

    sim.run_until(Duration::from_secs(150));
    assert_eq!(
        ready_status(&node(&sim, "n-1")),
        Some(ConditionStatus::Unknown)
    );
    assert_eq!(sim.runtime().containers_on("n-1"), running);
    // The kubelet restart: n-2 away for 5 s, too short to be noticed.
    sim.run_until(Duration::from_secs(200));
    assert_eq!(
        ready_status(&node(&sim, "n-2")),
        Some(ConditionStatus::True)
    );

    sim.run();
    assert_eq!(sim.runtime().containers_on("n-1"), running);
    assert_eq!(
        ready_status(&node(&sim, "n-1")),
        Some(ConditionStatus::True)
    );
    assert!(node(&sim, "n-1")
        .spec
        .taints
        .iter()
        .all(|t| !t.key.starts_with("node.kubernetes.io/")));
    let after = pods(&sim);
    assert_eq!(
        after
            .iter()
            .map(|p| p.metadata.uid.clone())
            .collect::<Vec<_>>(),
        uids,
        "no pod was replaced"
    );
    for p in &after {
        assert!(p.is_ready(), "{} not ready", p.metadata.name);
        assert_eq!(restarts(p), 0, "{} restarted", p.metadata.name);
    }
    let log: Vec<(u64, &str, FaultEvent)> = sim
        .fault_log()
        .iter()
        .map(|r| (r.at.as_secs(), r.node.as_str(), r.what))
        .collect();
    assert_eq!(
        log,
        vec![
            (60, "n-1", FaultEvent::CutOff),
            (120, "n-2", FaultEvent::CutOff),
            (125, "n-2", FaultEvent::Reconnected),
            (180, "n-1", FaultEvent::Reconnected),
        ]
    );
}

#[test]
fn a_zone_goes_down_and_comes_back() {
    let mut sim = Simulation::new(load("zone-outage.yaml"), 3).expect("starts");
    sim.run_until(Duration::from_secs(59));
    let zone_a = ["n-0", "n-3"];
    let before = pods(&sim);
    let victims: Vec<String> = before
        .iter()
        .filter(|p| zone_a.contains(&p.spec.node_name.as_str()))
        .map(|p| p.metadata.uid.clone())
        .collect();
    assert!(!victims.is_empty());

    // Outage: both nodes Unknown after 50 s, their pods replaced in zones b and c after the
    // 300 s toleration.
    sim.run_until(Duration::from_secs(600));
    for n in zone_a {
        assert_eq!(ready_status(&node(&sim, n)), Some(ConditionStatus::Unknown));
        assert!(sim.runtime().containers_on(n).is_empty());
    }
    let during = pods(&sim);
    let live: Vec<&Pod> = during
        .iter()
        .filter(|p| p.metadata.deletion_timestamp.is_none())
        .collect();
    assert_eq!(live.len(), 6);
    assert!(live
        .iter()
        .all(|p| !zone_a.contains(&p.spec.node_name.as_str()) && p.is_ready()));

    // Recovery at 11m: the kubelets find their containers gone and finish the evicted pods.
    sim.run();
    for n in zone_a {
        let node = node(&sim, n);
        assert_eq!(ready_status(&node), Some(ConditionStatus::True), "{n}");
        assert!(node
            .spec
            .taints
            .iter()
            .all(|t| !t.key.starts_with("node.kubernetes.io/")));
    }
    let after = pods(&sim);
    assert!(
        after.iter().all(|p| !victims.contains(&p.metadata.uid)),
        "evicted pods are gone"
    );
    assert_eq!(after.len(), 6);
    assert!(after.iter().all(|p| p.is_ready()));
    let log: Vec<(u64, &str, FaultEvent)> = sim
        .fault_log()
        .iter()
        .map(|r| (r.at.as_secs(), r.node.as_str(), r.what))
        .collect();
    assert_eq!(
        log,
        vec![
            (60, "n-0", FaultEvent::Down),
            (60, "n-3", FaultEvent::Down),
            (660, "n-0", FaultEvent::Up),
            (660, "n-3", FaultEvent::Up),
        ]
    );
}

#[test]
fn a_crashed_node_that_comes_back_restarts_its_containers() {
    let mut s = load("crash.yaml");
    s.faults[0].duration = Some(Duration::from_secs(60));
    let mut sim = Simulation::new(s, 11).expect("starts");
    sim.run_until(Duration::from_secs(59));
    let uids: Vec<String> = pods(&sim).iter().map(|p| p.metadata.uid.clone()).collect();
    sim.run();
    let after = pods(&sim);
    assert_eq!(
        after
            .iter()
            .map(|p| p.metadata.uid.clone())
            .collect::<Vec<_>>(),
        uids,
        "back within the grace period: nothing was evicted"
    );
    for p in &after {
        let expected = i32::from(p.spec.node_name == "n-1");
        assert_eq!(restarts(p), expected, "{}", p.metadata.name);
        assert!(p.is_ready(), "{}", p.metadata.name);
    }
    assert!(!sim.runtime().containers_on("n-1").is_empty());
}

#[test]
fn failures_by_mtbf_repeat_with_their_seed() {
    let run = |seed| {
        let mut sim = Simulation::new(load("mtbf.yaml"), seed).expect("starts");
        sim.run();
        (sim.fault_log().to_vec(), sim.summary(0.0).event_log_digest)
    };
    let (a, digest_a) = run(21);
    let (b, digest_b) = run(21);
    assert_eq!(a, b);
    assert_eq!(digest_a, digest_b);
    let downs = a.iter().filter(|r| r.what == FaultEvent::Down).count();
    // 20 nodes × 30 min / 1 h: about 10 expected.
    assert!((3..=20).contains(&downs), "{downs} failures: {a:?}");
    let ups = a.iter().filter(|r| r.what == FaultEvent::Up).count();
    assert!(ups >= downs.saturating_sub(3), "{a:?}");
    let (c, _) = run(22);
    assert_ne!(a, c, "another seed, other failures");
}

#[test]
fn the_hpa_scales_up_under_a_load_spike_and_down_after() {
    let mut sim = Simulation::new(load("hpa.yaml"), 9).expect("starts");
    sim.run();
    assert!(sim.apply_errors().is_empty(), "{:?}", sim.apply_errors());
    let series: Vec<(f64, i32)> = sim
        .metrics()
        .samples
        .iter()
        .filter_map(|s| s.hpa_replicas.get("default/web").map(|r| (s.time_s, *r)))
        .collect();
    let at_most = |from: f64, to: f64| {
        series
            .iter()
            .filter(|(t, _)| *t >= from && *t <= to)
            .map(|(_, r)| *r)
            .max()
            .unwrap_or(0)
    };
    // 100 rps on 2 pods: (50m + 20m) / 200m = 35%, under the 50% target.
    assert_eq!(at_most(60.0, 240.0), 2, "{series:?}");
    // 800 rps: 9 pods run at (89m + 20m) / 200m = 54%, within the 10% tolerance.
    let peak = at_most(330.0, 510.0);
    assert!(peak >= 8, "{series:?}");
    // Down only after the 5-minute scale-down stabilization window after the spike (8m30s).
    let first_down = series
        .iter()
        .find(|(t, r)| *t > 510.0 && *r < peak)
        .expect("scaled down")
        .0;
    assert!(first_down >= 510.0 + 270.0, "{series:?}");
    let last = series.last().expect("samples").1;
    assert!(last <= 3, "{series:?}");
}

#[test]
fn a_rate_curve_brings_more_arrivals_where_the_rate_is_higher() {
    let mut sim = Simulation::new(load("rate-curve.yaml"), 4).expect("starts");
    sim.run();
    let created: Vec<Duration> = pods(&sim)
        .iter()
        .filter_map(|p| since_start(p.metadata.creation_timestamp))
        .collect();
    let first = created.iter().filter(|t| t.as_secs() < 300).count();
    let second = created.iter().filter(|t| t.as_secs() >= 300).count();
    // Expected 30 and 150.
    assert!((15..=50).contains(&first), "{first} then {second}");
    assert!((110..=200).contains(&second), "{first} then {second}");
}

#[test]
fn scenario_faults_and_load_are_checked() {
    let base = "apiVersion: sim.flotilla.io/v1\nkind: Scenario\nspec:\n  duration: 1m\n  nodePools:\n  - {name: n, count: 2, zones: [a], capacity: {cpu: '1'}}\n";
    let err = |extra: &str| {
        scenario::parse("s.yaml", &format!("{base}{extra}"))
            .expect_err("invalid")
            .to_string()
    };
    assert_eq!(
        err("  faults:\n  - nodeCrash: {nodes: [n-7], at: 1m}\n"),
        "s.yaml: spec.faults[0].nodeCrash.nodes[0]: Not found: no node \"n-7\""
    );
    assert_eq!(
        err("  faults:\n  - zoneOutage: {zone: b, at: 1m, duration: 1m}\n"),
        "s.yaml: spec.faults[0].zoneOutage.zone: Not found: no node in zone \"b\""
    );
    assert_eq!(
        err("  faults:\n  - partition: {pool: n, count: 3, at: 1m, duration: 1m}\n"),
        "s.yaml: spec.faults[0].partition.count: must be between 1 and 2"
    );
    assert_eq!(
        err("  faults:\n  - nodeFailures: {pool: n, mtbf: 0s, mttr: 1m}\n"),
        "s.yaml: spec.faults[0].nodeFailures.mtbf: must be greater than 0"
    );
    assert_eq!(
        err("  faults:\n  - {}\n"),
        "s.yaml: spec.faults[0]: exactly one of nodeCrash, nodeFailures, zoneOutage, partition or kubeletRestart must be given"
    );
    let e = err("  faults:\n  - kubeletRestart: {nodes: [n-0], at: soon}\n");
    assert!(
        e.starts_with("s.yaml: spec.faults[0].kubeletRestart.at: "),
        "{e}"
    );
    let e = err("  faults:\n  - nodeCrash: {nodes: [n-0], when: 1m}\n");
    assert!(e.starts_with("s.yaml:8:"), "{e}");
    assert!(e.contains("unknown field `when`"), "{e}");
    assert_eq!(
        err("  load:\n  - {service: web, cpuPerRequest: 1m, curve: [{at: 0s, rps: 1}]}\n"),
        "s.yaml: spec.load[0].service: Not found: no workload creates Service default/web"
    );
    let svc = "  workloads:\n  - at: 0s\n    manifests: |\n      apiVersion: v1\n      kind: Service\n      metadata: {name: web}\n      spec: {selector: {app: web}, ports: [{port: 80}]}\n";
    assert_eq!(
        err(&format!(
            "{svc}  load:\n  - {{service: web, cpuPerRequest: 1m, curve: [{{at: 1m, rps: 1}}, {{at: 1m, rps: 2}}]}}\n"
        )),
        "s.yaml: spec.load[0].curve[1].at: must be later than the point before"
    );
    assert_eq!(
        err(&format!(
            "{svc}  load:\n  - {{service: web, cpuPerRequest: lots, curve: [{{at: 0s, rps: 1}}]}}\n"
        ))
        .split(':')
        .take(2)
        .collect::<Vec<_>>()
        .join(":"),
        "s.yaml: spec.load[0].cpuPerRequest"
    );
    assert_eq!(
        err("  arrivals:\n  - name: a\n    ratePerMinute: 1\n    rateCurve: [{at: 0s, rps: 1}]\n    template: |\n      apiVersion: v1\n      kind: Pod\n      metadata: {name: p}\n      spec: {containers: [{name: c, image: i}]}\n"),
        "s.yaml: spec.arrivals[0]: exactly one of ratePerMinute or rateCurve must be given"
    );
    assert_eq!(
        err("  arrivals:\n  - name: a\n    rateCurve: [{at: 0s, rps: -1}]\n    template: |\n      apiVersion: v1\n      kind: Pod\n      metadata: {name: p}\n      spec: {containers: [{name: c, image: i}]}\n"),
        "s.yaml: spec.arrivals[0].rateCurve[0].rps: must not be negative"
    );
}

#[test]
fn the_default_scenario_is_deterministic() {
    // The built-in scenario on its first 300 nodes, with its story compressed into four
    // minutes (a debug build takes minutes for the whole of it; `flotilla run` in release
    // takes seconds): the load spike from 1m to 3m, zone-c down from 1m to 3m, random failures
    // throughout.
    let compressed = || {
        let mut s = scenario::builtin_default().expect("valid");
        s.nodes.truncate(300);
        s.duration = Duration::from_secs(240);
        let m = |min: u64| Duration::from_secs(60 * min);
        s.load[0].curve = flotilla_sim::load::RateCurve::new(vec![
            (m(1), 1000.0),
            (m(2), 10000.0),
            (m(3), 1000.0),
        ])
        .expect("valid curve");
        s.faults[0].at = m(1);
        s.faults[0].duration = Some(m(2));
        s.node_failures[0].nodes.truncate(300);
        s
    };
    let run = || {
        let mut sim = Simulation::new(compressed(), 42).expect("starts");
        sim.run();
        assert!(sim.apply_errors().is_empty(), "{:?}", sim.apply_errors());
        let downs = sim
            .fault_log()
            .iter()
            .filter(|r| r.what == FaultEvent::Down)
            .count();
        (sim.summary(0.0), downs, sim.metrics().samples.clone())
    };
    let (a, downs, samples) = run();
    let (b, _, _) = run();
    assert_eq!(a.event_log_digest, b.event_log_digest);
    assert_eq!(a, b);
    assert!(downs >= 100, "the zone and the random failures: {downs}");
    let peak = samples
        .iter()
        .filter_map(|s| s.hpa_replicas.get("default/frontend"))
        .max()
        .copied();
    assert!(peak.is_some_and(|p| p > 10), "{peak:?}");
}
