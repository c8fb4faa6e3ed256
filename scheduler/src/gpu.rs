//! Device-level GPU state: which GPUs of a node are free, by how much, and which a pod holds.
//!
//! GPUs are shared the way GPU-sharing device plugins (Aliyun's gpushare, the Open-Gpu-Share
//! plugin of Weng et al.'s simulator) let Kubernetes users share them: each GPU is divided into
//! [`MILLI_PER_GPU`] milli-GPUs, and a pod asks either for whole GPUs or for a share of one.
//!
//! | what | where | example |
//! |---|---|---|
//! | GPUs of a node | capacity/allocatable [`GPU_RESOURCE`] | `nvidia.com/gpu: 8` |
//! | milli-GPUs of a node (what the device plugin advertises for shares) | capacity [`GPU_MILLI_RESOURCE`] | `flotilla.io/gpu-milli: 8000` |
//! | GPU model of a node | label [`GPU_MODEL_LABEL`] | `flotilla.io/gpu-model: V100M32` |
//! | whole GPUs for a pod | request (and limit) [`GPU_RESOURCE`] | `nvidia.com/gpu: 2` |
//! | a share of one GPU | request [`GPU_MILLI_RESOURCE`] | `flotilla.io/gpu-milli: 250` |
//! | GPU models the pod accepts | annotation [`GPU_MODEL_ANNOTATION`] | `V100M16\|V100M32` |
//! | GPUs assigned to the pod, written at bind | annotation [`GPU_INDEX_ANNOTATION`] | `"3"`, `"0,1"` |
//!
//! Both requests are ordinary extended resources, so NodeResourcesFit checks the node's totals
//! as for any extended resource; the device-level check (a share must fit in *one* GPU, whole
//! GPUs must be entirely free, the model must match) is the `Open-Gpu-Share` filter's
//! ([`plugins::gpu`](crate::plugins::gpu)), which reads the [`NodeGpus`] kept in each
//! [`NodeInfo`](crate::node_info::NodeInfo).
//!
//! A pod bound with an assignment annotation occupies those GPUs; a pod without one (bound by a
//! scheduler that did not choose devices) is placed on the node's GPUs by best fit, as
//! Open-Gpu-Share's `AllocateGpuId` does (pkg/type/open-gpu-share/cache/gpunodeinfo.go).

use std::any::Any;
use std::sync::{Arc, Mutex};

use flotilla_model::api::{Node, Pod};

use crate::node_info::Resource;

/// Whole GPUs: the extended resource NVIDIA's device plugin advertises and pods request.
pub const GPU_RESOURCE: &str = "nvidia.com/gpu";
/// A share of one GPU, in milli-GPUs: the extended resource a pod requests for a fraction of a
/// GPU (as gpushare's `aliyun.com/gpu-mem`), and a node's total of them.
pub const GPU_MILLI_RESOURCE: &str = "flotilla.io/gpu-milli";
/// Node label: the GPU model (`V100M32`, `T4`, `G2` …).
pub const GPU_MODEL_LABEL: &str = "flotilla.io/gpu-model";
/// Pod annotation: the GPU models the pod may run on, separated by `|` (`V100M16|V100M32`);
/// absent means any model.
pub const GPU_MODEL_ANNOTATION: &str = "flotilla.io/gpu-model";
/// Pod annotation: the indices of the GPUs the pod holds on its node, comma-separated, written
/// when the pod is bound (gpushare's `ALIYUN_COM_GPU_MEM_IDX`, Open-Gpu-Share's
/// `alibabacloud.com/gpu-index`).
pub const GPU_INDEX_ANNOTATION: &str = "flotilla.io/gpu-index";
/// The variable that tells NVIDIA's container toolkit which GPUs to expose to a container
/// (`NVIDIA_VISIBLE_DEVICES=0,1`); GPU device plugins return it from `Allocate`
/// (gpushare-device-plugin and Open-Gpu-Share set it from the pod's GPU index annotation).
pub const VISIBLE_DEVICES_ENV: &str = "NVIDIA_VISIBLE_DEVICES";
/// Milli-GPUs in one GPU.
pub const MILLI_PER_GPU: u32 = 1000;
/// The most GPUs a node has in the scoring formulas that normalise by a maximum
/// (`MaxSpecGpu` = 8000 milli-GPUs, pkg/type/open-gpu-share/utils/const.go).
pub const MAX_GPUS_PER_NODE: u32 = 8;

