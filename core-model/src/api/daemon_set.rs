//! DaemonSet (`apps/v1`): runs one copy of a pod on every node that its template's node selector,
//! affinity and tolerations admit (log agents, node exporters, network plugins).

use serde::{Deserialize, Serialize};

use crate::api::deployment::{
    check_immutable, check_template_labels, int_or_percent_value, validate_int_or_percent,
    validate_long_running_template, validate_not_more_than_100_percent, Json,
};
use crate::api::pod::{validate_pod_template_spec, ConditionStatus, PodTemplateSpec};
use crate::meta::{IntOrString, ObjectMeta};
use crate::selector::{validate_label_selector, LabelSelector};
use crate::time::Time;
use crate::validation::{
    check_non_negative, ErrorList, FieldError, FieldPath, SetDefaults, Validate,
};

/// A DaemonSet: one pod from `template` on each eligible node.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DaemonSet {
    /// Standard object metadata.
    #[serde(default)]
    pub metadata: ObjectMeta,
    /// The desired state.
    #[serde(default)]
    pub spec: DaemonSetSpec,
    /// The observed state, written by the daemon set controller.
    #[serde(default, skip_serializing_if = "crate::meta::is_default")]
    pub status: DaemonSetStatus,
}

/// The desired state of a [`DaemonSet`].
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DaemonSetSpec {
    /// Label selector for the pods; required, must match the template's labels and is immutable.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub selector: Option<LabelSelector>,
    /// The pod to run on each node.
    #[serde(default)]
    pub template: PodTemplateSpec,
    /// How pods are replaced when the template changes; defaults to RollingUpdate with
    /// maxUnavailable 1 and maxSurge 0.
    #[serde(default, skip_serializing_if = "crate::meta::is_default")]
    pub update_strategy: DaemonSetUpdateStrategy,
    /// Seconds a new pod must be ready, without any container crashing, to count as available;
    /// defaults to 0.
    #[serde(default, skip_serializing_if = "crate::meta::is_default")]
    pub min_ready_seconds: i32,
    /// Number of old ControllerRevisions kept to allow rollback; defaults to 10.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revision_history_limit: Option<i32>,
}

/// How a [`DaemonSet`] replaces its pods.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DaemonSetUpdateStrategy {
    /// The kind of update; defaults to RollingUpdate.
    #[serde(rename = "type", default, skip_serializing_if = "Option::is_none")]
    pub type_: Option<DaemonSetUpdateStrategyType>,
    /// Parameters of a rolling update; only with `type: RollingUpdate`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rolling_update: Option<RollingUpdateDaemonSet>,
}

/// The kinds of [`DaemonSetUpdateStrategy`].
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize,
)]
pub enum DaemonSetUpdateStrategyType {
    /// Replace old pods by new ones node by node (the default).
    #[default]
    RollingUpdate,
    /// Replace a pod only when it is deleted.
    OnDelete,
}

/// Parameters of a DaemonSet's rolling update.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RollingUpdateDaemonSet {
    /// Nodes whose pod may be unavailable during the update, absolute or a percentage of the
    /// desired number (rounded up); defaults to 1.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_unavailable: Option<IntOrString>,
    /// Nodes that may run a new pod beside the old one during the update, absolute or a
    /// percentage (rounded up); defaults to 0. Exactly one of the two must be non-zero.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_surge: Option<IntOrString>,
}

/// The observed state of a [`DaemonSet`].
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DaemonSetStatus {
    /// Nodes running at least one daemon pod that should run it.
    #[serde(default)]
    pub current_number_scheduled: i32,
    /// Nodes running a daemon pod that should not run it.
    #[serde(default)]
    pub number_misscheduled: i32,
    /// Nodes that should run the daemon pod.
    #[serde(default)]
    pub desired_number_scheduled: i32,
    /// Nodes that should run the daemon pod and have one or more of them ready.
    #[serde(default)]
    pub number_ready: i32,
    /// The generation the controller last observed.
    #[serde(default, skip_serializing_if = "crate::meta::is_default")]
    pub observed_generation: i64,
    /// Nodes running the updated daemon pod.
    #[serde(default, skip_serializing_if = "crate::meta::is_default")]
    pub updated_number_scheduled: i32,
    /// Nodes whose daemon pod has been available for at least `minReadySeconds`.
    #[serde(default, skip_serializing_if = "crate::meta::is_default")]
    pub number_available: i32,
    /// Nodes that should run the daemon pod and have none available.
    #[serde(default, skip_serializing_if = "crate::meta::is_default")]
    pub number_unavailable: i32,
    /// Count of hash collisions, used to name the newest ControllerRevision.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub collision_count: Option<i32>,
    /// The latest observations of the DaemonSet's state.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub conditions: Vec<DaemonSetCondition>,
}

