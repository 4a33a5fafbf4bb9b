//! `distortion.png` of a sweep: how far each server mode's gaps are from what the clients
//! sent (KS distance) and the mean connection gap on both sides.

use plotters::coord::Shift;
use plotters::prelude::*;

use super::{
    CLIENT_COLOR, FONT, GRID, PALETTE, PlotError, SERVER_COLOR, SIZE, caption_style, legend,
    mode_label, plot_ms, title_style, value_bars,
};
use crate::dataset::Dataset;
use crate::fidelity::{self, Compared};

/// Per-mode figures of `distortion.png`: mean and 95% CI half width over the mode's runs.
type Spread = Option<(f64, Option<f64>)>;

/// The figures of one mode in `distortion.png`.
struct ModeFigures {
    name: String,
    data_d: Spread,
    conn_d: Spread,
    client_gap: Spread,
    server_gap: Spread,
}

/// Label, colour, offset of the bar in its mode's slot, and the figure it shows.
type Bars = (&'static str, RGBColor, f64, fn(&ModeFigures) -> Spread);

/// Each mode's figures (modes without runs are left out).
fn mode_figures(sets: &[Vec<&Dataset>]) -> Vec<ModeFigures> {
    sets.iter()
        .filter_map(|runs| {
            let mode = runs.first()?.mode;
            let per_run: Vec<Vec<fidelity::Comparison>> =
                runs.iter().map(|d| fidelity::comparisons(d)).collect();
            let spread = |f: &dyn Fn(&fidelity::Comparison) -> Option<f64>, c: Compared| {
                let v: Vec<f64> = per_run
                    .iter()
                    .filter_map(|cs| fidelity::overall(cs, c).and_then(f))
                    .collect();
                arrivals::gof::mean_ci95(&v)
            };
            let ks = |c: &fidelity::Comparison| c.ks.map(|k| k.statistic);
            Some(ModeFigures {
                name: mode.name().to_owned(),
                data_d: spread(&ks, Compared::Data),
                conn_d: spread(&ks, Compared::Connection),
                client_gap: spread(&|c| c.client_mean_ms, Compared::Connection),
                server_gap: spread(&|c| c.server_mean_ms, Compared::Connection),
            })
        })
        .collect()
}

/// `distortion.png` of a sweep: per mode, the two-sample KS distance between what the
/// clients sent and what the server observed, for data gaps and connection gaps (left; with
/// 95% confidence intervals across repeats), and the mean connection gap on both sides
/// (right).
pub fn draw_distortion<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    sets: &[Vec<&Dataset>],
) -> Result<(), PlotError> {
    let Some(first) = sets.first().and_then(|s| s.first()) else {
        return Ok(());
    };
    let repeats = sets.iter().map(Vec::len).max().unwrap_or(1);
    let title = format!(
        "{}: what each server mode observed vs what the clients sent{}",
        first.scenario.title(),
        if repeats > 1 {
            format!(" ({repeats} runs each)")
        } else {
            String::new()
        }
    );
    let area = root.titled(&title, title_style())?;
    let (left, right) = area.split_horizontally(SIZE.0 * 11 / 20);
    let figures = mode_figures(sets);
    draw_ks(&left, &figures, repeats)?;
    draw_mean_gaps(&right, &figures)
}

