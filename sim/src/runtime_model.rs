//! The virtual nodes' container runtime: it answers the kubelet's
//! [`RuntimeCommand`]s with [`RuntimeEvent`]s after modelled delays, on the virtual clock.
//!
//! - An image pull takes `size / bandwidth` unless the node already holds the image; a node
//!   pulls one image at a time per image (the kubelet asks once), and keeps what it pulled.
//! - A sandbox takes `sandbox_latency`, a container start `container_start_latency`.
//! - How long a container runs and how it exits comes from the pod: the annotations
//!   [`RUN_TIME_ANNOTATION`] (a duration such as `90s`; absent: it runs until stopped) and
//!   [`EXIT_CODE_ANNOTATION`] (default 0). Workload sources stamp them from their run-time
//!   distributions.
//! - SIGTERM ends a container after `termination_delay`; SIGKILL at once (exit 137).
//! - Probes pass (a workload that fails its probes is future work of the fault model).
//! - Volume content (`SetPodVolumes`) is accepted at once, without being kept.
//! - A node crash ([`RuntimeModel::crash_node`]) loses the node's containers, sandboxes and
//!   pulls in flight, and says what the kubelet finds when the node boots again.
//!
//! The model is a pure value: [`RuntimeModel::execute`] returns the events to schedule, with
//! their times, and [`RuntimeModel::observe`] keeps its state in step with delivered events.

use std::collections::{BTreeMap, BTreeSet};

use flotilla_controllers::kubelet::{RuntimeCommand, RuntimeEvent, StopSignal};
use flotilla_model::{Duration, Time};

use crate::scenario::parse_duration;

/// Annotation of a pod: how long its containers run before exiting by themselves.
pub const RUN_TIME_ANNOTATION: &str = "sim.flotilla.io/run-time";
/// Annotation of a pod: the exit code its containers end with when they exit by themselves.
pub const EXIT_CODE_ANNOTATION: &str = "sim.flotilla.io/exit-code";

/// The exit code of the containers of a node that crashed, as the kubelet finds them when the
/// node boots again (containerd reports 255 for a container whose task died with the host).
pub const REBOOT_EXIT_CODE: i32 = 255;

/// The timing of the virtual runtime.
#[derive(Clone, Debug, PartialEq)]
pub struct RuntimeTiming {
    /// Image pull bandwidth, bytes per second.
    pub pull_bandwidth: u64,
    /// Size of an image the scenario does not list, bytes.
    pub default_image_size: u64,
    /// Sizes of named images, bytes.
    pub image_sizes: BTreeMap<String, u64>,
    /// Time to create a pod sandbox.
    pub sandbox_latency: Duration,
    /// Time to start a container.
    pub container_start_latency: Duration,
    /// Time a container takes to exit after SIGTERM.
    pub termination_delay: Duration,
    /// Time to run a probe.
    pub probe_latency: Duration,
}

impl Default for RuntimeTiming {
    fn default() -> Self {
        RuntimeTiming {
            pull_bandwidth: 100 << 20,
            default_image_size: 200 << 20,
            image_sizes: BTreeMap::new(),
            sandbox_latency: Duration::from_millis(500),
            container_start_latency: Duration::from_millis(300),
            termination_delay: Duration::from_secs(1),
            probe_latency: Duration::from_millis(5),
        }
    }
}

/// A runtime event to deliver at a time, and, for container exits, the token that cancels it
/// when the container is stopped first.
#[derive(Clone, Debug, PartialEq)]
pub struct Scheduled {
    /// When it happens.
    pub at: Time,
    /// What happens.
    pub event: RuntimeEvent,
}

