//! Scenario files: what a simulation run does (`apiVersion: sim.flotilla.io/v1`,
//! `kind: Scenario`).
//!
//! ```yaml
//! apiVersion: sim.flotilla.io/v1
//! kind: Scenario
//! metadata: {name: demo}
//! spec:
//!   seed: 42
//!   duration: 30m
//!   sampleInterval: 1m
//!   nodePools:
//!   - name: general
//!     count: 100
//!     zones: [zone-a, zone-b, zone-c]
//!     capacity: {cpu: "16", memory: 64Gi, pods: "110"}
//!     labels: {pool: general}
//!   runtime: {pullBandwidth: 100Mi, defaultImageSize: 200Mi}
//!   controlPlane: {apiWriteLatency: 5ms, watchDelay: 10ms, schedulerTimePerNode: 2us}
//!   workloads:
//!   - at: 0s
//!     manifests: |
//!       apiVersion: apps/v1
//!       kind: Deployment
//!       ...
//!   arrivals:
//!   - name: batch
//!     ratePerMinute: 20
//!     start: 1m
//!     stop: 20m
//!     runTime: {exponential: 2m}
//!     template: |
//!       apiVersion: batch/v1
//!       kind: Job
//!       ...
//!   traces:
//!   - {format: alibaba-v2023, nodes: openb_node_list_all_node.csv, pods: openb_pod_list_default.csv}
//!   - {format: google-2011, machineEvents: machine_events.csv, taskEvents: task_events.csv, limit: 1000}
//! ```
//!
//! Trace files are read when the scenario is checked, from paths relative to the scenario
//! file; their nodes join the node pools' and their pods arrive at their times (see
//! [`crate::trace`]).
//!
//! A scenario is checked completely before a run starts: unknown fields, wrong types, bad
//! durations and quantities and invalid embedded manifests are errors that name the file, the
//! line and the field.

use std::collections::BTreeMap;
use std::path::Path;

use flotilla_model::api::{Node, Taint};
use flotilla_model::{Duration, Object, ObjectMeta, Quantity};
use serde::Deserialize;

/// A scenario file's top level.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct ScenarioFile {
    /// Must be `sim.flotilla.io/v1`.
    pub api_version: String,
    /// Must be `Scenario`.
    pub kind: String,
    /// The scenario's name.
    #[serde(default)]
    pub metadata: ScenarioMeta,
    /// What happens.
    pub spec: ScenarioSpec,
}

/// A scenario's metadata.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScenarioMeta {
    /// The name, for reports.
    #[serde(default)]
    pub name: String,
}

/// What a run does.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct ScenarioSpec {
    /// The run's seed (overridden by `--seed`).
    #[serde(default)]
    pub seed: u64,
    /// How much virtual time the run covers (`90s`, `30m`, `2h`).
    pub duration: String,
    /// How often metrics are sampled (default `1m`).
    #[serde(default)]
    pub sample_interval: Option<String>,
    /// The nodes (none when a trace brings them).
    #[serde(default)]
    pub node_pools: Vec<NodePool>,
    /// A KubeSchedulerConfiguration (YAML text) for the scheduler; default profile otherwise.
    #[serde(default)]
    pub scheduler_config: Option<String>,
    /// The virtual runtime's timing.
    #[serde(default)]
    pub runtime: RuntimeSpec,
    /// The control plane's timing; when absent, the control plane takes no time (see
    /// [`ControlPlane`]).
    #[serde(default)]
    pub control_plane: Option<ControlPlaneSpec>,
    /// Manifests applied at given times (`kubectl apply`: a later apply of the same object
    /// updates it, e.g. a new image rolls a Deployment out).
    #[serde(default)]
    pub workloads: Vec<Workload>,
    /// Arrival processes stamping objects from templates.
    #[serde(default)]
    pub arrivals: Vec<Arrival>,
    /// Public cluster traces to replay: their nodes join the pools', their pods arrive at
    /// their times.
    #[serde(default)]
    pub traces: Vec<TraceSource>,
    /// Faults: node crashes, failures by MTBF/MTTR, zone outages, partitions, kubelet
    /// restarts (see [`crate::faults`]).
    #[serde(default)]
    pub faults: Vec<FaultSpec>,
    /// Offered load per Service, measured for the HPA (see [`crate::load`]).
    #[serde(default)]
    pub load: Vec<LoadSpec>,
    /// How often the pods behind a Service with a load curve are measured (default `15s`, the
    /// metrics server's resolution).
    #[serde(default)]
    pub metrics_interval: Option<String>,
}

/// One fault: exactly one of the fields.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct FaultSpec {
    /// Nodes crash at a time, and come back `recoverAfter` later if given.
    #[serde(default)]
    pub node_crash: Option<NodeCrashSpec>,
    /// A pool's nodes fail and recover at random, by MTBF and MTTR.
    #[serde(default)]
    pub node_failures: Option<NodeFailuresSpec>,
    /// Every node of a zone crashes, and comes back after `duration`.
    #[serde(default)]
    pub zone_outage: Option<ZoneOutageSpec>,
    /// Nodes lose the control plane (heartbeats stop, containers keep running) for `duration`.
    #[serde(default)]
    pub partition: Option<PartitionSpec>,
    /// Kubelets restart: silent for `duration` (default `5s`), containers keep running.
    #[serde(default)]
    pub kubelet_restart: Option<KubeletRestartSpec>,
}

/// `nodeCrash`: which nodes (`nodes`, or `count` of a `pool` or a `zone`), when, and whether
/// they come back.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct NodeCrashSpec {
    /// These nodes.
    #[serde(default)]
    pub nodes: Vec<String>,
    /// Nodes of this pool.
    #[serde(default)]
    pub pool: Option<String>,
    /// Nodes of this zone.
    #[serde(default)]
    pub zone: Option<String>,
    /// How many of the pool's or zone's nodes, drawn at random (default: all).
    #[serde(default)]
    pub count: Option<u32>,
    /// When.
    pub at: String,
    /// When they come back, after the crash (default: never).
    #[serde(default)]
    pub recover_after: Option<String>,
}

/// `nodeFailures`: random failures of a pool's nodes.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct NodeFailuresSpec {
    /// The pool.
    pub pool: String,
    /// Mean time between failures of one node (`24h`).
    pub mtbf: String,
    /// Mean time to repair (`10m`).
    pub mttr: String,
}

/// `zoneOutage`: a whole zone down for a while.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct ZoneOutageSpec {
    /// The zone (label `topology.kubernetes.io/zone`).
    pub zone: String,
    /// When.
    pub at: String,
    /// How long.
    pub duration: String,
}

/// `partition`: nodes cut off from the control plane.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct PartitionSpec {
    /// These nodes.
    #[serde(default)]
    pub nodes: Vec<String>,
    /// Nodes of this pool.
    #[serde(default)]
    pub pool: Option<String>,
    /// Nodes of this zone.
    #[serde(default)]
    pub zone: Option<String>,
    /// How many of the pool's or zone's nodes, drawn at random (default: all).
    #[serde(default)]
    pub count: Option<u32>,
    /// When.
    pub at: String,
    /// How long until it heals.
    pub duration: String,
}

