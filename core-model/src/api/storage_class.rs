//! StorageClass (storage.k8s.io/v1): a kind of storage that claims ask for by name, and how its
//! volumes are provisioned — by which provisioner, with which parameters, when (at once, or once
//! a pod using the claim is scheduled) and where (allowed topologies).
//!
//! The class marked with [`IS_DEFAULT_CLASS_ANNOTATION`] is the one claims without
//! `storageClassName` get. A class's provisioner, parameters, reclaim policy and binding mode are
//! fixed once it is created.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use crate::api::persistent_volume::PersistentVolumeReclaimPolicy;
use crate::meta::ObjectMeta;
use crate::validation::{
    check_syntax, is_qualified_name, ErrorList, FieldError, FieldPath, SetDefaults, Validate,
};

/// The annotation that marks the cluster's default StorageClass (value `"true"`).
pub const IS_DEFAULT_CLASS_ANNOTATION: &str = "storageclass.kubernetes.io/is-default-class";

/// The most parameters a StorageClass may have.
pub const MAX_PARAMETERS: usize = 512;

/// The largest total size of a StorageClass's parameter names and values, in bytes (256 KiB).
pub const MAX_PARAMETERS_SIZE: usize = 256 * 1024;

/// A StorageClass.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StorageClass {
    /// Standard object metadata (cluster-scoped).
    #[serde(default)]
    pub metadata: ObjectMeta,
    /// The provisioner that creates the class's volumes (`ebs.csi.aws.com`,
    /// `kubernetes.io/no-provisioner` for pre-provisioned local volumes); required.
    #[serde(default)]
    pub provisioner: String,
    /// Provisioner-specific parameters (`type: gp3`).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub parameters: BTreeMap<String, String>,
    /// The reclaim policy of the volumes provisioned for this class; `Delete` by default.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reclaim_policy: Option<PersistentVolumeReclaimPolicy>,
    /// Mount options of the provisioned volumes (`debug`, `nfsvers=4.1`); not validated.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub mount_options: Vec<String>,
    /// Whether claims of this class may be resized; `false` when unset.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub allow_volume_expansion: Option<bool>,
    /// When volumes are bound and provisioned; `Immediate` by default.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub volume_binding_mode: Option<VolumeBindingMode>,
    /// Where volumes may be provisioned; anywhere when empty.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub allowed_topologies: Vec<TopologySelectorTerm>,
}

/// When a claim of a class is bound to a volume.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum VolumeBindingMode {
    /// As soon as the claim is created.
    Immediate,
    /// Once a pod using the claim is scheduled, so that the volume is created where the pod
    /// can run (the scheduler takes the volume's topology into account).
    WaitForFirstConsumer,
}

/// One allowed topology of a StorageClass: the label requirements are ANDed.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TopologySelectorTerm {
    /// Requirements on node labels (at least one in a StorageClass).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub match_label_expressions: Vec<TopologySelectorLabelRequirement>,
}

/// A node label that must have one of some values.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TopologySelectorLabelRequirement {
    /// The label (`topology.kubernetes.io/zone`).
    #[serde(default)]
    pub key: String,
    /// The values, any of which matches (at least one).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub values: Vec<String>,
}

impl StorageClass {
    /// Whether the class is marked as the cluster's default.
    pub fn is_default_class(&self) -> bool {
        self.metadata
            .annotations
            .get(IS_DEFAULT_CLASS_ANNOTATION)
            .is_some_and(|v| v == "true")
    }

    /// Whether binding waits for the first pod that uses the claim.
    pub fn waits_for_first_consumer(&self) -> bool {
        self.volume_binding_mode == Some(VolumeBindingMode::WaitForFirstConsumer)
    }
}

impl SetDefaults for StorageClass {
    // pkg/apis/storage/v1/defaults.go: SetDefaults_StorageClass.
    fn set_defaults(&mut self) {
        self.reclaim_policy
            .get_or_insert(PersistentVolumeReclaimPolicy::Delete);
        self.volume_binding_mode
            .get_or_insert(VolumeBindingMode::Immediate);
    }
}

