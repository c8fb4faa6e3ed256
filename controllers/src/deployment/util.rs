//! deployment_util.go: replica arithmetic, revisions, annotations, ReplicaSet ordering and
//! conditions.

use super::*;

pub(super) fn deployment_replicas(d: &Deployment) -> i32 {
    d.spec.replicas.unwrap_or(1)
}

pub(super) fn rs_replicas(rs: &ReplicaSet) -> i32 {
    rs.spec.replicas.unwrap_or(1)
}

/// GetReplicaCountForReplicaSets: the desired replicas of `rss`.
pub(super) fn replica_count(rss: &[ReplicaSet]) -> i32 {
    rss.iter().map(rs_replicas).sum()
}

pub(super) fn is_rolling_update(d: &Deployment) -> bool {
    d.spec.strategy.type_.unwrap_or_default() == DeploymentStrategyType::RollingUpdate
}

/// HasProgressDeadline: set and not `MaxInt32`.
pub(super) fn has_progress_deadline(d: &Deployment) -> bool {
    d.spec
        .progress_deadline_seconds
        .is_some_and(|s| s != i32::MAX)
}

/// ResolveFenceposts: maxSurge rounds up, maxUnavailable rounds down, and both zero makes
/// maxUnavailable one so that a rollout can always proceed.
pub fn resolve_fenceposts(d: &Deployment) -> (i32, i32) {
    let desired = deployment_replicas(d);
    let rolling = d.spec.strategy.rolling_update.as_ref();
    let surge = rolling
        .and_then(|r| r.max_surge.as_ref())
        .and_then(|v| v.scaled_value(desired, true))
        .unwrap_or(0);
    let unavailable = rolling
        .and_then(|r| r.max_unavailable.as_ref())
        .and_then(|v| v.scaled_value(desired, false))
        .unwrap_or(0);
    if surge == 0 && unavailable == 0 {
        return (0, 1);
    }
    (surge, unavailable)
}

/// MaxSurge: zero unless RollingUpdate.
pub(super) fn max_surge(d: &Deployment) -> i32 {
    if !is_rolling_update(d) {
        return 0;
    }
    resolve_fenceposts(d).0
}

/// MaxUnavailable: zero unless RollingUpdate with replicas, never more than the replicas.
pub(super) fn max_unavailable(d: &Deployment) -> i32 {
    let desired = deployment_replicas(d);
    if !is_rolling_update(d) || desired == 0 {
        return 0;
    }
    resolve_fenceposts(d).1.min(desired)
}

/// NewRSNewReplicas: RollingUpdate grows the new ReplicaSet as far as `replicas + maxSurge`
/// pods in all allow (never past `replicas`); Recreate sizes it at `replicas` at once.
/// `old_count` is the desired replicas of every other ReplicaSet.
pub(super) fn new_rs_new_replicas(d: &Deployment, old_count: i32, new_rs: &ReplicaSet) -> i32 {
    let desired = deployment_replicas(d);
    if !is_rolling_update(d) {
        return desired;
    }
    let current = rs_replicas(new_rs);
    let current_pods = old_count + current;
    let max_total = desired + max_surge(d);
    if current_pods >= max_total {
        return current;
    }
    let scale_up = (max_total - current_pods).min(desired - current);
    current + scale_up
}

/// IsSaturated: the new ReplicaSet was sized for the current `replicas`, has them, and all are
/// available.
pub(super) fn is_saturated(d: &Deployment, rs: Option<&ReplicaSet>) -> bool {
    let Some(rs) = rs else {
        return false;
    };
    let desired = deployment_replicas(d);
    annotation_i32(rs, DESIRED_REPLICAS_ANNOTATION) == Some(desired)
        && rs_replicas(rs) == desired
        && rs.status.available_replicas == desired
}

/// Which of the new and old ReplicaSets.
pub(super) enum Which {
    New,
    Old(usize),
}

/// FindActiveOrLatest: the only active ReplicaSet, or with none active the new one (else the
/// newest old one); `None` with several active.
pub(super) fn find_active_or_latest(
    new_rs: &Option<ReplicaSet>,
    old_rss: &[ReplicaSet],
) -> Option<Which> {
    if new_rs.is_none() && old_rss.is_empty() {
        return None;
    }
    let mut newest_first: Vec<usize> = (0..old_rss.len()).collect();
    newest_first.sort_by(|&a, &b| by_creation(&old_rss[b], &old_rss[a]));
    let mut active: Vec<Which> = newest_first
        .iter()
        .filter(|&&i| rs_replicas(&old_rss[i]) > 0)
        .map(|&i| Which::Old(i))
        .collect();
    if new_rs.as_ref().is_some_and(|rs| rs_replicas(rs) > 0) {
        active.push(Which::New);
    }
    match active.len() {
        0 => Some(if new_rs.is_some() {
            Which::New
        } else {
            Which::Old(newest_first[0])
        }),
        1 => active.pop(),
        _ => None,
    }
}

