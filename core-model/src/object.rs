//! The supported kinds: [`Kind`], the [`Object`] enum over every typed API object, and the
//! [`Resource`] trait each typed object implements.
//!
//! The list of kinds lives in one macro invocation below, so adding a kind is one line there plus
//! its module under `api/`.

use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::api::*;
use crate::meta::{validate_object_meta, NameRule, ObjectMeta};
use crate::validation::{ErrorList, SetDefaults, Validate};

/// A typed API object that the store can hold: a Kubernetes kind with `metadata`.
pub trait Resource:
    Clone
    + std::fmt::Debug
    + PartialEq
    + Serialize
    + DeserializeOwned
    + Validate
    + SetDefaults
    + Send
    + Sync
    + 'static
{
    /// The kind of this type.
    const KIND: Kind;

    /// The object's metadata.
    fn metadata(&self) -> &ObjectMeta;

    /// The object's metadata, mutably.
    fn metadata_mut(&mut self) -> &mut ObjectMeta;

    /// Whether the desired state (`spec`, or what stands for it) differs between the two objects;
    /// the store bumps `metadata.generation` when it does. Kinds without a spec never differ.
    fn spec_differs(&self, other: &Self) -> bool;

    /// Replaces this object's `status` with `other`'s. The store uses it so that an update keeps
    /// the stored status and a status update keeps the stored spec. No-op for kinds without status.
    fn copy_status_from(&mut self, other: &Self);

    /// Full server-side validation on create: metadata (name syntax, namespace, labels,
    /// annotations, owner references) and then the kind's own rules.
    fn validate_object(&self) -> ErrorList {
        let rule = Self::KIND.name_rule();
        let mut errs = validate_object_meta(self.metadata(), Self::KIND.namespaced(), rule);
        errs.extend(self.validate());
        errs
    }
}

/// The type a variant of [`Object`] holds: the kind's type, or the box the kind is declared
/// with (`Deployment as Box<Deployment>`).
macro_rules! stored {
    ($ty:ty) => {
        $ty
    };
    ($ty:ty, $stored:ty) => {
        $stored
    };
}

/// A variant's value as the kind's type: itself, or unboxed.
trait IntoInner<T> {
    fn into_inner(self) -> T;
}

impl<T> IntoInner<T> for T {
    fn into_inner(self) -> T {
        self
    }
}

impl<T> IntoInner<T> for Box<T> {
    fn into_inner(self) -> T {
        *self
    }
}

