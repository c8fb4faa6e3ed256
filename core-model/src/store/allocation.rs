//! Cluster IP and node port allocation for Services: the API server registry's allocators
//! (pkg/registry/core/service/ipallocator, portallocator, and storage/alloc.go, v1.34) as one
//! value inside the [`Store`](super::Store).
//!
//! - A Service of any type but `ExternalName` gets a cluster IP from the service CIDR
//!   ([`StoreConfig::service_cluster_ip_range`](super::StoreConfig), `10.96.0.0/12` by default)
//!   when it is created without one; a requested `clusterIP` is taken if it is free and in
//!   range, or the create is refused with the API server's message
//!   (`spec.clusterIPs: Invalid value: []string{"10.96.0.10"}: failed to allocate IP 10.96.0.10:
//!   provided IP is already allocated`). A headless Service (`clusterIP: None`) gets none.
//!   The network and broadcast addresses are never handed out, and dynamic allocation never
//!   hands out the first address ([`KUBERNETES_SERVICE_IP`], the `kubernetes` Service's).
//! - Each port of a `NodePort` Service (and of a `LoadBalancer` Service unless
//!   `allocateLoadBalancerNodePorts: false`) gets a node port from
//!   [`StoreConfig::service_node_port_range`](super::StoreConfig) (30000–32767), ports with the
//!   same number sharing one (TCP and UDP 53, say); a requested `nodePort` is taken or refused
//!   (`spec.ports[0].nodePort: Invalid value: 30080: provided port is already allocated`). A
//!   `LoadBalancer` Service with `externalTrafficPolicy: Local` also gets a health-check node
//!   port.
//! - Everything is released when the Service is removed, node ports when an update drops them
//!   or changes the type to one that has none, cluster IPs when the type becomes
//!   `ExternalName`.
//!
//! Dynamic allocation follows Kubernetes' "random scan with offset" (bitmap.go
//! `randomScanStrategyWithOffset`): a random start in the upper part of the range, scanning
//! forward, and only when that part is full the lower part, which is left for static requests
//! (its size is `calculateRangeOffset`: `min(max(16, size/16), 256)` addresses,
//! `min(max(16, size/32), 128)` ports). The random starts come from the allocator's own seeded
//! streams (`service-ip-allocator`, `service-node-port-allocator`), so Service allocation never
//! shifts the uids and generated names of other objects, and the same seed gives the same IPs.
//!
//! IPv4 only: dual-stack and IPv6 service CIDRs are not modelled.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::net::Ipv4Addr;
use std::ops::RangeInclusive;
use std::str::FromStr;

use rand::Rng;
use rand_chacha::ChaCha8Rng;

use crate::api::service::{IpFamily, IpFamilyPolicy, Service, ServiceSpec, ServiceType};
use crate::api::SERVICE_NODE_PORT_RANGE;
use crate::rng::component_rng;
use crate::validation::{ErrorList, FieldError, FieldPath};

/// The API server's default `--service-cluster-ip-range`.
pub const DEFAULT_SERVICE_CLUSTER_IP_RANGE: &str = "10.96.0.0/12";

/// The cluster IP of the `kubernetes` Service in the default service CIDR: its first address.
pub const KUBERNETES_SERVICE_IP: &str = "10.96.0.1";

/// An IPv4 network in CIDR notation (`10.96.0.0/12`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Ipv4Cidr {
    network: u32,
    prefix_len: u8,
}

impl Ipv4Cidr {
    /// The network of `addr` with a `prefix_len`-bit prefix (host bits are cleared);
    /// `None` when `prefix_len` is over 32.
    pub fn new(addr: Ipv4Addr, prefix_len: u8) -> Option<Ipv4Cidr> {
        if prefix_len > 32 {
            return None;
        }
        let mask = if prefix_len == 0 {
            0
        } else {
            u32::MAX << (32 - u32::from(prefix_len))
        };
        Some(Ipv4Cidr {
            network: u32::from(addr) & mask,
            prefix_len,
        })
    }

    /// The network address.
    pub fn network(&self) -> Ipv4Addr {
        Ipv4Addr::from(self.network)
    }

    /// The prefix length.
    pub fn prefix_len(&self) -> u8 {
        self.prefix_len
    }

    /// How many addresses the network spans (netutils `RangeSize`).
    pub fn size(&self) -> u64 {
        1u64 << (32 - u32::from(self.prefix_len))
    }

    /// Whether `ip` is in the network.
    pub fn contains(&self, ip: Ipv4Addr) -> bool {
        u64::from(u32::from(ip)).wrapping_sub(u64::from(self.network)) < self.size()
    }

