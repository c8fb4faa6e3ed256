//! PersistentVolume (core/v1): a piece of storage in the cluster — a host directory, a local
//! disk, an NFS export or a CSI volume — with its capacity, access modes and what happens to it
//! when its claim goes away. Also the storage types that claims and classes share
//! ([`PersistentVolumeAccessMode`], [`PersistentVolumeReclaimPolicy`], [`PersistentVolumeMode`])
//! and [`ObjectReference`].
//!
//! A volume is bound to one PersistentVolumeClaim through `spec.claimRef`; its lifecycle is
//! `status.phase`: `Pending` → `Available` → `Bound` → `Released` (claim deleted) → reclaimed
//! or `Failed`. The source of a volume cannot change after creation.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::api::pod::{
    validate_node_selector, HostPathVolumeSource, NodeSelector, NodeSelectorRequirement,
};
use crate::meta::ObjectMeta;
use crate::quantity::{Quantity, ResourceList};
use crate::time::Time;
use crate::validation::{
    check_syntax, is_dns1123_label, is_dns1123_subdomain, ErrorList, FieldError, FieldPath,
    SetDefaults, Validate,
};

/// The resource name of a volume's size in `capacity` and a claim's `resources.requests`.
pub const RESOURCE_STORAGE: &str = "storage";

/// A PersistentVolume.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PersistentVolume {
    /// Standard object metadata (cluster-scoped: no namespace).
    #[serde(default)]
    pub metadata: ObjectMeta,
    /// The volume's description.
    #[serde(default)]
    pub spec: PersistentVolumeSpec,
    /// Where the volume is in its lifecycle.
    #[serde(default, skip_serializing_if = "crate::meta::is_default")]
    pub status: PersistentVolumeStatus,
}

/// The description of a [`PersistentVolume`]. Exactly one source (`hostPath`, `local`, `nfs`,
/// `csi`) must be set; Kubernetes' other, mostly deprecated, in-tree sources are not modelled.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PersistentVolumeSpec {
    /// The volume's size: exactly one entry, `storage`.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub capacity: ResourceList,
    /// A directory of one node; for single-node testing (the volume is not portable).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host_path: Option<HostPathVolumeSource>,
    /// A disk, partition or directory of one node; needs `nodeAffinity`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub local: Option<LocalVolumeSource>,
    /// An NFS export.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nfs: Option<NfsVolumeSource>,
    /// A volume of an external CSI driver.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub csi: Option<CsiPersistentVolumeSource>,
    /// How the volume can be mounted (at least one).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub access_modes: Vec<PersistentVolumeAccessMode>,
    /// The claim the volume is bound to (or reserved for, when set in advance).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub claim_ref: Option<ObjectReference>,
    /// What happens to the volume when its claim is deleted; `Retain` by default (dynamically
    /// provisioned volumes get their StorageClass's policy).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub persistent_volume_reclaim_policy: Option<PersistentVolumeReclaimPolicy>,
    /// The StorageClass the volume belongs to; only claims of that class bind to it. Empty means
    /// no class.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub storage_class_name: Option<String>,
    /// Mount options (`hard`, `nfsvers=4.1`); not validated, a mount fails if one is invalid.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub mount_options: Vec<String>,
    /// Whether the volume is a filesystem or a raw block device; `Filesystem` by default.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub volume_mode: Option<PersistentVolumeMode>,
    /// The nodes the volume can be used from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub node_affinity: Option<VolumeNodeAffinity>,
    /// The VolumeAttributesClass of a CSI volume.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub volume_attributes_class_name: Option<String>,
}

/// How a volume can be mounted.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum PersistentVolumeAccessMode {
    /// Read-write by the pods of one node (`RWO`).
    ReadWriteOnce,
    /// Read-only by many nodes (`ROX`).
    ReadOnlyMany,
    /// Read-write by many nodes (`RWX`).
    ReadWriteMany,
    /// Read-write by a single pod (`RWOP`); cannot be combined with other modes.
    ReadWriteOncePod,
}

impl PersistentVolumeAccessMode {
    /// The abbreviation kubectl prints (`RWO`, `ROX`, `RWX`, `RWOP`).
    pub fn short_name(self) -> &'static str {
        match self {
            PersistentVolumeAccessMode::ReadWriteOnce => "RWO",
            PersistentVolumeAccessMode::ReadOnlyMany => "ROX",
            PersistentVolumeAccessMode::ReadWriteMany => "RWX",
            PersistentVolumeAccessMode::ReadWriteOncePod => "RWOP",
        }
    }
}

