//! Answers that stream: `logs` (optionally following the file while the container runs) and
//! `exec` (a process run inside a running container's namespaces and cgroup, its output
//! streamed back). Each runs on its own thread so the main loop never waits on a client.

use std::io::{Read, Seek, SeekFrom};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::Duration;

use super::server::ReplySink;
use crate::helper::HELPER_ARG;
use crate::spec::{ProbeAction, ProbeSpec, ProcessSpec};

/// Where and what `exec` runs.
#[derive(Clone, Debug)]
pub struct ExecTarget {
    /// The binary that runs helpers (the host's own).
    pub helper: PathBuf,
    /// The container's PID 1 (host pid), whose namespaces the process enters.
    pub init_pid: i32,
    /// The container's cgroup directories, which the process joins.
    pub cgroup_dirs: Vec<PathBuf>,
    /// The process: argv, environment, identity and privileges of the container.
    pub process: ProcessSpec,
}

/// Streams a log file to `sink`; with `follow_pid`, keeps streaming what is appended while
/// that process lives (and the client listens), as `kubectl logs -f` does.
pub fn logs(path: PathBuf, follow_pid: Option<i32>, sink: ReplySink) {
    let _ = std::thread::Builder::new()
        .name("api-logs".into())
        .spawn(move || stream_log(path, follow_pid, sink));
}

fn stream_log(path: PathBuf, follow_pid: Option<i32>, mut sink: ReplySink) {
    let mut file = match std::fs::File::open(&path) {
        Ok(f) => f,
        Err(e) => {
            sink.stderr(format!("error: {}: {e}\n", path.display()));
            sink.exit(1);
            return;
        }
    };
    let mut offset = 0u64;
    let mut buf = vec![0u8; 64 << 10];
    loop {
        let _ = file.seek(SeekFrom::Start(offset));
        let n = file.read(&mut buf).unwrap_or(0);
        if n > 0 {
            offset += n as u64;
            if !sink.stdout(String::from_utf8_lossy(&buf[..n]).into_owned()) {
                return;
            }
            continue;
        }
        let alive =
            follow_pid.is_some_and(|pid| std::path::Path::new(&format!("/proc/{pid}")).exists());
        if !alive || sink.client_gone() {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    sink.exit(0);
}

/// Runs `target` in its container on a thread and streams its output; the exit code is the
/// process's.
pub fn exec(target: ExecTarget, sink: ReplySink) {
    let _ = std::thread::Builder::new()
        .name("api-exec".into())
        .spawn(move || run_exec(target, sink));
}

fn run_exec(target: ExecTarget, mut sink: ReplySink) {
    let spec = ProbeSpec {
        init_pid: target.init_pid,
        cgroup_dirs: target.cgroup_dirs,
        timeout_secs: u64::from(u32::MAX),
        action: ProbeAction::Exec(target.process),
    };
    let dir = std::env::temp_dir().join(format!(
        "flotilla-exec-{}-{}",
        std::process::id(),
        next_id()
    ));
    let result = (|| {
        std::fs::create_dir_all(&dir)?;
        let spec_path = dir.join("exec.json");
        std::fs::write(&spec_path, serde_json::to_vec(&spec)?)?;
        let output = Command::new(&target.helper)
            .arg(HELPER_ARG)
            .arg("probe")
            .arg(&spec_path)
            .stdin(Stdio::null())
            .env_clear()
            .output()?;
        Ok::<_, Box<dyn std::error::Error>>(output)
    })();
    let _ = std::fs::remove_dir_all(&dir);
    match result {
        Ok(output) => {
            if !output.stdout.is_empty() {
                sink.stdout(String::from_utf8_lossy(&output.stdout).into_owned());
            }
            if !output.stderr.is_empty() {
                sink.stderr(String::from_utf8_lossy(&output.stderr).into_owned());
            }
            let code = output.status.code().unwrap_or(1);
            if code != 0 {
                sink.stderr(format!("command terminated with exit code {code}\n"));
            }
            sink.exit(code);
        }
        Err(e) => {
            sink.stderr(format!("error: exec: {e}\n"));
            sink.exit(1);
        }
    }
}

fn next_id() -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static NEXT: AtomicU64 = AtomicU64::new(0);
    NEXT.fetch_add(1, Ordering::Relaxed)
}
