//! What a run measures: per-pod timings from the store's watch events, time series sampled on
//! the virtual clock, and the summary (`summary.json`).

use std::collections::{BTreeMap, HashMap};

use flotilla_controllers::cluster::Cluster;
use flotilla_model::api::{ConditionStatus, Pod, PodCondition, PodPhase};
use flotilla_model::store::{WatchEvent, WatchEventType};
use flotilla_model::{Kind, Object, Time};
use serde::Serialize;

/// The resources sampled and summarised.
pub const RESOURCES: [&str; 3] = ["cpu", "memory", "nvidia.com/gpu"];

#[derive(Clone, Debug, Default)]
struct PodRecord {
    created: Time,
    scheduled: Option<Time>,
    running: Option<Time>,
    phase: PodPhase,
    restarts: i32,
    unschedulable: bool,
    preempted: bool,
    evicted: bool,
    gone: bool,
    /// Deletion was requested before the pod finished.
    deleted: bool,
}

/// One row of `metrics.csv`.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Sample {
    /// Seconds since the start of the run.
    pub time_s: f64,
    /// Pods by phase.
    pub pending: u64,
    /// Running pods.
    pub running: u64,
    /// Succeeded pods (still in the store).
    pub succeeded: u64,
    /// Failed pods (still in the store).
    pub failed: u64,
    /// Pending pods the scheduler marked unschedulable.
    pub unschedulable: u64,
    /// Nodes that are Ready.
    pub nodes_ready: u64,
    /// Per resource: (requested by bound, unfinished pods, allocatable) in base units
    /// (cores, bytes, devices).
    pub resources: BTreeMap<String, (f64, f64)>,
    /// Per HorizontalPodAutoscaler (`namespace/name`): its target's replicas as the
    /// autoscaler last saw them (`status.currentReplicas`).
    pub hpa_replicas: BTreeMap<String, i32>,
}

/// Percentiles of a latency distribution, milliseconds.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Percentiles {
    /// Median.
    pub p50: f64,
    /// 90th percentile.
    pub p90: f64,
    /// 99th percentile.
    pub p99: f64,
    /// Maximum.
    pub max: f64,
    /// How many values.
    pub count: usize,
}

impl Percentiles {
    /// Nearest-rank percentiles of `values` (milliseconds).
    pub fn of(mut values: Vec<f64>) -> Percentiles {
        if values.is_empty() {
            return Percentiles::default();
        }
        values.sort_by(f64::total_cmp);
        let rank = |p: f64| {
            let i = ((p / 100.0) * values.len() as f64).ceil() as usize;
            values[i.clamp(1, values.len()) - 1]
        };
        Percentiles {
            p50: rank(50.0),
            p90: rank(90.0),
            p99: rank(99.0),
            max: values[values.len() - 1],
            count: values.len(),
        }
    }
}

/// Everything measured during a run.
#[derive(Clone, Debug, Default)]
pub struct Metrics {
    pods: HashMap<String, PodRecord>,
    /// Samples, in time order.
    pub samples: Vec<Sample>,
    digest: u64,
    start: Time,
    /// What each stored Node and Pod adds to a sample, by uid, as [`observe`](Self::observe)
    /// followed them.
    live: HashMap<String, Contribution>,
    /// The sum of `live`: what the next sample reports.
    totals: Totals,
}

/// What one stored object adds to a sample: a Node its readiness and allocatable amounts, a Pod
/// its phase and, while it is bound and unfinished, its requests. Amounts are exact (billionths of
/// a unit, as [`Quantity`](flotilla_model::Quantity) keeps them), so the totals are the same
/// whatever order objects were added and removed in.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
struct Contribution {
    pending: i64,
    running: i64,
    succeeded: i64,
    failed: i64,
    unschedulable: i64,
    nodes_ready: i64,
    /// Per [`RESOURCES`] entry, in billionths of the base unit.
    requested: [i128; RESOURCES.len()],
    /// Per [`RESOURCES`] entry, in billionths of the base unit.
    allocatable: [i128; RESOURCES.len()],
}

/// The sum of the contributions of every stored Node and Pod.
type Totals = Contribution;

