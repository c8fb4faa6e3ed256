//! One pod's worker (pod_workers.go, with the decisions of kuberuntime_manager.go
//! `computePodActions` / `SyncPod`): what the kubelet knows about the pod's sandbox and
//! containers, and the step that turns it into runtime commands — sandbox first, image pulls,
//! init containers in order, app containers, restarts with crash back-off, probes, and
//! termination (graceful kill, sandbox removal).

use std::sync::Arc;

use flotilla_model::api::{
    ContainerRestartPolicy, ContainerStateTerminated, Pod, Probe, PullPolicy, RestartPolicy,
};
use flotilla_model::store::ObjectKey;
use flotilla_model::{Duration, Kind, Time};

use super::admission::Rejection;
use super::backoff::{go_duration, Backoff};
use super::images::{effective_pull_policy, Images};
use super::{PodVolumeContent, ProbeKind, RuntimeCommand, StopSignal, DEFAULT_TERMINATION_GRACE};
use crate::controller::EventType;

/// pleg/generic.go relist period: how soon the kubelet syncs a pod again after a change.
const PLEG_RELIST_PERIOD: Duration = Duration::from_secs(1);
/// kuberuntime_container.go `minimumGracePeriodInSeconds`: containers always get 2 s to stop.
const MINIMUM_GRACE: Duration = Duration::from_secs(2);
/// pod_workers.go `workerBackOffPeriod`: how soon a pod whose sync failed is tried again.
const WORKER_BACK_OFF: Duration = Duration::from_secs(10);

/// An event the kubelet will record.
#[derive(Clone, Debug)]
pub(crate) struct PendingEvent {
    pub time: Time,
    pub object: ObjectKey,
    pub event_type: EventType,
    pub reason: String,
    pub message: String,
}

/// The latest instance of a container.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub(crate) enum Instance {
    /// `StartContainer` sent, no answer yet.
    Starting,
    /// Running since `started_at`.
    Running { id: String, started_at: Time },
    /// Exited (or failed to start).
    Exited(ContainerStateTerminated),
}

/// One probe of a container (prober/worker.go).
#[derive(Clone, Debug)]
pub(crate) struct ProbeState {
    pub kind: ProbeKind,
    pub probe: Probe,
    pub next_due: Time,
    pub outstanding: bool,
    pub last: Option<bool>,
    pub run: i32,
    pub on_hold: bool,
}

/// A kill in progress: `Term` sent, `Kill` due at `deadline` unless the container exits.
#[derive(Clone, Debug)]
pub(crate) struct Kill {
    pub deadline: Time,
    pub kill_sent: bool,
}

/// A waiting image pull.
#[derive(Clone, Debug)]
pub(crate) struct PullWait {
    pub image: String,
    pub requested_at: Time,
}

/// What the kubelet knows about one container.
#[derive(Clone, Debug)]
pub(crate) struct ContainerRecord {
    pub name: String,
    pub image: String,
    pub init: bool,
    pub sidecar: bool,
    pub pull_policy: PullPolicy,
    /// The restart count of the latest instance.
    pub attempt: i32,
    pub instance: Option<Instance>,
    /// The termination of the instance before the latest.
    pub previous: Option<ContainerStateTerminated>,
    pub pulling: Option<PullWait>,
    pub image_ready: bool,
    /// kubelet `reasonCache`: why the last start attempt did not run the container.
    pub reason: Option<(String, String)>,
    /// The `finishedAt` whose crash back-off has been passed (and `Next`-ed).
    pub backoff_passed: Option<Time>,
    /// The wait (back-off end) an event was already recorded for.
    pub reported_wait: Option<Time>,
    /// When a back-off this container waits on ends.
    pub wait_until: Option<Time>,
    pub started: bool,
    pub ready: bool,
    pub probes: Vec<ProbeState>,
    pub kill: Option<Kill>,
    /// A kill asked for by a probe: grace and the event message.
    pub kill_request: Option<(Duration, String)>,
    pub image_id: String,
    /// When the last pull for this container failed.
    pub pull_failed_at: Option<Time>,
    /// What the container was before the `StartContainer` in flight (instance, previous
    /// termination, attempt), restored when the runtime could not create it.
    pub before_start: Option<(Option<Instance>, Option<ContainerStateTerminated>, i32)>,
    /// The runtime could not create the container (`ContainerCreateFailed`): no new
    /// `StartContainer` before this time (the pod worker's back-off).
    pub create_retry_at: Option<Time>,
}

