//! The last steps before a workload's `execve`: identity, capabilities, `no_new_privs`, the
//! seccomp filter (see [`crate::seccomp`]), in runc's order.

use std::path::{Path, PathBuf};

use crate::spec::ProcessSpec;
use crate::sys::{CapSets, SysError, Syscall};
use nix::errno::Errno;

/// Applies `p`'s identity and privileges to the calling process.
///
/// Order matters: the bounding set is reduced while the process still has CAP_SETPCAP; the
/// identity changes next (a switch to a non-root uid clears the permitted and effective sets,
/// as it does under Docker); then the sets are fixed with `capset` (inheritable and ambient
/// stay empty: CVE-2022-29162); `no_new_privs` last, so that setuid binaries cannot regain
/// what was dropped.
pub fn apply(sys: &dyn Syscall, p: &ProcessSpec) -> Result<(), SysError> {
    let keep = p.capabilities & sys.bounding_set();
    sys.drop_bounding_set(keep)?;
    sys.set_identity(p.uid, p.gid, &p.groups)?;
    let sets = if p.uid == 0 {
        CapSets {
            effective: keep,
            permitted: keep,
            inheritable: 0,
        }
    } else {
        CapSets::default()
    };
    sys.set_capabilities(sets)?;
    sys.clear_ambient()?;
    if p.no_new_privs {
        sys.set_no_new_privs()?;
    }
    Ok(())
}

/// The default `PATH` of a container whose environment has none (containerd's).
pub const DEFAULT_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// Finds `program` as `execvp` would, in the `PATH` of `env` (not the helper's own), under
/// `root` (`/` inside the container).
pub fn resolve(root: &Path, program: &str, env: &[(String, String)]) -> Result<PathBuf, SysError> {
    if program.is_empty() {
        return Err(SysError::new("exec", "empty command", Errno::ENOENT));
    }
    if program.contains('/') {
        return Ok(PathBuf::from(program));
    }
    let path = env
        .iter()
        .rev()
        .find(|(k, _)| k == "PATH")
        .map(|(_, v)| v.as_str())
        .unwrap_or(DEFAULT_PATH);
    for dir in path.split(':').filter(|d| !d.is_empty()) {
        let candidate = Path::new(dir).join(program);
        let on_disk = crate::sys::in_root(root, &candidate);
        if let Ok(meta) = std::fs::metadata(&on_disk) {
            use std::os::unix::fs::PermissionsExt;
            if meta.is_file() && meta.permissions().mode() & 0o111 != 0 {
                return Ok(candidate);
            }
        }
    }
    Err(SysError::new(
        "exec",
        format!("{program}: not found in PATH {path}"),
        Errno::ENOENT,
    ))
}

/// `chdir` to `cwd` and check where we landed: an absolute path that exists
/// (CVE-2024-21626, where a leaked descriptor made the working directory a host path).
pub fn enter_cwd(sys: &dyn Syscall, cwd: &str) -> Result<(), SysError> {
    let cwd = if cwd.is_empty() { "/" } else { cwd };
    sys.chdir(Path::new(cwd))?;
    match nix::unistd::getcwd() {
        Ok(p) if p.is_absolute() => Ok(()),
        Ok(p) => Err(SysError::new("getcwd", p.display(), Errno::ENOENT)),
        Err(e) => Err(SysError::new("getcwd", cwd, e)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sys::fake::{Call, RecordingSyscall};

    #[test]
    fn root_keeps_the_default_set_within_the_bounding_set() {
        let sys = RecordingSyscall {
            bounding: !(1 << 24),
            ..Default::default()
        };
        let p = ProcessSpec {
            capabilities: crate::caps::default_set() | (1 << 24),
            no_new_privs: true,
            ..Default::default()
        };
        apply(&sys, &p).expect("applied");
        let keep = crate::caps::default_set();
        assert_eq!(
            *sys.calls.borrow(),
            [
                Call::DropBounding(keep),
                Call::Identity(0, 0, vec![]),
                Call::Capset(CapSets {
                    effective: keep,
                    permitted: keep,
                    inheritable: 0
                }),
                Call::ClearAmbient,
                Call::NoNewPrivs,
            ]
        );
    }

    #[test]
    fn a_user_gets_no_effective_capabilities() {
        let sys = RecordingSyscall {
            bounding: u64::MAX,
            ..Default::default()
        };
        let p = ProcessSpec {
            uid: 1000,
            gid: 1000,
            groups: vec![10],
            capabilities: 0xff,
            ..Default::default()
        };
        apply(&sys, &p).expect("applied");
        let calls = sys.calls.borrow();
        assert_eq!(calls[1], Call::Identity(1000, 1000, vec![10]));
        assert_eq!(calls[2], Call::Capset(CapSets::default()));
        assert!(!calls.contains(&Call::NoNewPrivs));
    }

    #[test]
    fn resolves_in_the_containers_path() {
        let root = std::env::temp_dir().join(format!("flotilla-resolve-{}", std::process::id()));
        let bin = root.join("opt/bin");
        std::fs::create_dir_all(&bin).expect("dir");
        std::fs::write(bin.join("tool"), "#!/bin/sh\n").expect("file");
        std::fs::write(bin.join("data"), "").expect("file");
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(bin.join("tool"), std::fs::Permissions::from_mode(0o755))
            .expect("chmod");
        let env = vec![("PATH".to_string(), "/usr/bin:/opt/bin".to_string())];
        assert_eq!(
            resolve(&root, "tool", &env),
            Ok(PathBuf::from("/opt/bin/tool"))
        );
        assert_eq!(
            resolve(&root, "data", &env).unwrap_err().errno,
            Errno::ENOENT
        );
        assert_eq!(resolve(&root, "/abs/x", &env), Ok(PathBuf::from("/abs/x")));
        let _ = std::fs::remove_dir_all(&root);
    }
}
