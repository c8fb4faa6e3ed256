//! Node (core/v1 `Node`): a machine that runs pods — its taints and schedulability (`spec`) and
//! what the kubelet reports about it (`status`: capacity, allocatable resources, conditions,
//! addresses, images, system information).
//!
//! Defaulting and validation follow the API server (pkg/apis/core/v1/defaults.go,
//! pkg/apis/core/validation, v1.34). [`Node::is_ready`] and [`Node::allocatable`] are the views
//! the scheduler and the node lifecycle controller need.

use serde::{Deserialize, Serialize};

use crate::api::pod::ConditionStatus;
use crate::meta::{is_default, ObjectMeta};
use crate::quantity::ResourceList;
use crate::time::Time;
use crate::validation::{
    check_syntax, is_label_value, is_qualified_name, ErrorList, FieldError, FieldPath, SetDefaults,
    Validate,
};

/// A node of the cluster.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Node {
    /// Standard object metadata; the name is the node's name.
    #[serde(default)]
    pub metadata: ObjectMeta,
    /// The desired state: taints and schedulability.
    #[serde(default)]
    pub spec: NodeSpec,
    /// The observed state, reported by the kubelet.
    #[serde(default, skip_serializing_if = "crate::meta::is_default")]
    pub status: NodeStatus,
}

/// The desired state of a node (core/v1 `NodeSpec`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NodeSpec {
    /// The pod IP range of the node (the first of `podCIDRs`).
    #[serde(default, rename = "podCIDR", skip_serializing_if = "String::is_empty")]
    pub pod_cidr: String,
    /// The pod IP ranges of the node, at most one per IP family.
    #[serde(default, rename = "podCIDRs", skip_serializing_if = "Vec::is_empty")]
    pub pod_cidrs: Vec<String>,
    /// The cloud provider's ID of the machine (`<provider>://<id>`).
    #[serde(
        default,
        rename = "providerID",
        skip_serializing_if = "String::is_empty"
    )]
    pub provider_id: String,
    /// Whether new pods may not be scheduled here (`kubectl cordon`); defaults to false.
    #[serde(default, skip_serializing_if = "is_default")]
    pub unschedulable: bool,
    /// Taints that repel pods which do not tolerate them.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub taints: Vec<Taint>,
}

/// A taint of a node (core/v1 `Taint`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Taint {
    /// The key, a qualified name.
    #[serde(default)]
    pub key: String,
    /// The value, a label value (may be empty).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub value: String,
    /// What happens to pods that do not tolerate the taint.
    pub effect: TaintEffect,
    /// When a `NoExecute` taint was added (set by the system).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub time_added: Option<Time>,
}

impl Taint {
    /// A taint with a key, value and effect.
    pub fn new(key: &str, value: &str, effect: TaintEffect) -> Taint {
        Taint {
            key: key.to_string(),
            value: value.to_string(),
            effect,
            time_added: None,
        }
    }
}

impl std::fmt::Display for Taint {
    /// Prints the taint as `kubectl taint` writes it: `key=value:Effect` (`key:Effect` without a
    /// value).
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.value.is_empty() {
            write!(f, "{}:{}", self.key, self.effect.as_str())
        } else {
            write!(f, "{}={}:{}", self.key, self.value, self.effect.as_str())
        }
    }
}

/// The effect of a taint (core/v1 `TaintEffect`).
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize,
)]
pub enum TaintEffect {
    /// New pods that do not tolerate the taint are not scheduled onto the node.
    #[default]
    NoSchedule,
    /// The scheduler tries to avoid placing pods that do not tolerate the taint.
    PreferNoSchedule,
    /// Pods that do not tolerate the taint are evicted, and not scheduled.
    NoExecute,
}

impl TaintEffect {
    /// The effect as Kubernetes writes it.
    pub fn as_str(self) -> &'static str {
        match self {
            TaintEffect::NoSchedule => "NoSchedule",
            TaintEffect::PreferNoSchedule => "PreferNoSchedule",
            TaintEffect::NoExecute => "NoExecute",
        }
    }
}

