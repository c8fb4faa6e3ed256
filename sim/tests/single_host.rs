//! End-to-end test of single-host mode (root only): `flotilla host` runs a Deployment of three
//! busybox HTTP servers behind a Service; the test fetches through the Service's virtual IP,
//! kills a backend, rolls out a new version and back, restarts the host, and finally checks
//! that a shutdown leaves no process, mount, cgroup or network device behind.
//!
//! Skips (passing, with a message) when not root or without busybox and iproute2; CI runs it
//! as root with `busybox-static` installed by `.ci/run`.

use std::collections::BTreeSet;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

const FLOTILLA: &str = env!("CARGO_BIN_EXE_flotilla");

fn prerequisites() -> Option<PathBuf> {
    if !nix_is_root() {
        eprintln!("SKIPPED: the single-host test needs root (namespaces, cgroups, networking)");
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

fn nix_is_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("Uid:"))
                .and_then(|l| l.split_whitespace().nth(2).map(|u| u == "0"))
        })
        .unwrap_or(false)
}

/// Everything the test's host uses, under one directory.
struct Env {
    base: PathBuf,
    socket: PathBuf,
    node: String,
}

impl Env {
    fn new() -> Env {
        let base = PathBuf::from("/tmp/flotilla-e2e").join(std::process::id().to_string());
        let _ = std::fs::remove_dir_all(&base);
        std::fs::create_dir_all(&base).unwrap();
        Env {
            socket: base.join("host.sock"),
            node: format!("e2e-{}", std::process::id()),
            base,
        }
    }

    fn host(&self) -> Child {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.base.join("host.log"))
            .unwrap();
        let child = Command::new(FLOTILLA)
            .arg("host")
            .arg("--socket")
            .arg(&self.socket)
            .arg("--data-dir")
            .arg(self.base.join("data"))
            .arg("--state-dir")
            .arg(self.base.join("state"))
            .arg("--images")
            .arg(self.base.join("images"))
            .arg("--node-name")
            .arg(&self.node)
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .unwrap();
        let deadline = Instant::now() + Duration::from_secs(30);
        while !self.socket.exists() {
            assert!(
                Instant::now() < deadline,
                "host did not start: {}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        child
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.base.join("host.log")).unwrap_or_default()
    }

    fn flotilla(&self, args: &[&str]) -> Output {
        Command::new(FLOTILLA)
            .arg("--socket")
            .arg(&self.socket)
            .args(args)
            .output()
            .unwrap()
    }

