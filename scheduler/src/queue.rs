//! The scheduling queue (kube-scheduler's `PriorityQueue` in `backend/queue/scheduling_queue.go`).
//!
//! Three places a pending pod can be:
//! - **active**: ready to be tried, ordered by the profile's QueueSort plugin (PrioritySort:
//!   higher priority first, then the earlier arrival);
//! - **backoff**: failed recently, waiting `initial × 2^(attempts−1)` seconds (capped at the
//!   maximum, 1 s and 10 s by default) before going back to active;
//! - **unschedulable**: rejected, waiting for a cluster event that could help one of the
//!   plugins that rejected it (a node added, a pod deleted, …), or for 5 minutes at most. Pods
//!   whose PreEnqueue plugins say "not yet" (scheduling gates) wait here too, until they change.
//!
//! The queue is pure: every call that depends on time takes `now`, and
//! [`next_wakeup`](SchedulingQueue::next_wakeup) tells the driver when the next timed move
//! happens.

use std::collections::BTreeMap;
use std::sync::Arc;

use flotilla_model::{Duration, Time};

use crate::framework::{Plugin, QueuedPodInfo, Status};
use crate::node_info::PodInfo;

/// How long a pod may stay unschedulable before it is retried anyway
/// (`podMaxInUnschedulablePodsDuration`, 5 minutes).
pub const MAX_UNSCHEDULABLE_DURATION: Duration = Duration::from_secs(300);

/// A change in the cluster that may make unschedulable pods schedulable
/// (kube-scheduler's `ClusterEvent`, coarsened to what Flotilla's plugins distinguish).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ClusterEvent {
    /// A node joined.
    NodeAdd,
    /// A node's allocatable resources changed.
    NodeAllocatableChange,
    /// A node's labels changed.
    NodeLabelChange,
    /// A node's taints (or `spec.unschedulable`) changed.
    NodeTaintChange,
    /// A pod was bound to a node or appeared already bound.
    AssignedPodAdd,
    /// A bound pod's labels changed.
    AssignedPodLabelChange,
    /// A bound pod went away (deleted or finished), freeing what it held.
    AssignedPodDelete,
    /// A PersistentVolumeClaim, PersistentVolume or StorageClass was added or changed.
    StorageChange,
}

/// The events that can make a pod rejected by `plugin` schedulable (the plugin's
/// `EventsToRegister`). Unknown plugins react to every event.
pub fn events_of_interest(plugin: &str) -> &'static [ClusterEvent] {
    use ClusterEvent::*;
    match plugin {
        "NodeResourcesFit" => &[NodeAdd, NodeAllocatableChange, AssignedPodDelete],
        "NodePorts" => &[NodeAdd, AssignedPodDelete],
        "NodeName" => &[NodeAdd],
        "NodeUnschedulable" | "TaintToleration" => &[NodeAdd, NodeTaintChange],
        "NodeAffinity" => &[NodeAdd, NodeLabelChange],
        // volumerestrictions, volumebinding and volumezone EventsToRegister, coarsened.
        "VolumeRestrictions" => &[NodeAdd, AssignedPodDelete, StorageChange],
        "VolumeBinding" | "VolumeZone" => &[NodeAdd, NodeLabelChange, StorageChange],
        "PodTopologySpread" | "InterPodAffinity" => &[
            NodeAdd,
            NodeLabelChange,
            NodeTaintChange,
            AssignedPodAdd,
            AssignedPodLabelChange,
            AssignedPodDelete,
        ],
        _ => &[
            NodeAdd,
            NodeAllocatableChange,
            NodeLabelChange,
            NodeTaintChange,
            AssignedPodAdd,
            AssignedPodLabelChange,
            AssignedPodDelete,
            StorageChange,
        ],
    }
}

