//! `data-gaps.png`: each client group's data gaps as a density histogram against the
//! configured distribution.

use arrivals::Distribution;
use plotters::coord::Shift;
use plotters::coord::types::RangedCoordf64;
use plotters::prelude::*;

use super::{
    FONT, GRID, PlotError, axis_decimals, caption_style, gap_range, group_color, legend, plot_ms,
    title_style,
};
use crate::dataset::Dataset;
use crate::scenario::ClientGroup;

/// A histogram's bins over `[lo, hi]` as `(left, right, density per ms)`.
fn density_bins(values: &[f64], lo: f64, hi: f64) -> Vec<(f64, f64, f64)> {
    let n = values.len();
    if n == 0 || hi <= lo {
        return Vec::new();
    }
    let bins = ((2.0 * (n as f64).sqrt()).ceil() as usize).clamp(8, 40);
    let width = (hi - lo) / bins as f64;
    let mut counts = vec![0usize; bins];
    for &v in values {
        let b = ((v - lo) / width).floor();
        if b >= 0.0 {
            let b = (b as usize).min(bins - 1);
            counts[b] += 1;
        }
    }
    counts
        .into_iter()
        .enumerate()
        .map(|(i, c)| {
            let left = lo + i as f64 * width;
            (left, left + width, c as f64 / (n as f64 * width))
        })
        .collect()
}

/// `data-gaps.png`: per client group, the observed data gaps as a density histogram with
/// the configured distribution overlaid (a density curve, or a line at T if fixed).
pub fn draw_data_gaps<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    d: &Dataset,
) -> Result<(), PlotError> {
    let title = format!(
        "{} — {}: data gaps per client group, observed vs configured",
        d.scenario.title(),
        d.mode.server_name()
    );
    let area = root.titled(&title, title_style())?;
    let k = d.scenario.clients.len().max(1);
    let (rows, cols) = match k {
        1 | 2 => (1, k),
        3 | 4 => (2, 2),
        _ => (k.div_ceil(3), 3),
    };
    let panels = area.split_evenly((rows, cols));
    for (g, (group, panel)) in d.scenario.clients.iter().zip(panels.iter()).enumerate() {
        draw_group(panel, d, g, group)?;
    }
    Ok(())
}

/// One client group's panel: its data gaps as a density histogram, the configured
/// distribution over them.
fn draw_group<DB: DrawingBackend>(
    panel: &DrawingArea<DB, Shift>,
    d: &Dataset,
    g: usize,
    group: &ClientGroup,
) -> Result<(), PlotError> {
    let gaps = d.data_gaps(Some(g));
    let color = group_color(Some(g));
    let caption = format!(
        "{}: {} gaps ({} workers × {} intervals)",
        group.label,
        gaps.len(),
        group.workers,
        group.intervals
    );
    let (lo, bins_hi) = gap_range(&group.dist, &gaps);
    let bins = density_bins(&gaps, lo, bins_hi);
    let hi = bins_hi + 0.04 * (bins_hi - lo);
    let curve = density_curve(&group.dist, lo, hi);
    let y_max = bins
        .iter()
        .map(|b| b.2)
        .chain(curve.iter().map(|p| p.1))
        .fold(0.0, f64::max)
        .max(1e-9);
    // Head room above the tallest bar keeps the legend clear of the data.
    let top = y_max;
    let y_max = top * 1.5;
    // Enough decimals for two significant digits of the largest density.
    let decimals = (1.0 - y_max.log10().floor()).clamp(0.0, 9.0) as usize;
    let mut chart = ChartBuilder::on(panel)
        .caption(caption, caption_style())
        .margin(12)
        .x_label_area_size(50)
        .y_label_area_size(75)
        .build_cartesian_2d(lo..hi, 0.0..y_max)?;
    chart
        .configure_mesh()
        .x_desc("data gap (ms)")
        .y_desc("density (1/ms)")
        .axis_desc_style((FONT, 16))
        .label_style((FONT, 13))
        .x_labels(6)
        .x_label_formatter(&|x| format!("{x:.*}", axis_decimals(hi - lo)))
        .y_labels(6)
        .y_label_formatter(&|y| format!("{y:.*}", decimals))
        .light_line_style(WHITE)
        .bold_line_style(GRID)
        .draw()?;
    let observed = match arrivals::stats::mean(&gaps) {
        Some(m) => format!("observed (mean {} ms)", plot_ms(m)),
        None => "observed: no data gaps".to_owned(),
    };
    chart
        .draw_series(
            bins.iter()
                .map(|&(l, r, h)| Rectangle::new([(l, 0.0), (r, h)], color.mix(0.55).filled())),
        )?
        .label(observed)
        .legend(move |(x, y)| {
            Rectangle::new([(x, y - 6), (x + 18, y + 6)], color.mix(0.55).filled())
        });
    chart.draw_series(
        bins.iter()
            .filter(|b| b.2 > 0.0)
            .map(|&(l, r, h)| Rectangle::new([(l, 0.0), (r, h)], color.stroke_width(1))),
    )?;
    draw_configured(&mut chart, &group.dist, curve, top)?;
    legend(&mut chart, SeriesLabelPosition::UpperRight)?;
    Ok(())
}

/// The configured density from `lo` to `hi` (none for a fixed interval).
fn density_curve(dist: &Distribution, lo: f64, hi: f64) -> Vec<(f64, f64)> {
    if dist.is_continuous() {
        (0..=400)
            .map(|i| {
                let x = lo + (hi - lo) * f64::from(i) / 400.0;
                (x, dist.pdf_ms(x).unwrap_or(0.0))
            })
            .collect()
    } else {
        Vec::new()
    }
}

/// The configured distribution: its density curve, or a line at T up to `top` if fixed.
fn draw_configured<DB: DrawingBackend>(
    chart: &mut ChartContext<'_, DB, Cartesian2d<RangedCoordf64, RangedCoordf64>>,
    dist: &Distribution,
    curve: Vec<(f64, f64)>,
    top: f64,
) -> Result<(), PlotError> {
    let configured = match dist.mean_ms() {
        Some(m) if dist.is_continuous() && !dist.describe().contains("mean") => {
            format!("configured: {} (mean {} ms)", dist.describe(), plot_ms(m))
        }
        _ => format!("configured: {}", dist.describe()),
    };
    let theory_style = BLACK.stroke_width(2);
    if dist.is_continuous() {
        chart
            .draw_series(LineSeries::new(curve, theory_style))?
            .label(configured)
            .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 18, y)], BLACK.stroke_width(2)));
    } else {
        let t = dist.param() * 1e3;
        chart
            .draw_series(LineSeries::new([(t, 0.0), (t, top * 1.1)], theory_style))?
            .label(configured)
            .legend(|(x, y)| {
                PathElement::new(vec![(x + 9, y - 7), (x + 9, y + 7)], BLACK.stroke_width(2))
            });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn density_bins_integrate_to_one() {
        let v: Vec<f64> = (0..100).map(f64::from).collect();
        let bins = density_bins(&v, 0.0, 100.0);
        let area: f64 = bins.iter().map(|(l, r, h)| (r - l) * h).sum();
        assert!((area - 1.0).abs() < 1e-9, "{area}");
        assert!(density_bins(&[], 0.0, 1.0).is_empty());
    }
}