/// `kubeletRestart`: kubelets silent for a moment.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct KubeletRestartSpec {
    /// These nodes.
    #[serde(default)]
    pub nodes: Vec<String>,
    /// Nodes of this pool.
    #[serde(default)]
    pub pool: Option<String>,
    /// Nodes of this zone.
    #[serde(default)]
    pub zone: Option<String>,
    /// How many of the pool's or zone's nodes, drawn at random (default: all).
    #[serde(default)]
    pub count: Option<u32>,
    /// When.
    pub at: String,
    /// How long the kubelet is away (default `5s`).
    #[serde(default)]
    pub duration: Option<String>,
}

/// A point of a rate curve: exactly one of `rps` and `ratePerMinute`.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct CurvePoint {
    /// When (since the start of the run).
    pub at: String,
    /// The rate per second.
    #[serde(default)]
    pub rps: Option<f64>,
    /// The rate per minute.
    #[serde(default)]
    pub rate_per_minute: Option<f64>,
}

/// The offered load of a Service.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct LoadSpec {
    /// The Service's name; a workload must create it.
    pub service: String,
    /// Its namespace (default `default`).
    #[serde(default)]
    pub namespace: Option<String>,
    /// Requests per second over time.
    pub curve: Vec<CurvePoint>,
    /// CPU per request per second (`2m`).
    pub cpu_per_request: String,
    /// CPU a running pod uses without traffic (default `0`).
    #[serde(default)]
    pub base_cpu: Option<String>,
    /// Memory a running pod uses (default `0`).
    #[serde(default)]
    pub base_memory: Option<String>,
}

/// A trace to replay. Which fields apply depends on `format`:
///
/// - `alibaba-v2023`: `nodes` and `pods` (the `openb_node_list_*.csv` and
///   `openb_pod_list_*.csv` files);
/// - `google-2011`: `machineEvents` and `taskEvents` (uncompressed `machine_events` and
///   `task_events` CSV files), and optionally `cpuPerUnit` and `memoryPerUnit`.
///
/// Paths are relative to the scenario file.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct TraceSource {
    /// `alibaba-v2023` or `google-2011`.
    pub format: String,
    /// Alibaba: the node list.
    #[serde(default)]
    pub nodes: Option<String>,
    /// Alibaba: the pod list.
    #[serde(default)]
    pub pods: Option<String>,
    /// Google: the machine events.
    #[serde(default)]
    pub machine_events: Option<String>,
    /// Google: the task events.
    #[serde(default)]
    pub task_events: Option<String>,
    /// Replay only the first this many pods (Alibaba pod rows; Google tasks, in the order of
    /// their first SUBMIT). Nodes are not limited.
    #[serde(default)]
    pub limit: Option<usize>,
    /// Delete each pod once it has finished, as the trace's cluster deleted it (default
    /// `false`: finished pods stay in the store as Succeeded or Failed). Long replays run much
    /// faster with it, since the kubelets and the scheduler then carry only live pods.
    #[serde(default)]
    pub delete_finished: bool,
    /// Google: the CPU quantity of a normalized capacity or request of 1.0 (default `"16"`).
    #[serde(default)]
    pub cpu_per_unit: Option<String>,
    /// Google: the memory quantity of a normalized capacity or request of 1.0 (default
    /// `64Gi`).
    #[serde(default)]
    pub memory_per_unit: Option<String>,
}

/// A pool of identical nodes.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct NodePool {
    /// Node names are `<name>-<index>`.
    pub name: String,
    /// How many nodes.
    pub count: u32,
    /// Capacity per node (`cpu`, `memory`, `pods`, extended resources such as
    /// `nvidia.com/gpu`); allocatable equals capacity.
    pub capacity: BTreeMap<String, String>,
    /// Labels of every node.
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    /// Taints of every node.
    #[serde(default)]
    pub taints: Vec<Taint>,
    /// Zones the nodes are spread over round-robin (label `topology.kubernetes.io/zone`).
    #[serde(default)]
    pub zones: Vec<String>,
    /// Images every node of the pool holds from the start.
    #[serde(default)]
    pub images: Vec<String>,
}

/// The virtual runtime's timing; every field optional.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct RuntimeSpec {
    /// Pull bandwidth per node, a quantity of bytes per second (`100Mi`).
    #[serde(default)]
    pub pull_bandwidth: Option<String>,
    /// Size of images not listed in `imageSizes` (`200Mi`).
    #[serde(default)]
    pub default_image_size: Option<String>,
    /// Sizes of named images.
    #[serde(default)]
    pub image_sizes: BTreeMap<String, String>,
    /// Time to create a sandbox (`500ms`).
    #[serde(default)]
    pub sandbox_latency: Option<String>,
    /// Time to start a container (`300ms`).
    #[serde(default)]
    pub container_start_latency: Option<String>,
    /// Time a container takes to exit after SIGTERM (`1s`).
    #[serde(default)]
    pub termination_delay: Option<String>,
}

/// The control plane's timing; every field optional (zero when absent).
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct ControlPlaneSpec {
    /// How long the API server takes to commit a write (`5ms`).
    #[serde(default)]
    pub api_write_latency: Option<String>,
    /// How long a committed change takes to reach a watcher (`10ms`).
    #[serde(default)]
    pub watch_delay: Option<String>,
    /// How long the scheduler takes per node it evaluates for a pod (`2us`).
    #[serde(default)]
    pub scheduler_time_per_node: Option<String>,
}

/// The control-plane timing model, checked (`spec.controlPlane`).
///
/// A change reaches the scheduler and the kubelets `apiWriteLatency + watchDelay` after it was
/// written: a new pod reaches the scheduler, and its binding its kubelet, that much later. The
/// two are kept apart in the scenario because they are measured apart, but only their sum
/// matters to the model (no writer waits for its own write here). The scheduler decides one
/// pod at a time, taking `schedulerTimePerNode` per node it evaluated (ran the Filter plugins
/// on), and writes the decision when it is done. The controllers see every change at once:
/// their reconciles rely on a current view (they keep no client-go expectations), so their
/// hops (Deployment → ReplicaSet → Pods) take no time. The runtime's own latencies are
/// `spec.runtime`'s. See [`flotilla_controllers::cluster::ControlPlaneTiming`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ControlPlane {
    /// How long the API server takes to commit a write.
    pub api_write_latency: Duration,
    /// How long a committed change takes to reach a watcher.
    pub watch_delay: Duration,
    /// The scheduler's decision time per node evaluated.
    pub scheduler_time_per_node: Duration,
}

/// Manifests applied at a time.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Workload {
    /// When (virtual time since the start).
    pub at: String,
    /// The manifests, as YAML text.
    pub manifests: String,
}

