//! Label selectors and field selectors, with the syntax and semantics of Kubernetes'
//! `k8s.io/apimachinery/pkg/labels` and `pkg/fields`.
//!
//! Two forms of label selector exist:
//!
//! - [`LabelSelector`], the structured form written in specs (`spec.selector` of a Deployment:
//!   `matchLabels` and `matchExpressions`), with its server-side validation
//!   [`validate_label_selector`];
//! - [`Selector`], the parsed string form used by `kubectl get -l` and by controllers and the
//!   scheduler at run time: `app=web,tier!=db,env in (a,b),!canary,version,replicas>2`. It is a
//!   list of [`Requirement`]s, all of which must hold.
//!
//! [`LabelSelector::to_selector`] converts the first into the second (Kubernetes'
//! `metav1.LabelSelectorAsSelector`), [`Selector::to_label_selector`] goes back where the operators
//! allow it.
//!
//! [`FieldSelector`] is the string form that selects objects by field values
//! (`metadata.name=web,spec.nodeName!=,status.phase==Running`); which fields a kind supports is
//! up to the store.
//!
//! ```
//! use flotilla_model::selector::{LabelSelector, Selector};
//! use flotilla_model::Labels;
//!
//! let selector = Selector::parse("tier!=db, app = web, env in (prod,staging), !canary")?;
//! assert_eq!(selector.to_string(), "app=web,!canary,env in (prod,staging),tier!=db");
//!
//! let labels: Labels = [("app", "web"), ("env", "prod")]
//!     .into_iter()
//!     .map(|(k, v)| (k.to_string(), v.to_string()))
//!     .collect();
//! assert!(selector.matches(&labels));
//!
//! let structured: LabelSelector = selector.to_label_selector()?;
//! assert_eq!(structured.match_labels["app"], "web");
//! assert!(structured.matches(&labels));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::meta::{validate_labels, Labels};
use crate::validation::{
    check_syntax, is_label_value, is_qualified_name, ErrorList, FieldError, FieldPath,
};

// ---------------------------------------------------------------------------------------------
// LabelSelector: the structured form (metav1.LabelSelector).
// ---------------------------------------------------------------------------------------------

/// A label selector as written in specs (`spec.selector` of a Deployment).
///
/// The requirements are ANDed. An empty selector matches every object; a missing one (`None`
/// where the API uses `Option<LabelSelector>`) matches nothing.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LabelSelector {
    /// Labels that must be present with exactly these values.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub match_labels: BTreeMap<String, String>,
    /// Set-based requirements.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub match_expressions: Vec<LabelSelectorRequirement>,
}

/// One set-based requirement of a [`LabelSelector`].
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LabelSelectorRequirement {
    /// The label key.
    pub key: String,
    /// How the key relates to the values.
    pub operator: LabelSelectorOperator,
    /// The values for `In` and `NotIn`; empty for `Exists` and `DoesNotExist`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub values: Vec<String>,
}

/// The operator of a [`LabelSelectorRequirement`].
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize,
)]
pub enum LabelSelectorOperator {
    /// The label's value is one of the values.
    #[default]
    In,
    /// The label is absent or its value is none of the values.
    NotIn,
    /// The label is present.
    Exists,
    /// The label is absent.
    DoesNotExist,
}

impl From<LabelSelectorOperator> for Operator {
    fn from(op: LabelSelectorOperator) -> Operator {
        match op {
            LabelSelectorOperator::In => Operator::In,
            LabelSelectorOperator::NotIn => Operator::NotIn,
            LabelSelectorOperator::Exists => Operator::Exists,
            LabelSelectorOperator::DoesNotExist => Operator::DoesNotExist,
        }
    }
}

impl LabelSelector {
    /// Whether the selector has no requirements, and so matches every set of labels.
    pub fn is_empty(&self) -> bool {
        self.match_labels.is_empty() && self.match_expressions.is_empty()
    }

    /// Whether `labels` satisfy every `matchLabels` entry and every `matchExpressions`
    /// requirement.
    ///
    /// A selector that [`LabelSelector::to_selector`] rejects (an `In` without values, a key
    /// that is not a qualified name, …) matches nothing, as Kubernetes' controllers treat a
    /// selector they cannot convert. So `s.matches(l)` is always
    /// `s.to_selector().is_ok_and(|s| s.matches(l))`, computed without building the
    /// [`Selector`].
    pub fn matches(&self, labels: &Labels) -> bool {
        self.match_labels.iter().all(|(key, value)| {
            labels.get(key) == Some(value)
                && check_key(key).is_ok()
                && check_label_value(key, value).is_ok()
        }) && self.match_expressions.iter().all(|expr| {
            let op = Operator::from(expr.operator);
            op.evaluate(labels.get(&expr.key).map(String::as_str), &expr.values)
                && check_requirement(&expr.key, op, &expr.values).is_ok()
        })
    }

    /// The equivalent parsed [`Selector`] (Kubernetes' `metav1.LabelSelectorAsSelector`): one
    /// `=` requirement per `matchLabels` entry and one requirement per expression. An empty
    /// selector gives [`Selector::everything`].
    ///
    /// Fails on the first requirement [`Requirement::new`] rejects; [`validate_label_selector`]
    /// reports every problem with its field path instead.
    pub fn to_selector(&self) -> Result<Selector, RequirementError> {
        let mut requirements =
            Vec::with_capacity(self.match_labels.len() + self.match_expressions.len());
        for (key, value) in &self.match_labels {
            requirements.push(Requirement::new(
                key.as_str(),
                Operator::Equals,
                vec![value.clone()],
            )?);
        }
        for expr in &self.match_expressions {
            requirements.push(Requirement::new(
                expr.key.as_str(),
                expr.operator.into(),
                expr.values.clone(),
            )?);
        }
        Ok(Selector::new(requirements))
    }
}

/// Validates a label selector as the API server's `ValidateLabelSelector` does, collecting every
/// error under `path` (`spec.selector`):
///
/// - `matchLabels` keys must be qualified names and values label values, checked as
///   [`validate_labels`] checks `metadata.labels` (a bad value is reported at
///   `matchLabels[key]`, one step more precise than Kubernetes' `matchLabels`);
/// - an `In` or `NotIn` expression needs `values`, an `Exists` or `DoesNotExist` one may not
///   have any;
/// - expression keys must be qualified names and their values label values.
///
/// An unknown `operator` never gets here: it fails deserialization. A missing selector (`None`)
/// is valid for this check; kinds that require one say so themselves.
pub fn validate_label_selector(selector: &LabelSelector, path: &FieldPath) -> ErrorList {
    let mut errs = validate_labels(&selector.match_labels, &path.child("matchLabels"));
    for (i, expr) in selector.match_expressions.iter().enumerate() {
        let expr_path = path.child("matchExpressions").index(i);
        let values_path = expr_path.child("values");
        // apimachinery/pkg/apis/meta/v1/validation: ValidateLabelSelectorRequirement.
        match expr.operator {
            LabelSelectorOperator::In | LabelSelectorOperator::NotIn => {
                if expr.values.is_empty() {
                    errs.push(FieldError::required(
                        &values_path,
                        "must be specified when `operator` is 'In' or 'NotIn'",
                    ));
                }
            }
            LabelSelectorOperator::Exists | LabelSelectorOperator::DoesNotExist => {
                if !expr.values.is_empty() {
                    errs.push(FieldError::forbidden(
                        &values_path,
                        "may not be specified when `operator` is 'Exists' or 'DoesNotExist'",
                    ));
                }
            }
        }
        check_syntax(
            &mut errs,
            &expr_path.child("key"),
            &expr.key,
            is_qualified_name,
        );
        for (j, value) in expr.values.iter().enumerate() {
            check_syntax(&mut errs, &values_path.index(j), value, is_label_value);
        }
    }
    errs
}

// ---------------------------------------------------------------------------------------------
// Selector: the parsed form (labels.Selector).
// ---------------------------------------------------------------------------------------------

/// The operator of a [`Requirement`] (Kubernetes' `selection.Operator`).
///
/// The variants are ordered as [`Selector`] orders requirements on the same key.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Operator {
    /// `key=value`: the label is present with this value.
    Equals,
    /// `key==value`: the same as [`Operator::Equals`], kept apart so the string form survives.
    DoubleEquals,
    /// `key!=value`: the label is absent or has another value.
    NotEquals,
    /// `key in (a,b)`: the label is present with one of the values.
    In,
    /// `key notin (a,b)`: the label is absent or has none of the values.
    NotIn,
    /// `key`: the label is present.
    Exists,
    /// `!key`: the label is absent.
    DoesNotExist,
    /// `key>n`: the label is present and its value is an integer greater than `n`.
    GreaterThan,
    /// `key<n`: the label is present and its value is an integer less than `n`.
    LessThan,
}

