//! Field paths, field errors and the name and label syntax rules of the Kubernetes API server.
//!
//! Validation in Flotilla works as in the API server's `validation` packages: each kind's
//! validator walks the object with a [`FieldPath`] and pushes a [`FieldError`] for every problem it
//! finds, so one rejected object reports all its errors at once. Messages follow Kubernetes' own
//! wording (`spec.replicas: Invalid value: -1: must be greater than or equal to 0`), and the path
//! is kept structured so the manifest loader can point at the line and column of the field.

use std::borrow::Cow;
use std::fmt;

/// One step of a [`FieldPath`].
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum PathSegment {
    /// A named field (`spec`, `containers`). Field names are mostly the validators' string
    /// literals, which a path borrows instead of copying.
    Field(Cow<'static, str>),
    /// A position in a list (`[0]`).
    Index(usize),
    /// A key in a map (`[cpu]`, `[app.kubernetes.io/name]`).
    Key(String),
}

/// The path of a field inside an object, printed as Kubernetes prints it:
/// `spec.template.spec.containers[0].resources.limits[cpu]`.
#[derive(Clone, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct FieldPath(Vec<PathSegment>);

impl FieldPath {
    /// The empty path (the object itself).
    pub fn root() -> FieldPath {
        FieldPath(Vec::new())
    }

    /// A path of one field, such as `FieldPath::new("spec")`.
    pub fn new(field: impl Into<Cow<'static, str>>) -> FieldPath {
        FieldPath(vec![PathSegment::Field(field.into())])
    }

    /// This path extended by a named field: a `&'static str` is borrowed, a `String` moved.
    ///
    /// Validators build a path for every field they visit, error or not, so extending one
    /// costs one allocation: field names are borrowed, not copied.
    pub fn child(&self, field: impl Into<Cow<'static, str>>) -> FieldPath {
        self.extended(PathSegment::Field(field.into()))
    }

    /// This path extended by a list index.
    pub fn index(&self, i: usize) -> FieldPath {
        self.extended(PathSegment::Index(i))
    }

    /// This path extended by a map key.
    pub fn key(&self, k: &str) -> FieldPath {
        self.extended(PathSegment::Key(k.to_string()))
    }

    fn extended(&self, segment: PathSegment) -> FieldPath {
        let mut segments = Vec::with_capacity(self.0.len() + 1);
        segments.extend_from_slice(&self.0);
        segments.push(segment);
        FieldPath(segments)
    }

    /// The segments, outermost first.
    pub fn segments(&self) -> &[PathSegment] {
        &self.0
    }

    /// Builds a path from segments.
    pub fn from_segments(segments: Vec<PathSegment>) -> FieldPath {
        FieldPath(segments)
    }

    /// Whether this is the empty path.
    pub fn is_root(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Display for FieldPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, seg) in self.0.iter().enumerate() {
            match seg {
                PathSegment::Field(name) if i == 0 => f.write_str(name)?,
                PathSegment::Field(name) => write!(f, ".{name}")?,
                PathSegment::Index(n) => write!(f, "[{n}]")?,
                PathSegment::Key(k) => write!(f, "[{k}]")?,
            }
        }
        Ok(())
    }
}

/// What is wrong with a field: the categories of Kubernetes' `field.ErrorType`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FieldErrorKind {
    /// A required field is missing or empty.
    Required {
        /// Why it is required, possibly empty.
        detail: String,
    },
    /// The value is malformed or out of range.
    Invalid {
        /// The offending value, as the user wrote it (strings quoted).
        value: String,
        /// What the value must be.
        detail: String,
    },
    /// The value is not one of a fixed set.
    NotSupported {
        /// The offending value, quoted.
        value: String,
        /// The values that are accepted.
        supported: Vec<String>,
    },
    /// The value refers to something that does not exist (a volume mount naming no volume).
    NotFound {
        /// The value that was not found, quoted.
        value: String,
    },
    /// The value appears twice where it must be unique.
    Duplicate {
        /// The repeated value, quoted.
        value: String,
    },
    /// The field may not be set (here, now, or in this combination).
    Forbidden {
        /// Why it is forbidden.
        detail: String,
    },
    /// The value is longer than allowed.
    TooLong {
        /// The maximum length.
        max: usize,
    },
    /// The list has more items than allowed.
    TooMany {
        /// How many items there are.
        actual: usize,
        /// The maximum number of items.
        max: usize,
    },
}

