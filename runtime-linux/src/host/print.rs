//! kubectl-style output for single-host mode: the text of `flotilla get …` (tables, `-o wide`,
//! `-o yaml`, `-o json`, `-o name`) and `flotilla describe …`, formatted from the store and the
//! event log.
//!
//! Everything here is pure: no I/O and no clock (`now` is a parameter, for ages), so the API
//! server calls it with its store and sends the text to the client. The layouts follow kubectl
//! v1.34: the table printers of `pkg/printers/internalversion/printers.go`, the describers of
//! `staging/src/k8s.io/kubectl/pkg/describe/describe.go`, ages from apimachinery's
//! `duration.HumanDuration`, and column alignment from Go's `text/tabwriter` with kubectl's
//! settings.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::str::FromStr;
use std::sync::Arc;

use flotilla_controllers::controller::{Event, EventRecorder};
use flotilla_model::api::{
    pod_limits, pod_requests, ConditionStatus, Container, ContainerRestartPolicy, ContainerState,
    ContainerStatus, CronJob, DaemonSet, Deployment, EndpointSlice, HorizontalPodAutoscaler,
    IpFamily, Job, JobConditionType, LimitRange, MetricSourceType, Node, NodeAddressType,
    PersistentVolume, PersistentVolumeAccessMode, PersistentVolumeClaim, Pod, PodTemplateSpec,
    Probe, ReplicaSet, ResourceQuota, Secret, Service, ServicePort, ServiceType, Toleration,
    TolerationOperator, Volume,
};
use flotilla_model::store::{qualified_resource, ListOptions, ObjectKey, Store, StoreError};
use flotilla_model::{
    IntOrString, Kind, LabelSelector, Labels, Object, Quantity, ResourceList, Selector, Time,
};
use serde_json::Value;

/// The label on a ReplicaSet (and its pods) that the deployment controller adds; ignored when
/// comparing a ReplicaSet's template with its Deployment's (deployment util `EqualIgnoreHash`).
const POD_TEMPLATE_HASH_LABEL: &str = "pod-template-hash";

/// Why `get` or `describe` printed nothing useful. The messages are kubectl's, so the server can
/// send them to the client's stderr as they are.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum PrintError {
    /// The resource name matches no supported kind.
    #[error("error: the server doesn't have a resource type \"{0}\"")]
    UnknownResource(String),
    /// The named object does not exist.
    #[error("Error from server (NotFound): {} \"{name}\" not found", qualified_resource(*kind))]
    NotFound {
        /// The kind looked for.
        kind: Kind,
        /// The name looked for.
        name: String,
    },
    /// The label selector does not parse.
    #[error("error: unable to parse label selector {selector:?}: {reason}")]
    InvalidSelector {
        /// The selector as given.
        selector: String,
        /// What is wrong with it.
        reason: String,
    },
    /// `-o` names a format this printer does not have.
    #[error(
        "error: unable to match a printer suitable for the output format \"{0}\", allowed formats are: json,name,wide,yaml"
    )]
    UnknownFormat(String),
    /// Names were given together with a label selector (kubectl refuses the combination).
    #[error(
        "error: selectors and the all flag cannot be used when passing resource/name arguments"
    )]
    NamesWithSelector,
    /// Names were given with all namespaces (`-A`), which kubectl refuses.
    #[error("error: a resource cannot be retrieved by name across all namespaces")]
    NamesAcrossNamespaces,
    /// The store refused the list request.
    #[error("Error from server: {0}")]
    Store(#[from] StoreError),
}

/// An output format of `get`, as named by `-o`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum OutputFormat {
    /// The human-readable table (no `-o`).
    #[default]
    Table,
    /// The table with the extra columns (`-o wide`).
    Wide,
    /// The objects as YAML (`-o yaml`).
    Yaml,
    /// The objects as JSON (`-o json`).
    Json,
    /// `resource/name` per object (`-o name`).
    Name,
}

impl OutputFormat {
    /// Parses an `-o` value; the empty string is the default table.
    pub fn parse(value: &str) -> Result<OutputFormat, PrintError> {
        match value {
            "" => Ok(OutputFormat::Table),
            "wide" => Ok(OutputFormat::Wide),
            "yaml" => Ok(OutputFormat::Yaml),
            "json" => Ok(OutputFormat::Json),
            "name" => Ok(OutputFormat::Name),
            other => Err(PrintError::UnknownFormat(other.to_string())),
        }
    }
}

impl FromStr for OutputFormat {
    type Err = PrintError;
    fn from_str(s: &str) -> Result<OutputFormat, PrintError> {
        OutputFormat::parse(s)
    }
}

/// What `get` printed: text for stdout, text for stderr (kubectl's "No resources found" and
/// per-name NotFound errors go there), and whether the command failed (kubectl's exit code 1).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct GetOutput {
    /// The table, YAML, JSON or names.
    pub stdout: String,
    /// Notices and per-object errors, one per line.
    pub stderr: String,
    /// Whether some named object was missing (kubectl exits with 1).
    pub failed: bool,
}

/// A `get` request in full; [`get`] is the short form with secret data shown.
#[derive(Clone, Copy, Debug)]
pub struct GetRequest<'a> {
    /// The kind to list.
    pub kind: Kind,
    /// The namespace; `None` means all namespaces (`-A`). Ignored for cluster-scoped kinds.
    pub namespace: Option<&'a str>,
    /// Names to get; empty lists every object (that matches the selector).
    pub names: &'a [String],
    /// A label selector (`-l app=web,tier!=db`).
    pub selector: Option<&'a str>,
    /// The output format.
    pub format: OutputFormat,
    /// Blank the values of a Secret's `data` and `stringData` in YAML and JSON output (for
    /// callers that may not read secrets).
    pub redact_secret_data: bool,
}

/// Resolves a resource name as kubectl does: plural (`pods`), singular (`pod`), kind (`Pod`),
/// short name (`po`), or any of those qualified by the API group (`deployments.apps`) or by
/// version and group (`deployments.v1.apps`).
pub fn resolve_resource(name: &str) -> Result<Kind, PrintError> {
    let unknown = || PrintError::UnknownResource(name.to_string());
    if let Some(kind) = Kind::from_resource_name(name) {
        return Ok(kind);
    }
    // kubectl's `resource.version.group` / `resource.group` forms
    // (apimachinery schema.ParseResourceArg).
    let (resource, qualifier) = name.split_once('.').ok_or_else(unknown)?;
    let kind = Kind::from_resource_name(resource).ok_or_else(unknown)?;
    let group = kind.group();
    let version = kind
        .api_version()
        .rsplit_once('/')
        .map_or(kind.api_version(), |(_, v)| v);
    let matches = qualifier.eq_ignore_ascii_case(group)
        || (group.is_empty() && qualifier.eq_ignore_ascii_case(version))
        || qualifier
            .split_once('.')
            .is_some_and(|(v, g)| v == version && g.eq_ignore_ascii_case(group));
    if matches {
        Ok(kind)
    } else {
        Err(unknown())
    }
}

/// `kubectl get`: the objects of `kind` in `namespace` (`None`: all namespaces), only those in
/// `names` when given, only those matching `selector` when given, printed in `format`.
pub fn get(
    store: &Store,
    kind: Kind,
    namespace: Option<&str>,
    names: &[String],
    selector: Option<&str>,
    format: OutputFormat,
    now: Time,
) -> Result<GetOutput, PrintError> {
    get_with(
        store,
        &GetRequest {
            kind,
            namespace,
            names,
            selector,
            format,
            redact_secret_data: false,
        },
        now,
    )
}

/// `kubectl get` with every option of a [`GetRequest`].
pub fn get_with(store: &Store, req: &GetRequest<'_>, now: Time) -> Result<GetOutput, PrintError> {
    let kind = req.kind;
    let selector = match req.selector.map(str::trim) {
        Some(text) if !text.is_empty() => {
            Some(
                Selector::parse(text).map_err(|e| PrintError::InvalidSelector {
                    selector: text.to_string(),
                    reason: e.to_string(),
                })?,
            )
        }
        _ => None,
    };
    let mut out = GetOutput::default();
    let objects: Vec<Arc<Object>> = if req.names.is_empty() {
        let options = ListOptions {
            namespace: if kind.namespaced() {
                req.namespace.map(str::to_string)
            } else {
                None
            },
            label_selector: selector,
            field_selector: None,
        };
        store.list(kind, &options)?.0
    } else {
        if selector.is_some() {
            return Err(PrintError::NamesWithSelector);
        }
        let namespace = match (kind.namespaced(), req.namespace) {
            (false, _) => "",
            (true, Some(ns)) => ns,
            (true, None) => return Err(PrintError::NamesAcrossNamespaces),
        };
        let mut found = Vec::new();
        for name in req.names {
            match store.get(kind, namespace, name) {
                Some(object) => found.push(object),
                None => {
                    let err = PrintError::NotFound {
                        kind,
                        name: name.clone(),
                    };
                    let _ = writeln!(out.stderr, "{err}");
                    out.failed = true;
                }
            }
        }
        found
    };
    match req.format {
        OutputFormat::Table | OutputFormat::Wide => {
            if objects.is_empty() {
                if req.names.is_empty() {
                    // kubectl get.go: printed to stderr, and the command succeeds.
                    match req.namespace {
                        Some(ns) if kind.namespaced() => {
                            let _ = writeln!(out.stderr, "No resources found in {ns} namespace.");
                        }
                        _ => out.stderr.push_str("No resources found\n"),
                    }
                }
            } else {
                let all_namespaces = req.namespace.is_none() && kind.namespaced();
                let wide = req.format == OutputFormat::Wide;
                out.stdout = table(kind, &objects, wide, all_namespaces, now);
            }
        }
        OutputFormat::Name => {
            for object in &objects {
                let _ = writeln!(
                    out.stdout,
                    "{}/{}",
                    name_prefix(kind),
                    object.metadata().name
                );
            }
        }
        OutputFormat::Yaml | OutputFormat::Json => {
            // kubectl prints one object as itself when exactly one name was asked for, and a
            // `List` otherwise (get.go printGeneric); nothing when every named object is missing.
            let value = if req.names.len() == 1 {
                objects
                    .first()
                    .map(|o| object_value(o, req.redact_secret_data))
            } else if !req.names.is_empty() && objects.is_empty() {
                None
            } else {
                Some(list_value(&objects, req.redact_secret_data))
            };
            if let Some(value) = value {
                out.stdout = if req.format == OutputFormat::Yaml {
                    to_yaml(&value)
                } else {
                    to_json(&value)
                };
            }
        }
    }
    Ok(out)
}

/// The prefix of `-o name` output: the lowercase kind with its API group (`pod`,
/// `deployment.apps`).
pub fn name_prefix(kind: Kind) -> String {
    let kind_name = kind.name().to_ascii_lowercase();
    match kind.group() {
        "" => kind_name,
        group => format!("{kind_name}.{group}"),
    }
}

/// An object as the API returns it, optionally with a Secret's data values blanked.
pub fn object_value(object: &Object, redact_secret_data: bool) -> Value {
    let mut value = object.to_value();
    if redact_secret_data {
        redact_secret_data_value(&mut value);
    }
    value
}

/// Blanks the values (keeping the keys) of `data` and `stringData` when `value` is a Secret,
/// and drops its `kubectl.kubernetes.io/last-applied-configuration` annotation, which holds the
/// applied manifest's values too; leaves anything else alone.
pub fn redact_secret_data_value(value: &mut Value) {
    if value.get("kind").and_then(Value::as_str) != Some("Secret") {
        return;
    }
    for field in ["data", "stringData"] {
        if let Some(Value::Object(map)) = value.get_mut(field) {
            for v in map.values_mut() {
                *v = Value::String(String::new());
            }
        }
    }
    if let Some(Value::Object(annotations)) = value
        .get_mut("metadata")
        .and_then(|m| m.get_mut("annotations"))
    {
        annotations.remove(LAST_APPLIED_ANNOTATION);
        if annotations.is_empty() {
            if let Some(Value::Object(meta)) = value.get_mut("metadata") {
                meta.remove("annotations");
            }
        }
    }
}

/// The annotation `kubectl apply` (and `flotilla apply`) keeps the applied manifest in.
pub const LAST_APPLIED_ANNOTATION: &str = "kubectl.kubernetes.io/last-applied-configuration";

/// Several objects as kubectl wraps them: `{apiVersion: v1, kind: List, items: […],
/// metadata: {resourceVersion: ""}}`.
pub fn list_value(objects: &[Arc<Object>], redact_secret_data: bool) -> Value {
    let items = objects
        .iter()
        .map(|o| object_value(o, redact_secret_data))
        .collect();
    serde_json::json!({
        "apiVersion": "v1",
        "items": Value::Array(items),
        "kind": "List",
        "metadata": {"resourceVersion": ""},
    })
}

// ---------------------------------------------------------------------------------------------
// Tab writer
// ---------------------------------------------------------------------------------------------

/// Aligns tab-separated cells as Go's `text/tabwriter` does (left aligned, space padding): a
/// column block is a run of consecutive lines that have a cell in that column; each block is
/// as wide as its widest cell plus `padding`, at least `min_width`. The text after a line's last
/// tab is not part of a column and is never padded. kubectl's tables use (6, 3)
/// (`printers.GetNewTabWriter`), its describers (0, 2) (`describe.tabbedString`).
pub fn align_tabs(text: &str, min_width: usize, padding: usize) -> String {
    let ends_with_newline = text.ends_with('\n');
    let mut lines: Vec<Vec<&str>> = text.split('\n').map(|l| l.split('\t').collect()).collect();
    if ends_with_newline {
        lines.pop();
    }
    let mut widths = vec![Vec::new(); lines.len()];
    let mut stack = Vec::new();
    layout_columns(
        &lines,
        0,
        0,
        lines.len(),
        min_width,
        padding,
        &mut stack,
        &mut widths,
    );
    let mut out = String::with_capacity(text.len() + 64);
    for (i, (cells, widths)) in lines.iter().zip(&widths).enumerate() {
        for (j, cell) in cells.iter().enumerate() {
            out.push_str(cell);
            if let Some(&w) = widths.get(j) {
                let len = cell.chars().count();
                for _ in len..w {
                    out.push(' ');
                }
            }
        }
        if i + 1 < lines.len() || ends_with_newline {
            out.push('\n');
        }
    }
    out
}

/// text/tabwriter's `format`: finds the column blocks of `column` within `line0..line1`, and
/// recursively the blocks of the next column inside each.
#[allow(clippy::too_many_arguments)]
fn layout_columns(
    lines: &[Vec<&str>],
    column: usize,
    line0: usize,
    line1: usize,
    min_width: usize,
    padding: usize,
    stack: &mut Vec<usize>,
    result: &mut [Vec<usize>],
) {
    let has_cell = |line: &Vec<&str>| column + 1 < line.len();
    let mut start = line0;
    let mut this = line0;
    while this < line1 {
        if !has_cell(&lines[this]) {
            this += 1;
            continue;
        }
        for r in &mut result[start..this] {
            r.clone_from(stack);
        }
        start = this;
        let mut width = min_width;
        while this < line1 && has_cell(&lines[this]) {
            width = width.max(lines[this][column].chars().count() + padding);
            this += 1;
        }
        stack.push(width);
        layout_columns(
            lines,
            column + 1,
            start,
            this,
            min_width,
            padding,
            stack,
            result,
        );
        stack.pop();
        start = this;
    }
    for r in &mut result[start..line1] {
        r.clone_from(stack);
    }
}

// ---------------------------------------------------------------------------------------------
// Times
// ---------------------------------------------------------------------------------------------

/// apimachinery `duration.HumanDuration`: about two significant figures. Up to 2 minutes in
/// seconds (`90s`); under 10 minutes as minutes and seconds (`3m2s`); under 3 hours in minutes;
/// under 8 hours as hours and minutes (`5h7m`); under 2 days in hours; under 8 days as days and
/// hours (`2d3h`); under 2 years in days; under 8 years as years and days (`3y20d`); then years.
/// A span up to a second negative counts as `0s` (clock skew); more negative is `<invalid>`.
pub fn human_duration(nanos: i128) -> String {
    let seconds = nanos / 1_000_000_000;
    if seconds < -1 {
        return "<invalid>".into();
    } else if seconds < 0 {
        return "0s".into();
    } else if seconds < 60 * 2 {
        return format!("{seconds}s");
    }
    let minutes = seconds / 60;
    if minutes < 10 {
        let s = seconds % 60;
        return if s == 0 {
            format!("{minutes}m")
        } else {
            format!("{minutes}m{s}s")
        };
    } else if minutes < 60 * 3 {
        return format!("{minutes}m");
    }
    let hours = minutes / 60;
    if hours < 8 {
        let m = minutes % 60;
        if m == 0 {
            format!("{hours}h")
        } else {
            format!("{hours}h{m}m")
        }
    } else if hours < 48 {
        format!("{hours}h")
    } else if hours < 24 * 8 {
        let h = hours % 24;
        if h == 0 {
            format!("{}d", hours / 24)
        } else {
            format!("{}d{h}h", hours / 24)
        }
    } else if hours < 24 * 365 * 2 {
        format!("{}d", hours / 24)
    } else if hours < 24 * 365 * 8 {
        let dy = (hours / 24) % 365;
        if dy == 0 {
            format!("{}y", hours / 24 / 365)
        } else {
            format!("{}y{dy}d", hours / 24 / 365)
        }
    } else {
        format!("{}y", hours / 24 / 365)
    }
}

/// printers.go `translateTimestampSince`: the age of `t` at `now`, `<unknown>` when unset.
pub fn age(t: Option<Time>, now: Time) -> String {
    match t {
        Some(t) => human_duration(signed_nanos(now, t)),
        None => "<unknown>".into(),
    }
}

fn signed_nanos(later: Time, earlier: Time) -> i128 {
    i128::from(later.as_nanos()) - i128::from(earlier.as_nanos())
}

/// A time as Go's `time.RFC1123Z` in UTC (`Mon, 02 Jan 2006 15:04:05 +0000`), as kubectl
/// describe prints timestamps; an unset time is Go's zero time.
pub fn rfc1123z(t: Option<Time>) -> String {
    const DAYS: [&str; 7] = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"];
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let Some(t) = t else {
        return "Mon, 01 Jan 0001 00:00:00 +0000".into();
    };
    // `Time` prints RFC 3339 (`2026-11-26T11:14:30[.frac]Z`); reuse its calendar arithmetic.
    let text = t.to_rfc3339();
    let field = |r: std::ops::Range<usize>| text.get(r).unwrap_or("00").to_string();
    let month: usize = field(5..7).parse().unwrap_or(1);
    let weekday = DAYS[((t.as_secs() / 86_400) % 7) as usize];
    format!(
        "{weekday}, {} {} {} {}:{}:{} +0000",
        field(8..10),
        MONTHS[month.clamp(1, 12) - 1],
        field(0..4),
        field(11..13),
        field(14..16),
        field(17..19)
    )
}

// ---------------------------------------------------------------------------------------------
// YAML and JSON
// ---------------------------------------------------------------------------------------------

/// A JSON value as YAML the way kubectl prints it (sigs.k8s.io/yaml over go-yaml v2): keys
/// sorted, sequences not indented under their key, strings that would read as another type
/// (`"1"`, `"true"`, timestamps, `""`) double-quoted, strings YAML cannot take plain
/// single-quoted, multi-line strings as literal blocks, long plain lines folded at 80 columns.
pub fn to_yaml(value: &Value) -> String {
    let mut out = String::new();
    match value {
        Value::Object(map) if !map.is_empty() => yaml_map(&mut out, map, 0, false),
        Value::Array(items) if !items.is_empty() => yaml_seq(&mut out, items, 0, false),
        Value::Object(_) => out.push_str("{}\n"),
        Value::Array(_) => out.push_str("[]\n"),
        scalar => {
            yaml_scalar(&mut out, scalar, 0, 0);
            out.push('\n');
        }
    }
    out
}

/// A JSON value as kubectl's `-o json` prints it: four-space indentation, keys sorted, `<`, `>`
/// and `&` escaped (Go's `json.MarshalIndent`), and a final newline.
pub fn to_json(value: &Value) -> String {
    let mut buf = Vec::new();
    let formatter = serde_json::ser::PrettyFormatter::with_indent(b"    ");
    let mut ser = serde_json::Serializer::with_formatter(&mut buf, formatter);
    if serde::Serialize::serialize(value, &mut ser).is_err() {
        return String::new();
    }
    let text = String::from_utf8_lossy(&buf);
    let mut out = String::with_capacity(text.len() + 1);
    for c in text.chars() {
        match c {
            '<' => out.push_str("\\u003c"),
            '>' => out.push_str("\\u003e"),
            '&' => out.push_str("\\u0026"),
            '\u{2028}' => out.push_str("\\u2028"),
            '\u{2029}' => out.push_str("\\u2029"),
            c => out.push(c),
        }
    }
    out.push('\n');
    out
}

fn indent_to(out: &mut String, indent: usize) {
    for _ in 0..indent {
        out.push(' ');
    }
}

/// Column of the end of `out` (characters since its last newline).
fn column(out: &str) -> usize {
    out.rsplit('\n').next().map_or(0, |l| l.chars().count())
}

