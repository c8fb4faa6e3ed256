//! EndpointSlice (discovery.k8s.io/v1): a slice of the network endpoints behind a Service — pod
//! addresses with their readiness, node and zone, and the ports they serve.
//!
//! The endpoints controller writes one or more slices per Service, labelled
//! [`LABEL_SERVICE_NAME`]; the proxy reads them to route Service traffic. A slice holds one
//! address family ([`AddressType`]), at most [`MAX_ENDPOINTS`] endpoints and [`MAX_PORTS`] ports.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use crate::api::persistent_volume::ObjectReference;
use crate::api::pod::Protocol;
use crate::api::service::{is_valid_ipv4, is_valid_ipv6, validate_non_special_ip};
use crate::meta::{is_default, validate_labels, ObjectMeta};
use crate::validation::{
    check_syntax, is_dns1123_label, is_dns1123_subdomain, is_label_value, is_qualified_name,
    ErrorList, FieldError, FieldPath, SetDefaults, Validate,
};

/// The label naming the Service a slice belongs to.
pub const LABEL_SERVICE_NAME: &str = "kubernetes.io/service-name";
/// The label naming the controller that manages a slice.
pub const LABEL_MANAGED_BY: &str = "endpointslice.kubernetes.io/managed-by";
/// The most endpoints one slice may hold.
pub const MAX_ENDPOINTS: usize = 1000;
/// The most addresses one endpoint may have.
pub const MAX_ADDRESSES: usize = 100;
/// The most ports one slice may list.
pub const MAX_PORTS: usize = 100;
/// The most zone (and node) hints one endpoint may carry.
pub const MAX_HINTS: usize = 8;
/// The most labels in an endpoint's `deprecatedTopology`.
pub const MAX_TOPOLOGY_LABELS: usize = 16;

/// An EndpointSlice.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EndpointSlice {
    /// Standard object metadata; `kubernetes.io/service-name` names the Service.
    #[serde(default)]
    pub metadata: ObjectMeta,
    /// The kind of addresses in the slice (required, immutable).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub address_type: Option<AddressType>,
    /// The endpoints (at most 1000).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub endpoints: Vec<Endpoint>,
    /// The ports every endpoint of the slice serves (at most 100). Empty means all ports, as for
    /// a headless Service without ports.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ports: Vec<EndpointPort>,
}

/// The kind of addresses in an [`EndpointSlice`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum AddressType {
    /// IPv4 addresses.
    IPv4,
    /// IPv6 addresses.
    IPv6,
    /// Fully qualified domain names.
    #[serde(rename = "FQDN")]
    Fqdn,
}

impl AddressType {
    /// The type as written in `addressType:`.
    pub fn as_str(self) -> &'static str {
        match self {
            AddressType::IPv4 => "IPv4",
            AddressType::IPv6 => "IPv6",
            AddressType::Fqdn => "FQDN",
        }
    }
}

/// One backend of a Service: usually one pod.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Endpoint {
    /// The endpoint's addresses (1 to 100), all of the slice's address type; consumers use the
    /// first one.
    #[serde(default)]
    pub addresses: Vec<String>,
    /// Readiness of the endpoint.
    #[serde(default, skip_serializing_if = "is_default")]
    pub conditions: EndpointConditions,
    /// A DNS label for the endpoint (a pod's `hostname`, for headless Services).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hostname: Option<String>,
    /// The object (usually the Pod) behind the endpoint.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target_ref: Option<ObjectReference>,
    /// Topology labels of the v1beta1 API, kept for compatibility.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub deprecated_topology: BTreeMap<String, String>,
    /// The node that hosts the endpoint.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub node_name: Option<String>,
    /// The zone the endpoint is in.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub zone: Option<String>,
    /// Where the endpoint should be consumed (topology-aware routing).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hints: Option<EndpointHints>,
}

/// The readiness of an [`Endpoint`]. Unset values are unknown; see the accessor methods of
/// [`Endpoint`] for how Kubernetes consumers read them.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EndpointConditions {
    /// Whether the endpoint should receive new traffic (false while terminating).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ready: Option<bool>,
    /// Whether the endpoint's readiness probe passes, whether or not it is terminating.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub serving: Option<bool>,
    /// Whether the endpoint is shutting down.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub terminating: Option<bool>,
}

