//! PersistentVolumeClaim (core/v1): a user's request for storage — a size, access modes and a
//! StorageClass — that the volume controller binds to a matching PersistentVolume (or has one
//! provisioned for), and that pods mount by name.
//!
//! A claim's spec is fixed once created, with two exceptions Kubernetes makes: binding fills in
//! `volumeName` once, and a bound claim may be resized through `resources.requests.storage`
//! (growing it, or shrinking it back while it is still above the size the volume reached).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::api::persistent_volume::{
    check_access_modes, PersistentVolumeAccessMode, PersistentVolumeMode, RESOURCE_STORAGE,
};
use crate::api::pod::ConditionStatus;
use crate::meta::{is_default, ObjectMeta};
use crate::quantity::{Quantity, ResourceList};
use crate::selector::{validate_label_selector, LabelSelector};
use crate::time::Time;
use crate::validation::{
    check_syntax, is_dns1123_label, is_dns1123_subdomain, ErrorList, FieldError, FieldPath,
    SetDefaults, Validate,
};

/// The annotation that named a claim's StorageClass before `spec.storageClassName` existed.
pub const BETA_STORAGE_CLASS_ANNOTATION: &str = "volume.beta.kubernetes.io/storage-class";

/// A PersistentVolumeClaim.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PersistentVolumeClaim {
    /// Standard object metadata.
    #[serde(default)]
    pub metadata: ObjectMeta,
    /// What storage is requested.
    #[serde(default)]
    pub spec: PersistentVolumeClaimSpec,
    /// Whether and to what the claim is bound.
    #[serde(default, skip_serializing_if = "crate::meta::is_default")]
    pub status: PersistentVolumeClaimStatus,
}

/// What a [`PersistentVolumeClaim`] requests.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PersistentVolumeClaimSpec {
    /// The access modes the volume must support (at least one).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub access_modes: Vec<PersistentVolumeAccessMode>,
    /// Labels the volume must have to be bound to the claim.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub selector: Option<LabelSelector>,
    /// The size requested (`requests.storage`, required) and an optional limit.
    #[serde(default, skip_serializing_if = "is_default")]
    pub resources: VolumeResourceRequirements,
    /// The PersistentVolume to bind to; set by binding when left empty.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub volume_name: Option<String>,
    /// The StorageClass to use: unset means the cluster's default class, `""` means no class
    /// (only pre-provisioned volumes without a class).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub storage_class_name: Option<String>,
    /// Filesystem or raw block device; `Filesystem` by default.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub volume_mode: Option<PersistentVolumeMode>,
    /// An object to populate the new volume from: a VolumeSnapshot or another claim.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data_source: Option<TypedLocalObjectReference>,
    /// Like `dataSource`, but any populator object, possibly in another namespace.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data_source_ref: Option<TypedObjectReference>,
    /// The VolumeAttributesClass of the volume.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub volume_attributes_class_name: Option<String>,
}

/// The size a claim requests and may be limited to.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct VolumeResourceRequirements {
    /// The most storage the volume may have.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub limits: ResourceList,
    /// The least storage the volume must have (`storage`, required).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub requests: ResourceList,
}

/// A typed reference to an object in the claim's namespace (core/v1
/// `TypedLocalObjectReference`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TypedLocalObjectReference {
    /// The referent's API group; unset for the core group.
    #[serde(rename = "apiGroup", default, skip_serializing_if = "Option::is_none")]
    pub api_group: Option<String>,
    /// The referent's kind.
    #[serde(default)]
    pub kind: String,
    /// The referent's name.
    #[serde(default)]
    pub name: String,
}

/// A typed reference to an object, possibly in another namespace (core/v1
/// `TypedObjectReference`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TypedObjectReference {
    /// The referent's API group; unset for the core group.
    #[serde(rename = "apiGroup", default, skip_serializing_if = "Option::is_none")]
    pub api_group: Option<String>,
    /// The referent's kind.
    #[serde(default)]
    pub kind: String,
    /// The referent's name.
    #[serde(default)]
    pub name: String,
    /// The referent's namespace; the claim's when unset.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
}

