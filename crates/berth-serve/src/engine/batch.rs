//! How big one run of the graph may be. Rows are padded to the longest row of
//! their batch, so the cost of a run is rows x longest tokens: a row limit alone
//! either under-fills batches of short texts or makes batches of long ones so
//! big that a request arriving just after one started waits for two of them. A
//! token budget (like text-embeddings-inference's `max_batch_tokens`) keeps every
//! run about the same size whatever the lengths: 32 short texts, or 4 of 128.

use std::ops::Range;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BatchLimits {
    /// Most rows in one run (at least 1).
    pub rows: usize,
    /// Most padded tokens (rows x longest row) in one run; 0: no token limit.
    pub tokens: usize,
}

impl BatchLimits {
    /// Whether `rows` rows padded to `longest` tokens fit in one run.
    pub fn fits(&self, rows: usize, longest: usize) -> bool {
        rows <= self.rows.max(1) && (self.tokens == 0 || rows.saturating_mul(longest.max(1)) <= self.tokens)
    }
}

/// Splits consecutive rows with these lengths into runs that fit; a row that
/// is over the budget on its own runs alone.
pub fn chunks(lengths: &[usize], limits: BatchLimits) -> Vec<Range<usize>> {
    let mut out = Vec::new();
    let mut start = 0;
    let mut longest = 0;
    for (i, &len) in lengths.iter().enumerate() {
        let grown = longest.max(len);
        if i > start && !limits.fits(i - start + 1, grown) {
            out.push(start..i);
            start = i;
            longest = len;
        } else {
            longest = grown;
        }
    }
    if start < lengths.len() {
        out.push(start..lengths.len());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_budget_shapes_batches_by_length() {
        let limits = BatchLimits { rows: 32, tokens: 512 };
        assert_eq!(chunks(&[128; 10], limits), vec![0..4, 4..8, 8..10]);
        assert_eq!(chunks(&[12; 40], limits), vec![0..32, 32..40]);
        // A long row joining short ones pads them all: it starts a new run when needed.
        assert_eq!(chunks(&[10, 10, 10, 200, 200, 200], limits), vec![0..3, 3..5, 5..6]);
        // Over the budget alone: runs alone, never dropped.
        assert_eq!(chunks(&[600, 5], limits), vec![0..1, 1..2]);
        assert_eq!(chunks(&[], limits), Vec::<Range<usize>>::new());
    }

    #[test]
    fn no_token_limit_is_rows_only() {
        let limits = BatchLimits { rows: 3, tokens: 0 };
        assert_eq!(chunks(&[500; 7], limits), vec![0..3, 3..6, 6..7]);
        assert!(limits.fits(3, 100_000) && !limits.fits(4, 1));
    }
}
