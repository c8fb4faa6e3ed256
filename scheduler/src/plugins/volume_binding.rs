//! VolumeBinding: the pod's PersistentVolumeClaims must be bound, or bindable, to volumes the
//! node can reach.
//!
//! kube-scheduler v1.34, volumebinding/volume_binding.go and binder.go, with the matching rules
//! of k8s.io/component-helpers/storage/volume (`FindMatchingVolume`, `CheckNodeAffinity`).
//!
//! **PreFilter** (per pod). A pod without claims: Skip. Every claim must exist
//! (`persistentvolumeclaim "x" not found`), not be `Lost` (`persistentvolumeclaim "x" bound to
//! non-existent persistentvolume "v"`) nor being deleted (`persistentvolumeclaim "x" is being
//! deleted`); all UnschedulableAndUnresolvable. Claims are then sorted into
//! - *bound*: `spec.volumeName` set and the bind completed (the PV controller's
//!   `pv.kubernetes.io/bind-completed` annotation, or — Flotilla has no PV controller writing it
//!   — `status.phase: Bound`);
//! - *delayed*: unbound, no `volumeName`, of a class with `volumeBindingMode:
//!   WaitForFirstConsumer`;
//! - *immediate*: any other unbound claim, which the PV controller binds on its own: while one
//!   is pending the pod is rejected with `pod has unbound immediate PersistentVolumeClaims`
//!   (UnschedulableAndUnresolvable).
//!
//! Bound volumes whose node affinity names hosts (`kubernetes.io/hostname In [...]`, local
//! volumes) narrow the nodes to those hosts (`GetEligibleNodes`, a PreFilterResult).
//!
//! **Filter** (per node), every rejection UnschedulableAndUnresolvable with reasons in this order:
//! - `node(s) had volume node affinity conflict`: a bound volume's `spec.nodeAffinity.required`
//!   does not match the node's labels;
//! - `node(s) didn't find available persistent volumes to bind`: a delayed claim already has a
//!   `volume.kubernetes.io/selected-node` other than this node; or some delayed claim has no
//!   matching volume (below) *and* cannot be provisioned here: its class has no provisioner
//!   (`kubernetes.io/no-provisioner`) or its `allowedTopologies` exclude the node;
//! - `node(s) unavailable due to one or more pvc(s) bound to non-existent pv(s)`.
//!
//! A volume matches a delayed claim (`FindMatchingVolume`, claims smallest request first, each
//! volume used once) when it is pre-bound to the claim by `claimRef` (then it is the match if
//! its node affinity fits, and nothing else is) or: not deleted, capacity ≥ request, same volume
//! mode, phase `Available`, no `claimRef`, labels matching the claim's selector, same class,
//! same VolumeAttributesClass, node affinity matching the node, and every access mode of the
//! claim offered. The smallest such volume wins; ties go to the first in name order.
//!
//! Not modelled: `node(s) did not have enough free storage` needs CSIDriver and
//! CSIStorageCapacity objects, which Flotilla does not have (kube-scheduler, too, assumes enough
//! capacity for a driver without them); in-tree-to-CSI translation of volumes; generic ephemeral
//! volumes. **Score** exists only behind the StorageCapacityScoring feature gate, alpha and off by
//! default in v1.34, so the plugin does not score. **Reserve/PreBind** — writing the chosen
//! bindings and the `selected-node` annotation — is the job of a volume controller in the
//! driver: this plugin only decides feasibility.

use std::sync::Arc;

use flotilla_model::api::{
    NodeSelector, PersistentVolume, PersistentVolumeClaim, PersistentVolumeClaimPhase,
    PersistentVolumeMode, PersistentVolumePhase, StorageClass, VolumeBindingMode,
    BETA_STORAGE_CLASS_ANNOTATION,
};
use flotilla_model::{ErrorList, FieldError, FieldPath, Quantity, Selector};
use serde::{Deserialize, Serialize};

use crate::framework::{
    CycleState, FilterPlugin, Plugin, PreFilterPlugin, PreFilterResult, Status,
};
use crate::node_info::{NodeInfo, PodInfo};
use crate::plugins::node_resources_fit::UtilizationShapePoint;
use crate::plugins::volume_restrictions::{claim_names, pvc_not_found};
use crate::plugins::volume_zone::claim_class;
use crate::snapshot::Snapshot;

/// The plugin's name in a KubeSchedulerConfiguration.
pub const NAME: &str = "VolumeBinding";

/// A bound volume's node affinity does not match the node.
pub const ERR_REASON_NODE_CONFLICT: &str = "node(s) had volume node affinity conflict";
/// No volume to bind and no way to provision one on the node.
pub const ERR_REASON_BIND_CONFLICT: &str =
    "node(s) didn't find available persistent volumes to bind";
