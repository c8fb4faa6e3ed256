//! The scheduler's compact view of pods and nodes: [`Resource`] vectors as integers, [`PodInfo`]
//! (a pod with its requests and affinity terms computed once), and [`NodeInfo`] (a node with the
//! sums of what its pods request, their host ports and the images it holds), as kube-scheduler's
//! `framework.NodeInfo` and `framework.PodInfo`.
//!
//! Everything a Filter or Score plugin reads per node is here, precomputed, so the hot path does
//! no parsing and no string work beyond map lookups of extended resources.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use flotilla_model::api::{
    pod_requests, pod_requests_with, Node, Pod, PodAffinityTerm, PodResourcesOptions, Protocol,
};
use flotilla_model::selector::{Operator, Requirement};
use flotilla_model::{Quantity, ResourceList, Selector};

/// The default CPU request, in millicores, that scoring assumes for a container without one
/// (`schedutil.DefaultMilliCPURequest`).
pub const DEFAULT_MILLI_CPU_REQUEST: i64 = 100;
/// The default memory request, in bytes, that scoring assumes for a container without one
/// (`schedutil.DefaultMemoryRequest`, 200 MiB).
pub const DEFAULT_MEMORY_REQUEST: i64 = 200 * 1024 * 1024;

/// Amounts of resources as integers: millicores, bytes, counts (kube-scheduler's
/// `framework.Resource`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct Resource {
    /// CPU in millicores.
    pub milli_cpu: i64,
    /// Memory in bytes.
    pub memory: i64,
    /// Local ephemeral storage in bytes.
    pub ephemeral_storage: i64,
    /// Number of pods (only meaningful for allocatable).
    pub allowed_pod_number: i64,
    /// Extended and hugepages resources by name (`nvidia.com/gpu`), in their integer value.
    pub scalar_resources: BTreeMap<String, i64>,
}

impl Resource {
    /// Converts a resource list: `cpu` as millicores, everything else as its integer value
    /// (rounded up, as `Quantity::value` does).
    pub fn from_list(list: &ResourceList) -> Resource {
        let mut r = Resource::default();
        for (name, q) in list {
            r.set(name, q);
        }
        r
    }

    fn set(&mut self, name: &str, q: &Quantity) {
        match name {
            "cpu" => self.milli_cpu = q.milli_value(),
            "memory" => self.memory = q.value(),
            "ephemeral-storage" => self.ephemeral_storage = q.value(),
            "pods" => self.allowed_pod_number = q.value(),
            other => {
                if is_scalar_resource_name(other) {
                    self.scalar_resources.insert(other.to_string(), q.value());
                }
            }
        }
    }

    /// Adds `other` to `self`.
    pub fn add(&mut self, other: &Resource) {
        self.milli_cpu += other.milli_cpu;
        self.memory += other.memory;
        self.ephemeral_storage += other.ephemeral_storage;
        self.allowed_pod_number += other.allowed_pod_number;
        for (k, v) in &other.scalar_resources {
            *self.scalar_resources.entry(k.clone()).or_insert(0) += v;
        }
    }

    /// Subtracts `other` from `self`.
    pub fn sub(&mut self, other: &Resource) {
        self.milli_cpu -= other.milli_cpu;
        self.memory -= other.memory;
        self.ephemeral_storage -= other.ephemeral_storage;
        self.allowed_pod_number -= other.allowed_pod_number;
        for (k, v) in &other.scalar_resources {
            *self.scalar_resources.entry(k.clone()).or_insert(0) -= v;
        }
    }

    /// The amount of a resource by name (`cpu` in millicores), zero when absent.
    pub fn get(&self, name: &str) -> i64 {
        match name {
            "cpu" => self.milli_cpu,
            "memory" => self.memory,
            "ephemeral-storage" => self.ephemeral_storage,
            "pods" => self.allowed_pod_number,
            other => self.scalar_resources.get(other).copied().unwrap_or(0),
        }
    }
}

