//! NodeAffinity: a pod goes only to nodes that match its `nodeSelector` and its required node
//! affinity, and prefers nodes that match its preferred terms (kube-scheduler v1.34,
//! pkg/scheduler/framework/plugins/nodeaffinity/node_affinity.go, with the matching rules of
//! k8s.io/component-helpers/scheduling/corev1/nodeaffinity/nodeaffinity.go).
//!
//! - **PreFilter**: skips the plugin's Filter when the pod has neither a `nodeSelector` nor a
//!   required node affinity and the plugin adds none. When every required term names nodes with
//!   `matchFields` `metadata.name In`, narrows the search to those nodes (the union over terms of
//!   the intersection within a term); when that set is empty the pod is rejected with
//!   `pod affinity terms conflict`.
//! - **Filter**: the node must match the plugin's `addedAffinity` required selector
//!   (`node(s) didn't match scheduler-enforced node affinity`), then the pod's `nodeSelector` (all
//!   labels equal) AND its required terms (ORed; requirements within a term ANDed; an empty or
//!   unparsable term matches nothing) (`node(s) didn't match Pod's node affinity/selector`). Both
//!   are UnschedulableAndUnresolvable: preemption cannot change a node's labels.
//! - **Score**: the sum of the weights of the preferred terms the node matches, the pod's and the
//!   plugin's `addedAffinity` ones (terms of weight 0 and empty terms are dropped).
//! - **NormalizeScore**: `DefaultNormalizeScore(100, false)`: `100 * score / max score`.

use std::collections::BTreeSet;

use flotilla_model::api::{
    Node, NodeAffinity as ApiNodeAffinity, NodeSelector, NodeSelectorOperator,
    NodeSelectorRequirement, NodeSelectorTerm, Pod, PreferredSchedulingTerm,
    NODE_FIELD_SELECTOR_KEY_NAME,
};
use flotilla_model::selector::{Operator, Requirement};
use flotilla_model::validation::{is_label_value, is_qualified_name};
use flotilla_model::{ErrorList, FieldError, FieldPath, Selector};
use serde::{Deserialize, Serialize};

use crate::framework::{
    default_normalize_score, CycleState, FilterPlugin, NodeScore, Plugin, PreFilterPlugin,
    PreFilterResult, PreScorePlugin, ScorePlugin, Status, MAX_NODE_SCORE,
};
use crate::node_info::{NodeInfo, PodInfo};
use crate::snapshot::Snapshot;

/// The plugin's name in a KubeSchedulerConfiguration.
pub const NAME: &str = "NodeAffinity";

/// Filter reason when the pod's `nodeSelector` or required node affinity does not match.
pub const ERR_REASON_POD: &str = "node(s) didn't match Pod's node affinity/selector";
/// Filter reason when the plugin's `addedAffinity` does not match.
pub const ERR_REASON_ENFORCED: &str = "node(s) didn't match scheduler-enforced node affinity";
/// PreFilter reason when the required terms' node names exclude every node.
pub const ERR_REASON_CONFLICT: &str = "pod affinity terms conflict";

/// The plugin's arguments (kube-scheduler's `NodeAffinityArgs`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct NodeAffinityArgs {
    /// Node affinity applied to every pod on top of its own: the required selector must match
    /// as well as the pod's, and the preferred terms add to the pod's.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub added_affinity: Option<ApiNodeAffinity>,
}

impl NodeAffinityArgs {
    /// Checks the arguments as kube-scheduler's `ValidateNodeAffinityArgs` does: every term of
    /// `addedAffinity` must parse (label keys and values, operators and value counts;
    /// `matchFields` take `In` or `NotIn` with one value). Errors are under `path`.
    pub fn validate(&self, path: &FieldPath) -> Result<(), ErrorList> {
        let Some(affinity) = &self.added_affinity else {
            return Ok(());
        };
        let mut errs = ErrorList::new();
        let added = path.child("addedAffinity");
        if let Some(ns) = &affinity.required_during_scheduling_ignored_during_execution {
            let terms = added
                .child("requiredDuringSchedulingIgnoredDuringExecution")
                .child("nodeSelectorTerms");
            for (i, term) in ns.node_selector_terms.iter().enumerate() {
                if !is_empty_term(term) {
                    errs.extend(term_errors(term, &terms.index(i)));
                }
            }
        }
        // As in kube-scheduler the path of a preferred term has no `.preference` step.
        let preferred = added.child("preferredDuringSchedulingIgnoredDuringExecution");
        for (i, term) in affinity
            .preferred_during_scheduling_ignored_during_execution
            .iter()
            .enumerate()
        {
            if term.weight != 0 && !is_empty_term(&term.preference) {
                errs.extend(term_errors(&term.preference, &preferred.index(i)));
            }
        }
        if errs.is_empty() {
            Ok(())
        } else {
            Err(errs)
        }
    }
}

/// The NodeAffinity plugin.
#[derive(Clone, Debug, Default)]
pub struct NodeAffinity {
    /// `addedAffinity`'s required selector: its non-empty terms (`None` when not set).
    added_node_selector: Option<Vec<CompiledTerm>>,
    /// `addedAffinity`'s preferred terms (`None` when there are none).
    added_preferred: Option<PreferredTerms>,
}

