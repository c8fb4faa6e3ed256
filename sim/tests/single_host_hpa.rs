//! The HorizontalPodAutoscaler on real CPU use (root only): a pod that spins a CPU, requesting
//! 100m, is measured from its cgroup by `flotilla host` and scaled out by the HPA.
//!
//! Skips (passing, with a message) when not root or without busybox and iproute2.

mod host_common;

use host_common::{prerequisites, processes_of, wait_until, Env, IMAGE};

#[test]
fn the_hpa_scales_on_cpu_read_from_cgroups() {
    let Some(busybox) = prerequisites() else {
        return;
    };
    let env = Env::new("hpa", &busybox);
    let host = env.host(&["--metrics-interval", "1"]);
    let manifest = format!(
        "apiVersion: apps/v1
kind: Deployment
metadata: {{name: burn}}
spec:
  replicas: 1
  selector: {{matchLabels: {{app: burn}}}}
  template:
    metadata: {{labels: {{app: burn}}}}
    spec:
      terminationGracePeriodSeconds: 1
      containers:
      - name: burn
        image: {IMAGE}
        command: [sh, -c, 'while true; do true; done']
        resources:
          requests: {{cpu: 100m}}
          limits: {{cpu: 300m}}
---
apiVersion: autoscaling/v2
kind: HorizontalPodAutoscaler
metadata: {{name: burn}}
spec:
  scaleTargetRef: {{apiVersion: apps/v1, kind: Deployment, name: burn}}
  minReplicas: 1
  maxReplicas: 3
  metrics:
  - type: Resource
    resource: {{name: cpu, target: {{type: Utilization, averageUtilization: 50}}}}
"
    );
    let file = env.base.join("burn.yaml");
    std::fs::write(&file, manifest).unwrap();
    env.ok(&["apply", "-f", file.to_str().unwrap()]);
    // Measured use (up to the 300m limit) is far above 50% of the 100m request: the HPA
    // scales to its maximum at its first sync with metrics.
    wait_until("the HPA's scale-up", 120, || {
        let hpa = env.json(&["get", "hpa", "burn"]);
        hpa["status"]["desiredReplicas"].as_i64() == Some(3)
    });
    let hpa = env.json(&["get", "hpa", "burn"]);
    let utilization = hpa["status"]["currentMetrics"][0]["resource"]["current"]
        ["averageUtilization"]
        .as_i64()
        .unwrap_or(0);
    assert!(
        utilization > 50,
        "measured utilization {utilization}%: {hpa}"
    );
    let described = env.ok(&["describe", "hpa", "burn"]);
    assert!(described.contains("SuccessfulRescale"), "{described}");
    wait_until("three pods running", 60, || {
        env.ok(&["get", "deployment", "burn"]).contains("3/3")
    });
    env.stop(host);
    assert!(processes_of(&env.node).is_empty(), "processes left");
    let _ = std::fs::remove_dir_all(&env.base);
}
