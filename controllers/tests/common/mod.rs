//! A tiny deterministic driver for `Cluster` in tests: a virtual clock, a heap of pending
//! runtime events, and a fake runtime per node that answers the kubelet's commands after fixed
//! delays. What a container does (how long it runs, how it exits, whether its probes pass) is
//! set per image by the test.

#![allow(dead_code)]

use std::cmp::Reverse;
use std::collections::{BTreeMap, BTreeSet, BinaryHeap};

use flotilla_controllers::cluster::{Cluster, ClusterConfig, ClusterInput, Ready};
use flotilla_controllers::controller::{get_typed, Controller};
use flotilla_controllers::kubelet::{ProbeKind, RuntimeCommand, RuntimeEvent, StopSignal};
use flotilla_controllers::pods::is_pod_active;
use flotilla_model::api::{Node, Pod, PodPhase};
use flotilla_model::{Duration, Kind, Object, ObjectMeta, Quantity, Resource, Time};

/// What containers of an image do.
#[derive(Clone, Debug)]
pub struct Behaviour {
    /// Exit after this long with `exit_code`; `None` runs until stopped.
    pub run_for: Option<Duration>,
    /// The exit code when it exits by itself.
    pub exit_code: i32,
    /// How long it takes to exit after SIGTERM (`None`: it ignores SIGTERM).
    pub term_delay: Option<Duration>,
    /// Whether the image can be pulled.
    pub pullable: bool,
    /// Probe results: (probe kind) → pass?
    pub probes_pass: BTreeMap<ProbeKind, bool>,
}

