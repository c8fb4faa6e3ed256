//! Property tests of the object store: random sequences of creates, updates, status updates and
//! deletes (with and without finalizers) of ConfigMaps and Pods in two namespaces, each with a
//! ResourceQuota, checked after every request:
//!
//! 1. the resourceVersion grows by exactly one per event written, and a failed request writes
//!    nothing at all;
//! 2. replaying the watch log from the start rebuilds exactly the store's contents, with the
//!    very objects (`Arc`s) the store holds;
//! 3. each quota's `status.used` equals the usage recomputed from the objects present;
//! 4. the same requests on a store with the same seed give the same store, bit for bit.

use std::collections::BTreeMap;
use std::sync::Arc;

use flotilla_model::store::{
    DeleteOptions, PropagationPolicy, Store, StoreConfig, WatchEvent, WatchEventType,
};
use flotilla_model::{Kind, Object, Quantity, Time};
use proptest::prelude::*;
use serde_json::json;

const NAMESPACES: [&str; 2] = ["default", "shop"];
const NAMES: [&str; 2] = ["a", "b"];
const CPUS: [&str; 3] = ["100m", "500m", "1"];
const PHASES: [&str; 4] = ["Pending", "Running", "Succeeded", "Failed"];

/// One request to the store. Indexes pick from the constants above.
#[derive(Clone, Debug)]
enum Op {
    CreateConfigMap {
        ns: usize,
        name: usize,
        finalizer: bool,
    },
    CreatePod {
        ns: usize,
        name: usize,
        /// `None`: the container states no CPU request (refused by the quota).
        cpu: Option<usize>,
        bound: bool,
        finalizer: bool,
    },
    /// Read-modify-write of a ConfigMap: new data, maybe without finalizers, maybe with a new
    /// one, maybe with a stale resourceVersion.
    UpdateConfigMap {
        ns: usize,
        name: usize,
        value: u8,
        drop_finalizers: bool,
        add_finalizer: bool,
        stale: bool,
    },
    /// Read-modify-write of a Pod: a new image and label, maybe without finalizers.
    UpdatePod {
        ns: usize,
        name: usize,
        image: u8,
        drop_finalizers: bool,
        stale: bool,
    },
    UpdatePodStatus {
        ns: usize,
        name: usize,
        phase: usize,
    },
    Delete {
        pod: bool,
        ns: usize,
        name: usize,
        grace: Option<i64>,
        foreground: bool,
    },
}

fn op_strategy() -> impl Strategy<Value = Op> {
    let ns = 0..NAMESPACES.len();
    let name = 0..NAMES.len();
    prop_oneof![
        3 => (ns.clone(), name.clone(), any::<bool>())
            .prop_map(|(ns, name, finalizer)| Op::CreateConfigMap { ns, name, finalizer }),
        4 => (
            ns.clone(),
            name.clone(),
            prop::option::weighted(0.9, 0..CPUS.len()),
            any::<bool>(),
            prop::bool::weighted(0.3),
        )
            .prop_map(|(ns, name, cpu, bound, finalizer)| Op::CreatePod {
                ns,
                name,
                cpu,
                bound,
                finalizer
            }),
        3 => (
            ns.clone(),
            name.clone(),
            any::<u8>(),
            any::<bool>(),
            prop::bool::weighted(0.15),
            prop::bool::weighted(0.15),
        )
            .prop_map(|(ns, name, value, drop_finalizers, add_finalizer, stale)| {
                Op::UpdateConfigMap {
                    ns,
                    name,
                    value,
                    drop_finalizers,
                    add_finalizer,
                    stale,
                }
            }),
        2 => (ns.clone(), name.clone(), any::<u8>(), any::<bool>(), prop::bool::weighted(0.15))
            .prop_map(|(ns, name, image, drop_finalizers, stale)| Op::UpdatePod {
                ns,
                name,
                image,
                drop_finalizers,
                stale
            }),
        3 => (ns.clone(), name.clone(), 0..PHASES.len())
            .prop_map(|(ns, name, phase)| Op::UpdatePodStatus { ns, name, phase }),
        4 => (
            any::<bool>(),
            ns,
            name,
            prop::option::of(prop_oneof![Just(0i64), Just(5), Just(-1)]),
            prop::bool::weighted(0.2),
        )
            .prop_map(|(pod, ns, name, grace, foreground)| Op::Delete {
                pod,
                ns,
                name,
                grace,
                foreground
            }),
    ]
}

