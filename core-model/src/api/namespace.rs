//! Namespace (core/v1 `Namespace`): a scope for the names of namespaced objects, and the unit
//! that policies and quotas apply to. A namespace being deleted is `Terminating` until the
//! namespace controller has removed its contents and the `kubernetes` finalizer.
//!
//! Defaulting follows the API server (pkg/apis/core/v1/defaults.go and the namespace strategy):
//! the `kubernetes.io/metadata.name` label, the `kubernetes` finalizer and the `Active` phase.

use serde::{Deserialize, Serialize};

use crate::api::pod::ConditionStatus;
use crate::meta::ObjectMeta;
use crate::time::Time;
use crate::validation::{
    check_syntax, is_qualified_name, ErrorList, FieldError, FieldPath, SetDefaults, Validate,
};

/// The label the API server sets on every namespace to its name, so that namespace selectors can
/// pick namespaces by name.
pub const LABEL_METADATA_NAME: &str = "kubernetes.io/metadata.name";

/// The finalizer with which the namespace controller removes a namespace's contents before the
/// namespace goes.
pub const FINALIZER_KUBERNETES: &str = "kubernetes";

/// A namespace.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Namespace {
    /// Standard object metadata; the name is a DNS-1123 label.
    #[serde(default)]
    pub metadata: ObjectMeta,
    /// The desired state: the finalizers of the namespace's contents.
    #[serde(default, skip_serializing_if = "crate::meta::is_default")]
    pub spec: NamespaceSpec,
    /// The observed state.
    #[serde(default, skip_serializing_if = "crate::meta::is_default")]
    pub status: NamespaceStatus,
}

/// The desired state of a namespace (core/v1 `NamespaceSpec`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NamespaceSpec {
    /// Finalizers that must be removed before the namespace is deleted from the store; always
    /// contains `kubernetes` after creation.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub finalizers: Vec<String>,
}

/// The observed state of a namespace (core/v1 `NamespaceStatus`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NamespaceStatus {
    /// The lifecycle phase; defaults to `Active`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phase: Option<NamespacePhase>,
    /// Conditions reported by the namespace controller while it deletes the contents.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub conditions: Vec<NamespaceCondition>,
}

/// The lifecycle phase of a namespace (core/v1 `NamespacePhase`).
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize,
)]
pub enum NamespacePhase {
    /// In use; objects may be created in it.
    #[default]
    Active,
    /// Being deleted; no new objects may be created in it.
    Terminating,
}

/// A condition of a namespace (core/v1 `NamespaceCondition`), such as
/// `NamespaceDeletionContentFailure` or `NamespaceFinalizersRemaining`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NamespaceCondition {
    /// The type.
    #[serde(default)]
    pub r#type: String,
    /// Whether the condition holds.
    #[serde(default)]
    pub status: ConditionStatus,
    /// When the status last changed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_transition_time: Option<Time>,
    /// A CamelCase reason for the last transition.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub reason: String,
    /// Human-readable detail.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub message: String,
}

impl Namespace {
    /// A namespace with this name, everything else unset.
    pub fn named(name: &str) -> Namespace {
        Namespace {
            metadata: ObjectMeta::named("", name),
            ..Namespace::default()
        }
    }

    /// The phase, `Active` when not yet written.
    pub fn phase(&self) -> NamespacePhase {
        self.status.phase.unwrap_or_default()
    }

    /// Whether the namespace is being deleted (phase `Terminating` or a deletion timestamp).
    pub fn is_terminating(&self) -> bool {
        self.phase() == NamespacePhase::Terminating || self.metadata.deletion_timestamp.is_some()
    }
}

impl SetDefaults for Namespace {
    /// `SetDefaults_Namespace`, `SetDefaults_NamespaceStatus` and the namespace strategy's
    /// `PrepareForCreate`: the `kubernetes.io/metadata.name` label (when the name is known), the
    /// `kubernetes` finalizer and `status.phase: Active`.
    fn set_defaults(&mut self) {
        if !self.metadata.name.is_empty() {
            self.metadata
                .labels
                .insert(LABEL_METADATA_NAME.to_string(), self.metadata.name.clone());
        }
        if !self
            .spec
            .finalizers
            .iter()
            .any(|f| f == FINALIZER_KUBERNETES)
        {
            self.spec.finalizers.push(FINALIZER_KUBERNETES.to_string());
        }
        self.status.phase.get_or_insert(NamespacePhase::Active);
    }
}