/// Not enough storage capacity to provision (never produced: see the module docs).
pub const ERR_REASON_NOT_ENOUGH_SPACE: &str = "node(s) did not have enough free storage";
/// A bound claim's volume does not exist.
pub const ERR_REASON_PV_NOT_EXIST: &str =
    "node(s) unavailable due to one or more pvc(s) bound to non-existent pv(s)";
/// PreFilter reason while an Immediate claim is unbound.
pub const ERR_REASON_UNBOUND_IMMEDIATE: &str = "pod has unbound immediate PersistentVolumeClaims";

/// The PV controller's annotation on a claim whose binding is complete.
pub const ANN_BIND_COMPLETED: &str = "pv.kubernetes.io/bind-completed";
/// The scheduler's annotation on a delayed claim naming the node it provisions for.
pub const ANN_SELECTED_NODE: &str = "volume.kubernetes.io/selected-node";
/// The provisioner of classes whose volumes are only created by hand.
pub const NOT_SUPPORTED_PROVISIONER: &str = "kubernetes.io/no-provisioner";
/// The node label whose values name hosts in a local volume's node affinity.
const HOSTNAME_LABEL: &str = "kubernetes.io/hostname";

/// The default `bindTimeoutSeconds`.
pub const DEFAULT_BIND_TIMEOUT_SECONDS: i64 = 600;

/// The plugin's arguments (kube-scheduler's `VolumeBindingArgs`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct VolumeBindingArgs {
    /// How long PreBind waits for volumes to bind (unused here: binding is the driver's).
    pub bind_timeout_seconds: i64,
    /// The storage-capacity scoring shape; accepted only with the StorageCapacityScoring
    /// feature, which is off in v1.34, so it must be left unset.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub shape: Option<Vec<UtilizationShapePoint>>,
}

impl Default for VolumeBindingArgs {
    fn default() -> VolumeBindingArgs {
        VolumeBindingArgs {
            bind_timeout_seconds: DEFAULT_BIND_TIMEOUT_SECONDS,
            shape: None,
        }
    }
}

impl VolumeBindingArgs {
    /// Checks the arguments as kube-scheduler's `ValidateVolumeBindingArgs` does with the
    /// StorageCapacityScoring feature off (validation_pluginargs.go).
    pub fn validate(&self, path: &FieldPath) -> Result<(), ErrorList> {
        let mut errs = ErrorList::new();
        if self.bind_timeout_seconds < 0 {
            errs.push(FieldError::invalid(
                &path.child("bindTimeoutSeconds"),
                self.bind_timeout_seconds,
                "invalid BindTimeoutSeconds, should not be a negative value",
            ));
        }
        if let Some(shape) = &self.shape {
            errs.push(FieldError::invalid(
                &path.child("shape"),
                shape,
                "unsupported when StorageCapacityScoring feature is disabled",
            ));
        }
        if errs.is_empty() {
            Ok(())
        } else {
            Err(errs)
        }
    }
}

/// A delayed (WaitForFirstConsumer) claim with what Filter needs to match it.
#[derive(Debug)]
struct DelayedClaim {
    pvc: Arc<PersistentVolumeClaim>,
    /// `namespace/name`.
    key: String,
    class_name: String,
    class: Option<Arc<StorageClass>>,
    selector: Option<Selector>,
    request: Quantity,
    /// The volumes of the claim's class, in name order (`pvCache.ListPVs(class)`).
    candidates: Vec<Arc<PersistentVolume>>,
}

/// What PreFilter computed for Filter.
#[derive(Debug, Default)]
struct State {
    /// The volume of each bound claim, `None` when it does not exist.
    bound: Vec<Option<Arc<PersistentVolume>>>,
    /// Delayed claims, smallest request first.
    delayed: Vec<DelayedClaim>,
}

/// The VolumeBinding plugin. See the [module docs](self).
#[derive(Clone, Debug, Default)]
pub struct VolumeBinding {
    args: VolumeBindingArgs,
}

impl VolumeBinding {
    /// The plugin with its arguments, rejected as [`VolumeBindingArgs::validate`] rejects them.
    pub fn new(args: VolumeBindingArgs) -> Result<VolumeBinding, ErrorList> {
        args.validate(&FieldPath::root())?;
        Ok(VolumeBinding { args })
    }

    /// The arguments.
    pub fn args(&self) -> &VolumeBindingArgs {
        &self.args
    }
}

