//! [`LinuxRuntime`]: executes the kubelet's [`RuntimeCommand`]s on this host and reports
//! [`RuntimeEvent`]s.
//!
//! Volumes live in the pod's directory, `<state_dir>/pods/<uid>/volumes/<name>`, and are
//! bound into each container that mounts them (see [`crate::rootfs::mount_volume`]):
//! - `emptyDir`: a directory shared by the pod's containers; `medium: Memory` makes it a
//!   tmpfs of `sizeLimit` (or the pod's memory limit) bytes (emptydir/empty_dir.go).
//! - `configMap`, `secret`, `downwardAPI`, `projected`: the files the kubelet sent with
//!   `SetPodVolumes`, written as the kubelet's AtomicWriter does
//!   (pkg/volume/util/atomic_writer.go): a timestamped `..<time>` directory holds the files, a
//!   `..data` symbolic link names it and is replaced with one `rename(2)`, and each top-level
//!   name is a link through `..data`; a running container, bound to the volume's directory,
//!   sees the new set at once and never a mix. Secret and projected volumes are on a tmpfs,
//!   never on disk (secret.go wraps an emptyDir of medium `Memory`).
//! - `hostPath` and a claim's `hostPath` volume: only under
//!   [`RuntimeConfig::allowed_host_paths`]; types checked as hostpath/host_path.go
//!   `checkType` does. A claim's `local` volume is used as it is.
//!
//! A mount the runtime refuses is reported as `ContainerCreateFailed` with
//! `CreateContainerConfigError`. Removing the pod unmounts everything under its directory
//! before deleting it.

use std::collections::{BTreeMap, VecDeque};
use std::fs;
use std::os::fd::{AsRawFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use flotilla_controllers::kubelet::runtime::{
    PodVolumeContent, ProbeKind, RuntimeCommand, RuntimeEvent, StopSignal, VolumeContent,
    VolumeFile,
};
use flotilla_model::api::{Container, HostPathType, HostPathVolumeSource, Pod, Probe};
use flotilla_model::IntOrString;
use nix::sys::signal::Signal;

use crate::cgroup::{self, CgroupLayout, Cgroups, Limits};
use crate::helper::HELPER_ARG;
use crate::image::{copy_tree, ImageStore};
use crate::network::{self, HostEntries, IpCommand, NetworkConfig, NetworkError, PodNetwork};
use crate::spec::{
    ContainerSpec, ProbeAction, ProbeSpec, ProcessSpec, RootfsSource, RootfsSpec, SandboxSpec,
    VolumeMountSpec,
};
use crate::sys::{process, LinuxSyscall, MntFlags, MsFlags, Syscall};

/// The reason of a container whose mounts the runtime refuses (kuberuntime_container.go:
/// `generateContainerConfig` failing).
pub const CREATE_CONTAINER_CONFIG_ERROR: &str = "CreateContainerConfigError";

/// How containers get their root filesystem.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RootfsMode {
    /// overlayfs when the kernel has it, a copy otherwise.
    Auto,
    /// Always overlayfs.
    Overlay,
    /// Always a private copy of the image (slow, works everywhere).
    Copy,
}

/// How a [`LinuxRuntime`] is set up. Every path is injectable, as youki's are.
#[derive(Clone, Debug)]
pub struct RuntimeConfig {
    /// The instance's name: its cgroups are `flotilla-<name>` and a restart with the same
    /// name cleans up what a crashed run left.
    pub name: String,
    /// Where pods' state lives (specs, writable layers, logs): `<state_dir>/pods/<uid>`.
    pub state_dir: PathBuf,
    /// The image store.
    pub image_dir: PathBuf,
    /// The binary that runs the helpers: one whose `main` calls
    /// [`run_helper_if_requested`](crate::run_helper_if_requested) first.
    pub helper: PathBuf,
    /// Run the helper from a sealed in-memory copy (CVE-2019-5736).
    pub seal_helper: bool,
    /// The pids limit of each pod cgroup (kubelet `podPidsLimit`); `None` for none.
    pub pod_pids_limit: Option<i64>,
    /// How container roots are built.
    pub rootfs_mode: RootfsMode,
    /// The cgroup layout; detected from `/proc/self/mountinfo` when `None`.
    pub cgroups: Option<CgroupLayout>,
    /// Pod networking (a bridge, a veth pair and an IP per pod, the Service CIDR made local;
    /// see [`network`]). `None` gives each pod a network namespace with loopback only and
    /// reports `127.0.0.1` as its IP; it is the default, because the network changes the
    /// host's interfaces and routes and needs iproute2. Single-host mode opts in.
    pub network: Option<NetworkConfig>,
    /// The host directories `hostPath` volumes (and claims bound to `hostPath`
    /// PersistentVolumes) may use, with everything beneath them. Empty by default: no
    /// `hostPath` at all, as a restricted PodSecurity profile would have it.
    pub allowed_host_paths: Vec<PathBuf>,
    /// The kubelet's `containerLogMaxSize`: a container's log file is rotated before it
    /// passes this many bytes (10Mi by default; see [`crate::logs`]).
    pub container_log_max_size: u64,
    /// The kubelet's `containerLogMaxFiles`: at most this many log files per container run,
    /// the current one included (5 by default, at least 2).
    pub container_log_max_files: usize,
}

impl RuntimeConfig {
    /// Defaults for instance `name`: state in `/run/flotilla/<name>`, images in
    /// `/var/lib/flotilla/images`, this binary as the helper, a pids limit of 1024.
    pub fn new(name: &str) -> RuntimeConfig {
        RuntimeConfig {
            name: name.to_string(),
            state_dir: PathBuf::from("/run/flotilla").join(name),
            image_dir: PathBuf::from("/var/lib/flotilla/images"),
            helper: PathBuf::from("/proc/self/exe"),
            seal_helper: true,
            pod_pids_limit: Some(1024),
            rootfs_mode: RootfsMode::Auto,
            cgroups: None,
            network: None,
            allowed_host_paths: Vec::new(),
            container_log_max_size: crate::logs::DEFAULT_MAX_SIZE,
            container_log_max_files: crate::logs::DEFAULT_MAX_FILES,
        }
    }
}

