//! Reads the bundled manifests (or the paths given as arguments), creates every object in a
//! fresh object store through full admission, and prints what the store holds.
//!
//! ```sh
//! cargo run -p flotilla-examples --example apply_manifests -- examples/manifests
//! ```

use std::path::PathBuf;

use anyhow::{bail, Context};
use flotilla_model::store::{ListOptions, Store, StoreConfig};
use flotilla_model::{Kind, Time};
use flotilla_sim::manifests::load_paths;

fn main() -> anyhow::Result<()> {
    let mut paths: Vec<PathBuf> = std::env::args().skip(1).map(PathBuf::from).collect();
    if paths.is_empty() {
        paths.push(PathBuf::from(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/manifests"
        )));
    }
    let loaded = load_paths(&paths, false)?;
    if !loaded.errors.is_empty() {
        for e in &loaded.errors {
            eprintln!("error: {e}");
        }
        bail!("{} manifest error(s)", loaded.errors.len());
    }
    let mut store = Store::new(StoreConfig::default());
    // Namespaces and cluster-scoped classes first, as `kubectl apply` users order them.
    let mut objects: Vec<_> = loaded.manifests.objects.iter().collect();
    objects.sort_by_key(|m| {
        !matches!(
            m.object.kind(),
            Kind::Namespace | Kind::PriorityClass | Kind::StorageClass
        )
    });
    for m in objects {
        let meta = m.object.metadata();
        store
            .create(m.object.clone(), Time::from_secs(1))
            .with_context(|| {
                format!(
                    "{}: creating {} {:?}",
                    m.location,
                    m.object.kind(),
                    meta.name
                )
            })?;
    }
    println!(
        "store at resourceVersion {} holds {} objects",
        store.resource_version(),
        store.len()
    );
    for kind in Kind::ALL {
        let (items, _) = store.list(*kind, &ListOptions::default())?;
        if !items.is_empty() {
            let names: Vec<String> = items
                .iter()
                .map(|o| {
                    let m = o.metadata();
                    if m.namespace.is_empty() {
                        m.name.clone()
                    } else {
                        format!("{}/{}", m.namespace, m.name)
                    }
                })
                .collect();
            println!("{:<24} {}", kind.plural(), names.join(", "));
        }
    }
    Ok(())
}
