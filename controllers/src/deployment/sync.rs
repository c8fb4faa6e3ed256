//! sync.go: finding or creating the new ReplicaSet and syncing revisions, proportional
//! scaling, revision-history cleanup and the Deployment's status.

use super::*;

/// sync.go syncStatusOnly.
pub(super) fn sync_status_only(
    ctx: &mut Context<'_>,
    d: &mut Deployment,
    rs_list: &mut Vec<ReplicaSet>,
) -> Result<Action, ReconcileError> {
    let (new_rs, old_rss) = get_all_replica_sets_and_sync_revision(ctx, d, rs_list, false)?;
    sync_deployment_status(ctx, &old_rss, new_rs.as_ref(), d)?;
    Ok(Action::await_change())
}

/// sync.go sync: scaling events and paused Deployments; no rollout.
pub(super) fn sync(
    ctx: &mut Context<'_>,
    d: &mut Deployment,
    rs_list: &mut Vec<ReplicaSet>,
) -> Result<Action, ReconcileError> {
    let (mut new_rs, mut old_rss) = get_all_replica_sets_and_sync_revision(ctx, d, rs_list, false)?;
    scale(ctx, d, &mut new_rs, &mut old_rss)?;
    // Clean up the deployment when it is paused (apps/v1 has no rollback in flight).
    if d.spec.paused {
        cleanup_deployment(ctx, &old_rss, d)?;
    }
    sync_deployment_status(ctx, &old_rss, new_rs.as_ref(), d)?;
    Ok(Action::await_change())
}

/// sync.go checkPausedConditions: a paused Deployment gets `Progressing=Unknown` reason
/// `DeploymentPaused`, a resumed one `DeploymentResumed`, so that time spent paused never counts
/// against the progress deadline. A timed-out condition is left alone.
pub(super) fn check_paused_conditions(
    ctx: &mut Context<'_>,
    d: &mut Deployment,
) -> Result<(), ReconcileError> {
    if !has_progress_deadline(d) {
        return Ok(());
    }
    let cond = get_condition(&d.status, DeploymentConditionType::Progressing);
    if cond.is_some_and(|c| c.reason == TIMED_OUT_REASON) {
        return Ok(());
    }
    let paused_cond_exists = cond.is_some_and(|c| c.reason == PAUSED_DEPLOY_REASON);
    let now = ctx.now;
    let condition = if d.spec.paused && !paused_cond_exists {
        new_condition(
            DeploymentConditionType::Progressing,
            ConditionStatus::Unknown,
            PAUSED_DEPLOY_REASON,
            "Deployment is paused".into(),
            now,
        )
    } else if !d.spec.paused && paused_cond_exists {
        new_condition(
            DeploymentConditionType::Progressing,
            ConditionStatus::Unknown,
            RESUMED_DEPLOY_REASON,
            "Deployment is resumed".into(),
            now,
        )
    } else {
        return Ok(());
    };
    set_condition(&mut d.status, condition);
    persist_deployment(ctx, d)
}

/// sync.go getAllReplicaSetsAndSyncRevision: the new ReplicaSet (created when `create` and
/// missing) with its revision brought up to date, and every other claimed ReplicaSet. Writes made
/// to a ReplicaSet are reflected in `rs_list`.
pub(super) fn get_all_replica_sets_and_sync_revision(
    ctx: &mut Context<'_>,
    d: &mut Deployment,
    rs_list: &mut Vec<ReplicaSet>,
    create: bool,
) -> Result<(Option<ReplicaSet>, Vec<ReplicaSet>), ReconcileError> {
    let new_index = find_new_replica_set(d, rs_list);
    let old_rss: Vec<ReplicaSet> = rs_list
        .iter()
        .enumerate()
        .filter(|(i, _)| Some(*i) != new_index)
        .map(|(_, rs)| rs.clone())
        .collect();
    let new_rs = get_new_replica_set(ctx, d, rs_list, new_index, &old_rss, create)?;
    Ok((new_rs, old_rss))
}

