//! Admission: what the API server does to a write before it is stored.
//!
//! In Kubernetes' order: defaulting; mutating admission (NamespaceLifecycle, LimitRanger's
//! defaults, Priority); validation (the kind's rules and, on update, its immutable fields);
//! validating admission (LimitRanger's bounds, the PriorityClass global-default rule,
//! ResourceQuota). Every check runs before anything is written; a rejected request changes
//! nothing.
//!
//! Quota usage is kept in each ResourceQuota's `status.used` and changes in the same store
//! operation as the object it accounts for: charged (and checked against `spec.hard`) on create,
//! adjusted on every update, status update and removal. Kubernetes splits that work between the
//! ResourceQuota admission plugin, which charges creates (and the updates its evaluators handle:
//! Services and PersistentVolumeClaims), and the quota controller, which recomputes usage
//! afterwards; here the recomputation is immediate, so `status.used` always equals the usage of
//! the objects present. A pod's usage does not expire with its deletion grace period, since the
//! store keeps no clock between calls.

use super::{qualified_resource, Store, StoreError};
use crate::api::{
    pod_limits, pod_requests, LimitRange, LimitType, NamespacePhase, PersistentVolumeClaim, Pod,
    PodAffinityTerm, PodQosClass, PreemptionPolicy, PriorityClass, ResourceQuota,
    ResourceQuotaScope, ScopeSelectorOperator, ServiceType, TaintEffect, Toleration,
    TolerationOperator,
};
use crate::meta::validate_object_meta;
use crate::object::{Kind, Object};
use crate::quantity::{Quantity, ResourceList};
use crate::shared::Shared;
use crate::time::Time;
use crate::validation::{ErrorList, FieldError, FieldPath};

/// The annotation LimitRanger leaves on a pod whose containers it gave defaults.
pub const LIMIT_RANGER_ANNOTATION: &str = "kubernetes.io/limit-ranger";

/// Runs the admission chain for a create; returns the ResourceQuota objects whose usage the
/// create changes (written by the store together with the object).
pub(crate) fn admit_create(store: &Store, object: &mut Object) -> Result<Vec<Object>, StoreError> {
    object.set_defaults();
    check_namespace(store, object)?;
    let name = object.metadata().name.clone();
    let kind = object.kind();
    match object {
        Object::Pod(pod) => {
            apply_limit_range_defaults(store, pod);
            add_default_toleration_seconds(pod);
            // The pod strategy computes the QoS class after mutating admission.
            pod.status.qos_class = Some(pod.qos_class());
            admit_priority(store, pod).map_err(|m| forbidden(kind, &name, &m))?;
        }
        Object::ResourceQuota(quota) => {
            quota.status.hard = quota.spec.hard.clone();
            quota.status.used = usage_for_quota(store, quota);
        }
        _ => {}
    }
    let errors = object.validate();
    if !errors.is_empty() {
        return Err(StoreError::Invalid { kind, name, errors });
    }
    match &*object {
        Object::Pod(pod) => {
            let problems = limit_range_violations_pod(store, pod);
            if !problems.is_empty() {
                return Err(forbidden(kind, &name, &aggregate(&problems)));
            }
        }
        Object::PersistentVolumeClaim(pvc) => {
            let problems = limit_range_violations_pvc(store, pvc);
            if !problems.is_empty() {
                return Err(forbidden(kind, &name, &aggregate(&problems)));
            }
        }
        Object::PriorityClass(pc) => check_global_default(store, pc)?,
        _ => {}
    }
    quota_for_create(store, object).map_err(|m| forbidden(kind, &name, &m))
}

/// Runs the admission chain for an update of `old` to `object` (quota is charged separately,
/// by [`quota_for_update`], once the store knows the update is not a deletion).
pub(crate) fn admit_update(
    store: &Store,
    object: &mut Object,
    old: &Object,
    now: Time,
) -> Result<(), StoreError> {
    let _ = now;
    // The namespace strategy adds the `kubernetes` finalizer on create only ("we cannot use
    // this in defaults conversion because we let it get removed over life of object",
    // registry/core/namespace/strategy.go), so an update keeps the list it carries.
    let namespace_finalizers = match &*object {
        Object::Namespace(ns) => Some(ns.spec.finalizers.clone()),
        _ => None,
    };
    // A pod update that keeps the stored spec, the very shared value (as a client that changes
    // labels, annotations, finalizers or the status sends it), needs neither the spec's
    // defaults nor its validation again: both read the spec alone (`SetDefaults_PodSpec`,
    // `ValidatePodSpec` and the pod-only rules of `Validate for Pod`), and the stored spec has
    // passed them. The metadata and the update itself are still validated.
    let kept_pod_spec = matches!(
        (&*object, old),
        (Object::Pod(new), Object::Pod(old)) if Shared::ptr_eq(&new.spec, &old.spec)
    );
    match &mut *object {
        Object::Pod(pod) if kept_pod_spec => pod.set_status_defaults(),
        object => object.set_defaults(),
    }
    let kind = object.kind();
    let name = object.metadata().name.clone();
    match (&mut *object, old) {
        (Object::Namespace(ns), _) => {
            if let Some(finalizers) = namespace_finalizers {
                ns.spec.finalizers = finalizers;
            }
        }
        // The Priority plugin keeps the priority it resolved at creation when an update leaves
        // it out; a different value is then refused by validation (the pod spec is immutable).
        (Object::Pod(pod), Object::Pod(old_pod)) => {
            if pod.spec.priority.is_none() {
                pod.spec.priority = old_pod.spec.priority;
            }
            if pod.spec.preemption_policy.is_none() {
                pod.spec.preemption_policy = old_pod.spec.preemption_policy;
            }
            add_default_toleration_seconds(pod);
        }
        (Object::ResourceQuota(quota), _) => {
            quota.status.hard = quota.spec.hard.clone();
            quota.status.used = usage_for_quota(store, quota);
        }
        _ => {}
    }
    let mut errors = if kept_pod_spec {
        validate_object_meta(object.metadata(), kind.namespaced(), kind.name_rule())
    } else {
        object.validate()
    };
    errors.extend(object.validate_update(old));
    errors.extend(validate_no_new_finalizers(object, old));
    if !errors.is_empty() {
        return Err(StoreError::Invalid { kind, name, errors });
    }
    match (&*object, old) {
        (Object::PriorityClass(pc), _) => check_global_default(store, pc)?,
        (Object::PersistentVolumeClaim(pvc), _) => {
            let problems = limit_range_violations_pvc(store, pvc);
            if !problems.is_empty() {
                return Err(forbidden(kind, &name, &aggregate(&problems)));
            }
        }
        _ => {}
    }
    Ok(())
}

