//! The Alibaba GPU cluster trace v2023 ("openb"), from `alibaba/clusterdata`,
//! `cluster-trace-gpu-v2023/csv/`, published with Weng et al., "Beware of Fragmentation:
//! Scheduling GPU-Sharing Workloads with Fragmentation Gradient Descent", USENIX ATC 2023.
//!
//! Two CSV files with a header row:
//!
//! - a node list (`openb_node_list_all_node.csv`, `openb_node_list_gpu_node.csv`):
//!   `sn,cpu_milli,memory_mib,gpu,model`;
//! - a pod list (`openb_pod_list_default.csv` and its variants): `name,cpu_milli,memory_mib,
//!   num_gpu,gpu_milli,gpu_spec,qos,pod_phase,creation_time,deletion_time,scheduled_time`, times
//!   in seconds. The `multigpu` variants have only the first five columns: their pods all
//!   arrive at the start and run to the end.
//!
//! Columns are found by their header names, so their order does not matter and extra columns
//! are ignored.
//!
//! The mapping:
//!
//! | trace | Kubernetes |
//! |---|---|
//! | node `sn` | Node name (and `kubernetes.io/hostname`) |
//! | `cpu_milli`, `memory_mib` | capacity `cpu` (milli-CPUs), `memory` (MiB) |
//! | `gpu` | capacity `nvidia.com/gpu` (whole GPUs) and `flotilla.io/gpu-milli` (1000 per GPU); absent when 0 |
//! | `model` | label [`GPU_MODEL_LABEL`] (`flotilla.io/gpu-model: V100M32`) |
//! | pod `name` | Pod name, namespace `default`, `restartPolicy: Never` |
//! | `cpu_milli`, `memory_mib` | requests `cpu`, `memory` of the one container |
//! | `num_gpu`, `gpu_milli` | whole GPUs: request and limit `nvidia.com/gpu: num_gpu`; a share (`num_gpu` 1, `gpu_milli` < 1000): `flotilla.io/gpu-milli: gpu_milli` |
//! | `gpu_spec` | annotation [`GPU_MODEL_ANNOTATION`] (read by the `Open-Gpu-Share` filter), a required node affinity on [`GPU_MODEL_LABEL`], and [`GPU_SPEC_ANNOTATION`] as written |
//! | `qos` | label [`QOS_LABEL`] |
//! | `pod_phase` | annotation [`PHASE_ANNOTATION`]; `Failed` pods exit with code 1 |
//! | `creation_time` | arrival, relative to the earliest creation time replayed |
//! | `deletion_time − creation_time` | run time (annotation `sim.flotilla.io/run-time`) |
//! | `scheduled_time` | not used (the simulated scheduler decides) |
//!
//! **GPU sharing.** A GPU-sharing pod (`num_gpu` 1, `gpu_milli` below 1000; 3,078 of the 8,152
//! pods of `openb_pod_list_default.csv`) asks for its share of one GPU as the extended resource
//! `flotilla.io/gpu-milli`, as GPU-sharing device plugins have pods do
//! ([`flotilla_scheduler::gpu`] documents the model). NodeResourcesFit checks the node's total of
//! milli-GPUs; the device-level check (the share fits in one GPU) is the `Open-Gpu-Share`
//! filter's, which a scheduler configuration enables. The requested share is also kept, as the
//! trace wrote it, in [`GPU_MILLI_ANNOTATION`].

use std::collections::{BTreeMap, HashSet};
use std::path::Path;

use flotilla_model::api::{
    Affinity, Node, NodeAffinity, NodeSelector, NodeSelectorOperator, NodeSelectorRequirement,
    NodeSelectorTerm,
};
use flotilla_model::quantity::Format;
use flotilla_model::{Duration, Object, Quantity, ResourceList};

use super::{
    first_invalid, first_invalid_metadata, read, rows, sort_by_arrival, trace_node, trace_pod, Row,
    Trace, TraceError, TracePod, TraceStats, GPU_RESOURCE, SOURCE_LABEL,
};
use crate::runtime_model::{EXIT_CODE_ANNOTATION, RUN_TIME_ANNOTATION};

