//! Decoding of the Kubernetes protobuf envelope for the few kinds whose
//! typed clients send protobuf bodies in practice (`kubectl create
//! namespace|configmap|secret|serviceaccount`, helm's release Secrets, and
//! DeleteOptions from such clients). Other kinds answer 415 with a clear
//! message; every client can send JSON instead.

use base64::Engine;
use serde_json::{Map, Value, json};

const MAGIC: &[u8] = b"k8s\x00";

#[derive(Debug, thiserror::Error)]
pub enum ProtoError {
    #[error("truncated or malformed protobuf")]
    Malformed,
    #[error("protobuf bodies of kind {0} are not supported by berth-apiserver; send JSON")]
    Unsupported(String),
}

impl ProtoError {
    pub fn category(&self) -> &'static str {
        match self {
            Self::Malformed => "malformed",
            Self::Unsupported(_) => "unsupported",
        }
    }
}

enum Field<'a> {
    Varint(u64),
    Bytes(&'a [u8]),
}

struct Reader<'a> {
    buf: &'a [u8],
}

impl<'a> Reader<'a> {
    fn varint(&mut self) -> Result<u64, ProtoError> {
        let mut v = 0u64;
        for shift in (0..64).step_by(7) {
            let (&b, rest) = self.buf.split_first().ok_or(ProtoError::Malformed)?;
            self.buf = rest;
            v |= u64::from(b & 0x7f) << shift;
            if b & 0x80 == 0 {
                return Ok(v);
            }
        }
        Err(ProtoError::Malformed)
    }

    fn next(&mut self) -> Result<Option<(u64, Field<'a>)>, ProtoError> {
        if self.buf.is_empty() {
            return Ok(None);
        }
        let tag = self.varint()?;
        let f = match tag & 7 {
            0 => Field::Varint(self.varint()?),
            2 => {
                let len = usize::try_from(self.varint()?).map_err(|_| ProtoError::Malformed)?;
                if len > self.buf.len() {
                    return Err(ProtoError::Malformed);
                }
                let (b, rest) = self.buf.split_at(len);
                self.buf = rest;
                Field::Bytes(b)
            }
            1 => {
                self.buf = self.buf.get(8..).ok_or(ProtoError::Malformed)?;
                Field::Varint(0)
            }
            5 => {
                self.buf = self.buf.get(4..).ok_or(ProtoError::Malformed)?;
                Field::Varint(0)
            }
            _ => return Err(ProtoError::Malformed),
        };
        Ok(Some((tag >> 3, f)))
    }
}

fn fields(buf: &[u8]) -> Result<Vec<(u64, Field<'_>)>, ProtoError> {
    let mut r = Reader { buf };
    let mut out = Vec::new();
    while let Some(f) = r.next()? {
        out.push(f);
    }
    Ok(out)
}

fn non_empty(m: &mut Map<String, Value>, k: &str, b: &[u8]) {
    if !b.is_empty() {
        m.insert(k.into(), s(b));
    }
}

fn s(b: &[u8]) -> Value {
    Value::String(String::from_utf8_lossy(b).into_owned())
}

fn b64(b: &[u8]) -> Value {
    Value::String(base64::engine::general_purpose::STANDARD.encode(b))
}

/// A map<string, X> entry: key 1, value 2.
fn entry(buf: &[u8], bytes_value: bool) -> Result<(String, Value), ProtoError> {
    let mut k = String::new();
    let mut v = if bytes_value { b64(b"") } else { json!("") };
    for (n, f) in fields(buf)? {
        if let Field::Bytes(b) = f {
            match n {
                1 => k = String::from_utf8_lossy(b).into_owned(),
                2 => v = if bytes_value { b64(b) } else { s(b) },
                _ => {}
            }
        }
    }
    Ok((k, v))
}

