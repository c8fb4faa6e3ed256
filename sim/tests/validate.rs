//! End-to-end tests of `flotilla validate`: the built binary run on files, directories and
//! standard input, in both output formats, with its exit status.
//!
//! The manifest loader's findings themselves are covered case by case by the golden tests of
//! `flotilla-model` (`core-model/tests/manifests.rs`); these tests are about the command: which
//! files it reads, what it prints where, and how it exits.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use flotilla_model::manifest::parse_str;

/// Runs `flotilla` with `args`, feeding `stdin` if given.
fn flotilla(args: &[&str], stdin: Option<&str>) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_flotilla"));
    cmd.args(args)
        .stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().expect("the flotilla binary starts");
    if let Some(text) = stdin {
        let mut pipe = child.stdin.take().expect("a piped stdin");
        pipe.write_all(text.as_bytes()).expect("writing stdin");
        // Dropping the pipe closes it, so the program sees the end of its input.
    }
    child.wait_with_output().expect("the flotilla binary runs")
}

fn stdout(out: &Output) -> String {
    String::from_utf8(out.stdout.clone()).expect("UTF-8 output")
}

fn stderr(out: &Output) -> String {
    String::from_utf8(out.stderr.clone()).expect("UTF-8 output")
}

/// Fails with everything the program printed when its exit code is not `code`.
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

fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let path = dir.join(name);
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).expect("creating a test directory");
    }
    std::fs::write(&path, text).expect("writing a test manifest");
    path
}

fn path_str(path: &Path) -> &str {
    path.to_str().expect("a UTF-8 temporary path")
}

const NAMESPACE: &str = "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: team-a\n";

const CONFIG_MAP: &str = "\
apiVersion: v1
kind: ConfigMap
metadata:
  name: settings
  namespace: team-a
data:
  mode: prod
";

const DEPLOYMENT_JSON: &str = r#"{
  "apiVersion": "apps/v1",
  "kind": "Deployment",
  "metadata": {"name": "web"},
  "spec": {
    "selector": {"matchLabels": {"app": "web"}},
    "template": {
      "metadata": {"labels": {"app": "web"}},
      "spec": {"containers": [{"name": "web", "image": "nginx:1.27"}]}
    }
  }
}
"#;

/// Two documents with one error each (a decode error and a validation error) and a misspelled
/// field.
const INVALID: &str = "\
apiVersion: v1
kind: Service
metadata:
  name: api
spec:
  selector:
    app: api
  ports:
  - port: 80
    protocol: HTTP
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: api
spec:
  replicas: -1
  selector:
    matchLabels:
      app: api
  template:
    metadata:
      labels:
        app: api
    spec:
      containers:
      - name: api
        image: example/api:2
        imagePullPolicey: Always
";

/// The workspace's bundled examples.
fn examples_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/manifests")
}

#[test]
fn bundled_examples_are_valid_and_every_object_is_listed() {
    let dir = examples_dir();
    let out = flotilla(&["validate", "-f", path_str(&dir)], None);
    assert_exit(&out, 0);
    let text = stdout(&out);
    let header = text.lines().next().expect("a header line");
    assert!(
        header.starts_with("KIND") && header.contains("NAMESPACE") && header.contains("SOURCE"),
        "{text}"
    );
    // Every object of every example file, read independently of the binary, has its row.
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .expect("examples/manifests is readable")
        .map(|e| e.expect("a directory entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
        .collect();
    files.sort();
    let mut objects = 0;
    for file in &files {
        let source = std::fs::read_to_string(file).expect("a readable example");
        let parsed = parse_str(path_str(file), &source).expect("an example parses");
        for o in &parsed.objects {
            let meta = o.object.metadata();
            let row_start = format!(
                "{:<1$}",
                o.object.kind().name(),
                header.find("NAMESPACE").unwrap_or(0)
            );
            let row = text
                .lines()
                .find(|l| l.starts_with(&row_start) && l.ends_with(&o.location.to_string()))
                .unwrap_or_else(|| panic!("no row for {} at {}:\n{text}", meta.name, o.location));
            assert!(
                row.split_whitespace().any(|cell| cell == meta.name),
                "{row}"
            );
            objects += 1;
        }
    }
    assert!(objects >= 10, "only {objects} example objects");
    let summary = text.lines().last().expect("a summary line");
    assert_eq!(
        summary,
        format!(
            "{objects} object(s) in {} file(s): 0 warning(s), 0 error(s)",
            files.len()
        ),
        "{text}"
    );
    assert!(stderr(&out).is_empty(), "{}", stderr(&out));
}

#[test]
fn an_invalid_file_fails_with_located_errors_and_warnings() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let file = write(dir.path(), "api.yaml", INVALID);
    let name = path_str(&file);
    let out = flotilla(&["validate", "-f", name], None);
    assert_exit(&out, 1);
    let text = stdout(&out);
    let lines: Vec<&str> = text.lines().collect();
    // The Deployment decoded and is listed; the Service did not.
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with("Deployment ") && l.ends_with(&format!("{name}:12:1"))),
        "{text}"
    );
    assert!(!lines.iter().any(|l| l.starts_with("Service ")), "{text}");
    let findings: Vec<&str> = lines
        .iter()
        .copied()
        .filter(|l| l.starts_with("warning: ") || l.starts_with("error: "))
        .collect();
    assert_eq!(
        findings,
        [
            format!(
                "warning: {name}:29:9: spec.template.spec.containers[0].imagePullPolicey: unknown field"
            ),
            format!(
                "error: {name}:10:5: spec.ports[0].protocol: Unsupported value: \"HTTP\": \
                 supported values: \"SCTP\", \"TCP\", \"UDP\""
            ),
            format!(
                "error: {name}:17:3: spec.replicas: Invalid value: -1: must be greater than or equal to 0"
            ),
        ],
        "{text}"
    );
    assert_eq!(
        lines.last().copied(),
        Some("1 object(s) in 1 file(s): 1 warning(s), 2 error(s)"),
        "{text}"
    );
}