impl ContainerRecord {
    /// Takes over what the stored status says of a container this kubelet has never seen
    /// running: a pod bound to the node before the kubelet (re)started, whose containers the
    /// runtime no longer has (a node reboot, or single-host mode's restart, which removes the
    /// previous process's containers).
    ///
    /// As Kubernetes' kubelet does then, the restart count goes on from the stored one
    /// (kuberuntime_container.go `startContainer` recovers it with
    /// `calcRestartCountByLogDir`), and:
    /// - a container the status says was running is started again at once as the next
    ///   attempt, its last state `ContainerStatusUnknown` with exit code 137
    ///   (kubelet_pods.go `convertToAPIContainerStatuses`: a container that was running and
    ///   that the runtime no longer reports; `computePodActions` starts every container in the
    ///   new sandbox when the runtime reports none);
    /// - a container that had exited (at a known time) stays exited, and the restart policy
    ///   and crash back-off decide as for any exited container;
    /// - a container that never ran starts as a new one.
    fn resume_from(&mut self, status: &flotilla_model::api::ContainerStatus) {
        let state = &status.state;
        self.attempt = status.restart_count;
        let exited = state
            .terminated
            .as_ref()
            .or(status.last_state.terminated.as_ref());
        if state.running.is_some() {
            self.attempt += 1;
            self.previous = Some(ContainerStateTerminated {
                exit_code: 137,
                reason: "ContainerStatusUnknown".into(),
                message: "The container could not be located when the pod was terminated".into(),
                container_id: status.container_id.clone(),
                ..Default::default()
            });
        } else if let Some(t) = exited {
            if t.finished_at.is_some() {
                self.instance = Some(Instance::Exited(t.clone()));
                self.image_id.clone_from(&status.image_id);
                if state.terminated.is_some() {
                    self.previous = status.last_state.terminated.clone();
                }
            } else {
                // No exit time to count a back-off from: start it as the next attempt.
                self.attempt += 1;
                self.previous = Some(t.clone());
            }
        }
    }

    fn running(&self) -> bool {
        matches!(self.instance, Some(Instance::Running { .. }))
    }

    fn busy(&self) -> bool {
        matches!(
            self.instance,
            Some(Instance::Running { .. } | Instance::Starting)
        )
    }
}

/// The pod's sandbox.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub(crate) enum Sandbox {
    None,
    Creating,
    Ready { ip: String },
    Failed { retry_at: Time },
    Removing,
    Removed,
}

/// Whether the pod may run here.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub(crate) enum Admission {
    Pending,
    Admitted,
    Rejected(Rejection),
    /// Seen already finished: nothing to run.
    Ignored,
}

/// One pod's worker. See the [module docs](self).
#[derive(Clone, Debug)]
pub(crate) struct PodWorker {
    pub uid: String,
    pub key: ObjectKey,
    pub pod: Arc<Pod>,
    pub admission: Admission,
    pub start_time: Option<Time>,
    pub sandbox: Sandbox,
    /// Init containers first, in spec order, then app containers.
    pub containers: Vec<ContainerRecord>,
    pub initialized: bool,
    /// The store deleted the pod without the kubelet finishing it.
    pub orphaned: bool,
    /// activeDeadlineSeconds passed.
    pub deadline_exceeded: bool,
    /// Every container is done and none will restart (or an init container failed for good).
    pub completed: bool,
    /// Everything is stopped and the sandbox removed.
    pub finished: bool,
    /// Ready for the final delete (deletion requested and everything stopped).
    pub ready_to_delete: bool,
    /// A status write failed; retry then.
    pub status_retry_at: Option<Time>,
    /// Waiting for the pod's volumes to be ready (volumes.rs).
    pub volume_wait: Option<super::volumes::VolumeWait>,
    /// The volume content last sent with `SetPodVolumes`, if any was.
    pub volumes_sent: Option<Vec<PodVolumeContent>>,
    /// A ConfigMap or Secret the pod's volumes use changed since `volumes_sent`.
    pub volumes_stale: bool,
    /// Finished, and the final status is written: the status is not recomputed on every sync
    /// (a node keeps every pod it ever ran until the pod is deleted), until the pod changes.
    pub settled: bool,
    /// What the stored status was last found equal to (see [`StatusBasis`]).
    pub status_basis: Option<StatusBasis>,
}

/// The inputs from which the kubelet last computed a pod's status, when the stored status
/// was (or was just written to be) that status. While the stored pod is the same object, the
/// node the same and the worker's fingerprint (status.rs `status_inputs`) the same, the
/// status would come out the same again, and the sync does not compute it.
#[derive(Clone, Debug)]
pub(crate) struct StatusBasis {
    /// The stored pod, held so that a pointer comparison is exact.
    pub stored: Arc<flotilla_model::Object>,
    /// The kubelet's count of changes to its Node.
    pub node_epoch: u64,
    /// The worker's fingerprint.
    pub inputs: u64,
}

/// `name_namespace(uid)`, as kubelet's `format.Pod` prints a pod.
pub(crate) fn format_pod(pod: &Pod) -> String {
    format!(
        "{}_{}({})",
        pod.metadata.name, pod.metadata.namespace, pod.metadata.uid
    )
}

/// kubecontainer `ShouldContainerBeRestarted` for an exited app container.
pub(crate) fn should_restart(policy: RestartPolicy, exit_code: i32) -> bool {
    match policy {
        RestartPolicy::Always => true,
        RestartPolicy::OnFailure => exit_code != 0,
        RestartPolicy::Never => false,
    }
}

/// The shared state a step works with.
pub(crate) struct StepContext<'a> {
    pub now: Time,
    /// The store, read for the Services, ConfigMaps and Secrets a container's environment
    /// names.
    pub store: &'a flotilla_model::store::Store,
    pub images: &'a mut Images,
    pub crash_backoff: &'a mut Backoff,
    pub commands: &'a mut Vec<RuntimeCommand>,
    pub events: &'a mut Vec<PendingEvent>,
}

