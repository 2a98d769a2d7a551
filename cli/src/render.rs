//! Printing values: a [`Value`] as JSON with Cap'n Web's special values in a readable form
//! (`undefined`, `123n`, `Date(2024-01-01T00:00:00.000Z)`, `Bytes(len=3)`,
//! `Error: TypeError: msg`, `<stub>`), and ISO 8601 dates both ways.
//!
//! Owns only text: nothing here touches a session.

use tether::{BytesKind, RpcError, Value};

/// Widest a container is printed on one line before it is spread over several.
const INLINE_WIDTH: usize = 72;

/// Renders `value`: on one line when short, indented by two spaces per level otherwise.
pub(crate) fn render(value: &Value) -> String {
    let mut out = String::new();
    write_value(&mut out, value, 0);
    out
}

/// Renders an error as `Name: message`.
pub(crate) fn render_error(error: &RpcError) -> String {
    format!("{}: {}", error.name, error.message)
}

fn write_value(out: &mut String, value: &Value, indent: usize) {
    let inline = render_inline(value);
    if inline.len() <= INLINE_WIDTH.saturating_sub(indent) {
        out.push_str(&inline);
        return;
    }
    let pad = "  ".repeat(indent + 1);
    match value {
        Value::Array(items) => {
            out.push_str("[\n");
            for (i, item) in items.iter().enumerate() {
                out.push_str(&pad);
                write_value(out, item, indent + 1);
                out.push_str(if i + 1 < items.len() { ",\n" } else { "\n" });
            }
            out.push_str(&"  ".repeat(indent));
            out.push(']');
        }
        Value::Object(object) => {
            out.push_str("{\n");
            let n = object.len();
            for (i, (key, item)) in object.iter().enumerate() {
                out.push_str(&pad);
                out.push_str(&json_string(key));
                out.push_str(": ");
                write_value(out, item, indent + 1);
                out.push_str(if i + 1 < n { ",\n" } else { "\n" });
            }
            out.push_str(&"  ".repeat(indent));
            out.push('}');
        }
        _ => out.push_str(&inline),
    }
}

