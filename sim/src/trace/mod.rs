//! Replay of public cluster traces: nodes and pods read from a trace's CSV files, ready to be
//! added to a [`Scenario`](crate::scenario::Scenario)'s nodes and to arrive in the engine at
//! their times.
//!
//! - [`alibaba`]: the Alibaba GPU cluster trace v2023 (`openb_node_list_*.csv`,
//!   `openb_pod_list_*.csv`), published with "Beware of Fragmentation" (USENIX ATC 2023);
//! - [`google`]: the Google cluster-usage trace 2011 (`clusterdata-2011-2`: `machine_events`
//!   and `task_events`).
//!
//! A scenario names the files in its `traces:` list; the book page *Replaying cluster traces*
//! says how each column maps to Kubernetes fields and what is approximated. Every trace pod is a
//! plain Pod (`restartPolicy: Never`) in namespace `default` whose containers run for the
//! duration in its [`RUN_TIME_ANNOTATION`](crate::runtime_model::RUN_TIME_ANNOTATION), when the
//! trace knows it, and until the end of the run otherwise. A finished pod stays in the store
//! unless the scenario's trace entry says `deleteFinished: true`.
//!
//! Readers are strict: a row with a bad value is an error naming the file, the line, the
//! character column and the CSV column.
//!
//! ```
//! use flotilla_sim::trace::alibaba;
//!
//! let nodes = "sn,cpu_milli,memory_mib,gpu,model\nnode-a,32000,262144,2,T4\n";
//! let pods = "name,cpu_milli,memory_mib,num_gpu,gpu_milli,gpu_spec,qos,pod_phase,\
//! creation_time,deletion_time,scheduled_time\npod-a,4000,8192,1,500,,LS,Running,10,70,10\n";
//! let trace = alibaba::parse("nodes.csv", nodes, "pods.csv", pods, None).expect("valid");
//! assert_eq!(trace.nodes.len(), 1);
//! assert_eq!(trace.pods[0].pod.metadata.annotations["sim.flotilla.io/run-time"], "60s");
//! ```

use std::borrow::Cow;
use std::collections::BTreeMap;

use flotilla_model::api::{Container, Node, Pod, RestartPolicy};
use flotilla_model::meta::validate_object_meta;
use flotilla_model::{Duration, Kind, Object, ObjectMeta, Quantity, ResourceList};

pub mod alibaba;
pub mod google;

/// The image of every trace pod's container (the runtime model pulls it once per node).
pub const TRACE_IMAGE: &str = "flotilla.io/trace-task:1";
/// The name of a trace pod's one container.
pub const TRACE_CONTAINER: &str = "task";
/// The namespace trace pods are created in.
pub const TRACE_NAMESPACE: &str = "default";
/// Label of trace nodes and pods: the trace format they come from (`alibaba-v2023`,
/// `google-2011`).
pub const SOURCE_LABEL: &str = "trace.flotilla.io/source";
/// The extended resource a whole GPU is (one device plugin device).
pub const GPU_RESOURCE: &str = "nvidia.com/gpu";

/// Nodes and pods read from a trace.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Trace {
    /// The nodes, in file order.
    pub nodes: Vec<Node>,
    /// The pods, in arrival order (stable: rows with equal times keep their file order).
    pub pods: Vec<TracePod>,
    /// Rows read and rows left out, with the reason.
    pub stats: TraceStats,
}

/// One pod of a trace and when it arrives.
#[derive(Clone, Debug, PartialEq)]
pub struct TracePod {
    /// Arrival time since the start of the run.
    pub at: Duration,
    /// The pod (not yet defaulted; the store's admission does that).
    pub pod: Pod,
    /// Whether the engine deletes the pod once it has finished (the scenario's
    /// `deleteFinished`), as the trace's cluster deleted its pods; otherwise it stays in the
    /// store as Succeeded or Failed.
    pub delete_finished: bool,
}

/// What a reader did with the rows it read.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TraceStats {
    /// Data rows read (header rows not counted), over all files.
    pub rows: u64,
    /// Rows that were read but not replayed, counted by reason (`"machine event after time
    /// 0"`, `"beyond limit"` …).
    pub skipped: BTreeMap<&'static str, u64>,
}

impl TraceStats {
    pub(crate) fn skip(&mut self, reason: &'static str) {
        *self.skipped.entry(reason).or_insert(0) += 1;
    }
}

/// Why a trace could not be read.
#[derive(Debug, thiserror::Error)]
pub enum TraceError {
    /// A file could not be read.
    #[error("{file}: {source}")]
    Read {
        /// The file.
        file: String,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// A row (or the header) holds a bad value.
    #[error("{file}:{line}:{column}: {field}: {message}")]
    Row {
        /// The file.
        file: String,
        /// 1-based line.
        line: usize,
        /// 1-based character column where the CSV field starts.
        column: usize,
        /// The CSV column's name (`cpu_milli`, `event type`).
        field: String,
        /// What is wrong.
        message: String,
    },
}

/// Reads a whole file for a reader; `file` is what errors call it.
pub(crate) fn read(path: &std::path::Path) -> Result<String, TraceError> {
    std::fs::read_to_string(path).map_err(|source| TraceError::Read {
        file: path.display().to_string(),
        source,
    })
}

/// One CSV row: its line and its fields with their byte offsets in the line.
pub(crate) struct Row<'a> {
    file: &'a str,
    line_no: usize,
    line: &'a str,
    fields: Vec<(usize, Cow<'a, str>)>,
}

impl<'a> Row<'a> {
    /// The 1-based line number.
    pub(crate) fn line(&self) -> usize {
        self.line_no
    }