impl StepContext<'_> {
    fn event(&mut self, key: &ObjectKey, t: EventType, reason: &'static str, message: String) {
        self.events.push(PendingEvent {
            time: self.now,
            object: key.clone(),
            event_type: t,
            reason: reason.to_string(),
            message,
        });
    }
}

impl PodWorker {
    /// A worker for a newly seen pod.
    pub fn new(pod: Arc<Pod>) -> PodWorker {
        let spec = &pod.spec;
        let record = |c: &flotilla_model::api::Container, init: bool| ContainerRecord {
            name: c.name.clone(),
            image: c.image.clone(),
            init,
            sidecar: init && c.restart_policy == Some(ContainerRestartPolicy::Always),
            pull_policy: effective_pull_policy(&c.image, c.image_pull_policy),
            attempt: 0,
            instance: None,
            previous: None,
            pulling: None,
            image_ready: false,
            reason: None,
            backoff_passed: None,
            reported_wait: None,
            wait_until: None,
            started: false,
            ready: false,
            probes: Vec::new(),
            kill: None,
            kill_request: None,
            image_id: String::new(),
            pull_failed_at: None,
            before_start: None,
            create_retry_at: None,
        };
        let mut containers: Vec<ContainerRecord> = spec
            .init_containers
            .iter()
            .map(|c| record(c, true))
            .chain(spec.containers.iter().map(|c| record(c, false)))
            .collect();
        for c in &mut containers {
            let statuses = if c.init {
                &pod.status.init_container_statuses
            } else {
                &pod.status.container_statuses
            };
            if let Some(status) = statuses.iter().find(|s| s.name == c.name) {
                c.resume_from(status);
            }
        }
        PodWorker {
            uid: pod.metadata.uid.clone(),
            key: ObjectKey {
                kind: Kind::Pod,
                namespace: pod.metadata.namespace.clone(),
                name: pod.metadata.name.clone(),
            },
            initialized: spec.init_containers.is_empty(),
            pod,
            admission: Admission::Pending,
            start_time: None,
            sandbox: Sandbox::None,
            containers,
            orphaned: false,
            deadline_exceeded: false,
            completed: false,
            finished: false,
            ready_to_delete: false,
            status_retry_at: None,
            volume_wait: None,
            volumes_sent: None,
            volumes_stale: false,
            settled: false,
            status_basis: None,
        }
    }

    /// The pod's restart policy (`Always` when unset).
    pub fn restart_policy(&self) -> RestartPolicy {
        self.pod.spec.restart_policy.unwrap_or_default()
    }

    /// Whether `pod` differs from the worker's copy in what the worker acts on: the spec and
    /// the deletion request (a status change is not work for it).
    pub fn differs_from(&self, pod: &Pod) -> bool {
        self.pod.spec != pod.spec
            || self.pod.metadata.deletion_timestamp != pod.metadata.deletion_timestamp
            || self.pod.metadata.deletion_grace_period_seconds
                != pod.metadata.deletion_grace_period_seconds
    }

    /// Whether the pod is being torn down for any reason.
    pub fn terminating(&self) -> bool {
        self.orphaned
            || self.pod.metadata.deletion_timestamp.is_some()
            || self.deadline_exceeded
            || self.completed
    }

    /// Whether the pod has reached a terminal phase (it no longer counts for admission).
    pub fn is_terminal(&self) -> bool {
        self.deadline_exceeded || self.completed || self.finished
    }

    /// Whether any container is running or starting.
    pub fn any_busy(&self) -> bool {
        self.containers.iter().any(ContainerRecord::busy)
    }

    /// The container record named `name`.
    pub fn container_mut(&mut self, name: &str) -> Option<&mut ContainerRecord> {
        self.containers.iter_mut().find(|c| c.name == name)
    }

    fn spec_of(&self, name: &str) -> Option<&flotilla_model::api::Container> {
        self.pod
            .spec
            .init_containers
            .iter()
            .chain(&self.pod.spec.containers)
            .find(|c| c.name == name)
    }

    /// The pod's grace period for a kill (kuberuntime_container.go `killContainer`): the
    /// deletion's grace when the pod is being deleted, else `terminationGracePeriodSeconds`,
    /// at least 2 s.
    fn pod_grace(&self) -> Duration {
        let secs = self
            .pod
            .metadata
            .deletion_grace_period_seconds
            .or(self.pod.spec.termination_grace_period_seconds);
        let grace = secs.map_or(DEFAULT_TERMINATION_GRACE, |s| {
            Duration::from_secs(s.max(0) as u64)
        });
        grace.max(MINIMUM_GRACE)
    }

