//! Service (core/v1): a stable virtual address and DNS name in front of the pods a selector picks,
//! and how its ports map to theirs.
//!
//! The four types build on each other as in Kubernetes: a `ClusterIP` Service gets a virtual IP
//! inside the cluster (or none, when `clusterIP: None` makes it *headless*); a `NodePort` Service
//! also opens a port in [`SERVICE_NODE_PORT_RANGE`] on every node; a `LoadBalancer` Service also
//! asks for an external load balancer; an `ExternalName` Service is only a DNS alias.
//!
//! Allocation of cluster IPs and node ports is the store's job, as it is the API server
//! registry's: validation accepts a Service that leaves them empty, and
//! [`Service::patch_allocated_values`] carries them over when an update omits them. This module
//! also holds the IP and CIDR syntax checks that Services and EndpointSlices share.

use std::collections::{BTreeMap, BTreeSet};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::ops::RangeInclusive;

use serde::{Deserialize, Serialize};

use crate::api::pod::{ConditionStatus, Protocol};
use crate::meta::{is_default, validate_labels, IntOrString, ObjectMeta};
use crate::time::Time;
use crate::validation::{
    check_syntax, is_dns1123_label, is_dns1123_subdomain, is_port_name, is_port_number,
    is_qualified_name, ErrorList, FieldError, FieldPath, SetDefaults, Validate,
};

/// The node ports a `NodePort` or `LoadBalancer` Service may use: the API server's default
/// `--service-node-port-range`.
pub const SERVICE_NODE_PORT_RANGE: RangeInclusive<i32> = 30000..=32767;

/// The default stickiness timeout of `sessionAffinity: ClientIP`, in seconds (3 hours).
pub const DEFAULT_CLIENT_IP_AFFINITY_SECONDS: i32 = 10_800;

/// The largest stickiness timeout of `sessionAffinity: ClientIP`, in seconds (1 day).
pub const MAX_CLIENT_IP_AFFINITY_SECONDS: i32 = 86_400;

/// The `clusterIP` of a headless Service.
pub const CLUSTER_IP_NONE: &str = "None";

/// A Service.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Service {
    /// Standard object metadata. The name must be a DNS-1035 label (it becomes a DNS name).
    #[serde(default)]
    pub metadata: ObjectMeta,
    /// The desired behaviour.
    #[serde(default)]
    pub spec: ServiceSpec,
    /// The observed state (load balancer addresses, conditions).
    #[serde(default, skip_serializing_if = "crate::meta::is_default")]
    pub status: ServiceStatus,
}

/// The desired behaviour of a [`Service`].
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ServiceSpec {
    /// The ports the Service exposes; required except for `ExternalName` and headless Services.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ports: Vec<ServicePort>,
    /// Labels of the pods that back the Service. Empty means the endpoints are managed by hand.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub selector: BTreeMap<String, String>,
    /// The virtual IP, `None` for a headless Service, or unset to have one allocated.
    #[serde(rename = "clusterIP", default, skip_serializing_if = "Option::is_none")]
    pub cluster_ip: Option<String>,
    /// The virtual IPs, one per IP family; the first one equals `clusterIP`.
    #[serde(rename = "clusterIPs", default, skip_serializing_if = "Vec::is_empty")]
    pub cluster_ips: Vec<String>,
    /// How the Service is exposed; `ClusterIP` by default.
    #[serde(default, rename = "type")]
    pub r#type: ServiceType,
    /// Extra IPs on which the nodes accept traffic for this Service.
    #[serde(rename = "externalIPs", default, skip_serializing_if = "Vec::is_empty")]
    pub external_ips: Vec<String>,
    /// Whether a client keeps talking to the same pod; `None` by default.
    #[serde(default)]
    pub session_affinity: ServiceAffinity,
    /// The IP requested from the load balancer (deprecated in Kubernetes, still honoured).
    #[serde(
        rename = "loadBalancerIP",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub load_balancer_ip: Option<String>,
    /// Client CIDRs a `LoadBalancer` Service accepts traffic from (all when empty).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub load_balancer_source_ranges: Vec<String>,
    /// The DNS name an `ExternalName` Service is an alias (CNAME) for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub external_name: Option<String>,
    /// How traffic from outside the cluster is routed; `Cluster` by default for externally
    /// accessible Services, unset otherwise.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub external_traffic_policy: Option<ServiceExternalTrafficPolicy>,
    /// The node port of the health check of a `LoadBalancer` Service with
    /// `externalTrafficPolicy: Local`; allocated when unset.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub health_check_node_port: Option<i32>,
    /// Whether DNS publishes pods before they are ready (as StatefulSets' headless Services
    /// often want); `false` when unset.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub publish_not_ready_addresses: Option<bool>,
    /// Settings of `sessionAffinity: ClientIP`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub session_affinity_config: Option<SessionAffinityConfig>,
    /// The IP families of the cluster IPs, in order; chosen by the allocator when unset.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ip_families: Vec<IpFamily>,
    /// Whether the Service is single- or dual-stack; chosen by the allocator when unset.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ip_family_policy: Option<IpFamilyPolicy>,
    /// Whether a `LoadBalancer` Service gets node ports; `true` by default for that type.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub allocate_load_balancer_node_ports: Option<bool>,
    /// Which load balancer implementation serves a `LoadBalancer` Service (the cloud
    /// provider's when unset).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub load_balancer_class: Option<String>,
    /// How traffic from inside the cluster is routed; `Cluster` by default except for
    /// `ExternalName` Services.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub internal_traffic_policy: Option<ServiceInternalTrafficPolicy>,
    /// A preference for topologically close endpoints.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub traffic_distribution: Option<TrafficDistribution>,
}

/// One port of a [`Service`].
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ServicePort {
    /// The port's name (a DNS label), required and unique when the Service has several ports.
    /// EndpointSlice ports carry the same name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// The protocol; `TCP` by default.
    #[serde(default)]
    pub protocol: Protocol,
    /// The application protocol (`http`, `kubernetes.io/h2c`, …), a hint for proxies.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub app_protocol: Option<String>,
    /// The port the Service listens on (1–65535).
    #[serde(default)]
    pub port: i32,
    /// The port of the pods: a number, or the name of a container port. Defaults to `port`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target_port: Option<IntOrString>,
    /// The port opened on every node for a `NodePort` or `LoadBalancer` Service; allocated from
    /// [`SERVICE_NODE_PORT_RANGE`] when unset.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub node_port: Option<i32>,
}

/// How a Service is exposed (`spec.type`).
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize,
)]
pub enum ServiceType {
    /// A virtual IP reachable inside the cluster (the default).
    #[default]
    ClusterIP,
    /// A cluster IP, plus a port on every node.
    NodePort,
    /// A node port, plus an external load balancer.
    LoadBalancer,
    /// A DNS alias for `externalName`; no proxying.
    ExternalName,
}

impl ServiceType {
    /// The type as written in `type:`.
    pub fn as_str(self) -> &'static str {
        match self {
            ServiceType::ClusterIP => "ClusterIP",
            ServiceType::NodePort => "NodePort",
            ServiceType::LoadBalancer => "LoadBalancer",
            ServiceType::ExternalName => "ExternalName",
        }
    }
}

/// Session affinity (`spec.sessionAffinity`).
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize,
)]
pub enum ServiceAffinity {
    /// Each connection may go to any backend (the default).
    #[default]
    None,
    /// Connections from one client IP go to the same backend.
    ClientIP,
}

/// Settings of session affinity.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SessionAffinityConfig {
    /// Settings of `ClientIP` affinity.
    #[serde(rename = "clientIP", default, skip_serializing_if = "Option::is_none")]
    pub client_ip: Option<ClientIPConfig>,
}

/// Settings of `ClientIP` session affinity.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ClientIPConfig {
    /// How long a client sticks to its backend, in seconds (1–86400); 10800 by default.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout_seconds: Option<i32>,
}

/// Routing of external traffic (`spec.externalTrafficPolicy`).
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize,
)]
pub enum ServiceExternalTrafficPolicy {
    /// To any ready endpoint in the cluster (source IP is hidden).
    #[default]
    Cluster,
    /// Only to endpoints on the receiving node (source IP is kept).
    Local,
}

/// Routing of in-cluster traffic (`spec.internalTrafficPolicy`).
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize,
)]
pub enum ServiceInternalTrafficPolicy {
    /// To any ready endpoint.
    #[default]
    Cluster,
    /// Only to endpoints on the client's node.
    Local,
}

/// A preference for close endpoints (`spec.trafficDistribution`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum TrafficDistribution {
    /// Prefer endpoints topologically close to the client (same zone).
    PreferClose,
    /// Prefer endpoints in the client's zone.
    PreferSameZone,
    /// Prefer endpoints on the client's node.
    PreferSameNode,
}

