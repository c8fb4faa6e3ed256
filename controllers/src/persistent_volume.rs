//! The PersistentVolume controller (kube-controller-manager's
//! `persistentvolume-binder-controller`, pkg/controller/volume/persistentvolume/pv_controller.go,
//! v1.34): binds PersistentVolumeClaims to PersistentVolumes, provisions volumes for claims of a
//! StorageClass, and reclaims volumes whose claim is gone.
//!
//! **Binding** (`syncUnboundClaim`, `findBestMatchForClaim`, component-helpers
//! `FindMatchingVolume`). A claim without `spec.volumeName` gets the volume that is pre-bound to
//! it by `spec.claimRef`, else the best `Available` volume with no `claimRef`: capacity at least
//! the request, the same volume mode and VolumeAttributesClass, the same class, labels matching
//! the claim's selector, and every access mode of the claim offered; fewest access modes first,
//! then the smallest, then the first by name. A claim that names its volume (`spec.volumeName`)
//! gets that one if it is free and fits (else a `VolumeMismatch` event). Binding writes both
//! sides (`bind`): the volume's `claimRef` and, when the controller chose it,
//! `pv.kubernetes.io/bound-by-controller: "yes"`; the volume's phase `Bound`; the claim's
//! `volumeName`, its `pv.kubernetes.io/bind-completed: "yes"` (and `bound-by-controller` when the
//! controller chose); the claim's phase `Bound` with the volume's capacity and access modes.
//!
//! **Provisioning** (`provisionClaim`, `provisionClaimOperation`). A claim of a class that no
//! volume fits is provisioned by the [`Provisioner`] whose name is the class's `provisioner`: the
//! claim gets the `volume.kubernetes.io/storage-provisioner` annotation, the volume is named
//! `pvc-<claim uid>`, is pre-bound to the claim, carries `pv.kubernetes.io/provisioned-by`, and
//! the class's reclaim policy and mount options; the claim then binds to it. A class whose
//! provisioner is not registered here waits for an external provisioner (`ExternalProvisioning`).
//! The built-in [`SimProvisioner`] (`flotilla.io/sim`) serves the simulator and tests.
//!
//! **WaitForFirstConsumer.** A claim of such a class is neither bound nor provisioned until a pod
//! that uses it is bound to a node. In Kubernetes the scheduler's VolumeBinding plugin does that
//! part in PreBind: it pre-binds a matching volume on the node, or writes the
//! `volume.kubernetes.io/selected-node` annotation for the provisioner. Flotilla's scheduler only
//! decides feasibility, so — a documented deviation — this controller does PreBind's writes when
//! it sees the bound pod: a volume that fits the claim and whose node affinity admits the node is
//! bound, else the node is written to `selected-node` and the volume is provisioned in that
//! node's topology. The pod's kubelet waits for the claims meanwhile (`FailedMount`).
//!
//! **Reclaiming** (`syncVolume`, `reclaimVolume`, `deleteVolumeOperation`). A volume whose claim
//! is gone becomes `Released`; with `Retain` it stays so (an administrator reclaims it); with
//! `Delete` the provisioner that made it deletes the storage and the volume object goes
//! (`VolumeFailedDelete` and phase `Failed` when no provisioner here can delete it). A bound claim
//! whose volume disappears becomes `Lost` (`ClaimLost`).
//!
//! Kubernetes re-syncs every claim and volume every 15 s; here watch events drive everything:
//! a volume turning `Available` and a new StorageClass queue the pending claims of their class.
//! Not modelled: the `Recycle` policy (deprecated; such a volume fails), the
//! `kubernetes.io/pv-controller` and PVC-protection finalizers, volume expansion, data sources.

use std::collections::BTreeMap;

use flotilla_model::api::{
    CsiPersistentVolumeSource, Node, NodeSelector, NodeSelectorOperator, NodeSelectorRequirement,
    NodeSelectorTerm, ObjectReference, PersistentVolume, PersistentVolumeAccessMode,
    PersistentVolumeClaim, PersistentVolumeClaimPhase, PersistentVolumeMode, PersistentVolumePhase,
    PersistentVolumeReclaimPolicy, PersistentVolumeSpec, Pod, StorageClass, VolumeBindingMode,
    VolumeNodeAffinity, BETA_STORAGE_CLASS_ANNOTATION, RESOURCE_STORAGE,
};
use flotilla_model::store::{DeleteOptions, ObjectKey, StoreError, WatchEvent, WatchEventType};
use flotilla_model::{Duration, Kind, Object, ObjectMeta, Quantity};

use crate::controller::{get_typed, Action, Context, Controller, Lookup, ReconcileError};

/// The controller's name in kube-controller-manager.
pub const CONTROLLER_NAME: &str = "persistentvolume-binder-controller";
/// On a claim: the controller finished binding it (storagehelpers `AnnBindCompleted`).
pub const ANN_BIND_COMPLETED: &str = "pv.kubernetes.io/bind-completed";
/// On a claim or volume: the controller, not the user, chose the binding
/// (`AnnBoundByController`).
pub const ANN_BOUND_BY_CONTROLLER: &str = "pv.kubernetes.io/bound-by-controller";
/// On a volume: the provisioner that created it (`AnnDynamicallyProvisioned`).
pub const ANN_DYNAMICALLY_PROVISIONED: &str = "pv.kubernetes.io/provisioned-by";
/// On a claim: the provisioner expected to provision it (`AnnStorageProvisioner`).
pub const ANN_STORAGE_PROVISIONER: &str = "volume.kubernetes.io/storage-provisioner";
/// The beta form of [`ANN_STORAGE_PROVISIONER`], still written (`AnnBetaStorageProvisioner`).
pub const ANN_BETA_STORAGE_PROVISIONER: &str = "volume.beta.kubernetes.io/storage-provisioner";
/// On a WaitForFirstConsumer claim: the node its volume is provisioned for (`AnnSelectedNode`).
pub const ANN_SELECTED_NODE: &str = "volume.kubernetes.io/selected-node";
/// The provisioner of classes whose volumes are only created by hand.
pub const NOT_SUPPORTED_PROVISIONER: &str = "kubernetes.io/no-provisioner";
/// The name of the built-in [`SimProvisioner`], for `StorageClass.provisioner`.
pub const SIM_PROVISIONER: &str = "flotilla.io/sim";
/// The CSI driver named in the volumes [`SimProvisioner`] creates.
pub const SIM_CSI_DRIVER: &str = "sim.flotilla.io";
/// The node label naming the host (`kubernetes.io/hostname`).
pub const LABEL_HOSTNAME: &str = "kubernetes.io/hostname";
/// How long a claim whose provisioning failed waits before the next try (the claim re-sync,
/// `--pvclaimbinder-sync-period`, 15 s).
pub const PROVISION_RETRY: Duration = Duration::from_secs(15);

/// Why a [`Provisioner`] could not create or delete a volume.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct ProvisionError(pub String);

/// A volume plugin that creates and deletes storage (Kubernetes' `ProvisionableVolumePlugin` /
/// `DeletableVolumePlugin`, or an external CSI provisioner). It is chosen by name: a claim of a
/// StorageClass whose `provisioner` equals [`name`](Provisioner::name) is provisioned by it.
/// Implementations must be deterministic (no clock, no OS randomness): the simulator's and
/// runtime-linux's provisioners implement it.
pub trait Provisioner: Send + std::fmt::Debug {
    /// The provisioner's name, as StorageClasses name it (`flotilla.io/sim`).
    fn name(&self) -> &str;

    /// Creates storage for `claim` of `class` and returns the spec of the volume that holds it,
    /// to be stored under `volume_name`. `selected_node` is the node of the claim's first
    /// consumer for WaitForFirstConsumer classes (the volume should be reachable from it), `None`
    /// for Immediate ones. The controller sets `claimRef`, `storageClassName` and, when the spec
    /// leaves them unset, the class's reclaim policy and mount options.
    fn provision(
        &mut self,
        volume_name: &str,
        claim: &PersistentVolumeClaim,
        class: &StorageClass,
        selected_node: Option<&Node>,
    ) -> Result<PersistentVolumeSpec, ProvisionError>;

    /// Deletes the storage of `volume` (reclaim policy `Delete`); the controller then deletes
    /// the volume object.
    fn delete(&mut self, volume: &PersistentVolume) -> Result<(), ProvisionError>;
}

/// The built-in provisioner (`flotilla.io/sim`): volumes that exist only in the store, as a CSI
/// volume of driver `sim.flotilla.io` whose handle is the volume's name. Deterministic and
/// stateless. The volume has exactly the requested capacity, the claim's access modes (or
/// `ReadWriteOnce`) and volume mode, and the class's parameters as volume attributes.
///
/// Topology: with a selected node, the volume's node affinity pins it to the node's value of
/// the class parameter `topologyKey` (default `kubernetes.io/hostname`; a node without a
/// hostname label counts as labelled with its name; `topologyKey: none` gives no affinity).
/// Without a selected node, a class's `allowedTopologies` become the node affinity.
#[derive(Clone, Copy, Debug, Default)]
pub struct SimProvisioner;