/// A Poisson arrival process stamping objects from a template: at a constant rate
/// (`ratePerMinute`) or at a rate that follows a curve (`rateCurve`, a non-homogeneous Poisson
/// process sampled by thinning).
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Arrival {
    /// The process's name; stamped objects are named `<name>-<n>`.
    pub name: String,
    /// Mean arrivals per minute (or `rateCurve`).
    #[serde(default)]
    pub rate_per_minute: Option<f64>,
    /// Arrivals per minute (or per second) over time, instead of `ratePerMinute`.
    #[serde(default)]
    pub rate_curve: Option<Vec<CurvePoint>>,
    /// When arrivals start (default `0s`).
    #[serde(default)]
    pub start: Option<String>,
    /// When they stop (default: the end of the run).
    #[serde(default)]
    pub stop: Option<String>,
    /// How long the pods' containers run.
    #[serde(default)]
    pub run_time: Option<RunTime>,
    /// One Pod or Job manifest (YAML text).
    pub template: String,
}

/// A run-time distribution: exactly one of the fields.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct RunTime {
    /// Always this long.
    #[serde(default)]
    pub fixed: Option<String>,
    /// Exponentially distributed with this mean.
    #[serde(default)]
    pub exponential: Option<String>,
    /// Uniform between two durations.
    #[serde(default)]
    pub uniform: Option<UniformRunTime>,
}

/// Bounds of a uniform run time.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct UniformRunTime {
    /// Shortest.
    pub min: String,
    /// Longest.
    pub max: String,
}

/// A checked, ready-to-run scenario.
#[derive(Clone, Debug)]
pub struct Scenario {
    /// The name.
    pub name: String,
    /// The seed.
    pub seed: u64,
    /// The run's length.
    pub duration: Duration,
    /// The metrics sampling interval.
    pub sample_interval: Duration,
    /// The nodes, with the images each starts with.
    pub nodes: Vec<(Node, Vec<String>)>,
    /// The scheduler configuration text, if any.
    pub scheduler_config: Option<String>,
    /// The runtime timing.
    pub timing: crate::runtime_model::RuntimeTiming,
    /// The control plane's timing, when the scenario models it (`spec.controlPlane`).
    pub control_plane: Option<ControlPlane>,
    /// Objects to apply, with their times, in time order (stable).
    pub workloads: Vec<(Duration, Vec<Object>)>,
    /// Arrival processes.
    pub arrivals: Vec<ArrivalProcess>,
    /// Pods replayed from traces, in arrival order (their nodes are in `nodes`).
    pub trace_pods: Vec<crate::trace::TracePod>,
    /// Scheduled faults, in the scenario's order.
    pub faults: Vec<crate::faults::Fault>,
    /// Random failures per pool.
    pub node_failures: Vec<crate::faults::NodeFailures>,
    /// Offered load per Service.
    pub load: Vec<crate::load::ServiceLoad>,
    /// How often the pods behind a loaded Service are measured.
    pub metrics_interval: Duration,
}

/// A checked arrival process.
#[derive(Clone, Debug)]
pub struct ArrivalProcess {
    /// The name.
    pub name: String,
    /// Mean arrivals per second; with a curve, the curve's largest rate between `start` and
    /// `stop` (the thinning bound).
    pub rate_per_second: f64,
    /// The rate over time, per second, if it changes.
    pub rate_curve: Option<crate::load::RateCurve>,
    /// Start.
    pub start: Duration,
    /// Stop.
    pub stop: Duration,
    /// Run-time distribution (`None`: run until stopped).
    pub run_time: Option<RunTimeDistribution>,
    /// The template object.
    pub template: Object,
}

/// A checked run-time distribution.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum RunTimeDistribution {
    /// Always this long.
    Fixed(Duration),
    /// Exponential with this mean.
    Exponential(Duration),
    /// Uniform in [min, max].
    Uniform(Duration, Duration),
}

/// Why a scenario cannot run.
#[derive(Debug, thiserror::Error)]
pub enum ScenarioError {
    /// The file could not be read.
    #[error("{file}: {source}")]
    Read {
        /// The file.
        file: String,
        /// The OS error.
        source: std::io::Error,
    },
    /// The YAML does not describe a scenario.
    #[error("{file}:{line}:{column}: {field}: {message}")]
    Decode {
        /// The file.
        file: String,
        /// 1-based line.
        line: usize,
        /// 1-based column.
        column: usize,
        /// The field path (`spec.nodePools[0].count`).
        field: String,
        /// What is wrong.
        message: String,
    },
    /// A trace file the scenario names could not be read or holds a bad row.
    #[error("{file}: {field}: {source}")]
    Trace {
        /// The scenario file.
        file: String,
        /// The field path of the trace entry (`spec.traces[0]`).
        field: String,
        /// What is wrong, with the trace file, line and column.
        #[source]
        source: Box<crate::trace::TraceError>,
    },
    /// A value is decoded but wrong.
    #[error("{file}: {field}: {message}")]
    Invalid {
        /// The file.
        file: String,
        /// The field path.
        field: String,
        /// What is wrong.
        message: String,
    },
}

/// Parses a duration as Kubernetes and Go write them: a sequence of numbers with units `ns`,
/// `us`, `ms`, `s`, `m`, `h` (`1h30m`, `90s`, `500ms`, `1.5s`).
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let s = text.trim();
    if s == "0" {
        return Ok(Duration::ZERO);
    }
    if s.is_empty() {
        return Err("empty duration".into());
    }
    let mut total: u128 = 0;
    let mut rest = s;
    while !rest.is_empty() {
        let num_len = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .ok_or_else(|| format!("missing unit in duration {text:?}"))?;
        if num_len == 0 {
            return Err(format!("invalid duration {text:?}"));
        }
        let (num, after) = rest.split_at(num_len);
        let unit_len = after
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(after.len());
        let (unit, next) = after.split_at(unit_len);
        let scale: u128 = match unit {
            "ns" => 1,
            "us" | "µs" => 1_000,
            "ms" => 1_000_000,
            "s" => 1_000_000_000,
            "m" => 60_000_000_000,
            "h" => 3_600_000_000_000,
            _ => return Err(format!("unknown unit {unit:?} in duration {text:?}")),
        };
        let (int, frac) = num.split_once('.').unwrap_or((num, ""));
        if int.is_empty() && frac.is_empty() {
            return Err(format!("invalid duration {text:?}"));
        }
        let int: u128 = if int.is_empty() {
            0
        } else {
            int.parse()
                .map_err(|_| format!("invalid duration {text:?}"))?
        };
        let mut value = int * scale;
        let mut place = scale;
        for d in frac.chars() {
            let d = d
                .to_digit(10)
                .ok_or_else(|| format!("invalid duration {text:?}"))?;
            place /= 10;
            value += u128::from(d) * place;
        }
        total = total
            .checked_add(value)
            .ok_or_else(|| format!("duration {text:?} is too long"))?;
        rest = next;
    }
    u64::try_from(total)
        .map(Duration::from_nanos)
        .map_err(|_| format!("duration {text:?} is too long"))
}