    /// How many fields the row has.
    pub(crate) fn len(&self) -> usize {
        self.fields.len()
    }

    /// Field `i` (trimmed), named `name` in errors.
    pub(crate) fn get(&self, i: usize, name: &str) -> Result<&str, TraceError> {
        match self.fields.get(i) {
            Some((_, text)) => Ok(text.trim()),
            None => Err(self.error_at(
                self.line.chars().count() + 1,
                name,
                format!(
                    "missing value: the row has {} fields, expected at least {}",
                    self.fields.len(),
                    i + 1
                ),
            )),
        }
    }

    /// An error about field `i`, named `name`.
    pub(crate) fn error(&self, i: usize, name: &str, message: impl Into<String>) -> TraceError {
        let column = match self.fields.get(i) {
            Some((offset, _)) => self.line[..*offset].chars().count() + 1,
            None => self.line.chars().count() + 1,
        };
        self.error_at(column, name, message.into())
    }

    fn error_at(&self, column: usize, name: &str, message: String) -> TraceError {
        TraceError::Row {
            file: self.file.to_string(),
            line: self.line_no,
            column,
            field: name.to_string(),
            message,
        }
    }

    /// Field `i` as a non-negative integer.
    pub(crate) fn u64(&self, i: usize, name: &str) -> Result<u64, TraceError> {
        let text = self.get(i, name)?;
        parse_u64(text).map_err(|m| self.error(i, name, m))
    }

    /// Field `i` as a non-negative integer, or `None` when empty.
    pub(crate) fn opt_u64(&self, i: usize, name: &str) -> Result<Option<u64>, TraceError> {
        let text = self.get(i, name)?;
        if text.is_empty() {
            return Ok(None);
        }
        parse_u64(text)
            .map(Some)
            .map_err(|m| self.error(i, name, m))
    }

    /// Field `i` as a finite non-negative number, or `None` when empty.
    pub(crate) fn opt_f64(&self, i: usize, name: &str) -> Result<Option<f64>, TraceError> {
        let text = self.get(i, name)?;
        if text.is_empty() {
            return Ok(None);
        }
        match text.parse::<f64>() {
            Ok(v) if v.is_finite() && v >= 0.0 => Ok(Some(v)),
            _ => Err(self.error(
                i,
                name,
                format!("invalid value {text:?}: not a non-negative number"),
            )),
        }
    }
}

fn parse_u64(text: &str) -> Result<u64, String> {
    if text.is_empty() {
        return Err("missing value".into());
    }
    // Some exports write integers as floats (`12.0`); accept those when they are whole.
    if let Ok(v) = text.parse::<u64>() {
        return Ok(v);
    }
    match text.parse::<f64>() {
        Ok(v) if v.is_finite() && v >= 0.0 && v.fract() == 0.0 && v < 1.8e19 => Ok(v as u64),
        _ => Err(format!(
            "invalid value {text:?}: not a non-negative integer"
        )),
    }
}

/// The rows of a CSV text (RFC 4180 fields: quoted fields may hold commas and doubled quotes,
/// but not line breaks). Blank lines are skipped; `\r\n` line ends are accepted.
pub(crate) fn rows<'a>(
    file: &'a str,
    text: &'a str,
) -> impl Iterator<Item = Result<Row<'a>, TraceError>> + 'a {
    text.split('\n').enumerate().filter_map(move |(i, line)| {
        let line = line.strip_suffix('\r').unwrap_or(line);
        if line.trim().is_empty() {
            return None;
        }
        Some(split(file, i + 1, line))
    })
}

fn split<'a>(file: &'a str, line_no: usize, line: &'a str) -> Result<Row<'a>, TraceError> {
    let mut fields = Vec::new();
    if !line.contains('"') {
        let mut offset = 0;
        for part in line.split(',') {
            fields.push((offset, Cow::Borrowed(part)));
            offset += part.len() + 1;
        }
        return Ok(Row {
            file,
            line_no,
            line,
            fields,
        });
    }
    let bytes = line.as_bytes();
    let mut i = 0;
    loop {
        let start = i;
        if bytes.get(i) == Some(&b'"') {
            let mut value = String::new();
            i += 1;
            loop {
                match line[i..].find('"') {
                    None => {
                        return Err(TraceError::Row {
                            file: file.to_string(),
                            line: line_no,
                            column: line[..start].chars().count() + 1,
                            field: format!("field {}", fields.len() + 1),
                            message: "unterminated quoted field".into(),
                        })
                    }
                    Some(q) => {
                        value.push_str(&line[i..i + q]);
                        i += q + 1;
                        if bytes.get(i) == Some(&b'"') {
                            value.push('"');
                            i += 1;
                        } else {
                            break;
                        }
                    }
                }
            }
            fields.push((start, Cow::Owned(value)));
            match bytes.get(i) {
                None => break,
                Some(b',') => i += 1,
                Some(_) => {
                    return Err(TraceError::Row {
                        file: file.to_string(),
                        line: line_no,
                        column: line[..i].chars().count() + 1,
                        field: format!("field {}", fields.len()),
                        message: "text after a closing quote".into(),
                    })
                }
            }
        } else {
            let end = line[i..].find(',').map_or(line.len(), |c| i + c);
            fields.push((start, Cow::Borrowed(&line[i..end])));
            if end == line.len() {
                break;
            }
            i = end + 1;
        }
    }
    Ok(Row {
        file,
        line_no,
        line,
        fields,
    })
}