/// The observed state of a node (core/v1 `NodeStatus`).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NodeStatus {
    /// Total resources of the node (`cpu`, `memory`, `pods`, `ephemeral-storage`,
    /// `nvidia.com/gpu`, …).
    #[serde(default, skip_serializing_if = "ResourceList::is_empty")]
    pub capacity: ResourceList,
    /// The resources available to pods (capacity minus system reservations); defaults to the
    /// capacity.
    #[serde(default, skip_serializing_if = "ResourceList::is_empty")]
    pub allocatable: ResourceList,
    /// Conditions (`Ready`, `MemoryPressure`, `DiskPressure`, `PIDPressure`,
    /// `NetworkUnavailable`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub conditions: Vec<NodeCondition>,
    /// Addresses of the node.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub addresses: Vec<NodeAddress>,
    /// Endpoints of the daemons on the node.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub daemon_endpoints: Option<NodeDaemonEndpoints>,
    /// Versions and identifiers of the machine and its software.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub node_info: Option<NodeSystemInfo>,
    /// Images present on the node.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub images: Vec<ContainerImage>,
}

/// A condition of a node (core/v1 `NodeCondition`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NodeCondition {
    /// The type (see the constants on this type); node problem detectors add their own.
    #[serde(default)]
    pub r#type: String,
    /// Whether the condition holds.
    #[serde(default)]
    pub status: ConditionStatus,
    /// When the kubelet last reported the condition.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_heartbeat_time: Option<Time>,
    /// When the status last changed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_transition_time: Option<Time>,
    /// A CamelCase reason for the last transition (`KubeletReady`).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub reason: String,
    /// Human-readable detail.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub message: String,
}

impl NodeCondition {
    /// The kubelet is healthy and ready to accept pods.
    pub const READY: &'static str = "Ready";
    /// The node is short of memory.
    pub const MEMORY_PRESSURE: &'static str = "MemoryPressure";
    /// The node is short of disk space.
    pub const DISK_PRESSURE: &'static str = "DiskPressure";
    /// The node is short of process IDs.
    pub const PID_PRESSURE: &'static str = "PIDPressure";
    /// The node's network is not configured.
    pub const NETWORK_UNAVAILABLE: &'static str = "NetworkUnavailable";
}

/// An address of a node (core/v1 `NodeAddress`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NodeAddress {
    /// The kind of address.
    pub r#type: NodeAddressType,
    /// The address.
    #[serde(default)]
    pub address: String,
}

/// The kind of a node address (core/v1 `NodeAddressType`).
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize,
)]
pub enum NodeAddressType {
    /// The node's hostname.
    Hostname,
    /// An IP reachable from outside the cluster.
    #[serde(rename = "ExternalIP")]
    ExternalIp,
    /// An IP reachable within the cluster.
    #[default]
    #[serde(rename = "InternalIP")]
    InternalIp,
    /// A DNS name reachable from outside the cluster.
    #[serde(rename = "ExternalDNS")]
    ExternalDns,
    /// A DNS name reachable within the cluster.
    #[serde(rename = "InternalDNS")]
    InternalDns,
}

/// Endpoints of the daemons on a node (core/v1 `NodeDaemonEndpoints`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NodeDaemonEndpoints {
    /// The kubelet's endpoint.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kubelet_endpoint: Option<DaemonEndpoint>,
}

/// A daemon's port (core/v1 `DaemonEndpoint`; its one field is written `Port` in the API).
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct DaemonEndpoint {
    /// The port number.
    #[serde(rename = "Port", default)]
    pub port: i32,
}

/// Versions and identifiers of a node (core/v1 `NodeSystemInfo`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NodeSystemInfo {
    /// The machine ID (`/etc/machine-id`).
    #[serde(
        default,
        rename = "machineID",
        skip_serializing_if = "String::is_empty"
    )]
    pub machine_id: String,
    /// The system UUID reported by the firmware.
    #[serde(
        default,
        rename = "systemUUID",
        skip_serializing_if = "String::is_empty"
    )]
    pub system_uuid: String,
    /// The boot ID, which changes on every boot.
    #[serde(default, rename = "bootID", skip_serializing_if = "String::is_empty")]
    pub boot_id: String,
    /// The kernel version (`uname -r`).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub kernel_version: String,
    /// The operating system image (`Ubuntu 24.04.1 LTS`).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub os_image: String,
    /// The container runtime and version (`containerd://2.0.0`).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub container_runtime_version: String,
    /// The kubelet's version.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub kubelet_version: String,
    /// The kube-proxy version (deprecated).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub kube_proxy_version: String,
    /// The operating system (`linux`).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub operating_system: String,
    /// The CPU architecture (`amd64`, `arm64`).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub architecture: String,
}

