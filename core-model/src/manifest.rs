//! Reading Kubernetes manifests: multi-document YAML (or JSON) text into typed [`Object`]s, with
//! positions.
//!
//! The loader keeps the line and column of every node of the document, so that anything it or
//! the API server's validation finds wrong is reported where the user wrote it:
//!
//! ```text
//! web.yaml:14:22: spec.template.spec.containers[0].resources.limits[cpu]: quantities must match ...
//! ```
//!
//! As `kubectl apply --validate=warn` does, a field the type does not know is a [`Warning`] that
//! names its path, never silently dropped; an unknown `apiVersion`/`kind` is an error that lists
//! the supported ones. `kind: List` documents are expanded into their `items`.
//!
//! Scalars are resolved as Kubernetes' YAML reader (go-yaml v2, YAML 1.1) resolves them:
//! `yes`/`no`/`on`/`off` are booleans and `0644` is octal, so a manifest means here what it means
//! on a cluster. Duplicate keys in a mapping are an error, as they are for `kubectl`.
//!
//! This module is pure: it parses text the caller has read. Reading files and directories is the
//! driver's job (`flotilla_sim::manifests`).

use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;

use yaml_rust2::parser::{Event, MarkedEventReceiver, Parser, Tag};
use yaml_rust2::scanner::{Marker, TScalarStyle};

use crate::object::{Kind, Object};
use crate::validation::{FieldError, FieldErrorKind, FieldPath, PathSegment};

/// A place in a manifest file: file name, line and column (both 1-based).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Location {
    /// The file name as given by the caller (`-` for standard input).
    pub file: Arc<str>,
    /// Line, starting at 1.
    pub line: usize,
    /// Column, starting at 1.
    pub column: usize,
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}:{}", self.file, self.line, self.column)
    }
}

/// What went wrong while reading or checking a manifest.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum ManifestErrorKind {
    /// The text is not well-formed YAML.
    #[error("invalid YAML: {0}")]
    Syntax(String),
    /// A mapping has the same key twice.
    #[error("key {key:?} already set at line {first_line}")]
    DuplicateKey {
        /// The repeated key.
        key: String,
        /// The line where the key is first set.
        first_line: usize,
    },
    /// A document is not a mapping (an object).
    #[error("a manifest document must be a mapping with apiVersion and kind, found {0}")]
    NotAnObject(&'static str),
    /// `apiVersion` or `kind` is missing or not a string.
    #[error("Required value: must be a non-empty string")]
    MissingTypeField(&'static str),
    /// The `apiVersion`/`kind` pair is not one Flotilla supports.
    #[error("no kind {kind:?} is registered for version {api_version:?}; supported: {supported}")]
    UnknownKind {
        /// The `apiVersion` given.
        api_version: String,
        /// The `kind` given.
        kind: String,
        /// Every supported `apiVersion/kind`.
        supported: String,
    },
    /// A `kind: List` has no `items` list.
    #[error("a List must have an items list")]
    ListWithoutItems,
    /// A field has the wrong type or an impossible value for its type.
    #[error("{0}")]
    Decode(String),
    /// The object decoded but the API server's validation rejects it.
    #[error("{0}")]
    Invalid(crate::validation::FieldErrorKind),
}

/// An error in a manifest, with where it is.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub struct ManifestError {
    /// Where the problem is.
    pub location: Location,
    /// The field path inside the object, when the problem is inside one.
    pub path: Option<FieldPath>,
    /// What the problem is.
    pub kind: ManifestErrorKind,
}

impl fmt::Display for ManifestError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.path {
            Some(path) if !path.is_root() => {
                write!(f, "{}: {}: {}", self.location, path, self.kind)
            }
            _ => write!(f, "{}: {}", self.location, self.kind),
        }
    }
}

/// A non-fatal finding, such as an unknown field (which Kubernetes drops with a warning).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Warning {
    /// Where the finding is.
    pub location: Location,
    /// The field path inside the object.
    pub path: FieldPath,
    /// What was found.
    pub message: String,
}

impl fmt::Display for Warning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}: {}", self.location, self.path, self.message)
    }
}

/// One object read from a manifest, with the positions of its fields.
#[derive(Clone, Debug)]
pub struct ManifestObject {
    /// The decoded object, exactly as written (no defaults applied).
    pub object: Object,
    /// Where the object starts.
    pub location: Location,
    source: Arc<Node>,
}

impl ManifestObject {
    /// The location of a field of this object; the nearest enclosing field that exists when the
    /// field itself is absent (a missing required field points at its parent).
    pub fn location_of(&self, path: &FieldPath) -> Location {
        let (line, column) = self.source.position_of(path.segments());
        Location {
            file: self.location.file.clone(),
            line,
            column,
        }
    }

    /// Applies the API server's defaults to a copy of the object and validates it, returning every
    /// validation error located in the manifest. Empty when the object would be accepted.
    pub fn check(&self) -> Vec<ManifestError> {
        let mut object = self.object.clone();
        object.set_defaults();
        object
            .validate()
            .into_iter()
            .map(|e| self.locate(e))
            .collect()
    }

    /// Turns a validation error about this object into a located manifest error.
    ///
    /// An invalid key of a map is reported at the map (`metadata.labels: Invalid value: "app
    /// name"`), as Kubernetes does; its location is the key itself.
    pub fn locate(&self, error: FieldError) -> ManifestError {
        let key_position = match &error.kind {
            FieldErrorKind::Invalid { value, .. } => self
                .source
                .node_at(error.path.segments())
                .and_then(|node| match &node.value {
                    Value::Map(entries) => entries
                        .iter()
                        .find(|e| format!("{:?}", e.key) == *value)
                        .map(|e| (e.key_line, e.key_column)),
                    _ => None,
                }),
            _ => None,
        };
        let location = match key_position {
            Some((line, column)) => Location {
                file: self.location.file.clone(),
                line,
                column,
            },
            None => self.location_of(&error.path),
        };
        ManifestError {
            location,
            path: Some(error.path),
            kind: ManifestErrorKind::Invalid(error.kind),
        }
    }
}

