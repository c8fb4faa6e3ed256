//! Field selectors per kind: which fields each kind can be filtered on and how to read them,
//! following the field labels the API server registers (`metadata.name` everywhere,
//! `metadata.namespace` for namespaced kinds, `spec.nodeName` and `status.phase` for pods, …;
//! the kinds' `ToSelectableFields` functions in pkg/registry, v1.34).

use super::StoreError;
use crate::object::{Kind, Object};
use crate::selector::FieldSelector;

/// The fields of `kind` a field selector may use.
pub(crate) fn supported_fields(kind: Kind) -> &'static [&'static str] {
    match kind {
        Kind::Pod => &[
            "metadata.name",
            "metadata.namespace",
            "spec.nodeName",
            "spec.restartPolicy",
            "spec.schedulerName",
            "spec.serviceAccountName",
            "spec.hostNetwork",
            "status.phase",
            "status.podIP",
            "status.nominatedNodeName",
        ],
        Kind::Node => &["metadata.name", "spec.unschedulable"],
        Kind::Namespace => &["metadata.name", "status.phase"],
        Kind::Secret => &["metadata.name", "metadata.namespace", "type"],
        Kind::Job => &["metadata.name", "metadata.namespace", "status.successful"],
        Kind::ReplicaSet => &["metadata.name", "metadata.namespace", "status.replicas"],
        _ if kind.namespaced() => &["metadata.name", "metadata.namespace"],
        _ => &["metadata.name"],
    }
}

/// Rejects a selector on a field the kind does not support, with the API server's message
/// (`field label not supported: spec.foo`) followed by the fields the kind does support.
pub(crate) fn check_supported(kind: Kind, selector: &FieldSelector) -> Result<(), StoreError> {
    let supported = supported_fields(kind);
    for requirement in selector.requirements() {
        let field = requirement.field.as_str();
        if !supported.contains(&field) {
            return Err(StoreError::BadRequest(format!(
                "field label not supported: {field} (supported for {}: {})",
                kind.plural(),
                supported.join(", ")
            )));
        }
    }
    Ok(())
}

/// The value of a supported field, as the string the selector compares with.
pub(crate) fn field_value(object: &Object, field: &str) -> Option<String> {
    let meta = object.metadata();
    match (object, field) {
        (_, "metadata.name") => Some(meta.name.clone()),
        (_, "metadata.namespace") => Some(meta.namespace.clone()),
        (Object::Pod(p), "spec.nodeName") => Some(p.spec.node_name.clone()),
        (Object::Pod(p), "spec.restartPolicy") => Some(enum_text(&p.spec.restart_policy)),
        (Object::Pod(p), "spec.schedulerName") => Some(p.spec.scheduler_name.clone()),
        (Object::Pod(p), "spec.serviceAccountName") => Some(p.spec.service_account_name.clone()),
        (Object::Pod(p), "spec.hostNetwork") => Some(p.spec.host_network.to_string()),
        (Object::Pod(p), "status.phase") => Some(enum_text(&p.status.phase)),
        (Object::Pod(p), "status.podIP") => Some(p.status.pod_ip.clone()),
        (Object::Pod(p), "status.nominatedNodeName") => Some(p.status.nominated_node_name.clone()),
        (Object::Node(n), "spec.unschedulable") => Some(n.spec.unschedulable.to_string()),
        (Object::Namespace(n), "status.phase") => Some(enum_text(&n.status.phase)),
        (Object::Secret(s), "type") => Some(enum_text(&s.r#type)),
        (Object::Job(j), "status.successful") => Some(j.status.succeeded.to_string()),
        (Object::ReplicaSet(r), "status.replicas") => Some(r.status.replicas.to_string()),
        _ => None,
    }
}

/// The API string of a serde enum value (`Running`), empty for `None`.
fn enum_text<T: serde::Serialize>(value: &T) -> String {
    match serde_json::to_value(value) {
        Ok(serde_json::Value::String(s)) => s,
        _ => String::new(),
    }
}
