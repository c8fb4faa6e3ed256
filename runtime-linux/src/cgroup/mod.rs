//! Control groups: where each controller lives on this host, and the pod and container
//! cgroups the runtime creates under its own.
//!
//! [`CgroupLayout::detect`] maps each controller the runtime uses (cpu, memory, pids) to a
//! hierarchy, reading `/proc/self/mountinfo` rather than guessing names (youki and runc do the
//! same): a controller listed in the v2 hierarchy's `cgroup.controllers` is driven through v2,
//! otherwise through the v1 mount whose superblock options name it. That covers a unified v2
//! host, a legacy v1 host and a hybrid one (v1 controllers beside a v2 mount holding none).
//!
//! The tree is `<own cgroup>/flotilla-<runtime>/<pod uid>/<leaf>`, in every hierarchy that
//! holds one of the controllers, where `<own cgroup>` is the adapter's cgroup in that
//! hierarchy and a leaf is a container name or `_sandbox`. Processes live in leaves only, as
//! v2 requires. Roots are injectable paths (the mount points come from the mountinfo text), so
//! unit tests run on plain directories.

pub mod limits;

use std::collections::BTreeSet;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::mountinfo::MountInfo;
pub use limits::{CgroupWrite, Limits};

/// A cgroup version.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum CgroupVersion {
    /// Legacy: one hierarchy per controller (or group of controllers).
    V1,
    /// Unified: one hierarchy for all.
    V2,
}

/// The controllers the runtime sets limits with.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Controller {
    /// CPU quota and weight.
    Cpu,
    /// Memory limit and OOM accounting.
    Memory,
    /// Task count limit.
    Pids,
    /// CPU time accounting (cgroup v1 only, where it may be a hierarchy of its own; on v2 the
    /// `cpu.stat` of every cgroup has it): read for the HPA's metrics, no limits.
    Cpuacct,
}

impl Controller {
    /// All of them, in a fixed order.
    pub const ALL: [Controller; 4] = [
        Controller::Cpu,
        Controller::Memory,
        Controller::Pids,
        Controller::Cpuacct,
    ];

    /// The kernel's name for it.
    pub fn name(self) -> &'static str {
        match self {
            Controller::Cpu => "cpu",
            Controller::Memory => "memory",
            Controller::Pids => "pids",
            Controller::Cpuacct => "cpuacct",
        }
    }
}

/// One hierarchy as the runtime uses it.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Hierarchy {
    /// v1 or v2.
    pub version: CgroupVersion,
    /// The directory of the adapter's own cgroup in it (mount point + own path).
    pub own_dir: PathBuf,
}

/// Which hierarchy holds each controller.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CgroupLayout {
    /// The cpu controller's hierarchy, if the host has one.
    pub cpu: Option<Hierarchy>,
    /// The memory controller's hierarchy.
    pub memory: Option<Hierarchy>,
    /// The pids controller's hierarchy.
    pub pids: Option<Hierarchy>,
    /// The v1 cpuacct controller's hierarchy (none on v2).
    pub cpuacct: Option<Hierarchy>,
}

/// Why cgroups could not be read or set up.
#[derive(Debug, thiserror::Error)]
pub enum CgroupError {
    /// A cgroup file or directory operation failed.
    #[error("cgroup {path}: {source}")]
    Io {
        /// The path.
        path: PathBuf,
        /// The cause.
        #[source]
        source: io::Error,
    },
    /// Processes were still in a cgroup after it was killed and waited for.
    #[error("cgroup {0} still has processes after SIGKILL")]
    Busy(PathBuf),
    /// A name would not be a single path component.
    #[error("{0:?} cannot name a cgroup")]
    BadName(String),
}

fn io_err(path: &Path) -> impl FnOnce(io::Error) -> CgroupError + '_ {
    move |source| CgroupError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// The lines of `/proc/self/cgroup` (`id:controllers:path`), as (controllers, path) pairs.