/// What happens to a volume released by its claim.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum PersistentVolumeReclaimPolicy {
    /// Keep the volume and its data; an administrator reclaims it by hand.
    Retain,
    /// Delete the volume and its storage.
    Delete,
    /// Scrub the data (`rm -rf`) and make the volume available again (deprecated).
    Recycle,
}

impl PersistentVolumeReclaimPolicy {
    /// The policy as written in YAML.
    pub fn as_str(self) -> &'static str {
        match self {
            PersistentVolumeReclaimPolicy::Retain => "Retain",
            PersistentVolumeReclaimPolicy::Delete => "Delete",
            PersistentVolumeReclaimPolicy::Recycle => "Recycle",
        }
    }
}

/// Whether a volume is used as a filesystem or a raw block device.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum PersistentVolumeMode {
    /// A raw block device.
    Block,
    /// A formatted filesystem (the default).
    Filesystem,
}

/// A disk, partition or directory of a node (`spec.local`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LocalVolumeSource {
    /// Absolute path of the directory or block device on the node.
    #[serde(default)]
    pub path: String,
    /// Filesystem type of a block device (`ext4`); detected when unset.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fs_type: Option<String>,
}

/// An NFS export (`spec.nfs`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NfsVolumeSource {
    /// Host name or IP of the NFS server.
    #[serde(default)]
    pub server: String,
    /// Absolute path of the export.
    #[serde(default)]
    pub path: String,
    /// Whether to mount read-only; `false` by default.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub read_only: Option<bool>,
}

/// A volume of a CSI driver (`spec.csi`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CsiPersistentVolumeSource {
    /// The driver's name (`ebs.csi.aws.com`).
    #[serde(default)]
    pub driver: String,
    /// The driver's id of the volume.
    #[serde(default)]
    pub volume_handle: String,
    /// Whether to publish the volume read-only; `false` by default.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub read_only: Option<bool>,
    /// Filesystem type (`ext4`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fs_type: Option<String>,
    /// Driver-specific attributes of the volume.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub volume_attributes: BTreeMap<String, String>,
    /// Credentials for ControllerPublishVolume.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub controller_publish_secret_ref: Option<SecretReference>,
    /// Credentials for NodeStageVolume.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub node_stage_secret_ref: Option<SecretReference>,
    /// Credentials for NodePublishVolume.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub node_publish_secret_ref: Option<SecretReference>,
    /// Credentials for ControllerExpandVolume.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub controller_expand_secret_ref: Option<SecretReference>,
    /// Credentials for NodeExpandVolume.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub node_expand_secret_ref: Option<SecretReference>,
}

/// A Secret in a given namespace (core/v1 `SecretReference`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SecretReference {
    /// The Secret's name.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub name: String,
    /// The Secret's namespace.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub namespace: String,
}

/// The nodes a volume can be used from (`spec.nodeAffinity`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct VolumeNodeAffinity {
    /// The nodes that can use the volume (required when `nodeAffinity` is set).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub required: Option<NodeSelector>,
}

/// A reference to another object (core/v1 `ObjectReference`): a PersistentVolume's `claimRef`,
/// an endpoint's `targetRef`. Empty strings are unset.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ObjectReference {
    /// The referent's kind.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub kind: String,
    /// The referent's namespace.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub namespace: String,
    /// The referent's name.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub name: String,
    /// The referent's uid.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub uid: String,
    /// The referent's API version.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub api_version: String,
    /// The referent's resource version when the reference was made.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub resource_version: String,
    /// A field inside the referent (`spec.containers{web}`).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub field_path: String,
}

/// Where a [`PersistentVolume`] is in its lifecycle.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PersistentVolumeStatus {
    /// The phase; `Pending` by default.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phase: Option<PersistentVolumePhase>,
    /// Why the volume is in this phase, for humans.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// Why the volume is in this phase, in one CamelCase word.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// When the phase last changed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_phase_transition_time: Option<Time>,
}

/// The phase of a [`PersistentVolume`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum PersistentVolumePhase {
    /// Not yet available for binding.
    Pending,
    /// Free, waiting for a claim.
    Available,
    /// Bound to a claim.
    Bound,
    /// Its claim was deleted; not yet reclaimed.
    Released,
    /// Automatic reclamation failed.
    Failed,
}

