//! Flotilla's simulator crate: the driver that runs the pure cluster logic on a virtual clock,
//! and the `flotilla` command-line program.
//!
//! - [`scenario`]: scenario files (`sim.flotilla.io/v1` `Scenario`), checked before a run;
//!   [`scenario::builtin_default`] is what `flotilla run` runs without a file;
//! - [`engine`]: the discrete-event engine driving a
//!   [`Cluster`](flotilla_controllers::cluster::Cluster) on a virtual clock;
//! - [`runtime_model`]: the virtual nodes' container runtime (pull, start, run, stop timing);
//! - [`metrics`]: per-pod timings, sampled time series and `summary.json`; [`report`]: the
//!   summary table;
//! - [`manifests`]: reading manifest files, directories and standard input for the pure parser
//!   in [`flotilla_model::manifest`];
//! - [`explain`]: `flotilla explain`;
//! - [`trace`]: replay of public cluster traces (Alibaba GPU v2023, Google 2011) named in a
//!   scenario's `traces:` list.
//!
//! ```no_run
//! use flotilla_sim::manifests::load_paths;
//!
//! let loaded = load_paths(&["examples/manifests".into()], false).expect("readable");
//! for object in &loaded.manifests.objects {
//!     println!("{} {}", object.object.kind(), object.object.metadata().name);
//! }
//! ```

pub mod engine;
pub mod explain;
pub mod manifests;
pub mod metrics;
pub mod report;
pub mod runtime_model;
pub mod scenario;
pub mod trace;
