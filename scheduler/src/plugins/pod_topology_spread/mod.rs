//! PodTopologySpread: spreads matching pods evenly over topology domains (nodes, zones, any node
//! label) according to the pod's `topologySpreadConstraints`, or default constraints for pods
//! without any (kube-scheduler v1.34, pkg/scheduler/framework/plugins/podtopologyspread:
//! plugin.go, common.go, filtering.go, scoring.go).
//!
//! A constraint counts, per domain (value of `topologyKey` on a node), the pods in the incoming
//! pod's namespace that match its label selector (ANDed with `key=value` for each
//! `matchLabelKeys` key the pod carries), skipping terminating pods. Only nodes that carry every
//! constraint's key count, and with `nodeAffinityPolicy: Honor` (the default) only nodes that
//! match the pod's `nodeSelector` and required node affinity, with `nodeTaintsPolicy: Honor` only
//! nodes whose `NoSchedule`/`NoExecute` taints the pod tolerates.
//!
//! - **Filter** ([`filtering`], `whenUnsatisfiable: DoNotSchedule`): a node without a
//!   constraint's key is rejected with `node(s) didn't match pod topology spread constraints
//!   (missing required label)` (UnschedulableAndUnresolvable); otherwise the node is rejected
//!   with `node(s) didn't match pod topology spread constraints` (Unschedulable: evicting pods
//!   can fix it) when `count(domain) + selfMatch - globalMin > maxSkew`, where `selfMatch` is 1
//!   when the pod matches its own selector and `globalMin` is the smallest count over the
//!   eligible domains, or 0 when there are fewer than `minDomains` of them.
//! - **Score** ([`scoring`], `whenUnsatisfiable: ScheduleAnyway`): per constraint,
//!   `count(domain) * ln(domains + 2) + (maxSkew - 1)`, summed over constraints and rounded
//!   (`math.Round`), where `domains` is the number of domains among the feasible nodes (for
//!   `kubernetes.io/hostname`, the number of feasible nodes). **NormalizeScore** maps the lowest
//!   score to 100: `100 * (max + min - s) / max` (100 for all when the maximum is 0; 0 for nodes
//!   missing a key).
//!
//! **Defaults.** A pod without constraints gets the plugin's default constraints, but only when
//! it belongs to a Service, ReplicationController, ReplicaSet or StatefulSet: their selectors
//! (from [`Snapshot::workload_selectors`](crate::snapshot::Snapshot::workload_selectors), see
//! [`workload_selectors`]) become the constraints' selector. With `defaultingType: System`
//! (the default) those are `{kubernetes.io/hostname, maxSkew 3}` and
//! `{topology.kubernetes.io/zone, maxSkew 5}`, both `ScheduleAnyway`, and nodes without a zone
//! still count for hostname spreading; with `List` they are `defaultConstraints`.

pub mod filtering;
pub mod scoring;

#[cfg(test)]
mod tests;

use std::collections::BTreeMap;
use std::sync::Arc;

use flotilla_model::api::{
    NodeInclusionPolicy, Pod, ReplicaSet, Service, StatefulSet, TopologySpreadConstraint,
    UnsatisfiableConstraintAction,
};
use flotilla_model::selector::Requirement;
use flotilla_model::validation::is_qualified_name;
use flotilla_model::{ErrorList, FieldError, FieldPath, Labels, Selector};
use serde::{Deserialize, Serialize};

use crate::framework::{FilterPlugin, Plugin, PreFilterPlugin, PreScorePlugin, ScorePlugin};
use crate::node_info::PodInfo;
use crate::plugins::node_affinity::RequiredNodeAffinity;
use crate::plugins::taint_toleration::untolerated_do_not_schedule_taint;
use crate::snapshot::{WorkloadSelectors, ZONE_LABEL};

/// The plugin's name in a KubeSchedulerConfiguration.
pub const NAME: &str = "PodTopologySpread";

/// Filter reason when the skew would exceed `maxSkew` (Unschedulable).
pub const ERR_REASON_CONSTRAINTS_NOT_MATCH: &str =
    "node(s) didn't match pod topology spread constraints";
/// Filter reason when the node lacks a constraint's topology key (UnschedulableAndUnresolvable).
pub const ERR_REASON_NODE_LABEL_NOT_MATCH: &str =
    "node(s) didn't match pod topology spread constraints (missing required label)";

/// The well-known node label with the node's host name (`v1.LabelHostname`).
pub const LABEL_HOSTNAME: &str = "kubernetes.io/hostname";

