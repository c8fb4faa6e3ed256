//! The RBAC kinds (`rbac.authorization.k8s.io/v1`): Role, ClusterRole, RoleBinding and
//! ClusterRoleBinding, with the API server's defaulting and validation
//! (pkg/apis/rbac/v1/defaults.go, pkg/apis/rbac/validation/validation.go) and the rule-matching
//! helpers the authorizer evaluates (pkg/apis/rbac/v1/evaluation_helpers.go).
//!
//! A Role grants [`PolicyRule`]s inside one namespace, a ClusterRole grants them everywhere (or,
//! when a RoleBinding references it, inside the binding's namespace). A binding ties a role to
//! [`Subject`]s: users, groups and service accounts. What the rules mean for a request is
//! [`crate::auth`]'s business.
//!
//! `aggregationRule` is read, validated as a label selector list and stored, but Flotilla runs no
//! aggregation controller: a ClusterRole's effective rules are always its own `rules`. The
//! bootstrap `admin`, `edit` and `view` roles therefore carry their aggregated rules already
//! flattened (see [`crate::auth::bootstrap_policy`]).

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::meta::ObjectMeta;
use crate::selector::{validate_label_selector, LabelSelector};
use crate::validation::{
    is_dns1123_subdomain, is_valid_path_segment_name, ErrorList, FieldError, FieldPath,
    SetDefaults, Validate,
};

/// The API group of the RBAC kinds.
pub const GROUP_NAME: &str = "rbac.authorization.k8s.io";
/// The wildcard for verbs, API groups, resources and non-resource URLs in a [`PolicyRule`].
pub const WILDCARD: &str = "*";
/// [`Subject::kind`] of a user.
pub const USER_KIND: &str = "User";
/// [`Subject::kind`] of a group.
pub const GROUP_KIND: &str = "Group";
/// [`Subject::kind`] of a service account.
pub const SERVICE_ACCOUNT_KIND: &str = "ServiceAccount";

/// One grant: these verbs on these resources (of these API groups, optionally only these
/// object names), or these verbs on these non-resource URLs.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PolicyRule {
    /// The verbs granted (`get`, `list`, `create`, …, or `*`).
    #[serde(default)]
    pub verbs: Vec<String>,
    /// The API groups of the resources (`""` for the core group, `*` for all).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub api_groups: Vec<String>,
    /// The resources (`pods`, `pods/log`, `*/scale`, `*`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub resources: Vec<String>,
    /// When not empty, only objects with these names.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub resource_names: Vec<String>,
    /// Non-resource URL paths (`/healthz`, `/api/*`); only in ClusterRoles.
    #[serde(
        default,
        rename = "nonResourceURLs",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub non_resource_urls: Vec<String>,
}

fn strings(items: &[&str]) -> Vec<String> {
    items.iter().map(|s| (*s).to_string()).collect()
}

impl PolicyRule {
    /// A rule granting `verbs`, to be completed with [`groups`](Self::groups) and
    /// [`resources`](Self::resources) or [`urls`](Self::urls) (Kubernetes' `NewRule` builder).
    pub fn new(verbs: &[&str]) -> PolicyRule {
        PolicyRule {
            verbs: strings(verbs),
            ..PolicyRule::default()
        }
    }

    /// This rule with these API groups added.
    pub fn groups(mut self, groups: &[&str]) -> PolicyRule {
        self.api_groups.extend(strings(groups));
        self
    }

    /// This rule with these resources added.
    pub fn resources(mut self, resources: &[&str]) -> PolicyRule {
        self.resources.extend(strings(resources));
        self
    }

    /// This rule with these resource names added.
    pub fn names(mut self, names: &[&str]) -> PolicyRule {
        self.resource_names.extend(strings(names));
        self
    }

    /// This rule with these non-resource URLs added.
    pub fn urls(mut self, urls: &[&str]) -> PolicyRule {
        self.non_resource_urls.extend(strings(urls));
        self
    }

    /// Whether the rule grants `verb` (`VerbMatches`).
    pub fn verb_matches(&self, verb: &str) -> bool {
        self.verbs.iter().any(|v| v == WILDCARD || v == verb)
    }

