//! From a `--model_base_path` URI and the environment to an object_store client.
//! Each builder reads its provider's variables the way its `from_env` does (so
//! every credential source object_store knows works), but from a list handed in,
//! so that tests need not touch the process environment.

use std::sync::Arc;
use std::time::Duration;

use object_store::aws::{AmazonS3Builder, AmazonS3ConfigKey};
use object_store::azure::{AzureConfigKey, MicrosoftAzureBuilder};
use object_store::gcp::{GoogleCloudStorageBuilder, GoogleConfigKey};
use object_store::{BackoffConfig, ClientOptions, ObjectStore, RetryConfig};

use super::RemoteError;

/// Environment variables, as `std::env::vars` gives them.
pub struct Env<'a>(pub &'a [(String, String)]);

impl Env<'_> {
    /// A set, non-empty variable.
    fn get(&self, name: &str) -> Option<&str> {
        self.0.iter().find(|(k, v)| k == name && !v.is_empty()).map(|(_, v)| v.as_str())
    }

    fn starting_with<'s>(&'s self, prefix: &'s str) -> impl Iterator<Item = (String, &'s str)> + 's {
        self.0.iter().filter(move |(k, _)| k.starts_with(prefix)).map(|(k, v)| (k.to_ascii_lowercase(), v.as_str()))
    }
}

/// Variables that give object_store's GCS client credentials of its own (without
/// them it asks the metadata server: GKE workload identity).
const GOOGLE_CREDENTIALS: [&str; 5] = [
    "GOOGLE_SERVICE_ACCOUNT",
    "GOOGLE_SERVICE_ACCOUNT_PATH",
    "GOOGLE_SERVICE_ACCOUNT_KEY",
    "GOOGLE_APPLICATION_CREDENTIALS",
    "SERVICE_ACCOUNT",
];

/// The client for `uri` and the key prefix inside its bucket (no slashes at either end).
pub fn open(uri: &str, env: &Env<'_>) -> Result<(Arc<dyn ObjectStore>, String), RemoteError> {
    let bad = |message: String| RemoteError::Location { uri: uri.to_string(), message };
    let (scheme, rest) = uri.split_once("://").ok_or_else(|| bad(supported()))?;
    let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
    if bucket.is_empty() {
        return Err(bad("no bucket name".into()));
    }
    let built: Result<Arc<dyn ObjectStore>, object_store::Error> = match scheme {
        "s3" => s3(bucket, env, None, "us-east-1").map_err(bad)?.build().map(shared),
        // GCS HMAC keys in AWS_* speak S3's XML API (what Berth did before it used
        // object_store); Google's own credentials, or none, go to GCS's JSON API.
        "gs" if env.get("AWS_ACCESS_KEY_ID").is_some() && !GOOGLE_CREDENTIALS.iter().any(|v| env.get(v).is_some()) => {
            // GCS's XML API takes "auto" as the SigV4 region.
            s3(bucket, env, Some("https://storage.googleapis.com"), "auto").map_err(bad)?.build().map(shared)
        }
        "gs" => gcs(bucket, env).build().map(shared),
        "az" => azure(bucket, env).build().map(shared),
        _ => return Err(bad(supported())),
    };
    let store = built.map_err(|source| RemoteError::Build { uri: uri.to_string(), source })?;
    Ok((store, prefix.trim_matches('/').to_string()))
}

fn shared(store: impl ObjectStore) -> Arc<dyn ObjectStore> {
    Arc::new(store)
}

fn supported() -> String {
    format!("only {} object stores are supported", super::SCHEMES.join(", "))
}

