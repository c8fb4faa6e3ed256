//! The host's main loop: one thread owns the [`Cluster`], the [`LinuxRuntime`] and the
//! persisted state; it takes API calls from the socket's threads over a channel, polls the
//! cluster on the wall clock, hands runtime commands to the runtime and runtime events back to
//! the cluster, persists every change before it acknowledges a request, keeps the Service proxy
//! and the pods' `/etc/hosts` up to date, and feeds the HPA the pods' CPU use read from their
//! cgroups.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::sync::{Arc, Mutex};
use std::time::{Duration as StdDuration, Instant, SystemTime, UNIX_EPOCH};

use flotilla_controllers::cluster::{Cluster, ClusterConfig, ClusterInput};
use flotilla_controllers::controller::EventRecorder;
use flotilla_controllers::kubelet::runtime::{RuntimeCommand, RuntimeEvent, StopSignal};
use flotilla_controllers::proxy::{BalanceMode, ProxyTable};
use flotilla_model::api::{Node, NodeAddress, NodeAddressType, NodeSystemInfo, Pod};
use flotilla_model::auth::{self, Attributes, Decision, UserInfo};
use flotilla_model::store::{DeleteOptions, DeleteOutcome, Store, StoreConfig};
use flotilla_model::{Kind, Object, ObjectMeta, Quantity, Time};

use super::api::{ManifestText, Reply, Request};
use super::authz;
use super::persist::StateLog;
use super::print;
use super::server::{ApiServer, Call, ReplySink};
use crate::local_path::LocalPathProvisioner;
use crate::network::NetworkConfig;
use crate::proxy::{ProxyConfig, ServiceProxy};
use crate::{LinuxRuntime, RuntimeConfig};
use flotilla_controllers::controller::Controller as _;
use flotilla_controllers::persistent_volume::PersistentVolumeController;

/// How a host is set up.
#[derive(Clone, Debug)]
pub struct HostConfig {
    /// The API socket.
    pub socket: PathBuf,
    /// Where the cluster's objects are persisted.
    pub data_dir: PathBuf,
    /// The node's name (default: the machine's hostname).
    pub node_name: String,
    /// The runtime's configuration.
    pub runtime: RuntimeConfig,
    /// The seed of the cluster's random streams (uids, tie-breaks).
    pub seed: u64,
    /// How often pods' CPU and memory use is read for the HPA (the metrics server's 15 s).
    pub metrics_interval: StdDuration,
    /// Where the NodePorts listen.
    pub node_port_address: std::net::IpAddr,
    /// The group the API socket is opened to (mode 0660); `None`: root only (0600).
    pub socket_group: Option<u32>,
    /// Where the `flotilla.io/local-path` provisioner makes PersistentVolumes' directories
    /// (the default StorageClass `local-path`); hostPath volumes are allowed under it.
    pub volumes_dir: PathBuf,
}

impl HostConfig {
    /// The defaults: socket `/run/flotilla/host.sock`, data in `/var/lib/flotilla/host`,
    /// runtime state in `/run/flotilla/<node>`, pod networking on.
    pub fn new(node_name: &str) -> HostConfig {
        let mut runtime = RuntimeConfig::new(node_name);
        runtime.network = Some(NetworkConfig::default());
        HostConfig {
            socket: PathBuf::from("/run/flotilla/host.sock"),
            data_dir: PathBuf::from("/var/lib/flotilla/host"),
            node_name: node_name.to_string(),
            runtime,
            seed: 1,
            metrics_interval: StdDuration::from_secs(15),
            node_port_address: std::net::IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED),
            socket_group: None,
            volumes_dir: PathBuf::from("/var/lib/flotilla/volumes"),
        }
    }
}

