//! A container's whole life on this host, side by side with runc: create, the workload's first
//! instruction (busybox `/bin/true`), its exit, and clean-up, under the same limits (CPU
//! 500m, memory 64Mi, 64 pids).
//!
//! - `container_lifecycle/flotilla_pod`: `RunPodSandbox`, `StartContainer`, the exit event,
//!   `RemovePodSandbox` — a whole pod, so the same namespaces as one runc container (network,
//!   IPC, UTS, mount, PID, cgroup);
//! - `container_lifecycle/flotilla_container`: `StartContainer` to the exit event in a sandbox
//!   that is already there (what a restart costs);
//! - `container_lifecycle/runc`: `runc run` of an OCI bundle of the same busybox rootfs, when
//!   `runc` is on `PATH` (it creates, starts, waits and deletes).
//!
//! It needs root and busybox (`apt-get install busybox-static`); without them it prints why and
//! measures nothing. Run it with `cargo bench -p flotilla-benches --bench container`.

// criterion's macros generate undocumented functions.
#![allow(missing_docs)]

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::{criterion_group, Criterion};
use flotilla_controllers::kubelet::runtime::{RuntimeCommand, RuntimeEvent};
use flotilla_model::api::{Container, Pod};
use flotilla_model::quantity::Quantity;
use flotilla_runtime_linux::image::ImageConfig;
use flotilla_runtime_linux::{LinuxRuntime, RuntimeConfig};

const IMAGE: &str = "busybox:bench";
const CPU_MILLI: i64 = 500;
const MEMORY: i64 = 64 << 20;
const PIDS: i64 = 64;

fn main() {
    // The runtime re-executes this binary for its helpers (sandbox, container shim).
    flotilla_runtime_linux::run_helper_if_requested();
    benches();
    Criterion::default().configure_from_args().final_summary();
}

criterion_group!(benches, container_benches);

/// The scratch directory of one bench run, removed on drop.
struct Scratch(PathBuf);

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn busybox() -> Option<PathBuf> {
    if !nix::unistd::geteuid().is_root() {
        eprintln!("SKIPPED: the container bench needs root (namespaces, cgroups, mounts)");
        return None;
    }
    let found = ["/usr/bin/busybox", "/bin/busybox"]
        .iter()
        .map(PathBuf::from)
        .find(|p| p.exists());
    if found.is_none() {
        eprintln!(
            "SKIPPED: busybox not found; install it with `apt-get install -y busybox-static`"
        );
    }
    found
}

/// A busybox root filesystem: the static binary and one link per applet.
fn busybox_rootfs(busybox: &Path, dir: &Path) {
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
}

fn true_pod(uid: &str) -> Arc<Pod> {
    let mut c = Container {
        name: "true".into(),
        image: IMAGE.into(),
        command: vec!["/bin/true".into()],
        ..Container::default()
    };
    let limit = |v: String| Quantity::parse(&v).expect("bench quantity");
    c.resources
        .limits
        .insert("cpu".into(), limit(format!("{CPU_MILLI}m")));
    c.resources
        .limits
        .insert("memory".into(), limit(MEMORY.to_string()));
    let mut pod = Pod::default();
    pod.metadata.name = "bench".into();
    pod.metadata.namespace = "default".into();
    pod.metadata.uid = uid.into();
    pod.spec.containers = vec![c].into();
    Arc::new(pod)
}

/// The runtime and the events it reported that nobody has asked for yet.
struct Driver {
    runtime: LinuxRuntime,
    backlog: Vec<RuntimeEvent>,
}

impl Driver {
    /// Polls the runtime until `pred` matches an event, which it returns; the others are
    /// kept for later waits.
    fn wait_for(&mut self, pred: impl Fn(&RuntimeEvent) -> bool) -> RuntimeEvent {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Some(i) = self.backlog.iter().position(&pred) {
                return self.backlog.remove(i);
            }
            assert!(
                Instant::now() < deadline,
                "no event within 20s: {:?}",
                self.backlog
            );
            self.runtime.wait_events(Duration::from_millis(100));
            self.backlog.extend(self.runtime.poll_events());
        }
    }

    fn start_and_wait(&mut self, pod: &Arc<Pod>, attempt: i32) {
        self.runtime.handle_command(RuntimeCommand::StartContainer {
            pod: pod.clone(),
            container: "true".into(),
            init: false,
            attempt,
            env: vec![],
        });
        let started = self.wait_for(|e| matches!(e, RuntimeEvent::ContainerStarted { .. }));
        assert!(
            matches!(
                started,
                RuntimeEvent::ContainerStarted { result: Ok(_), .. }
            ),
            "{started:?}"
        );
        let exited = self.wait_for(|e| matches!(e, RuntimeEvent::ContainerExited { .. }));
        assert!(
            matches!(exited, RuntimeEvent::ContainerExited { exit_code: 0, .. }),
            "{exited:?}"
        );
    }

    fn run_sandbox(&mut self, pod: &Arc<Pod>) {
        self.runtime
            .handle_command(RuntimeCommand::RunPodSandbox { pod: pod.clone() });
        let ready = self.wait_for(|e| matches!(e, RuntimeEvent::SandboxReady { .. }));
        assert!(
            matches!(ready, RuntimeEvent::SandboxReady { result: Ok(_), .. }),
            "{ready:?}"
        );
    }

    fn remove_sandbox(&mut self, uid: &str) {
        self.runtime
            .handle_command(RuntimeCommand::RemovePodSandbox {
                pod_uid: uid.into(),
            });
        self.wait_for(|e| matches!(e, RuntimeEvent::SandboxRemoved { .. }));
        self.backlog.clear();
    }
}

