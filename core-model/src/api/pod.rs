//! Pod (core/v1 `Pod`): the containers, volumes and scheduling constraints of one co-scheduled
//! unit, its pod template (`PodTemplateSpec`, embedded in every workload), and the pod status
//! written by the kubelet.
//!
//! Besides the API types this module holds what the API server does for pods —
//! [`SetDefaults`] (pkg/apis/core/v1/defaults.go), [`Validate`] and [`Validate::validate_update`]
//! (pkg/apis/core/validation) — and the helpers the scheduler, the kubelet and quota share:
//! [`NodeSelector::matches`], [`Toleration::tolerates`], [`pod_requests`], [`pod_limits`],
//! [`Pod::qos_class`] and [`Pod::is_ready`].
//!
//! Validation accepts objects before and after defaulting alike: a field the API server defaults
//! (`imagePullPolicy`, `protocol`, a probe's `successThreshold`, …) is never reported missing.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use crate::api::node::{Taint, TaintEffect};
use crate::meta::{is_default, validate_labels, ObjectMeta};
use crate::quantity::{Quantity, ResourceList};
use crate::selector::LabelSelector;
use crate::time::Time;
use crate::validation::{
    check_non_negative, check_syntax, is_dns1123_label, is_dns1123_subdomain, is_env_var_name,
    is_label_value, is_port_name, is_port_number, is_qualified_name, ErrorList, FieldError,
    FieldErrorKind, FieldPath, SetDefaults, Validate, TOTAL_ANNOTATION_SIZE_LIMIT,
};

// ---------------------------------------------------------------------------------------------
// Pod and pod template
// ---------------------------------------------------------------------------------------------

/// A pod: a group of containers scheduled together onto one node, sharing its network
/// namespace and volumes.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Pod {
    /// Standard object metadata.
    #[serde(default)]
    pub metadata: ObjectMeta,
    /// The desired behaviour of the pod, shared by copies of the pod until one changes it
    /// (see [`Shared`](crate::Shared)).
    #[serde(default)]
    pub spec: crate::Shared<PodSpec>,
    /// The most recently observed status, written by the kubelet and the scheduler.
    #[serde(default, skip_serializing_if = "crate::meta::is_default")]
    pub status: PodStatus,
}

/// A pod template: the metadata and spec of the pods a workload creates.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PodTemplateSpec {
    /// Metadata given to each pod created from the template (labels, annotations).
    #[serde(default)]
    pub metadata: ObjectMeta,
    /// The spec of each pod created from the template.
    #[serde(default)]
    pub spec: PodSpec,
}

/// Whether a shared list is empty (for `skip_serializing_if`).
fn is_empty_list<T>(list: &crate::Shared<Vec<T>>) -> bool {
    list.is_empty()
}

/// The desired state of a pod (core/v1 `PodSpec`).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PodSpec {
    /// Volumes that containers of the pod can mount.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub volumes: Vec<Volume>,
    /// Containers run to completion, in order, before the app containers start; those with
    /// `restartPolicy: Always` are sidecars that keep running beside the app containers.
    /// Shared, as the whole spec is in a [`Pod`]: a copy of the spec (a binding setting
    /// `nodeName`, the scheduler's assumed pod, a pod stamped from a template) shares the
    /// containers until one of them is changed.
    #[serde(default, skip_serializing_if = "is_empty_list")]
    pub init_containers: crate::Shared<Vec<Container>>,
    /// The app containers; at least one is required.
    #[serde(default)]
    pub containers: crate::Shared<Vec<Container>>,
    /// Restart policy for all containers of the pod; defaults to `Always`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub restart_policy: Option<RestartPolicy>,
    /// Seconds the pod is given to terminate gracefully; defaults to 30.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub termination_grace_period_seconds: Option<i64>,
    /// Seconds the pod may be active on a node before the kubelet fails it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub active_deadline_seconds: Option<i64>,
    /// How the pod's DNS is configured; defaults to `ClusterFirst`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dns_policy: Option<DnsPolicy>,
    /// Labels a node must have for the pod to be scheduled there.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub node_selector: BTreeMap<String, String>,
    /// The service account whose identity the pod runs with.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub service_account_name: String,
    /// Whether a service account token is mounted automatically.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub automount_service_account_token: Option<bool>,
    /// The node the pod is bound to; set by the scheduler (or by the user to bypass it).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub node_name: String,
    /// Whether the pod uses the node's network namespace; defaults to false.
    #[serde(default, skip_serializing_if = "is_default")]
    pub host_network: bool,
    /// Pod-level security attributes; defaults to `{}`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub security_context: Option<PodSecurityContext>,
    /// Secrets used to pull the pod's images.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub image_pull_secrets: Vec<LocalObjectReference>,
    /// The pod's hostname; defaults to the pod's name.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub hostname: String,
    /// With `hostname`, gives the pod the FQDN `<hostname>.<subdomain>.<namespace>.svc`.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub subdomain: String,
    /// Node affinity and pod (anti-)affinity constraints.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub affinity: Option<Affinity>,
    /// The scheduler that places the pod; defaults to `default-scheduler`.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub scheduler_name: String,
    /// Taints the pod tolerates.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tolerations: Vec<Toleration>,
    /// The PriorityClass whose value becomes the pod's priority.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub priority_class_name: String,
    /// The pod's priority, resolved from `priorityClassName` by admission.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub priority: Option<i32>,
    /// DNS settings merged with (or, with `dnsPolicy: None`, replacing) those of `dnsPolicy`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dns_config: Option<PodDnsConfig>,
    /// Whether service environment variables are injected; defaults to true on pods.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enable_service_links: Option<bool>,
    /// Whether the pod may preempt lower-priority pods; set from the PriorityClass by admission
    /// (Kubernetes' Priority admission plugin), never defaulted here.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub preemption_policy: Option<PreemptionPolicy>,
    /// Resources the pod's sandbox uses on top of its containers (set from the RuntimeClass).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub overhead: ResourceList,
    /// How the pod's replicas spread across topology domains.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub topology_spread_constraints: Vec<TopologySpreadConstraint>,
    /// Gates that keep the pod out of scheduling until all are removed.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub scheduling_gates: Vec<PodSchedulingGate>,
}

/// A reference to an object by name in the same namespace (core/v1 `LocalObjectReference`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LocalObjectReference {
    /// Name of the referent.
    #[serde(default)]
    pub name: String,
}

/// A scheduling gate of a pod (core/v1 `PodSchedulingGate`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PodSchedulingGate {
    /// Name of the gate, a qualified name.
    #[serde(default)]
    pub name: String,
}

/// The restart policy of a pod's containers (core/v1 `RestartPolicy`).
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize,
)]
pub enum RestartPolicy {
    /// Always restart exited containers (the default).
    #[default]
    Always,
    /// Restart containers that exit with a non-zero code.
    OnFailure,
    /// Never restart.
    Never,
}

/// The restart policy of one init container (core/v1 `ContainerRestartPolicy`); `Always` makes
/// it a sidecar.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize,
)]
pub enum ContainerRestartPolicy {
    /// Keep the init container running beside the app containers (a sidecar).
    #[default]
    Always,
}

/// The DNS policy of a pod (core/v1 `DNSPolicy`).
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize,
)]
pub enum DnsPolicy {
    /// Cluster DNS, or the node's resolver when the pod uses the host network.
    ClusterFirstWithHostNet,
    /// Cluster DNS first, then the node's upstream resolvers (the default).
    #[default]
    ClusterFirst,
    /// The node's resolver configuration.
    Default,
    /// Only what `dnsConfig` says.
    None,
}

/// DNS parameters of a pod (core/v1 `PodDNSConfig`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PodDnsConfig {
    /// Name server IP addresses (at most 3 in total).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub nameservers: Vec<String>,
    /// DNS search domains (at most 32).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub searches: Vec<String>,
    /// Resolver options.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub options: Vec<PodDnsConfigOption>,
}

/// A resolver option (core/v1 `PodDNSConfigOption`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PodDnsConfigOption {
    /// Option name (`ndots`).
    #[serde(default)]
    pub name: String,
    /// Option value, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<String>,
}

/// Whether a pod may preempt lower-priority pods (core/v1 `PreemptionPolicy`), shared with
/// PriorityClass.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize,
)]
pub enum PreemptionPolicy {
    /// May preempt lower-priority pods (the default of a PriorityClass).
    #[default]
    PreemptLowerPriority,
    /// Never preempts.
    Never,
}

/// Status of a condition (core/v1 `ConditionStatus`), shared by the conditions of every kind.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize,
)]
pub enum ConditionStatus {
    /// The condition holds.
    True,
    /// The condition does not hold.
    False,
    /// It is not known whether the condition holds.
    #[default]
    Unknown,
}

// ---------------------------------------------------------------------------------------------
// Containers
// ---------------------------------------------------------------------------------------------

/// One container of a pod (core/v1 `Container`).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Container {
    /// Name, a DNS-1123 label unique among the pod's containers and init containers.
    #[serde(default)]
    pub name: String,
    /// Image reference (`nginx:1.27`, `registry.example.com/app@sha256:…`).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub image: String,
    /// Entrypoint; replaces the image's ENTRYPOINT.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub command: Vec<String>,
    /// Arguments; replace the image's CMD.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub args: Vec<String>,
    /// Working directory; the image's when empty.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub working_dir: String,
    /// Ports the container exposes (informational, except `hostPort`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ports: Vec<ContainerPort>,
    /// Sources of environment variables, applied before `env`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub env_from: Vec<EnvFromSource>,
    /// Environment variables.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub env: Vec<EnvVar>,
    /// Compute resources requested and limited.
    #[serde(default, skip_serializing_if = "is_default")]
    pub resources: ResourceRequirements,
    /// For init containers only: `Always` makes the container a sidecar.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub restart_policy: Option<ContainerRestartPolicy>,
    /// Volumes mounted into the container's filesystem.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub volume_mounts: Vec<VolumeMount>,
    /// Restarts the container when it fails.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub liveness_probe: Option<Box<Probe>>,
    /// Removes the pod from service endpoints while it fails.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub readiness_probe: Option<Box<Probe>>,
    /// Holds the other probes back until it succeeds once.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub startup_probe: Option<Box<Probe>>,
    /// Actions run right after start and right before stop.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lifecycle: Option<Box<Lifecycle>>,
    /// File the container writes its termination message to; defaults to
    /// `/dev/termination-log`.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub termination_message_path: String,
    /// How the termination message is read; defaults to `File`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub termination_message_policy: Option<TerminationMessagePolicy>,
    /// When the image is pulled; defaults to `Always` for `:latest` or untagged images and to
    /// `IfNotPresent` otherwise.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image_pull_policy: Option<PullPolicy>,
    /// Container-level security attributes, overriding the pod's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub security_context: Option<Box<SecurityContext>>,
    /// Whether the container has a stdin buffer; defaults to false.
    #[serde(default, skip_serializing_if = "is_default")]
    pub stdin: bool,
    /// Whether stdin closes after the first attach; defaults to false.
    #[serde(default, skip_serializing_if = "is_default")]
    pub stdin_once: bool,
    /// Whether the container gets a TTY; defaults to false.
    #[serde(default, skip_serializing_if = "is_default")]
    pub tty: bool,
}

/// A port of a container (core/v1 `ContainerPort`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ContainerPort {
    /// Name (an IANA service name) by which services can refer to the port.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub name: String,
    /// Port on the node that forwards to this one; 0 (unset) for none.
    #[serde(default, skip_serializing_if = "is_default")]
    pub host_port: i32,
    /// Port number in the pod's network namespace, 1–65535.
    #[serde(default)]
    pub container_port: i32,
    /// Protocol; defaults to `TCP`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub protocol: Option<Protocol>,
    /// Host IP the host port binds to.
    #[serde(default, rename = "hostIP", skip_serializing_if = "String::is_empty")]
    pub host_ip: String,
}

/// Network protocol of a port (core/v1 `Protocol`), shared by container and service ports.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize,
)]
pub enum Protocol {
    /// TCP (the default).
    #[default]
    #[serde(rename = "TCP")]
    Tcp,
    /// UDP.
    #[serde(rename = "UDP")]
    Udp,
    /// SCTP.
    #[serde(rename = "SCTP")]
    Sctp,
}

impl Protocol {
    /// The protocol as Kubernetes writes it (`TCP`).
    pub fn as_str(self) -> &'static str {
        match self {
            Protocol::Tcp => "TCP",
            Protocol::Udp => "UDP",
            Protocol::Sctp => "SCTP",
        }
    }
}

/// An environment variable (core/v1 `EnvVar`).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EnvVar {
    /// Variable name.
    #[serde(default)]
    pub name: String,
    /// Literal value; `$(VAR)` references to earlier variables are expanded.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub value: String,
    /// Where the value comes from instead of `value`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value_from: Option<EnvVarSource>,
}

/// The source of an environment variable's value; exactly one field is set (core/v1
/// `EnvVarSource`).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EnvVarSource {
    /// A field of the pod (`metadata.name`, `status.podIP`, `metadata.labels['app']`, …).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub field_ref: Option<ObjectFieldSelector>,
    /// A resource limit or request of a container (`limits.memory`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resource_field_ref: Option<ResourceFieldSelector>,
    /// A key of a ConfigMap.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub config_map_key_ref: Option<ConfigMapKeySelector>,
    /// A key of a Secret.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret_key_ref: Option<SecretKeySelector>,
}

/// Selects a field of the pod (core/v1 `ObjectFieldSelector`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ObjectFieldSelector {
    /// API version the field path is written in; defaults to `v1`.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub api_version: String,
    /// Path of the field (`metadata.namespace`).
    #[serde(default)]
    pub field_path: String,
}

/// Selects a resource of a container (core/v1 `ResourceFieldSelector`).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ResourceFieldSelector {
    /// The container; required in volumes, optional (this container) in env.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub container_name: String,
    /// The resource (`limits.cpu`, `requests.memory`).
    #[serde(default)]
    pub resource: String,
    /// Unit the value is divided by; defaults to 1.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub divisor: Option<Quantity>,
}

/// Selects a key of a ConfigMap (core/v1 `ConfigMapKeySelector`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ConfigMapKeySelector {
    /// Name of the ConfigMap.
    #[serde(default)]
    pub name: String,
    /// The key.
    #[serde(default)]
    pub key: String,
    /// Whether the ConfigMap or key may be missing.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub optional: Option<bool>,
}

/// Selects a key of a Secret (core/v1 `SecretKeySelector`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SecretKeySelector {
    /// Name of the Secret.
    #[serde(default)]
    pub name: String,
    /// The key.
    #[serde(default)]
    pub key: String,
    /// Whether the Secret or key may be missing.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub optional: Option<bool>,
}

/// A source of a set of environment variables; exactly one of `configMapRef` and `secretRef` is
/// set (core/v1 `EnvFromSource`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EnvFromSource {
    /// Prefix prepended to every key.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub prefix: String,
    /// Every key of a ConfigMap.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub config_map_ref: Option<ConfigMapEnvSource>,
    /// Every key of a Secret.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret_ref: Option<SecretEnvSource>,
}

/// A ConfigMap whose keys become environment variables (core/v1 `ConfigMapEnvSource`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ConfigMapEnvSource {
    /// Name of the ConfigMap.
    #[serde(default)]
    pub name: String,
    /// Whether the ConfigMap may be missing.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub optional: Option<bool>,
}

/// A Secret whose keys become environment variables (core/v1 `SecretEnvSource`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SecretEnvSource {
    /// Name of the Secret.
    #[serde(default)]
    pub name: String,
    /// Whether the Secret may be missing.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub optional: Option<bool>,
}

/// Compute resources of a container (core/v1 `ResourceRequirements`).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ResourceRequirements {
    /// The most the container may use (`cpu`, `memory`, `ephemeral-storage`, `hugepages-<size>`,
    /// extended resources such as `nvidia.com/gpu`).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub limits: ResourceList,
    /// What the scheduler reserves for the container; on pods each defaults to its limit.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub requests: ResourceList,
}

/// A volume mounted into a container (core/v1 `VolumeMount`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct VolumeMount {
    /// Name of a volume of the pod.
    #[serde(default)]
    pub name: String,
    /// Whether the mount is read-only; defaults to false.
    #[serde(default, skip_serializing_if = "is_default")]
    pub read_only: bool,
    /// Absolute path in the container; unique per container.
    #[serde(default)]
    pub mount_path: String,
    /// Relative path inside the volume to mount instead of its root.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub sub_path: String,
    /// Like `subPath`, with `$(VAR)` references to the container's environment expanded.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub sub_path_expr: String,
    /// How mounts propagate between host and container; defaults to `None`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mount_propagation: Option<MountPropagationMode>,
}

/// Mount propagation of a volume mount (core/v1 `MountPropagationMode`).
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize,
)]
pub enum MountPropagationMode {
    /// No propagation (the default).
    #[default]
    None,
    /// Host mounts propagate into the container.
    HostToContainer,
    /// Mounts propagate both ways (privileged containers only).
    Bidirectional,
}

/// When the kubelet pulls a container's image (core/v1 `PullPolicy`).
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize,
)]
pub enum PullPolicy {
    /// Pull on every container start.
    Always,
    /// Never pull; the image must be present.
    Never,
    /// Pull when the image is not present.
    #[default]
    IfNotPresent,
}

/// How a container's termination message is read (core/v1 `TerminationMessagePolicy`).
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize,
)]
pub enum TerminationMessagePolicy {
    /// From the termination message file only (the default).
    #[default]
    File,
    /// From the file, or the tail of the log when the file is empty and the container failed.
    FallbackToLogsOnError,
}

/// Container-level security attributes (core/v1 `SecurityContext`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SecurityContext {
    /// Capabilities added to and dropped from the runtime's default set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub capabilities: Option<Capabilities>,
    /// Whether the container runs privileged.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub privileged: Option<bool>,
    /// UID the container process runs as.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub run_as_user: Option<i64>,
    /// GID the container process runs as.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub run_as_group: Option<i64>,
    /// Whether the kubelet refuses to start the container as root.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub run_as_non_root: Option<bool>,
    /// Whether the root filesystem is mounted read-only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub read_only_root_filesystem: Option<bool>,
    /// Whether a process may gain more privileges than its parent (`no_new_privs` unset).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub allow_privilege_escalation: Option<bool>,
    /// The seccomp profile.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seccomp_profile: Option<SeccompProfile>,
}

/// Linux capabilities to add and drop (core/v1 `Capabilities`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Capabilities {
    /// Capabilities added (`NET_ADMIN`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub add: Vec<String>,
    /// Capabilities dropped (`ALL`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub drop: Vec<String>,
}

/// A seccomp profile (core/v1 `SeccompProfile`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SeccompProfile {
    /// Which kind of profile.
    pub r#type: SeccompProfileType,
    /// Path of a profile on the node, for `Localhost` only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub localhost_profile: Option<String>,
}

/// The kind of a seccomp profile (core/v1 `SeccompProfileType`).
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize,
)]
pub enum SeccompProfileType {
    /// No filtering.
    Unconfined,
    /// The container runtime's default profile.
    #[default]
    RuntimeDefault,
    /// A profile file on the node.
    Localhost,
}

/// Pod-level security attributes (core/v1 `PodSecurityContext`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PodSecurityContext {
    /// UID of every container process, unless the container overrides it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub run_as_user: Option<i64>,
    /// GID of every container process, unless the container overrides it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub run_as_group: Option<i64>,
    /// Whether containers must not run as root.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub run_as_non_root: Option<bool>,
    /// Extra groups of the first process of every container.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub supplemental_groups: Vec<i64>,
    /// Group that owns the pod's volumes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fs_group: Option<i64>,
    /// When volume ownership is changed to `fsGroup`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fs_group_change_policy: Option<PodFsGroupChangePolicy>,
    /// The seccomp profile of every container, unless the container overrides it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seccomp_profile: Option<SeccompProfile>,
}

/// When the kubelet changes volume ownership (core/v1 `PodFSGroupChangePolicy`).
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize,
)]
pub enum PodFsGroupChangePolicy {
    /// Only when the root directory's ownership does not match.
    OnRootMismatch,
    /// On every mount (the default).
    #[default]
    Always,
}

// ---------------------------------------------------------------------------------------------
// Probes and lifecycle hooks
// ---------------------------------------------------------------------------------------------

/// A health check of a container (core/v1 `Probe`); exactly one handler is set.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Probe {
    /// Run a command in the container; exit code 0 is success.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exec: Option<ExecAction>,
    /// Send an HTTP GET; a 2xx or 3xx status is success.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub http_get: Option<HttpGetAction>,
    /// Open a TCP connection; success when it connects.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tcp_socket: Option<TcpSocketAction>,
    /// Call the gRPC health-checking protocol.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub grpc: Option<GrpcAction>,
    /// Seconds after the container starts before the first probe; defaults to 0.
    #[serde(default, skip_serializing_if = "is_default")]
    pub initial_delay_seconds: i32,
    /// Seconds before a probe times out; defaults to 1.
    #[serde(default, skip_serializing_if = "is_default")]
    pub timeout_seconds: i32,
    /// Seconds between probes; defaults to 10.
    #[serde(default, skip_serializing_if = "is_default")]
    pub period_seconds: i32,
    /// Consecutive successes that count as success after a failure; defaults to 1 (and must be
    /// 1 for liveness and startup probes).
    #[serde(default, skip_serializing_if = "is_default")]
    pub success_threshold: i32,
    /// Consecutive failures that count as failure; defaults to 3.
    #[serde(default, skip_serializing_if = "is_default")]
    pub failure_threshold: i32,
    /// Grace period, overriding the pod's, when a failed probe kills the container.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub termination_grace_period_seconds: Option<i64>,
}

/// Runs a command in the container (core/v1 `ExecAction`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ExecAction {
    /// The command and its arguments, run without a shell.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub command: Vec<String>,
}

/// An HTTP GET request (core/v1 `HTTPGetAction`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct HttpGetAction {
    /// Request path; defaults to `/`.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub path: String,
    /// Port number or name of a container port.
    #[serde(default)]
    pub port: crate::meta::IntOrString,
    /// Host to connect to; defaults to the pod IP.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub host: String,
    /// Scheme; defaults to `HTTP`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scheme: Option<UriScheme>,
    /// Extra request headers.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub http_headers: Vec<HttpHeader>,
}

/// The scheme of an HTTP probe (core/v1 `URIScheme`).
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize,
)]
pub enum UriScheme {
    /// Plain HTTP (the default).
    #[default]
    #[serde(rename = "HTTP")]
    Http,
    /// HTTP over TLS, without certificate verification.
    #[serde(rename = "HTTPS")]
    Https,
}

/// An HTTP header of a probe (core/v1 `HTTPHeader`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct HttpHeader {
    /// Header name.
    #[serde(default)]
    pub name: String,
    /// Header value.
    #[serde(default)]
    pub value: String,
}

/// A TCP connection attempt (core/v1 `TCPSocketAction`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TcpSocketAction {
    /// Port number or name of a container port.
    #[serde(default)]
    pub port: crate::meta::IntOrString,
    /// Host to connect to; defaults to the pod IP.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub host: String,
}

/// A gRPC health check (core/v1 `GRPCAction`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct GrpcAction {
    /// Port number, 1–65535.
    #[serde(default)]
    pub port: i32,
    /// Service name sent in the health check request; empty for the server's overall health.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service: Option<String>,
}

/// Waits before the container is stopped (core/v1 `SleepAction`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SleepAction {
    /// Seconds to sleep.
    #[serde(default)]
    pub seconds: i64,
}

/// Hooks run at container start and stop (core/v1 `Lifecycle`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Lifecycle {
    /// Runs right after the container is created; the container is killed if it fails.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub post_start: Option<LifecycleHandler>,
    /// Runs before the container is terminated, within the grace period.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pre_stop: Option<LifecycleHandler>,
}

