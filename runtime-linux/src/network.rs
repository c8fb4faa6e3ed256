//! Pod networking: a Linux bridge, one veth pair per pod, pod IPs from a pod CIDR, a Service
//! CIDR that is local on the host, and each pod's `/etc/hosts`.
//!
//! The layout is the one the `bridge` CNI plugin (with `host-local` IPAM) gives a kubelet:
//!
//! ```text
//!  host netns                                   pod netns (held by the sandbox)
//!  flotilla0 (bridge, 10.244.0.1/16) ── veth1a2b3c4d ═══ eth0 (10.244.0.2/16, default via .1)
//!            local 10.96.0.0/12 dev lo          lo (up)
//! ```
//!
//! - The bridge has the pod CIDR's first address (the gateway). Pods on the bridge reach each
//!   other at layer 2, and the host at the gateway, so neither needs `net.ipv4.ip_forward`;
//!   no iptables rule is added (pods reach nothing beyond this host).
//! - The whole Service CIDR is one `local` route on `lo`: every ClusterIP is a local address
//!   of the host, so a userspace proxy binds any of them without adding addresses one by one,
//!   and a pod's packet to a ClusterIP follows its default route to the host and is delivered
//!   locally.
//! - Pod IPs are the lowest free addresses of the pod CIDR after the gateway, released when
//!   the pod's sandbox is removed (`host-local` IPAM hands out addresses in order as well).
//!
//! Everything is done with iproute2's `ip` command (not raw netlink), behind the
//! [`NetworkOps`] seam: [`IpCommand`] runs it in the host's namespace, [`NamespacedIp`] (used
//! by the sandbox helper) switches between the host's namespace and the pod's, and unit tests
//! record the commands with a fake. The sandbox helper creates the pod's interface itself
//! ([`attach_pod`]), between unsharing its namespaces and reporting `ready`, so a pod is never
//! seen without its network.

use std::cell::Cell;
use std::collections::BTreeMap;
use std::fmt;
use std::fs::File;
use std::io::Write;
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// The default bridge name.
pub const DEFAULT_BRIDGE: &str = "flotilla0";
/// The default pod CIDR (the one flannel's and many kubeadm guides' examples use).
pub const DEFAULT_POD_CIDR: &str = "10.244.0.0/16";
/// The default Service CIDR (kube-apiserver's `--service-cluster-ip-range` default,
/// cmd/kube-apiserver/app/options/options.go `DefaultServiceIPCIDR`).
pub const DEFAULT_SERVICE_CIDR: &str = "10.96.0.0/12";
/// The cluster DNS domain used for the pods' own names in `/etc/hosts`.
pub const CLUSTER_DOMAIN: &str = "cluster.local";
/// The interface name of a pod's end of its veth pair.
pub const POD_INTERFACE: &str = "eth0";
/// Where the `ip` command is looked for (then in `PATH`).
pub const IP_COMMAND_PATHS: [&str; 4] = ["/usr/sbin/ip", "/sbin/ip", "/usr/bin/ip", "/bin/ip"];
/// Linux's interface name limit (`IFNAMSIZ` - 1).
pub const MAX_INTERFACE_NAME: usize = 15;

/// Why a networking step failed.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum NetworkError {
    /// iproute2's `ip` is not installed.
    #[error("the `ip` command (iproute2) was not found in {searched}; install iproute2 or set the network's ip_command")]
    IpCommandNotFound {
        /// Where it was looked for.
        searched: String,
    },
    /// A CIDR did not parse or is unusable.
    #[error("invalid CIDR {value:?}: {reason}")]
    Cidr {
        /// The text.
        value: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The bridge name is not a valid interface name.
    #[error("invalid bridge name {name:?}: at most 15 characters, no '/', ':' or whitespace")]
    BridgeName {
        /// The name.
        name: String,
    },
    /// The pod CIDR has no free address left.
    #[error("no free pod IP left in {cidr}")]
    Exhausted {
        /// The pod CIDR.
        cidr: String,
    },
    /// `ip` could not be run.
    #[error("run `{command}`: {message}")]
    Spawn {
        /// The command line.
        command: String,
        /// The OS error.
        message: String,
    },
    /// `ip` ran and failed.
    #[error("`{command}` failed: {stderr}")]
    Command {
        /// The command line.
        command: String,
        /// What it printed on stderr (trimmed).
        stderr: String,
    },
    /// Entering a network namespace failed.
    #[error("network namespace {what}: {message}")]
    Namespace {
        /// Which namespace and operation.
        what: String,
        /// The OS error.
        message: String,
    },
}

impl NetworkError {
    /// Whether the error says that the thing operated on does not exist (a device, a route),
    /// which removal treats as done.
    pub fn is_absent(&self) -> bool {
        match self {
            NetworkError::Command { stderr, .. } => {
                let s = stderr.to_ascii_lowercase();
                s.contains("cannot find device")
                    || s.contains("does not exist")
                    || s.contains("no such device")
                    || s.contains("no such process")
            }
            _ => false,
        }
    }
}

/// An IPv4 network in CIDR notation (`10.244.0.0/16`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Ipv4Cidr {
    /// The network address (host bits zero).
    pub network: Ipv4Addr,
    /// The prefix length, 0–32.
    pub prefix_len: u8,
}

