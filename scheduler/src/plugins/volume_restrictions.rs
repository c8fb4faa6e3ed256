//! VolumeRestrictions: volumes that only one pod may use at a time.
//!
//! kube-scheduler v1.34, volumerestrictions/volume_restrictions.go. Two checks:
//!
//! - **ReadWriteOncePod claims.** PreFilter looks up every PersistentVolumeClaim the pod mounts
//!   (a missing claim rejects the pod with `persistentvolumeclaim "x" not found`,
//!   UnschedulableAndUnresolvable) and keeps the names of those whose `accessModes` include
//!   `ReadWriteOncePod`. It then counts how many of them a pod already on a node (bound or
//!   assumed) uses. A count above zero rejects *every* node with `node has pod using
//!   PersistentVolumeClaim with the same name and ReadWriteOncePod access mode` — Unschedulable,
//!   not unresolvable, because preempting the pod holding the claim would free it; the PreFilter
//!   extensions keep the count in step while preemption removes and re-adds pods. With no such
//!   conflict PreFilter returns Skip and Filter never runs.
//! - **In-tree disk conflicts** (`node(s) had no available disk`): the same GCE PD, AWS EBS
//!   volume, Ceph RBD image or iSCSI IQN mounted read-write by two pods of one node. Flotilla's
//!   pod model has none of these volume sources (only emptyDir, hostPath, configMap, secret,
//!   persistentVolumeClaim, downwardAPI and projected), so this check can never fire and is not
//!   implemented. Generic ephemeral volumes are not modelled either.
//!
//! As in kube-scheduler, the count of conflicting references from an added or removed pod
//! compares claim names only, not namespaces (`conflictingPVCRefCountForPod`).

use std::sync::Arc;

use flotilla_model::api::{PersistentVolumeAccessMode, Pod};

use crate::framework::{
    CycleState, FilterPlugin, Plugin, PreFilterExtensions, PreFilterPlugin, PreFilterResult, Status,
};
use crate::node_info::{NodeInfo, PodInfo};
use crate::snapshot::Snapshot;

/// The plugin's name in a KubeSchedulerConfiguration.
pub const NAME: &str = "VolumeRestrictions";

/// Filter reason for the in-tree disk conflicts (never produced: see the module docs).
pub const ERR_REASON_DISK_CONFLICT: &str = "node(s) had no available disk";
/// Filter reason when a ReadWriteOncePod claim of the pod is already in use.
pub const ERR_REASON_READ_WRITE_ONCE_POD_CONFLICT: &str =
    "node has pod using PersistentVolumeClaim with the same name and ReadWriteOncePod access mode";

/// kube-scheduler's not-found error for a claim, as its PVC lister words it.
pub(crate) fn pvc_not_found(name: &str) -> String {
    format!("persistentvolumeclaim {name:?} not found")
}

/// The names of the claims `pod` mounts, in volume order.
pub(crate) fn claim_names(pod: &Pod) -> impl Iterator<Item = &str> {
    pod.spec
        .volumes
        .iter()
        .filter_map(|v| v.persistent_volume_claim.as_ref())
        .map(|c| c.claim_name.as_str())
}

/// What PreFilter computed for Filter.
#[derive(Clone, Debug, Default)]
struct PreFilterState {
    /// Names of the pod's claims with the ReadWriteOncePod access mode.
    read_write_once_pod_pvcs: Arc<Vec<String>>,
    /// How many references scheduled pods hold to those claims.
    conflicting_pvc_ref_count: i64,
}

impl PreFilterState {
    fn ref_count_for_pod(&self, pod: &Pod) -> i64 {
        claim_names(pod)
            .filter(|c| self.read_write_once_pod_pvcs.iter().any(|n| n == c))
            .count() as i64
    }
}

/// The VolumeRestrictions plugin. See the [module docs](self).
#[derive(Clone, Debug, Default)]
pub struct VolumeRestrictions;

impl VolumeRestrictions {
    /// The plugin (it takes no arguments).
    pub fn new() -> VolumeRestrictions {
        VolumeRestrictions
    }
}

impl Plugin for VolumeRestrictions {
    fn name(&self) -> &'static str {
        NAME
    }
    fn as_pre_filter(&self) -> Option<&dyn PreFilterPlugin> {
        Some(self)
    }
    fn as_filter(&self) -> Option<&dyn FilterPlugin> {
        Some(self)
    }
    fn as_pre_filter_extensions(&self) -> Option<&dyn PreFilterExtensions> {
        Some(self)
    }
}