impl Contribution {
    fn add(&mut self, other: &Contribution, sign: i64) {
        self.pending += sign * other.pending;
        self.running += sign * other.running;
        self.succeeded += sign * other.succeeded;
        self.failed += sign * other.failed;
        self.unschedulable += sign * other.unschedulable;
        self.nodes_ready += sign * other.nodes_ready;
        let sign = i128::from(sign);
        for (t, o) in self.requested.iter_mut().zip(other.requested) {
            *t += sign * o;
        }
        for (t, o) in self.allocatable.iter_mut().zip(other.allocatable) {
            *t += sign * o;
        }
    }
}

impl Metrics {
    /// Metrics of a run starting at `start`.
    pub fn new(start: Time) -> Metrics {
        Metrics {
            digest: 0xcbf2_9ce4_8422_2325,
            start,
            ..Default::default()
        }
    }

    /// Mixes `bytes` into the event-log digest (FNV-1a, 64 bits).
    pub fn digest(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.digest ^= u64::from(b);
            self.digest = self.digest.wrapping_mul(0x0100_0000_01b3);
        }
    }

    /// The digest so far.
    pub fn digest_value(&self) -> u64 {
        self.digest
    }

    /// Follows one store change at `now`.
    pub fn observe(&mut self, event: &WatchEvent, now: Time) {
        let object = event.object.as_ref();
        let meta = object.metadata();
        let kind = object.kind();
        let kind_byte = Kind::ALL.iter().position(|k| *k == kind).unwrap_or(0) as u8;
        self.digest(&now.as_nanos().to_le_bytes());
        self.digest(&[event.event_type as u8, kind_byte]);
        self.digest(meta.namespace.as_bytes());
        self.digest(b"/");
        self.digest(meta.name.as_bytes());
        self.digest(&event.resource_version.to_le_bytes());
        if matches!(kind, Kind::Pod | Kind::Node) {
            if let Some(old) = self.live.remove(&meta.uid) {
                self.totals.add(&old, -1);
            }
            if event.event_type != WatchEventType::Deleted {
                let c = contribution(object);
                self.totals.add(&c, 1);
                self.live.insert(meta.uid.clone(), c);
            }
        }
        let Object::Pod(pod) = object else {
            return;
        };
        let record = self
            .pods
            .entry(pod.metadata.uid.clone())
            .or_insert_with(|| PodRecord {
                created: pod.metadata.creation_timestamp.unwrap_or(now),
                ..Default::default()
            });
        update_record(record, pod, now);
        if event.event_type == WatchEventType::Deleted {
            record.gone = true;
        }
    }

    /// Rebuilds what [`sample`](Self::sample) reports from the objects in `store`, for when
    /// [`observe`](Self::observe) could not follow every change (the store's bounded history
    /// no longer reached back to the last change it saw).
    pub fn resync(&mut self, store: &flotilla_model::store::Store) {
        self.live.clear();
        self.totals = Totals::default();
        for kind in [Kind::Node, Kind::Pod] {
            for object in store.iter_kind(kind) {
                let c = contribution(object);
                self.totals.add(&c, 1);
                self.live.insert(object.metadata().uid.clone(), c);
            }
        }
    }

    /// Samples the cluster's state at `now`: pods by phase, nodes, requested and allocatable
    /// amounts as [`observe`](Self::observe) followed the store's changes (kept up to date
    /// change by change, so a sample does not read every object), and the HPAs' replicas from
    /// `cluster`.
    pub fn sample(&mut self, cluster: &Cluster, now: Time) {
        let store = cluster.store();
        let mut s = Sample {
            time_s: now.saturating_duration_since(self.start).as_secs_f64(),
            pending: 0,
            running: 0,
            succeeded: 0,
            failed: 0,
            unschedulable: 0,
            nodes_ready: 0,
            resources: BTreeMap::new(),
            hpa_replicas: BTreeMap::new(),
        };
        for object in store.iter_kind(Kind::HorizontalPodAutoscaler) {
            if let Object::HorizontalPodAutoscaler(hpa) = &**object {
                s.hpa_replicas.insert(
                    format!("{}/{}", hpa.metadata.namespace, hpa.metadata.name),
                    hpa.status.current_replicas,
                );
            }
        }
        let t = &self.totals;
        let count = |n: i64| u64::try_from(n).unwrap_or(0);
        s.pending = count(t.pending);
        s.running = count(t.running);
        s.succeeded = count(t.succeeded);
        s.failed = count(t.failed);
        s.unschedulable = count(t.unschedulable);
        s.nodes_ready = count(t.nodes_ready);
        let units = |nanos: i128| nanos as f64 / 1e9;
        let totals: Vec<(f64, f64)> = t
            .requested
            .iter()
            .zip(&t.allocatable)
            .map(|(&r, &a)| (units(r), units(a)))
            .collect();
        s.resources = RESOURCES
            .iter()
            .zip(totals)
            .map(|(r, t)| (r.to_string(), t))
            .collect();
        self.samples.push(s);
    }

    /// The summary of the run.
    pub fn summary(&self, info: RunInfo) -> Summary {
        let mut scheduling = Vec::new();
        let mut startup = Vec::new();
        let mut slo_ok = 0usize;
        let mut started_or_pending = 0usize;
        let mut s = Summary {
            scenario: info.scenario,
            seed: info.seed,
            sim_time_s: info.sim_time_s,
            wall_time_s: info.wall_time_s,
            events_processed: info.events_processed,
            event_log_digest: format!("{:016x}", self.digest),
            nodes: info.nodes,
            ..Default::default()
        };
        for r in self.pods.values() {
            s.pods_created += 1;
            if let Some(t) = r.scheduled {
                s.pods_scheduled += 1;
                scheduling.push(ms(t.saturating_duration_since(r.created)));
            }
            if let Some(t) = r.running {
                let d = t.saturating_duration_since(r.created);
                startup.push(ms(d));
                if d.as_secs_f64() <= 5.0 {
                    slo_ok += 1;
                }
                started_or_pending += 1;
            } else if !r.gone && r.phase == PodPhase::Pending {
                started_or_pending += 1;
            }
            s.restarts += r.restarts as u64;
            if r.preempted {
                s.preemptions += 1;
            }
            if r.evicted {
                s.evictions += 1;
            }
            match r.phase {
                _ if r.deleted => s.pods_deleted += 1,
                PodPhase::Succeeded => s.pods_succeeded += 1,
                PodPhase::Failed => s.pods_failed += 1,
                PodPhase::Running if !r.gone => s.pods_running_at_end += 1,
                PodPhase::Pending | PodPhase::Unknown if !r.gone => {
                    s.pods_pending_at_end += 1;
                    if r.unschedulable {
                        s.pods_unschedulable += 1;
                    }
                }
                _ => {}
            }
        }
        s.scheduling_latency_ms = Percentiles::of(scheduling);
        s.startup_latency_ms = Percentiles::of(startup);
        s.slo_pod_startup_5s = if started_or_pending == 0 {
            1.0
        } else {
            slo_ok as f64 / started_or_pending as f64
        };
        for r in RESOURCES {
            let ratios: Vec<f64> = self
                .samples
                .iter()
                .filter_map(|x| x.resources.get(r))
                .filter(|(_, alloc)| *alloc > 0.0)
                .map(|(req, alloc)| req / alloc)
                .collect();
            if !ratios.is_empty() {
                s.allocation_ratio_mean.insert(
                    r.to_string(),
                    ratios.iter().sum::<f64>() / ratios.len() as f64,
                );
            }
        }
        s
    }

    /// Every bound pod's scheduling latency (creation → binding), milliseconds, unsorted.
    pub fn scheduling_latencies_ms(&self) -> Vec<f64> {
        self.pods
            .values()
            .filter_map(|r| {
                r.scheduled
                    .map(|t| ms(t.saturating_duration_since(r.created)))
            })
            .collect()
    }

    /// Every started pod's startup latency (creation → Running), milliseconds, unsorted.
    pub fn startup_latencies_ms(&self) -> Vec<f64> {
        self.pods
            .values()
            .filter_map(|r| {
                r.running
                    .map(|t| ms(t.saturating_duration_since(r.created)))
            })
            .collect()
    }

    /// The HorizontalPodAutoscalers seen in any sample (`namespace/name`), sorted: the
    /// `hpa_replicas:` columns of `metrics.csv`.
    pub fn hpa_names(&self) -> Vec<String> {
        let names: std::collections::BTreeSet<&String> = self
            .samples
            .iter()
            .flat_map(|s| s.hpa_replicas.keys())
            .collect();
        names.into_iter().cloned().collect()
    }

    /// `metrics.csv`: one row per sample. After the fixed columns comes one
    /// `hpa_replicas:NAMESPACE/NAME` column per HorizontalPodAutoscaler ever seen, empty in
    /// the rows before it existed or after it was deleted.
    pub fn csv(&self) -> String {
        let hpas = self.hpa_names();
        let mut out = String::from(
            "time_s,pods_pending,pods_running,pods_succeeded,pods_failed,pods_unschedulable,nodes_ready",
        );
        for r in RESOURCES {
            out.push_str(&format!(
                ",{r}_requested,{r}_allocatable,{r}_allocation_ratio"
            ));
        }
        for h in &hpas {
            out.push_str(&format!(",hpa_replicas:{h}"));
        }
        out.push('\n');
        for s in &self.samples {
            out.push_str(&format!(
                "{},{},{},{},{},{},{}",
                s.time_s,
                s.pending,
                s.running,
                s.succeeded,
                s.failed,
                s.unschedulable,
                s.nodes_ready
            ));
            for r in RESOURCES {
                let (req, alloc) = s.resources.get(r).copied().unwrap_or((0.0, 0.0));
                let ratio = if alloc > 0.0 { req / alloc } else { 0.0 };
                out.push_str(&format!(",{req},{alloc},{ratio:.6}"));
            }
            for h in &hpas {
                out.push(',');
                if let Some(n) = s.hpa_replicas.get(h) {
                    out.push_str(&n.to_string());
                }
            }
            out.push('\n');
        }
        out
    }
}