    /// Whether the rule covers API group `group` (`APIGroupMatches`).
    pub fn api_group_matches(&self, group: &str) -> bool {
        self.api_groups.iter().any(|g| g == WILDCARD || g == group)
    }

    /// Whether the rule covers `resource` with `subresource` (`ResourceMatches`): `*`, the exact
    /// `resource` or `resource/subresource`, or `*/subresource` for any resource's subresource.
    pub fn resource_matches(&self, resource: &str, subresource: &str) -> bool {
        self.resources.iter().any(|r| {
            if r == WILDCARD {
                return true;
            }
            let exact = if subresource.is_empty() {
                r == resource
            } else {
                r.len() == resource.len() + 1 + subresource.len()
                    && r.starts_with(resource)
                    && r[resource.len()..].starts_with('/')
                    && r.ends_with(subresource)
            };
            exact
                || (!subresource.is_empty()
                    && r.strip_prefix("*/").is_some_and(|s| s == subresource))
        })
    }

    /// Whether the rule covers the object named `name` (`ResourceNameMatches`): every name when
    /// the rule lists none. (A request without a name, such as `list` or `create`, is only covered
    /// by a rule without names.)
    pub fn resource_name_matches(&self, name: &str) -> bool {
        self.resource_names.is_empty() || self.resource_names.iter().any(|n| n == name)
    }

    /// Whether the rule covers the non-resource URL `path` (`NonResourceURLMatches`): `*`, the
    /// exact path, or a prefix ending in `*`.
    pub fn non_resource_url_matches(&self, path: &str) -> bool {
        self.non_resource_urls.iter().any(|u| {
            u == WILDCARD
                || u == path
                || u.strip_suffix('*')
                    .is_some_and(|prefix| path.starts_with(prefix.trim_end_matches('*')))
        })
    }

    /// The rule in the compact form RBAC's escalation errors use (`CompactString`):
    /// `{APIGroups:["apps"], Resources:["deployments"], Verbs:["create"]}`.
    pub fn compact_string(&self) -> String {
        let mut parts = Vec::new();
        for (name, values) in [
            ("APIGroups", &self.api_groups),
            ("Resources", &self.resources),
            ("NonResourceURLs", &self.non_resource_urls),
            ("ResourceNames", &self.resource_names),
            ("Verbs", &self.verbs),
        ] {
            if !values.is_empty() {
                parts.push(format!("{name}:{}", go_quoted_list(values)));
            }
        }
        format!("{{{}}}", parts.join(", "))
    }
}

/// A list of strings as Go's `%q` prints a `[]string`: `["a" "b"]`.
pub fn go_quoted_list(values: &[String]) -> String {
    let quoted: Vec<String> = values.iter().map(|v| format!("{v:?}")).collect();
    format!("[{}]", quoted.join(" "))
}

/// Who a binding grants its role to.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Subject {
    /// `User`, `Group` or `ServiceAccount`.
    #[serde(default)]
    pub kind: String,
    /// `rbac.authorization.k8s.io` for users and groups (the default), empty for service accounts.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub api_group: String,
    /// The user, group or service account name.
    #[serde(default)]
    pub name: String,
    /// The service account's namespace; in a RoleBinding it defaults to the binding's.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub namespace: String,
}

impl Subject {
    /// A `User` subject.
    pub fn user(name: &str) -> Subject {
        Subject {
            kind: USER_KIND.into(),
            api_group: GROUP_NAME.into(),
            name: name.into(),
            namespace: String::new(),
        }
    }

    /// A `Group` subject.
    pub fn group(name: &str) -> Subject {
        Subject {
            kind: GROUP_KIND.into(),
            api_group: GROUP_NAME.into(),
            name: name.into(),
            namespace: String::new(),
        }
    }

    /// A `ServiceAccount` subject.
    pub fn service_account(namespace: &str, name: &str) -> Subject {
        Subject {
            kind: SERVICE_ACCOUNT_KIND.into(),
            api_group: String::new(),
            name: name.into(),
            namespace: namespace.into(),
        }
    }
}

/// The role a binding grants. Immutable once the binding exists.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RoleRef {
    /// Always `rbac.authorization.k8s.io` (the default).
    #[serde(default)]
    pub api_group: String,
    /// `Role` or `ClusterRole` (only `ClusterRole` in a ClusterRoleBinding).
    #[serde(default)]
    pub kind: String,
    /// The role's name.
    #[serde(default)]
    pub name: String,
}

