//! The deployment controller (kube-controller-manager's `deployment-controller`,
//! `pkg/controller/deployment`, Kubernetes v1.34): it rolls a Deployment's pod template out
//! through one ReplicaSet per template, scaling the new one up and the old ones down as the
//! strategy allows (RollingUpdate with maxSurge/maxUnavailable, or Recreate), scales every
//! ReplicaSet proportionally when the Deployment is resized mid-rollout, keeps a bounded
//! revision history, and reports progress through the Deployment's status and conditions.
//!
//! It also provides what `kubectl rollout undo` and `kubectl rollout history` do on the client
//! side ([`rollback`], [`rollout_history`]), since `apps/v1` has no server-side rollback.
//!
//! The ReplicaSets do the pod work; this controller only reads their status
//! (`replicas`, `readyReplicas`, `availableReplicas`) and writes their `spec.replicas` and
//! annotations.
//!
//! The submodules follow Kubernetes' files: `sync` (sync.go), `rolling` (rolling.go), `recreate`
//! (recreate.go), `progress` (progress.go), `util` (util/deployment_util.go) and `rollback`
//! (kubectl's rollback.go and history.go); this file holds the controller itself
//! (deployment_controller.go).

use std::cmp::Ordering;
use std::collections::BTreeMap;
use std::sync::Arc;

use flotilla_model::api::{
    ConditionStatus, Deployment, DeploymentCondition, DeploymentConditionType, DeploymentStatus,
    DeploymentStrategyType, Pod, PodTemplateSpec, ReplicaSet, ReplicaSetConditionType,
    ReplicaSetSpec,
};
use flotilla_model::store::{
    DeleteOptions, ObjectKey, Store, StoreError, WatchEvent, WatchEventType,
};
use flotilla_model::{Duration, Kind, Labels, Object, ObjectMeta, Time};

use crate::controller::{
    resolve_controller_ref, Action, Context, Controller, Lookup, ReconcileError,
};
use crate::pods::{controller_ref, is_controlled_by, is_pod_finished, secs, template_hash};

mod progress;
mod recreate;
mod rollback;
mod rolling;
mod sync;
#[cfg(test)]
mod tests;
mod util;

use self::progress::*;
use self::recreate::*;
use self::rolling::*;
use self::sync::*;
use self::util::*;

pub use self::rollback::{rollback, rollout_history, RollbackError, RollbackOutcome};
pub use self::util::resolve_fenceposts;

/// The label a Deployment adds to its ReplicaSets, their selectors and pod templates, so that
/// the ReplicaSets of one Deployment never select each other's pods
/// (`apps.DefaultDeploymentUniqueLabelKey`).
pub const POD_TEMPLATE_HASH_LABEL: &str = "pod-template-hash";
/// The revision of a ReplicaSet, and of the Deployment (its new ReplicaSet's revision).
pub const REVISION_ANNOTATION: &str = "deployment.kubernetes.io/revision";
/// Earlier revisions of a ReplicaSet that became new again (a rollback), comma-separated.
pub const REVISION_HISTORY_ANNOTATION: &str = "deployment.kubernetes.io/revision-history";
/// The Deployment's `spec.replicas` when the ReplicaSet was last scaled.
pub const DESIRED_REPLICAS_ANNOTATION: &str = "deployment.kubernetes.io/desired-replicas";
/// The Deployment's `spec.replicas + maxSurge` when the ReplicaSet was last scaled.
pub const MAX_REPLICAS_ANNOTATION: &str = "deployment.kubernetes.io/max-replicas";
/// The annotation of the removed `extensions/v1beta1` rollback request.
const DEPRECATED_ROLLBACK_TO: &str = "deprecated.deployment.rollback.to";
/// What `kubectl apply` leaves on an object.
const LAST_APPLIED_CONFIGURATION: &str = "kubectl.kubernetes.io/last-applied-configuration";
/// The longest `revision-history` annotation kept (sync.go `maxRevHistoryLengthInChars`).
const MAX_REV_HISTORY_LENGTH_IN_CHARS: usize = 2000;