    /// The first usable address (the network address plus one), as the `kubernetes` Service
    /// gets it.
    pub fn first_host(&self) -> Ipv4Addr {
        Ipv4Addr::from(self.network.wrapping_add(1))
    }
}

impl Default for Ipv4Cidr {
    fn default() -> Self {
        Ipv4Cidr {
            network: u32::from(Ipv4Addr::new(10, 96, 0, 0)),
            prefix_len: 12,
        }
    }
}

impl fmt::Display for Ipv4Cidr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.network(), self.prefix_len)
    }
}

impl FromStr for Ipv4Cidr {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let (addr, len) = s
            .split_once('/')
            .ok_or_else(|| format!("invalid CIDR address: {s}"))?;
        let addr: Ipv4Addr = addr
            .parse()
            .map_err(|_| format!("invalid CIDR address: {s}"))?;
        let len: u8 = len
            .parse()
            .map_err(|_| format!("invalid CIDR address: {s}"))?;
        Ipv4Cidr::new(addr, len).ok_or_else(|| format!("invalid CIDR address: {s}"))
    }
}

/// Prints a list of strings as Go's `%#v` prints a `[]string`, as field errors quote them.
struct GoStrings<'a>(&'a [String]);

impl fmt::Debug for GoStrings<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[]string{")?;
        for (i, s) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str(", ")?;
            }
            write!(f, "{s:?}")?;
        }
        f.write_str("}")
    }
}

/// Why an allocation failed.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum AllocationError {
    /// A field error (a requested IP or port taken or out of range).
    Invalid(ErrorList),
    /// The range is full (the API server answers with an internal error).
    Internal(String),
}

/// `min(max(min, size/step), max)`, 0 for ranges of `min` or fewer (ipallocator and
/// portallocator `calculateRangeOffset`).
fn range_offset(size: u64, min: u64, max: u64, step: u64) -> u64 {
    if size <= min {
        return 0;
    }
    (size / step).clamp(min, max)
}

/// The Service allocators. See the [module docs](self).
#[derive(Clone, Debug)]
pub(crate) struct ServiceAllocator {
    cidr: Ipv4Cidr,
    /// Allocated addresses, as offsets from the first host address.
    ips: BTreeSet<u64>,
    node_port_range: RangeInclusive<i32>,
    node_ports: BTreeSet<i32>,
    ip_rng: ChaCha8Rng,
    port_rng: ChaCha8Rng,
}

impl ServiceAllocator {
    /// Empty allocators for `cidr` and `node_port_range`, seeded with `seed`.
    pub fn new(cidr: Ipv4Cidr, node_port_range: RangeInclusive<i32>, seed: u64) -> Self {
        ServiceAllocator {
            cidr,
            ips: BTreeSet::new(),
            node_port_range,
            node_ports: BTreeSet::new(),
            ip_rng: component_rng(seed, "service-ip-allocator"),
            port_rng: component_rng(seed, "service-node-port-allocator"),
        }
    }

    /// How many addresses can be handed out: all but the network and broadcast addresses
    /// (ipallocator `NewInMemory`: `max = RangeSize - 2` for IPv4 ranges larger than /31).
    fn ip_max(&self) -> u64 {
        let size = self.cidr.size();
        if size > 2 {
            size - 2
        } else {
            size
        }
    }

    fn ip_offset(&self, ip: Ipv4Addr) -> Option<u64> {
        if !self.cidr.contains(ip) {
            return None;
        }
        let base = u64::from(self.cidr.first_host().to_bits());
        let offset = u64::from(ip.to_bits()).checked_sub(base)?;
        (offset < self.ip_max()).then_some(offset)
    }

    fn ip_at(&self, offset: u64) -> Ipv4Addr {
        // The offset is below ip_max, so it fits in the network.
        Ipv4Addr::from(u32::from(self.cidr.first_host()).wrapping_add(offset as u32))
    }

    /// ipallocator `Allocate`: takes a requested address.
    fn allocate_ip(&mut self, ip: &str) -> Result<(), String> {
        let parsed: Ipv4Addr = ip
            .parse()
            .map_err(|_| format!("the provided IP ({ip}) is not a valid IP"))?;
        let Some(offset) = self.ip_offset(parsed) else {
            return Err(format!(
                "the provided IP ({ip}) is not in the valid range. The range of valid IPs is {}",
                self.cidr
            ));
        };
        if !self.ips.insert(offset) {
            return Err("provided IP is already allocated".into());
        }
        Ok(())
    }