fn decode(kind: Kind, value: serde_json::Value) -> Object {
    Object::from_value(kind, value).expect("test objects decode")
}

/// A fresh store with namespace `shop` and a quota in each namespace.
fn fresh_store(seed: u64) -> Store {
    let mut store = Store::new(StoreConfig {
        seed,
        ..StoreConfig::default()
    });
    let ns = decode(Kind::Namespace, json!({"metadata": {"name": "shop"}}));
    store.create(ns, Time::ZERO).expect("namespace");
    for ns in NAMESPACES {
        let quota = decode(
            Kind::ResourceQuota,
            json!({
                "metadata": {"name": "quota", "namespace": ns},
                "spec": {"hard": {
                    "pods": "2", "count/pods": "2", "requests.cpu": "1500m",
                    "configmaps": "1", "count/configmaps": "2"
                }}
            }),
        );
        store.create(quota, Time::ZERO).expect("quota");
    }
    store
}

/// Applies one request; `Ok(())` when the store accepted it.
fn apply(store: &mut Store, op: &Op, now: Time) -> Result<(), String> {
    let err = |e: flotilla_model::store::StoreError| e.to_string();
    match *op {
        Op::CreateConfigMap {
            ns,
            name,
            finalizer,
        } => {
            let finalizers: Vec<&str> = if finalizer {
                vec!["example.com/hold"]
            } else {
                vec![]
            };
            let cm = decode(
                Kind::ConfigMap,
                json!({
                    "metadata": {"name": NAMES[name], "namespace": NAMESPACES[ns], "finalizers": finalizers},
                    "data": {"v": "0"}
                }),
            );
            store.create(cm, now).map(drop).map_err(err)
        }
        Op::CreatePod {
            ns,
            name,
            cpu,
            bound,
            finalizer,
        } => {
            let finalizers: Vec<&str> = if finalizer {
                vec!["example.com/hold"]
            } else {
                vec![]
            };
            let resources = match cpu {
                Some(i) => json!({"requests": {"cpu": CPUS[i]}}),
                None => json!({}),
            };
            let pod = decode(
                Kind::Pod,
                json!({
                    "metadata": {"name": NAMES[name], "namespace": NAMESPACES[ns], "finalizers": finalizers},
                    "spec": {
                        "nodeName": if bound { "node-1" } else { "" },
                        "containers": [{"name": "app", "image": "app:1", "resources": resources}]
                    }
                }),
            );
            store.create(pod, now).map(drop).map_err(err)
        }
        Op::UpdateConfigMap {
            ns,
            name,
            value,
            drop_finalizers,
            add_finalizer,
            stale,
        } => {
            let Some(current) = store.get(Kind::ConfigMap, NAMESPACES[ns], NAMES[name]) else {
                return Err("not found".into());
            };
            let mut cm = (*current).clone();
            if let Object::ConfigMap(c) = &mut cm {
                c.data.insert("v".into(), value.to_string());
            }
            let meta = cm.metadata_mut();
            if drop_finalizers {
                meta.finalizers.clear();
            }
            if add_finalizer {
                meta.finalizers.push("example.com/late".into());
            }
            if stale {
                meta.resource_version = "1".into();
            }
            store.update(cm, now).map(drop).map_err(err)
        }
        Op::UpdatePod {
            ns,
            name,
            image,
            drop_finalizers,
            stale,
        } => {
            let Some(current) = store.get(Kind::Pod, NAMESPACES[ns], NAMES[name]) else {
                return Err("not found".into());
            };
            let mut pod = (*current).clone();
            if let Object::Pod(p) = &mut pod {
                p.spec.containers[0].image = format!("app:{image}");
                p.metadata.labels.insert("rev".into(), image.to_string());
            }
            let meta = pod.metadata_mut();
            if drop_finalizers {
                meta.finalizers.clear();
            }
            if stale {
                meta.resource_version = "1".into();
            }
            store.update(pod, now).map(drop).map_err(err)
        }
        Op::UpdatePodStatus { ns, name, phase } => {
            let status = decode(
                Kind::Pod,
                json!({
                    "metadata": {"name": NAMES[name], "namespace": NAMESPACES[ns]},
                    "status": {"phase": PHASES[phase]}
                }),
            );
            store.update_status(status, now).map(drop).map_err(err)
        }
        Op::Delete {
            pod,
            ns,
            name,
            grace,
            foreground,
        } => {
            let kind = if pod { Kind::Pod } else { Kind::ConfigMap };
            let options = DeleteOptions {
                grace_period_seconds: grace,
                propagation_policy: if foreground {
                    PropagationPolicy::Foreground
                } else {
                    PropagationPolicy::Background
                },
                ..DeleteOptions::default()
            };
            store
                .delete(kind, NAMESPACES[ns], NAMES[name], &options, now)
                .map(drop)
                .map_err(err)
        }
    }
}

