//! A container's root filesystem, set up inside its new mount namespace by its PID 1: the
//! image's layers, the kernel filesystems, a minimal `/dev`, the pod's volumes, `pivot_root`,
//! then the masked and read-only paths, in the order runc and youki use.
//!
//! Volume mounts are resolved with [`open_beneath`]: one path component at a time with
//! `openat(O_PATH | O_NOFOLLOW)`, symbolic links read and resolved by hand, so that a link in
//! a volume cannot send a `subPath` out of it (CVE-2017-1002101; kubelet's
//! pkg/volume/util/subpath/subpath_linux.go `doSafeOpen` walks the same way) and a link in the
//! image cannot send a mount target onto the host. The mounts then name the opened
//! descriptors (`/proc/self/fd/N`), so nothing can swap a path between the check and the
//! mount.

use std::collections::VecDeque;
use std::ffi::{OsStr, OsString};
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use crate::spec::{RootfsSource, RootfsSpec, VolumeMountSpec};
use crate::sys::{in_root, FileKind, MntFlags, MsFlags, SysError, Syscall};
use nix::errno::Errno;
use nix::fcntl::{openat, readlinkat, OFlag, AT_FDCWD};
use nix::sys::stat::{fstat, mkdirat, Mode, SFlag};

/// Paths hidden from the container (containerd's `defaultMaskedPaths`): files are covered
/// with `/dev/null`, directories with an empty read-only tmpfs.
pub const MASKED_PATHS: [&str; 11] = [
    "/proc/acpi",
    "/proc/asound",
    "/proc/kcore",
    "/proc/keys",
    "/proc/latency_stats",
    "/proc/timer_list",
    "/proc/timer_stats",
    "/proc/sched_debug",
    "/proc/scsi",
    "/sys/firmware",
    "/sys/devices/virtual/powercap",
];

/// Paths made read-only (containerd's `defaultReadonlyPaths`).
pub const READONLY_PATHS: [&str; 5] = [
    "/proc/bus",
    "/proc/fs",
    "/proc/irq",
    "/proc/sys",
    "/proc/sysrq-trigger",
];

/// The device nodes bound from the host into the container's `/dev`.
pub const DEVICES: [&str; 6] = ["null", "zero", "full", "random", "urandom", "tty"];

fn nix_flags() -> MsFlags {
    MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC
}

/// Makes `dir` (inside the rootfs) a directory to mount on, refusing anything that is not
/// one: proc and sysfs must land on real directories (GHSA-fh74-hm69-rqjw).
fn real_dir(sys: &dyn Syscall, dir: &Path) -> Result<(), SysError> {
    match sys.file_kind(dir) {
        None => sys.mkdir_all(dir, 0o755),
        Some(FileKind::Dir) => Ok(()),
        Some(_) => Err(SysError::new("mount target", dir.display(), Errno::ENOTDIR)),
    }
}

/// How [`open_beneath`] treats what would leave its base directory.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Beneath {
    /// A volume: an absolute symbolic link, or `..` above the base, is refused (`EXDEV`).
    Volume,
    /// A container's root: the base is `/` (absolute links start again from it, `..` stops
    /// at it), as `chroot` and runc's securejoin resolve.
    Root,
}

/// A path opened by [`open_beneath`]: its descriptor stays open, and mount(2) names it
/// through [`path`](Resolved::path).
#[derive(Debug)]
pub struct Resolved {
    /// The path that names the opened file (`/proc/self/fd/N`).
    pub path: PathBuf,
    /// Whether it is a directory.
    pub is_dir: bool,
    /// The open descriptor (kept open as long as `path` is used).
    _fd: Option<OwnedFd>,
    /// The parent directory and the last name, to open again what a mount covers.
    parent: Option<(OwnedFd, OsString)>,
}

impl Resolved {
    /// A resolution that opened nothing (for the recording resolver in tests).
    pub fn named(path: PathBuf, is_dir: bool) -> Resolved {
        Resolved {
            path,
            is_dir,
            _fd: None,
            parent: None,
        }
    }