impl Provisioner for SimProvisioner {
    fn name(&self) -> &str {
        SIM_PROVISIONER
    }

    fn provision(
        &mut self,
        volume_name: &str,
        claim: &PersistentVolumeClaim,
        class: &StorageClass,
        selected_node: Option<&Node>,
    ) -> Result<PersistentVolumeSpec, ProvisionError> {
        let Some(request) = claim.storage_request().copied() else {
            return Err(ProvisionError(
                "claim.Spec.Resources.Requests[storage] is required".into(),
            ));
        };
        let mut access_modes = claim.spec.access_modes.clone();
        if access_modes.is_empty() {
            access_modes.push(PersistentVolumeAccessMode::ReadWriteOnce);
        }
        let key = class
            .parameters
            .get("topologyKey")
            .map(String::as_str)
            .unwrap_or(LABEL_HOSTNAME);
        let node_affinity = match selected_node {
            Some(_) if key == "none" => None,
            Some(node) => {
                let value = match node.metadata.labels.get(key) {
                    Some(v) => v.clone(),
                    None if key == LABEL_HOSTNAME => node.metadata.name.clone(),
                    None => {
                        return Err(ProvisionError(format!(
                            "node {:?} has no label {key:?}",
                            node.metadata.name
                        )))
                    }
                };
                Some(affinity(vec![vec![(key.to_string(), vec![value])]]))
            }
            None if class.allowed_topologies.is_empty() => None,
            None => Some(affinity(
                class
                    .allowed_topologies
                    .iter()
                    .map(|t| {
                        t.match_label_expressions
                            .iter()
                            .map(|r| (r.key.clone(), r.values.clone()))
                            .collect()
                    })
                    .collect(),
            )),
        };
        Ok(PersistentVolumeSpec {
            capacity: [(RESOURCE_STORAGE.to_string(), request)].into(),
            csi: Some(CsiPersistentVolumeSource {
                driver: SIM_CSI_DRIVER.into(),
                volume_handle: volume_name.to_string(),
                volume_attributes: class.parameters.clone(),
                ..Default::default()
            }),
            access_modes,
            volume_mode: claim.spec.volume_mode,
            node_affinity,
            ..Default::default()
        })
    }

    fn delete(&mut self, volume: &PersistentVolume) -> Result<(), ProvisionError> {
        match &volume.spec.csi {
            Some(csi) if csi.driver == SIM_CSI_DRIVER => Ok(()),
            _ => Err(ProvisionError(format!(
                "volume {:?} was not created by {SIM_PROVISIONER}",
                volume.metadata.name
            ))),
        }
    }
}

/// A required node affinity: terms (ORed) of `key In values` requirements (ANDed).
fn affinity(terms: Vec<Vec<(String, Vec<String>)>>) -> VolumeNodeAffinity {
    VolumeNodeAffinity {
        required: Some(NodeSelector {
            node_selector_terms: terms
                .into_iter()
                .map(|reqs| NodeSelectorTerm {
                    match_expressions: reqs
                        .into_iter()
                        .map(|(key, values)| NodeSelectorRequirement {
                            key,
                            operator: NodeSelectorOperator::In,
                            values,
                        })
                        .collect(),
                    match_fields: Vec::new(),
                })
                .collect(),
        }),
    }
}

/// The PersistentVolume controller. See the [module docs](self).
#[derive(Debug)]
pub struct PersistentVolumeController {
    provisioners: Vec<Box<dyn Provisioner>>,
    /// The last event recorded per claim (namespace, name), so that a claim re-synced by many
    /// events reports a waiting state once (the recorder's aggregation in Kubernetes).
    last_event: BTreeMap<(String, String), (String, String)>,
}

impl Default for PersistentVolumeController {
    fn default() -> Self {
        PersistentVolumeController::new()
    }
}

impl PersistentVolumeController {
    /// A controller with the built-in [`SimProvisioner`].
    pub fn new() -> PersistentVolumeController {
        PersistentVolumeController {
            provisioners: vec![Box::new(SimProvisioner)],
            last_event: BTreeMap::new(),
        }
    }

    /// Adds a provisioner (one registered later under the same name takes precedence).
    pub fn with_provisioner(mut self, provisioner: Box<dyn Provisioner>) -> Self {
        self.provisioners.insert(0, provisioner);
        self
    }

    fn provisioner(&mut self, name: &str) -> Option<&mut Box<dyn Provisioner>> {
        self.provisioners.iter_mut().find(|p| p.name() == name)
    }
}

/// `GetPersistentVolumeClaimClass`: the beta annotation, then the field; `""` for none.
pub fn claim_class(claim: &PersistentVolumeClaim) -> &str {
    claim
        .metadata
        .annotations
        .get(BETA_STORAGE_CLASS_ANNOTATION)
        .map(String::as_str)
        .or(claim.spec.storage_class_name.as_deref())
        .unwrap_or("")
}

/// `GetPersistentVolumeClass`: the beta annotation, then the field; `""` for none.
pub fn volume_class(pv: &PersistentVolume) -> &str {
    pv.metadata
        .annotations
        .get(BETA_STORAGE_CLASS_ANNOTATION)
        .map(String::as_str)
        .unwrap_or_else(|| pv.storage_class())
}

/// `IsVolumeBoundToClaim`: the claimRef names the claim, with its uid or none.
pub fn is_volume_bound_to_claim(pv: &PersistentVolume, claim: &PersistentVolumeClaim) -> bool {
    pv.spec.claim_ref.as_ref().is_some_and(|r| {
        r.name == claim.metadata.name
            && r.namespace == claim.metadata.namespace
            && (r.uid.is_empty() || r.uid == claim.metadata.uid)
    })
}

/// The names of the claims a pod's volumes use.
pub fn pod_claim_names(pod: &Pod) -> impl Iterator<Item = &str> + '_ {
    pod.spec
        .volumes
        .iter()
        .filter_map(|v| v.persistent_volume_claim.as_ref())
        .map(|c| c.claim_name.as_str())
}

fn has_annotation(meta: &ObjectMeta, key: &str) -> bool {
    meta.annotations.contains_key(key)
}

fn claim_key(namespace: &str, name: &str) -> ObjectKey {
    ObjectKey {
        kind: Kind::PersistentVolumeClaim,
        namespace: namespace.to_string(),
        name: name.to_string(),
    }
}

fn volume_key(name: &str) -> ObjectKey {
    ObjectKey {
        kind: Kind::PersistentVolume,
        namespace: String::new(),
        name: name.to_string(),
    }
}

/// The claims of `class` (or, when `class` is the default class, of no class) that wait for a
/// volume: unbound and naming none.
fn pending_claims_of_class(lookup: Lookup<'_>, class: &str, is_default: bool) -> Vec<ObjectKey> {
    lookup
        .store
        .iter_kind(Kind::PersistentVolumeClaim)
        .filter_map(|o| match &**o {
            Object::PersistentVolumeClaim(c) => Some(c),
            _ => None,
        })
        .filter(|c| {
            !has_annotation(&c.metadata, ANN_BIND_COMPLETED)
                && c.spec.volume_name.as_deref().unwrap_or("").is_empty()
                && (claim_class(c) == class
                    || (is_default
                        && c.spec.storage_class_name.is_none()
                        && !has_annotation(&c.metadata, BETA_STORAGE_CLASS_ANNOTATION)))
        })
        .map(|c| claim_key(&c.metadata.namespace, &c.metadata.name))
        .collect()
}

/// storagehelpers `IsDelayBindingMode`: the claim's class exists and waits for the first
/// consumer (no class, or a missing one, binds at once).
fn is_delay_binding(store: &flotilla_model::store::Store, claim: &PersistentVolumeClaim) -> bool {
    let class = claim_class(claim);
    !class.is_empty()
        && get_typed::<StorageClass>(store, "", class)
            .is_some_and(|c| c.volume_binding_mode == Some(VolumeBindingMode::WaitForFirstConsumer))
}

/// Whether the volume's required node affinity admits `node` (`CheckNodeAffinity`).
fn node_affinity_admits(pv: &PersistentVolume, node: &Node) -> bool {
    match pv
        .spec
        .node_affinity
        .as_ref()
        .and_then(|a| a.required.as_ref())
    {
        None => true,
        Some(selector) => selector.matches(&node.metadata.labels, &node.metadata.name),
    }
}

