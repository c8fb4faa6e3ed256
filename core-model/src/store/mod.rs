//! The object store: Kubernetes' API server and etcd in one pure value.
//!
//! [`Store`] keeps every object under its kind, namespace and name, behind an `Arc` so that reads,
//! lists and watch events share the stored object instead of copying it. Each write goes through
//! admission (defaulting, validation, namespace lifecycle, LimitRange, priority, ResourceQuota; see
//! [`admission`]), gets the next global `resourceVersion`, and is appended to a bounded change log
//! that [`watch`](Store::watch) cursors read from.
//!
//! The store reads no clock and no OS randomness: every write takes `now`, and uids and generated
//! names come from a `ChaCha8Rng` seeded from the store's seed, so the
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
pub mod allocation;
mod fields;
mod objects;
pub mod watch;

use std::collections::BTreeSet;
use std::fmt;
use std::sync::Arc;

use rand::Rng;
use rand_chacha::ChaCha8Rng;

use crate::auth::{self, Attributes, Decision, UserInfo};
use crate::object::{Kind, Object};
use crate::rng::component_rng;
use crate::selector::{FieldSelector, Selector};
use crate::time::Time;
use crate::validation::ErrorList;

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
    /// The API server's `--service-cluster-ip-range`: where Services' cluster IPs come from
    /// (`10.96.0.0/12`).
    pub service_cluster_ip_range: allocation::Ipv4Cidr,
    /// The API server's `--service-node-port-range`: where node ports come from
    /// (30000–32767).
    pub service_node_port_range: std::ops::RangeInclusive<i32>,
    /// With `bootstrap`, also create the `kubernetes` Service in `default` (cluster IP: the
    /// first address of the service range, port `https` 443 → 6443), as the API server's
    /// `kubernetes` service controller does. Off by default.
    pub kubernetes_service: bool,
    /// Authorize every write made while an actor is set ([`Store::set_actor`]) with
    /// [`auth::authorize`], as the API server's RBAC authorizer does
    /// for each request. Off by default: the simulator and tests write unchecked.
    pub authorization: bool,
    /// When the bootstrap objects are created (their `creationTimestamp`): the epoch by
    /// default; a driver on the wall clock passes its start.
    pub bootstrap_time: Time,
}

impl Default for StoreConfig {
    fn default() -> Self {
        StoreConfig {
            seed: 0,
            watch_history: 100_000,
            bootstrap: true,
            service_cluster_ip_range: allocation::Ipv4Cidr::default(),
            service_node_port_range: allocation::default_node_port_range(),
            kubernetes_service: false,
            authorization: false,
            bootstrap_time: Time::ZERO,
        }
    }
}

