//! JSON text as JavaScript writes it.
//!
//! Owns the low-level writers shared by the codec: numbers formatted like JavaScript's
//! `Number.prototype.toString` (what `JSON.stringify` prints) and strings escaped like
//! `JSON.stringify`.

use std::fmt::Write as _;

/// 2^53: integral numbers below this print through the integer fast path.
const MAX_SAFE: f64 = 9_007_199_254_740_992.0;

/// Writes a finite number as JavaScript prints it (`5`, `-0` as `0`, `0.1`, `1e+21`, `1.5e-7`).
/// Non-finite numbers are written as `null`, as `JSON.stringify` does; callers that want the
/// `["inf"]` forms handle them first.
pub(super) fn write_number(out: &mut String, x: f64) {
    if !x.is_finite() {
        out.push_str("null");
        return;
    }
    if x == 0.0 {
        out.push('0');
        return;
    }
    if x.fract() == 0.0 && x.abs() <= MAX_SAFE {
        // Exact: |x| <= 2^53 fits in i64 without rounding.
        let _ = write!(out, "{}", x as i64);
        return;
    }
    let magnitude = x.abs();
    let (mut digits, mut exp10) = shortest_digits(magnitude);
    if let Some(even) = even_tie_candidate(magnitude, digits, exp10) {
        digits = even;
        while digits % 10 == 0 {
            digits /= 10;
            exp10 += 1;
        }
    }
    if x < 0.0 {
        out.push('-');
    }
    let mut buf = StackBuf::default();
    let _ = write!(buf, "{digits}");
    let text = buf.as_str();
    write_digits(out, text, exp10 + text.len() as i32);
}

/// The shortest round-trip decimal digits of a positive finite `x`: `(d, e)` with
/// `x ≈ d × 10^e` and `d` free of trailing zeros (Rust's `{:e}` formatting finds them).
fn shortest_digits(x: f64) -> (u64, i32) {
    let mut buf = StackBuf::default();
    let _ = write!(buf, "{x:e}");
    let text = buf.as_str();
    let (mantissa, exponent) = text.split_once('e').unwrap_or((text, "0"));
    let mut digits = 0u64;
    let mut count = 0i32;
    for b in mantissa.bytes().filter(u8::is_ascii_digit) {
        digits = digits.wrapping_mul(10).wrapping_add(u64::from(b - b'0'));
        count += 1;
    }
    (digits, exponent.parse::<i32>().unwrap_or(0) - (count - 1))
}

/// ECMAScript picks the even candidate when `x` lies exactly halfway between two shortest
/// candidates; Rust's shortest formatting rounds such ties up. Returns the even candidate when
/// that applies and it differs from `digits`.
fn even_tie_candidate(x: f64, digits: u64, exp10: i32) -> Option<u64> {
    let (exact, exact_exp) = exact_decimal(x)?;
    // A tie: the exact value has one more digit than the candidates, and that digit is a 5.
    if exact_exp != exp10 - 1 || exact % 10 != 5 {
        return None;
    }
    let lower = u64::try_from(exact / 10).ok()?;
    let even = if lower % 2 == 0 { lower } else { lower + 1 };
    if even == digits || even == 0 {
        return None;
    }
    // The other candidate must still read back as `x`.
    let mut buf = StackBuf::default();
    let _ = write!(buf, "{even}e{exp10}");
    (buf.as_str().parse::<f64>().ok() == Some(x)).then_some(even)
}

