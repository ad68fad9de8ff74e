//! The weather "scoring" rule: pure, so it is tested without HTTP.
//!
//! The answer is canned (always clear, 72 °F / 22.2 °C): the tool exists to test how the gateway
//! registers, deploys and proxies plain HTTP tools, not to forecast anything.

use serde::Serialize;
use serde_json::Value;

/// A successful answer to `POST /score`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Forecast {
    /// The location exactly as the caller gave it.
    pub location: String,
    /// `fahrenheit` or `celsius`, lower-cased.
    pub unit: String,
    pub temperature: f64,
    pub conditions: &'static str,
}

/// Why a request body was refused; each maps to a 400 with its [`detail`](Self::detail).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ScoreError {
    InvalidJson,
    MissingLocation,
    InvalidUnit,
}

impl ScoreError {
    /// The `detail` message clients see.
    pub fn detail(self) -> &'static str {
        match self {
            Self::InvalidJson => "Invalid JSON body.",
            Self::MissingLocation => "Missing 'location' field.",
            Self::InvalidUnit => "Invalid 'unit' value.",
        }
    }
}

/// Parses a raw request body and scores it.
pub fn score_body(body: &[u8]) -> Result<Forecast, ScoreError> {
    let request: Value = serde_json::from_slice(body).map_err(|_| ScoreError::InvalidJson)?;
    score(&request)
}

/// Scores an already parsed request: `location` must be a non-empty string; `unit` is
/// optional (absent or null means fahrenheit) and matched case-insensitively.
pub fn score(request: &Value) -> Result<Forecast, ScoreError> {
    let location = match request.get("location") {
        Some(Value::String(location)) if !location.trim().is_empty() => location.clone(),
        _ => return Err(ScoreError::MissingLocation),
    };
    let unit = match request.get("unit") {
        None | Some(Value::Null) => "fahrenheit".to_owned(),
        Some(Value::String(unit)) => unit.to_ascii_lowercase(),
        Some(_) => return Err(ScoreError::InvalidUnit),
    };
    let temperature = match unit.as_str() {
        "fahrenheit" => 72.0,
        "celsius" => 22.2,
        _ => return Err(ScoreError::InvalidUnit),
    };
    Ok(Forecast {
        location,
        unit,
        temperature,
        conditions: "clear",
    })
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn defaults_to_fahrenheit() {
        let forecast = score(&json!({"location": "Seattle"})).expect("valid request");
        assert_eq!(
            serde_json::to_value(forecast).expect("serialisable"),
            json!({"location": "Seattle", "unit": "fahrenheit", "temperature": 72.0, "conditions": "clear"})
        );
    }

    #[test]
    fn celsius_is_case_insensitive() {
        let forecast = score(&json!({"location": "Paris", "unit": "Celsius"})).expect("valid");
        assert_eq!(
            (forecast.unit.as_str(), forecast.temperature),
            ("celsius", 22.2)
        );
        let forecast = score(&json!({"location": "Paris", "unit": null})).expect("valid");
        assert_eq!(forecast.unit, "fahrenheit");
    }

    #[test]
    fn location_must_be_a_non_empty_string() {
        for request in [
            json!({}),
            json!({"location": ""}),
            json!({"location": "  "}),
            json!({"location": 5}),
            json!({"location": null}),
            json!(["Seattle"]),
        ] {
            assert_eq!(
                score(&request),
                Err(ScoreError::MissingLocation),
                "{request}"
            );
        }
    }

    #[test]
    fn unknown_units_are_refused() {
        for unit in [json!("kelvin"), json!(1), json!(["celsius"])] {
            let request = json!({"location": "Oslo", "unit": unit});
            assert_eq!(score(&request), Err(ScoreError::InvalidUnit), "{request}");
        }
    }

    #[test]
    fn bad_json_is_refused() {
        assert_eq!(score_body(b"{not json"), Err(ScoreError::InvalidJson));
        assert_eq!(score_body(b""), Err(ScoreError::InvalidJson));
        assert!(score_body(br#"{"location":"Rome","unit":"fahrenheit"}"#).is_ok());
    }
}
