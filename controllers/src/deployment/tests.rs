//! Unit tests of the deployment controller, with the ReplicaSet controller's part played by hand.

use super::rollback::get_deployment;
use super::*;
use crate::testing::Harness;
use flotilla_model::api::PodPhase;
use flotilla_model::store::DeleteOptions;
use flotilla_model::IntOrString;

const NS: &str = "default";

fn harness() -> Harness {
    Harness::new(vec![Box::new(DeploymentController::new())])
}

/// A Deployment `web` of `replicas` nginx pods running `image`.
fn web(replicas: i32, image: &str) -> Deployment {
    serde_json::from_value(serde_json::json!({
        "metadata": {"name": "web", "namespace": NS},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app": "web"}},
            "template": {
                "metadata": {"labels": {"app": "web"}},
                "spec": {"containers": [{"name": "nginx", "image": image}]}
            }
        }
    }))
    .unwrap()
}

fn rolling(mut d: Deployment, surge: i32, unavailable: i32) -> Deployment {
    d.spec.strategy.type_ = Some(DeploymentStrategyType::RollingUpdate);
    d.spec.strategy.rolling_update = Some(flotilla_model::api::RollingUpdateDeployment {
        max_surge: Some(IntOrString::Int(surge)),
        max_unavailable: Some(IntOrString::Int(unavailable)),
    });
    d
}

fn stored(h: &Harness) -> Deployment {
    get_deployment(&h.store, NS, "web").unwrap()
}

/// Applies `d` over the stored Deployment (keeping nothing but what `d` says).
fn apply(h: &mut Harness, d: Deployment) {
    h.apply(d).unwrap();
}

fn replica_sets(h: &Harness) -> Vec<ReplicaSet> {
    h.store
        .iter_namespace(Kind::ReplicaSet, NS)
        .filter_map(|o| match &**o {
            Object::ReplicaSet(rs) => Some((**rs).clone()),
            _ => None,
        })
        .collect()
}

fn image_of(rs: &ReplicaSet) -> &str {
    &rs.spec.template.spec.containers[0].image
}

fn rs_with_image(h: &Harness, image: &str) -> ReplicaSet {
    replica_sets(h)
        .into_iter()
        .find(|rs| image_of(rs) == image)
        .unwrap_or_else(|| panic!("no replica set for {image}"))
}

/// Plays the ReplicaSet controller: every ReplicaSet reports `spec.replicas` pods and has
/// observed its spec; pods of ReplicaSets whose image is in `ready` become available, others
/// keep at most the available pods they had.
fn play_replica_sets(h: &mut Harness, ready: &dyn Fn(&str) -> bool) {
    for mut rs in replica_sets(h) {
        let replicas = rs.spec.replicas.unwrap();
        let available = if ready(image_of(&rs)) {
            replicas
        } else {
            rs.status.available_replicas.min(replicas)
        };
        rs.status.replicas = replicas;
        rs.status.ready_replicas = available;
        rs.status.available_replicas = available;
        rs.status.observed_generation = rs.metadata.generation;
        h.store.update_status(rs.into(), h.now).unwrap();
    }
    h.settle();
}

fn all_ready(h: &mut Harness) {
    play_replica_sets(h, &|_| true);
}

fn condition(d: &Deployment, type_: DeploymentConditionType) -> DeploymentCondition {
    get_condition(&d.status, type_).cloned().unwrap()
}

fn events(h: &Harness) -> Vec<String> {
    h.recorder.events().map(|e| e.message.clone()).collect()
}

fn complete(h: &Harness) -> bool {
    let d = stored(h);
    deployment_complete(&d, &d.status)
}

/// Rolls `image` out and plays every ReplicaSet ready until the rollout completes.
fn roll_out(h: &mut Harness, d: Deployment) {
    apply(h, d);
    for _ in 0..50 {
        all_ready(h);
        if complete(h) {
            return;
        }
    }
    panic!("rollout did not complete");
}

