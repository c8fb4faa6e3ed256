//! From a container's `resources` to the values written into cgroup files (pure).

use flotilla_model::api::ResourceRequirements;

use super::{CgroupVersion, Controller};

/// The CFS period the runtime uses, in microseconds (the kernel's and Kubernetes' default).
pub const CPU_PERIOD_US: i64 = 100_000;

/// The smallest quota Kubernetes writes, in microseconds (kubelet `MinQuotaPeriod`, 1 ms).
pub const MIN_CPU_QUOTA_US: i64 = 1_000;

/// `cpu.shares` bounds (kubelet `MinShares` and `MaxShares`).
pub const MIN_SHARES: u64 = 2;
/// See [`MIN_SHARES`].
pub const MAX_SHARES: u64 = 262_144;

/// The limits of one cgroup, in the kernel's units.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Limits {
    /// CFS quota in microseconds per [`CPU_PERIOD_US`] (from `limits.cpu`).
    pub cpu_quota_us: Option<i64>,
    /// Relative CPU weight as v1 shares (from `requests.cpu`; v2 converts it to a weight).
    pub cpu_shares: Option<u64>,
    /// Memory limit in bytes (from `limits.memory`); swap is limited to nothing beyond it.
    pub memory_bytes: Option<i64>,
    /// The most tasks (processes and threads) the cgroup may hold.
    pub pids_max: Option<i64>,
}

/// One value to write into one cgroup file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CgroupWrite {
    /// The controller whose hierarchy holds the file.
    pub controller: Controller,
    /// The file name (`cpu.max`, `memory.limit_in_bytes`).
    pub file: &'static str,
    /// What to write.
    pub value: String,
    /// Whether a missing file is fine (swap accounting may be off).
    pub optional: bool,
}

/// kubelet `MilliCPUToShares` (pkg/kubelet/cm/helpers_linux.go): 1 CPU is 1024 shares,
/// at least 2, at most 262144.
pub fn milli_cpu_to_shares(milli: i64) -> u64 {
    if milli <= 0 {
        return MIN_SHARES;
    }
    let shares = (milli as u64).saturating_mul(1024) / 1000;
    shares.clamp(MIN_SHARES, MAX_SHARES)
}

/// kubelet `MilliCPUToQuota`: `milli × period / 1000`, at least 1 ms; `None` for no limit.
pub fn milli_cpu_to_quota(milli: i64) -> Option<i64> {
    if milli <= 0 {
        return None;
    }
    Some((milli.saturating_mul(CPU_PERIOD_US) / 1000).max(MIN_CPU_QUOTA_US))
}

/// kubelet `CpuSharesToCpuWeight` (cgroup v2): shares 2…262144 map linearly onto weight
/// 1…10000 (`1 + (shares − 2) × 9999 / 262142`).
pub fn shares_to_weight(shares: u64) -> u64 {
    let shares = shares.clamp(MIN_SHARES, MAX_SHARES);
    1 + ((shares - 2) * 9999) / 262_142
}

impl Limits {
    /// A container's limits: `limits.cpu` → quota, `requests.cpu` → shares (2 when none, as
    /// the kubelet does), `limits.memory` → memory limit. Quantities that do not fit are
    /// treated as absent rather than trusted.
    pub fn for_container(resources: &ResourceRequirements) -> Limits {
        let cpu_limit = resources.limits.get("cpu").map(|q| q.milli_value());
        let cpu_request = resources
            .requests
            .get("cpu")
            .map(|q| q.milli_value())
            .or(cpu_limit);
        let memory = resources
            .limits
            .get("memory")
            .map(|q| q.value())
            .filter(|v| *v > 0);
        Limits {
            cpu_quota_us: cpu_limit.and_then(milli_cpu_to_quota),
            cpu_shares: Some(milli_cpu_to_shares(cpu_request.unwrap_or(0))),
            memory_bytes: memory,
            pids_max: None,
        }
    }

