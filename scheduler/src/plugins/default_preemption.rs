//! DefaultPreemption: the PostFilter plugin that, when no node fits a pod, looks for a node where
//! evicting lower-priority pods would make room (kube-scheduler v1.34,
//! pkg/scheduler/framework/plugins/defaultpreemption/default_preemption.go and
//! pkg/scheduler/framework/preemption/preemption.go).
//!
//! 1. **Eligibility** (`PodEligibleToPreemptOthers`): not with `preemptionPolicy: Never`; not
//!    while a lower-priority pod on the pod's nominated node is terminating because the scheduler
//!    preempted it (`DisruptionTarget` condition with reason `PreemptionByScheduler`), unless the
//!    filters now call that node UnschedulableAndUnresolvable.
//! 2. **Candidates** (`findCandidates`): only nodes whose Filter status is `Unschedulable`.
//!    `clamp(N * minCandidateNodesPercentage / 100, ≥ minCandidateNodesAbsolute, ≤ N)` of them are
//!    dry-run, starting at a random offset in `0..N` and wrapping around; the dry runs stop once
//!    that many candidates are found and one of them violates no PodDisruptionBudget.
//! 3. **Victims on a node** (`SelectVictimsOnNode`): remove every pod of lower priority; if the
//!    pod still does not fit (filters with nominated pods), the node is no candidate. Otherwise
//!    reprieve the removed pods greedily, most important first (`MoreImportantPod`: priority, then
//!    earlier start), those whose eviction would violate a PDB before the others: a pod is put
//!    back if the pod still fits with it; else it is a victim.
//! 4. **The best candidate** (`pickOneNodeForPreemption`): fewest PDB violations; then lowest
//!    highest-victim priority; then lowest sum of victim priorities (each offset by 2³¹); then
//!    fewest victims; then the latest start time among the highest-priority victims; then the
//!    first in candidate order (kube-scheduler takes the first in map order, i.e. at random).
//!
//! The plugin returns the node to nominate the pod to and the victims; it never writes anything.
//! When it cannot help it says why, which the scheduler appends to the FitError message:
//! `preemption: 0/3 nodes are available: 1 No preemption victims found for incoming pod, 2
//! Preemption is not helpful for scheduling.`

use std::collections::BTreeMap;
use std::sync::Arc;

use flotilla_model::api::{
    ConditionStatus, Pod, PodCondition, PodDisruptionBudget, PreemptionPolicy,
};
use flotilla_model::{ErrorList, FieldError, FieldPath};
use serde::{Deserialize, Serialize};

use crate::framework::{
    Code, CycleState, FrameworkHandle, Plugin, PostFilterPlugin, PostFilterResult, Status,
};
use crate::node_info::{NodeInfo, PodInfo};
use crate::schedule::{pod_priority, Diagnosis, FitError};
use crate::snapshot::Snapshot;

/// The plugin's name in a KubeSchedulerConfiguration.
pub const NAME: &str = "DefaultPreemption";

/// The status of a node with no pod of lower priority (UnschedulableAndUnresolvable).
pub const ERR_NO_VICTIMS: &str = "No preemption victims found for incoming pod";
/// The status of nodes where preemption was not tried (UnschedulableAndUnresolvable).
pub const ERR_NOT_HELPFUL: &str = "Preemption is not helpful for scheduling";
/// The reason when the pod may not preempt (`preemptionPolicy: Never`).
pub const ERR_POLICY_NEVER: &str = "not eligible due to preemptionPolicy=Never.";
/// The reason when a victim of an earlier preemption is still terminating on the nominated node.
pub const ERR_TERMINATING_VICTIM: &str =
    "not eligible due to a terminating pod on the nominated node.";
/// The reason of the `DisruptionTarget` condition the scheduler gives the pods it preempts.
pub const REASON_PREEMPTION_BY_SCHEDULER: &str = "PreemptionByScheduler";

