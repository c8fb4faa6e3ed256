//! One Deployment through DESIGN.md's ten steps, on a virtual clock.
//!
//! The program builds a [`Cluster`] (object store, scheduler, controllers and one kubelet per
//! node) with three nodes, applies a Deployment of three replicas, and drives it with a small
//! discrete-event loop: the kubelets' runtime commands are answered by the simulator's
//! [`RuntimeModel`] after its modelled delays (a 200 MiB image pull at 100 MiB/s, 500 ms for a
//! sandbox, 300 ms for a container start, 1 s to exit after SIGTERM). It prints what each
//! component does: the apply, the store's objects and resourceVersions, the ReplicaSet, the
//! pods, the scheduler's bindings, the runtime commands and their results, the pod statuses;
//! then a crashed container, a deleted pod, an image change rolled out and rolled back.
//!
//! The only randomness is the cluster's seed, so the output is the same on every run.
//!
//! ```sh
//! cargo run -p flotilla-examples --example deployment_walkthrough
//! ```

use std::cmp::Reverse;
use std::collections::{BTreeMap, BinaryHeap};

use anyhow::{bail, Context};
use flotilla_controllers::cluster::{Cluster, ClusterConfig, ClusterInput};
use flotilla_controllers::controller::EventType;
use flotilla_controllers::deployment::{rollback, rollout_history};
use flotilla_controllers::kubelet::{RuntimeCommand, RuntimeEvent};
use flotilla_model::api::{Pod, ReplicaSet};
use flotilla_model::store::{DeleteOptions, DeleteOutcome, WatchEventType};
use flotilla_model::{Duration, Kind, Object, Time};
use flotilla_sim::engine::EPOCH;
use flotilla_sim::runtime_model::{RuntimeModel, RuntimeTiming};

/// The run's seed: it names every generated object (uids, pod name suffixes).
const SEED: u64 = 7;

const NODES: &str = r#"
apiVersion: v1
kind: Node
metadata: {name: node-1, labels: {kubernetes.io/hostname: node-1}}
status:
  capacity: {cpu: "4", memory: 8Gi, pods: "110"}
  addresses: [{type: InternalIP, address: 192.168.0.11}]
---
apiVersion: v1
kind: Node
metadata: {name: node-2, labels: {kubernetes.io/hostname: node-2}}
status:
  capacity: {cpu: "4", memory: 8Gi, pods: "110"}
  addresses: [{type: InternalIP, address: 192.168.0.12}]
---
apiVersion: v1
kind: Node
metadata: {name: node-3, labels: {kubernetes.io/hostname: node-3}}
status:
  capacity: {cpu: "4", memory: 8Gi, pods: "110"}
  addresses: [{type: InternalIP, address: 192.168.0.13}]
"#;

const WEB: &str = r#"
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
spec:
  replicas: 3
  selector:
    matchLabels: {app: web}
  template:
    metadata:
      labels: {app: web}
    spec:
      containers:
      - name: nginx
        image: nginx:1.27
        resources:
          requests: {cpu: 100m, memory: 64Mi}
"#;

/// A runtime event due at a time, in the order it was scheduled.
type Pending = BTreeMap<u64, (String, RuntimeEvent)>;

/// The driver: the cluster, the virtual runtime, a clock and a queue of runtime events.
struct Driver {
    cluster: Cluster,
    runtime: RuntimeModel,
    queue: BinaryHeap<Reverse<(Time, u64)>>,
    pending: Pending,
    seq: u64,
    now: Time,
    /// Pod uid → name, for printing runtime traffic (commands name pods by uid).
    names: BTreeMap<String, String>,
    /// Whether to print runtime commands and events as they happen.
    trace: bool,
    /// How many events of the cluster's event log were printed already.
    events_shown: usize,
    /// The store's resourceVersion up to which watch events were printed.
    cursor: u64,
}

