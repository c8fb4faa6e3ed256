//! StatefulSet (`apps/v1`): pods with stable, ordered identities (`db-0`, `db-1`, …), stable
//! network names through a headless Service, and per-pod storage from volume claim templates.

use serde::{Deserialize, Serialize};

use crate::api::deployment::{
    check_template_labels, int_or_percent_value, validate_int_or_percent,
    validate_long_running_template, validate_not_more_than_100_percent, validate_required_selector,
    Json,
};
use crate::api::persistent_volume_claim::PersistentVolumeClaim;
use crate::api::pod::{ConditionStatus, PodTemplateSpec};
use crate::meta::{validate_labels, IntOrString, ObjectMeta};
use crate::selector::LabelSelector;
use crate::time::Time;
use crate::validation::{
    check_non_negative, check_syntax, is_qualified_name, ErrorList, FieldError, FieldPath,
    SetDefaults, Validate,
};

/// A StatefulSet: `replicas` pods named `<name>-<ordinal>`, each with its own claims from
/// `volumeClaimTemplates`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StatefulSet {
    /// Standard object metadata.
    #[serde(default)]
    pub metadata: ObjectMeta,
    /// The desired state.
    #[serde(default)]
    pub spec: StatefulSetSpec,
    /// The observed state, written by the stateful set controller.
    #[serde(default, skip_serializing_if = "crate::meta::is_default")]
    pub status: StatefulSetStatus,
}

/// The desired state of a [`StatefulSet`].
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StatefulSetSpec {
    /// Number of desired pods; defaults to 1.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replicas: Option<i32>,
    /// Label selector for the pods; required, must match the template's labels and is immutable.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub selector: Option<LabelSelector>,
    /// The pods to create; each gets the claims of `volumeClaimTemplates` mounted.
    #[serde(default)]
    pub template: PodTemplateSpec,
    /// Claims created for each pod (`<claim>-<pod name>`), mountable by the template's containers
    /// by the claim template's name.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub volume_claim_templates: Vec<PersistentVolumeClaim>,
    /// The headless Service that gives the pods their network identity
    /// (`<pod>.<serviceName>.<namespace>.svc`).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub service_name: String,
    /// How pods are created and deleted on scaling; defaults to OrderedReady.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pod_management_policy: Option<PodManagementPolicyType>,
    /// How pods are replaced when the template changes; defaults to RollingUpdate with
    /// partition 0.
    #[serde(default, skip_serializing_if = "crate::meta::is_default")]
    pub update_strategy: StatefulSetUpdateStrategy,
    /// Number of old ControllerRevisions kept to allow rollback; defaults to 10.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revision_history_limit: Option<i32>,
    /// Seconds a new pod must be ready, without any container crashing, to count as available;
    /// defaults to 0.
    #[serde(default, skip_serializing_if = "crate::meta::is_default")]
    pub min_ready_seconds: i32,
    /// What happens to the claims from `volumeClaimTemplates` when the set is deleted or scaled
    /// down; defaults to Retain for both.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub persistent_volume_claim_retention_policy:
        Option<StatefulSetPersistentVolumeClaimRetentionPolicy>,
    /// The ordinals given to the pods; they start at 0 when unset.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ordinals: Option<StatefulSetOrdinals>,
}

/// How a [`StatefulSet`] creates and deletes pods when scaling.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize,
)]
pub enum PodManagementPolicyType {
    /// One pod at a time, in ordinal order, each waiting for its predecessor to be ready (the
    /// default); scale down in reverse order.
    #[default]
    OrderedReady,
    /// All at once, without waiting.
    Parallel,
}

/// How a [`StatefulSet`] replaces its pods.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StatefulSetUpdateStrategy {
    /// The kind of update; defaults to RollingUpdate.
    #[serde(rename = "type", default, skip_serializing_if = "Option::is_none")]
    pub type_: Option<StatefulSetUpdateStrategyType>,
    /// Parameters of a rolling update; only with `type: RollingUpdate`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rolling_update: Option<RollingUpdateStatefulSetStrategy>,
}

