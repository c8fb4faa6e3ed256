//! The userspace Service proxy: kube-proxy's userspace mode, moving the bytes of Service
//! connections on one host with plain sockets and threads.
//!
//! The routing decisions are pure and live in [`flotilla_controllers::proxy::ProxyTable`];
//! this module owns the sockets. A [`ServiceProxy`] shares the table with its driver behind an
//! `Arc<Mutex<ProxyTable>>`:
//!
//! 1. the driver (the host's main loop) feeds every Service and EndpointSlice watch event to
//!    the table ([`ServiceProxy::table`], [`ProxyTable::handle_event`]);
//! 2. after a batch of events it calls [`ServiceProxy::sync`], which opens a TCP listener for
//!    every Service port's cluster IP and every node port (on
//!    [`ProxyConfig::node_port_address`]), and closes the listeners of Service ports that went
//!    away, as the userspace proxier's `OnServiceUpdate` opened and closed one socket per Service
//!    port (pkg/proxy/userspace/proxier.go, Kubernetes v1.22);
//! 3. each listener's thread accepts connections; per connection a thread asks the table for a
//!    backend (the only time it takes the lock), connects to it with a timeout, tries the next
//!    backend when that fails, and copies bytes both ways until both sides have finished
//!    (pkg/proxy/userspace/proxysocket.go `ProxyLoop`, `tryConnect`, `proxyTCP`);
//! 4. [`ServiceProxy::shutdown`] (or dropping the proxy) stops every listener, cuts every
//!    connection and joins every thread.
//!
//! The table decides as kube-proxy does: round-robin ([`BalanceMode::RoundRobin`], the
//! userspace mode's `LoadBalancerRR`) over the ready endpoints, `ClientIP` session affinity keyed
//! by the peer's IP address with `now` read from the [`Clock`] the proxy was given, and no
//! usable endpoint means the client connection is reset at once (kube-proxy rejects).
//!
//! ```no_run
//! use std::sync::{Arc, Mutex};
//! use flotilla_controllers::proxy::{BalanceMode, ProxyTable};
//! use flotilla_runtime_linux::proxy::{system_clock, ProxyConfig, ServiceProxy};
//!
//! let table = Arc::new(Mutex::new(ProxyTable::new(1, BalanceMode::RoundRobin)));
//! let mut proxy = ServiceProxy::new(table.clone(), system_clock(), ProxyConfig::default());
//! // For each Service or EndpointSlice watch event:
//! //     table.lock().unwrap().handle_event(&event);
//! for error in proxy.sync() {
//!     eprintln!("service proxy: {error}");
//! }
//! proxy.shutdown();
//! ```
//!
//! Limits: only TCP Service ports are proxied; UDP and SCTP ports are skipped (kube-proxy's
//! userspace mode proxied UDP by remembering a backend per client address, which is not done
//! here). External IPs and load balancer IPs are listened on only with
//! [`ProxyConfig::listen_external_ips`], as they are rarely local to the host.

use std::collections::{BTreeMap, BTreeSet};
use std::io;
use std::net::{IpAddr, Ipv4Addr, Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::thread::JoinHandle;
use std::time::Duration;

use flotilla_controllers::proxy::{
    BalanceMode, ProxyTable, Route, ServiceAddress, ServicePortName,
};
use flotilla_model::api::Protocol;
use flotilla_model::Time;
use nix::sys::socket::{setsockopt, sockopt};
use nix::sys::time::TimeVal;

/// Where the proxy reads `now` for session affinity: a closure, so that tests control time and
/// the host shares its own clock.
pub type Clock = Arc<dyn Fn() -> Time + Send + Sync>;

/// A [`Clock`] reading the wall clock (a [`Time`] counts nanoseconds since the Unix epoch).
pub fn system_clock() -> Clock {
    Arc::new(|| {
        let since_epoch = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default();
        Time::from_nanos(u64::try_from(since_epoch.as_nanos()).unwrap_or(u64::MAX))
    })
}

/// How long each connection attempt to a backend may take, one entry per attempt: kube-proxy's
/// userspace mode tried four times, waiting 250 ms, 500 ms, 1 s and then 2 s
/// (pkg/proxy/userspace/proxysocket.go `endpointDialTimeout`, Kubernetes v1.22).
pub const ENDPOINT_DIAL_TIMEOUTS: [Duration; 4] = [
    Duration::from_millis(250),
    Duration::from_millis(500),
    Duration::from_secs(1),
    Duration::from_secs(2),
];

/// How a [`ServiceProxy`] listens and connects.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProxyConfig {
    /// The address node ports are opened on (kube-proxy's `--nodeport-addresses`; `0.0.0.0`,
    /// every address of the host, by default).
    pub node_port_address: IpAddr,
    /// The timeout of each attempt to connect to a backend; a failed attempt moves on to the
    /// next backend, and there are as many attempts as entries ([`ENDPOINT_DIAL_TIMEOUTS`] by
    /// default).
    pub dial_timeouts: Vec<Duration>,
    /// How often an idle listener thread wakes up to see whether it was closed; this bounds
    /// how long [`ServiceProxy::sync`] and [`ServiceProxy::shutdown`] wait for a listener to
    /// stop. 100 ms by default.
    pub accept_wake: Duration,
    /// Also listen on the Services' external IPs and load balancer IPs (off by default: those
    /// addresses are seldom local to a single host, and binding them fails).
    pub listen_external_ips: bool,
}

