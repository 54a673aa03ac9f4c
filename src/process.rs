//! The standard `process_*` metrics on Linux, read from `/proc`: client_rust has no process
//! collector and dashboards expect these names. The parsers are pure and tested on literal `/proc`
//! text; [`read`] is the thin I/O wrapper, called on every scrape (so it reads the cheapest
//! sources, through handles kept open), and any failure is an `Err` so the caller can simply
//! omit the metrics (e.g. on non-Linux).

use std::fs::File;
use std::io;
use std::os::unix::fs::{FileExt, MetadataExt};
use std::sync::OnceLock;

/// One sample of the exporter's own resource usage, in base units.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ProcessStats {
    /// User + system CPU time.
    pub cpu_seconds_total: f64,
    pub resident_memory_bytes: u64,
    pub virtual_memory_bytes: u64,
    pub open_fds: u64,
    /// Soft `RLIMIT_NOFILE`; `None` when unlimited.
    pub max_fds: Option<u64>,
    /// Unix time the process started.
    pub start_time_seconds: f64,
    pub threads: u64,
}

/// What [`read`] keeps between scrapes. Opening `/proc` files, and `/proc/self/stat` itself
/// (the kernel computes some fifty fields for it), were most of a scrape's cost.
struct Handles {
    /// `/proc/self/statm`; a read at offset 0 regenerates it.
    statm: File,
    /// `/proc/self/fd`, whose size is the number of open descriptors (this one included).
    fd_dir: File,
    /// `/proc/self/task`, whose link count is the number of threads plus 2.
    task_dir: File,
    /// From `/proc/self/stat` and the `btime` of `/proc/stat`, read once: neither changes.
    start_time_seconds: f64,
}

fn handles() -> io::Result<&'static Handles> {
    static HANDLES: OnceLock<Handles> = OnceLock::new();
    if let Some(h) = HANDLES.get() {
        return Ok(h);
    }
    let boot = parse_boot_time(&std::fs::read_to_string("/proc/stat")?)
        .ok_or_else(|| invalid("btime in /proc/stat"))?;
    let ticks = rustix::param::clock_ticks_per_second() as f64;
    let stat = std::fs::read_to_string("/proc/self/stat")?;
    let start = parse_stat(&stat, ticks, 1, boot).ok_or_else(|| invalid("/proc/self/stat"))?;
    let h = Handles {
        statm: File::open("/proc/self/statm")?,
        fd_dir: File::open("/proc/self/fd")?,
        task_dir: File::open("/proc/self/task")?,
        start_time_seconds: start.start_time_seconds,
    };
    Ok(HANDLES.get_or_init(|| h))
}

fn invalid(what: &str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, format!("cannot parse {what}"))
}

/// One sample, on every scrape, from cheap sources: the process CPU clock, a read of
/// `/proc/self/statm`, an `fstat` each of `/proc/self/fd` and `/proc/self/task`, and
/// `getrlimit`; no file is opened and nothing allocated. Errors → Err (the caller omits the
/// metrics). `open_fds` includes the descriptor kept on `/proc/self/fd`, as client_golang counts
/// the one it lists that directory with.
pub fn read() -> io::Result<ProcessStats> {
    let h = handles()?;
    let page_size = rustix::param::page_size() as u64;
    let mut buf = [0u8; 256];
    let n = h.statm.read_at(&mut buf, 0)?;
    let (virt, resident) = std::str::from_utf8(&buf[..n])
        .ok()
        .and_then(parse_statm)
        .ok_or_else(|| invalid("/proc/self/statm"))?;
    // utime + stime of all threads, as /proc/self/stat gives it, but in nanoseconds.
    let cpu = rustix::time::clock_gettime(rustix::time::ClockId::ProcessCPUTime);
    Ok(ProcessStats {
        cpu_seconds_total: cpu.tv_sec as f64 + cpu.tv_nsec as f64 / 1e9,
        resident_memory_bytes: resident.saturating_mul(page_size),
        virtual_memory_bytes: virt.saturating_mul(page_size),
        open_fds: open_fds(h)?,
        // Soft limit; `None` is unlimited, as the "Max open files" line of /proc/self/limits says.
        max_fds: rustix::process::getrlimit(rustix::process::Resource::Nofile).current,
        start_time_seconds: h.start_time_seconds,
        threads: h.task_dir.metadata()?.nlink().saturating_sub(2),
    })
}

/// Linux >= 6.2 reports the descriptor count as the directory's size; a listing costs the
/// kernel a dentry per descriptor. Older kernels report 0: list it then.
fn open_fds(h: &Handles) -> io::Result<u64> {
    match h.fd_dir.metadata()?.len() {
        0 => {
            let mut n = 0;
            for entry in std::fs::read_dir("/proc/self/fd")? {
                entry?;
                n += 1;
            }
            Ok(n)
        }
        n => Ok(n),
    }
}

/// `/proc/<pid>/statm` (proc(5)): total program size and resident set size, in pages.
pub fn parse_statm(statm: &str) -> Option<(u64, u64)> {
    let mut fields = statm.split_whitespace().map(|f| f.parse::<u64>().ok());
    Some((fields.next()??, fields.next()??))
}