/// Everything read from one manifest text: the objects in document order and the warnings.
#[derive(Clone, Debug, Default)]
pub struct Manifests {
    /// Objects in the order they appear (List items in place of their List).
    pub objects: Vec<ManifestObject>,
    /// Unknown fields and other non-fatal findings.
    pub warnings: Vec<Warning>,
}

impl Manifests {
    /// Appends another set of manifests (for example, the next file of a directory).
    pub fn extend(&mut self, other: Manifests) {
        self.objects.extend(other.objects);
        self.warnings.extend(other.warnings);
    }

    /// Runs [`ManifestObject::check`] on every object.
    pub fn check(&self) -> Vec<ManifestError> {
        self.objects
            .iter()
            .flat_map(ManifestObject::check)
            .collect()
    }
}

/// Reads every document of a YAML or JSON text. `file` names the source in locations.
///
/// On failure, returns every error found (documents are independent: an error in one does not
/// hide the errors of the others), and nothing else: a caller never acts on half a manifest.
pub fn parse_str(file: &str, text: &str) -> Result<Manifests, Vec<ManifestError>> {
    let (manifests, errors) = parse_partial(file, text);
    if errors.is_empty() {
        Ok(manifests)
    } else {
        Err(errors)
    }
}

/// What [`check_str`] found in one manifest text.
#[derive(Clone, Debug, Default)]
pub struct Checked {
    /// The objects that decoded (whether or not they are valid) and the warnings.
    pub manifests: Manifests,
    /// Every error: documents that do not decode, and objects the API server would reject, in
    /// the order of their position in the text. Empty when every object would be accepted.
    pub errors: Vec<ManifestError>,
}

impl Checked {
    /// Whether the text read without errors and every object in it would be accepted.
    pub fn is_valid(&self) -> bool {
        self.errors.is_empty()
    }
}

/// Reads every document of a text and checks every object that decoded, as
/// `flotilla validate` and `kubectl apply --dry-run=server` do: a report of every problem.
///
/// Unlike [`parse_str`], a document that does not decode does not hide the validation errors of
/// the others, and the objects of a text with errors are returned too. A caller that writes
/// objects must not write any of them unless [`Checked::is_valid`].
pub fn check_str(file: &str, text: &str) -> Checked {
    let (manifests, mut errors) = parse_partial(file, text);
    errors.extend(manifests.check());
    // Decode errors come per document and validation errors per object: present them in the
    // order of the text, as a compiler does. The sort is stable, so errors at one position keep
    // the validator's order.
    errors.sort_by_key(|e| (e.location.line, e.location.column));
    Checked { manifests, errors }
}

/// Decodes what can be decoded: the objects of every well-formed document, and the errors of the
/// others. A syntax error ends the text; the documents before it are still read.
fn parse_partial(file: &str, text: &str) -> (Manifests, Vec<ManifestError>) {
    let file: Arc<str> = Arc::from(file);
    // Editors on Windows start UTF-8 files with a byte-order mark; YAML allows it there.
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let (docs, syntax_error) = load_documents(text);
    let mut out = Manifests::default();
    let mut errors = Vec::new();
    for doc in docs {
        if matches!(doc.value, Value::Null) {
            continue; // an empty document, as between `---` lines
        }
        decode_document(&file, Arc::new(doc), &mut out, &mut errors);
    }
    if let Some(((line, column), kind)) = syntax_error {
        errors.push(ManifestError {
            location: Location {
                file: file.clone(),
                line,
                column,
            },
            path: None,
            kind,
        });
    }
    (out, errors)
}