fn own_paths(proc_self_cgroup: &str) -> Vec<(Vec<String>, PathBuf)> {
    proc_self_cgroup
        .lines()
        .filter_map(|l| {
            let mut parts = l.splitn(3, ':');
            let _id = parts.next()?;
            let controllers = parts.next()?;
            let path = parts.next()?;
            let list = controllers
                .split(',')
                .filter(|c| !c.is_empty())
                .map(str::to_string);
            Some((list.collect(), PathBuf::from(path)))
        })
        .collect()
}

/// `mount_point` + the part of `own` below the mount's root.
fn dir_of(mount: &MountInfo, own: &Path) -> PathBuf {
    let rel = own.strip_prefix(&mount.root).unwrap_or(own);
    let rel = rel.strip_prefix("/").unwrap_or(rel);
    mount.mount_point.join(rel)
}

impl CgroupLayout {
    /// Maps each controller to a hierarchy from the text of `/proc/self/mountinfo` and
    /// `/proc/self/cgroup`; `read` reads a file (the v2 `cgroup.controllers`).
    pub fn detect(
        mounts: &[MountInfo],
        proc_self_cgroup: &str,
        read: &dyn Fn(&Path) -> Option<String>,
    ) -> CgroupLayout {
        let owns = own_paths(proc_self_cgroup);
        // The v2 hierarchy: its line in /proc/self/cgroup has no controllers.
        let v2_own = owns
            .iter()
            .find(|(c, _)| c.is_empty())
            .map(|(_, p)| p.clone());
        let v2 = mounts
            .iter()
            .filter(|m| m.fs_type == "cgroup2")
            .min_by_key(|m| m.mount_point != Path::new("/sys/fs/cgroup"))
            .map(|m| {
                let own = dir_of(m, v2_own.as_deref().unwrap_or(Path::new("/")));
                let controllers = read(&own.join("cgroup.controllers")).unwrap_or_default();
                let set: BTreeSet<String> =
                    controllers.split_whitespace().map(str::to_string).collect();
                (own, set)
            });
        let find = |c: Controller| -> Option<Hierarchy> {
            if let Some((own, set)) = &v2 {
                if set.contains(c.name()) {
                    return Some(Hierarchy {
                        version: CgroupVersion::V2,
                        own_dir: own.clone(),
                    });
                }
            }
            let mount = mounts.iter().find(|m| {
                m.fs_type == "cgroup" && m.super_options.split(',').any(|o| o == c.name())
            })?;
            let own = owns
                .iter()
                .find(|(list, _)| list.iter().any(|x| x == c.name()))
                .map(|(_, p)| p.clone())
                .unwrap_or_else(|| PathBuf::from("/"));
            Some(Hierarchy {
                version: CgroupVersion::V1,
                own_dir: dir_of(mount, &own),
            })
        };
        CgroupLayout {
            cpu: find(Controller::Cpu),
            memory: find(Controller::Memory),
            pids: find(Controller::Pids),
            cpuacct: find(Controller::Cpuacct).filter(|h| h.version == CgroupVersion::V1),
        }
    }

    /// Reads the live files of this process.
    pub fn detect_host() -> Result<CgroupLayout, CgroupError> {
        let path = Path::new("/proc/self/mountinfo");
        let text = fs::read_to_string(path).map_err(io_err(path))?;
        let mounts = crate::mountinfo::parse(&text).map_err(|e| CgroupError::Io {
            path: path.to_path_buf(),
            source: io::Error::new(io::ErrorKind::InvalidData, e),
        })?;
        let path = Path::new("/proc/self/cgroup");
        let own = fs::read_to_string(path).map_err(io_err(path))?;
        Ok(CgroupLayout::detect(&mounts, &own, &|p| {
            fs::read_to_string(p).ok()
        }))
    }

    /// The hierarchy of `c`.
    pub fn get(&self, c: Controller) -> Option<&Hierarchy> {
        match c {
            Controller::Cpu => self.cpu.as_ref(),
            Controller::Memory => self.memory.as_ref(),
            Controller::Pids => self.pids.as_ref(),
            Controller::Cpuacct => self.cpuacct.as_ref(),
        }
    }