/// Whether `info` is the pod `namespace/name` (without building its key).
fn is_pod(info: &QueuedPodInfo, key: &str) -> bool {
    let meta = &info.pod.pod.metadata;
    key.len() == meta.namespace.len() + 1 + meta.name.len()
        && key.starts_with(meta.namespace.as_str())
        && key.as_bytes()[meta.namespace.len()] == b'/'
        && key.ends_with(meta.name.as_str())
}

/// A pod set aside as unschedulable, with the plugins that rejected it.
#[derive(Clone, Debug)]
struct Unschedulable {
    info: QueuedPodInfo,
    plugins: Vec<&'static str>,
    /// Waiting on PreEnqueue (gated), not on a failed attempt.
    gated: bool,
}

/// The scheduling queue. See the [module docs](self).
pub struct SchedulingQueue {
    queue_sort: Option<Arc<dyn Plugin>>,
    pre_enqueue: Vec<Arc<dyn Plugin>>,
    /// PreEnqueue plugins per scheduler name, for pods of a profile that has its own.
    pre_enqueue_by_profile: BTreeMap<String, Vec<Arc<dyn Plugin>>>,
    active: Vec<QueuedPodInfo>,
    /// Backoff entries keyed by (expiry, sequence) so equal expiries keep arrival order.
    backoff: BTreeMap<(Time, u64), QueuedPodInfo>,
    unschedulable: BTreeMap<String, Unschedulable>,
    /// Keys of the pods in `active` or `backoff`, so that looking up a pod that is in neither
    /// (every new pod) costs no scan.
    waiting: std::collections::HashSet<String>,
    initial_backoff: Duration,
    max_backoff: Duration,
    seq: u64,
}

impl std::fmt::Debug for SchedulingQueue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SchedulingQueue")
            .field("active", &self.active.len())
            .field("backoff", &self.backoff.len())
            .field("unschedulable", &self.unschedulable.len())
            .finish()
    }
}

impl SchedulingQueue {
    /// A queue ordered by `queue_sort` (arrival order when `None`), gated by the `pre_enqueue`
    /// plugins, with back-off between `initial_backoff` and `max_backoff`.
    pub fn new(
        queue_sort: Option<Arc<dyn Plugin>>,
        pre_enqueue: Vec<Arc<dyn Plugin>>,
        initial_backoff: Duration,
        max_backoff: Duration,
    ) -> SchedulingQueue {
        SchedulingQueue {
            queue_sort,
            pre_enqueue,
            pre_enqueue_by_profile: BTreeMap::new(),
            active: Vec::new(),
            backoff: BTreeMap::new(),
            unschedulable: BTreeMap::new(),
            waiting: std::collections::HashSet::new(),
            initial_backoff,
            max_backoff,
            seq: 0,
        }
    }

    /// Gives the pods of each scheduler name its profile's PreEnqueue plugins (kube-scheduler
    /// keeps them per profile); pods of other names keep the plugins given to [`new`](Self::new).
    pub fn with_profile_pre_enqueue(
        mut self,
        by_profile: BTreeMap<String, Vec<Arc<dyn Plugin>>>,
    ) -> SchedulingQueue {
        self.pre_enqueue_by_profile = by_profile;
        self
    }

    /// Number of pods in the queue, in any of its parts.
    pub fn len(&self) -> usize {
        self.active.len() + self.backoff.len() + self.unschedulable.len()
    }

    /// Whether the queue holds no pod.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Counts of (active, backoff, unschedulable) pods.
    pub fn counts(&self) -> (usize, usize, usize) {
        (
            self.active.len(),
            self.backoff.len(),
            self.unschedulable.len(),
        )
    }

    fn less(&self, a: &QueuedPodInfo, b: &QueuedPodInfo) -> bool {
        match self.queue_sort.as_ref().and_then(|p| p.as_queue_sort()) {
            Some(sorter) => sorter.less(a, b),
            None => a.timestamp < b.timestamp,
        }
    }

