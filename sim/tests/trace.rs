//! Trace replay: the committed samples parse to the expected counts, a scenario replaying the
//! Alibaba sample runs deterministically without over-committing any node, and bad rows are
//! errors that name the file, the line and the column.

use std::collections::BTreeMap;
use std::path::Path;

use flotilla_model::api::PodPhase;
use flotilla_model::{Kind, Object, Quantity};
use flotilla_sim::engine::Simulation;
use flotilla_sim::scenario;
use flotilla_sim::trace::{alibaba, google, GPU_RESOURCE};

const DATA: &str = "tests/testdata/traces";

fn alibaba_sample() -> flotilla_sim::trace::Trace {
    alibaba::load(
        &Path::new(DATA).join("alibaba-gpu-v2023/openb_node_list_sample.csv"),
        &Path::new(DATA).join("alibaba-gpu-v2023/openb_pod_list_sample.csv"),
        None,
    )
    .expect("the sample is valid")
}

fn gpus(resources: &flotilla_model::ResourceList) -> i64 {
    resources.get(GPU_RESOURCE).map_or(0, |q| q.value())
}

#[test]
fn the_alibaba_sample_parses_to_the_expected_counts() {
    let t = alibaba_sample();
    assert_eq!(t.nodes.len(), 61);
    assert_eq!(t.pods.len(), 300);
    assert_eq!(t.stats.rows, 361);
    assert!(t.stats.skipped.is_empty(), "{:?}", t.stats.skipped);
    let node_gpus: i64 = t.nodes.iter().map(|n| gpus(&n.status.capacity)).sum();
    assert_eq!(node_gpus, 226);
    let models = t
        .nodes
        .iter()
        .filter(|n| n.metadata.labels.contains_key(alibaba::GPU_MODEL_LABEL))
        .count();
    assert_eq!(models, 51);
    let requests = |p: &flotilla_sim::trace::TracePod| p.pod.spec.containers[0].resources.clone();
    let by_gpus = t.pods.iter().fold(BTreeMap::new(), |mut m, p| {
        *m.entry(gpus(&requests(p).requests)).or_insert(0) += 1;
        m
    });
    // GPU-sharing pods ask for a share (`flotilla.io/gpu-milli`), not a whole GPU, and keep
    // the trace's value in an annotation.
    assert_eq!(by_gpus, BTreeMap::from([(0, 122), (1, 176), (8, 2)]));
    let shared = t
        .pods
        .iter()
        .filter(|p| {
            p.pod
                .metadata
                .annotations
                .get(alibaba::GPU_MILLI_ANNOTATION)
                .is_some_and(|m| m != "1000")
        })
        .count();
    assert_eq!(shared, 103);
    // Arrivals are relative to the earliest creation time and sorted.
    assert_eq!(t.pods[0].at.as_secs(), 0);
    assert!(t.pods.windows(2).all(|w| w[0].at <= w[1].at));
    assert_eq!(t.pods.last().map(|p| p.at.as_secs()), Some(10_123_064));
}

#[test]
fn the_google_sample_parses_to_the_expected_counts() {
    let t = google::load(
        &Path::new(DATA).join("google-2011/machine_events.csv"),
        &Path::new(DATA).join("google-2011/task_events.csv"),
        None,
        google::Scale::default(),
    )
    .expect("the sample is valid");
    assert_eq!(t.nodes.len(), 31);
    assert_eq!(t.pods.len(), 115);
    assert_eq!(t.stats.rows, 37 + 408);
    assert_eq!(t.stats.skipped["machine event after time 0"], 4);
    assert_eq!(t.stats.skipped["resubmission"], 28);
    let ended = t
        .pods
        .iter()
        .filter(|p| {
            p.pod
                .metadata
                .annotations
                .contains_key(flotilla_sim::runtime_model::RUN_TIME_ANNOTATION)
        })
        .count();
    assert_eq!(ended, 94);
    let limited = google::load(
        &Path::new(DATA).join("google-2011/machine_events.csv"),
        &Path::new(DATA).join("google-2011/task_events.csv"),
        Some(10),
        google::Scale::default(),
    )
    .expect("the sample is valid");
    assert_eq!(limited.pods.len(), 10);
}