/// The plugin's arguments (kube-scheduler's `DefaultPreemptionArgs`, config v1).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct DefaultPreemptionArgs {
    /// The smallest number of candidate nodes to dry-run, as a percentage of the nodes where
    /// preemption might help (0–100).
    pub min_candidate_nodes_percentage: i32,
    /// The smallest number of candidate nodes to dry-run, as an absolute number (≥ 0).
    pub min_candidate_nodes_absolute: i32,
}

impl Default for DefaultPreemptionArgs {
    /// kube-scheduler's v1 defaults: 10% and 100 nodes.
    fn default() -> DefaultPreemptionArgs {
        DefaultPreemptionArgs {
            min_candidate_nodes_percentage: 10,
            min_candidate_nodes_absolute: 100,
        }
    }
}

impl DefaultPreemptionArgs {
    /// Checks the arguments as kube-scheduler's `ValidateDefaultPreemptionArgs`
    /// (validation_pluginargs.go), with errors under `path`.
    pub fn validate(&self, path: &FieldPath) -> Result<(), ErrorList> {
        let pct_path = path.child("minCandidateNodesPercentage");
        let abs_path = path.child("minCandidateNodesAbsolute");
        let pct = self.min_candidate_nodes_percentage;
        let abs = self.min_candidate_nodes_absolute;
        let mut errors = Vec::new();
        if !(0..=100).contains(&pct) {
            errors.push(FieldError::invalid(
                &pct_path,
                pct,
                "not in valid range [0, 100]",
            ));
        }
        if abs < 0 {
            errors.push(FieldError::invalid(
                &abs_path,
                abs,
                "not in valid range [0, inf)",
            ));
        }
        if pct == 0 && abs == 0 {
            errors.push(FieldError::invalid(
                &pct_path,
                pct,
                "cannot be zero at the same time as minCandidateNodesAbsolute",
            ));
            errors.push(FieldError::invalid(
                &abs_path,
                abs,
                "cannot be zero at the same time as minCandidateNodesPercentage",
            ));
        }
        if errors.is_empty() {
            Ok(())
        } else {
            Err(errors)
        }
    }
}

/// The DefaultPreemption plugin (PostFilter).
#[derive(Clone, Debug, Default)]
pub struct DefaultPreemption {
    args: DefaultPreemptionArgs,
}

impl DefaultPreemption {
    /// The plugin with `args`, rejected as [`DefaultPreemptionArgs::validate`] rejects them.
    pub fn new(args: DefaultPreemptionArgs) -> Result<DefaultPreemption, ErrorList> {
        args.validate(&FieldPath::root())?;
        Ok(DefaultPreemption { args })
    }

    /// How many of `num_nodes` potential nodes to dry-run (`calculateNumCandidates`).
    pub fn num_candidates(&self, num_nodes: usize) -> usize {
        let n = num_nodes as i64;
        let mut c = n * i64::from(self.args.min_candidate_nodes_percentage) / 100;
        c = c.max(i64::from(self.args.min_candidate_nodes_absolute));
        c.min(n) as usize
    }
}

impl Plugin for DefaultPreemption {
    fn name(&self) -> &'static str {
        NAME
    }
    fn as_post_filter(&self) -> Option<&dyn PostFilterPlugin> {
        Some(self)
    }
}

/// Victims on one node (kube-scheduler's `extenderv1.Victims` with the node's name).
#[derive(Clone, Debug, PartialEq)]
pub struct Candidate {
    /// The node's snapshot index.
    pub node: usize,
    /// The pods to evict, most important first.
    pub victims: Vec<Arc<Pod>>,
    /// How many of them violate a PodDisruptionBudget.
    pub num_pdb_violations: usize,
}

/// A pod's start time for preemption's comparisons (`GetPodStartTime`): `status.startTime`, or
/// "now" for a pod that has not started, which here is the latest possible time.
fn start_time(pod: &Pod) -> u64 {
    pod.status.start_time.map_or(u64::MAX, |t| t.as_nanos())
}