/// An IP family.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum IpFamily {
    /// IPv4.
    IPv4,
    /// IPv6.
    IPv6,
}

/// Single- or dual-stack (`spec.ipFamilyPolicy`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum IpFamilyPolicy {
    /// One IP family.
    SingleStack,
    /// Two families when the cluster has them, else one.
    PreferDualStack,
    /// Two families, or fail.
    RequireDualStack,
}

/// The observed state of a [`Service`].
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ServiceStatus {
    /// The load balancer's addresses, for a `LoadBalancer` Service.
    #[serde(default, skip_serializing_if = "is_default")]
    pub load_balancer: LoadBalancerStatus,
    /// The Service's conditions.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub conditions: Vec<ServiceCondition>,
}

/// The addresses of a load balancer.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LoadBalancerStatus {
    /// One entry per address.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ingress: Vec<LoadBalancerIngress>,
}

/// One address of a load balancer: an IP, a host name, or both.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LoadBalancerIngress {
    /// An IP address.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ip: Option<String>,
    /// A DNS name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hostname: Option<String>,
    /// How traffic to `ip` reaches the nodes; `VIP` by default when `ip` is set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ip_mode: Option<LoadBalancerIpMode>,
    /// The status of each port.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ports: Vec<PortStatus>,
}

/// How a load balancer delivers traffic (`ipMode`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum LoadBalancerIpMode {
    /// Packets arrive with the load balancer's IP as destination; nodes route them locally.
    #[serde(rename = "VIP")]
    Vip,
    /// The load balancer proxies to the nodes or pods.
    Proxy,
}

/// The status of one port of a load balancer.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PortStatus {
    /// The port number.
    pub port: i32,
    /// The protocol.
    #[serde(default)]
    pub protocol: Protocol,
    /// Why the port is not working (a CamelCase reason), if it is not.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// A condition of a Service (Kubernetes' generic `metav1.Condition`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ServiceCondition {
    /// The condition's type, in CamelCase.
    #[serde(rename = "type")]
    pub r#type: String,
    /// Whether it holds.
    pub status: ConditionStatus,
    /// The `metadata.generation` the condition was computed from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    /// When the status last changed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_transition_time: Option<Time>,
    /// Why, in one CamelCase word.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// Why, for humans.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

fn protocol_str(p: Protocol) -> &'static str {
    match p {
        Protocol::Tcp => "TCP",
        Protocol::Udp => "UDP",
        Protocol::Sctp => "SCTP",
    }
}

impl Service {
    /// Whether the Service is headless (`clusterIP: None`): DNS returns the pods' own IPs.
    pub fn is_headless(&self) -> bool {
        self.spec.is_headless()
    }
}

impl ServiceSpec {
    /// Whether the Service is headless (`clusterIPs` is exactly `["None"]`, or `clusterIP` is
    /// `None` before defaulting).
    pub fn is_headless(&self) -> bool {
        match self.cluster_ips.as_slice() {
            [only] => only == CLUSTER_IP_NONE,
            [] => self.cluster_ip.as_deref() == Some(CLUSTER_IP_NONE),
            _ => false,
        }
    }

    /// Whether traffic from outside the cluster can reach the Service: a `NodePort` or
    /// `LoadBalancer` Service, or a `ClusterIP` one with `externalIPs` (Kubernetes'
    /// `ExternallyAccessible`).
    pub fn externally_accessible(&self) -> bool {
        matches!(
            self.r#type,
            ServiceType::NodePort | ServiceType::LoadBalancer
        ) || (self.r#type == ServiceType::ClusterIP && !self.external_ips.is_empty())
    }

    /// Whether the Service needs a health-check node port: a `LoadBalancer` with
    /// `externalTrafficPolicy: Local`.
    pub fn needs_health_check(&self) -> bool {
        self.r#type == ServiceType::LoadBalancer
            && self.external_traffic_policy == Some(ServiceExternalTrafficPolicy::Local)
    }

    /// Whether the Service gets a cluster IP (every type but `ExternalName`, unless headless).
    pub fn needs_cluster_ip(&self) -> bool {
        self.r#type != ServiceType::ExternalName
    }

    /// Whether the Service's ports get node ports: `NodePort`, and `LoadBalancer` unless
    /// `allocateLoadBalancerNodePorts` is `false`.
    pub fn needs_node_ports(&self) -> bool {
        match self.r#type {
            ServiceType::NodePort => true,
            ServiceType::LoadBalancer => self.allocate_load_balancer_node_ports != Some(false),
            ServiceType::ClusterIP | ServiceType::ExternalName => false,
        }
    }

    /// The port named `name` (`None` matches the unnamed port of a single-port Service).
    pub fn port_named(&self, name: Option<&str>) -> Option<&ServicePort> {
        self.ports
            .iter()
            .find(|p| p.name.as_deref().unwrap_or("") == name.unwrap_or(""))
    }
}

impl ServicePort {
    /// The target port as written, or `port` when unset (its default).
    pub fn target_port_or_default(&self) -> IntOrString {
        match &self.target_port {
            Some(IntOrString::Int(0)) | None => IntOrString::Int(self.port),
            Some(IntOrString::String(s)) if s.is_empty() => IntOrString::Int(self.port),
            Some(t) => t.clone(),
        }
    }

    /// The port number traffic for this Service port goes to on a pod whose containers declare
    /// `container_ports` as `(name, protocol, containerPort)`; Kubernetes' `FindPort`.
    ///
    /// A numeric `targetPort` is the answer whatever the pod declares. A named one must match a
    /// declared port with the same name and protocol; `None` when the pod has none (that pod is
    /// then not an endpoint for this port). Pass the ports of the regular containers and of
    /// restartable init containers (sidecars), in order.
    pub fn resolve_target_port<'a>(
        &self,
        container_ports: impl IntoIterator<Item = (&'a str, Protocol, i32)>,
    ) -> Option<i32> {
        match self.target_port_or_default() {
            IntOrString::Int(n) => Some(n),
            IntOrString::String(name) => container_ports
                .into_iter()
                .find(|(n, proto, _)| *n == name && *proto == self.protocol)
                .map(|(_, _, port)| port),
        }
    }

    /// The node port, if one is set (zero counts as unset, as in Kubernetes).
    pub fn node_port(&self) -> Option<i32> {
        self.node_port.filter(|&n| n != 0)
    }
}

impl Service {
    /// Keeps the values the store allocated when an update of `old` leaves them out, as the API
    /// server does before validating an update (`patchAllocatedValues`): the cluster IPs, the
    /// node ports (matched by port name, unless the new spec already uses that node port) and
    /// the health-check node port, each only while the type still needs it. Applying the same
    /// manifest twice is therefore not a change.
    pub fn patch_allocated_values(&mut self, old: &Service) {
        let (new, old) = (&mut self.spec, &old.spec);
        if old.needs_cluster_ip() && new.needs_cluster_ip() {
            if new.cluster_ip.as_deref().unwrap_or("").is_empty() {
                new.cluster_ip.clone_from(&old.cluster_ip);
            }
            if new.cluster_ips.is_empty() {
                new.cluster_ips.clone_from(&old.cluster_ips);
            }
        }
        if old.needs_node_ports() && new.needs_node_ports() {
            let used_new: BTreeSet<i32> = new
                .ports
                .iter()
                .filter_map(ServicePort::node_port)
                .collect();
            let used: BTreeSet<i32> = old
                .ports
                .iter()
                .filter_map(ServicePort::node_port)
                .filter(|n| used_new.contains(n))
                .collect();
            let by_name: BTreeMap<&str, i32> = old
                .ports
                .iter()
                .filter_map(|p| Some((p.name.as_deref().unwrap_or(""), p.node_port()?)))
                .collect();
            for p in &mut new.ports {
                if p.node_port().is_none() {
                    if let Some(&n) = by_name.get(p.name.as_deref().unwrap_or("")) {
                        if !used.contains(&n) {
                            p.node_port = Some(n);
                        }
                    }
                }
            }
        }
        if old.needs_health_check()
            && new.needs_health_check()
            && new.health_check_node_port.is_none()
        {
            new.health_check_node_port = old.health_check_node_port;
        }
    }