/// Left: KS D per mode, data and connection gaps side by side, its key above it.
fn draw_ks<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    figures: &[ModeFigures],
    repeats: usize,
) -> Result<(), PlotError> {
    let m = figures.len() as f64;
    let names: Vec<String> = figures.iter().map(|f| f.name.clone()).collect();
    let x_fmt = |x: &f64| mode_label(&names, *x);
    let (key, area) = area.split_vertically(if repeats > 1 { 112 } else { 90 });
    let key = key.titled(
        "two-sample KS distance, clients vs server (0: same, 1: no overlap)",
        caption_style(),
    )?;
    let mut chart = ChartBuilder::on(&area)
        .margin(12)
        .x_label_area_size(50)
        .y_label_area_size(60)
        .build_cartesian_2d(-0.5..m - 0.5, 0.0..1.12)?;
    chart
        .configure_mesh()
        .x_desc("server mode")
        .y_desc("KS D")
        .axis_desc_style((FONT, 16))
        .label_style((FONT, 14))
        .x_labels(figures.len() + 2)
        .x_label_formatter(&x_fmt)
        .y_labels(6)
        .y_label_formatter(&|y| format!("{y:.1}"))
        .disable_x_mesh()
        .light_line_style(WHITE)
        .bold_line_style(GRID)
        .draw()?;
    let kinds: [Bars; 2] = [
        (
            "data gaps: client send gaps vs server data gaps",
            SERVER_COLOR,
            -0.38,
            |f| f.data_d,
        ),
        (
            "connection gaps: client connects vs server accepts",
            CLIENT_COLOR,
            0.02,
            |f| f.conn_d,
        ),
    ];
    let mut keys: Vec<(String, RGBColor, bool)> = Vec::new();
    for (label, color, offset, get) in kinds {
        let bars: Vec<(f64, f64, Option<f64>)> = figures
            .iter()
            .enumerate()
            .filter_map(|(i, f)| get(f).map(|(v, h)| (i as f64 + offset, v, h)))
            .collect();
        chart.draw_series(
            bars.iter()
                .map(|&(x, v, _)| Rectangle::new([(x, 0.0), (x + 0.36, v)], color.filled())),
        )?;
        keys.push((label.to_owned(), color, false));
        for &(x, v, h) in &bars {
            let mid = x + 0.18;
            if let Some(h) = h {
                let (a, b) = ((v - h).max(0.0), (v + h).min(1.0));
                chart.draw_series([
                    PathElement::new(vec![(mid, a), (mid, b)], BLACK.stroke_width(2)),
                    PathElement::new(
                        vec![(mid - 0.07, a), (mid + 0.07, a)],
                        BLACK.stroke_width(2),
                    ),
                    PathElement::new(
                        vec![(mid - 0.07, b), (mid + 0.07, b)],
                        BLACK.stroke_width(2),
                    ),
                ])?;
            }
            let top = h.map_or(v, |h| (v + h).min(1.0));
            chart.draw_series(std::iter::once(Text::new(
                format!("{v:.2}"),
                (x + 0.02, top + 0.06),
                (FONT, 14).into_font().color(&BLACK),
            )))?;
        }
    }
    if repeats > 1 {
        keys.push((
            format!("mean of {repeats} runs; whisker: 95 % confidence interval"),
            BLACK,
            true,
        ));
    }
    draw_key(&key, &keys)
}

/// The key of the KS panel: a swatch per kind of bar (a whisker for the interval).
fn draw_key<DB: DrawingBackend>(
    key: &DrawingArea<DB, Shift>,
    keys: &[(String, RGBColor, bool)],
) -> Result<(), PlotError> {
    let text = (FONT, 15).into_font().color(&BLACK);
    for (i, (label, color, whisker)) in keys.iter().enumerate() {
        let y = 20 + 22 * i as i32;
        if *whisker {
            key.draw(&PathElement::new(
                vec![(84, y - 7), (84, y + 7)],
                color.stroke_width(2),
            ))?;
        } else {
            key.draw(&Rectangle::new([(75, y - 6), (93, y + 6)], color.filled()))?;
        }
        key.draw(&Text::new(label.clone(), (102, y - 8), text.clone()))?;
    }
    Ok(())
}

/// Right: mean connection gap per mode, clients vs server, log scale.
fn draw_mean_gaps<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    figures: &[ModeFigures],
) -> Result<(), PlotError> {
    let m = figures.len() as f64;
    let names: Vec<String> = figures.iter().map(|f| f.name.clone()).collect();
    let x_fmt = |x: &f64| mode_label(&names, *x);
    let values: Vec<f64> = figures
        .iter()
        .flat_map(|f| [f.client_gap, f.server_gap])
        .flatten()
        .map(|(v, _)| v)
        .filter(|v| *v > 0.0)
        .collect();
    // No values (one connection: no gap to average): any finite decade will do.
    let lo = match values.iter().copied().reduce(f64::min) {
        Some(min) => (min / 4.0).max(1e-3),
        None => 1.0,
    };
    let hi = (values.iter().copied().fold(0.0, f64::max) * 8.0).max(lo * 10.0);
    let mut chart = ChartBuilder::on(area)
        .caption("mean connection gap", caption_style())
        .margin(12)
        .x_label_area_size(50)
        .y_label_area_size(80)
        .build_cartesian_2d(-0.5..m - 0.5, (lo..hi).log_scale())?;
    chart
        .configure_mesh()
        .x_desc("server mode")
        .y_desc("mean connection gap (ms, log scale)")
        .axis_desc_style((FONT, 16))
        .label_style((FONT, 14))
        .x_labels(figures.len() + 2)
        .x_label_formatter(&x_fmt)
        .y_label_formatter(&|y| plot_ms(*y))
        .disable_x_mesh()
        .light_line_style(WHITE)
        .bold_line_style(GRID)
        .draw()?;
    let sides: [Bars; 2] = [
        ("between client connect calls", PALETTE[2], -0.38, |f| {
            f.client_gap
        }),
        ("between server accepts", CLIENT_COLOR, 0.02, |f| {
            f.server_gap
        }),
    ];
    for (label, color, offset, get) in sides {
        let bars: Vec<(f64, f64)> = figures
            .iter()
            .enumerate()
            .filter_map(|(i, f)| get(f).map(|(v, _)| (i as f64 + offset, v.max(lo))))
            .collect();
        value_bars(&mut chart, &bars, lo, label, color, |x, v| (x, v * 1.5))?;
    }
    legend(&mut chart, SeriesLabelPosition::UpperLeft)?;
    Ok(())
}
