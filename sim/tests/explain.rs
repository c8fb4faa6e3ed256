//! End-to-end tests of `flotilla explain`: the built binary on the manifests and scheduler
//! configurations of `tests/testdata/explain/`, in JSON and table output, with its exit status.
//!
//! The expected scores are kube-scheduler's: least_allocated_test.go and most_allocated_test.go
//! ("nothing scheduled, resources requested, differently sized nodes": 37/50 and 62/50),
//! taint_toleration_test.go (a tolerated PreferNoSchedule taint: 100 against 0), and hand-computed
//! cases whose arithmetic is spelled out next to them.

use std::path::PathBuf;
use std::process::{Command, Output, Stdio};

use serde_json::{json, Value};

fn testdata(name: &str) -> String {
    let path: PathBuf = [
        env!("CARGO_MANIFEST_DIR"),
        "tests",
        "testdata",
        "explain",
        name,
    ]
    .iter()
    .collect();
    path.to_string_lossy().into_owned()
}

fn flotilla(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_flotilla"))
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .output()
        .expect("the flotilla binary runs")
}

fn stdout(out: &Output) -> String {
    String::from_utf8(out.stdout.clone()).expect("UTF-8 output")
}

fn stderr(out: &Output) -> String {
    String::from_utf8(out.stderr.clone()).expect("UTF-8 output")
}

fn assert_exit(out: &Output, code: i32) {
    assert_eq!(
        out.status.code(),
        Some(code),
        "exit status {:?}\n--- stdout\n{}\n--- stderr\n{}",
        out.status,
        stdout(out),
        stderr(out)
    );
}

/// `flotilla explain -f FILE --pod POD [--config CONFIG] -o json`, parsed.
fn explain_json(file: &str, pod: &str, config: Option<&str>) -> Value {
    let (file, config) = (testdata(file), config.map(testdata));
    let mut args = vec!["explain", "-f", &file, "--pod", pod, "-o", "json"];
    if let Some(c) = &config {
        args.extend(["--config", c]);
    }
    let out = flotilla(&args);
    assert_exit(&out, 0);
    serde_json::from_str(&stdout(&out)).expect("JSON output")
}

/// The node entry named `name`.
fn node<'a>(e: &'a Value, name: &str) -> &'a Value {
    e["nodes"]
        .as_array()
        .expect("nodes")
        .iter()
        .find(|n| n["name"] == name)
        .unwrap_or_else(|| panic!("no node {name} in {e:#}"))
}

#[test]
fn least_allocated_scores_are_kube_schedulers_in_the_issues_shape() {
    let e = explain_json("least-allocated.yaml", "web", Some("only-fit.yaml"));
    assert_eq!(
        e,
        json!({
            "pod": "default/web",
            "selected": "n2",
            "message": "",
            "nodes": [
                {"name": "n1", "feasible": true, "reasons": [],
                 "scores": {"NodeResourcesFit": 37}, "total": 37},
                {"name": "n2", "feasible": true, "reasons": [],
                 "scores": {"NodeResourcesFit": 50}, "total": 50}
            ]
        })
    );
}

#[test]
fn most_allocated_args_reach_the_plugin() {
    let e = explain_json("least-allocated.yaml", "web", Some("most-allocated.yaml"));
    assert_eq!(e["selected"], "n1");
    assert_eq!(node(&e, "n1")["scores"], json!({"NodeResourcesFit": 62}));
    assert_eq!(node(&e, "n1")["total"], 62);
    assert_eq!(node(&e, "n2")["scores"], json!({"NodeResourcesFit": 50}));
    assert_eq!(node(&e, "n2")["total"], 50);
}

#[test]
fn a_tolerated_prefer_no_schedule_taint_scores_100_and_the_other_0() {
    // Default profile: TaintToleration (weight 3) decides.
    let e = explain_json("taints.yaml", "tolerant", None);
    assert_eq!(e["selected"], "node-a");
    assert_eq!(node(&e, "node-a")["scores"]["TaintToleration"], 100);
    assert_eq!(node(&e, "node-b")["scores"]["TaintToleration"], 0);
    // The best-effort pod scores 97 on both for NodeResourcesFit ((4000-100)*100/4000 and
    // (8192-200)*100/8192 Mi, non-zero defaults), and ImageLocality 0 (no images).
    for n in ["node-a", "node-b"] {
        assert_eq!(node(&e, n)["scores"]["NodeResourcesFit"], 97);
        assert_eq!(node(&e, n)["scores"]["ImageLocality"], 0);
    }
    assert_eq!(node(&e, "node-a")["total"], 3 * 100 + 97);
    assert_eq!(node(&e, "node-b")["total"], 97);
}

