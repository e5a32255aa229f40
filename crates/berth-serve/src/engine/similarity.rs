//! How two answers of the same input compare: the one definition the mirrored-copy
//! agreement and the golden-set gate both judge by.

/// Cosine similarity in f64, clamped to [-1, 1]. Two zero vectors agree; a zero and a
/// non-zero one do not.
pub fn cosine(a: &[f32], b: &[f32]) -> f64 {
    let (mut dot, mut na, mut nb) = (0.0f64, 0.0f64, 0.0f64);
    for (x, y) in a.iter().zip(b) {
        let (x, y) = (f64::from(*x), f64::from(*y));
        dot += x * y;
        na += x * x;
        nb += y * y;
    }
    if na == 0.0 || nb == 0.0 {
        return if na == nb { 1.0 } else { 0.0 };
    }
    (dot / (na.sqrt() * nb.sqrt())).clamp(-1.0, 1.0)
}

/// The index of the largest value (the top label); None for an empty row.
pub fn argmax(row: &[f32]) -> Option<usize> {
    row.iter().enumerate().max_by(|(_, a), (_, b)| a.total_cmp(b)).map(|(i, _)| i)
}
