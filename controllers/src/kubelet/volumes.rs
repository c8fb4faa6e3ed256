//! The part of the kubelet's volume manager this model keeps (pkg/kubelet/volumemanager,
//! v1.34): a pod whose PersistentVolumeClaims are not all bound does not start.
//!
//! Before the first sandbox, the pod worker asks [`wait_for_attach_and_mount`]. A volume of the
//! pod that uses a claim is not ready while the claim is missing, being deleted, or not `Bound`
//! to an existing volume whose `claimRef` is the claim (desired_state_of_world_populator.go
//! `getPVCExtractPV` / `getPVSpec`); such volumes never reach the desired state of the world,
//! so they are unmounted and "failed to process". The pod stays `Pending` with its containers
//! `ContainerCreating` and no sandbox; the worker checks again every second. After
//! `podAttachAndMountTimeout` (2 min 3 s) the kubelet reports `FailedMount` (kubelet.go
//! `SyncPod`: `Unable to attach or mount volumes: unmounted volumes=[data], unattached
//! volumes=[], failed to process volumes=[data]: timed out waiting for the condition`), and the
//! pod worker tries again after its 10 s back-off, waiting another 2 min 3 s before the next
//! report. Kubernetes' volume manager polls every 300 ms (`podAttachAndMountRetryInterval`);
//! here once a second, to bound the simulator's wake-ups for pods that wait long. Attaching
//! and mounting themselves are not modelled: a bound claim is mounted at once.

use flotilla_model::api::{PersistentVolumeClaimPhase, Pod};
use flotilla_model::store::{ObjectKey, Store};
use flotilla_model::{Duration, Kind, Object, Time};

use super::pod_worker::{PendingEvent, StepContext};
use crate::controller::EventType;

/// volume_manager.go `podAttachAndMountTimeout`.
pub(crate) const POD_ATTACH_AND_MOUNT_TIMEOUT: Duration = Duration::from_secs(123);
/// How often a waiting pod's claims are checked again (see the module docs).
pub(crate) const VOLUME_CHECK_PERIOD: Duration = Duration::from_secs(1);
/// pod_workers.go `workerBackOffPeriod`: a failed sync is retried after this long.
const WORKER_BACK_OFF: Duration = Duration::from_secs(10);

/// A pod waiting for its volumes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct VolumeWait {
    /// When the current wait times out with `FailedMount`.
    pub timeout_at: Time,
    /// When to check the claims again.
    pub next_check: Time,
}

/// The names of the pod's volumes whose claim is not bound to an existing volume, in spec
/// order.
pub(crate) fn unready_claim_volumes(pod: &Pod, store: &Store) -> Vec<String> {
    let ns = &pod.metadata.namespace;
    pod.spec
        .volumes
        .iter()
        .filter(|v| {
            let Some(source) = &v.persistent_volume_claim else {
                return false;
            };
            let claim = match store
                .get(Kind::PersistentVolumeClaim, ns, &source.claim_name)
                .as_deref()
            {
                Some(Object::PersistentVolumeClaim(c)) => c.clone(),
                _ => return true,
            };
            let volume_name = claim.spec.volume_name.as_deref().unwrap_or("");
            if claim.metadata.deletion_timestamp.is_some()
                || claim.status.phase != Some(PersistentVolumeClaimPhase::Bound)
                || volume_name.is_empty()
            {
                return true;
            }
            match store
                .get(Kind::PersistentVolume, "", volume_name)
                .as_deref()
            {
                Some(Object::PersistentVolume(pv)) => pv
                    .spec
                    .claim_ref
                    .as_ref()
                    .is_none_or(|r| r.uid != claim.metadata.uid),
                _ => true,
            }
        })
        .map(|v| v.name.clone())
        .collect()
}

/// The `FailedMount` message for volumes that never became ready.
pub(crate) fn failed_mount_message(volumes: &[String]) -> String {
    let list = volumes.join(" ");
    format!(
        "Unable to attach or mount volumes: unmounted volumes=[{list}], unattached volumes=[], \
         failed to process volumes=[{list}]: timed out waiting for the condition"
    )
}

/// `WaitForAttachAndMount` for the pod worker: whether every claim of the pod is bound. While
/// not, `wait` holds the next check and the timeout, and a timeout records `FailedMount`.
pub(crate) fn wait_for_attach_and_mount(
    pod: &Pod,
    key: &ObjectKey,
    wait: &mut Option<VolumeWait>,
    ctx: &mut StepContext<'_>,
) -> bool {
    let unready = unready_claim_volumes(pod, ctx.store);
    if unready.is_empty() {
        *wait = None;
        return true;
    }
    let now = ctx.now;
    let state = wait.get_or_insert(VolumeWait {
        timeout_at: now.saturating_add(POD_ATTACH_AND_MOUNT_TIMEOUT),
        next_check: now,
    });
    if now >= state.timeout_at {
        ctx.events.push(PendingEvent {
            time: now,
            object: key.clone(),
            event_type: EventType::Warning,
            reason: "FailedMount".into(),
            message: failed_mount_message(&unready),
        });
        state.timeout_at = now
            .saturating_add(WORKER_BACK_OFF)
            .saturating_add(POD_ATTACH_AND_MOUNT_TIMEOUT);
    }
    state.next_check = now.saturating_add(VOLUME_CHECK_PERIOD);
    false
}