/// Every stored object by key, in key order.
fn contents(store: &Store) -> BTreeMap<(Kind, String, String), Arc<Object>> {
    Kind::ALL
        .iter()
        .flat_map(|k| store.iter_kind(*k))
        .map(|o| {
            let m = o.metadata();
            ((o.kind(), m.namespace.clone(), m.name.clone()), o.clone())
        })
        .collect()
}

fn log(store: &Store) -> Vec<WatchEvent> {
    store
        .changes_since(0)
        .expect("the history holds everything")
        .cloned()
        .collect()
}

/// Property 2: replaying the log from the start gives the store's contents, as shared objects.
fn check_replay(store: &Store) -> Result<(), TestCaseError> {
    let mut replayed = BTreeMap::new();
    for event in log(store) {
        let m = event.object.metadata();
        let key = (event.object.kind(), m.namespace.clone(), m.name.clone());
        match event.event_type {
            WatchEventType::Added | WatchEventType::Modified => {
                replayed.insert(key, event.object.clone());
            }
            WatchEventType::Deleted => {
                prop_assert!(
                    replayed.remove(&key).is_some(),
                    "deleted before added: {:?}",
                    key
                );
            }
        }
    }
    let stored = contents(store);
    prop_assert_eq!(
        replayed.keys().collect::<Vec<_>>(),
        stored.keys().collect::<Vec<_>>()
    );
    for (key, object) in &stored {
        prop_assert!(
            Arc::ptr_eq(object, &replayed[key]),
            "the log's last object for {:?} is not the stored one",
            key
        );
    }
    Ok(())
}

fn q(text: &str) -> Quantity {
    Quantity::parse(text).expect("a quantity")
}