fn alibaba_scenario() -> scenario::Scenario {
    scenario::load(&Path::new(DATA).join("alibaba-sample.yaml")).expect("valid scenario")
}

#[test]
fn the_alibaba_sample_replays_deterministically_to_the_end() {
    let run = || {
        let mut sim = Simulation::new(alibaba_scenario(), 1).expect("starts");
        sim.run();
        assert!(sim.apply_errors().is_empty(), "{:?}", sim.apply_errors());
        sim.summary(0.0)
    };
    let a = run();
    let b = run();
    assert_eq!(a.event_log_digest, b.event_log_digest);
    assert_eq!(a, b);
    assert_eq!(a.nodes, 61);
    assert_eq!(a.pods_created, 300);
    assert_eq!(a.pods_scheduled, 300, "{a:#?}");
    // Every pod's run time is known, and the run outlasts the last deletion time.
    assert_eq!(a.pods_running_at_end + a.pods_pending_at_end, 0, "{a:#?}");
    assert_eq!(a.pods_failed, 103, "the trace's Failed pods exit 1");
    assert_eq!(a.pods_succeeded, 197);
    assert!(a.allocation_ratio_mean[GPU_RESOURCE] > 0.0);
}

#[test]
fn no_node_is_overcommitted_at_any_step_of_the_replay() {
    let mut sim = Simulation::new(alibaba_scenario(), 3).expect("starts");
    let mut steps = 0;
    let mut max_gpus_in_use = 0;
    while sim.step() {
        steps += 1;
        let store = sim.cluster().store();
        let mut used: BTreeMap<String, BTreeMap<&str, Quantity>> = BTreeMap::new();
        for o in store.iter_kind(Kind::Pod) {
            let Object::Pod(p) = &**o else { continue };
            if p.spec.node_name.is_empty() || p.phase().is_terminal() {
                continue;
            }
            let entry = used.entry(p.spec.node_name.clone()).or_default();
            for c in &p.spec.containers {
                for r in ["cpu", "memory", GPU_RESOURCE] {
                    if let Some(q) = c.resources.requests.get(r) {
                        *entry.entry(r).or_insert(Quantity::ZERO) += *q;
                    }
                }
            }
        }
        let mut in_use = 0;
        for (node, requested) in used {
            let Some(Object::Node(n)) = store.get(Kind::Node, "", &node).as_deref().cloned() else {
                panic!("pod bound to missing node {node}");
            };
            for (r, q) in requested {
                let alloc = n
                    .status
                    .allocatable
                    .get(r)
                    .copied()
                    .unwrap_or(Quantity::ZERO);
                assert!(q <= alloc, "node {node}: {r} {q} requested of {alloc}");
                if r == GPU_RESOURCE {
                    in_use += q.value();
                }
            }
        }
        max_gpus_in_use = max_gpus_in_use.max(in_use);
    }
    assert!(steps > 100, "{steps} steps");
    assert!(max_gpus_in_use > 0);
}

fn write(dir: &Path, name: &str, text: &str) {
    std::fs::write(dir.join(name), text).expect("writable temporary directory");
}

const POD_HEADER: &str = "name,cpu_milli,memory_mib,num_gpu,gpu_milli,gpu_spec,qos,pod_phase,creation_time,deletion_time,scheduled_time\n";

fn scenario_text(duration: &str) -> String {
    format!(
        "apiVersion: sim.flotilla.io/v1\nkind: Scenario\nspec:\n  duration: {duration}\n  traces:\n  - {{format: alibaba-v2023, nodes: nodes.csv, pods: pods.csv}}\n"
    )
}

