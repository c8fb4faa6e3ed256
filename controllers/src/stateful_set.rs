//! The StatefulSet controller (kube-controller-manager's `statefulset-controller`,
//! pkg/controller/statefulset, v1.34): pods with stable names `<set>-<ordinal>`, a stable
//! network identity (`hostname` = pod name, `subdomain` = the governing Service) and stable
//! storage (one PersistentVolumeClaim per volume claim template and ordinal, kept across pod
//! restarts).
//!
//! Each reconcile of a StatefulSet key (stateful_set_control.go `updateStatefulSet`):
//!
//! 1. claims the set's pods (adopting matching orphans whose name belongs to the set);
//! 2. computes the update revision from the template (and `collisionCount`) and the current
//!    revision from the status;
//! 3. splits the pods into replicas (ordinals `start .. start+replicas`) and condemned pods
//!    (any other ordinal);
//! 4. processes each replica: replaces failed or succeeded pods, creates missing ones (claims
//!    first), and with `podManagementPolicy: OrderedReady` stops at the first pod that is not
//!    yet Running, Ready and available;
//! 5. deletes condemned pods from the highest ordinal (OrderedReady: one at a time, waiting for
//!    each to terminate);
//! 6. for `RollingUpdate`, deletes the highest-ordinal pod at or above the partition that is not
//!    at the update revision, once every pod is healthy (or up to `maxUnavailable` at a time when
//!    that is set); `OnDelete` leaves pods until someone else deletes them;
//! 7. writes the status when it changed.
//!
//! Kubernetes keeps template revisions in ControllerRevisions; Flotilla has no such kind, so a
//! revision is named `<set>-<hash>` with [`template_hash`] and the controller remembers the
//! templates of the current and update revisions it has seen. If it does not know the current
//! revision's template (after a restart mid-rollout), it treats the update revision as current,
//! as Kubernetes does when the current ControllerRevision is missing.

use std::collections::BTreeMap;

use flotilla_model::api::Pod;
use flotilla_model::api::{
    PersistentVolumeClaim, PersistentVolumeClaimRetentionPolicyType,
    PersistentVolumeClaimVolumeSource, PodManagementPolicyType, PodPhase, PodTemplateSpec,
    StatefulSet, StatefulSetStatus, StatefulSetUpdateStrategyType, Volume,
};
use flotilla_model::store::{DeleteOptions, ObjectKey, StoreError, WatchEvent};
use flotilla_model::{Kind, Object, ObjectMeta, OwnerReference, Time};

use crate::claim::{claim_pods, controlled_pods};
use crate::controller::{
    get_typed, resolve_controller_ref, Action, Context, Controller, Lookup, ReconcileError,
};
use crate::pods::{available_at, is_pod_available, pod_from_template, template_hash};

/// The label with the name of a StatefulSet pod (apps/v1 `StatefulSetPodNameLabel`).
pub const POD_NAME_LABEL: &str = "statefulset.kubernetes.io/pod-name";
/// The label with the ordinal of a StatefulSet pod (apps/v1 `PodIndexLabel`).
pub const POD_INDEX_LABEL: &str = "apps.kubernetes.io/pod-index";
/// The label with the revision a pod was made from (apps/v1 `ControllerRevisionHashLabelKey`);
/// for StatefulSets its value is the revision name `<set>-<hash>`.
pub const CONTROLLER_REVISION_HASH_LABEL: &str = "controller-revision-hash";

/// The StatefulSet controller. See the [module docs](self).
#[derive(Debug, Default)]
pub struct StatefulSetController {
    /// Per set (by key, with its uid): the templates of the revisions still in use.
    history: BTreeMap<ObjectKey, (String, BTreeMap<String, PodTemplateSpec>)>,
}

impl StatefulSetController {
    /// A controller with no remembered revisions.
    pub fn new() -> StatefulSetController {
        StatefulSetController::default()
    }
}

/// `<set>-<ordinal>` (stateful_set_utils.go `getPodName`).
pub fn pod_name(set: &StatefulSet, ordinal: i32) -> String {
    format!("{}-{ordinal}", set.metadata.name)
}

/// The set name and ordinal a pod name encodes, `<parent>-<ordinal>`
/// (stateful_set_utils.go `getParentNameAndOrdinal`); `None` when it encodes none.
pub fn parent_name_and_ordinal(name: &str) -> Option<(&str, i32)> {
    let (parent, ordinal) = name.rsplit_once('-')?;
    if ordinal.is_empty() || !ordinal.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    Some((parent, ordinal.parse().ok()?))
}

/// The claim of `template` for `ordinal`: `<template>-<set>-<ordinal>`
/// (stateful_set_utils.go `getPersistentVolumeClaimName`).
pub fn claim_name(template: &PersistentVolumeClaim, set: &StatefulSet, ordinal: i32) -> String {
    format!("{}-{}-{ordinal}", template.metadata.name, set.metadata.name)
}

/// The name of the revision with `hash`: `<set>-<hash>`, the set's name cut to 223 characters
/// (controller/history `ControllerRevisionName`).
pub fn revision_name(set: &StatefulSet, hash: &str) -> String {
    let prefix: String = set.metadata.name.chars().take(223).collect();
    format!("{prefix}-{hash}")
}

/// The claims a pod of `ordinal` uses, one per volume claim template, named, namespaced and
/// labelled with the set's `matchLabels` (stateful_set_utils.go `getPersistentVolumeClaims`).
pub fn claims_for(set: &StatefulSet, ordinal: i32) -> Vec<PersistentVolumeClaim> {
    let match_labels = set
        .spec
        .selector
        .as_ref()
        .map(|s| s.match_labels.clone())
        .unwrap_or_default();
    set.spec
        .volume_claim_templates
        .iter()
        .map(|template| {
            let mut claim = template.clone();
            claim.metadata.name = claim_name(template, set, ordinal);
            claim.metadata.namespace = set.metadata.namespace.clone();
            claim.metadata.generate_name.clear();
            claim.metadata.uid.clear();
            claim.metadata.resource_version.clear();
            claim.status = Default::default();
            for (k, v) in &match_labels {
                claim.metadata.labels.insert(k.clone(), v.clone());
            }
            claim
        })
        .collect()
}