impl PersistentVolume {
    /// The volume's size (`spec.capacity.storage`).
    pub fn storage(&self) -> Option<&Quantity> {
        self.spec.capacity.get(RESOURCE_STORAGE)
    }

    /// The volume's StorageClass, `""` for none.
    pub fn storage_class(&self) -> &str {
        self.spec.storage_class_name.as_deref().unwrap_or("")
    }
}

impl SetDefaults for PersistentVolume {
    // pkg/apis/core/v1/defaults.go: SetDefaults_PersistentVolume (and SetDefaults_HostPath).
    fn set_defaults(&mut self) {
        self.status
            .phase
            .get_or_insert(PersistentVolumePhase::Pending);
        self.spec
            .persistent_volume_reclaim_policy
            .get_or_insert(PersistentVolumeReclaimPolicy::Retain);
        self.spec
            .volume_mode
            .get_or_insert(PersistentVolumeMode::Filesystem);
        if let Some(host_path) = &mut self.spec.host_path {
            host_path.r#type.get_or_insert_with(Default::default);
        }
    }
}

/// Pushes an error when `modes` mixes `ReadWriteOncePod` with another mode.
pub(crate) fn check_access_modes(
    errs: &mut ErrorList,
    modes: &[PersistentVolumeAccessMode],
    path: &FieldPath,
) {
    let rwop = modes.contains(&PersistentVolumeAccessMode::ReadWriteOncePod);
    if rwop
        && modes
            .iter()
            .any(|m| *m != PersistentVolumeAccessMode::ReadWriteOncePod)
    {
        errs.push(FieldError::forbidden(
            path,
            "may not use ReadWriteOncePod with other access modes",
        ));
    }
}

/// `validatePathNoBacksteps`: no `..` element.
fn check_no_backsteps(errs: &mut ErrorList, target: &str, path: &FieldPath) {
    if target.split('/').any(|part| part == "..") {
        errs.push(FieldError::invalid(path, target, "must not contain '..'"));
    }
}

/// Go's `path.Clean`, enough to tell whether a path names `/`.
fn clean_path(p: &str) -> String {
    let mut parts: Vec<&str> = Vec::new();
    for part in p.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                if parts.last().is_some_and(|l| *l != "..") {
                    parts.pop();
                } else if !p.starts_with('/') {
                    parts.push("..");
                }
            }
            other => parts.push(other),
        }
    }
    let joined = parts.join("/");
    match (p.starts_with('/'), joined.is_empty()) {
        (true, _) => format!("/{joined}"),
        (false, true) => ".".to_string(),
        (false, false) => joined,
    }
}

fn validate_csi_source(csi: &CsiPersistentVolumeSource, path: &FieldPath) -> ErrorList {
    let mut errs = ErrorList::new();
    // ValidateCSIDriverName: at most 63 characters, a DNS subdomain once lower-cased.
    let driver_path = path.child("driver");
    if csi.driver.is_empty() {
        errs.push(FieldError::required(&driver_path, ""));
    }
    if csi.driver.len() > 63 {
        errs.push(FieldError::too_long(&driver_path, 63));
    }
    for msg in is_dns1123_subdomain(&csi.driver.to_lowercase()) {
        errs.push(FieldError::invalid(&driver_path, &csi.driver, msg));
    }
    if csi.volume_handle.is_empty() {
        errs.push(FieldError::required(&path.child("volumeHandle"), ""));
    }
    let refs = [
        (
            "controllerPublishSecretRef",
            &csi.controller_publish_secret_ref,
        ),
        (
            "controllerExpandSecretRef",
            &csi.controller_expand_secret_ref,
        ),
        ("nodePublishSecretRef", &csi.node_publish_secret_ref),
        ("nodeExpandSecretRef", &csi.node_expand_secret_ref),
        ("nodeStageSecretRef", &csi.node_stage_secret_ref),
    ];
    for (field, secret) in refs {
        let Some(secret) = secret else { continue };
        let p = path.child(field);
        if secret.name.is_empty() {
            errs.push(FieldError::required(&p.child("name"), ""));
        } else {
            check_syntax(
                &mut errs,
                &p.child("name"),
                &secret.name,
                is_dns1123_subdomain,
            );
        }
        if secret.namespace.is_empty() {
            errs.push(FieldError::required(&p.child("namespace"), ""));
        } else {
            check_syntax(
                &mut errs,
                &p.child("namespace"),
                &secret.namespace,
                is_dns1123_label,
            );
        }
    }
    errs
}