impl Ipv4Cidr {
    fn mask(&self) -> u32 {
        if self.prefix_len == 0 {
            0
        } else {
            u32::MAX << (32 - u32::from(self.prefix_len))
        }
    }

    /// The number of addresses in the network.
    pub fn size(&self) -> u64 {
        1u64 << (32 - u32::from(self.prefix_len))
    }

    /// The `n`th address of the network (0 is the network address), if inside it.
    pub fn nth(&self, n: u64) -> Option<Ipv4Addr> {
        if n >= self.size() {
            return None;
        }
        Some(Ipv4Addr::from(u32::from(self.network) + n as u32))
    }

    /// Whether `ip` is inside the network.
    pub fn contains(&self, ip: Ipv4Addr) -> bool {
        u32::from(ip) & self.mask() == u32::from(self.network)
    }
}

impl FromStr for Ipv4Cidr {
    type Err = NetworkError;

    fn from_str(s: &str) -> Result<Ipv4Cidr, NetworkError> {
        let err = |reason: &str| NetworkError::Cidr {
            value: s.to_string(),
            reason: reason.to_string(),
        };
        let (addr, len) = s
            .split_once('/')
            .ok_or_else(|| err("expected <address>/<prefix length>"))?;
        let addr: Ipv4Addr = addr.parse().map_err(|_| err("not an IPv4 address"))?;
        let prefix_len: u8 = len
            .parse()
            .ok()
            .filter(|n| *n <= 32)
            .ok_or_else(|| err("prefix length must be 0-32"))?;
        let cidr = Ipv4Cidr {
            network: addr,
            prefix_len,
        };
        if u32::from(addr) & !cidr.mask() != 0 {
            return Err(err("host bits are set"));
        }
        Ok(cidr)
    }
}

impl fmt::Display for Ipv4Cidr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.network, self.prefix_len)
    }
}

/// How pods are networked (the `network` of a
/// [`RuntimeConfig`](crate::runtime::RuntimeConfig)).
///
/// The bridge and the Service route belong to one runtime instance: two instances on one host
/// need different bridge names and CIDRs, because each removes its leftovers when it starts.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NetworkConfig {
    /// The bridge's name (at most 15 characters).
    pub bridge: String,
    /// Where pod IPs come from; its first address is the bridge's (the pods' gateway).
    pub pod_cidr: Ipv4Cidr,
    /// The Service ClusterIP range, made local on the host with one route.
    pub service_cidr: Ipv4Cidr,
    /// The `ip` binary; `None` looks in [`IP_COMMAND_PATHS`], then in `PATH`.
    pub ip_command: Option<PathBuf>,
}

impl Default for NetworkConfig {
    /// `flotilla0`, pods in 10.244.0.0/16, Services in 10.96.0.0/12, `ip` found on the host.
    fn default() -> NetworkConfig {
        NetworkConfig {
            bridge: DEFAULT_BRIDGE.to_string(),
            pod_cidr: DEFAULT_POD_CIDR.parse().expect("valid constant"),
            service_cidr: DEFAULT_SERVICE_CIDR.parse().expect("valid constant"),
            ip_command: None,
        }
    }
}

/// Which network namespace an `ip` command runs in.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Netns {
    /// The host's (the runtime's) namespace.
    Host,
    /// The pod's namespace (only inside the sandbox helper).
    Pod,
}

/// The seam: runs `ip <args>` in a network namespace and returns its standard output.
pub trait NetworkOps {
    /// Runs `ip` with `args` in `netns`.
    fn ip(&self, netns: Netns, args: &[String]) -> Result<String, NetworkError>;
}

/// Finds the `ip` binary: `configured` if given, else the first of [`IP_COMMAND_PATHS`] or
/// of the `PATH` directories that exists.
pub fn find_ip_command(configured: Option<&Path>) -> Result<PathBuf, NetworkError> {
    if let Some(path) = configured {
        return if path.is_file() {
            Ok(path.to_path_buf())
        } else {
            Err(NetworkError::IpCommandNotFound {
                searched: path.display().to_string(),
            })
        };
    }
    let path_dirs: Vec<PathBuf> = std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).collect())
        .unwrap_or_default();
    IP_COMMAND_PATHS
        .iter()
        .map(PathBuf::from)
        .chain(path_dirs.iter().map(|d| d.join("ip")))
        .find(|p| p.is_file())
        .ok_or_else(|| NetworkError::IpCommandNotFound {
            searched: format!("{} and PATH", IP_COMMAND_PATHS.join(", ")),
        })
}

fn run_ip(path: &Path, args: &[String]) -> Result<String, NetworkError> {
    let command = format!("{} {}", path.display(), args.join(" "));
    let out = std::process::Command::new(path)
        .args(args)
        .stdin(std::process::Stdio::null())
        .output()
        .map_err(|e| NetworkError::Spawn {
            command: command.clone(),
            message: e.to_string(),
        })?;
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    } else {
        Err(NetworkError::Command {
            command,
            stderr: String::from_utf8_lossy(&out.stderr).trim().to_string(),
        })
    }
}

/// The real [`NetworkOps`] of the runtime: runs `ip` in the runtime's own (the host's)
/// namespace; asking for the pod's namespace is an error.
#[derive(Clone, Debug)]
pub struct IpCommand {
    path: PathBuf,
}

