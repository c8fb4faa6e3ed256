//! ReplicaSet (`apps/v1`): keeps a number of identical pods running. Deployments own
//! ReplicaSets; users rarely create them directly.

use serde::{Deserialize, Serialize};

use crate::api::deployment::{check_immutable, validate_replicated_pods};
use crate::api::pod::{ConditionStatus, PodTemplateSpec};
use crate::meta::ObjectMeta;
use crate::selector::LabelSelector;
use crate::time::Time;
use crate::validation::{check_non_negative, ErrorList, FieldPath, SetDefaults, Validate};

/// A ReplicaSet: ensures that `replicas` pods matching `selector` exist, creating them from
/// `template`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ReplicaSet {
    /// Standard object metadata.
    #[serde(default)]
    pub metadata: ObjectMeta,
    /// The desired state.
    #[serde(default)]
    pub spec: ReplicaSetSpec,
    /// The observed state, written by the replica set controller.
    #[serde(default, skip_serializing_if = "crate::meta::is_default")]
    pub status: ReplicaSetStatus,
}

/// The desired state of a [`ReplicaSet`].
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ReplicaSetSpec {
    /// Number of desired pods; defaults to 1.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replicas: Option<i32>,
    /// Seconds a new pod must be ready, without any container crashing, to count as available;
    /// defaults to 0.
    #[serde(default, skip_serializing_if = "crate::meta::is_default")]
    pub min_ready_seconds: i32,
    /// Label selector for the pods; required, must match the template's labels and is immutable.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub selector: Option<LabelSelector>,
    /// The pods to create when too few exist.
    #[serde(default)]
    pub template: PodTemplateSpec,
}

/// The observed state of a [`ReplicaSet`].
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ReplicaSetStatus {
    /// Non-terminating pods selected by the ReplicaSet.
    #[serde(default)]
    pub replicas: i32,
    /// Non-terminating pods whose labels match the template's labels.
    #[serde(default, skip_serializing_if = "crate::meta::is_default")]
    pub fully_labeled_replicas: i32,
    /// Non-terminating pods with a Ready condition.
    #[serde(default, skip_serializing_if = "crate::meta::is_default")]
    pub ready_replicas: i32,
    /// Non-terminating pods ready for at least `minReadySeconds`.
    #[serde(default, skip_serializing_if = "crate::meta::is_default")]
    pub available_replicas: i32,
    /// Pods of this ReplicaSet that are terminating (have a deletionTimestamp).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub terminating_replicas: Option<i32>,
    /// The generation of the ReplicaSet the controller last acted on.
    #[serde(default, skip_serializing_if = "crate::meta::is_default")]
    pub observed_generation: i64,
    /// The latest observations of the ReplicaSet's state.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub conditions: Vec<ReplicaSetCondition>,
}

/// One observation of a [`ReplicaSet`]'s state.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ReplicaSetCondition {
    /// The condition.
    #[serde(rename = "type")]
    pub type_: ReplicaSetConditionType,
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

/// The conditions of a [`ReplicaSet`].
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize,
)]
pub enum ReplicaSetConditionType {
    /// A pod could not be created or deleted (quota, admission, …).
    #[default]
    ReplicaFailure,
}

impl SetDefaults for ReplicaSet {
    /// Kubernetes' `SetDefaults_ReplicaSet` (replicas 1) plus the pod template's defaults.
    fn set_defaults(&mut self) {
        self.spec.replicas.get_or_insert(1);
        self.spec.template.set_defaults();
    }
}

impl Validate for ReplicaSet {
    /// Kubernetes' `ValidateReplicaSetSpec` (pkg/apis/apps/validation/validation.go).
    fn validate(&self) -> ErrorList {
        let spec = &self.spec;
        let path = FieldPath::new("spec");
        let mut errs = ErrorList::new();
        if let Some(replicas) = spec.replicas {
            check_non_negative(&mut errs, &path.child("replicas"), replicas.into());
        }
        check_non_negative(
            &mut errs,
            &path.child("minReadySeconds"),
            spec.min_ready_seconds.into(),
        );
        // Kubernetes words the empty-selector error of a ReplicaSet "for deployment" too.
        errs.extend(validate_replicated_pods(
            spec.selector.as_ref(),
            &spec.template,
            "deployment",
            &path,
        ));
        errs
    }

    /// The selector is immutable in `apps/v1` (pkg/registry/apps/replicaset/strategy.go rejects
    /// selector changes for every group version but the removed `extensions/v1beta1`).
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::deployment::manifest_docs;
    use crate::api::pod::RestartPolicy;

