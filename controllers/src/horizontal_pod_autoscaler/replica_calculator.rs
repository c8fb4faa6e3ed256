//! The replica calculation of the horizontal pod autoscaler for resource metrics
//! (pkg/controller/podautoscaler/replica_calculator.go and metrics/utilization.go, v1.34):
//! from the pods a target's selector picks and their measured use, the number of replicas that
//! would bring the use to its target.
//!
//! The calculation is conservative in the way Kubernetes' is. Pods being deleted or failed are
//! left out; pending pods, and (for CPU) pods that are not ready or have not been measured
//! since they became ready while in their CPU initialization period, are *unready*; running
//! pods without a measurement are *missing*. The first estimate uses only the measured ready
//! pods. When it asks for more pods, unready pods are counted as using nothing; missing pods
//! are counted as using nothing on a scale up and their full request (or the target, if higher)
//! on a scale down. The estimate is then recomputed, and a recomputation that lands within the
//! tolerance or reverses the direction changes nothing.

use std::collections::{BTreeMap, BTreeSet};

use flotilla_model::api::{ConditionStatus, ContainerRestartPolicy, Pod, PodCondition, PodPhase};
use flotilla_model::{Duration, Time};

/// One pod's measured use of a resource (metrics/interfaces.go `PodMetric`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PodMetric {
    /// The use, in thousandths of the resource's unit (millicores; milli-bytes for memory, as
    /// Kubernetes' `MilliValue`).
    pub value: i64,
    /// When it was measured.
    pub timestamp: Time,
    /// The window over which it was measured.
    pub window: Duration,
}

/// The measured pods, by pod name (metrics/interfaces.go `PodMetricsInfo`).
pub type PodMetricsInfo = BTreeMap<String, PodMetric>;

/// The settings of the calculation (kube-controller-manager's
/// `--horizontal-pod-autoscaler-tolerance`, `-cpu-initialization-period` and
/// `-initial-readiness-delay`).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ReplicaCalculator {
    /// The relative deviation from the target that changes nothing (0.1: within 10%).
    pub tolerance: f64,
    /// How long after a pod starts its CPU samples are distrusted unless it is ready and has
    /// been measured since it became ready (5 minutes).
    pub cpu_initialization_period: Duration,
    /// How long after a pod starts a not-ready condition counts as "never ready yet" (30 s).
    pub delay_of_initial_readiness_status: Duration,
}

impl Default for ReplicaCalculator {
    fn default() -> Self {
        ReplicaCalculator {
            tolerance: 0.1,
            cpu_initialization_period: Duration::from_secs(5 * 60),
            delay_of_initial_readiness_status: Duration::from_secs(30),
        }
    }
}

/// What [`ReplicaCalculator::resource_replicas`] found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct UtilizationProposal {
    /// The proposed replicas.
    pub replicas: i32,
    /// The measured use in percent of the requests of the pods counted.
    pub utilization: i32,
    /// The average measured use of the pods counted, in milli-units.
    pub raw_average: i64,
}

/// What [`ReplicaCalculator::raw_resource_replicas`] found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AverageValueProposal {
    /// The proposed replicas.
    pub replicas: i32,
    /// The average measured use of the pods counted, in milli-units.
    pub average: i64,
}

/// The pods of a calculation sorted into kinds (replica_calculator.go `groupPods`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
struct Groups {
    ready: usize,
    unready: BTreeSet<String>,
    missing: BTreeSet<String>,
    ignored: BTreeSet<String>,
}

impl ReplicaCalculator {
    /// Whether `ratio` is close enough to 1 to change nothing (replica_calculator.go
    /// `Tolerances.isWithin`, with the same tolerance both ways: the per-HPA tolerance of the
    /// alpha `HPAConfigurableTolerance` gate is off in v1.34).
    pub fn is_within_tolerance(&self, ratio: f64) -> bool {
        (1.0 - self.tolerance) <= ratio && ratio <= (1.0 + self.tolerance)
    }

    /// replica_calculator.go `groupPods`.
    fn group_pods(
        &self,
        pods: &[&Pod],
        metrics: &PodMetricsInfo,
        resource: &str,
        now: Time,
    ) -> Groups {
        let mut groups = Groups::default();
        for pod in pods {
            let name = pod.metadata.name.clone();
            if pod.metadata.deletion_timestamp.is_some() || pod.phase() == PodPhase::Failed {
                groups.ignored.insert(name);
                continue;
            }
            // Pending pods count as unready.
            if pod.phase() == PodPhase::Pending {
                groups.unready.insert(name);
                continue;
            }
            let Some(metric) = metrics.get(&name) else {
                groups.missing.insert(name);
                continue;
            };
            if resource == "cpu" && self.cpu_sample_unready(pod, metric, now) {
                groups.unready.insert(name);
                continue;
            }
            groups.ready += 1;
        }
        groups
    }

