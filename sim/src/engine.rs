//! The discrete-event engine: a virtual clock, a queue of events ordered by (time, sequence
//! number), the [`Cluster`] it drives and the [`RuntimeModel`] of its virtual nodes.
//!
//! Each step takes every event due at the earliest pending time, in the order they were
//! scheduled (the sequence number breaks ties, so same-time events keep their causal order),
//! hands them to the cluster or the workload sources, then polls the cluster once at that time
//! and schedules what its commands lead to. The cluster's own deadlines (back-offs, probes,
//! controller requeues) become wake-up events; nothing is simulated by ticking. Randomness
//! (arrival gaps, run times) comes from streams seeded by the run's seed and the source's name.
//!
//! Pods replayed from traces ([`crate::trace`]) arrive one event at a time: handling a trace
//! arrival creates that pod and schedules the next one, so the queue holds one trace event
//! however long the trace is. Pods of equal times arrive in the order of the scenario's list.
//! A trace pod whose entry says `deleteFinished` is deleted in the instant the engine sees it
//! Succeeded or Failed, and the cluster is polled again to react to the deletion.
//!
//! An arrival process with a `rateCurve` is a non-homogeneous Poisson process, sampled by
//! thinning (Lewis and Shedler, 1979): candidates arrive at the curve's largest rate between the
//! process's start and stop, and each is kept with probability `rate(t) / max`, both draws from
//! the process's stream.
//!
//! Faults ([`crate::faults`]) are events too: a fault's start and end, and for failures by
//! MTBF/MTTR the next candidate failure of each pool and each repair. Runtime events carry the
//! boot generation of their node when they were scheduled; those of a node that crashed since
//! are dropped. Offered load ([`crate::load`]) is measured by a periodic scrape event every
//! `metricsInterval`, the one periodic event besides metrics sampling, and only when some
//! Service has a load curve.
//!
//! Events due at the same time are handled in the order they were scheduled; at the start of
//! a run that is: workloads, arrivals, trace pods, the first sample, faults in the scenario's
//! order, failures per pool, the first scrape.
//!
//! **Control-plane timing** (`spec.controlPlane`, off when absent): the cluster delivers each
//! store change to its scheduler and kubelets `apiWriteLatency + watchDelay` after it was
//! written, and its scheduler takes `schedulerTimePerNode` per node it evaluates, one decision
//! at a time
//! ([`ControlPlaneTiming`], [`Scenario::control_plane`]); the cluster asks to be woken when a
//! delayed change is due or a decision is done, so the engine needs nothing else. Without the
//! block the cluster runs as before, bit for bit.
//!
//! **Invariants** ([`invariants`]): in debug builds, after every step, the engine checks that no
//! node is over-committed, no pod was bound twice and no pod was lost, from the store's watch
//! events as it drains them, and panics naming the time, the event and the object
//! ([`InvariantChecks`]); every metrics sample and the end of the run also compare the pods it
//! tracks with the store's.

use std::cmp::Reverse;
use std::collections::{BTreeSet, BinaryHeap, HashMap};

use flotilla_controllers::cluster::{Cluster, ClusterConfig, ClusterInput, ControlPlaneTiming};
use flotilla_controllers::kubelet::{RuntimeCommand, RuntimeEvent};
use flotilla_model::api::ContainerImage;
use flotilla_model::rng::component_rng;
use flotilla_model::store::{DeleteOptions, WatchEvent};
use flotilla_model::{Duration, Kind, Object, Time};
use rand::Rng;
use rand_chacha::ChaCha8Rng;

use crate::faults::{exponential, FaultEffect, FaultEvent, FaultRecord, NodeHealth};
use crate::metrics::{Metrics, RunInfo, Summary};
use crate::runtime_model::{RuntimeModel, EXIT_CODE_ANNOTATION, RUN_TIME_ANNOTATION};
use crate::scenario::{RunTimeDistribution, Scenario};

pub mod invariants;

pub use invariants::{InvariantViolation, Invariants};