/// Whether a PV's node affinity admits a node with these labels (`CheckNodeAffinity`, which
/// matches labels only: `matchFields` see an empty node name).
fn node_affinity_ok(pv: &PersistentVolume, labels: &flotilla_model::Labels) -> bool {
    match pv
        .spec
        .node_affinity
        .as_ref()
        .and_then(|a| a.required.as_ref())
    {
        None => true,
        Some(selector) => NodeSelector::matches(selector, labels, ""),
    }
}

/// The class of a volume (`GetPersistentVolumeClass`): the beta annotation, then the field.
fn volume_class(pv: &PersistentVolume) -> &str {
    pv.metadata
        .annotations
        .get(BETA_STORAGE_CLASS_ANNOTATION)
        .map(String::as_str)
        .unwrap_or_else(|| pv.storage_class())
}

/// `IsVolumeBoundToClaim`.
fn is_bound_to_claim(pv: &PersistentVolume, pvc: &PersistentVolumeClaim) -> bool {
    pv.spec.claim_ref.as_ref().is_some_and(|r| {
        r.name == pvc.metadata.name
            && r.namespace == pvc.metadata.namespace
            && (r.uid.is_empty() || r.uid == pvc.metadata.uid)
    })
}

/// The host names of a local volume's node affinity (`GetLocalPersistentVolumeNodeNames`): per
/// term, the intersection of its `kubernetes.io/hostname In` values; the union over terms.
/// `None` when the volume names no host.
fn local_volume_node_names(pv: &PersistentVolume) -> Option<Vec<String>> {
    let selector = pv.spec.node_affinity.as_ref()?.required.as_ref()?;
    let mut result: Vec<String> = Vec::new();
    for term in &selector.node_selector_terms {
        let mut nodes: Option<Vec<String>> = None;
        for e in &term.match_expressions {
            if e.key == HOSTNAME_LABEL
                && e.operator == flotilla_model::api::NodeSelectorOperator::In
            {
                nodes = Some(match nodes {
                    None => e.values.clone(),
                    Some(n) => n.into_iter().filter(|v| e.values.contains(v)).collect(),
                });
            }
        }
        for n in nodes.into_iter().flatten() {
            if !result.contains(&n) {
                result.push(n);
            }
        }
    }
    if result.is_empty() {
        None
    } else {
        result.sort();
        Some(result)
    }
}

/// `MatchTopologySelectorTerms`: no terms match every node; a term without expressions matches
/// none; a term matches when the node has every key with one of its values.
fn allowed_topologies_match(class: &StorageClass, labels: &flotilla_model::Labels) -> bool {
    let terms = &class.allowed_topologies;
    terms.is_empty()
        || terms.iter().any(|t| {
            !t.match_label_expressions.is_empty()
                && t.match_label_expressions
                    .iter()
                    .all(|r| labels.get(&r.key).is_some_and(|v| r.values.contains(v)))
        })
}

impl Plugin for VolumeBinding {
    fn name(&self) -> &'static str {
        NAME
    }
    fn as_pre_filter(&self) -> Option<&dyn PreFilterPlugin> {
        Some(self)
    }
    fn as_filter(&self) -> Option<&dyn FilterPlugin> {
        Some(self)
    }
}