/// Whether a resource is tracked as a scalar: extended resources (`vendor/name`), hugepages,
/// `attachable-volumes-*` and prefixed native resources (`kubernetes.io/…`) (kube-scheduler's
/// `IsScalarResourceName`, pkg/scheduler/util/utils.go).
pub fn is_scalar_resource_name(name: &str) -> bool {
    name.starts_with("hugepages-")
        || name.starts_with("attachable-volumes-")
        || is_extended_resource_name(name)
        || name.contains("kubernetes.io/")
}

/// Whether a resource name is an extended resource: namespaced by a domain other than
/// `kubernetes.io` (`nvidia.com/gpu`), or `requests.`-free and not native.
pub fn is_extended_resource_name(name: &str) -> bool {
    match name.split_once('/') {
        Some((domain, _)) => !(domain == "kubernetes.io" || domain.ends_with(".kubernetes.io")),
        None => false,
    }
}

/// A pod affinity term with its selectors parsed (kube-scheduler's `framework.AffinityTerm`).
#[derive(Clone, Debug, PartialEq)]
pub struct AffinityTerm {
    /// The pods the term is about: those whose labels match. `None` (a term without a
    /// `labelSelector`) matches no pod, as `LabelSelectorAsSelector(nil)` is `labels.Nothing()`.
    pub selector: Option<Selector>,
    /// Namespaces the pods must be in; with no namespace selector and no names, the pod's own.
    pub namespaces: Vec<String>,
    /// A selector over namespace labels that adds namespaces (`None`: no namespace selector).
    pub namespace_selector: Option<Selector>,
    /// The node label whose value defines a topology domain.
    pub topology_key: String,
}

impl AffinityTerm {
    /// Parses a term of `pod`'s spec. Returns `None` for a term whose selector cannot be
    /// converted (validation rejects those; a term that matches nothing is then the safe reading).
    pub fn from_api(pod: &Pod, term: &PodAffinityTerm) -> Option<AffinityTerm> {
        let mut selector = match &term.label_selector {
            Some(s) => Some(s.to_selector().ok()?),
            None => None,
        };
        // matchLabelKeys / mismatchLabelKeys add `key in (value)` / `key notin (value)` with the
        // incoming pod's own label values (KEP-3633).
        if let Some(selector) = &mut selector {
            for key in &term.match_label_keys {
                if let Some(v) = pod.metadata.labels.get(key) {
                    selector.add(Requirement::new(key, Operator::In, vec![v.clone()]).ok()?);
                }
            }
            for key in &term.mismatch_label_keys {
                if let Some(v) = pod.metadata.labels.get(key) {
                    selector.add(Requirement::new(key, Operator::NotIn, vec![v.clone()]).ok()?);
                }
            }
        }
        let namespace_selector = match &term.namespace_selector {
            Some(s) => Some(s.to_selector().ok()?),
            None => None,
        };
        let mut namespaces = term.namespaces.clone();
        if namespaces.is_empty() && namespace_selector.is_none() {
            namespaces.push(pod.metadata.namespace.clone());
        }
        Some(AffinityTerm {
            selector,
            namespaces,
            namespace_selector,
            topology_key: term.topology_key.clone(),
        })
    }

    /// Whether `pod` (in a namespace with `namespace_labels`) is one of the pods the term is about.
    pub fn matches(&self, pod: &Pod, namespace_labels: Option<&flotilla_model::Labels>) -> bool {
        let ns_ok = self.namespaces.contains(&pod.metadata.namespace)
            || match (&self.namespace_selector, namespace_labels) {
                (Some(sel), Some(labels)) => sel.matches(labels),
                _ => false,
            };
        ns_ok
            && self
                .selector
                .as_ref()
                .is_some_and(|s| s.matches(&pod.metadata.labels))
    }
}