impl Driver {
    fn new(seed: u64) -> Driver {
        let mut cluster = Cluster::new(ClusterConfig::new(seed));
        cluster.poll(EPOCH);
        let cursor = cluster.store().resource_version();
        Driver {
            cluster,
            runtime: RuntimeModel::new(RuntimeTiming::default()),
            queue: BinaryHeap::new(),
            pending: Pending::new(),
            seq: 0,
            now: EPOCH,
            names: BTreeMap::new(),
            trace: false,
            events_shown: 0,
            cursor,
        }
    }

    /// Time since the start, as `+12.345s`.
    fn at(&self, t: Time) -> String {
        let d = t.saturating_duration_since(EPOCH);
        format!("+{}.{:03}s", d.as_secs(), d.subsec_millis())
    }

    fn name_of(&self, uid: &str) -> String {
        self.names.get(uid).cloned().unwrap_or_else(|| uid.into())
    }

    // ANCHOR: driver
    /// Polls the cluster at `now` and hands the runtime commands to the runtime model.
    fn poll(&mut self) {
        let ready = self.cluster.poll(self.now);
        for c in ready.commands {
            if let RuntimeCommand::RunPodSandbox { pod }
            | RuntimeCommand::StartContainer { pod, .. } = &c.command
            {
                self.names
                    .insert(pod.metadata.uid.clone(), pod.metadata.name.clone());
            }
            if self.trace {
                println!(
                    "  {}  {}  -> {}",
                    self.at(self.now),
                    c.node,
                    self.describe_command(&c.command)
                );
            }
            for s in self.runtime.execute(&c.node, &c.command, self.now) {
                self.seq += 1;
                self.queue.push(Reverse((s.at, self.seq)));
                self.pending.insert(self.seq, (c.node.clone(), s.event));
            }
        }
    }

    /// Hands one runtime event to its node's kubelet, unless the runtime model no longer
    /// expects it (a natural exit superseded by a signal).
    fn deliver(&mut self, node: String, event: RuntimeEvent) -> anyhow::Result<()> {
        if let RuntimeEvent::ContainerExited {
            pod_uid, container, ..
        } = &event
        {
            if !self
                .runtime
                .expects_exit(&node, pod_uid, container, self.now)
            {
                return Ok(());
            }
        }
        self.inject(node, event)
    }

    /// Hands a runtime event to its node's kubelet as it is (a crash the runtime model did not
    /// plan is injected this way).
    fn inject(&mut self, node: String, event: RuntimeEvent) -> anyhow::Result<()> {
        if self.trace {
            println!(
                "  {}  {}  <- {}",
                self.at(self.now),
                node,
                self.describe_event(&event)
            );
        }
        self.runtime.observe(&node, &event);
        self.cluster
            .handle_at(self.now, ClusterInput::Runtime { node, event })
            .context("runtime event for an unknown node")?;
        Ok(())
    }

    /// Runs the clock to `until`: every runtime event and every wake-up the cluster asks for,
    /// in time order, polling after each instant. `step` sees the cluster after each poll.
    fn run_until(
        &mut self,
        until: Time,
        mut step: impl FnMut(&Driver) -> anyhow::Result<()>,
    ) -> anyhow::Result<()> {
        self.poll();
        step(self)?;
        loop {
            let next_event = self.queue.peek().map(|Reverse((t, _))| *t);
            let next = [next_event, self.cluster.next_wakeup()]
                .into_iter()
                .flatten()
                .min();
            let Some(t) = next.filter(|t| *t <= until) else {
                break;
            };
            self.now = self.now.max(t);
            // Deadlines due at the new instant run first; then its runtime events are handed over
            // with `handle_at`, which stamps them with this instant.
            self.poll();
            while let Some(&Reverse((t, seq))) = self.queue.peek() {
                if t > self.now {
                    break;
                }
                self.queue.pop();
                if let Some((node, event)) = self.pending.remove(&seq) {
                    self.deliver(node, event)?;
                }
            }
            self.poll();
            step(self)?;
        }
        self.now = self.now.max(until);
        self.poll();
        Ok(())
    }

