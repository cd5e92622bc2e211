//! The server as the soak sees it from outside: its resident memory and open file descriptors, read
//! from `/proc` once a second, and the per-second samples file the plot is drawn from.

use std::fmt::Write as _;
use std::fs::File;
use std::io::{self, Write};

/// One reading of the server process.
#[derive(Debug, Clone, Copy, Default)]
pub struct Reading {
    pub rss_kib: Option<u64>,
    pub fds: Option<u64>,
}

pub fn read(pid: Option<u32>) -> Reading {
    let Some(pid) = pid else {
        return Reading::default();
    };
    let rss_kib = std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|status| {
            let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
            line.split_whitespace().nth(1)?.parse().ok()
        });
    let fds = std::fs::read_dir(format!("/proc/{pid}/fd"))
        .ok()
        .map(|dir| dir.count() as u64);
    Reading { rss_kib, fds }
}

/// One line of the samples file (JSON lines; `benches/soak_plot.py` reads them).
pub struct Sample<'a> {
    pub t: f64,
    pub phase: &'a str,
    pub reading: Reading,
    pub open: usize,
    pub checked: u64,
    pub faults: u64,
    /// p50, p99, p999 of this second's echo latencies, in µs.
    pub latency: Option<[f64; 3]>,
}

pub struct Samples {
    file: Option<File>,
}

impl Samples {
    /// Writes to `path` if given; the first line carries the lane's label.
    pub fn create(path: Option<&str>, label: &str) -> io::Result<Samples> {
        let mut file = path.map(File::create).transpose()?;
        if let Some(file) = &mut file {
            writeln!(file, "{{\"label\":\"{}\"}}", crate::json_escape(label))?;
        }
        Ok(Samples { file })
    }

    pub fn write(&mut self, s: &Sample) -> io::Result<()> {
        let Some(file) = &mut self.file else {
            return Ok(());
        };
        let opt = |v: Option<u64>| v.map_or("null".to_owned(), |v| v.to_string());
        let mut line = format!(
            "{{\"t\":{:.2},\"phase\":\"{}\",\"rss_kib\":{},\"fds\":{},\"open\":{},\"checked\":{},\"faults\":{}",
            s.t,
            s.phase,
            opt(s.reading.rss_kib),
            opt(s.reading.fds),
            s.open,
            s.checked,
            s.faults
        );
        for (i, name) in ["p50_us", "p99_us", "p999_us"].iter().enumerate() {
            match s.latency {
                Some(l) => write!(line, ",\"{name}\":{:.1}", l[i]),
                None => write!(line, ",\"{name}\":null"),
            }
            .expect("writing to a String");
        }
        line.push('}');
        writeln!(file, "{line}")
    }
}
