//! Prometheus-style durations (`30s`, `5m`, `1h30m`, `500ms`, `0s`) for flags and config, so
//! operators write the same spelling they use in `prometheus.yml`.

use std::time::Duration;

/// Parse `<number><unit>` groups, units `ms s m h d w y`, largest first, each at most once.
pub fn parse(input: &str) -> Result<Duration, String> {
    let s = input.trim();
    if s.is_empty() {
        return Err("empty duration".into());
    }
    if s == "0" {
        return Ok(Duration::ZERO);
    }
    let units: [(&str, u64); 7] = [
        ("y", 365 * 86_400_000),
        ("w", 7 * 86_400_000),
        ("d", 86_400_000),
        ("h", 3_600_000),
        ("m", 60_000),
        ("s", 1_000),
        ("ms", 1),
    ];
    let mut rest = s;
    let mut total_ms: u64 = 0;
    let mut last_rank = None;
    while !rest.is_empty() {
        let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
        if digits == 0 {
            return Err(format!("invalid duration {input:?}: expected a number"));
        }
        let n: u64 = rest[..digits]
            .parse()
            .map_err(|_| format!("invalid duration {input:?}"))?;
        rest = &rest[digits..];
        // `ms` must be tried before `m`.
        let (rank, (unit, ms)) = units
            .iter()
            .enumerate()
            .filter(|(_, (u, _))| rest.starts_with(u))
            .max_by_key(|(_, (u, _))| u.len())
            .ok_or_else(|| {
                format!("invalid duration {input:?}: unit must be one of ms, s, m, h, d, w, y")
            })?;
        if last_rank.is_some_and(|r| rank <= r) {
            return Err(format!(
                "invalid duration {input:?}: units must go from largest to smallest"
            ));
        }
        last_rank = Some(rank);
        rest = &rest[unit.len()..];
        total_ms = n
            .checked_mul(*ms)
            .and_then(|v| total_ms.checked_add(v))
            .ok_or_else(|| format!("duration {input:?} is too large"))?;
    }
    Ok(Duration::from_millis(total_ms))
}

/// The inverse of [`parse`] for display (`check-config`): `90s` → `1m30s`.
pub fn format(d: Duration) -> String {
    let mut ms = d.as_millis();
    if ms == 0 {
        return "0s".into();
    }
    let mut out = String::new();
    for (unit, size) in [("h", 3_600_000u128), ("m", 60_000), ("s", 1_000), ("ms", 1)] {
        if ms >= size {
            out.push_str(&format!("{}{unit}", ms / size));
            ms %= size;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_prometheus_spellings() {
        assert_eq!(parse("30s"), Ok(Duration::from_secs(30)));
        assert_eq!(parse("5m"), Ok(Duration::from_secs(300)));
        assert_eq!(parse("1h30m"), Ok(Duration::from_secs(5400)));
        assert_eq!(parse("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse("0s"), Ok(Duration::ZERO));
        assert_eq!(parse("0"), Ok(Duration::ZERO));
        assert_eq!(parse("1d"), Ok(Duration::from_secs(86_400)));
    }

    #[test]
    fn rejects_junk() {
        for bad in [
            "",
            "s",
            "5",
            "5x",
            "1m1h",
            "1s1s",
            "-5s",
            "1.5s",
            "99999999999999999999y",
        ] {
            assert!(parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn formats_round_trip() {
        for s in ["0s", "30s", "1m30s", "6h", "500ms"] {
            assert_eq!(format(parse(s).unwrap()), s);
        }
    }
}