/// How a run checks its [invariants].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum InvariantChecks {
    /// Not checked (the default of release builds).
    Off,
    /// Checked after every step; the first violation is kept
    /// ([`Simulation::invariant_violation`]) and the run goes on.
    Record,
    /// Checked after every step; a violation panics, naming the time, the event and the object
    /// (the default of debug builds).
    Panic,
}

impl Default for InvariantChecks {
    fn default() -> InvariantChecks {
        if cfg!(debug_assertions) {
            InvariantChecks::Panic
        } else {
            InvariantChecks::Off
        }
    }
}

/// The virtual time a run starts at: 2026-01-01T00:00:00Z, so timestamps read naturally.
pub const EPOCH: Time = Time::from_secs(1_767_225_600);

#[derive(Clone, Debug)]
enum SimEvent {
    /// A runtime result for `node`, scheduled while the node was in boot `generation`.
    Runtime {
        node: String,
        event: RuntimeEvent,
        generation: u64,
    },
    Apply(usize),
    Arrival(usize),
    TracePod(usize),
    Sample,
    Wakeup,
    /// A scheduled fault starts.
    FaultStart(usize),
    /// A scheduled fault ends.
    FaultEnd(usize),
    /// A candidate failure of a pool (`nodeFailures[i]`).
    NodeFailure(usize),
    /// A node that failed by MTBF is repaired.
    NodeRepair(usize),
    /// The metrics server scrapes the pods behind loaded Services.
    Scrape,
}

/// Why a run could not start.
#[derive(Debug, thiserror::Error)]
pub enum SimError {
    /// The scheduler configuration was rejected.
    #[error("scheduler configuration: {0}")]
    SchedulerConfig(String),
    /// A node could not be registered.
    #[error("node {name}: {message}")]
    Node {
        /// The node.
        name: String,
        /// Why.
        message: String,
    },
}

/// One simulation run. See the [module docs](self).
pub struct Simulation {
    scenario: Scenario,
    cluster: Cluster,
    runtime: RuntimeModel,
    queue: BinaryHeap<Reverse<(Time, u64)>>,
    pending: HashMap<u64, SimEvent>,
    wakeups: BTreeSet<Time>,
    seq: u64,
    now: Time,
    end: Time,
    arrival_rngs: Vec<ChaCha8Rng>,
    arrival_counts: Vec<u64>,
    metrics: Metrics,
    cursor: u64,
    events_processed: u64,
    apply_errors: Vec<String>,
    seed_value: u64,
    /// Trace pods to delete once they have finished (`deleteFinished`), by name.
    delete_when_finished: BTreeSet<String>,
    /// Finished trace pods to delete at the end of this poll.
    finished: Vec<String>,
    /// The scenario's nodes by name, and their index in `health`.
    node_index: HashMap<String, usize>,
    /// The scenario's node names, by index.
    node_names: Vec<String>,
    /// Per node: the faults holding it and its boot generation.
    health: Vec<NodeHealth>,
    /// Per node: what its kubelet will find when it boots again after a crash.
    reboot: Vec<Vec<RuntimeEvent>>,
    /// The nodes each scheduled fault hits (resolved at the start).
    fault_nodes: Vec<Vec<usize>>,
    /// Each pool's failure stream (`nodeFailures`).
    failure_rngs: Vec<ChaCha8Rng>,
    /// What faults did to nodes, in order.
    fault_log: Vec<FaultRecord>,
    /// How invariants are checked, and the checker when they are.
    checks: InvariantChecks,
    invariants: Option<Invariants>,
    /// The last event handled, while invariants are checked (to name it in a violation).
    last_event: Option<SimEvent>,
    /// The first violation, described, with [`InvariantChecks::Record`].
    violation: Option<String>,
    /// This step handled a metrics sample: the check compares every pod with the store's.
    full_check: bool,
}

impl std::fmt::Debug for Simulation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Simulation")
            .field("now", &self.now)
            .field("events_processed", &self.events_processed)
            .finish_non_exhaustive()
    }
}

impl Simulation {
    /// Sets up a run of `scenario` with `seed`: the cluster, its nodes, and the first event of
    /// every source.
    pub fn new(scenario: Scenario, seed: u64) -> Result<Simulation, SimError> {
        let registry = flotilla_scheduler::plugins::registry::default_registry();
        Simulation::with_registry(scenario, seed, &registry)
    }