fn ms(d: flotilla_model::Duration) -> f64 {
    d.as_nanos() as f64 / 1e6
}

/// What a Node adds to a sample: Ready, and then its allocatable resources.
/// What `object` (a Node or a Pod) adds to a sample: see [`Contribution`].
fn contribution(object: &Object) -> Contribution {
    let mut c = Contribution::default();
    match object {
        Object::Node(node) => {
            let ready = node
                .status
                .conditions
                .iter()
                .any(|c| c.r#type == "Ready" && c.status == ConditionStatus::True);
            if ready {
                c.nodes_ready = 1;
                for (i, r) in RESOURCES.iter().enumerate() {
                    if let Some(q) = node.status.allocatable.get(*r) {
                        c.allocatable[i] = q.nanos();
                    }
                }
            }
        }
        Object::Pod(pod) => {
            let phase = pod.phase();
            match phase {
                PodPhase::Pending | PodPhase::Unknown => {
                    c.pending = 1;
                    c.unschedulable = i64::from(is_unschedulable(pod));
                }
                PodPhase::Running => c.running = 1,
                PodPhase::Succeeded => c.succeeded = 1,
                PodPhase::Failed => c.failed = 1,
            }
            // Requests of each container (not the pod's effective requests), while the pod
            // is bound and has not finished.
            if !pod.spec.node_name.is_empty() && !phase.is_terminal() {
                for container in &pod.spec.containers {
                    for (i, r) in RESOURCES.iter().enumerate() {
                        if let Some(q) = container.resources.requests.get(*r) {
                            c.requested[i] += q.nanos();
                        }
                    }
                }
            }
        }
        _ => {}
    }
    c
}

fn is_unschedulable(pod: &Pod) -> bool {
    pod.condition(PodCondition::POD_SCHEDULED)
        .is_some_and(|c| c.status == ConditionStatus::False && c.reason == "Unschedulable")
}

fn update_record(record: &mut PodRecord, pod: &Pod, now: Time) {
    if pod.metadata.deletion_timestamp.is_some() && !record.phase.is_terminal() {
        record.deleted = true;
    }
    if record.scheduled.is_none() && !pod.spec.node_name.is_empty() {
        record.scheduled = Some(now);
    }
    if record.running.is_none() && pod.phase() == PodPhase::Running {
        record.running = Some(now);
    }
    record.phase = pod.phase();
    record.unschedulable = pod.spec.node_name.is_empty() && is_unschedulable(pod);
    record.restarts = pod
        .status
        .container_statuses
        .iter()
        .chain(&pod.status.init_container_statuses)
        .map(|c| c.restart_count)
        .sum();
    if pod
        .condition(PodCondition::DISRUPTION_TARGET)
        .is_some_and(|c| c.reason == "PreemptionByScheduler")
    {
        record.preempted = true;
    }
    // Evicted: by the kubelet under pressure (reason Evicted), by the taint eviction
    // controller from a failed node, or through the Eviction API (a drain).
    let evicted_by_control_plane =
        pod.condition(PodCondition::DISRUPTION_TARGET)
            .is_some_and(|c| {
                c.reason == "DeletionByTaintManager" || c.reason == "EvictionByEvictionAPI"
            });
    if pod.status.reason == "Evicted" || evicted_by_control_plane {
        record.evicted = true;
    }
}

/// The run's history as JSON lines (`events.jsonl`): one object per store change and one per
/// entry of the cluster's event log (`kubectl get events`).
///
/// The engine keeps no history of its own, so the log follows the cluster from outside: call
/// [`EventLog::drain`] after [`Simulation::new`](crate::engine::Simulation::new) and after every
/// [`Simulation::step`](crate::engine::Simulation::step) (and once after the final
/// [`Simulation::run`](crate::engine::Simulation::run)), with the simulation's current time. A
/// step's store changes all happen at that step's time, so the times written here are the
/// ones [`Metrics::observe`] sees. Store changes of a step come first, then that step's event
/// log entries, each in the order they happened.
///
/// A store change line has `time_s` (virtual seconds since the start), `type` (`Added`,
/// `Modified`, `Deleted`), `kind`, `namespace`, `name`, `resourceVersion`, and for pods
/// `phase` and `node`. An event log line has `time_s`, `type: "Event"`, `eventType`
/// (`Normal`, `Warning`), the `kind`, `namespace` and `name` of the object it is about,
/// `reason`, `message` and `source`.
#[derive(Clone, Debug)]
pub struct EventLog {
    start: Time,
    resource_version: u64,
    events_seen: u64,
    event_limit: Option<u64>,
    dropped: u64,
}

impl EventLog {
    /// A log of a run that started at `start`, from the beginning of the store's history.
    pub fn new(start: Time) -> EventLog {
        EventLog {
            start,
            resource_version: 0,
            events_seen: 0,
            event_limit: None,
            dropped: 0,
        }
    }

    /// Writes what happened in `cluster` since the last call, as of `now`.
    pub fn drain(
        &mut self,
        cluster: &Cluster,
        now: Time,
        out: &mut impl std::io::Write,
    ) -> std::io::Result<()> {
        let time_s = now.saturating_duration_since(self.start).as_secs_f64();
        match cluster.store().changes_since(self.resource_version) {
            Ok(changes) => {
                for e in changes {
                    self.resource_version = e.resource_version;
                    let object = e.object.as_ref();
                    let meta = object.metadata();
                    let pod = match object {
                        Object::Pod(pod) => Some(pod),
                        _ => None,
                    };
                    let line = ChangeLine {
                        time_s,
                        r#type: match e.event_type {
                            WatchEventType::Added => "Added",
                            WatchEventType::Modified => "Modified",
                            WatchEventType::Deleted => "Deleted",
                        },
                        kind: object.kind().name(),
                        namespace: &meta.namespace,
                        name: &meta.name,
                        resource_version: e.resource_version,
                        phase: pod.map(|p| p.phase()),
                        node: pod.map(|p| p.spec.node_name.as_str()),
                    };
                    serde_json::to_writer(&mut *out, &line)?;
                    out.write_all(b"\n")?;
                }
            }
            // The store's history is bounded; what fell out of it is lost to this log.
            Err(_) => {
                let latest = cluster.store().resource_version();
                self.dropped += latest.saturating_sub(self.resource_version);
                self.resource_version = latest;
            }
        }
        let recorder = cluster.events();
        let new = recorder.total().saturating_sub(self.events_seen);
        if new == 0 {
            return Ok(());
        }
        // The recorder keeps its last `limit` events; the limit is learnt the first time the
        // recorder holds fewer than it has recorded, and until then every event is kept.
        let kept = match self.event_limit {
            Some(limit) => recorder.total().min(limit),
            None => {
                let kept = recorder.events().count() as u64;
                if kept < recorder.total() {
                    self.event_limit = Some(kept);
                }
                kept
            }
        };
        self.dropped += new.saturating_sub(kept);
        let skip = kept.saturating_sub(new) as usize;
        for e in recorder.events().skip(skip) {
            let line = EventLine {
                time_s: e.time.saturating_duration_since(self.start).as_secs_f64(),
                r#type: "Event",
                event_type: e.event_type.as_str(),
                kind: e.object.kind.name(),
                namespace: &e.object.namespace,
                name: &e.object.name,
                reason: &e.reason,
                message: &e.message,
                source: &e.source,
            };
            serde_json::to_writer(&mut *out, &line)?;
            out.write_all(b"\n")?;
        }
        self.events_seen = recorder.total();
        Ok(())
    }

    /// Store changes and events that fell out of the bounded histories before they could be
    /// written.
    pub fn dropped(&self) -> u64 {
        self.dropped
    }
}