/// Parse `/proc/<pid>/stat` (proc(5)). The command name may contain spaces and `)`, so fields are
/// counted from the *last* `)`. `open_fds` and `max_fds` are left at their defaults.
pub fn parse_stat(
    stat: &str,
    ticks_per_second: f64,
    page_size: u64,
    boot_time_seconds: f64,
) -> Option<ProcessStats> {
    let (_, after_comm) = stat.rsplit_once(')')?;
    // fields[0] is field 3 (state) in proc(5) numbering.
    let fields: Vec<&str> = after_comm.split_whitespace().collect();
    let field = |n: usize| -> Option<u64> { fields.get(n - 3)?.parse().ok() };
    if ticks_per_second <= 0.0 {
        return None;
    }
    let (utime, stime) = (field(14)?, field(15)?);
    Some(ProcessStats {
        cpu_seconds_total: (utime + stime) as f64 / ticks_per_second,
        resident_memory_bytes: field(24)?.saturating_mul(page_size),
        virtual_memory_bytes: field(23)?,
        open_fds: 0,
        max_fds: None,
        start_time_seconds: boot_time_seconds + field(22)? as f64 / ticks_per_second,
        threads: field(20)?,
    })
}

/// The `btime` line of `/proc/stat`: boot time in Unix seconds, needed because `starttime` in
/// `/proc/<pid>/stat` is counted in clock ticks since boot.
pub fn parse_boot_time(proc_stat: &str) -> Option<f64> {
    let line = proc_stat.lines().find_map(|l| l.strip_prefix("btime "))?;
    line.trim().parse::<u64>().ok().map(|b| b as f64)
}

#[cfg(test)]
mod tests {
    use super::*;

    // From a real `cat /proc/self/stat`; the comm is changed to contain spaces and ") (".
    const STAT: &str = "11855 (my (weird) prog) x) R 11853 11853 3531 0 -1 4194304 98 0 0 0 \
        250 130 0 0 20 0 7 0 34600 3133440 381 18446744073709551615 94735119978496 \
        94735119998377 140722650621968 0 0 0 0 0 0 0 0 0 17 1 0 0 0 0 0\n";

    #[test]
    fn parses_stat_with_hostile_comm() {
        let s = parse_stat(STAT, 100.0, 4096, 1_795_713_413.0).expect("parses");
        assert_eq!(s.cpu_seconds_total, 3.8);
        assert_eq!(s.resident_memory_bytes, 381 * 4096);
        assert_eq!(s.virtual_memory_bytes, 3_133_440);
        assert_eq!(s.threads, 7);
        assert_eq!(s.start_time_seconds, 1_795_713_413.0 + 346.0);
        assert_eq!((s.open_fds, s.max_fds), (0, None));
    }

    #[test]
    fn rejects_truncated_or_garbled_stat() {
        assert_eq!(parse_stat("", 100.0, 4096, 0.0), None);
        assert_eq!(parse_stat("1 (x) R 1 2 3", 100.0, 4096, 0.0), None);
        assert_eq!(
            parse_stat(&STAT.replace(" 250 ", " -5 "), 100.0, 4096, 0.0),
            None
        );
        assert_eq!(parse_stat(STAT, 0.0, 4096, 0.0), None);
    }

    #[test]
    fn parses_statm() {
        assert_eq!(
            parse_statm("96327 3403 1661 1 0 12445 0\n"),
            Some((96327, 3403))
        );
        assert_eq!(parse_statm("96327\n"), None);
        assert_eq!(parse_statm("x 1 2"), None);
    }

    #[test]
    fn parses_boot_time() {
        let stat = "cpu  1 2 3 4\nintr 5 6\nctxt 7\nbtime 1795713413\nprocesses 9\n";
        assert_eq!(parse_boot_time(stat), Some(1_795_713_413.0));
        assert_eq!(parse_boot_time("cpu 1\nbtime x\n"), None);
        assert_eq!(parse_boot_time("cpu 1\n"), None);
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn reads_own_process() {
        let s = read().expect("/proc is readable on Linux");
        assert!(s.threads >= 1 && s.open_fds >= 1, "{s:?}");
        assert!(s.resident_memory_bytes > 0 && s.virtual_memory_bytes >= s.resident_memory_bytes);
        let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH);
        let now = now.map(|d| d.as_secs_f64()).unwrap_or_default();
        assert!(
            s.start_time_seconds > 1e9 && s.start_time_seconds <= now + 1.0,
            "{s:?}"
        );
        assert!(s.max_fds.is_none_or(|m| m >= s.open_fds));
    }

    /// The handles kept open between reads must give fresh values, not the first sample again.
    #[cfg(target_os = "linux")]
    #[test]
    fn each_read_is_fresh() {
        let first = read().unwrap();
        let files: Vec<_> = (0..64)
            .map(|_| File::open("/proc/self/stat").unwrap())
            .collect();
        // Other tests in this process open and close files too; 64 more is unmistakable.
        assert!(read().unwrap().open_fds >= first.open_fds + 32);
        drop(files);
        let gate = std::sync::Arc::new(std::sync::Barrier::new(17));
        let parked: Vec<_> = (0..16)
            .map(|_| {
                let gate = gate.clone();
                std::thread::spawn(move || {
                    gate.wait();
                })
            })
            .collect();
        assert!(read().unwrap().threads >= first.threads + 8);
        gate.wait();
        parked.into_iter().for_each(|t| t.join().unwrap());
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
        let mut x = 0u64;
        while read().unwrap().cpu_seconds_total <= first.cpu_seconds_total {
            assert!(std::time::Instant::now() < deadline, "CPU time never moved");
            for i in 0..100_000 {
                x = std::hint::black_box(x.wrapping_mul(31).wrapping_add(i));
            }
        }
    }
}
