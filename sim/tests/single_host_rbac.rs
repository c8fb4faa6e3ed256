//! Namespaces as tenants on one host (root only): `flotilla host --socket-group` opens the API
//! to unprivileged users, who are identified by their uid and may do what RBAC grants them, no
//! more. Runs the clients as other uids (`nobody` and two uids without an account).
//!
//! Skips (passing, with a message) when not root; CI runs it as root.

use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

const FLOTILLA: &str = env!("CARGO_BIN_EXE_flotilla");
/// The group the socket is opened to, and the uids the tenants run as.
const GID: u32 = 65534;
const NOBODY: u32 = 65534;
const STRANGER: u32 = 4242;
const TEAM_ADMIN: u32 = 4243;

fn is_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("Uid:"))
                .and_then(|l| l.split_whitespace().nth(2).map(|u| u == "0"))
        })
        .unwrap_or(false)
}

/// The account name of `uid` in /etc/passwd, as the host will name the user.
fn user_name(uid: u32) -> String {
    std::fs::read_to_string("/etc/passwd")
        .ok()
        .and_then(|p| {
            p.lines().find_map(|l| {
                let f: Vec<&str> = l.split(':').collect();
                (f.len() > 2 && f[2] == uid.to_string()).then(|| f[0].to_string())
            })
        })
        .unwrap_or_else(|| uid.to_string())
}

struct Host {
    base: PathBuf,
    socket: PathBuf,
    child: Child,
}

impl Host {
    fn start() -> Host {
        let base = PathBuf::from("/tmp/flotilla-e2e-rbac").join(std::process::id().to_string());
        let _ = std::fs::remove_dir_all(&base);
        std::fs::create_dir_all(&base).unwrap();
        let socket = base.join("host.sock");
        let log = std::fs::File::create(base.join("host.log")).unwrap();
        let child = Command::new(FLOTILLA)
            .arg("--socket")
            .arg(&socket)
            .arg("host")
            .arg("--socket-group")
            .arg(GID.to_string())
            .arg("--data-dir")
            .arg(base.join("data"))
            .arg("--state-dir")
            .arg(base.join("state"))
            .arg("--images")
            .arg(base.join("images"))
            .arg("--node-name")
            .arg(format!("rbac-{}", std::process::id()))
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .unwrap();
        let deadline = Instant::now() + Duration::from_secs(30);
        while !socket.exists() {
            assert!(Instant::now() < deadline, "the host did not start");
            std::thread::sleep(Duration::from_millis(50));
        }
        Host {
            base,
            socket,
            child,
        }
    }

    /// `flotilla ARGS` as `uid` (0: root), with `stdin` as standard input.
    fn run(&self, uid: u32, args: &[&str], stdin: &str) -> Output {
        let mut cmd = Command::new(FLOTILLA);
        cmd.arg("--socket").arg(&self.socket).args(args);
        if uid != 0 {
            cmd.uid(uid).gid(GID);
        }
        let mut child = cmd
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        use std::io::Write;
        child
            .stdin
            .take()
            .unwrap()
            .write_all(stdin.as_bytes())
            .unwrap();
        child.wait_with_output().unwrap()
    }

    fn ok(&self, uid: u32, args: &[&str], stdin: &str) -> String {
        let out = self.run(uid, args, stdin);
        assert!(
            out.status.success(),
            "uid {uid}: flotilla {args:?}: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// A command that must be refused; its standard error.
    fn refused(&self, uid: u32, args: &[&str], stdin: &str) -> String {
        let out = self.run(uid, args, stdin);
        assert!(
            !out.status.success(),
            "uid {uid}: flotilla {args:?} should fail: {}",
            String::from_utf8_lossy(&out.stdout)
        );
        String::from_utf8_lossy(&out.stderr).into_owned()
    }
}

impl Drop for Host {
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .arg("-TERM")
            .arg(self.child.id().to_string())
            .status();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.base);
    }
}

const DEPLOYMENT: &str = "apiVersion: apps/v1
kind: Deployment
metadata: {name: web}
spec:
  replicas: 0
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      containers: [{name: web, image: busybox:none}]
";