    /// Whether a pod's CPU sample is distrusted (the CPU branch of `groupPods`): no `Ready`
    /// condition or start time; within the CPU initialization period, not ready or not
    /// measured for a whole window since its readiness last changed; after it, not ready and
    /// never ready since it started (its readiness last changed within the initial readiness
    /// delay of its start).
    fn cpu_sample_unready(&self, pod: &Pod, metric: &PodMetric, now: Time) -> bool {
        let (Some(condition), Some(start)) =
            (pod.condition(PodCondition::READY), pod.status.start_time)
        else {
            return true;
        };
        let transition = condition.last_transition_time.unwrap_or(Time::ZERO);
        let not_ready = condition.status == ConditionStatus::False;
        if start.saturating_add(self.cpu_initialization_period) > now {
            not_ready || metric.timestamp < transition.saturating_add(metric.window)
        } else {
            not_ready && start.saturating_add(self.delay_of_initial_readiness_status) > transition
        }
    }

    /// The replicas that bring the pods' use of `resource` to `target_utilization` percent of
    /// their requests (replica_calculator.go `GetResourceReplicas`). `pods` are the pods the
    /// target's selector picks; `metrics` their measurements. An error says why no proposal
    /// could be made, in Kubernetes' words.
    pub fn resource_replicas(
        &self,
        current_replicas: i32,
        target_utilization: i32,
        resource: &str,
        pods: &[&Pod],
        metrics: &PodMetricsInfo,
        now: Time,
    ) -> Result<UtilizationProposal, String> {
        if pods.is_empty() {
            return Err("no pods returned by selector while calculating replica count".into());
        }
        let groups = self.group_pods(pods, metrics, resource, now);
        let mut metrics: BTreeMap<String, i64> = metrics
            .iter()
            .filter(|(name, _)| !groups.ignored.contains(*name) && !groups.unready.contains(*name))
            .map(|(name, m)| (name.clone(), m.value))
            .collect();
        if metrics.is_empty() {
            return Err(
                "did not receive metrics for targeted pods (pods might be unready)".to_string(),
            );
        }
        let requests = calculate_requests(pods, resource)?;
        let (usage_ratio, utilization, raw_average) =
            resource_utilization_ratio(&metrics, &requests, target_utilization)?;
        let proposal = |replicas| UtilizationProposal {
            replicas,
            utilization,
            raw_average,
        };

        let scale_up_with_unready = !groups.unready.is_empty() && usage_ratio > 1.0;
        if !scale_up_with_unready && groups.missing.is_empty() {
            if self.is_within_tolerance(usage_ratio) {
                return Ok(proposal(current_replicas));
            }
            return Ok(proposal(ceil_replicas(usage_ratio * groups.ready as f64)));
        }

        if !groups.missing.is_empty() {
            if usage_ratio < 1.0 {
                // On a scale down a missing pod uses all of its request, or the target when the
                // target is above 100%.
                let fallback = i64::from(target_utilization.max(100));
                for name in &groups.missing {
                    let request = requests.get(name).copied().unwrap_or(0);
                    metrics.insert(name.clone(), request.saturating_mul(fallback) / 100);
                }
            } else if usage_ratio > 1.0 {
                // On a scale up a missing pod uses nothing.
                for name in &groups.missing {
                    metrics.insert(name.clone(), 0);
                }
            }
        }
        if scale_up_with_unready {
            for name in &groups.unready {
                metrics.insert(name.clone(), 0);
            }
        }

        let (new_usage_ratio, _, _) =
            resource_utilization_ratio(&metrics, &requests, target_utilization)?;
        if self.is_within_tolerance(new_usage_ratio)
            || (usage_ratio < 1.0 && new_usage_ratio > 1.0)
            || (usage_ratio > 1.0 && new_usage_ratio < 1.0)
        {
            // Too small a change, or the pods assumed turned the direction around.
            return Ok(proposal(current_replicas));
        }
        let new_replicas = ceil_replicas(new_usage_ratio * metrics.len() as f64);
        if (new_usage_ratio < 1.0 && new_replicas > current_replicas)
            || (new_usage_ratio > 1.0 && new_replicas < current_replicas)
        {
            // Counting more pods than the current replicas turned the direction around.
            return Ok(proposal(current_replicas));
        }
        Ok(proposal(new_replicas))
    }

