//! The controller vocabulary shared by every reconcile loop: the [`Controller`] trait, the
//! [`Context`] a reconcile runs in, the [`Action`] it returns, the [`OwnerIndex`] of who owns
//! what, and the [`EventRecorder`] of Kubernetes-style events.
//!
//! A controller is a pure state machine in kube-rs' shape: watch events name object keys
//! ([`Controller::keys_for_event`]), the manager queues the keys, and
//! [`Controller::reconcile`] brings one key's observed state towards its desired state by
//! writing to the store. Writes are made through [`Context::store`] at once (the store is an
//! in-memory value, so this is still free of I/O); their watch events reach every controller
//! before the next reconcile, so a controller never acts on a stale view and needs none of
//! client-go's "expectations".

use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};
use std::sync::Arc;

use flotilla_model::store::{ObjectKey, Store, StoreError, WatchEvent, WatchEventType};
use flotilla_model::{Duration, Kind, Object, ObjectMeta, OwnerReference, Resource, Time};
use rand_chacha::ChaCha8Rng;

/// What a reconcile asks for next (kube-rs' `Action`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Action {
    /// Reconcile the key again after this long even if nothing changes (a deadline, a
    /// `minReadySeconds` wait, a schedule); `None` waits for the next event.
    pub requeue_after: Option<Duration>,
}

impl Action {
    /// Nothing more until an event names the key again.
    pub fn await_change() -> Action {
        Action {
            requeue_after: None,
        }
    }

    /// Reconcile again after `after`.
    pub fn requeue(after: Duration) -> Action {
        Action {
            requeue_after: Some(after),
        }
    }

    /// The sooner of two requests.
    pub fn min(self, other: Action) -> Action {
        match (self.requeue_after, other.requeue_after) {
            (Some(a), Some(b)) => Action::requeue(a.min(b)),
            (a, b) => Action {
                requeue_after: a.or(b),
            },
        }
    }
}

/// Why a reconcile failed; the key is retried with back-off.
#[derive(Debug, thiserror::Error)]
pub enum ReconcileError {
    /// A store request failed (a conflict, a quota refusal, …).
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Anything else, with a message for the event log.
    #[error("{0}")]
    Other(String),
}

/// The type of an event (core/v1 `Event.type`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum EventType {
    /// Something expected happened.
    Normal,
    /// Something went wrong or may need attention.
    Warning,
}

impl EventType {
    /// `Normal` or `Warning`.
    pub fn as_str(self) -> &'static str {
        match self {
            EventType::Normal => "Normal",
            EventType::Warning => "Warning",
        }
    }
}

/// One event about an object, as `kubectl describe` shows them (core/v1 `Event`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Event {
    /// When it happened.
    pub time: Time,
    /// The object it is about.
    pub object: ObjectKey,
    /// `Normal` or `Warning`.
    pub event_type: EventType,
    /// A CamelCase reason (`SuccessfulCreate`, `ScalingReplicaSet`, `BackOff`).
    pub reason: String,
    /// What happened, in words.
    pub message: String,
    /// The component that reported it (`replicaset-controller`, `kubelet`, `default-scheduler`).
    pub source: String,
}

/// A bounded log of [`Event`]s, oldest first; when full the oldest go.
#[derive(Clone, Debug)]
pub struct EventRecorder {
    events: VecDeque<Event>,
    limit: usize,
    total: u64,
}

impl Default for EventRecorder {
    fn default() -> Self {
        EventRecorder::new(100_000)
    }
}

impl EventRecorder {
    /// A recorder that keeps the last `limit` events (0 keeps none but still counts them).
    pub fn new(limit: usize) -> EventRecorder {
        EventRecorder {
            events: VecDeque::new(),
            limit,
            total: 0,
        }
    }

    /// Records an event.
    pub fn record(
        &mut self,
        time: Time,
        object: ObjectKey,
        event_type: EventType,
        reason: &str,
        message: String,
        source: &str,
    ) {
        self.total += 1;
        if self.limit == 0 {
            return;
        }
        if self.events.len() == self.limit {
            self.events.pop_front();
        }
        self.events.push_back(Event {
            time,
            object,
            event_type,
            reason: reason.to_string(),
            message,
            source: source.to_string(),
        });
    }

    /// The events kept, oldest first.
    pub fn events(&self) -> impl Iterator<Item = &Event> + '_ {
        self.events.iter()
    }

    /// The kept events about `object`, oldest first.
    pub fn events_for<'a>(&'a self, object: &'a ObjectKey) -> impl Iterator<Item = &'a Event> + 'a {
        self.events.iter().filter(move |e| &e.object == object)
    }

    /// How many events were recorded in all, kept or not.
    pub fn total(&self) -> u64 {
        self.total
    }
}

