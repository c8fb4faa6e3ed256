//! The contract between the kubelet and a container runtime (the CRI, reduced to what the
//! kubelet's logic needs): the [`RuntimeCommand`]s a kubelet asks for and the
//! [`RuntimeEvent`]s a driver reports back.
//!
//! A command's result is always an event, never a return value (DESIGN.md, the sans-IO
//! contract): the simulator answers after a modelled delay, runtime-linux after doing the work.
//! Pods are named by uid, so a command about an old pod can never touch a new pod of the same
//! name.

use std::sync::Arc;

use flotilla_model::api::{HostPathVolumeSource, Pod, Probe};
use flotilla_model::Duration;

/// Which probe of a container (startup, liveness or readiness).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ProbeKind {
    /// `startupProbe`: other probes wait until it succeeds; failure restarts the container.
    Startup,
    /// `livenessProbe`: failure restarts the container.
    Liveness,
    /// `readinessProbe`: decides whether the container (and so the pod) is ready.
    Readiness,
}

impl ProbeKind {
    /// `Startup`, `Liveness` or `Readiness`, as the kubelet's events name them.
    pub fn as_str(self) -> &'static str {
        match self {
            ProbeKind::Startup => "Startup",
            ProbeKind::Liveness => "Liveness",
            ProbeKind::Readiness => "Readiness",
        }
    }
}

/// A signal the kubelet sends to a container's main process.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum StopSignal {
    /// SIGTERM: asks the process to exit (the start of graceful termination).
    Term,
    /// SIGKILL: ends it (after the grace period, or at once with grace 0).
    Kill,
}

/// What the kubelet asks its node's runtime to do.
#[derive(Clone, Debug, PartialEq)]
pub enum RuntimeCommand {
    /// Pull `image` into the node's image store. Answered by [`RuntimeEvent::ImagePulled`].
    PullImage {
        /// The image reference as the container spec names it.
        image: String,
    },
    /// Create the pod's sandbox (its network, IPC and UTS namespaces; a pod IP). Answered by
    /// [`RuntimeEvent::SandboxReady`].
    RunPodSandbox {
        /// The pod, as bound to this node.
        pod: Arc<Pod>,
    },
    /// Create and start one container of the pod in its sandbox. Answered by
    /// [`RuntimeEvent::ContainerStarted`] and later [`RuntimeEvent::ContainerExited`].
    StartContainer {
        /// The pod (the container's spec is in it, under `container`).
        pod: Arc<Pod>,
        /// The container's name.
        container: String,
        /// Whether it is an init container.
        init: bool,
        /// How many times this container has been restarted before (0 for the first run).
        attempt: i32,
        /// The container's environment as the kubelet resolved it, in order: its `envFrom`
        /// and `env` variables, then the Service variables
        /// ([`service_env::container_env`](crate::service_env::container_env)).
        env: Vec<(String, String)>,
    },
    /// Send `signal` to a running container. The kubelet itself waits the grace period between
    /// `Term` and `Kill`. Answered by [`RuntimeEvent::ContainerExited`] when it exits.
    SignalContainer {
        /// The pod's uid.
        pod_uid: String,
        /// The container's name.
        container: String,
        /// Which signal.
        signal: StopSignal,
    },
    /// Run one probe of a container. Answered by [`RuntimeEvent::ProbeResult`] (a probe that
    /// takes longer than its `timeoutSeconds` is a failure; the driver enforces the timeout).
    RunProbe {
        /// The pod's uid.
        pod_uid: String,
        /// The container's name.
        container: String,
        /// Which probe.
        kind: ProbeKind,
        /// What to run.
        probe: Box<Probe>,
        /// The pod's IP, for HTTP and TCP probes.
        pod_ip: String,
    },
    /// The content of the pod's volumes that only the kubelet can resolve (it reads the store;
    /// a runtime cannot): the files of `configMap`, `secret`, `downwardAPI` and `projected`
    /// volumes, and the storage a `persistentVolumeClaim` is bound to. `emptyDir` and
    /// `hostPath` volumes need no content: the runtime makes them from the pod's spec.
    ///
    /// Sent before the pod's sandbox, so before its first container (kubelet.go `SyncPod`
    /// mounts every volume in `WaitForAttachAndMount` before the sandbox), and again with the
    /// whole new content whenever a ConfigMap or Secret a volume uses changes while the pod
    /// runs. Only sent for pods that have such volumes. Answered by
    /// [`RuntimeEvent::PodVolumesSet`]; a runtime rewrites a volume's files atomically so that
    /// a running container sees either the old or the new set, never a mix (AtomicWriter).
    SetPodVolumes {
        /// The pod's uid.
        pod_uid: String,
        /// One entry per volume that has content, in the pod spec's order.
        volumes: Vec<PodVolumeContent>,
    },
    /// Tear down the pod's sandbox and remove its containers (all have exited). Answered by
    /// [`RuntimeEvent::SandboxRemoved`].
    RemovePodSandbox {
        /// The pod's uid.
        pod_uid: String,
    },
}

/// One file of a projected volume (pkg/volume/util/atomic_writer.go `FileProjection`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VolumeFile {
    /// The path relative to the volume's root (`app.conf`, `conf/app.conf`): validated by the
    /// API server, never absolute and never with a `..` component.
    pub path: String,
    /// The file's bytes.
    pub data: Vec<u8>,
    /// Its permission bits (`items[].mode`, else the volume's `defaultMode`, else 0644).
    pub mode: u32,
}