    /// As [`new`](Simulation::new), with the scenario's `schedulerConfig` read against
    /// `registry` instead of the in-tree plugins alone: how a simulation runs a scheduler
    /// plugin written outside this workspace, registered as kube-scheduler's out-of-tree
    /// plugins are (see the researcher's guide and `examples/plugin_on_trace.rs`).
    pub fn with_registry(
        scenario: Scenario,
        seed: u64,
        registry: &flotilla_scheduler::config::Registry,
    ) -> Result<Simulation, SimError> {
        let mut config = ClusterConfig::new(seed);
        if let Some(text) = &scenario.scheduler_config {
            config.scheduler =
                flotilla_scheduler::config::SchedulerConfig::from_yaml(text, registry)
                    .map_err(|e| SimError::SchedulerConfig(e.to_string()))?;
        }
        config.event_limit = 10_000;
        let mut cluster = Cluster::new(config);
        let mut runtime = RuntimeModel::new(scenario.timing.clone());
        let start = EPOCH;
        cluster.poll(start);
        if let Some(cp) = scenario.control_plane {
            // Set before the nodes register: they too reach the scheduler after the delay.
            cluster.set_control_plane_timing(ControlPlaneTiming {
                watch_delay: cp.api_write_latency.saturating_add(cp.watch_delay),
                scheduler_time_per_node: cp.scheduler_time_per_node,
            });
        }
        for (node, images) in &scenario.nodes {
            let name = node.metadata.name.clone();
            runtime.preload(&name, images.iter().cloned());
            let mut node = node.clone();
            if node.status.images.is_empty() {
                // The kubelet reports the images its runtime holds from its first node status
                // (kubelet_node_status.go `setNodeStatus`, the Images setter), so the
                // scheduler's ImageLocality sees a pool's images before any pod runs there,
                // and a pod using one starts without asking for a pull.
                node.status.images = images
                    .iter()
                    .map(|image| ContainerImage {
                        names: vec![image.clone()],
                        size_bytes: Some(
                            i64::try_from(runtime.image_size(image)).unwrap_or(i64::MAX),
                        ),
                    })
                    .collect();
            }
            cluster.add_node(node).map_err(|e| SimError::Node {
                name: name.clone(),
                message: e.to_string(),
            })?;
        }
        let arrival_rngs = scenario
            .arrivals
            .iter()
            .map(|a| component_rng(seed, &format!("arrival/{}", a.name)))
            .collect();
        let node_names: Vec<String> = scenario
            .nodes
            .iter()
            .map(|(n, _)| n.metadata.name.clone())
            .collect();
        let node_index: HashMap<String, usize> = node_names
            .iter()
            .enumerate()
            .map(|(i, n)| (n.clone(), i))
            .collect();
        let fault_nodes = scenario
            .faults
            .iter()
            .enumerate()
            .map(|(i, f)| {
                let mut rng = component_rng(seed, &format!("faults/{i}"));
                f.target
                    .resolve(&mut rng)
                    .iter()
                    .filter_map(|n| node_index.get(n).copied())
                    .collect()
            })
            .collect();
        let failure_rngs = scenario
            .node_failures
            .iter()
            .map(|f| component_rng(seed, &f.stream_name()))
            .collect();
        let mut sim = Simulation {
            end: start + scenario.duration,
            arrival_counts: vec![0; scenario.arrivals.len()],
            arrival_rngs,
            runtime,
            cluster,
            queue: BinaryHeap::new(),
            pending: HashMap::new(),
            wakeups: BTreeSet::new(),
            seq: 0,
            now: start,
            metrics: Metrics::new(start),
            cursor: 0,
            events_processed: 0,
            apply_errors: Vec::new(),
            seed_value: seed,
            delete_when_finished: BTreeSet::new(),
            finished: Vec::new(),
            health: vec![NodeHealth::default(); node_names.len()],
            reboot: vec![Vec::new(); node_names.len()],
            node_index,
            node_names,
            fault_nodes,
            failure_rngs,
            fault_log: Vec::new(),
            checks: InvariantChecks::Off,
            invariants: None,
            last_event: None,
            violation: None,
            full_check: false,
            scenario,
        };
        sim.set_invariant_checks(InvariantChecks::default());
        for i in 0..sim.scenario.workloads.len() {
            let at = start + sim.scenario.workloads[i].0;
            sim.push(at, SimEvent::Apply(i));
        }
        for i in 0..sim.scenario.arrivals.len() {
            let first = start + sim.scenario.arrivals[i].start;
            if let Some(at) = sim.next_arrival(i, first) {
                sim.push(at, SimEvent::Arrival(i));
            }
        }
        if let Some(first) = sim.scenario.trace_pods.first() {
            let at = start + first.at;
            sim.push(at, SimEvent::TracePod(0));
        }
        sim.push(start, SimEvent::Sample);
        for i in 0..sim.scenario.faults.len() {
            let at = start + sim.scenario.faults[i].at;
            if at <= sim.end {
                sim.push(at, SimEvent::FaultStart(i));
            }
        }
        for i in 0..sim.scenario.node_failures.len() {
            sim.schedule_failure(i, start);
        }
        if !sim.scenario.load.is_empty() {
            let at = start + sim.scenario.metrics_interval;
            if at <= sim.end {
                sim.push(at, SimEvent::Scrape);
            }
        }
        Ok(sim)
    }

