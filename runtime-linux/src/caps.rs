//! Linux capabilities: names, containerd's default set, and a container's set after its
//! `securityContext.capabilities` (pure).

/// Capability names by number (linux/capability.h), without the `CAP_` prefix.
pub const NAMES: [&str; 41] = [
    "CHOWN",
    "DAC_OVERRIDE",
    "DAC_READ_SEARCH",
    "FOWNER",
    "FSETID",
    "KILL",
    "SETGID",
    "SETUID",
    "SETPCAP",
    "LINUX_IMMUTABLE",
    "NET_BIND_SERVICE",
    "NET_BROADCAST",
    "NET_ADMIN",
    "NET_RAW",
    "IPC_LOCK",
    "IPC_OWNER",
    "SYS_MODULE",
    "SYS_RAWIO",
    "SYS_CHROOT",
    "SYS_PTRACE",
    "SYS_PACCT",
    "SYS_ADMIN",
    "SYS_BOOT",
    "SYS_NICE",
    "SYS_RESOURCE",
    "SYS_TIME",
    "SYS_TTY_CONFIG",
    "MKNOD",
    "LEASE",
    "AUDIT_WRITE",
    "AUDIT_CONTROL",
    "SETFCAP",
    "MAC_OVERRIDE",
    "MAC_ADMIN",
    "SYSLOG",
    "WAKE_ALARM",
    "BLOCK_SUSPEND",
    "AUDIT_READ",
    "PERFMON",
    "BPF",
    "CHECKPOINT_RESTORE",
];

/// containerd's default capabilities (`oci.defaultUnixCaps`, the same 14 as Docker's):
/// `0x00000000a80425fb` in `/proc/self/status`.
pub const DEFAULT: [&str; 14] = [
    "CHOWN",
    "DAC_OVERRIDE",
    "FSETID",
    "FOWNER",
    "MKNOD",
    "NET_RAW",
    "SETGID",
    "SETUID",
    "SETFCAP",
    "SETPCAP",
    "NET_BIND_SERVICE",
    "SYS_CHROOT",
    "KILL",
    "AUDIT_WRITE",
];

/// An unknown capability name in a security context.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("unknown capability {0:?}")]
pub struct UnknownCapability(pub String);

/// The bit of a capability name (`NET_ADMIN` or `CAP_NET_ADMIN`, any case).
pub fn bit(name: &str) -> Result<u64, UnknownCapability> {
    let upper = name.to_ascii_uppercase();
    let bare = upper.strip_prefix("CAP_").unwrap_or(&upper);
    NAMES
        .iter()
        .position(|n| *n == bare)
        .map(|i| 1u64 << i)
        .ok_or_else(|| UnknownCapability(name.to_string()))
}

/// Every capability this crate knows.
pub fn all() -> u64 {
    (1u64 << NAMES.len()) - 1
}

/// The default set as a mask.
pub fn default_set() -> u64 {
    DEFAULT
        .iter()
        .map(|n| bit(n).expect("the default names are in NAMES"))
        .fold(0, |a, b| a | b)
}

/// A container's capabilities: everything when privileged; otherwise the default set with
/// `drop` removed (`ALL` removes all) and then `add` added (`ALL` adds all), the order
/// containerd applies them in.
pub fn container_set(
    add: &[String],
    drop: &[String],
    privileged: bool,
) -> Result<u64, UnknownCapability> {
    if privileged {
        return Ok(all());
    }
    let mut set = default_set();
    for d in drop {
        if d.eq_ignore_ascii_case("ALL") {
            set = 0;
        } else {
            set &= !bit(d)?;
        }
    }
    for a in add {
        if a.eq_ignore_ascii_case("ALL") {
            set = all();
        } else {
            set |= bit(a)?;
        }
    }
    Ok(set)
}

/// The names in a mask, in number order (for messages and the book).
pub fn names(set: u64) -> Vec<&'static str> {
    NAMES
        .iter()
        .enumerate()
        .filter(|(i, _)| set & (1 << i) != 0)
        .map(|(_, n)| *n)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_matches_docker_and_containerd() {
        assert_eq!(default_set(), 0xa804_25fb);
        assert_eq!(names(default_set()).len(), 14);
    }

    #[test]
    fn add_and_drop() {
        let s = |v: &[&str]| v.iter().map(|x| x.to_string()).collect::<Vec<_>>();
        let no_raw = container_set(&[], &s(&["NET_RAW"]), false).expect("known");
        assert_eq!(no_raw, default_set() & !(1 << 13));
        let only_bind =
            container_set(&s(&["CAP_NET_BIND_SERVICE"]), &s(&["all"]), false).expect("known");
        assert_eq!(only_bind, 1 << 10);
        assert_eq!(container_set(&s(&["ALL"]), &[], false), Ok(all()));
        assert_eq!(container_set(&[], &[], true), Ok(all()));
        assert_eq!(
            container_set(&s(&["FLY"]), &[], false),
            Err(UnknownCapability("FLY".into()))
        );
    }

    #[test]
    fn names_and_bits() {
        assert_eq!(bit("sys_admin"), Ok(1 << 21));
        assert_eq!(bit("CAP_CHECKPOINT_RESTORE"), Ok(1 << 40));
        assert_eq!(names(0b101), ["CHOWN", "DAC_READ_SEARCH"]);
    }
}
