//! A small harness for testing controllers without a scheduler or kubelets: a store, a
//! [`ControllerManager`] running the controllers under test, and helpers that play the parts
//! of the other components (bind a pod, make it ready, finish it) by writing what they would
//! write. Time moves only when the test moves it.
//!
//! ```
//! use flotilla_controllers::testing::Harness;
//! use flotilla_model::Duration;
//!
//! let mut h = Harness::new(Vec::new());
//! h.advance(Duration::from_secs(5));
//! assert_eq!(h.now.as_secs(), 5);
//! ```

use std::sync::Arc;

use flotilla_model::api::{ConditionStatus, Pod, PodCondition, PodPhase};
use flotilla_model::store::{DeleteOptions, Store, StoreConfig, StoreError};
use flotilla_model::{Duration, Kind, Object, Resource, Time};

use crate::controller::{get_typed, Controller, EventRecorder};
use crate::manager::ControllerManager;

/// A store and some controllers, settled by hand. See the [module docs](self).
#[derive(Debug)]
pub struct Harness {
    /// The object store.
    pub store: Store,
    /// The controllers under test.
    pub manager: ControllerManager,
    /// Their events.
    pub recorder: EventRecorder,
    /// The current time.
    pub now: Time,
    cursor: u64,
}

impl Harness {
    /// A bootstrapped store (namespaces `default`, `kube-system`, …) at time zero, and
    /// `controllers` seeded with 0.
    pub fn new(controllers: Vec<Box<dyn Controller>>) -> Harness {
        let store = Store::new(StoreConfig::default());
        let cursor = store.resource_version();
        let mut h = Harness {
            store,
            manager: ControllerManager::new(0, controllers),
            recorder: EventRecorder::default(),
            now: Time::ZERO,
            cursor,
        };
        h.settle();
        h
    }

    /// Creates `object`, or replaces the stored one of that name (keeping its status), as
    /// `kubectl apply` would; then settles.
    pub fn apply(&mut self, object: impl Into<Object>) -> Result<Arc<Object>, StoreError> {
        let mut object = object.into();
        let meta = object.metadata();
        let stored = self.store.get(object.kind(), &meta.namespace, &meta.name);
        let result = match stored {
            Some(old) => {
                object.metadata_mut().resource_version = String::new();
                object.metadata_mut().uid = old.metadata().uid.clone();
                self.store.update(object, self.now)
            }
            None => self.store.create(object, self.now),
        };
        self.settle();
        result
    }

    /// Delivers pending watch events and runs every ready reconcile until none is left at
    /// `now`; returns how many reconciles ran. Panics after a million (a controller that never
    /// settles is a bug the test should show).
    pub fn settle(&mut self) -> usize {
        let mut runs = 0;
        loop {
            self.deliver();
            if !self
                .manager
                .reconcile_next(&mut self.store, &mut self.recorder, self.now)
            {
                self.deliver();
                if !self
                    .manager
                    .reconcile_next(&mut self.store, &mut self.recorder, self.now)
                {
                    return runs;
                }
            }
            runs += 1;
            assert!(runs < 1_000_000, "controllers did not settle");
        }
    }

    fn deliver(&mut self) {
        let events: Vec<_> = self
            .store
            .changes_since(self.cursor)
            .expect("the harness reads every change before the history wraps")
            .cloned()
            .collect();
        for event in &events {
            self.cursor = event.resource_version;
            self.manager.handle_event(event, &self.store);
        }
    }

    /// Moves time on by `by` and settles.
    pub fn advance(&mut self, by: Duration) {
        self.now = self.now.saturating_add(by);
        self.settle();
    }

    /// Moves time to the controllers' next wake-up (if it is at most `limit` away) and settles;
    /// returns whether there was one.
    pub fn advance_to_next_wakeup(&mut self, limit: Duration) -> bool {
        match self.manager.next_wakeup() {
            Some(t) if t <= self.now.saturating_add(limit) => {
                self.now = self.now.max(t);
                self.settle();
                true
            }
            _ => false,
        }
    }

