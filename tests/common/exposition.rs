//! A strict reader of the Prometheus text exposition format (version 0.0.4) for tests: every
//! line must be a `# HELP`, a `# TYPE` or a sample of the family just typed; names, labels,
//! escapes and values must be well formed; histograms must be complete and consistent. Anything
//! else is an error naming the line, so a test that scrapes also proves the output parses.

use std::collections::{BTreeMap, BTreeSet};

/// `GET url` (a gateway's `/metrics`, readable without a token), parsed; panics with the text
/// when it does not parse.
pub async fn scrape(url: &str) -> Exposition {
    let text = super::client()
        .get(url)
        .send()
        .await
        .expect("scrape")
        .text()
        .await
        .expect("body");
    Exposition::parse(&text)
        .unwrap_or_else(|err| panic!("not valid exposition text: {err}\n{text}"))
}

/// A parsed scrape.
#[derive(Debug)]
pub struct Exposition {
    pub text: String,
    /// `name{label="value",...}` (labels sorted by name) → value.
    samples: BTreeMap<String, f64>,
    /// Family name → type.
    types: BTreeMap<String, String>,
}

/// One sample: name, labels (sorted), value.
type Sample = (String, Vec<(String, String)>, f64);

impl Exposition {
    pub fn parse(text: &str) -> Result<Exposition, String> {
        let mut samples = BTreeMap::new();
        let mut types = BTreeMap::new();
        let mut helped = BTreeSet::new();
        let mut family: Option<(String, String)> = None;
        let mut in_family: Vec<Sample> = Vec::new();
        if !text.ends_with('\n') {
            return Err("the exposition does not end with a newline".into());
        }
        for (index, line) in text.lines().enumerate() {
            let number = index + 1;
            let fail = |why: &str| format!("line {number}: {why}: {line:?}");
            if let Some(rest) = line.strip_prefix("# HELP ") {
                let (name, _help) = rest
                    .split_once(' ')
                    .ok_or_else(|| fail("HELP without text"))?;
                check_metric_name(name).map_err(|why| fail(&why))?;
                if !helped.insert(name.to_string()) {
                    return Err(fail("a second HELP for this name"));
                }
            } else if let Some(rest) = line.strip_prefix("# TYPE ") {
                let (name, kind) = rest
                    .split_once(' ')
                    .ok_or_else(|| fail("TYPE without a type"))?;
                check_metric_name(name).map_err(|why| fail(&why))?;
                if !["counter", "gauge", "histogram", "summary", "untyped"].contains(&kind) {
                    return Err(fail("unknown type"));
                }
                if !helped.contains(name) {
                    return Err(fail("TYPE without a HELP before it"));
                }
                if types.insert(name.to_string(), kind.to_string()).is_some() {
                    return Err(fail("a second TYPE for this family"));
                }
                if let Some((done, kind)) = family.take() {
                    close_family(&done, &kind, std::mem::take(&mut in_family))?;
                }
                family = Some((name.to_string(), kind.to_string()));
            } else if line.starts_with('#') {
                return Err(fail("a comment that is neither HELP nor TYPE"));
            } else {
                let (name, labels, value) = parse_sample(line).map_err(|why| fail(&why))?;
                let Some((family_name, kind)) = &family else {
                    return Err(fail("a sample before any TYPE"));
                };
                let belongs = name == *family_name
                    || (kind == "histogram"
                        && ["_bucket", "_sum", "_count"]
                            .iter()
                            .any(|suffix| name == format!("{family_name}{suffix}")));
                if !belongs {
                    return Err(fail(&format!("a sample outside its family {family_name}")));
                }
                if kind == "counter" && (value.is_nan() || value < 0.0) {
                    return Err(fail("a counter below zero"));
                }
                let key = key(&name, &labels);
                if samples.insert(key, value).is_some() {
                    return Err(fail("the same series twice"));
                }
                in_family.push((name, labels, value));
            }
        }
        if let Some((done, kind)) = family.take() {
            close_family(&done, &kind, in_family)?;
        }
        if let Some(orphan) = helped.iter().find(|name| !types.contains_key(*name)) {
            return Err(format!("HELP for {orphan} without a TYPE"));
        }
        Ok(Exposition {
            text: text.to_string(),
            samples,
            types,
        })
    }

    /// The value of one series, if present.
    pub fn value(&self, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
        let mut sorted: Vec<(String, String)> = labels
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        sorted.sort();
        self.samples.get(&key(name, &sorted)).copied()
    }

    /// The value of one series; panics with the scrape when it is absent.
    pub fn get(&self, name: &str, labels: &[(&str, &str)]) -> f64 {
        self.value(name, labels)
            .unwrap_or_else(|| panic!("no series {name}{labels:?} in:\n{}", self.text))
    }

    /// The sum over every series of `name` carrying at least `labels`.
    pub fn sum(&self, name: &str, labels: &[(&str, &str)]) -> f64 {
        self.samples
            .iter()
            .filter(|(key, _)| {
                key.split_once('{').map_or(key.as_str(), |(n, _)| n) == name
                    && labels
                        .iter()
                        .all(|(k, v)| key.contains(&format!("{k}=\"{v}\"")))
            })
            .map(|(_, value)| value)
            .sum()
    }

    /// Every series with a label whose value is `value`.
    pub fn series_with_label_value(&self, value: &str) -> Vec<&str> {
        let needle = format!("=\"{value}\"");
        self.samples
            .keys()
            .filter(|key| key.contains(&needle))
            .map(String::as_str)
            .collect()
    }

    pub fn type_of(&self, family: &str) -> Option<&str> {
        self.types.get(family).map(String::as_str)
    }
}

