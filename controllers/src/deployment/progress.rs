//! progress.go: the `Progressing` condition and the progress deadline.

use super::*;

/// progress.go syncRolloutStatus: the status plus the `Progressing` condition (complete,
/// progressing, or timed out) and the ReplicaSets' `ReplicaFailure`; requeues at the progress
/// deadline while the rollout is neither complete nor timed out.
pub(super) fn sync_rollout_status(
    ctx: &mut Context<'_>,
    old_rss: &[ReplicaSet],
    new_rs: Option<&ReplicaSet>,
    d: &mut Deployment,
) -> Result<Action, ReconcileError> {
    let now = ctx.now;
    let mut status = calculate_status(old_rss, new_rs, d, now);
    if !has_progress_deadline(d) {
        remove_condition(&mut status, DeploymentConditionType::Progressing);
    }
    let current = get_condition(&d.status, DeploymentConditionType::Progressing).cloned();
    let is_complete = status.replicas == status.updated_replicas
        && current
            .as_ref()
            .is_some_and(|c| c.reason == NEW_RS_AVAILABLE_REASON);
    if has_progress_deadline(d) && !is_complete {
        let name = d.metadata.name.clone();
        if deployment_complete(d, &status) {
            let msg = match new_rs {
                Some(rs) => format!(
                    "ReplicaSet {:?} has successfully progressed.",
                    rs.metadata.name
                ),
                None => format!("Deployment {name:?} has successfully progressed."),
            };
            set_condition(
                &mut status,
                new_condition(
                    DeploymentConditionType::Progressing,
                    ConditionStatus::True,
                    NEW_RS_AVAILABLE_REASON,
                    msg,
                    now,
                ),
            );
        } else if deployment_progressing(d, &status) {
            let msg = match new_rs {
                Some(rs) => format!("ReplicaSet {:?} is progressing.", rs.metadata.name),
                None => format!("Deployment {name:?} is progressing."),
            };
            let mut condition = new_condition(
                DeploymentConditionType::Progressing,
                ConditionStatus::True,
                REPLICA_SET_UPDATED_REASON,
                msg,
                now,
            );
            // Progress moves lastUpdateTime even with an unchanged reason; a True condition
            // keeps its lastTransitionTime.
            if let Some(c) = &current {
                if c.status == ConditionStatus::True {
                    condition.last_transition_time = c.last_transition_time;
                }
                remove_condition(&mut status, DeploymentConditionType::Progressing);
            }
            set_condition(&mut status, condition);
        } else if deployment_timed_out(d, &status, now) {
            let msg = match new_rs {
                Some(rs) => format!(
                    "ReplicaSet {:?} has timed out progressing.",
                    rs.metadata.name
                ),
                None => format!("Deployment {name:?} has timed out progressing."),
            };
            set_condition(
                &mut status,
                new_condition(
                    DeploymentConditionType::Progressing,
                    ConditionStatus::False,
                    TIMED_OUT_REASON,
                    msg,
                    now,
                ),
            );
        }
    }
    // Failures of the new ReplicaSet win over those of old ones; one is reported.
    match replica_failure(old_rss, new_rs) {
        Some(c) => set_condition(&mut status, c),
        None => remove_condition(&mut status, DeploymentConditionType::ReplicaFailure),
    }
    if status != d.status {
        d.status = status;
        persist_deployment(ctx, d)?;
    }
    Ok(requeue_stuck_deployment(d, now))
}

/// progress.go getReplicaFailures: the `ReplicaFailure` conditions of the new ReplicaSet, else
/// of any; the first becomes the Deployment's.
pub(super) fn replica_failure(
    old_rss: &[ReplicaSet],
    new_rs: Option<&ReplicaSet>,
) -> Option<DeploymentCondition> {
    let to_deployment = |rs: &ReplicaSet| {
        rs.status
            .conditions
            .iter()
            .find(|c| c.type_ == ReplicaSetConditionType::ReplicaFailure)
            .map(|c| DeploymentCondition {
                type_: DeploymentConditionType::ReplicaFailure,
                status: c.status,
                last_update_time: c.last_transition_time,
                last_transition_time: c.last_transition_time,
                reason: c.reason.clone(),
                message: c.message.clone(),
            })
    };
    new_rs
        .and_then(to_deployment)
        .or_else(|| old_rss.iter().chain(new_rs).find_map(to_deployment))
}

/// progress.go requeueStuckDeployment: a rollout that is neither complete nor timed out is
/// checked again just after its deadline (one second after, as Kubernetes does, so that the
/// deadline has passed).
pub(super) fn requeue_stuck_deployment(d: &Deployment, now: Time) -> Action {
    let Some(current) = get_condition(&d.status, DeploymentConditionType::Progressing) else {
        return Action::await_change();
    };
    if !has_progress_deadline(d)
        || deployment_complete(d, &d.status)
        || current.reason == TIMED_OUT_REASON
    {
        return Action::await_change();
    }
    let from = current.last_update_time.unwrap_or(Time::ZERO);
    let deadline = from.saturating_add(secs(d.spec.progress_deadline_seconds.unwrap_or(0)));
    let after = deadline.saturating_duration_since(now);
    Action::requeue(after + Duration::from_secs(1))
}

/// deployment_util.go DeploymentComplete: every replica updated and available, none old, and
/// the latest spec observed.
pub(super) fn deployment_complete(d: &Deployment, status: &DeploymentStatus) -> bool {
    let desired = deployment_replicas(d);
    status.updated_replicas == desired
        && status.replicas == desired
        && status.available_replicas == desired
        && status.observed_generation >= d.metadata.generation
}

/// deployment_util.go DeploymentProgressing: more pods updated, ready or available, or fewer
/// old pods, than the stored status says.
pub(super) fn deployment_progressing(d: &Deployment, new: &DeploymentStatus) -> bool {
    let old = &d.status;
    let old_old_replicas = old.replicas - old.updated_replicas;
    let new_old_replicas = new.replicas - new.updated_replicas;
    new.updated_replicas > old.updated_replicas
        || new_old_replicas < old_old_replicas
        || new.ready_replicas > old.ready_replicas
        || new.available_replicas > old.available_replicas
}

/// deployment_util.go DeploymentTimedOut: the `Progressing` condition has not been updated for
/// longer than `progressDeadlineSeconds`.
pub(super) fn deployment_timed_out(d: &Deployment, status: &DeploymentStatus, now: Time) -> bool {
    if !has_progress_deadline(d) {
        return false;
    }
    let Some(c) = get_condition(status, DeploymentConditionType::Progressing) else {
        return false;
    };
    if c.reason == NEW_RS_AVAILABLE_REASON {
        return false;
    }
    if c.reason == TIMED_OUT_REASON {
        return true;
    }
    let from = c.last_update_time.unwrap_or(Time::ZERO);
    from.saturating_add(secs(d.spec.progress_deadline_seconds.unwrap_or(0))) < now
}