/// Why the runtime could not start.
#[derive(Debug, thiserror::Error)]
pub enum RuntimeError {
    /// Cgroups could not be detected or cleaned.
    #[error(transparent)]
    Cgroup(#[from] cgroup::CgroupError),
    /// The state directory could not be prepared.
    #[error("state directory {path}: {source}")]
    State {
        /// The path.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// The helper binary could not be copied into a sealed memory file.
    #[error("helper: {0}")]
    Helper(#[from] crate::sys::SysError),
    /// The pod network (bridge, Service route) could not be set up or cleaned.
    #[error("pod network: {0}")]
    Network(#[from] NetworkError),
}

struct ContainerRun {
    child: Child,
    init_pid: i32,
    process: ProcessSpec,
}

struct PodState {
    pod: Arc<Pod>,
    dir: PathBuf,
    sandbox: Child,
    /// The IP reported in `SandboxReady`.
    ip: String,
    running: BTreeMap<String, ContainerRun>,
    /// The last process spec of each container (for exec probes after a restart too).
    processes: BTreeMap<String, ProcessSpec>,
    /// The last init pid of each container, for probes.
    init_pids: BTreeMap<String, i32>,
}

/// What a pod's volumes hold on this host.
#[derive(Debug, Default)]
struct PodVolumes {
    /// The content the kubelet sent last, by volume name.
    contents: BTreeMap<String, VolumeContent>,
    /// The pod's volume directories that are tmpfs mounts.
    tmpfs: std::collections::BTreeSet<String>,
}

struct PendingProbe {
    pod_uid: String,
    container: String,
    kind: ProbeKind,
    child: Child,
    output: PathBuf,
    deadline: Instant,
}

/// Runs pods as processes on this host.
///
/// A driver feeds it the kubelet's commands with [`handle_command`](Self::handle_command) and
/// collects the answers with [`poll_events`](Self::poll_events), which never blocks: it also
/// notices containers that exited (by waiting on their processes without blocking) and probes
/// that finished or timed out, so the driver calls it every turn of its loop.
///
/// Commands run synchronously except probes and container exits; a command's result is
/// always an event, never a return value. Dropping the runtime kills and removes every pod it
/// still has; a runtime that did not get to drop (a crash) is cleaned up by the next one with
/// the same name, in [`new`](Self::new).
pub struct LinuxRuntime {
    config: RuntimeConfig,
    cgroups: Cgroups,
    images: ImageStore,
    helper_path: PathBuf,
    _helper_fd: Option<OwnedFd>,
    overlay: bool,
    pods: BTreeMap<String, PodState>,
    probes: Vec<PendingProbe>,
    events: VecDeque<RuntimeEvent>,
    /// The pod network and the `ip` runner for the host's side, when configured.
    network: Option<(PodNetwork, IpCommand)>,
    /// Extra `/etc/hosts` entries of every pod (the driver's Service names).
    extra_hosts: HostEntries,
    /// The pods' volumes, by pod uid (present from `SetPodVolumes` or the first container
    /// with a volume, until the pod is removed).
    volumes: BTreeMap<String, PodVolumes>,
}

const SANDBOX_LEAF: &str = "_sandbox";

fn state_err(path: &Path) -> impl FnOnce(std::io::Error) -> RuntimeError + '_ {
    move |source| RuntimeError::State {
        path: path.to_path_buf(),
        source,
    }
}

fn overlay_supported() -> bool {
    fs::read_to_string("/proc/filesystems")
        .map(|t| {
            t.lines()
                .any(|l| l.split_whitespace().last() == Some("overlay"))
        })
        .unwrap_or(false)
}

impl LinuxRuntime {
    /// Detects cgroups, removes whatever an earlier run with the same name left behind
    /// (processes, cgroups, state), and seals the helper binary.
    pub fn new(config: RuntimeConfig) -> Result<LinuxRuntime, RuntimeError> {
        let layout = match &config.cgroups {
            Some(l) => l.clone(),
            None => CgroupLayout::detect_host()?,
        };
        let cgroups = Cgroups::new(layout, &config.name)?;
        cgroups.remove_all()?;
        let pods_dir = config.state_dir.join("pods");
        if pods_dir.exists() {
            // Volumes an earlier run left mounted (tmpfs) first, or the removal fails.
            unmount_under(&pods_dir);
            fs::remove_dir_all(&pods_dir).map_err(state_err(&pods_dir))?;
        }
        fs::create_dir_all(&pods_dir).map_err(state_err(&pods_dir))?;
        let (helper_path, helper_fd) = if config.seal_helper {
            let fd = process::sealed_copy(&config.helper)?;
            // Named through our own pid, not `self`: in the child, descriptor numbers are
            // rearranged (the status pipe becomes 3) before the exec resolves the path.
            let path = format!("/proc/{}/fd/{}", std::process::id(), fd.as_raw_fd());
            (PathBuf::from(path), Some(fd))
        } else {
            (config.helper.clone(), None)
        };
        let overlay = match config.rootfs_mode {
            RootfsMode::Auto => overlay_supported(),
            RootfsMode::Overlay => true,
            RootfsMode::Copy => false,
        };
        // Last, so that no later failure leaves the bridge behind: what an earlier run left
        // (bridge, ports, route) goes first, then the host side is built afresh.
        let network = match &config.network {
            Some(net) => {
                let net = PodNetwork::new(net.clone())?;
                let ops = IpCommand::new(net.ip_command().to_path_buf());
                net.teardown_host(&ops)?;
                if let Err(e) = net.setup_host(&ops) {
                    let _ = net.teardown_host(&ops);
                    return Err(e.into());
                }
                Some((net, ops))
            }
            None => None,
        };
        Ok(LinuxRuntime {
            images: ImageStore::new(&config.image_dir),
            config,
            cgroups,
            helper_path,
            _helper_fd: helper_fd,
            overlay,
            pods: BTreeMap::new(),
            probes: Vec::new(),
            events: VecDeque::new(),
            network,
            extra_hosts: Vec::new(),
            volumes: BTreeMap::new(),
        })
    }

    /// The image store.
    pub fn images(&self) -> &ImageStore {
        &self.images
    }

    /// The cgroups of this instance.
    pub fn cgroups(&self) -> &Cgroups {
        &self.cgroups
    }

    /// The state directory of a pod (present while the pod is).
    pub fn pod_dir(&self, pod_uid: &str) -> PathBuf {
        self.config.state_dir.join("pods").join(pod_uid)
    }

    /// The current log file of one run of a container (`logs/<container>/<attempt>.log` in
    /// the pod's directory, as the kubelet lays out `/var/log/pods`). Rotated files sit next
    /// to it as `<attempt>.log.<YYYYMMDD-HHMMSS>` ([`crate::logs`]).
    pub fn log_path(&self, pod_uid: &str, container: &str, attempt: i32) -> PathBuf {
        self.pod_dir(pod_uid)
            .join("logs")
            .join(container)
            .join(format!("{attempt}.log"))
    }

    /// The IP a pod's sandbox reported (while the pod is here).
    pub fn pod_ip(&self, pod_uid: &str) -> Option<&str> {
        self.pods.get(pod_uid).map(|p| p.ip.as_str())
    }

    /// The pod network, when the runtime has one.
    pub fn network(&self) -> Option<&PodNetwork> {
        self.network.as_ref().map(|(n, _)| n)
    }

    /// The pod's hosts file, bind-mounted onto each of its containers' `/etc/hosts`.
    pub fn hosts_path(&self, pod_uid: &str) -> PathBuf {
        self.pod_dir(pod_uid).join("etc-hosts")
    }

    /// Sets the extra `/etc/hosts` entries (IP, names) of every pod: new pods get them, and
    /// the hosts file of every pod already here is rewritten in place (same inode, so the
    /// containers' bind mounts see it at once). Single-host mode passes each Service's
    /// ClusterIP with its names (`web`, `web.default`, `web.default.svc`,
    /// `web.default.svc.cluster.local`), standing in for cluster DNS.
    pub fn set_extra_hosts(&mut self, entries: Vec<(String, Vec<String>)>) {
        self.extra_hosts = entries;
        for (uid, pod) in &self.pods {
            let _ = self.write_hosts(uid, &pod.pod, &pod.ip);
        }
    }

    fn write_hosts(&self, uid: &str, pod: &Pod, ip: &str) -> Result<(), String> {
        let content = if pod.spec.host_network {
            let node = fs::read_to_string("/etc/hosts").unwrap_or_default();
            network::host_network_hosts_file(&node, &self.extra_hosts)
        } else {
            let (hostname, domain) = network::pod_hostname_and_domain(pod);
            network::hosts_file(ip, &hostname, &domain, &self.extra_hosts)
        };
        let path = self.hosts_path(uid);
        network::rewrite_in_place(&path, &content).map_err(|e| format!("{}: {e}", path.display()))
    }

    /// The pid of a pod's sandbox process.
    pub fn sandbox_pid(&self, pod_uid: &str) -> Option<i32> {
        self.pods.get(pod_uid).map(|p| p.sandbox.id() as i32)
    }

    /// The host pid of a running container's PID 1.
    pub fn container_pid(&self, pod_uid: &str, container: &str) -> Option<i32> {
        self.pods
            .get(pod_uid)?
            .running
            .get(container)
            .map(|r| r.init_pid)
    }

    /// Executes one command; its result arrives through [`poll_events`](Self::poll_events).
    pub fn handle_command(&mut self, command: RuntimeCommand) {
        match command {
            RuntimeCommand::PullImage { image } => {
                let result = self.images.get(&image).map(|i| i.config.size).map_err(|e| {
                    format!("ErrImagePull: {e} (import it with `flotilla-runtime image import`)")
                });
                self.events
                    .push_back(RuntimeEvent::ImagePulled { image, result });
            }
            RuntimeCommand::RunPodSandbox { pod } => {
                let pod_uid = pod.metadata.uid.clone();
                let result = self.run_sandbox(pod);
                self.events
                    .push_back(RuntimeEvent::SandboxReady { pod_uid, result });
            }
            RuntimeCommand::StartContainer {
                pod,
                container,
                init: _,
                attempt,
                env,
            } => {
                let pod_uid = pod.metadata.uid.clone();
                let mounts = match self.container_mounts(&pod, &container) {
                    Ok(m) => m,
                    Err(message) => {
                        self.events.push_back(RuntimeEvent::ContainerCreateFailed {
                            pod_uid,
                            container,
                            reason: CREATE_CONTAINER_CONFIG_ERROR.into(),
                            message,
                        });
                        return;
                    }
                };
                if let Err(message) = self.check_user(&pod, &container) {
                    self.events.push_back(RuntimeEvent::ContainerCreateFailed {
                        pod_uid,
                        container,
                        reason: CREATE_CONTAINER_CONFIG_ERROR.into(),
                        message,
                    });
                    return;
                }
                let result = self.start_container(&pod, &container, attempt, env, mounts);
                self.events.push_back(RuntimeEvent::ContainerStarted {
                    pod_uid,
                    container,
                    result,
                });
            }
            RuntimeCommand::SignalContainer {
                pod_uid,
                container,
                signal,
            } => {
                if let Some(run) = self
                    .pods
                    .get(&pod_uid)
                    .and_then(|p| p.running.get(&container))
                {
                    let signal = match signal {
                        StopSignal::Term => Signal::SIGTERM,
                        StopSignal::Kill => Signal::SIGKILL,
                    };
                    // PID 1 forwards SIGTERM to the workload; SIGKILL ends PID 1, and with it
                    // the whole PID namespace.
                    let _ = process::kill(run.init_pid, signal);
                }
            }
            RuntimeCommand::RunProbe {
                pod_uid,
                container,
                kind,
                probe,
                pod_ip,
            } => {
                if let Err(message) = self.start_probe(&pod_uid, &container, kind, &probe, &pod_ip)
                {
                    self.events.push_back(RuntimeEvent::ProbeResult {
                        pod_uid,
                        container,
                        kind,
                        success: false,
                        message,
                    });
                }
            }
            RuntimeCommand::SetPodVolumes { pod_uid, volumes } => {
                let result = self.set_pod_volumes(&pod_uid, volumes);
                self.events
                    .push_back(RuntimeEvent::PodVolumesSet { pod_uid, result });
            }
            RuntimeCommand::RemovePodSandbox { pod_uid } => {
                self.remove_pod(&pod_uid);
                self.events
                    .push_back(RuntimeEvent::SandboxRemoved { pod_uid });
            }
        }
    }

    /// Reports what happened since the last call, without blocking: command results, exited
    /// containers (with `oom_killed` from the memory cgroup's OOM-kill counter) and finished
    /// probes.
    pub fn poll_events(&mut self) -> Vec<RuntimeEvent> {
        let mut exited = Vec::new();
        for (uid, pod) in &mut self.pods {
            for (name, run) in &mut pod.running {
                if let Ok(Some(status)) = run.child.try_wait() {
                    exited.push((uid.clone(), name.clone(), exit_code(status)));
                }
            }
        }
        for (uid, name, code) in exited {
            let rel = Path::new(&uid).join(&name);
            let oom_killed = self.cgroups.oom_kills(&rel) > 0;
            let _ = self.cgroups.remove(&rel);
            if let Some(pod) = self.pods.get_mut(&uid) {
                pod.running.remove(&name);
                let _ = fs::remove_dir_all(pod.dir.join("containers").join(&name));
            }
            self.events.push_back(RuntimeEvent::ContainerExited {
                pod_uid: uid,
                container: name,
                exit_code: code,
                oom_killed,
            });
        }
        self.poll_probes();
        self.events.drain(..).collect()
    }

    /// Whether a pod has a container still running (for drivers that wait for the end).
    pub fn has_running(&self) -> bool {
        self.pods.values().any(|p| !p.running.is_empty()) || !self.probes.is_empty()
    }

    /// Blocks until [`poll_events`](Self::poll_events) has something new to report — a
    /// container or a probe process exited — or `timeout` has passed, whichever is first.
    /// Returns at once when events are already waiting. A driver's loop calls it between
    /// polls instead of sleeping a fixed interval, so an exit is seen within microseconds
    /// (pidfds, see [`process::wait_any_exit`]). Probe timeouts are not waited for: pass a
    /// `timeout` no longer than the driver's next deadline.
    pub fn wait_events(&self, timeout: Duration) {
        if !self.events.is_empty() {
            return;
        }
        let pids: Vec<i32> = self
            .pods
            .values()
            .flat_map(|p| p.running.values().map(|r| r.child.id() as i32))
            .chain(self.probes.iter().map(|p| p.child.id() as i32))
            .collect();
        let timeout = self
            .probes
            .iter()
            .map(|p| p.deadline.saturating_duration_since(Instant::now()))
            .fold(timeout, Duration::min);
        process::wait_any_exit(&pids, timeout);
    }

    fn run_sandbox(&mut self, pod: Arc<Pod>) -> Result<String, String> {
        let uid = cgroup::check_name(&pod.metadata.uid)
            .map_err(|e| e.to_string())?
            .to_string();
        if let Some(state) = self.pods.get(&uid) {
            return Ok(state.ip.clone());
        }
        let dir = self.pod_dir(&uid);
        // The pod's IP: its own on the pod network; a hostNetwork pod has the host's, for
        // which the bridge's address stands (the kubelet reports the node's IP); without a
        // pod network every pod has loopback only, and each pod's 127.0.0.1 is its own.
        let (attachment, ip) = match &mut self.network {
            Some((net, _)) if !pod.spec.host_network => {
                let a = net.allocate(&uid).map_err(|e| e.to_string())?;
                let ip = a.address.to_string();
                (Some(a), ip)
            }
            Some((net, _)) => (None, net.gateway().to_string()),
            None => (None, "127.0.0.1".to_string()),
        };
        let result = self.spawn_sandbox(&pod, &uid, &dir, attachment, &ip);
        match result {
            Ok(sandbox) => {
                self.pods.insert(
                    uid,
                    PodState {
                        pod,
                        dir,
                        sandbox,
                        ip: ip.clone(),
                        running: BTreeMap::new(),
                        processes: BTreeMap::new(),
                        init_pids: BTreeMap::new(),
                    },
                );
                Ok(ip)
            }
            Err(e) => {
                if let Some((net, ops)) = &mut self.network {
                    let _ = net.release(ops, &uid);
                }
                let _ = self.cgroups.remove(Path::new(&uid));
                // The volumes the kubelet sent stay for the next try of the sandbox.
                if !self.volumes.contains_key(&uid) {
                    let _ = fs::remove_dir_all(&dir);
                }
                Err(e)
            }
        }
    }

    fn spawn_sandbox(
        &self,
        pod: &Pod,
        uid: &str,
        dir: &Path,
        network: Option<network::PodAttachment>,
        ip: &str,
    ) -> Result<Child, String> {
        fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        self.write_hosts(uid, pod, ip)?;
        let containers = pod.spec.containers.iter().map(|c| &c.resources);
        let pod_limits = Limits::for_pod(containers, self.config.pod_pids_limit);
        self.cgroups
            .create(Path::new(uid), &pod_limits)
            .map_err(|e| e.to_string())?;
        let leaf = Path::new(uid).join(SANDBOX_LEAF);
        let cgroup_dirs = self
            .cgroups
            .create(&leaf, &Limits::default())
            .map_err(|e| e.to_string())?;
        let hostname = if pod.spec.hostname.is_empty() {
            &pod.metadata.name
        } else {
            &pod.spec.hostname
        };
        let spec = SandboxSpec {
            hostname: hostname.chars().take(63).collect(),
            host_network: pod.spec.host_network,
            cgroup_dirs,
            network,
        };
        let spec_path = dir.join("sandbox.json");
        write_json(&spec_path, &spec)?;
        let (child, status) =
            self.spawn_helper("sandbox", &spec_path, Stdio::null(), Stdio::null())?;
        let mut child = child;
        if status.lines().any(|l| l == "ready") {
            Ok(child)
        } else {
            let _ = child.kill();
            let _ = child.wait();
            Err(helper_error(&status, "sandbox helper exited"))
        }
    }

    /// Spawns `<helper> __flotilla-helper <mode> <spec>` with the status pipe as fd 3, and
    /// reads the pipe to its end.
    fn spawn_helper(
        &self,
        mode: &str,
        spec: &Path,
        out: Stdio,
        err: Stdio,
    ) -> Result<(Child, String), String> {
        let (read, write) = process::status_pipe().map_err(|e| e.to_string())?;
        let mut cmd = Command::new(&self.helper_path);
        cmd.arg(HELPER_ARG)
            .arg(mode)
            .arg(spec)
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err);
        cmd.env_clear();
        process::pass_status_fd(&mut cmd, write);
        let child = cmd
            .spawn()
            .map_err(|e| format!("spawn helper {}: {e}", self.helper_path.display()));
        drop(cmd); // closes our copy of the write end, so the read below ends with the helper's
        let child = child?;
        Ok((child, process::read_status(read)))
    }

    fn start_container(
        &mut self,
        pod: &Pod,
        name: &str,
        attempt: i32,
        env: Vec<(String, String)>,
        mounts: Vec<VolumeMountSpec>,
    ) -> Result<String, String> {
        let uid = pod.metadata.uid.clone();
        let state = self
            .pods
            .get(&uid)
            .ok_or_else(|| format!("pod {uid} has no sandbox"))?;
        cgroup::check_name(name).map_err(|e| e.to_string())?;
        if state.running.contains_key(name) {
            return Err(format!("container {name} is already running"));
        }
        let container = pod
            .spec
            .containers
            .iter()
            .chain(&pod.spec.init_containers)
            .find(|c| c.name == name)
            .ok_or_else(|| format!("pod has no container {name}"))?;
        let image = self
            .images
            .get(&container.image)
            .map_err(|e| format!("ErrImagePull: {e}"))?;
        let process = process_spec_in(pod, container, &image.config, Some(&image.rootfs), env)?;

        let ctr_dir = state.dir.join("containers").join(name);
        let _ = fs::remove_dir_all(&ctr_dir);
        let mount_point = ctr_dir.join("rootfs");
        let mkdir = |p: &Path| fs::create_dir_all(p).map_err(|e| format!("{}: {e}", p.display()));
        mkdir(&mount_point)?;
        let source = if self.overlay {
            let (upper, work) = (ctr_dir.join("upper"), ctr_dir.join("work"));
            mkdir(&upper)?;
            mkdir(&work)?;
            RootfsSource::Overlay {
                lower: image.rootfs.clone(),
                upper,
                work,
            }
        } else {
            copy_tree(&image.rootfs, &mount_point).map_err(|e| e.to_string())?;
            RootfsSource::Copy
        };
        let readonly = container
            .security_context
            .as_ref()
            .and_then(|s| s.read_only_root_filesystem)
            .unwrap_or(false);
        let rel = Path::new(&uid).join(name);
        let cgroup_dirs = self
            .cgroups
            .create(&rel, &Limits::for_container(&container.resources))
            .map_err(|e| e.to_string())?;
        let log = self.log_path(&uid, name, attempt);
        if let Some(parent) = log.parent() {
            mkdir(parent)?;
        }
        let spec = ContainerSpec {
            sandbox_pid: state.sandbox.id() as i32,
            host_network: pod.spec.host_network,
            cgroup_dirs,
            rootfs: RootfsSpec {
                mount_point,
                source,
                readonly,
                host_dev: PathBuf::from("/dev"),
                etc_hosts: Some(self.hosts_path(&uid)),
                mounts,
            },
            process: process.clone(),
            log: Some(crate::logs::LogSpec {
                path: log.clone(),
                max_size: self.config.container_log_max_size,
                max_files: self.config.container_log_max_files,
            }),
        };
        let spec_path = ctr_dir.join("spec.json");
        write_json(&spec_path, &spec)?;
        let open = || {
            fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(&log)
                .map_err(|e| format!("{}: {e}", log.display()))
        };
        let (out, err) = (open()?, open()?);
        let spawned =
            self.spawn_helper("container", &spec_path, Stdio::from(out), Stdio::from(err));
        let (mut child, status) = match spawned {
            Ok(x) => x,
            Err(e) => {
                let _ = self.cgroups.remove(&rel);
                return Err(e);
            }
        };
        let init_pid = status
            .lines()
            .find_map(|l| l.strip_prefix("pid ")?.parse::<i32>().ok());
        let error = status.lines().find_map(|l| l.strip_prefix("error "));
        match (init_pid, error) {
            (Some(init_pid), None) => {
                let state = self.pods.get_mut(&uid).expect("checked above");
                state.processes.insert(name.to_string(), process.clone());
                state.init_pids.insert(name.to_string(), init_pid);
                state.running.insert(
                    name.to_string(),
                    ContainerRun {
                        child,
                        init_pid,
                        process,
                    },
                );
                Ok(format!("flotilla://{uid}_{name}_{attempt}"))
            }
            _ => {
                if let Some(pid) = init_pid {
                    let _ = process::kill(pid, Signal::SIGKILL);
                }
                let _ = child.kill();
                let _ = child.wait();
                let _ = self.cgroups.remove(&rel);
                let _ = fs::remove_dir_all(&ctr_dir);
                Err(helper_error(&status, "container helper exited"))
            }
        }
    }

    fn start_probe(
        &mut self,
        pod_uid: &str,
        container: &str,
        kind: ProbeKind,
        probe: &Probe,
        pod_ip: &str,
    ) -> Result<(), String> {
        let pod = self
            .pods
            .get(pod_uid)
            .ok_or_else(|| format!("pod {pod_uid} has no sandbox"))?;
        let run = pod
            .running
            .get(container)
            .ok_or_else(|| format!("container {container} is not running"))?;
        let host = |h: &str| {
            if h.is_empty() {
                if pod_ip.is_empty() {
                    "127.0.0.1".to_string()
                } else {
                    pod_ip.to_string()
                }
            } else {
                h.to_string()
            }
        };
        let spec_container = pod
            .pod
            .spec
            .containers
            .iter()
            .chain(&pod.pod.spec.init_containers)
            .find(|c| c.name == container);
        let action = if let Some(exec) = &probe.exec {
            ProbeAction::Exec(ProcessSpec {
                args: exec.command.clone(),
                ..run.process.clone()
            })
        } else if let Some(tcp) = &probe.tcp_socket {
            ProbeAction::Tcp {
                host: host(&tcp.host),
                port: resolve_port(&tcp.port, spec_container)?,
            }
        } else if let Some(http) = &probe.http_get {
            ProbeAction::Http {
                host: host(&http.host),
                port: resolve_port(&http.port, spec_container)?,
                path: http.path.clone(),
                headers: http
                    .http_headers
                    .iter()
                    .map(|h| (h.name.clone(), h.value.clone()))
                    .collect(),
            }
        } else if let Some(grpc) = &probe.grpc {
            // prober.go runProbe: the kubelet dials the pod's IP.
            ProbeAction::Grpc {
                host: host(""),
                port: u16::try_from(grpc.port)
                    .map_err(|_| format!("port {} out of range", grpc.port))?,
                service: grpc.service.clone().unwrap_or_default(),
            }
        } else {
            return Err("probe has no exec, httpGet, tcpSocket or grpc handler".into());
        };
        let timeout = probe.timeout_seconds.max(1) as u64;
        let spec = ProbeSpec {
            init_pid: run.init_pid,
            cgroup_dirs: self.cgroups.dirs(&Path::new(pod_uid).join(container)),
            timeout_secs: timeout,
            action,
        };
        let dir = pod.dir.join("probes");
        fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        let base = format!("{container}-{}", kind.as_str().to_ascii_lowercase());
        let spec_path = dir.join(format!("{base}.json"));
        write_json(&spec_path, &spec)?;
        let output = dir.join(format!("{base}.out"));
        let file = fs::File::create(&output).map_err(|e| format!("{}: {e}", output.display()))?;
        let file2 = file.try_clone().map_err(|e| e.to_string())?;
        let mut cmd = Command::new(&self.helper_path);
        cmd.arg(HELPER_ARG).arg("probe").arg(&spec_path);
        cmd.stdin(Stdio::null())
            .stdout(Stdio::from(file))
            .stderr(Stdio::from(file2))
            .env_clear();
        std::os::unix::process::CommandExt::process_group(&mut cmd, 0);
        let child = cmd.spawn().map_err(|e| format!("spawn probe: {e}"))?;
        self.probes.push(PendingProbe {
            pod_uid: pod_uid.to_string(),
            container: container.to_string(),
            kind,
            child,
            output,
            deadline: Instant::now() + Duration::from_secs(timeout),
        });
        Ok(())
    }

    fn poll_probes(&mut self) {
        let now = Instant::now();
        let mut i = 0;
        while i < self.probes.len() {
            let p = &mut self.probes[i];
            let done = match p.child.try_wait() {
                Ok(Some(status)) => Some((status.success(), read_tail(&p.output))),
                Ok(None) if now >= p.deadline => {
                    // The probe runs in its own process group: end all it started.
                    let _ = nix::sys::signal::killpg(
                        nix::unistd::Pid::from_raw(p.child.id() as i32),
                        Signal::SIGKILL,
                    );
                    let _ = p.child.kill();
                    let _ = p.child.wait();
                    Some((false, "probe timed out".to_string()))
                }
                Ok(None) => None,
                Err(e) => Some((false, e.to_string())),
            };
            if let Some((success, message)) = done {
                let p = self.probes.swap_remove(i);
                let _ = fs::remove_file(&p.output);
                self.events.push_back(RuntimeEvent::ProbeResult {
                    pod_uid: p.pod_uid,
                    container: p.container,
                    kind: p.kind,
                    success,
                    message,
                });
            } else {
                i += 1;
            }
        }
    }

    fn remove_pod(&mut self, uid: &str) {
        self.probes.retain_mut(|p| {
            if p.pod_uid == uid {
                let _ = p.child.kill();
                let _ = p.child.wait();
                false
            } else {
                true
            }
        });
        // The veth first: deleting its host end removes the pair at once, where the end of
        // the sandbox's namespace would remove it only when the kernel gets to it.
        if let Some((net, ops)) = &mut self.network {
            let _ = net.release(ops, uid);
        }
        if let Some(mut pod) = self.pods.remove(uid) {
            for run in pod.running.values_mut() {
                let _ = process::kill(run.init_pid, Signal::SIGKILL);
                let _ = run.child.kill();
                let _ = run.child.wait();
            }
            let _ = pod.sandbox.kill();
            let _ = pod.sandbox.wait();
        }
        self.volumes.remove(uid);
        if cgroup::check_name(uid).is_ok() {
            let _ = self.cgroups.remove(Path::new(uid));
            let dir = self.pod_dir(uid);
            unmount_under(&dir);
            let _ = fs::remove_dir_all(dir);
        }
    }

    /// The directory of volume `name` of pod `uid`.
    pub fn volume_dir(&self, uid: &str, name: &str) -> PathBuf {
        self.pod_dir(uid).join("volumes").join(name)
    }

    /// `SetPodVolumes`: writes the files of each content volume (on a tmpfs first mounted for
    /// in-memory ones) and keeps what claims are bound to.
    fn set_pod_volumes(&mut self, uid: &str, volumes: Vec<PodVolumeContent>) -> Result<(), String> {
        cgroup::check_name(uid).map_err(|e| e.to_string())?;
        let mut errors = Vec::new();
        for volume in volumes {
            if let Err(e) = self.set_volume(uid, &volume) {
                errors.push(format!(
                    "MountVolume.SetUp failed for volume {:?} : {e}",
                    volume.name
                ));
            }
        }
        if errors.is_empty() {
            Ok(())
        } else {
            Err(errors.join("; "))
        }
    }

    fn set_volume(&mut self, uid: &str, volume: &PodVolumeContent) -> Result<(), String> {
        cgroup::check_name(&volume.name).map_err(|e| e.to_string())?;
        if let VolumeContent::Files { files, in_memory } = &volume.content {
            let dir = self.volume_dir(uid, &volume.name);
            mkdir_all(&dir)?;
            let state = self.volumes.entry(uid.to_string()).or_default();
            if *in_memory && !state.tmpfs.contains(&volume.name) {
                mount_tmpfs(&dir, None)?;
                state.tmpfs.insert(volume.name.clone());
            }
            atomic_write(&dir, files)?;
        }
        self.volumes
            .entry(uid.to_string())
            .or_default()
            .contents
            .insert(volume.name.clone(), volume.content.clone());
        Ok(())
    }

    /// The container's identity as the kubelet checks it before creating the container
    /// (kuberuntime_container.go `generateContainerConfig`: `verifyRunAsNonRoot` on the image's
    /// user) and as the runtime resolves it from the image's `/etc/passwd` and `/etc/group`.
    /// An error is the container's `CreateContainerConfigError` message. A missing image is
    /// left for the start to report (`ErrImagePull`).
    fn check_user(&self, pod: &Pod, name: &str) -> Result<(), String> {
        let Some(container) = pod
            .spec
            .containers
            .iter()
            .chain(&pod.spec.init_containers)
            .find(|c| c.name == name)
        else {
            return Ok(());
        };
        let Ok(image) = self.images.get(&container.image) else {
            return Ok(());
        };
        verify_run_as_non_root(pod, container, &image.config.user)?;
        let sc = container.security_context.as_ref();
        let psc = pod.spec.security_context.as_ref();
        let run_as_user = sc
            .and_then(|s| s.run_as_user)
            .or(psc.and_then(|s| s.run_as_user));
        if run_as_user.is_none() {
            image_user(&image.config.user, Some(&image.rootfs))?;
        }
        Ok(())
    }

    /// The mounts of container `name` of `pod` (kubelet_pods.go `makeMounts`), making the
    /// pod's `emptyDir` directories on first use. An error is the container's
    /// `CreateContainerConfigError` message.
    fn container_mounts(&mut self, pod: &Pod, name: &str) -> Result<Vec<VolumeMountSpec>, String> {
        let Some(container) = pod
            .spec
            .containers
            .iter()
            .chain(&pod.spec.init_containers)
            .find(|c| c.name == name)
        else {
            return Ok(Vec::new());
        };
        let uid = cgroup::check_name(&pod.metadata.uid)
            .map_err(|e| e.to_string())?
            .to_string();
        let mut mounts = Vec::new();
        for vm in &container.volume_mounts {
            let volume = pod
                .spec
                .volumes
                .iter()
                .find(|v| v.name == vm.name)
                .ok_or_else(|| {
                    format!(
                        "cannot find volume {:?} to mount into container {name:?}",
                        vm.name
                    )
                })?;
            cgroup::check_name(&volume.name).map_err(|e| e.to_string())?;
            if !vm.sub_path_expr.is_empty() {
                return Err(format!(
                    "volumeMount {:?}: subPathExpr is not supported by this runtime",
                    vm.name
                ));
            }
            let mut read_only = vm.read_only;
            let source = if let Some(hp) = &volume.host_path {
                check_host_path(hp, &self.config.allowed_host_paths)
                    .map_err(|e| format!("hostPath volume {:?}: {e}", volume.name))?
            } else if volume.config_map.is_some()
                || volume.secret.is_some()
                || volume.downward_api.is_some()
                || volume.projected.is_some()
            {
                let set = self
                    .volumes
                    .get(&uid)
                    .is_some_and(|v| v.contents.contains_key(&volume.name));
                if !set {
                    return Err(format!(
                        "volume {:?} has no content: the kubelet has not sent it",
                        volume.name
                    ));
                }
                self.volume_dir(&uid, &volume.name)
            } else if volume.persistent_volume_claim.is_some() {
                let content = self
                    .volumes
                    .get(&uid)
                    .and_then(|v| v.contents.get(&volume.name));
                match content {
                    Some(VolumeContent::PersistentVolume {
                        volume_name,
                        host_path,
                        local_path,
                        read_only: claim_ro,
                    }) => {
                        read_only |= *claim_ro;
                        if let Some(hp) = host_path {
                            check_host_path(hp, &self.config.allowed_host_paths)
                                .map_err(|e| format!("persistentvolume {volume_name:?}: {e}"))?
                        } else if let Some(local) = local_path {
                            PathBuf::from(local)
                        } else {
                            return Err(format!(
                                "persistentvolume {volume_name:?}: only hostPath and local volumes \
                                 can be mounted on this host"
                            ));
                        }
                    }
                    _ => {
                        return Err(format!(
                            "volume {:?}: the claim's volume is not known to the runtime",
                            volume.name
                        ))
                    }
                }
            } else {
                // emptyDir, the default source.
                let dir = self.volume_dir(&uid, &volume.name);
                mkdir_all(&dir)?;
                let memory = volume
                    .empty_dir
                    .as_ref()
                    .is_some_and(|e| e.medium == "Memory");
                let state = self.volumes.entry(uid.clone()).or_default();
                if memory && !state.tmpfs.contains(&volume.name) {
                    let size = empty_dir_memory_size(pod, volume);
                    mount_tmpfs(&dir, size)?;
                    state.tmpfs.insert(volume.name.clone());
                }
                dir
            };
            if !vm.sub_path.is_empty() {
                // kubelet_pods.go makeMounts: a subPath that leaves its volume fails the
                // container; the helper checks again when it mounts (no race).
                check_sub_path(&source, &vm.sub_path).map_err(|e| {
                    format!(
                        "failed to prepare subPath for volumeMount {:?} of container {name:?}: {e}",
                        vm.name
                    )
                })?;
            }
            mounts.push(VolumeMountSpec {
                name: vm.name.clone(),
                source,
                sub_path: vm.sub_path.clone(),
                destination: vm.mount_path.clone(),
                read_only,
            });
        }
        Ok(mounts)
    }
}

fn mkdir_all(dir: &Path) -> Result<(), String> {
    fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))
}