impl NodeAffinity {
    /// The plugin with its arguments, rejected as [`NodeAffinityArgs::validate`] rejects them.
    pub fn new(args: NodeAffinityArgs) -> Result<NodeAffinity, ErrorList> {
        args.validate(&FieldPath::root())?;
        let mut plugin = NodeAffinity::default();
        if let Some(affinity) = &args.added_affinity {
            if let Some(ns) = &affinity.required_during_scheduling_ignored_during_execution {
                plugin.added_node_selector = Some(compile_node_selector(ns));
            }
            let preferred = &affinity.preferred_during_scheduling_ignored_during_execution;
            if !preferred.is_empty() {
                // Validation above rejected every term that does not parse, so this holds.
                let terms = PreferredTerms::new(preferred)
                    .expect("validated addedAffinity preferred terms parse");
                plugin.added_preferred = Some(terms);
            }
        }
        Ok(plugin)
    }
}

// ---------------------------------------------------------------------------------------------
// Matching nodes: node selector terms compiled once per pod.
// ---------------------------------------------------------------------------------------------

fn is_empty_term(term: &NodeSelectorTerm) -> bool {
    term.match_expressions.is_empty() && term.match_fields.is_empty()
}

/// A `matchFields` requirement: the node's field (only `metadata.name` is set on a node; any
/// other field reads as the empty string, as in a `fields.Set`) equals, or differs from, a value.
#[derive(Clone, Debug, PartialEq, Eq)]
struct FieldRequirement {
    key: String,
    value: String,
    equal: bool,
}

/// A node selector term parsed as component-helpers' `nodeSelectorTerm`: a label selector, field
/// requirements, or a parse error (then the term matches nothing).
#[derive(Clone, Debug, PartialEq, Eq)]
struct CompiledTerm {
    /// `None` when the term has no `matchExpressions`.
    labels: Option<Selector>,
    /// Empty when the term has no `matchFields`.
    fields: Vec<FieldRequirement>,
    /// Whether some requirement failed to parse.
    invalid: bool,
}

impl CompiledTerm {
    fn new(term: &NodeSelectorTerm) -> CompiledTerm {
        let mut invalid = false;
        let labels = if term.match_expressions.is_empty() {
            None
        } else {
            let mut requirements = Vec::with_capacity(term.match_expressions.len());
            for r in &term.match_expressions {
                match Requirement::new(r.key.as_str(), label_operator(r.operator), r.values.clone())
                {
                    Ok(req) => requirements.push(req),
                    Err(_) => invalid = true,
                }
            }
            Some(Selector::new(requirements))
        };
        let mut fields = Vec::with_capacity(term.match_fields.len());
        for r in &term.match_fields {
            match (r.operator, r.values.as_slice()) {
                (NodeSelectorOperator::In, [v]) => fields.push(FieldRequirement {
                    key: r.key.clone(),
                    value: v.clone(),
                    equal: true,
                }),
                (NodeSelectorOperator::NotIn, [v]) => fields.push(FieldRequirement {
                    key: r.key.clone(),
                    value: v.clone(),
                    equal: false,
                }),
                _ => invalid = true,
            }
        }
        CompiledTerm {
            labels,
            fields,
            invalid,
        }
    }

    /// `nodeSelectorTerm.match`: field requirements are only checked when the node has a name.
    fn matches(&self, node: &Node) -> bool {
        if self.invalid {
            return false;
        }
        if let Some(sel) = &self.labels {
            if !sel.matches(&node.metadata.labels) {
                return false;
            }
        }
        let name = node.metadata.name.as_str();
        if !self.fields.is_empty() && !name.is_empty() {
            for f in &self.fields {
                let actual = if f.key == NODE_FIELD_SELECTOR_KEY_NAME {
                    name
                } else {
                    ""
                };
                if (actual == f.value) != f.equal {
                    return false;
                }
            }
        }
        true
    }
}

fn label_operator(op: NodeSelectorOperator) -> Operator {
    match op {
        NodeSelectorOperator::In => Operator::In,
        NodeSelectorOperator::NotIn => Operator::NotIn,
        NodeSelectorOperator::Exists => Operator::Exists,
        NodeSelectorOperator::DoesNotExist => Operator::DoesNotExist,
        NodeSelectorOperator::Gt => Operator::GreaterThan,
        NodeSelectorOperator::Lt => Operator::LessThan,
    }
}

/// The non-empty terms of a node selector (`NewLazyErrorNodeSelector`); a node matches when any
/// matches, so an empty list matches nothing.
fn compile_node_selector(ns: &NodeSelector) -> Vec<CompiledTerm> {
    ns.node_selector_terms
        .iter()
        .filter(|t| !is_empty_term(t))
        .map(CompiledTerm::new)
        .collect()
}

fn node_selector_matches(terms: &[CompiledTerm], node: &Node) -> bool {
    terms.iter().any(|t| t.matches(node))
}

/// The parse errors of one term, as `labels.NewRequirement` and
/// `nodeSelectorRequirementsAsFieldSelector` report them under `path`.
fn term_errors(term: &NodeSelectorTerm, path: &FieldPath) -> ErrorList {
    let mut errs = ErrorList::new();
    let exprs = path.child("matchExpressions");
    for (i, r) in term.match_expressions.iter().enumerate() {
        errs.extend(requirement_errors(r, &exprs.index(i)));
    }
    let fields = path.child("matchFields");
    for (i, r) in term.match_fields.iter().enumerate() {
        let p = fields.index(i);
        match r.operator {
            NodeSelectorOperator::In | NodeSelectorOperator::NotIn => {
                if r.values.len() != 1 {
                    errs.push(FieldError::invalid(
                        &p.child("values"),
                        GoStrings(&r.values),
                        "must have one element",
                    ));
                }
            }
            other => errs.push(FieldError::not_supported(
                &p.child("operator"),
                format!("{other:?}"),
                &["In", "NotIn"],
            )),
        }
    }
    errs
}

