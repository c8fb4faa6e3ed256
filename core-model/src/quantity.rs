//! Resource quantities (`500m`, `1.5Gi`, `1e3`): Kubernetes' `resource.Quantity`, parsed, compared,
//! added and printed exactly as the API server does it.
//!
//! A [`Quantity`] is a fixed-point number: its value is kept as a whole number of nano-units
//! (10⁻⁹), so `100m` of CPU and `1Gi` of memory are both exact, and no floating point is ever
//! involved. It also remembers the kind of suffix it was written with (its [`Format`]), because
//! Kubernetes prints a quantity back in the same style: `1536Mi` stays binary, `1500m` stays decimal.
//!
//! ```
//! use flotilla_model::quantity::{Format, Quantity};
//!
//! let cpu: Quantity = "1500m".parse().expect("a valid quantity");
//! assert_eq!(cpu.milli_value(), 1500);
//! assert_eq!(cpu.value(), 2); // whole units round up, as in Kubernetes
//!
//! // Printing is canonical: the largest suffix that needs no fraction.
//! let memory = Quantity::parse("1.5Gi").expect("a valid quantity");
//! assert_eq!(memory.to_string(), "1536Mi");
//! assert_eq!(memory.format(), Format::BinarySI);
//!
//! // Quantities compare by value, whatever their suffix.
//! assert_eq!(Quantity::parse("1000m"), Quantity::parse("1"));
//! assert!(Quantity::parse("1Gi").expect("valid") > Quantity::parse("1G").expect("valid"));
//! ```
//!
//! The rules follow k8s.io/apimachinery `pkg/api/resource` (quantity.go, suffix.go, amount.go,
//! Kubernetes v1.34), including its documented rounding: values finer than a nano-unit round away
//! from zero when parsed (`0.1n` is `1n`), and [`Quantity::value`] and [`Quantity::milli_value`]
//! round away from zero too (`1.1` has value 2). Where this module knowingly differs, the item's
//! documentation says so.

use std::cmp::Ordering;
use std::collections::BTreeMap;
use std::fmt;
use std::hash::{Hash, Hasher};
use std::iter::Sum;
use std::ops::{Add, AddAssign, Neg, Sub, SubAssign};
use std::str::FromStr;

use serde::de::{self, Deserializer, Visitor};
use serde::{Deserialize, Serialize, Serializer};

/// Resource names (`cpu`, `memory`, `nvidia.com/gpu`, …) mapped to amounts, as in a container's
/// `resources.requests` or a node's `status.allocatable`.
pub type ResourceList = BTreeMap<String, Quantity>;

/// Nano-units in one unit.
const NANOS_PER_UNIT: i128 = 1_000_000_000;

/// The largest magnitude a [`Quantity`] holds, in nano-units. The range is symmetric (the
/// smallest value is `-MAX_NANOS`), so negation never overflows.
const MAX_NANOS: i128 = i128::MAX;

/// Kubernetes caps a parsed binary-SI quantity at 2⁶³−1 units (quantity.go, `maxAllowed`).
const BINARY_CAP_NANOS: i128 = i64::MAX as i128 * NANOS_PER_UNIT;

/// The binary-SI suffixes by power of 1024.
const BINARY_SUFFIXES: [&str; 7] = ["", "Ki", "Mi", "Gi", "Ti", "Pi", "Ei"];

/// How a quantity is printed: the kind of suffix it was written with.
///
/// Parsing remembers the format of the suffix (`Ki`…`Ei` are binary, `n`…`E` and no suffix are
/// decimal, `e3`/`E-2` are exponents) and printing uses it again, as Kubernetes does.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum Format {
    /// A power-of-ten exponent: `12e6`, `1200e-3`.
    DecimalExponent,
    /// Binary SI suffixes, powers of 1024: `12Mi` is 12 × 2²⁰. Values that are not whole numbers,
    /// or are smaller than 1024 in magnitude, print in [`Format::DecimalSI`] instead.
    BinarySI,
    /// Decimal SI suffixes, powers of 1000: `12M` is 12 × 10⁶, `500m` is 0.5. The default.
    #[default]
    DecimalSI,
}

impl fmt::Display for Format {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Format::DecimalExponent => "DecimalExponent",
            Format::BinarySI => "BinarySI",
            Format::DecimalSI => "DecimalSI",
        })
    }
}

/// Why a string is not a quantity.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum QuantityError {
    /// The text is not a number followed by a suffix: it is empty, has two decimal points,
    /// spaces, or characters that no suffix contains (Kubernetes' `ErrFormatWrong`).
    #[error(
        "{input:?} is not a quantity: expected an optional sign, digits with at most one decimal \
         point, and an optional suffix (n, u, m, k, M, G, T, P, E, Ki, Mi, Gi, Ti, Pi, Ei, or e \
         followed by an integer exponent)"
    )]
    Syntax {
        /// The text that was parsed.
        input: String,
    },
    /// The number is followed by letters that are not a suffix, such as `K` or `mi`
    /// (Kubernetes' `ErrSuffix`).
    #[error(
        "{input:?} is not a quantity: unknown suffix {suffix:?} (expected n, u, m, k, M, G, T, \
         P, E, Ki, Mi, Gi, Ti, Pi, Ei, or e followed by an integer exponent)"
    )]
    UnknownSuffix {
        /// The text that was parsed.
        input: String,
        /// The part after the number.
        suffix: String,
    },
    /// The value is too large in magnitude to be held exactly (more than about 1.7 × 10²⁹).
    #[error("{input:?} is out of range: a quantity's magnitude must be at most about 1.7e29")]
    OutOfRange {
        /// The text that was parsed.
        input: String,
    },
}

/// A fixed-point amount of a resource, such as `250m` CPU or `1Gi` of memory.
///
/// The value is an exact whole number of nano-units (10⁻⁹), between about −1.7 × 10²⁹ and
/// 1.7 × 10²⁹ units. Equality, ordering and hashing use the value only: `1000m == 1` and
/// `1Ki == 1024`, as Kubernetes' `Cmp` sees them. The [`Format`] only affects printing.
///
/// `Display` and `Serialize` print the canonical form; deserializing accepts a string or a
/// number (`cpu: 1`, `cpu: 0.5`, `memory: "1Gi"`).
#[derive(Clone, Copy, Default)]
pub struct Quantity {
    nanos: i128,
    format: Format,
}

impl Quantity {
    /// Zero, in decimal SI format.
    pub const ZERO: Quantity = Quantity {
        nanos: 0,
        format: Format::DecimalSI,
    };