/// `findBestMatchForClaim` (index.go) with component-helpers `FindMatchingVolume`: the volume
/// pre-bound to the claim, else the best free volume that satisfies it (fewest access modes,
/// then smallest, then first by name). With `delay_binding` and no node only a pre-bound
/// volume is returned (the scheduler binds the others); with a node, node affinity must admit
/// it.
fn find_best_match(
    store: &flotilla_model::store::Store,
    claim: &PersistentVolumeClaim,
    delay_binding: bool,
    node: Option<&Node>,
) -> Result<Option<PersistentVolume>, ReconcileError> {
    let request = claim.storage_request().copied().unwrap_or_default();
    let mode = claim
        .spec
        .volume_mode
        .unwrap_or(PersistentVolumeMode::Filesystem);
    let vac = claim
        .spec
        .volume_attributes_class_name
        .as_deref()
        .unwrap_or("");
    let class = claim_class(claim);
    let selector = match &claim.spec.selector {
        None => None,
        Some(s) => Some(s.to_selector().map_err(|e| {
            ReconcileError::Other(format!(
                "error creating internal label selector for claim {}/{}: {e}",
                claim.metadata.namespace, claim.metadata.name
            ))
        })?),
    };
    let mut best: Option<((usize, Quantity), &PersistentVolume)> = None;
    for object in store.iter_kind(Kind::PersistentVolume) {
        let Object::PersistentVolume(pv) = &**object else {
            continue;
        };
        if pv.metadata.deletion_timestamp.is_some() {
            continue;
        }
        let size = pv.storage().copied().unwrap_or_default();
        if size < request {
            continue;
        }
        if pv
            .spec
            .volume_mode
            .unwrap_or(PersistentVolumeMode::Filesystem)
            != mode
        {
            continue;
        }
        if pv
            .spec
            .volume_attributes_class_name
            .as_deref()
            .unwrap_or("")
            != vac
        {
            continue;
        }
        let affinity_ok = node.is_none_or(|n| node_affinity_admits(pv, n));
        if is_volume_bound_to_claim(pv, claim) {
            // A pre-bound volume is the only candidate.
            return Ok(affinity_ok.then(|| (**pv).clone()));
        }
        if node.is_none() && delay_binding {
            continue;
        }
        if pv.status.phase != Some(PersistentVolumePhase::Available)
            || pv.spec.claim_ref.is_some()
            || selector
                .as_ref()
                .is_some_and(|s| !s.matches(&pv.metadata.labels))
            || volume_class(pv) != class
            || !affinity_ok
        {
            continue;
        }
        // index.go allPossibleMatchingAccessModes: volumes offering every mode the claim asks
        // for, those with the fewest modes first.
        if !claim
            .spec
            .access_modes
            .iter()
            .all(|m| pv.spec.access_modes.contains(m))
        {
            continue;
        }
        let rank = (pv.spec.access_modes.len(), size);
        if best.as_ref().is_none_or(|(r, _)| rank < *r) {
            best = Some((rank, pv));
        }
    }
    Ok(best.map(|(_, pv)| pv.clone()))
}

/// `checkVolumeSatisfyClaim`: why a volume the claim names cannot serve it, if it cannot.
fn check_volume_satisfies_claim(
    pv: &PersistentVolume,
    claim: &PersistentVolumeClaim,
) -> Option<String> {
    let request = claim.storage_request().copied().unwrap_or_default();
    let size = pv.storage().copied().unwrap_or_default();
    if size < request {
        return Some("requested PV is too small".into());
    }
    if volume_class(pv) != claim_class(claim) {
        return Some("storageClassName does not match".into());
    }
    if pv
        .spec
        .volume_mode
        .unwrap_or(PersistentVolumeMode::Filesystem)
        != claim
            .spec
            .volume_mode
            .unwrap_or(PersistentVolumeMode::Filesystem)
    {
        return Some("incompatible volumeMode".into());
    }
    if !claim
        .spec
        .access_modes
        .iter()
        .all(|m| pv.spec.access_modes.contains(m))
    {
        return Some("incompatible accessMode".into());
    }
    None
}

/// `GetReference` of a claim, for a volume's `claimRef`.
fn claim_reference(claim: &PersistentVolumeClaim) -> ObjectReference {
    ObjectReference {
        kind: "PersistentVolumeClaim".into(),
        namespace: claim.metadata.namespace.clone(),
        name: claim.metadata.name.clone(),
        uid: claim.metadata.uid.clone(),
        api_version: "v1".into(),
        resource_version: claim.metadata.resource_version.clone(),
        field_path: String::new(),
    }
}

fn as_claim(object: &Object) -> Option<PersistentVolumeClaim> {
    match object {
        Object::PersistentVolumeClaim(c) => Some((**c).clone()),
        _ => None,
    }
}

fn as_volume(object: &Object) -> Option<PersistentVolume> {
    match object {
        Object::PersistentVolume(v) => Some((**v).clone()),
        _ => None,
    }
}

impl PersistentVolumeController {
    /// Records an event about a claim unless it repeats the claim's last one.
    fn claim_event(
        &mut self,
        ctx: &mut Context<'_>,
        claim: &PersistentVolumeClaim,
        warning: bool,
        reason: &str,
        message: String,
    ) {
        let key = (
            claim.metadata.namespace.clone(),
            claim.metadata.name.clone(),
        );
        let entry = (reason.to_string(), message.clone());
        if self.last_event.get(&key) == Some(&entry) {
            return;
        }
        self.last_event.insert(key, entry);
        let object = claim_key(&claim.metadata.namespace, &claim.metadata.name);
        if warning {
            ctx.warning(&object, reason, message);
        } else {
            ctx.normal(&object, reason, message);
        }
    }

    /// `syncClaim`.
    fn sync_claim(
        &mut self,
        key: &ObjectKey,
        ctx: &mut Context<'_>,
    ) -> Result<Action, ReconcileError> {
        let Some(claim) = get_typed::<PersistentVolumeClaim>(ctx.store, &key.namespace, &key.name)
        else {
            self.last_event
                .remove(&(key.namespace.clone(), key.name.clone()));
            return Ok(Action::await_change());
        };
        if has_annotation(&claim.metadata, ANN_BIND_COMPLETED) {
            self.sync_bound_claim(claim, ctx)?;
            Ok(Action::await_change())
        } else {
            self.sync_unbound_claim(claim, ctx)
        }
    }

    /// `syncUnboundClaim`.
    fn sync_unbound_claim(
        &mut self,
        mut claim: PersistentVolumeClaim,
        ctx: &mut Context<'_>,
    ) -> Result<Action, ReconcileError> {
        // assignDefaultStorageClass (RetroactiveDefaultStorageClass, GA in v1.28): a claim that
        // names no class gets the default class, if there is one.
        if claim.spec.storage_class_name.is_none()
            && !has_annotation(&claim.metadata, BETA_STORAGE_CLASS_ANNOTATION)
            && claim.spec.volume_name.as_deref().unwrap_or("").is_empty()
        {
            if let Some(class) = default_class(ctx.store) {
                claim.spec.storage_class_name = Some(class);
                claim.metadata.resource_version.clear();
                let written = ctx.store.update(claim.into(), ctx.now)?;
                match as_claim(&written) {
                    Some(c) => claim = c,
                    None => return Ok(Action::await_change()),
                }
            }
        }
        let volume_name = claim.spec.volume_name.clone().unwrap_or_default();
        if !volume_name.is_empty() {
            return self.sync_claim_naming_volume(claim, &volume_name, ctx);
        }
        let delay = is_delay_binding(ctx.store, &claim);
        if let Some(volume) = find_best_match(ctx.store, &claim, delay, None)? {
            bind(ctx, volume, claim)?;
            return Ok(Action::await_change());
        }
        let class = claim_class(&claim).to_string();
        if delay && !has_annotation(&claim.metadata, ANN_SELECTED_NODE) {
            return self.sync_delayed_claim(claim, ctx);
        }
        if !class.is_empty() {
            return self.provision_claim(claim, &class, ctx);
        }
        self.claim_event(
            ctx,
            &claim,
            false,
            "FailedBinding",
            "no persistent volumes available for this claim and no storage class is set".into(),
        );
        update_claim_status(ctx, &claim, PersistentVolumeClaimPhase::Pending, None)?;
        Ok(Action::await_change())
    }