/// One validation error: a field and what is wrong with it.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{path}: {kind}")]
pub struct FieldError {
    /// Where the error is.
    pub path: FieldPath,
    /// What the error is.
    pub kind: FieldErrorKind,
}

impl fmt::Display for FieldErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FieldErrorKind::Required { detail } if detail.is_empty() => {
                f.write_str("Required value")
            }
            FieldErrorKind::Required { detail } => write!(f, "Required value: {detail}"),
            FieldErrorKind::Invalid { value, detail } => {
                write!(f, "Invalid value: {value}: {detail}")
            }
            FieldErrorKind::NotSupported { value, supported } => {
                write!(f, "Unsupported value: {value}")?;
                if !supported.is_empty() {
                    let quoted: Vec<String> = supported.iter().map(|s| format!("{s:?}")).collect();
                    write!(f, ": supported values: {}", quoted.join(", "))?;
                }
                Ok(())
            }
            FieldErrorKind::NotFound { value } => write!(f, "Not found: {value}"),
            FieldErrorKind::Duplicate { value } => write!(f, "Duplicate value: {value}"),
            FieldErrorKind::Forbidden { detail } => write!(f, "Forbidden: {detail}"),
            FieldErrorKind::TooLong { max } => {
                write!(f, "Too long: may not be more than {max} bytes")
            }
            FieldErrorKind::TooMany { actual, max } => {
                write!(f, "Too many: {actual}: must have at most {max} items")
            }
        }
    }
}

impl FieldError {
    /// A [`FieldErrorKind::Required`] error.
    pub fn required(path: &FieldPath, detail: impl Into<String>) -> FieldError {
        FieldError {
            path: path.clone(),
            kind: FieldErrorKind::Required {
                detail: detail.into(),
            },
        }
    }

    /// A [`FieldErrorKind::Invalid`] error; `value` is printed with `Debug` (strings quoted).
    pub fn invalid(
        path: &FieldPath,
        value: impl fmt::Debug,
        detail: impl Into<String>,
    ) -> FieldError {
        FieldError {
            path: path.clone(),
            kind: FieldErrorKind::Invalid {
                value: format!("{value:?}"),
                detail: detail.into(),
            },
        }
    }

    /// A [`FieldErrorKind::NotSupported`] error.
    pub fn not_supported(
        path: &FieldPath,
        value: impl fmt::Debug,
        supported: &[&str],
    ) -> FieldError {
        FieldError {
            path: path.clone(),
            kind: FieldErrorKind::NotSupported {
                value: format!("{value:?}"),
                supported: supported.iter().map(|s| s.to_string()).collect(),
            },
        }
    }

    /// A [`FieldErrorKind::NotFound`] error.
    pub fn not_found(path: &FieldPath, value: impl fmt::Debug) -> FieldError {
        FieldError {
            path: path.clone(),
            kind: FieldErrorKind::NotFound {
                value: format!("{value:?}"),
            },
        }
    }

    /// A [`FieldErrorKind::Duplicate`] error.
    pub fn duplicate(path: &FieldPath, value: impl fmt::Debug) -> FieldError {
        FieldError {
            path: path.clone(),
            kind: FieldErrorKind::Duplicate {
                value: format!("{value:?}"),
            },
        }
    }

    /// A [`FieldErrorKind::Forbidden`] error.
    pub fn forbidden(path: &FieldPath, detail: impl Into<String>) -> FieldError {
        FieldError {
            path: path.clone(),
            kind: FieldErrorKind::Forbidden {
                detail: detail.into(),
            },
        }
    }

    /// A [`FieldErrorKind::TooLong`] error.
    pub fn too_long(path: &FieldPath, max: usize) -> FieldError {
        FieldError {
            path: path.clone(),
            kind: FieldErrorKind::TooLong { max },
        }
    }

    /// A [`FieldErrorKind::TooMany`] error.
    pub fn too_many(path: &FieldPath, actual: usize, max: usize) -> FieldError {
        FieldError {
            path: path.clone(),
            kind: FieldErrorKind::TooMany { actual, max },
        }
    }
}

/// The errors found in one object, in the order the validator found them.
pub type ErrorList = Vec<FieldError>;

