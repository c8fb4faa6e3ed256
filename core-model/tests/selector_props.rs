//! Property tests of label and field selectors: the string form round-trips through `Display`
//! and `parse`, and the structured and parsed forms of a label selector agree.

use std::collections::BTreeMap;

use flotilla_model::selector::{
    validate_label_selector, FieldOperator, FieldRequirement, FieldSelector, LabelSelector,
    LabelSelectorOperator, LabelSelectorRequirement, Operator, Requirement, Selector,
};
use flotilla_model::validation::FieldPath;
use flotilla_model::Labels;
use proptest::prelude::*;

/// Keys, mostly valid, with words the lexer treats specially and a few invalid ones.
const KEYS: &[&str] = &[
    "app",
    "tier",
    "env",
    "in",
    "notin",
    "app.kubernetes.io/name",
    "example.com/gpu",
    "a_b.c-d",
    "Bad Key",
    "-x",
    "",
];

/// Values, mostly valid label values (the empty one included), some integers, some invalid.
const VALUES: &[&str] = &[
    "", "a", "b", "web", "db", "in", "1", "2", "10", "007", "-3", "x y",
];

const OPERATORS: &[Operator] = &[
    Operator::Equals,
    Operator::DoubleEquals,
    Operator::NotEquals,
    Operator::In,
    Operator::NotIn,
    Operator::Exists,
    Operator::DoesNotExist,
    Operator::GreaterThan,
    Operator::LessThan,
];

const LS_OPERATORS: &[LabelSelectorOperator] = &[
    LabelSelectorOperator::In,
    LabelSelectorOperator::NotIn,
    LabelSelectorOperator::Exists,
    LabelSelectorOperator::DoesNotExist,
];

fn key() -> impl Strategy<Value = String> {
    prop::sample::select(KEYS).prop_map(str::to_string)
}

fn value() -> impl Strategy<Value = String> {
    prop::sample::select(VALUES).prop_map(str::to_string)
}

/// Valid requirements of every operator (invalid combinations are filtered out).
fn requirement() -> impl Strategy<Value = Requirement> {
    (
        key(),
        prop::sample::select(OPERATORS),
        prop::collection::vec(value(), 0..4),
    )
        .prop_filter_map("invalid requirement", |(k, op, values)| {
            Requirement::new(k, op, values).ok()
        })
}

fn selector() -> impl Strategy<Value = Selector> {
    prop::collection::vec(requirement(), 0..6).prop_map(Selector::new)
}

fn label_set() -> impl Strategy<Value = Labels> {
    prop::collection::btree_map(key(), value(), 0..6)
}

/// Structured selectors, valid or not.
fn label_selector() -> impl Strategy<Value = LabelSelector> {
    let expression = (
        key(),
        prop::sample::select(LS_OPERATORS),
        prop::collection::vec(value(), 0..3),
    )
        .prop_map(|(key, operator, values)| LabelSelectorRequirement {
            key,
            operator,
            values,
        });
    (
        prop::collection::btree_map(key(), value(), 0..3),
        prop::collection::vec(expression, 0..4),
    )
        .prop_map(|(match_labels, match_expressions)| LabelSelector {
            match_labels,
            match_expressions,
        })
}

/// Selector-like strings from the tokens of the grammar, mostly malformed.
fn selector_text() -> impl Strategy<Value = String> {
    let tokens = &[
        "a", "b", "app", "in", "notin", "x.y/z", "1", "=", "==", "!=", "!", ">", "<", "(", ")",
        ",", " ", "\t", "-", "é",
    ];
    prop::collection::vec(prop::sample::select(tokens), 0..12).prop_map(|t| t.concat())
}

fn field_value() -> impl Strategy<Value = String> {
    prop::collection::vec(
        prop::sample::select(&["a", "b", ",", "=", "\\", "!", " ", "é", ""][..]),
        0..5,
    )
    .prop_map(|t| t.concat())
}

fn field_selector() -> impl Strategy<Value = FieldSelector> {
    let field = prop::sample::select(&["metadata.name", "spec.nodeName", "status.phase"][..]);
    let operator = prop::sample::select(&[FieldOperator::Equals, FieldOperator::NotEquals][..]);
    let term =
        (field, operator, field_value()).prop_map(|(field, operator, value)| FieldRequirement {
            field: field.to_string(),
            operator,
            value,
        });
    prop::collection::vec(term, 0..5).prop_map(FieldSelector::new)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn display_parses_back_to_the_same_selector(sel in selector()) {
        let text = sel.to_string();
        prop_assert_eq!(Selector::parse(&text), Ok(sel), "text {:?}", text);
    }

    #[test]
    fn blanks_between_tokens_do_not_matter(
        sel in selector(),
        blank in prop::sample::select(&[" ", "\t", "\n", "\r\n", "  "][..]),
    ) {
        let text = sel
            .to_string()
            .replace(',', &format!("{blank},{blank}"))
            .replace('(', &format!("({blank}"))
            .replace(')', &format!("{blank}){blank}"));
        let text = format!("{blank}{text}{blank}");
        prop_assert_eq!(Selector::parse(&text), Ok(sel), "text {:?}", text);
    }

    #[test]
    fn parsed_strings_round_trip(text in selector_text()) {
        // Whatever parses prints in a form that parses to the same selector.
        if let Ok(sel) = Selector::parse(&text) {
            let printed = sel.to_string();
            prop_assert_eq!(Selector::parse(&printed), Ok(sel), "from {:?} via {:?}", text, printed);
        }
    }

    #[test]
    fn structured_and_parsed_selectors_agree(ls in label_selector(), labels in label_set()) {
        let converted = ls.to_selector();
        prop_assert_eq!(
            ls.matches(&labels),
            converted.as_ref().is_ok_and(|s| s.matches(&labels)),
            "selector {:?} on {:?}", ls, labels
        );
        // The API server accepts exactly the selectors that convert.
        prop_assert_eq!(
            validate_label_selector(&ls, &FieldPath::new("selector")).is_empty(),
            converted.is_ok(),
            "selector {:?}", ls
        );
    }

    #[test]
    fn conversion_to_label_selector_keeps_the_meaning(sel in selector(), labels in label_set()) {
        match sel.to_label_selector() {
            Ok(ls) => {
                prop_assert!(validate_label_selector(&ls, &FieldPath::new("selector")).is_empty());
                prop_assert_eq!(ls.matches(&labels), sel.matches(&labels), "{} as {:?}", sel, ls);
            }
            Err(e) => prop_assert!(matches!(e.operator, Operator::GreaterThan | Operator::LessThan)),
        }
    }

    #[test]
    fn field_selectors_round_trip(sel in field_selector()) {
        let text = sel.to_string();
        prop_assert_eq!(FieldSelector::parse(&text), Ok(sel), "text {:?}", text);
    }

    #[test]
    fn field_selector_matching_is_per_term(
        sel in field_selector(),
        present in prop::collection::btree_map(
            prop::sample::select(&["metadata.name", "spec.nodeName", "status.phase"][..]),
            field_value(),
            0..3,
        ),
    ) {
        let fields: BTreeMap<String, String> =
            present.iter().map(|(k, v)| (k.to_string(), v.clone())).collect();
        let expected = sel.requirements().iter().all(|r| {
            let actual = fields.get(&r.field).map_or("", String::as_str);
            (actual == r.value) == (r.operator == FieldOperator::Equals)
        });
        prop_assert_eq!(sel.matches(|f: &str| fields.get(f).cloned()), expected);
    }
}
