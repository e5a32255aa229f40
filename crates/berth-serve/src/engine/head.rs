//! Task heads: mean or [CLS] pooling (+ L2 normalisation) for embeddings and softmax
//! for classifiers. Pure functions over slices so they are tested directly.

/// Mean of `hidden`'s token vectors (a `[seq, width]` slice of one row) over
/// the tokens whose mask is non-zero, written to `out` (`width` long).
pub fn mean_pool(hidden: &[f32], mask: &[i64], width: usize, normalize: bool, out: &mut [f32]) {
    out.iter_mut().for_each(|v| *v = 0.0);
    let mut count = 0.0f32;
    for (token, &m) in hidden.chunks_exact(width).zip(mask) {
        if m != 0 {
            count += 1.0;
            for (o, h) in out.iter_mut().zip(token) {
                *o += h;
            }
        }
    }
    // Same clamp as sentence-transformers: an all-zero mask gives zeros, not NaN.
    let denom = count.max(1e-9);
    out.iter_mut().for_each(|v| *v /= denom);
    if normalize {
        l2_normalize(out);
    }
}

/// The first token's vector of `hidden` (one row, `[seq, width]`): [CLS] pooling.
pub fn cls_pool(hidden: &[f32], width: usize, normalize: bool, out: &mut [f32]) {
    out.copy_from_slice(&hidden[..width]);
    if normalize {
        l2_normalize(out);
    }
}

pub fn l2_normalize(v: &mut [f32]) {
    let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt().max(1e-12);
    v.iter_mut().for_each(|x| *x /= norm);
}

/// Numerically stable softmax of `logits` into `out`.
pub fn softmax(logits: &[f32], out: &mut [f32]) {
    let max = logits.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let mut sum = 0.0;
    for (o, &l) in out.iter_mut().zip(logits) {
        *o = (l - max).exp();
        sum += *o;
    }
    out.iter_mut().for_each(|o| *o /= sum);
}

/// Index of the largest value (first on ties).
pub fn argmax(v: &[f32]) -> usize {
    let mut best = 0;
    for (i, x) in v.iter().enumerate() {
        if *x > v[best] {
            best = i;
        }
    }
    best
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mean_pool_ignores_masked_tokens() {
        // 3 tokens of width 2; the last one is padding.
        let hidden = [1.0, 2.0, 3.0, 4.0, 100.0, 100.0];
        let mut out = [0.0; 2];
        mean_pool(&hidden, &[1, 1, 0], 2, false, &mut out);
        assert_eq!(out, [2.0, 3.0]);
        mean_pool(&hidden, &[1, 1, 0], 2, true, &mut out);
        let norm = (out[0] * out[0] + out[1] * out[1]).sqrt();
        assert!((norm - 1.0).abs() < 1e-6);
        mean_pool(&hidden, &[0, 0, 0], 2, false, &mut out);
        assert_eq!(out, [0.0, 0.0]);
    }

    #[test]
    fn cls_pool_takes_the_first_token() {
        let hidden = [3.0, 4.0, 100.0, 100.0];
        let mut out = [0.0; 2];
        cls_pool(&hidden, 2, false, &mut out);
        assert_eq!(out, [3.0, 4.0]);
        cls_pool(&hidden, 2, true, &mut out);
        assert_eq!(out, [0.6, 0.8]);
    }

    #[test]
    fn softmax_sums_to_one_and_survives_large_logits() {
        let mut out = [0.0; 3];
        softmax(&[1000.0, 1001.0, 999.0], &mut out);
        assert!((out.iter().sum::<f32>() - 1.0).abs() < 1e-6);
        assert_eq!(argmax(&out), 1);
        softmax(&[0.0, 0.0], &mut out[..2]);
        assert_eq!(&out[..2], &[0.5, 0.5]);
    }
}
