//! Tests of the authorizer, the escalation check and the bootstrap policy.

use super::*;
use crate::api::{Namespace, Role, RoleBinding};
use crate::store::StoreConfig;
use crate::Time;
use proptest::prelude::*;

fn store_with(objects: Vec<Object>) -> Store {
    let mut store = Store::new(StoreConfig::default());
    for object in objects {
        store.create(object, Time::ZERO).expect("admitted");
    }
    store
}

fn namespace(name: &str) -> Object {
    Namespace {
        metadata: ObjectMeta::named("", name),
        ..Default::default()
    }
    .into()
}

/// The setup: the bootstrap policy, namespaces team-a and team-b, alice bound to `edit`
/// in team-a.
fn teams() -> Store {
    let mut objects = bootstrap_policy();
    objects.push(namespace("team-a"));
    objects.push(namespace("team-b"));
    objects.push(
        RoleBinding::new(
            "team-a",
            "alice-edit",
            RoleRef::cluster_role("edit"),
            vec![Subject::user("alice")],
        )
        .into(),
    );
    store_with(objects)
}

fn alice() -> UserInfo {
    UserInfo::new("alice", &["system:authenticated"])
}

fn deny(message: &str) -> Decision {
    Decision::Deny(message.to_string())
}

#[test]
fn verbs_and_groups_match_exactly_or_by_wildcard() {
    let r = rule(&["get", "list"], &["", "apps"], &["pods"]);
    assert!(r.verb_matches("get") && r.verb_matches("list"));
    assert!(!r.verb_matches("create") && !r.verb_matches("*"));
    assert!(r.api_group_matches("") && r.api_group_matches("apps"));
    assert!(!r.api_group_matches("batch"));
    let all = rule(&["*"], &["*"], &["pods"]);
    assert!(all.verb_matches("escalate") && all.api_group_matches("anything.example.com"));
}

#[test]
fn resources_match_each_wildcard_form() {
    let plain = rule(&["get"], &[""], &["pods"]);
    assert!(plain.resource_matches("pods", ""));
    assert!(
        !plain.resource_matches("pods", "log"),
        "pods does not grant pods/log"
    );
    assert!(!plain.resource_matches("services", ""));

    let sub = rule(&["get"], &[""], &["pods/log"]);
    assert!(sub.resource_matches("pods", "log"));
    assert!(!sub.resource_matches("pods", ""));
    assert!(!sub.resource_matches("pods", "exec"));
    assert!(!sub.resource_matches("pod", "s/log"));

    let any_scale = rule(&["get"], &["*"], &["*/scale"]);
    assert!(any_scale.resource_matches("deployments", "scale"));
    assert!(any_scale.resource_matches("statefulsets", "scale"));
    assert!(!any_scale.resource_matches("deployments", ""));
    assert!(!any_scale.resource_matches("deployments", "status"));
    assert!(!any_scale.resource_matches("deployments", "scales"));

    let everything = rule(&["get"], &["*"], &["*"]);
    assert!(everything.resource_matches("pods", ""));
    assert!(everything.resource_matches("pods", "log"));
}

#[test]
fn resource_names_restrict_to_named_objects() {
    let named = rule(&["get", "update"], &[""], &["configmaps"]).names(&["settings"]);
    assert!(named.resource_name_matches("settings"));
    assert!(!named.resource_name_matches("other"));
    // A request without a name (list, create) is not covered by a named rule.
    assert!(!named.resource_name_matches(""));
    assert!(rule(&["get"], &[""], &["configmaps"]).resource_name_matches("anything"));
}

