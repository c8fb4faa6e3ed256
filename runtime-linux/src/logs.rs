//! Container logs: one file per container run, rotated by size without losing a line.
//!
//! The container's stdout and stderr are one pipe; a log writer process (forked by the
//! container's shim, see [`crate::helper::container`]) copies the pipe into
//! `logs/<container>/<attempt>.log` with [`RotatingLog`]. When the next lines would take the
//! file past its size limit, the file is renamed to `<attempt>.log.<YYYYMMDD-HHMMSS>` and a
//! new one opened, between two lines; the oldest rotated files are removed so that at most
//! `max_files` files remain, the current one included. This is the kubelet's policy
//! (pkg/kubelet/logs/container_log_manager.go `rotateLatestLog` and `removeExcessLogs`,
//! kubelet config `containerLogMaxSize` 10Mi and `containerLogMaxFiles` 5 by default), done
//! by the writer itself rather than by a monitor every 10 s with `ReopenContainerLog`, so a
//! file never grows past its limit by more than one over-long line and no line is cut in
//! two. Rotated files are not gzip-compressed (the kubelet compresses all but the newest).

use std::collections::VecDeque;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// The kubelet's default `containerLogMaxSize`: 10Mi
/// (pkg/kubelet/apis/config/v1beta1/defaults.go).
pub const DEFAULT_MAX_SIZE: u64 = 10 << 20;
/// The kubelet's default `containerLogMaxFiles`: 5.
pub const DEFAULT_MAX_FILES: usize = 5;
/// The longest line kept whole: a line without a newline after this many bytes is written
/// as it is (CRI splits log lines at 16 KiB, `maxMsgSize` in cri/streaming).
pub const MAX_LINE: usize = 16 * 1024;

/// Where a container's output goes and how its file rotates.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LogSpec {
    /// The current file (what [`crate::LinuxRuntime::log_path`] names).
    pub path: PathBuf,
    /// Rotate before the file would pass this many bytes (`containerLogMaxSize`).
    pub max_size: u64,
    /// Keep at most this many files, the current one included (`containerLogMaxFiles`, at
    /// least 2).
    pub max_files: usize,
}

/// A log file that rotates itself by size, writing whole lines only.
#[derive(Debug)]
pub struct RotatingLog {
    spec: LogSpec,
    file: File,
    size: u64,
    /// Rotated files, oldest first.
    rotated: VecDeque<PathBuf>,
    /// The start of a line whose newline has not come yet.
    pending: Vec<u8>,
}

fn open_append(path: &Path) -> io::Result<File> {
    OpenOptions::new().create(true).append(true).open(path)
}

impl RotatingLog {
    /// Opens (or creates) the current file, appending, and finds the rotated files of an
    /// earlier writer of the same path.
    pub fn open(spec: LogSpec) -> io::Result<RotatingLog> {
        let file = open_append(&spec.path)?;
        let size = file.metadata()?.len();
        let mut rotated: Vec<PathBuf> = Vec::new();
        if let (Some(dir), Some(name)) = (spec.path.parent(), spec.path.file_name()) {
            let prefix = format!("{}.", name.to_string_lossy());
            for entry in fs::read_dir(dir)?.flatten() {
                if entry.file_name().to_string_lossy().starts_with(&prefix) {
                    rotated.push(entry.path());
                }
            }
        }
        // Oldest to newest, as the kubelet sorts them; within one second, by suffix.
        rotated.sort_by_key(|p| {
            let name = p.to_string_lossy().into_owned();
            let (stamp, n) = match name.rsplit_once('-') {
                Some((head, tail)) if tail.len() < 6 => {
                    (head.to_string(), tail.parse().unwrap_or(0))
                }
                _ => (name, 0u64),
            };
            (stamp, n)
        });
        Ok(RotatingLog {
            spec,
            file,
            size,
            rotated: rotated.into(),
            pending: Vec::new(),
        })
    }