/// The taint key of a node whose `Ready` condition is `False`.
const TAINT_NODE_NOT_READY: &str = "node.kubernetes.io/not-ready";
/// The taint key of a node whose `Ready` condition is `Unknown` (its kubelet went silent).
const TAINT_NODE_UNREACHABLE: &str = "node.kubernetes.io/unreachable";
/// How long a pod stays on a not-ready or unreachable node by default
/// (`--default-not-ready-toleration-seconds`, `--default-unreachable-toleration-seconds`).
pub const DEFAULT_TOLERATION_SECONDS: i64 = 300;

/// The DefaultTolerationSeconds admission plugin (plugin/pkg/admission/defaulttolerationseconds,
/// `Admit`, on create and update of pods): a pod that does not already tolerate the
/// `node.kubernetes.io/not-ready:NoExecute` or `node.kubernetes.io/unreachable:NoExecute` taint
/// gets a toleration of it (`Exists`) for [`DEFAULT_TOLERATION_SECONDS`], so that the taint
/// eviction controller removes it five minutes after its node fails rather than at once. A
/// toleration with an empty key, or without an effect, counts as tolerating, as in Kubernetes.
fn add_default_toleration_seconds(pod: &mut Pod) {
    let covers = |key: &str| {
        pod.spec.tolerations.iter().any(|t| {
            (t.key == key || t.key.is_empty())
                && t.effect.is_none_or(|e| e == TaintEffect::NoExecute)
        })
    };
    let missing: Vec<&str> = [TAINT_NODE_NOT_READY, TAINT_NODE_UNREACHABLE]
        .into_iter()
        .filter(|key| !covers(key))
        .collect();
    for key in missing {
        pod.spec.tolerations.push(Toleration {
            key: key.to_string(),
            operator: Some(TolerationOperator::Exists),
            value: String::new(),
            effect: Some(TaintEffect::NoExecute),
            toleration_seconds: Some(DEFAULT_TOLERATION_SECONDS),
        });
    }
}

/// apimachinery `ValidateNoNewFinalizers`: once deletion has started, finalizers may only be
/// removed.
fn validate_no_new_finalizers(object: &Object, old: &Object) -> ErrorList {
    if old.metadata().deletion_timestamp.is_none() {
        return ErrorList::new();
    }
    let old_finalizers = &old.metadata().finalizers;
    let mut extra: Vec<&String> = object
        .metadata()
        .finalizers
        .iter()
        .filter(|f| !old_finalizers.contains(f))
        .collect();
    if extra.is_empty() {
        return ErrorList::new();
    }
    extra.sort();
    extra.dedup();
    // Go's `%#v` of a []string.
    let listed = extra
        .iter()
        .map(|f| format!("{f:?}"))
        .collect::<Vec<_>>()
        .join(", ");
    vec![FieldError::forbidden(
        &FieldPath::new("metadata").child("finalizers"),
        format!(
            "no new finalizers can be added if the object is being deleted, found new finalizers []string{{{listed}}}"
        ),
    )]
}

/// The API server's `Forbidden` error for an admission refusal: `pods "web" is forbidden: …`.
pub(crate) fn forbidden(kind: Kind, name: &str, message: &str) -> StoreError {
    StoreError::Forbidden(format!(
        "{} {name:?} is forbidden: {message}",
        qualified_resource(kind)
    ))
}

/// Joins several messages as apimachinery's aggregate error does (`[a, b]`; one alone is bare).
fn aggregate(problems: &[String]) -> String {
    match problems {
        [one] => one.clone(),
        many => format!("[{}]", many.join(", ")),
    }
}

// ---------------------------------------------------------------------------------------------
// NamespaceLifecycle (plugin/pkg/admission/namespace/lifecycle)
// ---------------------------------------------------------------------------------------------