    /// Validates `status.loadBalancer` as the API server does on a status update
    /// (`ValidateLoadBalancerStatus`): ingress IPs and host names, and `ipMode` only with an IP.
    pub fn validate_status(&self) -> ErrorList {
        let mut errs = ErrorList::new();
        let ingress_path = FieldPath::new("status")
            .child("loadBalancer")
            .child("ingress");
        if self.spec.r#type != ServiceType::LoadBalancer
            && !self.status.load_balancer.ingress.is_empty()
        {
            errs.push(FieldError::forbidden(
                &ingress_path,
                "may only be used when `spec.type` is 'LoadBalancer'",
            ));
            return errs;
        }
        for (i, ingress) in self.status.load_balancer.ingress.iter().enumerate() {
            let p = ingress_path.index(i);
            let ip = ingress.ip.as_deref().unwrap_or("");
            if !ip.is_empty() {
                check_syntax(&mut errs, &p.child("ip"), ip, is_valid_ip);
            }
            if ip.is_empty() && ingress.ip_mode.is_some() {
                errs.push(FieldError::forbidden(
                    &p.child("ipMode"),
                    "may not be specified when `ip` is not set",
                ));
            } else if !ip.is_empty() && ingress.ip_mode.is_none() {
                errs.push(FieldError::required(
                    &p.child("ipMode"),
                    "must be specified when `ip` is set",
                ));
            }
            if let Some(host) = ingress.hostname.as_deref().filter(|h| !h.is_empty()) {
                check_syntax(&mut errs, &p.child("hostname"), host, is_dns1123_subdomain);
                if parse_ip(host).is_some() {
                    errs.push(FieldError::invalid(
                        &p.child("hostname"),
                        host,
                        "must be a DNS name, not an IP address",
                    ));
                }
            }
        }
        errs
    }
}

impl SetDefaults for Service {
    // pkg/apis/core/v1/defaults.go: SetDefaults_Service, plus the registry's normalisation of
    // `clusterIP` into `clusterIPs` on create (pkg/registry/core/service: NormalizeClusterIPs).
    fn set_defaults(&mut self) {
        let spec = &mut self.spec;
        if spec.session_affinity == ServiceAffinity::None {
            spec.session_affinity_config = None;
        } else {
            let config = spec
                .session_affinity_config
                .get_or_insert_with(SessionAffinityConfig::default);
            let client_ip = config.client_ip.get_or_insert_with(ClientIPConfig::default);
            client_ip
                .timeout_seconds
                .get_or_insert(DEFAULT_CLIENT_IP_AFFINITY_SECONDS);
        }
        for port in &mut spec.ports {
            port.target_port = Some(port.target_port_or_default());
        }
        if spec.externally_accessible() && spec.external_traffic_policy.is_none() {
            spec.external_traffic_policy = Some(ServiceExternalTrafficPolicy::Cluster);
        }
        if spec.internal_traffic_policy.is_none() && spec.r#type != ServiceType::ExternalName {
            spec.internal_traffic_policy = Some(ServiceInternalTrafficPolicy::Cluster);
        }
        if spec.r#type == ServiceType::LoadBalancer {
            spec.allocate_load_balancer_node_ports.get_or_insert(true);
            for ingress in &mut self.status.load_balancer.ingress {
                if ingress.ip.as_deref().is_some_and(|ip| !ip.is_empty())
                    && ingress.ip_mode.is_none()
                {
                    ingress.ip_mode = Some(LoadBalancerIpMode::Vip);
                }
            }
        }
        if let Some(ip) = spec.cluster_ip.as_deref().filter(|ip| !ip.is_empty()) {
            if spec.cluster_ips.is_empty() {
                spec.cluster_ips = vec![ip.to_string()];
            }
        }
    }
}