/// A string list printed as Go's `%#v` prints a `[]string`, as field errors show bad values.
struct GoStrings<'a>(&'a [String]);

impl std::fmt::Debug for GoStrings<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("[]string{")?;
        for (i, v) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str(", ")?;
            }
            write!(f, "{v:?}")?;
        }
        f.write_str("}")
    }
}

fn requirement_errors(r: &NodeSelectorRequirement, path: &FieldPath) -> ErrorList {
    let mut errs = ErrorList::new();
    let reasons = is_qualified_name(&r.key);
    if !reasons.is_empty() {
        errs.push(FieldError::invalid(
            &path.child("key"),
            &r.key,
            reasons.join("; "),
        ));
    }
    let values = path.child("values");
    match r.operator {
        NodeSelectorOperator::In | NodeSelectorOperator::NotIn => {
            if r.values.is_empty() {
                errs.push(FieldError::invalid(
                    &values,
                    GoStrings(&r.values),
                    "for 'in', 'notin' operators, values set can't be empty",
                ));
            }
        }
        NodeSelectorOperator::Exists | NodeSelectorOperator::DoesNotExist => {
            if !r.values.is_empty() {
                errs.push(FieldError::invalid(
                    &values,
                    GoStrings(&r.values),
                    "values set must be empty for exists and does not exist",
                ));
            }
        }
        NodeSelectorOperator::Gt | NodeSelectorOperator::Lt => {
            if r.values.len() != 1 {
                errs.push(FieldError::invalid(
                    &values,
                    GoStrings(&r.values),
                    "for 'Gt', 'Lt' operators, exactly one value is required",
                ));
            }
            for (i, v) in r.values.iter().enumerate() {
                if v.parse::<i64>().is_err() {
                    errs.push(FieldError::invalid(
                        &values.index(i),
                        v,
                        "for 'Gt', 'Lt' operators, the value must be an integer",
                    ));
                }
            }
        }
    }
    for (i, v) in r.values.iter().enumerate() {
        let reasons = is_label_value(v);
        if !reasons.is_empty() {
            errs.push(FieldError::invalid(&values.index(i), v, reasons.join("; ")));
        }
    }
    errs
}

/// A pod's `nodeSelector` AND its required node affinity, parsed once per pod
/// (component-helpers' `RequiredNodeAffinity`). PodTopologySpread uses it for
/// `nodeAffinityPolicy: Honor`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RequiredNodeAffinity {
    /// `spec.nodeSelector`: every label must be present with this value.
    node_selector: Vec<(String, String)>,
    /// The non-empty required terms; `None` when the pod has no required node affinity.
    terms: Option<Vec<CompiledTerm>>,
}

impl RequiredNodeAffinity {
    /// Parses `pod`'s `nodeSelector` and `requiredDuringSchedulingIgnoredDuringExecution`
    /// (`GetRequiredNodeAffinity`). A term that does not parse matches no node.
    pub fn from_pod(pod: &Pod) -> RequiredNodeAffinity {
        let node_selector = pod
            .spec
            .node_selector
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        let terms = required_selector(pod).map(compile_node_selector);
        RequiredNodeAffinity {
            node_selector,
            terms,
        }
    }

    /// Whether `node` satisfies both the node selector and the required terms.
    pub fn matches(&self, node: &Node) -> bool {
        let labels = &node.metadata.labels;
        if !self
            .node_selector
            .iter()
            .all(|(k, v)| labels.get(k) == Some(v))
        {
            return false;
        }
        match &self.terms {
            Some(terms) => node_selector_matches(terms, node),
            None => true,
        }
    }
}

fn required_selector(pod: &Pod) -> Option<&NodeSelector> {
    pod.spec
        .affinity
        .as_ref()?
        .node_affinity
        .as_ref()?
        .required_during_scheduling_ignored_during_execution
        .as_ref()
}

/// Weighted preferred terms (component-helpers' `PreferredSchedulingTerms`): terms of weight 0
/// and empty terms are dropped.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
struct PreferredTerms {
    terms: Vec<(CompiledTerm, i64)>,
}

impl PreferredTerms {
    /// Fails when a kept term does not parse, as `NewPreferredSchedulingTerms` does.
    fn new(terms: &[PreferredSchedulingTerm]) -> Result<PreferredTerms, ()> {
        let mut out = Vec::with_capacity(terms.len());
        for t in terms {
            if t.weight == 0 || is_empty_term(&t.preference) {
                continue;
            }
            let compiled = CompiledTerm::new(&t.preference);
            if compiled.invalid {
                return Err(());
            }
            out.push((compiled, i64::from(t.weight)));
        }
        Ok(PreferredTerms { terms: out })
    }

    fn score(&self, node: &Node) -> i64 {
        self.terms
            .iter()
            .filter(|(t, _)| t.matches(node))
            .map(|(_, w)| w)
            .sum()
    }
}

/// The pod's preferred terms, `None` when it has none.
fn pod_preferred_terms(pod: &Pod) -> Result<Option<PreferredTerms>, Status> {
    let terms = match pod
        .spec
        .affinity
        .as_ref()
        .and_then(|a| a.node_affinity.as_ref())
    {
        Some(na)
            if !na
                .preferred_during_scheduling_ignored_during_execution
                .is_empty() =>
        {
            &na.preferred_during_scheduling_ignored_during_execution
        }
        _ => return Ok(None),
    };
    PreferredTerms::new(terms).map(Some).map_err(|()| {
        Status::error("invalid preferredDuringSchedulingIgnoredDuringExecution node affinity term")
    })
}