impl PreFilterPlugin for VolumeRestrictions {
    fn pre_filter(
        &self,
        state: &mut CycleState,
        pod: &PodInfo,
        snapshot: &Snapshot,
    ) -> (PreFilterResult, Status) {
        let namespace = &pod.pod.metadata.namespace;
        let mut rwop: Vec<String> = Vec::new();
        for name in claim_names(&pod.pod) {
            let Some(pvc) = snapshot.volumes.pvc(namespace, name) else {
                return (
                    PreFilterResult::default(),
                    Status::unresolvable(pvc_not_found(name)),
                );
            };
            if pvc
                .spec
                .access_modes
                .contains(&PersistentVolumeAccessMode::ReadWriteOncePod)
                && !rwop.iter().any(|n| n == name)
            {
                rwop.push(name.to_string());
            }
        }
        // calPreFilterState: one reference at most per claim (IsPVCUsedByPods), counted over
        // the pods on nodes. Only pods with ReadWriteOncePod claims pay for this scan.
        let mut count = 0;
        for name in &rwop {
            let used = snapshot.nodes.iter().any(|n| {
                n.pods.iter().any(|p| {
                    p.pod.metadata.namespace == *namespace && claim_names(&p.pod).any(|c| c == name)
                })
            });
            if used {
                count += 1;
            }
        }
        // No modelled volume source needs the disk-conflict check (needsRestrictionsCheck).
        if count == 0 {
            return (PreFilterResult::default(), Status::skip());
        }
        state.write(
            NAME,
            PreFilterState {
                read_write_once_pod_pvcs: Arc::new(rwop),
                conflicting_pvc_ref_count: count,
            },
        );
        (PreFilterResult::default(), Status::success())
    }
}

impl FilterPlugin for VolumeRestrictions {
    fn filter(&self, state: &CycleState, _pod: &PodInfo, _node: &NodeInfo) -> Status {
        match state.read::<PreFilterState>(NAME) {
            Some(s) if s.conflicting_pvc_ref_count > 0 => {
                Status::unschedulable(ERR_REASON_READ_WRITE_ONCE_POD_CONFLICT)
            }
            _ => Status::success(),
        }
    }
}

impl PreFilterExtensions for VolumeRestrictions {
    fn add_pod(
        &self,
        state: &mut CycleState,
        _pod_to_schedule: &PodInfo,
        pod_to_add: &PodInfo,
        _node: &NodeInfo,
    ) -> Status {
        if let Some(s) = state.read_mut::<PreFilterState>(NAME) {
            s.conflicting_pvc_ref_count += s.ref_count_for_pod(&pod_to_add.pod);
        }
        Status::success()
    }