fn decode_document(
    file: &Arc<str>,
    doc: Arc<Node>,
    out: &mut Manifests,
    errors: &mut Vec<ManifestError>,
) {
    let here = |node: &Node| Location {
        file: file.clone(),
        line: node.line,
        column: node.column,
    };
    let Value::Map(entries) = &doc.value else {
        errors.push(ManifestError {
            location: here(&doc),
            path: None,
            kind: ManifestErrorKind::NotAnObject(doc.value.describe()),
        });
        return;
    };
    let field = |name: &'static str| match entries
        .iter()
        .find(|e| e.key == name)
        .map(|e| &e.value.value)
    {
        Some(Value::Str(s)) if !s.is_empty() => Some(s.clone()),
        _ => None,
    };
    let missing = |name: &'static str| ManifestError {
        location: here(&doc),
        path: Some(FieldPath::new(name)),
        kind: ManifestErrorKind::MissingTypeField(name),
    };
    let (api_version, kind_name) = match (field("apiVersion"), field("kind")) {
        (Some(a), Some(k)) => (a, k),
        (a, k) => {
            if a.is_none() {
                errors.push(missing("apiVersion"));
            }
            if k.is_none() {
                errors.push(missing("kind"));
            }
            return;
        }
    };
    if kind_name == "List" && api_version == "v1" {
        match entries.iter().find(|e| e.key == "items").map(|e| &e.value) {
            Some(items) => match &items.value {
                Value::Seq(list) => {
                    for item in list {
                        decode_document(file, Arc::new(item.clone()), out, errors);
                    }
                }
                Value::Null => {}
                _ => errors.push(ManifestError {
                    location: here(items),
                    path: Some(FieldPath::new("items")),
                    kind: ManifestErrorKind::ListWithoutItems,
                }),
            },
            None => errors.push(ManifestError {
                location: here(&doc),
                path: None,
                kind: ManifestErrorKind::ListWithoutItems,
            }),
        }
        return;
    }
    let Some(kind) = Kind::from_type(&api_version, &kind_name) else {
        // A kind Flotilla knows under another version (`extensions/v1beta1` Deployments from old
        // tutorials) is a wrong apiVersion: point there and name the version that is served.
        // Otherwise the kind itself is unknown (or misspelled).
        let known: Vec<Kind> = Kind::ALL
            .iter()
            .copied()
            .filter(|k| k.name() == kind_name)
            .collect();
        let (field, supported) = if known.is_empty() {
            ("kind", Kind::supported_list())
        } else {
            let served: Vec<String> = known
                .iter()
                .map(|k| format!("{}/{}", k.api_version(), k.name()))
                .collect();
            ("apiVersion", served.join(", "))
        };
        let at = entries
            .iter()
            .find(|e| e.key == field)
            .map_or((doc.line, doc.column), |e| (e.key_line, e.key_column));
        errors.push(ManifestError {
            location: Location {
                file: file.clone(),
                line: at.0,
                column: at.1,
            },
            path: Some(FieldPath::new(field)),
            kind: ManifestErrorKind::UnknownKind {
                api_version,
                kind: kind_name,
                supported,
            },
        });
        return;
    };
    let json = doc.to_json(true);
    let mut ignored: Vec<FieldPath> = Vec::new();
    let mut track = serde_path_to_error::Track::new();
    let decoded = {
        let mut on_ignored = |path: serde_ignored::Path<'_>| ignored.push(ignored_path(&path));
        let ignoring = serde_ignored::Deserializer::new(json, &mut on_ignored);
        Object::deserialize_kind(
            kind,
            serde_path_to_error::Deserializer::new(ignoring, &mut track),
        )
    };
    match decoded {
        Ok(object) => {
            let object = ManifestObject {
                object,
                location: here(&doc),
                source: doc,
            };
            let mut warnings: Vec<Warning> = ignored
                .into_iter()
                .map(|path| Warning {
                    location: object.location_of(&path),
                    message: "unknown field".to_string(),
                    path,
                })
                .collect();
            // serde visits a mapping's keys in sorted order, not in the order of the text.
            warnings.sort_by_key(|w| (w.location.line, w.location.column));
            out.warnings.extend(warnings);
            out.objects.push(object);
        }
        Err(err) => {
            let (path, kind) = decode_error(error_path(&track.path()), &err.to_string());
            let (line, column) = doc.position_of(path.segments());
            errors.push(ManifestError {
                location: Location {
                    file: file.clone(),
                    line,
                    column,
                },
                path: Some(path),
                kind,
            });
        }
    }
}

/// Words a decoding error as the API server would where it has a field error for it: a value
/// outside an enumeration is `Unsupported value` (Kubernetes' enums are strings its validation
/// checks), and a missing field that has no default is `Required value`. Type names are the API
/// reference's (`int32`), not Rust's (`i32`).
fn decode_error(path: FieldPath, message: &str) -> (FieldPath, ManifestErrorKind) {
    // serde: "unknown variant `x`, expected one of `A`, `B`" (or "expected `A` or `B`", ...).
    if let Some(rest) = message.strip_prefix("unknown variant `") {
        if let Some((value, expected)) = rest.split_once("`, ") {
            let mut supported: Vec<String> = expected
                .split('`')
                .skip(1)
                .step_by(2)
                .map(str::to_string)
                .collect();
            // Kubernetes lists the supported values of most enums from a sorted set.
            supported.sort();
            let kind = FieldErrorKind::NotSupported {
                value: format!("{value:?}"),
                supported,
            };
            return (path, ManifestErrorKind::Invalid(kind));
        }
    }
    // serde: "missing field `name`", reported at the struct that lacks it.
    if let Some(field) = message
        .strip_prefix("missing field `")
        .and_then(|rest| rest.strip_suffix('`'))
    {
        let kind = FieldErrorKind::Required {
            detail: String::new(),
        };
        return (
            path.child(field.to_string()),
            ManifestErrorKind::Invalid(kind),
        );
    }
    let mut message = message.to_string();
    for (rust, api) in [
        ("i8", "int8"),
        ("i16", "int16"),
        ("i32", "int32"),
        ("i64", "int64"),
        ("u8", "uint8"),
        ("u16", "uint16"),
        ("u32", "uint32"),
        ("u64", "uint64"),
    ] {
        if let Some(head) = message.strip_suffix(&format!("expected {rust}")) {
            message = format!("{head}expected {api}");
            break;
        }
    }
    (path, ManifestErrorKind::Decode(message))
}

fn ignored_path(path: &serde_ignored::Path<'_>) -> FieldPath {
    fn walk(path: &serde_ignored::Path<'_>, out: &mut Vec<PathSegment>) {
        match path {
            serde_ignored::Path::Root => {}
            serde_ignored::Path::Seq { parent, index } => {
                walk(parent, out);
                out.push(PathSegment::Index(*index));
            }
            serde_ignored::Path::Map { parent, key } => {
                walk(parent, out);
                out.push(PathSegment::Field(key.clone().into()));
            }
            serde_ignored::Path::Some { parent }
            | serde_ignored::Path::NewtypeStruct { parent }
            | serde_ignored::Path::NewtypeVariant { parent } => walk(parent, out),
        }
    }
    let mut segments = Vec::new();
    walk(path, &mut segments);
    FieldPath::from_segments(segments)
}