impl Validate for Service {
    // pkg/apis/core/validation: ValidateService, plus the registry's node-port range check.
    fn validate(&self) -> ErrorList {
        let spec = &self.spec;
        let spec_path = FieldPath::new("spec");
        let ports_path = spec_path.child("ports");
        let mut errs = ErrorList::new();

        // Service names become DNS labels in `<name>.<ns>.svc`, so Kubernetes wants a DNS-1035
        // label: a DNS-1123 label that starts with a letter. The metadata check only knows
        // DNS-1123, so the stricter part is checked here.
        let name = &self.metadata.name;
        if is_dns1123_label(name).is_empty() && name.starts_with(|c: char| c.is_ascii_digit()) {
            errs.push(FieldError::invalid(
                &FieldPath::new("metadata").child("name"),
                name,
                "a DNS-1035 label must consist of lower case alphanumeric characters or '-', start \
                 with an alphabetic character, and end with an alphanumeric character (e.g. \
                 'my-name',  or 'abc-123')",
            ));
        }

        let headless = spec.is_headless();
        if spec.ports.is_empty() && !headless && spec.r#type != ServiceType::ExternalName {
            errs.push(FieldError::required(&ports_path, ""));
        }
        match spec.r#type {
            ServiceType::LoadBalancer | ServiceType::NodePort if headless => {
                errs.push(FieldError::invalid(
                    &spec_path.child("clusterIPs").index(0),
                    CLUSTER_IP_NONE,
                    format!(
                        "may not be set to 'None' for {} services",
                        spec.r#type.as_str()
                    ),
                ));
            }
            ServiceType::ExternalName => {
                let forbidden = "may not be set for ExternalName services";
                if !spec.cluster_ips.is_empty()
                    || spec.cluster_ip.as_deref().is_some_and(|ip| !ip.is_empty())
                {
                    errs.push(FieldError::forbidden(
                        &spec_path.child("clusterIPs"),
                        forbidden,
                    ));
                }
                if !spec.ip_families.is_empty() {
                    errs.push(FieldError::forbidden(
                        &spec_path.child("ipFamilies"),
                        forbidden,
                    ));
                }
                if spec.ip_family_policy.is_some() {
                    errs.push(FieldError::forbidden(
                        &spec_path.child("ipFamilyPolicy"),
                        forbidden,
                    ));
                }
                // The value (a CNAME) may end with a dot to mark it fully qualified.
                let cname = spec.external_name.as_deref().unwrap_or("");
                let cname = cname.strip_suffix('.').unwrap_or(cname);
                if cname.is_empty() {
                    errs.push(FieldError::required(&spec_path.child("externalName"), ""));
                } else {
                    check_syntax(
                        &mut errs,
                        &spec_path.child("externalName"),
                        cname,
                        is_dns1123_subdomain,
                    );
                }
            }
            _ => {}
        }

        let mut names = BTreeSet::new();
        for (i, port) in spec.ports.iter().enumerate() {
            errs.extend(validate_service_port(
                port,
                spec.ports.len() > 1,
                &mut names,
                &ports_path.index(i),
            ));
        }

        errs.extend(validate_labels(
            &spec.selector,
            &spec_path.child("selector"),
        ));

        let affinity_path = spec_path.child("sessionAffinityConfig");
        match spec.session_affinity {
            ServiceAffinity::ClientIP => {
                let required = "when session affinity type is ClientIP";
                match &spec.session_affinity_config {
                    None => errs.push(FieldError::required(&affinity_path, required)),
                    Some(SessionAffinityConfig { client_ip: None }) => {
                        errs.push(FieldError::required(
                            &affinity_path.child("clientIP"),
                            required,
                        ));
                    }
                    Some(SessionAffinityConfig { client_ip: Some(c) }) => {
                        let p = affinity_path.child("clientIP").child("timeoutSeconds");
                        match c.timeout_seconds {
                            None => errs.push(FieldError::required(&p, required)),
                            Some(t) if t <= 0 || t > MAX_CLIENT_IP_AFFINITY_SECONDS => {
                                errs.push(FieldError::invalid(
                                    &p,
                                    t,
                                    format!("must be greater than 0 and less than {MAX_CLIENT_IP_AFFINITY_SECONDS}"),
                                ));
                            }
                            Some(_) => {}
                        }
                    }
                }
            }
            ServiceAffinity::None => {
                if spec.session_affinity_config.is_some() {
                    errs.push(FieldError::forbidden(
                        &affinity_path,
                        "must not be set when session affinity is None",
                    ));
                }
            }
        }

        errs.extend(validate_cluster_ips(spec));

        for (i, ip) in spec.external_ips.iter().enumerate() {
            let p = spec_path.child("externalIPs").index(i);
            let before = errs.len();
            check_syntax(&mut errs, &p, ip, is_valid_ip);
            if errs.len() == before {
                validate_non_special_ip(&mut errs, &p, ip);
            }
        }

        // Node ports: only where the type opens them, inside the node-port range (the
        // allocator's check), unique per protocol.
        let mut node_ports = BTreeSet::new();
        for (i, port) in spec.ports.iter().enumerate() {
            let Some(node_port) = port.node_port() else {
                continue;
            };
            let p = ports_path.index(i).child("nodePort");
            match spec.r#type {
                ServiceType::ClusterIP | ServiceType::ExternalName => {
                    errs.push(FieldError::forbidden(
                        &p,
                        format!("may not be used when `type` is '{}'", spec.r#type.as_str()),
                    ))
                }
                ServiceType::NodePort | ServiceType::LoadBalancer => {
                    if !SERVICE_NODE_PORT_RANGE.contains(&node_port) {
                        errs.push(FieldError::invalid(
                            &p,
                            node_port,
                            format!(
                                "provided port is not in the valid range. The range of valid ports is {}-{}",
                                SERVICE_NODE_PORT_RANGE.start(),
                                SERVICE_NODE_PORT_RANGE.end()
                            ),
                        ));
                    }
                }
            }
            if !node_ports.insert((port.protocol, node_port)) {
                errs.push(FieldError::duplicate(&p, node_port));
            }
        }
        let mut seen = BTreeSet::new();
        for (i, port) in spec.ports.iter().enumerate() {
            if !seen.insert((port.protocol, port.port)) {
                errs.push(FieldError::duplicate(
                    &ports_path.index(i),
                    format!("{}/{}", port.port, protocol_str(port.protocol)),
                ));
            }
        }

        // Kubernetes reports these under `spec.LoadBalancerSourceRanges` (sic); the camelCase
        // path is used here so that the manifest loader can find the field.
        let ranges_path = spec_path.child("loadBalancerSourceRanges");
        if !spec.load_balancer_source_ranges.is_empty() {
            if spec.r#type != ServiceType::LoadBalancer {
                errs.push(FieldError::forbidden(
                    &ranges_path,
                    "may only be used when `type` is 'LoadBalancer'",
                ));
            }
            for (i, range) in spec.load_balancer_source_ranges.iter().enumerate() {
                // Space padding is tolerated, a legacy of the annotation this field replaced.
                check_syntax(
                    &mut errs,
                    &ranges_path.index(i),
                    range.trim(),
                    is_valid_cidr,
                );
            }
        }

        let lb = spec.r#type == ServiceType::LoadBalancer;
        let allocate_path = spec_path.child("allocateLoadBalancerNodePorts");
        if spec.allocate_load_balancer_node_ports.is_some() && !lb {
            errs.push(FieldError::forbidden(
                &allocate_path,
                "may only be used when `type` is 'LoadBalancer'",
            ));
        }
        if lb && spec.allocate_load_balancer_node_ports.is_none() {
            errs.push(FieldError::required(&allocate_path, ""));
        }
        if let Some(class) = &spec.load_balancer_class {
            let p = spec_path.child("loadBalancerClass");
            if lb {
                check_syntax(&mut errs, &p, class, is_qualified_name);
            } else {
                errs.push(FieldError::forbidden(
                    &p,
                    "may only be used when `type` is 'LoadBalancer'",
                ));
            }
        }

        let etp_path = spec_path.child("externalTrafficPolicy");
        match (spec.externally_accessible(), spec.external_traffic_policy) {
            (false, Some(policy)) => errs.push(FieldError::invalid(
                &etp_path,
                format!("{policy:?}"),
                "may only be set for externally-accessible services",
            )),
            (true, None) => errs.push(FieldError::required(&etp_path, "")),
            _ => {}
        }
        let hc_path = spec_path.child("healthCheckNodePort");
        match spec.health_check_node_port.filter(|&n| n != 0) {
            Some(n) if !spec.needs_health_check() => errs.push(FieldError::invalid(
                &hc_path,
                n,
                "may only be set when `type` is 'LoadBalancer' and `externalTrafficPolicy` is 'Local'",
            )),
            Some(n) => {
                for msg in is_port_number(i64::from(n)) {
                    errs.push(FieldError::invalid(&hc_path, n, msg));
                }
            }
            // Required once allocated; the allocator assigns it when the user leaves it out.
            None => {}
        }
        if spec.internal_traffic_policy.is_none() && spec.r#type != ServiceType::ExternalName {
            errs.push(FieldError::required(
                &spec_path.child("internalTrafficPolicy"),
                "",
            ));
        }
        errs
    }

    // pkg/apis/core/validation: ValidateServiceUpdate. Any type change is allowed as long as the
    // cluster IPs follow these rules (the registry drops or allocates what the new type needs).
    fn validate_update(&self, old: &Self) -> ErrorList {
        let (new_spec, old_spec) = (&self.spec, &old.spec);
        let mut errs = ErrorList::new();
        let ips_path = FieldPath::new("spec").child("clusterIPs");
        let families_path = FieldPath::new("spec").child("ipFamilies");
        let policy_path = FieldPath::new("spec").child("ipFamilyPolicy");
        let external_name = new_spec.r#type == ServiceType::ExternalName
            || old_spec.r#type == ServiceType::ExternalName;
        let (new_headless, old_headless) = (new_spec.is_headless(), old_spec.is_headless());
        let (new_ips, old_ips) = (&new_spec.cluster_ips, &old_spec.cluster_ips);
        let single_stack = new_spec.ip_family_policy == Some(IpFamilyPolicy::SingleStack);

        // validateUpgradeDowngradeClusterIPs: a primary cluster IP never changes; a secondary
        // one may be added, or released together with `ipFamilyPolicy: SingleStack`.
        let both_headless = new_headless && old_headless;
        if !external_name && !both_headless {
            if new_ips.len() == old_ips.len() {
                for (i, (n, o)) in new_ips.iter().zip(old_ips).enumerate() {
                    if n != o {
                        errs.push(FieldError::invalid(
                            &ips_path.index(i),
                            new_ips,
                            "may not change once set",
                        ));
                    }
                }
            } else if new_ips.len() < old_ips.len() {
                match new_ips.first() {
                    None => errs.push(FieldError::invalid(
                        &ips_path.index(0),
                        new_ips,
                        "primary clusterIP can not be unset",
                    )),
                    Some(first) if *first != old_ips[0] => {
                        errs.push(FieldError::invalid(
                            &ips_path.index(0),
                            new_ips,
                            "may not change once set",
                        ));
                    }
                    Some(_) => {}
                }
                if new_ips.len() == 1 && !single_stack {
                    errs.push(FieldError::invalid(
                        &policy_path,
                        new_spec.ip_family_policy,
                        "must be set to 'SingleStack' when releasing the secondary clusterIP",
                    ));
                }
            } else if old_ips.first().is_some_and(|o| *o != new_ips[0]) {
                errs.push(FieldError::invalid(
                    &ips_path.index(0),
                    new_ips,
                    "may not change once set",
                ));
            }
        }

        // validateUpgradeDowngradeIPFamilies: the same for the families, except that headless
        // Services (and changes to or from headless) may change them.
        let (new_fams, old_fams) = (&new_spec.ip_families, &old_spec.ip_families);
        if !external_name && !new_headless && !old_headless {
            if new_fams.len() == old_fams.len() {
                if new_fams != old_fams {
                    errs.push(FieldError::invalid(
                        &families_path.index(0),
                        new_fams,
                        "may not change once set",
                    ));
                }
            } else if new_fams.len() < old_fams.len() {
                if new_ips.is_empty() {
                    errs.push(FieldError::invalid(
                        &families_path.index(0),
                        new_fams,
                        "primary ipFamily can not be unset",
                    ));
                }
                if new_fams.first().is_some_and(|f| *f != old_fams[0]) {
                    errs.push(FieldError::invalid(
                        &families_path.index(0),
                        new_fams,
                        "may not change once set",
                    ));
                }
                if new_fams.len() == 1 && !single_stack {
                    errs.push(FieldError::invalid(
                        &policy_path,
                        new_spec.ip_family_policy,
                        "must be set to 'SingleStack' when releasing the secondary ipFamily",
                    ));
                }
            } else if old_fams
                .first()
                .is_some_and(|f| Some(f) != new_fams.first())
            {
                errs.push(FieldError::invalid(
                    &families_path.index(0),
                    new_fams,
                    "may not change once set",
                ));
            }
        }

        if old_spec.r#type == ServiceType::LoadBalancer
            && new_spec.r#type == ServiceType::LoadBalancer
            && old_spec.load_balancer_class != new_spec.load_balancer_class
        {
            errs.push(FieldError::invalid(
                &FieldPath::new("spec").child("loadBalancerClass"),
                &new_spec.load_balancer_class,
                "may not change once set",
            ));
        }
        if old_spec.needs_health_check()
            && new_spec.needs_health_check()
            && old_spec.health_check_node_port != new_spec.health_check_node_port
        {
            errs.push(FieldError::forbidden(
                &FieldPath::new("spec").child("healthCheckNodePort"),
                "field is immutable",
            ));
        }
        errs
    }
}