#[test]
fn an_unschedulable_pod_gets_kube_schedulers_message() {
    let e = explain_json("unschedulable.yaml", "big", None);
    assert_eq!(e["selected"], Value::Null);
    assert_eq!(
        e["message"],
        "0/3 nodes are available: 1 Insufficient cpu, 1 node(s) had untolerated taint {dedicated: gpu}, 1 node(s) were unschedulable. preemption: 0/3 nodes are available: 3 Preemption is not helpful for scheduling.."
    );
    assert_eq!(node(&e, "small")["reasons"], json!(["Insufficient cpu"]));
    assert_eq!(
        node(&e, "gpu")["reasons"],
        json!(["node(s) had untolerated taint {dedicated: gpu}"])
    );
    assert_eq!(
        node(&e, "cordoned")["reasons"],
        json!(["node(s) were unschedulable"])
    );
    for n in e["nodes"].as_array().expect("nodes") {
        assert_eq!(n["feasible"], false);
        assert_eq!(n["scores"], json!({}));
    }
}

#[test]
fn pods_already_running_change_the_choice() {
    // n1 and n2 are equal, but `busy` (3 CPUs, 2Gi) runs on n2; `finished` (Succeeded) on n1
    // holds nothing. For the 1-CPU, 1Gi pod:
    // - NodeResourcesFit (LeastAllocated): n1 (75 + 87)/2 = 81; n2 (0 + 62)/2 = 31;
    // - BalancedAllocation: n1 1 - |0.25 - 0.125|/2 → 93; n2 1 - |1 - 0.375|/2 → 68;
    // - TaintToleration 100 (×3) and ImageLocality 0 on both.
    let e = explain_json("running-pods.yaml", "web", None);
    assert_eq!(e["selected"], "n1");
    assert_eq!(
        node(&e, "n1")["scores"],
        json!({"ImageLocality": 0, "NodeResourcesBalancedAllocation": 93, "NodeResourcesFit": 81, "TaintToleration": 100})
    );
    assert_eq!(
        node(&e, "n2")["scores"],
        json!({"ImageLocality": 0, "NodeResourcesBalancedAllocation": 68, "NodeResourcesFit": 31, "TaintToleration": 100})
    );
    assert_eq!(node(&e, "n1")["total"], 300 + 81 + 93);
    assert_eq!(node(&e, "n2")["total"], 300 + 31 + 68);
}

#[test]
fn node_affinity_and_topology_spread_leave_one_node() {
    let e = explain_json("affinity-spread.yaml", "web-2", None);
    assert_eq!(e["selected"], "b2");
    // kube-scheduler's node order: zones interleaved.
    let order: Vec<&str> = e["nodes"]
        .as_array()
        .expect("nodes")
        .iter()
        .map(|n| n["name"].as_str().expect("name"))
        .collect();
    assert_eq!(order, ["a1", "b1", "c1", "a2", "b2"]);
    for n in ["a2", "b1"] {
        assert_eq!(
            node(&e, n)["reasons"],
            json!(["node(s) didn't match Pod's node affinity/selector"])
        );
    }
    for n in ["a1", "c1"] {
        assert_eq!(
            node(&e, n)["reasons"],
            json!(["node(s) didn't match pod topology spread constraints"])
        );
    }
    assert_eq!(node(&e, "b2")["feasible"], true);
}

#[test]
fn the_table_names_the_chosen_node_and_every_plugin() {
    let file = testdata("least-allocated.yaml");
    let config = testdata("only-fit.yaml");
    let out = flotilla(&[
        "explain",
        "-f",
        &file,
        "--pod",
        "default/web",
        "--config",
        &config,
    ]);
    assert_exit(&out, 0);
    let text = stdout(&out);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(
        lines[0].split_whitespace().collect::<Vec<_>>(),
        ["NODE", "FEASIBLE", "NodeResourcesFit", "TOTAL", "REASONS"]
    );
    assert_eq!(
        lines[1].split_whitespace().collect::<Vec<_>>(),
        ["n1", "yes", "37", "37"]
    );
    assert_eq!(
        lines[2].split_whitespace().collect::<Vec<_>>(),
        ["n2", "yes", "50", "50"]
    );
    assert_eq!(lines.last(), Some(&"pod default/web would be bound to n2"));
}

#[test]
fn the_table_of_an_unschedulable_pod_gives_the_reasons_and_message() {
    let file = testdata("unschedulable.yaml");
    let out = flotilla(&["explain", "-f", &file, "--pod", "big"]);
    assert_exit(&out, 0);
    let text = stdout(&out);
    assert!(
        text.contains("node(s) had untolerated taint {dedicated: gpu}"),
        "{text}"
    );
    assert!(
        text.ends_with("pod default/big is unschedulable: 0/3 nodes are available: 1 Insufficient cpu, 1 node(s) had untolerated taint {dedicated: gpu}, 1 node(s) were unschedulable. preemption: 0/3 nodes are available: 3 Preemption is not helpful for scheduling..\n"),
        "{text}"
    );
}