/// Mounts a tmpfs on `dir`, of `size` bytes when given.
fn mount_tmpfs(dir: &Path, size: Option<i64>) -> Result<(), String> {
    let data = match size {
        Some(bytes) => format!("mode=0755,size={bytes}"),
        None => "mode=0755".to_string(),
    };
    LinuxSyscall
        .mount(
            Some(Path::new("tmpfs")),
            dir,
            Some("tmpfs"),
            MsFlags::MS_NOSUID | MsFlags::MS_NODEV,
            Some(&data),
        )
        .map_err(|e| e.to_string())
}

/// emptydir `calculateEmptyDirMemorySize`: `sizeLimit` when set, at most the pod's memory
/// limit (the sum of its containers' limits, when each has one); the pod's limit otherwise;
/// `None` (tmpfs' default) when there is neither.
fn empty_dir_memory_size(pod: &Pod, volume: &flotilla_model::api::Volume) -> Option<i64> {
    let limits: Option<i64> = pod
        .spec
        .containers
        .iter()
        .map(|c| c.resources.limits.get("memory").map(|q| q.value()))
        .sum();
    let size_limit = volume
        .empty_dir
        .as_ref()
        .and_then(|e| e.size_limit.as_ref())
        .map(|q| q.value())
        .filter(|v| *v > 0);
    match (size_limit, limits) {
        (Some(s), Some(l)) => Some(s.min(l)),
        (Some(s), None) => Some(s),
        (None, l) => l,
    }
}