    /// A WaitForFirstConsumer claim without a selected node: Flotilla's stand-in for the
    /// scheduler's VolumeBinding PreBind (see the module docs), else
    /// `emitEventForUnboundDelayBindingClaim`.
    fn sync_delayed_claim(
        &mut self,
        claim: PersistentVolumeClaim,
        ctx: &mut Context<'_>,
    ) -> Result<Action, ReconcileError> {
        let (scheduled, unscheduled) = consumers(ctx.store, &claim);
        let node = scheduled
            .first()
            .and_then(|name| get_typed::<Node>(ctx.store, "", name));
        if let Some(node) = node {
            // binder.go FindPodVolumes / BindPodVolumes: a matching volume on the node...
            if let Some(volume) = find_best_match(ctx.store, &claim, true, Some(&node))? {
                bind(ctx, volume, claim)?;
                return Ok(Action::await_change());
            }
            // ... else provisioning there, when the class can (checkVolumeProvisions).
            let class = get_typed::<StorageClass>(ctx.store, "", claim_class(&claim));
            if let Some(class) = class.filter(|c| can_provision_on(c, &node)) {
                let mut annotated = claim;
                annotated
                    .metadata
                    .annotations
                    .insert(ANN_SELECTED_NODE.into(), node.metadata.name.clone());
                annotated.metadata.resource_version.clear();
                let written = ctx.store.update(annotated.into(), ctx.now)?;
                let Some(claim) = as_claim(&written) else {
                    return Ok(Action::await_change());
                };
                return self.provision_claim(claim, &class.metadata.name, ctx);
            }
        }
        let (reason, message) = match unscheduled.as_slice() {
            [] => (
                "WaitForFirstConsumer",
                "waiting for first consumer to be created before binding".to_string(),
            ),
            [one] => (
                "WaitForPodScheduled",
                format!("waiting for pod {one} to be scheduled"),
            ),
            many => (
                "WaitForPodScheduled",
                format!("waiting for pods {} to be scheduled", many.join(",")),
            ),
        };
        self.claim_event(ctx, &claim, false, reason, message);
        update_claim_status(ctx, &claim, PersistentVolumeClaimPhase::Pending, None)?;
        Ok(Action::await_change())
    }

    /// `syncUnboundClaim` for a claim that names its volume.
    fn sync_claim_naming_volume(
        &mut self,
        claim: PersistentVolumeClaim,
        volume_name: &str,
        ctx: &mut Context<'_>,
    ) -> Result<Action, ReconcileError> {
        let Some(volume) = get_typed::<PersistentVolume>(ctx.store, "", volume_name) else {
            // The user asked for a volume that does not exist (yet): wait for it.
            update_claim_status(ctx, &claim, PersistentVolumeClaimPhase::Pending, None)?;
            return Ok(Action::await_change());
        };
        if volume.spec.claim_ref.is_none() {
            if let Some(why) = check_volume_satisfies_claim(&volume, &claim) {
                self.claim_event(
                    ctx,
                    &claim,
                    true,
                    "VolumeMismatch",
                    format!("Cannot bind to requested volume {volume_name:?}: {why}"),
                );
                update_claim_status(ctx, &claim, PersistentVolumeClaimPhase::Pending, None)?;
            } else {
                bind(ctx, volume, claim)?;
            }
        } else if is_volume_bound_to_claim(&volume, &claim) {
            bind(ctx, volume, claim)?;
        } else if !has_annotation(&claim.metadata, ANN_BOUND_BY_CONTROLLER) {
            // The volume is someone else's: retry when it changes.
            update_claim_status(ctx, &claim, PersistentVolumeClaimPhase::Pending, None)?;
        } else {
            return Err(ReconcileError::Other(format!(
                "invalid binding of claim \"{}/{}\" to volume {volume_name:?}: volume already claimed",
                claim.metadata.namespace, claim.metadata.name
            )));
        }
        Ok(Action::await_change())
    }

    /// `syncBoundClaim`.
    fn sync_bound_claim(
        &mut self,
        claim: PersistentVolumeClaim,
        ctx: &mut Context<'_>,
    ) -> Result<(), ReconcileError> {
        let volume_name = claim.spec.volume_name.clone().unwrap_or_default();
        if volume_name.is_empty() {
            return self.claim_lost(
                ctx,
                &claim,
                "ClaimLost",
                "Bound claim has lost reference to PersistentVolume. Data on the volume is lost!",
            );
        }
        let Some(volume) = get_typed::<PersistentVolume>(ctx.store, "", &volume_name) else {
            return self.claim_lost(
                ctx,
                &claim,
                "ClaimLost",
                "Bound claim has lost its PersistentVolume. Data on the volume is lost!",
            );
        };
        let misbound = volume
            .spec
            .claim_ref
            .as_ref()
            .is_some_and(|r| r.uid != claim.metadata.uid);
        if misbound {
            return self.claim_lost(
                ctx,
                &claim,
                "ClaimMisbound",
                "Two claims are bound to the same volume, this one is bound incorrectly",
            );
        }
        // The volume came unbound, or all is well: (re)bind, which writes only what differs.
        bind(ctx, volume, claim)
    }

    /// `updateClaimStatusWithEvent(Lost)`: once.
    fn claim_lost(
        &mut self,
        ctx: &mut Context<'_>,
        claim: &PersistentVolumeClaim,
        reason: &str,
        message: &str,
    ) -> Result<(), ReconcileError> {
        if claim.status.phase == Some(PersistentVolumeClaimPhase::Lost) {
            return Ok(());
        }
        update_claim_status(ctx, claim, PersistentVolumeClaimPhase::Lost, None)?;
        self.claim_event(ctx, claim, true, reason, message.to_string());
        Ok(())
    }

    /// `provisionClaim` / `provisionClaimOperation` (and `provisionClaimOperationExternal` for
    /// a provisioner not registered here).
    fn provision_claim(
        &mut self,
        mut claim: PersistentVolumeClaim,
        class_name: &str,
        ctx: &mut Context<'_>,
    ) -> Result<Action, ReconcileError> {
        let Some(class) = get_typed::<StorageClass>(ctx.store, "", class_name) else {
            self.claim_event(
                ctx,
                &claim,
                true,
                "ProvisioningFailed",
                format!("storageclass.storage.k8s.io {class_name:?} not found"),
            );
            update_claim_status(ctx, &claim, PersistentVolumeClaimPhase::Pending, None)?;
            return Ok(Action::await_change());
        };
        // setClaimProvisioner: both annotations name who is expected to provision.
        if claim.metadata.annotations.get(ANN_STORAGE_PROVISIONER) != Some(&class.provisioner)
            || claim.metadata.annotations.get(ANN_BETA_STORAGE_PROVISIONER)
                != Some(&class.provisioner)
        {
            for key in [ANN_STORAGE_PROVISIONER, ANN_BETA_STORAGE_PROVISIONER] {
                claim
                    .metadata
                    .annotations
                    .insert(key.into(), class.provisioner.clone());
            }
            claim.metadata.resource_version.clear();
            let written = ctx.store.update(claim.into(), ctx.now)?;
            let Some(c) = as_claim(&written) else {
                return Ok(Action::await_change());
            };
            claim = c;
        }
        update_claim_status(ctx, &claim, PersistentVolumeClaimPhase::Pending, None)?;
        // GetProvisionedVolumeNameForClaim.
        let volume_name = format!("pvc-{}", claim.metadata.uid);
        if ctx
            .store
            .get(Kind::PersistentVolume, "", &volume_name)
            .is_some()
        {
            // Provisioned already; the claim binds to it.
            return Ok(Action::await_change());
        }
        let selected_node = match claim.metadata.annotations.get(ANN_SELECTED_NODE) {
            None => None,
            Some(name) => match ctx.store.get(Kind::Node, "", name).as_deref() {
                Some(Object::Node(n)) => Some(n.clone()),
                _ => {
                    self.claim_event(
                        ctx,
                        &claim,
                        true,
                        "ProvisioningFailed",
                        format!("Failed to get target node: nodes {name:?} not found"),
                    );
                    return Ok(Action::requeue(PROVISION_RETRY));
                }
            },
        };
        let Some(provisioner) = self.provisioner(&class.provisioner) else {
            let message = format!(
                "Waiting for a volume to be created either by the external provisioner '{}' or \
                 manually by the system administrator. If volume creation is delayed, please \
                 verify that the provisioner is running and correctly registered.",
                class.provisioner
            );
            self.claim_event(ctx, &claim, false, "ExternalProvisioning", message);
            return Ok(Action::await_change());
        };
        let provisioner_name = provisioner.name().to_string();
        let spec = provisioner.provision(&volume_name, &claim, &class, selected_node.as_deref());
        let mut spec = match spec {
            Ok(spec) => spec,
            Err(e) => {
                self.claim_event(
                    ctx,
                    &claim,
                    true,
                    "ProvisioningFailed",
                    format!(
                        "Failed to provision volume with StorageClass {:?}: {e}",
                        class.metadata.name
                    ),
                );
                return Ok(Action::requeue(PROVISION_RETRY));
            }
        };
        spec.claim_ref = Some(claim_reference(&claim));
        spec.storage_class_name = Some(class.metadata.name.clone());
        if spec.persistent_volume_reclaim_policy.is_none() {
            spec.persistent_volume_reclaim_policy = class.reclaim_policy;
        }
        if spec.mount_options.is_empty() {
            spec.mount_options.clone_from(&class.mount_options);
        }
        let mut meta = ObjectMeta::named("", &volume_name);
        meta.annotations
            .insert(ANN_BOUND_BY_CONTROLLER.into(), "yes".into());
        meta.annotations
            .insert(ANN_DYNAMICALLY_PROVISIONED.into(), provisioner_name.clone());
        let volume = PersistentVolume {
            metadata: meta,
            spec,
            ..Default::default()
        };
        match ctx.store.create(volume.into(), ctx.now) {
            Ok(_) | Err(StoreError::AlreadyExists { .. }) => {}
            Err(e) => {
                self.claim_event(
                    ctx,
                    &claim,
                    true,
                    "ProvisioningFailed",
                    format!(
                        "Failed to provision volume with StorageClass {:?}: {e}",
                        class.metadata.name
                    ),
                );
                return Ok(Action::requeue(PROVISION_RETRY));
            }
        }
        self.claim_event(
            ctx,
            &claim,
            false,
            "ProvisioningSucceeded",
            format!("Successfully provisioned volume {volume_name} using {provisioner_name}"),
        );
        Ok(Action::await_change())
    }

