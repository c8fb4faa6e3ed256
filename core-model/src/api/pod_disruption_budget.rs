//! PodDisruptionBudget (`policy/v1`): bounds how many of a set of pods voluntary disruptions
//! (evictions for node drains, preemption-free rollouts) may take down at once.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::api::deployment::{validate_int_or_percent, validate_not_more_than_100_percent, Json};
use crate::api::pod::ConditionStatus;
use crate::meta::{IntOrString, ObjectMeta};
use crate::selector::{validate_label_selector, LabelSelector};
use crate::time::Time;
use crate::validation::{ErrorList, FieldError, FieldPath, SetDefaults, Validate};

/// The condition type the disruption controller sets on a budget (`status.conditions`).
pub const DISRUPTION_ALLOWED_CONDITION: &str = "DisruptionAllowed";

/// A PodDisruptionBudget: at least `minAvailable`, or at most `maxUnavailable`, of the pods
/// matching `selector` may be down through voluntary disruptions.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PodDisruptionBudget {
    /// Standard object metadata.
    #[serde(default)]
    pub metadata: ObjectMeta,
    /// The desired state.
    #[serde(default)]
    pub spec: PodDisruptionBudgetSpec,
    /// The observed state, written by the disruption controller.
    #[serde(default, skip_serializing_if = "crate::meta::is_default")]
    pub status: PodDisruptionBudgetStatus,
}

/// The desired state of a [`PodDisruptionBudget`]. At most one of `minAvailable` and
/// `maxUnavailable` may be set.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PodDisruptionBudgetSpec {
    /// Pods that must stay available after an eviction, absolute or a percentage of the
    /// expected pods (`"100%"` prevents all evictions).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_available: Option<IntOrString>,
    /// The pods the budget covers. In `policy/v1` an empty selector selects every pod of the
    /// namespace; a missing one selects none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub selector: Option<LabelSelector>,
    /// Pods that may be unavailable after an eviction, absolute or a percentage of the expected
    /// pods (`0` prevents all evictions).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_unavailable: Option<IntOrString>,
    /// When running but not ready pods may be evicted; IfHealthyBudget behaviour when unset.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unhealthy_pod_eviction_policy: Option<UnhealthyPodEvictionPolicyType>,
}

/// When pods that run but are not ready may be evicted.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize,
)]
pub enum UnhealthyPodEvictionPolicyType {
    /// Only while the application is not disrupted (`currentHealthy >= desiredHealthy`) (the
    /// behaviour when unset).
    #[default]
    IfHealthyBudget,
    /// Always, whatever the budget.
    AlwaysAllow,
}

/// The observed state of a [`PodDisruptionBudget`].
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PodDisruptionBudgetStatus {
    /// The generation the controller last observed.
    #[serde(default, skip_serializing_if = "crate::meta::is_default")]
    pub observed_generation: i64,
    /// Pods evicted by the API server but not yet seen gone by the controller, with the eviction
    /// time; they count as unavailable for a while.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub disrupted_pods: BTreeMap<String, Time>,
    /// Disruptions currently allowed.
    #[serde(default)]
    pub disruptions_allowed: i32,
    /// Healthy pods right now.
    #[serde(default)]
    pub current_healthy: i32,
    /// Healthy pods the budget requires.
    #[serde(default)]
    pub desired_healthy: i32,
    /// Pods the budget counts (from the selected pods' controllers' scale).
    #[serde(default)]
    pub expected_pods: i32,
    /// The latest observations of the budget's state ([`DISRUPTION_ALLOWED_CONDITION`]).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub conditions: Vec<PodDisruptionBudgetCondition>,
}

/// One observation of a [`PodDisruptionBudget`]'s state (a `metav1.Condition`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PodDisruptionBudgetCondition {
    /// The condition (`DisruptionAllowed`).
    #[serde(rename = "type")]
    pub type_: String,
    /// Whether it holds.
    pub status: ConditionStatus,
    /// The generation the condition was computed for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    /// When the status last changed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_transition_time: Option<Time>,
    /// A CamelCase reason (`SufficientPods`, `InsufficientPods`, `SyncFailed`).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub reason: String,
    /// A human-readable explanation.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub message: String,
}

impl SetDefaults for PodDisruptionBudget {
    /// `policy/v1` defines no defaults for budgets.
    fn set_defaults(&mut self) {}
}

