//! Process primitives for the helpers: fork, wait, signals, exec, descriptors, sealed copies.

use std::ffi::CString;
use std::fs;
use std::io::{Read, Write};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::Command;

use nix::errno::Errno;
use nix::sys::signal::{SigSet, SigmaskHow, Signal};
use nix::sys::wait::{WaitPidFlag, WaitStatus};
use nix::unistd::Pid;

use super::SysError;

/// The descriptor on which a helper reports to the adapter (`ready`, `pid N`, `error …`).
pub const STATUS_FD: RawFd = 3;

/// The signals a PID 1 forwards to its workload (tini's and the notes' list).
pub const FORWARDED: [Signal; 8] = [
    Signal::SIGTERM,
    Signal::SIGINT,
    Signal::SIGHUP,
    Signal::SIGQUIT,
    Signal::SIGUSR1,
    Signal::SIGUSR2,
    Signal::SIGWINCH,
    Signal::SIGCONT,
];

/// Which side of a fork we are on.
#[derive(Debug, PartialEq, Eq)]
pub enum Fork {
    /// The parent, with the child's pid.
    Parent(Pid),
    /// The child.
    Child,
}

/// How many threads this process has (from `/proc/self/status`).
pub fn thread_count() -> usize {
    fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines().find_map(|l| {
                l.strip_prefix("Threads:")
                    .and_then(|v| v.trim().parse().ok())
            })
        })
        .unwrap_or(0)
}

static SINGLE_THREADED: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// Records that this process was checked to be single-threaded and starts no thread: the
/// helpers call it on entry. (Later checks could not read `/proc/self` once the helper has
/// entered a container's mount namespace, whose `/proc` belongs to another PID namespace.)
pub fn mark_single_threaded() -> bool {
    let single = thread_count() == 1;
    SINGLE_THREADED.store(single, std::sync::atomic::Ordering::SeqCst);
    single
}

/// `fork(2)`, for single-threaded helpers only.
///
/// Refuses unless [`mark_single_threaded`] found one thread: after a fork only the calling
/// thread exists, and a lock another thread held (the allocator's) would never be released.
pub fn fork() -> Result<Fork, SysError> {
    if !SINGLE_THREADED.load(std::sync::atomic::Ordering::SeqCst) {
        return Err(SysError::new(
            "fork",
            "multi-threaded process",
            Errno::EPERM,
        ));
    }
    // SAFETY: the process has exactly one thread (checked above), so the child is a faithful
    // copy with no lock held by a thread that no longer exists; the helpers run ordinary Rust
    // in the child, which is sound in that case.
    match unsafe { nix::unistd::fork() } {
        Ok(nix::unistd::ForkResult::Parent { child }) => Ok(Fork::Parent(child)),
        Ok(nix::unistd::ForkResult::Child) => Ok(Fork::Child),
        Err(errno) => Err(SysError::new("fork", "", errno)),
    }
}

/// The exit code a shell would report for a wait status: the code, or 128 + the signal.
pub fn exit_code(status: WaitStatus) -> Option<i32> {
    match status {
        WaitStatus::Exited(_, code) => Some(code),
        WaitStatus::Signaled(_, signal, _) => Some(128 + signal as i32),
        _ => None,
    }
}

/// Reaps one exited child without blocking: its pid and exit code.
pub fn reap_any() -> Option<(Pid, i32)> {
    loop {
        match nix::sys::wait::waitpid(Pid::from_raw(-1), Some(WaitPidFlag::WNOHANG)) {
            Ok(WaitStatus::StillAlive) | Err(Errno::ECHILD) => return None,
            Ok(status) => {
                if let (Some(pid), Some(code)) = (status.pid(), exit_code(status)) {
                    return Some((pid, code));
                }
            }
            Err(Errno::EINTR) => continue,
            Err(_) => return None,
        }
    }
}

/// The set of signals a supervising helper waits for: SIGCHLD and the forwarded ones.
pub fn supervised_signals() -> SigSet {
    let mut set = SigSet::empty();
    set.add(Signal::SIGCHLD);
    for s in FORWARDED {
        set.add(s);
    }
    set
}

