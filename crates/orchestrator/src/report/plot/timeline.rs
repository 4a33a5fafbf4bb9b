//! `timeline.png`: when each connection was open and when each message arrived.

use plotters::coord::Shift;
use plotters::coord::types::RangedCoordf64;
use plotters::prelude::*;

use super::{FONT, GRID, PlotError, caption_style, group_color, legend, title_style};
use crate::dataset::Dataset;

/// `timeline.png`: one bar per connection from accept to close, a dot per message.
pub fn draw_timeline<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    d: &Dataset,
) -> Result<(), PlotError> {
    let n = d.connections.len();
    let title = format!(
        "{} — {}: connections over time (at most {} open at once)",
        d.scenario.title(),
        d.mode.server_name(),
        d.max_concurrent()
    );
    let area = root.titled(&title, title_style())?;
    if n == 0 {
        area.draw_text("no connections were recorded", &caption_style(), (40, 40))?;
        return Ok(());
    }
    let end = |c: &crate::dataset::Connection| c.close_ms.unwrap_or(d.end_ms);
    let last_ms = d
        .connections
        .iter()
        .map(end)
        .chain(d.messages.iter().map(|m| m.recv_ms))
        .fold(0.0, f64::max);
    let x_max = (last_ms / 1e3 * 1.03).max(0.001);
    let rows = n as f64;
    // Empty rows above the first connection leave room for the legend.
    let groups = d.scenario.clients.len();
    let unmatched = d.connections.iter().any(|c| c.group.is_none());
    let entries = groups + usize::from(unmatched) + 2;
    let legend_px = 22.0 * entries as f64 + 30.0;
    let plot_px = (f64::from(area.dim_in_pixel().1) - 85.0).max(legend_px + 50.0);
    let extra = (legend_px * (rows + 0.2) / (plot_px - legend_px))
        .ceil()
        .max(0.6);
    let mut chart = ChartBuilder::on(&area)
        .margin(15)
        .x_label_area_size(55)
        .y_label_area_size(95)
        .build_cartesian_2d(0.0..x_max, 0.4..rows + 0.6 + extra)?;
    let labels: Vec<String> = d
        .connections
        .iter()
        .map(|c| match c.worker {
            Some(w) => format!("#{} w{w}", c.conn),
            None => format!("#{}", c.conn),
        })
        .collect();
    let y_fmt = |y: &f64| {
        let r = y.round();
        if (y - r).abs() > 1e-6 || r < 1.0 || r > rows {
            return String::new();
        }
        labels.get((rows - r) as usize).cloned().unwrap_or_default()
    };
    chart
        .configure_mesh()
        .x_desc("time since the first accept (s)")
        .y_desc("connection (accept order), client worker")
        .axis_desc_style((FONT, 18))
        .label_style((FONT, 14))
        // One label per row (a tick step of 1) while the rows fit.
        .y_labels(((rows + 0.6 + extra).ceil() as usize + 2).min(60))
        .y_label_formatter(&y_fmt)
        .disable_y_mesh()
        .light_line_style(WHITE)
        .bold_line_style(GRID)
        .draw()?;

    draw_spans_and_messages(&mut chart, d, rows, unmatched)?;
    chart
        .draw_series(std::iter::empty::<Rectangle<(f64, f64)>>())?
        .label("connection open (accept → close)")
        .legend(|(x, y)| Rectangle::new([(x, y - 6), (x + 18, y + 6)], BLACK.stroke_width(1)));
    legend(&mut chart, SeriesLabelPosition::UpperRight)?;
    Ok(())
}

/// Per group, a bar per connection from accept to close; a dot per message received.
fn draw_spans_and_messages<DB: DrawingBackend>(
    chart: &mut ChartContext<'_, DB, Cartesian2d<RangedCoordf64, RangedCoordf64>>,
    d: &Dataset,
    rows: f64,
    unmatched: bool,
) -> Result<(), PlotError> {
    let end = |c: &crate::dataset::Connection| c.close_ms.unwrap_or(d.end_ms);
    // Row of the i-th accepted connection: the first is on top.
    let row = |i: usize| rows - i as f64;
    let groups = d.scenario.clients.len();
    let mut keys: Vec<Option<usize>> = (0..groups).map(Some).collect();
    if unmatched {
        keys.push(None);
    }
    for g in keys {
        let color = group_color(g);
        // Each connection of the group as a bar from accept to close, in seconds.
        let spans: Vec<[(f64, f64); 2]> = d
            .connections
            .iter()
            .enumerate()
            .filter(|(_, c)| c.group == g)
            .map(|(i, c)| {
                let y = row(i);
                [(c.accept_ms / 1e3, y - 0.32), (end(c) / 1e3, y + 0.32)]
            })
            .collect();
        let fill = color.mix(0.35).filled();
        chart
            .draw_series(spans.iter().map(|&span| Rectangle::new(span, fill)))?
            .label(d.label(g).to_owned())
            .legend(move |(x, y)| {
                Rectangle::new([(x, y - 6), (x + 18, y + 6)], color.mix(0.5).filled())
            });
        let outline = color.stroke_width(1);
        chart.draw_series(spans.iter().map(|&span| Rectangle::new(span, outline)))?;
    }
    let index: std::collections::BTreeMap<u64, usize> = d
        .connections
        .iter()
        .enumerate()
        .map(|(i, c)| (c.conn, i))
        .collect();
    let dots = d.messages.iter().filter_map(|m| {
        let i = *index.get(&m.conn)?;
        let color = group_color(m.group);
        Some(Circle::new(
            (m.recv_ms / 1e3, row(i)),
            4,
            ShapeStyle::from(&color).filled(),
        ))
    });
    chart
        .draw_series(dots)?
        .label("message received")
        .legend(|(x, y)| Circle::new((x + 9, y), 4, BLACK.filled()));
    Ok(())
}