    /// The rotated files, oldest first.
    pub fn rotated(&self) -> impl Iterator<Item = &Path> {
        self.rotated.iter().map(PathBuf::as_path)
    }

    /// Takes output: complete lines are written (rotating first when they would not fit),
    /// the rest is kept until its newline comes, or until it is [`MAX_LINE`] long.
    pub fn write(&mut self, data: &[u8]) -> io::Result<()> {
        self.pending.extend_from_slice(data);
        let complete = match self.pending.iter().rposition(|&b| b == b'\n') {
            Some(i) => i + 1,
            None if self.pending.len() >= MAX_LINE => self.pending.len(),
            None => return Ok(()),
        };
        let lines: Vec<u8> = self.pending.drain(..complete).collect();
        self.write_lines(&lines)
    }

    /// Writes what is left of an unfinished line (at the end of the output).
    pub fn finish(&mut self) -> io::Result<()> {
        let rest = std::mem::take(&mut self.pending);
        self.write_lines(&rest)
    }

    fn write_lines(&mut self, mut lines: &[u8]) -> io::Result<()> {
        while !lines.is_empty() {
            let room = self.spec.max_size.saturating_sub(self.size) as usize;
            // As many whole lines as fit in the room left.
            let mut fit = 0;
            for (i, b) in lines.iter().enumerate() {
                if i >= room {
                    break;
                }
                if *b == b'\n' {
                    fit = i + 1;
                }
            }
            if fit == 0 && lines.len() <= room {
                fit = lines.len(); // an unfinished last line that fits
            }
            if fit == 0 {
                if self.size > 0 {
                    self.rotate()?;
                    continue;
                }
                // One line longer than the limit: whole, in a file of its own.
                fit = lines
                    .iter()
                    .position(|&b| b == b'\n')
                    .map_or(lines.len(), |i| i + 1);
            }
            self.file.write_all(&lines[..fit])?;
            self.size += fit as u64;
            lines = &lines[fit..];
        }
        Ok(())
    }

    /// rotateLatestLog: renames the current file to `<path>.<YYYYMMDD-HHMMSS>` (UTC; `-N`
    /// added when that name is taken) and opens a new one; then removeExcessLogs: at most
    /// `max_files - 1` rotated files stay.
    fn rotate(&mut self) -> io::Result<()> {
        let stamp = timestamp(std::time::SystemTime::now());
        let base = format!("{}.{stamp}", self.spec.path.display());
        let mut rotated = PathBuf::from(&base);
        let mut n = 0;
        while rotated.exists() {
            n += 1;
            rotated = PathBuf::from(format!("{base}-{n}"));
        }
        fs::rename(&self.spec.path, &rotated)?;
        self.file = open_append(&self.spec.path)?;
        self.size = 0;
        self.rotated.push_back(rotated);
        let keep = self.spec.max_files.max(2) - 1;
        while self.rotated.len() > keep {
            if let Some(old) = self.rotated.pop_front() {
                let _ = fs::remove_file(old);
            }
        }
        Ok(())
    }
}

/// `20060102-150405` (the kubelet's `timestampFormat`) in UTC.
fn timestamp(t: std::time::SystemTime) -> String {
    let s = crate::runtime::utc_stamp(t); // YYYY_MM_DD_HH_MM_SS.nnnnnnnnn
    let d: Vec<&str> = s.split(['_', '.']).collect();
    match d.as_slice() {
        [y, mo, day, h, mi, sec, ..] => format!("{y}{mo}{day}-{h}{mi}{sec}"),
        _ => s,
    }
}

/// Copies `input` (the container's output pipe) into the rotating log until its end.
pub fn copy(input: impl Read, spec: LogSpec) -> io::Result<()> {
    copy_into(input, RotatingLog::open(spec)?)
}