fn error_path(path: &serde_path_to_error::Path) -> FieldPath {
    let mut segments = Vec::new();
    for seg in path.iter() {
        match seg {
            serde_path_to_error::Segment::Seq { index } => {
                segments.push(PathSegment::Index(*index))
            }
            serde_path_to_error::Segment::Map { key } => {
                segments.push(PathSegment::Field(key.clone().into()))
            }
            serde_path_to_error::Segment::Enum { .. } | serde_path_to_error::Segment::Unknown => {}
        }
    }
    FieldPath::from_segments(segments)
}

// ---------------------------------------------------------------------------------------------
// A YAML tree that remembers positions.
// ---------------------------------------------------------------------------------------------

/// A YAML node with the line and column where it starts.
#[derive(Clone, Debug, PartialEq)]
struct Node {
    value: Value,
    line: usize,
    column: usize,
}

#[derive(Clone, Debug, PartialEq)]
enum Value {
    Null,
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(String),
    Seq(Vec<Node>),
    Map(Vec<Entry>),
}

#[derive(Clone, Debug, PartialEq)]
struct Entry {
    key: String,
    key_line: usize,
    key_column: usize,
    value: Node,
    /// Whether the entry came from a `<<` merge key; a key written in the mapping itself
    /// overrides it instead of repeating it.
    merged: bool,
}

impl Value {
    fn describe(&self) -> &'static str {
        match self {
            Value::Null => "null",
            Value::Bool(_) => "a boolean",
            Value::Int(_) | Value::Float(_) => "a number",
            Value::Str(_) => "a string",
            Value::Seq(_) => "a list",
            Value::Map(_) => "a mapping",
        }
    }
}

impl Node {
    /// JSON for serde. At the top level, `apiVersion` and `kind` are left out.
    fn to_json(&self, top: bool) -> serde_json::Value {
        match &self.value {
            Value::Null => serde_json::Value::Null,
            Value::Bool(b) => serde_json::Value::Bool(*b),
            Value::Int(i) => serde_json::Value::from(*i),
            Value::Float(f) => serde_json::Number::from_f64(*f)
                .map_or(serde_json::Value::Null, serde_json::Value::Number),
            Value::Str(s) => serde_json::Value::String(s.clone()),
            Value::Seq(items) => items.iter().map(|n| n.to_json(false)).collect(),
            Value::Map(entries) => serde_json::Value::Object(
                entries
                    .iter()
                    .filter(|e| !(top && (e.key == "apiVersion" || e.key == "kind")))
                    .map(|e| (e.key.clone(), e.value.to_json(false)))
                    .collect(),
            ),
        }
    }

    /// The node at `path`, if it exists.
    fn node_at(&self, path: &[PathSegment]) -> Option<&Node> {
        let mut node = self;
        for seg in path {
            node = match (seg, &node.value) {
                (PathSegment::Field(k), Value::Map(entries)) => {
                    &entries.iter().find(|e| e.key == **k)?.value
                }
                (PathSegment::Key(k), Value::Map(entries)) => {
                    &entries.iter().find(|e| &e.key == k)?.value
                }
                (PathSegment::Index(i), Value::Seq(items)) => items.get(*i)?,
                _ => return None,
            };
        }
        Some(node)
    }

    /// Line and column of the node at `path`, or of the deepest ancestor that exists. A path that
    /// ends in a mapping key points at the key.
    fn position_of(&self, path: &[PathSegment]) -> (usize, usize) {
        let mut node = self;
        let mut pos = (self.line, self.column);
        for seg in path {
            match (seg, &node.value) {
                (PathSegment::Field(_) | PathSegment::Key(_), Value::Map(entries)) => {
                    let k = match seg {
                        PathSegment::Field(k) => k.as_ref(),
                        PathSegment::Key(k) => k.as_str(),
                        PathSegment::Index(_) => unreachable!("matched a field or a key"),
                    };
                    match entries.iter().find(|e| e.key == k) {
                        Some(e) => {
                            pos = (e.key_line, e.key_column);
                            node = &e.value;
                        }
                        None => break,
                    }
                }
                (PathSegment::Index(i), Value::Seq(items)) => match items.get(*i) {
                    Some(item) => {
                        pos = (item.line, item.column);
                        node = item;
                    }
                    None => break,
                },
                _ => break,
            }
        }
        pos
    }
}

/// An error found while building the tree: line and column (1-based), and what is wrong.
type LoadError = ((usize, usize), ManifestErrorKind);

/// A sequence or mapping whose end event has not come yet.
struct OpenCollection {
    node: Node,
    anchor: usize,
    /// For a mapping: the key read, waiting for its value (key, line, column).
    pending_key: Option<(String, usize, usize)>,
}

/// Builds one tree per document from the parser's events.
#[derive(Default)]
struct TreeBuilder {
    docs: Vec<Node>,
    /// Open collections, innermost last.
    stack: Vec<OpenCollection>,
    anchors: HashMap<usize, Node>,
    error: Option<LoadError>,
}