impl Operator {
    /// Kubernetes' name for the operator: `=`, `==`, `!=`, `in`, `notin`, `exists`, `!`, `gt`,
    /// `lt`.
    pub fn as_str(self) -> &'static str {
        match self {
            Operator::Equals => "=",
            Operator::DoubleEquals => "==",
            Operator::NotEquals => "!=",
            Operator::In => "in",
            Operator::NotIn => "notin",
            Operator::Exists => "exists",
            Operator::DoesNotExist => "!",
            Operator::GreaterThan => "gt",
            Operator::LessThan => "lt",
        }
    }

    /// Whether `count` values are right for this operator.
    fn takes(self, count: usize) -> bool {
        match self {
            Operator::In | Operator::NotIn => count > 0,
            Operator::Exists | Operator::DoesNotExist => count == 0,
            Operator::Equals
            | Operator::DoubleEquals
            | Operator::NotEquals
            | Operator::GreaterThan
            | Operator::LessThan => count == 1,
        }
    }

    /// How many values the operator takes, in words, for error messages.
    fn value_count_rule(self) -> &'static str {
        match self {
            Operator::In | Operator::NotIn => "at least one value",
            Operator::Exists | Operator::DoesNotExist => "no values",
            _ => "exactly one value",
        }
    }

    /// Whether a label whose value is `actual` (`None` when absent) satisfies this operator with
    /// `values` (Kubernetes' `Requirement.Matches`). Values of `>` and `<` that are not integers
    /// never match.
    fn evaluate(self, actual: Option<&str>, values: &[String]) -> bool {
        let listed = |v: &str| values.iter().any(|x| x == v);
        match self {
            Operator::Equals | Operator::DoubleEquals | Operator::In => actual.is_some_and(listed),
            Operator::NotEquals | Operator::NotIn => !actual.is_some_and(listed),
            Operator::Exists => actual.is_some(),
            Operator::DoesNotExist => actual.is_none(),
            Operator::GreaterThan | Operator::LessThan => {
                let (Some(actual), [bound]) = (actual, values) else {
                    return false;
                };
                match (actual.parse::<i64>(), bound.parse::<i64>()) {
                    (Ok(a), Ok(b)) if self == Operator::GreaterThan => a > b,
                    (Ok(a), Ok(b)) => a < b,
                    _ => false,
                }
            }
        }
    }
}

impl fmt::Display for Operator {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why a [`Requirement`] (or the [`LabelSelector`] it comes from) is invalid.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum RequirementError {
    /// The key is not a qualified name (`app`, `app.kubernetes.io/name`).
    #[error("invalid label key {key:?}: {reason}")]
    InvalidKey {
        /// The key.
        key: String,
        /// What is wrong with it, as the API server words it.
        reason: String,
    },
    /// A value is not a valid label value.
    #[error("invalid value {value:?} for label {key:?}: {reason}")]
    InvalidValue {
        /// The key of the requirement.
        key: String,
        /// The value.
        value: String,
        /// What is wrong with it, as the API server words it.
        reason: String,
    },
    /// The operator takes a different number of values (`in` at least one, `exists` none, the
    /// others exactly one).
    #[error(
        "operator '{operator}' on label {key:?} takes {}, not {count}",
        .operator.value_count_rule()
    )]
    WrongValueCount {
        /// The key of the requirement.
        key: String,
        /// The operator.
        operator: Operator,
        /// How many values were given.
        count: usize,
    },
    /// The value of a `gt` or `lt` requirement is not a 64-bit integer.
    #[error("value {value:?} for label {key:?} must be an integer for operator '{operator}'")]
    NotAnInteger {
        /// The key of the requirement.
        key: String,
        /// The operator.
        operator: Operator,
        /// The value.
        value: String,
    },
}

fn check_key(key: &str) -> Result<(), RequirementError> {
    let reasons = is_qualified_name(key);
    if reasons.is_empty() {
        Ok(())
    } else {
        Err(RequirementError::InvalidKey {
            key: key.to_string(),
            reason: reasons.join("; "),
        })
    }
}

fn check_label_value(key: &str, value: &str) -> Result<(), RequirementError> {
    let reasons = is_label_value(value);
    if reasons.is_empty() {
        Ok(())
    } else {
        Err(RequirementError::InvalidValue {
            key: key.to_string(),
            value: value.to_string(),
            reason: reasons.join("; "),
        })
    }
}

fn check_integer(key: &str, operator: Operator, value: &str) -> Result<(), RequirementError> {
    match value.parse::<i64>() {
        Ok(_) => Ok(()),
        Err(_) => Err(RequirementError::NotAnInteger {
            key: key.to_string(),
            operator,
            value: value.to_string(),
        }),
    }
}

/// The rules of Kubernetes' `labels.NewRequirement`, in its order: the key, the number of
/// values, integers for `gt`/`lt`, then each value's syntax.
fn check_requirement(
    key: &str,
    operator: Operator,
    values: &[String],
) -> Result<(), RequirementError> {
    check_key(key)?;
    if !operator.takes(values.len()) {
        return Err(RequirementError::WrongValueCount {
            key: key.to_string(),
            operator,
            count: values.len(),
        });
    }
    if matches!(operator, Operator::GreaterThan | Operator::LessThan) {
        for value in values {
            check_integer(key, operator, value)?;
        }
    }
    for value in values {
        check_label_value(key, value)?;
    }
    Ok(())
}

/// One requirement of a [`Selector`]: a label key, an operator and values.
///
/// A `Requirement` is always valid: it is built by [`Requirement::new`] or by the parser, which
/// check the key, the values and their number. Its values are kept sorted and without
/// duplicates, so two requirements that mean the same set compare equal.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Requirement {
    // Field order matters: the derived `Ord` sorts by key, then operator, then values.
    key: String,
    operator: Operator,
    values: Vec<String>,
}

impl Requirement {
    /// A requirement, checked as Kubernetes' `labels.NewRequirement` checks it: the key is a
    /// qualified name, every value a label value (the empty string included); `In` and `NotIn`
    /// take at least one value, `Exists` and `DoesNotExist` none, the other operators exactly
    /// one, and that of `GreaterThan` and `LessThan` must be an integer.
    pub fn new(
        key: impl Into<String>,
        operator: Operator,
        mut values: Vec<String>,
    ) -> Result<Requirement, RequirementError> {
        let key = key.into();
        check_requirement(&key, operator, &values)?;
        values.sort();
        values.dedup();
        Ok(Requirement {
            key,
            operator,
            values,
        })
    }

    /// `key` (the label is present).
    pub fn exists(key: impl Into<String>) -> Result<Requirement, RequirementError> {
        Requirement::new(key, Operator::Exists, Vec::new())
    }

    /// `!key` (the label is absent).
    pub fn does_not_exist(key: impl Into<String>) -> Result<Requirement, RequirementError> {
        Requirement::new(key, Operator::DoesNotExist, Vec::new())
    }

    /// `key=value`.
    pub fn equals(
        key: impl Into<String>,
        value: impl Into<String>,
    ) -> Result<Requirement, RequirementError> {
        Requirement::new(key, Operator::Equals, vec![value.into()])
    }

    /// The label key.
    pub fn key(&self) -> &str {
        &self.key
    }

    /// The operator.
    pub fn operator(&self) -> Operator {
        self.operator
    }

    /// The values, sorted and without duplicates; empty for `Exists` and `DoesNotExist`.
    pub fn values(&self) -> &[String] {
        &self.values
    }

    /// Whether `labels` satisfy the requirement. A `NotIn` or `!=` requirement matches when the
    /// label is absent; `>` and `<` match only labels whose value is an integer.
    pub fn matches(&self, labels: &Labels) -> bool {
        self.operator
            .evaluate(labels.get(&self.key).map(String::as_str), &self.values)
    }
}

impl fmt::Display for Requirement {
    /// The string form Kubernetes prints: `!key`, `key`, `key=v`, `key==v`, `key!=v`,
    /// `key in (a,b)`, `key notin (a,b)`, `key>n`, `key<n`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let single = || self.values.first().map_or("", String::as_str);
        match self.operator {
            Operator::Exists => f.write_str(&self.key),
            Operator::DoesNotExist => write!(f, "!{}", self.key),
            Operator::Equals => write!(f, "{}={}", self.key, single()),
            Operator::DoubleEquals => write!(f, "{}=={}", self.key, single()),
            Operator::NotEquals => write!(f, "{}!={}", self.key, single()),
            Operator::GreaterThan => write!(f, "{}>{}", self.key, single()),
            Operator::LessThan => write!(f, "{}<{}", self.key, single()),
            Operator::In => write!(f, "{} in ({})", self.key, self.values.join(",")),
            Operator::NotIn => write!(f, "{} notin ({})", self.key, self.values.join(",")),
        }
    }
}

/// A parsed label selector: requirements that must all hold (Kubernetes' `labels.Selector`).
///
/// Requirements are kept sorted by key (then operator, then values), so equal selectors compare
/// equal and [`Display`](fmt::Display) prints Kubernetes' canonical form:
/// `app=web,!canary,env in (a,b)`. The empty selector, [`Selector::everything`], matches every
/// set of labels. Serialized as its string form.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct Selector {
    requirements: Vec<Requirement>,
}

impl Selector {
    /// The selector with no requirements, which matches everything.
    pub fn everything() -> Selector {
        Selector::default()
    }

    /// A selector of these requirements (in any order).
    pub fn new(requirements: impl IntoIterator<Item = Requirement>) -> Selector {
        let mut requirements: Vec<Requirement> = requirements.into_iter().collect();
        requirements.sort();
        Selector { requirements }
    }