/// A new pod of `set` for `ordinal` made from `template` at `revision`
/// (stateful_set_utils.go `newStatefulSetPod`, `initIdentity`, `updateStorage`,
/// `setPodRevision`).
pub fn new_stateful_set_pod(
    set: &StatefulSet,
    template: &PodTemplateSpec,
    revision: &str,
    ordinal: i32,
) -> Pod {
    let name = pod_name(set, ordinal);
    let mut pod = pod_from_template(template, Kind::StatefulSet, &set.metadata, "", Some(name));
    update_identity(&mut pod, ordinal);
    // initIdentity: hostname and subdomain are immutable, so they are set only at creation.
    pod.spec.hostname = pod.metadata.name.clone();
    pod.spec.subdomain = set.spec.service_name.clone();
    // updateStorage: a volume per claim template, pointing at its claim, replacing a template
    // volume of the same name.
    let claims = claims_for(set, ordinal);
    let mut volumes: Vec<Volume> = set
        .spec
        .volume_claim_templates
        .iter()
        .zip(&claims)
        .map(|(template, claim)| Volume {
            name: template.metadata.name.clone(),
            persistent_volume_claim: Some(PersistentVolumeClaimVolumeSource {
                claim_name: claim.metadata.name.clone(),
                read_only: false,
            }),
            ..Default::default()
        })
        .collect();
    for volume in &pod.spec.volumes {
        if !set
            .spec
            .volume_claim_templates
            .iter()
            .any(|t| t.metadata.name == volume.name)
        {
            volumes.push(volume.clone());
        }
    }
    pod.spec.volumes = volumes;
    pod.metadata.labels.insert(
        CONTROLLER_REVISION_HASH_LABEL.to_string(),
        revision.to_string(),
    );
    pod
}

/// stateful_set_utils.go `updateIdentity`: the pod-name and pod-index labels.
fn update_identity(pod: &mut Pod, ordinal: i32) {
    let name = pod.metadata.name.clone();
    pod.metadata.labels.insert(POD_NAME_LABEL.to_string(), name);
    pod.metadata
        .labels
        .insert(POD_INDEX_LABEL.to_string(), ordinal.to_string());
}

/// stateful_set_utils.go `identityMatches`.
fn identity_matches(set: &StatefulSet, pod: &Pod) -> bool {
    let Some((parent, ordinal)) = parent_name_and_ordinal(&pod.metadata.name) else {
        return false;
    };
    parent == set.metadata.name
        && pod.metadata.namespace == set.metadata.namespace
        && pod.metadata.labels.get(POD_NAME_LABEL) == Some(&pod.metadata.name)
        && pod.metadata.labels.get(POD_INDEX_LABEL) == Some(&ordinal.to_string())
}

/// The pod's ordinal, if its name is `<set>-<ordinal>`.
fn ordinal_of(set: &StatefulSet, pod: &Pod) -> Option<i32> {
    parent_name_and_ordinal(&pod.metadata.name)
        .filter(|(parent, _)| *parent == set.metadata.name)
        .map(|(_, ordinal)| ordinal)
}

fn revision_of(pod: &Pod) -> &str {
    pod.metadata
        .labels
        .get(CONTROLLER_REVISION_HASH_LABEL)
        .map_or("", String::as_str)
}

fn is_terminating(pod: &Pod) -> bool {
    pod.metadata.deletion_timestamp.is_some()
}

/// stateful_set_utils.go `isRunningAndReady`.
fn is_running_and_ready(pod: &Pod) -> bool {
    pod.phase() == PodPhase::Running && pod.is_ready()
}

/// stateful_set_utils.go `isRunningAndAvailable`.
fn is_running_and_available(pod: &Pod, min_ready_seconds: i32, now: Time) -> bool {
    pod.phase() == PodPhase::Running && is_pod_available(pod, min_ready_seconds, now)
}

/// stateful_set_utils.go `isHealthy`: running, ready and not terminating.
fn is_healthy(pod: &Pod) -> bool {
    is_running_and_ready(pod) && !is_terminating(pod)
}

/// One slot of the ordinal range: a stored pod, or the pod to create there.
#[derive(Clone, Debug)]
enum Replica {
    Existing(Pod),
    Missing(Pod),
}

impl Replica {
    fn pod(&self) -> &Pod {
        match self {
            Replica::Existing(p) | Replica::Missing(p) => p,
        }
    }

    /// stateful_set_utils.go `isCreated`.
    fn created(&self) -> bool {
        matches!(self, Replica::Existing(_))
    }

    fn healthy(&self) -> bool {
        self.created() && is_healthy(self.pod())
    }
}

/// The retention policy with Kubernetes' defaults (`Retain`, `Retain`).
fn retention(set: &StatefulSet) -> (bool, bool) {
    let policy = set
        .spec
        .persistent_volume_claim_retention_policy
        .clone()
        .unwrap_or_default();
    let delete = Some(PersistentVolumeClaimRetentionPolicyType::Delete);
    (policy.when_deleted == delete, policy.when_scaled == delete)
}

fn set_owner_ref(claim: &mut PersistentVolumeClaim, reference: OwnerReference) -> bool {
    if claim
        .metadata
        .owner_references
        .iter()
        .any(|r| r.uid == reference.uid)
    {
        return false;
    }
    claim.metadata.owner_references.push(reference);
    true
}

fn remove_owner_ref(claim: &mut PersistentVolumeClaim, uid: &str) -> bool {
    let before = claim.metadata.owner_references.len();
    claim.metadata.owner_references.retain(|r| r.uid != uid);
    before != claim.metadata.owner_references.len()
}

/// A plain (non-controller) owner reference, as the StatefulSet controller puts on claims
/// (stateful_set_utils.go `setOwnerRef`).
fn owner_ref(kind: Kind, meta: &ObjectMeta) -> OwnerReference {
    OwnerReference {
        api_version: kind.api_version().to_string(),
        kind: kind.name().to_string(),
        name: meta.name.clone(),
        uid: meta.uid.clone(),
        controller: None,
        block_owner_deletion: None,
    }
}

/// stateful_set_utils.go `updateClaimOwnerRefForSetAndPod`: with `whenDeleted: Delete` the
/// claim is owned by the set (so it goes with it); with `whenScaled: Delete` a claim of a
/// scaled-down pod is owned by the pod (so it goes with the pod). Returns whether the claim
/// changed.
fn update_claim_owner_refs(
    claim: &mut PersistentVolumeClaim,
    set: &StatefulSet,
    pod: &Pod,
    scaled_down: bool,
) -> bool {
    let (when_deleted, when_scaled) = retention(set);
    let set_ref = owner_ref(Kind::StatefulSet, &set.metadata);
    let pod_uid = pod.metadata.uid.clone();
    let mut changed = false;
    let own_by_set = when_deleted && !(when_scaled && scaled_down);
    let own_by_pod = when_scaled && scaled_down && !pod_uid.is_empty();
    if own_by_set {
        changed |= set_owner_ref(claim, set_ref);
    } else {
        changed |= remove_owner_ref(claim, &set.metadata.uid);
    }
    if own_by_pod {
        changed |= set_owner_ref(claim, owner_ref(Kind::Pod, &pod.metadata));
    } else if !pod_uid.is_empty() {
        changed |= remove_owner_ref(claim, &pod_uid);
    }
    changed
}