impl TreeBuilder {
    fn push_value(&mut self, node: Node, anchor: usize) {
        if anchor > 0 {
            self.anchors.insert(anchor, node.clone());
        }
        let Some(OpenCollection {
            node: parent,
            pending_key,
            ..
        }) = self.stack.last_mut()
        else {
            self.docs.push(node);
            return;
        };
        match &mut parent.value {
            Value::Seq(items) => items.push(node),
            Value::Map(entries) => match pending_key.take() {
                None => {
                    let key = match &node.value {
                        Value::Str(s) => s.clone(),
                        Value::Int(i) => i.to_string(),
                        Value::Float(f) => f.to_string(),
                        Value::Bool(b) => b.to_string(),
                        Value::Null => "null".to_string(),
                        Value::Seq(_) | Value::Map(_) => {
                            self.error.get_or_insert((
                                (node.line, node.column),
                                ManifestErrorKind::Syntax("mapping keys must be scalars".into()),
                            ));
                            return;
                        }
                    };
                    *pending_key = Some((key, node.line, node.column));
                }
                Some((key, key_line, key_column)) => {
                    if key == "<<" {
                        // YAML 1.1 merge key: entries of the merged mapping(s) that are not set.
                        let sources = match node.value {
                            Value::Map(m) => vec![m],
                            Value::Seq(s) => s
                                .into_iter()
                                .filter_map(|n| match n.value {
                                    Value::Map(m) => Some(m),
                                    _ => None,
                                })
                                .collect(),
                            _ => Vec::new(),
                        };
                        for source in sources {
                            for e in source {
                                if !entries.iter().any(|x| x.key == e.key) {
                                    entries.push(Entry { merged: true, ..e });
                                }
                            }
                        }
                        return;
                    }
                    // A key set by a merge is overridden by the mapping's own (YAML 1.1 merge).
                    entries.retain(|e| !(e.merged && e.key == key));
                    if let Some(first) = entries.iter().find(|e| e.key == key) {
                        // Point at the repeated key, not at its value.
                        let first_line = first.key_line;
                        self.error.get_or_insert((
                            (key_line, key_column),
                            ManifestErrorKind::DuplicateKey { key, first_line },
                        ));
                        return;
                    }
                    entries.push(Entry {
                        key,
                        key_line,
                        key_column,
                        value: node,
                        merged: false,
                    });
                }
            },
            _ => {}
        }
    }
}

impl MarkedEventReceiver for TreeBuilder {
    fn on_event(&mut self, ev: Event, mark: Marker) {
        if self.error.is_some() {
            return;
        }
        let (line, column) = (mark.line(), mark.col() + 1);
        match ev {
            Event::Scalar(text, style, anchor, tag) => {
                let value = resolve_scalar(text, style, tag.as_ref());
                self.push_value(
                    Node {
                        value,
                        line,
                        column,
                    },
                    anchor,
                );
            }
            Event::SequenceStart(anchor, _) => {
                self.stack.push(OpenCollection {
                    node: Node {
                        value: Value::Seq(Vec::new()),
                        line,
                        column,
                    },
                    anchor,
                    pending_key: None,
                });
            }
            Event::MappingStart(anchor, _) => {
                self.stack.push(OpenCollection {
                    node: Node {
                        value: Value::Map(Vec::new()),
                        line,
                        column,
                    },
                    anchor,
                    pending_key: None,
                });
            }
            Event::SequenceEnd | Event::MappingEnd => {
                if let Some(OpenCollection {
                    mut node, anchor, ..
                }) = self.stack.pop()
                {
                    // A block mapping's start event is marked after its first key; the key's own
                    // position is where the mapping visibly starts.
                    if let Value::Map(entries) = &node.value {
                        if let Some(first) = entries.first() {
                            if (first.key_line, first.key_column) < (node.line, node.column) {
                                node.line = first.key_line;
                                node.column = first.key_column;
                            }
                        }
                    }
                    self.push_value(node, anchor);
                }
            }
            Event::Alias(id) => match self.anchors.get(&id) {
                Some(node) => {
                    let node = Node {
                        line,
                        column,
                        ..node.clone()
                    };
                    self.push_value(node, 0);
                }
                None => {
                    self.error = Some((
                        (line, column),
                        ManifestErrorKind::Syntax("unknown anchor".into()),
                    ));
                }
            },
            Event::DocumentStart => {
                self.anchors.clear();
            }
            Event::DocumentEnd | Event::Nothing | Event::StreamStart | Event::StreamEnd => {}
        }
    }
}

/// Builds the tree of every document. On an error, returns the documents completed before it
/// and the error; nothing after an error is read.
fn load_documents(text: &str) -> (Vec<Node>, Option<LoadError>) {
    let mut builder = TreeBuilder::default();
    let mut parser = Parser::new_from_str(text);
    let syntax = parser.load(&mut builder, true).err().map(|e| {
        let marker = e.marker();
        let (line, column) = (marker.line(), marker.col() + 1);
        let mut message = e.info().to_string();
        // A `[` or `{` left open is reported where the parser gives up, often lines later and
        // with an unrelated message ("invalid indentation"); name where it was opened.
        if let Some((open, at_line, at_column)) = builder.open_flow_collection(text, line) {
            message.push_str(&format!(
                " (inside the `{open}` opened at line {at_line}, column {at_column}: is its `{}` missing?)",
                if open == '[' { ']' } else { '}' }
            ));
        }
        ((line, column), ManifestErrorKind::Syntax(message))
    });
    // The builder stops at its own first error; the parser's error, if any, comes after it.
    let error = builder.error.or(syntax);
    (builder.docs, error)
}

impl TreeBuilder {
    /// The innermost open flow collection (`[` or `{`) that starts on a line before `line`: its
    /// bracket, line and column.
    fn open_flow_collection(&self, text: &str, line: usize) -> Option<(char, usize, usize)> {
        self.stack.iter().rev().find_map(|open| {
            if open.node.line >= line {
                return None;
            }
            let c = text
                .lines()
                .nth(open.node.line.checked_sub(1)?)?
                .chars()
                .nth(open.node.column.checked_sub(1)?)?;
            matches!(c, '[' | '{').then_some((c, open.node.line, open.node.column))
        })
    }
}

