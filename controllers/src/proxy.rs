//! kube-proxy's logic, pure: a [`ProxyTable`] from Services and EndpointSlices to the backend
//! each new connection goes to, and the [`LoadBalancerController`] that gives `LoadBalancer`
//! Services an address.
//!
//! The table is what kube-proxy programs into iptables, IPVS or nftables (pkg/proxy): per
//! Service port, the cluster IP and node port it is reached on, and the endpoints behind it.
//! A driver (the simulator's network model, or runtime-linux's forwarding) builds it with
//! [`ProxyTable::from_store`] or keeps it current with [`ProxyTable::handle_event`] for each
//! watch event of a Service or EndpointSlice, and asks [`ProxyTable::route`] (or
//! [`ProxyTable::route_node_port`]) where a connection goes. Backend choice follows
//! kube-proxy:
//!
//! - only ready endpoints; when a Service has none, its serving terminating endpoints
//!   (pkg/proxy/topology.go `CategorizeEndpoints`, ProxyTerminatingEndpoints);
//! - random choice (the iptables mode's `statistic --mode random` chain) from the table's own
//!   seeded stream, or round-robin (the userspace mode's `LoadBalancerRR`), see
//!   [`BalanceMode`];
//! - `sessionAffinity: ClientIP`: a client IP sticks to its backend until it has been idle for
//!   `timeoutSeconds` (10800 by default; iptables `-m recent --rcheck --seconds`), with time
//!   passed in explicitly;
//! - no endpoints: [`Route::NoEndpoints`], which kube-proxy answers with a REJECT
//!   (`KUBE-SVC-…` has no rules, the `KUBE-EXTERNAL-SERVICES`/`KUBE-SERVICES` filter rejects).
//!
//! Traffic policies `Local` and topology hints are not modelled: every Service routes as
//! `Cluster`.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use flotilla_model::api::{
    EndpointSlice, LoadBalancerIngress, LoadBalancerIpMode, Protocol, Service, ServiceAffinity,
    ServiceType, DEFAULT_CLIENT_IP_AFFINITY_SECONDS,
};
use flotilla_model::rng::component_rng;
use flotilla_model::store::{ObjectKey, Store, WatchEvent, WatchEventType};
use flotilla_model::{Duration, Kind, Object, Time};
use rand::Rng;
use rand_chacha::ChaCha8Rng;

use crate::controller::{Action, Context, Controller, Lookup, ReconcileError};

/// How a Service port picks among its endpoints.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum BalanceMode {
    /// Uniformly at random (iptables and nftables modes; the default).
    #[default]
    Random,
    /// In turn, in address order (the userspace mode's round-robin).
    RoundRobin,
}

/// A Service port: the Service's namespace and name and the port's name (kube-proxy's
/// `ServicePortName`).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ServicePortName {
    /// The Service's namespace.
    pub namespace: String,
    /// The Service's name.
    pub name: String,
    /// The port's name (`""` for the unnamed port of a single-port Service).
    pub port: String,
}

impl std::fmt::Display for ServicePortName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.namespace, self.name)?;
        if !self.port.is_empty() {
            write!(f, ":{}", self.port)?;
        }
        Ok(())
    }
}

/// One endpoint of a Service port, as the proxy sees it.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Backend {
    /// The endpoint's address (the pod IP).
    pub ip: String,
    /// The port on the endpoint.
    pub port: i32,
    /// The pod behind it, when the slice names one.
    pub pod: Option<String>,
    /// The node it runs on.
    pub node: Option<String>,
    /// Whether it takes new connections.
    pub ready: bool,
    /// Whether it can serve (ready, or terminating but still passing readiness).
    pub serving: bool,
    /// Whether it is shutting down.
    pub terminating: bool,
}

/// Where a connection goes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Route {
    /// To this backend.
    Backend(Backend),
    /// The Service has no usable endpoint: kube-proxy rejects the connection
    /// (ICMP port unreachable / TCP reset).
    NoEndpoints(ServicePortName),
    /// No Service listens on that address and port.
    NoService,
}

/// An address a Service port is reached on (see [`ProxyTable::service_addresses`]).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ServiceAddress {
    /// The Service's cluster IP (`spec.clusterIP`) and port.
    ClusterIp {
        /// The cluster IP.
        ip: String,
        /// The Service port (`spec.ports[].port`).
        port: i32,
        /// The port's protocol.
        protocol: Protocol,
    },
    /// An external IP (`spec.externalIPs`) or load balancer ingress IP, and the port.
    External {
        /// The IP.
        ip: String,
        /// The Service port (`spec.ports[].port`).
        port: i32,
        /// The port's protocol.
        protocol: Protocol,
    },
    /// A node port (`spec.ports[].nodePort`), reached on every address of every node.
    NodePort {
        /// The node port.
        port: i32,
        /// The port's protocol.
        protocol: Protocol,
    },
}