impl PreFilterPlugin for VolumeBinding {
    fn pre_filter(
        &self,
        state: &mut CycleState,
        pod: &PodInfo,
        snapshot: &Snapshot,
    ) -> (PreFilterResult, Status) {
        let none = PreFilterResult::default;
        let volumes = &snapshot.volumes;
        let namespace = &pod.pod.metadata.namespace;
        // podHasPVCs.
        let mut claims: Vec<&Arc<PersistentVolumeClaim>> = Vec::new();
        for name in claim_names(&pod.pod) {
            let Some(pvc) = volumes.pvc(namespace, name) else {
                return (none(), Status::unresolvable(pvc_not_found(name)));
            };
            if pvc.status.phase == Some(PersistentVolumeClaimPhase::Lost) {
                return (
                    none(),
                    Status::unresolvable(format!(
                        "persistentvolumeclaim {:?} bound to non-existent persistentvolume {:?}",
                        pvc.metadata.name,
                        pvc.spec.volume_name.as_deref().unwrap_or("")
                    )),
                );
            }
            if pvc.metadata.deletion_timestamp.is_some() {
                return (
                    none(),
                    Status::unresolvable(format!(
                        "persistentvolumeclaim {:?} is being deleted",
                        pvc.metadata.name
                    )),
                );
            }
            claims.push(pvc);
        }
        if claims.is_empty() {
            return (none(), Status::skip());
        }
        // GetPodVolumeClaims.
        let mut s = State::default();
        let mut unbound_immediate = false;
        for pvc in claims {
            let volume_name = pvc.spec.volume_name.as_deref().unwrap_or("");
            let fully_bound = !volume_name.is_empty()
                && (pvc.metadata.annotations.contains_key(ANN_BIND_COMPLETED) || pvc.is_bound());
            if fully_bound {
                s.bound.push(volumes.pvs.get(volume_name).cloned());
                continue;
            }
            // IsDelayBindingMode: no class or a missing class means Immediate.
            let class_name = claim_class(pvc);
            let class = (!class_name.is_empty())
                .then(|| volumes.storage_classes.get(class_name))
                .flatten();
            let delay = match class {
                None => false,
                Some(c) => match c.volume_binding_mode {
                    None => {
                        return (
                            none(),
                            Status::error(format!(
                                "VolumeBindingMode not set for StorageClass {class_name:?}"
                            )),
                        )
                    }
                    Some(mode) => mode == VolumeBindingMode::WaitForFirstConsumer,
                },
            };
            if !delay || !volume_name.is_empty() {
                // Prebound claims count as unbound immediate ones.
                unbound_immediate = true;
                continue;
            }
            let selector = match &pvc.spec.selector {
                None => None,
                Some(sel) => match sel.to_selector() {
                    Ok(sel) => Some(sel),
                    Err(e) => {
                        return (
                            none(),
                            Status::error(format!(
                                "error creating internal label selector for claim: {}/{}: {e}",
                                pvc.metadata.namespace, pvc.metadata.name
                            )),
                        )
                    }
                },
            };
            s.delayed.push(DelayedClaim {
                key: format!("{}/{}", pvc.metadata.namespace, pvc.metadata.name),
                class_name: class_name.to_string(),
                class: class.cloned(),
                selector,
                request: pvc.storage_request().copied().unwrap_or_default(),
                candidates: volumes
                    .pvs
                    .values()
                    .filter(|pv| volume_class(pv) == class_name)
                    .cloned()
                    .collect(),
                pvc: pvc.clone(),
            });
        }
        if unbound_immediate {
            return (none(), Status::unresolvable(ERR_REASON_UNBOUND_IMMEDIATE));
        }
        // findMatchingVolumes: smallest request first.
        s.delayed.sort_by_key(|c| c.request);
        // GetEligibleNodes: the hosts every local bound volume names.
        let mut eligible: Option<Vec<String>> = None;
        for pv in s.bound.iter().flatten() {
            if let Some(names) = local_volume_node_names(pv) {
                eligible = Some(match eligible {
                    None => names,
                    Some(e) => e.into_iter().filter(|n| names.contains(n)).collect(),
                });
            }
        }
        let result = PreFilterResult {
            nodes: eligible.map(|names| {
                let mut idx: Vec<usize> =
                    names.iter().filter_map(|n| snapshot.index_of(n)).collect();
                idx.sort_unstable();
                idx
            }),
        };
        state.write(NAME, Arc::new(s));
        (result, Status::success())
    }
}

/// `FindMatchingVolume` for one claim on one node, skipping `excluded` volumes.
fn find_matching_volume<'a>(
    claim: &'a DelayedClaim,
    node: &NodeInfo,
    excluded: &[&str],
) -> Option<&'a Arc<PersistentVolume>> {
    let pvc = &claim.pvc;
    let labels = &node.node.metadata.labels;
    let claim_mode = pvc
        .spec
        .volume_mode
        .unwrap_or(PersistentVolumeMode::Filesystem);
    let claim_vac = pvc
        .spec
        .volume_attributes_class_name
        .as_deref()
        .unwrap_or("");
    let mut smallest: Option<(&Arc<PersistentVolume>, Quantity)> = None;
    for pv in &claim.candidates {
        if excluded.contains(&pv.metadata.name.as_str()) {
            continue;
        }
        let bound_to_claim = is_bound_to_claim(pv, pvc);
        if pv.spec.claim_ref.is_some() && !bound_to_claim {
            continue;
        }
        let qty = pv.storage().copied().unwrap_or_default();
        if qty < claim.request {
            continue;
        }
        if pv
            .spec
            .volume_mode
            .unwrap_or(PersistentVolumeMode::Filesystem)
            != claim_mode
        {
            continue;
        }
        if pv.metadata.deletion_timestamp.is_some() {
            continue;
        }
        let affinity_ok = node_affinity_ok(pv, labels);
        if bound_to_claim {
            // A volume pre-bound to the claim is the only candidate.
            return affinity_ok.then_some(pv);
        }
        if pv.status.phase != Some(PersistentVolumePhase::Available) {
            continue;
        }
        if claim
            .selector
            .as_ref()
            .is_some_and(|s| !s.matches(&pv.metadata.labels))
        {
            continue;
        }
        if volume_class(pv) != claim.class_name {
            continue;
        }
        if pv
            .spec
            .volume_attributes_class_name
            .as_deref()
            .unwrap_or("")
            != claim_vac
        {
            continue;
        }
        if !affinity_ok {
            continue;
        }
        if !pvc
            .spec
            .access_modes
            .iter()
            .all(|m| pv.spec.access_modes.contains(m))
        {
            continue;
        }
        if smallest.as_ref().is_none_or(|(_, q)| *q > qty) {
            smallest = Some((pv, qty));
        }
    }
    smallest.map(|(pv, _)| pv)
}

