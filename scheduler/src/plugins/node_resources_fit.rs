//! NodeResourcesFit: whether a node has room for the pod's requests (Filter), and how good the
//! node's allocation would be with the pod on it (Score), as kube-scheduler v1.34's
//! `noderesources/fit.go`.
//!
//! **Filter** compares the pod's *actual* requests (its effective requests: the larger of the
//! app containers plus sidecars and the init-phase peak, plus overhead) with what is left on the
//! node, `allocatable − requested` (the sums of the pods already there):
//!
//! - `pods on node + 1 > allocatable pods` → `Too many pods`;
//! - for CPU, memory, ephemeral storage and every scalar resource the pod requests (a zero
//!   request is never checked; extended resources named in `ignoredResources`, or whose domain is
//!   in `ignoredResourceGroups`, are skipped): `request > allocatable − requested` →
//!   `Insufficient <resource>`.
//!
//! Every failing resource is reported, as an [`InsufficientResource`] and as a reason. The status
//! is `UnschedulableAndUnresolvable` when some request exceeds the node's whole allocatable
//! (preemption cannot help there), `Unschedulable` otherwise.
//!
//! **Score** uses the configured strategy over the configured resources (see
//! [`resource_allocation`](super::resource_allocation) for which requests count): LeastAllocated
//! (the default, cpu and memory with weight 1), MostAllocated, or RequestedToCapacityRatio with a
//! utilization → score shape whose scores (0–10) are scaled by 10; RequestedToCapacityRatio only
//! counts resources scoring above 0 and rounds `Σ score·weight / Σ weight` to the nearest integer.
//! Scores are final (no NormalizeScore).

use std::collections::BTreeSet;

use flotilla_model::api::is_extended_resource_name;
use flotilla_model::validation::is_qualified_name;
use flotilla_model::{ErrorList, FieldError, FieldPath, SetDefaults};
use serde::{Deserialize, Serialize};

use crate::framework::{
    Code, CycleState, FilterPlugin, Plugin, PreFilterPlugin, PreFilterResult, PreScorePlugin,
    Reason, Reasons, ScorePlugin, Status, MAX_NODE_SCORE,
};
use crate::node_info::{NodeInfo, PodInfo};
use crate::plugins::resource_allocation::{
    default_resources, least_requested_score, most_requested_score, BrokenLinearFunction,
    ResourceAllocationScorer, ResourceSpec,
};
use crate::snapshot::Snapshot;

/// The plugin's name in a KubeSchedulerConfiguration.
pub const NAME: &str = "NodeResourcesFit";
/// The CycleState key of what PreFilter computes ([`FitRequest`]), as kube-scheduler names it.
pub const PRE_FILTER_STATE_KEY: &str = "PreFilterNodeResourcesFit";
/// The CycleState key of what PreScore computes (the pod's request of each scored resource).
pub const PRE_SCORE_STATE_KEY: &str = "PreScoreNodeResourcesFit";
/// The highest score of a RequestedToCapacityRatio shape point (`config.MaxCustomPriorityScore`).
pub const MAX_CUSTOM_PRIORITY_SCORE: i64 = 10;

/// The scoring strategies (kube-scheduler's `config.ScoringStrategyType`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ScoringStrategyType {
    /// Favour nodes with the most free resources (spreading).
    LeastAllocated,
    /// Favour nodes with the least free resources (bin packing).
    MostAllocated,
    /// Score utilization with a configurable piecewise-linear shape.
    RequestedToCapacityRatio,
}

impl ScoringStrategyType {
    /// Every strategy, in the (sorted) order kube-scheduler lists them in errors.
    pub const ALL: [ScoringStrategyType; 3] = [
        ScoringStrategyType::LeastAllocated,
        ScoringStrategyType::MostAllocated,
        ScoringStrategyType::RequestedToCapacityRatio,
    ];

    /// The strategy's name in configuration (`LeastAllocated`).
    pub fn as_str(self) -> &'static str {
        match self {
            ScoringStrategyType::LeastAllocated => "LeastAllocated",
            ScoringStrategyType::MostAllocated => "MostAllocated",
            ScoringStrategyType::RequestedToCapacityRatio => "RequestedToCapacityRatio",
        }
    }

    /// The strategy with this configuration name, if any.
    pub fn parse(name: &str) -> Option<ScoringStrategyType> {
        ScoringStrategyType::ALL
            .into_iter()
            .find(|t| t.as_str() == name)
    }
}

/// The args of NodeResourcesFit (kube-scheduler's `NodeResourcesFitArgs`, v1 field names).
///
/// [`Default`] is kube-scheduler's v1 default: LeastAllocated over cpu and memory, weight 1.
/// After decoding args from a configuration, call [`SetDefaults::set_defaults`] as
/// kube-scheduler's scheme does ([`NodeResourcesFit::new`] does it too).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct NodeResourcesFitArgs {
    /// Resources the Filter does not check (only extended resources are ever ignored).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub ignored_resources: Vec<String>,
    /// Domains (`example.com`) of extended resources the Filter does not check.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub ignored_resource_groups: Vec<String>,
    /// How nodes are scored; required (defaulted when absent).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub scoring_strategy: Option<ScoringStrategy>,
}

impl Default for NodeResourcesFitArgs {
    fn default() -> Self {
        NodeResourcesFitArgs {
            ignored_resources: Vec::new(),
            ignored_resource_groups: Vec::new(),
            scoring_strategy: Some(ScoringStrategy::default()),
        }
    }
}

/// A scoring strategy and the resources it scores (kube-scheduler's `ScoringStrategy`).
///
/// [`Default`] is LeastAllocated over cpu and memory. When decoded, absent fields stay empty
/// as in kube-scheduler (an absent `type` is rejected by validation; absent `resources` are
/// defaulted by [`SetDefaults::set_defaults`] on the args).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ScoringStrategy {
    /// The strategy's name: `LeastAllocated`, `MostAllocated` or `RequestedToCapacityRatio`.
    #[serde(default, rename = "type")]
    pub r#type: String,
    /// The resources scored, with their weights.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub resources: Vec<ResourceSpec>,
    /// The shape, for `RequestedToCapacityRatio` only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub requested_to_capacity_ratio: Option<RequestedToCapacityRatioParam>,
}

impl Default for ScoringStrategy {
    fn default() -> Self {
        ScoringStrategy {
            r#type: ScoringStrategyType::LeastAllocated.as_str().to_string(),
            resources: default_resources(),
            requested_to_capacity_ratio: None,
        }
    }
}

/// The parameters of RequestedToCapacityRatio (kube-scheduler's
/// `RequestedToCapacityRatioParam`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct RequestedToCapacityRatioParam {
    /// Points of the utilization → score function, utilization strictly increasing.
    pub shape: Vec<UtilizationShapePoint>,
}

/// One point of a RequestedToCapacityRatio shape (kube-scheduler's `UtilizationShapePoint`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct UtilizationShapePoint {
    /// Utilization in percent, 0–100.
    pub utilization: i32,
    /// Score, 0–10 (scaled to 0–100 when scoring).
    pub score: i32,
}

impl SetDefaults for NodeResourcesFitArgs {
    /// kube-scheduler's `SetDefaults_NodeResourcesFitArgs` (apis/config/v1/defaults.go): a missing
    /// scoring strategy becomes LeastAllocated over cpu and memory, empty resources become cpu and
    /// memory, and weights of 0 become 1.
    fn set_defaults(&mut self) {
        let strategy = self
            .scoring_strategy
            .get_or_insert_with(ScoringStrategy::default);
        if strategy.resources.is_empty() {
            strategy.resources = default_resources();
        }
        for r in &mut strategy.resources {
            r.set_default_weight();
        }
    }
}

impl NodeResourcesFitArgs {
    /// Checks the args as kube-scheduler's `ValidateNodeResourcesFitArgs` does
    /// (apis/config/validation/validation_pluginargs.go, v1.34), with field paths under `path`.
    ///
    /// One addition: a RequestedToCapacityRatio strategy without `requestedToCapacityRatio` is
    /// rejected (`Required value: must be specified when type is RequestedToCapacityRatio`, the
    /// check kube-scheduler added after v1.34, whose plugin dereferences the missing shape).
    pub fn validate(&self, path: &FieldPath) -> Result<(), ErrorList> {
        let mut errs = ErrorList::new();
        let res_path = path.child("ignoredResources");
        for (i, res) in self.ignored_resources.iter().enumerate() {
            validate_label_name(res, &res_path.index(i), &mut errs);
        }
        let group_path = path.child("ignoredResourceGroups");
        for (i, group) in self.ignored_resource_groups.iter().enumerate() {
            let p = group_path.index(i);
            if group.contains('/') {
                errs.push(FieldError::invalid(
                    &p,
                    group,
                    "resource group name can't contain '/'",
                ));
            }
            validate_label_name(group, &p, &mut errs);
        }
        let strategy_path = path.child("scoringStrategy");
        match &self.scoring_strategy {
            None => errs.push(FieldError::required(
                &strategy_path,
                "ScoringStrategy field is required",
            )),
            Some(strategy) => {
                let kind = ScoringStrategyType::parse(&strategy.r#type);
                if kind.is_none() {
                    let supported: Vec<&str> = ScoringStrategyType::ALL
                        .iter()
                        .map(|t| t.as_str())
                        .collect();
                    errs.push(FieldError::not_supported(
                        &strategy_path.child("type"),
                        &strategy.r#type,
                        &supported,
                    ));
                }
                validate_resources(
                    &strategy.resources,
                    &strategy_path.child("resources"),
                    &mut errs,
                );
                match &strategy.requested_to_capacity_ratio {
                    // kube-scheduler v1.34 reports shape errors at `scoringStrategy.shape`.
                    Some(param) => validate_function_shape(
                        &param.shape,
                        &strategy_path.child("shape"),
                        &mut errs,
                    ),
                    None if kind == Some(ScoringStrategyType::RequestedToCapacityRatio) => errs
                        .push(FieldError::required(
                            &strategy_path.child("requestedToCapacityRatio"),
                            "must be specified when type is RequestedToCapacityRatio",
                        )),
                    None => {}
                }
            }
        }
        if errs.is_empty() {
            Ok(())
        } else {
            Err(errs)
        }
    }
}

/// `metav1validation.ValidateLabelName`: one Invalid error per qualified-name problem.
fn validate_label_name(name: &str, path: &FieldPath, errs: &mut ErrorList) {
    for msg in is_qualified_name(name) {
        errs.push(FieldError::invalid(path, name, msg));
    }
}

/// `validateResources`: weights must lie in (0, 100].
fn validate_resources(resources: &[ResourceSpec], path: &FieldPath, errs: &mut ErrorList) {
    for (i, r) in resources.iter().enumerate() {
        if r.weight <= 0 || r.weight > 100 {
            errs.push(FieldError::invalid(
                &path.index(i).child("weight"),
                r.weight,
                format!("resource weight of {} not in valid range (0, 100]", r.name),
            ));
        }
    }
}

/// `validateFunctionShape`: at least one point, utilization strictly increasing and in
/// [0, 100], scores in [0, 10].
fn validate_function_shape(
    shape: &[UtilizationShapePoint],
    path: &FieldPath,
    errs: &mut ErrorList,
) {
    if shape.is_empty() {
        errs.push(FieldError::required(
            path,
            "at least one point must be specified",
        ));
        return;
    }
    for i in 1..shape.len() {
        if shape[i - 1].utilization >= shape[i].utilization {
            errs.push(FieldError::invalid(
                &path.index(i).child("utilization"),
                shape[i].utilization,
                "values must be sorted in increasing order",
            ));
            break;
        }
    }
    for (i, point) in shape.iter().enumerate() {
        if !(0..=100).contains(&point.utilization) {
            errs.push(FieldError::invalid(
                &path.index(i).child("utilization"),
                point.utilization,
                "not in valid range [0, 100]",
            ));
        }
        if !(0..=MAX_CUSTOM_PRIORITY_SCORE).contains(&i64::from(point.score)) {
            errs.push(FieldError::invalid(
                &path.index(i).child("score"),
                point.score,
                format!("not in valid range [0, {MAX_CUSTOM_PRIORITY_SCORE}]"),
            ));
        }
    }
}

/// A resource the pod needs more of than the node has left (kube-scheduler's
/// `InsufficientResource`). Preemption and the "0/N nodes are available" message use it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InsufficientResource {
    /// The resource (`cpu`, `pods`, `nvidia.com/gpu`).
    pub resource_name: Reason,
    /// The reason as printed (`Insufficient cpu`, `Too many pods`).
    pub reason: Reason,
    /// What the pod requests (1 for `pods`), in millicores for CPU.
    pub requested: i64,
    /// What the node's pods already request.
    pub used: i64,
    /// What the node offers (allocatable).
    pub capacity: i64,
    /// Whether the request exceeds the node's whole allocatable, so that evicting pods cannot
    /// make room.
    pub unresolvable: bool,
}