fn time(buf: &[u8]) -> Result<Value, ProtoError> {
    let mut secs = 0i64;
    for (n, f) in fields(buf)? {
        if let (1, Field::Varint(v)) = (n, f) {
            secs = v as i64;
        }
    }
    Ok(jiff::Timestamp::from_second(secs)
        .map(|t| json!(t.strftime("%Y-%m-%dT%H:%M:%SZ").to_string()))
        .unwrap_or(Value::Null))
}

fn object_meta(buf: &[u8]) -> Result<Value, ProtoError> {
    let mut m = Map::new();
    let mut labels = Map::new();
    let mut annotations = Map::new();
    let mut finalizers = Vec::new();
    let mut owners = Vec::new();
    for (n, f) in fields(buf)? {
        match (n, f) {
            (1, Field::Bytes(b)) => non_empty(&mut m, "name", b),
            (2, Field::Bytes(b)) => non_empty(&mut m, "generateName", b),
            (3, Field::Bytes(b)) => non_empty(&mut m, "namespace", b),
            (5, Field::Bytes(b)) => non_empty(&mut m, "uid", b),
            (6, Field::Bytes(b)) => non_empty(&mut m, "resourceVersion", b),
            (7, Field::Varint(v)) => drop(m.insert("generation".into(), json!(v))),
            (8, Field::Bytes(b)) => drop(m.insert("creationTimestamp".into(), time(b)?)),
            (11, Field::Bytes(b)) => {
                let (k, v) = entry(b, false)?;
                labels.insert(k, v);
            }
            (12, Field::Bytes(b)) => {
                let (k, v) = entry(b, false)?;
                annotations.insert(k, v);
            }
            (13, Field::Bytes(b)) => {
                let mut o = Map::new();
                for (n, f) in fields(b)? {
                    match (n, f) {
                        (1, Field::Bytes(x)) => drop(o.insert("kind".into(), s(x))),
                        (3, Field::Bytes(x)) => drop(o.insert("name".into(), s(x))),
                        (4, Field::Bytes(x)) => drop(o.insert("uid".into(), s(x))),
                        (5, Field::Bytes(x)) => drop(o.insert("apiVersion".into(), s(x))),
                        (6, Field::Varint(x)) => drop(o.insert("controller".into(), json!(x != 0))),
                        (7, Field::Varint(x)) => drop(o.insert("blockOwnerDeletion".into(), json!(x != 0))),
                        _ => {}
                    }
                }
                owners.push(Value::Object(o));
            }
            (14, Field::Bytes(b)) => finalizers.push(s(b)),
            _ => {}
        }
    }
    if !labels.is_empty() {
        m.insert("labels".into(), Value::Object(labels));
    }
    if !annotations.is_empty() {
        m.insert("annotations".into(), Value::Object(annotations));
    }
    if !finalizers.is_empty() {
        m.insert("finalizers".into(), Value::Array(finalizers));
    }
    if !owners.is_empty() {
        m.insert("ownerReferences".into(), Value::Array(owners));
    }
    Ok(Value::Object(m))
}