#[test]
fn non_resource_urls_match_exactly_or_by_prefix() {
    let r = PolicyRule::new(&["get"]).urls(&["/healthz", "/api/*"]);
    assert!(r.non_resource_url_matches("/healthz"));
    assert!(!r.non_resource_url_matches("/healthz/ready"));
    assert!(r.non_resource_url_matches("/api/v1"));
    assert!(r.non_resource_url_matches("/api/"));
    assert!(!r.non_resource_url_matches("/apis"));
    assert!(PolicyRule::new(&["get"])
        .urls(&["*"])
        .non_resource_url_matches("/metrics"));
    let user = alice();
    assert!(rule_allows(
        &Attributes::non_resource(&user, "get", "/api/v1"),
        &r
    ));
    assert!(!rule_allows(
        &Attributes::non_resource(&user, "post", "/api/v1"),
        &r
    ));
    // A resource rule never allows a non-resource request and the reverse.
    let pods = rule(&["*"], &["*"], &["*"]);
    assert!(!rule_allows(
        &Attributes::non_resource(&user, "get", "/healthz"),
        &pods
    ));
    assert!(!rule_allows(
        &Attributes::resource(&user, "get", "", "pods", "a", ""),
        &r
    ));
}

#[test]
fn edit_in_team_a_allows_deployments_there_only() {
    let store = teams();
    let user = alice();
    let create = |ns: &str| Attributes::for_kind(&user, "create", Kind::Deployment, ns, "");
    assert_eq!(authorize(&store, &create("team-a")), Decision::Allow);
    assert_eq!(
        authorize(&store, &create("team-b")),
        deny(
            "deployments.apps is forbidden: User \"alice\" cannot create resource \"deployments\" in \
             API group \"apps\" in the namespace \"team-b\""
        )
    );
    let pods_b = Attributes::for_kind(&user, "create", Kind::Pod, "team-b", "");
    assert_eq!(
        authorize(&store, &pods_b),
        deny(
            "pods is forbidden: User \"alice\" cannot create resource \"pods\" in API group \"\" in \
             the namespace \"team-b\""
        )
    );
    // edit reads pod logs and exec's into pods in team-a, but cannot touch quotas or roles.
    let log =
        Attributes::for_kind(&user, "get", Kind::Pod, "team-a", "web-1").with_subresource("log");
    assert_eq!(authorize(&store, &log), Decision::Allow);
    let log_b =
        Attributes::for_kind(&user, "get", Kind::Pod, "team-b", "web-1").with_subresource("log");
    assert_eq!(
        authorize(&store, &log_b),
        deny(
            "pods \"web-1\" is forbidden: User \"alice\" cannot get resource \"pods/log\" in API \
             group \"\" in the namespace \"team-b\""
        )
    );
    for (verb, kind) in [
        ("update", Kind::ResourceQuota),
        ("create", Kind::RoleBinding),
        ("create", Kind::Role),
    ] {
        let attrs = Attributes::for_kind(&user, verb, kind, "team-a", "");
        assert!(
            matches!(authorize(&store, &attrs), Decision::Deny(_)),
            "{verb} {kind}"
        );
    }
    let status = Attributes::for_kind(&user, "update", Kind::Deployment, "team-a", "web")
        .with_subresource("status");
    assert!(matches!(authorize(&store, &status), Decision::Deny(_)));
}

#[test]
fn edit_in_a_namespace_grants_no_cluster_scoped_writes() {
    let store = teams();
    let user = alice();
    let cases = [
        (Kind::Namespace, "namespaces", ""),
        (Kind::Node, "nodes", ""),
        (
            Kind::ClusterRole,
            "clusterroles",
            "rbac.authorization.k8s.io",
        ),
    ];
    for (kind, resource, group) in cases {
        let attrs = Attributes::for_kind(&user, "create", kind, "team-a", "");
        assert_eq!(
            attrs.namespace, "",
            "cluster-scoped requests carry no namespace"
        );
        let qualified = if group.is_empty() {
            resource.to_string()
        } else {
            format!("{resource}.{group}")
        };
        assert_eq!(
            authorize(&store, &attrs),
            deny(&format!(
                "{qualified} is forbidden: User \"alice\" cannot create resource \"{resource}\" in API \
                 group \"{group}\" at the cluster scope"
            ))
        );
    }
    // Reading the namespace itself is allowed inside it, by edit's "namespaces" read rule.
    let ns = Attributes::resource(&user, "get", "", "namespaces", "team-a", "team-a");
    assert_eq!(authorize(&store, &ns), Decision::Allow);
    let delete = Attributes::for_kind(&user, "delete", Kind::Namespace, "", "team-a");
    assert!(matches!(authorize(&store, &delete), Decision::Deny(_)));
}