/// An affinity term with its weight (preferred terms).
#[derive(Clone, Debug, PartialEq)]
pub struct WeightedAffinityTerm {
    /// The term.
    pub term: AffinityTerm,
    /// Its weight, 1–100.
    pub weight: i32,
}

/// A pod with what the scheduler computes once per pod (kube-scheduler's `framework.PodInfo`).
#[derive(Clone, Debug)]
pub struct PodInfo {
    /// The pod, shared with the store.
    pub pod: Arc<Pod>,
    /// What the pod reserves on a node (its effective requests, overhead included).
    pub requests: Resource,
    /// The requests scoring uses: missing CPU and memory requests count as 100m and 200Mi.
    pub non_zero_requests: Resource,
    /// Required pod affinity terms.
    pub required_affinity_terms: Vec<AffinityTerm>,
    /// Required pod anti-affinity terms.
    pub required_anti_affinity_terms: Vec<AffinityTerm>,
    /// Preferred pod affinity terms.
    pub preferred_affinity_terms: Vec<WeightedAffinityTerm>,
    /// Preferred pod anti-affinity terms.
    pub preferred_anti_affinity_terms: Vec<WeightedAffinityTerm>,
    /// What the pod asks of GPUs (whole GPUs or a share of one), if anything (see
    /// [`gpu`](crate::gpu)).
    pub gpu: Option<Arc<crate::gpu::GpuRequest>>,
}

impl PodInfo {
    /// Computes the pod's requests and parses its affinity terms.
    pub fn new(pod: Arc<Pod>) -> PodInfo {
        let list = pod_requests(&pod.spec);
        let requests = Resource::from_list(&list);
        // Only CPU and memory take part in non-zero scoring.
        let cpu_and_memory = |list: &ResourceList| Resource {
            milli_cpu: list.get("cpu").map_or(0, Quantity::milli_value),
            memory: list.get("memory").map_or(0, Quantity::value),
            ..Resource::default()
        };
        let states_both = |c: &flotilla_model::api::Container| {
            c.resources.requests.contains_key("cpu") && c.resources.requests.contains_key("memory")
        };
        let non_zero = if pod
            .spec
            .containers
            .iter()
            .chain(&pod.spec.init_containers)
            .all(states_both)
        {
            // No container lacks a CPU or memory request: the defaults fill in nothing, and
            // the non-zero requests are the requests.
            cpu_and_memory(&list)
        } else {
            let mut defaults = ResourceList::new();
            defaults.insert(
                "cpu".into(),
                Quantity::from_milli(DEFAULT_MILLI_CPU_REQUEST),
            );
            defaults.insert(
                "memory".into(),
                Quantity::from_value(DEFAULT_MEMORY_REQUEST, Default::default()),
            );
            let opts = PodResourcesOptions {
                non_missing_container_requests: defaults,
                ..Default::default()
            };
            cpu_and_memory(&pod_requests_with(&pod.spec, &opts))
        };
        let affinity = pod.spec.affinity.as_ref();
        let terms = |list: Option<&Vec<PodAffinityTerm>>| -> Vec<AffinityTerm> {
            list.into_iter()
                .flatten()
                .filter_map(|t| AffinityTerm::from_api(&pod, t))
                .collect()
        };
        let weighted = |list: Option<&Vec<flotilla_model::api::WeightedPodAffinityTerm>>| -> Vec<WeightedAffinityTerm> {
            list.into_iter()
                .flatten()
                .filter_map(|w| {
                    Some(WeightedAffinityTerm { term: AffinityTerm::from_api(&pod, &w.pod_affinity_term)?, weight: w.weight })
                })
                .collect()
        };
        let pa = affinity.and_then(|a| a.pod_affinity.as_ref());
        let paa = affinity.and_then(|a| a.pod_anti_affinity.as_ref());
        let gpu = crate::gpu::GpuRequest::from_pod(&pod, &requests).map(Arc::new);
        PodInfo {
            gpu,
            required_affinity_terms: terms(
                pa.map(|a| &a.required_during_scheduling_ignored_during_execution),
            ),
            required_anti_affinity_terms: terms(
                paa.map(|a| &a.required_during_scheduling_ignored_during_execution),
            ),
            preferred_affinity_terms: weighted(
                pa.map(|a| &a.preferred_during_scheduling_ignored_during_execution),
            ),
            preferred_anti_affinity_terms: weighted(
                paa.map(|a| &a.preferred_during_scheduling_ignored_during_execution),
            ),
            requests,
            non_zero_requests: non_zero,
            pod,
        }
    }

