//! Pod claiming, shared by the ReplicaSet, DaemonSet and StatefulSet controllers (Kubernetes'
//! `pkg/controller/controller_ref_manager.go`, `PodControllerRefManager.ClaimPods`): which pods
//! a workload controls, adopting matching orphans and releasing owned pods that no longer
//! match.
//!
//! The [`OwnerIndex`](crate::controller::OwnerIndex) names the owned pods and the orphans, so
//! claiming never scans the namespace's pods.

use std::sync::Arc;

use flotilla_model::api::Pod;
use flotilla_model::store::StoreError;
use flotilla_model::{Kind, Object, ObjectMeta};

use crate::controller::{Context, ReconcileError};
use crate::pods::{controller_ref, is_controlled_by};

/// A pod read from the store, shared rather than copied.
#[derive(Clone, Debug)]
pub(crate) struct PodRef(Arc<Object>);

impl PodRef {
    /// The object as a pod, or `None` if it is not one.
    pub(crate) fn new(object: Arc<Object>) -> Option<PodRef> {
        matches!(&*object, Object::Pod(_)).then_some(PodRef(object))
    }

    /// The pod.
    pub(crate) fn pod(&self) -> &Pod {
        match &*self.0 {
            Object::Pod(pod) => pod,
            _ => unreachable!("a PodRef is only made from a Pod"),
        }
    }
}

/// controller_ref_manager.go `ClaimPods` / `ClaimObject` for the workload `owner` of
/// `owner_kind`, over the pods `considered` accepts (the ReplicaSet controller considers only
/// active pods, `FilterActivePods`; the DaemonSet and StatefulSet controllers all of them):
///
/// - an owned pod that `matches` is claimed; one that does not is released (its owner
///   reference removed), unless the owner is being deleted;
/// - an orphan that `matches` and is not being deleted is adopted (`AdoptPod`: a controller
///   reference with `controller` and `blockOwnerDeletion` true), unless the owner is being
///   deleted.
///
/// Returns the claimed pods in name order. Every release and adoption is attempted; the first
/// error met is returned (as `ClaimPods` aggregates its errors). A pod that is gone needs no
/// release or adoption, nor does a pod whose release is refused as invalid (`ReleasePod`).
pub(crate) fn claim_pods(
    ctx: &mut Context<'_>,
    owner_kind: Kind,
    owner: &ObjectMeta,
    considered: &dyn Fn(&Pod) -> bool,
    matches: &dyn Fn(&Pod) -> bool,
) -> Result<Vec<PodRef>, ReconcileError> {
    let uid = &owner.uid;
    let deleting = owner.deletion_timestamp.is_some();
    let mut claimed = Vec::new();
    let mut error: Option<ReconcileError> = None;

    let owned: Vec<PodRef> = ctx
        .dependents(uid, Kind::Pod)
        .into_iter()
        .filter_map(PodRef::new)
        .filter(|p| is_controlled_by(&p.pod().metadata, uid) && considered(p.pod()))
        .collect();
    for p in owned {
        if matches(p.pod()) {
            claimed.push(p);
            continue;
        }
        // ClaimObject: owned by us but no longer selected; release it, unless we are being
        // deleted (then the garbage collector deals with it).
        if deleting {
            continue;
        }
        let mut pod = p.pod().clone();
        pod.metadata.owner_references.retain(|r| r.uid != *uid);
        match ctx.store.update(Object::Pod(pod), ctx.now) {
            // ReleasePod: a pod that is gone or cannot be patched needs no release.
            Ok(_) | Err(StoreError::NotFound { .. } | StoreError::Invalid { .. }) => {}
            Err(e) => {
                error.get_or_insert(e.into());
            }
        }
    }

    if !deleting {
        let orphans: Vec<PodRef> = ctx
            .orphans(Kind::Pod, &owner.namespace)
            .into_iter()
            .filter_map(PodRef::new)
            .filter(|p| {
                let pod = p.pod();
                considered(pod) && pod.metadata.deletion_timestamp.is_none() && matches(pod)
            })
            .collect();
        for p in orphans {
            // AdoptPod: add a controller reference (controller and blockOwnerDeletion true).
            let mut pod = p.pod().clone();
            pod.metadata
                .owner_references
                .push(controller_ref(owner_kind, owner));
            match ctx.store.update(Object::Pod(pod), ctx.now) {
                Ok(adopted) => {
                    if let Some(p) = PodRef::new(adopted) {
                        claimed.push(p);
                    }
                }
                // A pod that went away cannot be adopted; that is no error.
                Err(StoreError::NotFound { .. }) => {}
                Err(e) => {
                    error.get_or_insert(e.into());
                }
            }
        }
    }
    if let Some(e) = error {
        return Err(e);
    }
    claimed.sort_by(|a, b| a.pod().metadata.name.cmp(&b.pod().metadata.name));
    Ok(claimed)
}

/// The pods of `owner`'s namespace it controls, read from the store (not the owner index, which
/// has not yet seen the writes of the reconcile in progress), in name order.
pub(crate) fn controlled_pods(ctx: &Context<'_>, owner: &ObjectMeta) -> Vec<Pod> {
    ctx.store
        .iter_namespace(Kind::Pod, &owner.namespace)
        .filter_map(|o| match &**o {
            Object::Pod(p) if is_controlled_by(&p.metadata, &owner.uid) => Some(p.clone()),
            _ => None,
        })
        .collect()
}