/// sync.go getNewReplicaSet: syncs the existing new ReplicaSet's annotations (revision, copied
/// Deployment annotations) and `minReadySeconds` and the Deployment's revision; or creates the
/// new ReplicaSet `<deployment>-<hash>`, bumping `status.collisionCount` when the name is taken
/// by a ReplicaSet with another template.
pub(super) fn get_new_replica_set(
    ctx: &mut Context<'_>,
    d: &mut Deployment,
    rs_list: &mut Vec<ReplicaSet>,
    new_index: Option<usize>,
    old_rss: &[ReplicaSet],
    create: bool,
) -> Result<Option<ReplicaSet>, ReconcileError> {
    let now = ctx.now;
    let new_revision = max_revision(old_rss) + 1;
    if let Some(i) = new_index {
        let mut rs_copy = rs_list[i].clone();
        let annotations_updated =
            set_new_replica_set_annotations(d, &mut rs_copy, new_revision, true);
        let min_ready_seconds_needs_update =
            rs_copy.spec.min_ready_seconds != d.spec.min_ready_seconds;
        if annotations_updated || min_ready_seconds_needs_update {
            rs_copy.spec.min_ready_seconds = d.spec.min_ready_seconds;
            let updated = update_replica_set(ctx, rs_copy)?;
            rs_list[i] = updated.clone();
            return Ok(Some(updated));
        }
        // The revision in the new ReplicaSet's annotation, as set before.
        let revision = rs_copy
            .metadata
            .annotations
            .get(REVISION_ANNOTATION)
            .cloned()
            .unwrap_or_default();
        let mut needs_update = set_deployment_revision(d, &revision);
        if has_progress_deadline(d)
            && get_condition(&d.status, DeploymentConditionType::Progressing).is_none()
        {
            let msg = format!("Found new replica set {:?}", rs_copy.metadata.name);
            set_condition(
                &mut d.status,
                new_condition(
                    DeploymentConditionType::Progressing,
                    ConditionStatus::True,
                    FOUND_NEW_RS_REASON,
                    msg,
                    now,
                ),
            );
            needs_update = true;
        }
        if needs_update {
            persist_deployment(ctx, d)?;
        }
        return Ok(Some(rs_copy));
    }
    if !create {
        return Ok(None);
    }

    // The new ReplicaSet does not exist: create it.
    let hash = template_hash(&d.spec.template, d.status.collision_count);
    let mut template = d.spec.template.clone();
    template
        .metadata
        .labels
        .insert(POD_TEMPLATE_HASH_LABEL.into(), hash.clone());
    let mut selector = d.spec.selector.clone().unwrap_or_default();
    selector
        .match_labels
        .insert(POD_TEMPLATE_HASH_LABEL.into(), hash.clone());
    let mut new_rs = ReplicaSet {
        metadata: ObjectMeta {
            // A deterministic name, for idempotence.
            name: format!("{}-{}", d.metadata.name, hash),
            namespace: d.metadata.namespace.clone(),
            owner_references: vec![controller_ref(Kind::Deployment, &d.metadata)],
            labels: template.metadata.labels.clone(),
            ..ObjectMeta::default()
        },
        spec: ReplicaSetSpec {
            replicas: Some(0),
            min_ready_seconds: d.spec.min_ready_seconds,
            selector: Some(selector),
            template,
        },
        status: Default::default(),
    };
    let old_count = replica_count(old_rss);
    let new_replicas = new_rs_new_replicas(d, old_count, &new_rs);
    new_rs.spec.replicas = Some(new_replicas);
    set_new_replica_set_annotations(d, &mut new_rs, new_revision, false);
    let name = new_rs.metadata.name.clone();
    let mut already_exists = false;
    let created = match ctx.store.create(new_rs.into(), now) {
        Ok(stored) => as_replica_set(&stored)?,
        Err(StoreError::AlreadyExists { .. }) => {
            already_exists = true;
            let existing = ctx
                .store
                .get(Kind::ReplicaSet, &d.metadata.namespace, &name)
                .ok_or_else(|| StoreError::NotFound {
                    kind: Kind::ReplicaSet,
                    namespace: d.metadata.namespace.clone(),
                    name: name.clone(),
                })?;
            let existing = as_replica_set(&existing)?;
            // Ours, with our template: the new ReplicaSet after all. Otherwise a hash
            // collision: bump collisionCount and try another name on the next sync.
            if is_controlled_by(&existing.metadata, &d.metadata.uid)
                && equal_ignore_hash(&d.spec.template, &existing.spec.template)
            {
                existing
            } else {
                *d.status.collision_count.get_or_insert(0) += 1;
                persist_deployment(ctx, d)?;
                return Err(StoreError::AlreadyExists {
                    kind: Kind::ReplicaSet,
                    namespace: d.metadata.namespace.clone(),
                    name,
                }
                .into());
            }
        }
        Err(e) => {
            // A terminating namespace refuses every create: nothing to report.
            let terminating = matches!(&e, StoreError::Forbidden(m) if m.contains("because it is being terminated"));
            if !terminating {
                let msg = format!("Failed to create new replica set {name:?}: {e}");
                if has_progress_deadline(d) {
                    set_condition(
                        &mut d.status,
                        new_condition(
                            DeploymentConditionType::Progressing,
                            ConditionStatus::False,
                            FAILED_RS_CREATE_REASON,
                            msg.clone(),
                            now,
                        ),
                    );
                    // The bigger issue is the failed create; a failed status write is ignored.
                    let _ = persist_deployment(ctx, d);
                }
                ctx.warning(&key_of(d), FAILED_RS_CREATE_REASON, msg);
            }
            return Err(e.into());
        }
    };
    if !already_exists && new_replicas > 0 {
        ctx.normal(
            &key_of(d),
            "ScalingReplicaSet",
            format!(
                "Scaled up replica set {} to {}",
                created.metadata.name, new_replicas
            ),
        );
    }
    let mut needs_update = set_deployment_revision(d, &new_revision.to_string());
    if !already_exists && has_progress_deadline(d) {
        let msg = format!("Created new replica set {:?}", created.metadata.name);
        set_condition(
            &mut d.status,
            new_condition(
                DeploymentConditionType::Progressing,
                ConditionStatus::True,
                NEW_REPLICA_SET_REASON,
                msg,
                now,
            ),
        );
        needs_update = true;
    }
    if needs_update {
        persist_deployment(ctx, d)?;
    }
    if !rs_list
        .iter()
        .any(|rs| rs.metadata.name == created.metadata.name)
    {
        rs_list.push(created.clone());
    }
    Ok(Some(created))
}

