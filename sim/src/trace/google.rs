//! The Google cluster-usage trace 2011 (`clusterdata-2011-2`), as documented in C. Reiss,
//! J. Wilkes and J. L. Hellerstein, "Google cluster-usage traces: format + schema" (Google,
//! 2014; the v2.1 document linked from `ClusterData2011_2.md` in `google/cluster-data`).
//!
//! Two CSV tables without a header row (the published files are gzipped and split in parts:
//! `zcat task_events/part-*.csv.gz > task_events.csv`):
//!
//! - `machine_events`: 1 timestamp (µs), 2 machine ID, 3 event type (0 ADD, 1 REMOVE,
//!   2 UPDATE), 4 platform ID, 5 CPUs, 6 memory;
//! - `task_events`: 1 timestamp (µs), 2 missing info, 3 job ID, 4 task index, 5 machine ID,
//!   6 event type (0 SUBMIT, 1 SCHEDULE, 2 EVICT, 3 FAIL, 4 FINISH, 5 KILL, 6 LOST,
//!   7 UPDATE_PENDING, 8 UPDATE_RUNNING), 7 user, 8 scheduling class, 9 priority, 10 CPU
//!   request, 11 memory request, 12 disk space request, 13 different-machine restriction.
//!
//! Capacities and requests are normalized in the trace (the largest machine has 1.0); they are
//! scaled by a [`Scale`] (by default 1.0 CPU = 16 cores, 1.0 memory = 64 GiB — a choice, not a
//! fact of the trace, which does not disclose the real sizes).
//!
//! The replay:
//!
//! - **Nodes** are the machines added at timestamp 0 (present when the trace starts), with the
//!   capacity of their last ADD or UPDATE at timestamp 0 and not removed at timestamp 0. Machine
//!   events after timestamp 0 (later additions, removals, capacity changes) are not replayed.
//!   A node is named `machine-<ID>`; its platform ID is kept in [`PLATFORM_ANNOTATION`].
//! - **Pods**: a task's first SUBMIT creates a Pod `task-<job ID>-<task index>` at that time
//!   (timestamps are replayed as they are: trace time 0 is the start of the run), with requests
//!   from that row. Its run time is the span from the task's first SCHEDULE to the first EVICT,
//!   FAIL, FINISH, KILL or LOST after it; a FINISH exits 0, the others exit 1. A task never
//!   scheduled, or still running at the end of the trace, runs to the end of the run.
//!   Resubmissions after an eviction or a failure, UPDATE events, the machine the trace placed
//!   the task on and the disk request are not replayed (rows are counted in the
//!   [`TraceStats`]).
//! - The scheduling class and priority become labels; the different-machine restriction becomes
//!   a required pod anti-affinity against the job's other pods on `kubernetes.io/hostname`.

use std::collections::BTreeMap;
use std::path::Path;

use flotilla_model::api::{Affinity, PodAffinityTerm, PodAntiAffinity};
use flotilla_model::quantity::Format;
use flotilla_model::{Duration, LabelSelector, Object, Quantity, ResourceList};

use super::{
    first_invalid, read, rows, sort_by_arrival, trace_node, trace_pod, Row, Trace, TraceError,
    TracePod, TraceStats, SOURCE_LABEL,
};
use crate::runtime_model::{EXIT_CODE_ANNOTATION, RUN_TIME_ANNOTATION};

/// The format's name in a scenario's `traces:` list.
pub const FORMAT: &str = "google-2011";
/// Node annotation: the machine's platform ID (an opaque hash in the trace).
pub const PLATFORM_ANNOTATION: &str = "trace.flotilla.io/platform";
/// Pod label: the task's job ID.
pub const JOB_LABEL: &str = "trace.flotilla.io/job";
/// Pod label: the task's scheduling class (0–3, latency sensitivity).
pub const SCHEDULING_CLASS_LABEL: &str = "trace.flotilla.io/scheduling-class";
/// Pod label: the task's priority (0–11).
pub const PRIORITY_LABEL: &str = "trace.flotilla.io/priority";
/// Pod annotation: the user (an opaque hash in the trace).
pub const USER_ANNOTATION: &str = "trace.flotilla.io/user";
/// Pod annotation: the event that ended the task's first run (`FINISH`, `FAIL` …).
pub const END_EVENT_ANNOTATION: &str = "trace.flotilla.io/end-event";

