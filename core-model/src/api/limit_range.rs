//! LimitRange (core/v1): per-object bounds and defaults for resources in a namespace — the least
//! and most a container, a pod or a claim may ask for, the largest limit-to-request ratio, and
//! the requests and limits given to containers that set none.
//!
//! This module models and validates the object and offers the lookups admission needs
//! ([`LimitRangeItem::default_for`], [`LimitRangeItem::default_request_for`]); applying the
//! defaults to pods and enforcing the bounds is the store's admission step.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use crate::api::pod::{is_extended_resource_name, is_overcommit_allowed};
use crate::api::resource_quota::validate_resource_name;
use crate::meta::ObjectMeta;
use crate::quantity::{Quantity, ResourceList};
use crate::validation::{ErrorList, FieldError, FieldPath, SetDefaults, Validate};

/// A LimitRange.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LimitRange {
    /// Standard object metadata.
    #[serde(default)]
    pub metadata: ObjectMeta,
    /// The limits.
    #[serde(default)]
    pub spec: LimitRangeSpec,
}

/// The limits of a [`LimitRange`].
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LimitRangeSpec {
    /// One item per kind of object (at most one per type).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub limits: Vec<LimitRangeItem>,
}

/// The bounds and defaults for one kind of object.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LimitRangeItem {
    /// The kind of object the item applies to (required).
    #[serde(rename = "type")]
    pub r#type: LimitType,
    /// The most of each resource (a limit for containers and pods, a request for claims).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub max: ResourceList,
    /// The least of each resource (a request).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub min: ResourceList,
    /// The limits given to containers that set none (containers only); defaults to `max`.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub default: ResourceList,
    /// The requests given to containers that set none (containers only); defaults to
    /// `default`, else `min`.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub default_request: ResourceList,
    /// The largest limit/request ratio of each resource (at least 1).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub max_limit_request_ratio: ResourceList,
}

/// The kind of object a [`LimitRangeItem`] bounds.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum LimitType {
    /// Each container (and init container) of a pod.
    Container,
    /// The sum over a pod's containers.
    Pod,
    /// Each PersistentVolumeClaim's storage request.
    PersistentVolumeClaim,
}

impl LimitRangeItem {
    /// An item of `r#type` with no bounds.
    pub fn new(r#type: LimitType) -> LimitRangeItem {
        LimitRangeItem {
            r#type,
            max: ResourceList::new(),
            min: ResourceList::new(),
            default: ResourceList::new(),
            default_request: ResourceList::new(),
            max_limit_request_ratio: ResourceList::new(),
        }
    }

    /// The limit a container that sets none gets for `resource` (after defaulting: `default`,
    /// which itself defaults to `max`).
    pub fn default_for(&self, resource: &str) -> Option<&Quantity> {
        self.default.get(resource)
    }

    /// The request a container that sets none gets for `resource` (after defaulting:
    /// `defaultRequest`, which defaults to `default`, then `min`).
    pub fn default_request_for(&self, resource: &str) -> Option<&Quantity> {
        self.default_request.get(resource)
    }
}

impl LimitRange {
    /// The item for `r#type`, if any.
    pub fn item(&self, r#type: LimitType) -> Option<&LimitRangeItem> {
        self.spec.limits.iter().find(|i| i.r#type == r#type)
    }
}

impl SetDefaults for LimitRange {
    // pkg/apis/core/v1/defaults.go: SetDefaults_LimitRangeItem. For containers, a missing default
    // limit is the max, a missing default request is the default limit, else the min.
    fn set_defaults(&mut self) {
        for item in &mut self.spec.limits {
            if item.r#type != LimitType::Container {
                continue;
            }
            for (k, v) in &item.max {
                item.default.entry(k.clone()).or_insert(*v);
            }
            for (k, v) in &item.default {
                item.default_request.entry(k.clone()).or_insert(*v);
            }
            for (k, v) in &item.min {
                item.default_request.entry(k.clone()).or_insert(*v);
            }
        }
    }
}

/// `validateLimitRangeResourceName`: container rules for `Container` and `Pod` items, the
/// general resource-name rules otherwise.
fn validate_limit_resource_name(r#type: LimitType, name: &str, path: &FieldPath) -> ErrorList {
    let mut errs = validate_resource_name(name, path);
    if r#type == LimitType::PersistentVolumeClaim {
        return errs;
    }
    // validateContainerResourceName.
    if !name.contains('/') {
        if !matches!(name, "cpu" | "memory" | "ephemeral-storage")
            && !name.starts_with("hugepages-")
        {
            errs.push(FieldError::invalid(
                path,
                name,
                "must be a standard resource for containers",
            ));
        }
    } else if !name.contains("kubernetes.io/") && !is_extended_resource_name(name) {
        errs.push(FieldError::invalid(
            path,
            name,
            "doesn't follow extended resource name standard",
        ));
    }
    errs
}

