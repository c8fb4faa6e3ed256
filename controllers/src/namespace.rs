//! The namespace controller (kube-controller-manager's `namespace-controller`,
//! pkg/controller/namespace/namespace_controller.go and
//! pkg/controller/namespace/deletion/namespaced_resources_deleter.go, v1.34): empties a
//! namespace that is being deleted and then lets it go.
//!
//! Deleting a namespace (the store's `delete`) only marks it: it gets a `deletionTimestamp` and
//! the phase `Terminating`, admission refuses new content in it, and it stays while its
//! `spec.finalizers` holds `kubernetes`. This controller then (`Delete`, `deleteAllContent`):
//!
//! 1. deletes every object of every namespaced kind in it, with background propagation (pods
//!    bound to a node are deleted gracefully, so their kubelets stop them first);
//! 2. lists again and reports what is left in the namespace's conditions —
//!    `NamespaceDeletionDiscoveryFailure`, `NamespaceDeletionGroupVersionParsingFailure`,
//!    `NamespaceDeletionContentFailure`, `NamespaceContentRemaining`,
//!    `NamespaceFinalizersRemaining` (`status: "False"` with the "ok" reasons when all is well,
//!    `"True"` with `SomeResourcesRemain: pods has 2 resource instances` and the like when not);
//! 3. while anything remains, tries again after half the estimated time plus a second
//!    (`ResourcesRemainingError`): the longest termination grace period of the remaining pods,
//!    or 5 s for objects held by finalizers;
//! 4. once the namespace is empty, removes the `kubernetes` finalizer (`finalizeNamespace`), and
//!    the store removes the namespace.

use std::collections::BTreeMap;

use flotilla_model::api::{
    ConditionStatus, Namespace, NamespaceCondition, NamespacePhase, Pod, FINALIZER_KUBERNETES,
};
use flotilla_model::store::{
    DeleteOptions, ObjectKey, PropagationPolicy, StoreError, WatchEvent, WatchEventType,
};
use flotilla_model::{Duration, Kind, Object};

use crate::controller::{get_typed, Action, Context, Controller, Lookup, ReconcileError};

/// The controller's name in kube-controller-manager.
pub const CONTROLLER_NAME: &str = "namespace-controller";

/// Condition: discovering the namespaced resources failed.
pub const NAMESPACE_DELETION_DISCOVERY_FAILURE: &str = "NamespaceDeletionDiscoveryFailure";
/// Condition: parsing group versions failed.
pub const NAMESPACE_DELETION_GV_PARSING_FAILURE: &str =
    "NamespaceDeletionGroupVersionParsingFailure";
/// Condition: deleting some content failed.
pub const NAMESPACE_DELETION_CONTENT_FAILURE: &str = "NamespaceDeletionContentFailure";
/// Condition: some content remains.
pub const NAMESPACE_CONTENT_REMAINING: &str = "NamespaceContentRemaining";
/// Condition: some content is held by finalizers.
pub const NAMESPACE_FINALIZERS_REMAINING: &str = "NamespaceFinalizersRemaining";

/// deletion/status_condition_utils.go: every condition type, with the reason and message it
/// has when nothing is wrong.
const CONDITIONS_OK: [(&str, &str, &str); 5] = [
    (
        NAMESPACE_DELETION_DISCOVERY_FAILURE,
        "ResourcesDiscovered",
        "All resources successfully discovered",
    ),
    (
        NAMESPACE_DELETION_GV_PARSING_FAILURE,
        "ParsedGroupVersions",
        "All legacy kube types successfully parsed",
    ),
    (
        NAMESPACE_DELETION_CONTENT_FAILURE,
        "ContentDeleted",
        "All content successfully deleted, may be waiting on finalization",
    ),
    (
        NAMESPACE_CONTENT_REMAINING,
        "ContentRemoved",
        "All content successfully removed",
    ),
    (
        NAMESPACE_FINALIZERS_REMAINING,
        "ContentHasNoFinalizers",
        "All content-preserving finalizers finished",
    ),
];

/// deletion `finalizerEstimateSeconds`: how long objects held by finalizers are given.
const FINALIZER_ESTIMATE_SECONDS: i64 = 5;

/// The grace period of a pod that states none (core/v1 default, 30 s).
const DEFAULT_TERMINATION_GRACE_SECONDS: i64 = 30;

/// The namespace controller. See the [module docs](self).
#[derive(Clone, Debug, Default)]
pub struct NamespaceController;

impl NamespaceController {
    /// A namespace controller.
    pub fn new() -> NamespaceController {
        NamespaceController
    }
}

