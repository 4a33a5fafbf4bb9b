//! `load.png` of a load sweep: per server mode against the swept value, the rate offered
//! and achieved, the server delay's p50 and p99, the KS distance between the clients' send
//! gaps and the server's data gaps, and the mean connect → accept wait; each mode's knee
//! ringed. And `delay.png` of a load sweep: the server delay's ECDF of each mode, one curve
//! per step.

use arrivals::Mode;
use plotters::coord::Shift;
use plotters::prelude::*;

use super::delay::{Curve, draw_panel, mode_color};
use super::{FONT, GRID, PlotError, SIZE, caption_style, fmt_log_tick, legend, title_style};
use crate::load::{Knee, Point, StepRuns, Unit};
use crate::scenario::{LoadSweep, Scenario};

/// What one panel of `load.png` shows of a point.
type Pick = fn(&Point) -> Option<f64>;

/// `load.png`: four panels, one figure each, per mode against the swept value.
pub fn draw_load<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    s: &Scenario,
    points: &[Point],
    knees: &[Knee],
    unit: Unit,
) -> Result<(), PlotError> {
    let Some(load) = &s.load else { return Ok(()) };
    let title = format!(
        "{}: each server mode as `{}` of `{}` grows (rings: each mode's knee)",
        s.name,
        load.key.name(),
        s.clients[load.group].label
    );
    let area = root.titled(&title, title_style())?;
    let panels = area.split_evenly((2, 2));
    let rate = format!("{} (dashed: offered)", unit.per_second());
    let specs: [(&str, &str, Pick, bool); 4] = [
        ("rate achieved by the server", &rate, |p| p.achieved, true),
        (
            "server delay p99 (solid) and p50 (dotted)",
            "ms (log scale)",
            |p| p.delay_p99,
            true,
        ),
        (
            "KS distance: client send gaps vs server data gaps",
            "KS D",
            |p| p.ks_d,
            false,
        ),
        (
            "mean wait, client connect() → server accept",
            "ms (log scale)",
            |p| p.wait_ms,
            true,
        ),
    ];
    for (i, (panel, (caption, y_desc, pick, log_y))) in panels.iter().zip(specs).enumerate() {
        draw_one(
            panel,
            (caption, y_desc),
            s,
            load,
            points,
            knees,
            pick,
            log_y,
            i,
        )?;
    }
    Ok(())
}

/// One panel of `load.png`. Panel 0 adds the offered rate, panel 1 the p50.
#[allow(clippy::too_many_arguments)]
fn draw_one<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    (caption, y_desc): (&str, &str),
    s: &Scenario,
    load: &LoadSweep,
    points: &[Point],
    knees: &[Knee],
    pick: Pick,
    log_y: bool,
    panel: usize,
) -> Result<(), PlotError> {
    let xs: Vec<f64> = load.values.clone();
    let x_lo = xs.iter().copied().fold(f64::INFINITY, f64::min);
    let x_hi = xs.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let log_x = x_lo > 0.0 && x_hi / x_lo >= 10.0;
    let mut ys: Vec<f64> = points.iter().filter_map(pick).collect();
    if panel == 0 {
        ys.extend(points.iter().map(|p| p.offered));
    }
    if panel == 1 {
        ys.extend(points.iter().filter_map(|p| p.delay_p50));
    }
    let ys: Vec<f64> = ys
        .into_iter()
        .filter(|y| y.is_finite() && (!log_y || *y > 0.0))
        .collect();
    if ys.is_empty() {
        let chart = ChartBuilder::on(area)
            .caption(caption, caption_style())
            .build_cartesian_2d(0.0..1.0, 0.0..1.0)?;
        chart.plotting_area().draw(&Text::new(
            "no data",
            (0.4, 0.5),
            (FONT, 18).into_font().color(&BLACK),
        ))?;
        return Ok(());
    }
    let y_lo = ys.iter().copied().fold(f64::INFINITY, f64::min);
    let y_hi = ys.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let x_range = if log_x {
        (x_lo / 1.3, x_hi * 1.3)
    } else {
        let pad = ((x_hi - x_lo) * 0.05).max(x_hi.abs() * 0.05).max(1e-9);
        (x_lo - pad, x_hi + pad)
    };
    let y_range = if log_y {
        (y_lo / 2.0, y_hi * 2.0)
    } else {
        (0.0, (y_hi * 1.15).max(0.05))
    };
    let x_desc = format!("{} of `{}`", load.key.name(), s.clients[load.group].label);
    // The four combinations of linear and log axes are four chart types.
    macro_rules! chart {
        ($x:expr, $y:expr) => {{
            let mut chart = ChartBuilder::on(area)
                .caption(caption, caption_style())
                .margin(10)
                .x_label_area_size(42)
                .y_label_area_size(62)
                .build_cartesian_2d($x, $y)?;
            chart
                .configure_mesh()
                .x_desc(x_desc.as_str())
                .y_desc(y_desc)
                .axis_desc_style((FONT, 14))
                .label_style((FONT, 12))
                .x_label_formatter(&|x| fmt_log_tick(*x))
                .y_label_formatter(&|y| fmt_log_tick(*y))
                .light_line_style(WHITE)
                .bold_line_style(GRID)
                .draw()?;
            series(&mut chart, s, points, knees, pick, panel)?;
            if panel == 0 {
                legend(&mut chart, SeriesLabelPosition::UpperLeft)?;
            }
        }};
    }
    let (xr, yr) = (x_range.0..x_range.1, y_range.0..y_range.1);
    match (log_x, log_y) {
        (true, true) => chart!(xr.log_scale(), yr.log_scale()),
        (true, false) => chart!(xr.log_scale(), yr),
        (false, true) => chart!(xr, yr.log_scale()),
        (false, false) => chart!(xr, yr),
    }
    Ok(())
}