fn key(name: &str, labels: &[(String, String)]) -> String {
    let inner: Vec<String> = labels.iter().map(|(k, v)| format!("{k}=\"{v}\"")).collect();
    format!("{name}{{{}}}", inner.join(","))
}

fn check_metric_name(name: &str) -> Result<(), String> {
    let mut chars = name.chars();
    let first_ok = chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_' || c == ':');
    if first_ok && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':') {
        Ok(())
    } else {
        Err(format!("{name:?} is not a metric name"))
    }
}

fn check_label_name(name: &str) -> Result<(), String> {
    let mut chars = name.chars();
    let first_ok = chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_');
    if first_ok && !name.starts_with("__") && chars.all(|c| c.is_ascii_alphanumeric() || c == '_') {
        Ok(())
    } else {
        Err(format!("{name:?} is not a label name"))
    }
}

/// `name{a="x",b="y"} value`, no timestamp.
fn parse_sample(line: &str) -> Result<Sample, String> {
    let name_end = line.find(['{', ' ']).ok_or("a sample without a value")?;
    let name = &line[..name_end];
    check_metric_name(name)?;
    let mut rest = &line[name_end..];
    let mut labels = Vec::new();
    if let Some(after) = rest.strip_prefix('{') {
        rest = after;
        loop {
            let eq = rest.find('=').ok_or("a label without '='")?;
            let label = &rest[..eq];
            check_label_name(label)?;
            rest = rest[eq + 1..]
                .strip_prefix('"')
                .ok_or("a label value without quotes")?;
            let mut value = String::new();
            let mut chars = rest.char_indices();
            let end = loop {
                match chars.next() {
                    None => return Err("an unterminated label value".into()),
                    Some((i, '"')) => break i,
                    Some((_, '\\')) => match chars.next() {
                        Some((_, '\\')) => value.push('\\'),
                        Some((_, '"')) => value.push('"'),
                        Some((_, 'n')) => value.push('\n'),
                        _ => return Err("a bad escape in a label value".into()),
                    },
                    Some((_, '\n')) => return Err("a raw newline in a label value".into()),
                    Some((_, c)) => value.push(c),
                }
            };
            if labels.iter().any(|(k, _): &(String, String)| k == label) {
                return Err(format!("label {label} twice"));
            }
            labels.push((label.to_string(), value));
            rest = &rest[end + 1..];
            if let Some(after) = rest.strip_prefix(',') {
                rest = after;
            } else if let Some(after) = rest.strip_prefix('}') {
                rest = after;
                break;
            } else {
                return Err("labels not separated by ',' or closed by '}'".into());
            }
        }
    }
    let value = rest
        .strip_prefix(' ')
        .ok_or("no single space before the value")?;
    if value.contains(' ') {
        return Err("something after the value (timestamps are not expected)".into());
    }
    let value = match value {
        "+Inf" => f64::INFINITY,
        "-Inf" => f64::NEG_INFINITY,
        "NaN" => f64::NAN,
        number => {
            let valid = !number.is_empty()
                && number
                    .chars()
                    .all(|c| c.is_ascii_digit() || "+-.eE".contains(c));
            if !valid {
                return Err(format!("{number:?} is not a value"));
            }
            number
                .parse()
                .map_err(|_| format!("{number:?} is not a value"))?
        }
    };
    labels.sort();
    Ok((name.to_string(), labels, value))
}

/// Checks what a finished family must satisfy: not empty; a histogram has, per label set,
/// increasing `le` bounds ending at `+Inf`, non-decreasing cumulative counts, `_sum`, and a
/// `_count` equal to the `+Inf` bucket.
fn close_family(name: &str, kind: &str, samples: Vec<Sample>) -> Result<(), String> {
    if samples.is_empty() {
        return Err(format!("family {name} has no samples"));
    }
    if kind == "counter" && !name.ends_with("_total") {
        return Err(format!("counter {name} is not named *_total"));
    }
    if kind != "histogram" {
        return Ok(());
    }
    type Series = (Vec<(f64, f64)>, Option<f64>, Option<f64>);
    let mut series: BTreeMap<String, Series> = BTreeMap::new();
    for (sample, labels, value) in samples {
        let others: Vec<(String, String)> =
            labels.iter().filter(|(k, _)| k != "le").cloned().collect();
        let entry = series.entry(key(name, &others)).or_default();
        if sample.ends_with("_bucket") {
            let le = labels
                .iter()
                .find(|(k, _)| k == "le")
                .ok_or_else(|| format!("{sample} without le"))?;
            let bound = match le.1.as_str() {
                "+Inf" => f64::INFINITY,
                other => other
                    .parse()
                    .map_err(|_| format!("{sample}: le={other:?} is not a number"))?,
            };
            entry.0.push((bound, value));
        } else if sample.ends_with("_sum") {
            entry.1 = Some(value);
        } else if sample.ends_with("_count") {
            entry.2 = Some(value);
        } else {
            return Err(format!("{sample}: a bare sample in histogram {name}"));
        }
    }
    for (series, (buckets, sum, count)) in series {
        let count = count.ok_or_else(|| format!("{series}: no _count"))?;
        sum.ok_or_else(|| format!("{series}: no _sum"))?;
        let last = buckets
            .last()
            .ok_or_else(|| format!("{series}: no buckets"))?;
        if last.0 != f64::INFINITY || last.1 != count {
            return Err(format!(
                "{series}: the last bucket must be le=\"+Inf\" holding _count ({count}), got {last:?}"
            ));
        }
        for pair in buckets.windows(2) {
            if pair[0].0 >= pair[1].0 || pair[0].1 > pair[1].1 {
                return Err(format!("{series}: buckets out of order: {pair:?}"));
            }
        }
    }
    Ok(())
}