    fn pre_enqueue_status(&self, pod: &PodInfo) -> Status {
        let name = match pod.pod.spec.scheduler_name.as_str() {
            "" => crate::config::DEFAULT_SCHEDULER_NAME,
            n => n,
        };
        let plugins = self
            .pre_enqueue_by_profile
            .get(name)
            .unwrap_or(&self.pre_enqueue);
        for plugin in plugins {
            if let Some(pe) = plugin.as_pre_enqueue() {
                let status = pe.pre_enqueue(pod);
                if !status.is_success() {
                    return status.from_plugin(plugin.name());
                }
            }
        }
        Status::success()
    }

    /// Adds a new pending pod (or an updated version of one) at `now`. A pod its PreEnqueue
    /// plugins hold back waits as unschedulable until it is updated again.
    pub fn add(&mut self, pod: PodInfo, now: Time) {
        let key = pod.key();
        self.remove(&key);
        let info = QueuedPodInfo {
            pod,
            initial_attempt_timestamp: now,
            timestamp: now,
            attempts: 0,
        };
        self.enqueue_checked(info);
    }

    fn enqueue_checked(&mut self, info: QueuedPodInfo) {
        let status = self.pre_enqueue_status(&info.pod);
        if status.is_success() {
            self.push_active(info);
        } else {
            let key = info.pod.key();
            self.unschedulable.insert(
                key,
                Unschedulable {
                    info,
                    plugins: vec![status.plugin],
                    gated: true,
                },
            );
        }
    }

    /// The queued version of a pod, wherever it waits.
    pub fn get(&self, key: &str) -> Option<&PodInfo> {
        if let Some(u) = self.unschedulable.get(key) {
            return Some(&u.info.pod);
        }
        if !self.waiting.contains(key) {
            return None;
        }
        self.backoff
            .values()
            .chain(self.active.iter())
            .find(|p| is_pod(p, key))
            .map(|p| &p.pod)
    }

    /// Takes a new version of a queued (or new) pod, as kube-scheduler's `PriorityQueue.Update`
    /// (without queueing hints): a pod waiting in active or backoff is updated where it is; an
    /// unschedulable pod whose update changes what the scheduler reads (spec, labels,
    /// annotations — not the status, as `isPodUpdated`) is retried, after what remains of its
    /// back-off, and a gated one re-runs PreEnqueue (so removing the last scheduling gate makes
    /// it active); an unknown pod is added. Attempts and back-off are kept across updates.
    pub fn update(&mut self, pod: PodInfo, now: Time) {
        let key = pod.key();
        if self.waiting.contains(&key) {
            if let Some(i) = self.active.iter().position(|p| is_pod(p, &key)) {
                self.active[i].pod = pod;
                // The sort key (priority) may have changed.
                self.heapify();
                return;
            }
            if let Some(entry) = self.backoff.values_mut().find(|p| is_pod(p, &key)) {
                entry.pod = pod;
                return;
            }
        }
        let Some(mut u) = self.unschedulable.remove(&key) else {
            self.add(pod, now);
            return;
        };
        let (a, b) = (&u.info.pod.pod, &pod.pod);
        let updated = a.spec != b.spec
            || a.metadata.labels != b.metadata.labels
            || a.metadata.annotations != b.metadata.annotations;
        u.info.pod = pod;
        if !updated {
            self.unschedulable.insert(key, u);
        } else if u.gated {
            self.enqueue_checked(u.info);
        } else {
            // push_backoff moves it to active at once when its back-off is over.
            self.push_backoff(u.info, now);
        }
    }

    /// Removes a pod (deleted, or bound by someone else); returns whether it was queued.
    pub fn remove(&mut self, key: &str) -> bool {
        if self.unschedulable.remove(key).is_some() {
            return true;
        }
        if !self.waiting.remove(key) {
            return false;
        }
        if let Some(k) = self
            .backoff
            .iter()
            .find(|(_, v)| is_pod(v, key))
            .map(|(k, _)| *k)
        {
            self.backoff.remove(&k);
            return true;
        }
        if let Some(i) = self.active.iter().position(|p| is_pod(p, key)) {
            self.active.swap_remove(i);
            self.heapify();
            return true;
        }
        false
    }