#[test]
fn whole_gpus_are_never_shared_between_pods() {
    // Two nodes of two GPUs; six pods asking for a GPU each (four of them for a share of one)
    // at the start, for an hour, and a GPU-type constraint only the second node meets.
    let dir = tempfile::tempdir().expect("temporary directory");
    write(
        dir.path(),
        "nodes.csv",
        "sn,cpu_milli,memory_mib,gpu,model\ng-0,64000,262144,2,T4\ng-1,64000,262144,2,V100M32\n",
    );
    let mut pods = POD_HEADER.to_string();
    for i in 0..6 {
        let (milli, spec) = match i {
            0 => (1000, "V100M16|V100M32"),
            1 | 2 => (1000, ""),
            _ => (250, ""),
        };
        pods.push_str(&format!(
            "p-{i},1000,1024,1,{milli},{spec},LS,Running,{t},{end},{t}\n",
            t = 100 + i,
            end = 3700 + i
        ));
    }
    write(dir.path(), "pods.csv", &pods);
    write(dir.path(), "s.yaml", &scenario_text("30m"));
    let s = scenario::load(&dir.path().join("s.yaml")).expect("valid scenario");
    assert_eq!(s.nodes.len(), 2);
    assert_eq!(s.trace_pods.len(), 6);
    let mut sim = Simulation::new(s, 1).expect("starts");
    sim.run();
    assert!(sim.apply_errors().is_empty(), "{:?}", sim.apply_errors());
    let mut bound: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let mut pending = 0;
    for o in sim.cluster().store().iter_kind(Kind::Pod) {
        let Object::Pod(p) = &**o else { continue };
        if p.spec.node_name.is_empty() {
            assert_eq!(p.phase(), PodPhase::Pending);
            pending += 1;
        } else {
            bound
                .entry(p.spec.node_name.clone())
                .or_default()
                .push(p.metadata.name.clone());
        }
    }
    // The three whole-GPU pods take three of the four GPUs; the shares ask for milli-GPUs
    // (`flotilla.io/gpu-milli`), not whole GPUs, so all six are bound.
    assert_eq!(pending, 0, "{bound:?}");
    let whole_on = |node: &str| {
        bound[node]
            .iter()
            .filter(|p| ["p-0", "p-1", "p-2"].contains(&p.as_str()))
            .count()
    };
    assert!(whole_on("g-0") <= 2 && whole_on("g-1") <= 2, "{bound:?}");
    assert!(bound["g-1"].contains(&"p-0".to_string()), "{bound:?}");
    let s = sim.summary(0.0);
    assert_eq!(s.pods_unschedulable, 0, "{s:#?}");
}

#[test]
fn bad_rows_are_errors_naming_the_file_line_and_column() {
    let dir = tempfile::tempdir().expect("temporary directory");
    write(
        dir.path(),
        "nodes.csv",
        "sn,cpu_milli,memory_mib,gpu,model\ng-0,64000,262144,2,T4\n",
    );
    write(
        dir.path(),
        "pods.csv",
        &format!("{POD_HEADER}p-0,1000,1024,1,1000,,LS,Running,1,2,1\np-1,1000,lots,1,1000,,LS,Running,1,2,1\n"),
    );
    write(dir.path(), "s.yaml", &scenario_text("1h"));
    let e = scenario::load(&dir.path().join("s.yaml")).expect_err("a bad row");
    let pods = dir.path().join("pods.csv");
    assert_eq!(
        e.to_string(),
        format!(
            "{}: spec.traces[0]: {}:3:10: memory_mib: invalid value \"lots\": not a non-negative integer",
            dir.path().join("s.yaml").display(),
            pods.display()
        )
    );
    // A Google row with a field too few.
    write(dir.path(), "m.csv", "0,1,0,p,0.5,0.5\n0,2,0,p,0.5\n");
    write(dir.path(), "t.csv", "");
    write(
        dir.path(),
        "g.yaml",
        "apiVersion: sim.flotilla.io/v1\nkind: Scenario\nspec:\n  duration: 1h\n  traces:\n  - {format: google-2011, machineEvents: m.csv, taskEvents: t.csv}\n",
    );
    let e = scenario::load(&dir.path().join("g.yaml"))
        .expect_err("a bad row")
        .to_string();
    assert!(
        e.ends_with("m.csv:2:12: memory: the row has 5 fields, expected 6"),
        "{e}"
    );
    // A missing file names itself.
    write(
        dir.path(),
        "h.yaml",
        "apiVersion: sim.flotilla.io/v1\nkind: Scenario\nspec:\n  duration: 1h\n  traces:\n  - {format: google-2011, machineEvents: m.csv, taskEvents: nowhere.csv}\n",
    );
    let e = scenario::load(&dir.path().join("h.yaml"))
        .expect_err("a missing file")
        .to_string();
    assert!(e.contains("nowhere.csv: "), "{e}");
}

