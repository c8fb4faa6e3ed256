//! Property tests for `Quantity`: printing and parsing round-trip in every format, ordering agrees
//! with the numeric value and with equality, and arithmetic undoes itself.

use std::collections::hash_map::DefaultHasher;
use std::hash::{Hash, Hasher};

use flotilla_model::quantity::{Format, Quantity};
use proptest::prelude::*;

/// Binary-SI values parse capped at 2^63 - 1 units (as in Kubernetes), so round trips of binary
/// quantities stay below that.
const BINARY_CAP_NANOS: i128 = i64::MAX as i128 * 1_000_000_000;

fn any_format() -> impl Strategy<Value = Format> {
    prop_oneof![
        Just(Format::DecimalSI),
        Just(Format::BinarySI),
        Just(Format::DecimalExponent)
    ]
}

/// Nano-unit amounts of every size: arbitrary ones, "round" ones (few significant digits times a
/// power of ten) and binary ones (a multiple of a power of 1024 units), each possibly negative.
fn any_nanos() -> impl Strategy<Value = i128> {
    prop_oneof![
        (-i128::MAX..=i128::MAX),
        (-999_999i128..=999_999, 0u32..=30).prop_map(|(m, e)| m * 10i128.pow(e)),
        (-1023i128..=1023, 0u32..=5).prop_map(|(m, p)| m * 1024i128.pow(p) * 1_000_000_000),
        (-1_000_000_000_000i128..=1_000_000_000_000),
    ]
}

fn any_quantity() -> impl Strategy<Value = Quantity> {
    (any_nanos(), any_format()).prop_map(|(nanos, format)| {
        let nanos = if format == Format::BinarySI {
            nanos.clamp(-BINARY_CAP_NANOS, BINARY_CAP_NANOS)
        } else {
            nanos
        };
        Quantity::from_nanos(nanos, format)
    })
}

fn hash_of(q: &Quantity) -> u64 {
    let mut h = DefaultHasher::new();
    q.hash(&mut h);
    h.finish()
}