/// The requests the Filter checks, computed once per pod (kube-scheduler's `preFilterState`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct FitRequest {
    /// CPU in millicores.
    pub milli_cpu: i64,
    /// Memory in bytes.
    pub memory: i64,
    /// Local ephemeral storage in bytes.
    pub ephemeral_storage: i64,
    /// Scalar resources with a non-zero request that are not ignored, by name.
    pub scalar_resources: Vec<(String, i64)>,
}

impl FitRequest {
    /// The pod's effective requests, leaving out zero scalar requests and the extended resources
    /// that `ignored` names or whose domain `ignored_groups` names.
    pub fn new(
        pod: &PodInfo,
        ignored: &BTreeSet<String>,
        ignored_groups: &BTreeSet<String>,
    ) -> FitRequest {
        let r = &pod.requests;
        let scalar_resources = r
            .scalar_resources
            .iter()
            .filter(|(name, &q)| {
                if q == 0 {
                    return false;
                }
                if is_extended_resource_name(name) {
                    let group = name.split('/').next().unwrap_or("");
                    if ignored.contains(name.as_str()) || ignored_groups.contains(group) {
                        return false;
                    }
                }
                true
            })
            .map(|(name, &q)| (name.clone(), q))
            .collect();
        FitRequest {
            milli_cpu: r.milli_cpu,
            memory: r.memory,
            ephemeral_storage: r.ephemeral_storage,
            scalar_resources,
        }
    }
}

/// One resource a pod asks more of than a node has left.
struct Shortfall<'a> {
    /// The resource.
    name: &'a str,
    /// The resource's name and the reason, when they are constants (every resource but the
    /// scalar ones).
    fixed: Option<(&'static str, &'static str)>,
    requested: i64,
    used: i64,
    capacity: i64,
    /// A full node can always be emptied by preemption, so pods are never unresolvable.
    never_unresolvable: bool,
}

impl Shortfall<'_> {
    fn resource_name(&self) -> Reason {
        match self.fixed {
            Some((name, _)) => Reason::from(name),
            None => Reason::from(self.name.to_string()),
        }
    }

    fn reason(&self) -> Reason {
        match self.fixed {
            Some((_, reason)) => Reason::from(reason),
            None => Reason::from(format!("Insufficient {}", self.name)),
        }
    }

    fn unresolvable(&self) -> bool {
        !self.never_unresolvable && self.requested > self.capacity
    }
}

