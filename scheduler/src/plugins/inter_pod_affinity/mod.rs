//! InterPodAffinity: pod affinity and anti-affinity, as kube-scheduler v1.34's `InterPodAffinity`
//! plugin (pkg/scheduler/framework/plugins/interpodaffinity).
//!
//! **Filter** ([`filtering`]). PreFilter counts, per topology pair `(key, value)`:
//!
//! - the existing pods whose *required anti-affinity* terms match the incoming pod (one count per
//!   matching term, at the value of the term's key on the existing pod's node);
//! - the existing pods that match *all* the incoming pod's required affinity terms (one count per
//!   term);
//! - the existing pods that match each of the incoming pod's required anti-affinity terms.
//!
//! Filter then rejects a node when
//!
//! 1. it lacks one of the affinity terms' topology keys, or a term's pair has no matching pod —
//!    unless no pod matches anywhere and the pod matches its own terms (the first pod of a group
//!    with self-affinity): `node(s) didn't match pod affinity rules`, UnschedulableAndUnresolvable;
//! 2. an anti-affinity term's pair on the node has a matching pod:
//!    `node(s) didn't match pod anti-affinity rules`, Unschedulable;
//! 3. an existing pod's anti-affinity counts a pair the node has:
//!    `node(s) didn't satisfy existing pods anti-affinity rules`, Unschedulable.
//!
//! PreFilter returns Skip when no existing anti-affinity term matches the pod and the pod has no
//! required terms.
//!
//! **Score** ([`scoring`]). PreScore builds `topologyScore[key][value]` from the existing pods:
//! each incoming preferred affinity (anti-affinity) term an existing pod matches adds (subtracts)
//! its weight at the value of the term's key on that pod's node; each required affinity term of an
//! existing pod that the incoming pod matches adds `hardPodAffinityWeight`; each preferred
//! affinity (anti-affinity) term of an existing pod that the incoming pod matches adds (subtracts)
//! its weight. A node's raw score is `Σ_key topologyScore[key][node.labels[key]]`; NormalizeScore
//! maps it min–max to `int64(100 * (s − min) / (max − min))` in float, min and max taken over the
//! scored nodes (all 0 when they are equal). PreScore returns Skip when no term matched anywhere.
//!
//! Namespaces: a term selects pods in its `namespaces`, or in the pod's own namespace when it has
//! neither `namespaces` nor `namespaceSelector`, plus the namespaces whose labels match its
//! `namespaceSelector` (`{}` selects every namespace). The incoming pod's terms have their
//! namespace selector resolved against [`Snapshot::namespace_labels`] once per cycle, as
//! kube-scheduler merges it into the namespace set; existing pods' terms are evaluated against the
//! labels of the incoming pod's namespace (none when the namespace is unknown).
//! `matchLabelKeys`/`mismatchLabelKeys` are already folded into the term selectors by
//! [`PodInfo::new`], as the API server folds them on pod creation.
//!
//! [`Snapshot::namespace_labels`]: crate::snapshot::Snapshot::namespace_labels

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use flotilla_model::api::{Pod, PodAffinityTerm};
use flotilla_model::{ErrorList, FieldError, FieldPath, Labels, Selector};
use serde::{Deserialize, Serialize};

use crate::framework::{
    CycleState, FilterPlugin, Plugin, PreFilterExtensions, PreFilterPlugin, PreScorePlugin,
    ScorePlugin, Status,
};
use crate::node_info::NodeInfo;
use crate::node_info::{AffinityTerm, PodInfo};
use crate::snapshot::Snapshot;
use pair_cache::PairCache;

pub mod filtering;
mod pair_cache;
pub mod scoring;

#[cfg(test)]
mod filtering_tests;
#[cfg(test)]
mod scoring_tests;
#[cfg(test)]
mod test_support;

pub use filtering::{
    ERR_REASON_AFFINITY_RULES_NOT_MATCH, ERR_REASON_ANTI_AFFINITY_RULES_NOT_MATCH,
    ERR_REASON_EXISTING_ANTI_AFFINITY_RULES_NOT_MATCH, PRE_FILTER_STATE_KEY,
};
pub use scoring::PRE_SCORE_STATE_KEY;

/// The plugin's name in a KubeSchedulerConfiguration.
pub const NAME: &str = "InterPodAffinity";

/// The default `hardPodAffinityWeight` (kube-scheduler's `DefaultHardPodAffinityWeight`).
pub const DEFAULT_HARD_POD_AFFINITY_WEIGHT: i32 = 1;
/// The lowest valid `hardPodAffinityWeight`.
pub const MIN_HARD_POD_AFFINITY_WEIGHT: i32 = 0;
/// The highest valid `hardPodAffinityWeight`.
pub const MAX_HARD_POD_AFFINITY_WEIGHT: i32 = 100;