    fn remove_pod(
        &self,
        state: &mut CycleState,
        _pod_to_schedule: &PodInfo,
        pod_to_remove: &PodInfo,
        _node: &NodeInfo,
    ) -> Status {
        if let Some(s) = state.read_mut::<PreFilterState>(NAME) {
            s.conflicting_pvc_ref_count -= s.ref_count_for_pod(&pod_to_remove.pod);
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
    use flotilla_model::api::{Node, PersistentVolumeClaim};
    use serde_json::json;

    fn pvc(name: &str, mode: &str) -> Arc<PersistentVolumeClaim> {
        Arc::new(
            serde_json::from_value(json!({
                "metadata": {"name": name, "namespace": "default"},
                "spec": {"accessModes": [mode]}
            }))
            .expect("pvc decodes"),
        )
    }

    /// `st.MakePod().Name(name).Namespace("default").PVC(c)...` with an optional node.
    fn pod_with_pvcs(name: &str, claims: &[&str], node_name: &str) -> Arc<Pod> {
        let volumes: Vec<_> = claims
            .iter()
            .map(|c| json!({"name": c, "persistentVolumeClaim": {"claimName": c}}))
            .collect();
        pod(json!({
            "metadata": {"name": name, "namespace": "default"},
            "spec": {"nodeName": node_name, "volumes": volumes, "containers": [{"name": "c", "image": "i"}]}
        }))
    }

    fn node1() -> Arc<Node> {
        node(json!({"metadata": {"name": "node-1"}}))
    }

    fn snapshot(pods: &[Arc<Pod>], pvcs: &[Arc<PersistentVolumeClaim>]) -> Snapshot {
        let mut s = Snapshot::new(&[node1()], pods, &[]);
        s.volumes = Arc::new(VolumeObjects::new(pvcs, &[], &[]));
        s
    }

    /// Runs PreFilter, then Filter on node-1 when PreFilter succeeded.
    fn run(p: &Arc<Pod>, s: &Snapshot) -> (Status, Option<Status>) {
        let plugin = VolumeRestrictions::new();
        let info = PodInfo::new(p.clone());
        let mut state = CycleState::new();
        let (_, pre) = plugin.pre_filter(&mut state, &info, s);
        let filter = pre
            .is_success()
            .then(|| plugin.filter(&state, &info, &s.nodes[0]));
        (pre, filter)
    }

    // volume_restrictions_test.go TestAccessModeConflicts, every case.
    #[test]
    fn access_mode_conflicts() {
        let pod_with_one_pvc = pod_with_pvcs("pod-with-one-pvc", &["claim-with-rwop-1"], "node-1");
        let pod_with_two_pvcs = pod_with_pvcs(
            "pod-with-two-pvcs",
            &["claim-with-rwop-1", "claim-with-rwop-2"],
            "node-1",
        );
        let pod_with_one_conflict =
            pod_with_pvcs("pod-with-one-conflict", &["claim-with-rwop-1"], "node-1");
        let pod_with_two_conflicts = pod_with_pvcs(
            "pod-with-two-conflicts",
            &["claim-with-rwop-1", "claim-with-rwop-2"],
            "node-1",
        );
        let pod_rwx = pod_with_pvcs("pod-with-rwx", &["claim-with-rwx"], "node-1");
        let rwop1 = pvc("claim-with-rwop-1", "ReadWriteOncePod");
        let rwop2 = pvc("claim-with-rwop-2", "ReadWriteOncePod");
        let rwx = pvc("claim-with-rwx", "ReadWriteMany");
        let conflict = Status::unschedulable(ERR_REASON_READ_WRITE_ONCE_POD_CONFLICT);

        // "nothing"
        let (pre, _) = run(
            &pod(json!({"metadata": {"name": "p"}})),
            &snapshot(&[], &[]),
        );
        assert_eq!(pre.code, Code::Skip);
        // "failed to get PVC"
        let (pre, _) = run(&pod_with_one_pvc, &snapshot(&[], &[]));
        assert_eq!(
            pre,
            Status::unresolvable("persistentvolumeclaim \"claim-with-rwop-1\" not found")
        );
        // "no access mode conflict"
        let (pre, _) = run(
            &pod_with_one_pvc,
            &snapshot(
                std::slice::from_ref(&pod_rwx),
                &[rwop1.clone(), rwx.clone()],
            ),
        );
        assert_eq!(pre.code, Code::Skip);
        // "access mode conflict, unschedulable"
        let (pre, filter) = run(
            &pod_with_one_conflict,
            &snapshot(
                &[pod_with_one_pvc.clone(), pod_rwx.clone()],
                &[rwop1.clone(), rwx.clone()],
            ),
        );
        assert!(pre.is_success(), "{pre}");
        assert_eq!(filter, Some(conflict.clone()));
        // "two conflicts, unschedulable"
        let (pre, filter) = run(
            &pod_with_two_conflicts,
            &snapshot(&[pod_with_two_pvcs, pod_rwx], &[rwop1, rwop2, rwx]),
        );
        assert!(pre.is_success(), "{pre}");
        assert_eq!(filter, Some(conflict));
    }

    // The in-tree disk tables (TestGCEDiskConflicts, TestAWSDiskConflicts, TestRBDDiskConflicts,
    // TestISCSIDiskConflicts) need volume sources Flotilla does not model; their "nothing",
    // "one state" and "pod with a volume that doesn't have restrictions" cases reduce to this:
    // pods without claims skip the plugin whatever the node holds.
    #[test]
    fn pods_without_claims_skip() {
        let holder = pod(json!({
            "metadata": {"name": "holder"},
            "spec": {"nodeName": "node-1", "volumes": [{"name": "v", "emptyDir": {}}],
                     "containers": [{"name": "c", "image": "i"}]}
        }));
        let p = pod(json!({
            "metadata": {"name": "p"},
            "spec": {"volumes": [{"name": "v", "emptyDir": {}}], "containers": [{"name": "c", "image": "i"}]}
        }));
        let (pre, _) = run(&p, &snapshot(&[holder], &[]));
        assert_eq!(pre.code, Code::Skip);
    }

    #[test]
    fn preemption_extensions_track_the_holder() {
        let holder = pod_with_pvcs("holder", &["db"], "node-1");
        let s = snapshot(
            std::slice::from_ref(&holder),
            &[pvc("db", "ReadWriteOncePod")],
        );
        let incoming = PodInfo::new(pod_with_pvcs("incoming", &["db"], ""));
        let plugin = VolumeRestrictions::new();
        let mut state = CycleState::new();
        let (_, pre) = plugin.pre_filter(&mut state, &incoming, &s);
        assert!(pre.is_success());
        assert!(plugin.filter(&state, &incoming, &s.nodes[0]).is_rejected());
        let holder_info = PodInfo::new(holder);
        plugin.remove_pod(&mut state, &incoming, &holder_info, &s.nodes[0]);
        assert!(plugin.filter(&state, &incoming, &s.nodes[0]).is_success());
        plugin.add_pod(&mut state, &incoming, &holder_info, &s.nodes[0]);
        assert_eq!(
            plugin.filter(&state, &incoming, &s.nodes[0]).code,
            Code::Unschedulable
        );
    }
}
