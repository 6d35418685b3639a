//! Numbers in words, the same everywhere: `1 flag`, `2 flags`, `12.5/s`.

/// `n` and the noun that agrees with it: `1 run`, `2 runs`.
pub(crate) fn count(n: usize, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

/// A rate with at most one decimal: `0.4/s`, `12.5/s`, `9151/s`.
pub(crate) fn rate(per_second: f64) -> String {
    if per_second >= 100.0 {
        format!("{per_second:.0}/s")
    } else {
        format!("{per_second:.1}/s")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plurals_and_rates() {
        assert_eq!(count(1, "flag", "flags"), "1 flag");
        assert_eq!(count(0, "flag", "flags"), "0 flags");
        assert_eq!(count(3, "run", "runs"), "3 runs");
        assert_eq!(rate(5.0769), "5.1/s");
        assert_eq!(rate(9151.4), "9151/s");
    }
}