/// Blocks `set` so that its signals queue until [`wait_signal`] takes them.
pub fn block(set: &SigSet) -> Result<(), SysError> {
    nix::sys::signal::sigprocmask(SigmaskHow::SIG_BLOCK, Some(set), None)
        .map_err(|e| SysError::new("sigprocmask", "block", e))
}

/// Unblocks every signal (the workload starts with an empty mask, as after a plain exec).
pub fn unblock_all() -> Result<(), SysError> {
    nix::sys::signal::sigprocmask(SigmaskHow::SIG_SETMASK, Some(&SigSet::empty()), None)
        .map_err(|e| SysError::new("sigprocmask", "unblock", e))
}

/// Resets every signal's disposition to the default. Ignored signals stay ignored across
/// `execve` (the Rust runtime ignores SIGPIPE), so the workload must not inherit that.
pub fn reset_signal_dispositions() {
    for signal in Signal::iterator() {
        if matches!(signal, Signal::SIGKILL | Signal::SIGSTOP) {
            continue;
        }
        // SAFETY: installing SIG_DFL involves no handler code, so no async-signal-safety
        // question arises; the previous disposition is discarded.
        let _ = unsafe { nix::sys::signal::signal(signal, nix::sys::signal::SigHandler::SigDfl) };
    }
}

/// Waits for one of the blocked signals in `set`.
pub fn wait_signal(set: &SigSet) -> Result<Signal, SysError> {
    set.wait().map_err(|e| SysError::new("sigwait", "", e))
}

/// Supervises `main`: forwards the signals of [`FORWARDED`] to it, reaps every child (PID 1's
/// duty), and returns `main`'s exit code once it has exited. The signals must be blocked.
pub fn supervise(main: Pid) -> i32 {
    let set = supervised_signals();
    loop {
        while let Some((pid, code)) = reap_any() {
            if pid == main {
                return code;
            }
        }
        match wait_signal(&set) {
            Ok(Signal::SIGCHLD) | Err(_) => {}
            Ok(signal) => {
                let _ = nix::sys::signal::kill(main, signal);
            }
        }
    }
}

/// Sends `signal` to `pid`; a process that is already gone is not an error.
pub fn kill(pid: i32, signal: Signal) -> Result<(), SysError> {
    match nix::sys::signal::kill(Pid::from_raw(pid), signal) {
        Ok(()) | Err(Errno::ESRCH) => Ok(()),
        Err(e) => Err(SysError::new("kill", pid, e)),
    }
}

/// Whether `pid` names a live process (a zombie counts as gone).
pub fn is_alive(pid: i32) -> bool {
    match fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => {
            // The state follows the command name in parentheses, which may contain spaces.
            let state = stat
                .rsplit_once(')')
                .and_then(|(_, rest)| rest.trim_start().chars().next());
            !matches!(state, Some('Z') | Some('X') | None)
        }
        Err(_) => false,
    }
}

/// `execve(2)`; returns only on failure.
pub fn exec(path: &Path, argv: &[String], env: &[(String, String)]) -> SysError {
    let c = |s: &str| CString::new(s).map_err(|_| SysError::new("execve", s, Errno::EINVAL));
    let prog = match c(&path.to_string_lossy()) {
        Ok(p) => p,
        Err(e) => return e,
    };
    let args: Result<Vec<CString>, _> = argv.iter().map(|a| c(a)).collect();
    let envs: Result<Vec<CString>, _> = env.iter().map(|(k, v)| c(&format!("{k}={v}"))).collect();
    match (args, envs) {
        (Ok(args), Ok(envs)) => match nix::unistd::execve(&prog, &args, &envs) {
            Err(e) => SysError::new("execve", path.display(), e),
            Ok(never) => match never {},
        },
        (Err(e), _) | (_, Err(e)) => e,
    }
}