/// The text of the built-in default scenario (`sim/scenarios/default.yaml`).
pub const DEFAULT_SCENARIO: &str = include_str!("../scenarios/default.yaml");

/// The text of the bundled scale scenario (`sim/scenarios/scale.yaml`).
pub const SCALE_SCENARIO: &str = include_str!("../scenarios/scale.yaml");

/// The scenarios built into the program, by the name `flotilla run NAME` knows them by.
pub const BUNDLED_SCENARIOS: [(&str, &str); 2] =
    [("default", DEFAULT_SCENARIO), ("scale", SCALE_SCENARIO)];

/// The built-in default scenario, checked.
pub fn builtin_default() -> Result<Scenario, ScenarioError> {
    parse("<built-in default scenario>", DEFAULT_SCENARIO)
}

/// Where a scenario comes from: `path` read as a file, or, when no such file exists and the
/// path is the name of a bundled scenario ([`BUNDLED_SCENARIOS`]), that scenario; the built-in
/// default when `path` is `None`. Returns the name errors give the source, and its text.
pub fn source(path: Option<&Path>) -> Result<(String, String), ScenarioError> {
    let Some(path) = path else {
        return Ok((
            "<built-in default scenario>".to_string(),
            DEFAULT_SCENARIO.to_string(),
        ));
    };
    let file = path.display().to_string();
    match std::fs::read_to_string(path) {
        Ok(text) => Ok((file, text)),
        Err(source) => {
            let bundled = (source.kind() == std::io::ErrorKind::NotFound)
                .then(|| BUNDLED_SCENARIOS.iter().find(|(name, _)| *name == file))
                .flatten();
            match bundled {
                Some((name, text)) => Ok((format!("<bundled scenario {name}>"), text.to_string())),
                None => Err(ScenarioError::Read { file, source }),
            }
        }
    }
}

/// Reads and checks a scenario file (or a bundled scenario by name, see [`source`]).
pub fn load(path: &Path) -> Result<Scenario, ScenarioError> {
    let (file, text) = source(Some(path))?;
    parse(&file, &text)
}

/// Checks a scenario given as text; `file` names it in errors.
pub fn parse(file: &str, text: &str) -> Result<Scenario, ScenarioError> {
    let registry = flotilla_scheduler::plugins::registry::default_registry();
    parse_with_registry(file, text, &registry)
}

/// Checks a scenario given as text, as [`parse`] does, with the scheduler plugins of
/// `registry` (the in-tree plugins and a researcher's own, see
/// [`Simulation::with_registry`](crate::engine::Simulation::with_registry)) for its
/// `schedulerConfig`.
pub fn parse_with_registry(
    file: &str,
    text: &str,
    registry: &flotilla_scheduler::config::Registry,
) -> Result<Scenario, ScenarioError> {
    let de = serde_yaml::Deserializer::from_str(text);
    let raw: ScenarioFile = serde_path_to_error::deserialize(de).map_err(|e| {
        let field = e.path().to_string();
        let inner = e.into_inner();
        let (line, column) = inner
            .location()
            .map(|l| (l.line(), l.column()))
            .unwrap_or((0, 0));
        let message = inner.to_string();
        // serde_yaml appends " at line L column C"; the location is already in front.
        let message = match message.find(" at line ") {
            Some(i) => message[..i].to_string(),
            None => message,
        };
        // serde_yaml may also put the path (or, for an unknown field, its parent's) in front.
        let message = match message.split_once(": ") {
            Some((path, rest)) if !path.is_empty() && field.starts_with(path) => rest.to_string(),
            _ => message,
        };
        ScenarioError::Decode {
            file: file.to_string(),
            line,
            column,
            field,
            message,
        }
    })?;
    check(file, raw, registry)
}

fn invalid(file: &str, field: impl Into<String>, message: impl Into<String>) -> ScenarioError {
    ScenarioError::Invalid {
        file: file.to_string(),
        field: field.into(),
        message: message.into(),
    }
}

fn duration_at(file: &str, field: &str, text: &str) -> Result<Duration, ScenarioError> {
    parse_duration(text).map_err(|m| invalid(file, field, m))
}

fn bytes_at(file: &str, field: &str, text: &str) -> Result<u64, ScenarioError> {
    let q: Quantity = text
        .parse()
        .map_err(|e| invalid(file, field, format!("{e}")))?;
    u64::try_from(q.value()).map_err(|_| invalid(file, field, "must not be negative"))
}

fn manifests_at(file: &str, field: &str, text: &str) -> Result<Vec<Object>, ScenarioError> {
    let checked = flotilla_model::manifest::check_str(&format!("{file} ({field})"), text);
    if let Some(e) = checked.errors.first() {
        return Err(invalid(file, field, e.to_string()));
    }
    Ok(checked
        .manifests
        .objects
        .into_iter()
        .map(|m| m.object)
        .collect())
}

fn run_time_at(file: &str, path: &str, r: &RunTime) -> Result<RunTimeDistribution, ScenarioError> {
    match (&r.fixed, &r.exponential, &r.uniform) {
        (Some(d), None, None) => Ok(RunTimeDistribution::Fixed(duration_at(
            file,
            &format!("{path}.fixed"),
            d,
        )?)),
        (None, Some(d), None) => Ok(RunTimeDistribution::Exponential(duration_at(
            file,
            &format!("{path}.exponential"),
            d,
        )?)),
        (None, None, Some(u)) => {
            let lo = duration_at(file, &format!("{path}.uniform.min"), &u.min)?;
            let hi = duration_at(file, &format!("{path}.uniform.max"), &u.max)?;
            if hi < lo {
                return Err(invalid(
                    file,
                    format!("{path}.uniform.max"),
                    "must not be less than min",
                ));
            }
            Ok(RunTimeDistribution::Uniform(lo, hi))
        }
        _ => Err(invalid(
            file,
            path,
            "exactly one of fixed, exponential or uniform must be given",
        )),
    }
}