/// What one sync did to the store, and when it wants to look again.
#[derive(Debug, Default)]
struct Sync {
    wrote: bool,
    requeue: Action,
}

/// The state of one reconcile of one set.
struct SetSync<'s> {
    set: &'s StatefulSet,
    key: ObjectKey,
    in_range: Box<dyn Fn(i32) -> bool + 's>,
    monotonic: bool,
    sync: Sync,
}

impl SetSync<'_> {
    /// stateful_pod_control.go `recordPodEvent`.
    fn pod_event(&self, ctx: &mut Context<'_>, verb: &str, pod: &str, error: Option<&str>) {
        let set = &self.set.metadata.name;
        match error {
            None => ctx.normal(
                &self.key,
                &format!("Successful{}", capitalize(verb)),
                format!("{verb} Pod {pod} in StatefulSet {set} successful"),
            ),
            Some(e) => ctx.warning(
                &self.key,
                &format!("Failed{}", capitalize(verb)),
                format!("{verb} Pod {pod} in StatefulSet {set} failed error: {e}"),
            ),
        }
    }

    /// stateful_pod_control.go `recordClaimEvent`.
    fn claim_event(
        &self,
        ctx: &mut Context<'_>,
        verb: &str,
        claim: &str,
        pod: &str,
        error: Option<&str>,
    ) {
        let set = &self.set.metadata.name;
        match error {
            None => ctx.normal(
                &self.key,
                &format!("Successful{}", capitalize(verb)),
                format!("{verb} Claim {claim} Pod {pod} in StatefulSet {set} success"),
            ),
            Some(e) => ctx.warning(
                &self.key,
                &format!("Failed{}", capitalize(verb)),
                format!(
                    "{verb} Claim {claim} for Pod {pod} in StatefulSet {set} failed error: {e}"
                ),
            ),
        }
    }

    /// stateful_pod_control.go `createPersistentVolumeClaims`: creates the pod's missing
    /// claims; a claim being deleted is an error (the pod must wait for it to go).
    fn create_missing_claims(
        &mut self,
        ctx: &mut Context<'_>,
        pod: &Pod,
        ordinal: i32,
    ) -> Result<(), ReconcileError> {
        let scaled_down = !(self.in_range)(ordinal);
        for mut claim in claims_for(self.set, ordinal) {
            let name = claim.metadata.name.clone();
            match get_typed::<PersistentVolumeClaim>(ctx.store, &claim.metadata.namespace, &name) {
                Some(existing) if existing.metadata.deletion_timestamp.is_some() => {
                    return Err(ReconcileError::Other(format!(
                        "pvc {name} is being deleted"
                    )));
                }
                Some(_) => {}
                None => {
                    update_claim_owner_refs(&mut claim, self.set, pod, scaled_down);
                    match ctx.store.create(claim.into(), ctx.now) {
                        Ok(_) => {
                            self.sync.wrote = true;
                            self.claim_event(ctx, "create", &name, &pod.metadata.name, None);
                        }
                        Err(StoreError::AlreadyExists { .. }) => {}
                        Err(e) => {
                            let msg = e.to_string();
                            self.claim_event(ctx, "create", &name, &pod.metadata.name, Some(&msg));
                            return Err(e.into());
                        }
                    }
                }
            }
        }
        Ok(())
    }

    /// stateful_pod_control.go `PodClaimIsStale`: with `whenScaled: Delete`, a claim still
    /// owned by an earlier pod of the same name is about to be garbage collected; the pod must
    /// not be created until it is gone.
    fn pod_claim_is_stale(&self, ctx: &Context<'_>, pod: &Pod, ordinal: i32) -> bool {
        if !retention(self.set).1 {
            return false;
        }
        claims_for(self.set, ordinal).iter().any(|claim| {
            get_typed::<PersistentVolumeClaim>(
                ctx.store,
                &claim.metadata.namespace,
                &claim.metadata.name,
            )
            .is_some_and(|c| {
                c.metadata.owner_references.iter().any(|r| {
                    r.kind == Kind::Pod.name()
                        && r.name == pod.metadata.name
                        && r.uid != pod.metadata.uid
                })
            })
        })
    }

    /// stateful_pod_control.go `UpdatePodClaimForRetentionPolicy`: brings the owner
    /// references of the pod's existing claims in line with the retention policy.
    fn fix_claims_for_retention(
        &mut self,
        ctx: &mut Context<'_>,
        pod: &Pod,
        ordinal: i32,
    ) -> Result<(), ReconcileError> {
        let scaled_down = !(self.in_range)(ordinal);
        for claim in claims_for(self.set, ordinal) {
            let Some(mut stored) = get_typed::<PersistentVolumeClaim>(
                ctx.store,
                &claim.metadata.namespace,
                &claim.metadata.name,
            ) else {
                continue;
            };
            if update_claim_owner_refs(&mut stored, self.set, pod, scaled_down) {
                ctx.store.update(stored.into(), ctx.now)?;
                self.sync.wrote = true;
            }
        }
        Ok(())
    }

    /// stateful_pod_control.go `CreateStatefulPod`: the claims first, then the pod.
    fn create_pod(
        &mut self,
        ctx: &mut Context<'_>,
        pod: &Pod,
        ordinal: i32,
    ) -> Result<(), ReconcileError> {
        if let Err(e) = self.create_missing_claims(ctx, pod, ordinal) {
            self.pod_event(ctx, "create", &pod.metadata.name, Some(&e.to_string()));
            return Err(e);
        }
        match ctx.store.create(pod.clone().into(), ctx.now) {
            Ok(_) => {
                self.sync.wrote = true;
                self.pod_event(ctx, "create", &pod.metadata.name, None);
                Ok(())
            }
            Err(e @ StoreError::AlreadyExists { .. }) => Err(e.into()),
            Err(e) => {
                self.pod_event(ctx, "create", &pod.metadata.name, Some(&e.to_string()));
                Err(e.into())
            }
        }
    }

    /// stateful_pod_control.go `DeleteStatefulPod`.
    fn delete_pod(&mut self, ctx: &mut Context<'_>, pod: &Pod) -> Result<(), ReconcileError> {
        let name = &pod.metadata.name;
        match ctx.store.delete(
            Kind::Pod,
            &pod.metadata.namespace,
            name,
            &DeleteOptions::default(),
            ctx.now,
        ) {
            Ok(_) => {
                self.sync.wrote = true;
                self.pod_event(ctx, "delete", name, None);
                Ok(())
            }
            Err(StoreError::NotFound { .. }) => Ok(()),
            Err(e) => {
                self.pod_event(ctx, "delete", name, Some(&e.to_string()));
                Err(e.into())
            }
        }
    }

    /// stateful_set_control.go `processReplica`; `Ok(true)` means "stop here" (which only
    /// stops the walk in monotonic mode).
    fn process_replica(
        &mut self,
        ctx: &mut Context<'_>,
        replica: &Replica,
        ordinal: i32,
    ) -> Result<bool, ReconcileError> {
        let min_ready = self.set.spec.min_ready_seconds;
        let pod = match replica {
            Replica::Missing(pod) => {
                if self.pod_claim_is_stale(ctx, pod, ordinal) {
                    return Ok(true);
                }
                self.create_pod(ctx, pod, ordinal)?;
                return Ok(self.monotonic);
            }
            Replica::Existing(pod) => pod,
        };
        // A finished pod (failed, or succeeded because it was stopped) is deleted; its
        // replacement is created once it is gone.
        if matches!(pod.phase(), PodPhase::Failed | PodPhase::Succeeded) {
            if !is_terminating(pod) {
                self.delete_pod(ctx, pod)?;
            }
            return Ok(true);
        }
        if pod.phase() == PodPhase::Pending {
            self.create_missing_claims(ctx, pod, ordinal)?;
        }
        if self.monotonic {
            if is_terminating(pod) || !is_running_and_ready(pod) {
                return Ok(true);
            }
            if !is_running_and_available(pod, min_ready, ctx.now) {
                if let Some(at) = available_at(pod, min_ready, ctx.now) {
                    let after = at.saturating_duration_since(ctx.now);
                    self.sync.requeue = self.sync.requeue.min(Action::requeue(after));
                }
                return Ok(true);
            }
        }
        // Enforce the identity and retention invariants (UpdateStatefulPod).
        self.fix_claims_for_retention(ctx, pod, ordinal)?;
        if !identity_matches(self.set, pod) {
            let mut fixed = pod.clone();
            update_identity(&mut fixed, ordinal);
            match ctx.store.update(fixed.into(), ctx.now) {
                Ok(_) => {
                    self.sync.wrote = true;
                }
                Err(e) => {
                    self.pod_event(ctx, "update", &pod.metadata.name, Some(&e.to_string()));
                    return Err(e.into());
                }
            }
        }
        Ok(false)
    }

    /// stateful_set_control.go `processCondemned`.
    fn process_condemned(
        &mut self,
        ctx: &mut Context<'_>,
        pod: &Pod,
        first_unhealthy: Option<&str>,
    ) -> Result<bool, ReconcileError> {
        if is_terminating(pod) {
            // Monotonic: wait for it to go before touching the next.
            return Ok(self.monotonic);
        }
        let is_first_unhealthy = first_unhealthy == Some(pod.metadata.name.as_str());
        let min_ready = self.set.spec.min_ready_seconds;
        if self.monotonic
            && !is_first_unhealthy
            && (!is_running_and_ready(pod) || !is_running_and_available(pod, min_ready, ctx.now))
        {
            return Ok(true);
        }
        self.delete_pod(ctx, pod)?;
        Ok(true)
    }
}