/// The kinds of [`StatefulSetUpdateStrategy`].
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize,
)]
pub enum StatefulSetUpdateStrategyType {
    /// Replace pods from the highest ordinal down (the default).
    #[default]
    RollingUpdate,
    /// Replace a pod only when it is deleted.
    OnDelete,
}

/// Parameters of a StatefulSet's rolling update.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RollingUpdateStatefulSetStrategy {
    /// Only pods with an ordinal at least this are updated; defaults to 0.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub partition: Option<i32>,
    /// Pods that may be unavailable during the update, absolute or a percentage (rounded up);
    /// must not be 0; 1 when unset (beta feature `MaxUnavailableStatefulSet`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_unavailable: Option<IntOrString>,
}

/// What happens to a StatefulSet's claims when it is deleted or scaled down.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StatefulSetPersistentVolumeClaimRetentionPolicy {
    /// On deletion of the StatefulSet; defaults to Retain.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub when_deleted: Option<PersistentVolumeClaimRetentionPolicyType>,
    /// On scale-down, for the claims of the removed pods; defaults to Retain.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub when_scaled: Option<PersistentVolumeClaimRetentionPolicyType>,
}

/// Whether claims created from volume claim templates are kept or deleted.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize,
)]
pub enum PersistentVolumeClaimRetentionPolicyType {
    /// Keep the claims (the default).
    #[default]
    Retain,
    /// Delete the claims.
    Delete,
}

/// The ordinals of a StatefulSet's pods.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StatefulSetOrdinals {
    /// The first ordinal; pods are numbered `start` to `start + replicas - 1`. Defaults to 0.
    #[serde(default)]
    pub start: i32,
}

/// The observed state of a [`StatefulSet`].
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StatefulSetStatus {
    /// The generation the controller last observed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    /// Pods created by the controller.
    #[serde(default)]
    pub replicas: i32,
    /// Pods with a Ready condition.
    #[serde(default, skip_serializing_if = "crate::meta::is_default")]
    pub ready_replicas: i32,
    /// Pods created from the revision `currentRevision`.
    #[serde(default, skip_serializing_if = "crate::meta::is_default")]
    pub current_replicas: i32,
    /// Pods created from the revision `updateRevision`.
    #[serde(default, skip_serializing_if = "crate::meta::is_default")]
    pub updated_replicas: i32,
    /// The revision of the pods with ordinals below `currentReplicas`.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub current_revision: String,
    /// The revision the pods are being updated to.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub update_revision: String,
    /// Count of hash collisions, used to name the newest ControllerRevision.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub collision_count: Option<i32>,
    /// The latest observations of the StatefulSet's state.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub conditions: Vec<StatefulSetCondition>,
    /// Pods ready for at least `minReadySeconds`.
    #[serde(default, skip_serializing_if = "crate::meta::is_default")]
    pub available_replicas: i32,
}

/// One observation of a [`StatefulSet`]'s state. Kubernetes defines no condition types for
/// StatefulSets yet, so the type is free text.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StatefulSetCondition {
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

impl StatefulSet {
    /// The ordinal of the first pod (`spec.ordinals.start`, 0 when unset).
    pub fn start_ordinal(&self) -> i32 {
        self.spec.ordinals.as_ref().map_or(0, |o| o.start)
    }
}

