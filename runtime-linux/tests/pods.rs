//! Pods as real processes, checked from inside the containers (needs root and busybox; each
//! test skips with a message otherwise).

mod common;

use std::path::Path;

use common::*;
use flotilla_controllers::kubelet::runtime::{RuntimeCommand, RuntimeEvent, StopSignal};
use flotilla_runtime_linux::image::ImageConfig;
use flotilla_runtime_linux::sys::process::is_alive;

#[test]
fn a_container_has_its_own_pid_namespace_and_the_pods_hostname() {
    let Some(busybox) = prerequisites() else {
        return;
    };
    let mut h = Harness::new("pidns", &busybox);
    let script = "echo pid=$$; echo init=$(cat /proc/1/comm); set -- /proc/[0-9]*; echo procs=$#; \
                  echo host=$(hostname); echo env=$GREETING/$HOSTNAME; ip link 2>/dev/null | grep -c '^[0-9]'; \
                  cat /proc/net/dev | grep -c ':'";
    let pod = pod("web-1", vec![sh("main", script)]);
    h.run_pod(&pod);
    assert!(h.start(&pod, "main").is_ok());
    let (code, oom, log) = h.wait_exit(&pod, "main", 10);
    assert_eq!((code, oom), (0, false), "{log}");
    // The shell is PID 2 under the runtime's PID 1, and sees only itself and PID 1 (and the
    // glob's own process table has no host pids).
    assert!(log.contains("pid=2\n"), "{log}");
    assert!(log.contains("init=flotilla-init\n"), "{log}");
    assert!(log.contains("procs=2\n"), "{log}");
    assert!(log.contains("host=web-1\n"), "{log}");
    assert!(log.contains("env=hello/web-1\n"), "{log}");
    // Only loopback in the pod's network namespace.
    assert!(log.ends_with("1\n"), "{log}");
    h.remove(&pod);
}

#[test]
fn exit_codes_and_stop_signals() {
    let Some(busybox) = prerequisites() else {
        return;
    };
    let mut config = config("signals");
    // This test also covers the copy fallback for hosts without overlayfs.
    config.rootfs_mode = flotilla_runtime_linux::RootfsMode::Copy;
    let mut h = Harness::with_config(config, &busybox);
    let pod = pod(
        "signals",
        vec![
            sh("three", "exit 3"),
            sh("term", "echo started; exec sleep 1000"),
            sh(
                "stubborn",
                "trap '' TERM; echo started; while true; do sleep 1; done",
            ),
        ],
    );
    h.run_pod(&pod);
    for c in ["three", "term", "stubborn"] {
        assert!(h.start(&pod, c).is_ok(), "{c}");
    }
    assert_eq!(h.wait_exit(&pod, "three", 10).0, 3);

    // SIGTERM reaches the workload through PID 1: 128 + 15.
    h.runtime.handle_command(RuntimeCommand::SignalContainer {
        pod_uid: pod.metadata.uid.clone(),
        container: "term".into(),
        signal: StopSignal::Term,
    });
    assert_eq!(h.wait_exit(&pod, "term", 10).0, 143);

    // A workload that ignores SIGTERM survives it; SIGKILL ends it: 128 + 9.
    let uid = pod.metadata.uid.clone();
    h.runtime.handle_command(RuntimeCommand::SignalContainer {
        pod_uid: uid.clone(),
        container: "stubborn".into(),
        signal: StopSignal::Term,
    });
    std::thread::sleep(std::time::Duration::from_millis(300));
    let early = h.runtime.poll_events();
    assert!(
        !early
            .iter()
            .any(|e| matches!(e, RuntimeEvent::ContainerExited { .. })),
        "{early:?}"
    );
    h.backlog.extend(early);
    assert!(h.runtime.container_pid(&uid, "stubborn").is_some());
    h.runtime.handle_command(RuntimeCommand::SignalContainer {
        pod_uid: uid,
        container: "stubborn".into(),
        signal: StopSignal::Kill,
    });
    let (code, oom, _) = h.wait_exit(&pod, "stubborn", 10);
    assert_eq!((code, oom), (137, false));
    h.remove(&pod);
}