/// An image present on a node (core/v1 `ContainerImage`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ContainerImage {
    /// The names the image is known by (`nginx:1.27`, `docker.io/library/nginx@sha256:…`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub names: Vec<String>,
    /// The image's size in bytes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub size_bytes: Option<i64>,
}

impl Node {
    /// Whether the node's `Ready` condition is `True`. A node that never reported is not ready.
    pub fn is_ready(&self) -> bool {
        self.condition(NodeCondition::READY)
            .is_some_and(|c| c.status == ConditionStatus::True)
    }

    /// The status condition of the given type, if present.
    pub fn condition(&self, condition_type: &str) -> Option<&NodeCondition> {
        self.status
            .conditions
            .iter()
            .find(|c| c.r#type == condition_type)
    }

    /// The resources available to pods: `status.allocatable`, or the capacity when the kubelet
    /// has not reported allocatable resources (the API server defaults one to the other).
    pub fn allocatable(&self) -> &ResourceList {
        if self.status.allocatable.is_empty() {
            &self.status.capacity
        } else {
            &self.status.allocatable
        }
    }
}

impl SetDefaults for Node {
    /// `SetDefaults_NodeStatus`: allocatable defaults to capacity.
    fn set_defaults(&mut self) {
        if self.status.allocatable.is_empty() && !self.status.capacity.is_empty() {
            self.status.allocatable = self.status.capacity.clone();
        }
    }
}

impl Validate for Node {
    /// `ValidateNode`: taints (qualified keys, label values, unique key and effect), resource
    /// quantities of the capacity and allocatable (non-negative, integers for extended
    /// resources), and pod CIDRs (valid, at most one per family, no duplicates).
    fn validate(&self) -> ErrorList {
        let mut errs =
            validate_node_taints(&self.spec.taints, &FieldPath::new("spec").child("taints"));
        for (list, field) in [
            (&self.status.capacity, "capacity"),
            (&self.status.allocatable, "allocatable"),
        ] {
            let path = FieldPath::new("status").child(field);
            for (name, q) in list {
                errs.extend(crate::api::pod::validate_resource_quantity_value(
                    name,
                    q,
                    &path.key(name),
                ));
            }
        }
        let cidrs_path = FieldPath::new("spec").child("podCIDRs");
        let mut families = Vec::new();
        for (i, cidr) in self.spec.pod_cidrs.iter().enumerate() {
            match parse_cidr(cidr) {
                Some(is_v4) => families.push(is_v4),
                None => errs.push(FieldError::invalid(
                    &cidrs_path.index(i),
                    cidr,
                    "must be a valid CIDR value, (e.g. 10.9.8.0/24 or 2001:db8::/64)",
                )),
            }
            if self.spec.pod_cidrs[..i].contains(cidr) {
                errs.push(FieldError::duplicate(&cidrs_path.index(i), cidr));
            }
        }
        let dual_stack = families.len() == 2 && families[0] != families[1];
        if self.spec.pod_cidrs.len() > 2
            || (self.spec.pod_cidrs.len() == 2 && families.len() == 2 && !dual_stack)
        {
            errs.push(FieldError::invalid(
                &cidrs_path,
                &self.spec.pod_cidrs,
                "may specify no more than one CIDR for each IP family",
            ));
        }
        errs
    }