fn kind_body(kind: &str, raw: &[u8]) -> Result<Map<String, Value>, ProtoError> {
    let mut o = Map::new();
    let mut maps: [Map<String, Value>; 3] = Default::default();
    for (n, f) in fields(raw)? {
        match (kind, n, f) {
            (_, 1, Field::Bytes(b)) if kind != "DeleteOptions" => drop(o.insert("metadata".into(), object_meta(b)?)),
            ("ConfigMap", 2, Field::Bytes(b)) => {
                let (k, v) = entry(b, false)?;
                maps[0].insert(k, v);
            }
            ("ConfigMap", 3, Field::Bytes(b)) => {
                let (k, v) = entry(b, true)?;
                maps[1].insert(k, v);
            }
            ("ConfigMap", 4, Field::Varint(v)) | ("Secret", 5, Field::Varint(v)) => {
                drop(o.insert("immutable".into(), json!(v != 0)))
            }
            ("Secret", 2, Field::Bytes(b)) => {
                let (k, v) = entry(b, true)?;
                maps[0].insert(k, v);
            }
            ("Secret", 3, Field::Bytes(b)) => drop(o.insert("type".into(), s(b))),
            ("Secret", 4, Field::Bytes(b)) => {
                let (k, v) = entry(b, false)?;
                maps[2].insert(k, v);
            }
            ("Namespace", 2, Field::Bytes(b)) => {
                let fins: Vec<Value> = fields(b)?
                    .into_iter()
                    .filter_map(|(n, f)| match (n, f) {
                        (1, Field::Bytes(x)) => Some(s(x)),
                        _ => None,
                    })
                    .collect();
                o.insert("spec".into(), json!({"finalizers": fins}));
            }
            ("ServiceAccount", 3, Field::Bytes(b)) => {
                let mut name = Value::Null;
                for (n, f) in fields(b)? {
                    if let (1, Field::Bytes(x)) = (n, f) {
                        name = s(x);
                    }
                }
                let list = o.entry("imagePullSecrets").or_insert_with(|| json!([]));
                if let Some(a) = list.as_array_mut() {
                    a.push(json!({"name": name}));
                }
            }
            ("ServiceAccount", 4, Field::Varint(v)) => {
                drop(o.insert("automountServiceAccountToken".into(), json!(v != 0)))
            }
            ("DeleteOptions", 1, Field::Varint(v)) => drop(o.insert("gracePeriodSeconds".into(), json!(v as i64))),
            ("DeleteOptions", 2, Field::Bytes(b)) => {
                let mut p = Map::new();
                for (n, f) in fields(b)? {
                    match (n, f) {
                        (1, Field::Bytes(x)) => drop(p.insert("uid".into(), s(x))),
                        (2, Field::Bytes(x)) => drop(p.insert("resourceVersion".into(), s(x))),
                        _ => {}
                    }
                }
                o.insert("preconditions".into(), Value::Object(p));
            }
            ("DeleteOptions", 3, Field::Varint(v)) => drop(o.insert("orphanDependents".into(), json!(v != 0))),
            ("DeleteOptions", 4, Field::Bytes(b)) => drop(o.insert("propagationPolicy".into(), s(b))),
            ("DeleteOptions", 5, Field::Bytes(b)) => {
                let list = o.entry("dryRun").or_insert_with(|| json!([]));
                if let Some(a) = list.as_array_mut() {
                    a.push(s(b));
                }
            }
            _ => {}
        }
    }
    let [a, b, c] = maps;
    let names: &[&str] = match kind {
        "ConfigMap" => &["data", "binaryData", ""],
        "Secret" => &["data", "", "stringData"],
        _ => &["", "", ""],
    };
    for (m, name) in [a, b, c].into_iter().zip(names) {
        if !m.is_empty() && !name.is_empty() {
            o.insert((*name).to_string(), Value::Object(m));
        }
    }
    Ok(o)
}

/// Decode a protobuf request body into the JSON object it stands for.
pub fn decode(body: &[u8]) -> Result<Value, ProtoError> {
    let rest = body.strip_prefix(MAGIC).ok_or(ProtoError::Malformed)?;
    let (mut api_version, mut kind, mut raw) = (String::new(), String::new(), &[][..]);
    for (n, f) in fields(rest)? {
        match (n, f) {
            (1, Field::Bytes(tm)) => {
                for (n, f) in fields(tm)? {
                    match (n, f) {
                        (1, Field::Bytes(x)) => api_version = String::from_utf8_lossy(x).into_owned(),
                        (2, Field::Bytes(x)) => kind = String::from_utf8_lossy(x).into_owned(),
                        _ => {}
                    }
                }
            }
            (2, Field::Bytes(b)) => raw = b,
            _ => {}
        }
    }
    if !matches!(kind.as_str(), "Namespace" | "ConfigMap" | "Secret" | "ServiceAccount" | "DeleteOptions") {
        return Err(ProtoError::Unsupported(kind));
    }
    let mut o = kind_body(&kind, raw)?;
    o.insert("apiVersion".into(), json!(api_version));
    o.insert("kind".into(), json!(kind));
    Ok(Value::Object(o))
}
