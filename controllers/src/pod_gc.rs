//! The pod garbage collector (pkg/controller/podgc/gc_controller.go, v1.34): removes pods that
//! no kubelet will ever finish.
//!
//! - **terminated pods** beyond `terminatedPodGCThreshold` (12 500), evicted ones first, then
//!   oldest first (`gcTerminated`);
//! - **orphaned pods**, bound to a node that does not exist, marked `Failed` with the
//!   `DisruptionTarget` condition (`DeletionByPodGC`) and force-deleted (`gcOrphaned`);
//! - **unscheduled terminating pods**: being deleted but never bound (`gcUnscheduledTerminating`);
//! - **terminating pods on an out-of-service node**: a node that is not ready and carries the
//!   `node.kubernetes.io/out-of-service` taint will not confirm their deletion
//!   (`gcTerminating`).
//!
//! Every deletion is forced (grace period 0), after the pod is marked `Failed` if it had not
//! finished (`markFailedAndDeletePodWithCondition`). Kubernetes sweeps every 20 s; here watch
//! events name the pods to look at, and a terminal pod's event queues the threshold sweep.

use flotilla_model::api::{ConditionStatus, Node, Pod, PodCondition, PodPhase};
use flotilla_model::store::{DeleteOptions, ObjectKey, StoreError, WatchEvent, WatchEventType};
use flotilla_model::{Kind, Object};

use crate::controller::{Action, Context, Controller, Lookup, ReconcileError};
use crate::eviction::{pods_on_node, set_pod_condition};
use crate::node_lifecycle::TAINT_NODE_OUT_OF_SERVICE;

/// kube-controller-manager's default `--terminated-pod-gc-threshold`.
pub const DEFAULT_TERMINATED_POD_GC_THRESHOLD: usize = 12_500;

/// The pod garbage collector. See the [module docs](self).
#[derive(Debug)]
pub struct PodGcController {
    terminated_pod_gc_threshold: usize,
    /// When the terminated-pod sweep last ran: it runs at most once per [`GC_CHECK_PERIOD`]
    /// (gc_controller.go runs it on a 20 s period), however many pods finish.
    last_sweep: Option<flotilla_model::Time>,
    /// The terminated pods seen in the watch events (kube-controller-manager counts them in its
    /// informer's cache), so that a sweep that finds no more than the threshold, which is
    /// nearly every one, costs nothing instead of a pass over every pod of the store. Behind
    /// a lock because [`Controller::keys_for_event`] takes `&self`; never contended.
    terminated: std::sync::Mutex<std::collections::HashSet<ObjectKey>>,
}

/// How often the terminated-pod sweep may run (gc_controller.go `gcCheckPeriod`, 20 s).
pub const GC_CHECK_PERIOD: flotilla_model::Duration = flotilla_model::Duration::from_secs(20);

impl Default for PodGcController {
    fn default() -> Self {
        PodGcController::with_threshold(DEFAULT_TERMINATED_POD_GC_THRESHOLD)
    }
}

impl PodGcController {
    /// A collector with the default threshold.
    pub fn new() -> PodGcController {
        PodGcController::default()
    }

    /// A collector that keeps at most `threshold` terminated pods (0 keeps them all, as
    /// `--terminated-pod-gc-threshold=0` disables that part).
    pub fn with_threshold(threshold: usize) -> PodGcController {
        PodGcController {
            terminated_pod_gc_threshold: threshold,
            last_sweep: None,
            terminated: Default::default(),
        }
    }
}

/// The key of the sweep over terminated pods (no pod has an empty name).
fn sweep_key() -> ObjectKey {
    ObjectKey {
        kind: Kind::Pod,
        namespace: String::new(),
        name: String::new(),
    }
}

/// gc_controller.go `isPodTerminated`.
fn is_terminated(pod: &Pod) -> bool {
    !matches!(
        pod.phase(),
        PodPhase::Pending | PodPhase::Running | PodPhase::Unknown
    )
}

/// nodeutil `IsNodeReady` plus the out-of-service taint (gc_controller.go `gcTerminating`).
fn out_of_service(node: &Node) -> bool {
    !node.is_ready()
        && node
            .spec
            .taints
            .iter()
            .any(|t| t.key == TAINT_NODE_OUT_OF_SERVICE)
}

/// What, if anything, the collector does to a pod other than the threshold sweep.
#[derive(Debug, PartialEq, Eq)]
enum Verdict {
    /// Bound to a node that does not exist.
    Orphaned,
    /// Being deleted, never bound.
    UnscheduledTerminating,
    /// Being deleted on an out-of-service node.
    TerminatingOutOfService,
}

