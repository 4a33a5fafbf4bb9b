//! `delay.png`: the ECDF of the server delay — the instant the server read a message minus
//! the instant the kernel had its bytes — on a log axis, so modes that agree on average
//! gaps still show microseconds apart. Per run (one curve per client group), per mode sweep
//! (one curve per mode) and per load sweep (one panel per mode, one curve per step).

use arrivals::Mode;
use plotters::coord::Shift;
use plotters::prelude::*;

use super::{
    FONT, GRID, PALETTE, PlotError, caption_style, fmt_log_tick, group_color, legend, plot_ms,
    title_style,
};
use crate::dataset::Dataset;

/// One ECDF curve: its legend name, colour and values (unsorted).
pub(crate) struct Curve {
    pub name: String,
    pub color: RGBColor,
    pub values: Vec<f64>,
}

/// The colour of a server mode, the same in every figure.
pub(crate) fn mode_color(mode: Mode) -> RGBColor {
    let i = Mode::ALL.iter().position(|m| *m == mode).unwrap_or(0);
    PALETTE[i % PALETTE.len()]
}

/// Smallest delay the log axis shows (ms): 1 µs; smaller values sit on its left edge.
const FLOOR_MS: f64 = 1e-3;

/// `delay.png` of one run: the server delay of each client group, and of all pooled when
/// there are several.
pub fn draw_delay<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    d: &Dataset,
) -> Result<(), PlotError> {
    let mut curves = Vec::new();
    if d.scenario.clients.len() > 1 {
        curves.push(Curve {
            name: "all groups".into(),
            color: RGBColor(60, 60, 60),
            values: d.server_delays(None),
        });
    }
    for (g, group) in d.scenario.clients.iter().enumerate() {
        curves.push(Curve {
            name: format!("`{}`", group.label),
            color: group_color(Some(g)),
            values: d.server_delays(Some(g)),
        });
    }
    let title = format!(
        "{} — {} server: how long each message waited in the socket before it was read",
        d.scenario.title(),
        d.mode.name()
    );
    let area = root.titled(&title, title_style())?;
    draw_panel(&area, None, &curves)
}

/// `delay.png` of a mode sweep (or one step of a load sweep): one curve per mode, its runs
/// pooled.
pub fn draw_delay_modes<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    sets: &[Vec<&Dataset>],
) -> Result<(), PlotError> {
    let Some(first) = sets.first().and_then(|s| s.first()) else {
        return Ok(());
    };
    let curves: Vec<Curve> = sets
        .iter()
        .filter_map(|runs| {
            let mode = runs.first()?.mode;
            Some(Curve {
                name: mode.name().to_owned(),
                color: mode_color(mode),
                values: runs.iter().flat_map(|d| d.server_delays(None)).collect(),
            })
        })
        .collect();
    let title = format!(
        "{}: how long messages waited in the socket before each server mode read them",
        first.scenario.title()
    );
    let area = root.titled(&title, title_style())?;
    draw_panel(&area, None, &curves)
}

/// One panel of ECDFs on a log x axis (ms), with p50/p99/max in the legend. Curves without
/// values are listed as such. `caption` titles the panel.
pub(crate) fn draw_panel<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    caption: Option<&str>,
    curves: &[Curve],
) -> Result<(), PlotError> {
    let all: Vec<f64> = curves
        .iter()
        .flat_map(|c| c.values.iter().copied())
        .collect();
    if all.is_empty() {
        area.draw(&Text::new(
            "no kernel receive timestamps in this run: the server delay is not known",
            (40, 60),
            (FONT, 20).into_font().color(&BLACK),
        ))?;
        return Ok(());
    }
    let max = all.iter().copied().fold(FLOOR_MS, f64::max);
    let min = all
        .iter()
        .copied()
        .filter(|v| *v > 0.0)
        .reduce(f64::min)
        .unwrap_or(FLOOR_MS)
        .max(FLOOR_MS);
    let (lo, hi) = (min / 1.5, (max * 1.5).max(min * 10.0));
    let mut builder = ChartBuilder::on(area);
    if let Some(c) = caption {
        builder.caption(c, caption_style());
    }
    let mut chart = builder
        .margin(14)
        .x_label_area_size(50)
        .y_label_area_size(65)
        .build_cartesian_2d((lo..hi).log_scale(), 0.0..1.02)?;
    chart
        .configure_mesh()
        .x_desc("server delay: read instant − kernel arrival (ms, log scale)")
        .y_desc("fraction of messages ≤ x")
        .axis_desc_style((FONT, 15))
        .label_style((FONT, 13))
        .x_label_formatter(&|x| fmt_log_tick(*x))
        .y_labels(6)
        .y_label_formatter(&|y| format!("{y:.1}"))
        .light_line_style(WHITE)
        .bold_line_style(GRID)
        .draw()?;
    for c in curves {
        let label = match arrivals::Summary::of(&c.values) {
            Some(s) => format!(
                "{}: p50 {} · p99 {} · max {} ms (n = {})",
                c.name,
                plot_ms(s.median),
                plot_ms(s.p99),
                plot_ms(s.max),
                s.count
            ),
            None => format!("{}: no kernel timestamps", c.name),
        };
        let color = c.color;
        chart
            .draw_series(LineSeries::new(
                steps(&c.values, lo, hi),
                color.stroke_width(3),
            ))?
            .label(label)
            .legend(move |(x, y)| PathElement::new([(x, y), (x + 20, y)], color.stroke_width(3)));
    }
    legend(&mut chart, SeriesLabelPosition::LowerRight)?;
    Ok(())
}

/// The ECDF of `values` as a step line on `[lo, hi]`, values below `lo` at `lo`.
fn steps(values: &[f64], lo: f64, hi: f64) -> Vec<(f64, f64)> {
    let sorted = arrivals::gof::sorted(values);
    let mut out = vec![(lo, 0.0)];
    let mut level = 0.0;
    for (x, f) in arrivals::gof::ecdf_points_sorted(&sorted, 2000) {
        let x = x.max(lo);
        out.push((x, level));
        out.push((x, f));
        level = f;
    }
    out.push((hi, level));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn steps_start_at_zero_end_at_one_and_clamp_to_the_axis() {
        let s = steps(&[0.0, 0.5, 2.0, 1.0], 0.01, 10.0);
        assert_eq!(s.first(), Some(&(0.01, 0.0)));
        assert_eq!(s.last(), Some(&(10.0, 1.0)));
        assert!(s.iter().all(|(x, _)| *x >= 0.01));
        assert!(s.windows(2).all(|w| w[1].1 >= w[0].1), "non-decreasing");
    }
}