/// A store change in `events.jsonl`.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ChangeLine<'a> {
    #[serde(rename = "time_s")]
    time_s: f64,
    r#type: &'static str,
    kind: &'static str,
    namespace: &'a str,
    name: &'a str,
    resource_version: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    phase: Option<PodPhase>,
    #[serde(skip_serializing_if = "Option::is_none")]
    node: Option<&'a str>,
}

/// A cluster event in `events.jsonl`.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct EventLine<'a> {
    #[serde(rename = "time_s")]
    time_s: f64,
    r#type: &'static str,
    event_type: &'static str,
    kind: &'static str,
    namespace: &'a str,
    name: &'a str,
    reason: &'a str,
    message: &'a str,
    source: &'a str,
}

/// Facts about the run that the metrics do not hold themselves.
#[derive(Clone, Debug, Default)]
pub struct RunInfo {
    /// The scenario's name.
    pub scenario: String,
    /// The seed.
    pub seed: u64,
    /// Virtual seconds simulated.
    pub sim_time_s: f64,
    /// Wall-clock seconds taken.
    pub wall_time_s: f64,
    /// Events handled.
    pub events_processed: u64,
    /// Nodes.
    pub nodes: usize,
}

/// `summary.json`.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Summary {
    /// The scenario's name.
    pub scenario: String,
    /// The seed.
    pub seed: u64,
    /// Virtual seconds simulated.
    pub sim_time_s: f64,
    /// Wall-clock seconds taken (not part of the digest).
    pub wall_time_s: f64,
    /// Events handled by the engine.
    pub events_processed: u64,
    /// A hash over every store change and runtime command, with its time: equal seeds give
    /// equal digests.
    pub event_log_digest: String,
    /// Nodes in the cluster.
    pub nodes: usize,
    /// Pods ever created.
    pub pods_created: u64,
    /// Pods bound to a node.
    pub pods_scheduled: u64,
    /// Pods running when the run ended.
    pub pods_running_at_end: u64,
    /// Pods that succeeded.
    pub pods_succeeded: u64,
    /// Pods that failed (by themselves: a pod deleted while it ran counts under
    /// `pods_deleted`).
    pub pods_failed: u64,
    /// Pods deleted before they finished (scale-down, rollout, preemption, eviction) and
    /// therefore stopped.
    pub pods_deleted: u64,
    /// Pods pending when the run ended.
    pub pods_pending_at_end: u64,
    /// Of those, pods the scheduler found no place for.
    pub pods_unschedulable: u64,
    /// Pods evicted.
    pub evictions: u64,
    /// Pods preempted.
    pub preemptions: u64,
    /// Container restarts.
    pub restarts: u64,
    /// Creation → binding.
    pub scheduling_latency_ms: Percentiles,
    /// Creation → Running.
    pub startup_latency_ms: Percentiles,
    /// Mean over samples of requested / allocatable, per resource present.
    pub allocation_ratio_mean: BTreeMap<String, f64>,
    /// Share of pods running within 5 s of creation (pods still pending count as misses).
    pub slo_pod_startup_5s: f64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_use_nearest_rank() {
        let p = Percentiles::of((1..=100).map(f64::from).collect());
        assert_eq!(
            (p.p50, p.p90, p.p99, p.max, p.count),
            (50.0, 90.0, 99.0, 100.0, 100)
        );
        assert_eq!(Percentiles::of(Vec::new()), Percentiles::default());
    }
}
