//! Volumes of real pods, checked from inside the containers (needs root and busybox; each
//! test skips with a message otherwise): emptyDir (on disk and tmpfs), configMap and secret
//! files with their modes and atomic updates, readOnly mounts, hostPath prefixes, a subPath
//! symlink escape, and that nothing stays mounted after the pod is removed.

mod common;

use std::path::PathBuf;
use std::sync::Arc;

use common::*;
use flotilla_controllers::kubelet::runtime::{
    PodVolumeContent, RuntimeCommand, RuntimeEvent, VolumeContent, VolumeFile,
};
use flotilla_model::api::{
    ConfigMapVolumeSource, EmptyDirVolumeSource, HostPathVolumeSource, Pod, SecretVolumeSource,
    Volume, VolumeMount,
};

/// Removes a test's base directory last (declared before the harness, so dropped after it
/// and after the runtime's own clean-up), even when the test fails.
struct RemoveOnDrop(PathBuf);

impl Drop for RemoveOnDrop {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn mount(name: &str, path: &str) -> VolumeMount {
    VolumeMount {
        name: name.into(),
        mount_path: path.into(),
        ..Default::default()
    }
}

fn empty_dir(name: &str, medium: &str, limit: Option<&str>) -> Volume {
    Volume {
        name: name.into(),
        empty_dir: Some(EmptyDirVolumeSource {
            medium: medium.into(),
            size_limit: limit.map(|l| l.parse().expect("quantity")),
        }),
        ..Default::default()
    }
}

fn with_volumes(mut pod: Arc<Pod>, volumes: Vec<Volume>) -> Arc<Pod> {
    Arc::make_mut(&mut pod).spec.volumes = volumes;
    pod
}

fn files(list: &[(&str, &str, u32)], in_memory: bool) -> VolumeContent {
    VolumeContent::Files {
        files: list
            .iter()
            .map(|(p, d, m)| VolumeFile {
                path: p.to_string(),
                data: d.as_bytes().to_vec(),
                mode: *m,
            })
            .collect(),
        in_memory,
    }
}

fn set_volumes(h: &mut Harness, pod: &Arc<Pod>, volumes: Vec<PodVolumeContent>) {
    h.runtime.handle_command(RuntimeCommand::SetPodVolumes {
        pod_uid: pod.metadata.uid.clone(),
        volumes,
    });
    let ev = h.wait(|e| matches!(e, RuntimeEvent::PodVolumesSet { .. }), 10);
    assert!(
        matches!(&ev, RuntimeEvent::PodVolumesSet { result: Ok(()), .. }),
        "{ev:?}"
    );
}

/// Starts `container` expecting the runtime to refuse its mounts: the message.
fn start_refused(h: &mut Harness, pod: &Arc<Pod>, container: &str) -> String {
    h.runtime.handle_command(RuntimeCommand::StartContainer {
        pod: pod.clone(),
        container: container.into(),
        init: false,
        attempt: 0,
        env: Vec::new(),
    });
    let ev = h.wait(
        |e| {
            matches!(e, RuntimeEvent::ContainerCreateFailed { container: c, .. } | RuntimeEvent::ContainerStarted { container: c, .. } if c == container)
        },
        10,
    );
    match ev {
        RuntimeEvent::ContainerCreateFailed {
            reason, message, ..
        } => {
            assert_eq!(reason, "CreateContainerConfigError");
            message
        }
        other => panic!("{container} was not refused: {other:?}"),
    }
}

/// Removes the pod and checks that nothing of it stays mounted or on disk.
fn remove_and_check(h: &mut Harness, pod: &Arc<Pod>) {
    let dir = h.runtime.pod_dir(&pod.metadata.uid);
    h.remove(pod);
    assert_eq!(host_mounts_under(&dir), Vec::<String>::new());
    assert!(!dir.exists(), "{} remains", dir.display());
}

#[test]
fn empty_dirs_are_shared_between_containers_and_memory_ones_are_tmpfs() {
    let Some(busybox) = prerequisites() else {
        return;
    };
    let _cleanup = RemoveOnDrop(base_dir("emptydir"));
    let mut h = Harness::new("emptydir", &busybox);
    let mut writer = sh(
        "writer",
        "echo hello > /shared/greeting; grep ' /mem ' /proc/mounts; echo mem > /mem/x",
    );
    writer.volume_mounts = vec![mount("shared", "/shared"), mount("mem", "/mem")];
    let mut reader = sh(
        "reader",
        "cat /shared/greeting; ls /mem; grep -c ' /shared tmpfs ' /proc/mounts || true",
    );
    reader.volume_mounts = vec![mount("shared", "/shared"), mount("mem", "/mem")];
    let pod = with_volumes(
        pod("emptydir", vec![writer, reader]),
        vec![
            empty_dir("shared", "", None),
            empty_dir("mem", "Memory", Some("8Mi")),
        ],
    );
    h.run_pod(&pod);
    assert!(h.start(&pod, "writer").is_ok());
    let (code, _, log) = h.wait_exit(&pod, "writer", 10);
    assert_eq!(code, 0, "{log}");
    // medium: Memory is a tmpfs of sizeLimit (8Mi = 8192k).
    assert!(
        log.contains(" /mem tmpfs ") && log.contains("size=8192k"),
        "{log}"
    );
    assert!(h.start(&pod, "reader").is_ok());
    let (code, _, log) = h.wait_exit(&pod, "reader", 10);
    // The second container sees what the first wrote, in both; the disk one is no tmpfs.
    assert_eq!((code, log.as_str()), (0, "hello\nx\n0\n"));
    remove_and_check(&mut h, &pod);
}

#[test]
fn config_map_and_secret_files_have_their_modes_and_updates_swap_data_atomically() {
    let Some(busybox) = prerequisites() else {
        return;
    };
    let _cleanup = RemoveOnDrop(base_dir("configmap"));
    let mut h = Harness::new("configmap", &busybox);
    let script = "stat -L -c '%a %s' /cfg/app.conf; cat /cfg/app.conf; echo; \
                  readlink /cfg/..data; grep ' /secret tmpfs ' /proc/mounts | wc -l; \
                  cat /secret/password; echo; \
                  while [ \"$(cat /cfg/app.conf)\" != port=8080 ]; do sleep 0.05; done; \
                  readlink /cfg/..data; echo updated";
    let mut c = sh("app", script);
    c.volume_mounts = vec![mount("cfg", "/cfg"), mount("secret", "/secret")];
    let pod = with_volumes(
        pod("configmap", vec![c]),
        vec![
            Volume {
                name: "cfg".into(),
                config_map: Some(ConfigMapVolumeSource {
                    name: "app".into(),
                    ..Default::default()
                }),
                ..Default::default()
            },
            Volume {
                name: "secret".into(),
                secret: Some(SecretVolumeSource {
                    secret_name: "creds".into(),
                    ..Default::default()
                }),
                ..Default::default()
            },
        ],
    );
    let content = |port: &str| {
        vec![
            PodVolumeContent {
                name: "cfg".into(),
                content: files(&[("app.conf", port, 0o400)], false),
            },
            PodVolumeContent {
                name: "secret".into(),
                content: files(&[("password", "hunter2", 0o440)], true),
            },
        ]
    };
    // Before the sandbox, as the kubelet sends it.
    set_volumes(&mut h, &pod, content("port=80"));
    h.run_pod(&pod);
    assert!(h.start(&pod, "app").is_ok());
    // Wait until the container has printed its first view, then update while it runs.
    let log_path = h.runtime.log_path(&pod.metadata.uid, "app", 0);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while !std::fs::read_to_string(&log_path)
        .unwrap_or_default()
        .contains("hunter2")
    {
        assert!(std::time::Instant::now() < deadline, "no first output");
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    set_volumes(&mut h, &pod, content("port=8080"));
    let (code, _, log) = h.wait_exit(&pod, "app", 10);
    assert_eq!(code, 0, "{log}");
    let lines: Vec<&str> = log.lines().collect();
    assert_eq!(lines[0], "400 7", "{log}");
    assert_eq!(lines[1], "port=80", "{log}");
    assert!(lines[2].starts_with(".."), "{log}");
    // The secret is on a tmpfs, never on disk.
    assert_eq!(lines[3], "1", "{log}");
    assert_eq!(lines[4], "hunter2", "{log}");
    // `..data` now names another timestamped directory.
    assert!(lines[5].starts_with("..") && lines[5] != lines[2], "{log}");
    assert_eq!(lines[6], "updated", "{log}");
    remove_and_check(&mut h, &pod);
}

#[test]
fn read_only_host_path_and_sub_path_escape() {
    let Some(busybox) = prerequisites() else {
        return;
    };
    let base = base_dir("refusals");
    let _cleanup = RemoveOnDrop(base.clone());
    let allowed = base.join("allowed");
    let mut config = config("refusals");
    config.allowed_host_paths = vec![allowed.clone()];
    let mut h = Harness::with_config(config, &busybox);
    std::fs::create_dir_all(&allowed).expect("allowed dir");
    std::fs::write(allowed.join("data"), "from the host").expect("host file");

    let mut ro = sh(
        "ro",
        "cat /host/data; echo; touch /host/new && echo wrote; touch /scratch/ok && echo scratch",
    );
    ro.volume_mounts = vec![
        VolumeMount {
            read_only: true,
            ..mount("host", "/host")
        },
        mount("scratch", "/scratch"),
    ];
    let mut outside = sh("outside", "true");
    outside.volume_mounts = vec![mount("etc", "/hostetc")];
    let mut link = sh("link", "ln -s / /scratch/escape && ln -s ../.. /scratch/up");
    link.volume_mounts = vec![mount("scratch", "/scratch")];
    let mut escape = sh("escape", "ls /escaped");
    escape.volume_mounts = vec![VolumeMount {
        sub_path: "escape".into(),
        ..mount("scratch", "/escaped")
    }];
    let mut up = sh("up", "ls /escaped");
    up.volume_mounts = vec![VolumeMount {
        sub_path: "up/etc".into(),
        ..mount("scratch", "/escaped")
    }];
    let host_path = |name: &str, path: &std::path::Path| Volume {
        name: name.into(),
        host_path: Some(HostPathVolumeSource {
            path: path.display().to_string(),
            ..Default::default()
        }),
        ..Default::default()
    };
    let pod = with_volumes(
        pod("refusals", vec![ro, outside, link, escape, up]),
        vec![
            host_path("host", &allowed),
            host_path("etc", std::path::Path::new("/etc")),
            empty_dir("scratch", "", None),
        ],
    );
    h.run_pod(&pod);

    // readOnly: the host's file is there, writing is refused; the other volume is writable.
    assert!(h.start(&pod, "ro").is_ok());
    let (code, _, log) = h.wait_exit(&pod, "ro", 10);
    assert_eq!(code, 0, "{log}");
    assert!(log.starts_with("from the host\n"), "{log}");
    assert!(log.contains("Read-only file system"), "{log}");
    assert!(!log.contains("wrote"), "{log}");
    assert!(log.contains("scratch\n"), "{log}");
    assert!(!allowed.join("new").exists());

    // A hostPath outside the allowed prefixes fails the container, which never runs.
    let message = start_refused(&mut h, &pod, "outside");
    assert!(
        message.contains("not under an allowed host path prefix"),
        "{message}"
    );

    // CVE-2017-1002101: links in the volume that point out of it are not followed.
    assert!(h.start(&pod, "link").is_ok());
    assert_eq!(h.wait_exit(&pod, "link", 10).0, 0);
    for c in ["escape", "up"] {
        let message = start_refused(&mut h, &pod, c);
        assert!(
            message.contains("failed to prepare subPath"),
            "{c}: {message}"
        );
        assert!(message.contains("not within volume path"), "{c}: {message}");
    }
    remove_and_check(&mut h, &pod);
}