/// Whether `a` is more important than `b` (`util.MoreImportantPod`): higher priority, or the
/// same priority and started earlier.
pub fn more_important_pod(a: &Pod, b: &Pod) -> bool {
    let (pa, pb) = (pod_priority(a), pod_priority(b));
    if pa != pb {
        return pa > pb;
    }
    start_time(a) < start_time(b)
}

/// Whether a pod is terminating because the scheduler preempted it
/// (`podTerminatingByPreemption`).
fn terminating_by_preemption(pod: &Pod) -> bool {
    if pod.metadata.deletion_timestamp.is_none() {
        return false;
    }
    pod.status
        .conditions
        .iter()
        .find(|c| c.r#type == PodCondition::DISRUPTION_TARGET)
        .is_some_and(|c| {
            c.status == ConditionStatus::True && c.reason == REASON_PREEMPTION_BY_SCHEDULER
        })
}

/// Whether `pod` may preempt at all, and why not (`PodEligibleToPreemptOthers`).
/// `nominated_node_status` is the Filter status of the pod's nominated node, if it has one.
pub fn pod_eligible_to_preempt_others(
    pod: &Pod,
    snapshot: &Snapshot,
    nominated_node_code: Code,
) -> Result<(), &'static str> {
    if pod.spec.preemption_policy == Some(PreemptionPolicy::Never) {
        return Err(ERR_POLICY_NEVER);
    }
    let nominated = &pod.status.nominated_node_name;
    if nominated.is_empty() || nominated_node_code == Code::UnschedulableAndUnresolvable {
        return Ok(());
    }
    if let Some(info) = snapshot.node(nominated) {
        let priority = pod_priority(pod);
        if info
            .pods
            .iter()
            .any(|p| pod_priority(&p.pod) < priority && terminating_by_preemption(&p.pod))
        {
            return Err(ERR_TERMINATING_VICTIM);
        }
    }
    Ok(())
}

/// Splits `pods` (in order) into those whose eviction would violate a PodDisruptionBudget and
/// the others (`filterPodsWithPDBViolation`): each matching budget's `disruptionsAllowed` is
/// decremented per pod (unless the pod is already in its `disruptedPods`), and a pod that takes
/// one below zero violates it. A budget with an empty selector matches nothing.
pub fn filter_pods_with_pdb_violation(
    pods: Vec<PodInfo>,
    pdbs: &[Arc<PodDisruptionBudget>],
) -> (Vec<PodInfo>, Vec<PodInfo>) {
    let mut allowed: Vec<i32> = pdbs.iter().map(|p| p.status.disruptions_allowed).collect();
    let selectors: Vec<Option<flotilla_model::Selector>> = pdbs
        .iter()
        .map(|p| {
            p.spec
                .selector
                .as_ref()
                .and_then(|s| s.to_selector().ok())
                .filter(|s| !s.is_empty())
        })
        .collect();
    let (mut violating, mut non_violating) = (Vec::new(), Vec::new());
    for info in pods {
        let pod = &info.pod;
        let mut violated = false;
        if !pod.metadata.labels.is_empty() {
            for (i, pdb) in pdbs.iter().enumerate() {
                if pdb.metadata.namespace != pod.metadata.namespace {
                    continue;
                }
                let Some(selector) = &selectors[i] else {
                    continue;
                };
                if !selector.matches(&pod.metadata.labels)
                    || pdb.status.disrupted_pods.contains_key(&pod.metadata.name)
                {
                    continue;
                }
                allowed[i] -= 1;
                if allowed[i] < 0 {
                    violated = true;
                }
            }
        }
        if violated {
            violating.push(info);
        } else {
            non_violating.push(info);
        }
    }
    (violating, non_violating)
}