/// Finalizer names Kubernetes accepts without a domain prefix (`standardFinalizers`).
const STANDARD_FINALIZERS: &[&str] = &[FINALIZER_KUBERNETES, "orphan", "foregroundDeletion"];

impl Validate for Namespace {
    /// `ValidateNamespace`: every finalizer is a qualified name, and a standard finalizer unless
    /// it has a domain prefix.
    fn validate(&self) -> ErrorList {
        let mut errs = ErrorList::new();
        let path = FieldPath::new("spec").child("finalizers");
        for f in &self.spec.finalizers {
            let before = errs.len();
            check_syntax(&mut errs, &path, f, is_qualified_name);
            if errs.len() == before
                && !f.contains('/')
                && !STANDARD_FINALIZERS.contains(&f.as_str())
            {
                errs.push(FieldError::invalid(
                    &path,
                    f,
                    "name is neither a standard finalizer name nor is it fully qualified",
                ));
            }
        }
        errs
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::pod::tests::manifest_objects;

    #[test]
    fn example_manifest_deserializes_and_validates() {
        let namespaces: Vec<Namespace> = manifest_objects(
            include_str!("../../../examples/manifests/namespace.yaml"),
            "Namespace",
        );
        assert_eq!(namespaces.len(), 1);
        let mut shop = namespaces[0].clone();
        assert_eq!(shop.metadata.name, "shop");
        assert!(shop.validate().is_empty());
        shop.set_defaults();
        assert!(shop.validate().is_empty());
        assert_eq!(
            shop.metadata
                .labels
                .get(LABEL_METADATA_NAME)
                .map(String::as_str),
            Some("shop")
        );
        assert_eq!(
            shop.metadata.labels.get("team").map(String::as_str),
            Some("storefront")
        );
    }

    #[test]
    fn defaults_add_the_label_finalizer_and_phase() {
        let mut ns = Namespace::named("team-a");
        ns.set_defaults();
        assert_eq!(ns.spec.finalizers, vec!["kubernetes".to_string()]);
        assert_eq!(ns.status.phase, Some(NamespacePhase::Active));
        assert_eq!(
            ns.metadata
                .labels
                .get(LABEL_METADATA_NAME)
                .map(String::as_str),
            Some("team-a")
        );
        // Idempotent, and a user finalizer is kept beside `kubernetes`.
        let mut again = ns.clone();
        again.set_defaults();
        assert_eq!(again, ns);
        let mut custom: Namespace =
            serde_yaml::from_str("metadata: {name: b}\nspec: {finalizers: [example.com/cleanup]}")
                .expect("namespace");
        custom.set_defaults();
        assert_eq!(
            custom.spec.finalizers,
            ["example.com/cleanup", "kubernetes"]
        );
        // A namespace named by generateName gets no name label yet.
        let mut generated = Namespace::default();
        generated.metadata.generate_name = "tmp-".into();
        generated.set_defaults();
        assert!(generated.metadata.labels.is_empty());
    }

    #[test]
    fn status_reads_and_terminating() {
        let ns: Namespace = serde_yaml::from_str(
            r#"
metadata: {name: old}
status:
  phase: Terminating
  conditions:
    - {type: NamespaceContentRemaining, status: "True", reason: SomeResourcesRemain, message: "Some resources are remaining: pods. has 2 resource instances", lastTransitionTime: "2026-01-15T10:00:00Z"}
"#,
        )
        .expect("namespace");
        assert!(ns.is_terminating());
        assert_eq!(ns.status.conditions[0].status, ConditionStatus::True);
        assert!(!Namespace::named("new").is_terminating());
    }

    #[test]
    fn finalizers_are_checked() {
        let ns: Namespace = serde_yaml::from_str(
            "metadata: {name: a}\nspec: {finalizers: [kubernetes, orphan, example.com/x, custom, 'a/b/c']}",
        )
        .expect("namespace");
        let errs: Vec<String> = ns.validate().iter().map(ToString::to_string).collect();
        assert_eq!(errs.len(), 2, "{errs:?}");
        assert_eq!(
            errs[0],
            "spec.finalizers: Invalid value: \"custom\": name is neither a standard finalizer name nor is it fully qualified"
        );
        assert!(
            errs[1].starts_with(
                "spec.finalizers: Invalid value: \"a/b/c\": a qualified name must consist of"
            ),
            "{errs:?}"
        );
    }
}
