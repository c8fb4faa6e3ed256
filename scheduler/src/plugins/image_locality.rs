//! ImageLocality: favours nodes that already hold the pod's container images, so the pod starts
//! without pulling them (kube-scheduler v1.34, `imagelocality/image_locality.go`).
//!
//! For every init and app container (each container counts, even when two share an image) whose
//! image is on the node (a name without tag or digest means `:latest`), the image adds
//! `int64(size · nodesWithImage / totalNodes)` (in `f64`) — an image present everywhere is worth
//! its size, a rare one little, so pods do not pile onto the few nodes that have it. The sum is
//! clamped to `[23 MiB, 1000 MiB × containers]` and scaled:
//! `score = 100 · (sum − 23 MiB) / (1000 MiB × containers − 23 MiB)` (integer division). Scores
//! are final (no NormalizeScore).

use crate::framework::{CycleState, Plugin, PreScorePlugin, ScorePlugin, Status, MAX_NODE_SCORE};
use crate::node_info::{ImageStateSummary, NodeInfo, PodInfo};
use crate::snapshot::{normalized_image_name, Snapshot};

/// The plugin's name in a KubeSchedulerConfiguration.
pub const NAME: &str = "ImageLocality";

const MB: i64 = 1024 * 1024;
/// Below this sum a node scores 0 (`minThreshold`, 23 MiB).
pub const MIN_THRESHOLD: i64 = 23 * MB;
/// Per container, above this sum a node scores 100 (`maxContainerThreshold`, 1000 MiB).
pub const MAX_CONTAINER_THRESHOLD: i64 = 1000 * MB;

/// What PreScore computes once per pod: the normalized image of every container with the number
/// of nodes holding it, and the number of nodes in the cluster.
#[derive(Clone, Debug)]
struct PreScoreState {
    images: Vec<(String, usize)>,
    total_nodes: usize,
}

/// The ImageLocality plugin (PreScore, Score). It has no args.
///
/// kube-scheduler's plugin only has Score; the PreScore here normalizes the image names once per
/// pod and records the cluster's node count, which Score needs and does not otherwise see.
#[derive(Clone, Copy, Debug, Default)]
pub struct ImageLocality;

impl ImageLocality {
    /// The plugin (it has no args).
    pub fn new() -> ImageLocality {
        ImageLocality
    }
}

/// An image's contribution, scaled by how widely it has spread: `num_nodes` of `total_nodes`
/// hold it (`scaledImageScore`).
fn scaled_image_score(state: &ImageStateSummary, num_nodes: usize, total_nodes: usize) -> i64 {
    let spread = num_nodes as f64 / total_nodes as f64;
    (state.size as f64 * spread) as i64
}

/// The node's score for a sum of image scores (`calculatePriority`).
fn calculate_priority(sum: i64, num_containers: usize) -> i64 {
    let max_threshold = MAX_CONTAINER_THRESHOLD * num_containers as i64;
    let sum = if sum < MIN_THRESHOLD {
        MIN_THRESHOLD
    } else if sum > max_threshold {
        max_threshold
    } else {
        sum
    };
    MAX_NODE_SCORE * (sum - MIN_THRESHOLD) / (max_threshold - MIN_THRESHOLD)
}

impl Plugin for ImageLocality {
    fn name(&self) -> &'static str {
        NAME
    }
    /// Reads only the pod's spec, the node's own state and the cluster's counts of the pod's
    /// images, which [`ScorePlugin::score_inputs`] reports (see [`Plugin::is_node_local`]).
    fn is_node_local(&self) -> bool {
        true
    }
    fn as_pre_score(&self) -> Option<&dyn PreScorePlugin> {
        Some(self)
    }
    fn as_score(&self) -> Option<&dyn ScorePlugin> {
        Some(self)
    }
}