impl Validate for PersistentVolume {
    // pkg/apis/core/validation: ValidatePersistentVolumeSpec (not inline).
    fn validate(&self) -> ErrorList {
        let spec = &self.spec;
        let path = FieldPath::new("spec");
        let mut errs = ErrorList::new();

        if spec.access_modes.is_empty() {
            errs.push(FieldError::required(&path.child("accessModes"), ""));
        }
        check_access_modes(&mut errs, &spec.access_modes, &path.child("accessModes"));

        let cap_path = path.child("capacity");
        if spec.capacity.is_empty() {
            errs.push(FieldError::required(&cap_path, ""));
        }
        if !spec.capacity.contains_key(RESOURCE_STORAGE) || spec.capacity.len() > 1 {
            let names: Vec<&String> = spec.capacity.keys().collect();
            errs.push(FieldError::not_supported(
                &cap_path,
                names,
                &[RESOURCE_STORAGE],
            ));
        }
        for (name, q) in &spec.capacity {
            let p = cap_path.key(name);
            if q.value() < 0 {
                errs.push(FieldError::invalid(
                    &p,
                    q.value(),
                    "must be a valid resource quantity",
                ));
            }
            if q.sign() <= 0 {
                errs.push(FieldError::invalid(
                    &p,
                    q.to_string(),
                    "must be greater than zero",
                ));
            }
        }

        let mut node_affinity_set = false;
        if let Some(affinity) = &spec.node_affinity {
            node_affinity_set = true;
            let p = path.child("nodeAffinity").child("required");
            match &affinity.required {
                Some(required) => errs.extend(validate_node_selector(required, &p)),
                None => errs.push(FieldError::required(
                    &p,
                    "must specify required node constraints",
                )),
            }
        }

        // Exactly one source, in Kubernetes' order; every extra one is an error.
        let mut sources = 0;
        let mut more_than_one = |errs: &mut ErrorList, field: &'static str| {
            sources += 1;
            if sources > 1 {
                errs.push(FieldError::forbidden(
                    &path.child(field),
                    "may not specify more than 1 volume type",
                ));
                false
            } else {
                true
            }
        };
        if let Some(host_path) = &spec.host_path {
            if more_than_one(&mut errs, "hostPath") {
                let p = path.child("hostPath").child("path");
                if host_path.path.is_empty() {
                    errs.push(FieldError::required(&p, ""));
                } else {
                    check_no_backsteps(&mut errs, &host_path.path, &p);
                }
            }
        }
        if let Some(nfs) = &spec.nfs {
            if more_than_one(&mut errs, "nfs") {
                let p = path.child("nfs");
                if nfs.server.is_empty() {
                    errs.push(FieldError::required(&p.child("server"), ""));
                }
                if nfs.path.is_empty() {
                    errs.push(FieldError::required(&p.child("path"), ""));
                }
                if !nfs.path.starts_with('/') {
                    errs.push(FieldError::invalid(
                        &p.child("path"),
                        &nfs.path,
                        "must be an absolute path",
                    ));
                }
            }
        }
        if let Some(local) = &spec.local {
            if more_than_one(&mut errs, "local") {
                let p = path.child("local").child("path");
                if local.path.is_empty() {
                    errs.push(FieldError::required(&p, ""));
                } else {
                    if !local.path.starts_with('/') {
                        errs.push(FieldError::invalid(
                            &p,
                            &local.path,
                            "must be an absolute path",
                        ));
                    }
                    check_no_backsteps(&mut errs, &local.path, &p);
                }
                if !node_affinity_set {
                    errs.push(FieldError::required(
                        &path.child("nodeAffinity"),
                        "Local volume requires node affinity",
                    ));
                }
            }
        }
        if let Some(csi) = &spec.csi {
            if more_than_one(&mut errs, "csi") {
                errs.extend(validate_csi_source(csi, &path.child("csi")));
            }
        }
        if sources == 0 {
            errs.push(FieldError::required(&path, "must specify a volume type"));
        }

