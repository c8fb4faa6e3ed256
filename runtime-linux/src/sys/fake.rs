//! A recording [`Syscall`] for unit tests: it performs nothing and remembers every call.

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use super::{CapSets, CloneFlags, FileKind, MntFlags, MsFlags, SysError, Syscall};

/// One recorded call, with its arguments rendered for easy assertions.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Call {
    /// `mount(source, target, fstype, flags, data)`.
    Mount(
        Option<PathBuf>,
        PathBuf,
        Option<String>,
        MsFlags,
        Option<String>,
    ),
    /// `umount2(target, flags)`.
    Umount(PathBuf, MntFlags),
    /// `pivot_root(new, old)`.
    PivotRoot(PathBuf, PathBuf),
    /// `chdir(path)`.
    Chdir(PathBuf),
    /// `mkdir -p path`.
    Mkdir(PathBuf),
    /// An empty file created.
    CreateFile(PathBuf),
    /// `symlink(target, link)`.
    Symlink(PathBuf, PathBuf),
    /// `unshare(flags)`.
    Unshare(CloneFlags),
    /// `setns(path, flags)`.
    Setns(PathBuf, CloneFlags),
    /// `sethostname(name)`.
    Hostname(String),
    /// Loopback brought up.
    LoopbackUp,
    /// Bounding set reduced to this mask.
    DropBounding(u64),
    /// `capset`.
    Capset(CapSets),
    /// Ambient set cleared.
    ClearAmbient,
    /// `PR_SET_NO_NEW_PRIVS`.
    NoNewPrivs,
    /// `setgroups`/`setresgid`/`setresuid`.
    Identity(u32, u32, Vec<u32>),
}

/// Records calls; answers `file_kind` from a table the test fills.
#[derive(Debug, Default)]
pub struct RecordingSyscall {
    /// Every call, in order.
    pub calls: RefCell<Vec<Call>>,
    /// What `file_kind` reports per path (absent paths are `None`).
    pub kinds: BTreeMap<PathBuf, FileKind>,
    /// The bounding set `bounding_set` reports.
    pub bounding: u64,
}

impl RecordingSyscall {
    fn push(&self, call: Call) -> Result<(), SysError> {
        self.calls.borrow_mut().push(call);
        Ok(())
    }

    /// The recorded mounts' targets, in order.
    pub fn mount_targets(&self) -> Vec<PathBuf> {
        self.calls
            .borrow()
            .iter()
            .filter_map(|c| match c {
                Call::Mount(_, t, ..) => Some(t.clone()),
                _ => None,
            })
            .collect()
    }
}

impl Syscall for RecordingSyscall {
    fn mount(
        &self,
        source: Option<&Path>,
        target: &Path,
        fstype: Option<&str>,
        flags: MsFlags,
        data: Option<&str>,
    ) -> Result<(), SysError> {
        self.push(Call::Mount(
            source.map(Path::to_path_buf),
            target.to_path_buf(),
            fstype.map(str::to_string),
            flags,
            data.map(str::to_string),
        ))
    }
    fn umount2(&self, target: &Path, flags: MntFlags) -> Result<(), SysError> {
        self.push(Call::Umount(target.to_path_buf(), flags))
    }
    fn pivot_root(&self, new_root: &Path, put_old: &Path) -> Result<(), SysError> {
        self.push(Call::PivotRoot(
            new_root.to_path_buf(),
            put_old.to_path_buf(),
        ))
    }
    fn chdir(&self, path: &Path) -> Result<(), SysError> {
        self.push(Call::Chdir(path.to_path_buf()))
    }
    fn mkdir_all(&self, path: &Path, _mode: u32) -> Result<(), SysError> {
        self.push(Call::Mkdir(path.to_path_buf()))
    }
    fn create_file(&self, path: &Path) -> Result<(), SysError> {
        self.push(Call::CreateFile(path.to_path_buf()))
    }
    fn symlink(&self, target: &Path, link: &Path) -> Result<(), SysError> {
        self.push(Call::Symlink(target.to_path_buf(), link.to_path_buf()))
    }
    fn file_kind(&self, path: &Path) -> Option<FileKind> {
        self.kinds.get(path).copied()
    }
    fn unshare(&self, flags: CloneFlags) -> Result<(), SysError> {
        self.push(Call::Unshare(flags))
    }
    fn setns(&self, path: &Path, flags: CloneFlags) -> Result<(), SysError> {
        self.push(Call::Setns(path.to_path_buf(), flags))
    }
    fn sethostname(&self, name: &str) -> Result<(), SysError> {
        self.push(Call::Hostname(name.to_string()))
    }
    fn loopback_up(&self) -> Result<(), SysError> {
        self.push(Call::LoopbackUp)
    }
    fn drop_bounding_set(&self, keep: u64) -> Result<(), SysError> {
        self.push(Call::DropBounding(keep))
    }
    fn bounding_set(&self) -> u64 {
        self.bounding
    }
    fn set_capabilities(&self, sets: CapSets) -> Result<(), SysError> {
        self.push(Call::Capset(sets))
    }
    fn clear_ambient(&self) -> Result<(), SysError> {
        self.push(Call::ClearAmbient)
    }
    fn set_no_new_privs(&self) -> Result<(), SysError> {
        self.push(Call::NoNewPrivs)
    }
    fn set_identity(&self, uid: u32, gid: u32, groups: &[u32]) -> Result<(), SysError> {
        self.push(Call::Identity(uid, gid, groups.to_vec()))
    }
}
