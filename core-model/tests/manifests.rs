//! Data-driven golden tests for the manifest loader and the API server's checks.
//!
//! Every file under `tests/testdata/{valid,invalid,warnings}/` with a `.yaml`, `.yml` or `.json`
//! extension is one case; a new case is a new file. The case is read and checked (defaults, then
//! validation) with [`flotilla_model::manifest::check_str`], as `flotilla validate` does, and
//! rendered as text, one finding a line:
//!
//! ```text
//! object: Deployment default/nginx-deployment at valid/nginx-deployment.yaml:2:1
//! warning: warnings/deployment-typos.yaml:24:9: spec.template.spec.containers[0].imagePullPolicey: unknown field
//! error: invalid/missing-image.yaml:15:9: spec.template.spec.containers[0].image: Required value
//! ```
//!
//! (`object:` lines only for `valid/` cases.) The rendering is compared with `NAME.expected` beside
//! the case; a mismatch fails with a line diff. Run with `UPDATE_EXPECT=1` to (re)write the
//! expected files instead, then review them with `git diff`:
//!
//! ```text
//! UPDATE_EXPECT=1 cargo test -p flotilla-model --test manifests
//! ```
//!
//! Besides the golden comparison, each directory has an invariant that no blessing can override:
//! `valid/` cases have no errors, `invalid/` cases have at least one, and `warnings/` cases have
//! warnings but no errors.

// This harness is the driver here: it reads its test data and the environment. The sans-IO rule
// in clippy.toml is for the library, not for its tests.
#![allow(clippy::disallowed_methods)]

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use flotilla_model::api::{ConfigMap, Deployment, Pod, Secret};
use flotilla_model::manifest::{check_str, parse_str, Checked};
use flotilla_model::{Object, Quantity};

/// What a directory of cases promises about each of its cases.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Expect {
    /// Parses and checks with no error; warnings allowed; objects are listed.
    Valid,
    /// At least one error.
    Invalid,
    /// At least one warning and no error.
    Warnings,
}

/// The rendering of one case and how many errors and warnings it had.
struct Outcome {
    text: String,
    errors: usize,
    warnings: usize,
}

fn testdata() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/testdata")
}

/// The case files of `dir`, in name order.
fn cases(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("reading {}: {e}", dir.display()))
        .map(|entry| entry.expect("a directory entry").path())
        .filter(|p| is_case(p))
        .collect();
    files.sort();
    files
}

fn is_case(path: &Path) -> bool {
    matches!(
        path.extension().and_then(|e| e.to_str()),
        Some("yaml" | "yml" | "json")
    )
}

/// Loads and checks one manifest text, rendering what the loader and the checks found.
fn render(name: &str, text: &str, expect: Expect) -> Outcome {
    let mut out = String::new();
    let Checked { manifests, errors } = check_str(name, text);
    if expect == Expect::Valid {
        for o in &manifests.objects {
            let meta = o.object.metadata();
            let kind = o.object.kind();
            let name = if meta.name.is_empty() {
                format!("{}*", meta.generate_name)
            } else {
                meta.name.clone()
            };
            let qualified = if kind.namespaced() {
                let ns = if meta.namespace.is_empty() {
                    "default"
                } else {
                    &meta.namespace
                };
                format!("{ns}/{name}")
            } else {
                name
            };
            writeln!(out, "object: {kind} {qualified} at {}", o.location).expect("a String");
        }
    }
    for w in &manifests.warnings {
        writeln!(out, "warning: {w}").expect("a String");
    }
    for e in &errors {
        writeln!(out, "error: {e}").expect("a String");
    }
    Outcome {
        text: out,
        errors: errors.len(),
        warnings: manifests.warnings.len(),
    }
}