impl SetDefaults for StatefulSet {
    /// Kubernetes' `SetDefaults_StatefulSet` (pkg/apis/apps/v1/defaults.go) plus the pod
    /// template's defaults. As there, a `rollingUpdate` is only created when the strategy type
    /// itself was defaulted.
    fn set_defaults(&mut self) {
        let spec = &mut self.spec;
        spec.pod_management_policy
            .get_or_insert(PodManagementPolicyType::OrderedReady);
        let strategy = &mut spec.update_strategy;
        if strategy.type_.is_none() {
            strategy.type_ = Some(StatefulSetUpdateStrategyType::RollingUpdate);
            strategy.rolling_update.get_or_insert_with(Default::default);
        }
        if strategy.type_ == Some(StatefulSetUpdateStrategyType::RollingUpdate) {
            if let Some(rolling) = &mut strategy.rolling_update {
                rolling.partition.get_or_insert(0);
            }
        }
        let retention = spec
            .persistent_volume_claim_retention_policy
            .get_or_insert_with(Default::default);
        retention
            .when_deleted
            .get_or_insert(PersistentVolumeClaimRetentionPolicyType::Retain);
        retention
            .when_scaled
            .get_or_insert(PersistentVolumeClaimRetentionPolicyType::Retain);
        spec.replicas.get_or_insert(1);
        spec.revision_history_limit.get_or_insert(10);
        spec.template.set_defaults();
    }
}

impl Validate for StatefulSet {
    /// Kubernetes' `ValidateStatefulSetSpec` (pkg/apis/apps/validation/validation.go). As there,
    /// the template's pod spec is not validated as a Pod's (its volume mounts may name claim
    /// templates rather than volumes); only its labels and annotations are.
    fn validate(&self) -> ErrorList {
        let spec = &self.spec;
        let path = FieldPath::new("spec");
        let mut errs = ErrorList::new();
        if spec.pod_management_policy.is_none() {
            errs.push(FieldError::required(&path.child("podManagementPolicy"), ""));
        }
        errs.extend(validate_update_strategy(
            &spec.update_strategy,
            &path.child("updateStrategy"),
        ));
        if let Some(policy) = &spec.persistent_volume_claim_retention_policy {
            let p = path.child("persistentVolumeClaimRetentionPolicy");
            for (field, value) in [
                ("whenDeleted", policy.when_deleted),
                ("whenScaled", policy.when_scaled),
            ] {
                if value.is_none() {
                    errs.push(FieldError::not_supported(
                        &p.child(field),
                        "",
                        &["Retain", "Delete"],
                    ));
                }
            }
        }
        if let Some(replicas) = spec.replicas {
            check_non_negative(&mut errs, &path.child("replicas"), replicas.into());
        }
        check_non_negative(
            &mut errs,
            &path.child("minReadySeconds"),
            spec.min_ready_seconds.into(),
        );
        if let Some(ordinals) = &spec.ordinals {
            check_non_negative(
                &mut errs,
                &path.child("ordinals").child("start"),
                ordinals.start.into(),
            );
        }
        let (selector_errs, usable) =
            validate_required_selector(spec.selector.as_ref(), "statefulset", &path);
        errs.extend(selector_errs);
        let template_path = path.child("template");
        if usable {
            let template = &spec.template;
            check_template_labels(
                &mut errs,
                spec.selector.as_ref(),
                &template.metadata.labels,
                &template_path,
            );
            errs.extend(validate_labels(
                &template.metadata.labels,
                &template_path.child("labels"),
            ));
            for key in template.metadata.annotations.keys() {
                check_syntax(
                    &mut errs,
                    &template_path.child("annotations"),
                    key,
                    is_qualified_name,
                );
            }
        }
        errs.extend(validate_long_running_template(
            &spec.template,
            "StatefulSet",
            &template_path,
        ));
        errs
    }