/// A plain, never-restarting Pod of one container with `requests` (and limits equal to the
/// requests of extended resources, which Kubernetes requires), named `name` in `default`.
pub(crate) fn trace_pod(name: &str, requests: ResourceList) -> Pod {
    let limits: ResourceList = requests
        .iter()
        .filter(|(r, _)| flotilla_model::api::is_extended_resource_name(r))
        .map(|(r, q)| (r.clone(), *q))
        .collect();
    let mut pod = Pod {
        metadata: ObjectMeta::named(TRACE_NAMESPACE, name),
        ..Default::default()
    };
    pod.spec.restart_policy = Some(RestartPolicy::Never);
    pod.spec.containers.push(Container {
        name: TRACE_CONTAINER.into(),
        image: TRACE_IMAGE.into(),
        resources: flotilla_model::api::ResourceRequirements { limits, requests },
        ..Default::default()
    });
    pod
}

/// A trace node with `capacity` (allocatable equals capacity; `pods` is 110 when not given)
/// and the `kubernetes.io/hostname` label.
pub(crate) fn trace_node(name: &str, mut capacity: ResourceList) -> Node {
    capacity
        .entry("pods".into())
        .or_insert_with(|| Quantity::from_value(110, flotilla_model::quantity::Format::DecimalSI));
    let mut meta = ObjectMeta::named("", name);
    meta.labels
        .insert("kubernetes.io/hostname".into(), name.to_string());
    let mut node = Node {
        metadata: meta,
        ..Default::default()
    };
    node.status.capacity = capacity;
    node
}

/// The first validation error of `object` after defaulting, if any, as the API server would
/// report it.
pub(crate) fn first_invalid(object: Object) -> Option<String> {
    let mut defaulted = object;
    defaulted.set_defaults();
    defaulted.validate().first().map(|e| e.to_string())
}

/// The first validation error of a pod's metadata (name, labels, annotations), for a pod whose
/// spec is equal to one that [`first_invalid`] has passed: a Pod's own validation reads only its
/// spec, so for such a pod this is what [`first_invalid`] would report.
pub(crate) fn first_invalid_metadata(pod: &Pod) -> Option<String> {
    validate_object_meta(&pod.metadata, true, Kind::Pod.name_rule())
        .first()
        .map(|e| e.to_string())
}

/// Sorts pods by arrival time, keeping the file order of equal times.
pub(crate) fn sort_by_arrival(pods: &mut [TracePod]) {
    pods.sort_by_key(|p| p.at);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fields(line: &str) -> Vec<String> {
        split("f.csv", 1, line)
            .expect("valid")
            .fields
            .into_iter()
            .map(|(_, f)| f.into_owned())
            .collect()
    }

    #[test]
    fn csv_fields_split_as_rfc_4180_says() {
        assert_eq!(fields("a,b,,d"), ["a", "b", "", "d"]);
        assert_eq!(fields("a,"), ["a", ""]);
        assert_eq!(
            fields("\"x,y\",\"say \"\"hi\"\"\","),
            ["x,y", "say \"hi\"", ""]
        );
        assert_eq!(fields("1,\"2\""), ["1", "2"]);
        let e = split("f.csv", 3, "a,\"b").err().expect("unterminated");
        assert_eq!(
            e.to_string(),
            "f.csv:3:3: field 2: unterminated quoted field"
        );
    }

    #[test]
    fn numbers_are_checked_and_errors_point_at_the_field() {
        let row = split("f.csv", 7, "x,12,1.0,-3,abc").expect("valid");
        assert_eq!(row.u64(1, "a").ok(), Some(12));
        assert_eq!(row.u64(2, "b").ok(), Some(1));
        assert_eq!(
            row.u64(3, "c").err().map(|e| e.to_string()),
            Some("f.csv:7:10: c: invalid value \"-3\": not a non-negative integer".into())
        );
        assert_eq!(
            row.opt_f64(4, "d").err().map(|e| e.to_string()),
            Some("f.csv:7:13: d: invalid value \"abc\": not a non-negative number".into())
        );
        assert_eq!(
            row.get(5, "e").err().map(|e| e.to_string()),
            Some("f.csv:7:16: e: missing value: the row has 5 fields, expected at least 6".into())
        );
    }
}