/// Server-side validation of an API object, as the API server runs it on create and update.
pub trait Validate {
    /// Every problem with the object's kind-specific fields; empty when they are valid.
    /// (Metadata is checked by [`crate::Resource::validate_object`].)
    fn validate(&self) -> ErrorList;

    /// Every problem with updating `old` to `self` beyond [`Validate::validate`]: fields that
    /// Kubernetes makes immutable (a Deployment's selector, most of a Pod's spec, …).
    fn validate_update(&self, old: &Self) -> ErrorList {
        let _ = old;
        Vec::new()
    }
}

/// Server-side defaulting, as the API server applies it before validation.
pub trait SetDefaults {
    /// Fills in the fields Kubernetes defaults (`restartPolicy: Always`, …).
    fn set_defaults(&mut self);
}

// ---------------------------------------------------------------------------------------------
// Name and label syntax (k8s.io/apimachinery/pkg/util/validation).
// Each check returns the list of reasons the value is bad, worded as Kubernetes words them.
// ---------------------------------------------------------------------------------------------

/// Maximum length of a DNS-1123 label.
pub const DNS1123_LABEL_MAX_LEN: usize = 63;
/// Maximum length of a DNS-1123 subdomain.
pub const DNS1123_SUBDOMAIN_MAX_LEN: usize = 253;
/// Maximum length of a label value and of the name part of a qualified name.
pub const LABEL_VALUE_MAX_LEN: usize = 63;
/// Maximum total size of an object's annotations (keys plus values), in bytes.
pub const TOTAL_ANNOTATION_SIZE_LIMIT: usize = 256 * 1024;

fn is_lower_alnum(c: u8) -> bool {
    c.is_ascii_lowercase() || c.is_ascii_digit()
}

fn dns1123_label_ok(s: &str) -> bool {
    let b = s.as_bytes();
    !b.is_empty()
        && is_lower_alnum(b[0])
        && is_lower_alnum(b[b.len() - 1])
        && b.iter().all(|&c| is_lower_alnum(c) || c == b'-')
}

/// Checks a DNS-1123 label: at most 63 lowercase alphanumerics or `-`, starting and ending
/// alphanumeric (Namespace, Service and container names).
pub fn is_dns1123_label(value: &str) -> Vec<String> {
    let mut errs = Vec::new();
    if value.len() > DNS1123_LABEL_MAX_LEN {
        errs.push(format!(
            "must be no more than {DNS1123_LABEL_MAX_LEN} characters"
        ));
    }
    if !dns1123_label_ok(value) {
        errs.push(
            "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', \
             and must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for \
             validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')"
                .to_string(),
        );
    }
    errs
}

/// Checks a name that only has to be safe as one segment of a URL path (the names of the RBAC
/// kinds, which may contain `:`): not `.` or `..`, and without `/` or `%`
/// (k8s.io/apimachinery/pkg/api/validation/path, `IsValidPathSegmentName`).
pub fn is_valid_path_segment_name(value: &str) -> Vec<String> {
    for illegal in [".", ".."] {
        if value == illegal {
            return vec![format!("may not be '{illegal}'")];
        }
    }
    ["/", "%"]
        .iter()
        .filter(|illegal| value.contains(*illegal))
        .map(|illegal| format!("may not contain '{illegal}'"))
        .collect()
}

/// Checks a DNS-1123 subdomain: at most 253 characters of dot-separated DNS-1123 labels
/// (the names of most objects).
pub fn is_dns1123_subdomain(value: &str) -> Vec<String> {
    let mut errs = Vec::new();
    if value.len() > DNS1123_SUBDOMAIN_MAX_LEN {
        errs.push(format!(
            "must be no more than {DNS1123_SUBDOMAIN_MAX_LEN} characters"
        ));
    }
    if value.is_empty() || !value.split('.').all(dns1123_label_ok) {
        errs.push(
            "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' \
             or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for \
             validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')"
                .to_string(),
        );
    }
    errs
}

fn qualified_name_part_ok(s: &str) -> bool {
    let b = s.as_bytes();
    !b.is_empty()
        && b[0].is_ascii_alphanumeric()
        && b[b.len() - 1].is_ascii_alphanumeric()
        && b.iter()
            .all(|&c| c.is_ascii_alphanumeric() || matches!(c, b'-' | b'_' | b'.'))
}

