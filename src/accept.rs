//! Content negotiation for `/metrics` (conventions.md §1.2). Prometheus 2.x prefers OpenMetrics
//! and Prometheus 3 fails a scrape whose Content-Type it did not ask for, so `Accept` is parsed
//! properly (RFC 9110 §12.5.1: q-values, specific ranges beat wildcards) rather than by substring.
//! Never fails: anything odd means Prometheus text.

/// The two exposition formats the exporter can render.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// Prometheus text format 0.0.4: the fallback every scraper understands.
    PrometheusText,
    /// OpenMetrics text 1.0.0, only when explicitly asked for.
    OpenMetrics,
}

impl Format {
    /// The exact Content-Type to send; Prometheus 3 rejects a missing or unexpected one.
    pub fn content_type(self) -> &'static str {
        match self {
            Format::PrometheusText => "text/plain; version=0.0.4; charset=utf-8",
            Format::OpenMetrics => "application/openmetrics-text; version=1.0.0; charset=utf-8",
        }
    }
}

/// Pick the exposition format from an Accept header.
///
/// Rule: each format's weight is the q of the most specific range that matches it (exact
/// `version` > bare type > `type/*` > `*/*`; among equals the highest q). OpenMetrics matches only
/// an explicit `application/openmetrics-text` with `version` 1.0.0, 0.0.1 or none (we answer
/// 1.0.0); text matches `text/plain` with version 0.0.4 or none, `text/*` and `*/*`. OpenMetrics
/// wins if its weight is positive and higher, or equal and its deciding range is listed first.
/// Everything else, including q=0 for both, missing, empty or malformed headers, gives text.
/// Malformed elements (no `type/subtype`, a bad q) are skipped.
pub fn negotiate(accept: Option<&str>) -> Format {
    // (specificity, q in thousandths, position) of the best match for each format.
    let mut om: Option<(u8, u16, usize)> = None;
    let mut text: Option<(u8, u16, usize)> = None;
    for (pos, element) in split_unquoted(accept.unwrap_or(""), ',')
        .into_iter()
        .enumerate()
    {
        let Some(range) = parse_range(element) else {
            continue;
        };
        let version = range.version.as_deref();
        let (slot, specificity) = match (range.mime.as_str(), version) {
            ("application/openmetrics-text", Some("1.0.0" | "0.0.1")) => (&mut om, 3),
            ("application/openmetrics-text", None) => (&mut om, 2),
            ("text/plain", Some("0.0.4")) => (&mut text, 3),
            ("text/plain", None) => (&mut text, 2),
            ("text/*", _) => (&mut text, 1),
            ("*/*", _) => (&mut text, 0),
            _ => continue,
        };
        let better = match *slot {
            None => true,
            Some((s, q, _)) => specificity > s || (specificity == s && range.q > q),
        };
        if better {
            *slot = Some((specificity, range.q, pos));
        }
    }
    match (om, text) {
        (Some((_, oq, _)), None) if oq > 0 => Format::OpenMetrics,
        (Some((_, oq, opos)), Some((_, tq, tpos)))
            if oq > 0 && (oq > tq || (oq == tq && opos < tpos)) =>
        {
            Format::OpenMetrics
        }
        _ => Format::PrometheusText,
    }
}

/// Whether an `Accept-Encoding` value allows gzip (RFC 9110 §12.5.3): `gzip`, `x-gzip` or `*`
/// with q > 0, an explicit `gzip` entry winning over `*`. Malformed elements are skipped;
/// missing or empty means identity.
pub fn accepts_gzip(accept_encoding: Option<&str>) -> bool {
    let (mut gzip, mut star) = (None, None);
    for element in split_unquoted(accept_encoding.unwrap_or(""), ',') {
        let mut parts = split_unquoted(element, ';').into_iter();
        let coding = parts.next().unwrap_or_default().trim().to_ascii_lowercase();
        let q = parts
            .filter_map(|p| p.split_once('='))
            .find(|(name, _)| name.trim().eq_ignore_ascii_case("q"))
            .map_or(Some(1000), |(_, v)| parse_qvalue(v.trim()));
        let Some(q) = q else { continue };
        match coding.as_str() {
            "gzip" | "x-gzip" => gzip = Some(q > 0),
            "*" => star = Some(q > 0),
            _ => {}
        }
    }
    gzip.or(star).unwrap_or(false)
}