    fn open(fd: OwnedFd, is_dir: bool, parent: Option<(OwnedFd, OsString)>) -> Resolved {
        Resolved {
            path: PathBuf::from(format!("/proc/self/fd/{}", fd.as_raw_fd())),
            is_dir,
            _fd: Some(fd),
            parent,
        }
    }
}

/// The most symbolic links one resolution follows (the kernel's `MAXSYMLINKS`).
const MAX_SYMLINKS: usize = 40;

/// Opens `rel` beneath the directory `base` one component at a time, never letting the
/// kernel follow a symbolic link: each link is read and its target resolved by the same walk,
/// within `base` as `mode` says. With `create`, missing components are made: directories
/// (0755), and the last one a directory (`Some(true)`) or an empty file (`Some(false)`).
pub fn open_beneath(
    base: &Path,
    rel: &str,
    mode: Beneath,
    create: Option<bool>,
) -> Result<Resolved, SysError> {
    let shown = || format!("{}/{rel}", base.display());
    let err = |errno| SysError::new("open beneath", shown(), errno);
    let path_flags = OFlag::O_PATH | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC;
    let base_fd = openat(
        AT_FDCWD,
        base,
        path_flags | OFlag::O_DIRECTORY,
        Mode::empty(),
    )
    .map_err(|e| SysError::new("open", base.display(), e))?;
    let mut stack: Vec<OwnedFd> = vec![base_fd];
    let mut todo: VecDeque<OsString> = components(rel.as_bytes());
    let mut links = 0;
    let mut parent: Option<(OwnedFd, OsString)> = None;
    let mut file: Option<OwnedFd> = None;
    while let Some(name) = todo.pop_front() {
        if file.is_some() {
            return Err(err(Errno::ENOTDIR));
        }
        if name == ".." {
            if stack.len() > 1 {
                stack.pop();
            } else if mode == Beneath::Volume {
                return Err(err(Errno::EXDEV));
            }
            parent = None;
            continue;
        }
        let dir = stack.last().ok_or_else(|| err(Errno::EINVAL))?;
        let fd = match openat(dir, name.as_os_str(), path_flags, Mode::empty()) {
            Ok(fd) => fd,
            Err(Errno::ENOENT) if create.is_some() => {
                if todo.is_empty() && create == Some(false) {
                    let flags = OFlag::O_CREAT
                        | OFlag::O_EXCL
                        | OFlag::O_WRONLY
                        | OFlag::O_NOFOLLOW
                        | OFlag::O_CLOEXEC;
                    drop(
                        openat(
                            dir,
                            name.as_os_str(),
                            flags,
                            Mode::from_bits_truncate(0o644),
                        )
                        .map_err(err)?,
                    );
                } else {
                    mkdirat(dir, name.as_os_str(), Mode::from_bits_truncate(0o755)).map_err(err)?;
                }
                openat(dir, name.as_os_str(), path_flags, Mode::empty()).map_err(err)?
            }
            Err(e) => return Err(err(e)),
        };
        let kind = SFlag::from_bits_truncate(fstat(&fd).map_err(err)?.st_mode) & SFlag::S_IFMT;
        if kind == SFlag::S_IFLNK {
            links += 1;
            if links > MAX_SYMLINKS {
                return Err(err(Errno::ELOOP));
            }
            let target = readlinkat(dir, name.as_os_str()).map_err(err)?;
            let bytes = target.as_bytes();
            if bytes.starts_with(b"/") {
                if mode == Beneath::Volume {
                    return Err(err(Errno::EXDEV));
                }
                stack.truncate(1);
            }
            for c in components(bytes).into_iter().rev() {
                todo.push_front(c);
            }
            parent = None;
            continue;
        }
        let dup = dir
            .try_clone()
            .map_err(|e| SysError::new("dup", shown(), errno_of(&e)))?;
        parent = Some((dup, name));
        if kind == SFlag::S_IFDIR {
            stack.push(fd);
        } else {
            file = Some(fd);
        }
    }
    Ok(match file {
        Some(fd) => Resolved::open(fd, false, parent),
        None => {
            let fd = stack.pop().ok_or_else(|| err(Errno::EINVAL))?;
            Resolved::open(fd, true, parent)
        }
    })
}