/// The exact value of a positive finite `x` as `n × 10^e` with `n` free of trailing zeros, when
/// `n` fits in a `u128` (always so when a tie with at most 17 digits is possible).
fn exact_decimal(x: f64) -> Option<(u128, i32)> {
    let bits = x.to_bits();
    let biased = ((bits >> 52) & 0x7ff) as i32;
    let fraction = bits & ((1 << 52) - 1);
    let (mut mantissa, mut exp2) = if biased == 0 {
        (fraction, -1074)
    } else {
        (fraction | (1 << 52), biased - 1075)
    };
    if mantissa == 0 {
        return None;
    }
    let shift = mantissa.trailing_zeros();
    mantissa >>= shift;
    exp2 += shift as i32;
    let (mut n, mut e) = if exp2 >= 0 {
        (u128::from(mantissa).checked_shl(exp2 as u32)?, 0)
    } else {
        // mantissa / 2^q = mantissa × 5^q / 10^q; beyond q = 27 no tie fits in 17 digits.
        let q = -exp2;
        if q > 27 {
            return None;
        }
        (
            u128::from(mantissa).checked_mul(5u128.checked_pow(q as u32)?)?,
            -q,
        )
    };
    if exp2 >= 0 && n >> exp2 != u128::from(mantissa) {
        return None; // shifted out of range
    }
    while n % 10 == 0 {
        n /= 10;
        e += 1;
    }
    Some((n, e))
}

/// A small fixed buffer for formatting numbers without allocating.
struct StackBuf {
    buf: [u8; 48],
    len: usize,
}

impl Default for StackBuf {
    fn default() -> Self {
        Self {
            buf: [0; 48],
            len: 0,
        }
    }
}

impl StackBuf {
    fn as_str(&self) -> &str {
        std::str::from_utf8(self.buf.get(..self.len).unwrap_or_default()).unwrap_or_default()
    }
}

impl std::fmt::Write for StackBuf {
    fn write_str(&mut self, s: &str) -> std::fmt::Result {
        let end = self.len + s.len();
        let slot = self.buf.get_mut(self.len..end).ok_or(std::fmt::Error)?;
        slot.copy_from_slice(s.as_bytes());
        self.len = end;
        Ok(())
    }
}

/// ECMAScript Number::toString for digits `d1 d2 ... dk` times 10^(n-k).
fn write_digits(out: &mut String, digits: &str, n: i32) {
    let k = digits.len() as i32;
    if k <= n && n <= 21 {
        out.push_str(digits);
        out.extend(std::iter::repeat_n('0', (n - k) as usize));
    } else if 0 < n && n <= 21 {
        let (int, frac) = digits.split_at(n as usize);
        out.push_str(int);
        out.push('.');
        out.push_str(frac);
    } else if -6 < n && n <= 0 {
        out.push_str("0.");
        out.extend(std::iter::repeat_n('0', (-n) as usize));
        out.push_str(digits);
    } else {
        let (first, rest) = digits.split_at(1);
        out.push_str(first);
        if !rest.is_empty() {
            out.push('.');
            out.push_str(rest);
        }
        let e = n - 1;
        let _ = write!(out, "e{}{}", if e < 0 { '-' } else { '+' }, e.abs());
    }
}

/// A number as JavaScript's `String(x)` renders it (`NaN`, `Infinity` for the non-finite).
pub(super) fn number_to_string(x: f64) -> String {
    if x.is_nan() {
        return "NaN".to_owned();
    }
    if x.is_infinite() {
        return if x > 0.0 { "Infinity" } else { "-Infinity" }.to_owned();
    }
    let mut s = String::new();
    write_number(&mut s, x);
    s
}

/// Writes `s` as a JSON string literal, escaping exactly what `JSON.stringify` escapes.
pub(super) fn write_str(out: &mut String, s: &str) {
    out.reserve(s.len() + 2);
    out.push('"');
    let bytes = s.as_bytes();
    let mut start = 0;
    for (i, &b) in bytes.iter().enumerate() {
        let escape: &str = match b {
            b'"' => "\\\"",
            b'\\' => "\\\\",
            b'\n' => "\\n",
            b'\r' => "\\r",
            b'\t' => "\\t",
            0x08 => "\\b",
            0x0c => "\\f",
            0x00..=0x1f => "",
            _ => continue,
        };
        // `i` is at an ASCII byte, so both slices end on char boundaries.
        out.push_str(&s[start..i]);
        if escape.is_empty() {
            let _ = write!(out, "\\u{b:04x}");
        } else {
            out.push_str(escape);
        }
        start = i + 1;
    }
    out.push_str(&s[start..]);
    out.push('"');
}
