//! What the adapter hands a helper process: plain data, written as JSON into the pod's state
//! directory and named on the helper's command line (so it can also be read after the fact).

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

/// The pod sandbox: the process that holds the pod's network, IPC and UTS namespaces.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SandboxSpec {
    /// The pod's hostname (its `spec.hostname`, else its name).
    pub hostname: String,
    /// `hostNetwork: true`: keep the host's network and UTS namespaces.
    pub host_network: bool,
    /// The cgroup directories (one per hierarchy) the sandbox joins.
    pub cgroup_dirs: Vec<PathBuf>,
    /// The pod's network interface to create ([`crate::network::attach_pod`]); `None` for
    /// loopback only (and for `hostNetwork` pods).
    #[serde(default)]
    pub network: Option<crate::network::PodAttachment>,
}

/// Where a container's root filesystem comes from.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum RootfsSource {
    /// An overlay of the image's (read-only) rootfs and a per-container writable layer.
    Overlay {
        /// The image's rootfs.
        lower: PathBuf,
        /// The writable layer.
        upper: PathBuf,
        /// overlayfs' work directory (same filesystem as `upper`).
        work: PathBuf,
    },
    /// A private copy of the image's rootfs already at the mount point, bind-mounted onto itself.
    Copy,
}

/// A container's root filesystem.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RootfsSpec {
    /// The directory that becomes `/`.
    pub mount_point: PathBuf,
    /// What is mounted there.
    pub source: RootfsSource,
    /// `readOnlyRootFilesystem`.
    pub readonly: bool,
    /// Where the host's device nodes are (`/dev`; tests may point elsewhere).
    pub host_dev: PathBuf,
    /// The pod's hosts file, bind-mounted onto the container's `/etc/hosts` (the kubelet's
    /// `etc-hosts` mount); `None` leaves the image's.
    #[serde(default)]
    pub etc_hosts: Option<PathBuf>,
    /// The container's `volumeMounts`, bound in this order before `pivot_root`.
    #[serde(default)]
    pub mounts: Vec<VolumeMountSpec>,
}

/// One `volumeMounts` entry, as the helper mounts it (kubelet_pods.go `makeMounts`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct VolumeMountSpec {
    /// The volume's name (for messages).
    pub name: String,
    /// The volume on the host: a directory of the pod's (`emptyDir`, `configMap`, …) or an
    /// allowed host path (`hostPath`, a claim's volume).
    pub source: PathBuf,
    /// `subPath`: a path inside the volume, resolved without leaving it; empty for the whole
    /// volume.
    pub sub_path: String,
    /// `mountPath`, inside the container (symbolic links in the image resolve inside its
    /// root).
    pub destination: String,
    /// `readOnly`: bound, then remounted read-only.
    pub read_only: bool,
}

/// The workload process: what to exec and with which privileges.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProcessSpec {
    /// argv; `args[0]` is looked up in the container's `PATH` when it has no `/`.
    pub args: Vec<String>,
    /// The complete environment.
    pub env: Vec<(String, String)>,
    /// Working directory inside the container.
    pub cwd: String,
    /// User id.
    pub uid: u32,
    /// Group id.
    pub gid: u32,
    /// Supplementary groups.
    pub groups: Vec<u32>,
    /// Capability mask for the bounding, permitted and effective sets (intersected with the
    /// helper's bounding set).
    pub capabilities: u64,
    /// Whether to set `no_new_privs`.
    pub no_new_privs: bool,
    /// Whether to install the seccomp deny-list.
    pub seccomp: bool,
}

/// One container run.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ContainerSpec {
    /// The sandbox process whose namespaces the container joins.
    pub sandbox_pid: i32,
    /// The pod uses the host's network and UTS namespaces.
    pub host_network: bool,
    /// The container's cgroup directories (one per hierarchy).
    pub cgroup_dirs: Vec<PathBuf>,
    /// Its root filesystem.
    pub rootfs: RootfsSpec,
    /// Its main process.
    pub process: ProcessSpec,
    /// Where its stdout and stderr go: a log writer copies them into this rotating file.
    /// `None` leaves them on the shim's own stdout and stderr.
    #[serde(default)]
    pub log: Option<crate::logs::LogSpec>,
}

/// What a probe does.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum ProbeAction {
    /// Run a command inside the container; exit code 0 passes.
    Exec(ProcessSpec),
    /// Connect to a TCP port in the pod's network namespace.
    Tcp {
        /// Host or IP.
        host: String,
        /// Port.
        port: u16,
    },
    /// GET a URL in the pod's network namespace; 2xx and 3xx pass.
    Http {
        /// Host or IP.
        host: String,
        /// Port.
        port: u16,
        /// Request path.
        path: String,
        /// Extra headers.
        headers: Vec<(String, String)>,
    },
    /// Call `grpc.health.v1.Health/Check` in the pod's network namespace; `SERVING` passes
    /// (the kubelet's `GRPCAction`, pkg/probe/grpc/grpc.go).
    Grpc {
        /// Host or IP (the pod's IP, as the kubelet dials it).
        host: String,
        /// Port.
        port: u16,
        /// The service name of the request; empty for the server's overall health.
        service: String,
    },
}

/// One probe run.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProbeSpec {
    /// The container's PID 1 (host pid), whose namespaces the probe enters.
    pub init_pid: i32,
    /// Cgroup directories an exec probe joins (the container's).
    pub cgroup_dirs: Vec<PathBuf>,
    /// Seconds before the probe gives up (its own socket timeouts).
    pub timeout_secs: u64,
    /// What to do.
    pub action: ProbeAction,
}
