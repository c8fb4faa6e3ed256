//! Authorization, as the API server's RBAC authorizer decides it: who may do what, where.
//!
//! A request is described by [`Attributes`] (the user and their groups, the verb, the API group,
//! resource, subresource, namespace and object name) and [`authorize`] answers
//! [`Decision::Allow`] or [`Decision::Deny`] with the message the API server returns
//! ([`forbidden_message`]). The permissions come from the RBAC objects in the [`Store`]
//! (`Role`, `ClusterRole`, `RoleBinding`, `ClusterRoleBinding`), evaluated as
//! plugin/pkg/auth/authorizer/rbac/rbac.go and pkg/registry/rbac/validation/rule.go evaluate
//! them:
//!
//! - members of the group `system:masters` may do everything, before RBAC is consulted (the API
//!   server's privileged-group authorizer, pkg/kubeapiserver/authorizer/config.go);
//! - every ClusterRoleBinding applies in every namespace and at the cluster scope;
//! - a RoleBinding applies only to requests in its own namespace, and may grant a Role of that
//!   namespace or a ClusterRole;
//! - a subject matches a user by name (`User`), by group membership (`Group`), or as the service
//!   account user `system:serviceaccount:<namespace>:<name>` (`ServiceAccount`, whose namespace
//!   in a RoleBinding defaults to the binding's);
//! - permissions only add up: there is no deny rule, and a binding to a missing role grants
//!   nothing (the error is reported in the denial, as Kubernetes reports it).
//!
//! Writes of RBAC objects are also checked against privilege escalation
//! ([`confirm_no_escalation`], [`check_escalation`]): a user may only grant what they hold.
//! [`bootstrap_policy`] gives the built-in roles and bindings.
//!
//! Lookups are scoped as Kubernetes' listers scope them: the store keeps objects ordered by kind
//! and namespace, so a request reads the ClusterRoleBindings and only the RoleBindings of its own
//! namespace, and fetches each referenced role by key; it never scans other kinds or namespaces.
//!
//! ```
//! use flotilla_model::auth::{self, Attributes, Decision, UserInfo};
//! use flotilla_model::api::{RoleBinding, RoleRef, Subject};
//! use flotilla_model::store::{Store, StoreConfig};
//! use flotilla_model::{Kind, Time};
//!
//! let mut store = Store::new(StoreConfig::default());
//! for object in auth::bootstrap_policy() {
//!     store.create(object, Time::ZERO).unwrap();
//! }
//! let ns = flotilla_model::api::Namespace {
//!     metadata: flotilla_model::ObjectMeta::named("", "team-a"),
//!     ..Default::default()
//! };
//! store.create(ns.into(), Time::ZERO).unwrap();
//! let binding = RoleBinding::new("team-a", "alice-edit", RoleRef::cluster_role("edit"),
//!     vec![Subject::user("alice")]);
//! store.create(binding.into(), Time::ZERO).unwrap();
//!
//! let alice = UserInfo::new("alice", &[]);
//! let create = |ns: &str| Attributes::for_kind(&alice, "create", Kind::Deployment, ns, "");
//! assert_eq!(auth::authorize(&store, &create("team-a")), Decision::Allow);
//! assert_eq!(
//!     auth::authorize(&store, &create("team-b")),
//!     Decision::Deny("deployments.apps is forbidden: User \"alice\" cannot create resource \
//!         \"deployments\" in API group \"apps\" in the namespace \"team-b\"".into()),
//! );
//! ```

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use crate::api::{
    ClusterRole, ClusterRoleBinding, PolicyRule, RoleRef, Subject, GROUP_KIND, GROUP_NAME,
    SERVICE_ACCOUNT_KIND, USER_KIND, WILDCARD,
};
use crate::meta::ObjectMeta;
use crate::object::{Kind, Object};
use crate::store::Store;

/// The superuser group: its members may do anything (`user.SystemPrivilegedGroup`).
pub const SYSTEM_MASTERS: &str = "system:masters";
/// The group of every authenticated user (`user.AllAuthenticated`).
pub const SYSTEM_AUTHENTICATED: &str = "system:authenticated";
/// The group of every kubelet (`user.NodesGroup`).
pub const SYSTEM_NODES: &str = "system:nodes";
/// The user name prefix of kubelets: `system:node:<node name>`.
pub const NODE_USER_PREFIX: &str = "system:node:";
/// The scheduler's user (`user.KubeScheduler`).
pub const KUBE_SCHEDULER: &str = "system:kube-scheduler";
/// The controller manager's user (`user.KubeControllerManager`).
pub const KUBE_CONTROLLER_MANAGER: &str = "system:kube-controller-manager";
/// The service proxy's user (`user.KubeProxy`).
pub const KUBE_PROXY: &str = "system:kube-proxy";
/// The user name prefix of service accounts: `system:serviceaccount:<namespace>:<name>`.
pub const SERVICE_ACCOUNT_USER_PREFIX: &str = "system:serviceaccount:";
/// The group of every service account.
pub const SERVICE_ACCOUNTS_GROUP: &str = "system:serviceaccounts";
/// The prefix of the names of the per-controller ClusterRoles (`system:controller:<name>`),
/// each bound to the service account `kube-system/<name>`.
pub const CONTROLLER_ROLE_PREFIX: &str = "system:controller:";

/// Who makes a request: a user name and the groups the user belongs to.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct UserInfo {
    /// The user name (`alice`, `system:kube-scheduler`, `system:serviceaccount:ns:sa`).
    pub name: String,
    /// The groups (`system:masters`, `system:nodes`, …).
    pub groups: Vec<String>,
}

impl UserInfo {
    /// A user with a name and groups.
    pub fn new(name: &str, groups: &[&str]) -> UserInfo {
        UserInfo {
            name: name.into(),
            groups: groups.iter().map(|g| (*g).to_string()).collect(),
        }
    }

