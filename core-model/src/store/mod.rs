//! The object store: Kubernetes' API server and etcd in one pure value.
//!
//! [`Store`] keeps every object under its kind, namespace and name, behind an `Arc` so that reads,
//! lists and watch events share the stored object instead of copying it. Each write goes through
//! admission (defaulting, validation, namespace lifecycle, LimitRange, priority, ResourceQuota; see
//! [`admission`]), gets the next global `resourceVersion`, and is appended to a bounded change log
//! that [`watch`](Store::watch) cursors read from.
//!
//! The store reads no clock and no OS randomness: every write takes `now`, and uids and generated
//! names come from a [`ChaCha8Rng`](rand_chacha::ChaCha8Rng) seeded from the store's seed, so the
//! same calls produce the same objects, bit for bit.
//!
//! ```
//! use flotilla_model::store::{Store, StoreConfig};
//! use flotilla_model::api::Namespace;
//! use flotilla_model::{Kind, ObjectMeta, Time};
//!
//! let mut store = Store::new(StoreConfig::default());
//! let ns = Namespace { metadata: ObjectMeta::named("", "team-a"), ..Default::default() };
//! let created = store.create(ns.into(), Time::from_secs(10)).expect("valid namespace");
//! assert_eq!(created.metadata().resource_version, store.resource_version().to_string());
//! assert!(store.get(Kind::Namespace, "", "team-a").is_some());
//! ```

pub mod admission;
mod fields;
pub mod watch;

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;

use rand::Rng;
use rand_chacha::ChaCha8Rng;

use crate::object::{Kind, Object};
use crate::rng::component_rng;
use crate::selector::{FieldSelector, Selector};
use crate::time::Time;
use crate::validation::{ErrorList, FieldError, FieldPath};

pub use watch::{WatchCursor, WatchEvent, WatchEventType};

/// The name of the namespace objects land in when they name none, as kubectl's default context.
pub const DEFAULT_NAMESPACE: &str = "default";

/// The namespaces that exist from the start, as in a new Kubernetes cluster.
pub const INITIAL_NAMESPACES: [&str; 4] =
    ["default", "kube-system", "kube-public", "kube-node-lease"];

/// Where an object lives: kind, namespace (empty for cluster-scoped kinds) and name.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ObjectKey {
    /// The object's kind.
    pub kind: Kind,
    /// The namespace; empty for cluster-scoped kinds.
    pub namespace: String,
    /// The name.
    pub name: String,
}

impl ObjectKey {
    /// The key of `object`.
    pub fn of(object: &Object) -> ObjectKey {
        let meta = object.metadata();
        ObjectKey {
            kind: object.kind(),
            namespace: meta.namespace.clone(),
            name: meta.name.clone(),
        }
    }
}

impl fmt::Display for ObjectKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.namespace.is_empty() {
            write!(f, "{}/{}", self.kind.plural(), self.name)
        } else {
            write!(f, "{}/{}/{}", self.kind.plural(), self.namespace, self.name)
        }
    }
}

/// Settings of a [`Store`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoreConfig {
    /// Seed for uids and generated names.
    pub seed: u64,
    /// How many change events the watch history keeps; a cursor older than that must relist.
    pub watch_history: usize,
    /// Create the namespaces of a new cluster (`default`, `kube-system`, …) and the system
    /// priority classes.
    pub bootstrap: bool,
}

impl Default for StoreConfig {
    fn default() -> Self {
        StoreConfig {
            seed: 0,
            watch_history: 100_000,
            bootstrap: true,
        }
    }
}