    /// The replicas that bring the pods' average use of `resource` to `target_usage` milli-units
    /// (replica_calculator.go `GetRawResourceReplicas` and `calcPlainMetricReplicas`).
    pub fn raw_resource_replicas(
        &self,
        current_replicas: i32,
        target_usage: i64,
        resource: &str,
        pods: &[&Pod],
        metrics: &PodMetricsInfo,
        now: Time,
    ) -> Result<AverageValueProposal, String> {
        if pods.is_empty() {
            return Err("no pods returned by selector while calculating replica count".into());
        }
        let groups = self.group_pods(pods, metrics, resource, now);
        let mut metrics: BTreeMap<String, i64> = metrics
            .iter()
            .filter(|(name, _)| !groups.ignored.contains(*name) && !groups.unready.contains(*name))
            .map(|(name, m)| (name.clone(), m.value))
            .collect();
        if metrics.is_empty() {
            return Err(
                "did not receive metrics for targeted pods (pods might be unready)".to_string(),
            );
        }
        let (usage_ratio, average) = metric_usage_ratio(&metrics, target_usage);
        let proposal = |replicas| AverageValueProposal { replicas, average };

        let scale_up_with_unready = !groups.unready.is_empty() && usage_ratio > 1.0;
        if !scale_up_with_unready && groups.missing.is_empty() {
            if self.is_within_tolerance(usage_ratio) {
                return Ok(proposal(current_replicas));
            }
            return Ok(proposal(ceil_replicas(usage_ratio * groups.ready as f64)));
        }
        if !groups.missing.is_empty() {
            // A missing pod uses exactly the target on a scale down, nothing on a scale up.
            if usage_ratio < 1.0 {
                for name in &groups.missing {
                    metrics.insert(name.clone(), target_usage);
                }
            } else if usage_ratio > 1.0 {
                for name in &groups.missing {
                    metrics.insert(name.clone(), 0);
                }
            }
        }
        if scale_up_with_unready {
            for name in &groups.unready {
                metrics.insert(name.clone(), 0);
            }
        }
        let (new_usage_ratio, _) = metric_usage_ratio(&metrics, target_usage);
        if self.is_within_tolerance(new_usage_ratio)
            || (usage_ratio < 1.0 && new_usage_ratio > 1.0)
            || (usage_ratio > 1.0 && new_usage_ratio < 1.0)
        {
            return Ok(proposal(current_replicas));
        }
        let new_replicas = ceil_replicas(new_usage_ratio * metrics.len() as f64);
        if (new_usage_ratio < 1.0 && new_replicas > current_replicas)
            || (new_usage_ratio > 1.0 && new_replicas < current_replicas)
        {
            return Ok(proposal(current_replicas));
        }
        Ok(proposal(new_replicas))
    }
}

/// `ceil(x)` as a replica count, saturated at the bounds of `i32`.
fn ceil_replicas(x: f64) -> i32 {
    // `as` saturates (and maps NaN to 0).
    x.ceil() as i32
}

/// Each pod's request of `resource` in milli-units, summed over its containers and sidecars
/// (replica_calculator.go `calculateRequests` / `calculatePodRequestsFromContainers`; Flotilla
/// has no pod-level resources). A container without the request is an error.
fn calculate_requests(pods: &[&Pod], resource: &str) -> Result<BTreeMap<String, i64>, String> {
    let mut requests = BTreeMap::new();
    for pod in pods {
        let sidecars = pod
            .spec
            .init_containers
            .iter()
            .filter(|c| c.restart_policy == Some(ContainerRestartPolicy::Always));
        let mut sum = 0i64;
        for c in pod.spec.containers.iter().chain(sidecars) {
            let Some(q) = c.resources.requests.get(resource) else {
                return Err(format!(
                    "missing request for {resource} in container {} of Pod {}",
                    c.name, pod.metadata.name
                ));
            };
            sum = sum.saturating_add(q.milli_value());
        }
        requests.insert(pod.metadata.name.clone(), sum);
    }
    Ok(requests)
}