impl PreScorePlugin for ImageLocality {
    fn pre_score(
        &self,
        state: &mut CycleState,
        pod: &PodInfo,
        snapshot: &Snapshot,
        _feasible: &[usize],
    ) -> Status {
        let spec = &pod.pod.spec;
        let images = spec
            .init_containers
            .iter()
            .chain(&spec.containers)
            .map(|c| {
                let image = normalized_image_name(&c.image);
                let num_nodes = snapshot.image_num_nodes(&image);
                (image, num_nodes)
            })
            .collect();
        state.write(
            NAME,
            PreScoreState {
                images,
                total_nodes: snapshot.len(),
            },
        );
        Status::success()
    }
}

impl ScorePlugin for ImageLocality {
    fn has_score_extensions(&self) -> bool {
        // Its scores are final (no NormalizeScore).
        false
    }

    fn score(&self, state: &CycleState, _pod: &PodInfo, node: &NodeInfo) -> Result<i64, Status> {
        let Some(s) = state.read::<PreScoreState>(NAME) else {
            return Err(Status::error(format!(
                "reading {NAME:?} from cycleState: not found (PreScore did not run)"
            )));
        };
        let sum: i64 = s
            .images
            .iter()
            .filter_map(|(image, num_nodes)| {
                let st = node.image_states.get(image)?;
                Some(scaled_image_score(st, *num_nodes, s.total_nodes))
            })
            .sum();
        Ok(calculate_priority(sum, s.images.len()))
    }