impl FilterPlugin for VolumeBinding {
    fn filter(&self, state: &CycleState, _pod: &PodInfo, node: &NodeInfo) -> Status {
        let Some(s) = state.read::<Arc<State>>(NAME) else {
            return Status::success();
        };
        let labels = &node.node.metadata.labels;
        let mut bound_volumes_satisfied = true;
        let mut bound_pvs_found = true;
        let mut unbound_volumes_satisfied = true;
        // checkBoundClaims: stops at the first missing volume or affinity conflict.
        for pv in &s.bound {
            match pv {
                None => {
                    bound_pvs_found = false;
                    break;
                }
                Some(pv) if !node_affinity_ok(pv, labels) => {
                    bound_volumes_satisfied = false;
                    break;
                }
                Some(_) => {}
            }
        }
        'delayed: {
            if s.delayed.is_empty() {
                break 'delayed;
            }
            let mut to_provision: Vec<&DelayedClaim> = Vec::new();
            let mut to_match: Vec<&DelayedClaim> = Vec::new();
            for c in &s.delayed {
                match c.pvc.metadata.annotations.get(ANN_SELECTED_NODE) {
                    Some(selected) if selected != node.name() => {
                        unbound_volumes_satisfied = false;
                        break 'delayed;
                    }
                    Some(_) => to_provision.push(c),
                    None => to_match.push(c),
                }
            }
            let mut chosen: Vec<&str> = Vec::new();
            for c in to_match {
                match find_matching_volume(c, node, &chosen) {
                    Some(pv) => chosen.push(pv.metadata.name.as_str()),
                    None => {
                        unbound_volumes_satisfied = false;
                        to_provision.push(c);
                    }
                }
            }
            if to_provision.is_empty() {
                break 'delayed;
            }
            // checkVolumeProvisions: its verdict replaces the matching one.
            unbound_volumes_satisfied = true;
            for c in to_provision {
                if c.class_name.is_empty() {
                    return Status::error(format!("no class for claim {:?}", c.key));
                }
                let Some(class) = &c.class else {
                    return Status::error(format!(
                        "failed to find storage class {:?}",
                        c.class_name
                    ));
                };
                if class.provisioner.is_empty()
                    || class.provisioner == NOT_SUPPORTED_PROVISIONER
                    || !allowed_topologies_match(class, labels)
                {
                    unbound_volumes_satisfied = false;
                    break 'delayed;
                }
                // hasEnoughCapacity: without CSIDriver/CSIStorageCapacity objects, enough.
            }
        }
        let mut reasons = Vec::new();
        if !bound_volumes_satisfied {
            reasons.push(ERR_REASON_NODE_CONFLICT.into());
        }
        if !unbound_volumes_satisfied {
            reasons.push(ERR_REASON_BIND_CONFLICT.into());
        }
        if !bound_pvs_found {
            reasons.push(ERR_REASON_PV_NOT_EXIST.into());
        }
        if reasons.is_empty() {
            Status::success()
        } else {
            Status::with_reasons(
                crate::framework::Code::UnschedulableAndUnresolvable,
                reasons,
            )
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::framework::Code;
    use crate::plugins::testing::{node, pod};
    use crate::snapshot::VolumeObjects;
    use flotilla_model::api::{Node, Pod};
    use serde_json::{json, Value};

    // The helpers of volumebinding/test_utils.go.

    /// `makeNode(name)`: a node labelled with its hostname, plus `labels`.
    fn make_node(name: &str, labels: &[(&str, &str)]) -> Arc<Node> {
        let mut l = serde_json::Map::new();
        l.insert(HOSTNAME_LABEL.into(), json!(name));
        for (k, v) in labels {
            l.insert(k.to_string(), json!(v));
        }
        node(json!({"metadata": {"name": name, "labels": l}}))
    }

    /// `makePod(name).withPVCVolume(claim, "")...`.
    fn make_pod(claims: &[&str]) -> Arc<Pod> {
        let volumes: Vec<Value> = claims
            .iter()
            .map(|c| json!({"name": c, "persistentVolumeClaim": {"claimName": c}}))
            .collect();
        pod(json!({
            "metadata": {"name": "pod-a", "namespace": "default"},
            "spec": {"volumes": volumes, "containers": [{"name": "c", "image": "i"}]}
        }))
    }

    /// `makePVC(name, class)` with `.withBoundPV(pv)` when `pv` is not empty, a storage request
    /// when `request` is not empty, and `phase`.
    fn make_pvc(
        name: &str,
        class: &str,
        pv: &str,
        request: &str,
        phase: Option<&str>,
    ) -> Arc<PersistentVolumeClaim> {
        let mut v = json!({
            "metadata": {"name": name, "namespace": "default"},
            "spec": {"storageClassName": class}
        });
        if !pv.is_empty() {
            v["spec"]["volumeName"] = json!(pv);
            v["metadata"]["annotations"] = json!({ANN_BIND_COMPLETED: "yes"});
        }
        if !request.is_empty() {
            v["spec"]["resources"] = json!({"requests": {"storage": request}});
        }
        if let Some(phase) = phase {
            v["status"] = json!({"phase": phase});
        }
        Arc::new(serde_json::from_value(v).expect("pvc decodes"))
    }

    /// `makePV(name, class).withPhase(phase).withCapacity(c).withNodeAffinity(keys)`.
    fn make_pv(
        name: &str,
        class: &str,
        phase: &str,
        capacity: &str,
        affinity: &[(&str, &[&str])],
    ) -> Arc<PersistentVolume> {
        let mut v = json!({
            "metadata": {"name": name},
            "spec": {"storageClassName": class},
            "status": {"phase": phase}
        });
        if !capacity.is_empty() {
            v["spec"]["capacity"] = json!({"storage": capacity});
        }
        if !affinity.is_empty() {
            let exprs: Vec<Value> = affinity
                .iter()
                .map(|(k, vals)| json!({"key": k, "operator": "In", "values": vals}))
                .collect();
            v["spec"]["nodeAffinity"] =
                json!({"required": {"nodeSelectorTerms": [{"matchExpressions": exprs}]}});
        }
        Arc::new(serde_json::from_value(v).expect("pv decodes"))
    }

    fn classes() -> Vec<Arc<StorageClass>> {
        let class = |name: &str, mode| {
            Arc::new(StorageClass {
                metadata: flotilla_model::ObjectMeta::named("", name),
                volume_binding_mode: Some(mode),
                ..StorageClass::default()
            })
        };
        vec![
            class("immediate-sc", VolumeBindingMode::Immediate),
            class("wait-sc", VolumeBindingMode::WaitForFirstConsumer),
            class("wait-hdd-sc", VolumeBindingMode::WaitForFirstConsumer),
        ]
    }

    struct Outcome {
        pre: Status,
        nodes: Option<Vec<String>>,
        filter: Vec<Status>,
    }

    fn run(
        p: Arc<Pod>,
        nodes: Vec<Arc<Node>>,
        pvcs: Vec<Arc<PersistentVolumeClaim>>,
        pvs: Vec<Arc<PersistentVolume>>,
        extra_classes: Vec<Arc<StorageClass>>,
    ) -> Outcome {
        let mut s = Snapshot::new(&nodes, &[], &[]);
        let mut all = classes();
        all.extend(extra_classes);
        s.volumes = Arc::new(VolumeObjects::new(&pvcs, &pvs, &all));
        let plugin = VolumeBinding::new(VolumeBindingArgs::default()).expect("valid");
        let info = PodInfo::new(p);
        let mut state = CycleState::new();
        let (result, pre) = plugin.pre_filter(&mut state, &info, &s);
        let filter = if pre.is_success() {
            s.nodes
                .iter()
                .map(|n| plugin.filter(&state, &info, n))
                .collect()
        } else {
            Vec::new()
        };
        Outcome {
            pre,
            nodes: result
                .nodes
                .map(|v| v.iter().map(|&i| s.nodes[i].name().to_string()).collect()),
            filter,
        }
    }

    fn rejected(reasons: &[&str]) -> Status {
        Status::with_reasons(
            Code::UnschedulableAndUnresolvable,
            reasons.iter().map(|r| r.to_string().into()).collect(),
        )
    }

    // volume_binding_test.go TestVolumeBinding, the cases up to "local volumes with close
    // capacity are preferred" (their PreFilter and Filter expectations; the scores need
    // StorageCapacityScoring, which is off).
    #[test]
    fn volume_binding_table() {
        let node_a = || vec![make_node("node-a", &[])];
        let ok = Status::success();

        // "pod has not pvcs"
        let o = run(make_pod(&[]), node_a(), vec![], vec![], vec![]);
        assert_eq!(o.pre.code, Code::Skip);

        // "all bound"
        let o = run(
            make_pod(&["pvc-a"]),
            node_a(),
            vec![make_pvc("pvc-a", "wait-sc", "pv-a", "", None)],
            vec![make_pv("pv-a", "wait-sc", "Available", "", &[])],
            vec![],
        );
        assert!(o.pre.is_success(), "{}", o.pre);
        assert_eq!(o.nodes, None);
        assert_eq!(o.filter, vec![ok.clone()]);

        // "all bound with local volumes"
        let o = run(
            make_pod(&["pvc-a", "pvc-b"]),
            node_a(),
            vec![
                make_pvc("pvc-a", "wait-sc", "pv-a", "", None),
                make_pvc("pvc-b", "wait-sc", "pv-b", "", None),
            ],
            vec![
                make_pv(
                    "pv-a",
                    "wait-sc",
                    "Bound",
                    "",
                    &[(HOSTNAME_LABEL, &["node-a"])],
                ),
                make_pv(
                    "pv-b",
                    "wait-sc",
                    "Bound",
                    "",
                    &[(HOSTNAME_LABEL, &["node-a"])],
                ),
            ],
            vec![],
        );
        assert_eq!(o.nodes, Some(vec!["node-a".to_string()]));
        assert_eq!(o.filter, vec![ok.clone()]);

        // "PVC does not exist" and "pvc not found"
        let o = run(make_pod(&["pvc-a"]), node_a(), vec![], vec![], vec![]);
        assert_eq!(
            o.pre,
            Status::unresolvable("persistentvolumeclaim \"pvc-a\" not found")
        );

        // "Part of PVCs do not exist"
        let o = run(
            make_pod(&["pvc-a", "pvc-b"]),
            node_a(),
            vec![make_pvc("pvc-a", "wait-sc", "pv-a", "", None)],
            vec![],
            vec![],
        );
        assert_eq!(
            o.pre,
            Status::unresolvable("persistentvolumeclaim \"pvc-b\" not found")
        );

        // "immediate claims not bound"
        let o = run(
            make_pod(&["pvc-a"]),
            node_a(),
            vec![make_pvc("pvc-a", "immediate-sc", "", "", None)],
            vec![],
            vec![],
        );
        assert_eq!(o.pre, Status::unresolvable(ERR_REASON_UNBOUND_IMMEDIATE));

        // "unbound claims no matches"
        let o = run(
            make_pod(&["pvc-a"]),
            node_a(),
            vec![make_pvc("pvc-a", "wait-sc", "", "", None)],
            vec![],
            vec![],
        );
        assert!(o.pre.is_success());
        assert_eq!(o.filter, vec![rejected(&[ERR_REASON_BIND_CONFLICT])]);

        // "bound and unbound unsatisfied"
        let o = run(
            make_pod(&["pvc-a", "pvc-b"]),
            vec![make_node("node-a", &[("foo", "barbar")])],
            vec![
                make_pvc("pvc-a", "wait-sc", "pv-a", "", None),
                make_pvc("pvc-b", "wait-sc", "", "", None),
            ],
            vec![make_pv(
                "pv-a",
                "wait-sc",
                "Available",
                "",
                &[("foo", &["bar"])],
            )],
            vec![],
        );
        assert_eq!(
            o.filter,
            vec![rejected(&[
                ERR_REASON_NODE_CONFLICT,
                ERR_REASON_BIND_CONFLICT
            ])]
        );

        // "pv not found"
        let o = run(
            make_pod(&["pvc-a"]),
            node_a(),
            vec![make_pvc("pvc-a", "wait-sc", "pv-a", "", None)],
            vec![],
            vec![],
        );
        assert!(o.pre.is_success());
        assert_eq!(o.filter, vec![rejected(&[ERR_REASON_PV_NOT_EXIST])]);

        // "pv not found claim lost"
        let o = run(
            make_pod(&["pvc-a"]),
            node_a(),
            vec![make_pvc("pvc-a", "wait-sc", "pv-a", "", Some("Lost"))],
            vec![],
            vec![],
        );
        assert_eq!(
            o.pre,
            Status::unresolvable(
                "persistentvolumeclaim \"pvc-a\" bound to non-existent persistentvolume \"pv-a\""
            )
        );

        // "local volumes with close capacity are preferred": node-c has no volume.
        let local = |name: &str, cap: &str, host: &'static str| {
            make_pv(
                name,
                "wait-sc",
                "Available",
                cap,
                &[(HOSTNAME_LABEL, &[host])],
            )
        };
        let o = run(
            make_pod(&["pvc-a"]),
            vec![
                make_node("node-a", &[]),
                make_node("node-b", &[]),
                make_node("node-c", &[]),
            ],
            vec![make_pvc("pvc-a", "wait-sc", "", "50Gi", None)],
            vec![
                local("pv-a-0", "200Gi", "node-a"),
                local("pv-a-1", "200Gi", "node-a"),
                local("pv-b-0", "100Gi", "node-b"),
                local("pv-b-1", "100Gi", "node-b"),
            ],
            vec![],
        );
        assert_eq!(
            o.filter,
            vec![ok.clone(), ok, rejected(&[ERR_REASON_BIND_CONFLICT])]
        );
    }