/// metrics/utilization.go `GetResourceUtilizationRatio`: the use of the measured pods in whole
/// percent of their requests (truncated, as Kubernetes' integer division does), its ratio to the
/// target, and the pods' average raw use.
fn resource_utilization_ratio(
    metrics: &BTreeMap<String, i64>,
    requests: &BTreeMap<String, i64>,
    target_utilization: i32,
) -> Result<(f64, i32, i64), String> {
    let mut metrics_total: i128 = 0;
    let mut requests_total: i128 = 0;
    let mut entries: i128 = 0;
    for (name, value) in metrics {
        let Some(request) = requests.get(name) else {
            continue;
        };
        metrics_total += i128::from(*value);
        requests_total += i128::from(*request);
        entries += 1;
    }
    if requests_total == 0 {
        return Err("no metrics returned matched known pods".to_string());
    }
    let utilization = i32::try_from(metrics_total * 100 / requests_total).unwrap_or(i32::MAX);
    let raw_average = i64::try_from(metrics_total / entries).unwrap_or(i64::MAX);
    Ok((
        f64::from(utilization) / f64::from(target_utilization.max(1)),
        utilization,
        raw_average,
    ))
}

/// metrics/utilization.go `GetMetricUsageRatio`: the pods' average use (truncated) and its ratio
/// to the target.
fn metric_usage_ratio(metrics: &BTreeMap<String, i64>, target_usage: i64) -> (f64, i64) {
    let total: i128 = metrics.values().map(|v| i128::from(*v)).sum();
    let count = i128::try_from(metrics.len()).unwrap_or(i128::MAX).max(1);
    let average = i64::try_from(total / count).unwrap_or(i64::MAX);
    (average as f64 / target_usage.max(1) as f64, average)
}

#[cfg(test)]
mod tests {
    use super::*;
    use flotilla_model::api::Container;
    use flotilla_model::{ObjectMeta, Quantity};

    const NOW: Time = Time::from_secs(10_000);
    const WINDOW: Duration = Duration::from_secs(15);

    /// A running pod started long ago, ready since long ago, requesting `request` millicores.
    fn pod(name: &str, request: i64) -> Pod {
        let mut pod = Pod {
            metadata: ObjectMeta::named("default", name),
            ..Default::default()
        };
        let mut c = Container {
            name: "app".into(),
            ..Default::default()
        };
        c.resources
            .requests
            .insert("cpu".into(), Quantity::from_milli(request));
        c.resources.requests.insert(
            "memory".into(),
            Quantity::from_value(100 << 20, Default::default()),
        );
        pod.spec.containers.push(c);
        pod.status.phase = Some(PodPhase::Running);
        pod.status.start_time = Some(Time::from_secs(1_000));
        pod.status.conditions.push(PodCondition {
            r#type: PodCondition::READY.into(),
            status: ConditionStatus::True,
            last_transition_time: Some(Time::from_secs(1_010)),
            ..Default::default()
        });
        pod
    }

    fn sample(value: i64) -> PodMetric {
        PodMetric {
            value,
            timestamp: NOW,
            window: WINDOW,
        }
    }

    fn metrics(samples: &[(&str, i64)]) -> PodMetricsInfo {
        samples
            .iter()
            .map(|(n, v)| (n.to_string(), sample(*v)))
            .collect()
    }

    fn cpu(
        current: i32,
        target: i32,
        pods: &[Pod],
        m: &PodMetricsInfo,
    ) -> Result<UtilizationProposal, String> {
        let refs: Vec<&Pod> = pods.iter().collect();
        ReplicaCalculator::default().resource_replicas(current, target, "cpu", &refs, m, NOW)
    }

    #[test]
    fn two_pods_at_twice_their_target_double() {
        // The documented example: 200m measured against a 100m target (50% of 200m requests
        // used at 100%) gives ceil(2 × 200/100) = 4.
        let pods = [pod("a", 200), pod("b", 200)];
        let got = cpu(2, 50, &pods, &metrics(&[("a", 200), ("b", 200)])).unwrap();
        assert_eq!(got.replicas, 4);
        assert_eq!(got.utilization, 100);
        assert_eq!(got.raw_average, 200);
    }