    /// `ValidateNodeUpdate`: `podCIDRs` and `providerID` may only be set once (from empty).
    fn validate_update(&self, old: &Node) -> ErrorList {
        let mut errs = ErrorList::new();
        if !old.spec.pod_cidrs.is_empty() && self.spec.pod_cidrs != old.spec.pod_cidrs {
            errs.push(FieldError::forbidden(
                &FieldPath::new("spec").child("podCIDRs"),
                "node updates may not change podCIDR except from \"\" to valid",
            ));
        }
        if !old.spec.provider_id.is_empty() && self.spec.provider_id != old.spec.provider_id {
            errs.push(FieldError::forbidden(
                &FieldPath::new("spec").child("providerID"),
                "node updates may not change providerID except from \"\" to valid",
            ));
        }
        errs
    }
}

/// `validateNodeTaints`: each key a qualified name, each value a label value, and no two taints
/// with the same key and effect. (An unknown effect fails deserialization.) Kubernetes reports
/// these at `metadata.taints`, a slip in its source; Flotilla uses the field's real path.
pub fn validate_node_taints(taints: &[Taint], path: &FieldPath) -> ErrorList {
    let mut errs = ErrorList::new();
    let mut seen = std::collections::BTreeSet::new();
    for (i, t) in taints.iter().enumerate() {
        let p = path.index(i);
        check_syntax(&mut errs, &p.child("key"), &t.key, is_qualified_name);
        let msgs = is_label_value(&t.value);
        if !msgs.is_empty() {
            errs.push(FieldError::invalid(
                &p.child("value"),
                &t.value,
                msgs.join(";"),
            ));
        }
        if !seen.insert((t.effect, t.key.as_str())) {
            // Kubernetes adds the detail "taints must be unique by key and effect pair".
            errs.push(FieldError::duplicate(&p, t.to_string()));
        }
    }
    errs
}

/// Parses `a.b.c.d/n` or `x::y/n`; `Some(true)` for IPv4, `Some(false)` for IPv6.
fn parse_cidr(cidr: &str) -> Option<bool> {
    let (ip, bits) = cidr.split_once('/')?;
    let ip: std::net::IpAddr = ip.parse().ok()?;
    let bits: u8 = bits.parse().ok()?;
    let max = if ip.is_ipv4() { 32 } else { 128 };
    (bits <= max && !cidr.contains(' ')).then_some(ip.is_ipv4())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::pod::tests::manifest_objects;
    use crate::quantity::Quantity;

    fn node(yaml: &str) -> Node {
        serde_yaml::from_str(yaml).expect("valid node YAML")
    }

    fn errors(n: &Node) -> Vec<String> {
        n.validate().iter().map(ToString::to_string).collect()
    }

    #[test]
    fn example_manifests_deserialize_and_validate() {
        let nodes: Vec<Node> = manifest_objects(
            include_str!("../../../examples/manifests/node.yaml"),
            "Node",
        );
        assert_eq!(nodes.len(), 2);
        for n in &nodes {
            assert!(
                n.validate().is_empty(),
                "{}: {:?}",
                n.metadata.name,
                n.validate()
            );
            assert!(n.metadata.namespace.is_empty());
            assert!(n.is_ready());
        }
        let gpu = &nodes[1];
        assert_eq!(
            gpu.spec.taints,
            vec![Taint::new(
                "nvidia.com/gpu",
                "present",
                TaintEffect::NoSchedule
            )]
        );
        assert_eq!(
            gpu.allocatable()["nvidia.com/gpu"],
            Quantity::parse("1").expect("quantity")
        );
        assert_eq!(gpu.allocatable()["cpu"].milli_value(), 7910);
        assert_eq!(gpu.status.images[0].size_bytes, Some(6_442_450_944));
        assert_eq!(
            gpu.status
                .node_info
                .as_ref()
                .map(|i| i.kubelet_version.as_str()),
            Some("v1.34.1")
        );
        assert_eq!(
            gpu.status
                .daemon_endpoints
                .as_ref()
                .and_then(|d| d.kubelet_endpoint.as_ref())
                .map(|e| e.port),
            Some(10250)
        );
        assert_eq!(nodes[0].spec.pod_cidrs.len(), 2);
        assert_eq!(
            nodes[0].status.addresses[0].r#type,
            NodeAddressType::InternalIp
        );
        let json = serde_json::to_value(&nodes[0]).expect("serializes");
        assert_eq!(json["spec"]["podCIDR"], "10.244.1.0/24");
        assert_eq!(
            json["spec"]["providerID"],
            "aws:///eu-west-1b/i-0a1b2c3d4e5f60718"
        );
        assert_eq!(
            json["status"]["daemonEndpoints"]["kubeletEndpoint"]["Port"],
            10250
        );
        assert_eq!(
            json["status"]["nodeInfo"]["machineID"],
            "3f1c2a9e8b7d4c6a9e0f1a2b3c4d5e6f"
        );
        assert_eq!(json["status"]["addresses"][0]["type"], "InternalIP");
    }

    #[test]
    fn readiness_and_allocatable() {
        let mut n = node("metadata: {name: n1}\nstatus: {capacity: {cpu: '4', memory: 8Gi}}");
        assert!(!n.is_ready(), "a node that never reported is not ready");
        assert_eq!(
            n.allocatable()["cpu"].value(),
            4,
            "allocatable falls back to capacity"
        );
        n.status.conditions.push(NodeCondition {
            r#type: NodeCondition::READY.into(),
            status: ConditionStatus::Unknown,
            ..Default::default()
        });
        assert!(!n.is_ready());
        n.status.conditions[0].status = ConditionStatus::True;
        assert!(n.is_ready());
        n.set_defaults();
        assert_eq!(n.status.allocatable, n.status.capacity);
        let mut reserved = node("status: {capacity: {cpu: '4'}, allocatable: {cpu: 3500m}}");
        reserved.set_defaults();
        assert_eq!(reserved.allocatable()["cpu"].milli_value(), 3500);
    }

    #[test]
    fn taints_are_checked() {
        let n = node(
            r#"
spec:
  taints:
    - {key: dedicated, value: db, effect: NoSchedule}
    - {key: dedicated, value: web, effect: NoSchedule}
    - {key: dedicated, effect: NoExecute}
    - {key: "-bad", value: "not valid", effect: PreferNoSchedule}
"#,
        );
        let errs = errors(&n);
        assert_eq!(
            errs[0],
            "spec.taints[1]: Duplicate value: \"dedicated=web:NoSchedule\""
        );
        assert!(
            errs[1].starts_with(
                "spec.taints[3].key: Invalid value: \"-bad\": name part must consist of"
            ),
            "{errs:?}"
        );
        assert!(
            errs[2].starts_with(
                "spec.taints[3].value: Invalid value: \"not valid\": a valid label must be"
            ),
            "{errs:?}"
        );
        assert_eq!(errs.len(), 3, "{errs:?}");
        let bad_effect: Result<Taint, _> = serde_yaml::from_str("{key: k, effect: Sometimes}");
        assert!(bad_effect.is_err());
        assert_eq!(
            Taint::new("k", "", TaintEffect::NoExecute).to_string(),
            "k:NoExecute"
        );
    }

    #[test]
    fn resources_and_cidrs_are_checked() {
        let n = node(
            r#"
spec:
  podCIDRs: [10.244.0.0/24, 10.245.0.0/24, 10.244.0.0/24, not-a-cidr]
status:
  capacity: {cpu: "-1", nvidia.com/gpu: 500m}
  allocatable: {memory: -1Gi}
"#,
        );
        assert_eq!(
            errors(&n),
            [
                "status.capacity[cpu]: Invalid value: \"-1\": must be greater than or equal to 0",
                "status.capacity[nvidia.com/gpu]: Invalid value: \"500m\": must be an integer",
                "status.allocatable[memory]: Invalid value: \"-1Gi\": must be greater than or equal to 0",
                "spec.podCIDRs[2]: Duplicate value: \"10.244.0.0/24\"",
                "spec.podCIDRs[3]: Invalid value: \"not-a-cidr\": must be a valid CIDR value, (e.g. 10.9.8.0/24 or 2001:db8::/64)",
                "spec.podCIDRs: Invalid value: [\"10.244.0.0/24\", \"10.245.0.0/24\", \"10.244.0.0/24\", \"not-a-cidr\"]: may specify no more than one CIDR for each IP family",
            ]
        );
        let two_v4 = node("spec: {podCIDRs: [10.244.0.0/24, 10.245.0.0/24]}");
        assert_eq!(
            errors(&two_v4),
            ["spec.podCIDRs: Invalid value: [\"10.244.0.0/24\", \"10.245.0.0/24\"]: may specify no more than one CIDR for each IP family"]
        );
        assert!(errors(&node("spec: {podCIDRs: [10.244.0.0/24, 'fd00::/64']}")).is_empty());
    }

    #[test]
    fn pod_cidrs_and_provider_id_are_set_once() {
        let empty = node("metadata: {name: n1}");
        let set = node(
            "metadata: {name: n1}\nspec: {podCIDRs: [10.244.0.0/24], providerID: 'aws:///a/i-1'}",
        );
        assert!(set.validate_update(&empty).is_empty());
        let mut changed = set.clone();
        changed.spec.pod_cidrs = vec!["10.244.9.0/24".into()];
        changed.spec.provider_id = "aws:///a/i-2".into();
        let errs: Vec<String> = changed
            .validate_update(&set)
            .iter()
            .map(ToString::to_string)
            .collect();
        assert_eq!(
            errs,
            [
                "spec.podCIDRs: Forbidden: node updates may not change podCIDR except from \"\" to valid",
                "spec.providerID: Forbidden: node updates may not change providerID except from \"\" to valid",
            ]
        );
        let mut cordoned = set.clone();
        cordoned.spec.unschedulable = true;
        assert!(cordoned.validate_update(&set).is_empty());
    }
}
