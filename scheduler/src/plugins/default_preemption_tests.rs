//! DefaultPreemption's tests, re-creating cases of kube-scheduler v1.34's
//! default_preemption_test.go and preemption_test.go.

use std::sync::Arc;

use flotilla_model::api::{Pod, PodDisruptionBudget};
use flotilla_model::FieldPath;
use rand::SeedableRng;
use serde_json::json;

use super::*;
use crate::node_info::PodInfo;
use crate::plugins::node_resources_fit::{NodeResourcesFit, NodeResourcesFitArgs};
use crate::plugins::testing::{pod, simple_node};
use crate::profile::Profile;
use crate::schedule::{schedule_pod, ProfileHandle, ScheduleError, SchedulingCycleState};

/// A pod `name` on `node` (empty: pending) with `priority`, requesting `cpu` millicores,
/// started at `start` seconds (none when 0), with `labels`.
fn p(
    name: &str,
    node: &str,
    priority: i32,
    cpu: i64,
    start: u64,
    labels: serde_json::Value,
) -> Arc<Pod> {
    let mut status = json!({});
    if start > 0 {
        status["startTime"] = json!(flotilla_model::Time::from_secs(start).to_rfc3339());
    }
    pod(json!({
        "metadata": {"name": name, "labels": labels},
        "spec": {"nodeName": node, "priority": priority, "containers": [{"name": "c", "image": "i",
            "resources": {"requests": {"cpu": format!("{cpu}m")}}}]},
        "status": status
    }))
}

fn profile() -> Profile {
    let fit: Arc<dyn Plugin> =
        Arc::new(NodeResourcesFit::new(NodeResourcesFitArgs::default()).expect("valid"));
    let preemption: Arc<dyn Plugin> = Arc::new(DefaultPreemption::default());
    Profile {
        scheduler_name: "test".into(),
        pre_filter: vec![fit.clone()],
        filter: vec![fit],
        post_filter: vec![preemption],
        ..Profile::default()
    }
}

fn snapshot(nodes: &[(&str, i64)], pods: &[Arc<Pod>]) -> Snapshot {
    let nodes: Vec<_> = nodes
        .iter()
        .map(|(n, cpu)| simple_node(n, *cpu, 1 << 34, &[]))
        .collect();
    Snapshot::new(&nodes, pods, &[])
}

fn pdb(name: &str, labels: serde_json::Value, allowed: i32) -> Arc<PodDisruptionBudget> {
    Arc::new(
        serde_json::from_value(json!({
            "metadata": {"name": name, "namespace": "default"},
            "spec": {"selector": {"matchLabels": labels}},
            "status": {"disruptionsAllowed": allowed}
        }))
        .expect("pdb decodes"),
    )
}

fn victims_on(
    snapshot: &Snapshot,
    preemptor: &Arc<Pod>,
    node: &str,
) -> Result<(Vec<String>, usize), Status> {
    let profile = profile();
    let handle = ProfileHandle {
        profile: &profile,
        snapshot,
    };
    let info = PodInfo::new(preemptor.clone());
    let mut state = CycleState::new();
    let pf = profile.pre_filter[0].as_pre_filter().expect("prefilter");
    pf.pre_filter(&mut state, &info, snapshot);
    let mut node = snapshot.node(node).expect("node").clone();
    select_victims_on_node(&handle, &mut state, &info, &mut node, &snapshot.pdbs)
        .map(|(v, n)| (v.iter().map(|p| p.metadata.name.clone()).collect(), n))
}