fn check(
    file: &str,
    raw: ScenarioFile,
    registry: &flotilla_scheduler::config::Registry,
) -> Result<Scenario, ScenarioError> {
    if raw.api_version != "sim.flotilla.io/v1" {
        return Err(invalid(
            file,
            "apiVersion",
            format!(
                "unsupported value {:?}: supported values: \"sim.flotilla.io/v1\"",
                raw.api_version
            ),
        ));
    }
    if raw.kind != "Scenario" {
        return Err(invalid(
            file,
            "kind",
            format!(
                "unsupported value {:?}: supported values: \"Scenario\"",
                raw.kind
            ),
        ));
    }
    let spec = raw.spec;
    let duration = duration_at(file, "spec.duration", &spec.duration)?;
    let sample_interval = match &spec.sample_interval {
        Some(s) => duration_at(file, "spec.sampleInterval", s)?,
        None => Duration::from_secs(60),
    };
    if sample_interval.is_zero() {
        return Err(invalid(
            file,
            "spec.sampleInterval",
            "must be greater than 0",
        ));
    }
    let mut nodes = Vec::new();
    let mut names = std::collections::BTreeSet::new();
    for (i, pool) in spec.node_pools.iter().enumerate() {
        let path = format!("spec.nodePools[{i}]");
        if !names.insert(pool.name.clone()) {
            return Err(invalid(
                file,
                format!("{path}.name"),
                format!("Duplicate value: {:?}", pool.name),
            ));
        }
        let mut capacity = BTreeMap::new();
        for (r, q) in &pool.capacity {
            let q: Quantity = q
                .parse()
                .map_err(|e| invalid(file, format!("{path}.capacity[{r}]"), format!("{e}")))?;
            capacity.insert(r.clone(), q);
        }
        if !capacity.contains_key("pods") {
            capacity.insert("pods".into(), Quantity::from_milli(110_000));
        }
        for n in 0..pool.count {
            let name = format!("{}-{n}", pool.name);
            let mut meta = ObjectMeta::named("", &name);
            meta.labels = pool.labels.clone().into();
            meta.labels
                .insert("kubernetes.io/hostname".into(), name.clone());
            if !pool.zones.is_empty() {
                let zone = &pool.zones[n as usize % pool.zones.len()];
                meta.labels
                    .insert("topology.kubernetes.io/zone".into(), zone.clone());
            }
            let mut node = Node {
                metadata: meta,
                ..Default::default()
            };
            node.spec.taints = pool.taints.clone();
            node.status.capacity = capacity.clone();
            let object: Object = node.clone().into();
            let mut defaulted = object.clone();
            defaulted.set_defaults();
            if let Some(e) = defaulted.validate().first() {
                return Err(invalid(file, path.clone(), e.to_string()));
            }
            nodes.push((node, pool.images.clone()));
        }
    }
    let mut timing = crate::runtime_model::RuntimeTiming::default();
    let rt = &spec.runtime;
    if let Some(v) = &rt.pull_bandwidth {
        timing.pull_bandwidth = bytes_at(file, "spec.runtime.pullBandwidth", v)?.max(1);
    }
    if let Some(v) = &rt.default_image_size {
        timing.default_image_size = bytes_at(file, "spec.runtime.defaultImageSize", v)?;
    }
    for (image, size) in &rt.image_sizes {
        let size = bytes_at(file, &format!("spec.runtime.imageSizes[{image}]"), size)?;
        timing.image_sizes.insert(image.clone(), size);
    }
    if let Some(v) = &rt.sandbox_latency {
        timing.sandbox_latency = duration_at(file, "spec.runtime.sandboxLatency", v)?;
    }
    if let Some(v) = &rt.container_start_latency {
        timing.container_start_latency =
            duration_at(file, "spec.runtime.containerStartLatency", v)?;
    }
    if let Some(v) = &rt.termination_delay {
        timing.termination_delay = duration_at(file, "spec.runtime.terminationDelay", v)?;
    }
    let control_plane = match &spec.control_plane {
        None => None,
        Some(cp) => {
            let at = |field: &str, v: &Option<String>| match v {
                Some(v) => duration_at(file, &format!("spec.controlPlane.{field}"), v),
                None => Ok(Duration::ZERO),
            };
            Some(ControlPlane {
                api_write_latency: at("apiWriteLatency", &cp.api_write_latency)?,
                watch_delay: at("watchDelay", &cp.watch_delay)?,
                scheduler_time_per_node: at("schedulerTimePerNode", &cp.scheduler_time_per_node)?,
            })
        }
    };
    if let Some(config) = &spec.scheduler_config {
        flotilla_scheduler::config::SchedulerConfig::from_yaml(config, registry)
            .map_err(|e| invalid(file, "spec.schedulerConfig", e.to_string()))?;
    }
    let mut workloads = Vec::new();
    for (i, w) in spec.workloads.iter().enumerate() {
        let path = format!("spec.workloads[{i}]");
        let at = duration_at(file, &format!("{path}.at"), &w.at)?;
        let objects = manifests_at(file, &format!("{path}.manifests"), &w.manifests)?;
        workloads.push((at, objects));
    }
    workloads.sort_by_key(|(at, _)| *at);
    let mut arrivals = Vec::new();
    for (i, a) in spec.arrivals.iter().enumerate() {
        let path = format!("spec.arrivals[{i}]");
        let start = match &a.start {
            Some(s) => duration_at(file, &format!("{path}.start"), s)?,
            None => Duration::ZERO,
        };
        let stop = match &a.stop {
            Some(s) => duration_at(file, &format!("{path}.stop"), s)?,
            None => duration,
        };
        let (rate_per_second, rate_curve) = match (a.rate_per_minute, &a.rate_curve) {
            (Some(rate), None) => {
                if !(rate.is_finite() && rate > 0.0) {
                    return Err(invalid(
                        file,
                        format!("{path}.ratePerMinute"),
                        "must be greater than 0",
                    ));
                }
                (rate / 60.0, None)
            }
            (None, Some(points)) => {
                let field = format!("{path}.rateCurve");
                let curve = curve_at(file, &field, points)?;
                let max = curve.max_between(start, stop.max(start));
                if max <= 0.0 {
                    return Err(invalid(
                        file,
                        field,
                        "must be greater than 0 somewhere between start and stop",
                    ));
                }
                (max, Some(curve))
            }
            _ => {
                return Err(invalid(
                    file,
                    path,
                    "exactly one of ratePerMinute or rateCurve must be given",
                ))
            }
        };
        let run_time = match &a.run_time {
            None => None,
            Some(r) => Some(run_time_at(file, &format!("{path}.runTime"), r)?),
        };
        let mut objects = manifests_at(file, &format!("{path}.template"), &a.template)?;
        if objects.len() != 1 {
            return Err(invalid(
                file,
                format!("{path}.template"),
                "must hold exactly one object",
            ));
        }
        let template = objects.remove(0);
        if !matches!(template, Object::Pod(_) | Object::Job(_)) {
            return Err(invalid(
                file,
                format!("{path}.template.kind"),
                format!(
                    "unsupported value {:?}: supported values: \"Job\", \"Pod\"",
                    template.kind().name()
                ),
            ));
        }
        arrivals.push(ArrivalProcess {
            name: a.name.clone(),
            rate_per_second,
            rate_curve,
            start,
            stop,
            run_time,
            template,
        });
    }
    let trace_pods = load_traces(file, &spec.traces, &mut nodes)?;
    let metrics_interval = match &spec.metrics_interval {
        Some(s) => duration_at(file, "spec.metricsInterval", s)?,
        None => Duration::from_secs(15),
    };
    if metrics_interval.is_zero() {
        return Err(invalid(
            file,
            "spec.metricsInterval",
            "must be greater than 0",
        ));
    }
    let load = check_load(file, &spec.load, &workloads)?;
    let (faults, node_failures) = check_faults(file, &spec.faults, &spec.node_pools, &nodes)?;
    Ok(Scenario {
        name: raw.metadata.name,
        seed: spec.seed,
        duration,
        sample_interval,
        nodes,
        scheduler_config: spec.scheduler_config,
        timing,
        control_plane,
        workloads,
        arrivals,
        trace_pods,
        faults,
        node_failures,
        load,
        metrics_interval,
    })
}

