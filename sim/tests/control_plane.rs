//! The control-plane timing model (`spec.controlPlane`): off, a run is what it was without
//! the model; on, every watch hop and every scheduling decision takes time, and the pods'
//! latencies grow by at least what the model adds.

use std::path::Path;

use flotilla_model::Duration;
use flotilla_sim::engine::Simulation;
use flotilla_sim::metrics::Summary;
use flotilla_sim::scenario::{self, ControlPlane, Scenario};

fn small() -> Scenario {
    scenario::load(Path::new("tests/testdata/scenarios/small.yaml")).expect("valid scenario")
}

fn run(scenario: Scenario, seed: u64) -> Summary {
    let mut sim = Simulation::new(scenario, seed).expect("starts");
    sim.run();
    assert!(sim.apply_errors().is_empty(), "{:?}", sim.apply_errors());
    sim.summary(0.0)
}

fn with(control_plane: ControlPlane) -> Scenario {
    let mut s = small();
    s.control_plane = Some(control_plane);
    s
}

#[test]
fn an_empty_control_plane_block_changes_nothing() {
    let text = std::fs::read_to_string("tests/testdata/scenarios/small.yaml").expect("readable");
    let text = text.replace(
        "  sampleInterval: 30s\n",
        "  sampleInterval: 30s\n  controlPlane: {}\n",
    );
    let empty = scenario::parse("small.yaml", &text).expect("valid");
    assert_eq!(empty.control_plane, Some(ControlPlane::default()));
    let a = run(small(), 5);
    let b = run(empty, 5);
    assert_eq!(a.event_log_digest, b.event_log_digest);
    assert_eq!(a, b);
}

#[test]
fn latencies_grow_by_at_least_what_the_model_adds() {
    // 12 nodes, all evaluated for every pod (fewer than 100 nodes: percentageOfNodesToScore
    // does not cut the search): 12 ms per decision.
    let model = ControlPlane {
        api_write_latency: Duration::from_millis(5),
        watch_delay: Duration::from_millis(10),
        scheduler_time_per_node: Duration::from_millis(1),
    };
    let hop = 15.0;
    let decision = 12.0;
    let seed = 11;
    let off = run(small(), seed);
    let on = run(with(model), seed);
    // The same seed gives the same history with the model on too.
    assert_eq!(on.event_log_digest, run(with(model), seed).event_log_digest);
    assert_ne!(on.event_log_digest, off.event_log_digest);
    // The same pods: the controllers, which see changes at once, create no surplus.
    assert_eq!(on.pods_created, off.pods_created);
    // The workload still runs: the rollout, the jobs.
    assert!(on.pods_succeeded > 0, "{on:#?}");
    assert_eq!(on.pods_failed, 0, "{on:#?}");
    assert!(on.pods_running_at_end >= 10, "{on:#?}");
    // A pod is bound at the earliest one hop (the scheduler sees it) and one decision after
    // its creation; it runs at the earliest one more hop later (its kubelet sees the binding).
    let s_off = &off.scheduling_latency_ms;
    let s_on = &on.scheduling_latency_ms;
    assert!(s_on.p50 >= hop + decision, "{s_on:?}");
    assert!(s_on.p50 > s_off.p50, "off {s_off:?}, on {s_on:?}");
    let u_off = &off.startup_latency_ms;
    let u_on = &on.startup_latency_ms;
    assert!(u_on.p50 >= u_off.p50 + hop, "off {u_off:?}, on {u_on:?}");
    assert!(u_on.p90 > u_off.p90, "off {u_off:?}, on {u_on:?}");
}

#[test]
fn the_scheduler_decides_one_pod_at_a_time() {
    // 100 ms per node, 1.2 s per decision: the ten replicas created together wait for each
    // other, so the last of them is bound at least nine decisions after its creation.
    let model = ControlPlane {
        scheduler_time_per_node: Duration::from_millis(100),
        ..ControlPlane::default()
    };
    let on = run(with(model), 3);
    let s = &on.scheduling_latency_ms;
    assert!(s.max >= 9.0 * 1200.0, "{s:?}");
    assert!(s.p50 >= 1200.0, "{s:?}");
}
