//! The controller manager: every controller with its own work queue, fed by watch events.
//!
//! [`ControllerManager::handle_event`] keeps the [`OwnerIndex`] and queues the keys each
//! controller derives from the event; [`ControllerManager::reconcile_next`] runs one ready key
//! of the next controller in turn (round-robin, so no controller starves another), requeues it
//! as its [`Action`](crate::controller::Action) asks, and retries failures with the work queue's back-off.
//!
//! When the store authorizes writes ([`Store::authorization`]), each reconcile writes as its
//! controller's own identity, as kube-controller-manager does with
//! `--use-service-account-credentials`: the service account `kube-system/<name>`
//! ([`service_account_name`]), bound to the bootstrap role `system:controller:<name>`. A write
//! the role does not allow fails the reconcile with the API server's 403, which is recorded as
//! a `ReconcileError` warning event and retried with back-off.

use flotilla_model::auth::{self, UserInfo};
use flotilla_model::rng::component_rng;
use flotilla_model::store::{ObjectKey, Store, WatchEvent};
use flotilla_model::Time;
use rand_chacha::ChaCha8Rng;

use crate::controller::{
    Context, Controller, EventRecorder, EventType, Lookup, Observations, OwnerIndex,
};
use crate::workqueue::WorkQueue;

struct Slot {
    controller: Box<dyn Controller>,
    queue: WorkQueue<ObjectKey>,
    rng: ChaCha8Rng,
    /// Who the controller writes as when the store authorizes writes.
    user: UserInfo,
}

/// The name of the service account (in `kube-system`) whose credentials the controller named
/// `controller` uses, and so the `<name>` of its bootstrap role `system:controller:<name>`
/// (plugin/pkg/auth/authorizer/rbac/bootstrappolicy/controller_policy.go). Most controllers
/// use their own name; these differ in kube-controller-manager
/// (cmd/kube-controller-manager/app/*.go, the `ClientOrDie` argument of each start function):
///
/// - `daemonset-controller` → `daemon-set-controller`;
/// - `garbage-collector-controller` → `generic-garbage-collector`;
/// - `node-lifecycle-controller` → `node-controller`, and `taint-eviction-controller` too
///   ("taint-manager uses existing cluster role from node-controller", core.go
///   `startTaintEvictionController`);
/// - `persistentvolume-binder-controller` → `persistent-volume-binder`;
/// - `service-lb-controller` → `service-controller` (the cloud controller manager's service
///   controller, whose role the bootstrap policy still defines).
pub fn service_account_name(controller: &str) -> &str {
    match controller {
        "daemonset-controller" => "daemon-set-controller",
        "garbage-collector-controller" => "generic-garbage-collector",
        "node-lifecycle-controller" | "taint-eviction-controller" => "node-controller",
        "persistentvolume-binder-controller" => "persistent-volume-binder",
        "service-lb-controller" => "service-controller",
        other => other,
    }
}

/// The controllers and their queues. See the [module docs](self).
pub struct ControllerManager {
    slots: Vec<Slot>,
    index: OwnerIndex,
    observed: Observations,
    turn: usize,
    reconciles: u64,
}

impl std::fmt::Debug for ControllerManager {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ControllerManager")
            .field(
                "controllers",
                &self
                    .slots
                    .iter()
                    .map(|s| s.controller.name())
                    .collect::<Vec<_>>(),
            )
            .field("reconciles", &self.reconciles)
            .finish_non_exhaustive()
    }
}

impl ControllerManager {
    /// A manager running `controllers`, each with a random stream seeded from `seed` and its
    /// name.
    pub fn new(seed: u64, controllers: Vec<Box<dyn Controller>>) -> ControllerManager {
        ControllerManager {
            slots: controllers
                .into_iter()
                .map(|controller| Slot {
                    rng: component_rng(seed, controller.name()),
                    user: auth::controller_user(service_account_name(controller.name())),
                    controller,
                    queue: WorkQueue::new(),
                })
                .collect(),
            index: OwnerIndex::new(),
            observed: Observations::default(),
            turn: 0,
            reconciles: 0,
        }
    }

