//! Who is calling the single-host API and what they may do.
//!
//! A caller is identified by its socket peer's credentials (`SO_PEERCRED`): root is
//! `kubernetes-admin` in the group `system:masters` (allowed everything, as a cluster
//! administrator's client certificate is); any other uid is the user of that name in
//! `/etc/passwd` (or the uid in decimal when it has none), in the groups it belongs to there
//! (by name) and in `system:authenticated`. What a caller may do is then decided by RBAC alone
//! ([`flotilla_model::auth::authorize`]) — the request is mapped to the verb, resource,
//! subresource, namespace and name kubectl's request would carry.

use flotilla_model::auth::{self, Attributes, Decision, UserInfo};
use flotilla_model::store::Store;
use flotilla_model::Kind;

use super::server::Peer;

/// The user root is: the name kubeadm gives the administrator's credentials.
pub const ROOT_USER: &str = "kubernetes-admin";

/// A user database: uid → name, gid → name, and a user's groups. [`SystemAccounts`] reads the
/// host's; tests give their own.
pub trait Accounts {
    /// The name of user `uid`.
    fn user_name(&self, uid: u32) -> Option<String>;
    /// The name of group `gid`.
    fn group_name(&self, gid: u32) -> Option<String>;
    /// The gids of user `name` whose primary group is `gid` (primary included).
    fn group_ids(&self, name: &str, gid: u32) -> Vec<u32>;
}

/// The host's accounts (`/etc/passwd`, `/etc/group`, through the C library).
#[derive(Clone, Copy, Debug, Default)]
pub struct SystemAccounts;

impl Accounts for SystemAccounts {
    fn user_name(&self, uid: u32) -> Option<String> {
        nix::unistd::User::from_uid(nix::unistd::Uid::from_raw(uid))
            .ok()
            .flatten()
            .map(|u| u.name)
    }

    fn group_name(&self, gid: u32) -> Option<String> {
        nix::unistd::Group::from_gid(nix::unistd::Gid::from_raw(gid))
            .ok()
            .flatten()
            .map(|g| g.name)
    }

    fn group_ids(&self, name: &str, gid: u32) -> Vec<u32> {
        let Ok(cname) = std::ffi::CString::new(name) else {
            return vec![gid];
        };
        nix::unistd::getgrouplist(&cname, nix::unistd::Gid::from_raw(gid))
            .map(|gs| gs.into_iter().map(|g| g.as_raw()).collect())
            .unwrap_or_else(|_| vec![gid])
    }
}

/// A group given by name or number, as its gid.
pub fn group_id(group: &str) -> Option<u32> {
    if let Ok(gid) = group.parse::<u32>() {
        return Some(gid);
    }
    nix::unistd::Group::from_name(group)
        .ok()
        .flatten()
        .map(|g| g.gid.as_raw())
}

/// The identity of a socket peer.
pub fn identity(peer: &Peer, accounts: &dyn Accounts) -> UserInfo {
    if peer.uid == 0 {
        return UserInfo::new(
            ROOT_USER,
            &[auth::SYSTEM_MASTERS, auth::SYSTEM_AUTHENTICATED],
        );
    }
    let name = accounts
        .user_name(peer.uid)
        .unwrap_or_else(|| peer.uid.to_string());
    let mut gids = accounts.group_ids(&name, peer.gid);
    if !gids.contains(&peer.gid) {
        gids.push(peer.gid);
    }
    gids.sort_unstable();
    gids.dedup();
    let mut groups: Vec<String> = gids
        .into_iter()
        .map(|g| accounts.group_name(g).unwrap_or_else(|| g.to_string()))
        .collect();
    groups.push(auth::SYSTEM_AUTHENTICATED.to_string());
    UserInfo { name, groups }
}