impl Default for ProxyConfig {
    fn default() -> Self {
        ProxyConfig {
            node_port_address: IpAddr::V4(Ipv4Addr::UNSPECIFIED),
            dial_timeouts: ENDPOINT_DIAL_TIMEOUTS.to_vec(),
            accept_wake: Duration::from_millis(100),
            listen_external_ips: false,
        }
    }
}

/// Why a Service port could not be proxied. The listener is retried at the next
/// [`ServiceProxy::sync`].
#[derive(Debug, thiserror::Error)]
pub enum ProxyError {
    /// The Service's address or port is not a socket address.
    #[error("service {service}: cannot listen on {ip}:{port}: not a socket address")]
    Address {
        /// The Service port.
        service: ServicePortName,
        /// The address as the Service has it.
        ip: String,
        /// The port as the Service has it.
        port: i32,
    },
    /// Opening the listening socket failed (the address is not local, or the port is taken).
    #[error("service {service}: cannot listen on {address}")]
    Listen {
        /// The Service port.
        service: ServicePortName,
        /// The address it was to listen on.
        address: SocketAddr,
        /// What the kernel said.
        #[source]
        source: io::Error,
    },
    /// The listener thread could not be started.
    #[error("service {service}: cannot start the listener thread")]
    Thread {
        /// The Service port.
        service: ServicePortName,
        /// What the system said.
        #[source]
        source: io::Error,
    },
}

/// What a Service port's connections came to, counted since the proxy started (kept after the
/// Service is gone, like a Prometheus counter).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ProxyCounters {
    /// Client connections accepted on the Service's listeners.
    pub accepted: u64,
    /// Client connections connected to a backend and forwarded.
    pub forwarded: u64,
    /// Client connections closed without a backend: no usable endpoint, or every attempt to
    /// connect failed.
    pub failed: u64,
    /// Attempts to connect to a backend that failed (each is followed by another attempt, while
    /// attempts remain).
    pub dial_failures: u64,
}

#[derive(Debug, Default)]
struct PortCounters {
    accepted: AtomicU64,
    forwarded: AtomicU64,
    failed: AtomicU64,
    dial_failures: AtomicU64,
}

impl PortCounters {
    fn snapshot(&self) -> ProxyCounters {
        ProxyCounters {
            accepted: self.accepted.load(Ordering::Relaxed),
            forwarded: self.forwarded.load(Ordering::Relaxed),
            failed: self.failed.load(Ordering::Relaxed),
            dial_failures: self.dial_failures.load(Ordering::Relaxed),
        }
    }
}

/// The connections being forwarded, so that shutdown can cut them and join their threads.
#[derive(Default)]
struct Connections {
    next_id: u64,
    /// Per connection: clones of its client and backend sockets.
    live: BTreeMap<u64, [TcpStream; 2]>,
    /// One thread per accepted connection (finished ones are reaped as new ones start).
    threads: Vec<JoinHandle<()>>,
}

/// State shared by the proxy and its threads.
struct Shared {
    table: Arc<Mutex<ProxyTable>>,
    clock: Clock,
    dial_timeouts: Vec<Duration>,
    accept_wake: Duration,
    stopping: AtomicBool,
    counters: Mutex<BTreeMap<ServicePortName, Arc<PortCounters>>>,
    connections: Mutex<Connections>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // A thread that panicked while holding a lock leaves data that is still consistent here
    // (counters, socket lists, the table between whole calls), so the poison is ignored.
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// One open listener.
struct Listener {
    stop: Arc<AtomicBool>,
    thread: JoinHandle<()>,
}

/// The userspace Service proxy. See the [module docs](self).
pub struct ServiceProxy {
    shared: Arc<Shared>,
    node_port_address: IpAddr,
    listen_external_ips: bool,
    listeners: BTreeMap<(SocketAddr, ServicePortName), Listener>,
}

impl std::fmt::Debug for ServiceProxy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServiceProxy")
            .field("listening", &self.listening())
            .finish_non_exhaustive()
    }
}

impl ServiceProxy {
    /// A proxy routing by `table`, reading affinity time from `clock`; it listens on nothing
    /// until [`sync`](Self::sync). The table should be in [`BalanceMode::RoundRobin`], the
    /// userspace mode's balancing.
    pub fn new(table: Arc<Mutex<ProxyTable>>, clock: Clock, config: ProxyConfig) -> ServiceProxy {
        ServiceProxy {
            shared: Arc::new(Shared {
                table,
                clock,
                dial_timeouts: config.dial_timeouts,
                accept_wake: config.accept_wake.max(Duration::from_millis(1)),
                stopping: AtomicBool::new(false),
                counters: Mutex::new(BTreeMap::new()),
                connections: Mutex::new(Connections::default()),
            }),
            node_port_address: config.node_port_address,
            listen_external_ips: config.listen_external_ips,
            listeners: BTreeMap::new(),
        }
    }