/// `Progressing` reason: a new ReplicaSet was created.
pub const NEW_REPLICA_SET_REASON: &str = "NewReplicaSetCreated";
/// `Progressing` reason: the new ReplicaSet existed already when progress started to be tracked.
pub const FOUND_NEW_RS_REASON: &str = "FoundNewReplicaSet";
/// `Progressing` reason: the new ReplicaSet is fully rolled out and available.
pub const NEW_RS_AVAILABLE_REASON: &str = "NewReplicaSetAvailable";
/// `Progressing` reason: the rollout made progress (pods updated, ready or available).
pub const REPLICA_SET_UPDATED_REASON: &str = "ReplicaSetUpdated";
/// `Progressing` reason: no progress within `progressDeadlineSeconds`.
pub const TIMED_OUT_REASON: &str = "ProgressDeadlineExceeded";
/// `Progressing` reason: the Deployment is paused.
pub const PAUSED_DEPLOY_REASON: &str = "DeploymentPaused";
/// `Progressing` reason: the Deployment was resumed.
pub const RESUMED_DEPLOY_REASON: &str = "DeploymentResumed";
/// `Progressing` reason and event reason: the new ReplicaSet could not be created.
pub const FAILED_RS_CREATE_REASON: &str = "ReplicaSetCreateError";
/// `Available` reason: at least `replicas - maxUnavailable` pods are available.
pub const MINIMUM_REPLICAS_AVAILABLE: &str = "MinimumReplicasAvailable";
/// `Available` reason: fewer than `replicas - maxUnavailable` pods are available.
pub const MINIMUM_REPLICAS_UNAVAILABLE: &str = "MinimumReplicasUnavailable";

/// The deployment controller. See the [module docs](self).
#[derive(Debug, Default)]
pub struct DeploymentController {}

impl DeploymentController {
    /// A deployment controller.
    pub fn new() -> DeploymentController {
        DeploymentController {}
    }
}

impl Controller for DeploymentController {
    fn name(&self) -> &'static str {
        "deployment-controller"
    }

    fn watched_kinds(&self) -> &'static [Kind] {
        &[Kind::Deployment, Kind::ReplicaSet, Kind::Pod]
    }

    fn keys_for_event(&self, event: &WatchEvent, lookup: Lookup<'_>) -> Vec<ObjectKey> {
        match &*event.object {
            Object::Deployment(d) => vec![deployment_key(&d.metadata.namespace, &d.metadata.name)],
            Object::ReplicaSet(rs) => replica_set_keys(rs, event.event_type, lookup),
            Object::Pod(pod) => pod_keys(pod, event.event_type, lookup),
            _ => Vec::new(),
        }
    }

    fn reconcile(
        &mut self,
        key: &ObjectKey,
        ctx: &mut Context<'_>,
    ) -> Result<Action, ReconcileError> {
        let Some(object) = ctx.store.get(Kind::Deployment, &key.namespace, &key.name) else {
            return Ok(Action::await_change());
        };
        let Object::Deployment(d) = &*object else {
            return Ok(Action::await_change());
        };
        sync_deployment(ctx, (**d).clone())
    }
}

fn deployment_key(namespace: &str, name: &str) -> ObjectKey {
    ObjectKey {
        kind: Kind::Deployment,
        namespace: namespace.to_string(),
        name: name.to_string(),
    }
}

/// deployment_controller.go addReplicaSet/updateReplicaSet/deleteReplicaSet: a ReplicaSet wakes
/// its controlling Deployment; an orphan wakes every Deployment of its namespace that selects it
/// (one of them may adopt it).
fn replica_set_keys(
    rs: &ReplicaSet,
    event_type: WatchEventType,
    lookup: Lookup<'_>,
) -> Vec<ObjectKey> {
    let ns = &rs.metadata.namespace;
    if let Some(owner) = rs.metadata.controller_ref() {
        // resolveControllerRef: only a Deployment of that name and uid.
        return resolve_controller_ref(lookup.store, ns, owner, Kind::Deployment)
            .map(|_| deployment_key(ns, &owner.name))
            .into_iter()
            .collect();
    }
    if event_type == WatchEventType::Deleted {
        return Vec::new();
    }
    // getDeploymentsForReplicaSet
    lookup
        .store
        .iter_namespace(Kind::Deployment, ns)
        .filter_map(|o| match &**o {
            Object::Deployment(d) if selects(d, &rs.metadata.labels) => {
                Some(deployment_key(ns, &d.metadata.name))
            }
            _ => None,
        })
        .collect()
}

