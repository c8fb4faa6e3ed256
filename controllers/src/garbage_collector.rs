//! The garbage collector (Kubernetes' `pkg/controller/garbagecollector`, v1.34): deletes
//! objects whose owners are gone, and carries out foreground and orphan deletion.
//!
//! # What it does
//!
//! - **Background cascading** (`garbagecollector.go` `attemptToDeleteItem`): an object whose
//!   owner references all point at owners that are gone (absent, or replaced by another object
//!   of the same name with another uid) is deleted, honouring an `orphan` or
//!   `foregroundDeletion` finalizer it already has, else in the background so its own
//!   dependents follow. An object with at least one live owner stays, and its references to the
//!   dead owners (and to owners waiting for their dependents) are removed.
//! - **Foreground** (`processDeletingDependentsItem`): an object being deleted with the
//!   `foregroundDeletion` finalizer has its dependents deleted (a dependent that has dependents
//!   of its own is deleted in the foreground too, as Kubernetes does); once no dependent with
//!   `blockOwnerDeletion: true` remains, the finalizer is removed and the store lets the object
//!   go. A pod in its grace period still blocks its owner until its kubelet removes it.
//! - **Orphan** (`orphanDependents`): an object being deleted with the `orphan` finalizer has
//!   its references removed from every dependent, then the finalizer removed.
//!
//! # Design: the owner graph and O(changes) work
//!
//! Kubernetes' `GraphBuilder` keeps a graph of every object (`uidToNode`) with edges from
//! owners to dependents; owners that are referenced but not (yet) observed are "virtual"
//! nodes. Here [`OwnerGraph`] is that graph, a petgraph `StableDiGraph` with a node per uid.
//!
//! [`Controller::keys_for_event`] only reads (`&self`), so the graph is brought up to date in
//! [`Controller::reconcile`]: the reconcile of a key re-reads that one object and replaces its
//! node's incoming edges with its current owner references (creating virtual owner nodes as
//! needed and dropping virtual nodes nothing references any more). Each reconcile therefore
//! touches one object, its owner references and, for an owner being deleted, its dependents:
//! the work is proportional to what changed, never to the size of the store.
//!
//! The graph is what lets an event wake the right keys: a watch event carries only the new
//! state of an object, but the graph still holds the owners the collector last saw it with, so
//! an event that removes a reference also wakes the owner it used to point at (a foreground
//! owner waiting for that dependent). The dependents of an owner are read from the manager's
//! [`OwnerIndex`](crate::controller::OwnerIndex), which every event updates before any
//! reconcile, so a dependent created a moment ago is never missed.
//!
//! Which keys an event wakes: the object itself (to check its own owners, and to act on its
//! finalizers); on deletion, every dependent of its uid; and every owner, old or new, that is
//! waiting for its dependents (foreground), so it can finish once the last one goes.

use std::collections::{BTreeSet, HashMap};

use flotilla_model::store::{
    DeleteOptions, ObjectKey, PropagationPolicy, StoreError, WatchEvent, WatchEventType,
    FOREGROUND_FINALIZER, ORPHAN_FINALIZER,
};
use flotilla_model::{Kind, Object, ObjectMeta, OwnerReference};
use petgraph::stable_graph::{EdgeIndex, NodeIndex, StableDiGraph};
use petgraph::visit::EdgeRef;
use petgraph::Direction;

use crate::controller::{Action, Context, Controller, Lookup, ReconcileError};

/// One object in the [`OwnerGraph`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GraphNode {
    /// The object's uid.
    pub uid: String,
    /// Where the object lives: the observed key, or for a virtual node the key its dependents'
    /// references name (`None` when the reference names a kind Flotilla does not know).
    pub key: Option<ObjectKey>,
    /// Whether the object itself has been observed; `false` for a virtual node, an owner known
    /// only from references to it.
    pub observed: bool,
}

/// The ownerReference graph: a node per uid, an edge from each owner to each of its
/// dependents. See the [module docs](self).
#[derive(Clone, Debug, Default)]
pub struct OwnerGraph {
    graph: StableDiGraph<GraphNode, ()>,
    by_uid: HashMap<String, NodeIndex>,
    by_key: HashMap<ObjectKey, String>,
}

impl OwnerGraph {
    /// An empty graph.
    pub fn new() -> OwnerGraph {
        OwnerGraph::default()
    }