/// Topology hints of an [`Endpoint`].
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EndpointHints {
    /// Zones whose clients should use this endpoint (at most 8).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub for_zones: Vec<ForZone>,
    /// Nodes whose clients should use this endpoint (at most 8).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub for_nodes: Vec<ForNode>,
}

/// A zone named in [`EndpointHints`].
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ForZone {
    /// The zone's name.
    pub name: String,
}

/// A node named in [`EndpointHints`].
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ForNode {
    /// The node's name.
    pub name: String,
}

/// A port served by the endpoints of an [`EndpointSlice`].
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EndpointPort {
    /// The name of the Service port this is; `""` by default (unique in the slice).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// The protocol; `TCP` by default.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub protocol: Option<Protocol>,
    /// The port number on the endpoints; unset means all ports.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub port: Option<i32>,
    /// The application protocol, copied from the Service port.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub app_protocol: Option<String>,
}

impl EndpointSlice {
    /// The name of the Service the slice belongs to (its `kubernetes.io/service-name` label).
    pub fn service_name(&self) -> Option<&str> {
        self.metadata
            .labels
            .get(LABEL_SERVICE_NAME)
            .map(String::as_str)
    }
}

impl Endpoint {
    /// Whether the endpoint should get new connections; an unknown state counts as ready, as
    /// Kubernetes tells consumers to read it.
    pub fn is_ready(&self) -> bool {
        self.conditions.ready != Some(false)
    }

    /// Whether the endpoint can serve (even while terminating); unknown falls back to
    /// [`Endpoint::is_ready`].
    pub fn is_serving(&self) -> bool {
        self.conditions.serving.unwrap_or_else(|| self.is_ready())
    }

    /// Whether the endpoint is terminating; unknown counts as not terminating.
    pub fn is_terminating(&self) -> bool {
        self.conditions.terminating == Some(true)
    }
}

impl SetDefaults for EndpointSlice {
    // pkg/apis/discovery/v1/defaults.go: SetDefaults_EndpointPort.
    fn set_defaults(&mut self) {
        for port in &mut self.ports {
            port.name.get_or_insert_with(String::new);
            port.protocol.get_or_insert(Protocol::Tcp);
        }
    }
}

/// Checks a fully qualified domain name (at least two DNS labels), as Kubernetes'
/// `IsFullyQualifiedDomainName` does; a trailing dot is allowed.
pub fn validate_fqdn(value: &str, path: &FieldPath) -> ErrorList {
    if value.is_empty() {
        return vec![FieldError::required(path, "")];
    }
    let name = value.strip_suffix('.').unwrap_or(value);
    let errs = is_dns1123_subdomain(name);
    if !errs.is_empty() {
        return vec![FieldError::invalid(path, name, errs.join(","))];
    }
    if name.split('.').count() < 2 {
        return vec![FieldError::invalid(
            path,
            name,
            "should be a domain with at least two segments separated by dots",
        )];
    }
    for label in name.split('.') {
        let errs = is_dns1123_label(label);
        if !errs.is_empty() {
            return vec![FieldError::invalid(path, label, errs.join(","))];
        }
    }
    Vec::new()
}

impl Validate for EndpointSlice {
    // pkg/apis/discovery/validation: ValidateEndpointSlice.
    fn validate(&self) -> ErrorList {
        let mut errs = ErrorList::new();
        if self.address_type.is_none() {
            errs.push(FieldError::required(&FieldPath::new("addressType"), ""));
        }
        errs.extend(self.validate_endpoints());
        errs.extend(self.validate_ports());
        errs
    }

    fn validate_update(&self, old: &Self) -> ErrorList {
        if self.address_type != old.address_type {
            let new = self.address_type.map_or("", AddressType::as_str);
            return vec![FieldError::invalid(
                &FieldPath::new("addressType"),
                new,
                "field is immutable",
            )];
        }
        Vec::new()
    }
}

