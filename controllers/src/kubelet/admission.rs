//! Pod admission on the node (lifecycle/predicate.go `predicateAdmitHandler.Admit` and
//! `generalFilter`, v1.34): before it runs a pod, the kubelet checks the scheduler's general
//! predicates against its own view of the node and of the pods it already admitted, and
//! rejects a pod that does not fit (a pod bound by hand, or a race with another binding).

use flotilla_model::api::{find_untolerated_taint, pod_requests, Node, Pod, TaintEffect};
use flotilla_model::quantity::ResourceList;

/// Why a pod was rejected: the status `reason` and the message (without the
/// `Pod was rejected: ` prefix that kubelet.go `rejectPod` adds to the status).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Rejection {
    /// `OutOfcpu`, `OutOfmemory`, `OutOfpods`, `NodeAffinity`, `TaintToleration`, …
    pub reason: String,
    /// `Node didn't have enough resource: cpu, requested: 2000, used: 3000, capacity: 4000`.
    pub message: String,
}

/// One resource that does not fit (scheduler `InsufficientResource`).
struct Insufficient {
    name: String,
    requested: i64,
    used: i64,
    capacity: i64,
}

/// The amount of `name` in the unit the scheduler counts it in: milli-CPU, bytes, or whole
/// units (noderesources `Resource`).
fn amount(list: &ResourceList, name: &str) -> i64 {
    match list.get(name) {
        None => 0,
        Some(q) if name == "cpu" => q.milli_value(),
        Some(q) => q.value(),
    }
}

/// noderesources/fit.go `fitsRequest` (as `AdmissionCheck` calls it): pods first, then cpu,
/// memory, ephemeral-storage, then the other (scalar) resources in name order. Extended
/// resources the node does not know are ignored (predicate.go `removeMissingExtendedResources`).
fn fits_request(pod: &Pod, allocatable: &ResourceList, others: &[&Pod]) -> Vec<Insufficient> {
    let mut out = Vec::new();
    let allowed_pods = amount(allocatable, "pods");
    if others.len() as i64 + 1 > allowed_pods {
        out.push(Insufficient {
            name: "pods".into(),
            requested: 1,
            used: others.len() as i64,
            capacity: allowed_pods,
        });
    }
    let request = pod_requests(&pod.spec);
    let mut used = ResourceList::new();
    for other in others {
        used = flotilla_model::quantity::add_resource_lists(&used, &pod_requests(&other.spec));
    }
    let mut names: Vec<&str> = vec!["cpu", "memory", "ephemeral-storage"];
    for name in request.keys() {
        if !names.contains(&name.as_str()) && name != "pods" {
            names.push(name);
        }
    }
    for name in names {
        let requested = amount(&request, name);
        if requested <= 0 {
            continue;
        }
        let standard = matches!(name, "cpu" | "memory" | "ephemeral-storage");
        if !standard
            && flotilla_model::api::is_extended_resource_name(name)
            && !allocatable.contains_key(name)
        {
            continue;
        }
        let capacity = amount(allocatable, name);
        let in_use = amount(&used, name);
        if requested > capacity - in_use {
            out.push(Insufficient {
                name: name.to_string(),
                requested,
                used: in_use,
                capacity,
            });
        }
    }
    out
}

/// Decides whether `pod` may run on `node` beside `others` (the admitted pods that have not
/// finished). Only the first failure is reported, as predicate.go does.
pub fn admit(pod: &Pod, node: &Node, others: &[&Pod]) -> Result<(), Rejection> {
    // scheduler AdmissionCheck: resources first.
    if let Some(r) = fits_request(pod, node.allocatable(), others)
        .into_iter()
        .next()
    {
        // predicate.go Admit: OutOfcpu, OutOfmemory, OutOfephemeral-storage, OutOfpods, else
        // "OutOf" + the resource name; InsufficientResourceError.Error for the message.
        return Err(Rejection {
            reason: format!("OutOf{}", r.name),
            message: format!(
                "Node didn't have enough resource: {}, requested: {}, used: {}, capacity: {}",
                r.name, r.requested, r.used, r.capacity
            ),
        });
    }
    // Then node affinity (nodeSelector and required node affinity).
    let labels = &node.metadata.labels;
    let name = &node.metadata.name;
    let selector_ok = pod
        .spec
        .node_selector
        .iter()
        .all(|(k, v)| labels.get(k) == Some(v));
    let affinity_ok = pod
        .spec
        .affinity
        .as_ref()
        .and_then(|a| a.node_affinity.as_ref())
        .and_then(|a| {
            a.required_during_scheduling_ignored_during_execution
                .as_ref()
        })
        .is_none_or(|s| s.matches(labels, name));
    if !(selector_ok && affinity_ok) {
        return Err(predicate_failure(
            "NodeAffinity",
            "node(s) didn't match Pod's node affinity/selector",
        ));
    }
    // Host ports (nodeports.Fits).
    let ports = |p: &Pod| -> Vec<(String, i32)> {
        p.spec
            .containers
            .iter()
            .chain(&p.spec.init_containers)
            .flat_map(|c| &c.ports)
            .filter(|port| port.host_port > 0)
            .map(|port| {
                (
                    port.protocol.map_or("TCP", |p| p.as_str()).to_string(),
                    port.host_port,
                )
            })
            .collect()
    };
    let wanted = ports(pod);
    if !wanted.is_empty()
        && others
            .iter()
            .any(|o| ports(o).iter().any(|p| wanted.contains(p)))
    {
        return Err(predicate_failure(
            "NodePorts",
            "node(s) didn't have free ports for the requested pod ports",
        ));
    }
    // predicate.go generalFilter: only NoExecute taints concern the kubelet.
    if find_untolerated_taint(&node.spec.taints, &pod.spec.tolerations, |t| {
        t.effect == TaintEffect::NoExecute
    })
    .is_some()
    {
        return Err(predicate_failure(
            "TaintToleration",
            "node(s) had taints that the pod didn't tolerate",
        ));
    }
    Ok(())
}

/// predicate.go `PredicateFailureError`: reason the predicate's name, message
/// `Predicate <name> failed: <desc>`.
fn predicate_failure(name: &str, desc: &str) -> Rejection {
    Rejection {
        reason: name.to_string(),
        message: format!("Predicate {name} failed: {desc}"),
    }
}