    /// Takes the next pod to schedule at `now`: pods whose back-off has expired and pods
    /// unschedulable for longer than 5 minutes move to active first.
    pub fn pop(&mut self, now: Time) -> Option<QueuedPodInfo> {
        self.flush(now);
        if self.active.is_empty() {
            return None;
        }
        let last = self.active.len() - 1;
        self.active.swap(0, last);
        let mut top = self.active.pop()?;
        self.sift_down(0);
        self.waiting.remove(&top.pod.key());
        top.attempts += 1;
        Some(top)
    }

    /// Puts back a pod whose attempt failed, rejected by `plugins`: it waits for an event that
    /// concerns one of them (or 5 minutes); with no rejecting plugin (an error), it backs off.
    pub fn add_unschedulable(
        &mut self,
        mut info: QueuedPodInfo,
        plugins: Vec<&'static str>,
        now: Time,
    ) {
        info.timestamp = now;
        if plugins.is_empty() {
            self.push_backoff(info, now);
        } else {
            let key = info.pod.key();
            self.unschedulable.insert(
                key,
                Unschedulable {
                    info,
                    plugins,
                    gated: false,
                },
            );
        }
    }

    /// Moves unschedulable pods that `event` may help to backoff (if still backing off) or
    /// active. Gated pods stay until they are updated.
    pub fn on_cluster_event(&mut self, event: ClusterEvent, now: Time) {
        let keys: Vec<String> = self
            .unschedulable
            .iter()
            .filter(|(_, u)| {
                !u.gated
                    && u.plugins
                        .iter()
                        .any(|p| events_of_interest(p).contains(&event))
            })
            .map(|(k, _)| k.clone())
            .collect();
        for key in keys {
            if let Some(u) = self.unschedulable.remove(&key) {
                self.push_backoff(u.info, now);
            }
        }
        self.flush(now);
    }

