//! The kubelet's behaviour, driven through the fake runtime of `testing`.

use flotilla_model::api::{
    ConditionStatus, HttpGetAction, PodCondition, PodPhase, Probe, PullPolicy, RestartPolicy,
};
use flotilla_model::store::DeleteOptions;
use flotilla_model::{Duration, IntOrString, Kind, Quantity, Time};

use super::testing::{container, pod, FakeRuntime, Sim};
use super::RuntimeEvent;

fn secs(s: u64) -> Duration {
    Duration::from_secs(s)
}

fn cond(p: &flotilla_model::api::Pod, kind: &str) -> ConditionStatus {
    p.condition(kind)
        .map_or(ConditionStatus::Unknown, |c| c.status)
}

/// A pod `name` with one container `name` running nginx, always restarted.
fn nginx_pod(name: &str) -> flotilla_model::api::Pod {
    pod(
        name,
        vec![container(name, "nginx:1.27")],
        RestartPolicy::Always,
    )
}

fn http_probe(period: i32, failure: i32) -> Probe {
    Probe {
        http_get: Some(HttpGetAction {
            path: "/healthz".into(),
            port: IntOrString::Int(8080),
            ..Default::default()
        }),
        period_seconds: period,
        failure_threshold: failure,
        ..Default::default()
    }
}

#[test]
fn a_pod_goes_from_container_creating_to_running_and_ready() {
    let mut sim = Sim::new(FakeRuntime::default());
    let uid = sim.add(pod(
        "web",
        vec![container("web", "nginx:1.27")],
        RestartPolicy::Always,
    ));
    sim.run_for(Duration::ZERO);
    let p = sim.pod("web").unwrap();
    assert_eq!(p.phase(), PodPhase::Pending);
    let waiting = p.status.container_statuses[0]
        .state
        .waiting
        .clone()
        .unwrap();
    assert_eq!(waiting.reason, "ContainerCreating");
    assert_eq!(p.status.start_time, Some(Time::from_secs(1000)));
    assert_eq!(p.status.host_ip, "10.0.0.1");
    assert_eq!(cond(&p, PodCondition::READY), ConditionStatus::False);

    sim.run_for(secs(10));
    assert_eq!(
        sim.command_names(),
        ["Sandbox", "Pull nginx:1.27", "Start web#0"]
    );
    let p = sim.pod("web").unwrap();
    assert_eq!(p.phase(), PodPhase::Running);
    assert_eq!(p.status.pod_ip, "10.244.0.5");
    for kind in [
        PodCondition::POD_READY_TO_START_CONTAINERS,
        PodCondition::INITIALIZED,
        PodCondition::CONTAINERS_READY,
        PodCondition::READY,
    ] {
        assert_eq!(cond(&p, kind), ConditionStatus::True, "{kind}");
    }
    let cs = &p.status.container_statuses[0];
    assert!(cs.ready && cs.started == Some(true) && cs.state.running.is_some());
    let reasons: Vec<_> = sim.events("web");
    assert_eq!(
        reasons,
        [
            ("Pulling".to_string(), "Pulling image \"nginx:1.27\"".to_string()),
            (
                "Pulled".into(),
                "Successfully pulled image \"nginx:1.27\" in 2s (2s including waiting). Image size: 1000 bytes.".into()
            ),
            ("Created".into(), "Created container: web".into()),
            ("Started".into(), "Started container web".into()),
        ]
    );
    // The node now lists the image, and a settled kubelet has nothing to do.
    let node = sim.store.get(Kind::Node, "", super::testing::NODE).unwrap();
    let flotilla_model::Object::Node(node) = &*node else {
        panic!()
    };
    assert_eq!(node.status.images[0].names, ["nginx:1.27"]);
    assert!(!sim.kubelet.has_work(sim.now));
    assert_eq!(sim.kubelet.next_wakeup(), None);
    assert!(!uid.is_empty());
}

