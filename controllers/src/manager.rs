//! The controller manager: every controller with its own work queue, fed by watch events.
//!
//! [`ControllerManager::handle_event`] keeps the [`OwnerIndex`] and queues the keys each
//! controller derives from the event; [`ControllerManager::reconcile_next`] runs one ready key
//! of the next controller in turn (round-robin, so no controller starves another), requeues it
//! as its [`Action`](crate::controller::Action) asks, and retries failures with the work queue's back-off.

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
            let mut ctx = Context {
                store,
                index: &self.index,
                observed: &self.observed,
                now,
                recorder,
                rng: &mut slot.rng,
                source,
            };
            match slot.controller.reconcile(&key, &mut ctx) {
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