/// What a pod asks of GPUs: `count` GPUs with `milli` milli-GPUs of each, of an accepted model.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct GpuRequest {
    /// How many GPUs (1 for a share).
    pub count: u32,
    /// Milli-GPUs on each of them (1000 for whole GPUs).
    pub milli: u32,
    /// The accepted models; empty accepts any.
    pub models: Vec<String>,
    /// The GPUs assigned at bind, from [`GPU_INDEX_ANNOTATION`], if any.
    pub assigned: Option<Vec<u32>>,
}

impl GpuRequest {
    /// The pod's GPU request from its effective `requests` and annotations; `None` when it asks
    /// for no GPU. `nvidia.com/gpu: k` asks for k whole GPUs; `flotilla.io/gpu-milli: m` (with
    /// no `nvidia.com/gpu`) for m milli-GPUs of one GPU; both give k GPUs of m each. A share is
    /// capped at one GPU, as Open-Gpu-Share clamps `gpu-milli` to 0..1000.
    pub fn from_pod(pod: &Pod, requests: &Resource) -> Option<GpuRequest> {
        let whole = requests
            .scalar_resources
            .get(GPU_RESOURCE)
            .copied()
            .unwrap_or(0);
        let milli = requests
            .scalar_resources
            .get(GPU_MILLI_RESOURCE)
            .copied()
            .unwrap_or(0);
        if whole <= 0 && milli <= 0 {
            return None;
        }
        let count = if whole > 0 { whole } else { 1 };
        let milli = if milli > 0 {
            milli.min(i64::from(MILLI_PER_GPU))
        } else {
            i64::from(MILLI_PER_GPU)
        };
        let annotations = &pod.metadata.annotations;
        let models = annotations
            .get(GPU_MODEL_ANNOTATION)
            .map(|s| parse_models(s))
            .unwrap_or_default();
        let assigned = annotations
            .get(GPU_INDEX_ANNOTATION)
            .and_then(|s| parse_index(s));
        Some(GpuRequest {
            count: u32::try_from(count).unwrap_or(u32::MAX),
            milli: milli as u32,
            models,
            assigned,
        })
    }

    /// Whether the pod asks for a share of one GPU (`count` 1, fewer than 1000 milli-GPUs).
    pub fn is_share(&self) -> bool {
        self.count == 1 && self.milli < MILLI_PER_GPU
    }

    /// The milli-GPUs asked for in all (`count × milli`).
    pub fn total_milli(&self) -> u64 {
        u64::from(self.count) * u64::from(self.milli)
    }

    /// Whether a node of GPU model `model` is acceptable (`utils.IsNodeAccessibleToPodByType`).
    pub fn accepts_model(&self, model: Option<&str>) -> bool {
        self.models.is_empty() || model.is_some_and(|m| self.models.iter().any(|x| x == m))
    }

    /// The pod's GpuClustering tag: 0 for a share, otherwise the number of whole GPUs
    /// (capped at [`MAX_GPUS_PER_NODE`]).
    pub fn tag(&self) -> usize {
        if self.is_share() {
            0
        } else {
            self.count.min(MAX_GPUS_PER_NODE) as usize
        }
    }
}

/// The environment a GPU device plugin's `Allocate` gives container `container` of `pod`:
/// [`VISIBLE_DEVICES_ENV`] naming the GPUs of the pod's [`GPU_INDEX_ANNOTATION`], when the
/// container asks for GPUs ([`GPU_RESOURCE`] or [`GPU_MILLI_RESOURCE`] in its requests or
/// limits) and the annotation is well formed; `None` otherwise. The kubelet puts it before the
/// container's own variables (kubelet_pods.go `GenerateRunContainerOptions`: the device
/// manager's `Envs` first, then `makeEnvironmentVariables`).
pub fn device_env(pod: &Pod, container: &str) -> Option<(String, String)> {
    let c = pod
        .spec
        .init_containers
        .iter()
        .chain(&pod.spec.containers)
        .find(|c| c.name == container)?;
    let r = &c.resources;
    let asks = [GPU_RESOURCE, GPU_MILLI_RESOURCE]
        .iter()
        .any(|k| r.requests.contains_key(*k) || r.limits.contains_key(*k));
    if !asks {
        return None;
    }
    let devices = parse_index(pod.metadata.annotations.get(GPU_INDEX_ANNOTATION)?)?;
    Some((VISIBLE_DEVICES_ENV.to_string(), format_index(&devices)))
}

