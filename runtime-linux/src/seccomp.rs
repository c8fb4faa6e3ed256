//! A seccomp deny-list, written as a classic BPF program (no C library needed).
//!
//! The filter is the short form of Docker's and containerd's default profile: it refuses the
//! calls a container has no business making (module and kexec loading, `bpf`,
//! `perf_event_open`, `userfaultfd`, keyrings, `ptrace`, mounts and the new mount API,
//! namespace creation and joining, swap, reboot, clock setting) with `EPERM`, answers `clone3`
//! with `ENOSYS` so that the C library falls back to `clone` (whose flags the filter can see),
//! refuses `clone` with namespace flags, and refuses calls made through another ABI than the
//! native one (i386 or x32 on x86_64), which would bypass the numbers below.

/// The syscall numbers refused with `EPERM` (this architecture's numbers).
#[cfg(any(target_arch = "x86_64", target_arch = "aarch64"))]
pub fn denied() -> Vec<i64> {
    let mut list = vec![
        libc::SYS_kexec_load,
        libc::SYS_kexec_file_load,
        libc::SYS_init_module,
        libc::SYS_finit_module,
        libc::SYS_delete_module,
        libc::SYS_open_by_handle_at,
        libc::SYS_name_to_handle_at,
        libc::SYS_bpf,
        libc::SYS_perf_event_open,
        libc::SYS_userfaultfd,
        libc::SYS_add_key,
        libc::SYS_request_key,
        libc::SYS_keyctl,
        libc::SYS_ptrace,
        libc::SYS_mount,
        libc::SYS_umount2,
        libc::SYS_pivot_root,
        libc::SYS_move_mount,
        libc::SYS_open_tree,
        libc::SYS_fsopen,
        libc::SYS_fsconfig,
        libc::SYS_fsmount,
        libc::SYS_fspick,
        libc::SYS_unshare,
        libc::SYS_setns,
        libc::SYS_swapon,
        libc::SYS_swapoff,
        libc::SYS_reboot,
        libc::SYS_acct,
        libc::SYS_settimeofday,
        libc::SYS_clock_settime,
        libc::SYS_syslog,
        libc::SYS_quotactl,
        libc::SYS_vhangup,
    ];
    #[cfg(target_arch = "x86_64")]
    list.extend([
        libc::SYS_iopl,
        libc::SYS_ioperm,
        libc::SYS_umount2,
        libc::SYS_uselib,
    ]);
    list.sort_unstable();
    list.dedup();
    list
}

/// The namespace flags of `clone` (`CLONE_NEWNS|NEWCGROUP|NEWUTS|NEWIPC|NEWUSER|NEWPID|NEWNET`).
pub const CLONE_NAMESPACE_FLAGS: u32 = 0x7E02_0000;

#[cfg(target_arch = "x86_64")]
const AUDIT_ARCH: u32 = 0xC000_003E;
#[cfg(target_arch = "aarch64")]
const AUDIT_ARCH: u32 = 0xC000_00B7;
/// The x32 ABI marks its syscall numbers with this bit.
const X32_SYSCALL_BIT: u32 = 0x4000_0000;

const BPF_LD_W_ABS: u16 = 0x20; // BPF_LD | BPF_W | BPF_ABS
const BPF_JEQ_K: u16 = 0x15; // BPF_JMP | BPF_JEQ | BPF_K
const BPF_JGE_K: u16 = 0x35; // BPF_JMP | BPF_JGE | BPF_K
const BPF_JSET_K: u16 = 0x45; // BPF_JMP | BPF_JSET | BPF_K
const BPF_RET_K: u16 = 0x06; // BPF_RET | BPF_K

/// One BPF instruction (`struct sock_filter`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Insn {
    /// Opcode.
    pub code: u16,
    /// Jump offset when true.
    pub jt: u8,
    /// Jump offset when false.
    pub jf: u8,
    /// Operand.
    pub k: u32,
}

fn stmt(code: u16, k: u32) -> Insn {
    Insn {
        code,
        jt: 0,
        jf: 0,
        k,
    }
}

fn jump(code: u16, k: u32, jt: u8, jf: u8) -> Insn {
    Insn { code, jt, jf, k }
}

const RET_ALLOW: u32 = 0x7fff_0000;
const RET_ERRNO: u32 = 0x0005_0000;