#[test]
fn tenants_get_what_rbac_grants() {
    if !is_root() {
        eprintln!("SKIPPED: the RBAC host test needs root (it runs clients as other uids)");
        return;
    }
    let nobody = user_name(NOBODY);
    let host = Host::start();
    // The administrator (root: system:masters) sets up two teams.
    let setup = format!(
        "apiVersion: v1
kind: Namespace
metadata: {{name: team-a}}
---
apiVersion: v1
kind: Namespace
metadata: {{name: team-b}}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {{name: editors, namespace: team-a}}
roleRef: {{apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: edit}}
subjects: [{{apiGroup: rbac.authorization.k8s.io, kind: User, name: {nobody}}}]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata: {{name: secret-lister, namespace: team-b}}
rules: [{{apiGroups: [\"\"], resources: [secrets], verbs: [list]}}]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {{name: secret-listers, namespace: team-b}}
roleRef: {{apiGroup: rbac.authorization.k8s.io, kind: Role, name: secret-lister}}
subjects: [{{apiGroup: rbac.authorization.k8s.io, kind: User, name: {nobody}}}]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {{name: admins, namespace: team-a}}
roleRef: {{apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: admin}}
subjects: [{{apiGroup: rbac.authorization.k8s.io, kind: User, name: \"{TEAM_ADMIN}\"}}]
---
apiVersion: v1
kind: Secret
metadata: {{name: db, namespace: team-b}}
stringData: {{password: hunter2}}
"
    );
    host.ok(0, &["apply", "-f", "-"], &setup);

    // An editor of team-a works there…
    assert_eq!(
        host.ok(NOBODY, &["apply", "-n", "team-a", "-f", "-"], DEPLOYMENT),
        "deployment.apps/web created\n"
    );
    assert!(host
        .ok(NOBODY, &["get", "deployments", "-n", "team-a"], "")
        .contains("web"));
    assert_eq!(
        host.ok(
            NOBODY,
            &["auth", "can-i", "create", "deployments", "-n", "team-a"],
            ""
        ),
        "yes\n"
    );
    // …and nowhere else, with the API server's words.
    assert_eq!(
        host.refused(NOBODY, &["apply", "-n", "team-b", "-f", "-"], DEPLOYMENT),
        format!(
            "Error from server (Forbidden): deployments.apps is forbidden: User \"{nobody}\" \
             cannot create resource \"deployments\" in API group \"apps\" in the namespace \"team-b\"\n"
        )
    );
    assert_eq!(
        host.run(
            NOBODY,
            &["auth", "can-i", "create", "deployments", "-n", "team-b"],
            ""
        )
        .stdout,
        b"no\n"
    );
    assert_eq!(
        host.refused(
            NOBODY,
            &["apply", "-f", "-"],
            "apiVersion: v1\nkind: Namespace\nmetadata: {name: team-c}\n"
        ),
        format!(
            "Error from server (Forbidden): namespaces is forbidden: User \"{nobody}\" cannot \
             create resource \"namespaces\" in API group \"\" at the cluster scope\n"
        )
    );
    assert!(host
        .refused(NOBODY, &["get", "nodes"], "")
        .contains("cannot list resource \"nodes\" in API group \"\" at the cluster scope"));

    // Listing secrets without `get secrets` never shows their values.
    let listed = host.ok(
        NOBODY,
        &["get", "secrets", "-n", "team-b", "-o", "yaml"],
        "",
    );
    assert!(listed.contains("name: db"), "{listed}");
    assert!(
        !listed.contains("aHVudGVyMg"),
        "secret data leaked:\n{listed}"
    );
    assert!(!listed.contains("hunter2"), "secret data leaked:\n{listed}");
    assert!(host
        .refused(
            NOBODY,
            &["get", "secret", "db", "-n", "team-b", "-o", "yaml"],
            ""
        )
        .contains("cannot get resource \"secrets\""));
    // Root sees it.
    assert!(host
        .ok(
            0,
            &["get", "secret", "db", "-n", "team-b", "-o", "yaml"],
            ""
        )
        .contains("aHVudGVyMg=="));

    // A user without bindings can do nothing.
    let stranger = user_name(STRANGER);
    assert_eq!(
        host.refused(STRANGER, &["get", "pods", "-n", "team-a"], ""),
        format!(
            "Error from server (Forbidden): pods is forbidden: User \"{stranger}\" cannot list \
             resource \"pods\" in API group \"\" in the namespace \"team-a\"\n"
        )
    );
    assert_eq!(
        host.run(
            STRANGER,
            &["auth", "can-i", "get", "pods", "-n", "team-a"],
            ""
        )
        .stdout,
        b"no\n"
    );

    // A team admin may bind roles in team-a, but not grant what it does not hold.
    let grant = "apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {name: everything, namespace: team-a}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: cluster-admin}
subjects: [{apiGroup: rbac.authorization.k8s.io, kind: User, name: mallory}]
";
    let refused = host.refused(TEAM_ADMIN, &["apply", "-f", "-"], grant);
    assert!(
        refused.starts_with(&format!(
            "Error from server (Forbidden): rolebindings.rbac.authorization.k8s.io \"everything\" \
             is forbidden: user \"{}\" (groups=",
            user_name(TEAM_ADMIN)
        )) && refused.contains("is attempting to grant RBAC permissions not currently held"),
        "{refused}"
    );
    let fair = grant
        .replace("cluster-admin", "view")
        .replace("everything", "viewers");
    assert_eq!(
        host.ok(TEAM_ADMIN, &["apply", "-f", "-"], &fair),
        "rolebinding.rbac.authorization.k8s.io/viewers created\n"
    );
    // Impersonation is for administrators.
    assert_eq!(
        host.ok(
            0,
            &[
                "auth",
                "can-i",
                "create",
                "deployments",
                "-n",
                "team-a",
                "--as",
                &nobody
            ],
            ""
        ),
        "yes\n"
    );
    assert!(host
        .refused(
            NOBODY,
            &["auth", "can-i", "get", "pods", "--as", "root"],
            ""
        )
        .contains("cannot impersonate resource \"users\""));
}