    const FRONTEND: &str = r#"
metadata:
  name: frontend
  namespace: shop
  labels:
    tier: frontend
spec:
  replicas: 3
  minReadySeconds: 5
  selector:
    matchExpressions:
    - key: tier
      operator: In
      values: [frontend]
  template:
    metadata:
      labels:
        tier: frontend
    spec:
      containers:
      - name: php-redis
        image: us-docker.pkg.dev/google-samples/containers/gke/gb-frontend:v5
status:
  replicas: 3
  fullyLabeledReplicas: 3
  readyReplicas: 2
  availableReplicas: 2
  observedGeneration: 1
  conditions:
  - type: ReplicaFailure
    status: "True"
    reason: FailedCreate
    message: exceeded quota
"#;

    fn frontend() -> ReplicaSet {
        let mut rs: ReplicaSet = serde_yaml::from_str(FRONTEND).expect("valid yaml");
        rs.set_defaults();
        rs
    }

    fn messages(errs: &ErrorList) -> Vec<String> {
        errs.iter().map(ToString::to_string).collect()
    }

    #[test]
    fn reads_and_validates_a_replica_set() {
        let rs = frontend();
        assert_eq!(rs.spec.replicas, Some(3));
        assert_eq!(rs.spec.min_ready_seconds, 5);
        assert_eq!(rs.status.fully_labeled_replicas, 3);
        assert_eq!(
            rs.status.conditions[0].type_,
            ReplicaSetConditionType::ReplicaFailure
        );
        assert_eq!(messages(&rs.validate()), Vec::<String>::new());
    }

    #[test]
    fn defaults_replicas_to_one() {
        let mut rs = ReplicaSet::default();
        rs.set_defaults();
        assert_eq!(rs.spec.replicas, Some(1));
        let mut rs = ReplicaSet::default();
        rs.spec.replicas = Some(0);
        rs.set_defaults();
        assert_eq!(rs.spec.replicas, Some(0));
    }

    #[test]
    fn validation_rules() {
        let mut rs = frontend();
        rs.spec.replicas = Some(-1);
        rs.spec.min_ready_seconds = -1;
        rs.spec.template.spec.restart_policy = Some(RestartPolicy::Never);
        assert_eq!(
            messages(&rs.validate()),
            vec![
                "spec.replicas: Invalid value: -1: must be greater than or equal to 0".to_string(),
                "spec.minReadySeconds: Invalid value: -1: must be greater than or equal to 0".to_string(),
                "spec.template.spec.restartPolicy: Unsupported value: \"Never\": supported values: \"Always\""
                    .to_string(),
            ]
        );

        let mut rs = frontend();
        rs.spec.selector = Some(LabelSelector::default());
        assert_eq!(
            messages(&rs.validate()),
            vec![
                "spec.selector: Invalid value: {}: empty selector is invalid for deployment"
                    .to_string()
            ]
        );

        let mut rs = frontend();
        rs.spec.template.metadata.labels.clear();
        assert_eq!(
            messages(&rs.validate()),
            vec!["spec.template.metadata.labels: Invalid value: {}: `selector` does not match template `labels`"
                .to_string()]
        );

        let mut rs = frontend();
        rs.spec.selector = None;
        let errs = rs.validate();
        assert_eq!(errs[0].to_string(), "spec.selector: Required value");
        assert_eq!(errs.len(), 2);
    }

    #[test]
    fn selector_is_immutable() {
        let old = frontend();
        let mut new = frontend();
        new.spec.replicas = Some(5);
        new.spec
            .template
            .metadata
            .labels
            .insert("version".into(), "2".into());
        assert!(new.validate_update(&old).is_empty());
        new.spec.selector = Some(LabelSelector::default());
        let errs = new.validate_update(&old);
        assert_eq!(
            messages(&errs),
            vec!["spec.selector: Invalid value: {}: field is immutable".to_string()]
        );
    }

    #[test]
    fn example_manifest_is_valid() {
        let docs = manifest_docs(include_str!("../../../examples/manifests/replica-set.yaml"));
        assert!(!docs.is_empty());
        for doc in docs {
            let mut rs: ReplicaSet = serde_json::from_value(doc).expect("a ReplicaSet");
            rs.set_defaults();
            assert_eq!(
                messages(&rs.validate()),
                Vec::<String>::new(),
                "{}",
                rs.metadata.name
            );
            assert!(rs.metadata.namespace == "shop" || rs.metadata.namespace == "default");
        }
    }
}