    #[test]
    fn a_change_within_the_tolerance_changes_nothing() {
        let pods = [pod("a", 1000), pod("b", 1000), pod("c", 1000)];
        // 54% against 50%: ratio 1.08, within 10%.
        let got = cpu(
            3,
            50,
            &pods,
            &metrics(&[("a", 540), ("b", 540), ("c", 540)]),
        )
        .unwrap();
        assert_eq!(got.replicas, 3);
        assert_eq!(got.utilization, 54);
        // 56% against 50%: ratio 1.12, outside; ceil(3 × 1.12) = 4.
        let got = cpu(
            3,
            50,
            &pods,
            &metrics(&[("a", 560), ("b", 560), ("c", 560)]),
        )
        .unwrap();
        assert_eq!(got.replicas, 4);
        // 44% against 50%: ratio 0.88, outside; ceil(3 × 0.88) = 3 still.
        let got = cpu(
            3,
            50,
            &pods,
            &metrics(&[("a", 440), ("b", 440), ("c", 440)]),
        )
        .unwrap();
        assert_eq!(got.replicas, 3);
        // 30%: ceil(3 × 0.6) = 2.
        let got = cpu(
            3,
            50,
            &pods,
            &metrics(&[("a", 300), ("b", 300), ("c", 300)]),
        )
        .unwrap();
        assert_eq!(got.replicas, 2);
    }

    #[test]
    fn missing_metrics_count_as_nothing_on_a_scale_up() {
        let pods = [pod("a", 100), pod("b", 100), pod("c", 100), pod("d", 100)];
        // a, b at 200%; c, d unmeasured count as 0%: (200+200+0+0)/400 = 100% against 50%.
        let got = cpu(4, 50, &pods, &metrics(&[("a", 200), ("b", 200)])).unwrap();
        assert_eq!(got.replicas, 8);
        assert_eq!(got.utilization, 200, "status shows the measured pods only");
        // a, b at 60%: ratio 1.2 alone, but with c, d at 0% it is 0.6: the direction would
        // turn, so nothing changes.
        let got = cpu(4, 50, &pods, &metrics(&[("a", 60), ("b", 60)])).unwrap();
        assert_eq!(got.replicas, 4);
    }

    #[test]
    fn missing_metrics_count_as_their_request_on_a_scale_down() {
        let pods = [pod("a", 100), pod("b", 100), pod("c", 100), pod("d", 100)];
        // a, b at 10%; c, d assumed at 100%: 55% against 50% is within the tolerance.
        let got = cpu(4, 50, &pods, &metrics(&[("a", 10), ("b", 10)])).unwrap();
        assert_eq!(got.replicas, 4);
        // Against 80%: ratio 55/80 = 0.6875 → ceil(4 × 0.6875) = 3.
        let got = cpu(4, 80, &pods, &metrics(&[("a", 10), ("b", 10)])).unwrap();
        assert_eq!(got.replicas, 3);
        // A target above 100% makes the missing pods use the target: (10+10+150+150)/400 =
        // 80% against 150%: ceil(4 × 0.5333) = 3.
        let got = cpu(4, 150, &pods, &metrics(&[("a", 10), ("b", 10)])).unwrap();
        assert_eq!(got.replicas, 3);
    }

    #[test]
    fn unready_pods_count_as_nothing_on_a_scale_up_only() {
        let mut pods = vec![pod("a", 100), pod("b", 100)];
        let mut pending = pod("c", 100);
        pending.status.phase = Some(PodPhase::Pending);
        pods.push(pending);
        // Scale up: a, b at 100% and c at 0%: 200/300 = 66% against 50% → ceil(3 × 1.32) = 4.
        let got = cpu(
            3,
            50,
            &pods,
            &metrics(&[("a", 100), ("b", 100), ("c", 100)]),
        )
        .unwrap();
        assert_eq!(got.replicas, 4);
        // Scale down: unready pods are simply left out: 20% → ceil(2 × 0.4) = 1.
        let got = cpu(3, 50, &pods, &metrics(&[("a", 20), ("b", 20)])).unwrap();
        assert_eq!(got.replicas, 1);
    }

    #[test]
    fn cpu_samples_of_initializing_pods_are_distrusted() {
        let mut young = pod("b", 100);
        young.status.start_time = Some(NOW - Duration::from_secs(60));
        // Ready 10 s ago: the sample (window 15 s) may predate readiness.
        young.status.conditions[0].last_transition_time = Some(NOW - Duration::from_secs(10));
        let pods = [pod("a", 100), young.clone()];
        // a at 100%, b distrusted: scale up with b at 0%: 50% against 50% → no change.
        let got = cpu(2, 50, &pods, &metrics(&[("a", 100), ("b", 100)])).unwrap();
        assert_eq!(got.replicas, 2);
        // Ready 20 s ago: trusted; 2 pods at 100% → 4.
        young.status.conditions[0].last_transition_time = Some(NOW - Duration::from_secs(20));
        let pods = [pod("a", 100), young.clone()];
        let got = cpu(2, 50, &pods, &metrics(&[("a", 100), ("b", 100)])).unwrap();
        assert_eq!(got.replicas, 4);
        // Memory samples are never distrusted for readiness.
        young.status.conditions[0].status = ConditionStatus::False;
        let pods = [pod("a", 100), young];
        let refs: Vec<&Pod> = pods.iter().collect();
        let mem = 100i64 << 20;
        let m = metrics(&[("a", mem * 1000), ("b", mem * 1000)]);
        let got = ReplicaCalculator::default()
            .resource_replicas(2, 50, "memory", &refs, &m, NOW)
            .unwrap();
        assert_eq!(got.replicas, 4);
    }

