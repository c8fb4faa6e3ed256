//! Rates that change over time, and the offered load of Services that feeds the HPA.
//!
//! A [`RateCurve`] is piecewise linear between its points, flat before the first and after the
//! last; times are virtual times since the start of the run. It describes both the requests per
//! second a Service receives ([`ServiceLoad`]) and the rate of an arrival process (`rateCurve`,
//! sampled by thinning in the [engine](crate::engine)).
//!
//! Every `metricsInterval` (15 s by default, the metrics server's resolution) the engine
//! measures the pods behind each Service with a load curve, as the metrics server would
//! ([`measure`]): the pods the Service's selector matches that are Running get `baseCpu` and
//! `baseMemory`; those that are also Ready and not being deleted (the Service's endpoints, which
//! kube-proxy spreads traffic over) share the offered load evenly, at `cpuPerRequest` per
//! request per second. Pods that are not running yet have no metrics.

use flotilla_controllers::cluster::ClusterInput;
use flotilla_model::api::PodPhase;
use flotilla_model::store::Store;
use flotilla_model::{Duration, Kind, Object};

/// A rate over time: piecewise linear between points, flat outside them.
#[derive(Clone, Debug, PartialEq)]
pub struct RateCurve {
    /// (time since the start of the run, rate per second), in increasing time order; never
    /// empty.
    points: Vec<(Duration, f64)>,
}

impl RateCurve {
    /// A curve through `points` (time since the start, rate per second). `None` when there are
    /// no points, a rate is negative or not finite, or the times do not increase.
    pub fn new(points: Vec<(Duration, f64)>) -> Option<RateCurve> {
        if points.is_empty()
            || points.iter().any(|(_, r)| !(r.is_finite() && *r >= 0.0))
            || points.windows(2).any(|w| w[1].0 <= w[0].0)
        {
            return None;
        }
        Some(RateCurve { points })
    }

    /// A constant rate.
    pub fn constant(rate: f64) -> RateCurve {
        RateCurve {
            points: vec![(Duration::ZERO, rate)],
        }
    }

    /// The points.
    pub fn points(&self) -> &[(Duration, f64)] {
        &self.points
    }

    /// The rate at `t` (since the start of the run).
    pub fn at(&self, t: Duration) -> f64 {
        let first = self.points[0];
        if t <= first.0 {
            return first.1;
        }
        for w in self.points.windows(2) {
            let ((t0, r0), (t1, r1)) = (w[0], w[1]);
            if t <= t1 {
                let span = (t1 - t0).as_nanos() as f64;
                let into = (t - t0).as_nanos() as f64;
                return r0 + (r1 - r0) * into / span;
            }
        }
        self.points[self.points.len() - 1].1
    }

    /// The largest rate in `[from, to]`: the thinning bound of an arrival process.
    pub fn max_between(&self, from: Duration, to: Duration) -> f64 {
        let mut max = self.at(from).max(self.at(to));
        for &(t, r) in &self.points {
            if t > from && t < to {
                max = max.max(r);
            }
        }
        max
    }
}

/// The offered load of one Service (`spec.load[]`), checked.
#[derive(Clone, Debug, PartialEq)]
pub struct ServiceLoad {
    /// The Service's namespace.
    pub namespace: String,
    /// The Service's name.
    pub service: String,
    /// Requests per second over time.
    pub curve: RateCurve,
    /// CPU per request per second, in millicores (a request per second costing `2m` keeps 2
    /// millicores busy).
    pub cpu_per_request_milli: f64,
    /// CPU every running pod uses without traffic, in millicores.
    pub base_cpu_milli: i64,
    /// Memory every running pod uses, in bytes.
    pub base_memory_bytes: i64,
}

/// What the metrics server reports for the pods behind `load`'s Service at `t` (since the
/// start of the run), in the store's order of pod names. Nothing when the Service does not
/// exist (yet) or has no selector.
pub fn measure(store: &Store, load: &ServiceLoad, t: Duration) -> Vec<ClusterInput> {
    let Some(service) = store.get(Kind::Service, &load.namespace, &load.service) else {
        return Vec::new();
    };
    let Object::Service(service) = &*service else {
        return Vec::new();
    };
    let selector = &service.spec.selector;
    if selector.is_empty() {
        return Vec::new();
    }
    // (name, whether it serves traffic)
    let mut pods = Vec::new();
    for object in store.iter_namespace(Kind::Pod, &load.namespace) {
        let Object::Pod(pod) = &**object else {
            continue;
        };
        if pod.phase() != PodPhase::Running
            || !selector
                .iter()
                .all(|(k, v)| pod.metadata.labels.get(k) == Some(v))
        {
            continue;
        }
        let serving = pod.is_ready() && pod.metadata.deletion_timestamp.is_none();
        pods.push((pod.metadata.name.clone(), serving));
    }
    let serving = pods.iter().filter(|(_, s)| *s).count();
    let share = if serving == 0 {
        0.0
    } else {
        load.curve.at(t) * load.cpu_per_request_milli / serving as f64
    };
    pods.into_iter()
        .map(|(name, serving)| {
            let extra = if serving { share.round() as i64 } else { 0 };
            ClusterInput::PodMetrics {
                namespace: load.namespace.clone(),
                name,
                cpu_millis: load.base_cpu_milli.saturating_add(extra),
                memory_bytes: load.base_memory_bytes,
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(secs: u64) -> Duration {
        Duration::from_secs(secs)
    }

    #[test]
    fn a_curve_is_linear_between_points_and_flat_outside() {
        let c = RateCurve::new(vec![(s(60), 10.0), (s(120), 30.0), (s(180), 0.0)]).expect("ok");
        assert_eq!(c.at(s(0)), 10.0);
        assert_eq!(c.at(s(60)), 10.0);
        assert_eq!(c.at(s(90)), 20.0);
        assert_eq!(c.at(s(150)), 15.0);
        assert_eq!(c.at(s(600)), 0.0);
        assert_eq!(c.max_between(s(0), s(100)), 10.0 + 20.0 * 40.0 / 60.0);
        assert_eq!(c.max_between(s(0), s(1000)), 30.0);
        assert!(RateCurve::new(vec![]).is_none());
        assert!(RateCurve::new(vec![(s(1), 1.0), (s(1), 2.0)]).is_none());
        assert!(RateCurve::new(vec![(s(1), -1.0)]).is_none());
    }
}
