//! [`LinuxRuntime`]: executes the kubelet's [`RuntimeCommand`]s on this host and reports
//! [`RuntimeEvent`]s.

use std::collections::{BTreeMap, VecDeque};
use std::fs;
use std::os::fd::{AsRawFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use flotilla_controllers::kubelet::runtime::{ProbeKind, RuntimeCommand, RuntimeEvent, StopSignal};
use flotilla_model::api::{Container, Pod, Probe};
use flotilla_model::IntOrString;
use nix::sys::signal::Signal;

use crate::cgroup::{self, CgroupLayout, Cgroups, Limits};
use crate::helper::HELPER_ARG;
use crate::image::{copy_tree, ImageStore};
use crate::network::{self, HostEntries, IpCommand, NetworkConfig, NetworkError, PodNetwork};
use crate::spec::{
    ContainerSpec, ProbeAction, ProbeSpec, ProcessSpec, RootfsSource, RootfsSpec, SandboxSpec,
};
use crate::sys::process;

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

    /// The log file of one run of a container (`logs/<container>/<attempt>.log` in the pod's
    /// directory, as the kubelet lays out `/var/log/pods`).
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
                let result = self.start_container(&pod, &container, attempt, env);
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
                let _ = fs::remove_dir_all(&dir);
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
        let process = process_spec(pod, container, &image.config, env)?;

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
            },
            process: process.clone(),
        };
        let spec_path = ctr_dir.join("spec.json");
        write_json(&spec_path, &spec)?;
        let log = self.log_path(&uid, name, attempt);
        if let Some(parent) = log.parent() {
            mkdir(parent)?;
        }
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
        } else {
            return Err(
                "probe has no exec, httpGet or tcpSocket handler (gRPC is not supported)".into(),
            );
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
        if cgroup::check_name(uid).is_ok() {
            let _ = self.cgroups.remove(Path::new(uid));
            let _ = fs::remove_dir_all(self.pod_dir(uid));
        }
    }
}

impl Drop for LinuxRuntime {
    fn drop(&mut self) {
        let uids: Vec<String> = self.pods.keys().cloned().collect();
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
/// privileges, as the kubelet and containerd would set them.
pub fn process_spec(
    pod: &Pod,
    c: &Container,
    image: &crate::image::ImageConfig,
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
    let uid = id(sc.run_as_user.or(psc.run_as_user), "runAsUser")?;
    let gid = id(sc.run_as_group.or(psc.run_as_group), "runAsGroup")?;
    if sc.run_as_non_root.or(psc.run_as_non_root) == Some(true) && uid == 0 {
        return Err(
            "CreateContainerConfigError: container has runAsNonRoot and image will run as root"
                .into(),
        );
    }
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::image::ImageConfig;
    use flotilla_model::api::{PodSecurityContext, SecurityContext};

    fn pod_with(c: Container) -> Pod {
        let mut pod = Pod::default();
        pod.metadata.name = "web-1".into();
        pod.spec.containers = vec![c];
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
            security_context: Some(SecurityContext {
                run_as_user: Some(1000),
                allow_privilege_escalation: Some(true),
                ..SecurityContext::default()
            }),
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
            security_context: Some(SecurityContext {
                run_as_non_root: Some(true),
                ..SecurityContext::default()
            }),
            ..Container::default()
        };
        let err =
            process_spec(&pod_with(c.clone()), &c, &ImageConfig::default(), vec![]).unwrap_err();
        assert!(err.contains("runAsNonRoot"), "{err}");
    }
}