/// sync.go scale: proportional scaling. With one active ReplicaSet (or none) that one (or the
/// newest) takes all the replicas; with a saturated new ReplicaSet the old ones go to zero;
/// otherwise, for RollingUpdate, the change is spread over the active ReplicaSets in proportion
/// to their size against the `max-replicas` they were sized for, leftovers to the first of them
/// (largest, newer first when scaling up; largest, older first when scaling down).
pub(super) fn scale(
    ctx: &mut Context<'_>,
    d: &Deployment,
    new_rs: &mut Option<ReplicaSet>,
    old_rss: &mut [ReplicaSet],
) -> Result<(), ReconcileError> {
    let d_replicas = deployment_replicas(d);
    if let Some(target) = find_active_or_latest(new_rs, old_rss) {
        let rs = match target {
            Which::New => match new_rs.as_mut() {
                Some(rs) => rs,
                None => return Ok(()),
            },
            Which::Old(i) => &mut old_rss[i],
        };
        if rs_replicas(rs) == d_replicas {
            return Ok(());
        }
        scale_replica_set_and_record_event(ctx, rs, d_replicas, d)?;
        return Ok(());
    }

    if is_saturated(d, new_rs.as_ref()) {
        for old in old_rss.iter_mut().filter(|rs| rs_replicas(rs) > 0) {
            scale_replica_set_and_record_event(ctx, old, 0, d)?;
        }
        return Ok(());
    }

    if !is_rolling_update(d) {
        return Ok(());
    }
    let mut all: Vec<&mut ReplicaSet> = old_rss
        .iter_mut()
        .chain(new_rs.iter_mut())
        .filter(|rs| rs_replicas(rs) > 0)
        .collect();
    let all_replicas: i32 = all.iter().map(|rs| rs_replicas(rs)).sum();
    let allowed_size = if d_replicas > 0 {
        d_replicas + max_surge(d)
    } else {
        0
    };
    // Replicas to add (or, negative, remove), spread in proportion over the active sets.
    let to_add = allowed_size - all_replicas;
    let operation = match to_add.cmp(&0) {
        Ordering::Greater => {
            // controller_utils.go ReplicaSetsBySizeNewer
            all.sort_by(|a, b| {
                rs_replicas(b)
                    .cmp(&rs_replicas(a))
                    .then_with(|| by_creation(b, a))
            });
            "up"
        }
        Ordering::Less => {
            // controller_utils.go ReplicaSetsBySizeOlder
            all.sort_by(|a, b| {
                rs_replicas(b)
                    .cmp(&rs_replicas(a))
                    .then_with(|| by_creation(a, b))
            });
            "down"
        }
        Ordering::Equal => "",
    };
    let mut added = 0;
    let mut sizes = Vec::with_capacity(all.len());
    for rs in &all {
        if to_add != 0 {
            let proportion = get_proportion(rs, d, to_add, added);
            sizes.push(rs_replicas(rs) + proportion);
            added += proportion;
        } else {
            sizes.push(rs_replicas(rs));
        }
    }
    for (i, rs) in all.into_iter().enumerate() {
        // Leftovers go to the first (largest) ReplicaSet.
        if i == 0 && to_add != 0 {
            sizes[0] = (sizes[0] + to_add - added).max(0);
        }
        scale_replica_set(ctx, rs, sizes[i], d, operation)?;
    }
    Ok(())
}