/// An OCI bundle for runc: the rootfs and a `config.json` from `runc spec`, running
/// `/bin/true` with the same limits and without a terminal.
fn runc_bundle(runc: &Path, rootfs: &Path, bundle: &Path) -> Option<()> {
    std::fs::create_dir_all(bundle).ok()?;
    let status = Command::new(runc)
        .args(["spec", "--bundle"])
        .arg(bundle)
        .status()
        .ok()?;
    if !status.success() {
        eprintln!("runc spec failed: {status}");
        return None;
    }
    let path = bundle.join("config.json");
    let text = std::fs::read_to_string(&path).ok()?;
    let mut spec: serde_json::Value = serde_json::from_str(&text).ok()?;
    spec["root"] = serde_json::json!({"path": rootfs, "readonly": false});
    spec["process"]["terminal"] = false.into();
    spec["process"]["args"] = serde_json::json!(["/bin/true"]);
    spec["hostname"] = "bench".into();
    spec["linux"]["resources"] = serde_json::json!({
        "memory": {"limit": MEMORY, "swap": MEMORY},
        "cpu": {"quota": CPU_MILLI * 100, "period": 100_000},
        "pids": {"limit": PIDS},
    });
    std::fs::write(&path, serde_json::to_string_pretty(&spec).ok()?).ok()
}

fn on_path(program: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|d| d.join(program))
        .find(|p| p.is_file())
}

fn container_benches(c: &mut Criterion) {
    let Some(busybox) = busybox() else { return };
    let scratch = Scratch(PathBuf::from(format!(
        "/tmp/flotilla-bench-container-{}",
        std::process::id()
    )));
    let base = &scratch.0;
    let _ = std::fs::remove_dir_all(base);
    let rootfs = base.join("rootfs");
    busybox_rootfs(&busybox, &rootfs);

    let mut config = RuntimeConfig::new(&format!("bench-{}", std::process::id()));
    config.state_dir = base.join("state");
    config.image_dir = base.join("images");
    config.pod_pids_limit = Some(PIDS);
    let runtime = LinuxRuntime::new(config).expect("the runtime starts");
    runtime
        .images()
        .import(&rootfs, IMAGE, ImageConfig::default())
        .expect("image imported");
    let mut driver = Driver {
        runtime,
        backlog: Vec::new(),
    };

    let mut group = c.benchmark_group("container_lifecycle");
    group.sample_size(20);
    group.measurement_time(Duration::from_secs(5));

    let mut n = 0u64;
    group.bench_function("flotilla_pod", |b| {
        b.iter(|| {
            n += 1;
            let uid = format!("bench-pod-{n}");
            let pod = true_pod(&uid);
            driver.run_sandbox(&pod);
            driver.start_and_wait(&pod, 0);
            driver.remove_sandbox(&uid);
        })
    });

    let pod = true_pod("bench-restarts");
    driver.run_sandbox(&pod);
    let mut attempt = 0;
    group.bench_function("flotilla_container", |b| {
        b.iter(|| {
            driver.start_and_wait(&pod, attempt);
            attempt += 1;
        })
    });
    driver.remove_sandbox(&pod.metadata.uid);
    drop(driver);

    match on_path("runc") {
        None => eprintln!("runc is not on PATH: only Flotilla is measured"),
        Some(runc) => {
            let bundle = base.join("bundle");
            let state = base.join("runc-state");
            if runc_bundle(&runc, &rootfs, &bundle).is_some() {
                let mut n = 0u64;
                group.bench_function("runc", |b| {
                    b.iter(|| {
                        n += 1;
                        let status = Command::new(&runc)
                            .arg("--root")
                            .arg(&state)
                            .args(["run", "--bundle"])
                            .arg(&bundle)
                            .arg(format!("flotilla-bench-{}-{n}", std::process::id()))
                            .stdin(Stdio::null())
                            .stdout(Stdio::null())
                            .stderr(Stdio::inherit())
                            .status()
                            .expect("runc runs");
                        assert!(status.success(), "runc run: {status}");
                    })
                });
            }
        }
    }
    group.finish();
}
