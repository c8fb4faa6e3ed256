//! The part of the kubelet's volume manager this model keeps (pkg/kubelet/volumemanager,
//! v1.34): a pod whose volumes cannot all be set up does not start, and the content of the
//! volumes only the kubelet can resolve goes to the runtime.
//!
//! Before the first sandbox, the pod worker asks [`wait_for_attach_and_mount`]. A volume of the
//! pod that uses a claim is not ready while the claim is missing, being deleted, or not `Bound`
//! to an existing volume whose `claimRef` is the claim (desired_state_of_world_populator.go
//! `getPVCExtractPV` / `getPVSpec`); such volumes never reach the desired state of the world,
//! so they are unmounted and "failed to process". A `configMap`, `secret` or `projected`
//! volume whose source is missing (and not `optional`), or that names a missing key, is
//! processed but its `MountVolume.SetUp` fails (configmap.go / secret.go `SetUpAt` and
//! `MakePayload`): the kubelet records `FailedMount` with `MountVolume.SetUp failed for
//! volume "cfg" : configmap "app" not found`, and the volume stays unmounted. This is not
//! `CreateContainerConfigError`: that reason belongs to a container whose environment names a
//! missing ConfigMap or Secret (kubelet_pods.go `makeEnvironmentVariables`) or whose mounts
//! cannot be made (`makeMounts`, e.g. a bad `subPath`), which the kubelet reports per
//! container once the pod's volumes are mounted.
//!
//! While a volume is not ready the pod stays `Pending` with its containers
//! `ContainerCreating` and no sandbox; the worker checks again every second. After
//! `podAttachAndMountTimeout` (2 min 3 s) the kubelet reports `FailedMount` (kubelet.go
//! `SyncPod`: `Unable to attach or mount volumes: unmounted volumes=[data], unattached
//! volumes=[], failed to process volumes=[data]: timed out waiting for the condition`), and the
//! pod worker tries again after its 10 s back-off, waiting another 2 min 3 s before the next
//! report. Kubernetes' volume manager polls every 300 ms (`podAttachAndMountRetryInterval`);
//! here once a second, to bound the simulator's wake-ups for pods that wait long. Its
//! operation executor retries a failed `SetUp` with an exponential back-off and records an
//! event per failure; here a failing volume's `SetUp` event is recorded when the wait starts
//! and again with each timeout. Attaching itself is not modelled: a bound claim is attached at
//! once.
//!
//! Once every volume is ready, [`volume_contents`] makes the content the runtime needs
//! ([`RuntimeCommand::SetPodVolumes`](super::RuntimeCommand::SetPodVolumes)): the files of
//! `configMap`, `secret`, `downwardAPI` and `projected` volumes, as the volume plugins'
//! `MakePayload` functions do, and the bound PersistentVolume of each claim. The kubelet sends
//! it again when a ConfigMap or Secret such a volume uses changes. Kubernetes refreshes these
//! volumes on its periodic pod sync (every minute, plus the configMap/secret manager's cache
//! TTL, so up to about two minutes late); here the update follows the store's watch event at
//! once. Downward API files are written once, at start (the pod's labels and annotations are
//! not followed).

use std::collections::BTreeMap;

use flotilla_model::api::{
    ConfigMap, DownwardApiVolumeFile, KeyToPath, PersistentVolumeClaimPhase, Pod, Secret, Volume,
};
use flotilla_model::store::{ObjectKey, Store};
use flotilla_model::{Duration, Kind, Object, Time};

use super::pod_worker::{PendingEvent, StepContext};
use super::runtime::{PodVolumeContent, VolumeContent, VolumeFile};
use crate::controller::EventType;

/// The default mode of projected files (core/v1 `ConfigMapVolumeSourceDefaultMode` and its
/// siblings: 0644).
pub const DEFAULT_FILE_MODE: u32 = 0o644;

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
    unready_claim_volumes_of(pod, &pod.spec.volumes, store)
}