/// The plugin's arguments (kube-scheduler's `InterPodAffinityArgs`, config v1).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct InterPodAffinityArgs {
    /// The score an existing pod's *required* affinity term adds when the incoming pod matches
    /// it (the symmetric weight of hard affinity), 0–100; 0 turns that contribution off.
    pub hard_pod_affinity_weight: i32,
    /// When the incoming pod has no preferred (anti-)affinity terms, skip scoring altogether
    /// instead of scoring existing pods' terms.
    pub ignore_preferred_terms_of_existing_pods: bool,
}

impl Default for InterPodAffinityArgs {
    /// kube-scheduler's v1 defaults: `hardPodAffinityWeight: 1`,
    /// `ignorePreferredTermsOfExistingPods: false`.
    fn default() -> InterPodAffinityArgs {
        InterPodAffinityArgs {
            hard_pod_affinity_weight: DEFAULT_HARD_POD_AFFINITY_WEIGHT,
            ignore_preferred_terms_of_existing_pods: false,
        }
    }
}

impl InterPodAffinityArgs {
    /// Checks the arguments as kube-scheduler's `ValidateInterPodAffinityArgs`
    /// (pkg/scheduler/apis/config/validation/validation_pluginargs.go), with errors under `path`
    /// (`profiles[0].pluginConfig[1].args`): `…hardPodAffinityWeight: Invalid value: 101: not in
    /// valid range [0, 100]`.
    pub fn validate(&self, path: &FieldPath) -> Result<(), ErrorList> {
        let w = self.hard_pod_affinity_weight;
        if !(MIN_HARD_POD_AFFINITY_WEIGHT..=MAX_HARD_POD_AFFINITY_WEIGHT).contains(&w) {
            return Err(vec![FieldError::invalid(
                &path.child("hardPodAffinityWeight"),
                w,
                format!("not in valid range [{MIN_HARD_POD_AFFINITY_WEIGHT}, {MAX_HARD_POD_AFFINITY_WEIGHT}]"),
            )]);
        }
        Ok(())
    }
}

/// The InterPodAffinity plugin: PreFilter, Filter, PreScore, Score and NormalizeScore.
///
/// Besides the extension points it has kube-scheduler's PreFilter extensions,
/// [`InterPodAffinity::add_pod`] and [`InterPodAffinity::remove_pod`], which preemption calls to
/// update the PreFilter state when it simulates removing victims.
///
/// PreFilter and PreScore keep what each node's pods add to their sums from one cycle to the
/// next (see `pair_cache`): a pod like the last one costs a re-count of the nodes that changed
/// since, not a scan of every pod. The results are those of a full scan.
#[derive(Clone, Debug, Default)]
pub struct InterPodAffinity {
    args: InterPodAffinityArgs,
    /// The per-node sums of the scans, shared by the plugin's clones.
    caches: Arc<Mutex<ScanCaches>>,
}

/// The per-node sums of PreFilter's and PreScore's scans, each for the query of its last cycle.
#[derive(Debug, Default)]
struct ScanCaches {
    /// Existing pods' required anti-affinity terms matching the incoming pod, for its
    /// (namespace, labels, namespace's labels).
    existing_anti_affinity: PairCache<(String, Labels, Labels)>,
    /// Existing pods matching all the incoming pod's required affinity terms.
    affinity: PairCache<Vec<IncomingTerm>>,
    /// Existing pods matching each of the incoming pod's required anti-affinity terms.
    anti_affinity: PairCache<Vec<IncomingTerm>>,
    /// PreScore's sums.
    score: PairCache<scoring::ScoreQuery>,
}

impl InterPodAffinity {
    /// The plugin with `args`, which must be valid ([`InterPodAffinityArgs::validate`]).
    pub fn new(args: InterPodAffinityArgs) -> Result<InterPodAffinity, ErrorList> {
        args.validate(&FieldPath::root())?;
        Ok(InterPodAffinity {
            args,
            caches: Arc::default(),
        })
    }

    /// The scan caches. After a panic while they were held, they may be half updated: they
    /// are emptied, and the next cycles count from scratch.
    fn caches(&self) -> std::sync::MutexGuard<'_, ScanCaches> {
        match self.caches.lock() {
            Ok(guard) => guard,
            Err(poisoned) => {
                let mut guard = poisoned.into_inner();
                *guard = ScanCaches::default();
                self.caches.clear_poison();
                guard
            }
        }
    }

    /// The plugin's arguments.
    pub fn args(&self) -> &InterPodAffinityArgs {
        &self.args
    }
}