/// Opens again the last component of `r` from its parent: after a mount on `r`, this is the
/// mount's root (a lookup by name crosses into the mount; the old descriptor does not).
pub fn reopen(r: &Resolved) -> Result<Resolved, SysError> {
    let Some((dir, name)) = &r.parent else {
        return Err(SysError::new("reopen", r.path.display(), Errno::EINVAL));
    };
    let flags = OFlag::O_PATH | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC;
    let fd = openat(dir, name.as_os_str(), flags, Mode::empty())
        .map_err(|e| SysError::new("reopen", r.path.display(), e))?;
    let parent = dir
        .try_clone()
        .map_err(|e| SysError::new("dup", r.path.display(), errno_of(&e)))?;
    Ok(Resolved::open(fd, r.is_dir, Some((parent, name.clone()))))
}

fn errno_of(e: &std::io::Error) -> Errno {
    e.raw_os_error().map(Errno::from_raw).unwrap_or(Errno::EIO)
}

/// The names of a path, without empty and `.` components.
fn components(path: &[u8]) -> VecDeque<OsString> {
    path.split(|b| *b == b'/')
        .filter(|c| !c.is_empty() && *c != b".")
        .map(|c| OsStr::from_bytes(c).to_os_string())
        .collect()
}

/// How volume paths are opened: for real with [`open_beneath`], or recorded in unit tests.
pub trait Resolver {
    /// [`open_beneath`].
    fn open(
        &self,
        base: &Path,
        rel: &str,
        mode: Beneath,
        create: Option<bool>,
    ) -> Result<Resolved, SysError>;
    /// [`reopen`].
    fn reopen(&self, r: &Resolved) -> Result<Resolved, SysError>;
}

/// The real [`Resolver`].
#[derive(Clone, Copy, Debug, Default)]
pub struct FdResolver;

impl Resolver for FdResolver {
    fn open(
        &self,
        base: &Path,
        rel: &str,
        mode: Beneath,
        create: Option<bool>,
    ) -> Result<Resolved, SysError> {
        open_beneath(base, rel, mode, create)
    }

    fn reopen(&self, r: &Resolved) -> Result<Resolved, SysError> {
        reopen(r)
    }
}

/// Binds one volume mount under `root` (kubelet_pods.go `makeMounts` and runc's bind mounts):
/// the source opened beneath the volume (a missing `subPath` directory is created, as the
/// kubelet's `SafeMakeDir` does), the target opened beneath the root (created as a directory
/// or an empty file, like the source), a recursive bind from descriptor to descriptor, and
/// for `readOnly` a remount of the new mount with `MS_RDONLY`.
pub fn mount_volume(
    sys: &dyn Syscall,
    resolver: &dyn Resolver,
    root: &Path,
    m: &VolumeMountSpec,
) -> Result<(), SysError> {
    let create_sub = (!m.sub_path.is_empty()).then_some(true);
    let source = resolver.open(&m.source, &m.sub_path, Beneath::Volume, create_sub)?;
    let target = resolver.open(root, &m.destination, Beneath::Root, Some(source.is_dir))?;
    sys.mount(
        Some(&source.path),
        &target.path,
        None,
        MsFlags::MS_BIND | MsFlags::MS_REC,
        None,
    )?;
    if m.read_only {
        let covered = resolver.reopen(&target)?;
        let flags = MsFlags::MS_BIND | MsFlags::MS_REMOUNT | MsFlags::MS_RDONLY;
        sys.mount(None, &covered.path, None, flags, None)?;
    }
    Ok(())
}

/// Sets up the root filesystem and enters it. Must run in a fresh mount namespace (and, for
/// `/proc` to show the container's processes, as a member of its PID namespace).
pub fn prepare(sys: &dyn Syscall, spec: &RootfsSpec) -> Result<(), SysError> {
    prepare_with(sys, &FdResolver, spec)
}