/// One lifecycle hook; exactly one action is set (core/v1 `LifecycleHandler`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LifecycleHandler {
    /// Run a command in the container.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exec: Option<ExecAction>,
    /// Send an HTTP GET.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub http_get: Option<HttpGetAction>,
    /// Open a TCP connection (deprecated; accepted for compatibility).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tcp_socket: Option<TcpSocketAction>,
    /// Sleep.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sleep: Option<SleepAction>,
}

// ---------------------------------------------------------------------------------------------
// Volumes
// ---------------------------------------------------------------------------------------------

/// A volume of a pod: a name and exactly one source (core/v1 `Volume`, whose `VolumeSource` is
/// inlined in the API, so the sources are fields of the volume here too).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Volume {
    /// Name, a DNS-1123 label unique within the pod.
    #[serde(default)]
    pub name: String,
    /// An empty directory that lives as long as the pod; the default source.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub empty_dir: Option<EmptyDirVolumeSource>,
    /// A file or directory of the node.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host_path: Option<HostPathVolumeSource>,
    /// The keys of a ConfigMap as files.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub config_map: Option<ConfigMapVolumeSource>,
    /// The keys of a Secret as files.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret: Option<SecretVolumeSource>,
    /// A PersistentVolumeClaim in the pod's namespace.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub persistent_volume_claim: Option<PersistentVolumeClaimVolumeSource>,
    /// Fields of the pod as files.
    #[serde(
        default,
        rename = "downwardAPI",
        skip_serializing_if = "Option::is_none"
    )]
    pub downward_api: Option<DownwardApiVolumeSource>,
    /// Several sources projected into one directory.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub projected: Option<ProjectedVolumeSource>,
}

/// An empty directory (core/v1 `EmptyDirVolumeSource`).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EmptyDirVolumeSource {
    /// Storage medium: empty for the node's disk, `Memory` for tmpfs, `HugePages[-<size>]`.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub medium: String,
    /// Most local storage the directory may use (for `Memory`, at most the pod's memory limit).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub size_limit: Option<Quantity>,
}

/// A path on the node (core/v1 `HostPathVolumeSource`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct HostPathVolumeSource {
    /// Path on the node.
    #[serde(default)]
    pub path: String,
    /// What must (or will be made to) exist at the path; defaults to `""` (no check).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub r#type: Option<HostPathType>,
}

/// What a host path must be (core/v1 `HostPathType`).
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize,
)]
pub enum HostPathType {
    /// No check (written `""`; the default).
    #[default]
    #[serde(rename = "")]
    Unset,
    /// A directory, created (0755) if absent.
    DirectoryOrCreate,
    /// An existing directory.
    Directory,
    /// A file, created (0644) if absent.
    FileOrCreate,
    /// An existing file.
    File,
    /// An existing UNIX socket.
    Socket,
    /// An existing character device.
    CharDevice,
    /// An existing block device.
    BlockDevice,
}

/// A key of a ConfigMap or Secret projected to a path (core/v1 `KeyToPath`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct KeyToPath {
    /// The key.
    #[serde(default)]
    pub key: String,
    /// Relative path of the file.
    #[serde(default)]
    pub path: String,
    /// File mode bits (0–0777); the volume's `defaultMode` when unset.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mode: Option<i32>,
}

/// A ConfigMap as a volume (core/v1 `ConfigMapVolumeSource`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ConfigMapVolumeSource {
    /// Name of the ConfigMap.
    #[serde(default)]
    pub name: String,
    /// Keys to project; every key when empty.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub items: Vec<KeyToPath>,
    /// Mode bits of the files; defaults to 0644 (420).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default_mode: Option<i32>,
    /// Whether the ConfigMap may be missing.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub optional: Option<bool>,
}

/// A Secret as a volume (core/v1 `SecretVolumeSource`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SecretVolumeSource {
    /// Name of the Secret.
    #[serde(default)]
    pub secret_name: String,
    /// Keys to project; every key when empty.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub items: Vec<KeyToPath>,
    /// Mode bits of the files; defaults to 0644 (420).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default_mode: Option<i32>,
    /// Whether the Secret may be missing.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub optional: Option<bool>,
}

/// A PersistentVolumeClaim as a volume (core/v1 `PersistentVolumeClaimVolumeSource`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PersistentVolumeClaimVolumeSource {
    /// Name of the claim, in the pod's namespace.
    #[serde(default)]
    pub claim_name: String,
    /// Whether the volume is mounted read-only; defaults to false.
    #[serde(default, skip_serializing_if = "is_default")]
    pub read_only: bool,
}

/// Pod fields as files (core/v1 `DownwardAPIVolumeSource`).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DownwardApiVolumeSource {
    /// The files.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub items: Vec<DownwardApiVolumeFile>,
    /// Mode bits of the files; defaults to 0644 (420).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default_mode: Option<i32>,
}

/// One file of a downward API volume; exactly one of `fieldRef` and `resourceFieldRef` is set
/// (core/v1 `DownwardAPIVolumeFile`).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DownwardApiVolumeFile {
    /// Relative path of the file.
    #[serde(default)]
    pub path: String,
    /// A field of the pod (`metadata.labels`, `metadata.annotations['x']`, …).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub field_ref: Option<ObjectFieldSelector>,
    /// A resource of a container (its `containerName` is required).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resource_field_ref: Option<ResourceFieldSelector>,
    /// File mode bits (0–0777).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mode: Option<i32>,
}

/// Several volume sources in one directory (core/v1 `ProjectedVolumeSource`).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ProjectedVolumeSource {
    /// The projected sources.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub sources: Vec<VolumeProjection>,
    /// Mode bits of the files; defaults to 0644 (420).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default_mode: Option<i32>,
}

/// One source of a projected volume; exactly one field is set (core/v1 `VolumeProjection`).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct VolumeProjection {
    /// Keys of a Secret.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret: Option<SecretProjection>,
    /// Keys of a ConfigMap.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub config_map: Option<ConfigMapProjection>,
    /// Pod fields.
    #[serde(
        default,
        rename = "downwardAPI",
        skip_serializing_if = "Option::is_none"
    )]
    pub downward_api: Option<DownwardApiProjection>,
    /// A service account token.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service_account_token: Option<ServiceAccountTokenProjection>,
}

/// Keys of a Secret in a projected volume (core/v1 `SecretProjection`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SecretProjection {
    /// Name of the Secret.
    #[serde(default)]
    pub name: String,
    /// Keys to project; every key when empty.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub items: Vec<KeyToPath>,
    /// Whether the Secret may be missing.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub optional: Option<bool>,
}

/// Keys of a ConfigMap in a projected volume (core/v1 `ConfigMapProjection`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ConfigMapProjection {
    /// Name of the ConfigMap.
    #[serde(default)]
    pub name: String,
    /// Keys to project; every key when empty.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub items: Vec<KeyToPath>,
    /// Whether the ConfigMap may be missing.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub optional: Option<bool>,
}

/// Pod fields in a projected volume (core/v1 `DownwardAPIProjection`).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DownwardApiProjection {
    /// The files.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub items: Vec<DownwardApiVolumeFile>,
}

/// A service account token in a projected volume (core/v1 `ServiceAccountTokenProjection`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ServiceAccountTokenProjection {
    /// Intended audience; the API server's when empty.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub audience: String,
    /// Requested lifetime in seconds; defaults to 3600, at least 600.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expiration_seconds: Option<i64>,
    /// Relative path of the token file.
    #[serde(default)]
    pub path: String,
}

// ---------------------------------------------------------------------------------------------
// Scheduling constraints
// ---------------------------------------------------------------------------------------------

/// Affinity constraints of a pod (core/v1 `Affinity`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Affinity {
    /// Constraints on the labels of the node.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub node_affinity: Option<NodeAffinity>,
    /// Co-locate with pods matching terms.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pod_affinity: Option<PodAffinity>,
    /// Keep away from pods matching terms.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pod_anti_affinity: Option<PodAntiAffinity>,
}

/// Node affinity (core/v1 `NodeAffinity`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NodeAffinity {
    /// A hard constraint: the node must match.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub required_during_scheduling_ignored_during_execution: Option<NodeSelector>,
    /// Soft constraints: matching nodes score their weights.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub preferred_during_scheduling_ignored_during_execution: Vec<PreferredSchedulingTerm>,
}

/// A weighted preference for nodes (core/v1 `PreferredSchedulingTerm`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PreferredSchedulingTerm {
    /// Weight, 1–100.
    #[serde(default)]
    pub weight: i32,
    /// The nodes preferred.
    #[serde(default)]
    pub preference: NodeSelectorTerm,
}

/// A selection of nodes: the union of its terms (core/v1 `NodeSelector`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NodeSelector {
    /// The terms, ORed.
    #[serde(default)]
    pub node_selector_terms: Vec<NodeSelectorTerm>,
}

/// A conjunction of requirements on a node's labels and fields (core/v1 `NodeSelectorTerm`).
/// A term without requirements matches no node.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NodeSelectorTerm {
    /// Requirements on the node's labels, ANDed.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub match_expressions: Vec<NodeSelectorRequirement>,
    /// Requirements on the node's fields (only `metadata.name`), ANDed.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub match_fields: Vec<NodeSelectorRequirement>,
}

/// One requirement of a [`NodeSelectorTerm`] (core/v1 `NodeSelectorRequirement`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NodeSelectorRequirement {
    /// The label key (or field name, for `matchFields`).
    #[serde(default)]
    pub key: String,
    /// How the key relates to the values.
    pub operator: NodeSelectorOperator,
    /// Values: several for `In`/`NotIn`, none for `Exists`/`DoesNotExist`, one integer for
    /// `Gt`/`Lt`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub values: Vec<String>,
}

/// The operator of a [`NodeSelectorRequirement`] (core/v1 `NodeSelectorOperator`).
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize,
)]
pub enum NodeSelectorOperator {
    /// The value is one of the values.
    #[default]
    In,
    /// The key is absent or its value is none of the values.
    NotIn,
    /// The key is present.
    Exists,
    /// The key is absent.
    DoesNotExist,
    /// The value, as an integer, is greater than the single value.
    Gt,
    /// The value, as an integer, is less than the single value.
    Lt,
}

/// Pod affinity (core/v1 `PodAffinity`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PodAffinity {
    /// Hard constraints: every term must be satisfied.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub required_during_scheduling_ignored_during_execution: Vec<PodAffinityTerm>,
    /// Soft constraints: satisfied terms score their weights.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub preferred_during_scheduling_ignored_during_execution: Vec<WeightedPodAffinityTerm>,
}

/// Pod anti-affinity (core/v1 `PodAntiAffinity`), the same shape as [`PodAffinity`].
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PodAntiAffinity {
    /// Hard constraints: no term may be violated.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub required_during_scheduling_ignored_during_execution: Vec<PodAffinityTerm>,
    /// Soft constraints: violated terms cost their weights.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub preferred_during_scheduling_ignored_during_execution: Vec<WeightedPodAffinityTerm>,
}

/// A set of pods and a topology domain to be in (or out of) with them (core/v1
/// `PodAffinityTerm`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PodAffinityTerm {
    /// The pods; none when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub label_selector: Option<LabelSelector>,
    /// Namespaces the pods are in; with `namespaceSelector` unset and this empty, the pod's own.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub namespaces: Vec<String>,
    /// The node label whose value defines a domain (`topology.kubernetes.io/zone`).
    #[serde(default)]
    pub topology_key: String,
    /// Namespaces (by label) the pods are in, added to `namespaces`; `{}` means all.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace_selector: Option<LabelSelector>,
    /// Label keys whose values on the incoming pod are added to the selector as `In`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub match_label_keys: Vec<String>,
    /// Label keys whose values on the incoming pod are added to the selector as `NotIn`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub mismatch_label_keys: Vec<String>,
}

/// A weighted pod affinity term (core/v1 `WeightedPodAffinityTerm`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct WeightedPodAffinityTerm {
    /// Weight, 1–100.
    #[serde(default)]
    pub weight: i32,
    /// The term.
    #[serde(default)]
    pub pod_affinity_term: PodAffinityTerm,
}

/// A toleration of taints (core/v1 `Toleration`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Toleration {
    /// The taint key; empty (with `Exists`) matches every key.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub key: String,
    /// How the value is compared; `Equal` when unset.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub operator: Option<TolerationOperator>,
    /// The taint value, for `Equal`.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub value: String,
    /// The taint effect; unset matches every effect.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub effect: Option<TaintEffect>,
    /// For `NoExecute`: how long the pod stays bound after the taint appears; forever when
    /// unset.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub toleration_seconds: Option<i64>,
}

/// The operator of a [`Toleration`] (core/v1 `TolerationOperator`).
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize,
)]
pub enum TolerationOperator {
    /// The value equals the taint's (the default).
    #[default]
    Equal,
    /// Any value.
    Exists,
}

/// How a pod's replicas spread over topology domains (core/v1 `TopologySpreadConstraint`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TopologySpreadConstraint {
    /// Largest allowed difference between the number of matching pods in two domains.
    #[serde(default)]
    pub max_skew: i32,
    /// The node label whose value defines a domain.
    #[serde(default)]
    pub topology_key: String,
    /// What to do with a pod that cannot satisfy the constraint.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub when_unsatisfiable: Option<UnsatisfiableConstraintAction>,
    /// The pods counted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub label_selector: Option<LabelSelector>,
    /// Minimum number of eligible domains (with `DoNotSchedule` only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_domains: Option<i32>,
    /// Whether the pod's node affinity limits the domains counted; `Honor` when unset.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub node_affinity_policy: Option<NodeInclusionPolicy>,
    /// Whether node taints limit the domains counted; `Ignore` when unset.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub node_taints_policy: Option<NodeInclusionPolicy>,
    /// Label keys whose values on the incoming pod are added to the selector.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub match_label_keys: Vec<String>,
}

/// What to do with a pod that would break a spread constraint (core/v1
/// `UnsatisfiableConstraintAction`).
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize,
)]
pub enum UnsatisfiableConstraintAction {
    /// Do not schedule it (a filter).
    #[default]
    DoNotSchedule,
    /// Schedule it, preferring domains that reduce the skew (a score).
    ScheduleAnyway,
}

/// Whether a node property limits the domains a spread constraint counts (core/v1
/// `NodeInclusionPolicy`).
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize,
)]
pub enum NodeInclusionPolicy {
    /// Only nodes the pod could go to count.
    #[default]
    Honor,
    /// All nodes count.
    Ignore,
}

// ---------------------------------------------------------------------------------------------
// Status
// ---------------------------------------------------------------------------------------------

/// The observed state of a pod (core/v1 `PodStatus`).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PodStatus {
    /// The generation of the spec this status was computed from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    /// Where the pod is in its lifecycle.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phase: Option<PodPhase>,
    /// Conditions (`PodScheduled`, `Initialized`, `ContainersReady`, `Ready`, …).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub conditions: Vec<PodCondition>,
    /// Human-readable detail of why the pod is in this state.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub message: String,
    /// A CamelCase reason for the state (`Evicted`).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub reason: String,
    /// The node a preempting pod is expected to land on.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub nominated_node_name: String,
    /// Primary IP of the node.
    #[serde(default, rename = "hostIP", skip_serializing_if = "String::is_empty")]
    pub host_ip: String,
    /// IPs of the node.
    #[serde(default, rename = "hostIPs", skip_serializing_if = "Vec::is_empty")]
    pub host_ips: Vec<HostIp>,
    /// Primary IP of the pod.
    #[serde(default, rename = "podIP", skip_serializing_if = "String::is_empty")]
    pub pod_ip: String,
    /// IPs of the pod, one per family.
    #[serde(default, rename = "podIPs", skip_serializing_if = "Vec::is_empty")]
    pub pod_ips: Vec<PodIp>,
    /// When the kubelet acknowledged the pod.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start_time: Option<Time>,
    /// Statuses of the init containers, in spec order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub init_container_statuses: Vec<ContainerStatus>,
    /// Statuses of the app containers.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub container_statuses: Vec<ContainerStatus>,
    /// The quality-of-service class, computed on creation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub qos_class: Option<PodQosClass>,
}

/// The lifecycle phase of a pod (core/v1 `PodPhase`).
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize,
)]
pub enum PodPhase {
    /// Accepted, but not all containers are running yet (includes scheduling and image pulls).
    #[default]
    Pending,
    /// Bound to a node, all containers created, at least one running.
    Running,
    /// All containers terminated successfully and will not restart.
    Succeeded,
    /// All containers terminated, at least one in failure.
    Failed,
    /// The state could not be obtained (deprecated; not set since Kubernetes 1.22).
    Unknown,
}

impl PodPhase {
    /// Whether the phase is final (`Succeeded` or `Failed`).
    pub fn is_terminal(self) -> bool {
        matches!(self, PodPhase::Succeeded | PodPhase::Failed)
    }
}

/// The quality-of-service class of a pod (core/v1 `PodQOSClass`).
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize,
)]
pub enum PodQosClass {
    /// Every container has equal CPU and memory requests and limits.
    Guaranteed,
    /// Some container has a CPU or memory request or limit.
    Burstable,
    /// No container has a CPU or memory request or limit.
    #[default]
    BestEffort,
}

/// A condition of a pod (core/v1 `PodCondition`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PodCondition {
    /// The type (`Ready`; see the constants on this type). Readiness gates add custom types.
    #[serde(default)]
    pub r#type: String,
    /// Whether the condition holds.
    #[serde(default)]
    pub status: ConditionStatus,
    /// The generation of the spec the condition was computed from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    /// When the condition was last probed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_probe_time: Option<Time>,
    /// When the status last changed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_transition_time: Option<Time>,
    /// A CamelCase reason for the last transition.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub reason: String,
    /// Human-readable detail.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub message: String,
}

impl PodCondition {
    /// The pod is bound to a node.
    pub const POD_SCHEDULED: &'static str = "PodScheduled";
    /// The pod's sandbox and network are ready.
    pub const POD_READY_TO_START_CONTAINERS: &'static str = "PodReadyToStartContainers";
    /// All init containers completed.
    pub const INITIALIZED: &'static str = "Initialized";
    /// All containers are ready.
    pub const CONTAINERS_READY: &'static str = "ContainersReady";
    /// The pod can serve requests and is added to Service endpoints.
    pub const READY: &'static str = "Ready";
    /// The pod is about to be terminated by a disruption (preemption, eviction, …).
    pub const DISRUPTION_TARGET: &'static str = "DisruptionTarget";
}

/// An IP of a pod (core/v1 `PodIP`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PodIp {
    /// The address.
    #[serde(default)]
    pub ip: String,
}

/// An IP of a pod's node (core/v1 `HostIP`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct HostIp {
    /// The address.
    #[serde(default)]
    pub ip: String,
}

/// The status of one container (core/v1 `ContainerStatus`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ContainerStatus {
    /// The container's name.
    #[serde(default)]
    pub name: String,
    /// The current state.
    #[serde(default, skip_serializing_if = "is_default")]
    pub state: ContainerState,
    /// The state the container was in before its last restart.
    #[serde(default, skip_serializing_if = "is_default")]
    pub last_state: ContainerState,
    /// Whether the readiness probe passes.
    #[serde(default)]
    pub ready: bool,
    /// How many times the container has been restarted.
    #[serde(default)]
    pub restart_count: i32,
    /// The image it runs.
    #[serde(default)]
    pub image: String,
    /// The image's ID (digest).
    #[serde(default, rename = "imageID")]
    pub image_id: String,
    /// The runtime's ID (`containerd://…`).
    #[serde(
        default,
        rename = "containerID",
        skip_serializing_if = "String::is_empty"
    )]
    pub container_id: String,
    /// Whether the container has passed its startup probe (or has none and is running).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub started: Option<bool>,
}

/// The state of a container: at most one field is set; none means `waiting` (core/v1
/// `ContainerState`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ContainerState {
    /// Not yet running (pulling, back-off, …).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub waiting: Option<ContainerStateWaiting>,
    /// Running.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub running: Option<ContainerStateRunning>,
    /// Exited.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub terminated: Option<ContainerStateTerminated>,
}

/// A waiting container (core/v1 `ContainerStateWaiting`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ContainerStateWaiting {
    /// Why (`ContainerCreating`, `ImagePullBackOff`, `CrashLoopBackOff`).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub reason: String,
    /// Detail.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub message: String,
}

/// A running container (core/v1 `ContainerStateRunning`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ContainerStateRunning {
    /// When it (last) started.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub started_at: Option<Time>,
}

/// An exited container (core/v1 `ContainerStateTerminated`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ContainerStateTerminated {
    /// Exit code.
    #[serde(default)]
    pub exit_code: i32,
    /// Signal that killed it, if any.
    #[serde(default, skip_serializing_if = "is_default")]
    pub signal: i32,
    /// Why (`Completed`, `Error`, `OOMKilled`).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub reason: String,
    /// Detail (the termination message).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub message: String,
    /// When it started.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub started_at: Option<Time>,
    /// When it exited.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub finished_at: Option<Time>,
    /// The runtime's ID of the exited container.
    #[serde(
        default,
        rename = "containerID",
        skip_serializing_if = "String::is_empty"
    )]
    pub container_id: String,
}

// ---------------------------------------------------------------------------------------------
// Helpers shared by the scheduler, the kubelet and quota
// ---------------------------------------------------------------------------------------------

impl Pod {
    /// The pod's quality-of-service class, computed from its spec as Kubernetes'
    /// `ComputePodQOS` does (pkg/apis/core/v1/helper/qos, v1.34, without pod-level resources):
    ///
    /// - `BestEffort` when no container (app or init) has a positive CPU or memory request or
    ///   limit;
    /// - `Guaranteed` when every container has positive CPU and memory limits and, summed over
    ///   the containers, the requests of CPU and memory equal the limits;
    /// - `Burstable` otherwise.
    ///
    /// Call it on a defaulted pod: defaulting copies limits into missing requests, which is what
    /// makes a pod with only limits `Guaranteed`.
    pub fn qos_class(&self) -> PodQosClass {
        qos_class(&self.spec)
    }

    /// Whether the pod's `Ready` condition is `True` (Kubernetes' `podutil.IsPodReady`).
    pub fn is_ready(&self) -> bool {
        self.condition(PodCondition::READY)
            .is_some_and(|c| c.status == ConditionStatus::True)
    }

    /// The status condition of the given type, if present.
    pub fn condition(&self, condition_type: &str) -> Option<&PodCondition> {
        self.status
            .conditions
            .iter()
            .find(|c| c.r#type == condition_type)
    }

    /// The pod's phase, `Pending` when not yet written.
    pub fn phase(&self) -> PodPhase {
        self.status.phase.unwrap_or_default()
    }

    /// The pod's priority, 0 when not resolved (Kubernetes' `corev1helpers.PodPriority`).
    pub fn priority(&self) -> i32 {
        self.spec.priority.unwrap_or(0)
    }
}

/// The QoS class of a pod spec; see [`Pod::qos_class`].
pub fn qos_class(spec: &PodSpec) -> PodQosClass {
    // Only CPU and memory decide the class (qos.go, supportedQoSComputeResources).
    let supported = |name: &str| name == "cpu" || name == "memory";
    let mut requests = ResourceList::new();
    let mut limits = ResourceList::new();
    let mut guaranteed = true;
    for c in spec.containers.iter().chain(&spec.init_containers) {
        for (name, q) in &c.resources.requests {
            if supported(name) && q.sign() > 0 {
                *requests.entry(name.clone()).or_insert(Quantity::ZERO) += *q;
            }
        }
        let mut found = BTreeSet::new();
        for (name, q) in &c.resources.limits {
            if supported(name) && q.sign() > 0 {
                found.insert(name.as_str());
                *limits.entry(name.clone()).or_insert(Quantity::ZERO) += *q;
            }
        }
        if !(found.contains("cpu") && found.contains("memory")) {
            guaranteed = false;
        }
    }
    if requests.is_empty() && limits.is_empty() {
        return PodQosClass::BestEffort;
    }
    if guaranteed
        && requests
            .iter()
            .all(|(name, req)| limits.get(name) == Some(req))
        && requests.len() == limits.len()
    {
        return PodQosClass::Guaranteed;
    }
    PodQosClass::Burstable
}

/// Options of [`pod_requests_with`] and [`pod_limits_with`] (a subset of Kubernetes'
/// `resource.PodResourcesOptions`).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct PodResourcesOptions {
    /// Leave `spec.overhead` out of the result.
    pub exclude_overhead: bool,
    /// Amounts used for a container that has no request (or limit) of these resources, as the
    /// scheduler's scoring does (100m CPU, 200Mi memory); empty for none.
    pub non_missing_container_requests: ResourceList,
}