    /// The user a service account acts as (k8s.io/apiserver/pkg/authentication/serviceaccount,
    /// `MakeUsername` and `MakeGroupNames`).
    pub fn service_account(namespace: &str, name: &str) -> UserInfo {
        UserInfo {
            name: format!("{SERVICE_ACCOUNT_USER_PREFIX}{namespace}:{name}"),
            groups: vec![
                SERVICE_ACCOUNTS_GROUP.into(),
                format!("{SERVICE_ACCOUNTS_GROUP}:{namespace}"),
                SYSTEM_AUTHENTICATED.into(),
            ],
        }
    }

    /// The user the kubelet of `node` acts as: `system:node:<node>` in `system:nodes`.
    pub fn node(node: &str) -> UserInfo {
        UserInfo {
            name: format!("{NODE_USER_PREFIX}{node}"),
            groups: vec![SYSTEM_NODES.into(), SYSTEM_AUTHENTICATED.into()],
        }
    }

    /// Whether the user is in `group`.
    pub fn in_group(&self, group: &str) -> bool {
        self.groups.iter().any(|g| g == group)
    }
}

/// What a request wants to do (k8s.io/apiserver/pkg/authorization/authorizer `Attributes`).
///
/// A resource request names a verb (`get`, `list`, `watch`, `create`, `update`, `patch`,
/// `delete`, `deletecollection`, or a special verb such as `bind` or `escalate`), the API group
/// (`""` for the core group), the plural resource, optionally a subresource (`log`, `status`,
/// `scale`), the namespace (empty for cluster-scoped resources and for requests across all
/// namespaces) and the object name (empty for `list`, `watch` of a collection and `create`, as
/// the API server leaves it). A non-resource request names a verb and a URL path.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Attributes {
    /// Who asks.
    pub user: UserInfo,
    /// The verb.
    pub verb: String,
    /// The API group of the resource.
    pub api_group: String,
    /// The plural resource (`pods`).
    pub resource: String,
    /// The subresource (`log`), or empty.
    pub subresource: String,
    /// The namespace, or empty.
    pub namespace: String,
    /// The object name, or empty.
    pub name: String,
    /// Whether this is a resource request; otherwise [`path`](Self::path) is what is asked for.
    pub resource_request: bool,
    /// The URL path of a non-resource request (`/healthz`).
    pub path: String,
}

impl Attributes {
    /// A resource request.
    pub fn resource(
        user: &UserInfo,
        verb: &str,
        api_group: &str,
        resource: &str,
        namespace: &str,
        name: &str,
    ) -> Attributes {
        Attributes {
            user: user.clone(),
            verb: verb.into(),
            api_group: api_group.into(),
            resource: resource.into(),
            subresource: String::new(),
            namespace: namespace.into(),
            name: name.into(),
            resource_request: true,
            path: String::new(),
        }
    }

    /// A resource request on a kind Flotilla has; the namespace is ignored (cleared) for
    /// cluster-scoped kinds, as the API server's request info has none for them.
    pub fn for_kind(
        user: &UserInfo,
        verb: &str,
        kind: Kind,
        namespace: &str,
        name: &str,
    ) -> Attributes {
        let namespace = if kind.namespaced() { namespace } else { "" };
        Attributes::resource(user, verb, kind.group(), kind.plural(), namespace, name)
    }

    /// This request, on `subresource` of the resource.
    pub fn with_subresource(mut self, subresource: &str) -> Attributes {
        self.subresource = subresource.into();
        self
    }

    /// A non-resource request for `path`.
    pub fn non_resource(user: &UserInfo, verb: &str, path: &str) -> Attributes {
        Attributes {
            user: user.clone(),
            verb: verb.into(),
            path: path.into(),
            ..Attributes::default()
        }
    }
}

/// The answer to a request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Decision {
    /// The request may proceed.
    Allow,
    /// The request is refused; the message is what the API server returns with its 403
    /// ([`forbidden_message`], followed by `: RBAC: …` when bindings referred to missing roles).
    Deny(String),
}

/// `RuleAllows` (plugin/pkg/auth/authorizer/rbac/rbac.go): whether `rule` allows the request.
pub fn rule_allows(attrs: &Attributes, rule: &PolicyRule) -> bool {
    if attrs.resource_request {
        rule.verb_matches(&attrs.verb)
            && rule.api_group_matches(&attrs.api_group)
            && rule.resource_matches(&attrs.resource, &attrs.subresource)
            && rule.resource_name_matches(&attrs.name)
    } else {
        rule.verb_matches(&attrs.verb) && rule.non_resource_url_matches(&attrs.path)
    }
}

/// `appliesToUser` (pkg/registry/rbac/validation/rule.go): whether a binding subject names the
/// user. A service account subject without a namespace takes the binding's (`namespace`).
pub fn applies_to_user(user: &UserInfo, subject: &Subject, namespace: &str) -> bool {
    match subject.kind.as_str() {
        USER_KIND => user.name == subject.name,
        GROUP_KIND => user.in_group(&subject.name),
        SERVICE_ACCOUNT_KIND => {
            let sa_namespace = if subject.namespace.is_empty() {
                namespace
            } else {
                &subject.namespace
            };
            // serviceaccount.MatchesUsername: "system:serviceaccount:" + ns + ":" + name.
            !sa_namespace.is_empty()
                && user
                    .name
                    .strip_prefix(SERVICE_ACCOUNT_USER_PREFIX)
                    .and_then(|rest| rest.strip_prefix(sa_namespace))
                    .and_then(|rest| rest.strip_prefix(':'))
                    == Some(subject.name.as_str())
        }
        _ => false,
    }
}

/// `GetRoleReferenceRules`: the role a binding's role reference names (its rules are
/// [`rules_of`]), or the error Kubernetes' listers give for a role that does not exist.
fn role_reference(
    store: &Store,
    role_ref: &RoleRef,
    binding_namespace: &str,
) -> Result<Arc<Object>, String> {
    let (kind, namespace, what) = match role_ref.kind.as_str() {
        "Role" => (Kind::Role, binding_namespace, "role"),
        "ClusterRole" => (Kind::ClusterRole, "", "clusterrole"),
        other => return Err(format!("unsupported role reference kind: {other:?}")),
    };
    store
        .get(kind, namespace, &role_ref.name)
        .ok_or_else(|| format!("{what}.{GROUP_NAME} {:?} not found", role_ref.name))
}