/// Whether and to what a [`PersistentVolumeClaim`] is bound.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PersistentVolumeClaimStatus {
    /// The phase; `Pending` by default.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phase: Option<PersistentVolumeClaimPhase>,
    /// The access modes of the bound volume.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub access_modes: Vec<PersistentVolumeAccessMode>,
    /// The size of the bound volume.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub capacity: ResourceList,
    /// Conditions such as `Resizing` and `FileSystemResizePending`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub conditions: Vec<PersistentVolumeClaimCondition>,
    /// The size the volume is being expanded to.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub allocated_resources: ResourceList,
    /// The VolumeAttributesClass the volume currently has.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub current_volume_attributes_class_name: Option<String>,
}

/// The phase of a [`PersistentVolumeClaim`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum PersistentVolumeClaimPhase {
    /// Not yet bound.
    Pending,
    /// Bound to a volume.
    Bound,
    /// Its volume is gone.
    Lost,
}

/// A condition of a [`PersistentVolumeClaim`].
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PersistentVolumeClaimCondition {
    /// The condition's type (`Resizing`, `FileSystemResizePending`, …).
    #[serde(rename = "type")]
    pub r#type: String,
    /// Whether it holds.
    pub status: ConditionStatus,
    /// When it was last checked.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_probe_time: Option<Time>,
    /// When the status last changed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_transition_time: Option<Time>,
    /// Why, in one CamelCase word.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// Why, for humans.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

impl PersistentVolumeClaim {
    /// The requested size (`spec.resources.requests.storage`).
    pub fn storage_request(&self) -> Option<&Quantity> {
        self.spec.resources.requests.get(RESOURCE_STORAGE)
    }

    /// The StorageClass the claim asks for: `spec.storageClassName`, else the legacy beta
    /// annotation; `None` means "the default class", `Some("")` means "no class".
    pub fn storage_class(&self) -> Option<&str> {
        self.spec.storage_class_name.as_deref().or_else(|| {
            self.metadata
                .annotations
                .get(BETA_STORAGE_CLASS_ANNOTATION)
                .map(String::as_str)
        })
    }

    /// Whether the claim is bound to a volume.
    pub fn is_bound(&self) -> bool {
        self.status.phase == Some(PersistentVolumeClaimPhase::Bound)
    }
}

impl SetDefaults for PersistentVolumeClaim {
    // pkg/apis/core/v1/defaults.go: SetDefaults_PersistentVolumeClaim(Spec), plus the registry's
    // NormalizeDataSources (pkg/api/persistentvolumeclaim): `dataSource` and `dataSourceRef` are
    // kept in step when only one is given.
    fn set_defaults(&mut self) {
        self.status
            .phase
            .get_or_insert(PersistentVolumeClaimPhase::Pending);
        let spec = &mut self.spec;
        spec.volume_mode
            .get_or_insert(PersistentVolumeMode::Filesystem);
        match (&spec.data_source, &spec.data_source_ref) {
            (Some(ds), None) => {
                spec.data_source_ref = Some(TypedObjectReference {
                    api_group: ds.api_group.clone(),
                    kind: ds.kind.clone(),
                    name: ds.name.clone(),
                    namespace: None,
                });
            }
            (None, Some(r)) if r.namespace.as_deref().unwrap_or("").is_empty() => {
                spec.data_source = Some(TypedLocalObjectReference {
                    api_group: r.api_group.clone(),
                    kind: r.kind.clone(),
                    name: r.name.clone(),
                });
            }
            _ => {}
        }
    }
}

/// Checks the fields a data source and a data source reference share.
fn validate_data_source(
    api_group: Option<&str>,
    kind: &str,
    name: &str,
    path: &FieldPath,
) -> ErrorList {
    let mut errs = ErrorList::new();
    if name.is_empty() {
        errs.push(FieldError::required(&path.child("name"), ""));
    }
    if kind.is_empty() {
        errs.push(FieldError::required(&path.child("kind"), ""));
    }
    match api_group.filter(|g| !g.is_empty()) {
        None if kind != "PersistentVolumeClaim" => {
            errs.push(FieldError::invalid(
                path,
                kind,
                "must be 'PersistentVolumeClaim' when referencing the default apiGroup",
            ));
        }
        None => {}
        Some(group) => check_syntax(
            &mut errs,
            &path.child("apiGroup"),
            group,
            is_dns1123_subdomain,
        ),
    }
    errs
}

impl Validate for PersistentVolumeClaim {
    // pkg/apis/core/validation: ValidatePersistentVolumeClaimSpec.
    fn validate(&self) -> ErrorList {
        let spec = &self.spec;
        let path = FieldPath::new("spec");
        let mut errs = ErrorList::new();
        if spec.access_modes.is_empty() {
            errs.push(FieldError::required(
                &path.child("accessModes"),
                "at least 1 access mode is required",
            ));
        }
        if let Some(selector) = &spec.selector {
            errs.extend(validate_label_selector(selector, &path.child("selector")));
        }
        check_access_modes(&mut errs, &spec.access_modes, &path.child("accessModes"));

        // Kubernetes reports this as `spec.resources[storage]`; the real path is used here so
        // that the manifest loader can point at the field.
        let storage_path = path
            .child("resources")
            .child("requests")
            .key(RESOURCE_STORAGE);
        match spec.resources.requests.get(RESOURCE_STORAGE) {
            None => errs.push(FieldError::required(&storage_path, "")),
            Some(q) if q.sign() <= 0 => {
                errs.push(FieldError::invalid(
                    &storage_path,
                    q.to_string(),
                    "must be greater than zero",
                ));
            }
            Some(_) => {}
        }
        if let Some(class) = spec.storage_class_name.as_deref().filter(|c| !c.is_empty()) {
            check_syntax(
                &mut errs,
                &path.child("storageClassName"),
                class,
                is_dns1123_subdomain,
            );
        }
        if let Some(ds) = &spec.data_source {
            errs.extend(validate_data_source(
                ds.api_group.as_deref(),
                &ds.kind,
                &ds.name,
                &path.child("dataSource"),
            ));
        }
        if let Some(r) = &spec.data_source_ref {
            let p = path.child("dataSourceRef");
            errs.extend(validate_data_source(
                r.api_group.as_deref(),
                &r.kind,
                &r.name,
                &p,
            ));
            if let Some(ns) = r.namespace.as_deref().filter(|ns| !ns.is_empty()) {
                check_syntax(&mut errs, &p.child("namespace"), ns, is_dns1123_label);
            }
        }
        match (&spec.data_source, &spec.data_source_ref) {
            (Some(_), Some(r)) if r.namespace.as_deref().is_some_and(|ns| !ns.is_empty()) => {
                errs.push(FieldError::invalid(
                    &path,
                    "spec.dataSource",
                    "may not be specified when dataSourceRef.namespace is specified",
                ));
            }
            (Some(ds), Some(r))
                if ds.api_group != r.api_group || ds.kind != r.kind || ds.name != r.name =>
            {
                errs.push(FieldError::invalid(
                    &path,
                    "spec.dataSource",
                    "must match dataSourceRef",
                ));
            }
            _ => {}
        }
        if let Some(class) = spec
            .volume_attributes_class_name
            .as_deref()
            .filter(|c| !c.is_empty())
        {
            check_syntax(
                &mut errs,
                &path.child("volumeAttributesClassName"),
                class,
                is_dns1123_subdomain,
            );
        }
        errs
    }

    // pkg/apis/core/validation: ValidatePersistentVolumeClaimUpdate, with
    // RecoverVolumeExpansionFailure (GA in v1.34).
    fn validate_update(&self, old: &Self) -> ErrorList {
        let path = FieldPath::new("spec");
        let mut errs = ErrorList::new();
        let mut new_spec = self.spec.clone();
        let mut old_spec = old.spec.clone();

        // Binding may set volumeName once.
        if old_spec.volume_name.as_deref().unwrap_or("").is_empty() {
            old_spec.volume_name.clone_from(&new_spec.volume_name);
        }

        // A class may be set where the claim had none: taking over the beta annotation's value,
        // or (retroactive default class) when there was neither field nor annotation.
        let old_annotation = old.metadata.annotations.get(BETA_STORAGE_CLASS_ANNOTATION);
        let new_annotation = self.metadata.annotations.get(BETA_STORAGE_CLASS_ANNOTATION);
        let upgrade_from_annotation = old_annotation.is_some_and(|old_class| {
            old.spec.storage_class_name.is_none()
                && self.spec.storage_class_name.as_ref() == Some(old_class)
                && new_annotation.is_none_or(|a| a == old_class)
        });
        if upgrade_from_annotation {
            new_spec.storage_class_name = None;
        } else {
            if old_annotation != new_annotation {
                errs.push(FieldError::invalid(
                    &FieldPath::new("metadata")
                        .child("annotations")
                        .key(BETA_STORAGE_CLASS_ANNOTATION),
                    new_annotation.map_or("", String::as_str),
                    "field is immutable",
                ));
            }
            let upgrade_from_nil = old_annotation.is_none()
                && old.spec.storage_class_name.is_none()
                && self
                    .spec
                    .storage_class_name
                    .as_deref()
                    .is_some_and(|c| !c.is_empty());
            if upgrade_from_nil {
                new_spec
                    .storage_class_name
                    .clone_from(&old_spec.storage_class_name);
            }
        }

        // A bound claim may change its storage request and its VolumeAttributesClass.
        if self.is_bound() {
            match old.spec.resources.requests.get(RESOURCE_STORAGE) {
                Some(q) => new_spec
                    .resources
                    .requests
                    .insert(RESOURCE_STORAGE.to_string(), *q),
                None => new_spec.resources.requests.remove(RESOURCE_STORAGE),
            };
            if new_spec.volume_attributes_class_name.is_some() {
                new_spec
                    .volume_attributes_class_name
                    .clone_from(&old_spec.volume_attributes_class_name);
            }
        }
        if new_spec != old_spec {
            errs.push(FieldError::forbidden(
                &path,
                "spec is immutable after creation except resources.requests and volumeAttributesClassName for bound claims",
            ));
        }

        // Shrinking is allowed only down to just above what the volume already has (to recover
        // from a failed expansion); volumes never actually shrink.
        let size =
            |pvc: &PersistentVolumeClaim| pvc.storage_request().copied().unwrap_or(Quantity::ZERO);
        let (new_size, old_size) = (size(self), size(old));
        let status_size = old
            .status
            .capacity
            .get(RESOURCE_STORAGE)
            .copied()
            .unwrap_or(Quantity::ZERO);
        if new_size < old_size && new_size <= status_size {
            errs.push(FieldError::forbidden(
                &path
                    .child("resources")
                    .child("requests")
                    .key(RESOURCE_STORAGE),
                "field can not be less than status.capacity",
            ));
        }

        if self.spec.volume_mode != old.spec.volume_mode {
            let mode = self
                .spec
                .volume_mode
                .map_or(String::new(), |m| format!("{m:?}"));
            errs.push(FieldError::invalid(
                &path.child("volumeMode"),
                mode,
                "field is immutable",
            ));
        }
        if old.spec.volume_attributes_class_name.is_some()
            && self.spec.volume_attributes_class_name.is_none()
        {
            errs.push(FieldError::forbidden(
                &path.child("volumeAttributesClassName"),
                "update from non-nil value to nil is forbidden",
            ));
        }
        errs
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::config_map::tests::valid_docs_of_kind;

    fn text(errs: &ErrorList) -> Vec<String> {
        errs.iter().map(ToString::to_string).collect()
    }

    fn q(s: &str) -> Quantity {
        Quantity::parse(s).expect("quantity")
    }

    fn claim(size: &str) -> PersistentVolumeClaim {
        let mut pvc = PersistentVolumeClaim {
            metadata: ObjectMeta::named("shop", "data"),
            ..PersistentVolumeClaim::default()
        };
        pvc.spec.access_modes = vec![PersistentVolumeAccessMode::ReadWriteOnce];
        pvc.spec
            .resources
            .requests
            .insert("storage".into(), q(size));
        pvc.spec.storage_class_name = Some("standard".into());
        pvc.set_defaults();
        pvc
    }

    fn bound(mut pvc: PersistentVolumeClaim, capacity: &str) -> PersistentVolumeClaim {
        pvc.spec.volume_name = Some("pvc-1234".into());
        pvc.status.phase = Some(PersistentVolumeClaimPhase::Bound);
        pvc.status.capacity.insert("storage".into(), q(capacity));
        pvc
    }

    #[test]
    fn reads_a_claim_and_applies_defaults() {
        let yaml = r#"
metadata: {name: data-claim, namespace: shop}
spec:
  accessModes: [ReadWriteOnce]
  resources:
    requests: {storage: 8Gi}
  storageClassName: standard
  selector:
    matchLabels: {tier: fast}
  dataSource: {kind: PersistentVolumeClaim, name: seed-data}
"#;
        let mut pvc: PersistentVolumeClaim = serde_yaml::from_str(yaml).expect("decodes");
        pvc.set_defaults();
        assert_eq!(pvc.storage_request(), Some(&q("8Gi")));
        assert_eq!(pvc.storage_class(), Some("standard"));
        assert_eq!(pvc.status.phase, Some(PersistentVolumeClaimPhase::Pending));
        assert_eq!(pvc.spec.volume_mode, Some(PersistentVolumeMode::Filesystem));
        assert_eq!(
            pvc.spec.data_source_ref.as_ref().map(|r| r.name.as_str()),
            Some("seed-data")
        );
        assert!(!pvc.is_bound());
        assert!(pvc.validate().is_empty(), "{:?}", pvc.validate());
        let json = serde_json::to_value(&pvc).expect("serializes");
        assert_eq!(json["spec"]["resources"]["requests"]["storage"], "8Gi");
    }

    #[test]
    fn storage_class_falls_back_to_the_beta_annotation() {
        let mut pvc = claim("1Gi");
        pvc.spec.storage_class_name = None;
        assert_eq!(pvc.storage_class(), None);
        pvc.metadata
            .annotations
            .insert(BETA_STORAGE_CLASS_ANNOTATION.into(), "slow".into());
        assert_eq!(pvc.storage_class(), Some("slow"));
        pvc.spec.storage_class_name = Some(String::new());
        assert_eq!(pvc.storage_class(), Some(""));
    }

    #[test]
    fn required_fields_and_sizes() {
        let mut pvc = claim("1Gi");
        pvc.spec.access_modes.clear();
        pvc.spec.resources.requests.clear();
        assert_eq!(
            text(&pvc.validate()),
            vec![
                "spec.accessModes: Required value: at least 1 access mode is required",
                "spec.resources.requests[storage]: Required value",
            ]
        );
        let mut pvc = claim("0");
        pvc.spec
            .access_modes
            .push(PersistentVolumeAccessMode::ReadWriteOncePod);
        pvc.spec.storage_class_name = Some("Fast SSD".into());
        let errs = text(&pvc.validate());
        assert_eq!(errs.len(), 3, "{errs:?}");
        assert_eq!(
            errs[0],
            "spec.accessModes: Forbidden: may not use ReadWriteOncePod with other access modes"
        );
        assert_eq!(
            errs[1],
            "spec.resources.requests[storage]: Invalid value: \"0\": must be greater than zero"
        );
        assert!(errs[2].starts_with("spec.storageClassName: Invalid value: \"Fast SSD\""));
    }

    #[test]
    fn selector_is_validated() {
        let mut pvc = claim("1Gi");
        pvc.spec.selector = Some(
            serde_yaml::from_str("matchExpressions: [{key: tier, operator: In}]")
                .expect("selector"),
        );
        assert_eq!(
            text(&pvc.validate()),
            vec!["spec.selector.matchExpressions[0].values: Required value: must be specified when `operator` is 'In' or 'NotIn'"]
        );
    }

    #[test]
    fn data_sources() {
        let mut pvc = claim("1Gi");
        pvc.spec.data_source = Some(TypedLocalObjectReference {
            api_group: None,
            kind: "VolumeSnapshot".into(),
            name: String::new(),
        });
        pvc.spec.data_source_ref = None;
        assert_eq!(
            text(&pvc.validate()),
            vec![
                "spec.dataSource.name: Required value",
                "spec.dataSource: Invalid value: \"VolumeSnapshot\": must be 'PersistentVolumeClaim' when referencing the default apiGroup",
            ]
        );
        pvc.spec.data_source = Some(TypedLocalObjectReference {
            api_group: Some("snapshot.storage.k8s.io".into()),
            kind: "VolumeSnapshot".into(),
            name: "nightly".into(),
        });
        pvc.spec.data_source_ref = Some(TypedObjectReference {
            api_group: Some("snapshot.storage.k8s.io".into()),
            kind: "VolumeSnapshot".into(),
            name: "weekly".into(),
            namespace: None,
        });
        assert_eq!(
            text(&pvc.validate()),
            vec!["spec: Invalid value: \"spec.dataSource\": must match dataSourceRef"]
        );
        if let Some(r) = &mut pvc.spec.data_source_ref {
            r.namespace = Some("backups".into());
        }
        assert_eq!(
            text(&pvc.validate()),
            vec!["spec: Invalid value: \"spec.dataSource\": may not be specified when dataSourceRef.namespace is specified"]
        );
        // A cross-namespace reference alone is not copied into dataSource.
        let mut pvc = claim("1Gi");
        pvc.spec.data_source_ref = Some(TypedObjectReference {
            api_group: Some("snapshot.storage.k8s.io".into()),
            kind: "VolumeSnapshot".into(),
            name: "weekly".into(),
            namespace: Some("backups".into()),
        });
        pvc.set_defaults();
        assert_eq!(pvc.spec.data_source, None);
        assert!(pvc.validate().is_empty());
    }

    #[test]
    fn spec_is_immutable_except_binding_and_resizing() {
        let old = claim("10Gi");
        let mut new = old.clone();
        new.spec.volume_name = Some("pvc-1234".into());
        assert!(
            new.validate_update(&old).is_empty(),
            "binding sets volumeName once"
        );
        let bound_old = bound(old.clone(), "10Gi");
        let mut rebound = bound_old.clone();
        rebound.spec.volume_name = Some("pvc-9999".into());
        assert_eq!(
            text(&rebound.validate_update(&bound_old)),
            vec!["spec: Forbidden: spec is immutable after creation except resources.requests and volumeAttributesClassName for bound claims"]
        );

        let mut grown = bound_old.clone();
        grown
            .spec
            .resources
            .requests
            .insert("storage".into(), q("20Gi"));
        assert!(grown.validate_update(&bound_old).is_empty());
        let mut unbound_grown = old.clone();
        unbound_grown
            .spec
            .resources
            .requests
            .insert("storage".into(), q("20Gi"));
        assert_eq!(
            text(&unbound_grown.validate_update(&old)).len(),
            1,
            "only bound claims resize"
        );

        // Recovering from a failed expansion: 20Gi requested, the volume is still 10Gi.
        let mut expanding = bound(old.clone(), "10Gi");
        expanding
            .spec
            .resources
            .requests
            .insert("storage".into(), q("20Gi"));
        let mut back_to_15 = expanding.clone();
        back_to_15
            .spec
            .resources
            .requests
            .insert("storage".into(), q("15Gi"));
        assert!(back_to_15.validate_update(&expanding).is_empty());
        let mut back_to_10 = expanding.clone();
        back_to_10
            .spec
            .resources
            .requests
            .insert("storage".into(), q("10Gi"));
        assert_eq!(
            text(&back_to_10.validate_update(&expanding)),
            vec!["spec.resources.requests[storage]: Forbidden: field can not be less than status.capacity"]
        );

        let mut block = old.clone();
        block.spec.volume_mode = Some(PersistentVolumeMode::Block);
        assert_eq!(
            text(&block.validate_update(&old)),
            vec![
                "spec: Forbidden: spec is immutable after creation except resources.requests and volumeAttributesClassName for bound claims",
                "spec.volumeMode: Invalid value: \"Block\": field is immutable",
            ]
        );
    }

    #[test]
    fn storage_class_may_be_set_where_there_was_none() {
        let mut old = claim("1Gi");
        old.spec.storage_class_name = None;
        let new = claim("1Gi"); // storageClassName: standard
        assert!(
            new.validate_update(&old).is_empty(),
            "retroactive default class"
        );
        let mut changed = new.clone();
        changed.spec.storage_class_name = Some("premium".into());
        assert_eq!(text(&changed.validate_update(&new)).len(), 1);

        let mut legacy = old.clone();
        legacy
            .metadata
            .annotations
            .insert(BETA_STORAGE_CLASS_ANNOTATION.into(), "standard".into());
        assert!(
            new.validate_update(&legacy).is_empty(),
            "field takes over the annotation's value"
        );
        let mut other = new.clone();
        other.spec.storage_class_name = Some("premium".into());
        assert_eq!(
            text(&other.validate_update(&legacy)),
            vec![
                "metadata.annotations[volume.beta.kubernetes.io/storage-class]: Invalid value: \"\": field is immutable",
                "spec: Forbidden: spec is immutable after creation except resources.requests and volumeAttributesClassName for bound claims",
            ]
        );
    }

    #[test]
    fn example_manifest_is_valid() {
        let claims: Vec<PersistentVolumeClaim> =
            valid_docs_of_kind(include_str!("../../../examples/manifests/storage.yaml"));
        let data = claims
            .iter()
            .find(|c| c.metadata.name == "data-claim")
            .expect("data-claim");
        assert_eq!(data.metadata.namespace, "shop");
        assert!(data.storage_request().is_some());
    }
}
