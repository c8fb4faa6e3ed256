//! `flotilla explain`: how the scheduler would place one pod, node by node, from manifests of
//! Nodes and Pods (a Pod with `spec.nodeName` is already running there), and the objects the
//! plugins consult (Namespaces, Services, workload controllers, PodDisruptionBudgets,
//! PersistentVolumeClaims, PersistentVolumes, StorageClasses).

use std::sync::Arc;

use flotilla_model::api::{Namespace, Node, Pod};
use flotilla_model::manifest::Manifests;
use flotilla_model::Object;
use flotilla_scheduler::config::SchedulerConfig;
use flotilla_scheduler::node_info::PodInfo;
use flotilla_scheduler::plugins::pod_topology_spread::workload_selectors;
use flotilla_scheduler::schedule::{explain, Explanation, ScheduleError};
use flotilla_scheduler::snapshot::{Snapshot, VolumeObjects};

/// Why an explanation could not be made.
#[derive(Debug, thiserror::Error)]
pub enum ExplainError {
    /// `--pod` is not `NAMESPACE/NAME` or `NAME`.
    #[error("--pod must be NAMESPACE/NAME or NAME, got {0:?}")]
    BadPodRef(String),
    /// The pod is not in the manifests.
    #[error("pod {0} not found in the manifests")]
    PodNotFound(String),
    /// The pod is already bound.
    #[error("pod {pod} is already bound to node {node}")]
    AlreadyBound {
        /// The pod.
        pod: String,
        /// Its node.
        node: String,
    },
    /// No profile serves the pod's `schedulerName`.
    #[error("no scheduling profile for schedulerName {0:?}")]
    NoProfile(String),
    /// A plugin failed.
    #[error("{0}")]
    Schedule(#[from] ScheduleError),
}

/// Explains the scheduling of `pod_ref` (`namespace/name`, or `name` in `default`) among the
/// Nodes and Pods of `manifests`, with the profile for the pod's scheduler name. Objects get the
/// API server's defaults first. Ties are broken with a random stream seeded by `seed`.
pub fn explain_pod(
    manifests: &Manifests,
    pod_ref: &str,
    config: &SchedulerConfig,
    seed: u64,
) -> Result<Explanation, ExplainError> {
    let (namespace, name) = match pod_ref.split_once('/') {
        Some((ns, n)) if !ns.is_empty() && !n.is_empty() && !n.contains('/') => (ns, n),
        None if !pod_ref.is_empty() => ("default", pod_ref),
        _ => return Err(ExplainError::BadPodRef(pod_ref.to_string())),
    };
    let mut nodes: Vec<Arc<Node>> = Vec::new();
    let mut pods: Vec<Arc<Pod>> = Vec::new();
    let mut namespaces: Vec<Arc<Namespace>> = Vec::new();
    let mut services = Vec::new();
    let mut replica_sets = Vec::new();
    let mut stateful_sets = Vec::new();
    let mut pdbs = Vec::new();
    let (mut pvcs, mut pvs, mut classes) = (Vec::new(), Vec::new(), Vec::new());
    for m in &manifests.objects {
        let mut object = m.object.clone();
        if object.kind().namespaced() && object.metadata().namespace.is_empty() {
            object.metadata_mut().namespace = "default".to_string();
        }
        object.set_defaults();
        match object {
            Object::Node(n) => nodes.push(Arc::from(n)),
            Object::Pod(p) => pods.push(Arc::new(p)),
            Object::Namespace(n) => namespaces.push(Arc::new(n)),
            Object::Service(s) => services.push(Arc::from(s)),
            Object::ReplicaSet(rs) => replica_sets.push(Arc::from(rs)),
            Object::StatefulSet(ss) => stateful_sets.push(Arc::from(ss)),
            Object::PodDisruptionBudget(pdb) => pdbs.push(Arc::new(pdb)),
            Object::PersistentVolumeClaim(c) => pvcs.push(Arc::from(c)),
            Object::PersistentVolume(v) => pvs.push(Arc::from(v)),
            Object::StorageClass(c) => classes.push(Arc::new(c)),
            _ => {}
        }
    }
    let target = pods
        .iter()
        .find(|p| p.metadata.namespace == namespace && p.metadata.name == name)
        .cloned()
        .ok_or_else(|| ExplainError::PodNotFound(format!("{namespace}/{name}")))?;
    if !target.spec.node_name.is_empty() {
        return Err(ExplainError::AlreadyBound {
            pod: format!("{namespace}/{name}"),
            node: target.spec.node_name.clone(),
        });
    }
    let scheduler_name = if target.spec.scheduler_name.is_empty() {
        flotilla_scheduler::config::DEFAULT_SCHEDULER_NAME
    } else {
        target.spec.scheduler_name.as_str()
    };
    let profile = config
        .profiles
        .get(scheduler_name)
        .ok_or_else(|| ExplainError::NoProfile(scheduler_name.to_string()))?;
    let mut snapshot = Snapshot::new(&nodes, &pods, &namespaces);
    // PodTopologySpread's system default constraints apply to pods that Services and
    // controllers select, as kube-scheduler finds them through its listers.
    snapshot.workload_selectors = workload_selectors(&services, &replica_sets, &stateful_sets);
    // Preemption's dry runs try not to violate these.
    snapshot.pdbs = pdbs;
    // The volume plugins read claims, volumes and classes as kube-scheduler's listers give them.
    snapshot.volumes = Arc::new(VolumeObjects::new(&pvcs, &pvs, &classes));
    let mut rng = flotilla_model::rng::component_rng(seed, "scheduler");
    Ok(explain(
        profile,
        &snapshot,
        &PodInfo::new(target),
        &mut rng,
    )?)
}

/// Renders an explanation as a table: one row per node with its verdict, each plugin's score
/// and the weighted total, then the decision.
pub fn render_table(e: &Explanation) -> String {
    let mut plugins: Vec<&str> = Vec::new();
    for n in &e.nodes {
        for p in n.scores.keys() {
            if !plugins.contains(&p.as_str()) {
                plugins.push(p);
            }
        }
    }
    let mut header: Vec<String> = vec!["NODE".into(), "FEASIBLE".into()];
    header.extend(plugins.iter().map(|p| p.to_string()));
    header.push("TOTAL".into());
    header.push("REASONS".into());
    let mut rows = vec![header];
    for n in &e.nodes {
        let mut row = vec![
            n.name.clone(),
            if n.feasible {
                "yes".into()
            } else {
                "no".into()
            },
        ];
        for p in &plugins {
            row.push(
                n.scores
                    .get(*p)
                    .map_or_else(|| "-".to_string(), |s| s.to_string()),
            );
        }
        row.push(if n.feasible {
            n.total.to_string()
        } else {
            "-".into()
        });
        row.push(n.reasons.join(", "));
        rows.push(row);
    }
    let cols = rows[0].len();
    let widths: Vec<usize> = (0..cols)
        .map(|c| rows.iter().map(|r| r[c].len()).max().unwrap_or(0))
        .collect();
    let mut out = String::new();
    for row in &rows {
        let cells: Vec<String> = row
            .iter()
            .zip(&widths)
            .map(|(c, w)| format!("{c:<w$}"))
            .collect();
        out.push_str(cells.join("   ").trim_end());
        out.push('\n');
    }
    match &e.selected {
        Some(node) => out.push_str(&format!("pod {} would be bound to {node}\n", e.pod)),
        None => out.push_str(&format!("pod {} is unschedulable: {}\n", e.pod, e.message)),
    }
    out
}