/// The path with `.` and `..` removed lexically (for comparing with allowed prefixes before
/// the path exists).
fn normalize(path: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for c in path.components() {
        match c {
            std::path::Component::ParentDir => {
                out.pop();
            }
            std::path::Component::CurDir => {}
            other => out.push(other),
        }
    }
    out
}

/// The real location of `path`: its nearest existing ancestor with symbolic links resolved,
/// and the rest as written.
fn real_location(path: &Path) -> PathBuf {
    let path = normalize(path);
    let mut rest = Vec::new();
    let mut cur = path.as_path();
    loop {
        if let Ok(real) = fs::canonicalize(cur) {
            return rest.iter().rev().fold(real, |acc: PathBuf, c| acc.join(c));
        }
        match (cur.parent(), cur.file_name()) {
            (Some(parent), Some(name)) => {
                rest.push(name.to_os_string());
                cur = parent;
            }
            _ => return path,
        }
    }
}

/// Checks a `hostPath` against the allowed prefixes (after resolving symbolic links) and its
/// `type` (hostpath/host_path.go `checkType`), creating it for the `…OrCreate` types.
/// Returns the path to bind.
fn check_host_path(hp: &HostPathVolumeSource, allowed: &[PathBuf]) -> Result<PathBuf, String> {
    let path = PathBuf::from(&hp.path);
    if !path.is_absolute() {
        return Err(format!("{} is not an absolute path", hp.path));
    }
    let inside = |p: &Path| {
        let real = real_location(p);
        allowed
            .iter()
            .any(|prefix| real.starts_with(real_location(prefix)))
    };
    if !inside(&path) {
        return Err(format!(
            "{} is not under an allowed host path prefix ({})",
            hp.path,
            allowed
                .iter()
                .map(|p| p.display().to_string())
                .collect::<Vec<_>>()
                .join(", ")
        ));
    }
    let kind = || fs::metadata(&path).ok().map(|m| m.file_type());
    use std::os::unix::fs::FileTypeExt;
    let failed = |what: &str| format!("hostPath type check failed: {} is not {what}", hp.path);
    match hp.r#type.unwrap_or_default() {
        HostPathType::Unset => {}
        HostPathType::DirectoryOrCreate => {
            if kind().is_none() {
                use std::os::unix::fs::DirBuilderExt;
                fs::DirBuilder::new()
                    .recursive(true)
                    .mode(0o755)
                    .create(&path)
                    .map_err(|e| format!("{}: {e}", hp.path))?;
            }
            if !kind().is_some_and(|k| k.is_dir()) {
                return Err(failed("a directory"));
            }
        }
        HostPathType::Directory => {
            if !kind().is_some_and(|k| k.is_dir()) {
                return Err(failed("a directory"));
            }
        }
        HostPathType::FileOrCreate => {
            if kind().is_none() {
                use std::os::unix::fs::OpenOptionsExt;
                fs::OpenOptions::new()
                    .write(true)
                    .create(true)
                    .truncate(false)
                    .mode(0o644)
                    .open(&path)
                    .map_err(|e| format!("{}: {e}", hp.path))?;
            }
            if !kind().is_some_and(|k| k.is_file()) {
                return Err(failed("a file"));
            }
        }
        HostPathType::File => {
            if !kind().is_some_and(|k| k.is_file()) {
                return Err(failed("a file"));
            }
        }
        HostPathType::Socket => {
            if !kind().is_some_and(|k| k.is_socket()) {
                return Err(failed("a socket file"));
            }
        }
        HostPathType::CharDevice => {
            if !kind().is_some_and(|k| k.is_char_device()) {
                return Err(failed("a character device"));
            }
        }
        HostPathType::BlockDevice => {
            if !kind().is_some_and(|k| k.is_block_device()) {
                return Err(failed("a block device"));
            }
        }
    }
    // Again, now that it exists: a symbolic link made meanwhile must not lead outside.
    if !inside(&path) {
        return Err(format!("{} resolves outside the allowed prefixes", hp.path));
    }
    Ok(path)
}