/// The resources a pod needs on a node: what the scheduler reserves and quota charges for
/// `requests.*` — Kubernetes' `PodRequests` (k8s.io/component-helpers/resource, v1.34, without
/// pod-level resources or in-place resize status).
///
/// It is the larger, resource by resource, of the sum over the app containers plus the
/// restartable init containers (sidecars), and of the peak of the init phase: each init
/// container's requests plus those of the sidecars started before it. The pod's `overhead` is
/// added at the end.
pub fn pod_requests(spec: &PodSpec) -> ResourceList {
    pod_requests_with(spec, &PodResourcesOptions::default())
}

/// [`pod_requests`] with options.
pub fn pod_requests_with(spec: &PodSpec, opts: &PodResourcesOptions) -> ResourceList {
    aggregate(spec, opts, |c| &c.resources.requests)
}

/// The limits of a pod, aggregated as [`pod_requests`] aggregates requests (Kubernetes'
/// `PodLimits`). A container without a limit for a resource contributes nothing to it, so the
/// result understates what an unlimited pod may use, as in Kubernetes.
pub fn pod_limits(spec: &PodSpec) -> ResourceList {
    pod_limits_with(spec, &PodResourcesOptions::default())
}

/// [`pod_limits`] with options.
pub fn pod_limits_with(spec: &PodSpec, opts: &PodResourcesOptions) -> ResourceList {
    aggregate(spec, opts, |c| &c.resources.limits)
}

fn aggregate(
    spec: &PodSpec,
    opts: &PodResourcesOptions,
    pick: impl Fn(&Container) -> &ResourceList,
) -> ResourceList {
    use crate::quantity::{add_into, max_into};
    use std::borrow::Cow;
    // A container's list with the missing defaults filled in; borrowed when none is missing.
    fn filled<'a>(list: &'a ResourceList, defaults: &ResourceList) -> Cow<'a, ResourceList> {
        if defaults.keys().all(|name| list.contains_key(name)) {
            return Cow::Borrowed(list);
        }
        let mut out = list.clone();
        for (name, q) in defaults {
            out.entry(name.clone()).or_insert(*q);
        }
        Cow::Owned(out)
    }
    let with_non_missing = |list| filled(list, &opts.non_missing_container_requests);
    let mut total = ResourceList::new();
    for c in &spec.containers {
        add_into(&mut total, &with_non_missing(pick(c)));
    }
    // See KEP-753 (sidecar containers): init container i needs its own resources plus those of
    // the sidecars started before it; sidecars also run beside the app containers.
    let mut sidecars = ResourceList::new();
    let mut init_peak = ResourceList::new();
    for c in &spec.init_containers {
        let own = with_non_missing(pick(c));
        if c.restart_policy == Some(ContainerRestartPolicy::Always) {
            add_into(&mut total, &own);
            add_into(&mut sidecars, &own);
            max_into(&mut init_peak, &sidecars);
        } else {
            let mut during = own.into_owned();
            add_into(&mut during, &sidecars);
            max_into(&mut init_peak, &during);
        }
    }
    max_into(&mut total, &init_peak);
    if !opts.exclude_overhead {
        add_into(&mut total, &spec.overhead);
    }
    total
}

impl Toleration {
    /// Whether this toleration tolerates `taint` (Kubernetes' `Toleration.ToleratesTaint`,
    /// k8s.io/api/core/v1/toleration.go): the effects match or the toleration's is empty, the
    /// keys match or the toleration's is empty, and the operator is `Exists` or (`Equal`, the
    /// default) the values are equal. An empty key with `Exists` therefore tolerates every taint.
    pub fn tolerates(&self, taint: &Taint) -> bool {
        if self.effect.is_some_and(|e| e != taint.effect) {
            return false;
        }
        if !self.key.is_empty() && self.key != taint.key {
            return false;
        }
        match self.operator.unwrap_or_default() {
            TolerationOperator::Exists => true,
            TolerationOperator::Equal => self.value == taint.value,
        }
    }
}

/// Whether any of `tolerations` tolerates `taint` (Kubernetes' `TolerationsTolerateTaint`).
pub fn tolerations_tolerate_taint(tolerations: &[Toleration], taint: &Taint) -> bool {
    tolerations.iter().any(|t| t.tolerates(taint))
}

/// The first taint accepted by `filter` that none of `tolerations` tolerates (Kubernetes'
/// `FindMatchingUntoleratedTaint`); the scheduler filters on `NoSchedule` and `NoExecute`.
pub fn find_untolerated_taint<'a>(
    taints: &'a [Taint],
    tolerations: &[Toleration],
    filter: impl Fn(&Taint) -> bool,
) -> Option<&'a Taint> {
    taints
        .iter()
        .filter(|t| filter(t))
        .find(|t| !tolerations_tolerate_taint(tolerations, t))
}

impl NodeSelector {
    /// Whether a node with these labels and this name matches: some term matches (Kubernetes'
    /// `nodeaffinity.NodeSelector.Match`, k8s.io/component-helpers/scheduling/corev1). A selector
    /// without terms matches nothing.
    pub fn matches(&self, node_labels: &BTreeMap<String, String>, node_name: &str) -> bool {
        self.node_selector_terms
            .iter()
            .any(|t| t.matches(node_labels, node_name))
    }
}

impl NodeSelectorTerm {
    /// Whether a node with these labels and this name satisfies every requirement of the term.
    ///
    /// As in Kubernetes (component-helpers `nodeSelectorTerm.match`): a term without
    /// requirements matches nothing; `matchFields` supports only `metadata.name` with `In` or
    /// `NotIn` and exactly one value; a term with an unusable requirement (an `In` without
    /// values, a `Gt` whose value is not one integer, …) matches nothing.
    pub fn matches(&self, node_labels: &BTreeMap<String, String>, node_name: &str) -> bool {
        if self.match_expressions.is_empty() && self.match_fields.is_empty() {
            return false;
        }
        let labels_ok = self
            .match_expressions
            .iter()
            .all(|r| r.matches_labels(node_labels) == Some(true));
        let fields_ok = self
            .match_fields
            .iter()
            .all(|r| r.matches_node_name(node_name) == Some(true));
        labels_ok && fields_ok
    }
}

impl NodeSelectorRequirement {
    /// Evaluates the requirement against node labels; `None` when the requirement is unusable
    /// (Kubernetes fails to build a selector from it and drops the whole term).
    fn matches_labels(&self, labels: &BTreeMap<String, String>) -> Option<bool> {
        let value = labels.get(&self.key);
        match self.operator {
            NodeSelectorOperator::In | NodeSelectorOperator::NotIn if self.values.is_empty() => {
                None
            }
            NodeSelectorOperator::In => Some(value.is_some_and(|v| self.values.contains(v))),
            NodeSelectorOperator::NotIn => Some(!value.is_some_and(|v| self.values.contains(v))),
            NodeSelectorOperator::Exists => Some(value.is_some()),
            NodeSelectorOperator::DoesNotExist => Some(value.is_none()),
            NodeSelectorOperator::Gt | NodeSelectorOperator::Lt => {
                let [bound] = self.values.as_slice() else {
                    return None;
                };
                let bound: i64 = bound.parse().ok()?;
                // A missing label or a non-integer label value does not match.
                let actual = value.and_then(|v| v.parse::<i64>().ok());
                Some(actual.is_some_and(|a| {
                    if self.operator == NodeSelectorOperator::Gt {
                        a > bound
                    } else {
                        a < bound
                    }
                }))
            }
        }
    }

    /// Evaluates a `matchFields` requirement against the node's name.
    fn matches_node_name(&self, node_name: &str) -> Option<bool> {
        if self.key != NODE_FIELD_SELECTOR_KEY_NAME || self.values.len() != 1 {
            return None;
        }
        match self.operator {
            NodeSelectorOperator::In => Some(self.values[0] == node_name),
            NodeSelectorOperator::NotIn => Some(self.values[0] != node_name),
            _ => None,
        }
    }
}

/// The only field a node selector's `matchFields` may use.
pub const NODE_FIELD_SELECTOR_KEY_NAME: &str = "metadata.name";

/// The default termination message path (core/v1 `TerminationMessagePathDefault`).
pub const TERMINATION_MESSAGE_PATH_DEFAULT: &str = "/dev/termination-log";
/// The default scheduler name (core/v1 `DefaultSchedulerName`).
pub const DEFAULT_SCHEDULER_NAME: &str = "default-scheduler";
/// The default termination grace period in seconds (core/v1
/// `DefaultTerminationGracePeriodSeconds`).
pub const DEFAULT_TERMINATION_GRACE_PERIOD_SECONDS: i64 = 30;
/// The default mode of ConfigMap, Secret, downward API and projected volume files (0644).
pub const DEFAULT_VOLUME_MODE: i32 = 0o644;

/// The tag of an image reference as Kubernetes' `parsers.ParseImageName` reports it:
/// the explicit tag; `""` when the reference has a digest and no tag; `"latest"` when it has
/// neither.
pub fn image_tag(image: &str) -> &str {
    let (name, digest) = match image.split_once('@') {
        Some((name, digest)) => (name, Some(digest)),
        None => (image, None),
    };
    // A tag follows the last ':' of the last path component (a ':' before it is a registry
    // port: `registry:5000/app`).
    let last = name.rsplit('/').next().unwrap_or(name);
    match last.rsplit_once(':') {
        Some((_, tag)) => tag,
        None if digest.is_some() => "",
        None => "latest",
    }
}

// ---------------------------------------------------------------------------------------------
// Defaults (pkg/apis/core/v1/defaults.go and the generated defaulters, v1.34)
// ---------------------------------------------------------------------------------------------

impl SetDefaults for Pod {
    /// Applies the pod spec defaults ([`PodSpec::set_defaults`]) and those Kubernetes applies to
    /// pods but not to templates (`SetDefaults_Pod`): each container's missing requests default
    /// to its limits, `enableServiceLinks` to true, and with `hostNetwork` each container port's
    /// `hostPort` to its `containerPort`. Like the pod strategy's `PrepareForCreate`, it also
    /// sets `status.phase` to `Pending` and `status.qosClass` when they are unset.
    fn set_defaults(&mut self) {
        self.spec.set_defaults();
        let spec: &mut PodSpec = &mut self.spec;
        for c in spec
            .containers
            .iter_mut()
            .chain(spec.init_containers.iter_mut())
        {
            for (name, limit) in &c.resources.limits {
                c.resources.requests.entry(name.clone()).or_insert(*limit);
            }
            if spec.host_network {
                for p in &mut c.ports {
                    if p.host_port == 0 {
                        p.host_port = p.container_port;
                    }
                }
            }
        }
        spec.enable_service_links.get_or_insert(true);
        self.set_status_defaults();
    }
}

impl Pod {
    /// The status defaults of [`Pod::set_defaults`]: `status.phase` `Pending` and
    /// `status.qosClass` when they are unset.
    pub(crate) fn set_status_defaults(&mut self) {
        self.status.phase.get_or_insert(PodPhase::Pending);
        if self.status.qos_class.is_none() {
            self.status.qos_class = Some(qos_class(&self.spec));
        }
    }
}

impl SetDefaults for PodTemplateSpec {
    /// Applies the pod spec defaults ([`PodSpec::set_defaults`]); the pod-only defaults of
    /// [`Pod`] are left for the pods created from the template, as in Kubernetes.
    fn set_defaults(&mut self) {
        self.spec.set_defaults();
    }
}

impl SetDefaults for PodSpec {
    /// `SetDefaults_PodSpec` and the defaults of every nested type: `dnsPolicy: ClusterFirst`,
    /// `restartPolicy: Always`, `securityContext: {}`, `terminationGracePeriodSeconds: 30`,
    /// `schedulerName: default-scheduler`; container, probe, port and volume defaults.
    /// Tolerations, affinity and `preemptionPolicy` are left alone (the Priority admission
    /// plugin sets the latter from the PriorityClass).
    fn set_defaults(&mut self) {
        self.dns_policy.get_or_insert(DnsPolicy::ClusterFirst);
        self.restart_policy.get_or_insert(RestartPolicy::Always);
        self.security_context
            .get_or_insert_with(PodSecurityContext::default);
        self.termination_grace_period_seconds
            .get_or_insert(DEFAULT_TERMINATION_GRACE_PERIOD_SECONDS);
        if self.scheduler_name.is_empty() {
            self.scheduler_name = DEFAULT_SCHEDULER_NAME.to_string();
        }
        for c in self
            .init_containers
            .iter_mut()
            .chain(self.containers.iter_mut())
        {
            c.set_defaults();
        }
        for v in &mut self.volumes {
            v.set_defaults();
        }
    }
}

impl SetDefaults for Container {
    /// `SetDefaults_Container` plus the nested defaults: `imagePullPolicy` (`Always` for a
    /// `:latest` or untagged image, else `IfNotPresent`; a digest counts as a tag),
    /// `terminationMessagePath: /dev/termination-log`, `terminationMessagePolicy: File`, port
    /// `protocol: TCP`, probe and handler defaults, `fieldRef.apiVersion: v1`.
    fn set_defaults(&mut self) {
        if self.image_pull_policy.is_none() {
            self.image_pull_policy = Some(if image_tag(&self.image) == "latest" {
                PullPolicy::Always
            } else {
                PullPolicy::IfNotPresent
            });
        }
        if self.termination_message_path.is_empty() {
            self.termination_message_path = TERMINATION_MESSAGE_PATH_DEFAULT.to_string();
        }
        self.termination_message_policy
            .get_or_insert(TerminationMessagePolicy::File);
        for p in &mut self.ports {
            p.protocol.get_or_insert(Protocol::Tcp);
        }
        for e in &mut self.env {
            if let Some(f) = e.value_from.as_mut().and_then(|s| s.field_ref.as_mut()) {
                f.set_defaults();
            }
        }
        for probe in [
            &mut self.liveness_probe,
            &mut self.readiness_probe,
            &mut self.startup_probe,
        ]
        .into_iter()
        .flatten()
        {
            probe.set_defaults();
        }
        if let Some(l) = &mut self.lifecycle {
            for h in [&mut l.post_start, &mut l.pre_stop].into_iter().flatten() {
                if let Some(g) = &mut h.http_get {
                    g.set_defaults();
                }
            }
        }
    }
}

impl SetDefaults for Probe {
    /// `SetDefaults_Probe`: `timeoutSeconds: 1`, `periodSeconds: 10`, `successThreshold: 1`,
    /// `failureThreshold: 3` where zero, and the `httpGet` defaults.
    fn set_defaults(&mut self) {
        for (field, default) in [
            (&mut self.timeout_seconds, 1),
            (&mut self.period_seconds, 10),
            (&mut self.success_threshold, 1),
            (&mut self.failure_threshold, 3),
        ] {
            if *field == 0 {
                *field = default;
            }
        }
        if let Some(g) = &mut self.http_get {
            g.set_defaults();
        }
    }
}

impl SetDefaults for HttpGetAction {
    /// `SetDefaults_HTTPGetAction`: `path: /`, `scheme: HTTP`.
    fn set_defaults(&mut self) {
        if self.path.is_empty() {
            self.path = "/".to_string();
        }
        self.scheme.get_or_insert(UriScheme::Http);
    }
}

impl SetDefaults for ObjectFieldSelector {
    /// `SetDefaults_ObjectFieldSelector`: `apiVersion: v1`.
    fn set_defaults(&mut self) {
        if self.api_version.is_empty() {
            self.api_version = "v1".to_string();
        }
    }
}

impl SetDefaults for Volume {
    /// `SetDefaults_Volume` and the source defaults: a volume without a source becomes an
    /// `emptyDir`; ConfigMap, Secret, downward API and projected volumes get `defaultMode: 420`
    /// (0644); a host path gets `type: ""`; a service account token projection
    /// `expirationSeconds: 3600`.
    fn set_defaults(&mut self) {
        if self.source_count() == 0 {
            self.empty_dir = Some(EmptyDirVolumeSource::default());
        }
        if let Some(h) = &mut self.host_path {
            h.r#type.get_or_insert(HostPathType::Unset);
        }
        if let Some(c) = &mut self.config_map {
            c.default_mode.get_or_insert(DEFAULT_VOLUME_MODE);
        }
        if let Some(s) = &mut self.secret {
            s.default_mode.get_or_insert(DEFAULT_VOLUME_MODE);
        }
        if let Some(d) = &mut self.downward_api {
            d.default_mode.get_or_insert(DEFAULT_VOLUME_MODE);
            for f in d.items.iter_mut().filter_map(|i| i.field_ref.as_mut()) {
                f.set_defaults();
            }
        }
        if let Some(p) = &mut self.projected {
            p.default_mode.get_or_insert(DEFAULT_VOLUME_MODE);
            for s in &mut p.sources {
                if let Some(t) = &mut s.service_account_token {
                    t.expiration_seconds.get_or_insert(3600);
                }
                if let Some(d) = &mut s.downward_api {
                    for f in d.items.iter_mut().filter_map(|i| i.field_ref.as_mut()) {
                        f.set_defaults();
                    }
                }
            }
        }
    }
}

impl Volume {
    /// How many sources the volume sets (valid volumes set exactly one).
    pub fn source_count(&self) -> usize {
        [
            self.empty_dir.is_some(),
            self.host_path.is_some(),
            self.config_map.is_some(),
            self.secret.is_some(),
            self.persistent_volume_claim.is_some(),
            self.downward_api.is_some(),
            self.projected.is_some(),
        ]
        .into_iter()
        .filter(|&set| set)
        .count()
    }
}

// ---------------------------------------------------------------------------------------------
// Validation (pkg/apis/core/validation, v1.34)
// ---------------------------------------------------------------------------------------------

/// Kubernetes' message for a file mode out of range (`fileModeErrorMsg`).
const FILE_MODE_ERROR: &str = "must be a number between 0 and 0777 (octal), both inclusive";
/// Kubernetes' message for a non-positive value (`isNotPositiveErrorMsg`).
const NOT_POSITIVE_ERROR: &str = "must be greater than zero";
/// Kubernetes' message for a negative value (`isNegativeErrorMsg`).
const NEGATIVE_ERROR: &str = "must be greater than or equal to 0";
/// Kubernetes' message for an init container field only sidecars may set.
const INIT_CONTAINER_FORBIDDEN: &str =
    "may not be set for init containers without restartPolicy=Always";
/// The spec fields a pod update may change, as Kubernetes lists them in its error.
const UPDATABLE_POD_SPEC_FIELDS: &str =
    "`spec.containers[*].image`,`spec.initContainers[*].image`,\
`spec.activeDeadlineSeconds`,`spec.tolerations` (only additions to existing tolerations),\
`spec.terminationGracePeriodSeconds` (allow it to be set to 1 if it was previously negative)";

/// An invalid-value error whose value is an object, printed as JSON as Kubernetes prints it.
fn invalid_object(path: &FieldPath, value: &impl Serialize, detail: &str) -> FieldError {
    FieldError {
        path: path.clone(),
        kind: FieldErrorKind::Invalid {
            value: serde_json::to_string(value).unwrap_or_default(),
            detail: detail.to_string(),
        },
    }
}

impl Validate for Pod {
    /// `ValidatePodCreate`'s checks of the spec: [`validate_pod_spec`], plus the rules
    /// Kubernetes applies to pods but not to templates (no whitespace around images, a single
    /// hugepage size, no `nodeName` while scheduling gates remain).
    fn validate(&self) -> ErrorList {
        let spec_path = FieldPath::new("spec");
        let mut errs = validate_pod_spec(&self.spec, &spec_path);
        for (list, name) in [
            (&self.spec.containers, "containers"),
            (&self.spec.init_containers, "initContainers"),
        ] {
            for (i, c) in list.iter().enumerate() {
                if c.image.trim() != c.image {
                    errs.push(FieldError::invalid(
                        &spec_path.child(name).index(i).child("image"),
                        &c.image,
                        "must not have leading or trailing whitespace",
                    ));
                }
            }
        }
        let hugepage_sizes: BTreeSet<&str> = self
            .spec
            .containers
            .iter()
            .flat_map(|c| c.resources.limits.keys().chain(c.resources.requests.keys()))
            .filter(|name| is_hugepages(name))
            .map(String::as_str)
            .collect();
        if hugepage_sizes.len() > 1 {
            errs.push(FieldError::invalid(
                &spec_path,
                &hugepage_sizes,
                "must use a single hugepage size in a pod spec",
            ));
        }
        if !self.spec.node_name.is_empty() && !self.spec.scheduling_gates.is_empty() {
            errs.push(FieldError::forbidden(
                &spec_path.child("nodeName"),
                "cannot be set until all schedulingGates have been cleared",
            ));
        }
        errs
    }

    /// `ValidatePodUpdate`: of the spec, only container and init container images,
    /// `activeDeadlineSeconds` (set, or lowered), tolerations (additions, and changes of
    /// `tolerationSeconds`), scheduling gates (removals) and a negative
    /// `terminationGracePeriodSeconds` (to 1) may change.
    fn validate_update(&self, old: &Pod) -> ErrorList {
        if crate::Shared::ptr_eq(&self.spec, &old.spec) {
            // One shared spec: nothing in it changed.
            return ErrorList::new();
        }
        let spec_path = FieldPath::new("spec");
        let mut errs = ErrorList::new();
        let (new_spec, old_spec) = (&self.spec, &old.spec);
        // Containers may not be added or removed (ValidateContainerUpdates); images are checked by
        // validate_pod_spec.
        for (list_new, list_old, name) in [
            (&new_spec.containers, &old_spec.containers, "containers"),
            (
                &new_spec.init_containers,
                &old_spec.init_containers,
                "initContainers",
            ),
        ] {
            if list_new.len() != list_old.len() {
                errs.push(FieldError::forbidden(
                    &spec_path.child(name),
                    "pod updates may not add or remove containers",
                ));
                return errs;
            }
        }
        let deadline_path = spec_path.child("activeDeadlineSeconds");
        match (
            new_spec.active_deadline_seconds,
            old_spec.active_deadline_seconds,
        ) {
            (Some(new), _) if !(0..=i64::from(i32::MAX)).contains(&new) => {
                errs.push(FieldError::invalid(
                    &deadline_path,
                    new,
                    "must be between 0 and 2147483647, inclusive",
                ));
                return errs;
            }
            (Some(new), Some(old)) if new > old => {
                errs.push(FieldError::invalid(
                    &deadline_path,
                    new,
                    "must be less than or equal to previous value",
                ));
                return errs;
            }
            (None, Some(_)) => {
                errs.push(FieldError::invalid(
                    &deadline_path,
                    "nil",
                    "must not update from a positive integer to nil value",
                ));
            }
            _ => {}
        }
        errs.extend(validate_only_added_tolerations(
            &new_spec.tolerations,
            &old_spec.tolerations,
            &spec_path.child("tolerations"),
        ));
        errs.extend(validate_only_deleted_scheduling_gates(
            &new_spec.scheduling_gates,
            &old_spec.scheduling_gates,
            &spec_path.child("schedulingGates"),
        ));
        // Replace what may change by the old values and require the rest to be equal.
        let mut munged = new_spec.clone();
        for (c, o) in munged.containers.iter_mut().zip(&old_spec.containers) {
            c.image.clone_from(&o.image);
        }
        for (c, o) in munged
            .init_containers
            .iter_mut()
            .zip(&old_spec.init_containers)
        {
            c.image.clone_from(&o.image);
        }
        munged.active_deadline_seconds = old_spec.active_deadline_seconds;
        munged.tolerations.clone_from(&old_spec.tolerations);
        munged
            .scheduling_gates
            .clone_from(&old_spec.scheduling_gates);
        if old_spec
            .termination_grace_period_seconds
            .is_some_and(|g| g < 0)
            && new_spec.termination_grace_period_seconds == Some(1)
        {
            munged.termination_grace_period_seconds = old_spec.termination_grace_period_seconds;
        }
        if munged != *old_spec {
            let changed = changed_pod_spec_fields(&munged, old_spec);
            errs.push(FieldError::forbidden(
                &spec_path,
                format!("pod updates may not change fields other than {UPDATABLE_POD_SPEC_FIELDS}; changed: {}", changed.join(", ")),
            ));
        }
        errs
    }
}