    /// Records that the object `key` with `uid` exists with owner references `refs`: its node
    /// is made observed and its incoming edges become exactly `refs` (a node for another uid
    /// that was stored under `key` before is forgotten first).
    pub fn observe(&mut self, key: &ObjectKey, uid: &str, refs: &[OwnerReference]) {
        if let Some(old_uid) = self.by_key.get(key).cloned() {
            if old_uid != uid {
                self.forget(key);
            }
        }
        let node = self.node(uid, Some(key.clone()));
        {
            let n = &mut self.graph[node];
            n.observed = true;
            n.key = Some(key.clone());
        }
        self.by_key.insert(key.clone(), uid.to_string());
        let wanted: BTreeSet<&str> = refs.iter().map(|r| r.uid.as_str()).collect();
        let current: Vec<(EdgeIndex, NodeIndex)> = self
            .graph
            .edges_directed(node, Direction::Incoming)
            .map(|e| (e.id(), e.source()))
            .collect();
        let mut have = BTreeSet::new();
        for (edge, owner) in current {
            let owner_uid = self.graph[owner].uid.clone();
            if wanted.contains(owner_uid.as_str()) {
                have.insert(owner_uid);
            } else {
                self.graph.remove_edge(edge);
                self.drop_if_unused(owner);
            }
        }
        for r in refs {
            if have.insert(r.uid.clone()) {
                let owner_key = owner_key(key, r);
                let owner = self.node(&r.uid, owner_key);
                self.graph.add_edge(owner, node, ());
            }
        }
    }

    /// Records that the object stored under `key` is gone: its references to its owners go;
    /// its node stays, virtual, while dependents still reference it.
    pub fn forget(&mut self, key: &ObjectKey) {
        let Some(uid) = self.by_key.remove(key) else {
            return;
        };
        let Some(&node) = self.by_uid.get(&uid) else {
            return;
        };
        let owners: Vec<_> = self
            .graph
            .edges_directed(node, Direction::Incoming)
            .map(|e| (e.id(), e.source()))
            .collect();
        for (edge, owner) in owners {
            self.graph.remove_edge(edge);
            self.drop_if_unused(owner);
        }
        self.graph[node].observed = false;
        self.drop_if_unused(node);
    }

    /// The keys of the owners the graph last saw the object `uid` reference, in key order.
    pub fn owners_of(&self, uid: &str) -> Vec<ObjectKey> {
        self.neighbours(uid, Direction::Incoming)
    }

    /// Whether the graph last saw the object `key` as `uid` without owners: observing it so
    /// again changes nothing.
    pub fn holds_without_owners(&self, key: &ObjectKey, uid: &str) -> bool {
        self.by_key.get(key).is_some_and(|u| u == uid)
            && self.by_uid.get(uid).is_some_and(|&n| {
                self.graph[n].observed
                    && self
                        .graph
                        .edges_directed(n, Direction::Incoming)
                        .next()
                        .is_none()
            })
    }

    /// The keys of the dependents the graph last saw referencing `uid`, in key order.
    pub fn dependents_of(&self, uid: &str) -> Vec<ObjectKey> {
        self.neighbours(uid, Direction::Outgoing)
    }

    /// The node of `uid`, if any.
    pub fn get(&self, uid: &str) -> Option<&GraphNode> {
        self.by_uid.get(uid).map(|&n| &self.graph[n])
    }

    /// How many nodes (observed and virtual) the graph holds.
    pub fn len(&self) -> usize {
        self.graph.node_count()
    }

    /// Whether the graph holds no node.
    pub fn is_empty(&self) -> bool {
        self.graph.node_count() == 0
    }

    /// How many virtual nodes (referenced, not observed) the graph holds.
    pub fn virtual_count(&self) -> usize {
        self.graph
            .node_indices()
            .filter(|&n| !self.graph[n].observed)
            .count()
    }

    fn neighbours(&self, uid: &str, direction: Direction) -> Vec<ObjectKey> {
        let Some(&node) = self.by_uid.get(uid) else {
            return Vec::new();
        };
        let mut keys: Vec<ObjectKey> = self
            .graph
            .neighbors_directed(node, direction)
            .filter_map(|n| self.graph[n].key.clone())
            .collect();
        keys.sort();
        keys.dedup();
        keys
    }

    /// The node of `uid`, made virtual (with `key`) when new.
    fn node(&mut self, uid: &str, key: Option<ObjectKey>) -> NodeIndex {
        if let Some(&n) = self.by_uid.get(uid) {
            return n;
        }
        let n = self.graph.add_node(GraphNode {
            uid: uid.to_string(),
            key,
            observed: false,
        });
        self.by_uid.insert(uid.to_string(), n);
        n
    }

    /// Removes a virtual node that no dependent references any more.
    fn drop_if_unused(&mut self, node: NodeIndex) {
        let n = &self.graph[node];
        if n.observed
            || self
                .graph
                .neighbors_directed(node, Direction::Outgoing)
                .next()
                .is_some()
        {
            return;
        }
        let uid = n.uid.clone();
        self.graph.remove_node(node);
        self.by_uid.remove(&uid);
    }
}