#[test]
fn args_validate_as_kube_scheduler() {
    // validation_pluginargs_test.go TestValidateDefaultPreemptionArgs.
    let v = |pct, abs| {
        DefaultPreemptionArgs {
            min_candidate_nodes_percentage: pct,
            min_candidate_nodes_absolute: abs,
        }
        .validate(&FieldPath::root())
        .map_err(|e| e.iter().map(ToString::to_string).collect::<Vec<_>>())
    };
    assert_eq!(v(10, 100), Ok(()));
    assert_eq!(v(0, 100), Ok(()));
    assert_eq!(v(50, 0), Ok(()));
    assert_eq!(
        v(-1, 100),
        Err(vec![
            "minCandidateNodesPercentage: Invalid value: -1: not in valid range [0, 100]"
                .to_string()
        ])
    );
    assert_eq!(
        v(900, 100),
        Err(vec![
            "minCandidateNodesPercentage: Invalid value: 900: not in valid range [0, 100]"
                .to_string()
        ])
    );
    assert_eq!(
        v(20, -1),
        Err(vec![
            "minCandidateNodesAbsolute: Invalid value: -1: not in valid range [0, inf)".to_string()
        ])
    );
    assert_eq!(
        v(0, 0),
        Err(vec![
            "minCandidateNodesPercentage: Invalid value: 0: cannot be zero at the same time as minCandidateNodesAbsolute".to_string(),
            "minCandidateNodesAbsolute: Invalid value: 0: cannot be zero at the same time as minCandidateNodesPercentage".to_string(),
        ])
    );
    assert_eq!(
        DefaultPreemptionArgs::default().min_candidate_nodes_absolute,
        100
    );
}

#[test]
fn number_of_candidates_follows_kube_scheduler() {
    // default_preemption_test.go TestCalculateNumCandidates.
    let n = |pct, abs, nodes| {
        DefaultPreemption::new(DefaultPreemptionArgs {
            min_candidate_nodes_percentage: pct,
            min_candidate_nodes_absolute: abs,
        })
        .expect("valid")
        .num_candidates(nodes)
    };
    assert_eq!(n(10, 100, 10), 10); // no tuning: all nodes
    assert_eq!(n(40, 1, 10), 4); // percentage
    assert_eq!(n(10, 50, 100), 50); // absolute floor
    assert_eq!(n(10, 100, 10), 10);
    assert_eq!(n(100, 50, 100), 100);
    assert_eq!(n(0, 2, 10), 2);
}

#[test]
fn victims_are_the_fewest_lower_priority_pods_reprieving_the_most_important() {
    // SelectVictimsOnNode: a 3000m node with pods of priority 1 (1000m), 2 (1000m), 3 (1000m);
    // a priority-10 pod of 2000m evicts the two least important.
    let pods = vec![
        p("p1", "n", 1, 1000, 10, json!({})),
        p("p2", "n", 2, 1000, 10, json!({})),
        p("p3", "n", 3, 1000, 10, json!({})),
    ];
    let s = snapshot(&[("n", 3000)], &pods);
    let preemptor = p("high", "", 10, 2000, 0, json!({}));
    assert_eq!(
        victims_on(&s, &preemptor, "n"),
        Ok((vec!["p2".into(), "p1".into()], 0))
    );
    // Equal priority pods are never victims.
    let eq = p("eq", "", 3, 2000, 0, json!({}));
    assert_eq!(
        victims_on(&s, &eq, "n"),
        Ok((vec!["p2".into(), "p1".into()], 0))
    );
    let low = p("low", "", 1, 2000, 0, json!({}));
    assert_eq!(
        victims_on(&s, &low, "n"),
        Err(Status::unresolvable(ERR_NO_VICTIMS))
    );
    // Too big even on an empty node: the filter's verdict.
    let huge = p("huge", "", 10, 4000, 0, json!({}));
    assert!(victims_on(&s, &huge, "n")
        .expect_err("no room")
        .is_rejected());
}