#[test]
fn a_present_image_is_not_pulled_again_unless_the_policy_is_always() {
    let mut sim = Sim::new(FakeRuntime::default());
    sim.add(pod(
        "a",
        vec![container("web", "nginx:1.27")],
        RestartPolicy::Always,
    ));
    sim.run_for(secs(10));
    sim.add(pod(
        "b",
        vec![container("web", "nginx:1.27")],
        RestartPolicy::Always,
    ));
    sim.run_for(secs(10));
    assert_eq!(sim.times_of("Pull nginx:1.27").len(), 1);
    assert!(sim.events("b").contains(&(
        "Pulled".into(),
        "Container image \"nginx:1.27\" already present on machine".into()
    )));
    assert_eq!(sim.pod("b").unwrap().phase(), PodPhase::Running);

    let mut always = container("web", "nginx:1.27");
    always.image_pull_policy = Some(PullPolicy::Always);
    sim.add(pod("c", vec![always], RestartPolicy::Always));
    sim.run_for(secs(10));
    assert_eq!(sim.times_of("Pull nginx:1.27").len(), 2);
    assert_eq!(sim.pod("c").unwrap().phase(), PodPhase::Running);
}

#[test]
fn a_crashing_container_backs_off_10s_doubling_to_300s() {
    let mut rt = FakeRuntime::default();
    rt.exits.insert("app".into(), vec![(secs(1), 1)]);
    let mut sim = Sim::new(rt);
    let uid = sim.add(pod(
        "crash",
        vec![container("app", "busybox:1.36")],
        RestartPolicy::Always,
    ));
    // Until the third start: exit at +1.5 s, first restart at once, then 10 s of back-off.
    assert!(
        sim.run_until(secs(60), |s| s.times_of("Start app#2").len() == 1
            || s.pod("crash")
                .unwrap()
                .status
                .container_statuses
                .first()
                .is_some_and(|c| c
                    .state
                    .waiting
                    .as_ref()
                    .is_some_and(|w| w.reason == "CrashLoopBackOff")))
    );
    let p = sim.pod("crash").unwrap();
    let cs = &p.status.container_statuses[0];
    let waiting = cs.state.waiting.clone().unwrap();
    assert_eq!(waiting.reason, "CrashLoopBackOff");
    assert_eq!(
        waiting.message,
        format!("back-off 10s restarting failed container=app pod=crash_default({uid})")
    );
    assert_eq!(cs.restart_count, 1);
    let last = cs.last_state.terminated.clone().unwrap();
    assert_eq!((last.exit_code, last.reason.as_str()), (1, "Error"));
    assert_eq!(p.phase(), PodPhase::Running);
    let exited_at = last.finished_at.unwrap();
    assert_eq!(sim.kubelet.next_wakeup(), Some(exited_at + secs(10)));
    assert!(sim.events("crash").contains(&(
        "BackOff".into(),
        format!("Back-off restarting failed container app in pod crash_default({uid})")
    )));

    sim.run_for(secs(1500));
    let starts: Vec<Time> = (0..9)
        .map(|i| sim.times_of(&format!("Start app#{i}"))[0])
        .collect();
    let gaps: Vec<u64> = starts
        .windows(2)
        .map(|w| {
            w[1].saturating_duration_since(w[0] + Duration::from_millis(1500))
                .as_secs()
        })
        .collect();
    assert_eq!(gaps, [0, 10, 20, 40, 80, 160, 300, 300]);
    assert!(sim.pod("crash").unwrap().status.container_statuses[0].restart_count >= 8);
}

#[test]
fn the_crash_back_off_resets_after_ten_minutes_of_running() {
    let mut rt = FakeRuntime::default();
    let short = (secs(1), 1);
    rt.exits.insert(
        "app".into(),
        vec![short, short, short, (secs(660), 1), short, short],
    );
    let mut sim = Sim::new(rt);
    sim.add(pod(
        "crash",
        vec![container("app", "busybox:1.36")],
        RestartPolicy::Always,
    ));
    sim.run_for(secs(900));
    let starts: Vec<Time> = (0..6)
        .map(|i| sim.times_of(&format!("Start app#{i}"))[0])
        .collect();
    let runs = [1.5, 1.5, 1.5, 660.5, 1.5];
    let gaps: Vec<u64> = starts
        .windows(2)
        .zip(runs)
        .map(|(w, run)| {
            w[1].saturating_duration_since(w[0] + Duration::from_secs_f64(run))
                .as_secs()
        })
        .collect();
    // 0, 10, 20; then the long run resets it: at once, then 10 s again.
    assert_eq!(gaps, [0, 10, 20, 0, 10]);
}

