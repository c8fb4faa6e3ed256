//! PriorityClass (`scheduling.k8s.io/v1`): a named pod priority. Pods refer to a class by
//! `priorityClassName`; the scheduler orders its queue by priority and preempts lower-priority
//! pods for higher ones.

use serde::{Deserialize, Serialize};

use crate::api::deployment::check_immutable;
use crate::api::pod::PreemptionPolicy;
use crate::meta::ObjectMeta;
use crate::validation::{ErrorList, FieldError, FieldPath, SetDefaults, Validate};

/// The highest priority a user-defined class may have; higher values are reserved for the
/// system classes.
pub const HIGHEST_USER_DEFINABLE_PRIORITY: i32 = 1_000_000_000;
/// The priority of [`SYSTEM_CLUSTER_CRITICAL`], the base of system-critical priorities.
pub const SYSTEM_CRITICAL_PRIORITY: i32 = 2 * HIGHEST_USER_DEFINABLE_PRIORITY;
/// The name prefix reserved for system classes.
pub const SYSTEM_PRIORITY_CLASS_PREFIX: &str = "system-";
/// The class of pods that must run in the cluster but may move between nodes.
pub const SYSTEM_CLUSTER_CRITICAL: &str = "system-cluster-critical";
/// The class of pods that must not be moved from their node.
pub const SYSTEM_NODE_CRITICAL: &str = "system-node-critical";

/// A PriorityClass: maps a name to a pod priority.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PriorityClass {
    /// Standard object metadata.
    #[serde(default)]
    pub metadata: ObjectMeta,
    /// The priority of pods of this class; higher is more important. At most
    /// [`HIGHEST_USER_DEFINABLE_PRIORITY`] for user classes. Immutable.
    #[serde(default)]
    pub value: i32,
    /// Whether pods without a `priorityClassName` get this class; at most one class may say so
    /// (the API server's Priority admission checks that across classes).
    #[serde(default, skip_serializing_if = "crate::meta::is_default")]
    pub global_default: bool,
    /// When to use this class, for people.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub description: String,
    /// Whether pods of this class may preempt lower-priority pods; defaults to
    /// PreemptLowerPriority. Immutable.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub preemption_policy: Option<PreemptionPolicy>,
}

impl PriorityClass {
    /// A class with a name and a value, everything else unset.
    pub fn new(name: &str, value: i32) -> PriorityClass {
        PriorityClass {
            metadata: ObjectMeta::named("", name),
            value,
            ..PriorityClass::default()
        }
    }

    /// The built-in `system-cluster-critical` class (value 2000000000).
    pub fn system_cluster_critical() -> PriorityClass {
        PriorityClass {
            description: "Used for system critical pods that must run in the cluster, but can be moved to another \
                          node if necessary."
                .into(),
            preemption_policy: Some(PreemptionPolicy::PreemptLowerPriority),
            ..PriorityClass::new(SYSTEM_CLUSTER_CRITICAL, SYSTEM_CRITICAL_PRIORITY)
        }
    }

    /// The built-in `system-node-critical` class (value 2000001000).
    pub fn system_node_critical() -> PriorityClass {
        PriorityClass {
            description:
                "Used for system critical pods that must not be moved from their current node."
                    .into(),
            preemption_policy: Some(PreemptionPolicy::PreemptLowerPriority),
            ..PriorityClass::new(SYSTEM_NODE_CRITICAL, SYSTEM_CRITICAL_PRIORITY + 1000)
        }
    }

    /// The built-in classes the store creates at start-up, as the API server does.
    pub fn system_classes() -> Vec<PriorityClass> {
        vec![
            PriorityClass::system_node_critical(),
            PriorityClass::system_cluster_critical(),
        ]
    }

    /// The effective preemption policy (PreemptLowerPriority when unset).
    pub fn preemption_policy(&self) -> PreemptionPolicy {
        self.preemption_policy
            .unwrap_or(PreemptionPolicy::PreemptLowerPriority)
    }
}

/// Whether `class` is one of the built-in system classes, with their value and `globalDefault`
/// false (Kubernetes' `IsKnownSystemPriorityClass`); the reason when it is not.
fn known_system_class(class: &PriorityClass) -> Result<(), String> {
    let name = &class.metadata.name;
    let Some(system) = PriorityClass::system_classes()
        .into_iter()
        .find(|s| &s.metadata.name == name)
    else {
        return Err(format!("{name} is not a known system priority class"));
    };
    if system.value != class.value {
        return Err(format!(
            "value of {name} PriorityClass must be {}",
            system.value
        ));
    }
    if system.global_default != class.global_default {
        return Err(format!(
            "globalDefault of {name} PriorityClass must be {}",
            system.global_default
        ));
    }
    Ok(())
}

impl SetDefaults for PriorityClass {
    /// Kubernetes' `SetDefaults_PriorityClass` (pkg/apis/scheduling/v1/defaults.go).
    fn set_defaults(&mut self) {
        self.preemption_policy
            .get_or_insert(PreemptionPolicy::PreemptLowerPriority);
    }
}

impl Validate for PriorityClass {
    /// Kubernetes' `ValidatePriorityClass` (pkg/apis/scheduling/validation/validation.go): the
    /// `system-` prefix is reserved for the built-in classes, and user classes are at most
    /// [`HIGHEST_USER_DEFINABLE_PRIORITY`].
    fn validate(&self) -> ErrorList {
        let mut errs = ErrorList::new();
        if self.metadata.name.starts_with(SYSTEM_PRIORITY_CLASS_PREFIX) {
            if let Err(reason) = known_system_class(self) {
                errs.push(FieldError::forbidden(
                    &FieldPath::new("metadata").child("name"),
                    format!(
                        "priority class names with '{SYSTEM_PRIORITY_CLASS_PREFIX}' prefix are reserved for system \
                         use only. error: {reason}"
                    ),
                ));
            }
        } else if self.value > HIGHEST_USER_DEFINABLE_PRIORITY {
            errs.push(FieldError::forbidden(
                &FieldPath::new("value"),
                format!("maximum allowed value of a user defined priority is {HIGHEST_USER_DEFINABLE_PRIORITY}"),
            ));
        }
        errs
    }