    /// `syncVolume`.
    fn sync_volume(
        &mut self,
        key: &ObjectKey,
        ctx: &mut Context<'_>,
    ) -> Result<Action, ReconcileError> {
        let Some(volume) = get_typed::<PersistentVolume>(ctx.store, "", &key.name) else {
            return Ok(Action::await_change());
        };
        let Some(claim_ref) = volume.spec.claim_ref.clone() else {
            update_volume_phase(ctx, &volume, PersistentVolumePhase::Available, "")?;
            return Ok(Action::await_change());
        };
        if claim_ref.uid.is_empty() {
            // Pre-bound by the user to a claim that has not bound yet.
            update_volume_phase(ctx, &volume, PersistentVolumePhase::Available, "")?;
            return Ok(Action::await_change());
        }
        let claim =
            get_typed::<PersistentVolumeClaim>(ctx.store, &claim_ref.namespace, &claim_ref.name)
                .filter(|c| c.metadata.uid == claim_ref.uid);
        let Some(claim) = claim else {
            // The claim is gone: release the volume and apply its reclaim policy.
            let mut volume = volume;
            if !matches!(
                volume.status.phase,
                Some(PersistentVolumePhase::Released | PersistentVolumePhase::Failed)
            ) {
                match update_volume_phase(ctx, &volume, PersistentVolumePhase::Released, "")? {
                    Some(v) => volume = v,
                    None => return Ok(Action::await_change()),
                }
            }
            return self.reclaim_volume(volume, ctx);
        };
        let claim_volume = claim.spec.volume_name.clone().unwrap_or_default();
        if claim_volume.is_empty() {
            // Binding not finished: the claim's sync does it (queued by this volume's event).
            return Ok(Action::await_change());
        }
        if claim_volume == volume.metadata.name {
            update_volume_phase(ctx, &volume, PersistentVolumePhase::Bound, "")?;
            return Ok(Action::await_change());
        }
        // Bound to a claim that is bound elsewhere.
        let provisioned = has_annotation(&volume.metadata, ANN_DYNAMICALLY_PROVISIONED);
        if provisioned
            && volume.spec.persistent_volume_reclaim_policy
                == Some(PersistentVolumeReclaimPolicy::Delete)
        {
            let mut volume = volume;
            if !matches!(
                volume.status.phase,
                Some(PersistentVolumePhase::Released | PersistentVolumePhase::Failed)
            ) {
                match update_volume_phase(ctx, &volume, PersistentVolumePhase::Released, "")? {
                    Some(v) => volume = v,
                    None => return Ok(Action::await_change()),
                }
            }
            return self.reclaim_volume(volume, ctx);
        }
        unbind_volume(ctx, volume)?;
        Ok(Action::await_change())
    }

    /// `reclaimVolume` and `deleteVolumeOperation`.
    fn reclaim_volume(
        &mut self,
        volume: PersistentVolume,
        ctx: &mut Context<'_>,
    ) -> Result<Action, ReconcileError> {
        let key = volume_key(&volume.metadata.name);
        match volume.spec.persistent_volume_reclaim_policy {
            Some(PersistentVolumeReclaimPolicy::Retain) => Ok(Action::await_change()),
            Some(PersistentVolumeReclaimPolicy::Delete) => {
                if volume.metadata.deletion_timestamp.is_some() {
                    return Ok(Action::await_change());
                }
                // findDeletablePlugin: the provisioner that made it; a volume of an external
                // provisioner waits for it; a volume nobody here made cannot be deleted.
                let by = volume
                    .metadata
                    .annotations
                    .get(ANN_DYNAMICALLY_PROVISIONED)
                    .cloned();
                let result = match &by {
                    Some(name) => match self.provisioner(name) {
                        Some(p) => p.delete(&volume).map_err(|e| e.0),
                        None => return Ok(Action::await_change()),
                    },
                    None => Err(format!(
                        "error getting deleter volume plugin for volume {:?}: no deletable volume plugin matched",
                        volume.metadata.name
                    )),
                };
                if let Err(message) = result {
                    if volume.status.phase != Some(PersistentVolumePhase::Failed) {
                        update_volume_phase(ctx, &volume, PersistentVolumePhase::Failed, &message)?;
                        ctx.warning(&key, "VolumeFailedDelete", message);
                    }
                    return Ok(Action::await_change());
                }
                match ctx.store.delete(
                    Kind::PersistentVolume,
                    "",
                    &volume.metadata.name,
                    &DeleteOptions::default(),
                    ctx.now,
                ) {
                    Ok(_) | Err(StoreError::NotFound { .. }) => Ok(Action::await_change()),
                    Err(e) => Err(e.into()),
                }
            }
            Some(PersistentVolumeReclaimPolicy::Recycle) => {
                if volume.status.phase != Some(PersistentVolumePhase::Failed) {
                    let message = "No recycler plugin found for the volume!";
                    update_volume_phase(ctx, &volume, PersistentVolumePhase::Failed, message)?;
                    ctx.warning(&key, "VolumeFailedRecycle", message.into());
                }
                Ok(Action::await_change())
            }
            None => {
                if volume.status.phase != Some(PersistentVolumePhase::Failed) {
                    let message = "Volume has unrecognized PersistentVolumeReclaimPolicy";
                    update_volume_phase(ctx, &volume, PersistentVolumePhase::Failed, message)?;
                    ctx.warning(&key, "VolumeUnknownReclaimPolicy", message.into());
                }
                Ok(Action::await_change())
            }
        }
    }
}

/// The default StorageClass (`GetDefaultClass`): of several, the newest, then the first by
/// name.
fn default_class(store: &flotilla_model::store::Store) -> Option<String> {
    store
        .iter_kind(Kind::StorageClass)
        .filter_map(|o| match &**o {
            Object::StorageClass(c) if c.is_default_class() => Some(c),
            _ => None,
        })
        .max_by(|a, b| {
            a.metadata
                .creation_timestamp
                .cmp(&b.metadata.creation_timestamp)
                .then_with(|| b.metadata.name.cmp(&a.metadata.name))
        })
        .map(|c| c.metadata.name.clone())
}

/// Whether `class` can provision a volume reachable from `node` (binder.go
/// `checkVolumeProvisions`: a provisioner, and allowed topologies admitting the node).
fn can_provision_on(class: &StorageClass, node: &Node) -> bool {
    let labels = &node.metadata.labels;
    !class.provisioner.is_empty()
        && class.provisioner != NOT_SUPPORTED_PROVISIONER
        && (class.allowed_topologies.is_empty()
            || class.allowed_topologies.iter().any(|t| {
                !t.match_label_expressions.is_empty()
                    && t.match_label_expressions
                        .iter()
                        .all(|r| labels.get(&r.key).is_some_and(|v| r.values.contains(v)))
            }))
}

/// The pods using `claim` that are not being deleted and have not finished: the nodes of those
/// bound to one (in pod name order), and the names of those that are not.
fn consumers(
    store: &flotilla_model::store::Store,
    claim: &PersistentVolumeClaim,
) -> (Vec<String>, Vec<String>) {
    let mut scheduled = Vec::new();
    let mut unscheduled = Vec::new();
    for object in store.iter_namespace(Kind::Pod, &claim.metadata.namespace) {
        let Object::Pod(pod) = &**object else {
            continue;
        };
        if pod.metadata.deletion_timestamp.is_some()
            || pod.phase().is_terminal()
            || !pod_claim_names(pod).any(|n| n == claim.metadata.name)
        {
            continue;
        }
        if pod.spec.node_name.is_empty() {
            unscheduled.push(pod.metadata.name.clone());
        } else {
            scheduled.push(pod.spec.node_name.clone());
        }
    }
    (scheduled, unscheduled)
}