// ---------------------------------------------------------------------------------------------
// Extension points
// ---------------------------------------------------------------------------------------------

/// What PreFilter computes for Filter.
#[derive(Clone, Debug)]
struct PreFilterState {
    required: RequiredNodeAffinity,
}

/// What PreScore computes for Score.
#[derive(Clone, Debug)]
struct PreScoreState {
    preferred: Option<PreferredTerms>,
}

impl Plugin for NodeAffinity {
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

/// The node names the required terms allow, when every term names nodes with `matchFields`
/// `metadata.name In`: per term the intersection of its name lists, over terms the union.
/// `None` when some term does not restrict names (then every node is possible).
fn required_node_names(ns: &NodeSelector) -> Option<BTreeSet<&str>> {
    let mut all: Option<BTreeSet<&str>> = None;
    for term in &ns.node_selector_terms {
        let mut term_names: Option<BTreeSet<&str>> = None;
        for r in &term.match_fields {
            if r.key == NODE_FIELD_SELECTOR_KEY_NAME && r.operator == NodeSelectorOperator::In {
                let s: BTreeSet<&str> = r.values.iter().map(String::as_str).collect();
                term_names = Some(match term_names {
                    None => s,
                    Some(prev) => prev.intersection(&s).copied().collect(),
                });
            }
        }
        let term_names = term_names?;
        all.get_or_insert_with(BTreeSet::new).extend(term_names);
    }
    all
}

impl PreFilterPlugin for NodeAffinity {
    fn pre_filter(
        &self,
        state: &mut CycleState,
        pod: &PodInfo,
        snapshot: &Snapshot,
    ) -> (PreFilterResult, Status) {
        let required = required_selector(&pod.pod);
        if required.is_none()
            && self.added_node_selector.is_none()
            && pod.pod.spec.node_selector.is_empty()
        {
            return (PreFilterResult::default(), Status::skip());
        }
        state.write(
            NAME,
            PreFilterState {
                required: RequiredNodeAffinity::from_pod(&pod.pod),
            },
        );
        let Some(ns) = required else {
            return (PreFilterResult::default(), Status::success());
        };
        if ns.node_selector_terms.is_empty() {
            return (PreFilterResult::default(), Status::success());
        }
        match required_node_names(ns) {
            None => (PreFilterResult::default(), Status::success()),
            Some(names) if names.is_empty() => (
                PreFilterResult::default(),
                Status::unresolvable(ERR_REASON_CONFLICT),
            ),
            Some(names) => {
                // Names of nodes that do not exist select nothing.
                let nodes = names.iter().filter_map(|n| snapshot.index_of(n)).collect();
                (PreFilterResult { nodes: Some(nodes) }, Status::success())
            }
        }
    }
}

impl FilterPlugin for NodeAffinity {
    fn filter(&self, state: &CycleState, pod: &PodInfo, node: &NodeInfo) -> Status {
        if let Some(added) = &self.added_node_selector {
            if !node_selector_matches(added, &node.node) {
                return Status::unresolvable(ERR_REASON_ENFORCED);
            }
        }
        let matched = match state.read::<PreFilterState>(NAME) {
            Some(s) => s.required.matches(&node.node),
            // Without PreFilter, parse the pod's affinity here (slower, same result).
            None => RequiredNodeAffinity::from_pod(&pod.pod).matches(&node.node),
        };
        if matched {
            Status::success()
        } else {
            Status::unresolvable(ERR_REASON_POD)
        }
    }
}

impl PreScorePlugin for NodeAffinity {
    fn pre_score(
        &self,
        state: &mut CycleState,
        pod: &PodInfo,
        _snapshot: &Snapshot,
        _feasible: &[usize],
    ) -> Status {
        let preferred = match pod_preferred_terms(&pod.pod) {
            Ok(p) => p,
            Err(status) => return status,
        };
        if preferred.is_none() && self.added_preferred.is_none() {
            return Status::skip();
        }
        state.write(NAME, PreScoreState { preferred });
        Status::success()
    }
}

impl ScorePlugin for NodeAffinity {
    fn score(&self, state: &CycleState, pod: &PodInfo, node: &NodeInfo) -> Result<i64, Status> {
        let mut score = self
            .added_preferred
            .as_ref()
            .map_or(0, |t| t.score(&node.node));
        match state.read::<PreScoreState>(NAME) {
            Some(s) => score += s.preferred.as_ref().map_or(0, |t| t.score(&node.node)),
            // Without PreScore, parse the pod's preferred terms here (slower, same result).
            None => score += pod_preferred_terms(&pod.pod)?.map_or(0, |t| t.score(&node.node)),
        }
        Ok(score)
    }

    fn normalize_scores(
        &self,
        _state: &CycleState,
        _pod: &PodInfo,
        scores: &mut [NodeScore],
    ) -> Status {
        default_normalize_score(MAX_NODE_SCORE, false, scores);
        Status::success()
    }

    /// All zeros normalize to 0 each ([`default_normalize_score`]).
    fn normalizes_zeros_uniformly(&self) -> bool {
        true
    }
}

#[cfg(test)]
mod tests {
    //! kube-scheduler v1.34 nodeaffinity/node_affinity_test.go (TestNodeAffinity,
    //! TestNodeAffinityPriority) and validation_pluginargs_test.go (TestValidateNodeAffinityArgs).
    use std::sync::Arc;

    use serde_json::{json, Value};

    use super::*;
    use crate::framework::Code;
    use crate::plugins::testing::{node, pod, run_score};

    fn args(added: Value) -> NodeAffinityArgs {
        serde_json::from_value(json!({ "addedAffinity": added })).expect("args decode")
    }