    // ANCHOR_END: driver

    fn run_for(&mut self, d: Duration) -> anyhow::Result<()> {
        self.run_until(self.now + d, |_| Ok(()))
    }

    fn describe_command(&self, c: &RuntimeCommand) -> String {
        match c {
            RuntimeCommand::PullImage { image } => format!("PullImage {image}"),
            RuntimeCommand::RunPodSandbox { pod } => {
                format!("RunPodSandbox {}", pod.metadata.name)
            }
            RuntimeCommand::StartContainer {
                pod,
                container,
                attempt,
                ..
            } => format!(
                "StartContainer {}/{container} attempt {attempt}",
                pod.metadata.name
            ),
            RuntimeCommand::SignalContainer {
                pod_uid,
                container,
                signal,
            } => format!(
                "SignalContainer {}/{container} {signal:?}",
                self.name_of(pod_uid)
            ),
            RuntimeCommand::RunProbe {
                pod_uid,
                container,
                kind,
                ..
            } => format!("RunProbe {}/{container} {kind:?}", self.name_of(pod_uid)),
            RuntimeCommand::SetPodVolumes { pod_uid, volumes } => format!(
                "SetPodVolumes {} ({} volumes)",
                self.name_of(pod_uid),
                volumes.len()
            ),
            RuntimeCommand::RemovePodSandbox { pod_uid } => {
                format!("RemovePodSandbox {}", self.name_of(pod_uid))
            }
        }
    }

    fn describe_event(&self, e: &RuntimeEvent) -> String {
        let result = |r: &Result<String, String>| match r {
            Ok(v) => v.clone(),
            Err(e) => format!("error: {e}"),
        };
        match e {
            RuntimeEvent::ImagePulled { image, result } => match result {
                Ok(size) => format!("ImagePulled {image} ({size} bytes)"),
                Err(e) => format!("ImagePulled {image} error: {e}"),
            },
            RuntimeEvent::SandboxReady { pod_uid, result: r } => {
                format!("SandboxReady {} ip {}", self.name_of(pod_uid), result(r))
            }
            RuntimeEvent::ContainerStarted {
                pod_uid,
                container,
                result: r,
            } => format!(
                "ContainerStarted {}/{container} {}",
                self.name_of(pod_uid),
                result(r)
            ),
            RuntimeEvent::ContainerExited {
                pod_uid,
                container,
                exit_code,
                ..
            } => format!(
                "ContainerExited {}/{container} exit code {exit_code}",
                self.name_of(pod_uid)
            ),
            RuntimeEvent::ProbeResult {
                pod_uid,
                container,
                kind,
                success,
                ..
            } => format!(
                "ProbeResult {}/{container} {kind:?} success={success}",
                self.name_of(pod_uid)
            ),
            RuntimeEvent::PodVolumesSet { pod_uid, result } => {
                format!("PodVolumesSet {} {result:?}", self.name_of(pod_uid))
            }
            RuntimeEvent::ContainerCreateFailed {
                pod_uid,
                container,
                reason,
                ..
            } => format!(
                "ContainerCreateFailed {}/{container} {reason}",
                self.name_of(pod_uid)
            ),
            RuntimeEvent::SandboxRemoved { pod_uid } => {
                format!("SandboxRemoved {}", self.name_of(pod_uid))
            }
        }
    }

    /// Prints the events recorded since the last call, filtered by `keep`, as
    /// `kubectl get events` lists them.
    fn print_events(&mut self, keep: impl Fn(&str) -> bool) {
        let events: Vec<_> = self
            .cluster
            .events()
            .events()
            .skip(self.events_shown)
            .cloned()
            .collect();
        self.events_shown += events.len();
        for e in events.iter().filter(|e| keep(&e.reason)) {
            let kind = match e.object.kind {
                Kind::Deployment => "deployment",
                Kind::ReplicaSet => "replicaset",
                Kind::Pod => "pod",
                _ => "object",
            };
            println!(
                "  {:<9} {:<7} {:<17} {:<28} {:<22} {}",
                self.at(e.time),
                e.event_type.as_str(),
                e.reason,
                format!("{kind}/{}", e.object.name),
                e.source,
                e.message
            );
        }
    }

