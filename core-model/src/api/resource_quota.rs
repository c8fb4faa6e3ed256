//! ResourceQuota (core/v1): a cap on what a namespace may consume in aggregate — compute
//! (`requests.cpu`, `limits.memory`), storage (`requests.storage`), and object counts (`pods`,
//! `services`, `count/deployments.apps`) — optionally only for the pods a scope selects
//! (`BestEffort`, `Terminating`, a priority class, …).
//!
//! This module models and validates quota objects and the names of quota resources; admission
//! (charging a new object against `status.used`) lives in the store.

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};

use crate::api::pod::is_extended_resource_name;
use crate::meta::ObjectMeta;
use crate::quantity::{Quantity, ResourceList};
use crate::validation::{
    check_syntax, is_qualified_name, ErrorList, FieldError, FieldPath, SetDefaults, Validate,
};

/// A ResourceQuota.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ResourceQuota {
    /// Standard object metadata.
    #[serde(default)]
    pub metadata: ObjectMeta,
    /// The limits.
    #[serde(default)]
    pub spec: ResourceQuotaSpec,
    /// The enforced limits and current usage, maintained by the quota controller.
    #[serde(default, skip_serializing_if = "crate::meta::is_default")]
    pub status: ResourceQuotaStatus,
}

/// The limits of a [`ResourceQuota`].
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ResourceQuotaSpec {
    /// The most of each named resource the namespace may use.
    #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub hard: ResourceList,
    /// The quota applies only to objects matching every scope (immutable).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub scopes: Vec<ResourceQuotaScope>,
    /// Like `scopes`, as expressions (needed for `PriorityClass` values).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scope_selector: Option<ScopeSelector>,
}

/// Which objects a quota counts.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum ResourceQuotaScope {
    /// Pods with `activeDeadlineSeconds` set.
    Terminating,
    /// Pods without `activeDeadlineSeconds`.
    NotTerminating,
    /// Pods of QoS class BestEffort.
    BestEffort,
    /// Pods of QoS class Burstable or Guaranteed.
    NotBestEffort,
    /// Pods with one of some priority classes (via `scopeSelector`).
    PriorityClass,
    /// Pods with cross-namespace (anti-)affinity terms.
    CrossNamespacePodAffinity,
    /// Claims with one of some VolumeAttributesClasses (via `scopeSelector`).
    VolumeAttributesClass,
}

/// Scope expressions of a quota, ANDed.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ScopeSelector {
    /// The expressions.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub match_expressions: Vec<ScopedResourceSelectorRequirement>,
}

/// One scope expression: a scope, an operator and values.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ScopedResourceSelectorRequirement {
    /// The scope.
    pub scope_name: ResourceQuotaScope,
    /// How the scope relates to the values.
    pub operator: ScopeSelectorOperator,
    /// The values (priority class names) for `In` and `NotIn`; none otherwise.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub values: Vec<String>,
}

/// The operator of a [`ScopedResourceSelectorRequirement`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum ScopeSelectorOperator {
    /// The object's value is one of the values.
    In,
    /// The object's value is none of the values.
    NotIn,
    /// The object is in the scope.
    Exists,
    /// The object is not in the scope.
    DoesNotExist,
}

/// The enforced limits and usage of a [`ResourceQuota`].
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ResourceQuotaStatus {
    /// The limits being enforced (a copy of `spec.hard`).
    #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub hard: ResourceList,
    /// The namespace's current usage of each limited resource.
    #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub used: ResourceList,
}

impl ResourceQuotaSpec {
    /// Every scope the quota is restricted to, from `scopes` and `scopeSelector` together.
    pub fn all_scopes(&self) -> BTreeSet<ResourceQuotaScope> {
        let mut scopes: BTreeSet<_> = self.scopes.iter().copied().collect();
        if let Some(selector) = &self.scope_selector {
            scopes.extend(selector.match_expressions.iter().map(|e| e.scope_name));
        }
        scopes
    }
}