#[test]
fn a_new_deployment_creates_one_replica_set_scaled_to_replicas() {
    let mut h = harness();
    apply(&mut h, web(3, "nginx:1.26"));
    let rss = replica_sets(&h);
    assert_eq!(rss.len(), 1);
    let rs = &rss[0];
    let d = stored(&h);
    let hash = template_hash(&d.spec.template, None);
    assert_eq!(rs.metadata.name, format!("web-{hash}"));
    assert_eq!(rs.spec.replicas, Some(3));
    assert_eq!(rs.metadata.labels[POD_TEMPLATE_HASH_LABEL], hash);
    assert_eq!(
        rs.spec.template.metadata.labels[POD_TEMPLATE_HASH_LABEL],
        hash
    );
    assert_eq!(
        rs.spec.selector.as_ref().unwrap().match_labels[POD_TEMPLATE_HASH_LABEL],
        hash
    );
    assert!(is_controlled_by(&rs.metadata, &d.metadata.uid));
    assert_eq!(rs.metadata.annotations[REVISION_ANNOTATION], "1");
    assert_eq!(rs.metadata.annotations[DESIRED_REPLICAS_ANNOTATION], "3");
    // maxSurge 25% of 3 rounds up to 1.
    assert_eq!(rs.metadata.annotations[MAX_REPLICAS_ANNOTATION], "4");
    assert_eq!(d.metadata.annotations[REVISION_ANNOTATION], "1");
    let progressing = condition(&d, DeploymentConditionType::Progressing);
    assert_eq!(progressing.reason, NEW_REPLICA_SET_REASON);
    assert_eq!(
        progressing.message,
        format!("Created new replica set \"web-{hash}\"")
    );
    assert_eq!(
        condition(&d, DeploymentConditionType::Available).reason,
        MINIMUM_REPLICAS_UNAVAILABLE
    );
    assert!(events(&h).contains(&format!("Scaled up replica set web-{hash} to 3")));

    all_ready(&mut h);
    let d = stored(&h);
    assert_eq!(d.status.replicas, 3);
    assert_eq!(d.status.updated_replicas, 3);
    assert_eq!(d.status.available_replicas, 3);
    assert_eq!(d.status.unavailable_replicas, 0);
    assert_eq!(d.status.observed_generation, d.metadata.generation);
    let progressing = condition(&d, DeploymentConditionType::Progressing);
    assert_eq!(progressing.reason, NEW_RS_AVAILABLE_REASON);
    assert_eq!(
        progressing.message,
        format!("ReplicaSet \"web-{hash}\" has successfully progressed.")
    );
    assert_eq!(
        condition(&d, DeploymentConditionType::Available).reason,
        MINIMUM_REPLICAS_AVAILABLE
    );
    // Settled: nothing more to do, nothing to wait for.
    assert_eq!(h.settle(), 0);
}

#[test]
fn max_surge_and_max_unavailable_resolve_like_kubernetes() {
    let mut d = web(10, "x");
    d.spec.strategy.rolling_update = Some(flotilla_model::api::RollingUpdateDeployment {
        max_surge: Some(IntOrString::String("25%".into())),
        max_unavailable: Some(IntOrString::String("25%".into())),
    });
    assert_eq!(resolve_fenceposts(&d), (3, 2));
    let d = rolling(web(10, "x"), 0, 0);
    assert_eq!(resolve_fenceposts(&d), (0, 1));
    let mut d = rolling(web(2, "x"), 0, 5);
    d.spec.strategy.type_ = Some(DeploymentStrategyType::RollingUpdate);
    assert_eq!(max_unavailable(&d), 2);
}

#[test]
fn a_rolling_update_stays_within_max_surge_and_max_unavailable_at_every_step() {
    let mut h = harness();
    roll_out(&mut h, rolling(web(10, "nginx:1"), 3, 2));
    h.advance(Duration::from_secs(10));
    apply(&mut h, rolling(web(10, "nginx:2"), 3, 2));
    let check = |h: &Harness, step: &str| {
        let rss = replica_sets(h);
        let desired: i32 = rss.iter().map(|rs| rs.spec.replicas.unwrap()).sum();
        // Pods the ReplicaSets keep once they act: at most their spec, at most what was
        // available.
        let available: i32 = rss
            .iter()
            .map(|rs| rs.status.available_replicas.min(rs.spec.replicas.unwrap()))
            .sum();
        assert!(desired <= 13, "{step}: {desired} pods desired");
        assert!(available >= 8, "{step}: {available} pods available");
    };
    check(&h, "start");
    let mut steps = 0;
    while !complete(&h) {
        steps += 1;
        assert!(steps < 50, "the rollout does not finish");
        // Pods created (not ready yet) and surplus ones deleted.
        play_replica_sets(&mut h, &|_| false);
        check(&h, "created");
        all_ready(&mut h);
        check(&h, "ready");
    }
    assert!(steps > 2, "a rolling update takes several steps");
    let new = rs_with_image(&h, "nginx:2");
    let old = rs_with_image(&h, "nginx:1");
    assert_eq!(new.spec.replicas, Some(10));
    assert_eq!(old.spec.replicas, Some(0));
    assert_eq!(new.metadata.annotations[REVISION_ANNOTATION], "2");
    let d = stored(&h);
    assert_eq!(d.metadata.annotations[REVISION_ANNOTATION], "2");
    assert_eq!(d.status.updated_replicas, 10);
    assert_eq!(
        condition(&d, DeploymentConditionType::Progressing).reason,
        NEW_RS_AVAILABLE_REASON
    );
    let events = events(&h);
    assert!(events.contains(&format!("Scaled up replica set {} to 3", new.metadata.name)));
    assert!(events.contains(&format!(
        "Scaled down replica set {} to 8 from 10",
        old.metadata.name
    )));
}