impl EndpointSlice {
    fn validate_endpoints(&self) -> ErrorList {
        let mut errs = ErrorList::new();
        let path = FieldPath::new("endpoints");
        if self.endpoints.len() > MAX_ENDPOINTS {
            errs.push(FieldError::too_many(
                &path,
                self.endpoints.len(),
                MAX_ENDPOINTS,
            ));
            return errs;
        }
        for (i, endpoint) in self.endpoints.iter().enumerate() {
            let ep_path = path.index(i);
            let addr_path = ep_path.child("addresses");
            if endpoint.addresses.is_empty() {
                errs.push(FieldError::required(
                    &addr_path,
                    "must contain at least 1 address",
                ));
            } else if endpoint.addresses.len() > MAX_ADDRESSES {
                errs.push(FieldError::too_many(
                    &addr_path,
                    endpoint.addresses.len(),
                    MAX_ADDRESSES,
                ));
            }
            for (j, address) in endpoint.addresses.iter().enumerate() {
                let p = addr_path.index(j);
                match self.address_type {
                    Some(AddressType::IPv4) => {
                        check_syntax(&mut errs, &p, address, is_valid_ipv4);
                        validate_non_special_ip(&mut errs, &p, address);
                    }
                    Some(AddressType::IPv6) => {
                        check_syntax(&mut errs, &p, address, is_valid_ipv6);
                        validate_non_special_ip(&mut errs, &p, address);
                    }
                    Some(AddressType::Fqdn) => errs.extend(validate_fqdn(address, &p)),
                    None => {}
                }
            }
            if let Some(node) = &endpoint.node_name {
                check_syntax(
                    &mut errs,
                    &ep_path.child("nodeName"),
                    node,
                    is_dns1123_subdomain,
                );
            }
            let topology_path = ep_path.child("deprecatedTopology");
            if endpoint.deprecated_topology.len() > MAX_TOPOLOGY_LABELS {
                errs.push(FieldError::too_many(
                    &topology_path,
                    endpoint.deprecated_topology.len(),
                    MAX_TOPOLOGY_LABELS,
                ));
            }
            errs.extend(validate_labels(
                &endpoint.deprecated_topology,
                &topology_path,
            ));
            if let Some(hostname) = &endpoint.hostname {
                check_syntax(
                    &mut errs,
                    &ep_path.child("hostname"),
                    hostname,
                    is_dns1123_label,
                );
            }
            if let Some(hints) = &endpoint.hints {
                errs.extend(validate_hints(hints, &ep_path.child("hints")));
            }
        }
        errs
    }

    fn validate_ports(&self) -> ErrorList {
        let mut errs = ErrorList::new();
        let path = FieldPath::new("ports");
        if self.ports.len() > MAX_PORTS {
            errs.push(FieldError::too_many(&path, self.ports.len(), MAX_PORTS));
            return errs;
        }
        let mut names = BTreeSet::new();
        for (i, port) in self.ports.iter().enumerate() {
            let p = path.index(i);
            let name = port.name.as_deref().unwrap_or("");
            if !name.is_empty() {
                check_syntax(&mut errs, &p.child("name"), name, is_dns1123_label);
            }
            if !names.insert(name) {
                errs.push(FieldError::duplicate(&p.child("name"), name));
            }
            if port.protocol.is_none() {
                errs.push(FieldError::required(&p.child("protocol"), ""));
            }
            if let Some(app) = &port.app_protocol {
                check_syntax(&mut errs, &p.child("appProtocol"), app, is_qualified_name);
            }
        }
        errs
    }
}