/// Resolves a scalar as go-yaml v2 (YAML 1.1), which Kubernetes uses, does.
fn resolve_scalar(text: String, style: TScalarStyle, tag: Option<&Tag>) -> Value {
    if let Some(tag) = tag {
        if tag.handle == "!!" || tag.handle == "tag:yaml.org,2002:" {
            match tag.suffix.as_str() {
                "str" | "binary" => return Value::Str(text),
                "null" => return Value::Null,
                _ => {}
            }
        }
    }
    if style != TScalarStyle::Plain {
        return Value::Str(text);
    }
    match text.as_str() {
        "" | "~" | "null" | "Null" | "NULL" => return Value::Null,
        "true" | "True" | "TRUE" | "y" | "Y" | "yes" | "Yes" | "YES" | "on" | "On" | "ON" => {
            return Value::Bool(true)
        }
        "false" | "False" | "FALSE" | "n" | "N" | "no" | "No" | "NO" | "off" | "Off" | "OFF" => {
            return Value::Bool(false)
        }
        ".inf" | ".Inf" | ".INF" | "+.inf" | "+.Inf" | "+.INF" => {
            return Value::Float(f64::INFINITY)
        }
        "-.inf" | "-.Inf" | "-.INF" => return Value::Float(f64::NEG_INFINITY),
        ".nan" | ".NaN" | ".NAN" => return Value::Float(f64::NAN),
        _ => {}
    }
    if let Some(i) = parse_yaml_int(&text) {
        return Value::Int(i);
    }
    if looks_like_float(&text) {
        if let Ok(f) = text.replace('_', "").parse::<f64>() {
            return Value::Float(f);
        }
    }
    Value::Str(text)
}

fn parse_yaml_int(text: &str) -> Option<i64> {
    let (neg, body) = match text.as_bytes().first()? {
        b'-' => (true, &text[1..]),
        b'+' => (false, &text[1..]),
        _ => (false, text),
    };
    let body = body.replace('_', "");
    if body.is_empty() {
        return None;
    }
    let magnitude = if let Some(hex) = body.strip_prefix("0x") {
        i64::from_str_radix(hex, 16).ok()?
    } else if let Some(bin) = body.strip_prefix("0b") {
        i64::from_str_radix(bin, 2).ok()?
    } else if let Some(oct) = body.strip_prefix("0o") {
        i64::from_str_radix(oct, 8).ok()?
    } else if body.len() > 1 && body.starts_with('0') {
        i64::from_str_radix(&body[1..], 8).ok()?
    } else if body.bytes().all(|c| c.is_ascii_digit()) {
        body.parse().ok()?
    } else {
        return None;
    };
    Some(if neg { -magnitude } else { magnitude })
}

fn looks_like_float(text: &str) -> bool {
    let t = text.trim_start_matches(['+', '-']);
    let mut digits = 0;
    let mut dots = 0;
    let mut exp = false;
    let mut prev_e = false;
    for c in t.chars() {
        match c {
            '0'..='9' => digits += 1,
            '_' => {}
            '.' if !exp => dots += 1,
            'e' | 'E' if digits > 0 && !exp => {
                exp = true;
                prev_e = true;
                continue;
            }
            '+' | '-' if prev_e => {}
            _ => return false,
        }
        prev_e = false;
    }
    digits > 0 && dots <= 1 && !prev_e
}

#[cfg(test)]
mod tests {
    use super::*;

    const POD: &str = "\
apiVersion: v1
kind: Pod
metadata:
  name: web
  labels: {app: web}
spec:
  containers:
  - name: web
    image: nginx:1.27
    imagePullPolicey: Always
    resources:
      limits:
        cpu: \"1.5.3\"
";

    #[test]
    fn reports_decode_errors_at_the_field() {
        let errs = parse_str("pod.yaml", POD).unwrap_err();
        assert_eq!(errs.len(), 1);
        let e = &errs[0];
        assert_eq!(
            e.path.as_ref().unwrap().to_string(),
            "spec.containers[0].resources.limits.cpu"
        );
        assert_eq!((e.location.line, e.location.column), (13, 9));
        assert!(
            e.to_string()
                .starts_with("pod.yaml:13:9: spec.containers[0].resources.limits.cpu: "),
            "{e}"
        );
        assert!(e.to_string().contains("1.5.3"), "{e}");
    }

    #[test]
    fn unknown_fields_are_warnings_with_their_path_and_position() {
        let text = POD.replace("\"1.5.3\"", "500m");
        let m = parse_str("pod.yaml", &text).unwrap();
        assert_eq!(m.objects.len(), 1);
        assert_eq!(m.warnings.len(), 1);
        let w = &m.warnings[0];
        assert_eq!(w.path.to_string(), "spec.containers[0].imagePullPolicey");
        assert_eq!(
            w.to_string(),
            "pod.yaml:10:5: spec.containers[0].imagePullPolicey: unknown field"
        );
    }

    #[test]
    fn validation_errors_point_at_the_field() {
        let text = POD
            .replace("\"1.5.3\"", "500m")
            .replace("    image: nginx:1.27\n", "");
        let m = parse_str("pod.yaml", &text).unwrap();
        let errs = m.check();
        assert_eq!(errs.len(), 1, "{errs:?}");
        assert_eq!(
            errs[0].to_string(),
            "pod.yaml:8:5: spec.containers[0].image: Required value"
        );
    }