impl RoleRef {
    /// A reference to the ClusterRole `name`.
    pub fn cluster_role(name: &str) -> RoleRef {
        RoleRef {
            api_group: GROUP_NAME.into(),
            kind: "ClusterRole".into(),
            name: name.into(),
        }
    }

    /// A reference to the Role `name` in the binding's namespace.
    pub fn role(name: &str) -> RoleRef {
        RoleRef {
            api_group: GROUP_NAME.into(),
            kind: "Role".into(),
            name: name.into(),
        }
    }
}

/// The role reference as Go's `%#v` prints the internal type, for "cannot change roleRef".
struct GoRoleRef<'a>(&'a RoleRef);

impl fmt::Debug for GoRoleRef<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "rbac.RoleRef{{APIGroup:{:?}, Kind:{:?}, Name:{:?}}}",
            self.0.api_group, self.0.kind, self.0.name
        )
    }
}

/// A string list as Go's `%#v` prints it (`[]string{"/healthz"}`), for invalid-value errors.
struct GoStrings<'a>(&'a [String]);

impl fmt::Debug for GoStrings<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let quoted: Vec<String> = self.0.iter().map(|v| format!("{v:?}")).collect();
        write!(f, "[]string{{{}}}", quoted.join(", "))
    }
}

/// How a ClusterRole's rules are assembled from other ClusterRoles (parsed, not acted on).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AggregationRule {
    /// The ClusterRoles whose rules would be aggregated.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub cluster_role_selectors: Vec<LabelSelector>,
}

/// A Role: rules that apply inside its namespace.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Role {
    /// Standard object metadata.
    #[serde(default)]
    pub metadata: ObjectMeta,
    /// The permissions granted.
    #[serde(default)]
    pub rules: Vec<PolicyRule>,
}

/// A ClusterRole: rules that apply cluster-wide through a ClusterRoleBinding, or in one
/// namespace through a RoleBinding.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ClusterRole {
    /// Standard object metadata.
    #[serde(default)]
    pub metadata: ObjectMeta,
    /// The permissions granted.
    #[serde(default)]
    pub rules: Vec<PolicyRule>,
    /// Read and stored only; Flotilla runs no aggregation controller (see the module docs).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub aggregation_rule: Option<AggregationRule>,
}

/// A RoleBinding: grants a Role (of its namespace) or a ClusterRole to subjects, inside the
/// binding's namespace.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RoleBinding {
    /// Standard object metadata.
    #[serde(default)]
    pub metadata: ObjectMeta,
    /// Who gets the role.
    #[serde(default)]
    pub subjects: Vec<Subject>,
    /// The role granted; immutable.
    #[serde(default)]
    pub role_ref: RoleRef,
}

/// A ClusterRoleBinding: grants a ClusterRole to subjects in every namespace and at the
/// cluster scope.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ClusterRoleBinding {
    /// Standard object metadata.
    #[serde(default)]
    pub metadata: ObjectMeta,
    /// Who gets the role.
    #[serde(default)]
    pub subjects: Vec<Subject>,
    /// The ClusterRole granted; immutable.
    #[serde(default)]
    pub role_ref: RoleRef,
}

impl Role {
    /// A Role named `name` in `namespace` with `rules`.
    pub fn new(namespace: &str, name: &str, rules: Vec<PolicyRule>) -> Role {
        Role {
            metadata: ObjectMeta::named(namespace, name),
            rules,
        }
    }
}

impl ClusterRole {
    /// A ClusterRole named `name` with `rules`.
    pub fn new(name: &str, rules: Vec<PolicyRule>) -> ClusterRole {
        ClusterRole {
            metadata: ObjectMeta::named("", name),
            rules,
            aggregation_rule: None,
        }
    }
}

impl RoleBinding {
    /// A RoleBinding named `name` in `namespace` of `role_ref` to `subjects`.
    pub fn new(
        namespace: &str,
        name: &str,
        role_ref: RoleRef,
        subjects: Vec<Subject>,
    ) -> RoleBinding {
        RoleBinding {
            metadata: ObjectMeta::named(namespace, name),
            subjects,
            role_ref,
        }
    }
}

