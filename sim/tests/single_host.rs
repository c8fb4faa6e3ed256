//! End-to-end test of single-host mode (root only): `flotilla host` runs a Deployment of three
//! busybox HTTP servers behind a Service; the test fetches through the Service's virtual IP and
//! its NodePort, kills a backend, fails a readiness and a liveness probe, rolls out a new version
//! and back, restarts the host, and finally checks that a shutdown leaves no process, mount,
//! cgroup or network device behind.
//!
//! Skips (passing, with a message) when not root or without busybox and iproute2; CI runs it
//! as root with `busybox-static` installed by `.ci/run`.

mod host_common;

use std::collections::BTreeSet;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use host_common::{prerequisites, processes_of, wait_until, Env};

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
        command: ["sh", "-c", "mkdir -p /www && echo \"$(hostname) $VERSION\" > /www/index.html && echo ok > /www/ready.html && exec httpd -f -p 8080 -h /www"]
        ports:
        - containerPort: 8080
        readinessProbe:
          httpGet: {{path: /ready.html, port: 8080}}
          periodSeconds: 1
        livenessProbe:
          exec: {{command: ["test", "-f", "/www/index.html"]}}
          periodSeconds: 1
          failureThreshold: 2
---
apiVersion: v1
kind: Service
metadata:
  name: web
spec:
  type: NodePort
  selector: {{app: web}}
  ports:
  - port: 80
    targetPort: 8080
"#
    )
}

/// One HTTP GET through the Service; the body (`<pod name> <version>`).
fn fetch(ip: &str) -> Result<String, String> {
    fetch_at(&format!("{ip}:80"))
}

/// One HTTP GET of `address` (`ip:port`); the body.
fn fetch_at(address: &str) -> Result<String, String> {
    let mut s = TcpStream::connect_timeout(
        &address.parse().map_err(|e| format!("{e}"))?,
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

/// Directories named `name` under `dir`, at most `depth` levels down.
fn cgroup_dirs_named(dir: &Path, name: &str, depth: usize) -> Vec<std::path::PathBuf> {
    let mut found = Vec::new();
    let Ok(entries) = std::fs::read_dir(dir) else {
        return found;
    };
    for e in entries.flatten() {
        let path = e.path();
        if !e.file_type().is_ok_and(|t| t.is_dir()) {
            continue;
        }
        if e.file_name() == name {
            found.push(path);
        } else if depth > 0 {
            found.extend(cgroup_dirs_named(&path, name, depth - 1));
        }
    }
    found
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
    let env = Env::new("e2e", &busybox);
    let host = env.host(&[]);
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

    // The NodePort answers on the host's addresses too.
    let svc = env.json(&["get", "svc", "web"]);
    let node_port = svc["spec"]["ports"][0]["nodePort"].as_i64().unwrap();
    let via_node_port: BTreeSet<String> = (0..9)
        .map(|_| fetch_at(&format!("127.0.0.1:{node_port}")).unwrap())
        .collect();
    assert_eq!(
        via_node_port, seen,
        "the NodePort reaches the same backends"
    );

    // A failing readiness probe takes a pod out of the Service; passing again brings it back.
    let unready = seen
        .iter()
        .nth(1)
        .unwrap()
        .split(' ')
        .next()
        .unwrap()
        .to_string();
    env.ok(&[
        "exec",
        &unready,
        "--",
        "sh",
        "-c",
        "mv /www/ready.html /www/away.html",
    ]);
    wait_until("the unready pod out of the endpoints", 30, || {
        let got: BTreeSet<String> = bodies(&ip, 6).into_iter().collect();
        got.len() == 2 && !got.iter().any(|b| b.starts_with(&unready))
    });
    env.ok(&[
        "exec",
        &unready,
        "--",
        "sh",
        "-c",
        "mv /www/away.html /www/ready.html",
    ]);
    wait_until("the pod back in the endpoints", 30, || {
        bodies(&ip, 9).into_iter().collect::<BTreeSet<_>>().len() == 3
    });

    // A failing liveness probe restarts the container (which writes its page again).
    let before = env.json(&["get", "pod", &unready]);
    assert_eq!(before["status"]["containerStatuses"][0]["restartCount"], 0);
    env.ok(&["exec", &unready, "--", "rm", "/www/index.html"]);
    wait_until("the liveness restart", 60, || {
        let v = env.json(&["get", "pod", &unready]);
        v["status"]["containerStatuses"][0]["restartCount"].as_i64() == Some(1)
            && v["status"]["containerStatuses"][0]["ready"].as_bool() == Some(true)
    });
    let events = env.ok(&["describe", "pod", &unready]);
    assert!(events.contains("Liveness probe failed"), "{events}");

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
    // A write torn by a crash at the end of the state log is dropped, not loaded.
    {
        let mut log = std::fs::OpenOptions::new()
            .append(true)
            .open(env.base.join("data/log"))
            .unwrap();
        log.write_all(b"\x46\x4c\x54\x31\xff\xff\x00\x00torn")
            .unwrap();
    }
    let host = env.host(&[]);
    assert!(
        env.log().contains("dropped a torn write"),
        "the torn tail is reported: {}",
        env.log()
    );
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
    let left = cgroup_dirs_named(
        Path::new("/sys/fs/cgroup"),
        &format!("flotilla-{}", env.node),
        4,
    );
    assert!(left.is_empty(), "cgroups left: {left:?}");
    let links = Command::new("ip").args(["-o", "link"]).output().unwrap();
    let links = String::from_utf8_lossy(&links.stdout);
    assert!(!links.contains("flotilla0"), "bridge left:\n{links}");
    let _ = std::fs::remove_dir_all(&env.base);
}