#[test]
fn a_memory_hog_is_oom_killed() {
    let Some(busybox) = prerequisites() else {
        return;
    };
    let mut h = Harness::new("oom", &busybox);
    // dd allocates its 64 MiB block and fills it: over the 32 MiB limit.
    let hog = with_limit(
        sh(
            "hog",
            "echo start; exec dd if=/dev/zero of=/dev/null bs=64M count=1",
        ),
        "memory",
        "32Mi",
    );
    let pod = pod("oom", vec![hog]);
    h.run_pod(&pod);
    assert!(h.start(&pod, "hog").is_ok());
    let (code, oom, log) = h.wait_exit(&pod, "hog", 20);
    assert_eq!((code, oom), (137, true), "{log}");
    assert!(
        log.starts_with("start\n") && !log.contains("records"),
        "{log}"
    );
    h.remove(&pod);
}

#[test]
fn the_pids_limit_stops_a_fork_bomb() {
    let Some(busybox) = prerequisites() else {
        return;
    };
    let mut config = config("pids");
    config.pod_pids_limit = Some(24);
    let mut h = Harness::with_config(config, &busybox);
    // A bounded fork bomb: 200 sleepers in the background. The shell reports the forks that
    // fail; the pids limit holds the container at 24 tasks whatever it tries.
    // The loop runs in a subshell, which dies at its first failed fork; the counting uses
    // builtins only.
    let bomb = "(i=0; while [ $i -lt 200 ]; do sleep 30 & i=$((i+1)); done) 2>/dev/null; \
                set -- /proc/[0-9]*; echo procs=$#; exit 0";
    let pod = pod("bomb", vec![sh("bomb", bomb)]);
    h.run_pod(&pod);
    assert!(h.start(&pod, "bomb").is_ok());
    let (_, _, log) = h.wait_exit(&pod, "bomb", 30);
    let procs: usize = log
        .lines()
        .find_map(|l| l.strip_prefix("procs="))
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no count in {log:?}"));
    // The sandbox and the shim count against the pod's 24 too, and are not visible inside.
    assert!((10..=22).contains(&procs), "{procs} processes: {log}");
    h.remove(&pod);
    assert!(h
        .runtime
        .cgroups()
        .pids(Path::new(&pod.metadata.uid))
        .is_empty());
}

#[test]
fn privileges_are_dropped_and_kernel_paths_protected() {
    let Some(busybox) = prerequisites() else {
        return;
    };
    let mut h = Harness::new("privs", &busybox);
    let script = "grep -E '^(CapEff|CapBnd|CapInh|CapAmb|NoNewPrivs|Seccomp):' /proc/self/status; \
                  echo x > /proc/sys/kernel/hostname 2>/dev/null || echo procsys=ro; \
                  touch /sys/x 2>/dev/null || echo sys=ro; \
                  [ -s /proc/timer_list ] || echo timer_list=masked; \
                  ls /sys/firmware | wc -l | sed 's/^/firmware=/'; \
                  ls /proc/self/fd | tr '\\n' ' '; echo; \
                  unshare -n true 2>/dev/null || echo unshare=denied; \
                  echo cwd=$(pwd); id";
    let mut user = sh("user", "id; grep CapEff /proc/self/status");
    user.security_context = Some(Box::new(flotilla_model::api::SecurityContext {
        run_as_user: Some(1000),
        run_as_group: Some(1000),
        ..Default::default()
    }));
    let pod = pod("privs", vec![sh("root", script), user]);
    h.run_pod(&pod);
    assert!(h.start(&pod, "root").is_ok());
    let (code, _, log) = h.wait_exit(&pod, "root", 10);
    assert_eq!(code, 0, "{log}");
    assert!(log.contains("CapEff:\t00000000a80425fb"), "{log}");
    assert!(log.contains("CapBnd:\t00000000a80425fb"), "{log}");
    assert!(log.contains("CapInh:\t0000000000000000"), "{log}");
    assert!(log.contains("CapAmb:\t0000000000000000"), "{log}");
    assert!(log.contains("NoNewPrivs:\t1"), "{log}");
    assert!(log.contains("Seccomp:\t2"), "{log}");
    assert!(log.contains("procsys=ro"), "{log}");
    assert!(log.contains("sys=ro"), "{log}");
    assert!(log.contains("timer_list=masked"), "{log}");
    assert!(log.contains("firmware=0"), "{log}");
    assert!(log.contains("unshare=denied"), "{log}");
    // Only stdin, stdout, stderr (and ls's own directory handle) are open.
    assert!(log.contains("\n0 1 2 3 \n"), "{log}");
    assert!(log.contains("cwd=/\n"), "{log}");
    assert!(log.contains("uid=0(root) gid=0(root)"), "{log}");

    assert!(h.start(&pod, "user").is_ok());
    let (code, _, log) = h.wait_exit(&pod, "user", 10);
    assert_eq!(code, 0, "{log}");
    assert!(log.contains("uid=1000(user) gid=1000(user)"), "{log}");
    assert!(log.contains("CapEff:\t0000000000000000"), "{log}");
    h.remove(&pod);
}