/// What one pass of `deleteAllContent` found.
#[derive(Debug, Default)]
struct ContentReport {
    /// Seconds until what remains should be gone (0: nothing is expected to go by itself).
    estimate: i64,
    /// Remaining objects per resource (`pods.`, `deployments.apps`).
    remaining: BTreeMap<String, usize>,
    /// Remaining objects per finalizer that holds them.
    finalizers: BTreeMap<String, usize>,
    /// Deletions that failed, as messages.
    delete_errors: Vec<String>,
    /// Resources with objects left that nothing explains (no finalizer, no grace period).
    unexpected: Vec<String>,
}

/// `estimateGracefulTerminationForPods`: the longest grace period of the pods that have not
/// finished.
fn pod_estimate(pod: &Pod) -> i64 {
    if pod.phase().is_terminal() {
        return 0;
    }
    pod.spec
        .termination_grace_period_seconds
        .unwrap_or(DEFAULT_TERMINATION_GRACE_SECONDS)
        .max(0)
}

/// `deleteAllContent`: deletes every namespaced object in `namespace` and reports what is left.
fn delete_all_content(ctx: &mut Context<'_>, namespace: &str) -> ContentReport {
    let mut report = ContentReport::default();
    let options = DeleteOptions {
        propagation_policy: PropagationPolicy::Background,
        ..Default::default()
    };
    for &kind in Kind::ALL.iter().filter(|k| k.namespaced()) {
        let names: Vec<String> = ctx
            .store
            .iter_namespace(kind, namespace)
            .map(|o| o.metadata().name.clone())
            .collect();
        if names.is_empty() {
            continue;
        }
        // deleteCollection, object by object.
        for name in &names {
            match ctx.store.delete(kind, namespace, name, &options, ctx.now) {
                Ok(_) | Err(StoreError::NotFound { .. }) => {}
                Err(e) => report.delete_errors.push(e.to_string()),
            }
        }
        // List again: what is left, why, and for how long.
        let mut count = 0;
        let mut estimate = 0;
        let mut finalized = 0;
        for object in ctx.store.iter_namespace(kind, namespace) {
            count += 1;
            if let Object::Pod(pod) = &**object {
                estimate = estimate.max(pod_estimate(pod));
            }
            let finalizers = &object.metadata().finalizers;
            if !finalizers.is_empty() {
                finalized += 1;
            }
            for f in finalizers {
                *report.finalizers.entry(f.clone()).or_default() += 1;
            }
        }
        if count == 0 {
            continue;
        }
        // status_condition_utils.go names a resource `<resource>.<group>` (`pods.`).
        let resource = format!("{}.{}", kind.plural(), kind.group());
        report.remaining.insert(resource.clone(), count);
        if estimate == 0 && finalized > 0 {
            estimate = FINALIZER_ESTIMATE_SECONDS;
        }
        if estimate == 0 {
            report.unexpected.push(resource);
        }
        report.estimate = report.estimate.max(estimate);
    }
    report
}

/// The namespace's conditions after a pass (`conditionUpdater.Update`): every type, `False`
/// with its "ok" reason unless the pass found trouble of that type; a condition keeps its
/// transition time while its status, reason and message stay.
fn conditions(
    old: &[NamespaceCondition],
    report: &ContentReport,
    now: flotilla_model::Time,
) -> Vec<NamespaceCondition> {
    // Sorted "for stable updates".
    let listed = |m: &BTreeMap<String, usize>, verb: &str| {
        let mut items: Vec<String> = m
            .iter()
            .map(|(k, n)| format!("{k} {verb} {n} resource instances"))
            .collect();
        items.sort();
        items.join(", ")
    };
    CONDITIONS_OK
        .iter()
        .map(|&(kind, ok_reason, ok_message)| {
            let failure = match kind {
                NAMESPACE_DELETION_CONTENT_FAILURE if !report.delete_errors.is_empty() => Some((
                    "ContentDeletionFailed".to_string(),
                    format!(
                        "Failed to delete all resource types, {} remaining: {}",
                        report.delete_errors.len(),
                        report.delete_errors.join(", ")
                    ),
                )),
                NAMESPACE_CONTENT_REMAINING if !report.remaining.is_empty() => Some((
                    "SomeResourcesRemain".to_string(),
                    format!(
                        "Some resources are remaining: {}",
                        listed(&report.remaining, "has")
                    ),
                )),
                NAMESPACE_FINALIZERS_REMAINING if !report.finalizers.is_empty() => Some((
                    "SomeFinalizersRemain".to_string(),
                    format!(
                        "Some content in the namespace has finalizers remaining: {}",
                        listed(&report.finalizers, "in")
                    ),
                )),
                _ => None,
            };
            let (status, reason, message) = match failure {
                Some((reason, message)) => (ConditionStatus::True, reason, message),
                None => (
                    ConditionStatus::False,
                    ok_reason.to_string(),
                    ok_message.to_string(),
                ),
            };
            let kept = old.iter().find(|c| {
                c.r#type == kind && c.status == status && c.reason == reason && c.message == message
            });
            NamespaceCondition {
                r#type: kind.to_string(),
                status,
                last_transition_time: kept.and_then(|c| c.last_transition_time).or(Some(now)),
                reason,
                message,
            }
        })
        .collect()
}