impl Validate for StorageClass {
    // pkg/apis/storage/validation: ValidateStorageClass.
    fn validate(&self) -> ErrorList {
        let mut errs = ErrorList::new();
        let provisioner = FieldPath::new("provisioner");
        if self.provisioner.is_empty() {
            errs.push(FieldError::required(&provisioner, ""));
        } else {
            // Checked lower-cased, so `Example.com/NFS` is fine.
            for msg in is_qualified_name(&self.provisioner.to_lowercase()) {
                errs.push(FieldError::invalid(&provisioner, &self.provisioner, msg));
            }
        }

        let params = FieldPath::new("parameters");
        if self.parameters.len() > MAX_PARAMETERS {
            // Kubernetes reports the count as a length.
            errs.push(FieldError::too_long(&params, MAX_PARAMETERS));
        } else {
            let mut size = 0;
            for (k, v) in &self.parameters {
                if k.is_empty() {
                    errs.push(FieldError::invalid(&params, k, "field can not be empty."));
                }
                size += k.len() + v.len();
            }
            if size > MAX_PARAMETERS_SIZE {
                errs.push(FieldError::too_long(&params, MAX_PARAMETERS_SIZE));
            }
        }

        if let Some(policy @ PersistentVolumeReclaimPolicy::Recycle) = self.reclaim_policy {
            errs.push(FieldError::not_supported(
                &FieldPath::new("reclaimPolicy"),
                policy.as_str(),
                &["Delete", "Retain"],
            ));
        }
        if self.volume_binding_mode.is_none() {
            errs.push(FieldError::required(
                &FieldPath::new("volumeBindingMode"),
                "",
            ));
        }

        // validateAllowedTopologies: each term has expressions, no key twice, no term twice.
        let topologies = FieldPath::new("allowedTopologies");
        let mut seen_terms: Vec<BTreeMap<&str, BTreeSet<&str>>> = Vec::new();
        for (i, term) in self.allowed_topologies.iter().enumerate() {
            let term_path = topologies.index(i);
            let exprs_path = term_path.child("matchLabelExpressions");
            let mut term_map: BTreeMap<&str, BTreeSet<&str>> = BTreeMap::new();
            for (j, req) in term.match_label_expressions.iter().enumerate() {
                let p = exprs_path.index(j);
                let values_path = p.child("values");
                if req.values.is_empty() {
                    errs.push(FieldError::required(&values_path, ""));
                }
                let mut values = BTreeSet::new();
                for (k, value) in req.values.iter().enumerate() {
                    if !values.insert(value.as_str()) {
                        errs.push(FieldError::duplicate(&values_path.index(k), value));
                    }
                }
                check_syntax(&mut errs, &p.child("key"), &req.key, is_qualified_name);
                if term_map.insert(req.key.as_str(), values).is_some() {
                    errs.push(FieldError::duplicate(&p.child("key"), &req.key));
                }
            }
            if term_map.is_empty() {
                errs.push(FieldError::required(
                    &exprs_path,
                    "must have at least one label expression",
                ));
                continue;
            }
            if seen_terms.contains(&term_map) {
                errs.push(FieldError::duplicate(&exprs_path, ""));
            }
            seen_terms.push(term_map);
        }
        errs
    }

