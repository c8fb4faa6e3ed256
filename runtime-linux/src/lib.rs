//! Flotilla's Linux runtime: runs the kubelet's pods as real processes on one host, isolated
//! with namespaces and limited with cgroups (v2, v1, or a hybrid of both).
//!
//! A [`LinuxRuntime`] executes the kubelet's
//! [`RuntimeCommand`](flotilla_controllers::kubelet::runtime::RuntimeCommand)s and reports
//! [`RuntimeEvent`](flotilla_controllers::kubelet::runtime::RuntimeEvent)s. Each pod is a
//! sandbox process holding its network, IPC and UTS namespaces; each container is a PID 1 in
//! its own mount and PID namespaces (inside the sandbox's others), in a cgroup with the
//! container's limits, on an overlay of an image from the local [`image`] store. Namespace work
//! happens in helper processes: the runtime re-executes its binary, so a binary that uses the
//! runtime calls [`run_helper_if_requested`] first thing in `main`.
//!
//! ```no_run
//! use std::sync::Arc;
//! use flotilla_controllers::kubelet::runtime::{RuntimeCommand, RuntimeEvent};
//! use flotilla_runtime_linux::{LinuxRuntime, RuntimeConfig};
//!
//! flotilla_runtime_linux::run_helper_if_requested();
//! let mut runtime = LinuxRuntime::new(RuntimeConfig::new("node-1")).expect("cgroups and state");
//! runtime.images().import("rootfs.tar".as_ref(), "busybox:1", Default::default()).expect("imported");
//!
//! let mut pod = flotilla_model::api::Pod::default();
//! pod.metadata.name = "hello".into();
//! pod.metadata.uid = "0001".into();
//! pod.spec.containers.push(flotilla_model::api::Container {
//!     name: "main".into(),
//!     image: "busybox:1".into(),
//!     command: vec!["sh".into(), "-c".into(), "hostname; exit 3".into()],
//!     ..Default::default()
//! });
//! let pod = Arc::new(pod);
//! runtime.handle_command(RuntimeCommand::RunPodSandbox { pod: pod.clone() });
//! runtime.handle_command(RuntimeCommand::StartContainer {
//!     pod, container: "main".into(), init: false, attempt: 0, env: vec![],
//! });
//! loop {
//!     for event in runtime.poll_events() {
//!         if let RuntimeEvent::ContainerExited { exit_code, .. } = event {
//!             assert_eq!(exit_code, 3);
//!             return;
//!         }
//!     }
//!     std::thread::sleep(std::time::Duration::from_millis(10));
//! }
//! ```
//!
//! The Linux seams are behind the [`sys::Syscall`] trait (mounts, namespaces, identity,
//! capabilities) with a recording fake for unit tests; cgroup roots, the state directory, the
//! image store and the helper binary are injectable paths. Only [`sys`] and [`seccomp`] contain
//! `unsafe`, each block with the reason it is sound.

pub mod caps;
pub mod cgroup;
pub mod helper;
pub mod host;
pub mod image;
pub mod local_path;
pub mod logs;
pub mod mountinfo;
pub mod network;
pub mod proxy;
pub mod rootfs;
pub mod runtime;
pub mod seccomp;
pub mod security;
pub mod spec;
pub mod sys;

pub use helper::run_helper_if_requested;
pub use runtime::{LinuxRuntime, RootfsMode, RuntimeConfig, RuntimeError};
