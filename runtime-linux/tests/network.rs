//! Pod networking for real (needs root, busybox and iproute2; skips with a message otherwise):
//! pods get distinct IPs on a bridge, reach each other, are reached by the host, reach a host
//! listener on a Service IP, see the driver's names in `/etc/hosts`, and nothing is left
//! after the runtime is dropped, including what a crashed run left before it.
//!
//! One test, because the bridge and the routes are host-wide: it uses its own bridge name and
//! CIDRs so that it does not meet a single-host instance running with the defaults.

mod common;

use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::*;
use flotilla_runtime_linux::network::{find_ip_command, NetworkConfig};

const POD_CIDR: &str = "10.250.0.0/16";
const SERVICE_CIDR: &str = "10.112.0.0/12";
const SERVICE_IP: Ipv4Addr = Ipv4Addr::new(10, 112, 0, 42);

fn ip(ip_cmd: &PathBuf, args: &[&str]) -> (bool, String) {
    let out = Command::new(ip_cmd).args(args).output().expect("run ip");
    let text =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    (out.status.success(), text)
}

/// Removes whatever the test created on the host, even when it fails half-way (declared
/// before the runtime, so dropped after it).
struct HostCleanup {
    ip: PathBuf,
    names: Vec<String>,
}

impl Drop for HostCleanup {
    fn drop(&mut self) {
        for name in &self.names {
            let _ = ip(&self.ip, &["link", "del", "dev", name]);
        }
        let _ = ip(
            &self.ip,
            &[
                "route",
                "del",
                "local",
                SERVICE_CIDR,
                "dev",
                "lo",
                "table",
                "local",
            ],
        );
    }
}

