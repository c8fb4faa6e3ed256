//! The simulator's event loop on the small test scenario (12 nodes, 10 minutes, a Deployment
//! with a rollout and a stream of Jobs): a whole run, reported as steps per second and as
//! events per second, and the loop alone (steps after setup).

// criterion's macros generate the undocumented `benches` and `main` functions.
#![allow(missing_docs)]

use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use flotilla_sim::engine::Simulation;
use flotilla_sim::scenario::{self, Scenario};

const SMALL: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../sim/tests/testdata/scenarios/small.yaml"
);

fn small() -> Scenario {
    scenario::load(std::path::Path::new(SMALL)).expect("the test scenario is valid")
}

/// Steps and events of one run of `scenario` with `seed`.
fn count(scenario: &Scenario, seed: u64) -> (u64, u64) {
    let mut sim = Simulation::new(scenario.clone(), seed).expect("starts");
    let mut steps = 0;
    while sim.step() {
        steps += 1;
    }
    sim.run();
    (steps, sim.summary(0.0).events_processed)
}

fn sim_benches(c: &mut Criterion) {
    let scenario = small();
    let (steps, events) = count(&scenario, 7);
    let mut group = c.benchmark_group("sim_small");
    group.sample_size(10);

    group.throughput(Throughput::Elements(events));
    group.bench_function("whole_run_events", |b| {
        b.iter(|| {
            let mut sim = Simulation::new(scenario.clone(), 7).expect("starts");
            sim.run();
            sim.summary(0.0)
        })
    });

    group.throughput(Throughput::Elements(steps));
    group.bench_function("steps", |b| {
        b.iter_batched(
            || Simulation::new(scenario.clone(), 7).expect("starts"),
            |mut sim| {
                while sim.step() {}
                sim
            },
            BatchSize::PerIteration,
        )
    });
    group.finish();
}

criterion_group!(benches, sim_benches);
criterion_main!(benches);