/// Why a store request failed. Messages follow the API server's (`pods "web" not found`).
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum StoreError {
    /// No object with that key exists.
    #[error("{} {name:?} not found", kind.plural())]
    NotFound {
        /// Kind looked for.
        kind: Kind,
        /// Namespace looked in.
        namespace: String,
        /// Name looked for.
        name: String,
    },
    /// An object with that key exists already.
    #[error("{} {name:?} already exists", kind.plural())]
    AlreadyExists {
        /// Kind of the object.
        kind: Kind,
        /// Namespace of the object.
        namespace: String,
        /// Name of the object.
        name: String,
    },
    /// The update carried a stale `resourceVersion` or failed a precondition (optimistic
    /// concurrency): read again and retry.
    #[error("Operation cannot be fulfilled on {} {name:?}: {reason}", kind.plural())]
    Conflict {
        /// Kind of the object.
        kind: Kind,
        /// Name of the object.
        name: String,
        /// What did not match.
        reason: String,
    },
    /// Admission rejected the object (defaults applied, then validation failed).
    #[error("{kind} {name:?} is invalid: {}", format_errors(errors))]
    Invalid {
        /// Kind of the object.
        kind: Kind,
        /// Name of the object.
        name: String,
        /// Every validation error.
        errors: ErrorList,
    },
    /// Admission refused the request (quota exceeded, namespace terminating, …).
    #[error("{0}")]
    Forbidden(String),
    /// The request itself is malformed (an unsupported field selector, a patch that is not an
    /// object, a namespace that does not match the object's, …).
    #[error("{0}")]
    BadRequest(String),
    /// A watch cursor fell off the bounded history: relist and watch from the new version.
    #[error("too old resource version: {requested} ({oldest})")]
    ResourceVersionTooOld {
        /// The version the cursor asked to continue from.
        requested: u64,
        /// The oldest version the history can continue from.
        oldest: u64,
    },
}

fn format_errors(errors: &ErrorList) -> String {
    match errors.as_slice() {
        [one] => one.to_string(),
        many => format!(
            "[{}]",
            many.iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join(", ")
        ),
    }
}

/// How `delete` treats the dependents of the object (Kubernetes' `propagationPolicy`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum PropagationPolicy {
    /// Delete the object now; the garbage collector deletes dependents afterwards.
    #[default]
    Background,
    /// Keep the object (with the `foregroundDeletion` finalizer) until its blocking dependents
    /// are gone.
    Foreground,
    /// Keep the object (with the `orphan` finalizer) until its dependents no longer reference it.
    Orphan,
}

/// Options of a delete request (Kubernetes' `DeleteOptions`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DeleteOptions {
    /// Seconds the object may take to shut down; `None` takes the object's own default (a pod's
    /// `terminationGracePeriodSeconds`). Zero deletes at once.
    pub grace_period_seconds: Option<i64>,
    /// What happens to dependents.
    pub propagation_policy: PropagationPolicy,
    /// Delete only if the stored object has this uid.
    pub precondition_uid: Option<String>,
    /// Delete only if the stored object has this resourceVersion.
    pub precondition_resource_version: Option<String>,
}

/// What a delete did.
#[derive(Clone, Debug, PartialEq)]
pub enum DeleteOutcome {
    /// The object is gone; this is its last state.
    Deleted(Arc<Object>),
    /// Deletion is pending (finalizers or a grace period); this is the object, now carrying a
    /// `deletionTimestamp`.
    Pending(Arc<Object>),
}

/// Label and field selectors of a list or watch.
#[derive(Clone, Debug, Default)]
pub struct ListOptions {
    /// Only objects in this namespace (`None`: every namespace).
    pub namespace: Option<String>,
    /// Only objects whose labels match.
    pub label_selector: Option<Selector>,
    /// Only objects whose fields match (supported fields depend on the kind, as in Kubernetes).
    pub field_selector: Option<FieldSelector>,
}

/// The object store. See the [module docs](self).
#[derive(Clone, Debug)]
pub struct Store {
    objects: BTreeMap<ObjectKey, Arc<Object>>,
    resource_version: u64,
    log: watch::ChangeLog,
    rng: ChaCha8Rng,
}