#[test]
fn restart_policies_decide_the_final_phase() {
    for (policy, codes, phase, starts) in [
        (RestartPolicy::Never, vec![0], PodPhase::Succeeded, 1),
        (RestartPolicy::Never, vec![1], PodPhase::Failed, 1),
        (RestartPolicy::OnFailure, vec![1, 0], PodPhase::Succeeded, 2),
        (RestartPolicy::OnFailure, vec![0], PodPhase::Succeeded, 1),
    ] {
        let mut rt = FakeRuntime::default();
        rt.exits
            .insert("job".into(), codes.iter().map(|c| (secs(5), *c)).collect());
        let mut sim = Sim::new(rt);
        sim.add(pod("p", vec![container("job", "busybox:1.36")], policy));
        sim.run_for(secs(120));
        let p = sim.pod("p").unwrap();
        assert_eq!(p.phase(), phase, "{policy:?} {codes:?}");
        let starts_seen = sim
            .command_names()
            .iter()
            .filter(|n| n.starts_with("Start"))
            .count();
        assert_eq!(starts_seen, starts, "{policy:?} {codes:?}");
        let t = p.status.container_statuses[0]
            .state
            .terminated
            .clone()
            .unwrap();
        let expected = if phase == PodPhase::Succeeded {
            "Completed"
        } else {
            "Error"
        };
        assert_eq!(t.reason, expected);
        assert!(t.started_at.is_some() && t.finished_at.is_some() && !t.container_id.is_empty());
        // The sandbox goes; the pod's conditions say it completed.
        assert_eq!(sim.command_names().last().unwrap(), "RemoveSandbox");
        assert_eq!(cond(&p, PodCondition::READY), ConditionStatus::False);
        assert_eq!(
            cond(&p, PodCondition::POD_READY_TO_START_CONTAINERS),
            ConditionStatus::False
        );
        assert!(!sim.kubelet.has_work(sim.now));
    }
}

#[test]
fn init_containers_run_in_order_before_the_app_containers() {
    let mut rt = FakeRuntime::default();
    rt.exits.insert("init-a".into(), vec![(secs(3), 0)]);
    rt.exits.insert("init-b".into(), vec![(secs(3), 0)]);
    let mut sim = Sim::new(rt);
    let mut p = pod(
        "web",
        vec![container("web", "nginx:1.27")],
        RestartPolicy::Always,
    );
    p.spec.init_containers = vec![
        container("init-a", "busybox:1.36"),
        container("init-b", "busybox:1.36"),
    ]
    .into();
    sim.add(p);
    sim.run_until(secs(30), |s| !s.times_of("Start init-a#0").is_empty());
    let p = sim.pod("web").unwrap();
    assert_eq!(p.phase(), PodPhase::Pending);
    assert_eq!(cond(&p, PodCondition::INITIALIZED), ConditionStatus::False);
    assert_eq!(
        p.condition(PodCondition::INITIALIZED).unwrap().message,
        "containers with incomplete status: [init-a init-b]"
    );
    assert_eq!(
        p.status.container_statuses[0]
            .state
            .waiting
            .as_ref()
            .unwrap()
            .reason,
        "PodInitializing"
    );
    sim.run_for(secs(60));
    let starts: Vec<String> = sim
        .command_names()
        .into_iter()
        .filter(|n| n.starts_with("Start"))
        .collect();
    assert_eq!(starts, ["Start init-a#0", "Start init-b#0", "Start web#0"]);
    let a_done = sim.times_of("Start init-a#0")[0] + Duration::from_millis(3500);
    assert!(sim.times_of("Start init-b#0")[0] >= a_done);
    let p = sim.pod("web").unwrap();
    assert_eq!(p.phase(), PodPhase::Running);
    assert_eq!(cond(&p, PodCondition::INITIALIZED), ConditionStatus::True);
    assert_eq!(
        p.status.init_container_statuses[1]
            .state
            .terminated
            .as_ref()
            .unwrap()
            .reason,
        "Completed"
    );
}