impl ClusterRoleBinding {
    /// A ClusterRoleBinding named `name` of the ClusterRole `role` to `subjects`.
    pub fn new(name: &str, role: &str, subjects: Vec<Subject>) -> ClusterRoleBinding {
        ClusterRoleBinding {
            metadata: ObjectMeta::named("", name),
            subjects,
            role_ref: RoleRef::cluster_role(role),
        }
    }
}

/// `SetDefaults_Subject` (pkg/apis/rbac/v1/defaults.go): users and groups default to the RBAC
/// API group, service accounts to the core group.
fn default_subjects(subjects: &mut [Subject]) {
    for s in subjects {
        if s.api_group.is_empty() && (s.kind == USER_KIND || s.kind == GROUP_KIND) {
            s.api_group = GROUP_NAME.into();
        }
    }
}

/// `SetDefaults_RoleBinding` / `SetDefaults_ClusterRoleBinding`: `roleRef.apiGroup` defaults to
/// the RBAC group.
fn default_role_ref(role_ref: &mut RoleRef) {
    if role_ref.api_group.is_empty() {
        role_ref.api_group = GROUP_NAME.into();
    }
}

impl SetDefaults for Role {
    /// Roles have no defaults.
    fn set_defaults(&mut self) {}
}

impl SetDefaults for ClusterRole {
    /// ClusterRoles have no defaults.
    fn set_defaults(&mut self) {}
}

impl SetDefaults for RoleBinding {
    fn set_defaults(&mut self) {
        default_role_ref(&mut self.role_ref);
        default_subjects(&mut self.subjects);
    }
}

impl SetDefaults for ClusterRoleBinding {
    fn set_defaults(&mut self) {
        default_role_ref(&mut self.role_ref);
        default_subjects(&mut self.subjects);
    }
}

/// `validatePolicyRule` (pkg/apis/rbac/validation/validation.go): verbs are required; a
/// non-resource rule names no groups, resources or names and only lives in a ClusterRole; a
/// resource rule names at least one group and one resource, and resource names only go with a
/// single resource.
fn validate_policy_rule(rule: &PolicyRule, namespaced: bool, path: &FieldPath) -> ErrorList {
    let mut errs = ErrorList::new();
    if rule.verbs.is_empty() {
        errs.push(FieldError::required(
            &path.child("verbs"),
            "verbs must contain at least one value",
        ));
    }
    if !rule.non_resource_urls.is_empty() {
        let urls = path.child("nonResourceURLs");
        if namespaced {
            errs.push(FieldError::invalid(
                &urls,
                GoStrings(&rule.non_resource_urls),
                "namespaced rules cannot apply to non-resource URLs",
            ));
        }
        if !rule.api_groups.is_empty()
            || !rule.resources.is_empty()
            || !rule.resource_names.is_empty()
        {
            errs.push(FieldError::invalid(
                &urls,
                GoStrings(&rule.non_resource_urls),
                "rules cannot apply to both regular resources and non-resource URLs",
            ));
        }
        return errs;
    }
    if rule.api_groups.is_empty() {
        errs.push(FieldError::required(
            &path.child("apiGroups"),
            "resource rules must supply at least one api group",
        ));
    }
    if rule.resources.is_empty() {
        errs.push(FieldError::required(
            &path.child("resources"),
            "resource rules must supply at least one resource",
        ));
    }
    if !rule.resource_names.is_empty() && rule.resources.len() > 1 {
        errs.push(FieldError::required(
            &path.child("resourceNames"),
            "resource names cannot apply to multiple resources",
        ));
    }
    errs
}

fn validate_rules(rules: &[PolicyRule], namespaced: bool) -> ErrorList {
    let path = FieldPath::new("rules");
    rules
        .iter()
        .enumerate()
        .flat_map(|(i, r)| validate_policy_rule(r, namespaced, &path.index(i)))
        .collect()
}