/// The largest ratio allowed when every value fits in milli-units (Kubernetes' `MaxMilliValue`).
const MAX_MILLI_VALUE: i64 = i64::MAX / 1000;

impl Validate for LimitRange {
    // pkg/apis/core/validation: ValidateLimitRange.
    fn validate(&self) -> ErrorList {
        let mut errs = ErrorList::new();
        let limits_path = FieldPath::new("spec").child("limits");
        let mut types = BTreeSet::new();
        for (i, item) in self.spec.limits.iter().enumerate() {
            let p = limits_path.index(i);
            if !types.insert(item.r#type) {
                errs.push(FieldError::duplicate(
                    &p.child("type"),
                    format!("{:?}", item.r#type),
                ));
            }
            let mut keys = BTreeSet::new();
            let mut names = |field: &'static str, list: &ResourceList, errs: &mut ErrorList| {
                for name in list.keys() {
                    errs.extend(validate_limit_resource_name(
                        item.r#type,
                        name,
                        &p.child(field).key(name),
                    ));
                    keys.insert(name.clone());
                }
            };
            names("max", &item.max, &mut errs);
            names("min", &item.min, &mut errs);
            let empty = ResourceList::new();
            let (defaults, default_requests) = if item.r#type == LimitType::Pod {
                if !item.default.is_empty() {
                    errs.push(FieldError::forbidden(
                        &p.child("default"),
                        "may not be specified when `type` is 'Pod'",
                    ));
                }
                if !item.default_request.is_empty() {
                    errs.push(FieldError::forbidden(
                        &p.child("defaultRequest"),
                        "may not be specified when `type` is 'Pod'",
                    ));
                }
                (&empty, &empty)
            } else {
                names("default", &item.default, &mut errs);
                names("defaultRequest", &item.default_request, &mut errs);
                (&item.default, &item.default_request)
            };
            if item.r#type == LimitType::PersistentVolumeClaim
                && !item.min.contains_key("storage")
                && !item.max.contains_key("storage")
            {
                // Kubernetes names a `limits` child that does not exist.
                errs.push(FieldError::required(
                    &p.child("limits"),
                    "either minimum or maximum storage value is required, but neither was provided",
                ));
            }
            names(
                "maxLimitRequestRatio",
                &item.max_limit_request_ratio,
                &mut errs,
            );

            for k in &keys {
                let min = item.min.get(k);
                let max = item.max.get(k);
                let default = defaults.get(k);
                let request = default_requests.get(k);
                let ratio = item.max_limit_request_ratio.get(k);
                let invalid = |field: &'static str, value: &Quantity, detail: String| {
                    FieldError::invalid(&p.child(field).key(k), value.to_string(), detail)
                };
                if let (Some(min), Some(max)) = (min, max) {
                    if min > max {
                        errs.push(invalid(
                            "min",
                            min,
                            format!("min value {min} is greater than max value {max}"),
                        ));
                    }
                }
                if let (Some(request), Some(min)) = (request, min) {
                    if min > request {
                        errs.push(invalid(
                            "defaultRequest",
                            request,
                            format!(
                                "min value {min} is greater than default request value {request}"
                            ),
                        ));
                    }
                }
                if let (Some(request), Some(max)) = (request, max) {
                    if request > max {
                        errs.push(invalid(
                            "defaultRequest",
                            request,
                            format!(
                                "default request value {request} is greater than max value {max}"
                            ),
                        ));
                    }
                }
                if let (Some(request), Some(default)) = (request, default) {
                    if request > default {
                        errs.push(invalid(
                            "defaultRequest",
                            request,
                            format!("default request value {request} is greater than default limit value {default}"),
                        ));
                    }
                }
                // Kubernetes shows the min (and below, the max) as the value of these two errors
                // about `default`; kept as is.
                if let (Some(default), Some(min)) = (default, min) {
                    if min > default {
                        errs.push(invalid(
                            "default",
                            min,
                            format!("min value {min} is greater than default value {default}"),
                        ));
                    }
                }
                if let (Some(default), Some(max)) = (default, max) {
                    if default > max {
                        errs.push(invalid(
                            "default",
                            max,
                            format!("default value {default} is greater than max value {max}"),
                        ));
                    }
                }
                if let Some(ratio) = ratio {
                    if *ratio < Quantity::from_value(1, crate::quantity::Format::DecimalSI) {
                        errs.push(invalid(
                            "maxLimitRequestRatio",
                            ratio,
                            format!("ratio {ratio} is less than 1"),
                        ));
                    }
                    if let (Some(min), Some(max)) = (min, max) {
                        // Compared in milli-units when they fit, as Kubernetes does.
                        let fits = [ratio.value(), min.value(), max.value()]
                            .iter()
                            .all(|&v| v < MAX_MILLI_VALUE);
                        let (ratio_value, limit) = if fits {
                            (
                                ratio.milli_value() as f64 / 1000.0,
                                max.milli_value() as f64 / min.milli_value() as f64,
                            )
                        } else {
                            (
                                ratio.value() as f64,
                                max.value() as f64 / min.value() as f64,
                            )
                        };
                        if ratio_value > limit {
                            errs.push(invalid(
                                "maxLimitRequestRatio",
                                ratio,
                                format!("ratio {ratio} is greater than max/min = {limit:.6}"),
                            ));
                        }
                    }
                }
                // Huge pages and extended resources cannot be overcommitted.
                if let (Some(default), Some(request)) = (default, request) {
                    if !is_overcommit_allowed(k) && default != request {
                        errs.push(invalid(
                            "defaultRequest",
                            request,
                            format!("default value {default} must equal to defaultRequest value {request} in {k}"),
                        ));
                    }
                }
            }
        }
        errs
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::config_map::tests::valid_docs_of_kind;

    fn text(errs: &ErrorList) -> Vec<String> {
        errs.iter().map(ToString::to_string).collect()
    }

    fn list(entries: &[(&str, &str)]) -> ResourceList {
        entries
            .iter()
            .map(|(k, v)| (k.to_string(), Quantity::parse(v).expect("quantity")))
            .collect()
    }

    fn range(items: Vec<LimitRangeItem>) -> LimitRange {
        LimitRange {
            metadata: ObjectMeta::named("shop", "limits"),
            spec: LimitRangeSpec { limits: items },
        }
    }

    #[test]
    fn reads_a_limit_range_and_applies_defaults() {
        let yaml = r#"
metadata: {name: cpu-mem, namespace: shop}
spec:
  limits:
    - type: Container
      max: {cpu: "2", memory: 1Gi}
      min: {cpu: 100m, memory: 64Mi}
      default: {cpu: 500m}
    - type: Pod
      max: {cpu: "4"}
    - type: PersistentVolumeClaim
      min: {storage: 1Gi}
      max: {storage: 50Gi}
"#;
        let mut lr: LimitRange = serde_yaml::from_str(yaml).expect("decodes");
        lr.set_defaults();
        let c = lr.item(LimitType::Container).expect("container item");
        // default: cpu given, memory from max. defaultRequest: from default (cpu, memory).
        assert_eq!(
            c.default_for("cpu").map(ToString::to_string).as_deref(),
            Some("500m")
        );
        assert_eq!(
            c.default_for("memory").map(ToString::to_string).as_deref(),
            Some("1Gi")
        );
        assert_eq!(
            c.default_request_for("cpu")
                .map(ToString::to_string)
                .as_deref(),
            Some("500m")
        );
        assert_eq!(
            c.default_request_for("memory")
                .map(ToString::to_string)
                .as_deref(),
            Some("1Gi")
        );
        let pod = lr.item(LimitType::Pod).expect("pod item");
        assert!(pod.default.is_empty(), "pods get no defaults");
        assert!(lr.validate().is_empty(), "{:?}", lr.validate());
        let json = serde_json::to_value(&lr).expect("serializes");
        assert_eq!(json["spec"]["limits"][0]["type"], "Container");
        assert_eq!(json["spec"]["limits"][0]["defaultRequest"]["cpu"], "500m");
    }

    #[test]
    fn default_request_falls_back_to_min() {
        let mut item = LimitRangeItem::new(LimitType::Container);
        item.min = list(&[("cpu", "250m")]);
        let mut lr = range(vec![item]);
        lr.set_defaults();
        let c = &lr.spec.limits[0];
        assert_eq!(
            c.default_request_for("cpu")
                .map(ToString::to_string)
                .as_deref(),
            Some("250m")
        );
        assert_eq!(c.default_for("cpu"), None);
    }

    #[test]
    fn bounds_must_be_ordered() {
        let mut item = LimitRangeItem::new(LimitType::Container);
        item.min = list(&[("cpu", "2"), ("memory", "1Gi")]);
        item.max = list(&[("cpu", "1"), ("memory", "2Gi")]);
        item.default = list(&[("memory", "4Gi")]);
        item.default_request = list(&[("memory", "512Mi")]);
        assert_eq!(
            text(&range(vec![item]).validate()),
            vec![
                "spec.limits[0].min[cpu]: Invalid value: \"2\": min value 2 is greater than max value 1",
                "spec.limits[0].defaultRequest[memory]: Invalid value: \"512Mi\": min value 1Gi is greater than default request value 512Mi",
                "spec.limits[0].default[memory]: Invalid value: \"2Gi\": default value 4Gi is greater than max value 2Gi",
            ]
        );
        let mut item = LimitRangeItem::new(LimitType::Container);
        item.min = list(&[("cpu", "1")]);
        item.max = list(&[("cpu", "2")]);
        item.default = list(&[("cpu", "500m")]);
        item.default_request = list(&[("cpu", "3")]);
        assert_eq!(
            text(&range(vec![item]).validate()),
            vec![
                "spec.limits[0].defaultRequest[cpu]: Invalid value: \"3\": default request value 3 is greater than max value 2",
                "spec.limits[0].defaultRequest[cpu]: Invalid value: \"3\": default request value 3 is greater than default limit value 500m",
                "spec.limits[0].default[cpu]: Invalid value: \"1\": min value 1 is greater than default value 500m",
            ]
        );
    }

    #[test]
    fn ratios() {
        let mut item = LimitRangeItem::new(LimitType::Container);
        item.min = list(&[("cpu", "100m")]);
        item.max = list(&[("cpu", "1")]);
        item.max_limit_request_ratio = list(&[("cpu", "20"), ("memory", "500m")]);
        assert_eq!(
            text(&range(vec![item]).validate()),
            vec![
                "spec.limits[0].maxLimitRequestRatio[cpu]: Invalid value: \"20\": ratio 20 is greater than max/min = 10.000000",
                "spec.limits[0].maxLimitRequestRatio[memory]: Invalid value: \"500m\": ratio 500m is less than 1",
            ]
        );
        let mut item = LimitRangeItem::new(LimitType::Container);
        item.min = list(&[("cpu", "100m")]);
        item.max = list(&[("cpu", "1")]);
        item.max_limit_request_ratio = list(&[("cpu", "10")]);
        assert!(range(vec![item]).validate().is_empty());
    }

    #[test]
    fn pod_and_claim_items() {
        let mut pod = LimitRangeItem::new(LimitType::Pod);
        pod.default = list(&[("cpu", "1")]);
        pod.default_request = list(&[("cpu", "1")]);
        let claim = LimitRangeItem::new(LimitType::PersistentVolumeClaim);
        let duplicate = LimitRangeItem::new(LimitType::Pod);
        assert_eq!(
            text(&range(vec![pod, claim, duplicate]).validate()),
            vec![
                "spec.limits[0].default: Forbidden: may not be specified when `type` is 'Pod'",
                "spec.limits[0].defaultRequest: Forbidden: may not be specified when `type` is 'Pod'",
                "spec.limits[1].limits: Required value: either minimum or maximum storage value is required, but neither was provided",
                "spec.limits[2].type: Duplicate value: \"Pod\"",
            ]
        );
    }

    #[test]
    fn resource_names_depend_on_the_type() {
        let mut container = LimitRangeItem::new(LimitType::Container);
        container.max = list(&[
            ("storage", "1Gi"),
            ("example.com/dongle", "1"),
            ("requests.example.com/x", "1"),
        ]);
        let mut claim = LimitRangeItem::new(LimitType::PersistentVolumeClaim);
        claim.max = list(&[("storage", "10Gi")]);
        assert_eq!(
            text(&range(vec![container, claim]).validate()),
            vec![
                "spec.limits[0].max[requests.example.com/x]: Invalid value: \"requests.example.com/x\": doesn't follow extended resource name standard",
                "spec.limits[0].max[storage]: Invalid value: \"storage\": must be a standard resource for containers",
            ]
        );
    }

    #[test]
    fn extended_resources_cannot_be_overcommitted() {
        let mut item = LimitRangeItem::new(LimitType::Container);
        item.default = list(&[("nvidia.com/gpu", "2")]);
        item.default_request = list(&[("nvidia.com/gpu", "1")]);
        assert_eq!(
            text(&range(vec![item]).validate()),
            vec!["spec.limits[0].defaultRequest[nvidia.com/gpu]: Invalid value: \"1\": default value 2 must equal to defaultRequest value 1 in nvidia.com/gpu"]
        );
    }

    #[test]
    fn example_manifest_is_valid() {
        let ranges: Vec<LimitRange> =
            valid_docs_of_kind(include_str!("../../../examples/manifests/quota.yaml"));
        let lr = ranges.first().expect("a LimitRange");
        assert_eq!(lr.metadata.namespace, "shop");
        assert!(lr
            .item(LimitType::Container)
            .and_then(|c| c.default_request_for("cpu"))
            .is_some());
    }
}
