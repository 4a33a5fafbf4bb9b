//! `connection-gaps.png`: the gap before each accept, against the lifetime of the
//! connection before it and the clients' connection process.

use plotters::coord::Shift;
use plotters::prelude::*;

use arrivals::Distribution;
use plotters::coord::types::RangedCoordf64;

use super::{FONT, GRID, PlotError, caption_style, group_color, legend, plot_ms, title_style};
use crate::dataset::Dataset;

/// `connection-gaps.png`: the gap before each accepted connection, in accept order, on a
/// log scale, coloured by the client group that opened the connection.
pub fn draw_connection_gaps<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    d: &Dataset,
) -> Result<(), PlotError> {
    let title = format!(
        "{} — {}: connection gaps (time since the previous accept)",
        d.scenario.title(),
        d.mode.server_name()
    );
    let area = root.titled(&title, title_style())?;
    let points: Vec<(f64, f64, Option<usize>)> = d
        .connections
        .iter()
        .enumerate()
        .filter_map(|(i, c)| Some(((i + 1) as f64, c.gap_ms?, c.group)))
        .collect();
    if points.is_empty() {
        area.draw_text(
            "fewer than two connections: no connection gaps",
            &caption_style(),
            (40, 40),
        )?;
        return Ok(());
    }
    // What each gap compares with: how long the connection before it stayed open.
    let previous: Vec<(f64, f64)> = d
        .connections
        .windows(2)
        .enumerate()
        .filter(|(_, w)| w[1].gap_ms.is_some())
        .map(|(i, w)| ((i + 2) as f64, w[0].lifetime_ms(d.end_ms).max(1e-3)))
        .collect();
    let all = || {
        points
            .iter()
            .map(|p| p.1)
            .chain(previous.iter().map(|p| p.1))
    };
    let process = connection_process(d);
    let band = process.iter().flat_map(|p| [p.1, p.3]);
    let min = all().chain(band.clone()).fold(f64::INFINITY, f64::min);
    let max = all().chain(band).fold(0.0, f64::max);
    let lo = (min / 3.0).max(1e-3);
    // Head room above the highest mark for the legend.
    let hi = (max * 60.0).max(lo * 10.0);
    let n = d.connections.len() as f64;
    let mut chart = ChartBuilder::on(&area)
        .margin(15)
        .x_label_area_size(55)
        .y_label_area_size(85)
        .build_cartesian_2d(0.5..n + 0.5, (lo..hi).log_scale())?;
    let x_fmt = |x: &f64| {
        let r = x.round();
        if (x - r).abs() < 1e-6 && r >= 1.0 {
            format!("#{r:.0}")
        } else {
            String::new()
        }
    };
    chart
        .configure_mesh()
        .x_desc("connection (accept order)")
        .y_desc("gap before the accept (ms, log scale)")
        .axis_desc_style((FONT, 18))
        .label_style((FONT, 14))
        .x_labels((d.connections.len() + 2).min(30))
        .x_label_formatter(&x_fmt)
        .y_label_formatter(&|y| plot_ms(*y))
        .disable_x_mesh()
        .light_line_style(WHITE)
        .bold_line_style(GRID)
        .draw()?;
    if let Some(p) = process {
        draw_process(&mut chart, p, n)?;
    }
    draw_group_gaps(&mut chart, d, &points, lo)?;
    draw_previous_and_mean(&mut chart, d, &previous, n)?;
    legend(&mut chart, SeriesLabelPosition::UpperLeft)?;
    Ok(())
}

/// The chart of this figure: accept order against a log scale of ms.
type Chart<'a, DB> = ChartContext<'a, DB, Cartesian2d<RangedCoordf64, LogCoord<f64>>>;