    /// The selector `key=value` for every entry of `labels`, such as a Service's or a
    /// ReplicationController's `spec.selector` (Kubernetes' `ValidatedSelectorFromSet`). An
    /// empty map gives [`Selector::everything`].
    pub fn from_labels(labels: &Labels) -> Result<Selector, RequirementError> {
        labels
            .iter()
            .map(|(k, v)| Requirement::equals(k.as_str(), v.as_str()))
            .collect()
    }

    /// Parses the string form, following the lexer and parser of Kubernetes' `labels.Parse`:
    ///
    /// ```text
    /// selector    ::= "" | requirement ( "," requirement )*
    /// requirement ::= "!" KEY | KEY | KEY ( "=" | "==" | "!=" | ">" | "<" ) VALUE
    ///               | KEY ( "in" | "notin" ) "(" VALUE ( "," VALUE )* ")"
    /// ```
    ///
    /// Blanks (space, tab, CR, LF) may surround every token. A VALUE may be empty (`env=`,
    /// `env in (a,)`, `env in ()`), and `in` and `notin` are ordinary words where a key or a
    /// value is expected (`in in (notin)`). Keys must be qualified names and values label
    /// values; `>` and `<` take integers.
    pub fn parse(input: &str) -> Result<Selector, SelectorParseError> {
        Parser {
            tokens: lex(input),
            next: 0,
        }
        .selector()
    }

    /// Whether the selector has no requirements, and so matches everything.
    pub fn is_empty(&self) -> bool {
        self.requirements.is_empty()
    }

    /// Whether `labels` satisfy every requirement.
    pub fn matches(&self, labels: &Labels) -> bool {
        self.requirements.iter().all(|r| r.matches(labels))
    }

    /// The requirements, sorted by key.
    pub fn requirements(&self) -> &[Requirement] {
        &self.requirements
    }

    /// Adds a requirement, keeping the order.
    pub fn add(&mut self, requirement: Requirement) {
        let at = self.requirements.partition_point(|r| *r <= requirement);
        self.requirements.insert(at, requirement);
    }

    /// The value the selector requires `key` to have, if its first requirement on `key` is `=`,
    /// `==` or an `in` with a single value (Kubernetes' `RequiresExactMatch`); lets a caller
    /// look objects up by that label instead of scanning.
    pub fn requires_exact_match(&self, key: &str) -> Option<&str> {
        let r = self.requirements.iter().find(|r| r.key == key)?;
        match (r.operator, r.values.as_slice()) {
            (Operator::Equals | Operator::DoubleEquals | Operator::In, [value]) => Some(value),
            _ => None,
        }
    }

    /// The equivalent structured selector (Kubernetes' `metav1.ParseToLabelSelector`, extended
    /// to `!=`): `=` and `==` become `matchLabels` entries, `!=` a `NotIn` of its value, and the
    /// set operators expressions of the same name. A second `=` on a key already in
    /// `matchLabels` with another value becomes an `In` expression, so the result still matches
    /// nothing. `>` and `<` have no structured form.
    pub fn to_label_selector(&self) -> Result<LabelSelector, UnsupportedOperator> {
        let mut out = LabelSelector::default();
        for r in &self.requirements {
            let (operator, values) = match r.operator {
                Operator::Equals | Operator::DoubleEquals => {
                    let value = r.values.first().cloned().unwrap_or_default();
                    match out.match_labels.get(&r.key) {
                        None => {
                            out.match_labels.insert(r.key.clone(), value);
                            continue;
                        }
                        Some(existing) if *existing == value => continue,
                        Some(_) => (LabelSelectorOperator::In, vec![value]),
                    }
                }
                Operator::NotEquals => (LabelSelectorOperator::NotIn, r.values.clone()),
                Operator::In => (LabelSelectorOperator::In, r.values.clone()),
                Operator::NotIn => (LabelSelectorOperator::NotIn, r.values.clone()),
                Operator::Exists => (LabelSelectorOperator::Exists, Vec::new()),
                Operator::DoesNotExist => (LabelSelectorOperator::DoesNotExist, Vec::new()),
                Operator::GreaterThan | Operator::LessThan => {
                    return Err(UnsupportedOperator {
                        key: r.key.clone(),
                        operator: r.operator,
                    })
                }
            };
            out.match_expressions.push(LabelSelectorRequirement {
                key: r.key.clone(),
                operator,
                values,
            });
        }
        Ok(out)
    }
}

impl FromIterator<Requirement> for Selector {
    fn from_iter<I: IntoIterator<Item = Requirement>>(iter: I) -> Selector {
        Selector::new(iter)
    }
}

impl<'a> IntoIterator for &'a Selector {
    type Item = &'a Requirement;
    type IntoIter = std::slice::Iter<'a, Requirement>;

    fn into_iter(self) -> Self::IntoIter {
        self.requirements.iter()
    }
}

impl fmt::Display for Selector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, r) in self.requirements.iter().enumerate() {
            if i > 0 {
                f.write_str(",")?;
            }
            write!(f, "{r}")?;
        }
        Ok(())
    }
}

impl FromStr for Selector {
    type Err = SelectorParseError;

    fn from_str(s: &str) -> Result<Selector, SelectorParseError> {
        Selector::parse(s)
    }
}

impl Serialize for Selector {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Selector {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Selector, D::Error> {
        let s = String::deserialize(deserializer)?;
        Selector::parse(&s).map_err(serde::de::Error::custom)
    }
}

/// A [`Selector`] requirement that a [`LabelSelector`] cannot express (`>` and `<`).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("operator '{operator}' on label {key:?} has no label selector equivalent")]
pub struct UnsupportedOperator {
    /// The key of the requirement.
    pub key: String,
    /// Its operator.
    pub operator: Operator,
}

/// Why a label selector string does not parse. Positions are byte offsets from the start of the
/// string (0 for the first character; the string's length for its end).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum SelectorParseError {
    /// The grammar does not allow this token here.
    #[error("at position {position}: found {found}, expected {expected}")]
    Unexpected {
        /// Where the token starts.
        position: usize,
        /// The token, quoted (`'=='`, `'web'`), or `end of string`.
        found: String,
        /// What the grammar allows here.
        expected: &'static str,
    },
    /// The requirement starting or continuing at `position` is well formed but invalid (a key
    /// that is not a qualified name, a bad value, a `>` bound that is not an integer).
    #[error("at position {position}: {requirement}")]
    Invalid {
        /// Where the offending key or value starts.
        position: usize,
        /// What is wrong.
        requirement: RequirementError,
    },
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Tok<'a> {
    End,
    Ident(&'a str),
    In,
    NotIn,
    OpenParen,
    CloseParen,
    Comma,
    Bang,
    Equals,
    DoubleEquals,
    NotEquals,
    GreaterThan,
    LessThan,
}

impl Tok<'_> {
    fn describe(self) -> String {
        let symbol = match self {
            Tok::End => return "end of string".to_string(),
            Tok::Ident(word) => word,
            Tok::In => "in",
            Tok::NotIn => "notin",
            Tok::OpenParen => "(",
            Tok::CloseParen => ")",
            Tok::Comma => ",",
            Tok::Bang => "!",
            Tok::Equals => "=",
            Tok::DoubleEquals => "==",
            Tok::NotEquals => "!=",
            Tok::GreaterThan => ">",
            Tok::LessThan => "<",
        };
        format!("'{symbol}'")
    }
}

#[derive(Clone, Copy, Debug)]
struct Token<'a> {
    tok: Tok<'a>,
    position: usize,
}

/// Whether the parser is reading a key and operator, or values: in values (and keys), `in` and
/// `notin` are plain words.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Context {
    Operator,
    Values,
}

fn is_blank(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\r' | b'\n')
}

fn is_symbol(b: u8) -> bool {
    matches!(b, b'=' | b'!' | b'(' | b')' | b',' | b'>' | b'<')
}

/// Splits the input into tokens, ending with [`Tok::End`]. A word is a run of anything but
/// blanks and the symbols `=!(),<>`; of the symbols, `==` and `!=` are read as one token.
/// Symbols and blanks are ASCII, so every slice boundary is a character boundary.
fn lex(input: &str) -> Vec<Token<'_>> {
    let bytes = input.as_bytes();
    let mut tokens = Vec::new();
    let mut i = 0;
    loop {
        while i < bytes.len() && is_blank(bytes[i]) {
            i += 1;
        }
        let position = i;
        let Some(&first) = bytes.get(i) else {
            tokens.push(Token {
                tok: Tok::End,
                position,
            });
            return tokens;
        };
        let tok = if is_symbol(first) {
            let (tok, len) = match (first, bytes.get(i + 1)) {
                (b'=', Some(b'=')) => (Tok::DoubleEquals, 2),
                (b'!', Some(b'=')) => (Tok::NotEquals, 2),
                (b'=', _) => (Tok::Equals, 1),
                (b'!', _) => (Tok::Bang, 1),
                (b'(', _) => (Tok::OpenParen, 1),
                (b')', _) => (Tok::CloseParen, 1),
                (b',', _) => (Tok::Comma, 1),
                (b'>', _) => (Tok::GreaterThan, 1),
                _ => (Tok::LessThan, 1),
            };
            i += len;
            tok
        } else {
            while i < bytes.len() && !is_blank(bytes[i]) && !is_symbol(bytes[i]) {
                i += 1;
            }
            match &input[position..i] {
                "in" => Tok::In,
                "notin" => Tok::NotIn,
                word => Tok::Ident(word),
            }
        };
        tokens.push(Token { tok, position });
    }
}