#[test]
fn a_user_without_bindings_can_do_nothing() {
    let store = teams();
    let bob = UserInfo::new("bob", &["system:authenticated"]);
    for kind in Kind::ALL {
        for verb in [
            "get", "list", "watch", "create", "update", "patch", "delete",
        ] {
            for ns in ["team-a", "team-b", ""] {
                let attrs = Attributes::for_kind(&bob, verb, *kind, ns, "");
                assert_eq!(
                    authorize(&store, &attrs),
                    Decision::Deny(forbidden_message(&attrs)),
                    "{verb} {kind} in {ns:?}"
                );
            }
        }
    }
    let healthz = Attributes::non_resource(&bob, "get", "/healthz");
    assert_eq!(
        authorize(&store, &healthz),
        deny("forbidden: User \"bob\" cannot get path \"/healthz\"")
    );
}

#[test]
fn system_masters_may_do_anything_even_without_bindings() {
    let store = store_with(vec![]);
    let root = UserInfo::new("root", &[SYSTEM_MASTERS]);
    let attrs = Attributes::for_kind(&root, "delete", Kind::Node, "", "node-1");
    assert_eq!(authorize(&store, &attrs), Decision::Allow);
    assert_eq!(
        authorize(&store, &Attributes::non_resource(&root, "get", "/metrics")),
        Decision::Allow
    );
}

#[test]
fn subjects_match_users_groups_and_service_accounts() {
    let store = store_with(vec![
        namespace("team-a"),
        Role::new("team-a", "reader", vec![rule(READ, &[""], &["configmaps"])]).into(),
        RoleBinding::new(
            "team-a",
            "readers",
            RoleRef::role("reader"),
            vec![
                Subject::group("auditors"),
                // No namespace: the binding's.
                Subject {
                    namespace: String::new(),
                    ..Subject::service_account("", "builder")
                },
                Subject::service_account("ci", "deployer"),
            ],
        )
        .into(),
    ]);
    let get = |user: &UserInfo| Attributes::for_kind(user, "get", Kind::ConfigMap, "team-a", "c");
    let auditor = UserInfo::new("carol", &["auditors"]);
    assert_eq!(authorize(&store, &get(&auditor)), Decision::Allow);
    assert_eq!(
        authorize(
            &store,
            &get(&UserInfo::service_account("team-a", "builder"))
        ),
        Decision::Allow
    );
    assert_eq!(
        authorize(&store, &get(&UserInfo::service_account("ci", "deployer"))),
        Decision::Allow
    );
    for user in [
        UserInfo::service_account("team-b", "builder"),
        UserInfo::service_account("team-a", "deployer"),
        UserInfo::new("builder", &[]),
        UserInfo::new("auditors", &[]),
    ] {
        assert!(
            matches!(authorize(&store, &get(&user)), Decision::Deny(_)),
            "{user:?}"
        );
    }
    // The Role of team-a grants nothing in another namespace, even to a matching subject.
    let other = Attributes::for_kind(&auditor, "get", Kind::ConfigMap, "team-b", "c");
    assert!(matches!(authorize(&store, &other), Decision::Deny(_)));
}

#[test]
fn a_binding_to_a_missing_role_is_reported() {
    let store = store_with(vec![
        namespace("team-a"),
        RoleBinding::new(
            "team-a",
            "dangling",
            RoleRef::role("gone"),
            vec![Subject::user("alice")],
        )
        .into(),
    ]);
    let attrs = Attributes::for_kind(&alice(), "list", Kind::Pod, "team-a", "");
    assert_eq!(
        authorize(&store, &attrs),
        deny(
            "pods is forbidden: User \"alice\" cannot list resource \"pods\" in API group \"\" in the \
             namespace \"team-a\": RBAC: role.rbac.authorization.k8s.io \"gone\" not found"
        )
    );
}