    /// A proxy over a fresh round-robin table of its own, reading the wall clock.
    pub fn with_round_robin_table(config: ProxyConfig) -> ServiceProxy {
        let table = ProxyTable::new(0, BalanceMode::RoundRobin);
        ServiceProxy::new(Arc::new(Mutex::new(table)), system_clock(), config)
    }

    /// The routing table, shared with the driver, which keeps it current from watch events
    /// and then calls [`sync`](Self::sync).
    pub fn table(&self) -> &Arc<Mutex<ProxyTable>> {
        &self.shared.table
    }

    /// Makes the listeners match the table: opens one for every TCP Service port address that
    /// has none, closes those whose Service port is gone (a closed listener refuses new
    /// connections at once; connections already forwarded carry on, as kube-proxy's did).
    /// Returns what could not be opened; those are tried again at the next call. Does nothing
    /// after [`shutdown`](Self::shutdown).
    pub fn sync(&mut self) -> Vec<ProxyError> {
        if self.shared.stopping.load(Ordering::SeqCst) {
            return Vec::new();
        }
        let addresses: Vec<(ServiceAddress, ServicePortName)> = lock(&self.shared.table)
            .service_addresses()
            .into_iter()
            .map(|(a, n)| (a, n.clone()))
            .collect();
        let mut errors = Vec::new();
        let mut wanted: BTreeSet<(SocketAddr, ServicePortName)> = BTreeSet::new();
        for (address, name) in addresses {
            let (ip, port, protocol) = match &address {
                ServiceAddress::ClusterIp { ip, port, protocol } => {
                    (ip.parse::<IpAddr>().ok(), *port, *protocol)
                }
                ServiceAddress::External { ip, port, protocol } => {
                    if !self.listen_external_ips {
                        continue;
                    }
                    (ip.parse::<IpAddr>().ok(), *port, *protocol)
                }
                ServiceAddress::NodePort { port, protocol } => {
                    (Some(self.node_port_address), *port, *protocol)
                }
            };
            // Only TCP is proxied (see the module docs).
            if protocol != Protocol::Tcp {
                continue;
            }
            match (ip, u16::try_from(port).ok().filter(|&p| p != 0)) {
                (Some(ip), Some(port)) => {
                    wanted.insert((SocketAddr::new(ip, port), name));
                }
                _ => errors.push(ProxyError::Address {
                    service: name,
                    ip: match &address {
                        ServiceAddress::ClusterIp { ip, .. }
                        | ServiceAddress::External { ip, .. } => ip.clone(),
                        ServiceAddress::NodePort { .. } => self.node_port_address.to_string(),
                    },
                    port,
                }),
            }
        }
        let gone: Vec<(SocketAddr, ServicePortName)> = self
            .listeners
            .keys()
            .filter(|k| !wanted.contains(k))
            .cloned()
            .collect();
        let closing: Vec<Listener> = gone
            .iter()
            .filter_map(|k| self.listeners.remove(k))
            .collect();
        stop_listeners(closing);
        for key in wanted {
            if self.listeners.contains_key(&key) {
                continue;
            }
            match self.open(&key.0, &key.1) {
                Ok(listener) => {
                    self.listeners.insert(key, listener);
                }
                Err(e) => errors.push(e),
            }
        }
        errors
    }

    fn open(&self, address: &SocketAddr, name: &ServicePortName) -> Result<Listener, ProxyError> {
        let listen_error = |source: io::Error| ProxyError::Listen {
            service: name.clone(),
            address: *address,
            source,
        };
        let listener = TcpListener::bind(address).map_err(listen_error)?;
        // A blocking accept that gives up every `accept_wake` (Linux applies SO_RCVTIMEO to
        // accept(2)), so the thread notices it was closed without a self-connect.
        let wake = self.shared.accept_wake;
        let timeval = TimeVal::new(
            i64::try_from(wake.as_secs()).unwrap_or(i64::MAX),
            i64::from(wake.subsec_micros()),
        );
        setsockopt(&listener, sockopt::ReceiveTimeout, &timeval)
            .map_err(|e| listen_error(io::Error::from(e)))?;
        let counters = lock(&self.shared.counters)
            .entry(name.clone())
            .or_default()
            .clone();
        let stop = Arc::new(AtomicBool::new(false));
        let thread = {
            let stop = stop.clone();
            let shared = self.shared.clone();
            let service = name.clone();
            std::thread::Builder::new()
                .name(format!("proxy {address}"))
                .spawn(move || accept_loop(listener, service, counters, stop, shared))
                .map_err(|source| ProxyError::Thread {
                    service: name.clone(),
                    source,
                })?
        };
        Ok(Listener { stop, thread })
    }

    /// The open listeners: each address with its Service port, in order.
    pub fn listening(&self) -> Vec<(SocketAddr, ServicePortName)> {
        self.listeners.keys().cloned().collect()
    }