/// [`prepare`] with the volume paths opened by `resolver`.
pub fn prepare_with(
    sys: &dyn Syscall,
    resolver: &dyn Resolver,
    spec: &RootfsSpec,
) -> Result<(), SysError> {
    let root = &spec.mount_point;
    // Nothing we mount may propagate back to the host.
    sys.mount(
        None,
        Path::new("/"),
        None,
        MsFlags::MS_REC | MsFlags::MS_SLAVE,
        None,
    )?;
    match &spec.source {
        RootfsSource::Overlay { lower, upper, work } => {
            let data = format!(
                "lowerdir={},upperdir={},workdir={}",
                lower.display(),
                upper.display(),
                work.display()
            );
            let overlay = |options: &str| {
                sys.mount(
                    Some(Path::new("overlay")),
                    root,
                    Some("overlay"),
                    MsFlags::empty(),
                    Some(options),
                )
            };
            // `volatile` (Linux 5.10, Documentation/filesystems/overlayfs.rst): no sync of the
            // upper filesystem when the overlay goes, which is at the container's exit. The
            // upper layer is this run's scratch, deleted right after it, so nothing is lost;
            // without it, the exit waits for a sync of the whole host filesystem that holds
            // the state directory. Older kernels refuse the option: mount without it.
            match overlay(&format!("{data},volatile")) {
                Err(e) if e.errno == Errno::EINVAL => overlay(&data)?,
                other => other?,
            }
        }
        RootfsSource::Copy => {
            sys.mount(
                Some(root),
                root,
                None,
                MsFlags::MS_BIND | MsFlags::MS_REC,
                None,
            )?;
        }
    }
    mount_kernel_filesystems(sys, root, &spec.host_dev)?;
    if let Some(hosts) = &spec.etc_hosts {
        bind_etc_hosts(sys, root, hosts)?;
    }
    for m in &spec.mounts {
        mount_volume(sys, resolver, root, m)?;
    }
    enter(sys, root)?;
    mask_and_protect(sys)?;
    if spec.readonly {
        let flags = MsFlags::MS_BIND | MsFlags::MS_REMOUNT | MsFlags::MS_RDONLY;
        sys.mount(Some(Path::new("/")), Path::new("/"), None, flags, None)?;
    }
    Ok(())
}

fn mount_kernel_filesystems(
    sys: &dyn Syscall,
    root: &Path,
    host_dev: &Path,
) -> Result<(), SysError> {
    let proc_dir = in_root(root, Path::new("/proc"));
    real_dir(sys, &proc_dir)?;
    sys.mount(
        Some(Path::new("proc")),
        &proc_dir,
        Some("proc"),
        nix_flags(),
        None,
    )?;

    let dev = in_root(root, Path::new("/dev"));
    real_dir(sys, &dev)?;
    sys.mount(
        Some(Path::new("tmpfs")),
        &dev,
        Some("tmpfs"),
        MsFlags::MS_NOSUID | MsFlags::MS_STRICTATIME,
        Some("mode=755,size=65536k"),
    )?;
    for name in DEVICES {
        let target = dev.join(name);
        sys.create_file(&target)?;
        sys.mount(
            Some(&host_dev.join(name)),
            &target,
            None,
            MsFlags::MS_BIND,
            None,
        )?;
    }
    for (link, target) in [
        ("fd", "/proc/self/fd"),
        ("stdin", "/proc/self/fd/0"),
        ("stdout", "/proc/self/fd/1"),
        ("stderr", "/proc/self/fd/2"),
        ("ptmx", "pts/ptmx"),
    ] {
        sys.symlink(Path::new(target), &dev.join(link))?;
    }
    let pts = dev.join("pts");
    sys.mkdir_all(&pts, 0o755)?;
    sys.mount(
        Some(Path::new("devpts")),
        &pts,
        Some("devpts"),
        MsFlags::MS_NOSUID | MsFlags::MS_NOEXEC,
        Some("newinstance,ptmxmode=0666,mode=0620,gid=5"),
    )?;
    let shm = dev.join("shm");
    sys.mkdir_all(&shm, 0o1777)?;
    sys.mount(
        Some(Path::new("shm")),
        &shm,
        Some("tmpfs"),
        nix_flags(),
        Some("mode=1777,size=65536k"),
    )?;
    let mqueue = dev.join("mqueue");
    sys.mkdir_all(&mqueue, 0o755)?;
    sys.mount(
        Some(Path::new("mqueue")),
        &mqueue,
        Some("mqueue"),
        nix_flags(),
        None,
    )?;

    let sys_dir = in_root(root, Path::new("/sys"));
    real_dir(sys, &sys_dir)?;
    sys.mount(
        Some(Path::new("sysfs")),
        &sys_dir,
        Some("sysfs"),
        nix_flags() | MsFlags::MS_RDONLY,
        None,
    )
}