/// Checks a rate curve's points: times in increasing order, rates not negative.
fn curve_at(
    file: &str,
    field: &str,
    points: &[CurvePoint],
) -> Result<crate::load::RateCurve, ScenarioError> {
    if points.is_empty() {
        return Err(invalid(file, field, "Required value: at least one point"));
    }
    let mut checked: Vec<(Duration, f64)> = Vec::new();
    for (i, p) in points.iter().enumerate() {
        let path = format!("{field}[{i}]");
        let at = duration_at(file, &format!("{path}.at"), &p.at)?;
        let (rate, name) = match (p.rps, p.rate_per_minute) {
            (Some(r), None) => (r, "rps"),
            (None, Some(r)) => (r / 60.0, "ratePerMinute"),
            _ => {
                return Err(invalid(
                    file,
                    path,
                    "exactly one of rps or ratePerMinute must be given",
                ))
            }
        };
        if !(rate.is_finite() && rate >= 0.0) {
            return Err(invalid(
                file,
                format!("{path}.{name}"),
                "must not be negative",
            ));
        }
        if let Some((last, _)) = checked.last() {
            if at <= *last {
                return Err(invalid(
                    file,
                    format!("{path}.at"),
                    "must be later than the point before",
                ));
            }
        }
        checked.push((at, rate));
    }
    Ok(crate::load::RateCurve::new(checked).expect("checked above"))
}

/// Checks `spec.load`: each Service must be created by a workload.
fn check_load(
    file: &str,
    specs: &[LoadSpec],
    workloads: &[(Duration, Vec<Object>)],
) -> Result<Vec<crate::load::ServiceLoad>, ScenarioError> {
    let mut out: Vec<crate::load::ServiceLoad> = Vec::new();
    for (i, l) in specs.iter().enumerate() {
        let path = format!("spec.load[{i}]");
        let namespace = l
            .namespace
            .clone()
            .unwrap_or_else(|| flotilla_model::store::DEFAULT_NAMESPACE.to_string());
        let created = workloads.iter().flat_map(|(_, o)| o).any(|o| {
            let meta = o.metadata();
            let ns = if meta.namespace.is_empty() {
                flotilla_model::store::DEFAULT_NAMESPACE
            } else {
                meta.namespace.as_str()
            };
            o.kind() == flotilla_model::Kind::Service && meta.name == l.service && ns == namespace
        });
        if !created {
            return Err(invalid(
                file,
                format!("{path}.service"),
                format!(
                    "Not found: no workload creates Service {namespace}/{}",
                    l.service
                ),
            ));
        }
        if out
            .iter()
            .any(|o| o.service == l.service && o.namespace == namespace)
        {
            return Err(invalid(
                file,
                format!("{path}.service"),
                format!("Duplicate value: {:?}", l.service),
            ));
        }
        let curve = curve_at(file, &format!("{path}.curve"), &l.curve)?;
        let milli = |field: &str, text: &str| -> Result<i64, ScenarioError> {
            let q: Quantity = text
                .parse()
                .map_err(|e| invalid(file, format!("{path}.{field}"), format!("{e}")))?;
            let v = q.milli_value();
            if v < 0 {
                return Err(invalid(
                    file,
                    format!("{path}.{field}"),
                    "must not be negative",
                ));
            }
            Ok(v)
        };
        let cpu_per_request = milli("cpuPerRequest", &l.cpu_per_request)?;
        let base_cpu = match &l.base_cpu {
            Some(v) => milli("baseCpu", v)?,
            None => 0,
        };
        let base_memory = match &l.base_memory {
            Some(v) => bytes_at(file, &format!("{path}.baseMemory"), v)?,
            None => 0,
        };
        out.push(crate::load::ServiceLoad {
            namespace,
            service: l.service.clone(),
            curve,
            cpu_per_request_milli: cpu_per_request as f64,
            base_cpu_milli: base_cpu,
            base_memory_bytes: i64::try_from(base_memory).unwrap_or(i64::MAX),
        });
    }
    Ok(out)
}

/// Resolves a fault's `nodes` / `pool` / `zone` and `count` against the scenario's nodes.
#[allow(clippy::too_many_arguments)]
fn target_at(
    file: &str,
    path: &str,
    nodes: &[String],
    pool: &Option<String>,
    zone: &Option<String>,
    count: Option<u32>,
    all: &[(Node, Vec<String>)],
    pools: &[NodePool],
) -> Result<crate::faults::Target, ScenarioError> {
    use crate::faults::Target;
    let given =
        usize::from(!nodes.is_empty()) + usize::from(pool.is_some()) + usize::from(zone.is_some());
    if given != 1 {
        return Err(invalid(
            file,
            path,
            "exactly one of nodes, pool or zone must be given",
        ));
    }
    if !nodes.is_empty() {
        if count.is_some() {
            return Err(invalid(
                file,
                format!("{path}.count"),
                "only with pool or zone",
            ));
        }
        let mut seen = std::collections::BTreeSet::new();
        for (i, n) in nodes.iter().enumerate() {
            if !all.iter().any(|(node, _)| &node.metadata.name == n) {
                return Err(invalid(
                    file,
                    format!("{path}.nodes[{i}]"),
                    format!("Not found: no node {n:?}"),
                ));
            }
            if !seen.insert(n) {
                return Err(invalid(
                    file,
                    format!("{path}.nodes[{i}]"),
                    format!("Duplicate value: {n:?}"),
                ));
            }
        }
        return Ok(Target::Nodes(nodes.to_vec()));
    }
    let from: Vec<String> = if let Some(p) = pool {
        if !pools.iter().any(|x| &x.name == p) {
            return Err(invalid(
                file,
                format!("{path}.pool"),
                format!("Not found: no node pool {p:?}"),
            ));
        }
        pool_nodes(p, all)
    } else {
        let z = zone.as_deref().unwrap_or_default();
        let from = zone_nodes(z, all);
        if from.is_empty() {
            return Err(invalid(
                file,
                format!("{path}.zone"),
                format!("Not found: no node in zone {z:?}"),
            ));
        }
        from
    };
    match count {
        None => Ok(Target::Nodes(from)),
        Some(c) if c == 0 || c as usize > from.len() => Err(invalid(
            file,
            format!("{path}.count"),
            format!("must be between 1 and {}", from.len()),
        )),
        Some(c) => Ok(Target::Sample {
            from,
            count: c as usize,
        }),
    }
}

/// The nodes of pool `pool`, in order (their names are `<pool>-<n>`, made by the pool).
fn pool_nodes(pool: &str, all: &[(Node, Vec<String>)]) -> Vec<String> {
    let prefix = format!("{pool}-");
    all.iter()
        .map(|(n, _)| &n.metadata.name)
        .filter(|n| {
            n.strip_prefix(&prefix)
                .is_some_and(|i| !i.is_empty() && i.bytes().all(|b| b.is_ascii_digit()))
        })
        .cloned()
        .collect()
}