/// Renders `value` on one line.
pub(crate) fn render_inline(value: &Value) -> String {
    match value {
        Value::Undefined => "undefined".into(),
        Value::Null => "null".into(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => number(*n),
        Value::String(s) => json_string(s),
        Value::Array(items) => {
            let inner: Vec<String> = items.iter().map(render_inline).collect();
            format!("[{}]", inner.join(", "))
        }
        Value::Object(object) => {
            if object.is_empty() {
                return "{}".into();
            }
            let inner: Vec<String> = object
                .iter()
                .map(|(k, v)| format!("{}: {}", json_string(k), render_inline(v)))
                .collect();
            format!("{{ {} }}", inner.join(", "))
        }
        Value::BigInt(b) => format!("{b}n"),
        Value::Date(ms) => format!("Date({})", format_iso_date(*ms)),
        Value::Bytes(bytes) => {
            let name = match bytes.kind {
                BytesKind::Uint8Array => "Bytes",
                other => other.name(),
            };
            format!("{name}(len={})", bytes.data.len())
        }
        Value::Error(e) => format!("Error: {}", render_error(e)),
        Value::Stub(_) => "<stub>".into(),
        Value::Promise(_) => "<promise>".into(),
        Value::Readable(_) => "<ReadableStream>".into(),
        Value::Writable(_) => "<WritableStream>".into(),
        Value::Url(url) => format!("URL({})", json_string(url.href())),
        Value::Headers(headers) => {
            let pairs: Vec<String> = headers
                .pairs()
                .map(|(name, value)| format!("{}: {}", json_string(name), json_string(&value)))
                .collect();
            format!("Headers({{ {} }})", pairs.join(", "))
        }
        Value::Request(request) => format!("Request({} {})", request.method(), request.uri()),
        Value::Response(response) => format!("Response({})", response.status().as_u16()),
        Value::Blob(blob) => format!("Blob({}, len={})", json_string(&blob.mime), blob.data.len()),
    }
}

/// A JavaScript number as JavaScript prints it for the common cases: integers without `.0`.
pub(crate) fn number(n: f64) -> String {
    if n.is_nan() {
        "NaN".into()
    } else if n.is_infinite() {
        if n > 0.0 { "Infinity" } else { "-Infinity" }.into()
    } else if n.fract() == 0.0 && n.abs() < 1e21 {
        format!("{}", n as i128)
    } else {
        format!("{n}")
    }
}

/// A string in JSON syntax.
pub(crate) fn json_string(s: &str) -> String {
    serde_json::Value::String(s.to_owned()).to_string()
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The date of a day number (inverse of [`days_from_civil`]).
fn civil_from_days(z: i64) -> (i64, i64, i64) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

/// Milliseconds since the epoch as `Date.prototype.toISOString` gives them
/// (`Invalid Date` for `NaN`).
pub(crate) fn format_iso_date(ms: f64) -> String {
    if !ms.is_finite() || ms.abs() > 8.64e15 {
        return "Invalid Date".into();
    }
    let ms = ms as i64;
    let days = ms.div_euclid(86_400_000);
    let rest = ms.rem_euclid(86_400_000);
    let (y, m, d) = civil_from_days(days);
    let year = if (0..=9999).contains(&y) {
        format!("{y:04}")
    } else {
        format!("{}{:06}", if y < 0 { '-' } else { '+' }, y.abs())
    };
    format!(
        "{year}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{:03}Z",
        rest / 3_600_000,
        rest / 60_000 % 60,
        rest / 1000 % 60,
        rest % 1000
    )
}

/// Parses `YYYY-MM-DD`, optionally followed by `THH:MM`, `:SS`, `.sss` and `Z` or `±HH:MM`
/// (no zone means UTC), into milliseconds since the epoch.
pub(crate) fn parse_iso_date(s: &str) -> Option<f64> {
    let s = s.trim();
    let b = s.as_bytes();
    let num = |from: usize, len: usize| -> Option<i64> {
        let part = s.get(from..from + len)?;
        if !part.bytes().all(|c| c.is_ascii_digit()) {
            return None;
        }
        part.parse().ok()
    };
    let year = num(0, 4)?;
    if b.get(4) != Some(&b'-') || b.get(7) != Some(&b'-') {
        return None;
    }
    let (month, day) = (num(5, 2)?, num(8, 2)?);
    if !(1..=12).contains(&month) || !(1..=31).contains(&day) {
        return None;
    }
    let mut ms = days_from_civil(year, month, day) * 86_400_000;
    let mut i = 10;
    if matches!(b.get(i), Some(b'T' | b't' | b' ')) {
        let (h, mi) = (num(i + 1, 2)?, num(i + 4, 2)?);
        if b.get(i + 3) != Some(&b':') || h > 24 || mi > 59 {
            return None;
        }
        ms += (h * 60 + mi) * 60_000;
        i += 6;
        if b.get(i) == Some(&b':') {
            let sec = num(i + 1, 2)?;
            if sec > 60 {
                return None;
            }
            ms += sec * 1000;
            i += 3;
            if b.get(i) == Some(&b'.') {
                let start = i + 1;
                let mut end = start;
                while b.get(end).is_some_and(u8::is_ascii_digit) {
                    end += 1;
                }
                let frac = s.get(start..end)?;
                if frac.is_empty() {
                    return None;
                }
                let padded = format!("{frac:0<3}");
                ms += padded.get(..3)?.parse::<i64>().ok()?;
                i = end;
            }
        }
        match b.get(i) {
            None => {}
            Some(b'Z' | b'z') => i += 1,
            Some(sign @ (b'+' | b'-')) => {
                let (zh, zm) = (num(i + 1, 2)?, num(i + 4, 2)?);
                if b.get(i + 3) != Some(&b':') {
                    return None;
                }
                let offset = (zh * 60 + zm) * 60_000;
                ms += if *sign == b'+' { -offset } else { offset };
                i += 6;
            }
            Some(_) => return None,
        }
    }
    (i == b.len()).then_some(ms as f64)
}

#[cfg(test)]
mod tests {
    use super::*;
    use tether::{BigInt, Bytes};

    #[test]
    fn dates_round_trip() {
        assert_eq!(parse_iso_date("1970-01-01T00:00:00Z"), Some(0.0));
        assert_eq!(
            parse_iso_date("2024-01-01T00:00:00Z"),
            Some(1_704_067_200_000.0)
        );
        assert_eq!(parse_iso_date("2024-01-01"), Some(1_704_067_200_000.0));
        assert_eq!(
            parse_iso_date("2024-01-01T01:00:00.5+01:00"),
            Some(1_704_067_200_500.0)
        );
        assert_eq!(parse_iso_date("2024-13-01"), None);
        assert_eq!(parse_iso_date("2024-01-01T00:00:00Zjunk"), None);
        assert_eq!(
            format_iso_date(1_704_067_200_123.0),
            "2024-01-01T00:00:00.123Z"
        );
        assert_eq!(format_iso_date(-1.0), "1969-12-31T23:59:59.999Z");
        assert_eq!(format_iso_date(f64::NAN), "Invalid Date");
    }

    #[test]
    fn special_values_are_readable() {
        let v = Value::array([
            Value::Undefined,
            Value::BigInt(BigInt::from(123)),
            Value::Date(0.0),
            Value::Bytes(Bytes::new(vec![1, 2, 3])),
            Value::Error(Box::new(RpcError::type_error("msg"))),
            Value::Number(1.5),
            Value::Number(7.0),
            Value::Number(f64::NEG_INFINITY),
        ]);
        assert_eq!(
            render(&v),
            "[\n  undefined,\n  123n,\n  Date(1970-01-01T00:00:00.000Z),\n  Bytes(len=3),\n  \
             Error: TypeError: msg,\n  1.5,\n  7,\n  -Infinity\n]"
        );
        assert_eq!(
            render(&Value::object([("a", Value::from(1)), ("b", Value::Null)])),
            r#"{ "a": 1, "b": null }"#
        );
    }
}