#[test]
fn a_directory_is_read_in_name_order_without_subdirectories() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    write(dir.path(), "b-config.yml", CONFIG_MAP);
    write(dir.path(), "a-namespace.yaml", NAMESPACE);
    write(dir.path(), "c-web.json", DEPLOYMENT_JSON);
    write(dir.path(), "README.md", "# not a manifest\n");
    write(dir.path(), "nested/extra.yaml", INVALID);
    let out = flotilla(&["validate", "-f", path_str(dir.path())], None);
    assert_exit(&out, 0);
    let text = stdout(&out);
    let kinds: Vec<&str> = text
        .lines()
        .skip(1)
        .filter_map(|l| l.split_whitespace().next())
        .take(3)
        .collect();
    assert_eq!(kinds, ["Namespace", "ConfigMap", "Deployment"], "{text}");
    let b = dir.path().join("b-config.yml");
    let configmap_row = text
        .lines()
        .find(|l| l.starts_with("ConfigMap"))
        .expect("a ConfigMap row");
    let cells: Vec<&str> = configmap_row.split_whitespace().collect();
    assert_eq!(
        cells,
        [
            "ConfigMap",
            "team-a",
            "settings",
            &format!("{}:1:1", b.display())
        ]
    );
    let deployment_row = text
        .lines()
        .find(|l| l.starts_with("Deployment"))
        .expect("a Deployment row");
    let cells: Vec<&str> = deployment_row.split_whitespace().collect();
    assert_eq!(&cells[..3], ["Deployment", "default", "web"], "{text}");
    assert!(
        text.lines()
            .any(|l| l.starts_with("Namespace") && l.split_whitespace().nth(1) == Some("-")),
        "a cluster-scoped object has no namespace: {text}"
    );
    assert_eq!(
        text.lines().last(),
        Some("3 object(s) in 3 file(s): 0 warning(s), 0 error(s)"),
        "{text}"
    );
}

#[test]
fn recursive_reads_subdirectories() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    write(dir.path(), "a-namespace.yaml", NAMESPACE);
    let nested = write(dir.path(), "nested/deeper/api.yaml", INVALID);
    let out = flotilla(&["validate", "-R", "-f", path_str(dir.path())], None);
    assert_exit(&out, 1);
    let text = stdout(&out);
    assert!(
        text.contains(&format!("error: {}:17:3: spec.replicas", nested.display())),
        "{text}"
    );
    assert_eq!(
        text.lines().last(),
        Some("2 object(s) in 2 file(s): 1 warning(s), 2 error(s)"),
        "{text}"
    );
    // The long flag is the same switch.
    let out = flotilla(
        &["validate", "--recursive", "-f", path_str(dir.path())],
        None,
    );
    assert_exit(&out, 1);
}

#[test]
fn a_directory_without_manifests_is_an_error() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    write(dir.path(), "notes.txt", "nothing here\n");
    let out = flotilla(&["validate", "-f", path_str(dir.path())], None);
    assert_exit(&out, 1);
    assert_eq!(
        stderr(&out),
        format!(
            "error: {}: no manifest files (*.yaml, *.yml, *.json) found\n",
            dir.path().display()
        )
    );
    assert!(stdout(&out).is_empty(), "{}", stdout(&out));
}