#[derive(Clone, Debug)]
struct PortInfo {
    cluster_ip: Option<String>,
    node_port: Option<i32>,
    external_ips: Vec<String>,
    load_balancer_ips: Vec<String>,
    affinity_timeout: Option<Duration>,
}

/// A routing table. See the [module docs](self).
#[derive(Clone, Debug)]
pub struct ProxyTable {
    mode: BalanceMode,
    rng: ChaCha8Rng,
    services: BTreeMap<(String, String), Arc<Service>>,
    slices: BTreeMap<(String, String), Arc<EndpointSlice>>,
    ports: BTreeMap<ServicePortName, PortInfo>,
    by_address: BTreeMap<(String, i32, Protocol), ServicePortName>,
    by_node_port: BTreeMap<(i32, Protocol), ServicePortName>,
    endpoints: BTreeMap<ServicePortName, Vec<Backend>>,
    next: BTreeMap<ServicePortName, usize>,
    affinity: BTreeMap<(ServicePortName, String), (Backend, Time)>,
}

impl ProxyTable {
    /// An empty table choosing backends by `mode`, with the random stream `kube-proxy` of
    /// `seed`.
    pub fn new(seed: u64, mode: BalanceMode) -> ProxyTable {
        ProxyTable {
            mode,
            rng: component_rng(seed, "kube-proxy"),
            services: BTreeMap::new(),
            slices: BTreeMap::new(),
            ports: BTreeMap::new(),
            by_address: BTreeMap::new(),
            by_node_port: BTreeMap::new(),
            endpoints: BTreeMap::new(),
            next: BTreeMap::new(),
            affinity: BTreeMap::new(),
        }
    }

    /// A table of every Service and EndpointSlice in `store`.
    pub fn from_store(store: &Store, seed: u64, mode: BalanceMode) -> ProxyTable {
        let mut table = ProxyTable::new(seed, mode);
        for o in store.iter_kind(Kind::EndpointSlice) {
            if let Object::EndpointSlice(s) = &**o {
                table.slices.insert(
                    (s.metadata.namespace.clone(), s.metadata.name.clone()),
                    Arc::new(s.clone()),
                );
            }
        }
        for o in store.iter_kind(Kind::Service) {
            if let Object::Service(s) = &**o {
                table.services.insert(
                    (s.metadata.namespace.clone(), s.metadata.name.clone()),
                    Arc::new((**s).clone()),
                );
            }
        }
        let keys: Vec<(String, String)> = table.services.keys().cloned().collect();
        for (ns, name) in keys {
            table.rebuild(&ns, &name);
        }
        table
    }

    /// Follows one watch event; events of other kinds are ignored.
    pub fn handle_event(&mut self, event: &WatchEvent) {
        let deleted = event.event_type == WatchEventType::Deleted;
        match &*event.object {
            Object::Service(s) => {
                let key = (s.metadata.namespace.clone(), s.metadata.name.clone());
                if deleted {
                    self.services.remove(&key);
                } else {
                    self.services.insert(key.clone(), Arc::new((**s).clone()));
                }
                self.rebuild(&key.0, &key.1);
            }
            Object::EndpointSlice(s) => {
                let key = (s.metadata.namespace.clone(), s.metadata.name.clone());
                let old_service = self
                    .slices
                    .get(&key)
                    .and_then(|o| o.service_name().map(str::to_string));
                if deleted {
                    self.slices.remove(&key);
                } else {
                    self.slices.insert(key.clone(), Arc::new(s.clone()));
                }
                let new_service = s.service_name().map(str::to_string);
                for service in [old_service, new_service].into_iter().flatten() {
                    self.rebuild(&key.0, &service);
                }
            }
            _ => {}
        }
    }