#[test]
fn a_failed_init_container_fails_a_pod_that_never_restarts() {
    let mut rt = FakeRuntime::default();
    rt.exits.insert("init".into(), vec![(secs(1), 2)]);
    let mut sim = Sim::new(rt);
    let mut p = pod(
        "job",
        vec![container("main", "busybox:1.36")],
        RestartPolicy::Never,
    );
    p.spec.init_containers = vec![container("init", "busybox:1.36")].into();
    sim.add(p);
    sim.run_for(secs(60));
    assert_eq!(sim.pod("job").unwrap().phase(), PodPhase::Failed);
    assert!(sim.times_of("Start main#0").is_empty());
}

#[test]
fn a_failing_liveness_probe_restarts_the_container() {
    let mut rt = FakeRuntime::default();
    rt.probes.insert(
        ("web".into(), super::ProbeKind::Liveness),
        vec![true, false, false, false, true],
    );
    let mut sim = Sim::new(rt);
    let mut c = container("web", "nginx:1.27");
    c.liveness_probe = Some(Box::new(http_probe(10, 3)));
    sim.add(pod("web", vec![c], RestartPolicy::Always));
    sim.run_for(secs(80));
    let probes = sim.times_of("Probe web Liveness");
    assert!(probes.len() >= 4);
    assert_eq!(probes[1].saturating_duration_since(probes[0]), secs(10));
    let term = sim.times_of("Term web");
    assert_eq!(term.len(), 1);
    assert_eq!(term[0], probes[3]);
    assert_eq!(sim.times_of("Start web#1").len(), 1);
    let events = sim.events("web");
    let unhealthy = events
        .iter()
        .filter(|e| {
            e.0 == "Unhealthy"
                && e.1 == "Liveness probe failed: HTTP probe failed with statuscode: 500"
        })
        .count();
    assert_eq!(unhealthy, 3);
    assert!(events.contains(&(
        "Killing".into(),
        "Container web failed liveness probe, will be restarted".into()
    )));
    let p = sim.pod("web").unwrap();
    assert_eq!(p.status.container_statuses[0].restart_count, 1);
    assert_eq!(p.phase(), PodPhase::Running);
}

#[test]
fn a_readiness_probe_toggles_ready() {
    let mut rt = FakeRuntime::default();
    rt.probes.insert(
        ("web".into(), super::ProbeKind::Readiness),
        vec![false, true, false, true],
    );
    let mut sim = Sim::new(rt);
    let mut c = container("web", "nginx:1.27");
    c.readiness_probe = Some(Box::new(Probe {
        initial_delay_seconds: 5,
        ..http_probe(5, 1)
    }));
    sim.add(pod("web", vec![c], RestartPolicy::Always));
    let mut seen = Vec::new();
    for _ in 0..5 {
        sim.run_for(secs(5));
        let p = sim.pod("web").unwrap();
        seen.push(p.is_ready());
    }
    // Started at ~1002.5 s; probes at +5, +10, +15, +20.
    assert_eq!(seen, [false, false, true, false, true]);
    let p = sim.pod("web").unwrap();
    assert_eq!(p.phase(), PodPhase::Running);
    let probes = sim.times_of("Probe web Readiness");
    assert_eq!(
        probes[0].saturating_duration_since(sim.times_of("Start web#0")[0]),
        Duration::from_millis(5500)
    );
}