fn verdict(store: &flotilla_model::store::Store, pod: &Pod) -> Option<Verdict> {
    let terminating = pod.metadata.deletion_timestamp.is_some();
    if pod.spec.node_name.is_empty() {
        return terminating.then_some(Verdict::UnscheduledTerminating);
    }
    match store.get(Kind::Node, "", &pod.spec.node_name).as_deref() {
        None => Some(Verdict::Orphaned),
        Some(Object::Node(node)) if terminating && out_of_service(node) => {
            Some(Verdict::TerminatingOutOfService)
        }
        _ => None,
    }
}

impl Controller for PodGcController {
    fn name(&self) -> &'static str {
        "pod-garbage-collector"
    }

    fn watched_kinds(&self) -> &'static [Kind] {
        &[Kind::Pod, Kind::Node]
    }

    fn keys_for_event(&self, event: &WatchEvent, lookup: Lookup<'_>) -> Vec<ObjectKey> {
        match &*event.object {
            Object::Pod(pod) => {
                if self.terminated_pod_gc_threshold > 0 {
                    let key = ObjectKey::of(&event.object);
                    let mut terminated = self.terminated.lock().unwrap_or_else(|e| e.into_inner());
                    if event.event_type != WatchEventType::Deleted && is_terminated(pod) {
                        terminated.insert(key);
                    } else {
                        terminated.remove(&key);
                    }
                }
                if event.event_type == WatchEventType::Deleted {
                    return Vec::new();
                }
                let mut keys = Vec::new();
                if self.terminated_pod_gc_threshold > 0 && is_terminated(pod) {
                    keys.push(sweep_key());
                }
                if verdict(lookup.store, pod).is_some() {
                    keys.push(ObjectKey::of(&event.object));
                }
                keys
            }
            Object::Node(node) => {
                let gone = event.event_type == WatchEventType::Deleted;
                if !gone && !out_of_service(node) {
                    return Vec::new();
                }
                pods_on_node(lookup.store, &node.metadata.name)
                    .iter()
                    .filter(|o| gone || o.metadata().deletion_timestamp.is_some())
                    .map(|o| ObjectKey::of(o))
                    .collect()
            }
            _ => Vec::new(),
        }
    }

    fn reconcile(
        &mut self,
        key: &ObjectKey,
        ctx: &mut Context<'_>,
    ) -> Result<Action, ReconcileError> {
        if *key == sweep_key() {
            if let Some(last) = self.last_sweep {
                let next = last.saturating_add(GC_CHECK_PERIOD);
                if ctx.now < next {
                    return Ok(Action::requeue(next.saturating_duration_since(ctx.now)));
                }
            }
            self.last_sweep = Some(ctx.now);
            self.gc_terminated(ctx)?;
            return Ok(Action::await_change());
        }
        let Some(Object::Pod(pod)) = ctx
            .store
            .get(Kind::Pod, &key.namespace, &key.name)
            .as_deref()
            .cloned()
        else {
            return Ok(Action::await_change());
        };
        match verdict(ctx.store, &pod) {
            Some(Verdict::Orphaned) => {
                let condition = PodCondition {
                    r#type: PodCondition::DISRUPTION_TARGET.into(),
                    status: ConditionStatus::True,
                    reason: "DeletionByPodGC".into(),
                    message: "PodGC: node no longer exists".into(),
                    ..Default::default()
                };
                mark_failed_and_delete(ctx, pod, Some(condition))?;
            }
            Some(Verdict::UnscheduledTerminating | Verdict::TerminatingOutOfService) => {
                mark_failed_and_delete(ctx, pod, None)?;
            }
            None => {}
        }
        Ok(Action::await_change())
    }
}