    /// Parses a quantity written as Kubernetes accepts it: an optional sign, digits with at most
    /// one decimal point, and a suffix (none; `n u m k M G T P E`; `Ki Mi Gi Ti Pi Ei`; or `e`/`E`
    /// and a signed integer exponent).
    ///
    /// Like Kubernetes, it keeps nano precision and rounds finer values away from zero (`0.1n`
    /// is `1n`), caps binary-SI values at 2⁶³−1 units (`9Ei` is `8Ei` minus one), and accepts a
    /// number with no digits as zero (`.`, `-`, `m`), as its parser does. Surrounding spaces are
    /// an error here; deserialization trims them first, as Kubernetes' `UnmarshalJSON` does.
    /// Decimal values too large to hold exactly are an error, never a wrap.
    ///
    /// ```
    /// use flotilla_model::quantity::Quantity;
    ///
    /// assert_eq!(Quantity::parse("0.5").map(|q| q.to_string()), Ok("500m".to_string()));
    /// assert!(Quantity::parse("1.5.3").is_err());
    /// ```
    pub fn parse(input: &str) -> Result<Quantity, QuantityError> {
        let syntax = || QuantityError::Syntax {
            input: input.to_string(),
        };
        if input.is_empty() {
            return Err(syntax());
        }
        // Scan as quantity.go's parseQuantityString does: sign, integer digits, an optional
        // '.' and fraction digits, then a suffix made of suffix letters, an optional sign and
        // digits. Anything left over is a syntax error.
        let bytes = input.as_bytes();
        let mut pos = 0;
        let negative = match bytes[0] {
            b'-' => {
                pos = 1;
                true
            }
            b'+' => {
                pos = 1;
                false
            }
            _ => false,
        };
        let int_start = pos;
        while pos < bytes.len() && bytes[pos].is_ascii_digit() {
            pos += 1;
        }
        let int_digits = &bytes[int_start..pos];
        let mut frac_digits: &[u8] = &[];
        if pos < bytes.len() && bytes[pos] == b'.' {
            pos += 1;
            let frac_start = pos;
            while pos < bytes.len() && bytes[pos].is_ascii_digit() {
                pos += 1;
            }
            frac_digits = &bytes[frac_start..pos];
        }
        let suffix_start = pos;
        while pos < bytes.len() && b"eEinumkKMGTP".contains(&bytes[pos]) {
            pos += 1;
        }
        if pos < bytes.len() && (bytes[pos] == b'+' || bytes[pos] == b'-') {
            pos += 1;
        }
        while pos < bytes.len() && bytes[pos].is_ascii_digit() {
            pos += 1;
        }
        if pos != bytes.len() {
            return Err(syntax());
        }
        // Everything from suffix_start on is ASCII, so this slice is on a char boundary.
        let suffix = &input[suffix_start..];
        let unknown_suffix = || QuantityError::UnknownSuffix {
            input: input.to_string(),
            suffix: suffix.to_string(),
        };
        let (scale, format) = interpret_suffix(suffix).ok_or_else(unknown_suffix)?;

        // The significant digits of the number, without leading zeros; empty means zero.
        let mut digits: Vec<u8> = int_digits
            .iter()
            .chain(frac_digits)
            .map(|b| b - b'0')
            .collect();
        let first_nonzero = digits.iter().position(|&d| d != 0).unwrap_or(digits.len());
        digits.drain(..first_nonzero);
        let frac_len = frac_digits.len() as i128;

        let (magnitude, format) = match scale {
            Scale::Decimal(exponent) => {
                // value × 10⁹ = digits × 10^(exponent − fraction length + 9)
                let shift = i128::from(exponent) - frac_len + 9;
                let nanos = ceil_shifted(&digits, shift)
                    .filter(|&n| n <= MAX_NANOS as u128)
                    .ok_or_else(|| QuantityError::OutOfRange {
                        input: input.to_string(),
                    })?;
                (nanos as i128, format)
            }
            Scale::Binary(power) => {
                // value × 10⁹ = digits × 2^power × 10^(9 − fraction length)
                let product = mul_digits(&digits, 1u64 << power);
                let nanos = match ceil_shifted(&product, 9 - frac_len) {
                    Some(n) if n <= BINARY_CAP_NANOS as u128 => n as i128,
                    // quantity.go: "The max is just a simple cap."
                    _ => BINARY_CAP_NANOS,
                };
                // quantity.go: a binary value strictly between 0 and 1 becomes decimal SI.
                if nanos > 0 && nanos < NANOS_PER_UNIT {
                    (nanos, Format::DecimalSI)
                } else {
                    (nanos, format)
                }
            }
        };
        let nanos = if negative { -magnitude } else { magnitude };
        Ok(Quantity { nanos, format })
    }

    /// A quantity of `milli` thousandths of a unit, in decimal SI format (Kubernetes'
    /// `NewMilliQuantity(milli, DecimalSI)`): `from_milli(1500)` prints as `1500m`.
    pub fn from_milli(milli: i64) -> Quantity {
        Quantity {
            nanos: i128::from(milli) * 1_000_000,
            format: Format::DecimalSI,
        }
    }

    /// A quantity of `value` whole units in the given format (Kubernetes' `NewQuantity`):
    /// `from_value(1024, Format::BinarySI)` prints as `1Ki`, `from_value(1000, Format::DecimalSI)`
    /// as `1k`.
    pub fn from_value(value: i64, format: Format) -> Quantity {
        Quantity {
            nanos: i128::from(value) * NANOS_PER_UNIT,
            format,
        }
    }

    /// A quantity of `nanos` nano-units (10⁻⁹) in the given format. `i128::MIN`, the one value
    /// outside the symmetric range, is raised to `-i128::MAX`.
    pub fn from_nanos(nanos: i128, format: Format) -> Quantity {
        Quantity {
            nanos: nanos.max(-MAX_NANOS),
            format,
        }
    }

    /// The same value printed in another format.
    pub fn with_format(self, format: Format) -> Quantity {
        Quantity { format, ..self }
    }

    /// The exact value in nano-units (10⁻⁹): `1500m` is `1_500_000_000`.
    pub fn nanos(&self) -> i128 {
        self.nanos
    }

    /// The format the quantity prints in.
    pub fn format(&self) -> Format {
        self.format
    }

    /// The value in whole units, rounded away from zero (`1.1` gives 2, `-1.1` gives −2), and
    /// saturated at the bounds of `i64` (Kubernetes' `Value`, which wraps instead).
    pub fn value(&self) -> i64 {
        self.scaled_value(0)
    }

    /// The value in thousandths, rounded away from zero (`0.5m` gives 1), and saturated at the
    /// bounds of `i64` (Kubernetes' `MilliValue`, which wraps instead). This is the unit of CPU
    /// in the scheduler.
    pub fn milli_value(&self) -> i64 {
        self.scaled_value(-3)
    }

    /// The value in units of 10^`exponent`, rounded away from zero and saturated at the bounds
    /// of `i64` (Kubernetes' `ScaledValue`): `scaled_value(-3)` is [`Quantity::milli_value`],
    /// `scaled_value(6)` counts millions.
    pub fn scaled_value(&self, exponent: i32) -> i64 {
        let n = self.nanos;
        // The value is n × 10^-9; in units of 10^exponent it is n / 10^(exponent + 9).
        let shift = i64::from(exponent) + 9;
        let scaled = if shift >= 0 {
            // 10^38 is the largest power of ten an i128 holds; dividing by more leaves a
            // fraction whose only possible result, rounded away from zero, is the sign.
            if shift > 38 {
                n.signum()
            } else {
                let divisor = 10i128.pow(shift as u32);
                let quotient = n / divisor;
                if n % divisor != 0 {
                    quotient + n.signum()
                } else {
                    quotient
                }
            }
        } else if n == 0 {
            0
        } else if -shift > 38 {
            n.signum() * i128::MAX
        } else {
            n.saturating_mul(10i128.pow((-shift) as u32))
        };
        scaled.clamp(i128::from(i64::MIN), i128::from(i64::MAX)) as i64
    }

    /// The value as the nearest `f64`, for ratios and scores; not for arithmetic.
    pub fn as_approximate_f64(&self) -> f64 {
        self.nanos as f64 / NANOS_PER_UNIT as f64
    }

    /// Whether the value is zero.
    pub fn is_zero(&self) -> bool {
        self.nanos == 0
    }

    /// Whether the value is below zero.
    pub fn is_negative(&self) -> bool {
        self.nanos < 0
    }

    /// −1, 0 or 1 as the value is negative, zero or positive (Kubernetes' `Sign`).
    pub fn sign(&self) -> i32 {
        self.nanos.signum() as i32
    }

    /// The sum, or `None` if it is out of range. As in Kubernetes' `Add`, the result keeps
    /// `self`'s format unless `self` is zero, in which case it takes `other`'s.
    pub fn checked_add(self, other: Quantity) -> Option<Quantity> {
        let nanos = self
            .nanos
            .checked_add(other.nanos)
            .filter(|&n| n >= -MAX_NANOS)?;
        Some(Quantity {
            nanos,
            format: self.sum_format(other),
        })
    }

    /// The difference, or `None` if it is out of range. The format follows the rule of
    /// [`Quantity::checked_add`].
    pub fn checked_sub(self, other: Quantity) -> Option<Quantity> {
        let nanos = self
            .nanos
            .checked_sub(other.nanos)
            .filter(|&n| n >= -MAX_NANOS)?;
        Some(Quantity {
            nanos,
            format: self.sum_format(other),
        })
    }

    /// The sum, clamped to the range of a quantity. This is what `+` does.
    pub fn saturating_add(self, other: Quantity) -> Quantity {
        let nanos = self.nanos.saturating_add(other.nanos).max(-MAX_NANOS);
        Quantity {
            nanos,
            format: self.sum_format(other),
        }
    }

    /// The difference, clamped to the range of a quantity. This is what `-` does.
    pub fn saturating_sub(self, other: Quantity) -> Quantity {
        let nanos = self.nanos.saturating_sub(other.nanos).max(-MAX_NANOS);
        Quantity {
            nanos,
            format: self.sum_format(other),
        }
    }