#[test]
fn pdb_violators_are_reprieved_first_and_counted() {
    // preemption_test.go "pod with PDB violation": pods a (prio 1, app=x) and b (prio 2); a
    // budget allowing no disruption of app=x. One victim is needed: a violates its budget, so it
    // is reprieved first and b goes, even though b is more important.
    let pods = vec![
        p("a", "n", 1, 1000, 10, json!({"app": "x"})),
        p("b", "n", 2, 1000, 10, json!({"app": "y"})),
    ];
    let mut s = snapshot(&[("n", 2000)], &pods);
    s.pdbs = vec![pdb("budget", json!({"app": "x"}), 0)];
    let preemptor = p("high", "", 10, 1000, 0, json!({}));
    assert_eq!(victims_on(&s, &preemptor, "n"), Ok((vec!["b".into()], 0)));
    // Two victims needed: a violates its budget and is counted.
    let big = p("big", "", 10, 2000, 0, json!({}));
    assert_eq!(
        victims_on(&s, &big, "n"),
        Ok((vec!["b".into(), "a".into()], 1))
    );
    // A budget allowing one disruption is not violated.
    s.pdbs = vec![pdb("budget", json!({"app": "x"}), 1)];
    assert_eq!(
        victims_on(&s, &big, "n"),
        Ok((vec!["b".into(), "a".into()], 0))
    );
}

fn candidate(node: usize, victims: Vec<Arc<Pod>>, violations: usize) -> Candidate {
    Candidate {
        node,
        victims,
        num_pdb_violations: violations,
    }
}

#[test]
fn pick_one_node_follows_kube_schedulers_order() {
    // default_preemption_test.go TestPickOneNodeForPreemption, with the victims already chosen.
    let v = |name: &str, prio: i32, start: u64| p(name, "", prio, 100, start, json!({}));
    // Fewest PDB violations first.
    let c = [
        candidate(0, vec![v("a", 1, 10)], 1),
        candidate(1, vec![v("b", 5, 10)], 0),
    ];
    assert_eq!(pick_one_node_for_preemption(&c), Some(1));
    // "a pod with lower priority is preempted": lowest highest-victim priority.
    let c = [
        candidate(0, vec![v("a", 10, 10)], 0),
        candidate(1, vec![v("b", 5, 10), v("c", 5, 10)], 0),
    ];
    assert_eq!(pick_one_node_for_preemption(&c), Some(1));
    // "lowest sum of priorities": same highest, fewer or lower others.
    let c = [
        candidate(0, vec![v("a", 10, 10), v("b", 5, 10)], 0),
        candidate(1, vec![v("c", 10, 10), v("d", 1, 10)], 0),
    ];
    assert_eq!(pick_one_node_for_preemption(&c), Some(1));
    // Sums are offset by 2^31 per pod, so with negative priorities more pods still cost more.
    let c = [
        candidate(0, vec![v("a", -10, 10), v("b", -10, 10)], 0),
        candidate(1, vec![v("c", -10, 10)], 0),
    ];
    assert_eq!(pick_one_node_for_preemption(&c), Some(1));
    // "latest start time": the same victims' priorities and counts, newer pods go.
    let c = [
        candidate(0, vec![v("a", 10, 10), v("b", 5, 50)], 0),
        candidate(1, vec![v("c", 10, 20), v("d", 5, 5)], 0),
    ];
    assert_eq!(pick_one_node_for_preemption(&c), Some(1));
    // All equal: the first.
    let c = [
        candidate(0, vec![v("a", 10, 10)], 0),
        candidate(1, vec![v("b", 10, 10)], 0),
    ];
    assert_eq!(pick_one_node_for_preemption(&c), Some(0));
    assert_eq!(pick_one_node_for_preemption(&[]), None);
}

fn cycle() -> SchedulingCycleState {
    SchedulingCycleState {
        next_start_node_index: 0,
        rng: rand_chacha::ChaCha8Rng::seed_from_u64(1),
    }
}

#[test]
fn post_filter_nominates_the_best_node_and_names_the_victims() {
    let pods = vec![
        p("a", "n1", 5, 1000, 10, json!({})),
        p("b", "n2", 1, 1000, 10, json!({})),
        p("c", "n3", 20, 1000, 10, json!({})),
    ];
    let s = snapshot(&[("n1", 1000), ("n2", 1000), ("n3", 1000)], &pods);
    let preemptor = PodInfo::new(p("high", "", 10, 1000, 0, json!({})));
    let err = schedule_pod(&profile(), &s, &preemptor, 0, &mut cycle()).expect_err("no room");
    let ScheduleError::Unschedulable(fit) = err else {
        panic!("a fit error");
    };
    assert_eq!(
        fit.post_filter_result,
        Some(Box::new(PostFilterResult {
            nominated_node: "n2".into(),
            victims: vec![("default".into(), "b".into())],
        }))
    );
    assert_eq!(
        fit.to_string(),
        "0/3 nodes are available: 3 Insufficient cpu."
    );
}

