//! The Linux seam: every system call the runtime makes goes through here.
//!
//! The [`Syscall`] trait covers the calls whose order matters and that unit tests want to see
//! (mounts, `pivot_root`, namespaces, identities, capabilities): [`LinuxSyscall`] makes them for
//! real and `fake::RecordingSyscall` (unit tests only) records them, as youki's `Syscall` and
//! `TestHelperSyscall` do. The process primitives a helper needs around them (fork, wait,
//! signals, exec) are free functions in [`process`], because a recording of a fork would prove
//! nothing.
//!
//! This module and its children are the only places with `unsafe` in the crate; each block says
//! why it is sound.

#![allow(unsafe_code)]

#[cfg(test)]
pub mod fake;
pub mod process;

use std::fmt;
use std::fs;
use std::os::fd::AsRawFd;
use std::os::unix::fs::{DirBuilderExt, FileTypeExt, MetadataExt};
use std::path::{Path, PathBuf};

use nix::errno::Errno;
pub use nix::mount::{MntFlags, MsFlags};
pub use nix::sched::CloneFlags;

/// A failed system call: which call, on what, and the kernel's error number.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{call} {target}: {errno}")]
pub struct SysError {
    /// The call (`mount`, `pivot_root`, …).
    pub call: &'static str,
    /// What it was applied to (a path, or a short description).
    pub target: String,
    /// The error number the kernel returned.
    pub errno: Errno,
}

impl SysError {
    /// A failed `call` on `target`.
    pub fn new(call: &'static str, target: impl fmt::Display, errno: Errno) -> SysError {
        SysError {
            call,
            target: target.to_string(),
            errno,
        }
    }

    fn io(call: &'static str, target: impl fmt::Display, err: &std::io::Error) -> SysError {
        let errno = err
            .raw_os_error()
            .map(Errno::from_raw)
            .unwrap_or(Errno::EIO);
        SysError::new(call, target, errno)
    }
}

/// What a path is, as `lstat` sees it (symbolic links are not followed).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FileKind {
    /// A directory.
    Dir,
    /// A regular file.
    File,
    /// A symbolic link.
    Symlink,
    /// A character device with its major and minor numbers.
    CharDevice(u64, u64),
    /// Anything else (a socket, a fifo, a block device).
    Other,
}

/// The capability sets of a process (bit `n` is capability `n`, as in `/proc/self/status`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CapSets {
    /// The effective set.
    pub effective: u64,
    /// The permitted set.
    pub permitted: u64,
    /// The inheritable set (always empty here: CVE-2022-29162).
    pub inheritable: u64,
}

/// The system calls whose sequence the runtime's logic decides (youki's `Syscall`).
///
/// Paths are taken as given: the caller resolves them (inside the new root after `pivot_root`).
pub trait Syscall {
    /// `mount(2)`.
    fn mount(
        &self,
        source: Option<&Path>,
        target: &Path,
        fstype: Option<&str>,
        flags: MsFlags,
        data: Option<&str>,
    ) -> Result<(), SysError>;
    /// `umount2(2)`.
    fn umount2(&self, target: &Path, flags: MntFlags) -> Result<(), SysError>;
    /// `pivot_root(2)`.
    fn pivot_root(&self, new_root: &Path, put_old: &Path) -> Result<(), SysError>;
    /// `chdir(2)`.
    fn chdir(&self, path: &Path) -> Result<(), SysError>;
    /// `mkdir -p` with `mode` for the directories it creates.
    fn mkdir_all(&self, path: &Path, mode: u32) -> Result<(), SysError>;
    /// Creates an empty regular file (a bind-mount target) unless something is already there.
    fn create_file(&self, path: &Path) -> Result<(), SysError>;
    /// `symlink(2)`: makes `link` point at `target`.
    fn symlink(&self, target: &Path, link: &Path) -> Result<(), SysError>;
    /// What `path` is (`lstat(2)`), `None` when it does not exist.
    fn file_kind(&self, path: &Path) -> Option<FileKind>;
    /// `unshare(2)`.
    fn unshare(&self, flags: CloneFlags) -> Result<(), SysError>;
    /// `setns(2)` into the namespace file at `path` (`/proc/<pid>/ns/net`).
    fn setns(&self, path: &Path, flags: CloneFlags) -> Result<(), SysError>;
    /// `sethostname(2)`.
    fn sethostname(&self, name: &str) -> Result<(), SysError>;
    /// Brings the loopback interface of the current network namespace up.
    fn loopback_up(&self) -> Result<(), SysError>;
    /// Drops every capability not in `keep` from the bounding set (needs CAP_SETPCAP).
    fn drop_bounding_set(&self, keep: u64) -> Result<(), SysError>;
    /// The current bounding set.
    fn bounding_set(&self) -> u64;
    /// `capset(2)` on the calling thread.
    fn set_capabilities(&self, sets: CapSets) -> Result<(), SysError>;
    /// Empties the ambient set.
    fn clear_ambient(&self) -> Result<(), SysError>;
    /// `PR_SET_NO_NEW_PRIVS`.
    fn set_no_new_privs(&self) -> Result<(), SysError>;
    /// `setgroups`, `setresgid`, `setresuid`, in that order.
    fn set_identity(&self, uid: u32, gid: u32, groups: &[u32]) -> Result<(), SysError>;
}