/// One observation of a [`DaemonSet`]'s state. Kubernetes defines no condition types for
/// DaemonSets yet, so the type is free text.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DaemonSetCondition {
    /// The condition.
    #[serde(rename = "type")]
    pub type_: String,
    /// Whether it holds.
    pub status: ConditionStatus,
    /// When the status last changed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_transition_time: Option<Time>,
    /// A CamelCase reason for the last transition.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub reason: String,
    /// A human-readable explanation.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub message: String,
}

impl SetDefaults for DaemonSet {
    /// Kubernetes' `SetDefaults_DaemonSet` (pkg/apis/apps/v1/defaults.go) plus the pod template's
    /// defaults.
    fn set_defaults(&mut self) {
        let strategy = &mut self.spec.update_strategy;
        let kind = *strategy
            .type_
            .get_or_insert(DaemonSetUpdateStrategyType::RollingUpdate);
        if kind == DaemonSetUpdateStrategyType::RollingUpdate {
            let rolling = strategy.rolling_update.get_or_insert_with(Default::default);
            rolling.max_unavailable.get_or_insert(IntOrString::Int(1));
            rolling.max_surge.get_or_insert(IntOrString::Int(0));
        }
        self.spec.revision_history_limit.get_or_insert(10);
        self.spec.template.set_defaults();
    }
}

impl Validate for DaemonSet {
    /// Kubernetes' `ValidateDaemonSetSpec` (pkg/apis/apps/validation/validation.go). A missing
    /// selector selects nothing, so it is reported as not matching the template.
    fn validate(&self) -> ErrorList {
        let spec = &self.spec;
        let path = FieldPath::new("spec");
        let template_path = path.child("template");
        let mut errs = ErrorList::new();
        let mut usable = true;
        if let Some(selector) = &spec.selector {
            let syntax = validate_label_selector(selector, &path.child("selector"));
            usable = syntax.is_empty();
            errs.extend(syntax);
        }
        if usable {
            check_template_labels(
                &mut errs,
                spec.selector.as_ref(),
                &spec.template.metadata.labels,
                &template_path,
            );
        }
        if let Some(selector) = &spec.selector {
            if selector.match_labels.is_empty() && selector.match_expressions.is_empty() {
                errs.push(FieldError::invalid(
                    &path.child("selector"),
                    Json(selector),
                    "empty selector is invalid for daemonset",
                ));
            }
        }
        errs.extend(validate_pod_template_spec(&spec.template, &template_path));
        errs.extend(validate_long_running_template(
            &spec.template,
            "DaemonSet",
            &template_path,
        ));
        check_non_negative(
            &mut errs,
            &path.child("minReadySeconds"),
            spec.min_ready_seconds.into(),
        );
        errs.extend(validate_update_strategy(
            &spec.update_strategy,
            &path.child("updateStrategy"),
        ));
        if let Some(limit) = spec.revision_history_limit {
            check_non_negative(&mut errs, &path.child("revisionHistoryLimit"), limit.into());
        }
        errs
    }

    /// The selector is immutable in `apps/v1` (pkg/registry/apps/daemonset/strategy.go).
    fn validate_update(&self, old: &Self) -> ErrorList {
        let mut errs = ErrorList::new();
        check_immutable(
            &mut errs,
            &self.spec.selector,
            &old.spec.selector,
            &FieldPath::new("spec").child("selector"),
        );
        errs
    }
}

fn validate_update_strategy(strategy: &DaemonSetUpdateStrategy, path: &FieldPath) -> ErrorList {
    let mut errs = ErrorList::new();
    match strategy.type_ {
        Some(DaemonSetUpdateStrategyType::OnDelete) => {}
        Some(DaemonSetUpdateStrategyType::RollingUpdate) => match &strategy.rolling_update {
            None => errs.push(FieldError::required(&path.child("rollingUpdate"), "")),
            Some(rolling) => errs.extend(validate_rolling_update(
                rolling,
                &path.child("rollingUpdate"),
            )),
        },
        None => errs.push(FieldError::not_supported(
            path,
            "",
            &["RollingUpdate", "OnDelete"],
        )),
    }
    errs
}