fn check_namespace(store: &Store, object: &Object) -> Result<(), StoreError> {
    if !object.kind().namespaced() {
        return Ok(());
    }
    let ns_name = &object.metadata().namespace;
    match store.get(Kind::Namespace, "", ns_name).as_deref() {
        None => Err(StoreError::NotFound {
            kind: Kind::Namespace,
            namespace: String::new(),
            name: ns_name.clone(),
        }),
        Some(Object::Namespace(ns))
            if ns.metadata.deletion_timestamp.is_some()
                || ns.status.phase == Some(NamespacePhase::Terminating) =>
        {
            Err(forbidden(
                object.kind(),
                &object.metadata().name,
                &format!(
                    "unable to create new content in namespace {ns_name} because it is being terminated"
                ),
            ))
        }
        Some(_) => Ok(()),
    }
}

// ---------------------------------------------------------------------------------------------
// LimitRanger (plugin/pkg/admission/limitranger)
// ---------------------------------------------------------------------------------------------

fn limit_ranges<'a>(
    store: &'a Store,
    namespace: &'a str,
) -> impl Iterator<Item = &'a LimitRange> + 'a {
    store
        .iter_namespace(Kind::LimitRange, namespace)
        .filter_map(|o| match o.as_ref() {
            Object::LimitRange(lr) => Some(lr),
            _ => None,
        })
}

/// Gives containers without limits or requests the `default` and `defaultRequest` of the
/// namespace's `Container` items, LimitRange by LimitRange (the first to set a value wins), and
/// records what it set in the [`LIMIT_RANGER_ANNOTATION`] (`mergePodResourceRequirements`).
fn apply_limit_range_defaults(store: &Store, pod: &mut Pod) {
    for lr in limit_ranges(store, &pod.metadata.namespace) {
        let mut default_limits = ResourceList::new();
        let mut default_requests = ResourceList::new();
        for item in lr
            .spec
            .limits
            .iter()
            .filter(|i| i.r#type == LimitType::Container)
        {
            default_limits.extend(item.default.iter().map(|(k, v)| (k.clone(), *v)));
            default_requests.extend(item.default_request.iter().map(|(k, v)| (k.clone(), *v)));
        }
        let mut notes = Vec::new();
        let spec: &mut crate::api::PodSpec = &mut pod.spec;
        let containers = spec.containers.iter_mut().map(|c| ("container", c)).chain(
            spec.init_containers
                .iter_mut()
                .map(|c| ("init container", c)),
        );
        for (what, c) in containers {
            let mut set_requests = Vec::new();
            let mut set_limits = Vec::new();
            for (res, q) in &default_limits {
                if !c.resources.limits.contains_key(res) {
                    c.resources.limits.insert(res.clone(), *q);
                    set_limits.push(res.as_str());
                }
            }
            for (res, q) in &default_requests {
                if !c.resources.requests.contains_key(res) {
                    c.resources.requests.insert(res.clone(), *q);
                    set_requests.push(res.as_str());
                }
            }
            if !set_requests.is_empty() {
                notes.push(format!(
                    "{} request for {what} {}",
                    set_requests.join(", "),
                    c.name
                ));
            }
            if !set_limits.is_empty() {
                notes.push(format!(
                    "{} limit for {what} {}",
                    set_limits.join(", "),
                    c.name
                ));
            }
        }
        if !notes.is_empty() {
            pod.metadata.annotations.insert(
                LIMIT_RANGER_ANNOTATION.to_string(),
                format!("LimitRanger plugin set: {}", notes.join("; ")),
            );
        }
    }
}

/// `minConstraint`: a request is required and must reach the minimum; so must a limit.
fn min_constraint(
    scope: &str,
    res: &str,
    min: &Quantity,
    requests: &ResourceList,
    limits: &ResourceList,
) -> Option<String> {
    let Some(request) = requests.get(res) else {
        return Some(format!(
            "minimum {res} usage per {scope} is {min}.  No request is specified"
        ));
    };
    if request < min {
        return Some(format!(
            "minimum {res} usage per {scope} is {min}, but request is {request}"
        ));
    }
    match limits.get(res) {
        Some(limit) if limit < min => Some(format!(
            "minimum {res} usage per {scope} is {min}, but limit is {limit}"
        )),
        _ => None,
    }
}

/// `maxConstraint`: a limit is required and may not pass the maximum; neither may a request.
fn max_constraint(
    scope: &str,
    res: &str,
    max: &Quantity,
    requests: &ResourceList,
    limits: &ResourceList,
) -> Option<String> {
    let Some(limit) = limits.get(res) else {
        return Some(format!(
            "maximum {res} usage per {scope} is {max}.  No limit is specified"
        ));
    };
    if limit > max {
        return Some(format!(
            "maximum {res} usage per {scope} is {max}, but limit is {limit}"
        ));
    }
    match requests.get(res) {
        Some(request) if request > max => Some(format!(
            "maximum {res} usage per {scope} is {max}, but request is {request}"
        )),
        _ => None,
    }
}

/// `maxRequestConstraint` (claims, which have no limits): a request is required and may not
/// pass the maximum.
fn max_request_constraint(
    scope: &str,
    res: &str,
    max: &Quantity,
    requests: &ResourceList,
) -> Option<String> {
    match requests.get(res) {
        None => Some(format!(
            "maximum {res} usage per {scope} is {max}.  No request is specified"
        )),
        Some(request) if request > max => Some(format!(
            "maximum {res} usage per {scope} is {max}, but request is {request}"
        )),
        Some(_) => None,
    }
}

/// `limitRequestRatioConstraint`: both a request and a limit are required, and the limit may be
/// at most `ratio` times the request. The observed ratio is printed as Go's `%f` does.
fn ratio_constraint(
    scope: &str,
    res: &str,
    ratio: &Quantity,
    requests: &ResourceList,
    limits: &ResourceList,
) -> Option<String> {
    let request = requests.get(res).map_or(0, Quantity::milli_value);
    if request == 0 {
        return Some(format!("{res} max limit to request ratio per {scope} is {ratio}, but no request is specified or request is 0"));
    }
    let limit = limits.get(res).map_or(0, Quantity::milli_value);
    if limit == 0 {
        return Some(format!("{res} max limit to request ratio per {scope} is {ratio}, but no limit is specified or limit is 0"));
    }
    let observed = limit as f64 / request as f64;
    if observed * 1000.0 > ratio.milli_value() as f64 {
        return Some(format!("{res} max limit to request ratio per {scope} is {ratio}, but provided ratio is {observed:.6}"));
    }
    None
}

/// Every min, max and ratio of `item` checked against one set of requests and limits.
fn check_item(
    problems: &mut Vec<String>,
    scope: &str,
    item: &crate::api::LimitRangeItem,
    requests: &ResourceList,
    limits: &ResourceList,
) {
    for (res, min) in &item.min {
        problems.extend(min_constraint(scope, res, min, requests, limits));
    }
    for (res, max) in &item.max {
        problems.extend(max_constraint(scope, res, max, requests, limits));
    }
    for (res, ratio) in &item.max_limit_request_ratio {
        problems.extend(ratio_constraint(scope, res, ratio, requests, limits));
    }
}

/// `PodValidateLimitFunc`: `Container` items against every container and init container,
/// `Pod` items against the pod's aggregate requests and limits.
fn limit_range_violations_pod(store: &Store, pod: &Pod) -> Vec<String> {
    let mut problems = Vec::new();
    for lr in limit_ranges(store, &pod.metadata.namespace) {
        for item in &lr.spec.limits {
            match item.r#type {
                LimitType::Container => {
                    for c in pod.spec.containers.iter().chain(&pod.spec.init_containers) {
                        let r = &c.resources;
                        check_item(&mut problems, "Container", item, &r.requests, &r.limits);
                    }
                }
                LimitType::Pod => {
                    let requests = pod_requests(&pod.spec);
                    let limits = pod_limits(&pod.spec);
                    check_item(&mut problems, "Pod", item, &requests, &limits);
                }
                LimitType::PersistentVolumeClaim => {}
            }
        }
    }
    problems
}