    /// One row of TestNodeAffinity: PreFilter (when `run_pre_filter`) then Filter on one node
    /// named `node_name` with `labels`, as the Go test does (Filter runs whatever PreFilter said).
    struct Case {
        name: &'static str,
        pod: Value,
        labels: Value,
        node_name: &'static str,
        args: NodeAffinityArgs,
        want_pre_filter: Status,
        want_pre_filter_nodes: Option<Vec<&'static str>>,
        want: Status,
        run_pre_filter: bool,
    }

    impl Default for Case {
        fn default() -> Case {
            Case {
                name: "",
                pod: json!({}),
                labels: json!({}),
                node_name: "",
                args: NodeAffinityArgs::default(),
                want_pre_filter: Status::success(),
                want_pre_filter_nodes: None,
                want: Status::success(),
                run_pre_filter: true,
            }
        }
    }

    fn run(case: Case) {
        let plugin = NodeAffinity::new(case.args).expect("valid args");
        let n = node(json!({"metadata": {"name": case.node_name, "labels": case.labels}}));
        // The snapshot also holds node1 and node2 so PreFilter can name them.
        let mut nodes = vec![n];
        for other in ["node1", "node2"] {
            if other != case.node_name {
                nodes.push(node(json!({"metadata": {"name": other}})));
            }
        }
        let snapshot = Snapshot::new(&nodes, &[], &[]);
        let mut spec = json!({"metadata": {"name": "p"}});
        spec["spec"] = case.pod;
        let info = PodInfo::new(pod(spec));
        let mut state = CycleState::new();
        if case.run_pre_filter {
            let (result, status) = plugin.pre_filter(&mut state, &info, &snapshot);
            assert_eq!(
                status, case.want_pre_filter,
                "{}: PreFilter status",
                case.name
            );
            let names = result.nodes.map(|v| {
                let mut names: Vec<&str> = v.iter().map(|&i| snapshot.nodes[i].name()).collect();
                names.sort();
                names
            });
            assert_eq!(
                names, case.want_pre_filter_nodes,
                "{}: PreFilter nodes",
                case.name
            );
        }
        let idx = snapshot.index_of(case.node_name).expect("node in snapshot");
        let got = plugin.filter(&state, &info, &snapshot.nodes[idx]);
        assert_eq!(got, case.want, "{}: Filter", case.name);
    }

