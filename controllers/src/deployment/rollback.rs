//! `kubectl rollout undo` and `kubectl rollout history` (kubectl/pkg/polymorphichelpers
//! rollback.go, history.go), which `apps/v1` leaves to the client.

use super::*;

/// What [`rollback`] did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RollbackOutcome {
    /// The Deployment's template was set to that of this revision.
    RolledBack {
        /// The revision rolled back to.
        revision: i64,
    },
    /// The Deployment's template already was that of this revision; nothing was written.
    Skipped {
        /// The revision asked for (or found as the previous one).
        revision: i64,
    },
}

impl std::fmt::Display for RollbackOutcome {
    /// kubectl's words: `rolled back`, or `skipped rollback (current template already matches
    /// revision 2)`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            RollbackOutcome::RolledBack { .. } => f.write_str("rolled back"),
            RollbackOutcome::Skipped { revision } => write!(
                f,
                "skipped rollback (current template already matches revision {revision})"
            ),
        }
    }
}

/// Why [`rollback`] refused or failed, in kubectl's words.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum RollbackError {
    /// The Deployment could not be read.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A paused Deployment is not rolled back.
    #[error("you cannot rollback a paused deployment; resume it first with 'kubectl rollout resume' and try again")]
    Paused,
    /// No ReplicaSet of the Deployment has that revision.
    #[error("unable to find specified revision {0} in history")]
    RevisionNotFound(i64),
    /// Undo to the previous revision, but there is none.
    #[error("no rollout history found for deployment {0:?}")]
    NoHistory(String),
    /// Writing the restored template failed.
    #[error("failed restoring revision {revision}: {source}")]
    Restore {
        /// The revision being restored.
        revision: i64,
        /// The store's refusal.
        #[source]
        source: StoreError,
    },
}

pub(super) fn get_deployment(
    store: &Store,
    namespace: &str,
    name: &str,
) -> Result<Deployment, StoreError> {
    match store.get(Kind::Deployment, namespace, name).as_deref() {
        Some(Object::Deployment(d)) => Ok((**d).clone()),
        _ => Err(StoreError::NotFound {
            kind: Kind::Deployment,
            namespace: namespace.to_string(),
            name: name.to_string(),
        }),
    }
}

/// The ReplicaSets the Deployment controls and its selector matches, in name order (kubectl's
/// deploymentutil.GetAllReplicaSets).
pub(super) fn owned_replica_sets(store: &Store, d: &Deployment) -> Vec<ReplicaSet> {
    store
        .iter_namespace(Kind::ReplicaSet, &d.metadata.namespace)
        .filter_map(|o| match &**o {
            Object::ReplicaSet(rs)
                if is_controlled_by(&rs.metadata, &d.metadata.uid)
                    && selects(d, &rs.metadata.labels) =>
            {
                Some((**rs).clone())
            }
            _ => None,
        })
        .collect()
}

/// `kubectl rollout undo deployment/<name> [--to-revision=N]` (rollback.go
/// DeploymentRollbacker.Rollback): copies the template of revision `to_revision` (`None` or 0:
/// the revision before the latest) into the Deployment without its `pod-template-hash` label,
/// and the ReplicaSet's annotations (but the controller's own) as the Deployment's annotations,
/// as kubectl's JSON patch does. The deployment controller then rolls it out, reusing that
/// revision's ReplicaSet under a new revision number.
pub fn rollback(
    store: &mut Store,
    namespace: &str,
    name: &str,
    to_revision: Option<i64>,
    now: Time,
) -> Result<RollbackOutcome, RollbackError> {
    let d = get_deployment(store, namespace, name)?;
    if d.spec.paused {
        return Err(RollbackError::Paused);
    }
    let to_revision = to_revision.unwrap_or(0);
    // rollback.go deploymentRevision
    let mut latest: Option<(i64, ReplicaSet)> = None;
    let mut previous: Option<(i64, ReplicaSet)> = None;
    let mut found = None;
    for rs in owned_replica_sets(store, &d) {
        let Some(v) = revision(&rs) else {
            continue;
        };
        if to_revision == 0 {
            let latest_revision = latest.as_ref().map_or(-1, |(r, _)| *r);
            let previous_revision = previous.as_ref().map_or(-1, |(r, _)| *r);
            if latest_revision < v {
                previous = latest.take();
                latest = Some((v, rs));
            } else if previous_revision < v {
                previous = Some((v, rs));
            }
        } else if to_revision == v {
            found = Some((v, rs));
            break;
        }
    }
    let (revision, rs) = match found {
        Some(found) => found,
        None if to_revision > 0 => return Err(RollbackError::RevisionNotFound(to_revision)),
        None => previous.ok_or_else(|| RollbackError::NoHistory(name.to_string()))?,
    };
    if equal_ignore_hash(&rs.spec.template, &d.spec.template) {
        return Ok(RollbackOutcome::Skipped { revision });
    }
    let mut template = rs.spec.template.clone();
    template.metadata.labels.remove(POD_TEMPLATE_HASH_LABEL);
    let mut annotations: Labels = d
        .metadata
        .annotations
        .iter()
        .filter(|(k, _)| skip_copy_annotation(k))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    for (k, v) in &rs.metadata.annotations {
        if !skip_copy_annotation(k) {
            annotations.insert(k.clone(), v.clone());
        }
    }
    let mut restored = d;
    restored.spec.template = template;
    restored.metadata.annotations = annotations.into();
    // kubectl's JSON patch carries no resourceVersion: an unconditional write.
    restored.metadata.resource_version.clear();
    store
        .update(restored.into(), now)
        .map_err(|source| RollbackError::Restore { revision, source })?;
    Ok(RollbackOutcome::RolledBack { revision })
}

/// `kubectl rollout history deployment/<name>` (history.go DeploymentHistoryViewer): each
/// revision of the Deployment's ReplicaSets with its ReplicaSet, oldest revision first. A
/// Deployment that does not exist has no history.
pub fn rollout_history(store: &Store, namespace: &str, name: &str) -> Vec<(i64, Arc<ReplicaSet>)> {
    let Ok(d) = get_deployment(store, namespace, name) else {
        return Vec::new();
    };
    let mut history = BTreeMap::new();
    for rs in owned_replica_sets(store, &d) {
        if let Some(v) = revision(&rs) {
            history.insert(v, Arc::new(rs));
        }
    }
    history.into_iter().collect()
}