impl Controller for NamespaceController {
    fn name(&self) -> &'static str {
        CONTROLLER_NAME
    }

    fn watched_kinds(&self) -> &'static [Kind] {
        &[Kind::Namespace]
    }

    fn keys_for_event(&self, event: &WatchEvent, _lookup: Lookup<'_>) -> Vec<ObjectKey> {
        if event.event_type == WatchEventType::Deleted
            || event.object.metadata().deletion_timestamp.is_none()
        {
            return Vec::new();
        }
        vec![ObjectKey::of(&event.object)]
    }

    fn reconcile(
        &mut self,
        key: &ObjectKey,
        ctx: &mut Context<'_>,
    ) -> Result<Action, ReconcileError> {
        let Some(ns) = get_typed::<Namespace>(ctx.store, "", &key.name) else {
            return Ok(Action::await_change());
        };
        if ns.metadata.deletion_timestamp.is_none() {
            return Ok(Action::await_change());
        }
        // updateNamespaceStatusFunc: a namespace being deleted is Terminating.
        if ns.status.phase != Some(NamespacePhase::Terminating) {
            let mut fresh = ns.clone();
            fresh.status.phase = Some(NamespacePhase::Terminating);
            ctx.store.update_status(fresh.into(), ctx.now)?;
        }
        // finalized: nothing left for this controller.
        if !ns.spec.finalizers.iter().any(|f| f == FINALIZER_KUBERNETES) {
            return Ok(Action::await_change());
        }
        let report = delete_all_content(ctx, &key.name);
        if let Some(mut fresh) = get_typed::<Namespace>(ctx.store, "", &key.name) {
            let new = conditions(&fresh.status.conditions, &report, ctx.now);
            if new != fresh.status.conditions {
                fresh.status.conditions = new;
                ctx.store.update_status(fresh.into(), ctx.now)?;
            }
        }
        if !report.delete_errors.is_empty() {
            return Err(ReconcileError::Other(format!(
                "deletion of namespace {} failed: {}",
                key.name,
                report.delete_errors.join(", ")
            )));
        }
        if report.estimate > 0 {
            // namespace_controller.go worker: ResourcesRemainingError → estimate/2 + 1 s.
            let wait = report.estimate / 2 + 1;
            return Ok(Action::requeue(Duration::from_secs(wait as u64)));
        }
        if !report.unexpected.is_empty() {
            return Err(ReconcileError::Other(format!(
                "unexpected items still remain in namespace: {} for {}",
                key.name,
                report.unexpected.join(", ")
            )));
        }
        // finalizeNamespace: take the `kubernetes` finalizer off; the store removes the
        // namespace once no finalizer is left.
        let Some(mut fresh) = get_typed::<Namespace>(ctx.store, "", &key.name) else {
            return Ok(Action::await_change());
        };
        fresh.spec.finalizers.retain(|f| f != FINALIZER_KUBERNETES);
        ctx.store.update(fresh.into(), ctx.now)?;
        Ok(Action::await_change())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::Harness;
    use flotilla_model::store::DeleteOptions;

    fn apply(h: &mut Harness, yaml: &str) {
        let manifests = flotilla_model::manifest::parse_str("t.yaml", yaml).unwrap();
        for m in manifests.objects {
            h.apply(m.object).unwrap();
        }
    }

    fn namespace(h: &Harness, name: &str) -> Option<Namespace> {
        h.get("", name)
    }

    fn condition(ns: &Namespace, kind: &str) -> (ConditionStatus, String, String) {
        let c = ns
            .status
            .conditions
            .iter()
            .find(|c| c.r#type == kind)
            .unwrap_or_else(|| panic!("no condition {kind}"));
        (c.status, c.reason.clone(), c.message.clone())
    }

    fn delete_namespace(h: &mut Harness, name: &str) {
        h.store
            .delete(Kind::Namespace, "", name, &DeleteOptions::default(), h.now)
            .unwrap();
        h.settle();
    }

    const CONTENT: &str = "
apiVersion: v1
kind: Namespace
metadata: {name: team}
---
apiVersion: v1
kind: ConfigMap
metadata: {name: settings, namespace: team}
data: {a: b}
---
apiVersion: v1
kind: Service
metadata: {name: web, namespace: team}
spec:
  selector: {app: web}
  ports: [{port: 80}]
---
apiVersion: v1
kind: Pod
metadata: {name: web-0, namespace: team}
spec:
  terminationGracePeriodSeconds: 20
  containers: [{name: web, image: nginx}]
";

    #[test]
    fn a_terminating_namespace_is_emptied_then_removed() {
        let mut h = Harness::new(vec![Box::new(NamespaceController::new())]);
        apply(&mut h, CONTENT);
        h.bind("team", "web-0", "node-1");
        delete_namespace(&mut h, "team");
        // Everything but the running pod is gone; the pod is terminating gracefully.
        assert!(h.store.get(Kind::ConfigMap, "team", "settings").is_none());
        assert!(h.store.get(Kind::Service, "team", "web").is_none());
        let pod = h.pod("team", "web-0").unwrap();
        assert!(pod.metadata.deletion_timestamp.is_some());
        let ns = namespace(&h, "team").unwrap();
        assert_eq!(ns.status.phase, Some(NamespacePhase::Terminating));
        assert_eq!(
            condition(&ns, NAMESPACE_CONTENT_REMAINING),
            (
                ConditionStatus::True,
                "SomeResourcesRemain".to_string(),
                "Some resources are remaining: pods. has 1 resource instances".to_string()
            )
        );
        assert_eq!(
            condition(&ns, NAMESPACE_DELETION_CONTENT_FAILURE),
            (
                ConditionStatus::False,
                "ContentDeleted".to_string(),
                "All content successfully deleted, may be waiting on finalization".to_string()
            )
        );
        assert_eq!(ns.status.conditions.len(), 5);
        // New content is refused meanwhile.
        let refused = flotilla_model::manifest::parse_str(
            "t.yaml",
            "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: late, namespace: team}\n",
        )
        .unwrap();
        let late = h.store.create(refused.objects[0].object.clone(), h.now);
        assert!(matches!(late, Err(StoreError::Forbidden(_))));
        // The kubelet finishes the pod; the controller looks again after 20/2 + 1 s.
        h.finish_deletion("team", "web-0");
        h.advance(Duration::from_secs(10));
        assert!(namespace(&h, "team").is_some());
        h.advance(Duration::from_secs(1));
        assert!(namespace(&h, "team").is_none());
    }

    #[test]
    fn finalizers_hold_the_namespace_until_they_are_removed() {
        let mut h = Harness::new(vec![Box::new(NamespaceController::new())]);
        apply(
            &mut h,
            "apiVersion: v1\nkind: Namespace\nmetadata: {name: team}\n---\napiVersion: v1\nkind: ConfigMap\nmetadata: {name: held, namespace: team, finalizers: [example.com/hold]}\n",
        );
        delete_namespace(&mut h, "team");
        let ns = namespace(&h, "team").unwrap();
        assert_eq!(
            condition(&ns, NAMESPACE_FINALIZERS_REMAINING),
            (
                ConditionStatus::True,
                "SomeFinalizersRemain".to_string(),
                "Some content in the namespace has finalizers remaining: example.com/hold in 1 resource instances".to_string()
            )
        );
        let Some(Object::ConfigMap(mut cm)) = h
            .store
            .get(Kind::ConfigMap, "team", "held")
            .as_deref()
            .cloned()
        else {
            panic!("no config map");
        };
        cm.metadata.finalizers.clear();
        h.store.update(cm.into(), h.now).unwrap();
        h.settle();
        assert!(h.store.get(Kind::ConfigMap, "team", "held").is_none());
        // 5/2 + 1 s after the last pass.
        h.advance(Duration::from_secs(3));
        assert!(namespace(&h, "team").is_none());
    }

    #[test]
    fn a_namespace_that_is_not_being_deleted_is_left_alone() {
        let mut h = Harness::new(vec![Box::new(NamespaceController::new())]);
        apply(&mut h, CONTENT);
        h.manager.enqueue(
            CONTROLLER_NAME,
            ObjectKey {
                kind: Kind::Namespace,
                namespace: String::new(),
                name: "team".into(),
            },
        );
        h.settle();
        assert!(h.store.get(Kind::ConfigMap, "team", "settings").is_some());
        assert!(namespace(&h, "team").unwrap().status.conditions.is_empty());
    }
}
