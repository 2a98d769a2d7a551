//! JavaScript's value semantics where the BenchApi contract uses them: `Number(v)`,
//! `String(v)`, `a + b` and `x || 0`, for the values a JSON peer sends. Both BenchApi servers
//! (typed and dynamic) use these, so they answer alike.

use tether::Value;

/// `x || 0` for a number: `NaN` and `-0` become `0`.
pub fn or_zero(x: f64) -> f64 {
    if x.is_nan() || x == 0.0 {
        0.0
    } else {
        x
    }
}

/// JavaScript's `Number(v)` for the values a JSON peer sends.
pub fn to_number(v: &Value) -> f64 {
    match v {
        Value::Null => 0.0,
        Value::Bool(b) => f64::from(u8::from(*b)),
        Value::Number(n) | Value::Date(n) => *n,
        Value::String(s) => {
            let s = s.trim();
            match s {
                "" => 0.0,
                "Infinity" | "+Infinity" => f64::INFINITY,
                "-Infinity" => f64::NEG_INFINITY,
                _ if s.contains(['i', 'I', 'n', 'N']) => f64::NAN,
                _ => s.parse().unwrap_or(f64::NAN),
            }
        }
        Value::Array(a) if a.is_empty() => 0.0,
        Value::Array(a) if a.len() == 1 => to_number(&Value::String(to_js_string(&a[0]))),
        _ => f64::NAN,
    }
}

/// JavaScript's `a + b`: string concatenation if either side is (or converts to) a string,
/// else numeric addition.
pub fn js_add(a: &Value, b: &Value) -> Value {
    let stringy = |v: &Value| {
        matches!(
            v,
            Value::String(_) | Value::Array(_) | Value::Object(_) | Value::Date(_)
        )
    };
    match (a, b) {
        (Value::BigInt(x), Value::BigInt(y)) => Value::BigInt(x + y),
        _ if stringy(a) || stringy(b) => {
            Value::String(format!("{}{}", to_js_string(a), to_js_string(b)))
        }
        _ => Value::Number(to_number(a) + to_number(b)),
    }
}

/// JavaScript's `String(v)` for plain data (objects become `[object Object]`).
pub fn to_js_string(v: &Value) -> String {
    match v {
        Value::Undefined => "undefined".to_owned(),
        Value::Null => "null".to_owned(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => js_number(*n),
        Value::String(s) => s.clone(),
        Value::BigInt(b) => b.to_string(),
        Value::Array(items) => items
            .iter()
            .map(|x| {
                if x.is_nullish() {
                    String::new()
                } else {
                    to_js_string(x)
                }
            })
            .collect::<Vec<_>>()
            .join(","),
        Value::Date(ms) => format!("Date({})", js_number(*ms)),
        Value::Error(e) => e.to_string(),
        _ => "[object Object]".to_owned(),
    }
}

/// JavaScript's `Number.prototype.toString()`: shortest round-trip digits, exponent form
/// from 1e21 up and below 1e-6.
pub fn js_number(n: f64) -> String {
    if n.is_nan() {
        return "NaN".to_owned();
    }
    if n.is_infinite() {
        return if n > 0.0 { "Infinity" } else { "-Infinity" }.to_owned();
    }
    if n == 0.0 {
        return "0".to_owned();
    }
    // `{:e}` gives the shortest round-trip digits: "-1.2345e-7" -> sign, digits, exponent.
    let sci = format!("{:e}", n.abs());
    let (mantissa, exponent) = sci.split_once('e').unwrap_or((&sci, "0"));
    let digits: String = mantissa.chars().filter(char::is_ascii_digit).collect();
    let e: i32 = exponent.parse().unwrap_or(0);
    let k = digits.len() as i32;
    let sign = if n < 0.0 { "-" } else { "" };
    let body = if (-7 < e) && (e < 21) {
        if e >= k - 1 {
            format!("{digits}{}", "0".repeat((e - k + 1) as usize))
        } else if e >= 0 {
            let split = (e + 1) as usize;
            format!("{}.{}", &digits[..split], &digits[split..])
        } else {
            format!("0.{}{digits}", "0".repeat((-e - 1) as usize))
        }
    } else {
        let tail = if k > 1 {
            format!("{}.{}", &digits[..1], &digits[1..])
        } else {
            digits.clone()
        };
        format!("{tail}e{}{}", if e >= 0 { "+" } else { "-" }, e.abs())
    };
    format!("{sign}{body}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_print_as_javascript_does() {
        let cases = [
            (1.0, "1"),
            (-1.5, "-1.5"),
            (0.1, "0.1"),
            (123456.789, "123456.789"),
            (1e21, "1e+21"),
            (1.5e21, "1.5e+21"),
            (1e20, "100000000000000000000"),
            (1e-7, "1e-7"),
            (1.25e-7, "1.25e-7"),
            (0.000001, "0.000001"),
            (f64::NAN, "NaN"),
            (-0.0, "0"),
        ];
        for (n, text) in cases {
            assert_eq!(js_number(n), text, "{n}");
        }
    }

    #[test]
    fn add_is_javascript_plus() {
        let n = |x: f64| Value::from(x);
        let s = |x: &str| Value::from(x);
        assert!(js_add(&n(2.0), &n(3.0)).data_eq(&n(5.0)));
        assert!(js_add(&s("a"), &s("b")).data_eq(&s("ab")));
        assert!(js_add(&n(1.0), &s("x")).data_eq(&s("1x")));
        assert!(js_add(&s("x"), &Value::Null).data_eq(&s("xnull")));
        assert!(js_add(&Value::Bool(true), &n(1.0)).data_eq(&n(2.0)));
    }
}
