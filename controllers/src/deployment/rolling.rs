//! rolling.go: the RollingUpdate strategy.

use super::*;

/// rolling.go rolloutRolling: scale the new ReplicaSet up as far as maxSurge allows, else scale
/// old ones down as far as maxUnavailable allows, else (complete) clean up old revisions.
pub(super) fn rollout_rolling(
    ctx: &mut Context<'_>,
    d: &mut Deployment,
    rs_list: &mut Vec<ReplicaSet>,
) -> Result<Action, ReconcileError> {
    let (new_rs, mut old_rss) = get_all_replica_sets_and_sync_revision(ctx, d, rs_list, true)?;
    let Some(mut new_rs) = new_rs else {
        return Ok(Action::await_change());
    };
    if reconcile_new_replica_set(ctx, &old_rss, &mut new_rs, d)? {
        return sync_rollout_status(ctx, &old_rss, Some(&new_rs), d);
    }
    if reconcile_old_replica_sets(ctx, &mut old_rss, &new_rs, d)? {
        return sync_rollout_status(ctx, &old_rss, Some(&new_rs), d);
    }
    if deployment_complete(d, &d.status) {
        cleanup_deployment(ctx, &old_rss, d)?;
    }
    sync_rollout_status(ctx, &old_rss, Some(&new_rs), d)
}

/// rolling.go reconcileNewReplicaSet.
pub(super) fn reconcile_new_replica_set(
    ctx: &mut Context<'_>,
    old_rss: &[ReplicaSet],
    new_rs: &mut ReplicaSet,
    d: &Deployment,
) -> Result<bool, ReconcileError> {
    let desired = deployment_replicas(d);
    let current = rs_replicas(new_rs);
    if current == desired {
        return Ok(false);
    }
    if current > desired {
        return scale_replica_set_and_record_event(ctx, new_rs, desired, d);
    }
    let count = new_rs_new_replicas(d, replica_count(old_rss), new_rs);
    scale_replica_set_and_record_event(ctx, new_rs, count, d)
}

/// rolling.go reconcileOldReplicaSets: how far the old ReplicaSets may shrink without going
/// below `replicas - maxUnavailable` available pods (counting the new ReplicaSet's unavailable
/// pods as unavailable); unhealthy old pods go first.
pub(super) fn reconcile_old_replica_sets(
    ctx: &mut Context<'_>,
    old_rss: &mut [ReplicaSet],
    new_rs: &ReplicaSet,
    d: &Deployment,
) -> Result<bool, ReconcileError> {
    let old_pods = replica_count(old_rss);
    if old_pods == 0 {
        return Ok(false);
    }
    let all_pods = old_pods + rs_replicas(new_rs);
    let min_available = deployment_replicas(d) - max_unavailable(d);
    let new_rs_unavailable = rs_replicas(new_rs) - new_rs.status.available_replicas;
    let max_scaled_down = all_pods - min_available - new_rs_unavailable;
    if max_scaled_down <= 0 {
        return Ok(false);
    }
    let cleaned = cleanup_unhealthy_replicas(ctx, old_rss, d, max_scaled_down)?;
    let scaled_down = scale_down_old_replica_sets_for_rolling_update(ctx, old_rss, new_rs, d)?;
    Ok(cleaned + scaled_down > 0)
}

/// Old ReplicaSet indices with replicas, oldest first (controller_utils.go
/// ReplicaSetsByCreationTimestamp over FilterActiveReplicaSets).
pub(super) fn active_oldest_first(old_rss: &[ReplicaSet]) -> Vec<usize> {
    let mut order: Vec<usize> = (0..old_rss.len())
        .filter(|&i| rs_replicas(&old_rss[i]) > 0)
        .collect();
    order.sort_by(|&a, &b| by_creation(&old_rss[a], &old_rss[b]));
    order
}

/// rolling.go cleanupUnhealthyReplicas: scales old ReplicaSets down by their unavailable pods,
/// oldest first, at most `max_cleanup` in all; returns how many.
pub(super) fn cleanup_unhealthy_replicas(
    ctx: &mut Context<'_>,
    old_rss: &mut [ReplicaSet],
    d: &Deployment,
    max_cleanup: i32,
) -> Result<i32, ReconcileError> {
    let mut total = 0;
    for i in active_oldest_first(old_rss) {
        if total >= max_cleanup {
            break;
        }
        let rs = &mut old_rss[i];
        let replicas = rs_replicas(rs);
        if replicas == rs.status.available_replicas {
            continue;
        }
        let count = (max_cleanup - total).min(replicas - rs.status.available_replicas);
        let new_count = replicas - count;
        if new_count > replicas {
            return Err(ReconcileError::Other(format!(
                "when cleaning up unhealthy replicas, got invalid request to scale down {}/{} {} -> {}",
                rs.metadata.namespace, rs.metadata.name, replicas, new_count
            )));
        }
        scale_replica_set_and_record_event(ctx, rs, new_count, d)?;
        total += count;
    }
    Ok(total)
}

/// rolling.go scaleDownOldReplicaSetsForRollingUpdate: scales old ReplicaSets down, oldest
/// first, by the available pods above `replicas - maxUnavailable`; returns how many.
pub(super) fn scale_down_old_replica_sets_for_rolling_update(
    ctx: &mut Context<'_>,
    old_rss: &mut [ReplicaSet],
    new_rs: &ReplicaSet,
    d: &Deployment,
) -> Result<i32, ReconcileError> {
    let min_available = deployment_replicas(d) - max_unavailable(d);
    let available: i32 = old_rss
        .iter()
        .filter(|rs| rs_replicas(rs) > 0)
        .map(|rs| rs.status.available_replicas)
        .sum::<i32>()
        + new_rs.status.available_replicas;
    if available <= min_available {
        return Ok(0);
    }
    let total_to_scale_down = available - min_available;
    let mut total = 0;
    for i in active_oldest_first(old_rss) {
        if total >= total_to_scale_down {
            break;
        }
        let rs = &mut old_rss[i];
        let count = rs_replicas(rs).min(total_to_scale_down - total);
        let new_count = rs_replicas(rs) - count;
        scale_replica_set_and_record_event(ctx, rs, new_count, d)?;
        total += count;
    }
    Ok(total)
}
