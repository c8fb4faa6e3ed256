//! recreate.go: the Recreate strategy.

use super::*;

/// recreate.go rolloutRecreate: scale every old ReplicaSet to zero, wait until none of their
/// pods is running, then create or scale up the new ReplicaSet.
pub(super) fn rollout_recreate(
    ctx: &mut Context<'_>,
    d: &mut Deployment,
    rs_list: &mut Vec<ReplicaSet>,
    pod_map: &BTreeMap<String, Vec<Pod>>,
) -> Result<Action, ReconcileError> {
    let (mut new_rs, mut old_rss) = get_all_replica_sets_and_sync_revision(ctx, d, rs_list, false)?;
    // scaleDownOldReplicaSetsForRecreate
    let mut scaled_down = false;
    for rs in old_rss.iter_mut().filter(|rs| rs_replicas(rs) > 0) {
        if scale_replica_set_and_record_event(ctx, rs, 0, d)? {
            scaled_down = true;
        }
    }
    if scaled_down {
        return sync_rollout_status(ctx, &old_rss, new_rs.as_ref(), d);
    }
    if old_pods_running(new_rs.as_ref(), &old_rss, pod_map) {
        return sync_rollout_status(ctx, &old_rss, new_rs.as_ref(), d);
    }
    if new_rs.is_none() {
        (new_rs, old_rss) = get_all_replica_sets_and_sync_revision(ctx, d, rs_list, true)?;
    }
    // scaleUpNewReplicaSetForRecreate
    if let Some(rs) = new_rs.as_mut() {
        scale_replica_set_and_record_event(ctx, rs, deployment_replicas(d), d)?;
    }
    if deployment_complete(d, &d.status) {
        cleanup_deployment(ctx, &old_rss, d)?;
    }
    sync_rollout_status(ctx, &old_rss, new_rs.as_ref(), d)
}

/// recreate.go oldPodsRunning: an old ReplicaSet still reports replicas, or one of its pods has
/// not finished (a pod being deleted still runs).
pub(super) fn old_pods_running(
    new_rs: Option<&ReplicaSet>,
    old_rss: &[ReplicaSet],
    pod_map: &BTreeMap<String, Vec<Pod>>,
) -> bool {
    if old_rss.iter().map(|rs| rs.status.replicas).sum::<i32>() > 0 {
        return true;
    }
    pod_map.iter().any(|(uid, pods)| {
        new_rs.is_none_or(|rs| &rs.metadata.uid != uid)
            && pods.iter().any(|pod| !is_pod_finished(pod))
    })
}