    /// The number of nodes holding each of the pod's images, as PreScore read them.
    fn score_inputs(&self, state: &CycleState, out: &mut Vec<u64>) {
        if let Some(s) = state.read::<PreScoreState>(NAME) {
            out.extend(s.images.iter().map(|(_, num_nodes)| *num_nodes as u64));
            out.push(s.total_nodes as u64);
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use flotilla_model::api::{Node, Pod};
    use serde_json::{json, Value};

    use super::*;
    use crate::plugins::testing::{node, pod, run_score};

    fn image_node(name: &str, images: &[(&[&str], i64)]) -> Arc<Node> {
        let images: Vec<Value> = images
            .iter()
            .map(|(names, mb)| json!({"names": names, "sizeBytes": mb * MB}))
            .collect();
        node(json!({"metadata": {"name": name}, "status": {"images": images}}))
    }

    fn image_pod(containers: &[&str], init: &[&str]) -> Arc<Pod> {
        let c = |list: &[&str]| -> Vec<Value> {
            list.iter()
                .enumerate()
                .map(|(i, img)| json!({"name": format!("c{i}"), "image": img}))
                .collect()
        };
        pod(
            json!({"metadata": {"name": "p"}, "spec": {"containers": c(containers), "initContainers": c(init)}}),
        )
    }

    fn scores(p: &Arc<Pod>, nodes: &[Arc<Node>]) -> Vec<i64> {
        run_score(&ImageLocality::new(), p, &Snapshot::new(nodes, &[], &[])).expect("not skipped")
    }

    #[test]
    fn image_locality_table() {
        // TestImageLocalityPriority (image_locality_test.go), all 7 cases.
        let node_40_300_2000 = |n: &str| {
            image_node(
                n,
                &[
                    (&["gcr.io/40:latest", "gcr.io/40:v1", "gcr.io/40:v1"], 40),
                    (&["gcr.io/300:latest", "gcr.io/300:v1"], 300),
                    (&["gcr.io/2000:latest"], 2000),
                ],
            )
        };
        let node_250_10 = |n: &str| {
            image_node(
                n,
                &[
                    (&["gcr.io/250:latest"], 250),
                    (&["gcr.io/10:latest", "gcr.io/10:v1"], 10),
                ],
            )
        };
        let node_600_40_900 = |n: &str| {
            image_node(
                n,
                &[
                    (&["gcr.io/600:latest"], 600),
                    (&["gcr.io/40:latest"], 40),
                    (&["gcr.io/900:latest"], 900),
                ],
            )
        };
        let node_300_600_900 = |n: &str| {
            image_node(
                n,
                &[
                    (&["gcr.io/300:latest"], 300),
                    (&["gcr.io/600:latest"], 600),
                    (&["gcr.io/900:latest"], 900),
                ],
            )
        };
        let node_4000_30 = |n: &str| {
            image_node(
                n,
                &[(&["gcr.io/4000:latest"], 4000), (&["gcr.io/30:latest"], 30)],
            )
        };
        let node_20_30_40 = |n: &str| {
            image_node(
                n,
                &[
                    (&["gcr.io/20:latest"], 20),
                    (&["gcr.io/30:latest"], 30),
                    (&["gcr.io/40:latest"], 40),
                ],
            )
        };
        let no_images = |n: &str| image_node(n, &[]);

        let test_40_250 = image_pod(&["gcr.io/40", "gcr.io/250"], &[]);
        let test_40_300 = image_pod(&["gcr.io/40", "gcr.io/300"], &[]);
        let test_min_max = image_pod(&["gcr.io/10", "gcr.io/4000"], &[]);
        let test_300_600_900 = image_pod(&["gcr.io/300", "gcr.io/600", "gcr.io/900"], &[]);
        let test_30_40 = image_pod(&["gcr.io/30", "gcr.io/40"], &[]);
        let test_30_init_300 = image_pod(&["gcr.io/30"], &["gcr.io/300"]);

        assert_eq!(
            scores(
                &test_40_250,
                &[node_40_300_2000("node1"), node_250_10("node2")]
            ),
            vec![0, 5],
            "prefer the larger image one"
        );
        assert_eq!(
            scores(
                &test_40_300,
                &[node_40_300_2000("node1"), node_250_10("node2")]
            ),
            vec![7, 0],
            "two images on one node"
        );
        assert_eq!(
            scores(
                &test_min_max,
                &[node_4000_30("node1"), node_250_10("node2")]
            ),
            vec![100, 0],
            "if exceed limit, use limit"
        );
        assert_eq!(
            scores(
                &test_min_max,
                &[
                    node_4000_30("node1"),
                    node_250_10("node2"),
                    no_images("node3")
                ]
            ),
            vec![66, 0, 0],
            "with node which has no images present"
        );
        assert_eq!(
            scores(
                &test_300_600_900,
                &[
                    node_600_40_900("node1"),
                    node_300_600_900("node2"),
                    no_images("node3")
                ]
            ),
            vec![32, 36, 0],
            "pod with multiple large images, node2 is preferred"
        );
        assert_eq!(
            scores(
                &test_30_40,
                &[node_20_30_40("node1"), node_4000_30("node2")]
            ),
            vec![1, 0],
            "pod with multiple small images"
        );
        assert_eq!(
            scores(
                &test_30_init_300,
                &[node_40_300_2000("node1"), node_20_30_40("node2")]
            ),
            vec![6, 0],
            "include InitContainers: two images spread on two nodes, prefer the larger image one"
        );
    }

    #[test]
    fn normalized_image_names() {
        // TestNormalizedImageName.
        assert_eq!(normalized_image_name("root"), "root:latest");
        assert_eq!(
            normalized_image_name("gcr.io:5000/root"),
            "gcr.io:5000/root:latest"
        );
        assert_eq!(normalized_image_name("root:tag"), "root:tag");
        let digest = "root@sha256:4813494d137e1631bba301d5acab6e7bb7aa74ce1185d456565ef51d737677b2";
        assert_eq!(normalized_image_name(digest), digest);
    }

    #[test]
    fn score_without_pre_score_is_an_error() {
        let n = NodeInfo::new(image_node("n", &[]));
        let p = PodInfo::new(image_pod(&["a"], &[]));
        assert!(ImageLocality::new()
            .score(&CycleState::new(), &p, &n)
            .is_err());
    }
}