/// Marks every descriptor from 3 up close-on-exec (`close_range(3, ~0, CLOSE_RANGE_CLOEXEC)`),
/// so the workload inherits only stdin, stdout and stderr (CVE-2024-21626).
pub fn cloexec_extra_fds() -> Result<(), SysError> {
    // SAFETY: close_range takes integers only; with CLOSE_RANGE_CLOEXEC it closes nothing now,
    // so no descriptor that Rust code still owns is invalidated.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_close_range,
            3u32,
            u32::MAX,
            libc::CLOSE_RANGE_CLOEXEC,
        )
    };
    if rc == 0 {
        return Ok(());
    }
    // Before Linux 5.11: set FD_CLOEXEC one descriptor at a time.
    let entries = fs::read_dir("/proc/self/fd")
        .map_err(|_| SysError::new("close_range", "", Errno::last()))?;
    let fds: Vec<RawFd> = entries
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse().ok())
        .filter(|fd| *fd >= 3)
        .collect();
    for fd in fds {
        // SAFETY: F_SETFD with FD_CLOEXEC on a descriptor number changes a flag only; a number
        // that was the directory iterator's (now closed) fails harmlessly with EBADF.
        unsafe { libc::fcntl(fd, libc::F_SETFD, libc::FD_CLOEXEC) };
    }
    Ok(())
}

/// Names the calling thread (what `ps` and `/proc/<pid>/comm` show; 15 bytes at most).
pub fn set_name(name: &str) {
    if let Ok(c) = CString::new(name) {
        let _ = nix::sys::prctl::set_name(&c);
    }
}

/// Makes the process non-dumpable: no core dumps, `/proc/<pid>` owned by root, no ptrace from
/// the container (CVE-2019-5736's second half).
pub fn set_not_dumpable() {
    let _ = nix::sys::prctl::set_dumpable(false);
}

/// The status descriptor a helper inherited, if it has one.
pub fn status_fd() -> Option<fs::File> {
    // fcntl(F_GETFD) tells whether the descriptor is open without touching it.
    // SAFETY: F_GETFD takes no pointer.
    if unsafe { libc::fcntl(STATUS_FD, libc::F_GETFD) } < 0 {
        return None;
    }
    // SAFETY: descriptor 3 is open (checked above) and, by the helper protocol, is the status
    // pipe that the adapter handed to this process alone; we take ownership of it here, once.
    Some(unsafe { fs::File::from_raw_fd(STATUS_FD) })
}

/// Writes one status line (`ready`, `pid 42`, `error …`) to the adapter; best effort.
pub fn report(status: &mut Option<fs::File>, line: &str) {
    if let Some(f) = status {
        let _ = f.write_all(format!("{line}\n").as_bytes());
    }
}

/// A pipe whose read end the adapter keeps and whose write end a helper gets as fd 3.
pub fn status_pipe() -> Result<(fs::File, OwnedFd), SysError> {
    let (r, w) = nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC)
        .map_err(|e| SysError::new("pipe2", "status", e))?;
    Ok((fs::File::from(r), w))
}