/// `PersistentVolumeClaimValidateLimitFunc`: min and max of `PersistentVolumeClaim` items
/// against the claim's requests (a claim's limits are not user input).
fn limit_range_violations_pvc(store: &Store, pvc: &PersistentVolumeClaim) -> Vec<String> {
    let mut problems = Vec::new();
    let requests = &pvc.spec.resources.requests;
    for lr in limit_ranges(store, &pvc.metadata.namespace) {
        for item in lr
            .spec
            .limits
            .iter()
            .filter(|i| i.r#type == LimitType::PersistentVolumeClaim)
        {
            let scope = "PersistentVolumeClaim";
            for (res, min) in &item.min {
                problems.extend(min_constraint(
                    scope,
                    res,
                    min,
                    requests,
                    &ResourceList::new(),
                ));
            }
            for (res, max) in &item.max {
                problems.extend(max_request_constraint(scope, res, max, requests));
            }
        }
    }
    problems
}

// ---------------------------------------------------------------------------------------------
// Priority (plugin/pkg/admission/priority)
// ---------------------------------------------------------------------------------------------

fn global_default_class(store: &Store) -> Option<&PriorityClass> {
    store
        .iter_kind(Kind::PriorityClass)
        .filter_map(|o| match o.as_ref() {
            Object::PriorityClass(pc) if pc.global_default => Some(pc),
            _ => None,
        })
        // Kubernetes takes the lowest value when several are marked (possible only by racing).
        .min_by_key(|pc| pc.value)
}

/// Only one PriorityClass may be the global default (`validatePriorityClass`).
fn check_global_default(store: &Store, pc: &PriorityClass) -> Result<(), StoreError> {
    if !pc.global_default {
        return Ok(());
    }
    match global_default_class(store).filter(|c| c.metadata.name != pc.metadata.name) {
        Some(existing) => Err(forbidden(
            Kind::PriorityClass,
            &pc.metadata.name,
            &format!(
                "PriorityClass {} is already marked as default. Only one default can exist",
                existing.metadata.name
            ),
        )),
        None => Ok(()),
    }
}

/// Resolves `priorityClassName` (or the global default class) into `priority` and
/// `preemptionPolicy` (`admitPod` on create). Without any class the priority is 0 and the
/// policy `PreemptLowerPriority`. A pod that states a different priority or policy is refused.
fn admit_priority(store: &Store, pod: &mut Pod) -> Result<(), String> {
    let named = Some(pod.spec.priority_class_name.as_str()).filter(|n| !n.is_empty());
    let (class_name, value, policy) = match named {
        Some(name) => match store.get(Kind::PriorityClass, "", name).as_deref() {
            Some(Object::PriorityClass(pc)) => {
                (Some(name.to_string()), pc.value, pc.preemption_policy)
            }
            _ => return Err(format!("no PriorityClass with name {name} was found")),
        },
        None => match global_default_class(store) {
            Some(pc) => (
                Some(pc.metadata.name.clone()),
                pc.value,
                pc.preemption_policy,
            ),
            None => (None, 0, None),
        },
    };
    let policy = policy.unwrap_or(PreemptionPolicy::PreemptLowerPriority);
    if let Some(given) = pod.spec.priority {
        if given != value {
            return Err(format!(
                "the integer value of priority ({given}) must not be provided in pod spec; priority admission controller computed {value} from the given PriorityClass name"
            ));
        }
    }
    if let Some(given) = pod.spec.preemption_policy {
        if given != policy {
            return Err(format!(
                "the string value of PreemptionPolicy ({given:?}) must not be provided in pod spec; priority admission controller computed {policy:?} from the given PriorityClass name"
            ));
        }
    }
    if let Some(class_name) = class_name {
        pod.spec.priority_class_name = class_name;
    }
    pod.spec.priority = Some(value);
    pod.spec.preemption_policy = Some(policy);
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// ResourceQuota (plugin/pkg/admission/resourcequota and pkg/quota/v1/evaluator/core)
// ---------------------------------------------------------------------------------------------

/// The compute resources whose quota obliges every container to state them
/// (`validationSet` of the pod evaluator), and whether each is read from the limits.
const COMPUTE: [(&str, &str, bool); 6] = [
    ("cpu", "cpu", false),
    ("limits.cpu", "cpu", true),
    ("limits.memory", "memory", true),
    ("memory", "memory", false),
    ("requests.cpu", "cpu", false),
    ("requests.memory", "memory", false),
];

/// The quotas of `namespace`, in name order.
fn quotas<'a>(store: &'a Store, namespace: &str) -> impl Iterator<Item = &'a ResourceQuota> + 'a {
    let namespace = namespace.to_string();
    store
        .iter_kind(Kind::ResourceQuota)
        .filter_map(|o| match o.as_ref() {
            Object::ResourceQuota(q) => Some(q),
            _ => None,
        })
        .filter(move |q| q.metadata.namespace == namespace)
}

fn is_terminal(pod: &Pod) -> bool {
    pod.phase().is_terminal()
}

/// The pod evaluator's `IsTerminating`: an `activeDeadlineSeconds` bounds the pod's life.
fn is_terminating(pod: &Pod) -> bool {
    pod.spec.active_deadline_seconds.is_some_and(|d| d >= 0)
}

/// What one object counts against quotas: `count/<resource>` for every kind, and the resources
/// Kubernetes' evaluators charge for pods (not once they are `Succeeded` or `Failed`), services,
/// claims, config maps, secrets and quotas.
pub fn usage_of(object: &Object) -> ResourceList {
    let mut usage = ResourceList::new();
    let kind = object.kind();
    let one = Quantity::from_value(1, Default::default());
    let count_key = if kind.group().is_empty() {
        format!("count/{}", kind.plural())
    } else {
        format!("count/{}.{}", kind.plural(), kind.group())
    };
    usage.insert(count_key, one);
    match object {
        Object::Pod(pod) if !is_terminal(pod) => {
            // PodUsageFunc and podComputeUsageHelper.
            usage.insert("pods".into(), one);
            for (res, q) in pod_requests(&pod.spec) {
                if matches!(res.as_str(), "cpu" | "memory" | "ephemeral-storage")
                    || res.starts_with("hugepages-")
                {
                    usage.insert(res.clone(), q);
                }
                usage.insert(format!("requests.{res}"), q);
            }
            for (res, q) in pod_limits(&pod.spec) {
                if matches!(res.as_str(), "cpu" | "memory" | "ephemeral-storage") {
                    usage.insert(format!("limits.{res}"), q);
                }
            }
        }
        Object::Pod(_) => {}
        Object::Service(svc) => {
            usage.insert("services".into(), one);
            let ports = match svc.spec.r#type {
                ServiceType::NodePort => svc.spec.ports.len(),
                // Without node port allocation only the ports that name one count.
                ServiceType::LoadBalancer
                    if svc.spec.allocate_load_balancer_node_ports == Some(false) =>
                {
                    svc.spec
                        .ports
                        .iter()
                        .filter(|p| p.node_port.is_some_and(|n| n != 0))
                        .count()
                }
                ServiceType::LoadBalancer => svc.spec.ports.len(),
                ServiceType::ClusterIP | ServiceType::ExternalName => 0,
            };
            if ports > 0 {
                usage.insert(
                    "services.nodeports".into(),
                    Quantity::from_value(ports as i64, Default::default()),
                );
            }
            if svc.spec.r#type == ServiceType::LoadBalancer {
                usage.insert("services.loadbalancers".into(), one);
            }
        }
        Object::PersistentVolumeClaim(pvc) => {
            usage.insert("persistentvolumeclaims".into(), one);
            let storage = pvc.spec.resources.requests.get("storage").copied();
            if let Some(s) = &storage {
                usage.insert("requests.storage".into(), *s);
            }
            // GetPersistentVolumeClaimClass: the beta annotation wins over the field.
            let class = pvc
                .metadata
                .annotations
                .get(crate::api::BETA_STORAGE_CLASS_ANNOTATION)
                .map(String::as_str)
                .or(pvc.spec.storage_class_name.as_deref())
                .filter(|c| !c.is_empty());
            if let Some(class) = class {
                usage.insert(
                    format!("{class}.storageclass.storage.k8s.io/persistentvolumeclaims"),
                    one,
                );
                if let Some(s) = storage {
                    usage.insert(
                        format!("{class}.storageclass.storage.k8s.io/requests.storage"),
                        s,
                    );
                }
            }
        }
        Object::ConfigMap(_) => {
            usage.insert("configmaps".into(), one);
        }
        Object::Secret(_) => {
            usage.insert("secrets".into(), one);
        }
        Object::ResourceQuota(_) => {
            usage.insert("resourcequotas".into(), one);
        }
        _ => {}
    }
    usage
}

