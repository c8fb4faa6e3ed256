//! Tests of the store's authorization mode: writes by an actor are authorized and checked for
//! escalation before anything changes; without the mode or without an actor nothing is checked.

use super::*;
use crate::api::{Namespace, RoleBinding, RoleRef, Subject};
use crate::ObjectMeta;

fn namespace(name: &str) -> Object {
    Namespace {
        metadata: ObjectMeta::named("", name),
        ..Default::default()
    }
    .into()
}

fn pod(namespace: &str, name: &str) -> Object {
    let yaml = format!(
        "apiVersion: v1\nkind: Pod\nmetadata: {{name: {name}, namespace: {namespace}}}\n\
         spec:\n  containers: [{{name: c, image: nginx}}]\n"
    );
    let m = crate::manifest::parse_str("pod.yaml", &yaml).unwrap();
    m.objects.into_iter().next().unwrap().object
}

fn config_map(namespace: &str, name: &str) -> Object {
    crate::api::ConfigMap {
        metadata: ObjectMeta::named(namespace, name),
        ..Default::default()
    }
    .into()
}

fn binding(namespace: &str, name: &str, role: &str, user: &str) -> Object {
    RoleBinding::new(
        namespace,
        name,
        RoleRef::cluster_role(role),
        vec![Subject::user(user)],
    )
    .into()
}

/// An authorizing store with the bootstrap policy, team-a and team-b, alice bound to `edit` and
/// bob to `admin` in team-a, written without an actor.
fn teams(authorization: bool) -> Store {
    let mut store = Store::new(StoreConfig {
        authorization,
        ..StoreConfig::default()
    });
    let mut objects = auth::bootstrap_policy();
    objects.push(namespace("team-a"));
    objects.push(namespace("team-b"));
    objects.push(binding("team-a", "alice-edit", "edit", "alice"));
    objects.push(binding("team-a", "bob-admin", "admin", "bob"));
    for object in objects {
        store.create(object, Time::ZERO).unwrap();
    }
    store
}

fn alice() -> UserInfo {
    UserInfo::new("alice", &[auth::SYSTEM_AUTHENTICATED])
}

fn forbidden(message: &str) -> StoreError {
    StoreError::Forbidden(message.to_string())
}

#[test]
fn without_the_mode_an_actor_is_not_checked() {
    let mut store = teams(false);
    store.set_actor(Some(UserInfo::new("nobody", &[])));
    store.create(pod("team-b", "p"), Time::ZERO).unwrap();
    store
        .delete(
            Kind::Namespace,
            "",
            "team-b",
            &DeleteOptions::default(),
            Time::ZERO,
        )
        .unwrap();
}

#[test]
fn without_an_actor_nothing_is_checked() {
    let mut store = teams(true);
    assert!(store.authorization());
    assert_eq!(store.actor(), None);
    store.create(pod("team-b", "p"), Time::ZERO).unwrap();
}

#[test]
fn a_refused_create_has_the_api_servers_message_and_changes_nothing() {
    let mut store = teams(true);
    let before = store.resource_version();
    store.set_actor(Some(alice()));
    assert_eq!(
        store.create(pod("team-b", "p"), Time::ZERO).unwrap_err(),
        forbidden(
            "pods is forbidden: User \"alice\" cannot create resource \"pods\" in API group \"\" \
             in the namespace \"team-b\""
        )
    );
    assert_eq!(
        store.create(namespace("team-c"), Time::ZERO).unwrap_err(),
        forbidden(
            "namespaces is forbidden: User \"alice\" cannot create resource \"namespaces\" in API \
             group \"\" at the cluster scope"
        )
    );
    assert_eq!(store.resource_version(), before);
    // A namespaced object without a namespace is authorized in `default`.
    let mut unplaced = pod("x", "p");
    unplaced.metadata_mut().namespace.clear();
    assert!(store
        .create(unplaced, Time::ZERO)
        .unwrap_err()
        .to_string()
        .ends_with("in the namespace \"default\""));
    // Where alice is bound, she may.
    store.create(pod("team-a", "p"), Time::ZERO).unwrap();
    assert!(store.get(Kind::Pod, "team-a", "p").is_some());
    // Every refusal is counted, the latest kept.
    assert_eq!(store.denied_writes(), 3);
    assert!(store
        .last_denial()
        .is_some_and(|m| m.ends_with("in the namespace \"default\"")));
}