/// The runtime state of every virtual node.
#[derive(Clone, Debug, Default)]
pub struct RuntimeModel {
    timing: RuntimeTiming,
    images: BTreeMap<String, BTreeSet<String>>,
    /// Running containers: (node, pod uid, container) → the time of their natural exit, if any.
    running: BTreeMap<(String, String, String), Option<Time>>,
    /// Containers stopped by a signal, whose natural exit must be ignored.
    stopping: BTreeSet<(String, String, String)>,
    /// Sandboxes being created: (node, pod uid).
    creating: BTreeSet<(String, String)>,
    /// Sandboxes being removed: (node, pod uid).
    removing: BTreeSet<(String, String)>,
    /// Pulls in flight: (node, image) → whether the image is being downloaded (it was not on
    /// the node before).
    pulling: BTreeMap<(String, String), bool>,
}

impl RuntimeModel {
    /// A model with `timing`.
    pub fn new(timing: RuntimeTiming) -> RuntimeModel {
        RuntimeModel {
            timing,
            ..Default::default()
        }
    }

    /// The size of `image`, bytes: from `imageSizes`, else the default size.
    pub fn image_size(&self, image: &str) -> u64 {
        self.timing
            .image_sizes
            .get(image)
            .copied()
            .unwrap_or(self.timing.default_image_size)
    }

    /// Gives `node` the images it starts with.
    pub fn preload(&mut self, node: &str, images: impl IntoIterator<Item = String>) {
        self.images
            .entry(node.to_string())
            .or_default()
            .extend(images);
    }

    /// A node crashed: its containers and sandboxes are gone, pulls in flight are lost (images
    /// already pulled stay on disk). Returns what its kubelet finds when the node boots again,
    /// as the runtime reports it after a reboot: every container it had (running, starting or
    /// being stopped) exited with code 255, as containerd reports containers that died with
    /// their node; sandboxes being created failed; pulls in flight failed; sandboxes being
    /// removed are gone. The driver delivers these before the node talks again, and drops the
    /// events it had scheduled for the node before the crash.
    pub fn crash_node(&mut self, node: &str) -> Vec<RuntimeEvent> {
        let mut found = Vec::new();
        for (n, uid) in &self.creating {
            if n == node {
                found.push(RuntimeEvent::SandboxReady {
                    pod_uid: uid.clone(),
                    result: Err("the node restarted while the sandbox was being created".into()),
                });
            }
        }
        for (n, uid, container) in self.running.keys() {
            if n == node {
                found.push(RuntimeEvent::ContainerExited {
                    pod_uid: uid.clone(),
                    container: container.clone(),
                    exit_code: REBOOT_EXIT_CODE,
                    oom_killed: false,
                });
            }
        }
        for (n, uid) in &self.removing {
            if n == node {
                found.push(RuntimeEvent::SandboxRemoved {
                    pod_uid: uid.clone(),
                });
            }
        }
        for ((n, image), downloading) in &self.pulling {
            if n == node {
                if *downloading {
                    if let Some(held) = self.images.get_mut(node) {
                        held.remove(image);
                    }
                }
                found.push(RuntimeEvent::ImagePulled {
                    image: image.clone(),
                    result: Err("the node restarted during the pull".into()),
                });
            }
        }
        self.running.retain(|(n, _, _), _| n != node);
        self.stopping.retain(|(n, _, _)| n != node);
        self.creating.retain(|(n, _)| n != node);
        self.removing.retain(|(n, _)| n != node);
        self.pulling.retain(|(n, _), _| n != node);
        found
    }

    /// The containers running (or starting, or being stopped) on `node`: (pod uid, container),
    /// in order.
    pub fn containers_on(&self, node: &str) -> Vec<(String, String)> {
        self.running
            .range((node.to_string(), String::new(), String::new())..)
            .map(|(key, _)| key)
            .take_while(|(n, _, _)| n == node)
            .map(|(_, uid, c)| (uid.clone(), c.clone()))
            .collect()
    }

    /// Whether a runtime event still applies (a container's natural exit after it was already
    /// stopped or its node crashed does not).
    pub fn is_current(&self, node: &str, event: &RuntimeEvent) -> bool {
        match event {
            RuntimeEvent::ContainerExited {
                pod_uid, container, ..
            } => self
                .running
                .contains_key(&(node.to_string(), pod_uid.clone(), container.clone())),
            _ => true,
        }
    }