    /// The earliest timed work of this worker.
    pub fn next_wakeup(&self) -> Option<Time> {
        if self.finished || self.admission != Admission::Admitted {
            return None;
        }
        let mut best: Option<Time> = self.status_retry_at;
        let mut consider = |t: Time| best = Some(best.map_or(t, |b| b.min(t)));
        if let Sandbox::Failed { retry_at } = self.sandbox {
            consider(retry_at);
        }
        if let (Sandbox::None, Some(wait), false) =
            (&self.sandbox, &self.volume_wait, self.terminating())
        {
            consider(wait.next_check);
        }
        if !self.terminating() {
            if let (Some(ads), Some(start)) =
                (self.pod.spec.active_deadline_seconds, self.start_time)
            {
                consider(start.saturating_add(Duration::from_secs(ads.max(0) as u64)));
            }
        }
        for c in &self.containers {
            if let Some(k) = &c.kill {
                if !k.kill_sent && c.running() {
                    consider(k.deadline);
                }
            }
            if self.terminating() {
                continue;
            }
            if let Some(t) = c.wait_until {
                consider(t);
            }
            if c.running() && c.kill.is_none() {
                for p in &c.probes {
                    if probe_eligible(c, p) {
                        consider(p.next_due);
                    }
                }
            }
        }
        best
    }

    /// Advances the worker at `ctx.now`. See the [module docs](self).
    pub fn step(&mut self, ctx: &mut StepContext<'_>) {
        if self.finished || self.admission != Admission::Admitted {
            return;
        }
        self.advance_kills(ctx);
        if !self.terminating() {
            if let (Some(ads), Some(start)) =
                (self.pod.spec.active_deadline_seconds, self.start_time)
            {
                // active_deadline.go: the pod is failed once it ran longer than its deadline.
                let deadline = start.saturating_add(Duration::from_secs(ads.max(0) as u64));
                if ctx.now >= deadline {
                    self.deadline_exceeded = true;
                    ctx.event(
                        &self.key,
                        EventType::Normal,
                        "DeadlineExceeded",
                        "Pod was active on the node longer than the specified deadline".into(),
                    );
                }
            }
        }
        if self.terminating() {
            self.terminate(ctx);
            return;
        }
        // kubelet.go SyncPod: WaitForAttachAndMount before the sandbox.
        if self.sandbox == Sandbox::None
            && !super::volumes::wait_for_attach_and_mount(
                &self.pod,
                &self.key,
                &mut self.volume_wait,
                ctx,
            )
        {
            return;
        }
        if self.sandbox == Sandbox::None {
            self.send_volumes(ctx);
        } else if self.volumes_stale {
            self.refresh_volumes(ctx);
        }
        match self.sandbox {
            Sandbox::None => {
                ctx.commands.push(RuntimeCommand::RunPodSandbox {
                    pod: self.pod.clone(),
                });
                self.sandbox = Sandbox::Creating;
                return;
            }
            Sandbox::Failed { retry_at } => {
                if ctx.now >= retry_at {
                    ctx.commands.push(RuntimeCommand::RunPodSandbox {
                        pod: self.pod.clone(),
                    });
                    self.sandbox = Sandbox::Creating;
                }
                return;
            }
            Sandbox::Creating | Sandbox::Removing | Sandbox::Removed => return,
            Sandbox::Ready { .. } => {}
        }
        let policy = self.restart_policy();
        // computePodActions: init containers one at a time, in order.
        if !self.initialized {
            for i in 0..self.containers.len() {
                if !self.containers[i].init {
                    continue;
                }
                let c = &self.containers[i];
                if c.sidecar {
                    match &c.instance {
                        Some(Instance::Running { .. }) if c.started => continue,
                        Some(Instance::Running { .. } | Instance::Starting) => {
                            self.probe(i, ctx);
                            return;
                        }
                        Some(Instance::Exited(_)) => {
                            self.restart(i, ctx);
                            return;
                        }
                        None => {
                            self.start(i, ctx);
                            return;
                        }
                    }
                }
                match &c.instance {
                    Some(Instance::Exited(t)) if t.exit_code == 0 => continue,
                    Some(Instance::Exited(_)) => {
                        if policy == RestartPolicy::Never {
                            // A failed init container fails a pod that never restarts.
                            self.completed = true;
                            self.terminate(ctx);
                        } else {
                            self.restart(i, ctx);
                        }
                        return;
                    }
                    Some(_) => return,
                    None => {
                        self.start(i, ctx);
                        return;
                    }
                }
            }
            self.initialized = true;
        }
        for i in 0..self.containers.len() {
            let c = &self.containers[i];
            if c.init && !c.sidecar {
                continue;
            }
            match &c.instance {
                None => self.start(i, ctx),
                Some(Instance::Exited(t)) => {
                    if c.sidecar || should_restart(policy, t.exit_code) {
                        self.restart(i, ctx);
                    }
                }
                Some(Instance::Running { .. }) => self.probe(i, ctx),
                Some(Instance::Starting) => {}
            }
        }
        // All app containers done and none will restart: the pod has completed.
        let done = self.containers.iter().filter(|c| !c.init).all(|c| {
            matches!(&c.instance, Some(Instance::Exited(t)) if !should_restart(policy, t.exit_code))
        });
        if done && policy != RestartPolicy::Always {
            self.completed = true;
            self.terminate(ctx);
        }
    }