macro_rules! api_kinds {
    ($(
        $(#[$doc:meta])*
        $variant:ident($ty:ty $(as $stored:ty)?) {
            api_version: $api_version:literal,
            plural: $plural:literal,
            short: [$($short:literal),*],
            namespaced: $namespaced:literal,
            name: $rule:ident
            $(, spec: $spec:ident)?
            $(, status: $status:ident)?
            $(,)?
        }
    )*) => {
        /// A kind of API object that Flotilla supports.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub enum Kind {
            $( $(#[$doc])* $variant, )*
        }

        impl Kind {
            /// Every supported kind, in a fixed order.
            pub const ALL: &'static [Kind] = &[$(Kind::$variant),*];

            /// The kind's name as written in `kind:` (`Deployment`).
            pub fn name(self) -> &'static str {
                match self { $(Kind::$variant => stringify!($variant),)* }
            }

            /// The `apiVersion` Flotilla reads and writes for this kind (`apps/v1`).
            pub fn api_version(self) -> &'static str {
                match self { $(Kind::$variant => $api_version,)* }
            }

            /// The API group (`apps`; empty for the core group).
            pub fn group(self) -> &'static str {
                match self.api_version().rsplit_once('/') {
                    Some((group, _)) => group,
                    None => "",
                }
            }

            /// The lowercase plural resource name (`deployments`).
            pub fn plural(self) -> &'static str {
                match self { $(Kind::$variant => $plural,)* }
            }

            /// kubectl's short names (`deploy`).
            pub fn short_names(self) -> &'static [&'static str] {
                match self { $(Kind::$variant => &[$($short),*],)* }
            }

            /// Whether objects of this kind live in a namespace.
            pub fn namespaced(self) -> bool {
                match self { $(Kind::$variant => $namespaced,)* }
            }

            /// The syntax rule for object names of this kind.
            pub fn name_rule(self) -> NameRule {
                match self { $(Kind::$variant => NameRule::$rule,)* }
            }

            /// Whether the kind has a `status` that is written through status updates.
            pub fn has_status(self) -> bool {
                match self { $(Kind::$variant => false $(|| { let _ = stringify!($status); true })?,)* }
            }
        }

        /// Any supported API object, typed.
        ///
        /// Kinds larger than a Pod are boxed (a CronJob carries a whole pod template): every
        /// stored version and watch event of an object allocates the enum's size, and pods are
        /// most of them, so the enum is kept to a Pod's size.
        #[derive(Clone, Debug, PartialEq)]
        pub enum Object {
            $( $(#[$doc])* $variant(stored!($ty $(, $stored)?)), )*
        }

        impl Object {
            /// The object's kind.
            pub fn kind(&self) -> Kind {
                match self { $(Object::$variant(_) => Kind::$variant,)* }
            }

            /// The object's metadata.
            pub fn metadata(&self) -> &ObjectMeta {
                match self { $(Object::$variant(o) => &o.metadata,)* }
            }

            /// The object's metadata, mutably.
            pub fn metadata_mut(&mut self) -> &mut ObjectMeta {
                match self { $(Object::$variant(o) => &mut o.metadata,)* }
            }

            /// Full server-side validation: metadata and the kind's own rules.
            pub fn validate(&self) -> ErrorList {
                match self { $(Object::$variant(o) => o.validate_object(),)* }
            }

            /// Validation of an update of `old` to `self` (immutable fields); both of one kind.
            pub fn validate_update(&self, old: &Object) -> ErrorList {
                match (self, old) {
                    $((Object::$variant(new), Object::$variant(old)) => new.validate_update(old),)*
                    _ => Vec::new(),
                }
            }

            /// Applies the API server's defaults.
            pub fn set_defaults(&mut self) {
                match self { $(Object::$variant(o) => o.set_defaults(),)* }
            }

            /// Whether the desired state differs (see [`Resource::spec_differs`]); `false` for two
            /// objects of different kinds.
            pub fn spec_differs(&self, other: &Object) -> bool {
                match (self, other) {
                    $((Object::$variant(a), Object::$variant(b)) => a.spec_differs(b),)*
                    _ => false,
                }
            }

            /// Replaces this object's status with `other`'s (see [`Resource::copy_status_from`]).
            pub fn copy_status_from(&mut self, other: &Object) {
                match (self, other) {
                    $((Object::$variant(a), Object::$variant(b)) => a.copy_status_from(b),)*
                    _ => {}
                }
            }

            /// The object as JSON, with `apiVersion` and `kind` first, as `kubectl get -o json`
            /// prints it.
            pub fn to_value(&self) -> serde_json::Value {
                let body = match self {
                    $(Object::$variant(o) => serde_json::to_value(o),)*
                };
                let mut map = serde_json::Map::new();
                map.insert("apiVersion".into(), self.kind().api_version().into());
                map.insert("kind".into(), self.kind().name().into());
                if let Ok(serde_json::Value::Object(fields)) = body {
                    map.extend(fields);
                }
                serde_json::Value::Object(map)
            }

            /// Decodes a typed object of `kind` from JSON (without unknown-field reporting; the
            /// manifest loader is the place for that).
            pub fn from_value(kind: Kind, mut value: serde_json::Value) -> Result<Object, serde_json::Error> {
                if let serde_json::Value::Object(map) = &mut value {
                    map.remove("apiVersion");
                    map.remove("kind");
                }
                Ok(match kind {
                    $(Kind::$variant => Object::$variant(serde_json::from_value::<$ty>(value)?.into()),)*
                })
            }

            /// Decodes a typed object from a deserializer, for the manifest loader, calling
            /// `unknown` for every field the type does not have.
            pub(crate) fn deserialize_kind<'de, D>(
                kind: Kind,
                deserializer: D,
            ) -> Result<Object, D::Error>
            where
                D: serde::Deserializer<'de>,
            {
                Ok(match kind {
                    $(Kind::$variant => Object::$variant(<$ty as serde::Deserialize>::deserialize(deserializer)?.into()),)*
                })
            }
        }

        $(
            impl Resource for $ty {
                const KIND: Kind = Kind::$variant;

                fn metadata(&self) -> &ObjectMeta {
                    &self.metadata
                }

                fn metadata_mut(&mut self) -> &mut ObjectMeta {
                    &mut self.metadata
                }

                fn spec_differs(&self, _other: &Self) -> bool {
                    false $(|| self.$spec != _other.$spec)?
                }

                fn copy_status_from(&mut self, _other: &Self) {
                    $(self.$status.clone_from(&_other.$status);)?
                }
            }

            impl From<$ty> for Object {
                fn from(o: $ty) -> Object {
                    Object::$variant(o.into())
                }
            }

            $(
                impl From<$stored> for Object {
                    fn from(o: $stored) -> Object {
                        Object::$variant(o)
                    }
                }
            )?

            impl TryFrom<Object> for $ty {
                type Error = Object;
                fn try_from(o: Object) -> Result<$ty, Object> {
                    match o {
                        Object::$variant(x) => Ok(IntoInner::<$ty>::into_inner(x)),
                        other => Err(other),
                    }
                }
            }
        )*
    };
}