        if spec.persistent_volume_reclaim_policy == Some(PersistentVolumeReclaimPolicy::Recycle)
            && spec
                .host_path
                .as_ref()
                .is_some_and(|h| clean_path(&h.path) == "/")
        {
            errs.push(FieldError::forbidden(
                &path.child("persistentVolumeReclaimPolicy"),
                "may not be 'recycle' for a hostPath mount of '/'",
            ));
        }
        if let Some(class) = spec.storage_class_name.as_deref().filter(|c| !c.is_empty()) {
            check_syntax(
                &mut errs,
                &path.child("storageClassName"),
                class,
                is_dns1123_subdomain,
            );
        }
        if let Some(class) = &spec.volume_attributes_class_name {
            let p = path.child("volumeAttributesClassName");
            if class.is_empty() {
                errs.push(FieldError::required(&p, "an empty string is disallowed"));
            } else {
                check_syntax(&mut errs, &p, class, is_dns1123_subdomain);
            }
            if spec.csi.is_none() {
                errs.push(FieldError::required(
                    &path.child("csi"),
                    "has to be specified when using volumeAttributesClassName",
                ));
            }
        }
        errs
    }

    // pkg/apis/core/validation: ValidatePersistentVolumeUpdate. The source is immutable (a CSI
    // volume may gain a controllerExpandSecretRef), so are the volume mode and a set node
    // affinity (bar beta-to-GA label renames). Capacity, access modes, claimRef and the reclaim
    // policy may change.
    fn validate_update(&self, old: &Self) -> ErrorList {
        let (new, old) = (&self.spec, &old.spec);
        let path = FieldPath::new("spec");
        let mut errs = ErrorList::new();
        let mut new_csi = new.csi.clone();
        if let (Some(n), Some(o)) = (&mut new_csi, &old.csi) {
            if o.controller_expand_secret_ref.is_none() {
                n.controller_expand_secret_ref = None;
            }
        }
        if new.host_path != old.host_path
            || new.local != old.local
            || new.nfs != old.nfs
            || new_csi != old.csi
        {
            // Kubernetes names the embedded PersistentVolumeSource struct in this path.
            errs.push(FieldError::forbidden(
                &path.child("persistentvolumesource"),
                "spec.persistentvolumesource is immutable after creation",
            ));
        }
        if new.volume_mode != old.volume_mode {
            let mode = new.volume_mode.map_or(String::new(), |m| format!("{m:?}"));
            errs.push(FieldError::invalid(
                &path.child("volumeMode"),
                mode,
                "field is immutable",
            ));
        }
        if let Some(old_affinity) = &old.node_affinity {
            if !node_affinity_equal_modulo_ga_labels(new.node_affinity.as_ref(), old_affinity) {
                errs.push(FieldError::invalid(
                    &path.child("nodeAffinity"),
                    &new.node_affinity,
                    "field is immutable, except for updating from beta label to GA",
                ));
            }
        }
        if old.volume_attributes_class_name.is_some() && new.volume_attributes_class_name.is_none()
        {
            errs.push(FieldError::forbidden(
                &path.child("volumeAttributesClassName"),
                "update from non-nil value to nil is forbidden",
            ));
        }
        errs
    }
}

/// The GA names of the beta node labels a volume's node affinity may be migrated to.
fn ga_label(beta: &str) -> Option<&'static str> {
    Some(match beta {
        "failure-domain.beta.kubernetes.io/zone" => "topology.kubernetes.io/zone",
        "failure-domain.beta.kubernetes.io/region" => "topology.kubernetes.io/region",
        "beta.kubernetes.io/os" => "kubernetes.io/os",
        "beta.kubernetes.io/arch" => "kubernetes.io/arch",
        "beta.kubernetes.io/instance-type" => "node.kubernetes.io/instance-type",
        _ => return None,
    })
}

