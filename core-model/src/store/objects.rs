//! The store's objects: in key order for lists and watches, and in a hash index for lookups.
//!
//! Lists, `iter_kind` and restores read objects in key order (kind, namespace, name), which a
//! `BTreeMap` gives. Most reads, though, are lookups of one object by key: every controller's
//! reconcile, every kubelet status write, every precondition check. In the ordered map each
//! costs a walk down the tree comparing strings at every step (the names of a large cluster's
//! pods share long prefixes), plus building an owned key. The index answers them with one hash
//! of the key's parts and, almost always, one comparison. It holds the same `Arc`s as the
//! ordered map (one reference count each, no copy of the keys): an object's key is its kind,
//! namespace and name, which the index reads from the object itself.
//!
//! The ordered map is one `BTreeMap` per kind: controllers list a kind in a namespace on many
//! watch events (the Services that might select a pod, the PodDisruptionBudgets that might
//! cover it), and a kind with few objects is then read from its own small map instead of
//! being searched for among all the pods.

use std::collections::btree_map;
use std::collections::BTreeMap;
use std::sync::Arc;

use hashbrown::HashTable;

use super::ObjectKey;
use crate::object::{Kind, Object};

/// The stored objects by key. See the [module docs](self).
#[derive(Clone, Debug)]
pub(crate) struct ObjectMap {
    /// By kind (`Kind as usize`, which is `Kind::ALL`'s order and the keys' order of kinds).
    ordered: Vec<BTreeMap<ObjectKey, Arc<Object>>>,
    index: HashTable<Arc<Object>>,
    len: usize,
}

impl Default for ObjectMap {
    fn default() -> ObjectMap {
        ObjectMap {
            ordered: vec![BTreeMap::new(); Kind::ALL.len()],
            index: HashTable::new(),
            len: 0,
        }
    }
}

/// The hash of a key's parts ([`FxHasher`](crate::hash::FxHasher): keys are not chosen by an
/// adversary who could gain from collisions, and the hash must be fast, since lookups are the
/// store's most frequent operation). Deterministic, though nothing depends on the order of the
/// index.
fn key_hash(kind: Kind, namespace: &str, name: &str) -> u64 {
    use std::hash::Hasher;
    let mut h = crate::hash::FxHasher::with_seed(kind as u64);
    h.write(namespace.as_bytes());
    h.write(name.as_bytes());
    h.finish()
}

fn object_hash(object: &Object) -> u64 {
    let meta = object.metadata();
    key_hash(object.kind(), &meta.namespace, &meta.name)
}

fn is_at(object: &Object, kind: Kind, namespace: &str, name: &str) -> bool {
    let meta = object.metadata();
    object.kind() == kind && meta.name == name && meta.namespace == namespace
}

impl ObjectMap {
    /// The object at `kind`, `namespace` (as stored: empty for cluster-scoped kinds) and `name`.
    pub(crate) fn lookup(&self, kind: Kind, namespace: &str, name: &str) -> Option<&Arc<Object>> {
        self.index.find(key_hash(kind, namespace, name), |o| {
            is_at(o, kind, namespace, name)
        })
    }

    /// The object under `key`.
    pub(crate) fn get(&self, key: &ObjectKey) -> Option<&Arc<Object>> {
        self.lookup(key.kind, &key.namespace, &key.name)
    }

    /// Whether an object is stored under `key`.
    pub(crate) fn contains_key(&self, key: &ObjectKey) -> bool {
        self.get(key).is_some()
    }

    /// Stores `object` under `key`, which must be its own key; returns the object it replaces.
    pub(crate) fn insert(&mut self, key: ObjectKey, object: Arc<Object>) -> Option<Arc<Object>> {
        debug_assert!(is_at(&object, key.kind, &key.namespace, &key.name));
        let hash = key_hash(key.kind, &key.namespace, &key.name);
        match self
            .index
            .find_mut(hash, |o| is_at(o, key.kind, &key.namespace, &key.name))
        {
            Some(slot) => *slot = object.clone(),
            None => {
                self.index
                    .insert_unique(hash, object.clone(), |o| object_hash(o));
            }
        }
        let previous = self.ordered[key.kind as usize].insert(key, object);
        if previous.is_none() {
            self.len += 1;
        }
        previous
    }

    /// Removes and returns the object under `key`.
    pub(crate) fn remove(&mut self, key: &ObjectKey) -> Option<Arc<Object>> {
        let hash = key_hash(key.kind, &key.namespace, &key.name);
        if let Ok(entry) = self
            .index
            .find_entry(hash, |o| is_at(o, key.kind, &key.namespace, &key.name))
        {
            entry.remove();
        }
        let removed = self.ordered[key.kind as usize].remove(key);
        if removed.is_some() {
            self.len -= 1;
        }
        removed
    }