fn capitalize(verb: &str) -> String {
    let mut chars = verb.chars();
    match chars.next() {
        Some(c) => c.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}

impl StatefulSetController {
    /// The rolling update (stateful_set_control.go `updateStatefulSet`, last part, and
    /// `updateStatefulSetAfterInvariantEstablished` when `maxUnavailable` is set).
    fn rolling_update(
        s: &mut SetSync<'_>,
        ctx: &mut Context<'_>,
        replicas: &[Replica],
        update_revision: &str,
    ) -> Result<(), ReconcileError> {
        let set = s.set;
        let rolling = set.spec.update_strategy.rolling_update.as_ref();
        let partition = rolling
            .and_then(|r| r.partition)
            .map_or(0, |p| usize::try_from(p).unwrap_or(0));
        let needs_update = |r: &Replica| {
            r.created() && revision_of(r.pod()) != update_revision && !is_terminating(r.pod())
        };
        // Without a ControllerRevision, a pod still to be created is at the revision it will be
        // made from: that is never "needs update" here (Kubernetes also compares the label).
        if let Some(max_unavailable) = rolling.and_then(|r| r.max_unavailable.as_ref()) {
            // MaxUnavailableStatefulSet (alpha in v1.34): up to maxUnavailable pods at once,
            // rounded down but at least 1 (getStatefulSetMaxUnavailable).
            let total = i32::try_from(replicas.len()).unwrap_or(i32::MAX);
            let max = max_unavailable
                .scaled_value(total, false)
                .unwrap_or(1)
                .max(1);
            let max = usize::try_from(max).unwrap_or(1);
            let unavailable = replicas.iter().filter(|r| !r.healthy()).count();
            if unavailable >= max {
                return Ok(());
            }
            let mut budget = max - unavailable;
            for target in (partition..replicas.len()).rev() {
                if budget == 0 {
                    break;
                }
                if needs_update(&replicas[target]) {
                    s.delete_pod(ctx, replicas[target].pod())?;
                    budget -= 1;
                }
            }
            return Ok(());
        }
        // Delete the highest-ordinal pod not at the update revision; wait for unhealthy pods.
        for target in (partition..replicas.len()).rev() {
            let replica = &replicas[target];
            if needs_update(replica) {
                return s.delete_pod(ctx, replica.pod());
            }
            if !replica.healthy() {
                return Ok(());
            }
        }
        Ok(())
    }

    /// stateful_set_control.go `computeReplicaStatus` / `updateStatus` over the set's pods,
    /// then `completeRollingUpdate`.
    fn compute_status(
        set: &StatefulSet,
        pods: &[Pod],
        current_revision: &str,
        update_revision: &str,
        collision_count: i32,
        now: Time,
    ) -> StatefulSetStatus {
        let min_ready = set.spec.min_ready_seconds;
        let mut status = StatefulSetStatus {
            observed_generation: Some(set.metadata.generation),
            current_revision: current_revision.to_string(),
            update_revision: update_revision.to_string(),
            collision_count: Some(collision_count),
            conditions: set.status.conditions.clone(),
            ..Default::default()
        };
        for pod in pods {
            if ordinal_of(set, pod).is_none() {
                continue;
            }
            status.replicas += 1;
            if is_running_and_ready(pod) {
                status.ready_replicas += 1;
                if is_running_and_available(pod, min_ready, now) {
                    status.available_replicas += 1;
                }
            }
            if !is_terminating(pod) {
                if revision_of(pod) == current_revision {
                    status.current_replicas += 1;
                }
                if revision_of(pod) == update_revision {
                    status.updated_replicas += 1;
                }
            }
        }
        if set.spec.update_strategy.type_.unwrap_or_default()
            == StatefulSetUpdateStrategyType::RollingUpdate
            && status.updated_replicas == status.replicas
            && status.ready_replicas == status.replicas
        {
            status.current_replicas = status.updated_replicas;
            status.current_revision = status.update_revision.clone();
        }
        status
    }
}

impl Controller for StatefulSetController {
    fn name(&self) -> &'static str {
        "statefulset-controller"
    }

    fn watched_kinds(&self) -> &'static [Kind] {
        &[Kind::StatefulSet, Kind::Pod]
    }

    fn keys_for_event(&self, event: &WatchEvent, lookup: Lookup<'_>) -> Vec<ObjectKey> {
        match &*event.object {
            Object::StatefulSet(_) => vec![ObjectKey::of(&event.object)],
            Object::Pod(pod) => {
                let namespace = &pod.metadata.namespace;
                if let Some(r) = pod.metadata.controller_ref() {
                    // stateful_set.go resolveControllerRef.
                    return resolve_controller_ref(lookup.store, namespace, r, Kind::StatefulSet)
                        .map(|set| ObjectKey::of(&set))
                        .into_iter()
                        .collect();
                }
                // An orphan wakes the sets that select it, for adoption (getPodStatefulSets).
                lookup
                    .store
                    .iter_namespace(Kind::StatefulSet, namespace)
                    .filter(|o| match &***o {
                        Object::StatefulSet(set) => set
                            .spec
                            .selector
                            .as_ref()
                            .is_some_and(|s| !s.is_empty() && s.matches(&pod.metadata.labels)),
                        _ => false,
                    })
                    .map(|o| ObjectKey::of(o))
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
        let Some(set) = get_typed::<StatefulSet>(ctx.store, &key.namespace, &key.name) else {
            self.history.remove(key);
            return Ok(Action::await_change());
        };
        // stateful_set.go sync: a set whose selector cannot select anything does nothing.
        let Some(selector) = set.spec.selector.clone().filter(|s| !s.is_empty()) else {
            ctx.warning(
                key,
                "InvalidSelector",
                "empty selector is invalid for statefulset".to_string(),
            );
            return Ok(Action::await_change());
        };
        // isMemberOf: the selector matches and the name is `<set>-<ordinal>`. While the set is
        // being deleted every pod it controls stays claimed (none is released), so that the
        // status keeps counting them.
        let set_name = set.metadata.name.clone();
        let deleting = set.metadata.deletion_timestamp.is_some();
        let matches = |p: &Pod| {
            deleting
                || (selector.matches(&p.metadata.labels)
                    && parent_name_and_ordinal(&p.metadata.name)
                        .is_some_and(|(n, _)| n == set_name))
        };
        let pods: Vec<Pod> =
            claim_pods(ctx, Kind::StatefulSet, &set.metadata, &|_| true, &matches)?
                .iter()
                .map(|p| p.pod().clone())
                .collect();

        // Revisions (performUpdate, getStatefulSetRevisions).
        let collision_count = set.status.collision_count.unwrap_or(0);
        let update_revision = revision_name(
            &set,
            &template_hash(&set.spec.template, Some(collision_count)),
        );
        let history = self
            .history
            .entry(key.clone())
            .or_insert_with(|| (set.metadata.uid.clone(), BTreeMap::new()));
        if history.0 != set.metadata.uid {
            *history = (set.metadata.uid.clone(), BTreeMap::new());
        }
        history
            .1
            .insert(update_revision.clone(), set.spec.template.clone());
        let current_revision = match &set.status.current_revision {
            r if !r.is_empty() && history.1.contains_key(r) => r.clone(),
            _ => update_revision.clone(),
        };
        let current_template = history.1[&current_revision].clone();

        let start = set.start_ordinal();
        let replica_count = set.spec.replicas.unwrap_or(1).max(0);
        let end = start.saturating_add(replica_count);
        let in_range = move |ordinal: i32| ordinal >= start && ordinal < end;
        let rolling_type = set.spec.update_strategy.type_.unwrap_or_default()
            == StatefulSetUpdateStrategyType::RollingUpdate;
        let partition = set
            .spec
            .update_strategy
            .rolling_update
            .as_ref()
            .map(|r| r.partition.unwrap_or(0));

        // Partition the pods into replicas and condemned.
        let mut existing: BTreeMap<i32, Pod> = BTreeMap::new();
        let mut condemned: Vec<(i32, Pod)> = Vec::new();
        for pod in &pods {
            let Some(ordinal) = ordinal_of(&set, pod) else {
                continue;
            };
            if in_range(ordinal) {
                existing.insert(ordinal, pod.clone());
            } else {
                condemned.push((ordinal, pod.clone()));
            }
        }
        condemned.sort_by_key(|c| std::cmp::Reverse(c.0));
        let replicas: Vec<Replica> = (start..end)
            .map(|ordinal| match existing.remove(&ordinal) {
                Some(pod) => Replica::Existing(pod),
                None => {
                    // newVersionedStatefulSetPod: below the partition (or, without a rolling
                    // update config, below currentReplicas) pods are made at the current
                    // revision.
                    let at_current = rolling_type
                        && match partition {
                            Some(p) => ordinal < start.saturating_add(p),
                            None => ordinal - start < set.status.current_replicas,
                        };
                    let pod = if at_current {
                        new_stateful_set_pod(&set, &current_template, &current_revision, ordinal)
                    } else {
                        new_stateful_set_pod(&set, &set.spec.template, &update_revision, ordinal)
                    };
                    Replica::Missing(pod)
                }
            })
            .collect();
        // The first unhealthy pod: the lowest-ordinal replica, else the lowest condemned one.
        let first_unhealthy = replicas
            .iter()
            .find(|r| !r.healthy())
            .map(|r| r.pod().metadata.name.clone())
            .or_else(|| {
                condemned
                    .iter()
                    .rev()
                    .find(|(_, p)| !is_healthy(p))
                    .map(|(_, p)| p.metadata.name.clone())
            });

        let monotonic =
            set.spec.pod_management_policy.unwrap_or_default() != PodManagementPolicyType::Parallel;
        let mut s = SetSync {
            set: &set,
            key: key.clone(),
            in_range: Box::new(in_range),
            monotonic,
            sync: Sync::default(),
        };
        if set.metadata.deletion_timestamp.is_none() {
            Self::manage(
                &mut s,
                ctx,
                &replicas,
                &condemned,
                first_unhealthy.as_deref(),
                &update_revision,
            )?;
        }
        let Sync { wrote, requeue } = s.sync;

        // Status, counted from the pods as they are now (the owner index has not seen this
        // sync's writes yet, so read them from the store).
        let pods = if wrote {
            controlled_pods(ctx, &set.metadata)
        } else {
            pods
        };
        let status = Self::compute_status(
            &set,
            &pods,
            &current_revision,
            &update_revision,
            collision_count,
            ctx.now,
        );
        let mut action = requeue;
        for pod in &pods {
            if let Some(at) = available_at(pod, set.spec.min_ready_seconds, ctx.now) {
                action = action.min(Action::requeue(at.saturating_duration_since(ctx.now)));
            }
        }
        // Keep the templates of the revisions still in use.
        if let Some((_, templates)) = self.history.get_mut(key) {
            templates.retain(|r, _| *r == status.current_revision || *r == update_revision);
        }
        if status != set.status {
            let mut fresh = set.clone();
            fresh.status = status;
            ctx.store.update_status(fresh.into(), ctx.now)?;
        }
        Ok(action)
    }
}

impl StatefulSetController {
    /// Steps 4–6 of the [module docs](self): replicas, condemned pods, update strategy.
    fn manage(
        s: &mut SetSync<'_>,
        ctx: &mut Context<'_>,
        replicas: &[Replica],
        condemned: &[(i32, Pod)],
        first_unhealthy: Option<&str>,
        update_revision: &str,
    ) -> Result<(), ReconcileError> {
        let start = s.set.start_ordinal();
        // runForAll: in monotonic mode stop at the first replica that says so; in burst mode
        // process all (Kubernetes' slow-start batches stop at the first failure).
        for (i, replica) in replicas.iter().enumerate() {
            let ordinal = start.saturating_add(i32::try_from(i).unwrap_or(i32::MAX));
            if s.process_replica(ctx, replica, ordinal)? && s.monotonic {
                return Ok(());
            }
        }
        // Claims of condemned pods follow the retention policy before the pods go.
        for (ordinal, pod) in condemned {
            s.fix_claims_for_retention(ctx, pod, *ordinal)?;
        }
        // Condemned pods, highest ordinal first.
        for (_, pod) in condemned {
            if s.process_condemned(ctx, pod, first_unhealthy)? && s.monotonic {
                return Ok(());
            }
        }
        if s.set.spec.update_strategy.type_.unwrap_or_default()
            == StatefulSetUpdateStrategyType::OnDelete
        {
            return Ok(());
        }
        Self::rolling_update(s, ctx, replicas, update_revision)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::Harness;
    use serde_json::json;

    const NS: &str = "default";

    fn harness() -> Harness {
        Harness::new(vec![Box::new(StatefulSetController::new())])
    }

    fn web(replicas: i32, extra: serde_json::Value) -> StatefulSet {
        let mut value = json!({
            "metadata": {"name": "web", "namespace": NS},
            "spec": {
                "replicas": replicas,
                "serviceName": "nginx",
                "selector": {"matchLabels": {"app": "nginx"}},
                "template": {
                    "metadata": {"labels": {"app": "nginx"}},
                    "spec": {"containers": [{"name": "nginx", "image": "nginx:1.27"}]}
                },
                "volumeClaimTemplates": [{
                    "metadata": {"name": "www"},
                    "spec": {
                        "accessModes": ["ReadWriteOnce"],
                        "resources": {"requests": {"storage": "1Gi"}}
                    }
                }]
            }
        });
        if let (Some(spec), Some(extra)) = (value["spec"].as_object_mut(), extra.as_object()) {
            for (k, v) in extra {
                spec.insert(k.clone(), v.clone());
            }
        }
        serde_json::from_value(value).unwrap()
    }

    fn stored(h: &Harness) -> StatefulSet {
        h.stored(NS, "web")
    }

    fn claim(h: &Harness, name: &str) -> Option<PersistentVolumeClaim> {
        h.get(NS, name)
    }

    fn names(h: &Harness) -> Vec<String> {
        h.pods(NS).iter().map(|p| p.metadata.name.clone()).collect()
    }

    fn terminating(h: &Harness) -> Vec<String> {
        h.pods(NS)
            .iter()
            .filter(|p| p.metadata.deletion_timestamp.is_some())
            .map(|p| p.metadata.name.clone())
            .collect()
    }

    /// Makes pods ready until the set stops creating new ones.
    fn make_all_ready(h: &mut Harness) {
        loop {
            let before = h.pods(NS).len();
            h.make_pods_ready(NS, "n1");
            let pods = h.pods(NS);
            if pods.len() == before && pods.iter().all(|p| p.is_ready()) {
                return;
            }
        }
    }

    fn image(h: &Harness, pod: &str) -> String {
        h.pod(NS, pod).unwrap().spec.containers[0].image.clone()
    }

    fn events(h: &Harness, reason: &str) -> Vec<String> {
        h.recorder
            .events()
            .filter(|e| e.reason == reason)
            .map(|e| e.message.clone())
            .collect()
    }

    #[test]
    fn ordered_ready_creates_web_0_then_web_1_only_after_web_0_is_ready() {
        let mut h = harness();
        h.apply(web(3, json!({}))).unwrap();
        assert_eq!(names(&h), ["web-0"]);
        let pod = h.pod(NS, "web-0").unwrap();
        assert_eq!(pod.spec.hostname, "web-0");
        assert_eq!(pod.spec.subdomain, "nginx");
        assert_eq!(pod.metadata.labels[POD_NAME_LABEL], "web-0");
        assert_eq!(pod.metadata.labels[POD_INDEX_LABEL], "0");
        let set = stored(&h);
        let revision = format!("web-{}", template_hash(&set.spec.template, Some(0)));
        assert_eq!(
            pod.metadata.labels[CONTROLLER_REVISION_HASH_LABEL],
            revision
        );
        let volume = pod.spec.volumes.iter().find(|v| v.name == "www").unwrap();
        assert_eq!(
            volume.persistent_volume_claim.as_ref().unwrap().claim_name,
            "www-web-0"
        );
        let claim = claim(&h, "www-web-0").unwrap();
        assert_eq!(claim.metadata.labels["app"], "nginx");
        assert_eq!(
            events(&h, "SuccessfulCreate"),
            [
                "create Claim www-web-0 Pod web-0 in StatefulSet web success",
                "create Pod web-0 in StatefulSet web successful"
            ]
        );

        // Bound and running but not ready: still no web-1.
        h.bind(NS, "web-0", "n1");
        h.set_pod_status(NS, "web-0", PodPhase::Running, false);
        assert_eq!(names(&h), ["web-0"]);
        h.set_pod_status(NS, "web-0", PodPhase::Running, true);
        assert_eq!(names(&h), ["web-0", "web-1"]);
        h.make_pods_ready(NS, "n1");
        assert_eq!(names(&h), ["web-0", "web-1", "web-2"]);
        make_all_ready(&mut h);
        let status = stored(&h).status;
        assert_eq!(status.replicas, 3);
        assert_eq!(status.ready_replicas, 3);
        assert_eq!(status.available_replicas, 3);
        assert_eq!(status.current_replicas, 3);
        assert_eq!(status.updated_replicas, 3);
        assert_eq!(status.current_revision, revision);
        assert_eq!(status.update_revision, revision);
        assert_eq!(status.observed_generation, Some(1));
        assert_eq!(status.collision_count, Some(0));
    }

    #[test]
    fn min_ready_seconds_holds_the_next_ordinal_until_available() {
        let mut h = harness();
        h.apply(web(2, json!({"minReadySeconds": 10}))).unwrap();
        h.make_pods_ready(NS, "n1");
        assert_eq!(names(&h), ["web-0"]);
        assert_eq!(stored(&h).status.available_replicas, 0);
        assert!(h.advance_to_next_wakeup(crate::pods::secs(10)));
        assert_eq!(names(&h), ["web-0", "web-1"]);
        assert_eq!(stored(&h).status.available_replicas, 1);
    }

    #[test]
    fn scale_down_removes_the_highest_ordinal_first_and_waits_for_it() {
        let mut h = harness();
        h.apply(web(3, json!({}))).unwrap();
        make_all_ready(&mut h);
        let mut set = stored(&h);
        set.spec.replicas = Some(1);
        h.apply(set).unwrap();
        assert_eq!(terminating(&h), ["web-2"]);
        h.settle();
        assert_eq!(terminating(&h), ["web-2"], "web-1 waits for web-2 to go");
        h.finish_deletion(NS, "web-2");
        assert_eq!(terminating(&h), ["web-1"]);
        h.finish_deletion(NS, "web-1");
        assert_eq!(names(&h), ["web-0"]);
        assert!(terminating(&h).is_empty());
        assert_eq!(
            events(&h, "SuccessfulDelete"),
            [
                "delete Pod web-2 in StatefulSet web successful",
                "delete Pod web-1 in StatefulSet web successful"
            ]
        );
        // whenScaled defaults to Retain: the claims stay.
        for name in ["www-web-0", "www-web-1", "www-web-2"] {
            assert!(claim(&h, name).is_some(), "{name}");
        }
        assert_eq!(stored(&h).status.replicas, 1);
    }

    #[test]
    fn parallel_creates_and_deletes_all_without_waiting() {
        let mut h = harness();
        h.apply(web(3, json!({"podManagementPolicy": "Parallel"})))
            .unwrap();
        assert_eq!(names(&h), ["web-0", "web-1", "web-2"]);
        for p in ["web-0", "web-1", "web-2"] {
            h.bind(NS, p, "n1");
        }
        let mut set = stored(&h);
        set.spec.replicas = Some(0);
        h.apply(set).unwrap();
        assert_eq!(terminating(&h), ["web-0", "web-1", "web-2"]);
    }

    #[test]
    fn claims_keep_their_names_and_a_deleted_pod_comes_back_with_the_same_name() {
        let mut h = harness();
        h.apply(web(2, json!({}))).unwrap();
        make_all_ready(&mut h);
        let old_pod = h.pod(NS, "web-1").unwrap();
        let old_claim = claim(&h, "www-web-1").unwrap();

        h.store
            .delete(Kind::Pod, NS, "web-1", &DeleteOptions::default(), h.now)
            .unwrap();
        h.settle();
        assert_eq!(
            terminating(&h),
            ["web-1"],
            "no replacement while it terminates"
        );
        h.finish_deletion(NS, "web-1");
        let new_pod = h.pod(NS, "web-1").unwrap();
        assert_ne!(new_pod.metadata.uid, old_pod.metadata.uid);
        assert_eq!(new_pod.spec.hostname, "web-1");
        let new_claim = claim(&h, "www-web-1").unwrap();
        assert_eq!(
            new_claim.metadata.uid, old_claim.metadata.uid,
            "the claim survived"
        );
        let volume = new_pod
            .spec
            .volumes
            .iter()
            .find(|v| v.name == "www")
            .unwrap();
        assert_eq!(
            volume.persistent_volume_claim.as_ref().unwrap().claim_name,
            "www-web-1"
        );
    }

    #[test]
    fn a_failed_pod_is_deleted_and_recreated() {
        let mut h = harness();
        h.apply(web(2, json!({}))).unwrap();
        make_all_ready(&mut h);
        let uid = h.pod(NS, "web-0").unwrap().metadata.uid;
        h.set_pod_status(NS, "web-0", PodPhase::Failed, false);
        let pod = h.pod(NS, "web-0").unwrap();
        assert_ne!(pod.metadata.uid, uid);
        assert!(pod.spec.node_name.is_empty());
        assert_eq!(names(&h), ["web-0", "web-1"]);
    }

    #[test]
    fn a_rolling_update_with_partition_1_updates_web_2_then_web_1_only() {
        let mut h = harness();
        h.apply(web(
            3,
            json!({"updateStrategy": {"type": "RollingUpdate", "rollingUpdate": {"partition": 1}}}),
        ))
        .unwrap();
        make_all_ready(&mut h);
        let old_revision = stored(&h).status.current_revision;

        let mut set = stored(&h);
        set.spec.template.spec.containers[0].image = "nginx:1.28".into();
        h.apply(set).unwrap();
        let status = stored(&h).status;
        assert_eq!(status.current_revision, old_revision);
        assert_ne!(status.update_revision, old_revision);
        let new_revision = status.update_revision;

        assert_eq!(terminating(&h), ["web-2"]);
        h.finish_deletion(NS, "web-2");
        assert_eq!(image(&h, "web-2"), "nginx:1.28");
        assert_eq!(
            h.pod(NS, "web-2").unwrap().metadata.labels[CONTROLLER_REVISION_HASH_LABEL],
            new_revision
        );
        assert!(
            terminating(&h).is_empty(),
            "web-1 waits for web-2 to be ready"
        );
        make_all_ready(&mut h);
        assert_eq!(terminating(&h), ["web-1"]);
        h.finish_deletion(NS, "web-1");
        make_all_ready(&mut h);
        assert!(terminating(&h).is_empty());
        assert_eq!(image(&h, "web-0"), "nginx:1.27");
        assert_eq!(image(&h, "web-1"), "nginx:1.28");
        let status = stored(&h).status;
        assert_eq!(status.updated_replicas, 2);
        assert_eq!(status.current_replicas, 1);
        assert_eq!(status.current_revision, old_revision);

        // Below the partition a deleted pod comes back at the current revision.
        h.store
            .delete(Kind::Pod, NS, "web-0", &DeleteOptions::default(), h.now)
            .unwrap();
        h.finish_deletion(NS, "web-0");
        assert_eq!(image(&h, "web-0"), "nginx:1.27");

        // Partition 0 finishes the rollout, and the update revision becomes current.
        let mut set = stored(&h);
        set.spec
            .update_strategy
            .rolling_update
            .as_mut()
            .unwrap()
            .partition = Some(0);
        h.apply(set).unwrap();
        make_all_ready(&mut h);
        assert_eq!(terminating(&h), ["web-0"]);
        h.finish_deletion(NS, "web-0");
        make_all_ready(&mut h);
        assert_eq!(image(&h, "web-0"), "nginx:1.28");
        let status = stored(&h).status;
        assert_eq!(status.current_revision, new_revision);
        assert_eq!(status.current_replicas, 3);
    }

    #[test]
    fn on_delete_updates_a_pod_only_when_it_is_deleted() {
        let mut h = harness();
        h.apply(web(2, json!({"updateStrategy": {"type": "OnDelete"}})))
            .unwrap();
        make_all_ready(&mut h);
        let mut set = stored(&h);
        set.spec.template.spec.containers[0].image = "nginx:1.28".into();
        h.apply(set).unwrap();
        assert!(terminating(&h).is_empty());
        h.store
            .delete(Kind::Pod, NS, "web-1", &DeleteOptions::default(), h.now)
            .unwrap();
        h.finish_deletion(NS, "web-1");
        assert_eq!(image(&h, "web-0"), "nginx:1.27");
        assert_eq!(image(&h, "web-1"), "nginx:1.28");
    }

    #[test]
    fn max_unavailable_deletes_several_pods_at_once() {
        let mut h = harness();
        h.apply(web(
            4,
            json!({"updateStrategy": {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 2}}}),
        ))
        .unwrap();
        make_all_ready(&mut h);
        let mut set = stored(&h);
        set.spec.template.spec.containers[0].image = "nginx:1.28".into();
        h.apply(set).unwrap();
        assert_eq!(terminating(&h), ["web-2", "web-3"]);
    }

    #[test]
    fn retention_policy_delete_sets_owner_references_on_claims() {
        let mut h = harness();
        h.apply(web(
            2,
            json!({"persistentVolumeClaimRetentionPolicy": {"whenDeleted": "Delete", "whenScaled": "Delete"}}),
        ))
        .unwrap();
        make_all_ready(&mut h);
        let set = stored(&h);
        let refs = claim(&h, "www-web-1").unwrap().metadata.owner_references;
        assert_eq!(refs.len(), 1);
        assert_eq!(
            (refs[0].kind.as_str(), refs[0].uid.as_str()),
            ("StatefulSet", set.metadata.uid.as_str())
        );

        // Scaled down: the condemned pod's claim is handed to the pod, so it goes with it.
        let pod_uid = h.pod(NS, "web-1").unwrap().metadata.uid;
        let mut set = stored(&h);
        set.spec.replicas = Some(1);
        h.apply(set).unwrap();
        let refs = claim(&h, "www-web-1").unwrap().metadata.owner_references;
        assert_eq!(refs.len(), 1);
        assert_eq!(
            (refs[0].kind.as_str(), refs[0].uid.as_str()),
            ("Pod", pod_uid.as_str())
        );
        assert_eq!(terminating(&h), ["web-1"]);
    }

    #[test]
    fn ordinals_start_names_the_first_pod() {
        let mut h = harness();
        h.apply(web(2, json!({"ordinals": {"start": 5}}))).unwrap();
        make_all_ready(&mut h);
        assert_eq!(names(&h), ["web-5", "web-6"]);
        assert_eq!(
            h.pod(NS, "web-6").unwrap().metadata.labels[POD_INDEX_LABEL],
            "6"
        );
        assert!(claim(&h, "www-web-5").is_some());
    }

    #[test]
    fn an_orphan_with_a_member_name_is_adopted() {
        let mut h = harness();
        h.apply(web(1, json!({}))).unwrap();
        make_all_ready(&mut h);
        let mut set = stored(&h);
        set.spec.replicas = Some(0);
        h.apply(set).unwrap();
        h.finish_all_deletions(NS);
        assert!(h.pods(NS).is_empty());

        let mut orphan = Pod {
            metadata: ObjectMeta::named(NS, "web-3"),
            spec: stored(&h).spec.template.spec.into(),
            ..Default::default()
        };
        orphan.metadata.labels.insert("app".into(), "nginx".into());
        h.apply(orphan).unwrap();
        let pod = h.pod(NS, "web-3");
        // Adopted, and as ordinal 3 is out of range, deleted (unbound: at once).
        assert!(pod.is_none());
        assert!(events(&h, "SuccessfulDelete")
            .contains(&"delete Pod web-3 in StatefulSet web successful".to_string()));
    }

    #[test]
    fn pod_names_parse_into_parent_and_ordinal() {
        assert_eq!(parent_name_and_ordinal("web-12"), Some(("web", 12)));
        assert_eq!(parent_name_and_ordinal("my-db-0"), Some(("my-db", 0)));
        assert_eq!(parent_name_and_ordinal("web-"), None);
        assert_eq!(parent_name_and_ordinal("web-a1"), None);
        assert_eq!(parent_name_and_ordinal("web"), None);
    }
}