/// Why a store request failed. Messages follow the API server's, which names a kind by its
/// resource and API group (`deployments.apps "web" not found`, `Deployment.apps "web" is invalid`;
/// core kinds have no group: `pods "web" not found`).
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum StoreError {
    /// No object with that key exists.
    #[error("{} {name:?} not found", qualified_resource(*kind))]
    NotFound {
        /// Kind looked for.
        kind: Kind,
        /// Namespace looked in.
        namespace: String,
        /// Name looked for.
        name: String,
    },
    /// An object with that key exists already.
    #[error("{} {name:?} already exists", qualified_resource(*kind))]
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
    #[error("Operation cannot be fulfilled on {} {name:?}: {reason}", qualified_resource(*kind))]
    Conflict {
        /// Kind of the object.
        kind: Kind,
        /// Name of the object.
        name: String,
        /// What did not match.
        reason: String,
    },
    /// Admission rejected the object (defaults applied, then validation failed).
    #[error("{} {name:?} is invalid: {}", qualified_kind(*kind), format_errors(errors))]
    Invalid {
        /// Kind of the object.
        kind: Kind,
        /// Name of the object.
        name: String,
        /// Every validation error.
        errors: ErrorList,
    },
    /// The request is refused with the API server's 403: admission refused it (quota
    /// exceeded, namespace terminating, …), or, with [`StoreConfig::authorization`], the actor
    /// may not make it (the message of [`auth::forbidden_message`]
    /// or of the RBAC escalation check).
    #[error("{0}")]
    Forbidden(String),
    /// The request itself is malformed (an unsupported field selector, a patch that is not an
    /// object, a patch that renames the object, …).
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

/// The resource name the API server uses for `kind` in messages: the plural, followed by the
/// API group when there is one (`pods`, `deployments.apps`; apimachinery's
/// `GroupResource.String`).
pub fn qualified_resource(kind: Kind) -> String {
    match kind.group() {
        "" => kind.plural().to_string(),
        group => format!("{}.{group}", kind.plural()),
    }
}

/// The kind name the API server uses for `kind` in validation messages: the kind, followed by
/// the API group when there is one (`Pod`, `Deployment.apps`; apimachinery's
/// `GroupKind.String`).
pub fn qualified_kind(kind: Kind) -> String {
    match kind.group() {
        "" => kind.name().to_string(),
        group => format!("{}.{group}", kind.name()),
    }
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
    /// Delete the object now; the garbage collector deletes dependents afterwards. Also what a
    /// request without a policy gets: the object's `orphan` or `foregroundDeletion` finalizer, if
    /// it has one, is left in place.
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
    /// `terminationGracePeriodSeconds`). Zero deletes at once; a negative value counts as one
    /// second. Only pods bound to a node have a grace period.
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
    objects: objects::ObjectMap,
    resource_version: u64,
    log: watch::ChangeLog,
    rng: ChaCha8Rng,
    services: allocation::ServiceAllocator,
    /// The uids of the objects a [`restore`](Store::restore) brought back: a new uid is drawn
    /// again if it is one of them (empty for a store made by [`new`](Store::new)).
    restored_uids: BTreeSet<String>,
    /// Whether writes by an actor are authorized ([`StoreConfig::authorization`]).
    authorization: bool,
    /// Who is writing now; `None` for the store's own bootstrap writes and internal callers.
    actor: Option<UserInfo>,
    /// How many writes authorization refused.
    denied_writes: u64,
    /// The latest refusal's message.
    last_denial: Option<String>,
}

impl Store {
    /// A store configured by `config`; with `bootstrap`, the initial namespaces and system
    /// priority classes exist (written at time zero).
    pub fn new(config: StoreConfig) -> Store {
        let mut store = Store {
            objects: objects::ObjectMap::default(),
            resource_version: 0,
            log: watch::ChangeLog::new(config.watch_history),
            rng: component_rng(config.seed, "store"),
            services: allocation::ServiceAllocator::new(
                config.service_cluster_ip_range,
                config.service_node_port_range.clone(),
                config.seed,
            ),
            restored_uids: BTreeSet::new(),
            authorization: config.authorization,
            actor: None,
            denied_writes: 0,
            last_denial: None,
        };
        if config.bootstrap {
            for name in INITIAL_NAMESPACES {
                let ns = crate::api::Namespace {
                    metadata: crate::ObjectMeta::named("", name),
                    ..Default::default()
                };
                store
                    .create(ns.into(), config.bootstrap_time)
                    .expect("bootstrap namespaces are valid");
            }
            for class in crate::api::PriorityClass::system_classes() {
                store
                    .create(class.into(), config.bootstrap_time)
                    .expect("system priority classes are valid");
            }
            if config.kubernetes_service {
                let service = allocation::kubernetes_service(config.service_cluster_ip_range);
                store
                    .create(service.into(), config.bootstrap_time)
                    .expect("the kubernetes service is valid");
            }
        }
        store
    }

    /// A store holding exactly `objects`, as persisted by a previous process, continuing from
    /// `resource_version` (single-host mode's restart; the API server's equivalent is starting
    /// on an existing etcd).
    ///
    /// The objects are kept as they are, metadata included (uid, resourceVersion, generation,
    /// creation and deletion timestamps, finalizers): no admission runs and no bootstrap
    /// object is created. The store's resourceVersion is `resource_version`, and its change
    /// log starts empty there: a watch from `resource_version` sees the next write, an older
    /// cursor gets [`StoreError::ResourceVersionTooOld`] and must relist (as after an etcd
    /// compaction). The Service cluster IP and node port allocators are rebuilt from the
    /// restored Services (the API server's allocator repair loops), so a new Service never
    /// gets an address or port one of them holds. New uids and generated names come from a
    /// stream seeded with `config.seed` and `resource_version` together, so they differ from
    /// the ones the previous process drew from `config.seed` alone, and a new uid that
    /// nevertheless equals a restored one is drawn again.
    ///
    /// Fails with [`StoreError::BadRequest`] when the objects cannot be the state of a store
    /// at `resource_version`: an object without a uid or with a resourceVersion that is not a
    /// number in `1..=resource_version`, two objects under one key or with one uid, or a
    /// namespace that does not fit the kind's scope.
    pub fn restore(
        config: StoreConfig,
        objects: Vec<Object>,
        resource_version: u64,
    ) -> Result<Store, StoreError> {
        let mut stored = objects::ObjectMap::default();
        let mut uids = BTreeSet::new();
        let mut services = allocation::ServiceAllocator::new(
            config.service_cluster_ip_range,
            config.service_node_port_range.clone(),
            config.seed,
        );
        for object in objects {
            let key = ObjectKey::of(&object);
            let meta = object.metadata();
            let bad =
                |what: String| StoreError::BadRequest(format!("cannot restore {key}: {what}"));
            match meta.resource_version.parse::<u64>() {
                Ok(rv) if (1..=resource_version).contains(&rv) => {}
                _ => {
                    return Err(bad(format!(
                        "resourceVersion {:?} is not in 1..={resource_version}",
                        meta.resource_version
                    )))
                }
            }
            if key.kind.namespaced() == key.namespace.is_empty() {
                return Err(bad(format!(
                    "namespace {:?} does not fit the kind's scope",
                    key.namespace
                )));
            }
            if meta.uid.is_empty() {
                return Err(bad("it has no uid".into()));
            }
            if !uids.insert(meta.uid.clone()) {
                return Err(bad(format!("uid {} is held by another object", meta.uid)));
            }
            if let Object::Service(svc) = &object {
                services.mark_allocated(svc);
            }
            if stored.insert(key.clone(), Arc::new(object)).is_some() {
                return Err(bad("it is listed twice".into()));
            }
        }
        Ok(Store {
            objects: stored,
            resource_version,
            log: watch::ChangeLog::starting_at(config.watch_history, resource_version),
            rng: component_rng(
                config.seed,
                &format!("store/restored-at-{resource_version}"),
            ),
            services,
            restored_uids: uids,
            authorization: config.authorization,
            actor: None,
            denied_writes: 0,
            last_denial: None,
        })
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

    /// Whether writes made by an actor are authorized ([`StoreConfig::authorization`]).
    pub fn authorization(&self) -> bool {
        self.authorization
    }

    /// Turns authorization of writes on or off (a [`restore`](Store::restore)d store takes it
    /// from its config, but a driver may decide later, as [`StoreConfig::authorization`]).
    pub fn set_authorization(&mut self, enabled: bool) {
        self.authorization = enabled;
    }

    /// Who writes now, if anyone was set.
    pub fn actor(&self) -> Option<&UserInfo> {
        self.actor.as_ref()
    }

    /// Sets who makes the following writes, and returns who did before. With
    /// [`authorization`](StoreConfig::authorization) on, every write (`create`, `update`,
    /// `update_status`, `bind`, `patch`, `delete`) is then authorized as the API server's
    /// authorizer would authorize that user's request before anything changes, and creates
    /// and updates of RBAC kinds also pass the escalation check
    /// ([`auth::check_escalation`]); a refusal is [`StoreError::Forbidden`] with the API
    /// server's message. With `None` (the default: the store's own bootstrap, a driver's
    /// internal writes) nothing is checked. Reads are never checked here: the API layer
    /// authorizes them.
    pub fn set_actor(&mut self, actor: Option<UserInfo>) -> Option<UserInfo> {
        std::mem::replace(&mut self.actor, actor)
    }

    /// Runs `f` with `actor` writing, then puts the previous actor back.
    pub fn with_actor<R>(&mut self, actor: UserInfo, f: impl FnOnce(&mut Store) -> R) -> R {
        let previous = self.set_actor(Some(actor));
        let result = f(self);
        self.actor = previous;
        result
    }

    /// How many writes authorization refused since the store was made (a refusal inside a
    /// component that drops the error still counts; the API layer and tests read it).
    pub fn denied_writes(&self) -> u64 {
        self.denied_writes
    }

    /// The message of the latest write authorization refused, if any.
    pub fn last_denial(&self) -> Option<&str> {
        self.last_denial.as_deref()
    }

    /// Counts an authorization refusal on its way out.
    fn noted(&mut self, checked: Result<(), StoreError>) -> Result<(), StoreError> {
        if let Err(StoreError::Forbidden(message)) = &checked {
            self.denied_writes += 1;
            self.last_denial = Some(message.clone());
        }
        checked
    }

    /// The actor whose writes are checked now: `None` when authorization is off (one branch,
    /// so a store without it pays nothing) or no actor is set.
    #[inline]
    fn checked_actor(&self) -> Option<&UserInfo> {
        if self.authorization {
            self.actor.as_ref()
        } else {
            None
        }
    }

    /// Authorizes the actor's request `verb` on `kind` (`subresource` may be empty) in
    /// `namespace`, for the object `name` (empty for a create, as the API server's request info
    /// has no name for a POST to a collection). The refusal carries the API server's 403
    /// message (apiserver `endpoints/filters/authorization.go` → `responsewriters.Forbidden`).
    fn authorize_write(
        &self,
        verb: &str,
        kind: Kind,
        namespace: &str,
        name: &str,
        subresource: &str,
    ) -> Result<(), StoreError> {
        let Some(user) = self.checked_actor() else {
            return Ok(());
        };
        let attrs =
            Attributes::for_kind(user, verb, kind, namespace, name).with_subresource(subresource);
        match auth::authorize(self, &attrs) {
            Decision::Allow => Ok(()),
            Decision::Deny(message) => Err(StoreError::Forbidden(message)),
        }
    }

    /// The RBAC storage's escalation check for a create (`old` is `None`) or an update of a
    /// Role, ClusterRole, RoleBinding or ClusterRoleBinding by the actor (pkg/registry/rbac/
    /// */policybased/storage.go); other kinds pass.
    fn confirm_no_escalation(
        &self,
        object: &Object,
        old: Option<&Object>,
    ) -> Result<(), StoreError> {
        let Some(user) = self.checked_actor() else {
            return Ok(());
        };
        if !matches!(
            object.kind(),
            Kind::Role | Kind::ClusterRole | Kind::RoleBinding | Kind::ClusterRoleBinding
        ) {
            return Ok(());
        }
        auth::check_escalation(self, user, object, old).map_err(StoreError::Forbidden)
    }

    /// Authorizes the actor's update of `object` (normalized): `update` on its resource, and
    /// for a Namespace whose `spec.finalizers` change, `update` on `namespaces/finalize`, the
    /// subresource that change stands for (the namespace strategy's `PrepareForUpdate` keeps
    /// the finalizers of an ordinary update; only `/finalize` writes them). An update that
    /// changes nothing but a Namespace's finalizers needs only the latter, as the namespace
    /// controller's `finalizeNamespace` does.
    fn authorize_update(&self, object: &Object, key: &ObjectKey) -> Result<(), StoreError> {
        if self.checked_actor().is_none() {
            return Ok(());
        }
        if let (Object::Namespace(new), Some(Object::Namespace(old))) =
            (object, self.objects.get(key).map(|o| &**o))
        {
            if new.spec.finalizers != old.spec.finalizers {
                self.authorize_write("update", key.kind, "", &key.name, "finalize")?;
                let mut rest = new.clone();
                rest.spec.finalizers.clone_from(&old.spec.finalizers);
                rest.status.clone_from(&old.status);
                rest.metadata
                    .resource_version
                    .clone_from(&old.metadata.resource_version);
                rest.metadata.uid.clone_from(&old.metadata.uid);
                if rest == *old {
                    return Ok(());
                }
            }
        }
        let update = self.authorize_write("update", key.kind, &key.namespace, &key.name, "");
        if update.is_err() && self.only_scales(object, key) {
            // An update that changes nothing but `spec.replicas` is what the `/scale`
            // subresource writes (registry/apps/deployment/storage `ScaleREST`, and the
            // ReplicaSet and StatefulSet ones), which the HPA's role grants (`update */scale`,
            // controller_policy.go): either permission allows it. A refusal names the update.
            if self
                .authorize_write("update", key.kind, &key.namespace, &key.name, "scale")
                .is_ok()
            {
                return Ok(());
            }
        }
        update
    }

    /// Whether `object` differs from the stored object under `key` only in `spec.replicas`
    /// (status, resourceVersion and uid aside, which an update does not write or only checks),
    /// for the kinds with a `/scale` subresource.
    fn only_scales(&self, object: &Object, key: &ObjectKey) -> bool {
        fn replicas(object: &mut Object) -> Option<&mut Option<i32>> {
            match object {
                Object::Deployment(o) => Some(&mut o.spec.replicas),
                Object::ReplicaSet(o) => Some(&mut o.spec.replicas),
                Object::StatefulSet(o) => Some(&mut o.spec.replicas),
                _ => None,
            }
        }
        let Some(old) = self.objects.get(key) else {
            return false;
        };
        let mut rest = object.clone();
        let mut old_copy = (**old).clone();
        let (Some(old_replicas), Some(new_replicas)) =
            (replicas(&mut old_copy).copied(), replicas(&mut rest))
        else {
            return false;
        };
        *new_replicas = old_replicas;
        rest.copy_status_from(old);
        let meta = rest.metadata_mut();
        meta.resource_version
            .clone_from(&old.metadata().resource_version);
        meta.uid.clone_from(&old.metadata().uid);
        rest == **old
    }

    /// The object of `kind` named `name` in `namespace` (empty for cluster-scoped kinds; for a
    /// namespaced kind, empty means `default`).
    pub fn get(&self, kind: Kind, namespace: &str, name: &str) -> Option<Arc<Object>> {
        let namespace = match (kind.namespaced(), namespace.is_empty()) {
            (true, true) => DEFAULT_NAMESPACE,
            (true, false) => namespace,
            (false, _) => "",
        };
        self.objects.lookup(kind, namespace, name).cloned()
    }

    /// Every object of `kind`, in key order (namespace, then name), without filtering.
    pub fn iter_kind(&self, kind: Kind) -> impl Iterator<Item = &Arc<Object>> + '_ {
        self.objects.of_kind(kind)
    }

    /// Objects of `kind` in `namespace`, in name order.
    pub fn iter_namespace<'a>(
        &'a self,
        kind: Kind,
        namespace: &'a str,
    ) -> impl Iterator<Item = &'a Arc<Object>> + 'a {
        self.objects.in_namespace(kind, namespace)
    }

    /// Lists objects of `kind` that match `options`, in key order, with the store's current
    /// resourceVersion (from which a watch continues without missing a change). A namespace of
    /// `""` means every namespace, as in Kubernetes; cluster-scoped kinds ignore the namespace.
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
        let items: Vec<Arc<Object>> = match options.namespace.as_deref() {
            Some(ns) if kind.namespaced() && !ns.is_empty() => self
                .iter_namespace(kind, ns)
                .filter(matches)
                .cloned()
                .collect(),
            _ => self.iter_kind(kind).filter(matches).cloned().collect(),
        };
        Ok((items, self.resource_version))
    }

    /// Creates an object, in the API server's order: the status is cleared (it is the server's
    /// to write, except a Node's, which its kubelet registers with), a name is generated for
    /// `generateName`, a uid, `creationTimestamp = now` and `generation = 1` are set (a Job's
    /// selector is generated from the uid), admission runs (defaults, namespace, LimitRange,
    /// priority, validation, quota), and only then is the name checked for
    /// [`StoreError::AlreadyExists`]. The object gets the next resourceVersion; the quotas it
    /// is charged to are written just before it.
    ///
    /// A namespaced object without a namespace goes to `default`; a cluster-scoped object's
    /// namespace is cleared (apiserver `EnsureObjectNamespaceMatchesRequestNamespace`). A rejected
    /// create changes nothing, not even the random stream uids and names come from.
    pub fn create(&mut self, mut object: Object, now: Time) -> Result<Arc<Object>, StoreError> {
        let kind = object.kind();
        normalize_namespace(&mut object);
        if self.checked_actor().is_some() {
            let checked =
                self.authorize_write("create", kind, &object.metadata().namespace, "", "");
            self.noted(checked)?;
            let checked = self.confirm_no_escalation(&object, None);
            self.noted(checked)?;
        }
        reset_status_for_create(&mut object);
        // Work on a copy of the random stream: a rejected create must not shift the uids and
        // names of later ones.
        let mut rng = self.rng.clone();
        if object.metadata().name.is_empty() && !object.metadata().generate_name.is_empty() {
            let name = self.generate_name(&mut rng, &object);
            object.metadata_mut().name = name;
        }
        {
            let meta = object.metadata_mut();
            meta.uid = generate_uid(&mut rng);
            while self.restored_uids.contains(&meta.uid) {
                meta.uid = generate_uid(&mut rng);
            }
            meta.resource_version.clear();
            meta.creation_timestamp = Some(now);
            meta.deletion_timestamp = None;
            meta.deletion_grace_period_seconds = None;
            meta.generation = 1;
        }
        // Server-generated fields that depend on the uid (a Job's selector).
        if let Object::Job(job) = &mut object {
            job.set_generated_selector();
        }
        let quota_writes = admission::admit_create(self, &mut object)?;
        // The storage layer reports a taken name after admission, as etcd does.
        let key = ObjectKey::of(&object);
        if self.objects.contains_key(&key) {
            return Err(StoreError::AlreadyExists {
                kind,
                namespace: key.namespace,
                name: key.name,
            });
        }
        // The registry's BeginCreate: cluster IPs and node ports, on a copy of the allocators
        // so that a refusal changes nothing.
        let mut services = None;
        if let Object::Service(svc) = &mut object {
            let mut allocator = self.services.clone();
            allocator
                .allocate_create(svc)
                .map_err(|e| allocation_error(&key.name, e))?;
            services = Some(allocator);
        }
        if let Some(allocator) = services {
            self.services = allocator;
        }
        self.rng = rng;
        self.commit_quota_writes(quota_writes);
        Ok(self.put(key, object, WatchEventType::Added))
    }

    /// Replaces the stored object with `object` (`kubectl replace`).
    ///
    /// A non-empty `metadata.uid` or `metadata.resourceVersion` must match the stored one, else
    /// [`StoreError::Conflict`]; an empty resourceVersion updates unconditionally. The stored
    /// status is kept (use [`update_status`](Store::update_status) to change it); `uid`,
    /// `creationTimestamp`, `deletionTimestamp` and `generation` cannot be changed, and
    /// `generation` is bumped when the (defaulted) spec changes. Finalizers cannot be added
    /// once deletion has started. An update that changes nothing writes nothing and returns the
    /// stored object with its current resourceVersion, as etcd skips identical writes.
    ///
    /// An update that removes the last finalizer of an object being deleted deletes it (the
    /// returned object is its last state), unless it is a pod still in its grace period. For a
    /// Namespace, `spec.finalizers` can be changed by an update (standing in for the
    /// `/finalize` subresource), and a terminating namespace goes when both lists are empty.
    pub fn update(&mut self, mut object: Object, now: Time) -> Result<Arc<Object>, StoreError> {
        normalize_namespace(&mut object);
        if self.checked_actor().is_some() {
            let key = ObjectKey::of(&object);
            let checked = self.authorize_update(&object, &key);
            self.noted(checked)?;
            let old = self.objects.get(&key).cloned();
            let checked = self.confirm_no_escalation(&object, old.as_deref());
            self.noted(checked)?;
        }
        self.update_authorized(object, now)
    }

    /// [`update`](Store::update) once the request is authorized (`object` normalized).
    fn update_authorized(
        &mut self,
        mut object: Object,
        now: Time,
    ) -> Result<Arc<Object>, StoreError> {
        let key = ObjectKey::of(&object);
        let old = self.current(&key, &object)?;
        object.copy_status_from(&old);
        carry_server_fields(&mut object, &old);
        // The service strategy's PrepareForUpdate keeps the allocated values an update omits.
        if let (Object::Service(svc), Object::Service(old_svc)) = (&mut object, &*old) {
            svc.patch_allocated_values(old_svc);
        }
        admission::admit_update(self, &mut object, &old, now)?;
        // Compared after defaulting: a spec sent back without its defaults has not changed.
        if object.spec_differs(&old) {
            object.metadata_mut().generation = old.metadata().generation + 1;
        }
        object
            .metadata_mut()
            .resource_version
            .clone_from(&old.metadata().resource_version);
        if should_delete_during_update(&object, &old) {
            return Ok(self.remove(&key));
        }
        if object == *old {
            return Ok(old);
        }
        let quota_writes = admission::quota_for_update(self, &old, &object)
            .map_err(|m| admission::forbidden(key.kind, &key.name, &m))?;
        if let (Object::Service(svc), Object::Service(old_svc)) = (&mut object, &*old) {
            let mut allocator = self.services.clone();
            allocator
                .allocate_update(old_svc, svc)
                .map_err(|e| allocation_error(&key.name, e))?;
            self.services = allocator;
        }
        self.commit_quota_writes(quota_writes);
        Ok(self.put(key, object, WatchEventType::Modified))
    }

    /// Writes only the status of the stored object (the `/status` subresource): everything else
    /// is taken from the stored object, so `generation` does not change. Checks `uid` and
    /// `resourceVersion` like [`update`](Store::update). Quota usage follows the new status (a
    /// pod that turns `Succeeded` or `Failed` stops counting against `pods`, `requests.*` and
    /// `limits.*`). A status update that changes nothing writes nothing.
    pub fn update_status(
        &mut self,
        mut object: Object,
        now: Time,
    ) -> Result<Arc<Object>, StoreError> {
        let _ = now;
        normalize_namespace(&mut object);
        let key = ObjectKey::of(&object);
        let checked = self.authorize_write("update", key.kind, &key.namespace, &key.name, "status");
        self.noted(checked)?;
        let old = self.current(&key, &object)?;
        let updated = match (object, &*old) {
            // The pod's status is moved over, not copied: everything else is the stored pod's
            // (the spec is shared).
            (Object::Pod(mut pod), Object::Pod(stored)) => {
                // A status writer sends back the metadata it read, mostly: compared first,
                // copied only when it differs.
                if pod.metadata != stored.metadata {
                    pod.metadata.clone_from(&stored.metadata);
                }
                pod.spec = stored.spec.clone();
                Object::Pod(pod)
            }
            (object, _) => {
                let mut updated = (*old).clone();
                updated.copy_status_from(&object);
                updated
            }
        };
        // A Pod's validation reads only its metadata and spec, which a status write takes from
        // the stored (already validated) pod, so it is not run again: the API server's pod
        // status strategy validates the status update alone (kubernetes
        // pkg/registry/core/pod/strategy.go `podStatusStrategy.ValidateUpdate`,
        // pkg/apis/core/validation `ValidatePodStatusUpdate`). Kubelets write pod statuses
        // on every container change, so this is on the simulator's hot path.
        let errors = if key.kind == Kind::Pod {
            Vec::new()
        } else {
            updated.validate()
        };
        if !errors.is_empty() {
            return Err(StoreError::Invalid {
                kind: key.kind,
                name: key.name,
                errors,
            });
        }
        if updated == *old {
            return Ok(old);
        }
        let quota_writes = admission::quota_for_status(self, &old, &updated);
        self.commit_quota_writes(quota_writes);
        Ok(self.put(key, updated, WatchEventType::Modified))
    }

    /// Binds an unbound pod to `node`: the `pods/binding` subresource the scheduler's
    /// DefaultBinder writes (the API server's `BindingREST`, `assignPod`).
    ///
    /// Sets `spec.nodeName` (which an ordinary update may not change) and the `PodScheduled=True`
    /// condition, replacing a `PodScheduled=False` one (its reason and message go; the
    /// transition time is `now` when the status changes), in one write with one `Modified`
    /// event. Fails with [`StoreError::NotFound`] when the pod does not exist, and with
    /// [`StoreError::Conflict`] when it is already bound (`pod web is already assigned to node
    /// "n1"`) or being deleted (`pod web is being deleted, cannot be assigned to a host`).
    pub fn bind(
        &mut self,
        namespace: &str,
        name: &str,
        node: &str,
        now: Time,
    ) -> Result<Arc<Object>, StoreError> {
        let key = ObjectKey {
            kind: Kind::Pod,
            namespace: namespace.to_string(),
            name: name.to_string(),
        };
        // BindingREST is the `pods/binding` subresource; the request is a create.
        let checked = self.authorize_write("create", Kind::Pod, namespace, name, "binding");
        self.noted(checked)?;
        let Some(old) = self.objects.get(&key).cloned() else {
            return Err(StoreError::NotFound {
                kind: Kind::Pod,
                namespace: namespace.to_string(),
                name: name.to_string(),
            });
        };
        let Object::Pod(pod) = &*old else {
            unreachable!("a Pod key holds a Pod");
        };
        let conflict = |reason: String| StoreError::Conflict {
            kind: Kind::Pod,
            name: name.to_string(),
            reason,
        };
        if pod.metadata.deletion_timestamp.is_some() {
            return Err(conflict(format!(
                "pod {name} is being deleted, cannot be assigned to a host"
            )));
        }
        if !pod.spec.node_name.is_empty() {
            return Err(conflict(format!(
                "pod {name} is already assigned to node {:?}",
                pod.spec.node_name
            )));
        }
        let mut bound = pod.clone();
        bound.spec.node_name = node.to_string();
        // podutil.UpdatePodCondition: the condition is replaced; its transition time moves only
        // when the status changes.
        let scheduled = crate::api::PodCondition::POD_SCHEDULED;
        let previous = bound
            .status
            .conditions
            .iter()
            .position(|c| c.r#type == scheduled);
        let transition = match previous {
            Some(i) if bound.status.conditions[i].status == crate::api::ConditionStatus::True => {
                bound.status.conditions[i].last_transition_time
            }
            _ => Some(now),
        };
        let condition = crate::api::PodCondition {
            r#type: scheduled.to_string(),
            status: crate::api::ConditionStatus::True,
            last_transition_time: transition,
            ..crate::api::PodCondition::default()
        };
        match previous {
            Some(i) => bound.status.conditions[i] = condition,
            None => bound.status.conditions.push(condition),
        }
        Ok(self.put(key, Object::Pod(bound), WatchEventType::Modified))
    }

    /// Applies a JSON merge patch (RFC 7386, `kubectl patch --type merge`) to the stored object
    /// and updates it with [`update`](Store::update). A `metadata.resourceVersion` in the patch
    /// is checked like an update's; without one the patch applies to whatever is stored.
    /// `status` in the patch is ignored (patch the status with
    /// [`update_status`](Store::update_status)). A patch may not rename the object or move it to
    /// another namespace ([`StoreError::BadRequest`] with the API server's message).
    pub fn patch(
        &mut self,
        kind: Kind,
        namespace: &str,
        name: &str,
        patch: &serde_json::Value,
        now: Time,
    ) -> Result<Arc<Object>, StoreError> {
        let checked =
            self.authorize_write("patch", kind, &namespace_for(kind, namespace), name, "");
        self.noted(checked)?;
        if !patch.is_object() {
            return Err(StoreError::BadRequest(
                "a merge patch must be a JSON object".into(),
            ));
        }
        let old = self
            .get(kind, namespace, name)
            .ok_or_else(|| StoreError::NotFound {
                kind,
                namespace: namespace_for(kind, namespace),
                name: name.to_string(),
            })?;
        let mut value = old.to_value();
        merge_patch(&mut value, patch);
        let mut patched = Object::from_value(kind, value).map_err(|e| {
            StoreError::BadRequest(format!("the patch does not decode as a {kind}: {e}"))
        })?;
        // apiserver handlers/rest.go checkName.
        let (old_name, old_namespace) = (&old.metadata().name, &old.metadata().namespace);
        let meta = patched.metadata_mut();
        if meta.name != *old_name {
            return Err(StoreError::BadRequest(format!(
                "the name of the object ({}) does not match the name on the URL ({old_name})",
                meta.name
            )));
        }
        if kind.namespaced() {
            if meta.namespace.is_empty() {
                meta.namespace.clone_from(old_namespace);
            } else if meta.namespace != *old_namespace {
                return Err(StoreError::BadRequest(format!(
                    "the namespace of the object ({}) does not match the namespace on the request ({old_namespace})",
                    meta.namespace
                )));
            }
        }
        normalize_namespace(&mut patched);
        let checked = self.confirm_no_escalation(&patched, Some(&old));
        self.noted(checked)?;
        self.update_authorized(patched, now)
    }

    /// Deletes an object as the API server does (apiserver `registry/rest/delete.go` and
    /// `registry/generic/registry/store.go`, v1.34):
    ///
    /// - the `uid` and `resourceVersion` preconditions must match, else
    ///   [`StoreError::Conflict`];
    /// - a pod bound to a node and not yet finished is deleted gracefully: it gets
    ///   `deletionTimestamp = now + grace` (the option, else its
    ///   `terminationGracePeriodSeconds`; a negative grace counts as 1) and stays until a delete
    ///   with grace 0 (its kubelet's) removes it; a later delete may only shorten the grace
    ///   period, and one that does not changes nothing. An unbound or finished pod goes at once;
    /// - `Foreground` and `Orphan` put their finalizer on the object (and take the other's off);
    ///   `Background`, which also stands for "no policy given", leaves the finalizers alone;
    /// - an object that still has finalizers only gets a `deletionTimestamp` (and a grace period
    ///   of 0) and goes when an update removes the last one;
    /// - a Namespace with `spec.finalizers` turns `Terminating` until they are removed.
    ///
    /// The first deletionTimestamp bumps `generation`. The last state of a removed object is
    /// returned and sent to watches as a `Deleted` event; quota usage is released after it.
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
        let checked = self.authorize_write("delete", kind, &key.namespace, name, "");
        self.noted(checked)?;
        let old = self
            .objects
            .get(&key)
            .cloned()
            .ok_or_else(|| StoreError::NotFound {
                kind,
                namespace: key.namespace.clone(),
                name: key.name.clone(),
            })?;
        check_delete_preconditions(&old, options)?;
        let old_meta = old.metadata();
        let mut pending = (*old).clone();

        if let Object::Namespace(ns) = &mut pending {
            if !ns.spec.finalizers.is_empty() {
                // registry/core/namespace/storage: the first delete starts termination; later
                // ones change nothing until the namespace controller has finalized it.
                if ns.metadata.deletion_timestamp.is_none() {
                    ns.metadata.deletion_timestamp = Some(now);
                    ns.status.phase = Some(crate::api::NamespacePhase::Terminating);
                    ns.metadata.finalizers =
                        finalizers_for_policy(&ns.metadata.finalizers, options.propagation_policy);
                }
                return Ok(DeleteOutcome::Pending(
                    self.put_if_changed(key, pending, &old),
                ));
            }
        }

        let finalizers = finalizers_for_policy(&old_meta.finalizers, options.propagation_policy);
        match graceful_delete(&old, options, now) {
            Graceful::AlreadyPending => Ok(DeleteOutcome::Pending(old)),
            Graceful::Period {
                timestamp,
                seconds,
                first,
            } => {
                if finalizers.is_empty() && seconds == 0 {
                    return Ok(DeleteOutcome::Deleted(self.remove(&key)));
                }
                let meta = pending.metadata_mut();
                if first && meta.generation > 0 {
                    meta.generation += 1;
                }
                meta.deletion_timestamp = Some(timestamp);
                meta.deletion_grace_period_seconds = Some(seconds);
                meta.finalizers = finalizers;
                Ok(DeleteOutcome::Pending(
                    self.put_if_changed(key, pending, &old),
                ))
            }
            Graceful::No => {
                if finalizers.is_empty() {
                    return Ok(DeleteOutcome::Deleted(self.remove(&key)));
                }
                // store.go markAsDeleting.
                let meta = pending.metadata_mut();
                if meta.deletion_timestamp.is_none() && meta.generation > 0 {
                    meta.generation += 1;
                }
                if meta.deletion_timestamp.is_none_or(|t| t > now) {
                    meta.deletion_timestamp = Some(now);
                }
                meta.deletion_grace_period_seconds = Some(0);
                meta.finalizers = finalizers;
                Ok(DeleteOutcome::Pending(
                    self.put_if_changed(key, pending, &old),
                ))
            }
        }
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

    /// The stored object under `key`, after checking the write preconditions `incoming`
    /// carries: its uid, then its resourceVersion (storage preconditions first, then the
    /// optimistic lock, as in the generic registry's `Update`).
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
        let rv = &incoming.metadata().resource_version;
        if !rv.is_empty() && *rv != old.metadata().resource_version {
            return Err(StoreError::Conflict {
                kind: key.kind,
                name: key.name.clone(),
                reason: OPTIMISTIC_LOCK_MESSAGE.into(),
            });
        }
        Ok(old)
    }

    /// Writes `object` unless it equals the stored `old` (etcd skips identical writes), and
    /// returns what is stored.
    fn put_if_changed(&mut self, key: ObjectKey, object: Object, old: &Arc<Object>) -> Arc<Object> {
        if object == **old {
            old.clone()
        } else {
            self.put(key, object, WatchEventType::Modified)
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

    /// Removes the object under `key` (which must be stored), logs its last state as a
    /// `Deleted` event, and then releases its quota usage.
    fn remove(&mut self, key: &ObjectKey) -> Arc<Object> {
        let old = self
            .objects
            .remove(key)
            .expect("remove is called with a stored key");
        self.resource_version += 1;
        let mut last = (*old).clone();
        last.metadata_mut().resource_version = self.resource_version.to_string();
        let last = Arc::new(last);
        self.log.push(WatchEvent {
            event_type: WatchEventType::Deleted,
            object: last.clone(),
            resource_version: self.resource_version,
        });
        let quota_writes = admission::quota_on_remove(self, &old);
        self.commit_quota_writes(quota_writes);
        if let Object::Service(svc) = &*old {
            self.services.release(svc);
        }
        last
    }

    fn commit_quota_writes(&mut self, writes: Vec<Object>) {
        for quota in writes {
            let key = ObjectKey::of(&quota);
            self.put(key, quota, WatchEventType::Modified);
        }
    }

    /// `generateName` plus five characters from Kubernetes' alphabet (no vowels, no confusable
    /// characters; apiserver `storage/names` and `util/rand.String`), drawn again until the name
    /// is free, as the API server retries a taken generated name.
    fn generate_name(&self, rng: &mut ChaCha8Rng, object: &Object) -> String {
        const ALPHABET: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";
        // names.go: the prefix is cut so that prefix and suffix fit in 63 characters.
        const MAX_GENERATED_NAME_LENGTH: usize = 63 - 5;
        let meta = object.metadata();
        let mut prefix = meta.generate_name.clone();
        if prefix.len() > MAX_GENERATED_NAME_LENGTH {
            let mut cut = MAX_GENERATED_NAME_LENGTH;
            while !prefix.is_char_boundary(cut) {
                cut -= 1;
            }
            prefix.truncate(cut);
        }
        loop {
            let suffix: String = (0..5)
                .map(|_| ALPHABET[rng.random_range(0..ALPHABET.len())] as char)
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

/// The store error of a refused Service allocation.
fn allocation_error(name: &str, error: allocation::AllocationError) -> StoreError {
    match error {
        allocation::AllocationError::Invalid(errors) => StoreError::Invalid {
            kind: Kind::Service,
            name: name.to_string(),
            errors,
        },
        allocation::AllocationError::Internal(message) => StoreError::Forbidden(message),
    }
}

/// The reason of the conflict an update with a stale resourceVersion gets (apiserver
/// `registry/generic/registry.OptimisticLockErrorMsg`).
pub const OPTIMISTIC_LOCK_MESSAGE: &str =
    "the object has been modified; please apply your changes to the latest version and try again";

/// A random (version 4) uid in the canonical form.
fn generate_uid(rng: &mut ChaCha8Rng) -> String {
    let mut b: [u8; 16] = rng.random();
    b[6] = (b[6] & 0x0f) | 0x40; // version 4
    b[8] = (b[8] & 0x3f) | 0x80; // RFC 4122 variant
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut uid = String::with_capacity(36);
    for (i, x) in b.iter().enumerate() {
        if matches!(i, 4 | 6 | 8 | 10) {
            uid.push('-');
        }
        uid.push(char::from(HEX[usize::from(x >> 4)]));
        uid.push(char::from(HEX[usize::from(x & 0x0f)]));
    }
    uid
}

/// The delete preconditions, checked with the messages of apiserver `rest.BeforeDelete`.
fn check_delete_preconditions(old: &Object, options: &DeleteOptions) -> Result<(), StoreError> {
    let meta = old.metadata();
    let conflict = |reason: String| StoreError::Conflict {
        kind: old.kind(),
        name: meta.name.clone(),
        reason,
    };
    if let Some(uid) = &options.precondition_uid {
        if *uid != meta.uid {
            return Err(conflict(format!(
                "the UID in the precondition ({uid}) does not match the UID in record ({}). \
                 The object might have been deleted and then recreated",
                meta.uid
            )));
        }
    }
    if let Some(rv) = &options.precondition_resource_version {
        if *rv != meta.resource_version {
            return Err(conflict(format!(
                "the ResourceVersion in the precondition ({rv}) does not match the \
                 ResourceVersion in record ({}). The object might have been modified",
                meta.resource_version
            )));
        }
    }
    Ok(())
}

/// How a delete request treats an object's grace period.
enum Graceful {
    /// The kind has no graceful deletion (everything but pods), or the grace period is already
    /// over: delete now, or mark as deleting while finalizers remain.
    No,
    /// A graceful deletion is under way and the request does not shorten it: nothing changes.
    AlreadyPending,
    /// Set this deletion timestamp and grace period.
    Period {
        /// When the grace period ends.
        timestamp: Time,
        /// The grace period, in seconds.
        seconds: i64,
        /// Whether this starts the deletion (and so bumps `generation`).
        first: bool,
    },
}

/// apiserver `rest.BeforeDelete` with the pod strategy's `CheckGracefulDelete`.
fn graceful_delete(object: &Object, options: &DeleteOptions, now: Time) -> Graceful {
    let Object::Pod(pod) = object else {
        return Graceful::No;
    };
    // Negative values count as one second on the delete path.
    let requested = options
        .grace_period_seconds
        .map(|g| if g < 0 { 1 } else { g });
    let secs = |s: i64| crate::Duration::from_secs(s.max(0) as u64);
    if let Some(timestamp) = pod.metadata.deletion_timestamp {
        let current = pod.metadata.deletion_grace_period_seconds.unwrap_or(0);
        if current <= 0 {
            return Graceful::No;
        }
        return match requested {
            // Only a shorter grace period may be given; the deadline moves by the difference.
            Some(period) if period < current => Graceful::Period {
                timestamp: timestamp
                    .saturating_sub(secs(current))
                    .saturating_add(secs(period)),
                seconds: period,
                first: false,
            },
            _ => Graceful::AlreadyPending,
        };
    }
    let mut period = requested
        .or(pod.spec.termination_grace_period_seconds)
        .unwrap_or(0);
    // A pod no kubelet runs (unscheduled) or that has finished goes at once.
    if pod.spec.node_name.is_empty() || pod.phase().is_terminal() {
        period = 0;
    }
    if period < 0 {
        period = 1;
    }
    Graceful::Period {
        timestamp: now.saturating_add(secs(period)),
        seconds: period,
        first: true,
    }
}

/// The finalizers after a delete with `policy` (store.go `deletionFinalizersForGarbageCollection`):
/// `Orphan` and `Foreground` put their finalizer on and take the other's off; `Background`
/// (also "no policy given") keeps the list.
fn finalizers_for_policy(finalizers: &[String], policy: PropagationPolicy) -> Vec<String> {
    let wanted = match policy {
        PropagationPolicy::Background => return finalizers.to_vec(),
        PropagationPolicy::Orphan => ORPHAN_FINALIZER,
        PropagationPolicy::Foreground => FOREGROUND_FINALIZER,
    };
    let other = if wanted == ORPHAN_FINALIZER {
        FOREGROUND_FINALIZER
    } else {
        ORPHAN_FINALIZER
    };
    if finalizers.iter().any(|f| f == wanted) && !finalizers.iter().any(|f| f == other) {
        return finalizers.to_vec();
    }
    let mut out: Vec<String> = finalizers
        .iter()
        .filter(|f| *f != wanted && *f != other)
        .cloned()
        .collect();
    out.push(wanted.to_string());
    out
}

/// Whether an update removes an object being deleted: its finalizers are gone and its grace
/// period is over (store.go `shouldDeleteDuringUpdate`); a Namespace also needs its
/// `spec.finalizers` gone.
fn should_delete_during_update(object: &Object, old: &Object) -> bool {
    let meta = object.metadata();
    if meta.deletion_timestamp.is_none() || !meta.finalizers.is_empty() {
        return false;
    }
    match object {
        Object::Namespace(ns) => ns.spec.finalizers.is_empty(),
        _ => old.metadata().deletion_grace_period_seconds.unwrap_or(0) == 0,
    }
}

/// Clears the status of a new object: each kind's `PrepareForCreate` in the API server drops
/// what the client sent (defaulting then sets the initial phase), except for Nodes, which
/// kubelets register with their status.
fn reset_status_for_create(object: &mut Object) {
    match object {
        Object::Namespace(o) => o.status = Default::default(),
        Object::Pod(o) => o.status = Default::default(),
        Object::Service(o) => o.status = Default::default(),
        Object::PersistentVolume(o) => o.status = Default::default(),
        Object::PersistentVolumeClaim(o) => o.status = Default::default(),
        Object::ResourceQuota(o) => o.status = Default::default(),
        Object::Deployment(o) => o.status = Default::default(),
        Object::ReplicaSet(o) => o.status = Default::default(),
        Object::DaemonSet(o) => o.status = Default::default(),
        Object::StatefulSet(o) => o.status = Default::default(),
        Object::Job(o) => o.status = Default::default(),
        Object::CronJob(o) => o.status = Default::default(),
        Object::HorizontalPodAutoscaler(o) => o.status = Default::default(),
        Object::PodDisruptionBudget(o) => o.status = Default::default(),
        Object::Node(_)
        | Object::ConfigMap(_)
        | Object::Secret(_)
        | Object::LimitRange(_)
        | Object::EndpointSlice(_)
        | Object::StorageClass(_)
        | Object::PriorityClass(_)
        | Object::Role(_)
        | Object::ClusterRole(_)
        | Object::RoleBinding(_)
        | Object::ClusterRoleBinding(_) => {}
    }
}

/// The finalizer that makes deletion wait for blocking dependents (foreground propagation).
pub const FOREGROUND_FINALIZER: &str = "foregroundDeletion";
/// The finalizer that makes deletion orphan dependents first.
pub const ORPHAN_FINALIZER: &str = "orphan";

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

/// Puts a namespaced object without a namespace in `default`, and clears the namespace of a
/// cluster-scoped object (apiserver `EnsureObjectNamespaceMatchesRequestNamespace`: the
/// request of a cluster-scoped kind has no namespace, and the object's is dropped).
fn normalize_namespace(object: &mut Object) {
    let namespaced = object.kind().namespaced();
    let meta = object.metadata_mut();
    if !namespaced {
        meta.namespace.clear();
    } else if meta.namespace.is_empty() {
        meta.namespace = DEFAULT_NAMESPACE.to_string();
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

#[cfg(test)]
mod authorization_tests;

#[cfg(test)]
mod restore_tests {
    use super::*;
    use crate::api::ConfigMap;
    use crate::ObjectMeta;

    fn config_map(name: &str) -> Object {
        ConfigMap {
            metadata: ObjectMeta::named("default", name),
            ..Default::default()
        }
        .into()
    }

    fn service(name: &str, node_port: bool) -> Object {
        let r#type = if node_port { "NodePort" } else { "ClusterIP" };
        let yaml = format!(
            "apiVersion: v1\nkind: Service\nmetadata: {{name: {name}}}\nspec:\n  selector: {{app: {name}}}\n  type: {type}\n  ports: [{{port: 80}}]\n"
        );
        let m = crate::manifest::parse_str("svc.yaml", &yaml).unwrap();
        m.objects.into_iter().next().unwrap().object
    }

    fn everything(store: &Store) -> Vec<Object> {
        Kind::ALL
            .iter()
            .flat_map(|k| store.iter_kind(*k))
            .map(|o| (**o).clone())
            .collect()
    }

    fn service_config() -> StoreConfig {
        StoreConfig {
            seed: 5,
            kubernetes_service: true,
            // 6 usable addresses, the first for `kubernetes`; 5 node ports.
            service_cluster_ip_range: "10.0.0.0/29".parse().unwrap(),
            service_node_port_range: 30000..=30004,
            ..StoreConfig::default()
        }
    }

    #[test]
    fn a_restored_store_holds_the_same_objects_and_continues_the_version() {
        let mut store = Store::new(StoreConfig {
            seed: 3,
            ..StoreConfig::default()
        });
        store.create(config_map("a"), Time::from_secs(1)).unwrap();
        let mut held = config_map("held");
        held.metadata_mut().finalizers = vec!["example.com/hold".into()];
        store.create(held, Time::from_secs(2)).unwrap();
        let options = DeleteOptions::default();
        store
            .delete(
                Kind::ConfigMap,
                "default",
                "held",
                &options,
                Time::from_secs(3),
            )
            .unwrap();
        let rv = store.resource_version();

        let restored = Store::restore(
            StoreConfig {
                seed: 3,
                ..StoreConfig::default()
            },
            everything(&store),
            rv,
        )
        .unwrap();
        assert_eq!(restored.resource_version(), rv);
        assert_eq!(everything(&restored), everything(&store));
        let held = restored.get(Kind::ConfigMap, "default", "held").unwrap();
        assert_eq!(held.metadata().deletion_timestamp, Some(Time::from_secs(3)));
        assert_eq!(
            held.metadata().finalizers,
            vec!["example.com/hold".to_string()]
        );
        assert_eq!(held.metadata().generation, 2);

        // The change log starts empty at the restored version.
        assert_eq!(restored.changes_since(rv).unwrap().len(), 0);
        assert_eq!(
            restored.changes_since(rv - 1).err(),
            Some(StoreError::ResourceVersionTooOld {
                requested: rv - 1,
                oldest: rv
            })
        );
    }

    #[test]
    fn a_write_after_restore_gets_the_next_version_and_reaches_watches() {
        let mut store = Store::new(StoreConfig::default());
        store.create(config_map("a"), Time::ZERO).unwrap();
        let rv = store.resource_version();
        let mut restored = Store::restore(StoreConfig::default(), everything(&store), rv).unwrap();
        let mut cursor = WatchCursor::new(&[Kind::ConfigMap], rv);
        let b = restored.create(config_map("b"), Time::ZERO).unwrap();
        assert_eq!(b.metadata().resource_version, (rv + 1).to_string());
        let events = restored.watch(&mut cursor).unwrap();
        assert_eq!(events.len(), 1);
        assert_eq!(events[0].resource_version, rv + 1);
        assert_eq!(events[0].event_type, WatchEventType::Added);
        // An update of a restored object keeps the optimistic lock working.
        let mut a = (*restored.get(Kind::ConfigMap, "default", "a").unwrap()).clone();
        a.metadata_mut().resource_version = "1".into();
        assert!(matches!(
            restored.update(a, Time::ZERO),
            Err(StoreError::Conflict { .. })
        ));
    }

    #[test]
    fn new_uids_differ_from_what_the_previous_process_would_draw() {
        let mut store = Store::new(StoreConfig::default());
        store.create(config_map("a"), Time::ZERO).unwrap();
        let rv = store.resource_version();
        let mut restored = Store::restore(StoreConfig::default(), everything(&store), rv).unwrap();
        // The previous process, had it gone on, would have drawn this uid next.
        let old_next = store.create(config_map("b"), Time::ZERO).unwrap();
        let new = restored.create(config_map("b"), Time::ZERO).unwrap();
        assert_ne!(new.metadata().uid, old_next.metadata().uid);
        let held: BTreeSet<String> = everything(&store)
            .iter()
            .map(|o| o.metadata().uid.clone())
            .collect();
        for i in 0..50 {
            let o = restored
                .create(config_map(&format!("n{i}")), Time::ZERO)
                .unwrap();
            assert!(!held.contains(&o.metadata().uid));
        }
    }

    #[test]
    fn a_uid_equal_to_a_restored_one_is_drawn_again() {
        let store = Store::new(StoreConfig::default());
        let rv = store.resource_version();
        let config = StoreConfig::default();
        // What the restored store's stream would draw first, given to a restored object.
        let mut probe = Store::restore(config.clone(), everything(&store), rv).unwrap();
        let first = probe.create(config_map("x"), Time::ZERO).unwrap();
        let mut taken = (*first).clone();
        taken.metadata_mut().name = "taken".into();
        taken.metadata_mut().resource_version = rv.to_string();
        let mut objects = everything(&store);
        objects.push(taken);
        let mut restored = Store::restore(config, objects, rv).unwrap();
        let x = restored.create(config_map("x"), Time::ZERO).unwrap();
        assert_ne!(x.metadata().uid, first.metadata().uid);
    }

    #[test]
    fn the_allocators_do_not_hand_out_what_restored_services_hold() {
        let mut store = Store::new(service_config());
        for name in ["a", "b"] {
            store.create(service(name, true), Time::ZERO).unwrap();
        }
        let held = |store: &Store| -> (Vec<String>, Vec<i32>) {
            let mut ips = Vec::new();
            let mut ports = Vec::new();
            for o in store.iter_kind(Kind::Service) {
                if let Object::Service(s) = &**o {
                    ips.extend(s.spec.cluster_ips.iter().cloned());
                    ports.extend(s.spec.ports.iter().filter_map(|p| p.node_port));
                }
            }
            (ips, ports)
        };
        let (old_ips, old_ports) = held(&store);
        assert_eq!(old_ips.len(), 3, "kubernetes, a, b");
        let rv = store.resource_version();
        let mut restored = Store::restore(service_config(), everything(&store), rv).unwrap();
        // Three addresses and three node ports are left; take them all.
        for name in ["c", "d", "e"] {
            restored.create(service(name, true), Time::ZERO).unwrap();
        }
        let (ips, ports) = held(&restored);
        let unique_ips: BTreeSet<&String> = ips.iter().collect();
        let unique_ports: BTreeSet<&i32> = ports.iter().collect();
        assert_eq!(unique_ips.len(), 6, "{ips:?}");
        assert_eq!(unique_ports.len(), 5, "{ports:?}");
        for ip in &old_ips {
            assert!(ips.contains(ip));
        }
        for port in &old_ports {
            assert!(ports.contains(port));
        }
        // The range is full: the next Service is refused, not given a held address.
        let full = restored
            .create(service("f", false), Time::ZERO)
            .unwrap_err();
        assert!(full.to_string().contains("range is full"), "{full}");
        // Deleting a restored Service releases what it held.
        restored
            .delete(
                Kind::Service,
                "default",
                "a",
                &DeleteOptions::default(),
                Time::ZERO,
            )
            .unwrap();
        restored.create(service("f", false), Time::ZERO).unwrap();
    }

    #[test]
    fn objects_that_cannot_be_a_store_state_are_refused() {
        let store = Store::new(StoreConfig::default());
        let rv = store.resource_version();
        let objects = everything(&store);
        let restore = |objects: Vec<Object>, rv: u64| {
            Store::restore(StoreConfig::default(), objects, rv).map(|s| s.len())
        };
        assert_eq!(restore(objects.clone(), rv), Ok(objects.len()));
        // A version newer than the store's.
        assert!(matches!(
            restore(objects.clone(), rv - 1),
            Err(StoreError::BadRequest(_))
        ));
        // The same key twice (with another uid).
        let mut twice = objects.clone();
        let mut copy = objects[0].clone();
        copy.metadata_mut().uid = "another".into();
        twice.push(copy);
        assert!(matches!(restore(twice, rv), Err(StoreError::BadRequest(_))));
        // One uid twice.
        let mut same_uid = objects.clone();
        let mut copy = objects[0].clone();
        copy.metadata_mut().name = "copy".into();
        same_uid.push(copy);
        let err = restore(same_uid, rv).unwrap_err();
        assert!(err.to_string().contains("held by another object"), "{err}");
        // No uid.
        let mut no_uid = objects;
        no_uid[0].metadata_mut().uid.clear();
        assert!(matches!(
            restore(no_uid, rv),
            Err(StoreError::BadRequest(_))
        ));
    }
}