/// The kind an owner reference names, by API group and kind (the version does not matter, as
/// for Kubernetes' REST mapper).
pub fn owner_kind(r: &OwnerReference) -> Option<Kind> {
    let group = r.api_version.rsplit_once('/').map_or("", |(g, _)| g);
    Kind::ALL
        .iter()
        .copied()
        .find(|k| k.name() == r.kind && k.group() == group)
}

/// Where the owner `r` of the object at `dependent` would be stored: in the dependent's
/// namespace for a namespaced kind, cluster-wide otherwise. `None` for an unknown kind.
fn owner_key(dependent: &ObjectKey, r: &OwnerReference) -> Option<ObjectKey> {
    let kind = owner_kind(r)?;
    Some(ObjectKey {
        kind,
        namespace: if kind.namespaced() {
            dependent.namespace.clone()
        } else {
            String::new()
        },
        name: r.name.clone(),
    })
}

/// Whether the object is being deleted in the foreground: it has a deletionTimestamp and the
/// `foregroundDeletion` finalizer (`node.isDeletingDependents`).
fn is_deleting_dependents(meta: &ObjectMeta) -> bool {
    meta.deletion_timestamp.is_some() && has_finalizer(meta, FOREGROUND_FINALIZER)
}

fn has_finalizer(meta: &ObjectMeta, finalizer: &str) -> bool {
    meta.finalizers.iter().any(|f| f == finalizer)
}

/// The garbage collector controller. See the [module docs](self).
#[derive(Debug, Default)]
pub struct GarbageCollectorController {
    graph: OwnerGraph,
}

impl GarbageCollectorController {
    /// A garbage collector with an empty graph.
    pub fn new() -> GarbageCollectorController {
        GarbageCollectorController::default()
    }

    /// The owner graph as of the last reconcile.
    pub fn graph(&self) -> &OwnerGraph {
        &self.graph
    }
}

/// How an owner reference resolves (`classifyReferences`).
enum OwnerState {
    /// The owner exists and is not waiting for its dependents.
    Solid,
    /// The owner is gone (absent, or another uid under its name) or the reference cannot name
    /// an owner.
    Dangling,
    /// The owner is being deleted in the foreground.
    WaitingForDependents,
}

impl Controller for GarbageCollectorController {
    fn name(&self) -> &'static str {
        "garbage-collector-controller"
    }

    fn watched_kinds(&self) -> &'static [Kind] {
        Kind::ALL
    }

    fn keys_for_event(&self, event: &WatchEvent, lookup: Lookup<'_>) -> Vec<ObjectKey> {
        let key = ObjectKey::of(&event.object);
        let meta = event.object.metadata();
        // A change of an object that has no owners, is not being deleted and is in the graph
        // as it is (most pod status writes): its reconcile would observe nothing new and find
        // no owner to check, and no owner waits for it.
        if event.event_type != WatchEventType::Deleted
            && meta.owner_references.is_empty()
            && meta.deletion_timestamp.is_none()
            && self.graph.holds_without_owners(&key, &meta.uid)
        {
            return Vec::new();
        }
        let mut keys = vec![key.clone()];
        // graph_builder.go processGraphChanges: a deleted owner's dependents are attempted.
        if event.event_type == WatchEventType::Deleted {
            keys.extend(lookup.index.dependents_of(&meta.uid).cloned());
        }
        // Owners waiting for their dependents, as this object references them now or as the
        // graph last saw it: one of them may be able to finish (a dependent went away, or
        // stopped referencing or blocking it).
        let mut owners: Vec<ObjectKey> = meta
            .owner_references
            .iter()
            .filter_map(|r| owner_key(&key, r))
            .collect();
        owners.extend(self.graph.owners_of(&meta.uid));
        for owner in owners {
            if let Some(o) = lookup.store.get(owner.kind, &owner.namespace, &owner.name) {
                if is_deleting_dependents(o.metadata()) {
                    keys.push(owner);
                }
            }
        }
        keys.sort();
        keys.dedup();
        keys
    }

    fn reconcile(
        &mut self,
        key: &ObjectKey,
        ctx: &mut Context<'_>,
    ) -> Result<Action, ReconcileError> {
        let Some(object) = ctx.store.get(key.kind, &key.namespace, &key.name) else {
            // Gone: its dependents were queued by its Deleted event.
            self.graph.forget(key);
            return Ok(Action::await_change());
        };
        let meta = object.metadata();
        self.graph.observe(key, &meta.uid, &meta.owner_references);

        if meta.deletion_timestamp.is_some() {
            if has_finalizer(meta, ORPHAN_FINALIZER) {
                // garbagecollector.go attemptToOrphanWorker.
                orphan_dependents(&object, ctx)?;
                remove_finalizer(key, ORPHAN_FINALIZER, ctx)?;
                return Ok(Action::await_change());
            }
            if has_finalizer(meta, FOREGROUND_FINALIZER) {
                process_deleting_dependents(&object, ctx)?;
                return Ok(Action::await_change());
            }
            // attemptToDeleteItem: being deleted and not waiting for dependents; nothing to do.
            return Ok(Action::await_change());
        }
        attempt_to_delete(&object, ctx)?;
        Ok(Action::await_change())
    }
}

