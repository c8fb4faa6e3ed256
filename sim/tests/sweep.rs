//! `flotilla sweep`: seeds × configurations, the confidence-interval table, common random
//! numbers, shards and `flotilla sweep-report`.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;

const SMALL: &str = "tests/testdata/scenarios/small.yaml";

fn flotilla(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_flotilla"))
        .args(args)
        .output()
        .expect("flotilla runs")
}

fn ok(args: &[&str]) -> String {
    let out = flotilla(args);
    assert!(
        out.status.success(),
        "flotilla {args:?} failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// A CSV file as a header and rows of cells by column name.
fn read_csv(path: &Path) -> Vec<BTreeMap<String, String>> {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let mut lines = text.lines();
    let header: Vec<String> = lines
        .next()
        .expect("a header")
        .split(',')
        .map(str::to_string)
        .collect();
    lines
        .map(|l| {
            let cells: Vec<&str> = l.split(',').collect();
            assert_eq!(cells.len(), header.len(), "{l}");
            header
                .iter()
                .cloned()
                .zip(cells.into_iter().map(str::to_string))
                .collect()
        })
        .collect()
}

fn num(row: &BTreeMap<String, String>, col: &str) -> f64 {
    row[col]
        .parse()
        .unwrap_or_else(|_| panic!("{col} = {:?} in {row:?}", row[col]))
}

#[test]
fn three_seeds_under_two_configurations_give_sensible_intervals() {
    let dir = tempfile::tempdir().expect("temp dir");
    let out = dir.path().to_str().expect("utf-8");
    let stdout = ok(&[
        "sweep",
        SMALL,
        "--seeds",
        "1..3",
        "--set",
        "spec.duration=3m",
        "--config",
        "base",
        "--config",
        "big:spec.nodePools[0].count=24",
        "--config",
        "big:spec.nodePools[0].capacity.cpu=8",
        "--out",
        out,
    ]);
    assert!(
        stdout.contains("base (n=3)") && stdout.contains("big (n=3)"),
        "{stdout}"
    );
    assert!(stdout.contains("big − base"), "{stdout}");

    let runs = read_csv(&dir.path().join("sweep.csv"));
    assert_eq!(runs.len(), 6);
    let order: Vec<(String, String)> = runs
        .iter()
        .map(|r| (r["configuration"].clone(), r["seed"].clone()))
        .collect();
    let expected: Vec<(String, String)> = ["base", "big"]
        .iter()
        .flat_map(|c| (1..=3).map(move |s| (c.to_string(), s.to_string())))
        .collect();
    assert_eq!(order, expected, "rows in (configuration, seed) order");
    for r in &runs {
        assert_eq!(
            num(r, "sim_time_s"),
            180.0,
            "--set applies to every configuration"
        );
        let nodes = if r["configuration"] == "base" {
            12.0
        } else {
            24.0
        };
        assert_eq!(num(r, "nodes"), nodes);
    }
    // Three seeds, three different histories.
    let digests: std::collections::BTreeSet<&str> = runs[..3]
        .iter()
        .map(|r| r["event_log_digest"].as_str())
        .collect();
    assert_eq!(digests.len(), 3);

    let stats = read_csv(&dir.path().join("sweep_summary.csv"));
    let stat = |config: &str, metric: &str| {
        stats
            .iter()
            .find(|s| s["configuration"] == config && s["metric"] == metric)
            .unwrap_or_else(|| panic!("no {config} {metric} row"))
            .clone()
    };
    for s in &stats {
        assert_eq!(num(s, "n"), 3.0);
        let (lo, mean, hi) = (num(s, "ci95_low"), num(s, "mean"), num(s, "ci95_high"));
        assert!(lo <= mean && mean <= hi, "{s:?}");
    }
    let nodes = stat("big", "nodes");
    assert_eq!(num(&nodes, "mean"), 24.0);
    assert_eq!(num(&nodes, "ci95_half_width"), 0.0);
    assert_eq!(num(&nodes, "delta_mean"), 12.0);
    assert_eq!(
        stat("base", "nodes")["delta_mean"],
        "",
        "no difference for the baseline"
    );
    // More capacity for the same pods: allocation falls, and with common random numbers the
    // paired difference is negative in every seed.
    let cpu = stat("big", "allocation_ratio_mean.cpu");
    assert!(num(&cpu, "delta_ci95_high") < 0.0, "{cpu:?}");
    let created = stat("base", "pods_created");
    assert!(num(&created, "mean") > 10.0, "{created:?}");
}

#[test]
fn a_sweep_row_is_reproduced_by_run_with_its_seed_and_edits() {
    let dir = tempfile::tempdir().expect("temp dir");
    let out = dir.path().join("sweep");
    ok(&[
        "sweep",
        SMALL,
        "--seeds",
        "4,9",
        "--jobs",
        "2",
        "--set",
        "spec.duration=4m",
        "--out",
        out.to_str().expect("utf-8"),
    ]);
    let configs: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(out.join("sweep_configurations.json")).expect("written"),
    )
    .expect("JSON");
    assert_eq!(configs, serde_json::json!({"base": ["spec.duration=4m"]}));
    let runs = read_csv(&out.join("sweep.csv"));
    assert_eq!(runs.len(), 2);
    let alone = dir.path().join("alone");
    ok(&[
        "run",
        SMALL,
        "--seed",
        "9",
        "--set",
        "spec.duration=4m",
        "--out",
        alone.to_str().expect("utf-8"),
    ]);
    let summary: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(alone.join("summary.json")).expect("summary.json"),
    )
    .expect("JSON");
    assert_eq!(runs[1]["seed"], "9");
    assert_eq!(
        runs[1]["event_log_digest"],
        summary["event_log_digest"].as_str().expect("a digest")
    );
}