/// Bind-mounts the pod's hosts file onto `/etc/hosts` (the kubelet's `etc-hosts` mount,
/// pkg/kubelet/kubelet_pods.go `makeMounts`), before the pivot and before a read-only root is
/// remounted, so it stays writable in place by the runtime. `/etc` must be a real directory
/// and `/etc/hosts` a regular file or absent: a symbolic link from the image would redirect
/// the mount onto the host.
fn bind_etc_hosts(sys: &dyn Syscall, root: &Path, hosts: &Path) -> Result<(), SysError> {
    let etc = in_root(root, Path::new("/etc"));
    real_dir(sys, &etc)?;
    let target = etc.join("hosts");
    match sys.file_kind(&target) {
        None => sys.create_file(&target)?,
        Some(FileKind::File) => {}
        Some(_) => {
            return Err(SysError::new(
                "mount target",
                target.display(),
                Errno::EINVAL,
            ))
        }
    }
    sys.mount(Some(hosts), &target, None, MsFlags::MS_BIND, None)
}

/// `pivot_root(".", ".")` and detach the old root underneath (youki's `pivot_rootfs`).
fn enter(sys: &dyn Syscall, root: &Path) -> Result<(), SysError> {
    sys.chdir(root)?;
    sys.pivot_root(Path::new("."), Path::new("."))?;
    sys.mount(
        None,
        Path::new("."),
        None,
        MsFlags::MS_SLAVE | MsFlags::MS_REC,
        None,
    )?;
    sys.umount2(Path::new("."), MntFlags::MNT_DETACH)?;
    sys.chdir(Path::new("/"))
}