#[test]
fn recreate_scales_old_pods_away_before_the_new_replica_set_comes_up() {
    let mut h = harness();
    let mut v1 = web(3, "nginx:1");
    v1.spec.strategy.type_ = Some(DeploymentStrategyType::Recreate);
    roll_out(&mut h, v1.clone());
    let old = rs_with_image(&h, "nginx:1");
    // One of the old pods, bound and running.
    let pod = crate::pods::pod_from_template(
        &old.spec.template,
        Kind::ReplicaSet,
        &old.metadata,
        "",
        Some("web-old-pod".into()),
    );
    h.store.create(pod.into(), h.now).unwrap();
    h.bind(NS, "web-old-pod", "node-1");
    h.set_pod_status(NS, "web-old-pod", PodPhase::Running, true);

    h.advance(Duration::from_secs(10));
    let mut v2 = v1.clone();
    v2.spec.template.spec.containers[0].image = "nginx:2".into();
    apply(&mut h, v2);
    // The old ReplicaSet goes to zero; no new one while old pods remain.
    assert_eq!(replica_sets(&h).len(), 1);
    assert_eq!(rs_with_image(&h, "nginx:1").spec.replicas, Some(0));
    assert!(events(&h).contains(&format!(
        "Scaled down replica set {} to 0 from 3",
        old.metadata.name
    )));
    // The ReplicaSet reports its pods gone, but one is still terminating.
    all_ready(&mut h);
    h.store
        .delete(
            Kind::Pod,
            NS,
            "web-old-pod",
            &DeleteOptions::default(),
            h.now,
        )
        .unwrap();
    h.settle();
    assert_eq!(replica_sets(&h).len(), 1);
    // Its kubelet finishes the deletion: the new ReplicaSet comes up at full size.
    h.finish_deletion(NS, "web-old-pod");
    let new = rs_with_image(&h, "nginx:2");
    assert_eq!(new.spec.replicas, Some(3));
    assert!(events(&h).contains(&format!("Scaled up replica set {} to 3", new.metadata.name)));
    all_ready(&mut h);
    assert!(complete(&h));
}

#[test]
fn a_paused_deployment_scales_but_does_not_roll_out_until_resumed() {
    let mut h = harness();
    roll_out(&mut h, web(3, "nginx:1"));
    let mut paused = web(3, "nginx:1");
    paused.spec.paused = true;
    apply(&mut h, paused.clone());
    let d = stored(&h);
    let progressing = condition(&d, DeploymentConditionType::Progressing);
    assert_eq!(progressing.status, ConditionStatus::Unknown);
    assert_eq!(progressing.reason, PAUSED_DEPLOY_REASON);
    assert_eq!(progressing.message, "Deployment is paused");

    // A template change is not rolled out; a scale is applied.
    paused.spec.template.spec.containers[0].image = "nginx:2".into();
    paused.spec.replicas = Some(5);
    apply(&mut h, paused.clone());
    assert_eq!(replica_sets(&h).len(), 1);
    assert_eq!(rs_with_image(&h, "nginx:1").spec.replicas, Some(5));
    all_ready(&mut h);
    assert_eq!(stored(&h).status.available_replicas, 5);

    let before_resume = h.store.resource_version();
    h.advance(Duration::from_secs(10));
    paused.spec.paused = false;
    apply(&mut h, paused);
    // The resumed condition was written on the way to the rollout.
    let resumed = h
        .store
        .changes_since(before_resume)
        .unwrap()
        .any(|e| match &*e.object {
            Object::Deployment(d) => get_condition(&d.status, DeploymentConditionType::Progressing)
                .is_some_and(|c| c.reason == RESUMED_DEPLOY_REASON),
            _ => false,
        });
    assert!(resumed);
    assert_eq!(replica_sets(&h).len(), 2);
    for _ in 0..20 {
        all_ready(&mut h);
    }
    assert!(complete(&h));
    assert_eq!(rs_with_image(&h, "nginx:2").spec.replicas, Some(5));
}