    /// Prints the watch events since the last call (what every controller's watch saw).
    fn print_watch(&mut self) -> anyhow::Result<()> {
        let store = self.cluster.store();
        let changes: Vec<_> = store
            .changes_since(self.cursor)
            .map_err(|e| anyhow::anyhow!("watch: {e}"))?
            .cloned()
            .collect();
        for c in &changes {
            let kind = c.object.kind();
            let meta = c.object.metadata();
            let verb = match c.event_type {
                WatchEventType::Added => "ADDED",
                WatchEventType::Modified => "MODIFIED",
                WatchEventType::Deleted => "DELETED",
            };
            let what = match c.object.as_ref() {
                Object::Pod(p) if !p.spec.node_name.is_empty() => {
                    format!("node={} phase={:?}", p.spec.node_name, p.phase())
                }
                Object::Pod(p) => format!("phase={:?}", p.phase()),
                Object::ReplicaSet(rs) => format!(
                    "spec.replicas={} status.replicas={} ready={}",
                    rs.spec.replicas.unwrap_or(1),
                    rs.status.replicas,
                    rs.status.ready_replicas
                ),
                Object::Deployment(d) => format!(
                    "generation={} updated={} available={}",
                    d.metadata.generation, d.status.updated_replicas, d.status.available_replicas
                ),
                _ => String::new(),
            };
            let line = format!(
                "  rv {:<4} {:<9} {:<11} {:<22} {}",
                c.resource_version,
                verb,
                kind.to_string(),
                meta.name,
                what
            );
            println!("{}", line.trim_end());
        }
        self.cursor = store.resource_version();
        Ok(())
    }

    fn pods(&self) -> Vec<Pod> {
        self.cluster
            .store()
            .iter_namespace(Kind::Pod, "default")
            .filter_map(|o| match o.as_ref() {
                Object::Pod(p) => Some(p.clone()),
                _ => None,
            })
            .collect()
    }

    fn replica_sets(&self) -> Vec<ReplicaSet> {
        self.cluster
            .store()
            .iter_namespace(Kind::ReplicaSet, "default")
            .filter_map(|o| match o.as_ref() {
                Object::ReplicaSet(rs) => Some((**rs).clone()),
                _ => None,
            })
            .collect()
    }

    /// `kubectl get pods -o wide`, with the resourceVersion.
    fn print_pods(&self) {
        println!(
            "  {:<20} {:<6} {:<18} {:<9} {:<14} {:<7} {:<6} RV",
            "NAME", "READY", "STATUS", "RESTARTS", "IP", "NODE", "IMAGE"
        );
        for p in self.pods() {
            let statuses = &p.status.container_statuses;
            let ready = statuses.iter().filter(|c| c.ready).count();
            let restarts: i32 = statuses.iter().map(|c| c.restart_count).sum();
            // kubectl's STATUS column: Terminating, else a container's waiting or terminated
            // reason, else the phase.
            let status = if p.metadata.deletion_timestamp.is_some() {
                "Terminating".to_string()
            } else if let Some(reason) = statuses.iter().find_map(|c| {
                c.state
                    .waiting
                    .as_ref()
                    .map(|w| w.reason.clone())
                    .or_else(|| c.state.terminated.as_ref().map(|t| t.reason.clone()))
            }) {
                reason
            } else {
                format!("{:?}", p.phase())
            };
            let or_none = |s: &str| {
                if s.is_empty() {
                    "<none>".to_string()
                } else {
                    s.to_string()
                }
            };
            println!(
                "  {:<20} {:<6} {:<18} {:<9} {:<14} {:<7} {:<6} {}",
                p.metadata.name,
                format!("{ready}/{}", p.spec.containers.len()),
                status,
                restarts,
                or_none(&p.status.pod_ip),
                or_none(&p.spec.node_name),
                p.spec
                    .containers
                    .first()
                    .map_or("", |c| c.image.trim_start_matches("nginx:")),
                p.metadata.resource_version
            );
        }
    }