struct Parser<'a> {
    tokens: Vec<Token<'a>>,
    next: usize,
}

impl<'a> Parser<'a> {
    /// The next token, without consuming it; the end token repeats forever.
    fn peek(&self, context: Context) -> Token<'a> {
        let mut t = self.tokens[self.next.min(self.tokens.len() - 1)];
        if context == Context::Values {
            t.tok = match t.tok {
                Tok::In => Tok::Ident("in"),
                Tok::NotIn => Tok::Ident("notin"),
                other => other,
            };
        }
        t
    }

    fn bump(&mut self, context: Context) -> Token<'a> {
        let t = self.peek(context);
        self.next += 1;
        t
    }

    fn selector(mut self) -> Result<Selector, SelectorParseError> {
        let mut requirements = Vec::new();
        if self.peek(Context::Values).tok == Tok::End {
            return Ok(Selector::everything());
        }
        loop {
            let t = self.peek(Context::Values);
            if !matches!(t.tok, Tok::Ident(_) | Tok::Bang) {
                return Err(unexpected(t, "'!', a label key or end of string"));
            }
            requirements.push(self.requirement()?);
            let t = self.bump(Context::Values);
            match t.tok {
                Tok::End => return Ok(Selector::new(requirements)),
                Tok::Comma => {
                    let t = self.peek(Context::Values);
                    if !matches!(t.tok, Tok::Ident(_) | Tok::Bang) {
                        return Err(unexpected(t, "'!' or a label key after ','"));
                    }
                }
                _ => return Err(unexpected(t, "',' or end of string")),
            }
        }
    }

    fn requirement(&mut self) -> Result<Requirement, SelectorParseError> {
        let mut t = self.bump(Context::Values);
        let negated = t.tok == Tok::Bang;
        if negated {
            t = self.bump(Context::Values);
        }
        let Tok::Ident(key) = t.tok else {
            return Err(unexpected(t, "a label key"));
        };
        check_key(key).map_err(|e| invalid(t.position, e))?;
        let key = key.to_string();
        // `!key` stands alone; whatever follows it must be ',' or the end (checked by the caller).
        if negated {
            return Ok(Requirement {
                key,
                operator: Operator::DoesNotExist,
                values: Vec::new(),
            });
        }
        if matches!(self.peek(Context::Values).tok, Tok::End | Tok::Comma) {
            return Ok(Requirement {
                key,
                operator: Operator::Exists,
                values: Vec::new(),
            });
        }
        let t = self.bump(Context::Operator);
        let operator = match t.tok {
            Tok::Equals => Operator::Equals,
            Tok::DoubleEquals => Operator::DoubleEquals,
            Tok::NotEquals => Operator::NotEquals,
            Tok::In => Operator::In,
            Tok::NotIn => Operator::NotIn,
            Tok::GreaterThan => Operator::GreaterThan,
            Tok::LessThan => Operator::LessThan,
            _ => {
                return Err(unexpected(
                    t,
                    "an operator ('=', '==', '!=', 'in', 'notin', '>' or '<')",
                ))
            }
        };
        let values = match operator {
            Operator::In | Operator::NotIn => self.value_set()?,
            _ => vec![self.single_value()?],
        };
        for &(value, position) in &values {
            if matches!(operator, Operator::GreaterThan | Operator::LessThan) {
                check_integer(&key, operator, value).map_err(|e| invalid(position, e))?;
            }
            check_label_value(&key, value).map_err(|e| invalid(position, e))?;
        }
        let mut values: Vec<String> = values.into_iter().map(|(v, _)| v.to_string()).collect();
        values.sort();
        values.dedup();
        Ok(Requirement {
            key,
            operator,
            values,
        })
    }

    /// The value after `=`, `==`, `!=`, `>` or `<`: a word, or nothing (the empty value) when
    /// the requirement ends there.
    fn single_value(&mut self) -> Result<(&'a str, usize), SelectorParseError> {
        let t = self.peek(Context::Values);
        match t.tok {
            Tok::End | Tok::Comma => Ok(("", t.position)),
            Tok::Ident(value) => {
                self.next += 1;
                Ok((value, t.position))
            }
            _ => Err(unexpected(t, "a value")),
        }
    }

    /// `( v1, v2, … )`: comma-separated values, each a word or nothing (the empty value), so
    /// `()`, `(,)` and `(a,)` are all accepted.
    fn value_set(&mut self) -> Result<Vec<(&'a str, usize)>, SelectorParseError> {
        let t = self.bump(Context::Values);
        if t.tok != Tok::OpenParen {
            return Err(unexpected(t, "'('"));
        }
        let mut values = Vec::new();
        let mut at_item_start = true;
        loop {
            let t = self.bump(Context::Values);
            match t.tok {
                Tok::Ident(value) if at_item_start => {
                    values.push((value, t.position));
                    at_item_start = false;
                }
                Tok::Comma | Tok::CloseParen => {
                    if at_item_start {
                        values.push(("", t.position));
                    }
                    if t.tok == Tok::CloseParen {
                        return Ok(values);
                    }
                    at_item_start = true;
                }
                _ if at_item_start => return Err(unexpected(t, "a value, ',' or ')'")),
                _ => return Err(unexpected(t, "',' or ')'")),
            }
        }
    }
}

fn unexpected(t: Token<'_>, expected: &'static str) -> SelectorParseError {
    SelectorParseError::Unexpected {
        position: t.position,
        found: t.tok.describe(),
        expected,
    }
}

fn invalid(position: usize, requirement: RequirementError) -> SelectorParseError {
    SelectorParseError::Invalid {
        position,
        requirement,
    }
}

// ---------------------------------------------------------------------------------------------
// Field selectors (fields.Selector).
// ---------------------------------------------------------------------------------------------

/// The operator of a [`FieldRequirement`]. `==` parses as [`FieldOperator::Equals`], as in
/// Kubernetes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum FieldOperator {
    /// `field=value` or `field==value`.
    Equals,
    /// `field!=value`.
    NotEquals,
}

impl FieldOperator {
    /// The operator as printed: `=` or `!=`.
    pub fn as_str(self) -> &'static str {
        match self {
            FieldOperator::Equals => "=",
            FieldOperator::NotEquals => "!=",
        }
    }
}

/// One term of a [`FieldSelector`]: a field path (`spec.nodeName`), an operator and a value.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct FieldRequirement {
    /// The field, as the kind names it for selection (`metadata.name`, `status.phase`).
    pub field: String,
    /// How the field's value relates to `value`.
    pub operator: FieldOperator,
    /// The value, unescaped.
    pub value: String,
}

impl FieldRequirement {
    /// Whether a field whose value is `actual` satisfies the term (a missing field has the
    /// value `""`).
    pub fn matches(&self, actual: &str) -> bool {
        match self.operator {
            FieldOperator::Equals => actual == self.value,
            FieldOperator::NotEquals => actual != self.value,
        }
    }
}

impl fmt::Display for FieldRequirement {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}{}{}",
            self.field,
            self.operator.as_str(),
            escape_field_value(&self.value)
        )
    }
}

/// A parsed field selector: terms that must all hold (Kubernetes' `fields.Selector`), such as
/// `metadata.name=web,spec.nodeName!=,status.phase==Running`.
///
/// Terms are kept sorted (by field, operator, value), so equal selectors compare equal and print
/// alike. Serialized as its string form.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct FieldSelector {
    requirements: Vec<FieldRequirement>,
}

/// Escapes a value for a field selector string: `\` becomes `\\`, `,` becomes `\,` and `=`
/// becomes `\=` (Kubernetes' `fields.EscapeValue`).
pub fn escape_field_value(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for c in value.chars() {
        if matches!(c, '\\' | ',' | '=') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// Why a field selector string does not parse. Positions are byte offsets from the start of the
/// string.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum FieldSelectorParseError {
    /// A term has no `=`, `==` or `!=`.
    #[error(
        "at position {position}: cannot understand {term:?}, expected a field, then '=', '==' or '!=', then a value"
    )]
    MissingOperator {
        /// Where the term starts.
        position: usize,
        /// The term.
        term: String,
    },
    /// A term has nothing before its operator.
    #[error("at position {position}: missing field name in {term:?}")]
    MissingField {
        /// Where the term starts.
        position: usize,
        /// The term.
        term: String,
    },
    /// A backslash in a value is followed by something other than `\`, `,` or `=`, or ends the
    /// value.
    #[error(
        "at position {position}: invalid escape sequence {sequence:?}, only '\\\\', '\\,' and '\\=' are allowed"
    )]
    InvalidEscape {
        /// Where the backslash is.
        position: usize,
        /// The backslash and what follows it, if anything.
        sequence: String,
    },
    /// A value contains `=` without a backslash before it.
    #[error(
        "at position {position}: unescaped {character:?} in a value, write it as '\\{character}'"
    )]
    UnescapedCharacter {
        /// Where the character is.
        position: usize,
        /// The character.
        character: char,
    },
}

