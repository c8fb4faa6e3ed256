//! The pod sandbox (Kubernetes' "pause" container): holds the pod's namespaces open, and
//! connects the pod's network namespace to the pod network when the runtime has one.

use std::fs::File;
use std::path::Path;

use nix::sys::signal::Signal;

use crate::network;
use crate::spec::SandboxSpec;
use crate::sys::{process, CloneFlags, LinuxSyscall, Syscall};

/// The `sandbox` helper mode: returns the exit code.
pub fn main(spec_path: &Path, mut status: Option<File>) -> i32 {
    process::set_name("flotilla-pause");
    process::set_not_dumpable();
    let result = (|| -> Result<(), String> {
        let spec: SandboxSpec = super::read_spec(spec_path)?;
        super::join_cgroups(&spec.cgroup_dirs)?;
        let sys = LinuxSyscall;
        let flags = if spec.host_network {
            CloneFlags::CLONE_NEWIPC
        } else {
            CloneFlags::CLONE_NEWNET | CloneFlags::CLONE_NEWIPC | CloneFlags::CLONE_NEWUTS
        };
        // The host's network namespace stays open across the unshare: the pod's veth pair is
        // created from there, its pod end directly inside the new namespace.
        let host_netns = match (&spec.network, spec.host_network) {
            (Some(a), false) => Some(
                network::NamespacedIp::open_host(a.ip_command.clone())
                    .map_err(|e| e.to_string())?,
            ),
            _ => None,
        };
        sys.unshare(flags).map_err(|e| e.to_string())?;
        if !spec.host_network {
            sys.sethostname(&spec.hostname).map_err(|e| e.to_string())?;
            sys.loopback_up().map_err(|e| e.to_string())?;
        }
        if let (Some(host), Some(a)) = (host_netns, &spec.network) {
            let ops = host.with_pod().map_err(|e| e.to_string())?;
            let attached = network::attach_pod(&ops, a, &ops.pod_netns_path());
            // Whatever happened, the sandbox ends in the pod's namespace, the one containers
            // join through /proc/<pid>/ns/net.
            ops.enter_pod().map_err(|e| e.to_string())?;
            attached.map_err(|e| format!("pod network: {e}"))?;
        }
        process::block(&process::supervised_signals()).map_err(|e| e.to_string())?;
        Ok(())
    })();
    if let Err(e) = result {
        process::report(&mut status, &format!("error sandbox: {e}"));
        return 1;
    }
    process::report(&mut status, "ready");
    drop(status);
    let set = process::supervised_signals();
    loop {
        match process::wait_signal(&set) {
            Ok(Signal::SIGCHLD) => while process::reap_any().is_some() {},
            Ok(Signal::SIGTERM | Signal::SIGINT | Signal::SIGHUP | Signal::SIGQUIT) => return 0,
            _ => {}
        }
    }
}