    /// Recomputes the ports and endpoints of one Service (pkg/proxy servicechangetracker and
    /// endpointschangetracker: a change replaces the Service's whole entry).
    fn rebuild(&mut self, namespace: &str, name: &str) {
        let old: Vec<ServicePortName> = self
            .ports
            .keys()
            .filter(|p| p.namespace == namespace && p.name == name)
            .cloned()
            .collect();
        for p in &old {
            self.ports.remove(p);
            self.endpoints.remove(p);
        }
        self.by_address
            .retain(|_, p| !(p.namespace == namespace && p.name == name));
        self.by_node_port
            .retain(|_, p| !(p.namespace == namespace && p.name == name));
        let Some(svc) = self
            .services
            .get(&(namespace.to_string(), name.to_string()))
            .cloned()
        else {
            self.forget(&old);
            return;
        };
        // ExternalName Services are DNS only; headless ones are not proxied
        // (servicechangetracker: `ShouldSkipService`).
        if svc.spec.r#type == ServiceType::ExternalName || svc.is_headless() {
            self.forget(&old);
            return;
        }
        let cluster_ip = svc.spec.cluster_ip.clone().filter(|ip| !ip.is_empty());
        let affinity_timeout =
            (svc.spec.session_affinity == ServiceAffinity::ClientIP).then(|| {
                let secs = svc
                    .spec
                    .session_affinity_config
                    .as_ref()
                    .and_then(|c| c.client_ip.as_ref())
                    .and_then(|c| c.timeout_seconds)
                    .unwrap_or(DEFAULT_CLIENT_IP_AFFINITY_SECONDS);
                Duration::from_secs(secs.max(0) as u64)
            });
        let lb_ips: Vec<String> = svc
            .status
            .load_balancer
            .ingress
            .iter()
            .filter_map(|i| i.ip.clone())
            .collect();
        let slices: Vec<Arc<EndpointSlice>> = self
            .slices
            .iter()
            .filter(|((ns, _), s)| ns == namespace && s.service_name() == Some(name))
            .map(|(_, s)| s.clone())
            .collect();
        let mut current = BTreeSet::new();
        for sp in &svc.spec.ports {
            let port_name = ServicePortName {
                namespace: namespace.to_string(),
                name: name.to_string(),
                port: sp.name.clone().unwrap_or_default(),
            };
            current.insert(port_name.clone());
            let info = PortInfo {
                cluster_ip: cluster_ip.clone(),
                node_port: sp.node_port(),
                external_ips: svc.spec.external_ips.clone(),
                load_balancer_ips: lb_ips.clone(),
                affinity_timeout,
            };
            for ip in info
                .cluster_ip
                .iter()
                .chain(&info.external_ips)
                .chain(&info.load_balancer_ips)
            {
                self.by_address
                    .insert((ip.clone(), sp.port, sp.protocol), port_name.clone());
            }
            if let Some(np) = info.node_port {
                self.by_node_port
                    .insert((np, sp.protocol), port_name.clone());
            }
            self.ports.insert(port_name.clone(), info);
            // endpointslicecache.go: the endpoints of every slice whose port of that name and
            // protocol has a number, merged by address.
            let mut backends: BTreeMap<String, Backend> = BTreeMap::new();
            for slice in &slices {
                let Some(port) = slice.ports.iter().find(|p| {
                    p.name.as_deref().unwrap_or("") == port_name.port
                        && p.protocol.unwrap_or_default() == sp.protocol
                }) else {
                    continue;
                };
                let Some(number) = port.port else {
                    continue;
                };
                for ep in &slice.endpoints {
                    let Some(ip) = ep.addresses.first() else {
                        continue;
                    };
                    backends.entry(ip.clone()).or_insert_with(|| Backend {
                        ip: ip.clone(),
                        port: number,
                        pod: ep.target_ref.as_ref().map(|r| r.name.clone()),
                        node: ep.node_name.clone(),
                        ready: ep.is_ready(),
                        serving: ep.is_serving(),
                        terminating: ep.is_terminating(),
                    });
                }
            }
            self.endpoints
                .insert(port_name, backends.into_values().collect());
        }
        let gone: Vec<ServicePortName> = old.into_iter().filter(|p| !current.contains(p)).collect();
        self.forget(&gone);
        if affinity_timeout.is_none() {
            self.affinity
                .retain(|(p, _), _| !(p.namespace == namespace && p.name == name));
        }
    }

    fn forget(&mut self, ports: &[ServicePortName]) {
        for p in ports {
            self.next.remove(p);
        }
        self.affinity.retain(|(p, _), _| !ports.contains(p));
    }

    /// The Service port listening on `ip`:`port`/`protocol` (a cluster IP, an external IP or a
    /// load balancer IP).
    pub fn lookup(&self, ip: &str, port: i32, protocol: Protocol) -> Option<&ServicePortName> {
        self.by_address.get(&(ip.to_string(), port, protocol))
    }

    /// The Service port that node port `node_port`/`protocol` belongs to.
    pub fn lookup_node_port(&self, node_port: i32, protocol: Protocol) -> Option<&ServicePortName> {
        self.by_node_port.get(&(node_port, protocol))
    }

    /// Every endpoint of a Service port, in address order, usable or not.
    pub fn endpoints(&self, port: &ServicePortName) -> &[Backend] {
        self.endpoints.get(port).map_or(&[], Vec::as_slice)
    }

    /// The endpoints new connections to `port` may go to: the ready ones, or when there are
    /// none the serving terminating ones (topology.go `CategorizeEndpoints`).
    pub fn usable_endpoints(&self, port: &ServicePortName) -> Vec<&Backend> {
        let all = self.endpoints(port);
        let ready: Vec<&Backend> = all.iter().filter(|b| b.ready).collect();
        if !ready.is_empty() {
            return ready;
        }
        all.iter().filter(|b| b.serving && b.terminating).collect()
    }

    /// The Service ports in the table, in order.
    pub fn service_ports(&self) -> impl Iterator<Item = &ServicePortName> + '_ {
        self.ports.keys()
    }

    /// Every address the table routes, each with its Service port, in address order: what a
    /// proxy that listens on sockets (kube-proxy's userspace mode, which opened one socket per
    /// Service port: pkg/proxy/userspace/proxier.go `addServiceOnPortInternal`) must listen on.
    pub fn service_addresses(&self) -> Vec<(ServiceAddress, &ServicePortName)> {
        let mut out: Vec<(ServiceAddress, &ServicePortName)> = self
            .by_address
            .iter()
            .map(|((ip, port, protocol), name)| {
                let is_cluster_ip =
                    self.ports.get(name).and_then(|p| p.cluster_ip.as_deref()) == Some(ip.as_str());
                let address = if is_cluster_ip {
                    ServiceAddress::ClusterIp {
                        ip: ip.clone(),
                        port: *port,
                        protocol: *protocol,
                    }
                } else {
                    ServiceAddress::External {
                        ip: ip.clone(),
                        port: *port,
                        protocol: *protocol,
                    }
                };
                (address, name)
            })
            .collect();
        out.extend(self.by_node_port.iter().map(|((port, protocol), name)| {
            let address = ServiceAddress::NodePort {
                port: *port,
                protocol: *protocol,
            };
            (address, name)
        }));
        out.sort();
        out
    }

    /// Forgets which backend `client_ip` sticks to on `port`, so that the next
    /// [`choose`](Self::choose) picks afresh. A proxy calls it when it could not connect to
    /// the backend it was given and tries another (pkg/proxy/userspace/roundrobin.go
    /// `NextEndpoint` with `sessionAffinityReset`).
    pub fn reset_affinity(&mut self, port: &ServicePortName, client_ip: &str) {
        self.affinity.remove(&(port.clone(), client_ip.to_string()));
    }

    /// Where a new connection from `client_ip` to `ip`:`port`/`protocol` goes at `now`.
    pub fn route(
        &mut self,
        ip: &str,
        port: i32,
        protocol: Protocol,
        client_ip: &str,
        now: Time,
    ) -> Route {
        match self.lookup(ip, port, protocol).cloned() {
            Some(name) => self.choose(&name, client_ip, now),
            None => Route::NoService,
        }
    }

    /// Where a new connection from `client_ip` to a node's port `node_port`/`protocol` goes at
    /// `now`.
    pub fn route_node_port(
        &mut self,
        node_port: i32,
        protocol: Protocol,
        client_ip: &str,
        now: Time,
    ) -> Route {
        match self.lookup_node_port(node_port, protocol).cloned() {
            Some(name) => self.choose(&name, client_ip, now),
            None => Route::NoService,
        }
    }

    /// Picks a backend of `name` for `client_ip` at `now`.
    pub fn choose(&mut self, name: &ServicePortName, client_ip: &str, now: Time) -> Route {
        let usable: Vec<Backend> = self.usable_endpoints(name).into_iter().cloned().collect();
        if usable.is_empty() {
            return Route::NoEndpoints(name.clone());
        }
        let timeout = self.ports.get(name).and_then(|p| p.affinity_timeout);
        let affinity_key = (name.clone(), client_ip.to_string());
        if let Some(timeout) = timeout {
            // iptables `-m recent --rcheck --seconds <timeout> --reap`: the client's last
            // backend, if it was used within the timeout and is still usable.
            if let Some((backend, last)) = self.affinity.get(&affinity_key) {
                let fresh = now.saturating_duration_since(*last) < timeout;
                if fresh {
                    if let Some(b) = usable.iter().find(|b| b.ip == backend.ip) {
                        let b = b.clone();
                        self.affinity.insert(affinity_key, (b.clone(), now));
                        return Route::Backend(b);
                    }
                }
            }
        }
        let picked = match self.mode {
            BalanceMode::Random => usable[self.rng.random_range(0..usable.len())].clone(),
            BalanceMode::RoundRobin => {
                let i = self.next.entry(name.clone()).or_insert(0);
                let b = usable[*i % usable.len()].clone();
                *i = (*i + 1) % usable.len();
                b
            }
        };
        if timeout.is_some() {
            self.affinity.insert(affinity_key, (picked.clone(), now));
        }
        Route::Backend(picked)
    }
}