    #[test]
    fn matching_volumes_respect_size_modes_selector_and_use_once() {
        let n = || vec![make_node("node-a", &[])];
        let pv = |name: &str, cap: &str| make_pv(name, "wait-sc", "Available", cap, &[]);
        // Two claims, one 10Gi volume: the second claim finds nothing.
        let o = run(
            make_pod(&["c1", "c2"]),
            n(),
            vec![
                make_pvc("c1", "wait-sc", "", "5Gi", None),
                make_pvc("c2", "wait-sc", "", "5Gi", None),
            ],
            vec![pv("v1", "10Gi")],
            vec![],
        );
        assert_eq!(o.filter, vec![rejected(&[ERR_REASON_BIND_CONFLICT])]);
        // Too small, then big enough.
        let o = run(
            make_pod(&["c1"]),
            n(),
            vec![make_pvc("c1", "wait-sc", "", "20Gi", None)],
            vec![pv("v1", "10Gi")],
            vec![],
        );
        assert_eq!(o.filter, vec![rejected(&[ERR_REASON_BIND_CONFLICT])]);
        // A volume not yet Available is passed over.
        let o = run(
            make_pod(&["c1"]),
            n(),
            vec![make_pvc("c1", "wait-sc", "", "1Gi", None)],
            vec![make_pv("v1", "wait-sc", "Pending", "10Gi", &[])],
            vec![],
        );
        assert_eq!(o.filter, vec![rejected(&[ERR_REASON_BIND_CONFLICT])]);
    }