impl IpCommand {
    /// Runs the `ip` binary at `path`.
    pub fn new(path: PathBuf) -> IpCommand {
        IpCommand { path }
    }
}

impl NetworkOps for IpCommand {
    fn ip(&self, netns: Netns, args: &[String]) -> Result<String, NetworkError> {
        if netns == Netns::Pod {
            return Err(NetworkError::Namespace {
                what: "pod".into(),
                message: "only the sandbox helper runs commands in a pod's namespace".into(),
            });
        }
        run_ip(&self.path, args)
    }
}

/// The real [`NetworkOps`] of the sandbox helper: it holds both namespaces open and enters
/// the one a command needs (`setns(2)`) before running `ip`, so its children run there. The
/// helper must be single-threaded (it is): `setns` moves only the calling thread.
#[derive(Debug)]
pub struct NamespacedIp {
    path: PathBuf,
    host: File,
    pod: File,
    current: Cell<Netns>,
}

fn open_netns(what: &str) -> Result<File, NetworkError> {
    File::open("/proc/self/ns/net").map_err(|e| NetworkError::Namespace {
        what: format!("open {what}"),
        message: e.to_string(),
    })
}

impl NamespacedIp {
    /// Opens the current network namespace as the host's; call before `unshare`.
    pub fn open_host(path: PathBuf) -> Result<HostNetns, NetworkError> {
        Ok(HostNetns {
            path,
            host: open_netns("host")?,
        })
    }

    /// A path that names the pod's namespace for other processes (`ip ... netns <path>`):
    /// the helper's descriptor of it, through `/proc/<pid>/fd`, valid while `self` lives.
    pub fn pod_netns_path(&self) -> PathBuf {
        use std::os::fd::AsRawFd;
        PathBuf::from(format!(
            "/proc/{}/fd/{}",
            std::process::id(),
            self.pod.as_raw_fd()
        ))
    }

    /// Returns to the pod's namespace (where the sandbox must stay).
    pub fn enter_pod(&self) -> Result<(), NetworkError> {
        self.enter(Netns::Pod)
    }

    fn enter(&self, netns: Netns) -> Result<(), NetworkError> {
        if self.current.get() == netns {
            return Ok(());
        }
        let file = match netns {
            Netns::Host => &self.host,
            Netns::Pod => &self.pod,
        };
        nix::sched::setns(file, nix::sched::CloneFlags::CLONE_NEWNET).map_err(|e| {
            NetworkError::Namespace {
                what: format!("setns {netns:?}"),
                message: e.to_string(),
            }
        })?;
        self.current.set(netns);
        Ok(())
    }
}

/// The host's namespace, opened by the sandbox helper before it unshares its own.
#[derive(Debug)]
pub struct HostNetns {
    path: PathBuf,
    host: File,
}

impl HostNetns {
    /// Opens the current (new, the pod's) namespace; call after `unshare`.
    pub fn with_pod(self) -> Result<NamespacedIp, NetworkError> {
        Ok(NamespacedIp {
            path: self.path,
            host: self.host,
            pod: open_netns("pod")?,
            current: Cell::new(Netns::Pod),
        })
    }
}

impl NetworkOps for NamespacedIp {
    fn ip(&self, netns: Netns, args: &[String]) -> Result<String, NetworkError> {
        self.enter(netns)?;
        run_ip(&self.path, args)
    }
}

/// What a sandbox needs to join the pod network: written into its spec.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PodAttachment {
    /// The `ip` binary (the helper runs with an empty environment).
    pub ip_command: PathBuf,
    /// The bridge to attach the host end to.
    pub bridge: String,
    /// The host end's name (`veth` + hash of the pod uid).
    pub host_veth: String,
    /// The pod's IP.
    pub address: Ipv4Addr,
    /// The pod CIDR's prefix length.
    pub prefix_len: u8,
    /// The bridge's address, the pod's default gateway.
    pub gateway: Ipv4Addr,
}

/// The host end's name for a pod: `veth` and 8 hex digits of a 64-bit FNV-1a hash of the uid
/// (and of `salt`, which the allocator raises on a collision). 12 characters, within
/// [`MAX_INTERFACE_NAME`].
pub fn veth_name(pod_uid: &str, salt: u32) -> String {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    let bytes = pod_uid.bytes().chain(salt.to_le_bytes());
    for b in bytes {
        hash ^= u64::from(b);
        hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
    }
    format!("veth{:08x}", (hash >> 32) as u32 ^ hash as u32)
}

fn args(list: &[&str]) -> Vec<String> {
    list.iter().map(|s| s.to_string()).collect()
}

/// The runtime's side of pod networking: the bridge and Service route, and which pod has
/// which IP and veth.
///
/// A runtime calls [`teardown_host`](Self::teardown_host) then
/// [`setup_host`](Self::setup_host) when it starts (removing what a crashed run left),
/// [`allocate`](Self::allocate) before it spawns a sandbox (whose helper calls
/// [`attach_pod`]), [`release`](Self::release) when the sandbox goes, and
/// [`teardown_host`](Self::teardown_host) when it is dropped.
#[derive(Debug)]
pub struct PodNetwork {
    config: NetworkConfig,
    ip_command: PathBuf,
    /// Allocated pod IPs (as integers) and their pods.
    ips: BTreeMap<u32, String>,
    /// Each pod's attachment.
    pods: BTreeMap<String, PodAttachment>,
}

