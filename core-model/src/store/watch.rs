//! Watches: cursors over the store's bounded change log.
//!
//! Every write appends a [`WatchEvent`] carrying the written object (shared, not copied) and its
//! resourceVersion. A [`WatchCursor`] remembers the last version it has seen and which kinds and
//! namespace it follows; [`Store::watch`](super::Store::watch) returns what happened since, in
//! order. The log keeps a bounded number of events, as etcd compacts its history: a cursor that
//! fell behind the oldest retained event gets
//! [`StoreError::ResourceVersionTooOld`](super::StoreError) and must list
//! again, exactly as a Kubernetes client gets `410 Gone`.

use std::collections::VecDeque;
use std::sync::Arc;

use super::StoreError;
use crate::object::{Kind, Object};

/// What happened to the object.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum WatchEventType {
    /// The object was created.
    Added,
    /// The object was updated (including getting a deletionTimestamp).
    Modified,
    /// The object was removed from the store; the event carries its last state.
    Deleted,
}

/// One change in the store.
#[derive(Clone, Debug, PartialEq)]
pub struct WatchEvent {
    /// What happened.
    pub event_type: WatchEventType,
    /// The object after the change (for `Deleted`, its last state).
    pub object: Arc<Object>,
    /// The store's resourceVersion after the change.
    pub resource_version: u64,
}

/// A position in the change log and the filter of a watch.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WatchCursor {
    /// The kinds to report; empty means every kind.
    pub kinds: Vec<Kind>,
    /// Only objects in this namespace (`None`: all).
    pub namespace: Option<String>,
    /// The last resourceVersion seen; events after it are reported next.
    pub resource_version: u64,
}

impl WatchCursor {
    /// A cursor over `kinds` (every kind when empty) from `resource_version`, typically the
    /// version a list returned.
    pub fn new(kinds: &[Kind], resource_version: u64) -> WatchCursor {
        WatchCursor {
            kinds: kinds.to_vec(),
            namespace: None,
            resource_version,
        }
    }

    /// Restricts the cursor to one namespace.
    pub fn in_namespace(mut self, namespace: &str) -> WatchCursor {
        self.namespace = Some(namespace.to_string());
        self
    }

    fn wants(&self, event: &WatchEvent) -> bool {
        (self.kinds.is_empty() || self.kinds.contains(&event.object.kind()))
            && self
                .namespace
                .as_ref()
                .is_none_or(|ns| *ns == event.object.metadata().namespace)
    }
}

/// The bounded, ordered log of changes.
#[derive(Clone, Debug)]
pub(crate) struct ChangeLog {
    events: VecDeque<WatchEvent>,
    capacity: usize,
    /// The newest version that is no longer in the log (0 when nothing was dropped).
    compacted: u64,
}

impl ChangeLog {
    pub(crate) fn new(capacity: usize) -> ChangeLog {
        ChangeLog {
            events: VecDeque::new(),
            capacity: capacity.max(1),
            compacted: 0,
        }
    }

    /// An empty log that continues from `version`, as after a restore: a cursor at `version`
    /// reads what is written next, an older one gets
    /// [`StoreError::ResourceVersionTooOld`] (the history before it is gone, as after an etcd
    /// compaction at that revision).
    pub(crate) fn starting_at(capacity: usize, version: u64) -> ChangeLog {
        ChangeLog {
            compacted: version,
            ..ChangeLog::new(capacity)
        }
    }

    pub(crate) fn push(&mut self, event: WatchEvent) {
        if self.events.len() == self.capacity {
            if let Some(dropped) = self.events.pop_front() {
                self.compacted = dropped.resource_version;
            }
        }
        self.events.push_back(event);
    }

    pub(crate) fn since(
        &self,
        resource_version: u64,
    ) -> Result<impl ExactSizeIterator<Item = &WatchEvent> + '_, StoreError> {
        if resource_version < self.compacted {
            return Err(StoreError::ResourceVersionTooOld {
                requested: resource_version,
                oldest: self.compacted,
            });
        }
        let start = first_after(&self.events, resource_version);
        Ok(self.events.range(start..))
    }

    pub(crate) fn read(&self, cursor: &mut WatchCursor) -> Result<Vec<WatchEvent>, StoreError> {
        let mut out = Vec::new();
        for e in self.since(cursor.resource_version)? {
            if cursor.wants(e) {
                out.push(e.clone());
            }
            cursor.resource_version = e.resource_version;
        }
        Ok(out)
    }
}

/// The position of the first event after `resource_version` (the events' versions increase):
/// `partition_point`, searched from the end, since a watcher usually asks for the last few
/// events of a long log. It gallops back 1, 2, 4, … events until it passes the version, then
/// searches that stretch, so it reads the log's tail instead of its middle.
fn first_after(events: &VecDeque<WatchEvent>, resource_version: u64) -> usize {
    let mut hi = events.len();
    let mut step = 1;
    let mut lo = loop {
        if hi == 0 {
            break 0;
        }
        let probe = hi.saturating_sub(step);
        if events[probe].resource_version <= resource_version {
            break probe + 1;
        }
        hi = probe;
        step *= 2;
    };
    // Every event before `lo` is at or before the version, every one from `hi` after it.
    while lo < hi {
        let mid = lo + (hi - lo) / 2;
        if events[mid].resource_version <= resource_version {
            lo = mid + 1;
        } else {
            hi = mid;
        }
    }
    lo
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::ConfigMap;
    use crate::ObjectMeta;

    fn event(rv: u64) -> WatchEvent {
        let cm = ConfigMap {
            metadata: ObjectMeta::named("default", &format!("cm-{rv}")),
            ..Default::default()
        };
        WatchEvent {
            event_type: WatchEventType::Added,
            object: Arc::new(cm.into()),
            resource_version: rv,
        }
    }

    /// The search from the end finds what a binary search of the whole log finds, for logs of
    /// every length up to 40 with gaps between versions, and every version asked.
    #[test]
    fn the_search_from_the_end_is_partition_point() {
        for len in 0..40u64 {
            let events: VecDeque<WatchEvent> =
                (0..len).map(|i| event(10 + 3 * i + i % 2)).collect();
            for asked in 0..(15 + 4 * len) {
                let want = events.partition_point(|e| e.resource_version <= asked);
                assert_eq!(
                    first_after(&events, asked),
                    want,
                    "len {len}, asked {asked}"
                );
            }
        }
    }

    #[test]
    fn reads_in_order_across_the_ring_and_reports_compaction() {
        let mut log = ChangeLog::new(4);
        for rv in 1..=6 {
            log.push(event(rv));
        }
        let mut cursor = WatchCursor::new(&[], 2);
        let got: Vec<u64> = log
            .read(&mut cursor)
            .unwrap()
            .iter()
            .map(|e| e.resource_version)
            .collect();
        assert_eq!(got, vec![3, 4, 5, 6]);
        assert_eq!(cursor.resource_version, 6);
        assert!(log.read(&mut cursor).unwrap().is_empty());
        let mut stale = WatchCursor::new(&[], 1);
        assert_eq!(
            log.read(&mut stale),
            Err(StoreError::ResourceVersionTooOld {
                requested: 1,
                oldest: 2
            })
        );
    }
}
