//! Where a model's versions live: the typed form of `spec.source.uri`.
//!
//! The CRD keeps the URI a string (GitOps users write URIs), but this module is the
//! one place that reads it: the operator (volumes, `--model_base_path`), berth-serve
//! (which store to fetch from) and validation all go through [`SourceLocation`].

use std::fmt;
use std::str::FromStr;

/// The schemes a source URI may use, in the order errors list them.
pub const SCHEMES: [&str; 5] = ["file", "pvc", "s3", "gs", "az"];

/// A parsed `spec.source.uri`; version N lives at `{location}/{N}/`.
///
/// Paths and prefixes are kept as written (a trailing `/` included) so that
/// `Display` gives back the URI the user wrote; only an empty prefix after the
/// bucket (`s3://bucket/`) is written without its slash.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum SourceLocation {
    /// `file:///models/m`: a directory the serving pod already sees.
    File { path: String },
    /// `pvc://claim/sub/dir`: a PersistentVolumeClaim the operator mounts read-only.
    Pvc { claim: String, path: String },
    /// `s3://bucket/prefix`: AWS S3 or an S3-compatible store.
    S3 { bucket: String, prefix: String },
    /// `gs://bucket/prefix`: Google Cloud Storage.
    Gcs { bucket: String, prefix: String },
    /// `az://container/prefix`: Azure Blob Storage.
    Azure { container: String, prefix: String },
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SourceUriError {
    #[error("{uri:?} has no scheme: write it as one of {}", scheme_list())]
    NoScheme { uri: String },
    #[error("{uri:?}: unknown scheme {scheme:?}, expected one of {}", scheme_list())]
    UnknownScheme { uri: String, scheme: String },
    #[error("{uri:?}: file:// needs a path, e.g. file:///models/m")]
    EmptyPath { uri: String },
    #[error("{uri:?}: pvc:// needs a claim name, e.g. pvc://model-store/m")]
    EmptyClaim { uri: String },
    #[error("{uri:?}: {scheme}:// needs a bucket or container name, e.g. {scheme}://models/m")]
    EmptyBucket { uri: String, scheme: &'static str },
    #[error("{uri:?} contains whitespace")]
    BadCharacter { uri: String },
}

fn scheme_list() -> String {
    SCHEMES.map(|s| format!("{s}://")).join(", ")
}

impl SourceLocation {
    /// Whether berth-serve fetches the versions itself (an object store) rather than
    /// reading a directory it is given.
    pub fn is_remote(&self) -> bool {
        matches!(self, Self::S3 { .. } | Self::Gcs { .. } | Self::Azure { .. })
    }

    pub fn scheme(&self) -> &'static str {
        match self {
            Self::File { .. } => "file",
            Self::Pvc { .. } => "pvc",
            Self::S3 { .. } => "s3",
            Self::Gcs { .. } => "gs",
            Self::Azure { .. } => "az",
        }
    }

    /// A location when `text` is a `scheme://` URI, `None` when it is a plain path
    /// (what berth-serve's `--model_base_path` also takes). A URI with a scheme that
    /// is malformed is an error, never silently a relative directory.
    pub fn parse_base_path(text: &str) -> Result<Option<Self>, SourceUriError> {
        match split_scheme(text) {
            Some(_) => text.parse().map(Some),
            None => Ok(None),
        }
    }
}

/// `("s3", "bucket/prefix")` for `s3://bucket/prefix`; `None` without a URI scheme
/// (letters, digits, `+-.`, starting with a letter, before `://`).
fn split_scheme(text: &str) -> Option<(&str, &str)> {
    let (scheme, rest) = text.split_once("://")?;
    let mut chars = scheme.chars();
    let first_ok = chars.next().is_some_and(|c| c.is_ascii_alphabetic());
    (first_ok && chars.all(|c| c.is_ascii_alphanumeric() || "+-.".contains(c))).then_some((scheme, rest))
}

impl FromStr for SourceLocation {
    type Err = SourceUriError;