/// The trace's timestamp for an event after the end of the trace window (2⁶³ − 1).
const AFTER_END: u64 = i64::MAX as u64;

const MACHINE_COLUMNS: [&str; 6] = [
    "timestamp",
    "machine ID",
    "event type",
    "platform ID",
    "CPUs",
    "memory",
];
const TASK_COLUMNS: [&str; 13] = [
    "timestamp",
    "missing info",
    "job ID",
    "task index",
    "machine ID",
    "event type",
    "user",
    "scheduling class",
    "priority",
    "CPU request",
    "memory request",
    "disk space request",
    "different-machine restriction",
];
const TASK_EVENTS: [&str; 9] = [
    "SUBMIT",
    "SCHEDULE",
    "EVICT",
    "FAIL",
    "FINISH",
    "KILL",
    "LOST",
    "UPDATE_PENDING",
    "UPDATE_RUNNING",
];

/// What one normalized unit of the trace is in real resources.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Scale {
    /// Milli-CPUs of a normalized CPU capacity or request of 1.0 (default 16,000: 16 cores).
    pub cpu_milli_per_unit: u64,
    /// Bytes of a normalized memory capacity or request of 1.0 (default 64 GiB).
    pub memory_bytes_per_unit: u64,
}

impl Default for Scale {
    fn default() -> Self {
        Scale {
            cpu_milli_per_unit: 16_000,
            memory_bytes_per_unit: 64 << 30,
        }
    }
}

impl Scale {
    fn cpu(&self, normalized: f64) -> Quantity {
        Quantity::from_milli((normalized * self.cpu_milli_per_unit as f64).round() as i64)
    }

    fn memory(&self, normalized: f64) -> Quantity {
        let bytes = (normalized * self.memory_bytes_per_unit as f64).round() as i64;
        Quantity::from_value(bytes, Format::BinarySI)
    }
}

/// Reads `machine_events` and `task_events` files; `limit` keeps the first that many tasks
/// (in the order of their first SUBMIT).
pub fn load(
    machine_events: &Path,
    task_events: &Path,
    limit: Option<usize>,
    scale: Scale,
) -> Result<Trace, TraceError> {
    let machines = read(machine_events)?;
    let tasks = read(task_events)?;
    parse(
        &machine_events.display().to_string(),
        &machines,
        &task_events.display().to_string(),
        &tasks,
        limit,
        scale,
    )
}

/// Parses `machine_events` and `task_events` given as text; the file names are for errors.
pub fn parse(
    machines_file: &str,
    machines: &str,
    tasks_file: &str,
    tasks: &str,
    limit: Option<usize>,
    scale: Scale,
) -> Result<Trace, TraceError> {
    let mut stats = TraceStats::default();
    let nodes = parse_machines(machines_file, machines, scale, &mut stats)?;
    let pods = parse_tasks(tasks_file, tasks, limit, scale, &mut stats)?;
    Ok(Trace { nodes, pods, stats })
}

fn check_width(row: &Row<'_>, columns: &[&str]) -> Result<(), TraceError> {
    if row.len() == columns.len() {
        return Ok(());
    }
    let i = row.len().min(columns.len());
    Err(row.error(
        i,
        columns
            .get(i)
            .copied()
            .unwrap_or(columns[columns.len() - 1]),
        format!(
            "the row has {} fields, expected {}",
            row.len(),
            columns.len()
        ),
    ))
}

struct Machine {
    id: u64,
    platform: String,
    cpu: Option<f64>,
    memory: Option<f64>,
}