/// Whether `user` may `verb` the `kind` (optionally its `subresource`) named `name` in
/// `namespace` (empty for every namespace, or for cluster-scoped kinds); `Err` carries kubectl's
/// line for a refusal: `Error from server (Forbidden): … is forbidden: User …`.
pub fn check(
    store: &Store,
    user: &UserInfo,
    verb: &str,
    kind: Kind,
    subresource: &str,
    namespace: &str,
    name: &str,
) -> Result<(), String> {
    let attrs =
        Attributes::for_kind(user, verb, kind, namespace, name).with_subresource(subresource);
    match auth::authorize(store, &attrs) {
        Decision::Allow => Ok(()),
        Decision::Deny(message) => Err(format!("Error from server (Forbidden): {message}\n")),
    }
}

/// Whether `user` may list events in `namespace` (core/v1 `events`; Flotilla keeps them in the
/// event recorder rather than the store).
pub fn check_events(store: &Store, user: &UserInfo, namespace: &str) -> Result<(), String> {
    let attrs = Attributes::resource(user, "list", "", "events", namespace, "");
    match auth::authorize(store, &attrs) {
        Decision::Allow => Ok(()),
        Decision::Deny(message) => Err(format!("Error from server (Forbidden): {message}\n")),
    }
}

/// Whether `user` may read Secrets' data in `namespace` (`get secrets` there): without it, a
/// Secret's values never appear in any output.
pub fn may_read_secrets(store: &Store, user: &UserInfo, namespace: &str) -> bool {
    check(store, user, "get", Kind::Secret, "", namespace, "").is_ok()
}

/// `kubectl auth can-i VERB RESOURCE[/SUBRESOURCE] [NAME]`: the attributes asked about. The
/// resource may be a kind Flotilla has (any name kubectl accepts for it) or anything else
/// (taken as a resource of the core group, as RBAC rules may name resources that do not exist);
/// `*` stands for every resource.
pub fn can_i_attributes(
    user: &UserInfo,
    verb: &str,
    resource: &str,
    name: &str,
    namespace: &str,
) -> (Attributes, Option<String>) {
    let (resource, subresource) = match resource.split_once('/') {
        Some((r, s)) => (r, s),
        None => (resource, ""),
    };
    let mut warning = None;
    let (group, plural, namespaced) = if resource == "*" {
        ("*".to_string(), "*".to_string(), true)
    } else {
        match super::print::resolve_resource(resource) {
            Ok(kind) => (
                kind.group().to_string(),
                kind.plural().to_string(),
                kind.namespaced(),
            ),
            Err(_) => {
                warning = Some(format!(
                    "Warning: the server doesn't have a resource type '{resource}'\n"
                ));
                let (r, g) = resource.split_once('.').unwrap_or((resource, ""));
                (g.to_string(), r.to_string(), true)
            }
        }
    };
    let namespace = if namespaced { namespace } else { "" };
    let attrs = Attributes::resource(user, verb, &group, &plural, namespace, name)
        .with_subresource(subresource);
    (attrs, warning)
}

#[cfg(test)]
mod tests {
    use super::*;
    use flotilla_model::api::{ClusterRole, PolicyRule, RoleBinding, RoleRef, Subject};
    use flotilla_model::store::StoreConfig;
    use flotilla_model::{Object, Time};

    struct FakeAccounts;

    impl Accounts for FakeAccounts {
        fn user_name(&self, uid: u32) -> Option<String> {
            (uid == 1000).then(|| "alice".to_string())
        }
        fn group_name(&self, gid: u32) -> Option<String> {
            match gid {
                1000 => Some("alice".into()),
                27 => Some("sudo".into()),
                _ => None,
            }
        }
        fn group_ids(&self, name: &str, gid: u32) -> Vec<u32> {
            if name == "alice" {
                vec![gid, 27]
            } else {
                vec![gid]
            }
        }
    }

    fn peer(uid: u32, gid: u32) -> Peer {
        Peer { pid: 1, uid, gid }
    }

    #[test]
    fn root_is_a_cluster_administrator() {
        let user = identity(&peer(0, 0), &FakeAccounts);
        assert_eq!(user.name, ROOT_USER);
        assert!(user.in_group(auth::SYSTEM_MASTERS));
    }