#[test]
fn nothing_is_left_after_removal() {
    let Some(busybox) = prerequisites() else {
        return;
    };
    let mut h = Harness::new("cleanup", &busybox);
    let pod = pod(
        "cleanup",
        vec![sh("a", "sleep 1000"), sh("b", "sleep 1000 & sleep 1000")],
    );
    h.run_pod(&pod);
    assert!(h.start(&pod, "a").is_ok());
    assert!(h.start(&pod, "b").is_ok());
    let uid = pod.metadata.uid.clone();
    let sandbox = h.runtime.sandbox_pid(&uid).expect("sandbox");
    let inits = [
        h.runtime.container_pid(&uid, "a").expect("a"),
        h.runtime.container_pid(&uid, "b").expect("b"),
    ];
    // Two shims, two log writers, two inits, three workloads and the sandbox (b forks its
    // first sleep after its exec, so give it a moment).
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    let mut pids = h.runtime.cgroups().pids(Path::new(&uid));
    while pids.len() < 10 && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(10));
        pids = h.runtime.cgroups().pids(Path::new(&uid));
    }
    assert_eq!(pids.len(), 10, "{pids:?}");
    let cgroup_dirs = h.runtime.cgroups().dirs(Path::new(&uid));
    assert!(cgroup_dirs.iter().all(|d| d.exists()));
    let pod_dir = h.runtime.pod_dir(&uid);
    assert!(pod_dir.exists());

    h.remove(&pod);
    for pid in pids.iter().chain(&inits).chain([&sandbox]) {
        assert!(!is_alive(*pid), "pid {pid} is still alive");
    }
    for d in &cgroup_dirs {
        assert!(!d.exists(), "{} is left", d.display());
    }
    assert!(!pod_dir.exists());
    // Container mounts live in the containers' own mount namespaces: the host never saw one.
    assert!(
        host_mounts_under(&h.base).is_empty(),
        "{:?}",
        host_mounts_under(&h.base)
    );
}

#[test]
fn a_new_runtime_cleans_up_after_a_crashed_one() {
    let Some(busybox) = prerequisites() else {
        return;
    };
    let config = config("crash");
    let mut h = Harness::with_config(config.clone(), &busybox);
    let pod = pod("crash", vec![sh("a", "sleep 1000")]);
    h.run_pod(&pod);
    assert!(h.start(&pod, "a").is_ok());
    let uid = pod.metadata.uid.clone();
    let pids = h.runtime.cgroups().pids(Path::new(&uid));
    let dirs = h.runtime.cgroups().dirs(Path::new(&uid));
    // The sandbox, the shim, its log writer, PID 1 and the workload.
    assert_eq!(pids.len(), 5, "{pids:?}");
    // A crash: the runtime never gets to clean up.
    let Harness { runtime, .. } = &mut h;
    let crashed = std::mem::replace(
        runtime,
        flotilla_runtime_linux::LinuxRuntime::new(config).expect("restarted"),
    );
    // (the replacement ran its start-up sweep before the old value is forgotten)
    std::mem::forget(crashed);
    for pid in &pids {
        assert!(!is_alive(*pid), "pid {pid} survived the restart");
    }
    for d in &dirs {
        assert!(!d.exists(), "{} survived the restart", d.display());
    }
    assert!(!h.runtime.pod_dir(&uid).exists());
}