fn parse_machines(
    file: &str,
    text: &str,
    scale: Scale,
    stats: &mut TraceStats,
) -> Result<Vec<flotilla_model::api::Node>, TraceError> {
    let c = MACHINE_COLUMNS;
    // Machines present at time 0, in the order of their ADD.
    let mut machines: Vec<Machine> = Vec::new();
    let mut index: BTreeMap<u64, usize> = BTreeMap::new();
    for row in rows(file, text) {
        let row = row?;
        stats.rows += 1;
        check_width(&row, &c)?;
        let t = row.u64(0, c[0])?;
        let id = row.u64(1, c[1])?;
        let event = row.u64(2, c[2])?;
        if event > 2 {
            return Err(row.error(
                2,
                c[2],
                format!(
                    "unsupported value {event}: supported values: 0 (ADD), 1 (REMOVE), 2 (UPDATE)"
                ),
            ));
        }
        let platform = row.get(3, c[3])?.to_string();
        let cpu = row.opt_f64(4, c[4])?;
        let memory = row.opt_f64(5, c[5])?;
        if t != 0 {
            stats.skip("machine event after time 0");
            continue;
        }
        match (event, index.get(&id)) {
            (0, None) => {
                index.insert(id, machines.len());
                machines.push(Machine {
                    id,
                    platform,
                    cpu,
                    memory,
                });
            }
            (0 | 2, Some(&i)) => {
                let m = &mut machines[i];
                if !platform.is_empty() {
                    m.platform = platform;
                }
                m.cpu = cpu.or(m.cpu);
                m.memory = memory.or(m.memory);
            }
            (1, Some(&i)) => {
                // Removed at time 0: mark it gone (kept in place so indices stay valid).
                machines[i].cpu = None;
                machines[i].memory = None;
                index.remove(&id);
                stats.skip("machine removed at time 0");
            }
            _ => stats.skip("machine event for an unknown machine"),
        }
    }
    let mut nodes = Vec::new();
    for m in machines {
        if !index.contains_key(&m.id) {
            continue;
        }
        let (Some(cpu), Some(memory)) = (m.cpu, m.memory) else {
            stats.skip("machine without CPU or memory capacity");
            continue;
        };
        let mut capacity = ResourceList::new();
        capacity.insert("cpu".into(), scale.cpu(cpu));
        capacity.insert("memory".into(), scale.memory(memory));
        let mut node = trace_node(&format!("machine-{}", m.id), capacity);
        node.metadata
            .labels
            .insert(SOURCE_LABEL.into(), FORMAT.into());
        if !m.platform.is_empty() {
            node.metadata
                .annotations
                .insert(PLATFORM_ANNOTATION.into(), m.platform);
        }
        nodes.push(node);
    }
    Ok(nodes)
}

struct Task {
    submitted: u64,
    pod: flotilla_model::api::Pod,
    scheduled: Option<u64>,
    ended: Option<(u64, usize)>,
}

fn parse_tasks(
    file: &str,
    text: &str,
    limit: Option<usize>,
    scale: Scale,
    stats: &mut TraceStats,
) -> Result<Vec<TracePod>, TraceError> {
    let c = TASK_COLUMNS;
    let mut tasks: Vec<Task> = Vec::new();
    let mut index: BTreeMap<(u64, u64), usize> = BTreeMap::new();
    for row in rows(file, text) {
        let row = row?;
        stats.rows += 1;
        check_width(&row, &c)?;
        let t = row.u64(0, c[0])?;
        let job = row.u64(2, c[2])?;
        let task_index = row.u64(3, c[3])?;
        let event = row.u64(5, c[5])? as usize;
        if event >= TASK_EVENTS.len() {
            return Err(row.error(
                5,
                c[5],
                format!(
                    "unsupported value {event}: supported values: 0 to 8 ({})",
                    TASK_EVENTS.join(", ")
                ),
            ));
        }
        if t == AFTER_END {
            stats.skip("task event after the end of the trace");
            continue;
        }
        let known = index.get(&(job, task_index)).copied();
        match (TASK_EVENTS[event], known) {
            ("SUBMIT", None) => {
                if limit.is_some_and(|l| tasks.len() >= l) {
                    stats.skip("beyond limit");
                    continue;
                }
                let pod = task_pod(&row, job, task_index, scale)?;
                index.insert((job, task_index), tasks.len());
                tasks.push(Task {
                    submitted: t,
                    pod,
                    scheduled: None,
                    ended: None,
                });
            }
            ("SUBMIT", Some(_)) => stats.skip("resubmission"),
            (_, None) => stats.skip("event of a task not replayed"),
            ("SCHEDULE", Some(i)) if tasks[i].scheduled.is_none() => {
                tasks[i].scheduled = Some(t.max(tasks[i].submitted));
            }
            ("EVICT" | "FAIL" | "FINISH" | "KILL" | "LOST", Some(i))
                if tasks[i].scheduled.is_some() && tasks[i].ended.is_none() =>
            {
                tasks[i].ended = Some((t, event));
            }
            ("UPDATE_PENDING" | "UPDATE_RUNNING", Some(_)) => stats.skip("update"),
            _ => stats.skip("event after the task's first run"),
        }
    }
    let mut pods: Vec<TracePod> = tasks
        .into_iter()
        .map(|task| {
            let mut pod = task.pod;
            if let (Some(start), Some((end, event))) = (task.scheduled, task.ended) {
                let a = &mut pod.metadata.annotations;
                a.insert(
                    RUN_TIME_ANNOTATION.into(),
                    format!("{}us", end.saturating_sub(start)),
                );
                a.insert(
                    EXIT_CODE_ANNOTATION.into(),
                    if TASK_EVENTS[event] == "FINISH" {
                        "0"
                    } else {
                        "1"
                    }
                    .into(),
                );
                a.insert(END_EVENT_ANNOTATION.into(), TASK_EVENTS[event].into());
            }
            TracePod {
                at: Duration::from_micros(task.submitted),
                pod,
                delete_finished: false,
            }
        })
        .collect();
    sort_by_arrival(&mut pods);
    Ok(pods)
}