#[test]
fn post_filter_explains_why_preemption_cannot_help() {
    // Node n1 has only more important pods; n2 is too small for the pod (UnschedulableAnd
    // Unresolvable: preemption is not tried there).
    let pods = vec![p("a", "n1", 50, 1000, 10, json!({}))];
    let s = snapshot(&[("n1", 1000), ("n2", 500)], &pods);
    let preemptor = PodInfo::new(p("high", "", 10, 1000, 0, json!({})));
    let err = schedule_pod(&profile(), &s, &preemptor, 0, &mut cycle()).expect_err("no room");
    assert_eq!(
        err.to_string(),
        "0/2 nodes are available: 2 Insufficient cpu. preemption: 0/2 nodes are available: 1 No preemption victims found for incoming pod, 1 Preemption is not helpful for scheduling.."
    );
}

#[test]
fn eligibility_follows_kube_scheduler() {
    // TestPodEligibleToPreemptOthers.
    let s = snapshot(&[("n", 1000)], &[]);
    let mut never = (*p("p", "", 10, 100, 0, json!({}))).clone();
    never.spec.preemption_policy = Some(PreemptionPolicy::Never);
    assert_eq!(
        pod_eligible_to_preempt_others(&never, &s, Code::Unschedulable),
        Err(ERR_POLICY_NEVER)
    );
    // A lower-priority victim of the scheduler still terminating on the nominated node.
    let mut victim = (*p("v", "n", 1, 100, 10, json!({}))).clone();
    victim.metadata.deletion_timestamp = Some(flotilla_model::Time::from_secs(20));
    victim
        .status
        .conditions
        .push(flotilla_model::api::PodCondition {
            r#type: "DisruptionTarget".into(),
            status: ConditionStatus::True,
            reason: REASON_PREEMPTION_BY_SCHEDULER.into(),
            ..Default::default()
        });
    let s = snapshot(&[("n", 1000)], &[Arc::new(victim.clone())]);
    let mut nominated = (*p("p", "", 10, 100, 0, json!({}))).clone();
    nominated.status.nominated_node_name = "n".into();
    assert_eq!(
        pod_eligible_to_preempt_others(&nominated, &s, Code::Unschedulable),
        Err(ERR_TERMINATING_VICTIM)
    );
    // ... unless the nominated node is now unresolvable.
    assert_eq!(
        pod_eligible_to_preempt_others(&nominated, &s, Code::UnschedulableAndUnresolvable),
        Ok(())
    );
    // A terminating pod of higher priority does not count.
    let mut higher = nominated.clone();
    higher.spec.priority = Some(0);
    assert_eq!(
        pod_eligible_to_preempt_others(&higher, &s, Code::Unschedulable),
        Ok(())
    );
    // Terminating without the scheduler's condition does not count either.
    victim.status.conditions.clear();
    let s = snapshot(&[("n", 1000)], &[Arc::new(victim)]);
    assert_eq!(
        pod_eligible_to_preempt_others(&nominated, &s, Code::Unschedulable),
        Ok(())
    );
}

#[test]
fn more_important_pod_compares_priority_then_start_time() {
    let a = p("a", "", 2, 100, 50, json!({}));
    let b = p("b", "", 1, 100, 10, json!({}));
    let c = p("c", "", 1, 100, 20, json!({}));
    let d = p("d", "", 1, 100, 0, json!({}));
    assert!(more_important_pod(&a, &b));
    assert!(more_important_pod(&b, &c));
    assert!(!more_important_pod(&c, &b));
    // Not started: "now", after every start time.
    assert!(more_important_pod(&c, &d));
}
