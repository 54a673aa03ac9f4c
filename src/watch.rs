//! `hf-cache-exporter watch`: a live terminal view of downloads, one refresh a second. On a
//! terminal it redraws a table with progress bars; otherwise it prints one line per change.
//! Speed and ETA come from the difference between two consecutive scans.

use std::collections::HashMap;
use std::io::{IsTerminal, Write};
use std::time::{Duration, Instant};

use crate::config::Settings;
use crate::coordinator;
use crate::downloads::tracker::Tracker;
use crate::report::human;
use crate::snapshot;

/// One repo's line in the view; pure so the layout is unit-tested.
#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    pub model: String,
    pub bytes: u64,
    pub expected: Option<u64>,
    pub ratio: Option<f64>,
    pub speed: f64,
    pub stalled: bool,
    pub active: bool,
    pub abandoned: u64,
}

pub fn format_row(r: &Row, tty: bool) -> String {
    let pct = r
        .ratio
        .map_or_else(|| "   ?  ".to_owned(), |p| format!("{:5.1}%", p * 100.0));
    let bar = match (tty, r.ratio) {
        (true, Some(p)) => {
            let filled = (p.clamp(0.0, 1.0) * 20.0).round() as usize;
            format!("[{}{}] ", "#".repeat(filled), ".".repeat(20 - filled))
        }
        (true, None) => format!("[{}] ", " ".repeat(20)),
        _ => String::new(),
    };
    let eta = match (r.expected, r.speed > 0.0) {
        (Some(e), true) if e > r.bytes => format!("eta {}", eta((e - r.bytes) as f64 / r.speed)),
        _ => "eta -".to_owned(),
    };
    let mut marks = Vec::new();
    if r.stalled {
        marks.push("STALLED".to_owned());
    }
    if r.abandoned > 0 {
        marks.push(format!("{} abandoned", r.abandoned));
    }
    if !r.active && r.abandoned == 0 {
        marks.push("idle".to_owned());
    }
    format!(
        "{:<44} {bar}{pct} {:>9} {:>9}/s {eta} {}",
        r.model,
        human(r.bytes),
        human(r.speed as u64),
        marks.join(" ")
    )
    .trim_end()
    .to_owned()
}

fn eta(secs: f64) -> String {
    let s = secs.round() as u64;
    if s >= 3600 {
        format!("{}h{:02}m", s / 3600, (s % 3600) / 60)
    } else {
        format!("{}m{:02}s", s / 60, s % 60)
    }
}

/// Refresh every second until interrupted (Ctrl-C ends the process).
pub fn run(s: &Settings) -> std::io::Result<()> {
    let tty = std::io::stdout().is_terminal();
    let th = coordinator::thresholds(s);
    let mut trackers: Vec<Tracker> = s.caches.iter().map(|_| Tracker::new(th)).collect();
    let mut memos: Vec<crate::scan::DirMemo> =
        s.caches.iter().map(|_| Default::default()).collect();
    let mut prev: HashMap<String, (Instant, u64)> = HashMap::new();
    let mut last_lines: HashMap<String, String> = HashMap::new();
    loop {
        let now = crate::scan::unix_seconds_now();
        let mut rows = Vec::new();
        for (i, report) in coordinator::scan_all(s, Some(&mut memos))
            .into_iter()
            .enumerate()
        {
            let c =
                snapshot::with_history(report, &mut trackers[i], now, Default::default(), 0, false);
            for (r, d) in c.report.repos.iter().zip(&c.downloads) {
                if r.temps.is_empty() && !s.models.iter().any(|m| m.folder_name() == r.folder) {
                    continue;
                }
                let key = format!("{}/{}", c.report.name, r.folder);
                let speed = match prev.insert(key, (Instant::now(), r.stats.bytes)) {
                    Some((t, b)) => {
                        r.stats.bytes.saturating_sub(b) as f64
                            / t.elapsed().as_secs_f64().max(0.001)
                    }
                    None => 0.0,
                };
                rows.push(Row {
                    model: r.repo_id.clone(),
                    bytes: r.stats.bytes,
                    expected: r.progress.map(|p| p.expected_bytes),
                    ratio: r.progress.map(|p| p.ratio),
                    speed,
                    stalled: d.stalled,
                    active: d.active,
                    abandoned: d.abandoned_files,
                });
            }
        }
        let mut out = std::io::stdout().lock();
        if tty {
            write!(out, "\x1b[H\x1b[2J")?;
            writeln!(
                out,
                "hf-cache-exporter watch — {} repo(s), Ctrl-C to quit",
                rows.len()
            )?;
            for r in &rows {
                writeln!(out, "{}", format_row(r, true))?;
            }
        } else {
            for r in &rows {
                let line = format_row(
                    &Row {
                        speed: 0.0,
                        ..r.clone()
                    },
                    false,
                );
                if last_lines.insert(r.model.clone(), line.clone()).as_ref() != Some(&line) {
                    writeln!(out, "{}", format_row(r, false))?;
                }
            }
        }
        out.flush()?;
        drop(out);
        std::thread::sleep(Duration::from_secs(1));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row() -> Row {
        Row {
            model: "org/m".into(),
            bytes: 50_000_000,
            expected: Some(100_000_000),
            ratio: Some(0.5),
            speed: 10_000_000.0,
            stalled: false,
            active: true,
            abandoned: 0,
        }
    }

    #[test]
    fn tty_row_has_bar_percent_speed_and_eta() {
        let line = format_row(&row(), true);
        assert!(line.contains("[##########..........]"), "{line}");
        assert!(
            line.contains(" 50.0%") && line.contains("10.0M/s") && line.contains("eta 0m05s"),
            "{line}"
        );
    }

    #[test]
    fn plain_row_and_marks() {
        let r = Row {
            stalled: true,
            abandoned: 1,
            ratio: None,
            expected: None,
            ..row()
        };
        let line = format_row(&r, false);
        assert!(!line.contains('['), "{line}");
        assert!(
            line.contains("?")
                && line.contains("STALLED")
                && line.contains("1 abandoned")
                && line.contains("eta -")
        );
    }

    #[test]
    fn eta_formats() {
        assert_eq!(eta(5.0), "0m05s");
        assert_eq!(eta(3725.0), "1h02m");
    }
}