api_kinds! {
    /// A namespace: a scope for names, policies and quotas.
    Namespace(Namespace) {
        api_version: "v1", plural: "namespaces", short: ["ns"], namespaced: false, name: Label,
        spec: spec, status: status,
    }
    /// A node: a machine that runs pods.
    Node(Node as Box<Node>) {
        api_version: "v1", plural: "nodes", short: ["no"], namespaced: false, name: Subdomain,
        spec: spec, status: status,
    }
    /// A pod: co-scheduled containers sharing network and storage.
    Pod(Pod) {
        api_version: "v1", plural: "pods", short: ["po"], namespaced: true, name: Subdomain,
        spec: spec, status: status,
    }
    /// A service: a stable virtual address in front of a set of pods.
    Service(Service as Box<Service>) {
        api_version: "v1", plural: "services", short: ["svc"], namespaced: true, name: Label,
        spec: spec, status: status,
    }
    /// Configuration data as key/value pairs.
    ConfigMap(ConfigMap) {
        api_version: "v1", plural: "configmaps", short: ["cm"], namespaced: true, name: Subdomain,
    }
    /// Sensitive data as key/value pairs.
    Secret(Secret) {
        api_version: "v1", plural: "secrets", short: [], namespaced: true, name: Subdomain,
    }
    /// A piece of storage provisioned in the cluster.
    PersistentVolume(PersistentVolume as Box<PersistentVolume>) {
        api_version: "v1", plural: "persistentvolumes", short: ["pv"], namespaced: false, name: Subdomain,
        spec: spec, status: status,
    }
    /// A request for storage by a user.
    PersistentVolumeClaim(PersistentVolumeClaim as Box<PersistentVolumeClaim>) {
        api_version: "v1", plural: "persistentvolumeclaims", short: ["pvc"], namespaced: true, name: Subdomain,
        spec: spec, status: status,
    }
    /// Limits on aggregate resource use per namespace.
    ResourceQuota(ResourceQuota) {
        api_version: "v1", plural: "resourcequotas", short: ["quota"], namespaced: true, name: Subdomain,
        spec: spec, status: status,
    }
    /// Defaults and limits on resources per pod or container in a namespace.
    LimitRange(LimitRange) {
        api_version: "v1", plural: "limitranges", short: ["limits"], namespaced: true, name: Subdomain,
        spec: spec,
    }
    /// Declarative rollouts of replicated pods.
    Deployment(Deployment as Box<Deployment>) {
        api_version: "apps/v1", plural: "deployments", short: ["deploy"], namespaced: true, name: Subdomain,
        spec: spec, status: status,
    }
    /// Keeps a number of identical pods running.
    ReplicaSet(ReplicaSet as Box<ReplicaSet>) {
        api_version: "apps/v1", plural: "replicasets", short: ["rs"], namespaced: true, name: Subdomain,
        spec: spec, status: status,
    }
    /// Runs one pod per (selected) node.
    DaemonSet(DaemonSet as Box<DaemonSet>) {
        api_version: "apps/v1", plural: "daemonsets", short: ["ds"], namespaced: true, name: Subdomain,
        spec: spec, status: status,
    }
    /// Pods with stable identities and storage.
    StatefulSet(StatefulSet as Box<StatefulSet>) {
        api_version: "apps/v1", plural: "statefulsets", short: ["sts"], namespaced: true, name: Label,
        spec: spec, status: status,
    }
    /// Pods that run to completion.
    Job(Job as Box<Job>) {
        api_version: "batch/v1", plural: "jobs", short: [], namespaced: true, name: Subdomain,
        spec: spec, status: status,
    }
    /// Jobs on a schedule.
    CronJob(CronJob as Box<CronJob>) {
        api_version: "batch/v1", plural: "cronjobs", short: ["cj"], namespaced: true, name: Subdomain,
        spec: spec, status: status,
    }
    /// Scales a workload on observed metrics.
    HorizontalPodAutoscaler(HorizontalPodAutoscaler as Box<HorizontalPodAutoscaler>) {
        api_version: "autoscaling/v2", plural: "horizontalpodautoscalers", short: ["hpa"], namespaced: true,
        name: Subdomain, spec: spec, status: status,
    }
    /// Limits voluntary disruption of a set of pods.
    PodDisruptionBudget(PodDisruptionBudget) {
        api_version: "policy/v1", plural: "poddisruptionbudgets", short: ["pdb"], namespaced: true,
        name: Subdomain, spec: spec, status: status,
    }
    /// The network endpoints behind a Service.
    EndpointSlice(EndpointSlice) {
        api_version: "discovery.k8s.io/v1", plural: "endpointslices", short: [], namespaced: true,
        name: Subdomain,
    }
    /// A class of dynamically provisioned storage.
    StorageClass(StorageClass) {
        api_version: "storage.k8s.io/v1", plural: "storageclasses", short: ["sc"], namespaced: false,
        name: Subdomain,
    }
    /// A named pod priority.
    PriorityClass(PriorityClass) {
        api_version: "scheduling.k8s.io/v1", plural: "priorityclasses", short: ["pc"], namespaced: false,
        name: Subdomain,
    }
    /// Permissions inside one namespace.
    Role(Role) {
        api_version: "rbac.authorization.k8s.io/v1", plural: "roles", short: [], namespaced: true, name: PathSegment,
    }
    /// Permissions across the cluster, or in a namespace through a RoleBinding.
    ClusterRole(ClusterRole) {
        api_version: "rbac.authorization.k8s.io/v1", plural: "clusterroles", short: [], namespaced: false, name: PathSegment,
    }
    /// Grants a Role or ClusterRole to subjects inside one namespace.
    RoleBinding(RoleBinding) {
        api_version: "rbac.authorization.k8s.io/v1", plural: "rolebindings", short: [], namespaced: true, name: PathSegment,
    }
    /// Grants a ClusterRole to subjects across the cluster.
    ClusterRoleBinding(ClusterRoleBinding) {
        api_version: "rbac.authorization.k8s.io/v1", plural: "clusterrolebindings", short: [], namespaced: false, name: PathSegment,
    }
}