    /// The objects of `kind`, in key order.
    pub(crate) fn of_kind(&self, kind: Kind) -> btree_map::Values<'_, ObjectKey, Arc<Object>> {
        self.ordered[kind as usize].values()
    }

    /// The objects of `kind` in `namespace`, in key order.
    pub(crate) fn in_namespace<'a>(
        &'a self,
        kind: Kind,
        namespace: &'a str,
    ) -> impl Iterator<Item = &'a Arc<Object>> + 'a {
        let map = &self.ordered[kind as usize];
        // A short map is read from its start, which costs less than building a key and
        // searching for it.
        let range = if map.len() <= 8 {
            map.range::<ObjectKey, _>(..)
        } else {
            map.range(
                ObjectKey {
                    kind,
                    namespace: namespace.to_string(),
                    name: String::new(),
                }..,
            )
        };
        range
            .skip_while(move |(k, _)| k.namespace.as_str() < namespace)
            .take_while(move |(k, _)| k.namespace == namespace)
            .map(|(_, v)| v)
    }

    /// How many objects are stored.
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    /// Whether no object is stored.
    pub(crate) fn is_empty(&self) -> bool {
        self.len == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::ConfigMap;
    use crate::ObjectMeta;

    fn config_map(namespace: &str, name: &str) -> (ObjectKey, Arc<Object>) {
        let object: Object = ConfigMap {
            metadata: ObjectMeta::named(namespace, name),
            ..Default::default()
        }
        .into();
        (ObjectKey::of(&object), Arc::new(object))
    }

    /// The bucket is picked by the hash's low bits: names that differ only in a few
    /// characters must still spread over the buckets (about 63% of 4,096 buckets are hit by
    /// 4,096 random hashes).
    #[test]
    fn similar_names_spread_over_the_buckets() {
        let buckets: std::collections::HashSet<u64> = (0..4096)
            .map(|i| key_hash(Kind::Pod, "default", &format!("openb-pod-{i:04}")) & 4095)
            .collect();
        assert!(buckets.len() > 2400, "{} buckets", buckets.len());
    }

    /// A kind's objects in a namespace, from a short map (read from its start) and from a long
    /// one (searched): the same objects, in key order.
    #[test]
    fn a_namespace_is_read_alike_from_short_and_long_maps() {
        for count in [3, 30] {
            let mut map = ObjectMap::default();
            for ns in ["b", "a", "c"] {
                for i in 0..count {
                    let (key, object) = config_map(ns, &format!("cm-{i:02}"));
                    map.insert(key, object);
                }
            }
            for ns in ["a", "b", "c"] {
                let names: Vec<String> = map
                    .in_namespace(Kind::ConfigMap, ns)
                    .map(|o| o.metadata().name.clone())
                    .collect();
                let expected: Vec<String> = (0..count).map(|i| format!("cm-{i:02}")).collect();
                assert_eq!(names, expected, "{count} in {ns}");
            }
            assert_eq!(map.in_namespace(Kind::ConfigMap, "ab").count(), 0);
            assert_eq!(map.in_namespace(Kind::ConfigMap, "d").count(), 0);
        }
    }

    #[test]
    fn lookups_agree_with_the_ordered_map() {
        let mut map = ObjectMap::default();
        let names = [
            "a",
            "ab",
            "abcdefgh",
            "abcdefghi",
            "b",
            "pod-0001",
            "pod-0010",
        ];
        for ns in ["default", "kube-system", "defaul"] {
            for name in names {
                let (key, object) = config_map(ns, name);
                assert!(map.insert(key, object).is_none());
            }
        }
        assert_eq!(map.len(), 21);
        for ns in ["default", "kube-system", "defaul"] {
            for name in names {
                let found = map.lookup(Kind::ConfigMap, ns, name).expect("stored");
                assert_eq!(found.metadata().name, name);
                assert_eq!(found.metadata().namespace, ns);
            }
        }
        // The parts are not run together: "defaul" + "ta" is not "default" + "a".
        assert!(map.lookup(Kind::ConfigMap, "defaul", "ta").is_none());
        assert!(map.lookup(Kind::Secret, "default", "a").is_none());
        // Replace, then remove: both structures follow.
        let (key, object) = config_map("default", "a");
        assert!(map.insert(key.clone(), object.clone()).is_some());
        assert!(Arc::ptr_eq(map.get(&key).expect("stored"), &object));
        assert!(map.remove(&key).is_some());
        assert!(map.get(&key).is_none());
        assert!(!map.contains_key(&key));
        assert_eq!(map.len(), 20);
        assert_eq!(map.of_kind(Kind::ConfigMap).count(), 20);
        assert_eq!(map.in_namespace(Kind::ConfigMap, "defaul").count(), 7);
        assert_eq!(map.in_namespace(Kind::ConfigMap, "default").count(), 6);
        assert_eq!(map.in_namespace(Kind::Secret, "default").count(), 0);
        assert!(map.remove(&key).is_none());
    }
}