/// `ValidateRoleBinding` / `ValidateClusterRoleBinding`: the role reference (group, allowed
/// kinds, a path-segment name) and every subject.
fn validate_binding(
    role_ref: &RoleRef,
    subjects: &[Subject],
    namespaced: bool,
    kinds: &[&str],
) -> ErrorList {
    let mut errs = ErrorList::new();
    let rr = FieldPath::new("roleRef");
    if role_ref.api_group != GROUP_NAME {
        errs.push(FieldError::not_supported(
            &rr.child("apiGroup"),
            &role_ref.api_group,
            &[GROUP_NAME],
        ));
    }
    if !kinds.contains(&role_ref.kind.as_str()) {
        errs.push(FieldError::not_supported(
            &rr.child("kind"),
            &role_ref.kind,
            kinds,
        ));
    }
    if role_ref.name.is_empty() {
        errs.push(FieldError::required(&rr.child("name"), ""));
    } else {
        for reason in is_valid_path_segment_name(&role_ref.name) {
            errs.push(FieldError::invalid(
                &rr.child("name"),
                &role_ref.name,
                reason,
            ));
        }
    }
    let path = FieldPath::new("subjects");
    for (i, s) in subjects.iter().enumerate() {
        errs.extend(validate_subject(s, namespaced, &path.index(i)));
    }
    errs
}

/// `validateRoleBindingSubject`: a name; service accounts have a DNS-subdomain name, the core
/// API group and (in a ClusterRoleBinding) a namespace; users and groups the RBAC API group.
fn validate_subject(subject: &Subject, namespaced: bool, path: &FieldPath) -> ErrorList {
    let mut errs = ErrorList::new();
    if subject.name.is_empty() {
        errs.push(FieldError::required(&path.child("name"), ""));
    }
    match subject.kind.as_str() {
        SERVICE_ACCOUNT_KIND => {
            if !subject.name.is_empty() {
                for reason in is_dns1123_subdomain(&subject.name) {
                    errs.push(FieldError::invalid(
                        &path.child("name"),
                        &subject.name,
                        reason,
                    ));
                }
            }
            if !subject.api_group.is_empty() {
                errs.push(FieldError::not_supported(
                    &path.child("apiGroup"),
                    &subject.api_group,
                    &[""],
                ));
            }
            if !namespaced && subject.namespace.is_empty() {
                errs.push(FieldError::required(&path.child("namespace"), ""));
            }
        }
        USER_KIND | GROUP_KIND => {
            if subject.name.is_empty() {
                let what = if subject.kind == USER_KIND {
                    "user"
                } else {
                    "group"
                };
                errs.push(FieldError::invalid(
                    &path.child("name"),
                    &subject.name,
                    format!("{what} name cannot be empty"),
                ));
            }
            if subject.api_group != GROUP_NAME {
                errs.push(FieldError::not_supported(
                    &path.child("apiGroup"),
                    &subject.api_group,
                    &[GROUP_NAME],
                ));
            }
        }
        _ => errs.push(FieldError::not_supported(
            &path.child("kind"),
            &subject.kind,
            &[SERVICE_ACCOUNT_KIND, USER_KIND, GROUP_KIND],
        )),
    }
    errs
}

/// `ValidateRoleBindingUpdate`: the role reference cannot change.
fn validate_role_ref_update(new: &RoleRef, old: &RoleRef) -> ErrorList {
    if new == old {
        return ErrorList::new();
    }
    vec![FieldError::invalid(
        &FieldPath::new("roleRef"),
        GoRoleRef(new),
        "cannot change roleRef",
    )]
}

impl Validate for Role {
    /// `ValidateRole`: every rule, namespaced.
    fn validate(&self) -> ErrorList {
        validate_rules(&self.rules, true)
    }
}

impl Validate for ClusterRole {
    /// `ValidateClusterRole`: every rule (non-resource URLs allowed); aggregation selectors
    /// must be valid label selectors.
    fn validate(&self) -> ErrorList {
        let mut errs = validate_rules(&self.rules, false);
        if let Some(agg) = &self.aggregation_rule {
            let path = FieldPath::new("aggregationRule").child("clusterRoleSelectors");
            for (i, selector) in agg.cluster_role_selectors.iter().enumerate() {
                errs.extend(validate_label_selector(selector, &path.index(i)));
            }
        }
        errs
    }
}