    /// `namespace/name` of the pod.
    pub fn key(&self) -> String {
        format!("{}/{}", self.pod.metadata.namespace, self.pod.metadata.name)
    }

    /// Whether the pod has any pod affinity or anti-affinity term.
    pub fn has_affinity(&self) -> bool {
        !self.required_affinity_terms.is_empty()
            || !self.required_anti_affinity_terms.is_empty()
            || !self.preferred_affinity_terms.is_empty()
            || !self.preferred_anti_affinity_terms.is_empty()
    }
}

/// A host port in use on a node: (IP, protocol, port), with `0.0.0.0` meaning every IP.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct HostPort {
    /// The host IP (`0.0.0.0` when the pod gives none).
    pub ip: String,
    /// The protocol.
    pub protocol: Protocol,
    /// The port.
    pub port: i32,
}

/// An image on a node (kube-scheduler's `ImageStateSummary`). How many nodes of the cluster
/// hold it is a fact of the whole cluster, kept once in the snapshot
/// ([`Snapshot::image_num_nodes`](crate::snapshot::Snapshot::image_num_nodes)), so that an image
/// reaching one more node changes no other node's state.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ImageStateSummary {
    /// Size in bytes.
    pub size: i64,
}

/// The source of [`NodeInfo::generation`]: one counter for the whole process, so that two
/// snapshots, or a node and its copy changed differently, never share a generation. Only
/// equality of generations is ever used (never their order or value), so the counter does not
/// make any decision depend on what else ran in the process.
static NEXT_GENERATION: AtomicU64 = AtomicU64::new(1);

/// A generation no node state has had yet (never 0, which caches use for "nothing recorded").
pub fn next_generation() -> u64 {
    NEXT_GENERATION.fetch_add(1, Ordering::Relaxed)
}

/// A node with the sums of what its pods use (kube-scheduler's `framework.NodeInfo`).
#[derive(Clone, Debug)]
pub struct NodeInfo {
    /// The node, shared with the store.
    pub node: Arc<Node>,
    /// The pods on the node (bound or assumed), in the order they arrived.
    pub pods: Vec<PodInfo>,
    /// What the pods request, summed.
    pub requested: Resource,
    /// What the pods request with missing CPU/memory requests counted as the defaults.
    pub non_zero_requested: Resource,
    /// What the node offers (`status.allocatable`, or capacity).
    pub allocatable: Resource,
    /// Host ports in use.
    pub used_ports: Vec<HostPort>,
    /// Images on the node by every name they are known by, with cluster-wide counts.
    pub image_states: BTreeMap<String, ImageStateSummary>,
    /// Number of pods on the node with any pod affinity or anti-affinity term.
    pub pods_with_affinity: usize,
    /// Number of pods on the node with required anti-affinity terms.
    pub pods_with_required_anti_affinity: usize,
    /// Changed on every change of the node's state, to a value no state of any node in the
    /// process has had before (see [`next_generation`]), so a cache entry recorded against a
    /// generation is valid exactly while the node keeps it. Code that changes the public fields
    /// directly, rather than with [`NodeInfo::add_pod`] and [`NodeInfo::remove_pod`], must call
    /// [`NodeInfo::touch`].
    pub generation: u64,
    /// `node.spec.unschedulable`, copied here (like `has_taints`) so the filters every node goes
    /// through read it from this array instead of chasing the pointer to the node object: that
    /// cache miss was the largest single cost of a cycle. Set by [`NodeInfo::new`]; a node is
    /// never replaced in place.
    pub unschedulable: bool,
    /// Whether `node.spec.taints` is non-empty (see `unschedulable`).
    pub has_taints: bool,
    /// The node's GPUs, device by device (empty for a node without `nvidia.com/gpu`): updated by
    /// [`NodeInfo::add_pod`] and [`NodeInfo::remove_pod`] for pods that ask for GPUs.
    pub gpus: crate::gpu::NodeGpus,
}