impl Store {
    /// A store configured by `config`; with `bootstrap`, the initial namespaces and system
    /// priority classes exist (written at time zero).
    pub fn new(config: StoreConfig) -> Store {
        let mut store = Store {
            objects: BTreeMap::new(),
            resource_version: 0,
            log: watch::ChangeLog::new(config.watch_history),
            rng: component_rng(config.seed, "store"),
        };
        if config.bootstrap {
            for name in INITIAL_NAMESPACES {
                let ns = crate::api::Namespace {
                    metadata: crate::ObjectMeta::named("", name),
                    ..Default::default()
                };
                store
                    .create(ns.into(), Time::ZERO)
                    .expect("bootstrap namespaces are valid");
            }
            for class in crate::api::PriorityClass::system_classes() {
                store
                    .create(class.into(), Time::ZERO)
                    .expect("system priority classes are valid");
            }
        }
        store
    }

    /// The version of the latest write (zero before any).
    pub fn resource_version(&self) -> u64 {
        self.resource_version
    }

    /// How many objects the store holds.
    pub fn len(&self) -> usize {
        self.objects.len()
    }

    /// Whether the store holds no object.
    pub fn is_empty(&self) -> bool {
        self.objects.is_empty()
    }

    /// The object of `kind` named `name` in `namespace` (empty for cluster-scoped kinds).
    pub fn get(&self, kind: Kind, namespace: &str, name: &str) -> Option<Arc<Object>> {
        let key = ObjectKey {
            kind,
            namespace: namespace_for(kind, namespace),
            name: name.to_string(),
        };
        self.objects.get(&key).cloned()
    }