/// Splits a `|`-separated model list, dropping empty entries.
pub fn parse_models(text: &str) -> Vec<String> {
    text.split('|')
        .map(str::trim)
        .filter(|m| !m.is_empty())
        .map(str::to_string)
        .collect()
}

/// Parses a [`GPU_INDEX_ANNOTATION`] value (`"0,3"`); `None` when malformed or empty.
pub fn parse_index(text: &str) -> Option<Vec<u32>> {
    let list: Option<Vec<u32>> = text
        .split(',')
        .map(|s| s.trim().parse::<u32>().ok())
        .collect();
    list.filter(|l| !l.is_empty())
}

/// Formats GPU indices for [`GPU_INDEX_ANNOTATION`].
pub fn format_index(devices: &[u32]) -> String {
    devices
        .iter()
        .map(u32::to_string)
        .collect::<Vec<_>>()
        .join(",")
}

/// What a score plugin derived from one node's state and keeps from one scheduling cycle to the
/// next (FGD keeps the node's fragmentation and its scores by pod shape, see
/// [`plugins::gpu::fgd`](crate::plugins::gpu::fgd)).
///
/// It is a cache and nothing else: the plugin checks that the entry was computed from the
/// node's current state before it uses it, the entry is dropped when the node's GPUs change
/// ([`NodeGpus::take`], [`NodeGpus::release`]), a copy of the node starts with an empty slot, and
/// the slot takes no part in equality. Score runs over nodes in parallel but scores each node on
/// one thread, so the lock is never contended.
#[derive(Default)]
pub struct DerivedCache(Mutex<Option<Box<dyn Any + Send>>>);

impl DerivedCache {
    /// Runs `f` on the slot's entry (`None` when empty; `f` may replace it).
    pub fn with<R>(&self, f: impl FnOnce(&mut Option<Box<dyn Any + Send>>) -> R) -> R {
        // A panic while the lock was held leaves at worst a stale or missing entry, which the
        // plugin's check handles, so a poisoned lock is used as it is.
        let mut slot = self.0.lock().unwrap_or_else(|e| e.into_inner());
        f(&mut slot)
    }

    /// Drops the entry.
    pub fn clear(&mut self) {
        *self.0.get_mut().unwrap_or_else(|e| e.into_inner()) = None;
    }
}

impl Clone for DerivedCache {
    /// An empty slot: a copy is changed apart from the original, so it derives its own.
    fn clone(&self) -> DerivedCache {
        DerivedCache::default()
    }
}

impl PartialEq for DerivedCache {
    /// Always equal: the slot holds nothing but what can be derived from the rest of the node.
    fn eq(&self, _: &DerivedCache) -> bool {
        true
    }
}

impl Eq for DerivedCache {}

impl std::fmt::Debug for DerivedCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("DerivedCache")
    }
}

/// A node's GPUs: their model, the free milli-GPUs of each, and what holds them.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct NodeGpus {
    /// The GPU model (label [`GPU_MODEL_LABEL`]), if the node has one.
    pub model: Option<Arc<str>>,
    /// Free milli-GPUs of each GPU, by device index.
    pub free: Vec<u32>,
    /// GPU pods on the node by [`GpuRequest::tag`] (index 0: shares, k: k whole GPUs), for
    /// GpuClustering.
    pub tags: [u32; MAX_GPUS_PER_NODE as usize + 1],
    /// The devices each GPU pod holds, by `namespace/name`, with its milli-GPUs per device.
    allocations: Vec<(String, Vec<u32>, u32)>,
    /// What score plugins derived from these GPUs (a cache; see [`DerivedCache`]).
    pub derived: DerivedCache,
}