#[test]
fn controllers_scheduler_and_kubelet_hold_what_they_write() {
    let store = teams();
    let allowed = |user: &UserInfo, verb: &str, kind: Kind, sub: &str| {
        let attrs = Attributes::for_kind(user, verb, kind, "team-a", "x").with_subresource(sub);
        authorize(&store, &attrs) == Decision::Allow
    };
    let scheduler = UserInfo::new(KUBE_SCHEDULER, &["system:authenticated"]);
    assert!(allowed(&scheduler, "create", Kind::Pod, "binding"));
    assert!(allowed(&scheduler, "update", Kind::Pod, "status"));
    assert!(allowed(&scheduler, "delete", Kind::Pod, ""));
    assert!(!allowed(&scheduler, "create", Kind::Pod, ""));
    assert!(!allowed(&scheduler, "get", Kind::Secret, ""));

    let kubelet = UserInfo::node("node-1");
    assert!(allowed(&kubelet, "update", Kind::Pod, "status"));
    assert!(allowed(&kubelet, "get", Kind::Secret, ""));
    assert!(allowed(&kubelet, "create", Kind::Node, ""));
    assert!(!allowed(&kubelet, "create", Kind::Deployment, ""));
    assert!(!allowed(&kubelet, "delete", Kind::Node, ""));

    let deployments = controller_user("deployment-controller");
    assert!(allowed(&deployments, "create", Kind::ReplicaSet, ""));
    assert!(allowed(&deployments, "update", Kind::Deployment, "status"));
    assert!(!allowed(&deployments, "create", Kind::Pod, ""));
    let replicasets = controller_user("replicaset-controller");
    assert!(allowed(&replicasets, "create", Kind::Pod, ""));
    assert!(!allowed(&replicasets, "create", Kind::ReplicaSet, ""));
    let hpa = controller_user("horizontal-pod-autoscaler");
    assert!(allowed(&hpa, "update", Kind::Deployment, "scale"));
    assert!(!allowed(&hpa, "update", Kind::Deployment, ""));
    let gc = controller_user("generic-garbage-collector");
    assert!(allowed(&gc, "delete", Kind::Secret, ""));
    assert!(!allowed(&gc, "create", Kind::Secret, ""));
}

#[test]
fn bootstrap_policy_is_valid_and_roles_nest() {
    let objects = bootstrap_policy();
    let mut names = BTreeSet::new();
    for object in &objects {
        let mut copy = object.clone();
        copy.set_defaults();
        assert_eq!(copy.validate(), Vec::new(), "{}", object.metadata().name);
        assert!(names.insert((object.kind(), object.metadata().name.clone())));
    }
    let role = |name: &str| -> Vec<PolicyRule> {
        objects
            .iter()
            .find_map(|o| match o {
                Object::ClusterRole(r) if r.metadata.name == name => Some(r.rules.clone()),
                _ => None,
            })
            .expect("bootstrap role")
    };
    // view ⊂ edit ⊂ admin ⊂ cluster-admin, strictly.
    let chain = ["view", "edit", "admin", "cluster-admin"];
    for pair in chain.windows(2) {
        assert!(
            covers(&role(pair[1]), &role(pair[0])).0,
            "{} covers {}",
            pair[1],
            pair[0]
        );
        assert!(
            !covers(&role(pair[0]), &role(pair[1])).0,
            "{} lacks part of {}",
            pair[0],
            pair[1]
        );
    }
    // view does not read secrets; edit does.
    let secrets = [rule(&["get"], &[""], &["secrets"])];
    assert!(!covers(&role("view"), &secrets).0);
    assert!(covers(&role("edit"), &secrets).0);
    // Every binding refers to a role of the policy.
    for object in &objects {
        if let Object::ClusterRoleBinding(b) = object {
            assert!(names.contains(&(Kind::ClusterRole, b.role_ref.name.clone())));
        }
    }
}

