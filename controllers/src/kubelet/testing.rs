//! A fake runtime and a tiny driver for the kubelet's tests: a store with one registered node,
//! the kubelet, and a runtime that answers commands after set delays (pulls, sandboxes,
//! starts), exits containers on a script, answers probes from a script, and stops containers
//! on `Term` after a set delay (or ignores `Term`, so only `Kill` stops them).

use std::collections::BTreeMap;

use flotilla_model::api::{
    Container, Node, NodeAddress, NodeAddressType, Pod, PodSpec, RestartPolicy,
};
use flotilla_model::store::{ObjectKey, Store, StoreConfig};
use flotilla_model::{Duration, Kind, Object, ObjectMeta, Quantity, Time};

use super::{Kubelet, KubeletConfig, ProbeKind, RuntimeCommand, RuntimeEvent, StopSignal};
use crate::controller::EventRecorder;

/// The node every test runs on.
pub const NODE: &str = "node-1";

/// The container instance an exit belongs to: (pod uid, container, instance).
type Guard = (String, String, u64);

/// How the fake runtime behaves.
#[derive(Clone, Debug)]
pub struct FakeRuntime {
    pub pull_delay: Duration,
    pub sandbox_delay: Duration,
    pub start_delay: Duration,
    pub image_size: u64,
    /// Images whose pulls fail: how many more times (`u32::MAX`: always).
    pub pull_failures: BTreeMap<String, u32>,
    /// Per container name, per attempt (the last repeats): run for this long, then exit with
    /// this code. A container without a script runs until stopped.
    pub exits: BTreeMap<String, Vec<(Duration, i32)>>,
    /// Per container name and probe kind, the results in order (the last repeats; success
    /// when unscripted).
    pub probes: BTreeMap<(String, ProbeKind), Vec<bool>>,
    /// Per container name: how long it takes to exit after `Term` (`None`: ignores `Term`).
    pub term_exit: BTreeMap<String, Option<Duration>>,
    /// Default for `term_exit`.
    pub default_term_exit: Option<Duration>,
    /// Per container name: how many more starts fail with `ContainerCreateFailed` (a mount
    /// the runtime refuses).
    pub create_failures: BTreeMap<String, u32>,
    probe_calls: BTreeMap<(String, String, ProbeKind), usize>,
    queue: BTreeMap<(Time, u64), (Option<Guard>, RuntimeEvent)>,
    seq: u64,
    running: BTreeMap<(String, String), u64>,
    next_instance: u64,
}

impl Default for FakeRuntime {
    fn default() -> Self {
        FakeRuntime {
            pull_delay: Duration::from_secs(2),
            sandbox_delay: Duration::from_millis(500),
            start_delay: Duration::from_millis(500),
            image_size: 1000,
            pull_failures: BTreeMap::new(),
            exits: BTreeMap::new(),
            probes: BTreeMap::new(),
            term_exit: BTreeMap::new(),
            default_term_exit: Some(Duration::from_secs(1)),
            create_failures: BTreeMap::new(),
            probe_calls: BTreeMap::new(),
            queue: BTreeMap::new(),
            seq: 0,
            running: BTreeMap::new(),
            next_instance: 0,
        }
    }
}

impl FakeRuntime {
    fn push(&mut self, at: Time, guard: Option<Guard>, event: RuntimeEvent) {
        self.seq += 1;
        self.queue.insert((at, self.seq), (guard, event));
    }

    fn exit_of(&mut self, uid: &str, name: &str, code: i32, at: Time) {
        let Some(inst) = self
            .running
            .get(&(uid.to_string(), name.to_string()))
            .copied()
        else {
            return;
        };
        self.push(
            at,
            Some((uid.to_string(), name.to_string(), inst)),
            RuntimeEvent::ContainerExited {
                pod_uid: uid.to_string(),
                container: name.to_string(),
                exit_code: code,
                oom_killed: false,
            },
        );
    }