    /// The product with an integer, or `None` if it is out of range (Kubernetes' `Mul`, which
    /// reports inexactness instead). The format is kept.
    pub fn checked_mul_int(self, factor: i64) -> Option<Quantity> {
        let nanos = self
            .nanos
            .checked_mul(i128::from(factor))
            .filter(|&n| n >= -MAX_NANOS)?;
        Some(Quantity {
            nanos,
            format: self.format,
        })
    }

    /// The product with an integer, clamped to the range of a quantity. The format is kept.
    pub fn mul_int(self, factor: i64) -> Quantity {
        let nanos = self
            .nanos
            .saturating_mul(i128::from(factor))
            .max(-MAX_NANOS);
        Quantity {
            nanos,
            format: self.format,
        }
    }

    /// The format of `self ± other`: Kubernetes' `Add` and `Sub` adopt the other operand's
    /// format when the receiver is zero.
    fn sum_format(self, other: Quantity) -> Format {
        if self.nanos == 0 {
            other.format
        } else {
            self.format
        }
    }

    /// Writes the canonical form (quantity.go, `CanonicalizeBytes`).
    fn write_canonical(&self, out: &mut String) {
        use std::fmt::Write as _;

        let n = self.nanos;
        if n == 0 {
            out.push('0');
            return;
        }
        let mut format = self.format;
        // A binary value that is smaller than 1024 in magnitude or not a whole number prints in
        // decimal SI, so that nothing is rounded.
        if format == Format::BinarySI
            && (n.abs() < 1024 * NANOS_PER_UNIT || n % NANOS_PER_UNIT != 0)
        {
            format = Format::DecimalSI;
        }
        if format == Format::BinarySI {
            let mut mantissa = n / NANOS_PER_UNIT;
            let mut power = 0;
            // Stop at Ei: Kubernetes has no larger binary suffix.
            while power < BINARY_SUFFIXES.len() - 1 && mantissa % 1024 == 0 {
                mantissa /= 1024;
                power += 1;
            }
            let _ = write!(out, "{mantissa}{}", BINARY_SUFFIXES[power]);
            return;
        }
        // Move every factor of ten into the exponent, then lower the exponent to a multiple of
        // three (amount.go, AsCanonicalBytes). The mantissa never grows beyond |n|.
        let mut mantissa = n;
        let mut exponent: i32 = -9;
        while mantissa % 10 == 0 {
            mantissa /= 10;
            exponent += 1;
        }
        while exponent % 3 != 0 {
            mantissa *= 10;
            exponent -= 1;
        }
        let si_suffix = match exponent {
            -9 => Some("n"),
            -6 => Some("u"),
            -3 => Some("m"),
            0 => Some(""),
            3 => Some("k"),
            6 => Some("M"),
            9 => Some("G"),
            12 => Some("T"),
            15 => Some("P"),
            18 => Some("E"),
            _ => None,
        };
        let _ = match (format, si_suffix) {
            (Format::DecimalSI, Some(suffix)) => write!(out, "{mantissa}{suffix}"),
            (_, _) if exponent == 0 => write!(out, "{mantissa}"),
            // Decimal SI has no suffix beyond E (10^18): fall back to an exponent rather than
            // drop the magnitude, as current apimachinery does ("1000E" prints "1e21").
            (_, _) => write!(out, "{mantissa}e{exponent}"),
        };
    }
}

/// How the suffix scales the number.
enum Scale {
    /// × 10^exponent.
    Decimal(i64),
    /// × 2^power.
    Binary(u32),
}

/// The scale and format of a suffix (suffix.go, `interpret`), or `None` if it is not one.
fn interpret_suffix(suffix: &str) -> Option<(Scale, Format)> {
    let decimal = |e| Some((Scale::Decimal(e), Format::DecimalSI));
    let binary = |p| Some((Scale::Binary(p), Format::BinarySI));
    match suffix {
        "n" => decimal(-9),
        "u" => decimal(-6),
        "m" => decimal(-3),
        "" => decimal(0),
        "k" => decimal(3),
        "M" => decimal(6),
        "G" => decimal(9),
        "T" => decimal(12),
        "P" => decimal(15),
        "E" => decimal(18),
        "Ki" => binary(10),
        "Mi" => binary(20),
        "Gi" => binary(30),
        "Ti" => binary(40),
        "Pi" => binary(50),
        "Ei" => binary(60),
        _ => {
            // An exponent: e or E, then a base-10 integer with an optional sign, as Go's
            // strconv.ParseInt reads it. (Kubernetes then truncates it to 32 bits; a larger
            // exponent here is simply out of range or rounds to 1n.)
            let rest = suffix.strip_prefix(['e', 'E'])?;
            let exponent = rest.parse::<i64>().ok()?;
            Some((Scale::Decimal(exponent), Format::DecimalExponent))
        }
    }
}

/// Multiplies a decimal number, given as digits most significant first without leading zeros,
/// by `factor`, giving its digits the same way.
fn mul_digits(digits: &[u8], factor: u64) -> Vec<u8> {
    if digits.is_empty() {
        return Vec::new();
    }
    let mut out = Vec::with_capacity(digits.len() + 20);
    let mut carry: u128 = 0;
    for &d in digits.iter().rev() {
        let t = u128::from(d) * u128::from(factor) + carry;
        out.push((t % 10) as u8);
        carry = t / 10;
    }
    while carry > 0 {
        out.push((carry % 10) as u8);
        carry /= 10;
    }
    while out.len() > 1 && out.last() == Some(&0) {
        out.pop();
    }
    out.reverse();
    out
}

/// `ceil(D × 10^shift)` for the decimal number D given as digits, most significant first without
/// leading zeros, or `None` if the result does not fit a `u128`. Inputs of any length take time
/// linear in their length, whatever the shift.
fn ceil_shifted(digits: &[u8], shift: i128) -> Option<u128> {
    if digits.is_empty() {
        return Some(0);
    }
    // Without leading zeros the first digit is not zero, so the integer part has exactly this
    // many digits; 39 digits is already more than u128::MAX (about 3.4 × 10^38) can always hold.
    let int_len = digits.len() as i128 + shift;
    if int_len > 39 {
        return None;
    }
    if int_len <= 0 {
        // 0 < D × 10^shift < 1.
        return Some(1);
    }
    let int_len = int_len as usize;
    let mut acc: u128 = 0;
    for i in 0..int_len {
        let d = digits.get(i).copied().unwrap_or(0);
        acc = acc.checked_mul(10)?.checked_add(u128::from(d))?;
    }
    if digits
        .get(int_len..)
        .is_some_and(|rest| rest.iter().any(|&d| d != 0))
    {
        acc = acc.checked_add(1)?;
    }
    Some(acc)
}

impl FromStr for Quantity {
    type Err = QuantityError;

    fn from_str(s: &str) -> Result<Quantity, QuantityError> {
        Quantity::parse(s)
    }
}

/// Prints the canonical form, as Kubernetes' `String()`: no fraction, the largest suffix of the
/// quantity's format that keeps the value exact (`1.5Gi` → `1536Mi`, `0.5` → `500m`, `1e3` →
/// `1e3`, `12E-1` → `1200e-3`), and `0` for zero.
///
/// Kubernetes echoes a parsed string back verbatim when it is already canonical, which keeps a
/// leading `+` or leading zeros (`+1`, `01`); this always prints the canonical form (`1`).
impl fmt::Display for Quantity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut s = String::with_capacity(24);
        self.write_canonical(&mut s);
        f.pad(&s)
    }
}

impl fmt::Debug for Quantity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("Quantity").field(&self.to_string()).finish()
    }
}

impl PartialEq for Quantity {
    fn eq(&self, other: &Quantity) -> bool {
        self.nanos == other.nanos
    }
}

impl Eq for Quantity {}

impl Hash for Quantity {
    fn hash<H: Hasher>(&self, state: &mut H) {
        // Only the value, to agree with Eq.
        self.nanos.hash(state);
    }
}

impl PartialOrd for Quantity {
    fn partial_cmp(&self, other: &Quantity) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Quantity {
    fn cmp(&self, other: &Quantity) -> Ordering {
        self.nanos.cmp(&other.nanos)
    }
}

/// Saturating addition; see [`Quantity::checked_add`] to detect overflow.
impl Add for Quantity {
    type Output = Quantity;