/// `bind`: `bindVolumeToClaim`, `updateVolumePhase(Bound)`, `bindClaimToVolume`,
/// `updateClaimStatus(Bound)`.
fn bind(
    ctx: &mut Context<'_>,
    mut volume: PersistentVolume,
    mut claim: PersistentVolumeClaim,
) -> Result<(), ReconcileError> {
    let exact = volume.spec.claim_ref.as_ref().is_some_and(|r| {
        r.name == claim.metadata.name
            && r.namespace == claim.metadata.namespace
            && r.uid == claim.metadata.uid
    });
    if !exact {
        if !is_volume_bound_to_claim(&volume, &claim) {
            volume
                .metadata
                .annotations
                .insert(ANN_BOUND_BY_CONTROLLER.into(), "yes".into());
        }
        volume.spec.claim_ref = Some(claim_reference(&claim));
        volume.metadata.resource_version.clear();
        let written = ctx.store.update(volume.into(), ctx.now)?;
        match as_volume(&written) {
            Some(v) => volume = v,
            None => return Ok(()),
        }
    }
    update_volume_phase(ctx, &volume, PersistentVolumePhase::Bound, "")?;
    let mut dirty = false;
    if claim.spec.volume_name.as_deref() != Some(volume.metadata.name.as_str()) {
        claim.spec.volume_name = Some(volume.metadata.name.clone());
        claim
            .metadata
            .annotations
            .entry(ANN_BOUND_BY_CONTROLLER.into())
            .or_insert_with(|| "yes".into());
        dirty = true;
    }
    if !has_annotation(&claim.metadata, ANN_BIND_COMPLETED) {
        claim
            .metadata
            .annotations
            .insert(ANN_BIND_COMPLETED.into(), "yes".into());
        dirty = true;
    }
    if dirty {
        claim.metadata.resource_version.clear();
        let written = ctx.store.update(claim.into(), ctx.now)?;
        match as_claim(&written) {
            Some(c) => claim = c,
            None => return Ok(()),
        }
    }
    update_claim_status(
        ctx,
        &claim,
        PersistentVolumeClaimPhase::Bound,
        Some(&volume),
    )?;
    Ok(())
}

/// `unbindVolume`: a volume the controller bound loses its claimRef; one the user pre-bound
/// keeps it without the uid. Then it is `Available`.
fn unbind_volume(
    ctx: &mut Context<'_>,
    mut volume: PersistentVolume,
) -> Result<(), ReconcileError> {
    if volume
        .metadata
        .annotations
        .remove(ANN_BOUND_BY_CONTROLLER)
        .is_some()
    {
        volume.spec.claim_ref = None;
    } else if let Some(r) = &mut volume.spec.claim_ref {
        r.uid.clear();
    }
    volume.metadata.resource_version.clear();
    let written = ctx.store.update(volume.into(), ctx.now)?;
    if let Some(v) = as_volume(&written) {
        update_volume_phase(ctx, &v, PersistentVolumePhase::Available, "")?;
    }
    Ok(())
}

/// `updateClaimStatus`: the phase, and the volume's access modes and capacity (cleared without
/// a volume). Writes only a change.
fn update_claim_status(
    ctx: &mut Context<'_>,
    claim: &PersistentVolumeClaim,
    phase: PersistentVolumeClaimPhase,
    volume: Option<&PersistentVolume>,
) -> Result<(), ReconcileError> {
    let Some(mut fresh) = get_typed::<PersistentVolumeClaim>(
        ctx.store,
        &claim.metadata.namespace,
        &claim.metadata.name,
    ) else {
        return Ok(());
    };
    let status = &mut fresh.status;
    let before = status.clone();
    status.phase = Some(phase);
    match volume {
        None => {
            status.access_modes.clear();
            status.capacity.clear();
        }
        Some(v) => {
            status.access_modes.clone_from(&v.spec.access_modes);
            status.capacity.clone_from(&v.spec.capacity);
        }
    }
    if *status != before {
        ctx.store.update_status(fresh.into(), ctx.now)?;
    }
    Ok(())
}

/// `updateVolumePhase`: the phase and message, with `lastPhaseTransitionTime` when the phase
/// changes. Returns the stored volume (`None` if it is gone).
fn update_volume_phase(
    ctx: &mut Context<'_>,
    volume: &PersistentVolume,
    phase: PersistentVolumePhase,
    message: &str,
) -> Result<Option<PersistentVolume>, ReconcileError> {
    let Some(mut fresh) = get_typed::<PersistentVolume>(ctx.store, "", &volume.metadata.name)
    else {
        return Ok(None);
    };
    let message = (!message.is_empty()).then(|| message.to_string());
    if fresh.status.phase == Some(phase) && fresh.status.message == message {
        return Ok(Some(fresh));
    }
    if fresh.status.phase != Some(phase) {
        fresh.status.last_phase_transition_time = Some(ctx.now);
    }
    fresh.status.phase = Some(phase);
    fresh.status.message = message;
    let written = ctx.store.update_status(fresh.into(), ctx.now)?;
    Ok(as_volume(&written))
}