/// deployment_controller.go deletePod: pods matter only to a Recreate Deployment, which waits
/// for its old pods to be gone before it scales the new ReplicaSet up. A pod that is deleted or
/// has finished wakes the Deployment that owns the pod's ReplicaSet.
fn pod_keys(pod: &Pod, event_type: WatchEventType, lookup: Lookup<'_>) -> Vec<ObjectKey> {
    if event_type != WatchEventType::Deleted && !is_pod_finished(pod) {
        return Vec::new();
    }
    let ns = &pod.metadata.namespace;
    let Some(rs) = pod
        .metadata
        .controller_ref()
        .and_then(|r| resolve_controller_ref(lookup.store, ns, r, Kind::ReplicaSet))
    else {
        return Vec::new();
    };
    let Some(d_ref) = rs.metadata().controller_ref() else {
        return Vec::new();
    };
    match lookup
        .store
        .get(Kind::Deployment, ns, &d_ref.name)
        .as_deref()
    {
        Some(Object::Deployment(d))
            if d.metadata.uid == d_ref.uid
                && d.spec.strategy.type_ == Some(DeploymentStrategyType::Recreate) =>
        {
            vec![deployment_key(ns, &d.metadata.name)]
        }
        _ => Vec::new(),
    }
}

// ---------------------------------------------------------------------------------------------
// syncDeployment (deployment_controller.go)
// ---------------------------------------------------------------------------------------------

/// deployment_controller.go syncDeployment: claim the ReplicaSets, then in order of precedence
/// status only (being deleted), paused (scale only), a scaling event (proportional scaling), or
/// a rollout step of the strategy.
fn sync_deployment(ctx: &mut Context<'_>, mut d: Deployment) -> Result<Action, ReconcileError> {
    let mut rs_list = claim_replica_sets(ctx, &d)?;
    // getPodMapForDeployment: only Recreate looks at pods, so only Recreate lists them.
    let recreate = d.spec.strategy.type_ == Some(DeploymentStrategyType::Recreate);
    let pod_map = if recreate {
        pod_map(ctx, &d, &rs_list)
    } else {
        BTreeMap::new()
    };
    if d.metadata.deletion_timestamp.is_some() {
        return sync_status_only(ctx, &mut d, &mut rs_list);
    }
    check_paused_conditions(ctx, &mut d)?;
    if d.spec.paused {
        return sync(ctx, &mut d, &mut rs_list);
    }
    if is_scaling_event(ctx, &mut d, &mut rs_list)? {
        return sync(ctx, &mut d, &mut rs_list);
    }
    if recreate {
        rollout_recreate(ctx, &mut d, &mut rs_list, &pod_map)
    } else {
        rollout_rolling(ctx, &mut d, &mut rs_list)
    }
}

/// Whether the Deployment's selector selects `labels` (a missing selector selects nothing).
fn selects(d: &Deployment, labels: &Labels) -> bool {
    d.spec.selector.as_ref().is_some_and(|s| s.matches(labels))
}