#[cfg(test)]
mod tests {
    use flotilla_model::api::{
        ObjectReference, PersistentVolume, PersistentVolumeClaim,
        PersistentVolumeClaimVolumeSource, RestartPolicy, Volume,
    };
    use flotilla_model::{Duration, Kind, Object, ObjectMeta};

    use super::super::testing::{container, pod, FakeRuntime, Sim};

    fn claim(name: &str) -> PersistentVolumeClaim {
        let mut c = PersistentVolumeClaim {
            metadata: ObjectMeta::named("default", name),
            ..Default::default()
        };
        c.spec.access_modes = vec![flotilla_model::api::PersistentVolumeAccessMode::ReadWriteOnce];
        c.spec
            .resources
            .requests
            .insert("storage".into(), "1Gi".parse().unwrap());
        c
    }

    /// Binds the stored claim `name` to a new volume by hand (the PV controller's part).
    fn bind_claim(sim: &mut Sim, name: &str) {
        let Some(Object::PersistentVolumeClaim(mut c)) = sim
            .store
            .get(Kind::PersistentVolumeClaim, "default", name)
            .as_deref()
            .cloned()
        else {
            panic!("no claim");
        };
        let mut pv = PersistentVolume {
            metadata: ObjectMeta::named("", "pv-1"),
            ..Default::default()
        };
        pv.spec
            .capacity
            .insert("storage".into(), "1Gi".parse().unwrap());
        pv.spec.access_modes = c.spec.access_modes.clone();
        pv.spec.host_path = Some(flotilla_model::api::HostPathVolumeSource {
            path: "/data".into(),
            ..Default::default()
        });
        pv.spec.claim_ref = Some(ObjectReference {
            kind: "PersistentVolumeClaim".into(),
            namespace: "default".into(),
            name: name.into(),
            uid: c.metadata.uid.clone(),
            ..Default::default()
        });
        sim.store.create(pv.into(), sim.now).unwrap();
        c.spec.volume_name = Some("pv-1".into());
        let written = sim.store.update(c.into(), sim.now).unwrap();
        let Object::PersistentVolumeClaim(mut c) = (*written).clone() else {
            unreachable!()
        };
        c.status.phase = Some(flotilla_model::api::PersistentVolumeClaimPhase::Bound);
        sim.store.update_status(c.into(), sim.now).unwrap();
    }

    #[test]
    fn a_pod_with_an_unbound_claim_waits_without_a_sandbox_and_reports_failed_mount() {
        let mut sim = Sim::new(FakeRuntime::default());
        sim.store.create(claim("data").into(), sim.now).unwrap();
        let mut p = pod(
            "db",
            vec![container("db", "postgres:16")],
            RestartPolicy::Always,
        );
        p.spec.volumes.push(Volume {
            name: "data".into(),
            persistent_volume_claim: Some(PersistentVolumeClaimVolumeSource {
                claim_name: "data".into(),
                ..Default::default()
            }),
            ..Default::default()
        });
        sim.add(p);
        sim.run_for(Duration::from_secs(60));
        assert!(sim.times_of("Sandbox").is_empty());
        let stored = sim.pod("db").unwrap();
        let waiting = stored.status.container_statuses[0]
            .state
            .waiting
            .as_ref()
            .map(|w| w.reason.clone());
        assert_eq!(waiting.as_deref(), Some("ContainerCreating"));
        assert!(sim.events("db").iter().all(|(r, _)| r != "FailedMount"));
        // podAttachAndMountTimeout (2 min 3 s) after the pod arrived: FailedMount, once.
        sim.run_for(Duration::from_secs(70));
        let failed: Vec<_> = sim
            .events("db")
            .into_iter()
            .filter(|(r, _)| r == "FailedMount")
            .collect();
        assert_eq!(
            failed,
            vec![(
                "FailedMount".to_string(),
                "Unable to attach or mount volumes: unmounted volumes=[data], unattached volumes=[], failed to process volumes=[data]: timed out waiting for the condition".to_string()
            )]
        );
        // Once the claim is bound, the sandbox follows within a check period.
        bind_claim(&mut sim, "data");
        let bound_at = sim.now;
        sim.run_for(Duration::from_secs(2));
        let sandbox = sim.times_of("Sandbox");
        assert_eq!(sandbox.len(), 1);
        assert!(sandbox[0] <= bound_at + super::VOLUME_CHECK_PERIOD);
    }

    #[test]
    fn a_pod_whose_claims_are_bound_starts_at_once() {
        let mut sim = Sim::new(FakeRuntime::default());
        sim.store.create(claim("data").into(), sim.now).unwrap();
        bind_claim(&mut sim, "data");
        let mut p = pod(
            "db",
            vec![container("db", "postgres:16")],
            RestartPolicy::Always,
        );
        p.spec.volumes.push(Volume {
            name: "data".into(),
            persistent_volume_claim: Some(PersistentVolumeClaimVolumeSource {
                claim_name: "data".into(),
                ..Default::default()
            }),
            ..Default::default()
        });
        let start = sim.now;
        sim.add(p);
        sim.run_for(Duration::from_secs(1));
        assert_eq!(sim.times_of("Sandbox"), vec![start]);
    }
}
