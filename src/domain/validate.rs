//! Checks on the small values every resource shares: slugs, names, addresses, URLs.

/// A slug addresses a team in URLs: lowercase letters, digits and dashes, starting with a letter.
pub fn slug(value: &str) -> Result<(), String> {
    let mut chars = value.chars();
    let starts_with_letter = chars.next().is_some_and(|c| c.is_ascii_lowercase());
    if !starts_with_letter
        || value.len() > 63
        || !chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
    {
        return Err(
            "must be 1-63 lowercase letters, digits or dashes, starting with a letter".into(),
        );
    }
    Ok(())
}

/// How much of a client's text an error message quotes.
pub const MAX_QUOTED: usize = 200;

/// `value` quoted for an error message, cut after [`MAX_QUOTED`] bytes: a message names what was
/// wrong without echoing a hostile input whole.
pub fn quoted(value: &str) -> String {
    match cut(value, MAX_QUOTED) {
        whole if whole.len() == value.len() => format!("{value:?}"),
        start => format!("{start:?}… ({} bytes)", value.len()),
    }
}

/// The first `max` bytes of `text` at most, ending on a character boundary.
pub fn cut(text: &str, max: usize) -> &str {
    let mut end = max.min(text.len());
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    &text[..end]
}

/// Why text holding the NUL character is refused: PostgreSQL stores no NUL in `text` or `jsonb`,
/// so it is refused on every backend alike, where it comes in.
pub const NUL_REASON: &str = "must not contain the NUL character (U+0000)";

/// Where the first NUL character in a JSON value is, in a string or a key, as a path
/// (`hours.mon[0]`; empty for the value itself); `None` when there is none.
pub fn nul_in_json(value: &serde_json::Value) -> Option<String> {
    use serde_json::Value;
    match value {
        Value::String(text) => text.contains('\0').then(String::new),
        Value::Array(items) => items.iter().enumerate().find_map(|(index, item)| {
            nul_in_json(item).map(|rest| join_path(&format!("[{index}]"), &rest))
        }),
        Value::Object(map) => map.iter().find_map(|(key, item)| {
            if key.contains('\0') {
                return Some(key.replace('\0', "\\u0000"));
            }
            nul_in_json(item).map(|rest| join_path(key, &rest))
        }),
        Value::Null | Value::Bool(_) | Value::Number(_) => None,
    }
}

fn join_path(head: &str, rest: &str) -> String {
    if rest.is_empty() || rest.starts_with('[') {
        format!("{head}{rest}")
    } else {
        format!("{head}.{rest}")
    }
}

/// A display name: not blank, at most 200 characters.
pub fn name(value: &str) -> Result<(), String> {
    if value.trim().is_empty() {
        return Err("must not be blank".into());
    }
    if value.chars().count() > 200 {
        return Err("must be at most 200 characters".into());
    }
    Ok(())
}

/// An email address, checked for shape only (one `@`, a dotted domain, no spaces).
pub fn email(value: &str) -> Result<(), String> {
    let invalid = || Err(format!("{value:?} is not an email address"));
    if value.len() > 254 || value.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return invalid();
    }
    match value.split_once('@') {
        Some((local, domain))
            if !local.is_empty()
                && !domain.contains('@')
                && domain.contains('.')
                && !domain.starts_with('.')
                && !domain.ends_with('.') =>
        {
            Ok(())
        }
        _ => invalid(),
    }
}

/// An absolute http(s) URL, as a webhook target must be.
pub fn http_url(value: &str) -> Result<(), String> {
    let rest = value
        .strip_prefix("https://")
        .or_else(|| value.strip_prefix("http://"))
        .ok_or_else(|| "must be an http:// or https:// URL".to_string())?;
    let host = rest.split(['/', '?', '#']).next().unwrap_or_default();
    if host.is_empty()
        || value.chars().any(|c| c.is_whitespace() || c.is_control())
        || value.len() > 2000
    {
        return Err("must be an http:// or https:// URL with a host".into());
    }
    Ok(())
}

/// A password for a person: long enough to resist guessing.
pub fn password(value: &str) -> Result<(), String> {
    if value.chars().count() < 12 {
        return Err("must be at least 12 characters".into());
    }
    if value.len() > 1024 {
        return Err("must be at most 1024 bytes".into());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slugs() {
        for good in ["marketing", "sales-emea", "cs2"] {
            assert!(slug(good).is_ok(), "{good}");
        }
        for bad in [
            "",
            "Marketing",
            "2nd",
            "sales team",
            "-x",
            "sales_emea",
            &"a".repeat(64),
        ] {
            assert!(slug(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn emails() {
        assert!(email("sales@example.com").is_ok());
        for bad in [
            "",
            "sales",
            "@example.com",
            "a@b",
            "a b@example.com",
            "a@@example.com",
            "a@example.",
        ] {
            assert!(email(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn urls() {
        assert!(http_url("https://hooks.slack.com/services/T/B/X").is_ok());
        assert!(http_url("http://127.0.0.1:9000/hook").is_ok());
        for bad in ["ftp://x", "https://", "hooks.slack.com", "https:// x"] {
            assert!(http_url(bad).is_err(), "{bad}");
        }
    }
}
