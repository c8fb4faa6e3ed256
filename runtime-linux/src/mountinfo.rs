//! `/proc/self/mountinfo` (proc(5)), parsed: the runtime finds the cgroup hierarchies from it
//! and checks that no mount of a pod is left behind.

use std::path::PathBuf;

/// One line of `mountinfo`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MountInfo {
    /// Field 1: the mount's id.
    pub mount_id: u32,
    /// Field 2: the parent mount's id.
    pub parent_id: u32,
    /// Field 4: the path inside the filesystem that is mounted here (`/` for a whole
    /// filesystem; a cgroup path when a cgroup namespace or bind mount shows only a subtree).
    pub root: PathBuf,
    /// Field 5: where it is mounted.
    pub mount_point: PathBuf,
    /// Field 6: per-mount options (`rw,nosuid`).
    pub mount_options: String,
    /// The filesystem type after the ` - ` separator (`cgroup`, `cgroup2`, `overlay`).
    pub fs_type: String,
    /// The mount source.
    pub source: String,
    /// Per-superblock options; for cgroup v1 they name the controllers (`rw,cpu,cpuacct`).
    pub super_options: String,
}

/// Why a `mountinfo` line could not be read.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("mountinfo line {line}: {reason}")]
pub struct MountInfoError {
    /// 1-based line number.
    pub line: usize,
    /// What was wrong.
    pub reason: String,
}

/// Undoes the octal escapes the kernel writes for space, tab, newline and backslash (`\040`).
pub fn unescape(field: &str) -> String {
    let bytes = field.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'\\' && i + 3 < bytes.len() {
            let digits = &field[i + 1..(i + 4).min(field.len())];
            if digits.len() == 3 && digits.bytes().all(|b| (b'0'..=b'7').contains(&b)) {
                if let Ok(v) = u8::from_str_radix(digits, 8) {
                    out.push(v);
                    i += 4;
                    continue;
                }
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Parses the whole text of a `mountinfo` file.
pub fn parse(text: &str) -> Result<Vec<MountInfo>, MountInfoError> {
    text.lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
        .map(|(i, l)| {
            parse_line(l).map_err(|reason| MountInfoError {
                line: i + 1,
                reason,
            })
        })
        .collect()
}

fn parse_line(line: &str) -> Result<MountInfo, String> {
    let (left, right) = line.split_once(" - ").ok_or("no ' - ' separator")?;
    let fields: Vec<&str> = left.split(' ').collect();
    if fields.len() < 6 {
        return Err(format!(
            "{} fields before the separator, expected at least 6",
            fields.len()
        ));
    }
    let id = |s: &str, what: &str| {
        s.parse::<u32>()
            .map_err(|_| format!("{what} {s:?} is not a number"))
    };
    let tail: Vec<&str> = right.split(' ').collect();
    if tail.len() < 3 {
        return Err(format!(
            "{} fields after the separator, expected 3",
            tail.len()
        ));
    }
    Ok(MountInfo {
        mount_id: id(fields[0], "mount id")?,
        parent_id: id(fields[1], "parent id")?,
        root: PathBuf::from(unescape(fields[3])),
        mount_point: PathBuf::from(unescape(fields[4])),
        mount_options: fields[5].to_string(),
        fs_type: tail[0].to_string(),
        source: unescape(tail[1]),
        super_options: tail[2].to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const HYBRID: &str = "\
25 1 254:0 / / rw,relatime shared:1 - ext4 /dev/vda rw,discard
30 25 0:26 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
31 30 0:27 / /sys/fs/cgroup/unified rw,nosuid,nodev,noexec,relatime - cgroup2 cgroup2 rw,nsdelegate
32 30 0:28 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu
33 30 0:29 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory
40 25 0:50 / /tmp/with\\040space rw - tmpfs tmpfs rw
";

    #[test]
    fn parses_fields_and_optional_fields() {
        let mounts = parse(HYBRID).expect("valid mountinfo");
        assert_eq!(mounts.len(), 6);
        assert_eq!(mounts[0].mount_point, PathBuf::from("/"));
        assert_eq!(mounts[0].fs_type, "ext4");
        assert_eq!(mounts[0].source, "/dev/vda");
        assert_eq!(mounts[2].fs_type, "cgroup2");
        assert_eq!(mounts[3].super_options, "rw,cpu");
        assert_eq!(mounts[4].parent_id, 30);
    }

    #[test]
    fn unescapes_octal() {
        let mounts = parse(HYBRID).expect("valid mountinfo");
        assert_eq!(mounts[5].mount_point, PathBuf::from("/tmp/with space"));
        assert_eq!(unescape("a\\134b\\011"), "a\\b\t");
        assert_eq!(unescape("trailing\\"), "trailing\\");
        assert_eq!(unescape("\\09x"), "\\09x");
    }

    #[test]
    fn reports_bad_lines_with_their_number() {
        let err = parse("25 1 254:0 / / rw shared:1 - ext4 /dev/vda rw\nnonsense\n").unwrap_err();
        assert_eq!(err.line, 2);
        let err = parse("x 1 254:0 / / rw - ext4 /dev/vda rw\n").unwrap_err();
        assert!(err.reason.contains("mount id"), "{err}");
    }
}
