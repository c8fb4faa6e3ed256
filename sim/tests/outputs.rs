//! What `flotilla run` writes: summary.json with every field the issue names, metrics.csv,
//! the SVG plots and events.jsonl; and the same digest whatever the number of threads.

use std::path::Path;
use std::process::Command;

use flotilla_sim::engine::Simulation;
use flotilla_sim::scenario;

const SMALL: &str = "tests/testdata/scenarios/small.yaml";

fn flotilla(args: &[&str], threads: Option<&str>) -> std::process::Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_flotilla"));
    cmd.args(args);
    if let Some(n) = threads {
        cmd.env("RAYON_NUM_THREADS", n);
    }
    let out = cmd.output().expect("flotilla runs");
    assert!(
        out.status.success(),
        "flotilla {args:?} failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

fn summary(dir: &Path) -> serde_json::Value {
    let text = std::fs::read_to_string(dir.join("summary.json")).expect("summary.json");
    serde_json::from_str(&text).expect("summary.json is JSON")
}

#[test]
fn run_writes_every_output_and_they_parse() {
    let dir = tempfile::tempdir().expect("temp dir");
    let out = dir.path().to_str().expect("utf-8 path");
    let printed = flotilla(
        &["run", SMALL, "--seed", "7", "--out", out, "--events"],
        None,
    );
    let stdout = String::from_utf8_lossy(&printed.stdout);
    assert!(stdout.contains("event log digest"), "{stdout}");
    // Not a terminal: no progress bar on stderr.
    assert!(!String::from_utf8_lossy(&printed.stderr).contains("virtual s"));

    let s = summary(dir.path());
    for field in [
        "seed",
        "sim_time_s",
        "wall_time_s",
        "events_processed",
        "event_log_digest",
        "nodes",
        "pods_created",
        "pods_scheduled",
        "pods_running_at_end",
        "pods_succeeded",
        "pods_failed",
        "pods_pending_at_end",
        "pods_unschedulable",
        "evictions",
        "preemptions",
        "restarts",
        "allocation_ratio_mean",
        "slo_pod_startup_5s",
    ] {
        assert!(s.get(field).is_some(), "summary.json lacks {field}: {s:#}");
    }
    for latency in ["scheduling_latency_ms", "startup_latency_ms"] {
        for p in ["p50", "p90", "p99", "max"] {
            assert!(s[latency][p].is_number(), "{latency}.{p}: {s:#}");
        }
    }
    assert_eq!(s["seed"], 7);
    assert_eq!(s["nodes"], 12);
    assert!(s["allocation_ratio_mean"]["cpu"].as_f64().unwrap_or(0.0) > 0.0);
    assert!(s["allocation_ratio_mean"]["memory"].as_f64().unwrap_or(0.0) > 0.0);
    assert!(
        s["allocation_ratio_mean"].get("nvidia.com/gpu").is_none(),
        "no node has GPUs"
    );

    let csv = std::fs::read_to_string(dir.path().join("metrics.csv")).expect("metrics.csv");
    let mut lines = csv.lines();
    let header = lines.next().expect("a header");
    assert!(
        header.starts_with(
            "time_s,pods_pending,pods_running,pods_succeeded,pods_failed,pods_unschedulable,nodes_ready,cpu_requested,cpu_allocatable,cpu_allocation_ratio"
        ),
        "{header}"
    );
    let columns = header.split(',').count();
    let rows: Vec<&str> = lines.collect();
    // 10 minutes sampled every 30 s, both ends included.
    assert_eq!(rows.len(), 21, "{csv}");
    for r in &rows {
        assert_eq!(r.split(',').count(), columns, "{r}");
    }

    for svg in [
        "allocation.svg",
        "pending.svg",
        "scheduling_latency_cdf.svg",
        "startup_latency_cdf.svg",
    ] {
        let text = std::fs::read_to_string(dir.path().join(svg)).expect(svg);
        assert!(
            text.starts_with("<svg"),
            "{svg}: {}",
            &text[..60.min(text.len())]
        );
        assert!(text.trim_end().ends_with("</svg>"), "{svg}");
    }

    let events = std::fs::read_to_string(dir.path().join("events.jsonl")).expect("events.jsonl");
    let mut changes = 0;
    let mut cluster_events = 0;
    let mut pods_with_phase = 0;
    let mut last_version = 0;
    for line in events.lines() {
        let v: serde_json::Value = serde_json::from_str(line).expect("each line is JSON");
        assert!(v["time_s"].is_number(), "{line}");
        assert!(v["kind"].is_string() && v["name"].is_string(), "{line}");
        match v["type"].as_str() {
            Some("Added" | "Modified" | "Deleted") => {
                changes += 1;
                let rv = v["resourceVersion"].as_u64().expect("a resourceVersion");
                assert!(rv > last_version, "store changes in order: {line}");
                last_version = rv;
                if v["kind"] == "Pod" {
                    assert!(v["phase"].is_string() && v["node"].is_string(), "{line}");
                    pods_with_phase += 1;
                }
            }
            Some("Event") => {
                cluster_events += 1;
                for f in ["eventType", "reason", "message", "source"] {
                    assert!(v[f].is_string(), "{f}: {line}");
                }
            }
            other => panic!("unexpected type {other:?}: {line}"),
        }
    }
    assert!(changes > 100 && cluster_events > 10 && pods_with_phase > 0);
    // One line per store change: the last version is the number of writes.
    assert_eq!(last_version, changes);
}

#[test]
fn the_digest_does_not_depend_on_the_number_of_threads() {
    let digests: Vec<String> = ["1", "2"]
        .iter()
        .map(|n| {
            let dir = tempfile::tempdir().expect("temp dir");
            let out = dir.path().to_str().expect("utf-8 path");
            flotilla(&["run", SMALL, "--seed", "11", "--out", out], Some(n));
            summary(dir.path())["event_log_digest"]
                .as_str()
                .expect("a digest")
                .to_string()
        })
        .collect();
    assert_eq!(digests[0], digests[1], "RAYON_NUM_THREADS=1 and =2");

    // In process too: a pool of one thread, of two, and a sweep's single-threaded run.
    let small = || scenario::load(Path::new(SMALL)).expect("valid scenario");
    let in_pool = |threads| {
        rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .expect("a pool")
            .install(|| {
                let mut sim = Simulation::new(small(), 11).expect("starts");
                sim.run();
                sim.summary(0.0).event_log_digest
            })
    };
    assert_eq!(in_pool(1), digests[0]);
    assert_eq!(in_pool(2), digests[0]);
    let swept = flotilla_sim::sweep::run_one(small(), 11).expect("runs");
    assert_eq!(swept.event_log_digest, digests[0]);
}

#[test]
fn metrics_csv_has_a_column_per_hpa() {
    let dir = tempfile::tempdir().expect("temp dir");
    let scenario = dir.path().join("hpa.yaml");
    std::fs::write(
        &scenario,
        r#"apiVersion: sim.flotilla.io/v1
kind: Scenario
metadata: {name: hpa}
spec:
  duration: 3m
  sampleInterval: 30s
  nodePools:
  - {name: n, count: 4, capacity: {cpu: "8", memory: 32Gi}}
  workloads:
  - at: 0s
    manifests: |
      apiVersion: apps/v1
      kind: Deployment
      metadata: {name: web}
      spec:
        replicas: 2
        selector: {matchLabels: {app: web}}
        template:
          metadata: {labels: {app: web}}
          spec:
            containers:
            - {name: web, image: nginx:1.27, resources: {requests: {cpu: 500m}}}
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
          resource: {name: cpu, target: {type: Utilization, averageUtilization: 60}}
"#,
    )
    .expect("written");
    let out = dir.path().join("out");
    flotilla(
        &[
            "run",
            scenario.to_str().expect("utf-8"),
            "--out",
            out.to_str().expect("utf-8"),
        ],
        None,
    );
    let csv = std::fs::read_to_string(out.join("metrics.csv")).expect("metrics.csv");
    let header: Vec<&str> = csv.lines().next().expect("header").split(',').collect();
    let col = header
        .iter()
        .position(|h| *h == "hpa_replicas:default/web")
        .unwrap_or_else(|| panic!("no HPA column in {header:?}"));
    let last = csv.lines().last().expect("rows");
    let replicas: i32 = last
        .split(',')
        .nth(col)
        .expect("cell")
        .parse()
        .expect("a number");
    assert!(
        (3..=6).contains(&replicas),
        "the HPA keeps web between 3 and 6 replicas: {replicas}\n{csv}"
    );
}