/// sync.go scaleReplicaSetAndRecordEvent.
pub(super) fn scale_replica_set_and_record_event(
    ctx: &mut Context<'_>,
    rs: &mut ReplicaSet,
    new_scale: i32,
    d: &Deployment,
) -> Result<bool, ReconcileError> {
    let current = rs_replicas(rs);
    if current == new_scale {
        return Ok(false);
    }
    let operation = if current < new_scale { "up" } else { "down" };
    scale_replica_set(ctx, rs, new_scale, d, operation)
}

/// sync.go scaleReplicaSet: sets `spec.replicas` and the replicas annotations, and records
/// `ScalingReplicaSet` when the size changed. `rs` becomes the stored copy.
pub(super) fn scale_replica_set(
    ctx: &mut Context<'_>,
    rs: &mut ReplicaSet,
    new_scale: i32,
    d: &Deployment,
    operation: &str,
) -> Result<bool, ReconcileError> {
    let old_scale = rs_replicas(rs);
    let size_needs_update = old_scale != new_scale;
    let desired = deployment_replicas(d);
    let max_replicas = desired + max_surge(d);
    let annotations_need_update = replicas_annotations_need_update(rs, desired, max_replicas);
    if !size_needs_update && !annotations_need_update {
        return Ok(false);
    }
    let mut copy = rs.clone();
    copy.spec.replicas = Some(new_scale);
    set_replicas_annotations(&mut copy, desired, max_replicas);
    *rs = update_replica_set(ctx, copy)?;
    if size_needs_update {
        ctx.normal(
            &key_of(d),
            "ScalingReplicaSet",
            format!(
                "Scaled {operation} replica set {} to {new_scale} from {old_scale}",
                rs.metadata.name
            ),
        );
    }
    Ok(size_needs_update)
}

/// sync.go cleanupDeployment: deletes the oldest (by revision) old ReplicaSets beyond
/// `revisionHistoryLimit`, skipping any that still has replicas (desired or observed), whose
/// latest spec its controller has not observed yet, or that is being deleted.
pub(super) fn cleanup_deployment(
    ctx: &mut Context<'_>,
    old_rss: &[ReplicaSet],
    d: &Deployment,
) -> Result<(), ReconcileError> {
    let Some(limit) = d.spec.revision_history_limit else {
        return Ok(());
    };
    if limit == i32::MAX {
        return Ok(());
    }
    let mut cleanable: Vec<&ReplicaSet> = old_rss
        .iter()
        .filter(|rs| rs.metadata.deletion_timestamp.is_none())
        .collect();
    let diff = cleanable.len() as i64 - i64::from(limit);
    if diff <= 0 {
        return Ok(());
    }
    // deployment_util.go ReplicaSetsByRevision
    cleanable.sort_by(|a, b| {
        revision(a)
            .unwrap_or(0)
            .cmp(&revision(b).unwrap_or(0))
            .then_with(|| by_creation(a, b))
    });
    for rs in cleanable.into_iter().take(diff as usize) {
        if rs.status.replicas != 0
            || rs_replicas(rs) != 0
            || rs.metadata.generation > rs.status.observed_generation
            || rs.metadata.deletion_timestamp.is_some()
        {
            continue;
        }
        match ctx.store.delete(
            Kind::ReplicaSet,
            &rs.metadata.namespace,
            &rs.metadata.name,
            &DeleteOptions::default(),
            ctx.now,
        ) {
            Ok(_) | Err(StoreError::NotFound { .. }) => {}
            Err(e) => return Err(e.into()),
        }
    }
    Ok(())
}