#[test]
fn missing_images_and_commands_fail_cleanly() {
    let Some(busybox) = prerequisites() else {
        return;
    };
    let mut h = Harness::new("errors", &busybox);
    h.runtime.handle_command(RuntimeCommand::PullImage {
        image: "nope:1".into(),
    });
    let ev = h.wait(|e| matches!(e, RuntimeEvent::ImagePulled { .. }), 5);
    assert!(
        matches!(&ev, RuntimeEvent::ImagePulled { result: Err(m), .. } if m.contains("ErrImagePull")),
        "{ev:?}"
    );
    h.runtime.handle_command(RuntimeCommand::PullImage {
        image: IMAGE.into(),
    });
    let ev = h.wait(|e| matches!(e, RuntimeEvent::ImagePulled { .. }), 5);
    assert!(
        matches!(&ev, RuntimeEvent::ImagePulled { result: Ok(n), .. } if *n > 0),
        "{ev:?}"
    );

    let mut missing = sh("missing", "");
    missing.command = vec!["/no/such/binary".into()];
    let mut no_image = sh("noimage", "true");
    no_image.image = "nope:1".into();
    let pod = pod("errors", vec![missing, no_image]);
    h.run_pod(&pod);
    let err = h.start(&pod, "missing").unwrap_err();
    assert!(
        err.contains("/no/such/binary") && err.contains("ENOENT"),
        "{err}"
    );
    let err = h.start(&pod, "noimage").unwrap_err();
    assert!(err.contains("ErrImagePull"), "{err}");
    let uid = pod.metadata.uid.clone();
    // Only the sandbox is left in the pod's cgroup.
    assert_eq!(h.runtime.cgroups().pids(Path::new(&uid)).len(), 1);
    h.remove(&pod);
}