    fn from_str(uri: &str) -> Result<Self, Self::Err> {
        let owned = || uri.to_string();
        // ASCII whitespace only, exactly what the schema pattern excludes.
        if uri.chars().any(|c| c.is_ascii_whitespace()) {
            return Err(SourceUriError::BadCharacter { uri: owned() });
        }
        let (scheme, rest) = split_scheme(uri).ok_or_else(|| SourceUriError::NoScheme { uri: owned() })?;
        // Bucket-like schemes: the first segment names the bucket, the rest is a prefix.
        let bucket = |scheme: &'static str| match rest.split_once('/').unwrap_or((rest, "")) {
            ("", _) => Err(SourceUriError::EmptyBucket { uri: owned(), scheme }),
            (bucket, prefix) => Ok((bucket.to_string(), prefix.to_string())),
        };
        match scheme {
            "file" if rest.is_empty() => Err(SourceUriError::EmptyPath { uri: owned() }),
            "file" => Ok(Self::File { path: rest.to_string() }),
            "pvc" => match rest.split_once('/').unwrap_or((rest, "")) {
                ("", _) => Err(SourceUriError::EmptyClaim { uri: owned() }),
                (claim, path) => Ok(Self::Pvc { claim: claim.to_string(), path: path.to_string() }),
            },
            "s3" => bucket("s3").map(|(bucket, prefix)| Self::S3 { bucket, prefix }),
            "gs" => bucket("gs").map(|(bucket, prefix)| Self::Gcs { bucket, prefix }),
            "az" => bucket("az").map(|(container, prefix)| Self::Azure { container, prefix }),
            other => Err(SourceUriError::UnknownScheme { uri: owned(), scheme: other.to_string() }),
        }
    }
}

impl fmt::Display for SourceLocation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (first, rest) = match self {
            Self::File { path } => return write!(f, "file://{path}"),
            Self::Pvc { claim, path } => (claim, path),
            Self::S3 { bucket, prefix } | Self::Gcs { bucket, prefix } => (bucket, prefix),
            Self::Azure { container, prefix } => (container, prefix),
        };
        write!(f, "{}://{first}", self.scheme())?;
        if rest.is_empty() { Ok(()) } else { write!(f, "/{rest}") }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(uri: &str) -> Result<SourceLocation, SourceUriError> {
        uri.parse()
    }

    #[test]
    fn parses_every_scheme() {
        let s = String::from;
        let cases = [
            ("file:///models/m", SourceLocation::File { path: s("/models/m") }),
            ("pvc://store/nlp/m", SourceLocation::Pvc { claim: s("store"), path: s("nlp/m") }),
            ("pvc://store", SourceLocation::Pvc { claim: s("store"), path: s("") }),
            ("s3://models/nlp/m", SourceLocation::S3 { bucket: s("models"), prefix: s("nlp/m") }),
            ("gs://models", SourceLocation::Gcs { bucket: s("models"), prefix: s("") }),
            ("az://models/m/", SourceLocation::Azure { container: s("models"), prefix: s("m/") }),
        ];
        for (uri, expected) in cases {
            assert_eq!(parse(uri).as_ref(), Ok(&expected), "{uri}");
            assert_eq!(expected.to_string(), uri, "display gives back {uri}");
        }
    }

    #[test]
    fn errors_name_the_problem() {
        let cases: [(&str, &str); 7] = [
            ("models/m", "no scheme"),
            ("http://host/m", "unknown scheme \"http\""),
            ("file://", "needs a path"),
            ("pvc:///m", "needs a claim"),
            ("s3:///m", "needs a bucket"),
            ("az://", "az:// needs a bucket or container"),
            ("s3://my bucket", "whitespace"),
        ];
        for (uri, says) in cases {
            let message = parse(uri).map(|l| l.to_string()).unwrap_err().to_string();
            assert!(message.contains(says), "{uri}: {message}");
        }
    }

    #[test]
    fn plain_paths_are_not_locations() {
        assert_eq!(SourceLocation::parse_base_path("/models/m"), Ok(None));
        assert_eq!(SourceLocation::parse_base_path("./a://b"), Ok(None));
        assert!(matches!(SourceLocation::parse_base_path("s3://b/p"), Ok(Some(SourceLocation::S3 { .. }))));
        assert!(SourceLocation::parse_base_path("s3://").is_err(), "a bad URI is not a directory named s3:");
        assert!(SourceLocation::parse_base_path("ftp://x").is_err());
    }

    #[test]
    fn only_object_stores_are_remote() {
        assert!(parse("s3://b").is_ok_and(|l| l.is_remote()));
        assert!(parse("az://c/p").is_ok_and(|l| l.is_remote()));
        assert!(parse("pvc://c/p").is_ok_and(|l| !l.is_remote()));
        assert!(parse("file:///m").is_ok_and(|l| !l.is_remote()));
    }
}