    /// The distinct hierarchies, each once (cpu and memory share one on v2).
    pub fn hierarchies(&self) -> Vec<&Hierarchy> {
        let mut out: Vec<&Hierarchy> = Controller::ALL
            .iter()
            .filter_map(|c| self.get(*c))
            .collect();
        out.sort();
        out.dedup();
        out
    }
}

/// The cgroups of one runtime instance: `<own>/flotilla-<name>/…` in every hierarchy.
#[derive(Clone, Debug)]
pub struct Cgroups {
    layout: CgroupLayout,
    base: String,
}

/// Checks that `name` is one path component a cgroup (or state directory) can be named by.
pub fn check_name(name: &str) -> Result<&str, CgroupError> {
    let ok = !name.is_empty()
        && name.len() <= 200
        && name != "."
        && name != ".."
        && !name.contains(['/', '\0', '\n']);
    if ok {
        Ok(name)
    } else {
        Err(CgroupError::BadName(name.to_string()))
    }
}

impl Cgroups {
    /// The cgroups of the runtime instance `name` in `layout`.
    pub fn new(layout: CgroupLayout, name: &str) -> Result<Cgroups, CgroupError> {
        Ok(Cgroups {
            layout,
            base: format!("flotilla-{}", check_name(name)?),
        })
    }

    /// The layout in use.
    pub fn layout(&self) -> &CgroupLayout {
        &self.layout
    }

    /// The instance's base directory in each hierarchy.
    pub fn base_dirs(&self) -> Vec<PathBuf> {
        self.layout
            .hierarchies()
            .iter()
            .map(|h| h.own_dir.join(&self.base))
            .collect()
    }

    /// `rel` (`<pod>` or `<pod>/<leaf>`) in each hierarchy.
    pub fn dirs(&self, rel: &Path) -> Vec<PathBuf> {
        self.base_dirs().into_iter().map(|b| b.join(rel)).collect()
    }

    fn dir_for(&self, c: Controller, rel: &Path) -> Option<PathBuf> {
        self.layout
            .get(c)
            .map(|h| h.own_dir.join(&self.base).join(rel))
    }

    /// Creates `rel` in every hierarchy (and its ancestors up to the base), enabling the v2
    /// controllers on the way, then writes `limits`. Returns the directories, whose
    /// `cgroup.procs` a process joins.
    pub fn create(&self, rel: &Path, limits: &Limits) -> Result<Vec<PathBuf>, CgroupError> {
        for h in self.layout.hierarchies() {
            let dir = h.own_dir.join(&self.base).join(rel);
            if h.version == CgroupVersion::V2 {
                self.enable_v2_controllers(h, &dir)?;
            }
            fs::create_dir_all(&dir).map_err(io_err(&dir))?;
        }
        for w in limits.writes(|c| self.layout.get(c).map(|h| h.version)) {
            let Some(dir) = self.dir_for(w.controller, rel) else {
                continue;
            };
            let path = dir.join(w.file);
            if w.optional && !path.exists() {
                continue;
            }
            fs::write(&path, &w.value).map_err(io_err(&path))?;
        }
        Ok(self.dirs(rel))
    }