#[test]
fn a_startup_probe_holds_back_liveness_and_readiness() {
    let mut rt = FakeRuntime::default();
    rt.probes.insert(
        ("web".into(), super::ProbeKind::Startup),
        vec![false, false, true],
    );
    let mut sim = Sim::new(rt);
    let mut c = container("web", "nginx:1.27");
    c.startup_probe = Some(Box::new(http_probe(5, 10)));
    c.liveness_probe = Some(Box::new(http_probe(10, 3)));
    sim.add(pod("web", vec![c], RestartPolicy::Always));
    sim.run_for(secs(8));
    let p = sim.pod("web").unwrap();
    assert_eq!(p.status.container_statuses[0].started, Some(false));
    assert!(!p.is_ready());
    sim.run_for(secs(30));
    let startup = sim.times_of("Probe web Startup");
    let liveness = sim.times_of("Probe web Liveness");
    assert_eq!(startup.len(), 3);
    assert!(!liveness.is_empty());
    assert!(liveness[0] >= startup[2]);
    let p = sim.pod("web").unwrap();
    assert_eq!(p.status.container_statuses[0].started, Some(true));
    assert!(p.is_ready());
    assert!(sim.times_of("Term web").is_empty());
}

#[test]
fn deletion_sends_term_then_kill_after_the_grace_period_then_removes_the_pod() {
    let mut rt = FakeRuntime::default();
    rt.term_exit.insert("web".into(), None);
    let mut sim = Sim::new(rt);
    let mut p = pod(
        "web",
        vec![container("web", "nginx:1.27")],
        RestartPolicy::Always,
    );
    p.spec.termination_grace_period_seconds = Some(20);
    sim.add(p);
    sim.run_for(secs(10));
    let deleted_at = sim.now;
    sim.store
        .delete(
            Kind::Pod,
            "default",
            "web",
            &DeleteOptions::default(),
            sim.now,
        )
        .unwrap();
    sim.run_for(secs(10));
    assert_eq!(sim.times_of("Term web"), [deleted_at]);
    assert!(sim.times_of("Kill web").is_empty());
    assert!(sim.pod("web").is_some());
    sim.run_for(secs(30));
    assert_eq!(sim.times_of("Kill web"), [deleted_at + secs(20)]);
    let names = sim.command_names();
    assert_eq!(
        &names[names.len() - 3..],
        ["Term web", "Kill web", "RemoveSandbox"]
    );
    assert!(sim.pod("web").is_none());
    assert_eq!(sim.kubelet.pod_count(), 0);
    assert!(sim
        .events("web")
        .contains(&("Killing".into(), "Stopping container web".into())));
}

#[test]
fn a_pod_that_stops_on_term_is_not_killed() {
    let mut sim = Sim::new(FakeRuntime::default());
    sim.add(pod(
        "web",
        vec![container("web", "nginx:1.27")],
        RestartPolicy::Always,
    ));
    sim.run_for(secs(10));
    sim.store
        .delete(
            Kind::Pod,
            "default",
            "web",
            &DeleteOptions::default(),
            sim.now,
        )
        .unwrap();
    sim.run_for(secs(5));
    assert!(sim.times_of("Kill web").is_empty());
    assert!(sim.pod("web").is_none());
}

#[test]
fn an_abrupt_deletion_kills_everything_and_forgets_the_pod() {
    let mut sim = Sim::new(FakeRuntime::default());
    sim.add(pod(
        "web",
        vec![container("web", "nginx:1.27")],
        RestartPolicy::Always,
    ));
    sim.run_for(secs(10));
    let options = DeleteOptions {
        grace_period_seconds: Some(0),
        ..Default::default()
    };
    sim.store
        .delete(Kind::Pod, "default", "web", &options, sim.now)
        .unwrap();
    sim.run_for(secs(5));
    let names = sim.command_names();
    assert_eq!(&names[names.len() - 2..], ["Kill web", "RemoveSandbox"]);
    assert_eq!(sim.kubelet.pod_count(), 0);
}