    fn add(self, other: Quantity) -> Quantity {
        self.saturating_add(other)
    }
}

/// Saturating subtraction; see [`Quantity::checked_sub`] to detect overflow.
impl Sub for Quantity {
    type Output = Quantity;

    fn sub(self, other: Quantity) -> Quantity {
        self.saturating_sub(other)
    }
}

impl AddAssign for Quantity {
    fn add_assign(&mut self, other: Quantity) {
        *self = self.saturating_add(other);
    }
}

impl SubAssign for Quantity {
    fn sub_assign(&mut self, other: Quantity) {
        *self = self.saturating_sub(other);
    }
}

/// Negation keeps the format and never overflows, since the range is symmetric.
impl Neg for Quantity {
    type Output = Quantity;

    fn neg(self) -> Quantity {
        Quantity {
            nanos: -self.nanos,
            format: self.format,
        }
    }
}

/// Saturating sum, starting from zero (so the result takes the first non-zero term's format).
impl Sum for Quantity {
    fn sum<I: Iterator<Item = Quantity>>(iter: I) -> Quantity {
        iter.fold(Quantity::ZERO, Quantity::saturating_add)
    }
}

impl<'a> Sum<&'a Quantity> for Quantity {
    fn sum<I: Iterator<Item = &'a Quantity>>(iter: I) -> Quantity {
        iter.fold(Quantity::ZERO, |acc, q| acc.saturating_add(*q))
    }
}