impl Validate for RoleBinding {
    /// `ValidateRoleBinding`: roleRef kind `Role` or `ClusterRole`; subjects.
    fn validate(&self) -> ErrorList {
        validate_binding(
            &self.role_ref,
            &self.subjects,
            true,
            &["Role", "ClusterRole"],
        )
    }

    /// `ValidateRoleBindingUpdate`: roleRef is immutable.
    fn validate_update(&self, old: &Self) -> ErrorList {
        validate_role_ref_update(&self.role_ref, &old.role_ref)
    }
}

impl Validate for ClusterRoleBinding {
    /// `ValidateClusterRoleBinding`: roleRef kind `ClusterRole`; subjects (service accounts
    /// need a namespace).
    fn validate(&self) -> ErrorList {
        validate_binding(&self.role_ref, &self.subjects, false, &["ClusterRole"])
    }

    /// `ValidateClusterRoleBindingUpdate`: roleRef is immutable.
    fn validate_update(&self, old: &Self) -> ErrorList {
        validate_role_ref_update(&self.role_ref, &old.role_ref)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::manifest;
    use crate::object::{Kind, Object};

    fn messages(errs: &ErrorList) -> Vec<String> {
        errs.iter().map(ToString::to_string).collect()
    }

    const MANIFEST: &str = r#"
apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata: {name: pod-reader, namespace: team-a}
rules:
- apiGroups: [""]
  resources: ["pods", "pods/log"]
  verbs: ["get", "list", "watch"]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {name: "system:health"}
rules:
- nonResourceURLs: ["/healthz", "/api/*"]
  verbs: ["get"]
aggregationRule:
  clusterRoleSelectors:
  - matchLabels: {example.com/aggregate: "true"}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {name: read-pods, namespace: team-a}
subjects:
- {kind: User, name: alice}
- {kind: ServiceAccount, name: builder}
roleRef: {kind: Role, name: pod-reader}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {name: health}
subjects:
- {kind: Group, name: "system:authenticated", apiGroup: rbac.authorization.k8s.io}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: "system:health"}
"#;

    #[test]
    fn manifests_parse_default_and_validate() {
        let parsed = manifest::parse_str("rbac.yaml", MANIFEST).expect("parses");
        assert!(parsed.check().is_empty(), "{:?}", parsed.check());
        let kinds: Vec<Kind> = parsed.objects.iter().map(|m| m.object.kind()).collect();
        assert_eq!(
            kinds,
            [
                Kind::Role,
                Kind::ClusterRole,
                Kind::RoleBinding,
                Kind::ClusterRoleBinding
            ]
        );
        let Object::ClusterRole(cr) = &parsed.objects[1].object else {
            unreachable!()
        };
        assert_eq!(cr.rules[0].non_resource_urls, ["/healthz", "/api/*"]);
        assert_eq!(
            cr.aggregation_rule
                .as_ref()
                .map(|a| a.cluster_role_selectors.len()),
            Some(1)
        );
        let Object::RoleBinding(rb) = &parsed.objects[2].object else {
            unreachable!()
        };
        let mut rb = rb.clone();
        rb.set_defaults();
        assert_eq!(rb.role_ref.api_group, GROUP_NAME);
        assert_eq!(rb.subjects[0].api_group, GROUP_NAME);
        assert_eq!(rb.subjects[1].api_group, "");
        let json = serde_json::to_value(cr).expect("serializable");
        assert_eq!(json["rules"][0]["nonResourceURLs"][0], "/healthz");
        assert_eq!(
            Kind::from_resource_name("clusterrolebindings"),
            Some(Kind::ClusterRoleBinding)
        );
        assert_eq!(Kind::RoleBinding.group(), GROUP_NAME);
    }

