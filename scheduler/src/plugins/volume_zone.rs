//! VolumeZone: a pod whose bound PersistentVolumes carry zone or region labels runs only on
//! nodes in those zones and regions.
//!
//! kube-scheduler v1.34, volumezone/volume_zone.go. PreFilter follows each claim the pod mounts
//! to its PersistentVolume (`spec.volumeName`) and collects the volume's topology labels:
//! `failure-domain.beta.kubernetes.io/zone`, `failure-domain.beta.kubernetes.io/region`,
//! `topology.kubernetes.io/zone` and `topology.kubernetes.io/region`, whose values may list
//! several zones separated by `__` (`us-west1-a__us-west1-b`). An unbound claim of a
//! WaitForFirstConsumer class is passed over (VolumeBinding handles it); any other unbound
//! claim, or a missing claim, volume or class, rejects the pod as UnschedulableAndUnresolvable.
//! No topology label at all: Skip.
//!
//! Filter: a node without any of the four labels passes (single-zone clusters). Otherwise, for
//! every collected label, the node's value of that label (or, for a beta label the node lacks,
//! of its GA twin) must be one of the volume's values, else `node(s) had no available volume
//! zone` (UnschedulableAndUnresolvable).

use std::sync::Arc;

use crate::framework::{
    CycleState, FilterPlugin, Plugin, PreFilterPlugin, PreFilterResult, Status,
};
use crate::node_info::{NodeInfo, PodInfo};
use crate::plugins::volume_restrictions::{claim_names, pvc_not_found};
use crate::snapshot::{Snapshot, REGION_LABEL, ZONE_LABEL};

/// The plugin's name in a KubeSchedulerConfiguration.
pub const NAME: &str = "VolumeZone";

/// Filter reason when a volume's zone or region does not match the node's.
pub const ERR_REASON_CONFLICT: &str = "node(s) had no available volume zone";

/// The deprecated zone label.
pub const BETA_ZONE_LABEL: &str = "failure-domain.beta.kubernetes.io/zone";
/// The deprecated region label.
pub const BETA_REGION_LABEL: &str = "failure-domain.beta.kubernetes.io/region";

/// The labels compared, in kube-scheduler's order (`topologyLabels`).
const TOPOLOGY_LABELS: [&str; 4] = [BETA_ZONE_LABEL, BETA_REGION_LABEL, ZONE_LABEL, REGION_LABEL];

/// The GA label for a beta one (`translateToGALabel`).
fn ga_label(label: &str) -> &str {
    match label {
        BETA_REGION_LABEL => REGION_LABEL,
        BETA_ZONE_LABEL => ZONE_LABEL,
        other => other,
    }
}

/// The zones of a multi-zone label value (`volumehelpers.LabelZonesToSet`): split on `__`,
/// trimmed; `None` when an element is empty (kube-scheduler then ignores the label).
pub fn label_zones(value: &str) -> Option<Vec<String>> {
    let mut zones = Vec::new();
    for z in value.split("__") {
        let z = z.trim();
        if z.is_empty() {
            return None;
        }
        if !zones.iter().any(|x| x == z) {
            zones.push(z.to_string());
        }
    }
    Some(zones)
}

/// One topology label of one of the pod's volumes.
#[derive(Clone, Debug, PartialEq, Eq)]
struct PvTopology {
    key: &'static str,
    values: Vec<String>,
}

/// The class a claim asks for as kube-scheduler reads it (`GetPersistentVolumeClaimClass`):
/// the beta annotation first, then `spec.storageClassName`, `""` for none.
pub(crate) fn claim_class(pvc: &flotilla_model::api::PersistentVolumeClaim) -> &str {
    pvc.metadata
        .annotations
        .get(flotilla_model::api::BETA_STORAGE_CLASS_ANNOTATION)
        .map(String::as_str)
        .or(pvc.spec.storage_class_name.as_deref())
        .unwrap_or("")
}

/// kube-scheduler's not-found error for a StorageClass, as its lister words it.
pub(crate) fn class_not_found(name: &str) -> String {
    format!("storageclass.storage.k8s.io {name:?} not found")
}

/// kube-scheduler's not-found error for a PersistentVolume, as its lister words it.
pub(crate) fn pv_not_found(name: &str) -> String {
    format!("persistentvolume {name:?} not found")
}