impl PodGcController {
    /// gc_controller.go `gcTerminated`: deletes the terminated pods beyond the threshold,
    /// evicted pods first, then by creation time, then by name (`byEvictionAndCreationTimestamp`).
    fn gc_terminated(&self, ctx: &mut Context<'_>) -> Result<(), ReconcileError> {
        if self.terminated_pod_gc_threshold == 0 {
            return Ok(());
        }
        // Count first (from the events): copying the pods is only worth it when there are too
        // many.
        let count = self
            .terminated
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .len();
        if count <= self.terminated_pod_gc_threshold {
            return Ok(());
        }
        // Shared references to sort; only the pods deleted are copied.
        let mut terminated: Vec<std::sync::Arc<Object>> = ctx
            .store
            .iter_kind(Kind::Pod)
            .filter(|o| matches!(&***o, Object::Pod(p) if is_terminated(p)))
            .cloned()
            .collect();
        let Some(excess) = terminated
            .len()
            .checked_sub(self.terminated_pod_gc_threshold)
            .filter(|n| *n > 0)
        else {
            return Ok(());
        };
        let pod_of = |o: &Object| match o {
            Object::Pod(p) => Some(p.clone()),
            _ => None,
        };
        // eviction.PodIsEvicted: Failed with reason Evicted.
        let evicted = |o: &Object| matches!(o, Object::Pod(p) if p.phase() == PodPhase::Failed && p.status.reason == "Evicted");
        terminated.sort_by(|a, b| {
            evicted(b)
                .cmp(&evicted(a))
                .then(
                    a.metadata()
                        .creation_timestamp
                        .cmp(&b.metadata().creation_timestamp),
                )
                .then(a.metadata().name.cmp(&b.metadata().name))
        });
        for object in terminated.into_iter().take(excess) {
            if let Some(pod) = pod_of(&object) {
                mark_failed_and_delete(ctx, pod, None)?;
            }
        }
        Ok(())
    }
}