impl Controller for PersistentVolumeController {
    fn name(&self) -> &'static str {
        CONTROLLER_NAME
    }

    fn watched_kinds(&self) -> &'static [Kind] {
        &[
            Kind::PersistentVolumeClaim,
            Kind::PersistentVolume,
            Kind::StorageClass,
            Kind::Pod,
        ]
    }

    fn keys_for_event(&self, event: &WatchEvent, lookup: Lookup<'_>) -> Vec<ObjectKey> {
        let deleted = event.event_type == WatchEventType::Deleted;
        match &*event.object {
            Object::PersistentVolumeClaim(claim) => {
                let mut keys = vec![claim_key(&claim.metadata.namespace, &claim.metadata.name)];
                if deleted {
                    // pv_controller_base.go deleteClaim: the volume bound to it is synced.
                    for object in lookup.store.iter_kind(Kind::PersistentVolume) {
                        if let Object::PersistentVolume(pv) = &**object {
                            let named = claim.spec.volume_name.as_deref()
                                == Some(pv.metadata.name.as_str());
                            if named || is_volume_bound_to_claim(pv, claim) {
                                keys.push(volume_key(&pv.metadata.name));
                            }
                        }
                    }
                }
                keys
            }
            Object::PersistentVolume(pv) => {
                let mut keys = Vec::new();
                if !deleted {
                    keys.push(volume_key(&pv.metadata.name));
                }
                match &pv.spec.claim_ref {
                    Some(r) => keys.push(claim_key(&r.namespace, &r.name)),
                    None if !deleted
                        && pv.status.phase == Some(PersistentVolumePhase::Available) =>
                    {
                        // A free volume: the claims of its class that wait may fit (Kubernetes
                        // finds it on the next periodic re-sync).
                        keys.extend(pending_claims_of_class(lookup, volume_class(pv), false));
                    }
                    None => {}
                }
                keys
            }
            Object::StorageClass(class) if !deleted => {
                pending_claims_of_class(lookup, &class.metadata.name, class.is_default_class())
            }
            Object::StorageClass(_) => Vec::new(),
            Object::Pod(pod) => {
                // A pod bound to a node is the first consumer of its WaitForFirstConsumer
                // claims (and an unscheduled one changes their waiting message).
                if deleted || pod.metadata.deletion_timestamp.is_some() || pod.phase().is_terminal()
                {
                    return Vec::new();
                }
                let ns = &pod.metadata.namespace;
                pod_claim_names(pod)
                    .filter(|name| {
                        matches!(
                            lookup.store.get(Kind::PersistentVolumeClaim, ns, name).as_deref(),
                            Some(Object::PersistentVolumeClaim(c))
                                if !has_annotation(&c.metadata, ANN_BIND_COMPLETED)
                        )
                    })
                    .map(|name| claim_key(ns, name))
                    .collect()
            }
            _ => Vec::new(),
        }
    }

    fn reconcile(
        &mut self,
        key: &ObjectKey,
        ctx: &mut Context<'_>,
    ) -> Result<Action, ReconcileError> {
        match key.kind {
            Kind::PersistentVolumeClaim => self.sync_claim(key, ctx),
            Kind::PersistentVolume => self.sync_volume(key, ctx),
            _ => Ok(Action::await_change()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::Harness;
    use flotilla_model::api::{
        PersistentVolumeClaimPhase as ClaimPhase, PersistentVolumePhase as Phase,
    };

    fn harness() -> Harness {
        Harness::new(vec![Box::new(PersistentVolumeController::new())])
    }

    fn apply(h: &mut Harness, yaml: &str) {
        let manifests = flotilla_model::manifest::parse_str("t.yaml", yaml).unwrap();
        for m in manifests.objects {
            h.apply(m.object).unwrap();
        }
    }

    fn claim(h: &Harness, name: &str) -> PersistentVolumeClaim {
        h.stored("default", name)
    }

    fn volume(h: &Harness, name: &str) -> Option<PersistentVolume> {
        h.get("", name)
    }

    fn events(h: &Harness, kind: Kind, name: &str) -> Vec<(String, String)> {
        let ns = if kind == Kind::PersistentVolume {
            ""
        } else {
            "default"
        };
        let key = ObjectKey {
            kind,
            namespace: ns.into(),
            name: name.into(),
        };
        h.recorder
            .events_for(&key)
            .map(|e| (e.reason.clone(), e.message.clone()))
            .collect()
    }

    fn pv_yaml(name: &str, size: &str, class: &str, extra: &str) -> String {
        format!(
            "apiVersion: v1\nkind: PersistentVolume\nmetadata: {{name: {name}}}\nspec:\n  capacity: {{storage: {size}}}\n  accessModes: [ReadWriteOnce]\n  storageClassName: {class}\n  hostPath: {{path: /data/{name}}}\n{extra}"
        )
    }

    fn pvc_yaml(name: &str, size: &str, class: &str, extra: &str) -> String {
        format!(
            "apiVersion: v1\nkind: PersistentVolumeClaim\nmetadata: {{name: {name}}}\nspec:\n  accessModes: [ReadWriteOnce]\n  storageClassName: {class}\n  resources: {{requests: {{storage: {size}}}}}\n{extra}"
        )
    }

    const SIM_CLASS: &str = "apiVersion: storage.k8s.io/v1\nkind: StorageClass\nmetadata: {name: fast}\nprovisioner: flotilla.io/sim\n";
    const WAIT_CLASS: &str = "apiVersion: storage.k8s.io/v1\nkind: StorageClass\nmetadata: {name: local}\nprovisioner: flotilla.io/sim\nvolumeBindingMode: WaitForFirstConsumer\nreclaimPolicy: Retain\n";

    #[test]
    fn a_claim_binds_the_smallest_free_volume_of_its_class_that_fits() {
        let mut h = harness();
        apply(&mut h, &pv_yaml("small", "1Gi", "manual", ""));
        apply(&mut h, &pv_yaml("big", "10Gi", "manual", ""));
        apply(&mut h, &pv_yaml("mid", "5Gi", "manual", ""));
        apply(&mut h, &pv_yaml("other", "3Gi", "other", ""));
        assert_eq!(
            volume(&h, "mid").unwrap().status.phase,
            Some(Phase::Available)
        );
        apply(&mut h, &pvc_yaml("data", "2Gi", "manual", ""));
        let c = claim(&h, "data");
        assert_eq!(c.spec.volume_name.as_deref(), Some("mid"));
        assert_eq!(c.status.phase, Some(ClaimPhase::Bound));
        assert_eq!(
            c.status.capacity.get("storage"),
            Some(&"5Gi".parse().unwrap())
        );
        assert_eq!(
            c.metadata
                .annotations
                .get(ANN_BIND_COMPLETED)
                .map(String::as_str),
            Some("yes")
        );
        assert_eq!(
            c.metadata
                .annotations
                .get(ANN_BOUND_BY_CONTROLLER)
                .map(String::as_str),
            Some("yes")
        );
        let pv = volume(&h, "mid").unwrap();
        assert_eq!(pv.status.phase, Some(Phase::Bound));
        assert_eq!(
            pv.spec.claim_ref.as_ref().map(|r| r.uid.clone()),
            Some(c.metadata.uid.clone())
        );
        assert_eq!(
            pv.metadata
                .annotations
                .get(ANN_BOUND_BY_CONTROLLER)
                .map(String::as_str),
            Some("yes")
        );
        for other in ["small", "big", "other"] {
            assert_eq!(
                volume(&h, other).unwrap().status.phase,
                Some(Phase::Available)
            );
        }
        // A claim that nothing fits and that names no provisionable class stays Pending.
        apply(&mut h, &pvc_yaml("huge", "100Gi", "manual", ""));
        assert_eq!(claim(&h, "huge").status.phase, Some(ClaimPhase::Pending));
        // A volume that appears later is found without a re-sync.
        apply(&mut h, &pv_yaml("large", "200Gi", "manual", ""));
        assert_eq!(claim(&h, "huge").spec.volume_name.as_deref(), Some("large"));
    }

    #[test]
    fn selectors_access_modes_and_volume_modes_restrict_the_match() {
        let mut h = harness();
        apply(&mut h, &pv_yaml("plain", "1Gi", "manual", ""));
        apply(
            &mut h,
            &pv_yaml("gold-rwo", "1Gi", "manual", "").replace(
                "metadata: {name: gold-rwo}",
                "metadata: {name: gold-rwo, labels: {tier: gold}}",
            ),
        );
        apply(
            &mut h,
            &pv_yaml("gold-rwx", "2Gi", "manual", "")
                .replace(
                    "metadata: {name: gold-rwx}",
                    "metadata: {name: gold-rwx, labels: {tier: gold}}",
                )
                .replace("[ReadWriteOnce]", "[ReadWriteOnce, ReadWriteMany]"),
        );
        apply(
            &mut h,
            &pvc_yaml(
                "shared",
                "1Gi",
                "manual",
                "  selector: {matchLabels: {tier: gold}}\n",
            )
            .replace("[ReadWriteOnce]", "[ReadWriteMany]"),
        );
        assert_eq!(
            claim(&h, "shared").spec.volume_name.as_deref(),
            Some("gold-rwx")
        );
        apply(
            &mut h,
            &pvc_yaml("block", "1Gi", "manual", "  volumeMode: Block\n"),
        );
        assert_eq!(claim(&h, "block").spec.volume_name, None);
        apply(
            &mut h,
            &pvc_yaml(
                "gold",
                "1Gi",
                "manual",
                "  selector: {matchLabels: {tier: gold}}\n",
            ),
        );
        assert_eq!(
            claim(&h, "gold").spec.volume_name.as_deref(),
            Some("gold-rwo")
        );
    }

    #[test]
    fn a_pre_bound_volume_waits_for_its_claim_and_a_claim_may_name_its_volume() {
        let mut h = harness();
        apply(
            &mut h,
            &pv_yaml(
                "reserved",
                "1Gi",
                "manual",
                "  claimRef: {namespace: default, name: owner}\n",
            ),
        );
        assert_eq!(
            volume(&h, "reserved").unwrap().status.phase,
            Some(Phase::Available)
        );
        apply(&mut h, &pvc_yaml("intruder", "1Gi", "manual", ""));
        assert_eq!(claim(&h, "intruder").spec.volume_name, None);
        apply(&mut h, &pvc_yaml("owner", "1Gi", "manual", ""));
        let owner = claim(&h, "owner");
        assert_eq!(owner.spec.volume_name.as_deref(), Some("reserved"));
        let pv = volume(&h, "reserved").unwrap();
        // Pre-bound by the user: the volume is not marked as the controller's choice.
        assert!(!pv
            .metadata
            .annotations
            .contains_key(ANN_BOUND_BY_CONTROLLER));
        assert_eq!(pv.spec.claim_ref.unwrap().uid, owner.metadata.uid);
        // A claim naming a volume gets it, and is not marked as bound by the controller.
        apply(&mut h, &pv_yaml("wanted", "5Gi", "named", ""));
        apply(
            &mut h,
            &pvc_yaml("picky", "1Gi", "named", "  volumeName: wanted\n"),
        );
        let picky = claim(&h, "picky");
        assert_eq!(picky.status.phase, Some(ClaimPhase::Bound));
        assert!(!picky
            .metadata
            .annotations
            .contains_key(ANN_BOUND_BY_CONTROLLER));
        // One naming a volume too small gets VolumeMismatch.
        apply(&mut h, &pv_yaml("tiny", "1Mi", "named", ""));
        apply(
            &mut h,
            &pvc_yaml("greedy", "1Gi", "named", "  volumeName: tiny\n"),
        );
        assert_eq!(claim(&h, "greedy").status.phase, Some(ClaimPhase::Pending));
        assert_eq!(
            events(&h, Kind::PersistentVolumeClaim, "greedy"),
            vec![(
                "VolumeMismatch".to_string(),
                "Cannot bind to requested volume \"tiny\": requested PV is too small".to_string()
            )]
        );
    }

    #[test]
    fn an_immediate_class_provisions_and_binds_at_once() {
        let mut h = harness();
        apply(&mut h, SIM_CLASS);
        apply(&mut h, &pvc_yaml("data", "3Gi", "fast", ""));
        let c = claim(&h, "data");
        let name = format!("pvc-{}", c.metadata.uid);
        assert_eq!(c.spec.volume_name.as_deref(), Some(name.as_str()));
        assert_eq!(c.status.phase, Some(ClaimPhase::Bound));
        assert_eq!(
            c.metadata
                .annotations
                .get(ANN_STORAGE_PROVISIONER)
                .map(String::as_str),
            Some(SIM_PROVISIONER)
        );
        let pv = volume(&h, &name).unwrap();
        assert_eq!(pv.status.phase, Some(Phase::Bound));
        assert_eq!(pv.storage(), Some(&"3Gi".parse().unwrap()));
        assert_eq!(
            pv.spec.persistent_volume_reclaim_policy,
            Some(PersistentVolumeReclaimPolicy::Delete)
        );
        assert_eq!(
            pv.metadata
                .annotations
                .get(ANN_DYNAMICALLY_PROVISIONED)
                .map(String::as_str),
            Some(SIM_PROVISIONER)
        );
        assert_eq!(pv.spec.node_affinity, None);
        assert_eq!(
            events(&h, Kind::PersistentVolumeClaim, "data"),
            vec![(
                "ProvisioningSucceeded".to_string(),
                format!("Successfully provisioned volume {name} using flotilla.io/sim")
            )]
        );
        // Deleting the claim deletes the volume (reclaim policy Delete).
        h.store
            .delete(
                Kind::PersistentVolumeClaim,
                "default",
                "data",
                &DeleteOptions::default(),
                h.now,
            )
            .unwrap();
        h.settle();
        assert!(volume(&h, &name).is_none());
    }

    #[test]
    fn wait_for_first_consumer_provisions_on_the_node_of_the_first_bound_pod() {
        let mut h = harness();
        apply(&mut h, WAIT_CLASS);
        apply(&mut h, "apiVersion: v1\nkind: Node\nmetadata: {name: n1, labels: {kubernetes.io/hostname: n1}}\n");
        apply(&mut h, &pvc_yaml("data", "1Gi", "local", ""));
        assert_eq!(claim(&h, "data").status.phase, Some(ClaimPhase::Pending));
        apply(&mut h, "apiVersion: v1\nkind: Pod\nmetadata: {name: db}\nspec:\n  containers: [{name: db, image: postgres}]\n  volumes: [{name: data, persistentVolumeClaim: {claimName: data}}]\n");
        assert_eq!(claim(&h, "data").status.phase, Some(ClaimPhase::Pending));
        assert_eq!(
            events(&h, Kind::PersistentVolumeClaim, "data"),
            vec![
                (
                    "WaitForFirstConsumer".to_string(),
                    "waiting for first consumer to be created before binding".to_string()
                ),
                (
                    "WaitForPodScheduled".to_string(),
                    "waiting for pod db to be scheduled".to_string()
                ),
            ]
        );
        h.bind("default", "db", "n1");
        let c = claim(&h, "data");
        assert_eq!(
            c.metadata
                .annotations
                .get(ANN_SELECTED_NODE)
                .map(String::as_str),
            Some("n1")
        );
        assert_eq!(c.status.phase, Some(ClaimPhase::Bound));
        let pv = volume(&h, c.spec.volume_name.as_deref().unwrap()).unwrap();
        let term = &pv
            .spec
            .node_affinity
            .unwrap()
            .required
            .unwrap()
            .node_selector_terms[0];
        assert_eq!(term.match_expressions[0].key, LABEL_HOSTNAME);
        assert_eq!(term.match_expressions[0].values, vec!["n1".to_string()]);
        // Retain: the claim goes, the volume stays Released with its claimRef.
        let name = pv.metadata.name.clone();
        h.store
            .delete(
                Kind::PersistentVolumeClaim,
                "default",
                "data",
                &DeleteOptions::default(),
                h.now,
            )
            .unwrap();
        h.settle();
        let pv = volume(&h, &name).unwrap();
        assert_eq!(pv.status.phase, Some(Phase::Released));
        assert!(pv.spec.claim_ref.is_some());
        // A released volume is not bound again.
        apply(&mut h, &pvc_yaml("again", "1Gi", "local", ""));
        assert_eq!(claim(&h, "again").spec.volume_name, None);
    }

    #[test]
    fn wait_for_first_consumer_prefers_a_static_volume_reachable_from_the_node() {
        let mut h = harness();
        apply(&mut h, WAIT_CLASS);
        apply(&mut h, "apiVersion: v1\nkind: Node\nmetadata: {name: n1, labels: {kubernetes.io/hostname: n1}}\n");
        let affinity = |host: &str| {
            format!("  nodeAffinity:\n    required:\n      nodeSelectorTerms:\n      - matchExpressions: [{{key: kubernetes.io/hostname, operator: In, values: [{host}]}}]\n")
        };
        apply(&mut h, &pv_yaml("on-n2", "1Gi", "local", &affinity("n2")));
        apply(&mut h, &pv_yaml("on-n1", "1Gi", "local", &affinity("n1")));
        apply(&mut h, &pvc_yaml("data", "1Gi", "local", ""));
        // Delayed binding: no static volume is chosen before a consumer is scheduled.
        assert_eq!(claim(&h, "data").spec.volume_name, None);
        apply(&mut h, "apiVersion: v1\nkind: Pod\nmetadata: {name: db}\nspec:\n  containers: [{name: db, image: postgres}]\n  volumes: [{name: data, persistentVolumeClaim: {claimName: data}}]\n");
        h.bind("default", "db", "n1");
        let c = claim(&h, "data");
        assert_eq!(c.spec.volume_name.as_deref(), Some("on-n1"));
        assert!(!c.metadata.annotations.contains_key(ANN_SELECTED_NODE));
    }

    #[test]
    fn retain_releases_and_a_static_delete_volume_fails() {
        let mut h = harness();
        apply(
            &mut h,
            &pv_yaml(
                "kept",
                "1Gi",
                "manual",
                "  persistentVolumeReclaimPolicy: Retain\n",
            ),
        );
        apply(&mut h, &pvc_yaml("a", "1Gi", "manual", ""));
        h.store
            .delete(
                Kind::PersistentVolumeClaim,
                "default",
                "a",
                &DeleteOptions::default(),
                h.now,
            )
            .unwrap();
        h.settle();
        assert_eq!(
            volume(&h, "kept").unwrap().status.phase,
            Some(Phase::Released)
        );
        apply(
            &mut h,
            &pv_yaml(
                "doomed",
                "1Gi",
                "static",
                "  persistentVolumeReclaimPolicy: Delete\n",
            ),
        );
        apply(&mut h, &pvc_yaml("b", "1Gi", "static", ""));
        h.store
            .delete(
                Kind::PersistentVolumeClaim,
                "default",
                "b",
                &DeleteOptions::default(),
                h.now,
            )
            .unwrap();
        h.settle();
        let pv = volume(&h, "doomed").unwrap();
        assert_eq!(pv.status.phase, Some(Phase::Failed));
        assert_eq!(
            events(&h, Kind::PersistentVolume, "doomed"),
            vec![("VolumeFailedDelete".to_string(), "error getting deleter volume plugin for volume \"doomed\": no deletable volume plugin matched".to_string())]
        );
    }

    #[test]
    fn an_unknown_provisioner_is_left_to_an_external_one_and_a_lost_volume_loses_the_claim() {
        let mut h = harness();
        apply(&mut h, "apiVersion: storage.k8s.io/v1\nkind: StorageClass\nmetadata: {name: ebs}\nprovisioner: ebs.csi.aws.com\n");
        apply(&mut h, &pvc_yaml("data", "1Gi", "ebs", ""));
        let c = claim(&h, "data");
        assert_eq!(c.status.phase, Some(ClaimPhase::Pending));
        assert_eq!(
            c.metadata
                .annotations
                .get(ANN_STORAGE_PROVISIONER)
                .map(String::as_str),
            Some("ebs.csi.aws.com")
        );
        let evs = events(&h, Kind::PersistentVolumeClaim, "data");
        assert_eq!(evs.len(), 1);
        assert_eq!(evs[0].0, "ExternalProvisioning");
        assert!(evs[0].1.starts_with("Waiting for a volume to be created either by the external provisioner 'ebs.csi.aws.com'"));
        // The claim binds once the volume appears; losing it makes the claim Lost.
        apply(&mut h, &pv_yaml("made", "1Gi", "ebs", ""));
        assert_eq!(claim(&h, "data").status.phase, Some(ClaimPhase::Bound));
        h.store
            .delete(
                Kind::PersistentVolume,
                "",
                "made",
                &DeleteOptions::default(),
                h.now,
            )
            .unwrap();
        h.settle();
        assert_eq!(claim(&h, "data").status.phase, Some(ClaimPhase::Lost));
        assert_eq!(
            events(&h, Kind::PersistentVolumeClaim, "data")
                .last()
                .cloned(),
            Some((
                "ClaimLost".to_string(),
                "Bound claim has lost its PersistentVolume. Data on the volume is lost!"
                    .to_string()
            ))
        );
    }

    #[test]
    fn a_claim_without_a_class_gets_the_default_class() {
        let mut h = harness();
        apply(&mut h, "apiVersion: storage.k8s.io/v1\nkind: StorageClass\nmetadata: {name: std, annotations: {storageclass.kubernetes.io/is-default-class: \"true\"}}\nprovisioner: flotilla.io/sim\n");
        apply(&mut h, "apiVersion: v1\nkind: PersistentVolumeClaim\nmetadata: {name: data}\nspec:\n  accessModes: [ReadWriteOnce]\n  resources: {requests: {storage: 1Gi}}\n");
        let c = claim(&h, "data");
        assert_eq!(c.spec.storage_class_name.as_deref(), Some("std"));
        assert_eq!(c.status.phase, Some(ClaimPhase::Bound));
        // An explicit empty class means none: no provisioning, FailedBinding.
        apply(&mut h, &pvc_yaml("none", "1Gi", "\"\"", ""));
        assert_eq!(claim(&h, "none").status.phase, Some(ClaimPhase::Pending));
        assert_eq!(
            events(&h, Kind::PersistentVolumeClaim, "none")[0].0,
            "FailedBinding"
        );
    }
}