/// The format's name in a scenario's `traces:` list.
pub const FORMAT: &str = "alibaba-v2023";
/// Extended resource: milli-GPUs (a node's total; a pod's share of one GPU).
pub use flotilla_scheduler::gpu::GPU_MILLI_RESOURCE;
/// Pod annotation: the GPU models the pod accepts (`V100M16|V100M32`), read by the
/// `Open-Gpu-Share` filter.
pub use flotilla_scheduler::gpu::GPU_MODEL_ANNOTATION;
/// Node label: the GPU model (`V100M32`, `T4`, `G2` …; absent on nodes without GPUs).
pub use flotilla_scheduler::gpu::GPU_MODEL_LABEL;
/// Pod label: the trace's QoS class (`LS`, `BE`, `Burstable`, `Guaranteed`).
pub const QOS_LABEL: &str = "trace.flotilla.io/qos";
/// Pod annotation: the GPU share the trace asked for, in thousandths of a GPU.
pub const GPU_MILLI_ANNOTATION: &str = "trace.flotilla.io/gpu-milli";
/// Pod annotation: the GPU models the pod may run on, as the trace writes them
/// (`V100M16|V100M32`).
pub const GPU_SPEC_ANNOTATION: &str = "trace.flotilla.io/gpu-spec";
/// Pod annotation: the phase the trace recorded (`Running`, `Succeeded`, `Failed`, `Pending`).
pub const PHASE_ANNOTATION: &str = "trace.flotilla.io/phase";

const NODE_COLUMNS: [&str; 5] = ["sn", "cpu_milli", "memory_mib", "gpu", "model"];
const NODE_REQUIRED: usize = 4;
const POD_COLUMNS: [&str; 11] = [
    "name",
    "cpu_milli",
    "memory_mib",
    "num_gpu",
    "gpu_milli",
    "gpu_spec",
    "qos",
    "pod_phase",
    "creation_time",
    "deletion_time",
    "scheduled_time",
];
const POD_REQUIRED: usize = 5;
const PHASES: [&str; 5] = ["Pending", "Running", "Succeeded", "Failed", "Unknown"];

/// Reads a node list and a pod list; `limit` keeps the first that many pod rows.
pub fn load(nodes: &Path, pods: &Path, limit: Option<usize>) -> Result<Trace, TraceError> {
    let node_text = read(nodes)?;
    let pod_text = read(pods)?;
    parse(
        &nodes.display().to_string(),
        &node_text,
        &pods.display().to_string(),
        &pod_text,
        limit,
    )
}

/// Parses a node list and a pod list given as text; the file names are for errors.
pub fn parse(
    nodes_file: &str,
    nodes: &str,
    pods_file: &str,
    pods: &str,
    limit: Option<usize>,
) -> Result<Trace, TraceError> {
    let mut stats = TraceStats::default();
    let nodes = parse_nodes(nodes_file, nodes, &mut stats)?;
    let pods = parse_pods(pods_file, pods, limit, &mut stats)?;
    Ok(Trace { nodes, pods, stats })
}

/// Maps the header's column names to indices: `Some(i)` for each of `columns`, `None` for an
/// optional column the file lacks.
fn header<const N: usize>(
    file: &str,
    row: Option<Result<Row<'_>, TraceError>>,
    columns: [&str; N],
    required: usize,
) -> Result<[Option<usize>; N], TraceError> {
    let row = match row {
        Some(r) => r?,
        None => {
            return Err(TraceError::Row {
                file: file.to_string(),
                line: 1,
                column: 1,
                field: "header".into(),
                message: format!("empty file: expected a header row ({})", columns.join(",")),
            })
        }
    };
    let mut found = [None; N];
    for i in 0..row.len() {
        let name = row.get(i, "header")?;
        if let Some(c) = columns.iter().position(|c| *c == name) {
            found[c] = Some(i);
        }
    }
    for (c, name) in columns.iter().enumerate().take(required) {
        if found[c].is_none() {
            return Err(row.error(
                0,
                name,
                format!(
                    "missing column in the header row (expected {})",
                    columns.join(",")
                ),
            ));
        }
    }
    Ok(found)
}

fn col(found: &[Option<usize>], i: usize) -> usize {
    found[i].expect("required columns are checked in the header")
}

