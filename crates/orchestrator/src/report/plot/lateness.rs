//! `lateness.png`: the clients' send lateness next to what the network and server added.

use plotters::coord::Shift;
use plotters::prelude::*;

use super::{
    FONT, GRID, PlotError, SIZE, caption_style, fmt_log_tick, group_color, legend, plot_ms,
    title_style,
};
use crate::dataset::Dataset;

/// Fractions of `values` in the log-spaced bins between consecutive `edges` (values below
/// the first edge count in the first bin, above the last in the last).
fn log_bins(values: &[f64], edges: &[f64]) -> Vec<f64> {
    let bins = edges.len().saturating_sub(1);
    let mut counts = vec![0usize; bins];
    if bins == 0 || values.is_empty() {
        return vec![0.0; bins];
    }
    for &v in values {
        let b = edges[1..].partition_point(|&e| e <= v).min(bins - 1);
        counts[b] += 1;
    }
    counts
        .into_iter()
        .map(|c| c as f64 / values.len() as f64)
        .collect()
}

/// `lateness.png`: per client group, a histogram of how late each send left (left) next to
/// how much the data gap the server measured differs from the client's send gap (right), on
/// the same logarithmic axis: client jitter against what the network and server added.
pub fn draw_lateness<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    d: &Dataset,
) -> Result<(), PlotError> {
    let title = format!(
        "{} — {}: client send jitter vs what the network and server added",
        d.scenario.title(),
        d.mode.server_name()
    );
    let area = root.titled(&title, title_style())?;
    let groups = d.scenario.clients.len();
    let lateness: Vec<Vec<f64>> = (0..groups).map(|g| d.lateness(Some(g))).collect();
    let added: Vec<Vec<f64>> = (0..groups)
        .map(|g| d.added_ms(Some(g)).into_iter().map(f64::abs).collect())
        .collect();
    const FLOOR: f64 = 1e-3;
    let all = || lateness.iter().chain(&added).flatten().copied();
    let lo = all()
        .filter(|v| *v > 0.0)
        .fold(f64::INFINITY, f64::min)
        .clamp(FLOOR, 1.0);
    let hi = all().fold(0.0, f64::max).max(lo * 10.0);
    let (lo, hi) = (lo / 1.3, hi * 1.3);
    let bins = 36;
    let edges: Vec<f64> = (0..=bins)
        .map(|i| lo * (hi / lo).powf(f64::from(i) / f64::from(bins)))
        .collect();
    let hists: Vec<(Vec<f64>, Vec<f64>)> = lateness
        .iter()
        .zip(&added)
        .map(|(l, a)| {
            let clamp = |v: &Vec<f64>| v.iter().map(|x| x.max(lo)).collect::<Vec<f64>>();
            (log_bins(&clamp(l), &edges), log_bins(&clamp(a), &edges))
        })
        .collect();
    let y_max = hists
        .iter()
        .flat_map(|(a, b)| a.iter().chain(b))
        .copied()
        .fold(0.0, f64::max)
        .max(0.01)
        * (1.25 + 0.12 * groups as f64);
    let (left, right) = area.split_horizontally(SIZE.0 / 2);
    let panels = [
        (
            left,
            "send lateness: actual − scheduled send (client)",
            "lateness (ms, log scale)",
            &lateness,
            0usize,
        ),
        (
            right,
            "|data gap − send gap|: added by network and server",
            "|server data gap − client send gap| (ms, log scale)",
            &added,
            1usize,
        ),
    ];
    let axes = Axes {
        lo,
        hi,
        y_max,
        edges: &edges,
    };
    for (panel, caption, x_desc, values, which) in panels {
        let fractions: Vec<&Vec<f64>> = hists
            .iter()
            .map(|h| if which == 0 { &h.0 } else { &h.1 })
            .collect();
        draw_panel(&panel, (caption, x_desc), d, values, &fractions, &axes)?;
    }
    Ok(())
}

/// The log x axis and the y range both panels share, and the histogram's bin edges.
struct Axes<'a> {
    lo: f64,
    hi: f64,
    y_max: f64,
    edges: &'a [f64],
}

/// One panel: per group, the histogram of `values` (as `fractions` per bin) and its
/// quantiles in the legend.
fn draw_panel<DB: DrawingBackend>(
    panel: &DrawingArea<DB, Shift>,
    (caption, x_desc): (&str, &str),
    d: &Dataset,
    values: &[Vec<f64>],
    fractions: &[&Vec<f64>],
    axes: &Axes<'_>,
) -> Result<(), PlotError> {
    let Axes {
        lo,
        hi,
        y_max,
        edges,
    } = *axes;
    let mut chart = ChartBuilder::on(panel)
        .caption(caption, caption_style())
        .margin(12)
        .x_label_area_size(50)
        .y_label_area_size(65)
        .build_cartesian_2d((lo..hi).log_scale(), 0.0..y_max)?;
    chart
        .configure_mesh()
        .x_desc(x_desc)
        .y_desc("fraction of messages")
        .axis_desc_style((FONT, 15))
        .label_style((FONT, 13))
        .x_label_formatter(&|x| fmt_log_tick(*x))
        .y_labels(6)
        .y_label_formatter(&|y| format!("{y:.2}"))
        .light_line_style(WHITE)
        .bold_line_style(GRID)
        .draw()?;
    for (g, group) in d.scenario.clients.iter().enumerate() {
        let color = group_color(Some(g));
        let fractions = fractions[g];
        let mut outline = vec![(edges[0], 0.0)];
        for (i, f) in fractions.iter().enumerate() {
            outline.push((edges[i], *f));
            outline.push((edges[i + 1], *f));
        }
        outline.push((edges[edges.len() - 1], 0.0));
        chart.draw_series(std::iter::once(Polygon::new(
            outline.clone(),
            color.mix(0.12).filled(),
        )))?;
        let label = match arrivals::Summary::of(&values[g]) {
            Some(s) => format!(
                "{}: p50 {} · p99 {} · max {} ms",
                group.label,
                plot_ms(s.median),
                plot_ms(s.p99),
                plot_ms(s.max)
            ),
            None => format!("{}: no messages", group.label),
        };
        chart
            .draw_series(LineSeries::new(outline, color.stroke_width(2)))?
            .label(label)
            .legend(move |(x, y)| {
                Rectangle::new([(x, y - 6), (x + 18, y + 6)], color.mix(0.5).filled())
            });
    }
    legend(&mut chart, SeriesLabelPosition::UpperRight)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn log_bins_count_every_value_once() {
        let edges = [0.01, 0.1, 1.0, 10.0];
        let f = log_bins(&[0.001, 0.05, 0.5, 0.5, 20.0], &edges);
        assert_eq!(f, [0.4, 0.4, 0.2]);
        assert!((f.iter().sum::<f64>() - 1.0).abs() < 1e-12);
    }
}
