//! Object metadata shared by every kind (`metadata:`), owner references and small value types
//! used across the API (`IntOrString`).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::time::Time;
use crate::validation::{
    check_syntax, check_syntax_at, is_dns1123_label, is_dns1123_subdomain, is_label_value,
    is_qualified_name, is_valid_path_segment_name, ErrorList, FieldError, FieldPath,
    TOTAL_ANNOTATION_SIZE_LIMIT,
};

/// Labels or annotations: string keys to string values, kept sorted so that iteration (and so
/// every output derived from it) is deterministic.
pub type Labels = BTreeMap<String, String>;

/// Whether a value equals its type's default; used by `skip_serializing_if`.
pub fn is_default<T: Default + PartialEq>(value: &T) -> bool {
    *value == T::default()
}

/// Whether a shared map is empty (serde's `skip_serializing_if` for labels and annotations).
fn is_empty_map(map: &crate::Shared<Labels>) -> bool {
    map.is_empty()
}

/// `metadata` of every API object (Kubernetes' `ObjectMeta`).
///
/// Strings that Kubernetes treats as "unset when empty" (`name`, `namespace`, `uid`, …) are plain
/// `String`s that are empty when unset.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ObjectMeta {
    /// Name, unique per kind within a namespace (or cluster-wide for cluster-scoped kinds).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub name: String,
    /// Prefix from which the store generates a unique name when `name` is empty.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub generate_name: String,
    /// Namespace of a namespaced object; empty for cluster-scoped kinds.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub namespace: String,
    /// Unique id assigned by the store on creation.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub uid: String,
    /// Version of the object in the store, assigned on every write (opaque to clients).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub resource_version: String,
    /// Sequence number of the desired state, bumped by the store when the spec changes.
    #[serde(default, skip_serializing_if = "is_default")]
    pub generation: i64,
    /// When the store created the object.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub creation_timestamp: Option<Time>,
    /// When deletion was requested; the object goes once its finalizers are gone.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deletion_timestamp: Option<Time>,
    /// Grace period, in seconds, granted when deletion was requested.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deletion_grace_period_seconds: Option<i64>,
    /// Identifying key/value pairs, matched by selectors. Shared by copies of the object
    /// until one changes them (see [`Shared`](crate::Shared)).
    #[serde(default, skip_serializing_if = "is_empty_map")]
    pub labels: crate::Shared<Labels>,
    /// Non-identifying key/value pairs for tools and controllers, shared like the labels.
    #[serde(default, skip_serializing_if = "is_empty_map")]
    pub annotations: crate::Shared<Labels>,
    /// Objects this one depends on; drives garbage collection.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub owner_references: Vec<OwnerReference>,
    /// Keys that must be removed before the object is deleted from the store.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub finalizers: Vec<String>,
}

impl ObjectMeta {
    /// Metadata with a name and namespace, everything else unset.
    pub fn named(namespace: &str, name: &str) -> ObjectMeta {
        ObjectMeta {
            name: name.to_string(),
            namespace: namespace.to_string(),
            ..ObjectMeta::default()
        }
    }

    /// The owner reference with `controller: true`, if any.
    pub fn controller_ref(&self) -> Option<&OwnerReference> {
        self.owner_references
            .iter()
            .find(|r| r.controller == Some(true))
    }
}

/// A reference from an object to an object it depends on (Kubernetes' `OwnerReference`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OwnerReference {
    /// API version of the owner.
    pub api_version: String,
    /// Kind of the owner.
    pub kind: String,
    /// Name of the owner (in the same namespace).
    pub name: String,
    /// UID of the owner.
    pub uid: String,
    /// Whether the owner is the managing controller; at most one reference may say so.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub controller: Option<bool>,
    /// Whether foreground deletion of the owner waits for this object.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub block_owner_deletion: Option<bool>,
}

/// A value that is either an integer or a string, such as a `targetPort` (`8080` or `http`) or a
/// `maxSurge` (`1` or `25%`).
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(untagged)]
pub enum IntOrString {
    /// An integer.
    Int(i32),
    /// A string.
    String(String),
}

impl Default for IntOrString {
    fn default() -> Self {
        IntOrString::Int(0)
    }
}

impl std::fmt::Display for IntOrString {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            IntOrString::Int(i) => write!(f, "{i}"),
            IntOrString::String(s) => f.write_str(s),
        }
    }
}

impl IntOrString {
    /// Resolves an absolute or percent value against `total`, as Kubernetes'
    /// `intstr.GetScaledValueFromIntOrPercent` does: `"25%"` of 10 is 3 when rounding up and 2
    /// when rounding down. Returns `None` for a string that is not a percentage.
    pub fn scaled_value(&self, total: i32, round_up: bool) -> Option<i32> {
        match self {
            IntOrString::Int(i) => Some(*i),
            IntOrString::String(s) => {
                let pct: i64 = s.strip_suffix('%')?.parse().ok()?;
                let product = pct * i64::from(total);
                let v = if round_up {
                    (product + 99).div_euclid(100)
                } else {
                    product.div_euclid(100)
                };
                i32::try_from(v).ok()
            }
        }
    }
}

/// How the name of an object is checked.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NameRule {
    /// A DNS-1123 subdomain (most kinds).
    Subdomain,
    /// A DNS-1123 label (Namespace, Service).
    Label,
    /// Any name that is safe as a URL path segment (the RBAC kinds, whose names such as
    /// `system:node` contain `:`).
    PathSegment,
}

