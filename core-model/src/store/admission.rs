//! Admission: what the API server does to a write before it is stored.
//!
//! In Kubernetes' order: defaulting; mutating admission (NamespaceLifecycle, LimitRanger's
//! defaults, Priority); validation (the kind's rules and, on update, its immutable fields);
//! validating admission (LimitRanger's bounds, ResourceQuota). Every check runs before anything is
//! written; a rejected request changes nothing. Quota usage is kept in each ResourceQuota's
//! `status.used` and changes in the same store operation as the object it accounts for.

use super::{Store, StoreError};
use crate::api::{
    pod_limits, pod_requests, LimitRange, LimitType, NamespacePhase, PersistentVolumeClaim, Pod,
    PodPhase, PodQosClass, PreemptionPolicy, PriorityClass, ResourceQuota, ResourceQuotaScope,
    ScopeSelectorOperator, ServiceType,
};
use crate::object::{Kind, Object};
use crate::quantity::{Quantity, ResourceList};
use crate::time::Time;

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
            admit_priority(store, pod).map_err(|m| forbidden(kind, &name, &m))?;
        }
        Object::ResourceQuota(quota) => {
            quota.status.hard = quota.spec.hard.clone();
            quota.status.used = usage_for_new_quota(store, quota);
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
                return Err(forbidden(kind, &name, &bracket(&problems)));
            }
        }
        Object::PersistentVolumeClaim(pvc) => {
            let problems = limit_range_violations_pvc(store, pvc);
            if !problems.is_empty() {
                return Err(forbidden(kind, &name, &bracket(&problems)));
            }
        }
        Object::PriorityClass(pc) if pc.global_default => {
            if let Some(existing) =
                global_default_class(store).filter(|c| c.metadata.name != pc.metadata.name)
            {
                return Err(forbidden(
                    kind,
                    &name,
                    &format!(
                        "PriorityClass {} is already marked as default. Only one default can exist",
                        existing.metadata.name
                    ),
                ));
            }
        }
        _ => {}
    }
    charge_quota(store, object).map_err(|m| forbidden(kind, &name, &m))
}

/// Runs the admission chain for an update of `old` to `object`.
pub(crate) fn admit_update(
    store: &Store,
    object: &mut Object,
    old: &Object,
    now: Time,
) -> Result<(), StoreError> {
    let _ = now;
    object.set_defaults();
    let kind = object.kind();
    let name = object.metadata().name.clone();
    if let (Object::Pod(pod), Object::Pod(old_pod)) = (&mut *object, old) {
        // Priority is resolved once, at creation.
        pod.spec.priority = old_pod.spec.priority;
        pod.spec.preemption_policy = old_pod.spec.preemption_policy;
        if pod.spec.priority_class_name.is_empty() {
            pod.spec
                .priority_class_name
                .clone_from(&old_pod.spec.priority_class_name);
        }
    }
    if let Object::ResourceQuota(quota) = &mut *object {
        quota.status.hard = quota.spec.hard.clone();
        quota.status.used = usage_for_new_quota(store, quota);
    }
    let mut errors = object.validate();
    errors.extend(object.validate_update(old));
    if !errors.is_empty() {
        return Err(StoreError::Invalid { kind, name, errors });
    }
    if let Object::PriorityClass(pc) = &*object {
        if pc.global_default {
            if let Some(existing) =
                global_default_class(store).filter(|c| c.metadata.name != pc.metadata.name)
            {
                return Err(forbidden(
                    kind,
                    &name,
                    &format!(
                        "PriorityClass {} is already marked as default. Only one default can exist",
                        existing.metadata.name
                    ),
                ));
            }
        }
    }
    Ok(())
}

fn forbidden(kind: Kind, name: &str, message: &str) -> StoreError {
    StoreError::Forbidden(format!(
        "{} {name:?} is forbidden: {message}",
        kind.plural()
    ))
}

fn bracket(problems: &[String]) -> String {
    match problems {
        [one] => one.clone(),
        many => format!("[{}]", many.join(", ")),
    }
}

// ---------------------------------------------------------------------------------------------
// NamespaceLifecycle
// ---------------------------------------------------------------------------------------------