    // pkg/apis/storage/validation: ValidateStorageClassUpdate.
    fn validate_update(&self, old: &Self) -> ErrorList {
        let mut errs = ErrorList::new();
        if self.parameters != old.parameters {
            errs.push(FieldError::forbidden(
                &FieldPath::new("parameters"),
                "updates to parameters are forbidden.",
            ));
        }
        if self.provisioner != old.provisioner {
            errs.push(FieldError::forbidden(
                &FieldPath::new("provisioner"),
                "updates to provisioner are forbidden.",
            ));
        }
        if self.reclaim_policy != old.reclaim_policy {
            errs.push(FieldError::forbidden(
                &FieldPath::new("reclaimPolicy"),
                "updates to reclaimPolicy are forbidden.",
            ));
        }
        if self.volume_binding_mode != old.volume_binding_mode {
            let mode = self
                .volume_binding_mode
                .map_or(String::new(), |m| format!("{m:?}"));
            errs.push(FieldError::invalid(
                &FieldPath::new("volumeBindingMode"),
                mode,
                "field is immutable",
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

    fn class(provisioner: &str) -> StorageClass {
        let mut sc = StorageClass {
            provisioner: provisioner.into(),
            ..StorageClass::default()
        };
        sc.metadata.name = "fast".into();
        sc.set_defaults();
        sc
    }

    fn term(exprs: &[(&str, &[&str])]) -> TopologySelectorTerm {
        TopologySelectorTerm {
            match_label_expressions: exprs
                .iter()
                .map(|(k, vs)| TopologySelectorLabelRequirement {
                    key: k.to_string(),
                    values: vs.iter().map(|v| v.to_string()).collect(),
                })
                .collect(),
        }
    }

    #[test]
    fn reads_a_class_and_applies_defaults() {
        let yaml = r#"
metadata:
  name: fast
  annotations: {storageclass.kubernetes.io/is-default-class: "true"}
provisioner: ebs.csi.aws.com
parameters: {type: gp3, iops: "3000"}
allowVolumeExpansion: true
volumeBindingMode: WaitForFirstConsumer
allowedTopologies:
  - matchLabelExpressions:
      - key: topology.kubernetes.io/zone
        values: [us-east-1a, us-east-1b]
"#;
        let mut sc: StorageClass = serde_yaml::from_str(yaml).expect("decodes");
        sc.set_defaults();
        assert!(sc.is_default_class());
        assert!(sc.waits_for_first_consumer());
        assert_eq!(
            sc.reclaim_policy,
            Some(PersistentVolumeReclaimPolicy::Delete)
        );
        assert!(sc.validate().is_empty(), "{:?}", sc.validate());
        let sc = class("example.com/nfs");
        assert_eq!(sc.volume_binding_mode, Some(VolumeBindingMode::Immediate));
        assert!(!sc.is_default_class());
        let json = serde_json::to_value(&sc).expect("serializes");
        assert_eq!(json["reclaimPolicy"], "Delete");
        assert_eq!(json["volumeBindingMode"], "Immediate");
    }

    #[test]
    fn provisioner_is_a_qualified_name() {
        assert_eq!(
            text(&class("").validate()),
            vec!["provisioner: Required value"]
        );
        assert!(
            class("Example.COM/NFS").validate().is_empty(),
            "case-insensitive"
        );
        let errs = text(&class("example.com/nfs provisioner").validate());
        assert_eq!(errs.len(), 1);
        assert!(errs[0].starts_with(
            "provisioner: Invalid value: \"example.com/nfs provisioner\": name part must consist"
        ));
    }

    #[test]
    fn parameters_and_policies() {
        let mut sc = class("kubernetes.io/no-provisioner");
        sc.parameters.insert(String::new(), "x".into());
        sc.reclaim_policy = Some(PersistentVolumeReclaimPolicy::Recycle);
        sc.volume_binding_mode = None;
        assert_eq!(
            text(&sc.validate()),
            vec![
                "parameters: Invalid value: \"\": field can not be empty.",
                "reclaimPolicy: Unsupported value: \"Recycle\": supported values: \"Delete\", \"Retain\"",
                "volumeBindingMode: Required value",
            ]
        );
        let mut sc = class("kubernetes.io/no-provisioner");
        sc.parameters
            .insert("blob".into(), "x".repeat(MAX_PARAMETERS_SIZE));
        assert_eq!(
            text(&sc.validate()),
            vec!["parameters: Too long: may not be more than 262144 bytes"]
        );
        let mut sc = class("kubernetes.io/no-provisioner");
        sc.parameters = (0..=MAX_PARAMETERS)
            .map(|i| (format!("k{i}"), String::new()))
            .collect();
        assert_eq!(
            text(&sc.validate()),
            vec!["parameters: Too long: may not be more than 512 bytes"]
        );
    }

    #[test]
    fn allowed_topologies() {
        let mut sc = class("ebs.csi.aws.com");
        sc.allowed_topologies = vec![
            term(&[
                ("topology.kubernetes.io/zone", &["us-east-1a", "us-east-1a"]),
                ("topology.kubernetes.io/zone", &["b"]),
            ]),
            term(&[]),
            term(&[("example.com/rack", &[])]),
            term(&[("topology.kubernetes.io/zone", &["us-east-1b"])]),
            term(&[("topology.kubernetes.io/zone", &["us-east-1b"])]),
        ];
        assert_eq!(
            text(&sc.validate()),
            vec![
                "allowedTopologies[0].matchLabelExpressions[0].values[1]: Duplicate value: \"us-east-1a\"",
                "allowedTopologies[0].matchLabelExpressions[1].key: Duplicate value: \"topology.kubernetes.io/zone\"",
                "allowedTopologies[1].matchLabelExpressions: Required value: must have at least one label expression",
                "allowedTopologies[2].matchLabelExpressions[0].values: Required value",
                "allowedTopologies[4].matchLabelExpressions: Duplicate value: \"\"",
            ]
        );
    }

    #[test]
    fn provisioning_settings_are_immutable() {
        let old = class("ebs.csi.aws.com");
        let mut new = old.clone();
        new.allow_volume_expansion = Some(true);
        new.mount_options = vec!["debug".into()];
        assert!(new.validate_update(&old).is_empty());
        new.provisioner = "pd.csi.storage.gke.io".into();
        new.parameters.insert("type".into(), "pd-ssd".into());
        new.reclaim_policy = Some(PersistentVolumeReclaimPolicy::Retain);
        new.volume_binding_mode = Some(VolumeBindingMode::WaitForFirstConsumer);
        assert_eq!(
            text(&new.validate_update(&old)),
            vec![
                "parameters: Forbidden: updates to parameters are forbidden.",
                "provisioner: Forbidden: updates to provisioner are forbidden.",
                "reclaimPolicy: Forbidden: updates to reclaimPolicy are forbidden.",
                "volumeBindingMode: Invalid value: \"WaitForFirstConsumer\": field is immutable",
            ]
        );
    }

    #[test]
    fn example_manifest_is_valid() {
        let classes: Vec<StorageClass> =
            valid_docs_of_kind(include_str!("../../../examples/manifests/storage.yaml"));
        let standard = classes
            .iter()
            .find(|c| c.metadata.name == "standard")
            .expect("standard");
        assert!(standard.is_default_class());
    }
}