/// kube-scheduler's `SelectVictimsOnNode`: the pods to evict from `node` (a copy the function
/// changes) so that `pod` fits, and how many of them violate a budget; or the status saying why
/// the node cannot help. `state` is a copy of the cycle state, updated through the PreFilter
/// extensions.
pub fn select_victims_on_node(
    handle: &dyn FrameworkHandle,
    state: &mut CycleState,
    pod: &PodInfo,
    node: &mut NodeInfo,
    pdbs: &[Arc<PodDisruptionBudget>],
) -> Result<(Vec<Arc<Pod>>, usize), Status> {
    let priority = pod_priority(&pod.pod);
    let mut potential: Vec<PodInfo> = node
        .pods
        .iter()
        .filter(|p| pod_priority(&p.pod) < priority)
        .cloned()
        .collect();
    if potential.is_empty() {
        return Err(Status::unresolvable(ERR_NO_VICTIMS));
    }
    for p in &potential {
        remove_pod(handle, state, pod, p, node)?;
    }
    // If the pod does not fit even without every lower-priority pod, this node cannot help
    // (affinity to a victim is not considered, as in kube-scheduler).
    let status = handle.run_filter_plugins_with_nominated_pods(state, pod, node);
    if !status.is_success() {
        return Err(status);
    }
    potential.sort_by(|a, b| {
        if more_important_pod(&a.pod, &b.pod) {
            std::cmp::Ordering::Less
        } else if more_important_pod(&b.pod, &a.pod) {
            std::cmp::Ordering::Greater
        } else {
            std::cmp::Ordering::Equal
        }
    });
    let (violating, non_violating) = filter_pods_with_pdb_violation(potential, pdbs);
    let mixed = !violating.is_empty() && !non_violating.is_empty();
    let mut victims: Vec<Arc<Pod>> = Vec::new();
    let mut num_violations = 0;
    for (list, counts) in [(violating, true), (non_violating, false)] {
        for p in list {
            // Reprieve: put the pod back; if the preemptor no longer fits, it is a victim.
            node.add_pod(p.clone());
            let status = handle.run_pre_filter_extension_add_pod(state, pod, &p, node);
            if !status.is_success() {
                return Err(status);
            }
            let fits = handle
                .run_filter_plugins_with_nominated_pods(state, pod, node)
                .is_success();
            if !fits {
                remove_pod(handle, state, pod, &p, node)?;
                victims.push(p.pod.clone());
                if counts {
                    num_violations += 1;
                }
            }
        }
    }
    if mixed {
        victims.sort_by(|a, b| {
            if more_important_pod(a, b) {
                std::cmp::Ordering::Less
            } else if more_important_pod(b, a) {
                std::cmp::Ordering::Greater
            } else {
                std::cmp::Ordering::Equal
            }
        });
    }
    Ok((victims, num_violations))
}

fn remove_pod(
    handle: &dyn FrameworkHandle,
    state: &mut CycleState,
    pod: &PodInfo,
    victim: &PodInfo,
    node: &mut NodeInfo,
) -> Result<(), Status> {
    node.remove_pod(&victim.pod.metadata.namespace, &victim.pod.metadata.name);
    let status = handle.run_pre_filter_extension_remove_pod(state, pod, victim, node);
    if status.is_success() {
        Ok(())
    } else {
        Err(status)
    }
}