/// `defaultingType` value: use kube-scheduler's built-in default constraints.
pub const SYSTEM_DEFAULTING: &str = "System";
/// `defaultingType` value: use the `defaultConstraints` of the arguments.
pub const LIST_DEFAULTING: &str = "List";

/// The plugin's arguments (kube-scheduler's `PodTopologySpreadArgs`, config v1 defaults).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct PodTopologySpreadArgs {
    /// Constraints for pods that have none, with `defaultingType: List`; they may not set a
    /// `labelSelector` (it is derived per pod from its Services and controllers).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub default_constraints: Vec<TopologySpreadConstraint>,
    /// `System` (the default; `defaultConstraints` must then be empty) or `List`. An empty
    /// string means `System`, as v1 defaulting makes it.
    pub defaulting_type: String,
}

impl Default for PodTopologySpreadArgs {
    fn default() -> PodTopologySpreadArgs {
        PodTopologySpreadArgs {
            default_constraints: Vec::new(),
            defaulting_type: SYSTEM_DEFAULTING.to_string(),
        }
    }
}

impl PodTopologySpreadArgs {
    fn effective_defaulting_type(&self) -> &str {
        if self.defaulting_type.is_empty() {
            SYSTEM_DEFAULTING
        } else {
            &self.defaulting_type
        }
    }

    /// Checks the arguments as kube-scheduler's `ValidatePodTopologySpreadArgs` does, with its
    /// messages: `defaultingType` is `System` or `List`, and `System` takes no
    /// `defaultConstraints`; each default constraint has `maxSkew > 0`, a valid non-empty
    /// `topologyKey`, a `whenUnsatisfiable`, no `labelSelector`, and no other constraint with the
    /// same key and action before it. Errors are under `path`.
    pub fn validate(&self, path: &FieldPath) -> Result<(), ErrorList> {
        let mut errs = ErrorList::new();
        let dt = self.effective_defaulting_type();
        let dt_path = path.child("defaultingType");
        if dt != SYSTEM_DEFAULTING && dt != LIST_DEFAULTING {
            errs.push(FieldError::not_supported(
                &dt_path,
                dt,
                &[SYSTEM_DEFAULTING, LIST_DEFAULTING],
            ));
        } else if dt == SYSTEM_DEFAULTING && !self.default_constraints.is_empty() {
            errs.push(FieldError::invalid(
                &dt_path,
                dt,
                "when .defaultConstraints are not empty",
            ));
        }
        let list = path.child("defaultConstraints");
        for (i, c) in self.default_constraints.iter().enumerate() {
            let p = list.index(i);
            if c.max_skew <= 0 {
                errs.push(FieldError::invalid(
                    &p.child("maxSkew"),
                    c.max_skew,
                    "not in valid range (0, inf)",
                ));
            }
            let key = p.child("topologyKey");
            if c.topology_key.is_empty() {
                errs.push(FieldError::required(&key, "can not be empty"));
            } else {
                for reason in is_qualified_name(&c.topology_key) {
                    errs.push(FieldError::invalid(&key, &c.topology_key, reason));
                }
            }
            if c.when_unsatisfiable.is_none() {
                errs.push(FieldError::required(
                    &p.child("whenUnsatisfiable"),
                    "can not be empty",
                ));
            }
            if c.label_selector.is_some() {
                errs.push(FieldError::forbidden(
                    &p.child("labelSelector"),
                    "constraint must not define a selector, as they deduced for each pod",
                ));
            }
            let repeated = self.default_constraints[..i].iter().any(|o| {
                o.topology_key == c.topology_key && o.when_unsatisfiable == c.when_unsatisfiable
            });
            if repeated {
                let action = c
                    .when_unsatisfiable
                    .map_or(String::new(), |a| format!("{a:?}"));
                errs.push(FieldError::duplicate(
                    &p,
                    format!("{{{}, {action}}}", c.topology_key),
                ));
            }
        }
        if errs.is_empty() {
            Ok(())
        } else {
            Err(errs)
        }
    }
}

/// kube-scheduler's system default constraints: `{kubernetes.io/hostname, maxSkew 3}` and
/// `{topology.kubernetes.io/zone, maxSkew 5}`, both `ScheduleAnyway` (plugin.go).
pub fn system_default_constraints() -> Vec<TopologySpreadConstraint> {
    vec![
        TopologySpreadConstraint {
            max_skew: 3,
            topology_key: LABEL_HOSTNAME.to_string(),
            when_unsatisfiable: Some(UnsatisfiableConstraintAction::ScheduleAnyway),
            ..TopologySpreadConstraint::default()
        },
        TopologySpreadConstraint {
            max_skew: 5,
            topology_key: ZONE_LABEL.to_string(),
            when_unsatisfiable: Some(UnsatisfiableConstraintAction::ScheduleAnyway),
            ..TopologySpreadConstraint::default()
        },
    ]
}