    #[test]
    fn an_old_pod_that_was_ready_once_counts_even_when_not_ready() {
        let mut pod_b = pod("b", 100);
        // Started long ago, became not ready well after the initial readiness delay.
        pod_b.status.conditions[0].status = ConditionStatus::False;
        pod_b.status.conditions[0].last_transition_time = Some(Time::from_secs(5_000));
        let pods = [pod("a", 100), pod_b.clone()];
        let got = cpu(2, 50, &pods, &metrics(&[("a", 100), ("b", 100)])).unwrap();
        assert_eq!(got.replicas, 4);
        // Not ready since within 30 s of its start: never ready, distrusted.
        pod_b.status.conditions[0].last_transition_time = Some(Time::from_secs(1_020));
        let pods = [pod("a", 100), pod_b];
        let got = cpu(2, 50, &pods, &metrics(&[("a", 100), ("b", 100)])).unwrap();
        assert_eq!(got.replicas, 2);
    }

    #[test]
    fn deleted_and_failed_pods_are_ignored() {
        let mut gone = pod("b", 100);
        gone.metadata.deletion_timestamp = Some(NOW);
        let mut failed = pod("c", 100);
        failed.status.phase = Some(PodPhase::Failed);
        let pods = [pod("a", 100), gone, failed];
        // Only a counts: 100% against 50% → 2.
        let got = cpu(3, 50, &pods, &metrics(&[("a", 100), ("b", 0), ("c", 0)])).unwrap();
        assert_eq!(got.replicas, 2);
    }

    #[test]
    fn errors_say_what_is_missing() {
        let pods = [pod("a", 100)];
        assert_eq!(
            cpu(1, 50, &[], &metrics(&[])),
            Err("no pods returned by selector while calculating replica count".into())
        );
        assert_eq!(
            cpu(1, 50, &pods, &metrics(&[])),
            Err("did not receive metrics for targeted pods (pods might be unready)".into())
        );
        let mut pending = pod("a", 100);
        pending.status.phase = Some(PodPhase::Pending);
        assert_eq!(
            cpu(1, 50, &[pending], &metrics(&[("a", 1)])),
            Err("did not receive metrics for targeted pods (pods might be unready)".into())
        );
        let mut no_request = pod("a", 100);
        no_request.spec.containers[0].resources.requests.clear();
        assert_eq!(
            cpu(1, 50, &[no_request], &metrics(&[("a", 1)])),
            Err("missing request for cpu in container app of Pod a".into())
        );
    }

    #[test]
    fn average_values_scale_on_the_mean_use() {
        let pods = [pod("a", 100), pod("b", 100)];
        let refs: Vec<&Pod> = pods.iter().collect();
        let calc = ReplicaCalculator::default();
        // Mean 300m against 100m → ceil(2 × 3) = 6.
        let got = calc
            .raw_resource_replicas(
                2,
                100,
                "cpu",
                &refs,
                &metrics(&[("a", 200), ("b", 400)]),
                NOW,
            )
            .unwrap();
        assert_eq!(
            got,
            AverageValueProposal {
                replicas: 6,
                average: 300
            }
        );
        // Mean 105m: within the tolerance.
        let got = calc
            .raw_resource_replicas(
                2,
                100,
                "cpu",
                &refs,
                &metrics(&[("a", 100), ("b", 110)]),
                NOW,
            )
            .unwrap();
        assert_eq!(got.replicas, 2);
        // b missing on a scale down uses the target: (20 + 100)/2 = 60 → ceil(2 × 0.6) = 2.
        let got = calc
            .raw_resource_replicas(3, 100, "cpu", &refs, &metrics(&[("a", 20)]), NOW)
            .unwrap();
        assert_eq!(got.replicas, 2);
    }
}