/// Who owns what, kept from watch events: the dependents of each owner uid, and the objects of
/// each kind and namespace that have no controller. Controllers use it instead of scanning
/// every pod of a namespace on each reconcile.
#[derive(Clone, Debug, Default)]
pub struct OwnerIndex {
    dependents: HashMap<String, BTreeSet<ObjectKey>>,
    owners: HashMap<ObjectKey, Vec<String>>,
    orphans: BTreeMap<(Kind, String), BTreeSet<String>>,
}

impl OwnerIndex {
    /// An empty index.
    pub fn new() -> OwnerIndex {
        OwnerIndex::default()
    }

    /// Follows one watch event.
    pub fn observe(&mut self, event: &WatchEvent) {
        let key = ObjectKey::of(&event.object);
        let meta = event.object.metadata();
        if event.event_type != WatchEventType::Deleted {
            // Most changes leave the owners alone: then the index already says it all.
            let same_owners = match self.owners.get(&key) {
                Some(uids) => uids.iter().eq(meta.owner_references.iter().map(|r| &r.uid)),
                None => meta.owner_references.is_empty(),
            };
            let listed_orphan = self
                .orphans
                .get(&(key.kind, key.namespace.clone()))
                .is_some_and(|names| names.contains(&key.name));
            if same_owners && listed_orphan == meta.controller_ref().is_none() {
                return;
            }
        }
        self.remove(&key);
        if event.event_type == WatchEventType::Deleted {
            return;
        }
        let uids: Vec<String> = meta
            .owner_references
            .iter()
            .map(|r| r.uid.clone())
            .collect();
        for uid in &uids {
            self.dependents
                .entry(uid.clone())
                .or_default()
                .insert(key.clone());
        }
        if meta.controller_ref().is_none() {
            self.orphans
                .entry((key.kind, key.namespace.clone()))
                .or_default()
                .insert(key.name.clone());
        }
        if !uids.is_empty() {
            self.owners.insert(key, uids);
        }
    }

    fn remove(&mut self, key: &ObjectKey) {
        if let Some(uids) = self.owners.remove(key) {
            for uid in uids {
                if let Some(set) = self.dependents.get_mut(&uid) {
                    set.remove(key);
                    if set.is_empty() {
                        self.dependents.remove(&uid);
                    }
                }
            }
        }
        if let Some(set) = self.orphans.get_mut(&(key.kind, key.namespace.clone())) {
            set.remove(&key.name);
        }
    }

    /// The keys of objects with an owner reference to `uid`, in key order.
    pub fn dependents_of(&self, uid: &str) -> impl Iterator<Item = &ObjectKey> + '_ {
        self.dependents.get(uid).into_iter().flatten()
    }

    /// Whether anything references `uid`.
    pub fn has_dependents(&self, uid: &str) -> bool {
        self.dependents.contains_key(uid)
    }

    /// The names of objects of `kind` in `namespace` without a controller reference.
    pub fn orphans(&self, kind: Kind, namespace: &str) -> impl Iterator<Item = &String> + '_ {
        self.orphans
            .get(&(kind, namespace.to_string()))
            .into_iter()
            .flatten()
    }
}

/// What the cluster observes outside the store and hands to controllers: which nodes have gone
/// silent since when (the node lifecycle controller's heartbeat deadlines), and the resource use
/// of pods (the metrics server's numbers, for the HPA). The driver reports both through
/// [`Cluster::handle`](crate::cluster::Cluster::handle).
#[derive(Clone, Debug, Default)]
pub struct Observations {
    silent_since: BTreeMap<String, Time>,
    pod_usage: BTreeMap<(String, String), PodUsage>,
}

/// A pod's measured resource use (metrics.k8s.io `PodMetrics`, summed over containers).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PodUsage {
    /// CPU in millicores.
    pub cpu_millis: i64,
    /// Memory in bytes.
    pub memory_bytes: i64,
    /// When it was measured.
    pub timestamp: Time,
}

impl Observations {
    /// When `node` stopped talking, or `None` while it talks (its heartbeats keep coming).
    pub fn silent_since(&self, node: &str) -> Option<Time> {
        self.silent_since.get(node).copied()
    }

    /// Records that `node` went silent at `at` (kept if it already was).
    pub fn set_silent(&mut self, node: &str, at: Time) {
        self.silent_since.entry(node.to_string()).or_insert(at);
    }