/// Whether a pod term reaches beyond the pod's namespace.
fn cross_namespace(term: &PodAffinityTerm) -> bool {
    !term.namespaces.is_empty() || term.namespace_selector.is_some()
}

/// `usesCrossNamespacePodAffinity`.
fn uses_cross_namespace_pod_affinity(pod: &Pod) -> bool {
    let Some(affinity) = &pod.spec.affinity else {
        return false;
    };
    let affinity_terms = affinity.pod_affinity.iter().flat_map(|a| {
        a.required_during_scheduling_ignored_during_execution
            .iter()
            .chain(
                a.preferred_during_scheduling_ignored_during_execution
                    .iter()
                    .map(|w| &w.pod_affinity_term),
            )
    });
    let anti_terms = affinity.pod_anti_affinity.iter().flat_map(|a| {
        a.required_during_scheduling_ignored_during_execution
            .iter()
            .chain(
                a.preferred_during_scheduling_ignored_during_execution
                    .iter()
                    .map(|w| &w.pod_affinity_term),
            )
    });
    affinity_terms.chain(anti_terms).any(cross_namespace)
}

/// Whether a quota's scopes select the object (the pod evaluator's `MatchingScopes`; only pods
/// are scoped, and a scoped quota selects nothing else). `spec.scopes` count as `Exists`
/// requirements beside the `scopeSelector`'s (`getScopeSelectorsFromQuota`). Admission and the
/// resource quota controller both count usage with it.
pub fn quota_selects(quota: &ResourceQuota, object: &Object) -> bool {
    let scoped = !quota.spec.scopes.is_empty()
        || quota
            .spec
            .scope_selector
            .as_ref()
            .is_some_and(|s| !s.match_expressions.is_empty());
    let Object::Pod(pod) = object else {
        return !scoped;
    };
    let best_effort = pod.qos_class() == PodQosClass::BestEffort;
    let scope_matches = |scope: &ResourceQuotaScope| match scope {
        ResourceQuotaScope::Terminating => is_terminating(pod),
        ResourceQuotaScope::NotTerminating => !is_terminating(pod),
        ResourceQuotaScope::BestEffort => best_effort,
        ResourceQuotaScope::NotBestEffort => !best_effort,
        ResourceQuotaScope::PriorityClass => !pod.spec.priority_class_name.is_empty(),
        ResourceQuotaScope::CrossNamespacePodAffinity => uses_cross_namespace_pod_affinity(pod),
        ResourceQuotaScope::VolumeAttributesClass => false,
    };
    if !quota.spec.scopes.iter().all(scope_matches) {
        return false;
    }
    let Some(selector) = &quota.spec.scope_selector else {
        return true;
    };
    selector.match_expressions.iter().all(|req| {
        let value = match req.scope_name {
            ResourceQuotaScope::PriorityClass => {
                Some(pod.spec.priority_class_name.clone()).filter(|n| !n.is_empty())
            }
            ref other => return scope_matches(other),
        };
        match req.operator {
            ScopeSelectorOperator::In => value.is_some_and(|v| req.values.contains(&v)),
            ScopeSelectorOperator::NotIn => value.is_none_or(|v| !req.values.contains(&v)),
            ScopeSelectorOperator::Exists => value.is_some(),
            ScopeSelectorOperator::DoesNotExist => value.is_none(),
        }
    })
}