/// Kubernetes' `ValidateRollingUpdateDaemonSet`: valid values, at most 100%, and exactly one of
/// maxSurge and maxUnavailable non-zero.
fn validate_rolling_update(rolling: &RollingUpdateDaemonSet, path: &FieldPath) -> ErrorList {
    let zero = IntOrString::Int(0);
    let max_unavailable = rolling.max_unavailable.as_ref().unwrap_or(&zero);
    let max_surge = rolling.max_surge.as_ref().unwrap_or(&zero);
    let unavailable_path = path.child("maxUnavailable");
    let surge_path = path.child("maxSurge");
    let mut errs = validate_int_or_percent(max_unavailable, &unavailable_path);
    errs.extend(validate_int_or_percent(max_surge, &surge_path));
    errs.extend(validate_not_more_than_100_percent(
        max_unavailable,
        &unavailable_path,
    ));
    errs.extend(validate_not_more_than_100_percent(max_surge, &surge_path));
    let has_unavailable = int_or_percent_value(max_unavailable) != 0;
    let has_surge = int_or_percent_value(max_surge) != 0;
    if has_unavailable && has_surge {
        errs.push(FieldError::invalid(
            &surge_path,
            Json(max_surge),
            "may not be set when maxUnavailable is non-zero",
        ));
    } else if !has_unavailable && !has_surge {
        errs.push(FieldError::required(
            &unavailable_path,
            "cannot be 0 when maxSurge is 0",
        ));
    }
    errs
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::deployment::manifest_docs;
    use crate::api::pod::RestartPolicy;

    const AGENT: &str = r#"
metadata:
  name: fluentd
  namespace: default
spec:
  selector:
    matchLabels:
      name: fluentd
  updateStrategy:
    type: RollingUpdate
    rollingUpdate:
      maxUnavailable: 10%
  template:
    metadata:
      labels:
        name: fluentd
    spec:
      containers:
      - name: fluentd
        image: fluent/fluentd:v1.17
status:
  currentNumberScheduled: 3
  numberMisscheduled: 0
  desiredNumberScheduled: 3
  numberReady: 2
  updatedNumberScheduled: 3
  numberAvailable: 2
  numberUnavailable: 1
  observedGeneration: 2
"#;

    fn agent() -> DaemonSet {
        let mut ds: DaemonSet = serde_yaml::from_str(AGENT).expect("valid yaml");
        ds.set_defaults();
        ds
    }

    fn messages(errs: &ErrorList) -> Vec<String> {
        errs.iter().map(ToString::to_string).collect()
    }

    #[test]
    fn reads_and_defaults_a_daemon_set() {
        let ds = agent();
        assert_eq!(ds.status.desired_number_scheduled, 3);
        assert_eq!(ds.status.number_unavailable, 1);
        let rolling = ds
            .spec
            .update_strategy
            .rolling_update
            .as_ref()
            .expect("rolling update");
        assert_eq!(
            rolling.max_unavailable,
            Some(IntOrString::String("10%".into()))
        );
        assert_eq!(rolling.max_surge, Some(IntOrString::Int(0)));
        assert_eq!(ds.spec.revision_history_limit, Some(10));
        assert_eq!(messages(&ds.validate()), Vec::<String>::new());

        let mut empty = DaemonSet::default();
        empty.set_defaults();
        assert_eq!(
            empty.spec.update_strategy.type_,
            Some(DaemonSetUpdateStrategyType::RollingUpdate)
        );
        let rolling = empty
            .spec
            .update_strategy
            .rolling_update
            .expect("defaulted");
        assert_eq!(rolling.max_unavailable, Some(IntOrString::Int(1)));
        assert_eq!(rolling.max_surge, Some(IntOrString::Int(0)));

        let mut on_delete = DaemonSet::default();
        on_delete.spec.update_strategy.type_ = Some(DaemonSetUpdateStrategyType::OnDelete);
        on_delete.set_defaults();
        assert_eq!(on_delete.spec.update_strategy.rolling_update, None);
    }

    #[test]
    fn selector_rules() {
        let mut ds = agent();
        ds.spec.selector = None;
        assert_eq!(
            messages(&ds.validate()),
            vec!["spec.template.metadata.labels: Invalid value: {\"name\": \"fluentd\"}: `selector` does not match \
                  template `labels`"
                .to_string()]
        );
        let mut ds = agent();
        ds.spec.selector = Some(LabelSelector::default());
        assert_eq!(
            messages(&ds.validate()),
            vec![
                "spec.selector: Invalid value: {}: empty selector is invalid for daemonset"
                    .to_string()
            ]
        );
    }

    #[test]
    fn template_and_counters() {
        let mut ds = agent();
        ds.spec.template.spec.restart_policy = Some(RestartPolicy::OnFailure);
        ds.spec.min_ready_seconds = -1;
        ds.spec.revision_history_limit = Some(-1);
        assert_eq!(
            messages(&ds.validate()),
            vec![
                "spec.template.spec.restartPolicy: Unsupported value: \"OnFailure\": supported values: \"Always\""
                    .to_string(),
                "spec.minReadySeconds: Invalid value: -1: must be greater than or equal to 0".to_string(),
                "spec.revisionHistoryLimit: Invalid value: -1: must be greater than or equal to 0".to_string(),
            ]
        );
        let mut ds = agent();
        ds.spec.template.spec.active_deadline_seconds = Some(10);
        assert_eq!(
            messages(&ds.validate()),
            vec!["spec.template.spec.activeDeadlineSeconds: Forbidden: activeDeadlineSeconds in DaemonSet is not \
                  Supported"
                .to_string()]
        );
    }

    #[test]
    fn rolling_update_rules() {
        let with = |unavailable: i32, surge: &str| {
            let mut ds = agent();
            ds.spec.update_strategy.rolling_update = Some(RollingUpdateDaemonSet {
                max_unavailable: Some(IntOrString::Int(unavailable)),
                max_surge: Some(IntOrString::String(surge.into())),
            });
            messages(&ds.validate())
        };
        assert!(with(0, "1%").is_empty());
        assert_eq!(
            with(1, "20%"),
            vec!["spec.updateStrategy.rollingUpdate.maxSurge: Invalid value: \"20%\": may not be set when \
                  maxUnavailable is non-zero"
                .to_string()]
        );
        assert_eq!(
            with(0, "0%"),
            vec!["spec.updateStrategy.rollingUpdate.maxUnavailable: Required value: cannot be 0 when maxSurge is 0"
                .to_string()]
        );
        assert_eq!(
            with(0, "101%"),
            vec!["spec.updateStrategy.rollingUpdate.maxSurge: Invalid value: \"101%\": must not be greater than 100%"
                .to_string()]
        );
        let mut ds = agent();
        ds.spec.update_strategy.rolling_update = None;
        assert_eq!(
            messages(&ds.validate()),
            vec!["spec.updateStrategy.rollingUpdate: Required value".to_string()]
        );
        ds.spec.update_strategy.type_ = None;
        assert_eq!(
            messages(&ds.validate()),
            vec!["spec.updateStrategy: Unsupported value: \"\": supported values: \"RollingUpdate\", \"OnDelete\""
                .to_string()]
        );
    }

    #[test]
    fn selector_is_immutable() {
        let old = agent();
        let mut new = agent();
        new.spec.min_ready_seconds = 30;
        assert!(new.validate_update(&old).is_empty());
        new.spec
            .selector
            .as_mut()
            .expect("set")
            .match_labels
            .insert("name".into(), "other".into());
        assert_eq!(
            new.validate_update(&old)[0].path.to_string(),
            "spec.selector"
        );
    }

    #[test]
    fn example_manifest_is_valid() {
        let docs = manifest_docs(include_str!("../../../examples/manifests/daemon-set.yaml"));
        assert!(!docs.is_empty());
        for doc in docs {
            let mut ds: DaemonSet = serde_json::from_value(doc).expect("a DaemonSet");
            ds.set_defaults();
            assert_eq!(
                messages(&ds.validate()),
                Vec::<String>::new(),
                "{}",
                ds.metadata.name
            );
            assert!(ds.metadata.namespace == "shop" || ds.metadata.namespace == "default");
            assert!(!ds.spec.template.spec.tolerations.is_empty());
        }
    }
}