    /// Runs a client command that must succeed; returns its standard output.
    fn ok(&self, args: &[&str]) -> String {
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

    fn stop(&self, mut host: Child) {
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

fn manifest(version: &str) -> String {
    format!(
        r#"apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
spec:
  replicas: 3
  selector:
    matchLabels: {{app: web}}
  template:
    metadata:
      labels: {{app: web}}
    spec:
      terminationGracePeriodSeconds: 2
      containers:
      - name: web
        image: busybox:e2e
        env:
        - name: VERSION
          value: "{version}"
        command: ["sh", "-c", "mkdir -p /www && echo \"$(hostname) $VERSION\" > /www/index.html && exec httpd -f -p 8080 -h /www"]
        ports:
        - containerPort: 8080
        readinessProbe:
          httpGet: {{path: /, port: 8080}}
          periodSeconds: 1
---
apiVersion: v1
kind: Service
metadata:
  name: web
spec:
  selector: {{app: web}}
  ports:
  - port: 80
    targetPort: 8080
"#
    )
}

/// One HTTP GET through the Service; the body (`<pod name> <version>`).
fn fetch(ip: &str) -> Result<String, String> {
    let mut s = TcpStream::connect_timeout(
        &format!("{ip}:80").parse().map_err(|e| format!("{e}"))?,
        Duration::from_secs(3),
    )
    .map_err(|e| e.to_string())?;
    s.set_read_timeout(Some(Duration::from_secs(3))).ok();
    s.write_all(b"GET / HTTP/1.0\r\nHost: web\r\n\r\n")
        .map_err(|e| e.to_string())?;
    let mut response = String::new();
    s.read_to_string(&mut response).map_err(|e| e.to_string())?;
    let body = response
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.trim().to_string())
        .ok_or_else(|| format!("no body in {response:?}"))?;
    if body.is_empty() {
        return Err(format!("empty body in {response:?}"));
    }
    Ok(body)
}

fn wait_until(what: &str, secs: u64, mut f: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(secs);
    while !f() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// The pod names and the processes in the pods' cgroups, found through /proc.
fn processes_of(node: &str) -> Vec<i32> {
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

fn cluster_ip(env: &Env) -> String {
    let json = env.ok(&["get", "svc", "web", "-o", "json"]);
    let v: serde_json::Value = serde_json::from_str(&json).unwrap();
    v["spec"]["clusterIP"].as_str().unwrap().to_string()
}

fn bodies(ip: &str, n: usize) -> Vec<String> {
    (0..n)
        .map(|_| fetch(ip).unwrap_or_else(|e| panic!("fetch through the Service: {e}")))
        .collect()
}

#[test]
fn single_host_end_to_end() {
    let Some(busybox) = prerequisites() else {
        return;
    };
    let env = Env::new();
    // The image, imported with the CLI.
    let rootfs = env.base.join("rootfs");
    std::fs::create_dir_all(rootfs.join("bin")).unwrap();
    for d in ["proc", "dev", "sys", "tmp", "etc", "www"] {
        std::fs::create_dir_all(rootfs.join(d)).unwrap();
    }
    std::fs::copy(&busybox, rootfs.join("bin/busybox")).unwrap();
    for applet in [
        "sh", "httpd", "hostname", "mkdir", "echo", "cat", "kill", "sleep",
    ] {
        std::os::unix::fs::symlink("busybox", rootfs.join("bin").join(applet)).unwrap();
    }
    let images = env.base.join("images");
    let out = Command::new(FLOTILLA)
        .args(["image", "import"])
        .arg(&rootfs)
        .arg("busybox:e2e")
        .arg("--images")
        .arg(&images)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    let host = env.host();
    let file = env.base.join("web.yaml");
    std::fs::write(&file, manifest("v1")).unwrap();
    let applied = env.ok(&["apply", "-f", file.to_str().unwrap()]);
    assert_eq!(
        applied, "deployment.apps/web created\nservice/web created\n",
        "{applied}"
    );
    env.ok(&["rollout", "status", "deployment/web", "--timeout", "120"]);
    let pods = env.ok(&["get", "pods", "-l", "app=web"]);
    assert_eq!(
        pods.lines().filter(|l| l.contains("Running")).count(),
        3,
        "{pods}"
    );

    // All three backends answer through the Service's virtual IP.
    let ip = cluster_ip(&env);
    let seen: BTreeSet<String> = bodies(&ip, 30).into_iter().collect();
    assert_eq!(seen.len(), 3, "backends seen: {seen:?}");
    assert!(seen.iter().all(|b| b.ends_with(" v1")), "{seen:?}");

    // Logs and exec.
    let pod = seen
        .iter()
        .next()
        .unwrap()
        .split(' ')
        .next()
        .unwrap()
        .to_string();
    let hosts = env.ok(&["exec", &pod, "--", "cat", "/etc/hosts"]);
    assert!(hosts.contains("web.default.svc.cluster.local"), "{hosts}");

    // Kill one backend's process: the kubelet restarts it, the Service keeps answering.
    let before = processes_of(&env.node).len();
    assert!(before >= 3, "pods' processes: {before}");
    let json = env.ok(&["get", "pod", &pod, "-o", "json"]);
    let v: serde_json::Value = serde_json::from_str(&json).unwrap();
    let uid = v["metadata"]["uid"].as_str().unwrap().to_string();
    let victim = processes_of(&env.node)
        .into_iter()
        .find(|pid| {
            std::fs::read_to_string(format!("/proc/{pid}/cgroup"))
                .is_ok_and(|c| c.lines().any(|l| l.ends_with(&format!("{uid}/web"))))
                && std::fs::read_to_string(format!("/proc/{pid}/cmdline"))
                    .is_ok_and(|c| c.contains("httpd"))
        })
        .expect("the victim's httpd process");
    Command::new("kill")
        .arg("-KILL")
        .arg(victim.to_string())
        .status()
        .unwrap();
    let mut answered = 0;
    for _ in 0..20 {
        if fetch(&ip).is_ok() {
            answered += 1;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(
        answered, 20,
        "the Service kept answering while a backend restarted"
    );
    wait_until("the killed container's restart", 60, || {
        let out = env.ok(&["get", "pod", &pod, "-o", "json"]);
        let v: serde_json::Value = serde_json::from_str(&out).unwrap();
        v["status"]["containerStatuses"][0]["restartCount"].as_i64() == Some(1)
            && v["status"]["containerStatuses"][0]["ready"].as_bool() == Some(true)
    });
    let described = env.ok(&["describe", "pod", &pod]);
    assert!(described.contains("Restart Count:  1"), "{described}");

    // A deleted pod is replaced by its ReplicaSet.
    env.ok(&["delete", "pod", &pod]);
    wait_until("a replacement pod", 60, || {
        let out = env.ok(&["get", "pods", "-l", "app=web"]);
        out.lines()
            .filter(|l| l.contains("Running") && !l.contains(&pod))
            .count()
            == 3
    });

    // Roll out v2, then back to v1.
    std::fs::write(&file, manifest("v2")).unwrap();
    assert_eq!(
        env.ok(&["apply", "-f", file.to_str().unwrap()]),
        "deployment.apps/web configured\nservice/web unchanged\n"
    );
    env.ok(&["rollout", "status", "deployment/web", "--timeout", "120"]);
    wait_until("v2 everywhere", 30, || {
        bodies(&ip, 9).iter().all(|b| b.ends_with(" v2"))
    });
    let history = env.ok(&["rollout", "history", "deployment/web"]);
    assert!(
        history.contains("\n1 ") && history.contains("\n2 "),
        "{history}"
    );
    env.ok(&["rollout", "undo", "deployment/web"]);
    env.ok(&["rollout", "status", "deployment/web", "--timeout", "120"]);
    wait_until("v1 again", 30, || {
        bodies(&ip, 9).iter().all(|b| b.ends_with(" v1"))
    });

    // Restart the host: every object is still there and the pods run again.
    env.stop(host);
    assert!(
        processes_of(&env.node).is_empty(),
        "processes left after a stop: {:?}",
        processes_of(&env.node)
    );
    let host = env.host();
    let deploy = env.ok(&["get", "deployment", "web"]);
    assert!(deploy.contains("web"), "{deploy}");
    assert_eq!(cluster_ip(&env), ip, "the Service keeps its ClusterIP");
    env.ok(&["rollout", "status", "deployment/web", "--timeout", "120"]);
    wait_until("answers after the restart", 60, || {
        (0..9)
            .filter_map(|_| fetch(&ip).ok())
            .collect::<BTreeSet<_>>()
            .len()
            == 3
    });

    // Shut down: nothing left.
    env.stop(host);
    assert!(processes_of(&env.node).is_empty(), "processes left");
    let mounts = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
    let state = env.base.join("state");
    assert!(
        !mounts.contains(state.to_str().unwrap()),
        "mounts left under {}:\n{mounts}",
        state.display()
    );
    for root in [
        "/sys/fs/cgroup",
        "/sys/fs/cgroup/unified",
        "/sys/fs/cgroup/memory",
        "/sys/fs/cgroup/cpu,cpuacct",
        "/sys/fs/cgroup/pids",
    ] {
        let dir = Path::new(root).join(format!("flotilla-{}", env.node));
        assert!(!dir.exists(), "cgroup left: {}", dir.display());
    }
    let links = Command::new("ip").args(["-o", "link"]).output().unwrap();
    let links = String::from_utf8_lossy(&links.stdout);
    assert!(!links.contains("flotilla0"), "bridge left:\n{links}");
    let _ = std::fs::remove_dir_all(&env.base);
}