/// sync.go syncDeploymentStatus: writes the computed status when it differs.
pub(super) fn sync_deployment_status(
    ctx: &mut Context<'_>,
    old_rss: &[ReplicaSet],
    new_rs: Option<&ReplicaSet>,
    d: &mut Deployment,
) -> Result<(), ReconcileError> {
    let status = calculate_status(old_rss, new_rs, d, ctx.now);
    if status == d.status {
        return Ok(());
    }
    d.status = status;
    persist_deployment(ctx, d)
}

/// sync.go calculateStatus: counts from the ReplicaSets' status, the `Available` condition
/// from `availableReplicas >= replicas - maxUnavailable`; other conditions are kept.
pub(super) fn calculate_status(
    old_rss: &[ReplicaSet],
    new_rs: Option<&ReplicaSet>,
    d: &Deployment,
    now: Time,
) -> DeploymentStatus {
    let all: Vec<&ReplicaSet> = old_rss.iter().chain(new_rs).collect();
    let available: i32 = all.iter().map(|rs| rs.status.available_replicas).sum();
    let total: i32 = all.iter().map(|rs| rs_replicas(rs)).sum();
    // More available than desired (scaling down): nothing is unavailable.
    let unavailable = (total - available).max(0);
    // deployment_util.go GetTerminatingReplicaCountForReplicaSets: unknown unless some
    // ReplicaSet reports it.
    let terminating = all
        .iter()
        .filter_map(|rs| rs.status.terminating_replicas)
        .fold(None, |acc: Option<i32>, n| Some(acc.unwrap_or(0) + n));
    let mut status = DeploymentStatus {
        observed_generation: d.metadata.generation,
        replicas: all.iter().map(|rs| rs.status.replicas).sum(),
        updated_replicas: new_rs.map_or(0, |rs| rs.status.replicas),
        ready_replicas: all.iter().map(|rs| rs.status.ready_replicas).sum(),
        available_replicas: available,
        unavailable_replicas: unavailable,
        terminating_replicas: terminating,
        conditions: d.status.conditions.clone(),
        collision_count: d.status.collision_count,
    };
    let condition = if available >= deployment_replicas(d) - max_unavailable(d) {
        new_condition(
            DeploymentConditionType::Available,
            ConditionStatus::True,
            MINIMUM_REPLICAS_AVAILABLE,
            "Deployment has minimum availability.".into(),
            now,
        )
    } else {
        new_condition(
            DeploymentConditionType::Available,
            ConditionStatus::False,
            MINIMUM_REPLICAS_UNAVAILABLE,
            "Deployment does not have minimum availability.".into(),
            now,
        )
    };
    set_condition(&mut status, condition);
    status
}

/// sync.go isScalingEvent: an active ReplicaSet was sized for another `spec.replicas` (its
/// `desired-replicas` annotation differs).
pub(super) fn is_scaling_event(
    ctx: &mut Context<'_>,
    d: &mut Deployment,
    rs_list: &mut Vec<ReplicaSet>,
) -> Result<bool, ReconcileError> {
    let (new_rs, old_rss) = get_all_replica_sets_and_sync_revision(ctx, d, rs_list, false)?;
    let desired = deployment_replicas(d);
    Ok(old_rss
        .iter()
        .chain(new_rs.as_ref())
        .filter(|rs| rs_replicas(rs) > 0)
        .filter_map(|rs| annotation_i32(rs, DESIRED_REPLICAS_ANNOTATION))
        .any(|annotated| annotated != desired))
}