/// S3 or an S3-compatible store. A custom endpoint (`AWS_ENDPOINT_URL_S3` or
/// `AWS_ENDPOINT_URL`) takes the bucket in the path, as MinIO and moto expect;
/// AWS itself gets it in the host name.
fn s3(bucket: &str, env: &Env<'_>, endpoint: Option<&str>, region: &str) -> Result<AmazonS3Builder, String> {
    // Ours first, so that variables such as AWS_ALLOW_HTTP or a proxy still apply.
    let mut builder = AmazonS3Builder::new().with_client_options(client_options()).with_retry(retry());
    for (key, value) in env.starting_with("AWS_") {
        if let Ok(key) = key.parse::<AmazonS3ConfigKey>() {
            builder = builder.with_config(key, value);
        }
    }
    let region = env.get("AWS_REGION").or_else(|| env.get("AWS_DEFAULT_REGION")).unwrap_or(region);
    builder = builder.with_bucket_name(bucket).with_region(region);
    let static_keys = match (env.get("AWS_ACCESS_KEY_ID"), env.get("AWS_SECRET_ACCESS_KEY")) {
        (Some(_), Some(_)) => true,
        (None, None) => false,
        _ => return Err("AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY must be set together".into()),
    };
    let endpoint = env.get("AWS_ENDPOINT_URL_S3").or_else(|| env.get("AWS_ENDPOINT_URL")).or(endpoint);
    let Some(endpoint) = endpoint else {
        return Ok(builder.with_virtual_hosted_style_request(true));
    };
    if !endpoint.starts_with("http://") && !endpoint.starts_with("https://") {
        return Err(format!("endpoint {endpoint:?} must start with http:// or https://"));
    }
    builder = builder
        .with_endpoint(endpoint.trim_end_matches('/'))
        .with_virtual_hosted_style_request(false)
        .with_allow_http(endpoint.starts_with("http://"));
    // A store of one's own with no credentials at all: anonymous requests (public
    // buckets), as before object_store; its EC2 metadata fallback makes no sense there.
    let other_source =
        ["AWS_WEB_IDENTITY_TOKEN_FILE", "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI", "AWS_CONTAINER_CREDENTIALS_FULL_URI"]
            .iter()
            .any(|v| env.get(v).is_some());
    if !static_keys && !other_source {
        builder = builder.with_skip_signature(true);
    }
    Ok(builder)
}

fn gcs(bucket: &str, env: &Env<'_>) -> GoogleCloudStorageBuilder {
    let mut builder = GoogleCloudStorageBuilder::new().with_client_options(client_options()).with_retry(retry());
    if let Some(path) = env.get("SERVICE_ACCOUNT") {
        builder = builder.with_service_account_path(path);
    }
    for (key, value) in env.starting_with("GOOGLE_") {
        if let Ok(key) = key.parse::<GoogleConfigKey>() {
            builder = builder.with_config(key, value);
        }
    }
    builder.with_bucket_name(bucket)
}

fn azure(container: &str, env: &Env<'_>) -> MicrosoftAzureBuilder {
    let mut builder = MicrosoftAzureBuilder::new().with_client_options(client_options()).with_retry(retry());
    for (key, value) in env.starting_with("AZURE_") {
        if let Ok(key) = key.parse::<AzureConfigKey>() {
            builder = builder.with_config(key, value);
        }
    }
    if let Some(endpoint) = env.get("MSI_ENDPOINT") {
        builder = builder.with_msi_endpoint(endpoint);
    }
    builder.with_container_name(container)
}

/// No total request timeout (a model may take minutes to download; the store
/// module times out stalls instead), but a connection that does not open fails fast.
fn client_options() -> ClientOptions {
    ClientOptions::new().with_connect_timeout(Duration::from_secs(10)).with_timeout_disabled()
}