impl Serialize for Quantity {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

/// Reads a quantity from a string (`"250m"`, trimmed of surrounding whitespace as Kubernetes'
/// `UnmarshalJSON` does) or a number (`1`, `0.5`, `134217728`), which is read through its decimal
/// text. `null` reads as zero, as in Kubernetes.
impl<'de> Deserialize<'de> for Quantity {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Quantity, D::Error> {
        deserializer.deserialize_any(QuantityVisitor)
    }
}

struct QuantityVisitor;

impl QuantityVisitor {
    fn parse_text<E: de::Error>(text: &str) -> Result<Quantity, E> {
        Quantity::parse(text).map_err(E::custom)
    }
}

impl Visitor<'_> for QuantityVisitor {
    type Value = Quantity;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a quantity such as \"500m\" or \"1Gi\", or a number")
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Quantity, E> {
        Self::parse_text(v.trim())
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Quantity, E> {
        Self::parse_text(&v.to_string())
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Quantity, E> {
        Self::parse_text(&v.to_string())
    }

    fn visit_i128<E: de::Error>(self, v: i128) -> Result<Quantity, E> {
        Self::parse_text(&v.to_string())
    }

    fn visit_u128<E: de::Error>(self, v: u128) -> Result<Quantity, E> {
        Self::parse_text(&v.to_string())
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Quantity, E> {
        // Write the number as Go's encoding/json does (what Kubernetes parses after converting
        // YAML to JSON): plain digits, or an exponent below 1e-6 and from 1e21. Non-finite
        // values print as "NaN"/"inf" and fail to parse.
        let abs = v.abs();
        let text = if abs != 0.0 && !(1e-6..1e21).contains(&abs) {
            format!("{v:e}")
        } else {
            format!("{v}")
        };
        Self::parse_text(&text)
    }

    fn visit_unit<E: de::Error>(self) -> Result<Quantity, E> {
        Ok(Quantity::ZERO)
    }

    fn visit_none<E: de::Error>(self) -> Result<Quantity, E> {
        Ok(Quantity::ZERO)
    }
}

/// The sum of two resource lists, key by key; a key in only one list keeps its amount
/// (Kubernetes' `quota.Add`). Sums saturate at the range of a quantity.
pub fn add_resource_lists(a: &ResourceList, b: &ResourceList) -> ResourceList {
    let mut result = a.clone();
    add_into(&mut result, b);
    result
}

/// Adds `b` to `a` in place: [`add_resource_lists`] without a copy of `a`.
pub fn add_into(a: &mut ResourceList, b: &ResourceList) {
    for (name, amount) in b {
        match a.get_mut(name) {
            Some(entry) => *entry = entry.saturating_add(*amount),
            None => {
                a.insert(name.clone(), Quantity::ZERO.saturating_add(*amount));
            }
        }
    }
}

/// The difference of two resource lists, key by key; a key only in `b` appears negated
/// (Kubernetes' `quota.Subtract`). Differences saturate at the range of a quantity.
pub fn subtract_resource_lists(a: &ResourceList, b: &ResourceList) -> ResourceList {
    let mut result = a.clone();
    for (name, amount) in b {
        let entry = result.entry(name.clone()).or_insert(Quantity::ZERO);
        *entry = entry.saturating_sub(*amount);
    }
    result
}

/// The larger amount of each resource in either list (Kubernetes' `quota.Max`), as used for a
/// pod's effective request: the larger of its containers' sum and its largest init container.
/// On a tie the amount from `b` is kept.
pub fn max_resource_lists(a: &ResourceList, b: &ResourceList) -> ResourceList {
    let mut result = a.clone();
    max_into(&mut result, b);
    result
}

/// Raises each amount of `a` to `b`'s where `b`'s is at least as large, in place:
/// [`max_resource_lists`] without a copy of `a`.
pub fn max_into(a: &mut ResourceList, b: &ResourceList) {
    for (name, amount) in b {
        match a.get_mut(name) {
            Some(existing) if *existing <= *amount => *existing = *amount,
            Some(_) => {}
            None => {
                a.insert(name.clone(), *amount);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::hash_map::DefaultHasher;

    use Format::{BinarySI, DecimalExponent, DecimalSI};

    const UNIT: i128 = NANOS_PER_UNIT;
    const KI: i128 = 1024;

    fn q(s: &str) -> Quantity {
        match Quantity::parse(s) {
            Ok(q) => q,
            Err(e) => panic!("{s:?} should parse: {e}"),
        }
    }

    /// A quantity of `mantissa` × 10^`exponent` units, as Kubernetes' tests build them.
    fn dec(mantissa: i128, exponent: i32, format: Format) -> Quantity {
        let shift = exponent + 9;
        let nanos = if shift >= 0 {
            mantissa * 10i128.pow(shift as u32)
        } else {
            mantissa / 10i128.pow((-shift) as u32)
        };
        Quantity::from_nanos(nanos, format)
    }

    fn hash_of(q: &Quantity) -> u64 {
        let mut h = DefaultHasher::new();
        q.hash(&mut h);
        h.finish()
    }

    // The parse table of Kubernetes' TestQuantityParse: input, value, format.
    fn parse_table() -> Vec<(&'static str, Quantity)> {
        vec![
            ("0", dec(0, 0, DecimalSI)),
            ("0n", dec(0, 0, DecimalSI)),
            ("0u", dec(0, 0, DecimalSI)),
            ("0m", dec(0, 0, DecimalSI)),
            ("0Ki", dec(0, 0, BinarySI)),
            ("0k", dec(0, 0, DecimalSI)),
            ("0Mi", dec(0, 0, BinarySI)),
            ("0M", dec(0, 0, DecimalSI)),
            ("0Gi", dec(0, 0, BinarySI)),
            ("0G", dec(0, 0, DecimalSI)),
            ("0Ti", dec(0, 0, BinarySI)),
            ("0T", dec(0, 0, DecimalSI)),
            ("1", dec(1, 0, DecimalSI)),
            // Binary suffixes.
            ("1Ki", dec(KI, 0, BinarySI)),
            ("8Ki", dec(8 * KI, 0, BinarySI)),
            ("7Mi", dec(7 * KI.pow(2), 0, BinarySI)),
            ("6Gi", dec(6 * KI.pow(3), 0, BinarySI)),
            ("5Ti", dec(5 * KI.pow(4), 0, BinarySI)),
            ("4Pi", dec(4 * KI.pow(5), 0, BinarySI)),
            ("3Ei", dec(3 * KI.pow(6), 0, BinarySI)),
            ("10Ti", dec(10 * KI.pow(4), 0, BinarySI)),
            ("100Ti", dec(100 * KI.pow(4), 0, BinarySI)),
            // Decimal suffixes.
            ("5n", dec(5, -9, DecimalSI)),
            ("4u", dec(4, -6, DecimalSI)),
            ("3m", dec(3, -3, DecimalSI)),
            ("9", dec(9, 0, DecimalSI)),
            ("8k", dec(8, 3, DecimalSI)),
            ("50k", dec(5, 4, DecimalSI)),
            ("7M", dec(7, 6, DecimalSI)),
            ("6G", dec(6, 9, DecimalSI)),
            ("5T", dec(5, 12, DecimalSI)),
            ("40T", dec(4, 13, DecimalSI)),
            ("300T", dec(3, 14, DecimalSI)),
            ("2P", dec(2, 15, DecimalSI)),
            ("1E", dec(1, 18, DecimalSI)),
            // Decimal exponents.
            ("1E-3", dec(1, -3, DecimalExponent)),
            ("1e3", dec(1, 3, DecimalExponent)),
            ("1E6", dec(1, 6, DecimalExponent)),
            ("1e9", dec(1, 9, DecimalExponent)),
            ("1E12", dec(1, 12, DecimalExponent)),
            ("1e15", dec(1, 15, DecimalExponent)),
            ("1E18", dec(1, 18, DecimalExponent)),
            // Not canonical, still accepted.
            ("1e14", dec(1, 14, DecimalExponent)),
            ("1e13", dec(1, 13, DecimalExponent)),
            ("100.035k", dec(100035, 0, DecimalSI)),
            // Things that look like floating point.
            ("0.001", dec(1, -3, DecimalSI)),
            ("0.0005k", dec(5, -1, DecimalSI)),
            ("0.005", dec(5, -3, DecimalSI)),
            ("0.05", dec(5, -2, DecimalSI)),
            ("0.5", dec(5, -1, DecimalSI)),
            ("0.00050k", dec(5, -1, DecimalSI)),
            ("0.00500", dec(5, -3, DecimalSI)),
            ("0.05000", dec(5, -2, DecimalSI)),
            ("0.50000", dec(5, -1, DecimalSI)),
            ("0.5e0", dec(5, -1, DecimalExponent)),
            ("0.5e-1", dec(5, -2, DecimalExponent)),
            ("0.5e-2", dec(5, -3, DecimalExponent)),
            ("10.035M", dec(10035, 3, DecimalSI)),
            ("1.2e3", dec(12, 2, DecimalExponent)),
            ("1.3E+6", dec(13, 5, DecimalExponent)),
            ("1.40e9", dec(14, 8, DecimalExponent)),
            ("1.53E12", dec(153, 10, DecimalExponent)),
            ("1.6e15", dec(16, 14, DecimalExponent)),
            ("1.7E18", dec(17, 17, DecimalExponent)),
            ("9.01", dec(901, -2, DecimalSI)),
            ("8.1k", dec(81, 2, DecimalSI)),
            ("7.123456M", dec(7123456, 0, DecimalSI)),
            ("6.987654321G", dec(6987654321, 0, DecimalSI)),
            ("5.444T", dec(5444, 9, DecimalSI)),
            ("40.1T", dec(401, 11, DecimalSI)),
            ("300.2T", dec(3002, 11, DecimalSI)),
            ("2.5P", dec(25, 14, DecimalSI)),
            ("1.01E", dec(101, 16, DecimalSI)),
            // Values that round up to the nano, or saturate.
            ("3.001n", dec(4, -9, DecimalSI)),
            ("1.1E-9", dec(2, -9, DecimalExponent)),
            ("0.0000000001", dec(1, -9, DecimalSI)),
            ("0.0000000005", dec(1, -9, DecimalSI)),
            ("0.00000000050", dec(1, -9, DecimalSI)),
            ("0.5e-9", dec(1, -9, DecimalExponent)),
            ("0.9n", dec(1, -9, DecimalSI)),
            ("0.00000012345", dec(124, -9, DecimalSI)),
            ("0.00000012354", dec(124, -9, DecimalSI)),
            ("9Ei", dec(i64::MAX as i128, 0, BinarySI)),
            ("9223372036854775807Ki", dec(i64::MAX as i128, 0, BinarySI)),
            ("12E", dec(12, 18, DecimalSI)),
            // Fractional binary values.
            ("100.035Ki", dec(10243584, -2, BinarySI)),
            ("0.5Mi", dec(512 * KI, 0, BinarySI)),
            ("0.05Gi", dec(536870912, -1, BinarySI)),
            ("0.025Ti", dec(274877906944, -1, BinarySI)),
            // Odd but valid spellings; a binary value below one changes format.
            ("0.000000000001Ki", dec(2, -9, DecimalSI)),
            (".001", dec(1, -3, DecimalSI)),
            (".0001k", dec(100, -3, DecimalSI)),
            ("1.", dec(1, 0, DecimalSI)),
            ("1.G", dec(1, 9, DecimalSI)),
        ]
    }

    #[test]
    fn parses_kubernetes_table() {
        for (input, expected) in parse_table() {
            let got = q(input);
            assert_eq!(got.nanos(), expected.nanos(), "value of {input:?}");
            assert_eq!(got.format(), expected.format(), "format of {input:?}");
        }
    }

    #[test]
    fn parses_kubernetes_table_with_explicit_signs() {
        for (input, expected) in parse_table() {
            let negative = q(&format!("-{input}"));
            assert_eq!(negative.nanos(), -expected.nanos(), "value of -{input}");
            assert_eq!(negative.format(), expected.format(), "format of -{input}");
            let positive = q(&format!("+{input}"));
            assert_eq!(positive.nanos(), expected.nanos(), "value of +{input}");
            assert_eq!(positive.format(), expected.format(), "format of +{input}");
        }
    }

    #[test]
    fn parses_edge_cases_like_kubernetes() {
        assert_eq!(q(".5"), dec(5, -1, DecimalSI));
        assert_eq!(q("5."), dec(5, 0, DecimalSI));
        assert_eq!(q("-0"), Quantity::ZERO);
        assert_eq!(q("-0").to_string(), "0");
        assert_eq!(q("+1"), dec(1, 0, DecimalSI));
        assert_eq!(q("0.1m"), dec(100, -6, DecimalSI));
        assert_eq!(q("0.1m").to_string(), "100u");
        assert_eq!(q("0.1n").to_string(), "1n");
        assert_eq!(q("-0.1n").to_string(), "-1n");
        assert_eq!(q("007"), dec(7, 0, DecimalSI));
        assert_eq!(q("1e+3"), dec(1, 3, DecimalExponent));
        assert_eq!(q("1e03"), dec(1, 3, DecimalExponent));
        // "E" alone is exa; "E" with digits is an exponent.
        assert_eq!(q("2E").format(), DecimalSI);
        assert_eq!(q("2E2"), dec(2, 2, DecimalExponent));
        // Kubernetes' scanner takes a number without digits as zero (its TestParseQuantityString
        // accepts "." and "-."), so these parse as zero rather than fail.
        for input in [".", "-.", "+", "-", "m", "Ki", "e3"] {
            assert!(q(input).is_zero(), "{input:?} is zero");
        }
        assert_eq!(q("Ki").format(), BinarySI);
        assert_eq!(q("e3").format(), DecimalExponent);
    }

    #[test]
    fn rejects_malformed_quantities() {
        // Kubernetes' own invalid list, and more.
        let syntax = [
            "", "1.1.M", "1+1.0M", "0.1am", "aoeu", " 1", "1 ", "1.5.3", "10MiB", "abc", "1,5",
            "1_000", "1e3.5", "1e40Ki", "٣",
        ];
        for input in syntax {
            assert_eq!(
                Quantity::parse(input),
                Err(QuantityError::Syntax {
                    input: input.to_string()
                }),
                "{input:?}"
            );
        }
        let suffixes = [
            ("0.1mi", "mi"),
            (".5i", "i"),
            ("1i", "i"),
            ("-3.01i", "i"),
            ("1K", "K"),
            ("1e", "e"),
            ("-3.01e-", "e-"),
            ("--1", "-1"),
            ("+-1", "-1"),
            ("Mi1", "Mi1"),
            ("1E+", "E+"),
            ("1kk", "kk"),
            ("1Mi2", "Mi2"),
            ("1e99999999999999999999", "e99999999999999999999"),
        ];
        for (input, suffix) in suffixes {
            assert_eq!(
                Quantity::parse(input),
                Err(QuantityError::UnknownSuffix {
                    input: input.to_string(),
                    suffix: suffix.to_string()
                }),
                "{input:?}"
            );
        }
    }

    #[test]
    fn error_messages_quote_the_input_and_say_what_is_allowed() {
        let err = Quantity::parse("1.5.3").expect_err("two decimal points");
        assert_eq!(
            err.to_string(),
            "\"1.5.3\" is not a quantity: expected an optional sign, digits with at most one decimal \
             point, and an optional suffix (n, u, m, k, M, G, T, P, E, Ki, Mi, Gi, Ti, Pi, Ei, or e \
             followed by an integer exponent)"
        );
        let err = Quantity::parse("1K").expect_err("unknown suffix");
        assert_eq!(
            err.to_string(),
            "\"1K\" is not a quantity: unknown suffix \"K\" (expected n, u, m, k, M, G, T, P, E, \
             Ki, Mi, Gi, Ti, Pi, Ei, or e followed by an integer exponent)"
        );
        let err = Quantity::parse("").expect_err("empty");
        assert!(
            err.to_string().starts_with("\"\" is not a quantity: "),
            "{err}"
        );
        let err = Quantity::parse("1e30").expect_err("too large");
        assert_eq!(
            err.to_string(),
            "\"1e30\" is out of range: a quantity's magnitude must be at most about 1.7e29"
        );
    }

    #[test]
    fn range_limits() {
        // The largest value, written out in full, and one nano more.
        let max = "170141183460469231731687303715.884105727";
        assert_eq!(q(max).nanos(), i128::MAX);
        assert_eq!(q(&format!("-{max}")).nanos(), -i128::MAX);
        for input in [
            "170141183460469231731687303715.884105728",
            "1e30",
            "2e29",
            "1000000000000E",
            "1e1000000000",
        ] {
            assert_eq!(
                Quantity::parse(input),
                Err(QuantityError::OutOfRange {
                    input: input.to_string()
                })
            );
        }
        assert_eq!(q("1e29").to_string(), "100e27");
        assert_eq!(q("100000000000E").to_string(), "100e27");
        // Tiny values round up to a nano, however small; zero stays zero whatever the exponent.
        assert_eq!(q("1e-1000000000").nanos(), 1);
        assert_eq!(q("-1e-1000000000").nanos(), -1);
        assert!(q("0e1000000000").is_zero());
        assert!(q("0.000000000000000000000000000000000000000000e999").is_zero());
        // Long inputs are exact: a one after 50 zeros, with 50 more zeros after the point.
        let long = format!("1{}.{}1", "0".repeat(8), "0".repeat(50));
        assert_eq!(q(&long).nanos(), 100_000_000 * UNIT + 1);
        // Binary values are capped at 2^63 - 1 units, as Kubernetes does, in both directions.
        assert_eq!(q("8Ei").nanos(), i64::MAX as i128 * UNIT);
        assert_eq!(q("-9Ei").nanos(), -(i64::MAX as i128) * UNIT);
    }

    #[test]
    fn binary_cap_does_not_trigger_below_it() {
        assert_eq!(q("7.5Ei").nanos(), 15 * KI.pow(6) / 2 * UNIT);
        // 0.01Ti below 2^63 (which is 8388608Ti).
        assert_eq!(
            q("8388607.99Ti").nanos(),
            838860799 * KI.pow(4) * 10_000_000
        );
        assert_eq!(q("8388607.99Ti").format(), BinarySI);
    }

    // Kubernetes' TestQuantityString: a value, its canonical form, and another spelling of it.
    fn string_table() -> Vec<(Quantity, &'static str, &'static str)> {
        vec![
            (dec(KI.pow(3), 0, BinarySI), "1Gi", "1024Mi"),
            (dec(300 * KI.pow(2), 0, BinarySI), "300Mi", "307200Ki"),
            (dec(6 * KI, 0, BinarySI), "6Ki", ""),
            (dec(1001 * KI.pow(3), 0, BinarySI), "1001Gi", "1025024Mi"),
            (dec(KI.pow(4), 0, BinarySI), "1Ti", "1024Gi"),
            (dec(5, 0, BinarySI), "5", "5000m"),
            (dec(500, -3, BinarySI), "500m", "0.5"),
            (dec(1, 9, DecimalSI), "1G", "1000M"),
            (dec(1000, 6, DecimalSI), "1G", "0.001T"),
            (dec(1000000, 3, DecimalSI), "1G", ""),
            (dec(1000000000, 0, DecimalSI), "1G", ""),
            (dec(1, -3, DecimalSI), "1m", "1000u"),
            (dec(80, -3, DecimalSI), "80m", ""),
            (dec(1080, -3, DecimalSI), "1080m", "1.08"),
            (dec(108, -2, DecimalSI), "1080m", "1080000000n"),
            (dec(10800, -4, DecimalSI), "1080m", ""),
            (dec(300, 6, DecimalSI), "300M", ""),
            (dec(1, 12, DecimalSI), "1T", ""),
            (dec(1, 18, DecimalSI), "1E", ""),
            (dec(1, 21, DecimalSI), "1e21", "1000E"),
            (dec(5, 21, DecimalSI), "5e21", "5000E"),
            (dec(1, 24, DecimalSI), "1e24", "1000000E"),
            (dec(1234567, 6, DecimalSI), "1234567M", ""),
            (dec(1234567, -3, BinarySI), "1234567m", ""),
            (dec(3, 3, DecimalSI), "3k", ""),
            (dec(1025, 0, BinarySI), "1025", ""),
            (dec(0, 0, DecimalSI), "0", ""),
            (dec(0, 0, BinarySI), "0", ""),
            (dec(1, 9, DecimalExponent), "1e9", ".001e12"),
            (dec(1, -3, DecimalExponent), "1e-3", "0.001e0"),
            (dec(1, -9, DecimalExponent), "1e-9", "1000e-12"),
            (dec(80, -3, DecimalExponent), "80e-3", ""),
            (dec(300, 6, DecimalExponent), "300e6", ""),
            (dec(1, 12, DecimalExponent), "1e12", ""),
            (dec(1, 3, DecimalExponent), "1e3", ""),
            (dec(3, 3, DecimalExponent), "3e3", ""),
            (dec(0, 0, DecimalExponent), "0", "00"),
            (dec(1, -9, DecimalSI), "1n", ""),
            (dec(80, -9, DecimalSI), "80n", ""),
            (dec(1080, -9, DecimalSI), "1080n", ""),
            (dec(108, -8, DecimalSI), "1080n", ""),
            (dec(1, -6, DecimalSI), "1u", ""),
            (dec(80, -6, DecimalSI), "80u", ""),
            (dec(1080, -6, DecimalSI), "1080u", ""),
        ]
    }

    #[test]
    fn prints_kubernetes_canonical_forms() {
        for (value, canonical, alternate) in string_table() {
            assert_eq!(
                value.to_string(),
                canonical,
                "{value:?} ({})",
                value.format()
            );
            assert_eq!(
                q(canonical).to_string(),
                canonical,
                "reparsed {canonical:?}"
            );
            assert_eq!(q(canonical), value, "value of {canonical:?}");
            if !alternate.is_empty() {
                assert_eq!(
                    q(alternate).to_string(),
                    canonical,
                    "alternate {alternate:?}"
                );
            }
            if !value.is_zero() {
                assert_eq!(
                    (-value).to_string(),
                    format!("-{canonical}"),
                    "negated {canonical:?}"
                );
            }
        }
    }

    #[test]
    fn parse_then_print() {
        let cases = [
            // Kubernetes' TestQuantityParseEmit.
            ("1Ki", "1Ki"),
            ("1Mi", "1Mi"),
            ("1Gi", "1Gi"),
            ("1024Mi", "1Gi"),
            ("1000M", "1G"),
            (".001Ki", "1024m"),
            (".000001Ki", "1024u"),
            (".000000001Ki", "1024n"),
            (".000000000001Ki", "2n"),
            // The forms the API server returns for common inputs.
            ("1000m", "1"),
            ("1500m", "1500m"),
            ("0.5", "500m"),
            ("1.5Gi", "1536Mi"),
            ("0.5Ki", "512"),
            ("1e3", "1e3"),
            ("12E-1", "1200e-3"),
            ("100M", "100M"),
            ("1000k", "1M"),
            ("-1.5", "-1500m"),
            ("0", "0"),
            ("1.1Ki", "1126400m"),
            ("1.5Ki", "1536"),
            ("2048Ki", "2Mi"),
            ("1536Ki", "1536Ki"),
            ("1024Ei", "9223372036854775807"),
            ("+1", "1"),
            ("01", "1"),
            ("100", "100"),
            ("250m", "250m"),
            ("0.25", "250m"),
            ("128974848", "128974848"),
            ("129e6", "129e6"),
            ("129M", "129M"),
            ("123Mi", "123Mi"),
            ("1.5e3", "1500"),
            ("0e3", "0"),
        ];
        for (input, expected) in cases {
            assert_eq!(q(input).to_string(), expected, "{input:?}");
            if !q(input).is_zero() && !input.starts_with(['+', '-']) {
                assert_eq!(
                    q(&format!("-{input}")).to_string(),
                    format!("-{expected}"),
                    "-{input}"
                );
            }
        }
    }

    #[test]
    fn display_respects_width() {
        assert_eq!(format!("{:>6}", q("1Gi")), "   1Gi");
        assert_eq!(format!("{:?}", q("1.5Gi")), "Quantity(\"1536Mi\")");
    }

    #[test]
    fn binary_print_stops_at_exbi() {
        let huge = Quantity::from_nanos(KI.pow(7) * UNIT, BinarySI);
        assert_eq!(huge.to_string(), "1024Ei");
    }

    #[test]
    fn value_and_milli_value_round_away_from_zero() {
        let cases = [
            ("1.1", 2, 1100),
            ("1", 1, 1000),
            ("0.5m", 1, 1),
            ("1n", 1, 1),
            ("-1.1", -2, -1100),
            ("-0.5m", -1, -1),
            ("0", 0, 0),
            ("1Ki", 1024, 1024000),
            ("100m", 1, 100),
            ("9.01", 10, 9010),
        ];
        for (input, value, milli) in cases {
            assert_eq!(q(input).value(), value, "value of {input}");
            assert_eq!(q(input).milli_value(), milli, "milli value of {input}");
        }
    }

    #[test]
    fn integer_accessors_saturate() {
        assert_eq!(q("1e19").value(), i64::MAX);
        assert_eq!(q("-1e19").value(), i64::MIN);
        assert_eq!(q("1e16").milli_value(), i64::MAX);
        assert_eq!(q("-1e16").milli_value(), i64::MIN);
        assert_eq!(q("9223372036854775807").value(), i64::MAX);
        assert_eq!(q("9223372036854775807m").milli_value(), i64::MAX);
        assert_eq!(q("1e29").scaled_value(-40), i64::MAX);
        assert_eq!(q("1n").scaled_value(40), 1);
        assert_eq!(q("-1n").scaled_value(40), -1);
        assert_eq!(Quantity::ZERO.scaled_value(-40), 0);
    }

    #[test]
    fn scaled_value_between_scales() {
        // Kubernetes' TestScaledValue: one unit at one scale, read at another.
        let cases = [
            (-9, -9, 1),
            (-9, -6, 1),
            (-9, -3, 1),
            (-9, 0, 1),
            (-6, -9, 1000),
            (-6, -6, 1),
            (-6, -3, 1),
            (-6, 0, 1),
            (-3, -9, 1_000_000),
            (-3, -6, 1000),
            (-3, -3, 1),
            (-3, 0, 1),
            (0, -9, 1_000_000_000),
            (0, -6, 1_000_000),
            (0, -3, 1000),
            (0, 0, 1),
            (2, -2, 10_000),
        ];
        for (from, to, expected) in cases {
            assert_eq!(
                dec(1, from, DecimalSI).scaled_value(to),
                expected,
                "10^{from} in 10^{to}"
            );
        }
    }

    #[test]
    fn constructors() {
        // Kubernetes' TestMilliNewSet and TestNewSet.
        assert_eq!(Quantity::from_milli(1).to_string(), "1m");
        assert_eq!(Quantity::from_milli(1000).to_string(), "1");
        assert_eq!(Quantity::from_milli(1234000).to_string(), "1234");
        assert_eq!(Quantity::from_milli(1500).milli_value(), 1500);
        assert_eq!(Quantity::from_value(1, DecimalSI).to_string(), "1");
        assert_eq!(Quantity::from_value(1000, DecimalSI).to_string(), "1k");
        assert_eq!(
            Quantity::from_value(1234000, DecimalSI).to_string(),
            "1234k"
        );
        assert_eq!(Quantity::from_value(1024, BinarySI).to_string(), "1Ki");
        assert_eq!(
            Quantity::from_value(1000000, DecimalExponent).to_string(),
            "1e6"
        );
        assert_eq!(
            Quantity::from_value(1024 * 1024, BinarySI).to_string(),
            "1Mi"
        );
        assert_eq!(
            Quantity::from_milli(1024).with_format(BinarySI).to_string(),
            "1024m"
        );
        assert_eq!(Quantity::from_value(i64::MIN, DecimalSI).value(), i64::MIN);
        assert_eq!(
            Quantity::from_nanos(i128::MIN, DecimalSI).nanos(),
            -i128::MAX
        );
        assert_eq!(Quantity::from_nanos(5, DecimalSI).to_string(), "5n");
        assert_eq!(Quantity::default(), Quantity::ZERO);
        assert_eq!(Quantity::default().format(), DecimalSI);
    }

    #[test]
    fn compares_by_value() {
        assert_eq!(q("1000m"), q("1"));
        assert_eq!(q("1Ki"), q("1024"));
        assert_eq!(q("1e3"), q("1k"));
        assert_eq!(hash_of(&q("1Ki")), hash_of(&q("1024")));
        assert_eq!(hash_of(&q("0Gi")), hash_of(&Quantity::ZERO));
        assert!(q("100m") > q("50m"));
        assert!(q("50m") < q("100m"));
        assert!(q("10000T") > q("100Gi"));
        assert!(q("1Gi") > q("1G"));
        assert!(q("-1") < q("1n"));
        assert_eq!(q("0").cmp(&q("-0")), Ordering::Equal);
        let mut sorted = [q("1Gi"), q("500m"), q("-2"), q("1e3"), q("1G")];
        sorted.sort();
        let printed: Vec<String> = sorted.iter().map(Quantity::to_string).collect();
        assert_eq!(printed, ["-2", "500m", "1e3", "1G", "1Gi"]);
    }

    #[test]
    fn sign_and_zero() {
        assert_eq!(q("-5m").sign(), -1);
        assert_eq!(q("0Mi").sign(), 0);
        assert_eq!(q("5m").sign(), 1);
        assert!(q("-5m").is_negative());
        assert!(!q("0").is_negative());
        assert!(q("0Ki").is_zero());
        assert!(!q("1n").is_zero());
    }

    #[test]
    fn addition_and_subtraction() {
        // Kubernetes' TestAdd and TestSub.
        assert_eq!(
            dec(10, 0, DecimalSI) + dec(1, 1, DecimalSI),
            dec(20, 0, DecimalSI)
        );
        assert_eq!(dec(10, 0, DecimalSI) - dec(1, 1, DecimalSI), Quantity::ZERO);
        let mixed = dec(10, 0, DecimalSI) + dec(1, 0, BinarySI);
        assert_eq!((mixed, mixed.format()), (dec(11, 0, DecimalSI), DecimalSI));
        let mixed = dec(10, 0, BinarySI) - dec(1, 0, DecimalSI);
        assert_eq!((mixed, mixed.format()), (dec(9, 0, BinarySI), BinarySI));
        assert_eq!(
            Quantity::ZERO - dec(50, 0, DecimalSI),
            dec(-50, 0, DecimalSI)
        );
        assert_eq!(
            dec(50, 0, DecimalSI) - Quantity::ZERO,
            dec(50, 0, DecimalSI)
        );
        assert_eq!(Quantity::ZERO + Quantity::ZERO, Quantity::ZERO);
        // Adding to or subtracting from zero takes the other operand's suffix style.
        for input in ["100m", "1Gi"] {
            assert_eq!((q(input) + q("0")).to_string(), input);
            assert_eq!((q("0") + q(input)).to_string(), input);
            assert_eq!((q(input) - q("0")).to_string(), input);
            assert_eq!((q("0") - q(input)).to_string(), format!("-{input}"));
        }
        let mut total = q("100m");
        total += q("1.9");
        assert_eq!(total.to_string(), "2");
        total -= q("2500m");
        assert_eq!(total.to_string(), "-500m");
        assert_eq!((-q("9.01")).to_string(), "-9010m");
        assert_eq!((-q("1Gi")).format(), BinarySI);
    }

    #[test]
    fn checked_and_saturating_arithmetic() {
        let max = Quantity::from_nanos(i128::MAX, DecimalSI);
        let min = -max;
        assert_eq!(max.checked_add(q("1n")), None);
        assert_eq!(min.checked_sub(q("1n")), None);
        assert_eq!(
            min.checked_add(-q("1n")),
            None,
            "i128::MIN is outside the range"
        );
        assert_eq!(
            max.checked_sub(q("1n")).map(|x| x.nanos()),
            Some(i128::MAX - 1)
        );
        assert_eq!(q("1").checked_add(q("2")), Some(q("3")));
        assert_eq!(max + q("1"), max);
        assert_eq!(min - q("1"), min);
        assert_eq!((min - q("1")).nanos(), -i128::MAX);
        assert_eq!(max.checked_mul_int(2), None);
        assert_eq!(min.checked_mul_int(1), Some(min));
        assert_eq!(max.mul_int(-2).nanos(), -i128::MAX);
        // Kubernetes' TestMul, where exact.
        assert_eq!(dec(10, 0, DecimalSI).mul_int(10), dec(100, 0, DecimalSI));
        assert_eq!(dec(10, 0, BinarySI).mul_int(-1), dec(-10, 0, BinarySI));
        assert_eq!(dec(10, 0, BinarySI).mul_int(-1).format(), BinarySI);
        assert_eq!(dec(-50, 0, DecimalSI).mul_int(-50), dec(2500, 0, DecimalSI));
        assert_eq!(dec(-50, 0, DecimalSI).mul_int(0), Quantity::ZERO);
        let big = dec(i64::MAX as i128, 0, DecimalSI);
        assert_eq!(
            big.checked_mul_int(2).map(|x| x.nanos()),
            Some(2 * i64::MAX as i128 * UNIT)
        );
        assert_eq!(big.mul_int(10).to_string(), "92233720368547758070");
    }

    #[test]
    fn sums() {
        let requests = [q("100m"), q("250m"), q("1.5")];
        let total: Quantity = requests.iter().sum();
        assert_eq!(total.to_string(), "1850m");
        let memory: Quantity = [q("0"), q("512Mi"), q("512Mi")].into_iter().sum();
        assert_eq!(memory.to_string(), "1Gi");
        let none: Quantity = std::iter::empty::<Quantity>().sum();
        assert!(none.is_zero());
    }

    #[test]
    fn deserializes_strings_and_numbers_from_yaml() {
        let yaml = "\
cpu: 1
half: 0.5
memory: 134217728
limit: 250m
quoted: \"1Gi\"
spaced: \" 2Mi \"
exponent: 1e3
small: 0.0000001
negative: -2
big: 9223372036854775807
float: 1.0
nothing: ~
";
        let list: ResourceList = serde_yaml::from_str(yaml).expect("valid resource list");
        let printed: BTreeMap<&str, String> = list
            .iter()
            .map(|(k, v)| (k.as_str(), v.to_string()))
            .collect();
        let expected: BTreeMap<&str, String> = [
            ("cpu", "1"),
            ("half", "500m"),
            ("memory", "134217728"),
            ("limit", "250m"),
            ("quoted", "1Gi"),
            ("spaced", "2Mi"),
            ("exponent", "1k"),
            ("small", "100e-9"),
            ("negative", "-2"),
            ("big", "9223372036854775807"),
            ("float", "1"),
            ("nothing", "0"),
        ]
        .into_iter()
        .map(|(k, v)| (k, v.to_string()))
        .collect();
        assert_eq!(printed, expected);
    }

    #[test]
    fn rejects_bad_quantities_when_deserializing() {
        let err = serde_yaml::from_str::<ResourceList>("cpu: 1.5.3\n").expect_err("not a quantity");
        assert!(
            err.to_string().contains("\"1.5.3\" is not a quantity"),
            "{err}"
        );
        let err = serde_yaml::from_str::<ResourceList>("cpu: [1]\n").expect_err("a list");
        assert!(err.to_string().contains("a quantity such as"), "{err}");
        let err = serde_yaml::from_str::<ResourceList>("cpu: .nan\n").expect_err("NaN");
        assert!(
            err.to_string().contains("\"NaN\" is not a quantity"),
            "{err}"
        );
        let err = serde_json::from_str::<Quantity>("\"10MiB\"").expect_err("not a suffix");
        assert!(
            err.to_string().starts_with("\"10MiB\" is not a quantity"),
            "{err}"
        );
    }

    #[test]
    fn serializes_as_canonical_string() {
        let list: ResourceList = [
            ("cpu".to_string(), q("1500m")),
            ("memory".to_string(), q("1.5Gi")),
        ]
        .into();
        assert_eq!(
            serde_json::to_string(&list).expect("serializable"),
            r#"{"cpu":"1500m","memory":"1536Mi"}"#
        );
        // YAML quotes the string where it would read back as a number; either way it reads back.
        let yaml = serde_yaml::to_string(&q("1e3")).expect("serializable");
        let back: Quantity = serde_yaml::from_str(&yaml).expect("valid");
        assert_eq!(
            (back.to_string(), yaml.trim()),
            ("1e3".to_string(), "'1e3'")
        );
        let back: Quantity = serde_json::from_str("\"1536Mi\"").expect("valid");
        assert_eq!((back, back.format()), (q("1.5Gi"), BinarySI));
        let number: Quantity = serde_json::from_str("0.1").expect("valid");
        assert_eq!(number.to_string(), "100m");
        let integer: Quantity = serde_json::from_str("-1").expect("valid");
        assert_eq!(integer.to_string(), "-1");
    }

    #[test]
    fn resource_list_helpers() {
        let list = |items: &[(&str, &str)]| -> ResourceList {
            items.iter().map(|(k, v)| (k.to_string(), q(v))).collect()
        };
        let a = list(&[("cpu", "500m"), ("memory", "1Gi")]);
        let b = list(&[("cpu", "1500m"), ("nvidia.com/gpu", "1")]);
        assert_eq!(
            add_resource_lists(&a, &b),
            list(&[("cpu", "2"), ("memory", "1Gi"), ("nvidia.com/gpu", "1")])
        );
        assert_eq!(
            subtract_resource_lists(&a, &b),
            list(&[("cpu", "-1"), ("memory", "1Gi"), ("nvidia.com/gpu", "-1")])
        );
        assert_eq!(
            max_resource_lists(&a, &b),
            list(&[("cpu", "1500m"), ("memory", "1Gi"), ("nvidia.com/gpu", "1")])
        );
        assert_eq!(max_resource_lists(&b, &a)["cpu"].to_string(), "1500m");
        // On a tie, b's amount (and format) is kept, as in Kubernetes' quota.Max.
        let tie = max_resource_lists(
            &list(&[("memory", "1073741824")]),
            &list(&[("memory", "1Gi")]),
        );
        assert_eq!(tie["memory"].to_string(), "1Gi");
        assert_eq!(add_resource_lists(&a, &ResourceList::new()), a);
    }

    #[test]
    fn mul_digits_is_exact() {
        assert_eq!(mul_digits(&[1, 2], 1024), vec![1, 2, 2, 8, 8]);
        assert_eq!(mul_digits(&[9, 9, 9], 1 << 60), {
            let n: u128 = 999 * (1u128 << 60);
            n.to_string().bytes().map(|b| b - b'0').collect::<Vec<u8>>()
        });
        assert!(mul_digits(&[], 1024).is_empty());
    }

    #[test]
    fn ceil_shifted_rounds_up() {
        assert_eq!(ceil_shifted(&[1, 2, 3], 0), Some(123));
        assert_eq!(ceil_shifted(&[1, 2, 3], -1), Some(13));
        assert_eq!(ceil_shifted(&[1, 2, 0], -1), Some(12));
        assert_eq!(ceil_shifted(&[1, 2, 3], -3), Some(1));
        assert_eq!(ceil_shifted(&[1, 2, 3], -300), Some(1));
        assert_eq!(ceil_shifted(&[1], 38), Some(10u128.pow(38)));
        assert_eq!(ceil_shifted(&[4], 38), None);
        assert_eq!(ceil_shifted(&[1], 39), None);
        assert_eq!(ceil_shifted(&[], 1000), Some(0));
    }
}
