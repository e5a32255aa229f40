//! The object store client: where the bucket is, how to sign, list and download.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::SystemTime;

use tokio::io::AsyncWriteExt;

use super::RemoteError;
use super::listing::{self, Object};
use super::sigv4::{self, Credentials, EMPTY_PAYLOAD_SHA256};

/// A bucket and key prefix, with the endpoint and credentials to reach it.
#[derive(Debug)]
pub struct RemoteStore {
    /// The URI as given, for messages.
    uri: String,
    bucket: String,
    /// Key prefix without a trailing `/` (may be empty).
    prefix: String,
    /// `scheme://host[:port]` of the endpoint.
    endpoint: String,
    /// Bucket in the path (custom endpoints, GCS) or in the host name (AWS).
    path_style: bool,
    region: String,
    /// None: anonymous requests (public buckets).
    credentials: Option<Credentials>,
    http: reqwest::Client,
}

impl RemoteStore {
    /// Reads the URI and the standard AWS SDK variables: `AWS_ACCESS_KEY_ID`,
    /// `AWS_SECRET_ACCESS_KEY`, `AWS_SESSION_TOKEN`, `AWS_REGION` /
    /// `AWS_DEFAULT_REGION` and `AWS_ENDPOINT_URL_S3` / `AWS_ENDPOINT_URL` (for
    /// S3-compatible stores; the bucket then goes in the path). For `gs://` the
    /// same keys are GCS HMAC keys and the endpoint is storage.googleapis.com.
    pub fn from_uri(uri: &str) -> Result<Self, RemoteError> {
        Self::from_uri_with(uri, |name| std::env::var(name).ok().filter(|v| !v.is_empty()))
    }

    pub fn from_uri_with(uri: &str, env: impl Fn(&str) -> Option<String>) -> Result<Self, RemoteError> {
        let bad = |message: &str| RemoteError::Location { uri: uri.to_string(), message: message.to_string() };
        let (gcs, rest) = match (uri.strip_prefix("s3://"), uri.strip_prefix("gs://")) {
            (Some(rest), _) => (false, rest),
            (_, Some(rest)) => (true, rest),
            _ => return Err(bad("only s3:// and gs:// object stores are supported")),
        };
        let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
        if bucket.is_empty() {
            return Err(bad("no bucket name"));
        }
        let prefix = prefix.trim_matches('/').to_string();
        let region = env("AWS_REGION").or_else(|| env("AWS_DEFAULT_REGION")).unwrap_or_else(|| {
            // GCS's XML API takes "auto" as the SigV4 region.
            if gcs { "auto" } else { "us-east-1" }.to_string()
        });
        let custom = env("AWS_ENDPOINT_URL_S3").or_else(|| env("AWS_ENDPOINT_URL"));
        let (endpoint, path_style) = match (custom, gcs) {
            (Some(url), _) => (url.trim_end_matches('/').to_string(), true),
            (None, true) => ("https://storage.googleapis.com".to_string(), true),
            (None, false) => (format!("https://{bucket}.s3.{region}.amazonaws.com"), false),
        };
        if !endpoint.starts_with("http://") && !endpoint.starts_with("https://") {
            return Err(bad(&format!("endpoint {endpoint:?} must start with http:// or https://")));
        }
        let credentials = match (env("AWS_ACCESS_KEY_ID"), env("AWS_SECRET_ACCESS_KEY")) {
            (Some(access_key), Some(secret_key)) => {
                Some(Credentials { access_key, secret_key, session_token: env("AWS_SESSION_TOKEN") })
            }
            (None, None) => None,
            _ => return Err(bad("AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY must be set together")),
        };
        // No total timeout (a model may take minutes to download), but a transfer
        // that stalls for a minute fails the load instead of holding it forever.
        let http = reqwest::Client::builder()
            .connect_timeout(std::time::Duration::from_secs(10))
            .read_timeout(std::time::Duration::from_secs(60))
            .build()
            .map_err(|e| RemoteError::Transport { url: endpoint.clone(), source: e })?;
        Ok(Self {
            uri: uri.trim_end_matches('/').to_string(),
            bucket: bucket.to_string(),
            prefix,
            endpoint,
            path_style,
            region,
            credentials,
            http,
        })
    }

    pub fn uri(&self) -> &str {
        &self.uri
    }

    /// `{prefix}/{rest}` (or `rest` at the bucket's root).
    fn key(&self, rest: &str) -> String {
        if self.prefix.is_empty() { rest.to_string() } else { format!("{}/{rest}", self.prefix) }
    }