impl Default for Behaviour {
    fn default() -> Self {
        Behaviour {
            run_for: None,
            exit_code: 0,
            term_delay: Some(Duration::from_millis(500)),
            pullable: true,
            probes_pass: BTreeMap::new(),
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
struct Pending {
    node: String,
    seq: u64,
}

/// Delays of the fake runtime.
pub const PULL_TIME: Duration = Duration::from_secs(2);
/// Time to create a sandbox.
pub const SANDBOX_TIME: Duration = Duration::from_millis(200);
/// Time to start a container.
pub const START_TIME: Duration = Duration::from_millis(100);

/// The driver.
pub struct TestDriver {
    pub cluster: Cluster,
    pub now: Time,
    heap: BinaryHeap<Reverse<(Time, u64)>>,
    events: BTreeMap<u64, (String, RuntimeEvent)>,
    seq: u64,
    pub behaviours: BTreeMap<String, Behaviour>,
    /// Running containers: (node, pod uid, container) → the seq of their scheduled exit.
    running: BTreeMap<(String, String, String), Option<u64>>,
    pub commands: Vec<(Time, String, RuntimeCommand)>,
    pulled: BTreeSet<(String, String)>,
}

impl TestDriver {
    pub fn new(seed: u64) -> TestDriver {
        TestDriver::with_config(ClusterConfig::new(seed))
    }

    pub fn with_config(config: ClusterConfig) -> TestDriver {
        TestDriver {
            cluster: Cluster::new(config),
            now: Time::from_secs(1_000_000),
            heap: BinaryHeap::new(),
            events: BTreeMap::new(),
            seq: 0,
            behaviours: BTreeMap::new(),
            running: BTreeMap::new(),
            commands: Vec::new(),
            pulled: BTreeSet::new(),
        }
    }

    /// Adds `n` nodes `node-0…` with 4 CPUs, 8 GiB and 110 pods each.
    pub fn add_nodes(&mut self, n: usize) {
        for i in 0..n {
            let mut node = Node {
                metadata: ObjectMeta::named("", &format!("node-{i}")),
                ..Default::default()
            };
            for (r, q) in [("cpu", "4"), ("memory", "8Gi"), ("pods", "110")] {
                node.status
                    .capacity
                    .insert(r.into(), q.parse::<Quantity>().expect("quantity"));
            }
            self.cluster.add_node(node).expect("node registers");
        }
        self.poll();
    }

    pub fn apply_yaml(&mut self, yaml: &str) {
        let manifests =
            flotilla_model::manifest::parse_str("test.yaml", yaml).expect("valid manifest");
        for m in manifests.objects {
            self.cluster.apply(m.object).expect("apply");
        }
        self.poll();
    }

    fn behaviour(&self, image: &str) -> Behaviour {
        self.behaviours.get(image).cloned().unwrap_or_default()
    }

    fn push(&mut self, at: Time, node: &str, event: RuntimeEvent) -> u64 {
        self.seq += 1;
        self.heap.push(Reverse((at, self.seq)));
        self.events.insert(self.seq, (node.to_string(), event));
        self.seq
    }

    fn poll(&mut self) {
        let Ready { commands, .. } = self.cluster.poll(self.now);
        for c in commands {
            self.commands
                .push((self.now, c.node.clone(), c.command.clone()));
            self.execute(&c.node, c.command);
        }
    }

    fn image_of(pod: &Pod, container: &str) -> String {
        pod.spec
            .containers
            .iter()
            .chain(&pod.spec.init_containers)
            .find(|c| c.name == container)
            .map(|c| c.image.clone())
            .unwrap_or_default()
    }

    fn execute(&mut self, node: &str, command: RuntimeCommand) {
        let now = self.now;
        match command {
            RuntimeCommand::PullImage { image } => {
                let b = self.behaviour(&image);
                let result = if b.pullable {
                    self.pulled.insert((node.to_string(), image.clone()));
                    Ok(1_000_000)
                } else {
                    Err(format!("failed to resolve reference {image:?}: not found"))
                };
                self.push(
                    now + PULL_TIME,
                    node,
                    RuntimeEvent::ImagePulled { image, result },
                );
            }
            RuntimeCommand::RunPodSandbox { pod } => {
                let ip = format!("10.0.{}.{}", self.seq / 250, self.seq % 250 + 1);
                self.push(
                    now + SANDBOX_TIME,
                    node,
                    RuntimeEvent::SandboxReady {
                        pod_uid: pod.metadata.uid.clone(),
                        result: Ok(ip),
                    },
                );
            }
            RuntimeCommand::StartContainer { pod, container, .. } => {
                let uid = pod.metadata.uid.clone();
                let b = self.behaviour(&Self::image_of(&pod, &container));
                let started = now + START_TIME;
                self.push(
                    started,
                    node,
                    RuntimeEvent::ContainerStarted {
                        pod_uid: uid.clone(),
                        container: container.clone(),
                        result: Ok(format!("containerd://{uid}-{container}")),
                    },
                );
                let exit = b.run_for.map(|d| {
                    self.push(
                        started + d,
                        node,
                        RuntimeEvent::ContainerExited {
                            pod_uid: uid.clone(),
                            container: container.clone(),
                            exit_code: b.exit_code,
                            oom_killed: false,
                        },
                    )
                });
                self.running
                    .insert((node.to_string(), uid, container), exit);
            }
            RuntimeCommand::SignalContainer {
                pod_uid,
                container,
                signal,
            } => {
                let key = (node.to_string(), pod_uid.clone(), container.clone());
                if !self.running.contains_key(&key) {
                    return;
                }
                let pod_image = self.image_of_uid(&pod_uid, &container);
                let b = self.behaviour(&pod_image);
                let (delay, code) = match signal {
                    StopSignal::Kill => (Some(Duration::ZERO), 137),
                    StopSignal::Term => (b.term_delay, 143),
                };
                if let Some(delay) = delay {
                    if let Some(Some(old)) = self.running.get(&key) {
                        self.events.remove(old);
                    }
                    let seq = self.push(
                        now + delay,
                        node,
                        RuntimeEvent::ContainerExited {
                            pod_uid,
                            container,
                            exit_code: code,
                            oom_killed: false,
                        },
                    );
                    self.running.insert(key, Some(seq));
                }
            }
            RuntimeCommand::RunProbe {
                pod_uid,
                container,
                kind,
                ..
            } => {
                let image = self.image_of_uid(&pod_uid, &container);
                let pass = self
                    .behaviour(&image)
                    .probes_pass
                    .get(&kind)
                    .copied()
                    .unwrap_or(true);
                self.push(
                    now + Duration::from_millis(10),
                    node,
                    RuntimeEvent::ProbeResult {
                        pod_uid,
                        container,
                        kind,
                        success: pass,
                        message: if pass {
                            String::new()
                        } else {
                            "probe failed".into()
                        },
                    },
                );
            }
            RuntimeCommand::SetPodVolumes { pod_uid, .. } => {
                self.push(
                    now,
                    node,
                    RuntimeEvent::PodVolumesSet {
                        pod_uid,
                        result: Ok(()),
                    },
                );
            }
            RuntimeCommand::RemovePodSandbox { pod_uid } => {
                self.running
                    .retain(|(n, uid, _), _| !(n == node && *uid == pod_uid));
                self.push(
                    now + Duration::from_millis(50),
                    node,
                    RuntimeEvent::SandboxRemoved { pod_uid },
                );
            }
        }
    }

    fn image_of_uid(&self, uid: &str, container: &str) -> String {
        self.cluster
            .store()
            .iter_kind(Kind::Pod)
            .find_map(|o| match &**o {
                Object::Pod(p) if p.metadata.uid == uid => {
                    Some(Self::image_of(&p.clone(), container))
                }
                _ => None,
            })
            .unwrap_or_default()
    }

    /// Kills a running container as if it crashed (exit code 137).
    pub fn crash_container(&mut self, namespace: &str, pod: &str, container: &str) {
        let p: Pod = stored(&self.cluster, namespace, pod);
        let key = (
            p.spec.node_name.clone(),
            p.metadata.uid.clone(),
            container.to_string(),
        );
        if let Some(Some(old)) = self.running.get(&key) {
            self.events.remove(old);
        }
        self.push(
            self.now,
            &p.spec.node_name,
            RuntimeEvent::ContainerExited {
                pod_uid: p.metadata.uid.clone(),
                container: container.to_string(),
                exit_code: 137,
                oom_killed: false,
            },
        );
        self.step_at(self.now);
    }

    /// Delivers everything due at `at` (which must not be in the past) and polls.
    fn step_at(&mut self, at: Time) {
        self.now = self.now.max(at);
        while let Some(Reverse((t, seq))) = self.heap.peek().copied() {
            if t > self.now {
                break;
            }
            self.heap.pop();
            if let Some((node, event)) = self.events.remove(&seq) {
                if let RuntimeEvent::ContainerExited {
                    pod_uid, container, ..
                } = &event
                {
                    self.running
                        .remove(&(node.clone(), pod_uid.clone(), container.clone()));
                }
                self.cluster
                    .handle_at(self.now, ClusterInput::Runtime { node, event })
                    .expect("known node");
            }
        }
        self.poll();
    }

    /// Runs until `until`, calling `check` after every step.
    pub fn run_until_with(&mut self, until: Time, mut check: impl FnMut(&Cluster)) {
        // Whatever the test changed by hand happens now.
        self.poll();
        check(&self.cluster);
        loop {
            let heap_next = self.heap.peek().map(|Reverse((t, _))| *t);
            let next = [heap_next, self.cluster.next_wakeup()]
                .into_iter()
                .flatten()
                .min();
            match next {
                Some(t) if t <= until => {
                    self.step_at(t);
                    check(&self.cluster);
                }
                _ => break,
            }
        }
        self.now = self.now.max(until);
        self.poll();
        check(&self.cluster);
    }

    /// Runs for `d` of virtual time.
    pub fn run_for(&mut self, d: Duration) {
        let until = self.now + d;
        self.run_until_with(until, |_| {});
    }

    /// Runs for `d`, checking after every step.
    pub fn run_for_with(&mut self, d: Duration, check: impl FnMut(&Cluster)) {
        let until = self.now + d;
        self.run_until_with(until, check);
    }

    /// The pods of `namespace`.
    pub fn pods(&self, namespace: &str) -> Vec<Pod> {
        pods_of(&self.cluster, namespace)
    }
}

/// The pods of `namespace` in a cluster.
pub fn pods_of(cluster: &Cluster, namespace: &str) -> Vec<Pod> {
    cluster
        .store()
        .iter_namespace(Kind::Pod, namespace)
        .filter_map(|o| match &**o {
            Object::Pod(p) => Some(p.clone()),
            _ => None,
        })
        .collect()
}

/// The stored object `T` named `namespace`/`name` (`""` for cluster-scoped kinds), if any.
pub fn object<T>(cluster: &Cluster, namespace: &str, name: &str) -> Option<T>
where
    T: Resource + TryFrom<Object>,
{
    get_typed(cluster.store(), namespace, name)
}

/// The stored object `T` named `namespace`/`name`; panics if there is none.
pub fn stored<T>(cluster: &Cluster, namespace: &str, name: &str) -> T
where
    T: Resource + TryFrom<Object>,
{
    object(cluster, namespace, name)
        .unwrap_or_else(|| panic!("no {} {namespace}/{name}", T::KIND.name()))
}

/// Whether a pod serves: active (not finished, not being deleted), `Running` and ready.
pub fn is_serving(pod: &Pod) -> bool {
    is_pod_active(pod) && pod.phase() == PodPhase::Running && pod.is_ready()
}

/// The default cluster configuration of `seed` with `extra` controllers added, each unless the
/// defaults have one of its name already.
pub fn config_with(seed: u64, extra: Vec<Box<dyn Controller>>) -> ClusterConfig {
    let mut config = ClusterConfig::new(seed);
    for controller in extra {
        if !config
            .controllers
            .iter()
            .any(|c| c.name() == controller.name())
        {
            config.controllers.push(controller);
        }
    }
    config
}

/// A cluster configuration with the storage and namespace controllers
/// (`persistentvolume-binder-controller`, `namespace-controller`, `resourcequota-controller`)
/// added to the defaults, unless the defaults have them already.
pub fn storage_config(seed: u64) -> ClusterConfig {
    config_with(
        seed,
        vec![
            Box::new(flotilla_controllers::persistent_volume::PersistentVolumeController::new()),
            Box::new(flotilla_controllers::namespace::NamespaceController::new()),
            Box::new(flotilla_controllers::resource_quota::ResourceQuotaController::new()),
        ],
    )
}