impl PodNetwork {
    /// Validates `config` and finds the `ip` command.
    pub fn new(config: NetworkConfig) -> Result<PodNetwork, NetworkError> {
        let ip = find_ip_command(config.ip_command.as_deref())?;
        PodNetwork::with_ip_command(config, ip)
    }

    /// Validates `config`, using `ip_command` as the `ip` binary without looking for it.
    pub fn with_ip_command(
        config: NetworkConfig,
        ip_command: PathBuf,
    ) -> Result<PodNetwork, NetworkError> {
        let b = &config.bridge;
        if b.is_empty()
            || b.len() > MAX_INTERFACE_NAME
            || b.chars().any(|c| c == '/' || c == ':' || c.is_whitespace())
        {
            return Err(NetworkError::BridgeName { name: b.clone() });
        }
        if config.pod_cidr.prefix_len > 30 {
            return Err(NetworkError::Cidr {
                value: config.pod_cidr.to_string(),
                reason: "the pod CIDR needs room for a gateway and pods (/30 or larger)".into(),
            });
        }
        Ok(PodNetwork {
            config,
            ip_command,
            ips: BTreeMap::new(),
            pods: BTreeMap::new(),
        })
    }

    /// The configuration.
    pub fn config(&self) -> &NetworkConfig {
        &self.config
    }

    /// The `ip` binary in use.
    pub fn ip_command(&self) -> &Path {
        &self.ip_command
    }

    /// The bridge's address: the pod CIDR's first host address.
    pub fn gateway(&self) -> Ipv4Addr {
        self.config.pod_cidr.nth(1).expect("prefix checked in new")
    }

    /// Creates the bridge with the gateway address, brings it up, and makes the Service CIDR
    /// local. Expects [`teardown_host`](Self::teardown_host) to have run (the bridge must not
    /// exist yet).
    pub fn setup_host(&self, ops: &dyn NetworkOps) -> Result<(), NetworkError> {
        let bridge = self.config.bridge.as_str();
        let gateway = format!("{}/{}", self.gateway(), self.config.pod_cidr.prefix_len);
        let service = self.config.service_cidr.to_string();
        for cmd in [
            args(&["link", "add", "name", bridge, "type", "bridge"]),
            args(&["addr", "add", &gateway, "dev", bridge]),
            args(&["link", "set", "dev", bridge, "up"]),
            // `local` routes go to the local table: every address in the range is the host's.
            args(&["route", "replace", "local", &service, "dev", "lo"]),
        ] {
            ops.ip(Netns::Host, &cmd)?;
        }
        Ok(())
    }

    /// Removes the bridge, every interface still attached to it (veths a crashed run left),
    /// and the Service route. What does not exist is skipped; other failures are returned
    /// after every step was tried.
    pub fn teardown_host(&self, ops: &dyn NetworkOps) -> Result<(), NetworkError> {
        let bridge = self.config.bridge.as_str();
        let mut first_error = None;
        let mut keep = |r: Result<String, NetworkError>| match r {
            Err(e) if !e.is_absent() => {
                first_error.get_or_insert(e);
            }
            _ => {}
        };
        match ops.ip(
            Netns::Host,
            &args(&["-o", "link", "show", "master", bridge]),
        ) {
            Ok(listing) => {
                for port in parse_link_names(&listing) {
                    keep(ops.ip(Netns::Host, &args(&["link", "del", "dev", &port])));
                }
            }
            Err(e) => keep(Err(e)),
        }
        keep(ops.ip(Netns::Host, &args(&["link", "del", "dev", bridge])));
        let service = self.config.service_cidr.to_string();
        keep(ops.ip(
            Netns::Host,
            &args(&[
                "route", "del", "local", &service, "dev", "lo", "table", "local",
            ]),
        ));
        first_error.map_or(Ok(()), Err)
    }

    /// The pod's attachment: its IP (the lowest free one after the gateway) and veth name.
    /// Asking again for the same pod returns the same attachment.
    pub fn allocate(&mut self, pod_uid: &str) -> Result<PodAttachment, NetworkError> {
        if let Some(a) = self.pods.get(pod_uid) {
            return Ok(a.clone());
        }
        let cidr = self.config.pod_cidr;
        // Offsets 0 (network), 1 (gateway) and the last (broadcast) are not pods'.
        let address = (2..cidr.size() - 1)
            .filter_map(|n| cidr.nth(n))
            .find(|ip| !self.ips.contains_key(&u32::from(*ip)))
            .ok_or_else(|| NetworkError::Exhausted {
                cidr: cidr.to_string(),
            })?;
        let mut salt = 0;
        let host_veth = loop {
            let name = veth_name(pod_uid, salt);
            if !self.pods.values().any(|a| a.host_veth == name) {
                break name;
            }
            salt += 1;
        };
        let attachment = PodAttachment {
            ip_command: self.ip_command.clone(),
            bridge: self.config.bridge.clone(),
            host_veth,
            address,
            prefix_len: cidr.prefix_len,
            gateway: self.gateway(),
        };
        self.ips.insert(u32::from(address), pod_uid.to_string());
        self.pods.insert(pod_uid.to_string(), attachment.clone());
        Ok(attachment)
    }