impl Validate for PodDisruptionBudget {
    /// Kubernetes' `ValidatePodDisruptionBudgetSpec` (pkg/apis/policy/validation/validation.go).
    /// The spec may be updated freely in `policy/v1`.
    fn validate(&self) -> ErrorList {
        let spec = &self.spec;
        let path = FieldPath::new("spec");
        let mut errs = ErrorList::new();
        if spec.min_available.is_some() && spec.max_unavailable.is_some() {
            errs.push(FieldError::invalid(
                &path,
                Json(spec),
                "minAvailable and maxUnavailable cannot be both set",
            ));
        }
        for (field, value) in [
            ("minAvailable", &spec.min_available),
            ("maxUnavailable", &spec.max_unavailable),
        ] {
            if let Some(value) = value {
                let p = path.child(field);
                errs.extend(validate_int_or_percent(value, &p));
                errs.extend(validate_not_more_than_100_percent(value, &p));
            }
        }
        if let Some(selector) = &spec.selector {
            errs.extend(validate_label_selector(selector, &path.child("selector")));
        }
        errs
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::deployment::manifest_docs;

    const ZK: &str = r#"
metadata:
  name: zk-pdb
  namespace: default
spec:
  minAvailable: 2
  unhealthyPodEvictionPolicy: AlwaysAllow
  selector:
    matchLabels:
      app: zookeeper
status:
  observedGeneration: 1
  disruptionsAllowed: 1
  currentHealthy: 3
  desiredHealthy: 2
  expectedPods: 3
  disruptedPods:
    zk-0: "2026-01-01T00:00:00Z"
  conditions:
  - type: DisruptionAllowed
    status: "True"
    reason: SufficientPods
    observedGeneration: 1
    lastTransitionTime: "2026-01-01T00:00:00Z"
"#;

    fn zk() -> PodDisruptionBudget {
        let mut pdb: PodDisruptionBudget = serde_yaml::from_str(ZK).expect("valid yaml");
        pdb.set_defaults();
        pdb
    }

    fn messages(errs: &ErrorList) -> Vec<String> {
        errs.iter().map(ToString::to_string).collect()
    }

    #[test]
    fn reads_a_budget() {
        let pdb = zk();
        assert_eq!(pdb.spec.min_available, Some(IntOrString::Int(2)));
        assert_eq!(
            pdb.spec.unhealthy_pod_eviction_policy,
            Some(UnhealthyPodEvictionPolicyType::AlwaysAllow)
        );
        assert_eq!(pdb.status.disruptions_allowed, 1);
        assert_eq!(pdb.status.disrupted_pods.len(), 1);
        assert_eq!(pdb.status.conditions[0].type_, DISRUPTION_ALLOWED_CONDITION);
        assert_eq!(messages(&pdb.validate()), Vec::<String>::new());
        // No defaults: an absent policy stays absent.
        let mut bare = PodDisruptionBudget::default();
        bare.set_defaults();
        assert_eq!(bare, PodDisruptionBudget::default());
    }

    #[test]
    fn min_available_xor_max_unavailable() {
        let mut pdb = zk();
        pdb.spec.max_unavailable = Some(IntOrString::Int(1));
        let errs = messages(&pdb.validate());
        assert_eq!(errs.len(), 1);
        assert!(
            errs[0].starts_with("spec: Invalid value: {\"minAvailable\":2,"),
            "{}",
            errs[0]
        );
        assert!(errs[0].ends_with(": minAvailable and maxUnavailable cannot be both set"));
        // Neither is fine too.
        pdb.spec.min_available = None;
        pdb.spec.max_unavailable = None;
        assert!(pdb.validate().is_empty());
    }

    #[test]
    fn values_are_non_negative_ints_or_percents_up_to_100() {
        let with = |min: Option<IntOrString>, max: Option<IntOrString>| {
            let mut pdb = zk();
            pdb.spec.min_available = min;
            pdb.spec.max_unavailable = max;
            messages(&pdb.validate())
        };
        assert!(with(Some(IntOrString::String("50%".into())), None).is_empty());
        assert!(with(None, Some(IntOrString::Int(0))).is_empty());
        assert_eq!(
            with(Some(IntOrString::Int(-1)), None),
            vec![
                "spec.minAvailable: Invalid value: -1: must be greater than or equal to 0"
                    .to_string()
            ]
        );
        assert_eq!(
            with(None, Some(IntOrString::String("120%".into()))),
            vec![
                "spec.maxUnavailable: Invalid value: \"120%\": must not be greater than 100%"
                    .to_string()
            ]
        );
        assert_eq!(
            with(None, Some(IntOrString::String("half".into()))).len(),
            1
        );
    }

    #[test]
    fn selector_syntax_is_checked() {
        let yaml = "spec:\n  maxUnavailable: 1\n  selector:\n    matchExpressions:\n    - key: app\n      operator: In\n";
        let pdb: PodDisruptionBudget = serde_yaml::from_str(yaml).expect("valid yaml");
        let errs = pdb.validate();
        assert_eq!(errs.len(), 1);
        assert_eq!(
            errs[0].path.to_string(),
            "spec.selector.matchExpressions[0].values"
        );
    }

    #[test]
    fn example_manifest_is_valid() {
        let docs = manifest_docs(include_str!("../../../examples/manifests/pdb.yaml"));
        assert!(!docs.is_empty());
        for doc in docs {
            let mut pdb: PodDisruptionBudget =
                serde_json::from_value(doc).expect("a PodDisruptionBudget");
            pdb.set_defaults();
            assert_eq!(
                messages(&pdb.validate()),
                Vec::<String>::new(),
                "{}",
                pdb.metadata.name
            );
            assert!(pdb.metadata.namespace == "shop" || pdb.metadata.namespace == "default");
        }
    }
}