/// Calls `f` for each resource of `request` that does not fit in what is left on `node`, in
/// kube-scheduler's `fitsRequest` order (pods, cpu, memory, ephemeral-storage, then the scalar
/// resources; kube-scheduler walks a Go map for those, so its order varies: ours is by name).
fn for_each_shortfall(request: &FitRequest, node: &NodeInfo, mut f: impl FnMut(Shortfall<'_>)) {
    let alloc = &node.allocatable;
    let used = &node.requested;
    let pods = node.pods.len() as i64;
    if pods + 1 > alloc.allowed_pod_number {
        f(Shortfall {
            name: "pods",
            fixed: Some(("pods", "Too many pods")),
            requested: 1,
            used: pods,
            capacity: alloc.allowed_pod_number,
            never_unresolvable: true,
        });
    }
    let fixed = [
        (
            "cpu",
            "Insufficient cpu",
            request.milli_cpu,
            used.milli_cpu,
            alloc.milli_cpu,
        ),
        (
            "memory",
            "Insufficient memory",
            request.memory,
            used.memory,
            alloc.memory,
        ),
        (
            "ephemeral-storage",
            "Insufficient ephemeral-storage",
            request.ephemeral_storage,
            used.ephemeral_storage,
            alloc.ephemeral_storage,
        ),
    ];
    for (name, reason, requested, in_use, capacity) in fixed {
        if requested > 0 && requested > capacity.wrapping_sub(in_use) {
            f(Shortfall {
                name,
                fixed: Some((name, reason)),
                requested,
                used: in_use,
                capacity,
                never_unresolvable: false,
            });
        }
    }
    for (name, q) in &request.scalar_resources {
        let capacity = alloc.scalar_resources.get(name).copied().unwrap_or(0);
        let in_use = used.scalar_resources.get(name).copied().unwrap_or(0);
        if *q > capacity.wrapping_sub(in_use) {
            f(Shortfall {
                name,
                fixed: None,
                requested: *q,
                used: in_use,
                capacity,
                never_unresolvable: false,
            });
        }
    }
}

/// Checks `request` against what is left on `node` (kube-scheduler's `fitsRequest`); empty when
/// the pod fits. Allocates only for the resources that do not fit.
pub fn fits_request(request: &FitRequest, node: &NodeInfo) -> Vec<InsufficientResource> {
    let mut out = Vec::new();
    for_each_shortfall(request, node, |s| {
        out.push(InsufficientResource {
            resource_name: s.resource_name(),
            reason: s.reason(),
            requested: s.requested,
            used: s.used,
            capacity: s.capacity,
            unresolvable: s.unresolvable(),
        })
    });
    out
}

/// The Filter's verdict on `node`: [`fits_request`] made a status without the list.
fn filter_status(request: &FitRequest, node: &NodeInfo) -> Status {
    let mut reasons = Reasons::new();
    let mut unresolvable = false;
    for_each_shortfall(request, node, |s| {
        unresolvable |= s.unresolvable();
        reasons.push(s.reason());
    });
    if reasons.is_empty() {
        return Status::success();
    }
    let mut status = Status::success();
    status.code = if unresolvable {
        Code::UnschedulableAndUnresolvable
    } else {
        Code::Unschedulable
    };
    status.reasons = reasons;
    status
}

/// Whether `pod` fits on `node`, with no resource ignored (kube-scheduler's `Fits`, used by
/// preemption and the scheduling queue); the insufficient resources, empty when it fits.
pub fn fits(pod: &PodInfo, node: &NodeInfo) -> Vec<InsufficientResource> {
    fits_request(
        &FitRequest::new(pod, &BTreeSet::new(), &BTreeSet::new()),
        node,
    )
}

/// The scoring formula, resolved from the args.
#[derive(Clone, Debug)]
enum Strategy {
    LeastAllocated,
    MostAllocated,
    RequestedToCapacityRatio(BrokenLinearFunction),
}

/// What PreScore computes: the pod's request of each scored resource, in configuration order.
#[derive(Clone, Debug)]
struct PreScoreState {
    pod_requests: Vec<i64>,
}

/// The NodeResourcesFit plugin (PreFilter, Filter, PreScore, Score).
#[derive(Clone, Debug)]
pub struct NodeResourcesFit {
    ignored_resources: BTreeSet<String>,
    ignored_resource_groups: BTreeSet<String>,
    strategy_type: ScoringStrategyType,
    strategy: Strategy,
    scorer: ResourceAllocationScorer,
}

impl NodeResourcesFit {
    /// Builds the plugin from its args: applies kube-scheduler's v1 defaults, then validates
    /// (kube-scheduler's `NewFit`). The errors carry paths relative to the args.
    pub fn new(mut args: NodeResourcesFitArgs) -> Result<NodeResourcesFit, ErrorList> {
        args.set_defaults();
        args.validate(&FieldPath::root())?;
        let strategy_args = args.scoring_strategy.unwrap_or_default();
        let strategy_type = ScoringStrategyType::parse(&strategy_args.r#type)
            .unwrap_or(ScoringStrategyType::LeastAllocated);
        let strategy = match strategy_type {
            ScoringStrategyType::LeastAllocated => Strategy::LeastAllocated,
            ScoringStrategyType::MostAllocated => Strategy::MostAllocated,
            ScoringStrategyType::RequestedToCapacityRatio => {
                // Shape scores are 0–10; scale them to the scheduler's 0–100
                // (requested_to_capacity_ratio.go, requestedToCapacityRatioScorer).
                let scale = MAX_NODE_SCORE / MAX_CUSTOM_PRIORITY_SCORE;
                let points = strategy_args
                    .requested_to_capacity_ratio
                    .map(|p| p.shape)
                    .unwrap_or_default()
                    .iter()
                    .map(|p| (i64::from(p.utilization), i64::from(p.score) * scale))
                    .collect();
                Strategy::RequestedToCapacityRatio(BrokenLinearFunction::new(points))
            }
        };
        Ok(NodeResourcesFit {
            ignored_resources: args.ignored_resources.into_iter().collect(),
            ignored_resource_groups: args.ignored_resource_groups.into_iter().collect(),
            strategy_type,
            strategy,
            scorer: ResourceAllocationScorer::new(&strategy_args.resources, false),
        })
    }

    /// The configured scoring strategy.
    pub fn scoring_strategy(&self) -> ScoringStrategyType {
        self.strategy_type
    }

    /// The requests the Filter checks for `pod`, with this plugin's ignored resources.
    pub fn fit_request(&self, pod: &PodInfo) -> FitRequest {
        FitRequest::new(pod, &self.ignored_resources, &self.ignored_resource_groups)
    }

    /// The resources `pod` lacks on `node`, using the request PreFilter stored in `state` (or
    /// computing it when PreFilter did not run). Empty when the pod fits.
    pub fn insufficient_resources(
        &self,
        state: &CycleState,
        pod: &PodInfo,
        node: &NodeInfo,
    ) -> Vec<InsufficientResource> {
        match state.read::<FitRequest>(PRE_FILTER_STATE_KEY) {
            Some(request) => fits_request(request, node),
            None => fits_request(&self.fit_request(pod), node),
        }
    }

    /// The node's score for a pod with these per-resource requests (`resourceAllocationScorer.score`).
    fn score_with(&self, node: &NodeInfo, pod_requests: &[i64]) -> Result<i64, Status> {
        if self.scorer.is_empty() {
            return Err(Status::error("resources not found"));
        }
        let mut node_score = 0i64;
        let mut weight_sum = 0i64;
        match &self.strategy {
            // least_allocated.go
            Strategy::LeastAllocated => {
                self.scorer
                    .for_each(node, pod_requests, |alloc, req, weight| {
                        node_score = node_score
                            .wrapping_add(least_requested_score(req, alloc).wrapping_mul(weight));
                        weight_sum += weight;
                    })
            }
            // most_allocated.go
            Strategy::MostAllocated => {
                self.scorer
                    .for_each(node, pod_requests, |alloc, req, weight| {
                        node_score = node_score
                            .wrapping_add(most_requested_score(req, alloc).wrapping_mul(weight));
                        weight_sum += weight;
                    })
            }
            // requested_to_capacity_ratio.go: only resources scoring above 0 count, and the
            // weighted mean is rounded (math.Round: halves away from zero).
            Strategy::RequestedToCapacityRatio(shape) => {
                self.scorer
                    .for_each(node, pod_requests, |alloc, req, weight| {
                        let utilization = if req > alloc {
                            100
                        } else {
                            req.wrapping_mul(100) / alloc
                        };
                        let s = shape.eval(utilization);
                        if s > 0 {
                            node_score = node_score.wrapping_add(s.wrapping_mul(weight));
                            weight_sum += weight;
                        }
                    });
                if weight_sum == 0 {
                    return Ok(0);
                }
                return Ok((node_score as f64 / weight_sum as f64).round() as i64);
            }
        }
        if weight_sum == 0 {
            return Ok(0);
        }
        Ok(node_score / weight_sum)
    }
}

impl Plugin for NodeResourcesFit {
    fn name(&self) -> &'static str {
        NAME
    }
    /// Reads only the pod's spec and the node's own state (see [`Plugin::is_node_local`]).
    fn is_node_local(&self) -> bool {
        true
    }
    fn as_pre_filter(&self) -> Option<&dyn PreFilterPlugin> {
        Some(self)
    }
    fn as_filter(&self) -> Option<&dyn FilterPlugin> {
        Some(self)
    }
    fn as_pre_score(&self) -> Option<&dyn PreScorePlugin> {
        Some(self)
    }
    fn as_score(&self) -> Option<&dyn ScorePlugin> {
        Some(self)
    }
}

impl PreFilterPlugin for NodeResourcesFit {
    fn pre_filter(
        &self,
        state: &mut CycleState,
        pod: &PodInfo,
        _snapshot: &Snapshot,
    ) -> (PreFilterResult, Status) {
        state.write(PRE_FILTER_STATE_KEY, self.fit_request(pod));
        (PreFilterResult::default(), Status::success())
    }
}

impl FilterPlugin for NodeResourcesFit {
    fn filter(&self, state: &CycleState, _pod: &PodInfo, node: &NodeInfo) -> Status {
        let Some(request) = state.read::<FitRequest>(PRE_FILTER_STATE_KEY) else {
            return Status::error(format!(
                "error reading {PRE_FILTER_STATE_KEY:?} from cycleState: not found"
            ));
        };
        filter_status(request, node)
    }
}

impl PreScorePlugin for NodeResourcesFit {
    fn pre_score(
        &self,
        state: &mut CycleState,
        pod: &PodInfo,
        _snapshot: &Snapshot,
        _feasible: &[usize],
    ) -> Status {
        state.write(
            PRE_SCORE_STATE_KEY,
            PreScoreState {
                pod_requests: self.scorer.pod_requests(pod),
            },
        );
        Status::success()
    }
}

impl ScorePlugin for NodeResourcesFit {
    fn has_score_extensions(&self) -> bool {
        // Its scores are final (no NormalizeScore).
        false
    }

    fn score(&self, state: &CycleState, pod: &PodInfo, node: &NodeInfo) -> Result<i64, Status> {
        match state.read::<PreScoreState>(PRE_SCORE_STATE_KEY) {
            Some(s) => self.score_with(node, &s.pod_requests),
            // As kube-scheduler: without PreScore, compute the requests here.
            None => self.score_with(node, &self.scorer.pod_requests(pod)),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use flotilla_model::api::{Node, Pod};
    use serde_json::{json, Value};

    use super::*;
    use crate::plugins::testing::{node, pod, run_score, simple_node};

    // ---- helpers mirroring kube-scheduler's fit_test.go ----------------------------------------

    const EXT_A: &str = "example.com/aaa";
    const EXT_B: &str = "example.com/bbb";
    const K8S_IO_A: &str = "kubernetes.io/something";
    const K8S_IO_B: &str = "subdomain.kubernetes.io/something";
    const HUGE_A: &str = "hugepages-2Mi";

    /// `framework.Resource` as `newResourcePod` turns it into a container's requests: cpu,
    /// memory, pods and ephemeral-storage always present, plus the scalars.
    fn res(milli_cpu: i64, memory: i64, ephemeral: i64, scalars: &[(&str, i64)]) -> Value {
        let mut m = serde_json::Map::new();
        m.insert("cpu".into(), json!(format!("{milli_cpu}m")));
        m.insert("memory".into(), json!(memory.to_string()));
        m.insert("pods".into(), json!("0"));
        m.insert("ephemeral-storage".into(), json!(ephemeral.to_string()));
        for (k, v) in scalars {
            m.insert((*k).into(), json!(v.to_string()));
        }
        Value::Object(m)
    }

    fn cm(milli_cpu: i64, memory: i64) -> Value {
        res(milli_cpu, memory, 0, &[])
    }

    fn containers(reqs: &[Value]) -> Value {
        Value::Array(
            reqs.iter()
                .enumerate()
                .map(|(i, r)| json!({"name": format!("c{i}"), "resources": {"requests": r}}))
                .collect(),
        )
    }

    /// `newResourcePod` / `newResourceInitPod` / `newResourceOverheadPod`.
    fn rpod(reqs: &[Value], init: &[Value], overhead: Option<Value>) -> Arc<Pod> {
        let mut spec = json!({"containers": containers(reqs), "initContainers": containers(init)});
        if let Some(o) = overhead {
            spec["overhead"] = o;
        }
        pod(json!({"metadata": {"name": "p"}, "spec": spec}))
    }

    fn alloc_node(
        milli_cpu: i64,
        memory: i64,
        pods: i64,
        ext_a: i64,
        storage: i64,
        huge_a: i64,
    ) -> Arc<Node> {
        let mut list = serde_json::Map::new();
        list.insert("cpu".into(), json!(format!("{milli_cpu}m")));
        list.insert("memory".into(), json!(memory.to_string()));
        list.insert("pods".into(), json!(pods.to_string()));
        list.insert(EXT_A.into(), json!(ext_a.to_string()));
        list.insert("ephemeral-storage".into(), json!(storage.to_string()));
        list.insert(HUGE_A.into(), json!(huge_a.to_string()));
        node(json!({"metadata": {"name": "n"}, "status": {"capacity": list, "allocatable": list}}))
    }

    fn node_info(n: Arc<Node>, pods: &[Arc<Pod>]) -> NodeInfo {
        let mut info = NodeInfo::new(n);
        for p in pods {
            info.add_pod(PodInfo::new(p.clone()));
        }
        info
    }

    fn filter_with(
        args: NodeResourcesFitArgs,
        p: &Arc<Pod>,
        info: &NodeInfo,
    ) -> (Status, Vec<InsufficientResource>) {
        let plugin = NodeResourcesFit::new(args).expect("valid args");
        let pi = PodInfo::new(p.clone());
        let mut state = CycleState::new();
        let (_, pre) = plugin.pre_filter(&mut state, &pi, &Snapshot::default());
        assert!(pre.is_success(), "prefilter: {pre}");
        let status = plugin.filter(&state, &pi, info);
        (status, plugin.insufficient_resources(&state, &pi, info))
    }

    fn ir(
        name: &str,
        requested: i64,
        used: i64,
        capacity: i64,
        unresolvable: bool,
    ) -> InsufficientResource {
        InsufficientResource {
            resource_name: name.to_string().into(),
            reason: format!("Insufficient {name}").into(),
            requested,
            used,
            capacity,
            unresolvable,
        }
    }

    fn unsched(reasons: &[&str]) -> Status {
        Status::with_reasons(
            Code::Unschedulable,
            reasons.iter().map(|s| s.to_string().into()).collect(),
        )
    }

    fn unresolvable(reasons: &[&str]) -> Status {
        Status::with_reasons(
            Code::UnschedulableAndUnresolvable,
            reasons.iter().map(|s| s.to_string().into()).collect(),
        )
    }

    fn ignoring(resources: &[&str], groups: &[&str]) -> NodeResourcesFitArgs {
        NodeResourcesFitArgs {
            ignored_resources: resources.iter().map(|s| s.to_string()).collect(),
            ignored_resource_groups: groups.iter().map(|s| s.to_string()).collect(),
            ..Default::default()
        }
    }

    // ---- Filter: TestEnoughRequests -------------------------------------------------------------

    #[test]
    fn enough_requests_table() {
        struct Case {
            name: &'static str,
            pod: Arc<Pod>,
            existing: Arc<Pod>,
            args: NodeResourcesFitArgs,
            want: Vec<InsufficientResource>,
            status: Status,
        }
        let ok = Status::success;
        let d = NodeResourcesFitArgs::default;
        let e = |s: &[(&str, i64)]| res(0, 0, 0, s);
        let cases = vec![
            Case { name: "no resources requested always fits", pod: rpod(&[], &[], None), existing: rpod(&[cm(10, 20)], &[], None), args: d(), want: vec![], status: ok() },
            Case {
                name: "too many resources fails",
                pod: rpod(&[cm(1, 1)], &[], None),
                existing: rpod(&[cm(10, 20)], &[], None),
                args: d(),
                want: vec![ir("cpu", 1, 10, 10, false), ir("memory", 1, 20, 20, false)],
                status: unsched(&["Insufficient cpu", "Insufficient memory"]),
            },
            Case {
                name: "too many resources fails due to init container cpu",
                pod: rpod(&[cm(1, 1)], &[cm(3, 1)], None),
                existing: rpod(&[cm(8, 19)], &[], None),
                args: d(),
                want: vec![ir("cpu", 3, 8, 10, false)],
                status: unsched(&["Insufficient cpu"]),
            },
            Case {
                name: "too many resources fails due to highest init container cpu",
                pod: rpod(&[cm(1, 1)], &[cm(3, 1), cm(2, 1)], None),
                existing: rpod(&[cm(8, 19)], &[], None),
                args: d(),
                want: vec![ir("cpu", 3, 8, 10, false)],
                status: unsched(&["Insufficient cpu"]),
            },
            Case {
                name: "too many resources fails due to init container memory",
                pod: rpod(&[cm(1, 1)], &[cm(1, 3)], None),
                existing: rpod(&[cm(9, 19)], &[], None),
                args: d(),
                want: vec![ir("memory", 3, 19, 20, false)],
                status: unsched(&["Insufficient memory"]),
            },
            Case {
                name: "too many resources fails due to highest init container memory",
                pod: rpod(&[cm(1, 1)], &[cm(1, 3), cm(1, 2)], None),
                existing: rpod(&[cm(9, 19)], &[], None),
                args: d(),
                want: vec![ir("memory", 3, 19, 20, false)],
                status: unsched(&["Insufficient memory"]),
            },
            Case { name: "init container fits because it's the max, not sum, of containers and init containers", pod: rpod(&[cm(1, 1)], &[cm(1, 1)], None), existing: rpod(&[cm(9, 19)], &[], None), args: d(), want: vec![], status: ok() },
            Case { name: "multiple init containers fit because it's the max, not sum, of containers and init containers", pod: rpod(&[cm(1, 1)], &[cm(1, 1), cm(1, 1)], None), existing: rpod(&[cm(9, 19)], &[], None), args: d(), want: vec![], status: ok() },
            Case { name: "both resources fit", pod: rpod(&[cm(1, 1)], &[], None), existing: rpod(&[cm(5, 5)], &[], None), args: d(), want: vec![], status: ok() },
            Case {
                name: "one resource memory fits",
                pod: rpod(&[cm(2, 1)], &[], None),
                existing: rpod(&[cm(9, 5)], &[], None),
                args: d(),
                want: vec![ir("cpu", 2, 9, 10, false)],
                status: unsched(&["Insufficient cpu"]),
            },
            Case {
                name: "one resource cpu fits",
                pod: rpod(&[cm(1, 2)], &[], None),
                existing: rpod(&[cm(5, 19)], &[], None),
                args: d(),
                want: vec![ir("memory", 2, 19, 20, false)],
                status: unsched(&["Insufficient memory"]),
            },
            Case { name: "equal edge case", pod: rpod(&[cm(5, 1)], &[], None), existing: rpod(&[cm(5, 19)], &[], None), args: d(), want: vec![], status: ok() },
            Case { name: "equal edge case for init container", pod: rpod(&[cm(4, 1)], &[cm(5, 1)], None), existing: rpod(&[cm(5, 19)], &[], None), args: d(), want: vec![], status: ok() },
            Case { name: "extended resource fits", pod: rpod(&[e(&[(EXT_A, 1)])], &[], None), existing: rpod(&[e(&[])], &[], None), args: d(), want: vec![], status: ok() },
            Case { name: "extended resource fits for init container", pod: rpod(&[], &[e(&[(EXT_A, 1)])], None), existing: rpod(&[e(&[])], &[], None), args: d(), want: vec![], status: ok() },
            Case {
                name: "extended resource capacity enforced",
                pod: rpod(&[res(1, 1, 0, &[(EXT_A, 10)])], &[], None),
                existing: rpod(&[e(&[(EXT_A, 0)])], &[], None),
                args: d(),
                want: vec![ir(EXT_A, 10, 0, 5, true)],
                status: unresolvable(&["Insufficient example.com/aaa"]),
            },
            Case {
                name: "extended resource capacity enforced for init container",
                pod: rpod(&[], &[res(1, 1, 0, &[(EXT_A, 10)])], None),
                existing: rpod(&[e(&[(EXT_A, 0)])], &[], None),
                args: d(),
                want: vec![ir(EXT_A, 10, 0, 5, true)],
                status: unresolvable(&["Insufficient example.com/aaa"]),
            },
            Case {
                name: "extended resource allocatable enforced",
                pod: rpod(&[res(1, 1, 0, &[(EXT_A, 1)])], &[], None),
                existing: rpod(&[e(&[(EXT_A, 5)])], &[], None),
                args: d(),
                want: vec![ir(EXT_A, 1, 5, 5, false)],
                status: unsched(&["Insufficient example.com/aaa"]),
            },
            Case {
                name: "extended resource allocatable enforced for init container",
                pod: rpod(&[], &[res(1, 1, 0, &[(EXT_A, 1)])], None),
                existing: rpod(&[e(&[(EXT_A, 5)])], &[], None),
                args: d(),
                want: vec![ir(EXT_A, 1, 5, 5, false)],
                status: unsched(&["Insufficient example.com/aaa"]),
            },
            Case {
                name: "extended resource allocatable enforced for multiple containers",
                pod: rpod(&[res(1, 1, 0, &[(EXT_A, 3)]), res(1, 1, 0, &[(EXT_A, 3)])], &[], None),
                existing: rpod(&[e(&[(EXT_A, 2)])], &[], None),
                args: d(),
                want: vec![ir(EXT_A, 6, 2, 5, true)],
                status: unresolvable(&["Insufficient example.com/aaa"]),
            },
            Case {
                name: "extended resource allocatable admits multiple init containers",
                pod: rpod(&[], &[res(1, 1, 0, &[(EXT_A, 3)]), res(1, 1, 0, &[(EXT_A, 3)])], None),
                existing: rpod(&[e(&[(EXT_A, 2)])], &[], None),
                args: d(),
                want: vec![],
                status: ok(),
            },
            Case {
                name: "extended resource allocatable enforced for multiple init containers",
                pod: rpod(&[], &[res(1, 1, 0, &[(EXT_A, 6)]), res(1, 1, 0, &[(EXT_A, 3)])], None),
                existing: rpod(&[e(&[(EXT_A, 2)])], &[], None),
                args: d(),
                want: vec![ir(EXT_A, 6, 2, 5, true)],
                status: unresolvable(&["Insufficient example.com/aaa"]),
            },
            Case {
                name: "extended resource allocatable enforced for unknown resource",
                pod: rpod(&[res(1, 1, 0, &[(EXT_B, 1)])], &[], None),
                existing: rpod(&[cm(0, 0)], &[], None),
                args: d(),
                want: vec![ir(EXT_B, 1, 0, 0, true)],
                status: unresolvable(&["Insufficient example.com/bbb"]),
            },
            Case {
                name: "extended resource allocatable enforced for unknown resource for init container",
                pod: rpod(&[], &[res(1, 1, 0, &[(EXT_B, 1)])], None),
                existing: rpod(&[cm(0, 0)], &[], None),
                args: d(),
                want: vec![ir(EXT_B, 1, 0, 0, true)],
                status: unresolvable(&["Insufficient example.com/bbb"]),
            },
            Case {
                name: "kubernetes.io resource capacity enforced",
                pod: rpod(&[res(1, 1, 0, &[(K8S_IO_A, 10)])], &[], None),
                existing: rpod(&[cm(0, 0)], &[], None),
                args: d(),
                want: vec![ir(K8S_IO_A, 10, 0, 0, true)],
                status: unresolvable(&["Insufficient kubernetes.io/something"]),
            },
            Case {
                name: "kubernetes.io resource capacity enforced for init container",
                pod: rpod(&[], &[res(1, 1, 0, &[(K8S_IO_B, 10)])], None),
                existing: rpod(&[cm(0, 0)], &[], None),
                args: d(),
                want: vec![ir(K8S_IO_B, 10, 0, 0, true)],
                status: unresolvable(&["Insufficient subdomain.kubernetes.io/something"]),
            },
            Case {
                name: "hugepages resource capacity enforced",
                pod: rpod(&[res(1, 1, 0, &[(HUGE_A, 10)])], &[], None),
                existing: rpod(&[e(&[(HUGE_A, 0)])], &[], None),
                args: d(),
                want: vec![ir(HUGE_A, 10, 0, 5, true)],
                status: unresolvable(&["Insufficient hugepages-2Mi"]),
            },
            Case {
                name: "hugepages resource capacity enforced for init container",
                pod: rpod(&[], &[res(1, 1, 0, &[(HUGE_A, 10)])], None),
                existing: rpod(&[e(&[(HUGE_A, 0)])], &[], None),
                args: d(),
                want: vec![ir(HUGE_A, 10, 0, 5, true)],
                status: unresolvable(&["Insufficient hugepages-2Mi"]),
            },
            Case {
                name: "hugepages resource allocatable enforced for multiple containers",
                pod: rpod(&[res(1, 1, 0, &[(HUGE_A, 3)]), res(1, 1, 0, &[(HUGE_A, 3)])], &[], None),
                existing: rpod(&[e(&[(HUGE_A, 2)])], &[], None),
                args: d(),
                want: vec![ir(HUGE_A, 6, 2, 5, true)],
                status: unresolvable(&["Insufficient hugepages-2Mi"]),
            },
            Case {
                name: "skip checking ignored extended resource",
                pod: rpod(&[res(1, 1, 0, &[(EXT_B, 1)])], &[], None),
                existing: rpod(&[cm(0, 0)], &[], None),
                args: ignoring(&["example.com/bbb"], &[]),
                want: vec![],
                status: ok(),
            },
            Case {
                name: "resources + pod overhead fits",
                pod: rpod(&[cm(1, 1)], &[], Some(json!({"cpu": "3m", "memory": "13"}))),
                existing: rpod(&[cm(5, 5)], &[], None),
                args: d(),
                want: vec![],
                status: ok(),
            },
            Case {
                name: "requests + overhead does not fit for memory",
                pod: rpod(&[cm(1, 1)], &[], Some(json!({"cpu": "1m", "memory": "15"}))),
                existing: rpod(&[cm(5, 5)], &[], None),
                args: d(),
                want: vec![ir("memory", 16, 5, 20, false)],
                status: unsched(&["Insufficient memory"]),
            },
            Case {
                name: "skip checking ignored extended resource via resource groups",
                pod: rpod(&[res(1, 1, 0, &[(EXT_B, 1), (K8S_IO_A, 1)])], &[], None),
                existing: rpod(&[cm(0, 0)], &[], None),
                args: ignoring(&[], &["example.com"]),
                want: vec![ir(K8S_IO_A, 1, 0, 0, true)],
                status: unresolvable(&["Insufficient kubernetes.io/something"]),
            },
            Case {
                name: "skip checking extended resource request with quantity zero via resource groups",
                pod: rpod(&[res(1, 1, 0, &[(EXT_A, 0)])], &[], None),
                existing: rpod(&[e(&[(EXT_A, 6)])], &[], None),
                args: d(),
                want: vec![],
                status: ok(),
            },
            Case {
                name: "skip checking resource request with quantity zero",
                pod: rpod(&[e(&[(EXT_A, 1)])], &[], None),
                existing: rpod(&[res(20, 30, 0, &[(EXT_A, 1)])], &[], None),
                args: d(),
                want: vec![],
                status: ok(),
            },
        ];
        assert_eq!(cases.len(), 35);
        for c in cases {
            let info = node_info(
                alloc_node(10, 20, 32, 5, 20, 5),
                std::slice::from_ref(&c.existing),
            );
            let (status, insufficient) = filter_with(c.args, &c.pod, &info);
            assert_eq!(status, c.status, "{}: status", c.name);
            assert_eq!(insufficient, c.want, "{}: insufficient resources", c.name);
        }
    }

    #[test]
    fn filter_without_pre_filter_is_an_error() {
        // TestPreFilterDisabled.
        let plugin = NodeResourcesFit::new(NodeResourcesFitArgs::default()).unwrap();
        let p = PodInfo::new(rpod(&[], &[], None));
        let info = node_info(alloc_node(0, 0, 0, 0, 0, 0), &[]);
        let status = plugin.filter(&CycleState::new(), &p, &info);
        assert_eq!(status.code, Code::Error);
    }

    #[test]
    fn not_enough_pods() {
        // TestNotEnoughRequests: allocatable pods = 1 and one pod already on the node.
        let cases = [
            ("even without specified resources, predicate fails when there's no space for additional pod", rpod(&[], &[], None), cm(10, 20)),
            ("even if both resources fit, predicate fails when there's no space for additional pod", rpod(&[cm(1, 1)], &[], None), cm(5, 5)),
            ("even for equal edge case, predicate fails when there's no space for additional pod", rpod(&[cm(5, 1)], &[], None), cm(5, 19)),
            (
                "even for equal edge case, predicate fails when there's no space for additional pod due to init container",
                rpod(&[cm(5, 1)], &[cm(5, 1)], None),
                cm(5, 19),
            ),
        ];
        for (name, p, existing) in cases {
            let info = node_info(
                alloc_node(10, 20, 1, 0, 0, 0),
                &[rpod(&[existing], &[], None)],
            );
            let (status, insufficient) = filter_with(NodeResourcesFitArgs::default(), &p, &info);
            assert_eq!(status, unsched(&["Too many pods"]), "{name}");
            assert_eq!(
                insufficient,
                vec![InsufficientResource {
                    resource_name: "pods".into(),
                    reason: "Too many pods".into(),
                    requested: 1,
                    used: 1,
                    capacity: 1,
                    unresolvable: false
                }],
                "{name}"
            );
        }
    }

    #[test]
    fn storage_requests() {
        // TestStorageRequests.
        let cases = [
            (
                "empty storage requested, and pod fits",
                rpod(&[cm(1, 1)], &[], None),
                cm(2, 10),
                Status::success(),
            ),
            (
                "storage ephemeral local storage request exceeds allocatable",
                rpod(&[res(0, 0, 25, &[])], &[], None),
                cm(2, 2),
                unresolvable(&["Insufficient ephemeral-storage"]),
            ),
            (
                "ephemeral local storage is sufficient",
                rpod(&[res(0, 0, 5, &[])], &[], None),
                res(2, 2, 10, &[]),
                Status::success(),
            ),
            (
                "pod fits",
                rpod(&[res(0, 0, 10, &[])], &[], None),
                cm(2, 2),
                Status::success(),
            ),
        ];
        for (name, p, existing, want) in cases {
            let info = node_info(
                alloc_node(10, 20, 32, 5, 20, 5),
                &[rpod(&[existing], &[], None)],
            );
            let (status, _) = filter_with(NodeResourcesFitArgs::default(), &p, &info);
            assert_eq!(status, want, "{name}");
        }
    }

    #[test]
    fn restartable_init_containers() {
        // TestRestartableInitContainers, with SidecarContainers on (GA and locked in v1.34); the
        // two cases that turn the feature off are not reproduced.
        let sidecar_pod = |req: Option<i64>, sidecar: Option<i64>| {
            let r = |m: Option<i64>| {
                m.map_or(json!({}), |m| json!({"requests": {"cpu": format!("{m}m")}}))
            };
            pod(json!({"metadata": {"name": "p"}, "spec": {
                "containers": [{"name": "regular", "resources": r(req)}],
                "initContainers": [{"name": "restartable-init", "restartPolicy": "Always", "resources": r(sidecar)}],
            }}))
        };
        let plain =
            pod(json!({"metadata": {"name": "p"}, "spec": {"containers": [{"name": "regular"}]}}));
        let cases = [
            ("allow pod without restartable init containers if sidecar containers is enabled", plain, Status::success()),
            ("allow pod with restartable init containers if sidecar containers is enabled", sidecar_pod(None, None), Status::success()),
            (
                "allow pod if the total requested resources do not exceed the node's allocatable resources",
                sidecar_pod(Some(1), Some(1)),
                Status::success(),
            ),
            (
                "not allow pod if the total requested resources do exceed the node's allocatable resources",
                sidecar_pod(Some(1), Some(2)),
                unresolvable(&["Insufficient cpu"]),
            ),
        ];
        for (name, p, want) in cases {
            let info = node_info(alloc_node(2, 0, 1, 0, 0, 0), &[]);
            let (status, _) = filter_with(NodeResourcesFitArgs::default(), &p, &info);
            assert_eq!(status, want, "{name}");
        }
    }

    // ---- Score --------------------------------------------------------------------------------

    fn strategy(
        kind: ScoringStrategyType,
        resources: &[(&str, i64)],
        shape: &[(i32, i32)],
    ) -> NodeResourcesFitArgs {
        NodeResourcesFitArgs {
            scoring_strategy: Some(ScoringStrategy {
                r#type: kind.as_str().to_string(),
                resources: resources
                    .iter()
                    .map(|(n, w)| ResourceSpec::new(n, *w))
                    .collect(),
                requested_to_capacity_ratio: (kind
                    == ScoringStrategyType::RequestedToCapacityRatio)
                    .then(|| RequestedToCapacityRatioParam {
                        shape: shape
                            .iter()
                            .map(|&(utilization, score)| UtilizationShapePoint {
                                utilization,
                                score,
                            })
                            .collect(),
                    }),
            }),
            ..Default::default()
        }
    }

    const DEFAULT_RESOURCES: &[(&str, i64)] = &[("cpu", 1), ("memory", 1)];
    const EXT_RES: &str = "abc.com/xyz";
    const EXTENDED_RESOURCE_SET: &[(&str, i64)] = &[("cpu", 1), ("memory", 1), (EXT_RES, 1)];

    /// `st.MakeNode().Name(name).Capacity(list)`: capacity and allocatable both `list`.
    fn cap_node(name: &str, list: &[(&str, &str)]) -> Arc<Node> {
        let list: serde_json::Map<String, Value> = list
            .iter()
            .map(|(k, v)| (k.to_string(), json!(v)))
            .collect();
        node(json!({"metadata": {"name": name}, "status": {"capacity": list, "allocatable": list}}))
    }

    /// `st.MakePod().Req(r1).Req(r2)…` (one container per request map), optionally on a node.
    fn req_pod(node_name: &str, reqs: &[&[(&str, &str)]]) -> Arc<Pod> {
        let cs: Vec<Value> = reqs
            .iter()
            .enumerate()
            .map(|(i, r)| {
                let m: serde_json::Map<String, Value> =
                    r.iter().map(|(k, v)| (k.to_string(), json!(v))).collect();
                json!({"name": format!("c{i}"), "resources": {"requests": m}})
            })
            .collect();
        pod(
            json!({"metadata": {"name": format!("p-{node_name}-{}", reqs.len())}, "spec": {"nodeName": node_name, "containers": cs}}),
        )
    }

    /// Runs the plugin's PreScore and Score over every node as kube-scheduler's tests do.
    fn scores(
        args: NodeResourcesFitArgs,
        p: &Arc<Pod>,
        nodes: &[Arc<Node>],
        existing: &[Arc<Pod>],
    ) -> Vec<i64> {
        let plugin = NodeResourcesFit::new(args).expect("valid args");
        run_score(&plugin, p, &Snapshot::new(nodes, existing, &[])).expect("not skipped")
    }

    /// Score without PreScore ("if PreScore is not called").
    fn scores_without_pre_score(
        args: NodeResourcesFitArgs,
        p: &Arc<Pod>,
        nodes: &[Arc<Node>],
        existing: &[Arc<Pod>],
    ) -> Vec<i64> {
        let plugin = NodeResourcesFit::new(args).expect("valid args");
        let snapshot = Snapshot::new(nodes, existing, &[]);
        let pi = PodInfo::new(p.clone());
        snapshot
            .nodes
            .iter()
            .map(|n| plugin.score(&CycleState::new(), &pi, n).expect("score"))
            .collect()
    }

    #[test]
    fn issue_examples_least_and_most_allocated() {
        // From the issue: containers {1000m, 2000} and {2000m, 3000}; empty nodes of
        // {4000m, 10000} and {6000m, 10000}.
        let p = req_pod(
            "",
            &[
                &[("cpu", "1000m"), ("memory", "2000")],
                &[("cpu", "2000m"), ("memory", "3000")],
            ],
        );
        let nodes = [
            simple_node("n1", 4000, 10000, &[]),
            simple_node("n2", 6000, 10000, &[]),
        ];
        assert_eq!(
            scores(NodeResourcesFitArgs::default(), &p, &nodes, &[]),
            vec![37, 50]
        );
        assert_eq!(
            scores(
                strategy(ScoringStrategyType::MostAllocated, DEFAULT_RESOURCES, &[]),
                &p,
                &nodes,
                &[]
            ),
            vec![62, 50]
        );
    }

    #[test]
    fn fit_score_table() {
        // TestFitScore (fit_test.go). The two DRA extended-resource cases are not reproduced:
        // Flotilla has no DRA.
        let nodes = [
            cap_node("node1", &[("cpu", "4000"), ("memory", "10000")]),
            cap_node("node2", &[("cpu", "6000"), ("memory", "10000")]),
        ];
        let existing = [
            req_pod("node1", &[&[("cpu", "2000"), ("memory", "4000")]]),
            req_pod("node2", &[&[("cpu", "1000"), ("memory", "2000")]]),
        ];
        let big = req_pod("", &[&[("cpu", "3000"), ("memory", "5000")]]);
        let small = req_pod("", &[&[("cpu", "1000"), ("memory", "2000")]]);
        let rtcr = |shape: &[(i32, i32)]| {
            strategy(
                ScoringStrategyType::RequestedToCapacityRatio,
                DEFAULT_RESOURCES,
                shape,
            )
        };
        let most = || strategy(ScoringStrategyType::MostAllocated, DEFAULT_RESOURCES, &[]);
        let least = || strategy(ScoringStrategyType::LeastAllocated, DEFAULT_RESOURCES, &[]);
        assert_eq!(
            scores(rtcr(&[(0, 10), (100, 0)]), &big, &nodes, &existing),
            vec![10, 32],
            "RequestedToCapacityRatio case1"
        );
        assert_eq!(
            scores(rtcr(&[(0, 0), (100, 10)]), &big, &nodes, &existing),
            vec![95, 68],
            "RequestedToCapacityRatio case2"
        );
        assert_eq!(
            scores(most(), &small, &nodes, &existing),
            vec![67, 36],
            "MostAllocated"
        );
        assert_eq!(
            scores(least(), &small, &nodes, &existing),
            vec![32, 63],
            "LeastAllocated"
        );
        assert_eq!(
            scores_without_pre_score(rtcr(&[(0, 10), (100, 0)]), &big, &nodes, &existing),
            vec![10, 32]
        );
        assert_eq!(
            scores_without_pre_score(most(), &small, &nodes, &existing),
            vec![67, 36]
        );
        assert_eq!(
            scores_without_pre_score(least(), &small, &nodes, &existing),
            vec![32, 63]
        );

        // With a sidecar on node1: its requests count on the node.
        let same = [
            cap_node("node1", &[("cpu", "4000"), ("memory", "10000")]),
            cap_node("node2", &[("cpu", "4000"), ("memory", "10000")]),
        ];
        let with_sidecar = pod(
            json!({"metadata": {"name": "s"}, "spec": {"nodeName": "node1",
            "containers": [{"name": "c", "resources": {"requests": {"cpu": "1000", "memory": "2000"}}}],
            "initContainers": [{"name": "s", "restartPolicy": "Always", "resources": {"requests": {"cpu": "1000", "memory": "2000"}}}]}}),
        );
        let existing = [
            with_sidecar,
            req_pod("node2", &[&[("cpu", "1000"), ("memory", "2000")]]),
        ];
        assert_eq!(
            scores(most(), &small, &same, &existing),
            vec![67, 45],
            "MostAllocated with sidecar container"
        );
        assert_eq!(
            scores(least(), &small, &same, &existing),
            vec![32, 55],
            "LeastAllocated with sidecar container"
        );
    }

    #[test]
    fn least_allocated_table() {
        // TestLeastAllocatedScoringStrategy (least_allocated_test.go). "Resources not set" is not
        // reproduced: defaulting (which kube-scheduler applies to every configuration) fills the
        // resources in, so no plugin without resources can be built; the validation cases are
        // in `validation_*` below.
        let l = |r: &[(&str, i64)]| strategy(ScoringStrategyType::LeastAllocated, r, &[]);
        let n4 = |n: &str| cap_node(n, &[("cpu", "4000"), ("memory", "10000")]);
        let n6 = |n: &str| cap_node(n, &[("cpu", "6000"), ("memory", "10000")]);
        let n10 = |n: &str, mem: &'static str| cap_node(n, &[("cpu", "10000"), ("memory", mem)]);
        let two = req_pod(
            "",
            &[
                &[("cpu", "1000"), ("memory", "2000")],
                &[("cpu", "2000"), ("memory", "3000")],
            ],
        );
        let empty = req_pod("", &[]);
        let on = |n: &str, cpu: &'static str, mem: &'static str| {
            req_pod(n, &[&[("cpu", cpu), ("memory", mem)]])
        };

        assert_eq!(
            scores(
                l(DEFAULT_RESOURCES),
                &empty,
                &[n4("node1"), n4("node2")],
                &[]
            ),
            vec![100, 100],
            "nothing scheduled, nothing requested"
        );
        assert_eq!(
            scores(l(DEFAULT_RESOURCES), &two, &[n4("node1"), n6("node2")], &[]),
            vec![37, 50],
            "differently sized nodes"
        );
        let bare = |n: &str| {
            pod(json!({"metadata": {"name": format!("bare-{n}")}, "spec": {"nodeName": n}}))
        };
        assert_eq!(
            scores(
                l(DEFAULT_RESOURCES),
                &empty,
                &[n4("node1"), n4("node2")],
                &[bare("node1"), bare("node1"), bare("node2"), bare("node2")]
            ),
            vec![100, 100],
            "no resources requested, pods scheduled"
        );
        let existing = [
            on("node1", "3000", "0"),
            on("node1", "3000", "0"),
            on("node2", "3000", "0"),
            on("node2", "3000", "5000"),
        ];
        assert_eq!(
            scores(
                l(DEFAULT_RESOURCES),
                &empty,
                &[n10("node1", "20000"), n10("node2", "20000")],
                &existing
            ),
            vec![70, 57],
            "no resources requested, pods scheduled with resources"
        );
        let existing = [on("node1", "3000", "0"), on("node2", "3000", "5000")];
        assert_eq!(
            scores(
                l(DEFAULT_RESOURCES),
                &two,
                &[n10("node1", "20000"), n10("node2", "20000")],
                &existing
            ),
            vec![57, 45]
        );
        assert_eq!(
            scores(
                l(DEFAULT_RESOURCES),
                &two,
                &[n10("node1", "20000"), n10("node2", "50000")],
                &existing
            ),
            vec![57, 60]
        );
        let cpu_only = req_pod("", &[&[("cpu", "3000"), ("memory", "0")]]);
        assert_eq!(
            scores(
                l(DEFAULT_RESOURCES),
                &cpu_only,
                &[n4("node1"), n4("node2")],
                &existing
            ),
            vec![50, 25],
            "requested resources exceed node capacity"
        );
        assert_eq!(
            scores(
                l(DEFAULT_RESOURCES),
                &empty,
                &[cap_node("node1", &[]), cap_node("node2", &[])],
                &existing
            ),
            vec![0, 0],
            "zero node resources, pods scheduled with resources"
        );
        assert_eq!(
            scores(
                l(&[("memory", 2), ("cpu", 1)]),
                &two,
                &[n4("node1"), n6("node2")],
                &[]
            ),
            vec![41, 50],
            "different weights"
        );
        let ext = |n: &str, q: &'static str| {
            cap_node(n, &[("cpu", "6000"), ("memory", "10000"), (EXT_RES, q)])
        };
        assert_eq!(
            scores(
                l(EXTENDED_RESOURCE_SET),
                &two,
                &[n6("node1"), ext("node2", "4")],
                &[]
            ),
            vec![50, 50],
            "bypass extended resource if the pod does not request"
        );
        let ext_pod = req_pod(
            "",
            &[&[("cpu", "3000"), ("memory", "5000"), (EXT_RES, "2")]],
        );
        assert_eq!(
            scores(
                l(EXTENDED_RESOURCE_SET),
                &ext_pod,
                &[ext("node1", "4"), ext("node2", "10")],
                &[]
            ),
            vec![50, 60],
            "honor extended resource if the pod requests"
        );
        let p = req_pod("", &[&[("cpu", "3000"), ("memory", "4000")]]);
        assert_eq!(
            scores(
                l(&[(EXT_RES, 2), ("cpu", 1), ("memory", 1)]),
                &p,
                &[n6("node1"), ext("node2", "4")],
                &[]
            ),
            vec![55, 55],
            "if the node doesn't have a resource"
        );
    }

    #[test]
    fn most_allocated_table() {
        // TestMostAllocatedScoringStrategy (most_allocated_test.go); "Resources not set" is not
        // reproduced (see least_allocated_table).
        let m = |r: &[(&str, i64)]| strategy(ScoringStrategyType::MostAllocated, r, &[]);
        let n = |name: &str, cpu: &'static str, mem: &'static str| {
            cap_node(name, &[("cpu", cpu), ("memory", mem)])
        };
        let two = req_pod(
            "",
            &[
                &[("cpu", "1000"), ("memory", "2000")],
                &[("cpu", "2000"), ("memory", "3000")],
            ],
        );
        let empty = req_pod("", &[]);
        let on = |name: &str, cpu: &'static str, mem: &'static str| {
            req_pod(name, &[&[("cpu", cpu), ("memory", mem)]])
        };

        assert_eq!(
            scores(
                m(DEFAULT_RESOURCES),
                &empty,
                &[n("node1", "4000", "10000"), n("node2", "4000", "10000")],
                &[]
            ),
            vec![0, 0]
        );
        assert_eq!(
            scores(
                m(DEFAULT_RESOURCES),
                &two,
                &[n("node1", "4000", "10000"), n("node2", "6000", "10000")],
                &[]
            ),
            vec![62, 50]
        );
        let existing = [
            on("node1", "3000", "0"),
            on("node1", "3000", "0"),
            on("node2", "3000", "0"),
            on("node2", "3000", "5000"),
        ];
        assert_eq!(
            scores(
                m(DEFAULT_RESOURCES),
                &empty,
                &[n("node1", "10000", "20000"), n("node2", "10000", "20000")],
                &existing
            ),
            vec![30, 42]
        );
        let existing = [on("node1", "3000", "0"), on("node2", "3000", "5000")];
        assert_eq!(
            scores(
                m(DEFAULT_RESOURCES),
                &two,
                &[n("node1", "10000", "20000"), n("node2", "10000", "20000")],
                &existing
            ),
            vec![42, 55]
        );
        let big = req_pod(
            "",
            &[
                &[("cpu", "2000"), ("memory", "4000")],
                &[("cpu", "3000"), ("memory", "5000")],
            ],
        );
        assert_eq!(
            scores(
                m(DEFAULT_RESOURCES),
                &big,
                &[n("node1", "5000", "10000"), n("node2", "10000", "9000")],
                &[]
            ),
            vec![95, 75],
            "resources requested equal node capacity"
        );
        assert_eq!(
            scores(
                m(&[("memory", 2), ("cpu", 1)]),
                &two,
                &[n("node1", "4000", "10000"), n("node2", "6000", "10000")],
                &[]
            ),
            vec![58, 50]
        );
        // A container without requests counts as 100m CPU and 200Mi memory.
        let no_req = |name: &str| {
            pod(
                json!({"metadata": {"name": format!("nr-{name}")}, "spec": {"nodeName": name, "containers": [{"name": "container"}]}}),
            )
        };
        let p = pod(
            json!({"metadata": {"name": "p"}, "spec": {"containers": [{"name": "container"}]}}),
        );
        let existing = [
            no_req("node1"),
            pod(
                json!({"metadata": {"name": "nr2"}, "spec": {"nodeName": "node1", "containers": [{"name": "container"}]}}),
            ),
        ];
        assert_eq!(
            scores(
                m(DEFAULT_RESOURCES),
                &p,
                &[n("node1", "250m", "1000Mi"), n("node2", "250m", "1000Mi")],
                &existing
            ),
            vec![80, 30],
            "no resources requested, pods scheduled, nonzero request for resource"
        );
        let ext = |name: &str, q: &'static str| {
            cap_node(name, &[("cpu", "6000"), ("memory", "10000"), (EXT_RES, q)])
        };
        assert_eq!(
            scores(
                m(EXTENDED_RESOURCE_SET),
                &two,
                &[n("node1", "6000", "10000"), ext("node2", "4")],
                &[]
            ),
            vec![50, 50]
        );
        let ext_pod = req_pod(
            "",
            &[&[("cpu", "3000"), ("memory", "5000"), (EXT_RES, "2")]],
        );
        assert_eq!(
            scores(
                m(EXTENDED_RESOURCE_SET),
                &ext_pod,
                &[ext("node1", "4"), ext("node2", "10")],
                &[]
            ),
            vec![50, 40]
        );
        let p = req_pod("", &[&[("cpu", "3000"), ("memory", "4000")]]);
        assert_eq!(
            scores(
                m(&[(EXT_RES, 2), ("cpu", 1), ("memory", 1)]),
                &p,
                &[n("node1", "6000", "10000"), ext("node2", "4")],
                &[]
            ),
            vec![45, 45]
        );
    }

    #[test]
    fn requested_to_capacity_ratio_table() {
        // TestRequestedToCapacityRatioScoringStrategy.
        let shape = [(0, 10), (100, 0)];
        let args = || {
            strategy(
                ScoringStrategyType::RequestedToCapacityRatio,
                DEFAULT_RESOURCES,
                &shape,
            )
        };
        let n =
            |name: &str, cpu: &'static str| cap_node(name, &[("cpu", cpu), ("memory", "10000")]);
        let bare = |i: u32| {
            pod(json!({"metadata": {"name": format!("bare{i}")}, "spec": {"nodeName": "node1"}}))
        };
        let empty = req_pod("", &[]);
        let two = req_pod(
            "",
            &[
                &[("cpu", "1000"), ("memory", "2000")],
                &[("cpu", "2000"), ("memory", "3000")],
            ],
        );
        assert_eq!(
            scores(
                args(),
                &empty,
                &[n("node1", "4000"), n("node2", "4000")],
                &[bare(1), bare(2)]
            ),
            vec![100, 100]
        );
        assert_eq!(
            scores(
                args(),
                &two,
                &[n("node1", "4000"), n("node2", "6000")],
                &[bare(1), bare(2)]
            ),
            vec![38, 50]
        );
        let existing = [
            req_pod("node1", &[&[("cpu", "3000"), ("memory", "5000")]]),
            req_pod("node2", &[&[("cpu", "3000"), ("memory", "5000")]]),
        ];
        assert_eq!(
            scores(
                args(),
                &empty,
                &[n("node1", "4000"), n("node2", "6000")],
                &existing
            ),
            vec![38, 50]
        );
    }

    /// `makeNode` of kube-scheduler's noderesources tests: cpu in millicores, memory in bytes and
    /// extended resources, as capacity and allocatable.
    fn make_node(name: &str, milli_cpu: i64, memory: i64, extended: &[(&str, i64)]) -> Arc<Node> {
        let mut list = serde_json::Map::new();
        list.insert("cpu".into(), json!(format!("{milli_cpu}m")));
        list.insert("memory".into(), json!(memory.to_string()));
        for (k, v) in extended {
            list.insert((*k).into(), json!(v.to_string()));
        }
        node(json!({"metadata": {"name": name}, "status": {"capacity": list, "allocatable": list}}))
    }

    #[test]
    fn resource_bin_packing_single_extended() {
        // TestResourceBinPackingSingleExtended.
        let args = strategy(
            ScoringStrategyType::RequestedToCapacityRatio,
            &[("intel.com/foo", 1)],
            &[(0, 0), (100, 1)],
        );
        let mem = 10000 * 1024 * 1024;
        let nodes = [
            make_node("node1", 4000, mem, &[("intel.com/foo", 8)]),
            make_node("node2", 4000, mem, &[("intel.com/foo", 4)]),
        ];
        let empty = req_pod("", &[]);
        let two = req_pod("", &[&[("intel.com/foo", "2")]]);
        let four = req_pod("", &[&[("intel.com/foo", "4")]]);
        let unbound = pod(json!({"metadata": {"name": "x"}, "spec": {}}));
        assert_eq!(
            scores(args.clone(), &empty, &nodes, &[]),
            vec![0, 0],
            "nothing scheduled, nothing requested"
        );
        assert_eq!(
            scores(args.clone(), &two, &nodes, std::slice::from_ref(&unbound)),
            vec![2, 5],
            "pods scheduled with less resources"
        );
        let running = req_pod("node2", &[&[("intel.com/foo", "2")]]);
        assert_eq!(
            scores(args.clone(), &two, &nodes, &[running]),
            vec![2, 10],
            "on node with existing pod running"
        );
        assert_eq!(
            scores(args, &four, &nodes, &[unbound]),
            vec![5, 10],
            "pods scheduled with more resources"
        );
    }

    #[test]
    fn resource_bin_packing_multiple_extended() {
        // TestResourceBinPackingMultipleExtended.
        let args = strategy(
            ScoringStrategyType::RequestedToCapacityRatio,
            &[("intel.com/foo", 3), ("intel.com/bar", 5)],
            &[(0, 0), (100, 1)],
        );
        let mem = 10000 * 1024 * 1024;
        let nodes = [
            make_node(
                "node1",
                4000,
                mem,
                &[("intel.com/foo", 8), ("intel.com/bar", 4)],
            ),
            make_node(
                "node2",
                4000,
                mem,
                &[("intel.com/foo", 4), ("intel.com/bar", 8)],
            ),
        ];
        let pod1 = req_pod("", &[&[("intel.com/foo", "2"), ("intel.com/bar", "2")]]);
        let pod2 = req_pod("", &[&[("intel.com/foo", "4"), ("intel.com/bar", "2")]]);
        let unbound = pod(json!({"metadata": {"name": "x"}, "spec": {}}));
        assert_eq!(
            scores(
                args.clone(),
                &req_pod("", &[]),
                &nodes,
                std::slice::from_ref(&unbound)
            ),
            vec![0, 0]
        );
        assert_eq!(
            scores(args.clone(), &pod1, &nodes, std::slice::from_ref(&unbound)),
            vec![4, 3]
        );
        let running = req_pod(
            "node2",
            &[&[("intel.com/foo", "4"), ("intel.com/bar", "2")]],
        );
        assert_eq!(scores(args.clone(), &pod1, &nodes, &[running]), vec![4, 7]);
        assert_eq!(scores(args, &pod2, &nodes, &[unbound]), vec![5, 5]);
    }

    // ---- Args: defaults, decoding, validation ----------------------------------------------------

    #[test]
    fn args_defaults_and_decoding() {
        let args = NodeResourcesFitArgs::default();
        let s = args.scoring_strategy.as_ref().unwrap();
        assert_eq!(s.r#type, "LeastAllocated");
        assert_eq!(
            s.resources,
            vec![ResourceSpec::new("cpu", 1), ResourceSpec::new("memory", 1)]
        );

        let decoded: NodeResourcesFitArgs = serde_json::from_value(json!({})).unwrap();
        assert_eq!(decoded, args);

        let mut decoded: NodeResourcesFitArgs =
            serde_json::from_value(json!({"scoringStrategy": {"type": "MostAllocated"}, "ignoredResources": ["example.com/x"]}))
                .unwrap();
        decoded.set_defaults();
        let s = decoded.scoring_strategy.as_ref().unwrap();
        assert_eq!(s.r#type, "MostAllocated");
        assert_eq!(
            s.resources,
            vec![ResourceSpec::new("cpu", 1), ResourceSpec::new("memory", 1)]
        );
        assert_eq!(decoded.ignored_resources, vec!["example.com/x".to_string()]);

        let mut decoded: NodeResourcesFitArgs = serde_json::from_value(json!({"scoringStrategy": {
            "type": "RequestedToCapacityRatio",
            "resources": [{"name": "cpu"}, {"name": "nvidia.com/gpu", "weight": 5}],
            "requestedToCapacityRatio": {"shape": [{"utilization": 0, "score": 0}, {"utilization": 100, "score": 10}]}
        }}))
        .unwrap();
        decoded.set_defaults();
        let s = decoded.scoring_strategy.as_ref().unwrap();
        assert_eq!(
            s.resources,
            vec![
                ResourceSpec::new("cpu", 1),
                ResourceSpec::new("nvidia.com/gpu", 5)
            ]
        );
        assert_eq!(
            s.requested_to_capacity_ratio.as_ref().unwrap().shape[1],
            UtilizationShapePoint {
                utilization: 100,
                score: 10
            }
        );
        let plugin = NodeResourcesFit::new(decoded).unwrap();
        assert_eq!(
            plugin.scoring_strategy(),
            ScoringStrategyType::RequestedToCapacityRatio
        );

        // A strategy without a type is rejected, as in kube-scheduler.
        let decoded: NodeResourcesFitArgs =
            serde_json::from_value(json!({"scoringStrategy": {"resources": []}})).unwrap();
        let errs = NodeResourcesFit::new(decoded).unwrap_err();
        assert_eq!(
            errs[0].to_string(),
            r#"scoringStrategy.type: Unsupported value: "": supported values: "LeastAllocated", "MostAllocated", "RequestedToCapacityRatio""#
        );
    }

    fn default_strategy() -> Option<ScoringStrategy> {
        Some(ScoringStrategy::default())
    }

    #[test]
    fn validation_fit_args() {
        // TestValidateFitArgs: each expected message must appear in the errors.
        let with =
            |ignored: &[&str], groups: &[&str], s: Option<ScoringStrategy>| NodeResourcesFitArgs {
                ignored_resources: ignored.iter().map(|x| x.to_string()).collect(),
                ignored_resource_groups: groups.iter().map(|x| x.to_string()).collect(),
                scoring_strategy: s,
            };
        let long = format!("longvalue{}", "a".repeat(64));
        let a64 = "a".repeat(64);
        let cases: Vec<(&str, NodeResourcesFitArgs, &str)> = vec![
            (
                "IgnoredResources: too long value",
                with(&[long.as_str()], &[], default_strategy()),
                "name part must be no more than 63 characters",
            ),
            (
                "IgnoredResources: name is empty",
                with(&["example.com/"], &[], default_strategy()),
                "name part must be non-empty",
            ),
            (
                "IgnoredResources: name has too many slash",
                with(&["example.com/aaa/bbb"], &[], default_strategy()),
                "a qualified name must consist of alphanumeric characters",
            ),
            (
                "IgnoredResources: valid args",
                with(&["example.com"], &[], default_strategy()),
                "",
            ),
            (
                "IgnoredResourceGroups: valid args",
                with(&[], &["example.com"], default_strategy()),
                "",
            ),
            (
                "IgnoredResourceGroups: illegal args",
                with(&[], &["example.com/"], default_strategy()),
                "name part must be non-empty",
            ),
            (
                "IgnoredResourceGroups: name is too long",
                with(&[], &[a64.as_str()], default_strategy()),
                "name part must be no more than 63 characters",
            ),
            (
                "IgnoredResourceGroups: name cannot be contain slash",
                with(&[], &["example.com/aa"], default_strategy()),
                "resource group name can't contain '/'",
            ),
            (
                "ScoringStrategy: field is required",
                with(&[], &[], None),
                "ScoringStrategy field is required",
            ),
            (
                "ScoringStrategy: type is unsupported",
                with(
                    &[],
                    &[],
                    Some(ScoringStrategy {
                        r#type: "Invalid".into(),
                        resources: vec![],
                        requested_to_capacity_ratio: None,
                    }),
                ),
                r#"Unsupported value: "Invalid""#,
            ),
        ];
        for (name, args, expect) in cases {
            match args.validate(&FieldPath::root()) {
                Ok(()) => assert!(
                    expect.is_empty(),
                    "{name}: expected an error with {expect:?}"
                ),
                Err(errs) => {
                    let text = errs
                        .iter()
                        .map(|e| e.to_string())
                        .collect::<Vec<_>>()
                        .join(", ");
                    assert!(
                        !expect.is_empty() && text.contains(expect),
                        "{name}: {text}"
                    );
                }
            }
        }
    }

    /// The field paths of the validation errors of a strategy.
    fn error_fields(
        kind: ScoringStrategyType,
        resources: &[(&str, i64)],
        shape: Option<&[(i32, i32)]>,
    ) -> Vec<String> {
        let args = NodeResourcesFitArgs {
            scoring_strategy: Some(ScoringStrategy {
                r#type: kind.as_str().into(),
                resources: resources
                    .iter()
                    .map(|(n, w)| ResourceSpec::new(n, *w))
                    .collect(),
                requested_to_capacity_ratio: shape.map(|s| RequestedToCapacityRatioParam {
                    shape: s
                        .iter()
                        .map(|&(utilization, score)| UtilizationShapePoint { utilization, score })
                        .collect(),
                }),
            }),
            ..Default::default()
        };
        match args.validate(&FieldPath::root()) {
            Ok(()) => vec![],
            Err(errs) => errs.iter().map(|e| e.path.to_string()).collect(),
        }
    }

    #[test]
    fn validation_least_and_most_allocated_strategies() {
        // TestValidateLeastAllocatedScoringStrategy and TestValidateMostAllocatedScoringStrategy,
        // plus the weight cases of the strategies' own tests (negative, zero, above 100).
        for kind in [
            ScoringStrategyType::LeastAllocated,
            ScoringStrategyType::MostAllocated,
        ] {
            let f = |r: &[(&str, i64)]| error_fields(kind, r, None);
            assert!(f(&[]).is_empty(), "default config");
            assert!(
                f(&[("cpu", 1), ("memory", 10)]).is_empty(),
                "multi valid resources"
            );
            assert_eq!(
                f(&[("cpu", 0)]),
                vec!["scoringStrategy.resources[0].weight"]
            );
            assert_eq!(
                f(&[("cpu", 101)]),
                vec!["scoringStrategy.resources[0].weight"]
            );
            assert_eq!(
                f(&[("cpu", 0), ("memory", 101)]),
                vec![
                    "scoringStrategy.resources[0].weight",
                    "scoringStrategy.resources[1].weight"
                ]
            );
            assert_eq!(
                f(&[("memory", -1), ("cpu", 1)]),
                vec!["scoringStrategy.resources[0].weight"]
            );
        }
        let errs = NodeResourcesFitArgs {
            scoring_strategy: Some(ScoringStrategy {
                r#type: "LeastAllocated".into(),
                resources: vec![
                    ResourceSpec::new("memory", 1),
                    ResourceSpec::new("cpu", 101),
                ],
                requested_to_capacity_ratio: None,
            }),
            ..Default::default()
        }
        .validate(&FieldPath::new("args"))
        .unwrap_err();
        assert_eq!(
            errs[0].to_string(),
            "args.scoringStrategy.resources[1].weight: Invalid value: 101: resource weight of cpu not in valid range (0, 100]"
        );
        // Defaulting turns an unset weight into 1, so a configuration with weight 0 builds.
        assert!(NodeResourcesFit::new(strategy(
            ScoringStrategyType::LeastAllocated,
            &[("memory", 1), ("cpu", 0)],
            &[]
        ))
        .is_ok());
        assert!(NodeResourcesFit::new(strategy(
            ScoringStrategyType::LeastAllocated,
            &[("memory", -1), ("cpu", 1)],
            &[]
        ))
        .is_err());
    }

    #[test]
    fn validation_requested_to_capacity_ratio_strategy() {
        // TestValidateRequestedToCapacityRatioScoringStrategy.
        let f = |r: &[(&str, i64)], shape: &[(i32, i32)]| {
            error_fields(
                ScoringStrategyType::RequestedToCapacityRatio,
                r,
                Some(shape),
            )
        };
        let d = &[(30, 3)];
        assert_eq!(f(&[], &[]), vec!["scoringStrategy.shape"], "no shapes");
        assert_eq!(
            f(&[("cpu", 101)], d),
            vec!["scoringStrategy.resources[0].weight"]
        );
        assert_eq!(
            f(&[("cpu", 0)], d),
            vec!["scoringStrategy.resources[0].weight"]
        );
        assert!(f(&[], d).is_empty(), "valid shapes");
        assert_eq!(
            f(&[], &[(-1, 3)]),
            vec!["scoringStrategy.shape[0].utilization"]
        );
        assert_eq!(
            f(&[], &[(101, 3)]),
            vec!["scoringStrategy.shape[0].utilization"]
        );
        assert_eq!(
            f(&[], &[(10, 3), (10, 3)]),
            vec!["scoringStrategy.shape[1].utilization"]
        );
        assert!(
            f(&[], &[(10, 3), (20, 3), (30, 3)]).is_empty(),
            "increasing utilization values"
        );
        assert_eq!(
            f(&[], &[(10, 3), (20, 3), (15, 3)]),
            vec!["scoringStrategy.shape[2].utilization"]
        );
        assert_eq!(f(&[], &[(10, -1)]), vec!["scoringStrategy.shape[0].score"]);
        assert_eq!(f(&[], &[(10, 11)]), vec!["scoringStrategy.shape[0].score"]);
        // The shape is required for RequestedToCapacityRatio (kube-scheduler would crash).
        assert_eq!(
            error_fields(
                ScoringStrategyType::RequestedToCapacityRatio,
                &[("cpu", 1)],
                None
            ),
            vec!["scoringStrategy.requestedToCapacityRatio"]
        );
    }
}