/// The nodes labelled with zone `zone`, in order.
fn zone_nodes(zone: &str, all: &[(Node, Vec<String>)]) -> Vec<String> {
    all.iter()
        .filter(|(n, _)| {
            n.metadata
                .labels
                .get("topology.kubernetes.io/zone")
                .is_some_and(|z| z == zone)
        })
        .map(|(n, _)| n.metadata.name.clone())
        .collect()
}

/// Checks `spec.faults`.
fn check_faults(
    file: &str,
    specs: &[FaultSpec],
    pools: &[NodePool],
    all: &[(Node, Vec<String>)],
) -> Result<(Vec<crate::faults::Fault>, Vec<crate::faults::NodeFailures>), ScenarioError> {
    use crate::faults::{Fault, FaultEffect, NodeFailures, Target};
    let mut faults = Vec::new();
    let mut failures: Vec<NodeFailures> = Vec::new();
    for (i, f) in specs.iter().enumerate() {
        let path = format!("spec.faults[{i}]");
        let given = usize::from(f.node_crash.is_some())
            + usize::from(f.node_failures.is_some())
            + usize::from(f.zone_outage.is_some())
            + usize::from(f.partition.is_some())
            + usize::from(f.kubelet_restart.is_some());
        if given != 1 {
            return Err(invalid(
                file,
                path,
                "exactly one of nodeCrash, nodeFailures, zoneOutage, partition or kubeletRestart must be given",
            ));
        }
        let positive = |field: String, text: &str| -> Result<Duration, ScenarioError> {
            let d = duration_at(file, &field, text)?;
            if d.is_zero() {
                return Err(invalid(file, field, "must be greater than 0"));
            }
            Ok(d)
        };
        if let Some(c) = &f.node_crash {
            let p = format!("{path}.nodeCrash");
            let target = target_at(file, &p, &c.nodes, &c.pool, &c.zone, c.count, all, pools)?;
            let at = duration_at(file, &format!("{p}.at"), &c.at)?;
            let duration = match &c.recover_after {
                Some(d) => Some(positive(format!("{p}.recoverAfter"), d)?),
                None => None,
            };
            faults.push(Fault {
                kind: "nodeCrash",
                effect: FaultEffect::Crash,
                target,
                at,
                duration,
            });
        } else if let Some(n) = &f.node_failures {
            let p = format!("{path}.nodeFailures");
            if !pools.iter().any(|x| x.name == n.pool) {
                return Err(invalid(
                    file,
                    format!("{p}.pool"),
                    format!("Not found: no node pool {:?}", n.pool),
                ));
            }
            if failures.iter().any(|x| x.pool == n.pool) {
                return Err(invalid(
                    file,
                    format!("{p}.pool"),
                    format!("Duplicate value: {:?}", n.pool),
                ));
            }
            let mtbf = positive(format!("{p}.mtbf"), &n.mtbf)?;
            let mttr = positive(format!("{p}.mttr"), &n.mttr)?;
            failures.push(NodeFailures {
                pool: n.pool.clone(),
                nodes: pool_nodes(&n.pool, all),
                mtbf,
                mttr,
            });
        } else if let Some(z) = &f.zone_outage {
            let p = format!("{path}.zoneOutage");
            let nodes = zone_nodes(&z.zone, all);
            if nodes.is_empty() {
                return Err(invalid(
                    file,
                    format!("{p}.zone"),
                    format!("Not found: no node in zone {:?}", z.zone),
                ));
            }
            faults.push(Fault {
                kind: "zoneOutage",
                effect: FaultEffect::Crash,
                target: Target::Nodes(nodes),
                at: duration_at(file, &format!("{p}.at"), &z.at)?,
                duration: Some(positive(format!("{p}.duration"), &z.duration)?),
            });
        } else if let Some(x) = &f.partition {
            let p = format!("{path}.partition");
            let target = target_at(file, &p, &x.nodes, &x.pool, &x.zone, x.count, all, pools)?;
            faults.push(Fault {
                kind: "partition",
                effect: FaultEffect::Silence,
                target,
                at: duration_at(file, &format!("{p}.at"), &x.at)?,
                duration: Some(positive(format!("{p}.duration"), &x.duration)?),
            });
        } else if let Some(k) = &f.kubelet_restart {
            let p = format!("{path}.kubeletRestart");
            let target = target_at(file, &p, &k.nodes, &k.pool, &k.zone, k.count, all, pools)?;
            let duration = match &k.duration {
                Some(d) => positive(format!("{p}.duration"), d)?,
                None => Duration::from_secs(5),
            };
            faults.push(Fault {
                kind: "kubeletRestart",
                effect: FaultEffect::Silence,
                target,
                at: duration_at(file, &format!("{p}.at"), &k.at)?,
                duration: Some(duration),
            });
        }
    }
    Ok((faults, failures))
}