#[test]
fn breakdown_and_covers_follow_kubernetes() {
    let r = rule(&["get", "list"], &["", "apps"], &["pods"]).names(&["a", "b"]);
    assert_eq!(breakdown_rule(&r).len(), 8);
    let owner = [rule(&["get"], &["*"], &["*/status", "pods"])];
    assert!(
        covers(
            &owner,
            &[rule(&["get"], &["apps"], &["deployments/status"])]
        )
        .0
    );
    assert!(!covers(&owner, &[rule(&["get"], &["apps"], &["deployments"])]).0);
    // An owner rule with names only covers those names, never the whole collection.
    let named_owner = [rule(&["get"], &[""], &["configmaps"]).names(&["a"])];
    assert!(
        covers(
            &named_owner,
            &[rule(&["get"], &[""], &["configmaps"]).names(&["a"])]
        )
        .0
    );
    assert!(!covers(&named_owner, &[rule(&["get"], &[""], &["configmaps"])]).0);
    let urls = [PolicyRule::new(&["get"]).urls(&["/api/*"])];
    assert!(covers(&urls, &[PolicyRule::new(&["get"]).urls(&["/api/v1"])]).0);
    assert!(!covers(&urls, &[PolicyRule::new(&["get"]).urls(&["/apis"])]).0);
}

#[test]
fn escalation_is_refused_with_kubernetes_message() {
    let store = teams();
    let user = alice();
    // edit holds no roles/rolebindings, so test the check itself and then through admin.
    let grant = [
        rule(&["get", "list"], &[""], &["secrets"]),
        rule(&["create", "delete"], &[""], &["nodes"]),
    ];
    assert_eq!(
        confirm_no_escalation(&store, &user, "team-a", &grant),
        Err("user \"alice\" (groups=[\"system:authenticated\"]) is attempting to grant RBAC permissions \
             not currently held:\n{APIGroups:[\"\"], Resources:[\"nodes\"], Verbs:[\"create\" \"delete\"]}"
            .to_string())
    );
    assert_eq!(
        confirm_no_escalation(&store, &user, "team-a", &grant[..1]),
        Ok(())
    );
    // In team-b alice holds nothing.
    assert!(confirm_no_escalation(&store, &user, "team-b", &grant[..1]).is_err());

    // An admin of team-a may bind edit there but not cluster-admin, nor write a Role beyond admin.
    let mut store = store;
    store
        .create(
            RoleBinding::new(
                "team-a",
                "dana-admin",
                RoleRef::cluster_role("admin"),
                vec![Subject::user("dana")],
            )
            .into(),
            Time::ZERO,
        )
        .expect("admitted");
    let dana = UserInfo::new("dana", &[]);
    let edit_binding: Object = RoleBinding::new(
        "team-a",
        "erin-edit",
        RoleRef::cluster_role("edit"),
        vec![Subject::user("erin")],
    )
    .into();
    assert_eq!(check_escalation(&store, &dana, &edit_binding, None), Ok(()));
    let root_binding: Object = RoleBinding::new(
        "team-a",
        "erin-root",
        RoleRef::cluster_role("cluster-admin"),
        vec![Subject::user("erin")],
    )
    .into();
    let err = check_escalation(&store, &dana, &root_binding, None).expect_err("escalation");
    assert!(
        err.starts_with(
            "rolebindings.rbac.authorization.k8s.io \"erin-root\" is forbidden: user \"dana\" (groups=[]) \
             is attempting to grant RBAC permissions not currently held:\n"
        ),
        "{err}"
    );
    assert!(
        err.contains("{NonResourceURLs:[\"*\"], Verbs:[\"*\"]}"),
        "{err}"
    );
    // The same binding in team-b: dana has no rights there at all.
    let role_b: Object = Role::new("team-b", "reader", vec![rule(READ, &[""], &["pods"])]).into();
    assert!(check_escalation(&store, &dana, &role_b, None).is_err());
    let role_a: Object = Role::new("team-a", "reader", vec![rule(READ, &[""], &["pods"])]).into();
    assert_eq!(check_escalation(&store, &dana, &role_a, None), Ok(()));
    // An update touching only finalizers is not checked; system:masters is never checked.
    let mut gc_only = role_b.clone();
    gc_only
        .metadata_mut()
        .finalizers
        .push("example.com/x".into());
    assert_eq!(
        check_escalation(&store, &dana, &gc_only, Some(&role_b)),
        Ok(())
    );
    let root = UserInfo::new("root", &[SYSTEM_MASTERS]);
    assert_eq!(check_escalation(&store, &root, &root_binding, None), Ok(()));
}

