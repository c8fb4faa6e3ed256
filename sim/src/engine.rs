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

use std::cmp::Reverse;
use std::collections::{BTreeSet, BinaryHeap, HashMap};

use flotilla_controllers::cluster::{Cluster, ClusterConfig, ClusterInput};
use flotilla_controllers::kubelet::{RuntimeCommand, RuntimeEvent};
use flotilla_model::rng::component_rng;
use flotilla_model::store::{DeleteOptions, WatchEvent};
use flotilla_model::{Duration, Kind, Object, Time};
use rand::Rng;
use rand_chacha::ChaCha8Rng;

use crate::metrics::{Metrics, RunInfo, Summary};
use crate::runtime_model::{RuntimeModel, EXIT_CODE_ANNOTATION, RUN_TIME_ANNOTATION};
use crate::scenario::{RunTimeDistribution, Scenario};

/// The virtual time a run starts at: 2026-01-01T00:00:00Z, so timestamps read naturally.
pub const EPOCH: Time = Time::from_secs(1_767_225_600);

#[derive(Clone, Debug)]
enum SimEvent {
    Runtime { node: String, event: RuntimeEvent },
    Apply(usize),
    Arrival(usize),
    TracePod(usize),
    Sample,
    Wakeup,
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
        let mut config = ClusterConfig::new(seed);
        if let Some(text) = &scenario.scheduler_config {
            let registry = flotilla_scheduler::plugins::registry::default_registry();
            config.scheduler =
                flotilla_scheduler::config::SchedulerConfig::from_yaml(text, &registry)
                    .map_err(|e| SimError::SchedulerConfig(e.to_string()))?;
        }
        config.event_limit = 10_000;
        let mut cluster = Cluster::new(config);
        let mut runtime = RuntimeModel::new(scenario.timing.clone());
        let start = EPOCH;
        cluster.poll(start);
        for (node, images) in &scenario.nodes {
            let name = node.metadata.name.clone();
            runtime.preload(&name, images.iter().cloned());
            cluster.add_node(node.clone()).map_err(|e| SimError::Node {
                name: name.clone(),
                message: e.to_string(),
            })?;
        }
        let arrival_rngs = scenario
            .arrivals
            .iter()
            .map(|a| component_rng(seed, &format!("arrival/{}", a.name)))
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
            scenario,
        };
        for i in 0..sim.scenario.workloads.len() {
            let at = start + sim.scenario.workloads[i].0;
            sim.push(at, SimEvent::Apply(i));
        }
        for i in 0..sim.scenario.arrivals.len() {
            let first = start + sim.scenario.arrivals[i].start;
            let gap = sim.arrival_gap(i);
            if first + gap < start + sim.scenario.arrivals[i].stop {
                sim.push(first + gap, SimEvent::Arrival(i));
            }
        }
        if let Some(first) = sim.scenario.trace_pods.first() {
            let at = start + first.at;
            sim.push(at, SimEvent::TracePod(0));
        }
        sim.push(start, SimEvent::Sample);
        Ok(sim)
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

    /// The metrics so far.
    pub fn metrics(&self) -> &Metrics {
        &self.metrics
    }

    fn push(&mut self, at: Time, event: SimEvent) {
        self.seq += 1;
        self.queue.push(Reverse((at, self.seq)));
        self.pending.insert(self.seq, event);
    }

    fn arrival_gap(&mut self, i: usize) -> Duration {
        let rate = self.scenario.arrivals[i].rate_per_second;
        let u: f64 = self.arrival_rngs[i].random::<f64>();
        // Exponential inter-arrival times of a Poisson process: -ln(1 - U) / rate.
        let secs = -(1.0 - u).ln() / rate;
        Duration::from_nanos((secs * 1e9).min(u64::MAX as f64 / 2.0) as u64)
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
        if self
            .metrics
            .samples
            .last()
            .is_none_or(|s| s.time_s < self.scenario.duration.as_secs_f64())
        {
            self.metrics.sample(&self.cluster, self.now);
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
            self.handle(event);
        }
        self.poll();
        true
    }

    fn handle(&mut self, event: SimEvent) {
        let now = self.now;
        match event {
            SimEvent::Runtime { node, event } => {
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
                if let Err(e) = self.cluster.apply(object) {
                    self.apply_errors.push(format!("{name}: {e}"));
                }
                let gap = self.arrival_gap(i);
                let stop = EPOCH + self.scenario.arrivals[i].stop;
                if now + gap < stop {
                    self.push(now + gap, SimEvent::Arrival(i));
                }
            }
            SimEvent::TracePod(i) => {
                let trace_pod = &self.scenario.trace_pods[i];
                let pod = trace_pod.pod.clone();
                if trace_pod.delete_finished {
                    self.delete_when_finished.insert(pod.metadata.name.clone());
                }
                let name = format!("pods/{}", pod.metadata.name);
                if let Err(e) = self.cluster.apply(Object::Pod(pod)) {
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
            for s in self.runtime.execute(&c.node, &c.command, now) {
                self.push(
                    s.at,
                    SimEvent::Runtime {
                        node: c.node.clone(),
                        event: s.event,
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
            Err(_) => Vec::new(),
        };
        for e in &events {
            self.cursor = e.resource_version;
            self.metrics.observe(e, now);
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
        RuntimeCommand::RemovePodSandbox { pod_uid } => format!("remove {pod_uid}"),
    }
}