    /// `kubectl get rs` (DESIRED CURRENT READY) with the revision annotation.
    fn print_replica_sets(&self) {
        println!(
            "  {:<20} {:<8} {:<8} {:<6} {:<9} IMAGE",
            "NAME", "DESIRED", "CURRENT", "READY", "REVISION"
        );
        for rs in self.replica_sets() {
            println!(
                "  {:<20} {:<8} {:<8} {:<6} {:<9} {}",
                rs.metadata.name,
                rs.spec.replicas.unwrap_or(1),
                rs.status.replicas,
                rs.status.ready_replicas,
                rs.metadata
                    .annotations
                    .get("deployment.kubernetes.io/revision")
                    .map_or("", String::as_str),
                rs.spec
                    .template
                    .spec
                    .containers
                    .first()
                    .map_or("", |c| c.image.as_str())
            );
        }
    }

    /// One line of ReplicaSet sizes (`name desired/current/ready`), for following a rollout.
    fn rs_line(&self) -> String {
        self.replica_sets()
            .iter()
            .map(|rs| {
                format!(
                    "{} {}/{}/{}",
                    rs.metadata.name,
                    rs.spec.replicas.unwrap_or(1),
                    rs.status.replicas,
                    rs.status.ready_replicas
                )
            })
            .collect::<Vec<_>>()
            .join("   ")
    }

    /// Runs for `d`, printing the ReplicaSet sizes whenever they change.
    fn follow_rollout(&mut self, d: Duration) -> anyhow::Result<()> {
        let mut last = String::new();
        let until = self.now + d;
        self.run_until(until, |driver| {
            let line = driver.rs_line();
            if line != last {
                println!("  {}  {}", driver.at(driver.now), line);
                last = line;
            }
            Ok(())
        })
    }

    fn apply(&mut self, yaml: &str) -> anyhow::Result<()> {
        let manifests = flotilla_model::manifest::parse_str("web.yaml", yaml)
            .map_err(|e| anyhow::anyhow!("manifest: {e:?}"))?;
        for m in manifests.objects {
            let kind = m.object.kind();
            let name = m.object.metadata().name.clone();
            let outcome = self.cluster.apply(m.object)?;
            let group = match kind.group() {
                "" => String::new(),
                g => format!(".{g}"),
            };
            println!(
                "  {}{group}/{name} {}",
                kind.name().to_lowercase(),
                outcome.as_str()
            );
        }
        Ok(())
    }
}

fn heading(text: &str) {
    println!();
    println!("== {text}");
}