    /// Sends the content of the pod's volumes before its sandbox (volumes.rs), when it has
    /// volumes whose content the kubelet resolves.
    fn send_volumes(&mut self, ctx: &mut StepContext<'_>) {
        if !super::volumes::has_content_volumes(&self.pod) {
            return;
        }
        // wait_for_attach_and_mount just found every volume ready.
        let Ok(volumes) = super::volumes::volume_contents(&self.pod, ctx.store) else {
            return;
        };
        self.volumes_stale = false;
        self.volumes_sent = Some(volumes.clone());
        ctx.commands.push(RuntimeCommand::SetPodVolumes {
            pod_uid: self.uid.clone(),
            volumes,
        });
    }

    /// A ConfigMap or Secret the pod's volumes use changed: sends the new content when it
    /// differs from what the runtime has. When a source is gone or a key missing, the runtime
    /// keeps the old files and the kubelet records `FailedMount`, as a failed remount does
    /// (operation_generator.go `GenerateMountVolumeFunc` on a remount).
    fn refresh_volumes(&mut self, ctx: &mut StepContext<'_>) {
        self.volumes_stale = false;
        if self.volumes_sent.is_none() {
            return;
        }
        match super::volumes::volume_contents(&self.pod, ctx.store) {
            Ok(volumes) => {
                if self.volumes_sent.as_ref() != Some(&volumes) {
                    self.volumes_sent = Some(volumes.clone());
                    ctx.commands.push(RuntimeCommand::SetPodVolumes {
                        pod_uid: self.uid.clone(),
                        volumes,
                    });
                }
            }
            Err(errors) => {
                let key = self.key.clone();
                for (volume, message) in errors {
                    ctx.event(
                        &key,
                        EventType::Warning,
                        "FailedMount",
                        format!("MountVolume.SetUp failed for volume {volume:?} : {message}"),
                    );
                }
            }
        }
    }

    /// Sends `Kill` to containers whose grace period ran out.
    fn advance_kills(&mut self, ctx: &mut StepContext<'_>) {
        for c in &mut self.containers {
            if !c.running() {
                continue;
            }
            if let Some(k) = &mut c.kill {
                if !k.kill_sent && ctx.now >= k.deadline {
                    k.kill_sent = true;
                    ctx.commands.push(RuntimeCommand::SignalContainer {
                        pod_uid: self.uid.clone(),
                        container: c.name.clone(),
                        signal: StopSignal::Kill,
                    });
                }
            }
        }
    }

    /// Starts a kill of container `i` (kuberuntime_container.go `killContainer`).
    fn kill(
        &mut self,
        i: usize,
        signal: StopSignal,
        grace: Duration,
        message: String,
        ctx: &mut StepContext<'_>,
    ) {
        let c = &mut self.containers[i];
        c.kill = Some(Kill {
            deadline: ctx.now.saturating_add(grace),
            kill_sent: signal == StopSignal::Kill,
        });
        ctx.commands.push(RuntimeCommand::SignalContainer {
            pod_uid: self.uid.clone(),
            container: c.name.clone(),
            signal,
        });
        let key = self.key.clone();
        ctx.event(&key, EventType::Normal, "Killing", message);
    }

    /// Tears the pod down: kill what runs, then remove the sandbox.
    fn terminate(&mut self, ctx: &mut StepContext<'_>) {
        let signal = if self.orphaned {
            StopSignal::Kill
        } else {
            StopSignal::Term
        };
        let grace = self.pod_grace();
        for i in 0..self.containers.len() {
            let c = &self.containers[i];
            if c.running() && c.kill.is_none() {
                let message = format!("Stopping container {}", c.name);
                self.kill(i, signal, grace, message, ctx);
            }
            let c = &mut self.containers[i];
            c.wait_until = None;
        }
        if self.any_busy() {
            return;
        }
        match self.sandbox {
            Sandbox::Creating | Sandbox::Removing => return,
            Sandbox::Ready { .. } => {
                ctx.commands.push(RuntimeCommand::RemovePodSandbox {
                    pod_uid: self.uid.clone(),
                });
                self.sandbox = Sandbox::Removing;
                return;
            }
            Sandbox::None | Sandbox::Failed { .. } => self.sandbox = Sandbox::Removed,
            Sandbox::Removed => {}
        }
        if self.pod.metadata.deletion_timestamp.is_some() && !self.orphaned {
            self.ready_to_delete = true;
        }
        self.finished = true;
    }

    /// Restarts exited container `i` once its crash back-off allows
    /// (kuberuntime_manager.go `doBackOff`).
    fn restart(&mut self, i: usize, ctx: &mut StepContext<'_>) {
        let pod_name = format_pod(&self.pod);
        let c = &mut self.containers[i];
        let Some(Instance::Exited(t)) = &c.instance else {
            return;
        };
        let finished = t.finished_at.unwrap_or(ctx.now);
        if c.backoff_passed != Some(finished) {
            let key = format!("{}_{}", self.uid, c.name);
            if let Some(end) = ctx.crash_backoff.in_back_off_since(&key, finished, ctx.now) {
                c.reason = Some((
                    "CrashLoopBackOff".into(),
                    format!(
                        "back-off {} restarting failed container={} pod={pod_name}",
                        go_duration(ctx.crash_backoff.get(&key)),
                        c.name
                    ),
                ));
                c.wait_until = Some(end);
                if c.reported_wait != Some(end) {
                    c.reported_wait = Some(end);
                    let message = format!(
                        "Back-off restarting failed container {} in pod {pod_name}",
                        c.name
                    );
                    let key = self.key.clone();
                    ctx.event(&key, EventType::Warning, "BackOff", message);
                }
                return;
            }
            ctx.crash_backoff.next(&key, finished, ctx.now);
            c.backoff_passed = Some(finished);
            c.wait_until = None;
        }
        self.start(i, ctx);
    }

