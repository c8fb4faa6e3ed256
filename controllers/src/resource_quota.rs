//! The resource quota controller (kube-controller-manager's `resourcequota-controller`,
//! pkg/controller/resourcequota/resource_quota_controller.go and resource_quota_monitor.go,
//! v1.34): keeps each ResourceQuota's `status` equal to what its namespace uses.
//!
//! Admission (the store's `admission` module) already refuses a write that would pass a quota
//! and keeps `status.used` in step with every write, so this controller's job is the one
//! Kubernetes gives it: recompute usage from what is stored and correct any drift
//! (`syncResourceQuota`). It writes `status.hard = spec.hard` and `status.used` = the usage of
//! the objects in the namespace that the quota's scopes select, for exactly the resources of
//! `spec.hard` (`quota.Mask`), using the same evaluators as admission
//! ([`usage_of`]: `pods`, `requests.cpu`, `limits.memory`, `services`, `configmaps`,
//! `persistentvolumeclaims`, `requests.storage`, `count/<resource>`, …). It writes only a change.
//!
//! A quota is synced when it changes, when something of its namespace is deleted or a pod
//! finishes (the replenishment of resource_quota_monitor.go), and every five minutes
//! (`--resource-quota-sync-period`).

use flotilla_model::api::ResourceQuota;
/// Whether a quota's scopes select an object: admission's own function, so that the
/// controller counts exactly what admission charges.
pub use flotilla_model::store::admission::quota_selects;
use flotilla_model::store::admission::usage_of;
use flotilla_model::store::{ObjectKey, Store, WatchEvent, WatchEventType};
use flotilla_model::{Duration, Kind, Object, Quantity, ResourceList};

use crate::controller::{Action, Context, Controller, Lookup, ReconcileError};

/// The controller's name in kube-controller-manager.
pub const CONTROLLER_NAME: &str = "resourcequota-controller";

/// kube-controller-manager's default `--resource-quota-sync-period`.
pub const RESOURCE_QUOTA_SYNC_PERIOD: Duration = Duration::from_secs(5 * 60);

/// The namespaced kinds, whose deletions replenish quota.
const NAMESPACED_KINDS: &[Kind] = &[
    Kind::Pod,
    Kind::Service,
    Kind::ConfigMap,
    Kind::Secret,
    Kind::PersistentVolumeClaim,
    Kind::ResourceQuota,
    Kind::LimitRange,
    Kind::Deployment,
    Kind::ReplicaSet,
    Kind::DaemonSet,
    Kind::StatefulSet,
    Kind::Job,
    Kind::CronJob,
    Kind::HorizontalPodAutoscaler,
    Kind::PodDisruptionBudget,
    Kind::EndpointSlice,
];

/// The resource quota controller. See the [module docs](self).
#[derive(Clone, Debug, Default)]
pub struct ResourceQuotaController;

impl ResourceQuotaController {
    /// A resource quota controller.
    pub fn new() -> ResourceQuotaController {
        ResourceQuotaController
    }
}

/// `quota.CalculateUsage` masked to `spec.hard`: the usage of every object in the quota's
/// namespace that it selects (itself included, for `count/resourcequotas`), with every resource
/// of `spec.hard` present.
pub fn calculate_usage(store: &Store, quota: &ResourceQuota) -> ResourceList {
    let mut used: ResourceList = quota
        .spec
        .hard
        .keys()
        .map(|k| (k.clone(), Quantity::default()))
        .collect();
    let namespace = &quota.metadata.namespace;
    for &kind in NAMESPACED_KINDS {
        for object in store.iter_namespace(kind, namespace) {
            if !quota_selects(quota, object) {
                continue;
            }
            for (resource, q) in usage_of(object) {
                if let Some(total) = used.get_mut(&resource) {
                    *total = total.saturating_add(q);
                }
            }
        }
    }
    used
}

/// The keys of the quotas of `namespace`.
fn quotas_of(store: &Store, namespace: &str) -> Vec<ObjectKey> {
    store
        .iter_namespace(Kind::ResourceQuota, namespace)
        .map(|o| ObjectKey::of(o))
        .collect()
}