    /// The attachment of a pod that has one.
    pub fn attachment(&self, pod_uid: &str) -> Option<&PodAttachment> {
        self.pods.get(pod_uid)
    }

    /// Deletes the pod's veth pair (deleting the host end removes both) and frees its IP.
    /// Returns the attachment it had; an already missing veth is not an error.
    pub fn release(
        &mut self,
        ops: &dyn NetworkOps,
        pod_uid: &str,
    ) -> Result<Option<PodAttachment>, NetworkError> {
        let Some(a) = self.pods.remove(pod_uid) else {
            return Ok(None);
        };
        self.ips.remove(&u32::from(a.address));
        match ops.ip(Netns::Host, &args(&["link", "del", "dev", &a.host_veth])) {
            Err(e) if !e.is_absent() => Err(e),
            _ => Ok(Some(a)),
        }
    }
}

/// The interface names in `ip -o link show` output (`7: veth1@if2: <...> ...`).
pub fn parse_link_names(listing: &str) -> Vec<String> {
    listing
        .lines()
        .filter_map(|l| {
            let name = l.split(": ").nth(1)?;
            let name = name.split('@').next()?.trim();
            (!name.is_empty()).then(|| name.to_string())
        })
        .collect()
}

/// Connects a sandbox to the pod network (run by the sandbox helper after it unshared its
/// network namespace; `pod_netns` is a file naming that namespace, see
/// [`NamespacedIp::pod_netns_path`]): a veth pair whose pod end is created directly in the
/// pod's namespace as `eth0` (no temporary name on the host), the host end on the bridge and
/// up; then, in the pod, the address, `eth0` up and the default route through the gateway.
/// Loopback is brought up by the helper itself.
///
/// The namespace is named by a file, not by the helper's pid: while the host-side commands
/// run, the helper itself is back in the host's namespace, so `/proc/<pid>/ns/net` would name
/// the host's.
pub fn attach_pod(
    ops: &dyn NetworkOps,
    a: &PodAttachment,
    pod_netns: &Path,
) -> Result<(), NetworkError> {
    let netns = pod_netns.display().to_string();
    let veth = a.host_veth.as_str();
    let address = format!("{}/{}", a.address, a.prefix_len);
    let gateway = a.gateway.to_string();
    let steps = [
        (
            Netns::Host,
            args(&[
                "link",
                "add",
                "name",
                veth,
                "type",
                "veth",
                "peer",
                "name",
                POD_INTERFACE,
                "netns",
                &netns,
            ]),
        ),
        (
            Netns::Host,
            args(&["link", "set", "dev", veth, "master", &a.bridge]),
        ),
        (Netns::Host, args(&["link", "set", "dev", veth, "up"])),
        (
            Netns::Pod,
            args(&["addr", "add", &address, "dev", POD_INTERFACE]),
        ),
        (
            Netns::Pod,
            args(&["link", "set", "dev", POD_INTERFACE, "up"]),
        ),
        (
            Netns::Pod,
            args(&[
                "route",
                "add",
                "default",
                "via",
                &gateway,
                "dev",
                POD_INTERFACE,
            ]),
        ),
    ];
    for (netns, cmd) in steps {
        ops.ip(netns, &cmd)?;
    }
    Ok(())
}

/// Extra `/etc/hosts` entries: an IP and its names.
pub type HostEntries = Vec<(String, Vec<String>)>;

/// A pod's hostname and domain as the kubelet derives them (pkg/kubelet/kubelet_pods.go
/// `GeneratePodHostNameAndDomain`): `spec.hostname`, else the pod's name, truncated to 63
/// characters; the domain is `<subdomain>.<namespace>.svc.<cluster domain>` when
/// `spec.subdomain` is set, else empty.
pub fn pod_hostname_and_domain(pod: &flotilla_model::api::Pod) -> (String, String) {
    let name = if pod.spec.hostname.is_empty() {
        &pod.metadata.name
    } else {
        &pod.spec.hostname
    };
    let hostname: String = name.chars().take(63).collect();
    let domain = if pod.spec.subdomain.is_empty() {
        String::new()
    } else {
        let ns = if pod.metadata.namespace.is_empty() {
            "default"
        } else {
            &pod.metadata.namespace
        };
        format!("{}.{ns}.svc.{CLUSTER_DOMAIN}", pod.spec.subdomain)
    };
    (hostname, domain)
}

fn extra_section(extra: &[(String, Vec<String>)]) -> String {
    let mut out = String::new();
    if extra.iter().any(|(_, names)| !names.is_empty()) {
        // Kubernetes resolves Service names with cluster DNS; without a DNS server, the
        // driver's entries take its place, in their own section like HostAliases' (kubelet
        // `hostsEntriesFromHostAliases`).
        out.push_str("\n# Entries added by flotilla (Services).\n");
        for (ip, names) in extra {
            if !names.is_empty() {
                out.push_str(&format!("{ip}\t{}\n", names.join(" ")));
            }
        }
    }
    out
}