    /// The counters of one Service port (zero when it never had a listener).
    pub fn counters(&self, port: &ServicePortName) -> ProxyCounters {
        lock(&self.shared.counters)
            .get(port)
            .map(|c| c.snapshot())
            .unwrap_or_default()
    }

    /// The counters of every Service port that had a listener, in order.
    pub fn all_counters(&self) -> BTreeMap<ServicePortName, ProxyCounters> {
        lock(&self.shared.counters)
            .iter()
            .map(|(k, c)| (k.clone(), c.snapshot()))
            .collect()
    }

    /// How many connections are being forwarded now.
    pub fn active_connections(&self) -> usize {
        lock(&self.shared.connections).live.len()
    }

    /// Stops every listener, cuts every forwarded connection and joins every thread the proxy
    /// started. Idempotent; [`sync`](Self::sync) does nothing afterwards.
    pub fn shutdown(&mut self) {
        self.shared.stopping.store(true, Ordering::SeqCst);
        let all: Vec<Listener> = std::mem::take(&mut self.listeners).into_values().collect();
        // Listeners first, so that no connection thread starts after the sweep below.
        stop_listeners(all);
        let threads = {
            let mut conns = lock(&self.shared.connections);
            for sockets in conns.live.values() {
                for s in sockets {
                    let _ = s.shutdown(Shutdown::Both);
                }
            }
            std::mem::take(&mut conns.threads)
        };
        // A connection thread still dialling sees `stopping` once its attempt ends (at most
        // the longest dial timeout) and closes its client.
        for t in threads {
            let _ = t.join();
        }
    }
}

impl Drop for ServiceProxy {
    fn drop(&mut self) {
        self.shutdown();
    }
}

/// Tells every listener thread to stop, then waits for them all (so the wait is one wake-up
/// interval, not one per listener). A joined thread has dropped its socket: the port refuses.
fn stop_listeners(listeners: Vec<Listener>) {
    for l in &listeners {
        l.stop.store(true, Ordering::SeqCst);
    }
    for l in listeners {
        let _ = l.thread.join();
    }
}

fn accept_loop(
    listener: TcpListener,
    name: ServicePortName,
    counters: Arc<PortCounters>,
    stop: Arc<AtomicBool>,
    shared: Arc<Shared>,
) {
    while !stop.load(Ordering::SeqCst) && !shared.stopping.load(Ordering::SeqCst) {
        let (client, peer) = match listener.accept() {
            Ok(accepted) => accepted,
            Err(e) => {
                if !matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock
                        | io::ErrorKind::TimedOut
                        | io::ErrorKind::Interrupted
                ) {
                    // Out of file descriptors and the like: back off instead of spinning.
                    std::thread::sleep(shared.accept_wake);
                }
                continue;
            }
        };
        counters.accepted.fetch_add(1, Ordering::Relaxed);
        let spawned = {
            let shared = shared.clone();
            let name = name.clone();
            let counters = counters.clone();
            std::thread::Builder::new()
                .name("proxy connection".into())
                .spawn(move || serve(client, peer, &name, &counters, &shared))
        };
        match spawned {
            Ok(handle) => {
                let mut conns = lock(&shared.connections);
                conns.threads.retain(|t| !t.is_finished());
                conns.threads.push(handle);
            }
            // The closure, and with it the client connection, is dropped: closed.
            Err(_) => {
                counters.failed.fetch_add(1, Ordering::Relaxed);
            }
        }
    }
}

/// Closes a client connection with a reset, as kube-proxy's REJECT answers a Service without
/// endpoints: a zero linger time makes the close(2) of its last descriptor send RST.
fn reject(client: TcpStream) {
    let _ = setsockopt(
        &client,
        sockopt::Linger,
        &libc::linger {
            l_onoff: 1,
            l_linger: 0,
        },
    );
    drop(client);
}

/// Connects to a backend of `name` for a client at `client_ip`, trying again with another
/// backend after a failure (proxysocket.go `tryConnect`).
fn dial(
    name: &ServicePortName,
    client_ip: &str,
    counters: &PortCounters,
    shared: &Shared,
) -> Option<TcpStream> {
    for (attempt, timeout) in shared.dial_timeouts.iter().enumerate() {
        if shared.stopping.load(Ordering::SeqCst) {
            return None;
        }
        let now = (shared.clock)();
        let route = {
            let mut table = lock(&shared.table);
            if attempt > 0 {
                // After a failed attempt the client's affinity no longer holds
                // (tryConnect's `sessionAffinityReset`).
                table.reset_affinity(name, client_ip);
            }
            table.choose(name, client_ip, now)
        };
        let backend = match route {
            Route::Backend(b) => b,
            Route::NoEndpoints(_) | Route::NoService => return None,
        };
        let address = backend
            .ip
            .parse::<IpAddr>()
            .ok()
            .zip(u16::try_from(backend.port).ok())
            .map(|(ip, port)| SocketAddr::new(ip, port));
        match address.map(|a| TcpStream::connect_timeout(&a, *timeout)) {
            Some(Ok(stream)) => return Some(stream),
            Some(Err(_)) | None => {
                counters.dial_failures.fetch_add(1, Ordering::Relaxed);
            }
        }
    }
    None
}