#[test]
fn admission_rejects_a_pod_that_does_not_fit_with_out_of_cpu() {
    let mut sim = Sim::new(FakeRuntime::default());
    let with_cpu = |name: &str, cpu: &str| {
        let mut c = container("web", "nginx:1.27");
        c.resources
            .requests
            .insert("cpu".into(), Quantity::parse(cpu).unwrap());
        pod(name, vec![c], RestartPolicy::Always)
    };
    sim.add(with_cpu("a", "3"));
    sim.add(with_cpu("b", "2"));
    sim.run_for(secs(10));
    assert_eq!(sim.pod("a").unwrap().phase(), PodPhase::Running);
    let b = sim.pod("b").unwrap();
    assert_eq!(b.phase(), PodPhase::Failed);
    assert_eq!(b.status.reason, "OutOfcpu");
    assert_eq!(
        b.status.message,
        "Pod was rejected: Node didn't have enough resource: cpu, requested: 2000, used: 3000, capacity: 4000"
    );
    assert_eq!(
        sim.events("b"),
        [(
            "OutOfcpu".to_string(),
            "Node didn't have enough resource: cpu, requested: 2000, used: 3000, capacity: 4000"
                .to_string()
        )]
    );
    assert_eq!(
        sim.command_names()
            .iter()
            .filter(|n| n.as_str() == "Sandbox")
            .count(),
        1
    );
}

#[test]
fn a_failing_pull_goes_from_err_image_pull_to_image_pull_back_off() {
    let mut rt = FakeRuntime::default();
    rt.pull_failures.insert("bad:1".into(), u32::MAX);
    let mut sim = Sim::new(rt);
    sim.add(pod(
        "web",
        vec![container("web", "bad:1")],
        RestartPolicy::Always,
    ));
    sim.run_until(secs(30), |s| {
        !s.events("web").iter().all(|e| e.1 != "Error: ErrImagePull")
    });
    let p = sim.pod("web").unwrap();
    let w = p.status.container_statuses[0]
        .state
        .waiting
        .clone()
        .unwrap();
    assert_eq!(w.reason, "ErrImagePull");
    assert_eq!(w.message, "rpc error: code = NotFound desc = not found");
    sim.run_for(secs(1));
    let p = sim.pod("web").unwrap();
    let w = p.status.container_statuses[0]
        .state
        .waiting
        .clone()
        .unwrap();
    assert_eq!(w.reason, "ImagePullBackOff");
    assert_eq!(w.message, "Back-off pulling image \"bad:1\"");
    assert_eq!(p.phase(), PodPhase::Pending);
    sim.run_for(secs(200));
    let pulls = sim.times_of("Pull bad:1");
    let gaps: Vec<u64> = pulls
        .windows(2)
        .map(|w| w[1].saturating_duration_since(w[0] + secs(2)).as_secs())
        .collect();
    assert_eq!(&gaps[..4], [10, 20, 40, 80]);
    assert!(sim.events("web").contains(&(
        "Failed".into(),
        "Failed to pull image \"bad:1\": rpc error: code = NotFound desc = not found".into()
    )));
    assert!(sim
        .events("web")
        .contains(&("BackOff".into(), "Back-off pulling image \"bad:1\"".into())));
}

#[test]
fn an_active_deadline_fails_the_pod() {
    let mut sim = Sim::new(FakeRuntime::default());
    let mut p = pod(
        "web",
        vec![container("web", "nginx:1.27")],
        RestartPolicy::Always,
    );
    p.spec.active_deadline_seconds = Some(30);
    sim.add(p);
    sim.run_for(secs(60));
    let p = sim.pod("web").unwrap();
    assert_eq!(p.phase(), PodPhase::Failed);
    assert_eq!(p.status.reason, "DeadlineExceeded");
    assert_eq!(sim.times_of("Term web"), [Time::from_secs(1030)]);
    assert_eq!(sim.command_names().last().unwrap(), "RemoveSandbox");
}

#[test]
fn registration_reports_allocatable_and_a_ready_node() {
    let sim = Sim::new(FakeRuntime::default());
    let node = sim.store.get(Kind::Node, "", super::testing::NODE).unwrap();
    let flotilla_model::Object::Node(node) = &*node else {
        panic!()
    };
    assert!(node.is_ready());
    let ready = node.condition("Ready").unwrap();
    assert_eq!(ready.reason, "KubeletReady");
    assert_eq!(ready.message, "kubelet is posting ready status");
    assert_eq!(node.status.capacity["pods"].value(), 110);
    assert_eq!(
        node.status.allocatable["memory"],
        Quantity::parse("8092Mi").unwrap()
    );
    assert_eq!(
        node.status.allocatable["cpu"],
        Quantity::parse("4").unwrap()
    );
    assert_eq!(
        node.condition("MemoryPressure").unwrap().status,
        ConditionStatus::False
    );
}