    /// Ensures container `i`'s image, then starts it.
    fn start(&mut self, i: usize, ctx: &mut StepContext<'_>) {
        if let Some(t) = self.containers[i].create_retry_at {
            if ctx.now < t {
                return;
            }
            self.containers[i].create_retry_at = None;
        }
        if !self.containers[i].image_ready && !self.ensure_image(i, ctx) {
            return;
        }
        // kuberuntime_container.go `startContainer` → `generateContainerConfig`: the
        // environment is made after the image is there; a missing ConfigMap, Secret or key
        // leaves the container waiting with CreateContainerConfigError, retried after the pod
        // worker's back-off (pod_workers.go `workerBackOffPeriod`, 10 s).
        let pod_ip = match &self.sandbox {
            Sandbox::Ready { ip } => ip.clone(),
            _ => String::new(),
        };
        let env = match crate::service_env::container_env(
            ctx.store,
            &self.pod,
            &self.containers[i].name,
            &pod_ip,
        ) {
            Ok(env) => env,
            Err(e) => {
                let key = self.key.clone();
                let c = &mut self.containers[i];
                c.reason = Some((
                    crate::service_env::CREATE_CONTAINER_CONFIG_ERROR.into(),
                    e.0.clone(),
                ));
                c.wait_until = Some(ctx.now.saturating_add(WORKER_BACK_OFF));
                ctx.event(&key, EventType::Warning, "Failed", format!("Error: {e}"));
                return;
            }
        };
        let c = &mut self.containers[i];
        c.image_ready = false;
        c.wait_until = None;
        c.before_start = Some((c.instance.clone(), c.previous.clone(), c.attempt));
        if let Some(previous) = c.instance.take() {
            if let Instance::Exited(t) = previous {
                c.previous = Some(t);
            }
            c.attempt += 1;
        }
        c.instance = Some(Instance::Starting);
        ctx.commands.push(RuntimeCommand::StartContainer {
            pod: self.pod.clone(),
            container: c.name.clone(),
            init: c.init,
            attempt: c.attempt,
            env,
        });
    }

    /// images/image_manager.go `EnsureImageExists`: whether container `i`'s image is there to
    /// start it now; otherwise a pull is asked for or a back-off waited out.
    fn ensure_image(&mut self, i: usize, ctx: &mut StepContext<'_>) -> bool {
        let key = self.key.clone();
        let uid = self.uid.clone();
        let c = &mut self.containers[i];
        if c.pulling.is_some() {
            return false;
        }
        let present = ctx.images.present(&c.image);
        let need_pull = match c.pull_policy {
            PullPolicy::Never => {
                if !present {
                    let message = format!(
                        "Container image {:?} is not present with pull policy of Never",
                        c.image
                    );
                    if c.reason.as_ref().map(|r| r.0.as_str()) != Some("ErrImageNeverPull") {
                        ctx.event(
                            &key,
                            EventType::Warning,
                            "ErrImageNeverPull",
                            message.clone(),
                        );
                        ctx.event(
                            &key,
                            EventType::Warning,
                            "Failed",
                            "Error: ErrImageNeverPull".into(),
                        );
                    }
                    c.reason = Some(("ErrImageNeverPull".into(), message));
                    return false;
                }
                false
            }
            PullPolicy::IfNotPresent => !present,
            PullPolicy::Always => true,
        };
        if !need_pull {
            ctx.event(
                &key,
                EventType::Normal,
                "Pulled",
                format!("Container image {:?} already present on machine", c.image),
            );
            c.image_id.clone_from(&c.image);
            return true;
        }
        // A failed pull shows ErrImagePull until the next relist (pleg `relistPeriod`, 1 s)
        // brings a sync that finds the back-off.
        if let Some(failed) = c.pull_failed_at {
            let relist = failed.saturating_add(PLEG_RELIST_PERIOD);
            if ctx.now < relist {
                c.wait_until = Some(relist);
                return false;
            }
        }
        let backoff_key = format!("{uid}_{}", c.image);
        if let Some(end) = ctx
            .images
            .backoff
            .in_back_off_since_update(&backoff_key, ctx.now)
        {
            let message = format!("Back-off pulling image {:?}", c.image);
            c.wait_until = Some(end);
            if c.reported_wait != Some(end) {
                c.reported_wait = Some(end);
                ctx.event(&key, EventType::Normal, "BackOff", message.clone());
                ctx.event(
                    &key,
                    EventType::Warning,
                    "Failed",
                    "Error: ImagePullBackOff".into(),
                );
            }
            c.reason = Some(("ImagePullBackOff".into(), message));
            return false;
        }
        c.wait_until = None;
        ctx.images.request(&c.image);
        c.pulling = Some(PullWait {
            image: c.image.clone(),
            requested_at: ctx.now,
        });
        ctx.event(
            &key,
            EventType::Normal,
            "Pulling",
            format!("Pulling image {:?}", c.image),
        );
        false
    }