/// The top-level fields of two pod specs that differ, by their API names (a short stand-in for
/// the object diff Kubernetes appends to its error).
fn changed_pod_spec_fields(a: &PodSpec, b: &PodSpec) -> Vec<String> {
    match (serde_json::to_value(a), serde_json::to_value(b)) {
        (Ok(serde_json::Value::Object(a)), Ok(serde_json::Value::Object(b))) => {
            let keys: BTreeSet<&String> = a.keys().chain(b.keys()).collect();
            keys.into_iter()
                .filter(|k| a.get(*k) != b.get(*k))
                .map(|k| format!("spec.{k}"))
                .collect()
        }
        _ => Vec::new(),
    }
}

/// `validateOnlyAddedTolerations`: every old toleration is still there (its
/// `tolerationSeconds` may change), and the new list is valid.
fn validate_only_added_tolerations(
    new: &[Toleration],
    old: &[Toleration],
    path: &FieldPath,
) -> ErrorList {
    for o in old {
        let kept = new.iter().any(|n| {
            Toleration {
                toleration_seconds: n.toleration_seconds,
                ..o.clone()
            } == *n
        });
        if !kept {
            return vec![FieldError::forbidden(
                path,
                "existing toleration can not be modified except its tolerationSeconds",
            )];
        }
    }
    validate_tolerations(new, path)
}

/// `validateOnlyDeletedSchedulingGates`: no gate may be added after creation.
fn validate_only_deleted_scheduling_gates(
    new: &[PodSchedulingGate],
    old: &[PodSchedulingGate],
    path: &FieldPath,
) -> ErrorList {
    let mut errs = ErrorList::new();
    for (i, gate) in new.iter().enumerate() {
        if !old.iter().any(|o| o.name == gate.name) {
            errs.push(FieldError::forbidden(
                &path.index(i).child("name"),
                format!(
                    "only deletion is allowed, but found new scheduling gate '{}'",
                    gate.name
                ),
            ));
        }
    }
    errs
}

/// Validates a pod template as Kubernetes' `ValidatePodTemplateSpec` does: the template's
/// labels and annotations at `path.metadata`, and its spec ([`validate_pod_spec`]) at
/// `path.spec`. Workloads call it with `spec.template`.
pub fn validate_pod_template_spec(t: &PodTemplateSpec, path: &FieldPath) -> ErrorList {
    let meta_path = path.child("metadata");
    let mut errs = validate_labels(&t.metadata.labels, &meta_path.child("labels"));
    let annotations_path = meta_path.child("annotations");
    let mut total = 0;
    for (k, v) in &t.metadata.annotations {
        check_syntax(&mut errs, &annotations_path, k, is_qualified_name);
        total += k.len() + v.len();
    }
    if total > TOTAL_ANNOTATION_SIZE_LIMIT {
        errs.push(FieldError::too_long(
            &annotations_path,
            TOTAL_ANNOTATION_SIZE_LIMIT,
        ));
    }
    errs.extend(validate_pod_spec(&t.spec, &path.child("spec")));
    errs
}

/// Validates a pod spec at `path` as Kubernetes' `ValidatePodSpec` does: volumes, containers
/// and init containers, node selector, security context, affinity, DNS, topology spread
/// constraints, service account and node names, deadlines, hostname and subdomain,
/// tolerations, priority class name, overhead and scheduling gates. Every error is collected.
pub fn validate_pod_spec(spec: &PodSpec, path: &FieldPath) -> ErrorList {
    let mut errs = ErrorList::new();
    let volumes = validate_volumes(&spec.volumes, &path.child("volumes"), &mut errs);
    let containers_path = path.child("containers");
    if spec.containers.is_empty() {
        errs.push(FieldError::required(&containers_path, ""));
    }
    let mut names = BTreeSet::new();
    for (i, c) in spec.containers.iter().enumerate() {
        let p = containers_path.index(i);
        errs.extend(validate_container_common(c, &volumes, &p));
        // Collisions with init container names are reported on the init container.
        if !names.insert(c.name.as_str()) {
            errs.push(FieldError::duplicate(&p.child("name"), &c.name));
        }
        errs.extend(validate_probes_and_lifecycle(
            c,
            spec.termination_grace_period_seconds,
            &p,
        ));
        if c.restart_policy.is_some() {
            errs.push(FieldError::forbidden(
                &p.child("restartPolicy"),
                "may not be set for non-init containers",
            ));
        }
    }
    // Host ports may not collide among the app containers, which run together.
    errs.extend(check_host_port_conflicts(
        spec.containers.iter().enumerate(),
        &containers_path,
    ));
    let init_path = path.child("initContainers");
    for (i, c) in spec.init_containers.iter().enumerate() {
        let p = init_path.index(i);
        errs.extend(validate_container_common(c, &volumes, &p));
        if !c.name.is_empty() && !names.insert(c.name.as_str()) {
            errs.push(FieldError::duplicate(&p.child("name"), &c.name));
        }
        // Init containers run one by one, so each is checked alone.
        errs.extend(check_host_port_conflicts(
            std::iter::once((i, c)),
            &init_path,
        ));
        if c.restart_policy == Some(ContainerRestartPolicy::Always) {
            errs.extend(validate_probes_and_lifecycle(
                c,
                spec.termination_grace_period_seconds,
                &p,
            ));
        } else {
            for (set, field) in [
                (c.lifecycle.is_some(), "lifecycle"),
                (c.liveness_probe.is_some(), "livenessProbe"),
                (c.readiness_probe.is_some(), "readinessProbe"),
                (c.startup_probe.is_some(), "startupProbe"),
            ] {
                if set {
                    errs.push(FieldError::forbidden(
                        &p.child(field),
                        INIT_CONTAINER_FORBIDDEN,
                    ));
                }
            }
        }
    }
    if spec.host_network {
        errs.extend(validate_host_network(spec, path));
    }
    errs.extend(validate_labels(
        &spec.node_selector,
        &path.child("nodeSelector"),
    ));
    if let Some(sc) = &spec.security_context {
        errs.extend(validate_pod_security_context(
            sc,
            &path.child("securityContext"),
        ));
    }
    // imagePullSecrets: Kubernetes only warns about an empty name, so nothing is checked.
    if let Some(a) = &spec.affinity {
        errs.extend(validate_affinity(a, &path.child("affinity")));
    }
    errs.extend(validate_dns(spec, path));
    errs.extend(validate_topology_spread_constraints(
        &spec.topology_spread_constraints,
        &path.child("topologySpreadConstraints"),
    ));
    if !spec.service_account_name.is_empty() {
        check_syntax(
            &mut errs,
            &path.child("serviceAccountName"),
            &spec.service_account_name,
            is_dns1123_subdomain,
        );
    }
    if !spec.node_name.is_empty() {
        check_syntax(
            &mut errs,
            &path.child("nodeName"),
            &spec.node_name,
            is_dns1123_subdomain,
        );
    }
    if let Some(d) = spec.active_deadline_seconds {
        if !(1..=i64::from(i32::MAX)).contains(&d) {
            errs.push(FieldError::invalid(
                &path.child("activeDeadlineSeconds"),
                d,
                "must be between 1 and 2147483647, inclusive",
            ));
        }
    }
    // Kubernetes' pod strategy turns a negative grace period into 1 with a warning that "must
    // be >= 0"; Flotilla rejects it instead, so that what is stored is what was written.
    if let Some(g) = spec.termination_grace_period_seconds {
        check_non_negative(&mut errs, &path.child("terminationGracePeriodSeconds"), g);
    }
    if !spec.hostname.is_empty() {
        check_syntax(
            &mut errs,
            &path.child("hostname"),
            &spec.hostname,
            is_dns1123_label,
        );
    }
    if !spec.subdomain.is_empty() {
        check_syntax(
            &mut errs,
            &path.child("subdomain"),
            &spec.subdomain,
            is_dns1123_label,
        );
    }
    errs.extend(validate_tolerations(
        &spec.tolerations,
        &path.child("tolerations"),
    ));
    if !spec.priority_class_name.is_empty() {
        check_syntax(
            &mut errs,
            &path.child("priorityClassName"),
            &spec.priority_class_name,
            is_dns1123_subdomain,
        );
    }
    // Kubernetes validates the overhead as container limits (validateOverhead).
    for (name, q) in &spec.overhead {
        let p = path.child("overhead").key(name);
        errs.extend(validate_container_resource_name(name, &p));
        errs.extend(validate_resource_quantity_value(name, q, &p));
    }
    let mut gates = BTreeSet::new();
    for (i, g) in spec.scheduling_gates.iter().enumerate() {
        let p = path.child("schedulingGates").index(i);
        check_syntax(&mut errs, &p, &g.name, is_qualified_name);
        if !gates.insert(g.name.as_str()) {
            errs.push(FieldError::duplicate(&p, &g.name));
        }
    }
    errs
}

/// `validateHostNetwork`: with the host network, each container port's `hostPort` must equal its
/// `containerPort`.
fn validate_host_network(spec: &PodSpec, path: &FieldPath) -> ErrorList {
    let mut errs = ErrorList::new();
    for (list, name) in [
        (&spec.containers, "containers"),
        (&spec.init_containers, "initContainers"),
    ] {
        for (i, c) in list.iter().enumerate() {
            for (j, port) in c.ports.iter().enumerate() {
                if port.host_port != 0 && port.host_port != port.container_port {
                    errs.push(FieldError::invalid(
                        &path
                            .child(name)
                            .index(i)
                            .child("ports")
                            .index(j)
                            .child("containerPort"),
                        port.container_port,
                        "must match `hostPort` when `hostNetwork` is true",
                    ));
                }
            }
        }
    }
    errs
}

/// `checkHostPortConflicts`: a (protocol, host IP, host port) triple used twice.
fn check_host_port_conflicts<'a>(
    containers: impl Iterator<Item = (usize, &'a Container)>,
    path: &FieldPath,
) -> ErrorList {
    let mut errs = ErrorList::new();
    let mut seen = BTreeSet::new();
    for (i, c) in containers {
        for (j, port) in c.ports.iter().enumerate() {
            if port.host_port == 0 {
                continue;
            }
            let key = format!(
                "{}/{}/{}",
                port.protocol.unwrap_or_default().as_str(),
                port.host_ip,
                port.host_port
            );
            if !seen.insert(key.clone()) {
                errs.push(FieldError::duplicate(
                    &path.index(i).child("ports").index(j).child("hostPort"),
                    key,
                ));
            }
        }
    }
    errs
}

/// `validateContainerCommon`: what every container (app or init) must satisfy.
fn validate_container_common(
    c: &Container,
    volumes: &BTreeSet<&str>,
    path: &FieldPath,
) -> ErrorList {
    let mut errs = ErrorList::new();
    let name_path = path.child("name");
    if c.name.is_empty() {
        errs.push(FieldError::required(&name_path, ""));
    } else {
        check_syntax(&mut errs, &name_path, &c.name, is_dns1123_label);
    }
    if c.image.is_empty() {
        errs.push(FieldError::required(&path.child("image"), ""));
    }
    errs.extend(validate_container_ports(&c.ports, &path.child("ports")));
    errs.extend(validate_env(&c.env, &path.child("env")));
    errs.extend(validate_env_from(&c.env_from, &path.child("envFrom")));
    errs.extend(validate_volume_mounts(
        &c.volume_mounts,
        volumes,
        &path.child("volumeMounts"),
    ));
    errs.extend(validate_resource_requirements(
        &c.resources,
        &path.child("resources"),
    ));
    if let Some(sc) = &c.security_context {
        errs.extend(validate_security_context(
            sc,
            &path.child("securityContext"),
        ));
    }
    errs
}

/// `validateContainerPorts`: names are IANA service names unique within the container;
/// container ports 1–65535 and required; host ports 1–65535 when set.
fn validate_container_ports(ports: &[ContainerPort], path: &FieldPath) -> ErrorList {
    let mut errs = ErrorList::new();
    let mut names = BTreeSet::new();
    for (i, port) in ports.iter().enumerate() {
        let p = path.index(i);
        if !port.name.is_empty() {
            let msgs = is_port_name(&port.name);
            if !msgs.is_empty() {
                for m in msgs {
                    errs.push(FieldError::invalid(&p.child("name"), &port.name, m));
                }
            } else if !names.insert(port.name.as_str()) {
                errs.push(FieldError::duplicate(&p.child("name"), &port.name));
            }
        }
        if port.container_port == 0 {
            errs.push(FieldError::required(&p.child("containerPort"), ""));
        } else {
            for m in is_port_number(i64::from(port.container_port)) {
                errs.push(FieldError::invalid(
                    &p.child("containerPort"),
                    port.container_port,
                    m,
                ));
            }
        }
        if port.host_port != 0 {
            for m in is_port_number(i64::from(port.host_port)) {
                errs.push(FieldError::invalid(&p.child("hostPort"), port.host_port, m));
            }
        }
    }
    errs
}

/// Field paths an environment variable's `fieldRef` may use
/// (`validEnvDownwardAPIFieldPathExpressions`), sorted.
const ENV_FIELD_PATHS: &[&str] = &[
    "metadata.name",
    "metadata.namespace",
    "metadata.uid",
    "spec.nodeName",
    "spec.serviceAccountName",
    "status.hostIP",
    "status.hostIPs",
    "status.podIP",
    "status.podIPs",
];

/// Field paths a downward API volume file may use
/// (`validVolumeDownwardAPIFieldPathExpressions`), sorted.
const VOLUME_FIELD_PATHS: &[&str] = &[
    "metadata.annotations",
    "metadata.labels",
    "metadata.name",
    "metadata.namespace",
    "metadata.uid",
];

/// Resources a `resourceFieldRef` may use (`validContainerResourceFieldPathExpressions`), sorted;
/// `limits.hugepages-*` and `requests.hugepages-*` are accepted too.
const RESOURCE_FIELD_PATHS: &[&str] = &[
    "limits.cpu",
    "limits.ephemeral-storage",
    "limits.memory",
    "requests.cpu",
    "requests.ephemeral-storage",
    "requests.memory",
];

/// `ValidateEnv` and `validateEnvVarValueFrom`.
fn validate_env(vars: &[EnvVar], path: &FieldPath) -> ErrorList {
    let mut errs = ErrorList::new();
    for (i, ev) in vars.iter().enumerate() {
        let p = path.index(i);
        if ev.name.is_empty() {
            errs.push(FieldError::required(&p.child("name"), ""));
        } else {
            check_syntax(&mut errs, &p.child("name"), &ev.name, is_env_var_name);
        }
        let Some(from) = &ev.value_from else { continue };
        let fp = p.child("valueFrom");
        let mut sources = 0;
        if let Some(f) = &from.field_ref {
            sources += 1;
            errs.extend(validate_object_field_selector(
                f,
                ENV_FIELD_PATHS,
                &fp.child("fieldRef"),
            ));
        }
        if let Some(r) = &from.resource_field_ref {
            sources += 1;
            errs.extend(validate_resource_field_selector(
                r,
                false,
                &fp.child("resourceFieldRef"),
            ));
        }
        if let Some(k) = &from.config_map_key_ref {
            sources += 1;
            errs.extend(validate_key_selector(
                &k.name,
                &k.key,
                &fp.child("configMapKeyRef"),
            ));
        }
        if let Some(k) = &from.secret_key_ref {
            sources += 1;
            errs.extend(validate_key_selector(
                &k.name,
                &k.key,
                &fp.child("secretKeyRef"),
            ));
        }
        if sources == 0 {
            errs.push(FieldError::invalid(
                &fp,
                "",
                "must specify one of: `fieldRef`, `resourceFieldRef`, `configMapKeyRef` or `secretKeyRef`",
            ));
        } else if !ev.value.is_empty() {
            errs.push(FieldError::invalid(
                &fp,
                "",
                "may not be specified when `value` is not empty",
            ));
        } else if sources > 1 {
            errs.push(FieldError::invalid(
                &fp,
                "",
                "may not have more than one field specified at a time",
            ));
        }
    }
    errs
}

/// `validateObjectFieldSelector`: a supported field path, or a subscripted label or annotation
/// (`metadata.labels['app']`) whose key is a qualified name.
fn validate_object_field_selector(
    f: &ObjectFieldSelector,
    supported: &[&str],
    path: &FieldPath,
) -> ErrorList {
    let mut errs = ErrorList::new();
    // An empty apiVersion is defaulted to v1.
    if !f.api_version.is_empty() && f.api_version != "v1" {
        errs.push(FieldError::not_supported(
            &path.child("apiVersion"),
            &f.api_version,
            &["v1"],
        ));
        return errs;
    }
    if f.field_path.is_empty() {
        errs.push(FieldError::required(&path.child("fieldPath"), ""));
        return errs;
    }
    match split_subscripted_path(&f.field_path) {
        Some(("metadata.annotations", key)) => {
            check_syntax(&mut errs, path, &key.to_lowercase(), is_qualified_name)
        }
        Some(("metadata.labels", key)) => check_syntax(&mut errs, path, key, is_qualified_name),
        Some((other, _)) => errs.push(FieldError::invalid(
            path,
            other,
            "does not support subscript",
        )),
        None if !supported.contains(&f.field_path.as_str()) => {
            errs.push(FieldError::not_supported(
                &path.child("fieldPath"),
                &f.field_path,
                supported,
            ));
        }
        None => {}
    }
    errs
}

/// Splits `metadata.labels['key']` into the path and the key (Kubernetes'
/// `fieldpath.SplitMaybeSubscriptedPath`).
fn split_subscripted_path(field_path: &str) -> Option<(&str, &str)> {
    let inner = field_path.strip_suffix("']")?;
    let (path, key) = inner.split_once("['")?;
    (!path.is_empty()).then_some((path, key))
}

/// `validateContainerResourceFieldSelector` and `validateContainerResourceDivisor`.
fn validate_resource_field_selector(
    r: &ResourceFieldSelector,
    volume: bool,
    path: &FieldPath,
) -> ErrorList {
    let mut errs = ErrorList::new();
    if volume && r.container_name.is_empty() {
        errs.push(FieldError::required(&path.child("containerName"), ""));
    } else if r.resource.is_empty() {
        errs.push(FieldError::required(&path.child("resource"), ""));
    } else if !RESOURCE_FIELD_PATHS.contains(&r.resource.as_str())
        && !r.resource.starts_with("limits.hugepages-")
        && !r.resource.starts_with("requests.hugepages-")
    {
        errs.push(FieldError::not_supported(
            &path.child("resource"),
            &r.resource,
            RESOURCE_FIELD_PATHS,
        ));
        return errs;
    }
    let Some(divisor) = r.divisor.filter(|d| !d.is_zero()) else {
        return errs;
    };
    let text = divisor.to_string();
    const MEMORY: &[&str] = &[
        "1", "1k", "1M", "1G", "1T", "1P", "1E", "1Ki", "1Mi", "1Gi", "1Ti", "1Pi", "1Ei",
    ];
    let resource = r.resource.split_once('.').map_or("", |(_, res)| res);
    let (allowed, detail): (&[&str], &str) = match resource {
        "cpu" => (&["1m", "1"], "only divisor's values 1m and 1 are supported with the cpu resource"),
        "memory" => (
            MEMORY,
            "only divisor's values 1, 1k, 1M, 1G, 1T, 1P, 1E, 1Ki, 1Mi, 1Gi, 1Ti, 1Pi, 1Ei are supported with the memory resource",
        ),
        "ephemeral-storage" => (
            MEMORY,
            "only divisor's values 1, 1k, 1M, 1G, 1T, 1P, 1E, 1Ki, 1Mi, 1Gi, 1Ti, 1Pi, 1Ei are supported with the local ephemeral storage resource",
        ),
        res if is_hugepages(res) => (
            MEMORY,
            "only divisor's values 1, 1k, 1M, 1G, 1T, 1P, 1E, 1Ki, 1Mi, 1Gi, 1Ti, 1Pi, 1Ei are supported with the hugepages resource",
        ),
        _ => return errs,
    };
    if !allowed.contains(&text.as_str()) {
        errs.push(FieldError::invalid(&path.child("divisor"), &text, detail));
    }
    errs
}

/// `validateConfigMapKeySelector` / `validateSecretKeySelector`: the object name a DNS
/// subdomain, the key required and a valid ConfigMap key.
fn validate_key_selector(name: &str, key: &str, path: &FieldPath) -> ErrorList {
    let mut errs = ErrorList::new();
    check_syntax(&mut errs, &path.child("name"), name, is_dns1123_subdomain);
    if key.is_empty() {
        errs.push(FieldError::required(&path.child("key"), ""));
    } else {
        check_syntax(
            &mut errs,
            &path.child("key"),
            key,
            crate::api::config_map::is_config_map_key,
        );
    }
    errs
}

/// `ValidateEnvFrom`: exactly one of `configMapRef` and `secretRef`, with a valid name, and a
/// valid prefix.
fn validate_env_from(sources: &[EnvFromSource], path: &FieldPath) -> ErrorList {
    let mut errs = ErrorList::new();
    for (i, ev) in sources.iter().enumerate() {
        let p = path.index(i);
        if !ev.prefix.is_empty() {
            check_syntax(&mut errs, &p.child("prefix"), &ev.prefix, is_env_var_name);
        }
        let mut count = 0;
        for (name, field) in [
            (ev.config_map_ref.as_ref().map(|r| &r.name), "configMapRef"),
            (ev.secret_ref.as_ref().map(|r| &r.name), "secretRef"),
        ] {
            let Some(name) = name else { continue };
            count += 1;
            let np = p.child(field).child("name");
            if name.is_empty() {
                errs.push(FieldError::required(&np, "name is required"));
            } else {
                check_syntax(&mut errs, &np, name, is_dns1123_subdomain);
            }
        }
        // Kubernetes reports these at the list's path, not the item's.
        if count == 0 {
            errs.push(FieldError::invalid(
                path,
                "",
                "must specify one of: `configMapRef` or `secretRef`",
            ));
        } else if count > 1 {
            errs.push(FieldError::invalid(
                path,
                "",
                "may not have more than one field specified at a time",
            ));
        }
    }
    errs
}

/// `ValidateVolumeMounts`: the volume exists, the mount path is set and unique within the
/// container, the sub path is relative and does not climb.
fn validate_volume_mounts(
    mounts: &[VolumeMount],
    volumes: &BTreeSet<&str>,
    path: &FieldPath,
) -> ErrorList {
    let mut errs = ErrorList::new();
    let mut mount_paths = BTreeSet::new();
    for (i, m) in mounts.iter().enumerate() {
        let p = path.index(i);
        if m.name.is_empty() {
            errs.push(FieldError::required(&p.child("name"), ""));
        } else if !volumes.contains(m.name.as_str()) {
            errs.push(FieldError::not_found(&p.child("name"), &m.name));
        }
        if m.mount_path.is_empty() {
            errs.push(FieldError::required(&p.child("mountPath"), ""));
        }
        if !mount_paths.insert(m.mount_path.as_str()) {
            errs.push(FieldError::invalid(
                &p.child("mountPath"),
                &m.mount_path,
                "must be unique",
            ));
        }
        // Kubernetes reports sub path errors at `volumeMounts.subPath` (without the index); the
        // index is kept here so the error points at the mount.
        if !m.sub_path.is_empty() {
            errs.extend(validate_local_descending_path(
                &m.sub_path,
                &p.child("subPath"),
            ));
        }
        if !m.sub_path_expr.is_empty() {
            if !m.sub_path.is_empty() {
                errs.push(FieldError::invalid(
                    &p.child("subPathExpr"),
                    &m.sub_path_expr,
                    "subPathExpr and subPath are mutually exclusive",
                ));
            }
            errs.extend(validate_local_descending_path(
                &m.sub_path_expr,
                &p.child("subPathExpr"),
            ));
        }
    }
    errs
}