    /// Every object of `kind`, in key order (namespace, then name), without filtering.
    pub fn iter_kind(&self, kind: Kind) -> impl Iterator<Item = &Arc<Object>> + '_ {
        let start = ObjectKey {
            kind,
            namespace: String::new(),
            name: String::new(),
        };
        self.objects
            .range(start..)
            .take_while(move |(k, _)| k.kind == kind)
            .map(|(_, v)| v)
    }

    /// Objects of `kind` in `namespace`, in name order.
    pub fn iter_namespace<'a>(
        &'a self,
        kind: Kind,
        namespace: &'a str,
    ) -> impl Iterator<Item = &'a Arc<Object>> + 'a {
        let start = ObjectKey {
            kind,
            namespace: namespace.to_string(),
            name: String::new(),
        };
        self.objects
            .range(start..)
            .take_while(move |(k, _)| k.kind == kind && k.namespace == namespace)
            .map(|(_, v)| v)
    }

    /// Lists objects of `kind` that match `options`, in key order, with the store's current
    /// resourceVersion (from which a watch continues without missing a change).
    pub fn list(
        &self,
        kind: Kind,
        options: &ListOptions,
    ) -> Result<(Vec<Arc<Object>>, u64), StoreError> {
        if let Some(fs) = &options.field_selector {
            fields::check_supported(kind, fs)?;
        }
        let matches = |o: &&Arc<Object>| {
            options
                .label_selector
                .as_ref()
                .is_none_or(|s| s.matches(&o.metadata().labels))
                && options
                    .field_selector
                    .as_ref()
                    .is_none_or(|fs| fs.matches(|f| fields::field_value(o, f)))
        };
        let items: Vec<Arc<Object>> = match &options.namespace {
            Some(ns) if kind.namespaced() => self
                .iter_namespace(kind, ns)
                .filter(matches)
                .cloned()
                .collect(),
            _ => self.iter_kind(kind).filter(matches).cloned().collect(),
        };
        Ok((items, self.resource_version))
    }

    /// Creates an object: admission (defaults, validation, namespace, LimitRange, priority,
    /// quota), a generated name for `generateName`, a uid, `creationTimestamp = now`,
    /// `generation = 1`, and the next resourceVersion. A namespaced object with no namespace
    /// goes to `default`. A rejected create changes nothing.
    pub fn create(&mut self, mut object: Object, now: Time) -> Result<Arc<Object>, StoreError> {
        let kind = object.kind();
        normalize_namespace(&mut object)?;
        if object.metadata().name.is_empty() && !object.metadata().generate_name.is_empty() {
            let name = self.generate_name(&object);
            object.metadata_mut().name = name;
        }
        let key = ObjectKey::of(&object);
        if self.objects.contains_key(&key) {
            return Err(StoreError::AlreadyExists {
                kind,
                namespace: key.namespace,
                name: key.name,
            });
        }
        {
            let meta = object.metadata_mut();
            meta.uid.clear();
            meta.resource_version.clear();
            meta.deletion_timestamp = None;
            meta.deletion_grace_period_seconds = None;
        }
        let uid = self.generate_uid();
        {
            let meta = object.metadata_mut();
            meta.uid = uid;
            meta.creation_timestamp = Some(now);
            meta.generation = 1;
        }
        // Server-generated fields that depend on the uid (a Job's selector).
        if let Object::Job(job) = &mut object {
            job.set_generated_selector();
        }
        let quota_writes = admission::admit_create(self, &mut object)?;
        self.commit_quota_writes(quota_writes);
        Ok(self.put(key, object, WatchEventType::Added))
    }

    /// Replaces the stored object with `object` (`kubectl replace`). A non-empty
    /// `resourceVersion` must match the stored one, else [`StoreError::Conflict`]. The stored
    /// status is kept (use [`update_status`](Store::update_status) to change it); `uid`,
    /// `creationTimestamp` and `deletionTimestamp` cannot be changed; `generation` is bumped when
    /// the spec changes. Removing the last finalizer of an object being deleted deletes it.
    pub fn update(&mut self, mut object: Object, now: Time) -> Result<Arc<Object>, StoreError> {
        normalize_namespace(&mut object)?;
        let key = ObjectKey::of(&object);
        let old = self.current(&key, &object)?;
        object.copy_status_from(&old);
        carry_server_fields(&mut object, &old);
        if object.spec_differs(&old) {
            object.metadata_mut().generation = old.metadata().generation + 1;
        }
        admission::admit_update(self, &mut object, &old, now)?;
        Ok(self.finish_update(key, object, &old))
    }

    /// Writes only the status of the stored object (the `/status` subresource): everything else
    /// is taken from the stored object. Checks `resourceVersion` like [`update`](Store::update).
    pub fn update_status(
        &mut self,
        mut object: Object,
        now: Time,
    ) -> Result<Arc<Object>, StoreError> {
        let _ = now;
        normalize_namespace(&mut object)?;
        let key = ObjectKey::of(&object);
        let old = self.current(&key, &object)?;
        let mut updated = (*old).clone();
        updated.copy_status_from(&object);
        let errors = updated.validate();
        if !errors.is_empty() {
            return Err(StoreError::Invalid {
                kind: key.kind,
                name: key.name,
                errors,
            });
        }
        let quota_writes = admission::quota_on_status_change(self, &old, &updated);
        self.commit_quota_writes(quota_writes);
        Ok(self.put(key, updated, WatchEventType::Modified))
    }

    /// Applies a JSON merge patch (RFC 7386, `kubectl patch --type merge`) to the stored object
    /// and updates it. A `metadata.resourceVersion` in the patch is checked like an update's;
    /// `status` in the patch is ignored (patch the status with [`update_status`](Store::update_status)).
    pub fn patch(
        &mut self,
        kind: Kind,
        namespace: &str,
        name: &str,
        patch: &serde_json::Value,
        now: Time,
    ) -> Result<Arc<Object>, StoreError> {
        if !patch.is_object() {
            return Err(StoreError::BadRequest(
                "a merge patch must be a JSON object".into(),
            ));
        }
        let old = self
            .get(kind, namespace, name)
            .ok_or_else(|| StoreError::NotFound {
                kind,
                namespace: namespace.to_string(),
                name: name.to_string(),
            })?;
        let mut value = old.to_value();
        // Without a resourceVersion in the patch, the patch applies to whatever is stored.
        merge_patch(&mut value, patch);
        let patched = Object::from_value(kind, value).map_err(|e| {
            StoreError::BadRequest(format!("the patch does not decode as a {kind}: {e}"))
        })?;
        if patched.metadata().name != old.metadata().name
            || patched.metadata().namespace != old.metadata().namespace
        {
            return Err(StoreError::BadRequest(
                "a patch cannot change metadata.name or metadata.namespace".into(),
            ));
        }
        self.update(patched, now)
    }

    /// Deletes an object as the API server does: with finalizers (or the `Foreground`/`Orphan`
    /// policies, which add theirs) it only gets a `deletionTimestamp`; a pod bound to a node gets
    /// a grace period and is removed when its kubelet deletes it with grace 0; a Namespace turns
    /// `Terminating` until the namespace controller empties it and removes its finalizer.
    pub fn delete(
        &mut self,
        kind: Kind,
        namespace: &str,
        name: &str,
        options: &DeleteOptions,
        now: Time,
    ) -> Result<DeleteOutcome, StoreError> {
        let key = ObjectKey {
            kind,
            namespace: namespace_for(kind, namespace),
            name: name.to_string(),
        };
        let old = self
            .objects
            .get(&key)
            .cloned()
            .ok_or_else(|| StoreError::NotFound {
                kind,
                namespace: key.namespace.clone(),
                name: key.name.clone(),
            })?;
        let meta = old.metadata();
        if let Some(uid) = &options.precondition_uid {
            if *uid != meta.uid {
                return Err(StoreError::Conflict {
                    kind,
                    name: key.name,
                    reason: format!(
                        "Precondition failed: UID in precondition: {uid}, UID in object meta: {}",
                        meta.uid
                    ),
                });
            }
        }
        if let Some(rv) = &options.precondition_resource_version {
            if *rv != meta.resource_version {
                return Err(StoreError::Conflict {
                    kind,
                    name: key.name,
                    reason: format!(
                        "Precondition failed: ResourceVersion in precondition: {rv}, ResourceVersion in object meta: {}",
                        meta.resource_version
                    ),
                });
            }
        }
        let mut pending = (*old).clone();
        let mut finalizers = pending.metadata().finalizers.clone();
        match options.propagation_policy {
            PropagationPolicy::Foreground => add_finalizer(&mut finalizers, FOREGROUND_FINALIZER),
            PropagationPolicy::Orphan => add_finalizer(&mut finalizers, ORPHAN_FINALIZER),
            PropagationPolicy::Background => {}
        }
        let grace = self.grace_period(&old, options);
        let namespace_finalizing = match &mut pending {
            Object::Namespace(ns) if !ns.spec.finalizers.is_empty() => {
                ns.status.phase = Some(crate::api::NamespacePhase::Terminating);
                true
            }
            _ => false,
        };
        if finalizers.is_empty() && grace == 0 && !namespace_finalizing {
            return Ok(DeleteOutcome::Deleted(self.remove(&key)));
        }
        let m = pending.metadata_mut();
        if m.deletion_timestamp.is_none()
            || grace < m.deletion_grace_period_seconds.unwrap_or(i64::MAX)
        {
            m.deletion_timestamp =
                Some(now.saturating_add(crate::Duration::from_secs(grace.max(0) as u64)));
            m.deletion_grace_period_seconds = Some(grace);
        }
        m.finalizers = finalizers;
        Ok(DeleteOutcome::Pending(self.put(
            key,
            pending,
            WatchEventType::Modified,
        )))
    }

    /// Reads the changes after `cursor`'s version, in order, and advances it. A cursor older
    /// than the bounded history gets [`StoreError::ResourceVersionTooOld`] and must relist.
    pub fn watch(&self, cursor: &mut WatchCursor) -> Result<Vec<WatchEvent>, StoreError> {
        self.log.read(cursor)
    }

    /// The events recorded after `resource_version`, of every kind, without filtering.
    pub fn changes_since(
        &self,
        resource_version: u64,
    ) -> Result<impl ExactSizeIterator<Item = &WatchEvent> + '_, StoreError> {
        self.log.since(resource_version)
    }

    fn grace_period(&self, object: &Object, options: &DeleteOptions) -> i64 {
        match object {
            // Pods not yet bound to a node have no kubelet to wait for.
            Object::Pod(pod) if pod.spec.node_name.is_empty() => 0,
            Object::Pod(pod) if pod.metadata.deletion_timestamp.is_some() => options
                .grace_period_seconds
                .unwrap_or(0)
                .min(pod.metadata.deletion_grace_period_seconds.unwrap_or(0)),
            Object::Pod(pod) => options
                .grace_period_seconds
                .or(pod.spec.termination_grace_period_seconds)
                .unwrap_or(crate::api::DEFAULT_TERMINATION_GRACE_PERIOD_SECONDS)
                .max(0),
            _ => 0,
        }
    }

    fn current(&self, key: &ObjectKey, incoming: &Object) -> Result<Arc<Object>, StoreError> {
        let old = self
            .objects
            .get(key)
            .cloned()
            .ok_or_else(|| StoreError::NotFound {
                kind: key.kind,
                namespace: key.namespace.clone(),
                name: key.name.clone(),
            })?;
        let rv = &incoming.metadata().resource_version;
        if !rv.is_empty() && *rv != old.metadata().resource_version {
            return Err(StoreError::Conflict {
                kind: key.kind,
                name: key.name.clone(),
                reason: "the object has been modified; please apply your changes to the latest version and try again"
                    .into(),
            });
        }
        let uid = &incoming.metadata().uid;
        if !uid.is_empty() && *uid != old.metadata().uid {
            return Err(StoreError::Conflict {
                kind: key.kind,
                name: key.name.clone(),
                reason: format!(
                    "Precondition failed: UID in precondition: {uid}, UID in object meta: {}",
                    old.metadata().uid
                ),
            });
        }
        Ok(old)
    }

    fn finish_update(&mut self, key: ObjectKey, object: Object, old: &Object) -> Arc<Object> {
        let meta = object.metadata();
        if meta.deletion_timestamp.is_some()
            && meta.finalizers.is_empty()
            && !self.waits_for_grace(old, &object)
        {
            self.objects.insert(key.clone(), Arc::new(object));
            return self.remove(&key);
        }
        self.put(key, object, WatchEventType::Modified)
    }

    fn waits_for_grace(&self, _old: &Object, object: &Object) -> bool {
        match object {
            // A bound pod in its grace period stays until its kubelet deletes it with grace 0.
            Object::Pod(p) => {
                !p.spec.node_name.is_empty()
                    && p.metadata.deletion_grace_period_seconds.unwrap_or(0) > 0
            }
            // A namespace stays until the namespace controller has removed its spec.finalizers.
            Object::Namespace(ns) => !ns.spec.finalizers.is_empty(),
            _ => false,
        }
    }

    fn put(
        &mut self,
        key: ObjectKey,
        mut object: Object,
        event_type: WatchEventType,
    ) -> Arc<Object> {
        self.resource_version += 1;
        object.metadata_mut().resource_version = self.resource_version.to_string();
        let object = Arc::new(object);
        self.objects.insert(key, object.clone());
        self.log.push(WatchEvent {
            event_type,
            object: object.clone(),
            resource_version: self.resource_version,
        });
        object
    }

    fn remove(&mut self, key: &ObjectKey) -> Arc<Object> {
        let old = self
            .objects
            .remove(key)
            .expect("remove is called with a stored key");
        let quota_writes = admission::quota_on_remove(self, &old);
        self.commit_quota_writes(quota_writes);
        self.resource_version += 1;
        let mut last = (*old).clone();
        last.metadata_mut().resource_version = self.resource_version.to_string();
        let last = Arc::new(last);
        self.log.push(WatchEvent {
            event_type: WatchEventType::Deleted,
            object: last.clone(),
            resource_version: self.resource_version,
        });
        last
    }

    fn commit_quota_writes(&mut self, writes: Vec<Object>) {
        for quota in writes {
            let key = ObjectKey::of(&quota);
            self.put(key, quota, WatchEventType::Modified);
        }
    }

    fn generate_uid(&mut self) -> String {
        let mut b: [u8; 16] = self.rng.random();
        b[6] = (b[6] & 0x0f) | 0x40; // version 4
        b[8] = (b[8] & 0x3f) | 0x80; // RFC 4122 variant
        let h: String = b.iter().map(|x| format!("{x:02x}")).collect();
        format!(
            "{}-{}-{}-{}-{}",
            &h[0..8],
            &h[8..12],
            &h[12..16],
            &h[16..20],
            &h[20..32]
        )
    }

    /// `generateName` plus five characters from Kubernetes' alphabet (no vowels, no confusable
    /// digits; apiserver/pkg/storage/names), retried until the name is free.
    fn generate_name(&mut self, object: &Object) -> String {
        const ALPHABET: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";
        let meta = object.metadata();
        let mut prefix = meta.generate_name.clone();
        prefix.truncate(58);
        loop {
            let suffix: String = (0..5)
                .map(|_| ALPHABET[self.rng.random_range(0..ALPHABET.len())] as char)
                .collect();
            let name = format!("{prefix}{suffix}");
            let key = ObjectKey {
                kind: object.kind(),
                namespace: meta.namespace.clone(),
                name: name.clone(),
            };
            if !self.objects.contains_key(&key) {
                return name;
            }
        }
    }
}

