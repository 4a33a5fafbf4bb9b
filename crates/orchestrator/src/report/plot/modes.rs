//! `modes.png` of a sweep: the average gaps, the added delay and the data-gap
//! distribution of every server mode side by side.

use plotters::coord::Shift;
use plotters::prelude::*;

use super::{
    FONT, GRID, PALETTE, PlotError, SIZE, axis_decimals, caption_style, legend, mode_label,
    plot_ms, title_style, value_bars,
};
use crate::dataset::Dataset;

/// The mean over runs of a per-run mean (runs without one are left out).
fn mean_of_means(runs: &[&Dataset], each: impl Fn(&Dataset) -> Option<f64>) -> Option<f64> {
    let v: Vec<f64> = runs.iter().filter_map(|d| each(d)).collect();
    arrivals::stats::mean(&v)
}

/// `modes.png` of a sweep: both averages per mode (left) and the data-gap distribution of
/// each mode against the configured mixture (right). `sets` holds the runs of each mode, in
/// sweep order; with repeats the runs of a mode are pooled.
pub fn draw_modes<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    sets: &[Vec<&Dataset>],
) -> Result<(), PlotError> {
    let Some(first) = sets.first().and_then(|s| s.first()) else {
        return Ok(());
    };
    let repeats = sets.iter().map(Vec::len).max().unwrap_or(1);
    let title = if repeats > 1 {
        format!(
            "{}: one workload against {} server modes ({repeats} runs each, pooled)",
            first.scenario.title(),
            sets.len()
        )
    } else {
        format!(
            "{}: one workload against {} server modes",
            first.scenario.title(),
            sets.len()
        )
    };
    let area = root.titled(&title, title_style())?;
    let (left, right) = area.split_horizontally(SIZE.0 * 9 / 20);
    let (upper_left, lower_left) = left.split_vertically(SIZE.1 * 11 / 20);
    draw_averages(&upper_left, sets, repeats)?;
    draw_added(&lower_left, sets)?;
    draw_data_gap_cdfs(&right, sets, first)
}

/// The modes' names, in sweep order (the x axis of the left panels).
fn mode_names(sets: &[Vec<&Dataset>]) -> Vec<String> {
    sets.iter()
        .filter_map(|runs| Some(runs.first()?.mode.name().to_owned()))
        .collect()
}

/// Upper left: average connection gap and average data gap per mode, log scale.
fn draw_averages<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    sets: &[Vec<&Dataset>],
    repeats: usize,
) -> Result<(), PlotError> {
    let averages: Vec<(String, Option<f64>, Option<f64>)> = sets
        .iter()
        .filter_map(|runs| {
            let mode = runs.first()?.mode;
            Some((
                mode.name().to_owned(),
                mean_of_means(runs, |d| arrivals::stats::mean(&d.connection_gaps(None))),
                mean_of_means(runs, |d| arrivals::stats::mean(&d.data_gaps(None))),
            ))
        })
        .collect();
    let values: Vec<f64> = averages
        .iter()
        .flat_map(|a| [a.1, a.2])
        .flatten()
        .filter(|v| *v > 0.0)
        .collect();
    // No values (one connection: no gap to average): any finite decade will do.
    let lo = match values.iter().copied().reduce(f64::min) {
        Some(min) => (min / 4.0).max(1e-3),
        None => 1.0,
    };
    let hi = (values.iter().copied().fold(0.0, f64::max) * 12.0).max(lo * 10.0);
    let m = sets.len() as f64;
    let mut chart = ChartBuilder::on(area)
        .caption(
            if repeats > 1 {
                "average gaps per mode (mean over runs)"
            } else {
                "average gaps per mode"
            },
            caption_style(),
        )
        .margin(12)
        .x_label_area_size(50)
        .y_label_area_size(80)
        .build_cartesian_2d(-0.5..m - 0.5, (lo..hi).log_scale())?;
    let names = mode_names(sets);
    let x_fmt = |x: &f64| mode_label(&names, *x);
    chart
        .configure_mesh()
        .x_desc("server mode")
        .y_desc("average gap (ms, log scale)")
        .axis_desc_style((FONT, 16))
        .label_style((FONT, 14))
        .x_labels(sets.len() + 2)
        .x_label_formatter(&x_fmt)
        .y_label_formatter(&|y| plot_ms(*y))
        .disable_x_mesh()
        .light_line_style(WHITE)
        .bold_line_style(GRID)
        .draw()?;
    let kinds = [
        ("average connection gap", PALETTE[0], -0.36, 0usize),
        ("average data gap", PALETTE[1], 0.0, 1usize),
    ];
    for (label, color, offset, which) in kinds {
        let bars: Vec<(f64, f64)> = averages
            .iter()
            .enumerate()
            .filter_map(|(i, a)| {
                let v = if which == 0 { a.1 } else { a.2 };
                Some((i as f64 + offset, v?.max(lo)))
            })
            .collect();
        value_bars(&mut chart, &bars, lo, label, color, |x, v| {
            (x + 0.02, v * 1.6)
        })?;
    }
    legend(&mut chart, SeriesLabelPosition::UpperRight)?;
    Ok(())
}