#[test]
fn a_stuck_rollout_exceeds_its_progress_deadline() {
    let mut h = harness();
    let mut d = web(3, "nginx:broken");
    d.spec.progress_deadline_seconds = Some(30);
    apply(&mut h, d);
    // Pods are created but never become available.
    play_replica_sets(&mut h, &|_| false);
    let progressing = condition(&stored(&h), DeploymentConditionType::Progressing);
    assert_eq!(progressing.status, ConditionStatus::True);
    assert_eq!(progressing.reason, REPLICA_SET_UPDATED_REASON);
    let progress_at = progressing.last_update_time.unwrap();

    h.advance(Duration::from_secs(20));
    assert_eq!(
        condition(&stored(&h), DeploymentConditionType::Progressing).status,
        ConditionStatus::True
    );
    // The controller asked to be woken just after the deadline.
    assert!(h.advance_to_next_wakeup(Duration::from_secs(60)));
    assert!(h.now > progress_at + Duration::from_secs(30));
    let d = stored(&h);
    let progressing = condition(&d, DeploymentConditionType::Progressing);
    assert_eq!(progressing.status, ConditionStatus::False);
    assert_eq!(progressing.reason, TIMED_OUT_REASON);
    let rs = &replica_sets(&h)[0];
    assert_eq!(
        progressing.message,
        format!(
            "ReplicaSet {:?} has timed out progressing.",
            rs.metadata.name
        )
    );
    // Timed out is final until progress: no more wake-ups.
    assert!(!h.advance_to_next_wakeup(Duration::from_secs(3600)));
}

#[test]
fn scaling_mid_rollout_is_proportional_as_documented() {
    // kubernetes.io, Deployments, "Proportional scaling": 10 replicas, maxSurge 3,
    // maxUnavailable 2, a rollout to an image that never becomes ready, then scaled to 15.
    let mut h = harness();
    roll_out(&mut h, rolling(web(10, "nginx:1.14.2"), 3, 2));
    h.advance(Duration::from_secs(10));
    apply(&mut h, rolling(web(10, "nginx:sometag"), 3, 2));
    for _ in 0..5 {
        play_replica_sets(&mut h, &|image| image != "nginx:sometag");
    }
    assert_eq!(rs_with_image(&h, "nginx:1.14.2").spec.replicas, Some(8));
    assert_eq!(rs_with_image(&h, "nginx:sometag").spec.replicas, Some(5));

    apply(&mut h, rolling(web(15, "nginx:sometag"), 3, 2));
    let old = rs_with_image(&h, "nginx:1.14.2");
    let new = rs_with_image(&h, "nginx:sometag");
    // 3 of the 5 new replicas to the old ReplicaSet, 2 to the new one.
    assert_eq!(old.spec.replicas, Some(11));
    assert_eq!(new.spec.replicas, Some(7));
    assert_eq!(old.metadata.annotations[DESIRED_REPLICAS_ANNOTATION], "15");
    assert_eq!(new.metadata.annotations[MAX_REPLICAS_ANNOTATION], "18");
    let events = events(&h);
    assert!(events.contains(&format!(
        "Scaled up replica set {} to 11 from 8",
        old.metadata.name
    )));
    assert!(events.contains(&format!(
        "Scaled up replica set {} to 7 from 5",
        new.metadata.name
    )));
}

#[test]
fn old_revisions_beyond_the_history_limit_are_deleted() {
    let mut h = harness();
    for (i, image) in ["v1", "v2", "v3", "v4"].into_iter().enumerate() {
        let mut d = web(2, image);
        d.spec.revision_history_limit = Some(2);
        h.advance(Duration::from_secs(10));
        roll_out(&mut h, d);
        assert_eq!(replica_sets(&h).len(), (i + 1).min(3));
    }
    let mut revisions: Vec<String> = replica_sets(&h)
        .iter()
        .map(|rs| rs.metadata.annotations[REVISION_ANNOTATION].clone())
        .collect();
    revisions.sort();
    assert_eq!(revisions, ["2", "3", "4"]);
    assert!(replica_sets(&h).iter().all(|rs| image_of(rs) != "v1"));
}

