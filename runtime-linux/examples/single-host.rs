//! Single-host mode as a library user embeds it: the control plane and this machine as its
//! one node, pods as real processes, the kubectl-like API on a Unix socket.
//!
//! ```text
//! sudo cargo run --release -p flotilla-runtime-linux --example single-host -- [SOCKET]
//! # in another terminal, any `flotilla` command with the same socket:
//! sudo flotilla --socket SOCKET apply -f web.yaml
//! ```
//!
//! It is what `flotilla host` runs: [`Host::start`] restores the persisted objects (or
//! bootstraps a new cluster), cleans up what a crashed run left, registers the node and
//! listens; [`Host::run`] drives everything on the wall clock until SIGINT or SIGTERM, then
//! stops every pod gracefully and removes what the runtime created.

use std::sync::atomic::AtomicBool;
use std::sync::Arc;

use flotilla_runtime_linux::host::driver::{Host, HostConfig};

fn main() {
    // Pods run through helper processes that re-execute this binary: first thing in `main`.
    flotilla_runtime_linux::run_helper_if_requested();
    let mut config = HostConfig::new("single-host");
    if let Some(socket) = std::env::args().nth(1) {
        config.socket = socket.into();
    }
    let stop = Arc::new(AtomicBool::new(false));
    for signal in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        signal_hook::flag::register(signal, stop.clone()).expect("signal handler");
    }
    let host = match Host::start(config) {
        Ok(host) => host,
        Err(e) => {
            eprintln!("single-host: {e}");
            std::process::exit(1);
        }
    };
    eprintln!("single-host: ready; API on {}", host.socket().display());
    if let Err(e) = host.run(&stop) {
        eprintln!("single-host: {e}");
        std::process::exit(1);
    }
}