    /// When the next timed move happens (a back-off expiring or an unschedulable pod reaching 5
    /// minutes), if any; the driver wakes the scheduler then.
    pub fn next_wakeup(&self) -> Option<Time> {
        let backoff = self.backoff.keys().next().map(|(t, _)| *t);
        let unsched = self
            .unschedulable
            .values()
            .filter(|u| !u.gated)
            .map(|u| u.info.timestamp + MAX_UNSCHEDULABLE_DURATION)
            .min();
        match (backoff, unsched) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// The back-off of a pod after `attempts` failed attempts (kube-scheduler's
    /// `calculateBackoffDuration`).
    pub fn backoff_duration(&self, attempts: u32) -> Duration {
        let mut d = self.initial_backoff;
        for _ in 1..attempts {
            d = d.saturating_mul(2);
            if d >= self.max_backoff {
                return self.max_backoff;
            }
        }
        d.min(self.max_backoff)
    }

    fn push_backoff(&mut self, info: QueuedPodInfo, now: Time) {
        let expiry = info.timestamp + self.backoff_duration(info.attempts.max(1));
        if expiry <= now {
            self.push_active(info);
        } else {
            self.seq += 1;
            self.waiting.insert(info.pod.key());
            self.backoff.insert((expiry, self.seq), info);
        }
    }

    fn flush(&mut self, now: Time) {
        while let Some((&(expiry, seq), _)) = self.backoff.iter().next() {
            if expiry > now {
                break;
            }
            if let Some(info) = self.backoff.remove(&(expiry, seq)) {
                self.push_active(info);
            }
        }
        let stale: Vec<String> = self
            .unschedulable
            .iter()
            .filter(|(_, u)| !u.gated && u.info.timestamp + MAX_UNSCHEDULABLE_DURATION <= now)
            .map(|(k, _)| k.clone())
            .collect();
        for key in stale {
            if let Some(u) = self.unschedulable.remove(&key) {
                self.push_backoff(u.info, now);
            }
        }
    }

    fn push_active(&mut self, info: QueuedPodInfo) {
        self.waiting.insert(info.pod.key());
        self.active.push(info);
        let mut i = self.active.len() - 1;
        while i > 0 {
            let parent = (i - 1) / 2;
            if self.less(&self.active[i], &self.active[parent]) {
                self.active.swap(i, parent);
                i = parent;
            } else {
                break;
            }
        }
    }

    fn sift_down(&mut self, mut i: usize) {
        let n = self.active.len();
        loop {
            let (l, r) = (2 * i + 1, 2 * i + 2);
            let mut best = i;
            if l < n && self.less(&self.active[l], &self.active[best]) {
                best = l;
            }
            if r < n && self.less(&self.active[r], &self.active[best]) {
                best = r;
            }
            if best == i {
                return;
            }
            self.active.swap(i, best);
            i = best;
        }
    }

    fn heapify(&mut self) {
        for i in (0..self.active.len() / 2).rev() {
            self.sift_down(i);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plugins::testing::pod;

    fn info(name: &str) -> PodInfo {
        PodInfo::new(pod(serde_json::json!({
            "metadata": {"name": name},
            "spec": {"containers": [{"name": "c", "image": "i"}]}
        })))
    }

    fn queue() -> SchedulingQueue {
        SchedulingQueue::new(
            None,
            Vec::new(),
            Duration::from_secs(1),
            Duration::from_secs(10),
        )
    }

    #[test]
    fn active_pods_come_out_in_arrival_order_without_a_sort_plugin() {
        let mut q = queue();
        for (i, n) in ["a", "b", "c"].iter().enumerate() {
            q.add(info(n), Time::from_secs(i as u64));
        }
        let order: Vec<String> = std::iter::from_fn(|| q.pop(Time::from_secs(10)))
            .map(|p| p.pod.pod.metadata.name.clone())
            .collect();
        assert_eq!(order, vec!["a", "b", "c"]);
    }

    #[test]
    fn backoff_doubles_up_to_the_maximum() {
        let q = queue();
        let secs: Vec<u64> = (1..=6).map(|a| q.backoff_duration(a).as_secs()).collect();
        assert_eq!(secs, vec![1, 2, 4, 8, 10, 10]);
    }

    #[test]
    fn unschedulable_pods_wait_for_a_relevant_event_or_five_minutes() {
        let mut q = queue();
        q.add(info("a"), Time::ZERO);
        let a = q.pop(Time::ZERO).unwrap();
        q.add_unschedulable(a, vec!["NodeResourcesFit"], Time::from_secs(1));
        assert!(q.pop(Time::from_secs(100)).is_none());
        // A label change does not concern NodeResourcesFit.
        q.on_cluster_event(ClusterEvent::NodeLabelChange, Time::from_secs(100));
        assert!(q.pop(Time::from_secs(100)).is_none());
        // A freed pod does; after one attempt the back-off is 1 s from the failure, long past.
        q.on_cluster_event(ClusterEvent::AssignedPodDelete, Time::from_secs(100));
        let again = q.pop(Time::from_secs(100)).unwrap();
        assert_eq!(again.attempts, 2);
        q.add_unschedulable(again, vec!["NodeResourcesFit"], Time::from_secs(100));
        assert_eq!(q.next_wakeup(), Some(Time::from_secs(400)));
        assert!(q.pop(Time::from_secs(399)).is_none());
        assert!(q.pop(Time::from_secs(400)).is_some());
    }

    #[test]
    fn errors_back_off_and_expire() {
        let mut q = queue();
        q.add(info("a"), Time::ZERO);
        let mut a = q.pop(Time::ZERO).unwrap();
        a.attempts = 3;
        q.add_unschedulable(a, Vec::new(), Time::from_secs(10));
        assert_eq!(q.next_wakeup(), Some(Time::from_secs(14)));
        assert!(q.pop(Time::from_secs(13)).is_none());
        assert!(q.pop(Time::from_secs(14)).is_some());
    }
}