/// Checks a qualified name (label and annotation keys): an optional DNS-1123 subdomain prefix and
/// `/`, then a name of at most 63 alphanumerics, `-`, `_` or `.`, starting and ending
/// alphanumeric.
pub fn is_qualified_name(value: &str) -> Vec<String> {
    let mut errs = Vec::new();
    let (prefix, name) = match value.split_once('/') {
        Some((p, n)) => (Some(p), n),
        None => (None, value),
    };
    if let Some(prefix) = prefix {
        if prefix.is_empty() {
            errs.push("prefix part must be non-empty".to_string());
        } else {
            for e in is_dns1123_subdomain(prefix) {
                errs.push(format!("prefix part {e}"));
            }
        }
        if name.contains('/') {
            errs.push(
                "a qualified name must consist of alphanumeric characters, '-', '_' or '.', and must \
                 start and end with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or \
                 '123-abc'), with an optional DNS subdomain prefix and '/' (e.g. \
                 'example.com/MyName')"
                    .to_string(),
            );
            return errs;
        }
    }
    if name.is_empty() {
        errs.push("name part must be non-empty".to_string());
    } else {
        if name.len() > LABEL_VALUE_MAX_LEN {
            errs.push(format!(
                "name part must be no more than {LABEL_VALUE_MAX_LEN} characters"
            ));
        }
        if !qualified_name_part_ok(name) {
            errs.push(
                "name part must consist of alphanumeric characters, '-', '_' or '.', and must start \
                 and end with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or \
                 '123-abc', regex used for validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')"
                    .to_string(),
            );
        }
    }
    errs
}

/// Checks a label value: empty, or at most 63 alphanumerics, `-`, `_` or `.`, starting and
/// ending alphanumeric.
pub fn is_label_value(value: &str) -> Vec<String> {
    let mut errs = Vec::new();
    if value.is_empty() {
        return errs;
    }
    if value.len() > LABEL_VALUE_MAX_LEN {
        errs.push(format!(
            "must be no more than {LABEL_VALUE_MAX_LEN} characters"
        ));
    }
    if !qualified_name_part_ok(value) {
        errs.push(
            "a valid label must be an empty string or consist of alphanumeric characters, '-', '_' \
             or '.', and must start and end with an alphanumeric character (e.g. 'MyValue',  or \
             'my_value',  or '12345', regex used for validation is \
             '(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')"
                .to_string(),
        );
    }
    errs
}

/// Checks an IANA service name, the syntax of named ports: at most 15 lowercase alphanumerics or
/// `-`, at least one letter, no leading, trailing or doubled `-`.
pub fn is_port_name(value: &str) -> Vec<String> {
    let mut errs = Vec::new();
    if value.len() > 15 {
        errs.push("must be no more than 15 characters".to_string());
    }
    if !value.bytes().all(|c| is_lower_alnum(c) || c == b'-') {
        errs.push(
            "must contain only alpha-numeric characters (a-z, 0-9), and hyphens (-)".to_string(),
        );
    }
    if value.contains("--") {
        errs.push("must not contain consecutive hyphens".to_string());
    }
    if !value.bytes().any(|c| c.is_ascii_lowercase()) {
        errs.push("must contain at least one letter (a-z)".to_string());
    }
    if value.starts_with('-') || value.ends_with('-') {
        errs.push("must not begin or end with a hyphen".to_string());
    }
    errs
}

/// Checks an environment variable name: printable ASCII other than `=`, not empty
/// (the relaxed rule Kubernetes uses since v1.30).
pub fn is_env_var_name(value: &str) -> Vec<String> {
    if !value.is_empty()
        && value
            .bytes()
            .all(|c| (b' '..=b'~').contains(&c) && c != b'=')
    {
        Vec::new()
    } else {
        vec![
            "a valid environment variable name must consist only of printable ASCII characters \
              other than '='"
                .to_string(),
        ]
    }
}

/// Checks a port number: 1 to 65535.
pub fn is_port_number(port: i64) -> Vec<String> {
    if (1..=65_535).contains(&port) {
        Vec::new()
    } else {
        vec!["must be between 1 and 65535, inclusive".to_string()]
    }
}

/// Pushes one [`FieldErrorKind::Invalid`] error per reason `check` gives for `value`.
pub fn check_syntax(
    errs: &mut ErrorList,
    path: &FieldPath,
    value: &str,
    check: fn(&str) -> Vec<String>,
) {
    for reason in check(value) {
        errs.push(FieldError::invalid(path, value, reason));
    }
}