impl NodeGpus {
    /// The GPUs of `node`: `nvidia.com/gpu` of its allocatable (or capacity), all free.
    pub fn from_node(node: &Node) -> NodeGpus {
        let count = node
            .allocatable()
            .get(GPU_RESOURCE)
            .map_or(0, |q| q.value())
            .clamp(0, 1024) as usize;
        if count == 0 {
            return NodeGpus::default();
        }
        NodeGpus {
            model: node
                .metadata
                .labels
                .get(GPU_MODEL_LABEL)
                .map(|m| Arc::from(m.as_str())),
            free: vec![MILLI_PER_GPU; count],
            ..NodeGpus::default()
        }
    }

    /// A node with `free` milli-GPUs on each GPU (for tests and studies).
    pub fn with_free(model: Option<&str>, free: Vec<u32>) -> NodeGpus {
        NodeGpus {
            model: model.map(Arc::from),
            free,
            ..NodeGpus::default()
        }
    }

    /// Number of GPUs.
    pub fn count(&self) -> usize {
        self.free.len()
    }

    /// Free milli-GPUs over all GPUs.
    pub fn free_total(&self) -> u64 {
        self.free.iter().map(|&f| u64::from(f)).sum()
    }

    /// Number of entirely free GPUs.
    pub fn fully_free(&self) -> usize {
        self.free.iter().filter(|&&f| f >= MILLI_PER_GPU).count()
    }

    /// Number of GPUs with at least `milli` free.
    pub fn fitting(&self, milli: u32) -> usize {
        self.free.iter().filter(|&&f| f >= milli).count()
    }

    /// The model as a `&str`.
    pub fn model(&self) -> Option<&str> {
        self.model.as_deref()
    }

    /// Whether `req` fits on the node's GPUs: the model is accepted and `count` distinct GPUs
    /// each have `milli` free (Open-Gpu-Share's Filter and `AllocateGpuId`).
    pub fn fits(&self, req: &GpuRequest) -> bool {
        req.accepts_model(self.model()) && self.fitting(req.milli) >= req.count as usize
    }

    /// The GPUs Open-Gpu-Share's best fit gives `req`: for a share, the GPU with the least free
    /// that still fits (lowest index on ties, `allocateGpuIdBasedOnBestFit`); for whole GPUs,
    /// the first `count` entirely free GPUs by index (`AllocateExclusiveGpuId`); for several
    /// partial GPUs, the first `count` that fit. `None` when it does not fit.
    pub fn best_fit(&self, req: &GpuRequest) -> Option<Vec<u32>> {
        if !self.fits(req) {
            return None;
        }
        if req.is_share() {
            let mut best: Option<usize> = None;
            for (i, &f) in self.free.iter().enumerate() {
                if f >= req.milli && best.is_none_or(|b| f < self.free[b]) {
                    best = Some(i);
                }
            }
            return best.map(|b| vec![b as u32]);
        }
        Some(
            self.free
                .iter()
                .enumerate()
                .filter(|(_, &f)| f >= req.milli)
                .take(req.count as usize)
                .map(|(i, _)| i as u32)
                .collect(),
        )
    }

    /// Whether `devices` are valid for `req`: as many as asked, distinct, on the node, each with
    /// `milli` free.
    pub fn can_take(&self, req: &GpuRequest, devices: &[u32]) -> bool {
        devices.len() == req.count as usize
            && devices.iter().enumerate().all(|(j, &d)| {
                self.free.get(d as usize).is_some_and(|&f| f >= req.milli)
                    && !devices[..j].contains(&d)
            })
    }

    /// Takes `milli` from each of `devices` for the pod `key` (which must be valid, see
    /// [`NodeGpus::can_take`]; an invalid index is skipped and a GPU never goes below zero).
    pub fn take(&mut self, key: String, req: &GpuRequest, devices: Vec<u32>) {
        self.derived.clear();
        for &d in &devices {
            if let Some(f) = self.free.get_mut(d as usize) {
                *f = f.saturating_sub(req.milli);
            }
        }
        self.tags[req.tag()] += 1;
        self.allocations.push((key, devices, req.milli));
    }