    /// What faults did to nodes so far, in order: each node going down, coming back up, being
    /// cut off and reconnected.
    pub fn fault_log(&self) -> &[FaultRecord] {
        &self.fault_log
    }

    /// Chooses how invariants are checked ([`InvariantChecks`]; by default, with a panic in
    /// debug builds and not at all in release builds). Call it before the first step: the
    /// checker must see every change of the store.
    pub fn set_invariant_checks(&mut self, checks: InvariantChecks) {
        self.checks = checks;
        self.invariants = match checks {
            InvariantChecks::Off => None,
            _ => Some(self.invariants.take().unwrap_or_default()),
        };
    }

    /// The first invariant violation of the run, with [`InvariantChecks::Record`]: what broke,
    /// when, and after which event.
    pub fn invariant_violation(&self) -> Option<&str> {
        self.violation.as_deref()
    }

    /// Checks the invariants after a step (or, with `full`, also compares the pods tracked
    /// with the store's), and reports a violation as `self.checks` says.
    fn check_invariants(&mut self, full: bool) {
        let Some(inv) = self.invariants.as_mut() else {
            return;
        };
        let mut result = inv.check();
        if full && result.is_ok() {
            result = inv.reconcile(self.cluster.store());
        }
        let Err(violation) = result else {
            return;
        };
        let message = format!(
            "invariant violated at {} (+{:?}), after event {:?}: {violation}",
            self.now,
            self.now.saturating_duration_since(EPOCH),
            self.last_event
        );
        match self.checks {
            InvariantChecks::Panic => panic!("{message}"),
            _ => {
                if self.violation.is_none() {
                    self.violation = Some(message);
                }
            }
        }
    }

    /// The cluster being simulated.
    pub fn cluster(&self) -> &Cluster {
        &self.cluster
    }

    /// The current virtual time.
    pub fn now(&self) -> Time {
        self.now
    }

    /// Errors from applying workloads (a manifest the store refused at its time).
    pub fn apply_errors(&self) -> &[String] {
        &self.apply_errors
    }

    /// The virtual nodes' runtime.
    pub fn runtime(&self) -> &RuntimeModel {
        &self.runtime
    }

    /// The metrics so far.
    pub fn metrics(&self) -> &Metrics {
        &self.metrics
    }

    fn push(&mut self, at: Time, event: SimEvent) {
        self.seq += 1;
        self.queue.push(Reverse((at, self.seq)));
        self.pending.insert(self.seq, event);
    }

