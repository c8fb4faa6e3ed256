//! GPU assignment through the whole `Cluster`: the GPUs the scheduler assumed a pod on are
//! written to the pod's `flotilla.io/gpu-index` annotation before the binding (as a
//! GPU-sharing scheduler extender does), and the kubelet hands them to the runtime as
//! `NVIDIA_VISIBLE_DEVICES` in the container's environment (as a GPU device plugin's `Allocate`
//! does).

mod common;

use common::TestDriver;
use flotilla_controllers::kubelet::RuntimeCommand;
use flotilla_model::api::{Node, PodPhase};
use flotilla_model::{Duration, ObjectMeta, Quantity};
use flotilla_scheduler::gpu::{GPU_INDEX_ANNOTATION, GPU_MODEL_LABEL, VISIBLE_DEVICES_ENV};

/// A node with 2 GPUs (T4), 8 CPUs, 16 GiB.
fn gpu_node(name: &str) -> Node {
    let mut node = Node {
        metadata: ObjectMeta::named("", name),
        ..Default::default()
    };
    node.metadata
        .labels
        .insert(GPU_MODEL_LABEL.into(), "T4".into());
    for (r, q) in [
        ("cpu", "8"),
        ("memory", "16Gi"),
        ("pods", "110"),
        ("nvidia.com/gpu", "2"),
        ("flotilla.io/gpu-milli", "2000"),
    ] {
        node.status
            .capacity
            .insert(r.into(), q.parse::<Quantity>().expect("quantity"));
    }
    node
}

/// A pod asking `resource: amount` in its `app` container, with a `log` sidecar that asks for
/// no GPU.
fn gpu_pod(name: &str, resource: &str, amount: &str) -> String {
    format!(
        r#"
apiVersion: v1
kind: Pod
metadata:
  name: {name}
spec:
  containers:
  - name: app
    image: registry.example/infer:1
    resources:
      requests: {{cpu: 500m, memory: 256Mi, "{resource}": "{amount}"}}
      limits: {{"{resource}": "{amount}"}}
  - name: log
    image: registry.example/log:1
    resources:
      requests: {{cpu: 100m, memory: 64Mi}}
"#
    )
}

/// The environment of the first StartContainer of `pod`'s `container`.
fn start_env(d: &TestDriver, pod: &str, container: &str) -> Vec<(String, String)> {
    d.commands
        .iter()
        .find_map(|(_, _, c)| match c {
            RuntimeCommand::StartContainer {
                pod: p,
                container: name,
                env,
                ..
            } if p.metadata.name == pod && name == container => Some(env.clone()),
            _ => None,
        })
        .unwrap_or_else(|| panic!("no StartContainer for {pod}/{container}"))
}

fn visible_devices(env: &[(String, String)]) -> Option<&str> {
    env.iter()
        .find(|(k, _)| k == VISIBLE_DEVICES_ENV)
        .map(|(_, v)| v.as_str())
}

#[test]
fn half_gpu_pods_get_their_gpus_written_at_bind_and_passed_to_the_runtime() {
    let mut d = TestDriver::new(9);
    d.cluster
        .add_node(gpu_node("gpu-0"))
        .expect("node registers");
    d.apply_yaml(&gpu_pod("half-a", "flotilla.io/gpu-milli", "500"));
    d.apply_yaml(&gpu_pod("half-b", "flotilla.io/gpu-milli", "500"));
    d.apply_yaml(&gpu_pod("whole", "nvidia.com/gpu", "1"));
    d.run_for(Duration::from_secs(30));

    let pods = d.pods("default");
    assert_eq!(pods.len(), 3, "{pods:#?}");
    let snapshot = d.cluster.scheduler().cache().clone().snapshot().clone();
    let node = snapshot.node("gpu-0").expect("the node is in the snapshot");
    for p in &pods {
        assert_eq!(p.spec.node_name, "gpu-0", "{}", p.metadata.name);
        assert_eq!(p.phase(), PodPhase::Running, "{}", p.metadata.name);
        let written = p
            .metadata
            .annotations
            .get(GPU_INDEX_ANNOTATION)
            .unwrap_or_else(|| panic!("{} has no GPU index", p.metadata.name));
        // The annotation names the GPUs the scheduler's node state charges the pod with.
        let held = node
            .gpus
            .devices_of(&format!("default/{}", p.metadata.name))
            .expect("the pod holds GPUs");
        assert_eq!(*written, flotilla_scheduler::gpu::format_index(held));
        // The container that asks for GPUs sees them; its sidecar does not.
        let env = start_env(&d, &p.metadata.name, "app");
        assert_eq!(visible_devices(&env), Some(written.as_str()), "{env:?}");
        assert_eq!(
            visible_devices(&start_env(&d, &p.metadata.name, "log")),
            None
        );
    }
    let index_of = |name: &str| {
        pods.iter()
            .find(|p| p.metadata.name == name)
            .and_then(|p| p.metadata.annotations.get(GPU_INDEX_ANNOTATION).cloned())
    };
    // Best fit (Open-Gpu-Share's AllocateGpuId): the two halves share GPU 0, the whole GPU
    // takes GPU 1, and the node is full.
    assert_eq!(index_of("half-a").as_deref(), Some("0"));
    assert_eq!(index_of("half-b").as_deref(), Some("0"));
    assert_eq!(index_of("whole").as_deref(), Some("1"));
    assert_eq!(node.gpus.free, vec![0, 0]);
}