    #[test]
    fn reads_multiple_documents_lists_and_skips_empty_ones() {
        let text = "\
---
apiVersion: v1
kind: Namespace
metadata: {name: a}
---
---
apiVersion: v1
kind: List
items:
- apiVersion: v1
  kind: ConfigMap
  metadata: {name: c, namespace: a}
  data: {k: v}
- apiVersion: v1
  kind: Namespace
  metadata: {name: b}
";
        let m = parse_str("all.yaml", text).unwrap();
        let names: Vec<(Kind, &str)> = m
            .objects
            .iter()
            .map(|o| (o.object.kind(), o.object.metadata().name.as_str()))
            .collect();
        assert_eq!(
            names,
            vec![
                (Kind::Namespace, "a"),
                (Kind::ConfigMap, "c"),
                (Kind::Namespace, "b")
            ]
        );
        assert_eq!(m.objects[1].location.line, 10);
    }

    #[test]
    fn unknown_kinds_and_missing_type_fields_are_errors() {
        let errs = parse_str(
            "x.yaml",
            "apiVersion: apps/v1\nkind: Deploymnt\nmetadata: {name: x}\n",
        )
        .unwrap_err();
        let text = errs[0].to_string();
        assert!(text.starts_with("x.yaml:2:1: kind: no kind \"Deploymnt\" is registered for version \"apps/v1\"; supported: "), "{text}");
        assert!(text.contains("apps/v1/Deployment"), "{text}");
        // A kind served under another version: the apiVersion is wrong, and the served one named.
        let errs = parse_str(
            "x.yaml",
            "kind: Deployment\napiVersion: extensions/v1beta1\nmetadata: {name: x}\n",
        )
        .unwrap_err();
        assert_eq!(
            errs[0].to_string(),
            "x.yaml:2:1: apiVersion: no kind \"Deployment\" is registered for version \
             \"extensions/v1beta1\"; supported: apps/v1/Deployment"
        );
        let errs = parse_str("x.yaml", "metadata: {name: x}\n").unwrap_err();
        assert_eq!(errs.len(), 2);
        assert_eq!(
            errs[0].to_string(),
            "x.yaml:1:1: apiVersion: Required value: must be a non-empty string"
        );
        assert_eq!(
            errs[1].to_string(),
            "x.yaml:1:1: kind: Required value: must be a non-empty string"
        );
        let errs = parse_str("x.yaml", "- a\n- b\n").unwrap_err();
        assert!(errs[0].to_string().contains("found a list"));
    }

    #[test]
    fn syntax_errors_and_duplicate_keys_have_positions() {
        let errs = parse_str(
            "bad.yaml",
            "apiVersion: v1\nkind: Pod\nmetadata:\n  name: [x\n",
        )
        .unwrap_err();
        assert_eq!(errs.len(), 1);
        assert!(errs[0].to_string().starts_with("bad.yaml:"), "{}", errs[0]);
        assert!(matches!(errs[0].kind, ManifestErrorKind::Syntax(_)));
        let errs = parse_str(
            "dup.yaml",
            "apiVersion: v1\nkind: Namespace\nmetadata: {name: a}\nkind: Pod\n",
        )
        .unwrap_err();
        assert_eq!(
            errs[0].kind,
            ManifestErrorKind::DuplicateKey {
                key: "kind".into(),
                first_line: 2
            }
        );
        assert_eq!((errs[0].location.line, errs[0].location.column), (4, 1));
        assert_eq!(
            errs[0].to_string(),
            "dup.yaml:4:1: key \"kind\" already set at line 2"
        );
    }

    #[test]
    fn scalars_resolve_as_kubernetes_yaml_does() {
        let plain = |s: &str| resolve_scalar(s.to_string(), TScalarStyle::Plain, None);
        assert_eq!(plain("0644"), Value::Int(420));
        assert_eq!(plain("0x1F"), Value::Int(31));
        assert_eq!(plain("-12"), Value::Int(-12));
        assert_eq!(plain("yes"), Value::Bool(true));
        assert_eq!(plain("Off"), Value::Bool(false));
        assert_eq!(plain("~"), Value::Null);
        assert_eq!(plain("0.5"), Value::Float(0.5));
        assert_eq!(plain("1e3"), Value::Float(1000.0));
        assert_eq!(plain("100m"), Value::Str("100m".into()));
        assert_eq!(plain("1.5.3"), Value::Str("1.5.3".into()));
        assert_eq!(plain("nginx:1.27"), Value::Str("nginx:1.27".into()));
        assert_eq!(
            resolve_scalar("0644".into(), TScalarStyle::DoubleQuoted, None),
            Value::Str("0644".into())
        );
    }

    #[test]
    fn anchors_aliases_and_merge_keys() {
        let text = "\
apiVersion: v1
kind: ConfigMap
metadata:
  name: c
  labels: &l {app: web, tier: front}
  annotations:
    <<: *l
    extra: x
    tier: back
data:
  copy: &v hello
  again: *v
";
        let m = parse_str("c.yaml", text).unwrap();
        let meta = m.objects[0].object.metadata();
        assert_eq!(meta.annotations.len(), 3);
        assert_eq!(meta.annotations["app"], "web");
        // A key of the mapping itself overrides the merged one; it is not a duplicate.
        assert_eq!(meta.annotations["tier"], "back");
        let Object::ConfigMap(cm) = &m.objects[0].object else {
            panic!("a ConfigMap")
        };
        assert_eq!(cm.data["again"], "hello");
    }

    #[test]
    fn a_byte_order_mark_is_not_part_of_the_first_key() {
        let text = "\u{feff}apiVersion: v1\nkind: Namespace\nmetadata: {name: bom}\n";
        let m = parse_str("bom.yaml", text).unwrap();
        assert_eq!(m.objects[0].object.metadata().name, "bom");
        assert_eq!(m.objects[0].location.column, 1);
    }