    /// The next arrival of process `i` after `after`, if it comes before the process stops.
    fn next_arrival(&mut self, i: usize, after: Time) -> Option<Time> {
        let a = &self.scenario.arrivals[i];
        let rng = &mut self.arrival_rngs[i];
        let stop = EPOCH + a.stop;
        let mut t = after;
        loop {
            let u: f64 = rng.random::<f64>();
            // Exponential inter-arrival times of a Poisson process: -ln(1 - U) / rate.
            let secs = -(1.0 - u).ln() / a.rate_per_second;
            t = t.saturating_add(Duration::from_nanos(
                (secs * 1e9).min(u64::MAX as f64 / 2.0) as u64,
            ));
            if t >= stop {
                return None;
            }
            let Some(curve) = &a.rate_curve else {
                return Some(t);
            };
            // Thinning: keep the candidate with probability rate(t) / max.
            let rate = curve.at(t.saturating_duration_since(EPOCH));
            let v: f64 = rng.random::<f64>();
            if v * a.rate_per_second < rate {
                return Some(t);
            }
        }
    }

    /// Schedules the next candidate failure of pool `i` after `after`.
    fn schedule_failure(&mut self, i: usize, after: Time) {
        let f = &self.scenario.node_failures[i];
        if f.nodes.is_empty() {
            return;
        }
        // One exponential clock per node, superposed: rate nodes / mtbf.
        let mean = f.mtbf / u32::try_from(f.nodes.len()).unwrap_or(u32::MAX);
        let gap = exponential(&mut self.failure_rngs[i], mean);
        let at = after.saturating_add(gap);
        if at <= self.end {
            self.push(at, SimEvent::NodeFailure(i));
        }
    }

    fn log_fault(&mut self, node: usize, what: FaultEvent) {
        let name = &self.node_names[node];
        let tag = match what {
            FaultEvent::Down => "down",
            FaultEvent::Up => "up",
            FaultEvent::CutOff => "cut-off",
            FaultEvent::Reconnected => "reconnected",
        };
        self.metrics
            .digest(format!("fault {tag} {name}").as_bytes());
        self.fault_log.push(FaultRecord {
            at: self.now.saturating_duration_since(EPOCH),
            node: name.clone(),
            what,
        });
    }

    /// A crash starts holding `node` down.
    fn node_down(&mut self, node: usize) {
        let h = self.health[node];
        self.health[node].down += 1;
        if h.down > 0 {
            return;
        }
        let name = self.node_names[node].clone();
        self.reboot[node] = self.runtime.crash_node(&name);
        self.health[node].generation += 1;
        self.log_fault(node, FaultEvent::Down);
        if h.cut_off == 0 {
            let _ = self
                .cluster
                .handle_at(self.now, ClusterInput::NodeSilent { node: name });
        }
    }

    /// A crash stops holding `node` down; the last one reboots it.
    fn node_up(&mut self, node: usize) {
        let h = &mut self.health[node];
        if h.down == 0 {
            return;
        }
        h.down -= 1;
        if h.down > 0 {
            return;
        }
        let cut_off = h.cut_off > 0;
        let name = self.node_names[node].clone();
        self.log_fault(node, FaultEvent::Up);
        // What the kubelet finds on the rebooted node, before it talks again.
        for event in std::mem::take(&mut self.reboot[node]) {
            let _ = self.cluster.handle_at(
                self.now,
                ClusterInput::Runtime {
                    node: name.clone(),
                    event,
                },
            );
        }
        if !cut_off {
            let _ = self
                .cluster
                .handle_at(self.now, ClusterInput::NodeRecovered { node: name });
        }
    }

    /// A partition or kubelet restart starts cutting `node` off.
    fn cut_off(&mut self, node: usize) {
        let h = self.health[node];
        self.health[node].cut_off += 1;
        if h.cut_off == 0 {
            self.log_fault(node, FaultEvent::CutOff);
        }
        if !h.silent() {
            let name = self.node_names[node].clone();
            let _ = self
                .cluster
                .handle_at(self.now, ClusterInput::NodeSilent { node: name });
        }
    }

