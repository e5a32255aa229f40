//! Kubernetes resource quantities (`128974848`, `129e6`, `129M`, `123Mi`,
//! `1.5Gi`) as whole bytes. k8s-openapi keeps a Quantity as its string, so
//! the kubelet has to read it itself.

/// The quantity in bytes, rounded up like Kubernetes' `Quantity.Value()`.
/// `None` for anything Kubernetes would not accept as a memory amount
/// (syntax errors, unknown suffixes, negative values). Values beyond `u64`
/// saturate: no process can reach them, so they mean "no effective limit".
pub fn parse_bytes(s: &str) -> Option<u64> {
    divide_ceil(s, "1")
}

/// `quantity / divisor` rounded up, as the downward API's `resourceFieldRef`
/// reports it (`limits.cpu` 500m with divisor 1m is 500, with divisor 1 it is 1).
/// `None` when either is not a quantity or the divisor is zero; saturates at `u64::MAX`.
pub fn divide_ceil(quantity: &str, divisor: &str) -> Option<u64> {
    let (num, den) = ratio(quantity)?;
    let (div_num, div_den) = ratio(divisor)?;
    if div_num == 0 {
        return None;
    }
    // (num / den) / (div_num / div_den); u128 covers every realistic pair, and a
    // product that overflows is far beyond any limit a process can reach.
    let top = num.checked_mul(div_den);
    let bottom = den.checked_mul(div_num);
    let value = match (top, bottom) {
        (Some(top), Some(bottom)) => top.div_ceil(bottom),
        _ => u128::MAX,
    };
    Some(u64::try_from(value).unwrap_or(u64::MAX))
}

/// A quantity as an exact fraction `(numerator, denominator)`; `None` when it is
/// not one Kubernetes accepts (or is negative). A numerator past `u128` saturates.
fn ratio(s: &str) -> Option<(u128, u128)> {
    let s = s.strip_prefix('+').unwrap_or(s);
    let number_len = s.find(|c: char| !c.is_ascii_digit() && c != '.').unwrap_or(s.len());
    let (number, suffix) = s.split_at(number_len);
    let (whole, fraction) = number.split_once('.').unwrap_or((number, ""));
    if whole.len() + fraction.len() == 0 || fraction.contains('.') {
        return None;
    }
    let (exp10, shift) = suffix_scale(suffix)?;
    let mut mantissa: u128 = 0;
    for d in whole.bytes().chain(fraction.bytes()) {
        mantissa = mantissa.saturating_mul(10).saturating_add(u128::from(d - b'0'));
    }
    let exp10 = exp10.checked_sub(i32::try_from(fraction.len()).ok()?)?;
    let scaled = shl(mantissa, shift).unwrap_or(u128::MAX);
    if exp10 >= 0 {
        let factor = 10u128.checked_pow(exp10.unsigned_abs()).unwrap_or(u128::MAX);
        Some((scaled.saturating_mul(factor), 1))
    } else {
        // Past 10^38 the value is below any resolution Kubernetes keeps.
        Some((scaled, 10u128.checked_pow(exp10.unsigned_abs())?))
    }
}

/// `(power of ten, power of two)` a suffix multiplies by.
fn suffix_scale(suffix: &str) -> Option<(i32, u32)> {
    let scale = match suffix {
        "" => (0, 0),
        "Ki" => (0, 10),
        "Mi" => (0, 20),
        "Gi" => (0, 30),
        "Ti" => (0, 40),
        "Pi" => (0, 50),
        "Ei" => (0, 60),
        "n" => (-9, 0),
        "u" => (-6, 0),
        "m" => (-3, 0),
        "k" => (3, 0),
        "M" => (6, 0),
        "G" => (9, 0),
        "T" => (12, 0),
        "P" => (15, 0),
        "E" => (18, 0),
        _ => {
            // Decimal exponent: `e` or `E` and a signed integer.
            let exp = suffix.strip_prefix(['e', 'E'])?;
            let digits = exp.strip_prefix(['+', '-']).unwrap_or(exp);
            if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
                return None;
            }
            (exp.parse().ok()?, 0)
        }
    };
    Some(scale)
}