impl ResourceQuota {
    /// How much of `resource` is still free: `status.hard` minus `status.used` (zero when
    /// exceeded); `None` when the quota does not limit the resource.
    pub fn remaining(&self, resource: &str) -> Option<Quantity> {
        let hard = self
            .status
            .hard
            .get(resource)
            .or_else(|| self.spec.hard.get(resource))?;
        let used = self
            .status
            .used
            .get(resource)
            .copied()
            .unwrap_or(Quantity::ZERO);
        Some((*hard - used).max(Quantity::ZERO))
    }
}

impl SetDefaults for ResourceQuota {
    /// Kubernetes defines no defaults for ResourceQuotas.
    fn set_defaults(&mut self) {}
}

// ---------------------------------------------------------------------------------------------
// Resource names (pkg/apis/core/helper: IsStandardResourceName and friends).
// ---------------------------------------------------------------------------------------------

/// Unprefixed resource names Kubernetes knows, besides huge pages.
const STANDARD_RESOURCES: &[&str] = &[
    "cpu",
    "memory",
    "ephemeral-storage",
    "requests.cpu",
    "requests.memory",
    "requests.ephemeral-storage",
    "limits.cpu",
    "limits.memory",
    "limits.ephemeral-storage",
    "pods",
    "resourcequotas",
    "services",
    "replicationcontrollers",
    "secrets",
    "configmaps",
    "persistentvolumeclaims",
    "storage",
    "requests.storage",
    "services.nodeports",
    "services.loadbalancers",
];

/// Resources a quota tracks: all standard ones but `storage`, plus huge pages.
const STANDARD_QUOTA_RESOURCES: &[&str] = &[
    "cpu",
    "memory",
    "ephemeral-storage",
    "requests.cpu",
    "requests.memory",
    "requests.storage",
    "requests.ephemeral-storage",
    "limits.cpu",
    "limits.memory",
    "limits.ephemeral-storage",
    "pods",
    "resourcequotas",
    "services",
    "replicationcontrollers",
    "secrets",
    "persistentvolumeclaims",
    "configmaps",
    "services.nodeports",
    "services.loadbalancers",
];

/// Object counts, which must be whole numbers.
const INTEGER_RESOURCES: &[&str] = &[
    "pods",
    "resourcequotas",
    "services",
    "replicationcontrollers",
    "secrets",
    "configmaps",
    "persistentvolumeclaims",
    "services.nodeports",
    "services.loadbalancers",
];

/// Quota resources that pod scopes can restrict.
const POD_COMPUTE_RESOURCES: &[&str] = &[
    "pods",
    "cpu",
    "memory",
    "limits.cpu",
    "limits.memory",
    "requests.cpu",
    "requests.memory",
];

fn is_quota_hugepages(name: &str) -> bool {
    name.starts_with("hugepages-") || name.starts_with("requests.hugepages-")
}

/// Whether `name` is a resource name Kubernetes knows without a domain prefix.
pub fn is_standard_resource_name(name: &str) -> bool {
    STANDARD_RESOURCES.contains(&name) || is_quota_hugepages(name)
}

/// Whether a quota can track `name` without a domain prefix (`storage` itself cannot: quotas say
/// `requests.storage`).
pub fn is_standard_quota_resource_name(name: &str) -> bool {
    STANDARD_QUOTA_RESOURCES.contains(&name) || is_quota_hugepages(name)
}

/// Whether amounts of `name` must be whole numbers: object counts and extended resources
/// (`nvidia.com/gpu`, `count/deployments.apps`).
pub fn is_integer_resource_name(name: &str) -> bool {
    INTEGER_RESOURCES.contains(&name) || is_extended_resource_name(name)
}

/// Checks a resource name (`validateResourceName`): a qualified name, standard unless it has a
/// domain prefix.
pub fn validate_resource_name(name: &str, path: &FieldPath) -> ErrorList {
    let mut errs = ErrorList::new();
    check_syntax(&mut errs, path, name, is_qualified_name);
    if errs.is_empty() && !name.contains('/') && !is_standard_resource_name(name) {
        errs.push(FieldError::invalid(
            path,
            name,
            "must be a standard resource type or fully qualified",
        ));
    }
    errs
}