#[test]
fn bind_and_escalate_verbs_allow_granting_without_holding() {
    let mut store = teams();
    let binder = ClusterRole::new(
        "edit-binder",
        vec![rule(&["bind"], &[GROUP_NAME], &["clusterroles"]).names(&["cluster-admin"])],
    );
    store.create(binder.into(), Time::ZERO).expect("admitted");
    store
        .create(
            RoleBinding::new(
                "team-a",
                "frank-binder",
                RoleRef::cluster_role("edit-binder"),
                vec![Subject::user("frank")],
            )
            .into(),
            Time::ZERO,
        )
        .expect("admitted");
    let frank = UserInfo::new("frank", &[]);
    let binding = |ns: &str| -> Object {
        RoleBinding::new(
            ns,
            "x",
            RoleRef::cluster_role("cluster-admin"),
            vec![Subject::user("frank")],
        )
        .into()
    };
    assert_eq!(
        check_escalation(&store, &frank, &binding("team-a"), None),
        Ok(())
    );
    assert!(check_escalation(&store, &frank, &binding("team-b"), None).is_err());
    let crb: Object = ClusterRoleBinding::new("x", "cluster-admin", vec![]).into();
    assert!(check_escalation(&store, &frank, &crb, None).is_err());
}

// ---------------------------------------------------------------------------------------------
// Property test: `authorize` against a plain reference evaluation.
// ---------------------------------------------------------------------------------------------

const NAMESPACES: &[&str] = &["a", "b"];
const USERS: &[&str] = &["alice", "bob"];
const GROUPS: &[&str] = &["devs", "ops"];
const VERBS: &[&str] = &["get", "list", "create", "delete", "*", "get"];
const API_GROUPS: &[&str] = &["", "apps", "*", ""];
const RESOURCES: &[&str] = &[
    "pods",
    "pods/log",
    "deployments",
    "*/scale",
    "*",
    "deployments/scale",
];
const NAMES: &[&str] = &["x", "y"];
const ROLES: &[&str] = &["r1", "r2"];

fn pick(items: &'static [&'static str]) -> impl Strategy<Value = String> {
    proptest::sample::select(items).prop_map(str::to_string)
}

fn some_of(
    items: &'static [&'static str],
    min: usize,
    max: usize,
) -> impl Strategy<Value = Vec<String>> {
    proptest::collection::vec(pick(items), min..=max)
}

fn policy_rule() -> impl Strategy<Value = PolicyRule> {
    (
        some_of(VERBS, 1, 2),
        some_of(API_GROUPS, 1, 2),
        some_of(RESOURCES, 1, 2),
        prop_oneof![3 => Just(Vec::new()), 1 => some_of(NAMES, 1, 1)],
    )
        .prop_map(|(verbs, api_groups, mut resources, resource_names)| {
            // Validation allows resource names only with a single resource.
            if !resource_names.is_empty() {
                resources.truncate(1);
            }
            PolicyRule {
                verbs,
                api_groups,
                resources,
                resource_names,
                non_resource_urls: Vec::new(),
            }
        })
}

fn subject() -> impl Strategy<Value = Subject> {
    prop_oneof![
        pick(USERS).prop_map(|u| Subject::user(&u)),
        pick(GROUPS).prop_map(|g| Subject::group(&g)),
        (
            proptest::option::of(pick(NAMESPACES)),
            pick(&["sa1", "sa2"])
        )
            .prop_map(|(ns, name)| {
                Subject::service_account(ns.as_deref().unwrap_or(""), &name)
            }),
    ]
}

#[derive(Clone, Debug)]
struct World {
    roles: Vec<(String, String, Vec<PolicyRule>)>,
    cluster_roles: Vec<(String, Vec<PolicyRule>)>,
    bindings: Vec<(String, String, RoleRef, Vec<Subject>)>,
    cluster_bindings: Vec<(String, String, Vec<Subject>)>,
}