impl Plugin for InterPodAffinity {
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
    fn as_pre_filter_extensions(&self) -> Option<&dyn PreFilterExtensions> {
        Some(self)
    }
}

impl PreFilterExtensions for InterPodAffinity {
    fn add_pod(
        &self,
        state: &mut CycleState,
        pod_to_schedule: &PodInfo,
        pod_to_add: &PodInfo,
        node: &NodeInfo,
    ) -> Status {
        InterPodAffinity::add_pod(self, state, pod_to_schedule, pod_to_add, node)
    }

    fn remove_pod(
        &self,
        state: &mut CycleState,
        pod_to_schedule: &PodInfo,
        pod_to_remove: &PodInfo,
        node: &NodeInfo,
    ) -> Status {
        InterPodAffinity::remove_pod(self, state, pod_to_schedule, pod_to_remove, node)
    }
}

/// Labels of a namespace the snapshot does not know: none, as kube-scheduler's
/// `GetNamespaceLabelsSnapshot` returns when the namespace lister fails.
static NO_LABELS: Labels = Labels::new();

/// The labels of namespace `ns`, or none when the snapshot does not know it.
fn namespace_labels<'a>(snapshot: &'a Snapshot, ns: &str) -> &'a Labels {
    snapshot.namespace_labels.get(ns).unwrap_or(&NO_LABELS)
}

/// One of the incoming pod's terms with its namespace selector resolved into the set of
/// namespaces it selects (kube-scheduler's `mergeAffinityTermNamespacesIfNotEmpty`), so matching
/// an existing pod is a namespace lookup and a label match.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct IncomingTerm {
    /// The pods' label selector; `None` matches no pod.
    selector: Option<Selector>,
    /// The namespaces selected, sorted and deduplicated.
    namespaces: Vec<String>,
    /// Whether the namespace selector is `{}`, which selects every namespace.
    all_namespaces: bool,
    /// The topology key.
    pub(crate) topology_key: String,
}

impl IncomingTerm {
    /// Resolves `term` against the namespaces of `snapshot`.
    pub(crate) fn resolve(term: &AffinityTerm, snapshot: &Snapshot) -> IncomingTerm {
        let mut namespaces = term.namespaces.clone();
        let mut all_namespaces = false;
        if let Some(sel) = &term.namespace_selector {
            if sel.is_empty() {
                // An empty selector is `labels.Everything()`, which kube-scheduler leaves in place
                // (its `Empty()` is true) and which matches every namespace.
                all_namespaces = true;
            } else {
                namespaces.extend(
                    snapshot
                        .namespace_labels
                        .iter()
                        .filter(|(_, labels)| sel.matches(labels))
                        .map(|(ns, _)| ns.clone()),
                );
            }
        }
        namespaces.sort_unstable();
        namespaces.dedup();
        IncomingTerm {
            selector: term.selector.clone(),
            namespaces,
            all_namespaces,
            topology_key: term.topology_key.clone(),
        }
    }

    /// Whether `pod` is one of the pods the term selects.
    pub(crate) fn matches(&self, pod: &Pod) -> bool {
        (self.all_namespaces
            || self
                .namespaces
                .binary_search_by(|n| n.as_str().cmp(&pod.metadata.namespace))
                .is_ok())
            && self
                .selector
                .as_ref()
                .is_some_and(|s| s.matches(&pod.metadata.labels))
    }
}

/// Whether `pod` matches every term (false for no terms): kube-scheduler's
/// `podMatchesAllAffinityTerms`.
pub(crate) fn matches_all(terms: &[IncomingTerm], pod: &Pod) -> bool {
    !terms.is_empty() && terms.iter().all(|t| t.matches(pod))
}

/// Counts per topology pair (`key` → `value` → count), kube-scheduler's
/// `topologyToMatchedTermCount`. Pairs whose count drops to zero are removed, so
/// [`TopologyCounts::is_empty`] means "no pair counted".
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct TopologyCounts(HashMap<String, HashMap<String, i64>>);

impl TopologyCounts {
    /// Adds `delta` to the pair `(key, labels[key])`, if `labels` has `key`.
    pub(crate) fn update(&mut self, labels: &Labels, key: &str, delta: i64) {
        let Some(value) = labels.get(key) else { return };
        if let Some(values) = self.0.get_mut(key) {
            if let Some(count) = values.get_mut(value.as_str()) {
                *count += delta;
                if *count == 0 {
                    values.remove(value.as_str());
                    if values.is_empty() {
                        self.0.remove(key);
                    }
                }
                return;
            }
            if delta != 0 {
                values.insert(value.clone(), delta);
            }
            return;
        }
        if delta != 0 {
            self.0
                .insert(key.to_string(), HashMap::from([(value.clone(), delta)]));
        }
    }