#[test]
fn trace_entries_are_checked_like_the_rest_of_the_scenario() {
    let check = |entry: &str| {
        let text = format!(
            "apiVersion: sim.flotilla.io/v1\nkind: Scenario\nspec:\n  duration: 1h\n  traces:\n  - {entry}\n"
        );
        scenario::parse("s.yaml", &text)
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default()
    };
    assert_eq!(
        check("{format: borg, nodes: a.csv}"),
        "s.yaml: spec.traces[0].format: unsupported value \"borg\": supported values: \"alibaba-v2023\", \"google-2011\""
    );
    assert_eq!(
        check("{format: alibaba-v2023, nodes: a.csv}"),
        "s.yaml: spec.traces[0].pods: Required value: format \"alibaba-v2023\" reads this file"
    );
    assert_eq!(
        check("{format: alibaba-v2023, nodes: a.csv, pods: b.csv, taskEvents: c.csv}"),
        "s.yaml: spec.traces[0].taskEvents: not used by format \"alibaba-v2023\""
    );
    let e = check("{format: google-2011, machineEvents: a.csv, taskEvent: c.csv}");
    assert!(
        e.starts_with("s.yaml:6:") && e.contains("unknown field `taskEvent`"),
        "{e}"
    );
    assert_eq!(
        check("{format: google-2011, machineEvents: a, taskEvents: b, cpuPerUnit: \"0\"}"),
        "s.yaml: spec.traces[0].cpuPerUnit: must be greater than 0"
    );
}

#[test]
fn the_google_sample_replays_its_tasks() {
    let s = scenario::load(&Path::new(DATA).join("google-sample.yaml")).expect("valid scenario");
    let mut sim = Simulation::new(s, 1).expect("starts");
    sim.run();
    assert!(sim.apply_errors().is_empty(), "{:?}", sim.apply_errors());
    let s = sim.summary(0.0);
    assert_eq!(s.nodes, 31);
    assert_eq!(s.pods_created, 115);
    assert_eq!(s.pods_scheduled, 115, "{s:#?}");
    assert_eq!(s.pods_succeeded, 58, "{s:#?}");
    assert_eq!(s.pods_failed, 36, "{s:#?}");
    assert_eq!(s.pods_running_at_end, 21, "{s:#?}");
}

#[test]
fn finished_pods_can_be_deleted_as_the_trace_deleted_them() {
    let text = std::fs::read_to_string(Path::new(DATA).join("alibaba-sample.yaml"))
        .expect("readable scenario");
    let text = text.replace(
        "    pods: alibaba-gpu-v2023/openb_pod_list_sample.csv\n",
        "    pods: alibaba-gpu-v2023/openb_pod_list_sample.csv\n    deleteFinished: true\n",
    );
    let file = Path::new(DATA).join("alibaba-sample-delete.yaml");
    let s = scenario::parse(&file.display().to_string(), &text).expect("valid scenario");
    assert!(s.trace_pods.iter().all(|p| p.delete_finished));
    let mut sim = Simulation::new(s, 1).expect("starts");
    sim.run();
    assert!(sim.apply_errors().is_empty(), "{:?}", sim.apply_errors());
    assert_eq!(sim.cluster().store().iter_kind(Kind::Pod).count(), 0);
    let s = sim.summary(0.0);
    assert_eq!(s.pods_created, 300);
    assert_eq!(
        (s.pods_succeeded, s.pods_failed, s.pods_deleted),
        (197, 103, 0),
        "{s:#?}"
    );
}