/// Validates `metadata` as the API server's `ValidateObjectMeta` does: a name (or generateName),
/// a namespace exactly when the kind is namespaced, label and annotation syntax, owner references
/// and finalizer names.
pub fn validate_object_meta(meta: &ObjectMeta, namespaced: bool, rule: NameRule) -> ErrorList {
    let path = FieldPath::new("metadata");
    let mut errs = ErrorList::new();
    let check_name: fn(&str) -> Vec<String> = match rule {
        NameRule::Subdomain => is_dns1123_subdomain,
        NameRule::Label => is_dns1123_label,
        NameRule::PathSegment => is_valid_path_segment_name,
    };
    if meta.name.is_empty() {
        if meta.generate_name.is_empty() {
            errs.push(FieldError::required(
                &path.child("name"),
                "name or generateName is required",
            ));
        } else {
            // generateName gets a 5-character suffix; the prefix must be a valid name prefix.
            let trimmed = meta.generate_name.trim_end_matches('-');
            let probe = if trimmed.is_empty() {
                "x".to_string()
            } else {
                format!("{trimmed}-x")
            };
            if !check_name(&probe).is_empty() || meta.generate_name.len() > 58 {
                check_syntax(
                    &mut errs,
                    &path.child("generateName"),
                    &meta.generate_name,
                    check_name,
                );
                if errs.is_empty() {
                    errs.push(FieldError::invalid(
                        &path.child("generateName"),
                        &meta.generate_name,
                        "must be no more than 58 characters",
                    ));
                }
            }
        }
    } else {
        check_syntax(&mut errs, &path.child("name"), &meta.name, check_name);
    }
    if namespaced {
        if !meta.namespace.is_empty() {
            check_syntax(
                &mut errs,
                &path.child("namespace"),
                &meta.namespace,
                is_dns1123_label,
            );
        }
    } else if !meta.namespace.is_empty() {
        errs.push(FieldError::forbidden(
            &path.child("namespace"),
            "not allowed on this type",
        ));
    }
    errs.extend(validate_labels(&meta.labels, &path.child("labels")));
    let mut total = 0;
    for k in meta.annotations.keys() {
        check_syntax_at(
            &mut errs,
            || path.child("annotations"),
            k,
            is_qualified_name,
        );
    }
    for (k, v) in &meta.annotations {
        total += k.len() + v.len();
    }
    if total > TOTAL_ANNOTATION_SIZE_LIMIT {
        errs.push(FieldError::too_long(
            &path.child("annotations"),
            TOTAL_ANNOTATION_SIZE_LIMIT,
        ));
    }
    let mut controllers = 0;
    for (i, r) in meta.owner_references.iter().enumerate() {
        let p = path.child("ownerReferences").index(i);
        if r.api_version.is_empty() {
            errs.push(FieldError::invalid(
                &p.child("apiVersion"),
                &r.api_version,
                "version must not be empty",
            ));
        }
        if r.kind.is_empty() {
            errs.push(FieldError::invalid(
                &p.child("kind"),
                &r.kind,
                "kind must not be empty",
            ));
        }
        if r.name.is_empty() {
            errs.push(FieldError::invalid(
                &p.child("name"),
                &r.name,
                "name must not be empty",
            ));
        }
        if r.uid.is_empty() {
            errs.push(FieldError::invalid(
                &p.child("uid"),
                &r.uid,
                "uid must not be empty",
            ));
        }
        if r.controller == Some(true) {
            controllers += 1;
        }
    }
    if controllers > 1 {
        errs.push(FieldError::invalid(
            &path.child("ownerReferences"),
            controllers,
            "Only one reference can have Controller set to true",
        ));
    }
    for (i, f) in meta.finalizers.iter().enumerate() {
        check_syntax(
            &mut errs,
            &path.child("finalizers").index(i),
            f,
            is_qualified_name,
        );
    }
    errs
}

/// Validates label keys (qualified names) and values (label values) at `path`.
pub fn validate_labels(labels: &Labels, path: &FieldPath) -> ErrorList {
    let mut errs = ErrorList::new();
    for (k, v) in labels {
        check_syntax(&mut errs, path, k, is_qualified_name);
        check_syntax_at(&mut errs, || path.key(k), v, is_label_value);
    }
    errs
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentages_scale_with_kubernetes_rounding() {
        let q = IntOrString::String("25%".into());
        assert_eq!(q.scaled_value(10, true), Some(3));
        assert_eq!(q.scaled_value(10, false), Some(2));
        assert_eq!(IntOrString::Int(4).scaled_value(10, true), Some(4));
        assert_eq!(IntOrString::String("x".into()).scaled_value(10, true), None);
    }

    #[test]
    fn metadata_needs_a_valid_name() {
        let errs = validate_object_meta(&ObjectMeta::default(), true, NameRule::Subdomain);
        assert_eq!(
            errs[0].to_string(),
            "metadata.name: Required value: name or generateName is required"
        );
        let meta = ObjectMeta::named("default", "Web_1");
        let errs = validate_object_meta(&meta, true, NameRule::Subdomain);
        assert_eq!(errs.len(), 1);
        assert!(errs[0]
            .to_string()
            .starts_with("metadata.name: Invalid value: \"Web_1\""));
        let mut meta = ObjectMeta::named("", "");
        meta.generate_name = "web-".into();
        assert!(validate_object_meta(&meta, true, NameRule::Subdomain).is_empty());
        let mut meta = ObjectMeta::named("ns", "n");
        meta.labels.insert("app".into(), "bad value".into());
        let errs = validate_object_meta(&meta, false, NameRule::Subdomain);
        let text: Vec<String> = errs.iter().map(ToString::to_string).collect();
        assert!(
            text[0].starts_with("metadata.namespace: Forbidden"),
            "{text:?}"
        );
        assert!(
            text[1].starts_with("metadata.labels[app]: Invalid value: \"bad value\""),
            "{text:?}"
        );
    }
}
