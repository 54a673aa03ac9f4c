//! One-line logfmt or JSON logs on stderr, configured like every Prometheus exporter
//! (`--log.level`, `--log.format`, promslog style). No framework: a `OnceLock` holds the
//! settings and each line is formatted in full by the pure [`format_line`], then written with a
//! single `write_all`, so lines never interleave and a closed stderr never panics.

use std::fmt::{self, Display, Write as _};
use std::io::Write as _;
use std::sync::OnceLock;

/// Severity, ordered so that `level >= threshold` means "log it".
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Level {
    Debug,
    Info,
    Warn,
    Error,
}

/// Output encoding: logfmt for humans and Loki, JSON for log pipelines that want structure.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    Logfmt,
    Json,
}

/// A `--log.level` / `--log.format` value that is not one of the choices.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid {what} {value:?}: expected one of {choices}")]
pub struct ParseError {
    what: &'static str,
    value: String,
    choices: String,
}

impl Level {
    const ALL: [Level; 4] = [Level::Debug, Level::Info, Level::Warn, Level::Error];
}

impl LogFormat {
    const ALL: [LogFormat; 2] = [LogFormat::Logfmt, LogFormat::Json];
}

impl Display for Level {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(["debug", "info", "warn", "error"][*self as usize])
    }
}

impl Display for LogFormat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(["logfmt", "json"][*self as usize])
    }
}

/// Case-insensitive match against the `Display` names, so flag values and help text agree.
fn parse_choice<T: Copy + Display>(
    what: &'static str,
    s: &str,
    all: &[T],
) -> Result<T, ParseError> {
    let choices: Vec<String> = all.iter().map(ToString::to_string).collect();
    match choices.iter().position(|n| s.eq_ignore_ascii_case(n)) {
        Some(i) => Ok(all[i]),
        None => Err(ParseError {
            what,
            value: s.to_owned(),
            choices: choices.join(", "),
        }),
    }
}

impl std::str::FromStr for Level {
    type Err = ParseError;
    fn from_str(s: &str) -> Result<Self, ParseError> {
        parse_choice("log level", s, &Level::ALL)
    }
}

impl std::str::FromStr for LogFormat {
    type Err = ParseError;
    fn from_str(s: &str) -> Result<Self, ParseError> {
        parse_choice("log format", s, &LogFormat::ALL)
    }
}

static SETTINGS: OnceLock<(Level, LogFormat)> = OnceLock::new();
const DEFAULT: (Level, LogFormat) = (Level::Info, LogFormat::Logfmt);

/// Install the global logger once (later calls are ignored, so tests and `main` cannot race into
/// a half-changed state). Before init, default is Info/Logfmt.
pub fn init(level: Level, format: LogFormat) {
    let _ = SETTINGS.set((level, format));
}

fn settings() -> (Level, LogFormat) {
    SETTINGS.get().copied().unwrap_or(DEFAULT)
}

/// Whether a line at `level` would be written; lets callers skip building costly fields.
pub fn enabled(level: Level) -> bool {
    level >= settings().0
}

/// Write one line if enabled. fields are key/value pairs; values are Display. Write errors
/// (closed stderr) are ignored: logging must never take the exporter down.
pub fn log(level: Level, msg: &str, fields: &[(&str, &dyn Display)]) {
    let (threshold, format) = settings();
    if level < threshold {
        return;
    }
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH);
    let now = now.map(|d| d.as_secs_f64()).unwrap_or(0.0);
    let mut line = format_line(format, now, level, msg, fields);
    line.push('\n');
    let _ = std::io::stderr().lock().write_all(line.as_bytes());
}

/// Shorthands for [`log`] at a fixed level.
pub fn debug(msg: &str, fields: &[(&str, &dyn Display)]) {
    log(Level::Debug, msg, fields);
}
pub fn info(msg: &str, fields: &[(&str, &dyn Display)]) {
    log(Level::Info, msg, fields);
}
pub fn warn(msg: &str, fields: &[(&str, &dyn Display)]) {
    log(Level::Warn, msg, fields);
}
pub fn error(msg: &str, fields: &[(&str, &dyn Display)]) {
    log(Level::Error, msg, fields);
}

/// Pure formatter used by `log` (no trailing newline):
/// `ts=2026-11-26T17:20:00.123Z level=info msg="scan done" cache=/x repos=3`, or the JSON object
/// `{"ts":..,"level":..,"msg":..,"cache":"/x","repos":"3"}` with every value a JSON string.
/// logfmt values are quoted when empty or containing spaces, `=`, `"` or control characters.
pub fn format_line(
    format: LogFormat,
    unix_seconds: f64,
    level: Level,
    msg: &str,
    fields: &[(&str, &dyn Display)],
) -> String {
    let ts = rfc3339_millis(unix_seconds);
    let head: [(&str, &dyn Display); 3] = [("ts", &ts), ("level", &level), ("msg", &msg)];
    let mut out = String::with_capacity(128);
    let mut value = String::new();
    for (i, (key, v)) in head.iter().chain(fields).enumerate() {
        value.clear();
        let _ = write!(value, "{v}"); // a failing Display impl yields a partial value, not a panic
        match format {
            LogFormat::Logfmt => {
                out.push_str(if i == 0 { "" } else { " " });
                out.extend(key.chars().map(|c| if needs_quotes(c) { '_' } else { c }));
                out.push('=');
                if value.is_empty() || value.chars().any(needs_quotes) {
                    push_quoted(&mut out, &value);
                } else {
                    out.push_str(&value);
                }
            }
            LogFormat::Json => {
                out.push(if i == 0 { '{' } else { ',' });
                push_quoted(&mut out, key);
                out.push(':');
                push_quoted(&mut out, &value);
            }
        }
    }
    if format == LogFormat::Json {
        out.push('}');
    }
    out
}