fn none_if_nan(text: &str) -> &str {
    // pandas writes missing strings as empty fields, or as `nan` in some exports.
    if text.eq_ignore_ascii_case("nan") {
        ""
    } else {
        text
    }
}

fn parse_nodes(file: &str, text: &str, stats: &mut TraceStats) -> Result<Vec<Node>, TraceError> {
    let mut it = rows(file, text);
    let cols = header(file, it.next(), NODE_COLUMNS, NODE_REQUIRED)?;
    let mut nodes = Vec::new();
    let mut seen: BTreeMap<String, usize> = BTreeMap::new();
    for row in it {
        let row = row?;
        stats.rows += 1;
        let (sn, cpu, mem, gpu) = (col(&cols, 0), col(&cols, 1), col(&cols, 2), col(&cols, 3));
        let name = row.get(sn, "sn")?;
        if name.is_empty() {
            return Err(row.error(sn, "sn", "missing value"));
        }
        if let Some(first) = seen.insert(name.to_string(), row.line()) {
            return Err(row.error(
                sn,
                "sn",
                format!("duplicate node {name:?} (first on line {first})"),
            ));
        }
        let mut capacity = ResourceList::new();
        capacity.insert("cpu".into(), milli(row.u64(cpu, "cpu_milli")?, &row, cpu)?);
        capacity.insert(
            "memory".into(),
            mib(row.u64(mem, "memory_mib")?, &row, mem, "memory_mib")?,
        );
        let gpus = row.u64(gpu, "gpu")?;
        if gpus > 0 {
            capacity.insert(GPU_RESOURCE.into(), whole(gpus, &row, gpu, "gpu")?);
            let milli = gpus.saturating_mul(u64::from(flotilla_scheduler::gpu::MILLI_PER_GPU));
            capacity.insert(GPU_MILLI_RESOURCE.into(), whole(milli, &row, gpu, "gpu")?);
        }
        let mut node = trace_node(name, capacity);
        node.metadata
            .labels
            .insert(SOURCE_LABEL.into(), FORMAT.into());
        if let Some(m) = cols[4] {
            let model = none_if_nan(row.get(m, "model")?);
            if !model.is_empty() {
                node.metadata
                    .labels
                    .insert(GPU_MODEL_LABEL.into(), model.to_string());
            }
        }
        if let Some(e) = first_invalid(node.clone().into()) {
            return Err(row.error(sn, "sn", format!("not a valid Node: {e}")));
        }
        nodes.push(node);
    }
    Ok(nodes)
}

fn milli(v: u64, row: &Row<'_>, i: usize) -> Result<Quantity, TraceError> {
    i64::try_from(v)
        .map(Quantity::from_milli)
        .map_err(|_| row.error(i, "cpu_milli", format!("value {v} is too large")))
}

fn mib(v: u64, row: &Row<'_>, i: usize, name: &str) -> Result<Quantity, TraceError> {
    v.checked_mul(1 << 20)
        .and_then(|b| i64::try_from(b).ok())
        .map(|b| Quantity::from_value(b, Format::BinarySI))
        .ok_or_else(|| row.error(i, name, format!("value {v} is too large")))
}

fn whole(v: u64, row: &Row<'_>, i: usize, name: &str) -> Result<Quantity, TraceError> {
    i64::try_from(v)
        .map(|v| Quantity::from_value(v, Format::DecimalSI))
        .map_err(|_| row.error(i, name, format!("value {v} is too large")))
}