/// gc_controller.go `markFailedAndDeletePodWithCondition`: a pod that has not finished is
/// marked `Failed` (with `condition`, if any) so that it does not stay `Running` forever, then
/// deleted with a grace period of 0.
fn mark_failed_and_delete(
    ctx: &mut Context<'_>,
    mut pod: Pod,
    condition: Option<PodCondition>,
) -> Result<(), ReconcileError> {
    let now = ctx.now;
    let (namespace, name) = (pod.metadata.namespace.clone(), pod.metadata.name.clone());
    if !pod.phase().is_terminal() {
        pod.status.phase = Some(PodPhase::Failed);
        if let Some(c) = condition {
            set_pod_condition(&mut pod.status.conditions, c, now);
        }
        match ctx.store.update_status(pod.into(), now) {
            Ok(_) => {}
            Err(StoreError::NotFound { .. }) => return Ok(()),
            Err(e) => return Err(e.into()),
        }
    }
    let force = DeleteOptions {
        grace_period_seconds: Some(0),
        ..Default::default()
    };
    match ctx.store.delete(Kind::Pod, &namespace, &name, &force, now) {
        Ok(_) | Err(StoreError::NotFound { .. }) => Ok(()),
        Err(e) => Err(e.into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::Harness;
    use flotilla_model::api::{Container, NodeCondition, PodSpec, Taint, TaintEffect};
    use flotilla_model::{Duration, ObjectMeta, Time};

    fn harness(threshold: usize) -> Harness {
        let mut h = Harness::new(vec![Box::new(PodGcController::with_threshold(threshold))]);
        h.now = Time::from_secs(1_000);
        h.apply(Node {
            metadata: ObjectMeta::named("", "n1"),
            ..Default::default()
        })
        .unwrap();
        h
    }

    fn pod(h: &mut Harness, name: &str) {
        h.apply(Pod {
            metadata: ObjectMeta::named("default", name),
            spec: PodSpec {
                containers: vec![Container {
                    name: "c".into(),
                    image: "i".into(),
                    ..Default::default()
                }]
                .into(),
                ..Default::default()
            }
            .into(),
            ..Default::default()
        })
        .unwrap();
    }

    fn names(h: &Harness) -> Vec<String> {
        h.pods("default")
            .iter()
            .map(|p| p.metadata.name.clone())
            .collect()
    }

    #[test]
    fn terminated_pods_beyond_the_threshold_go_evicted_first_then_oldest() {
        let mut h = harness(2);
        for name in ["a", "b", "c", "d"] {
            pod(&mut h, name);
            h.bind("default", name, "n1");
            h.advance(Duration::from_secs(1));
        }
        h.set_pod_status("default", "a", PodPhase::Succeeded, false);
        h.set_pod_status("default", "b", PodPhase::Succeeded, false);
        assert_eq!(names(&h), ["a", "b", "c", "d"], "two terminated are kept");
        // d is evicted by its kubelet: it goes before the older a.
        let mut d = h.pod("default", "d").unwrap();
        d.status.phase = Some(PodPhase::Failed);
        d.status.reason = "Evicted".into();
        h.store.update_status(d.into(), h.now).unwrap();
        h.settle();
        assert_eq!(
            names(&h),
            ["a", "b", "c", "d"],
            "the sweep runs once per 20 s"
        );
        h.advance(GC_CHECK_PERIOD);
        assert_eq!(names(&h), ["a", "b", "c"]);
        h.set_pod_status("default", "c", PodPhase::Failed, false);
        h.advance(GC_CHECK_PERIOD);
        assert_eq!(names(&h), ["b", "c"]);
    }

    #[test]
    fn a_zero_threshold_keeps_every_terminated_pod() {
        let mut h = harness(0);
        for name in ["a", "b"] {
            pod(&mut h, name);
            h.bind("default", name, "n1");
            h.set_pod_status("default", name, PodPhase::Succeeded, false);
        }
        assert_eq!(names(&h).len(), 2);
    }

    #[test]
    fn pods_of_a_deleted_node_are_failed_and_force_deleted() {
        let mut h = harness(100);
        pod(&mut h, "web");
        h.bind("default", "web", "n1");
        h.set_pod_status("default", "web", PodPhase::Running, true);
        let cursor = h.store.resource_version();
        h.store
            .delete(Kind::Node, "", "n1", &DeleteOptions::default(), h.now)
            .unwrap();
        h.settle();
        assert!(h.pod("default", "web").is_none());
        // On the way out it was marked Failed with the DisruptionTarget condition.
        let last = h
            .store
            .changes_since(cursor)
            .unwrap()
            .filter_map(|e| match &*e.object {
                Object::Pod(p) if e.event_type == WatchEventType::Modified => Some(p.clone()),
                _ => None,
            })
            .last()
            .unwrap();
        assert_eq!(last.phase(), PodPhase::Failed);
        let c = last.condition(PodCondition::DISRUPTION_TARGET).unwrap();
        assert_eq!(
            (c.reason.as_str(), c.message.as_str()),
            ("DeletionByPodGC", "PodGC: node no longer exists")
        );
    }

    #[test]
    fn a_pod_bound_to_a_node_that_never_existed_is_collected() {
        let mut h = harness(100);
        pod(&mut h, "web");
        h.bind("default", "web", "ghost");
        assert!(h.pod("default", "web").is_none());
    }

    #[test]
    fn terminating_pods_on_an_out_of_service_node_are_force_deleted() {
        let mut h = harness(100);
        for name in ["web", "db"] {
            pod(&mut h, name);
            h.bind("default", name, "n1");
            h.set_pod_status("default", name, PodPhase::Running, true);
        }
        h.store
            .delete(
                Kind::Pod,
                "default",
                "web",
                &DeleteOptions::default(),
                h.now,
            )
            .unwrap();
        h.settle();
        // The node is not ready, but without the taint its kubelet may still confirm.
        let Some(Object::Node(mut n)) = h.store.get(Kind::Node, "", "n1").as_deref().cloned()
        else {
            panic!()
        };
        n.status.conditions.push(NodeCondition {
            r#type: NodeCondition::READY.into(),
            status: ConditionStatus::False,
            ..Default::default()
        });
        h.store.update_status(n.into(), h.now).unwrap();
        h.settle();
        assert!(h.pod("default", "web").is_some());
        let Some(Object::Node(mut n)) = h.store.get(Kind::Node, "", "n1").as_deref().cloned()
        else {
            panic!()
        };
        n.spec.taints.push(Taint::new(
            TAINT_NODE_OUT_OF_SERVICE,
            "nodeshutdown",
            TaintEffect::NoExecute,
        ));
        h.store.update(n.into(), h.now).unwrap();
        h.settle();
        assert_eq!(names(&h), ["db"], "only the terminating pod goes");
    }

    #[test]
    fn an_unscheduled_terminating_pod_is_failed_and_force_deleted() {
        let mut h = harness(100);
        pod(&mut h, "web");
        let mut p = h.pod("default", "web").unwrap();
        p.metadata.finalizers.push("example.com/hold".into());
        h.store.update(p.into(), h.now).unwrap();
        h.store
            .delete(
                Kind::Pod,
                "default",
                "web",
                &DeleteOptions::default(),
                h.now,
            )
            .unwrap();
        h.settle();
        // The finalizer keeps it, but the collector marked it Failed.
        let p = h.pod("default", "web").unwrap();
        assert!(p.metadata.deletion_timestamp.is_some());
        assert_eq!(p.phase(), PodPhase::Failed);
    }
}