    fn required(terms: Value) -> Value {
        json!({"affinity": {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": terms}}}})
    }

    fn reject() -> Status {
        Status::unresolvable(ERR_REASON_POD)
    }

    #[test]
    fn node_selector_cases() {
        run(Case {
            name: "missing labels",
            pod: json!({"nodeSelector": {"foo": "bar"}}),
            want: reject(),
            ..Case::default()
        });
        run(Case {
            name: "same labels",
            pod: json!({"nodeSelector": {"foo": "bar"}}),
            labels: json!({"foo": "bar"}),
            ..Case::default()
        });
        run(Case {
            name: "node labels are superset",
            pod: json!({"nodeSelector": {"foo": "bar"}}),
            labels: json!({"foo": "bar", "baz": "blah"}),
            ..Case::default()
        });
        run(Case {
            name: "node labels are subset",
            pod: json!({"nodeSelector": {"foo": "bar", "baz": "blah"}}),
            labels: json!({"foo": "bar"}),
            want: reject(),
            ..Case::default()
        });
    }

    #[test]
    fn match_expression_cases() {
        run(Case {
            name: "matchExpressions using In operator that matches the existing node",
            pod: required(
                json!([{"matchExpressions": [{"key": "foo", "operator": "In", "values": ["bar", "value2"]}]}]),
            ),
            labels: json!({"foo": "bar"}),
            ..Case::default()
        });
        run(Case {
            name: "matchExpressions using Gt operator that matches the existing node",
            pod: required(
                json!([{"matchExpressions": [{"key": "kernel-version", "operator": "Gt", "values": ["0204"]}]}]),
            ),
            labels: json!({"kernel-version": "0206"}),
            ..Case::default()
        });
        run(Case {
            name: "matchExpressions using NotIn operator that matches the existing node",
            pod: required(
                json!([{"matchExpressions": [{"key": "mem-type", "operator": "NotIn", "values": ["DDR", "DDR2"]}]}]),
            ),
            labels: json!({"mem-type": "DDR3"}),
            ..Case::default()
        });
        run(Case {
            name: "matchExpressions using Exists operator that matches the existing node",
            pod: required(json!([{"matchExpressions": [{"key": "GPU", "operator": "Exists"}]}])),
            labels: json!({"GPU": "NVIDIA-GRID-K1"}),
            ..Case::default()
        });
        run(Case {
            name: "affinity that don't match node's labels won't schedule onto the node",
            pod: required(
                json!([{"matchExpressions": [{"key": "foo", "operator": "In", "values": ["value1", "value2"]}]}]),
            ),
            labels: json!({"foo": "bar"}),
            want: reject(),
            ..Case::default()
        });
        run(Case {
            name: "empty MatchExpressions is not a valid value will match no objects",
            pod: required(json!([{"matchExpressions": []}])),
            labels: json!({"foo": "bar"}),
            want: reject(),
            ..Case::default()
        });
        run(Case {
            name: "no Affinity will schedule onto a node",
            pod: json!({}),
            labels: json!({"foo": "bar"}),
            want_pre_filter: Status::skip(),
            ..Case::default()
        });
        run(Case {
            name: "Affinity but nil NodeSelector will schedule onto a node",
            pod: json!({"affinity": {"nodeAffinity": {}}}),
            labels: json!({"foo": "bar"}),
            want_pre_filter: Status::skip(),
            ..Case::default()
        });
        run(Case {
            name: "multiple matchExpressions ANDed that matches the existing node",
            pod: required(json!([{"matchExpressions": [
                {"key": "GPU", "operator": "Exists"},
                {"key": "GPU", "operator": "NotIn", "values": ["AMD", "INTER"]}
            ]}])),
            labels: json!({"GPU": "NVIDIA-GRID-K1"}),
            ..Case::default()
        });
        run(Case {
            name: "multiple matchExpressions ANDed that doesn't match the existing node",
            pod: required(json!([{"matchExpressions": [
                {"key": "GPU", "operator": "Exists"},
                {"key": "GPU", "operator": "In", "values": ["AMD", "INTER"]}
            ]}])),
            labels: json!({"GPU": "NVIDIA-GRID-K1"}),
            want: reject(),
            ..Case::default()
        });
        run(Case {
            name: "multiple NodeSelectorTerms ORed in affinity, matches the node's labels",
            pod: required(json!([
                {"matchExpressions": [{"key": "foo", "operator": "In", "values": ["bar", "value2"]}]},
                {"matchExpressions": [{"key": "diffkey", "operator": "In", "values": ["wrong", "value2"]}]}
            ])),
            labels: json!({"foo": "bar"}),
            ..Case::default()
        });
        let mut both =
            required(json!([{"matchExpressions": [{"key": "foo", "operator": "Exists"}]}]));
        both["nodeSelector"] = json!({"foo": "bar"});
        run(Case {
            name: "an Affinity and a PodSpec.NodeSelector both are satisfied",
            pod: both.clone(),
            labels: json!({"foo": "bar"}),
            ..Case::default()
        });
        run(Case {
            name: "an Affinity matches node's labels but the PodSpec.NodeSelector is not satisfied",
            pod: both,
            labels: json!({"foo": "barrrrrr"}),
            want: reject(),
            ..Case::default()
        });
        run(Case {
            name: "an invalid value in Affinity term won't be scheduled onto the node",
            pod: required(json!([{"matchExpressions": [
                {"key": "foo", "operator": "NotIn", "values": ["invalid value: ___@#$%^"]}
            ]}])),
            labels: json!({"foo": "bar"}),
            want: reject(),
            ..Case::default()
        });
    }

    fn name_in(names: &[&str]) -> Value {
        json!({"key": "metadata.name", "operator": "In", "values": names})
    }

    #[test]
    fn match_field_cases() {
        run(Case {
            name: "matchFields using In operator that matches the existing node",
            pod: required(json!([{"matchFields": [name_in(&["node1"])]}])),
            node_name: "node1",
            want_pre_filter_nodes: Some(vec!["node1"]),
            ..Case::default()
        });
        run(Case {
            name: "matchFields using In operator that does not match the existing node",
            pod: required(json!([{"matchFields": [name_in(&["node1"])]}])),
            node_name: "node2",
            want_pre_filter_nodes: Some(vec!["node1"]),
            want: reject(),
            ..Case::default()
        });
        run(Case {
            name: "two terms: matchFields does not match, but matchExpressions matches",
            pod: required(json!([
                {"matchFields": [name_in(&["node1"]), name_in(&["node2"])]},
                {"matchExpressions": [{"key": "foo", "operator": "In", "values": ["bar"]}]}
            ])),
            node_name: "node2",
            labels: json!({"foo": "bar"}),
            ..Case::default()
        });
        run(Case {
            name: "one term: matchFields does not match, but matchExpressions matches",
            pod: required(json!([{
                "matchFields": [name_in(&["node1"])],
                "matchExpressions": [{"key": "foo", "operator": "In", "values": ["bar"]}]
            }])),
            node_name: "node2",
            labels: json!({"foo": "bar"}),
            want_pre_filter_nodes: Some(vec!["node1"]),
            want: reject(),
            ..Case::default()
        });
        run(Case {
            name: "one term: both matchFields and matchExpressions match",
            pod: required(json!([{
                "matchFields": [name_in(&["node1"])],
                "matchExpressions": [{"key": "foo", "operator": "In", "values": ["bar"]}]
            }])),
            node_name: "node1",
            labels: json!({"foo": "bar"}),
            want_pre_filter_nodes: Some(vec!["node1"]),
            ..Case::default()
        });
        run(Case {
            name: "two terms: both matchFields and matchExpressions do not match",
            pod: required(json!([
                {"matchFields": [name_in(&["node1"])]},
                {"matchExpressions": [{"key": "foo", "operator": "In", "values": ["not-match-to-bar"]}]}
            ])),
            node_name: "node2",
            labels: json!({"foo": "bar"}),
            want: reject(),
            ..Case::default()
        });
        run(Case {
            name: "two terms of node.Name affinity",
            pod: required(
                json!([{"matchFields": [name_in(&["node1"])]}, {"matchFields": [name_in(&["node2"])]}]),
            ),
            node_name: "node2",
            want_pre_filter_nodes: Some(vec!["node1", "node2"]),
            ..Case::default()
        });
        run(Case {
            name: "two conflicting mach field requirements",
            pod: required(json!([{"matchFields": [name_in(&["node1"]), name_in(&["node2"])]}])),
            node_name: "node2",
            labels: json!({"foo": "bar"}),
            want_pre_filter: Status::unresolvable(ERR_REASON_CONFLICT),
            want: reject(),
            ..Case::default()
        });
    }

    #[test]
    fn added_affinity_cases() {
        let added_node2 = || {
            args(
                json!({"requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [
                    {"matchFields": [name_in(&["node2"])]}
                ]}}),
            )
        };
        run(Case {
            name: "Matches added affinity and Pod's node affinity",
            pod: required(
                json!([{"matchExpressions": [{"key": "zone", "operator": "In", "values": ["foo"]}]}]),
            ),
            node_name: "node2",
            labels: json!({"zone": "foo"}),
            args: added_node2(),
            ..Case::default()
        });
        run(Case {
            name: "Matches added affinity but not Pod's node affinity",
            pod: required(
                json!([{"matchExpressions": [{"key": "zone", "operator": "In", "values": ["bar"]}]}]),
            ),
            node_name: "node2",
            labels: json!({"zone": "foo"}),
            args: added_node2(),
            want: reject(),
            ..Case::default()
        });
        run(Case {
            name: "Doesn't match added affinity",
            pod: json!({}),
            node_name: "node2",
            labels: json!({"zone": "foo"}),
            args: args(
                json!({"requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [
                    {"matchExpressions": [{"key": "zone", "operator": "In", "values": ["bar"]}]}
                ]}}),
            ),
            want: Status::unresolvable(ERR_REASON_ENFORCED),
            ..Case::default()
        });
    }