/// Masks [`MASKED_PATHS`] and makes [`READONLY_PATHS`] read-only, inside the new root.
fn mask_and_protect(sys: &dyn Syscall) -> Result<(), SysError> {
    let null = PathBuf::from("/dev/null");
    // CVE-2025-31133: only cover files with the real null device, never with whatever an
    // image put at that path.
    if sys.file_kind(&null) != Some(FileKind::CharDevice(1, 3)) {
        return Err(SysError::new(
            "mask",
            "/dev/null is not the null device",
            Errno::EPERM,
        ));
    }
    for path in MASKED_PATHS.iter().map(Path::new) {
        match sys.file_kind(path) {
            None => {}
            Some(FileKind::Dir) => sys.mount(
                Some(Path::new("tmpfs")),
                path,
                Some("tmpfs"),
                MsFlags::MS_RDONLY,
                Some("size=0"),
            )?,
            Some(_) => sys.mount(Some(&null), path, None, MsFlags::MS_BIND, None)?,
        }
    }
    for path in READONLY_PATHS.iter().map(Path::new) {
        if sys.file_kind(path).is_none() {
            continue;
        }
        sys.mount(
            Some(path),
            path,
            None,
            MsFlags::MS_BIND | MsFlags::MS_REC,
            None,
        )?;
        let flags = MsFlags::MS_BIND | MsFlags::MS_REMOUNT | MsFlags::MS_RDONLY | nix_flags();
        sys.mount(Some(path), path, None, flags, None)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sys::fake::{Call, RecordingSyscall};

    fn spec(source: RootfsSource, readonly: bool) -> RootfsSpec {
        RootfsSpec {
            mount_point: "/state/pod/ctr/rootfs".into(),
            source,
            readonly,
            host_dev: "/dev".into(),
            etc_hosts: None,
            mounts: Vec::new(),
        }
    }

    fn fake() -> RecordingSyscall {
        let mut sys = RecordingSyscall::default();
        sys.kinds
            .insert("/dev/null".into(), FileKind::CharDevice(1, 3));
        sys.kinds.insert("/proc/kcore".into(), FileKind::File);
        sys.kinds.insert("/proc/acpi".into(), FileKind::Dir);
        sys.kinds.insert("/proc/sys".into(), FileKind::Dir);
        sys.kinds
            .insert("/state/pod/ctr/rootfs/proc".into(), FileKind::Dir);
        sys
    }

    #[test]
    fn overlay_then_kernel_filesystems_then_pivot_then_masks() {
        let sys = fake();
        let overlay = RootfsSource::Overlay {
            lower: "/images/busybox/latest/rootfs".into(),
            upper: "/state/pod/ctr/upper".into(),
            work: "/state/pod/ctr/work".into(),
        };
        prepare(&sys, &spec(overlay, false)).expect("prepared");
        let calls = sys.calls.borrow();
        assert_eq!(
            calls[0],
            Call::Mount(
                None,
                "/".into(),
                None,
                MsFlags::MS_REC | MsFlags::MS_SLAVE,
                None
            )
        );
        assert_eq!(
            calls[1],
            Call::Mount(
                Some("overlay".into()),
                "/state/pod/ctr/rootfs".into(),
                Some("overlay".into()),
                MsFlags::empty(),
                Some("lowerdir=/images/busybox/latest/rootfs,upperdir=/state/pod/ctr/upper,workdir=/state/pod/ctr/work,volatile".into()),
            )
        );
        let pivot = calls
            .iter()
            .position(|c| matches!(c, Call::PivotRoot(..)))
            .expect("pivot");
        let proc_mount = calls
            .iter()
            .position(|c| matches!(c, Call::Mount(_, t, Some(fs), ..) if fs == "proc" && t.ends_with("rootfs/proc")))
            .expect("proc mounted");
        let kcore = calls
            .iter()
            .position(|c| matches!(c, Call::Mount(Some(s), t, None, ..) if s == Path::new("/dev/null") && t == Path::new("/proc/kcore")))
            .expect("kcore masked");
        assert!(proc_mount < pivot && pivot < kcore);
        // The old root is detached right after the pivot.
        assert_eq!(
            calls[pivot + 2],
            Call::Umount(".".into(), MntFlags::MNT_DETACH)
        );
        // Directories are masked with tmpfs, missing paths are skipped.
        assert!(calls.iter().any(|c| matches!(c, Call::Mount(_, t, Some(fs), ..) if fs == "tmpfs" && t == Path::new("/proc/acpi"))));
        assert!(!sys.mount_targets().contains(&PathBuf::from("/proc/keys")));
        // /proc/sys is bound and remounted read-only.
        let ro: Vec<_> = calls
            .iter()
            .filter(|c| matches!(c, Call::Mount(_, t, _, f, _) if t == Path::new("/proc/sys") && f.contains(MsFlags::MS_RDONLY)))
            .collect();
        assert_eq!(ro.len(), 1);
        // Every device is bound from the host.
        for d in DEVICES {
            let target = PathBuf::from("/state/pod/ctr/rootfs/dev").join(d);
            assert!(sys.mount_targets().contains(&target), "{d}");
        }
    }

    #[test]
    fn readonly_root_is_remounted_last() {
        let sys = fake();
        prepare(&sys, &spec(RootfsSource::Copy, true)).expect("prepared");
        let calls = sys.calls.borrow();
        assert!(
            matches!(&calls[1], Call::Mount(Some(s), t, None, f, None) if s == t && f.contains(MsFlags::MS_BIND))
        );
        assert!(
            matches!(calls.last(), Some(Call::Mount(_, t, _, f, _)) if t == Path::new("/") && f.contains(MsFlags::MS_RDONLY))
        );
    }

    #[test]
    fn the_pods_hosts_file_is_bound_onto_etc_hosts_before_the_pivot() {
        let sys = fake();
        let mut spec = spec(RootfsSource::Copy, true);
        spec.etc_hosts = Some("/state/pod/etc-hosts".into());
        prepare(&sys, &spec).expect("prepared");
        let calls = sys.calls.borrow();
        let target = PathBuf::from("/state/pod/ctr/rootfs/etc/hosts");
        let bind = calls
            .iter()
            .position(|c| {
                *c == Call::Mount(
                    Some("/state/pod/etc-hosts".into()),
                    target.clone(),
                    None,
                    MsFlags::MS_BIND,
                    None,
                )
            })
            .expect("hosts bound");
        let created = calls
            .iter()
            .position(|c| *c == Call::CreateFile(target.clone()))
            .expect("mount point created");
        let pivot = calls
            .iter()
            .position(|c| matches!(c, Call::PivotRoot(..)))
            .expect("pivot");
        assert!(created < bind && bind < pivot);
        drop(calls);
        // Without a hosts file nothing touches /etc.
        let sys = fake();
        prepare(&sys, &self::spec(RootfsSource::Copy, false)).expect("prepared");
        assert!(!sys.mount_targets().contains(&target));
        // An image whose /etc/hosts is a symbolic link is refused, not followed.
        let mut sys = fake();
        sys.kinds.insert(target.clone(), FileKind::Symlink);
        assert_eq!(prepare(&sys, &spec).unwrap_err().errno, Errno::EINVAL);
    }

    #[test]
    fn refuses_a_fake_null_device_and_a_symlinked_proc() {
        let mut sys = fake();
        sys.kinds.insert("/dev/null".into(), FileKind::File);
        assert_eq!(
            prepare(&sys, &spec(RootfsSource::Copy, false))
                .unwrap_err()
                .errno,
            Errno::EPERM
        );
        let mut sys = fake();
        sys.kinds
            .insert("/state/pod/ctr/rootfs/proc".into(), FileKind::Symlink);
        assert_eq!(
            prepare(&sys, &spec(RootfsSource::Copy, false))
                .unwrap_err()
                .errno,
            Errno::ENOTDIR
        );
    }

    /// A resolver that opens nothing: paths are named `fd:<path>`, and a reopened one
    /// `fd:<path>#covered`.
    struct NamingResolver;

    impl Resolver for NamingResolver {
        fn open(
            &self,
            base: &Path,
            rel: &str,
            _mode: Beneath,
            _create: Option<bool>,
        ) -> Result<Resolved, SysError> {
            let path = in_root(base, Path::new(rel));
            Ok(Resolved::named(
                format!("fd:{}", path.display()).into(),
                true,
            ))
        }

        fn reopen(&self, r: &Resolved) -> Result<Resolved, SysError> {
            Ok(Resolved::named(
                format!("{}#covered", r.path.display()).into(),
                r.is_dir,
            ))
        }
    }

    #[test]
    fn volumes_are_bound_fd_to_fd_before_the_pivot_and_read_only_ones_remounted() {
        let sys = fake();
        let mut spec = spec(RootfsSource::Copy, false);
        spec.mounts = vec![
            VolumeMountSpec {
                name: "cache".into(),
                source: "/state/pod/volumes/cache".into(),
                sub_path: String::new(),
                destination: "/cache".into(),
                read_only: false,
            },
            VolumeMountSpec {
                name: "cfg".into(),
                source: "/state/pod/volumes/cfg".into(),
                sub_path: "app.conf".into(),
                destination: "/etc/app.conf".into(),
                read_only: true,
            },
        ];
        prepare_with(&sys, &NamingResolver, &spec).expect("prepared");
        let calls = sys.calls.borrow();
        let bind = |src: &str, dst: &str| {
            calls
                .iter()
                .position(|c| {
                    *c == Call::Mount(
                        Some(src.into()),
                        dst.into(),
                        None,
                        MsFlags::MS_BIND | MsFlags::MS_REC,
                        None,
                    )
                })
                .unwrap_or_else(|| panic!("{src} not bound on {dst}: {calls:?}"))
        };
        let cache = bind(
            "fd:/state/pod/volumes/cache",
            "fd:/state/pod/ctr/rootfs/cache",
        );
        let cfg = bind(
            "fd:/state/pod/volumes/cfg/app.conf",
            "fd:/state/pod/ctr/rootfs/etc/app.conf",
        );
        // Read-only: the mount itself (reached again through its parent) is remounted.
        let remount = Call::Mount(
            None,
            "fd:/state/pod/ctr/rootfs/etc/app.conf#covered".into(),
            None,
            MsFlags::MS_BIND | MsFlags::MS_REMOUNT | MsFlags::MS_RDONLY,
            None,
        );
        assert_eq!(calls[cfg + 1], remount);
        // The writable one is not remounted.
        assert!(!calls.iter().any(|c| matches!(c, Call::Mount(_, t, ..) if t == Path::new("fd:/state/pod/ctr/rootfs/cache#covered"))));
        let pivot = calls
            .iter()
            .position(|c| matches!(c, Call::PivotRoot(..)))
            .expect("pivot");
        assert!(cache < cfg && cfg < pivot);
    }

    /// A scratch directory for the real resolver, removed on drop.
    struct Scratch(PathBuf);

    impl Scratch {
        fn new(name: &str) -> Scratch {
            let dir =
                std::env::temp_dir().join(format!("flotilla-rootfs-{name}-{}", std::process::id()));
            let _ = std::fs::remove_dir_all(&dir);
            std::fs::create_dir_all(&dir).unwrap();
            Scratch(dir)
        }
    }

    impl Drop for Scratch {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    #[test]
    fn open_beneath_keeps_a_sub_path_inside_its_volume() {
        let scratch = Scratch::new("beneath");
        let vol = scratch.0.join("vol");
        std::fs::create_dir_all(vol.join("conf")).unwrap();
        std::fs::write(vol.join("conf/app.conf"), "x").unwrap();
        std::os::unix::fs::symlink("/", vol.join("escape")).unwrap();
        std::os::unix::fs::symlink("../..", vol.join("conf/up")).unwrap();
        std::os::unix::fs::symlink("conf/app.conf", vol.join("inner")).unwrap();
        std::os::unix::fs::symlink("..data/app.conf", vol.join("viadata")).unwrap();
        std::os::unix::fs::symlink("conf", vol.join("..data")).unwrap();
        let open = |rel: &str| open_beneath(&vol, rel, Beneath::Volume, None);
        // Out of the volume: an absolute link, and `..` above its root (directly or by a
        // link), are refused.
        assert_eq!(open("escape").unwrap_err().errno, Errno::EXDEV);
        assert_eq!(open("escape/etc").unwrap_err().errno, Errno::EXDEV);
        assert_eq!(open("conf/up").unwrap_err().errno, Errno::EXDEV);
        assert_eq!(open("../vol").unwrap_err().errno, Errno::EXDEV);
        // Inside: relative links (the AtomicWriter's `key -> ..data/key`) are followed.
        let inner = open("inner").unwrap();
        assert!(!inner.is_dir);
        assert_eq!(
            std::fs::read_to_string(&inner.path).unwrap(),
            "x",
            "the descriptor names the file"
        );
        assert!(!open("viadata").unwrap().is_dir);
        assert!(open("conf/../conf").unwrap().is_dir);
        assert_eq!(open("missing").unwrap_err().errno, Errno::ENOENT);
        assert_eq!(open("conf/app.conf/x").unwrap_err().errno, Errno::ENOTDIR);
        // Creating: directories, or a file at the end.
        let made = open_beneath(&vol, "a/b", Beneath::Volume, Some(true)).unwrap();
        assert!(made.is_dir && vol.join("a/b").is_dir());
        let file = open_beneath(&vol, "a/f", Beneath::Volume, Some(false)).unwrap();
        assert!(!file.is_dir && vol.join("a/f").is_file());
        // A container root: an absolute link starts again from the root, never the host's.
        let root = scratch.0.join("root");
        std::fs::create_dir_all(root.join("run")).unwrap();
        std::os::unix::fs::symlink("/run", root.join("varrun")).unwrap();
        std::os::unix::fs::symlink("/", root.join("slash")).unwrap();
        let r = open_beneath(&root, "varrun/secrets", Beneath::Root, Some(true)).unwrap();
        assert!(r.is_dir && root.join("run/secrets").is_dir());
        let r = open_beneath(&root, "slash/../../etc-x", Beneath::Root, Some(true)).unwrap();
        assert!(r.is_dir && root.join("etc-x").is_dir());
        assert!(!Path::new("/etc-x").exists());
    }
}