/// Runs every case of `testdata/<dir>` and fails with every problem found, not just the first.
fn run_dir(dir: &str, expect: Expect) {
    let update = std::env::var_os("UPDATE_EXPECT").is_some_and(|v| !v.is_empty() && v != "0");
    let root = testdata();
    let files = cases(&root.join(dir));
    assert!(!files.is_empty(), "no cases in testdata/{dir}");
    let mut failures = Vec::new();
    for pair in files.windows(2) {
        if pair[0].file_stem() == pair[1].file_stem() {
            failures.push(format!(
                "{} and {} would share one expected file; rename one",
                pair[0].display(),
                pair[1].display()
            ));
        }
    }
    for file in &files {
        let rel = file
            .strip_prefix(&root)
            .expect("a case under testdata")
            .to_string_lossy()
            .replace('\\', "/");
        let text = std::fs::read_to_string(file)
            .unwrap_or_else(|e| panic!("reading {}: {e}", file.display()));
        let outcome = render(&rel, &text, expect);
        let broken = match expect {
            Expect::Valid if outcome.errors > 0 => Some("a valid manifest must have no errors"),
            Expect::Invalid if outcome.errors == 0 => {
                Some("an invalid manifest must have at least one error")
            }
            Expect::Warnings if outcome.errors > 0 => Some("a warnings case must have no errors"),
            Expect::Warnings if outcome.warnings == 0 => {
                Some("a warnings case must have at least one warning")
            }
            _ => None,
        };
        if let Some(why) = broken {
            failures.push(format!("{rel}: {why}; got:\n{}", outcome.text));
        }
        let expected_path = file.with_extension("expected");
        if update {
            std::fs::write(&expected_path, &outcome.text)
                .unwrap_or_else(|e| panic!("writing {}: {e}", expected_path.display()));
            continue;
        }
        match std::fs::read_to_string(&expected_path) {
            Ok(expected) if expected == outcome.text => {}
            Ok(expected) => failures.push(format!(
                "{rel}: output differs from {} (- expected, + actual):\n{}",
                expected_path.display(),
                diff(&expected, &outcome.text)
            )),
            Err(e) => failures.push(format!(
                "{rel}: cannot read {}: {e}; actual output:\n{}",
                expected_path.display(),
                outcome.text
            )),
        }
    }
    // An expected file whose case is gone is stale.
    for entry in std::fs::read_dir(root.join(dir)).expect("a readable directory") {
        let path = entry.expect("a directory entry").path();
        if path.extension().and_then(|e| e.to_str()) == Some("expected")
            && !files.iter().any(|f| f.with_extension("expected") == path)
        {
            failures.push(format!("{}: no case beside it", path.display()));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} case(s) in testdata/{dir} failed \
         (if the new output is right, rerun with UPDATE_EXPECT=1 and review the diff):\n\n{}",
        failures.len(),
        files.len(),
        failures.join("\n")
    );
}

/// A line diff of two texts (longest common subsequence), as `-`/`+`/` ` lines.
fn diff(expected: &str, actual: &str) -> String {
    let a: Vec<&str> = expected.lines().collect();
    let b: Vec<&str> = actual.lines().collect();
    // lcs[i][j]: length of the longest common subsequence of a[i..] and b[j..].
    let mut lcs = vec![vec![0usize; b.len() + 1]; a.len() + 1];
    for i in (0..a.len()).rev() {
        for j in (0..b.len()).rev() {
            lcs[i][j] = if a[i] == b[j] {
                lcs[i + 1][j + 1] + 1
            } else {
                lcs[i + 1][j].max(lcs[i][j + 1])
            };
        }
    }
    let mut out = String::new();
    let (mut i, mut j) = (0, 0);
    while i < a.len() || j < b.len() {
        if i < a.len() && j < b.len() && a[i] == b[j] {
            writeln!(out, "  {}", a[i]).expect("a String");
            i += 1;
            j += 1;
        } else if i < a.len() && (j == b.len() || lcs[i + 1][j] >= lcs[i][j + 1]) {
            writeln!(out, "- {}", a[i]).expect("a String");
            i += 1;
        } else {
            writeln!(out, "+ {}", b[j]).expect("a String");
            j += 1;
        }
    }
    if expected.ends_with('\n') != actual.ends_with('\n') {
        out.push_str("(the texts differ in their final newline)\n");
    }
    out
}

#[test]
fn valid_manifests_load_and_check_cleanly() {
    run_dir("valid", Expect::Valid);
}

#[test]
fn invalid_manifests_report_located_errors() {
    run_dir("invalid", Expect::Invalid);
}

#[test]
fn unknown_fields_are_located_warnings() {
    run_dir("warnings", Expect::Warnings);
}

#[test]
fn the_diff_shows_changed_lines() {
    let d = diff("a\nb\nc\n", "a\nx\nc\nd\n");
    assert_eq!(d, "  a\n- b\n+ x\n  c\n+ d\n");
    assert_eq!(
        diff("a\n", "a"),
        "  a\n(the texts differ in their final newline)\n"
    );
}

// ---------------------------------------------------------------------------------------------
// What some valid cases mean: the golden files say they load; these say they load as a cluster
// reads them (numbers, octal modes, anchors, line endings).
// ---------------------------------------------------------------------------------------------

/// The objects of a `valid/` case, which must parse.
fn objects_of(case: &str) -> Vec<Object> {
    let path = testdata().join("valid").join(case);
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("reading {}: {e}", path.display()));
    match parse_str(case, &text) {
        Ok(m) => m.objects.into_iter().map(|o| o.object).collect(),
        Err(errors) => panic!("{case} does not parse: {errors:?}"),
    }
}

fn the<T: TryFrom<Object>>(case: &str, index: usize) -> T {
    let object = objects_of(case).swap_remove(index);
    let kind = object.kind();
    T::try_from(object).unwrap_or_else(|_| panic!("{case}[{index}] is a {kind}"))
}

fn q(text: &str) -> Quantity {
    Quantity::parse(text).unwrap_or_else(|e| panic!("{text:?}: {e}"))
}