/// What the kubelet resolved for one volume.
#[derive(Clone, Debug, PartialEq)]
pub enum VolumeContent {
    /// `configMap`, `secret`, `downwardAPI` or `projected`: the files to write, in path
    /// order. A missing `optional` source gives no files (an empty volume).
    Files {
        /// The files.
        files: Vec<VolumeFile>,
        /// Whether the files must never reach a disk: `secret` and `projected` volumes live
        /// on a tmpfs (secret.go and projected.go wrap an emptyDir of medium `Memory`).
        in_memory: bool,
    },
    /// `persistentVolumeClaim`: the bound PersistentVolume's storage on this node.
    PersistentVolume {
        /// The PersistentVolume's name.
        volume_name: String,
        /// Its `hostPath` source, if that is what it is.
        host_path: Option<HostPathVolumeSource>,
        /// Its `local.path`, if it is a local volume.
        local_path: Option<String>,
        /// Whether the claim's volume source asks for a read-only mount.
        read_only: bool,
    },
}

/// The content of one volume of a pod, for [`RuntimeCommand::SetPodVolumes`].
#[derive(Clone, Debug, PartialEq)]
pub struct PodVolumeContent {
    /// The volume's name in the pod spec.
    pub name: String,
    /// What it holds.
    pub content: VolumeContent,
}

/// What a runtime reports back to its node's kubelet.
#[derive(Clone, Debug, PartialEq)]
pub enum RuntimeEvent {
    /// A pull finished (`Err` with the runtime's message when it failed).
    ImagePulled {
        /// The image pulled.
        image: String,
        /// Size in bytes on success, the reason on failure.
        result: Result<u64, String>,
    },
    /// A sandbox is up (`Ok` with the pod IP) or could not be created.
    SandboxReady {
        /// The pod's uid.
        pod_uid: String,
        /// The pod's IP, or why the sandbox failed.
        result: Result<String, String>,
    },
    /// A container started (`Ok`) or could not be started (`Err`, e.g. the executable is
    /// missing: the kubelet reports it as a container that exited with code 128, reason
    /// `StartError`).
    ContainerStarted {
        /// The pod's uid.
        pod_uid: String,
        /// The container's name.
        container: String,
        /// The runtime's container id, or why it failed to start.
        result: Result<String, String>,
    },
    /// A container's main process exited.
    ContainerExited {
        /// The pod's uid.
        pod_uid: String,
        /// The container's name.
        container: String,
        /// Its exit code (128 + n when killed by signal n).
        exit_code: i32,
        /// Whether the kernel's OOM killer ended it (reason `OOMKilled`).
        oom_killed: bool,
    },
    /// The result of a [`RuntimeCommand::RunProbe`].
    ProbeResult {
        /// The pod's uid.
        pod_uid: String,
        /// The container's name.
        container: String,
        /// Which probe.
        kind: ProbeKind,
        /// Whether it passed.
        success: bool,
        /// Output or reason, for the event on failure.
        message: String,
    },
    /// The answer to [`RuntimeCommand::SetPodVolumes`]: the content was written, or why not
    /// (the kubelet records `FailedMount`, as for a failed `MountVolume.SetUp`).
    PodVolumesSet {
        /// The pod's uid.
        pod_uid: String,
        /// `Ok`, or the runtime's message.
        result: Result<(), String>,
    },
    /// A container could not be created because its configuration could not be made: a
    /// volume mount the runtime refused (a `subPath` that leaves its volume, a `hostPath`
    /// outside the allowed prefixes or of the wrong type). The kubelet reports the container
    /// `Waiting` with `reason` (kuberuntime_container.go `startContainer`:
    /// `generateContainerConfig` failing is `CreateContainerConfigError`) and tries again
    /// after its back-off; no restart is counted.
    ContainerCreateFailed {
        /// The pod's uid.
        pod_uid: String,
        /// The container's name.
        container: String,
        /// The kubelet's reason (`CreateContainerConfigError`).
        reason: String,
        /// What was wrong.
        message: String,
    },
    /// A sandbox is gone.
    SandboxRemoved {
        /// The pod's uid.
        pod_uid: String,
    },
}

impl RuntimeEvent {
    /// The uid of the pod the event is about (`None` for an image pull).
    pub fn pod_uid(&self) -> Option<&str> {
        match self {
            RuntimeEvent::ImagePulled { .. } => None,
            RuntimeEvent::SandboxReady { pod_uid, .. }
            | RuntimeEvent::ContainerStarted { pod_uid, .. }
            | RuntimeEvent::ContainerExited { pod_uid, .. }
            | RuntimeEvent::ProbeResult { pod_uid, .. }
            | RuntimeEvent::PodVolumesSet { pod_uid, .. }
            | RuntimeEvent::ContainerCreateFailed { pod_uid, .. }
            | RuntimeEvent::SandboxRemoved { pod_uid } => Some(pod_uid),
        }
    }
}

/// The default grace period when a pod names none (core/v1 `DefaultTerminationGracePeriodSeconds`).
pub const DEFAULT_TERMINATION_GRACE: Duration = Duration::from_secs(30);