/// The part of `usage` that `quota` tracks (the resources of its `spec.hard`).
fn tracked(quota: &ResourceQuota, usage: &ResourceList) -> ResourceList {
    usage
        .iter()
        .filter(|(k, _)| quota.spec.hard.contains_key(*k))
        .map(|(k, v)| (k.clone(), *v))
        .collect()
}

/// `a + b` (`sign >= 0`) or `a - b` (`sign < 0`), resource by resource, never below zero.
fn add_lists(a: &ResourceList, b: &ResourceList, sign: i64) -> ResourceList {
    let mut out = a.clone();
    for (k, v) in b {
        let current = out.get(k).copied().unwrap_or_default();
        let next = if sign >= 0 {
            current.saturating_add(*v)
        } else {
            current.saturating_sub(*v)
        };
        out.insert(k.clone(), next.max(Quantity::default()));
    }
    out
}

/// Containers that do not state a resource a quota obliges them to, as the pod evaluator's
/// `Constraints` lists them: by resource, then container name, both sorted.
fn missing_compute(quota: &ResourceQuota, pod: &Pod) -> Vec<String> {
    let mut missing = Vec::new();
    for (key, res, is_limit) in COMPUTE {
        if !quota.spec.hard.contains_key(key) {
            continue;
        }
        let mut lacking: Vec<&str> = pod
            .spec
            .containers
            .iter()
            .chain(&pod.spec.init_containers)
            .filter(|c| {
                let list = if is_limit {
                    &c.resources.limits
                } else {
                    &c.resources.requests
                };
                !list.contains_key(res)
            })
            .map(|c| c.name.as_str())
            .collect();
        lacking.sort_unstable();
        lacking.dedup();
        if !lacking.is_empty() {
            missing.push(format!("{key} for: {}", lacking.join(",")));
        }
    }
    missing
}