    /// Kubernetes' `ValidateStatefulSetUpdate`: only `replicas`, `ordinals`, `template`,
    /// `updateStrategy`, `persistentVolumeClaimRetentionPolicy` and `minReadySeconds` may change.
    fn validate_update(&self, old: &Self) -> ErrorList {
        let mut unchanged = self.spec.clone();
        unchanged.replicas = old.spec.replicas;
        unchanged.template = old.spec.template.clone();
        unchanged.update_strategy = old.spec.update_strategy.clone();
        unchanged.min_ready_seconds = old.spec.min_ready_seconds;
        unchanged.ordinals = old.spec.ordinals.clone();
        unchanged.persistent_volume_claim_retention_policy =
            old.spec.persistent_volume_claim_retention_policy.clone();
        if unchanged == old.spec {
            return ErrorList::new();
        }
        vec![FieldError::forbidden(
            &FieldPath::new("spec"),
            "updates to statefulset spec for fields other than 'replicas', 'ordinals', 'template', \
             'updateStrategy', 'persistentVolumeClaimRetentionPolicy' and 'minReadySeconds' are forbidden",
        )]
    }
}

fn validate_update_strategy(strategy: &StatefulSetUpdateStrategy, path: &FieldPath) -> ErrorList {
    let mut errs = ErrorList::new();
    match strategy.type_ {
        None => errs.push(FieldError::required(path, "")),
        Some(StatefulSetUpdateStrategyType::OnDelete) => {
            if let Some(rolling) = &strategy.rolling_update {
                errs.push(FieldError::invalid(
                    &path.child("rollingUpdate"),
                    Json(rolling),
                    "only allowed for updateStrategy 'RollingUpdate'",
                ));
            }
        }
        Some(StatefulSetUpdateStrategyType::RollingUpdate) => {
            if let Some(rolling) = &strategy.rolling_update {
                let p = path.child("rollingUpdate");
                check_non_negative(
                    &mut errs,
                    &p.child("partition"),
                    rolling.partition.unwrap_or(0).into(),
                );
                if let Some(max_unavailable) = &rolling.max_unavailable {
                    let mp = p.child("maxUnavailable");
                    errs.extend(validate_int_or_percent(max_unavailable, &mp));
                    if int_or_percent_value(max_unavailable) == 0 {
                        errs.push(FieldError::invalid(
                            &mp,
                            Json(max_unavailable),
                            "cannot be 0",
                        ));
                    }
                    errs.extend(validate_not_more_than_100_percent(max_unavailable, &mp));
                }
            }
        }
    }
    errs
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::deployment::manifest_docs;
    use crate::api::pod::RestartPolicy;

    const DB: &str = r#"
metadata:
  name: db
  namespace: shop
spec:
  serviceName: db
  replicas: 3
  selector:
    matchLabels:
      app: db
  template:
    metadata:
      labels:
        app: db
      annotations:
        example.com/owner: data-team
    spec:
      containers:
      - name: postgres
        image: postgres:16
  volumeClaimTemplates:
  - metadata:
      name: data
    spec:
      accessModes: [ReadWriteOnce]
      resources:
        requests:
          storage: 10Gi
status:
  observedGeneration: 1
  replicas: 3
  readyReplicas: 3
  currentReplicas: 3
  updatedReplicas: 3
  availableReplicas: 3
  currentRevision: db-7f9c
  updateRevision: db-7f9c
  collisionCount: 0
"#;

    fn db() -> StatefulSet {
        let mut sts: StatefulSet = serde_yaml::from_str(DB).expect("valid yaml");
        sts.set_defaults();
        sts
    }

    fn messages(errs: &ErrorList) -> Vec<String> {
        errs.iter().map(ToString::to_string).collect()
    }

    #[test]
    fn reads_and_defaults_a_stateful_set() {
        let sts = db();
        assert_eq!(sts.spec.service_name, "db");
        assert_eq!(sts.spec.volume_claim_templates.len(), 1);
        assert_eq!(sts.spec.volume_claim_templates[0].metadata.name, "data");
        assert_eq!(sts.status.update_revision, "db-7f9c");
        assert_eq!(
            sts.spec.pod_management_policy,
            Some(PodManagementPolicyType::OrderedReady)
        );
        assert_eq!(
            sts.spec.update_strategy.type_,
            Some(StatefulSetUpdateStrategyType::RollingUpdate)
        );
        assert_eq!(
            sts.spec
                .update_strategy
                .rolling_update
                .as_ref()
                .and_then(|r| r.partition),
            Some(0)
        );
        let retention = sts
            .spec
            .persistent_volume_claim_retention_policy
            .as_ref()
            .expect("defaulted");
        assert_eq!(
            retention.when_deleted,
            Some(PersistentVolumeClaimRetentionPolicyType::Retain)
        );
        assert_eq!(
            retention.when_scaled,
            Some(PersistentVolumeClaimRetentionPolicyType::Retain)
        );
        assert_eq!(sts.spec.revision_history_limit, Some(10));
        assert_eq!(sts.start_ordinal(), 0);
        assert_eq!(messages(&sts.validate()), Vec::<String>::new());
    }

    #[test]
    fn defaults_keep_explicit_choices() {
        let mut sts = StatefulSet::default();
        sts.spec.update_strategy.type_ = Some(StatefulSetUpdateStrategyType::RollingUpdate);
        sts.spec.pod_management_policy = Some(PodManagementPolicyType::Parallel);
        sts.spec.replicas = Some(0);
        sts.set_defaults();
        // An explicit RollingUpdate without parameters gets no rollingUpdate, as in Kubernetes.
        assert_eq!(sts.spec.update_strategy.rolling_update, None);
        assert_eq!(
            sts.spec.pod_management_policy,
            Some(PodManagementPolicyType::Parallel)
        );
        assert_eq!(sts.spec.replicas, Some(0));

        let mut sts = StatefulSet::default();
        sts.spec.update_strategy.rolling_update = Some(RollingUpdateStatefulSetStrategy::default());
        sts.spec.update_strategy.type_ = Some(StatefulSetUpdateStrategyType::RollingUpdate);
        sts.set_defaults();
        assert_eq!(
            sts.spec
                .update_strategy
                .rolling_update
                .and_then(|r| r.partition),
            Some(0)
        );
    }

    #[test]
    fn validation_rules() {
        let mut sts = db();
        sts.spec.pod_management_policy = None;
        sts.spec.replicas = Some(-1);
        sts.spec.min_ready_seconds = -1;
        sts.spec.ordinals = Some(StatefulSetOrdinals { start: -1 });
        sts.spec.template.spec.restart_policy = Some(RestartPolicy::Never);
        sts.spec.template.spec.active_deadline_seconds = Some(5);
        assert_eq!(
            messages(&sts.validate()),
            vec![
                "spec.podManagementPolicy: Required value".to_string(),
                "spec.replicas: Invalid value: -1: must be greater than or equal to 0".to_string(),
                "spec.minReadySeconds: Invalid value: -1: must be greater than or equal to 0".to_string(),
                "spec.ordinals.start: Invalid value: -1: must be greater than or equal to 0".to_string(),
                "spec.template.spec.restartPolicy: Unsupported value: \"Never\": supported values: \"Always\""
                    .to_string(),
                "spec.template.spec.activeDeadlineSeconds: Forbidden: activeDeadlineSeconds in StatefulSet is not \
                 Supported"
                    .to_string(),
            ]
        );

        let mut sts = db();
        sts.spec.selector = Some(LabelSelector::default());
        assert_eq!(
            messages(&sts.validate()),
            vec![
                "spec.selector: Invalid value: {}: empty selector is invalid for statefulset"
                    .to_string()
            ]
        );

        let mut sts = db();
        sts.spec
            .template
            .metadata
            .labels
            .insert("app".into(), "cache".into());
        assert_eq!(
            sts.validate()[0].path.to_string(),
            "spec.template.metadata.labels"
        );

        let mut sts = db();
        sts.spec
            .template
            .metadata
            .annotations
            .insert("bad key!".into(), "x".into());
        assert_eq!(
            sts.validate()[0].path.to_string(),
            "spec.template.annotations"
        );
    }

    #[test]
    fn update_strategy_rules() {
        let mut sts = db();
        sts.spec.update_strategy.type_ = Some(StatefulSetUpdateStrategyType::OnDelete);
        assert_eq!(
            messages(&sts.validate()),
            vec!["spec.updateStrategy.rollingUpdate: Invalid value: {\"partition\":0}: only allowed for updateStrategy \
                  'RollingUpdate'"
                .to_string()]
        );
        sts.spec.update_strategy.type_ = None;
        sts.spec.update_strategy.rolling_update = None;
        assert_eq!(
            messages(&sts.validate()),
            vec!["spec.updateStrategy: Required value".to_string()]
        );

        let mut sts = db();
        sts.spec.update_strategy.rolling_update = Some(RollingUpdateStatefulSetStrategy {
            partition: Some(-2),
            max_unavailable: Some(IntOrString::Int(0)),
        });
        assert_eq!(
            messages(&sts.validate()),
            vec![
                "spec.updateStrategy.rollingUpdate.partition: Invalid value: -2: must be greater than or equal to 0"
                    .to_string(),
                "spec.updateStrategy.rollingUpdate.maxUnavailable: Invalid value: 0: cannot be 0".to_string(),
            ]
        );
        sts.spec.update_strategy.rolling_update = Some(RollingUpdateStatefulSetStrategy {
            partition: Some(1),
            max_unavailable: Some(IntOrString::String("120%".into())),
        });
        assert_eq!(
            messages(&sts.validate()),
            vec!["spec.updateStrategy.rollingUpdate.maxUnavailable: Invalid value: \"120%\": must not be greater \
                  than 100%"
                .to_string()]
        );
    }

    #[test]
    fn only_some_fields_may_change() {
        let old = db();
        let mut new = db();
        new.spec.replicas = Some(5);
        new.spec.min_ready_seconds = 10;
        new.spec.ordinals = Some(StatefulSetOrdinals { start: 1 });
        new.spec
            .template
            .metadata
            .labels
            .insert("version".into(), "2".into());
        new.spec.update_strategy.type_ = Some(StatefulSetUpdateStrategyType::OnDelete);
        new.spec.persistent_volume_claim_retention_policy =
            Some(StatefulSetPersistentVolumeClaimRetentionPolicy {
                when_deleted: Some(PersistentVolumeClaimRetentionPolicyType::Delete),
                when_scaled: Some(PersistentVolumeClaimRetentionPolicyType::Retain),
            });
        assert!(new.validate_update(&old).is_empty());
        for change in [
            |s: &mut StatefulSet| s.spec.service_name = "other".into(),
            |s: &mut StatefulSet| {
                s.spec.pod_management_policy = Some(PodManagementPolicyType::Parallel)
            },
            |s: &mut StatefulSet| s.spec.revision_history_limit = Some(1),
            |s: &mut StatefulSet| s.spec.volume_claim_templates.clear(),
            |s: &mut StatefulSet| s.spec.selector = None,
        ] {
            let mut new = db();
            change(&mut new);
            let errs = new.validate_update(&old);
            assert_eq!(errs.len(), 1);
            assert!(errs[0]
                .to_string()
                .starts_with("spec: Forbidden: updates to statefulset spec for fields other"));
        }
    }

    #[test]
    fn example_manifest_is_valid() {
        let docs = manifest_docs(include_str!(
            "../../../examples/manifests/stateful-set.yaml"
        ));
        assert!(!docs.is_empty());
        for doc in docs {
            let mut sts: StatefulSet = serde_json::from_value(doc).expect("a StatefulSet");
            sts.set_defaults();
            assert_eq!(
                messages(&sts.validate()),
                Vec::<String>::new(),
                "{}",
                sts.metadata.name
            );
            assert!(sts.metadata.namespace == "shop" || sts.metadata.namespace == "default");
            assert_eq!(sts.spec.service_name, "db");
            assert!(!sts.spec.volume_claim_templates.is_empty());
        }
    }
}
