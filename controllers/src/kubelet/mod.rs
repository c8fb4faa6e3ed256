//! The kubelet: one per node, pure (DESIGN.md, the sans-IO contract).
//!
//! A [`Kubelet`] registers its Node, follows the pods bound to it, admits them against the
//! node's allocatable resources, and drives each through its lifecycle by emitting
//! [`RuntimeCommand`]s — sandbox, image pulls, init containers, app containers, probes,
//! restarts with back-off, graceful termination — and reading [`RuntimeEvent`]s back. It writes
//! pod statuses (phase, conditions, container states) as Kubernetes' kubelet does, and the
//! final delete of a pod once everything of it has stopped.
//!
//! A driver calls, in this order:
//!
//! 1. [`Kubelet::register`] once;
//! 2. [`Kubelet::handle_node_event`] / [`Kubelet::handle_pod_event`] for each watch event of
//!    its Node and of the pods bound to it, [`Kubelet::handle_config_event`] for each watch
//!    event of a ConfigMap or Secret, and [`Kubelet::handle_runtime_event`] for each
//!    result its runtime reports;
//! 3. [`Kubelet::sync`] whenever [`Kubelet::has_work`] says so or [`Kubelet::next_wakeup`]
//!    has come, executing the commands it returns and feeding the store's new watch events
//!    back through step 2.
//!
//! Modules: [`runtime`] (the contract with the runtime), [`admission`] (lifecycle/predicate.go),
//! [`backoff`] (flowcontrol back-off), `images` (image manager and puller), `pod_worker`
//! (per-pod state machine), `status` (pod status generation) and `volumes` (waiting for a
//! pod's volumes to be ready, and the content of its ConfigMap, Secret, downward API,
//! projected and claim volumes for [`RuntimeCommand::SetPodVolumes`]).

pub mod admission;
pub mod backoff;
mod images;
mod pod_worker;
pub mod runtime;
mod status;
#[cfg(test)]
mod testing;
#[cfg(test)]
mod tests;
mod volumes;

pub use runtime::DEFAULT_TERMINATION_GRACE;
pub use runtime::{
    PodVolumeContent, ProbeKind, RuntimeCommand, RuntimeEvent, StopSignal, VolumeContent,
    VolumeFile,
};

use std::collections::BTreeMap;
use std::sync::Arc;

use flotilla_model::api::{
    ConditionStatus, ContainerImage, Node, NodeCondition, NodeSystemInfo, Pod,
};
use flotilla_model::quantity::{Quantity, ResourceList};
use flotilla_model::store::{DeleteOptions, Store, StoreError, WatchEvent, WatchEventType};
use flotilla_model::{Duration, Kind, Object, Time};

use crate::controller::{get_typed, EventRecorder, EventType};
use backoff::{go_duration, Backoff, BACK_OFF_PERIOD, MAX_CONTAINER_BACK_OFF};
use images::Images;
use pod_worker::{Admission, PendingEvent, PodWorker, Sandbox, StatusBasis, StepContext};

/// The source name of the kubelet's events.
pub const SOURCE: &str = "kubelet";
/// The kubelet version a registered node reports.
pub const KUBELET_VERSION: &str = "v1.34.0";
/// How long a failed status write waits before the next try (status_manager.go `syncPeriod`).
const STATUS_RETRY: Duration = Duration::from_secs(10);

/// The kubelet's configuration (KubeletConfiguration, the fields its logic uses), with
/// Kubernetes' defaults.
#[derive(Clone, Debug, PartialEq)]
pub struct KubeletConfig {
    /// `maxPods`: the node's `pods` capacity when the node reports none (110).
    pub max_pods: i64,
    /// `systemReserved`: resources kept for the OS (none by default).
    pub system_reserved: ResourceList,
    /// `kubeReserved`: resources kept for Kubernetes' daemons (none by default).
    pub kube_reserved: ResourceList,
    /// The hard eviction thresholds subtracted from allocatable, as amounts (`evictionHard`
    /// `memory.available<100Mi` by default; the percentage thresholds on disk are left out).
    pub eviction_hard: ResourceList,
    /// `serializeImagePulls`: one pull at a time on the node (true).
    pub serialize_image_pulls: bool,
    /// `nodeStatusMaxImages`: how many images the node status lists (50).
    pub node_status_max_images: usize,
}

