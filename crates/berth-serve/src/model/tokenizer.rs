//! Text -> token ids with HuggingFace `tokenizers`: `tokenizer.json` when the
//! version has one, otherwise a BERT WordPiece tokenizer built from
//! `vocab.txt`. Padding is left to the batcher (it pads to the longest row of
//! each batch); truncation follows the serving configuration.

use std::path::Path;

use tokenizers::models::wordpiece::WordPiece;
use tokenizers::normalizers::BertNormalizer;
use tokenizers::pre_tokenizers::bert::BertPreTokenizer;
use tokenizers::processors::bert::BertProcessing;
use tokenizers::{Tokenizer, TruncationDirection, TruncationParams, TruncationStrategy};

use super::LoadError;
use berth_api::Truncation;

/// One tokenized text, ready for the batcher.
#[derive(Debug, Clone, PartialEq)]
pub struct Encoded {
    pub ids: Vec<i64>,
    pub type_ids: Vec<i64>,
    /// The text was longer than the maximum and was cut.
    pub truncated: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum TokenizeError {
    #[error("input has {tokens} tokens, more than the maximum of {max}")]
    TooLong { tokens: usize, max: usize },
    #[error("tokenizing: {0}")]
    Failed(String),
}

impl TokenizeError {
    pub fn category(&self) -> &'static str {
        match self {
            TokenizeError::TooLong { .. } => "too_long",
            TokenizeError::Failed(_) => "tokenizer",
        }
    }
}

#[derive(Debug)]
pub struct TextTokenizer {
    inner: Tokenizer,
    max_len: usize,
    truncation: Truncation,
}

impl TextTokenizer {
    pub fn from_dir(dir: &Path, max_len: usize, truncation: Truncation) -> Result<Self, LoadError> {
        let json = dir.join("tokenizer.json");
        let vocab = dir.join("vocab.txt");
        let mut inner = if json.is_file() {
            Tokenizer::from_file(&json).map_err(|e| LoadError::Tokenizer(format!("{}: {e}", json.display())))?
        } else if vocab.is_file() {
            wordpiece_from_vocab(dir, &vocab)?
        } else {
            return Err(LoadError::Tokenizer("neither tokenizer.json nor vocab.txt in the version directory".into()));
        };
        inner.with_padding(None);
        let trunc = match truncation {
            Truncation::Truncate => Some(TruncationParams {
                direction: TruncationDirection::Right,
                max_length: max_len,
                strategy: TruncationStrategy::LongestFirst,
                stride: 0,
            }),
            // Reject mode measures the full length, so nothing is cut.
            Truncation::Reject => None,
        };
        inner.with_truncation(trunc).map_err(|e| LoadError::Tokenizer(e.to_string()))?;
        Ok(Self { inner, max_len, truncation })
    }

    /// Vocabulary size, special tokens included: ids at or above it are invalid.
    pub fn vocab_size(&self) -> usize {
        self.inner.get_vocab_size(true)
    }

    pub fn max_len(&self) -> usize {
        self.max_len
    }

    pub fn encode(&self, text: &str) -> Result<Encoded, TokenizeError> {
        // encode_fast skips character offsets, which serving never uses.
        let enc = self.inner.encode_fast(text, true).map_err(|e| TokenizeError::Failed(e.to_string()))?;
        let tokens = enc.len();
        if self.truncation == Truncation::Reject && tokens > self.max_len {
            return Err(TokenizeError::TooLong { tokens, max: self.max_len });
        }
        Ok(Encoded {
            ids: enc.get_ids().iter().map(|&i| i64::from(i)).collect(),
            type_ids: enc.get_type_ids().iter().map(|&i| i64::from(i)).collect(),
            truncated: !enc.get_overflowing().is_empty(),
        })
    }
}

/// The classic BERT pipeline: clean + lowercase (unless tokenizer_config.json
/// says `do_lower_case: false`), split on whitespace and punctuation,
/// WordPiece, then `[CLS] ... [SEP]`.
fn wordpiece_from_vocab(dir: &Path, vocab: &Path) -> Result<Tokenizer, LoadError> {
    let vocab_str = vocab.to_str().ok_or_else(|| LoadError::Tokenizer("vocab.txt path is not UTF-8".into()))?;
    let model = WordPiece::from_file(vocab_str)
        .unk_token("[UNK]".into())
        .build()
        .map_err(|e| LoadError::Tokenizer(format!("{}: {e}", vocab.display())))?;
    let lowercase = std::fs::read_to_string(dir.join("tokenizer_config.json"))
        .ok()
        .and_then(|t| serde_json::from_str::<serde_json::Value>(&t).ok())
        .and_then(|v| v.get("do_lower_case").and_then(|b| b.as_bool()))
        .unwrap_or(true);
    let mut tok = Tokenizer::new(model);
    let id = |t: &str| tok.token_to_id(t).ok_or_else(|| LoadError::Tokenizer(format!("vocab.txt has no {t} token")));
    let (cls, sep) = (id("[CLS]")?, id("[SEP]")?);
    tok.with_normalizer(Some(BertNormalizer::new(true, true, None, lowercase)));
    tok.with_pre_tokenizer(Some(BertPreTokenizer));
    tok.with_post_processor(Some(BertProcessing::new(("[SEP]".into(), sep), ("[CLS]".into(), cls))));
    Ok(tok)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vocab_dir() -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        let vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "hello", "world", "!", "wor", "##ld"];
        std::fs::write(dir.path().join("vocab.txt"), vocab.join("\n")).unwrap();
        dir
    }

    #[test]
    fn vocab_txt_fallback_tokenizes_like_bert() {
        let dir = vocab_dir();
        let tok = TextTokenizer::from_dir(dir.path(), 16, Truncation::Truncate).unwrap();
        let enc = tok.encode("Hello World!").unwrap();
        assert_eq!(enc.ids, vec![2, 4, 5, 6, 3]);
        assert_eq!(enc.type_ids, vec![0; 5]);
        assert!(!enc.truncated);
        assert_eq!(tok.vocab_size(), 9);
        // Unknown words become [UNK].
        assert_eq!(tok.encode("zebra").unwrap().ids, vec![2, 1, 3]);
    }

    #[test]
    fn truncate_keeps_sep_and_says_so() {
        let dir = vocab_dir();
        let tok = TextTokenizer::from_dir(dir.path(), 4, Truncation::Truncate).unwrap();
        let enc = tok.encode("hello world hello world").unwrap();
        assert_eq!(enc.ids, vec![2, 4, 5, 3]);
        assert!(enc.truncated);
    }

    #[test]
    fn reject_mode_refuses_long_inputs() {
        let dir = vocab_dir();
        let tok = TextTokenizer::from_dir(dir.path(), 4, Truncation::Reject).unwrap();
        let err = tok.encode("hello world hello world").unwrap_err();
        assert!(matches!(err, TokenizeError::TooLong { tokens: 6, max: 4 }), "{err}");
        assert!(tok.encode("hello").is_ok());
    }

    #[test]
    fn missing_tokenizer_is_a_load_error() {
        let dir = tempfile::tempdir().unwrap();
        let err = TextTokenizer::from_dir(dir.path(), 8, Truncation::Truncate).unwrap_err();
        assert_eq!(err.category(), "tokenizer");
    }
}