/// How one write changes one quota's usage: what the quota counted for the object before and
/// what it counts after (empty for an object absent, or not selected by the quota's scopes).
struct QuotaChange<'a> {
    quota: &'a ResourceQuota,
    before: ResourceList,
    after: ResourceList,
}

impl QuotaChange<'_> {
    fn new_used(&self) -> ResourceList {
        add_lists(
            &add_lists(&self.quota.status.used, &self.before, -1),
            &self.after,
            1,
        )
    }
}

/// The quotas of the namespace of a change from `old` to `new` (`None` for absent), with
/// their usage before and after. A quota does not count itself here (its own `status.used` is
/// computed by [`usage_for_quota`]).
fn quota_changes<'a>(
    store: &'a Store,
    old: Option<&Object>,
    new: Option<&Object>,
) -> Vec<QuotaChange<'a>> {
    let Some(subject) = new.or(old) else {
        return Vec::new();
    };
    if !subject.kind().namespaced() {
        return Vec::new();
    }
    let namespace = subject.metadata().namespace.clone();
    let is_self = |q: &ResourceQuota| {
        subject.kind() == Kind::ResourceQuota && q.metadata.name == subject.metadata().name
    };
    let counted = |quota: &ResourceQuota, object: Option<&Object>| match object {
        Some(o) if quota_selects(quota, o) => tracked(quota, &usage_of(o)),
        _ => ResourceList::new(),
    };
    let mut changes = Vec::new();
    for quota in quotas(store, &namespace).filter(|q| !is_self(q)) {
        changes.push(QuotaChange {
            quota,
            before: counted(quota, old),
            after: counted(quota, new),
        });
    }
    changes
}