/// kube-scheduler's `pickOneNodeForPreemption` over `candidates` (in candidate order): the
/// index of the chosen one, `None` when there is none.
pub fn pick_one_node_for_preemption(candidates: &[Candidate]) -> Option<usize> {
    if candidates.is_empty() {
        return None;
    }
    // A node without victims would win outright (not reachable from the dry runs, which treat
    // it as an error, but kept for callers that build candidates themselves).
    if let Some(i) = candidates.iter().position(|c| c.victims.is_empty()) {
        return Some(i);
    }
    let highest = |c: &Candidate| i64::from(pod_priority(&c.victims[0]));
    // Earliest start time among the highest-priority victims (`GetEarliestPodStartTime`).
    let earliest = |c: &Candidate| -> u64 {
        let mut max_priority = pod_priority(&c.victims[0]);
        let mut earliest = start_time(&c.victims[0]);
        for v in &c.victims {
            let p = pod_priority(v);
            if p == max_priority {
                earliest = earliest.min(start_time(v));
            } else if p > max_priority {
                max_priority = p;
                earliest = start_time(v);
            }
        }
        earliest
    };
    let score_funcs: [&dyn Fn(&Candidate) -> i128; 5] = [
        &|c| -(c.num_pdb_violations as i128),
        &|c| -i128::from(highest(c)),
        &|c| {
            -c.victims
                .iter()
                .map(|v| i128::from(pod_priority(v)) + i128::from(i32::MAX) + 1)
                .sum::<i128>()
        },
        &|c| -(c.victims.len() as i128),
        &|c| i128::from(earliest(c)),
    ];
    let mut remaining: Vec<usize> = (0..candidates.len()).collect();
    for f in score_funcs {
        let scores: Vec<i128> = remaining.iter().map(|&i| f(&candidates[i])).collect();
        let max = scores.iter().copied().max().unwrap_or(0);
        remaining = remaining
            .iter()
            .zip(&scores)
            .filter(|(_, &s)| s == max)
            .map(|(&i, _)| i)
            .collect();
        if remaining.len() == 1 {
            break;
        }
    }
    remaining.first().copied()
}

/// The result of the dry runs: candidates (those violating no budget first) and the status of
/// every node dry-run that could not help.
pub struct DryRun {
    /// The candidates, non-violating ones first, each group in dry-run order.
    pub candidates: Vec<Candidate>,
    /// Why each node that was tried and failed failed, by snapshot index.
    pub node_statuses: BTreeMap<usize, Status>,
    /// Internal errors met.
    pub errors: Vec<String>,
}

impl DefaultPreemption {
    /// kube-scheduler's `DryRunPreemption`: tries `potential` nodes from `offset` on, wrapping
    /// around, until `num_candidates` candidates are found including one without PDB
    /// violations. kube-scheduler runs the nodes in parallel and stops when enough are found;
    /// here they run in order, so the outcome does not depend on timing.
    #[allow(clippy::too_many_arguments)]
    pub fn dry_run_preemption(
        &self,
        handle: &dyn FrameworkHandle,
        state: &CycleState,
        pod: &PodInfo,
        snapshot: &Snapshot,
        potential: &[usize],
        offset: usize,
        num_candidates: usize,
    ) -> DryRun {
        let mut non_violating = Vec::new();
        let mut violating = Vec::new();
        let mut node_statuses = BTreeMap::new();
        let mut errors = Vec::new();
        let n = potential.len();
        for k in 0..n {
            let i = potential[(offset + k) % n];
            let mut node = snapshot.nodes[i].clone();
            let mut state = state.clone();
            let status =
                match select_victims_on_node(handle, &mut state, pod, &mut node, &snapshot.pdbs) {
                    Ok((victims, violations)) if !victims.is_empty() => {
                        let c = Candidate {
                            node: i,
                            victims,
                            num_pdb_violations: violations,
                        };
                        if violations == 0 {
                            non_violating.push(c);
                        } else {
                            violating.push(c);
                        }
                        if !non_violating.is_empty()
                            && non_violating.len() + violating.len() >= num_candidates
                        {
                            break;
                        }
                        continue;
                    }
                    Ok(_) => Status::error(format!(
                        "expected at least one victim pod on node {:?}",
                        snapshot.nodes[i].name()
                    )),
                    Err(status) => status,
                };
            if status.code == Code::Error {
                errors.push(status.to_string());
            }
            node_statuses.insert(i, status);
        }
        non_violating.extend(violating);
        DryRun {
            candidates: non_violating,
            node_statuses,
            errors,
        }
    }
}