    /// Records that `node` talks again.
    pub fn set_talking(&mut self, node: &str) {
        self.silent_since.remove(node);
    }

    /// The last measured use of a pod.
    pub fn pod_usage(&self, namespace: &str, name: &str) -> Option<PodUsage> {
        self.pod_usage
            .get(&(namespace.to_string(), name.to_string()))
            .copied()
    }

    /// Records a pod's measured use.
    pub fn set_pod_usage(&mut self, namespace: &str, name: &str, usage: PodUsage) {
        self.pod_usage
            .insert((namespace.to_string(), name.to_string()), usage);
    }

    /// Forgets a deleted pod's use.
    pub fn forget_pod(&mut self, namespace: &str, name: &str) {
        self.pod_usage
            .remove(&(namespace.to_string(), name.to_string()));
    }
}

/// Read access for mapping an event to keys.
#[derive(Clone, Copy, Debug)]
pub struct Lookup<'a> {
    /// The store.
    pub store: &'a Store,
    /// Who owns what.
    pub index: &'a OwnerIndex,
}

impl Lookup<'_> {
    /// The stored objects of `kind` depending on `uid`.
    pub fn dependents(&self, uid: &str, kind: Kind) -> Vec<Arc<Object>> {
        dependents(self.store, self.index, uid, kind)
    }
}

/// Everything a reconcile may use: the store to read and write, `now`, who owns what, the
/// event log and the controller's own random stream.
#[derive(Debug)]
pub struct Context<'a> {
    /// The object store; writes go here.
    pub store: &'a mut Store,
    /// Who owns what, as of the last watch event before this reconcile.
    pub index: &'a OwnerIndex,
    /// Node heartbeats and pod metrics, as the driver reported them.
    pub observed: &'a Observations,
    /// The current time.
    pub now: Time,
    /// Where events go.
    pub recorder: &'a mut EventRecorder,
    /// The controller's own random stream (seeded from the cluster's seed and its name).
    pub rng: &'a mut ChaCha8Rng,
    /// The controller's name, for events (`replicaset-controller`).
    pub source: &'static str,
}

impl Context<'_> {
    /// The stored objects of `kind` that reference `uid` as an owner, in key order.
    pub fn dependents(&self, uid: &str, kind: Kind) -> Vec<Arc<Object>> {
        dependents(self.store, self.index, uid, kind)
    }

    /// The stored objects of `kind` in `namespace` that have no controller, in name order.
    pub fn orphans(&self, kind: Kind, namespace: &str) -> Vec<Arc<Object>> {
        self.index
            .orphans(kind, namespace)
            .filter_map(|name| self.store.get(kind, namespace, name))
            .collect()
    }

    /// Records a `Normal` event about `object`.
    pub fn normal(&mut self, object: &ObjectKey, reason: &str, message: String) {
        self.recorder.record(
            self.now,
            object.clone(),
            EventType::Normal,
            reason,
            message,
            self.source,
        );
    }

    /// Records a `Warning` event about `object`.
    pub fn warning(&mut self, object: &ObjectKey, reason: &str, message: String) {
        self.recorder.record(
            self.now,
            object.clone(),
            EventType::Warning,
            reason,
            message,
            self.source,
        );
    }
}

fn dependents(store: &Store, index: &OwnerIndex, uid: &str, kind: Kind) -> Vec<Arc<Object>> {
    index
        .dependents_of(uid)
        .filter(|k| k.kind == kind)
        .filter_map(|k| store.get(k.kind, &k.namespace, &k.name))
        .collect()
}

/// The stored object of `kind` that the controller reference `r`, found on an object of
/// `namespace`, points at (the workload controllers' `resolveControllerRef`, e.g.
/// replica_set.go): `None` if the reference is to another kind, or if the stored object of that
/// name has another uid (the owner was deleted and a namesake created since).
pub fn resolve_controller_ref(
    store: &Store,
    namespace: &str,
    r: &OwnerReference,
    kind: Kind,
) -> Option<Arc<Object>> {
    if r.kind != kind.name() {
        return None;
    }
    store
        .get(kind, namespace, &r.name)
        .filter(|o| o.metadata().uid == r.uid)
}

/// The key of the object of `kind` that `meta`'s controller reference names, in `meta`'s
/// namespace, if the reference is to that kind. Unlike [`resolve_controller_ref`] it does not
/// read the store: the reconcile of the key finds out whether the owner still exists.
pub fn controller_key(meta: &ObjectMeta, kind: Kind) -> Option<ObjectKey> {
    let r = meta.controller_ref().filter(|r| r.kind == kind.name())?;
    Some(ObjectKey {
        kind,
        namespace: meta.namespace.clone(),
        name: r.name.clone(),
    })
}

