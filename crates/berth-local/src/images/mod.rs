//! Maps container image references to local binaries. There is no container
//! runtime here: "pulling" an image means finding the binary the user built.
pub mod berth;

use std::path::PathBuf;

/// One `PATTERN=PATH` rule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageRule {
    pub pattern: String,
    pub binary: PathBuf,
}

/// What a container image itself says about how to run it, beyond its
/// entrypoint (the mapped binary): the Dockerfile's `CMD` and `ENV`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ImageConfig {
    /// `CMD`: the arguments when the container has neither `command` nor `args`.
    pub args: Vec<String>,
    /// `ENV`: defaults under the container's own `env`.
    pub env: Vec<(String, String)>,
    /// Set when the image cannot run here, with why (e.g. no ONNX Runtime
    /// library for berth-serve); the pod shows it as `ErrImagePull`.
    pub unavailable: Option<String>,
}

/// A resolved image: its binary and its configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Image<'a> {
    pub binary: &'a PathBuf,
    pub config: &'a ImageConfig,
}

#[derive(Debug, Clone, Default)]
pub struct ImageMap {
    rules: Vec<ImageRule>,
    /// One per rule, same order.
    configs: Vec<ImageConfig>,
}

impl ImageMap {
    pub fn new(rules: Vec<ImageRule>) -> Self {
        let configs = vec![ImageConfig::default(); rules.len()];
        ImageMap { rules, configs }
    }

    /// Parses `PATTERN=PATH`.
    pub fn parse_rule(s: &str) -> Result<ImageRule, String> {
        let (pattern, path) = s.split_once('=').ok_or_else(|| format!("image rule {s:?} is not PATTERN=PATH"))?;
        if pattern.is_empty() || path.is_empty() {
            return Err(format!("image rule {s:?} has an empty side"));
        }
        Ok(ImageRule { pattern: pattern.to_string(), binary: PathBuf::from(path) })
    }

    pub fn push(&mut self, rule: ImageRule) {
        self.push_with(rule, ImageConfig::default());
    }

    /// A rule for an image with its own `CMD`/`ENV` (Berth's images).
    pub fn push_with(&mut self, rule: ImageRule, config: ImageConfig) {
        self.rules.push(rule);
        self.configs.push(config);
    }

    pub fn rules(&self) -> &[ImageRule] {
        &self.rules
    }

    /// The binary for `image`, first matching rule wins.
    ///
    /// A pattern with `/`, `:` or `*` is a glob over the whole reference
    /// (`ghcr.io/berth/berth-serve:*`); a bare word (`berth-serve`) matches the
    /// image's last path segment with any tag, which is what a user means by
    /// "the berth-serve image".
    pub fn resolve(&self, image: &str) -> Option<&PathBuf> {
        self.image(image).map(|i| i.binary)
    }

    /// The binary and configuration for `image`, first matching rule wins.
    pub fn image(&self, image: &str) -> Option<Image<'_>> {
        let i = self.rules.iter().position(|r| rule_matches(&r.pattern, image))?;
        static NONE: ImageConfig = ImageConfig { args: Vec::new(), env: Vec::new(), unavailable: None };
        Some(Image { binary: &self.rules[i].binary, config: self.configs.get(i).unwrap_or(&NONE) })
    }
}

fn rule_matches(pattern: &str, image: &str) -> bool {
    if pattern.contains(['/', ':', '*']) {
        glob_match(pattern.as_bytes(), image.as_bytes())
    } else {
        repository_name(image) == pattern
    }
}

/// `ghcr.io/berth/berth-serve:0.1@sha256:..` -> `berth-serve`.
fn repository_name(image: &str) -> &str {
    let no_digest = image.split('@').next().unwrap_or(image);
    let last = no_digest.rsplit('/').next().unwrap_or(no_digest);
    last.split(':').next().unwrap_or(last)
}

/// `*` matches any run of bytes (including `/`); everything else literally.
fn glob_match(p: &[u8], s: &[u8]) -> bool {
    match p.split_first() {
        None => s.is_empty(),
        Some((b'*', rest)) => (0..=s.len()).any(|i| glob_match(rest, &s[i..])),
        Some((c, rest)) => s.first() == Some(c) && glob_match(rest, &s[1..]),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn map(rules: &[&str]) -> ImageMap {
        ImageMap::new(rules.iter().map(|r| ImageMap::parse_rule(r).unwrap_or_else(|e| panic!("{e}"))).collect())
    }

    #[test]
    fn glob_and_bare_names() {
        let m = map(&["ghcr.io/berth/berth-operator:*=/bin/op", "berth-serve=/bin/serve"]);
        assert_eq!(m.resolve("ghcr.io/berth/berth-operator:0.1.0"), Some(&PathBuf::from("/bin/op")));
        assert_eq!(m.resolve("ghcr.io/berth/berth-serve:dev"), Some(&PathBuf::from("/bin/serve")));
        assert_eq!(m.resolve("berth-serve@sha256:abc"), Some(&PathBuf::from("/bin/serve")));
        assert_eq!(m.resolve("ghcr.io/berth/berth-operatorx:1"), None);
        assert_eq!(m.resolve("nginx:1.27"), None);
    }

    #[test]
    fn bad_rules_are_rejected() {
        assert!(ImageMap::parse_rule("nope").is_err());
        assert!(ImageMap::parse_rule("=x").is_err());
    }
}