    /// Kubernetes' `ValidatePriorityClassUpdate`: `value` and `preemptionPolicy` are immutable.
    fn validate_update(&self, old: &Self) -> ErrorList {
        let mut errs = ErrorList::new();
        if self.value != old.value {
            errs.push(FieldError::forbidden(
                &FieldPath::new("value"),
                "may not be changed in an update.",
            ));
        }
        check_immutable(
            &mut errs,
            &self.preemption_policy,
            &old.preemption_policy,
            &FieldPath::new("preemptionPolicy"),
        );
        errs
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::deployment::manifest_docs;

    fn messages(errs: &ErrorList) -> Vec<String> {
        errs.iter().map(ToString::to_string).collect()
    }

    #[test]
    fn reads_and_defaults_a_class() {
        let yaml = "metadata:\n  name: high-priority\nvalue: 1000000\nglobalDefault: false\n\
                    description: \"For the shop's front end.\"\n";
        let mut pc: PriorityClass = serde_yaml::from_str(yaml).expect("valid yaml");
        assert_eq!(pc.value, 1_000_000);
        assert_eq!(pc.preemption_policy, None);
        assert_eq!(
            pc.preemption_policy(),
            PreemptionPolicy::PreemptLowerPriority
        );
        pc.set_defaults();
        assert_eq!(
            pc.preemption_policy,
            Some(PreemptionPolicy::PreemptLowerPriority)
        );
        assert!(pc.validate().is_empty());
        let mut never = PriorityClass::new("batch", 10);
        never.preemption_policy = Some(PreemptionPolicy::Never);
        never.set_defaults();
        assert_eq!(never.preemption_policy, Some(PreemptionPolicy::Never));
        let json = serde_json::to_value(&never).expect("serializable");
        assert_eq!(json["preemptionPolicy"], "Never");
        assert_eq!(json["value"], 10);
    }

    #[test]
    fn system_classes_are_valid_and_reserved() {
        let classes = PriorityClass::system_classes();
        assert_eq!(classes.len(), 2);
        assert_eq!(classes[0].metadata.name, SYSTEM_NODE_CRITICAL);
        assert_eq!(classes[0].value, 2_000_001_000);
        assert_eq!(classes[1].metadata.name, SYSTEM_CLUSTER_CRITICAL);
        assert_eq!(classes[1].value, 2_000_000_000);
        for class in &classes {
            assert!(class.validate().is_empty(), "{}", class.metadata.name);
        }

        let mut fake = PriorityClass::system_cluster_critical();
        fake.value = 5;
        assert_eq!(
            messages(&fake.validate()),
            vec!["metadata.name: Forbidden: priority class names with 'system-' prefix are reserved for system use \
                  only. error: value of system-cluster-critical PriorityClass must be 2000000000"
                .to_string()]
        );
        let mut fake = PriorityClass::system_node_critical();
        fake.global_default = true;
        assert!(messages(&fake.validate())[0]
            .ends_with("globalDefault of system-node-critical PriorityClass must be false"));
        let other = PriorityClass::new("system-mine", 10);
        assert!(messages(&other.validate())[0]
            .ends_with("error: system-mine is not a known system priority class"));
    }

    #[test]
    fn user_classes_are_capped() {
        assert!(PriorityClass::new("top", HIGHEST_USER_DEFINABLE_PRIORITY)
            .validate()
            .is_empty());
        assert!(PriorityClass::new("low", -10).validate().is_empty());
        assert_eq!(
            messages(
                &PriorityClass::new("too-high", HIGHEST_USER_DEFINABLE_PRIORITY + 1).validate()
            ),
            vec![
                "value: Forbidden: maximum allowed value of a user defined priority is 1000000000"
                    .to_string()
            ]
        );
    }

    #[test]
    fn value_and_preemption_policy_are_immutable() {
        let mut old = PriorityClass::new("high-priority", 1_000_000);
        old.set_defaults();
        let mut new = old.clone();
        new.description = "changed".into();
        new.global_default = true;
        assert!(new.validate_update(&old).is_empty());
        new.value = 2;
        new.preemption_policy = Some(PreemptionPolicy::Never);
        assert_eq!(
            messages(&new.validate_update(&old)),
            vec![
                "value: Forbidden: may not be changed in an update.".to_string(),
                "preemptionPolicy: Invalid value: \"Never\": field is immutable".to_string(),
            ]
        );
    }

    #[test]
    fn example_manifest_is_valid() {
        let docs = manifest_docs(include_str!(
            "../../../examples/manifests/priority-class.yaml"
        ));
        let mut names = Vec::new();
        for doc in docs {
            let mut pc: PriorityClass = serde_json::from_value(doc).expect("a PriorityClass");
            pc.set_defaults();
            assert_eq!(
                messages(&pc.validate()),
                Vec::<String>::new(),
                "{}",
                pc.metadata.name
            );
            assert!(pc.metadata.namespace.is_empty());
            names.push((pc.metadata.name.clone(), pc.value, pc.preemption_policy()));
        }
        assert!(names.contains(&(
            "high-priority".to_string(),
            1_000_000,
            PreemptionPolicy::PreemptLowerPriority
        )));
        assert!(names.iter().any(|(_, _, p)| *p == PreemptionPolicy::Never));
    }
}