    #[test]
    fn provisioning_follows_the_class() {
        let provisioning = |name: &str, provisioner: &str, zones: &[&str]| {
            let mut c = StorageClass {
                metadata: flotilla_model::ObjectMeta::named("", name),
                provisioner: provisioner.into(),
                volume_binding_mode: Some(VolumeBindingMode::WaitForFirstConsumer),
                ..StorageClass::default()
            };
            if !zones.is_empty() {
                c.allowed_topologies = vec![flotilla_model::api::TopologySelectorTerm {
                    match_label_expressions: vec![
                        flotilla_model::api::TopologySelectorLabelRequirement {
                            key: crate::snapshot::ZONE_LABEL.into(),
                            values: zones.iter().map(|z| z.to_string()).collect(),
                        },
                    ],
                }];
            }
            Arc::new(c)
        };
        let nodes = || {
            vec![
                make_node("n1", &[(crate::snapshot::ZONE_LABEL, "a")]),
                make_node("n2", &[(crate::snapshot::ZONE_LABEL, "b")]),
            ]
        };
        let o = run(
            make_pod(&["c"]),
            nodes(),
            vec![make_pvc("c", "csi", "", "1Gi", None)],
            vec![],
            vec![provisioning("csi", "ebs.csi.aws.com", &["a"])],
        );
        assert_eq!(
            o.filter,
            vec![Status::success(), rejected(&[ERR_REASON_BIND_CONFLICT])]
        );
        let o = run(
            make_pod(&["c"]),
            nodes(),
            vec![make_pvc("c", "local", "", "1Gi", None)],
            vec![],
            vec![provisioning("local", NOT_SUPPORTED_PROVISIONER, &[])],
        );
        assert_eq!(
            o.filter,
            vec![
                rejected(&[ERR_REASON_BIND_CONFLICT]),
                rejected(&[ERR_REASON_BIND_CONFLICT])
            ]
        );
    }

    #[test]
    fn args_are_validated() {
        assert_eq!(
            VolumeBindingArgs::default().bind_timeout_seconds,
            DEFAULT_BIND_TIMEOUT_SECONDS
        );
        let errs = VolumeBinding::new(VolumeBindingArgs {
            bind_timeout_seconds: -1,
            shape: Some(vec![UtilizationShapePoint::default()]),
        })
        .expect_err("invalid");
        let text: Vec<String> = errs.iter().map(ToString::to_string).collect();
        assert_eq!(text.len(), 2, "{text:?}");
        assert!(
            text[0]
                .starts_with("bindTimeoutSeconds: Invalid value: -1: invalid BindTimeoutSeconds"),
            "{text:?}"
        );
        assert!(
            text[1].contains("unsupported when StorageCapacityScoring feature is disabled"),
            "{text:?}"
        );
    }
}