/// The finalizer that makes deletion wait for blocking dependents (foreground propagation).
pub const FOREGROUND_FINALIZER: &str = "foregroundDeletion";
/// The finalizer that makes deletion orphan dependents first.
pub const ORPHAN_FINALIZER: &str = "orphan";

fn add_finalizer(finalizers: &mut Vec<String>, f: &str) {
    if !finalizers.iter().any(|x| x == f) {
        finalizers.push(f.to_string());
    }
}

fn namespace_for(kind: Kind, namespace: &str) -> String {
    if kind.namespaced() {
        if namespace.is_empty() {
            DEFAULT_NAMESPACE.to_string()
        } else {
            namespace.to_string()
        }
    } else {
        String::new()
    }
}

fn normalize_namespace(object: &mut Object) -> Result<(), StoreError> {
    let kind = object.kind();
    let meta = object.metadata_mut();
    if kind.namespaced() {
        if meta.namespace.is_empty() {
            meta.namespace = DEFAULT_NAMESPACE.to_string();
        }
        Ok(())
    } else if meta.namespace.is_empty() {
        Ok(())
    } else {
        Err(StoreError::Invalid {
            kind,
            name: meta.name.clone(),
            errors: vec![FieldError::forbidden(
                &FieldPath::new("metadata").child("namespace"),
                "not allowed on this type",
            )],
        })
    }
}

/// Keeps the fields only the server sets when a client writes an object back.
fn carry_server_fields(object: &mut Object, old: &Object) {
    let old_meta = old.metadata();
    let meta = object.metadata_mut();
    meta.uid.clone_from(&old_meta.uid);
    meta.creation_timestamp = old_meta.creation_timestamp;
    meta.deletion_timestamp = old_meta.deletion_timestamp;
    meta.deletion_grace_period_seconds = old_meta.deletion_grace_period_seconds;
    meta.generation = old_meta.generation;
    meta.generate_name.clone_from(&old_meta.generate_name);
}

/// RFC 7386 JSON merge patch: objects merge recursively, `null` removes, anything else replaces.
pub fn merge_patch(target: &mut serde_json::Value, patch: &serde_json::Value) {
    match patch {
        serde_json::Value::Object(fields) => {
            if !target.is_object() {
                *target = serde_json::Value::Object(serde_json::Map::new());
            }
            if let serde_json::Value::Object(map) = target {
                for (k, v) in fields {
                    if v.is_null() {
                        map.remove(k);
                    } else {
                        merge_patch(map.entry(k.clone()).or_insert(serde_json::Value::Null), v);
                    }
                }
            }
        }
        other => *target = other.clone(),
    }
}