fn task_pod(
    row: &Row<'_>,
    job: u64,
    task_index: u64,
    scale: Scale,
) -> Result<flotilla_model::api::Pod, TraceError> {
    let c = TASK_COLUMNS;
    let mut requests = ResourceList::new();
    if let Some(cpu) = row.opt_f64(9, c[9])? {
        let q = scale.cpu(cpu);
        if !q.is_zero() {
            requests.insert("cpu".into(), q);
        }
    }
    if let Some(memory) = row.opt_f64(10, c[10])? {
        let q = scale.memory(memory);
        if !q.is_zero() {
            requests.insert("memory".into(), q);
        }
    }
    row.opt_f64(11, c[11])?;
    let class = row.opt_u64(7, c[7])?;
    let priority = row.opt_u64(8, c[8])?;
    let different_machine = row.opt_u64(12, c[12])?;
    if different_machine.is_some_and(|v| v > 1) {
        return Err(row.error(12, c[12], "unsupported value: supported values: 0, 1"));
    }
    let mut pod = trace_pod(&format!("task-{job}-{task_index}"), requests);
    let meta = &mut pod.metadata;
    meta.labels.insert(SOURCE_LABEL.into(), FORMAT.into());
    meta.labels.insert(JOB_LABEL.into(), job.to_string());
    if let Some(v) = class {
        meta.labels
            .insert(SCHEDULING_CLASS_LABEL.into(), v.to_string());
    }
    if let Some(v) = priority {
        meta.labels.insert(PRIORITY_LABEL.into(), v.to_string());
    }
    let user = row.get(6, c[6])?;
    if !user.is_empty() {
        meta.annotations
            .insert(USER_ANNOTATION.into(), user.to_string());
    }
    if different_machine == Some(1) {
        let mut selector = LabelSelector::default();
        selector
            .match_labels
            .insert(JOB_LABEL.into(), job.to_string());
        pod.spec.affinity = Some(Affinity {
            pod_anti_affinity: Some(PodAntiAffinity {
                required_during_scheduling_ignored_during_execution: vec![PodAffinityTerm {
                    label_selector: Some(selector),
                    topology_key: "kubernetes.io/hostname".into(),
                    ..Default::default()
                }],
                ..Default::default()
            }),
            ..Default::default()
        });
    }
    if let Some(e) = first_invalid(Object::Pod(pod.clone())) {
        return Err(row.error(2, c[2], format!("not a valid Pod: {e}")));
    }
    Ok(pod)
}

#[cfg(test)]
mod tests {
    use super::*;

    const MACHINES: &str = "0,1,0,p1,0.5,0.25\n0,2,0,p2,1,1\n0,3,0,p1,0.5,\n0,3,2,,,0.5\n0,4,0,p1,0.5,0.5\n0,4,1,,,\n900000000,5,0,p1,0.5,0.5\n";
    const TASKS: &str = "\
0,,7,0,,0,u1,2,9,0.0625,0.03125,0.001,0
0,,7,1,,0,u1,2,9,0.0625,0.03125,0.001,1
0,,7,0,1,1,u1,2,9,0.0625,0.03125,0.001,0
600000000,,7,0,1,4,u1,2,9,0.0625,0.03125,0.001,0
5000000,,8,0,,0,u2,0,0,,,,
6000000,,8,0,2,1,u2,0,0,,,,
7500000,,8,0,2,3,u2,0,0,,,,
7600000,,8,0,,0,u2,0,0,,,,
9223372036854775807,,7,1,,4,u1,2,9,,,,
";