/// One parsed media range: lower-cased `type/subtype`, its `version` parameter and q (0..=1000).
struct Range {
    mime: String,
    version: Option<String>,
    q: u16,
}

fn parse_range(element: &str) -> Option<Range> {
    let mut parts = split_unquoted(element, ';').into_iter();
    let mime = parts.next()?.trim().to_ascii_lowercase();
    let (ty, sub) = mime.split_once('/')?;
    if !is_token(ty) || !is_token(sub) || (ty == "*" && sub != "*") {
        return None;
    }
    let mut range = Range {
        mime,
        version: None,
        q: 1000,
    };
    for param in parts.filter(|p| !p.trim().is_empty()) {
        let (name, value) = param.split_once('=')?;
        let name = name.trim().to_ascii_lowercase();
        let value = unquote(value.trim())?;
        match name.as_str() {
            "q" => range.q = parse_qvalue(&value)?,
            "version" => range.version = Some(value),
            _ if is_token(&name) => {}
            _ => return None,
        }
    }
    Some(range)
}

/// RFC 9110 `qvalue`: `0[.ddd]` or `1[.000]`, returned in thousandths.
fn parse_qvalue(s: &str) -> Option<u16> {
    let (int, frac) = s.split_once('.').unwrap_or((s, ""));
    if frac.len() > 3 || !frac.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let thousandths: u16 = format!("{frac:0<3}").parse().ok()?;
    match int {
        "0" => Some(thousandths),
        "1" if thousandths == 0 => Some(1000),
        _ => None,
    }
}

fn is_token(s: &str) -> bool {
    !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
}

/// A token as is, or a quoted-string with its quotes and backslash escapes removed.
fn unquote(s: &str) -> Option<String> {
    let Some(inner) = s.strip_prefix('"') else {
        return is_token(s).then(|| s.to_owned());
    };
    let inner = inner.strip_suffix('"')?;
    let mut out = String::with_capacity(inner.len());
    let mut chars = inner.chars();
    while let Some(c) = chars.next() {
        out.push(if c == '\\' { chars.next()? } else { c });
    }
    Some(out)
}

