//! Flotilla's simulator crate: the driver that runs the pure cluster logic on a virtual clock,
//! and the `flotilla` command-line program.
//!
//! For now it holds the driver side of manifests: [`manifests::load_paths`] reads files,
//! directories and standard input and hands the text to the pure parser in
//! [`flotilla_model::manifest`]. The discrete-event engine, scenarios and trace replay come with
//! the simulator issue.
//!
//! ```no_run
//! use flotilla_sim::manifests::load_paths;
//!
//! let loaded = load_paths(&["examples/manifests".into()], false).expect("readable");
//! for object in &loaded.manifests.objects {
//!     println!("{} {}", object.object.kind(), object.object.metadata().name);
//! }
//! ```

pub mod explain;
pub mod manifests;