    /// A partition or kubelet restart stops cutting `node` off.
    fn reconnect(&mut self, node: usize) {
        let h = &mut self.health[node];
        if h.cut_off == 0 {
            return;
        }
        h.cut_off -= 1;
        if h.cut_off > 0 {
            return;
        }
        let down = h.down > 0;
        self.log_fault(node, FaultEvent::Reconnected);
        if !down {
            let name = self.node_names[node].clone();
            let _ = self
                .cluster
                .handle_at(self.now, ClusterInput::NodeRecovered { node: name });
        }
    }

    fn generation(&self, node: &str) -> u64 {
        self.node_index
            .get(node)
            .map_or(0, |&i| self.health[i].generation)
    }

    fn run_time(&mut self, i: usize) -> Option<Duration> {
        let dist = self.scenario.arrivals[i].run_time?;
        let rng = &mut self.arrival_rngs[i];
        Some(match dist {
            RunTimeDistribution::Fixed(d) => d,
            RunTimeDistribution::Exponential(mean) => {
                let u: f64 = rng.random::<f64>();
                Duration::from_nanos((-(1.0 - u).ln() * mean.as_nanos() as f64) as u64)
            }
            RunTimeDistribution::Uniform(lo, hi) => {
                let span = (hi - lo).as_nanos() as u64;
                lo + Duration::from_nanos(if span == 0 {
                    0
                } else {
                    rng.random_range(0..=span)
                })
            }
        })
    }

    /// Runs to the end of the scenario's duration.
    pub fn run(&mut self) {
        while self.step() {}
        // The state at the end of the run.
        self.now = self.now.max(self.end);
        self.poll();
        self.check_invariants(true);
        if self
            .metrics
            .samples
            .last()
            .is_none_or(|s| s.time_s < self.scenario.duration.as_secs_f64())
        {
            self.metrics.sample(&self.cluster, self.now);
        }
    }

    /// Handles every event due up to `at` (virtual time since the start of the run, capped at
    /// the run's end), as [`step`](Simulation::step) does, and stops before later ones.
    pub fn run_until(&mut self, at: Duration) {
        let until = EPOCH.saturating_add(at).min(self.end);
        while self.queue.peek().is_some_and(|&Reverse((t, _))| t <= until) {
            self.step();
        }
    }

    /// Handles every event of the next pending time (if it is within the run) and polls the
    /// cluster; `false` when the run is over.
    pub fn step(&mut self) -> bool {
        let Some(&Reverse((at, _))) = self.queue.peek() else {
            return false;
        };
        if at > self.end {
            return false;
        }
        self.now = at;
        // Bring the cluster's clock to `at` before it sees the events due then, so that what
        // they write (a new pod's creationTimestamp, a container's start time) carries this
        // time and not the previous step's: with sparse arrivals, as in a trace, the two are
        // far apart.
        if self.cluster.now() < at {
            self.poll();
        }
        while let Some(&Reverse((t, seq))) = self.queue.peek() {
            if t != at {
                break;
            }
            self.queue.pop();
            let Some(event) = self.pending.remove(&seq) else {
                continue;
            };
            self.events_processed += 1;
            if self.invariants.is_some() {
                self.last_event = Some(event.clone());
            }
            let sample = matches!(event, SimEvent::Sample);
            self.handle(event);
            if sample {
                self.full_check = true;
            }
        }
        self.poll();
        let full = std::mem::take(&mut self.full_check);
        self.check_invariants(full);
        true
    }