    /// Writes `+cpu +memory +pids` (those this hierarchy has) into `cgroup.subtree_control` of
    /// every directory from the adapter's own cgroup down to `dir`'s parent. When the own
    /// cgroup still holds processes (v2's no-internal-processes rule answers EBUSY), the
    /// adapter first moves itself into a leaf `flotilla-adapter` below it.
    fn enable_v2_controllers(&self, h: &Hierarchy, dir: &Path) -> Result<(), CgroupError> {
        let wanted: Vec<&str> = Controller::ALL
            .iter()
            .filter(|c| self.layout.get(**c) == Some(h))
            .map(|c| c.name())
            .collect();
        let line = wanted
            .iter()
            .map(|c| format!("+{c}"))
            .collect::<Vec<_>>()
            .join(" ");
        let mut chain = Vec::new();
        let mut cur = dir.parent();
        while let Some(p) = cur {
            chain.push(p.to_path_buf());
            if p == h.own_dir {
                break;
            }
            cur = p.parent();
        }
        chain.reverse();
        for p in chain {
            fs::create_dir_all(&p).map_err(io_err(&p))?;
            let control = p.join("cgroup.subtree_control");
            match fs::write(&control, &line) {
                Ok(()) => {}
                Err(e) if e.raw_os_error() == Some(libc::EBUSY) && p == h.own_dir => {
                    let leaf = p.join("flotilla-adapter");
                    fs::create_dir_all(&leaf).map_err(io_err(&leaf))?;
                    let procs = leaf.join("cgroup.procs");
                    fs::write(&procs, std::process::id().to_string()).map_err(io_err(&procs))?;
                    fs::write(&control, &line).map_err(io_err(&control))?;
                }
                Err(e) => {
                    return Err(CgroupError::Io {
                        path: control,
                        source: e,
                    })
                }
            }
        }
        Ok(())
    }

    /// How many times the OOM killer has killed a process of `rel` (`memory.events` on v2,
    /// `memory.oom_control` on v1); 0 when unknown.
    pub fn oom_kills(&self, rel: &Path) -> u64 {
        let Some(h) = self.layout.memory.as_ref() else {
            return 0;
        };
        let dir = h.own_dir.join(&self.base).join(rel);
        let file = match h.version {
            CgroupVersion::V1 => "memory.oom_control",
            CgroupVersion::V2 => "memory.events",
        };
        fs::read_to_string(dir.join(file))
            .map(|t| oom_kill_count(&t))
            .unwrap_or(0)
    }

    /// Kills every process below `rel` in every hierarchy, waits until they are gone, and
    /// removes the directories bottom-up. A directory that is already gone is fine.
    pub fn remove(&self, rel: &Path) -> Result<(), CgroupError> {
        for dir in self.dirs(rel) {
            remove_tree(&dir)?;
        }
        Ok(())
    }

    /// Removes the whole instance tree: what a crashed run left behind.
    pub fn remove_all(&self) -> Result<(), CgroupError> {
        for dir in self.base_dirs() {
            remove_tree(&dir)?;
        }
        Ok(())
    }

    /// The pids in `rel` and below, in the first hierarchy.
    pub fn pids(&self, rel: &Path) -> Vec<i32> {
        let mut out = Vec::new();
        if let Some(dir) = self.dirs(rel).into_iter().next() {
            collect_pids(&dir, &mut out);
        }
        out
    }
}

/// The `oom_kill` counter of a `memory.events` or `memory.oom_control` text.
pub fn oom_kill_count(text: &str) -> u64 {
    text.lines()
        .find_map(|l| {
            l.strip_prefix("oom_kill ")
                .and_then(|v| v.trim().parse().ok())
        })
        .unwrap_or(0)
}

fn subdirs(dir: &Path) -> Vec<PathBuf> {
    let Ok(entries) = fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut out: Vec<PathBuf> = entries
        .filter_map(Result::ok)
        .filter(|e| e.file_type().map(|t| t.is_dir()).unwrap_or(false))
        .map(|e| e.path())
        .collect();
    out.sort();
    out
}

fn collect_pids(dir: &Path, out: &mut Vec<i32>) {
    if let Ok(text) = fs::read_to_string(dir.join("cgroup.procs")) {
        out.extend(
            text.split_whitespace()
                .filter_map(|p| p.parse::<i32>().ok()),
        );
    }
    for sub in subdirs(dir) {
        collect_pids(&sub, out);
    }
}