fn parse_pods(
    file: &str,
    text: &str,
    limit: Option<usize>,
    stats: &mut TraceStats,
) -> Result<Vec<TracePod>, TraceError> {
    let mut it = rows(file, text);
    let cols = header(file, it.next(), POD_COLUMNS, POD_REQUIRED)?;
    // (creation time in seconds, pod) in file order; times are made relative at the end.
    let mut read: Vec<(u64, flotilla_model::api::Pod)> = Vec::new();
    let mut seen: BTreeMap<String, usize> = BTreeMap::new();
    // The row fields a pod's spec is built from, for the specs already validated: a pod of a
    // known shape needs only its metadata checked (`first_invalid_metadata`).
    let mut valid_shapes: HashSet<(u64, u64, u64, u64, String)> = HashSet::new();
    for row in it {
        let row = row?;
        stats.rows += 1;
        if limit.is_some_and(|l| read.len() >= l) {
            stats.skip("beyond limit");
            continue;
        }
        let name_i = col(&cols, 0);
        let name = row.get(name_i, "name")?;
        if name.is_empty() {
            return Err(row.error(name_i, "name", "missing value"));
        }
        if let Some(first) = seen.insert(name.to_string(), row.line()) {
            return Err(row.error(
                name_i,
                "name",
                format!("duplicate pod {name:?} (first on line {first})"),
            ));
        }
        let (cpu_i, mem_i, num_i, milli_i) =
            (col(&cols, 1), col(&cols, 2), col(&cols, 3), col(&cols, 4));
        let cpu = row.u64(cpu_i, "cpu_milli")?;
        let mem = row.u64(mem_i, "memory_mib")?;
        let num_gpu = row.u64(num_i, "num_gpu")?;
        let gpu_milli = row.u64(milli_i, "gpu_milli")?;
        if gpu_milli > 1000 {
            return Err(row.error(
                milli_i,
                "gpu_milli",
                format!("invalid value {gpu_milli}: must be at most 1000 (one whole GPU)"),
            ));
        }
        let mut requests = ResourceList::new();
        if cpu > 0 {
            requests.insert("cpu".into(), milli(cpu, &row, cpu_i)?);
        }
        if mem > 0 {
            requests.insert("memory".into(), mib(mem, &row, mem_i, "memory_mib")?);
        }
        // Whole GPUs: `num_gpu` devices. A GPU-sharing pod (num_gpu 1, gpu_milli < 1000) asks
        // for its share of one GPU in milli-GPUs.
        if num_gpu == 1 && gpu_milli > 0 && gpu_milli < 1000 {
            requests.insert(
                GPU_MILLI_RESOURCE.into(),
                whole(gpu_milli, &row, milli_i, "gpu_milli")?,
            );
        } else if num_gpu > 0 {
            requests.insert(GPU_RESOURCE.into(), whole(num_gpu, &row, num_i, "num_gpu")?);
        }
        let mut pod = trace_pod(name, requests);
        let meta = &mut pod.metadata;
        meta.labels.insert(SOURCE_LABEL.into(), FORMAT.into());
        if num_gpu > 0 {
            meta.annotations
                .insert(GPU_MILLI_ANNOTATION.into(), gpu_milli.to_string());
        }
        let text_col = |i: usize| -> Result<&str, TraceError> {
            match cols[i] {
                Some(c) => row.get(c, POD_COLUMNS[i]).map(none_if_nan),
                None => Ok(""),
            }
        };
        let spec = text_col(5)?;
        if !spec.is_empty() {
            meta.annotations
                .insert(GPU_SPEC_ANNOTATION.into(), spec.to_string());
            meta.annotations
                .insert(GPU_MODEL_ANNOTATION.into(), spec.to_string());
        }
        let qos = text_col(6)?;
        if !qos.is_empty() {
            meta.labels.insert(QOS_LABEL.into(), qos.to_string());
        }
        let phase = text_col(7)?;
        if !phase.is_empty() {
            if !PHASES.contains(&phase) {
                return Err(row.error(
                    col(&cols, 7),
                    "pod_phase",
                    format!(
                        "unsupported value {phase:?}: supported values: {}",
                        PHASES.map(|p| format!("{p:?}")).join(", ")
                    ),
                ));
            }
            meta.annotations
                .insert(PHASE_ANNOTATION.into(), phase.to_string());
            if phase == "Failed" {
                meta.annotations
                    .insert(EXIT_CODE_ANNOTATION.into(), "1".into());
            }
        }
        let created = match cols[8] {
            Some(c) => row.u64(c, "creation_time")?,
            None => 0,
        };
        if let Some(c) = cols[9] {
            if let Some(deleted) = row.opt_u64(c, "deletion_time")? {
                if deleted < created {
                    return Err(row.error(
                        c,
                        "deletion_time",
                        format!("{deleted} is before creation_time {created}"),
                    ));
                }
                meta.annotations.insert(
                    RUN_TIME_ANNOTATION.into(),
                    format!("{}s", deleted - created),
                );
            }
        }
        if let Some(c) = cols[10] {
            // Checked, not used: the simulated scheduler decides when a pod is bound.
            row.opt_u64(c, "scheduled_time")?;
        }
        if !spec.is_empty() {
            let models: Vec<String> = spec.split('|').map(|m| m.trim().to_string()).collect();
            pod.spec.affinity = Some(Affinity {
                node_affinity: Some(NodeAffinity {
                    required_during_scheduling_ignored_during_execution: Some(NodeSelector {
                        node_selector_terms: vec![NodeSelectorTerm {
                            match_expressions: vec![NodeSelectorRequirement {
                                key: GPU_MODEL_LABEL.into(),
                                operator: NodeSelectorOperator::In,
                                values: models,
                            }],
                            ..Default::default()
                        }],
                    }),
                    ..Default::default()
                }),
                ..Default::default()
            });
        }
        let shape = (cpu, mem, num_gpu, gpu_milli, spec.to_string());
        let invalid = if valid_shapes.contains(&shape) {
            first_invalid_metadata(&pod)
        } else {
            let invalid = first_invalid(Object::Pod(pod.clone()));
            if invalid.is_none() {
                valid_shapes.insert(shape);
            }
            invalid
        };
        if let Some(e) = invalid {
            return Err(row.error(name_i, "name", format!("not a valid Pod: {e}")));
        }
        read.push((created, pod));
    }
    let origin = read.iter().map(|(t, _)| *t).min().unwrap_or(0);
    let mut pods: Vec<TracePod> = read
        .into_iter()
        .map(|(t, pod)| TracePod {
            at: Duration::from_secs(t - origin),
            pod,
            delete_finished: false,
        })
        .collect();
    sort_by_arrival(&mut pods);
    Ok(pods)
}