/// Handles one accepted connection: finds a backend and forwards until both sides are done.
fn serve(
    client: TcpStream,
    peer: SocketAddr,
    name: &ServicePortName,
    counters: &PortCounters,
    shared: &Shared,
) {
    // An accepted socket inherits the listener's SO_RCVTIMEO (the accept wake-up): clear it,
    // or an idle connection would be cut after `accept_wake`.
    if client.set_nonblocking(false).is_err() || client.set_read_timeout(None).is_err() {
        counters.failed.fetch_add(1, Ordering::Relaxed);
        reject(client);
        return;
    }
    let Some(backend) = dial(name, &peer.ip().to_string(), counters, shared) else {
        counters.failed.fetch_add(1, Ordering::Relaxed);
        reject(client);
        return;
    };
    let id = {
        let mut conns = lock(&shared.connections);
        // Checked under the lock that shutdown's sweep takes: either this connection is
        // registered before the sweep and cut by it, or it sees `stopping` here.
        if shared.stopping.load(Ordering::SeqCst) {
            drop(conns);
            counters.failed.fetch_add(1, Ordering::Relaxed);
            reject(client);
            return;
        }
        let (Ok(c), Ok(b)) = (client.try_clone(), backend.try_clone()) else {
            drop(conns);
            counters.failed.fetch_add(1, Ordering::Relaxed);
            reject(client);
            return;
        };
        let id = conns.next_id;
        conns.next_id += 1;
        conns.live.insert(id, [c, b]);
        id
    };
    counters.forwarded.fetch_add(1, Ordering::Relaxed);
    // proxysocket.go `proxyTCP`: one copy per direction. Unlike it, the end of one direction
    // is passed on as a half-close (shutdown of the write side), so a client that finished
    // sending still gets the whole answer.
    let upstream = match (client.try_clone(), backend.try_clone()) {
        (Ok(from), Ok(to)) => std::thread::Builder::new()
            .name("proxy copy".into())
            .spawn(move || pipe(from, to))
            .ok(),
        _ => None,
    };
    if upstream.is_some() {
        pipe(backend, client);
    } else {
        let _ = backend.shutdown(Shutdown::Both);
        let _ = client.shutdown(Shutdown::Both);
    }
    if let Some(t) = upstream {
        let _ = t.join();
    }
    lock(&shared.connections).live.remove(&id);
}