fn yaml_map(
    out: &mut String,
    map: &serde_json::Map<String, Value>,
    indent: usize,
    inline_first: bool,
) {
    for (i, (key, value)) in map.iter().enumerate() {
        if i > 0 || !inline_first {
            indent_to(out, indent);
        }
        yaml_key(out, key);
        out.push(':');
        match value {
            Value::Object(m) if m.is_empty() => out.push_str(" {}\n"),
            Value::Object(m) => {
                out.push('\n');
                yaml_map(out, m, indent + 2, false);
            }
            Value::Array(a) if a.is_empty() => out.push_str(" []\n"),
            Value::Array(a) => {
                out.push('\n');
                yaml_seq(out, a, indent, false);
            }
            scalar => {
                out.push(' ');
                let col = column(out);
                yaml_scalar(out, scalar, col, indent + 2);
                out.push('\n');
            }
        }
    }
}

fn yaml_seq(out: &mut String, items: &[Value], indent: usize, inline_first: bool) {
    for (i, item) in items.iter().enumerate() {
        if i > 0 || !inline_first {
            indent_to(out, indent);
        }
        out.push_str("- ");
        match item {
            Value::Object(m) if m.is_empty() => out.push_str("{}\n"),
            Value::Object(m) => yaml_map(out, m, indent + 2, true),
            Value::Array(a) if a.is_empty() => out.push_str("[]\n"),
            Value::Array(a) => yaml_seq(out, a, indent + 2, true),
            scalar => {
                let col = column(out);
                yaml_scalar(out, scalar, col, indent + 2);
                out.push('\n');
            }
        }
    }
}

fn yaml_key(out: &mut String, key: &str) {
    match yaml_style(key) {
        YamlStyle::Plain => out.push_str(key),
        YamlStyle::Single => yaml_single(out, key, 0, 0, false),
        YamlStyle::Double | YamlStyle::Literal => yaml_double(out, key),
    }
}