/// [`check_syntax`] with the path built only when the value is invalid: for checks in loops
/// over map entries, where building each entry's path would cost more than the check.
pub fn check_syntax_at(
    errs: &mut ErrorList,
    path: impl FnOnce() -> FieldPath,
    value: &str,
    check: fn(&str) -> Vec<String>,
) {
    let reasons = check(value);
    if reasons.is_empty() {
        return;
    }
    let path = path();
    for reason in reasons {
        errs.push(FieldError::invalid(&path, value, reason));
    }
}

/// The members of a "one of" group, such as a volume's source or a probe's handler: the first
/// member that is set is accepted, and every later one is refused with `Forbidden: may not
/// specify more than 1 …`, as Kubernetes refuses it.
#[derive(Debug)]
pub struct OneOf<'a> {
    path: &'a FieldPath,
    detail: &'static str,
    seen: usize,
}

impl<'a> OneOf<'a> {
    /// A group at `path` whose extra members get `detail` (`may not specify more than 1 volume
    /// type`).
    pub fn new(path: &'a FieldPath, detail: &'static str) -> OneOf<'a> {
        OneOf {
            path,
            detail,
            seen: 0,
        }
    }

    /// Counts member `field` when `set`; returns whether it is the accepted (first) member.
    pub fn accept(&mut self, set: bool, field: &'static str, errs: &mut ErrorList) -> bool {
        if !set {
            return false;
        }
        self.seen += 1;
        if self.seen > 1 {
            errs.push(FieldError::forbidden(&self.path.child(field), self.detail));
            return false;
        }
        true
    }

    /// How many members were set.
    pub fn count(&self) -> usize {
        self.seen
    }
}

/// Pushes an error unless `value >= 0`.
pub fn check_non_negative(errs: &mut ErrorList, path: &FieldPath, value: i64) {
    if value < 0 {
        errs.push(FieldError::invalid(
            path,
            value,
            "must be greater than or equal to 0",
        ));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_print_as_kubernetes_does() {
        let p = FieldPath::new("spec")
            .child("containers")
            .index(0)
            .child("resources")
            .child("limits")
            .key("cpu");
        assert_eq!(p.to_string(), "spec.containers[0].resources.limits[cpu]");
    }

    #[test]
    fn error_messages_follow_kubernetes_wording() {
        let p = FieldPath::new("spec").child("replicas");
        assert_eq!(
            FieldError::invalid(&p, -1, "must be greater than or equal to 0").to_string(),
            "spec.replicas: Invalid value: -1: must be greater than or equal to 0"
        );
        let p = FieldPath::new("spec").child("restartPolicy");
        assert_eq!(
            FieldError::not_supported(&p, "Sometimes", &["Always", "Never"]).to_string(),
            "spec.restartPolicy: Unsupported value: \"Sometimes\": supported values: \"Always\", \"Never\""
        );
    }

    #[test]
    fn name_syntax() {
        assert!(is_dns1123_label("web-0").is_empty());
        assert!(!is_dns1123_label("Web").is_empty());
        assert!(!is_dns1123_label("-web").is_empty());
        assert!(!is_dns1123_label(&"a".repeat(64)).is_empty());
        assert!(is_dns1123_subdomain("web.example.com").is_empty());
        assert!(!is_dns1123_subdomain("web..com").is_empty());
        assert!(is_qualified_name("app.kubernetes.io/name").is_empty());
        assert!(is_qualified_name("MyName").is_empty());
        assert!(!is_qualified_name("/name").is_empty());
        assert!(!is_qualified_name("a/b/c").is_empty());
        assert!(!is_qualified_name("-x").is_empty());
        assert!(is_label_value("").is_empty());
        assert!(is_label_value("v1.2_beta").is_empty());
        assert!(!is_label_value("v1 ").is_empty());
        assert!(is_port_name("http").is_empty());
        assert!(!is_port_name("8080").is_empty());
        assert!(!is_port_name("http--alt").is_empty());
        assert!(!is_port_name("a-very-long-port-name").is_empty());
        assert!(is_env_var_name("MY_VAR.x").is_empty());
        assert!(!is_env_var_name("A=B").is_empty());
    }
}