#[test]
fn every_write_is_authorized_with_its_verb_and_subresource() {
    let mut store = teams(true);
    store.create(pod("team-a", "p"), Time::ZERO).unwrap();
    let stored = (*store.get(Kind::Pod, "team-a", "p").unwrap()).clone();
    let before = store.resource_version();
    store.set_actor(Some(UserInfo::new("carol", &[])));
    let denied = |verb: &str, resource: &str| {
        forbidden(&format!(
            "pods \"p\" is forbidden: User \"carol\" cannot {verb} resource \"{resource}\" in API \
             group \"\" in the namespace \"team-a\""
        ))
    };
    assert_eq!(
        store.update(stored.clone(), Time::ZERO).unwrap_err(),
        denied("update", "pods")
    );
    assert_eq!(
        store.update_status(stored, Time::ZERO).unwrap_err(),
        denied("update", "pods/status")
    );
    assert_eq!(
        store.bind("team-a", "p", "n1", Time::ZERO).unwrap_err(),
        denied("create", "pods/binding")
    );
    let labels = serde_json::json!({"metadata": {"labels": {"a": "b"}}});
    assert_eq!(
        store
            .patch(Kind::Pod, "team-a", "p", &labels, Time::ZERO)
            .unwrap_err(),
        denied("patch", "pods")
    );
    assert_eq!(
        store
            .delete(
                Kind::Pod,
                "team-a",
                "p",
                &DeleteOptions::default(),
                Time::ZERO
            )
            .unwrap_err(),
        denied("delete", "pods")
    );
    assert_eq!(store.resource_version(), before);

    // The scheduler may bind and write pod status, but not create pods.
    store.set_actor(Some(UserInfo::new(auth::KUBE_SCHEDULER, &[])));
    store.bind("team-a", "p", "n1", Time::ZERO).unwrap();
    assert!(store.create(pod("team-a", "q"), Time::ZERO).is_err());
    // The authorization comes first: a refused request for a missing object is a 403, not a 404.
    store.set_actor(Some(UserInfo::new("carol", &[])));
    assert!(matches!(
        store.delete(
            Kind::Pod,
            "team-a",
            "missing",
            &DeleteOptions::default(),
            Time::ZERO
        ),
        Err(StoreError::Forbidden(_))
    ));
}

#[test]
fn with_actor_puts_the_previous_actor_back() {
    let mut store = teams(true);
    store.set_actor(Some(alice()));
    let result = store.with_actor(UserInfo::new("bob", &[]), |store| {
        assert_eq!(store.actor().map(|u| u.name.as_str()), Some("bob"));
        store.create(config_map("team-a", "c"), Time::ZERO)
    });
    assert!(result.is_ok());
    assert_eq!(store.actor(), Some(&alice()));
    assert_eq!(store.set_actor(None), Some(alice()));
}

#[test]
fn role_bindings_that_grant_more_than_the_writer_holds_are_refused() {
    let mut store = teams(true);
    let before = store.resource_version();
    store.set_actor(Some(UserInfo::new("bob", &[])));
    // bob (admin in team-a) may grant edit there, but not cluster-admin.
    store
        .create(binding("team-a", "erin-edit", "edit", "erin"), Time::ZERO)
        .unwrap();
    let err = store
        .create(
            binding("team-a", "erin-root", "cluster-admin", "erin"),
            Time::ZERO,
        )
        .unwrap_err();
    let StoreError::Forbidden(message) = &err else {
        panic!("{err:?}");
    };
    assert!(
        message.starts_with(
            "rolebindings.rbac.authorization.k8s.io \"erin-root\" is forbidden: user \"bob\" \
             (groups=[]) is attempting to grant RBAC permissions not currently held:\n"
        ),
        "{message}"
    );
    assert!(store
        .get(Kind::RoleBinding, "team-a", "erin-root")
        .is_none());
    // Neither by turning an existing binding into one: the role reference is immutable, so
    // try a subject change of a binding to cluster-admin made by the bootstrap.
    store.set_actor(None);
    store
        .create(
            binding("team-a", "root", "cluster-admin", "dave"),
            Time::ZERO,
        )
        .unwrap();
    store.set_actor(Some(UserInfo::new("bob", &[])));
    let mut root = (*store.get(Kind::RoleBinding, "team-a", "root").unwrap()).clone();
    if let Object::RoleBinding(b) = &mut root {
        b.subjects.push(Subject::user("erin"));
    }
    assert!(matches!(
        store.update(root, Time::ZERO),
        Err(StoreError::Forbidden(m)) if m.contains("attempting to grant RBAC permissions")
    ));
    let patch = serde_json::json!({"subjects": [{"kind": "User", "name": "erin"}]});
    assert!(matches!(
        store.patch(Kind::RoleBinding, "team-a", "root", &patch, Time::ZERO),
        Err(StoreError::Forbidden(m)) if m.contains("attempting to grant RBAC permissions")
    ));
    assert!(store.resource_version() > before);
}