    /// Executes one command at `now`.
    pub fn execute(&mut self, command: &RuntimeCommand, now: Time) {
        match command {
            RuntimeCommand::PullImage { image } => {
                let fail = match self.pull_failures.get_mut(image) {
                    Some(n) if *n > 0 => {
                        if *n != u32::MAX {
                            *n -= 1;
                        }
                        true
                    }
                    _ => false,
                };
                let result = if fail {
                    Err("rpc error: code = NotFound desc = not found".to_string())
                } else {
                    Ok(self.image_size)
                };
                self.push(
                    now + self.pull_delay,
                    None,
                    RuntimeEvent::ImagePulled {
                        image: image.clone(),
                        result,
                    },
                );
            }
            RuntimeCommand::RunPodSandbox { pod } => self.push(
                now + self.sandbox_delay,
                None,
                RuntimeEvent::SandboxReady {
                    pod_uid: pod.metadata.uid.clone(),
                    result: Ok("10.244.0.5".into()),
                },
            ),
            RuntimeCommand::StartContainer {
                pod,
                container,
                attempt,
                ..
            } => {
                let uid = pod.metadata.uid.clone();
                if let Some(n) = self.create_failures.get_mut(container).filter(|n| **n > 0) {
                    *n -= 1;
                    self.push(
                        now + self.start_delay,
                        None,
                        RuntimeEvent::ContainerCreateFailed {
                            pod_uid: uid,
                            container: container.clone(),
                            reason: "CreateContainerConfigError".into(),
                            message: "failed to prepare subPath for volumeMount \"data\"".into(),
                        },
                    );
                    return;
                }
                self.next_instance += 1;
                let inst = self.next_instance;
                let started = now + self.start_delay;
                self.push(
                    started,
                    None,
                    RuntimeEvent::ContainerStarted {
                        pod_uid: uid.clone(),
                        container: container.clone(),
                        result: Ok(format!("containerd://{inst}")),
                    },
                );
                self.running.insert((uid.clone(), container.clone()), inst);
                if let Some(script) = self.exits.get(container) {
                    let i = (*attempt as usize).min(script.len() - 1);
                    let (after, code) = script[i];
                    self.push(
                        started + after,
                        Some((uid.clone(), container.clone(), inst)),
                        RuntimeEvent::ContainerExited {
                            pod_uid: uid,
                            container: container.clone(),
                            exit_code: code,
                            oom_killed: false,
                        },
                    );
                }
            }
            RuntimeCommand::SignalContainer {
                pod_uid,
                container,
                signal,
            } => match signal {
                StopSignal::Kill => self.exit_of(pod_uid, container, 137, now),
                StopSignal::Term => {
                    let delay = self
                        .term_exit
                        .get(container)
                        .copied()
                        .unwrap_or(self.default_term_exit);
                    if let Some(d) = delay {
                        self.exit_of(pod_uid, container, 143, now + d);
                    }
                }
            },
            RuntimeCommand::RunProbe {
                pod_uid,
                container,
                kind,
                ..
            } => {
                let calls = self
                    .probe_calls
                    .entry((pod_uid.clone(), container.clone(), *kind))
                    .or_insert(0);
                let success = match self.probes.get(&(container.clone(), *kind)) {
                    Some(script) => script[(*calls).min(script.len() - 1)],
                    None => true,
                };
                *calls += 1;
                self.push(
                    now,
                    None,
                    RuntimeEvent::ProbeResult {
                        pod_uid: pod_uid.clone(),
                        container: container.clone(),
                        kind: *kind,
                        success,
                        message: if success {
                            String::new()
                        } else {
                            "HTTP probe failed with statuscode: 500".into()
                        },
                    },
                );
            }
            RuntimeCommand::SetPodVolumes { pod_uid, .. } => self.push(
                now,
                None,
                RuntimeEvent::PodVolumesSet {
                    pod_uid: pod_uid.clone(),
                    result: Ok(()),
                },
            ),
            RuntimeCommand::RemovePodSandbox { pod_uid } => self.push(
                now + Duration::from_millis(100),
                None,
                RuntimeEvent::SandboxRemoved {
                    pod_uid: pod_uid.clone(),
                },
            ),
        }
    }

