//! How a job's parameters (a manual run's extra environment) are kept: one JSON object in the
//! `params` column, NULL when there are none.

use std::collections::BTreeMap;

/// The largest a job's parameters may be, keys and values together: a person's handful of
/// variables, not a file (that is what secrets and the repository are for).
pub const MAX_PARAMS_BYTES: usize = 16 * 1024;

/// The column's value.
pub fn encode(params: &BTreeMap<String, String>) -> Option<String> {
    (!params.is_empty()).then(|| serde_json::to_string(params).unwrap_or_default())
}

/// The parameters from the column; a value this daemon did not write reads as none.
pub fn decode(column: Option<&str>) -> BTreeMap<String, String> {
    column
        .and_then(|text| serde_json::from_str(text).ok())
        .unwrap_or_default()
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_none() {
        let p = BTreeMap::from([("A".to_string(), "x y".to_string())]);
        assert_eq!(decode(encode(&p).as_deref()), p);
        assert_eq!(encode(&BTreeMap::new()), None);
        assert!(decode(None).is_empty());
        assert!(decode(Some("not json")).is_empty());
    }
}