impl PostFilterPlugin for DefaultPreemption {
    fn post_filter(
        &self,
        state: &CycleState,
        pod: &PodInfo,
        snapshot: &Snapshot,
        node_statuses: &BTreeMap<usize, Status>,
        handle: &dyn FrameworkHandle,
        rng: &mut dyn rand::RngCore,
    ) -> (Option<PostFilterResult>, Status) {
        let (result, status) = self.preempt(state, pod, snapshot, node_statuses, handle, rng);
        if status.reasons.is_empty() || status.reasons.iter().all(|r| r.is_empty()) {
            return (result, status);
        }
        let msg = status.reasons.join(", ");
        (
            result,
            Status::new(status.code, format!("preemption: {msg}")),
        )
    }
}

impl DefaultPreemption {
    /// kube-scheduler's `Evaluator.Preempt`, minus the API calls (the scheduler's driver deletes
    /// the victims and sets the nomination).
    fn preempt(
        &self,
        state: &CycleState,
        pod: &PodInfo,
        snapshot: &Snapshot,
        node_statuses: &BTreeMap<usize, Status>,
        handle: &dyn FrameworkHandle,
        rng: &mut dyn rand::RngCore,
    ) -> (Option<PostFilterResult>, Status) {
        // 1) Eligibility. A node absent from the statuses counts as UnschedulableAndUnresolvable.
        let nominated_code = snapshot
            .index_of(&pod.pod.status.nominated_node_name)
            .and_then(|i| node_statuses.get(&i))
            .map_or(Code::UnschedulableAndUnresolvable, |s| s.code);
        if let Err(msg) = pod_eligible_to_preempt_others(&pod.pod, snapshot, nominated_code) {
            return (None, Status::unschedulable(msg));
        }
        // 2) Candidates: nodes where preemption might help.
        if snapshot.is_empty() {
            return (None, Status::error("no nodes available"));
        }
        let potential: Vec<usize> = node_statuses
            .iter()
            .filter(|(_, s)| s.code == Code::Unschedulable)
            .map(|(&i, _)| i)
            .collect();
        let dry_run = if potential.is_empty() {
            DryRun {
                candidates: Vec::new(),
                node_statuses: BTreeMap::new(),
                errors: Vec::new(),
            }
        } else {
            let offset = (rng.next_u32() as usize) % potential.len();
            let num = self.num_candidates(potential.len());
            self.dry_run_preemption(handle, state, pod, snapshot, &potential, offset, num)
        };
        if !dry_run.errors.is_empty() && dry_run.candidates.is_empty() {
            return (None, Status::error(dry_run.errors.join(", ")));
        }
        if dry_run.candidates.is_empty() {
            let mut statuses = dry_run.node_statuses;
            for i in 0..snapshot.len() {
                statuses
                    .entry(i)
                    .or_insert_with(|| Status::unresolvable(ERR_NOT_HELPFUL));
            }
            let fit = FitError {
                num_all_nodes: snapshot.len(),
                diagnosis: Diagnosis {
                    node_to_status: statuses,
                    ..Diagnosis::default()
                },
                post_filter_result: None,
            };
            return (None, Status::unschedulable(fit.to_string()));
        }
        // 3) The best candidate.
        let Some(best) = pick_one_node_for_preemption(&dry_run.candidates) else {
            return (
                None,
                Status::unschedulable("no candidate node for preemption"),
            );
        };
        let best = &dry_run.candidates[best];
        let result = PostFilterResult {
            nominated_node: snapshot.nodes[best.node].name().to_string(),
            victims: best
                .victims
                .iter()
                .map(|v| (v.metadata.namespace.clone(), v.metadata.name.clone()))
                .collect(),
        };
        (Some(result), Status::success())
    }
}

#[cfg(test)]
#[path = "default_preemption_tests.rs"]
mod tests;