/// garbagecollector.go `attemptToDeleteItem` for an object not being deleted.
fn attempt_to_delete(object: &Object, ctx: &mut Context<'_>) -> Result<(), ReconcileError> {
    let meta = object.metadata();
    if meta.owner_references.is_empty() {
        return Ok(());
    }
    let key = ObjectKey::of(object);
    let mut solid = 0;
    let mut remove: BTreeSet<String> = BTreeSet::new();
    let mut waiting = 0;
    for r in &meta.owner_references {
        match classify(&key, r, ctx) {
            OwnerState::Solid => solid += 1,
            OwnerState::Dangling => {
                remove.insert(r.uid.clone());
            }
            OwnerState::WaitingForDependents => {
                waiting += 1;
                remove.insert(r.uid.clone());
            }
        }
    }
    if solid > 0 {
        // Some owner is alive: the object stays; the references to dangling owners and to
        // owners waiting for their dependents go (so the latter need not wait for it).
        if remove.is_empty() {
            return Ok(());
        }
        let mut fresh = object.clone();
        fresh
            .metadata_mut()
            .owner_references
            .retain(|r| !remove.contains(&r.uid));
        return match ctx.store.update(fresh, ctx.now) {
            Ok(_) | Err(StoreError::NotFound { .. }) => Ok(()),
            Err(e) => Err(e.into()),
        };
    }
    let mut target = object.clone();
    let policy = if waiting > 0 && ctx.index.has_dependents(&meta.uid) {
        // An owner waits for this object, which has dependents of its own: delete it in the
        // foreground too. If a dependent is itself deleting its dependents, this object's
        // references are made non-blocking first, to break a possible cycle.
        let cycle = ctx.index.dependents_of(&meta.uid).any(|k| {
            ctx.store
                .get(k.kind, &k.namespace, &k.name)
                .is_some_and(|d| is_deleting_dependents(d.metadata()))
        });
        if cycle {
            let mut unblocked = object.clone();
            let mut changed = false;
            for r in &mut unblocked.metadata_mut().owner_references {
                if r.block_owner_deletion == Some(true) {
                    r.block_owner_deletion = Some(false);
                    changed = true;
                }
            }
            if changed {
                match ctx.store.update(unblocked, ctx.now) {
                    Ok(updated) => target = (*updated).clone(),
                    Err(StoreError::NotFound { .. }) => return Ok(()),
                    Err(e) => return Err(e.into()),
                }
            }
        }
        PropagationPolicy::Foreground
    } else if has_finalizer(meta, ORPHAN_FINALIZER) {
        // An object's own finalizer is honoured.
        PropagationPolicy::Orphan
    } else if has_finalizer(meta, FOREGROUND_FINALIZER) {
        PropagationPolicy::Foreground
    } else {
        PropagationPolicy::Background
    };
    delete(&target, policy, ctx)
}

/// Resolves one owner reference of the object at `dependent` (`isDangling` and
/// `classifyReferences`).
fn classify(dependent: &ObjectKey, r: &OwnerReference, ctx: &mut Context<'_>) -> OwnerState {
    let Some(kind) = owner_kind(r) else {
        // A kind Flotilla does not serve cannot be looked up; Kubernetes retries such an item
        // and never deletes it, so it counts as alive here.
        return OwnerState::Solid;
    };
    if kind.namespaced() && dependent.namespace.is_empty() {
        // A cluster-scoped object cannot be owned by a namespaced one: the reference is
        // unresolvable and so dangling (garbagecollector.go, OwnerRefInvalidNamespace).
        ctx.warning(
            dependent,
            "OwnerRefInvalidNamespace",
            format!(
                "ownerRef [{}/{}, namespace: , name: {}, uid: {}] does not exist in namespace \"\"",
                r.api_version, r.kind, r.name, r.uid
            ),
        );
        return OwnerState::Dangling;
    }
    let namespace = if kind.namespaced() {
        dependent.namespace.as_str()
    } else {
        ""
    };
    match ctx.store.get(kind, namespace, &r.name) {
        Some(owner) if owner.metadata().uid == r.uid => {
            if is_deleting_dependents(owner.metadata()) {
                OwnerState::WaitingForDependents
            } else {
                OwnerState::Solid
            }
        }
        _ => OwnerState::Dangling,
    }
}