    /// The count of the pair `(key, value)`, 0 when absent.
    pub(crate) fn get(&self, key: &str, value: &str) -> i64 {
        self.0
            .get(key)
            .and_then(|v| v.get(value))
            .copied()
            .unwrap_or(0)
    }

    /// Whether no pair is counted.
    pub(crate) fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Whether a pair the node (by its `labels`) belongs to has a positive count.
    pub(crate) fn any_positive(&self, labels: &Labels) -> bool {
        self.0.iter().any(|(key, values)| {
            labels
                .get(key)
                .is_some_and(|v| values.get(v.as_str()).is_some_and(|&c| c > 0))
        })
    }

    /// The pairs and their counts, sorted (for tests and diagnostics).
    #[cfg(test)]
    pub(crate) fn sorted(&self) -> Vec<(String, String, i64)> {
        let mut out: Vec<(String, String, i64)> = self
            .0
            .iter()
            .flat_map(|(k, vs)| vs.iter().map(move |(v, c)| (k.clone(), v.clone(), *c)))
            .collect();
        out.sort();
        out
    }
}

/// The error kube-scheduler's `framework.NewPodInfo` reports for a pod whose affinity terms do not
/// parse (`requiredAffinityTerms: …`; several groups are listed as `[a, b]`), or `None`.
///
/// [`PodInfo::new`] leaves such terms out; a term count that differs from the spec's tells this
/// function to look, so valid pods cost four length comparisons.
pub(crate) fn parse_error(info: &PodInfo) -> Option<String> {
    let affinity = info.pod.spec.affinity.as_ref()?;
    let pa = affinity.pod_affinity.as_ref();
    let paa = affinity.pod_anti_affinity.as_ref();
    let req_a: &[PodAffinityTerm] = pa.map_or(&[], |a| {
        &a.required_during_scheduling_ignored_during_execution
    });
    let req_aa: &[PodAffinityTerm] = paa.map_or(&[], |a| {
        &a.required_during_scheduling_ignored_during_execution
    });
    let pref_a: Vec<&PodAffinityTerm> = pa.map_or(Vec::new(), |a| {
        a.preferred_during_scheduling_ignored_during_execution
            .iter()
            .map(|w| &w.pod_affinity_term)
            .collect()
    });
    let pref_aa: Vec<&PodAffinityTerm> = paa.map_or(Vec::new(), |a| {
        a.preferred_during_scheduling_ignored_during_execution
            .iter()
            .map(|w| &w.pod_affinity_term)
            .collect()
    });
    if req_a.len() == info.required_affinity_terms.len()
        && req_aa.len() == info.required_anti_affinity_terms.len()
        && pref_a.len() == info.preferred_affinity_terms.len()
        && pref_aa.len() == info.preferred_anti_affinity_terms.len()
    {
        return None;
    }
    let groups: [(&str, Vec<&PodAffinityTerm>); 4] = [
        ("requiredAffinityTerms", req_a.iter().collect()),
        ("requiredAntiAffinityTerms", req_aa.iter().collect()),
        ("preferredAffinityTerms", pref_a),
        ("preferredAntiAffinityTerms", pref_aa),
    ];
    let errors: Vec<String> = groups
        .iter()
        .filter_map(|(group, terms)| {
            terms
                .iter()
                .find_map(|t| term_error(&info.pod, t))
                .map(|e| format!("{group}: {e}"))
        })
        .collect();
    match errors.len() {
        0 => None,
        1 => errors.into_iter().next(),
        _ => Some(format!("[{}]", errors.join(", "))),
    }
}

/// Why a term does not parse (label selector first, then namespace selector, as
/// kube-scheduler's `newAffinityTerm`), or `None`.
fn term_error(pod: &Pod, term: &PodAffinityTerm) -> Option<String> {
    if AffinityTerm::from_api(pod, term).is_some() {
        return None;
    }
    if let Some(Err(e)) = term.label_selector.as_ref().map(|s| s.to_selector()) {
        return Some(e.to_string());
    }
    if let Some(Err(e)) = term.namespace_selector.as_ref().map(|s| s.to_selector()) {
        return Some(e.to_string());
    }
    Some("invalid matchLabelKeys or mismatchLabelKeys".to_string())
}