/// Lower left: what the server added to each interval the client drew.
fn draw_added<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    sets: &[Vec<&Dataset>],
) -> Result<(), PlotError> {
    let added: Vec<Vec<f64>> = sets
        .iter()
        .map(|runs| {
            runs.iter()
                .flat_map(|d| {
                    d.messages
                        .iter()
                        .filter_map(|msg| Some(msg.gap_ms - msg.interval_ms?))
                })
                .collect()
        })
        .collect();
    let a_lo = added.iter().flatten().copied().fold(0.0, f64::min);
    let a_hi = added.iter().flatten().copied().fold(0.0, f64::max);
    let pad = ((a_hi - a_lo) * 0.08).max(0.01);
    let m = sets.len() as f64;
    let names = mode_names(sets);
    let x_fmt = |x: &f64| mode_label(&names, *x);
    let mut chart = ChartBuilder::on(area)
        .caption(
            "data gap − interval the client drew (bar: median)",
            caption_style(),
        )
        .margin(12)
        .x_label_area_size(45)
        .y_label_area_size(80)
        .build_cartesian_2d(-0.5..m - 0.5, (a_lo - pad)..(a_hi + pad))?;
    chart
        .configure_mesh()
        .x_desc("server mode")
        .y_desc("difference (ms)")
        .axis_desc_style((FONT, 16))
        .label_style((FONT, 14))
        .x_labels(sets.len() + 2)
        .x_label_formatter(&x_fmt)
        .y_labels(6)
        .disable_x_mesh()
        .light_line_style(WHITE)
        .bold_line_style(GRID)
        .draw()?;
    for (i, diffs) in added.iter().enumerate() {
        let color = PALETTE[i % PALETTE.len()];
        // A fixed, even spread across the column so equal values stay visible.
        let n = diffs.len().max(1) as f64;
        chart.draw_series(diffs.iter().enumerate().map(|(j, &v)| {
            let x = i as f64 - 0.3 + 0.6 * (j as f64 + 0.5) / n;
            Circle::new((x, v), 2, color.mix(0.7).filled())
        }))?;
        let mut sorted = diffs.clone();
        sorted.sort_by(f64::total_cmp);
        if !sorted.is_empty() {
            let median = arrivals::stats::quantile_sorted(&sorted, 0.5);
            chart.draw_series(LineSeries::new(
                [(i as f64 - 0.35, median), (i as f64 + 0.35, median)],
                BLACK.stroke_width(2),
            ))?;
        }
    }
    Ok(())
}

/// Right: empirical CDF of the data gaps per mode, and the configured mixture.
fn draw_data_gap_cdfs<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    sets: &[Vec<&Dataset>],
    first: &Dataset,
) -> Result<(), PlotError> {
    let all_max = sets
        .iter()
        .flatten()
        .flat_map(|d| d.data_gaps(None))
        .fold(0.0, f64::max);
    let total: f64 = first
        .scenario
        .clients
        .iter()
        .map(|g| g.messages() as f64)
        .sum();
    let mixture = |x: f64| -> f64 {
        first
            .scenario
            .clients
            .iter()
            .map(|g| g.messages() as f64 / total.max(1.0) * g.dist.cdf_ms(x))
            .sum()
    };
    let theory_hi = first
        .scenario
        .clients
        .iter()
        .map(|g| g.dist.quantile_ms(0.995))
        .fold(0.0, f64::max);
    let x_hi = all_max.max(theory_hi).max(1e-3) * 1.05;
    let mut chart = ChartBuilder::on(area)
        .caption("data gaps: fraction at most x, per mode", caption_style())
        .margin(12)
        .x_label_area_size(50)
        .y_label_area_size(60)
        .build_cartesian_2d(0.0..x_hi, 0.0..1.02)?;
    chart
        .configure_mesh()
        .x_desc("data gap (ms)")
        .y_desc("fraction of data gaps ≤ x")
        .x_label_formatter(&|x| format!("{x:.*}", axis_decimals(x_hi)))
        .axis_desc_style((FONT, 16))
        .label_style((FONT, 14))
        .light_line_style(WHITE)
        .bold_line_style(GRID)
        .draw()?;
    // Nested widths: where the modes agree, each curve still shows around the next.
    let widths = [10u32, 7, 4, 2];
    for (i, runs) in sets.iter().enumerate() {
        let Some(d) = runs.first() else { continue };
        let color = PALETTE[i % PALETTE.len()];
        let width = widths.get(i).copied().unwrap_or(1);
        let mut gaps: Vec<f64> = runs.iter().flat_map(|d| d.data_gaps(None)).collect();
        gaps.sort_by(f64::total_cmp);
        let n = gaps.len() as f64;
        let mut steps = vec![(0.0, 0.0)];
        for (j, &g) in gaps.iter().enumerate() {
            steps.push((g, j as f64 / n));
            steps.push((g, (j + 1) as f64 / n));
        }
        steps.push((x_hi, if gaps.is_empty() { 0.0 } else { 1.0 }));
        chart
            .draw_series(LineSeries::new(steps, color.stroke_width(width)))?
            .label(format!("{} ({} gaps)", d.mode.name(), gaps.len()))
            .legend(move |(x, y)| {
                PathElement::new(vec![(x, y), (x + 18, y)], color.stroke_width(width.min(6)))
            });
    }
    let curve: Vec<(f64, f64)> = (0..=600)
        .map(|i| {
            let x = x_hi * f64::from(i) / 600.0;
            (x, mixture(x))
        })
        .collect();
    chart
        .draw_series(DashedLineSeries::new(curve, 8, 5, BLACK.stroke_width(2)))?
        .label("configured (mixture of the groups)")
        .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 18, y)], BLACK.stroke_width(2)));
    legend(&mut chart, SeriesLabelPosition::LowerRight)?;
    Ok(())
}
