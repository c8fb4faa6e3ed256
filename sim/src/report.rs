//! The summary table `flotilla run` prints.

use crate::metrics::{Percentiles, Summary};

/// The summary as a two-column table.
pub fn summary_table(s: &Summary) -> String {
    let mut rows: Vec<(String, String)> = vec![
        ("scenario".into(), s.scenario.clone()),
        ("seed".into(), s.seed.to_string()),
        ("virtual time".into(), format!("{:.0} s", s.sim_time_s)),
        ("wall time".into(), format!("{:.2} s", s.wall_time_s)),
        ("events processed".into(), s.events_processed.to_string()),
        ("event log digest".into(), s.event_log_digest.clone()),
        ("nodes".into(), s.nodes.to_string()),
        ("pods created".into(), s.pods_created.to_string()),
        ("pods scheduled".into(), s.pods_scheduled.to_string()),
        (
            "pods running at end".into(),
            s.pods_running_at_end.to_string(),
        ),
        ("pods succeeded".into(), s.pods_succeeded.to_string()),
        ("pods failed".into(), s.pods_failed.to_string()),
        (
            "pods deleted while running".into(),
            s.pods_deleted.to_string(),
        ),
        (
            "pods pending at end".into(),
            s.pods_pending_at_end.to_string(),
        ),
        (
            "  of which unschedulable".into(),
            s.pods_unschedulable.to_string(),
        ),
        ("preemptions".into(), s.preemptions.to_string()),
        ("evictions".into(), s.evictions.to_string()),
        ("container restarts".into(), s.restarts.to_string()),
        (
            "scheduling latency".into(),
            percentiles(&s.scheduling_latency_ms),
        ),
        ("startup latency".into(), percentiles(&s.startup_latency_ms)),
        (
            "pods running within 5 s".into(),
            format!("{:.1} %", s.slo_pod_startup_5s * 100.0),
        ),
    ];
    for (r, v) in &s.allocation_ratio_mean {
        rows.push((
            format!("mean {r} allocation"),
            format!("{:.1} %", v * 100.0),
        ));
    }
    let width = rows.iter().map(|(k, _)| k.len()).max().unwrap_or(0);
    rows.iter()
        .map(|(k, v)| format!("{k:<width$}  {v}\n"))
        .collect()
}

fn percentiles(p: &Percentiles) -> String {
    format!(
        "p50 {:.0} ms, p90 {:.0} ms, p99 {:.0} ms, max {:.0} ms",
        p.p50, p.p90, p.p99, p.max
    )
}