    /// ipallocator `AllocateNext` with the random scan with offset; never the first address,
    /// which the `kubernetes` Service takes by request.
    fn allocate_next_ip(&mut self) -> Option<Ipv4Addr> {
        let max = self.ip_max();
        let offset = range_offset(self.cidr.size(), 16, 256, 16).min(max);
        let reserved = |o: u64| o == 0;
        let pick = scan(&mut self.ip_rng, &self.ips, offset..max, reserved)
            .or_else(|| scan(&mut self.ip_rng, &self.ips, 0..offset, reserved))?;
        self.ips.insert(pick);
        Some(self.ip_at(pick))
    }

    fn release_ip(&mut self, ip: &str) {
        if let Some(offset) = ip.parse().ok().and_then(|ip| self.ip_offset(ip)) {
            self.ips.remove(&offset);
        }
    }

    /// Whether `ip` is allocated.
    #[cfg(test)]
    pub fn has_ip(&self, ip: &str) -> bool {
        ip.parse()
            .ok()
            .and_then(|ip| self.ip_offset(ip))
            .is_some_and(|o| self.ips.contains(&o))
    }

    /// Whether node port `port` is allocated.
    #[cfg(test)]
    pub fn has_node_port(&self, port: i32) -> bool {
        self.node_ports.contains(&port)
    }

    /// portallocator `Allocate`.
    fn allocate_port(&mut self, port: i32) -> Result<(), String> {
        if !self.node_port_range.contains(&port) {
            return Err(format!(
                "provided port is not in the valid range. The range of valid ports is {}-{}",
                self.node_port_range.start(),
                self.node_port_range.end()
            ));
        }
        if !self.node_ports.insert(port) {
            return Err("provided port is already allocated".into());
        }
        Ok(())
    }

    /// portallocator `AllocateNext` with the random scan with offset.
    fn allocate_next_port(&mut self) -> Result<i32, AllocationError> {
        let base = *self.node_port_range.start();
        let size = u64::try_from(i64::from(*self.node_port_range.end()) - i64::from(base) + 1)
            .unwrap_or(0);
        let offset = range_offset(size, 16, 128, 32);
        let used: BTreeSet<u64> = self
            .node_ports
            .iter()
            .filter_map(|p| u64::try_from(i64::from(*p) - i64::from(base)).ok())
            .collect();
        let none = |_: u64| false;
        let pick = scan(&mut self.port_rng, &used, offset..size, none)
            .or_else(|| scan(&mut self.port_rng, &used, 0..offset, none))
            .ok_or_else(|| {
                AllocationError::Internal(
                    "Internal error occurred: failed to allocate a nodePort: range is full".into(),
                )
            })?;
        let port = base + pick as i32;
        self.node_ports.insert(port);
        Ok(port)
    }

    /// Allocates what a new Service needs and writes it into its spec (alloc.go
    /// `allocateCreate`: `initIPFamilyFields`, `allocClusterIPs`, `initNodePorts`,
    /// `allocHealthCheckNodePort`). On error nothing is kept; the caller works on a copy.
    pub fn allocate_create(&mut self, svc: &mut Service) -> Result<(), AllocationError> {
        if svc.spec.needs_cluster_ip() {
            self.allocate_cluster_ips(svc)?;
        }
        if svc.spec.externally_accessible() || has_node_ports(&svc.spec) {
            self.init_node_ports(svc)?;
        }
        self.allocate_health_check_port(svc)?;
        Ok(())
    }

    /// Allocates and releases what an update from `old` to `svc` changes (alloc.go
    /// `allocateUpdate` and `releaseAllocatedResources` for what the update drops).
    pub fn allocate_update(
        &mut self,
        old: &Service,
        svc: &mut Service,
    ) -> Result<(), AllocationError> {
        let (was, is) = (old.spec.needs_cluster_ip(), svc.spec.needs_cluster_ip());
        if !was && is {
            self.allocate_cluster_ips(svc)?;
        } else if was && !is {
            for ip in &old.spec.cluster_ips {
                self.release_ip(ip);
            }
        }
        if svc.spec.needs_node_ports() || has_node_ports(&svc.spec) {
            self.update_node_ports(old, svc)?;
        } else {
            for port in node_port_numbers(&old.spec) {
                self.node_ports.remove(&port);
            }
        }
        let old_hc = old.spec.health_check_node_port.filter(|&p| p != 0);
        let new_hc = svc.spec.health_check_node_port.filter(|&p| p != 0);
        if old_hc.is_some() && (!svc.spec.needs_health_check() || new_hc != old_hc) {
            if let Some(p) = old_hc {
                if !node_port_numbers(&svc.spec).contains(&p) {
                    self.node_ports.remove(&p);
                }
            }
        }
        if new_hc != old_hc || old_hc.is_none() {
            self.allocate_health_check_port(svc)?;
        }
        Ok(())
    }