/// GetProportion: the share of `to_add` (minus what was `added` already) this ReplicaSet gets,
/// never past what is left.
pub(super) fn get_proportion(rs: &ReplicaSet, d: &Deployment, to_add: i32, added: i32) -> i32 {
    if rs_replicas(rs) == 0 || to_add == 0 || to_add == added {
        return 0;
    }
    let fraction = get_replica_set_fraction(rs, d);
    let allowed = to_add - added;
    if to_add > 0 {
        fraction.min(allowed)
    } else {
        fraction.max(allowed)
    }
}

/// getReplicaSetFraction: the ReplicaSet's size scaled from the `max-replicas` it was sized for
/// (else the Deployment's observed replicas) to `replicas + maxSurge`, rounded half away from
/// zero, minus its size.
pub(super) fn get_replica_set_fraction(rs: &ReplicaSet, d: &Deployment) -> i32 {
    let size = rs_replicas(rs);
    let desired = deployment_replicas(d);
    if desired == 0 {
        return -size;
    }
    let deployment_replicas = desired + max_surge(d);
    let annotated = annotation_i32(rs, MAX_REPLICAS_ANNOTATION).unwrap_or(d.status.replicas);
    if annotated == 0 {
        // Kubernetes would divide by zero here; such a ReplicaSet has nothing to scale from.
        return 0;
    }
    let new_size = f64::from(size) * f64::from(deployment_replicas) / f64::from(annotated);
    (new_size.round() as i32) - size
}

/// An integer annotation of the ReplicaSet, if present and well formed.
pub(super) fn annotation_i32(rs: &ReplicaSet, key: &str) -> Option<i32> {
    rs.metadata.annotations.get(key)?.parse().ok()
}

/// ReplicasAnnotationsNeedUpdate.
pub(super) fn replicas_annotations_need_update(
    rs: &ReplicaSet,
    desired: i32,
    max_replicas: i32,
) -> bool {
    let a = &rs.metadata.annotations;
    a.get(DESIRED_REPLICAS_ANNOTATION) != Some(&desired.to_string())
        || a.get(MAX_REPLICAS_ANNOTATION) != Some(&max_replicas.to_string())
}

/// SetReplicasAnnotations; returns whether anything changed.
pub(super) fn set_replicas_annotations(
    rs: &mut ReplicaSet,
    desired: i32,
    max_replicas: i32,
) -> bool {
    let mut changed = false;
    for (key, value) in [
        (DESIRED_REPLICAS_ANNOTATION, desired),
        (MAX_REPLICAS_ANNOTATION, max_replicas),
    ] {
        let value = value.to_string();
        if rs.metadata.annotations.get(key) != Some(&value) {
            rs.metadata.annotations.insert(key.to_string(), value);
            changed = true;
        }
    }
    changed
}

/// The annotations a Deployment never copies to its ReplicaSets (deployment_util.go
/// annotationsToSkip; kubectl's rollback uses the same list).
pub(super) fn skip_copy_annotation(key: &str) -> bool {
    matches!(
        key,
        LAST_APPLIED_CONFIGURATION
            | REVISION_ANNOTATION
            | REVISION_HISTORY_ANNOTATION
            | DESIRED_REPLICAS_ANNOTATION
            | MAX_REPLICAS_ANNOTATION
            | DEPRECATED_ROLLBACK_TO
    )
}

/// SetNewReplicaSetAnnotations: copies the Deployment's annotations (such as
/// `kubernetes.io/change-cause`), raises the revision to `new_revision` when it is lower
/// (recording the old one in `revision-history`, as a rolled-back-to ReplicaSet does), and on a
/// ReplicaSet about to be created sets the replicas annotations. Returns whether anything
/// changed.
pub(super) fn set_new_replica_set_annotations(
    d: &Deployment,
    rs: &mut ReplicaSet,
    new_revision: i64,
    exists: bool,
) -> bool {
    // copyDeploymentAnnotationsToReplicaSet
    let mut changed = false;
    for (key, value) in &d.metadata.annotations {
        if skip_copy_annotation(key) || rs.metadata.annotations.get(key) == Some(value) {
            continue;
        }
        rs.metadata.annotations.insert(key.clone(), value.clone());
        changed = true;
    }
    let old_revision = rs.metadata.annotations.get(REVISION_ANNOTATION).cloned();
    let old_revision_int = match old_revision.as_deref() {
        None | Some("") => 0,
        Some(s) => match s.parse::<i64>() {
            Ok(v) => v,
            // An unparsable revision is left alone.
            Err(_) => return false,
        },
    };
    if old_revision_int < new_revision {
        rs.metadata
            .annotations
            .insert(REVISION_ANNOTATION.into(), new_revision.to_string());
        changed = true;
        if let Some(old) = old_revision {
            let history = rs
                .metadata
                .annotations
                .get(REVISION_HISTORY_ANNOTATION)
                .cloned()
                .unwrap_or_default();
            if history.is_empty() {
                rs.metadata
                    .annotations
                    .insert(REVISION_HISTORY_ANNOTATION.into(), old);
            } else {
                let mut revisions: Vec<&str> = history.split(',').collect();
                let mut total = history.len() + old.len() + 1;
                let mut start = 0;
                while total > MAX_REV_HISTORY_LENGTH_IN_CHARS && start < revisions.len() {
                    total -= revisions[start].len() + 1;
                    start += 1;
                }
                if total <= MAX_REV_HISTORY_LENGTH_IN_CHARS {
                    revisions.drain(..start);
                    revisions.push(&old);
                    let joined = revisions.join(",");
                    rs.metadata
                        .annotations
                        .insert(REVISION_HISTORY_ANNOTATION.into(), joined);
                }
            }
        }
    }
    if !exists {
        let desired = deployment_replicas(d);
        if set_replicas_annotations(rs, desired, desired + max_surge(d)) {
            changed = true;
        }
    }
    changed
}

