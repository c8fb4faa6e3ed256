//! The node's image store and puller (images/image_manager.go `EnsureImageExists`,
//! images/puller.go): which images the node holds, the pulls waiting and in flight (serialized
//! by default, kubelet config `serializeImagePulls: true`; one pull per image either way), and
//! the per-pod-and-image pull back-off.

use std::collections::{BTreeMap, VecDeque};

use flotilla_model::api::image_tag;
use flotilla_model::api::{ContainerImage, PullPolicy};
use flotilla_model::Time;

use super::backoff::{Backoff, BACK_OFF_PERIOD, MAX_IMAGE_BACK_OFF};
use super::RuntimeCommand;

/// The pull policy a container gets when its spec names none (core/v1 defaults.go
/// `SetDefaults_Container`): `Always` for `:latest` or untagged images, else `IfNotPresent`.
pub fn effective_pull_policy(image: &str, policy: Option<PullPolicy>) -> PullPolicy {
    policy.unwrap_or(if image_tag(image) == "latest" {
        PullPolicy::Always
    } else {
        PullPolicy::IfNotPresent
    })
}

/// The image store and the pull queue of one node.
#[derive(Clone, Debug)]
pub(crate) struct Images {
    /// Every name an image is known by, with its size.
    names: BTreeMap<String, u64>,
    /// The images as the node status lists them (one entry per image, all its names).
    held: Vec<ContainerImage>,
    /// Pulls asked for and not yet sent, oldest first.
    queue: VecDeque<String>,
    /// Pulls sent and not yet answered, with when they were sent.
    in_flight: BTreeMap<String, Time>,
    /// Whether only one pull may run at a time on the node.
    serialize: bool,
    /// The pull back-off, keyed `<pod uid>_<image>` as image_manager.go keys it.
    pub backoff: Backoff,
    /// Whether the image list changed since the node status last showed it.
    pub changed: bool,
}

impl Images {
    /// An empty store.
    pub fn new(serialize: bool) -> Images {
        Images {
            names: BTreeMap::new(),
            held: Vec::new(),
            queue: VecDeque::new(),
            in_flight: BTreeMap::new(),
            serialize,
            backoff: Backoff::new(BACK_OFF_PERIOD, MAX_IMAGE_BACK_OFF),
            changed: false,
        }
    }

    /// Takes the images a node reports holding (at registration).
    pub fn seed(&mut self, images: &[ContainerImage]) {
        for image in images {
            if image.names.iter().any(|n| self.names.contains_key(n)) {
                continue;
            }
            let size = image.size_bytes.unwrap_or(0).max(0) as u64;
            for name in &image.names {
                self.names.insert(name.clone(), size);
            }
            self.held.push(image.clone());
        }
    }

    /// Whether the node holds `image` (an untagged reference also matches its `:latest`).
    pub fn present(&self, image: &str) -> bool {
        self.names.contains_key(image)
            || (image_tag(image) == "latest"
                && !image.ends_with(":latest")
                && self.names.contains_key(&format!("{image}:latest")))
    }

    /// Asks for a pull of `image` (one request per image, however many containers wait).
    pub fn request(&mut self, image: &str) {
        if !self.in_flight.contains_key(image) && !self.queue.iter().any(|i| i == image) {
            self.queue.push_back(image.to_string());
        }
    }

    /// The pulls to send now: the oldest waiting one when pulls are serialized and none is in
    /// flight, every waiting one otherwise.
    pub fn dispatch(&mut self, now: Time) -> Vec<RuntimeCommand> {
        let mut out = Vec::new();
        while let Some(image) = self.queue.front() {
            if self.serialize && !self.in_flight.is_empty() {
                break;
            }
            let image = image.clone();
            self.queue.pop_front();
            self.in_flight.insert(image.clone(), now);
            out.push(RuntimeCommand::PullImage { image });
        }
        out
    }

    /// A pull finished: records the image on success and returns when the pull was sent.
    pub fn finish(&mut self, image: &str, result: &Result<u64, String>) -> Option<Time> {
        let sent = self.in_flight.remove(image);
        if let Ok(size) = result {
            if !self.present(image) {
                self.names.insert(image.to_string(), *size);
                self.held.push(ContainerImage {
                    names: vec![image.to_string()],
                    size_bytes: Some(i64::try_from(*size).unwrap_or(i64::MAX)),
                });
                self.changed = true;
            }
        }
        sent
    }

    /// Whether a pull is waiting to be sent (the driver must call `sync`).
    pub fn has_queued(&self) -> bool {
        !self.queue.is_empty() && (!self.serialize || self.in_flight.is_empty())
    }

    /// The images held, largest first, then by name (kubelet_node_status.go sorts by size).
    pub fn list(&self) -> Vec<ContainerImage> {
        let mut list = self.held.clone();
        list.sort_by(|a, b| {
            b.size_bytes
                .cmp(&a.size_bytes)
                .then_with(|| a.names.cmp(&b.names))
        });
        list
    }

    /// Forgets the pull back-offs of a pod that is gone.
    pub fn forget_pod(&mut self, uid: &str) {
        self.backoff.forget_prefix(&format!("{uid}_"));
    }
}