fn node_affinity_equal_modulo_ga_labels(
    new: Option<&VolumeNodeAffinity>,
    old: &VolumeNodeAffinity,
) -> bool {
    let Some(new) = new else { return false };
    let same_req = |n: &NodeSelectorRequirement, o: &NodeSelectorRequirement| {
        n == o
            || (ga_label(&o.key) == Some(n.key.as_str())
                && n.operator == o.operator
                && n.values == o.values)
    };
    match (&new.required, &old.required) {
        (None, None) => true,
        (Some(n), Some(o)) => {
            n.node_selector_terms.len() == o.node_selector_terms.len()
                && n.node_selector_terms
                    .iter()
                    .zip(&o.node_selector_terms)
                    .all(|(nt, ot)| {
                        nt.match_fields == ot.match_fields
                            && nt.match_expressions.len() == ot.match_expressions.len()
                            && nt
                                .match_expressions
                                .iter()
                                .zip(&ot.match_expressions)
                                .all(|(a, b)| same_req(a, b))
                    })
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::config_map::tests::valid_docs_of_kind;
    use crate::api::pod::{HostPathType, NodeSelectorOperator, NodeSelectorTerm};

    fn text(errs: &ErrorList) -> Vec<String> {
        errs.iter().map(ToString::to_string).collect()
    }

    fn q(s: &str) -> Quantity {
        Quantity::parse(s).expect("quantity")
    }

    fn host_path_pv(path: &str) -> PersistentVolume {
        let mut pv = PersistentVolume::default();
        pv.metadata.name = "pv-1".into();
        pv.spec.capacity.insert("storage".into(), q("10Gi"));
        pv.spec.access_modes = vec![PersistentVolumeAccessMode::ReadWriteOnce];
        pv.spec.host_path = Some(HostPathVolumeSource {
            path: path.into(),
            r#type: None,
        });
        pv.set_defaults();
        pv
    }

    fn zone_affinity(key: &str) -> VolumeNodeAffinity {
        VolumeNodeAffinity {
            required: Some(NodeSelector {
                node_selector_terms: vec![NodeSelectorTerm {
                    match_expressions: vec![NodeSelectorRequirement {
                        key: key.into(),
                        operator: NodeSelectorOperator::In,
                        values: vec!["us-east-1a".into()],
                    }],
                    ..NodeSelectorTerm::default()
                }],
            }),
        }
    }

    #[test]
    fn reads_a_volume_and_applies_defaults() {
        let yaml = r#"
metadata: {name: nfs-share}
spec:
  capacity: {storage: 100Gi}
  accessModes: [ReadWriteMany, ReadOnlyMany]
  storageClassName: nfs
  mountOptions: [hard, nfsvers=4.1]
  nfs: {server: nfs.example.com, path: /exports/shop}
  claimRef: {namespace: shop, name: shared-media}
"#;
        let mut pv: PersistentVolume = serde_yaml::from_str(yaml).expect("decodes");
        pv.set_defaults();
        assert_eq!(pv.storage(), Some(&q("100Gi")));
        assert_eq!(pv.storage_class(), "nfs");
        assert_eq!(pv.status.phase, Some(PersistentVolumePhase::Pending));
        assert_eq!(
            pv.spec.persistent_volume_reclaim_policy,
            Some(PersistentVolumeReclaimPolicy::Retain)
        );
        assert_eq!(pv.spec.volume_mode, Some(PersistentVolumeMode::Filesystem));
        assert_eq!(
            pv.spec.claim_ref.as_ref().map(|r| r.name.as_str()),
            Some("shared-media")
        );
        assert!(pv.validate().is_empty(), "{:?}", pv.validate());
        let json = serde_json::to_value(&pv).expect("serializes");
        assert_eq!(json["spec"]["capacity"]["storage"], "100Gi");
        assert_eq!(json["spec"]["persistentVolumeReclaimPolicy"], "Retain");
        assert_eq!(json["status"]["phase"], "Pending");
        assert_eq!(
            PersistentVolumeAccessMode::ReadWriteOncePod.short_name(),
            "RWOP"
        );
        let pv = host_path_pv("/data");
        assert_eq!(
            pv.spec.host_path.as_ref().and_then(|h| h.r#type),
            Some(HostPathType::Unset)
        );
    }

    #[test]
    fn capacity_and_access_modes() {
        let mut pv = host_path_pv("/data");
        pv.spec.capacity.clear();
        pv.spec.access_modes.clear();
        assert_eq!(
            text(&pv.validate()),
            vec![
                "spec.accessModes: Required value",
                "spec.capacity: Required value",
                "spec.capacity: Unsupported value: []: supported values: \"storage\"",
            ]
        );
        let mut pv = host_path_pv("/data");
        pv.spec.capacity.insert("cpu".into(), q("1"));
        pv.spec.capacity.insert("storage".into(), q("-1Gi"));
        pv.spec
            .access_modes
            .push(PersistentVolumeAccessMode::ReadWriteOncePod);
        assert_eq!(
            text(&pv.validate()),
            vec![
                "spec.accessModes: Forbidden: may not use ReadWriteOncePod with other access modes",
                "spec.capacity: Unsupported value: [\"cpu\", \"storage\"]: supported values: \"storage\"",
                "spec.capacity[storage]: Invalid value: -1073741824: must be a valid resource quantity",
                "spec.capacity[storage]: Invalid value: \"-1Gi\": must be greater than zero",
            ]
        );
    }

    #[test]
    fn exactly_one_source() {
        let mut pv = host_path_pv("/data");
        pv.spec.host_path = None;
        assert_eq!(
            text(&pv.validate()),
            vec!["spec: Required value: must specify a volume type"]
        );
        let mut pv = host_path_pv("/data");
        pv.spec.nfs = Some(NfsVolumeSource {
            server: "nfs".into(),
            path: "exports".into(),
            read_only: None,
        });
        pv.spec.csi = Some(CsiPersistentVolumeSource::default());
        assert_eq!(
            text(&pv.validate()),
            vec![
                "spec.nfs: Forbidden: may not specify more than 1 volume type",
                "spec.csi: Forbidden: may not specify more than 1 volume type",
            ]
        );
    }

    #[test]
    fn source_rules() {
        let pv = host_path_pv("/var/../etc");
        assert_eq!(
            text(&pv.validate()),
            vec!["spec.hostPath.path: Invalid value: \"/var/../etc\": must not contain '..'"]
        );
        let mut pv = host_path_pv("/");
        pv.spec.persistent_volume_reclaim_policy = Some(PersistentVolumeReclaimPolicy::Recycle);
        assert_eq!(
            text(&pv.validate()),
            vec!["spec.persistentVolumeReclaimPolicy: Forbidden: may not be 'recycle' for a hostPath mount of '/'"]
        );
        pv.spec.host_path = Some(HostPathVolumeSource {
            path: "/srv/..".into(),
            r#type: None,
        });
        assert_eq!(text(&pv.validate()).len(), 2, "'/srv/..' is '/' too");

        let mut pv = host_path_pv("/data");
        pv.spec.host_path = None;
        pv.spec.nfs = Some(NfsVolumeSource {
            server: String::new(),
            path: "exports".into(),
            read_only: None,
        });
        assert_eq!(
            text(&pv.validate()),
            vec![
                "spec.nfs.server: Required value",
                "spec.nfs.path: Invalid value: \"exports\": must be an absolute path",
            ]
        );

        let mut pv = host_path_pv("/data");
        pv.spec.host_path = None;
        pv.spec.local = Some(LocalVolumeSource {
            path: "mnt/disks/ssd1".into(),
            fs_type: None,
        });
        assert_eq!(
            text(&pv.validate()),
            vec![
                "spec.local.path: Invalid value: \"mnt/disks/ssd1\": must be an absolute path",
                "spec.nodeAffinity: Required value: Local volume requires node affinity",
            ]
        );
        pv.spec.local = Some(LocalVolumeSource {
            path: "/mnt/disks/ssd1".into(),
            fs_type: None,
        });
        pv.spec.node_affinity = Some(VolumeNodeAffinity { required: None });
        assert_eq!(
            text(&pv.validate()),
            vec!["spec.nodeAffinity.required: Required value: must specify required node constraints"]
        );
        pv.spec.node_affinity = Some(VolumeNodeAffinity {
            required: Some(NodeSelector::default()),
        });
        assert_eq!(
            text(&pv.validate()),
            vec!["spec.nodeAffinity.required.nodeSelectorTerms: Required value: must have at least one node selector term"]
        );
        pv.spec.node_affinity = Some(zone_affinity("topology.kubernetes.io/zone"));
        assert!(pv.validate().is_empty(), "{:?}", pv.validate());
    }

    #[test]
    fn csi_rules() {
        let mut pv = host_path_pv("/data");
        pv.spec.host_path = None;
        pv.spec.csi = Some(CsiPersistentVolumeSource {
            driver: "Ebs.CSI.aws.com".into(),
            volume_handle: String::new(),
            node_publish_secret_ref: Some(SecretReference {
                name: "creds".into(),
                namespace: String::new(),
            }),
            ..Default::default()
        });
        assert_eq!(
            text(&pv.validate()),
            vec![
                "spec.csi.volumeHandle: Required value",
                "spec.csi.nodePublishSecretRef.namespace: Required value"
            ],
            "driver names are checked lower-cased"
        );
        pv.spec.csi = Some(CsiPersistentVolumeSource {
            driver: "bad_driver".into(),
            volume_handle: "vol-1".into(),
            ..Default::default()
        });
        let errs = text(&pv.validate());
        assert_eq!(errs.len(), 1);
        assert!(errs[0].starts_with(
            "spec.csi.driver: Invalid value: \"bad_driver\": a lowercase RFC 1123 subdomain"
        ));
        pv.spec.csi = Some(CsiPersistentVolumeSource {
            driver: "ebs.csi.aws.com".into(),
            volume_handle: "vol-1".into(),
            ..Default::default()
        });
        pv.spec.volume_attributes_class_name = Some(String::new());
        assert_eq!(
            text(&pv.validate()),
            vec!["spec.volumeAttributesClassName: Required value: an empty string is disallowed"]
        );
        pv.spec.volume_attributes_class_name = Some("gold".into());
        assert!(pv.validate().is_empty());
    }

    #[test]
    fn storage_class_name_syntax() {
        let mut pv = host_path_pv("/data");
        pv.spec.storage_class_name = Some("Fast_SSD".into());
        let errs = text(&pv.validate());
        assert_eq!(errs.len(), 1);
        assert!(errs[0].starts_with("spec.storageClassName: Invalid value: \"Fast_SSD\""));
        pv.spec.storage_class_name = Some(String::new());
        assert!(pv.validate().is_empty(), "empty means no class");
    }

    #[test]
    fn source_and_mode_are_immutable() {
        let old = host_path_pv("/data");
        let mut new = old.clone();
        new.spec.capacity.insert("storage".into(), q("20Gi"));
        new.spec.persistent_volume_reclaim_policy = Some(PersistentVolumeReclaimPolicy::Delete);
        new.spec.claim_ref = Some(ObjectReference {
            namespace: "shop".into(),
            name: "data".into(),
            ..Default::default()
        });
        assert!(new.validate_update(&old).is_empty());
        new.spec.host_path = Some(HostPathVolumeSource {
            path: "/other".into(),
            r#type: None,
        });
        new.spec.volume_mode = Some(PersistentVolumeMode::Block);
        assert_eq!(
            text(&new.validate_update(&old)),
            vec![
                "spec.persistentvolumesource: Forbidden: spec.persistentvolumesource is immutable after creation",
                "spec.volumeMode: Invalid value: \"Block\": field is immutable",
            ]
        );
        let mut old_csi = host_path_pv("/data");
        old_csi.spec.host_path = None;
        old_csi.spec.csi = Some(CsiPersistentVolumeSource {
            driver: "d.example.com".into(),
            volume_handle: "v".into(),
            ..Default::default()
        });
        let mut new_csi = old_csi.clone();
        if let Some(csi) = &mut new_csi.spec.csi {
            csi.controller_expand_secret_ref = Some(SecretReference {
                name: "s".into(),
                namespace: "kube-system".into(),
            });
        }
        assert!(
            new_csi.validate_update(&old_csi).is_empty(),
            "an expand secret may be added"
        );
    }

    #[test]
    fn node_affinity_may_only_move_to_ga_labels() {
        let mut old = host_path_pv("/data");
        old.spec.node_affinity = Some(zone_affinity("failure-domain.beta.kubernetes.io/zone"));
        let mut new = old.clone();
        new.spec.node_affinity = Some(zone_affinity("topology.kubernetes.io/zone"));
        assert!(new.validate_update(&old).is_empty());
        new.spec.node_affinity = Some(zone_affinity("example.com/rack"));
        let errs = text(&new.validate_update(&old));
        assert_eq!(errs.len(), 1);
        assert!(errs[0].starts_with("spec.nodeAffinity: Invalid value:"));
        assert!(errs[0].ends_with("field is immutable, except for updating from beta label to GA"));
        // Setting affinity where there was none is allowed.
        let plain = host_path_pv("/data");
        assert!(old.validate_update(&plain).is_empty());
    }

    #[test]
    fn clean_path_matches_go() {
        for (input, want) in [
            ("/", "/"),
            ("//", "/"),
            ("/srv/..", "/"),
            ("/a/./b/", "/a/b"),
            ("a/../..", ".."),
            ("", "."),
        ] {
            assert_eq!(clean_path(input), want, "{input}");
        }
    }

    #[test]
    fn example_manifest_is_valid() {
        let pvs: Vec<PersistentVolume> =
            valid_docs_of_kind(include_str!("../../../examples/manifests/storage.yaml"));
        assert!(pvs.iter().any(|pv| pv.spec.host_path.is_some()));
    }
}