    #[test]
    fn other_users_by_name_with_their_groups() {
        let user = identity(&peer(1000, 1000), &FakeAccounts);
        assert_eq!(user.name, "alice");
        assert_eq!(
            user.groups,
            vec!["sudo", "alice", auth::SYSTEM_AUTHENTICATED]
        );
        assert!(!user.in_group(auth::SYSTEM_MASTERS));
        // Unknown uids and gids by number.
        let user = identity(&peer(4242, 77), &FakeAccounts);
        assert_eq!(user.name, "4242");
        assert_eq!(user.groups, vec!["77", auth::SYSTEM_AUTHENTICATED]);
    }

    fn store_with_edit_in(namespace: &str, user: &str) -> Store {
        let mut store = Store::new(StoreConfig::default());
        for o in auth::bootstrap_policy() {
            store.create(o, Time::ZERO).unwrap();
        }
        for ns in ["team-a", "team-b"] {
            let namespace = flotilla_model::api::Namespace {
                metadata: flotilla_model::ObjectMeta::named("", ns),
                ..Default::default()
            };
            store.create(namespace.into(), Time::ZERO).unwrap();
        }
        let binding = RoleBinding::new(
            namespace,
            "edit",
            RoleRef::cluster_role("edit"),
            vec![Subject::user(user)],
        );
        store.create(Object::from(binding), Time::ZERO).unwrap();
        store
    }

    #[test]
    fn checks_carry_the_api_servers_message() {
        let store = store_with_edit_in("team-a", "alice");
        let alice = UserInfo::new("alice", &[auth::SYSTEM_AUTHENTICATED]);
        assert!(check(&store, &alice, "create", Kind::Deployment, "", "team-a", "").is_ok());
        assert_eq!(
            check(&store, &alice, "create", Kind::Deployment, "", "team-b", "").unwrap_err(),
            "Error from server (Forbidden): deployments.apps is forbidden: User \"alice\" cannot \
             create resource \"deployments\" in API group \"apps\" in the namespace \"team-b\"\n"
        );
        assert_eq!(
            check(&store, &alice, "create", Kind::Namespace, "", "team-a", "").unwrap_err(),
            "Error from server (Forbidden): namespaces is forbidden: User \"alice\" cannot \
             create resource \"namespaces\" in API group \"\" at the cluster scope\n"
        );
        // edit may read secrets in its namespace, not elsewhere.
        assert!(may_read_secrets(&store, &alice, "team-a"));
        assert!(!may_read_secrets(&store, &alice, "team-b"));
        // Subresources: edit may exec into pods, and read logs.
        assert!(check(&store, &alice, "create", Kind::Pod, "exec", "team-a", "web").is_ok());
        assert!(check(&store, &alice, "get", Kind::Pod, "log", "team-a", "web").is_ok());
        assert!(check(&store, &alice, "get", Kind::Pod, "log", "team-b", "web").is_err());
    }

    #[test]
    fn can_i_resolves_what_kubectl_accepts() {
        let store = store_with_edit_in("team-a", "alice");
        let alice = UserInfo::new("alice", &[auth::SYSTEM_AUTHENTICATED]);
        let ask = |verb: &str, resource: &str, ns: &str| {
            let (attrs, warning) = can_i_attributes(&alice, verb, resource, "", ns);
            (auth::authorize(&store, &attrs) == Decision::Allow, warning)
        };
        assert_eq!(ask("create", "deploy", "team-a"), (true, None));
        assert!(!ask("create", "deployments.apps", "team-b").0);
        assert_eq!(ask("get", "pods/log", "team-a"), (true, None));
        // Cluster-scoped kinds ignore the namespace.
        assert!(!ask("list", "nodes", "team-a").0);
        let (allowed, warning) = ask("get", "widgets", "team-a");
        assert!(!allowed);
        assert!(warning.unwrap().contains("'widgets'"));
        // A ClusterRole granting everything on everything, bound cluster-wide: `*` checks.
        let mut store = store;
        let all = ClusterRole::new(
            "all",
            vec![PolicyRule::new(&["*"]).groups(&["*"]).resources(&["*"])],
        );
        store.create(Object::from(all), Time::ZERO).unwrap();
        let (attrs, _) = can_i_attributes(&alice, "*", "*", "", "team-a");
        assert!(matches!(auth::authorize(&store, &attrs), Decision::Deny(_)));
    }
}