/// A few quick retries of transient failures (5xx, resets), bounded well inside
/// any `loadTimeout`: a version that cannot be fetched fails and is retried by the
/// next poll, instead of one request backing off for minutes.
fn retry() -> RetryConfig {
    RetryConfig {
        backoff: BackoffConfig {
            init_backoff: Duration::from_millis(200),
            max_backoff: Duration::from_secs(5),
            base: 2.0,
        },
        max_retries: 3,
        retry_timeout: Duration::from_secs(30),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    fn s3_config(bucket: &str, pairs: &[(&str, &str)], endpoint: Option<&str>) -> [Option<String>; 4] {
        let b = s3(bucket, &Env(&vars(pairs)), endpoint, "us-east-1").unwrap();
        [
            AmazonS3ConfigKey::Endpoint,
            AmazonS3ConfigKey::Region,
            AmazonS3ConfigKey::VirtualHostedStyleRequest,
            AmazonS3ConfigKey::SkipSignature,
        ]
        .map(|key| b.get_config_value(&key))
    }

    #[test]
    fn s3_endpoints_regions_and_addressing() {
        // AWS: the bucket in the host name; the default credential chain signs.
        let [endpoint, region, virtual_hosted, skip] = s3_config("models", &[("AWS_REGION", "eu-west-1")], None);
        assert_eq!((endpoint, region.as_deref()), (None, Some("eu-west-1")));
        assert_eq!((virtual_hosted.as_deref(), skip.as_deref()), (Some("true"), Some("false")));
        // MinIO with keys: the bucket in the path, signed.
        let minio = [
            ("AWS_ENDPOINT_URL", "http://minio:9000/"),
            ("AWS_ACCESS_KEY_ID", "k"),
            ("AWS_SECRET_ACCESS_KEY", "s"),
            ("AWS_DEFAULT_REGION", "local"),
        ];
        let [endpoint, region, virtual_hosted, skip] = s3_config("models", &minio, None);
        assert_eq!((endpoint.as_deref(), region.as_deref()), (Some("http://minio:9000"), Some("local")));
        assert_eq!((virtual_hosted.as_deref(), skip.as_deref()), (Some("false"), Some("false")));
        // A store of one's own without credentials: anonymous. With a web
        // identity (IRSA) it signs with the role's credentials instead.
        let [endpoint, _, _, skip] = s3_config("m", &[("AWS_ENDPOINT_URL_S3", "https://s3.local")], None);
        assert_eq!((endpoint.as_deref(), skip.as_deref()), (Some("https://s3.local"), Some("true")));
        let irsa = [("AWS_ENDPOINT_URL", "https://s3.local"), ("AWS_WEB_IDENTITY_TOKEN_FILE", "/var/run/token")];
        assert_eq!(s3_config("m", &irsa, None)[3].as_deref(), Some("false"));
        // GCS through HMAC keys: its XML endpoint and region.
        let [endpoint, region, ..] = s3_config("b", &minio[1..3], Some("https://storage.googleapis.com"));
        assert_eq!(endpoint.as_deref(), Some("https://storage.googleapis.com"));
        assert_eq!(region.as_deref(), Some("us-east-1"), "the caller's default, unless AWS_REGION says otherwise");
    }

    #[test]
    fn every_scheme_builds_offline_and_bad_locations_are_config_errors() {
        let hmac = vars(&[("AWS_ACCESS_KEY_ID", "GOOG1"), ("AWS_SECRET_ACCESS_KEY", "s")]);
        let azure = vars(&[("AZURE_STORAGE_ACCOUNT_NAME", "acct"), ("AZURE_STORAGE_ACCOUNT_KEY", "a2V5")]);
        for (uri, env, prefix, store) in [
            ("s3://models/nlp/sentiment/", vec![], "nlp/sentiment", "AmazonS3"),
            ("gs://bucket/bert", vec![], "bert", "GoogleCloudStorage"),
            ("gs://bucket/bert", hmac, "bert", "AmazonS3"),
            ("az://container/models/m", azure, "models/m", "MicrosoftAzure"),
        ] {
            let (built, got) = open(uri, &Env(&env)).unwrap();
            assert_eq!(got, prefix, "{uri}");
            assert!(built.to_string().starts_with(store), "{uri}: {built}");
        }
        for (uri, pairs, message) in [
            ("s3://", &[][..], "no bucket"),
            ("http://x/y", &[][..], "only s3://, gs://, az://"),
            ("s3://b/p", &[("AWS_ACCESS_KEY_ID", "k")][..], "set together"),
            ("s3://b/p", &[("AWS_ENDPOINT_URL", "minio:9000")][..], "must start with http"),
            ("az://container/m", &[][..], "ccount"),
        ] {
            let Err(err) = open(uri, &Env(&vars(pairs))) else { panic!("{uri} opened") };
            assert!(err.to_string().contains(message), "{uri}: {err}");
            assert_eq!(err.category(), "config");
        }
    }
}