#[cfg(test)]
mod tests {
    use super::*;

    const NODES: &str =
        "sn,cpu_milli,memory_mib,gpu,model\nn-0,32000,262144,0,\nn-1,96000,786432,8,V100M32\n";
    const PODS: &str = "name,cpu_milli,memory_mib,num_gpu,gpu_milli,gpu_spec,qos,pod_phase,creation_time,deletion_time,scheduled_time\n\
        p-0,88000,327680,8,1000,,Burstable,Succeeded,100,160,100\n\
        p-1,4000,15258,1,220,,BE,Failed,50,,\n\
        p-2,16000,32768,1,1000,V100M16|V100M32,LS,Running,70,75,71\n";

    #[test]
    fn nodes_and_pods_map_to_kubernetes_fields() {
        let t = parse("n.csv", NODES, "p.csv", PODS, None).expect("valid");
        assert_eq!(t.stats.rows, 5);
        let n1 = &t.nodes[1];
        assert_eq!(n1.status.capacity["cpu"], Quantity::from_milli(96_000));
        assert_eq!(n1.status.capacity["memory"].to_string(), "768Gi");
        assert_eq!(n1.status.capacity[GPU_RESOURCE].to_string(), "8");
        assert_eq!(n1.status.capacity[GPU_MILLI_RESOURCE].to_string(), "8k");
        assert_eq!(n1.status.capacity["pods"].to_string(), "110");
        assert_eq!(n1.metadata.labels[GPU_MODEL_LABEL], "V100M32");
        assert!(!t.nodes[0].status.capacity.contains_key(GPU_RESOURCE));
        assert!(!t.nodes[0].metadata.labels.contains_key(GPU_MODEL_LABEL));
        // Arrival order, relative to the earliest creation time.
        let names: Vec<_> = t
            .pods
            .iter()
            .map(|p| p.pod.metadata.name.as_str())
            .collect();
        assert_eq!(names, ["p-1", "p-2", "p-0"]);
        let at: Vec<_> = t.pods.iter().map(|p| p.at.as_secs()).collect();
        assert_eq!(at, [0, 20, 50]);
        let p1 = &t.pods[0].pod;
        let c = &p1.spec.containers[0];
        // A share of one GPU, in milli-GPUs.
        assert_eq!(c.resources.requests[GPU_MILLI_RESOURCE].to_string(), "220");
        assert_eq!(c.resources.limits[GPU_MILLI_RESOURCE].to_string(), "220");
        assert!(!c.resources.requests.contains_key(GPU_RESOURCE));
        assert_eq!(p1.metadata.annotations[GPU_MILLI_ANNOTATION], "220");
        assert_eq!(p1.metadata.annotations[EXIT_CODE_ANNOTATION], "1");
        assert!(!p1.metadata.annotations.contains_key(RUN_TIME_ANNOTATION));
        let p0 = &t.pods[2].pod;
        assert_eq!(p0.metadata.annotations[RUN_TIME_ANNOTATION], "60s");
        assert_eq!(
            p0.spec.containers[0].resources.requests[GPU_RESOURCE].to_string(),
            "8"
        );
        let p2 = &t.pods[1].pod;
        let term = &p2
            .spec
            .affinity
            .as_ref()
            .and_then(|a| a.node_affinity.as_ref())
            .and_then(|n| {
                n.required_during_scheduling_ignored_during_execution
                    .as_ref()
            })
            .expect("affinity")
            .node_selector_terms[0];
        assert_eq!(term.match_expressions[0].values, ["V100M16", "V100M32"]);
    }