proptest! {
    #[test]
    fn printing_round_trips(q in any_quantity()) {
        let text = q.to_string();
        let parsed = Quantity::parse(&text);
        prop_assert_eq!(parsed.map(|p| p.nanos()), Ok(q.nanos()), "{}", text);
    }

    #[test]
    fn printing_is_canonical(q in any_quantity()) {
        let text = q.to_string();
        let reparsed = Quantity::parse(&text).expect("valid");
        if q.format() != Format::BinarySI {
            // A decimal quantity reads back in its own format and prints the same text.
            prop_assert_eq!(reparsed.to_string(), text);
        } else {
            // A binary value that is not a multiple of 1024 prints as plain digits, which read
            // back as decimal SI ("15953000" then prints "15953k"), as in Kubernetes. One round
            // trip reaches a form that prints stably.
            let again = Quantity::parse(&reparsed.to_string()).expect("valid");
            prop_assert_eq!(again.to_string(), reparsed.to_string());
        }
    }

    #[test]
    fn printing_has_no_fraction(q in any_quantity()) {
        let text = q.to_string();
        prop_assert!(!text.contains('.'), "{}", text);
        prop_assert!(!text.starts_with('+'), "{}", text);
    }

    #[test]
    fn serde_round_trips(q in any_quantity()) {
        let json = serde_json::to_string(&q).expect("serializable");
        let back: Quantity = serde_json::from_str(&json).expect("deserializable");
        prop_assert_eq!(back.nanos(), q.nanos());
        let yaml = serde_yaml::to_string(&q).expect("serializable");
        let back: Quantity = serde_yaml::from_str(&yaml).expect("deserializable");
        prop_assert_eq!(back.nanos(), q.nanos());
    }

    #[test]
    fn integers_with_suffixes_parse_exactly(m in -999_999_999i64..=999_999_999, e in 0usize..10) {
        let decimal = ["n", "u", "m", "", "k", "M", "G", "T", "P", "E"];
        let q = Quantity::parse(&format!("{m}{}", decimal[e])).expect("valid");
        prop_assert_eq!(q.nanos(), i128::from(m) * 10i128.pow(3 * e as u32));
        prop_assert_eq!(q.format(), Format::DecimalSI);
        let exponent = e as i32 * 3 - 9;
        let q = Quantity::parse(&format!("{m}e{exponent}")).expect("valid");
        prop_assert_eq!(q.nanos(), i128::from(m) * 10i128.pow(3 * e as u32));
        prop_assert_eq!(q.format(), Format::DecimalExponent);
    }

    #[test]
    fn binary_suffixes_parse_exactly(m in -999_999i64..=999_999, p in 1usize..=4) {
        let binary = ["", "Ki", "Mi", "Gi", "Ti"];
        let q = Quantity::parse(&format!("{m}{}", binary[p])).expect("valid");
        prop_assert_eq!(q.nanos(), i128::from(m) * 1024i128.pow(p as u32) * 1_000_000_000);
        prop_assert_eq!(q.value(), m * 1024i64.pow(p as u32));
    }

    #[test]
    fn decimal_fractions_round_up_to_the_nano(
        int in 0u64..1_000_000,
        frac in proptest::collection::vec(0u8..10, 0..20),
        negative in any::<bool>(),
    ) {
        let frac_text: String = frac.iter().map(|d| char::from(b'0' + d)).collect();
        let text = format!("{}{int}.{frac_text}", if negative { "-" } else { "" });
        let q = Quantity::parse(&text).expect("valid");
        // The first nine fraction digits are nanos; any non-zero digit after them rounds the
        // magnitude up by one.
        let mut nanos = i128::from(int) * 1_000_000_000;
        for (i, d) in frac.iter().take(9).enumerate() {
            nanos += i128::from(*d) * 10i128.pow(8 - i as u32);
        }
        if frac.iter().skip(9).any(|&d| d != 0) {
            nanos += 1;
        }
        prop_assert_eq!(q.nanos(), if negative { -nanos } else { nanos }, "{}", text);
    }

    #[test]
    fn ordering_follows_the_value(a in any_quantity(), b in any_quantity()) {
        prop_assert_eq!(a.cmp(&b), a.nanos().cmp(&b.nanos()));
        prop_assert_eq!(a == b, a.nanos() == b.nanos());
        prop_assert_eq!(a.partial_cmp(&b), Some(a.cmp(&b)));
        // The integer views never contradict the order.
        if a <= b {
            prop_assert!(a.milli_value() <= b.milli_value());
            prop_assert!(a.value() <= b.value());
        }
    }

    #[test]
    fn equality_ignores_format_and_agrees_with_hash(nanos in any_nanos(), f in any_format(), g in any_format()) {
        let a = Quantity::from_nanos(nanos, f);
        let b = Quantity::from_nanos(nanos, g);
        prop_assert_eq!(a, b);
        prop_assert_eq!(hash_of(&a), hash_of(&b));
        prop_assert_eq!(a.cmp(&b), std::cmp::Ordering::Equal);
    }

    #[test]
    fn ordering_survives_printing(a in any_quantity(), b in any_quantity()) {
        let pa = Quantity::parse(&a.to_string()).expect("valid");
        let pb = Quantity::parse(&b.to_string()).expect("valid");
        prop_assert_eq!(pa.cmp(&pb), a.cmp(&b));
    }

    #[test]
    fn add_and_sub_round_trip(a in any_quantity(), b in any_quantity()) {
        match a.checked_add(b) {
            Some(sum) => {
                prop_assert_eq!(sum.nanos(), a.nanos() + b.nanos());
                prop_assert_eq!(sum.checked_sub(b), Some(a));
                prop_assert_eq!(sum - b, a);
                prop_assert_eq!(a + b, sum);
                prop_assert_eq!(b.checked_add(a), Some(sum));
            }
            None => {
                // Only when the exact sum leaves the symmetric range.
                let exact = a.nanos().checked_add(b.nanos());
                prop_assert!(exact.is_none_or(|n| n == i128::MIN));
            }
        }
        if let Some(diff) = a.checked_sub(b) {
            prop_assert_eq!(diff + b, a);
            prop_assert_eq!(-(diff), b - a);
        }
    }

    #[test]
    fn negation_round_trips(q in any_quantity()) {
        prop_assert_eq!(-(-q), q);
        prop_assert_eq!((-q).format(), q.format());
        prop_assert_eq!(q + (-q), Quantity::ZERO);
        if !q.is_zero() {
            prop_assert_eq!((-q).to_string(), format!("-{q}").replace("--", ""));
        }
    }

    #[test]
    fn milli_value_rounds_away_from_zero(q in any_quantity()) {
        let milli = q.milli_value();
        let nanos = q.nanos();
        let exact = nanos / 1_000_000;
        let expected = if nanos % 1_000_000 == 0 { exact } else { exact + nanos.signum() };
        let saturated = expected.clamp(i128::from(i64::MIN), i128::from(i64::MAX)) as i64;
        prop_assert_eq!(milli, saturated);
    }
}