#[test]
fn standard_input_is_read_with_a_dash() {
    let out = flotilla(
        &["validate", "-f", "-"],
        Some(&format!("{NAMESPACE}---\n{CONFIG_MAP}")),
    );
    assert_exit(&out, 0);
    let text = stdout(&out);
    assert!(
        text.lines()
            .any(|l| l.starts_with("ConfigMap") && l.ends_with(" -:6:1")),
        "{text}"
    );
    assert_eq!(
        text.lines().last(),
        Some("2 object(s) in 1 file(s): 0 warning(s), 0 error(s)"),
        "{text}"
    );

    let out = flotilla(&["validate", "-f", "-"], Some(INVALID));
    assert_exit(&out, 1);
    assert!(
        stdout(&out).contains("error: -:10:5: spec.ports[0].protocol: Unsupported value"),
        "{}",
        stdout(&out)
    );
}

#[test]
fn files_and_standard_input_combine() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let ns = write(dir.path(), "ns.yaml", NAMESPACE);
    let out = flotilla(
        &["validate", "-f", path_str(&ns), "-f", "-"],
        Some(CONFIG_MAP),
    );
    assert_exit(&out, 0);
    assert_eq!(
        stdout(&out).lines().last(),
        Some("2 object(s) in 2 file(s): 0 warning(s), 0 error(s)")
    );
}

#[test]
fn json_output_reports_objects_warnings_and_errors() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let good = write(dir.path(), "a-config.yaml", CONFIG_MAP);
    let bad = write(dir.path(), "b-api.yaml", INVALID);
    let out = flotilla(
        &["validate", "-o", "json", "-f", path_str(dir.path())],
        None,
    );
    assert_exit(&out, 1);
    let doc: serde_json::Value =
        serde_json::from_slice(&out.stdout).expect("the output is one JSON document");
    assert_eq!(doc["valid"], false);
    assert_eq!(
        doc["files"],
        serde_json::json!([path_str(&good), path_str(&bad)])
    );

    let objects = doc["objects"].as_array().expect("an objects array");
    assert_eq!(objects.len(), 2, "{doc:#}");
    assert_eq!(
        objects[0],
        serde_json::json!({
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "namespace": "team-a",
            "name": "settings",
            "file": path_str(&good),
            "line": 1,
            "column": 1,
        })
    );
    assert_eq!(objects[1]["kind"], "Deployment");
    assert_eq!(objects[1]["apiVersion"], "apps/v1");
    assert_eq!(objects[1]["line"], 12);

    let warnings = doc["warnings"].as_array().expect("a warnings array");
    assert_eq!(
        warnings,
        &[serde_json::json!({
            "file": path_str(&bad),
            "line": 29,
            "column": 9,
            "path": "spec.template.spec.containers[0].imagePullPolicey",
            "message": "unknown field",
        })]
    );

    let errors = doc["errors"].as_array().expect("an errors array");
    assert_eq!(errors.len(), 2, "{doc:#}");
    assert_eq!(
        errors[0],
        serde_json::json!({
            "file": path_str(&bad),
            "line": 10,
            "column": 5,
            "path": "spec.ports[0].protocol",
            "message": "Unsupported value: \"HTTP\": supported values: \"SCTP\", \"TCP\", \"UDP\"",
        })
    );
    assert_eq!(errors[1]["path"], "spec.replicas");
    assert_eq!(
        errors[1]["message"],
        "Invalid value: -1: must be greater than or equal to 0"
    );

    // A valid input says so, with empty lists rather than missing keys.
    let out = flotilla(
        &["validate", "--output", "json", "-f", path_str(&good)],
        None,
    );
    assert_exit(&out, 0);
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON output");
    assert_eq!(doc["valid"], true);
    assert_eq!(doc["warnings"], serde_json::json!([]));
    assert_eq!(doc["errors"], serde_json::json!([]));
}

#[test]
fn a_syntax_error_has_no_field_path() {
    let out = flotilla(
        &["validate", "-o", "json", "-f", "-"],
        Some("apiVersion: v1\nkind: Pod\nmetadata:\n  name: [web\n"),
    );
    assert_exit(&out, 1);
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON output");
    let error = &doc["errors"][0];
    assert_eq!(error["file"], "-");
    assert_eq!(error["path"], serde_json::Value::Null);
    assert!(
        error["message"]
            .as_str()
            .is_some_and(|m| m.starts_with("invalid YAML: ")),
        "{error}"
    );
}

#[test]
fn a_missing_path_is_a_clear_error() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let missing = dir.path().join("nope.yaml");
    let out = flotilla(&["validate", "-f", path_str(&missing)], None);
    assert_exit(&out, 1);
    assert_eq!(
        stderr(&out),
        format!("error: the path {:?} does not exist\n", path_str(&missing))
    );
    assert!(stdout(&out).is_empty(), "{}", stdout(&out));
}

#[test]
fn validate_needs_a_file() {
    let out = flotilla(&["validate"], None);
    // clap's usage error.
    assert_exit(&out, 2);
    assert!(stderr(&out).contains("--filename"), "{}", stderr(&out));
}