#[test]
fn a_namespace_finalize_is_authorized_as_its_subresource() {
    let mut store = teams(true);
    store
        .delete(
            Kind::Namespace,
            "",
            "team-b",
            &DeleteOptions::default(),
            Time::ZERO,
        )
        .unwrap();
    let mut ns = (*store.get(Kind::Namespace, "", "team-b").unwrap()).clone();
    let Object::Namespace(n) = &mut ns else {
        unreachable!()
    };
    assert!(!n.spec.finalizers.is_empty());
    n.spec.finalizers.clear();
    let mut relabelled = ns.clone();
    relabelled
        .metadata_mut()
        .labels
        .insert("team".into(), "b".into());
    // The namespace controller may finalize (update namespaces/finalize), not update.
    store.set_actor(Some(auth::controller_user("namespace-controller")));
    assert_eq!(
        store.update(relabelled, Time::ZERO).unwrap_err(),
        forbidden(
            "namespaces \"team-b\" is forbidden: User \
             \"system:serviceaccount:kube-system:namespace-controller\" cannot update resource \
             \"namespaces\" in API group \"\" at the cluster scope"
        )
    );
    store.update(ns, Time::ZERO).unwrap();
    assert!(store.get(Kind::Namespace, "", "team-b").is_none());
    // alice may not finalize.
    store.set_actor(None);
    store
        .delete(
            Kind::Namespace,
            "",
            "team-a",
            &DeleteOptions::default(),
            Time::ZERO,
        )
        .unwrap();
    let mut ns = (*store.get(Kind::Namespace, "", "team-a").unwrap()).clone();
    if let Object::Namespace(n) = &mut ns {
        n.spec.finalizers.clear();
    }
    store.set_actor(Some(alice()));
    assert_eq!(
        store.update(ns, Time::ZERO).unwrap_err(),
        forbidden(
            "namespaces \"team-a\" is forbidden: User \"alice\" cannot update resource \
             \"namespaces/finalize\" in API group \"\" at the cluster scope"
        )
    );
}

#[test]
fn a_replicas_only_update_is_allowed_by_the_scale_subresource() {
    let mut store = teams(true);
    let yaml = "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: web, namespace: team-a}\n\
                spec:\n  replicas: 2\n  selector: {matchLabels: {app: web}}\n  template:\n    \
                metadata: {labels: {app: web}}\n    spec:\n      containers: [{name: c, image: nginx}]\n";
    let m = crate::manifest::parse_str("d.yaml", yaml).unwrap();
    let d = m.objects.into_iter().next().unwrap().object;
    store.create(d, Time::ZERO).unwrap();
    let stored = (*store.get(Kind::Deployment, "team-a", "web").unwrap()).clone();
    let with = |f: &dyn Fn(&mut crate::api::Deployment)| {
        let mut o = stored.clone();
        if let Object::Deployment(d) = &mut o {
            f(d);
        }
        o
    };
    // The HPA's role grants `update */scale`, not `update deployments`.
    store.set_actor(Some(auth::controller_user("horizontal-pod-autoscaler")));
    let relabelled = with(&|d| {
        d.spec.replicas = Some(4);
        d.metadata.labels.insert("a".into(), "b".into());
    });
    assert_eq!(
        store.update(relabelled, Time::ZERO).unwrap_err(),
        forbidden(
            "deployments.apps \"web\" is forbidden: User \
             \"system:serviceaccount:kube-system:horizontal-pod-autoscaler\" cannot update \
             resource \"deployments\" in API group \"apps\" in the namespace \"team-a\""
        )
    );
    let scaled = store
        .update(with(&|d| d.spec.replicas = Some(4)), Time::ZERO)
        .unwrap();
    let Object::Deployment(scaled) = &*scaled else {
        unreachable!()
    };
    assert_eq!(scaled.spec.replicas, Some(4));
    // Someone with neither permission is refused even a replicas-only change.
    store.set_actor(Some(UserInfo::new("carol", &[])));
    let fresh = (*store.get(Kind::Deployment, "team-a", "web").unwrap()).clone();
    let mut again = fresh;
    if let Object::Deployment(d) = &mut again {
        d.spec.replicas = Some(5);
    }
    assert!(matches!(
        store.update(again, Time::ZERO),
        Err(StoreError::Forbidden(_))
    ));
}