    #[test]
    fn the_limit_keeps_the_first_rows() {
        let t = parse("n.csv", NODES, "p.csv", PODS, Some(2)).expect("valid");
        assert_eq!(t.pods.len(), 2);
        assert_eq!(t.stats.skipped["beyond limit"], 1);
    }

    #[test]
    fn five_column_pod_lists_arrive_at_the_start() {
        let pods = "name,cpu_milli,memory_mib,num_gpu,gpu_milli\np,1000,1024,2,1000\n";
        let t = parse("n.csv", NODES, "p.csv", pods, None).expect("valid");
        assert_eq!(t.pods[0].at, Duration::ZERO);
        assert!(!t.pods[0]
            .pod
            .metadata
            .annotations
            .contains_key(RUN_TIME_ANNOTATION));
    }

    #[test]
    fn bad_rows_name_the_file_line_and_column() {
        let err = |nodes: &str, pods: &str| {
            parse("n.csv", nodes, "p.csv", pods, None)
                .err()
                .map(|e| e.to_string())
                .unwrap_or_default()
        };
        assert_eq!(
            err("sn,cpu_milli,memory_mib,gpu,model\nn-0,32k,1,0,\n", PODS),
            "n.csv:2:5: cpu_milli: invalid value \"32k\": not a non-negative integer"
        );
        assert_eq!(
            err("sn,cpu,memory_mib,gpu\n", PODS),
            "n.csv:1:1: cpu_milli: missing column in the header row (expected sn,cpu_milli,memory_mib,gpu,model)"
        );
        assert_eq!(
            err("sn,cpu_milli,memory_mib,gpu,model\nN_0,1,1,0,\n", PODS),
            "n.csv:2:1: sn: not a valid Node: metadata.name: Invalid value: \"N_0\": a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')"
        );
        let pods = format!("{PODS}p-3,1,1,1,1200,,LS,Running,1,2,1\n");
        assert_eq!(
            err(NODES, &pods),
            "p.csv:5:11: gpu_milli: invalid value 1200: must be at most 1000 (one whole GPU)"
        );
        let pods = format!("{PODS}p-3,1,1,1,100,,LS,Running,9,2,1\n");
        assert_eq!(
            err(NODES, &pods),
            "p.csv:5:29: deletion_time: 2 is before creation_time 9"
        );
        let pods = format!("{PODS}p-3,1,1,1,100,,LS,Lost,9,12,1\n");
        assert!(err(NODES, &pods).starts_with("p.csv:5:19: pod_phase: unsupported value \"Lost\""));
        // A pod of a shape already checked still has its metadata checked.
        let pods =
            format!("{PODS}p-3,1,1,1,100,,LS,Running,9,12,1\nP_4,1,1,1,100,,LS,Running,9,12,1\n");
        assert!(
            err(NODES, &pods).starts_with(
                "p.csv:6:1: name: not a valid Pod: metadata.name: Invalid value: \"P_4\""
            ),
            "{}",
            err(NODES, &pods)
        );
        let pods = format!("{PODS}p-0,1,1,1,100,,LS,Running,9,12,1\n");
        assert_eq!(
            err(NODES, &pods),
            "p.csv:5:1: name: duplicate pod \"p-0\" (first on line 2)"
        );
    }
}