    /// Keeps the model in step with an event being delivered.
    pub fn observe(&mut self, node: &str, event: &RuntimeEvent) {
        match event {
            RuntimeEvent::ContainerExited {
                pod_uid, container, ..
            } => {
                let key = (node.to_string(), pod_uid.clone(), container.clone());
                self.running.remove(&key);
                self.stopping.remove(&key);
            }
            RuntimeEvent::SandboxReady { pod_uid, .. } => {
                self.creating.remove(&(node.to_string(), pod_uid.clone()));
            }
            RuntimeEvent::SandboxRemoved { pod_uid } => {
                self.removing.remove(&(node.to_string(), pod_uid.clone()));
            }
            RuntimeEvent::ImagePulled { image, .. } => {
                self.pulling.remove(&(node.to_string(), image.clone()));
            }
            _ => {}
        }
    }

    /// What `command` on `node` at `now` leads to.
    pub fn execute(&mut self, node: &str, command: &RuntimeCommand, now: Time) -> Vec<Scheduled> {
        let t = &self.timing;
        match command {
            RuntimeCommand::PullImage { image } => {
                let size = self.image_size(image);
                let held = self.images.entry(node.to_string()).or_default();
                let took = if held.contains(image) {
                    Duration::ZERO
                } else {
                    let nanos =
                        u128::from(size) * 1_000_000_000 / u128::from(t.pull_bandwidth.max(1));
                    Duration::from_nanos(nanos.min(u128::from(u64::MAX)) as u64)
                };
                let downloading = !held.contains(image);
                held.insert(image.clone());
                self.pulling
                    .insert((node.to_string(), image.clone()), downloading);
                vec![Scheduled {
                    at: now + took,
                    event: RuntimeEvent::ImagePulled {
                        image: image.clone(),
                        result: Ok(size),
                    },
                }]
            }
            RuntimeCommand::RunPodSandbox { pod } => {
                let n = flotilla_model::rng::stable_hash(pod.metadata.uid.as_bytes());
                let ip = format!("10.{}.{}.{}", (n >> 16) % 250, (n >> 8) % 250, n % 250 + 1);
                self.creating
                    .insert((node.to_string(), pod.metadata.uid.clone()));
                vec![Scheduled {
                    at: now + t.sandbox_latency,
                    event: RuntimeEvent::SandboxReady {
                        pod_uid: pod.metadata.uid.clone(),
                        result: Ok(ip),
                    },
                }]
            }
            RuntimeCommand::StartContainer { pod, container, .. } => {
                let uid = pod.metadata.uid.clone();
                let started = now + t.container_start_latency;
                let mut out = vec![Scheduled {
                    at: started,
                    event: RuntimeEvent::ContainerStarted {
                        pod_uid: uid.clone(),
                        container: container.clone(),
                        result: Ok(format!("sim://{uid}/{container}")),
                    },
                }];
                let annotations = &pod.metadata.annotations;
                let run = annotations
                    .get(RUN_TIME_ANNOTATION)
                    .and_then(|v| parse_duration(v).ok());
                let exit_code = annotations
                    .get(EXIT_CODE_ANNOTATION)
                    .and_then(|v| v.parse().ok())
                    .unwrap_or(0);
                let exit_at = run.map(|d| started + d);
                if let Some(at) = exit_at {
                    out.push(Scheduled {
                        at,
                        event: RuntimeEvent::ContainerExited {
                            pod_uid: uid.clone(),
                            container: container.clone(),
                            exit_code,
                            oom_killed: false,
                        },
                    });
                }
                self.running
                    .insert((node.to_string(), uid, container.clone()), exit_at);
                out
            }
            RuntimeCommand::SignalContainer {
                pod_uid,
                container,
                signal,
            } => {
                let key = (node.to_string(), pod_uid.clone(), container.clone());
                let Some(natural) = self.running.get(&key).copied() else {
                    return Vec::new();
                };
                let (delay, code) = match signal {
                    StopSignal::Term => (t.termination_delay, 143),
                    StopSignal::Kill => (Duration::ZERO, 137),
                };
                let at = now + delay;
                if natural.is_some_and(|n| n <= at) {
                    // It exits by itself first.
                    return Vec::new();
                }
                // The natural exit no longer applies; this one does.
                self.running.insert(key.clone(), Some(at));
                self.stopping.insert(key);
                vec![Scheduled {
                    at,
                    event: RuntimeEvent::ContainerExited {
                        pod_uid: pod_uid.clone(),
                        container: container.clone(),
                        exit_code: code,
                        oom_killed: false,
                    },
                }]
            }
            RuntimeCommand::RunProbe {
                pod_uid,
                container,
                kind,
                ..
            } => vec![Scheduled {
                at: now + t.probe_latency,
                event: RuntimeEvent::ProbeResult {
                    pod_uid: pod_uid.clone(),
                    container: container.clone(),
                    kind: *kind,
                    success: true,
                    message: String::new(),
                },
            }],
            // Volume content is not modelled: the runtime answers at once.
            RuntimeCommand::SetPodVolumes { pod_uid, .. } => vec![Scheduled {
                at: now,
                event: RuntimeEvent::PodVolumesSet {
                    pod_uid: pod_uid.clone(),
                    result: Ok(()),
                },
            }],
            RuntimeCommand::RemovePodSandbox { pod_uid } => {
                // The pod's containers are the keys that start with (node, pod uid): a range,
                // not a scan of every container of the cluster.
                let keys: Vec<(String, String, String)> = self
                    .running
                    .range((node.to_string(), pod_uid.clone(), String::new())..)
                    .map(|(key, _)| key)
                    .take_while(|(n, uid, _)| n == node && uid == pod_uid)
                    .cloned()
                    .collect();
                for key in keys {
                    self.running.remove(&key);
                }
                self.removing.insert((node.to_string(), pod_uid.clone()));
                vec![Scheduled {
                    at: now + Duration::from_millis(100),
                    event: RuntimeEvent::SandboxRemoved {
                        pod_uid: pod_uid.clone(),
                    },
                }]
            }
        }
    }