    /// Every object under `{prefix}/{sub}`, all pages.
    pub async fn list(&self, sub: &str) -> Result<Vec<Object>, RemoteError> {
        let prefix = self.key(sub);
        let mut objects = Vec::new();
        let mut token: Option<String> = None;
        loop {
            let mut query = vec![("list-type".to_string(), "2".to_string()), ("prefix".to_string(), prefix.clone())];
            if let Some(t) = &token {
                query.push(("continuation-token".to_string(), t.clone()));
            }
            let path =
                if self.path_style { format!("/{}", sigv4::uri_encode(&self.bucket, true)) } else { "/".to_string() };
            let (url, response) = self.get(&path, &query).await?;
            let body = response.text().await.map_err(|e| RemoteError::Transport { url: url.clone(), source: e })?;
            let page = listing::parse_page(&body).map_err(|message| RemoteError::Listing { url, message })?;
            objects.extend(page.objects.into_iter().filter(|o| !o.key.ends_with('/')));
            match page.next_token {
                Some(t) => token = Some(t),
                None => return Ok(objects),
            }
        }
    }

    /// The version directories under the prefix (every first path segment), each
    /// with a fingerprint of its objects (keys, sizes, ETags): one listing for all.
    pub async fn versions(&self) -> Result<BTreeMap<String, u64>, RemoteError> {
        let objects = self.list("").await?;
        let base = if self.prefix.is_empty() { String::new() } else { format!("{}/", self.prefix) };
        let mut by_version: BTreeMap<String, Vec<&Object>> = BTreeMap::new();
        for object in &objects {
            if let Some((first, _)) = object.key.strip_prefix(&base).and_then(|rest| rest.split_once('/')) {
                by_version.entry(first.to_string()).or_default().push(object);
            }
        }
        Ok(by_version.into_iter().map(|(v, objs)| (v, fingerprint(objs.into_iter()))).collect())
    }

    /// Downloads the object `key` (a full key) to `to`.
    pub async fn download(&self, key: &str, to: &Path) -> Result<u64, RemoteError> {
        let path = if self.path_style {
            format!("/{}/{}", sigv4::uri_encode(&self.bucket, true), sigv4::uri_encode(key, false))
        } else {
            format!("/{}", sigv4::uri_encode(key, false))
        };
        let (url, mut response) = self.get(&path, &[]).await?;
        let mut file = tokio::fs::File::create(to).await.map_err(|e| RemoteError::io(to, e))?;
        let mut bytes = 0u64;
        while let Some(chunk) =
            response.chunk().await.map_err(|e| RemoteError::Transport { url: url.clone(), source: e })?
        {
            file.write_all(&chunk).await.map_err(|e| RemoteError::io(to, e))?;
            bytes += chunk.len() as u64;
        }
        file.sync_all().await.map_err(|e| RemoteError::io(to, e))?;
        Ok(bytes)
    }

    /// A signed (or anonymous) GET of `path` + `query`; non-2xx answers are errors
    /// carrying S3's `Code: Message`.
    async fn get(&self, path: &str, query: &[(String, String)]) -> Result<(String, reqwest::Response), RemoteError> {
        let query_string = query
            .iter()
            .map(|(k, v)| format!("{}={}", sigv4::uri_encode(k, true), sigv4::uri_encode(v, true)))
            .collect::<Vec<_>>()
            .join("&");
        let url = if query_string.is_empty() {
            format!("{}{path}", self.endpoint)
        } else {
            format!("{}{path}?{query_string}", self.endpoint)
        };
        let mut request = self.http.get(&url);
        if let Some(creds) = &self.credentials {
            let host = self.endpoint.split_once("://").map_or(self.endpoint.as_str(), |(_, h)| h).to_string();
            let amz_date = amz_date(SystemTime::now());
            let mut headers = vec![
                ("host".to_string(), host),
                ("x-amz-content-sha256".to_string(), EMPTY_PAYLOAD_SHA256.to_string()),
                ("x-amz-date".to_string(), amz_date.clone()),
            ];
            if let Some(token) = &creds.session_token {
                headers.push(("x-amz-security-token".to_string(), token.clone()));
            }
            let authorization = sigv4::authorization(
                creds,
                &sigv4::Request {
                    method: "GET",
                    path,
                    query,
                    headers: &headers,
                    payload_sha256: EMPTY_PAYLOAD_SHA256,
                    region: &self.region,
                    service: "s3",
                    amz_date: &amz_date,
                },
            );
            // reqwest sets Host from the URL itself.
            for (name, value) in headers.into_iter().filter(|(n, _)| n != "host") {
                request = request.header(name, value);
            }
            request = request.header("authorization", authorization);
        }
        let response = request.send().await.map_err(|e| RemoteError::Transport { url: url.clone(), source: e })?;
        let status = response.status();
        if !status.is_success() {
            let body = response.text().await.unwrap_or_default();
            return Err(RemoteError::Status { url, status: status.as_u16(), message: listing::error_message(&body) });
        }
        Ok((url, response))
    }
}