fn needs_quotes(c: char) -> bool {
    c == ' ' || c == '=' || c == '"' || c.is_control()
}

/// A double-quoted string with `"`, `\` and control characters escaped; valid for both logfmt
/// (go-logfmt reads the same escapes) and JSON.
fn push_quoted(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if c < ' ' => {
                let _ = write!(out, "\\u{:04x}", u32::from(c));
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

/// RFC 3339 UTC with milliseconds (rounded), via Howard Hinnant's civil-from-days algorithm so
/// no date crate is needed. Non-finite input saturates instead of panicking.
fn rfc3339_millis(unix_seconds: f64) -> String {
    let millis = (unix_seconds * 1000.0).round() as i64;
    let (days, ms) = (millis.div_euclid(86_400_000), millis.rem_euclid(86_400_000));
    let z = days + 719_468;
    let (era, doe) = (z.div_euclid(146_097), z.rem_euclid(146_097));
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    let (h, m, s) = (ms / 3_600_000, ms / 60_000 % 60, ms / 1000 % 60);
    format!(
        "{year:04}-{month:02}-{day:02}T{h:02}:{m:02}:{s:02}.{:03}Z",
        ms % 1000
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_at_known_instants() {
        let cases = [
            (0.0, "1970-01-01T00:00:00.000Z"),
            (-1.0, "1969-12-31T23:59:59.000Z"),
            (1_709_210_096.789, "2024-02-29T12:34:56.789Z"),
            (951_868_799.999, "2000-02-29T23:59:59.999Z"),
            (4_107_542_400.0, "2100-03-01T00:00:00.000Z"),
            (1_795_713_600.123, "2026-11-26T17:20:00.123Z"),
        ];
        for (t, want) in cases {
            assert_eq!(rfc3339_millis(t), want, "{t}");
        }
        for odd in [f64::NAN, f64::INFINITY, f64::NEG_INFINITY, 1e300] {
            let _ = rfc3339_millis(odd);
        }
    }

    #[test]
    fn logfmt_line() {
        let fields: [(&str, &dyn Display); 2] = [("cache", &"/x"), ("repos", &3)];
        let t = 1_795_713_600.123;
        let line = format_line(LogFormat::Logfmt, t, Level::Info, "scan done", &fields);
        let want = r#"ts=2026-11-26T17:20:00.123Z level=info msg="scan done" cache=/x repos=3"#;
        assert_eq!(line, want);
        let odd: [(&str, &dyn Display); 5] = [
            ("empty", &""),
            ("eq", &"a=b"),
            ("q", &"say \"hi\"\\"),
            ("nl", &"a\nb\u{1}"),
            ("bad key", &r"c:\x"),
        ];
        let line = format_line(LogFormat::Logfmt, 0.0, Level::Warn, "ok", &odd);
        let want =
            r#"level=warn msg=ok empty="" eq="a=b" q="say \"hi\"\\" nl="a\nb\u0001" bad_key=c:\x"#;
        assert_eq!(line, format!("ts=1970-01-01T00:00:00.000Z {want}"));
    }

    #[test]
    fn json_line_is_valid_and_ordered() {
        let fields: [(&str, &dyn Display); 3] =
            [("cache", &"/x"), ("repos", &3), ("e", &"\"\\\n\u{7}é")];
        let t = 1_795_713_600.123;
        let line = format_line(LogFormat::Json, t, Level::Error, "scan \"done\"", &fields);
        let want = r#"{"ts":"2026-11-26T17:20:00.123Z","level":"error","msg":"scan \"done\"","cache":"/x","repos":"3","e":"\"\\\n\u0007é"}"#;
        assert_eq!(line, want);
        let v: serde_json::Value = serde_json::from_str(&line).expect("valid JSON");
        assert_eq!(v["e"], "\"\\\n\u{7}é");
        assert_eq!(v["repos"], "3");
    }

    #[test]
    fn parses_flag_values() {
        assert_eq!("DEBUG".parse::<Level>(), Ok(Level::Debug));
        assert_eq!("warn".parse::<Level>(), Ok(Level::Warn));
        let err = "warning".parse::<Level>().map_err(|e| e.to_string());
        let want = r#"invalid log level "warning": expected one of debug, info, warn, error"#;
        assert_eq!(err, Err(want.to_owned()));
        assert_eq!("JSON".parse::<LogFormat>(), Ok(LogFormat::Json));
        let err = "text".parse::<LogFormat>().map_err(|e| e.to_string());
        let want = r#"invalid log format "text": expected one of logfmt, json"#;
        assert_eq!(err, Err(want.to_owned()));
        for l in Level::ALL {
            assert_eq!(l.to_string().parse::<Level>(), Ok(l));
        }
        assert!(Level::Debug < Level::Info && Level::Warn < Level::Error);
    }

    #[test]
    fn init_is_once_and_gates_levels() {
        init(Level::Warn, LogFormat::Json);
        let first = settings(); // another test may have won the race; either way it sticks
        init(Level::Debug, LogFormat::Logfmt);
        assert_eq!(settings(), first);
        for l in Level::ALL {
            assert_eq!(enabled(l), l >= first.0);
        }
        error("logging self-test line, safe to ignore", &[("k", &"v")]);
    }
}
