//! Shared set-up of the single-host root tests: prerequisites, a busybox image imported with
//! `flotilla image import`, a `flotilla host` process with its own socket, data, state and
//! image directories, and client commands against it.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

pub const FLOTILLA: &str = env!("CARGO_BIN_EXE_flotilla");

/// The image the tests' pods run.
pub const IMAGE: &str = "busybox:e2e";

/// The busybox binary, or `None` (with the reason printed) when the test cannot run here.
pub fn prerequisites() -> Option<PathBuf> {
    if !is_root() {
        eprintln!("SKIPPED: the single-host tests need root (namespaces, cgroups, networking)");
        return None;
    }
    if !["/usr/sbin/ip", "/sbin/ip", "/usr/bin/ip", "/bin/ip"]
        .iter()
        .any(|p| Path::new(p).exists())
    {
        eprintln!("SKIPPED: iproute2's `ip` not found");
        return None;
    }
    let busybox = ["/usr/bin/busybox", "/bin/busybox"]
        .iter()
        .map(PathBuf::from)
        .find(|p| p.exists());
    if busybox.is_none() {
        eprintln!(
            "SKIPPED: busybox not found; install it with `apt-get install -y busybox-static`"
        );
    }
    busybox
}

pub fn is_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("Uid:"))
                .and_then(|l| l.split_whitespace().nth(2).map(|u| u == "0"))
        })
        .unwrap_or(false)
}

/// Everything one test's host uses, under one directory.
pub struct Env {
    pub base: PathBuf,
    pub socket: PathBuf,
    pub node: String,
}

impl Env {
    /// A fresh directory for test `name`, and the busybox image imported into its store.
    pub fn new(name: &str, busybox: &Path) -> Env {
        let base =
            PathBuf::from("/tmp/flotilla-e2e").join(format!("{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&base);
        std::fs::create_dir_all(&base).unwrap();
        let env = Env {
            socket: base.join("host.sock"),
            node: format!("{name}-{}", std::process::id()),
            base,
        };
        let rootfs = env.base.join("rootfs");
        std::fs::create_dir_all(rootfs.join("bin")).unwrap();
        for d in ["proc", "dev", "sys", "tmp", "etc", "www"] {
            std::fs::create_dir_all(rootfs.join(d)).unwrap();
        }
        std::fs::copy(busybox, rootfs.join("bin/busybox")).unwrap();
        for applet in [
            "sh", "httpd", "hostname", "mkdir", "echo", "cat", "kill", "sleep", "rm", "touch",
            "test", "true",
        ] {
            std::os::unix::fs::symlink("busybox", rootfs.join("bin").join(applet)).unwrap();
        }
        let out = Command::new(FLOTILLA)
            .args(["image", "import"])
            .arg(&rootfs)
            .arg(IMAGE)
            .arg("--images")
            .arg(env.base.join("images"))
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        env
    }

    /// Starts `flotilla host` with `extra` arguments and waits for its socket. The host is
    /// stopped when the returned guard drops (a failing test leaves nothing running).
    pub fn host(&self, extra: &[&str]) -> HostProcess {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.base.join("host.log"))
            .unwrap();
        let child = Command::new(FLOTILLA)
            .arg("--socket")
            .arg(&self.socket)
            .arg("host")
            .arg("--data-dir")
            .arg(self.base.join("data"))
            .arg("--state-dir")
            .arg(self.base.join("state"))
            .arg("--images")
            .arg(self.base.join("images"))
            .arg("--node-name")
            .arg(&self.node)
            .args(extra)
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .unwrap();
        let guard = HostProcess(Some(child));
        let deadline = Instant::now() + Duration::from_secs(30);
        while !self.socket.exists() {
            assert!(
                Instant::now() < deadline,
                "host did not start: {}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        guard
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.base.join("host.log")).unwrap_or_default()
    }

    pub fn flotilla(&self, args: &[&str]) -> Output {
        Command::new(FLOTILLA)
            .arg("--socket")
            .arg(&self.socket)
            .args(args)
            .output()
            .unwrap()
    }

    /// Runs a client command that must succeed; returns its standard output.
    pub fn ok(&self, args: &[&str]) -> String {
        let out = self.flotilla(args);
        assert!(
            out.status.success(),
            "flotilla {args:?} failed: {}{}\nhost log:\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr),
            self.log()
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// An object as JSON.
    pub fn json(&self, args: &[&str]) -> serde_json::Value {
        let mut all = args.to_vec();
        all.extend(["-o", "json"]);
        serde_json::from_str(&self.ok(&all)).unwrap()
    }

    /// Stops the host with SIGTERM and waits for a clean exit.
    pub fn stop(&self, mut guard: HostProcess) {
        let Some(mut host) = guard.0.take() else {
            return;
        };
        let _ = Command::new("kill")
            .arg("-TERM")
            .arg(host.id().to_string())
            .status();
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Some(status) = host.try_wait().unwrap() {
                assert!(
                    status.success(),
                    "host exited with {status}: {}",
                    self.log()
                );
                return;
            }
            assert!(
                Instant::now() < deadline,
                "host did not stop: {}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

/// A running `flotilla host`, stopped (SIGTERM, then SIGKILL after 60 s) when dropped.
pub struct HostProcess(Option<Child>);

impl Drop for HostProcess {
    fn drop(&mut self) {
        let Some(mut child) = self.0.take() else {
            return;
        };
        let _ = Command::new("kill")
            .arg("-TERM")
            .arg(child.id().to_string())
            .status();
        let deadline = Instant::now() + Duration::from_secs(60);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = child.kill();
        let _ = child.wait();
    }
}

/// Waits (at most `secs`) until `f` holds.
pub fn wait_until(what: &str, secs: u64, mut f: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(secs);
    while !f() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// The processes in the cgroups of the host's node `node`, found through /proc.
pub fn processes_of(node: &str) -> Vec<i32> {
    let mut pids = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<i32>() else {
            continue;
        };
        if let Ok(cg) = std::fs::read_to_string(format!("/proc/{pid}/cgroup")) {
            if cg.contains(&format!("flotilla-{node}")) {
                pids.push(pid);
            }
        }
    }
    pids
}
