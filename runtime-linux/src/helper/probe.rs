//! Probes run inside a container: exec in all its namespaces, TCP, HTTP and gRPC in its
//! network namespace. The helper prints what it saw and exits 0 for success.

use std::io::{Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::path::Path;
use std::time::Duration;

use crate::spec::{ProbeAction, ProbeSpec};
use crate::sys::process::{self, Fork};
use crate::sys::{CloneFlags, LinuxSyscall, Syscall};

/// The `probe` helper mode: returns the exit code (0 = success).
pub fn main(spec_path: &Path) -> i32 {
    process::set_name("flotilla-probe");
    process::set_not_dumpable();
    let spec: ProbeSpec = match super::read_spec(spec_path) {
        Ok(s) => s,
        Err(e) => {
            println!("probe: {e}");
            return 2;
        }
    };
    let sys = LinuxSyscall;
    let ns = |name: &str| format!("/proc/{}/ns/{name}", spec.init_pid);
    let timeout = Duration::from_secs(spec.timeout_secs.max(1));
    match &spec.action {
        ProbeAction::Exec(p) => {
            let entered = (|| {
                super::join_cgroups(&spec.cgroup_dirs)?;
                // The mount namespace last: after it, /proc/<pid> paths no longer resolve.
                for (name, flag) in [
                    ("ipc", CloneFlags::CLONE_NEWIPC),
                    ("uts", CloneFlags::CLONE_NEWUTS),
                    ("net", CloneFlags::CLONE_NEWNET),
                    ("pid", CloneFlags::CLONE_NEWPID),
                    ("cgroup", CloneFlags::CLONE_NEWCGROUP),
                    ("mnt", CloneFlags::CLONE_NEWNS),
                ] {
                    sys.setns(Path::new(&ns(name)), flag)
                        .map_err(|e| e.to_string())?;
                }
                Ok::<(), String>(())
            })();
            if let Err(e) = entered {
                println!("probe: {e}");
                return 2;
            }
            let _ = std::io::stdout().flush();
            match process::fork() {
                Err(e) => {
                    println!("probe: {e}");
                    2
                }
                Ok(Fork::Child) => {
                    let code = crate::helper::container::exec_workload(p, None);
                    std::process::exit(code)
                }
                Ok(Fork::Parent(pid)) => loop {
                    match nix::sys::wait::waitpid(pid, None) {
                        Ok(status) => {
                            if let Some(code) = process::exit_code(status) {
                                return code;
                            }
                        }
                        Err(nix::errno::Errno::EINTR) => continue,
                        Err(_) => return 2,
                    }
                },
            }
        }
        ProbeAction::Tcp { host, port } => {
            if let Err(e) = sys.setns(Path::new(&ns("net")), CloneFlags::CLONE_NEWNET) {
                println!("probe: {e}");
                return 2;
            }
            match connect(host, *port, timeout) {
                Ok(_) => 0,
                Err(e) => {
                    println!("dial tcp {host}:{port}: {e}");
                    1
                }
            }
        }
        ProbeAction::Http {
            host,
            port,
            path,
            headers,
        } => {
            if let Err(e) = sys.setns(Path::new(&ns("net")), CloneFlags::CLONE_NEWNET) {
                println!("probe: {e}");
                return 2;
            }
            match http_get(host, *port, path, headers, timeout) {
                Ok(code) if (200..400).contains(&code) => 0,
                Ok(code) => {
                    println!("HTTP probe failed with statuscode: {code}");
                    1
                }
                Err(e) => {
                    println!("Get \"http://{host}:{port}{path}\": {e}");
                    1
                }
            }
        }
        ProbeAction::Grpc {
            host,
            port,
            service,
        } => {
            if let Err(e) = sys.setns(Path::new(&ns("net")), CloneFlags::CLONE_NEWNET) {
                println!("probe: {e}");
                return 2;
            }
            let (code, message) = grpc_probe(host, *port, service, timeout);
            println!("{message}");
            code
        }
    }
}

/// One gRPC health check, with the kubelet's result messages (pkg/probe/grpc/grpc.go
/// `Probe`): exit code 0 for `SERVING`, 1 for anything else.
pub fn grpc_probe(host: &str, port: u16, service: &str, timeout: Duration) -> (i32, String) {
    use super::grpc::{self, GrpcError, ServingStatus};
    let addr = if host.contains(':') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    };
    let secs = format!("{}s", timeout.as_secs_f64());
    match grpc::health_check(host, port, service, timeout) {
        Ok(ServingStatus::Serving) => (0, "service healthy".to_string()),
        Ok(other) => (
            1,
            format!("service unhealthy (responded with {:?})", other.name()),
        ),
        Err(GrpcError::ConnectTimeout { .. }) => (
            1,
            format!("timeout: failed to connect service {addr:?} within {secs}"),
        ),
        Err(e @ GrpcError::Connect { .. }) => (
            1,
            format!("error: failed to connect service at {addr:?}: {e}"),
        ),
        Err(GrpcError::Status { code, message }) if code == grpc::UNIMPLEMENTED => (
            1,
            format!(
                "error: this server does not implement the grpc health protocol \
                 (grpc.health.v1.Health): {message}"
            ),
        ),
        Err(GrpcError::DeadlineExceeded)
        | Err(GrpcError::Status {
            code: grpc::DEADLINE_EXCEEDED,
            ..
        }) => (
            1,
            format!("timeout: health rpc did not complete within {secs}"),
        ),
        Err(e) => (1, format!("error: health rpc probe failed: {e}")),
    }
}

fn connect(host: &str, port: u16, timeout: Duration) -> std::io::Result<TcpStream> {
    let mut last = std::io::Error::new(std::io::ErrorKind::NotFound, "no address");
    for addr in (host, port).to_socket_addrs()? {
        match TcpStream::connect_timeout(&addr, timeout) {
            Ok(s) => return Ok(s),
            Err(e) => last = e,
        }
    }
    Err(last)
}

/// A minimal HTTP/1.1 GET: the status code of the response.
fn http_get(
    host: &str,
    port: u16,
    path: &str,
    headers: &[(String, String)],
    timeout: Duration,
) -> std::io::Result<u16> {
    let mut s = connect(host, port, timeout)?;
    s.set_read_timeout(Some(timeout))?;
    s.set_write_timeout(Some(timeout))?;
    let path = if path.is_empty() { "/" } else { path };
    let mut req = format!("GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\nUser-Agent: kube-probe/flotilla\r\nConnection: close\r\n");
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    req.push_str("\r\n");
    s.write_all(req.as_bytes())?;
    let mut buf = [0u8; 64];
    let mut got = Vec::new();
    while !got.contains(&b'\n') && got.len() < 1024 {
        let n = s.read(&mut buf)?;
        if n == 0 {
            break;
        }
        got.extend_from_slice(&buf[..n]);
    }
    let line = String::from_utf8_lossy(&got);
    line.split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .ok_or_else(|| {
            std::io::Error::new(std::io::ErrorKind::InvalidData, "malformed HTTP response")
        })
}