/// The `exceeded quota` check of the quota admission plugin: every resource whose usage grows
/// must stay within `hard`. The message lists, for the resources over, what the request adds,
/// what was used and the limit (`checkRequest`).
fn check_exceeded(changes: &[QuotaChange<'_>]) -> Result<(), String> {
    for change in changes {
        let quota = change.quota;
        let new_used = change.new_used();
        let requested: ResourceList = change
            .after
            .iter()
            .filter_map(|(k, after)| {
                let before = change.before.get(k).copied().unwrap_or_default();
                (*after > before).then(|| (k.clone(), after.saturating_sub(before)))
            })
            .collect();
        let exceeded: Vec<&String> = requested
            .keys()
            .filter(|k| {
                let hard = quota.spec.hard.get(*k).copied().unwrap_or_default();
                new_used.get(*k).copied().unwrap_or_default() > hard
            })
            .collect();
        if exceeded.is_empty() {
            continue;
        }
        let list = |l: &ResourceList| {
            exceeded
                .iter()
                .map(|k| format!("{k}={}", l.get(*k).copied().unwrap_or_default()))
                .collect::<Vec<_>>()
                .join(",")
        };
        return Err(format!(
            "exceeded quota: {}, requested: {}, used: {}, limited: {}",
            quota.metadata.name,
            list(&requested),
            list(&quota.status.used),
            list(&quota.spec.hard)
        ));
    }
    Ok(())
}

/// The quotas whose `status.used` the changes alter, updated.
fn quota_writes(changes: &[QuotaChange<'_>]) -> Vec<Object> {
    changes
        .iter()
        .filter_map(|change| {
            let used = change.new_used();
            if used == change.quota.status.used {
                return None;
            }
            let mut updated = change.quota.clone();
            updated.status.hard = updated.spec.hard.clone();
            updated.status.used = used;
            Some(updated.into())
        })
        .collect()
}

/// Quota admission of a create: first every matching quota's `must specify` constraint (a
/// quota of CPU or memory needs each container to state it), then the usage check. Returns the
/// quotas with their new usage.
fn quota_for_create(store: &Store, object: &Object) -> Result<Vec<Object>, String> {
    let changes = quota_changes(store, None, Some(object));
    if let Object::Pod(pod) = object {
        for change in &changes {
            if !quota_selects(change.quota, object) {
                continue;
            }
            let missing = missing_compute(change.quota, pod);
            if !missing.is_empty() {
                return Err(format!(
                    "failed quota: {}: must specify {}",
                    change.quota.metadata.name,
                    missing.join("; ")
                ));
            }
        }
    }
    check_exceeded(&changes)?;
    Ok(quota_writes(&changes))
}

/// Quota of an update: usage follows the object; growth is checked for the kinds whose quota
/// evaluator handles updates (Services, whose type may change, and PersistentVolumeClaims,
/// which may grow).
pub(crate) fn quota_for_update(
    store: &Store,
    old: &Object,
    new: &Object,
) -> Result<Vec<Object>, String> {
    let changes = quota_changes(store, Some(old), Some(new));
    if matches!(new, Object::Service(_) | Object::PersistentVolumeClaim(_)) {
        check_exceeded(&changes)?;
    }
    Ok(quota_writes(&changes))
}

/// Quota of a status update: usage follows the object (a pod that finished stops counting);
/// nothing is checked.
pub(crate) fn quota_for_status(store: &Store, old: &Object, new: &Object) -> Vec<Object> {
    quota_writes(&quota_changes(store, Some(old), Some(new)))
}

/// Quotas whose usage drops because `object` is gone.
pub(crate) fn quota_on_remove(store: &Store, object: &Object) -> Vec<Object> {
    quota_writes(&quota_changes(store, Some(object), None))
}

/// A new (or changed) quota's usage, summed over what exists in its namespace, itself
/// included, with every resource of `spec.hard` present (zero when nothing uses it).
fn usage_for_quota(store: &Store, quota: &ResourceQuota) -> ResourceList {
    let ns = &quota.metadata.namespace;
    let mut used: ResourceList = quota
        .spec
        .hard
        .keys()
        .map(|k| (k.clone(), Quantity::default()))
        .collect();
    for kind in Kind::ALL.iter().filter(|k| k.namespaced()) {
        for object in store.iter_namespace(*kind, ns) {
            let is_self =
                *kind == Kind::ResourceQuota && object.metadata().name == quota.metadata.name;
            if !is_self && quota_selects(quota, object) {
                used = add_lists(&used, &tracked(quota, &usage_of(object)), 1);
            }
        }
    }
    let itself = Object::ResourceQuota(quota.clone());
    if quota_selects(quota, &itself) {
        used = add_lists(&used, &tracked(quota, &usage_of(&itself)), 1);
    }
    used
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::{Container, PodSpec};
    use crate::store::StoreConfig;
    use crate::ObjectMeta;

    fn pod(tolerations: Vec<Toleration>) -> Pod {
        Pod {
            metadata: ObjectMeta::named("default", "web"),
            spec: PodSpec {
                containers: vec![Container {
                    name: "web".into(),
                    image: "nginx".into(),
                    ..Default::default()
                }]
                .into(),
                tolerations,
                ..Default::default()
            }
            .into(),
            ..Default::default()
        }
    }

    fn created(p: Pod) -> Pod {
        let mut store = Store::new(StoreConfig::default());
        match &*store.create(p.into(), Time::ZERO).unwrap() {
            Object::Pod(p) => p.clone(),
            _ => unreachable!(),
        }
    }

    #[test]
    fn pods_get_five_minutes_on_not_ready_and_unreachable_nodes() {
        let p = created(pod(Vec::new()));
        let keys: Vec<_> = p
            .spec
            .tolerations
            .iter()
            .map(|t| (t.key.as_str(), t.operator, t.effect, t.toleration_seconds))
            .collect();
        assert_eq!(
            keys,
            [
                (
                    TAINT_NODE_NOT_READY,
                    Some(TolerationOperator::Exists),
                    Some(TaintEffect::NoExecute),
                    Some(300)
                ),
                (
                    TAINT_NODE_UNREACHABLE,
                    Some(TolerationOperator::Exists),
                    Some(TaintEffect::NoExecute),
                    Some(300)
                ),
            ]
        );
    }

    #[test]
    fn an_existing_toleration_is_kept_and_not_doubled() {
        let own = Toleration {
            key: TAINT_NODE_UNREACHABLE.into(),
            operator: Some(TolerationOperator::Exists),
            effect: Some(TaintEffect::NoExecute),
            toleration_seconds: Some(6000),
            ..Default::default()
        };
        let p = created(pod(vec![own.clone()]));
        assert_eq!(p.spec.tolerations.len(), 2);
        assert_eq!(p.spec.tolerations[0], own);
        assert_eq!(p.spec.tolerations[1].key, TAINT_NODE_NOT_READY);
        // An empty key tolerates everything: nothing is added.
        let all = Toleration {
            operator: Some(TolerationOperator::Exists),
            ..Default::default()
        };
        assert_eq!(created(pod(vec![all.clone()])).spec.tolerations, vec![all]);
        // A NoSchedule toleration of the key does not cover NoExecute.
        let no_schedule = Toleration {
            key: TAINT_NODE_NOT_READY.into(),
            operator: Some(TolerationOperator::Exists),
            effect: Some(TaintEffect::NoSchedule),
            ..Default::default()
        };
        assert_eq!(created(pod(vec![no_schedule])).spec.tolerations.len(), 3);
    }

    fn stored_pod(store: &Store) -> Pod {
        match store.get(Kind::Pod, "default", "web").as_deref() {
            Some(Object::Pod(p)) => p.clone(),
            _ => unreachable!("the pod is stored"),
        }
    }

    #[test]
    fn an_update_that_keeps_the_spec_keeps_it_shared_and_checks_the_metadata() {
        let mut store = Store::new(StoreConfig::default());
        store.create(pod(Vec::new()).into(), Time::ZERO).unwrap();
        let live = stored_pod(&store);
        let mut labelled = live.clone();
        labelled.metadata.labels.insert("tier".into(), "web".into());
        store.update(labelled.into(), Time::ZERO).unwrap();
        let after = stored_pod(&store);
        assert_eq!(
            after.metadata.labels.get("tier").map(String::as_str),
            Some("web")
        );
        assert!(
            Shared::ptr_eq(&after.spec, &live.spec),
            "the stored spec is shared, not copied"
        );
        // The metadata of such an update is still validated.
        let mut bad = after.clone();
        bad.metadata
            .labels
            .insert("tier".into(), "not a label value".into());
        let err = store.update(bad.into(), Time::ZERO).unwrap_err();
        assert!(err.to_string().contains("metadata.labels"), "{err}");
        // A changed spec is validated again.
        let mut changed = after;
        changed.spec.containers[0].image = " nginx".into();
        let err = store.update(changed.into(), Time::ZERO).unwrap_err();
        assert!(
            err.to_string().contains("spec.containers[0].image"),
            "{err}"
        );
    }
}