    fn handle(&mut self, event: SimEvent) {
        let now = self.now;
        match event {
            SimEvent::Runtime {
                node,
                event,
                generation,
            } => {
                if generation != self.generation(&node) {
                    // Scheduled before the node crashed: it never happens.
                    return;
                }
                if let RuntimeEvent::ContainerExited {
                    pod_uid, container, ..
                } = &event
                {
                    if !self.runtime.expects_exit(&node, pod_uid, container, now) {
                        return;
                    }
                }
                self.runtime.observe(&node, &event);
                let _ = self
                    .cluster
                    .handle_at(now, ClusterInput::Runtime { node, event });
            }
            SimEvent::Apply(i) => {
                let objects = self.scenario.workloads[i].1.clone();
                for object in objects {
                    let name = format!("{}/{}", object.kind().plural(), object.metadata().name);
                    if let Err(e) = self.cluster.apply(object) {
                        self.apply_errors.push(format!("{name}: {e}"));
                    }
                }
            }
            SimEvent::Arrival(i) => {
                self.arrival_counts[i] += 1;
                let n = self.arrival_counts[i];
                let mut object = self.scenario.arrivals[i].template.clone();
                let name = format!("{}-{n}", self.scenario.arrivals[i].name);
                object.metadata_mut().name = name.clone();
                let run = self.run_time(i);
                let annotations = match &mut object {
                    Object::Pod(p) => Some(&mut p.metadata.annotations),
                    Object::Job(j) => Some(&mut j.spec.template.metadata.annotations),
                    _ => None,
                };
                if let (Some(a), Some(run)) = (annotations, run) {
                    a.insert(RUN_TIME_ANNOTATION.into(), format!("{}ms", run.as_millis()));
                    a.entry(EXIT_CODE_ANNOTATION.into())
                        .or_insert_with(|| "0".into());
                }
                if let Err(e) = self.cluster.create(object) {
                    self.apply_errors.push(format!("{name}: {e}"));
                }
                if let Some(at) = self.next_arrival(i, now) {
                    self.push(at, SimEvent::Arrival(i));
                }
            }
            SimEvent::TracePod(i) => {
                // Each trace pod is created once: it is moved out of the scenario rather than
                // copied, so the store's defaulting writes its spec in place.
                let trace_pod = &mut self.scenario.trace_pods[i];
                let pod = std::mem::take(&mut trace_pod.pod);
                if trace_pod.delete_finished {
                    self.delete_when_finished.insert(pod.metadata.name.clone());
                }
                let name = format!("pods/{}", pod.metadata.name);
                if let Err(e) = self.cluster.create(Object::Pod(pod)) {
                    self.apply_errors.push(format!("{name}: {e}"));
                }
                if let Some(next) = self.scenario.trace_pods.get(i + 1) {
                    let at = EPOCH + next.at;
                    self.push(at, SimEvent::TracePod(i + 1));
                }
            }
            SimEvent::Sample => {
                self.drain_changes();
                self.metrics.sample(&self.cluster, now);
                let next = now + self.scenario.sample_interval;
                if next <= self.end {
                    self.push(next, SimEvent::Sample);
                }
            }
            SimEvent::Wakeup => {
                self.wakeups.remove(&now);
            }
            SimEvent::FaultStart(i) => {
                let effect = self.scenario.faults[i].effect;
                for node in self.fault_nodes[i].clone() {
                    match effect {
                        FaultEffect::Crash => self.node_down(node),
                        FaultEffect::Silence => self.cut_off(node),
                    }
                }
                if let Some(d) = self.scenario.faults[i].duration {
                    let at = now.saturating_add(d);
                    if at <= self.end {
                        self.push(at, SimEvent::FaultEnd(i));
                    }
                }
            }
            SimEvent::FaultEnd(i) => {
                let effect = self.scenario.faults[i].effect;
                for node in self.fault_nodes[i].clone() {
                    match effect {
                        FaultEffect::Crash => self.node_up(node),
                        FaultEffect::Silence => self.reconnect(node),
                    }
                }
            }
            SimEvent::NodeFailure(i) => {
                let f = &self.scenario.node_failures[i];
                let rng = &mut self.failure_rngs[i];
                let pick = rng.random_range(0..f.nodes.len());
                let node = self.node_index.get(&f.nodes[pick]).copied();
                // A node that is down already cannot fail: the candidate is thinned out.
                if let Some(node) = node.filter(|&n| self.health[n].down == 0) {
                    let repair = exponential(rng, f.mttr);
                    self.node_down(node);
                    let at = now.saturating_add(repair);
                    if at <= self.end {
                        self.push(at, SimEvent::NodeRepair(node));
                    }
                }
                self.schedule_failure(i, now);
            }
            SimEvent::NodeRepair(node) => self.node_up(node),
            SimEvent::Scrape => {
                let t = now.saturating_duration_since(EPOCH);
                let mut inputs = Vec::new();
                for load in &self.scenario.load {
                    inputs.extend(crate::load::measure(self.cluster.store(), load, t));
                }
                for input in inputs {
                    let _ = self.cluster.handle_at(now, input);
                }
                let next = now.saturating_add(self.scenario.metrics_interval);
                if next <= self.end {
                    self.push(next, SimEvent::Scrape);
                }
            }
        }
    }