impl NodeInfo {
    /// A node with no pods.
    pub fn new(node: Arc<Node>) -> NodeInfo {
        let allocatable = Resource::from_list(node.allocatable());
        // Every name of every image the node reports (a later image with the same name wins).
        let mut image_states = BTreeMap::new();
        for image in &node.status.images {
            for name in &image.names {
                image_states.insert(
                    name.clone(),
                    ImageStateSummary {
                        size: image.size_bytes.unwrap_or(0),
                    },
                );
            }
        }
        NodeInfo {
            gpus: crate::gpu::NodeGpus::from_node(&node),
            unschedulable: node.spec.unschedulable,
            has_taints: !node.spec.taints.is_empty(),
            node,
            pods: Vec::new(),
            requested: Resource::default(),
            non_zero_requested: Resource::default(),
            allocatable,
            used_ports: Vec::new(),
            image_states,
            pods_with_affinity: 0,
            pods_with_required_anti_affinity: 0,
            generation: next_generation(),
        }
    }

    /// Gives the node a new [`generation`](NodeInfo::generation), after a direct change of its
    /// fields.
    pub fn touch(&mut self) {
        self.generation = next_generation();
    }

    /// The node's name.
    pub fn name(&self) -> &str {
        &self.node.metadata.name
    }

    /// Adds a pod's usage to the node.
    pub fn add_pod(&mut self, pod: PodInfo) {
        self.requested.add(&pod.requests);
        self.non_zero_requested.add(&pod.non_zero_requests);
        for port in host_ports(&pod.pod) {
            self.used_ports.push(port);
        }
        if pod.has_affinity() {
            self.pods_with_affinity += 1;
        }
        if !pod.required_anti_affinity_terms.is_empty() {
            self.pods_with_required_anti_affinity += 1;
        }
        if let Some(req) = &pod.gpu {
            if self.gpus.count() > 0 {
                self.gpus.add(pod.key(), req);
            }
        }
        self.pods.push(pod);
        self.touch();
    }

    /// Removes a pod (by namespace and name); returns whether it was there.
    pub fn remove_pod(&mut self, namespace: &str, name: &str) -> bool {
        let Some(i) = self
            .pods
            .iter()
            .position(|p| p.pod.metadata.namespace == namespace && p.pod.metadata.name == name)
        else {
            return false;
        };
        let pod = self.pods.remove(i);
        self.requested.sub(&pod.requests);
        self.non_zero_requested.sub(&pod.non_zero_requests);
        for port in host_ports(&pod.pod) {
            if let Some(j) = self.used_ports.iter().position(|p| *p == port) {
                self.used_ports.remove(j);
            }
        }
        if pod.has_affinity() {
            self.pods_with_affinity -= 1;
        }
        if !pod.required_anti_affinity_terms.is_empty() {
            self.pods_with_required_anti_affinity -= 1;
        }
        if let Some(req) = &pod.gpu {
            self.gpus.release(&pod.key(), req);
        }
        self.touch();
        true
    }
}