impl Kind {
    /// Looks a kind up by `apiVersion` and `kind`, as written in a manifest.
    pub fn from_type(api_version: &str, kind: &str) -> Option<Kind> {
        Kind::ALL
            .iter()
            .copied()
            .find(|k| k.name() == kind && k.api_version() == api_version)
    }

    /// Looks a kind up by a name kubectl accepts: the kind (`Deployment`, any case), the plural
    /// (`deployments`), the singular (`deployment`) or a short name (`deploy`).
    pub fn from_resource_name(name: &str) -> Option<Kind> {
        let lower = name.to_ascii_lowercase();
        Kind::ALL.iter().copied().find(|k| {
            k.name().eq_ignore_ascii_case(&lower)
                || k.plural() == lower
                || k.short_names().contains(&lower.as_str())
        })
    }

    /// `apiVersion`/`kind` pairs of every supported kind, for error messages.
    pub fn supported_list() -> String {
        Kind::ALL
            .iter()
            .map(|k| format!("{}/{}", k.api_version(), k.name()))
            .collect::<Vec<_>>()
            .join(", ")
    }
}

impl std::fmt::Display for Kind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

impl serde::Serialize for Object {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.to_value().serialize(serializer)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every stored version and watch event of an object allocates `Object`'s size: a kind
    /// larger than a Pod must be declared boxed (`Kind as Box<Kind>`) or it grows every pod's.
    #[test]
    fn object_is_no_larger_than_a_pod() {
        let object = std::mem::size_of::<Object>();
        let pod = std::mem::size_of::<crate::api::Pod>();
        assert!(object <= pod + 8, "Object is {object} bytes, a Pod {pod}");
    }

    #[test]
    fn boxed_kinds_convert_both_ways() {
        let mut node = crate::api::Node::default();
        node.metadata.name = "n1".into();
        let object = Object::from(node.clone());
        assert_eq!(object.kind(), Kind::Node);
        assert_eq!(object.metadata().name, "n1");
        assert_eq!(crate::api::Node::try_from(object), Ok(node.clone()));
        let boxed = Object::from(Box::new(node));
        assert!(crate::api::Pod::try_from(boxed).is_err());
    }
}