fn check_namespace(store: &Store, object: &Object) -> Result<(), StoreError> {
    if !object.kind().namespaced() {
        return Ok(());
    }
    let ns_name = &object.metadata().namespace;
    match store.get(Kind::Namespace, "", ns_name).as_deref() {
        None => Err(StoreError::NotFound { kind: Kind::Namespace, namespace: String::new(), name: ns_name.clone() }),
        Some(Object::Namespace(ns))
            if ns.metadata.deletion_timestamp.is_some() || ns.status.phase == Some(NamespacePhase::Terminating) =>
        {
            Err(StoreError::Forbidden(format!(
                "{} {:?} is forbidden: unable to create new content in namespace {ns_name} because it is being terminated",
                object.kind().plural(),
                object.metadata().name
            )))
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

/// Gives containers without limits or requests the namespace's Container defaults.
fn apply_limit_range_defaults(store: &Store, pod: &mut Pod) {
    let ranges: Vec<LimitRange> = limit_ranges(store, &pod.metadata.namespace)
        .cloned()
        .collect();
    for lr in &ranges {
        for item in lr
            .spec
            .limits
            .iter()
            .filter(|i| i.r#type == LimitType::Container)
        {
            let containers = pod
                .spec
                .containers
                .iter_mut()
                .chain(pod.spec.init_containers.iter_mut());
            for c in containers {
                for (res, q) in &item.default {
                    c.resources.limits.entry(res.clone()).or_insert(*q);
                }
                for (res, q) in &item.default_request {
                    c.resources.requests.entry(res.clone()).or_insert(*q);
                }
            }
        }
    }
}

fn check_bounds(
    problems: &mut Vec<String>,
    scope: &str,
    item_min: &ResourceList,
    item_max: &ResourceList,
    ratio: &ResourceList,
    requests: &ResourceList,
    limits: &ResourceList,
) {
    for (res, min) in item_min {
        match requests.get(res) {
            Some(r) if r < min => problems.push(format!(
                "minimum {res} usage per {scope} is {min}, but request is {r}"
            )),
            Some(_) => {}
            None => problems.push(format!(
                "minimum {res} usage per {scope} is {min}.  No request is specified"
            )),
        }
    }
    for (res, max) in item_max {
        match limits.get(res) {
            Some(l) if l > max => problems.push(format!(
                "maximum {res} usage per {scope} is {max}, but limit is {l}"
            )),
            Some(_) => {}
            None => problems.push(format!(
                "maximum {res} usage per {scope} is {max}.  No limit is specified"
            )),
        }
    }
    for (res, max_ratio) in ratio {
        let (Some(l), Some(r)) = (limits.get(res), requests.get(res)) else {
            if limits.contains_key(res) {
                problems.push(format!("{res} max limit to request ratio per {scope} is {max_ratio}, but no request is specified or request is 0"));
            }
            continue;
        };
        if r.is_zero() {
            problems.push(format!("{res} max limit to request ratio per {scope} is {max_ratio}, but no request is specified or request is 0"));
            continue;
        }
        let actual = l.milli_value() as f64 / r.milli_value() as f64;
        if actual > max_ratio.milli_value() as f64 / 1000.0 {
            problems.push(format!("{res} max limit to request ratio per {scope} is {max_ratio}, but provided ratio is {actual:.6}"));
        }
    }
}

fn limit_range_violations_pod(store: &Store, pod: &Pod) -> Vec<String> {
    let mut problems = Vec::new();
    for lr in limit_ranges(store, &pod.metadata.namespace) {
        for item in &lr.spec.limits {
            match item.r#type {
                LimitType::Container => {
                    for c in pod.spec.containers.iter().chain(&pod.spec.init_containers) {
                        let r = &c.resources;
                        check_bounds(
                            &mut problems,
                            "Container",
                            &item.min,
                            &item.max,
                            &item.max_limit_request_ratio,
                            &r.requests,
                            &r.limits,
                        );
                    }
                }
                LimitType::Pod => {
                    let requests = pod_requests(&pod.spec);
                    let limits = pod_limits(&pod.spec);
                    check_bounds(
                        &mut problems,
                        "Pod",
                        &item.min,
                        &item.max,
                        &item.max_limit_request_ratio,
                        &requests,
                        &limits,
                    );
                }
                LimitType::PersistentVolumeClaim => {}
            }
        }
    }
    problems
}

fn limit_range_violations_pvc(store: &Store, pvc: &PersistentVolumeClaim) -> Vec<String> {
    let mut problems = Vec::new();
    let requests = &pvc.spec.resources.requests;
    let limits = &pvc.spec.resources.limits;
    for lr in limit_ranges(store, &pvc.metadata.namespace) {
        for item in lr
            .spec
            .limits
            .iter()
            .filter(|i| i.r#type == LimitType::PersistentVolumeClaim)
        {
            for (res, min) in &item.min {
                if let Some(r) = requests.get(res) {
                    if r < min {
                        problems.push(format!("minimum {res} usage per PersistentVolumeClaim is {min}, but request is {r}"));
                    }
                }
            }
            for (res, max) in &item.max {
                if let Some(r) = requests.get(res).or(limits.get(res)) {
                    if r > max {
                        problems.push(format!("maximum {res} usage per PersistentVolumeClaim is {max}, but request is {r}"));
                    }
                }
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

/// Resolves `priorityClassName` into `priority` and `preemptionPolicy`.
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
    if let Some(given) = &pod.spec.preemption_policy {
        if *given != policy && named.is_some() {
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

/// The compute resources whose quota obliges every container to state them.
const COMPUTE: [(&str, &str, bool); 6] = [
    ("requests.cpu", "cpu", false),
    ("cpu", "cpu", false),
    ("requests.memory", "memory", false),
    ("memory", "memory", false),
    ("limits.cpu", "cpu", true),
    ("limits.memory", "memory", true),
];

fn quotas<'a>(
    store: &'a Store,
    namespace: &'a str,
) -> impl Iterator<Item = &'a ResourceQuota> + 'a {
    store
        .iter_namespace(Kind::ResourceQuota, namespace)
        .filter_map(|o| match o.as_ref() {
            Object::ResourceQuota(q) => Some(q),
            _ => None,
        })
}

fn is_terminal(pod: &Pod) -> bool {
    matches!(
        pod.status.phase,
        Some(PodPhase::Succeeded | PodPhase::Failed)
    )
}

/// What one object counts against quotas: `count/<resource>` for every kind, and the resources
/// Kubernetes' evaluators charge for pods, services and claims.
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
            usage.insert("pods".into(), one);
            for (res, q) in pod_requests(&pod.spec) {
                if res == "cpu" || res == "memory" || res == "ephemeral-storage" {
                    usage.insert(res.clone(), q);
                }
                usage.insert(format!("requests.{res}"), q);
            }
            for (res, q) in pod_limits(&pod.spec) {
                usage.insert(format!("limits.{res}"), q);
            }
        }
        Object::Pod(_) => {}
        Object::Service(svc) => {
            usage.insert("services".into(), one);
            let ty = svc.spec.r#type;
            if matches!(ty, ServiceType::NodePort | ServiceType::LoadBalancer) {
                let ports = svc.spec.ports.len() as i64;
                usage.insert(
                    "services.nodeports".into(),
                    Quantity::from_value(ports, Default::default()),
                );
            }
            if ty == ServiceType::LoadBalancer {
                usage.insert("services.loadbalancers".into(), one);
            }
        }
        Object::PersistentVolumeClaim(pvc) => {
            usage.insert("persistentvolumeclaims".into(), one);
            let storage = pvc.spec.resources.requests.get("storage").copied();
            if let Some(s) = &storage {
                usage.insert("requests.storage".into(), *s);
            }
            if let Some(class) = pvc
                .spec
                .storage_class_name
                .as_deref()
                .filter(|c| !c.is_empty())
            {
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

/// Whether a quota's scopes select the object (scoped quotas only ever select pods).
fn quota_selects(quota: &ResourceQuota, object: &Object) -> bool {
    let scoped = !quota.spec.scopes.is_empty()
        || quota
            .spec
            .scope_selector
            .as_ref()
            .is_some_and(|s| !s.match_expressions.is_empty());
    let Object::Pod(pod) = object else {
        return !scoped;
    };
    let terminating = pod.spec.active_deadline_seconds.is_some();
    let best_effort = pod.qos_class() == PodQosClass::BestEffort;
    let scope_matches = |scope: &ResourceQuotaScope| match scope {
        ResourceQuotaScope::Terminating => terminating,
        ResourceQuotaScope::NotTerminating => !terminating,
        ResourceQuotaScope::BestEffort => best_effort,
        ResourceQuotaScope::NotBestEffort => !best_effort,
        ResourceQuotaScope::PriorityClass => !pod.spec.priority_class_name.is_empty(),
        _ => false,
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

fn tracked(quota: &ResourceQuota, usage: &ResourceList) -> ResourceList {
    usage
        .iter()
        .filter(|(k, _)| quota.spec.hard.contains_key(*k))
        .map(|(k, v)| (k.clone(), *v))
        .collect()
}

fn add_lists(a: &ResourceList, b: &ResourceList, sign: i64) -> ResourceList {
    let mut out = a.clone();
    for (k, v) in b {
        let current = out.get(k).cloned().unwrap_or_default();
        let next = if sign >= 0 {
            current.saturating_add(*v)
        } else {
            current.saturating_sub(*v)
        };
        let zero = Quantity::default();
        out.insert(k.clone(), if next < zero { zero } else { next });
    }
    out
}

/// Containers that do not state a resource a quota obliges them to.
fn missing_compute(quota: &ResourceQuota, pod: &Pod) -> Vec<String> {
    let mut missing = Vec::new();
    for (key, res, is_limit) in COMPUTE {
        if !quota.spec.hard.contains_key(key) {
            continue;
        }
        let lacking: Vec<&str> = pod
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
        if !lacking.is_empty() {
            missing.push(format!("{key} for: {}", lacking.join(",")));
        }
    }
    missing
}

/// Checks every quota of the object's namespace and returns the quotas with their new usage.
fn charge_quota(store: &Store, object: &Object) -> Result<Vec<Object>, String> {
    if !object.kind().namespaced() {
        return Ok(Vec::new());
    }
    let usage = usage_of(object);
    let mut writes = Vec::new();
    for quota in quotas(store, &object.metadata().namespace) {
        if !quota_selects(quota, object) {
            continue;
        }
        let delta = tracked(quota, &usage);
        if let Object::Pod(pod) = object {
            let missing = missing_compute(quota, pod);
            if !missing.is_empty() {
                return Err(format!(
                    "failed quota: {}: must specify {}",
                    quota.metadata.name,
                    missing.join("; ")
                ));
            }
        }
        if delta.is_empty() {
            continue;
        }
        let used = add_lists(&quota.status.used, &delta, 1);
        let exceeded: Vec<&String> = delta
            .keys()
            .filter(|k| used.get(*k) > quota.spec.hard.get(*k))
            .collect();
        if !exceeded.is_empty() {
            let list = |l: &ResourceList| {
                exceeded
                    .iter()
                    .map(|k| format!("{k}={}", l.get(*k).cloned().unwrap_or_default()))
                    .collect::<Vec<_>>()
                    .join(",")
            };
            return Err(format!(
                "exceeded quota: {}, requested: {}, used: {}, limited: {}",
                quota.metadata.name,
                list(&delta),
                list(&quota.status.used),
                list(&quota.spec.hard)
            ));
        }
        let mut updated = quota.clone();
        updated.status.hard = quota.spec.hard.clone();
        updated.status.used = used;
        writes.push(updated.into());
    }
    Ok(writes)
}

/// Quotas whose usage drops because `object` is gone.
pub(crate) fn quota_on_remove(store: &Store, object: &Object) -> Vec<Object> {
    release(store, object, &usage_of(object))
}

/// Quotas whose usage drops because a pod reached a terminal phase (terminal pods do not count).
pub(crate) fn quota_on_status_change(store: &Store, old: &Object, new: &Object) -> Vec<Object> {
    match (old, new) {
        (Object::Pod(o), Object::Pod(n)) if !is_terminal(o) && is_terminal(n) => {
            let before = usage_of(old);
            let after = usage_of(new);
            let released: ResourceList = before
                .into_iter()
                .filter(|(k, _)| !after.contains_key(k))
                .collect();
            release(store, old, &released)
        }
        _ => Vec::new(),
    }
}

fn release(store: &Store, object: &Object, usage: &ResourceList) -> Vec<Object> {
    if !object.kind().namespaced() || object.kind() == Kind::ResourceQuota {
        return Vec::new();
    }
    let mut writes = Vec::new();
    for quota in quotas(store, &object.metadata().namespace) {
        if !quota_selects(quota, object) {
            continue;
        }
        let delta = tracked(quota, usage);
        if delta.is_empty() {
            continue;
        }
        let mut updated = quota.clone();
        updated.status.used = add_lists(&quota.status.used, &delta, -1);
        writes.push(updated.into());
    }
    writes
}

/// A new (or changed) quota's usage, summed over what exists in its namespace (itself included).
fn usage_for_new_quota(store: &Store, quota: &ResourceQuota) -> ResourceList {
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