/// The filter program for `arch` and the `denied` numbers (pure, so tests can read it).
pub fn program(arch: u32, denied: &[i64], clone: i64, clone3: i64) -> Vec<Insn> {
    let eperm = RET_ERRNO | libc::EPERM as u32;
    let enosys = RET_ERRNO | libc::ENOSYS as u32;
    let mut p = vec![
        stmt(BPF_LD_W_ABS, 4), // seccomp_data.arch
        jump(BPF_JEQ_K, arch, 1, 0),
        stmt(BPF_RET_K, eperm),
        stmt(BPF_LD_W_ABS, 0), // seccomp_data.nr
        jump(BPF_JGE_K, X32_SYSCALL_BIT, 0, 1),
        stmt(BPF_RET_K, eperm),
        jump(BPF_JEQ_K, clone3 as u32, 0, 1),
        stmt(BPF_RET_K, enosys),
    ];
    for nr in denied {
        p.push(jump(BPF_JEQ_K, *nr as u32, 0, 1));
        p.push(stmt(BPF_RET_K, eperm));
    }
    // clone: refuse namespace flags in its first argument (low word of args[0], offset 16 on
    // little-endian machines).
    p.push(jump(BPF_JEQ_K, clone as u32, 0, 3));
    p.push(stmt(BPF_LD_W_ABS, 16));
    p.push(jump(BPF_JSET_K, CLONE_NAMESPACE_FLAGS, 0, 1));
    p.push(stmt(BPF_RET_K, eperm));
    p.push(stmt(BPF_RET_K, RET_ALLOW));
    p
}

/// Installs the filter on the calling thread (inherited across fork and exec). Needs
/// `no_new_privs` or CAP_SYS_ADMIN.
#[cfg(any(target_arch = "x86_64", target_arch = "aarch64"))]
#[allow(unsafe_code)]
pub fn install() -> Result<(), crate::sys::SysError> {
    let prog = program(AUDIT_ARCH, &denied(), libc::SYS_clone, libc::SYS_clone3);
    let mut filters: Vec<libc::sock_filter> = prog
        .iter()
        .map(|i| libc::sock_filter {
            code: i.code,
            jt: i.jt,
            jf: i.jf,
            k: i.k,
        })
        .collect();
    let fprog = libc::sock_fprog {
        len: filters.len() as u16,
        filter: filters.as_mut_ptr(),
    };
    // SAFETY: PR_SET_SECCOMP with SECCOMP_MODE_FILTER reads `fprog` and the `len` instructions
    // it points to, all of which live until the call returns (the kernel copies them).
    let rc = unsafe {
        libc::prctl(
            libc::PR_SET_SECCOMP,
            libc::SECCOMP_MODE_FILTER as libc::c_ulong,
            &fprog as *const libc::sock_fprog as libc::c_ulong,
            0,
            0,
        )
    };
    if rc < 0 {
        return Err(crate::sys::SysError::new(
            "prctl PR_SET_SECCOMP",
            "filter",
            nix::errno::Errno::last(),
        ));
    }
    Ok(())
}

/// On other architectures the deny-list is not built yet; the container runs unfiltered.
#[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64")))]
pub fn install() -> Result<(), crate::sys::SysError> {
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A tiny interpreter for the instructions [`program`] emits.
    fn run(p: &[Insn], arch: u32, nr: u32, arg0: u32) -> u32 {
        let mut acc = 0u32;
        let mut pc = 0usize;
        loop {
            let i = p[pc];
            match i.code {
                BPF_LD_W_ABS => {
                    acc = match i.k {
                        0 => nr,
                        4 => arch,
                        16 => arg0,
                        k => panic!("unexpected offset {k}"),
                    };
                    pc += 1;
                }
                BPF_RET_K => return i.k,
                code => {
                    let hit = match code {
                        BPF_JEQ_K => acc == i.k,
                        BPF_JGE_K => acc >= i.k,
                        BPF_JSET_K => acc & i.k != 0,
                        c => panic!("unexpected opcode {c:#x}"),
                    };
                    pc += 1 + if hit { i.jt as usize } else { i.jf as usize };
                }
            }
        }
    }

    #[test]
    fn denies_listed_calls_and_foreign_abis() {
        let p = program(0xC000_003E, &[169, 246], 56, 435);
        let eperm = RET_ERRNO | libc::EPERM as u32;
        assert_eq!(run(&p, 0xC000_003E, 0, 0), RET_ALLOW); // read
        assert_eq!(run(&p, 0xC000_003E, 169, 0), eperm); // reboot
        assert_eq!(run(&p, 0xC000_003E, 246, 0), eperm); // kexec_load
        assert_eq!(run(&p, 0x4000_0003, 0, 0), eperm); // i386
        assert_eq!(run(&p, 0xC000_003E, X32_SYSCALL_BIT | 1, 0), eperm); // x32
        assert_eq!(
            run(&p, 0xC000_003E, 435, 0),
            RET_ERRNO | libc::ENOSYS as u32
        ); // clone3
        assert_eq!(run(&p, 0xC000_003E, 56, 0x0001_1200), RET_ALLOW); // fork-like clone
        assert_eq!(run(&p, 0xC000_003E, 56, 0x2000_0000), eperm); // CLONE_NEWPID
    }
}