/// A pod's `/etc/hosts` (pkg/kubelet/kubelet_pods.go `managedHostsFileContent`): the
/// localhost lines, the pod's IP with its names, then the driver's `extra` entries.
pub fn hosts_file(
    pod_ip: &str,
    hostname: &str,
    domain: &str,
    extra: &[(String, Vec<String>)],
) -> String {
    let mut out = String::from("# Kubernetes-managed hosts file.\n");
    out.push_str("127.0.0.1\tlocalhost\n");
    out.push_str("::1\tlocalhost ip6-localhost ip6-loopback\n");
    out.push_str("fe00::0\tip6-localnet\n");
    out.push_str("fe00::0\tip6-mcastprefix\n");
    out.push_str("fe00::1\tip6-allnodes\n");
    out.push_str("fe00::2\tip6-allrouters\n");
    if domain.is_empty() {
        out.push_str(&format!("{pod_ip}\t{hostname}\n"));
    } else {
        out.push_str(&format!("{pod_ip}\t{hostname}.{domain}\t{hostname}\n"));
    }
    out.push_str(&extra_section(extra));
    out
}

/// A `hostNetwork` pod's `/etc/hosts` (kubelet `nodeHostsFileContent`): the node's own
/// hosts file under a header, then the driver's `extra` entries.
pub fn host_network_hosts_file(node_hosts: &str, extra: &[(String, Vec<String>)]) -> String {
    let mut out = String::from("# Kubernetes-managed hosts file (host network).\n");
    out.push_str(node_hosts);
    if !node_hosts.is_empty() && !node_hosts.ends_with('\n') {
        out.push('\n');
    }
    out.push_str(&extra_section(extra));
    out
}