/// The rules of a Role or ClusterRole; none for other objects.
fn rules_of(object: &Object) -> &[PolicyRule] {
    match object {
        Object::Role(role) => &role.rules,
        Object::ClusterRole(role) => &role.rules,
        _ => &[],
    }
}

/// `VisitRulesFor`: calls `visit` with every rule that applies to `user` in `namespace` (the
/// ClusterRoleBindings first, then the RoleBindings of `namespace`), and `errors` collects the
/// role references that could not be resolved. Stops when `visit` returns `false`.
fn visit_rules_for(
    store: &Store,
    user: &UserInfo,
    namespace: &str,
    errors: &mut Vec<String>,
    visit: &mut dyn FnMut(&PolicyRule) -> bool,
) {
    for object in store.iter_kind(Kind::ClusterRoleBinding) {
        let Object::ClusterRoleBinding(binding) = object.as_ref() else {
            continue;
        };
        if !binding
            .subjects
            .iter()
            .any(|s| applies_to_user(user, s, ""))
        {
            continue;
        }
        match role_reference(store, &binding.role_ref, "") {
            Ok(role) => {
                for rule in rules_of(&role) {
                    if !visit(rule) {
                        return;
                    }
                }
            }
            Err(e) => errors.push(e),
        }
    }
    if namespace.is_empty() {
        return;
    }
    for object in store.iter_namespace(Kind::RoleBinding, namespace) {
        let Object::RoleBinding(binding) = object.as_ref() else {
            continue;
        };
        if !binding
            .subjects
            .iter()
            .any(|s| applies_to_user(user, s, namespace))
        {
            continue;
        }
        match role_reference(store, &binding.role_ref, namespace) {
            Ok(role) => {
                for rule in rules_of(&role) {
                    if !visit(rule) {
                        return;
                    }
                }
            }
            Err(e) => errors.push(e),
        }
    }
}

/// `RulesFor`: every rule that applies to `user` in `namespace` (empty: cluster-wide rules only),
/// with the resolution errors met on the way.
pub fn rules_for(
    store: &Store,
    user: &UserInfo,
    namespace: &str,
) -> (Vec<PolicyRule>, Vec<String>) {
    let mut rules = Vec::new();
    let mut errors = Vec::new();
    visit_rules_for(store, user, namespace, &mut errors, &mut |rule| {
        rules.push(rule.clone());
        true
    });
    (rules, errors)
}

