//! Flotilla's simulator crate: the driver that runs the pure cluster logic on a virtual clock,
//! and the `flotilla` command-line program.
//!
//! - [`scenario`]: scenario files (`sim.flotilla.io/v1` `Scenario`), checked before a run;
//!   [`scenario::builtin_default`] is what `flotilla run` runs without a file;
//! - [`engine`]: the discrete-event engine driving a
//!   [`Cluster`](flotilla_controllers::cluster::Cluster) on a virtual clock;
//! - [`runtime_model`]: the virtual nodes' container runtime (pull, start, run, stop timing);
//! - [`faults`]: node crashes, failures by MTBF/MTTR, zone outages, partitions and kubelet
//!   restarts;
//! - [`load`]: rate curves, and the offered load of Services measured for the HPA;
//! - [`metrics`]: per-pod timings, sampled time series, `summary.json` and the `events.jsonl`
//!   history; [`report`]: the summary table; [`plots`]: the SVG plots of a run;
//! - [`sweep`]: `flotilla sweep`, many seeded runs under several configurations and the
//!   confidence intervals of their metrics;
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
pub mod faults;
pub mod load;
pub mod manifests;
pub mod metrics;
pub mod plots;
pub mod report;
pub mod runtime_model;
pub mod scenario;
pub mod study;
pub mod sweep;
pub mod trace;