/// Copies `from` to `to` until `from` ends, then half-closes `to`; on an error both
/// connections are cut, so the other direction ends too.
fn pipe(mut from: TcpStream, mut to: TcpStream) {
    match io::copy(&mut from, &mut to) {
        Ok(_) => {
            let _ = to.shutdown(Shutdown::Write);
        }
        Err(_) => {
            let _ = from.shutdown(Shutdown::Both);
            let _ = to.shutdown(Shutdown::Both);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use flotilla_controllers::testing::parse_object;
    use flotilla_model::store::{WatchEvent, WatchEventType};
    use flotilla_model::Object;
    use std::io::{Read, Write};

    /// A test backend: answers each connection, once the client has finished sending, with
    /// `<id>:<what the client sent>` and closes.
    struct Server {
        stop: Arc<AtomicBool>,
        thread: Option<JoinHandle<()>>,
    }

    impl Server {
        fn start(listener: TcpListener, id: String) -> Server {
            setsockopt(&listener, sockopt::ReceiveTimeout, &TimeVal::new(0, 20_000)).unwrap();
            let stop = Arc::new(AtomicBool::new(false));
            let flag = stop.clone();
            let thread = std::thread::spawn(move || {
                while !flag.load(Ordering::SeqCst) {
                    let Ok((mut conn, _)) = listener.accept() else {
                        continue;
                    };
                    let id = id.clone();
                    std::thread::spawn(move || {
                        // Not the listener's inherited 20 ms accept timeout.
                        conn.set_read_timeout(None).unwrap();
                        let mut got = Vec::new();
                        if conn.read_to_end(&mut got).is_ok() {
                            let answer = format!("{id}:{}", String::from_utf8_lossy(&got));
                            let _ = conn.write_all(answer.as_bytes());
                        }
                    });
                }
            });
            Server {
                stop,
                thread: Some(thread),
            }
        }
    }

    impl Drop for Server {
        fn drop(&mut self) {
            self.stop.store(true, Ordering::SeqCst);
            if let Some(t) = self.thread.take() {
                let _ = t.join();
            }
        }
    }

    /// Servers on each of `ips`, all on one free port (a Service's endpoints share the slice's
    /// port), each answering with the last part of its address.
    fn servers(ips: &[&str]) -> (Vec<Server>, u16) {
        'again: for _ in 0..50 {
            let first = TcpListener::bind((ips[0], 0)).unwrap();
            let port = first.local_addr().unwrap().port();
            let mut listeners = vec![first];
            for ip in &ips[1..] {
                match TcpListener::bind((*ip, port)) {
                    Ok(l) => listeners.push(l),
                    Err(_) => continue 'again,
                }
            }
            let servers = listeners
                .into_iter()
                .zip(ips)
                .map(|(l, ip)| Server::start(l, id_of(ip)))
                .collect();
            return (servers, port);
        }
        panic!("no port free on every one of {ips:?}");
    }

    fn id_of(ip: &str) -> String {
        format!("b{}", ip.rsplit('.').next().unwrap())
    }

    fn free_port(ip: &str) -> u16 {
        TcpListener::bind((ip, 0))
            .unwrap()
            .local_addr()
            .unwrap()
            .port()
    }

    fn event(object: Object, event_type: WatchEventType) -> WatchEvent {
        WatchEvent {
            event_type,
            object: Arc::new(object),
            resource_version: 1,
        }
    }

    /// A Service `web` on `cluster_ip`:`port` with the extra spec lines `extra`.
    fn service(cluster_ip: &str, port: u16, extra: &str) -> Object {
        parse_object(&format!(
            "apiVersion: v1\nkind: Service\nmetadata: {{name: web, namespace: default}}\n\
             spec:\n  clusterIP: {cluster_ip}\n  selector: {{app: web}}\n{extra}  ports:\n  \
             - {{name: http, port: {port}, targetPort: 8080}}\n"
        ))
    }

    /// The EndpointSlice of `web`: endpoints at `ips` (with readiness) on `port`.
    ///
    /// The slice goes to the table as a watch event rather than through a `Store`: the store's
    /// admission refuses loopback endpoint addresses, as the API server does
    /// (validation.go `ValidateEndpointIP`), and loopback is what a test without root has.
    fn slice(port: u16, ips: &[(&str, bool)]) -> Object {
        let endpoints: String = ips
            .iter()
            .map(|(ip, ready)| {
                format!(
                    "- addresses: [\"{ip}\"]\n  conditions: {{ready: {ready}, serving: {ready}}}\n"
                )
            })
            .collect();
        parse_object(&format!(
            "apiVersion: discovery.k8s.io/v1\nkind: EndpointSlice\nmetadata:\n  name: web-abcde\n  \
             namespace: default\n  labels: {{kubernetes.io/service-name: web}}\n\
             addressType: IPv4\nports: [{{name: http, protocol: TCP, port: {port}}}]\n\
             endpoints:\n{endpoints}"
        ))
    }

    fn web() -> ServicePortName {
        ServicePortName {
            namespace: "default".into(),
            name: "web".into(),
            port: "http".into(),
        }
    }

    /// A proxy over a round-robin table holding `objects`, on a clock the test sets (seconds).
    fn proxy(objects: Vec<Object>, config: ProxyConfig) -> (ServiceProxy, Arc<AtomicU64>) {
        let mut table = ProxyTable::new(1, BalanceMode::RoundRobin);
        for o in objects {
            table.handle_event(&event(o, WatchEventType::Added));
        }
        let secs = Arc::new(AtomicU64::new(1_000));
        let clock: Clock = {
            let secs = secs.clone();
            Arc::new(move || Time::from_secs(secs.load(Ordering::SeqCst)))
        };
        let mut proxy = ServiceProxy::new(Arc::new(Mutex::new(table)), clock, config);
        let errors = proxy.sync();
        assert!(errors.is_empty(), "{errors:?}");
        (proxy, secs)
    }

    /// Sends `ping` through `address`, half-closes, and reads the whole answer.
    fn fetch(address: &str) -> io::Result<String> {
        let address: SocketAddr = address.parse().unwrap();
        let mut conn = TcpStream::connect_timeout(&address, Duration::from_secs(5))?;
        conn.set_read_timeout(Some(Duration::from_secs(20)))?;
        conn.write_all(b"ping")?;
        conn.shutdown(Shutdown::Write)?;
        let mut answer = String::new();
        conn.read_to_string(&mut answer)?;
        Ok(answer)
    }

    #[test]
    fn round_robin_answers_from_every_ready_backend_in_turn() {
        let (_servers, port) = servers(&["127.0.1.10", "127.0.1.11", "127.0.1.12", "127.0.1.13"]);
        let svc_port = free_port("127.0.1.2");
        let ready = [
            ("127.0.1.12", true),
            ("127.0.1.10", true),
            ("127.0.1.13", false),
            ("127.0.1.11", true),
        ];
        let (proxy, _) = proxy(
            vec![service("127.0.1.2", svc_port, ""), slice(port, &ready)],
            ProxyConfig::default(),
        );
        let address = format!("127.0.1.2:{svc_port}");
        let answers: Vec<String> = (0..6).map(|_| fetch(&address).unwrap()).collect();
        assert_eq!(
            answers,
            ["b10:ping", "b11:ping", "b12:ping", "b10:ping", "b11:ping", "b12:ping"]
        );
        assert_eq!(
            proxy.counters(&web()),
            ProxyCounters {
                accepted: 6,
                forwarded: 6,
                failed: 0,
                dial_failures: 0
            }
        );
    }

    #[test]
    fn an_idle_connection_is_not_cut() {
        let (_servers, port) = servers(&["127.0.9.10"]);
        let svc_port = free_port("127.0.9.2");
        let config = ProxyConfig {
            accept_wake: Duration::from_millis(5),
            ..ProxyConfig::default()
        };
        let (proxy, _) = proxy(
            vec![
                service("127.0.9.2", svc_port, ""),
                slice(port, &[("127.0.9.10", true)]),
            ],
            config,
        );
        let address: SocketAddr = format!("127.0.9.2:{svc_port}").parse().unwrap();
        let mut conn = TcpStream::connect(address).unwrap();
        conn.set_read_timeout(Some(Duration::from_secs(20)))
            .unwrap();
        // Quiet for many times the listener's wake-up interval (which accepted sockets must
        // not inherit as a read timeout).
        std::thread::sleep(Duration::from_millis(200));
        conn.write_all(b"late").unwrap();
        conn.shutdown(Shutdown::Write).unwrap();
        let mut answer = String::new();
        conn.read_to_string(&mut answer).unwrap();
        assert_eq!(answer, "b10:late");
        assert_eq!(proxy.counters(&web()).forwarded, 1);
    }

    #[test]
    fn a_backend_that_refuses_is_skipped_and_the_client_still_gets_an_answer() {
        // 127.0.2.10 has no server: connecting to it is refused.
        let (_servers, port) = servers(&["127.0.2.11"]);
        let svc_port = free_port("127.0.2.2");
        let (proxy, _) = proxy(
            vec![
                service("127.0.2.2", svc_port, ""),
                slice(port, &[("127.0.2.10", true), ("127.0.2.11", true)]),
            ],
            ProxyConfig::default(),
        );
        let address = format!("127.0.2.2:{svc_port}");
        for _ in 0..3 {
            assert_eq!(fetch(&address).unwrap(), "b11:ping");
        }
        let counters = proxy.counters(&web());
        assert_eq!((counters.forwarded, counters.failed), (3, 0));
        // Round-robin hands out 127.0.2.10 every other choice: once per connection here.
        assert_eq!(counters.dial_failures, 3);
    }

    #[test]
    fn client_ip_affinity_keeps_a_client_on_its_backend_until_the_timeout() {
        let (_servers, port) = servers(&["127.0.3.10", "127.0.3.11", "127.0.3.12"]);
        let svc_port = free_port("127.0.3.2");
        let affinity =
            "  sessionAffinity: ClientIP\n  sessionAffinityConfig: {clientIP: {timeoutSeconds: 60}}\n";
        let ready = [
            ("127.0.3.10", true),
            ("127.0.3.11", true),
            ("127.0.3.12", true),
        ];
        let (_proxy, secs) = proxy(
            vec![
                service("127.0.3.2", svc_port, affinity),
                slice(port, &ready),
            ],
            ProxyConfig::default(),
        );
        let address = format!("127.0.3.2:{svc_port}");
        let first = fetch(&address).unwrap();
        for _ in 0..4 {
            secs.fetch_add(30, Ordering::SeqCst);
            assert_eq!(fetch(&address).unwrap(), first);
        }
        // Idle for longer than timeoutSeconds: a fresh choice, round-robin's next backend.
        secs.fetch_add(61, Ordering::SeqCst);
        let second = fetch(&address).unwrap();
        assert_ne!(second, first);
        assert_eq!(fetch(&address).unwrap(), second);
    }

    #[test]
    fn a_service_without_ready_endpoints_closes_the_connection_at_once() {
        let (_servers, port) = servers(&["127.0.4.10"]);
        let svc_port = free_port("127.0.4.2");
        let (proxy, _) = proxy(
            vec![
                service("127.0.4.2", svc_port, ""),
                slice(port, &[("127.0.4.10", false)]),
            ],
            ProxyConfig::default(),
        );
        let answer = fetch(&format!("127.0.4.2:{svc_port}"));
        // A reset (or, if it raced the request, an empty answer): never the backend's reply.
        match answer {
            Ok(text) => assert_eq!(text, ""),
            Err(e) => assert_ne!(e.kind(), io::ErrorKind::WouldBlock, "{e}"),
        }
        assert_eq!(
            proxy.counters(&web()),
            ProxyCounters {
                accepted: 1,
                forwarded: 0,
                failed: 1,
                dial_failures: 0
            }
        );
    }

    #[test]
    fn deleting_the_service_closes_its_listener() {
        let (_servers, port) = servers(&["127.0.5.10"]);
        let svc_port = free_port("127.0.5.2");
        let svc = service("127.0.5.2", svc_port, "");
        let (mut proxy, _) = proxy(
            vec![svc.clone(), slice(port, &[("127.0.5.10", true)])],
            ProxyConfig::default(),
        );
        let address = format!("127.0.5.2:{svc_port}");
        assert_eq!(fetch(&address).unwrap(), "b10:ping");
        assert_eq!(
            proxy.listening(),
            [(address.parse::<SocketAddr>().unwrap(), web())]
        );
        lock(proxy.table()).handle_event(&event(svc, WatchEventType::Deleted));
        assert!(proxy.sync().is_empty());
        assert!(proxy.listening().is_empty());
        let refused = fetch(&address).unwrap_err();
        assert_eq!(
            refused.kind(),
            io::ErrorKind::ConnectionRefused,
            "{refused}"
        );
    }

    #[test]
    fn node_ports_are_proxied_and_udp_ports_skipped() {
        let (_servers, port) = servers(&["127.0.6.10", "127.0.6.11"]);
        let svc_port = free_port("127.0.6.2");
        let node_port = free_port("127.0.6.1");
        let svc = parse_object(&format!(
            "apiVersion: v1\nkind: Service\nmetadata: {{name: web, namespace: default}}\n\
             spec:\n  type: NodePort\n  clusterIP: 127.0.6.2\n  selector: {{app: web}}\n  ports:\n  \
             - {{name: http, port: {svc_port}, targetPort: 8080, nodePort: {node_port}}}\n  \
             - {{name: dns, port: 53, protocol: UDP, targetPort: 53}}\n"
        ));
        let config = ProxyConfig {
            node_port_address: "127.0.6.1".parse().unwrap(),
            ..ProxyConfig::default()
        };
        let (proxy, _) = proxy(
            vec![
                svc,
                slice(port, &[("127.0.6.10", true), ("127.0.6.11", true)]),
            ],
            config,
        );
        let node = format!("127.0.6.1:{node_port}");
        let cluster = format!("127.0.6.2:{svc_port}");
        assert_eq!(
            proxy.listening(),
            [
                (node.parse::<SocketAddr>().unwrap(), web()),
                (cluster.parse::<SocketAddr>().unwrap(), web())
            ]
        );
        // The node port and the cluster IP share one round-robin over the backends.
        assert_eq!(fetch(&node).unwrap(), "b10:ping");
        assert_eq!(fetch(&cluster).unwrap(), "b11:ping");
        assert_eq!(fetch(&node).unwrap(), "b10:ping");
        assert_eq!(proxy.counters(&web()).forwarded, 3);
    }

    #[test]
    fn a_taken_address_is_reported_and_retried_at_the_next_sync() {
        let (_servers, port) = servers(&["127.0.7.10"]);
        let taken = TcpListener::bind(("127.0.7.2", 0)).unwrap();
        let svc_port = taken.local_addr().unwrap().port();
        let mut table = ProxyTable::new(1, BalanceMode::RoundRobin);
        table.handle_event(&event(
            service("127.0.7.2", svc_port, ""),
            WatchEventType::Added,
        ));
        table.handle_event(&event(
            slice(port, &[("127.0.7.10", true)]),
            WatchEventType::Added,
        ));
        let mut proxy = ServiceProxy::new(
            Arc::new(Mutex::new(table)),
            system_clock(),
            ProxyConfig::default(),
        );
        let errors = proxy.sync();
        assert!(
            matches!(errors.as_slice(), [ProxyError::Listen { service, .. }] if *service == web()),
            "{errors:?}"
        );
        drop(taken);
        assert!(proxy.sync().is_empty());
        assert_eq!(fetch(&format!("127.0.7.2:{svc_port}")).unwrap(), "b10:ping");
    }

    #[test]
    fn shutdown_cuts_connections_stops_listening_and_joins_threads() {
        let (_servers, port) = servers(&["127.0.8.10"]);
        let svc_port = free_port("127.0.8.2");
        let (mut proxy, _) = proxy(
            vec![
                service("127.0.8.2", svc_port, ""),
                slice(port, &[("127.0.8.10", true)]),
            ],
            ProxyConfig::default(),
        );
        let address: SocketAddr = format!("127.0.8.2:{svc_port}").parse().unwrap();
        // A connection that stays open: the backend waits for the end of the request.
        let mut open = TcpStream::connect(address).unwrap();
        open.set_read_timeout(Some(Duration::from_secs(20)))
            .unwrap();
        open.write_all(b"unfinished").unwrap();
        let deadline = std::time::Instant::now() + Duration::from_secs(20);
        while proxy.active_connections() == 0 {
            assert!(std::time::Instant::now() < deadline, "never forwarded");
            std::thread::sleep(Duration::from_millis(5));
        }
        proxy.shutdown();
        assert_eq!(proxy.active_connections(), 0);
        assert!(proxy.listening().is_empty());
        let mut rest = Vec::new();
        match open.read_to_end(&mut rest) {
            Ok(n) => assert_eq!(n, 0, "{rest:?}"),
            Err(e) => assert_ne!(e.kind(), io::ErrorKind::WouldBlock, "{e}"),
        }
        let refused = TcpStream::connect(address).unwrap_err();
        assert_eq!(refused.kind(), io::ErrorKind::ConnectionRefused);
        // Nothing reopens after shutdown.
        assert!(proxy.sync().is_empty());
        assert!(proxy.listening().is_empty());
    }
}