#[test]
fn rollback_restores_the_previous_or_a_given_revision() {
    let mut h = harness();
    for image in ["v1", "v2", "v3"] {
        h.advance(Duration::from_secs(10));
        roll_out(&mut h, web(2, image));
    }
    let history: Vec<i64> = rollout_history(&h.store, NS, "web")
        .iter()
        .map(|(r, _)| *r)
        .collect();
    assert_eq!(history, [1, 2, 3]);

    // Undo: back to revision 2, whose ReplicaSet becomes revision 4.
    let v2 = rs_with_image(&h, "v2");
    let outcome = rollback(&mut h.store, NS, "web", None, h.now).unwrap();
    assert_eq!(outcome, RollbackOutcome::RolledBack { revision: 2 });
    assert_eq!(outcome.to_string(), "rolled back");
    let d = stored(&h);
    assert_eq!(d.spec.template.spec.containers[0].image, "v2");
    assert!(!d
        .spec
        .template
        .metadata
        .labels
        .contains_key(POD_TEMPLATE_HASH_LABEL));
    h.settle();
    for _ in 0..20 {
        all_ready(&mut h);
    }
    assert!(complete(&h));
    let reused = rs_with_image(&h, "v2");
    assert_eq!(reused.metadata.name, v2.metadata.name);
    assert_eq!(reused.spec.replicas, Some(2));
    assert_eq!(reused.metadata.annotations[REVISION_ANNOTATION], "4");
    assert_eq!(
        reused.metadata.annotations[REVISION_HISTORY_ANNOTATION],
        "2"
    );
    assert_eq!(stored(&h).metadata.annotations[REVISION_ANNOTATION], "4");
    let history: Vec<i64> = rollout_history(&h.store, NS, "web")
        .iter()
        .map(|(r, _)| *r)
        .collect();
    assert_eq!(history, [1, 3, 4]);

    // To a given revision.
    h.advance(Duration::from_secs(10));
    let outcome = rollback(&mut h.store, NS, "web", Some(1), h.now).unwrap();
    assert_eq!(outcome, RollbackOutcome::RolledBack { revision: 1 });
    h.settle();
    for _ in 0..20 {
        all_ready(&mut h);
    }
    assert_eq!(
        rs_with_image(&h, "v1").metadata.annotations[REVISION_ANNOTATION],
        "5"
    );
    assert_eq!(rs_with_image(&h, "v1").spec.replicas, Some(2));

    // Refusals and no-ops, in kubectl's words.
    let skipped = rollback(&mut h.store, NS, "web", Some(5), h.now).unwrap();
    assert_eq!(
        skipped.to_string(),
        "skipped rollback (current template already matches revision 5)"
    );
    let err = rollback(&mut h.store, NS, "web", Some(9), h.now).unwrap_err();
    assert_eq!(err, RollbackError::RevisionNotFound(9));
    assert_eq!(
        err.to_string(),
        "unable to find specified revision 9 in history"
    );
    let err = rollback(&mut h.store, NS, "nope", None, h.now).unwrap_err();
    assert_eq!(err.to_string(), "deployments.apps \"nope\" not found");
}

#[test]
fn rollback_without_history_or_while_paused_is_refused() {
    let mut h = harness();
    roll_out(&mut h, web(1, "v1"));
    let err = rollback(&mut h.store, NS, "web", None, h.now).unwrap_err();
    assert_eq!(
        err.to_string(),
        "no rollout history found for deployment \"web\""
    );
    let mut paused = web(1, "v1");
    paused.spec.paused = true;
    apply(&mut h, paused);
    assert_eq!(
        rollback(&mut h.store, NS, "web", None, h.now).unwrap_err(),
        RollbackError::Paused
    );
}

