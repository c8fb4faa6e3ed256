//! The pod status the kubelet writes (kubelet_pods.go `generateAPIPodStatus`,
//! `convertToAPIContainerStatuses` and `getPhase`; status/generate.go for the conditions;
//! status/status_manager.go for transition times and terminal phases that never go back).

use flotilla_model::api::{
    ConditionStatus, ContainerState, ContainerStateRunning, ContainerStateTerminated,
    ContainerStateWaiting, ContainerStatus, HostIp, Node, NodeAddressType, Pod, PodCondition,
    PodIp, PodPhase, PodStatus, RestartPolicy,
};
use flotilla_model::Time;

use super::pod_worker::{should_restart, Admission, ContainerRecord, Instance, PodWorker, Sandbox};

/// The kubelet's conditions, in the order generateAPIPodStatus adds them.
const KUBELET_CONDITIONS: [&str; 4] = [
    PodCondition::POD_READY_TO_START_CONTAINERS,
    PodCondition::INITIALIZED,
    PodCondition::READY,
    PodCondition::CONTAINERS_READY,
];

/// The status the kubelet wants stored for `w`'s pod, given the stored one.
pub(crate) fn pod_status(w: &PodWorker, stored: &Pod, node: Option<&Node>, now: Time) -> PodStatus {
    if let Admission::Rejected(r) = &w.admission {
        // kubelet.go rejectPod.
        let mut status = stored.status.clone();
        if status.qos_class.is_none() {
            status.qos_class = Some(stored.qos_class());
        }
        status.phase = Some(PodPhase::Failed);
        status.reason.clone_from(&r.reason);
        status.message = format!("Pod was rejected: {}", r.message);
        return status;
    }
    let mut status = without_lists(&stored.status);
    if status.qos_class.is_none() {
        status.qos_class = Some(stored.qos_class());
    }
    if let Some(node) = node {
        let ip = node
            .status
            .addresses
            .iter()
            .find(|a| a.r#type == NodeAddressType::InternalIp)
            .or_else(|| node.status.addresses.first())
            .map(|a| a.address.clone())
            .unwrap_or_default();
        if !ip.is_empty() {
            status.host_ip.clone_from(&ip);
            status.host_ips = vec![HostIp { ip }];
        }
    }
    if status.start_time.is_none() {
        status.start_time = w.start_time;
    }
    if let Sandbox::Ready { ip } = &w.sandbox {
        if !ip.is_empty() {
            status.pod_ip.clone_from(ip);
            status.pod_ips = vec![PodIp { ip: ip.clone() }];
        }
    }
    let has_init = w.containers.iter().any(|c| c.init);
    let policy = w.restart_policy();
    let statuses = |init: bool| -> Vec<ContainerStatus> {
        w.containers
            .iter()
            .filter(|c| c.init == init)
            .map(|c| container_status(w, c, has_init, policy))
            .collect()
    };
    status.init_container_statuses = statuses(true);
    status.container_statuses = statuses(false);

    let pod_is_terminal = w.terminating() && !w.any_busy();
    let mut phase = get_phase(w, &status, pod_is_terminal);
    if w.deadline_exceeded {
        // active_deadline.go: Failed with DeadlineExceeded as soon as the deadline passes.
        phase = PodPhase::Failed;
        status.reason = "DeadlineExceeded".into();
        status.message = "Pod was active on the node longer than the specified deadline".into();
    }
    // status_manager.go: a terminal phase is never left.
    if let Some(old) = stored.status.phase {
        if old.is_terminal() {
            phase = old;
        }
    }
    status.phase = Some(phase);

    let conditions = kubelet_conditions(w, &status, phase);
    let mut merged: Vec<PodCondition> = Vec::new();
    for mut c in conditions {
        // status_manager.go updateLastTransitionTime: only a flip moves the time.
        let old = stored.condition(&c.r#type);
        c.last_transition_time = match old {
            Some(o) if o.status == c.status => o.last_transition_time,
            _ => Some(now),
        };
        merged.push(c);
    }
    for c in &stored.status.conditions {
        if !KUBELET_CONDITIONS.contains(&c.r#type.as_str()) {
            merged.push(c.clone());
        }
    }
    status.conditions = merged;
    status
}

/// A fingerprint of everything [`pod_status`] reads of the worker (directly and through
/// `terminating`, `any_busy`, `restart_policy`, `container_status`, `get_phase` and
/// `kubelet_conditions`). With the same stored pod and node, an equal fingerprint means the
/// same status (the time passed in moves only a condition that flips). A field that
/// `pod_status` starts to read must be added here; debug builds check every skipped status
/// (see `Kubelet::write_statuses`).
pub(crate) fn status_inputs(w: &PodWorker) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut h = flotilla_model::hash::FxHasher::default();
    (
        &w.admission,
        w.start_time,
        &w.sandbox,
        (w.initialized, w.orphaned, w.deadline_exceeded, w.completed),
        w.pod.metadata.deletion_timestamp,
        w.pod.spec.restart_policy,
        w.containers.len(),
    )
        .hash(&mut h);
    for c in &w.containers {
        (&c.name, &c.image, &c.image_id, c.init, c.sidecar, c.attempt).hash(&mut h);
        (&c.instance, &c.previous, &c.reason, c.ready, c.started).hash(&mut h);
    }
    h.finish()
}

/// A copy of `s` without its container statuses and conditions, which [`pod_status`] builds
/// anew (the copy would be thrown away). Every field is listed, so that a new one is not
/// forgotten.
fn without_lists(s: &PodStatus) -> PodStatus {
    PodStatus {
        observed_generation: s.observed_generation,
        phase: s.phase,
        conditions: Vec::new(),
        message: s.message.clone(),
        reason: s.reason.clone(),
        nominated_node_name: s.nominated_node_name.clone(),
        host_ip: s.host_ip.clone(),
        host_ips: s.host_ips.clone(),
        pod_ip: s.pod_ip.clone(),
        pod_ips: s.pod_ips.clone(),
        start_time: s.start_time,
        init_container_statuses: Vec::new(),
        container_statuses: Vec::new(),
        qos_class: s.qos_class,
    }
}

/// One container's status (kubelet_pods.go `convertToAPIContainerStatuses`).
fn container_status(
    w: &PodWorker,
    c: &ContainerRecord,
    has_init: bool,
    policy: RestartPolicy,
) -> ContainerStatus {
    let default_reason = if has_init {
        "PodInitializing"
    } else {
        "ContainerCreating"
    };
    let waiting = |c: &ContainerRecord| {
        let (reason, message) = c
            .reason
            .clone()
            .unwrap_or_else(|| (default_reason.to_string(), String::new()));
        ContainerState {
            waiting: Some(ContainerStateWaiting { reason, message }),
            ..Default::default()
        }
    };
    let terminated = |t: ContainerStateTerminated| ContainerState {
        terminated: Some(t),
        ..Default::default()
    };
    let mut out = ContainerStatus {
        name: c.name.clone(),
        image: c.image.clone(),
        image_id: c.image_id.clone(),
        restart_count: c.attempt,
        ..Default::default()
    };
    let last = c.previous.clone().map(terminated).unwrap_or_default();
    match &c.instance {
        None | Some(Instance::Starting) => {
            out.state = waiting(c);
            out.last_state = last;
            out.started = Some(false);
        }
        Some(Instance::Running { id, started_at }) => {
            out.state = ContainerState {
                running: Some(ContainerStateRunning {
                    started_at: Some(*started_at),
                }),
                ..Default::default()
            };
            out.last_state = last;
            out.container_id.clone_from(id);
            out.ready = c.ready;
            out.started = Some(c.started);
        }
        Some(Instance::Exited(t)) => {
            out.container_id.clone_from(&t.container_id);
            out.started = Some(false);
            let will_restart = !w.terminating()
                && (c.sidecar
                    || (c.init && t.exit_code != 0 && policy != RestartPolicy::Never)
                    || (!c.init && should_restart(policy, t.exit_code)));
            if will_restart && c.reason.is_some() {
                out.state = waiting(c);
                out.last_state = terminated(t.clone());
            } else {
                out.state = terminated(t.clone());
                out.last_state = last;
            }
        }
    }
    out
}

/// kubelet_pods.go `getPhase`, over the container statuses just computed.
fn get_phase(w: &PodWorker, status: &PodStatus, pod_is_terminal: bool) -> PodPhase {
    let policy = w.restart_policy();
    let mut pending_regular_init = 0;
    let mut pending_sidecars = 0;
    let mut failed_init = 0;
    let (mut unknown, mut running, mut waiting, mut stopped, mut succeeded) = (0, 0, 0, 0, 0);
    let last_failed =
        |s: &ContainerStatus| s.last_state.terminated.as_ref().map(|t| t.exit_code != 0);
    for (c, s) in w
        .containers
        .iter()
        .filter(|c| c.init)
        .zip(&status.init_container_statuses)
    {
        if c.sidecar {
            if s.state.running.is_some() {
                if s.started != Some(true) {
                    pending_sidecars += 1;
                }
                running += 1;
            } else if s.state.terminated.is_some() {
                // Stopped sidecars do not count for the phase.
            } else if s.last_state.terminated.is_none() {
                pending_sidecars += 1;
                waiting += 1;
            }
            continue;
        }
        if s.state.running.is_some() {
            pending_regular_init += 1;
        } else if let Some(t) = &s.state.terminated {
            if t.exit_code != 0 {
                failed_init += 1;
            }
        } else {
            match last_failed(s) {
                Some(true) => failed_init += 1,
                Some(false) => {}
                None => pending_regular_init += 1,
            }
        }
    }
    for s in &status.container_statuses {
        if s.state.running.is_some() {
            running += 1;
        } else if let Some(t) = &s.state.terminated {
            stopped += 1;
            if t.exit_code == 0 {
                succeeded += 1;
            }
        } else if s.state.waiting.is_some() {
            if s.last_state.terminated.is_some() {
                stopped += 1;
            } else {
                waiting += 1;
            }
        } else {
            unknown += 1;
        }
    }
    if failed_init > 0 && policy == RestartPolicy::Never {
        return PodPhase::Failed;
    }
    if pending_regular_init > 0 || (pending_sidecars > 0 && !w.initialized) {
        return PodPhase::Pending;
    }
    if waiting > 0 {
        return PodPhase::Pending;
    }
    if running > 0 && unknown == 0 {
        return PodPhase::Running;
    }
    if running == 0 && stopped > 0 && unknown == 0 {
        if pod_is_terminal {
            return if stopped == succeeded {
                PodPhase::Succeeded
            } else {
                PodPhase::Failed
            };
        }
        if policy == RestartPolicy::Always {
            return PodPhase::Running;
        }
        if stopped == succeeded {
            return PodPhase::Succeeded;
        }
        if policy == RestartPolicy::Never {
            return PodPhase::Failed;
        }
        return PodPhase::Running;
    }
    PodPhase::Pending
}

fn condition(kind: &str, status: bool, reason: &str, message: String) -> PodCondition {
    PodCondition {
        r#type: kind.to_string(),
        status: if status {
            ConditionStatus::True
        } else {
            ConditionStatus::False
        },
        reason: if status {
            String::new()
        } else {
            reason.to_string()
        },
        message: if status { String::new() } else { message },
        ..Default::default()
    }
}

/// status/generate.go: PodReadyToStartContainers, Initialized, Ready, ContainersReady.
fn kubelet_conditions(w: &PodWorker, status: &PodStatus, phase: PodPhase) -> Vec<PodCondition> {
    let sandbox_ready = matches!(w.sandbox, Sandbox::Ready { .. });
    let mut out = vec![condition(
        PodCondition::POD_READY_TO_START_CONTAINERS,
        sandbox_ready,
        "",
        String::new(),
    )];
    // GeneratePodInitializedCondition.
    let incomplete: Vec<&str> = w
        .containers
        .iter()
        .filter(|c| c.init)
        .zip(&status.init_container_statuses)
        .filter(|(c, s)| {
            if c.sidecar {
                !(s.state.running.is_some() && s.started == Some(true))
            } else {
                s.state.terminated.as_ref().is_none_or(|t| t.exit_code != 0)
            }
        })
        .map(|(c, _)| c.name.as_str())
        .collect();
    let initialized = w.initialized || incomplete.is_empty();
    out.push(condition(
        PodCondition::INITIALIZED,
        initialized,
        "ContainersNotInitialized",
        format!(
            "containers with incomplete status: [{}]",
            incomplete.join(" ")
        ),
    ));
    // GenerateContainersReadyCondition: app containers and sidecars.
    let (ready, reason, message) = match phase {
        PodPhase::Succeeded => (false, "PodCompleted", String::new()),
        PodPhase::Failed => (false, "PodFailed", String::new()),
        _ => {
            let unready: Vec<&str> = w
                .containers
                .iter()
                .zip(
                    status
                        .init_container_statuses
                        .iter()
                        .chain(&status.container_statuses),
                )
                .filter(|(c, s)| (!c.init || c.sidecar) && !s.ready)
                .map(|(c, _)| c.name.as_str())
                .collect();
            if unready.is_empty() {
                (true, "", String::new())
            } else {
                (
                    false,
                    "ContainersNotReady",
                    format!("containers with unready status: [{}]", unready.join(" ")),
                )
            }
        }
    };
    out.push(condition(
        PodCondition::READY,
        ready,
        reason,
        message.clone(),
    ));
    out.push(condition(
        PodCondition::CONTAINERS_READY,
        ready,
        reason,
        message,
    ));
    out
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use flotilla_model::api::{ContainerStateTerminated, RestartPolicy};
    use flotilla_model::Time;

    use super::super::pod_worker::{Instance, PodWorker, Sandbox};
    use super::super::testing::{container, pod};
    use super::status_inputs;

    fn worker() -> PodWorker {
        let p = pod(
            "web",
            vec![container("a", "nginx:1.27"), container("b", "redis:7")],
            RestartPolicy::Always,
        );
        PodWorker::new(Arc::new(p))
    }

    #[test]
    fn every_input_of_the_status_moves_the_fingerprint() {
        let base = status_inputs(&worker());
        assert_eq!(
            base,
            status_inputs(&worker()),
            "a fingerprint is a function"
        );
        type Change = Box<dyn Fn(&mut PodWorker)>;
        let changes: Vec<(&str, Change)> = vec![
            (
                "start time",
                Box::new(|w| w.start_time = Some(Time::from_secs(5))),
            ),
            (
                "sandbox ip",
                Box::new(|w| {
                    w.sandbox = Sandbox::Ready {
                        ip: "10.1.0.2".into(),
                    }
                }),
            ),
            ("initialized", Box::new(|w| w.initialized = !w.initialized)),
            ("orphaned", Box::new(|w| w.orphaned = true)),
            ("deadline", Box::new(|w| w.deadline_exceeded = true)),
            ("completed", Box::new(|w| w.completed = true)),
            (
                "deletion",
                Box::new(|w| {
                    let mut p = (*w.pod).clone();
                    p.metadata.deletion_timestamp = Some(Time::from_secs(9));
                    w.pod = Arc::new(p);
                }),
            ),
            ("ready", Box::new(|w| w.containers[1].ready = true)),
            ("started", Box::new(|w| w.containers[0].started = true)),
            ("attempt", Box::new(|w| w.containers[0].attempt = 1)),
            (
                "image id",
                Box::new(|w| w.containers[1].image_id = "x".into()),
            ),
            (
                "reason",
                Box::new(|w| w.containers[0].reason = Some(("ErrImagePull".into(), "".into()))),
            ),
            (
                "instance",
                Box::new(|w| {
                    w.containers[0].instance = Some(Instance::Running {
                        id: "c1".into(),
                        started_at: Time::from_secs(3),
                    })
                }),
            ),
            (
                "previous",
                Box::new(|w| {
                    w.containers[1].previous = Some(ContainerStateTerminated {
                        exit_code: 1,
                        ..Default::default()
                    })
                }),
            ),
        ];
        for (what, change) in changes {
            let mut w = worker();
            change(&mut w);
            assert_ne!(status_inputs(&w), base, "{what} is not in the fingerprint");
        }
    }
}
