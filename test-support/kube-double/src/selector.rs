//! Label selectors (`a=b,c!=d,e in (x,y),!f`) and the two field selectors the double knows
//! (`metadata.name`, `metadata.namespace`), parsed as the API server documents them.

use serde_json::Value;

#[derive(Clone, Debug, PartialEq)]
enum Requirement {
    Equals(String, String),
    NotEquals(String, String),
    In(String, Vec<String>),
    NotIn(String, Vec<String>),
    Exists(String),
    NotExists(String),
}

/// A parsed label selector plus optional field selector; the empty selector matches everything.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Selector {
    labels: Vec<Requirement>,
    fields: Vec<(String, String)>,
}

impl Selector {
    /// Parses `labelSelector` and `fieldSelector` query values.
    pub fn parse(labels: Option<&str>, fields: Option<&str>) -> Result<Selector, String> {
        let mut selector = Selector::default();
        for term in split_terms(labels.unwrap_or("")) {
            selector.labels.push(parse_term(&term)?);
        }
        for term in split_terms(fields.unwrap_or("")) {
            let (key, value) = term
                .split_once("==")
                .or_else(|| term.split_once('='))
                .ok_or_else(|| format!("field selector {term:?}: only `key=value` is supported"))?;
            let key = key.trim();
            if key != "metadata.name" && key != "metadata.namespace" {
                return Err(format!(
                    "field selector on {key:?} is not supported by the double (only \
                     metadata.name and metadata.namespace)"
                ));
            }
            selector
                .fields
                .push((key.to_string(), value.trim().to_string()));
        }
        Ok(selector)
    }

    /// Whether `object` (a full API object) matches.
    pub fn matches(&self, object: &Value) -> bool {
        let metadata = &object["metadata"];
        let label = |key: &str| metadata["labels"][key].as_str();
        let labels_ok = self.labels.iter().all(|requirement| match requirement {
            Requirement::Equals(key, value) => label(key) == Some(value.as_str()),
            Requirement::NotEquals(key, value) => label(key) != Some(value.as_str()),
            Requirement::In(key, values) => {
                label(key).is_some_and(|l| values.iter().any(|v| v == l))
            }
            Requirement::NotIn(key, values) => {
                !label(key).is_some_and(|l| values.iter().any(|v| v == l))
            }
            Requirement::Exists(key) => label(key).is_some(),
            Requirement::NotExists(key) => label(key).is_none(),
        });
        labels_ok
            && self.fields.iter().all(|(key, value)| {
                let field = key.trim_start_matches("metadata.");
                metadata[field].as_str() == Some(value.as_str())
            })
    }
}

/// Splits on commas outside parentheses.
fn split_terms(text: &str) -> Vec<String> {
    let mut terms = Vec::new();
    let mut depth = 0usize;
    let mut current = String::new();
    for c in text.chars() {
        match c {
            '(' => depth += 1,
            ')' => depth = depth.saturating_sub(1),
            ',' if depth == 0 => {
                terms.push(std::mem::take(&mut current));
                continue;
            }
            _ => {}
        }
        current.push(c);
    }
    terms.push(current);
    terms
        .into_iter()
        .map(|t| t.trim().to_string())
        .filter(|t| !t.is_empty())
        .collect()
}

fn parse_term(term: &str) -> Result<Requirement, String> {
    let set = |rest: &str| -> Result<Vec<String>, String> {
        let inner = rest
            .trim()
            .strip_prefix('(')
            .and_then(|r| r.strip_suffix(')'))
            .ok_or_else(|| format!("label selector {term:?}: expected a list in parentheses"))?;
        Ok(inner.split(',').map(|v| v.trim().to_string()).collect())
    };
    if let Some(key) = term.strip_prefix('!') {
        return Ok(Requirement::NotExists(key.trim().to_string()));
    }
    if let Some((key, rest)) = term.split_once(" notin ") {
        return Ok(Requirement::NotIn(key.trim().to_string(), set(rest)?));
    }
    if let Some((key, rest)) = term.split_once(" in ") {
        return Ok(Requirement::In(key.trim().to_string(), set(rest)?));
    }
    if let Some((key, value)) = term.split_once("!=") {
        return Ok(Requirement::NotEquals(
            key.trim().into(),
            value.trim().into(),
        ));
    }
    if let Some((key, value)) = term.split_once("==").or_else(|| term.split_once('=')) {
        return Ok(Requirement::Equals(key.trim().into(), value.trim().into()));
    }
    Ok(Requirement::Exists(term.to_string()))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn selectors_match_like_the_api_server() {
        let pod = json!({"metadata": {"name": "a-0", "namespace": "ns",
            "labels": {"app": "a", "tier": "web"}}});
        let matches = |labels: &str, fields: Option<&str>| {
            Selector::parse(Some(labels), fields)
                .expect("parses")
                .matches(&pod)
        };
        assert!(matches("", None));
        assert!(matches("app=a,tier==web", None));
        assert!(!matches("app=b", None));
        assert!(matches("app!=b", None));
        assert!(matches("tier in (db, web)", None));
        assert!(!matches("tier notin (db,web)", None));
        assert!(matches("app,!missing", None));
        assert!(!matches("missing", None));
        assert!(matches("app=a", Some("metadata.name=a-0")));
        assert!(!matches("", Some("metadata.namespace=other")));
        assert!(Selector::parse(None, Some("spec.nodeName=x")).is_err());
    }
}