#[test]
fn the_seed_is_accepted_and_decisions_repeat() {
    let file = testdata("taints.yaml");
    let run = |seed: &str| {
        let out = flotilla(&[
            "explain", "-f", &file, "--pod", "tolerant", "--seed", seed, "-o", "json",
        ]);
        assert_exit(&out, 0);
        stdout(&out)
    };
    assert_eq!(run("5"), run("5"));
}

#[test]
fn a_pod_that_is_not_there_is_an_error() {
    let file = testdata("least-allocated.yaml");
    let out = flotilla(&["explain", "-f", &file, "--pod", "default/nope"]);
    assert_exit(&out, 1);
    assert_eq!(
        stderr(&out),
        "error: pod default/nope not found in the manifests\n"
    );
    assert!(stdout(&out).is_empty());
    // Another namespace is another pod.
    let out = flotilla(&["explain", "-f", &file, "--pod", "kube-system/web"]);
    assert_exit(&out, 1);
    assert!(stderr(&out).contains("pod kube-system/web not found"));
    let out = flotilla(&["explain", "-f", &file, "--pod", "a/b/c"]);
    assert_exit(&out, 1);
    assert!(stderr(&out).contains("--pod must be NAMESPACE/NAME or NAME"));
}

#[test]
fn a_pod_already_bound_is_an_error() {
    let file = testdata("running-pods.yaml");
    let out = flotilla(&["explain", "-f", &file, "--pod", "busy"]);
    assert_exit(&out, 1);
    assert_eq!(
        stderr(&out),
        "error: pod default/busy is already bound to node n2\n"
    );
}

#[test]
fn a_bad_configuration_is_an_error_naming_the_field() {
    let file = testdata("least-allocated.yaml");
    let config = testdata("bad-config.yaml");
    let out = flotilla(&["explain", "-f", &file, "--pod", "web", "--config", &config]);
    assert_exit(&out, 1);
    let err = stderr(&out);
    assert!(err.starts_with("error: "), "{err}");
    assert!(err.contains("bad-config.yaml"), "{err}");
    assert!(
        err.contains("profiles[0].pluginConfig[0].args.hardPodAffinityWeight: Invalid value: 101: not in valid range [0, 100]"),
        "{err}"
    );
    assert!(stdout(&out).is_empty());
    // A configuration that is not one.
    let out = flotilla(&["explain", "-f", &file, "--pod", "web", "--config", &file]);
    assert_exit(&out, 1);
    assert!(stderr(&out).contains("unknown field"), "{}", stderr(&out));
    // A missing file.
    let out = flotilla(&[
        "explain",
        "-f",
        &file,
        "--pod",
        "web",
        "--config",
        "/nonexistent/c.yaml",
    ]);
    assert_exit(&out, 1);
    assert!(stderr(&out).contains("/nonexistent/c.yaml"));
}

#[test]
fn a_profile_nobody_configured_is_an_error() {
    let dir = tempfile::tempdir().expect("temp dir");
    let manifest = dir.path().join("pod.yaml");
    std::fs::write(
        &manifest,
        "apiVersion: v1\nkind: Node\nmetadata: {name: node-1}\nstatus: {allocatable: {cpu: \"1\", memory: 1Gi, pods: \"10\"}}\n---\napiVersion: v1\nkind: Pod\nmetadata: {name: p}\nspec:\n  schedulerName: my-scheduler\n  containers: [{name: c, image: i}]\n",
    )
    .expect("written");
    let out = flotilla(&["explain", "-f", &manifest.to_string_lossy(), "--pod", "p"]);
    assert_exit(&out, 1);
    assert_eq!(
        stderr(&out),
        "error: no scheduling profile for schedulerName \"my-scheduler\"\n"
    );
}

#[test]
fn bound_volumes_keep_pods_in_their_zone() {
    // VolumeBinding (volume_binding.go): pv-data's node affinity requires zone a.
    let e = explain_json("volumes.yaml", "db", None);
    assert_eq!(e["selected"], "a1");
    assert_eq!(node(&e, "a1")["feasible"], true);
    assert_eq!(
        node(&e, "b1")["reasons"],
        json!(["node(s) had volume node affinity conflict"])
    );
    // VolumeZone (volume_zone.go): pv-logs is labelled with zone a.
    let e = explain_json("volumes.yaml", "logs", None);
    assert_eq!(e["selected"], "a1");
    assert_eq!(
        node(&e, "b1")["reasons"],
        json!(["node(s) had no available volume zone"])
    );
    // A missing claim fails PreFilter (VolumeRestrictions, the first volume plugin).
    let e = explain_json("volumes.yaml", "orphan", None);
    assert_eq!(e["selected"], Value::Null);
    let message = e["message"].as_str().expect("message");
    assert!(
        message.contains("persistentvolumeclaim \"missing\" not found"),
        "{message}"
    );
}