/// The PodTopologySpread plugin.
#[derive(Clone, Debug)]
pub struct PodTopologySpread {
    default_constraints: Vec<TopologySpreadConstraint>,
    /// Whether the defaults are the system ones: then nodes without every topology key are not
    /// ignored when scoring.
    system_defaulted: bool,
}

impl PodTopologySpread {
    /// The plugin with its arguments, rejected as [`PodTopologySpreadArgs::validate`] rejects
    /// them.
    pub fn new(args: PodTopologySpreadArgs) -> Result<PodTopologySpread, ErrorList> {
        args.validate(&FieldPath::root())?;
        if args.effective_defaulting_type() == SYSTEM_DEFAULTING {
            Ok(PodTopologySpread {
                default_constraints: system_default_constraints(),
                system_defaulted: true,
            })
        } else {
            Ok(PodTopologySpread {
                default_constraints: args.default_constraints,
                system_defaulted: false,
            })
        }
    }

    /// The pod's constraints with action `action`: its own if it has any, else the defaults
    /// (`getConstraints` / `buildDefaultConstraints`). Fails on a label selector that does not
    /// convert.
    fn constraints_for(
        &self,
        pod: &Pod,
        action: UnsatisfiableConstraintAction,
        workloads: &WorkloadSelectors,
    ) -> Result<Vec<Constraint>, String> {
        if !pod.spec.topology_spread_constraints.is_empty() {
            return filter_constraints(
                &pod.spec.topology_spread_constraints,
                &pod.metadata.labels,
                action,
            );
        }
        let mut constraints =
            filter_constraints(&self.default_constraints, &pod.metadata.labels, action)?;
        if constraints.is_empty() {
            return Ok(constraints);
        }
        let selector = default_selector(pod, workloads);
        if selector.is_empty() {
            return Ok(Vec::new());
        }
        for c in &mut constraints {
            c.selector = Some(selector.clone());
        }
        Ok(constraints)
    }
}

impl Plugin for PodTopologySpread {
    fn name(&self) -> &'static str {
        NAME
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
    fn as_pre_filter_extensions(&self) -> Option<&dyn crate::framework::PreFilterExtensions> {
        Some(self)
    }
}

/// A constraint with its selector parsed (kube-scheduler's `topologySpreadConstraint`).
#[derive(Clone, Debug, PartialEq)]
struct Constraint {
    max_skew: i32,
    topology_key: String,
    /// `None` (a constraint without `labelSelector`) matches no pod.
    selector: Option<Selector>,
    min_domains: i32,
    node_affinity_policy: NodeInclusionPolicy,
    node_taints_policy: NodeInclusionPolicy,
}

impl Constraint {
    fn matches(&self, labels: &Labels) -> bool {
        self.selector.as_ref().is_some_and(|s| s.matches(labels))
    }

    /// Whether `node` counts for this constraint under its node inclusion policies
    /// (`matchNodeInclusionPolicies`).
    fn includes_node(
        &self,
        pod: &Pod,
        node: &flotilla_model::api::Node,
        required: &RequiredNodeAffinity,
    ) -> bool {
        if self.node_affinity_policy == NodeInclusionPolicy::Honor && !required.matches(node) {
            return false;
        }
        if self.node_taints_policy == NodeInclusionPolicy::Honor
            && untolerated_do_not_schedule_taint(node, &pod.spec.tolerations).is_some()
        {
            return false;
        }
        true
    }

    /// The number of pods of `pods` that count for this constraint: in namespace `ns`, not
    /// terminating, matching the selector (`countPodsMatchSelector`).
    fn count_matching(&self, pods: &[PodInfo], ns: &str) -> i64 {
        let Some(sel) = &self.selector else { return 0 };
        pods.iter()
            .filter(|p| {
                let m = &p.pod.metadata;
                m.deletion_timestamp.is_none() && m.namespace == ns && sel.matches(&m.labels)
            })
            .count() as i64
    }
}

/// Whether `labels` has every constraint's topology key (`nodeLabelsMatchSpreadConstraints`).
fn has_all_keys(labels: &Labels, constraints: &[Constraint]) -> bool {
    constraints
        .iter()
        .all(|c| labels.contains_key(&c.topology_key))
}

