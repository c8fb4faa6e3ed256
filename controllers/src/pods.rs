//! Pod helpers every workload controller shares (Kubernetes' `pkg/controller/controller_utils.go`
//! and `podutil`): whether a pod counts as active, ready or available, and how a pod is made
//! from a workload's template.

use flotilla_model::api::{ConditionStatus, Pod, PodCondition, PodPhase, PodTemplateSpec};
use flotilla_model::{Duration, Kind, ObjectMeta, OwnerReference, Time};

/// Whether the pod still counts towards its workload's replicas: not finished and not being
/// deleted (controller_utils `IsPodActive`).
pub fn is_pod_active(pod: &Pod) -> bool {
    !pod.phase().is_terminal() && pod.metadata.deletion_timestamp.is_none()
}

/// Whether the pod is being deleted (has a `deletionTimestamp`).
pub fn is_pod_terminating(pod: &Pod) -> bool {
    pod.metadata.deletion_timestamp.is_some()
}

/// When the pod's `Ready` condition last turned `True`, if it is ready.
pub fn ready_since(pod: &Pod) -> Option<Time> {
    let c = pod.condition(PodCondition::READY)?;
    if c.status != ConditionStatus::True {
        return None;
    }
    Some(c.last_transition_time.unwrap_or(Time::ZERO))
}

/// Whether the pod has been ready for at least `min_ready_seconds` at `now` (podutil
/// `IsPodAvailable`: with 0 seconds, ready is enough).
pub fn is_pod_available(pod: &Pod, min_ready_seconds: i32, now: Time) -> bool {
    match ready_since(pod) {
        None => false,
        Some(_) if min_ready_seconds <= 0 => true,
        Some(since) => since.saturating_add(secs(min_ready_seconds)) <= now,
    }
}

/// When a ready pod becomes available under `min_ready_seconds`, if it is ready and not yet
/// available at `now`; controllers requeue for that moment.
pub fn available_at(pod: &Pod, min_ready_seconds: i32, now: Time) -> Option<Time> {
    let since = ready_since(pod)?;
    let at = since.saturating_add(secs(min_ready_seconds));
    (min_ready_seconds > 0 && at > now).then_some(at)
}

/// A non-negative number of seconds as a [`Duration`].
pub fn secs(seconds: impl Into<i64>) -> Duration {
    Duration::from_secs(seconds.into().max(0) as u64)
}

/// The owner reference a controller puts on what it creates: `controller: true` and
/// `blockOwnerDeletion: true` (controller_utils `NewControllerRef`).
pub fn controller_ref(kind: Kind, owner: &ObjectMeta) -> OwnerReference {
    OwnerReference {
        api_version: kind.api_version().to_string(),
        kind: kind.name().to_string(),
        name: owner.name.clone(),
        uid: owner.uid.clone(),
        controller: Some(true),
        block_owner_deletion: Some(true),
    }
}

/// Whether `meta`'s controller reference points at the object with `uid`.
pub fn is_controlled_by(meta: &ObjectMeta, uid: &str) -> bool {
    meta.controller_ref().is_some_and(|r| r.uid == uid)
}

/// A pod made from `template` for the workload `owner` (controller_utils
/// `GetPodFromTemplate`): the template's labels, annotations, finalizers and spec, in the
/// owner's namespace, controlled by the owner, named by `generateName` `<prefix>` unless
/// `name` is given.
pub fn pod_from_template(
    template: &PodTemplateSpec,
    owner_kind: Kind,
    owner: &ObjectMeta,
    generate_name: &str,
    name: Option<String>,
) -> Pod {
    let mut metadata = ObjectMeta {
        namespace: owner.namespace.clone(),
        labels: template.metadata.labels.clone(),
        annotations: template.metadata.annotations.clone(),
        finalizers: template.metadata.finalizers.clone(),
        owner_references: vec![controller_ref(owner_kind, owner)],
        ..ObjectMeta::default()
    };
    match name {
        Some(name) => metadata.name = name,
        None => metadata.generate_name = generate_name.to_string(),
    }
    Pod {
        metadata,
        spec: template.spec.clone().into(),
        status: Default::default(),
    }
}