/// A stable hash of a version's objects: changes when any key, size or ETag does.
pub fn fingerprint<'a>(objects: impl Iterator<Item = &'a Object>) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut sorted: Vec<&Object> = objects.collect();
    sorted.sort_by(|a, b| a.key.cmp(&b.key));
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    for o in sorted {
        (&o.key, o.size, &o.etag).hash(&mut hasher);
    }
    hasher.finish()
}

/// `YYYYMMDDTHHMMSSZ` in UTC, from the civil-from-days algorithm (no date crate).
pub fn amz_date(now: SystemTime) -> String {
    let secs = now.duration_since(SystemTime::UNIX_EPOCH).map_or(0, |d| d.as_secs());
    let (days, rem) = (secs / 86_400, secs % 86_400);
    let z = days as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!("{year:04}{month:02}{day:02}T{:02}{:02}{:02}Z", rem / 3600, rem % 3600 / 60, rem % 60)
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn env<'a>(pairs: &'a [(&'a str, &'a str)]) -> impl Fn(&str) -> Option<String> + 'a {
        move |name| pairs.iter().find(|(k, _)| *k == name).map(|(_, v)| v.to_string())
    }

    #[test]
    fn locations_endpoints_and_credentials() {
        let aws =
            RemoteStore::from_uri_with("s3://models/nlp/sentiment/", env(&[("AWS_REGION", "eu-west-1")])).unwrap();
        assert_eq!((aws.bucket.as_str(), aws.prefix.as_str()), ("models", "nlp/sentiment"));
        assert_eq!(aws.endpoint, "https://models.s3.eu-west-1.amazonaws.com");
        assert!(!aws.path_style && aws.credentials.is_none());
        let minio = RemoteStore::from_uri_with(
            "s3://models",
            env(&[
                ("AWS_ENDPOINT_URL", "http://minio:9000/"),
                ("AWS_ACCESS_KEY_ID", "k"),
                ("AWS_SECRET_ACCESS_KEY", "s"),
            ]),
        )
        .unwrap();
        assert_eq!((minio.endpoint.as_str(), minio.path_style, minio.prefix.as_str()), ("http://minio:9000", true, ""));
        assert_eq!(minio.key("1/model.onnx"), "1/model.onnx");
        let gcs = RemoteStore::from_uri_with("gs://bucket/bert", env(&[])).unwrap();
        assert_eq!((gcs.endpoint.as_str(), gcs.region.as_str()), ("https://storage.googleapis.com", "auto"));
        for (uri, vars, message) in [
            ("s3://", &[][..], "no bucket"),
            ("http://x/y", &[][..], "only s3://"),
            ("s3://b/p", &[("AWS_ACCESS_KEY_ID", "k")][..], "set together"),
            ("s3://b/p", &[("AWS_ENDPOINT_URL", "minio:9000")][..], "must start with http"),
        ] {
            let err = RemoteStore::from_uri_with(uri, env(vars)).unwrap_err();
            assert!(err.to_string().contains(message), "{uri}: {err}");
            assert_eq!(err.category(), "config");
        }
    }

    #[test]
    fn amz_dates() {
        assert_eq!(amz_date(SystemTime::UNIX_EPOCH), "19700101T000000Z");
        // 2013-05-24T00:00:00Z, AWS's example date; and a leap day.
        assert_eq!(amz_date(SystemTime::UNIX_EPOCH + Duration::from_secs(1_369_353_600)), "20130524T000000Z");
        assert_eq!(amz_date(SystemTime::UNIX_EPOCH + Duration::from_secs(1_709_210_096)), "20240229T123456Z");
    }

    #[test]
    fn fingerprints_follow_keys_sizes_and_etags() {
        let a = Object { key: "1/model.onnx".into(), size: 10, etag: "\"a\"".into() };
        let b = Object { key: "1/config.json".into(), size: 2, etag: "\"b\"".into() };
        let base = fingerprint([&a, &b].into_iter());
        assert_eq!(base, fingerprint([&b, &a].into_iter()), "order does not matter");
        let changed = Object { etag: "\"c\"".into(), ..a.clone() };
        assert_ne!(base, fingerprint([&changed, &b].into_iter()));
    }
}