    /// Sends the probes of running container `i` that are due, and any kill a probe asked for.
    fn probe(&mut self, i: usize, ctx: &mut StepContext<'_>) {
        if let Some((grace, message)) = self.containers[i].kill_request.take() {
            if self.containers[i].running() && self.containers[i].kill.is_none() {
                self.kill(i, StopSignal::Term, grace, message, ctx);
            }
            return;
        }
        let pod_ip = match &self.sandbox {
            Sandbox::Ready { ip } => ip.clone(),
            _ => String::new(),
        };
        let c = &mut self.containers[i];
        if !c.running() || c.kill.is_some() {
            return;
        }
        for p in 0..c.probes.len() {
            if !probe_eligible(c, &c.probes[p]) || c.probes[p].next_due > ctx.now {
                continue;
            }
            let state = &mut c.probes[p];
            state.outstanding = true;
            let period = Duration::from_secs(state.probe.period_seconds.max(1) as u64);
            state.next_due = ctx.now.saturating_add(period);
            ctx.commands.push(RuntimeCommand::RunProbe {
                pod_uid: self.uid.clone(),
                container: c.name.clone(),
                kind: state.kind,
                probe: Box::new(state.probe.clone()),
                pod_ip: pod_ip.clone(),
            });
        }
    }

    /// A container started (or failed to).
    pub fn on_started(
        &mut self,
        name: &str,
        result: Result<String, String>,
        now: Time,
        events: &mut Vec<PendingEvent>,
    ) {
        let key = self.key.clone();
        let Some(spec) = self.spec_of(name).cloned() else {
            return;
        };
        let Some(c) = self.container_mut(name) else {
            return;
        };
        if c.instance != Some(Instance::Starting) {
            return;
        }
        let mut push = |t: EventType, reason: &'static str, message: String| {
            events.push(PendingEvent {
                time: now,
                object: key.clone(),
                event_type: t,
                reason: reason.to_string(),
                message,
            })
        };
        push(
            EventType::Normal,
            "Created",
            format!("Created container: {name}"),
        );
        match result {
            Ok(id) => {
                push(
                    EventType::Normal,
                    "Started",
                    format!("Started container {name}"),
                );
                c.instance = Some(Instance::Running {
                    id,
                    started_at: now,
                });
                c.reason = None;
                c.image_id.clone_from(&c.image);
                c.started = spec.startup_probe.is_none();
                c.ready = c.started && spec.readiness_probe.is_none();
                c.probes = [
                    (ProbeKind::Startup, &spec.startup_probe),
                    (ProbeKind::Liveness, &spec.liveness_probe),
                    (ProbeKind::Readiness, &spec.readiness_probe),
                ]
                .into_iter()
                .filter_map(|(kind, p)| {
                    p.as_ref().map(|probe| ProbeState {
                        kind,
                        next_due: now.saturating_add(Duration::from_secs(
                            probe.initial_delay_seconds.max(0) as u64,
                        )),
                        probe: (**probe).clone(),
                        outstanding: false,
                        last: None,
                        run: 0,
                        on_hold: false,
                    })
                })
                .collect();
            }
            Err(message) => {
                push(EventType::Warning, "Failed", format!("Error: {message}"));
                c.instance = Some(Instance::Exited(ContainerStateTerminated {
                    exit_code: 128,
                    reason: "StartError".into(),
                    message: message.clone(),
                    started_at: None,
                    finished_at: Some(now),
                    ..Default::default()
                }));
                c.reason = Some(("RunContainerError".into(), message));
            }
        }
    }

    /// The runtime could not create a container (its mounts could not be made): it goes back
    /// to what it was before the start, waiting with `reason`, and is tried again after the
    /// pod worker's back-off (kuberuntime_container.go `startContainer`).
    pub fn on_create_failed(
        &mut self,
        name: &str,
        reason: &str,
        message: &str,
        now: Time,
        events: &mut Vec<PendingEvent>,
    ) {
        let key = self.key.clone();
        let Some(c) = self.container_mut(name) else {
            return;
        };
        if c.instance != Some(Instance::Starting) {
            return;
        }
        let (instance, previous, attempt) = c.before_start.take().unwrap_or((None, None, 0));
        c.instance = instance;
        c.previous = previous;
        c.attempt = attempt;
        let retry = now.saturating_add(WORKER_BACK_OFF);
        c.create_retry_at = Some(retry);
        c.wait_until = Some(retry);
        c.reason = Some((reason.to_string(), message.to_string()));
        events.push(PendingEvent {
            time: now,
            object: key,
            event_type: EventType::Warning,
            reason: "Failed".into(),
            message: format!("Error: {message}"),
        });
    }

    /// A container exited.
    pub fn on_exited(&mut self, name: &str, exit_code: i32, oom_killed: bool, now: Time) {
        let Some(c) = self.container_mut(name) else {
            return;
        };
        let (id, started_at) = match &c.instance {
            Some(Instance::Running { id, started_at }) => (id.clone(), Some(*started_at)),
            Some(Instance::Starting) => (String::new(), None),
            _ => return,
        };
        // Terminated reasons as the runtimes report them (containerd: Completed, Error,
        // OOMKilled).
        let reason = if oom_killed {
            "OOMKilled"
        } else if exit_code == 0 {
            "Completed"
        } else {
            "Error"
        };
        c.instance = Some(Instance::Exited(ContainerStateTerminated {
            exit_code,
            reason: reason.into(),
            started_at,
            finished_at: Some(now),
            container_id: id,
            ..Default::default()
        }));
        c.kill = None;
        c.kill_request = None;
        c.started = false;
        c.ready = false;
        c.probes.clear();
    }

    /// A probe answered (prober/worker.go `doProbe`: consecutive results against the
    /// thresholds; a liveness or startup failure kills the container and holds the probe).
    pub fn on_probe(
        &mut self,
        name: &str,
        kind: ProbeKind,
        success: bool,
        message: &str,
        now: Time,
        events: &mut Vec<PendingEvent>,
    ) {
        let key = self.key.clone();
        let pod_grace = self.pod.spec.termination_grace_period_seconds;
        let will_restart = self.restart_policy() != RestartPolicy::Never;
        let Some(c) = self.container_mut(name) else {
            return;
        };
        if !c.running() {
            return;
        }
        let Some(p) = c.probes.iter_mut().find(|p| p.kind == kind) else {
            return;
        };
        if !p.outstanding {
            return;
        }
        p.outstanding = false;
        if !success {
            // prober.go runProbeWithRetries: every failure is an Unhealthy event.
            events.push(PendingEvent {
                time: now,
                object: key.clone(),
                event_type: EventType::Warning,
                reason: "Unhealthy".into(),
                message: format!("{} probe failed: {message}", kind.as_str()),
            });
        }
        if p.last == Some(success) {
            p.run += 1;
        } else {
            p.last = Some(success);
            p.run = 1;
        }
        let threshold = if success {
            p.probe.success_threshold.max(1)
        } else {
            p.probe.failure_threshold.max(1)
        };
        if p.run < threshold {
            return;
        }
        let probe_grace = p.probe.termination_grace_period_seconds;
        match (kind, success) {
            (ProbeKind::Startup, true) => {
                p.on_hold = true;
                c.started = true;
                for other in &mut c.probes {
                    if other.kind != ProbeKind::Startup {
                        other.next_due = other.next_due.max(now);
                    }
                }
                c.ready = !c.probes.iter().any(|p| p.kind == ProbeKind::Readiness);
            }
            (ProbeKind::Readiness, ready) => c.ready = ready,
            (ProbeKind::Liveness, true) => {}
            (ProbeKind::Startup | ProbeKind::Liveness, false) => {
                p.on_hold = true;
                p.run = 0;
                let grace = probe_grace
                    .or(pod_grace)
                    .map_or(DEFAULT_TERMINATION_GRACE, |s| {
                        Duration::from_secs(s.max(0) as u64)
                    })
                    .max(MINIMUM_GRACE);
                // kuberuntime_manager.go computePodActions: the kill's message.
                let what = if kind == ProbeKind::Startup {
                    "startup"
                } else {
                    "liveness"
                };
                let mut message = format!("Container {name} failed {what} probe");
                if will_restart {
                    message.push_str(", will be restarted");
                }
                c.kill_request = Some((grace, message));
            }
        }
    }
}