/// Deletes `object` with `policy`, on the condition that its uid is still the stored one; a
/// delete of something already gone is no error.
fn delete(
    object: &Object,
    policy: PropagationPolicy,
    ctx: &mut Context<'_>,
) -> Result<(), ReconcileError> {
    let meta = object.metadata();
    let options = DeleteOptions {
        propagation_policy: policy,
        precondition_uid: Some(meta.uid.clone()),
        ..DeleteOptions::default()
    };
    match ctx.store.delete(
        object.kind(),
        &meta.namespace,
        &meta.name,
        &options,
        ctx.now,
    ) {
        Ok(_) | Err(StoreError::NotFound { .. }) => Ok(()),
        Err(e) => Err(e.into()),
    }
}

/// garbagecollector.go `processDeletingDependentsItem`: attempts every dependent of an owner
/// being deleted in the foreground, then removes the owner's `foregroundDeletion` finalizer
/// once no dependent blocks it.
fn process_deleting_dependents(
    owner: &Object,
    ctx: &mut Context<'_>,
) -> Result<(), ReconcileError> {
    let uid = owner.metadata().uid.clone();
    let dependents: Vec<ObjectKey> = ctx.index.dependents_of(&uid).cloned().collect();
    for k in &dependents {
        let Some(dependent) = ctx.store.get(k.kind, &k.namespace, &k.name) else {
            continue;
        };
        let meta = dependent.metadata();
        if !meta.owner_references.iter().any(|r| r.uid == uid) || meta.deletion_timestamp.is_some()
        {
            // No longer ours, or already going (a dependent deleting its own dependents is
            // handled by its own reconcile).
            continue;
        }
        attempt_to_delete(&dependent, ctx)?;
    }
    // node.blockingDependents, read again from the store after the deletes above.
    let blocked = dependents.iter().any(|k| {
        ctx.store
            .get(k.kind, &k.namespace, &k.name)
            .is_some_and(|d| {
                d.metadata()
                    .owner_references
                    .iter()
                    .any(|r| r.uid == uid && r.block_owner_deletion == Some(true))
            })
    });
    if blocked {
        return Ok(());
    }
    remove_finalizer(&ObjectKey::of(owner), FOREGROUND_FINALIZER, ctx)
}

/// garbagecollector.go `orphanDependents`: removes the references to `owner` from each of its
/// dependents. Every dependent is attempted; the first error is returned.
fn orphan_dependents(owner: &Object, ctx: &mut Context<'_>) -> Result<(), ReconcileError> {
    let uid = owner.metadata().uid.clone();
    let dependents: Vec<ObjectKey> = ctx.index.dependents_of(&uid).cloned().collect();
    let mut first_error = None;
    for k in dependents {
        let Some(dependent) = ctx.store.get(k.kind, &k.namespace, &k.name) else {
            continue;
        };
        if !dependent
            .metadata()
            .owner_references
            .iter()
            .any(|r| r.uid == uid)
        {
            continue;
        }
        let mut fresh = (*dependent).clone();
        fresh
            .metadata_mut()
            .owner_references
            .retain(|r| r.uid != uid);
        match ctx.store.update(fresh, ctx.now) {
            Ok(_) | Err(StoreError::NotFound { .. }) => {}
            Err(e) => {
                first_error.get_or_insert(e);
            }
        }
    }
    first_error.map_or(Ok(()), |e| Err(e.into()))
}