/// deployment_controller.go getReplicaSetsForDeployment (controller_ref_manager.go
/// ClaimReplicaSets): keep the owned ReplicaSets the selector still matches, release the owned
/// ones it no longer matches, adopt matching orphans (not while the Deployment is being deleted).
/// Returns the claimed ReplicaSets in name order.
fn claim_replica_sets(
    ctx: &mut Context<'_>,
    d: &Deployment,
) -> Result<Vec<ReplicaSet>, ReconcileError> {
    let uid = d.metadata.uid.clone();
    let mut claimed = Vec::new();
    for object in ctx.dependents(&uid, Kind::ReplicaSet) {
        let Object::ReplicaSet(rs) = &*object else {
            continue;
        };
        if !is_controlled_by(&rs.metadata, &uid) {
            continue;
        }
        if selects(d, &rs.metadata.labels) {
            claimed.push((**rs).clone());
            continue;
        }
        if rs.metadata.deletion_timestamp.is_some() {
            continue;
        }
        // ReleaseReplicaSet: drop our owner reference.
        let mut released = rs.clone();
        released.metadata.owner_references.retain(|r| r.uid != uid);
        match ctx.store.update(released.into(), ctx.now) {
            Ok(_) | Err(StoreError::NotFound { .. }) => {}
            Err(e) => return Err(e.into()),
        }
    }
    if d.metadata.deletion_timestamp.is_none() {
        for object in ctx.orphans(Kind::ReplicaSet, &d.metadata.namespace) {
            let Object::ReplicaSet(rs) = &*object else {
                continue;
            };
            if rs.metadata.deletion_timestamp.is_some() || !selects(d, &rs.metadata.labels) {
                continue;
            }
            // AdoptReplicaSet: add a controller reference to us.
            let mut adopted = rs.clone();
            adopted
                .metadata
                .owner_references
                .push(controller_ref(Kind::Deployment, &d.metadata));
            match ctx.store.update(adopted.into(), ctx.now) {
                Ok(stored) => {
                    if let Object::ReplicaSet(rs) = &*stored {
                        claimed.push((**rs).clone());
                    }
                }
                Err(StoreError::NotFound { .. }) => {}
                Err(e) => return Err(e.into()),
            }
        }
    }
    claimed.sort_by(|a, b| a.metadata.name.cmp(&b.metadata.name));
    Ok(claimed)
}

/// deployment_controller.go getPodMapForDeployment: the pods of each claimed ReplicaSet (by
/// uid) that the Deployment's selector matches.
fn pod_map(
    ctx: &Context<'_>,
    d: &Deployment,
    rs_list: &[ReplicaSet],
) -> BTreeMap<String, Vec<Pod>> {
    let mut map = BTreeMap::new();
    for rs in rs_list {
        let uid = &rs.metadata.uid;
        let pods: Vec<Pod> = ctx
            .dependents(uid, Kind::Pod)
            .iter()
            .filter_map(|o| match &**o {
                Object::Pod(p)
                    if is_controlled_by(&p.metadata, uid) && selects(d, &p.metadata.labels) =>
                {
                    Some(p.clone())
                }
                _ => None,
            })
            .collect();
        map.insert(uid.clone(), pods);
    }
    map
}

// ---------------------------------------------------------------------------------------------
// Store writes
// ---------------------------------------------------------------------------------------------

fn key_of(d: &Deployment) -> ObjectKey {
    deployment_key(&d.metadata.namespace, &d.metadata.name)
}

fn as_replica_set(object: &Object) -> Result<ReplicaSet, ReconcileError> {
    match object {
        Object::ReplicaSet(rs) => Ok((**rs).clone()),
        other => Err(ReconcileError::Other(format!(
            "expected a replica set, the store returned a {}",
            other.kind()
        ))),
    }
}

/// Updates the ReplicaSet's spec and metadata; returns the stored copy.
fn update_replica_set(ctx: &mut Context<'_>, rs: ReplicaSet) -> Result<ReplicaSet, ReconcileError> {
    let stored = ctx.store.update(rs.into(), ctx.now)?;
    as_replica_set(&stored)
}

/// Writes the Deployment's annotations (the revision) and status where they differ from the
/// stored object, keeping `d`'s resourceVersion current. Kubernetes writes both through the
/// status subresource, which for Deployments also takes annotations; Flotilla's status writes
/// take only the status, so annotations go through an update.
fn persist_deployment(ctx: &mut Context<'_>, d: &mut Deployment) -> Result<(), ReconcileError> {
    let stored = match ctx
        .store
        .get(Kind::Deployment, &d.metadata.namespace, &d.metadata.name)
        .as_deref()
    {
        Some(Object::Deployment(stored)) => stored.clone(),
        _ => {
            return Err(StoreError::NotFound {
                kind: Kind::Deployment,
                namespace: d.metadata.namespace.clone(),
                name: d.metadata.name.clone(),
            }
            .into())
        }
    };
    if stored.metadata.annotations != d.metadata.annotations {
        let written = ctx.store.update(d.clone().into(), ctx.now)?;
        d.metadata = written.metadata().clone();
    }
    if stored.status != d.status {
        let written = ctx.store.update_status(d.clone().into(), ctx.now)?;
        d.metadata = written.metadata().clone();
    }
    Ok(())
}