/// The host ports a pod asks for (containers' ports with a `hostPort`).
pub fn host_ports(pod: &Pod) -> Vec<HostPort> {
    let mut ports = Vec::new();
    // App containers and restartable init containers (sidecars), which keep running; plain init
    // containers have finished before the app starts (kube-scheduler's GetContainerPorts).
    let sidecars =
        pod.spec.init_containers.iter().filter(|c| {
            c.restart_policy == Some(flotilla_model::api::ContainerRestartPolicy::Always)
        });
    for c in pod.spec.containers.iter().chain(sidecars) {
        for p in &c.ports {
            if p.host_port > 0 {
                ports.push(HostPort {
                    ip: if p.host_ip.is_empty() {
                        "0.0.0.0".to_string()
                    } else {
                        p.host_ip.clone()
                    },
                    protocol: p.protocol.unwrap_or_default(),
                    port: p.host_port,
                });
            }
        }
    }
    ports
}

#[cfg(test)]
mod tests {
    use super::*;
    use flotilla_model::api::{Container, ContainerRestartPolicy, PodSpec};
    use proptest::prelude::*;

    fn container(cpu: Option<u32>, memory: Option<u32>, sidecar: bool) -> Container {
        let mut c = Container::default();
        if let Some(m) = cpu {
            c.resources
                .requests
                .insert("cpu".into(), Quantity::from_milli(i64::from(m)));
        }
        if let Some(mi) = memory {
            let q: Quantity = format!("{mi}Mi").parse().expect("quantity");
            c.resources.requests.insert("memory".into(), q);
        }
        if sidecar {
            c.restart_policy = Some(ContainerRestartPolicy::Always);
        }
        c
    }

    fn arb_container() -> impl Strategy<Value = Container> {
        (
            proptest::option::of(0u32..4000),
            proptest::option::of(0u32..8192),
            any::<bool>(),
        )
            .prop_map(|(cpu, memory, sidecar)| container(cpu, memory, sidecar))
    }

    proptest! {
        /// The non-zero requests are kube-scheduler's: each container's missing CPU or memory
        /// request counts as 100m / 200Mi, aggregated as the requests are, whether or not a
        /// container lacks one (the shortcut taken when none does must agree).
        #[test]
        fn non_zero_requests_fill_in_the_defaults(
            containers in proptest::collection::vec(arb_container(), 1..4),
            init in proptest::collection::vec(arb_container(), 0..3),
        ) {
            let spec = PodSpec {
                containers: containers.into_iter().map(|mut c| { c.restart_policy = None; c }).collect(),
                init_containers: init.into(),
                ..PodSpec::default()
            };
            let pod = Arc::new(Pod { spec: spec.clone().into(), ..Pod::default() });
            let info = PodInfo::new(pod);
            let mut defaults = ResourceList::new();
            defaults.insert("cpu".into(), Quantity::from_milli(DEFAULT_MILLI_CPU_REQUEST));
            defaults.insert("memory".into(), Quantity::from_value(DEFAULT_MEMORY_REQUEST, Default::default()));
            let list = pod_requests_with(&spec, &PodResourcesOptions {
                non_missing_container_requests: defaults,
                ..Default::default()
            });
            prop_assert_eq!(info.non_zero_requests.milli_cpu, list.get("cpu").map_or(0, Quantity::milli_value));
            prop_assert_eq!(info.non_zero_requests.memory, list.get("memory").map_or(0, Quantity::value));
            // The defaults only add to what a container states: the non-zero requests are at
            // least the requests, and equal to them when no container lacks either.
            let (nz, req) = (&info.non_zero_requests, &info.requests);
            prop_assert!(nz.milli_cpu >= req.milli_cpu && nz.memory >= req.memory);
            let complete = spec.containers.iter().chain(spec.init_containers.iter()).all(|c| {
                c.resources.requests.contains_key("cpu") && c.resources.requests.contains_key("memory")
            });
            if complete {
                prop_assert_eq!((nz.milli_cpu, nz.memory), (req.milli_cpu, req.memory));
            }
        }
    }
}