    /// Releases everything `svc` holds (alloc.go `releaseAllocatedResources`).
    pub fn release(&mut self, svc: &Service) {
        for ip in &svc.spec.cluster_ips {
            self.release_ip(ip);
        }
        for port in node_port_numbers(&svc.spec) {
            self.node_ports.remove(&port);
        }
        if let Some(p) = svc.spec.health_check_node_port.filter(|&p| p != 0) {
            self.node_ports.remove(&p);
        }
    }

    /// Marks what a stored Service holds as allocated, when the allocators are rebuilt from
    /// the stored Services after a restore (ipallocator/controller/repair.go and
    /// portallocator/controller/repair.go `doRunOnce`: every Service's cluster IPs and node
    /// ports are taken into a fresh allocator). As the repair loops do, an address or port out
    /// of range or held by two Services is left as it is rather than refused: the Service is
    /// already stored.
    pub fn mark_allocated(&mut self, svc: &Service) {
        for ip in &svc.spec.cluster_ips {
            if let Some(offset) = ip.parse().ok().and_then(|ip| self.ip_offset(ip)) {
                self.ips.insert(offset);
            }
        }
        let health_check = svc.spec.health_check_node_port.filter(|&p| p != 0);
        for port in node_port_numbers(&svc.spec).into_iter().chain(health_check) {
            if self.node_port_range.contains(&port) {
                self.node_ports.insert(port);
            }
        }
    }

    /// alloc.go `allocClusterIPs`: the requested IP, or the next free one; none for a
    /// headless Service. Sets the single-stack IPv4 family fields (`initIPFamilyFields`).
    fn allocate_cluster_ips(&mut self, svc: &mut Service) -> Result<(), AllocationError> {
        let spec = &mut svc.spec;
        if spec.ip_families.is_empty() {
            spec.ip_families = vec![IpFamily::IPv4];
        }
        if spec.ip_family_policy.is_none() {
            spec.ip_family_policy = Some(IpFamilyPolicy::SingleStack);
        }
        if spec.is_headless() {
            return Ok(());
        }
        let requested = spec
            .cluster_ips
            .first()
            .cloned()
            .or_else(|| spec.cluster_ip.clone().filter(|ip| !ip.is_empty()));
        match requested {
            Some(ip) => {
                self.allocate_ip(&ip).map_err(|e| {
                    let ips = if spec.cluster_ips.is_empty() {
                        vec![ip.clone()]
                    } else {
                        spec.cluster_ips.clone()
                    };
                    AllocationError::Invalid(vec![FieldError::invalid(
                        &FieldPath::new("spec").child("clusterIPs"),
                        GoStrings(&ips),
                        format!("failed to allocate IP {ip}: {e}"),
                    )])
                })?;
                spec.cluster_ip = Some(ip.clone());
                spec.cluster_ips = vec![ip];
            }
            None => {
                let ip = self.allocate_next_ip().ok_or_else(|| {
                    AllocationError::Internal(
                        "Internal error occurred: failed to allocate a serviceIP: range is full"
                            .into(),
                    )
                })?;
                spec.cluster_ip = Some(ip.to_string());
                spec.cluster_ips = vec![ip.to_string()];
            }
        }
        Ok(())
    }

    /// alloc.go `initNodePorts`: ports with the same number share a node port; a requested
    /// one is taken, or the create fails.
    fn init_node_ports(&mut self, svc: &mut Service) -> Result<(), AllocationError> {
        let allocate = svc.spec.needs_node_ports();
        let ports = svc.spec.ports.clone();
        let mut by_port: BTreeMap<i32, i32> = BTreeMap::new();
        let mut taken: BTreeSet<i32> = BTreeSet::new();
        for (i, port) in ports.iter().enumerate() {
            let requested = port.node_port();
            if requested.is_none() && !allocate {
                continue;
            }
            let node_port = match (by_port.get(&port.port).copied(), requested) {
                (Some(shared), None) => shared,
                (Some(shared), Some(n)) if n == shared => n,
                (_, Some(n)) => {
                    if !taken.contains(&n) {
                        self.allocate_port(n)
                            .map_err(|e| node_port_error(i, n, e))?;
                        taken.insert(n);
                    }
                    n
                }
                (None, None) => {
                    // findRequestedNodePort: a later port with the same number may name one.
                    let later = ports
                        .iter()
                        .filter(|p| p.port == port.port)
                        .find_map(|p| p.node_port());
                    match later {
                        Some(n) => {
                            if !taken.contains(&n) {
                                self.allocate_port(n)
                                    .map_err(|e| node_port_error(i, n, e))?;
                                taken.insert(n);
                            }
                            n
                        }
                        None => {
                            let n = self.allocate_next_port()?;
                            taken.insert(n);
                            n
                        }
                    }
                }
            };
            by_port.entry(port.port).or_insert(node_port);
            svc.spec.ports[i].node_port = Some(node_port);
        }
        Ok(())
    }