/// The hash that names a pod template's revision: the `pod-template-hash` label of a
/// Deployment's ReplicaSets and the `controller-revision-hash` of DaemonSet and StatefulSet
/// pods (controller_utils `ComputeHash`). Like Kubernetes it is FNV-32a over the template, with
/// the `collisionCount` mixed in when set, printed in decimal and mapped onto the consonant and
/// digit alphabet of `rand.SafeEncodeString` (so it never spells a word). The template is hashed
/// as its canonical JSON (Kubernetes hashes a Go deep print), so the values differ from a real
/// cluster's while keeping their properties: equal templates, equal hashes.
pub fn template_hash(template: &PodTemplateSpec, collision_count: Option<i32>) -> String {
    const ALPHANUMS: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";
    let mut bytes = serde_json::to_vec(template).unwrap_or_default();
    if let Some(count) = collision_count {
        bytes.extend_from_slice(&(count as u32).to_le_bytes());
    }
    let mut h: u32 = 0x811c_9dc5;
    for b in bytes {
        h ^= u32::from(b);
        h = h.wrapping_mul(0x0100_0193);
    }
    h.to_string()
        .bytes()
        .map(|b| ALPHANUMS[usize::from(b) % ALPHANUMS.len()] as char)
        .collect()
}

/// Whether the pod has finished (`Succeeded` or `Failed`).
pub fn is_pod_finished(pod: &Pod) -> bool {
    matches!(pod.phase(), PodPhase::Succeeded | PodPhase::Failed)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ready_pod(since: u64) -> Pod {
        let mut pod = Pod::default();
        pod.status.conditions.push(PodCondition {
            r#type: PodCondition::READY.into(),
            status: ConditionStatus::True,
            last_transition_time: Some(Time::from_secs(since)),
            ..Default::default()
        });
        pod
    }

    #[test]
    fn availability_waits_min_ready_seconds() {
        let pod = ready_pod(100);
        assert!(is_pod_available(&pod, 0, Time::from_secs(100)));
        assert!(!is_pod_available(&pod, 10, Time::from_secs(109)));
        assert!(is_pod_available(&pod, 10, Time::from_secs(110)));
        assert_eq!(
            available_at(&pod, 10, Time::from_secs(105)),
            Some(Time::from_secs(110))
        );
        assert_eq!(available_at(&pod, 10, Time::from_secs(110)), None);
        assert!(!is_pod_available(&Pod::default(), 0, Time::from_secs(1)));
    }

    #[test]
    fn template_hashes_are_stable_and_change_with_the_template_and_collisions() {
        let mut template = PodTemplateSpec::default();
        let a = template_hash(&template, None);
        assert_eq!(a, template_hash(&template, None));
        assert!(a
            .bytes()
            .all(|b| b"bcdfghjklmnpqrstvwxz2456789".contains(&b)));
        assert_ne!(a, template_hash(&template, Some(1)));
        template.metadata.labels.insert("app".into(), "web".into());
        assert_ne!(a, template_hash(&template, None));
    }

    #[test]
    fn a_templated_pod_is_controlled_by_its_owner() {
        let mut template = PodTemplateSpec::default();
        template.metadata.labels.insert("app".into(), "web".into());
        let mut owner = ObjectMeta::named("prod", "web-abc");
        owner.uid = "u1".into();
        let pod = pod_from_template(&template, Kind::ReplicaSet, &owner, "web-abc-", None);
        assert_eq!(pod.metadata.namespace, "prod");
        assert_eq!(pod.metadata.generate_name, "web-abc-");
        assert_eq!(pod.metadata.labels["app"], "web");
        assert!(is_controlled_by(&pod.metadata, "u1"));
        let r = &pod.metadata.owner_references[0];
        assert_eq!(
            (r.api_version.as_str(), r.kind.as_str()),
            ("apps/v1", "ReplicaSet")
        );
    }
}