fn world() -> impl Strategy<Value = World> {
    let rules = || proptest::collection::vec(policy_rule(), 2..6);
    let subjects = || proptest::collection::vec(subject(), 1..3);
    (
        proptest::collection::vec((pick(NAMESPACES), pick(ROLES), rules()), 0..5),
        proptest::collection::vec((pick(ROLES), rules()), 0..3),
        proptest::collection::vec(
            (
                pick(NAMESPACES),
                pick(&["b1", "b2", "b3"]),
                (pick(&["Role", "ClusterRole"]), pick(ROLES)),
                subjects(),
            ),
            1..5,
        ),
        proptest::collection::vec((pick(&["c1", "c2"]), pick(ROLES), subjects()), 0..2),
    )
        .prop_map(|(roles, cluster_roles, bindings, cluster_bindings)| World {
            roles,
            cluster_roles,
            bindings: bindings
                .into_iter()
                .map(|(ns, name, (kind, role), subjects)| {
                    let role_ref = if kind == "Role" {
                        RoleRef::role(&role)
                    } else {
                        RoleRef::cluster_role(&role)
                    };
                    (ns, name, role_ref, subjects)
                })
                .collect(),
            // A ClusterRoleBinding's service account subjects need a namespace.
            cluster_bindings: cluster_bindings
                .into_iter()
                .map(|(name, role, mut subjects)| {
                    for s in &mut subjects {
                        if s.kind == SERVICE_ACCOUNT_KIND && s.namespace.is_empty() {
                            s.namespace = "a".into();
                        }
                    }
                    (name, role, subjects)
                })
                .collect(),
        })
}

fn request() -> impl Strategy<Value = Attributes> {
    (
        pick(USERS),
        proptest::collection::vec(pick(GROUPS), 0..2),
        proptest::option::of(pick(&["sa1", "sa2"])),
        pick(&["get", "list", "create", "delete"]),
        // Mostly a resource with its own group, sometimes a mismatched one.
        pick(&[
            "pods",
            "deployments",
            "pods",
            "deployments",
            "secrets",
            "deployments@",
            "pods@apps",
        ]),
        pick(&["", "", "", "log", "scale"]),
        pick(&["a", "b", "a", "b", ""]),
        pick(&["", "", "x", "y"]),
    )
        .prop_map(|(user, groups, sa, verb, resource, sub, ns, name)| {
            let (resource, group) = match resource.split_once('@') {
                Some((r, g)) => (r.to_string(), g.to_string()),
                None if resource == "deployments" => (resource, "apps".to_string()),
                None => (resource, String::new()),
            };
            let user = match sa {
                // Service accounts live in a or b.
                Some(sa) => UserInfo::service_account(if ns.is_empty() { "a" } else { &ns }, &sa),
                None => UserInfo { name: user, groups },
            };
            Attributes::resource(&user, &verb, &group, &resource, &ns, &name).with_subresource(&sub)
        })
}

/// The world's objects, written through the store (later duplicates of a key are skipped, as
/// the store refuses them; the reference reads the store, so both see the same objects).
fn build(world: &World) -> Store {
    let mut store = store_with(NAMESPACES.iter().map(|n| namespace(n)).collect());
    let mut objects: Vec<Object> = Vec::new();
    for (ns, name, rules) in &world.roles {
        objects.push(Role::new(ns, name, rules.clone()).into());
    }
    for (name, rules) in &world.cluster_roles {
        objects.push(ClusterRole::new(name, rules.clone()).into());
    }
    for (ns, name, role_ref, subjects) in &world.bindings {
        objects.push(RoleBinding::new(ns, name, role_ref.clone(), subjects.clone()).into());
    }
    for (name, role, subjects) in &world.cluster_bindings {
        objects.push(ClusterRoleBinding::new(name, role, subjects.clone()).into());
    }
    for object in objects {
        // Invalid rules (random ones often are) are rejected by validation, exactly as the API
        // server would reject them; the store then holds only what was admitted.
        let _ = store.create(object, Time::ZERO);
    }
    store
}