    #[test]
    fn filter_without_pre_filter() {
        run(Case {
            name: "Matches node selector correctly even if PreFilter is not called",
            pod: json!({"nodeSelector": {"foo": "bar"}}),
            labels: json!({"foo": "bar", "baz": "blah"}),
            run_pre_filter: false,
            ..Case::default()
        });
        run(Case {
            name: "Matches node affinity correctly even if PreFilter is not called",
            pod: required(json!([{"matchExpressions": [
                {"key": "GPU", "operator": "Exists"},
                {"key": "GPU", "operator": "NotIn", "values": ["AMD", "INTER"]}
            ]}])),
            labels: json!({"GPU": "NVIDIA-GRID-K1"}),
            run_pre_filter: false,
            ..Case::default()
        });
        // And the negative: without PreFilter a mismatch still rejects.
        run(Case {
            name: "rejects correctly even if PreFilter is not called",
            pod: json!({"nodeSelector": {"foo": "bar"}}),
            labels: json!({"foo": "baz"}),
            run_pre_filter: false,
            want: reject(),
            ..Case::default()
        });
    }

    // TestNodeAffinityPriority.

    fn affinity1() -> Value {
        json!({"preferredDuringSchedulingIgnoredDuringExecution": [
            {"weight": 2, "preference": {"matchExpressions": [{"key": "foo", "operator": "In", "values": ["bar"]}]}}
        ]})
    }

    fn affinity2() -> Value {
        json!({"preferredDuringSchedulingIgnoredDuringExecution": [
            {"weight": 2, "preference": {"matchExpressions": [{"key": "foo", "operator": "In", "values": ["bar"]}]}},
            {"weight": 4, "preference": {"matchExpressions": [{"key": "key", "operator": "In", "values": ["value"]}]}},
            {"weight": 5, "preference": {"matchExpressions": [
                {"key": "foo", "operator": "In", "values": ["bar"]},
                {"key": "key", "operator": "In", "values": ["value"]},
                {"key": "az", "operator": "In", "values": ["az1"]}
            ]}}
        ]})
    }

    fn label(n: u8) -> Value {
        match n {
            1 => json!({"foo": "bar"}),
            2 => json!({"key": "value"}),
            3 => json!({"az": "az1"}),
            4 => json!({"abc": "az11", "def": "az22"}),
            _ => json!({"foo": "bar", "key": "value", "az": "az1"}),
        }
    }

    fn priority(
        node_affinity: Option<Value>,
        nodes: &[(&str, u8)],
        args: NodeAffinityArgs,
    ) -> Option<Vec<i64>> {
        let plugin = NodeAffinity::new(args).expect("valid args");
        let nodes: Vec<Arc<Node>> = nodes
            .iter()
            .map(|(n, l)| node(json!({"metadata": {"name": n, "labels": label(*l)}})))
            .collect();
        let snapshot = Snapshot::new(&nodes, &[], &[]);
        let mut p = json!({"metadata": {"name": "p"}});
        if let Some(na) = node_affinity {
            p["spec"] = json!({"affinity": {"nodeAffinity": na}});
        }
        run_score(&plugin, &pod(p), &snapshot)
    }

    #[test]
    fn priority_table() {
        // "all nodes are same priority as NodeAffinity is nil": PreScore skips the plugin, so
        // every node gets 0 from it.
        assert_eq!(
            priority(
                None,
                &[("node1", 1), ("node2", 2), ("node3", 3)],
                NodeAffinityArgs::default()
            ),
            None
        );
        assert_eq!(
            priority(Some(affinity1()), &[("node1", 4), ("node2", 2), ("node3", 3)], NodeAffinityArgs::default()),
            Some(vec![0, 0, 0]),
            "no node matches preferred scheduling requirements in NodeAffinity of pod so all nodes' priority is zero"
        );
        assert_eq!(
            priority(
                Some(affinity1()),
                &[("node1", 1), ("node2", 2), ("node3", 3)],
                NodeAffinityArgs::default()
            ),
            Some(vec![100, 0, 0]),
            "only node1 matches the preferred scheduling requirements of pod"
        );
        assert_eq!(
            priority(Some(affinity2()), &[("node1", 1), ("node5", 5), ("node2", 2)], NodeAffinityArgs::default()),
            Some(vec![18, 100, 36]),
            "all nodes matches the preferred scheduling requirements of pod but with different priorities"
        );
        assert_eq!(
            priority(None, &[("node1", 1), ("node2", 2)], args(affinity1())),
            Some(vec![100, 0]),
            "added affinity"
        );
        let added = args(json!({"preferredDuringSchedulingIgnoredDuringExecution": [
            {"weight": 3, "preference": {"matchExpressions": [{"key": "key", "operator": "In", "values": ["value"]}]}}
        ]}));
        assert_eq!(
            priority(
                Some(affinity1()),
                &[("node1", 1), ("node2", 2), ("node3", 5)],
                added
            ),
            Some(vec![40, 60, 100]),
            "added affinity and pod has default affinity"
        );
    }