    /// alloc.go `updateNodePorts`: new requests are taken, missing ones allocated, and the
    /// node ports the update dropped released.
    fn update_node_ports(
        &mut self,
        old: &Service,
        svc: &mut Service,
    ) -> Result<(), AllocationError> {
        let old_ports = node_port_numbers(&old.spec);
        let allocate = svc.spec.needs_node_ports();
        let mut allocated = BTreeSet::new();
        for i in 0..svc.spec.ports.len() {
            let requested = svc.spec.ports[i].node_port();
            match requested {
                None if !allocate => continue,
                Some(n) => {
                    if !old_ports.contains(&n) && !allocated.contains(&n) {
                        self.allocate_port(n)
                            .map_err(|e| node_port_error(i, n, e))?;
                        allocated.insert(n);
                    }
                }
                None => {
                    let n = self.allocate_next_port()?;
                    allocated.insert(n);
                    svc.spec.ports[i].node_port = Some(n);
                }
            }
        }
        let new_ports = node_port_numbers(&svc.spec);
        for port in old_ports {
            if !new_ports.contains(&port) {
                self.node_ports.remove(&port);
            }
        }
        Ok(())
    }

    /// alloc.go `allocHealthCheckNodePort`: a `LoadBalancer` Service with
    /// `externalTrafficPolicy: Local` gets a health-check node port.
    fn allocate_health_check_port(&mut self, svc: &mut Service) -> Result<(), AllocationError> {
        if !svc.spec.needs_health_check() {
            return Ok(());
        }
        match svc.spec.health_check_node_port.filter(|&p| p != 0) {
            Some(p) => {
                if self.node_ports.contains(&p) {
                    return Err(AllocationError::Invalid(vec![FieldError::invalid(
                        &FieldPath::new("spec").child("healthCheckNodePort"),
                        p,
                        format!("failed to allocate requested HealthCheck NodePort {p}: provided port is already allocated"),
                    )]));
                }
                self.allocate_port(p).map_err(|e| {
                    AllocationError::Invalid(vec![FieldError::invalid(
                        &FieldPath::new("spec").child("healthCheckNodePort"),
                        p,
                        format!("failed to allocate requested HealthCheck NodePort {p}: {e}"),
                    )])
                })?;
            }
            None => {
                let p = self.allocate_next_port()?;
                svc.spec.health_check_node_port = Some(p);
            }
        }
        Ok(())
    }

    /// How many addresses are allocated.
    #[cfg(test)]
    pub fn used_ips(&self) -> usize {
        self.ips.len()
    }
}

fn node_port_error(i: usize, port: i32, detail: String) -> AllocationError {
    AllocationError::Invalid(vec![FieldError::invalid(
        &FieldPath::new("spec")
            .child("ports")
            .index(i)
            .child("nodePort"),
        port,
        detail,
    )])
}

fn has_node_ports(spec: &ServiceSpec) -> bool {
    spec.ports.iter().any(|p| p.node_port().is_some())
        && matches!(
            spec.r#type,
            ServiceType::NodePort | ServiceType::LoadBalancer
        )
}

/// The distinct node ports of a spec (alloc.go `collectServiceNodePorts`).
fn node_port_numbers(spec: &ServiceSpec) -> BTreeSet<i32> {
    spec.ports.iter().filter_map(|p| p.node_port()).collect()
}

/// bitmap.go `randomScanStrategyWithOffset.AllocateBit` over `range`: a random start, then
/// forward with wrap-around, skipping `used` and `reserved` offsets.
fn scan(
    rng: &mut ChaCha8Rng,
    used: &BTreeSet<u64>,
    range: std::ops::Range<u64>,
    reserved: impl Fn(u64) -> bool,
) -> Option<u64> {
    let len = range.end.checked_sub(range.start)?;
    if len == 0 {
        return None;
    }
    let start = rng.random_range(0..len);
    (0..len)
        .map(|i| range.start + (start + i) % len)
        .find(|o| !used.contains(o) && !reserved(*o))
}

/// The default node-port range, for [`StoreConfig`](super::StoreConfig).
pub fn default_node_port_range() -> RangeInclusive<i32> {
    SERVICE_NODE_PORT_RANGE
}