fn yaml_scalar(out: &mut String, value: &Value, col: usize, indent: usize) {
    match value {
        Value::Null => out.push_str("null"),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Number(n) => {
            let _ = write!(out, "{n}");
        }
        Value::String(s) => match yaml_style(s) {
            YamlStyle::Plain => yaml_plain(out, s, col, indent),
            YamlStyle::Single => yaml_single(out, s, col, indent, true),
            YamlStyle::Double => yaml_double(out, s),
            YamlStyle::Literal => yaml_literal(out, s, indent),
        },
        // Collections are handled by the callers.
        Value::Array(_) | Value::Object(_) => {}
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum YamlStyle {
    Plain,
    Single,
    Double,
    Literal,
}

/// go-yaml v2 `encoder.stringv` and `yaml_emitter_analyze_scalar`, simplified: literal for
/// multi-line strings, double quotes for strings that would resolve to another type, plain when
/// the emitter allows it, single quotes otherwise (double when the string has characters only
/// double quotes can escape).
fn yaml_style(s: &str) -> YamlStyle {
    let special = s
        .chars()
        .any(|c| (c.is_control() && c != '\n') || c == '\u{feff}');
    if s.contains('\n') && !special {
        return YamlStyle::Literal;
    }
    if special || s.contains('\n') {
        return YamlStyle::Double;
    }
    if resolves_to_non_string(s) {
        return YamlStyle::Double;
    }
    if plain_allowed(s) {
        YamlStyle::Plain
    } else {
        YamlStyle::Single
    }
}

/// Whether go-yaml v2's `resolve` reads the plain scalar as something other than a string:
/// null, YAML 1.1 booleans, numbers (Go `ParseInt` base 0 / `ParseFloat`, underscores allowed),
/// infinities and NaN, base-60 numbers, timestamps, and the merge key.
fn resolves_to_non_string(s: &str) -> bool {
    const WORDS: [&str; 34] = [
        "", "~", "null", "Null", "NULL", "y", "Y", "yes", "Yes", "YES", "n", "N", "no", "No", "NO",
        "true", "True", "TRUE", "false", "False", "FALSE", "on", "On", "ON", "off", "Off", "OFF",
        ".inf", ".Inf", ".INF", ".nan", ".NaN", ".NAN", "<<",
    ];
    if WORDS.contains(&s) {
        return true;
    }
    if matches!(s, "+.inf" | "+.Inf" | "+.INF" | "-.inf" | "-.Inf" | "-.INF") {
        return true;
    }
    let Some(first) = s.chars().next() else {
        return true;
    };
    if !(first.is_ascii_digit() || matches!(first, '+' | '-' | '.')) {
        return false;
    }
    let plain: String = s.chars().filter(|&c| c != '_').collect();
    if is_go_int(&plain) || is_go_float(&plain) {
        return true;
    }
    is_base60(s) || is_timestamp(s)
}

fn is_go_int(s: &str) -> bool {
    let body = s.strip_prefix(['+', '-']).unwrap_or(s);
    if body.is_empty() {
        return false;
    }
    let lower = body.to_ascii_lowercase();
    if let Some(hex) = lower.strip_prefix("0x") {
        return !hex.is_empty() && hex.chars().all(|c| c.is_ascii_hexdigit());
    }
    if let Some(bin) = lower.strip_prefix("0b") {
        return !bin.is_empty() && bin.chars().all(|c| c == '0' || c == '1');
    }
    if let Some(oct) = lower.strip_prefix("0o") {
        return !oct.is_empty() && oct.chars().all(|c| ('0'..='7').contains(&c));
    }
    body.chars().all(|c| c.is_ascii_digit())
}

fn is_go_float(s: &str) -> bool {
    let body = s.strip_prefix(['+', '-']).unwrap_or(s);
    let lower = body.to_ascii_lowercase();
    if matches!(lower.as_str(), "inf" | "infinity" | "nan") {
        return true;
    }
    let (mantissa, exponent) = match lower.split_once('e') {
        Some((m, e)) => (m, Some(e)),
        None => (lower.as_str(), None),
    };
    let digits = mantissa.chars().filter(char::is_ascii_digit).count();
    let dots = mantissa.chars().filter(|&c| c == '.').count();
    let mantissa_ok =
        digits > 0 && dots <= 1 && mantissa.chars().all(|c| c.is_ascii_digit() || c == '.');
    let exponent_ok = exponent.is_none_or(|e| {
        let e = e.strip_prefix(['+', '-']).unwrap_or(e);
        !e.is_empty() && e.chars().all(|c| c.is_ascii_digit())
    });
    mantissa_ok && exponent_ok
}

/// `[-+]?[0-9][0-9_]*(?::[0-5]?[0-9])+(?:\.[0-9_]*)?` (go-yaml v2 `isBase60Float`).
fn is_base60(s: &str) -> bool {
    let body = s.strip_prefix(['+', '-']).unwrap_or(s);
    let (main, frac) = match body.split_once('.') {
        Some((m, f)) => (m, Some(f)),
        None => (body, None),
    };
    let mut parts = main.split(':');
    let Some(head) = parts.next() else {
        return false;
    };
    let head_ok = head.starts_with(|c: char| c.is_ascii_digit())
        && head.chars().all(|c| c.is_ascii_digit() || c == '_');
    let rest: Vec<&str> = parts.collect();
    let rest_ok = !rest.is_empty()
        && rest.iter().all(|p| {
            let b = p.as_bytes();
            match b {
                [d] => d.is_ascii_digit(),
                [a, d] => (b'0'..=b'5').contains(a) && d.is_ascii_digit(),
                _ => false,
            }
        });
    let frac_ok = frac.is_none_or(|f| f.chars().all(|c| c.is_ascii_digit() || c == '_'));
    head_ok && rest_ok && frac_ok
}

/// go-yaml v2 `parseTimestamp`: a date `YYYY-M-D`, optionally followed by `T`, `t` or a space
/// and a time.
fn is_timestamp(s: &str) -> bool {
    let b = s.as_bytes();
    if b.len() < 8 || !b[..4].iter().all(u8::is_ascii_digit) || b[4] != b'-' {
        return false;
    }
    let rest = &s[5..];
    let (date, time) = match rest.find(['T', 't', ' ']) {
        Some(i) => (&rest[..i], Some(&rest[i + 1..])),
        None => (rest, None),
    };
    let Some((month, day)) = date.split_once('-') else {
        return false;
    };
    let num = |p: &str| !p.is_empty() && p.len() <= 2 && p.chars().all(|c| c.is_ascii_digit());
    num(month)
        && num(day)
        && time.is_none_or(|t| {
            t.split(':').count() >= 3 && t.starts_with(|c: char| c.is_ascii_digit())
        })
}

/// Whether go-yaml's emitter may write `s` as a plain scalar in block context.
fn plain_allowed(s: &str) -> bool {
    let chars: Vec<char> = s.chars().collect();
    let Some(&first) = chars.first() else {
        return false;
    };
    if s.starts_with("---") || s.starts_with("...") {
        return false;
    }
    if first == ' ' || chars.last() == Some(&' ') {
        return false;
    }
    let followed_by_space = |i: usize| chars.get(i + 1).is_none_or(|&c| c == ' ');
    if "#,[]{}&*!|>'\"%@`".contains(first) {
        return false;
    }
    if matches!(first, '?' | ':' | '-') && followed_by_space(0) {
        return false;
    }
    for i in 1..chars.len() {
        match chars[i] {
            ':' if followed_by_space(i) => return false,
            '#' if chars[i - 1] == ' ' => return false,
            _ => {}
        }
    }
    true
}

/// A plain scalar, folded at spaces once past column 80 (go-yaml `yaml_emitter_write_plain_scalar`).
fn yaml_plain(out: &mut String, s: &str, mut col: usize, indent: usize) {
    let chars: Vec<char> = s.chars().collect();
    let mut spaces = false;
    for (i, &c) in chars.iter().enumerate() {
        if c == ' ' {
            if !spaces && col > 80 && chars.get(i + 1).is_some_and(|&n| n != ' ') {
                out.push('\n');
                indent_to(out, indent);
                col = indent;
            } else {
                out.push(' ');
                col += 1;
            }
            spaces = true;
        } else {
            out.push(c);
            col += 1;
            spaces = false;
        }
    }
}

/// A single-quoted scalar (`'` doubled), folded like a plain one when `fold`.
fn yaml_single(out: &mut String, s: &str, col: usize, indent: usize, fold: bool) {
    out.push('\'');
    let mut col = col + 1;
    let chars: Vec<char> = s.chars().collect();
    let mut spaces = false;
    for (i, &c) in chars.iter().enumerate() {
        if c == ' ' {
            if fold && !spaces && col > 80 && i > 0 && i + 1 < chars.len() && chars[i + 1] != ' ' {
                out.push('\n');
                indent_to(out, indent);
                col = indent;
            } else {
                out.push(' ');
                col += 1;
            }
            spaces = true;
        } else {
            if c == '\'' {
                out.push('\'');
                col += 1;
            }
            out.push(c);
            col += 1;
            spaces = false;
        }
    }
    out.push('\'');
}

fn yaml_double(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            '\0' => out.push_str("\\0"),
            c if c.is_control() || c == '\u{feff}' => {
                let code = u32::from(c);
                if code <= 0xff {
                    let _ = write!(out, "\\x{code:02X}");
                } else {
                    let _ = write!(out, "\\u{code:04X}");
                }
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

/// A literal block (`|`, `|-` without a final newline, `|+` with several).
fn yaml_literal(out: &mut String, s: &str, indent: usize) {
    out.push('|');
    if s.starts_with(' ') {
        out.push('2');
    }
    let body = if s.ends_with("\n\n") {
        out.push('+');
        &s[..s.len() - 1]
    } else if let Some(stripped) = s.strip_suffix('\n') {
        stripped
    } else {
        out.push('-');
        s
    };
    for line in body.split('\n') {
        out.push('\n');
        if !line.is_empty() {
            indent_to(out, indent);
            out.push_str(line);
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Tables
// ---------------------------------------------------------------------------------------------

/// The column headers of `kind` (printers.go `AddHandlers`), and the extra ones of `-o wide`
/// (columns with priority 1).
fn headers(kind: Kind) -> (&'static [&'static str], &'static [&'static str]) {
    match kind {
        Kind::Pod => (
            &["NAME", "READY", "STATUS", "RESTARTS", "AGE"],
            &["IP", "NODE", "NOMINATED NODE", "READINESS GATES"],
        ),
        Kind::Deployment => (
            &["NAME", "READY", "UP-TO-DATE", "AVAILABLE", "AGE"],
            &["CONTAINERS", "IMAGES", "SELECTOR"],
        ),
        Kind::ReplicaSet => (
            &["NAME", "DESIRED", "CURRENT", "READY", "AGE"],
            &["CONTAINERS", "IMAGES", "SELECTOR"],
        ),
        Kind::DaemonSet => (
            &[
                "NAME",
                "DESIRED",
                "CURRENT",
                "READY",
                "UP-TO-DATE",
                "AVAILABLE",
                "NODE SELECTOR",
                "AGE",
            ],
            &["CONTAINERS", "IMAGES", "SELECTOR"],
        ),
        Kind::StatefulSet => (&["NAME", "READY", "AGE"], &["CONTAINERS", "IMAGES"]),
        Kind::Job => (
            &["NAME", "STATUS", "COMPLETIONS", "DURATION", "AGE"],
            &["CONTAINERS", "IMAGES", "SELECTOR"],
        ),
        Kind::CronJob => (
            &[
                "NAME",
                "SCHEDULE",
                "TIMEZONE",
                "SUSPEND",
                "ACTIVE",
                "LAST SCHEDULE",
                "AGE",
            ],
            &["CONTAINERS", "IMAGES", "SELECTOR"],
        ),
        Kind::Service => (
            &[
                "NAME",
                "TYPE",
                "CLUSTER-IP",
                "EXTERNAL-IP",
                "PORT(S)",
                "AGE",
            ],
            &["SELECTOR"],
        ),
        Kind::Node => (
            &["NAME", "STATUS", "ROLES", "AGE", "VERSION"],
            &[
                "INTERNAL-IP",
                "EXTERNAL-IP",
                "OS-IMAGE",
                "KERNEL-VERSION",
                "CONTAINER-RUNTIME",
            ],
        ),
        Kind::Namespace => (&["NAME", "STATUS", "AGE"], &[]),
        Kind::ConfigMap => (&["NAME", "DATA", "AGE"], &[]),
        Kind::Secret => (&["NAME", "TYPE", "DATA", "AGE"], &[]),
        Kind::HorizontalPodAutoscaler => (
            &[
                "NAME",
                "REFERENCE",
                "TARGETS",
                "MINPODS",
                "MAXPODS",
                "REPLICAS",
                "AGE",
            ],
            &[],
        ),
        Kind::PersistentVolumeClaim => (
            &[
                "NAME",
                "STATUS",
                "VOLUME",
                "CAPACITY",
                "ACCESS MODES",
                "STORAGECLASS",
                "VOLUMEATTRIBUTESCLASS",
                "AGE",
            ],
            &["VOLUMEMODE"],
        ),
        Kind::PersistentVolume => (
            &[
                "NAME",
                "CAPACITY",
                "ACCESS MODES",
                "RECLAIM POLICY",
                "STATUS",
                "CLAIM",
                "STORAGECLASS",
                "VOLUMEATTRIBUTESCLASS",
                "REASON",
                "AGE",
            ],
            &["VOLUMEMODE"],
        ),
        Kind::StorageClass => (
            &[
                "NAME",
                "PROVISIONER",
                "RECLAIMPOLICY",
                "VOLUMEBINDINGMODE",
                "ALLOWVOLUMEEXPANSION",
                "AGE",
            ],
            &[],
        ),
        Kind::EndpointSlice => (&["NAME", "ADDRESSTYPE", "PORTS", "ENDPOINTS", "AGE"], &[]),
        Kind::PriorityClass => (
            &["NAME", "VALUE", "GLOBAL-DEFAULT", "AGE", "PREEMPTIONPOLICY"],
            &[],
        ),
        Kind::ResourceQuota => (&["NAME", "AGE", "REQUEST", "LIMIT"], &[]),
        Kind::LimitRange => (&["NAME", "CREATED AT"], &[]),
        Kind::PodDisruptionBudget => (
            &[
                "NAME",
                "MIN AVAILABLE",
                "MAX UNAVAILABLE",
                "ALLOWED DISRUPTIONS",
                "AGE",
            ],
            &[],
        ),
        // Any other kind: kubectl's default table for resources without a printer.
        _ => (&["NAME", "AGE"], &[]),
    }
}

/// The table of `objects` (all of `kind`), with a NAMESPACE column first when listing all
/// namespaces, aligned as kubectl aligns it.
fn table(
    kind: Kind,
    objects: &[Arc<Object>],
    wide: bool,
    all_namespaces: bool,
    now: Time,
) -> String {
    let (normal, extra) = headers(kind);
    let mut header: Vec<&str> = Vec::new();
    if all_namespaces {
        header.push("NAMESPACE");
    }
    header.extend_from_slice(normal);
    if wide {
        header.extend_from_slice(extra);
    }
    let mut text = header.join("\t");
    text.push('\n');
    for object in objects {
        let mut cells = Vec::new();
        if all_namespaces {
            cells.push(object.metadata().namespace.clone());
        }
        cells.extend(row(object, wide, now));
        text.push_str(&cells.join("\t"));
        text.push('\n');
    }
    align_tabs(&text, 6, 3)
}

/// The cells of one object's row (printers.go `print<Kind>`).
fn row(object: &Object, wide: bool, now: Time) -> Vec<String> {
    let meta = object.metadata();
    let name = meta.name.clone();
    let created = age(meta.creation_timestamp, now);
    match object {
        Object::Pod(pod) => pod_row(pod, wide, now),
        Object::Deployment(d) => {
            let desired = d.spec.replicas.unwrap_or(1);
            let mut cells = vec![
                name,
                format!("{}/{}", d.status.ready_replicas, desired),
                d.status.updated_replicas.to_string(),
                d.status.available_replicas.to_string(),
                created,
            ];
            if wide {
                let (containers, images) = container_cells(&d.spec.template);
                let selector = d
                    .spec
                    .selector
                    .as_ref()
                    .and_then(|s| s.to_selector().ok())
                    .map(|s| s.to_string())
                    .unwrap_or_default();
                cells.extend([containers, images, selector]);
            }
            cells
        }
        Object::ReplicaSet(rs) => {
            let mut cells = vec![
                name,
                rs.spec.replicas.unwrap_or(1).to_string(),
                rs.status.replicas.to_string(),
                rs.status.ready_replicas.to_string(),
                created,
            ];
            if wide {
                let (containers, images) = container_cells(&rs.spec.template);
                cells.extend([
                    containers,
                    images,
                    format_label_selector(rs.spec.selector.as_ref()),
                ]);
            }
            cells
        }
        Object::DaemonSet(ds) => daemon_set_row(ds, name, created, wide),
        Object::StatefulSet(sts) => {
            let mut cells = vec![
                name,
                format!(
                    "{}/{}",
                    sts.status.ready_replicas,
                    sts.spec.replicas.unwrap_or(1)
                ),
                created,
            ];
            if wide {
                let (containers, images) = container_cells(&sts.spec.template);
                cells.extend([containers, images]);
            }
            cells
        }
        Object::Job(job) => job_row(job, name, created, wide, now),
        Object::CronJob(cj) => cron_job_row(cj, name, created, wide, now),
        Object::Service(svc) => service_row(svc, name, created, wide),
        Object::Node(node) => node_row(node, name, created, wide),
        Object::Namespace(ns) => vec![name, enum_str(&ns.phase()), created],
        Object::ConfigMap(cm) => vec![
            name,
            (cm.data.len() + cm.binary_data.len()).to_string(),
            created,
        ],
        Object::Secret(secret) => vec![
            name,
            secret.r#type.as_str().to_string(),
            secret_keys(secret).len().to_string(),
            created,
        ],
        Object::HorizontalPodAutoscaler(hpa) => hpa_row(hpa, name, created, wide),
        Object::PersistentVolumeClaim(pvc) => pvc_row(pvc, name, created, wide),
        Object::PersistentVolume(pv) => pv_row(pv, name, created, wide),
        Object::StorageClass(sc) => {
            let mut shown = name;
            if sc.is_default_class() {
                shown.push_str(" (default)");
            }
            vec![
                shown,
                sc.provisioner.clone(),
                sc.reclaim_policy
                    .map_or_else(|| "Delete".to_string(), |p| enum_str(&p)),
                sc.volume_binding_mode
                    .as_ref()
                    .map_or_else(|| "Immediate".to_string(), enum_str),
                sc.allow_volume_expansion.unwrap_or(false).to_string(),
                created,
            ]
        }
        Object::EndpointSlice(slice) => endpoint_slice_row(slice, name, created),
        Object::PriorityClass(pc) => vec![
            name,
            pc.value.to_string(),
            pc.global_default.to_string(),
            created,
            enum_str(&pc.preemption_policy()),
        ],
        Object::ResourceQuota(rq) => resource_quota_row(rq, name, created),
        Object::LimitRange(lr) => limit_range_row(lr, name),
        Object::PodDisruptionBudget(pdb) => {
            let show = |v: &Option<IntOrString>| v.as_ref().map_or("N/A".into(), |v| v.to_string());
            vec![
                name,
                show(&pdb.spec.min_available),
                show(&pdb.spec.max_unavailable),
                pdb.status.disruptions_allowed.to_string(),
                created,
            ]
        }
        _ => vec![name, created],
    }
}

/// A serde enum's wire name (`Running`, `RollingUpdate`).
fn enum_str<T: serde::Serialize>(value: &T) -> String {
    match serde_json::to_value(value) {
        Ok(Value::String(s)) => s,
        Ok(other) => other.to_string(),
        Err(_) => String::new(),
    }
}

/// Data keys of a Secret (`data` with `stringData` merged, as the API server stores it).
fn secret_keys(secret: &Secret) -> BTreeSet<&str> {
    secret
        .data
        .keys()
        .chain(secret.string_data.keys())
        .map(String::as_str)
        .collect()
}

/// printers.go `layoutContainerCells`: container names and images, comma-separated.
fn container_cells(template: &PodTemplateSpec) -> (String, String) {
    let names: Vec<&str> = template
        .spec
        .containers
        .iter()
        .map(|c| c.name.as_str())
        .collect();
    let images: Vec<&str> = template
        .spec
        .containers
        .iter()
        .map(|c| c.image.as_str())
        .collect();
    (names.join(","), images.join(","))
}

/// apimachinery `labels.FormatLabels`: `k=v,k2=v2` sorted by key, `<none>` when empty.
fn format_labels(labels: &BTreeMap<String, String>) -> String {
    if labels.is_empty() {
        return "<none>".into();
    }
    labels
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join(",")
}

/// metav1 `FormatLabelSelector`: the selector's string, `<none>` when it selects everything or
/// is unset, `<error>` when it does not convert.
fn format_label_selector(selector: Option<&LabelSelector>) -> String {
    let Some(selector) = selector else {
        return "<none>".into();
    };
    match selector.to_selector() {
        Ok(s) if s.is_empty() => "<none>".into(),
        Ok(s) => s.to_string(),
        Err(_) => "<error>".into(),
    }
}

/// kubectl's container/pod states, computed as printers.go `printPod` does.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PodSummary {
    /// `ready/total` containers (restartable init containers, i.e. sidecars, count).
    pub ready: String,
    /// The STATUS column: the phase, or the reason that best explains the pod's state
    /// (`ContainerCreating`, `CrashLoopBackOff`, `Init:0/1`, `Completed`, `Terminating`, …).
    pub status: String,
    /// Restarts, with the age of the last one (`3 (42s ago)`).
    pub restarts: String,
}

fn is_restartable_init(container: Option<&Container>) -> bool {
    container.is_some_and(|c| c.restart_policy == Some(ContainerRestartPolicy::Always))
}

fn later(a: Option<Time>, b: Option<Time>) -> Option<Time> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.max(b)),
        (a, b) => a.or(b),
    }
}

/// printers.go `printPod`: READY, STATUS and RESTARTS of a pod.
pub fn pod_summary(pod: &Pod, now: Time) -> PodSummary {
    let phase = pod.status.phase.unwrap_or_default();
    let mut total = pod.spec.containers.len();
    let mut ready = 0usize;
    let mut restarts: i64 = 0;
    let mut sidecar_restarts: i64 = 0;
    let mut last_restart: Option<Time> = None;
    let mut last_sidecar_restart: Option<Time> = None;
    let mut reason = if pod.status.reason.is_empty() {
        enum_str(&phase)
    } else {
        pod.status.reason.clone()
    };
    // A pod held by scheduling gates says so (PodScheduled with reason SchedulingGated).
    if pod
        .status
        .conditions
        .iter()
        .any(|c| c.r#type == "PodScheduled" && c.reason == "SchedulingGated")
    {
        reason = "SchedulingGated".into();
    }
    let init_specs: BTreeMap<&str, &Container> = pod
        .spec
        .init_containers
        .iter()
        .map(|c| (c.name.as_str(), c))
        .collect();
    total += pod
        .spec
        .init_containers
        .iter()
        .filter(|c| is_restartable_init(Some(c)))
        .count();

    let mut initializing = false;
    for (i, status) in pod.status.init_container_statuses.iter().enumerate() {
        let spec = init_specs.get(status.name.as_str()).copied();
        restarts += i64::from(status.restart_count);
        let finished = status
            .last_state
            .terminated
            .as_ref()
            .and_then(|t| t.finished_at);
        last_restart = later(last_restart, finished);
        if is_restartable_init(spec) {
            sidecar_restarts += i64::from(status.restart_count);
            last_sidecar_restart = later(last_sidecar_restart, finished);
        }
        let state = &status.state;
        if state.terminated.as_ref().is_some_and(|t| t.exit_code == 0) {
            continue;
        }
        if is_restartable_init(spec) && status.started == Some(true) {
            if status.ready {
                ready += 1;
            }
            continue;
        }
        if let Some(t) = &state.terminated {
            reason = if !t.reason.is_empty() {
                format!("Init:{}", t.reason)
            } else if t.signal != 0 {
                format!("Init:Signal:{}", t.signal)
            } else {
                format!("Init:ExitCode:{}", t.exit_code)
            };
        } else if let Some(w) = state
            .waiting
            .as_ref()
            .filter(|w| !w.reason.is_empty() && w.reason != "PodInitializing")
        {
            reason = format!("Init:{}", w.reason);
        } else {
            reason = format!("Init:{i}/{}", pod.spec.init_containers.len());
        }
        initializing = true;
        break;
    }

    let initialized = pod
        .condition("Initialized")
        .is_some_and(|c| c.status == ConditionStatus::True);
    if !initializing || initialized {
        restarts = sidecar_restarts;
        last_restart = last_sidecar_restart;
        let mut has_running = false;
        for status in pod.status.container_statuses.iter().rev() {
            restarts += i64::from(status.restart_count);
            let finished = status
                .last_state
                .terminated
                .as_ref()
                .and_then(|t| t.finished_at);
            last_restart = later(last_restart, finished);
            let state = &status.state;
            if let Some(w) = state.waiting.as_ref().filter(|w| !w.reason.is_empty()) {
                reason = w.reason.clone();
            } else if let Some(t) = &state.terminated {
                reason = if !t.reason.is_empty() {
                    t.reason.clone()
                } else if t.signal != 0 {
                    format!("Signal:{}", t.signal)
                } else {
                    format!("ExitCode:{}", t.exit_code)
                };
            } else if status.ready && state.running.is_some() {
                has_running = true;
                ready += 1;
            }
        }
        // A pod whose last-listed container completed while another still runs is running.
        if reason == "Completed" && has_running {
            reason = if pod.is_ready() {
                "Running".into()
            } else {
                "NotReady".into()
            };
        }
    }

    if pod.metadata.deletion_timestamp.is_some() && pod.status.reason == "NodeLost" {
        reason = "Unknown".into();
    } else if pod.metadata.deletion_timestamp.is_some() && !phase.is_terminal() {
        reason = "Terminating".into();
    }

    let restarts = match last_restart {
        Some(t) if restarts != 0 => format!("{restarts} ({} ago)", age(Some(t), now)),
        _ => restarts.to_string(),
    };
    PodSummary {
        ready: format!("{ready}/{total}"),
        status: reason,
        restarts,
    }
}

fn pod_row(pod: &Pod, wide: bool, now: Time) -> Vec<String> {
    let summary = pod_summary(pod, now);
    let mut cells = vec![
        pod.metadata.name.clone(),
        summary.ready,
        summary.status,
        summary.restarts,
        age(pod.metadata.creation_timestamp, now),
    ];
    if wide {
        let ip = pod
            .status
            .pod_ips
            .first()
            .map(|p| p.ip.clone())
            .filter(|ip| !ip.is_empty())
            .or_else(|| Some(pod.status.pod_ip.clone()).filter(|ip| !ip.is_empty()))
            .unwrap_or_else(|| "<none>".into());
        let or_none = |s: &str| {
            if s.is_empty() {
                "<none>".to_string()
            } else {
                s.to_string()
            }
        };
        // Flotilla's PodSpec has no readinessGates, so the column is always `<none>`.
        cells.extend([
            ip,
            or_none(&pod.spec.node_name),
            or_none(&pod.status.nominated_node_name),
            "<none>".into(),
        ]);
    }
    cells
}

fn daemon_set_row(ds: &DaemonSet, name: String, created: String, wide: bool) -> Vec<String> {
    let s = &ds.status;
    let mut cells = vec![
        name,
        s.desired_number_scheduled.to_string(),
        s.current_number_scheduled.to_string(),
        s.number_ready.to_string(),
        s.updated_number_scheduled.to_string(),
        s.number_available.to_string(),
        format_labels(&ds.spec.template.spec.node_selector),
        created,
    ];
    if wide {
        let (containers, images) = container_cells(&ds.spec.template);
        cells.extend([
            containers,
            images,
            format_label_selector(ds.spec.selector.as_ref()),
        ]);
    }
    cells
}

/// printers.go `printJob`: STATUS from the conditions, COMPLETIONS, DURATION.
fn job_row(job: &Job, name: String, created: String, wide: bool, now: Time) -> Vec<String> {
    let completions = match job.spec.completions {
        Some(c) => format!("{}/{c}", job.status.succeeded),
        None => match job.spec.parallelism.unwrap_or(0) {
            p if p > 1 => format!("{}/1 of {p}", job.status.succeeded),
            _ => format!("{}/1", job.status.succeeded),
        },
    };
    let duration = match (job.status.start_time, job.status.completion_time) {
        (None, _) => String::new(),
        (Some(start), None) => human_duration(signed_nanos(now, start)),
        (Some(start), Some(end)) => human_duration(signed_nanos(end, start)),
    };
    let has = |t: JobConditionType| {
        job.status
            .conditions
            .iter()
            .any(|c| c.type_ == t && c.status == ConditionStatus::True)
    };
    let status = if has(JobConditionType::Complete) {
        "Complete"
    } else if has(JobConditionType::Failed) {
        "Failed"
    } else if job.metadata.deletion_timestamp.is_some() {
        "Terminating"
    } else if has(JobConditionType::Suspended) {
        "Suspended"
    } else if has(JobConditionType::FailureTarget) {
        "FailureTarget"
    } else if has(JobConditionType::SuccessCriteriaMet) {
        "SuccessCriteriaMet"
    } else {
        "Running"
    };
    let mut cells = vec![name, status.into(), completions, duration, created];
    if wide {
        let (containers, images) = container_cells(&job.spec.template);
        cells.extend([
            containers,
            images,
            format_label_selector(job.spec.selector.as_ref()),
        ]);
    }
    cells
}

fn cron_job_row(cj: &CronJob, name: String, created: String, wide: bool, now: Time) -> Vec<String> {
    let last = match cj.status.last_schedule_time {
        Some(t) => age(Some(t), now),
        None => "<none>".into(),
    };
    let mut cells = vec![
        name,
        cj.spec.schedule.clone(),
        cj.spec.time_zone.clone().unwrap_or_else(|| "<none>".into()),
        cj.spec.suspend.map_or_else(
            || "<unset>".into(),
            |s| if s { "True" } else { "False" }.into(),
        ),
        cj.status.active.len().to_string(),
        last,
        created,
    ];
    if wide {
        let template = &cj.spec.job_template.spec.template;
        let (containers, images) = container_cells(template);
        cells.extend([
            containers,
            images,
            format_label_selector(cj.spec.job_template.spec.selector.as_ref()),
        ]);
    }
    cells
}

/// printers.go `makePortString`: `80/TCP`, `80:30080/TCP` with a node port.
fn service_ports(ports: &[ServicePort]) -> String {
    ports
        .iter()
        .map(|p| match p.node_port {
            Some(np) if np > 0 => format!("{}:{np}/{}", p.port, p.protocol.as_str()),
            _ => format!("{}/{}", p.port, p.protocol.as_str()),
        })
        .collect::<Vec<_>>()
        .join(",")
}

/// printers.go `getServiceExternalIP`.
fn service_external_ip(svc: &Service, wide: bool) -> String {
    let external = svc.spec.external_ips.join(",");
    match svc.spec.r#type {
        ServiceType::ClusterIP | ServiceType::NodePort => {
            if external.is_empty() {
                "<none>".into()
            } else {
                external
            }
        }
        ServiceType::LoadBalancer => {
            let ingress: Vec<String> = svc
                .status
                .load_balancer
                .ingress
                .iter()
                .filter_map(|i| i.ip.clone().or_else(|| i.hostname.clone()))
                .collect();
            let mut lb = ingress.join(",");
            // loadBalancerStatusStringer: long lists are cut to 16 columns without -o wide.
            if !wide && lb.chars().count() > 16 {
                lb = format!("{}...", lb.chars().take(13).collect::<String>());
            }
            match (lb.is_empty(), external.is_empty()) {
                (true, true) => "<pending>".into(),
                (false, true) => lb,
                (true, false) => external,
                (false, false) => format!("{lb},{external}"),
            }
        }
        ServiceType::ExternalName => svc.spec.external_name.clone().unwrap_or_default(),
    }
}

fn service_row(svc: &Service, name: String, created: String, wide: bool) -> Vec<String> {
    let cluster_ip = svc
        .spec
        .cluster_ips
        .first()
        .cloned()
        .or_else(|| svc.spec.cluster_ip.clone().filter(|ip| !ip.is_empty()))
        .unwrap_or_else(|| "<none>".into());
    let mut ports = service_ports(&svc.spec.ports);
    if ports.is_empty() {
        ports = "<none>".into();
    }
    let mut cells = vec![
        name,
        svc.spec.r#type.as_str().to_string(),
        cluster_ip,
        service_external_ip(svc, wide),
        ports,
        created,
    ];
    if wide {
        cells.push(format_labels(&svc.spec.selector));
    }
    cells
}

/// printers.go `findNodeRoles`: `node-role.kubernetes.io/<role>` label suffixes and the
/// `kubernetes.io/role` label's value, sorted.
fn node_roles(node: &Node) -> Vec<String> {
    let mut roles = BTreeSet::new();
    for (k, v) in &node.metadata.labels {
        if let Some(role) = k.strip_prefix("node-role.kubernetes.io/") {
            if !role.is_empty() {
                roles.insert(role.to_string());
            }
        } else if k == "kubernetes.io/role" && !v.is_empty() {
            roles.insert(v.clone());
        }
    }
    roles.into_iter().collect()
}

fn node_address(node: &Node, kind: NodeAddressType) -> String {
    node.status
        .addresses
        .iter()
        .find(|a| a.r#type == kind)
        .map_or_else(|| "<none>".into(), |a| a.address.clone())
}

fn node_row(node: &Node, name: String, created: String, wide: bool) -> Vec<String> {
    // printNode: only the Ready condition is shown; Unknown and False both read `NotReady`.
    let mut status: Vec<String> = node
        .condition("Ready")
        .map(|c| {
            if c.status == ConditionStatus::True {
                "Ready".to_string()
            } else {
                "NotReady".to_string()
            }
        })
        .into_iter()
        .collect();
    if status.is_empty() {
        status.push("Unknown".into());
    }
    if node.spec.unschedulable {
        status.push("SchedulingDisabled".into());
    }
    let roles = node_roles(node);
    let info = node.status.node_info.clone().unwrap_or_default();
    let mut cells = vec![
        name,
        status.join(","),
        if roles.is_empty() {
            "<none>".into()
        } else {
            roles.join(",")
        },
        created,
        info.kubelet_version.clone(),
    ];
    if wide {
        let unknown = |s: &str| {
            if s.is_empty() {
                "<unknown>".to_string()
            } else {
                s.to_string()
            }
        };
        cells.extend([
            node_address(node, NodeAddressType::InternalIp),
            node_address(node, NodeAddressType::ExternalIp),
            unknown(&info.os_image),
            unknown(&info.kernel_version),
            unknown(&info.container_runtime_version),
        ]);
    }
    cells
}

/// printers.go `formatHPAMetrics`: `current/target` per metric, `<unknown>` when not yet
/// observed, three at most without `-o wide`.
fn hpa_targets(hpa: &HorizontalPodAutoscaler, wide: bool) -> String {
    let specs = &hpa.spec.metrics;
    if specs.is_empty() {
        return "<none>".into();
    }
    let statuses = &hpa.status.current_metrics;
    let q = |q: &Option<Quantity>| q.as_ref().map_or_else(|| "0".into(), Quantity::to_string);
    let mut list = Vec::new();
    for (i, spec) in specs.iter().enumerate() {
        let status = statuses.get(i);
        let unknown = || "<unknown>".to_string();
        let item = match spec.type_ {
            Some(MetricSourceType::External) => spec.external.as_ref().map(|m| {
                let cur = status.and_then(|s| s.external.as_ref()).map(|s| &s.current);
                if m.target.average_value.is_some() {
                    let c = cur.map_or_else(unknown, |c| q(&c.average_value));
                    format!("{c}/{} (avg)", q(&m.target.average_value))
                } else {
                    let c = cur.map_or_else(unknown, |c| q(&c.value));
                    format!("{c}/{}", q(&m.target.value))
                }
            }),
            Some(MetricSourceType::Pods) => spec.pods.as_ref().map(|m| {
                let c = status
                    .and_then(|s| s.pods.as_ref())
                    .map_or_else(unknown, |s| q(&s.current.average_value));
                format!("{c}/{}", q(&m.target.average_value))
            }),
            Some(MetricSourceType::Object) => spec.object.as_ref().map(|m| {
                let cur = status.and_then(|s| s.object.as_ref()).map(|s| &s.current);
                if m.target.average_value.is_some() {
                    let c = cur.map_or_else(unknown, |c| q(&c.average_value));
                    format!("{c}/{} (avg)", q(&m.target.average_value))
                } else {
                    let c = cur.map_or_else(unknown, |c| q(&c.value));
                    format!("{c}/{}", q(&m.target.value))
                }
            }),
            Some(MetricSourceType::Resource) | Some(MetricSourceType::ContainerResource) => {
                let (name, target, current) = match (&spec.resource, &spec.container_resource) {
                    (Some(r), _) => (
                        &r.name,
                        &r.target,
                        status.and_then(|s| s.resource.as_ref()).map(|s| &s.current),
                    ),
                    (None, Some(r)) => (
                        &r.name,
                        &r.target,
                        status
                            .and_then(|s| s.container_resource.as_ref())
                            .map(|s| &s.current),
                    ),
                    (None, None) => {
                        list.push("<unknown type>".to_string());
                        continue;
                    }
                };
                Some(if target.average_value.is_some() {
                    let c = current.map_or_else(unknown, |c| q(&c.average_value));
                    format!("{name}: {c}/{}", q(&target.average_value))
                } else {
                    let c = current
                        .and_then(|c| c.average_utilization)
                        .map_or_else(unknown, |u| format!("{u}%"));
                    let t = target
                        .average_utilization
                        .map_or_else(|| "<auto>".into(), |u| format!("{u}%"));
                    format!("{name}: {c}/{t}")
                })
            }
            None => None,
        };
        list.push(item.unwrap_or_else(|| "<unknown type>".into()));
    }
    if list.len() > 3 && !wide {
        let more = list.len() - 3;
        return format!("{} + {more} more...", list[..3].join(", "));
    }
    list.join(", ")
}

fn hpa_row(
    hpa: &HorizontalPodAutoscaler,
    name: String,
    created: String,
    wide: bool,
) -> Vec<String> {
    let r = &hpa.spec.scale_target_ref;
    vec![
        name,
        format!("{}/{}", r.kind, r.name),
        hpa_targets(hpa, wide),
        hpa.spec
            .min_replicas
            .map_or_else(|| "<unset>".into(), |m| m.to_string()),
        hpa.spec.max_replicas.to_string(),
        hpa.status.current_replicas.to_string(),
        created,
    ]
}

/// core helper `GetAccessModesAsString`: `RWO,ROX,RWX,RWOP` in that order.
fn access_modes(modes: &[PersistentVolumeAccessMode]) -> String {
    let order = [
        PersistentVolumeAccessMode::ReadWriteOnce,
        PersistentVolumeAccessMode::ReadOnlyMany,
        PersistentVolumeAccessMode::ReadWriteMany,
        PersistentVolumeAccessMode::ReadWriteOncePod,
    ];
    order
        .iter()
        .filter(|m| modes.contains(m))
        .map(|m| m.short_name())
        .collect::<Vec<_>>()
        .join(",")
}

fn pvc_row(pvc: &PersistentVolumeClaim, name: String, created: String, wide: bool) -> Vec<String> {
    let phase = if pvc.metadata.deletion_timestamp.is_some() {
        "Terminating".to_string()
    } else {
        pvc.status.phase.as_ref().map(enum_str).unwrap_or_default()
    };
    let volume = pvc.spec.volume_name.clone().unwrap_or_default();
    let (capacity, modes) = if volume.is_empty() {
        (String::new(), String::new())
    } else {
        (
            pvc.status
                .capacity
                .get("storage")
                .map(Quantity::to_string)
                .unwrap_or_else(|| "0".into()),
            access_modes(&pvc.status.access_modes),
        )
    };
    let vac = pvc
        .spec
        .volume_attributes_class_name
        .clone()
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "<unset>".into());
    let mut cells = vec![
        name,
        phase,
        volume,
        capacity,
        modes,
        pvc.storage_class().unwrap_or_default().to_string(),
        vac,
        created,
    ];
    if wide {
        cells.push(
            pvc.spec
                .volume_mode
                .as_ref()
                .map_or_else(|| "<unset>".into(), enum_str),
        );
    }
    cells
}

fn pv_row(pv: &PersistentVolume, name: String, created: String, wide: bool) -> Vec<String> {
    let claim = pv
        .spec
        .claim_ref
        .as_ref()
        .map(|c| format!("{}/{}", c.namespace, c.name))
        .unwrap_or_default();
    let phase = if pv.metadata.deletion_timestamp.is_some() {
        "Terminating".to_string()
    } else {
        pv.status.phase.as_ref().map(enum_str).unwrap_or_default()
    };
    let mut cells = vec![
        name,
        pv.spec
            .capacity
            .get("storage")
            .map(Quantity::to_string)
            .unwrap_or_else(|| "0".into()),
        access_modes(&pv.spec.access_modes),
        pv.spec
            .persistent_volume_reclaim_policy
            .map(|p| p.as_str().to_string())
            .unwrap_or_default(),
        phase,
        claim,
        pv.spec.storage_class_name.clone().unwrap_or_default(),
        pv.spec
            .volume_attributes_class_name
            .clone()
            .filter(|s| !s.is_empty())
            .unwrap_or_else(|| "<unset>".into()),
        pv.status.reason.clone().unwrap_or_default(),
        created,
    ];
    if wide {
        cells.push(
            pv.spec
                .volume_mode
                .as_ref()
                .map_or_else(|| "<unset>".into(), enum_str),
        );
    }
    cells
}

/// printers.go `listWithMoreString`.
fn list_with_more(list: &[String], more: bool, count: usize, max: usize) -> String {
    let joined = list.join(",");
    if more {
        return format!("{joined} + {} more...", count - max);
    }
    if joined.is_empty() {
        "<unset>".into()
    } else {
        joined
    }
}

fn endpoint_slice_row(slice: &EndpointSlice, name: String, created: String) -> Vec<String> {
    const MAX: usize = 3;
    let ports: Vec<String> = slice
        .ports
        .iter()
        .take(MAX)
        .map(|p| match (p.port, &p.name) {
            (Some(port), _) => port.to_string(),
            (None, Some(name)) => name.clone(),
            (None, None) => "*".into(),
        })
        .collect();
    let addresses: Vec<&String> = slice.endpoints.iter().flat_map(|e| &e.addresses).collect();
    let shown: Vec<String> = addresses.iter().take(MAX).map(|a| a.to_string()).collect();
    vec![
        name,
        slice
            .address_type
            .map_or_else(String::new, |t| t.as_str().to_string()),
        list_with_more(&ports, slice.ports.len() > MAX, slice.ports.len(), MAX),
        list_with_more(&shown, addresses.len() > MAX, addresses.len(), MAX),
        created,
    ]
}

/// printers.go `printResourceQuota`: `resource: used/hard` pairs, limits in their own column.
fn resource_quota_row(rq: &ResourceQuota, name: String, created: String) -> Vec<String> {
    let mut requests = Vec::new();
    let mut limits = Vec::new();
    for (resource, hard) in &rq.status.hard {
        let used = rq
            .status
            .used
            .get(resource)
            .map_or_else(|| "0".into(), Quantity::to_string);
        let text = format!("{resource}: {used}/{hard}");
        if resource.split('.').next() == Some("limits") && resource.contains('.') {
            limits.push(text);
        } else {
            requests.push(text);
        }
    }
    vec![name, created, requests.join(", "), limits.join(", ")]
}

fn limit_range_row(lr: &LimitRange, name: String) -> Vec<String> {
    vec![
        name,
        lr.metadata
            .creation_timestamp
            .map_or_else(String::new, |t| {
                // RFC 3339 in UTC, whole seconds, as Go's time.RFC3339.
                let text = t.to_rfc3339();
                match text.split_once('.') {
                    Some((secs, _)) => format!("{secs}Z"),
                    None => text,
                }
            }),
    ]
}

// ---------------------------------------------------------------------------------------------
// Describe
// ---------------------------------------------------------------------------------------------

/// `kubectl describe`: the object of `kind` named `name` in `namespace` (ignored for
/// cluster-scoped kinds) in kubectl's layout, with its events from `events`. Pods,
/// Deployments, Services, Nodes, Secrets and ConfigMaps have their own layouts; other kinds get
/// the name, labels and annotations, the rest of the object as YAML, and the events.
pub fn describe(
    store: &Store,
    events: &EventRecorder,
    kind: Kind,
    namespace: &str,
    name: &str,
    now: Time,
) -> Result<String, PrintError> {
    let namespace = if kind.namespaced() { namespace } else { "" };
    let object = store
        .get(kind, namespace, name)
        .ok_or_else(|| PrintError::NotFound {
            kind,
            name: name.to_string(),
        })?;
    let key = ObjectKey::of(&object);
    let object_events: Vec<&Event> = events.events_for(&key).collect();
    let mut w = Describer::default();
    match object.as_ref() {
        Object::Pod(pod) => describe_pod(&mut w, pod, now),
        Object::Deployment(d) => describe_deployment(&mut w, store, d),
        Object::Service(svc) => describe_service(&mut w, store, svc),
        Object::Node(node) => describe_node(&mut w, store, node, now),
        Object::Secret(secret) => {
            describe_secret(&mut w, secret);
            return Ok(w.finish());
        }
        Object::ConfigMap(cm) => describe_config_map(&mut w, cm),
        other => {
            describe_generic(&mut w, other);
        }
    }
    describe_events(&mut w, &object_events, now);
    Ok(w.finish())
}

/// kubectl's `PrefixWriter` over a tab writer: lines indented by two spaces per level, cells
/// separated by tabs, aligned at the end with padding 2 (`tabbedString`). Raw sections (YAML)
/// bypass the alignment.
#[derive(Default)]
struct Describer {
    done: String,
    pending: String,
}

impl Describer {
    fn line(&mut self, level: usize, text: &str) {
        for _ in 0..level {
            self.pending.push_str("  ");
        }
        self.pending.push_str(text);
    }

    fn flush(&mut self) {
        let text = std::mem::take(&mut self.pending);
        self.done.push_str(&align_tabs(&text, 0, 2));
    }

    fn raw(&mut self, text: &str) {
        self.flush();
        self.done.push_str(text);
    }

    fn finish(mut self) -> String {
        self.flush();
        self.done
    }
}

fn or_none(s: &str) -> &str {
    if s.is_empty() {
        "<none>"
    } else {
        s
    }
}

/// describe.go `printLabelsMultilineWithIndent`: the first label after the title, the rest
/// aligned under it; `<none>` when empty.
fn labels_multiline(w: &mut Describer, title: &str, labels: &Labels) {
    w.line(0, &format!("{title}:\t"));
    if labels.is_empty() {
        w.line(0, "<none>\n");
        return;
    }
    for (i, (k, v)) in labels.iter().enumerate() {
        if i > 0 {
            w.line(0, "\t");
        }
        w.line(0, &format!("{k}={v}\n"));
    }
}

/// describe.go `printAnnotationsMultiline`: like labels, as `key: value`; values longer than
/// 140 characters or with newlines go on their own lines, cut to 138 characters.
fn annotations_multiline(w: &mut Describer, title: &str, annotations: &Labels) {
    const MAX_ANNOTATION_LEN: usize = 140;
    w.line(0, &format!("{title}:\t"));
    let keys: Vec<&String> = annotations
        .keys()
        .filter(|k| k.as_str() != "kubectl.kubernetes.io/last-applied-configuration")
        .collect();
    if keys.is_empty() {
        w.line(0, "<none>\n");
        return;
    }
    for (i, key) in keys.into_iter().enumerate() {
        if i > 0 {
            w.line(0, "\t");
        }
        let value = annotations[key].trim_end_matches('\n');
        if value.len() + key.len() + 2 > MAX_ANNOTATION_LEN || value.contains('\n') {
            w.line(0, &format!("{key}:\n"));
            for part in value.split('\n') {
                let shown: String = if part.chars().count() > MAX_ANNOTATION_LEN - 2 {
                    let cut: String = part.chars().take(MAX_ANNOTATION_LEN - 2).collect();
                    format!("{cut}...")
                } else {
                    part.to_string()
                };
                w.line(0, &format!("\t  {shown}\n"));
            }
        } else {
            w.line(0, &format!("{key}: {value}\n"));
        }
    }
}

/// describe.go `printTolerationsMultilineWithIndent` (in the pod's order).
fn tolerations_multiline(w: &mut Describer, title: &str, tolerations: &[Toleration]) {
    w.line(0, &format!("{title}:\t"));
    if tolerations.is_empty() {
        w.line(0, "<none>\n");
        return;
    }
    for (i, t) in tolerations.iter().enumerate() {
        if i > 0 {
            w.line(0, "\t");
        }
        let mut text = t.key.clone();
        if !t.value.is_empty() {
            let _ = write!(text, "={}", t.value);
        }
        if let Some(effect) = t.effect {
            let _ = write!(text, ":{}", effect.as_str());
        }
        if t.operator == Some(TolerationOperator::Exists) && t.value.is_empty() {
            if !t.key.is_empty() || t.effect.is_some() {
                text.push_str(" op=Exists");
            } else {
                text.push_str("op=Exists");
            }
        }
        if let Some(s) = t.toleration_seconds {
            let _ = write!(text, " for {s}s");
        }
        text.push('\n');
        w.line(0, &text);
    }
}

fn describe_pod(w: &mut Describer, pod: &Pod, now: Time) {
    let meta = &pod.metadata;
    w.line(0, &format!("Name:\t{}\n", meta.name));
    w.line(0, &format!("Namespace:\t{}\n", meta.namespace));
    if let Some(p) = pod.spec.priority {
        w.line(0, &format!("Priority:\t{p}\n"));
    }
    if !pod.spec.priority_class_name.is_empty() {
        w.line(
            0,
            &format!("Priority Class Name:\t{}\n", pod.spec.priority_class_name),
        );
    }
    if !pod.spec.service_account_name.is_empty() {
        w.line(
            0,
            &format!("Service Account:\t{}\n", pod.spec.service_account_name),
        );
    }
    if pod.spec.node_name.is_empty() {
        w.line(0, "Node:\t<none>\n");
    } else {
        w.line(
            0,
            &format!("Node:\t{}/{}\n", pod.spec.node_name, pod.status.host_ip),
        );
    }
    if let Some(t) = pod.status.start_time {
        w.line(0, &format!("Start Time:\t{}\n", rfc1123z(Some(t))));
    }
    labels_multiline(w, "Labels", &meta.labels);
    annotations_multiline(w, "Annotations", &meta.annotations);
    let phase = pod.status.phase.unwrap_or_default();
    match meta.deletion_timestamp {
        Some(t) if !phase.is_terminal() => {
            w.line(
                0,
                &format!("Status:\tTerminating (lasts {})\n", age(Some(t), now)),
            );
            w.line(
                0,
                &format!(
                    "Termination Grace Period:\t{}s\n",
                    meta.deletion_grace_period_seconds.unwrap_or(0)
                ),
            );
        }
        _ => w.line(0, &format!("Status:\t{}\n", enum_str(&phase))),
    }
    if !pod.status.reason.is_empty() {
        w.line(0, &format!("Reason:\t{}\n", pod.status.reason));
    }
    if !pod.status.message.is_empty() {
        w.line(0, &format!("Message:\t{}\n", pod.status.message));
    }
    if let Some(profile) = pod
        .spec
        .security_context
        .as_ref()
        .and_then(|s| s.seccomp_profile.as_ref())
    {
        w.line(
            0,
            &format!("SeccompProfile:\t{}\n", enum_str(&profile.r#type)),
        );
    }
    w.line(0, &format!("IP:\t{}\n", pod.status.pod_ip));
    if pod.status.pod_ips.is_empty() {
        w.line(0, "IPs:\t<none>\n");
    } else {
        w.line(0, "IPs:\n");
        for ip in &pod.status.pod_ips {
            w.line(1, &format!("IP:\t{}\n", ip.ip));
        }
    }
    if let Some(owner) = meta.controller_ref() {
        w.line(
            0,
            &format!("Controlled By:\t{}/{}\n", owner.kind, owner.name),
        );
    }
    if !pod.status.nominated_node_name.is_empty() {
        w.line(
            0,
            &format!("NominatedNodeName:\t{}\n", pod.status.nominated_node_name),
        );
    }
    if !pod.spec.init_containers.is_empty() {
        describe_containers(
            w,
            "Init Containers",
            &pod.spec.init_containers,
            Some(&pod.status.init_container_statuses),
            Some(pod),
            "",
        );
    }
    describe_containers(
        w,
        "Containers",
        &pod.spec.containers,
        Some(&pod.status.container_statuses),
        Some(pod),
        "",
    );
    if !pod.status.conditions.is_empty() {
        w.line(0, "Conditions:\n  Type\tStatus\n");
        for c in &pod.status.conditions {
            w.line(1, &format!("{} \t{} \n", c.r#type, enum_str(&c.status)));
        }
    }
    describe_volumes(w, &pod.spec.volumes, "");
    let qos = pod.status.qos_class.unwrap_or_else(|| pod.qos_class());
    w.line(0, &format!("QoS Class:\t{}\n", enum_str(&qos)));
    labels_multiline(w, "Node-Selectors", &pod.spec.node_selector);
    tolerations_multiline(w, "Tolerations", &pod.spec.tolerations);
}

/// describe.go `describeContainers` (statuses `None` for a pod template).
fn describe_containers(
    w: &mut Describer,
    label: &str,
    containers: &[Container],
    statuses: Option<&[ContainerStatus]>,
    pod: Option<&Pod>,
    space: &str,
) {
    let by_name: BTreeMap<&str, &ContainerStatus> = statuses
        .unwrap_or_default()
        .iter()
        .map(|s| (s.name.as_str(), s))
        .collect();
    w.line(0, &format!("{space}{label}:\n"));
    let name_indent = if space.is_empty() { "" } else { " " };
    for c in containers {
        let status = by_name.get(c.name.as_str()).copied();
        w.line(1, &format!("{name_indent}{}:\n", c.name));
        if let Some(s) = status {
            w.line(2, &format!("Container ID:\t{}\n", s.container_id));
        }
        w.line(2, &format!("Image:\t{}\n", c.image));
        if let Some(s) = status {
            w.line(2, &format!("Image ID:\t{}\n", s.image_id));
        }
        let proto = |p: &flotilla_model::api::ContainerPort| {
            p.protocol.unwrap_or_default().as_str().to_string()
        };
        let ports: Vec<String> = c
            .ports
            .iter()
            .map(|p| {
                if p.name.is_empty() {
                    format!("{}/{}", p.container_port, proto(p))
                } else {
                    format!("{}/{} ({})", p.container_port, proto(p), p.name)
                }
            })
            .collect();
        let host_ports: Vec<String> = c
            .ports
            .iter()
            .map(|p| format!("{}/{}", p.host_port, proto(p)))
            .collect();
        if ports.len() > 1 {
            w.line(2, &format!("Ports:\t{}\n", ports.join(", ")));
        } else {
            w.line(2, &format!("Port:\t{}\n", or_none(&ports.join(", "))));
        }
        if host_ports.len() > 1 {
            w.line(2, &format!("Host Ports:\t{}\n", host_ports.join(", ")));
        } else {
            w.line(
                2,
                &format!("Host Port:\t{}\n", or_none(&host_ports.join(", "))),
            );
        }
        for (title, lines) in [("Command", &c.command), ("Args", &c.args)] {
            if !lines.is_empty() {
                w.line(2, &format!("{title}:\n"));
                for part in lines.iter().flat_map(|l| l.split('\n')) {
                    w.line(3, &format!("{part}\n"));
                }
            }
        }
        if let Some(s) = status {
            describe_state(w, "State", &s.state);
            if s.last_state.terminated.is_some() {
                describe_state(w, "Last State", &s.last_state);
            }
            w.line(
                2,
                &format!("Ready:\t{}\n", if s.ready { "True" } else { "False" }),
            );
            w.line(2, &format!("Restart Count:\t{}\n", s.restart_count));
        }
        describe_resources(w, &c.resources.limits, &c.resources.requests, 2);
        for (title, probe) in [
            ("Liveness", &c.liveness_probe),
            ("Readiness", &c.readiness_probe),
            ("Startup", &c.startup_probe),
        ] {
            if let Some(p) = probe {
                w.line(2, &format!("{title}:\t{}\n", describe_probe(p)));
            }
        }
        if !c.env_from.is_empty() {
            w.line(2, "Environment Variables from:\n");
            for e in &c.env_from {
                let (from, name, optional) = match (&e.config_map_ref, &e.secret_ref) {
                    (Some(r), _) => ("ConfigMap", &r.name, r.optional.unwrap_or(false)),
                    (None, Some(r)) => ("Secret", &r.name, r.optional.unwrap_or(false)),
                    (None, None) => continue,
                };
                if e.prefix.is_empty() {
                    w.line(3, &format!("{name}\t{from}\tOptional: {optional}\n"));
                } else {
                    w.line(
                        3,
                        &format!(
                            "{name}\t{from} with prefix '{}'\tOptional: {optional}\n",
                            e.prefix
                        ),
                    );
                }
            }
        }
        describe_env(w, c, pod);
        if c.volume_mounts.is_empty() {
            w.line(2, "Mounts:\t<none>\n");
        } else {
            w.line(2, "Mounts:\n");
            let mut mounts: Vec<_> = c.volume_mounts.iter().collect();
            mounts.sort_by(|a, b| a.mount_path.cmp(&b.mount_path));
            for m in mounts {
                let mut flags = vec![if m.read_only { "ro" } else { "rw" }.to_string()];
                if !m.sub_path.is_empty() {
                    flags.push(format!("path={:?}", m.sub_path));
                }
                w.line(
                    3,
                    &format!("{} from {} ({})\n", m.mount_path, m.name, flags.join(",")),
                );
            }
        }
    }
}

/// describe.go `describeStatus`.
fn describe_state(w: &mut Describer, title: &str, state: &ContainerState) {
    if let Some(r) = &state.running {
        w.line(2, &format!("{title}:\tRunning\n"));
        w.line(3, &format!("Started:\t{}\n", rfc1123z(r.started_at)));
    } else if let Some(wt) = &state.waiting {
        w.line(2, &format!("{title}:\tWaiting\n"));
        if !wt.reason.is_empty() {
            w.line(3, &format!("Reason:\t{}\n", wt.reason));
        }
    } else if let Some(t) = &state.terminated {
        w.line(2, &format!("{title}:\tTerminated\n"));
        if !t.reason.is_empty() {
            w.line(3, &format!("Reason:\t{}\n", t.reason));
        }
        if !t.message.is_empty() {
            w.line(3, &format!("Message:\t{}\n", t.message));
        }
        w.line(3, &format!("Exit Code:\t{}\n", t.exit_code));
        if t.signal > 0 {
            w.line(3, &format!("Signal:\t{}\n", t.signal));
        }
        w.line(3, &format!("Started:\t{}\n", rfc1123z(t.started_at)));
        w.line(3, &format!("Finished:\t{}\n", rfc1123z(t.finished_at)));
    } else {
        w.line(2, &format!("{title}:\tWaiting\n"));
    }
}

/// describe.go `describeResources`.
fn describe_resources(
    w: &mut Describer,
    limits: &ResourceList,
    requests: &ResourceList,
    level: usize,
) {
    for (title, list) in [("Limits", limits), ("Requests", requests)] {
        if !list.is_empty() {
            w.line(level, &format!("{title}:\n"));
        }
        for (name, q) in list {
            w.line(level + 1, &format!("{name}:\t{q}\n"));
        }
    }
}

/// describe.go `DescribeProbe`.
fn describe_probe(p: &Probe) -> String {
    let attrs = format!(
        "delay={}s timeout={}s period={}s #success={} #failure={}",
        p.initial_delay_seconds,
        p.timeout_seconds,
        p.period_seconds,
        p.success_threshold,
        p.failure_threshold
    );
    if let Some(exec) = &p.exec {
        format!("exec [{}] {attrs}", exec.command.join(" "))
    } else if let Some(http) = &p.http_get {
        let scheme = http
            .scheme
            .as_ref()
            .map_or_else(|| "http".to_string(), |s| enum_str(s).to_ascii_lowercase());
        let port = http.port.to_string();
        let host = if http.host.contains(':') {
            format!("[{}]:{port}", http.host)
        } else {
            format!("{}:{port}", http.host)
        };
        format!("http-get {scheme}://{host}{} {attrs}", http.path)
    } else if let Some(tcp) = &p.tcp_socket {
        format!("tcp-socket {}:{} {attrs}", tcp.host, tcp.port)
    } else if let Some(grpc) = &p.grpc {
        format!(
            "grpc <pod>:{} {} {attrs}",
            grpc.port,
            grpc.service.clone().unwrap_or_default()
        )
    } else {
        format!("unknown {attrs}")
    }
}

/// kubectl's `EnvValueRetriever`, for the downward-API fields it can show.
fn field_value(pod: Option<&Pod>, path: &str) -> String {
    let Some(pod) = pod else {
        return String::new();
    };
    let meta = &pod.metadata;
    let map_value = |map: &Labels, rest: &str| {
        let key = rest
            .trim_start_matches("['")
            .trim_end_matches("']")
            .to_string();
        map.get(&key).cloned().unwrap_or_default()
    };
    match path {
        "metadata.name" => meta.name.clone(),
        "metadata.namespace" => meta.namespace.clone(),
        "metadata.uid" => meta.uid.clone(),
        "spec.nodeName" => pod.spec.node_name.clone(),
        "spec.serviceAccountName" => pod.spec.service_account_name.clone(),
        "status.hostIP" => pod.status.host_ip.clone(),
        "status.podIP" => pod.status.pod_ip.clone(),
        p => {
            if let Some(rest) = p.strip_prefix("metadata.labels") {
                map_value(&meta.labels, rest)
            } else if let Some(rest) = p.strip_prefix("metadata.annotations") {
                map_value(&meta.annotations, rest)
            } else {
                String::new()
            }
        }
    }
}

/// describe.go `describeContainerEnvVars`.
fn describe_env(w: &mut Describer, c: &Container, pod: Option<&Pod>) {
    if c.env.is_empty() {
        w.line(2, "Environment:\t<none>\n");
        return;
    }
    w.line(2, "Environment:\n");
    for e in &c.env {
        let Some(from) = &e.value_from else {
            for (i, part) in e.value.split('\n').enumerate() {
                if i == 0 {
                    w.line(3, &format!("{}:\t{part}\n", e.name));
                } else {
                    w.line(3, &format!("\t{part}\n"));
                }
            }
            continue;
        };
        if let Some(f) = &from.field_ref {
            let api_version = if f.api_version.is_empty() {
                "v1"
            } else {
                f.api_version.as_str()
            };
            w.line(
                3,
                &format!(
                    "{}:\t{} ({api_version}:{})\n",
                    e.name,
                    field_value(pod, &f.field_path),
                    f.field_path
                ),
            );
        } else if let Some(r) = &from.resource_field_ref {
            let limits = &c.resources.limits;
            let requests = &c.resources.requests;
            let value = match r.resource.split_once('.') {
                Some(("limits", res)) => limits.get(res).map(Quantity::to_string),
                Some(("requests", res)) => requests.get(res).map(Quantity::to_string),
                _ => None,
            };
            let value = match value {
                None if matches!(r.resource.as_str(), "limits.cpu" | "limits.memory") => {
                    "node allocatable".to_string()
                }
                other => other.unwrap_or_default(),
            };
            w.line(3, &format!("{}:\t{value} ({})\n", e.name, r.resource));
        } else if let Some(s) = &from.secret_key_ref {
            w.line(
                3,
                &format!(
                    "{}:\t<set to the key '{}' in secret '{}'>\tOptional: {}\n",
                    e.name,
                    s.key,
                    s.name,
                    s.optional.unwrap_or(false)
                ),
            );
        } else if let Some(cm) = &from.config_map_key_ref {
            w.line(
                3,
                &format!(
                    "{}:\t<set to the key '{}' of config map '{}'>\tOptional: {}\n",
                    e.name,
                    cm.key,
                    cm.name,
                    cm.optional.unwrap_or(false)
                ),
            );
        }
    }
}

/// describe.go `describeVolumes` for the volume sources Flotilla has.
fn describe_volumes(w: &mut Describer, volumes: &[Volume], space: &str) {
    if volumes.is_empty() {
        w.line(0, &format!("{space}Volumes:\t<none>\n"));
        return;
    }
    w.line(0, &format!("{space}Volumes:\n"));
    let name_indent = if space.is_empty() { "" } else { " " };
    let opt = |o: Option<bool>| o.map_or_else(|| "<nil>".to_string(), |b| b.to_string());
    for v in volumes {
        w.line(1, &format!("{name_indent}{}:\n", v.name));
        if let Some(h) = &v.host_path {
            let t = h
                .r#type
                .as_ref()
                .map_or_else(|| "<none>".to_string(), enum_str);
            w.line(
                2,
                &format!(
                    "Type:\tHostPath (bare host directory volume)\n    Path:\t{}\n    HostPathType:\t{t}\n",
                    h.path
                ),
            );
        } else if let Some(e) = &v.empty_dir {
            let size = e
                .size_limit
                .as_ref()
                .filter(|q| q.sign() > 0)
                .map_or_else(|| "<unset>".to_string(), Quantity::to_string);
            w.line(
                2,
                &format!(
                    "Type:\tEmptyDir (a temporary directory that shares a pod's lifetime)\n    Medium:\t{}\n    SizeLimit:\t{size}\n",
                    e.medium
                ),
            );
        } else if let Some(s) = &v.secret {
            w.line(
                2,
                &format!(
                    "Type:\tSecret (a volume populated by a Secret)\n    SecretName:\t{}\n    Optional:\t{}\n",
                    s.secret_name,
                    s.optional.unwrap_or(false)
                ),
            );
        } else if let Some(cm) = &v.config_map {
            w.line(
                2,
                &format!(
                    "Type:\tConfigMap (a volume populated by a ConfigMap)\n    Name:\t{}\n    Optional:\t{}\n",
                    cm.name,
                    cm.optional.unwrap_or(false)
                ),
            );
        } else if let Some(pvc) = &v.persistent_volume_claim {
            w.line(
                2,
                &format!(
                    "Type:\tPersistentVolumeClaim (a reference to a PersistentVolumeClaim in the same namespace)\n    ClaimName:\t{}\n    ReadOnly:\t{}\n",
                    pvc.claim_name, pvc.read_only
                ),
            );
        } else if let Some(p) = &v.projected {
            w.line(
                2,
                "Type:\tProjected (a volume that contains injected data from multiple sources)\n",
            );
            for s in &p.sources {
                if let Some(sec) = &s.secret {
                    w.line(
                        2,
                        &format!(
                            "SecretName:\t{}\n    SecretOptionalName:\t{}\n",
                            sec.name,
                            opt(sec.optional)
                        ),
                    );
                } else if s.downward_api.is_some() {
                    w.line(2, "DownwardAPI:\ttrue\n");
                } else if let Some(cm) = &s.config_map {
                    w.line(
                        2,
                        &format!(
                            "ConfigMapName:\t{}\n    ConfigMapOptional:\t{}\n",
                            cm.name,
                            opt(cm.optional)
                        ),
                    );
                } else if let Some(t) = &s.service_account_token {
                    w.line(
                        2,
                        &format!(
                            "TokenExpirationSeconds:\t{}\n",
                            t.expiration_seconds.unwrap_or(3600)
                        ),
                    );
                }
            }
        } else if let Some(d) = &v.downward_api {
            w.line(
                2,
                "Type:\tDownwardAPI (a volume populated by information about the pod)\n    Items:\n",
            );
            for item in &d.items {
                if let Some(f) = &item.field_ref {
                    w.line(3, &format!("{} -> {}\n", f.field_path, item.path));
                }
                if let Some(r) = &item.resource_field_ref {
                    w.line(3, &format!("{} -> {}\n", r.resource, item.path));
                }
            }
        } else {
            w.line(1, "<unknown>\n");
        }
    }
}

/// describe.go `DescribePodTemplate`.
fn describe_pod_template(w: &mut Describer, template: &PodTemplateSpec) {
    w.line(0, "Pod Template:\n");
    labels_multiline(w, "  Labels", &template.metadata.labels);
    if !template.metadata.annotations.is_empty() {
        annotations_multiline(w, "  Annotations", &template.metadata.annotations);
    }
    let spec = &template.spec;
    if !spec.service_account_name.is_empty() {
        w.line(
            1,
            &format!("Service Account:\t{}\n", spec.service_account_name),
        );
    }
    if !spec.init_containers.is_empty() {
        describe_containers(
            w,
            "Init Containers",
            &spec.init_containers,
            None,
            None,
            "  ",
        );
    }
    describe_containers(w, "Containers", &spec.containers, None, None, "  ");
    describe_volumes(w, &spec.volumes, "  ");
    if !spec.priority_class_name.is_empty() {
        w.line(
            1,
            &format!("Priority Class Name:\t{}\n", spec.priority_class_name),
        );
    }
    labels_multiline(w, "  Node-Selectors", &spec.node_selector);
    tolerations_multiline(w, "  Tolerations", &spec.tolerations);
}

fn template_without_hash(t: &PodTemplateSpec) -> PodTemplateSpec {
    let mut t = t.clone();
    t.metadata.labels.remove(POD_TEMPLATE_HASH_LABEL);
    t
}

fn describe_deployment(w: &mut Describer, store: &Store, d: &Deployment) {
    let meta = &d.metadata;
    w.line(0, &format!("Name:\t{}\n", meta.name));
    w.line(0, &format!("Namespace:\t{}\n", meta.namespace));
    w.line(
        0,
        &format!(
            "CreationTimestamp:\t{}\n",
            rfc1123z(meta.creation_timestamp)
        ),
    );
    labels_multiline(w, "Labels", &meta.labels);
    annotations_multiline(w, "Annotations", &meta.annotations);
    let selector = d
        .spec
        .selector
        .as_ref()
        .and_then(|s| s.to_selector().ok())
        .map(|s| s.to_string())
        .unwrap_or_default();
    w.line(0, &format!("Selector:\t{selector}\n"));
    let s = &d.status;
    let mut replicas = format!(
        "Replicas:\t{} desired | {} updated | {} total | {} available | {} unavailable",
        d.spec.replicas.unwrap_or(1),
        s.updated_replicas,
        s.replicas,
        s.available_replicas,
        s.unavailable_replicas
    );
    if let Some(t) = s.terminating_replicas {
        let _ = write!(replicas, " | {t} terminating");
    }
    replicas.push('\n');
    w.line(0, &replicas);
    let strategy = d.spec.strategy.type_.unwrap_or_default();
    w.line(0, &format!("StrategyType:\t{}\n", enum_str(&strategy)));
    w.line(
        0,
        &format!("MinReadySeconds:\t{}\n", d.spec.min_ready_seconds),
    );
    if let Some(ru) = &d.spec.strategy.rolling_update {
        let show = |v: &Option<IntOrString>| v.as_ref().map_or("<nil>".into(), |v| v.to_string());
        w.line(
            0,
            &format!(
                "RollingUpdateStrategy:\t{} max unavailable, {} max surge\n",
                show(&ru.max_unavailable),
                show(&ru.max_surge)
            ),
        );
    }
    describe_pod_template(w, &d.spec.template);
    if !s.conditions.is_empty() {
        w.line(0, "Conditions:\n  Type\tStatus\tReason\n");
        w.line(1, "----\t------\t------\n");
        for c in &s.conditions {
            w.line(
                1,
                &format!(
                    "{} \t{}\t{}\n",
                    enum_str(&c.type_),
                    enum_str(&c.status),
                    c.reason
                ),
            );
        }
    }
    // deployment util GetAllReplicaSets: the ReplicaSets this Deployment controls; the new one
    // is the oldest with the Deployment's template (ignoring pod-template-hash), old ones are
    // the others that still want pods (FindOldReplicaSets' required set).
    let mut owned: Vec<&ReplicaSet> = store
        .iter_namespace(Kind::ReplicaSet, &meta.namespace)
        .filter_map(|o| match o.as_ref() {
            Object::ReplicaSet(rs) => Some(&**rs),
            _ => None,
        })
        .filter(|rs| {
            rs.metadata
                .controller_ref()
                .is_some_and(|r| r.uid == meta.uid && r.kind == "Deployment")
        })
        .collect();
    owned.sort_by(|a, b| {
        a.metadata
            .creation_timestamp
            .cmp(&b.metadata.creation_timestamp)
            .then_with(|| a.metadata.name.cmp(&b.metadata.name))
    });
    if !owned.is_empty() {
        let wanted = template_without_hash(&d.spec.template);
        let new_rs = owned
            .iter()
            .position(|rs| template_without_hash(&rs.spec.template) == wanted);
        let format_rs = |rs: &ReplicaSet| {
            format!(
                "{} ({}/{} replicas created)",
                rs.metadata.name,
                rs.status.replicas,
                rs.spec.replicas.unwrap_or(1)
            )
        };
        let old: Vec<String> = owned
            .iter()
            .enumerate()
            .filter(|(i, rs)| Some(*i) != new_rs && rs.spec.replicas.unwrap_or(1) != 0)
            .map(|(_, rs)| format_rs(rs))
            .collect();
        w.line(
            0,
            &format!("OldReplicaSets:\t{}\n", or_none(&old.join(", "))),
        );
        let new = new_rs.map(|i| format_rs(owned[i])).unwrap_or_default();
        w.line(0, &format!("NewReplicaSet:\t{}\n", or_none(&new)));
    }
}

/// describe.go `formatEndpointSlices`: `ip:port` for the service port named `port_name`, three
/// at most.
fn format_endpoints(slices: &[&EndpointSlice], port_name: &str) -> String {
    const MAX: usize = 3;
    if slices.is_empty() {
        return "<none>".into();
    }
    let mut list = Vec::new();
    let mut count = 0usize;
    for slice in slices {
        if slice.ports.is_empty() {
            for e in &slice.endpoints {
                if list.len() < MAX {
                    list.push(e.addresses.first().cloned().unwrap_or_default());
                }
                count += 1;
            }
            continue;
        }
        for p in &slice.ports {
            if p.name.as_deref().unwrap_or("") != port_name {
                continue;
            }
            for e in &slice.endpoints {
                if list.len() < MAX {
                    let addr = e.addresses.first().cloned().unwrap_or_default();
                    let port = p.port.map(|p| p.to_string()).unwrap_or_default();
                    list.push(if addr.contains(':') {
                        format!("[{addr}]:{port}")
                    } else {
                        format!("{addr}:{port}")
                    });
                }
                count += 1;
            }
        }
    }
    let joined = list.join(",");
    if count > MAX {
        format!("{joined} + {} more...", count - MAX)
    } else {
        joined
    }
}

fn describe_service(w: &mut Describer, store: &Store, svc: &Service) {
    let meta = &svc.metadata;
    w.line(0, &format!("Name:\t{}\n", meta.name));
    w.line(0, &format!("Namespace:\t{}\n", meta.namespace));
    labels_multiline(w, "Labels", &meta.labels);
    annotations_multiline(w, "Annotations", &meta.annotations);
    w.line(
        0,
        &format!("Selector:\t{}\n", format_labels(&svc.spec.selector)),
    );
    w.line(0, &format!("Type:\t{}\n", svc.spec.r#type.as_str()));
    if let Some(p) = &svc.spec.ip_family_policy {
        w.line(0, &format!("IP Family Policy:\t{}\n", enum_str(p)));
    }
    let families: Vec<String> = svc
        .spec
        .ip_families
        .iter()
        .map(|f: &IpFamily| enum_str(f))
        .collect();
    w.line(
        0,
        &format!("IP Families:\t{}\n", or_none(&families.join(","))),
    );
    w.line(
        0,
        &format!("IP:\t{}\n", svc.spec.cluster_ip.clone().unwrap_or_default()),
    );
    if !svc.spec.cluster_ips.is_empty() {
        w.line(0, &format!("IPs:\t{}\n", svc.spec.cluster_ips.join(",")));
    }
    if !svc.spec.external_ips.is_empty() {
        w.line(
            0,
            &format!("External IPs:\t{}\n", svc.spec.external_ips.join(",")),
        );
    }
    if let Some(ip) = svc.spec.load_balancer_ip.as_ref().filter(|s| !s.is_empty()) {
        w.line(0, &format!("Desired LoadBalancer IP:\t{ip}\n"));
    }
    let ingress: Vec<String> = svc
        .status
        .load_balancer
        .ingress
        .iter()
        .filter_map(|i| i.ip.clone().or_else(|| i.hostname.clone()))
        .collect();
    if !ingress.is_empty() {
        w.line(
            0,
            &format!("LoadBalancer Ingress:\t{}\n", ingress.join(", ")),
        );
    }
    let slices: Vec<&EndpointSlice> = store
        .iter_namespace(Kind::EndpointSlice, &meta.namespace)
        .filter_map(|o| match o.as_ref() {
            Object::EndpointSlice(s) => Some(s),
            _ => None,
        })
        .filter(|s| s.service_name() == Some(meta.name.as_str()))
        .collect();
    for p in &svc.spec.ports {
        let port_name = p.name.clone().unwrap_or_default();
        let shown = if port_name.is_empty() {
            "<unset>".to_string()
        } else {
            port_name.clone()
        };
        let proto = p.protocol.as_str();
        w.line(0, &format!("Port:\t{shown}\t{}/{proto}\n", p.port));
        let target = p.target_port.clone().unwrap_or(IntOrString::Int(p.port));
        w.line(0, &format!("TargetPort:\t{target}/{proto}\n"));
        if let Some(np) = p.node_port.filter(|&np| np != 0) {
            w.line(0, &format!("NodePort:\t{shown}\t{np}/{proto}\n"));
        }
        w.line(
            0,
            &format!("Endpoints:\t{}\n", format_endpoints(&slices, &port_name)),
        );
    }
    w.line(
        0,
        &format!(
            "Session Affinity:\t{}\n",
            enum_str(&svc.spec.session_affinity)
        ),
    );
    if let Some(p) = &svc.spec.external_traffic_policy {
        w.line(0, &format!("External Traffic Policy:\t{}\n", enum_str(p)));
    }
    if let Some(p) = &svc.spec.internal_traffic_policy {
        w.line(0, &format!("Internal Traffic Policy:\t{}\n", enum_str(p)));
    }
    if let Some(port) = svc.spec.health_check_node_port.filter(|&p| p != 0) {
        w.line(0, &format!("HealthCheck NodePort:\t{port}\n"));
    }
    if !svc.spec.load_balancer_source_ranges.is_empty() {
        w.line(
            0,
            &format!(
                "LoadBalancer Source Ranges:\t{}\n",
                svc.spec.load_balancer_source_ranges.join(",")
            ),
        );
    }
}

/// Percent of `part` in `whole`, truncated as Go's `int64(float64)`; 0 when `whole` is 0.
fn percent(part: i64, whole: i64) -> i64 {
    if whole == 0 {
        0
    } else {
        (part as f64 / whole as f64 * 100.0) as i64
    }
}

fn describe_node(w: &mut Describer, store: &Store, node: &Node, now: Time) {
    let meta = &node.metadata;
    w.line(0, &format!("Name:\t{}\n", meta.name));
    let roles = node_roles(node);
    w.line(0, &format!("Roles:\t{}\n", or_none(&roles.join(","))));
    labels_multiline(w, "Labels", &meta.labels);
    annotations_multiline(w, "Annotations", &meta.annotations);
    w.line(
        0,
        &format!(
            "CreationTimestamp:\t{}\n",
            rfc1123z(meta.creation_timestamp)
        ),
    );
    // describe.go printTaintsMultilineWithIndent: sorted by effect, then key.
    w.line(0, "Taints:\t");
    let mut taints: Vec<_> = node.spec.taints.iter().collect();
    taints.sort_by(|a, b| {
        (a.effect.as_str(), a.key.as_str()).cmp(&(b.effect.as_str(), b.key.as_str()))
    });
    if taints.is_empty() {
        w.line(0, "<none>\n");
    }
    for (i, t) in taints.iter().enumerate() {
        if i > 0 {
            w.line(0, "\t");
        }
        w.line(0, &format!("{t}\n"));
    }
    w.line(0, &format!("Unschedulable:\t{}\n", node.spec.unschedulable));
    let st = &node.status;
    if !st.conditions.is_empty() {
        w.line(
            0,
            "Conditions:\n  Type\tStatus\tLastHeartbeatTime\tLastTransitionTime\tReason\tMessage\n",
        );
        w.line(
            1,
            "----\t------\t-----------------\t------------------\t------\t-------\n",
        );
        for c in &st.conditions {
            w.line(
                1,
                &format!(
                    "{} \t{} \t{} \t{} \t{} \t{}\n",
                    c.r#type,
                    enum_str(&c.status),
                    rfc1123z(c.last_heartbeat_time),
                    rfc1123z(c.last_transition_time),
                    c.reason,
                    c.message
                ),
            );
        }
    }
    w.line(0, "Addresses:\n");
    for a in &st.addresses {
        w.line(1, &format!("{}:\t{}\n", enum_str(&a.r#type), a.address));
    }
    for (title, list) in [("Capacity", &st.capacity), ("Allocatable", &st.allocatable)] {
        if !list.is_empty() {
            w.line(0, &format!("{title}:\n"));
            for (name, q) in list.iter() {
                w.line(0, &format!("  {name}:\t{q}\n"));
            }
        }
    }
    let info = st.node_info.clone().unwrap_or_default();
    w.line(0, "System Info:\n");
    for (title, value) in [
        ("Machine ID", &info.machine_id),
        ("System UUID", &info.system_uuid),
        ("Boot ID", &info.boot_id),
        ("Kernel Version", &info.kernel_version),
        ("OS Image", &info.os_image),
        ("Operating System", &info.operating_system),
        ("Architecture", &info.architecture),
        ("Container Runtime Version", &info.container_runtime_version),
        ("Kubelet Version", &info.kubelet_version),
    ] {
        w.line(0, &format!("  {title}:\t{value}\n"));
    }
    if !info.kube_proxy_version.is_empty() {
        w.line(
            0,
            &format!("  Kube-Proxy Version:\t{}\n", info.kube_proxy_version),
        );
    }
    if !node.spec.pod_cidr.is_empty() {
        w.line(0, &format!("PodCIDR:\t{}\n", node.spec.pod_cidr));
    }
    if !node.spec.pod_cidrs.is_empty() {
        w.line(
            0,
            &format!("PodCIDRs:\t{}\n", node.spec.pod_cidrs.join(",")),
        );
    }
    if !node.spec.provider_id.is_empty() {
        w.line(0, &format!("ProviderID:\t{}\n", node.spec.provider_id));
    }
    // describe.go describeNodeResource: the node's pods that are not Succeeded or Failed.
    let pods: Vec<&Pod> = store
        .iter_kind(Kind::Pod)
        .filter_map(|o| match o.as_ref() {
            Object::Pod(p) => Some(p),
            _ => None,
        })
        .filter(|p| p.spec.node_name == meta.name && !p.phase().is_terminal())
        .collect();
    let allocatable = if st.allocatable.is_empty() {
        &st.capacity
    } else {
        &st.allocatable
    };
    let alloc_milli = |r: &str| allocatable.get(r).map_or(0, Quantity::milli_value);
    let alloc_value = |r: &str| allocatable.get(r).map_or(0, Quantity::value);
    let q = |list: &ResourceList, r: &str| list.get(r).cloned().unwrap_or_default();
    w.line(
        0,
        &format!("Non-terminated Pods:\t({} in total)\n", pods.len()),
    );
    w.line(
        1,
        "Namespace\tName\t\tCPU Requests\tCPU Limits\tMemory Requests\tMemory Limits\tAge\n",
    );
    w.line(
        1,
        "---------\t----\t\t------------\t----------\t---------------\t-------------\t---\n",
    );
    let mut total_requests = ResourceList::new();
    let mut total_limits = ResourceList::new();
    for pod in &pods {
        let requests = pod_requests(&pod.spec);
        let limits = pod_limits(&pod.spec);
        let (cr, cl) = (q(&requests, "cpu"), q(&limits, "cpu"));
        let (mr, ml) = (q(&requests, "memory"), q(&limits, "memory"));
        w.line(
            1,
            &format!(
                "{}\t{}\t\t{cr} ({}%)\t{cl} ({}%)\t{mr} ({}%)\t{ml} ({}%)\t{}\n",
                pod.metadata.namespace,
                pod.metadata.name,
                percent(cr.milli_value(), alloc_milli("cpu")),
                percent(cl.milli_value(), alloc_milli("cpu")),
                percent(mr.value(), alloc_value("memory")),
                percent(ml.value(), alloc_value("memory")),
                age(pod.metadata.creation_timestamp, now)
            ),
        );
        total_requests = flotilla_model::quantity::add_resource_lists(&total_requests, &requests);
        total_limits = flotilla_model::quantity::add_resource_lists(&total_limits, &limits);
    }
    w.line(
        0,
        "Allocated resources:\n  (Total limits may be over 100 percent, i.e., overcommitted.)\n",
    );
    w.line(1, "Resource\tRequests\tLimits\n");
    w.line(1, "--------\t--------\t------\n");
    for resource in ["cpu", "memory", "ephemeral-storage"] {
        let (r, l) = (q(&total_requests, resource), q(&total_limits, resource));
        let (rp, lp) = if resource == "cpu" {
            (
                percent(r.milli_value(), alloc_milli(resource)),
                percent(l.milli_value(), alloc_milli(resource)),
            )
        } else {
            (
                percent(r.value(), alloc_value(resource)),
                percent(l.value(), alloc_value(resource)),
            )
        };
        w.line(1, &format!("{resource}\t{r} ({rp}%)\t{l} ({lp}%)\n"));
    }
    for resource in allocatable.keys() {
        if resource.starts_with("hugepages-") {
            let (r, l) = (q(&total_requests, resource), q(&total_limits, resource));
            w.line(
                1,
                &format!(
                    "{resource}\t{r} ({}%)\t{l} ({}%)\n",
                    percent(r.value(), alloc_value(resource)),
                    percent(l.value(), alloc_value(resource))
                ),
            );
        }
    }
    for resource in allocatable.keys() {
        let standard = matches!(
            resource.as_str(),
            "cpu" | "memory" | "ephemeral-storage" | "pods"
        ) || resource.starts_with("hugepages-");
        if !standard {
            let (r, l) = (q(&total_requests, resource), q(&total_limits, resource));
            w.line(1, &format!("{resource}\t{r}\t{l}\n"));
        }
    }
}

/// describe.go `describeSecret`: data as byte counts, never the values (kubectl has no events
/// section for Secrets).
fn describe_secret(w: &mut Describer, secret: &Secret) {
    let meta = &secret.metadata;
    w.line(0, &format!("Name:\t{}\n", meta.name));
    w.line(0, &format!("Namespace:\t{}\n", meta.namespace));
    labels_multiline(w, "Labels", &meta.labels);
    annotations_multiline(w, "Annotations", &meta.annotations);
    w.line(0, &format!("\nType:\t{}\n", secret.r#type.as_str()));
    w.line(0, "\nData\n====\n");
    for key in secret_keys(secret) {
        let len = secret.get(key).map_or(0, <[u8]>::len);
        w.line(0, &format!("{key}:\t{len} bytes\n"));
    }
}

/// describe.go `describeConfigMap`.
fn describe_config_map(w: &mut Describer, cm: &flotilla_model::api::ConfigMap) {
    let meta = &cm.metadata;
    w.line(0, &format!("Name:\t{}\n", meta.name));
    w.line(0, &format!("Namespace:\t{}\n", meta.namespace));
    labels_multiline(w, "Labels", &meta.labels);
    annotations_multiline(w, "Annotations", &meta.annotations);
    w.line(0, "\nData\n====\n");
    for (k, v) in &cm.data {
        w.line(0, &format!("{k}:\n----\n{v}\n\n"));
    }
    w.line(0, "\nBinaryData\n====\n");
    for (k, v) in &cm.binary_data {
        w.line(0, &format!("{k}: {} bytes\n", v.len()));
    }
    w.line(0, "\n");
}

/// The generic describer for kinds without a layout of their own: the metadata kubectl shows
/// for every object, then the rest of the object as YAML.
fn describe_generic(w: &mut Describer, object: &Object) {
    let meta = object.metadata();
    let kind = object.kind();
    w.line(0, &format!("Name:\t{}\n", meta.name));
    if kind.namespaced() {
        w.line(0, &format!("Namespace:\t{}\n", meta.namespace));
    }
    labels_multiline(w, "Labels", &meta.labels);
    annotations_multiline(w, "Annotations", &meta.annotations);
    w.line(0, &format!("API Version:\t{}\n", kind.api_version()));
    w.line(0, &format!("Kind:\t{}\n", kind.name()));
    let mut value = object.to_value();
    if let Value::Object(map) = &mut value {
        map.remove("apiVersion");
        map.remove("kind");
        map.remove("metadata");
        if kind == Kind::Secret {
            // Never print secret values (the Secret describer normally runs instead).
            map.remove("data");
            map.remove("stringData");
        }
        if !map.is_empty() {
            w.raw(&to_yaml(&value));
        }
    }
}

/// describe.go `DescribeEvents`, with identical events (same type, reason, source and message)
/// counted as the API server's event aggregation would: `Age` is `last (xN over first)`.
fn describe_events(w: &mut Describer, events: &[&Event], now: Time) {
    if events.is_empty() {
        w.line(0, "Events:\t<none>\n");
        return;
    }
    struct Series<'a> {
        event: &'a Event,
        first: Time,
        last: Time,
        count: usize,
    }
    let mut series: Vec<Series<'_>> = Vec::new();
    for e in events {
        match series.iter_mut().find(|s| {
            s.event.event_type == e.event_type
                && s.event.reason == e.reason
                && s.event.source == e.source
                && s.event.message == e.message
        }) {
            Some(s) => {
                s.count += 1;
                s.first = s.first.min(e.time);
                s.last = s.last.max(e.time);
            }
            None => series.push(Series {
                event: e,
                first: e.time,
                last: e.time,
                count: 1,
            }),
        }
    }
    // event.SortableEvents: by last timestamp.
    series.sort_by_key(|s| s.last);
    w.flush();
    w.line(0, "Events:\n  Type\tReason\tAge\tFrom\tMessage\n");
    w.line(1, "----\t------\t----\t----\t-------\n");
    for s in series {
        let interval = if s.count > 1 {
            format!(
                "{} (x{} over {})",
                age(Some(s.last), now),
                s.count,
                age(Some(s.first), now)
            )
        } else {
            age(Some(s.first), now)
        };
        w.line(
            1,
            &format!(
                "{}\t{}\t{interval}\t{}\t{}\n",
                s.event.event_type.as_str(),
                s.event.reason,
                s.event.source,
                s.event.message.trim()
            ),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use flotilla_controllers::controller::EventType;
    use flotilla_model::api::PodPhase;
    use flotilla_model::manifest;
    use flotilla_model::store::StoreConfig;

    const T0: u64 = 1_700_000_000; // Tue, 14 Nov 2023 22:13:20 +0000

    fn t(secs_after: u64) -> Time {
        Time::from_secs(T0 + secs_after)
    }

    fn objects(yaml: &str) -> Vec<Object> {
        manifest::parse_str("test.yaml", yaml)
            .unwrap()
            .objects
            .into_iter()
            .map(|m| m.object)
            .collect()
    }

    /// A bootstrapped store holding the objects of `yaml`, created at `at`, with the statuses
    /// the YAML gives them written back (create clears them, as the API server does).
    fn store_with(yaml: &str, at: Time) -> Store {
        let mut store = Store::new(StoreConfig::default());
        add(&mut store, yaml, at);
        store
    }

    fn add(store: &mut Store, yaml: &str, at: Time) {
        for object in objects(yaml) {
            let created = store.create(object.clone(), at).unwrap();
            if object.kind().has_status() && object.kind() != Kind::Node {
                let mut with_status = object;
                *with_status.metadata_mut() = created.metadata().clone();
                store.update_status(with_status, at).unwrap();
            }
        }
    }

    fn pod(yaml: &str) -> Pod {
        match objects(yaml).remove(0) {
            Object::Pod(p) => p,
            other => panic!("not a pod: {other:?}"),
        }
    }

    #[test]
    fn human_duration_follows_apimachinery() {
        let s = |secs: i128| human_duration(secs * 1_000_000_000);
        assert_eq!(human_duration(-2_000_000_000), "<invalid>");
        assert_eq!(human_duration(-1_500_000_000), "0s");
        assert_eq!(s(0), "0s");
        assert_eq!(s(5), "5s");
        assert_eq!(s(119), "119s");
        assert_eq!(s(120), "2m");
        assert_eq!(s(182), "3m2s");
        assert_eq!(s(599), "9m59s");
        assert_eq!(s(600), "10m");
        assert_eq!(s(3 * 3600 - 1), "179m");
        assert_eq!(s(3 * 3600), "3h");
        assert_eq!(s(5 * 3600 + 7 * 60 + 59), "5h7m");
        assert_eq!(s(8 * 3600), "8h");
        assert_eq!(s(47 * 3600 + 3599), "47h");
        assert_eq!(s(51 * 3600), "2d3h");
        assert_eq!(s(3 * 86_400), "3d");
        assert_eq!(s(8 * 86_400), "8d");
        assert_eq!(s(729 * 86_400), "729d");
        assert_eq!(s(3 * 365 * 86_400 + 20 * 86_400), "3y20d");
        assert_eq!(s(4 * 365 * 86_400), "4y");
        assert_eq!(s(9 * 365 * 86_400 + 100 * 86_400), "9y");
        assert_eq!(age(None, t(0)), "<unknown>");
        assert_eq!(age(Some(t(0)), t(90)), "90s");
    }

    #[test]
    fn rfc1123z_matches_go() {
        assert_eq!(rfc1123z(Some(t(0))), "Tue, 14 Nov 2023 22:13:20 +0000");
        assert_eq!(
            rfc1123z(Some(Time::ZERO)),
            "Thu, 01 Jan 1970 00:00:00 +0000"
        );
        assert_eq!(rfc1123z(None), "Mon, 01 Jan 0001 00:00:00 +0000");
    }

    #[test]
    fn tab_alignment_follows_text_tabwriter() {
        // Table settings: min width 6, padding 3; the last cell is never padded.
        assert_eq!(
            align_tabs("NAME\tAGE\na\t5s\nlonger-name\t10m\n", 6, 3),
            "NAME          AGE\na             5s\nlonger-name   10m\n"
        );
        assert_eq!(align_tabs("A\tB\nx\ty\n", 6, 3), "A     B\nx     y\n");
        // Describe settings: a line without a tab ends the column block.
        assert_eq!(
            align_tabs(
                "Name:\tx\nNamespace:\tdefault\nIPs:\n  IP:\t1.2.3.4\nAfter:\ty\n",
                0,
                2
            ),
            "Name:       x\nNamespace:  default\nIPs:\n  IP:   1.2.3.4\nAfter:  y\n"
        );
        // Nested columns: a second column is aligned only across the lines that have it.
        assert_eq!(
            align_tabs("a\tbb\tc\naaa\tb\tc\nx\ty\n", 0, 1),
            "a   bb c\naaa b  c\nx   y\n"
        );
        assert_eq!(align_tabs("no tabs\n", 6, 3), "no tabs\n");
        assert_eq!(align_tabs("π\tx\nab\ty\n", 0, 1), "π  x\nab y\n");
    }

    #[test]
    fn resolves_resource_names_as_kubectl() {
        for (name, kind) in [
            ("pods", Kind::Pod),
            ("pod", Kind::Pod),
            ("po", Kind::Pod),
            ("Pod", Kind::Pod),
            ("deploy", Kind::Deployment),
            ("deployments.apps", Kind::Deployment),
            ("deployment.apps", Kind::Deployment),
            ("deployments.v1.apps", Kind::Deployment),
            ("svc", Kind::Service),
            ("rs", Kind::ReplicaSet),
            ("ns", Kind::Namespace),
            ("no", Kind::Node),
            ("cm", Kind::ConfigMap),
            ("hpa", Kind::HorizontalPodAutoscaler),
            ("pvc", Kind::PersistentVolumeClaim),
            ("endpointslices.discovery.k8s.io", Kind::EndpointSlice),
            ("jobs.batch", Kind::Job),
            ("pods.v1", Kind::Pod),
        ] {
            assert_eq!(resolve_resource(name), Ok(kind), "{name}");
        }
        for bad in ["foo", "pods.apps", "deployments.batch", "deploy.v2.apps"] {
            assert_eq!(
                resolve_resource(bad),
                Err(PrintError::UnknownResource(bad.into())),
                "{bad}"
            );
        }
        assert_eq!(
            resolve_resource("foo").unwrap_err().to_string(),
            "error: the server doesn't have a resource type \"foo\""
        );
    }

    #[test]
    fn output_formats_parse() {
        assert_eq!(OutputFormat::parse(""), Ok(OutputFormat::Table));
        assert_eq!("wide".parse::<OutputFormat>(), Ok(OutputFormat::Wide));
        assert_eq!(OutputFormat::parse("yaml"), Ok(OutputFormat::Yaml));
        assert_eq!(OutputFormat::parse("json"), Ok(OutputFormat::Json));
        assert_eq!(OutputFormat::parse("name"), Ok(OutputFormat::Name));
        assert_eq!(
            OutputFormat::parse("xml").unwrap_err().to_string(),
            "error: unable to match a printer suitable for the output format \"xml\", allowed formats are: json,name,wide,yaml"
        );
    }

    const POD_HEAD: &str = "apiVersion: v1\nkind: Pod\nmetadata: {name: p, namespace: default}\n";

    fn status_of(spec_and_status: &str) -> PodSummary {
        pod_summary(&pod(&format!("{POD_HEAD}{spec_and_status}")), t(600))
    }

    #[test]
    fn pod_status_column_covers_kubectl_branches() {
        let one = "spec:\n  containers: [{name: app, image: busybox}]\n";
        // No status yet: the phase.
        let s = status_of(&format!("{one}status: {{phase: Pending}}\n"));
        assert_eq!(
            (s.ready.as_str(), s.status.as_str(), s.restarts.as_str()),
            ("0/1", "Pending", "0")
        );
        // A waiting container's reason.
        let s = status_of(&format!(
            "{one}status:\n  phase: Pending\n  containerStatuses:\n  - name: app\n    state: {{waiting: {{reason: ContainerCreating}}}}\n"
        ));
        assert_eq!(s.status, "ContainerCreating");
        // Running and ready.
        let s = status_of(&format!(
            "{one}status:\n  phase: Running\n  containerStatuses:\n  - name: app\n    ready: true\n    state: {{running: {{startedAt: '2023-11-14T22:13:25Z'}}}}\n"
        ));
        assert_eq!((s.ready.as_str(), s.status.as_str()), ("1/1", "Running"));
        // Crash looping, with the age of the last restart.
        let s = status_of(&format!(
            "{one}status:\n  phase: Running\n  containerStatuses:\n  - name: app\n    restartCount: 4\n    state: {{waiting: {{reason: CrashLoopBackOff}}}}\n    lastState: {{terminated: {{exitCode: 1, reason: Error, finishedAt: '2023-11-14T22:22:40Z'}}}}\n"
        ));
        assert_eq!(
            (s.ready.as_str(), s.status.as_str(), s.restarts.as_str()),
            ("0/1", "CrashLoopBackOff", "4 (40s ago)")
        );
        // Terminated: the reason, else the exit code or signal.
        for (state, want) in [
            (
                "{terminated: {exitCode: 0, reason: Completed}}",
                "Completed",
            ),
            ("{terminated: {exitCode: 1, reason: Error}}", "Error"),
            ("{terminated: {exitCode: 3}}", "ExitCode:3"),
            ("{terminated: {exitCode: 137, signal: 9}}", "Signal:9"),
        ] {
            let s = status_of(&format!(
                "{one}status:\n  phase: Succeeded\n  containerStatuses:\n  - name: app\n    state: {state}\n"
            ));
            assert_eq!(s.status, want, "{state}");
        }
        // Completed while another container still runs: Running if the pod is Ready.
        let two = "spec:\n  containers: [{name: a, image: x}, {name: b, image: x}]\n";
        let both = |ready: &str| {
            format!(
                "{two}status:\n  phase: Running\n  conditions: [{{type: Ready, status: '{ready}'}}]\n  containerStatuses:\n  - name: a\n    ready: true\n    state: {{running: {{}}}}\n  - name: b\n    state: {{terminated: {{exitCode: 0, reason: Completed}}}}\n"
            )
        };
        assert_eq!(status_of(&both("True")).status, "Running");
        assert_eq!(status_of(&both("False")).status, "NotReady");
        assert_eq!(status_of(&both("False")).ready, "1/2");
    }

    #[test]
    fn pod_status_column_reports_init_containers() {
        let spec = "spec:\n  initContainers: [{name: init, image: x}]\n  containers: [{name: app, image: x}]\n";
        let init = |state: &str| {
            status_of(&format!(
                "{spec}status:\n  phase: Pending\n  initContainerStatuses:\n  - name: init\n    state: {state}\n  containerStatuses:\n  - name: app\n    state: {{waiting: {{reason: PodInitializing}}}}\n"
            ))
            .status
        };
        assert_eq!(init("{running: {}}"), "Init:0/1");
        assert_eq!(init("{waiting: {reason: PodInitializing}}"), "Init:0/1");
        assert_eq!(
            init("{waiting: {reason: CrashLoopBackOff}}"),
            "Init:CrashLoopBackOff"
        );
        assert_eq!(
            init("{terminated: {exitCode: 1, reason: Error}}"),
            "Init:Error"
        );
        assert_eq!(init("{terminated: {exitCode: 2}}"), "Init:ExitCode:2");
        assert_eq!(
            init("{terminated: {exitCode: 2, signal: 15}}"),
            "Init:Signal:15"
        );
        // Init done: the app container's state decides.
        assert_eq!(
            init("{terminated: {exitCode: 0, reason: Completed}}"),
            "PodInitializing"
        );
        // A started sidecar (restartable init container) counts in READY and does not block.
        let sidecar = status_of(
            "spec:\n  initContainers: [{name: proxy, image: x, restartPolicy: Always}]\n  containers: [{name: app, image: x}]\nstatus:\n  phase: Running\n  conditions: [{type: Initialized, status: 'True'}]\n  initContainerStatuses:\n  - {name: proxy, started: true, ready: true, restartCount: 2, state: {running: {}}}\n  containerStatuses:\n  - {name: app, ready: true, restartCount: 5, state: {running: {}}}\n",
        );
        assert_eq!(
            (
                sidecar.ready.as_str(),
                sidecar.status.as_str(),
                sidecar.restarts.as_str()
            ),
            ("2/2", "Running", "7")
        );
    }

    #[test]
    fn pod_status_column_reports_deletion_and_gates() {
        let one = "spec:\n  containers: [{name: app, image: x}]\n";
        let mut p = pod(&format!("{POD_HEAD}{one}status: {{phase: Running}}\n"));
        p.metadata.deletion_timestamp = Some(t(1));
        assert_eq!(pod_summary(&p, t(5)).status, "Terminating");
        p.status.reason = "NodeLost".into();
        assert_eq!(pod_summary(&p, t(5)).status, "Unknown");
        p.status.reason.clear();
        p.status.phase = Some(PodPhase::Succeeded);
        assert_eq!(pod_summary(&p, t(5)).status, "Succeeded");
        let gated = status_of(&format!(
            "{one}status:\n  phase: Pending\n  conditions: [{{type: PodScheduled, status: 'False', reason: SchedulingGated}}]\n"
        ));
        assert_eq!(gated.status, "SchedulingGated");
        let evicted = status_of(&format!(
            "{one}status: {{phase: Failed, reason: Evicted}}\n"
        ));
        assert_eq!(evicted.status, "Evicted");
    }

    const PODS: &str = r#"
apiVersion: v1
kind: Pod
metadata: {name: web-1, namespace: default, labels: {app: web, tier: front}}
spec:
  nodeName: node-1
  containers: [{name: web, image: nginx}]
status:
  phase: Running
  podIP: 10.244.0.5
  podIPs: [{ip: 10.244.0.5}]
  containerStatuses:
  - {name: web, ready: true, state: {running: {}}}
---
apiVersion: v1
kind: Pod
metadata: {name: web-2, namespace: default, labels: {app: web, tier: db}}
spec:
  containers: [{name: web, image: nginx}]
status: {phase: Pending}
---
apiVersion: v1
kind: Pod
metadata: {name: worker, namespace: kube-system, labels: {app: worker}}
spec:
  containers: [{name: w, image: busybox}]
status: {phase: Pending}
"#;

    fn names(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn get_pods_prints_kubectl_tables() {
        let store = store_with(PODS, t(0));
        let now = t(185);
        let out = get(
            &store,
            Kind::Pod,
            Some("default"),
            &[],
            None,
            OutputFormat::Table,
            now,
        )
        .unwrap();
        assert_eq!(
            out.stdout,
            "NAME    READY   STATUS    RESTARTS   AGE\n\
             web-1   1/1     Running   0          3m5s\n\
             web-2   0/1     Pending   0          3m5s\n"
        );
        assert_eq!((out.stderr.as_str(), out.failed), ("", false));
        let wide = get(
            &store,
            Kind::Pod,
            Some("default"),
            &[],
            None,
            OutputFormat::Wide,
            now,
        )
        .unwrap();
        assert_eq!(
            wide.stdout,
            "NAME    READY   STATUS    RESTARTS   AGE    IP           NODE     NOMINATED NODE   READINESS GATES\n\
             web-1   1/1     Running   0          3m5s   10.244.0.5   node-1   <none>           <none>\n\
             web-2   0/1     Pending   0          3m5s   <none>       <none>   <none>           <none>\n"
        );
        let all = get(&store, Kind::Pod, None, &[], None, OutputFormat::Table, now).unwrap();
        assert_eq!(
            all.stdout,
            "NAMESPACE     NAME     READY   STATUS    RESTARTS   AGE\n\
             default       web-1    1/1     Running   0          3m5s\n\
             default       web-2    0/1     Pending   0          3m5s\n\
             kube-system   worker   0/1     Pending   0          3m5s\n"
        );
    }

    #[test]
    fn get_filters_by_label_selector() {
        let store = store_with(PODS, t(0));
        let names_of = |selector: &str| {
            get(
                &store,
                Kind::Pod,
                None,
                &[],
                Some(selector),
                OutputFormat::Name,
                t(1),
            )
            .unwrap()
            .stdout
        };
        assert_eq!(names_of("app=web,tier!=db"), "pod/web-1\n");
        assert_eq!(
            names_of("app in (web,worker)"),
            "pod/web-1\npod/web-2\npod/worker\n"
        );
        assert_eq!(names_of("tier"), "pod/web-1\npod/web-2\n");
        assert_eq!(names_of("!tier"), "pod/worker\n");
        let err = get(
            &store,
            Kind::Pod,
            None,
            &[],
            Some("app in web"),
            OutputFormat::Name,
            t(1),
        )
        .unwrap_err();
        assert!(matches!(err, PrintError::InvalidSelector { .. }), "{err:?}");
        let none = get(
            &store,
            Kind::Pod,
            Some("default"),
            &[],
            Some("app=nope"),
            OutputFormat::Table,
            t(1),
        )
        .unwrap();
        assert_eq!(none.stdout, "");
        assert_eq!(none.stderr, "No resources found in default namespace.\n");
        assert!(!none.failed);
    }

    #[test]
    fn get_by_name_reports_missing_objects() {
        let store = store_with(PODS, t(0));
        let out = get(
            &store,
            Kind::Pod,
            Some("default"),
            &names(&["web-1", "nope"]),
            None,
            OutputFormat::Name,
            t(1),
        )
        .unwrap();
        assert_eq!(out.stdout, "pod/web-1\n");
        assert_eq!(
            out.stderr,
            "Error from server (NotFound): pods \"nope\" not found\n"
        );
        assert!(out.failed);
        let out = get(
            &store,
            Kind::Deployment,
            Some("default"),
            &names(&["x"]),
            None,
            OutputFormat::Yaml,
            t(1),
        )
        .unwrap();
        assert_eq!(out.stdout, "");
        assert_eq!(
            out.stderr,
            "Error from server (NotFound): deployments.apps \"x\" not found\n"
        );
        assert_eq!(
            get(
                &store,
                Kind::Pod,
                None,
                &names(&["web-1"]),
                None,
                OutputFormat::Table,
                t(1)
            ),
            Err(PrintError::NamesAcrossNamespaces)
        );
        assert_eq!(
            get(
                &store,
                Kind::Pod,
                Some("default"),
                &names(&["web-1"]),
                Some("a=b"),
                OutputFormat::Table,
                t(1)
            ),
            Err(PrintError::NamesWithSelector)
        );
        let empty = get(
            &store,
            Kind::Deployment,
            None,
            &[],
            None,
            OutputFormat::Table,
            t(1),
        )
        .unwrap();
        assert_eq!(empty.stderr, "No resources found\n");
        let cluster = get(
            &store,
            Kind::PersistentVolume,
            Some("default"),
            &[],
            None,
            OutputFormat::Table,
            t(1),
        )
        .unwrap();
        assert_eq!(cluster.stderr, "No resources found\n");
    }

    #[test]
    fn get_cluster_scoped_kinds_ignore_the_namespace() {
        let store = store_with("", t(0));
        let three_days = Time::from_secs(3 * 86_400 + 7200);
        let out = get(
            &store,
            Kind::Namespace,
            Some("default"),
            &[],
            None,
            OutputFormat::Table,
            three_days,
        )
        .unwrap();
        assert_eq!(
            out.stdout,
            "NAME              STATUS   AGE\n\
             default           Active   3d2h\n\
             kube-node-lease   Active   3d2h\n\
             kube-public       Active   3d2h\n\
             kube-system       Active   3d2h\n"
        );
        let pcs = get(
            &store,
            Kind::PriorityClass,
            None,
            &[],
            None,
            OutputFormat::Table,
            Time::from_secs(60),
        )
        .unwrap();
        assert_eq!(
            pcs.stdout,
            "NAME                      VALUE        GLOBAL-DEFAULT   AGE   PREEMPTIONPOLICY\n\
             system-cluster-critical   2000000000   false            60s   PreemptLowerPriority\n\
             system-node-critical      2000001000   false            60s   PreemptLowerPriority\n"
        );
    }

    const APP: &str = r#"
apiVersion: apps/v1
kind: Deployment
metadata: {name: web, namespace: default, uid: d-uid}
spec:
  replicas: 3
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      containers:
      - name: web
        image: nginx:1.27
        ports: [{containerPort: 80}]
        resources: {limits: {cpu: 500m, memory: 128Mi}}
        readinessProbe: {httpGet: {path: /healthz, port: 8080}}
      - {name: log, image: busybox}
status:
  replicas: 3
  updatedReplicas: 3
  readyReplicas: 2
  availableReplicas: 2
  unavailableReplicas: 1
  conditions:
  - {type: Available, status: 'True', reason: MinimumReplicasAvailable}
  - {type: Progressing, status: 'True', reason: NewReplicaSetAvailable}
---
apiVersion: v1
kind: Service
metadata: {name: web, namespace: default}
spec:
  selector: {app: web}
  ports: [{port: 80, targetPort: 8080}]
---
apiVersion: v1
kind: Service
metadata: {name: edge, namespace: default}
spec:
  type: NodePort
  selector: {app: web}
  ports: [{name: http, port: 80, targetPort: http, nodePort: 30080}, {name: dns, port: 53, protocol: UDP}]
---
apiVersion: v1
kind: Node
metadata:
  name: node-1
  labels: {kubernetes.io/hostname: node-1, node-role.kubernetes.io/control-plane: ""}
spec:
  taints: [{key: node-role.kubernetes.io/control-plane, effect: NoSchedule}]
status:
  capacity: {cpu: "4", memory: 8Gi, pods: "110"}
  allocatable: {cpu: "4", memory: 8Gi, pods: "110"}
  conditions: [{type: Ready, status: 'True', reason: KubeletReady, message: kubelet is posting ready status}]
  addresses: [{type: InternalIP, address: 192.168.1.10}, {type: Hostname, address: node-1}]
  nodeInfo: {kubeletVersion: v1.34.0-flotilla, osImage: Debian GNU/Linux 12, kernelVersion: 6.1.0, containerRuntimeVersion: flotilla://0.1.0, operatingSystem: linux, architecture: amd64}
"#;

    fn table_of(store: &Store, kind: Kind, format: OutputFormat, now: Time) -> String {
        let out = get(store, kind, Some("default"), &[], None, format, now).unwrap();
        assert_eq!(out.stderr, "");
        out.stdout
    }

    #[test]
    fn get_prints_workload_service_and_node_columns() {
        let store = store_with(APP, t(0));
        let now = t(2 * 3600 + 61);
        assert_eq!(
            table_of(&store, Kind::Deployment, OutputFormat::Table, now),
            "NAME   READY   UP-TO-DATE   AVAILABLE   AGE\n\
             web    2/3     3            2           121m\n"
        );
        assert_eq!(
            table_of(&store, Kind::Deployment, OutputFormat::Wide, now),
            "NAME   READY   UP-TO-DATE   AVAILABLE   AGE    CONTAINERS   IMAGES               SELECTOR\n\
             web    2/3     3            2           121m   web,log      nginx:1.27,busybox   app=web\n"
        );
        assert_eq!(
            table_of(&store, Kind::Service, OutputFormat::Wide, now),
            "NAME   TYPE        CLUSTER-IP      EXTERNAL-IP   PORT(S)                     AGE    SELECTOR\n\
             edge   NodePort    10.96.73.1      <none>        80:30080/TCP,53:30888/UDP   121m   app=web\n\
             web    ClusterIP   10.99.237.141   <none>        80/TCP                      121m   app=web\n"
        );
        let nodes = get(&store, Kind::Node, None, &[], None, OutputFormat::Wide, now)
            .unwrap()
            .stdout;
        assert_eq!(
            nodes,
            "NAME     STATUS   ROLES           AGE    VERSION            INTERNAL-IP    EXTERNAL-IP   OS-IMAGE              KERNEL-VERSION   CONTAINER-RUNTIME\n\
             node-1   Ready    control-plane   121m   v1.34.0-flotilla   192.168.1.10   <none>        Debian GNU/Linux 12   6.1.0            flotilla://0.1.0\n"
        );
    }

    #[test]
    fn yaml_quotes_like_go_yaml() {
        let value = serde_json::json!({
            "b": {"z": "1", "y": "true", "x": "", "w": "2023-11-14T22:13:20Z", "v": "plain text",
                  "u": "a: b", "t": "- x", "s": "-c", "r": "it's", "q": "#x", "p": "1.5", "o": "0x1F",
                  "n": "on", "m": "10:30", "l": "multi\nline\n", "k": "no-newline\nend", "j": "tab\there",
                  "i": "100m", "h": "v1.34", "g": "10.96.0.1", "f": "node-role.kubernetes.io/control-plane"},
            "a": [{"name": "x", "ports": [{"port": 80}]}, "s", [], {}],
            "c": null, "d": true, "e": 3, "ee": 0.5,
            "f": [[1, 2]],
        });
        assert_eq!(
            to_yaml(&value),
            "a:\n\
             - name: x\n  ports:\n  - port: 80\n\
             - s\n- []\n- {}\n\
             b:\n  \
               f: node-role.kubernetes.io/control-plane\n  \
               g: 10.96.0.1\n  \
               h: v1.34\n  \
               i: 100m\n  \
               j: \"tab\\there\"\n  \
               k: |-\n    no-newline\n    end\n  \
               l: |\n    multi\n    line\n  \
               m: \"10:30\"\n  \
               \"n\": \"on\"\n  \
               o: \"0x1F\"\n  \
               p: \"1.5\"\n  \
               q: '#x'\n  \
               r: it's\n  \
               s: -c\n  \
               t: '- x'\n  \
               u: 'a: b'\n  \
               v: plain text\n  \
               w: \"2023-11-14T22:13:20Z\"\n  \
               x: \"\"\n  \
               \"y\": \"true\"\n  \
               z: \"1\"\n\
             c: null\nd: true\ne: 3\nee: 0.5\n\
             f:\n- - 1\n  - 2\n"
        );
    }

    #[test]
    fn yaml_folds_long_plain_strings_at_80_columns() {
        let message = "0/3 nodes are available: 3 Insufficient cpu. preemption: 0/3 nodes are available: 3 No preemption victims found for incoming pod.";
        let value = serde_json::json!({"status": {"conditions": [{"message": message}]}});
        assert_eq!(
            to_yaml(&value),
            "status:\n  conditions:\n  - message: '0/3 nodes are available: 3 Insufficient cpu. preemption: 0/3 nodes are\n      available: 3 No preemption victims found for incoming pod.'\n"
        );
    }

    #[test]
    fn get_prints_objects_as_yaml_json_and_lists() {
        let store = store_with(
            "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: cfg, namespace: default}\ndata: {port: \"8080\", mode: fast}\n",
            t(0),
        );
        let one = get(
            &store,
            Kind::ConfigMap,
            Some("default"),
            &names(&["cfg"]),
            None,
            OutputFormat::Yaml,
            t(5),
        )
        .unwrap();
        let uid = store
            .get(Kind::ConfigMap, "default", "cfg")
            .unwrap()
            .metadata()
            .uid
            .clone();
        let rv = store
            .get(Kind::ConfigMap, "default", "cfg")
            .unwrap()
            .metadata()
            .resource_version
            .clone();
        assert_eq!(
            one.stdout,
            format!(
                "apiVersion: v1\ndata:\n  mode: fast\n  port: \"8080\"\nkind: ConfigMap\nmetadata:\n  creationTimestamp: \"2023-11-14T22:13:20Z\"\n  generation: 1\n  name: cfg\n  namespace: default\n  resourceVersion: \"{rv}\"\n  uid: {uid}\n"
            )
        );
        let list = get(
            &store,
            Kind::ConfigMap,
            Some("default"),
            &[],
            None,
            OutputFormat::Yaml,
            t(5),
        )
        .unwrap();
        assert!(
            list.stdout
                .starts_with("apiVersion: v1\nitems:\n- apiVersion: v1\n  data:\n"),
            "{}",
            list.stdout
        );
        assert!(
            list.stdout
                .ends_with("kind: List\nmetadata:\n  resourceVersion: \"\"\n"),
            "{}",
            list.stdout
        );
        let json = get(
            &store,
            Kind::ConfigMap,
            Some("default"),
            &[],
            None,
            OutputFormat::Json,
            t(5),
        )
        .unwrap();
        let parsed: Value = serde_json::from_str(&json.stdout).unwrap();
        assert_eq!(parsed["kind"], "List");
        assert_eq!(parsed["items"][0]["data"]["port"], "8080");
        assert!(
            json.stdout
                .starts_with("{\n    \"apiVersion\": \"v1\",\n    \"items\": [\n        {\n"),
            "{}",
            json.stdout
        );
        let empty = get(
            &store,
            Kind::Secret,
            Some("default"),
            &[],
            None,
            OutputFormat::Json,
            t(5),
        )
        .unwrap();
        assert_eq!(
            empty.stdout,
            "{\n    \"apiVersion\": \"v1\",\n    \"items\": [],\n    \"kind\": \"List\",\n    \"metadata\": {\n        \"resourceVersion\": \"\"\n    }\n}\n"
        );
        assert_eq!(
            to_json(&serde_json::json!({"a": "<none> & co"})),
            "{\n    \"a\": \"\\u003cnone\\u003e \\u0026 co\"\n}\n"
        );
        let names_out = get(
            &store,
            Kind::ConfigMap,
            None,
            &[],
            None,
            OutputFormat::Name,
            t(5),
        )
        .unwrap();
        assert_eq!(names_out.stdout, "configmap/cfg\n");
        assert_eq!(name_prefix(Kind::Deployment), "deployment.apps");
        assert_eq!(
            name_prefix(Kind::EndpointSlice),
            "endpointslice.discovery.k8s.io"
        );
    }

    #[test]
    fn secrets_show_stored_data_unless_redacted() {
        let store = store_with(
            "apiVersion: v1\nkind: Secret\nmetadata: {name: db, namespace: default}\nstringData: {password: hunter2}\n",
            t(0),
        );
        let table = table_of(&store, Kind::Secret, OutputFormat::Table, t(5));
        assert_eq!(
            table,
            "NAME   TYPE     DATA   AGE\ndb     Opaque   1      5s\n"
        );
        let shown = get(
            &store,
            Kind::Secret,
            Some("default"),
            &names(&["db"]),
            None,
            OutputFormat::Yaml,
            t(5),
        )
        .unwrap();
        assert!(
            shown.stdout.contains("  password: aHVudGVyMg==\n"),
            "{}",
            shown.stdout
        );
        let request = GetRequest {
            kind: Kind::Secret,
            namespace: Some("default"),
            names: &names(&["db"]),
            selector: None,
            format: OutputFormat::Json,
            redact_secret_data: true,
        };
        let hidden = get_with(&store, &request, t(5)).unwrap();
        assert!(!hidden.stdout.contains("aHVudGVyMg"), "{}", hidden.stdout);
        // The applied manifest (kept in an annotation by `apply`) holds the values too.
        let mut applied =
            serde_json::to_value(store.get(Kind::Secret, "default", "db").unwrap().to_value())
                .unwrap();
        applied["metadata"]["annotations"] = serde_json::json!({
            LAST_APPLIED_ANNOTATION: "{\"stringData\":{\"password\":\"hunter2\"}}",
            "team": "a"
        });
        redact_secret_data_value(&mut applied);
        let text = applied.to_string();
        assert!(
            !text.contains("hunter2") && !text.contains("aHVudGVyMg"),
            "{text}"
        );
        assert_eq!(
            applied["metadata"]["annotations"],
            serde_json::json!({"team": "a"})
        );
        assert!(
            hidden.stdout.contains("\"password\": \"\""),
            "{}",
            hidden.stdout
        );
        let described = describe(
            &store,
            &EventRecorder::default(),
            Kind::Secret,
            "default",
            "db",
            t(5),
        )
        .unwrap();
        assert_eq!(
            described,
            "Name:         db\nNamespace:    default\nLabels:       <none>\nAnnotations:  <none>\n\nType:  Opaque\n\nData\n====\npassword:  7 bytes\n"
        );
    }

    const WEB_POD: &str = r#"
apiVersion: v1
kind: Pod
metadata:
  name: web-abc
  namespace: default
  labels: {app: web, pod-template-hash: abc}
  ownerReferences: [{apiVersion: apps/v1, kind: ReplicaSet, name: web-abc, uid: rs-uid, controller: true}]
spec:
  nodeName: node-1
  containers:
  - name: web
    image: nginx:1.27
    command: [nginx, -g, daemon off;]
    ports: [{containerPort: 80, name: http}]
    env:
    - {name: MODE, value: fast}
    - name: POD_NAME
      valueFrom: {fieldRef: {fieldPath: metadata.name}}
    - name: PASSWORD
      valueFrom: {secretKeyRef: {name: db, key: password}}
    resources: {limits: {cpu: 500m, memory: 128Mi}}
    livenessProbe: {exec: {command: [cat, /tmp/ok]}}
    volumeMounts: [{name: data, mountPath: /data}, {name: cfg, mountPath: /etc/app, readOnly: true}]
  volumes:
  - {name: data, emptyDir: {}}
  - name: cfg
    configMap: {name: app-config}
status:
  phase: Running
  hostIP: 192.168.1.10
  podIP: 10.244.0.5
  podIPs: [{ip: 10.244.0.5}]
  startTime: "2023-11-14T22:13:21Z"
  conditions:
  - {type: Initialized, status: 'True'}
  - {type: Ready, status: 'True'}
  - {type: ContainersReady, status: 'True'}
  - {type: PodScheduled, status: 'True'}
  containerStatuses:
  - name: web
    ready: true
    restartCount: 1
    image: nginx:1.27
    imageID: sha256:1234
    containerID: flotilla://web-abc-web
    state: {running: {startedAt: "2023-11-14T22:14:00Z"}}
    lastState: {terminated: {exitCode: 137, reason: OOMKilled, startedAt: "2023-11-14T22:13:22Z", finishedAt: "2023-11-14T22:13:59Z"}}
"#;

    #[test]
    fn describe_pod_follows_kubectl_layout() {
        let store = store_with(WEB_POD, t(0));
        let key = ObjectKey {
            kind: Kind::Pod,
            namespace: "default".into(),
            name: "web-abc".into(),
        };
        let mut events = EventRecorder::default();
        events.record(
            t(1),
            key.clone(),
            EventType::Normal,
            "Scheduled",
            "Successfully assigned default/web-abc to node-1".into(),
            "default-scheduler",
        );
        for at in [t(2), t(40)] {
            events.record(
                at,
                key.clone(),
                EventType::Normal,
                "Pulled",
                "Container image \"nginx:1.27\" already present on machine".into(),
                "kubelet",
            );
        }
        events.record(
            t(39),
            key.clone(),
            EventType::Warning,
            "BackOff",
            "Back-off restarting failed container web".into(),
            "kubelet",
        );
        let other = ObjectKey {
            name: "other".into(),
            ..key
        };
        events.record(
            t(3),
            other,
            EventType::Normal,
            "Scheduled",
            "elsewhere".into(),
            "default-scheduler",
        );
        let text = describe(&store, &events, Kind::Pod, "default", "web-abc", t(100)).unwrap();
        let expected = "\
Name:         web-abc
Namespace:    default
Priority:     0
Node:         node-1/192.168.1.10
Start Time:   Tue, 14 Nov 2023 22:13:21 +0000
Labels:       app=web
              pod-template-hash=abc
Annotations:  <none>
Status:       Running
IP:           10.244.0.5
IPs:
  IP:           10.244.0.5
Controlled By:  ReplicaSet/web-abc
Containers:
  web:
    Container ID:  flotilla://web-abc-web
    Image:         nginx:1.27
    Image ID:      sha256:1234
    Port:          80/TCP (http)
    Host Port:     0/TCP
    Command:
      nginx
      -g
      daemon off;
    State:          Running
      Started:      Tue, 14 Nov 2023 22:14:00 +0000
    Last State:     Terminated
      Reason:       OOMKilled
      Exit Code:    137
      Started:      Tue, 14 Nov 2023 22:13:22 +0000
      Finished:     Tue, 14 Nov 2023 22:13:59 +0000
    Ready:          True
    Restart Count:  1
    Limits:
      cpu:     500m
      memory:  128Mi
    Requests:
      cpu:     500m
      memory:  128Mi
    Liveness:  exec [cat /tmp/ok] delay=0s timeout=1s period=10s #success=1 #failure=3
    Environment:
      MODE:      fast
      POD_NAME:  web-abc (v1:metadata.name)
      PASSWORD:  <set to the key 'password' in secret 'db'>  Optional: false
    Mounts:
      /data from data (rw)
      /etc/app from cfg (ro)
Conditions:
  Type              Status
  Initialized       True 
  Ready             True 
  ContainersReady   True 
  PodScheduled      True 
Volumes:
  data:
    Type:       EmptyDir (a temporary directory that shares a pod's lifetime)
    Medium:     
    SizeLimit:  <unset>
  cfg:
    Type:        ConfigMap (a volume populated by a ConfigMap)
    Name:        app-config
    Optional:    false
QoS Class:       Guaranteed
Node-Selectors:  <none>
Tolerations:     node.kubernetes.io/not-ready:NoExecute op=Exists for 300s
                 node.kubernetes.io/unreachable:NoExecute op=Exists for 300s
Events:
  Type     Reason     Age                From               Message
  ----     ------     ----               ----               -------
  Normal   Scheduled  99s                default-scheduler  Successfully assigned default/web-abc to node-1
  Warning  BackOff    61s                kubelet            Back-off restarting failed container web
  Normal   Pulled     60s (x2 over 98s)  kubelet            Container image \"nginx:1.27\" already present on machine
";
        assert_eq!(text, expected);
        assert_eq!(
            describe(&store, &events, Kind::Pod, "default", "nope", t(100))
                .unwrap_err()
                .to_string(),
            "Error from server (NotFound): pods \"nope\" not found"
        );
    }

    #[test]
    fn describe_deployment_service_and_node() {
        let mut store = store_with(APP, t(0));
        let deployment = store.get(Kind::Deployment, "default", "web").unwrap();
        let uid = deployment.metadata().uid.clone();
        add(
            &mut store,
            &format!(
                "apiVersion: apps/v1\nkind: ReplicaSet\nmetadata:\n  name: web-old\n  namespace: default\n  ownerReferences: [{{apiVersion: apps/v1, kind: Deployment, name: web, uid: {uid}, controller: true}}]\nspec:\n  replicas: 1\n  selector: {{matchLabels: {{app: web}}}}\n  template:\n    metadata: {{labels: {{app: web, pod-template-hash: old}}}}\n    spec: {{containers: [{{name: web, image: nginx:1.26}}]}}\nstatus: {{replicas: 1}}\n"
            ),
            t(1),
        );
        let Object::Deployment(d) = deployment.as_ref() else {
            unreachable!()
        };
        let mut new_rs = format!(
            "apiVersion: apps/v1\nkind: ReplicaSet\nmetadata:\n  name: web-new\n  namespace: default\n  ownerReferences: [{{apiVersion: apps/v1, kind: Deployment, name: web, uid: {uid}, controller: true}}]\nspec:\n  replicas: 3\n  selector: {{matchLabels: {{app: web}}}}\nstatus: {{replicas: 2}}\n"
        );
        let _ = &mut new_rs;
        let mut rs = match objects(&new_rs).remove(0) {
            Object::ReplicaSet(rs) => rs,
            _ => unreachable!(),
        };
        rs.spec.template = d.spec.template.clone();
        rs.spec
            .template
            .metadata
            .labels
            .insert(POD_TEMPLATE_HASH_LABEL.into(), "new".into());
        let created = store.create(rs.clone().into(), t(2)).unwrap();
        rs.metadata = created.metadata().clone();
        store.update_status(rs.into(), t(2)).unwrap();
        let text = describe(
            &store,
            &EventRecorder::default(),
            Kind::Deployment,
            "default",
            "web",
            t(60),
        )
        .unwrap();
        let expected = "\
Name:                   web
Namespace:              default
CreationTimestamp:      Tue, 14 Nov 2023 22:13:20 +0000
Labels:                 <none>
Annotations:            <none>
Selector:               app=web
Replicas:               3 desired | 3 updated | 3 total | 2 available | 1 unavailable
StrategyType:           RollingUpdate
MinReadySeconds:        0
RollingUpdateStrategy:  25% max unavailable, 25% max surge
Pod Template:
  Labels:  app=web
  Containers:
   web:
    Image:      nginx:1.27
    Port:       80/TCP
    Host Port:  0/TCP
    Limits:
      cpu:        500m
      memory:     128Mi
    Readiness:    http-get http://:8080/healthz delay=0s timeout=1s period=10s #success=1 #failure=3
    Environment:  <none>
    Mounts:       <none>
   log:
    Image:         busybox
    Port:          <none>
    Host Port:     <none>
    Environment:   <none>
    Mounts:        <none>
  Volumes:         <none>
  Node-Selectors:  <none>
  Tolerations:     <none>
Conditions:
  Type           Status  Reason
  ----           ------  ------
  Available      True    MinimumReplicasAvailable
  Progressing    True    NewReplicaSetAvailable
OldReplicaSets:  web-old (1/1 replicas created)
NewReplicaSet:   web-new (2/3 replicas created)
Events:          <none>
";
        assert_eq!(text, expected);

        add(
            &mut store,
            "apiVersion: discovery.k8s.io/v1\nkind: EndpointSlice\nmetadata:\n  name: web-x1\n  namespace: default\n  labels: {kubernetes.io/service-name: web}\naddressType: IPv4\nports: [{name: \"\", port: 8080, protocol: TCP}]\nendpoints:\n- addresses: [10.244.0.5]\n- addresses: [10.244.0.6]\n",
            t(3),
        );
        let svc = describe(
            &store,
            &EventRecorder::default(),
            Kind::Service,
            "default",
            "web",
            t(60),
        )
        .unwrap();
        let ip = match store.get(Kind::Service, "default", "web").unwrap().as_ref() {
            Object::Service(s) => s.spec.cluster_ip.clone().unwrap(),
            _ => unreachable!(),
        };
        assert_eq!(
            svc,
            format!(
                "Name:                     web\n\
                 Namespace:                default\n\
                 Labels:                   <none>\n\
                 Annotations:              <none>\n\
                 Selector:                 app=web\n\
                 Type:                     ClusterIP\n\
                 IP Family Policy:         SingleStack\n\
                 IP Families:              IPv4\n\
                 IP:                       {ip}\n\
                 IPs:                      {ip}\n\
                 Port:                     <unset>  80/TCP\n\
                 TargetPort:               8080/TCP\n\
                 Endpoints:                10.244.0.5:8080,10.244.0.6:8080\n\
                 Session Affinity:         None\n\
                 Internal Traffic Policy:  Cluster\n\
                 Events:                   <none>\n"
            )
        );

        add(&mut store, WEB_POD, t(0));
        let node = describe(
            &store,
            &EventRecorder::default(),
            Kind::Node,
            "",
            "node-1",
            t(60),
        )
        .unwrap();
        assert_eq!(node, NODE_DESCRIBED);
    }

    const NODE_DESCRIBED: &str = "\
Name:               node-1
Roles:              control-plane
Labels:             kubernetes.io/hostname=node-1
                    node-role.kubernetes.io/control-plane=
Annotations:        <none>
CreationTimestamp:  Tue, 14 Nov 2023 22:13:20 +0000
Taints:             node-role.kubernetes.io/control-plane:NoSchedule
Unschedulable:      false
Conditions:
  Type    Status  LastHeartbeatTime                 LastTransitionTime                Reason         Message
  ----    ------  -----------------                 ------------------                ------         -------
  Ready   True    Mon, 01 Jan 0001 00:00:00 +0000   Mon, 01 Jan 0001 00:00:00 +0000   KubeletReady   kubelet is posting ready status
Addresses:
  InternalIP:  192.168.1.10
  Hostname:    node-1
Capacity:
  cpu:     4
  memory:  8Gi
  pods:    110
Allocatable:
  cpu:     4
  memory:  8Gi
  pods:    110
System Info:
  Machine ID:                 
  System UUID:                
  Boot ID:                    
  Kernel Version:             6.1.0
  OS Image:                   Debian GNU/Linux 12
  Operating System:           linux
  Architecture:               amd64
  Container Runtime Version:  flotilla://0.1.0
  Kubelet Version:            v1.34.0-flotilla
Non-terminated Pods:          (1 in total)
  Namespace                   Name       CPU Requests  CPU Limits  Memory Requests  Memory Limits  Age
  ---------                   ----       ------------  ----------  ---------------  -------------  ---
  default                     web-abc    500m (12%)    500m (12%)  128Mi (1%)       128Mi (1%)     60s
Allocated resources:
  (Total limits may be over 100 percent, i.e., overcommitted.)
  Resource           Requests    Limits
  --------           --------    ------
  cpu                500m (12%)  500m (12%)
  memory             128Mi (1%)  128Mi (1%)
  ephemeral-storage  0 (0%)      0 (0%)
Events:              <none>
";

    #[test]
    fn describe_other_kinds_prints_yaml() {
        let store = store_with(
            "apiVersion: v1\nkind: LimitRange\nmetadata: {name: limits, namespace: default, labels: {team: a}}\nspec:\n  limits: [{type: Container, default: {cpu: 500m}}]\n",
            t(0),
        );
        let text = describe(
            &store,
            &EventRecorder::default(),
            Kind::LimitRange,
            "default",
            "limits",
            t(9),
        )
        .unwrap();
        assert!(text.starts_with("Name:         limits\nNamespace:    default\nLabels:       team=a\nAnnotations:  <none>\nAPI Version:  v1\nKind:         LimitRange\nspec:\n  limits:\n  - default:\n      cpu: 500m\n"), "{text}");
        assert!(
            text.ends_with("    type: Container\nEvents:  <none>\n"),
            "{text}"
        );
        let table = table_of(&store, Kind::LimitRange, OutputFormat::Table, t(9));
        assert_eq!(
            table,
            "NAME     CREATED AT\nlimits   2023-11-14T22:13:20Z\n"
        );
    }

    fn row_of(yaml: &str, wide: bool, now: Time) -> Vec<String> {
        let mut object = objects(yaml).remove(0);
        object.metadata_mut().creation_timestamp = Some(t(0));
        row(&object, wide, now)
    }

    #[test]
    fn rows_of_other_kinds_follow_printers() {
        let now = t(3600);
        let job = "apiVersion: batch/v1\nkind: Job\nmetadata: {name: pi}\nspec:\n  completions: 3\n  template: {spec: {restartPolicy: Never, containers: [{name: pi, image: perl}]}}\nstatus:\n  succeeded: 1\n  startTime: '2023-11-14T22:13:30Z'\n";
        assert_eq!(
            row_of(job, false, now),
            ["pi", "Running", "1/3", "59m", "60m"]
        );
        let done = job.replace("succeeded: 1\n", "succeeded: 3\n  completionTime: '2023-11-14T22:15:00Z'\n  conditions: [{type: Complete, status: 'True'}]\n");
        assert_eq!(
            row_of(&done, false, now),
            ["pi", "Complete", "3/3", "90s", "60m"]
        );
        let parallel = "apiVersion: batch/v1\nkind: Job\nmetadata: {name: w}\nspec:\n  parallelism: 4\n  template: {spec: {restartPolicy: Never, containers: [{name: w, image: x}]}}\nstatus:\n  conditions: [{type: Failed, status: 'True'}]\n";
        assert_eq!(
            row_of(parallel, false, now),
            ["w", "Failed", "0/1 of 4", "", "60m"]
        );
        let cron = "apiVersion: batch/v1\nkind: CronJob\nmetadata: {name: nightly}\nspec:\n  schedule: '0 3 * * *'\n  suspend: false\n  jobTemplate: {spec: {template: {spec: {restartPolicy: Never, containers: [{name: c, image: busybox}]}}}}\nstatus: {lastScheduleTime: '2023-11-14T22:43:20Z'}\n";
        assert_eq!(
            row_of(cron, true, now),
            [
                "nightly",
                "0 3 * * *",
                "<none>",
                "False",
                "0",
                "30m",
                "60m",
                "c",
                "busybox",
                "<none>"
            ]
        );
        let hpa = "apiVersion: autoscaling/v2\nkind: HorizontalPodAutoscaler\nmetadata: {name: web}\nspec:\n  scaleTargetRef: {apiVersion: apps/v1, kind: Deployment, name: web}\n  minReplicas: 2\n  maxReplicas: 10\n  metrics:\n  - type: Resource\n    resource: {name: cpu, target: {type: Utilization, averageUtilization: 80}}\n  - type: Resource\n    resource: {name: memory, target: {type: AverageValue, averageValue: 100Mi}}\nstatus:\n  currentReplicas: 3\n  currentMetrics:\n  - type: Resource\n    resource: {name: cpu, current: {averageUtilization: 42, averageValue: 210m}}\n";
        assert_eq!(
            row_of(hpa, false, now),
            [
                "web",
                "Deployment/web",
                "cpu: 42%/80%, memory: <unknown>/100Mi",
                "2",
                "10",
                "3",
                "60m"
            ]
        );
        let pvc = "apiVersion: v1\nkind: PersistentVolumeClaim\nmetadata: {name: data}\nspec:\n  accessModes: [ReadWriteOnce]\n  storageClassName: local\n  volumeName: pv-1\n  resources: {requests: {storage: 1Gi}}\nstatus:\n  phase: Bound\n  accessModes: [ReadWriteOnce, ReadOnlyMany]\n  capacity: {storage: 2Gi}\n";
        assert_eq!(
            row_of(pvc, true, now),
            ["data", "Bound", "pv-1", "2Gi", "RWO,ROX", "local", "<unset>", "60m", "<unset>"]
        );
        let pv = "apiVersion: v1\nkind: PersistentVolume\nmetadata: {name: pv-1}\nspec:\n  capacity: {storage: 2Gi}\n  accessModes: [ReadWriteOnce]\n  persistentVolumeReclaimPolicy: Retain\n  storageClassName: local\n  hostPath: {path: /srv}\n  claimRef: {namespace: default, name: data}\nstatus: {phase: Bound}\n";
        assert_eq!(
            row_of(pv, false, now),
            [
                "pv-1",
                "2Gi",
                "RWO",
                "Retain",
                "Bound",
                "default/data",
                "local",
                "<unset>",
                "",
                "60m"
            ]
        );
        let sc = "apiVersion: storage.k8s.io/v1\nkind: StorageClass\nmetadata:\n  name: local\n  annotations: {storageclass.kubernetes.io/is-default-class: 'true'}\nprovisioner: flotilla.io/local\nvolumeBindingMode: WaitForFirstConsumer\n";
        assert_eq!(
            row_of(sc, false, now),
            [
                "local (default)",
                "flotilla.io/local",
                "Delete",
                "WaitForFirstConsumer",
                "false",
                "60m"
            ]
        );
        let slice = "apiVersion: discovery.k8s.io/v1\nkind: EndpointSlice\nmetadata: {name: web-1}\naddressType: IPv4\nports: [{port: 80}, {name: dns}]\nendpoints: [{addresses: [10.0.0.1]}, {addresses: [10.0.0.2]}, {addresses: [10.0.0.3]}, {addresses: [10.0.0.4]}, {addresses: [10.0.0.5]}]\n";
        assert_eq!(
            row_of(slice, false, now),
            [
                "web-1",
                "IPv4",
                "80,dns",
                "10.0.0.1,10.0.0.2,10.0.0.3 + 2 more...",
                "60m"
            ]
        );
        let quota = "apiVersion: v1\nkind: ResourceQuota\nmetadata: {name: q}\nspec: {hard: {pods: '10', limits.cpu: '4'}}\nstatus:\n  hard: {pods: '10', limits.cpu: '4', requests.memory: 1Gi}\n  used: {pods: '2', limits.cpu: 500m}\n";
        assert_eq!(
            row_of(quota, false, now),
            [
                "q",
                "60m",
                "pods: 2/10, requests.memory: 0/1Gi",
                "limits.cpu: 500m/4"
            ]
        );
        let pdb = "apiVersion: policy/v1\nkind: PodDisruptionBudget\nmetadata: {name: web}\nspec: {minAvailable: 50%, selector: {matchLabels: {app: web}}}\nstatus: {disruptionsAllowed: 1}\n";
        assert_eq!(row_of(pdb, false, now), ["web", "50%", "N/A", "1", "60m"]);
        let ds = "apiVersion: apps/v1\nkind: DaemonSet\nmetadata: {name: agent}\nspec:\n  selector: {matchLabels: {app: agent}}\n  template:\n    metadata: {labels: {app: agent}}\n    spec: {nodeSelector: {disk: ssd}, containers: [{name: a, image: agent:1}]}\nstatus: {desiredNumberScheduled: 2, currentNumberScheduled: 2, numberReady: 1, updatedNumberScheduled: 2, numberAvailable: 1}\n";
        assert_eq!(
            row_of(ds, true, now),
            [
                "agent",
                "2",
                "2",
                "1",
                "2",
                "1",
                "disk=ssd",
                "60m",
                "a",
                "agent:1",
                "app=agent"
            ]
        );
        let sts = "apiVersion: apps/v1\nkind: StatefulSet\nmetadata: {name: db}\nspec:\n  replicas: 3\n  serviceName: db\n  selector: {matchLabels: {app: db}}\n  template:\n    metadata: {labels: {app: db}}\n    spec: {containers: [{name: pg, image: postgres}]}\nstatus: {readyReplicas: 2}\n";
        assert_eq!(row_of(sts, false, now), ["db", "2/3", "60m"]);
        let rs = "apiVersion: apps/v1\nkind: ReplicaSet\nmetadata: {name: web-1}\nspec:\n  replicas: 2\n  selector: {matchExpressions: [{key: env, operator: In, values: [a, b]}]}\n  template:\n    metadata: {labels: {env: a}}\n    spec: {containers: [{name: w, image: nginx}]}\nstatus: {replicas: 2, readyReplicas: 1}\n";
        assert_eq!(
            row_of(rs, true, now),
            ["web-1", "2", "2", "1", "60m", "w", "nginx", "env in (a,b)"]
        );
        let lb = "apiVersion: v1\nkind: Service\nmetadata: {name: lb}\nspec:\n  type: LoadBalancer\n  clusterIPs: [10.96.0.9]\n  ports: [{port: 443, nodePort: 31443}]\n";
        assert_eq!(
            row_of(lb, false, now),
            [
                "lb",
                "LoadBalancer",
                "10.96.0.9",
                "<pending>",
                "443:31443/TCP",
                "60m"
            ]
        );
    }
}