/// Checks the name of a quota resource (`ValidateResourceQuotaResourceName`).
pub fn validate_quota_resource_name(name: &str, path: &FieldPath) -> ErrorList {
    let mut errs = validate_resource_name(name, path);
    if !name.contains('/') && !is_standard_quota_resource_name(name) {
        errs.push(FieldError::invalid(
            path,
            name,
            "must be a standard resource for quota",
        ));
    }
    errs
}

/// Checks a quota amount (`ValidateResourceQuantityValue`): not negative, whole for counts.
fn validate_quota_value(name: &str, q: &Quantity, path: &FieldPath) -> ErrorList {
    let mut errs = ErrorList::new();
    if q.is_negative() {
        errs.push(FieldError::invalid(
            path,
            q.to_string(),
            "must be greater than or equal to 0",
        ));
    }
    if is_integer_resource_name(name) && q.milli_value() % 1000 != 0 {
        errs.push(FieldError::invalid(
            path,
            q.to_string(),
            "must be an integer",
        ));
    }
    errs
}

fn validate_resource_list(list: &ResourceList, path: &FieldPath) -> ErrorList {
    let mut errs = ErrorList::new();
    for (name, q) in list {
        let p = path.key(name);
        errs.extend(validate_quota_resource_name(name, &p));
        errs.extend(validate_quota_value(name, q, &p));
    }
    errs
}

/// Whether `scope` can restrict a quota on `resource` (`IsResourceQuotaScopeValidForResource`).
fn scope_valid_for(scope: ResourceQuotaScope, resource: &str) -> bool {
    match scope {
        ResourceQuotaScope::BestEffort => resource == "pods",
        ResourceQuotaScope::VolumeAttributesClass => {
            matches!(resource, "persistentvolumeclaims" | "requests.storage")
        }
        _ => POD_COMPUTE_RESOURCES.contains(&resource),
    }
}

/// How many mutually exclusive pairs of scopes (`BestEffort`/`NotBestEffort`,
/// `Terminating`/`NotTerminating`) `set` holds.
fn conflicting_pairs(set: &BTreeSet<ResourceQuotaScope>) -> usize {
    use ResourceQuotaScope::{BestEffort, NotBestEffort, NotTerminating, Terminating};
    [(BestEffort, NotBestEffort), (Terminating, NotTerminating)]
        .iter()
        .filter(|(a, b)| set.contains(a) && set.contains(b))
        .count()
}

/// The error values Kubernetes prints for scope lists.
fn scope_names(scopes: &[ResourceQuotaScope]) -> Vec<String> {
    scopes.iter().map(|s| format!("{s:?}")).collect()
}