impl Default for KubeletConfig {
    fn default() -> Self {
        let mut eviction_hard = ResourceList::new();
        if let Ok(q) = Quantity::parse("100Mi") {
            eviction_hard.insert("memory".into(), q);
        }
        KubeletConfig {
            max_pods: 110,
            system_reserved: ResourceList::new(),
            kube_reserved: ResourceList::new(),
            eviction_hard,
            serialize_image_pulls: true,
            node_status_max_images: 50,
        }
    }
}

/// One node's kubelet. See the [module docs](self).
#[derive(Clone, Debug)]
pub struct Kubelet {
    node_name: String,
    config: KubeletConfig,
    node: Option<Node>,
    /// Counts the changes of `node` (pod statuses read its addresses).
    node_epoch: u64,
    workers: BTreeMap<String, PodWorker>,
    /// Workers of finished pods whose final status is written, and of pods that were already
    /// finished when the kubelet first saw them: they have nothing to do until their pod
    /// changes or goes away, so a sync does not visit them. Any event for one moves it back
    /// to `workers`.
    done: BTreeMap<String, PodWorker>,
    images: Images,
    crash_backoff: Backoff,
    events: Vec<PendingEvent>,
    dirty: bool,
    node_retry_at: Option<Time>,
    /// The resourceVersions of the pod status writes this kubelet made and has not yet seen
    /// come back as watch events (see [`Kubelet::handle_pod_event`]).
    own_writes: Vec<u64>,
}

impl Kubelet {
    /// A kubelet for the node `node_name`.
    pub fn new(node_name: &str, config: KubeletConfig) -> Kubelet {
        Kubelet {
            node_name: node_name.to_string(),
            images: Images::new(config.serialize_image_pulls),
            config,
            node: None,
            node_epoch: 0,
            workers: BTreeMap::new(),
            done: BTreeMap::new(),
            crash_backoff: Backoff::new(BACK_OFF_PERIOD, MAX_CONTAINER_BACK_OFF),
            events: Vec::new(),
            dirty: false,
            node_retry_at: None,
            own_writes: Vec::new(),
        }
    }

    /// The node's name.
    pub fn node_name(&self) -> &str {
        &self.node_name
    }

    /// The configuration.
    pub fn config(&self) -> &KubeletConfig {
        &self.config
    }