/// The first address [`LoadBalancerController`] hands out: 192.0.2.0/24 is TEST-NET-1
/// (RFC 5737), reserved for documentation, so it never clashes with a real network.
pub const LOAD_BALANCER_RANGE: &str = "192.0.2.0/24";

/// A stand-in for the cloud provider's service controller (pkg/controller/service,
/// "service-lb-controller"): it gives each `LoadBalancer` Service without a
/// `loadBalancerClass` an ingress IP from [`LOAD_BALANCER_RANGE`] — the requested
/// `loadBalancerIP` when it is in the range and free, else the lowest free address — and
/// clears the status of a Service that is no longer a `LoadBalancer`.
#[derive(Debug, Default)]
pub struct LoadBalancerController;

impl LoadBalancerController {
    /// A new controller.
    pub fn new() -> LoadBalancerController {
        LoadBalancerController
    }
}

fn lb_address(host: u8) -> String {
    format!("192.0.2.{host}")
}

impl Controller for LoadBalancerController {
    fn name(&self) -> &'static str {
        "service-lb-controller"
    }

    fn watched_kinds(&self) -> &'static [Kind] {
        &[Kind::Service]
    }

    fn keys_for_event(&self, event: &WatchEvent, _lookup: Lookup<'_>) -> Vec<ObjectKey> {
        if event.event_type == WatchEventType::Deleted {
            return Vec::new();
        }
        vec![ObjectKey::of(&event.object)]
    }

    fn reconcile(
        &mut self,
        key: &ObjectKey,
        ctx: &mut Context<'_>,
    ) -> Result<Action, ReconcileError> {
        let Some(object) = ctx.store.get(Kind::Service, &key.namespace, &key.name) else {
            return Ok(Action::await_change());
        };
        let Object::Service(svc) = &*object else {
            return Ok(Action::await_change());
        };
        // controller.go `wantsLoadBalancer`: type LoadBalancer and no other implementation's
        // class.
        let wants = svc.spec.r#type == ServiceType::LoadBalancer
            && svc.spec.load_balancer_class.is_none()
            && svc.metadata.deletion_timestamp.is_none();
        let has = !svc.status.load_balancer.ingress.is_empty();
        if !wants {
            if has && svc.spec.load_balancer_class.is_none() {
                // controller.go `syncLoadBalancerIfNeeded`: the load balancer is deleted and
                // the status cleared.
                let mut fresh = svc.clone();
                fresh.status.load_balancer.ingress.clear();
                ctx.store.update_status(fresh.into(), ctx.now)?;
                ctx.normal(key, "DeletedLoadBalancer", "Deleted load balancer".into());
            }
            return Ok(Action::await_change());
        }
        if has {
            return Ok(Action::await_change());
        }
        ctx.normal(key, "EnsuringLoadBalancer", "Ensuring load balancer".into());
        let used: BTreeSet<String> = ctx
            .store
            .iter_kind(Kind::Service)
            .filter_map(|o| match &**o {
                Object::Service(s) => Some(s.status.load_balancer.ingress.clone()),
                _ => None,
            })
            .flatten()
            .filter_map(|i| i.ip)
            .collect();
        let requested = svc
            .spec
            .load_balancer_ip
            .clone()
            .filter(|ip| {
                ip.strip_prefix("192.0.2.")
                    .and_then(|h| h.parse::<u8>().ok())
                    .is_some_and(|h| (1..=254).contains(&h))
            })
            .filter(|ip| !used.contains(ip));
        let ip = requested.or_else(|| (1..=254).map(lb_address).find(|ip| !used.contains(ip)));
        let Some(ip) = ip else {
            ctx.warning(
                key,
                "SyncLoadBalancerFailed",
                format!(
                    "Error syncing load balancer: failed to ensure load balancer: no free address in {LOAD_BALANCER_RANGE}"
                ),
            );
            return Ok(Action::await_change());
        };
        let mut fresh = svc.clone();
        fresh.status.load_balancer.ingress = vec![LoadBalancerIngress {
            ip: Some(ip),
            ip_mode: Some(LoadBalancerIpMode::Vip),
            ..Default::default()
        }];
        ctx.store.update_status(fresh.into(), ctx.now)?;
        ctx.normal(key, "EnsuredLoadBalancer", "Ensured load balancer".into());
        Ok(Action::await_change())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use flotilla_model::api::{
        Endpoint, EndpointConditions, EndpointPort, ServicePort, LABEL_SERVICE_NAME,
    };
    use flotilla_model::ObjectMeta;

    fn service(name: &str, ip: &str, affinity: bool) -> Service {
        let mut s = Service {
            metadata: ObjectMeta::named("default", name),
            ..Default::default()
        };
        s.spec.cluster_ip = Some(ip.into());
        s.spec.ports = vec![ServicePort {
            name: Some("http".into()),
            port: 80,
            node_port: Some(30080),
            ..Default::default()
        }];
        if affinity {
            s.spec.session_affinity = ServiceAffinity::ClientIP;
        }
        s
    }

    fn slice(service: &str, eps: &[(&str, bool, bool, bool)]) -> EndpointSlice {
        let mut meta = ObjectMeta::named("default", &format!("{service}-abcde"));
        meta.labels
            .insert(LABEL_SERVICE_NAME.into(), service.into());
        EndpointSlice {
            metadata: meta,
            address_type: Some(flotilla_model::api::AddressType::IPv4),
            ports: vec![EndpointPort {
                name: Some("http".into()),
                protocol: Some(Protocol::Tcp),
                port: Some(8080),
                app_protocol: None,
            }],
            endpoints: eps
                .iter()
                .map(|(ip, ready, serving, terminating)| Endpoint {
                    addresses: vec![ip.to_string()],
                    conditions: EndpointConditions {
                        ready: Some(*ready),
                        serving: Some(*serving),
                        terminating: Some(*terminating),
                    },
                    ..Default::default()
                })
                .collect(),
        }
    }

    fn event(object: Object, event_type: WatchEventType) -> WatchEvent {
        WatchEvent {
            event_type,
            object: Arc::new(object),
            resource_version: 1,
        }
    }

    fn table(svc: Service, slice: EndpointSlice, mode: BalanceMode) -> ProxyTable {
        let mut t = ProxyTable::new(7, mode);
        t.handle_event(&event(svc.into(), WatchEventType::Added));
        t.handle_event(&event(slice.into(), WatchEventType::Added));
        t
    }

    fn backend(r: Route) -> String {
        match r {
            Route::Backend(b) => format!("{}:{}", b.ip, b.port),
            other => format!("{other:?}"),
        }
    }

    #[test]
    fn random_choice_spreads_over_ready_endpoints_only() {
        let eps = [
            ("10.0.0.1", true, true, false),
            ("10.0.0.2", true, true, false),
            ("10.0.0.3", false, false, false),
            ("10.0.0.4", true, true, false),
        ];
        let mut t = table(
            service("web", "10.96.0.12", false),
            slice("web", &eps),
            BalanceMode::Random,
        );
        let mut counts: BTreeMap<String, usize> = BTreeMap::new();
        for i in 0..300 {
            let r = t.route(
                "10.96.0.12",
                80,
                Protocol::Tcp,
                &format!("10.1.0.{i}"),
                Time::ZERO,
            );
            *counts.entry(backend(r)).or_default() += 1;
        }
        assert_eq!(counts.len(), 3, "{counts:?}");
        assert!(!counts.contains_key("10.0.0.3:8080"));
        assert!(counts.values().all(|&c| c > 60), "{counts:?}");
        assert_eq!(
            t.route("10.96.0.12", 81, Protocol::Tcp, "c", Time::ZERO),
            Route::NoService
        );
        assert!(matches!(
            t.route_node_port(30080, Protocol::Tcp, "c", Time::ZERO),
            Route::Backend(b) if b.ip != "10.0.0.3"
        ));
        assert_eq!(
            t.route_node_port(30081, Protocol::Tcp, "c", Time::ZERO),
            Route::NoService
        );
    }

    #[test]
    fn round_robin_takes_turns() {
        let eps = [
            ("10.0.0.2", true, true, false),
            ("10.0.0.1", true, true, false),
        ];
        let mut t = table(
            service("web", "10.96.0.12", false),
            slice("web", &eps),
            BalanceMode::RoundRobin,
        );
        let picks: Vec<String> = (0..4)
            .map(|_| backend(t.route("10.96.0.12", 80, Protocol::Tcp, "c", Time::ZERO)))
            .collect();
        assert_eq!(
            picks,
            [
                "10.0.0.1:8080",
                "10.0.0.2:8080",
                "10.0.0.1:8080",
                "10.0.0.2:8080"
            ]
        );
    }

    #[test]
    fn client_ip_affinity_sticks_until_idle_for_the_timeout() {
        let eps = [
            ("10.0.0.1", true, true, false),
            ("10.0.0.2", true, true, false),
            ("10.0.0.3", true, true, false),
        ];
        let mut t = table(
            service("web", "10.96.0.12", true),
            slice("web", &eps),
            BalanceMode::Random,
        );
        let first = backend(t.route("10.96.0.12", 80, Protocol::Tcp, "1.2.3.4", Time::ZERO));
        for i in 1..50 {
            let now = Time::from_secs(i * 100);
            assert_eq!(
                backend(t.route("10.96.0.12", 80, Protocol::Tcp, "1.2.3.4", now)),
                first
            );
        }
        // Idle for more than 10800 s: a fresh choice, which over many clients is not always
        // the same.
        let mut changed = false;
        for c in 0..20 {
            let client = format!("1.2.3.{}", 10 + c);
            let a = backend(t.route("10.96.0.12", 80, Protocol::Tcp, &client, Time::ZERO));
            let b = backend(t.route(
                "10.96.0.12",
                80,
                Protocol::Tcp,
                &client,
                Time::from_secs(10_801),
            ));
            changed |= a != b;
        }
        assert!(changed, "the affinity expired for some client");
    }

    #[test]
    fn affinity_moves_when_the_backend_stops_being_ready() {
        let eps = [
            ("10.0.0.1", true, true, false),
            ("10.0.0.2", true, true, false),
        ];
        let mut t = table(
            service("web", "10.96.0.12", true),
            slice("web", &eps),
            BalanceMode::Random,
        );
        let first = backend(t.route("10.96.0.12", 80, Protocol::Tcp, "c", Time::ZERO));
        let flipped: Vec<(&str, bool, bool, bool)> = eps
            .iter()
            .map(|&(ip, _, _, _)| {
                let ready = format!("{ip}:8080") != first;
                (ip, ready, ready, false)
            })
            .collect();
        t.handle_event(&event(
            slice("web", &flipped).into(),
            WatchEventType::Modified,
        ));
        assert_ne!(
            backend(t.route("10.96.0.12", 80, Protocol::Tcp, "c", Time::ZERO)),
            first
        );
    }

    #[test]
    fn terminating_serving_endpoints_are_a_fallback_and_none_rejects() {
        let eps = [
            ("10.0.0.1", false, true, true),
            ("10.0.0.2", false, false, true),
        ];
        let mut t = table(
            service("web", "10.96.0.12", false),
            slice("web", &eps),
            BalanceMode::Random,
        );
        for _ in 0..10 {
            assert_eq!(
                backend(t.route("10.96.0.12", 80, Protocol::Tcp, "c", Time::ZERO)),
                "10.0.0.1:8080"
            );
        }
        // A ready endpoint wins over serving terminating ones.
        let eps = [
            ("10.0.0.1", false, true, true),
            ("10.0.0.3", true, true, false),
        ];
        t.handle_event(&event(slice("web", &eps).into(), WatchEventType::Modified));
        for _ in 0..10 {
            assert_eq!(
                backend(t.route("10.96.0.12", 80, Protocol::Tcp, "c", Time::ZERO)),
                "10.0.0.3:8080"
            );
        }
        t.handle_event(&event(slice("web", &eps).into(), WatchEventType::Deleted));
        let name = t.lookup("10.96.0.12", 80, Protocol::Tcp).unwrap().clone();
        assert_eq!(
            t.route("10.96.0.12", 80, Protocol::Tcp, "c", Time::ZERO),
            Route::NoEndpoints(name)
        );
        t.handle_event(&event(
            service("web", "10.96.0.12", false).into(),
            WatchEventType::Deleted,
        ));
        assert_eq!(
            t.route("10.96.0.12", 80, Protocol::Tcp, "c", Time::ZERO),
            Route::NoService
        );
    }

    #[test]
    fn service_addresses_list_cluster_ip_external_ip_and_node_port() {
        let mut svc = service("web", "10.96.0.12", true);
        svc.spec.external_ips = vec!["203.0.113.7".into()];
        let mut t = table(
            svc,
            slice(
                "web",
                &[
                    ("10.0.0.1", true, true, false),
                    ("10.0.0.2", true, true, false),
                ],
            ),
            BalanceMode::RoundRobin,
        );
        let name = t.lookup("10.96.0.12", 80, Protocol::Tcp).unwrap().clone();
        let listed: Vec<(ServiceAddress, ServicePortName)> = t
            .service_addresses()
            .into_iter()
            .map(|(a, n)| (a, n.clone()))
            .collect();
        assert_eq!(
            listed,
            [
                (
                    ServiceAddress::ClusterIp {
                        ip: "10.96.0.12".into(),
                        port: 80,
                        protocol: Protocol::Tcp
                    },
                    name.clone()
                ),
                (
                    ServiceAddress::External {
                        ip: "203.0.113.7".into(),
                        port: 80,
                        protocol: Protocol::Tcp
                    },
                    name.clone()
                ),
                (
                    ServiceAddress::NodePort {
                        port: 30080,
                        protocol: Protocol::Tcp
                    },
                    name.clone()
                ),
            ]
        );
        // Resetting the affinity lets the next choice move on (round-robin's next backend).
        let first = backend(t.choose(&name, "c", Time::ZERO));
        assert_eq!(backend(t.choose(&name, "c", Time::ZERO)), first);
        t.reset_affinity(&name, "c");
        let second = backend(t.choose(&name, "c", Time::ZERO));
        assert_ne!(second, first);
        assert_eq!(backend(t.choose(&name, "c", Time::ZERO)), second);
        // Deleting the Service removes its addresses.
        t.handle_event(&event(
            service("web", "10.96.0.12", true).into(),
            WatchEventType::Deleted,
        ));
        assert!(t.service_addresses().is_empty());
    }

    #[test]
    fn headless_and_external_name_services_are_not_proxied() {
        let mut h = service("db", "None", false);
        h.spec.cluster_ips = vec!["None".into()];
        let t = table(
            h,
            slice("db", &[("10.0.0.1", true, true, false)]),
            BalanceMode::Random,
        );
        assert_eq!(t.service_ports().count(), 0);
    }

    #[test]
    fn load_balancers_get_addresses_in_order_and_lose_them_with_the_type() {
        use crate::testing::Harness;
        let mut h = Harness::new(vec![Box::new(LoadBalancerController::new())]);
        let lb = |name: &str| {
            let yaml = format!(
                "apiVersion: v1\nkind: Service\nmetadata: {{name: {name}}}\nspec:\n  type: LoadBalancer\n  selector: {{app: web}}\n  ports: [{{port: 80}}]\n"
            );
            flotilla_model::manifest::parse_str("s.yaml", &yaml)
                .unwrap()
                .objects
                .remove(0)
                .object
        };
        h.apply(lb("a")).unwrap();
        h.apply(lb("b")).unwrap();
        let ingress = |h: &Harness, name: &str| match h
            .store
            .get(Kind::Service, "default", name)
            .as_deref()
        {
            Some(Object::Service(s)) => s
                .status
                .load_balancer
                .ingress
                .iter()
                .filter_map(|i| i.ip.clone())
                .collect::<Vec<_>>(),
            _ => Vec::new(),
        };
        assert_eq!(ingress(&h, "a"), ["192.0.2.1"]);
        assert_eq!(ingress(&h, "b"), ["192.0.2.2"]);
        let reasons: Vec<String> = h.recorder.events().map(|e| e.reason.clone()).collect();
        assert!(
            reasons.contains(&"EnsuredLoadBalancer".to_string()),
            "{reasons:?}"
        );
        // The proxy routes the load balancer address too.
        let mut table = ProxyTable::from_store(&h.store, 1, BalanceMode::Random);
        assert!(table.lookup("192.0.2.1", 80, Protocol::Tcp).is_some());
        assert!(matches!(
            table.route("192.0.2.2", 80, Protocol::Tcp, "c", Time::ZERO),
            Route::NoEndpoints(_)
        ));
    }
}
