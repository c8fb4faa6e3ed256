//! Property test of the engine's invariants: small random scenarios — node pools of random
//! sizes (some with GPUs and taints), a Deployment, random arrivals of Jobs and Pods, random
//! faults, sometimes the control-plane timing model — run with the checks on after every
//! step: no node over-committed, no pod bound twice, no pod lost. A failing case prints its
//! scenario and seed.

use flotilla_sim::engine::{InvariantChecks, Simulation};
use flotilla_sim::scenario;
use proptest::prelude::*;

#[derive(Clone, Debug)]
struct Pool {
    count: u32,
    cpu: u32,
    memory_gi: u32,
    gpus: u32,
    tainted: bool,
}

#[derive(Clone, Debug)]
struct Case {
    seed: u64,
    pools: Vec<Pool>,
    replicas: u32,
    web_cpu_m: u32,
    job_rate: u32,
    job_cpu_m: u32,
    job_gpus: u32,
    pod_rate: u32,
    faults: Vec<(u8, u32)>,
    control_plane: bool,
}

fn pool() -> impl Strategy<Value = Pool> {
    (1u32..=5, 1u32..=8, 2u32..=16, 0u32..=2, any::<bool>()).prop_map(
        |(count, cpu, memory_gi, gpus, tainted)| Pool {
            count,
            cpu,
            memory_gi,
            gpus,
            tainted,
        },
    )
}

fn case() -> impl Strategy<Value = Case> {
    (
        any::<u64>(),
        prop::collection::vec(pool(), 1..=3),
        (0u32..=8, 100u32..=3000),
        (0u32..=12, 100u32..=4000, 0u32..=2),
        0u32..=10,
        prop::collection::vec((0u8..5, 10u32..=240), 0..=3),
        any::<bool>(),
    )
        .prop_map(
            |(
                seed,
                pools,
                (replicas, web_cpu_m),
                (job_rate, job_cpu_m, job_gpus),
                pod_rate,
                faults,
                control_plane,
            )| Case {
                seed,
                pools,
                replicas,
                web_cpu_m,
                job_rate,
                job_cpu_m,
                job_gpus,
                pod_rate,
                faults,
                control_plane,
            },
        )
}

fn yaml(c: &Case) -> String {
    let mut s = String::from(
        "apiVersion: sim.flotilla.io/v1\nkind: Scenario\nmetadata: {name: random}\nspec:\n  duration: 5m\n  sampleInterval: 30s\n",
    );
    if c.control_plane {
        s +=
            "  controlPlane: {apiWriteLatency: 5ms, watchDelay: 10ms, schedulerTimePerNode: 1ms}\n";
    }
    s += "  nodePools:\n";
    for (i, p) in c.pools.iter().enumerate() {
        s += &format!(
            "  - name: p{i}\n    count: {}\n    zones: [a, b]\n    capacity: {{cpu: \"{}\", memory: {}Gi, pods: \"10\"",
            p.count, p.cpu, p.memory_gi
        );
        if p.gpus > 0 {
            s += &format!(", nvidia.com/gpu: \"{}\"", p.gpus);
        }
        s += "}\n";
        if p.tainted {
            s += "    taints: [{key: dedicated, value: gpu, effect: NoSchedule}]\n";
        }
    }
    s += &format!(
        "  workloads:\n  - at: 0s\n    manifests: |\n      apiVersion: apps/v1\n      kind: Deployment\n      metadata: {{name: web}}\n      spec:\n        replicas: {}\n        selector: {{matchLabels: {{app: web}}}}\n        template:\n          metadata: {{labels: {{app: web}}}}\n          spec:\n            containers:\n            - name: web\n              image: nginx:1.27\n              resources: {{requests: {{cpu: {}m, memory: 1Gi}}}}\n",
        c.replicas, c.web_cpu_m
    );
    s += "  arrivals:\n";
    if c.job_rate > 0 {
        let gpu = if c.job_gpus > 0 {
            format!(", nvidia.com/gpu: \"{}\"", c.job_gpus)
        } else {
            String::new()
        };
        let limits = if c.job_gpus > 0 {
            format!(", limits: {{nvidia.com/gpu: \"{}\"}}", c.job_gpus)
        } else {
            String::new()
        };
        s += &format!(
            "  - name: job\n    ratePerMinute: {}\n    runTime: {{exponential: 40s}}\n    template: |\n      apiVersion: batch/v1\n      kind: Job\n      metadata: {{name: job}}\n      spec:\n        completions: 2\n        parallelism: 2\n        template:\n          spec:\n            restartPolicy: Never\n            tolerations: [{{key: dedicated, operator: Exists}}]\n            containers:\n            - name: work\n              image: busybox:1.37\n              resources: {{requests: {{cpu: {}m, memory: 1Gi{gpu}}}{limits}}}\n",
            c.job_rate, c.job_cpu_m
        );
    }
    if c.pod_rate > 0 {
        s += &format!(
            "  - name: pod\n    ratePerMinute: {}\n    runTime: {{uniform: {{min: 5s, max: 90s}}}}\n    template: |\n      apiVersion: v1\n      kind: Pod\n      metadata: {{name: pod}}\n      spec:\n        restartPolicy: Never\n        containers:\n        - name: work\n          image: busybox:1.37\n          resources: {{requests: {{cpu: 700m, memory: 3Gi}}}}\n",
            c.pod_rate
        );
    }
    if s.ends_with("  arrivals:\n") {
        s.truncate(s.len() - "  arrivals:\n".len());
    }
    if !c.faults.is_empty() {
        s += "  faults:\n";
        for &(kind, at) in &c.faults {
            s += &match kind {
                0 => {
                    format!("  - nodeCrash: {{pool: p0, count: 1, at: {at}s, recoverAfter: 60s}}\n")
                }
                1 => format!("  - nodeCrash: {{pool: p0, count: 1, at: {at}s}}\n"),
                2 => format!("  - partition: {{pool: p0, count: 1, at: {at}s, duration: 90s}}\n"),
                3 => format!("  - zoneOutage: {{zone: a, at: {at}s, duration: 45s}}\n"),
                _ => format!("  - kubeletRestart: {{pool: p0, count: 1, at: {at}s}}\n"),
            };
        }
    }
    s
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 12, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn random_scenarios_keep_the_invariants_at_every_step(c in case()) {
        let text = yaml(&c);
        let scenario = scenario::parse("random.yaml", &text)
            .map_err(|e| TestCaseError::fail(format!("{e}\n{text}")))?;
        let mut sim = Simulation::new(scenario, c.seed).expect("starts");
        sim.set_invariant_checks(InvariantChecks::Record);
        sim.run();
        prop_assert!(
            sim.invariant_violation().is_none(),
            "seed {}: {}\n{text}",
            c.seed,
            sim.invariant_violation().unwrap_or_default()
        );
        // The run did something: pods were created whenever a source was there.
        let s = sim.summary(0.0);
        if c.replicas > 0 || c.job_rate > 0 || c.pod_rate > 0 {
            prop_assert!(s.pods_created > 0, "seed {}: {s:#?}\n{text}", c.seed);
        }
    }
}