impl Validate for ResourceQuota {
    // pkg/apis/core/validation: ValidateResourceQuota (spec and status).
    fn validate(&self) -> ErrorList {
        let spec = &self.spec;
        let path = FieldPath::new("spec");
        let mut errs = validate_resource_list(&spec.hard, &path.child("hard"));
        let quota_resources: Vec<&str> = spec
            .hard
            .keys()
            .map(String::as_str)
            .filter(|k| is_standard_quota_resource_name(k))
            .collect();
        // validateResourceQuotaScopes.
        let scopes_path = path.child("scopes");
        let mut scope_set = BTreeSet::new();
        for scope in &spec.scopes {
            for resource in &quota_resources {
                if !scope_valid_for(*scope, resource) {
                    errs.push(FieldError::invalid(
                        &scopes_path,
                        scope_names(&spec.scopes),
                        "unsupported scope applied to resource",
                    ));
                }
            }
            scope_set.insert(*scope);
        }
        for _ in 0..conflicting_pairs(&scope_set) {
            errs.push(FieldError::invalid(
                &scopes_path,
                scope_names(&spec.scopes),
                "conflicting scopes",
            ));
        }

        // validateScopedResourceSelectorRequirement.
        if let Some(selector) = &spec.scope_selector {
            let exprs_path = path.child("scopeSelector").child("matchExpressions");
            let mut selected = BTreeSet::new();
            for req in &selector.match_expressions {
                for resource in &quota_resources {
                    if !scope_valid_for(req.scope_name, resource) {
                        errs.push(FieldError::invalid(
                            &exprs_path,
                            format!("{selector:?}"),
                            "unsupported scope applied to resource",
                        ));
                    }
                }
                let exists_only = matches!(
                    req.scope_name,
                    ResourceQuotaScope::BestEffort
                        | ResourceQuotaScope::NotBestEffort
                        | ResourceQuotaScope::Terminating
                        | ResourceQuotaScope::NotTerminating
                        | ResourceQuotaScope::CrossNamespacePodAffinity
                );
                if exists_only && req.operator != ScopeSelectorOperator::Exists {
                    errs.push(FieldError::invalid(
                        &exprs_path.child("operator"),
                        format!("{:?}", req.operator),
                        "must be 'Exists' when scope is any of ResourceQuotaScopeTerminating, \
                         ResourceQuotaScopeNotTerminating, ResourceQuotaScopeBestEffort, \
                         ResourceQuotaScopeNotBestEffort or ResourceQuotaScopeCrossNamespacePodAffinity",
                    ));
                }
                match req.operator {
                    ScopeSelectorOperator::In | ScopeSelectorOperator::NotIn
                        if req.values.is_empty() =>
                    {
                        errs.push(FieldError::required(
                            &exprs_path.child("values"),
                            "must be at least one value when `operator` is 'In' or 'NotIn' for scope selector",
                        ));
                    }
                    ScopeSelectorOperator::Exists | ScopeSelectorOperator::DoesNotExist
                        if !req.values.is_empty() =>
                    {
                        errs.push(FieldError::invalid(
                            &exprs_path.child("values"),
                            &req.values,
                            "must be no value when `operator` is 'Exist' or 'DoesNotExist' for scope selector",
                        ));
                    }
                    _ => {}
                }
                selected.insert(req.scope_name);
            }
            // Kubernetes prints `spec.scopes` here; the selector's own scopes say more.
            let selected_names: Vec<String> = selected.iter().map(|s| format!("{s:?}")).collect();
            for _ in 0..conflicting_pairs(&selected) {
                errs.push(FieldError::invalid(
                    &exprs_path,
                    &selected_names,
                    "conflicting scopes",
                ));
            }
        }

        let status_path = FieldPath::new("status");
        errs.extend(validate_resource_list(
            &self.status.hard,
            &status_path.child("hard"),
        ));
        errs.extend(validate_resource_list(
            &self.status.used,
            &status_path.child("used"),
        ));
        errs
    }