/// A new kubelet (after a restart of the node's agent, with a runtime that lost every
/// container) takes over a pod from its stored status: what was running starts again as the
/// next attempt with a `ContainerStatusUnknown` last state, what had completed stays completed.
#[test]
fn a_new_kubelet_restarts_what_ran_and_keeps_what_completed() {
    let mut rt = FakeRuntime::default();
    rt.exits.insert("setup".into(), vec![(secs(1), 0)]);
    let mut sim = Sim::new(rt);
    sim.add(pod(
        "web",
        vec![
            container("setup", "busybox:1"),
            container("web", "nginx:1.27"),
        ],
        RestartPolicy::OnFailure,
    ));
    sim.run_for(secs(20));
    let before = sim.pod("web").unwrap();
    assert_eq!(before.phase(), PodPhase::Running);
    let status = |p: &flotilla_model::api::Pod, name: &str| {
        p.status
            .container_statuses
            .iter()
            .find(|c| c.name == name)
            .cloned()
            .unwrap()
    };
    assert!(status(&before, "setup").state.terminated.is_some());
    assert!(status(&before, "web").state.running.is_some());

    // The node's agent restarts: a new kubelet, an empty runtime.
    sim.kubelet = super::Kubelet::new(super::testing::NODE, super::KubeletConfig::default());
    sim.kubelet
        .register(super::testing::node(), &mut sim.store, sim.now)
        .unwrap();
    sim.runtime = FakeRuntime::default();
    sim.commands.clear();
    let stored = sim.store.get(Kind::Pod, "default", "web").unwrap();
    let added = flotilla_model::store::WatchEvent {
        event_type: flotilla_model::store::WatchEventType::Added,
        object: stored,
        resource_version: sim.store.resource_version(),
    };
    sim.kubelet.handle_pod_event(&added, sim.now);
    sim.run_for(secs(20));

    assert_eq!(
        sim.command_names(),
        ["Sandbox", "Pull nginx:1.27", "Start web#1"]
    );
    let after = sim.pod("web").unwrap();
    assert_eq!(after.phase(), PodPhase::Running);
    assert_eq!(after.status.start_time, before.status.start_time);
    let web = status(&after, "web");
    assert!(web.state.running.is_some());
    assert_eq!(web.restart_count, 1);
    let last = web.last_state.terminated.unwrap();
    assert_eq!(
        (last.reason.as_str(), last.exit_code),
        ("ContainerStatusUnknown", 137)
    );
    assert_eq!(status(&after, "setup"), status(&before, "setup"));
}

/// The echo of the kubelet's own status write gives it nothing to do; the same pod written by
/// someone else does; and no write is remembered once its event has passed.
#[test]
fn the_echo_of_its_own_status_write_is_not_work() {
    let mut sim = Sim::new(FakeRuntime::default());
    sim.add(pod(
        "web",
        vec![container("web", "nginx:1.27")],
        RestartPolicy::Always,
    ));
    sim.run_for(secs(20));
    assert_eq!(sim.pod("web").unwrap().phase(), PodPhase::Running);
    // Every write it made came back as an event.
    assert!(sim.kubelet.own_writes.is_empty());

    let stored = sim.store.get(Kind::Pod, "default", "web").unwrap();
    let rv = sim.store.resource_version();
    let event = |resource_version| flotilla_model::store::WatchEvent {
        event_type: flotilla_model::store::WatchEventType::Modified,
        object: stored.clone(),
        resource_version,
    };
    sim.kubelet.own_writes.push(rv);
    assert!(!sim.kubelet.handle_pod_event(&event(rv), sim.now));
    assert!(sim.kubelet.own_writes.is_empty());
    // A write by another component (a version the kubelet did not write).
    assert!(sim.kubelet.handle_pod_event(&event(rv + 1), sim.now));
    // An older write whose event was never seen is forgotten once a later event passes.
    sim.kubelet.own_writes.push(rv + 1);
    assert!(sim.kubelet.handle_pod_event(&event(rv + 2), sim.now));
    assert!(sim.kubelet.own_writes.is_empty());
}

