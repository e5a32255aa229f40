//! Structural comparison: each answer is flattened to `path = value` leaves;
//! a difference is (step, path, berth value, kube value). Differences that
//! match an entry of `accepted.json` (step and path globs, with the reason)
//! are reported but do not fail the test.

use crate::scenario::Answers;
use regex::Regex;
use serde::Deserialize;
use serde_json::Value;
use std::collections::BTreeMap;

#[derive(Debug, Clone)]
pub struct Difference {
    pub step: String,
    pub path: String,
    pub berth: String,
    pub kube: String,
    pub accepted: Option<String>,
}

#[derive(Debug, Deserialize)]
pub struct Accepted {
    pub step: String,
    pub path: String,
    pub why: String,
}

fn glob(p: &str) -> Regex {
    let re = regex::escape(p).replace(r"\*", ".*");
    Regex::new(&format!("^{re}$")).expect("glob")
}

pub fn load_accepted(text: &str) -> Vec<(Regex, Regex, Accepted)> {
    let list: Vec<Accepted> = serde_json::from_str(text).expect("accepted.json");
    list.into_iter().map(|a| (glob(&a.step), glob(&a.path), a)).collect()
}

fn flatten(prefix: &str, v: &Value, out: &mut BTreeMap<String, String>) {
    match v {
        Value::Object(m) if !m.is_empty() => {
            for (k, x) in m {
                flatten(&format!("{prefix}/{}", k.replace('~', "~0").replace('/', "~1")), x, out);
            }
        }
        Value::Array(a) if !a.is_empty() => {
            for (i, x) in a.iter().enumerate() {
                flatten(&format!("{prefix}/{i}"), x, out);
            }
        }
        other => {
            out.insert(prefix.to_string(), other.to_string());
        }
    }
}

const ABSENT: &str = "<absent>";

/// Every difference between `berth` and `kube`, step by step (kube's order).
pub fn compare(berth: &Answers, kube: &Answers, accepted: &[(Regex, Regex, Accepted)]) -> Vec<Difference> {
    let b: BTreeMap<&str, &Value> = berth.iter().map(|(k, v)| (k.as_str(), v)).collect();
    let mut steps: Vec<&str> = kube.iter().map(|(k, _)| k.as_str()).collect();
    steps.extend(berth.iter().map(|(k, _)| k.as_str()).filter(|k| !kube.iter().any(|(x, _)| x == k)));
    let k: BTreeMap<&str, &Value> = kube.iter().map(|(k, v)| (k.as_str(), v)).collect();
    let mut out = Vec::new();
    for step in steps {
        let (mut fb, mut fk) = (BTreeMap::new(), BTreeMap::new());
        match b.get(step) {
            Some(v) => flatten("", v, &mut fb),
            None => {
                fb.insert(String::new(), ABSENT.to_string());
            }
        }
        match k.get(step) {
            Some(v) => flatten("", v, &mut fk),
            None => {
                fk.insert(String::new(), ABSENT.to_string());
            }
        }
        let mut paths: Vec<&String> = fk.keys().chain(fb.keys()).collect();
        paths.sort();
        paths.dedup();
        for path in paths {
            let bv = fb.get(path).map_or(ABSENT, String::as_str);
            let kv = fk.get(path).map_or(ABSENT, String::as_str);
            if bv != kv {
                let why = accepted
                    .iter()
                    .find(|(s, p, _)| s.is_match(step) && p.is_match(path))
                    .map(|(_, _, a)| a.why.clone());
                out.push(Difference {
                    step: step.to_string(),
                    path: path.clone(),
                    berth: bv.to_string(),
                    kube: kv.to_string(),
                    accepted: why,
                });
            }
        }
    }
    out
}

/// Answers that differ at all, and answers with a difference not accepted.
pub fn counts(d: &[Difference]) -> (usize, usize) {
    let mut all: Vec<&str> = d.iter().map(|x| x.step.as_str()).collect();
    all.dedup();
    let mut open: Vec<&str> = d.iter().filter(|x| x.accepted.is_none()).map(|x| x.step.as_str()).collect();
    open.dedup();
    (all.len(), open.len())
}

fn short(s: &str) -> String {
    if s.chars().count() > 160 { format!("{}…", s.chars().take(160).collect::<String>()) } else { s.to_string() }
}

pub fn render(d: &[Difference], with_accepted: bool) -> String {
    let mut s = String::new();
    for x in d.iter().filter(|x| with_accepted || x.accepted.is_none()) {
        let tag = if x.accepted.is_some() { "accepted" } else { "DIFF" };
        s.push_str(&format!(
            "{tag} {} {}\n    berth: {}\n    kube:  {}\n",
            x.step,
            x.path,
            short(&x.berth),
            short(&x.kube)
        ));
    }
    s
}