/// Checks that `sub_path` stays inside the volume at `source` (a missing tail is fine: the
/// helper creates it).
fn check_sub_path(source: &Path, sub_path: &str) -> Result<(), String> {
    if Path::new(sub_path).is_absolute() {
        return Err(format!("subPath {sub_path:?} must be a relative path"));
    }
    match crate::rootfs::open_beneath(source, sub_path, crate::rootfs::Beneath::Volume, None) {
        Ok(_) => Ok(()),
        Err(e) if e.errno == nix::errno::Errno::ENOENT => Ok(()),
        Err(e) if e.errno == nix::errno::Errno::EXDEV => Err(format!(
            "subpath {sub_path:?} not within volume path {}",
            source.display()
        )),
        Err(e) => Err(e.to_string()),
    }
}

/// Unmounts every mount at or below `dir` (deepest first, lazily), as the kubelet's volume
/// teardown and `CleanupMountPoint` do for a removed pod.
fn unmount_under(dir: &Path) {
    for _ in 0..8 {
        let Ok(text) = fs::read_to_string("/proc/self/mountinfo") else {
            return;
        };
        let Ok(mounts) = crate::mountinfo::parse(&text) else {
            return;
        };
        let mut points: Vec<PathBuf> = mounts
            .into_iter()
            .map(|m| m.mount_point)
            .filter(|p| p.starts_with(dir))
            .collect();
        if points.is_empty() {
            return;
        }
        points.sort_by_key(|p| std::cmp::Reverse(p.components().count()));
        for p in points {
            let _ = LinuxSyscall.umount2(&p, MntFlags::MNT_DETACH);
        }
    }
}

/// A volume file's path checked as the AtomicWriter's `validatePath` does: relative, no `..`
/// component, no component starting with `..`.
fn check_file_path(path: &str) -> Result<(), String> {
    let p = Path::new(path);
    if path.is_empty() || p.is_absolute() {
        return Err(format!("invalid path {path:?}: must be relative"));
    }
    for c in path.split('/') {
        if c.starts_with("..") {
            return Err(format!("invalid path {path:?}: must not contain '..'"));
        }
    }
    Ok(())
}