impl FieldSelector {
    /// The selector with no terms, which matches everything.
    pub fn everything() -> FieldSelector {
        FieldSelector::default()
    }

    /// A selector of these terms (in any order).
    pub fn new(requirements: impl IntoIterator<Item = FieldRequirement>) -> FieldSelector {
        let mut requirements: Vec<FieldRequirement> = requirements.into_iter().collect();
        requirements.sort();
        FieldSelector { requirements }
    }

    /// Parses the string form as Kubernetes' `fields.ParseSelector` does: terms separated by
    /// commas (empty terms are skipped), each `field=value`, `field==value` or `field!=value`,
    /// split at the first operator. Values may be empty and escape `\`, `,` and `=` with a
    /// backslash (see [`escape_field_value`]); field names take no escapes. Blanks are not
    /// trimmed: they belong to the field or the value.
    ///
    /// Unlike Kubernetes, which leaves it to the kind's list of known fields, an empty field
    /// name is rejected here.
    pub fn parse(input: &str) -> Result<FieldSelector, FieldSelectorParseError> {
        let mut requirements = Vec::new();
        for (start, term) in split_field_terms(input) {
            if term.is_empty() {
                continue;
            }
            let Some((op_at, operator, op_len)) = find_field_operator(term) else {
                return Err(FieldSelectorParseError::MissingOperator {
                    position: start,
                    term: term.to_string(),
                });
            };
            if op_at == 0 {
                return Err(FieldSelectorParseError::MissingField {
                    position: start,
                    term: term.to_string(),
                });
            }
            let value_at = op_at + op_len;
            requirements.push(FieldRequirement {
                field: term[..op_at].to_string(),
                operator,
                value: unescape_field_value(&term[value_at..], start + value_at)?,
            });
        }
        Ok(FieldSelector::new(requirements))
    }

    /// Whether the selector has no terms, and so matches everything.
    pub fn is_empty(&self) -> bool {
        self.requirements.is_empty()
    }

    /// The terms, sorted.
    pub fn requirements(&self) -> &[FieldRequirement] {
        &self.requirements
    }

    /// Whether the object whose fields `get` looks up satisfies every term. `get` returns the
    /// value of a field path, or `None` when the object has no such field, which compares as
    /// the empty string (so `spec.nodeName!=` selects bound pods).
    pub fn matches(&self, get: impl Fn(&str) -> Option<String>) -> bool {
        self.requirements
            .iter()
            .all(|r| r.matches(get(&r.field).as_deref().unwrap_or("")))
    }

    /// The value the selector requires `field` to have, if it has an `=` term on it (Kubernetes'
    /// `RequiresExactMatch`), such as the node name when a kubelet lists its pods.
    pub fn requires_exact_match(&self, field: &str) -> Option<&str> {
        self.requirements
            .iter()
            .find(|r| r.field == field && r.operator == FieldOperator::Equals)
            .map(|r| r.value.as_str())
    }
}

/// Splits at commas not escaped by a backslash, giving each term with its byte offset.
fn split_field_terms(input: &str) -> Vec<(usize, &str)> {
    let mut terms = Vec::new();
    let mut start = 0;
    let mut escaped = false;
    for (i, c) in input.char_indices() {
        if escaped {
            escaped = false;
        } else if c == '\\' {
            escaped = true;
        } else if c == ',' {
            terms.push((start, &input[start..i]));
            start = i + 1;
        }
    }
    terms.push((start, &input[start..]));
    terms
}

/// The first operator in a term: its offset, kind and length. At each offset `!=` is tried
/// before `==` before `=`, so `a==b` is `a` `==` `b`, not `a` `=` `=b`.
fn find_field_operator(term: &str) -> Option<(usize, FieldOperator, usize)> {
    term.char_indices().find_map(|(i, _)| {
        let rest = &term[i..];
        if rest.starts_with("!=") {
            Some((i, FieldOperator::NotEquals, 2))
        } else if rest.starts_with("==") {
            Some((i, FieldOperator::Equals, 2))
        } else if rest.starts_with('=') {
            Some((i, FieldOperator::Equals, 1))
        } else {
            None
        }
    })
}

/// Undoes [`escape_field_value`]; `offset` is where `raw` starts in the selector string.
fn unescape_field_value(raw: &str, offset: usize) -> Result<String, FieldSelectorParseError> {
    let mut out = String::with_capacity(raw.len());
    let mut chars = raw.char_indices();
    while let Some((i, c)) = chars.next() {
        match c {
            '\\' => match chars.next() {
                Some((_, next @ ('\\' | ',' | '='))) => out.push(next),
                other => {
                    return Err(FieldSelectorParseError::InvalidEscape {
                        position: offset + i,
                        sequence: other.map_or("\\".to_string(), |(_, n)| format!("\\{n}")),
                    })
                }
            },
            // An unescaped ',' ends the term before it gets here.
            '=' | ',' => {
                return Err(FieldSelectorParseError::UnescapedCharacter {
                    position: offset + i,
                    character: c,
                })
            }
            _ => out.push(c),
        }
    }
    Ok(out)
}

impl<'a> IntoIterator for &'a FieldSelector {
    type Item = &'a FieldRequirement;
    type IntoIter = std::slice::Iter<'a, FieldRequirement>;

    fn into_iter(self) -> Self::IntoIter {
        self.requirements.iter()
    }
}

impl fmt::Display for FieldSelector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, r) in self.requirements.iter().enumerate() {
            if i > 0 {
                f.write_str(",")?;
            }
            write!(f, "{r}")?;
        }
        Ok(())
    }
}

impl FromStr for FieldSelector {
    type Err = FieldSelectorParseError;

    fn from_str(s: &str) -> Result<FieldSelector, FieldSelectorParseError> {
        FieldSelector::parse(s)
    }
}

impl Serialize for FieldSelector {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for FieldSelector {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<FieldSelector, D::Error> {
        let s = String::deserialize(deserializer)?;
        FieldSelector::parse(&s).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The reason `is_qualified_name` gives for a bad name part.
    const NAME_PART: &str = "name part must consist of alphanumeric characters, '-', '_' or '.', \
        and must start and end with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or \
        '123-abc', regex used for validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')";
    /// The reason `is_label_value` gives for a bad value.
    const LABEL_VALUE: &str = "a valid label must be an empty string or consist of alphanumeric \
        characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. \
        'MyValue',  or 'my_value',  or '12345', regex used for validation is \
        '(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')";