#[test]
fn quantities_read_the_same_quoted_unquoted_and_as_numbers() {
    let pod: Pod = the("quantities.yaml", 0);
    let c = &pod.spec.containers;
    // "250m" quoted, 0.25 as a YAML float: the same quantity.
    assert_eq!(
        c[0].resources.requests["cpu"],
        c[1].resources.requests["cpu"]
    );
    assert_eq!(c[1].resources.requests["cpu"].milli_value(), 250);
    assert_eq!(c[1].resources.limits["cpu"].milli_value(), 500);
    assert_eq!(c[1].resources.limits["memory"].value(), 128_974_848);
    assert_eq!(c[1].resources.requests["memory"], q("64Mi"));
    // Integers, exponents and decimal suffixes.
    assert_eq!(c[2].resources.requests["cpu"].milli_value(), 1000);
    assert_eq!(
        c[2].resources.requests["memory"],
        c[2].resources.limits["memory"]
    );
    assert_eq!(c[2].resources.requests["memory"].value(), 129_000_000);
    assert_eq!(c[3].resources.limits["memory"].value(), 3 << 29);
    assert_eq!(c[3].resources.limits["cpu"], q("1.5"));
    assert_eq!(c[3].resources.limits["nvidia.com/gpu"].value(), 1);
}

#[test]
fn json_numbers_are_quantities_too() {
    let pod: Pod = the("nginx-pod.json", 0);
    let limits = &pod.spec.containers[0].resources.limits;
    assert_eq!(limits["cpu"], q("500m"));
    assert_eq!(limits["memory"], q("128Mi"));
}

#[test]
fn file_modes_read_as_yaml_1_1_octal() {
    let pod: Pod = the("volumes-octal-modes.yaml", 0);
    let projected = pod.spec.volumes[0]
        .projected
        .as_ref()
        .expect("a projected volume");
    assert_eq!(projected.default_mode, Some(0o644));
    let secret = projected.sources[0]
        .secret
        .as_ref()
        .expect("a secret source");
    assert_eq!(secret.items[0].mode, Some(0o400));
    let config = pod.spec.volumes[1]
        .config_map
        .as_ref()
        .expect("a configMap volume");
    assert_eq!(config.default_mode, Some(420));
    let downward = pod.spec.volumes[2]
        .downward_api
        .as_ref()
        .expect("a downwardAPI volume");
    assert_eq!(downward.default_mode, Some(0o644));
}

#[test]
fn anchors_and_merge_keys_expand() {
    let d: Deployment = the("yaml-anchors.yaml", 0);
    let labels = &d.spec.template.metadata.labels;
    assert_eq!(labels.len(), 3, "{labels:?}");
    assert_eq!(labels["track"], "stable");
    assert_eq!(labels["tier"], "backend");
    let selector = d.spec.selector.as_ref().expect("a selector");
    assert_eq!(selector.match_labels.len(), 2);
    let c = &d.spec.template.spec.containers;
    assert_eq!(c[0].resources, c[1].resources);
    assert_eq!(c[1].resources.limits["memory"], q("128Mi"));
    // A key next to a merge overrides the merged one.
    assert_eq!(c[2].resources.requests, c[0].resources.requests);
    assert_eq!(c[2].resources.limits["cpu"], q("300m"));
    assert_eq!(c[2].resources.limits["memory"], q("256Mi"));
}

#[test]
fn windows_line_endings_do_not_leak_into_values() {
    let cm: ConfigMap = the("crlf-line-endings.yaml", 0);
    assert_eq!(cm.data["greeting"], "hello");
    assert_eq!(cm.data["settings.ini"], "[main]\ndebug=false\n");
    assert_eq!(cm.metadata.labels["app"], "notepad");
}

#[test]
fn secret_data_is_decoded_and_string_data_kept() {
    let secret: Secret = the("secret-usages.yaml", 0);
    assert_eq!(secret.data["username"].as_slice(), b"admin");
    assert_eq!(secret.data["password"].as_slice(), b"1f2d1e2e67df");
    assert!(secret.string_data["config.yaml"].starts_with("apiUrl: "));
    // A block scalar of base64 with a trailing newline still decodes.
    let ssh: Secret = the("secret-usages.yaml", 2);
    assert_eq!(
        ssh.data["ssh-privatekey"].as_slice(),
        b"Pouring6%Emoticon%Scuba"
    );
}

#[test]
fn lists_expand_into_their_items() {
    let kinds: Vec<String> = objects_of("kubectl-get-list.yaml")
        .iter()
        .map(|o| format!("{} {}", o.kind(), o.metadata().name))
        .collect();
    assert_eq!(kinds, ["Deployment hello-node", "Service hello-node"]);
    let kinds: Vec<String> = objects_of("kubectl-get-json-list.json")
        .iter()
        .map(|o| format!("{} {}", o.kind(), o.metadata().name))
        .collect();
    assert_eq!(
        kinds,
        ["ConfigMap kube-root-ca.crt-copy", "Service kubernetes-copy"]
    );
}