impl Controller for ResourceQuotaController {
    fn name(&self) -> &'static str {
        CONTROLLER_NAME
    }

    fn watched_kinds(&self) -> &'static [Kind] {
        NAMESPACED_KINDS
    }

    fn keys_for_event(&self, event: &WatchEvent, lookup: Lookup<'_>) -> Vec<ObjectKey> {
        let deleted = event.event_type == WatchEventType::Deleted;
        let namespace = &event.object.metadata().namespace;
        match &*event.object {
            Object::ResourceQuota(_) if !deleted => vec![ObjectKey::of(&event.object)],
            Object::ResourceQuota(_) => Vec::new(),
            // resource_quota_monitor.go: deletions replenish; so does a pod that finishes
            // (the pod evaluator stops charging it), and a Service or claim that changes.
            _ if deleted => quotas_of(lookup.store, namespace),
            Object::Pod(pod) if pod.phase().is_terminal() => quotas_of(lookup.store, namespace),
            Object::Service(_) | Object::PersistentVolumeClaim(_) => {
                quotas_of(lookup.store, namespace)
            }
            _ => Vec::new(),
        }
    }

    fn reconcile(
        &mut self,
        key: &ObjectKey,
        ctx: &mut Context<'_>,
    ) -> Result<Action, ReconcileError> {
        let Some(Object::ResourceQuota(quota)) = ctx
            .store
            .get(Kind::ResourceQuota, &key.namespace, &key.name)
            .as_deref()
            .cloned()
        else {
            return Ok(Action::await_change());
        };
        // syncResourceQuota: hard from the spec, used recalculated; written only on change.
        let used = calculate_usage(ctx.store, &quota);
        if quota.status.hard != quota.spec.hard || quota.status.used != used {
            let mut fresh = quota;
            fresh.status.hard = fresh.spec.hard.clone();
            fresh.status.used = used;
            ctx.store.update_status(fresh.into(), ctx.now)?;
        }
        Ok(Action::requeue(RESOURCE_QUOTA_SYNC_PERIOD))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::Harness;
    use flotilla_model::api::PodPhase;

    fn apply(h: &mut Harness, yaml: &str) {
        let manifests = flotilla_model::manifest::parse_str("t.yaml", yaml).unwrap();
        for m in manifests.objects {
            h.apply(m.object).unwrap();
        }
    }

    fn quota(h: &Harness, name: &str) -> ResourceQuota {
        h.stored("default", name)
    }

    fn q(s: &str) -> Quantity {
        s.parse().unwrap()
    }

    fn pod(name: &str, cpu: &str) -> String {
        format!("apiVersion: v1\nkind: Pod\nmetadata: {{name: {name}}}\nspec:\n  containers:\n  - name: c\n    image: busybox\n    resources: {{requests: {{cpu: {cpu}, memory: 64Mi}}, limits: {{cpu: {cpu}, memory: 128Mi}}}}\n")
    }

    const QUOTA: &str = "apiVersion: v1\nkind: ResourceQuota\nmetadata: {name: q}\nspec:\n  hard: {pods: \"5\", requests.cpu: \"2\", limits.memory: 1Gi, configmaps: \"3\", persistentvolumeclaims: \"2\", requests.storage: 10Gi, count/services: \"4\"}\n";

    #[test]
    fn drifted_usage_is_recalculated_from_the_store() {
        let mut h = Harness::new(vec![Box::new(ResourceQuotaController::new())]);
        apply(&mut h, QUOTA);
        apply(&mut h, &pod("a", "500m"));
        apply(&mut h, &pod("b", "250m"));
        apply(
            &mut h,
            "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: cm}\n",
        );
        apply(&mut h, "apiVersion: v1\nkind: PersistentVolumeClaim\nmetadata: {name: data}\nspec:\n  accessModes: [ReadWriteOnce]\n  resources: {requests: {storage: 3Gi}}\n");
        // Corrupt the status as a lost update would.
        let mut bad = quota(&h, "q");
        bad.status.used.insert("pods".into(), q("9"));
        bad.status.used.remove("configmaps");
        h.store.update_status(bad.into(), h.now).unwrap();
        h.settle();
        let used = quota(&h, "q").status.used;
        let expected: ResourceList = [
            ("pods", "2"),
            ("requests.cpu", "750m"),
            ("limits.memory", "256Mi"),
            ("configmaps", "1"),
            ("persistentvolumeclaims", "1"),
            ("requests.storage", "3Gi"),
            ("count/services", "0"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), q(v)))
        .collect();
        assert_eq!(used, expected);
        assert_eq!(quota(&h, "q").status.hard, quota(&h, "q").spec.hard);
    }

    #[test]
    fn a_finished_pod_stops_counting_and_the_quota_is_resynced_periodically() {
        let mut h = Harness::new(vec![Box::new(ResourceQuotaController::new())]);
        apply(&mut h, QUOTA);
        apply(&mut h, &pod("a", "500m"));
        h.bind("default", "a", "n1");
        h.set_pod_status("default", "a", PodPhase::Succeeded, false);
        let used = quota(&h, "q").status.used;
        assert_eq!(used.get("pods"), Some(&q("0")));
        assert_eq!(used.get("requests.cpu"), Some(&q("0")));
        // Every quota is synced again after the re-sync period, event or not.
        assert_eq!(
            h.manager.next_wakeup(),
            Some(h.now.saturating_add(RESOURCE_QUOTA_SYNC_PERIOD))
        );
        let before = h.manager.reconciles();
        assert!(h.advance_to_next_wakeup(RESOURCE_QUOTA_SYNC_PERIOD));
        assert_eq!(h.manager.reconciles(), before + 1);
    }

    #[test]
    fn a_scoped_quota_counts_only_the_pods_it_selects() {
        let mut h = Harness::new(vec![Box::new(ResourceQuotaController::new())]);
        apply(&mut h, "apiVersion: v1\nkind: ResourceQuota\nmetadata: {name: be}\nspec:\n  hard: {pods: \"10\"}\n  scopes: [BestEffort]\n");
        apply(&mut h, &pod("guaranteed", "100m"));
        apply(&mut h, "apiVersion: v1\nkind: Pod\nmetadata: {name: besteffort}\nspec:\n  containers: [{name: c, image: busybox}]\n");
        assert_eq!(
            calculate_usage(&h.store, &quota(&h, "be")).get("pods"),
            Some(&q("1"))
        );
        assert_eq!(quota(&h, "be").status.used.get("pods"), Some(&q("1")));
    }
}