/// `YYYY_MM_DD_HH_MM_SS.nnnnnnnnn` in UTC, as the AtomicWriter names its directories
/// (`..2006_01_02_15_04_05.` and a unique suffix).
pub(crate) fn utc_stamp(t: std::time::SystemTime) -> String {
    let d = t.duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
    let secs = d.as_secs() as i64;
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    // Howard Hinnant's civil_from_days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}_{month:02}_{day:02}_{:02}_{:02}_{:02}.{:09}",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60,
        d.subsec_nanos()
    )
}

/// atomic_writer.go `Write`: the files into a new `..<time>` directory, `..data` switched to
/// it with one `rename(2)`, a `name -> ..data/name` link for each top-level name, then the
/// links of names no longer there and the old directory removed.
pub fn atomic_write(dir: &Path, files: &[VolumeFile]) -> Result<(), String> {
    use std::os::unix::fs::{symlink, PermissionsExt};
    fn io(p: &Path) -> impl FnOnce(std::io::Error) -> String + '_ {
        move |e| format!("{}: {e}", p.display())
    }
    for f in files {
        check_file_path(&f.path)?;
    }
    let data_link = dir.join("..data");
    let old = fs::read_link(&data_link).ok();
    let mut stamp = format!("..{}", utc_stamp(std::time::SystemTime::now()));
    while dir.join(&stamp).exists() {
        stamp.push('_');
    }
    let ts_dir = dir.join(&stamp);
    fs::create_dir(&ts_dir).map_err(io(&ts_dir))?;
    fs::set_permissions(&ts_dir, fs::Permissions::from_mode(0o755)).map_err(io(&ts_dir))?;
    let written = (|| {
        for f in files {
            let path = ts_dir.join(&f.path);
            if let Some(parent) = path.parent() {
                fs::create_dir_all(parent).map_err(io(parent))?;
            }
            fs::write(&path, &f.data).map_err(io(&path))?;
            fs::set_permissions(&path, fs::Permissions::from_mode(f.mode & 0o7777))
                .map_err(io(&path))?;
        }
        let tmp = dir.join("..data_tmp");
        let _ = fs::remove_file(&tmp);
        symlink(&stamp, &tmp).map_err(io(&tmp))?;
        fs::rename(&tmp, &data_link).map_err(io(&data_link))
    })();
    if let Err(e) = written {
        let _ = fs::remove_dir_all(&ts_dir);
        return Err(e);
    }
    let top: std::collections::BTreeSet<String> = files
        .iter()
        .filter_map(|f| f.path.split('/').find(|c| !c.is_empty()))
        .map(str::to_string)
        .collect();
    for name in &top {
        let link = dir.join(name);
        if fs::symlink_metadata(&link).is_err() {
            symlink(Path::new("..data").join(name), &link).map_err(io(&link))?;
        }
    }
    if let Ok(entries) = fs::read_dir(dir) {
        for entry in entries.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            let is_link = entry.file_type().is_ok_and(|t| t.is_symlink());
            if !name.starts_with("..") && is_link && !top.contains(&name) {
                let _ = fs::remove_file(entry.path());
            }
        }
    }
    if let Some(old) = old {
        if old != Path::new(&stamp) {
            let old_dir = dir.join(&old);
            // Only ever a `..<time>` directory of the volume itself.
            if old.components().count() == 1 && old.to_string_lossy().starts_with("..") {
                let _ = fs::remove_dir_all(old_dir);
            }
        }
    }
    Ok(())
}

impl Drop for LinuxRuntime {
    fn drop(&mut self) {
        let mut uids: Vec<String> = self.pods.keys().cloned().collect();
        uids.extend(self.volumes.keys().cloned());
        uids.sort();
        uids.dedup();
        for uid in uids {
            self.remove_pod(&uid);
        }
        let _ = self.cgroups.remove_all();
        if let Some((net, ops)) = &self.network {
            let _ = net.teardown_host(ops);
        }
    }
}

fn exit_code(status: std::process::ExitStatus) -> i32 {
    use std::os::unix::process::ExitStatusExt;
    status
        .code()
        .or_else(|| status.signal().map(|s| 128 + s))
        .unwrap_or(255)
}

fn helper_error(status: &str, fallback: &str) -> String {
    status
        .lines()
        .find_map(|l| l.strip_prefix("error "))
        .map(str::to_string)
        .unwrap_or_else(|| fallback.to_string())
}

fn write_json<T: serde::Serialize>(path: &Path, value: &T) -> Result<(), String> {
    let text = serde_json::to_string_pretty(value).map_err(|e| e.to_string())?;
    fs::write(path, text).map_err(|e| format!("{}: {e}", path.display()))
}

fn read_tail(path: &Path) -> String {
    let text = fs::read_to_string(path).unwrap_or_default();
    let start = text.len().saturating_sub(1024);
    let start = (start..text.len())
        .find(|i| text.is_char_boundary(*i))
        .unwrap_or(text.len());
    text[start..].trim_end().to_string()
}

fn resolve_port(port: &IntOrString, container: Option<&Container>) -> Result<u16, String> {
    match port {
        IntOrString::Int(n) => u16::try_from(*n).map_err(|_| format!("port {n} out of range")),
        IntOrString::String(name) => container
            .and_then(|c| c.ports.iter().find(|p| &p.name == name))
            .and_then(|p| u16::try_from(p.container_port).ok())
            .ok_or_else(|| format!("no container port named {name:?}")),
    }
}

/// The workload of a container: its command (or the image's), environment, identity and
/// privileges, as the kubelet and containerd would set them. An image `USER` that is a name
/// cannot be resolved here: use [`process_spec_in`] with the image's root filesystem.
pub fn process_spec(
    pod: &Pod,
    c: &Container,
    image: &crate::image::ImageConfig,
    env: Vec<(String, String)>,
) -> Result<ProcessSpec, String> {
    process_spec_in(pod, c, image, None, env)
}