/// The constraints with action `action`, parsed (`filterTopologySpreadConstraints`). A
/// constraint without `whenUnsatisfiable` has neither action. `matchLabelKeys` are merged into
/// the selector here: kube-scheduler v1.34 leaves that to the API server
/// (MatchLabelKeysInPodTopologySpreadSelectorMerge), which Flotilla's does not do; the result is
/// the same selector.
fn filter_constraints(
    constraints: &[TopologySpreadConstraint],
    pod_labels: &Labels,
    action: UnsatisfiableConstraintAction,
) -> Result<Vec<Constraint>, String> {
    let mut out = Vec::new();
    for c in constraints {
        if c.when_unsatisfiable != Some(action) {
            continue;
        }
        let mut selector = match &c.label_selector {
            Some(ls) => Some(ls.to_selector().map_err(|e| e.to_string())?),
            None => None,
        };
        let mut match_labels = Vec::new();
        for key in &c.match_label_keys {
            if let Some(v) = pod_labels.get(key) {
                match_labels.push(
                    Requirement::equals(key.as_str(), v.as_str()).map_err(|e| e.to_string())?,
                );
            }
        }
        if !match_labels.is_empty() {
            // A missing selector (labels.Nothing) has no requirements to keep.
            let mut merged = Selector::new(match_labels);
            if let Some(s) = &selector {
                for r in s.requirements() {
                    merged.add(r.clone());
                }
            }
            selector = Some(merged);
        }
        out.push(Constraint {
            max_skew: c.max_skew,
            topology_key: c.topology_key.clone(),
            selector,
            min_domains: c.min_domains.unwrap_or(1),
            node_affinity_policy: c.node_affinity_policy.unwrap_or(NodeInclusionPolicy::Honor),
            node_taints_policy: c.node_taints_policy.unwrap_or(NodeInclusionPolicy::Ignore),
        });
    }
    Ok(out)
}

/// The selector of the workloads `pod` belongs to (helper/spread.go `DefaultSelector`): the
/// selectors of the Services in its namespace that select it, plus that of its controller when
/// it is a ReplicationController (`v1`), ReplicaSet or StatefulSet (`apps/v1`).
fn default_selector(pod: &Pod, workloads: &WorkloadSelectors) -> Selector {
    let labels = &pod.metadata.labels;
    let ns = &pod.metadata.namespace;
    let mut set: BTreeMap<&str, &str> = BTreeMap::new();
    for (service_ns, selector) in &workloads.services {
        if service_ns == ns && selector.iter().all(|(k, v)| labels.get(k) == Some(v)) {
            set.extend(selector.iter().map(|(k, v)| (k.as_str(), v.as_str())));
        }
    }
    let mut selector = Selector::new(
        set.into_iter()
            .filter_map(|(k, v)| Requirement::equals(k, v).ok()),
    );
    let Some(owner) = pod
        .metadata
        .owner_references
        .iter()
        .find(|r| r.controller == Some(true))
    else {
        return selector;
    };
    let supported = matches!(
        (owner.api_version.as_str(), owner.kind.as_str()),
        ("v1", "ReplicationController") | ("apps/v1", "ReplicaSet") | ("apps/v1", "StatefulSet")
    );
    if supported {
        let key = (ns.clone(), owner.kind.clone(), owner.name.clone());
        if let Some(controller) = workloads.controllers.get(&key) {
            for r in controller.requirements() {
                selector.add(r.clone());
            }
        }
    }
    selector
}

/// Builds the [`WorkloadSelectors`] a snapshot needs from the cluster's Services, ReplicaSets
/// and StatefulSets, as kube-scheduler's listers see them. Services without a selector and
/// controllers whose selector does not convert are left out. (ReplicationControllers, which
/// Flotilla does not model, can be added to `controllers` under kind `ReplicationController`.)
pub fn workload_selectors(
    services: &[Arc<Service>],
    replica_sets: &[Arc<ReplicaSet>],
    stateful_sets: &[Arc<StatefulSet>],
) -> WorkloadSelectors {
    let mut out = WorkloadSelectors::default();
    for s in services {
        if !s.spec.selector.is_empty() {
            out.services
                .push((s.metadata.namespace.clone(), s.spec.selector.clone()));
        }
    }
    let controllers = replica_sets
        .iter()
        .map(|rs| (&rs.metadata, rs.spec.selector.as_ref(), "ReplicaSet"))
        .chain(
            stateful_sets
                .iter()
                .map(|ss| (&ss.metadata, ss.spec.selector.as_ref(), "StatefulSet")),
        );
    for (meta, selector, kind) in controllers {
        if let Some(Ok(sel)) = selector.map(|s| s.to_selector()) {
            out.controllers.insert(
                (meta.namespace.clone(), kind.to_string(), meta.name.clone()),
                sel,
            );
        }
    }
    out
}