/// SIGKILLs every process in `dir`'s subtree until it is empty (`cgroup.kill` where the kernel
/// has it), then removes the directories, deepest first, retrying on EBUSY.
pub fn remove_tree(dir: &Path) -> Result<(), CgroupError> {
    if !dir.exists() {
        return Ok(());
    }
    let kill_file = dir.join("cgroup.kill");
    if kill_file.exists() {
        let _ = fs::write(&kill_file, "1");
    }
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let mut pids = Vec::new();
        collect_pids(dir, &mut pids);
        if pids.is_empty() {
            break;
        }
        if Instant::now() > deadline {
            return Err(CgroupError::Busy(dir.to_path_buf()));
        }
        for pid in pids {
            let _ = crate::sys::process::kill(pid, nix::sys::signal::Signal::SIGKILL);
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    rmdir_tree(dir)
}

fn rmdir_tree(dir: &Path) -> Result<(), CgroupError> {
    for sub in subdirs(dir) {
        rmdir_tree(&sub)?;
    }
    // youki retries an rmdir a few times with a short back-off: a task that has just exited
    // may still be accounted for a moment.
    let mut delay = Duration::from_millis(2);
    for attempt in 0..8 {
        match fs::remove_dir(dir) {
            Ok(()) => return Ok(()),
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
            Err(e) if e.raw_os_error() == Some(libc::EBUSY) && attempt < 7 => {
                std::thread::sleep(delay);
                delay = (delay * 2).min(Duration::from_millis(100));
            }
            // On a plain directory (tests), the control files make it non-empty.
            Err(e) if e.raw_os_error() == Some(libc::ENOTEMPTY) => {
                fs::remove_dir_all(dir).map_err(io_err(dir))?;
                return Ok(());
            }
            Err(e) => {
                return Err(CgroupError::Io {
                    path: dir.to_path_buf(),
                    source: e,
                })
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mountinfo;

    const HYBRID: &str = "\
31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
32 31 0:29 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu
33 31 0:30 / /sys/fs/cgroup/cpuacct rw,relatime - cgroup cgroup rw,cpuacct
35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory
39 31 0:36 / /sys/fs/cgroup/pids rw,relatime - cgroup cgroup rw,pids
40 31 0:37 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,name=systemd
41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw
";
    const HYBRID_SELF: &str = "\
9:name=systemd:/
8:pids:/
4:memory:/process_api/abc
2:cpuacct:/
1:cpu:/
0::/
";

    #[test]
    fn hybrid_with_an_empty_v2_uses_v1_per_controller() {
        let mounts = mountinfo::parse(HYBRID).expect("valid");
        let read = |p: &Path| {
            (p == Path::new("/sys/fs/cgroup/unified/cgroup.controllers"))
                .then(|| "hugetlb\n".to_string())
        };
        let layout = CgroupLayout::detect(&mounts, HYBRID_SELF, &read);
        let v1 = |d: &str| {
            Some(Hierarchy {
                version: CgroupVersion::V1,
                own_dir: d.into(),
            })
        };
        assert_eq!(layout.cpu, v1("/sys/fs/cgroup/cpu"));
        assert_eq!(layout.memory, v1("/sys/fs/cgroup/memory/process_api/abc"));
        assert_eq!(layout.pids, v1("/sys/fs/cgroup/pids"));
        // cpuacct on a hierarchy of its own here: joined for the CPU-time accounting.
        assert_eq!(layout.cpuacct, v1("/sys/fs/cgroup/cpuacct"));
        assert_eq!(layout.hierarchies().len(), 4);
    }

    #[test]
    fn unified_v2_with_a_namespaced_root() {
        let mounts = mountinfo::parse(
            "30 25 0:26 /kubepods/pod1 /sys/fs/cgroup rw - cgroup2 cgroup2 rw,nsdelegate\n",
        )
        .expect("valid");
        let read = |p: &Path| {
            (p == Path::new("/sys/fs/cgroup/agent/cgroup.controllers"))
                .then(|| "cpuset cpu io memory pids\n".to_string())
        };
        let layout = CgroupLayout::detect(&mounts, "0::/kubepods/pod1/agent\n", &read);
        let v2 = Some(Hierarchy {
            version: CgroupVersion::V2,
            own_dir: "/sys/fs/cgroup/agent".into(),
        });
        assert_eq!(layout.cpu, v2);
        assert_eq!(layout.memory, v2);
        assert_eq!(layout.pids, v2);
        assert_eq!(layout.cpuacct, None, "v2 accounts CPU time in cpu.stat");
        assert_eq!(layout.hierarchies().len(), 1);
    }

    #[test]
    fn legacy_with_co_mounted_controllers() {
        let mounts = mountinfo::parse(
            "32 31 0:29 / /sys/fs/cgroup/cpu,cpuacct rw - cgroup cgroup rw,cpu,cpuacct\n\
             35 31 0:32 / /sys/fs/cgroup/memory rw - cgroup cgroup rw,memory\n",
        )
        .expect("valid");
        let layout = CgroupLayout::detect(&mounts, "3:cpu,cpuacct:/a\n4:memory:/b\n", &|_| None);
        assert_eq!(
            layout.cpu.clone().expect("cpu").own_dir,
            PathBuf::from("/sys/fs/cgroup/cpu,cpuacct/a")
        );
        assert_eq!(
            layout.memory.expect("memory").own_dir,
            PathBuf::from("/sys/fs/cgroup/memory/b")
        );
        assert_eq!(layout.pids, None);
        assert_eq!(layout.cpuacct, layout.cpu, "co-mounted with cpu");
    }

    #[test]
    fn oom_counters() {
        assert_eq!(
            oom_kill_count("oom_kill_disable 0\nunder_oom 0\noom_kill 2\n"),
            2
        );
        assert_eq!(
            oom_kill_count("low 0\nhigh 0\nmax 3\noom 1\noom_kill 1\n"),
            1
        );
        assert_eq!(oom_kill_count("oom_kill_disable 0\n"), 0);
    }

    #[test]
    fn names_are_single_components() {
        assert!(check_name("0b7c-11").is_ok());
        for bad in ["", ".", "..", "a/b", "a\0b"] {
            assert!(check_name(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn creates_writes_and_removes_on_plain_directories() {
        let root = std::env::temp_dir().join(format!("flotilla-cg-test-{}", std::process::id()));
        let _ = fs::remove_dir_all(&root);
        let layout = CgroupLayout {
            cpu: Some(Hierarchy {
                version: CgroupVersion::V1,
                own_dir: root.join("cpu"),
            }),
            memory: Some(Hierarchy {
                version: CgroupVersion::V1,
                own_dir: root.join("memory"),
            }),
            pids: None,
            cpuacct: None,
        };
        let cgroups = Cgroups::new(layout, "t1").expect("valid name");
        let limits = Limits {
            memory_bytes: Some(1 << 20),
            cpu_shares: Some(512),
            ..Limits::default()
        };
        let dirs = cgroups
            .create(Path::new("pod/ctr"), &limits)
            .expect("created");
        assert_eq!(dirs.len(), 2);
        let mem = root.join("memory/flotilla-t1/pod/ctr");
        assert_eq!(
            fs::read_to_string(mem.join("memory.limit_in_bytes")).expect("written"),
            "1048576"
        );
        // memsw is optional and absent on a plain directory.
        assert!(!mem.join("memory.memsw.limit_in_bytes").exists());
        assert_eq!(
            fs::read_to_string(root.join("cpu/flotilla-t1/pod/ctr/cpu.shares")).expect("written"),
            "512"
        );
        fs::write(
            mem.join("memory.oom_control"),
            "oom_kill_disable 0\noom_kill 1\n",
        )
        .expect("fixture");
        assert_eq!(cgroups.oom_kills(Path::new("pod/ctr")), 1);
        cgroups.remove_all().expect("removed");
        assert!(!root.join("memory/flotilla-t1").exists());
        assert!(!root.join("cpu/flotilla-t1").exists());
        let _ = fs::remove_dir_all(&root);
    }
}