/// SetDeploymentRevision; returns whether it changed.
pub(super) fn set_deployment_revision(d: &mut Deployment, revision: &str) -> bool {
    if d.metadata
        .annotations
        .get(REVISION_ANNOTATION)
        .map(String::as_str)
        == Some(revision)
    {
        return false;
    }
    d.metadata
        .annotations
        .insert(REVISION_ANNOTATION.into(), revision.to_string());
    true
}

/// Revision: the revision annotation (0 when missing), `None` when it is not a number.
pub(super) fn revision(rs: &ReplicaSet) -> Option<i64> {
    match rs.metadata.annotations.get(REVISION_ANNOTATION) {
        None => Some(0),
        Some(v) => v.parse().ok(),
    }
}

/// MaxRevision: the highest well-formed revision (0 with none).
pub(super) fn max_revision(rss: &[ReplicaSet]) -> i64 {
    rss.iter().filter_map(revision).max().unwrap_or(0).max(0)
}

/// EqualIgnoreHash: the templates are equal but for the `pod-template-hash` label.
pub(super) fn equal_ignore_hash(a: &PodTemplateSpec, b: &PodTemplateSpec) -> bool {
    let strip = |t: &PodTemplateSpec| {
        let mut t = t.clone();
        t.metadata.labels.remove(POD_TEMPLATE_HASH_LABEL);
        t
    };
    strip(a) == strip(b)
}

/// FindNewReplicaSet: the oldest ReplicaSet whose template is the Deployment's.
pub(super) fn find_new_replica_set(d: &Deployment, rs_list: &[ReplicaSet]) -> Option<usize> {
    let mut order: Vec<usize> = (0..rs_list.len()).collect();
    order.sort_by(|&a, &b| by_creation(&rs_list[a], &rs_list[b]));
    order
        .into_iter()
        .find(|&i| equal_ignore_hash(&rs_list[i].spec.template, &d.spec.template))
}

/// controller_utils.go ReplicaSetsByCreationTimestamp: older first, then by name.
pub(super) fn by_creation(a: &ReplicaSet, b: &ReplicaSet) -> Ordering {
    a.metadata
        .creation_timestamp
        .cmp(&b.metadata.creation_timestamp)
        .then_with(|| a.metadata.name.cmp(&b.metadata.name))
}

pub(super) fn get_condition(
    status: &DeploymentStatus,
    type_: DeploymentConditionType,
) -> Option<&DeploymentCondition> {
    status.conditions.iter().find(|c| c.type_ == type_)
}

/// NewDeploymentCondition: updated and transitioned `now`.
pub(super) fn new_condition(
    type_: DeploymentConditionType,
    status: ConditionStatus,
    reason: &str,
    message: String,
    now: Time,
) -> DeploymentCondition {
    DeploymentCondition {
        type_,
        status,
        last_update_time: Some(now),
        last_transition_time: Some(now),
        reason: reason.to_string(),
        message,
    }
}

/// SetDeploymentCondition: nothing when status and reason are unchanged; the transition time
/// is kept when only the reason changes; the condition goes last.
pub(super) fn set_condition(status: &mut DeploymentStatus, mut condition: DeploymentCondition) {
    if let Some(current) = get_condition(status, condition.type_) {
        if current.status == condition.status && current.reason == condition.reason {
            return;
        }
        if current.status == condition.status {
            condition.last_transition_time = current.last_transition_time;
        }
    }
    remove_condition(status, condition.type_);
    status.conditions.push(condition);
}

pub(super) fn remove_condition(status: &mut DeploymentStatus, type_: DeploymentConditionType) {
    status.conditions.retain(|c| c.type_ != type_);
}