#[test]
fn shards_split_the_seeds_and_sweep_report_joins_them() {
    let dir = tempfile::tempdir().expect("temp dir");
    let out = dir.path().to_str().expect("utf-8");
    for shard in ["0/2", "1/2"] {
        ok(&[
            "sweep",
            SMALL,
            "--seeds",
            "1..3",
            "--set",
            "spec.duration=2m",
            "--shard",
            shard,
            "--out",
            out,
        ]);
    }
    let seeds = |file: &str| -> Vec<String> {
        read_csv(&dir.path().join(file))
            .iter()
            .map(|r| r["seed"].clone())
            .collect()
    };
    assert_eq!(seeds("sweep-0-of-2.csv"), ["1", "3"]);
    assert_eq!(seeds("sweep-1-of-2.csv"), ["2"]);
    assert!(!dir.path().join("sweep.csv").exists());

    let report = dir.path().join("report");
    let stdout = ok(&[
        "sweep-report",
        dir.path().join("sweep-1-of-2.csv").to_str().expect("utf-8"),
        dir.path().join("sweep-0-of-2.csv").to_str().expect("utf-8"),
        "--out",
        report.to_str().expect("utf-8"),
    ]);
    assert!(stdout.contains("base (n=3)"), "{stdout}");
    let stats = read_csv(&report.join("sweep_summary.csv"));
    assert!(stats.iter().all(|s| s["n"] == "3"));
}

#[test]
fn bad_arguments_are_reported_before_anything_runs() {
    for (args, message) in [
        (vec!["--shard", "2/2"], "shard \"2/2\""),
        (vec!["--seeds", "5..1"], "the range is empty"),
        (
            vec!["--set", "spec.nodePools[3].count=1"],
            "index 3 is past its end",
        ),
        (vec!["--set", "spec.duration=soon"], "spec.duration"),
        (vec!["--config", "a b:spec.seed=1"], "configuration's name"),
    ] {
        let mut full = vec!["sweep", SMALL, "--out", "/nonexistent/never-written"];
        full.extend(&args);
        let out = flotilla(&full);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{args:?} succeeded");
        assert!(stderr.contains(message), "{args:?}: {stderr}");
    }
}
