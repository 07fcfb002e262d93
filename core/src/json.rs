//! Reading the loosely typed JSON that servers send: the one rule for "a number or a
//! numeric string" (Entra's `expires_in`, managed identity hosts' `expires_on`, JWT
//! claims, `az account get-access-token`'s `expires_on` all come either way).

use serde_json::Value;

/// Reads a whole number that may come as a JSON number or a numeric string
/// (`3600`, `"3600"`, `" 3600 "`; a fractional JSON number is truncated, `1e300`
/// saturates). `None` for anything else, including a missing value.
pub fn number(v: Option<&Value>) -> Option<i64> {
    match v? {
        Value::Number(n) => n.as_i64().or_else(|| n.as_f64().map(|f| f as i64)),
        Value::String(s) => s.trim().parse::<i64>().ok(),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn numbers_and_numeric_strings() {
        assert_eq!(number(Some(&json!(3600))), Some(3600));
        assert_eq!(number(Some(&json!("3600"))), Some(3600));
        assert_eq!(number(Some(&json!(" -5 "))), Some(-5));
        assert_eq!(number(Some(&json!(12.9))), Some(12));
        assert_eq!(number(Some(&json!(1e300))), Some(i64::MAX));
        assert_eq!(number(Some(&json!("12.5"))), None);
        assert_eq!(number(Some(&json!("soon"))), None);
        assert_eq!(number(Some(&json!(null))), None);
        assert_eq!(number(Some(&json!([1]))), None);
        assert_eq!(number(None), None);
    }
}