/// [`process_spec`] with the image's root filesystem, whose `/etc/passwd` and `/etc/group`
/// resolve user and group names of the image's `USER` and the primary group of a uid.
pub fn process_spec_in(
    pod: &Pod,
    c: &Container,
    image: &crate::image::ImageConfig,
    rootfs: Option<&Path>,
    env: Vec<(String, String)>,
) -> Result<ProcessSpec, String> {
    // Kubernetes: command replaces ENTRYPOINT, args replace CMD; args alone keep ENTRYPOINT.
    let mut args = if !c.command.is_empty() {
        c.command.clone()
    } else {
        image.entrypoint.clone()
    };
    if !c.args.is_empty() {
        args.extend(c.args.iter().cloned());
    } else if c.command.is_empty() {
        args.extend(image.cmd.iter().cloned());
    }
    if args.is_empty() {
        return Err(format!(
            "container {}: no command specified and the image has none",
            c.name
        ));
    }
    let mut full_env: Vec<(String, String)> = image
        .env
        .iter()
        .filter_map(|kv| {
            kv.split_once('=')
                .map(|(k, v)| (k.to_string(), v.to_string()))
        })
        .collect();
    if !full_env.iter().any(|(k, _)| k == "PATH") {
        full_env.insert(
            0,
            (
                "PATH".to_string(),
                crate::security::DEFAULT_PATH.to_string(),
            ),
        );
    }
    let hostname = if pod.spec.hostname.is_empty() {
        &pod.metadata.name
    } else {
        &pod.spec.hostname
    };
    full_env.push(("HOSTNAME".to_string(), hostname.clone()));
    for (k, v) in env {
        full_env.retain(|(x, _)| *x != k);
        full_env.push((k, v));
    }
    let psc = pod.spec.security_context.clone().unwrap_or_default();
    let sc = c.security_context.clone().unwrap_or_default();
    let id = |v: Option<i64>, what: &str| -> Result<u32, String> {
        v.map_or(Ok(0), |n| {
            u32::try_from(n).map_err(|_| format!("{what} {n} is out of range"))
        })
    };
    verify_run_as_non_root(pod, c, &image.user)?;
    let run_as_user = sc.run_as_user.or(psc.run_as_user);
    let run_as_group = sc.run_as_group.or(psc.run_as_group);
    let (uid, gid) = match run_as_user {
        // containerd's WithUserID: the uid's primary group from the image's /etc/passwd, else
        // 0; runAsGroup wins over both.
        Some(_) => {
            let uid = id(run_as_user, "runAsUser")?;
            let primary = rootfs
                .and_then(|r| read_in_rootfs(r, "etc/passwd"))
                .and_then(|passwd| passwd_by_uid(&passwd, uid))
                .unwrap_or(0);
            let gid = match run_as_group {
                Some(_) => id(run_as_group, "runAsGroup")?,
                None => primary,
            };
            (uid, gid)
        }
        // The image's USER (containerd's WithUser); runAsGroup replaces its group.
        None => {
            let (uid, gid) = image_user(&image.user, rootfs)?;
            match run_as_group {
                Some(_) => (uid, id(run_as_group, "runAsGroup")?),
                None => (uid, gid),
            }
        }
    };
    let groups = psc
        .supplemental_groups
        .iter()
        .chain(psc.fs_group.iter())
        .map(|g| u32::try_from(*g).map_err(|_| format!("group {g} is out of range")))
        .collect::<Result<Vec<u32>, String>>()?;
    let privileged = sc.privileged.unwrap_or(false);
    let (add, drop) = sc.capabilities.map(|c| (c.add, c.drop)).unwrap_or_default();
    let capabilities =
        crate::caps::container_set(&add, &drop, privileged).map_err(|e| e.to_string())?;
    use flotilla_model::api::SeccompProfileType;
    let seccomp_type = sc
        .seccomp_profile
        .or(psc.seccomp_profile)
        .map(|p| p.r#type)
        .unwrap_or(SeccompProfileType::RuntimeDefault);
    let cwd = if !c.working_dir.is_empty() {
        c.working_dir.clone()
    } else if !image.working_dir.is_empty() {
        image.working_dir.clone()
    } else {
        "/".to_string()
    };
    Ok(ProcessSpec {
        args,
        env: full_env,
        cwd,
        uid,
        gid,
        groups,
        capabilities,
        no_new_privs: !privileged && sc.allow_privilege_escalation != Some(true),
        seccomp: !privileged && seccomp_type != SeccompProfileType::Unconfined,
    })
}

/// kuberuntime_container_linux.go / security_context_others.go `verifyRunAsNonRoot`: with
/// `runAsNonRoot: true`, a `runAsUser` of 0, an image user that is root (numeric 0 or
/// unset), or an image user given by name (which the kubelet cannot check) fails the
/// container with `CreateContainerConfigError`. The image user is the part of `USER` before
/// `:` (kuberuntime_image.go `getImageUser`, through `ParseImageUser` semantics).
pub fn verify_run_as_non_root(pod: &Pod, c: &Container, image_user: &str) -> Result<(), String> {
    let psc = pod.spec.security_context.clone().unwrap_or_default();
    let sc = c.security_context.clone().unwrap_or_default();
    if sc.run_as_non_root.or(psc.run_as_non_root) != Some(true) {
        return Ok(());
    }
    let pod_name = format!(
        "{}_{}({})",
        pod.metadata.name, pod.metadata.namespace, pod.metadata.uid
    );
    if let Some(uid) = sc.run_as_user.or(psc.run_as_user) {
        if uid == 0 {
            return Err(format!(
                "container's runAsUser breaks non-root policy (pod: {pod_name:?}, container: {})",
                c.name
            ));
        }
        return Ok(());
    }
    let user = image_user.split(':').next().unwrap_or("");
    match user.parse::<i64>() {
        Ok(0) => Err(format!(
            "container has runAsNonRoot and image will run as root (pod: {pod_name:?}, container: {})",
            c.name
        )),
        Ok(uid) if !(1..=i64::from(i32::MAX)).contains(&uid) => Err(format!(
            "container has runAsNonRoot and image has an invalid user id ({uid}). (Must be 1-({})) (pod: {pod_name:?}, container: {})",
            i32::MAX,
            c.name
        )),
        Ok(_) => Ok(()),
        // No USER: the image runs as root.
        Err(_) if user.is_empty() => Err(format!(
            "container has runAsNonRoot and image will run as root (pod: {pod_name:?}, container: {})",
            c.name
        )),
        Err(_) => Err(format!(
            "container has runAsNonRoot and image has non-numeric user ({user}), cannot verify user is non-root (pod: {pod_name:?}, container: {})",
            c.name
        )),
    }
}

/// Reads `rel` (`etc/passwd`, `etc/group`) inside an image's root filesystem without following
/// a symbolic link out of it; `None` when it is missing or unreadable.
fn read_in_rootfs(rootfs: &Path, rel: &str) -> Option<String> {
    let resolved =
        crate::rootfs::open_beneath(rootfs, rel, crate::rootfs::Beneath::Root, None).ok()?;
    // A regular file only: a FIFO planted in an image would block the adapter.
    if !fs::metadata(&resolved.path).ok()?.is_file() {
        return None;
    }
    fs::read_to_string(&resolved.path).ok()
}

/// The primary gid of `uid` in a passwd file (`name:x:uid:gid:…`).
fn passwd_by_uid(passwd: &str, uid: u32) -> Option<u32> {
    passwd.lines().find_map(|l| {
        let f: Vec<&str> = l.split(':').collect();
        (f.len() >= 4 && f[2].parse() == Ok(uid)).then(|| f[3].parse().ok())?
    })
}

/// The uid and primary gid of user `name` in a passwd file.
fn passwd_by_name(passwd: &str, name: &str) -> Option<(u32, u32)> {
    passwd.lines().find_map(|l| {
        let f: Vec<&str> = l.split(':').collect();
        if f.len() >= 4 && f[0] == name {
            Some((f[2].parse().ok()?, f[3].parse().ok()?))
        } else {
            None
        }
    })
}

/// The gid of group `name` in a group file (`name:x:gid:members`).
fn group_by_name(group: &str, name: &str) -> Option<u32> {
    group.lines().find_map(|l| {
        let f: Vec<&str> = l.split(':').collect();
        (f.len() >= 3 && f[0] == name).then(|| f[2].parse().ok())?
    })
}

/// Resolves an image's `USER` (`user`, `uid`, `user:group`, `uid:gid`, any mix) to a uid
/// and gid as containerd's `WithUser` does: a numeric user need not exist in `/etc/passwd`
/// (its group is then its passwd entry's, else 0); a name must, as must a group name in
/// `/etc/group`. Empty is root.
fn image_user(user: &str, rootfs: Option<&Path>) -> Result<(u32, u32), String> {
    if user.is_empty() {
        return Ok((0, 0));
    }
    let (user_part, group_part) = match user.split_once(':') {
        Some((u, g)) => (u, Some(g)),
        None => (user, None),
    };
    let passwd = rootfs.and_then(|r| read_in_rootfs(r, "etc/passwd"));
    let (uid, primary) = match user_part.parse::<u32>() {
        Ok(uid) => (
            uid,
            passwd
                .as_deref()
                .and_then(|p| passwd_by_uid(p, uid))
                .unwrap_or(0),
        ),
        Err(_) => passwd
            .as_deref()
            .and_then(|p| passwd_by_name(p, user_part))
            .ok_or_else(|| {
                format!("unable to find user {user_part}: no matching entries in passwd file")
            })?,
    };
    let gid = match group_part {
        None => primary,
        Some(g) => match g.parse::<u32>() {
            Ok(gid) => gid,
            Err(_) => rootfs
                .and_then(|r| read_in_rootfs(r, "etc/group"))
                .and_then(|groups| group_by_name(&groups, g))
                .ok_or_else(|| {
                    format!("unable to find group {g}: no matching entries in group file")
                })?,
        },
    };
    Ok((uid, gid))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::image::ImageConfig;
    use flotilla_model::api::{PodSecurityContext, SecurityContext};

    fn pod_with(c: Container) -> Pod {
        let mut pod = Pod::default();
        pod.metadata.name = "web-1".into();
        pod.spec.containers = vec![c].into();
        pod
    }

    #[test]
    fn command_args_and_image_defaults() {
        let image = ImageConfig {
            entrypoint: vec!["/entry".into()],
            cmd: vec!["default".into()],
            env: vec!["PATH=/custom".into(), "A=1".into()],
            ..ImageConfig::default()
        };
        let c = Container {
            name: "c".into(),
            args: vec!["x".into()],
            ..Container::default()
        };
        let p = process_spec(
            &pod_with(c.clone()),
            &c,
            &image,
            vec![("A".into(), "2".into())],
        )
        .expect("valid");
        assert_eq!(p.args, ["/entry", "x"]);
        assert_eq!(
            p.env,
            [
                ("PATH".into(), "/custom".into()),
                ("HOSTNAME".into(), "web-1".into()),
                ("A".into(), "2".into())
            ]
        );
        let c = Container {
            name: "c".into(),
            command: vec!["sh".into()],
            ..Container::default()
        };
        assert_eq!(
            process_spec(&pod_with(c.clone()), &c, &image, vec![])
                .expect("valid")
                .args,
            ["sh"]
        );
        let c = Container {
            name: "c".into(),
            ..Container::default()
        };
        assert!(process_spec(&pod_with(c.clone()), &c, &ImageConfig::default(), vec![]).is_err());
    }

    #[test]
    fn security_context_maps_to_privileges() {
        let c = Container {
            name: "c".into(),
            command: vec!["true".into()],
            security_context: Some(Box::new(SecurityContext {
                run_as_user: Some(1000),
                allow_privilege_escalation: Some(true),
                ..SecurityContext::default()
            })),
            ..Container::default()
        };
        let mut pod = pod_with(c.clone());
        pod.spec.security_context = Some(PodSecurityContext {
            run_as_group: Some(3000),
            supplemental_groups: vec![4000],
            ..Default::default()
        });
        let p = process_spec(&pod, &c, &ImageConfig::default(), vec![]).expect("valid");
        assert_eq!((p.uid, p.gid, p.groups.clone()), (1000, 3000, vec![4000]));
        assert_eq!(p.capabilities, crate::caps::default_set());
        assert!(!p.no_new_privs);
        assert!(p.seccomp);

        let c = Container {
            name: "c".into(),
            command: vec!["true".into()],
            security_context: Some(Box::new(SecurityContext {
                run_as_non_root: Some(true),
                ..SecurityContext::default()
            })),
            ..Container::default()
        };
        let err =
            process_spec(&pod_with(c.clone()), &c, &ImageConfig::default(), vec![]).unwrap_err();
        assert!(err.contains("runAsNonRoot"), "{err}");
    }

    #[test]
    fn image_user_is_resolved_in_the_rootfs_and_checked_for_run_as_non_root() {
        let scratch = Scratch::new("image-user");
        let rootfs = &scratch.0;
        fs::create_dir_all(rootfs.join("etc")).unwrap();
        fs::write(
            rootfs.join("etc/passwd"),
            "root:x:0:0:root:/root:/bin/sh\napp:x:1000:1001::/home/app:/bin/sh\n",
        )
        .unwrap();
        fs::write(rootfs.join("etc/group"), "root:x:0:\nstaff:x:50:app\n").unwrap();
        let r = Some(rootfs.as_path());
        assert_eq!(image_user("", r).unwrap(), (0, 0));
        assert_eq!(image_user("app", r).unwrap(), (1000, 1001));
        assert_eq!(image_user("1000", r).unwrap(), (1000, 1001));
        assert_eq!(image_user("4242", r).unwrap(), (4242, 0));
        assert_eq!(image_user("app:staff", r).unwrap(), (1000, 50));
        assert_eq!(image_user("1000:7", r).unwrap(), (1000, 7));
        assert!(image_user("nobody", r)
            .unwrap_err()
            .contains("unable to find user nobody"));
        assert!(image_user("app:wheel", r)
            .unwrap_err()
            .contains("unable to find group"));
        assert!(image_user("app", None).is_err());

        let c = Container {
            name: "c".into(),
            command: vec!["true".into()],
            ..Container::default()
        };
        let image = |user: &str| ImageConfig {
            user: user.into(),
            ..ImageConfig::default()
        };
        // The image's USER applies when runAsUser and runAsGroup are unset.
        let p = process_spec_in(&pod_with(c.clone()), &c, &image("app"), r, vec![]).unwrap();
        assert_eq!((p.uid, p.gid), (1000, 1001));
        // runAsGroup replaces the image's group; runAsUser takes its primary group from
        // /etc/passwd.
        let mut pod = pod_with(c.clone());
        pod.spec.security_context = Some(PodSecurityContext {
            run_as_group: Some(3000),
            ..Default::default()
        });
        let p = process_spec_in(&pod, &c, &image("app"), r, vec![]).unwrap();
        assert_eq!((p.uid, p.gid), (1000, 3000));
        pod.spec.security_context = Some(PodSecurityContext {
            run_as_user: Some(1000),
            ..Default::default()
        });
        let p = process_spec_in(&pod, &c, &image("root"), r, vec![]).unwrap();
        assert_eq!((p.uid, p.gid), (1000, 1001));

        // runAsNonRoot, as verifyRunAsNonRoot checks it.
        let non_root = |user: &str, run_as_user: Option<i64>| {
            let mut pod = pod_with(c.clone());
            pod.spec.security_context = Some(PodSecurityContext {
                run_as_non_root: Some(true),
                run_as_user,
                ..Default::default()
            });
            verify_run_as_non_root(&pod, &c, user)
        };
        assert!(non_root("1000", None).is_ok());
        assert!(non_root("1000:0", None).is_ok());
        assert!(non_root("", Some(1000)).is_ok());
        assert!(non_root("", None)
            .unwrap_err()
            .contains("image will run as root"));
        assert!(non_root("0:1000", None)
            .unwrap_err()
            .contains("image will run as root"));
        assert!(non_root("app", None)
            .unwrap_err()
            .contains("non-numeric user (app)"));
        assert!(non_root("1000", Some(0))
            .unwrap_err()
            .contains("runAsUser breaks non-root policy"));
        assert!(non_root("", None).is_err());
        assert!(process_spec_in(&pod_with(c.clone()), &c, &image("nobody"), r, vec![]).is_err());
    }

    #[test]
    fn passwd_outside_the_rootfs_is_not_read() {
        let scratch = Scratch::new("image-user-link");
        let rootfs = scratch.0.join("rootfs");
        fs::create_dir_all(rootfs.join("etc")).unwrap();
        fs::write(scratch.0.join("passwd"), "app:x:1000:1000::/:/bin/sh\n").unwrap();
        std::os::unix::fs::symlink("../../passwd", rootfs.join("etc/passwd")).unwrap();
        // `..` stops at the container's root: the host's file next to it is never read.
        assert!(image_user("app", Some(&rootfs)).is_err());
    }

    /// A scratch directory, removed on drop.
    struct Scratch(PathBuf);

    impl Scratch {
        fn new(name: &str) -> Scratch {
            let dir = std::env::temp_dir()
                .join(format!("flotilla-runtime-{name}-{}", std::process::id()));
            let _ = fs::remove_dir_all(&dir);
            fs::create_dir_all(&dir).unwrap();
            Scratch(dir)
        }
    }

    impl Drop for Scratch {
        fn drop(&mut self) {
            let _ = fs::remove_dir_all(&self.0);
        }
    }

    fn file(path: &str, data: &str, mode: u32) -> VolumeFile {
        VolumeFile {
            path: path.into(),
            data: data.as_bytes().to_vec(),
            mode,
        }
    }

    #[test]
    fn atomic_write_swaps_data_and_keeps_user_visible_links() {
        use std::os::unix::fs::PermissionsExt;
        let scratch = Scratch::new("atomic");
        let dir = &scratch.0;
        atomic_write(
            dir,
            &[
                file("app.conf", "port=80", 0o400),
                file("conf/extra", "x", 0o644),
            ],
        )
        .unwrap();
        let first = fs::read_link(dir.join("..data")).unwrap();
        assert!(first.to_string_lossy().starts_with(".."), "{first:?}");
        assert_eq!(
            fs::read_link(dir.join("app.conf")).unwrap(),
            Path::new("..data/app.conf")
        );
        assert_eq!(
            fs::read_link(dir.join("conf")).unwrap(),
            Path::new("..data/conf")
        );
        assert_eq!(fs::read_to_string(dir.join("conf/extra")).unwrap(), "x");
        let mode = fs::metadata(dir.join("app.conf"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o400);
        // An update: new timestamped directory, `..data` swapped, the old one and the links
        // of keys no longer there gone.
        atomic_write(dir, &[file("app.conf", "port=8080", 0o400)]).unwrap();
        let second = fs::read_link(dir.join("..data")).unwrap();
        assert_ne!(first, second);
        assert!(!dir.join(&first).exists());
        assert_eq!(
            fs::read_to_string(dir.join("app.conf")).unwrap(),
            "port=8080"
        );
        assert!(fs::symlink_metadata(dir.join("conf")).is_err());
        assert!(!dir.join("..data_tmp").exists());
        // Paths that would leave the volume are refused before anything is written.
        assert!(atomic_write(dir, &[file("../evil", "x", 0o644)]).is_err());
        assert!(atomic_write(dir, &[file("/abs", "x", 0o644)]).is_err());
        assert_eq!(fs::read_link(dir.join("..data")).unwrap(), second);
    }

    #[test]
    fn host_paths_are_checked_against_prefixes_and_types() {
        let scratch = Scratch::new("hostpath");
        let allowed = scratch.0.join("allowed");
        fs::create_dir_all(&allowed).unwrap();
        fs::write(allowed.join("file"), "x").unwrap();
        std::os::unix::fs::symlink("/etc", allowed.join("to-etc")).unwrap();
        let prefixes = vec![allowed.clone()];
        let hp = |path: &Path, t: HostPathType| HostPathVolumeSource {
            path: path.display().to_string(),
            r#type: Some(t),
        };
        // Outside the prefixes, directly, by `..` or through a link: refused.
        for p in [
            PathBuf::from("/etc"),
            allowed.join("../other"),
            allowed.join("to-etc"),
        ] {
            let err = check_host_path(&hp(&p, HostPathType::Unset), &prefixes).unwrap_err();
            assert!(err.contains("not under an allowed"), "{p:?}: {err}");
        }
        // Nothing allowed by default.
        assert!(check_host_path(&hp(&allowed, HostPathType::Directory), &[]).is_err());
        // Types.
        assert!(check_host_path(&hp(&allowed, HostPathType::Directory), &prefixes).is_ok());
        assert_eq!(
            check_host_path(
                &hp(&allowed.join("file"), HostPathType::Directory),
                &prefixes
            )
            .unwrap_err(),
            format!(
                "hostPath type check failed: {} is not a directory",
                allowed.join("file").display()
            )
        );
        assert!(check_host_path(&hp(&allowed.join("file"), HostPathType::File), &prefixes).is_ok());
        assert!(check_host_path(&hp(&allowed, HostPathType::File), &prefixes).is_err());
        assert!(check_host_path(
            &hp(&allowed.join("nope"), HostPathType::Directory),
            &prefixes
        )
        .is_err());
        assert!(check_host_path(&hp(&allowed, HostPathType::Socket), &prefixes).is_err());
        let made = allowed.join("made/deep");
        assert!(check_host_path(&hp(&made, HostPathType::DirectoryOrCreate), &prefixes).is_ok());
        assert!(made.is_dir());
        let touched = allowed.join("touched");
        assert!(check_host_path(&hp(&touched, HostPathType::FileOrCreate), &prefixes).is_ok());
        assert!(touched.is_file());
        // Creating outside the prefixes never happens.
        let outside = scratch.0.join("outside");
        assert!(
            check_host_path(&hp(&outside, HostPathType::DirectoryOrCreate), &prefixes).is_err()
        );
        assert!(!outside.exists());
    }

    #[test]
    fn sub_paths_must_stay_in_their_volume() {
        let scratch = Scratch::new("subpath");
        std::os::unix::fs::symlink("/", scratch.0.join("escape")).unwrap();
        fs::create_dir(scratch.0.join("data")).unwrap();
        assert!(check_sub_path(&scratch.0, "data").is_ok());
        assert!(check_sub_path(&scratch.0, "new/dir").is_ok());
        let err = check_sub_path(&scratch.0, "escape").unwrap_err();
        assert!(err.contains("not within volume path"), "{err}");
        assert!(check_sub_path(&scratch.0, "/etc").is_err());
        assert!(check_sub_path(&scratch.0, "../x").is_err());
    }

    #[test]
    fn memory_empty_dir_size_is_the_size_limit_capped_by_the_pod_limit() {
        let mut c = Container::default();
        c.resources
            .limits
            .insert("memory".into(), "64Mi".parse().unwrap());
        let pod = pod_with(c);
        let vol = |limit: Option<&str>| flotilla_model::api::Volume {
            name: "m".into(),
            empty_dir: Some(flotilla_model::api::EmptyDirVolumeSource {
                medium: "Memory".into(),
                size_limit: limit.map(|l| l.parse().unwrap()),
            }),
            ..Default::default()
        };
        assert_eq!(
            empty_dir_memory_size(&pod, &vol(Some("16Mi"))),
            Some(16 << 20)
        );
        assert_eq!(
            empty_dir_memory_size(&pod, &vol(Some("1Gi"))),
            Some(64 << 20)
        );
        assert_eq!(empty_dir_memory_size(&pod, &vol(None)), Some(64 << 20));
        let unlimited = pod_with(Container::default());
        assert_eq!(empty_dir_memory_size(&unlimited, &vol(None)), None);
    }

    #[test]
    fn atomic_writer_directories_are_named_by_utc_time() {
        let t =
            std::time::UNIX_EPOCH + Duration::from_secs(1_700_000_000) + Duration::from_nanos(42);
        assert_eq!(utc_stamp(t), "2023_11_14_22_13_20.000000042");
        assert_eq!(
            utc_stamp(std::time::UNIX_EPOCH),
            "1970_01_01_00_00_00.000000000"
        );
    }
}