/// The VolumeZone plugin. See the [module docs](self).
#[derive(Clone, Debug, Default)]
pub struct VolumeZone;

impl VolumeZone {
    /// The plugin (it takes no arguments).
    pub fn new() -> VolumeZone {
        VolumeZone
    }

    /// `getPVbyPod`: the topology labels of the pod's bound volumes.
    fn pv_topologies(pod: &PodInfo, snapshot: &Snapshot) -> Result<Vec<PvTopology>, Status> {
        let volumes = &snapshot.volumes;
        let mut out = Vec::new();
        for name in claim_names(&pod.pod) {
            if name.is_empty() {
                return Err(Status::unresolvable("PersistentVolumeClaim had no name"));
            }
            let pvc = volumes
                .pvc(&pod.pod.metadata.namespace, name)
                .ok_or_else(|| Status::unresolvable(pvc_not_found(name)))?;
            let pv_name = pvc.spec.volume_name.as_deref().unwrap_or("");
            if pv_name.is_empty() {
                let class_name = claim_class(pvc);
                if class_name.is_empty() {
                    return Err(Status::unresolvable(
                        "PersistentVolumeClaim had no pv name and storageClass name",
                    ));
                }
                let class = volumes
                    .storage_classes
                    .get(class_name)
                    .ok_or_else(|| Status::unresolvable(class_not_found(class_name)))?;
                match class.volume_binding_mode {
                    None => {
                        return Err(Status::unresolvable(format!(
                            "VolumeBindingMode not set for StorageClass {class_name:?}"
                        )))
                    }
                    // Unbound volumes waiting for their first consumer: VolumeBinding's business.
                    Some(flotilla_model::api::VolumeBindingMode::WaitForFirstConsumer) => continue,
                    Some(_) => {
                        return Err(Status::unresolvable("PersistentVolume had no name"));
                    }
                }
            }
            let pv = volumes
                .pvs
                .get(pv_name)
                .ok_or_else(|| Status::unresolvable(pv_not_found(pv_name)))?;
            for key in TOPOLOGY_LABELS {
                if let Some(value) = pv.metadata.labels.get(key) {
                    if let Some(values) = label_zones(value) {
                        out.push(PvTopology { key, values });
                    }
                }
            }
        }
        Ok(out)
    }
}

impl Plugin for VolumeZone {
    fn name(&self) -> &'static str {
        NAME
    }
    fn as_pre_filter(&self) -> Option<&dyn PreFilterPlugin> {
        Some(self)
    }
    fn as_filter(&self) -> Option<&dyn FilterPlugin> {
        Some(self)
    }
}

impl PreFilterPlugin for VolumeZone {
    fn pre_filter(
        &self,
        state: &mut CycleState,
        pod: &PodInfo,
        snapshot: &Snapshot,
    ) -> (PreFilterResult, Status) {
        match VolumeZone::pv_topologies(pod, snapshot) {
            Err(status) => (PreFilterResult::default(), status),
            Ok(t) if t.is_empty() => (PreFilterResult::default(), Status::skip()),
            Ok(t) => {
                state.write(NAME, Arc::new(t));
                (PreFilterResult::default(), Status::success())
            }
        }
    }
}