    /// Who the controller named `controller` writes as when the store authorizes writes
    /// (`system:serviceaccount:kube-system:<`[`service_account_name`]`>`), if the manager runs
    /// it.
    pub fn user_of(&self, controller: &str) -> Option<&UserInfo> {
        self.slots
            .iter()
            .find(|s| s.controller.name() == controller)
            .map(|s| &s.user)
    }

    /// The names of the controllers, in turn order.
    pub fn controller_names(&self) -> Vec<&'static str> {
        self.slots.iter().map(|s| s.controller.name()).collect()
    }

    /// Who owns what.
    pub fn index(&self) -> &OwnerIndex {
        &self.index
    }

    /// Node heartbeats and pod metrics as reported by the driver.
    pub fn observed(&self) -> &Observations {
        &self.observed
    }

    /// Node heartbeats and pod metrics, to update.
    pub fn observed_mut(&mut self) -> &mut Observations {
        &mut self.observed
    }

    /// How many reconciles have run.
    pub fn reconciles(&self) -> u64 {
        self.reconciles
    }

    /// Follows one watch event: updates the owner index, then queues the keys each interested
    /// controller names.
    pub fn handle_event(&mut self, event: &WatchEvent, store: &Store) {
        self.index.observe(event);
        let kind = event.object.kind();
        if kind == flotilla_model::Kind::Pod
            && event.event_type == flotilla_model::store::WatchEventType::Deleted
        {
            let meta = event.object.metadata();
            self.observed.forget_pod(&meta.namespace, &meta.name);
        }
        let lookup = Lookup {
            store,
            index: &self.index,
        };
        for slot in &mut self.slots {
            if slot.controller.watched_kinds().contains(&kind) {
                for key in slot.controller.keys_for_event(event, lookup) {
                    slot.queue.add(key);
                }
            }
        }
    }

    /// Queues `key` for the controller named `controller` (used by tests and by a driver that
    /// wants a resync).
    pub fn enqueue(&mut self, controller: &str, key: ObjectKey) {
        if let Some(slot) = self
            .slots
            .iter_mut()
            .find(|s| s.controller.name() == controller)
        {
            slot.queue.add(key);
        }
    }

    /// Runs one ready key of the next controller that has one; `false` when no key is ready
    /// at `now`.
    pub fn reconcile_next(
        &mut self,
        store: &mut Store,
        recorder: &mut EventRecorder,
        now: Time,
    ) -> bool {
        let n = self.slots.len();
        for i in 0..n {
            let at = (self.turn + i) % n;
            let slot = &mut self.slots[at];
            let Some(key) = slot.queue.pop(now) else {
                continue;
            };
            self.turn = (at + 1) % n;
            self.reconciles += 1;
            let source = slot.controller.name();
            // The controller's own credentials, only when they are checked (the simulator's
            // store does not authorize and pays nothing here).
            let previous = if store.authorization() {
                Some(store.set_actor(Some(slot.user.clone())))
            } else {
                None
            };
            let mut ctx = Context {
                store,
                index: &self.index,
                observed: &self.observed,
                now,
                recorder,
                rng: &mut slot.rng,
                source,
            };
            let result = slot.controller.reconcile(&key, &mut ctx);
            if let Some(previous) = previous {
                store.set_actor(previous);
            }
            match result {
                Ok(action) => {
                    slot.queue.forget(&key);
                    if let Some(after) = action.requeue_after {
                        slot.queue.add_after(key, now.saturating_add(after));
                    }
                }
                Err(error) => {
                    recorder.record(
                        now,
                        key.clone(),
                        EventType::Warning,
                        "ReconcileError",
                        error.to_string(),
                        source,
                    );
                    slot.queue.add_rate_limited(key, now);
                }
            }
            return true;
        }
        false
    }

    /// The earliest time a delayed key becomes ready, if any.
    pub fn next_wakeup(&self) -> Option<Time> {
        self.slots
            .iter()
            .filter_map(|s| s.queue.next_wakeup())
            .min()
    }
}