    /// Registers the node (kubelet_node_status.go `registerWithAPIServer` and
    /// `initialNode`/`setNodeStatus`): creates the Node object from `node` (or takes over an
    /// existing one of that name) and writes its status: capacity (with `pods` from
    /// `maxPods` when missing), allocatable (capacity minus reservations and hard eviction
    /// thresholds), the Ready and pressure conditions, node info and images.
    pub fn register(
        &mut self,
        node: Node,
        store: &mut Store,
        now: Time,
    ) -> Result<Arc<Object>, StoreError> {
        let mut node = node;
        if node.metadata.name.is_empty() {
            node.metadata.name.clone_from(&self.node_name);
        }
        // The well-known labels a kubelet puts on its Node (kubelet_node_status.go
        // initialNode): the hostname, the OS and the architecture, unless already given.
        for (key, value) in [
            ("kubernetes.io/hostname", self.node_name.as_str()),
            ("kubernetes.io/os", "linux"),
            ("kubernetes.io/arch", "amd64"),
        ] {
            node.metadata
                .labels
                .entry(key.to_string())
                .or_insert_with(|| value.to_string());
        }
        self.images.seed(&node.status.images);
        let existing = get_typed::<Node>(store, "", &self.node_name);
        let status = &mut node.status;
        status.capacity.entry("pods".into()).or_insert_with(|| {
            Quantity::from_value(
                self.config.max_pods,
                flotilla_model::quantity::Format::DecimalSI,
            )
        });
        // kubelet container_manager GetNodeAllocatableReservation: reserved + hard eviction.
        let mut allocatable = ResourceList::new();
        for (name, cap) in &status.capacity {
            let mut value = *cap;
            for list in [
                &self.config.system_reserved,
                &self.config.kube_reserved,
                &self.config.eviction_hard,
            ] {
                if let Some(r) = list.get(name) {
                    value = value.saturating_sub(*r);
                }
            }
            if value.is_negative() {
                value = Quantity::ZERO;
            }
            allocatable.insert(name.clone(), value);
        }
        status.allocatable = allocatable;
        let old = existing
            .as_ref()
            .map(|n| n.status.conditions.clone())
            .unwrap_or_default();
        let cond = |kind: &str, ok: bool, reason: &str, message: &str| {
            let status = if ok {
                ConditionStatus::True
            } else {
                ConditionStatus::False
            };
            let transition = old
                .iter()
                .find(|c| c.r#type == kind && c.status == status)
                .and_then(|c| c.last_transition_time)
                .unwrap_or(now);
            NodeCondition {
                r#type: kind.to_string(),
                status,
                last_heartbeat_time: Some(now),
                last_transition_time: Some(transition),
                reason: reason.to_string(),
                message: message.to_string(),
            }
        };
        // kubelet nodestatus setters: MemoryPressure, DiskPressure, PIDPressure, Ready.
        status.conditions = vec![
            cond(
                NodeCondition::MEMORY_PRESSURE,
                false,
                "KubeletHasSufficientMemory",
                "kubelet has sufficient memory available",
            ),
            cond(
                NodeCondition::DISK_PRESSURE,
                false,
                "KubeletHasNoDiskPressure",
                "kubelet has no disk pressure",
            ),
            cond(
                NodeCondition::PID_PRESSURE,
                false,
                "KubeletHasSufficientPID",
                "kubelet has sufficient PID available",
            ),
            cond(
                NodeCondition::READY,
                true,
                "KubeletReady",
                "kubelet is posting ready status",
            ),
        ];
        let info = status.node_info.get_or_insert_with(NodeSystemInfo::default);
        for (field, value) in [
            (&mut info.kubelet_version, KUBELET_VERSION),
            (&mut info.operating_system, "linux"),
            (&mut info.architecture, "amd64"),
        ] {
            if field.is_empty() {
                *field = value.to_string();
            }
        }
        status.images = self.image_status();
        let written = match existing {
            Some(mut stored) => {
                // Take over the stored Node: keep its addresses unless new ones are given.
                if node.status.addresses.is_empty() {
                    node.status.addresses = std::mem::take(&mut stored.status.addresses);
                }
                stored.status = node.status;
                store.update_status(stored.into(), now)?
            }
            None => store.create(node.into(), now)?,
        };
        if let Object::Node(n) = &*written {
            self.set_node((**n).clone());
        }
        self.images.changed = false;
        self.dirty = true;
        Ok(written)
    }

    /// A watch event of a Node: the kubelet keeps its own (allocatable, labels and taints for
    /// admission, addresses for `hostIP`).
    pub fn handle_node_event(&mut self, event: &WatchEvent) {
        let Object::Node(node) = &*event.object else {
            return;
        };
        if node.metadata.name != self.node_name || event.event_type == WatchEventType::Deleted {
            return;
        }
        self.set_node((**node).clone());
        if self
            .workers
            .values()
            .any(|w| w.admission == Admission::Pending)
        {
            self.dirty = true;
        }
    }

    /// A watch event of a pod bound to this node, including its deletion. Pods of other nodes
    /// are ignored. Returns whether the event can give the kubelet something to do: false for
    /// the echo of its own status write (the status it wrote is the one it computed, so a sync
    /// for it would find nothing to change) and for other nodes' pods, true otherwise.
    pub fn handle_pod_event(&mut self, event: &WatchEvent, now: Time) -> bool {
        let _ = now;
        let Object::Pod(pod) = &*event.object else {
            return false;
        };
        if pod.spec.node_name != self.node_name {
            return false;
        }
        // Events come in resourceVersion order: a write older than this event was seen (or
        // its event was lost with the history), and is forgotten.
        let rv = event.resource_version;
        let echo = self.own_writes.contains(&rv);
        self.own_writes.retain(|&v| v > rv);
        if echo && event.event_type == WatchEventType::Modified {
            let uid = &pod.metadata.uid;
            let known = self
                .workers
                .get(uid)
                .or(self.done.get(uid))
                .is_some_and(|w| !w.differs_from(pod));
            if known {
                return false;
            }
        }
        let uid = &pod.metadata.uid;
        if event.event_type == WatchEventType::Deleted {
            if let Some(w) = self.worker_mut(uid) {
                if w.ready_to_delete || w.admission != Admission::Admitted || w.finished {
                    self.forget(&pod.metadata.uid.clone());
                } else {
                    // Deleted without the kubelet finishing: kill everything, remove the
                    // sandbox, forget the pod.
                    w.orphaned = true;
                    self.dirty = true;
                }
            }
            return true;
        }
        if let Some(w) = self.done.get(uid) {
            if !w.differs_from(pod) {
                return true;
            }
            self.reactivate(uid);
        }
        match self.workers.get_mut(uid) {
            Some(w) => {
                if w.differs_from(pod) {
                    w.update_pod(Arc::new(pod.clone()));
                    w.settled = false;
                    self.dirty = true;
                }
            }
            None => {
                let mut w = PodWorker::new(Arc::new(pod.clone()));
                if pod.phase().is_terminal() {
                    // Finished before this kubelet saw it: nothing to run or to report.
                    w.admission = Admission::Ignored;
                    w.finished = true;
                    self.done.insert(uid.clone(), w);
                    return true;
                }
                self.workers.insert(uid.clone(), w);
                self.dirty = true;
            }
        }
        true
    }

    /// A watch event of a ConfigMap or Secret. The pods of this node whose volumes use it get
    /// their volume content again at the next sync (sent to the runtime when it changed), and
    /// a pod waiting for its volumes is checked at once. Returns whether the kubelet has work
    /// from it (other objects, and sources no pod's volume uses, are ignored). Environment
    /// variables are not affected: they are read once, when a container starts, as in
    /// Kubernetes.
    pub fn handle_config_event(&mut self, event: &WatchEvent) -> bool {
        let (secret, meta) = match &*event.object {
            Object::ConfigMap(c) => (false, &c.metadata),
            Object::Secret(s) => (true, &s.metadata),
            _ => return false,
        };
        let mut work = false;
        for w in self.workers.values_mut() {
            if w.finished
                || w.pod.metadata.namespace != meta.namespace
                || !volumes::uses_source(&w.pod, secret, &meta.name)
            {
                continue;
            }
            if w.volumes_sent.is_some() {
                w.volumes_stale = true;
                work = true;
            } else if w.volume_wait.is_some() {
                work = true;
            }
        }
        self.dirty |= work;
        work
    }

    /// A result from this node's runtime.
    pub fn handle_runtime_event(&mut self, event: RuntimeEvent, now: Time) {
        self.dirty = true;
        if let Some(uid) = event.pod_uid() {
            self.reactivate(uid);
        }
        match event {
            RuntimeEvent::ImagePulled { image, result } => self.on_pulled(&image, &result, now),
            RuntimeEvent::SandboxReady { pod_uid, result } => {
                let Some(w) = self.workers.get_mut(&pod_uid) else {
                    return;
                };
                if w.sandbox != Sandbox::Creating {
                    return;
                }
                match result {
                    Ok(ip) => w.sandbox = Sandbox::Ready { ip },
                    Err(message) => {
                        w.sandbox = Sandbox::Failed {
                            retry_at: now.saturating_add(BACK_OFF_PERIOD),
                        };
                        self.events.push(PendingEvent {
                            time: now,
                            object: w.key.clone(),
                            event_type: EventType::Warning,
                            reason: "FailedCreatePodSandBox".into(),
                            message: format!("Failed to create pod sandbox: {message}"),
                        });
                    }
                }
            }
            RuntimeEvent::ContainerStarted {
                pod_uid,
                container,
                result,
            } => {
                if let Some(w) = self.workers.get_mut(&pod_uid) {
                    w.on_started(&container, result, now, &mut self.events);
                }
            }
            RuntimeEvent::ContainerExited {
                pod_uid,
                container,
                exit_code,
                oom_killed,
            } => {
                if let Some(w) = self.workers.get_mut(&pod_uid) {
                    w.on_exited(&container, exit_code, oom_killed, now);
                }
            }
            RuntimeEvent::ProbeResult {
                pod_uid,
                container,
                kind,
                success,
                message,
            } => {
                if let Some(w) = self.workers.get_mut(&pod_uid) {
                    w.on_probe(&container, kind, success, &message, now, &mut self.events);
                }
            }
            RuntimeEvent::PodVolumesSet { pod_uid, result } => {
                if let (Some(w), Err(message)) = (self.workers.get(&pod_uid), result) {
                    self.events.push(PendingEvent {
                        time: now,
                        object: w.key.clone(),
                        event_type: EventType::Warning,
                        reason: "FailedMount".into(),
                        message,
                    });
                }
            }
            RuntimeEvent::ContainerCreateFailed {
                pod_uid,
                container,
                reason,
                message,
            } => {
                if let Some(w) = self.workers.get_mut(&pod_uid) {
                    w.on_create_failed(&container, &reason, &message, now, &mut self.events);
                }
            }
            RuntimeEvent::SandboxRemoved { pod_uid } => {
                if let Some(w) = self.workers.get_mut(&pod_uid) {
                    if w.sandbox == Sandbox::Removing {
                        w.sandbox = Sandbox::Removed;
                    }
                }
            }
        }
    }

    /// images/image_manager.go `EnsureImageExists`, after the pull: every container waiting
    /// for `image` learns the result.
    fn on_pulled(&mut self, image: &str, result: &Result<u64, String>, now: Time) {
        let sent = self.images.finish(image, result);
        for w in self.workers.values_mut() {
            for c in &mut w.containers {
                let Some(wait) = &c.pulling else {
                    continue;
                };
                if wait.image != image {
                    continue;
                }
                let requested_at = wait.requested_at;
                c.pulling = None;
                let mut push = |t, reason, message| {
                    self.events.push(PendingEvent {
                        time: now,
                        object: w.key.clone(),
                        event_type: t,
                        reason: String::from(reason),
                        message,
                    })
                };
                match result {
                    Ok(size) => {
                        let pulled = now.saturating_duration_since(sent.unwrap_or(requested_at));
                        let waited = now.saturating_duration_since(requested_at);
                        push(
                            EventType::Normal,
                            "Pulled",
                            format!(
                                "Successfully pulled image {image:?} in {} ({} including waiting). Image size: {size} bytes.",
                                go_duration(pulled),
                                go_duration(waited)
                            ),
                        );
                        c.image_ready = true;
                        c.pull_failed_at = None;
                        c.image_id = image.to_string();
                        if c.reason.as_ref().is_some_and(|r| r.0.contains("Image")) {
                            c.reason = None;
                        }
                    }
                    Err(message) => {
                        push(
                            EventType::Warning,
                            "Failed",
                            format!("Failed to pull image {image:?}: {message}"),
                        );
                        push(EventType::Warning, "Failed", "Error: ErrImagePull".into());
                        let key = format!("{}_{image}", w.uid);
                        self.images.backoff.next(&key, now, now);
                        c.reason = Some(("ErrImagePull".into(), message.clone()));
                        c.pull_failed_at = Some(now);
                    }
                }
            }
        }
    }

    /// Does everything due at `now`: admits new pods, advances each pod's worker, writes pod
    /// statuses that changed, finishes deletions, updates the node's image list, records
    /// events, and returns the runtime commands to execute, in order.
    pub fn sync(
        &mut self,
        store: &mut Store,
        recorder: &mut EventRecorder,
        now: Time,
    ) -> Vec<RuntimeCommand> {
        self.dirty = false;
        self.admit_pending(store, now);
        let mut commands = Vec::new();
        {
            let mut ctx = StepContext {
                now,
                store: &*store,
                images: &mut self.images,
                crash_backoff: &mut self.crash_backoff,
                commands: &mut commands,
                events: &mut self.events,
            };
            for w in self.workers.values_mut() {
                w.step(&mut ctx);
            }
        }
        commands.extend(self.images.dispatch(now));
        self.write_statuses(store, now);
        self.write_node_images(store, now);
        self.crash_backoff.gc(now);
        for e in self.events.drain(..) {
            recorder.record(e.time, e.object, e.event_type, &e.reason, e.message, SOURCE);
        }
        commands
    }

    /// Admits the pods seen since the last sync, in creation order (kubelet.go
    /// `HandlePodAdditions` sorts by creation time).
    fn admit_pending(&mut self, store: &Store, now: Time) {
        if self.node.is_none() {
            return;
        }
        let mut pending: Vec<(Option<Time>, String, String, String)> = self
            .workers
            .values()
            .filter(|w| w.admission == Admission::Pending)
            .map(|w| {
                (
                    w.pod.metadata.creation_timestamp,
                    w.key.namespace.clone(),
                    w.key.name.clone(),
                    w.uid.clone(),
                )
            })
            .collect();
        if pending.is_empty() {
            return;
        }
        // Taken out for the loop (which changes the workers) and put back after it.
        let Some(node) = self.node.take() else {
            return;
        };
        pending.sort();
        for (_, _, _, uid) in pending {
            let Some(w) = self.workers.get(&uid) else {
                continue;
            };
            let pod = w.pod.clone();
            let result = if pod.metadata.deletion_timestamp.is_some() {
                Ok(())
            } else {
                let others: Vec<&Pod> = self
                    .workers
                    .values()
                    .filter(|o| {
                        o.admission == Admission::Admitted && !o.is_terminal() && o.uid != uid
                    })
                    .map(|o| o.pod.as_ref())
                    .collect();
                admission::admit(&pod, &node, &others)
            };
            let stored_start = match store
                .get(Kind::Pod, &pod.metadata.namespace, &pod.metadata.name)
                .as_deref()
            {
                Some(Object::Pod(p)) if p.metadata.uid == uid => p.status.start_time,
                _ => None,
            };
            let Some(w) = self.workers.get_mut(&uid) else {
                continue;
            };
            match result {
                Ok(()) => {
                    w.admission = Admission::Admitted;
                    w.start_time = Some(stored_start.unwrap_or(now));
                }
                Err(rejection) => {
                    // kubelet.go rejectPod: an event and a Failed status.
                    self.events.push(PendingEvent {
                        time: now,
                        object: w.key.clone(),
                        event_type: EventType::Warning,
                        reason: rejection.reason.clone(),
                        message: rejection.message.clone(),
                    });
                    w.admission = Admission::Rejected(rejection);
                    w.finished = true;
                }
            }
        }
        self.node = Some(node);
    }

    /// Writes each pod's status when it changed, and the final delete of pods that are done.
    fn write_statuses(&mut self, store: &mut Store, now: Time) {
        let mut forget = Vec::new();
        let mut retire = Vec::new();
        for w in self.workers.values_mut() {
            if w.orphaned {
                if w.finished {
                    forget.push(w.uid.clone());
                }
                continue;
            }
            if matches!(w.admission, Admission::Pending | Admission::Ignored) {
                continue;
            }
            if w.finished && !w.ready_to_delete && w.settled {
                retire.push(w.uid.clone());
                continue;
            }
            // Read through the shared object; copy the pod only when its status changes.
            let Some(object) = store.get(Kind::Pod, &w.key.namespace, &w.key.name) else {
                continue;
            };
            let Object::Pod(stored) = object.as_ref() else {
                continue;
            };
            if stored.metadata.uid != w.uid {
                continue;
            }
            let inputs = status::status_inputs(w);
            let unchanged = w.status_basis.as_ref().is_some_and(|b| {
                Arc::ptr_eq(&b.stored, &object)
                    && b.node_epoch == self.node_epoch
                    && b.inputs == inputs
            });
            w.status_retry_at = None;
            if unchanged {
                debug_assert_eq!(
                    status::pod_status(w, stored, self.node.as_ref(), now),
                    stored.status,
                    "the status of {:?} changed with the same inputs",
                    w.key
                );
            } else {
                let status = status::pod_status(w, stored, self.node.as_ref(), now);
                let mut basis = Arc::clone(&object);
                if status != stored.status {
                    let fresh = Pod {
                        metadata: stored.metadata.clone(),
                        spec: stored.spec.clone(),
                        status,
                    };
                    let before = store.resource_version();
                    match store.update_status(fresh.into(), now) {
                        Ok(written) => basis = written,
                        Err(_) => {
                            w.status_retry_at = Some(now.saturating_add(STATUS_RETRY));
                            w.status_basis = None;
                            continue;
                        }
                    }
                    if store.resource_version() != before {
                        self.own_writes.push(store.resource_version());
                    }
                }
                w.status_basis = Some(StatusBasis {
                    stored: basis,
                    node_epoch: self.node_epoch,
                    inputs,
                });
            }
            if w.finished {
                w.settled = true;
                if !w.ready_to_delete {
                    retire.push(w.uid.clone());
                }
            }
            if w.ready_to_delete {
                let options = DeleteOptions {
                    grace_period_seconds: Some(0),
                    precondition_uid: Some(w.uid.clone()),
                    ..Default::default()
                };
                match store.delete(Kind::Pod, &w.key.namespace, &w.key.name, &options, now) {
                    Ok(_) | Err(StoreError::NotFound { .. }) => forget.push(w.uid.clone()),
                    Err(_) => w.status_retry_at = Some(now.saturating_add(STATUS_RETRY)),
                }
            }
        }
        for uid in forget {
            self.forget(&uid);
        }
        for uid in retire {
            if let Some(w) = self.workers.remove(&uid) {
                self.done.insert(uid, w);
            }
        }
    }

    /// Moves the worker of pod `uid` back from `done`, if it is there.
    fn reactivate(&mut self, uid: &str) {
        if let Some(w) = self.done.remove(uid) {
            self.workers.insert(uid.to_string(), w);
        }
    }

    /// The worker of pod `uid`, moved back from `done` if it was there.
    fn worker_mut(&mut self, uid: &str) -> Option<&mut PodWorker> {
        self.reactivate(uid);
        self.workers.get_mut(uid)
    }

    /// Puts the node's image list in its status when it changed.
    fn write_node_images(&mut self, store: &mut Store, now: Time) {
        if !self.images.changed {
            return;
        }
        if self.node_retry_at.is_some_and(|t| t > now) {
            return;
        }
        let images = self.image_status();
        let mut node = match store.get(Kind::Node, "", &self.node_name).as_deref() {
            Some(Object::Node(n)) => n.clone(),
            _ => {
                self.images.changed = false;
                return;
            }
        };
        if node.status.images != images {
            node.status.images = images;
            match store.update_status(node.into(), now) {
                Ok(written) => {
                    if let Object::Node(n) = &*written {
                        self.set_node((**n).clone());
                    }
                }
                Err(_) => {
                    self.node_retry_at = Some(now.saturating_add(STATUS_RETRY));
                    return;
                }
            }
        }
        self.node_retry_at = None;
        self.images.changed = false;
    }

    /// Keeps `node` as this kubelet's Node.
    fn set_node(&mut self, node: Node) {
        self.node = Some(node);
        self.node_epoch += 1;
    }

    fn forget(&mut self, uid: &str) {
        self.workers.remove(uid);
        self.done.remove(uid);
        self.images.forget_pod(uid);
        self.crash_backoff.forget_prefix(&format!("{uid}_"));
    }

    /// The earliest time [`sync`](Kubelet::sync) has timed work (a back-off ending, a probe
    /// due, a grace period ending, an active deadline, a retry), if any.
    pub fn next_wakeup(&self) -> Option<Time> {
        self.workers
            .values()
            .filter_map(PodWorker::next_wakeup)
            .chain(self.node_retry_at.filter(|_| self.images.changed))
            .min()
    }

    /// Whether [`sync`](Kubelet::sync) has work at `now`: something changed since the last
    /// sync, or timed work is due.
    pub fn has_work(&self, now: Time) -> bool {
        self.dirty || self.images.has_queued() || self.next_wakeup().is_some_and(|t| t <= now)
    }

    /// The images the node holds, largest first (what its status lists, for the scheduler's
    /// ImageLocality).
    pub fn images(&self) -> Vec<ContainerImage> {
        self.images.list()
    }

    fn image_status(&self) -> Vec<ContainerImage> {
        let mut list = self.images.list();
        list.truncate(self.config.node_status_max_images);
        list
    }

    /// How many pods the kubelet tracks (admitted, rejected or being torn down).
    pub fn pod_count(&self) -> usize {
        self.workers.len() + self.done.len()
    }
}