    #[test]
    fn priority_without_pre_score() {
        // "calculate the priorities correctly even if PreScore is not called".
        let plugin = NodeAffinity::new(NodeAffinityArgs::default()).expect("valid args");
        let nodes: Vec<Arc<Node>> = [("node1", 1), ("node5", 5), ("node2", 2)]
            .iter()
            .map(|(n, l)| node(json!({"metadata": {"name": n, "labels": label(*l)}})))
            .collect();
        let snapshot = Snapshot::new(&nodes, &[], &[]);
        let info = PodInfo::new(pod(
            json!({"metadata": {"name": "p"}, "spec": {"affinity": {"nodeAffinity": affinity2()}}}),
        ));
        let state = CycleState::new();
        let mut scores: Vec<NodeScore> = (0..3)
            .map(|i| NodeScore {
                node: i,
                score: plugin
                    .score(&state, &info, &snapshot.nodes[i])
                    .expect("scores"),
            })
            .collect();
        plugin.normalize_scores(&state, &info, &mut scores);
        assert_eq!(
            scores.iter().map(|s| s.score).collect::<Vec<_>>(),
            vec![18, 100, 36]
        );
    }

    // TestValidateNodeAffinityArgs.

    #[test]
    fn validate_args() {
        assert_eq!(
            NodeAffinityArgs::default().validate(&FieldPath::root()),
            Ok(()),
            "empty"
        );
        let valid = args(json!({
            "requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [
                {"matchExpressions": [{"key": "label-1", "operator": "In", "values": ["label-1-val"]}]}
            ]},
            "preferredDuringSchedulingIgnoredDuringExecution": [
                {"weight": 1, "preference": {"matchFields": [name_in(&["node-1"])]}}
            ]
        }));
        assert_eq!(
            valid.validate(&FieldPath::root()),
            Ok(()),
            "valid added affinity"
        );
        let invalid = args(json!({
            "requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [
                {"matchExpressions": [{"key": "invalid/label/key", "operator": "In", "values": ["label-1-val"]}]}
            ]},
            "preferredDuringSchedulingIgnoredDuringExecution": [
                {"weight": 1, "preference": {"matchFields": [name_in(&["node-1", "node-2"])]}}
            ]
        }));
        let errs = invalid
            .validate(&FieldPath::root())
            .expect_err("invalid added affinity");
        let fields: Vec<String> = errs.iter().map(|e| e.path.to_string()).collect();
        assert_eq!(
            fields,
            vec![
                "addedAffinity.requiredDuringSchedulingIgnoredDuringExecution.nodeSelectorTerms[0].matchExpressions[0].key",
                "addedAffinity.preferredDuringSchedulingIgnoredDuringExecution[0].matchFields[0].values",
            ]
        );
        assert!(errs.iter().all(|e| matches!(
            e.kind,
            flotilla_model::validation::FieldErrorKind::Invalid { .. }
        )));
        assert_eq!(
            errs[1].to_string(),
            "addedAffinity.preferredDuringSchedulingIgnoredDuringExecution[0].matchFields[0].values: \
             Invalid value: []string{\"node-1\", \"node-2\"}: must have one element"
        );
        assert!(
            NodeAffinity::new(invalid).is_err(),
            "the constructor validates"
        );
    }

    #[test]
    fn validate_requirement_value_rules() {
        let a = args(
            json!({"requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [
                {"matchExpressions": [
                    {"key": "a", "operator": "In"},
                    {"key": "b", "operator": "Exists", "values": ["x"]},
                    {"key": "c", "operator": "Gt", "values": ["x"]}
                ]}
            ]}}),
        );
        let errs = a.validate(&FieldPath::new("args")).expect_err("invalid");
        let got: Vec<String> = errs.iter().map(ToString::to_string).collect();
        let base = "args.addedAffinity.requiredDuringSchedulingIgnoredDuringExecution.nodeSelectorTerms[0].matchExpressions";
        assert_eq!(
            got,
            vec![
                format!("{base}[0].values: Invalid value: []string{{}}: for 'in', 'notin' operators, values set can't be empty"),
                format!("{base}[1].values: Invalid value: []string{{\"x\"}}: values set must be empty for exists and does not exist"),
                format!("{base}[2].values[0]: Invalid value: \"x\": for 'Gt', 'Lt' operators, the value must be an integer"),
            ]
        );
    }

    #[test]
    fn pre_filter_names_unknown_nodes_select_nothing() {
        let plugin = NodeAffinity::default();
        let snapshot = Snapshot::new(&[node(json!({"metadata": {"name": "node1"}}))], &[], &[]);
        let info = PodInfo::new(pod(
            json!({"metadata": {"name": "p"}, "spec": required(json!([{"matchFields": [name_in(&["ghost"])]}]))}),
        ));
        let (result, status) = plugin.pre_filter(&mut CycleState::new(), &info, &snapshot);
        assert_eq!(status.code, Code::Success);
        assert_eq!(result.nodes, Some(vec![]));
    }
}