fn validate_hints(hints: &EndpointHints, path: &FieldPath) -> ErrorList {
    let mut errs = ErrorList::new();
    let zones_path = path.child("forZones");
    if hints.for_zones.len() > MAX_HINTS {
        errs.push(FieldError::too_many(
            &zones_path,
            hints.for_zones.len(),
            MAX_HINTS,
        ));
    } else {
        let mut seen = BTreeSet::new();
        for (i, zone) in hints.for_zones.iter().enumerate() {
            let p = zones_path.index(i).child("name");
            if !seen.insert(zone.name.as_str()) {
                errs.push(FieldError::duplicate(&p, &zone.name));
            }
            check_syntax(&mut errs, &p, &zone.name, is_label_value);
        }
    }
    let nodes_path = path.child("forNodes");
    if hints.for_nodes.len() > MAX_HINTS {
        errs.push(FieldError::too_many(
            &nodes_path,
            hints.for_nodes.len(),
            MAX_HINTS,
        ));
    } else {
        let mut seen = BTreeSet::new();
        for (i, node) in hints.for_nodes.iter().enumerate() {
            let p = nodes_path.index(i).child("name");
            if !seen.insert(node.name.as_str()) {
                errs.push(FieldError::duplicate(&p, &node.name));
            }
            check_syntax(&mut errs, &p, &node.name, is_dns1123_subdomain);
        }
    }
    errs
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::config_map::tests::valid_docs_of_kind;

    fn text(errs: &ErrorList) -> Vec<String> {
        errs.iter().map(ToString::to_string).collect()
    }

    fn slice(address_type: AddressType, addresses: &[&str]) -> EndpointSlice {
        let mut s = EndpointSlice {
            address_type: Some(address_type),
            ..EndpointSlice::default()
        };
        s.endpoints.push(Endpoint {
            addresses: addresses.iter().map(|a| a.to_string()).collect(),
            ..Endpoint::default()
        });
        s
    }

    #[test]
    fn reads_a_slice_and_defaults_ports() {
        let yaml = r#"
metadata:
  name: web-abc12
  namespace: shop
  labels:
    kubernetes.io/service-name: web
addressType: IPv4
ports:
  - name: http
    port: 8080
  - port: 9090
    protocol: TCP
endpoints:
  - addresses: ["10.244.1.5"]
    conditions: {ready: true, serving: true, terminating: false}
    nodeName: node-1
    zone: us-east-1a
    targetRef: {kind: Pod, namespace: shop, name: web-7d4b9c-x2x8k, uid: 1f6a3c}
    hints: {forZones: [{name: us-east-1a}]}
  - addresses: ["10.244.2.9"]
    conditions: {ready: false, serving: true, terminating: true}
"#;
        let mut s: EndpointSlice = serde_yaml::from_str(yaml).expect("decodes");
        s.set_defaults();
        assert_eq!(s.service_name(), Some("web"));
        assert_eq!(s.ports[0].protocol, Some(Protocol::Tcp));
        assert_eq!(s.ports[1].name.as_deref(), Some(""));
        assert!(s.endpoints[0].is_ready());
        assert!(!s.endpoints[1].is_ready());
        assert!(s.endpoints[1].is_serving());
        assert!(s.endpoints[1].is_terminating());
        assert_eq!(
            s.endpoints[0].target_ref.as_ref().map(|r| r.name.as_str()),
            Some("web-7d4b9c-x2x8k")
        );
        assert!(s.validate().is_empty(), "{:?}", s.validate());
        let json = serde_json::to_value(&s).expect("serializes");
        assert_eq!(json["addressType"], "IPv4");
    }

    #[test]
    fn unknown_conditions_read_as_kubernetes_says() {
        let e = Endpoint::default();
        assert!(e.is_ready());
        assert!(e.is_serving());
        assert!(!e.is_terminating());
        let e = Endpoint {
            conditions: EndpointConditions {
                ready: Some(false),
                ..Default::default()
            },
            ..Endpoint::default()
        };
        assert!(!e.is_serving(), "serving falls back to ready");
    }

    #[test]
    fn address_type_is_required_and_immutable() {
        let s = EndpointSlice::default();
        assert_eq!(text(&s.validate()), vec!["addressType: Required value"]);
        let old = slice(AddressType::IPv4, &["10.0.0.1"]);
        let new = slice(AddressType::IPv6, &["fd00::1"]);
        assert_eq!(
            text(&new.validate_update(&old)),
            vec!["addressType: Invalid value: \"IPv6\": field is immutable"]
        );
        assert!(old.validate_update(&old).is_empty());
    }

    #[test]
    fn addresses_match_the_address_type() {
        let s = slice(
            AddressType::IPv4,
            &["10.0.0.1", "fd00::1", "127.0.0.1", "nope"],
        );
        assert_eq!(
            text(&s.validate()),
            vec![
                "endpoints[0].addresses[1]: Invalid value: \"fd00::1\": must be a valid IPv4 address",
                "endpoints[0].addresses[2]: Invalid value: \"127.0.0.1\": may not be in the loopback range (127.0.0.0/8, ::1/128)",
                "endpoints[0].addresses[3]: Invalid value: \"nope\": must be a valid IPv4 address",
                "endpoints[0].addresses[3]: Invalid value: \"nope\": must be a valid IP address",
            ]
        );
        let s = slice(AddressType::IPv6, &["fd00::1", "10.0.0.1"]);
        assert_eq!(
            text(&s.validate()),
            vec!["endpoints[0].addresses[1]: Invalid value: \"10.0.0.1\": must be a valid IPv6 address"]
        );
        let s = slice(
            AddressType::Fqdn,
            &["db.example.com.", "localhost", "Bad.example.com"],
        );
        let errs = text(&s.validate());
        assert_eq!(errs.len(), 2, "{errs:?}");
        assert_eq!(
            errs[0],
            "endpoints[0].addresses[1]: Invalid value: \"localhost\": should be a domain with at least two segments separated by dots"
        );
        assert!(errs[1].starts_with("endpoints[0].addresses[2]: Invalid value: \"Bad.example.com\": a lowercase RFC 1123 subdomain"));
    }

    #[test]
    fn address_counts_are_bounded() {
        let s = slice(AddressType::IPv4, &[]);
        assert_eq!(
            text(&s.validate()),
            vec!["endpoints[0].addresses: Required value: must contain at least 1 address"]
        );
        let many: Vec<String> = (0..101)
            .map(|i| format!("10.0.{}.{}", i / 200, i % 200 + 1))
            .collect();
        let refs: Vec<&str> = many.iter().map(String::as_str).collect();
        let s = slice(AddressType::IPv4, &refs);
        assert_eq!(
            text(&s.validate()),
            vec!["endpoints[0].addresses: Too many: 101: must have at most 100 items"]
        );
        let mut s = slice(AddressType::IPv4, &["10.0.0.1"]);
        s.endpoints = vec![s.endpoints[0].clone(); 1001];
        assert_eq!(
            text(&s.validate()),
            vec!["endpoints: Too many: 1001: must have at most 1000 items"]
        );
        let mut s = slice(AddressType::IPv4, &["10.0.0.1"]);
        s.ports = (0..101)
            .map(|i| EndpointPort {
                name: Some(format!("p{i}")),
                ..Default::default()
            })
            .collect();
        s.set_defaults();
        assert_eq!(
            text(&s.validate()),
            vec!["ports: Too many: 101: must have at most 100 items"]
        );
    }

    #[test]
    fn endpoint_fields() {
        let mut s = slice(AddressType::IPv4, &["10.0.0.1"]);
        let e = &mut s.endpoints[0];
        e.hostname = Some("web_0".into());
        e.node_name = Some("Node-1".into());
        e.hints = Some(EndpointHints {
            for_zones: vec![
                ForZone {
                    name: "zone-a".into(),
                },
                ForZone {
                    name: "zone-a".into(),
                },
            ],
            for_nodes: vec![ForNode {
                name: "node-1".into(),
            }],
        });
        let errs = text(&s.validate());
        assert_eq!(errs.len(), 3, "{errs:?}");
        assert!(
            errs[0].starts_with("endpoints[0].nodeName: Invalid value: \"Node-1\""),
            "{errs:?}"
        );
        assert!(
            errs[1].starts_with("endpoints[0].hostname: Invalid value: \"web_0\""),
            "{errs:?}"
        );
        assert_eq!(
            errs[2],
            "endpoints[0].hints.forZones[1].name: Duplicate value: \"zone-a\""
        );
        let e = &mut s.endpoints[0];
        e.hostname = None;
        e.node_name = None;
        e.hints = Some(EndpointHints {
            for_zones: (0..9)
                .map(|i| ForZone {
                    name: format!("z{i}"),
                })
                .collect(),
            for_nodes: vec![],
        });
        assert_eq!(
            text(&s.validate()),
            vec!["endpoints[0].hints.forZones: Too many: 9: must have at most 8 items"]
        );
    }

    #[test]
    fn port_rules() {
        let mut s = slice(AddressType::IPv4, &["10.0.0.1"]);
        s.ports = vec![
            EndpointPort {
                port: Some(80),
                ..Default::default()
            },
            EndpointPort {
                port: Some(81),
                ..Default::default()
            },
            EndpointPort {
                name: Some("HTTP".into()),
                app_protocol: Some("-h2c".into()),
                ..Default::default()
            },
        ];
        assert_eq!(
            text(&s.validate()),
            vec![
                "ports[0].protocol: Required value",
                "ports[1].name: Duplicate value: \"\"",
                "ports[1].protocol: Required value",
                "ports[2].name: Invalid value: \"HTTP\": a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')",
                "ports[2].protocol: Required value",
                "ports[2].appProtocol: Invalid value: \"-h2c\": name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')",
            ]
        );
        s.set_defaults();
        assert_eq!(
            text(&s.validate()).len(),
            3,
            "defaulting fills the protocols only"
        );
    }

    #[test]
    fn example_manifest_is_valid() {
        let slices: Vec<EndpointSlice> = valid_docs_of_kind(include_str!(
            "../../../examples/manifests/endpoint-slice.yaml"
        ));
        assert!(!slices.is_empty());
        assert!(slices.iter().all(|s| s.service_name().is_some()));
    }
}