/// Each mode's line of `pick`, its knee ringed; the offered rate (panel 0) or the p50
/// (panel 1) beside it.
fn series<'a, DB, CT>(
    chart: &mut ChartContext<'a, DB, CT>,
    s: &Scenario,
    points: &[Point],
    knees: &[Knee],
    pick: Pick,
    panel: usize,
) -> Result<(), PlotError>
where
    DB: DrawingBackend + 'a,
    CT: CoordTranslate<From = (f64, f64)>,
{
    if panel == 0 {
        // What each mode's clients' schedule offered (it depends on how fast they could
        // connect, so it differs between modes), dashed in the mode's colour.
        for &mode in &s.modes {
            let color = mode_color(mode);
            let offered = mode_line(points, mode, |p| Some(p.offered));
            chart.draw_series(DashedLineSeries::new(offered, 8, 5, color.stroke_width(2)))?;
        }
        chart
            .draw_series(std::iter::empty::<Circle<(f64, f64), i32>>())?
            .label("dashed: offered")
            .legend(|(x, y)| PathElement::new([(x, y), (x + 20, y)], BLACK.stroke_width(1)));
    }
    for &mode in &s.modes {
        let color = mode_color(mode);
        let line = mode_line(points, mode, pick);
        chart
            .draw_series(LineSeries::new(line.clone(), color.stroke_width(3)))?
            .label(mode.name())
            .legend(move |(x, y)| PathElement::new([(x, y), (x + 20, y)], color.stroke_width(3)));
        chart.draw_series(
            line.iter()
                .map(|&(x, y)| Circle::new((x, y), 4, color.filled())),
        )?;
        if panel == 1 {
            let p50 = mode_line(points, mode, |p| p.delay_p50);
            chart.draw_series(DashedLineSeries::new(p50, 3, 4, color.stroke_width(2)))?;
        }
        if let Some(k) = knees.iter().find(|k| k.mode == mode)
            && let Some(y) = points
                .iter()
                .find(|p| p.mode == mode && p.value == k.value)
                .and_then(pick)
        {
            chart.draw_series(std::iter::once(Circle::new(
                (k.value, y),
                11,
                color.stroke_width(3),
            )))?;
        }
    }
    Ok(())
}

/// `(value, pick)` of `mode`'s points, by value.
fn mode_line(points: &[Point], mode: Mode, pick: Pick) -> Vec<(f64, f64)> {
    let mut line: Vec<(f64, f64)> = points
        .iter()
        .filter(|p| p.mode == mode)
        .filter_map(|p| Some((p.value, pick(p)?)))
        .filter(|(_, y)| y.is_finite())
        .collect();
    line.sort_by(|a, b| a.0.total_cmp(&b.0));
    line
}

/// `delay.png` of a load sweep: one panel per mode, one ECDF per step (lighter colours
/// for lighter steps).
pub fn draw_delay_steps<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    s: &Scenario,
    steps: &[StepRuns<'_>],
) -> Result<(), PlotError> {
    let Some(load) = &s.load else { return Ok(()) };
    let title = format!(
        "{}: server delay (read − kernel arrival) per mode as `{}` grows",
        s.name,
        load.key.name()
    );
    let area = root.titled(&title, title_style())?;
    let cols = if s.modes.len() > 1 { 2 } else { 1 };
    let rows = s.modes.len().div_ceil(cols);
    let panels = area.split_evenly((rows, cols));
    for (panel, &mode) in panels.iter().zip(&s.modes) {
        let base = mode_color(mode);
        let n = steps.len().max(1) as f64;
        let curves: Vec<Curve> = steps
            .iter()
            .enumerate()
            .map(|(i, step)| {
                // From a pale tint of the mode's colour to the full colour.
                let t = 0.25 + 0.75 * (i as f64 + 1.0) / n;
                let mix = |c: u8| (255.0 - (255.0 - f64::from(c)) * t).round() as u8;
                Curve {
                    name: format!(
                        "{} = {}",
                        load.key.name(),
                        LoadSweep::format_value(step.value)
                    ),
                    color: RGBColor(mix(base.0), mix(base.1), mix(base.2)),
                    values: step
                        .sets
                        .iter()
                        .flatten()
                        .filter(|d| d.mode == mode)
                        .flat_map(|d| d.server_delays(None))
                        .collect(),
                }
            })
            .collect();
        draw_panel(panel, Some(&format!("{} server", mode.name())), &curves)?;
    }
    Ok(())
}

/// The size of `load.png` and a load sweep's `delay.png`.
pub const LOAD_SIZE: (u32, u32) = (SIZE.0, SIZE.1 * 3 / 2);
