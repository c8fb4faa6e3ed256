//! Shared set-up of the root integration tests: prerequisites, a busybox image built at test
//! time from the `busybox-static` package, pods, and waiting for events.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use flotilla_controllers::kubelet::runtime::{RuntimeCommand, RuntimeEvent};
use flotilla_model::api::{Container, Pod};
use flotilla_model::quantity::Quantity;
use flotilla_runtime_linux::image::ImageConfig;
use flotilla_runtime_linux::{LinuxRuntime, RootfsMode, RuntimeConfig};

pub const IMAGE: &str = "busybox:test";

/// The busybox binary, or why the root tests cannot run here (printed, and the test passes
/// without checking anything: CI runs as root with busybox installed by `.ci/run`).
pub fn prerequisites() -> Option<PathBuf> {
    if !nix::unistd::geteuid().is_root() {
        eprintln!("SKIPPED: runtime-linux root tests need root (namespaces, cgroups, mounts)");
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

/// A runtime with its own name, state and image store under /tmp, and the busybox image.
pub struct Harness {
    pub runtime: LinuxRuntime,
    /// Events polled but not yet asked for.
    pub backlog: Vec<RuntimeEvent>,
    pub base: PathBuf,
    pub name: String,
}

pub fn base_dir(name: &str) -> PathBuf {
    PathBuf::from("/tmp/flotilla-rt-tests").join(format!("{name}-{}", std::process::id()))
}

pub fn config(name: &str) -> RuntimeConfig {
    let base = base_dir(name);
    let mut config = RuntimeConfig::new(&format!("test-{name}-{}", std::process::id()));
    config.state_dir = base.join("state");
    config.image_dir = base.join("images");
    config.helper = PathBuf::from(env!("CARGO_BIN_EXE_flotilla-runtime"));
    config.pod_pids_limit = Some(64);
    config.rootfs_mode = RootfsMode::Auto;
    config
}

/// Builds a busybox rootfs in `dir`: the static binary and one link per applet.
pub fn busybox_rootfs(busybox: &Path, dir: &Path) {
    let bin = dir.join("bin");
    std::fs::create_dir_all(&bin).expect("rootfs bin");
    for d in ["proc", "dev", "sys", "tmp", "etc", "root"] {
        std::fs::create_dir_all(dir.join(d)).expect("rootfs dir");
    }
    std::fs::copy(busybox, bin.join("busybox")).expect("copy busybox");
    let list = Command::new(busybox)
        .arg("--list")
        .output()
        .expect("busybox --list");
    for applet in String::from_utf8_lossy(&list.stdout).split_whitespace() {
        if applet != "busybox" {
            let _ = std::os::unix::fs::symlink("busybox", bin.join(applet));
        }
    }
    std::fs::write(
        dir.join("etc/passwd"),
        "root:x:0:0:root:/root:/bin/sh\nuser:x:1000:1000::/tmp:/bin/sh\n",
    )
    .expect("passwd");
    std::fs::write(dir.join("etc/group"), "root:x:0:\nuser:x:1000:\n").expect("group");
}

impl Harness {
    pub fn new(name: &str, busybox: &Path) -> Harness {
        Harness::with_config(config(name), busybox)
    }

    pub fn with_config(config: RuntimeConfig, busybox: &Path) -> Harness {
        let base = config
            .state_dir
            .parent()
            .expect("state under base")
            .to_path_buf();
        let _ = std::fs::remove_dir_all(&base);
        let rootfs = base.join("rootfs");
        busybox_rootfs(busybox, &rootfs);
        let name = config.name.clone();
        let runtime = LinuxRuntime::new(config).expect("runtime starts");
        runtime
            .images()
            .import(&rootfs, IMAGE, ImageConfig::default())
            .expect("image imported");
        Harness {
            runtime,
            backlog: Vec::new(),
            base,
            name,
        }
    }

    pub fn run_pod(&mut self, pod: &Arc<Pod>) {
        self.runtime
            .handle_command(RuntimeCommand::RunPodSandbox { pod: pod.clone() });
        let ev = self.wait(|e| matches!(e, RuntimeEvent::SandboxReady { .. }), 10);
        assert!(
            matches!(&ev, RuntimeEvent::SandboxReady { result: Ok(_), .. }),
            "{ev:?}"
        );
    }

    pub fn start(&mut self, pod: &Arc<Pod>, container: &str) -> Result<String, String> {
        self.runtime.handle_command(RuntimeCommand::StartContainer {
            pod: pod.clone(),
            container: container.to_string(),
            init: false,
            attempt: 0,
            env: vec![("GREETING".into(), "hello".into())],
        });
        match self.wait(|e| matches!(e, RuntimeEvent::ContainerStarted { .. }), 10) {
            RuntimeEvent::ContainerStarted { result, .. } => result,
            _ => unreachable!(),
        }
    }

    /// Waits (at most `secs`) for the first event matching `pred`, keeping the others for
    /// later waits; panics with what came.
    pub fn wait(&mut self, pred: impl Fn(&RuntimeEvent) -> bool, secs: u64) -> RuntimeEvent {
        let deadline = Instant::now() + Duration::from_secs(secs);
        loop {
            if let Some(i) = self.backlog.iter().position(&pred) {
                return self.backlog.remove(i);
            }
            if Instant::now() >= deadline {
                panic!("no matching event within {secs}s; saw {:?}", self.backlog);
            }
            let new = self.runtime.poll_events();
            if new.is_empty() {
                std::thread::sleep(Duration::from_millis(5));
            }
            self.backlog.extend(new);
        }
    }

    /// Waits for `container`'s exit: (exit code, OOM-killed, log).
    pub fn wait_exit(&mut self, pod: &Arc<Pod>, container: &str, secs: u64) -> (i32, bool, String) {
        let ev = self.wait(
            |e| matches!(e, RuntimeEvent::ContainerExited { container: c, .. } if c == container),
            secs,
        );
        let RuntimeEvent::ContainerExited {
            exit_code,
            oom_killed,
            ..
        } = ev
        else {
            unreachable!()
        };
        let log = std::fs::read_to_string(self.runtime.log_path(&pod.metadata.uid, container, 0))
            .unwrap_or_default();
        (exit_code, oom_killed, log)
    }

    pub fn remove(&mut self, pod: &Arc<Pod>) {
        self.runtime
            .handle_command(RuntimeCommand::RemovePodSandbox {
                pod_uid: pod.metadata.uid.clone(),
            });
        self.wait(|e| matches!(e, RuntimeEvent::SandboxRemoved { .. }), 10);
    }
}

impl Drop for Harness {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.base);
    }
}

/// A container running `sh -c script` from the busybox image.
pub fn sh(name: &str, script: &str) -> Container {
    Container {
        name: name.to_string(),
        image: IMAGE.to_string(),
        command: vec!["sh".into(), "-c".into(), script.to_string()],
        ..Container::default()
    }
}

pub fn with_limit(mut c: Container, resource: &str, value: &str) -> Container {
    c.resources.limits.insert(
        resource.to_string(),
        Quantity::parse(value).expect("quantity"),
    );
    c
}

pub fn pod(name: &str, containers: Vec<Container>) -> Arc<Pod> {
    let mut pod = Pod::default();
    pod.metadata.name = name.to_string();
    pod.metadata.namespace = "default".to_string();
    pod.metadata.uid = format!("uid-{name}-{}", std::process::id());
    pod.spec.containers = containers.into();
    Arc::new(pod)
}

/// Lines of the host's mountinfo that mention `path`.
pub fn host_mounts_under(path: &Path) -> Vec<String> {
    let text = std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
    let p = path.to_string_lossy();
    text.lines()
        .filter(|l| l.contains(p.as_ref()))
        .map(str::to_string)
        .collect()
}