/// The real [`Syscall`]s.
#[derive(Clone, Copy, Debug, Default)]
pub struct LinuxSyscall;

fn ctx<T>(r: nix::Result<T>, call: &'static str, target: impl fmt::Display) -> Result<T, SysError> {
    r.map_err(|errno| SysError::new(call, target, errno))
}

/// `_LINUX_CAPABILITY_VERSION_3` (linux/capability.h).
const CAP_VERSION_3: u32 = 0x2008_0522;

#[repr(C)]
struct CapHeader {
    version: u32,
    pid: libc::c_int,
}

#[repr(C)]
#[derive(Clone, Copy, Default)]
struct CapData {
    effective: u32,
    permitted: u32,
    inheritable: u32,
}

/// The highest capability number the kernel knows.
pub fn last_capability() -> u32 {
    fs::read_to_string("/proc/sys/kernel/cap_last_cap")
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(40)
}

impl Syscall for LinuxSyscall {
    fn mount(
        &self,
        source: Option<&Path>,
        target: &Path,
        fstype: Option<&str>,
        flags: MsFlags,
        data: Option<&str>,
    ) -> Result<(), SysError> {
        ctx(
            nix::mount::mount(source, target, fstype, flags, data),
            "mount",
            target.display(),
        )
    }

    fn umount2(&self, target: &Path, flags: MntFlags) -> Result<(), SysError> {
        ctx(
            nix::mount::umount2(target, flags),
            "umount2",
            target.display(),
        )
    }

    fn pivot_root(&self, new_root: &Path, put_old: &Path) -> Result<(), SysError> {
        ctx(
            nix::unistd::pivot_root(new_root, put_old),
            "pivot_root",
            new_root.display(),
        )
    }

    fn chdir(&self, path: &Path) -> Result<(), SysError> {
        ctx(nix::unistd::chdir(path), "chdir", path.display())
    }

    fn mkdir_all(&self, path: &Path, mode: u32) -> Result<(), SysError> {
        fs::DirBuilder::new()
            .recursive(true)
            .mode(mode)
            .create(path)
            .map_err(|e| SysError::io("mkdir", path.display(), &e))
    }

    fn create_file(&self, path: &Path) -> Result<(), SysError> {
        if fs::symlink_metadata(path).is_ok() {
            return Ok(());
        }
        fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(path)
            .map(drop)
            .map_err(|e| SysError::io("create", path.display(), &e))
    }

    fn symlink(&self, target: &Path, link: &Path) -> Result<(), SysError> {
        std::os::unix::fs::symlink(target, link)
            .map_err(|e| SysError::io("symlink", link.display(), &e))
    }

    fn file_kind(&self, path: &Path) -> Option<FileKind> {
        let meta = fs::symlink_metadata(path).ok()?;
        let ft = meta.file_type();
        Some(if ft.is_dir() {
            FileKind::Dir
        } else if ft.is_file() {
            FileKind::File
        } else if ft.is_symlink() {
            FileKind::Symlink
        } else if ft.is_char_device() {
            let rdev = meta.rdev();
            FileKind::CharDevice(libc::major(rdev) as u64, libc::minor(rdev) as u64)
        } else {
            FileKind::Other
        })
    }

    fn unshare(&self, flags: CloneFlags) -> Result<(), SysError> {
        ctx(nix::sched::unshare(flags), "unshare", format!("{flags:?}"))
    }

    fn setns(&self, path: &Path, flags: CloneFlags) -> Result<(), SysError> {
        let file = fs::File::open(path).map_err(|e| SysError::io("open", path.display(), &e))?;
        ctx(nix::sched::setns(&file, flags), "setns", path.display())
    }

    fn sethostname(&self, name: &str) -> Result<(), SysError> {
        ctx(nix::unistd::sethostname(name), "sethostname", name)
    }