#[test]
fn probes_run_inside_the_pod() {
    let Some(busybox) = prerequisites() else {
        return;
    };
    let mut h = Harness::new("probes", &busybox);
    let server = "mkdir -p /www && echo ok > /www/index.html && touch /tmp/ready && exec httpd -f -p 8080 -h /www";
    let pod = pod("probes", vec![sh("web", server)]);
    h.run_pod(&pod);
    assert!(h.start(&pod, "web").is_ok());
    let uid = pod.metadata.uid.clone();
    let probe = |h: &mut Harness, p: flotilla_model::api::Probe| -> (bool, String) {
        h.runtime.handle_command(RuntimeCommand::RunProbe {
            pod_uid: uid.clone(),
            container: "web".into(),
            kind: flotilla_controllers::kubelet::runtime::ProbeKind::Readiness,
            probe: Box::new(p),
            pod_ip: String::new(),
        });
        match h.wait(|e| matches!(e, RuntimeEvent::ProbeResult { .. }), 10) {
            RuntimeEvent::ProbeResult {
                success, message, ..
            } => (success, message),
            _ => unreachable!(),
        }
    };
    use flotilla_model::api::{ExecAction, HttpGetAction, Probe, TcpSocketAction};
    use flotilla_model::IntOrString;
    let exec = |cmd: &[&str]| Probe {
        exec: Some(ExecAction {
            command: cmd.iter().map(|s| s.to_string()).collect(),
        }),
        timeout_seconds: 2,
        ..Probe::default()
    };
    let tcp = |port| Probe {
        tcp_socket: Some(TcpSocketAction {
            port: IntOrString::Int(port),
            ..Default::default()
        }),
        timeout_seconds: 2,
        ..Probe::default()
    };
    // Wait until the server listens (the tcp probe itself is the check).
    let mut up = false;
    for _ in 0..100 {
        if probe(&mut h, tcp(8080)).0 {
            up = true;
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    assert!(up, "httpd never listened in the pod's network namespace");
    let (ok, message) = probe(&mut h, exec(&["cat", "/tmp/ready"]));
    assert!(ok, "{message}");
    let (ok, message) = probe(&mut h, exec(&["cat", "/tmp/nope"]));
    assert!(!ok && message.contains("nope"), "{message}");
    // The exec probe sees the container's PID namespace: its workload is PID 2.
    assert!(
        probe(
            &mut h,
            exec(&["sh", "-c", "test \"$(cat /proc/2/comm)\" = httpd"])
        )
        .0
    );
    assert!(!probe(&mut h, tcp(8081)).0);
    let http = |path: &str| Probe {
        http_get: Some(HttpGetAction {
            path: path.into(),
            port: IntOrString::Int(8080),
            ..Default::default()
        }),
        timeout_seconds: 2,
        ..Probe::default()
    };
    assert!(probe(&mut h, http("/index.html")).0);
    let (ok, message) = probe(&mut h, http("/missing"));
    assert!(!ok && message.contains("404"), "{message}");
    // A probe slower than its timeout fails.
    let slow = Probe {
        timeout_seconds: 1,
        ..exec(&["sleep", "5"])
    };
    let (ok, message) = probe(&mut h, slow);
    assert!(!ok && message.contains("timed out"), "{message}");
    h.remove(&pod);
}

#[test]
fn logs_rotate_by_size_without_losing_lines() {
    let Some(busybox) = prerequisites() else {
        return;
    };
    let mut config = config("logs");
    config.container_log_max_size = 1000;
    config.container_log_max_files = 100;
    let mut h = Harness::with_config(config, &busybox);
    // 500 lines of 11 bytes ("line 00000\n"), from stdout and stderr, written fast.
    let pod = pod(
        "logs",
        vec![sh(
            "chatty",
            "i=0; while [ $i -lt 500 ]; do printf 'line %05d\\n' $i; i=$((i+1)); \
             [ $((i % 50)) = 0 ] && echo 'line stderr' >&2; done",
        )],
    );
    h.run_pod(&pod);
    assert!(h.start(&pod, "chatty").is_ok());
    let (code, _, current) = h.wait_exit(&pod, "chatty", 20);
    assert_eq!(code, 0);
    let log = h.runtime.log_path(&pod.metadata.uid, "chatty", 0);
    let dir = log.parent().expect("log dir");
    let mut rotated: Vec<_> = std::fs::read_dir(dir)
        .expect("log dir")
        .map(|e| e.expect("entry").path())
        .filter(|p| p != &log)
        .collect();
    rotated.sort();
    assert!(rotated.len() >= 5, "{rotated:?}");
    let mut all = String::new();
    for p in &rotated {
        let text = std::fs::read_to_string(p).expect("rotated log");
        assert!(text.len() <= 1000 && text.ends_with('\n'), "{p:?}");
        all.push_str(&text);
    }
    all.push_str(&current);
    let lines: Vec<&str> = all.lines().filter(|l| *l != "line stderr").collect();
    let want: Vec<String> = (0..500).map(|i| format!("line {i:05}")).collect();
    assert_eq!(lines, want);
    assert_eq!(all.lines().filter(|l| *l == "line stderr").count(), 10);
    h.remove(&pod);
}

#[test]
fn the_image_user_applies_and_run_as_non_root_is_checked() {
    let Some(busybox) = prerequisites() else {
        return;
    };
    let mut h = Harness::new("user", &busybox);
    h.runtime
        .images()
        .import(
            &h.base.join("rootfs"),
            "busybox:user",
            ImageConfig {
                user: "user".into(),
                ..ImageConfig::default()
            },
        )
        .expect("image imported");
    let mut as_user = sh("id", "id -u; id -g");
    as_user.image = "busybox:user".into();
    let mut non_root = sh("nonroot", "id -u");
    non_root.security_context = Some(Box::new(flotilla_model::api::SecurityContext {
        run_as_non_root: Some(true),
        ..Default::default()
    }));
    let pod = pod("user", vec![as_user, non_root]);
    h.run_pod(&pod);
    assert!(h.start(&pod, "id").is_ok());
    let (code, _, log) = h.wait_exit(&pod, "id", 10);
    assert_eq!((code, log.as_str()), (0, "1000\n1000\n"));
    // The busybox image runs as root: runAsNonRoot refuses it before anything starts.
    h.runtime.handle_command(RuntimeCommand::StartContainer {
        pod: pod.clone(),
        container: "nonroot".into(),
        init: false,
        attempt: 0,
        env: vec![],
    });
    let ev = h.wait(
        |e| matches!(e, RuntimeEvent::ContainerCreateFailed { .. }),
        10,
    );
    let RuntimeEvent::ContainerCreateFailed {
        reason, message, ..
    } = ev
    else {
        unreachable!()
    };
    assert_eq!(reason, "CreateContainerConfigError");
    assert!(message.contains("image will run as root"), "{message}");
    h.remove(&pod);
}