impl FilterPlugin for VolumeZone {
    fn filter(&self, state: &CycleState, pod: &PodInfo, node: &NodeInfo) -> Status {
        if pod.pod.spec.volumes.is_empty() {
            return Status::success();
        }
        let Some(topologies) = state.read::<Arc<Vec<PvTopology>>>(NAME) else {
            return Status::success();
        };
        let labels = &node.node.metadata.labels;
        if !TOPOLOGY_LABELS.iter().any(|l| labels.contains_key(*l)) {
            return Status::success();
        }
        for t in topologies.iter() {
            let value = labels.get(t.key).or_else(|| labels.get(ga_label(t.key)));
            if !value.is_some_and(|v| t.values.iter().any(|z| z == v)) {
                return Status::unresolvable(ERR_REASON_CONFLICT);
            }
        }
        Status::success()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::framework::Code;
    use crate::plugins::testing::{node, pod};
    use crate::snapshot::VolumeObjects;
    use flotilla_model::api::{
        Node, PersistentVolume, PersistentVolumeClaim, Pod, StorageClass, VolumeBindingMode,
    };
    use serde_json::json;

    fn pv(name: &str, labels: &[(&str, &str)]) -> Arc<PersistentVolume> {
        let labels: serde_json::Map<String, serde_json::Value> = labels
            .iter()
            .map(|(k, v)| (k.to_string(), json!(v)))
            .collect();
        Arc::new(
            serde_json::from_value(json!({"metadata": {"name": name, "labels": labels}}))
                .expect("pv decodes"),
        )
    }

    fn pvc(name: &str, spec: serde_json::Value) -> Arc<PersistentVolumeClaim> {
        Arc::new(
            serde_json::from_value(json!({
                "metadata": {"name": name, "namespace": "default"}, "spec": spec
            }))
            .expect("pvc decodes"),
        )
    }

    fn bound(name: &str, volume: &str) -> Arc<PersistentVolumeClaim> {
        pvc(name, json!({"volumeName": volume}))
    }

    /// `createPodWithVolume(pod, pvc)`.
    fn pod_with(claim: &str) -> Arc<Pod> {
        pod(json!({
            "metadata": {"name": "pod_1", "namespace": "default"},
            "spec": {"volumes": [{"name": "v", "persistentVolumeClaim": {"claimName": claim}}],
                     "containers": [{"name": "c", "image": "i"}]}
        }))
    }

    fn host(labels: &[(&str, &str)]) -> Arc<Node> {
        let labels: serde_json::Map<String, serde_json::Value> = labels
            .iter()
            .map(|(k, v)| (k.to_string(), json!(v)))
            .collect();
        node(json!({"metadata": {"name": "host1", "labels": labels}}))
    }

    /// PreFilter, then Filter (when PreFilter succeeded) of `p` on `n`.
    fn run(p: &Arc<Pod>, n: Arc<Node>, volumes: &Arc<VolumeObjects>) -> (Status, Status) {
        let mut s = Snapshot::new(&[n], &[], &[]);
        s.volumes = volumes.clone();
        let info = PodInfo::new(p.clone());
        let mut state = CycleState::new();
        let (_, pre) = VolumeZone.pre_filter(&mut state, &info, &s);
        let filter = if pre.is_success() {
            VolumeZone.filter(&state, &info, &s.nodes[0])
        } else {
            Status::success()
        };
        (pre, filter)
    }

    const USELESS: (&str, &str) = ("uselessLabel", "none");

    /// A node's labels in a test case.
    type Labels = Vec<(&'static str, &'static str)>;

    // volume_zone_test.go TestSingleZone, every case.
    #[test]
    fn single_zone() {
        let volumes = Arc::new(VolumeObjects::new(
            &[
                bound("PVC_1", "Vol_1"),
                bound("PVC_2", "Vol_2"),
                bound("PVC_3", "Vol_3"),
                bound("PVC_4", "Vol_not_exist"),
                bound("PVC_Stable_1", "Vol_Stable_1"),
                bound("PVC_Stable_2", "Vol_Stable_2"),
                bound("PVC_Stable_3", "Vol_Stable_3"),
            ],
            &[
                pv("Vol_1", &[(BETA_ZONE_LABEL, "us-west1-a")]),
                pv("Vol_2", &[(BETA_REGION_LABEL, "us-west1"), USELESS]),
                pv("Vol_3", &[(BETA_REGION_LABEL, "us-west1")]),
                pv("Vol_Stable_1", &[(ZONE_LABEL, "us-west1-a")]),
                pv("Vol_Stable_2", &[(REGION_LABEL, "us-west1"), USELESS]),
                pv(
                    "Vol_Stable_3",
                    &[(ZONE_LABEL, "us-west1-a"), (REGION_LABEL, "us-west1-a")],
                ),
            ],
            &[],
        ));
        let ok = Status::success();
        let conflict = Status::unresolvable(ERR_REASON_CONFLICT);
        let no_volume = pod(json!({"metadata": {"name": "pod_1"}}));
        let cases: Vec<(&str, Arc<Pod>, Labels, Code, Status)> = vec![
            (
                "pod without volume",
                no_volume,
                vec![(BETA_ZONE_LABEL, "us-west1-a")],
                Code::Skip,
                ok.clone(),
            ),
            (
                "node without labels",
                pod_with("PVC_1"),
                vec![],
                Code::Success,
                ok.clone(),
            ),
            (
                "beta zone label matched",
                pod_with("PVC_1"),
                vec![(BETA_ZONE_LABEL, "us-west1-a"), USELESS],
                Code::Success,
                ok.clone(),
            ),
            (
                "beta region label matched",
                pod_with("PVC_2"),
                vec![(BETA_REGION_LABEL, "us-west1"), USELESS],
                Code::Success,
                ok.clone(),
            ),
            (
                "beta region label doesn't match",
                pod_with("PVC_2"),
                vec![(BETA_REGION_LABEL, "no_us-west1"), USELESS],
                Code::Success,
                conflict.clone(),
            ),
            (
                "beta zone label doesn't match",
                pod_with("PVC_1"),
                vec![(BETA_ZONE_LABEL, "no_us-west1-a"), USELESS],
                Code::Success,
                conflict.clone(),
            ),
            (
                "zone label matched",
                pod_with("PVC_Stable_1"),
                vec![(ZONE_LABEL, "us-west1-a"), USELESS],
                Code::Success,
                ok.clone(),
            ),
            (
                "region label matched",
                pod_with("PVC_Stable_2"),
                vec![(REGION_LABEL, "us-west1"), USELESS],
                Code::Success,
                ok.clone(),
            ),
            (
                "region label doesn't match",
                pod_with("PVC_Stable_2"),
                vec![(REGION_LABEL, "no_us-west1"), USELESS],
                Code::Success,
                conflict.clone(),
            ),
            (
                "zone label doesn't match",
                pod_with("PVC_Stable_1"),
                vec![(ZONE_LABEL, "no_us-west1-a"), USELESS],
                Code::Success,
                conflict.clone(),
            ),
            (
                "pv with zone and region, node with only zone",
                pod_with("PVC_Stable_3"),
                vec![(ZONE_LABEL, "us-west1-a")],
                Code::Success,
                conflict.clone(),
            ),
            (
                "pv with zone,node with beta zone",
                pod_with("PVC_Stable_1"),
                vec![(BETA_ZONE_LABEL, "us-west1-a")],
                Code::Success,
                conflict.clone(),
            ),
            (
                "pv with beta label,node with ga label, matched",
                pod_with("PVC_1"),
                vec![(ZONE_LABEL, "us-west1-a")],
                Code::Success,
                ok.clone(),
            ),
            (
                "pv with beta label,node with ga label, don't match",
                pod_with("PVC_1"),
                vec![(ZONE_LABEL, "us-west1-b")],
                Code::Success,
                conflict,
            ),
        ];
        for (name, p, labels, pre_code, want) in cases {
            let (pre, filter) = run(&p, host(&labels), &volumes);
            assert_eq!(pre.code, pre_code, "{name}: PreFilter {pre}");
            assert_eq!(filter, want, "{name}: Filter");
        }
    }

    // volume_zone_test.go TestMultiZone, every case.
    #[test]
    fn multi_zone() {
        let volumes = Arc::new(VolumeObjects::new(
            &[
                bound("PVC_1", "Vol_1"),
                bound("PVC_2", "Vol_2"),
                bound("PVC_3", "Vol_3"),
                bound("PVC_4", "Vol_not_exist"),
                bound("PVC_Stable_1", "Vol_Stable_1"),
                bound("PVC_Stable_2", "Vol_Stable_2"),
            ],
            &[
                pv("Vol_1", &[(BETA_ZONE_LABEL, "us-west1-a")]),
                pv("Vol_2", &[(BETA_ZONE_LABEL, "us-west1-b"), USELESS]),
                pv("Vol_3", &[(BETA_ZONE_LABEL, "us-west1-c__us-west1-a")]),
                pv("Vol_Stable_1", &[(ZONE_LABEL, "us-west1-a")]),
                pv("Vol_Stable_2", &[(ZONE_LABEL, "us-west1-c__us-west1-a")]),
            ],
            &[],
        ));
        let ok = Status::success();
        let conflict = Status::unresolvable(ERR_REASON_CONFLICT);
        let cases: Vec<(&str, &str, Labels, Status)> = vec![
            ("node without labels", "PVC_3", vec![], ok.clone()),
            (
                "beta zone label matched",
                "PVC_3",
                vec![(BETA_ZONE_LABEL, "us-west1-a"), USELESS],
                ok.clone(),
            ),
            (
                "beta zone label doesn't match",
                "PVC_1",
                vec![(BETA_ZONE_LABEL, "us-west1-b"), USELESS],
                conflict.clone(),
            ),
            (
                "zone label matched",
                "PVC_Stable_2",
                vec![(ZONE_LABEL, "us-west1-a"), USELESS],
                ok,
            ),
            (
                "zone label doesn't match",
                "PVC_Stable_1",
                vec![(ZONE_LABEL, "us-west1-b"), USELESS],
                conflict,
            ),
        ];
        for (name, claim, labels, want) in cases {
            let (pre, filter) = run(&pod_with(claim), host(&labels), &volumes);
            assert!(pre.is_success(), "{name}: PreFilter {pre}");
            assert_eq!(filter, want, "{name}: Filter");
        }
        // PVC_4's volume does not exist.
        let (pre, _) = run(&pod_with("PVC_4"), host(&[]), &volumes);
        assert_eq!(
            pre,
            Status::unresolvable("persistentvolume \"Vol_not_exist\" not found")
        );
    }

    // volume_zone_test.go TestWithBinding, every case. kube-scheduler's test uses a fake class
    // lister whose not-found error says `storageclasses.storage.k8s.io`; the real lister (and
    // this plugin) says `storageclass.storage.k8s.io`.
    #[test]
    fn with_binding() {
        let class = |name: &str, mode: Option<VolumeBindingMode>| {
            Arc::new(StorageClass {
                metadata: flotilla_model::ObjectMeta::named("", name),
                volume_binding_mode: mode,
                ..StorageClass::default()
            })
        };
        let volumes = Arc::new(VolumeObjects::new(
            &[
                bound("PVC_1", "Vol_1"),
                pvc("PVC_NoSC", json!({"storageClassName": "Class_0"})),
                pvc("PVC_EmptySC", json!({})),
                pvc("PVC_WaitSC", json!({"storageClassName": "Class_Wait"})),
                pvc(
                    "PVC_ImmediateSC",
                    json!({"storageClassName": "Class_Immediate"}),
                ),
            ],
            &[pv("Vol_1", &[(BETA_ZONE_LABEL, "us-west1-a")])],
            &[
                class("Class_Immediate", None),
                class("Class_Wait", Some(VolumeBindingMode::WaitForFirstConsumer)),
            ],
        ));
        let test_node = || host(&[(BETA_ZONE_LABEL, "us-west1-a"), USELESS]);
        let (pre, filter) = run(&pod_with("PVC_1"), test_node(), &volumes);
        assert!(
            pre.is_success() && filter.is_success(),
            "label zone failure domain matched"
        );
        let (pre, _) = run(&pod_with("PVC_EmptySC"), test_node(), &volumes);
        assert_eq!(
            pre,
            Status::unresolvable("PersistentVolumeClaim had no pv name and storageClass name")
        );
        let (pre, _) = run(&pod_with("PVC_NoSC"), test_node(), &volumes);
        assert_eq!(
            pre,
            Status::unresolvable("storageclass.storage.k8s.io \"Class_0\" not found")
        );
        let (pre, _) = run(&pod_with("PVC_ImmediateSC"), test_node(), &volumes);
        assert_eq!(
            pre,
            Status::unresolvable("VolumeBindingMode not set for StorageClass \"Class_Immediate\"")
        );
        let (pre, _) = run(&pod_with("PVC_WaitSC"), test_node(), &volumes);
        assert_eq!(pre.code, Code::Skip, "unbound volume wait binding mode");
    }

    #[test]
    fn multi_zone_labels() {
        assert_eq!(
            label_zones("us-west1-c__ us-west1-a"),
            Some(vec!["us-west1-c".to_string(), "us-west1-a".to_string()])
        );
        assert_eq!(label_zones("a____b"), None);
        assert_eq!(label_zones(""), None);
    }
}