/// Why the host could not start or stopped with an error.
#[derive(Debug, thiserror::Error)]
pub enum HostError {
    /// The runtime could not start.
    #[error("runtime: {0}")]
    Runtime(#[from] crate::RuntimeError),
    /// The persisted state could not be read or written.
    #[error("state: {0}")]
    Persist(#[from] super::persist::PersistError),
    /// The API socket could not be served.
    #[error("api: {0}")]
    Server(#[from] super::server::ServerError),
    /// The cluster refused the node or the restored state.
    #[error("cluster: {0}")]
    Cluster(#[from] flotilla_controllers::cluster::ClusterError),
    /// The store refused the restored objects.
    #[error("restore: {0}")]
    Restore(#[from] flotilla_model::store::StoreError),
}

/// The StorageClass a new host starts with: the default class, provisioned by
/// `flotilla.io/local-path` (a directory per volume under [`HostConfig::volumes_dir`]).
pub const LOCAL_PATH_STORAGE_CLASS: &str = "apiVersion: storage.k8s.io/v1
kind: StorageClass
metadata:
  name: local-path
  annotations:
    storageclass.kubernetes.io/is-default-class: \"true\"
provisioner: flotilla.io/local-path
reclaimPolicy: Delete
volumeBindingMode: WaitForFirstConsumer
";

/// The wall clock as the cluster's [`Time`].
pub fn wall_clock() -> Time {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    Time::from_nanos(u64::try_from(nanos).unwrap_or(u64::MAX))
}

/// The Node object this machine registers as: its CPUs and memory, the usual well-known
/// labels, and the pod network's gateway as its internal address.
pub fn host_node(name: &str, internal_ip: &str) -> Node {
    let mut node = Node {
        metadata: ObjectMeta::named("", name),
        ..Default::default()
    };
    let cpus = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1);
    let memory = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|t| meminfo_total_bytes(&t))
        .unwrap_or(1 << 30);
    for (k, v) in [
        ("cpu", cpus.to_string()),
        ("memory", memory.to_string()),
        ("pods", "110".to_string()),
    ] {
        if let Ok(q) = Quantity::parse(&v) {
            node.status.capacity.insert(k.into(), q);
            node.status.allocatable.insert(k.into(), q);
        }
    }
    let arch = match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        other => other,
    };
    for (k, v) in [
        ("kubernetes.io/hostname", name),
        ("kubernetes.io/os", "linux"),
        ("kubernetes.io/arch", arch),
    ] {
        node.metadata.labels.insert(k.into(), v.into());
    }
    node.status.addresses = vec![
        NodeAddress {
            r#type: NodeAddressType::InternalIp,
            address: internal_ip.into(),
        },
        NodeAddress {
            r#type: NodeAddressType::Hostname,
            address: name.into(),
        },
    ];
    node.status.node_info = Some(NodeSystemInfo {
        kernel_version: std::fs::read_to_string("/proc/sys/kernel/osrelease")
            .map(|s| s.trim().to_string())
            .unwrap_or_default(),
        os_image: "Linux".into(),
        container_runtime_version: format!("flotilla://{}", env!("CARGO_PKG_VERSION")),
        kubelet_version: format!("v{}-flotilla", env!("CARGO_PKG_VERSION")),
        kube_proxy_version: format!("v{}-flotilla", env!("CARGO_PKG_VERSION")),
        operating_system: "linux".into(),
        architecture: arch.into(),
        ..Default::default()
    });
    node
}

/// `MemTotal` of `/proc/meminfo`, in bytes.
fn meminfo_total_bytes(text: &str) -> Option<u64> {
    let line = text.lines().find(|l| l.starts_with("MemTotal:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

/// A call whose answer waits for something: the end of a rollout.
struct RolloutWaiter {
    namespace: String,
    name: String,
    deadline: Option<Instant>,
    last: String,
    sink: ReplySink,
}

/// Per-pod CPU accounting between two metric samples.
#[derive(Clone, Copy)]
struct CpuSample {
    usage_nanos: u64,
    at: Instant,
}

/// The running host. Build it with [`Host::start`], drive it with [`Host::run`].
pub struct Host {
    config: HostConfig,
    cluster: Cluster,
    runtime: LinuxRuntime,
    state: StateLog,
    persisted: u64,
    server: Option<ApiServer>,
    calls: Receiver<Call>,
    proxy: ServiceProxy,
    table: Arc<Mutex<ProxyTable>>,
    proxy_cursor: u64,
    hosts_signature: Vec<(String, Vec<String>)>,
    /// Containers the runtime runs now, by pod uid.
    running: BTreeMap<String, BTreeSet<String>>,
    waiters: Vec<RolloutWaiter>,
    cpu: BTreeMap<String, CpuSample>,
    next_metrics: Instant,
}

impl std::fmt::Debug for Host {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Host")
            .field("node", &self.config.node_name)
            .field("cluster", &self.cluster)
            .finish_non_exhaustive()
    }
}

impl Host {
    /// Starts the runtime (cleaning up what a previous run left), restores the persisted
    /// objects or bootstraps a new cluster, registers this machine as the node, and listens
    /// on the API socket.
    pub fn start(config: HostConfig) -> Result<Host, HostError> {
        let mut config = config;
        if !config
            .runtime
            .allowed_host_paths
            .contains(&config.volumes_dir)
        {
            config
                .runtime
                .allowed_host_paths
                .push(config.volumes_dir.clone());
        }
        let runtime = LinuxRuntime::new(config.runtime.clone())?;
        let (state, recovered) = StateLog::open(&config.data_dir)?;
        if let Some(torn) = &recovered.torn_tail {
            eprintln!("flotilla host: dropped a torn write at the end of the state log ({torn})");
        }
        let mut cluster_config = ClusterConfig::new(config.seed);
        // Claims of the default StorageClass get a directory under `volumes_dir`.
        let volumes_dir = config.volumes_dir.clone();
        cluster_config.controllers = flotilla_controllers::cluster::default_controllers()
            .into_iter()
            .map(
                |c| -> Box<dyn flotilla_controllers::controller::Controller> {
                    if c.name() == PersistentVolumeController::new().name() {
                        Box::new(PersistentVolumeController::new().with_provisioner(Box::new(
                            LocalPathProvisioner::new(volumes_dir.clone()),
                        )))
                    } else {
                        c
                    }
                },
            )
            .collect();
        // RBAC for real: every component writes as its system identity, every API caller as
        // itself.
        cluster_config.rbac = true;
        cluster_config.start = wall_clock();
        let restored = !recovered.objects.is_empty();
        let mut cluster = if restored {
            let store = Store::restore(
                StoreConfig {
                    seed: config.seed,
                    kubernetes_service: true,
                    ..StoreConfig::default()
                },
                recovered.objects,
                recovered.resource_version,
            )?;
            Cluster::restore(cluster_config, store)
        } else {
            Cluster::new(cluster_config)
        };
        let persisted = if restored {
            recovered.resource_version
        } else {
            0
        };
        let gateway = config
            .runtime
            .network
            .as_ref()
            .and_then(|n| n.pod_cidr.nth(1))
            .map(|ip| ip.to_string())
            .unwrap_or_else(|| "127.0.0.1".into());
        let now = wall_clock();
        cluster.poll(now);
        // The bootstrap RBAC policy (cluster-admin for system:masters, admin/edit/view, the
        // components' roles), as the API server's RBAC post-start hook creates it.
        for object in auth::bootstrap_policy() {
            let meta = object.metadata();
            if cluster
                .store()
                .get(object.kind(), &meta.namespace, &meta.name)
                .is_none()
            {
                cluster.apply(object)?;
            }
        }
        if cluster
            .store()
            .iter_kind(Kind::StorageClass)
            .next()
            .is_none()
        {
            if let Ok(parsed) = flotilla_model::manifest::parse_str(
                "default-storage-class",
                LOCAL_PATH_STORAGE_CLASS,
            ) {
                for o in parsed.objects {
                    cluster.apply(o.object)?;
                }
            }
        }
        cluster.add_node(host_node(&config.node_name, &gateway))?;
        let table = Arc::new(Mutex::new(cluster.proxy(BalanceMode::RoundRobin)));
        let proxy = ServiceProxy::new(
            table.clone(),
            Arc::new(wall_clock),
            ProxyConfig {
                node_port_address: config.node_port_address,
                ..ProxyConfig::default()
            },
        );
        let (tx, calls) = std::sync::mpsc::channel();
        let server = ApiServer::start(&config.socket, config.socket_group, tx)?;
        let proxy_cursor = cluster.store().resource_version();
        let mut host = Host {
            config,
            cluster,
            runtime,
            state,
            persisted,
            server: Some(server),
            calls,
            proxy,
            table,
            proxy_cursor,
            hosts_signature: Vec::new(),
            running: BTreeMap::new(),
            waiters: Vec::new(),
            cpu: BTreeMap::new(),
            next_metrics: Instant::now(),
        };
        host.persist()?;
        // The restored Services: listeners and hosts entries from the start.
        for e in host.proxy.sync() {
            eprintln!("flotilla host: service proxy: {e}");
        }
        let entries = service_hosts(host.cluster.store());
        host.runtime.set_extra_hosts(entries.clone());
        host.hosts_signature = entries;
        Ok(host)
    }

    /// The cluster (for tests and embedding).
    pub fn cluster(&self) -> &Cluster {
        &self.cluster
    }

    /// The API socket's path.
    pub fn socket(&self) -> &Path {
        &self.config.socket
    }

    /// Runs until `stop` is set (by SIGINT/SIGTERM in `flotilla host`), then stops every pod
    /// gracefully and removes everything the runtime created.
    pub fn run(mut self, stop: &AtomicBool) -> Result<(), HostError> {
        let result = self.run_until(stop);
        self.shutdown();
        result
    }

    fn run_until(&mut self, stop: &AtomicBool) -> Result<(), HostError> {
        let mut pending: Vec<(ReplySink, Output)> = Vec::new();
        while !stop.load(Ordering::SeqCst) {
            let now = wall_clock();
            // Requests first, so a write is in the store before the controllers run.
            while let Ok(call) = self.calls.try_recv() {
                if let Some(answer) = self.handle_call(call, now) {
                    pending.push(answer);
                }
            }
            self.step(now);
            self.collect_metrics(now);
            // Persist, then acknowledge: an answered write is on disk.
            self.persist()?;
            for (mut sink, out) in pending.drain(..) {
                for r in &out.replies {
                    sink.send(r);
                }
                sink.exit(out.code);
            }
            self.sync_proxy()?;
            self.check_rollouts();
            let wait = match self.cluster.next_wakeup() {
                Some(t) => {
                    let now = wall_clock();
                    StdDuration::from_nanos(t.as_nanos().saturating_sub(now.as_nanos()))
                }
                None => StdDuration::from_millis(50),
            }
            .clamp(StdDuration::from_millis(1), StdDuration::from_millis(50));
            match self.calls.recv_timeout(wait) {
                Ok(call) => {
                    let now = wall_clock();
                    if let Some(answer) = self.handle_call(call, now) {
                        pending.push(answer);
                    }
                }
                Err(RecvTimeoutError::Timeout) => {}
                Err(RecvTimeoutError::Disconnected) => break,
            }
        }
        Ok(())
    }

    /// Polls the cluster and the runtime until neither has anything more to say at `now`.
    fn step(&mut self, now: Time) {
        for _ in 0..16 {
            let ready = self.cluster.poll(now);
            let mut did = !ready.commands.is_empty();
            for c in ready.commands {
                if c.node != self.config.node_name {
                    continue;
                }
                self.runtime.handle_command(c.command);
            }
            let events = self.runtime.poll_events();
            did |= !events.is_empty();
            for event in events {
                self.track(&event);
                let _ = self.cluster.handle_at(
                    now,
                    ClusterInput::Runtime {
                        node: self.config.node_name.clone(),
                        event,
                    },
                );
            }
            if !did {
                break;
            }
        }
    }

    fn track(&mut self, event: &RuntimeEvent) {
        match event {
            RuntimeEvent::ContainerStarted {
                pod_uid,
                container,
                result: Ok(_),
            } => {
                self.running
                    .entry(pod_uid.clone())
                    .or_default()
                    .insert(container.clone());
            }
            RuntimeEvent::ContainerExited {
                pod_uid, container, ..
            } => {
                if let Some(set) = self.running.get_mut(pod_uid) {
                    set.remove(container);
                    if set.is_empty() {
                        self.running.remove(pod_uid);
                    }
                }
            }
            _ => {}
        }
    }

    /// Appends every store change since the last call to the state log (fsync'd), and takes a
    /// snapshot when the log has grown enough.
    fn persist(&mut self) -> Result<(), HostError> {
        let store = self.cluster.store();
        if store.resource_version() == self.persisted {
            return Ok(());
        }
        match store.changes_since(self.persisted) {
            Ok(events) => {
                let events: Vec<_> = events.cloned().collect();
                self.state.append(&events)?;
            }
            // The change log no longer reaches back that far: write everything instead.
            Err(_) => self.state.snapshot(store)?,
        }
        self.persisted = store.resource_version();
        if self.state.should_snapshot() {
            self.state.snapshot(self.cluster.store())?;
        }
        Ok(())
    }

    /// Brings the proxy's routing table and listeners, and the pods' `/etc/hosts`, up to date.
    fn sync_proxy(&mut self) -> Result<(), HostError> {
        let store = self.cluster.store();
        if store.resource_version() == self.proxy_cursor {
            return Ok(());
        }
        let mut services_changed = false;
        {
            let mut table = match self.table.lock() {
                Ok(t) => t,
                Err(poisoned) => poisoned.into_inner(),
            };
            match store.changes_since(self.proxy_cursor) {
                Ok(events) => {
                    for event in events {
                        if matches!(event.object.kind(), Kind::Service | Kind::EndpointSlice) {
                            table.handle_event(event);
                            services_changed |= event.object.kind() == Kind::Service;
                        }
                    }
                }
                Err(_) => {
                    *table = self.cluster.proxy(BalanceMode::RoundRobin);
                    services_changed = true;
                }
            }
        }
        self.proxy_cursor = store.resource_version();
        if services_changed {
            for e in self.proxy.sync() {
                eprintln!("flotilla host: service proxy: {e}");
            }
            let entries = service_hosts(self.cluster.store());
            if entries != self.hosts_signature {
                self.runtime.set_extra_hosts(entries.clone());
                self.hosts_signature = entries;
            }
        }
        Ok(())
    }

    /// Samples every running pod's CPU and memory use from its cgroup and reports it as the
    /// metrics server would (CPU as the rate over the last interval).
    fn collect_metrics(&mut self, now: Time) {
        let at = Instant::now();
        if at < self.next_metrics {
            return;
        }
        self.next_metrics = at + self.config.metrics_interval;
        let pods: Vec<(String, String, String)> = self
            .cluster
            .store()
            .iter_kind(Kind::Pod)
            .filter_map(|o| match o.as_ref() {
                Object::Pod(p) if p.spec.node_name == self.config.node_name => Some((
                    p.metadata.namespace.clone(),
                    p.metadata.name.clone(),
                    p.metadata.uid.clone(),
                )),
                _ => None,
            })
            .filter(|(_, _, uid)| self.running.contains_key(uid))
            .collect();
        let mut seen = BTreeSet::new();
        for (namespace, name, uid) in pods {
            let dirs = self.runtime.cgroups().dirs(Path::new(&uid));
            let Some(usage) = cpu_usage_nanos(&dirs) else {
                continue;
            };
            let memory = memory_bytes(&dirs).unwrap_or(0);
            seen.insert(uid.clone());
            let sample = CpuSample {
                usage_nanos: usage,
                at,
            };
            if let Some(prev) = self.cpu.insert(uid, sample) {
                let elapsed = at.duration_since(prev.at).as_nanos().max(1);
                let used = u128::from(usage.saturating_sub(prev.usage_nanos));
                let millis = i64::try_from(used * 1000 / elapsed).unwrap_or(i64::MAX);
                let _ = self.cluster.handle_at(
                    now,
                    ClusterInput::PodMetrics {
                        namespace,
                        name,
                        cpu_millis: millis,
                        memory_bytes: i64::try_from(memory).unwrap_or(i64::MAX),
                    },
                );
            }
        }
        self.cpu.retain(|uid, _| seen.contains(uid));
    }

    fn check_rollouts(&mut self) {
        let mut keep = Vec::new();
        for mut w in std::mem::take(&mut self.waiters) {
            match rollout_status(self.cluster.store(), &w.namespace, &w.name) {
                Err(message) => {
                    w.sink.stderr(message);
                    w.sink.exit(1);
                }
                Ok((message, done)) => {
                    if message != w.last {
                        if !w.sink.stdout(message.clone()) {
                            continue;
                        }
                        w.last = message;
                    }
                    if done {
                        w.sink.exit(0);
                    } else if w.deadline.is_some_and(|d| Instant::now() >= d) {
                        w.sink
                            .stderr("error: timed out waiting for the condition\n");
                        w.sink.exit(1);
                    } else if w.sink.client_gone() {
                        // The client pressed Ctrl-C.
                    } else {
                        keep.push(w);
                    }
                }
            }
        }
        self.waiters = keep;
    }

    /// Answers one call: the replies to send once the state is persisted, or `None` when the
    /// call answers by itself (a stream, or a rollout that waits). Every request is authorized
    /// for the caller first, as the API server's authorization filter does.
    fn handle_call(&mut self, call: Call, now: Time) -> Option<(ReplySink, Output)> {
        let Call {
            request,
            replies,
            peer,
        } = call;
        let user = authz::identity(&peer, &authz::SystemAccounts);
        let mut out = Output::default();
        let default_ns = |ns: Option<String>| ns.unwrap_or_else(|| "default".into());
        match request {
            Request::Apply {
                manifests,
                namespace,
            } => self.apply(&user, &manifests, namespace.as_deref(), &mut out),
            Request::Get {
                resource,
                names,
                namespace,
                all_namespaces,
                selector,
                output,
            } => {
                let namespace = (!all_namespaces).then(|| default_ns(namespace));
                self.get(
                    &user,
                    &resource,
                    &names,
                    namespace.as_deref(),
                    selector.as_deref(),
                    &output,
                    now,
                    &mut out,
                );
            }
            Request::Describe {
                resource,
                names,
                namespace,
            } => self.describe(
                &user,
                &resource,
                &names,
                &default_ns(namespace),
                now,
                &mut out,
            ),
            Request::Delete {
                resource,
                names,
                manifests,
                namespace,
                grace_period,
            } => self.delete(
                &user,
                resource.as_deref(),
                &names,
                &manifests,
                namespace.as_deref(),
                grace_period,
                &mut out,
            ),
            Request::Scale {
                resource,
                name,
                namespace,
                replicas,
            } => self.scale(
                &user,
                &resource,
                &name,
                &default_ns(namespace),
                replicas,
                now,
                &mut out,
            ),
            Request::RolloutStatus {
                name,
                namespace,
                timeout_secs,
            } => {
                let namespace = default_ns(namespace);
                let store = self.cluster.store();
                match authz::check(store, &user, "get", Kind::Deployment, "", &namespace, &name) {
                    Ok(()) => {
                        self.waiters.push(RolloutWaiter {
                            namespace,
                            name,
                            deadline: timeout_secs
                                .map(|s| Instant::now() + StdDuration::from_secs(s)),
                            last: String::new(),
                            sink: replies,
                        });
                        return None;
                    }
                    Err(message) => out.fail(message),
                }
            }
            Request::RolloutUndo {
                name,
                namespace,
                to_revision,
            } => {
                let namespace = default_ns(namespace);
                let store = self.cluster.store();
                if let Err(message) = authz::check(
                    store,
                    &user,
                    "patch",
                    Kind::Deployment,
                    "",
                    &namespace,
                    &name,
                ) {
                    out.fail(message);
                } else {
                    let rolled = self.cluster.store_mut().with_actor(user.clone(), |store| {
                        flotilla_controllers::deployment::rollback(
                            store,
                            &namespace,
                            &name,
                            to_revision,
                            now,
                        )
                    });
                    match rolled {
                        Ok(outcome) => out.stdout(format!("deployment.apps/{name} {outcome}\n")),
                        Err(e) => out.fail(format!("error: {e}\n")),
                    }
                }
            }
            Request::RolloutHistory { name, namespace } => {
                let namespace = default_ns(namespace);
                let store = self.cluster.store();
                let allowed =
                    authz::check(store, &user, "get", Kind::Deployment, "", &namespace, &name)
                        .and_then(|()| {
                            authz::check(store, &user, "list", Kind::ReplicaSet, "", &namespace, "")
                        });
                match allowed.and_then(|()| {
                    rollout_history(store, &namespace, &name).map_err(|e| format!("{e}\n"))
                }) {
                    Ok(text) => out.stdout(text),
                    Err(e) => out.fail(e),
                }
            }
            Request::Logs {
                pod,
                container,
                namespace,
                previous,
                follow,
            } => {
                let namespace = default_ns(namespace);
                let store = self.cluster.store();
                match authz::check(store, &user, "get", Kind::Pod, "log", &namespace, &pod)
                    .and_then(|()| {
                        self.log_target(&namespace, &pod, container.as_deref(), previous)
                    }) {
                    Ok((path, pid)) => {
                        super::streams::logs(path, if follow { pid } else { None }, replies);
                        return None;
                    }
                    Err(message) => out.fail(message),
                }
            }
            Request::Exec {
                pod,
                container,
                namespace,
                command,
            } => {
                let namespace = default_ns(namespace);
                let store = self.cluster.store();
                match authz::check(store, &user, "create", Kind::Pod, "exec", &namespace, &pod)
                    .and_then(|()| {
                        self.exec_target(&namespace, &pod, container.as_deref(), command)
                    }) {
                    Ok(target) => {
                        super::streams::exec(target, replies);
                        return None;
                    }
                    Err(message) => out.fail(message),
                }
            }
            Request::AuthCanI {
                verb,
                resource,
                name,
                namespace,
                all_namespaces,
                as_user,
                as_groups,
            } => {
                let namespace = if all_namespaces {
                    String::new()
                } else {
                    default_ns(namespace)
                };
                self.can_i(
                    &user, &verb, &resource, &name, &namespace, as_user, as_groups, &mut out,
                );
            }
        }
        Some((replies, out))
    }

    /// `auth can-i`: `yes` (exit 0) or `no` (exit 1), for the caller or, with `--as`, for a user
    /// it may impersonate.
    #[allow(clippy::too_many_arguments)]
    fn can_i(
        &self,
        caller: &UserInfo,
        verb: &str,
        resource: &str,
        name: &str,
        namespace: &str,
        as_user: Option<String>,
        as_groups: Vec<String>,
        out: &mut Output,
    ) {
        let store = self.cluster.store();
        let subject = match as_user {
            Some(as_user) => {
                // Impersonation needs `impersonate` on the user and each group
                // (staging/src/k8s.io/apiserver/pkg/endpoints/filters/impersonation.go).
                let mut checks = vec![Attributes::resource(
                    caller,
                    "impersonate",
                    "",
                    "users",
                    "",
                    &as_user,
                )];
                for g in &as_groups {
                    checks.push(Attributes::resource(
                        caller,
                        "impersonate",
                        "",
                        "groups",
                        "",
                        g,
                    ));
                }
                for attrs in checks {
                    if let Decision::Deny(message) = auth::authorize(store, &attrs) {
                        return out.fail(format!("Error from server (Forbidden): {message}\n"));
                    }
                }
                let mut groups: Vec<&str> = as_groups.iter().map(String::as_str).collect();
                groups.push(auth::SYSTEM_AUTHENTICATED);
                UserInfo::new(&as_user, &groups)
            }
            None => caller.clone(),
        };
        let (attrs, warning) = authz::can_i_attributes(&subject, verb, resource, name, namespace);
        if let Some(w) = warning {
            out.stderr(w);
        }
        match auth::authorize(store, &attrs) {
            Decision::Allow => out.stdout("yes\n"),
            Decision::Deny(_) => {
                out.stdout("no\n");
                out.code = 1;
            }
        }
    }

    /// `get`: one or more resource types (`deployments,services`), each printed by
    /// [`print::get_with`] after the caller is allowed to `get` (names) or `list` (no names)
    /// them; a Secret's data is blanked for a caller who may not `get` secrets there.
    #[allow(clippy::too_many_arguments)]
    fn get(
        &self,
        user: &UserInfo,
        resources: &str,
        names: &[String],
        namespace: Option<&str>,
        selector: Option<&str>,
        output: &str,
        now: Time,
        out: &mut Output,
    ) {
        let format = match print::OutputFormat::parse(output) {
            Ok(f) => f,
            Err(e) => return out.fail(format!("{e}\n")),
        };
        let store = self.cluster.store();
        let wanted: Vec<&str> = resources.split(',').filter(|r| !r.is_empty()).collect();
        let mut kinds = Vec::new();
        for r in &wanted {
            if matches!(*r, "events" | "event" | "ev") {
                kinds.push(None);
                continue;
            }
            match print::resolve_resource(r) {
                Ok(k) => kinds.push(Some(k)),
                Err(e) => return out.fail(format!("{e}\n")),
            }
        }
        let several = kinds.len() > 1;
        let mut printed_any = false;
        for kind in kinds {
            let Some(kind) = kind else {
                let ns = namespace.unwrap_or("");
                if let Err(message) = authz::check_events(store, user, ns) {
                    out.fail(message);
                    continue;
                }
                let text = events_table(self.cluster.events(), namespace, now);
                if text.is_empty() {
                    out.stderr(no_resources(namespace));
                } else {
                    if several && printed_any {
                        out.stdout("\n");
                    }
                    printed_any = true;
                    out.stdout(text);
                }
                continue;
            };
            let ns = if kind.namespaced() {
                namespace.unwrap_or("")
            } else {
                ""
            };
            let checks: Vec<Result<(), String>> = if names.is_empty() {
                vec![authz::check(store, user, "list", kind, "", ns, "")]
            } else {
                names
                    .iter()
                    .map(|n| authz::check(store, user, "get", kind, "", ns, n))
                    .collect()
            };
            if let Some(Err(message)) = checks.into_iter().find(Result::is_err) {
                out.fail(message);
                continue;
            }
            let redact = kind == Kind::Secret && !authz::may_read_secrets(store, user, ns);
            let request = print::GetRequest {
                kind,
                namespace,
                names,
                selector,
                format,
                redact_secret_data: redact,
            };
            match print::get_with(store, &request, now) {
                Ok(mut p) => {
                    if several && format == print::OutputFormat::Table {
                        p.stdout = prefix_names(&p.stdout, &print::name_prefix(kind));
                    }
                    if several {
                        // One notice for all the types, at the end, if nothing was found.
                        p.stderr = p
                            .stderr
                            .lines()
                            .filter(|l| !l.starts_with("No resources found"))
                            .map(|l| format!("{l}\n"))
                            .collect();
                    }
                    if !p.stdout.is_empty() {
                        if several && printed_any {
                            out.stdout("\n");
                        }
                        printed_any = true;
                    }
                    out.result(Ok(p));
                }
                Err(e) => out.fail(format!("{e}\n")),
            }
        }
        if several && !printed_any && out.code == 0 {
            out.stderr(no_resources(namespace));
        }
    }

    fn apply(
        &mut self,
        user: &UserInfo,
        manifests: &[ManifestText],
        namespace: Option<&str>,
        out: &mut Output,
    ) {
        // Every file is read and checked before anything is written (kubectl applies what it
        // decoded, but a half-applied directory is what the issue asks us not to do).
        let mut objects = Vec::new();
        let mut failed = false;
        for m in manifests {
            let checked = flotilla_model::manifest::check_str(&m.file, &m.text);
            for w in &checked.manifests.warnings {
                out.stderr(format!("Warning: {w}\n"));
            }
            for e in &checked.errors {
                out.stderr(format!("error: {e}\n"));
                failed = true;
            }
            objects.extend(checked.manifests.objects.into_iter().map(|o| o.object));
        }
        if failed {
            out.code = 1;
            return;
        }
        if objects.is_empty() {
            out.fail("error: no objects passed to apply\n");
            return;
        }
        for mut object in objects {
            let kind = object.kind();
            if kind.namespaced() && object.metadata().namespace.is_empty() {
                object.metadata_mut().namespace = namespace.unwrap_or("default").to_string();
            }
            let name = object.metadata().name.clone();
            let ns = object.metadata().namespace.clone();
            // kubectl apply creates the object or patches it (after reading it).
            let store = self.cluster.store();
            let verb = if store.get(kind, &ns, &name).is_some() {
                "patch"
            } else {
                "create"
            };
            let target = if verb == "create" { "" } else { name.as_str() };
            let allowed = authz::check(store, user, verb, kind, "", &ns, target)
                .and_then(|()| authz::check(store, user, "get", kind, "", &ns, &name))
                .and_then(|()| {
                    // Granting RBAC permissions needs them held (or `escalate`/`bind`).
                    let old = store.get(kind, &ns, &name);
                    auth::check_escalation(store, user, &object, old.as_deref())
                        .map_err(|m| format!("Error from server (Forbidden): {m}\n"))
                });
            if let Err(message) = allowed {
                out.fail(message);
                continue;
            }
            match self.cluster.apply_as(user, object) {
                Ok(outcome) => out.stdout(format!(
                    "{}/{} {}\n",
                    resource_name(kind),
                    name,
                    outcome.as_str()
                )),
                Err(e) => out.fail(server_error(&e)),
            }
        }
    }

    fn describe(
        &mut self,
        user: &UserInfo,
        resource: &str,
        names: &[String],
        namespace: &str,
        now: Time,
        out: &mut Output,
    ) {
        let kind = match print::resolve_resource(resource) {
            Ok(k) => k,
            Err(e) => return out.fail(format!("{e}\n")),
        };
        let namespace = if kind.namespaced() { namespace } else { "" };
        let store = self.cluster.store();
        let names: Vec<String> = if names.is_empty() {
            if let Err(message) = authz::check(store, user, "list", kind, "", namespace, "") {
                return out.fail(message);
            }
            let mut all: Vec<String> = store
                .iter_kind(kind)
                .filter(|o| o.metadata().namespace == namespace)
                .map(|o| o.metadata().name.clone())
                .collect();
            all.sort();
            all
        } else {
            names.to_vec()
        };
        let events: &EventRecorder = self.cluster.events();
        let mut first = true;
        for name in names {
            if let Err(message) = authz::check(store, user, "get", kind, "", namespace, &name) {
                out.fail(message);
                continue;
            }
            match print::describe(store, events, kind, namespace, &name, now) {
                Ok(text) => {
                    if !first {
                        out.stdout("\n\n");
                    }
                    first = false;
                    out.stdout(text);
                }
                Err(e) => out.fail(format!("{e}\n")),
            }
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn delete(
        &mut self,
        user: &UserInfo,
        resource: Option<&str>,
        names: &[String],
        manifests: &[ManifestText],
        namespace: Option<&str>,
        grace_period: Option<i64>,
        out: &mut Output,
    ) {
        let mut targets: Vec<(Kind, String, String)> = Vec::new();
        if let Some(resource) = resource {
            let kind = match print::resolve_resource(resource) {
                Ok(k) => k,
                Err(e) => return out.fail(format!("{e}\n")),
            };
            let ns = if kind.namespaced() {
                namespace.unwrap_or("default")
            } else {
                ""
            };
            if names.is_empty() {
                return out.fail("error: resource(s) were provided, but no name was specified\n");
            }
            targets.extend(names.iter().map(|n| (kind, ns.to_string(), n.clone())));
        }
        for m in manifests {
            match flotilla_model::manifest::parse_str(&m.file, &m.text) {
                Ok(parsed) => {
                    for o in parsed.objects {
                        let kind = o.object.kind();
                        let meta = o.object.metadata();
                        let ns = if !kind.namespaced() {
                            String::new()
                        } else if meta.namespace.is_empty() {
                            namespace.unwrap_or("default").to_string()
                        } else {
                            meta.namespace.clone()
                        };
                        targets.push((kind, ns, meta.name.clone()));
                    }
                }
                Err(errors) => {
                    for e in errors {
                        out.stderr(format!("error: {e}\n"));
                    }
                    out.code = 1;
                    return;
                }
            }
        }
        let options = DeleteOptions {
            grace_period_seconds: grace_period,
            ..DeleteOptions::default()
        };
        for (kind, ns, name) in targets {
            if let Err(message) =
                authz::check(self.cluster.store(), user, "delete", kind, "", &ns, &name)
            {
                out.fail(message);
                continue;
            }
            match self.cluster.delete_as(user, kind, &ns, &name, &options) {
                Ok(DeleteOutcome::Deleted(_)) | Ok(DeleteOutcome::Pending(_)) => {
                    out.stdout(format!("{} \"{name}\" deleted\n", resource_name(kind)))
                }
                Err(e) => out.fail(server_error(&e)),
            }
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn scale(
        &mut self,
        user: &UserInfo,
        resource: &str,
        name: &str,
        namespace: &str,
        replicas: i32,
        now: Time,
        out: &mut Output,
    ) {
        let kind = match print::resolve_resource(resource) {
            Ok(k) => k,
            Err(e) => return out.fail(format!("{e}\n")),
        };
        // kubectl scale patches the scale subresource.
        if let Err(message) = authz::check(
            self.cluster.store(),
            user,
            "patch",
            kind,
            "scale",
            namespace,
            name,
        ) {
            return out.fail(message);
        }
        let store = self.cluster.store_mut();
        let Some(current) = store.get(kind, namespace, name) else {
            return out.fail(format!(
                "Error from server (NotFound): {} {name:?} not found\n",
                flotilla_model::store::qualified_resource(kind)
            ));
        };
        let mut object = current.as_ref().clone();
        match &mut object {
            Object::Deployment(d) => d.spec.replicas = Some(replicas),
            Object::ReplicaSet(r) => r.spec.replicas = Some(replicas),
            Object::StatefulSet(s) => s.spec.replicas = Some(replicas),
            _ => {
                return out.fail(format!(
                    "error: cannot scale {}: it has no replicas\n",
                    resource_name(kind)
                ))
            }
        }
        match store.with_actor(user.clone(), |store| store.update(object, now)) {
            Ok(_) => out.stdout(format!("{}/{name} scaled\n", resource_name(kind))),
            Err(e) => out.fail(server_error(
                &flotilla_controllers::cluster::ClusterError::Store(e),
            )),
        }
    }

    fn pod(&self, namespace: &str, name: &str) -> Result<Arc<Object>, String> {
        self.cluster
            .store()
            .get(Kind::Pod, namespace, name)
            .ok_or_else(|| format!("Error from server (NotFound): pods {name:?} not found\n"))
    }

    /// The container a `logs` or `exec` names: the only one when the pod has one, as kubectl.
    fn container_of(pod: &Pod, container: Option<&str>) -> Result<String, String> {
        match container {
            Some(c) => {
                if pod.spec.containers.iter().any(|x| x.name == c)
                    || pod.spec.init_containers.iter().any(|x| x.name == c)
                {
                    Ok(c.to_string())
                } else {
                    Err(format!(
                        "error: container {c} is not valid for pod {}\n",
                        pod.metadata.name
                    ))
                }
            }
            None if pod.spec.containers.len() == 1 => Ok(pod.spec.containers[0].name.clone()),
            None => Err(format!(
                "error: a container name must be specified for pod {}, choose one of: [{}]\n",
                pod.metadata.name,
                pod.spec
                    .containers
                    .iter()
                    .map(|c| c.name.as_str())
                    .collect::<Vec<_>>()
                    .join(" ")
            )),
        }
    }

    /// The log file of a container's current (or previous) run, and its process while it runs.
    fn log_target(
        &self,
        namespace: &str,
        name: &str,
        container: Option<&str>,
        previous: bool,
    ) -> Result<(PathBuf, Option<i32>), String> {
        let object = self.pod(namespace, name)?;
        let Object::Pod(pod) = object.as_ref() else {
            return Err("error: not a pod\n".into());
        };
        let container = Self::container_of(pod, container)?;
        let status = pod
            .status
            .container_statuses
            .iter()
            .chain(pod.status.init_container_statuses.iter())
            .find(|s| s.name == container);
        let Some(status) = status else {
            return Err(format!(
                "Error from server (BadRequest): container {container:?} in pod {name:?} is waiting to start: ContainerCreating\n"
            ));
        };
        let attempt = if previous {
            if status.restart_count == 0 {
                return Err(format!(
                    "Error from server (BadRequest): previous terminated container {container:?} in pod {name:?} not found\n"
                ));
            }
            status.restart_count - 1
        } else {
            status.restart_count
        };
        let path = self
            .runtime
            .log_path(&pod.metadata.uid, &container, attempt);
        if !path.exists() {
            return Err(format!(
                "Error from server (BadRequest): container {container:?} in pod {name:?} is waiting to start: ContainerCreating\n"
            ));
        }
        let pid = if previous {
            None
        } else {
            self.runtime.container_pid(&pod.metadata.uid, &container)
        };
        Ok((path, pid))
    }

    fn exec_target(
        &self,
        namespace: &str,
        name: &str,
        container: Option<&str>,
        command: Vec<String>,
    ) -> Result<super::streams::ExecTarget, String> {
        if command.is_empty() {
            return Err("error: you must specify at least one command for the container\n".into());
        }
        let object = self.pod(namespace, name)?;
        let Object::Pod(pod) = object.as_ref() else {
            return Err("error: not a pod\n".into());
        };
        let container = Self::container_of(pod, container)?;
        let uid = &pod.metadata.uid;
        let Some(pid) = self.runtime.container_pid(uid, &container) else {
            return Err(format!(
                "error: unable to upgrade connection: container not found ({container:?})\n"
            ));
        };
        let spec = pod
            .spec
            .containers
            .iter()
            .chain(pod.spec.init_containers.iter())
            .find(|c| c.name == container)
            .ok_or_else(|| format!("error: container {container} is not valid\n"))?;
        let image = self.runtime.images().get(&spec.image).ok();
        let image_config = image.as_ref().map(|i| i.config.clone()).unwrap_or_default();
        let mut c = spec.clone();
        c.command = command;
        c.args.clear();
        let env = spec
            .env
            .iter()
            .filter(|e| e.value_from.is_none())
            .map(|e| (e.name.clone(), e.value.clone()))
            .collect();
        // The image's USER (a name resolved in its /etc/passwd) applies as for the container.
        let rootfs = image.as_ref().map(|i| i.rootfs.as_path());
        let process = crate::runtime::process_spec_in(pod, &c, &image_config, rootfs, env)?;
        Ok(super::streams::ExecTarget {
            helper: self.config.runtime.helper.clone(),
            init_pid: pid,
            cgroup_dirs: self
                .runtime
                .cgroups()
                .dirs(&Path::new(uid.as_str()).join(&container)),
            process,
        })
    }

    /// Stops every container gracefully (SIGTERM, then SIGKILL after the pods' grace periods,
    /// at most 30 s), removes every sandbox and drops the runtime, which removes what is left.
    /// The objects stay in the persisted store: the next start runs the pods again.
    fn shutdown(mut self) {
        self.server = None; // stop taking requests
        for w in std::mem::take(&mut self.waiters) {
            let mut sink = w.sink;
            sink.stderr("error: the flotilla host is shutting down\n");
            sink.exit(1);
        }
        let _ = self.persist();
        let grace = self
            .cluster
            .store()
            .iter_kind(Kind::Pod)
            .filter_map(|o| match o.as_ref() {
                Object::Pod(p) if self.running.contains_key(&p.metadata.uid) => {
                    p.spec.termination_grace_period_seconds
                }
                _ => None,
            })
            .max()
            .unwrap_or(30)
            .clamp(0, 30);
        let signal_all = |runtime: &mut LinuxRuntime,
                          running: &BTreeMap<String, BTreeSet<String>>,
                          signal: StopSignal| {
            for (uid, containers) in running {
                for c in containers {
                    runtime.handle_command(RuntimeCommand::SignalContainer {
                        pod_uid: uid.clone(),
                        container: c.clone(),
                        signal,
                    });
                }
            }
        };
        signal_all(&mut self.runtime, &self.running, StopSignal::Term);
        let deadline = Instant::now() + StdDuration::from_secs(grace.unsigned_abs());
        while !self.running.is_empty() && Instant::now() < deadline {
            for e in self.runtime.poll_events() {
                self.track(&e);
            }
            std::thread::sleep(StdDuration::from_millis(20));
        }
        if !self.running.is_empty() {
            signal_all(&mut self.runtime, &self.running, StopSignal::Kill);
            let deadline = Instant::now() + StdDuration::from_secs(5);
            while !self.running.is_empty() && Instant::now() < deadline {
                for e in self.runtime.poll_events() {
                    self.track(&e);
                }
                std::thread::sleep(StdDuration::from_millis(20));
            }
        }
        let uids: Vec<String> = self
            .cluster
            .store()
            .iter_kind(Kind::Pod)
            .filter_map(|o| match o.as_ref() {
                Object::Pod(p) if p.spec.node_name == self.config.node_name => {
                    Some(p.metadata.uid.clone())
                }
                _ => None,
            })
            .collect();
        for pod_uid in uids {
            self.runtime
                .handle_command(RuntimeCommand::RemovePodSandbox { pod_uid });
        }
        let _ = self.runtime.poll_events();
        self.proxy.shutdown();
        // Dropping the runtime removes its cgroups, network and state directory.
    }
}

/// What a call answers, gathered before it is sent.
#[derive(Default)]
struct Output {
    replies: Vec<Reply>,
    code: i32,
}

impl Output {
    fn stdout(&mut self, text: impl Into<String>) {
        self.replies.push(Reply::Stdout { text: text.into() });
    }

    fn stderr(&mut self, text: impl Into<String>) {
        self.replies.push(Reply::Stderr { text: text.into() });
    }

    fn fail(&mut self, text: impl Into<String>) {
        self.stderr(text);
        self.code = 1;
    }

    fn result(&mut self, r: Result<print::GetOutput, String>) {
        match r {
            Ok(p) => {
                if !p.stdout.is_empty() {
                    self.stdout(p.stdout);
                }
                if !p.stderr.is_empty() {
                    self.stderr(p.stderr);
                }
                if p.failed {
                    self.code = 1;
                }
            }
            Err(e) => self.fail(format!("{e}\n")),
        }
    }
}

/// kubectl's line for a refused request: `Error from server (<Reason>): <message>`.
fn server_error(e: &flotilla_controllers::cluster::ClusterError) -> String {
    use flotilla_controllers::cluster::ClusterError;
    use flotilla_model::store::StoreError;
    let reason = match e {
        ClusterError::Store(StoreError::NotFound { .. }) => "NotFound",
        ClusterError::Store(StoreError::AlreadyExists { .. }) => "AlreadyExists",
        ClusterError::Store(StoreError::Conflict { .. }) => "Conflict",
        ClusterError::Store(StoreError::Invalid { .. }) => "Invalid",
        ClusterError::Store(StoreError::Forbidden(_)) => "Forbidden",
        _ => "BadRequest",
    };
    format!("Error from server ({reason}): {e}\n")
}

/// kubectl's notice for an empty list.
fn no_resources(namespace: Option<&str>) -> String {
    match namespace {
        Some(ns) => format!("No resources found in {ns} namespace.\n"),
        None => "No resources found\n".to_string(),
    }
}

/// A table with `prefix/` before every name (kubectl's form when several types are listed:
/// `deployment.apps/web`), realigned.
fn prefix_names(table: &str, prefix: &str) -> String {
    let mut lines = table.lines();
    let Some(header) = lines.next() else {
        return String::new();
    };
    let header_cells = split_row(header, header);
    let name_col = header_cells.iter().position(|c| c == "NAME").unwrap_or(0);
    let mut rows: Vec<Vec<String>> = vec![split_row(header, header)];
    for line in lines {
        let mut cells = split_row(header, line);
        if let Some(c) = cells.get_mut(name_col) {
            *c = format!("{prefix}/{c}");
        }
        rows.push(cells);
    }
    let tabbed: String = rows.iter().map(|r| format!("{}\n", r.join("\t"))).collect();
    print::align_tabs(&tabbed, 0, 3)
}

/// Splits a row of an aligned table at the header's column starts.
fn split_row(header: &str, line: &str) -> Vec<String> {
    let mut starts = Vec::new();
    // A column starts after a gap of at least two spaces (tabwriter pads with three;
    // headers such as `ACCESS MODES` hold single spaces).
    let bytes = header.as_bytes();
    for i in 0..bytes.len() {
        let gap = i >= 2 && bytes[i - 1] == b' ' && bytes[i - 2] == b' ';
        if bytes[i] != b' ' && (i == 0 || gap) {
            starts.push(i);
        }
    }
    let mut cells = Vec::new();
    for (k, &start) in starts.iter().enumerate() {
        let end = starts.get(k + 1).copied().unwrap_or(usize::MAX);
        let cell = line
            .get(start.min(line.len())..end.min(line.len()))
            .unwrap_or("")
            .trim()
            .to_string();
        cells.push(cell);
    }
    cells
}

/// `kubectl get events`: LAST SEEN, TYPE, REASON, OBJECT, MESSAGE, oldest first (with a
/// NAMESPACE column for every namespace).
fn events_table(events: &EventRecorder, namespace: Option<&str>, now: Time) -> String {
    let mut text = String::new();
    if namespace.is_none() {
        text.push_str("NAMESPACE\t");
    }
    text.push_str("LAST SEEN\tTYPE\tREASON\tOBJECT\tMESSAGE\n");
    let mut rows = 0;
    for e in events.events() {
        if namespace.is_some_and(|ns| e.object.namespace != ns) {
            continue;
        }
        if namespace.is_none() {
            text.push_str(&e.object.namespace);
            text.push('\t');
        }
        text.push_str(&format!(
            "{}\t{}\t{}\t{}/{}\t{}\n",
            print::age(Some(e.time), now),
            e.event_type.as_str(),
            e.reason,
            e.object.kind.name().to_ascii_lowercase(),
            e.object.name,
            e.message
        ));
        rows += 1;
    }
    if rows == 0 {
        return String::new();
    }
    print::align_tabs(&text, 0, 3)
}

/// `deployment.apps`, `pod`, `service`: the resource name kubectl prints before `/name`.
pub fn resource_name(kind: Kind) -> String {
    let lower = kind.name().to_ascii_lowercase();
    if kind.group().is_empty() {
        lower
    } else {
        format!("{lower}.{}", kind.group())
    }
}

/// The `/etc/hosts` entries of every Service with a ClusterIP, by address: `name`,
/// `name.namespace`, `name.namespace.svc` and `name.namespace.svc.cluster.local`.
pub fn service_hosts(store: &Store) -> Vec<(String, Vec<String>)> {
    let mut entries: Vec<(String, Vec<String>)> = store
        .iter_kind(Kind::Service)
        .filter_map(|o| match o.as_ref() {
            Object::Service(s) => {
                let ip = s.spec.cluster_ip.clone().unwrap_or_default();
                if ip.is_empty() || ip == "None" {
                    return None;
                }
                let (n, ns) = (&s.metadata.name, &s.metadata.namespace);
                Some((
                    ip,
                    vec![
                        format!("{n}.{ns}.svc.cluster.local"),
                        format!("{n}.{ns}.svc"),
                        format!("{n}.{ns}"),
                        n.clone(),
                    ],
                ))
            }
            _ => None,
        })
        .collect();
    entries.sort();
    entries
}

/// kubectl's `rollout status` for a Deployment (kubectl/pkg/polymorphichelpers/
/// rollout_status.go, `DeploymentStatusViewer.Status`): the message and whether the rollout
/// is complete, or an error.
pub fn rollout_status(
    store: &Store,
    namespace: &str,
    name: &str,
) -> Result<(String, bool), String> {
    let Some(object) = store.get(Kind::Deployment, namespace, name) else {
        return Err(format!(
            "Error from server (NotFound): deployments.apps {name:?} not found\n"
        ));
    };
    let Object::Deployment(d) = object.as_ref() else {
        return Err("error: not a deployment\n".into());
    };
    let generation = d.metadata.generation;
    if generation > d.status.observed_generation {
        return Ok((
            "Waiting for deployment spec update to be observed...\n".into(),
            false,
        ));
    }
    if d.status.conditions.iter().any(|c| {
        c.type_ == flotilla_model::api::DeploymentConditionType::Progressing
            && c.reason == "ProgressDeadlineExceeded"
    }) {
        return Err(format!(
            "error: deployment {name:?} exceeded its progress deadline\n"
        ));
    }
    let s = &d.status;
    let want = d.spec.replicas.unwrap_or(1);
    if s.updated_replicas < want {
        return Ok((
            format!(
                "Waiting for deployment {name:?} rollout to finish: {} out of {want} new replicas have been updated...\n",
                s.updated_replicas
            ),
            false,
        ));
    }
    if s.replicas > s.updated_replicas {
        return Ok((
            format!(
                "Waiting for deployment {name:?} rollout to finish: {} old replicas are pending termination...\n",
                s.replicas - s.updated_replicas
            ),
            false,
        ));
    }
    if s.available_replicas < s.updated_replicas {
        return Ok((
            format!(
                "Waiting for deployment {name:?} rollout to finish: {} of {} updated replicas are available...\n",
                s.available_replicas, s.updated_replicas
            ),
            false,
        ));
    }
    Ok((
        format!("deployment {name:?} successfully rolled out\n"),
        true,
    ))
}

/// kubectl's `rollout history` table for a Deployment.
pub fn rollout_history(store: &Store, namespace: &str, name: &str) -> Result<String, String> {
    if store.get(Kind::Deployment, namespace, name).is_none() {
        return Err(format!(
            "Error from server (NotFound): deployments.apps {name:?} not found"
        ));
    }
    let history = flotilla_controllers::deployment::rollout_history(store, namespace, name);
    let mut text = format!("deployment.apps/{name} \nREVISION  CHANGE-CAUSE\n");
    for (revision, rs) in history {
        let cause = rs
            .metadata
            .annotations
            .get("kubernetes.io/change-cause")
            .cloned()
            .unwrap_or_else(|| "<none>".into());
        text.push_str(&format!("{:<10}{cause}\n", revision));
    }
    text.push('\n');
    Ok(text)
}

/// CPU time used by a cgroup, in nanoseconds: cgroup v2's `cpu.stat` `usage_usec`, or v1's
/// `cpuacct.usage`.
pub fn cpu_usage_nanos(dirs: &[PathBuf]) -> Option<u64> {
    for dir in dirs {
        if let Ok(text) = std::fs::read_to_string(dir.join("cpu.stat")) {
            if let Some(usec) = text
                .lines()
                .find_map(|l| l.strip_prefix("usage_usec "))
                .and_then(|v| v.trim().parse::<u64>().ok())
            {
                return Some(usec * 1000);
            }
        }
        if let Ok(text) = std::fs::read_to_string(dir.join("cpuacct.usage")) {
            if let Ok(ns) = text.trim().parse::<u64>() {
                return Some(ns);
            }
        }
    }
    None
}

/// Memory used by a cgroup, in bytes: v2's `memory.current` or v1's `memory.usage_in_bytes`.
pub fn memory_bytes(dirs: &[PathBuf]) -> Option<u64> {
    for dir in dirs {
        for file in ["memory.current", "memory.usage_in_bytes"] {
            if let Ok(text) = std::fs::read_to_string(dir.join(file)) {
                if let Ok(b) = text.trim().parse::<u64>() {
                    return Some(b);
                }
            }
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn meminfo_is_read_in_kib() {
        let text = "MemTotal:       24558320 kB\nMemFree:  1 kB\n";
        assert_eq!(meminfo_total_bytes(text), Some(24558320 * 1024));
        assert_eq!(meminfo_total_bytes("nothing"), None);
    }

    #[test]
    fn cgroup_usage_files_of_both_versions() {
        let dir = std::env::temp_dir().join(format!("flotilla-cpu-{}", std::process::id()));
        let v2 = dir.join("v2");
        let v1 = dir.join("v1");
        std::fs::create_dir_all(&v2).unwrap();
        std::fs::create_dir_all(&v1).unwrap();
        std::fs::write(v2.join("cpu.stat"), "usage_usec 1500\nuser_usec 1000\n").unwrap();
        std::fs::write(v1.join("cpuacct.usage"), "123456\n").unwrap();
        std::fs::write(v1.join("memory.usage_in_bytes"), "4096\n").unwrap();
        assert_eq!(cpu_usage_nanos(std::slice::from_ref(&v2)), Some(1_500_000));
        assert_eq!(cpu_usage_nanos(std::slice::from_ref(&v1)), Some(123456));
        assert_eq!(memory_bytes(&[v2.clone(), v1.clone()]), Some(4096));
        assert_eq!(cpu_usage_nanos(&[dir.join("none")]), None);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn kubectl_resource_names() {
        assert_eq!(resource_name(Kind::Deployment), "deployment.apps");
        assert_eq!(resource_name(Kind::Pod), "pod");
        assert_eq!(
            resource_name(Kind::HorizontalPodAutoscaler),
            "horizontalpodautoscaler.autoscaling"
        );
    }
}