/// Arranges for `cmd`'s child to get `fd` as descriptor 3 (the status pipe) and to run in its
/// own process group (so a probe and all it started can be killed together).
pub fn pass_status_fd(cmd: &mut Command, fd: OwnedFd) {
    let raw = fd.as_raw_fd();
    // SAFETY: the closure runs in the child between fork and exec, where only
    // async-signal-safe calls are allowed: it calls dup2 and fcntl, both of which are. The
    // descriptor `raw` stays open in the parent until `cmd` is dropped (we move `fd` into the
    // closure), so it is valid in the child.
    unsafe {
        cmd.pre_exec(move || {
            let _keep = &fd;
            if raw == STATUS_FD {
                // Already in place: only clear close-on-exec.
                if libc::fcntl(raw, libc::F_SETFD, 0) < 0 {
                    return Err(std::io::Error::last_os_error());
                }
            } else if libc::dup2(raw, STATUS_FD) < 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
}

/// Reads a status pipe to its end (every holder of the write end closed it or exited).
pub fn read_status(mut pipe: fs::File) -> String {
    let mut out = String::new();
    let _ = pipe.read_to_string(&mut out);
    out
}

/// Copies the executable at `path` into a sealed memory file (`memfd_create`, then
/// `F_SEAL_WRITE|SHRINK|GROW|SEAL`), so a container that reaches the helper's `/proc/<pid>/exe`
/// cannot overwrite the host's binary (CVE-2019-5736; youki uses pentacle for the same).
pub fn sealed_copy(path: &Path) -> Result<OwnedFd, SysError> {
    use nix::sys::memfd::{memfd_create, MFdFlags};
    let fd = memfd_create(
        c"flotilla-runtime",
        MFdFlags::MFD_CLOEXEC | MFdFlags::MFD_ALLOW_SEALING,
    )
    .map_err(|e| SysError::new("memfd_create", path.display(), e))?;
    let mut src = fs::File::open(path).map_err(|e| SysError::io("open", path.display(), &e))?;
    let mut dst = fs::File::from(fd);
    std::io::copy(&mut src, &mut dst).map_err(|e| SysError::io("copy", path.display(), &e))?;
    let seals = libc::F_SEAL_SEAL | libc::F_SEAL_SHRINK | libc::F_SEAL_GROW | libc::F_SEAL_WRITE;
    // SAFETY: F_ADD_SEALS takes an integer argument; `dst` is an open memfd.
    if unsafe { libc::fcntl(dst.as_raw_fd(), libc::F_ADD_SEALS, seals) } < 0 {
        return Err(SysError::new(
            "fcntl F_ADD_SEALS",
            path.display(),
            Errno::last(),
        ));
    }
    Ok(OwnedFd::from(dst))
}

/// Waits until one of `pids` (children of this process, not yet reaped) has exited, or until
/// `timeout` has passed; reaps nothing. Returns whether one has exited. With no pid it just
/// sleeps for `timeout`.
///
/// Each pid is watched through a pidfd (`pidfd_open(2)`, Linux 5.3), which becomes readable
/// when the process exits: no polling interval, no SIGCHLD handler. On a kernel without
/// pidfds it sleeps a millisecond at most and returns false, so a caller's loop still turns.
pub fn wait_any_exit(pids: &[i32], timeout: std::time::Duration) -> bool {
    if pids.is_empty() {
        std::thread::sleep(timeout);
        return false;
    }
    let mut fds = Vec::with_capacity(pids.len());
    for pid in pids {
        // SAFETY: pidfd_open takes two integers and returns a new descriptor or -1; the
        // descriptor is owned by the OwnedFd below and closed exactly once.
        let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, *pid, 0) };
        if fd < 0 {
            if Errno::last() == Errno::ESRCH {
                // Already gone (and so exited).
                return true;
            }
            std::thread::sleep(timeout.min(std::time::Duration::from_millis(1)));
            return false;
        }
        // SAFETY: `fd` was just returned by pidfd_open and nothing else owns it.
        fds.push(unsafe { OwnedFd::from_raw_fd(fd as RawFd) });
    }
    let mut polled: Vec<libc::pollfd> = fds
        .iter()
        .map(|fd| libc::pollfd {
            fd: fd.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        })
        .collect();
    let ms = libc::c_int::try_from(timeout.as_millis()).unwrap_or(libc::c_int::MAX);
    // SAFETY: `polled` is a live, correctly sized array of pollfd for the duration of the call,
    // and every descriptor in it stays open (owned by `fds`) until after it returns.
    let n = unsafe { libc::poll(polled.as_mut_ptr(), polled.len() as libc::nfds_t, ms) };
    n > 0
}

/// Makes descriptors 1 and 2 copies of `fd` (the container log pipe), without close-on-exec,
/// so that every process started from here writes there.
pub fn stdout_stderr_to(fd: &impl AsRawFd) -> Result<(), SysError> {
    for target in [1, 2] {
        // SAFETY: dup2 takes integers; `fd` is open for the duration of the call, and the
        // descriptors it replaces (1 and 2) are owned by no Rust value in the helpers.
        if unsafe { libc::dup2(fd.as_raw_fd(), target) } < 0 {
            return Err(SysError::new("dup2", target, Errno::last()));
        }
    }
    Ok(())
}

/// Points descriptors 1 and 2 at `/dev/null` (closing what they were).
pub fn stdout_stderr_to_null() -> Result<(), SysError> {
    let null = fs::OpenOptions::new()
        .write(true)
        .open("/dev/null")
        .map_err(|e| SysError::io("open", "/dev/null", &e))?;
    stdout_stderr_to(&null)
}

/// Waits for child `pid` to exit (reaping it); returns at once if it is already gone.
pub fn wait_for(pid: Pid) {
    loop {
        match nix::sys::wait::waitpid(pid, None) {
            Err(Errno::EINTR) => continue,
            Ok(WaitStatus::Exited(..) | WaitStatus::Signaled(..)) | Err(_) => return,
            Ok(_) => continue,
        }
    }
}