    fn next_time(&self) -> Option<Time> {
        self.queue.keys().next().map(|k| k.0)
    }

    /// The events due at `now` (stale exits of replaced instances are dropped).
    fn due(&mut self, now: Time) -> Vec<RuntimeEvent> {
        let mut out = Vec::new();
        while let Some((&(at, seq), _)) = self.queue.iter().next() {
            if at > now {
                break;
            }
            let Some((guard, event)) = self.queue.remove(&(at, seq)) else {
                break;
            };
            if let Some((uid, name, inst)) = guard {
                let key = (uid, name);
                if self.running.get(&key) != Some(&inst) {
                    continue;
                }
                self.running.remove(&key);
            }
            out.push(event);
        }
        out
    }
}

/// A store with a registered node, its kubelet and a fake runtime.
pub struct Sim {
    pub store: Store,
    pub kubelet: Kubelet,
    pub recorder: EventRecorder,
    pub runtime: FakeRuntime,
    pub now: Time,
    /// Every command the kubelet issued, with when.
    pub commands: Vec<(Time, RuntimeCommand)>,
    cursor: u64,
}

/// A node with 4 CPUs, 8Gi of memory and an internal IP.
pub fn node() -> Node {
    let mut node = Node {
        metadata: ObjectMeta::named("", NODE),
        ..Default::default()
    };
    for (k, v) in [("cpu", "4"), ("memory", "8Gi")] {
        node.status
            .capacity
            .insert(k.into(), Quantity::parse(v).expect("valid"));
    }
    node.status.addresses.push(NodeAddress {
        r#type: NodeAddressType::InternalIp,
        address: "10.0.0.1".into(),
    });
    node
}

/// A container named `name` running `image`.
pub fn container(name: &str, image: &str) -> Container {
    Container {
        name: name.into(),
        image: image.into(),
        ..Default::default()
    }
}

/// A pod in `default` with these containers and restart policy.
pub fn pod(name: &str, containers: Vec<Container>, policy: RestartPolicy) -> Pod {
    Pod {
        metadata: ObjectMeta::named("default", name),
        spec: PodSpec {
            containers: containers.into(),
            restart_policy: Some(policy),
            ..Default::default()
        }
        .into(),
        ..Default::default()
    }
}

impl Sim {
    /// A sim at 1000 s with the default kubelet config and the node registered.
    pub fn new(runtime: FakeRuntime) -> Sim {
        Sim::with_config(runtime, KubeletConfig::default(), node())
    }

    /// A sim with a given config and node.
    pub fn with_config(runtime: FakeRuntime, config: KubeletConfig, node: Node) -> Sim {
        let mut store = Store::new(StoreConfig::default());
        let now = Time::from_secs(1000);
        let mut kubelet = Kubelet::new(NODE, config);
        kubelet.register(node, &mut store, now).expect("registers");
        let mut sim = Sim {
            cursor: 0,
            store,
            kubelet,
            recorder: EventRecorder::default(),
            runtime,
            now,
            commands: Vec::new(),
        };
        sim.deliver();
        sim
    }

    fn deliver(&mut self) {
        let events: Vec<_> = self
            .store
            .changes_since(self.cursor)
            .expect("history kept")
            .cloned()
            .collect();
        for e in events {
            self.cursor = e.resource_version;
            match e.object.kind() {
                Kind::Node => self.kubelet.handle_node_event(&e),
                Kind::Pod => {
                    self.kubelet.handle_pod_event(&e, self.now);
                }
                Kind::ConfigMap | Kind::Secret => {
                    self.kubelet.handle_config_event(&e);
                }
                _ => {}
            }
        }
    }

    /// Creates `pod` and binds it to the node; returns its uid.
    pub fn add(&mut self, pod: Pod) -> String {
        let created = self.store.create(pod.into(), self.now).expect("valid pod");
        let meta = created.metadata().clone();
        self.store
            .bind(&meta.namespace, &meta.name, NODE, self.now)
            .expect("binds");
        meta.uid
    }