    /// The pods in `namespace`, in name order.
    pub fn pods(&self, namespace: &str) -> Vec<Arc<Pod>> {
        self.store
            .iter_namespace(Kind::Pod, namespace)
            .filter_map(|o| match &**o {
                Object::Pod(p) => Some(Arc::new(p.clone())),
                _ => None,
            })
            .collect()
    }

    /// The stored object `T` named `namespace`/`name` (`""` for cluster-scoped kinds).
    pub fn get<T>(&self, namespace: &str, name: &str) -> Option<T>
    where
        T: Resource + TryFrom<Object>,
    {
        get_typed(&self.store, namespace, name)
    }

    /// The stored object `T` named `namespace`/`name`; panics if there is none.
    pub fn stored<T>(&self, namespace: &str, name: &str) -> T
    where
        T: Resource + TryFrom<Object>,
    {
        self.get(namespace, name)
            .unwrap_or_else(|| panic!("no {} {namespace}/{name}", T::KIND.name()))
    }

    /// The stored pod.
    pub fn pod(&self, namespace: &str, name: &str) -> Option<Pod> {
        self.get(namespace, name)
    }

    /// Binds the pod to `node` (the scheduler's part) and settles.
    pub fn bind(&mut self, namespace: &str, name: &str, node: &str) {
        self.store
            .bind(namespace, name, node, self.now)
            .expect("binding an unbound pod");
        self.settle();
    }

    /// Sets the pod's phase and `Ready` condition (the kubelet's part) and settles. A ready
    /// condition turning true gets `now` as its transition time.
    pub fn set_pod_status(&mut self, namespace: &str, name: &str, phase: PodPhase, ready: bool) {
        let Some(mut pod) = self.pod(namespace, name) else {
            panic!("no pod {namespace}/{name}");
        };
        pod.status.phase = Some(phase);
        let status = if ready {
            ConditionStatus::True
        } else {
            ConditionStatus::False
        };
        let now = self.now;
        match pod
            .status
            .conditions
            .iter_mut()
            .find(|c| c.r#type == PodCondition::READY)
        {
            Some(c) => {
                if c.status != status {
                    c.status = status;
                    c.last_transition_time = Some(now);
                }
            }
            None => pod.status.conditions.push(PodCondition {
                r#type: PodCondition::READY.into(),
                status,
                last_transition_time: Some(now),
                ..Default::default()
            }),
        }
        if pod.status.start_time.is_none() {
            pod.status.start_time = Some(now);
        }
        self.store
            .update_status(pod.into(), self.now)
            .expect("a status update of a stored pod");
        self.settle();
    }

    /// Makes every active pod of `namespace` bound (to `node` when unbound), `Running` and
    /// ready; settles after each.
    pub fn make_pods_ready(&mut self, namespace: &str, node: &str) {
        for pod in self.pods(namespace) {
            if pod.metadata.deletion_timestamp.is_some() || pod.phase().is_terminal() {
                continue;
            }
            if pod.spec.node_name.is_empty() {
                self.bind(namespace, &pod.metadata.name, node);
            }
            if !pod.is_ready() {
                self.set_pod_status(namespace, &pod.metadata.name, PodPhase::Running, true);
            }
        }
    }

    /// Removes a pod that is being deleted (the kubelet's final delete with grace 0) and
    /// settles.
    pub fn finish_deletion(&mut self, namespace: &str, name: &str) {
        let options = DeleteOptions {
            grace_period_seconds: Some(0),
            ..Default::default()
        };
        let _ = self
            .store
            .delete(Kind::Pod, namespace, name, &options, self.now);
        self.settle();
    }

    /// Removes every pod of `namespace` that is being deleted, as their kubelets would.
    pub fn finish_all_deletions(&mut self, namespace: &str) {
        for pod in self.pods(namespace) {
            if pod.metadata.deletion_timestamp.is_some() {
                self.finish_deletion(namespace, &pod.metadata.name);
            }
        }
    }
}

/// The first object of the YAML manifest `yaml`; panics if the manifest is not valid.
pub fn parse_object(yaml: &str) -> Object {
    flotilla_model::manifest::parse_str("t.yaml", yaml)
        .expect("valid manifest")
        .objects
        .remove(0)
        .object
}