/// `validateLocalDescendingPath`: relative, without `..` elements.
fn validate_local_descending_path(target: &str, path: &FieldPath) -> ErrorList {
    let mut errs = ErrorList::new();
    if target.starts_with('/') {
        errs.push(FieldError::invalid(path, target, "must be a relative path"));
    }
    if target.split('/').any(|part| part == "..") {
        errs.push(FieldError::invalid(path, target, "must not contain '..'"));
    }
    errs
}

/// `validateLocalNonReservedPath`: a descending path that does not start with `..`.
fn validate_local_non_reserved_path(target: &str, path: &FieldPath) -> ErrorList {
    let mut errs = validate_local_descending_path(target, path);
    if target.starts_with("..") && !target.starts_with("../") {
        errs.push(FieldError::invalid(
            path,
            target,
            "must not start with '..'",
        ));
    }
    errs
}

/// `ValidateVolumes`: names are unique DNS labels and each volume has exactly one valid source.
/// Returns the volume names for the mounts to refer to.
fn validate_volumes<'a>(
    volumes: &'a [Volume],
    path: &FieldPath,
    errs: &mut ErrorList,
) -> BTreeSet<&'a str> {
    let mut names = BTreeSet::new();
    for (i, v) in volumes.iter().enumerate() {
        let p = path.index(i);
        errs.extend(validate_volume_source(v, &p));
        let name_path = p.child("name");
        if v.name.is_empty() {
            errs.push(FieldError::required(&name_path, ""));
        } else {
            check_syntax(errs, &name_path, &v.name, is_dns1123_label);
        }
        if !names.insert(v.name.as_str()) {
            errs.push(FieldError::duplicate(&name_path, &v.name));
        }
    }
    names
}

/// `validateVolumeSource` for the modelled sources. A volume without a source is accepted: it
/// defaults to an `emptyDir`.
fn validate_volume_source(v: &Volume, path: &FieldPath) -> ErrorList {
    let mut errs = ErrorList::new();
    // Kubernetes counts the sources in this order and forbids every one after the first.
    let mut sources =
        crate::validation::OneOf::new(path, "may not specify more than 1 volume type");
    if sources.accept(v.host_path.is_some(), "hostPath", &mut errs) {
        if let Some(h) = &v.host_path {
            let pp = path.child("hostPath").child("path");
            if h.path.is_empty() {
                errs.push(FieldError::required(&pp, ""));
            } else if h.path.split('/').any(|part| part == "..") {
                errs.push(FieldError::invalid(&pp, &h.path, "must not contain '..'"));
            }
        }
    }
    if sources.accept(v.empty_dir.is_some(), "emptyDir", &mut errs) {
        if let Some(size) = v.empty_dir.as_ref().and_then(|e| e.size_limit) {
            if size.is_negative() {
                errs.push(FieldError::forbidden(
                    &path.child("emptyDir").child("sizeLimit"),
                    "SizeLimit field must be a valid resource quantity",
                ));
            }
        }
    }
    if sources.accept(v.secret.is_some(), "secret", &mut errs) {
        if let Some(s) = &v.secret {
            let sp = path.child("secret");
            if s.secret_name.is_empty() {
                errs.push(FieldError::required(&sp.child("secretName"), ""));
            }
            errs.extend(validate_mode(s.default_mode, &sp.child("defaultMode")));
            errs.extend(validate_key_to_paths(&s.items, &sp.child("items")));
        }
    }
    if sources.accept(
        v.persistent_volume_claim.is_some(),
        "persistentVolumeClaim",
        &mut errs,
    ) {
        if let Some(c) = &v.persistent_volume_claim {
            if c.claim_name.is_empty() {
                errs.push(FieldError::required(
                    &path.child("persistentVolumeClaim").child("claimName"),
                    "",
                ));
            }
        }
    }
    if sources.accept(v.downward_api.is_some(), "downwardAPI", &mut errs) {
        if let Some(d) = &v.downward_api {
            let dp = path.child("downwardAPI");
            errs.extend(validate_mode(d.default_mode, &dp.child("defaultMode")));
            for (i, f) in d.items.iter().enumerate() {
                errs.extend(validate_downward_api_file(f, &dp.child("items").index(i)));
            }
        }
    }
    if sources.accept(v.projected.is_some(), "projected", &mut errs) {
        if let Some(pr) = &v.projected {
            errs.extend(validate_projected(pr, &path.child("projected")));
        }
    }
    if sources.accept(v.config_map.is_some(), "configMap", &mut errs) {
        if let Some(c) = &v.config_map {
            let cp = path.child("configMap");
            if c.name.is_empty() {
                errs.push(FieldError::required(&cp.child("name"), ""));
            }
            errs.extend(validate_mode(c.default_mode, &cp.child("defaultMode")));
            errs.extend(validate_key_to_paths(&c.items, &cp.child("items")));
        }
    }
    errs
}

/// A file mode: 0–0777.
fn validate_mode(mode: Option<i32>, path: &FieldPath) -> ErrorList {
    match mode {
        Some(m) if !(0..=0o777).contains(&m) => vec![FieldError::invalid(path, m, FILE_MODE_ERROR)],
        _ => Vec::new(),
    }
}

/// `validateKeyToPath` for each item.
fn validate_key_to_paths(items: &[KeyToPath], path: &FieldPath) -> ErrorList {
    let mut errs = ErrorList::new();
    for (i, kp) in items.iter().enumerate() {
        let p = path.index(i);
        if kp.key.is_empty() {
            errs.push(FieldError::required(&p.child("key"), ""));
        }
        if kp.path.is_empty() {
            errs.push(FieldError::required(&p.child("path"), ""));
        }
        errs.extend(validate_local_non_reserved_path(&kp.path, &p.child("path")));
        errs.extend(validate_mode(kp.mode, &p.child("mode")));
    }
    errs
}

/// `validateDownwardAPIVolumeFile`.
fn validate_downward_api_file(f: &DownwardApiVolumeFile, path: &FieldPath) -> ErrorList {
    let mut errs = ErrorList::new();
    if f.path.is_empty() {
        errs.push(FieldError::required(&path.child("path"), ""));
    }
    errs.extend(validate_local_non_reserved_path(
        &f.path,
        &path.child("path"),
    ));
    match (&f.field_ref, &f.resource_field_ref) {
        (Some(field), resource) => {
            errs.extend(validate_object_field_selector(
                field,
                VOLUME_FIELD_PATHS,
                &path.child("fieldRef"),
            ));
            if resource.is_some() {
                errs.push(FieldError::invalid(
                    path,
                    "resource",
                    "fieldRef and resourceFieldRef can not be specified simultaneously",
                ));
            }
        }
        (None, Some(resource)) => {
            errs.extend(validate_resource_field_selector(
                resource,
                true,
                &path.child("resourceFieldRef"),
            ));
        }
        (None, None) => errs.push(FieldError::required(
            path,
            "one of fieldRef and resourceFieldRef is required",
        )),
    }
    errs.extend(validate_mode(f.mode, &path.child("mode")));
    errs
}

/// `validateProjectedVolumeSource`: one projection per source, valid items, no path used twice,
/// token lifetimes of 10 minutes to 2³² seconds.
fn validate_projected(pr: &ProjectedVolumeSource, path: &FieldPath) -> ErrorList {
    let mut errs = validate_mode(pr.default_mode, &path.child("defaultMode"));
    let mut paths = BTreeSet::new();
    let mut add_path = |p: &str, owner: &str, errs: &mut ErrorList| {
        if !p.is_empty() && !paths.insert(p.to_string()) {
            errs.push(FieldError::invalid(
                path,
                owner,
                "conflicting duplicate paths",
            ));
        }
    };
    for (i, s) in pr.sources.iter().enumerate() {
        let sp = path.child("sources").index(i);
        let mut count = 0;
        if let Some(sec) = &s.secret {
            count += 1;
            let p = sp.child("secret");
            if sec.name.is_empty() {
                errs.push(FieldError::required(&p.child("name"), ""));
            }
            errs.extend(validate_key_to_paths(&sec.items, &p.child("items")));
            for kp in &sec.items {
                add_path(&kp.path, &sec.name, &mut errs);
            }
        }
        if let Some(cm) = &s.config_map {
            count += 1;
            let p = sp.child("configMap");
            if cm.name.is_empty() {
                errs.push(FieldError::required(&p.child("name"), ""));
            }
            errs.extend(validate_key_to_paths(&cm.items, &p.child("items")));
            for kp in &cm.items {
                add_path(&kp.path, &cm.name, &mut errs);
            }
        }
        if let Some(d) = &s.downward_api {
            count += 1;
            for (j, f) in d.items.iter().enumerate() {
                errs.extend(validate_downward_api_file(
                    f,
                    &sp.child("downwardAPI").child("items").index(j),
                ));
                add_path(&f.path, "", &mut errs);
            }
        }
        if let Some(t) = &s.service_account_token {
            count += 1;
            let p = sp.child("serviceAccountToken");
            let seconds = t.expiration_seconds.unwrap_or(3600);
            if seconds < 600 {
                errs.push(FieldError::invalid(
                    &p.child("expirationSeconds"),
                    seconds,
                    "may not specify a duration less than 10 minutes",
                ));
            } else if seconds > 1 << 32 {
                errs.push(FieldError::invalid(
                    &p.child("expirationSeconds"),
                    seconds,
                    "may not specify a duration larger than 2^32 seconds",
                ));
            }
            if t.path.is_empty() {
                errs.push(FieldError::required(&p.child("path"), ""));
            } else {
                errs.extend(validate_local_non_reserved_path(&t.path, &p.child("path")));
                add_path(&t.path, "", &mut errs);
            }
        }
        if count > 1 {
            errs.push(FieldError::forbidden(
                &sp,
                "may not specify more than 1 volume type per source",
            ));
        }
    }
    errs
}

/// Probes and lifecycle hooks of an app container or a sidecar.
fn validate_probes_and_lifecycle(c: &Container, grace: Option<i64>, path: &FieldPath) -> ErrorList {
    let mut errs = ErrorList::new();
    if let Some(l) = &c.lifecycle {
        for (h, field) in [(&l.post_start, "postStart"), (&l.pre_stop, "preStop")] {
            if let Some(h) = h {
                errs.extend(validate_handler(
                    Handler {
                        exec: &h.exec,
                        http_get: &h.http_get,
                        tcp_socket: &h.tcp_socket,
                        grpc: &None,
                        sleep: &h.sleep,
                    },
                    grace,
                    &path.child("lifecycle").child(field),
                ));
            }
        }
    }
    for (probe, field) in [
        (&c.liveness_probe, "livenessProbe"),
        (&c.readiness_probe, "readinessProbe"),
        (&c.startup_probe, "startupProbe"),
    ] {
        let Some(probe) = probe else { continue };
        let p = path.child(field);
        errs.extend(validate_probe(probe, grace, &p));
        // A zero threshold is unset and defaults to 1.
        if field != "readinessProbe" && probe.success_threshold != 0 && probe.success_threshold != 1
        {
            errs.push(FieldError::invalid(
                &p.child("successThreshold"),
                probe.success_threshold,
                "must be 1",
            ));
        }
        if field == "readinessProbe" && probe.termination_grace_period_seconds.is_some() {
            errs.push(FieldError::invalid(
                &p.child("terminationGracePeriodSeconds"),
                probe.termination_grace_period_seconds.unwrap_or_default(),
                "must not be set for readinessProbes",
            ));
        }
    }
    errs
}

/// The handler fields shared by probes and lifecycle hooks.
struct Handler<'a> {
    exec: &'a Option<ExecAction>,
    http_get: &'a Option<HttpGetAction>,
    tcp_socket: &'a Option<TcpSocketAction>,
    grpc: &'a Option<GrpcAction>,
    sleep: &'a Option<SleepAction>,
}

/// `validateProbe`: one handler, non-negative timings, a positive grace period override.
fn validate_probe(probe: &Probe, grace: Option<i64>, path: &FieldPath) -> ErrorList {
    let mut errs = validate_handler(
        Handler {
            exec: &probe.exec,
            http_get: &probe.http_get,
            tcp_socket: &probe.tcp_socket,
            grpc: &probe.grpc,
            sleep: &None,
        },
        grace,
        path,
    );
    for (value, field) in [
        (probe.initial_delay_seconds, "initialDelaySeconds"),
        (probe.timeout_seconds, "timeoutSeconds"),
        (probe.period_seconds, "periodSeconds"),
        (probe.success_threshold, "successThreshold"),
        (probe.failure_threshold, "failureThreshold"),
    ] {
        check_non_negative(&mut errs, &path.child(field), i64::from(value));
    }
    if let Some(g) = probe.termination_grace_period_seconds {
        if g <= 0 {
            errs.push(FieldError::invalid(
                &path.child("terminationGracePeriodSeconds"),
                g,
                NOT_POSITIVE_ERROR,
            ));
        }
    }
    errs
}

/// `validateHandler`: exactly one action, each valid.
fn validate_handler(h: Handler<'_>, grace: Option<i64>, path: &FieldPath) -> ErrorList {
    let mut errs = ErrorList::new();
    let mut handlers =
        crate::validation::OneOf::new(path, "may not specify more than 1 handler type");
    if handlers.accept(h.exec.is_some(), "exec", &mut errs) {
        if let Some(e) = h.exec {
            if e.command.is_empty() {
                errs.push(FieldError::required(
                    &path.child("exec").child("command"),
                    "",
                ));
            }
        }
    }
    if handlers.accept(h.http_get.is_some(), "httpGet", &mut errs) {
        if let Some(g) = h.http_get {
            let gp = path.child("httpGet");
            // An empty path is defaulted to "/".
            errs.extend(crate::api::service::validate_port_num_or_name(
                &g.port,
                &gp.child("port"),
            ));
            for (i, header) in g.http_headers.iter().enumerate() {
                if !is_http_header_name(&header.name) {
                    errs.push(FieldError::invalid(
                        &gp.child("httpHeaders").index(i).child("name"),
                        &header.name,
                        "a valid HTTP header must consist of alphanumeric characters or '-' (e.g. 'X-Header-Name',  \
                         regex used for validation is '[-A-Za-z0-9]+')",
                    ));
                }
            }
        }
    }
    if handlers.accept(h.tcp_socket.is_some(), "tcpSocket", &mut errs) {
        if let Some(t) = h.tcp_socket {
            errs.extend(crate::api::service::validate_port_num_or_name(
                &t.port,
                &path.child("tcpSocket").child("port"),
            ));
        }
    }
    if handlers.accept(h.grpc.is_some(), "grpc", &mut errs) {
        if let Some(g) = h.grpc {
            for m in is_port_number(i64::from(g.port)) {
                errs.push(FieldError::invalid(
                    &path.child("grpc").child("port"),
                    g.port,
                    m,
                ));
            }
        }
    }
    if handlers.accept(h.sleep.is_some(), "sleep", &mut errs) {
        if let Some(s) = h.sleep {
            // validateSleepAction: 0 ≤ seconds ≤ the pod's grace period.
            let max = grace.unwrap_or(DEFAULT_TERMINATION_GRACE_PERIOD_SECONDS);
            if s.seconds < 0 || s.seconds > max {
                errs.push(FieldError::invalid(
                    &path.child("sleep").child("seconds"),
                    s.seconds,
                    format!(
                        "must be non-negative and less than terminationGracePeriodSeconds ({max})"
                    ),
                ));
            }
        }
    }
    if handlers.count() == 0 {
        errs.push(FieldError::required(path, "must specify a handler type"));
    }
    errs
}

/// Whether a string is an HTTP header name (`[-A-Za-z0-9]+`).
fn is_http_header_name(name: &str) -> bool {
    !name.is_empty() && name.bytes().all(|c| c.is_ascii_alphanumeric() || c == b'-')
}

/// Whether a resource name is a huge page size (`hugepages-2Mi`).
fn is_hugepages(name: &str) -> bool {
    name.starts_with("hugepages-")
}

/// Whether a resource is native to Kubernetes: unprefixed or in the `kubernetes.io/` domain
/// (`helper.IsNativeResource`).
fn is_native_resource(name: &str) -> bool {
    !name.contains('/') || name.contains("kubernetes.io/")
}

/// Whether a resource is an extended resource such as `nvidia.com/gpu`
/// (`helper.IsExtendedResourceName`): not native, and `requests.<name>` is a qualified name.
pub fn is_extended_resource_name(name: &str) -> bool {
    !is_native_resource(name)
        && !name.starts_with("requests.")
        && is_qualified_name(&format!("requests.{name}")).is_empty()
}

/// Whether requests of a resource may be lower than its limits (`helper.IsOvercommitAllowed`):
/// native resources other than huge pages.
pub fn is_overcommit_allowed(name: &str) -> bool {
    is_native_resource(name) && !is_hugepages(name)
}

/// Unprefixed resource names Kubernetes knows (`helper.IsStandardResourceName`), besides the
/// `hugepages-`, `requests.hugepages-` and `limits.hugepages-` families.
const STANDARD_RESOURCES: &[&str] = &[
    "cpu",
    "memory",
    "ephemeral-storage",
    "requests.cpu",
    "requests.memory",
    "requests.ephemeral-storage",
    "limits.cpu",
    "limits.memory",
    "limits.ephemeral-storage",
    "pods",
    "services",
    "replicationcontrollers",
    "resourcequotas",
    "secrets",
    "configmaps",
    "persistentvolumeclaims",
    "storage",
    "requests.storage",
    "services.nodeports",
    "services.loadbalancers",
];

/// `validateContainerResourceName`: a qualified name that is a standard container resource
/// (`cpu`, `memory`, `ephemeral-storage`, `hugepages-<size>`), a `kubernetes.io/` resource, or an
/// extended resource.
fn validate_container_resource_name(name: &str, path: &FieldPath) -> ErrorList {
    let mut errs = ErrorList::new();
    check_syntax(&mut errs, path, name, is_qualified_name);
    if !errs.is_empty() {
        return errs;
    }
    if !name.contains('/') {
        let standard = STANDARD_RESOURCES.contains(&name)
            || is_hugepages(name)
            || name.starts_with("requests.hugepages-")
            || name.starts_with("limits.hugepages-");
        if !standard {
            errs.push(FieldError::invalid(
                path,
                name,
                "must be a standard resource type or fully qualified",
            ));
        }
        if !matches!(name, "cpu" | "memory" | "ephemeral-storage") && !is_hugepages(name) {
            errs.push(FieldError::invalid(
                path,
                name,
                "must be a standard resource for containers",
            ));
        }
    } else if !is_native_resource(name) && !is_extended_resource_name(name) {
        errs.push(FieldError::invalid(
            path,
            name,
            "doesn't follow extended resource name standard",
        ));
    }
    errs
}

/// `ValidateResourceQuantityValue`: not negative, and a whole number for extended resources.
pub fn validate_resource_quantity_value(name: &str, q: &Quantity, path: &FieldPath) -> ErrorList {
    let mut errs = ErrorList::new();
    if q.is_negative() {
        errs.push(FieldError::invalid(path, q.to_string(), NEGATIVE_ERROR));
    }
    if is_extended_resource_name(name) && q.milli_value() % 1000 != 0 {
        errs.push(FieldError::invalid(
            path,
            q.to_string(),
            "must be an integer",
        ));
    }
    errs
}

/// `ValidateContainerResourceRequirements`: valid names and values; each request at most its
/// limit, and equal to it for resources that cannot be overcommitted (extended resources, huge
/// pages), which also need a limit; huge pages only beside a CPU or memory request or limit.
fn validate_resource_requirements(r: &ResourceRequirements, path: &FieldPath) -> ErrorList {
    let mut errs = ErrorList::new();
    let (lim_path, req_path) = (path.child("limits"), path.child("requests"));
    let mut hugepages = false;
    let mut cpu_or_memory = false;
    for (name, q) in &r.limits {
        let p = lim_path.key(name);
        errs.extend(validate_container_resource_name(name, &p));
        errs.extend(validate_resource_quantity_value(name, q, &p));
        hugepages |= is_hugepages(name);
        cpu_or_memory |= name == "cpu" || name == "memory";
    }
    for (name, q) in &r.requests {
        let p = req_path.key(name);
        errs.extend(validate_container_resource_name(name, &p));
        errs.extend(validate_resource_quantity_value(name, q, &p));
        match r.limits.get(name) {
            Some(limit) if q != limit && !is_overcommit_allowed(name) => {
                errs.push(FieldError::invalid(
                    &req_path,
                    q.to_string(),
                    format!("must be equal to {name} limit of {limit}"),
                ))
            }
            Some(limit) if q > limit => errs.push(FieldError::invalid(
                &req_path,
                q.to_string(),
                format!("must be less than or equal to {name} limit of {limit}"),
            )),
            Some(_) => {}
            None if !is_overcommit_allowed(name) => {
                errs.push(FieldError::required(
                    &lim_path,
                    "Limit must be set for non overcommitable resources",
                ));
            }
            None => {}
        }
        hugepages |= is_hugepages(name);
        cpu_or_memory |= name == "cpu" || name == "memory";
    }
    if hugepages && !cpu_or_memory {
        errs.push(FieldError::forbidden(
            path,
            "HugePages require cpu or memory",
        ));
    }
    errs
}

/// Kubernetes' `IsValidUserID` / `IsValidGroupID`: 0 to 2³¹−1.
fn check_id(errs: &mut ErrorList, path: &FieldPath, id: Option<i64>) {
    if let Some(id) = id {
        if !(0..=i64::from(i32::MAX)).contains(&id) {
            errs.push(FieldError::invalid(
                path,
                id,
                "must be between 0 and 2147483647, inclusive",
            ));
        }
    }
}

/// `validateSeccompProfileField`: `localhostProfile` exactly for `Localhost`.
fn validate_seccomp_profile(p: &SeccompProfile, path: &FieldPath) -> ErrorList {
    let mut errs = ErrorList::new();
    let lp = path.child("localhostProfile");
    match (p.r#type, &p.localhost_profile) {
        (SeccompProfileType::Localhost, None) => {
            errs.push(FieldError::required(
                &lp,
                "must be set when seccomp type is Localhost",
            ));
        }
        (SeccompProfileType::Localhost, Some(file)) => {
            errs.extend(validate_local_descending_path(file, &lp))
        }
        (_, Some(_)) => errs.push(FieldError::invalid(
            &lp,
            p.localhost_profile.as_deref().unwrap_or_default(),
            "can only be set when seccomp type is Localhost",
        )),
        (_, None) => {}
    }
    errs
}

/// `ValidateSecurityContext` (container level).
fn validate_security_context(sc: &SecurityContext, path: &FieldPath) -> ErrorList {
    let mut errs = ErrorList::new();
    check_id(&mut errs, &path.child("runAsUser"), sc.run_as_user);
    check_id(&mut errs, &path.child("runAsGroup"), sc.run_as_group);
    if let Some(p) = &sc.seccomp_profile {
        errs.extend(validate_seccomp_profile(p, &path.child("seccompProfile")));
    }
    if sc.allow_privilege_escalation == Some(false) {
        if sc.privileged == Some(true) {
            errs.push(invalid_object(
                path,
                sc,
                "cannot set `allowPrivilegeEscalation` to false and `privileged` to true",
            ));
        }
        if sc
            .capabilities
            .as_ref()
            .is_some_and(|c| c.add.iter().any(|cap| cap == "CAP_SYS_ADMIN"))
        {
            errs.push(invalid_object(
                path,
                sc,
                "cannot set `allowPrivilegeEscalation` to false and `capabilities.Add` CAP_SYS_ADMIN",
            ));
        }
    }
    errs
}