/// The `kubernetes` Service the API server keeps in `default` (controlplane/controller/
/// kubernetesservice): the first address of `cidr`, port `https` 443 to the API server's 6443,
/// no selector (its endpoints are the API servers).
pub fn kubernetes_service(cidr: Ipv4Cidr) -> Service {
    use crate::api::service::ServicePort;
    use crate::meta::{IntOrString, ObjectMeta};
    let ip = cidr.first_host().to_string();
    let mut metadata = ObjectMeta::named(super::DEFAULT_NAMESPACE, "kubernetes");
    metadata
        .labels
        .insert("component".into(), "apiserver".into());
    metadata
        .labels
        .insert("provider".into(), "kubernetes".into());
    Service {
        metadata,
        spec: ServiceSpec {
            ports: vec![ServicePort {
                name: Some("https".into()),
                port: 443,
                target_port: Some(IntOrString::Int(6443)),
                ..Default::default()
            }],
            cluster_ip: Some(ip.clone()),
            cluster_ips: vec![ip],
            ..Default::default()
        },
        ..Default::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::service::ServicePort;
    use crate::meta::ObjectMeta;
    use crate::validation::SetDefaults;

    fn svc(name: &str, r#type: ServiceType, ports: &[(i32, Option<i32>)]) -> Service {
        let mut s = Service {
            metadata: ObjectMeta::named("default", name),
            ..Default::default()
        };
        s.spec.r#type = r#type;
        s.spec.ports = ports
            .iter()
            .enumerate()
            .map(|(i, (port, node_port))| ServicePort {
                name: Some(format!("p{i}")),
                port: *port,
                node_port: *node_port,
                ..Default::default()
            })
            .collect();
        s.set_defaults();
        s
    }

    fn allocator() -> ServiceAllocator {
        ServiceAllocator::new(Ipv4Cidr::default(), SERVICE_NODE_PORT_RANGE, 1)
    }

    fn text(e: AllocationError) -> String {
        match e {
            AllocationError::Invalid(errs) => errs
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join("; "),
            AllocationError::Internal(m) => m,
        }
    }

    #[test]
    fn cidrs_parse_and_print() {
        let c: Ipv4Cidr = "10.96.0.0/12".parse().unwrap();
        assert_eq!(c, Ipv4Cidr::default());
        assert_eq!(c.to_string(), "10.96.0.0/12");
        assert_eq!(c.size(), 1 << 20);
        assert!(c.contains("10.111.255.255".parse().unwrap()));
        assert!(!c.contains("10.112.0.0".parse().unwrap()));
        assert_eq!(c.first_host().to_string(), KUBERNETES_SERVICE_IP);
        assert!("10.96.0.0".parse::<Ipv4Cidr>().is_err());
        assert!("10.96.0.0/33".parse::<Ipv4Cidr>().is_err());
    }

    #[test]
    fn dynamic_ips_are_unique_in_range_and_never_the_first_address() {
        // A /28 has 14 usable addresses; the first is reserved, so 13 can be handed out.
        let cidr: Ipv4Cidr = "10.0.0.0/28".parse().unwrap();
        let mut a = ServiceAllocator::new(cidr, SERVICE_NODE_PORT_RANGE, 3);
        let mut seen = BTreeSet::new();
        for i in 0..13 {
            let mut s = svc(&format!("s{i}"), ServiceType::ClusterIP, &[(80, None)]);
            a.allocate_create(&mut s).unwrap();
            let ip = s.spec.cluster_ip.clone().unwrap();
            assert_eq!(s.spec.cluster_ips, vec![ip.clone()]);
            assert!(seen.insert(ip.clone()), "duplicate {ip}");
            assert_ne!(ip, "10.0.0.1");
            assert_ne!(ip, "10.0.0.0");
            assert_ne!(ip, "10.0.0.15");
        }
        let mut s = svc("full", ServiceType::ClusterIP, &[(80, None)]);
        assert_eq!(
            text(a.allocate_create(&mut s).unwrap_err()),
            "Internal error occurred: failed to allocate a serviceIP: range is full"
        );
        // The kubernetes Service may still ask for the first address.
        let mut k = svc("kubernetes", ServiceType::ClusterIP, &[(443, None)]);
        k.spec.cluster_ip = Some("10.0.0.1".into());
        k.set_defaults();
        a.allocate_create(&mut k).unwrap();
    }

    #[test]
    fn dynamic_ips_prefer_the_upper_part_of_the_range() {
        let mut a = allocator();
        for i in 0..50 {
            let mut s = svc(&format!("s{i}"), ServiceType::ClusterIP, &[(80, None)]);
            a.allocate_create(&mut s).unwrap();
            let ip: Ipv4Addr = s.spec.cluster_ip.unwrap().parse().unwrap();
            // The lower 256 addresses (10.96.0.1–10.96.1.0) are left for static requests.
            assert!(
                u32::from(ip) > u32::from(Ipv4Addr::new(10, 96, 1, 0)),
                "{ip}"
            );
        }
    }

    #[test]
    fn the_same_seed_gives_the_same_addresses() {
        let run = |seed| {
            let mut a = ServiceAllocator::new(Ipv4Cidr::default(), SERVICE_NODE_PORT_RANGE, seed);
            (0..5)
                .map(|i| {
                    let mut s = svc(&format!("s{i}"), ServiceType::NodePort, &[(80, None)]);
                    a.allocate_create(&mut s).unwrap();
                    (s.spec.cluster_ip.clone(), s.spec.ports[0].node_port)
                })
                .collect::<Vec<_>>()
        };
        assert_eq!(run(9), run(9));
        assert_ne!(run(9), run(10));
    }

    #[test]
    fn a_requested_ip_is_taken_once_and_released_on_release() {
        let mut a = allocator();
        let mut s = svc("a", ServiceType::ClusterIP, &[(80, None)]);
        s.spec.cluster_ip = Some("10.96.0.10".into());
        s.set_defaults();
        a.allocate_create(&mut s).unwrap();
        assert!(a.has_ip("10.96.0.10"));
        let mut t = s.clone();
        t.metadata.name = "b".into();
        assert_eq!(
            text(a.allocate_create(&mut t).unwrap_err()),
            "spec.clusterIPs: Invalid value: []string{\"10.96.0.10\"}: failed to allocate IP \
             10.96.0.10: provided IP is already allocated"
        );
        let mut out = svc("c", ServiceType::ClusterIP, &[(80, None)]);
        out.spec.cluster_ip = Some("10.200.0.1".into());
        out.set_defaults();
        assert_eq!(
            text(a.allocate_create(&mut out).unwrap_err()),
            "spec.clusterIPs: Invalid value: []string{\"10.200.0.1\"}: failed to allocate IP \
             10.200.0.1: the provided IP (10.200.0.1) is not in the valid range. The range of \
             valid IPs is 10.96.0.0/12"
        );
        a.release(&s);
        assert!(!a.has_ip("10.96.0.10"));
        a.allocate_create(&mut t).unwrap();
    }

    #[test]
    fn headless_and_external_name_services_get_no_ip() {
        let mut a = allocator();
        let mut h = svc("h", ServiceType::ClusterIP, &[(80, None)]);
        h.spec.cluster_ip = Some("None".into());
        h.set_defaults();
        a.allocate_create(&mut h).unwrap();
        assert_eq!(h.spec.cluster_ips, vec!["None".to_string()]);
        let mut e = svc("e", ServiceType::ExternalName, &[]);
        e.spec.external_name = Some("db.example.com".into());
        a.allocate_create(&mut e).unwrap();
        assert_eq!(e.spec.cluster_ip, None);
        assert_eq!(a.used_ips(), 0);
    }

    #[test]
    fn node_ports_are_allocated_shared_by_port_number_and_refused_when_taken() {
        let mut a = allocator();
        let mut s = svc(
            "web",
            ServiceType::NodePort,
            &[(80, None), (443, Some(30443))],
        );
        s.spec.ports.push(ServicePort {
            name: Some("dns".into()),
            port: 80,
            protocol: crate::api::Protocol::Udp,
            ..Default::default()
        });
        a.allocate_create(&mut s).unwrap();
        let np = s.spec.ports[0].node_port.unwrap();
        assert!(SERVICE_NODE_PORT_RANGE.contains(&np));
        assert_eq!(s.spec.ports[1].node_port, Some(30443));
        assert_eq!(
            s.spec.ports[2].node_port,
            Some(np),
            "same port number, same node port"
        );
        let mut t = svc("other", ServiceType::NodePort, &[(80, Some(30443))]);
        assert_eq!(
            text(a.allocate_create(&mut t).unwrap_err()),
            "spec.ports[0].nodePort: Invalid value: 30443: provided port is already allocated"
        );
        // ClusterIP Services get none; a type change to ClusterIP releases them.
        let mut c = svc("c", ServiceType::ClusterIP, &[(80, None)]);
        a.allocate_create(&mut c).unwrap();
        assert_eq!(c.spec.ports[0].node_port, None);
        let mut to_cluster_ip = s.clone();
        to_cluster_ip.spec.r#type = ServiceType::ClusterIP;
        for p in &mut to_cluster_ip.spec.ports {
            p.node_port = None;
        }
        a.allocate_update(&s, &mut to_cluster_ip).unwrap();
        assert!(!a.has_node_port(30443));
        assert!(!a.has_node_port(np));
        let mut t = svc("other", ServiceType::NodePort, &[(80, Some(30443))]);
        a.allocate_create(&mut t).unwrap();
    }

    #[test]
    fn an_update_allocates_new_ports_and_releases_dropped_ones() {
        let mut a = allocator();
        let mut s = svc("web", ServiceType::NodePort, &[(80, Some(30080))]);
        a.allocate_create(&mut s).unwrap();
        let mut new = s.clone();
        new.spec.ports[0].node_port = Some(30081);
        new.spec.ports.push(ServicePort {
            name: Some("b".into()),
            port: 81,
            ..Default::default()
        });
        a.allocate_update(&s, &mut new).unwrap();
        assert!(!a.has_node_port(30080));
        assert!(a.has_node_port(30081));
        assert!(new.spec.ports[1].node_port.is_some());
        // ClusterIP → ExternalName releases the IP; back again allocates one.
        let ip = s.spec.cluster_ip.clone().unwrap();
        let mut ext = s.clone();
        ext.spec.r#type = ServiceType::ExternalName;
        ext.spec.cluster_ip = None;
        ext.spec.cluster_ips.clear();
        a.allocate_update(&s, &mut ext).unwrap();
        assert!(!a.has_ip(&ip));
    }

    #[test]
    fn local_load_balancers_get_a_health_check_port() {
        let mut a = allocator();
        let mut s = svc("lb", ServiceType::LoadBalancer, &[(80, None)]);
        s.spec.external_traffic_policy =
            Some(crate::api::service::ServiceExternalTrafficPolicy::Local);
        a.allocate_create(&mut s).unwrap();
        let hc = s.spec.health_check_node_port.unwrap();
        assert!(a.has_node_port(hc));
        a.release(&s);
        assert!(!a.has_node_port(hc));
    }

    fn store_svc(yaml: &str) -> crate::Object {
        let m = crate::manifest::parse_str("svc.yaml", yaml).unwrap();
        m.objects.into_iter().next().unwrap().object
    }

    #[test]
    fn the_store_allocates_keeps_and_releases() {
        use crate::store::{DeleteOptions, Store, StoreConfig};
        use crate::{Kind, Object, Time};
        let mut store = Store::new(StoreConfig {
            kubernetes_service: true,
            ..StoreConfig::default()
        });
        let ip_of = |store: &Store, name: &str| match store
            .get(Kind::Service, "default", name)
            .as_deref()
        {
            Some(Object::Service(s)) => s.spec.cluster_ip.clone(),
            _ => None,
        };
        assert_eq!(
            ip_of(&store, "kubernetes").as_deref(),
            Some(KUBERNETES_SERVICE_IP)
        );
        let web = "apiVersion: v1\nkind: Service\nmetadata: {name: web}\nspec:\n  selector: {app: web}\n  type: NodePort\n  ports: [{port: 80, nodePort: 30080}]\n";
        store.create(store_svc(web), Time::ZERO).unwrap();
        let ip = ip_of(&store, "web").unwrap();
        // An update without the allocated values keeps them.
        store.update(store_svc(web), Time::ZERO).unwrap();
        assert_eq!(ip_of(&store, "web"), Some(ip.clone()));
        let other = web.replace("name: web", "name: other");
        assert_eq!(
            store.create(store_svc(&other), Time::ZERO).unwrap_err().to_string(),
            "Service \"other\" is invalid: spec.ports[0].nodePort: Invalid value: 30080: provided port is already allocated"
        );
        let same_ip = other.replace("nodePort: 30080", "nodePort: 30081").replace(
            "type: NodePort",
            &format!("type: NodePort\n  clusterIP: {ip}"),
        );
        assert_eq!(
            store.create(store_svc(&same_ip), Time::ZERO).unwrap_err().to_string(),
            format!("Service \"other\" is invalid: spec.clusterIPs: Invalid value: []string{{\"{ip}\"}}: failed to allocate IP {ip}: provided IP is already allocated")
        );
        // A changed cluster IP is refused by update validation.
        let moved = web.replace("type: NodePort", "type: NodePort\n  clusterIP: 10.96.0.99");
        assert!(store.update(store_svc(&moved), Time::ZERO).is_err());
        store
            .delete(
                Kind::Service,
                "default",
                "web",
                &DeleteOptions::default(),
                Time::ZERO,
            )
            .unwrap();
        store.create(store_svc(&same_ip), Time::ZERO).unwrap();
        assert_eq!(ip_of(&store, "other"), Some(ip));
    }
}
