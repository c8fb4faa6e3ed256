//! The SVG plots `flotilla run` writes beside `metrics.csv`: allocation ratio per resource
//! over time (`allocation.svg`), pending pods over time (`pending.svg`), and the cumulative
//! distributions of scheduling and startup latency (`scheduling_latency_cdf.svg`,
//! `startup_latency_cdf.svg`).
//!
//! Each plot is a pure function of the metrics, drawn with plotters' SVG backend into a
//! string, so the same run gives the same files byte for byte.

use plotters::prelude::*;

use crate::metrics::{Metrics, Sample, RESOURCES};

/// Width and height of every plot, pixels.
const SIZE: (u32, u32) = (900, 500);

/// Series colours, in order (plotters' palette 99, readable on white).
const COLOURS: [RGBColor; 4] = [
    RGBColor(0x1f, 0x77, 0xb4),
    RGBColor(0xd6, 0x27, 0x28),
    RGBColor(0x2c, 0xa0, 0x2c),
    RGBColor(0xff, 0x7f, 0x0e),
];

/// A plot that could not be drawn.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("drawing {plot}: {message}")]
pub struct PlotError {
    /// The plot's file name.
    pub plot: String,
    /// What plotters reported.
    pub message: String,
}

/// Every plot of a run: (file name, SVG text).
pub fn all(metrics: &Metrics) -> Result<Vec<(&'static str, String)>, PlotError> {
    Ok(vec![
        ("allocation.svg", allocation(&metrics.samples)?),
        ("pending.svg", pending(&metrics.samples)?),
        (
            "scheduling_latency_cdf.svg",
            latency_cdf(
                "scheduling_latency_cdf.svg",
                "Scheduling latency (creation to binding)",
                metrics.scheduling_latencies_ms(),
            )?,
        ),
        (
            "startup_latency_cdf.svg",
            latency_cdf(
                "startup_latency_cdf.svg",
                "Startup latency (creation to Running)",
                metrics.startup_latencies_ms(),
            )?,
        ),
    ])
}

/// A time axis in a unit that suits the run's length: seconds, minutes or hours.
fn time_unit(samples: &[Sample]) -> (f64, &'static str) {
    let end = samples.last().map_or(0.0, |s| s.time_s);
    if end > 4.0 * 3600.0 {
        (3600.0, "virtual time (h)")
    } else if end > 600.0 {
        (60.0, "virtual time (min)")
    } else {
        (1.0, "virtual time (s)")
    }
}

fn err(plot: &str) -> impl Fn(String) -> PlotError + '_ {
    move |message| PlotError {
        plot: plot.to_string(),
        message,
    }
}

/// Requested / allocatable per resource over time, in percent, for each resource some node
/// has.
pub fn allocation(samples: &[Sample]) -> Result<String, PlotError> {
    let (unit, label) = time_unit(samples);
    let end = samples.last().map_or(1.0, |s| s.time_s / unit).max(1e-9);
    let series: Vec<(&str, Vec<(f64, f64)>)> = RESOURCES
        .iter()
        .filter(|r| {
            samples
                .iter()
                .any(|s| s.resources.get(**r).is_some_and(|(_, a)| *a > 0.0))
        })
        .map(|r| {
            let points = samples
                .iter()
                .map(|s| {
                    let (req, alloc) = s.resources.get(*r).copied().unwrap_or((0.0, 0.0));
                    let ratio = if alloc > 0.0 { req / alloc } else { 0.0 };
                    (s.time_s / unit, 100.0 * ratio)
                })
                .collect();
            (*r, points)
        })
        .collect();
    let top = series
        .iter()
        .flat_map(|(_, p)| p.iter().map(|(_, y)| *y))
        .fold(100.0_f64, f64::max);
    lines(
        "allocation.svg",
        "Allocation: requested / allocatable of Ready nodes",
        label,
        "allocated (%)",
        (0.0..end, 0.0..top),
        &series,
    )
}

/// Pending pods, and those of them the scheduler found unschedulable, over time.
pub fn pending(samples: &[Sample]) -> Result<String, PlotError> {
    let (unit, label) = time_unit(samples);
    let end = samples.last().map_or(1.0, |s| s.time_s / unit).max(1e-9);
    let pending: Vec<(f64, f64)> = samples
        .iter()
        .map(|s| (s.time_s / unit, s.pending as f64))
        .collect();
    let unschedulable: Vec<(f64, f64)> = samples
        .iter()
        .map(|s| (s.time_s / unit, s.unschedulable as f64))
        .collect();
    let top = pending.iter().map(|p| p.1).fold(1.0_f64, f64::max) * 1.05;
    lines(
        "pending.svg",
        "Pending pods",
        label,
        "pods",
        (0.0..end, 0.0..top),
        &[("pending", pending), ("unschedulable", unschedulable)],
    )
}