fn validate_service_port(
    port: &ServicePort,
    require_name: bool,
    names: &mut BTreeSet<String>,
    path: &FieldPath,
) -> ErrorList {
    let mut errs = ErrorList::new();
    let name = port.name.as_deref().unwrap_or("");
    if name.is_empty() {
        if require_name {
            errs.push(FieldError::required(&path.child("name"), ""));
        }
    } else {
        check_syntax(&mut errs, &path.child("name"), name, is_dns1123_label);
        if !names.insert(name.to_string()) {
            errs.push(FieldError::duplicate(&path.child("name"), name));
        }
    }
    for msg in is_port_number(i64::from(port.port)) {
        errs.push(FieldError::invalid(&path.child("port"), port.port, msg));
    }
    errs.extend(validate_port_num_or_name(
        &port.target_port_or_default(),
        &path.child("targetPort"),
    ));
    if let Some(app) = &port.app_protocol {
        check_syntax(
            &mut errs,
            &path.child("appProtocol"),
            app,
            is_qualified_name,
        );
    }
    errs
}

/// Checks a port given by number (1–65535) or by name (an IANA service name), as Kubernetes'
/// `ValidatePortNumOrName` does for `targetPort` and probe ports.
pub fn validate_port_num_or_name(port: &IntOrString, path: &FieldPath) -> ErrorList {
    let mut errs = ErrorList::new();
    match port {
        IntOrString::Int(n) => {
            for msg in is_port_number(i64::from(*n)) {
                errs.push(FieldError::invalid(path, n, msg));
            }
        }
        IntOrString::String(s) => check_syntax(&mut errs, path, s, is_port_name),
    }
    errs
}

// pkg/apis/core/validation: ValidateServiceClusterIPsRelatedFields.
fn validate_cluster_ips(spec: &ServiceSpec) -> ErrorList {
    let mut errs = ErrorList::new();
    if spec.r#type == ServiceType::ExternalName {
        return errs; // All of these must be unset, which is checked above.
    }
    let spec_path = FieldPath::new("spec");
    let ips_path = spec_path.child("clusterIPs");
    let ips = &spec.cluster_ips;
    match spec.cluster_ip.as_deref().filter(|ip| !ip.is_empty()) {
        Some(ip) => match ips.first() {
            None => errs.push(FieldError::required(&ips_path, "")),
            Some(first) if first != ip => {
                errs.push(FieldError::invalid(
                    &ips_path,
                    ips,
                    "first value must match `clusterIP`",
                ));
            }
            Some(_) => {}
        },
        None if !ips.is_empty() => {
            errs.push(FieldError::invalid(
                &ips_path,
                ips,
                "must be empty when `clusterIP` is not specified",
            ));
        }
        None => {}
    }
    let mut seen = BTreeSet::new();
    for (i, family) in spec.ip_families.iter().enumerate() {
        if !seen.insert(*family) {
            errs.push(FieldError::duplicate(
                &spec_path.child("ipFamilies").index(i),
                format!("{family:?}"),
            ));
        }
    }
    let mut invalid = false;
    for (i, ip) in ips.iter().enumerate() {
        if i == 0 && ip == CLUSTER_IP_NONE {
            if ips.len() > 1 {
                invalid = true;
                errs.push(FieldError::invalid(
                    &ips_path,
                    ips,
                    "'None' must be the first and only value",
                ));
            }
            continue;
        }
        let before = errs.len();
        check_syntax(&mut errs, &ips_path.index(i), ip, is_valid_ip);
        invalid |= errs.len() != before;
    }
    if ips.len() > 2 {
        errs.push(FieldError::invalid(
            &ips_path,
            ips,
            "may only hold up to 2 values",
        ));
    }
    if invalid {
        return errs; // Family checks on bad IPs would only add noise.
    }
    if ips.len() > 1 {
        let v6 = ips.iter().filter(|ip| is_ipv6(ip)).count();
        if v6 != 1 || ips.len() != 2 {
            errs.push(FieldError::invalid(
                &ips_path,
                ips,
                "may specify no more than one IP for each IP family",
            ));
        }
    }
    if !spec.is_headless() {
        for (i, (ip, family)) in ips.iter().zip(&spec.ip_families).enumerate() {
            let expected = match family {
                IpFamily::IPv4 if is_ipv6(ip) => "IPv4",
                IpFamily::IPv6 if !is_ipv6(ip) => "IPv6",
                _ => continue,
            };
            errs.push(FieldError::invalid(
                &ips_path.index(i),
                ip,
                format!("expected an {expected} value as indicated by `ipFamilies[{i}]`"),
            ));
        }
    }
    errs
}

// ---------------------------------------------------------------------------------------------
// IP and CIDR syntax (k8s.io/apimachinery/pkg/util/validation/ip.go), shared with EndpointSlice.
// ---------------------------------------------------------------------------------------------

/// Parses an IP address; an IPv4-mapped IPv6 address (`::ffff:10.0.0.1`) counts as IPv4, as in
/// Go. Unlike Go's lenient parser, IPv4 octets with leading zeros are rejected (Kubernetes'
/// stricter validation of new objects).
pub fn parse_ip(value: &str) -> Option<IpAddr> {
    match value.parse::<IpAddr>().ok()? {
        IpAddr::V6(v6) => Some(v6.to_ipv4_mapped().map_or(IpAddr::V6(v6), IpAddr::V4)),
        v4 => Some(v4),
    }
}

fn is_ipv6(value: &str) -> bool {
    matches!(parse_ip(value), Some(IpAddr::V6(_)))
}

/// Checks an IP address, IPv4 or IPv6.
pub fn is_valid_ip(value: &str) -> Vec<String> {
    match parse_ip(value) {
        Some(_) => Vec::new(),
        None => vec!["must be a valid IP address, (e.g. 10.9.8.7 or 2001:db8::ffff)".to_string()],
    }
}

/// Checks an IPv4 address.
pub fn is_valid_ipv4(value: &str) -> Vec<String> {
    match parse_ip(value) {
        Some(IpAddr::V4(_)) => Vec::new(),
        _ => vec!["must be a valid IPv4 address".to_string()],
    }
}

/// Checks an IPv6 address.
pub fn is_valid_ipv6(value: &str) -> Vec<String> {
    match parse_ip(value) {
        Some(IpAddr::V6(_)) => Vec::new(),
        _ => vec!["must be a valid IPv6 address".to_string()],
    }
}

/// Checks a CIDR (`10.0.0.0/8`, `2001:db8::/64`); host bits may be set, as Go's parser allows.
pub fn is_valid_cidr(value: &str) -> Vec<String> {
    let ok = value.split_once('/').is_some_and(|(ip, bits)| {
        let max = match ip.parse::<IpAddr>() {
            Ok(IpAddr::V4(_)) => 32,
            Ok(IpAddr::V6(_)) => 128,
            Err(_) => return false,
        };
        !bits.is_empty()
            && bits.bytes().all(|b| b.is_ascii_digit())
            && bits.parse::<u8>().is_ok_and(|b| b <= max)
    });
    if ok {
        Vec::new()
    } else {
        vec!["must be a valid CIDR value, (e.g. 10.9.8.0/24 or 2001:db8::/64)".to_string()]
    }
}