/// Reads the scenario's traces: their nodes are appended to `nodes`, their pods returned in
/// arrival order (ties keep the order of the `traces:` list, then of the files).
fn load_traces(
    file: &str,
    traces: &[TraceSource],
    nodes: &mut Vec<(Node, Vec<String>)>,
) -> Result<Vec<crate::trace::TracePod>, ScenarioError> {
    use crate::trace::{alibaba, google};
    let base = Path::new(file).parent().unwrap_or(Path::new(""));
    let mut node_names: std::collections::BTreeSet<String> =
        nodes.iter().map(|(n, _)| n.metadata.name.clone()).collect();
    let mut pod_names = std::collections::BTreeSet::new();
    let mut pods = Vec::new();
    for (i, t) in traces.iter().enumerate() {
        let path = format!("spec.traces[{i}]");
        let required = |field: &str, value: &Option<String>| match value {
            Some(v) if !v.trim().is_empty() => Ok(base.join(v)),
            _ => Err(invalid(
                file,
                format!("{path}.{field}"),
                format!("Required value: format {:?} reads this file", t.format),
            )),
        };
        let unused = |field: &str, set: bool| {
            if set {
                Err(invalid(
                    file,
                    format!("{path}.{field}"),
                    format!("not used by format {:?}", t.format),
                ))
            } else {
                Ok(())
            }
        };
        let as_trace = |source| ScenarioError::Trace {
            file: file.to_string(),
            field: path.clone(),
            source: Box::new(source),
        };
        let trace = match t.format.as_str() {
            alibaba::FORMAT => {
                unused("machineEvents", t.machine_events.is_some())?;
                unused("taskEvents", t.task_events.is_some())?;
                unused("cpuPerUnit", t.cpu_per_unit.is_some())?;
                unused("memoryPerUnit", t.memory_per_unit.is_some())?;
                let n = required("nodes", &t.nodes)?;
                let p = required("pods", &t.pods)?;
                alibaba::load(&n, &p, t.limit).map_err(as_trace)?
            }
            google::FORMAT => {
                unused("nodes", t.nodes.is_some())?;
                unused("pods", t.pods.is_some())?;
                let m = required("machineEvents", &t.machine_events)?;
                let e = required("taskEvents", &t.task_events)?;
                let mut scale = google::Scale::default();
                if let Some(v) = &t.cpu_per_unit {
                    let field = format!("{path}.cpuPerUnit");
                    let q: Quantity = v
                        .parse()
                        .map_err(|e| invalid(file, field.as_str(), format!("{e}")))?;
                    scale.cpu_milli_per_unit = u64::try_from(q.milli_value())
                        .ok()
                        .filter(|v| *v > 0)
                        .ok_or_else(|| invalid(file, field.as_str(), "must be greater than 0"))?;
                }
                if let Some(v) = &t.memory_per_unit {
                    let field = format!("{path}.memoryPerUnit");
                    scale.memory_bytes_per_unit = bytes_at(file, &field, v)?;
                    if scale.memory_bytes_per_unit == 0 {
                        return Err(invalid(file, field, "must be greater than 0"));
                    }
                }
                google::load(&m, &e, t.limit, scale).map_err(as_trace)?
            }
            other => {
                return Err(invalid(
                    file,
                    format!("{path}.format"),
                    format!(
                        "unsupported value {other:?}: supported values: {:?}, {:?}",
                        alibaba::FORMAT,
                        google::FORMAT
                    ),
                ))
            }
        };
        for node in trace.nodes {
            if !node_names.insert(node.metadata.name.clone()) {
                return Err(invalid(
                    file,
                    path,
                    format!("node {:?} is defined twice", node.metadata.name),
                ));
            }
            // The traces say nothing of images: every trace node holds the trace pods' image
            // from the start, so the replay invents no pull time.
            nodes.push((node, vec![crate::trace::TRACE_IMAGE.to_string()]));
        }
        for p in &trace.pods {
            if !pod_names.insert(p.pod.metadata.name.clone()) {
                return Err(invalid(
                    file,
                    path,
                    format!("pod {:?} is defined twice", p.pod.metadata.name),
                ));
            }
        }
        pods.extend(trace.pods.into_iter().map(|mut p| {
            p.delete_finished = t.delete_finished;
            p
        }));
    }
    // Stable: equal times keep the order of the list and of the files.
    pods.sort_by_key(|p| p.at);
    Ok(pods)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_built_in_scenario_is_valid() {
        let s = builtin_default().expect("valid");
        assert_eq!(s.nodes.len(), 1000);
        assert_eq!(s.duration, Duration::from_secs(1800));
        assert_eq!(s.workloads.len(), 2);
        assert_eq!(s.workloads[0].1.len(), 5);
        assert_eq!(s.arrivals.len(), 2);
        assert!(s.arrivals[1].rate_curve.is_some());
        assert_eq!(s.load.len(), 1);
        assert_eq!(s.faults.len(), 1);
        assert_eq!(s.node_failures.len(), 1);
        match &s.faults[0].target {
            crate::faults::Target::Nodes(nodes) => assert_eq!(nodes.len(), 333),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn bundled_scenarios_load_by_name_unless_a_file_has_the_name() {
        let scale = load(Path::new("scale")).expect("the bundled scale scenario");
        assert_eq!(scale.nodes.len(), 10_000);
        assert_eq!(scale.duration, Duration::from_secs(3 * 3600));
        let default = load(Path::new("default")).expect("the bundled default scenario");
        assert_eq!(default.nodes.len(), 1000);
        match load(Path::new("no-such-scenario")) {
            Err(ScenarioError::Read { file, .. }) => assert_eq!(file, "no-such-scenario"),
            other => panic!("{other:?}"),
        }
        // A file of that name wins over the bundled scenario.
        let dir = std::env::temp_dir().join(format!("flotilla-bundled-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        let file = dir.join("scale");
        std::fs::write(&file, "not: [a scenario").expect("write");
        let err = load(&file).expect_err("the file is read, not the bundled scenario");
        assert!(
            err.to_string().contains(&file.display().to_string()),
            "{err}"
        );
        std::fs::remove_dir_all(&dir).expect("cleanup");
    }

    #[test]
    fn errors_name_the_line_and_the_field() {
        let text = "apiVersion: sim.flotilla.io/v1\nkind: Scenario\nspec:\n  duration: 1m\n  nodePools:\n  - name: a\n    count: many\n    capacity: {cpu: '1'}\n";
        let e = parse("s.yaml", text).unwrap_err().to_string();
        assert!(e.starts_with("s.yaml:7:"), "{e}");
        assert!(e.contains("spec.nodePools[0].count"), "{e}");
        let text = "apiVersion: sim.flotilla.io/v1\nkind: Scenario\nspec:\n  duration: 1m\n  nodePool: []\n";
        let e = parse("s.yaml", text).unwrap_err().to_string();
        assert!(e.contains("unknown field `nodePool`"), "{e}");
        let text = "apiVersion: sim.flotilla.io/v1\nkind: Scenario\nspec:\n  duration: 1x\n  nodePools: []\n";
        let e = parse("s.yaml", text).unwrap_err().to_string();
        assert_eq!(
            e,
            "s.yaml: spec.duration: unknown unit \"x\" in duration \"1x\""
        );
    }

    #[test]
    fn the_control_plane_block_is_checked() {
        let head = "apiVersion: sim.flotilla.io/v1\nkind: Scenario\nspec:\n  duration: 1m\n";
        let s = parse("s.yaml", head).unwrap();
        assert_eq!(s.control_plane, None);
        let text = format!(
            "{head}  controlPlane: {{apiWriteLatency: 5ms, watchDelay: 10ms, schedulerTimePerNode: 2us}}\n"
        );
        let s = parse("s.yaml", &text).unwrap();
        assert_eq!(
            s.control_plane,
            Some(ControlPlane {
                api_write_latency: Duration::from_millis(5),
                watch_delay: Duration::from_millis(10),
                scheduler_time_per_node: Duration::from_micros(2),
            })
        );
        let text = format!("{head}  controlPlane: {{watchDelay: 10}}\n");
        let e = parse("s.yaml", &text).unwrap_err().to_string();
        assert_eq!(
            e,
            "s.yaml: spec.controlPlane.watchDelay: missing unit in duration \"10\""
        );
        let text = format!("{head}  controlPlane:\n    watchdelay: 10ms\n");
        let e = parse("s.yaml", &text).unwrap_err().to_string();
        assert!(e.starts_with("s.yaml:6:"), "{e}");
        assert!(e.contains("unknown field `watchdelay`"), "{e}");
    }

    #[test]
    fn durations_parse_as_go_writes_them() {
        assert_eq!(parse_duration("90s"), Ok(Duration::from_secs(90)));
        assert_eq!(parse_duration("1h30m"), Ok(Duration::from_secs(5400)));
        assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_duration("1.5s"), Ok(Duration::from_millis(1500)));
        assert_eq!(parse_duration("0"), Ok(Duration::ZERO));
        assert!(parse_duration("5").is_err());
        assert!(parse_duration("5x").is_err());
        assert!(parse_duration("").is_err());
    }
}