/// `ValidatePodSecurityContext`.
fn validate_pod_security_context(sc: &PodSecurityContext, path: &FieldPath) -> ErrorList {
    let mut errs = ErrorList::new();
    check_id(&mut errs, &path.child("fsGroup"), sc.fs_group);
    check_id(&mut errs, &path.child("runAsUser"), sc.run_as_user);
    check_id(&mut errs, &path.child("runAsGroup"), sc.run_as_group);
    for (i, g) in sc.supplemental_groups.iter().enumerate() {
        check_id(
            &mut errs,
            &path.child("supplementalGroups").index(i),
            Some(*g),
        );
    }
    if let Some(p) = &sc.seccomp_profile {
        errs.extend(validate_seccomp_profile(p, &path.child("seccompProfile")));
    }
    errs
}

/// `validatePodDNSConfig`: `dnsPolicy: None` needs a `dnsConfig` with a name server; at most 3
/// name servers, each an IP; at most 32 search domains, each a DNS subdomain (a trailing dot
/// allowed); option names required.
fn validate_dns(spec: &PodSpec, path: &FieldPath) -> ErrorList {
    let mut errs = ErrorList::new();
    let cp = path.child("dnsConfig");
    let none_policy = spec.dns_policy == Some(DnsPolicy::None);
    let Some(config) = &spec.dns_config else {
        if none_policy {
            errs.push(FieldError::required(
                &cp,
                "must provide `dnsConfig` when `dnsPolicy` is None",
            ));
        }
        return errs;
    };
    if none_policy && config.nameservers.is_empty() {
        errs.push(FieldError::required(
            &cp.child("nameservers"),
            "must provide at least one DNS nameserver when `dnsPolicy` is None",
        ));
    }
    if config.nameservers.len() > 3 {
        errs.push(FieldError::invalid(
            &cp.child("nameservers"),
            &config.nameservers,
            "must not have more than 3 nameservers",
        ));
    }
    for (i, ns) in config.nameservers.iter().enumerate() {
        if ns.parse::<std::net::IpAddr>().is_err() {
            errs.push(FieldError::invalid(
                &cp.child("nameservers").index(i),
                ns,
                "must be a valid IP address",
            ));
        }
    }
    if config.searches.len() > 32 {
        errs.push(FieldError::invalid(
            &cp.child("searches"),
            &config.searches,
            "must not have more than 32 search paths",
        ));
    }
    for (i, s) in config.searches.iter().enumerate() {
        // A trailing dot marks an absolute name and is allowed.
        let domain = s.strip_suffix('.').unwrap_or(s);
        check_syntax(
            &mut errs,
            &cp.child("searches").index(i),
            domain,
            is_dns1123_subdomain,
        );
    }
    for (i, o) in config.options.iter().enumerate() {
        if o.name.is_empty() {
            errs.push(FieldError::required(
                &cp.child("options").index(i),
                "Option.Name must not be empty",
            ));
        }
    }
    errs
}

/// `ValidateTolerations`: keys are qualified names; an empty key needs `Exists`;
/// `tolerationSeconds` only with `NoExecute`; `Exists` with an empty value and `Equal` with a
/// label value. (Unknown operators and effects fail deserialization.)
pub fn validate_tolerations(tolerations: &[Toleration], path: &FieldPath) -> ErrorList {
    let mut errs = ErrorList::new();
    for (i, t) in tolerations.iter().enumerate() {
        let p = path.index(i);
        if !t.key.is_empty() {
            check_syntax(&mut errs, &p.child("key"), &t.key, is_qualified_name);
        }
        let operator = t.operator.unwrap_or_default();
        if t.key.is_empty() && operator != TolerationOperator::Exists {
            errs.push(FieldError::invalid(
                &p.child("operator"),
                t.operator.map_or("", |o| if o == TolerationOperator::Equal { "Equal" } else { "Exists" }),
                "operator must be Exists when `key` is empty, which means \"match all values and all keys\"",
            ));
        }
        if t.toleration_seconds.is_some() && t.effect != Some(TaintEffect::NoExecute) {
            errs.push(FieldError::invalid(
                &p.child("effect"),
                t.effect.map_or_else(String::new, |e| format!("{e:?}")),
                "effect must be 'NoExecute' when `tolerationSeconds` is set",
            ));
        }
        match operator {
            TolerationOperator::Equal => {
                let msgs = is_label_value(&t.value);
                if !msgs.is_empty() {
                    errs.push(FieldError::invalid(
                        &p.child("operator"),
                        &t.value,
                        msgs.join(";"),
                    ));
                }
            }
            TolerationOperator::Exists if !t.value.is_empty() => {
                errs.push(invalid_object(
                    &p.child("operator"),
                    t,
                    "value must be empty when `operator` is 'Exists'",
                ));
            }
            TolerationOperator::Exists => {}
        }
    }
    errs
}

/// `validateAffinity`: node affinity (a required selector with terms, preferred weights 1–100)
/// and pod (anti-)affinity terms.
fn validate_affinity(a: &Affinity, path: &FieldPath) -> ErrorList {
    let mut errs = ErrorList::new();
    if let Some(na) = &a.node_affinity {
        let np = path.child("nodeAffinity");
        if let Some(required) = &na.required_during_scheduling_ignored_during_execution {
            errs.extend(validate_node_selector(
                required,
                &np.child("requiredDuringSchedulingIgnoredDuringExecution"),
            ));
        }
        let pp = np.child("preferredDuringSchedulingIgnoredDuringExecution");
        for (i, term) in na
            .preferred_during_scheduling_ignored_during_execution
            .iter()
            .enumerate()
        {
            if !(1..=100).contains(&term.weight) {
                errs.push(FieldError::invalid(
                    &pp.index(i).child("weight"),
                    term.weight,
                    "must be in the range 1-100",
                ));
            }
            errs.extend(validate_node_selector_term(
                &term.preference,
                &pp.index(i).child("preference"),
            ));
        }
    }
    let pod_terms = [
        a.pod_affinity.as_ref().map(|x| {
            (
                &x.required_during_scheduling_ignored_during_execution,
                &x.preferred_during_scheduling_ignored_during_execution,
            )
        }),
        a.pod_anti_affinity.as_ref().map(|x| {
            (
                &x.required_during_scheduling_ignored_during_execution,
                &x.preferred_during_scheduling_ignored_during_execution,
            )
        }),
    ];
    for (terms, field) in pod_terms
        .into_iter()
        .zip(["podAffinity", "podAntiAffinity"])
    {
        let Some((required, preferred)) = terms else {
            continue;
        };
        let fp = path.child(field);
        for (i, term) in required.iter().enumerate() {
            errs.extend(validate_pod_affinity_term(
                term,
                &fp.child("requiredDuringSchedulingIgnoredDuringExecution")
                    .index(i),
            ));
        }
        let pp = fp.child("preferredDuringSchedulingIgnoredDuringExecution");
        for (i, w) in preferred.iter().enumerate() {
            if !(1..=100).contains(&w.weight) {
                errs.push(FieldError::invalid(
                    &pp.index(i).child("weight"),
                    w.weight,
                    "must be in the range 1-100",
                ));
            }
            errs.extend(validate_pod_affinity_term(
                &w.pod_affinity_term,
                &pp.index(i).child("podAffinityTerm"),
            ));
        }
    }
    errs
}

/// `validatePodAffinityTerm`: a valid selector, namespace names, match label keys, and a
/// topology key that is a qualified name.
fn validate_pod_affinity_term(term: &PodAffinityTerm, path: &FieldPath) -> ErrorList {
    let mut errs = ErrorList::new();
    if let Some(s) = &term.label_selector {
        errs.extend(crate::selector::validate_label_selector(
            s,
            &path.child("labelSelector"),
        ));
    }
    if let Some(s) = &term.namespace_selector {
        errs.extend(crate::selector::validate_label_selector(
            s,
            &path.child("namespaceSelector"),
        ));
    }
    // Kubernetes reports these at `namespace` (sic); the real path is used here.
    for (i, ns) in term.namespaces.iter().enumerate() {
        check_syntax(
            &mut errs,
            &path.child("namespaces").index(i),
            ns,
            is_dns1123_label,
        );
    }
    errs.extend(validate_match_label_keys(
        &term.match_label_keys,
        &term.mismatch_label_keys,
        term.label_selector.as_ref(),
        path,
    ));
    if term.topology_key.is_empty() {
        errs.push(FieldError::required(
            &path.child("topologyKey"),
            "can not be empty",
        ));
    }
    check_syntax(
        &mut errs,
        &path.child("topologyKey"),
        &term.topology_key,
        is_qualified_name,
    );
    errs
}

/// `validateMatchLabelKeysAndMismatchLabelKeys`: keys are qualified names, need a label
/// selector, and a key may not be in both lists.
fn validate_match_label_keys(
    match_keys: &[String],
    mismatch_keys: &[String],
    selector: Option<&LabelSelector>,
    path: &FieldPath,
) -> ErrorList {
    let mut errs = ErrorList::new();
    if match_keys.is_empty() && mismatch_keys.is_empty() {
        return errs;
    }
    if selector.is_none() {
        if !match_keys.is_empty() {
            errs.push(FieldError::forbidden(
                &path.child("matchLabelKeys"),
                "must not be specified when labelSelector is not set",
            ));
        }
        if !mismatch_keys.is_empty() {
            errs.push(FieldError::forbidden(
                &path.child("mismatchLabelKeys"),
                "must not be specified when labelSelector is not set",
            ));
        }
        return errs;
    }
    for (keys, field) in [
        (match_keys, "matchLabelKeys"),
        (mismatch_keys, "mismatchLabelKeys"),
    ] {
        for (i, k) in keys.iter().enumerate() {
            check_syntax(&mut errs, &path.child(field).index(i), k, is_qualified_name);
        }
    }
    for (i, k) in mismatch_keys.iter().enumerate() {
        if match_keys.contains(k) {
            errs.push(FieldError::invalid(
                &path.child("mismatchLabelKeys").index(i),
                k,
                "exists in both matchLabelKeys and mismatchLabelKeys",
            ));
        }
    }
    errs
}

/// Validates a node selector as Kubernetes' `ValidateNodeSelector` does (a pod's required node
/// affinity, a PersistentVolume's `nodeAffinity.required`): at least one term, each valid.
pub fn validate_node_selector(selector: &NodeSelector, path: &FieldPath) -> ErrorList {
    let terms_path = path.child("nodeSelectorTerms");
    if selector.node_selector_terms.is_empty() {
        return vec![FieldError::required(
            &terms_path,
            "must have at least one node selector term",
        )];
    }
    let mut errs = ErrorList::new();
    for (i, term) in selector.node_selector_terms.iter().enumerate() {
        errs.extend(validate_node_selector_term(term, &terms_path.index(i)));
    }
    errs
}

/// `ValidateNodeSelectorTerm`: each label requirement and field requirement valid.
pub fn validate_node_selector_term(term: &NodeSelectorTerm, path: &FieldPath) -> ErrorList {
    let mut errs = ErrorList::new();
    for (j, r) in term.match_expressions.iter().enumerate() {
        let p = path.child("matchExpressions").index(j);
        let vp = p.child("values");
        match r.operator {
            NodeSelectorOperator::In | NodeSelectorOperator::NotIn if r.values.is_empty() => {
                errs.push(FieldError::required(
                    &vp,
                    "must be specified when `operator` is 'In' or 'NotIn'",
                ));
            }
            NodeSelectorOperator::Exists | NodeSelectorOperator::DoesNotExist
                if !r.values.is_empty() =>
            {
                errs.push(FieldError::forbidden(
                    &vp,
                    "may not be specified when `operator` is 'Exists' or 'DoesNotExist'",
                ));
            }
            NodeSelectorOperator::Gt | NodeSelectorOperator::Lt => {
                if r.values.len() != 1 {
                    errs.push(FieldError::required(
                        &vp,
                        "must be specified single value when `operator` is 'Lt' or 'Gt'",
                    ));
                } else if r.values[0].parse::<i64>().is_err() {
                    // Kubernetes accepts a non-integer here but such a term never matches a
                    // node; Flotilla rejects it up front.
                    errs.push(FieldError::invalid(
                        &vp.index(0),
                        &r.values[0],
                        "must be an integer when `operator` is 'Lt' or 'Gt'",
                    ));
                }
            }
            _ => {}
        }
        check_syntax(&mut errs, &p.child("key"), &r.key, is_qualified_name);
        for (k, v) in r.values.iter().enumerate() {
            check_syntax(&mut errs, &vp.index(k), v, is_label_value);
        }
    }
    for (j, r) in term.match_fields.iter().enumerate() {
        let p = path.child("matchFields").index(j);
        match r.operator {
            NodeSelectorOperator::In | NodeSelectorOperator::NotIn => {
                if r.values.len() != 1 {
                    errs.push(FieldError::required(
                        &p.child("values"),
                        "must be only one value when `operator` is 'In' or 'NotIn' for node field selector",
                    ));
                }
            }
            other => errs.push(FieldError::invalid(
                &p.child("operator"),
                other,
                "not a valid selector operator",
            )),
        }
        if r.key != NODE_FIELD_SELECTOR_KEY_NAME {
            errs.push(FieldError::invalid(
                &p.child("key"),
                &r.key,
                "not a valid field selector key",
            ));
        } else {
            for (k, v) in r.values.iter().enumerate() {
                check_syntax(
                    &mut errs,
                    &p.child("values").index(k),
                    v,
                    is_dns1123_subdomain,
                );
            }
        }
    }
    errs
}

/// `validateTopologySpreadConstraints`.
fn validate_topology_spread_constraints(
    constraints: &[TopologySpreadConstraint],
    path: &FieldPath,
) -> ErrorList {
    let mut errs = ErrorList::new();
    for (i, c) in constraints.iter().enumerate() {
        let p = path.index(i);
        if c.max_skew <= 0 {
            errs.push(FieldError::invalid(
                &p.child("maxSkew"),
                c.max_skew,
                NOT_POSITIVE_ERROR,
            ));
        }
        if c.topology_key.is_empty() {
            errs.push(FieldError::required(
                &p.child("topologyKey"),
                "can not be empty",
            ));
        } else {
            check_syntax(
                &mut errs,
                &p.child("topologyKey"),
                &c.topology_key,
                is_qualified_name,
            );
        }
        let action = c.when_unsatisfiable;
        if action.is_none() {
            errs.push(FieldError::not_supported(
                &p.child("whenUnsatisfiable"),
                "",
                &["DoNotSchedule", "ScheduleAnyway"],
            ));
        }
        // The pair (topologyKey, whenUnsatisfiable) must be unique; the error is reported on the
        // first of two equal constraints, as Kubernetes does.
        if constraints[i + 1..]
            .iter()
            .any(|o| o.topology_key == c.topology_key && o.when_unsatisfiable == action)
        {
            let action_name = action.map_or_else(String::new, |a| format!("{a:?}"));
            errs.push(FieldError::duplicate(
                &p.child("{topologyKey, whenUnsatisfiable}"),
                format!("{{{}, {}}}", c.topology_key, action_name),
            ));
        }
        if let Some(min) = c.min_domains {
            let mp = p.child("minDomains");
            if min <= 0 {
                errs.push(FieldError::invalid(&mp, min, NOT_POSITIVE_ERROR));
            }
            if let Some(a @ UnsatisfiableConstraintAction::ScheduleAnyway) = action {
                errs.push(FieldError::invalid(
                    &mp,
                    min,
                    format!(
                        "can only use minDomains if whenUnsatisfiable=DoNotSchedule, not {a:?}"
                    ),
                ));
            }
        }
        errs.extend(validate_match_label_keys_in_spread(
            &c.match_label_keys,
            c.label_selector.as_ref(),
            &p.child("matchLabelKeys"),
        ));
        if let Some(s) = &c.label_selector {
            errs.extend(crate::selector::validate_label_selector(
                s,
                &p.child("labelSelector"),
            ));
        }
    }
    errs
}