/// The typed object `T` stored under `namespace`/`name` (`""` for cluster-scoped kinds), cloned
/// out of the store; `None` if there is none.
pub fn get_typed<T>(store: &Store, namespace: &str, name: &str) -> Option<T>
where
    T: Resource + TryFrom<Object>,
{
    let object = store.get(T::KIND, namespace, name)?;
    T::try_from(Object::clone(&object)).ok()
}

/// A reconcile loop. See the [module docs](self).
pub trait Controller: Send {
    /// The controller's name as Kubernetes' controller manager calls it
    /// (`replicaset-controller`); it names its events and seeds its random stream.
    fn name(&self) -> &'static str;

    /// The kinds whose watch events this controller wants.
    fn watched_kinds(&self) -> &'static [Kind];

    /// The keys to reconcile because of `event` (an event of one of
    /// [`watched_kinds`](Controller::watched_kinds)). A pod event, for instance, names the
    /// pod's owner.
    fn keys_for_event(&self, event: &WatchEvent, lookup: Lookup<'_>) -> Vec<ObjectKey>;

    /// Brings `key` towards its desired state. An error retries the key with back-off.
    fn reconcile(
        &mut self,
        key: &ObjectKey,
        ctx: &mut Context<'_>,
    ) -> Result<Action, ReconcileError>;
}

#[cfg(test)]
mod tests {
    use super::*;
    use flotilla_model::api::Pod;

    fn event(event_type: WatchEventType, name: &str, owner: Option<&str>) -> WatchEvent {
        let mut meta = ObjectMeta::named("default", name);
        if let Some(uid) = owner {
            meta.owner_references.push(OwnerReference {
                api_version: "apps/v1".into(),
                kind: "ReplicaSet".into(),
                name: "rs".into(),
                uid: uid.into(),
                controller: Some(true),
                block_owner_deletion: Some(true),
            });
        }
        WatchEvent {
            event_type,
            object: Arc::new(
                Pod {
                    metadata: meta,
                    ..Default::default()
                }
                .into(),
            ),
            resource_version: 1,
        }
    }

    #[test]
    fn the_index_follows_adoption_release_and_deletion() {
        let mut index = OwnerIndex::new();
        index.observe(&event(WatchEventType::Added, "p", None));
        assert_eq!(index.orphans(Kind::Pod, "default").count(), 1);
        // A change that leaves the owners alone leaves the index alone.
        index.observe(&event(WatchEventType::Modified, "p", None));
        assert_eq!(index.orphans(Kind::Pod, "default").count(), 1);
        index.observe(&event(WatchEventType::Modified, "p", Some("u1")));
        assert_eq!(index.orphans(Kind::Pod, "default").count(), 0);
        assert_eq!(index.dependents_of("u1").count(), 1);
        index.observe(&event(WatchEventType::Modified, "p", Some("u1")));
        assert_eq!(index.orphans(Kind::Pod, "default").count(), 0);
        assert_eq!(index.dependents_of("u1").count(), 1);
        index.observe(&event(WatchEventType::Modified, "p", Some("u2")));
        assert!(!index.has_dependents("u1"));
        assert_eq!(index.dependents_of("u2").count(), 1);
        index.observe(&event(WatchEventType::Deleted, "p", Some("u2")));
        assert!(!index.has_dependents("u2"));
        assert_eq!(index.orphans(Kind::Pod, "default").count(), 0);
    }

    #[test]
    fn actions_combine_to_the_sooner() {
        let a = Action::requeue(Duration::from_secs(5));
        let b = Action::requeue(Duration::from_secs(3));
        assert_eq!(a.min(b), b);
        assert_eq!(a.min(Action::await_change()), a);
        assert_eq!(
            Action::await_change().min(Action::await_change()),
            Action::await_change()
        );
    }

    #[test]
    fn the_recorder_keeps_the_newest_events() {
        let mut r = EventRecorder::new(2);
        let key = ObjectKey {
            kind: Kind::Pod,
            namespace: "default".into(),
            name: "p".into(),
        };
        for i in 0..3 {
            r.record(
                Time::ZERO,
                key.clone(),
                EventType::Normal,
                "R",
                format!("{i}"),
                "t",
            );
        }
        let kept: Vec<_> = r.events().map(|e| e.message.clone()).collect();
        assert_eq!(kept, ["1", "2"]);
        assert_eq!(r.total(), 3);
    }
}