    fn loopback_up(&self) -> Result<(), SysError> {
        use nix::sys::socket::{socket, AddressFamily, SockFlag, SockType};
        let sock = ctx(
            socket(
                AddressFamily::Inet,
                SockType::Datagram,
                SockFlag::SOCK_CLOEXEC,
                None,
            ),
            "socket",
            "lo",
        )?;
        // SAFETY: `ifreq` is a plain C struct for which all-zero bytes are a valid value.
        let mut req: libc::ifreq = unsafe { std::mem::zeroed() };
        for (dst, src) in req.ifr_name.iter_mut().zip(b"lo\0") {
            *dst = *src as libc::c_char;
        }
        // SAFETY: SIOCGIFFLAGS reads the name and writes the flags of the `ifreq` we own; the
        // socket is open for the whole call.
        let rc = unsafe { libc::ioctl(sock.as_raw_fd(), libc::SIOCGIFFLAGS as _, &mut req) };
        if rc < 0 {
            return Err(SysError::new("ioctl SIOCGIFFLAGS", "lo", Errno::last()));
        }
        // SAFETY: the kernel filled `ifru_flags`, the union member SIOCGIFFLAGS defines.
        unsafe { req.ifr_ifru.ifru_flags |= (libc::IFF_UP | libc::IFF_RUNNING) as libc::c_short };
        // SAFETY: as above; SIOCSIFFLAGS only reads the struct.
        let rc = unsafe { libc::ioctl(sock.as_raw_fd(), libc::SIOCSIFFLAGS as _, &req) };
        if rc < 0 {
            return Err(SysError::new("ioctl SIOCSIFFLAGS", "lo", Errno::last()));
        }
        Ok(())
    }

    fn drop_bounding_set(&self, keep: u64) -> Result<(), SysError> {
        for cap in 0..=last_capability().min(63) {
            if keep & (1 << cap) != 0 {
                continue;
            }
            // SAFETY: prctl with PR_CAPBSET_DROP takes two integer arguments and no pointers.
            let rc = unsafe { libc::prctl(libc::PR_CAPBSET_DROP, cap as libc::c_ulong, 0, 0, 0) };
            if rc < 0 {
                let errno = Errno::last();
                // EINVAL: a capability this kernel does not know.
                if errno != Errno::EINVAL {
                    return Err(SysError::new("prctl PR_CAPBSET_DROP", cap, errno));
                }
            }
        }
        Ok(())
    }

    fn bounding_set(&self) -> u64 {
        let mut set = 0u64;
        for cap in 0..=last_capability().min(63) {
            // SAFETY: prctl with PR_CAPBSET_READ takes one integer argument and no pointers.
            if unsafe { libc::prctl(libc::PR_CAPBSET_READ, cap as libc::c_ulong, 0, 0, 0) } == 1 {
                set |= 1 << cap;
            }
        }
        set
    }

    fn set_capabilities(&self, sets: CapSets) -> Result<(), SysError> {
        let mut header = CapHeader {
            version: CAP_VERSION_3,
            pid: 0,
        };
        let split = |v: u64| (v as u32, (v >> 32) as u32);
        let (e0, e1) = split(sets.effective);
        let (p0, p1) = split(sets.permitted);
        let (i0, i1) = split(sets.inheritable);
        let data = [
            CapData {
                effective: e0,
                permitted: p0,
                inheritable: i0,
            },
            CapData {
                effective: e1,
                permitted: p1,
                inheritable: i1,
            },
        ];
        // SAFETY: capset(2) with a version-3 header reads exactly two `CapData` structs, which
        // `data` holds; both live across the call.
        let rc = unsafe { libc::syscall(libc::SYS_capset, &mut header, data.as_ptr()) };
        if rc < 0 {
            return Err(SysError::new(
                "capset",
                format!("{:#x}", sets.effective),
                Errno::last(),
            ));
        }
        Ok(())
    }

    fn clear_ambient(&self) -> Result<(), SysError> {
        // SAFETY: prctl with PR_CAP_AMBIENT_CLEAR_ALL takes integer arguments only.
        let rc = unsafe {
            libc::prctl(
                libc::PR_CAP_AMBIENT,
                libc::PR_CAP_AMBIENT_CLEAR_ALL as libc::c_ulong,
                0,
                0,
                0,
            )
        };
        if rc < 0 {
            return Err(SysError::new(
                "prctl PR_CAP_AMBIENT",
                "clear all",
                Errno::last(),
            ));
        }
        Ok(())
    }

    fn set_no_new_privs(&self) -> Result<(), SysError> {
        ctx(
            nix::sys::prctl::set_no_new_privs(),
            "prctl PR_SET_NO_NEW_PRIVS",
            "1",
        )
    }

    fn set_identity(&self, uid: u32, gid: u32, groups: &[u32]) -> Result<(), SysError> {
        use nix::unistd::{setgroups, setresgid, setresuid, Gid, Uid};
        let groups: Vec<Gid> = groups.iter().map(|g| Gid::from_raw(*g)).collect();
        ctx(setgroups(&groups), "setgroups", format!("{groups:?}"))?;
        let g = Gid::from_raw(gid);
        ctx(setresgid(g, g, g), "setresgid", gid)?;
        let u = Uid::from_raw(uid);
        ctx(setresuid(u, u, u), "setresuid", uid)
    }
}

/// Joins `paths` under `root` (an absolute `paths` entry is taken relative to `root`).
pub fn in_root(root: &Path, path: &Path) -> PathBuf {
    root.join(path.strip_prefix("/").unwrap_or(path))
}