#[test]
fn a_finished_pod_rests_until_an_event_and_is_forgotten_when_deleted() {
    let mut rt = FakeRuntime::default();
    rt.exits.insert("job".into(), vec![(secs(5), 0)]);
    let mut sim = Sim::new(rt);
    let uid = sim.add(pod(
        "p",
        vec![container("job", "busybox:1.36")],
        RestartPolicy::Never,
    ));
    sim.run_for(secs(60));
    assert_eq!(sim.pod("p").unwrap().phase(), PodPhase::Succeeded);
    // Its final status is written: the worker rests, out of the syncs' way.
    assert!(sim.kubelet.done.contains_key(&uid));
    assert!(!sim.kubelet.workers.contains_key(&uid));
    assert_eq!(sim.kubelet.pod_count(), 1);
    // A runtime event for it wakes it; the next sync finds nothing to write and it rests again.
    sim.kubelet.handle_runtime_event(
        RuntimeEvent::SandboxRemoved {
            pod_uid: uid.clone(),
        },
        sim.now,
    );
    assert!(sim.kubelet.workers.contains_key(&uid));
    let rv = sim.store.resource_version();
    sim.run_for(secs(1));
    assert_eq!(sim.store.resource_version(), rv, "nothing written");
    assert!(sim.kubelet.done.contains_key(&uid));
    // Deleted, it is forgotten.
    sim.store
        .delete(
            Kind::Pod,
            "default",
            "p",
            &DeleteOptions::default(),
            sim.now,
        )
        .expect("deleted");
    sim.run_for(secs(1));
    assert_eq!(sim.kubelet.pod_count(), 0);
    assert!(sim.pod("p").is_none());
}

/// The status pass skips a pod whose stored pod, node and worker are as they were when the
/// status was last found right; a change of any of the three makes it compute the status again.
#[test]
fn a_status_is_computed_again_when_the_node_or_the_stored_pod_changes() {
    use flotilla_model::api::{NodeAddress, NodeAddressType};
    use flotilla_model::Object;

    let mut sim = Sim::new(FakeRuntime::default());
    sim.add(nginx_pod("web"));
    sim.run_for(secs(10));
    let p = sim.pod("web").unwrap();
    assert_eq!(p.phase(), PodPhase::Running);
    assert_eq!(p.status.host_ip, "10.0.0.1");

    // The node's address changes; the next sync (here for a second pod) moves hostIP.
    let Some(Object::Node(mut node)) = sim.store.get(Kind::Node, "", "node-1").as_deref().cloned()
    else {
        panic!("the node is registered");
    };
    node.status.addresses = vec![NodeAddress {
        r#type: NodeAddressType::InternalIp,
        address: "10.0.0.9".into(),
    }];
    sim.store.update_status(node.into(), sim.now).unwrap();
    sim.add(nginx_pod("other"));
    sim.run_for(secs(10));
    assert_eq!(sim.pod("web").unwrap().status.host_ip, "10.0.0.9");

    // Another writer flips the kubelet's Ready condition; the kubelet puts it back.
    let mut p = sim.pod("web").unwrap();
    assert_eq!(cond(&p, PodCondition::READY), ConditionStatus::True);
    for c in &mut p.status.conditions {
        if c.r#type == PodCondition::READY {
            c.status = ConditionStatus::False;
        }
    }
    sim.store.update_status(p.into(), sim.now).unwrap();
    // (The cluster syncs a kubelet for any event of its pods; this test's loop syncs for work
    // only, which a third pod brings.)
    sim.add(nginx_pod("third"));
    sim.run_for(secs(1));
    let p = sim.pod("web").unwrap();
    assert_eq!(cond(&p, PodCondition::READY), ConditionStatus::True);
}
