//! A container: three processes, as with `runc` and an init.
//!
//! 1. The *shim* (this helper, outside the container's PID namespace) joins the cgroups and
//!    the sandbox's namespaces, unshares mount, PID and cgroup namespaces, forks, reports the
//!    child's pid, and waits for it: its exit code is the container's, which the adapter reads.
//! 2. The child is PID 1 of the new namespace: it builds the root filesystem, forks the
//!    workload, forwards signals to it, reaps orphans, and exits with the workload's status
//!    (128 + n when signal n killed it). Its exit makes the kernel kill whatever is left in the
//!    namespace.
//! 3. The workload (PID 2) drops privileges and execs the container's command.

use std::fs::File;
use std::path::Path;

use crate::spec::{ContainerSpec, ProcessSpec};
use crate::sys::process::{self, Fork};
use crate::sys::{CloneFlags, LinuxSyscall, Syscall};

/// The `container` helper mode (the shim): returns its exit code.
pub fn main(spec_path: &Path, mut status: Option<File>) -> i32 {
    process::set_name("flotilla-shim");
    process::set_not_dumpable();
    let spec: ContainerSpec = match super::read_spec(spec_path) {
        Ok(s) => s,
        Err(e) => {
            process::report(&mut status, &format!("error {e}"));
            return 1;
        }
    };
    if let Err(e) = enter_namespaces(&spec) {
        process::report(&mut status, &format!("error {e}"));
        return 1;
    }
    match process::fork() {
        Err(e) => {
            process::report(&mut status, &format!("error {e}"));
            1
        }
        Ok(Fork::Child) => init(&spec, status),
        Ok(Fork::Parent(pid)) => {
            process::report(&mut status, &format!("pid {pid}"));
            drop(status);
            process::supervise(pid)
        }
    }
}

fn enter_namespaces(spec: &ContainerSpec) -> Result<(), String> {
    super::join_cgroups(&spec.cgroup_dirs)?;
    let sys = LinuxSyscall;
    let ns = |name: &str| format!("/proc/{}/ns/{name}", spec.sandbox_pid);
    let mut joins = vec![("ipc", CloneFlags::CLONE_NEWIPC)];
    if !spec.host_network {
        joins.push(("uts", CloneFlags::CLONE_NEWUTS));
        joins.push(("net", CloneFlags::CLONE_NEWNET));
    }
    for (name, flag) in joins {
        sys.setns(Path::new(&ns(name)), flag)
            .map_err(|e| e.to_string())?;
    }
    sys.unshare(CloneFlags::CLONE_NEWNS | CloneFlags::CLONE_NEWPID | CloneFlags::CLONE_NEWCGROUP)
        .map_err(|e| e.to_string())?;
    process::block(&process::supervised_signals()).map_err(|e| e.to_string())
}

/// PID 1 of the container.
fn init(spec: &ContainerSpec, mut status: Option<File>) -> i32 {
    process::set_name("flotilla-init");
    if let Err(e) = crate::rootfs::prepare(&LinuxSyscall, &spec.rootfs) {
        process::report(&mut status, &format!("error rootfs: {e}"));
        return 1;
    }
    match process::fork() {
        Err(e) => {
            process::report(&mut status, &format!("error {e}"));
            1
        }
        Ok(Fork::Child) => exec_workload(&spec.process, status),
        Ok(Fork::Parent(pid)) => {
            drop(status);
            process::supervise(pid)
        }
    }
}

/// Becomes the workload: privileges, working directory, descriptors, seccomp, `execve`.
/// Returns only on failure, after reporting it on `status`.
pub(crate) fn exec_workload(p: &ProcessSpec, mut status: Option<File>) -> i32 {
    let _ = nix::unistd::setsid();
    let sys = LinuxSyscall;
    let result = (|| -> Result<std::convert::Infallible, crate::sys::SysError> {
        let program = crate::security::resolve(
            Path::new("/"),
            p.args.first().map(String::as_str).unwrap_or(""),
            &p.env,
        )?;
        crate::security::apply(&sys, p)?;
        crate::security::enter_cwd(&sys, &p.cwd)?;
        process::cloexec_extra_fds()?;
        if p.seccomp {
            crate::seccomp::install()?;
        }
        process::reset_signal_dispositions();
        process::unblock_all()?;
        Err(process::exec(&program, &p.args, &p.env))
    })();
    let Err(e) = result;
    process::report(&mut status, &format!("error {e}"));
    127
}