/// Pushes an error for an IP that may not be a Service's external IP or an endpoint: the
/// unspecified address, loopback, and link-local unicast or multicast
/// (pkg/apis/core/validation: `ValidateNonSpecialIP`). `ip` must already be valid.
pub fn validate_non_special_ip(errs: &mut ErrorList, path: &FieldPath, ip: &str) {
    let Some(addr) = parse_ip(ip) else {
        errs.push(FieldError::invalid(path, ip, "must be a valid IP address"));
        return;
    };
    let (unspecified, loopback, link_local, link_local_multicast) = match addr {
        IpAddr::V4(a) => (
            a == Ipv4Addr::UNSPECIFIED,
            a.is_loopback(),
            a.is_link_local(),
            a.octets()[..3] == [224, 0, 0],
        ),
        IpAddr::V6(a) => {
            let s = a.segments();
            (
                a == Ipv6Addr::UNSPECIFIED,
                a.is_loopback(),
                s[0] & 0xffc0 == 0xfe80,
                s[0] & 0xff0f == 0xff02,
            )
        }
    };
    if unspecified {
        errs.push(FieldError::invalid(
            path,
            ip,
            format!("may not be unspecified ({ip})"),
        ));
    }
    if loopback {
        errs.push(FieldError::invalid(
            path,
            ip,
            "may not be in the loopback range (127.0.0.0/8, ::1/128)",
        ));
    }
    if link_local {
        errs.push(FieldError::invalid(
            path,
            ip,
            "may not be in the link-local range (169.254.0.0/16, fe80::/10)",
        ));
    }
    if link_local_multicast {
        errs.push(FieldError::invalid(
            path,
            ip,
            "may not be in the link-local multicast range (224.0.0.0/24, ff02::/10)",
        ));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::config_map::tests::valid_docs_of_kind;

    fn text(errs: &ErrorList) -> Vec<String> {
        errs.iter().map(ToString::to_string).collect()
    }

    fn parse(yaml: &str) -> Service {
        let mut svc: Service = serde_yaml::from_str(yaml).expect("decodes");
        svc.set_defaults();
        svc
    }

    fn service(r#type: ServiceType, ports: &[(Option<&str>, i32)]) -> Service {
        let mut svc = Service {
            metadata: crate::meta::ObjectMeta::named("shop", "web"),
            ..Service::default()
        };
        svc.spec.r#type = r#type;
        svc.spec.selector.insert("app".into(), "web".into());
        svc.spec.ports = ports
            .iter()
            .map(|(name, port)| ServicePort {
                name: name.map(str::to_string),
                port: *port,
                ..ServicePort::default()
            })
            .collect();
        svc.set_defaults();
        svc
    }

    #[test]
    fn reads_a_service_and_applies_defaults() {
        let svc = parse(
            r#"
metadata: {name: web, namespace: shop}
spec:
  selector: {app: web}
  ports:
    - name: http
      port: 80
      targetPort: http
    - name: metrics
      port: 9090
"#,
        );
        assert_eq!(svc.spec.r#type, ServiceType::ClusterIP);
        assert_eq!(svc.spec.session_affinity, ServiceAffinity::None);
        assert_eq!(svc.spec.ports[0].protocol, Protocol::Tcp);
        assert_eq!(
            svc.spec.ports[0].target_port,
            Some(IntOrString::String("http".into()))
        );
        assert_eq!(svc.spec.ports[1].target_port, Some(IntOrString::Int(9090)));
        assert_eq!(
            svc.spec.internal_traffic_policy,
            Some(ServiceInternalTrafficPolicy::Cluster)
        );
        assert_eq!(svc.spec.external_traffic_policy, None);
        assert_eq!(svc.spec.allocate_load_balancer_node_ports, None);
        assert!(svc.validate().is_empty(), "{:?}", svc.validate());
        let json = serde_json::to_value(&svc).expect("serializes");
        assert_eq!(json["spec"]["type"], "ClusterIP");
        assert_eq!(json["spec"]["ports"][0]["protocol"], "TCP");
        assert!(json.get("status").is_none());
    }

    #[test]
    fn defaults_depend_on_the_type() {
        let svc = parse("spec: {type: LoadBalancer, ports: [{port: 443}]}\nstatus: {loadBalancer: {ingress: [{ip: 203.0.113.7}]}}");
        assert_eq!(
            svc.spec.external_traffic_policy,
            Some(ServiceExternalTrafficPolicy::Cluster)
        );
        assert_eq!(svc.spec.allocate_load_balancer_node_ports, Some(true));
        assert_eq!(
            svc.status.load_balancer.ingress[0].ip_mode,
            Some(LoadBalancerIpMode::Vip)
        );
        let svc = parse("spec: {type: NodePort, ports: [{port: 80}]}");
        assert_eq!(
            svc.spec.external_traffic_policy,
            Some(ServiceExternalTrafficPolicy::Cluster)
        );
        assert_eq!(svc.spec.allocate_load_balancer_node_ports, None);
        let svc = parse("spec: {type: ExternalName, externalName: db.example.com}");
        assert_eq!(svc.spec.internal_traffic_policy, None);
        assert_eq!(svc.spec.external_traffic_policy, None);
        let svc = parse("spec: {externalIPs: [198.51.100.10], ports: [{port: 80}]}");
        assert_eq!(
            svc.spec.external_traffic_policy,
            Some(ServiceExternalTrafficPolicy::Cluster)
        );
        let svc = parse("spec: {clusterIP: 10.96.0.10, ports: [{port: 53, protocol: UDP}]}");
        assert_eq!(svc.spec.cluster_ips, vec!["10.96.0.10"]);
        assert_eq!(svc.spec.ports[0].protocol, Protocol::Udp);
    }

    #[test]
    fn client_ip_affinity_gets_a_timeout() {
        let svc = parse("spec: {sessionAffinity: ClientIP, ports: [{port: 80}]}");
        let timeout = svc
            .spec
            .session_affinity_config
            .as_ref()
            .and_then(|c| c.client_ip.as_ref()?.timeout_seconds);
        assert_eq!(timeout, Some(DEFAULT_CLIENT_IP_AFFINITY_SECONDS));
        let svc = parse("spec: {sessionAffinity: ClientIP, sessionAffinityConfig: {clientIP: {timeoutSeconds: 60}}, ports: [{port: 80}]}");
        let timeout = svc
            .spec
            .session_affinity_config
            .as_ref()
            .and_then(|c| c.client_ip.as_ref()?.timeout_seconds);
        assert_eq!(timeout, Some(60));
        let svc = parse(
            "spec: {sessionAffinityConfig: {clientIP: {timeoutSeconds: 60}}, ports: [{port: 80}]}",
        );
        assert_eq!(
            svc.spec.session_affinity_config, None,
            "dropped when affinity is None"
        );

        let mut svc = service(ServiceType::ClusterIP, &[(None, 80)]);
        svc.spec.session_affinity = ServiceAffinity::ClientIP;
        svc.spec.session_affinity_config = Some(SessionAffinityConfig {
            client_ip: Some(ClientIPConfig {
                timeout_seconds: Some(86_401),
            }),
        });
        assert_eq!(
            text(&svc.validate()),
            vec!["spec.sessionAffinityConfig.clientIP.timeoutSeconds: Invalid value: 86401: must be greater than 0 and less than 86400"]
        );
        svc.spec.session_affinity_config = Some(SessionAffinityConfig { client_ip: None });
        assert_eq!(
            text(&svc.validate()),
            vec!["spec.sessionAffinityConfig.clientIP: Required value: when session affinity type is ClientIP"]
        );
        svc.spec.session_affinity = ServiceAffinity::None;
        assert_eq!(
            text(&svc.validate()),
            vec!["spec.sessionAffinityConfig: Forbidden: must not be set when session affinity is None"]
        );
    }

    #[test]
    fn ports_are_required_except_for_external_name_and_headless() {
        let svc = service(ServiceType::ClusterIP, &[]);
        assert_eq!(text(&svc.validate()), vec!["spec.ports: Required value"]);
        let mut svc = service(ServiceType::ClusterIP, &[]);
        svc.spec.cluster_ip = Some("None".into());
        svc.set_defaults();
        assert!(svc.is_headless());
        assert!(svc.validate().is_empty(), "{:?}", svc.validate());
        let mut svc = service(ServiceType::ExternalName, &[]);
        svc.spec.selector.clear();
        svc.spec.external_name = Some("db.example.com.".into());
        assert!(svc.validate().is_empty(), "{:?}", svc.validate());
    }

    #[test]
    fn port_rules() {
        let svc = service(
            ServiceType::ClusterIP,
            &[(None, 80), (Some("metrics"), 0), (Some("metrics"), 70000)],
        );
        assert_eq!(
            text(&svc.validate()),
            vec![
                "spec.ports[0].name: Required value",
                "spec.ports[1].port: Invalid value: 0: must be between 1 and 65535, inclusive",
                "spec.ports[1].targetPort: Invalid value: 0: must be between 1 and 65535, inclusive",
                "spec.ports[2].name: Duplicate value: \"metrics\"",
                "spec.ports[2].port: Invalid value: 70000: must be between 1 and 65535, inclusive",
                "spec.ports[2].targetPort: Invalid value: 70000: must be between 1 and 65535, inclusive",
            ]
        );
        let mut svc = service(
            ServiceType::ClusterIP,
            &[(Some("Web"), 80), (Some("web"), 80)],
        );
        svc.spec.ports[0].target_port = Some(IntOrString::String("http--alt".into()));
        svc.spec.ports[1].app_protocol = Some("kubernetes.io/h2c".into());
        let errs = text(&svc.validate());
        assert_eq!(errs.len(), 3, "{errs:?}");
        assert!(errs[0]
            .starts_with("spec.ports[0].name: Invalid value: \"Web\": a lowercase RFC 1123 label"));
        assert_eq!(errs[1], "spec.ports[0].targetPort: Invalid value: \"http--alt\": must not contain consecutive hyphens");
        assert_eq!(errs[2], "spec.ports[1]: Duplicate value: \"80/TCP\"");
        let mut svc = service(
            ServiceType::ClusterIP,
            &[(Some("dns"), 53), (Some("dns-tcp"), 53)],
        );
        svc.spec.ports[0].protocol = Protocol::Udp;
        assert!(svc.validate().is_empty(), "same port, different protocols");
    }

    #[test]
    fn node_ports_only_where_the_type_opens_them() {
        let mut svc = service(ServiceType::ClusterIP, &[(None, 80)]);
        svc.spec.ports[0].node_port = Some(30080);
        assert_eq!(
            text(&svc.validate()),
            vec!["spec.ports[0].nodePort: Forbidden: may not be used when `type` is 'ClusterIP'"]
        );
        let mut svc = service(
            ServiceType::NodePort,
            &[(Some("http"), 80), (Some("https"), 443)],
        );
        svc.spec.ports[0].node_port = Some(8080);
        svc.spec.ports[1].node_port = Some(8080);
        assert_eq!(
            text(&svc.validate()),
            vec![
                "spec.ports[0].nodePort: Invalid value: 8080: provided port is not in the valid range. The range of valid ports is 30000-32767",
                "spec.ports[1].nodePort: Invalid value: 8080: provided port is not in the valid range. The range of valid ports is 30000-32767",
                "spec.ports[1].nodePort: Duplicate value: 8080",
            ]
        );
        svc.spec.ports[0].node_port = Some(30080);
        svc.spec.ports[1].node_port = Some(30443);
        assert!(svc.validate().is_empty());
    }

    #[test]
    fn cluster_ip_rules() {
        let mut svc = service(ServiceType::ClusterIP, &[(None, 80)]);
        svc.spec.cluster_ip = Some("10.96.0.300".into());
        svc.set_defaults();
        assert_eq!(
            text(&svc.validate()),
            vec!["spec.clusterIPs[0]: Invalid value: \"10.96.0.300\": must be a valid IP address, (e.g. 10.9.8.7 or 2001:db8::ffff)"]
        );
        svc.spec.cluster_ip = Some("10.96.0.30".into());
        svc.spec.cluster_ips = vec!["10.96.0.31".into()];
        assert_eq!(
            text(&svc.validate()),
            vec!["spec.clusterIPs: Invalid value: [\"10.96.0.31\"]: first value must match `clusterIP`"]
        );
        svc.spec.cluster_ips = vec!["10.96.0.30".into(), "10.96.0.31".into()];
        assert_eq!(
            text(&svc.validate()),
            vec!["spec.clusterIPs: Invalid value: [\"10.96.0.30\", \"10.96.0.31\"]: may specify no more than one IP for each IP family"]
        );
        svc.spec.cluster_ips = vec!["10.96.0.30".into(), "fd00::30".into()];
        svc.spec.ip_families = vec![IpFamily::IPv6, IpFamily::IPv4];
        assert_eq!(
            text(&svc.validate()),
            vec![
                "spec.clusterIPs[0]: Invalid value: \"10.96.0.30\": expected an IPv6 value as indicated by `ipFamilies[0]`",
                "spec.clusterIPs[1]: Invalid value: \"fd00::30\": expected an IPv4 value as indicated by `ipFamilies[1]`",
            ]
        );
        svc.spec.ip_families = vec![IpFamily::IPv4, IpFamily::IPv6];
        svc.spec.ip_family_policy = Some(IpFamilyPolicy::RequireDualStack);
        assert!(svc.validate().is_empty(), "{:?}", svc.validate());
        svc.spec.cluster_ip = None;
        assert_eq!(
            text(&svc.validate()),
            vec!["spec.clusterIPs: Invalid value: [\"10.96.0.30\", \"fd00::30\"]: must be empty when `clusterIP` is not specified"]
        );

        let mut svc = service(ServiceType::NodePort, &[(None, 80)]);
        svc.spec.cluster_ip = Some("None".into());
        svc.set_defaults();
        assert_eq!(
            text(&svc.validate()),
            vec!["spec.clusterIPs[0]: Invalid value: \"None\": may not be set to 'None' for NodePort services"]
        );
    }

    #[test]
    fn external_name_rules() {
        let mut svc = service(ServiceType::ExternalName, &[]);
        svc.spec.cluster_ip = Some("10.96.0.10".into());
        svc.spec.ip_family_policy = Some(IpFamilyPolicy::SingleStack);
        svc.spec.external_name = Some("Not_A_Name".into());
        let errs = text(&svc.validate());
        assert_eq!(errs.len(), 3, "{errs:?}");
        assert_eq!(
            errs[0],
            "spec.clusterIPs: Forbidden: may not be set for ExternalName services"
        );
        assert_eq!(
            errs[1],
            "spec.ipFamilyPolicy: Forbidden: may not be set for ExternalName services"
        );
        assert!(errs[2].starts_with(
            "spec.externalName: Invalid value: \"Not_A_Name\": a lowercase RFC 1123 subdomain"
        ));
        svc.spec.cluster_ip = None;
        svc.spec.cluster_ips.clear();
        svc.spec.ip_family_policy = None;
        svc.spec.external_name = None;
        assert_eq!(
            text(&svc.validate()),
            vec!["spec.externalName: Required value"]
        );
    }

    #[test]
    fn load_balancer_fields_need_a_load_balancer() {
        let mut svc = service(ServiceType::ClusterIP, &[(None, 80)]);
        svc.spec.load_balancer_source_ranges = vec!["10.0.0.0/8".into(), " 192.168.0.0/33".into()];
        svc.spec.allocate_load_balancer_node_ports = Some(false);
        svc.spec.load_balancer_class = Some("example.com/lb".into());
        svc.spec.external_traffic_policy = Some(ServiceExternalTrafficPolicy::Local);
        svc.spec.health_check_node_port = Some(30999);
        assert_eq!(
            text(&svc.validate()),
            vec![
                "spec.loadBalancerSourceRanges: Forbidden: may only be used when `type` is 'LoadBalancer'",
                "spec.loadBalancerSourceRanges[1]: Invalid value: \"192.168.0.0/33\": must be a valid CIDR value, (e.g. 10.9.8.0/24 or 2001:db8::/64)",
                "spec.allocateLoadBalancerNodePorts: Forbidden: may only be used when `type` is 'LoadBalancer'",
                "spec.loadBalancerClass: Forbidden: may only be used when `type` is 'LoadBalancer'",
                "spec.externalTrafficPolicy: Invalid value: \"Local\": may only be set for externally-accessible services",
                "spec.healthCheckNodePort: Invalid value: 30999: may only be set when `type` is 'LoadBalancer' and `externalTrafficPolicy` is 'Local'",
            ]
        );
        let mut svc = service(ServiceType::LoadBalancer, &[(None, 80)]);
        svc.spec.load_balancer_source_ranges = vec!["10.0.0.0/8".into(), "2001:db8::/64".into()];
        svc.spec.external_traffic_policy = Some(ServiceExternalTrafficPolicy::Local);
        svc.spec.health_check_node_port = Some(30999);
        svc.spec.load_balancer_class = Some("example.com/internal-vip".into());
        assert!(svc.validate().is_empty(), "{:?}", svc.validate());
    }

    #[test]
    fn external_ips_must_be_routable() {
        let mut svc = service(ServiceType::ClusterIP, &[(None, 80)]);
        svc.spec.external_ips = vec![
            "198.51.100.7".into(),
            "127.0.0.1".into(),
            "fe80::1".into(),
            "0.0.0.0".into(),
            "nope".into(),
        ];
        svc.set_defaults();
        assert_eq!(
            text(&svc.validate()),
            vec![
                "spec.externalIPs[1]: Invalid value: \"127.0.0.1\": may not be in the loopback range (127.0.0.0/8, ::1/128)",
                "spec.externalIPs[2]: Invalid value: \"fe80::1\": may not be in the link-local range (169.254.0.0/16, fe80::/10)",
                "spec.externalIPs[3]: Invalid value: \"0.0.0.0\": may not be unspecified (0.0.0.0)",
                "spec.externalIPs[4]: Invalid value: \"nope\": must be a valid IP address, (e.g. 10.9.8.7 or 2001:db8::ffff)",
            ]
        );
    }

    #[test]
    fn traffic_policies_are_required_after_defaulting() {
        let mut svc = service(ServiceType::NodePort, &[(None, 80)]);
        svc.spec.external_traffic_policy = None;
        svc.spec.internal_traffic_policy = None;
        assert_eq!(
            text(&svc.validate()),
            vec![
                "spec.externalTrafficPolicy: Required value",
                "spec.internalTrafficPolicy: Required value"
            ]
        );
        let mut svc = service(ServiceType::LoadBalancer, &[(None, 80)]);
        svc.spec.allocate_load_balancer_node_ports = None;
        assert_eq!(
            text(&svc.validate()),
            vec!["spec.allocateLoadBalancerNodePorts: Required value"]
        );
    }

    #[test]
    fn selector_and_name_syntax() {
        let mut svc = service(ServiceType::ClusterIP, &[(None, 80)]);
        svc.spec.selector.insert("tier".into(), "front end".into());
        svc.metadata.name = "1web".into();
        let errs = text(&svc.validate());
        assert_eq!(errs.len(), 2, "{errs:?}");
        assert!(
            errs[0].starts_with("metadata.name: Invalid value: \"1web\": a DNS-1035 label"),
            "{errs:?}"
        );
        assert!(
            errs[1].starts_with("spec.selector[tier]: Invalid value: \"front end\""),
            "{errs:?}"
        );
    }

    #[test]
    fn named_target_ports_resolve_per_pod() {
        let svc = parse("spec: {ports: [{name: http, port: 80, targetPort: web}, {name: dns, port: 53, protocol: UDP, targetPort: dns}, {name: raw, port: 81}]}");
        let pod_ports = [("web", Protocol::Tcp, 8080), ("dns", Protocol::Tcp, 5353)];
        assert_eq!(svc.spec.ports[0].resolve_target_port(pod_ports), Some(8080));
        assert_eq!(
            svc.spec.ports[1].resolve_target_port(pod_ports),
            None,
            "protocol must match"
        );
        assert_eq!(svc.spec.ports[2].resolve_target_port(pod_ports), Some(81));
        assert_eq!(
            svc.spec.ports[2].resolve_target_port([]),
            Some(81),
            "numeric ports need no declaration"
        );
        assert_eq!(svc.spec.port_named(Some("dns")).map(|p| p.port), Some(53));
    }

    #[test]
    fn cluster_ips_are_immutable() {
        let mut old = service(ServiceType::ClusterIP, &[(None, 80)]);
        old.spec.cluster_ip = Some("10.96.0.10".into());
        old.spec.cluster_ips = vec!["10.96.0.10".into()];
        old.spec.ip_families = vec![IpFamily::IPv4];
        let mut new = old.clone();
        new.spec.cluster_ip = Some("10.96.0.11".into());
        new.spec.cluster_ips = vec!["10.96.0.11".into()];
        assert_eq!(
            text(&new.validate_update(&old)),
            vec!["spec.clusterIPs[0]: Invalid value: [\"10.96.0.11\"]: may not change once set"]
        );
        // Adding a secondary IP is an upgrade to dual-stack; releasing it needs SingleStack.
        let mut dual = old.clone();
        dual.spec.cluster_ips.push("fd00::10".into());
        dual.spec.ip_families.push(IpFamily::IPv6);
        assert!(dual.validate_update(&old).is_empty());
        assert_eq!(
            text(&old.validate_update(&dual)),
            vec![
                "spec.ipFamilyPolicy: Invalid value: None: must be set to 'SingleStack' when releasing the secondary clusterIP",
                "spec.ipFamilyPolicy: Invalid value: None: must be set to 'SingleStack' when releasing the secondary ipFamily",
            ]
        );
        let mut unset = old.clone();
        unset.spec.cluster_ip = None;
        unset.spec.cluster_ips.clear();
        assert_eq!(
            text(&unset.validate_update(&old))[0],
            "spec.clusterIPs[0]: Invalid value: []: primary clusterIP can not be unset"
        );
        // ...but an update that merely omits it keeps the allocated one.
        unset.patch_allocated_values(&old);
        assert!(unset.validate_update(&old).is_empty());
        // Moving to ExternalName releases the IP.
        let mut alias = old.clone();
        alias.spec.r#type = ServiceType::ExternalName;
        alias.spec.cluster_ip = None;
        alias.spec.cluster_ips.clear();
        alias.spec.ip_families.clear();
        alias.spec.external_name = Some("web.example.com".into());
        assert!(alias.validate_update(&old).is_empty());
        // Headless stays headless.
        let mut headless = old.clone();
        headless.spec.cluster_ip = Some("None".into());
        headless.spec.cluster_ips = vec!["None".into()];
        assert_eq!(text(&headless.validate_update(&old)).len(), 1);
    }

    #[test]
    fn allocated_node_ports_survive_a_reapply() {
        let mut old = service(
            ServiceType::NodePort,
            &[(Some("http"), 80), (Some("https"), 443)],
        );
        old.spec.ports[0].node_port = Some(30080);
        old.spec.ports[1].node_port = Some(30443);
        let mut new = service(
            ServiceType::NodePort,
            &[(Some("https"), 443), (Some("http"), 8080)],
        );
        new.spec.ports[0].node_port = Some(30080); // reuses http's old port: http may not get it
        new.patch_allocated_values(&old);
        assert_eq!(new.spec.ports[0].node_port, Some(30080));
        assert_eq!(new.spec.ports[1].node_port, None);
        let mut lb = service(ServiceType::LoadBalancer, &[(Some("http"), 80)]);
        lb.spec.external_traffic_policy = Some(ServiceExternalTrafficPolicy::Local);
        let mut old_lb = lb.clone();
        old_lb.spec.health_check_node_port = Some(31000);
        old_lb.spec.ports[0].node_port = Some(30080);
        lb.patch_allocated_values(&old_lb);
        assert_eq!(lb.spec.health_check_node_port, Some(31000));
        assert_eq!(lb.spec.ports[0].node_port, Some(30080));
        lb.spec.health_check_node_port = Some(31001);
        assert_eq!(
            text(&lb.validate_update(&old_lb)),
            vec!["spec.healthCheckNodePort: Forbidden: field is immutable"]
        );
    }

    #[test]
    fn load_balancer_status() {
        let mut svc = service(ServiceType::LoadBalancer, &[(None, 80)]);
        svc.status.load_balancer.ingress = vec![
            LoadBalancerIngress {
                ip: Some("203.0.113.7".into()),
                ..Default::default()
            },
            LoadBalancerIngress {
                hostname: Some("10.0.0.1".into()),
                ip_mode: Some(LoadBalancerIpMode::Proxy),
                ..Default::default()
            },
        ];
        assert_eq!(
            text(&svc.validate_status()),
            vec![
                "status.loadBalancer.ingress[0].ipMode: Required value: must be specified when `ip` is set",
                "status.loadBalancer.ingress[1].ipMode: Forbidden: may not be specified when `ip` is not set",
                "status.loadBalancer.ingress[1].hostname: Invalid value: \"10.0.0.1\": must be a DNS name, not an IP address",
            ]
        );
        svc.set_defaults();
        svc.status.load_balancer.ingress[1] = LoadBalancerIngress {
            hostname: Some("lb.example.com".into()),
            ..Default::default()
        };
        assert!(svc.validate_status().is_empty());
        svc.spec.r#type = ServiceType::ClusterIP;
        assert_eq!(
            text(&svc.validate_status()),
            vec!["status.loadBalancer.ingress: Forbidden: may only be used when `spec.type` is 'LoadBalancer'"]
        );
    }

    #[test]
    fn ip_and_cidr_syntax() {
        assert!(is_valid_ip("10.1.2.3").is_empty());
        assert!(is_valid_ip("2001:db8::1").is_empty());
        assert!(!is_valid_ip("10.01.2.3").is_empty());
        assert!(!is_valid_ip("").is_empty());
        assert!(
            is_valid_ipv4("::ffff:10.1.2.3").is_empty(),
            "IPv4-mapped counts as IPv4"
        );
        assert!(!is_valid_ipv6("10.1.2.3").is_empty());
        assert!(is_valid_cidr("10.0.0.0/8").is_empty());
        assert!(is_valid_cidr("10.0.0.1/32").is_empty());
        assert!(is_valid_cidr("2001:db8::/64").is_empty());
        for bad in [
            "10.0.0.0",
            "10.0.0.0/",
            "10.0.0.0/+8",
            "2001:db8::/129",
            "x/8",
        ] {
            assert!(!is_valid_cidr(bad).is_empty(), "{bad}");
        }
        let mut errs = ErrorList::new();
        validate_non_special_ip(&mut errs, &FieldPath::new("ip"), "224.0.0.251");
        validate_non_special_ip(&mut errs, &FieldPath::new("ip"), "ff02::fb");
        validate_non_special_ip(&mut errs, &FieldPath::new("ip"), "::1");
        validate_non_special_ip(&mut errs, &FieldPath::new("ip"), "169.254.169.254");
        validate_non_special_ip(&mut errs, &FieldPath::new("ip"), "224.0.1.1");
        assert_eq!(errs.len(), 4, "{errs:?}");
    }

    #[test]
    fn example_manifest_is_valid() {
        let services: Vec<Service> =
            valid_docs_of_kind(include_str!("../../../examples/manifests/service.yaml"));
        let web = services
            .iter()
            .find(|s| s.metadata.name == "web")
            .expect("web");
        assert_eq!(web.metadata.namespace, "shop");
        assert_eq!(web.spec.r#type, ServiceType::ClusterIP);
        assert_eq!(
            web.spec.selector.get("app").map(String::as_str),
            Some("web")
        );
        assert_eq!(
            web.spec.ports[0].target_port,
            Some(IntOrString::String("http".into()))
        );
        assert!(services
            .iter()
            .any(|s| s.spec.r#type == ServiceType::NodePort));
        assert!(services
            .iter()
            .any(|s| s.spec.r#type == ServiceType::LoadBalancer));
        let db = services
            .iter()
            .find(|s| s.metadata.name == "db")
            .expect("db");
        assert!(db.is_headless());
    }
}