impl PodWorker {
    /// Takes a new version of the pod from the store. A container whose image changed (the only
    /// container field an update may change) gets the new image and, if it is running, is
    /// stopped with the pod's grace period so that it starts again from the new image
    /// (kuberuntime_manager.go computePodActions: "Container web definition changed, will be
    /// restarted"). Flotilla restarts it as its restartPolicy says; Kubernetes restarts a
    /// changed container whatever the policy.
    pub fn update_pod(&mut self, pod: Arc<Pod>) {
        let grace = pod
            .spec
            .termination_grace_period_seconds
            .map_or(DEFAULT_TERMINATION_GRACE, |s| {
                Duration::from_secs(s.max(0) as u64)
            })
            .max(MINIMUM_GRACE);
        let specs = pod
            .spec
            .init_containers
            .iter()
            .map(|c| (c, true))
            .chain(pod.spec.containers.iter().map(|c| (c, false)));
        for (spec, init) in specs {
            let Some(c) = self
                .containers
                .iter_mut()
                .find(|c| c.name == spec.name && c.init == init)
            else {
                continue;
            };
            if c.image == spec.image {
                continue;
            }
            c.image.clone_from(&spec.image);
            c.pull_policy = effective_pull_policy(&spec.image, spec.image_pull_policy);
            c.image_ready = false;
            c.image_id.clear();
            if c.busy() && !init {
                c.kill_request = Some((
                    grace,
                    format!("Container {} definition changed, will be restarted", c.name),
                ));
            }
        }
        self.pod = pod;
    }
}

/// Whether a probe runs now: the startup probe until the container has started, the others
/// after; not while outstanding or held.
fn probe_eligible(c: &ContainerRecord, p: &ProbeState) -> bool {
    if p.outstanding || p.on_hold {
        return false;
    }
    match p.kind {
        ProbeKind::Startup => !c.started,
        ProbeKind::Liveness | ProbeKind::Readiness => c.started,
    }
}