/// [`unready_claim_volumes`] among `volumes` of `pod`.
fn unready_claim_volumes_of(pod: &Pod, volumes: &[Volume], store: &Store) -> Vec<String> {
    let ns = &pod.metadata.namespace;
    volumes
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

/// The `FailedMount` message for volumes that never became ready: `unmounted` are all of
/// them, `unprocessed` those whose claim is not bound.
pub(crate) fn failed_mount_message(unmounted: &[String], unprocessed: &[String]) -> String {
    format!(
        "Unable to attach or mount volumes: unmounted volumes=[{}], unattached volumes=[], \
         failed to process volumes=[{}]: timed out waiting for the condition",
        unmounted.join(" "),
        unprocessed.join(" ")
    )
}

/// `WaitForAttachAndMount` for the pod worker: whether every volume of the pod can be set up
/// (claims bound, ConfigMaps and Secrets present). While not, `wait` holds the next check and
/// the timeout; a `SetUp` failure is recorded when the wait starts, and a timeout records
/// `FailedMount`.
pub(crate) fn wait_for_attach_and_mount(
    pod: &Pod,
    key: &ObjectKey,
    wait: &mut Option<VolumeWait>,
    ctx: &mut StepContext<'_>,
) -> bool {
    let unprocessed = unready_claim_volumes(pod, ctx.store);
    let failed = match volume_contents(pod, ctx.store) {
        Ok(_) => Vec::new(),
        Err(errors) => errors,
    };
    if unprocessed.is_empty() && failed.is_empty() {
        *wait = None;
        return true;
    }
    let now = ctx.now;
    let starting = wait.is_none();
    let state = wait.get_or_insert(VolumeWait {
        timeout_at: now.saturating_add(POD_ATTACH_AND_MOUNT_TIMEOUT),
        next_check: now,
    });
    let timed_out = now >= state.timeout_at;
    if starting || timed_out {
        // operation_generator.go `GenerateMountVolumeFunc`: the SetUp error as an event.
        for (volume, message) in &failed {
            ctx.events.push(PendingEvent {
                time: now,
                object: key.clone(),
                event_type: EventType::Warning,
                reason: "FailedMount".into(),
                message: format!("MountVolume.SetUp failed for volume {volume:?} : {message}"),
            });
        }
    }
    if timed_out {
        let mut unmounted: Vec<String> = pod
            .spec
            .volumes
            .iter()
            .map(|v| v.name.clone())
            .filter(|n| unprocessed.contains(n) || failed.iter().any(|(f, _)| f == n))
            .collect();
        unmounted.dedup();
        ctx.events.push(PendingEvent {
            time: now,
            object: key.clone(),
            event_type: EventType::Warning,
            reason: "FailedMount".into(),
            message: failed_mount_message(&unmounted, &unprocessed),
        });
        state.timeout_at = now
            .saturating_add(WORKER_BACK_OFF)
            .saturating_add(POD_ATTACH_AND_MOUNT_TIMEOUT);
    }
    state.next_check = now.saturating_add(VOLUME_CHECK_PERIOD);
    false
}

/// Whether the pod has a volume whose content the kubelet resolves (and so needs a
/// [`SetPodVolumes`](super::RuntimeCommand::SetPodVolumes)).
pub(crate) fn has_content_volumes(pod: &Pod) -> bool {
    pod.spec.volumes.iter().any(|v| {
        v.config_map.is_some()
            || v.secret.is_some()
            || v.downward_api.is_some()
            || v.projected.is_some()
            || v.persistent_volume_claim.is_some()
    })
}

/// Whether a volume of the pod takes its files from the ConfigMap (`secret == false`) or
/// Secret (`secret == true`) named `name` (in the pod's namespace).
pub(crate) fn uses_source(pod: &Pod, secret: bool, name: &str) -> bool {
    pod.spec.volumes.iter().any(|v| {
        if secret {
            v.secret.as_ref().is_some_and(|s| s.secret_name == name)
                || v.projected.as_ref().is_some_and(|p| {
                    p.sources
                        .iter()
                        .any(|s| s.secret.as_ref().is_some_and(|s| s.name == name))
                })
        } else {
            v.config_map.as_ref().is_some_and(|c| c.name == name)
                || v.projected.as_ref().is_some_and(|p| {
                    p.sources
                        .iter()
                        .any(|s| s.config_map.as_ref().is_some_and(|c| c.name == name))
                })
        }
    })
}

/// A file mode from the API (`items[].mode`, `defaultMode`): its permission bits.
fn file_mode(mode: Option<i32>, default: u32) -> u32 {
    mode.map_or(default, |m| (m as u32) & 0o7777)
}

/// The keys of a ConfigMap (`data` and `binaryData`) or Secret (`data` and `stringData`).
enum Source<'a> {
    ConfigMap(&'a ConfigMap),
    Secret(&'a Secret),
}

impl Source<'_> {
    fn keys(&self) -> Vec<&str> {
        let mut keys: Vec<&str> = match self {
            Source::ConfigMap(c) => c
                .data
                .keys()
                .chain(c.binary_data.keys())
                .map(String::as_str)
                .collect(),
            Source::Secret(s) => s
                .data
                .keys()
                .chain(s.string_data.keys())
                .map(String::as_str)
                .collect(),
        };
        keys.sort_unstable();
        keys.dedup();
        keys
    }

    fn get(&self, key: &str) -> Option<&[u8]> {
        match self {
            Source::ConfigMap(c) => c.get(key),
            Source::Secret(s) => s.get(key),
        }
    }
}

/// configmap.go / secret.go `MakePayload`: every key with `default_mode`, or the `items` with
/// their paths and modes. A missing key is an error unless `optional`.
fn make_payload(
    source: &Source<'_>,
    items: &[KeyToPath],
    default_mode: u32,
    optional: bool,
    files: &mut BTreeMap<String, VolumeFile>,
) -> Result<(), String> {
    if items.is_empty() {
        for key in source.keys() {
            let data = source.get(key).unwrap_or_default().to_vec();
            files.insert(
                key.to_string(),
                VolumeFile {
                    path: key.to_string(),
                    data,
                    mode: default_mode,
                },
            );
        }
        return Ok(());
    }
    for item in items {
        let Some(data) = source.get(&item.key) else {
            if optional {
                continue;
            }
            return Err(match source {
                Source::ConfigMap(_) => {
                    format!("configmap references non-existent config key: {}", item.key)
                }
                Source::Secret(_) => {
                    format!("references non-existent secret key: {}", item.key)
                }
            });
        };
        files.insert(
            item.path.clone(),
            VolumeFile {
                path: item.path.clone(),
                data: data.to_vec(),
                mode: file_mode(item.mode, default_mode),
            },
        );
    }
    Ok(())
}

/// Adds the files of a ConfigMap or Secret named `name`: a missing source is
/// `configmap "app" not found` (the watch-based manager's NotFound) unless `optional`, when
/// it gives no files.
#[allow(clippy::too_many_arguments)]
fn add_source(
    store: &Store,
    namespace: &str,
    secret: bool,
    name: &str,
    items: &[KeyToPath],
    default_mode: u32,
    optional: bool,
    files: &mut BTreeMap<String, VolumeFile>,
) -> Result<(), String> {
    let kind = if secret {
        Kind::Secret
    } else {
        Kind::ConfigMap
    };
    let object = store.get(kind, namespace, name);
    let source = match object.as_deref() {
        Some(Object::ConfigMap(c)) if !secret => Source::ConfigMap(c),
        Some(Object::Secret(s)) if secret => Source::Secret(s),
        _ if optional => return Ok(()),
        _ => {
            let what = if secret { "secret" } else { "configmap" };
            return Err(format!("{what} {name:?} not found"));
        }
    };
    make_payload(&source, items, default_mode, optional, files)
}

/// downwardapi.go `CollectData`: the pod fields a downward API volume may name (labels and
/// annotations in `fieldpath.FormatMap`'s `key="value"` lines, name, namespace, uid) and
/// container resources.
fn add_downward_api(
    pod: &Pod,
    items: &[DownwardApiVolumeFile],
    default_mode: u32,
    files: &mut BTreeMap<String, VolumeFile>,
) -> Result<(), String> {
    let format_map = |m: &BTreeMap<String, String>| {
        m.iter()
            .map(|(k, v)| format!("{k}={v:?}"))
            .collect::<Vec<_>>()
            .join("\n")
    };
    let subscript = |path: &str, prefix: &str| {
        path.strip_prefix(prefix)
            .and_then(|r| r.strip_prefix("['"))
            .and_then(|r| r.strip_suffix("']"))
            .map(str::to_string)
    };
    for item in items {
        let meta = &pod.metadata;
        let data = if let Some(field) = &item.field_ref {
            let path = field.field_path.as_str();
            match path {
                "metadata.name" => meta.name.clone(),
                "metadata.namespace" => meta.namespace.clone(),
                "metadata.uid" => meta.uid.clone(),
                "metadata.labels" => format_map(&meta.labels),
                "metadata.annotations" => format_map(&meta.annotations),
                _ => {
                    if let Some(k) = subscript(path, "metadata.labels") {
                        meta.labels.get(&k).cloned().unwrap_or_default()
                    } else if let Some(k) = subscript(path, "metadata.annotations") {
                        meta.annotations.get(&k).cloned().unwrap_or_default()
                    } else {
                        return Err(format!("unsupported fieldPath: {path}"));
                    }
                }
            }
        } else if let Some(r) = &item.resource_field_ref {
            resource_value(pod, &r.container_name, &r.resource, r.divisor.as_ref())?
        } else {
            continue;
        };
        files.insert(
            item.path.clone(),
            VolumeFile {
                path: item.path.clone(),
                data: data.into_bytes(),
                mode: file_mode(item.mode, default_mode),
            },
        );
    }
    Ok(())
}

/// resource.go `ExtractContainerResourceValue` for a downward API file: CPU in whole divisors
/// of millicores rounded up, memory and ephemeral storage in divisors of bytes. A limit the
/// container does not set reads as its request here (Kubernetes substitutes the node's
/// allocatable, which the kubelet's volume code has no copy of in this model).
fn resource_value(
    pod: &Pod,
    container: &str,
    resource: &str,
    divisor: Option<&flotilla_model::quantity::Quantity>,
) -> Result<String, String> {
    let Some(c) = pod
        .spec
        .init_containers
        .iter()
        .chain(&pod.spec.containers)
        .find(|c| c.name == container)
    else {
        return Err(format!("container {container} not found"));
    };
    let unsupported = || format!("unsupported container resource : {resource}");
    let (list, name) = resource.split_once('.').ok_or_else(unsupported)?;
    let value = match list {
        "limits" => c
            .resources
            .limits
            .get(name)
            .or_else(|| c.resources.requests.get(name)),
        "requests" => c.resources.requests.get(name),
        _ => return Err(unsupported()),
    }
    .cloned()
    .unwrap_or_default();
    let divisor = divisor.filter(|d| !d.is_zero());
    let ceil_div = |a: i64, b: i64| if b == 0 { 0 } else { (a + b - 1).div_euclid(b) };
    Ok(match name {
        "cpu" => ceil_div(
            value.milli_value(),
            divisor.map_or(1000, |d| d.milli_value()),
        ),
        "memory" | "ephemeral-storage" => ceil_div(value.value(), divisor.map_or(1, |d| d.value())),
        _ => return Err(unsupported()),
    }
    .to_string())
}

/// The content of one volume, `None` for the kinds the runtime makes itself.
fn volume_content(
    pod: &Pod,
    volume: &Volume,
    store: &Store,
) -> Result<Option<VolumeContent>, String> {
    let ns = pod.metadata.namespace.as_str();
    let mut files = BTreeMap::new();
    let in_memory;
    if let Some(c) = &volume.config_map {
        let mode = file_mode(c.default_mode, DEFAULT_FILE_MODE);
        let optional = c.optional == Some(true);
        add_source(
            store, ns, false, &c.name, &c.items, mode, optional, &mut files,
        )?;
        in_memory = false;
    } else if let Some(s) = &volume.secret {
        let mode = file_mode(s.default_mode, DEFAULT_FILE_MODE);
        let optional = s.optional == Some(true);
        add_source(
            store,
            ns,
            true,
            &s.secret_name,
            &s.items,
            mode,
            optional,
            &mut files,
        )?;
        in_memory = true;
    } else if let Some(d) = &volume.downward_api {
        let mode = file_mode(d.default_mode, DEFAULT_FILE_MODE);
        add_downward_api(pod, &d.items, mode, &mut files)?;
        in_memory = false;
    } else if let Some(p) = &volume.projected {
        // projected.go `collectData`: the sources in order, later paths replacing earlier
        // ones. Service account tokens are not issued in this model: such a source adds no
        // file.
        let mode = file_mode(p.default_mode, DEFAULT_FILE_MODE);
        for source in &p.sources {
            if let Some(c) = &source.config_map {
                let optional = c.optional == Some(true);
                add_source(
                    store, ns, false, &c.name, &c.items, mode, optional, &mut files,
                )?;
            }
            if let Some(s) = &source.secret {
                let optional = s.optional == Some(true);
                add_source(
                    store, ns, true, &s.name, &s.items, mode, optional, &mut files,
                )?;
            }
            if let Some(d) = &source.downward_api {
                add_downward_api(pod, &d.items, mode, &mut files)?;
            }
        }
        in_memory = true;
    } else if let Some(source) = &volume.persistent_volume_claim {
        let claim = match store
            .get(Kind::PersistentVolumeClaim, ns, &source.claim_name)
            .as_deref()
        {
            Some(Object::PersistentVolumeClaim(c)) => c.clone(),
            _ => {
                return Err(format!(
                    "persistentvolumeclaim {:?} not found",
                    source.claim_name
                ))
            }
        };
        let volume_name = claim.spec.volume_name.clone().unwrap_or_default();
        let Some(Object::PersistentVolume(pv)) = store
            .get(Kind::PersistentVolume, "", &volume_name)
            .as_deref()
            .cloned()
        else {
            return Err(format!("persistentvolume {volume_name:?} not found"));
        };
        return Ok(Some(VolumeContent::PersistentVolume {
            volume_name,
            host_path: pv.spec.host_path.clone(),
            local_path: pv.spec.local.as_ref().map(|l| l.path.clone()),
            read_only: source.read_only,
        }));
    } else {
        return Ok(None);
    }
    Ok(Some(VolumeContent::Files {
        files: files.into_values().collect(),
        in_memory,
    }))
}

/// The content of the pod's volumes for
/// [`SetPodVolumes`](super::RuntimeCommand::SetPodVolumes), in spec order; or, for each volume
/// whose `SetUp` would fail, its name and the plugin's message.
pub(crate) fn volume_contents(
    pod: &Pod,
    store: &Store,
) -> Result<Vec<PodVolumeContent>, Vec<(String, String)>> {
    let mut contents = Vec::new();
    let mut errors = Vec::new();
    for volume in &pod.spec.volumes {
        if volume.persistent_volume_claim.is_some() {
            // Readiness of claims is unready_claim_volumes' business.
            if unready_claim_volumes_of(pod, std::slice::from_ref(volume), store).is_empty() {
                match volume_content(pod, volume, store) {
                    Ok(Some(content)) => contents.push(PodVolumeContent {
                        name: volume.name.clone(),
                        content,
                    }),
                    Ok(None) => {}
                    Err(e) => errors.push((volume.name.clone(), e)),
                }
            }
            continue;
        }
        match volume_content(pod, volume, store) {
            Ok(Some(content)) => contents.push(PodVolumeContent {
                name: volume.name.clone(),
                content,
            }),
            Ok(None) => {}
            Err(e) => errors.push((volume.name.clone(), e)),
        }
    }
    if errors.is_empty() {
        Ok(contents)
    } else {
        Err(errors)
    }
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

    /// The `SetPodVolumes` commands the kubelet sent, in order.
    fn volume_commands(sim: &Sim) -> Vec<Vec<super::PodVolumeContent>> {
        sim.commands
            .iter()
            .filter_map(|(_, c)| match c {
                super::super::RuntimeCommand::SetPodVolumes { volumes, .. } => {
                    Some(volumes.clone())
                }
                _ => None,
            })
            .collect()
    }

    fn config_map(name: &str, data: &[(&str, &str)]) -> flotilla_model::api::ConfigMap {
        flotilla_model::api::ConfigMap {
            metadata: ObjectMeta::named("default", name),
            data: data
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            ..Default::default()
        }
    }

    fn config_pod(
        items: Vec<flotilla_model::api::KeyToPath>,
        optional: bool,
    ) -> flotilla_model::api::Pod {
        let mut p = pod(
            "web",
            vec![container("web", "nginx:1.27")],
            RestartPolicy::Always,
        );
        p.spec.volumes.push(Volume {
            name: "cfg".into(),
            config_map: Some(flotilla_model::api::ConfigMapVolumeSource {
                name: "app".into(),
                items,
                default_mode: Some(0o600),
                optional: Some(optional).filter(|o| *o),
            }),
            ..Default::default()
        });
        p
    }

    fn files(content: &super::PodVolumeContent) -> Vec<(String, Vec<u8>, u32)> {
        match &content.content {
            super::VolumeContent::Files { files, .. } => files
                .iter()
                .map(|f| (f.path.clone(), f.data.clone(), f.mode))
                .collect(),
            other => panic!("not files: {other:?}"),
        }
    }

    #[test]
    fn config_map_volume_content_is_sent_before_the_sandbox_with_items_and_modes() {
        let mut sim = Sim::new(FakeRuntime::default());
        sim.store
            .create(
                config_map("app", &[("app.conf", "port=80"), ("extra", "x")]).into(),
                sim.now,
            )
            .unwrap();
        let items = vec![flotilla_model::api::KeyToPath {
            key: "app.conf".into(),
            path: "conf/app.conf".into(),
            mode: Some(0o400),
        }];
        let mut p = config_pod(items, false);
        p.spec.volumes.push(Volume {
            name: "all".into(),
            config_map: Some(flotilla_model::api::ConfigMapVolumeSource {
                name: "app".into(),
                ..Default::default()
            }),
            ..Default::default()
        });
        sim.add(p);
        sim.run_for(Duration::from_secs(5));
        let names = sim.command_names();
        let volumes = names.iter().position(|n| n == "Volumes").unwrap();
        let sandbox = names.iter().position(|n| n == "Sandbox").unwrap();
        let start = names.iter().position(|n| n == "Start web#0").unwrap();
        assert!(volumes < sandbox && sandbox < start, "{names:?}");
        let sent = volume_commands(&sim);
        assert_eq!(sent.len(), 1);
        assert_eq!(sent[0].len(), 2);
        assert_eq!(sent[0][0].name, "cfg");
        assert_eq!(
            files(&sent[0][0]),
            vec![("conf/app.conf".into(), b"port=80".to_vec(), 0o400)]
        );
        assert_eq!(
            files(&sent[0][1]),
            vec![
                ("app.conf".into(), b"port=80".to_vec(), 0o644),
                ("extra".into(), b"x".to_vec(), 0o644)
            ]
        );
    }

    #[test]
    fn a_pod_without_content_volumes_gets_no_set_pod_volumes() {
        let mut sim = Sim::new(FakeRuntime::default());
        let mut p = pod(
            "web",
            vec![container("web", "nginx:1.27")],
            RestartPolicy::Always,
        );
        p.spec.volumes.push(Volume {
            name: "scratch".into(),
            empty_dir: Some(Default::default()),
            ..Default::default()
        });
        sim.add(p);
        sim.run_for(Duration::from_secs(5));
        assert!(sim.times_of("Start web#0").len() == 1);
        assert!(volume_commands(&sim).is_empty());
    }

    #[test]
    fn a_config_map_change_sends_the_new_content_once() {
        let mut sim = Sim::new(FakeRuntime::default());
        sim.store
            .create(
                config_map("app", &[("app.conf", "port=80")]).into(),
                sim.now,
            )
            .unwrap();
        sim.add(config_pod(Vec::new(), false));
        sim.run_for(Duration::from_secs(5));
        assert_eq!(volume_commands(&sim).len(), 1);
        // An unrelated ConfigMap changes nothing.
        sim.store
            .create(config_map("other", &[("a", "b")]).into(), sim.now)
            .unwrap();
        sim.run_for(Duration::from_secs(1));
        assert_eq!(volume_commands(&sim).len(), 1);
        let Some(Object::ConfigMap(mut cm)) = sim
            .store
            .get(Kind::ConfigMap, "default", "app")
            .as_deref()
            .cloned()
        else {
            panic!("no configmap");
        };
        cm.data.insert("app.conf".into(), "port=8080".into());
        sim.store.update(cm.into(), sim.now).unwrap();
        sim.run_for(Duration::from_secs(1));
        let sent = volume_commands(&sim);
        assert_eq!(sent.len(), 2);
        assert_eq!(
            files(&sent[1][0]),
            vec![("app.conf".into(), b"port=8080".to_vec(), 0o600)]
        );
        // The container keeps running: a volume update restarts nothing.
        assert_eq!(sim.times_of("Start web#0").len(), 1);
        assert!(sim.times_of("Start web#1").is_empty());
        // Deleting the ConfigMap keeps the old files and reports FailedMount.
        sim.store
            .delete(
                Kind::ConfigMap,
                "default",
                "app",
                &Default::default(),
                sim.now,
            )
            .unwrap();
        sim.run_for(Duration::from_secs(1));
        assert_eq!(volume_commands(&sim).len(), 2);
        assert!(sim.events("web").contains(&(
            "FailedMount".to_string(),
            "MountVolume.SetUp failed for volume \"cfg\" : configmap \"app\" not found".to_string()
        )));
    }

    #[test]
    fn a_missing_config_map_keeps_the_pod_creating_with_failed_mount_until_it_appears() {
        let mut sim = Sim::new(FakeRuntime::default());
        sim.add(config_pod(Vec::new(), false));
        sim.run_for(Duration::from_secs(30));
        assert!(sim.times_of("Sandbox").is_empty());
        assert!(volume_commands(&sim).is_empty());
        let p = sim.pod("web").unwrap();
        let waiting = p.status.container_statuses[0]
            .state
            .waiting
            .as_ref()
            .map(|w| w.reason.clone());
        assert_eq!(waiting.as_deref(), Some("ContainerCreating"));
        let failed: Vec<_> = sim
            .events("web")
            .into_iter()
            .filter(|(r, _)| r == "FailedMount")
            .collect();
        assert_eq!(
            failed,
            vec![(
                "FailedMount".to_string(),
                "MountVolume.SetUp failed for volume \"cfg\" : configmap \"app\" not found"
                    .to_string()
            )]
        );
        // The ConfigMap appears: the pod starts at once (the kubelet watches it).
        sim.store
            .create(config_map("app", &[("k", "v")]).into(), sim.now)
            .unwrap();
        let created = sim.now;
        sim.run_for(Duration::from_secs(3));
        assert_eq!(sim.times_of("Sandbox"), vec![created]);
        assert_eq!(volume_commands(&sim).len(), 1);
    }

    #[test]
    fn a_missing_key_fails_setup_and_an_optional_source_gives_an_empty_volume() {
        let item = |k: &str| flotilla_model::api::KeyToPath {
            key: k.into(),
            path: k.into(),
            mode: None,
        };
        let mut sim = Sim::new(FakeRuntime::default());
        sim.store
            .create(config_map("app", &[("k", "v")]).into(), sim.now)
            .unwrap();
        sim.add(config_pod(vec![item("nope")], false));
        sim.run_for(Duration::from_secs(5));
        assert!(sim.times_of("Sandbox").is_empty());
        assert!(sim.events("web").contains(&(
            "FailedMount".to_string(),
            "MountVolume.SetUp failed for volume \"cfg\" : configmap references non-existent config key: nope"
                .to_string()
        )));

        let mut sim = Sim::new(FakeRuntime::default());
        sim.add(config_pod(vec![item("nope")], true));
        sim.run_for(Duration::from_secs(5));
        assert_eq!(sim.times_of("Sandbox").len(), 1);
        let sent = volume_commands(&sim);
        assert_eq!(files(&sent[0][0]), Vec::new());
    }

    #[test]
    fn secret_downward_api_and_claim_volumes_carry_their_content() {
        let mut sim = Sim::new(FakeRuntime::default());
        let mut secret = flotilla_model::api::Secret {
            metadata: ObjectMeta::named("default", "creds"),
            ..Default::default()
        };
        secret
            .string_data
            .insert("password".into(), "hunter2".into());
        sim.store.create(secret.into(), sim.now).unwrap();
        sim.store.create(claim("data").into(), sim.now).unwrap();
        bind_claim(&mut sim, "data");
        let mut p = config_pod(Vec::new(), true);
        p.metadata.labels.insert("app".into(), "web".into());
        p.spec.volumes = vec![
            Volume {
                name: "creds".into(),
                secret: Some(flotilla_model::api::SecretVolumeSource {
                    secret_name: "creds".into(),
                    ..Default::default()
                }),
                ..Default::default()
            },
            Volume {
                name: "info".into(),
                downward_api: Some(flotilla_model::api::DownwardApiVolumeSource {
                    items: vec![flotilla_model::api::DownwardApiVolumeFile {
                        path: "labels".into(),
                        field_ref: Some(flotilla_model::api::ObjectFieldSelector {
                            field_path: "metadata.labels".into(),
                            ..Default::default()
                        }),
                        ..Default::default()
                    }],
                    ..Default::default()
                }),
                ..Default::default()
            },
            Volume {
                name: "data".into(),
                persistent_volume_claim: Some(PersistentVolumeClaimVolumeSource {
                    claim_name: "data".into(),
                    read_only: true,
                }),
                ..Default::default()
            },
        ];
        sim.add(p);
        sim.run_for(Duration::from_secs(5));
        let sent = volume_commands(&sim);
        assert_eq!(sent.len(), 1);
        let v = &sent[0];
        assert!(matches!(
            &v[0].content,
            super::VolumeContent::Files {
                in_memory: true,
                ..
            }
        ));
        assert_eq!(
            files(&v[0]),
            vec![("password".into(), b"hunter2".to_vec(), 0o644)]
        );
        assert_eq!(
            files(&v[1]),
            vec![("labels".into(), b"app=\"web\"".to_vec(), 0o644)]
        );
        assert_eq!(
            v[2].content,
            super::VolumeContent::PersistentVolume {
                volume_name: "pv-1".into(),
                // Admission defaults the type to "".
                host_path: Some(flotilla_model::api::HostPathVolumeSource {
                    path: "/data".into(),
                    r#type: Some(flotilla_model::api::HostPathType::Unset),
                }),
                local_path: None,
                read_only: true,
            }
        );
    }

    #[test]
    fn a_runtime_refused_mount_is_create_container_config_error_retried_after_back_off() {
        let mut runtime = FakeRuntime::default();
        runtime.create_failures.insert("web".into(), 1);
        let mut sim = Sim::new(runtime);
        sim.add(pod(
            "web",
            vec![container("web", "nginx:1.27")],
            RestartPolicy::Always,
        ));
        let found = sim.run_until(Duration::from_secs(5), |s| {
            s.pod("web").is_some_and(|p| {
                p.status.container_statuses.first().is_some_and(|c| {
                    c.state.waiting.as_ref().map(|w| w.reason.as_str())
                        == Some("CreateContainerConfigError")
                })
            })
        });
        assert!(found);
        let p = sim.pod("web").unwrap();
        assert_eq!(p.status.container_statuses[0].restart_count, 0);
        let first = sim.times_of("Start web#0");
        assert_eq!(first.len(), 1);
        sim.run_for(Duration::from_secs(15));
        // Tried again after the pod worker's 10 s back-off, as attempt 0 again, and running.
        let starts = sim.times_of("Start web#0");
        assert_eq!(starts.len(), 2);
        assert!(starts[1] >= first[0] + Duration::from_secs(10));
        let p = sim.pod("web").unwrap();
        assert!(p.status.container_statuses[0].state.running.is_some());
        assert_eq!(p.status.container_statuses[0].restart_count, 0);
    }
}
