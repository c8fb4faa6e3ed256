//! The helper modes of the runtime's own binary.
//!
//! The adapter never creates namespaces itself: a multi-threaded process must not `fork` and
//! then run Rust code, and `unshare(CLONE_NEWNS)` or `setns` into a mount namespace fails in
//! one anyway. Instead it re-executes its binary (from a sealed copy) as
//! `<exe> __flotilla-helper <mode> <spec.json>`, like `runc init`. That process is fresh and
//! single-threaded, so it may fork freely. The modes:
//!
//! - `sandbox`: unshares the pod's network, IPC and UTS namespaces, sets the hostname, brings
//!   loopback up, reports `ready`, then sleeps and reaps until told to stop;
//! - `container`: joins the container's cgroups and the sandbox's namespaces, unshares mount,
//!   PID and cgroup namespaces, and forks the container's PID 1 ([`container`]);
//! - `probe`: runs an exec, TCP, HTTP or gRPC probe inside a container's namespaces.
//!
//! Helpers talk back through descriptor 3, a pipe: `ready`, `pid <n>`, or `error <text>`.

pub mod container;
pub mod grpc;
pub mod probe;
pub mod sandbox;

use std::fs;
use std::path::{Path, PathBuf};

use crate::sys::process;

/// The first argument that selects helper mode.
pub const HELPER_ARG: &str = "__flotilla-helper";

/// Runs the helper and exits when this process was started as one; returns at once otherwise.
///
/// A binary that creates a [`LinuxRuntime`](crate::LinuxRuntime) with the default helper
/// (`/proc/self/exe`) must call this first thing in `main`, before it starts any thread:
///
/// ```no_run
/// // First thing in `main`:
/// flotilla_runtime_linux::run_helper_if_requested();
/// // … then the program proper: build a LinuxRuntime, feed it commands …
/// ```
pub fn run_helper_if_requested() {
    let args: Vec<String> = std::env::args().collect();
    if args.get(1).map(String::as_str) != Some(HELPER_ARG) {
        return;
    }
    let mut status = process::status_fd();
    if !process::mark_single_threaded() {
        process::report(
            &mut status,
            "error helper: started with more than one thread",
        );
        std::process::exit(125);
    }
    let (Some(mode), Some(spec)) = (args.get(2), args.get(3)) else {
        process::report(
            &mut status,
            "error helper: usage: __flotilla-helper <mode> <spec>",
        );
        std::process::exit(125);
    };
    let spec = PathBuf::from(spec);
    let code = match mode.as_str() {
        "sandbox" => sandbox::main(&spec, status),
        "container" => container::main(&spec, status),
        "probe" => probe::main(&spec),
        other => {
            process::report(
                &mut status,
                &format!("error helper: unknown mode {other:?}"),
            );
            125
        }
    };
    std::process::exit(code);
}

/// Reads a JSON spec written by the adapter.
pub(crate) fn read_spec<T: serde::de::DeserializeOwned>(path: &Path) -> Result<T, String> {
    let text = fs::read_to_string(path).map_err(|e| format!("read {}: {e}", path.display()))?;
    serde_json::from_str(&text).map_err(|e| format!("parse {}: {e}", path.display()))
}

/// Moves the calling process into each cgroup directory (before it forks anything, so every
/// descendant starts inside).
pub(crate) fn join_cgroups(dirs: &[PathBuf]) -> Result<(), String> {
    let pid = std::process::id().to_string();
    for dir in dirs {
        let procs = dir.join("cgroup.procs");
        fs::write(&procs, &pid).map_err(|e| format!("join cgroup {}: {e}", procs.display()))?;
    }
    Ok(())
}