/// A deliberately plain reading of the RBAC documentation: look at every binding object of both
/// kinds, keep those that apply (cluster-wide, or in the request's namespace), find the role by
/// scanning every role object, and try every rule with string comparisons written out here.
fn reference_allows(store: &Store, attrs: &Attributes) -> bool {
    if attrs.user.groups.iter().any(|g| g == "system:masters") {
        return true;
    }
    let all: Vec<Arc<Object>> = Kind::ALL
        .iter()
        .flat_map(|k| store.iter_kind(*k).cloned().collect::<Vec<_>>())
        .collect();
    let subject_matches = |s: &Subject, binding_ns: &str| match s.kind.as_str() {
        "User" => s.name == attrs.user.name,
        "Group" => attrs.user.groups.contains(&s.name),
        "ServiceAccount" => {
            let ns = if s.namespace.is_empty() {
                binding_ns
            } else {
                &s.namespace
            };
            !ns.is_empty() && attrs.user.name == format!("system:serviceaccount:{ns}:{}", s.name)
        }
        _ => false,
    };
    let find_rules = |kind: &str, ns: &str, name: &str| -> Vec<PolicyRule> {
        for o in &all {
            match (o.as_ref(), kind) {
                (Object::Role(r), "Role")
                    if r.metadata.namespace == ns && r.metadata.name == name =>
                {
                    return r.rules.clone()
                }
                (Object::ClusterRole(r), "ClusterRole") if r.metadata.name == name => {
                    return r.rules.clone()
                }
                _ => {}
            }
        }
        Vec::new()
    };
    let rule_ok = |r: &PolicyRule| {
        let verb = r.verbs.iter().any(|v| v == "*" || *v == attrs.verb);
        let group = r
            .api_groups
            .iter()
            .any(|g| g == "*" || *g == attrs.api_group);
        let wanted = if attrs.subresource.is_empty() {
            attrs.resource.clone()
        } else {
            format!("{}/{}", attrs.resource, attrs.subresource)
        };
        let resource = r.resources.iter().any(|x| {
            x == "*"
                || *x == wanted
                || (!attrs.subresource.is_empty() && *x == format!("*/{}", attrs.subresource))
        });
        let name = r.resource_names.is_empty() || r.resource_names.contains(&attrs.name);
        verb && group && resource && name
    };
    for o in &all {
        let (binding_ns, role_ref, subjects) = match o.as_ref() {
            Object::ClusterRoleBinding(b) => ("", &b.role_ref, &b.subjects),
            Object::RoleBinding(b) => (b.metadata.namespace.as_str(), &b.role_ref, &b.subjects),
            _ => continue,
        };
        if !binding_ns.is_empty() && binding_ns != attrs.namespace {
            continue;
        }
        if !subjects.iter().any(|s| subject_matches(s, binding_ns)) {
            continue;
        }
        let role_ns = if role_ref.kind == "Role" {
            binding_ns
        } else {
            ""
        };
        if find_rules(&role_ref.kind, role_ns, &role_ref.name)
            .iter()
            .any(rule_ok)
        {
            return true;
        }
    }
    false
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn authorize_agrees_with_a_plain_reference(world in world(), requests in proptest::collection::vec(request(), 1..16)) {
        let store = build(&world);
        for attrs in &requests {
            let expected = reference_allows(&store, attrs);
            let got = authorize(&store, attrs);
            prop_assert_eq!(got == Decision::Allow, expected, "{:?}", attrs);
            if let Decision::Deny(message) = got {
                prop_assert!(message.starts_with(&forbidden_message(attrs)));
            }
        }
    }

    #[test]
    fn granting_only_what_one_holds_never_escalates(world in world(), requests in proptest::collection::vec(request(), 1..4)) {
        // Whatever rules a user holds in a namespace, granting exactly those is not escalation,
        // and every request a covered grant would allow, the user is allowed already.
        let store = build(&world);
        for attrs in &requests {
            let (held, _) = rules_for(&store, &attrs.user, &attrs.namespace);
            prop_assert_eq!(confirm_no_escalation(&store, &attrs.user, &attrs.namespace, &held), Ok(()));
            let valid: Vec<PolicyRule> = held.iter().filter(|r| !r.verbs.is_empty()).cloned().collect();
            if covers(&held, &valid).0 && valid.iter().any(|r| rule_allows(attrs, r)) {
                prop_assert_eq!(authorize(&store, attrs), Decision::Allow);
            }
        }
    }
}