    #[test]
    fn machines_at_time_zero_become_nodes() {
        let t = parse("m.csv", MACHINES, "t.csv", "", None, Scale::default()).expect("valid");
        let names: Vec<_> = t.nodes.iter().map(|n| n.metadata.name.as_str()).collect();
        assert_eq!(names, ["machine-1", "machine-2", "machine-3"]);
        let n1 = &t.nodes[0].status.capacity;
        assert_eq!(n1["cpu"].to_string(), "8");
        assert_eq!(n1["memory"].to_string(), "16Gi");
        assert_eq!(t.nodes[2].status.capacity["memory"].to_string(), "32Gi");
        assert_eq!(t.nodes[0].metadata.annotations[PLATFORM_ANNOTATION], "p1");
        assert_eq!(t.stats.skipped["machine event after time 0"], 1);
        assert_eq!(t.stats.skipped["machine removed at time 0"], 1);
    }

    #[test]
    fn a_task_runs_from_its_first_schedule_to_its_end() {
        let t = parse("m.csv", MACHINES, "t.csv", TASKS, None, Scale::default()).expect("valid");
        let names: Vec<_> = t
            .pods
            .iter()
            .map(|p| p.pod.metadata.name.as_str())
            .collect();
        assert_eq!(names, ["task-7-0", "task-7-1", "task-8-0"]);
        let p = &t.pods[0].pod;
        assert_eq!(p.metadata.annotations[RUN_TIME_ANNOTATION], "600000000us");
        assert_eq!(p.metadata.annotations[EXIT_CODE_ANNOTATION], "0");
        assert_eq!(p.metadata.labels[PRIORITY_LABEL], "9");
        let r = &p.spec.containers[0].resources.requests;
        assert_eq!(r["cpu"].to_string(), "1");
        assert_eq!(r["memory"].to_string(), "2Gi");
        // Submitted, never scheduled: runs to the end; different-machine restriction.
        let p = &t.pods[1].pod;
        assert!(!p.metadata.annotations.contains_key(RUN_TIME_ANNOTATION));
        assert!(p
            .spec
            .affinity
            .as_ref()
            .is_some_and(|a| a.pod_anti_affinity.is_some()));
        let p = &t.pods[2];
        assert_eq!(p.at, Duration::from_secs(5));
        assert_eq!(p.pod.metadata.annotations[RUN_TIME_ANNOTATION], "1500000us");
        assert_eq!(p.pod.metadata.annotations[EXIT_CODE_ANNOTATION], "1");
        assert_eq!(p.pod.metadata.annotations[END_EVENT_ANNOTATION], "FAIL");
        assert!(p.pod.spec.containers[0].resources.requests.is_empty());
        assert_eq!(t.stats.skipped["resubmission"], 1);
        assert_eq!(t.stats.skipped["task event after the end of the trace"], 1);
        let limited =
            parse("m.csv", MACHINES, "t.csv", TASKS, Some(1), Scale::default()).expect("valid");
        assert_eq!(limited.pods.len(), 1);
        // The SUBMITs of 7-1 and 8-0 and the resubmission of 8-0.
        assert_eq!(limited.stats.skipped["beyond limit"], 3);
    }

    #[test]
    fn bad_rows_name_the_file_line_and_column() {
        let err = |m: &str, t: &str| {
            parse("m.csv", m, "t.csv", t, None, Scale::default())
                .err()
                .map(|e| e.to_string())
                .unwrap_or_default()
        };
        assert_eq!(
            err("0,1,0,p,0.5,x\n", ""),
            "m.csv:1:13: memory: invalid value \"x\": not a non-negative number"
        );
        assert_eq!(
            err("0,1,0,p,0.5\n", ""),
            "m.csv:1:12: memory: the row has 5 fields, expected 6"
        );
        assert!(
            err("0,1,3,p,0.5,0.5\n", "").starts_with("m.csv:1:5: event type: unsupported value 3")
        );
        assert_eq!(
            err(MACHINES, "0,,7,x,,0,u,0,0,,,,0\n"),
            "t.csv:1:6: task index: invalid value \"x\": not a non-negative integer"
        );
        assert!(err(MACHINES, "0,,7,1,,9,u,0,0,,,,0\n")
            .starts_with("t.csv:1:9: event type: unsupported value 9"));
    }
}