    /// A pod's limits: the sums of its containers' CPU and memory limits when every
    /// container has one (as the kubelet sizes a pod cgroup), and the node's pod pids limit.
    pub fn for_pod<'a>(
        containers: impl IntoIterator<Item = &'a ResourceRequirements>,
        pids_max: Option<i64>,
    ) -> Limits {
        let mut cpu: Option<i64> = Some(0);
        let mut memory: Option<i64> = Some(0);
        let mut shares: u64 = 0;
        let mut any = false;
        for r in containers {
            any = true;
            let c = Limits::for_container(r);
            cpu = match (cpu, r.limits.get("cpu")) {
                (Some(sum), Some(q)) => Some(sum.saturating_add(q.milli_value())),
                _ => None,
            };
            memory = match (memory, c.memory_bytes) {
                (Some(sum), Some(m)) => Some(sum.saturating_add(m)),
                _ => None,
            };
            shares = shares.saturating_add(c.cpu_shares.unwrap_or(MIN_SHARES));
        }
        if !any {
            return Limits {
                pids_max,
                ..Limits::default()
            };
        }
        Limits {
            cpu_quota_us: cpu.and_then(milli_cpu_to_quota),
            cpu_shares: Some(shares.clamp(MIN_SHARES, MAX_SHARES)),
            memory_bytes: memory,
            pids_max,
        }
    }

    /// The files to write, in order, given which version holds each controller (`None`:
    /// the controller is not available and its limit is skipped).
    pub fn writes(
        &self,
        version: impl Fn(Controller) -> Option<CgroupVersion>,
    ) -> Vec<CgroupWrite> {
        let mut out = Vec::new();
        let mut w = |controller, file, value: String, optional| {
            out.push(CgroupWrite {
                controller,
                file,
                value,
                optional,
            })
        };
        match version(Controller::Cpu) {
            Some(CgroupVersion::V1) => {
                if let Some(q) = self.cpu_quota_us {
                    // runc writes the period before the quota.
                    w(
                        Controller::Cpu,
                        "cpu.cfs_period_us",
                        CPU_PERIOD_US.to_string(),
                        false,
                    );
                    w(Controller::Cpu, "cpu.cfs_quota_us", q.to_string(), false);
                }
                if let Some(s) = self.cpu_shares {
                    w(Controller::Cpu, "cpu.shares", s.to_string(), false);
                }
            }
            Some(CgroupVersion::V2) => {
                if let Some(q) = self.cpu_quota_us {
                    w(
                        Controller::Cpu,
                        "cpu.max",
                        format!("{q} {CPU_PERIOD_US}"),
                        false,
                    );
                }
                if let Some(s) = self.cpu_shares {
                    w(
                        Controller::Cpu,
                        "cpu.weight",
                        shares_to_weight(s).to_string(),
                        false,
                    );
                }
            }
            None => {}
        }
        match (version(Controller::Memory), self.memory_bytes) {
            (Some(CgroupVersion::V1), Some(m)) => {
                w(
                    Controller::Memory,
                    "memory.limit_in_bytes",
                    m.to_string(),
                    false,
                );
                w(
                    Controller::Memory,
                    "memory.memsw.limit_in_bytes",
                    m.to_string(),
                    true,
                );
            }
            (Some(CgroupVersion::V2), Some(m)) => {
                w(Controller::Memory, "memory.max", m.to_string(), false);
                w(Controller::Memory, "memory.swap.max", "0".to_string(), true);
            }
            _ => {}
        }
        if let (Some(_), Some(p)) = (version(Controller::Pids), self.pids_max) {
            w(Controller::Pids, "pids.max", p.to_string(), false);
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use flotilla_model::quantity::Quantity;

    fn resources(limits: &[(&str, &str)], requests: &[(&str, &str)]) -> ResourceRequirements {
        let list = |kv: &[(&str, &str)]| {
            kv.iter()
                .map(|(k, v)| (k.to_string(), Quantity::parse(v).expect("quantity")))
                .collect()
        };
        ResourceRequirements {
            limits: list(limits),
            requests: list(requests),
        }
    }

    #[test]
    fn kubelet_conversions() {
        assert_eq!(milli_cpu_to_shares(0), 2);
        assert_eq!(milli_cpu_to_shares(1), 2);
        assert_eq!(milli_cpu_to_shares(250), 256);
        assert_eq!(milli_cpu_to_shares(1000), 1024);
        assert_eq!(milli_cpu_to_shares(1_000_000), MAX_SHARES);
        assert_eq!(milli_cpu_to_quota(0), None);
        assert_eq!(milli_cpu_to_quota(5), Some(1000));
        assert_eq!(milli_cpu_to_quota(500), Some(50_000));
        assert_eq!(milli_cpu_to_quota(2000), Some(200_000));
        assert_eq!(shares_to_weight(2), 1);
        assert_eq!(shares_to_weight(1024), 39);
        assert_eq!(shares_to_weight(262_144), 10_000);
    }

    #[test]
    fn container_limits_v1_and_v2() {
        let r = resources(&[("cpu", "500m"), ("memory", "32Mi")], &[("cpu", "250m")]);
        let limits = Limits::for_container(&r);
        assert_eq!(
            limits,
            Limits {
                cpu_quota_us: Some(50_000),
                cpu_shares: Some(256),
                memory_bytes: Some(32 << 20),
                pids_max: None
            }
        );
        let v1 = limits.writes(|_| Some(CgroupVersion::V1));
        let files: Vec<(&str, &str)> = v1.iter().map(|w| (w.file, w.value.as_str())).collect();
        assert_eq!(
            files,
            [
                ("cpu.cfs_period_us", "100000"),
                ("cpu.cfs_quota_us", "50000"),
                ("cpu.shares", "256"),
                ("memory.limit_in_bytes", "33554432"),
                ("memory.memsw.limit_in_bytes", "33554432"),
            ]
        );
        let v2 = limits.writes(|_| Some(CgroupVersion::V2));
        let files: Vec<(&str, &str)> = v2.iter().map(|w| (w.file, w.value.as_str())).collect();
        assert_eq!(
            files,
            [
                ("cpu.max", "50000 100000"),
                ("cpu.weight", "10"),
                ("memory.max", "33554432"),
                ("memory.swap.max", "0"),
            ]
        );
    }

    #[test]
    fn request_defaults_to_limit_and_missing_controllers_are_skipped() {
        let r = resources(&[("cpu", "1")], &[]);
        let limits = Limits::for_container(&r);
        assert_eq!(limits.cpu_shares, Some(1024));
        let only_memory = limits.writes(|c| (c == Controller::Memory).then_some(CgroupVersion::V1));
        assert!(only_memory.is_empty());
    }

    #[test]
    fn pod_sums_only_when_every_container_is_limited() {
        let a = resources(&[("cpu", "500m"), ("memory", "64Mi")], &[]);
        let b = resources(&[("cpu", "250m"), ("memory", "32Mi")], &[]);
        let c = resources(&[], &[("cpu", "100m")]);
        let both = Limits::for_pod([&a, &b], Some(64));
        assert_eq!(both.cpu_quota_us, Some(75_000));
        assert_eq!(both.memory_bytes, Some(96 << 20));
        assert_eq!(both.pids_max, Some(64));
        let mixed = Limits::for_pod([&a, &c], None);
        assert_eq!(mixed.cpu_quota_us, None);
        assert_eq!(mixed.memory_bytes, None);
        let pids = mixed.writes(|_| Some(CgroupVersion::V2));
        assert!(pids.iter().all(|w| w.file != "pids.max"));
    }
}