    #[test]
    fn rules_are_validated_with_field_paths() {
        let role = Role::new(
            "team-a",
            "bad",
            vec![
                PolicyRule::new(&[]).groups(&[""]).resources(&["pods"]),
                PolicyRule::new(&["get"]).resources(&["pods"]),
                PolicyRule::new(&["get"]).groups(&[""]),
                PolicyRule::new(&["get"])
                    .groups(&[""])
                    .resources(&["pods", "secrets"])
                    .names(&["x"]),
                PolicyRule::new(&["get"]).urls(&["/healthz"]),
            ],
        );
        assert_eq!(
            messages(&role.validate()),
            [
                "rules[0].verbs: Required value: verbs must contain at least one value",
                "rules[1].apiGroups: Required value: resource rules must supply at least one api group",
                "rules[2].resources: Required value: resource rules must supply at least one resource",
                "rules[3].resourceNames: Required value: resource names cannot apply to multiple resources",
                "rules[4].nonResourceURLs: Invalid value: []string{\"/healthz\"}: namespaced rules cannot apply to non-resource URLs",
            ]
        );
        let mixed = ClusterRole::new(
            "mixed",
            vec![PolicyRule::new(&["get"]).urls(&["/healthz"]).groups(&[""])],
        );
        assert_eq!(
            messages(&mixed.validate()),
            ["rules[0].nonResourceURLs: Invalid value: []string{\"/healthz\"}: rules cannot apply to both regular resources and non-resource URLs"]
        );
        assert!(
            ClusterRole::new("ok", vec![PolicyRule::new(&["get"]).urls(&["/healthz"])])
                .validate()
                .is_empty()
        );
    }

    #[test]
    fn bindings_are_validated_with_field_paths() {
        let mut rb = RoleBinding::new(
            "team-a",
            "b",
            RoleRef {
                api_group: "example.com".into(),
                kind: "Secret".into(),
                name: "a/b".into(),
            },
            vec![
                Subject {
                    kind: "Robot".into(),
                    name: "r".into(),
                    ..Subject::default()
                },
                Subject {
                    api_group: "x".into(),
                    ..Subject::service_account("", "Not_Valid")
                },
                Subject {
                    api_group: "".into(),
                    ..Subject::user("")
                },
            ],
        );
        assert_eq!(
            messages(&rb.validate()),
            [
                "roleRef.apiGroup: Unsupported value: \"example.com\": supported values: \"rbac.authorization.k8s.io\"",
                "roleRef.kind: Unsupported value: \"Secret\": supported values: \"Role\", \"ClusterRole\"",
                "roleRef.name: Invalid value: \"a/b\": may not contain '/'",
                "subjects[0].kind: Unsupported value: \"Robot\": supported values: \"ServiceAccount\", \"User\", \"Group\"",
                "subjects[1].name: Invalid value: \"Not_Valid\": a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')",
                "subjects[1].apiGroup: Unsupported value: \"x\": supported values: \"\"",
                "subjects[2].name: Required value",
                "subjects[2].name: Invalid value: \"\": user name cannot be empty",
                "subjects[2].apiGroup: Unsupported value: \"\": supported values: \"rbac.authorization.k8s.io\"",
            ]
        );
        rb.set_defaults();
        assert!(messages(&rb.validate())
            .iter()
            .all(|m| !m.starts_with("subjects[2].apiGroup")));

        let crb = ClusterRoleBinding {
            role_ref: RoleRef::role("local"),
            ..ClusterRoleBinding::new("c", "x", vec![Subject::service_account("", "builder")])
        };
        assert_eq!(
            messages(&crb.validate()),
            [
                "roleRef.kind: Unsupported value: \"Role\": supported values: \"ClusterRole\"",
                "subjects[0].namespace: Required value",
            ]
        );
    }

    #[test]
    fn role_ref_is_immutable_and_names_may_hold_colons() {
        let old = ClusterRoleBinding::new(
            "system:nodes",
            "system:node",
            vec![Subject::group("system:nodes")],
        );
        let mut new = old.clone();
        new.subjects.push(Subject::user("kubelet"));
        assert!(new.validate_update(&old).is_empty());
        new.role_ref = RoleRef::cluster_role("cluster-admin");
        assert_eq!(
            messages(&new.validate_update(&old)),
            ["roleRef: Invalid value: rbac.RoleRef{APIGroup:\"rbac.authorization.k8s.io\", Kind:\"ClusterRole\", Name:\"cluster-admin\"}: cannot change roleRef"]
        );
        let object: Object = old.into();
        assert!(object.validate().is_empty());
        let dots: Object = ClusterRole::new("..", vec![]).into();
        assert_eq!(
            messages(&dots.validate()),
            ["metadata.name: Invalid value: \"..\": may not be '..'"]
        );
    }
}