    /// Whether an exit event at `at` is the one the model expects for the container (a natural
    /// exit superseded by a signal is not).
    pub fn expects_exit(&self, node: &str, pod_uid: &str, container: &str, at: Time) -> bool {
        self.running
            .get(&(node.to_string(), pod_uid.to_string(), container.to_string()))
            .is_some_and(|t| *t == Some(at))
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use flotilla_model::api::Pod;
    use flotilla_model::ObjectMeta;

    use super::*;

    fn start(model: &mut RuntimeModel, node: &str, uid: &str, container: &str) {
        let mut meta = ObjectMeta::named("default", uid);
        meta.uid = uid.to_string();
        let pod = Arc::new(Pod {
            metadata: meta,
            ..Default::default()
        });
        model.execute(
            node,
            &RuntimeCommand::StartContainer {
                pod,
                container: container.to_string(),
                init: false,
                attempt: 0,
                env: Vec::new(),
            },
            Time::ZERO,
        );
    }

    #[test]
    fn removing_a_sandbox_removes_only_that_pods_containers_on_that_node() {
        let mut model = RuntimeModel::default();
        start(&mut model, "n1", "a", "app");
        start(&mut model, "n1", "a", "sidecar");
        start(&mut model, "n1", "ab", "app");
        start(&mut model, "n1", "b", "app");
        start(&mut model, "n2", "a", "app");
        start(&mut model, "n10", "a", "app");
        model.execute(
            "n1",
            &RuntimeCommand::RemovePodSandbox {
                pod_uid: "a".into(),
            },
            Time::ZERO,
        );
        let pair = |uid: &str, c: &str| (uid.to_string(), c.to_string());
        assert_eq!(
            model.containers_on("n1"),
            vec![pair("ab", "app"), pair("b", "app")]
        );
        assert_eq!(model.containers_on("n2"), vec![pair("a", "app")]);
        assert_eq!(model.containers_on("n10"), vec![pair("a", "app")]);
        assert!(model.containers_on("n3").is_empty());
    }
}