/// A single group's connection process, if it has one: the distribution, and its 5 %,
/// median and 95 % gaps.
fn connection_process(d: &Dataset) -> Option<(Distribution, f64, f64, f64)> {
    match d.scenario.clients.as_slice() {
        [only] => only.connect.map(|c| {
            (
                c,
                c.quantile_ms(0.05).max(1e-3),
                c.quantile_ms(0.5).max(1e-3),
                c.quantile_ms(0.95).max(1e-3),
            )
        }),
        _ => None,
    }
}

/// The connection process's 5–95 % band and median across the chart.
fn draw_process<DB: DrawingBackend>(
    chart: &mut Chart<'_, DB>,
    (c, q05, q50, q95): (Distribution, f64, f64, f64),
    n: f64,
) -> Result<(), PlotError> {
    let shade = RGBColor(120, 120, 120);
    chart
        .draw_series(std::iter::once(Rectangle::new(
            [(0.5, q05), (n + 0.5, q95)],
            shade.mix(0.15).filled(),
        )))?
        .label(format!(
            "clients' connection process: {}; 5–95 % band",
            c.describe()
        ))
        .legend(move |(x, y)| {
            Rectangle::new([(x, y - 6), (x + 18, y + 6)], shade.mix(0.3).filled())
        });
    chart
        .draw_series(DashedLineSeries::new(
            [(0.5, q50), (n + 0.5, q50)],
            4,
            4,
            shade.stroke_width(2),
        ))?
        .label(format!("its median gap, {} ms", plot_ms(q50)))
        .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 18, y)], shade.stroke_width(2)));
    Ok(())
}

/// A stem and a labelled dot per gap, in the colour of the group that opened the connection.
fn draw_group_gaps<DB: DrawingBackend>(
    chart: &mut Chart<'_, DB>,
    d: &Dataset,
    points: &[(f64, f64, Option<usize>)],
    lo: f64,
) -> Result<(), PlotError> {
    let groups = d.scenario.clients.len();
    let mut keys: Vec<Option<usize>> = (0..groups).map(Some).collect();
    if points.iter().any(|p| p.2.is_none()) {
        keys.push(None);
    }
    for g in keys {
        let color = group_color(g);
        let mine: Vec<(f64, f64)> = points
            .iter()
            .filter(|p| p.2 == g)
            .map(|p| (p.0, p.1))
            .collect();
        for &(x, y) in &mine {
            chart.draw_series(LineSeries::new([(x, lo), (x, y)], color.stroke_width(3)))?;
        }
        chart
            .draw_series(
                mine.iter()
                    .map(|&(x, y)| Circle::new((x, y), 6, color.filled())),
            )?
            .label(format!("gap before a `{}` connection", d.label(g)))
            .legend(move |(x, y)| Circle::new((x + 9, y), 6, color.filled()));
        chart.draw_series(mine.iter().map(|&(x, y)| {
            Text::new(
                plot_ms(y),
                (x + 0.04, y),
                (FONT, 14).into_font().color(&BLACK),
            )
        }))?;
    }
    Ok(())
}

/// The lifetime of the connection before each gap, and the mean gap the server prints.
fn draw_previous_and_mean<DB: DrawingBackend>(
    chart: &mut Chart<'_, DB>,
    d: &Dataset,
    previous: &[(f64, f64)],
    n: f64,
) -> Result<(), PlotError> {
    chart
        .draw_series(
            previous
                .iter()
                .map(|&(x, y)| Cross::new((x, y), 7, BLACK.stroke_width(2))),
        )?
        .label("lifetime of the connection before it")
        .legend(|(x, y)| Cross::new((x + 9, y), 6, BLACK.stroke_width(2)));
    if let Some(mean) = arrivals::stats::mean(&d.connection_gaps(None)) {
        chart
            .draw_series(DashedLineSeries::new(
                [(0.5, mean), (n + 0.5, mean)],
                10,
                6,
                BLACK.stroke_width(2),
            ))?
            .label(format!(
                "mean {} ms (what the server prints)",
                plot_ms(mean)
            ))
            .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 18, y)], BLACK.stroke_width(2)));
    }
    Ok(())
}