fn shl(v: u128, shift: u32) -> Option<u128> {
    v.checked_mul(1u128 << shift)
}

#[cfg(test)]
mod tests {
    use super::{divide_ceil, parse_bytes};

    #[test]
    fn division_by_a_divisor_rounds_up() {
        assert_eq!(divide_ceil("500m", "1"), Some(1));
        assert_eq!(divide_ceil("500m", "1m"), Some(500));
        assert_eq!(divide_ceil("2", "1m"), Some(2000));
        assert_eq!(divide_ceil("150Mi", "1"), Some(157_286_400));
        assert_eq!(divide_ceil("150Mi", "1Mi"), Some(150));
        assert_eq!(divide_ceil("1Gi", "1M"), Some(1074), "1073.74 rounds up");
        assert_eq!(divide_ceil("1", "0"), None);
        assert_eq!(divide_ceil("1", "x"), None);
    }

    #[test]
    fn the_forms_kubernetes_documents() {
        // The examples of the Kubernetes docs, all about 129 MB.
        assert_eq!(parse_bytes("128974848"), Some(128_974_848));
        assert_eq!(parse_bytes("129e6"), Some(129_000_000));
        assert_eq!(parse_bytes("129M"), Some(129_000_000));
        assert_eq!(parse_bytes("128974848000m"), Some(128_974_848));
        assert_eq!(parse_bytes("123Mi"), Some(123 * 1024 * 1024));
    }

    #[test]
    fn binary_and_decimal_suffixes() {
        assert_eq!(parse_bytes("1Ki"), Some(1024));
        assert_eq!(parse_bytes("1k"), Some(1000));
        assert_eq!(parse_bytes("100Mi"), Some(104_857_600));
        assert_eq!(parse_bytes("2Gi"), Some(2 << 30));
        assert_eq!(parse_bytes("1G"), Some(1_000_000_000));
        assert_eq!(parse_bytes("1Ti"), Some(1 << 40));
        assert_eq!(parse_bytes("1T"), Some(1_000_000_000_000));
        assert_eq!(parse_bytes("1Ei"), Some(1 << 60));
        assert_eq!(parse_bytes("1E"), Some(1_000_000_000_000_000_000));
        assert_eq!(parse_bytes("0"), Some(0));
        assert_eq!(parse_bytes("+5"), Some(5));
    }

    #[test]
    fn fractions_and_exponents() {
        assert_eq!(parse_bytes("1.5Gi"), Some(3 << 29));
        assert_eq!(parse_bytes("0.5Ki"), Some(512));
        assert_eq!(parse_bytes(".5Ki"), Some(512));
        assert_eq!(parse_bytes("1.5"), Some(2), "a fraction of a byte rounds up");
        assert_eq!(parse_bytes("100m"), Some(1));
        assert_eq!(parse_bytes("1e3"), Some(1000));
        assert_eq!(parse_bytes("1E3"), Some(1000));
        assert_eq!(parse_bytes("1e+3"), Some(1000));
        assert_eq!(parse_bytes("25e-1"), Some(3));
        assert_eq!(parse_bytes("1e40"), Some(u64::MAX), "too big saturates");
        assert_eq!(parse_bytes("99999999999Ei"), Some(u64::MAX));
    }

    #[test]
    fn what_kubernetes_would_reject() {
        for bad in
            ["", "Mi", ".", "-1Mi", "1 Mi", " 1Mi", "1MB", "1K", "1mi", "1.2.3", "1e", "1e+", "1ee3", "1e3.5", "abc"]
        {
            assert_eq!(parse_bytes(bad), None, "{bad:?}");
        }
    }
}