    fn poll(&mut self) {
        self.poll_once();
        // Trace pods that finished are deleted, as the trace's cluster deleted them; the
        // cluster then reacts to the deletions at the same instant.
        while !self.finished.is_empty() {
            for name in std::mem::take(&mut self.finished) {
                let _ = self.cluster.delete(
                    Kind::Pod,
                    crate::trace::TRACE_NAMESPACE,
                    &name,
                    &DeleteOptions::default(),
                );
            }
            self.poll_once();
        }
    }

    fn poll_once(&mut self) {
        let now = self.now;
        let ready = self.cluster.poll(now);
        for c in &ready.commands {
            self.metrics.digest(c.node.as_bytes());
            self.metrics.digest(command_tag(&c.command).as_bytes());
            let generation = self.generation(&c.node);
            for s in self.runtime.execute(&c.node, &c.command, now) {
                self.push(
                    s.at,
                    SimEvent::Runtime {
                        node: c.node.clone(),
                        event: s.event,
                        generation,
                    },
                );
            }
        }
        if let Some(t) = ready.next_wakeup {
            if t <= self.end && self.wakeups.insert(t) {
                self.push(t, SimEvent::Wakeup);
            }
        }
        self.drain_changes();
    }

    fn drain_changes(&mut self) {
        let now = self.now;
        let events: Vec<WatchEvent> = match self.cluster.store().changes_since(self.cursor) {
            Ok(events) => events.cloned().collect(),
            Err(_) => {
                // The changes since the cursor left the bounded history: the samples continue
                // from the store's objects (per-pod timings miss what was not seen).
                self.metrics.resync(self.cluster.store());
                self.cursor = self.cluster.store().resource_version();
                Vec::new()
            }
        };
        for e in &events {
            self.cursor = e.resource_version;
            self.metrics.observe(e, now);
            if let Some(inv) = self.invariants.as_mut() {
                inv.observe(e);
            }
            if let Object::Pod(p) = e.object.as_ref() {
                if p.phase().is_terminal()
                    && p.metadata.namespace == crate::trace::TRACE_NAMESPACE
                    && self.delete_when_finished.remove(&p.metadata.name)
                {
                    self.finished.push(p.metadata.name.clone());
                }
            }
        }
    }

    /// The summary, given the wall-clock time the run took (measured by the caller).
    pub fn summary(&self, wall_time_s: f64) -> Summary {
        self.metrics.summary(RunInfo {
            scenario: self.scenario.name.clone(),
            seed: self.seed(),
            sim_time_s: self.scenario.duration.as_secs_f64(),
            wall_time_s,
            events_processed: self.events_processed,
            nodes: self.scenario.nodes.len(),
        })
    }

    fn seed(&self) -> u64 {
        self.seed_value
    }
}

fn command_tag(command: &RuntimeCommand) -> String {
    match command {
        RuntimeCommand::PullImage { image } => format!("pull {image}"),
        RuntimeCommand::RunPodSandbox { pod } => format!("sandbox {}", pod.metadata.uid),
        RuntimeCommand::StartContainer {
            pod,
            container,
            attempt,
            ..
        } => {
            format!("start {} {container} {attempt}", pod.metadata.uid)
        }
        RuntimeCommand::SignalContainer {
            pod_uid,
            container,
            signal,
        } => {
            format!("signal {pod_uid} {container} {signal:?}")
        }
        RuntimeCommand::RunProbe {
            pod_uid,
            container,
            kind,
            ..
        } => {
            format!("probe {pod_uid} {container} {kind:?}")
        }
        RuntimeCommand::SetPodVolumes { pod_uid, .. } => format!("volumes {pod_uid}"),
        RuntimeCommand::RemovePodSandbox { pod_uid } => format!("remove {pod_uid}"),
    }
}