    // pkg/apis/core/validation: ValidateResourceQuotaUpdate: the scopes may not change.
    fn validate_update(&self, old: &Self) -> ErrorList {
        let new_scopes: BTreeSet<_> = self.spec.scopes.iter().collect();
        let old_scopes: BTreeSet<_> = old.spec.scopes.iter().collect();
        if new_scopes != old_scopes {
            return vec![FieldError::invalid(
                &FieldPath::new("spec").child("scopes"),
                scope_names(&self.spec.scopes),
                "field is immutable",
            )];
        }
        Vec::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::config_map::tests::valid_docs_of_kind;

    fn text(errs: &ErrorList) -> Vec<String> {
        errs.iter().map(ToString::to_string).collect()
    }

    fn q(s: &str) -> Quantity {
        Quantity::parse(s).expect("quantity")
    }

    fn quota(hard: &[(&str, &str)]) -> ResourceQuota {
        let mut rq = ResourceQuota {
            metadata: ObjectMeta::named("shop", "compute"),
            ..ResourceQuota::default()
        };
        for (k, v) in hard {
            rq.spec.hard.insert(k.to_string(), q(v));
        }
        rq
    }

    #[test]
    fn reads_a_quota() {
        let yaml = r#"
metadata: {name: compute, namespace: shop}
spec:
  hard:
    requests.cpu: "4"
    requests.memory: 8Gi
    limits.cpu: "8"
    limits.memory: 16Gi
    pods: "20"
    count/deployments.apps: "10"
    requests.nvidia.com/gpu: 2
  scopeSelector:
    matchExpressions:
      - scopeName: PriorityClass
        operator: In
        values: [high]
status:
  hard: {pods: "20"}
  used: {pods: "5"}
"#;
        let rq: ResourceQuota = serde_yaml::from_str(yaml).expect("decodes");
        assert_eq!(rq.spec.hard["requests.memory"], q("8Gi"));
        assert_eq!(
            rq.spec.all_scopes(),
            BTreeSet::from([ResourceQuotaScope::PriorityClass])
        );
        assert_eq!(rq.remaining("pods"), Some(q("15")));
        assert_eq!(
            rq.remaining("limits.cpu"),
            Some(q("8")),
            "falls back to spec.hard"
        );
        assert_eq!(rq.remaining("services"), None);
        assert!(rq.validate().is_empty(), "{:?}", rq.validate());
    }

    #[test]
    fn resource_names() {
        assert!(is_standard_quota_resource_name("requests.hugepages-2Mi"));
        assert!(!is_standard_quota_resource_name("storage"));
        assert!(is_integer_resource_name("count/deployments.apps"));
        assert!(is_integer_resource_name("nvidia.com/gpu"));
        assert!(!is_integer_resource_name("requests.nvidia.com/gpu"));
        assert!(!is_integer_resource_name("memory"));
        let rq = quota(&[
            ("storage", "1Gi"),
            ("widgets", "1"),
            ("bad name", "1"),
            ("example.com/widgets", "1"),
        ]);
        let errs = text(&rq.validate());
        assert_eq!(errs.len(), 5, "{errs:?}");
        assert!(
            errs[0].starts_with(
                "spec.hard[bad name]: Invalid value: \"bad name\": name part must consist"
            ),
            "{errs:?}"
        );
        assert_eq!(errs[1], "spec.hard[bad name]: Invalid value: \"bad name\": must be a standard resource for quota");
        assert_eq!(
            errs[2],
            "spec.hard[storage]: Invalid value: \"storage\": must be a standard resource for quota"
        );
        assert_eq!(errs[3], "spec.hard[widgets]: Invalid value: \"widgets\": must be a standard resource type or fully qualified");
        assert_eq!(
            errs[4],
            "spec.hard[widgets]: Invalid value: \"widgets\": must be a standard resource for quota"
        );
    }

    #[test]
    fn amounts_are_non_negative_and_counts_whole() {
        let rq = quota(&[
            ("requests.cpu", "-1"),
            ("pods", "1500m"),
            ("count/jobs.batch", "0.5"),
            ("requests.memory", "0.5Gi"),
        ]);
        assert_eq!(
            text(&rq.validate()),
            vec![
                "spec.hard[count/jobs.batch]: Invalid value: \"500m\": must be an integer",
                "spec.hard[pods]: Invalid value: \"1500m\": must be an integer",
                "spec.hard[requests.cpu]: Invalid value: \"-1\": must be greater than or equal to 0",
            ]
        );
        let mut rq = quota(&[("pods", "10")]);
        rq.status.used.insert("pods".into(), q("-1"));
        assert_eq!(
            text(&rq.validate()),
            vec!["status.used[pods]: Invalid value: \"-1\": must be greater than or equal to 0"]
        );
    }

    #[test]
    fn scopes_must_fit_the_resources() {
        let mut rq = quota(&[
            ("pods", "10"),
            ("requests.storage", "100Gi"),
            ("count/deployments.apps", "5"),
        ]);
        rq.spec.scopes = vec![ResourceQuotaScope::BestEffort];
        assert_eq!(
            text(&rq.validate()),
            vec!["spec.scopes: Invalid value: [\"BestEffort\"]: unsupported scope applied to resource"],
            "extended resources are not checked"
        );
        let mut rq = quota(&[("pods", "10"), ("requests.cpu", "1")]);
        rq.spec.scopes = vec![
            ResourceQuotaScope::BestEffort,
            ResourceQuotaScope::NotBestEffort,
        ];
        assert_eq!(
            text(&rq.validate()),
            vec![
                "spec.scopes: Invalid value: [\"BestEffort\", \"NotBestEffort\"]: unsupported scope applied to resource",
                "spec.scopes: Invalid value: [\"BestEffort\", \"NotBestEffort\"]: conflicting scopes",
            ]
        );
        let mut rq = quota(&[("pods", "10")]);
        rq.spec.scopes = vec![
            ResourceQuotaScope::Terminating,
            ResourceQuotaScope::NotTerminating,
        ];
        assert_eq!(text(&rq.validate()), vec!["spec.scopes: Invalid value: [\"Terminating\", \"NotTerminating\"]: conflicting scopes"]);
        let mut rq = quota(&[
            ("persistentvolumeclaims", "10"),
            ("requests.storage", "1Ti"),
        ]);
        rq.spec.scopes = vec![ResourceQuotaScope::VolumeAttributesClass];
        assert!(rq.validate().is_empty());
    }

    #[test]
    fn scope_selector_rules() {
        let mut rq = quota(&[("pods", "10")]);
        rq.spec.scope_selector = Some(ScopeSelector {
            match_expressions: vec![
                ScopedResourceSelectorRequirement {
                    scope_name: ResourceQuotaScope::Terminating,
                    operator: ScopeSelectorOperator::In,
                    values: vec![],
                },
                ScopedResourceSelectorRequirement {
                    scope_name: ResourceQuotaScope::PriorityClass,
                    operator: ScopeSelectorOperator::Exists,
                    values: vec!["high".into()],
                },
            ],
        });
        let errs = text(&rq.validate());
        assert_eq!(errs.len(), 3, "{errs:?}");
        assert!(errs[0].starts_with("spec.scopeSelector.matchExpressions.operator: Invalid value: \"In\": must be 'Exists' when scope is any of"));
        assert_eq!(
            errs[1],
            "spec.scopeSelector.matchExpressions.values: Required value: must be at least one value when `operator` is 'In' or 'NotIn' for scope selector"
        );
        assert_eq!(
            errs[2],
            "spec.scopeSelector.matchExpressions.values: Invalid value: [\"high\"]: must be no value when `operator` is 'Exist' or 'DoesNotExist' for scope selector"
        );
    }

    #[test]
    fn scope_selector_scopes_must_fit_and_not_conflict() {
        let mut rq = quota(&[("requests.cpu", "1")]);
        let exists = |scope_name| ScopedResourceSelectorRequirement {
            scope_name,
            operator: ScopeSelectorOperator::Exists,
            values: vec![],
        };
        rq.spec.scope_selector = Some(ScopeSelector {
            match_expressions: vec![
                exists(ResourceQuotaScope::NotTerminating),
                exists(ResourceQuotaScope::Terminating),
            ],
        });
        assert_eq!(
            text(&rq.validate()),
            vec!["spec.scopeSelector.matchExpressions: Invalid value: [\"Terminating\", \"NotTerminating\"]: conflicting scopes"]
        );
        rq.spec.scope_selector = Some(ScopeSelector {
            match_expressions: vec![exists(ResourceQuotaScope::BestEffort)],
        });
        let errs = text(&rq.validate());
        assert_eq!(errs.len(), 1);
        assert!(
            errs[0].starts_with("spec.scopeSelector.matchExpressions: Invalid value:"),
            "{errs:?}"
        );
        assert!(
            errs[0].ends_with("unsupported scope applied to resource"),
            "{errs:?}"
        );
    }

    #[test]
    fn scopes_are_immutable() {
        let mut old = quota(&[("pods", "10")]);
        old.spec.scopes = vec![
            ResourceQuotaScope::NotTerminating,
            ResourceQuotaScope::NotBestEffort,
        ];
        let mut new = old.clone();
        new.spec.scopes.reverse();
        new.spec.hard.insert("pods".into(), q("20"));
        assert!(
            new.validate_update(&old).is_empty(),
            "order and limits may change"
        );
        new.spec.scopes.pop();
        assert_eq!(
            text(&new.validate_update(&old)),
            vec!["spec.scopes: Invalid value: [\"NotBestEffort\"]: field is immutable"]
        );
    }

    #[test]
    fn example_manifest_is_valid() {
        let quotas: Vec<ResourceQuota> =
            valid_docs_of_kind(include_str!("../../../examples/manifests/quota.yaml"));
        assert!(quotas.iter().all(|q| q.metadata.namespace == "shop"));
        assert!(quotas
            .iter()
            .any(|q| q.spec.hard.contains_key("requests.cpu")));
    }
}