/// `utilerrors.NewAggregate(...).Error()`: one message alone, several in brackets, duplicates
/// dropped.
fn aggregate(errors: &[String]) -> String {
    let mut seen = BTreeSet::new();
    let unique: Vec<&String> = errors.iter().filter(|e| seen.insert(*e)).collect();
    match unique.as_slice() {
        [one] => (*one).clone(),
        many => format!(
            "[{}]",
            many.iter()
                .map(|e| e.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        ),
    }
}

/// Decides a request as the API server's authorizer chain does for Flotilla: `system:masters`
/// is allowed everything, and everyone else gets what RBAC grants (`RBACAuthorizer.Authorize`).
pub fn authorize(store: &Store, attrs: &Attributes) -> Decision {
    if attrs.user.in_group(SYSTEM_MASTERS) {
        return Decision::Allow;
    }
    let mut allowed = false;
    let mut errors = Vec::new();
    visit_rules_for(
        store,
        &attrs.user,
        &attrs.namespace,
        &mut errors,
        &mut |rule| {
            allowed = rule_allows(attrs, rule);
            !allowed
        },
    );
    if allowed {
        return Decision::Allow;
    }
    let mut message = forbidden_message(attrs);
    if !errors.is_empty() {
        // responsewriters.Forbidden appends the authorizer's reason, "RBAC: <errors>".
        message.push_str(&format!(": RBAC: {}", aggregate(&errors)));
    }
    Decision::Deny(message)
}

/// The message of the API server's 403 for `attrs`, worded as
/// staging/src/k8s.io/apiserver/pkg/endpoints/handlers/responsewriters/errors.go
/// (`forbiddenMessage`) words it, inside `apierrors.NewForbidden`'s
/// `<resource>.<group> ["<name>"] is forbidden: ` (staging/src/k8s.io/apimachinery/pkg/api/
/// errors/errors.go):
///
/// `pods is forbidden: User "alice" cannot create resource "pods" in API group "" in the
/// namespace "team-b"`, or `... at the cluster scope` without a namespace, with `pods/log` for a
/// subresource, and `forbidden: User "alice" cannot get path "/healthz"` for a non-resource URL.
pub fn forbidden_message(attrs: &Attributes) -> String {
    let user = &attrs.user.name;
    let verb = &attrs.verb;
    if !attrs.resource_request {
        return format!(
            "forbidden: User {user:?} cannot {verb} path {:?}",
            attrs.path
        );
    }
    let mut resource = attrs.resource.clone();
    if !attrs.subresource.is_empty() {
        resource = format!("{resource}/{}", attrs.subresource);
    }
    let detail = if attrs.namespace.is_empty() {
        format!(
            "User {user:?} cannot {verb} resource {resource:?} in API group {:?} at the cluster scope",
            attrs.api_group
        )
    } else {
        format!(
            "User {user:?} cannot {verb} resource {resource:?} in API group {:?} in the namespace {:?}",
            attrs.api_group, attrs.namespace
        )
    };
    // NewForbidden's qualified resource is the resource (not the subresource) and its group.
    let qualified = if attrs.api_group.is_empty() {
        attrs.resource.clone()
    } else {
        format!("{}.{}", attrs.resource, attrs.api_group)
    };
    if qualified.is_empty() {
        format!("forbidden: {detail}")
    } else if attrs.name.is_empty() {
        format!("{qualified} is forbidden: {detail}")
    } else {
        format!("{qualified} {:?} is forbidden: {detail}", attrs.name)
    }
}

// ---------------------------------------------------------------------------------------------
// Escalation checks (pkg/registry/rbac/validation/rule.go, pkg/registry/rbac/escalation_check.go,
// staging/src/k8s.io/component-helpers/auth/rbac/validation/policy_comparator.go).
// ---------------------------------------------------------------------------------------------

/// `BreakdownRule`: the rule as rules of one group, one resource, one verb and at most one
/// resource name each (and one URL and verb for non-resource rules).
pub fn breakdown_rule(rule: &PolicyRule) -> Vec<PolicyRule> {
    let mut out = Vec::new();
    for group in &rule.api_groups {
        for resource in &rule.resources {
            for verb in &rule.verbs {
                let one = PolicyRule {
                    verbs: vec![verb.clone()],
                    api_groups: vec![group.clone()],
                    resources: vec![resource.clone()],
                    ..PolicyRule::default()
                };
                if rule.resource_names.is_empty() {
                    out.push(one);
                } else {
                    for name in &rule.resource_names {
                        out.push(PolicyRule {
                            resource_names: vec![name.clone()],
                            ..one.clone()
                        });
                    }
                }
            }
        }
    }
    for url in &rule.non_resource_urls {
        for verb in &rule.verbs {
            out.push(PolicyRule {
                verbs: vec![verb.clone()],
                non_resource_urls: vec![url.clone()],
                ..PolicyRule::default()
            });
        }
    }
    out
}

fn has(set: &[String], item: &str) -> bool {
    set.iter().any(|s| s == item)
}

fn has_all(set: &[String], items: &[String]) -> bool {
    items.iter().all(|i| has(set, i))
}

/// `resourceCoversAll`: `*`, every resource exactly, or `*/sub` for each `resource/sub`.
fn resource_covers_all(owner: &[String], wanted: &[String]) -> bool {
    if has(owner, WILDCARD) || has_all(owner, wanted) {
        return true;
    }
    wanted.iter().all(|path| {
        has(owner, path)
            || path
                .split_once('/')
                .is_some_and(|(_, sub)| has(owner, &format!("*/{sub}")))
    })
}

/// `nonResourceURLCovers`.
fn non_resource_url_covers(owner: &str, wanted: &str) -> bool {
    owner == wanted
        || owner
            .strip_suffix('*')
            .is_some_and(|p| wanted.starts_with(p.trim_end_matches('*')))
}

/// `ruleCovers`: whether `owner` covers the broken-down rule `sub`.
pub fn rule_covers(owner: &PolicyRule, sub: &PolicyRule) -> bool {
    let verbs = has(&owner.verbs, WILDCARD) || has_all(&owner.verbs, &sub.verbs);
    let groups = has(&owner.api_groups, WILDCARD) || has_all(&owner.api_groups, &sub.api_groups);
    let resources = resource_covers_all(&owner.resources, &sub.resources);
    let urls = sub.non_resource_urls.iter().all(|path| {
        owner
            .non_resource_urls
            .iter()
            .any(|o| non_resource_url_covers(o, path))
    });
    let names = if sub.resource_names.is_empty() {
        owner.resource_names.is_empty()
    } else {
        owner.resource_names.is_empty() || has_all(&owner.resource_names, &sub.resource_names)
    };
    verbs && groups && resources && names && urls
}

/// `Covers`: whether `owner` covers every rule of `servant`, and the broken-down rules it does
/// not cover.
pub fn covers(owner: &[PolicyRule], servant: &[PolicyRule]) -> (bool, Vec<PolicyRule>) {
    let missing: Vec<PolicyRule> = servant
        .iter()
        .flat_map(breakdown_rule)
        .filter(|sub| !owner.iter().any(|o| rule_covers(o, sub)))
        .collect();
    (missing.is_empty(), missing)
}

/// `CompactRules` (pkg/registry/rbac/validation/policy_compact.go): merges simple rules (one
/// group, one resource, at most one name) that differ only in their verbs.
fn compact_rules(rules: Vec<PolicyRule>) -> Vec<PolicyRule> {
    let mut compacted = Vec::new();
    let mut simple: BTreeMap<(String, String, Option<String>), PolicyRule> = BTreeMap::new();
    for rule in rules {
        let is_simple = rule.resource_names.len() <= 1
            && rule.non_resource_urls.is_empty()
            && rule.api_groups.len() == 1
            && rule.resources.len() == 1;
        if !is_simple {
            compacted.push(rule);
            continue;
        }
        let key = (
            rule.api_groups[0].clone(),
            rule.resources[0].clone(),
            rule.resource_names.first().cloned(),
        );
        match simple.get_mut(&key) {
            Some(existing) => {
                for verb in rule.verbs {
                    if !has(&existing.verbs, &verb) {
                        existing.verbs.push(verb);
                    }
                }
            }
            None => {
                simple.insert(key, rule);
            }
        }
    }
    compacted.extend(simple.into_values());
    compacted
}

/// `ConfirmNoEscalation`: whether `user`, acting in `namespace` (empty for cluster-scoped
/// objects), already holds every permission of `rules`. The error is Kubernetes' message:
/// `user "alice" (groups=["team-a"]) is attempting to grant RBAC permissions not currently
/// held:` followed by one line per missing (compacted) rule, sorted.
pub fn confirm_no_escalation(
    store: &Store,
    user: &UserInfo,
    namespace: &str,
    rules: &[PolicyRule],
) -> Result<(), String> {
    let (owner_rules, errors) = rules_for(store, user, namespace);
    let (covered, missing) = covers(&owner_rules, rules);
    if covered {
        return Ok(());
    }
    let lines: BTreeSet<String> = compact_rules(missing)
        .iter()
        .map(PolicyRule::compact_string)
        .collect();
    let mut message = format!(
        "user {:?} (groups={}) is attempting to grant RBAC permissions not currently held:\n{}",
        user.name,
        crate::api::go_quoted_list(&user.groups),
        lines.into_iter().collect::<Vec<_>>().join("\n")
    );
    if !errors.is_empty() {
        message.push_str(&format!("; resolution errors: [{}]", errors.join(" ")));
    }
    Err(message)
}

/// The rules granted by a ClusterRole with an aggregation rule: everything, since the aggregated
/// rules are not known in advance (`fullAuthority` in pkg/registry/rbac/clusterrole/policybased).
fn full_authority() -> Vec<PolicyRule> {
    vec![
        PolicyRule::new(&[WILDCARD])
            .groups(&[WILDCARD])
            .resources(&[WILDCARD]),
        PolicyRule::new(&[WILDCARD]).urls(&[WILDCARD]),
    ]
}

/// The escalation checks the API server's RBAC storage runs when `user` creates or updates an
/// RBAC object (pkg/registry/rbac/{role,clusterrole,rolebinding,clusterrolebinding}/policybased):
///
/// - members of `system:masters` may write anything (`EscalationAllowed`);
/// - a Role or ClusterRole may be written by a user allowed the `escalate` verb on it
///   (`RoleEscalationAuthorized`), or whose own permissions cover its rules; a ClusterRole with
///   an `aggregationRule` needs full authority;
/// - a RoleBinding or ClusterRoleBinding may be written by a user allowed the `bind` verb on the
///   referenced role (`BindingAuthorized`), or whose own permissions cover the role's rules (a
///   binding to a missing role is refused with the lookup error);
/// - an update (`old` given) that only changes owner references or finalizers is not checked
///   (`IsOnlyMutatingGCFields`);
/// - other kinds are not checked here.
///
/// The error is the API server's 403 message:
/// `rolebindings.rbac.authorization.k8s.io "x" is forbidden: user "alice" (groups=[...]) is
/// attempting to grant RBAC permissions not currently held:\n...`.
pub fn check_escalation(
    store: &Store,
    user: &UserInfo,
    object: &Object,
    old: Option<&Object>,
) -> Result<(), String> {
    if user.in_group(SYSTEM_MASTERS) {
        return Ok(());
    }
    let kind = object.kind();
    let meta = object.metadata();
    let namespace = if kind.namespaced() {
        meta.namespace.as_str()
    } else {
        ""
    };
    let forbidden = |detail: String| {
        format!(
            "{}.{GROUP_NAME} {:?} is forbidden: {detail}",
            kind.plural(),
            meta.name
        )
    };
    let allowed_verb = |verb: &str, resource: &str, name: &str| {
        let attrs = Attributes::resource(user, verb, GROUP_NAME, resource, namespace, name);
        authorize(store, &attrs) == Decision::Allow
    };
    if old.is_some_and(|old| is_only_mutating_gc_fields(object, old)) {
        return Ok(());
    }
    let role_rules = |rules: &[PolicyRule]| {
        if allowed_verb("escalate", kind.plural(), &meta.name) {
            return Ok(());
        }
        confirm_no_escalation(store, user, namespace, rules).map_err(forbidden)
    };
    let binding = |role_ref: &RoleRef| {
        let resource = if role_ref.kind == "Role" {
            "roles"
        } else {
            "clusterroles"
        };
        if allowed_verb("bind", resource, &role_ref.name) {
            return Ok(());
        }
        let role = role_reference(store, role_ref, namespace)?;
        confirm_no_escalation(store, user, namespace, rules_of(&role)).map_err(forbidden)
    };
    match object {
        Object::Role(role) => role_rules(&role.rules),
        Object::ClusterRole(role) if role.aggregation_rule.is_some() => {
            role_rules(&full_authority())
        }
        Object::ClusterRole(role) => role_rules(&role.rules),
        Object::RoleBinding(b) => binding(&b.role_ref),
        Object::ClusterRoleBinding(b) => binding(&b.role_ref),
        _ => Ok(()),
    }
}

/// `IsOnlyMutatingGCFields` (pkg/registry/rbac/helpers.go): whether `new` differs from `old`
/// only in owner references and finalizers, which the garbage collector may change freely.
fn is_only_mutating_gc_fields(new: &Object, old: &Object) -> bool {
    let mut copy = new.clone();
    let meta = copy.metadata_mut();
    meta.owner_references
        .clone_from(&old.metadata().owner_references);
    meta.finalizers.clone_from(&old.metadata().finalizers);
    copy == *old
}

// ---------------------------------------------------------------------------------------------
// Bootstrap policy (plugin/pkg/auth/authorizer/rbac/bootstrappolicy/policy.go and
// controller_policy.go), restricted to the resources Flotilla serves.
// ---------------------------------------------------------------------------------------------

const READ: &[&str] = &["get", "list", "watch"];
const WRITE: &[&str] = &["create", "update", "patch", "delete", "deletecollection"];
const READ_WRITE: &[&str] = &[
    "get",
    "list",
    "watch",
    "create",
    "update",
    "patch",
    "delete",
    "deletecollection",
];
const READ_UPDATE: &[&str] = &["get", "list", "watch", "update", "patch"];

fn rule(verbs: &[&str], groups: &[&str], resources: &[&str]) -> PolicyRule {
    PolicyRule::new(verbs).groups(groups).resources(resources)
}

/// `eventsRule`: create, update and patch events (core and `events.k8s.io`).
fn events_rule() -> PolicyRule {
    rule(
        &["create", "update", "patch"],
        &["", "events.k8s.io"],
        &["events"],
    )
}

/// The `system:aggregate-to-view` rules for Flotilla's kinds.
fn view_rules() -> Vec<PolicyRule> {
    vec![
        rule(
            READ,
            &[""],
            &[
                "pods",
                "services",
                "services/status",
                "persistentvolumeclaims",
                "persistentvolumeclaims/status",
                "configmaps",
            ],
        ),
        rule(
            READ,
            &[""],
            &[
                "limitranges",
                "resourcequotas",
                "events",
                "pods/status",
                "resourcequotas/status",
                "namespaces/status",
                "pods/log",
            ],
        ),
        // Reading namespaces at the namespace scope means reading that one namespace.
        rule(READ, &[""], &["namespaces"]),
        rule(
            READ,
            &["apps"],
            &[
                "statefulsets",
                "statefulsets/status",
                "statefulsets/scale",
                "daemonsets",
                "daemonsets/status",
                "deployments",
                "deployments/status",
                "deployments/scale",
                "replicasets",
                "replicasets/status",
                "replicasets/scale",
            ],
        ),
        rule(
            READ,
            &["autoscaling"],
            &[
                "horizontalpodautoscalers",
                "horizontalpodautoscalers/status",
            ],
        ),
        rule(
            READ,
            &["batch"],
            &["jobs", "cronjobs", "cronjobs/status", "jobs/status"],
        ),
        rule(
            READ,
            &["policy"],
            &["poddisruptionbudgets", "poddisruptionbudgets/status"],
        ),
    ]
}

/// The `system:aggregate-to-edit` rules for Flotilla's kinds (reads of the escalating
/// resources, writes of the user-level ones; no `/status`, quotas or limits).
fn edit_only_rules() -> Vec<PolicyRule> {
    vec![
        rule(
            READ,
            &[""],
            &[
                "pods/attach",
                "pods/proxy",
                "pods/exec",
                "pods/portforward",
                "secrets",
                "services/proxy",
            ],
        ),
        rule(
            WRITE,
            &[""],
            &[
                "pods",
                "pods/attach",
                "pods/proxy",
                "pods/exec",
                "pods/portforward",
            ],
        ),
        rule(
            WRITE,
            &[""],
            &[
                "services",
                "services/proxy",
                "persistentvolumeclaims",
                "configmaps",
                "secrets",
            ],
        ),
        rule(
            WRITE,
            &["apps"],
            &[
                "statefulsets",
                "statefulsets/scale",
                "daemonsets",
                "deployments",
                "deployments/scale",
                "deployments/rollback",
                "replicasets",
                "replicasets/scale",
            ],
        ),
        rule(WRITE, &["autoscaling"], &["horizontalpodautoscalers"]),
        rule(WRITE, &["batch"], &["jobs", "cronjobs"]),
        rule(WRITE, &["policy"], &["poddisruptionbudgets"]),
    ]
}

/// The `system:aggregate-to-admin` rules for Flotilla's kinds.
fn admin_only_rules() -> Vec<PolicyRule> {
    vec![rule(READ_WRITE, &[GROUP_NAME], &["roles", "rolebindings"])]
}

/// `NodeRules`: what a kubelet needs, for Flotilla's resources.
fn node_rules() -> Vec<PolicyRule> {
    vec![
        rule(READ, &[""], &["services"]),
        rule(&["create", "get", "list", "watch"], &[""], &["nodes"]),
        rule(&["update", "patch"], &[""], &["nodes/status"]),
        rule(&["update", "patch"], &[""], &["nodes"]),
        rule(&["create", "update", "patch"], &[""], &["events"]),
        rule(READ, &[""], &["pods"]),
        rule(&["create", "delete"], &[""], &["pods"]),
        rule(&["update", "patch"], &[""], &["pods/status"]),
        rule(&["create"], &[""], &["pods/eviction"]),
        rule(READ, &[""], &["secrets", "configmaps"]),
        rule(
            &["get"],
            &[""],
            &["persistentvolumeclaims", "persistentvolumes"],
        ),
        rule(
            &["get", "update", "patch"],
            &[""],
            &["persistentvolumeclaims/status"],
        ),
    ]
}

fn scheduler_rules() -> Vec<PolicyRule> {
    vec![
        events_rule(),
        rule(READ, &[""], &["nodes"]),
        rule(&["get", "list", "watch", "delete"], &[""], &["pods"]),
        rule(&["create"], &[""], &["pods/binding", "bindings"]),
        rule(&["patch", "update"], &[""], &["pods/status"]),
        rule(READ, &[""], &["services"]),
        rule(READ, &["apps"], &["replicasets", "statefulsets"]),
        rule(READ, &["policy"], &["poddisruptionbudgets"]),
        rule(
            READ,
            &[""],
            &["persistentvolumeclaims", "persistentvolumes"],
        ),
        // Pod affinity namespace selectors.
        rule(READ, &[""], &["namespaces"]),
    ]
}

fn volume_scheduler_rules() -> Vec<PolicyRule> {
    vec![
        rule(READ_UPDATE, &[""], &["persistentvolumes"]),
        rule(READ, &["storage.k8s.io"], &["storageclasses"]),
        rule(READ_UPDATE, &[""], &["persistentvolumeclaims"]),
    ]
}

fn controller_manager_rules() -> Vec<PolicyRule> {
    vec![
        events_rule(),
        rule(&["create"], &[""], &["secrets"]),
        rule(&["delete"], &[""], &["secrets"]),
        rule(&["get"], &[""], &["namespaces", "secrets", "configmaps"]),
        rule(&["update"], &[""], &["secrets"]),
        // Every shared informer.
        rule(&["list", "watch"], &[WILDCARD], &[WILDCARD]),
    ]
}

/// The `system:controller:<name>` roles of the controllers Flotilla runs (controller_policy.go).
fn controller_roles() -> Vec<(&'static str, Vec<PolicyRule>)> {
    vec![
        (
            "cronjob-controller",
            vec![
                rule(
                    &["get", "list", "watch", "update"],
                    &["batch"],
                    &["cronjobs"],
                ),
                rule(
                    &[
                        "get", "list", "watch", "create", "update", "delete", "patch",
                    ],
                    &["batch"],
                    &["jobs"],
                ),
                rule(&["update"], &["batch"], &["cronjobs/status"]),
                rule(&["update"], &["batch"], &["cronjobs/finalizers"]),
                rule(&["list", "watch", "delete"], &[""], &["pods"]),
                events_rule(),
            ],
        ),
        (
            "daemon-set-controller",
            vec![
                rule(READ, &["apps"], &["daemonsets"]),
                rule(&["update"], &["apps"], &["daemonsets/status"]),
                rule(&["update"], &["apps"], &["daemonsets/finalizers"]),
                rule(&["list", "watch"], &[""], &["nodes"]),
                rule(
                    &["list", "watch", "create", "delete", "patch"],
                    &[""],
                    &["pods"],
                ),
                rule(&["create"], &[""], &["pods/binding"]),
                events_rule(),
            ],
        ),
        (
            "deployment-controller",
            vec![
                rule(
                    &["get", "list", "watch", "update"],
                    &["apps"],
                    &["deployments"],
                ),
                rule(&["update"], &["apps"], &["deployments/status"]),
                rule(&["update"], &["apps"], &["deployments/finalizers"]),
                rule(
                    &[
                        "get", "list", "watch", "create", "update", "patch", "delete",
                    ],
                    &["apps"],
                    &["replicasets"],
                ),
                rule(&["get", "list", "watch", "update"], &[""], &["pods"]),
                events_rule(),
            ],
        ),
        (
            "disruption-controller",
            vec![
                rule(
                    READ,
                    &["apps"],
                    &["deployments", "replicasets", "statefulsets"],
                ),
                rule(READ, &["policy"], &["poddisruptionbudgets"]),
                rule(&["update"], &["policy"], &["poddisruptionbudgets/status"]),
                rule(&["patch", "update"], &[""], &["pods/status"]),
                rule(&["get"], &[WILDCARD], &["*/scale"]),
                events_rule(),
            ],
        ),
        (
            "endpointslice-controller",
            vec![
                rule(READ, &[""], &["services", "pods", "nodes"]),
                rule(&["update"], &[""], &["services/finalizers"]),
                rule(
                    &["get", "list", "watch", "create", "update", "delete"],
                    &["discovery.k8s.io"],
                    &["endpointslices"],
                ),
                events_rule(),
            ],
        ),
        (
            "generic-garbage-collector",
            vec![
                rule(
                    &["get", "list", "watch", "patch", "update", "delete"],
                    &[WILDCARD],
                    &[WILDCARD],
                ),
                events_rule(),
            ],
        ),
        (
            "horizontal-pod-autoscaler",
            vec![
                rule(READ, &["autoscaling"], &["horizontalpodautoscalers"]),
                rule(
                    &["update"],
                    &["autoscaling"],
                    &["horizontalpodautoscalers/status"],
                ),
                rule(&["get", "update"], &[WILDCARD], &["*/scale"]),
                rule(&["list", "watch"], &[""], &["pods"]),
                events_rule(),
            ],
        ),
        (
            "job-controller",
            vec![
                rule(
                    &["get", "list", "watch", "update", "patch"],
                    &["batch"],
                    &["jobs"],
                ),
                rule(&["update"], &["batch"], &["jobs/status"]),
                rule(&["update"], &["batch"], &["jobs/finalizers"]),
                rule(
                    &["list", "watch", "create", "delete", "patch"],
                    &[""],
                    &["pods"],
                ),
                events_rule(),
            ],
        ),
        (
            "namespace-controller",
            vec![
                rule(&["get", "list", "watch", "delete"], &[""], &["namespaces"]),
                rule(
                    &["update"],
                    &[""],
                    &["namespaces/finalize", "namespaces/status"],
                ),
                rule(
                    &["get", "list", "watch", "delete", "deletecollection"],
                    &[WILDCARD],
                    &[WILDCARD],
                ),
            ],
        ),
        (
            "node-controller",
            vec![
                rule(
                    &["get", "list", "watch", "update", "delete", "patch"],
                    &[""],
                    &["nodes"],
                ),
                rule(&["patch", "update"], &[""], &["nodes/status"]),
                rule(&["patch", "update"], &[""], &["pods/status"]),
                rule(&["list", "watch", "get", "delete"], &[""], &["pods"]),
                events_rule(),
            ],
        ),
        (
            "persistent-volume-binder",
            vec![
                rule(
                    &["get", "list", "watch", "update", "create", "delete"],
                    &[""],
                    &["persistentvolumes"],
                ),
                rule(&["update"], &[""], &["persistentvolumes/status"]),
                rule(
                    &["get", "list", "watch", "update"],
                    &[""],
                    &["persistentvolumeclaims"],
                ),
                rule(&["update"], &[""], &["persistentvolumeclaims/status"]),
                rule(
                    &["list", "watch", "get", "create", "delete"],
                    &[""],
                    &["pods"],
                ),
                rule(READ, &["storage.k8s.io"], &["storageclasses"]),
                rule(&["list", "watch"], &[""], &["nodes"]),
                events_rule(),
            ],
        ),
        (
            "pod-garbage-collector",
            vec![
                rule(&["list", "watch", "delete"], &[""], &["pods"]),
                rule(READ, &[""], &["nodes"]),
                rule(&["patch"], &[""], &["pods/status"]),
            ],
        ),
        (
            "replicaset-controller",
            vec![
                rule(
                    &["get", "list", "watch", "update"],
                    &["apps"],
                    &["replicasets"],
                ),
                rule(&["update"], &["apps"], &["replicasets/status"]),
                rule(&["update"], &["apps"], &["replicasets/finalizers"]),
                rule(
                    &["list", "watch", "patch", "create", "delete"],
                    &[""],
                    &["pods"],
                ),
                events_rule(),
            ],
        ),
        (
            "resourcequota-controller",
            vec![
                rule(&["list", "watch"], &[WILDCARD], &[WILDCARD]),
                rule(&["update"], &[""], &["resourcequotas/status"]),
                events_rule(),
            ],
        ),
        (
            "service-controller",
            vec![
                rule(READ, &[""], &["services"]),
                rule(&["patch", "update"], &[""], &["services/status"]),
                rule(&["list", "watch"], &[""], &["nodes"]),
                events_rule(),
            ],
        ),
        (
            "statefulset-controller",
            vec![
                rule(&["list", "watch"], &[""], &["pods"]),
                rule(READ, &["apps"], &["statefulsets"]),
                rule(&["update"], &["apps"], &["statefulsets/status"]),
                rule(&["update"], &["apps"], &["statefulsets/finalizers"]),
                rule(
                    &["get", "create", "delete", "update", "patch"],
                    &[""],
                    &["pods"],
                ),
                rule(
                    &["get", "create", "list", "watch"],
                    &[""],
                    &["persistentvolumeclaims"],
                ),
                rule(&["update", "delete"], &[""], &["persistentvolumeclaims"]),
                rule(&["update"], &[""], &["pods/finalizers"]),
                events_rule(),
            ],
        ),
        (
            "ttl-after-finished-controller",
            vec![
                rule(&["get", "list", "watch", "delete"], &["batch"], &["jobs"]),
                events_rule(),
            ],
        ),
    ]
}

/// The label and annotation Kubernetes puts on its bootstrap roles and bindings
/// (`addDefaultMetadata`).
fn bootstrap_meta(name: &str) -> ObjectMeta {
    let mut meta = ObjectMeta::named("", name);
    meta.labels
        .insert("kubernetes.io/bootstrapping".into(), "rbac-defaults".into());
    meta.annotations.insert(
        "rbac.authorization.kubernetes.io/autoupdate".into(),
        "true".into(),
    );
    meta
}

fn cluster_role(name: &str, rules: Vec<PolicyRule>) -> ClusterRole {
    ClusterRole {
        metadata: bootstrap_meta(name),
        rules,
        aggregation_rule: None,
    }
}

/// An aggregated role as the aggregation controller leaves it: the selector kept, the rules
/// already filled in (`aggregate_label` selects the roles it would aggregate; `own_label`, when
/// set, is the label by which this role is aggregated into the next one).
fn aggregated_role(
    name: &str,
    aggregate_label: &str,
    own_label: Option<&str>,
    rules: Vec<PolicyRule>,
) -> ClusterRole {
    let mut role = cluster_role(name, rules);
    if let Some(label) = own_label {
        role.metadata.labels.insert(label.into(), "true".into());
    }
    role.aggregation_rule = Some(crate::api::AggregationRule {
        cluster_role_selectors: vec![crate::selector::LabelSelector {
            match_labels: [(aggregate_label.to_string(), "true".to_string())].into(),
            ..Default::default()
        }],
    });
    role
}

fn cluster_binding(name: &str, role: &str, subjects: Vec<Subject>) -> ClusterRoleBinding {
    ClusterRoleBinding {
        metadata: bootstrap_meta(name),
        subjects,
        role_ref: RoleRef::cluster_role(role),
    }
}

/// The built-in ClusterRoles and ClusterRoleBindings, as the API server's RBAC post-start hook
/// creates them, restricted to the resources Flotilla serves:
///
/// - `cluster-admin` (everything), bound to the group `system:masters`;
/// - the user-facing `admin`, `edit` and `view`, with their aggregated rules already flattened
///   (`view` ⊂ `edit` ⊂ `admin`; no role grants writes of `/status`, quotas or limit ranges, and
///   only `admin` grants roles and role bindings) — bind them with a RoleBinding per namespace;
/// - `system:kube-scheduler` and `system:volume-scheduler`, bound to the user
///   `system:kube-scheduler`;
/// - `system:kube-controller-manager` (the controller manager's own reads), bound to the user
///   `system:kube-controller-manager`, and one `system:controller:<name>` role per controller,
///   bound to the service account `kube-system/<name>`, which each controller acts as
///   (`--use-service-account-credentials`);
/// - `system:node` bound to the group `system:nodes` (Kubernetes leaves this binding empty and
///   authorizes kubelets with its Node authorizer, which Flotilla does not have), and
///   `system:node-proxier` bound to `system:kube-proxy`.
pub fn bootstrap_policy() -> Vec<Object> {
    let view = view_rules();
    let edit: Vec<PolicyRule> = view.iter().cloned().chain(edit_only_rules()).collect();
    let admin: Vec<PolicyRule> = edit.iter().cloned().chain(admin_only_rules()).collect();
    let mut roles = vec![
        cluster_role(
            "cluster-admin",
            vec![
                rule(&[WILDCARD], &[WILDCARD], &[WILDCARD]),
                PolicyRule::new(&[WILDCARD]).urls(&[WILDCARD]),
            ],
        ),
        aggregated_role(
            "admin",
            "rbac.authorization.k8s.io/aggregate-to-admin",
            None,
            admin,
        ),
        aggregated_role(
            "edit",
            "rbac.authorization.k8s.io/aggregate-to-edit",
            Some("rbac.authorization.k8s.io/aggregate-to-admin"),
            edit,
        ),
        aggregated_role(
            "view",
            "rbac.authorization.k8s.io/aggregate-to-view",
            Some("rbac.authorization.k8s.io/aggregate-to-edit"),
            view,
        ),
        cluster_role("system:node", node_rules()),
        cluster_role(
            "system:node-proxier",
            vec![
                rule(&["list", "watch"], &[""], &["services"]),
                rule(READ, &[""], &["nodes"]),
                events_rule(),
                rule(
                    &["list", "watch"],
                    &["discovery.k8s.io"],
                    &["endpointslices"],
                ),
            ],
        ),
        cluster_role("system:kube-scheduler", scheduler_rules()),
        cluster_role("system:volume-scheduler", volume_scheduler_rules()),
        cluster_role("system:kube-controller-manager", controller_manager_rules()),
    ];
    let mut bindings = vec![
        cluster_binding(
            "cluster-admin",
            "cluster-admin",
            vec![Subject::group(SYSTEM_MASTERS)],
        ),
        cluster_binding(
            "system:node",
            "system:node",
            vec![Subject::group(SYSTEM_NODES)],
        ),
        cluster_binding(
            "system:node-proxier",
            "system:node-proxier",
            vec![Subject::user(KUBE_PROXY)],
        ),
        cluster_binding(
            "system:kube-scheduler",
            "system:kube-scheduler",
            vec![Subject::user(KUBE_SCHEDULER)],
        ),
        cluster_binding(
            "system:volume-scheduler",
            "system:volume-scheduler",
            vec![Subject::user(KUBE_SCHEDULER)],
        ),
        cluster_binding(
            "system:kube-controller-manager",
            "system:kube-controller-manager",
            vec![Subject::user(KUBE_CONTROLLER_MANAGER)],
        ),
    ];
    for (controller, rules) in controller_roles() {
        let name = format!("{CONTROLLER_ROLE_PREFIX}{controller}");
        roles.push(cluster_role(&name, rules));
        bindings.push(cluster_binding(
            &name,
            &name,
            vec![Subject::service_account("kube-system", controller)],
        ));
    }
    roles
        .into_iter()
        .map(Object::from)
        .chain(bindings.into_iter().map(Object::from))
        .collect()
}

/// The user a Flotilla controller acts as: the service account `kube-system/<controller>`, whose
/// role is `system:controller:<controller>` in [`bootstrap_policy`] (`deployment-controller`,
/// `replicaset-controller`, …).
pub fn controller_user(controller: &str) -> UserInfo {
    UserInfo::service_account("kube-system", controller)
}

#[cfg(test)]
mod tests;