/// Property 3: each quota's usage, recomputed independently from the objects present.
fn check_quotas(store: &Store) -> Result<(), TestCaseError> {
    for ns in NAMESPACES {
        let mut pods = 0;
        let mut all_pods = 0;
        let mut cpu = Quantity::default();
        for object in store.iter_namespace(Kind::Pod, ns) {
            let Object::Pod(pod) = object.as_ref() else {
                unreachable!("pods only")
            };
            all_pods += 1;
            if !pod.phase().is_terminal() {
                pods += 1;
                if let Some(c) = pod.spec.containers[0].resources.requests.get("cpu") {
                    cpu += *c;
                }
            }
        }
        let maps = store.iter_namespace(Kind::ConfigMap, ns).count();
        let Some(quota) = store.get(Kind::ResourceQuota, ns, "quota") else {
            return Err(TestCaseError::fail("the quota is gone"));
        };
        let Object::ResourceQuota(quota) = quota.as_ref() else {
            unreachable!("a quota")
        };
        let expected: BTreeMap<String, Quantity> = [
            ("configmaps", q(&maps.to_string())),
            ("count/configmaps", q(&maps.to_string())),
            ("count/pods", q(&all_pods.to_string())),
            ("pods", q(&pods.to_string())),
            ("requests.cpu", cpu),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect();
        prop_assert_eq!(&quota.status.used, &expected, "namespace {}", ns);
    }
    Ok(())
}

/// Runs `ops`, checking properties 1 to 3 after each; returns the store.
fn run(seed: u64, ops: &[Op]) -> Result<Store, TestCaseError> {
    let mut store = fresh_store(seed);
    for (i, op) in ops.iter().enumerate() {
        let before_rv = store.resource_version();
        let before_log = log(&store).len();
        let before = contents(&store);
        let result = apply(&mut store, op, Time::from_secs(1_000 + i as u64));
        let written = log(&store);
        match result {
            Ok(()) => {
                // Property 1: one version per event, consecutive.
                let new_events = &written[before_log..];
                prop_assert_eq!(
                    store.resource_version() - before_rv,
                    new_events.len() as u64,
                    "{:?}",
                    op
                );
                for (j, e) in new_events.iter().enumerate() {
                    prop_assert_eq!(e.resource_version, before_rv + 1 + j as u64);
                    prop_assert_eq!(
                        &e.object.metadata().resource_version,
                        &e.resource_version.to_string()
                    );
                }
            }
            Err(_) => {
                prop_assert_eq!(store.resource_version(), before_rv, "{:?}", op);
                prop_assert_eq!(written.len(), before_log, "{:?}", op);
                let after = contents(&store);
                prop_assert_eq!(after.len(), before.len());
                for (key, object) in &before {
                    prop_assert!(Arc::ptr_eq(object, &after[key]), "{:?} changed", key);
                }
            }
        }
        check_replay(&store)?;
        check_quotas(&store)?;
    }
    Ok(store)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    #[test]
    fn store_invariants_hold_after_every_request(
        seed in any::<u64>(),
        ops in prop::collection::vec(op_strategy(), 1..60),
    ) {
        let first = run(seed, &ops)?;
        // Property 4: same seed, same requests, same store and same history.
        let second = run(seed, &ops)?;
        prop_assert_eq!(first.resource_version(), second.resource_version());
        let (a, b) = (contents(&first), contents(&second));
        prop_assert_eq!(a.keys().collect::<Vec<_>>(), b.keys().collect::<Vec<_>>());
        for (key, object) in &a {
            prop_assert_eq!(object.as_ref(), b[key].as_ref());
        }
        let (log_a, log_b) = (log(&first), log(&second));
        prop_assert_eq!(log_a.len(), log_b.len());
        for (x, y) in log_a.iter().zip(&log_b) {
            prop_assert_eq!(x.event_type, y.event_type);
            prop_assert_eq!(x.resource_version, y.resource_version);
            prop_assert_eq!(x.object.as_ref(), y.object.as_ref());
        }
    }
}

#[test]
fn a_different_seed_gives_different_uids() {
    let ops = [Op::CreateConfigMap {
        ns: 0,
        name: 0,
        finalizer: false,
    }];
    let uid = |seed| {
        let store = run(seed, &ops).expect("invariants hold");
        let cm = store.get(Kind::ConfigMap, "default", "a").expect("created");
        cm.metadata().uid.clone()
    };
    assert_eq!(uid(1), uid(1));
    assert_ne!(uid(1), uid(2));
}