    /// Runs the kubelet and runtime until `now + by`.
    pub fn run_for(&mut self, by: Duration) {
        let end = self.now + by;
        for _ in 0..1_000_000 {
            self.deliver();
            if self.kubelet.has_work(self.now) {
                let commands = self
                    .kubelet
                    .sync(&mut self.store, &mut self.recorder, self.now);
                for c in commands {
                    self.runtime.execute(&c, self.now);
                    self.commands.push((self.now, c));
                }
                continue;
            }
            let next = [self.runtime.next_time(), self.kubelet.next_wakeup()]
                .into_iter()
                .flatten()
                .min();
            match next {
                Some(t) if t <= end => {
                    self.now = self.now.max(t);
                    for e in self.runtime.due(self.now) {
                        self.kubelet.handle_runtime_event(e, self.now);
                    }
                }
                _ => {
                    self.now = end;
                    return;
                }
            }
        }
        panic!("the kubelet did not settle");
    }

    /// Runs until `pred` holds (checked after each step), at most `limit`.
    pub fn run_until(&mut self, limit: Duration, mut pred: impl FnMut(&Sim) -> bool) -> bool {
        let end = self.now + limit;
        loop {
            if pred(self) {
                return true;
            }
            if self.now >= end {
                return false;
            }
            let next = [self.runtime.next_time(), self.kubelet.next_wakeup()]
                .into_iter()
                .flatten()
                .min()
                .map_or(end, |t| t.min(end));
            if self.kubelet.has_work(self.now) || next <= self.now {
                self.run_for(Duration::ZERO);
                if pred(self) {
                    return true;
                }
                let next = [self.runtime.next_time(), self.kubelet.next_wakeup()]
                    .into_iter()
                    .flatten()
                    .filter(|t| *t > self.now)
                    .min()
                    .map_or(end, |t| t.min(end));
                let by = next.saturating_duration_since(self.now);
                self.run_for(by);
                continue;
            }
            let by = next.saturating_duration_since(self.now);
            self.run_for(by);
        }
    }

    /// The stored pod.
    pub fn pod(&self, name: &str) -> Option<Pod> {
        match self.store.get(Kind::Pod, "default", name).as_deref() {
            Some(Object::Pod(p)) => Some(p.clone()),
            _ => None,
        }
    }

    /// The (reason, message) of the kubelet's events about the pod, in order.
    pub fn events(&self, name: &str) -> Vec<(String, String)> {
        let key = ObjectKey {
            kind: Kind::Pod,
            namespace: "default".into(),
            name: name.into(),
        };
        self.recorder
            .events_for(&key)
            .map(|e| (e.reason.clone(), e.message.clone()))
            .collect()
    }

    /// A short name for each command, in order: `Pull nginx:1.27`, `Sandbox`, `Start web#0`,
    /// `Term web`, `Kill web`, `Probe web Liveness`, `Volumes`, `RemoveSandbox`.
    pub fn command_names(&self) -> Vec<String> {
        self.commands
            .iter()
            .map(|(_, c)| match c {
                RuntimeCommand::PullImage { image } => format!("Pull {image}"),
                RuntimeCommand::RunPodSandbox { .. } => "Sandbox".into(),
                RuntimeCommand::StartContainer {
                    container, attempt, ..
                } => format!("Start {container}#{attempt}"),
                RuntimeCommand::SignalContainer {
                    container, signal, ..
                } => format!("{signal:?} {container}"),
                RuntimeCommand::RunProbe {
                    container, kind, ..
                } => format!("Probe {container} {}", kind.as_str()),
                RuntimeCommand::SetPodVolumes { .. } => "Volumes".into(),
                RuntimeCommand::RemovePodSandbox { .. } => "RemoveSandbox".into(),
            })
            .collect()
    }

    /// When each command whose short name is `name` was issued.
    pub fn times_of(&self, name: &str) -> Vec<Time> {
        self.command_names()
            .iter()
            .zip(&self.commands)
            .filter(|(n, _)| n.as_str() == name)
            .map(|(_, (t, _))| *t)
            .collect()
    }
}