/// [`copy`] into a log already open.
pub fn copy_into(mut input: impl Read, mut log: RotatingLog) -> io::Result<()> {
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        match input.read(&mut buf) {
            Ok(0) => return log.finish(),
            Ok(n) => log.write(&buf[..n])?,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => {
                let _ = log.finish();
                return Err(e);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scratch(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("flotilla-logs-{name}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).unwrap();
        dir
    }

    fn all_lines(log: &RotatingLog, path: &Path) -> String {
        let mut text = String::new();
        for p in log.rotated() {
            text.push_str(&fs::read_to_string(p).unwrap());
        }
        text.push_str(&fs::read_to_string(path).unwrap());
        text
    }

    #[test]
    fn rotates_between_lines_and_keeps_max_files() {
        let dir = scratch("rotate");
        let path = dir.join("0.log");
        let spec = LogSpec {
            path: path.clone(),
            max_size: 100,
            max_files: 3,
        };
        let mut log = RotatingLog::open(spec).unwrap();
        let mut want = String::new();
        for i in 0..40 {
            let line = format!("line {i:03} of the log\n"); // 20 bytes
            want.push_str(&line);
            // Written in pieces that cut lines in two.
            let (a, b) = line.as_bytes().split_at(7);
            log.write(a).unwrap();
            log.write(b).unwrap();
        }
        log.finish().unwrap();
        // Each file holds whole lines and at most 100 bytes.
        let files: Vec<PathBuf> = fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect();
        assert_eq!(files.len(), 3, "{files:?}");
        for f in &files {
            let text = fs::read_to_string(f).unwrap();
            assert!(text.len() <= 100, "{f:?}: {}", text.len());
            assert!(
                text.ends_with('\n') && text.lines().all(|l| l.len() == 19),
                "{text:?}"
            );
        }
        // The newest lines, in order, with nothing lost between the files kept.
        let kept = all_lines(&log, &path);
        assert!(want.ends_with(&kept), "{kept}");
        // 5 lines (100 bytes) per file, 3 files kept: the last 15 lines.
        assert_eq!(kept.lines().count(), 15);
        let _ = fs::remove_dir_all(&dir);
    }

    #[test]
    fn a_line_longer_than_the_limit_gets_a_file_of_its_own() {
        let dir = scratch("long");
        let path = dir.join("0.log");
        let spec = LogSpec {
            path: path.clone(),
            max_size: 10,
            max_files: 5,
        };
        let mut log = RotatingLog::open(spec.clone()).unwrap();
        log.write(b"short\n").unwrap();
        log.write(b"a line of twenty-five\nend").unwrap();
        log.finish().unwrap();
        let rotated: Vec<&Path> = log.rotated().collect();
        assert_eq!(rotated.len(), 2);
        assert_eq!(fs::read_to_string(rotated[0]).unwrap(), "short\n");
        assert_eq!(
            fs::read_to_string(rotated[1]).unwrap(),
            "a line of twenty-five\n"
        );
        assert_eq!(fs::read_to_string(&path).unwrap(), "end");
        // A writer opening the same path again finds the rotated files, oldest first.
        let again = RotatingLog::open(spec).unwrap();
        assert_eq!(again.rotated().collect::<Vec<_>>(), rotated);
        let _ = fs::remove_dir_all(&dir);
    }

    #[test]
    fn copy_reads_to_the_end() {
        let dir = scratch("copy");
        let path = dir.join("0.log");
        let input: Vec<u8> = (0..1000)
            .flat_map(|i| format!("{i}\n").into_bytes())
            .collect();
        copy(
            &input[..],
            LogSpec {
                path: path.clone(),
                max_size: DEFAULT_MAX_SIZE,
                max_files: DEFAULT_MAX_FILES,
            },
        )
        .unwrap();
        assert_eq!(fs::read(&path).unwrap(), input);
        let _ = fs::remove_dir_all(&dir);
    }

    #[test]
    fn timestamps_use_the_kubelet_format() {
        let t = std::time::UNIX_EPOCH + std::time::Duration::from_secs(1_700_000_000);
        assert_eq!(timestamp(t), "20231114-221320");
    }
}