/// The empirical cumulative distribution of `values_ms`: a staircase from 0 to 1, on a linear
/// millisecond axis. A step per distinct value; beyond [`CDF_POINTS`] distinct values, the
/// curve through that many evenly spaced quantiles, so a million pods make a small file.
pub fn latency_cdf(plot: &str, title: &str, mut values_ms: Vec<f64>) -> Result<String, PlotError> {
    values_ms.sort_by(f64::total_cmp);
    let n = values_ms.len();
    let max = values_ms.last().copied().unwrap_or(0.0).max(1.0);
    // (value, share of values <= it), one per distinct value.
    let mut distinct: Vec<(f64, f64)> = Vec::new();
    for (i, v) in values_ms.iter().enumerate() {
        let share = (i + 1) as f64 / n as f64;
        match distinct.last_mut() {
            Some(last) if last.0 == *v => last.1 = share,
            _ => distinct.push((*v, share)),
        }
    }
    let mut points = vec![(0.0, 0.0)];
    if distinct.len() <= CDF_POINTS {
        let mut below = 0.0;
        for (v, share) in distinct {
            points.push((v, below));
            points.push((v, share));
            below = share;
        }
    } else {
        points.extend((0..=CDF_POINTS).map(|k| {
            let q = k as f64 / CDF_POINTS as f64;
            let rank = ((q * n as f64).ceil() as usize).clamp(1, n);
            (values_ms[rank - 1], q)
        }));
    }
    let caption = format!("{title}, {n} pods");
    lines(
        plot,
        &caption,
        "milliseconds",
        "share of pods",
        (0.0..max * 1.02, 0.0..1.0),
        &[("CDF", points)],
    )
}

/// The most points a latency CDF is drawn with.
pub const CDF_POINTS: usize = 1000;

type Range = (std::ops::Range<f64>, std::ops::Range<f64>);

fn lines(
    plot: &str,
    caption: &str,
    x_label: &str,
    y_label: &str,
    (x, y): Range,
    series: &[(&str, Vec<(f64, f64)>)],
) -> Result<String, PlotError> {
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, SIZE).into_drawing_area();
        root.fill(&WHITE).map_err(|e| err(plot)(e.to_string()))?;
        let mut chart = ChartBuilder::on(&root)
            .caption(caption, ("sans-serif", 20))
            .margin(15)
            .x_label_area_size(45)
            .y_label_area_size(60)
            .build_cartesian_2d(x, y)
            .map_err(|e| err(plot)(e.to_string()))?;
        chart
            .configure_mesh()
            .x_desc(x_label)
            .y_desc(y_label)
            .light_line_style(WHITE.mix(0.0))
            .draw()
            .map_err(|e| err(plot)(e.to_string()))?;
        for (i, (name, points)) in series.iter().enumerate() {
            let colour = COLOURS[i % COLOURS.len()];
            chart
                .draw_series(LineSeries::new(
                    points.iter().copied(),
                    colour.stroke_width(2),
                ))
                .map_err(|e| err(plot)(e.to_string()))?
                .label(*name)
                .legend(move |(x, y)| {
                    PathElement::new(vec![(x, y), (x + 20, y)], colour.stroke_width(2))
                });
        }
        chart
            .configure_series_labels()
            .background_style(WHITE.mix(0.8))
            .border_style(BLACK)
            .position(SeriesLabelPosition::UpperRight)
            .draw()
            .map_err(|e| err(plot)(e.to_string()))?;
        root.present().map_err(|e| err(plot)(e.to_string()))?;
    }
    Ok(svg)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_empty_run_still_draws_every_plot() {
        let plots = all(&Metrics::default()).expect("draws");
        assert_eq!(plots.len(), 4);
        for (name, svg) in plots {
            assert!(
                svg.starts_with("<svg"),
                "{name}: {}",
                &svg[..40.min(svg.len())]
            );
        }
    }

    #[test]
    fn a_cdf_is_a_staircase_ending_at_one() {
        let svg = latency_cdf("x.svg", "x", vec![3.0, 1.0, 2.0, 2.0]).expect("draws");
        assert!(svg.contains("4 pods"));
        // A million distinct values still make a plot of bounded size.
        let many: Vec<f64> = (0..1_000_000).map(f64::from).collect();
        let big = latency_cdf("x.svg", "x", many).expect("draws");
        assert!(big.len() < 100_000, "{} bytes", big.len());
    }
}
