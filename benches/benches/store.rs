//! Object store throughput with 100,000 pods: creates through full admission, status updates,
//! and watch delivery of every change to a cursor.

// criterion's macros generate the undocumented `benches` and `main` functions.
#![allow(missing_docs)]

use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use flotilla_model::api::Pod;
use flotilla_model::store::{Store, StoreConfig, WatchCursor};
use flotilla_model::{Kind, Object, Time};

const PODS: usize = 100_000;

fn pod(i: usize) -> Object {
    let pod: Pod = serde_json::from_value(serde_json::json!({
        "metadata": {"name": format!("web-{i}"), "namespace": "default", "labels": {"app": "web"}},
        "spec": {"containers": [{
            "name": "web",
            "image": "nginx:1.27",
            "resources": {"requests": {"cpu": "100m", "memory": "128Mi"}}
        }]}
    }))
    .expect("the bench pod decodes");
    pod.into()
}

fn filled_store(pods: &[Object]) -> Store {
    let mut store = Store::new(StoreConfig {
        watch_history: 4 * PODS,
        ..StoreConfig::default()
    });
    for (i, p) in pods.iter().enumerate() {
        store
            .create(p.clone(), Time::from_millis(i as u64))
            .expect("bench pods are valid");
    }
    store
}

fn store_benches(c: &mut Criterion) {
    let pods: Vec<Object> = (0..PODS).map(pod).collect();
    let mut group = c.benchmark_group("store");
    group.sample_size(10);
    group.throughput(Throughput::Elements(PODS as u64));

    group.bench_function("create_100k_pods", |b| {
        b.iter_batched(
            || pods.clone(),
            |pods| {
                let mut store = Store::new(StoreConfig {
                    watch_history: 4 * PODS,
                    ..StoreConfig::default()
                });
                for (i, p) in pods.into_iter().enumerate() {
                    store
                        .create(p, Time::from_millis(i as u64))
                        .expect("bench pods are valid");
                }
                store
            },
            BatchSize::LargeInput,
        )
    });

    group.bench_function("update_status_100k_pods", |b| {
        b.iter_batched(
            || filled_store(&pods),
            |mut store| {
                let names: Vec<String> = (0..PODS).map(|i| format!("web-{i}")).collect();
                for name in &names {
                    let current = store.get(Kind::Pod, "default", name).expect("created");
                    let mut updated = (*current).clone();
                    if let Object::Pod(p) = &mut updated {
                        p.status.pod_ip = "10.0.0.1".into();
                    }
                    store
                        .update_status(updated, Time::from_secs(1_000))
                        .expect("status update");
                }
                store
            },
            BatchSize::LargeInput,
        )
    });

    let store = filled_store(&pods);
    group.bench_function("watch_100k_pod_events", |b| {
        b.iter(|| {
            let mut cursor = WatchCursor::new(&[Kind::Pod], 0);
            let events = store.watch(&mut cursor).expect("history holds every event");
            assert_eq!(events.len(), PODS);
            events
        })
    });
    group.finish();
}

criterion_group!(benches, store_benches);
criterion_main!(benches);
