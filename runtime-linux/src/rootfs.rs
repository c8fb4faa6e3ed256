//! A container's root filesystem, set up inside its new mount namespace by its PID 1: the
//! image's layers, the kernel filesystems, a minimal `/dev`, `pivot_root`, then the masked and
//! read-only paths, in the order runc and youki use.

use std::path::{Path, PathBuf};

use crate::spec::{RootfsSource, RootfsSpec};
use crate::sys::{in_root, FileKind, MntFlags, MsFlags, SysError, Syscall};
use nix::errno::Errno;

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

/// Sets up the root filesystem and enters it. Must run in a fresh mount namespace (and, for
/// `/proc` to show the container's processes, as a member of its PID namespace).
pub fn prepare(sys: &dyn Syscall, spec: &RootfsSpec) -> Result<(), SysError> {
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
            sys.mount(
                Some(Path::new("overlay")),
                root,
                Some("overlay"),
                MsFlags::empty(),
                Some(&data),
            )?;
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
                Some("lowerdir=/images/busybox/latest/rootfs,upperdir=/state/pod/ctr/upper,workdir=/state/pod/ctr/work".into()),
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
}