/// Replaces a file's content in place: the same inode, truncated and rewritten, so that bind
/// mounts of it (each container's `/etc/hosts`) see the new content. Creates it if missing.
pub fn rewrite_in_place(path: &Path, content: &str) -> std::io::Result<()> {
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .open(path)?;
    f.write_all(content.as_bytes())?;
    f.flush()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::RefCell;

    /// Records every command; fails those whose text contains one of `fail` with `stderr`,
    /// and answers `-o link show` with `listing`.
    #[derive(Default)]
    struct FakeIp {
        calls: RefCell<Vec<(Netns, String)>>,
        fail: Vec<(String, String)>,
        listing: String,
    }

    impl NetworkOps for FakeIp {
        fn ip(&self, netns: Netns, args: &[String]) -> Result<String, NetworkError> {
            let command = args.join(" ");
            self.calls.borrow_mut().push((netns, command.clone()));
            if let Some((_, stderr)) = self.fail.iter().find(|(f, _)| command.contains(f)) {
                return Err(NetworkError::Command {
                    command,
                    stderr: stderr.clone(),
                });
            }
            if command.starts_with("-o link show") {
                return Ok(self.listing.clone());
            }
            Ok(String::new())
        }
    }

    impl FakeIp {
        fn commands(&self) -> Vec<String> {
            self.calls.borrow().iter().map(|(_, c)| c.clone()).collect()
        }
    }

    fn network() -> PodNetwork {
        PodNetwork::with_ip_command(NetworkConfig::default(), "/usr/sbin/ip".into())
            .expect("valid config")
    }

    #[test]
    fn cidrs_parse_and_reject_bad_input() {
        let c: Ipv4Cidr = "10.244.0.0/16".parse().expect("valid");
        assert_eq!(c.size(), 65536);
        assert_eq!(c.nth(1), Some(Ipv4Addr::new(10, 244, 0, 1)));
        assert_eq!(c.nth(65535), Some(Ipv4Addr::new(10, 244, 255, 255)));
        assert_eq!(c.nth(65536), None);
        assert!(c.contains(Ipv4Addr::new(10, 244, 3, 4)));
        assert!(!c.contains(Ipv4Addr::new(10, 245, 0, 1)));
        assert_eq!(c.to_string(), "10.244.0.0/16");
        let s: Ipv4Cidr = "10.96.0.0/12".parse().expect("valid");
        assert!(s.contains(Ipv4Addr::new(10, 111, 255, 1)));
        assert!(!s.contains(Ipv4Addr::new(10, 112, 0, 1)));
        for bad in [
            "10.244.0.0",
            "10.244.0.1/16",
            "10.244.0.0/33",
            "x/8",
            "::/0",
        ] {
            assert!(
                matches!(bad.parse::<Ipv4Cidr>(), Err(NetworkError::Cidr { .. })),
                "{bad}"
            );
        }
    }

    #[test]
    fn config_is_validated() {
        let mut config = NetworkConfig {
            bridge: "a-bridge-name-too-long".into(),
            ..NetworkConfig::default()
        };
        assert!(matches!(
            PodNetwork::with_ip_command(config.clone(), "ip".into()),
            Err(NetworkError::BridgeName { .. })
        ));
        config.bridge = "br0".into();
        config.pod_cidr = "10.0.0.0/31".parse().expect("valid");
        assert!(matches!(
            PodNetwork::with_ip_command(config, "ip".into()),
            Err(NetworkError::Cidr { .. })
        ));
    }

    #[test]
    fn a_missing_ip_command_is_named() {
        let err = find_ip_command(Some(Path::new("/nonexistent/ip"))).unwrap_err();
        assert!(err.to_string().contains("iproute2"), "{err}");
        assert!(err.to_string().contains("/nonexistent/ip"), "{err}");
    }

    #[test]
    fn host_setup_creates_the_bridge_and_the_service_route() {
        let ops = FakeIp::default();
        network().setup_host(&ops).expect("set up");
        assert_eq!(
            ops.commands(),
            [
                "link add name flotilla0 type bridge",
                "addr add 10.244.0.1/16 dev flotilla0",
                "link set dev flotilla0 up",
                "route replace local 10.96.0.0/12 dev lo",
            ]
        );
        assert!(ops.calls.borrow().iter().all(|(ns, _)| *ns == Netns::Host));
    }

    #[test]
    fn teardown_removes_leftover_ports_and_skips_what_is_gone() {
        let ops = FakeIp {
            listing:
                "7: veth0badcafe@if2: <BROADCAST,MULTICAST,UP,LOWER_UP> mtu 1500 master flotilla0\n\
                      9: veth12345678@if2: <BROADCAST> mtu 1500 master flotilla0\n"
                    .into(),
            fail: vec![(
                "route del".into(),
                "RTNETLINK answers: No such process".into(),
            )],
            ..FakeIp::default()
        };
        network().teardown_host(&ops).expect("absent route is fine");
        assert_eq!(
            ops.commands(),
            [
                "-o link show master flotilla0",
                "link del dev veth0badcafe",
                "link del dev veth12345678",
                "link del dev flotilla0",
                "route del local 10.96.0.0/12 dev lo table local",
            ]
        );
        // No bridge at all: nothing else to delete, and no error.
        let ops = FakeIp {
            fail: vec![
                (
                    "flotilla0".into(),
                    "Cannot find device \"flotilla0\"".into(),
                ),
                (
                    "route del".into(),
                    "RTNETLINK answers: No such process".into(),
                ),
            ],
            ..FakeIp::default()
        };
        network().teardown_host(&ops).expect("nothing to remove");
        assert_eq!(ops.commands().len(), 3);
        // A real failure is reported, after every step was tried.
        let ops = FakeIp {
            fail: vec![(
                "link del".into(),
                "RTNETLINK answers: Operation not permitted".into(),
            )],
            ..FakeIp::default()
        };
        let err = network().teardown_host(&ops).unwrap_err();
        assert!(err.to_string().contains("not permitted"), "{err}");
        assert_eq!(ops.commands().len(), 3);
    }

    #[test]
    fn ips_are_the_lowest_free_and_reused_after_release() {
        let mut net = network();
        let ops = FakeIp::default();
        let a = net.allocate("pod-a").expect("ip");
        let b = net.allocate("pod-b").expect("ip");
        let c = net.allocate("pod-c").expect("ip");
        assert_eq!(a.address, Ipv4Addr::new(10, 244, 0, 2));
        assert_eq!(b.address, Ipv4Addr::new(10, 244, 0, 3));
        assert_eq!(c.address, Ipv4Addr::new(10, 244, 0, 4));
        assert_eq!(a.gateway, Ipv4Addr::new(10, 244, 0, 1));
        assert_eq!(a.prefix_len, 16);
        // Asking again changes nothing.
        assert_eq!(net.allocate("pod-b").expect("same"), b);
        // Releasing deletes the veth and frees the address for the next pod.
        let released = net.release(&ops, "pod-b").expect("released");
        assert_eq!(released, Some(b.clone()));
        assert_eq!(ops.commands(), [format!("link del dev {}", b.host_veth)]);
        assert_eq!(net.attachment("pod-b"), None);
        let d = net.allocate("pod-d").expect("ip");
        assert_eq!(d.address, Ipv4Addr::new(10, 244, 0, 3));
        let e = net.allocate("pod-e").expect("ip");
        assert_eq!(e.address, Ipv4Addr::new(10, 244, 0, 5));
        // Releasing an unknown pod, or a pod whose veth already went with its namespace.
        assert_eq!(net.release(&ops, "nobody").expect("no-op"), None);
        let gone = FakeIp {
            fail: vec![("link del".into(), "Cannot find device \"vethx\"".into())],
            ..FakeIp::default()
        };
        assert!(net.release(&gone, "pod-a").expect("absent").is_some());
    }

    #[test]
    fn a_small_cidr_runs_out_and_recovers() {
        let config = NetworkConfig {
            pod_cidr: "192.168.7.0/29".parse().expect("valid"),
            ..NetworkConfig::default()
        };
        let mut net = PodNetwork::with_ip_command(config, "ip".into()).expect("valid");
        // 8 addresses: network, gateway, broadcast, and 5 for pods.
        let ips: Vec<Ipv4Addr> = (0..5)
            .map(|i| net.allocate(&format!("p{i}")).expect("ip").address)
            .collect();
        assert_eq!(ips.first(), Some(&Ipv4Addr::new(192, 168, 7, 2)));
        assert_eq!(ips.last(), Some(&Ipv4Addr::new(192, 168, 7, 6)));
        assert_eq!(
            net.allocate("p5"),
            Err(NetworkError::Exhausted {
                cidr: "192.168.7.0/29".into()
            })
        );
        net.release(&FakeIp::default(), "p2").expect("released");
        assert_eq!(
            net.allocate("p5").expect("ip").address,
            Ipv4Addr::new(192, 168, 7, 4)
        );
    }

    #[test]
    fn veth_names_are_short_stable_and_distinct() {
        let uid = "2f1c7a3e-97b4-4b8e-9a57-2c1b0e0d4f10-a-very-long-uid";
        let name = veth_name(uid, 0);
        assert!(name.len() <= MAX_INTERFACE_NAME, "{name}");
        assert!(name.starts_with("veth"));
        assert!(name[4..].chars().all(|c| c.is_ascii_hexdigit()), "{name}");
        assert_eq!(name, veth_name(uid, 0));
        assert_ne!(name, veth_name(uid, 1));
        let names: std::collections::BTreeSet<String> = (0..1000)
            .map(|i| veth_name(&format!("uid-{i}"), 0))
            .collect();
        assert_eq!(names.len(), 1000);
        let mut net = network();
        let a = net.allocate(uid).expect("ip");
        assert_eq!(a.host_veth, name);
    }

    #[test]
    fn attaching_a_pod_creates_eth0_in_its_namespace() {
        let mut net = network();
        let a = net.allocate("pod-a").expect("ip");
        let ops = FakeIp::default();
        attach_pod(&ops, &a, Path::new("/proc/4242/fd/5")).expect("attached");
        let veth = &a.host_veth;
        let calls = ops.calls.borrow();
        let expected = [
            (
                Netns::Host,
                format!("link add name {veth} type veth peer name eth0 netns /proc/4242/fd/5"),
            ),
            (Netns::Host, format!("link set dev {veth} master flotilla0")),
            (Netns::Host, format!("link set dev {veth} up")),
            (Netns::Pod, "addr add 10.244.0.2/16 dev eth0".to_string()),
            (Netns::Pod, "link set dev eth0 up".to_string()),
            (
                Netns::Pod,
                "route add default via 10.244.0.1 dev eth0".to_string(),
            ),
        ];
        assert_eq!(*calls, expected);
        drop(calls);
        // The first failure stops the sequence and is returned.
        let ops = FakeIp {
            fail: vec![("master".into(), "Cannot find device \"flotilla0\"".into())],
            ..FakeIp::default()
        };
        assert!(attach_pod(&ops, &a, Path::new("/proc/1/fd/5")).is_err());
        assert_eq!(ops.commands().len(), 2);
    }

    #[test]
    fn the_runtime_side_runner_refuses_the_pod_namespace() {
        let ip = IpCommand::new("/nonexistent/ip".into());
        assert!(matches!(
            ip.ip(Netns::Pod, &[]),
            Err(NetworkError::Namespace { .. })
        ));
        assert!(matches!(
            ip.ip(Netns::Host, &["link".into()]),
            Err(NetworkError::Spawn { .. })
        ));
    }

    #[test]
    fn hosts_files_follow_the_kubelet() {
        let extra = vec![
            (
                "10.96.0.10".to_string(),
                vec![
                    "web".to_string(),
                    "web.default".to_string(),
                    "web.default.svc".to_string(),
                    "web.default.svc.cluster.local".to_string(),
                ],
            ),
            ("10.96.0.11".to_string(), vec![]),
        ];
        let text = hosts_file("10.244.0.2", "web-1", "", &extra);
        assert_eq!(
            text,
            "# Kubernetes-managed hosts file.\n\
             127.0.0.1\tlocalhost\n\
             ::1\tlocalhost ip6-localhost ip6-loopback\n\
             fe00::0\tip6-localnet\n\
             fe00::0\tip6-mcastprefix\n\
             fe00::1\tip6-allnodes\n\
             fe00::2\tip6-allrouters\n\
             10.244.0.2\tweb-1\n\
             \n\
             # Entries added by flotilla (Services).\n\
             10.96.0.10\tweb web.default web.default.svc web.default.svc.cluster.local\n"
        );
        let text = hosts_file("10.244.0.3", "db-0", "db.prod.svc.cluster.local", &[]);
        assert!(text.ends_with("\n10.244.0.3\tdb-0.db.prod.svc.cluster.local\tdb-0\n"));
        let text = host_network_hosts_file("127.0.0.1 localhost\n192.0.2.2 node", &extra[1..]);
        assert_eq!(
            text,
            "# Kubernetes-managed hosts file (host network).\n127.0.0.1 localhost\n192.0.2.2 node\n"
        );
    }

    #[test]
    fn hostname_and_domain_come_from_the_pod() {
        let mut pod = flotilla_model::api::Pod::default();
        pod.metadata.name = "web-1".into();
        pod.metadata.namespace = "prod".into();
        assert_eq!(
            pod_hostname_and_domain(&pod),
            ("web-1".into(), String::new())
        );
        pod.spec.hostname = "h".repeat(70);
        pod.spec.subdomain = "web".into();
        let (host, domain) = pod_hostname_and_domain(&pod);
        assert_eq!(host.len(), 63);
        assert_eq!(domain, "web.prod.svc.cluster.local");
    }

    #[test]
    fn rewriting_keeps_the_inode() {
        use std::os::unix::fs::MetadataExt;
        let dir = std::env::temp_dir().join(format!("flotilla-net-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("etc-hosts");
        rewrite_in_place(&path, "a long first version\n").unwrap();
        let before = std::fs::metadata(&path).unwrap().ino();
        rewrite_in_place(&path, "short\n").unwrap();
        assert_eq!(std::fs::metadata(&path).unwrap().ino(), before);
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "short\n");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