#[test]
fn a_name_taken_by_another_template_bumps_the_collision_count() {
    let mut h = harness();
    let mut d = web(2, "nginx:1");
    d.spec.paused = true;
    apply(&mut h, d.clone());
    assert!(replica_sets(&h).is_empty());
    let template = stored(&h).spec.template;
    let hash = template_hash(&template, None);
    // Someone else's ReplicaSet already has the name the new one would get.
    let squatter: ReplicaSet = serde_json::from_value(serde_json::json!({
        "metadata": {"name": format!("web-{hash}"), "namespace": NS, "labels": {"app": "other"}},
        "spec": {
            "replicas": 0,
            "selector": {"matchLabels": {"app": "other"}},
            "template": {
                "metadata": {"labels": {"app": "other"}},
                "spec": {"containers": [{"name": "c", "image": "other"}]}
            }
        }
    }))
    .unwrap();
    h.store.create(squatter.into(), h.now).unwrap();
    h.settle();

    d.spec.paused = false;
    apply(&mut h, d);
    h.advance(Duration::from_secs(1));
    let d = stored(&h);
    assert_eq!(d.status.collision_count, Some(1));
    let ours = rs_with_image(&h, "nginx:1");
    assert_eq!(
        ours.metadata.name,
        format!("web-{}", template_hash(&template, Some(1)))
    );
    assert_eq!(ours.spec.replicas, Some(2));
    // The squatter was left alone.
    let other = rs_with_image(&h, "other");
    assert!(other.metadata.owner_references.is_empty());
}

#[test]
fn a_matching_orphan_replica_set_is_adopted_and_a_mismatching_one_released() {
    let mut h = harness();
    let orphan: ReplicaSet = serde_json::from_value(serde_json::json!({
        "metadata": {"name": "web-manual", "namespace": NS, "labels": {"app": "web"}},
        "spec": {
            "replicas": 1,
            "selector": {"matchLabels": {"app": "web"}},
            "template": {
                "metadata": {"labels": {"app": "web"}},
                "spec": {"containers": [{"name": "nginx", "image": "nginx:0"}]}
            }
        }
    }))
    .unwrap();
    h.store.create(orphan.into(), h.now).unwrap();
    h.settle();
    apply(&mut h, web(2, "nginx:1"));
    let uid = stored(&h).metadata.uid;
    let adopted = rs_with_image(&h, "nginx:0");
    assert!(is_controlled_by(&adopted.metadata, &uid));

    // Its labels change so that the selector no longer matches: released.
    let mut relabeled = adopted.clone();
    relabeled
        .metadata
        .labels
        .insert("app".into(), "gone".into());
    relabeled
        .spec
        .selector
        .as_mut()
        .unwrap()
        .match_labels
        .insert("app".into(), "gone".into());
    relabeled
        .spec
        .template
        .metadata
        .labels
        .insert("app".into(), "gone".into());
    relabeled.metadata.resource_version.clear();
    // The selector is immutable: recreate it instead.
    h.store
        .delete(
            Kind::ReplicaSet,
            NS,
            "web-manual",
            &DeleteOptions::default(),
            h.now,
        )
        .unwrap();
    relabeled.metadata.uid.clear();
    h.store.create(relabeled.into(), h.now).unwrap();
    h.settle();
    apply(&mut h, web(3, "nginx:1"));
    let released = rs_with_image(&h, "nginx:0");
    assert!(released.metadata.owner_references.is_empty());
    // The Deployment's own ReplicaSet stays.
    assert!(is_controlled_by(
        &rs_with_image(&h, "nginx:1").metadata,
        &uid
    ));
}

#[test]
fn with_the_replica_set_controller_a_rollout_replaces_every_pod() {
    let mut h = Harness::new(vec![
        Box::new(DeploymentController::new()),
        Box::new(crate::replica_set::ReplicaSetController::new()),
    ]);
    apply(&mut h, rolling(web(3, "nginx:1"), 1, 0));
    h.make_pods_ready(NS, "node-1");
    assert!(complete(&h));
    assert_eq!(h.pods(NS).len(), 3);

    h.advance(Duration::from_secs(10));
    apply(&mut h, rolling(web(3, "nginx:2"), 1, 0));
    let mut steps = 0;
    while !complete(&h) {
        steps += 1;
        assert!(steps < 30, "the rollout does not finish");
        // maxUnavailable 0: never fewer than 3 ready pods, never more than 4 pods.
        let active: Vec<_> = h
            .pods(NS)
            .into_iter()
            .filter(|p| p.metadata.deletion_timestamp.is_none())
            .collect();
        assert!(active.len() <= 4, "{} pods", active.len());
        assert!(active.iter().filter(|p| p.is_ready()).count() >= 3);
        h.make_pods_ready(NS, "node-1");
        h.finish_all_deletions(NS);
    }
    let pods = h.pods(NS);
    assert_eq!(pods.len(), 3);
    assert!(pods
        .iter()
        .all(|p| p.spec.containers[0].image == "nginx:2" && p.is_ready()));
    assert_eq!(rs_with_image(&h, "nginx:1").status.replicas, 0);
}