fn main() -> anyhow::Result<()> {
    let mut d = Driver::new(SEED);

    heading("Setup: three nodes register (each kubelet creates its Node)");
    d.apply(NODES)?;
    d.poll();
    for name in ["node-1", "node-2", "node-3"] {
        if let Some(Object::Node(n)) = d.cluster.store().get(Kind::Node, "", name).as_deref() {
            let alloc = n.allocatable();
            println!(
                "  {name}  Ready={:?}  allocatable cpu={} memory={} pods={}  rv {}",
                n.is_ready(),
                alloc.get("cpu").map(|q| q.to_string()).unwrap_or_default(),
                alloc
                    .get("memory")
                    .map(|q| q.to_string())
                    .unwrap_or_default(),
                alloc.get("pods").map(|q| q.to_string()).unwrap_or_default(),
                n.metadata.resource_version
            );
        }
    }
    d.print_watch()?;

    heading("Step 1. kubectl apply -f web.yaml (Cluster::apply)");
    d.apply(WEB)?;

    heading("Step 2. The store admitted it: defaults, validation, a resourceVersion");
    if let Some(Object::Deployment(dep)) = d
        .cluster
        .store()
        .get(Kind::Deployment, "default", "web")
        .as_deref()
    {
        let rolling = dep.spec.strategy.rolling_update.as_ref();
        println!(
            "  deployment web: uid {} resourceVersion {} generation {}",
            dep.metadata.uid, dep.metadata.resource_version, dep.metadata.generation
        );
        println!(
            "  defaulted: strategy {:?}, maxSurge {}, maxUnavailable {}, revisionHistoryLimit {}, progressDeadlineSeconds {}",
            dep.spec.strategy.type_.unwrap_or_default(),
            rolling
                .and_then(|r| r.max_surge.as_ref())
                .map(|v| v.to_string())
                .unwrap_or_default(),
            rolling
                .and_then(|r| r.max_unavailable.as_ref())
                .map(|v| v.to_string())
                .unwrap_or_default(),
            dep.spec.revision_history_limit.unwrap_or_default(),
            dep.spec.progress_deadline_seconds.unwrap_or_default()
        );
    }
    println!(
        "  store: {} objects, resourceVersion {}",
        d.cluster.store().len(),
        d.cluster.store().resource_version()
    );
    println!("  watch events since the nodes registered:");
    d.print_watch()?;

    heading("Steps 3-6. One poll: controllers, then the scheduler, then the kubelets");
    d.trace = true;
    println!("  runtime commands the kubelets returned from this poll:");
    d.poll();
    d.trace = false;
    println!("  what the watch saw, in resourceVersion order:");
    d.print_watch()?;
    println!("  step 3, the ReplicaSet the deployment controller created:");
    d.print_replica_sets();
    println!("  steps 4-6, the pods the ReplicaSet controller created and the scheduler bound:");
    d.print_pods();
    println!("  the event log (kubectl get events):");
    d.print_events(|_| true);

    heading("Steps 7-8. The kubelets and the runtime, on the virtual clock");
    d.trace = true;
    d.run_for(Duration::from_secs(10))?;
    d.trace = false;
    d.print_pods();
    let pods = d.pods();
    if let Some(p) = pods.first() {
        println!(
            "  conditions of {} (kubectl describe pod):",
            p.metadata.name
        );
        for c in &p.status.conditions {
            println!(
                "    {:<26} {:<6} since {}",
                c.r#type,
                format!("{:?}", c.status),
                c.last_transition_time.map(|t| d.at(t)).unwrap_or_default()
            );
        }
        if let Some(s) = p.status.container_statuses.first() {
            let started = s
                .state
                .running
                .as_ref()
                .and_then(|r| r.started_at)
                .map(|t| d.at(t))
                .unwrap_or_default();
            println!(
                "    container {}: running since {started}, ready {}, restartCount {}",
                s.name, s.ready, s.restart_count
            );
        }
    }
    println!("  kubelet events:");
    d.print_events(|_| true);
    println!("  deployment status after the ReplicaSet reported its ready pods:");
    if let Some(Object::Deployment(dep)) = d
        .cluster
        .store()
        .get(Kind::Deployment, "default", "web")
        .as_deref()
    {
        println!(
            "    replicas {} updated {} ready {} available {}",
            dep.status.replicas,
            dep.status.updated_replicas,
            dep.status.ready_replicas,
            dep.status.available_replicas
        );
        for c in &dep.status.conditions {
            println!(
                "    {:?}={:?} {}: {}",
                c.type_, c.status, c.reason, c.message
            );
        }
    }

    heading("Step 9. The endpoints a Service selecting app=web would route to");
    println!(
        "  (computed here from pod status: controllers::endpoints and ::proxy are not built yet)"
    );
    let endpoints: Vec<String> = d
        .pods()
        .iter()
        .filter(|p| p.is_ready() && p.metadata.deletion_timestamp.is_none())
        .map(|p| format!("{}:80", p.status.pod_ip))
        .collect();
    println!("  web: {}", endpoints.join(", "));

    heading("Step 10a. A container crashes (exit 137): the kubelet restarts it");
    let victim = d.pods().first().cloned().context("no pod")?;
    let crash = RuntimeEvent::ContainerExited {
        pod_uid: victim.metadata.uid.clone(),
        container: "nginx".into(),
        exit_code: 137,
        oom_killed: false,
    };
    d.trace = true;
    d.inject(victim.spec.node_name.clone(), crash)?;
    d.run_for(Duration::from_secs(5))?;
    d.trace = false;
    d.print_pods();
    if let Some(p) = d
        .pods()
        .into_iter()
        .find(|p| p.metadata.name == victim.metadata.name)
    {
        if let Some(t) = p
            .status
            .container_statuses
            .first()
            .and_then(|s| s.last_state.terminated.as_ref())
        {
            println!(
                "  {} lastState: terminated, reason {}, exit code {}",
                p.metadata.name, t.reason, t.exit_code
            );
        }
    }
    d.print_events(|_| true);

    heading("Step 10b. A pod is deleted: graceful termination, and a replacement");
    let doomed = d.pods().get(1).cloned().context("no second pod")?;
    let outcome = d.cluster.delete(
        Kind::Pod,
        "default",
        &doomed.metadata.name,
        &DeleteOptions::default(),
    )?;
    let outcome = match outcome {
        DeleteOutcome::Deleted(_) => "deleted".to_string(),
        DeleteOutcome::Pending(p) => format!(
            "deletion pending (deletionTimestamp {}, grace {}s)",
            p.metadata()
                .deletion_timestamp
                .map(|t| d.at(t))
                .unwrap_or_default(),
            p.metadata().deletion_grace_period_seconds.unwrap_or(0)
        ),
    };
    println!("  kubectl delete pod {}: {outcome}", doomed.metadata.name);
    d.trace = true;
    d.run_for(Duration::from_secs(10))?;
    d.trace = false;
    d.print_pods();
    d.print_events(|_| true);

    heading("Rollout: the image changes to nginx:1.28 (maxSurge 1, maxUnavailable 0)");
    d.apply(&WEB.replace("nginx:1.27", "nginx:1.28"))?;
    println!("  ReplicaSets as desired/current/ready, at each change:");
    d.follow_rollout(Duration::from_secs(20))?;
    d.print_replica_sets();
    println!("  deployment events:");
    d.print_events(|r| r == "ScalingReplicaSet");

    heading("Rollback: kubectl rollout undo deployment/web (deployment::rollback)");
    let now = d.now;
    let outcome = rollback(d.cluster.store_mut(), "default", "web", None, now)?;
    println!("  deployment.apps/web {outcome}");
    d.follow_rollout(Duration::from_secs(20))?;
    d.print_replica_sets();
    d.print_events(|r| r == "ScalingReplicaSet");
    println!("  kubectl rollout history deployment/web:");
    for (revision, rs) in rollout_history(d.cluster.store(), "default", "web") {
        println!("    revision {revision}: {}", rs.metadata.name);
    }
    d.print_pods();

    heading("The whole event log, counted");
    let mut counts: BTreeMap<(String, String), usize> = BTreeMap::new();
    for e in d.cluster.events().events() {
        let t = match e.event_type {
            EventType::Normal => "Normal",
            EventType::Warning => "Warning",
        };
        *counts
            .entry((e.source.clone(), format!("{t} {}", e.reason)))
            .or_default() += 1;
    }
    for ((source, reason), n) in counts {
        println!("  {source:<22} {reason:<26} {n}");
    }
    println!(
        "  {} events, {} reconciles, store at resourceVersion {}, virtual time {}",
        d.cluster.events().total(),
        d.cluster.controllers().reconciles(),
        d.cluster.store().resource_version(),
        d.at(d.now)
    );
    if d.pods().len() != 3 {
        bail!("expected 3 pods at the end, found {}", d.pods().len());
    }
    Ok(())
}