    fn labels(pairs: &[(&str, &str)]) -> Labels {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn parse(s: &str) -> Selector {
        match Selector::parse(s) {
            Ok(sel) => sel,
            Err(e) => panic!("{s:?} should parse: {e}"),
        }
    }

    fn parse_err(s: &str) -> String {
        match Selector::parse(s) {
            Ok(sel) => panic!("{s:?} should not parse, got {sel}"),
            Err(e) => e.to_string(),
        }
    }

    fn expr(
        key: &str,
        operator: LabelSelectorOperator,
        values: &[&str],
    ) -> LabelSelectorRequirement {
        LabelSelectorRequirement {
            key: key.to_string(),
            operator,
            values: values.iter().map(|v| v.to_string()).collect(),
        }
    }

    fn messages(errs: &ErrorList) -> Vec<String> {
        errs.iter().map(ToString::to_string).collect()
    }

    // --- LabelSelector -------------------------------------------------------------------------

    const DEPLOYMENT_SELECTOR: &str = "
matchLabels:
  app.kubernetes.io/name: web
  tier: frontend
matchExpressions:
  - key: environment
    operator: In
    values: [production, staging]
  - key: track
    operator: NotIn
    values: [canary]
  - key: team
    operator: Exists
  - {key: legacy, operator: DoesNotExist}
";

    #[test]
    fn label_selector_reads_kubernetes_yaml() {
        let sel: LabelSelector = serde_yaml::from_str(DEPLOYMENT_SELECTOR).expect("valid YAML");
        assert_eq!(sel.match_labels["app.kubernetes.io/name"], "web");
        assert_eq!(sel.match_expressions.len(), 4);
        assert_eq!(
            sel.match_expressions[0],
            expr(
                "environment",
                LabelSelectorOperator::In,
                &["production", "staging"]
            )
        );
        assert_eq!(
            sel.match_expressions[2],
            expr("team", LabelSelectorOperator::Exists, &[])
        );
        assert_eq!(
            sel.match_expressions[3].operator,
            LabelSelectorOperator::DoesNotExist
        );
        assert!(
            validate_label_selector(&sel, &FieldPath::new("spec").child("selector")).is_empty()
        );

        // Written back, empty lists and maps are left out and it reads back the same.
        let yaml = serde_yaml::to_string(&sel).expect("serializable");
        assert!(yaml.contains("- key: team\n  operator: Exists\n"), "{yaml}");
        assert!(!yaml.contains("values: []"), "{yaml}");
        assert_eq!(
            serde_yaml::from_str::<LabelSelector>(&yaml).expect("round trip"),
            sel
        );

        let err =
            serde_yaml::from_str::<LabelSelector>("matchExpressions: [{key: a, operator: Gt}]")
                .expect_err("Gt is not a LabelSelector operator");
        assert!(err.to_string().contains("unknown variant `Gt`"), "{err}");
    }

    #[test]
    fn label_selector_matching() {
        let sel: LabelSelector = serde_yaml::from_str(DEPLOYMENT_SELECTOR).expect("valid YAML");
        let base = [
            ("app.kubernetes.io/name", "web"),
            ("tier", "frontend"),
            ("environment", "staging"),
            ("team", "shop"),
        ];
        assert!(sel.matches(&labels(&base)));
        // NotIn matches an absent label and another value, not a listed one.
        let mut with_track = base.to_vec();
        with_track.push(("track", "stable"));
        assert!(sel.matches(&labels(&with_track)));
        with_track.pop();
        with_track.push(("track", "canary"));
        assert!(!sel.matches(&labels(&with_track)));
        // DoesNotExist.
        let mut legacy = base.to_vec();
        legacy.push(("legacy", ""));
        assert!(!sel.matches(&labels(&legacy)));
        // In: the value must be listed.
        let mut dev = base.to_vec();
        dev[2] = ("environment", "dev");
        assert!(!sel.matches(&labels(&dev)));
        // Exists.
        assert!(!sel.matches(&labels(&base[..3])));
        // matchLabels: exact value.
        let mut backend = base.to_vec();
        backend[1] = ("tier", "backend");
        assert!(!sel.matches(&labels(&backend)));

        assert!(LabelSelector::default().is_empty());
        assert!(LabelSelector::default().matches(&Labels::new()));
        assert!(LabelSelector::default().matches(&labels(&base)));
        assert!(!sel.is_empty());
    }

    #[test]
    fn invalid_label_selectors_match_nothing() {
        let all = labels(&[("app", "web"), ("tier", "db")]);
        let in_without_values = LabelSelector {
            match_expressions: vec![expr("tier", LabelSelectorOperator::NotIn, &[])],
            ..LabelSelector::default()
        };
        assert!(!in_without_values.matches(&all));
        let exists_with_values = LabelSelector {
            match_expressions: vec![expr("app", LabelSelectorOperator::Exists, &["web"])],
            ..LabelSelector::default()
        };
        assert!(!exists_with_values.matches(&all));
        let bad_key = LabelSelector {
            match_expressions: vec![expr("-app", LabelSelectorOperator::DoesNotExist, &[])],
            ..LabelSelector::default()
        };
        assert!(!bad_key.matches(&all));
        let bad_value = LabelSelector {
            match_labels: labels(&[("app", "web")]),
            match_expressions: vec![expr("tier", LabelSelectorOperator::NotIn, &["a b"])],
        };
        assert!(!bad_value.matches(&all));
        let bad_label = LabelSelector {
            match_labels: labels(&[("app", "web ")]),
            ..LabelSelector::default()
        };
        assert!(!bad_label.matches(&labels(&[("app", "web ")])));
    }

    #[test]
    fn label_selector_validation_messages() {
        let path = FieldPath::new("spec").child("selector");
        let sel = LabelSelector {
            match_labels: labels(&[("app", "bad value"), ("-tier", "web")]),
            match_expressions: vec![
                expr("env", LabelSelectorOperator::In, &[]),
                expr("zone", LabelSelectorOperator::Exists, &["a"]),
                expr("Bad Key", LabelSelectorOperator::NotIn, &["ok", "-x"]),
                expr("gone", LabelSelectorOperator::DoesNotExist, &[]),
            ],
        };
        let errs = validate_label_selector(&sel, &path);
        assert_eq!(
            messages(&errs),
            vec![
                format!("spec.selector.matchLabels: Invalid value: \"-tier\": {NAME_PART}"),
                format!("spec.selector.matchLabels[app]: Invalid value: \"bad value\": {LABEL_VALUE}"),
                "spec.selector.matchExpressions[0].values: Required value: must be specified when \
                 `operator` is 'In' or 'NotIn'"
                    .to_string(),
                "spec.selector.matchExpressions[1].values: Forbidden: may not be specified when \
                 `operator` is 'Exists' or 'DoesNotExist'"
                    .to_string(),
                format!("spec.selector.matchExpressions[2].key: Invalid value: \"Bad Key\": {NAME_PART}"),
                format!("spec.selector.matchExpressions[2].values[1]: Invalid value: \"-x\": {LABEL_VALUE}"),
            ]
        );
        // Keys with a prefix are checked as qualified names: prefix and name part.
        let sel = LabelSelector {
            match_expressions: vec![expr("Example.com/name", LabelSelectorOperator::Exists, &[])],
            ..LabelSelector::default()
        };
        let errs = validate_label_selector(&sel, &path);
        assert_eq!(errs.len(), 1);
        assert!(
            errs[0].to_string().starts_with(
                "spec.selector.matchExpressions[0].key: Invalid value: \"Example.com/name\": prefix part a lowercase RFC 1123 subdomain"
            ),
            "{}",
            errs[0]
        );
    }

    #[test]
    fn label_selector_converts_to_selector() {
        let sel: LabelSelector = serde_yaml::from_str(DEPLOYMENT_SELECTOR).expect("valid YAML");
        let parsed = sel.to_selector().expect("valid selector");
        assert_eq!(
            parsed.to_string(),
            "app.kubernetes.io/name=web,environment in (production,staging),!legacy,team,\
             tier=frontend,track notin (canary)"
        );
        assert_eq!(
            LabelSelector::default().to_selector(),
            Ok(Selector::everything())
        );

        let bad = LabelSelector {
            match_expressions: vec![expr("env", LabelSelectorOperator::In, &[])],
            ..LabelSelector::default()
        };
        assert_eq!(
            bad.to_selector().expect_err("In needs values").to_string(),
            "operator 'in' on label \"env\" takes at least one value, not 0"
        );
        let bad = LabelSelector {
            match_expressions: vec![expr("env", LabelSelectorOperator::DoesNotExist, &["a"])],
            ..LabelSelector::default()
        };
        assert_eq!(
            bad.to_selector()
                .expect_err("DoesNotExist takes no values")
                .to_string(),
            "operator '!' on label \"env\" takes no values, not 1"
        );
        let bad = LabelSelector {
            match_labels: labels(&[("app", "a/b")]),
            ..LabelSelector::default()
        };
        assert_eq!(
            bad.to_selector(),
            Err(RequirementError::InvalidValue {
                key: "app".into(),
                value: "a/b".into(),
                reason: LABEL_VALUE.into(),
            })
        );
    }

    // --- Selector: parsing ---------------------------------------------------------------------

    #[test]
    fn parses_every_operator() {
        let sel = parse(
            "app=web,tier!=db,env in (a,b),!canary,version,x==y,replicas>2,age<10,zone notin (z1)",
        );
        let reqs: Vec<(&str, Operator, Vec<&str>)> = sel
            .requirements()
            .iter()
            .map(|r| {
                (
                    r.key(),
                    r.operator(),
                    r.values().iter().map(String::as_str).collect(),
                )
            })
            .collect();
        assert_eq!(
            reqs,
            vec![
                ("age", Operator::LessThan, vec!["10"]),
                ("app", Operator::Equals, vec!["web"]),
                ("canary", Operator::DoesNotExist, vec![]),
                ("env", Operator::In, vec!["a", "b"]),
                ("replicas", Operator::GreaterThan, vec!["2"]),
                ("tier", Operator::NotEquals, vec!["db"]),
                ("version", Operator::Exists, vec![]),
                ("x", Operator::DoubleEquals, vec!["y"]),
                ("zone", Operator::NotIn, vec!["z1"]),
            ]
        );
        assert_eq!(
            sel.to_string(),
            "age<10,app=web,!canary,env in (a,b),replicas>2,tier!=db,version,x==y,zone notin (z1)"
        );
    }

    #[test]
    fn parsing_follows_kubernetes_lexer_rules() {
        // Blanks around every token, tabs and newlines included.
        assert_eq!(
            parse(" app = web ,\tenv\nin ( b , a ) , ! canary ").to_string(),
            "app=web,!canary,env in (a,b)"
        );
        assert_eq!(parse("env in(a)").to_string(), "env in (a)");
        // The empty selector.
        assert!(parse("").is_empty());
        assert!(parse(" \t ").is_empty());
        // Empty values: after an operator, and in sets.
        assert_eq!(parse("app=").requirements()[0].values(), [""]);
        assert_eq!(
            parse("app==").requirements()[0].operator(),
            Operator::DoubleEquals
        );
        assert_eq!(parse("app==").requirements()[0].values(), [""]);
        assert_eq!(parse("app!=,b").to_string(), "app!=,b");
        assert_eq!(parse("env in (a,)").requirements()[0].values(), ["", "a"]);
        assert_eq!(parse("env in (,a)").requirements()[0].values(), ["", "a"]);
        assert_eq!(
            parse("env in (a,,b)").requirements()[0].values(),
            ["", "a", "b"]
        );
        assert_eq!(parse("env in ()").requirements()[0].values(), [""]);
        assert_eq!(parse("env notin (,)").requirements()[0].values(), [""]);
        assert_eq!(parse("env in ()").to_string(), "env in ()");
        // Sets are sorted and de-duplicated.
        assert_eq!(parse("env in (b,a,b)").to_string(), "env in (a,b)");
        // `in` and `notin` are words where a key or value is expected.
        let sel = parse("in in (in,notin),notin=in");
        assert_eq!(sel.to_string(), "in in (in,notin),notin=in");
        // Prefixed keys and a value that is a number.
        assert_eq!(
            parse("app.kubernetes.io/name=web,example.com/gpu>0").to_string(),
            "app.kubernetes.io/name=web,example.com/gpu>0"
        );
        // `>`/`<` bounds may be signed integers only if they are also label values; `+1` is not.
        assert!(parse("a>007").matches(&labels(&[("a", "8")])));
    }

    #[test]
    fn malformed_selectors_name_position_and_expectation() {
        let cases = [
            ("app===", "at position 5: found '=', expected a value"),
            ("env in (a", "at position 9: found end of string, expected ',' or ')'"),
            ("in (a)", "at position 3: found '(', expected an operator ('=', '==', '!=', 'in', 'notin', '>' or '<')"),
            (",a", "at position 0: found ',', expected '!', a label key or end of string"),
            ("a=b c", "at position 4: found 'c', expected ',' or end of string"),
            ("a,", "at position 2: found end of string, expected '!' or a label key after ','"),
            ("a,,b", "at position 2: found ',', expected '!' or a label key after ','"),
            ("!", "at position 1: found end of string, expected a label key"),
            ("!!a", "at position 1: found '!', expected a label key"),
            ("!a=b", "at position 2: found '=', expected ',' or end of string"),
            ("a!", "at position 1: found '!', expected an operator ('=', '==', '!=', 'in', 'notin', '>' or '<')"),
            ("a b", "at position 2: found 'b', expected an operator ('=', '==', '!=', 'in', 'notin', '>' or '<')"),
            ("a in", "at position 4: found end of string, expected '('"),
            ("a in b", "at position 5: found 'b', expected '('"),
            ("a in (b c)", "at position 8: found 'c', expected ',' or ')'"),
            ("a in (=)", "at position 6: found '=', expected a value, ',' or ')'"),
            ("a in (b,=)", "at position 8: found '=', expected a value, ',' or ')'"),
            ("a in (b))", "at position 8: found ')', expected ',' or end of string"),
            ("a>=1", "at position 2: found '=', expected a value"),
            ("=a", "at position 0: found '=', expected '!', a label key or end of string"),
            ("!=a", "at position 0: found '!=', expected '!', a label key or end of string"),
            ("(a)", "at position 0: found '(', expected '!', a label key or end of string"),
            ("a=b=c", "at position 3: found '=', expected ',' or end of string"),
        ];
        for (input, message) in cases {
            assert_eq!(parse_err(input), message, "input {input:?}");
        }
        assert_eq!(
            Selector::parse("a=b c"),
            Err(SelectorParseError::Unexpected {
                position: 4,
                found: "'c'".into(),
                expected: "',' or end of string",
            })
        );
    }

    #[test]
    fn parsed_keys_and_values_are_checked() {
        assert_eq!(
            parse_err("a=b,Bad_-=x"),
            format!("at position 4: invalid label key \"Bad_-\": {NAME_PART}")
        );
        assert_eq!(
            parse_err("x/y/z"),
            "at position 0: invalid label key \"x/y/z\": a qualified name must consist of alphanumeric characters, '-', \
             '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyName',  or \
             'my.name',  or '123-abc'), with an optional DNS subdomain prefix and '/' (e.g. \
             'example.com/MyName')"
        );
        let long = "k".repeat(64);
        assert_eq!(
            parse_err(&format!("!{long}")),
            format!("at position 1: invalid label key \"{long}\": name part must be no more than 63 characters")
        );
        assert_eq!(
            parse_err("app in (ok, -bad)"),
            format!("at position 12: invalid value \"-bad\" for label \"app\": {LABEL_VALUE}")
        );
        assert_eq!(
            Selector::parse("app in (ok, -bad)"),
            Err(SelectorParseError::Invalid {
                position: 12,
                requirement: RequirementError::InvalidValue {
                    key: "app".into(),
                    value: "-bad".into(),
                    reason: LABEL_VALUE.into(),
                },
            })
        );
        assert_eq!(
            parse_err("n>x"),
            "at position 2: value \"x\" for label \"n\" must be an integer for operator 'gt'"
        );
        assert_eq!(
            parse_err("n<"),
            "at position 2: value \"\" for label \"n\" must be an integer for operator 'lt'"
        );
        assert_eq!(
            parse_err("n<99999999999999999999"),
            "at position 2: value \"99999999999999999999\" for label \"n\" must be an integer for operator 'lt'"
        );
        // Non-ASCII is lexed as part of a word, then rejected by the syntax checks.
        assert!(parse_err("app=wéb")
            .starts_with("at position 4: invalid value \"wéb\" for label \"app\""));
    }

    // --- Selector: matching and the rest -------------------------------------------------------

    #[test]
    fn selector_matching_per_operator() {
        let l = labels(&[("app", "web"), ("replicas", "3"), ("note", "x1")]);
        let cases = [
            ("app=web", true),
            ("app==web", true),
            ("app=db", false),
            ("tier=", false),
            ("app!=db", true),
            ("app!=web", false),
            ("tier!=db", true),
            ("app in (db,web)", true),
            ("app in (db)", false),
            ("tier in (db,)", false),
            ("app notin (db)", true),
            ("app notin (web)", false),
            ("tier notin (db)", true),
            ("app", true),
            ("tier", false),
            ("!tier", true),
            ("!app", false),
            ("replicas>2", true),
            ("replicas>3", false),
            ("replicas<4", true),
            ("replicas<3", false),
            ("note>0", false),
            ("note<100", false),
            ("missing>0", false),
            ("missing<0", false),
            ("app=web,replicas>2,!tier", true),
            ("app=web,tier", false),
            ("", true),
        ];
        for (input, expected) in cases {
            assert_eq!(
                Selector::parse(input).map(|s| s.matches(&l)),
                Ok(expected),
                "{input:?}"
            );
        }
        // Negative integers compare as numbers; "-5" is not a label value, so build it directly.
        let neg = labels(&[("t", "-7")]);
        let lt = Requirement::new("t", Operator::LessThan, vec!["0".into()]).expect("valid");
        assert!(lt.matches(&neg));
        assert!(Selector::everything().matches(&Labels::new()));
    }

    #[test]
    fn requirement_constructor_checks_what_new_requirement_checks() {
        let r = Requirement::new(
            "env",
            Operator::In,
            vec!["b".into(), "a".into(), "b".into()],
        )
        .expect("valid");
        assert_eq!(r.values(), ["a", "b"]);
        assert_eq!(r.to_string(), "env in (a,b)");
        assert_eq!(
            Requirement::exists("app").map(|r| r.to_string()),
            Ok("app".to_string())
        );
        assert_eq!(
            Requirement::does_not_exist("app").map(|r| r.to_string()),
            Ok("!app".to_string())
        );
        assert_eq!(
            Requirement::equals("app", "").map(|r| r.to_string()),
            Ok("app=".to_string())
        );

        let err = |key: &str, op: Operator, values: &[&str]| {
            Requirement::new(key, op, values.iter().map(|v| v.to_string()).collect())
                .expect_err("invalid")
                .to_string()
        };
        assert_eq!(
            err("a", Operator::NotIn, &[]),
            "operator 'notin' on label \"a\" takes at least one value, not 0"
        );
        assert_eq!(
            err("a", Operator::Exists, &["x"]),
            "operator 'exists' on label \"a\" takes no values, not 1"
        );
        assert_eq!(
            err("a", Operator::Equals, &[]),
            "operator '=' on label \"a\" takes exactly one value, not 0"
        );
        assert_eq!(
            err("a", Operator::NotEquals, &["x", "y"]),
            "operator '!=' on label \"a\" takes exactly one value, not 2"
        );
        assert_eq!(
            err("a", Operator::GreaterThan, &["1", "2"]),
            "operator 'gt' on label \"a\" takes exactly one value, not 2"
        );
        assert_eq!(
            err("a", Operator::LessThan, &["1.5"]),
            "value \"1.5\" for label \"a\" must be an integer for operator 'lt'"
        );
        assert_eq!(
            err("a", Operator::DoubleEquals, &["x y"]),
            format!("invalid value \"x y\" for label \"a\": {LABEL_VALUE}")
        );
        assert_eq!(
            err("", Operator::Exists, &[]),
            "invalid label key \"\": name part must be non-empty"
        );
        // The key is checked first, as Kubernetes does.
        assert!(err("/a", Operator::In, &[])
            .starts_with("invalid label key \"/a\": prefix part must be non-empty"));
    }

    #[test]
    fn selector_building_and_iteration() {
        let mut sel = parse("b=1,d");
        sel.add(Requirement::exists("c").expect("valid"));
        sel.add(Requirement::equals("a", "x").expect("valid"));
        assert_eq!(sel.to_string(), "a=x,b=1,c,d");
        let keys: Vec<&str> = (&sel).into_iter().map(Requirement::key).collect();
        assert_eq!(keys, ["a", "b", "c", "d"]);
        // Same requirements in another order: equal selectors.
        assert_eq!(parse("d,c,b=1,a=x"), sel);
        assert_eq!(parse("a notin (x),a=y"), parse("a=y,a notin (x)"));

        let from_labels =
            Selector::from_labels(&labels(&[("tier", "web"), ("app", "shop")])).expect("valid");
        assert_eq!(from_labels.to_string(), "app=shop,tier=web");
        assert_eq!(
            Selector::from_labels(&Labels::new()),
            Ok(Selector::everything())
        );
        assert!(matches!(
            Selector::from_labels(&labels(&[("app", "a b")])),
            Err(RequirementError::InvalidValue { .. })
        ));

        assert_eq!(sel.requires_exact_match("a"), Some("x"));
        assert_eq!(sel.requires_exact_match("c"), None);
        assert_eq!(sel.requires_exact_match("z"), None);
        assert_eq!(parse("a in (x)").requires_exact_match("a"), Some("x"));
        assert_eq!(parse("a in (x,y)").requires_exact_match("a"), None);
        assert_eq!(parse("a==x").requires_exact_match("a"), Some("x"));
        assert_eq!(parse("a!=x").requires_exact_match("a"), None);
    }

    #[test]
    fn selector_converts_to_label_selector() {
        let sel = parse("app=web,tier!=db,env in (a,b),zone notin (z1),version,!canary,x==y");
        let ls = sel.to_label_selector().expect("convertible");
        assert_eq!(ls.match_labels, labels(&[("app", "web"), ("x", "y")]));
        assert_eq!(
            ls.match_expressions,
            vec![
                expr("canary", LabelSelectorOperator::DoesNotExist, &[]),
                expr("env", LabelSelectorOperator::In, &["a", "b"]),
                expr("tier", LabelSelectorOperator::NotIn, &["db"]),
                expr("version", LabelSelectorOperator::Exists, &[]),
                expr("zone", LabelSelectorOperator::NotIn, &["z1"]),
            ]
        );
        assert!(validate_label_selector(&ls, &FieldPath::new("selector")).is_empty());

        // Two different values for one key match nothing, before and after conversion.
        let clash = parse("a=x,a=y");
        let ls = clash.to_label_selector().expect("convertible");
        assert_eq!(ls.match_labels, labels(&[("a", "x")]));
        assert_eq!(
            ls.match_expressions,
            vec![expr("a", LabelSelectorOperator::In, &["y"])]
        );
        for value in ["x", "y"] {
            assert!(!ls.matches(&labels(&[("a", value)])));
        }
        assert_eq!(
            parse("a=x,a==x")
                .to_label_selector()
                .map(|ls| ls.match_expressions.len()),
            Ok(0)
        );

        assert_eq!(
            parse("app=web,replicas>2")
                .to_label_selector()
                .expect_err("gt")
                .to_string(),
            "operator 'gt' on label \"replicas\" has no label selector equivalent"
        );
        assert_eq!(
            Selector::everything().to_label_selector(),
            Ok(LabelSelector::default())
        );
    }

    #[test]
    fn selectors_serialize_as_strings() {
        #[derive(Debug, PartialEq, Serialize, Deserialize)]
        struct Query {
            labels: Selector,
            fields: FieldSelector,
        }
        let q: Query =
            serde_yaml::from_str("labels: 'tier in (web), app'\nfields: spec.nodeName=node-1\n")
                .expect("valid");
        assert_eq!(q.labels.to_string(), "app,tier in (web)");
        assert_eq!(
            q.fields.requires_exact_match("spec.nodeName"),
            Some("node-1")
        );
        let yaml = serde_yaml::to_string(&q).expect("serializable");
        assert_eq!(
            yaml,
            "labels: app,tier in (web)\nfields: spec.nodeName=node-1\n"
        );
        let err = serde_yaml::from_str::<Query>("labels: 'a in'\nfields: ''\n")
            .expect_err("bad selector");
        assert!(
            err.to_string()
                .contains("at position 4: found end of string, expected '('"),
            "{err}"
        );
    }

    // --- FieldSelector -------------------------------------------------------------------------

    fn fields(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let map: BTreeMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        move |f: &str| map.get(f).cloned()
    }

    #[test]
    fn field_selectors_parse_and_print() {
        let sel = FieldSelector::parse("metadata.name=web,spec.nodeName!=,status.phase==Running")
            .expect("valid");
        assert_eq!(
            sel.requirements(),
            [
                FieldRequirement {
                    field: "metadata.name".into(),
                    operator: FieldOperator::Equals,
                    value: "web".into(),
                },
                FieldRequirement {
                    field: "spec.nodeName".into(),
                    operator: FieldOperator::NotEquals,
                    value: String::new(),
                },
                FieldRequirement {
                    field: "status.phase".into(),
                    operator: FieldOperator::Equals,
                    value: "Running".into(),
                },
            ]
        );
        assert_eq!(
            sel.to_string(),
            "metadata.name=web,spec.nodeName!=,status.phase=Running"
        );
        assert_eq!(sel.to_string().parse::<FieldSelector>(), Ok(sel.clone()));
        // Order does not matter; empty terms are skipped.
        assert_eq!(
            FieldSelector::parse(",status.phase=Running,,spec.nodeName!=,metadata.name=web,"),
            Ok(sel)
        );
        assert!(FieldSelector::parse("").expect("empty").is_empty());
        assert!(FieldSelector::everything().is_empty());
        // Blanks are kept, as Kubernetes keeps them.
        let spaced = FieldSelector::parse("a = b").expect("valid");
        assert_eq!(spaced.requirements()[0].field, "a ");
        assert_eq!(spaced.requirements()[0].value, " b");
        // The first operator splits: the rest belongs to the value.
        let sel = FieldSelector::parse("a!=!b").expect("valid");
        assert_eq!(sel.requirements()[0].value, "!b");
    }

    #[test]
    fn field_selector_values_escape_backslash_comma_and_equals() {
        let sel = FieldSelector::parse(r"metadata.name=a\,b\=c\\d,spec.x!=\,").expect("valid");
        assert_eq!(sel.requirements()[0].value, r"a,b=c\d");
        assert_eq!(sel.requirements()[1].value, ",");
        assert_eq!(sel.to_string(), r"metadata.name=a\,b\=c\\d,spec.x!=\,");
        assert_eq!(escape_field_value(r"x=1,y\2"), r"x\=1\,y\\2");
        assert_eq!(escape_field_value("plain"), "plain");
    }

    #[test]
    fn malformed_field_selectors() {
        let cases = [
            (
                "metadata.name",
                "at position 0: cannot understand \"metadata.name\", expected a field, then '=', '==' or '!=', then a value",
            ),
            (
                "a=b,status.phase",
                "at position 4: cannot understand \"status.phase\", expected a field, then '=', '==' or '!=', then a value",
            ),
            ("a=b,=x", "at position 4: missing field name in \"=x\""),
            ("!=x", "at position 0: missing field name in \"!=x\""),
            ("a=b=c", "at position 3: unescaped '=' in a value, write it as '\\='"),
            ("a===b", "at position 3: unescaped '=' in a value, write it as '\\='"),
            (r"a=b\x", r#"at position 3: invalid escape sequence "\\x", only '\\', '\,' and '\=' are allowed"#),
            (r"a=b\", r#"at position 3: invalid escape sequence "\\", only '\\', '\,' and '\=' are allowed"#),
        ];
        for (input, message) in cases {
            match FieldSelector::parse(input) {
                Ok(sel) => panic!("{input:?} should not parse, got {sel}"),
                Err(e) => assert_eq!(e.to_string(), message, "input {input:?}"),
            }
        }
        assert_eq!(
            FieldSelector::parse("x=1,a=b\\é"),
            Err(FieldSelectorParseError::InvalidEscape {
                position: 7,
                sequence: "\\é".into()
            })
        );
    }

    #[test]
    fn field_selector_matching() {
        let bound = fields(&[
            ("metadata.name", "web-0"),
            ("spec.nodeName", "node-1"),
            ("status.phase", "Running"),
        ]);
        let pending = fields(&[("metadata.name", "web-1"), ("status.phase", "Pending")]);
        let cases = [
            ("spec.nodeName!=", true, false),
            ("spec.nodeName=", false, true),
            ("spec.nodeName=node-1", true, false),
            ("status.phase==Running", true, false),
            ("status.phase!=Running", false, true),
            ("metadata.name=web-1,status.phase=Pending", false, true),
            ("metadata.name=web-0,status.phase=Pending", false, false),
            ("", true, true),
        ];
        for (input, on_bound, on_pending) in cases {
            let sel = FieldSelector::parse(input).expect("valid");
            assert_eq!(sel.matches(&bound), on_bound, "{input:?} on the bound pod");
            assert_eq!(
                sel.matches(&pending),
                on_pending,
                "{input:?} on the pending pod"
            );
        }
        let sel =
            FieldSelector::parse("spec.nodeName=node-1,spec.nodeName!=node-2").expect("valid");
        assert_eq!(sel.requires_exact_match("spec.nodeName"), Some("node-1"));
        assert_eq!(sel.requires_exact_match("metadata.name"), None);
        let keys: Vec<&str> = (&sel).into_iter().map(|r| r.field.as_str()).collect();
        assert_eq!(keys, ["spec.nodeName", "spec.nodeName"]);
    }
}