/// Split on `sep` outside double-quoted strings (a quoted parameter may contain `,` or `;`).
fn split_unquoted(s: &str, sep: char) -> Vec<&str> {
    let (mut parts, mut start, mut quoted, mut escaped) = (Vec::new(), 0, false, false);
    for (i, c) in s.char_indices() {
        match c {
            _ if escaped => escaped = false,
            '\\' if quoted => escaped = true,
            '"' => quoted = !quoted,
            c if c == sep && !quoted => {
                parts.push(&s[start..i]);
                start = i + c.len_utf8();
            }
            _ => {}
        }
    }
    parts.push(&s[start..]);
    parts
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accept_encoding() {
        let accepted = accepts_gzip;
        assert!(accepted(Some("gzip")));
        assert!(accepted(Some("deflate, GZIP;q=0.5")));
        assert!(accepted(Some("x-gzip")));
        assert!(accepted(Some("br, *")));
        assert!(!accepted(Some("gzip;q=0")));
        assert!(
            !accepted(Some("gzip; q=0.0, *")),
            "an explicit gzip wins over *"
        );
        assert!(!accepted(Some("identity")));
        assert!(!accepted(Some("")));
        assert!(!accepted(None));
    }
    use Format::{OpenMetrics as OM, PrometheusText as PT};

    // Prometheus 2.42, captured with a header-logging server (conventions.md §1.2).
    const PROM_2_42: &str = "application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1";
    // Prometheus 3 default scrape_protocols, with `escaping=allow-utf-8`.
    const PROM_3: &str = "application/openmetrics-text;version=1.0.0;escaping=allow-utf-8;q=0.6,application/openmetrics-text;version=0.0.1;q=0.5,text/plain;version=1.0.0;escaping=allow-utf-8;q=0.4,text/plain;version=0.0.4;q=0.3,*/*;q=0.2";
    // Prometheus 3 with PrometheusText first (text 1.0.0 is unsupported, 0.0.4 beats OpenMetrics).
    const PROM_3_TEXT: &str = "text/plain;version=1.0.0;escaping=allow-utf-8;q=0.6,text/plain;version=0.0.4;q=0.5,application/openmetrics-text;version=1.0.0;escaping=allow-utf-8;q=0.4,*/*;q=0.1";
    // Protobuf first: unsupported, so the best supported type wins.
    const PROM_PROTO: &str = "application/vnd.google.protobuf;proto=io.prometheus.client.MetricFamily;encoding=delimited;q=0.7,application/openmetrics-text;version=1.0.0;q=0.6,*/*;q=0.1";

    const CASES: &[(&str, Format)] = &[
        (PROM_2_42, OM),
        (PROM_3, OM),
        (PROM_3_TEXT, PT),
        (PROM_PROTO, OM),
        ("*/*", PT), // curl
        ("", PT),
        (
            "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8",
            PT,
        ),
        // versions, case, empty parameters
        ("application/openmetrics-text", OM),
        ("Application/OpenMetrics-Text; Version=\"1.0.0\"", OM),
        ("application/openmetrics-text;version=0.0.1", OM),
        ("application/openmetrics-text;version=2.0.0", PT),
        ("application/*", PT),
        ("text/plain;version=0.0.4", PT),
        ("application/openmetrics-text; ;version=1.0.0;", OM),
        // q-values and ties (first listed wins a tie)
        ("text/plain;q=0.5, application/openmetrics-text;q=0.6", OM),
        ("text/plain;q=0.7, application/openmetrics-text;q=0.6", PT),
        ("application/openmetrics-text, text/plain", OM),
        ("text/plain, application/openmetrics-text", PT),
        ("*/*;q=0.5, application/openmetrics-text;q=0.5", PT),
        ("application/openmetrics-text;q=0.001", OM),
        (
            "application/openmetrics-text;q=1.000,text/plain;q=0.999",
            OM,
        ),
        // a more specific range overrides the wildcard, even with a lower q
        (
            "text/plain;version=0.0.4;q=0.1, */*, application/openmetrics-text;q=0.5",
            OM,
        ),
        // q=0 means "not acceptable"
        ("application/openmetrics-text;q=0", PT),
        ("application/openmetrics-text;q=0.000, text/plain;q=0", PT),
        (
            "application/openmetrics-text;version=1.0.0;q=0, application/openmetrics-text",
            PT,
        ),
        ("text/plain;q=0, application/openmetrics-text;q=0.1", OM),
        // malformed elements are skipped
        ("application/openmetrics-text;q=abc", PT),
        ("application/openmetrics-text;q=1.5", PT),
        ("application/openmetrics-text;q=0.1234", PT),
        ("application/openmetrics-text;q", PT),
        (
            "openmetrics, application/openmetrics-text;q=0.2, text/plain;q=oops",
            OM,
        ),
        (
            "application/openmetrics-text;foo=\"a,b;c\";q=0.9, text/plain;q=0.8",
            OM,
        ),
        ("application/openmetrics-text;version=\"1.0.0", PT),
    ];

    #[test]
    fn negotiates_table() {
        for (header, want) in CASES {
            assert_eq!(negotiate(Some(header)), *want, "Accept: {header:?}");
        }
        assert_eq!(negotiate(None), PT);
    }

    #[test]
    fn content_types_are_exact() {
        let text = "text/plain; version=0.0.4; charset=utf-8";
        assert_eq!(PT.content_type(), text);
        let om = "application/openmetrics-text; version=1.0.0; charset=utf-8";
        assert_eq!(OM.content_type(), om);
    }

    #[test]
    fn never_panics() {
        let odd = ",|;;;|/|*/|/*|*/text|\"|\\|a/b;=;|a/b;q=|é/ü;q=0.5|text/plain;x=\"\\|\u{0}/\u{7f}\
                   |;q=1,|ü,é;ç=ñ|application/openmetrics-text;version=\"1.0.0\\\"\"|   |\t*/*\t";
        for h in odd.split('|') {
            let _ = negotiate(Some(h));
        }
        let pieces = "\"|\\|,|;|=|q|0.|1|/|*|é| |text|application/openmetrics-text".split('|');
        let pieces: Vec<&str> = pieces.collect();
        for a in &pieces {
            for b in &pieces {
                for c in &pieces {
                    let _ = negotiate(Some(&format!("{a}{b}{c}{a}")));
                }
            }
        }
    }
}