    /// Gives back what the pod `key` holds; returns whether it held anything.
    pub fn release(&mut self, key: &str, req: &GpuRequest) -> bool {
        let Some(i) = self.allocations.iter().position(|(k, _, _)| k == key) else {
            return false;
        };
        let (_, devices, milli) = self.allocations.remove(i);
        self.derived.clear();
        for d in devices {
            if let Some(f) = self.free.get_mut(d as usize) {
                *f = (*f + milli).min(MILLI_PER_GPU);
            }
        }
        let tag = &mut self.tags[req.tag()];
        *tag = tag.saturating_sub(1);
        true
    }

    /// The devices the pod `key` holds, if any.
    pub fn devices_of(&self, key: &str) -> Option<&[u32]> {
        self.allocations
            .iter()
            .find(|(k, _, _)| k == key)
            .map(|(_, d, _)| d.as_slice())
    }

    /// Adds a pod with `req` under `key`: on its assigned GPUs when the assignment is valid
    /// here, otherwise by [`NodeGpus::best_fit`]. A pod that fits nowhere (bound past the
    /// scheduler) holds nothing.
    pub fn add(&mut self, key: String, req: &GpuRequest) {
        if self.free.is_empty() {
            return;
        }
        let devices = match &req.assigned {
            Some(d) if self.can_take(req, d) => Some(d.clone()),
            _ => self.best_fit(req),
        };
        if let Some(devices) = devices {
            self.take(key, req, devices);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(count: u32, milli: u32) -> GpuRequest {
        GpuRequest {
            count,
            milli,
            models: Vec::new(),
            assigned: None,
        }
    }

    #[test]
    fn best_fit_takes_the_tightest_gpu_and_whole_gpus_by_index() {
        let g = NodeGpus::with_free(Some("T4"), vec![1000, 300, 600, 1000]);
        assert_eq!(g.best_fit(&req(1, 250)), Some(vec![1]));
        assert_eq!(g.best_fit(&req(1, 500)), Some(vec![2]));
        assert_eq!(g.best_fit(&req(2, 1000)), Some(vec![0, 3]));
        assert_eq!(g.best_fit(&req(3, 1000)), None);
    }

    #[test]
    fn take_and_release_restore_the_gpus() {
        let mut g = NodeGpus::with_free(None, vec![1000, 1000]);
        let r = req(1, 400);
        g.add("ns/a".into(), &r);
        assert_eq!(g.free, vec![600, 1000]);
        assert_eq!(g.tags[0], 1);
        assert!(g.release("ns/a", &r));
        assert_eq!(g.free, vec![1000, 1000]);
        assert_eq!(g.tags[0], 0);
        assert!(!g.release("ns/a", &r));
    }

    #[test]
    fn device_env_names_the_assigned_gpus_for_containers_that_ask_for_them() {
        let pod: Pod = serde_json::from_value(serde_json::json!({
            "metadata": {"name": "p", "annotations": {"flotilla.io/gpu-index": "2,3"}},
            "spec": {"containers": [
                {"name": "app", "image": "i", "resources": {"limits": {"nvidia.com/gpu": "2"}}},
                {"name": "log", "image": "i"},
            ]},
        }))
        .unwrap();
        assert_eq!(
            device_env(&pod, "app"),
            Some(("NVIDIA_VISIBLE_DEVICES".into(), "2,3".into()))
        );
        assert_eq!(device_env(&pod, "log"), None);
        assert_eq!(device_env(&pod, "missing"), None);
        let mut unassigned = pod.clone();
        unassigned.metadata.annotations.clear();
        assert_eq!(device_env(&unassigned, "app"), None);
    }

    #[test]
    fn index_annotations_round_trip() {
        assert_eq!(parse_index("0,3"), Some(vec![0, 3]));
        assert_eq!(parse_index("x"), None);
        assert_eq!(parse_index(""), None);
        assert_eq!(format_index(&[2, 5]), "2,5");
        assert_eq!(parse_models("V100M16|V100M32"), ["V100M16", "V100M32"]);
    }
}