/// garbagecollector.go `removeFinalizer`: removes `finalizer` from the stored object (which
/// the store then deletes if it was the last one).
fn remove_finalizer(
    key: &ObjectKey,
    finalizer: &str,
    ctx: &mut Context<'_>,
) -> Result<(), ReconcileError> {
    let Some(stored) = ctx.store.get(key.kind, &key.namespace, &key.name) else {
        return Ok(());
    };
    if !has_finalizer(stored.metadata(), finalizer) {
        return Ok(());
    }
    let mut fresh = (*stored).clone();
    fresh.metadata_mut().finalizers.retain(|f| f != finalizer);
    match ctx.store.update(fresh, ctx.now) {
        Ok(_) | Err(StoreError::NotFound { .. }) => Ok(()),
        Err(e) => Err(e.into()),
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::pods::controller_ref;
    use crate::testing::Harness;
    use flotilla_model::api::{
        Container, Deployment, DeploymentSpec, Pod, PodSpec, PodTemplateSpec, ReplicaSet,
        ReplicaSetSpec,
    };
    use flotilla_model::{LabelSelector, Labels};

    const NS: &str = "default";

    fn harness() -> Harness {
        Harness::new(vec![Box::new(GarbageCollectorController::new())])
    }

    fn labels() -> Labels {
        Labels::from([("app".to_string(), "web".to_string())])
    }

    fn template() -> PodTemplateSpec {
        PodTemplateSpec {
            metadata: ObjectMeta {
                labels: labels().into(),
                ..ObjectMeta::default()
            },
            spec: PodSpec {
                containers: vec![Container {
                    name: "web".into(),
                    image: "nginx:1.27".into(),
                    ..Container::default()
                }]
                .into(),
                ..PodSpec::default()
            },
        }
    }

    fn selector() -> Option<LabelSelector> {
        Some(LabelSelector {
            match_labels: labels(),
            ..LabelSelector::default()
        })
    }

    fn deployment(h: &mut Harness, name: &str) -> Arc<Object> {
        let d = Deployment {
            metadata: ObjectMeta::named(NS, name),
            spec: DeploymentSpec {
                selector: selector(),
                template: template(),
                ..DeploymentSpec::default()
            },
            ..Deployment::default()
        };
        h.apply(d).unwrap()
    }

    fn replica_set(h: &mut Harness, name: &str, owners: &[OwnerReference]) -> Arc<Object> {
        let mut meta = ObjectMeta::named(NS, name);
        meta.owner_references = owners.to_vec();
        let rs = ReplicaSet {
            metadata: meta,
            spec: ReplicaSetSpec {
                selector: selector(),
                template: template(),
                ..ReplicaSetSpec::default()
            },
            ..ReplicaSet::default()
        };
        h.apply(rs).unwrap()
    }

    fn pod(h: &mut Harness, name: &str, owners: &[OwnerReference]) -> Arc<Object> {
        let mut meta = ObjectMeta::named(NS, name);
        meta.labels = labels().into();
        meta.owner_references = owners.to_vec();
        let p = Pod {
            metadata: meta,
            spec: template().spec.into(),
            ..Pod::default()
        };
        h.apply(p).unwrap()
    }

    fn owned_by(kind: Kind, owner: &Object) -> OwnerReference {
        controller_ref(kind, owner.metadata())
    }

    fn exists(h: &Harness, kind: Kind, name: &str) -> bool {
        h.store.get(kind, NS, name).is_some()
    }

    fn delete(h: &mut Harness, kind: Kind, name: &str, policy: PropagationPolicy) {
        let options = DeleteOptions {
            propagation_policy: policy,
            ..DeleteOptions::default()
        };
        h.store.delete(kind, NS, name, &options, h.now).unwrap();
        h.settle();
    }

    /// Whether any stored object references `uid`.
    fn referenced(h: &Harness, uid: &str) -> bool {
        Kind::ALL.iter().any(|&k| {
            h.store
                .iter_kind(k)
                .any(|o| o.metadata().owner_references.iter().any(|r| r.uid == uid))
        })
    }

    /// Deployment `web` → ReplicaSet `web-1` → pods `web-1-a` (bound) and `web-1-b`.
    fn chain(h: &mut Harness) -> (Arc<Object>, Arc<Object>) {
        let d = deployment(h, "web");
        let rs = replica_set(h, "web-1", &[owned_by(Kind::Deployment, &d)]);
        pod(h, "web-1-a", &[owned_by(Kind::ReplicaSet, &rs)]);
        pod(h, "web-1-b", &[owned_by(Kind::ReplicaSet, &rs)]);
        h.bind(NS, "web-1-a", "node-a");
        (d, rs)
    }

    #[test]
    fn background_deletion_cascades_down_the_whole_chain() {
        let mut h = harness();
        let (d, rs) = chain(&mut h);
        // Nothing is collected while the owners live.
        assert!(exists(&h, Kind::ReplicaSet, "web-1"));
        assert_eq!(h.pods(NS).len(), 2);

        delete(
            &mut h,
            Kind::Deployment,
            "web",
            PropagationPolicy::Background,
        );
        assert!(!exists(&h, Kind::Deployment, "web"));
        assert!(!exists(&h, Kind::ReplicaSet, "web-1"));
        assert!(
            !exists(&h, Kind::Pod, "web-1-b"),
            "an unbound pod goes at once"
        );
        let bound = h.pod(NS, "web-1-a").unwrap();
        assert!(
            bound.metadata.deletion_timestamp.is_some(),
            "a bound pod terminates"
        );
        h.finish_deletion(NS, "web-1-a");
        assert!(h.pods(NS).is_empty());
        assert!(!referenced(&h, &d.metadata().uid));
        assert!(!referenced(&h, &rs.metadata().uid));
    }

    #[test]
    fn foreground_deletion_keeps_each_owner_until_its_blocking_dependents_are_gone() {
        let mut h = harness();
        chain(&mut h);
        delete(
            &mut h,
            Kind::Deployment,
            "web",
            PropagationPolicy::Foreground,
        );
        // The unbound pod is gone; the bound one terminates and holds up the ReplicaSet,
        // which (having dependents) is deleted in the foreground too and holds up the
        // Deployment.
        assert!(!exists(&h, Kind::Pod, "web-1-b"));
        assert!(h
            .pod(NS, "web-1-a")
            .unwrap()
            .metadata
            .deletion_timestamp
            .is_some());
        for (kind, name) in [(Kind::Deployment, "web"), (Kind::ReplicaSet, "web-1")] {
            let o = h
                .store
                .get(kind, NS, name)
                .expect("kept while dependents remain");
            assert!(o.metadata().deletion_timestamp.is_some());
            assert_eq!(
                o.metadata().finalizers,
                vec![FOREGROUND_FINALIZER.to_string()]
            );
        }
        h.finish_deletion(NS, "web-1-a");
        assert!(!exists(&h, Kind::ReplicaSet, "web-1"));
        assert!(!exists(&h, Kind::Deployment, "web"));
        assert!(h.pods(NS).is_empty());
    }

    #[test]
    fn foreground_deletion_does_not_wait_for_a_dependent_that_has_another_owner() {
        let mut h = harness();
        let a = replica_set(&mut h, "a", &[]);
        let b = replica_set(&mut h, "b", &[]);
        let mut to_b = owned_by(Kind::ReplicaSet, &b);
        to_b.controller = Some(false);
        pod(&mut h, "shared", &[owned_by(Kind::ReplicaSet, &a), to_b]);
        h.bind(NS, "shared", "node-a");
        delete(&mut h, Kind::ReplicaSet, "a", PropagationPolicy::Foreground);
        assert!(!exists(&h, Kind::ReplicaSet, "a"));
        let shared = h.pod(NS, "shared").unwrap();
        assert!(shared.metadata.deletion_timestamp.is_none());
        let owners: Vec<&str> = shared
            .metadata
            .owner_references
            .iter()
            .map(|r| r.name.as_str())
            .collect();
        assert_eq!(owners, ["b"]);
    }

    #[test]
    fn orphan_deletion_leaves_dependents_without_the_reference() {
        let mut h = harness();
        let (_, rs) = chain(&mut h);
        delete(&mut h, Kind::ReplicaSet, "web-1", PropagationPolicy::Orphan);
        assert!(!exists(&h, Kind::ReplicaSet, "web-1"));
        let pods = h.pods(NS);
        assert_eq!(pods.len(), 2);
        for p in pods {
            assert!(
                p.metadata.owner_references.is_empty(),
                "{}",
                p.metadata.name
            );
            assert!(p.metadata.deletion_timestamp.is_none());
        }
        assert!(!referenced(&h, &rs.metadata().uid));
        assert!(exists(&h, Kind::Deployment, "web"));
    }

    #[test]
    fn a_dependent_with_a_live_owner_survives_and_loses_the_dead_reference() {
        let mut h = harness();
        let a = replica_set(&mut h, "a", &[]);
        let b = replica_set(&mut h, "b", &[]);
        let mut to_b = owned_by(Kind::ReplicaSet, &b);
        to_b.controller = Some(false);
        pod(&mut h, "shared", &[owned_by(Kind::ReplicaSet, &a), to_b]);
        delete(&mut h, Kind::ReplicaSet, "a", PropagationPolicy::Background);
        let shared = h.pod(NS, "shared").expect("one owner is still alive");
        assert_eq!(shared.metadata.owner_references.len(), 1);
        assert_eq!(shared.metadata.owner_references[0].uid, b.metadata().uid);
        // When the last owner goes, so does the dependent.
        delete(&mut h, Kind::ReplicaSet, "b", PropagationPolicy::Background);
        assert!(h.pods(NS).is_empty());
    }

    #[test]
    fn a_dependent_of_an_owner_that_does_not_exist_is_collected() {
        let mut h = harness();
        let ghost = OwnerReference {
            api_version: "apps/v1".into(),
            kind: "ReplicaSet".into(),
            name: "ghost".into(),
            uid: "00000000-0000-4000-8000-000000000000".into(),
            controller: Some(true),
            block_owner_deletion: Some(true),
        };
        pod(&mut h, "haunted", std::slice::from_ref(&ghost));
        assert!(!exists(&h, Kind::Pod, "haunted"));

        // A live object of that name with another uid is not the owner either.
        replica_set(&mut h, "ghost", &[]);
        pod(&mut h, "haunted", &[ghost]);
        assert!(!exists(&h, Kind::Pod, "haunted"));
        assert!(exists(&h, Kind::ReplicaSet, "ghost"));
    }

    #[test]
    fn a_reference_to_a_kind_flotilla_does_not_know_is_left_alone() {
        let mut h = harness();
        let unknown = OwnerReference {
            api_version: "example.com/v1".into(),
            kind: "Widget".into(),
            name: "w".into(),
            uid: "u-widget".into(),
            controller: Some(true),
            block_owner_deletion: None,
        };
        pod(&mut h, "kept", &[unknown]);
        assert!(exists(&h, Kind::Pod, "kept"));
    }

    fn key(kind: Kind, name: &str) -> ObjectKey {
        ObjectKey {
            kind,
            namespace: NS.into(),
            name: name.into(),
        }
    }

    fn reference(name: &str, uid: &str) -> OwnerReference {
        OwnerReference {
            api_version: "apps/v1".into(),
            kind: "ReplicaSet".into(),
            name: name.into(),
            uid: uid.into(),
            controller: None,
            block_owner_deletion: None,
        }
    }

    #[test]
    fn the_graph_follows_references_and_drops_unused_virtual_nodes() {
        let mut g = OwnerGraph::new();
        let pod = key(Kind::Pod, "p");
        // The pod references an owner not yet observed: a virtual node.
        g.observe(&pod, "p-uid", &[reference("a", "a-uid")]);
        assert_eq!(g.len(), 2);
        assert_eq!(g.virtual_count(), 1);
        assert_eq!(g.owners_of("p-uid"), vec![key(Kind::ReplicaSet, "a")]);
        assert_eq!(g.dependents_of("a-uid"), vec![pod.clone()]);

        // The owner is observed: no longer virtual.
        g.observe(&key(Kind::ReplicaSet, "a"), "a-uid", &[]);
        assert_eq!(g.virtual_count(), 0);

        assert!(g.holds_without_owners(&key(Kind::ReplicaSet, "a"), "a-uid"));
        assert!(!g.holds_without_owners(&key(Kind::ReplicaSet, "a"), "other-uid"));
        assert!(
            !g.holds_without_owners(&pod, "p-uid"),
            "the pod has an owner"
        );

        // The pod switches owners; the unobserved new owner is virtual, the old one stays
        // (observed).
        g.observe(&pod, "p-uid", &[reference("b", "b-uid")]);
        assert_eq!(g.owners_of("p-uid"), vec![key(Kind::ReplicaSet, "b")]);
        assert!(g.dependents_of("a-uid").is_empty());
        assert_eq!((g.len(), g.virtual_count()), (3, 1));

        // The observed owner goes while nothing references it: its node goes.
        g.forget(&key(Kind::ReplicaSet, "a"));
        assert!(g.get("a-uid").is_none());

        // The pod goes: the virtual owner nothing references any more goes too.
        g.forget(&pod);
        assert!(g.is_empty());

        // An owner that goes while dependents still reference it stays as a virtual node.
        g.observe(&key(Kind::ReplicaSet, "a"), "a-uid", &[]);
        g.observe(&pod, "p-uid", &[reference("a", "a-uid")]);
        g.forget(&key(Kind::ReplicaSet, "a"));
        assert_eq!(g.get("a-uid").map(|n| n.observed), Some(false));
        assert_eq!(g.dependents_of("a-uid"), vec![pod.clone()]);

        // The same key observed with a new uid replaces the old node.
        g.observe(&pod, "p-uid-2", &[]);
        assert!(g.get("p-uid").is_none());
        assert!(g.get("a-uid").is_none());
        assert_eq!(g.len(), 1);
        assert!(g.holds_without_owners(&pod, "p-uid-2"));
        assert!(!g.holds_without_owners(&pod, "p-uid"));
    }

    #[test]
    fn foreground_deletion_with_the_replica_set_controller_running_creates_no_replacements() {
        let mut h = Harness::new(vec![
            Box::new(crate::replica_set::ReplicaSetController::new()),
            Box::new(GarbageCollectorController::new()),
        ]);
        let mut rs = ReplicaSet {
            metadata: ObjectMeta::named(NS, "web"),
            spec: ReplicaSetSpec {
                replicas: Some(3),
                selector: selector(),
                template: template(),
                ..ReplicaSetSpec::default()
            },
            ..ReplicaSet::default()
        };
        rs.spec.template.spec.termination_grace_period_seconds = Some(30);
        h.apply(rs).unwrap();
        h.make_pods_ready(NS, "node-a");
        assert_eq!(h.pods(NS).len(), 3);
        delete(
            &mut h,
            Kind::ReplicaSet,
            "web",
            PropagationPolicy::Foreground,
        );
        let pods = h.pods(NS);
        assert_eq!(pods.len(), 3, "no replacement for terminating pods");
        assert!(pods.iter().all(|p| p.metadata.deletion_timestamp.is_some()));
        assert!(exists(&h, Kind::ReplicaSet, "web"));
        h.finish_all_deletions(NS);
        assert!(h.pods(NS).is_empty());
        assert!(!exists(&h, Kind::ReplicaSet, "web"));
    }

    #[test]
    fn owner_kinds_resolve_by_group_and_kind() {
        let mut r = reference("a", "u");
        assert_eq!(owner_kind(&r), Some(Kind::ReplicaSet));
        r.api_version = "apps/v1beta2".into();
        assert_eq!(owner_kind(&r), Some(Kind::ReplicaSet));
        r.api_version = "v1".into();
        assert_eq!(owner_kind(&r), None);
        r.kind = "Pod".into();
        assert_eq!(owner_kind(&r), Some(Kind::Pod));
    }
}