/// A host listener that answers every connection with `reply` until dropped.
struct Listener {
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Listener {
    fn start(addr: SocketAddr, reply: &'static str) -> Listener {
        let listener = TcpListener::bind(addr).expect("bind on a Service IP");
        listener.set_nonblocking(true).expect("nonblocking");
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let thread = std::thread::spawn(move || {
            while !flag.load(Ordering::Relaxed) {
                match listener.accept() {
                    Ok((mut s, _)) => {
                        let _ = s.set_nonblocking(false);
                        let _ = s.write_all(reply.as_bytes());
                    }
                    Err(_) => std::thread::sleep(Duration::from_millis(10)),
                }
            }
        });
        Listener {
            stop,
            thread: Some(thread),
        }
    }
}

impl Drop for Listener {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// Reads what a TCP server at `addr` sends, retrying while it is not listening yet.
fn fetch(addr: SocketAddr, secs: u64) -> String {
    let deadline = Instant::now() + Duration::from_secs(secs);
    loop {
        match TcpStream::connect_timeout(&addr, Duration::from_secs(1)) {
            Ok(mut s) => {
                s.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
                let mut out = String::new();
                let _ = s.read_to_string(&mut out);
                if !out.is_empty() {
                    return out;
                }
            }
            Err(e) if Instant::now() >= deadline => panic!("connect {addr}: {e}"),
            Err(_) => {}
        }
        assert!(Instant::now() < deadline, "no answer from {addr}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn wait_for_log(path: &std::path::Path, needle: &str, secs: u64) -> String {
    let deadline = Instant::now() + Duration::from_secs(secs);
    loop {
        let text = std::fs::read_to_string(path).unwrap_or_default();
        if text.contains(needle) {
            return text;
        }
        assert!(Instant::now() < deadline, "no {needle:?} in log: {text}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn service_names(name: &str) -> Vec<String> {
    vec![
        name.to_string(),
        format!("{name}.default"),
        format!("{name}.default.svc"),
        format!("{name}.default.svc.cluster.local"),
    ]
}

#[test]
fn pods_reach_each_other_the_host_and_service_ips() {
    let Some(busybox) = prerequisites() else {
        return;
    };
    let Ok(ip_cmd) = find_ip_command(None) else {
        eprintln!("SKIPPED: pod networking needs iproute2's `ip`; apt-get install -y iproute2");
        return;
    };
    let bridge = format!("flt{}", std::process::id() % 1_000_000);
    let leftover = format!("vleft{}", std::process::id() % 1_000_000);
    let _cleanup = HostCleanup {
        ip: ip_cmd.clone(),
        names: vec![leftover.clone(), format!("{leftover}p"), bridge.clone()],
    };

    // What a crashed run would leave: the bridge with a port, and the Service route.
    for args in [
        vec!["link", "add", "name", &bridge, "type", "bridge"],
        vec![
            "link",
            "add",
            "name",
            &leftover,
            "type",
            "veth",
            "peer",
            "name",
            &format!("{leftover}p"),
        ],
        vec!["link", "set", "dev", &leftover, "master", &bridge],
        vec!["route", "add", "local", SERVICE_CIDR, "dev", "lo"],
    ] {
        let (ok, text) = ip(&ip_cmd, &args);
        assert!(ok, "ip {args:?}: {text}");
    }

    let mut config = config("net");
    config.network = Some(NetworkConfig {
        bridge: bridge.clone(),
        pod_cidr: POD_CIDR.parse().unwrap(),
        service_cidr: SERVICE_CIDR.parse().unwrap(),
        ip_command: None,
    });
    let mut h = Harness::with_config(config, &busybox);
    // The leftover port is gone; the bridge is back, with the gateway address.
    let (ok, _) = ip(&ip_cmd, &["link", "show", "dev", &leftover]);
    assert!(!ok, "leftover veth survived the start");
    let (ok, text) = ip(&ip_cmd, &["-4", "-o", "addr", "show", "dev", &bridge]);
    assert!(ok && text.contains("10.250.0.1/16"), "{text}");

    h.runtime
        .set_extra_hosts(vec![(SERVICE_IP.to_string(), service_names("web"))]);
    let service = Listener::start(SocketAddr::from((SERVICE_IP, 8080)), "from-service\n");

    let server = pod(
        "server",
        vec![sh(
            "main",
            "while true; do echo hello-from-server | nc -l -p 8080; done",
        )],
    );
    h.run_pod(&server);
    assert!(h.start(&server, "main").is_ok());
    let server_ip: Ipv4Addr = h
        .runtime
        .pod_ip(&server.metadata.uid)
        .expect("pod ip")
        .parse()
        .expect("an IPv4 address");

    // The host reaches the pod at its IP.
    assert_eq!(
        fetch(SocketAddr::from((server_ip, 8080)), 10),
        "hello-from-server\n"
    );

    let script = format!(
        "echo addr=$(ip -4 -o addr show dev eth0 | awk '{{print $4}}'); \
         for i in $(seq 100); do out=$(nc -w 2 {server_ip} 8080 </dev/null) && [ -n \"$out\" ] && break; sleep 0.1; done; \
         echo pod=$out; \
         echo svc=$(nc -w 2 {SERVICE_IP} 8080 </dev/null); \
         cat /etc/hosts; echo end-of-first-part; \
         for i in $(seq 100); do grep -q db.default /etc/hosts && {{ echo updated; grep db /etc/hosts; exit 0; }}; sleep 0.1; done; \
         exit 1"
    );
    let client = pod("client", vec![sh("main", &script)]);
    h.run_pod(&client);
    let client_ip: Ipv4Addr = h
        .runtime
        .pod_ip(&client.metadata.uid)
        .expect("pod ip")
        .parse()
        .expect("an IPv4 address");
    let pod_net: flotilla_runtime_linux::network::Ipv4Cidr = POD_CIDR.parse().unwrap();
    assert_ne!(server_ip, client_ip);
    assert!(pod_net.contains(server_ip) && pod_net.contains(client_ip));
    // Two pods, two ports on the bridge.
    let (_, ports) = ip(&ip_cmd, &["-o", "link", "show", "master", &bridge]);
    assert_eq!(ports.lines().count(), 2, "{ports}");

    assert!(h.start(&client, "main").is_ok());
    let log_path = h.runtime.log_path(&client.metadata.uid, "main", 0);
    let first = wait_for_log(&log_path, "end-of-first-part", 20);
    assert!(first.contains(&format!("addr={client_ip}/16\n")), "{first}");
    // Pod to pod, and pod to a host listener on a Service IP.
    assert!(first.contains("pod=hello-from-server\n"), "{first}");
    assert!(first.contains("svc=from-service\n"), "{first}");
    // /etc/hosts: localhost, the pod's own name, the Service names.
    assert!(first.contains("127.0.0.1\tlocalhost\n"), "{first}");
    assert!(first.contains(&format!("{client_ip}\tclient\n")), "{first}");
    assert!(
        first.contains(&format!(
            "{SERVICE_IP}\tweb web.default web.default.svc web.default.svc.cluster.local\n"
        )),
        "{first}"
    );

    // New entries reach running pods in place.
    h.runtime.set_extra_hosts(vec![
        (SERVICE_IP.to_string(), service_names("web")),
        ("10.112.0.43".to_string(), service_names("db")),
    ]);
    let (code, _, log) = h.wait_exit(&client, "main", 20);
    assert_eq!(code, 0, "{log}");
    assert!(
        log.contains("updated\n10.112.0.43\tdb db.default db.default.svc"),
        "{log}"
    );

    // Removing a pod removes its veth and frees its IP for the next pod.
    let client_veth = h
        .runtime
        .network()
        .and_then(|n| n.attachment(&client.metadata.uid))
        .map(|a| a.host_veth.clone())
        .expect("attachment");
    h.remove(&client);
    let (ok, _) = ip(&ip_cmd, &["link", "show", "dev", &client_veth]);
    assert!(!ok, "veth {client_veth} outlived its pod");
    let again = pod("again", vec![sh("main", "true")]);
    h.run_pod(&again);
    assert_eq!(
        h.runtime.pod_ip(&again.metadata.uid),
        Some(client_ip.to_string().as_str())
    );
    let server_veth = h
        .runtime
        .network()
        .and_then(|n| n.attachment(&server.metadata.uid))
        .map(|a| a.host_veth.clone())
        .expect("attachment");

    // Dropping the runtime leaves no veth, bridge or route behind.
    drop(service);
    drop(h);
    for name in [&server_veth, &bridge] {
        let (ok, _) = ip(&ip_cmd, &["link", "show", "dev", name]);
        assert!(!ok, "{name} outlived the runtime");
    }
    let (_, local) = ip(&ip_cmd, &["route", "show", "table", "local"]);
    assert!(!local.contains("10.112.0.0/12"), "{local}");
}
