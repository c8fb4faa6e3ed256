//! A container: four processes, as with `runc`, an init and a log writer like conmon.
//!
//! 1. The *shim* (this helper, outside the container's PID namespace) joins the cgroups,
//!    forks the log writer, joins the sandbox's namespaces, unshares mount, PID and cgroup
//!    namespaces, forks, reports the child's pid, and waits for it, then for the log writer:
//!    its exit code is the container's, which the adapter reads.
//! 2. The *log writer* copies a pipe, the container's stdout and stderr, into the container's
//!    rotating log file ([`crate::logs`]) until the pipe's end.
//! 3. The child is PID 1 of the new namespace: it builds the root filesystem, forks the
//!    workload, forwards signals to it, reaps orphans, and exits with the workload's status
//!    (128 + n when signal n killed it). Its exit makes the kernel kill whatever is left in the
//!    namespace.
//! 4. The workload (PID 2) drops privileges and execs the container's command.

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
    if let Err(e) = super::join_cgroups(&spec.cgroup_dirs) {
        process::report(&mut status, &format!("error {e}"));
        return 1;
    }
    // The log writer first: outside the container's PID namespace, so that it outlives
    // PID 1 and copies every line written before the end.
    let logger = match &spec.log {
        Some(log) => match start_logger(log, &mut status) {
            Ok(pid) => Some(pid),
            Err(e) => {
                process::report(&mut status, &format!("error container log: {e}"));
                return 1;
            }
        },
        None => None,
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
            let code = process::supervise(pid);
            if let Some(logger) = logger {
                // Our copies of the pipe's write end go; the kernel has killed whatever was
                // left in the container, so the writer reads to the end and exits.
                let _ = process::stdout_stderr_to_null();
                process::wait_for(logger);
            }
            code
        }
    }
}

/// Forks the log writer (`flotilla-logger`): it copies a pipe into the rotating log file
/// until every holder of the pipe's write end has gone. The write end becomes this process's
/// stdout and stderr, which PID 1 and the workload inherit.
fn start_logger(
    log: &crate::logs::LogSpec,
    status: &mut Option<File>,
) -> Result<nix::unistd::Pid, String> {
    let writer = crate::logs::RotatingLog::open(log.clone())
        .map_err(|e| format!("{}: {e}", log.path.display()))?;
    let (read, write) = process::status_pipe().map_err(|e| e.to_string())?;
    match process::fork().map_err(|e| e.to_string())? {
        Fork::Child => {
            process::set_name("flotilla-logger");
            // Not the status pipe: the adapter reads it to its end.
            drop(status.take());
            drop(write);
            let code = match crate::logs::copy_into(read, writer) {
                Ok(()) => 0,
                Err(_) => 1,
            };
            std::process::exit(code)
        }
        Fork::Parent(pid) => {
            drop(read);
            drop(writer);
            process::stdout_stderr_to(&write).map_err(|e| e.to_string())?;
            Ok(pid)
        }
    }
}

fn enter_namespaces(spec: &ContainerSpec) -> Result<(), String> {
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