/// `validateMatchLabelKeysInTopologySpread`: keys are qualified names, need a label selector,
/// and may not be keys the selector already constrains.
fn validate_match_label_keys_in_spread(
    keys: &[String],
    selector: Option<&LabelSelector>,
    path: &FieldPath,
) -> ErrorList {
    let mut errs = ErrorList::new();
    if keys.is_empty() {
        return errs;
    }
    let Some(selector) = selector else {
        errs.push(FieldError::forbidden(
            path,
            "must not be specified when labelSelector is not set",
        ));
        return errs;
    };
    for (i, k) in keys.iter().enumerate() {
        check_syntax(&mut errs, &path.index(i), k, is_qualified_name);
        if selector.match_labels.contains_key(k)
            || selector.match_expressions.iter().any(|e| &e.key == k)
        {
            errs.push(FieldError::invalid(
                &path.index(i),
                k,
                "exists in both matchLabelKeys and labelSelector",
            ));
        }
    }
    errs
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// Deserializes every document of a manifest file into `T`, failing on fields `T` does not
    /// have, after checking and removing `apiVersion` and `kind`.
    pub(crate) fn manifest_objects<T: serde::de::DeserializeOwned>(
        text: &str,
        kind: &str,
    ) -> Vec<T> {
        use serde::Deserialize as _;
        let mut out = Vec::new();
        for doc in serde_yaml::Deserializer::from_str(text) {
            let mut value = serde_yaml::Value::deserialize(doc).expect("valid YAML");
            let map = value.as_mapping_mut().expect("a mapping");
            assert_eq!(
                map.remove("kind")
                    .and_then(|k| k.as_str().map(String::from))
                    .as_deref(),
                Some(kind)
            );
            assert_eq!(
                map.remove("apiVersion")
                    .and_then(|k| k.as_str().map(String::from))
                    .as_deref(),
                Some("v1")
            );
            let mut unknown = Vec::new();
            let obj: T = serde_ignored::deserialize(value, |p| unknown.push(p.to_string()))
                .expect("deserializes");
            assert!(unknown.is_empty(), "unknown fields: {unknown:?}");
            out.push(obj);
        }
        out
    }

    fn pod(yaml: &str) -> Pod {
        serde_yaml::from_str(yaml).expect("valid pod YAML")
    }

    fn spec(yaml: &str) -> PodSpec {
        serde_yaml::from_str(yaml).expect("valid pod spec YAML")
    }

    /// The validation errors of a pod spec, as strings, with paths under `spec`.
    fn errors(yaml: &str) -> Vec<String> {
        validate_pod_spec(&spec(yaml), &FieldPath::new("spec"))
            .iter()
            .map(ToString::to_string)
            .collect()
    }

    fn q(s: &str) -> Quantity {
        Quantity::parse(s).expect("valid quantity")
    }

    fn list(pairs: &[(&str, &str)]) -> ResourceList {
        pairs.iter().map(|(k, v)| (k.to_string(), q(v))).collect()
    }

    const MINIMAL: &str = "containers: [{name: app, image: nginx:1.27}]";

    #[test]
    fn example_manifests_deserialize_and_validate() {
        let pods: Vec<Pod> =
            manifest_objects(include_str!("../../../examples/manifests/pod.yaml"), "Pod");
        assert_eq!(pods.len(), 3);
        for mut p in pods {
            assert!(
                p.validate().is_empty(),
                "{}: {:?}",
                p.metadata.name,
                p.validate()
            );
            p.set_defaults();
            assert!(
                p.validate().is_empty(),
                "{} defaulted: {:?}",
                p.metadata.name,
                p.validate()
            );
            assert!(["shop", "default"].contains(&p.metadata.namespace.as_str()));
        }
    }

    #[test]
    fn realistic_yaml_reads_every_field_group() {
        let pods: Vec<Pod> =
            manifest_objects(include_str!("../../../examples/manifests/pod.yaml"), "Pod");
        let web = &pods[0];
        let s = &web.spec;
        assert_eq!(
            s.init_containers[1].restart_policy,
            Some(ContainerRestartPolicy::Always)
        );
        let c = &s.containers[0];
        assert_eq!(c.ports[0].name, "http");
        assert_eq!(
            c.env[1]
                .value_from
                .as_ref()
                .and_then(|v| v.config_map_key_ref.as_ref())
                .map(|r| r.key.as_str()),
            Some("LOG_LEVEL")
        );
        assert_eq!(
            c.env[6]
                .value_from
                .as_ref()
                .and_then(|v| v.resource_field_ref.as_ref())
                .and_then(|r| r.divisor),
            Some(q("1Mi"))
        );
        assert_eq!(c.env_from[0].prefix, "CFG_");
        assert_eq!(c.resources.limits["cpu"], q("500m"));
        assert_eq!(c.volume_mounts[0].sub_path, "nginx.conf");
        assert_eq!(
            c.liveness_probe
                .as_ref()
                .and_then(|p| p.http_get.as_ref())
                .map(|g| g.port.clone()),
            Some(crate::meta::IntOrString::String("http".into()))
        );
        assert_eq!(
            c.security_context
                .as_ref()
                .and_then(|sc| sc.capabilities.as_ref())
                .map(|c| c.drop.clone()),
            Some(vec!["ALL".to_string()])
        );
        assert_eq!(
            s.volumes
                .iter()
                .map(Volume::source_count)
                .collect::<Vec<_>>(),
            vec![1; 7]
        );
        assert!(s.volumes[5].downward_api.is_some());
        assert_eq!(
            s.volumes[6].host_path.as_ref().and_then(|h| h.r#type),
            Some(HostPathType::DirectoryOrCreate)
        );
        let worker = &pods[1].spec;
        assert_eq!(
            worker.scheduling_gates[0].name,
            "example.com/quota-reserved"
        );
        assert_eq!(worker.tolerations[1].toleration_seconds, Some(300));
        assert_eq!(worker.topology_spread_constraints[0].min_domains, Some(2));
        let na = worker
            .affinity
            .as_ref()
            .and_then(|a| a.node_affinity.as_ref())
            .expect("node affinity");
        let required = na
            .required_during_scheduling_ignored_during_execution
            .as_ref()
            .expect("required");
        assert_eq!(
            required.node_selector_terms[0].match_expressions[2].operator,
            NodeSelectorOperator::Gt
        );
    }

    #[test]
    fn status_reads_with_kubernetes_field_names() {
        let p = pod(r#"
metadata: {name: web-0, namespace: shop}
spec: {containers: [{name: web, image: nginx:1.27}]}
status:
  phase: Running
  hostIP: 10.0.2.15
  hostIPs: [{ip: 10.0.2.15}]
  podIP: 10.244.1.7
  podIPs: [{ip: 10.244.1.7}, {ip: "fd00:10:244:1::7"}]
  startTime: "2026-01-15T09:00:00Z"
  qosClass: Burstable
  conditions:
    - {type: Ready, status: "True", lastTransitionTime: "2026-01-15T09:00:05Z"}
  containerStatuses:
    - name: web
      ready: true
      started: true
      restartCount: 1
      image: nginx:1.27
      imageID: docker.io/library/nginx@sha256:abc
      containerID: containerd://0123
      state: {running: {startedAt: "2026-01-15T09:00:03Z"}}
      lastState: {terminated: {exitCode: 137, reason: OOMKilled, finishedAt: "2026-01-15T09:00:02Z"}}
"#);
        assert_eq!(p.phase(), PodPhase::Running);
        assert_eq!(p.status.host_ip, "10.0.2.15");
        assert_eq!(p.status.pod_ips.len(), 2);
        assert_eq!(p.status.qos_class, Some(PodQosClass::Burstable));
        let cs = &p.status.container_statuses[0];
        assert_eq!(cs.image_id, "docker.io/library/nginx@sha256:abc");
        assert_eq!(cs.container_id, "containerd://0123");
        assert_eq!(
            cs.last_state.terminated.as_ref().map(|t| t.exit_code),
            Some(137)
        );
        assert!(p.is_ready());
        let json = serde_json::to_value(&p).expect("serializes");
        assert_eq!(json["status"]["podIP"], "10.244.1.7");
        assert_eq!(
            json["status"]["containerStatuses"][0]["imageID"],
            "docker.io/library/nginx@sha256:abc"
        );
    }

    #[test]
    fn readiness_needs_a_true_ready_condition() {
        let mut p = Pod::default();
        assert!(!p.is_ready());
        p.status.conditions.push(PodCondition {
            r#type: PodCondition::READY.into(),
            status: ConditionStatus::False,
            ..Default::default()
        });
        assert!(!p.is_ready());
        p.status.conditions[0].status = ConditionStatus::True;
        assert!(p.is_ready());
    }

    #[test]
    fn pod_spec_defaults() {
        let mut s = spec(
            r#"
containers:
  - name: app
    image: nginx:1.27
    ports: [{containerPort: 80}]
    livenessProbe: {httpGet: {port: 80}}
    readinessProbe: {exec: {command: [true]}, periodSeconds: 3}
    env: [{name: NODE, valueFrom: {fieldRef: {fieldPath: spec.nodeName}}}]
volumes:
  - name: scratch
  - name: cfg
    configMap: {name: web-config}
  - name: sec
    secret: {secretName: web-secret, defaultMode: 256}
  - name: host
    hostPath: {path: /var/log}
  - name: proj
    projected: {sources: [{serviceAccountToken: {path: token}}]}
  - name: info
    downwardAPI: {items: [{path: name, fieldRef: {fieldPath: metadata.name}}]}
"#,
        );
        s.set_defaults();
        assert_eq!(s.restart_policy, Some(RestartPolicy::Always));
        assert_eq!(s.termination_grace_period_seconds, Some(30));
        assert_eq!(s.dns_policy, Some(DnsPolicy::ClusterFirst));
        assert_eq!(s.scheduler_name, "default-scheduler");
        assert_eq!(s.security_context, Some(PodSecurityContext::default()));
        assert_eq!(s.preemption_policy, None);
        assert_eq!(s.enable_service_links, None, "a pod-only default");
        let c = &s.containers[0];
        assert_eq!(c.image_pull_policy, Some(PullPolicy::IfNotPresent));
        assert_eq!(c.termination_message_path, "/dev/termination-log");
        assert_eq!(
            c.termination_message_policy,
            Some(TerminationMessagePolicy::File)
        );
        assert_eq!(c.ports[0].protocol, Some(Protocol::Tcp));
        let live = c.liveness_probe.as_ref().expect("probe");
        assert_eq!(
            (
                live.timeout_seconds,
                live.period_seconds,
                live.success_threshold,
                live.failure_threshold
            ),
            (1, 10, 1, 3)
        );
        let get = live.http_get.as_ref().expect("httpGet");
        assert_eq!(
            (get.path.as_str(), get.scheme),
            ("/", Some(UriScheme::Http))
        );
        assert_eq!(
            c.readiness_probe.as_ref().map(|p| p.period_seconds),
            Some(3)
        );
        let field = c.env[0]
            .value_from
            .as_ref()
            .and_then(|v| v.field_ref.as_ref())
            .expect("fieldRef");
        assert_eq!(field.api_version, "v1");
        assert_eq!(
            s.volumes[0].empty_dir,
            Some(EmptyDirVolumeSource::default())
        );
        assert_eq!(
            s.volumes[1]
                .config_map
                .as_ref()
                .and_then(|c| c.default_mode),
            Some(420)
        );
        assert_eq!(
            s.volumes[2].secret.as_ref().and_then(|c| c.default_mode),
            Some(256)
        );
        assert_eq!(
            s.volumes[3].host_path.as_ref().and_then(|h| h.r#type),
            Some(HostPathType::Unset)
        );
        let proj = s.volumes[4].projected.as_ref().expect("projected");
        assert_eq!(proj.default_mode, Some(420));
        assert_eq!(
            proj.sources[0]
                .service_account_token
                .as_ref()
                .and_then(|t| t.expiration_seconds),
            Some(3600)
        );
        assert_eq!(
            s.volumes[5]
                .downward_api
                .as_ref()
                .and_then(|d| d.default_mode),
            Some(420)
        );
        // A defaulted host path serializes its type as "".
        let json = serde_json::to_value(&s.volumes[3]).expect("serializes");
        assert_eq!(json["hostPath"]["type"], "");
        // Defaulting is idempotent.
        let again = {
            let mut t = s.clone();
            t.set_defaults();
            t
        };
        assert_eq!(again, s);
    }

    #[test]
    fn image_pull_policy_follows_the_tag() {
        for (image, policy) in [
            ("nginx", PullPolicy::Always),
            ("nginx:latest", PullPolicy::Always),
            ("nginx:1.27", PullPolicy::IfNotPresent),
            ("registry.example.com:5000/shop/web", PullPolicy::Always),
            ("registry.example.com:5000/shop/web:2.0", PullPolicy::IfNotPresent),
            ("nginx@sha256:0c86dddac19f2ce4fd716ac58c0fd87bf69bfd4edabfd6971fb885bafd12a00b", PullPolicy::IfNotPresent),
            ("nginx:latest@sha256:0c86dddac19f2ce4fd716ac58c0fd87bf69bfd4edabfd6971fb885bafd12a00b", PullPolicy::Always),
        ] {
            let mut c = Container { name: "c".into(), image: image.into(), ..Default::default() };
            c.set_defaults();
            assert_eq!(c.image_pull_policy, Some(policy), "{image}");
        }
        let mut c = Container {
            image: "nginx".into(),
            image_pull_policy: Some(PullPolicy::Never),
            ..Default::default()
        };
        c.set_defaults();
        assert_eq!(c.image_pull_policy, Some(PullPolicy::Never));
    }

    #[test]
    fn pod_only_defaults() {
        let mut p = pod(r#"
spec:
  hostNetwork: true
  containers:
    - name: app
      image: nginx:1.27
      ports: [{containerPort: 8080}, {containerPort: 9090, hostPort: 9090}]
      resources:
        limits: {cpu: 500m, memory: 128Mi}
        requests: {cpu: 100m}
  initContainers:
    - name: init
      image: busybox:1.36
      resources: {limits: {memory: 64Mi}}
"#);
        let mut template = PodTemplateSpec {
            metadata: ObjectMeta::default(),
            spec: (*p.spec).clone(),
        };
        p.set_defaults();
        let c = &p.spec.containers[0];
        assert_eq!(
            c.resources.requests,
            list(&[("cpu", "100m"), ("memory", "128Mi")])
        );
        assert_eq!(
            p.spec.init_containers[0].resources.requests,
            list(&[("memory", "64Mi")])
        );
        assert_eq!(c.ports[0].host_port, 8080);
        assert_eq!(p.spec.enable_service_links, Some(true));
        assert_eq!(p.status.phase, Some(PodPhase::Pending));
        assert_eq!(p.status.qos_class, Some(PodQosClass::Burstable));
        template.set_defaults();
        assert_eq!(
            template.spec.containers[0].resources.requests,
            list(&[("cpu", "100m")])
        );
        assert_eq!(template.spec.containers[0].ports[0].host_port, 0);
        assert_eq!(template.spec.enable_service_links, None);
        assert_eq!(template.spec.restart_policy, Some(RestartPolicy::Always));
    }

    #[test]
    fn tolerations_follow_kubernetes_matching() {
        let taint = Taint::new("nvidia.com/gpu", "present", TaintEffect::NoSchedule);
        let tol = |yaml: &str| -> Toleration { serde_yaml::from_str(yaml).expect("toleration") };
        assert!(
            tol("{operator: Exists}").tolerates(&taint),
            "empty key with Exists tolerates everything"
        );
        assert!(tol("{key: nvidia.com/gpu, operator: Exists}").tolerates(&taint));
        assert!(
            tol("{key: nvidia.com/gpu, value: present}").tolerates(&taint),
            "Equal is the default"
        );
        assert!(
            tol("{key: nvidia.com/gpu, operator: Equal, value: present, effect: NoSchedule}")
                .tolerates(&taint)
        );
        assert!(!tol("{key: nvidia.com/gpu, operator: Equal, value: absent}").tolerates(&taint));
        assert!(
            !tol("{key: nvidia.com/gpu, operator: Exists, effect: NoExecute}").tolerates(&taint)
        );
        assert!(!tol("{key: other, operator: Exists}").tolerates(&taint));
        // An empty key with Equal skips the key comparison (validation rejects such a toleration).
        assert!(tol("{value: present}").tolerates(&taint));
        assert!(!tol("{value: absent}").tolerates(&taint));
        let taints = [
            taint.clone(),
            Taint::new("dedicated", "db", TaintEffect::PreferNoSchedule),
        ];
        let tolerations = [tol("{key: nvidia.com/gpu, operator: Exists}")];
        assert!(tolerations_tolerate_taint(&tolerations, &taint));
        let hard = |t: &Taint| t.effect != TaintEffect::PreferNoSchedule;
        assert_eq!(find_untolerated_taint(&taints, &tolerations, hard), None);
        assert_eq!(find_untolerated_taint(&taints, &[], hard), Some(&taint));
    }

    #[test]
    fn node_selectors_match_as_kubernetes_does() {
        let labels: BTreeMap<String, String> = [
            ("kubernetes.io/os", "linux"),
            ("topology.kubernetes.io/zone", "eu-west-1a"),
            ("example.com/gpu-memory-gib", "24"),
            ("example.com/rack", "r12"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        let sel = |yaml: &str| -> NodeSelector { serde_yaml::from_str(yaml).expect("selector") };
        let m = |yaml: &str| sel(yaml).matches(&labels, "gpu-worker-1");
        assert!(m("nodeSelectorTerms: [{matchExpressions: [{key: kubernetes.io/os, operator: In, values: [linux, windows]}]}]"));
        assert!(!m("nodeSelectorTerms: [{matchExpressions: [{key: kubernetes.io/os, operator: NotIn, values: [linux]}]}]"));
        assert!(m("nodeSelectorTerms: [{matchExpressions: [{key: absent, operator: NotIn, values: [x]}]}]"));
        assert!(m(
            "nodeSelectorTerms: [{matchExpressions: [{key: example.com/rack, operator: Exists}]}]"
        ));
        assert!(m(
            "nodeSelectorTerms: [{matchExpressions: [{key: absent, operator: DoesNotExist}]}]"
        ));
        assert!(m("nodeSelectorTerms: [{matchExpressions: [{key: example.com/gpu-memory-gib, operator: Gt, values: ['16']}]}]"));
        assert!(!m("nodeSelectorTerms: [{matchExpressions: [{key: example.com/gpu-memory-gib, operator: Lt, values: ['16']}]}]"));
        assert!(!m("nodeSelectorTerms: [{matchExpressions: [{key: example.com/rack, operator: Gt, values: ['1']}]}]"), "a non-integer label never matches Gt");
        assert!(!m(
            "nodeSelectorTerms: [{matchExpressions: [{key: absent, operator: Lt, values: ['1']}]}]"
        ));
        // Requirements are ANDed, terms ORed.
        assert!(!m("nodeSelectorTerms: [{matchExpressions: [{key: kubernetes.io/os, operator: In, values: [linux]}, {key: example.com/rack, operator: In, values: [r1]}]}]"));
        assert!(m("nodeSelectorTerms: [{matchExpressions: [{key: example.com/rack, operator: In, values: [r1]}]}, {matchExpressions: [{key: example.com/rack, operator: In, values: [r12]}]}]"));
        // Fields: metadata.name with In/NotIn and one value.
        assert!(m("nodeSelectorTerms: [{matchFields: [{key: metadata.name, operator: In, values: [gpu-worker-1]}]}]"));
        assert!(!m("nodeSelectorTerms: [{matchFields: [{key: metadata.name, operator: NotIn, values: [gpu-worker-1]}]}]"));
        assert!(!m("nodeSelectorTerms: [{matchFields: [{key: metadata.name, operator: In, values: [a, gpu-worker-1]}]}]"), "more than one value is unusable");
        assert!(!m("nodeSelectorTerms: [{matchFields: [{key: spec.unschedulable, operator: In, values: ['false']}]}]"));
        // Empty terms and unusable requirements match nothing; the other terms still count.
        assert!(!m("nodeSelectorTerms: [{}]"));
        assert!(!m("nodeSelectorTerms: []"));
        assert!(!m(
            "nodeSelectorTerms: [{matchExpressions: [{key: kubernetes.io/os, operator: In}]}]"
        ));
        assert!(m("nodeSelectorTerms: [{matchExpressions: [{key: x, operator: Gt, values: [a]}]}, {matchExpressions: [{key: kubernetes.io/os, operator: Exists}]}]"));
    }

    fn container(name: &str, requests: &[(&str, &str)], limits: &[(&str, &str)]) -> Container {
        Container {
            name: name.into(),
            image: "busybox:1.36".into(),
            resources: ResourceRequirements {
                requests: list(requests),
                limits: list(limits),
            },
            ..Default::default()
        }
    }

    fn sidecar(name: &str, requests: &[(&str, &str)]) -> Container {
        Container {
            restart_policy: Some(ContainerRestartPolicy::Always),
            ..container(name, requests, &[])
        }
    }

    #[test]
    fn pod_requests_sum_containers_and_take_the_init_peak() {
        let mut s = PodSpec {
            containers: vec![
                container("a", &[("cpu", "100m"), ("memory", "64Mi")], &[]),
                container("b", &[("cpu", "200m")], &[]),
            ]
            .into(),
            ..Default::default()
        };
        assert_eq!(
            pod_requests(&s),
            list(&[("cpu", "300m"), ("memory", "64Mi")])
        );
        // A big init container raises the pod's request to its own; a small one does not.
        s.init_containers =
            vec![container("init", &[("cpu", "1"), ("memory", "32Mi")], &[])].into();
        assert_eq!(pod_requests(&s), list(&[("cpu", "1"), ("memory", "64Mi")]));
        s.overhead = list(&[("cpu", "50m"), ("memory", "10Mi")]);
        assert_eq!(
            pod_requests(&s),
            list(&[("cpu", "1050m"), ("memory", "74Mi")])
        );
        let opts = PodResourcesOptions {
            exclude_overhead: true,
            ..Default::default()
        };
        assert_eq!(
            pod_requests_with(&s, &opts),
            list(&[("cpu", "1"), ("memory", "64Mi")])
        );
    }

    #[test]
    fn sidecars_accumulate_in_pod_requests() {
        // KEP-753's example: sidecar 1 (100m) then init (1) then sidecar 2 (200m), app 300m.
        let s = PodSpec {
            init_containers: vec![
                sidecar("sidecar-1", &[("cpu", "100m")]),
                container("init", &[("cpu", "1")], &[]),
                sidecar("sidecar-2", &[("cpu", "200m")]),
            ]
            .into(),
            containers: vec![container("app", &[("cpu", "300m")], &[])].into(),
            ..Default::default()
        };
        // Init phase peak: 100m + 1 = 1.1; steady state: 300m + 100m + 200m = 600m.
        assert_eq!(pod_requests(&s), list(&[("cpu", "1100m")]));
        let small_init = PodSpec {
            init_containers: vec![
                sidecar("s", &[("cpu", "500m")]),
                container("i", &[("cpu", "100m")], &[]),
            ]
            .into(),
            containers: vec![container("app", &[("cpu", "300m")], &[])].into(),
            ..Default::default()
        };
        assert_eq!(pod_requests(&small_init), list(&[("cpu", "800m")]));
    }

    #[test]
    fn pod_limits_and_non_missing_requests() {
        let s = PodSpec {
            containers: vec![
                container(
                    "a",
                    &[("cpu", "100m")],
                    &[("cpu", "200m"), ("memory", "1Gi")],
                ),
                container("b", &[], &[("cpu", "300m")]),
            ]
            .into(),
            init_containers: vec![container("i", &[], &[("memory", "2Gi")])].into(),
            ..Default::default()
        };
        assert_eq!(pod_limits(&s), list(&[("cpu", "500m"), ("memory", "2Gi")]));
        let opts = PodResourcesOptions {
            exclude_overhead: false,
            non_missing_container_requests: list(&[("cpu", "100m"), ("memory", "200Mi")]),
        };
        assert_eq!(
            pod_requests_with(&s, &opts),
            list(&[("cpu", "200m"), ("memory", "400Mi")])
        );
    }

    #[test]
    fn qos_classes() {
        let mut p = Pod {
            spec: PodSpec {
                containers: vec![container("a", &[], &[])].into(),
                ..Default::default()
            }
            .into(),
            ..Default::default()
        };
        assert_eq!(p.qos_class(), PodQosClass::BestEffort);
        p.spec.containers[0] =
            container("a", &[("nvidia.com/gpu", "1")], &[("nvidia.com/gpu", "1")]);
        assert_eq!(
            p.qos_class(),
            PodQosClass::BestEffort,
            "only cpu and memory count"
        );
        p.spec.containers[0] = container(
            "a",
            &[("cpu", "1"), ("memory", "1Gi")],
            &[("cpu", "1"), ("memory", "1Gi")],
        );
        assert_eq!(p.qos_class(), PodQosClass::Guaranteed);
        p.spec.containers.push(container(
            "b",
            &[("cpu", "100m")],
            &[("cpu", "200m"), ("memory", "1Gi")],
        ));
        assert_eq!(p.qos_class(), PodQosClass::Burstable);
        p.spec.containers[1] = container(
            "b",
            &[("cpu", "1000m"), ("memory", "1Gi")],
            &[("cpu", "1"), ("memory", "1Gi")],
        );
        assert_eq!(p.qos_class(), PodQosClass::Guaranteed, "1000m equals 1");
        p.spec
            .init_containers
            .push(container("init", &[("cpu", "10m")], &[("cpu", "10m")]));
        assert_eq!(
            p.qos_class(),
            PodQosClass::Burstable,
            "an init container without a memory limit"
        );
        // Limits only: Burstable before defaulting, Guaranteed after (requests default to limits).
        let mut p = Pod {
            spec: PodSpec {
                containers: vec![container("a", &[], &[("cpu", "1"), ("memory", "1Gi")])].into(),
                ..Default::default()
            }
            .into(),
            ..Default::default()
        };
        assert_eq!(p.qos_class(), PodQosClass::Burstable);
        p.set_defaults();
        assert_eq!(p.qos_class(), PodQosClass::Guaranteed);
        assert_eq!(p.status.qos_class, Some(PodQosClass::Guaranteed));
    }

    #[test]
    fn a_minimal_spec_is_valid() {
        assert_eq!(errors(MINIMAL), Vec::<String>::new());
    }

    #[test]
    fn containers_are_required_and_named_uniquely() {
        assert_eq!(
            errors("containers: []"),
            ["spec.containers: Required value"]
        );
        let errs = errors(
            r#"
containers: [{name: web, image: nginx}, {name: web, image: nginx}, {name: Web_1, image: nginx}, {image: nginx}]
initContainers: [{name: web, image: busybox}]
"#,
        );
        assert_eq!(errs[0], "spec.containers[1].name: Duplicate value: \"web\"");
        assert!(
            errs[1].starts_with(
                "spec.containers[2].name: Invalid value: \"Web_1\": a lowercase RFC 1123 label"
            ),
            "{errs:?}"
        );
        assert_eq!(errs[2], "spec.containers[3].name: Required value");
        assert_eq!(
            errs[3],
            "spec.initContainers[0].name: Duplicate value: \"web\""
        );
        assert_eq!(errs.len(), 4, "{errs:?}");
        assert_eq!(
            errors("containers: [{name: web}]"),
            ["spec.containers[0].image: Required value"]
        );
    }

    #[test]
    fn ports_are_checked() {
        let errs = errors(
            r#"
containers:
  - name: web
    image: nginx
    ports:
      - {name: http, containerPort: 8080}
      - {name: http, containerPort: 8081}
      - {name: HTTP, containerPort: 70000}
      - {hostPort: -1}
"#,
        );
        assert_eq!(
            errs,
            [
                "spec.containers[0].ports[1].name: Duplicate value: \"http\"",
                "spec.containers[0].ports[2].name: Invalid value: \"HTTP\": must contain only alpha-numeric characters (a-z, 0-9), and hyphens (-)",
                "spec.containers[0].ports[2].name: Invalid value: \"HTTP\": must contain at least one letter (a-z)",
                "spec.containers[0].ports[2].containerPort: Invalid value: 70000: must be between 1 and 65535, inclusive",
                "spec.containers[0].ports[3].containerPort: Required value",
                "spec.containers[0].ports[3].hostPort: Invalid value: -1: must be between 1 and 65535, inclusive",
            ]
        );
        let errs = errors(
            r#"
containers:
  - {name: a, image: nginx, ports: [{containerPort: 80, hostPort: 8080}]}
  - {name: b, image: nginx, ports: [{containerPort: 81, hostPort: 8080, protocol: TCP}, {containerPort: 81, hostPort: 8080, protocol: UDP}]}
"#,
        );
        assert_eq!(
            errs,
            ["spec.containers[1].ports[0].hostPort: Duplicate value: \"TCP//8080\""]
        );
        let errs = errors("hostNetwork: true\ncontainers: [{name: a, image: nginx, ports: [{containerPort: 80, hostPort: 8080}]}]");
        assert_eq!(errs, ["spec.containers[0].ports[0].containerPort: Invalid value: 80: must match `hostPort` when `hostNetwork` is true"]);
    }

    #[test]
    fn env_sources_are_checked() {
        let errs = errors(
            r#"
containers:
  - name: web
    image: nginx
    env:
      - {name: "A=B", value: x}
      - {name: ""}
      - {name: NONE, valueFrom: {}}
      - {name: BOTH, value: x, valueFrom: {fieldRef: {fieldPath: metadata.name}}}
      - name: TWO
        valueFrom: {fieldRef: {fieldPath: metadata.name}, secretKeyRef: {name: s, key: k}}
      - {name: FIELD, valueFrom: {fieldRef: {fieldPath: spec.hostname}}}
      - {name: LABEL, valueFrom: {fieldRef: {fieldPath: "metadata.labels['app']"}}}
      - {name: CM, valueFrom: {configMapKeyRef: {name: web-config}}}
      - {name: RES, valueFrom: {resourceFieldRef: {resource: limits.cpu, divisor: 1Mi}}}
      - {name: RES2, valueFrom: {resourceFieldRef: {resource: limits.gpu}}}
"#,
        );
        assert_eq!(
            errs,
            [
                "spec.containers[0].env[0].name: Invalid value: \"A=B\": a valid environment variable name must consist only of printable ASCII characters other than '='",
                "spec.containers[0].env[1].name: Required value",
                "spec.containers[0].env[2].valueFrom: Invalid value: \"\": must specify one of: `fieldRef`, `resourceFieldRef`, `configMapKeyRef` or `secretKeyRef`",
                "spec.containers[0].env[3].valueFrom: Invalid value: \"\": may not be specified when `value` is not empty",
                "spec.containers[0].env[4].valueFrom: Invalid value: \"\": may not have more than one field specified at a time",
                "spec.containers[0].env[5].valueFrom.fieldRef.fieldPath: Unsupported value: \"spec.hostname\": supported values: \"metadata.name\", \"metadata.namespace\", \"metadata.uid\", \"spec.nodeName\", \"spec.serviceAccountName\", \"status.hostIP\", \"status.hostIPs\", \"status.podIP\", \"status.podIPs\"",
                "spec.containers[0].env[7].valueFrom.configMapKeyRef.key: Required value",
                "spec.containers[0].env[8].valueFrom.resourceFieldRef.divisor: Invalid value: \"1Mi\": only divisor's values 1m and 1 are supported with the cpu resource",
                "spec.containers[0].env[9].valueFrom.resourceFieldRef.resource: Unsupported value: \"limits.gpu\": supported values: \"limits.cpu\", \"limits.ephemeral-storage\", \"limits.memory\", \"requests.cpu\", \"requests.ephemeral-storage\", \"requests.memory\"",
            ]
        );
        let errs = errors(
            r#"
containers:
  - name: web
    image: nginx
    envFrom:
      - {prefix: CFG_}
      - {configMapRef: {name: a}, secretRef: {name: b}}
      - {configMapRef: {name: ""}}
"#,
        );
        assert_eq!(
            errs,
            [
                "spec.containers[0].envFrom: Invalid value: \"\": must specify one of: `configMapRef` or `secretRef`",
                "spec.containers[0].envFrom: Invalid value: \"\": may not have more than one field specified at a time",
                "spec.containers[0].envFrom[2].configMapRef.name: Required value: name is required",
            ]
        );
    }

    #[test]
    fn volumes_and_mounts_are_checked() {
        let errs = errors(
            r#"
containers:
  - name: web
    image: nginx
    volumeMounts:
      - {name: data, mountPath: /data}
      - {name: missing, mountPath: /data}
      - {name: data, mountPath: /sub, subPath: /abs}
      - {name: data, mountPath: /up, subPath: a/../../b}
      - {name: data}
volumes:
  - {name: data, emptyDir: {}}
  - {name: data, persistentVolumeClaim: {claimName: c}}
  - {name: Bad_Name, configMap: {name: web-config}}
  - {name: two, emptyDir: {}, secret: {secretName: s}}
  - {name: empty-src, hostPath: {path: ""}}
  - {name: modes, secret: {secretName: s, defaultMode: 1000, items: [{key: "", path: ../x}]}}
  - {name: claim, persistentVolumeClaim: {claimName: ""}}
  - {name: size, emptyDir: {sizeLimit: -1Gi}}
"#,
        );
        assert_eq!(
            errs,
            [
                "spec.volumes[1].name: Duplicate value: \"data\"",
                "spec.volumes[2].name: Invalid value: \"Bad_Name\": a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')",
                "spec.volumes[3].secret: Forbidden: may not specify more than 1 volume type",
                "spec.volumes[4].hostPath.path: Required value",
                "spec.volumes[5].secret.defaultMode: Invalid value: 1000: must be a number between 0 and 0777 (octal), both inclusive",
                "spec.volumes[5].secret.items[0].key: Required value",
                "spec.volumes[5].secret.items[0].path: Invalid value: \"../x\": must not contain '..'",
                "spec.volumes[6].persistentVolumeClaim.claimName: Required value",
                "spec.volumes[7].emptyDir.sizeLimit: Forbidden: SizeLimit field must be a valid resource quantity",
                "spec.containers[0].volumeMounts[1].name: Not found: \"missing\"",
                "spec.containers[0].volumeMounts[1].mountPath: Invalid value: \"/data\": must be unique",
                "spec.containers[0].volumeMounts[2].subPath: Invalid value: \"/abs\": must be a relative path",
                "spec.containers[0].volumeMounts[3].subPath: Invalid value: \"a/../../b\": must not contain '..'",
                "spec.containers[0].volumeMounts[4].mountPath: Required value",
            ]
        );
        let errs = errors(
            r#"
containers: [{name: web, image: nginx}]
volumes:
  - name: info
    downwardAPI:
      items:
        - {path: a, fieldRef: {fieldPath: status.podIP}}
        - {path: b}
        - {path: c, resourceFieldRef: {resource: limits.cpu}}
  - name: proj
    projected:
      sources:
        - {secret: {name: s, items: [{key: k, path: same}]}, configMap: {name: c, items: [{key: k, path: same}]}}
        - {serviceAccountToken: {path: token, expirationSeconds: 60}}
"#,
        );
        assert_eq!(
            errs,
            [
                "spec.volumes[0].downwardAPI.items[0].fieldRef.fieldPath: Unsupported value: \"status.podIP\": supported values: \"metadata.annotations\", \"metadata.labels\", \"metadata.name\", \"metadata.namespace\", \"metadata.uid\"",
                "spec.volumes[0].downwardAPI.items[1]: Required value: one of fieldRef and resourceFieldRef is required",
                "spec.volumes[0].downwardAPI.items[2].resourceFieldRef.containerName: Required value",
                "spec.volumes[1].projected: Invalid value: \"c\": conflicting duplicate paths",
                "spec.volumes[1].projected.sources[0]: Forbidden: may not specify more than 1 volume type per source",
                "spec.volumes[1].projected.sources[1].serviceAccountToken.expirationSeconds: Invalid value: 60: may not specify a duration less than 10 minutes",
            ]
        );
    }

    #[test]
    fn resources_are_checked() {
        let errs = errors(
            r#"
containers:
  - name: web
    image: nginx
    resources:
      requests: {cpu: 600m, memory: -1Mi, gpu: 1, nvidia.com/gpu: 1, example.com/bar: 1}
      limits: {cpu: 500m, nvidia.com/gpu: 2, example.com/foo: 500m}
"#,
        );
        assert_eq!(
            errs,
            [
                "spec.containers[0].resources.limits[example.com/foo]: Invalid value: \"500m\": must be an integer",
                "spec.containers[0].resources.requests: Invalid value: \"600m\": must be less than or equal to cpu limit of 500m",
                "spec.containers[0].resources.limits: Required value: Limit must be set for non overcommitable resources",
                "spec.containers[0].resources.requests[gpu]: Invalid value: \"gpu\": must be a standard resource type or fully qualified",
                "spec.containers[0].resources.requests[gpu]: Invalid value: \"gpu\": must be a standard resource for containers",
                "spec.containers[0].resources.requests[memory]: Invalid value: \"-1Mi\": must be greater than or equal to 0",
                "spec.containers[0].resources.requests: Invalid value: \"1\": must be equal to nvidia.com/gpu limit of 2",
            ]
        );
        let errs = errors("containers: [{name: a, image: nginx, resources: {limits: {hugepages-2Mi: 4Mi}, requests: {hugepages-2Mi: 4Mi}}}]");
        assert_eq!(
            errs,
            ["spec.containers[0].resources: Forbidden: HugePages require cpu or memory"]
        );
        let errs = errors("containers: [{name: a, image: nginx, resources: {limits: {pods: 1}}}]");
        assert_eq!(errs, ["spec.containers[0].resources.limits[pods]: Invalid value: \"pods\": must be a standard resource for containers"]);
    }

    #[test]
    fn probes_and_lifecycle_are_checked() {
        let errs = errors(
            r#"
terminationGracePeriodSeconds: 20
containers:
  - name: web
    image: nginx
    livenessProbe: {httpGet: {port: 0}, successThreshold: 2}
    readinessProbe: {exec: {command: [cat]}, tcpSocket: {port: http}, terminationGracePeriodSeconds: 5, failureThreshold: -1}
    startupProbe: {periodSeconds: 1}
    lifecycle:
      preStop: {sleep: {seconds: 30}}
      postStart: {exec: {}}
"#,
        );
        assert_eq!(
            errs,
            [
                "spec.containers[0].lifecycle.postStart.exec.command: Required value",
                "spec.containers[0].lifecycle.preStop.sleep.seconds: Invalid value: 30: must be non-negative and less than terminationGracePeriodSeconds (20)",
                "spec.containers[0].livenessProbe.httpGet.port: Invalid value: 0: must be between 1 and 65535, inclusive",
                "spec.containers[0].livenessProbe.successThreshold: Invalid value: 2: must be 1",
                "spec.containers[0].readinessProbe.tcpSocket: Forbidden: may not specify more than 1 handler type",
                "spec.containers[0].readinessProbe.failureThreshold: Invalid value: -1: must be greater than or equal to 0",
                "spec.containers[0].readinessProbe.terminationGracePeriodSeconds: Invalid value: 5: must not be set for readinessProbes",
                "spec.containers[0].startupProbe: Required value: must specify a handler type",
            ]
        );
        let errs = errors(
            r#"
containers: [{name: web, image: nginx}]
initContainers:
  - {name: init, image: busybox, readinessProbe: {exec: {command: [true]}}, lifecycle: {preStop: {exec: {command: [true]}}}}
  - {name: sidecar, image: busybox, restartPolicy: Always, readinessProbe: {exec: {command: [true]}}}
"#,
        );
        assert_eq!(
            errs,
            [
                "spec.initContainers[0].lifecycle: Forbidden: may not be set for init containers without restartPolicy=Always",
                "spec.initContainers[0].readinessProbe: Forbidden: may not be set for init containers without restartPolicy=Always",
            ]
        );
        assert_eq!(
            errors("containers: [{name: web, image: nginx, restartPolicy: Always}]"),
            ["spec.containers[0].restartPolicy: Forbidden: may not be set for non-init containers"]
        );
    }

    #[test]
    fn security_contexts_are_checked() {
        let errs = errors(
            r#"
securityContext: {runAsUser: -1, supplementalGroups: [1, 4294967296], seccompProfile: {type: Localhost}}
containers:
  - name: web
    image: nginx
    securityContext: {privileged: true, allowPrivilegeEscalation: false, runAsGroup: -5}
"#,
        );
        assert_eq!(
            errs,
            [
                "spec.containers[0].securityContext.runAsGroup: Invalid value: -5: must be between 0 and 2147483647, inclusive",
                "spec.containers[0].securityContext: Invalid value: {\"privileged\":true,\"runAsGroup\":-5,\"allowPrivilegeEscalation\":false}: cannot set `allowPrivilegeEscalation` to false and `privileged` to true",
                "spec.securityContext.runAsUser: Invalid value: -1: must be between 0 and 2147483647, inclusive",
                "spec.securityContext.supplementalGroups[1]: Invalid value: 4294967296: must be between 0 and 2147483647, inclusive",
                "spec.securityContext.seccompProfile.localhostProfile: Required value: must be set when seccomp type is Localhost",
            ]
        );
    }

    #[test]
    fn tolerations_are_checked() {
        let errs = errors(
            r#"
containers: [{name: web, image: nginx}]
tolerations:
  - {operator: Equal, value: x}
  - {key: k, operator: Exists, value: v}
  - {key: k, value: "bad value", tolerationSeconds: 10, effect: NoSchedule}
  - {key: -bad, operator: Exists}
  - {key: node.kubernetes.io/unreachable, operator: Exists, effect: NoExecute, tolerationSeconds: 300}
"#,
        );
        assert_eq!(errs[0], "spec.tolerations[0].operator: Invalid value: \"Equal\": operator must be Exists when `key` is empty, which means \"match all values and all keys\"");
        assert_eq!(errs[1], "spec.tolerations[1].operator: Invalid value: {\"key\":\"k\",\"operator\":\"Exists\",\"value\":\"v\"}: value must be empty when `operator` is 'Exists'");
        assert_eq!(errs[2], "spec.tolerations[2].effect: Invalid value: \"NoSchedule\": effect must be 'NoExecute' when `tolerationSeconds` is set");
        assert!(
            errs[3].starts_with(
                "spec.tolerations[2].operator: Invalid value: \"bad value\": a valid label must be"
            ),
            "{errs:?}"
        );
        assert!(
            errs[4].starts_with(
                "spec.tolerations[3].key: Invalid value: \"-bad\": name part must consist of"
            ),
            "{errs:?}"
        );
        assert_eq!(errs.len(), 5, "{errs:?}");
    }

    #[test]
    fn affinity_is_checked() {
        let errs = errors(
            r#"
containers: [{name: web, image: nginx}]
affinity:
  nodeAffinity:
    requiredDuringSchedulingIgnoredDuringExecution:
      nodeSelectorTerms:
        - matchExpressions:
            - {key: zone, operator: In}
            - {key: zone, operator: Exists, values: [a]}
            - {key: gpus, operator: Gt, values: ["1", "2"]}
            - {key: gpus, operator: Lt, values: [many]}
          matchFields:
            - {key: metadata.name, operator: Exists}
            - {key: metadata.uid, operator: In, values: [x]}
    preferredDuringSchedulingIgnoredDuringExecution:
      - {weight: 0, preference: {matchExpressions: [{key: zone, operator: In, values: [a]}]}}
  podAntiAffinity:
    requiredDuringSchedulingIgnoredDuringExecution:
      - {labelSelector: {matchExpressions: [{key: app, operator: In}]}, namespaces: [shop, Bad]}
    preferredDuringSchedulingIgnoredDuringExecution:
      - {weight: 101, podAffinityTerm: {topologyKey: zone, matchLabelKeys: [app]}}
"#,
        );
        let na = "spec.affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution.nodeSelectorTerms[0]";
        let pa = "spec.affinity.podAntiAffinity";
        assert_eq!(
            errs,
            [
                format!("{na}.matchExpressions[0].values: Required value: must be specified when `operator` is 'In' or 'NotIn'"),
                format!("{na}.matchExpressions[1].values: Forbidden: may not be specified when `operator` is 'Exists' or 'DoesNotExist'"),
                format!("{na}.matchExpressions[2].values: Required value: must be specified single value when `operator` is 'Lt' or 'Gt'"),
                format!("{na}.matchExpressions[3].values[0]: Invalid value: \"many\": must be an integer when `operator` is 'Lt' or 'Gt'"),
                format!("{na}.matchFields[0].operator: Invalid value: Exists: not a valid selector operator"),
                format!("{na}.matchFields[1].key: Invalid value: \"metadata.uid\": not a valid field selector key"),
                "spec.affinity.nodeAffinity.preferredDuringSchedulingIgnoredDuringExecution[0].weight: Invalid value: 0: must be in the range 1-100".to_string(),
                format!("{pa}.requiredDuringSchedulingIgnoredDuringExecution[0].labelSelector.matchExpressions[0].values: Required value: must be specified when `operator` is 'In' or 'NotIn'"),
                format!("{pa}.requiredDuringSchedulingIgnoredDuringExecution[0].namespaces[1]: Invalid value: \"Bad\": a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')"),
                format!("{pa}.requiredDuringSchedulingIgnoredDuringExecution[0].topologyKey: Required value: can not be empty"),
                format!("{pa}.requiredDuringSchedulingIgnoredDuringExecution[0].topologyKey: Invalid value: \"\": name part must be non-empty"),
                format!("{pa}.preferredDuringSchedulingIgnoredDuringExecution[0].weight: Invalid value: 101: must be in the range 1-100"),
                format!("{pa}.preferredDuringSchedulingIgnoredDuringExecution[0].podAffinityTerm.matchLabelKeys: Forbidden: must not be specified when labelSelector is not set"),
            ]
        );
        let empty = validate_node_selector(
            &NodeSelector::default(),
            &FieldPath::new("spec")
                .child("nodeAffinity")
                .child("required"),
        );
        assert_eq!(empty[0].to_string(), "spec.nodeAffinity.required.nodeSelectorTerms: Required value: must have at least one node selector term");
    }

    #[test]
    fn topology_spread_constraints_are_checked() {
        let errs = errors(
            r#"
containers: [{name: web, image: nginx}]
topologySpreadConstraints:
  - {maxSkew: 0, topologyKey: zone, whenUnsatisfiable: DoNotSchedule}
  - {maxSkew: 1, topologyKey: zone, whenUnsatisfiable: DoNotSchedule, labelSelector: {matchLabels: {app: web}}, matchLabelKeys: [app]}
  - {maxSkew: 1, topologyKey: "", whenUnsatisfiable: ScheduleAnyway, minDomains: 2}
  - {maxSkew: 1, topologyKey: host}
"#,
        );
        let p = "spec.topologySpreadConstraints";
        assert_eq!(
            errs,
            [
                format!("{p}[0].maxSkew: Invalid value: 0: must be greater than zero"),
                format!("{p}[0].{{topologyKey, whenUnsatisfiable}}: Duplicate value: \"{{zone, DoNotSchedule}}\""),
                format!("{p}[1].matchLabelKeys[0]: Invalid value: \"app\": exists in both matchLabelKeys and labelSelector"),
                format!("{p}[2].topologyKey: Required value: can not be empty"),
                format!("{p}[2].minDomains: Invalid value: 2: can only use minDomains if whenUnsatisfiable=DoNotSchedule, not ScheduleAnyway"),
                format!("{p}[3].whenUnsatisfiable: Unsupported value: \"\": supported values: \"DoNotSchedule\", \"ScheduleAnyway\""),
            ]
        );
    }

    #[test]
    fn pod_level_fields_are_checked() {
        let errs = errors(
            r#"
containers: [{name: web, image: nginx}]
nodeSelector: {"disk type": ssd}
activeDeadlineSeconds: 0
terminationGracePeriodSeconds: -1
hostname: Web
subdomain: a.b
nodeName: node_1
serviceAccountName: Web
priorityClassName: High
dnsPolicy: None
schedulingGates: [{name: a/b/c}, {name: example.com/gate}, {name: example.com/gate}]
overhead: {cpu: -1}
imagePullSecrets: [{name: ""}]
"#,
        );
        let expected_prefixes = [
            "spec.nodeSelector: Invalid value: \"disk type\": name part must consist of",
            "spec.dnsConfig: Required value: must provide `dnsConfig` when `dnsPolicy` is None",
            "spec.serviceAccountName: Invalid value: \"Web\": a lowercase RFC 1123 subdomain",
            "spec.nodeName: Invalid value: \"node_1\": a lowercase RFC 1123 subdomain",
            "spec.activeDeadlineSeconds: Invalid value: 0: must be between 1 and 2147483647, inclusive",
            "spec.terminationGracePeriodSeconds: Invalid value: -1: must be greater than or equal to 0",
            "spec.hostname: Invalid value: \"Web\": a lowercase RFC 1123 label",
            "spec.subdomain: Invalid value: \"a.b\": a lowercase RFC 1123 label",
            "spec.priorityClassName: Invalid value: \"High\": a lowercase RFC 1123 subdomain",
            "spec.overhead[cpu]: Invalid value: \"-1\": must be greater than or equal to 0",
            "spec.schedulingGates[0]: Invalid value: \"a/b/c\": a qualified name must consist of",
            "spec.schedulingGates[2]: Duplicate value: \"example.com/gate\"",
        ];
        assert_eq!(errs.len(), expected_prefixes.len(), "{errs:#?}");
        for (e, prefix) in errs.iter().zip(expected_prefixes) {
            assert!(e.starts_with(prefix), "{e} does not start with {prefix}");
        }
        let errs = errors("containers: [{name: web, image: nginx}]\ndnsPolicy: None\ndnsConfig: {nameservers: [1.1.1.1, 8.8.8.8, 9.9.9.9, not-an-ip], searches: [shop.svc.cluster.local.]}");
        assert_eq!(
            errs,
            [
                "spec.dnsConfig.nameservers: Invalid value: [\"1.1.1.1\", \"8.8.8.8\", \"9.9.9.9\", \"not-an-ip\"]: must not have more than 3 nameservers",
                "spec.dnsConfig.nameservers[3]: Invalid value: \"not-an-ip\": must be a valid IP address",
            ]
        );
    }

    #[test]
    fn pod_only_rules() {
        let p = pod(r#"
spec:
  nodeName: worker-1
  schedulingGates: [{name: example.com/gate}]
  containers:
    - name: web
      image: " nginx"
      resources: {limits: {hugepages-2Mi: 2Mi, hugepages-1Gi: 1Gi, memory: 1Gi}, requests: {hugepages-2Mi: 2Mi, hugepages-1Gi: 1Gi, memory: 1Gi}}
"#);
        let errs: Vec<String> = p.validate().iter().map(ToString::to_string).collect();
        assert_eq!(
            errs,
            [
                "spec.containers[0].image: Invalid value: \" nginx\": must not have leading or trailing whitespace",
                "spec: Invalid value: {\"hugepages-1Gi\", \"hugepages-2Mi\"}: must use a single hugepage size in a pod spec",
                "spec.nodeName: Forbidden: cannot be set until all schedulingGates have been cleared",
            ]
        );
        // The same spec in a template is not subject to these rules.
        let t = PodTemplateSpec {
            metadata: ObjectMeta::default(),
            spec: (*p.spec).clone(),
        };
        assert!(
            validate_pod_template_spec(&t, &FieldPath::new("spec").child("template")).is_empty()
        );
    }

    #[test]
    fn templates_validate_metadata_and_spec() {
        let t: PodTemplateSpec = serde_yaml::from_str(
            "metadata: {labels: {app: 'bad value'}, annotations: {'-x': y}}\nspec: {containers: [{name: web}]}",
        )
        .expect("template");
        let errs: Vec<String> =
            validate_pod_template_spec(&t, &FieldPath::new("spec").child("template"))
                .iter()
                .map(ToString::to_string)
                .collect();
        assert_eq!(errs.len(), 3, "{errs:?}");
        assert!(
            errs[0].starts_with("spec.template.metadata.labels[app]: Invalid value: \"bad value\"")
        );
        assert!(errs[1].starts_with("spec.template.metadata.annotations: Invalid value: \"-x\""));
        assert_eq!(
            errs[2],
            "spec.template.spec.containers[0].image: Required value"
        );
    }

    fn running_pod() -> Pod {
        let mut p = pod(r#"
metadata: {name: web, namespace: shop}
spec:
  activeDeadlineSeconds: 600
  containers: [{name: web, image: nginx:1.27}]
  initContainers: [{name: init, image: busybox:1.36}]
  tolerations: [{key: a, operator: Exists, effect: NoExecute, tolerationSeconds: 60}]
  schedulingGates: [{name: example.com/a}, {name: example.com/b}]
"#);
        p.set_defaults();
        p
    }

    fn update_errors(new: &Pod, old: &Pod) -> Vec<String> {
        new.validate_update(old)
            .iter()
            .map(ToString::to_string)
            .collect()
    }

    #[test]
    fn pod_updates_may_change_only_some_fields() {
        let old = running_pod();
        let mut new = old.clone();
        new.spec.containers[0].image = "nginx:1.28".into();
        new.spec.init_containers[0].image = "busybox:1.37".into();
        new.spec.active_deadline_seconds = Some(300);
        new.spec.tolerations[0].toleration_seconds = Some(30);
        new.spec.tolerations.push(Toleration {
            key: "b".into(),
            operator: Some(TolerationOperator::Exists),
            ..Default::default()
        });
        new.spec.scheduling_gates.remove(0);
        assert_eq!(update_errors(&new, &old), Vec::<String>::new());

        let mut new = old.clone();
        new.spec.containers[0].ports.push(ContainerPort {
            container_port: 80,
            ..Default::default()
        });
        new.spec.restart_policy = Some(RestartPolicy::Never);
        let errs = update_errors(&new, &old);
        assert_eq!(errs.len(), 1);
        assert!(errs[0].starts_with("spec: Forbidden: pod updates may not change fields other than `spec.containers[*].image`,"), "{errs:?}");
        assert!(
            errs[0].ends_with("; changed: spec.containers, spec.restartPolicy"),
            "{errs:?}"
        );

        let mut new = old.clone();
        new.spec.active_deadline_seconds = Some(900);
        assert_eq!(update_errors(&new, &old), ["spec.activeDeadlineSeconds: Invalid value: 900: must be less than or equal to previous value"]);
        new.spec.active_deadline_seconds = None;
        assert_eq!(update_errors(&new, &old), ["spec.activeDeadlineSeconds: Invalid value: \"nil\": must not update from a positive integer to nil value"]);

        let mut new = old.clone();
        new.spec.tolerations[0].key = "changed".into();
        assert_eq!(update_errors(&new, &old), ["spec.tolerations: Forbidden: existing toleration can not be modified except its tolerationSeconds"]);

        let mut new = old.clone();
        new.spec.scheduling_gates.push(PodSchedulingGate {
            name: "example.com/c".into(),
        });
        assert_eq!(update_errors(&new, &old), ["spec.schedulingGates[2].name: Forbidden: only deletion is allowed, but found new scheduling gate 'example.com/c'"]);

        let mut new = old.clone();
        new.spec.containers.push(container("extra", &[], &[]));
        assert_eq!(
            update_errors(&new, &old),
            ["spec.containers: Forbidden: pod updates may not add or remove containers"]
        );

        let mut negative = old.clone();
        negative.spec.termination_grace_period_seconds = Some(-5);
        let mut new = negative.clone();
        new.spec.termination_grace_period_seconds = Some(1);
        assert_eq!(update_errors(&new, &negative), Vec::<String>::new());
    }

    #[test]
    fn image_tags() {
        assert_eq!(image_tag("nginx"), "latest");
        assert_eq!(image_tag("nginx:1.27"), "1.27");
        assert_eq!(image_tag("localhost:5000/nginx"), "latest");
        assert_eq!(image_tag("nginx@sha256:abc"), "");
        assert_eq!(image_tag("nginx:1.27@sha256:abc"), "1.27");
    }
}