    #[test]
    fn json_manifests_read_too() {
        let text = r#"{"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "j"}}"#;
        let m = parse_str("ns.json", text).unwrap();
        assert_eq!(m.objects[0].object.metadata().name, "j");
    }

    #[test]
    fn decode_errors_are_worded_as_field_errors_where_kubernetes_has_one() {
        let path = FieldPath::new("spec").child("protocol");
        let (p, kind) = decode_error(
            path.clone(),
            "unknown variant `HTTP`, expected one of `TCP`, `UDP`, `SCTP`",
        );
        assert_eq!(p, path);
        assert_eq!(
            kind.to_string(),
            "Unsupported value: \"HTTP\": supported values: \"SCTP\", \"TCP\", \"UDP\""
        );
        let (_, kind) = decode_error(path.clone(), "unknown variant `x`, expected `A` or `B`");
        assert_eq!(
            kind.to_string(),
            "Unsupported value: \"x\": supported values: \"A\", \"B\""
        );
        let (p, kind) = decode_error(FieldPath::new("spec"), "missing field `name`");
        assert_eq!(p.to_string(), "spec.name");
        assert_eq!(kind.to_string(), "Required value");
        let (_, kind) = decode_error(path.clone(), "invalid type: string \"3\", expected i32");
        assert_eq!(
            kind.to_string(),
            "invalid type: string \"3\", expected int32"
        );
        let (_, kind) = decode_error(path, "invalid type: sequence, expected a map");
        assert_eq!(
            kind,
            ManifestErrorKind::Decode("invalid type: sequence, expected a map".into())
        );
    }

    #[test]
    fn check_str_reports_every_document_in_text_order() {
        let text = "\
apiVersion: v1
kind: Namespace
metadata: {name: Bad_Name}
---
apiVersion: v1
kind: Service
metadata: {name: s}
spec:
  ports: [{port: 80, protocol: HTTP}]
---
apiVersion: v1
kind: ConfigMap
metadata: {name: ok}
";
        let checked = check_str("m.yaml", text);
        assert!(!checked.is_valid());
        let errors: Vec<String> = checked.errors.iter().map(ToString::to_string).collect();
        assert_eq!(errors.len(), 2, "{errors:#?}");
        assert!(
            errors[0].starts_with("m.yaml:3:12: metadata.name: Invalid value: \"Bad_Name\""),
            "{}",
            errors[0]
        );
        assert!(
            errors[1].starts_with("m.yaml:9:22: spec.ports[0].protocol: Unsupported value"),
            "{}",
            errors[1]
        );
        // The objects that decoded are kept, valid or not.
        let names: Vec<&str> = checked
            .manifests
            .objects
            .iter()
            .map(|o| o.object.metadata().name.as_str())
            .collect();
        assert_eq!(names, ["Bad_Name", "ok"]);
        // parse_str fails on the decode error alone and returns no objects.
        assert_eq!(parse_str("m.yaml", text).unwrap_err().len(), 1);
        assert!(check_str(
            "m.yaml",
            "apiVersion: v1\nkind: Namespace\nmetadata: {name: a}\n"
        )
        .is_valid());
    }

    #[test]
    fn documents_before_a_syntax_error_are_still_read() {
        let text = "apiVersion: v1\nkind: Namespace\nmetadata: {name: A}\n---\nkey: [x\n";
        let checked = check_str("s.yaml", text);
        assert_eq!(checked.manifests.objects.len(), 1);
        let errors: Vec<String> = checked.errors.iter().map(ToString::to_string).collect();
        assert_eq!(errors.len(), 2, "{errors:#?}");
        assert!(
            errors[0].starts_with("s.yaml:3:12: metadata.name: "),
            "{}",
            errors[0]
        );
        assert!(
            errors[1].starts_with("s.yaml:6:1: invalid YAML: "),
            "{}",
            errors[1]
        );
    }

    #[test]
    fn invalid_map_keys_point_at_the_key() {
        let text = "\
apiVersion: v1
kind: ConfigMap
metadata:
  name: c
  labels:
    good: yes-it-is
    bad key: x
";
        let errs = parse_str("c.yaml", text).unwrap().check();
        assert_eq!(errs.len(), 1, "{errs:?}");
        assert_eq!(
            errs[0].path.as_ref().unwrap().to_string(),
            "metadata.labels"
        );
        assert_eq!((errs[0].location.line, errs[0].location.column), (7, 5));
    }

    #[test]
    fn warnings_come_in_text_order() {
        // serde visits keys sorted (b before z); the warnings follow the text (z first).
        let text = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\nzz: 1\nbb: 2\n";
        let m = parse_str("w.yaml", text).unwrap();
        let paths: Vec<String> = m.warnings.iter().map(|w| w.path.to_string()).collect();
        assert_eq!(paths, ["zz", "bb"]);
    }

    #[test]
    fn an_unclosed_flow_collection_is_named_in_the_syntax_error() {
        let text = "\
apiVersion: v1
kind: Pod
metadata: {name: p}
spec:
  containers:
  - name: c
    command: [\"sh\", \"-c\"
    image: busybox
";
        let errs = parse_str("f.yaml", text).unwrap_err();
        assert_eq!(errs.len(), 1);
        let message = errs[0].to_string();
        assert!(
            message.starts_with("f.yaml:8:5: invalid YAML: "),
            "{message}"
        );
        assert!(
            message.ends_with("(inside the `[` opened at line 7, column 14: is its `]` missing?)"),
            "{message}"
        );
        // A flow collection on the line of the error is not blamed.
        let errs = parse_str("g.yaml", "a: [b, c: d: e]\n").unwrap_err();
        assert!(!errs[0].to_string().contains("opened at"), "{}", errs[0]);
    }
}
