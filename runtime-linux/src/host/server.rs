//! The single-host API's Unix socket: it accepts connections, identifies each caller by the
//! socket peer's credentials (`SO_PEERCRED`), reads one [`Request`] and hands it, with a
//! [`ReplySink`] for the answer, to the host's main loop over a channel.
//!
//! The socket is created with mode 0600, owned by root, and a caller that is not root is
//! refused before its request is read; or, opened to a group, with mode 0660 and that group,
//! and every caller is served as the identity its credentials give it (see [`super::authz`]).

use std::io::BufReader;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::Sender;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use super::api::{read_message, write_message, Reply, Request};

/// Who is calling: the socket peer's credentials as the kernel reports them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Peer {
    /// The caller's process id.
    pub pid: i32,
    /// Its user id.
    pub uid: u32,
    /// Its group id.
    pub gid: u32,
}

/// One request and where to send its answer.
#[derive(Debug)]
pub struct Call {
    /// The request.
    pub request: Request,
    /// The caller.
    pub peer: Peer,
    /// The answer's channel.
    pub replies: ReplySink,
}

/// The answer side of one connection. Writing to a client that went away fails quietly: the
/// methods return `false` so a streaming answer can stop.
#[derive(Debug)]
pub struct ReplySink {
    stream: UnixStream,
}

impl ReplySink {
    /// A sink writing to `stream`.
    pub fn new(stream: UnixStream) -> ReplySink {
        ReplySink { stream }
    }

    /// Sends text for the client's standard output.
    pub fn stdout(&mut self, text: impl Into<String>) -> bool {
        self.send(&Reply::Stdout { text: text.into() })
    }

    /// Sends text for the client's standard error.
    pub fn stderr(&mut self, text: impl Into<String>) -> bool {
        self.send(&Reply::Stderr { text: text.into() })
    }

    /// Ends the answer with `code`.
    pub fn exit(mut self, code: i32) {
        self.send(&Reply::Exit { code });
    }

    /// Sends one message.
    pub fn send(&mut self, reply: &Reply) -> bool {
        write_message(&mut self.stream, reply).is_ok()
    }

    /// Whether the client has hung up (a non-blocking peek sees the end of the stream).
    pub fn client_gone(&self) -> bool {
        let mut buf = [0u8; 1];
        if self.stream.set_nonblocking(true).is_err() {
            return true;
        }
        let gone = match nix::sys::socket::recv(
            std::os::fd::AsRawFd::as_raw_fd(&self.stream),
            &mut buf,
            nix::sys::socket::MsgFlags::MSG_PEEK,
        ) {
            Ok(0) => true,
            Ok(_) => false,
            Err(nix::errno::Errno::EAGAIN) => false,
            Err(_) => true,
        };
        let _ = self.stream.set_nonblocking(false);
        gone
    }
}

/// Why the API socket could not be served.
#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    /// Another host answers on the socket already.
    #[error("{0}: another flotilla host is already serving this socket")]
    InUse(PathBuf),
    /// The socket could not be created.
    #[error("{path}: {source}")]
    Socket {
        /// The socket's path.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
}

/// The listening socket and its accept thread; dropping it stops accepting and removes the
/// socket file.
#[derive(Debug)]
pub struct ApiServer {
    path: PathBuf,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl ApiServer {
    /// Listens on `path` and sends every request to `calls`. Without `group` the socket has
    /// mode 0600 and a caller that is not root is refused; with it the socket belongs to that
    /// group with mode 0660, and every caller that can connect is served (what it may do is
    /// for RBAC to decide). A stale socket file (no one answering) is replaced.
    pub fn start(
        path: &Path,
        group: Option<u32>,
        calls: Sender<Call>,
    ) -> Result<ApiServer, ServerError> {
        let socket_err = |source| ServerError::Socket {
            path: path.to_path_buf(),
            source,
        };
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(socket_err)?;
        }
        if path.exists() {
            if UnixStream::connect(path).is_ok() {
                return Err(ServerError::InUse(path.to_path_buf()));
            }
            std::fs::remove_file(path).map_err(socket_err)?;
        }
        let listener = UnixListener::bind(path).map_err(socket_err)?;
        let mode = if group.is_some() { 0o660 } else { 0o600 };
        if let Some(gid) = group {
            std::os::unix::fs::chown(path, Some(0), Some(gid)).map_err(socket_err)?;
        }
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
            .map_err(socket_err)?;
        listener.set_nonblocking(true).map_err(socket_err)?;
        let stop = Arc::new(AtomicBool::new(false));
        let thread = {
            let stop = stop.clone();
            std::thread::Builder::new()
                .name("api-accept".into())
                .spawn(move || accept_loop(listener, calls, stop, group.is_some()))
                .map_err(socket_err)?
        };
        Ok(ApiServer {
            path: path.to_path_buf(),
            stop,
            thread: Some(thread),
        })
    }

    /// The socket's path.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for ApiServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
        let _ = std::fs::remove_file(&self.path);
    }
}

fn accept_loop(
    listener: UnixListener,
    calls: Sender<Call>,
    stop: Arc<AtomicBool>,
    open_to_group: bool,
) {
    while !stop.load(Ordering::SeqCst) {
        match listener.accept() {
            Ok((stream, _)) => {
                let calls = calls.clone();
                let _ = std::thread::Builder::new()
                    .name("api-conn".into())
                    .spawn(move || serve_connection(stream, calls, open_to_group));
            }
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                std::thread::sleep(Duration::from_millis(20));
            }
            Err(_) => std::thread::sleep(Duration::from_millis(20)),
        }
    }
}

/// The caller's credentials (`SO_PEERCRED`).
pub fn peer_of(stream: &UnixStream) -> std::io::Result<Peer> {
    let cred = nix::sys::socket::getsockopt(stream, nix::sys::socket::sockopt::PeerCredentials)
        .map_err(std::io::Error::from)?;
    Ok(Peer {
        pid: cred.pid(),
        uid: cred.uid(),
        gid: cred.gid(),
    })
}

fn serve_connection(stream: UnixStream, calls: Sender<Call>, open_to_group: bool) {
    let _ = stream.set_nonblocking(false);
    let Ok(peer) = peer_of(&stream) else {
        return;
    };
    let Ok(write_half) = stream.try_clone() else {
        return;
    };
    let mut sink = ReplySink::new(write_half);
    if peer.uid != 0 && !open_to_group {
        sink.stderr(format!(
            "error: you must be root to use this socket (uid {} refused)\n",
            peer.uid
        ));
        sink.exit(1);
        return;
    }
    let _ = stream.set_read_timeout(Some(Duration::from_secs(30)));
    let mut reader = BufReader::new(stream);
    let request: Request = match read_message(&mut reader) {
        Ok(r) => r,
        Err(e) => {
            sink.stderr(format!("error: {e}\n"));
            sink.exit(1);
            return;
        }
    };
    if calls
        .send(Call {
            request,
            peer,
            replies: sink,
        })
        .is_err()
    {
        // The host is shutting down; the sink went with the failed message.
    }
}
