//! The PNG plots. Each `draw_*` function draws one figure on a drawing area it is given;
//! [`png`] renders a figure into PNG bytes with the embedded DejaVu Sans font, so plots
//! render on machines without system fonts.

use std::sync::Once;

use arrivals::Distribution;
use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::FontStyle;

use crate::dataset::Dataset;
use crate::fidelity::{self, Compared, Fit};

/// Width and height of every figure, in pixels.
pub const SIZE: (u32, u32) = (1200, 700);

const FONT: &str = "sans-serif";
const GRID: RGBColor = RGBColor(232, 232, 232);

/// Colours of the client groups, in scenario order (Tableau 10).
const PALETTE: [RGBColor; 8] = [
    RGBColor(31, 119, 180),
    RGBColor(255, 127, 14),
    RGBColor(44, 160, 44),
    RGBColor(214, 39, 40),
    RGBColor(148, 103, 189),
    RGBColor(140, 86, 75),
    RGBColor(227, 119, 194),
    RGBColor(188, 189, 34),
];
const UNMATCHED_COLOR: RGBColor = RGBColor(110, 110, 110);

/// A figure could not be drawn or encoded.
#[derive(Debug, thiserror::Error)]
pub enum PlotError {
    #[error("cannot draw the plot: {0}")]
    Draw(String),
    #[error("cannot encode the PNG: {0}")]
    Encode(#[from] png::EncodingError),
    #[error("the embedded DejaVu Sans font was refused by plotters")]
    Font,
}

impl<E: std::error::Error + Send + Sync> From<DrawingAreaErrorKind<E>> for PlotError {
    fn from(e: DrawingAreaErrorKind<E>) -> Self {
        Self::Draw(e.to_string())
    }
}

/// The colour of client group `g`.
pub fn group_color(g: Option<usize>) -> RGBColor {
    g.map_or(UNMATCHED_COLOR, |g| PALETTE[g % PALETTE.len()])
}

/// Registers DejaVu Sans as plotters' `sans-serif` (once per process).
fn register_font() -> Result<(), PlotError> {
    static ONCE: Once = Once::new();
    let mut result = Ok(());
    ONCE.call_once(|| {
        result = plotters::style::register_font(FONT, FontStyle::Normal, dejavu::sans::regular())
            .map_err(|_| PlotError::Font);
    });
    result
}

/// Renders a figure of `size` drawn by `draw` and returns the PNG file's bytes.
pub fn png<F>(size: (u32, u32), draw: F) -> Result<Vec<u8>, PlotError>
where
    F: FnOnce(&DrawingArea<BitMapBackend<'_>, Shift>) -> Result<(), PlotError>,
{
    register_font()?;
    let (w, h) = size;
    let mut rgb = vec![255u8; w as usize * h as usize * 3];
    {
        let root = BitMapBackend::with_buffer(&mut rgb, size).into_drawing_area();
        root.fill(&WHITE)?;
        draw(&root)?;
        root.present()?;
    }
    let mut out = Vec::new();
    {
        let mut encoder = png::Encoder::new(&mut out, w, h);
        encoder.set_color(png::ColorType::Rgb);
        encoder.set_depth(png::BitDepth::Eight);
        // `Best` makes files no smaller for these flat-colour plots and takes twice as long
        // (it dominates rendering in debug builds, i.e. in the tests).
        encoder.set_compression(png::Compression::Default);
        let mut writer = encoder.write_header()?;
        writer.write_image_data(&rgb)?;
        writer.finish()?;
    }
    Ok(out)
}

fn title_style() -> TextStyle<'static> {
    (FONT, 24).into_font().color(&BLACK)
}

fn caption_style() -> TextStyle<'static> {
    (FONT, 18).into_font().color(&BLACK)
}

/// A value in milliseconds with a precision that suits its size.
pub fn fmt_ms(v: f64) -> String {
    let a = v.abs();
    if a == 0.0 {
        "0".to_owned()
    } else if a >= 100.0 {
        format!("{v:.0}")
    } else if a >= 10.0 {
        format!("{v:.1}")
    } else if a >= 0.1 {
        format!("{v:.2}")
    } else {
        format!("{v:.3}")
    }
}

/// A tick label of a logarithmic axis: at most three decimals, trailing zeros dropped.
fn fmt_log_tick(v: f64) -> String {
    let s = format!("{v:.3}");
    let s = s.trim_end_matches('0').trim_end_matches('.');
    if s.is_empty() || s == "-" {
        "0".to_owned()
    } else {
        s.to_owned()
    }
}

/// Decimals for the tick labels of a linear axis spanning `span`.
fn axis_decimals(span: f64) -> usize {
    match span {
        s if s >= 50.0 => 0,
        s if s >= 5.0 => 1,
        s if s >= 0.5 => 2,
        _ => 3,
    }
}

/// The legend box every chart uses.
fn legend<'a, DB: DrawingBackend + 'a, CT: CoordTranslate>(
    chart: &mut ChartContext<'a, DB, CT>,
    position: SeriesLabelPosition,
) -> Result<(), PlotError> {
    chart
        .configure_series_labels()
        .position(position)
        .background_style(WHITE.mix(0.9))
        .border_style(BLACK.mix(0.6))
        .label_font((FONT, 15))
        .draw()?;
    Ok(())
}

/// `timeline.png`: one bar per connection from accept to close, a dot per message.
pub fn draw_timeline<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    d: &Dataset,
) -> Result<(), PlotError> {
    let n = d.connections.len();
    let title = format!(
        "{} — {}: connections over time (at most {} open at once)",
        d.scenario.name,
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
    // Row of the i-th accepted connection: the first is on top.
    let row = |i: usize| rows - i as f64;
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

    let mut keys: Vec<Option<usize>> = (0..groups).map(Some).collect();
    if unmatched {
        keys.push(None);
    }
    for g in keys {
        let color = group_color(g);
        let bars = d
            .connections
            .iter()
            .enumerate()
            .filter(|(_, c)| c.group == g)
            .map(|(i, c)| {
                let y = row(i);
                Rectangle::new(
                    [(c.accept_ms / 1e3, y - 0.32), (end(c) / 1e3, y + 0.32)],
                    color.mix(0.35).filled(),
                )
            });
        chart
            .draw_series(bars)?
            .label(d.label(g).to_owned())
            .legend(move |(x, y)| {
                Rectangle::new([(x, y - 6), (x + 18, y + 6)], color.mix(0.5).filled())
            });
        let outlines = d
            .connections
            .iter()
            .enumerate()
            .filter(|(_, c)| c.group == g)
            .map(|(i, c)| {
                let y = row(i);
                Rectangle::new(
                    [(c.accept_ms / 1e3, y - 0.32), (end(c) / 1e3, y + 0.32)],
                    color.stroke_width(1),
                )
            });
        chart.draw_series(outlines)?;
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
    chart
        .draw_series(std::iter::empty::<Rectangle<(f64, f64)>>())?
        .label("connection open (accept → close)")
        .legend(|(x, y)| Rectangle::new([(x, y - 6), (x + 18, y + 6)], BLACK.stroke_width(1)));
    legend(&mut chart, SeriesLabelPosition::UpperRight)?;
    Ok(())
}

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

/// The x range a panel shows: all observed gaps and the bulk of the configured distribution.
fn gap_range(dist: &Distribution, gaps: &[f64]) -> (f64, f64) {
    let max = gaps.iter().copied().fold(0.0, f64::max);
    let min = gaps.iter().copied().fold(f64::INFINITY, f64::min);
    if dist.is_continuous() {
        // Uniform: its whole support; unbounded families: all but the last 0.5 %.
        let support = match dist.kind() {
            arrivals::DistKind::Uniform => dist.param() * 1e3,
            _ => dist.quantile_ms(0.995),
        };
        (0.0, max.max(support).max(1e-3))
    } else {
        let t = dist.param() * 1e3;
        let (lo, hi) = (min.min(t), max.max(t));
        let pad = (0.15 * (hi - lo)).max(0.02 * t).max(1.0);
        ((lo - pad).max(0.0), hi + pad)
    }
}

/// `data-gaps.png`: per client group, the observed data gaps as a density histogram with
/// the configured distribution overlaid (a density curve, or a line at T if fixed).
pub fn draw_data_gaps<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    d: &Dataset,
) -> Result<(), PlotError> {
    let title = format!(
        "{} — {}: data gaps per client group, observed vs configured",
        d.scenario.name,
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
        let curve: Vec<(f64, f64)> = if group.dist.is_continuous() {
            (0..=400)
                .map(|i| {
                    let x = lo + (hi - lo) * f64::from(i) / 400.0;
                    (x, group.dist.pdf_ms(x).unwrap_or(0.0))
                })
                .collect()
        } else {
            Vec::new()
        };
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
            Some(m) => format!("observed (mean {} ms)", fmt_ms(m)),
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
        let configured = match group.dist.mean_ms() {
            Some(m) if group.dist.is_continuous() && !group.dist.describe().contains("mean") => {
                format!(
                    "configured: {} (mean {} ms)",
                    group.dist.describe(),
                    fmt_ms(m)
                )
            }
            _ => format!("configured: {}", group.dist.describe()),
        };
        let theory_style = BLACK.stroke_width(2);
        if group.dist.is_continuous() {
            chart
                .draw_series(LineSeries::new(curve, theory_style))?
                .label(configured)
                .legend(|(x, y)| {
                    PathElement::new(vec![(x, y), (x + 18, y)], BLACK.stroke_width(2))
                });
        } else {
            let t = group.dist.param() * 1e3;
            chart
                .draw_series(LineSeries::new([(t, 0.0), (t, top * 1.1)], theory_style))?
                .label(configured)
                .legend(|(x, y)| {
                    PathElement::new(vec![(x + 9, y - 7), (x + 9, y + 7)], BLACK.stroke_width(2))
                });
        }
        legend(&mut chart, SeriesLabelPosition::UpperRight)?;
    }
    Ok(())
}

/// `connection-gaps.png`: the gap before each accepted connection, in accept order, on a
/// log scale, coloured by the client group that opened the connection.
pub fn draw_connection_gaps<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    d: &Dataset,
) -> Result<(), PlotError> {
    let title = format!(
        "{} — {}: connection gaps (time since the previous accept)",
        d.scenario.name,
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
    // A single group's connection process, if it has one: its 5–95 % band and median.
    let process = match d.scenario.clients.as_slice() {
        [only] => only.connect.map(|c| {
            (
                c,
                c.quantile_ms(0.05).max(1e-3),
                c.quantile_ms(0.5).max(1e-3),
                c.quantile_ms(0.95).max(1e-3),
            )
        }),
        _ => None,
    };
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
        .y_label_formatter(&|y| fmt_ms(*y))
        .disable_x_mesh()
        .light_line_style(WHITE)
        .bold_line_style(GRID)
        .draw()?;
    if let Some((c, q05, q50, q95)) = process {
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
            .label(format!("its median gap, {} ms", fmt_ms(q50)))
            .legend(move |(x, y)| {
                PathElement::new(vec![(x, y), (x + 18, y)], shade.stroke_width(2))
            });
    }
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
                fmt_ms(y),
                (x + 0.04, y),
                (FONT, 14).into_font().color(&BLACK),
            )
        }))?;
    }
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
            .label(format!("mean {} ms (what the server prints)", fmt_ms(mean)))
            .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 18, y)], BLACK.stroke_width(2)));
    }
    legend(&mut chart, SeriesLabelPosition::UpperLeft)?;
    Ok(())
}

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
            first.scenario.name,
            sets.len()
        )
    } else {
        format!(
            "{}: one workload against {} server modes",
            first.scenario.name,
            sets.len()
        )
    };
    let area = root.titled(&title, title_style())?;
    let (left, right) = area.split_horizontally(SIZE.0 * 9 / 20);
    let (upper_left, lower_left) = left.split_vertically(SIZE.1 * 11 / 20);

    // Upper left: average connection gap and average data gap per mode, log scale.
    let averages: Vec<(String, Option<f64>, Option<f64>)> = sets
        .iter()
        .filter_map(|runs| {
            let mode = runs.first()?.mode;
            Some((
                mode.as_str().to_owned(),
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
    let lo = (values.iter().copied().fold(f64::INFINITY, f64::min) / 4.0).max(1e-3);
    let hi = (values.iter().copied().fold(0.0, f64::max) * 12.0).max(lo * 10.0);
    let m = sets.len() as f64;
    let mut chart = ChartBuilder::on(&upper_left)
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
    let names: Vec<String> = averages.iter().map(|a| a.0.clone()).collect();
    let x_fmt = |x: &f64| {
        let r = x.round();
        if (x - r).abs() < 1e-6 && r >= 0.0 {
            names.get(r as usize).cloned().unwrap_or_default()
        } else {
            String::new()
        }
    };
    chart
        .configure_mesh()
        .x_desc("server mode")
        .y_desc("average gap (ms, log scale)")
        .axis_desc_style((FONT, 16))
        .label_style((FONT, 14))
        .x_labels(sets.len() + 2)
        .x_label_formatter(&x_fmt)
        .y_label_formatter(&|y| fmt_ms(*y))
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
        chart
            .draw_series(
                bars.iter()
                    .map(|&(x, v)| Rectangle::new([(x, lo), (x + 0.36, v)], color.filled())),
            )?
            .label(label)
            .legend(move |(x, y)| Rectangle::new([(x, y - 6), (x + 18, y + 6)], color.filled()));
        chart.draw_series(bars.iter().map(|&(x, v)| {
            Text::new(
                fmt_ms(v),
                (x + 0.02, v * 1.6),
                (FONT, 13).into_font().color(&BLACK),
            )
        }))?;
    }
    legend(&mut chart, SeriesLabelPosition::UpperRight)?;

    // Lower left: what the server added to each interval the client drew.
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
    let mut chart = ChartBuilder::on(&lower_left)
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

    // Right: empirical CDF of the data gaps per mode, and the configured mixture.
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
    let mut chart = ChartBuilder::on(&right)
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
            .label(format!("{} ({} gaps)", d.mode.as_str(), gaps.len()))
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

/// Colours of the series in `fit.png` and `distortion.png`.
const DRAWN_COLOR: RGBColor = RGBColor(160, 160, 160);
const CLIENT_COLOR: RGBColor = PALETTE[0];
const SERVER_COLOR: RGBColor = PALETTE[1];

/// A p-value for a legend: three significant digits, in scientific notation when tiny.
fn fmt_p(p: f64) -> String {
    if p == 0.0 {
        "0".to_owned()
    } else if p >= 0.001 {
        format!("{p:.3}")
    } else {
        format!("{p:.1e}")
    }
}

/// The ECDF of ascending `sorted` as a step line from `x_lo` to `x_hi`.
fn ecdf_steps(sorted: &[f64], x_lo: f64, x_hi: f64) -> Vec<(f64, f64)> {
    let mut steps = vec![(x_lo, 0.0)];
    let mut level = 0.0;
    for (x, f) in arrivals::gof::ecdf_points_sorted(sorted, 2000) {
        steps.push((x, level));
        steps.push((x, f));
        level = f;
    }
    steps.push((x_hi.max(steps.last().map_or(x_hi, |p| p.0)), level));
    steps
}

/// A series drawn in `fit.png`: its name, values and how it is drawn.
struct FitSeries {
    name: &'static str,
    values: Vec<f64>,
    color: RGBColor,
    width: u32,
    /// Shown on the QQ panel (the drawn intervals are not: they are what the client sent,
    /// before its lateness).
    qq: bool,
}

/// One row of `fit.png`: a client group's intervals, or (for a single group with a
/// connection process) the connection gaps.
fn fit_rows(d: &Dataset) -> Vec<(String, Distribution, Vec<FitSeries>)> {
    let mut rows = Vec::new();
    for (g, group) in d.scenario.clients.iter().enumerate() {
        rows.push((
            format!("`{}` intervals", group.label),
            group.dist,
            vec![
                FitSeries {
                    name: "drawn intervals",
                    values: d.drawn_intervals(Some(g)),
                    color: DRAWN_COLOR,
                    width: 8,
                    qq: false,
                },
                FitSeries {
                    name: "client send gaps",
                    values: d.send_gaps(Some(g)),
                    color: CLIENT_COLOR,
                    width: 4,
                    qq: true,
                },
                FitSeries {
                    name: "server data gaps",
                    values: d.data_gaps(Some(g)),
                    color: SERVER_COLOR,
                    width: 2,
                    qq: true,
                },
            ],
        ));
    }
    if let [only] = d.scenario.clients.as_slice()
        && let Some(c) = only.connect
    {
        rows.push((
            format!("`{}` connections", only.label),
            c,
            vec![
                FitSeries {
                    name: "client connect gaps",
                    values: d.connect_gaps(Some(0)),
                    color: CLIENT_COLOR,
                    width: 4,
                    qq: true,
                },
                FitSeries {
                    name: "server accept gaps",
                    values: d.connection_gaps(None),
                    color: SERVER_COLOR,
                    width: 2,
                    qq: true,
                },
            ],
        ));
    }
    rows
}

/// The size of `fit.png`: one row of panels per client group (and one for the connection
/// gaps of a single group with a connection process), at least [`SIZE`].
pub fn fit_size(d: &Dataset) -> (u32, u32) {
    let rows = fit_rows(d).len().max(1) as u32;
    (SIZE.0, (60 + 320 * rows).max(SIZE.1))
}

/// One entry of a key drawn beside a chart: a swatch, a title and a line of detail.
struct KeyEntry {
    color: RGBColor,
    /// Line width of the swatch; dashed when `dashed`.
    width: u32,
    dashed: bool,
    /// The QQ marker drawn after the line: hollow (client) or filled (server).
    marker: Option<bool>,
    title: String,
    detail: String,
}

/// Draws `entries` top-down in `area` (pixel coordinates), so no key covers data.
fn draw_key<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    entries: &[KeyEntry],
) -> Result<(), PlotError> {
    let title = (FONT, 15).into_font().color(&BLACK);
    let detail = (FONT, 13).into_font().color(&RGBColor(70, 70, 70));
    let mut y = 30;
    for e in entries {
        let style = e.color.stroke_width(e.width.min(6));
        if e.dashed {
            for x in [4, 14] {
                area.draw(&PathElement::new(vec![(x, y), (x + 7, y)], style))?;
            }
        } else {
            area.draw(&PathElement::new(vec![(4, y), (24, y)], style))?;
        }
        match e.marker {
            Some(true) => area.draw(&Circle::new((36, y), 5, e.color.stroke_width(2)))?,
            Some(false) => area.draw(&Circle::new((36, y), 3, e.color.filled()))?,
            None => {}
        }
        area.draw(&Text::new(e.title.clone(), (48, y - 8), title.clone()))?;
        if !e.detail.is_empty() {
            area.draw(&Text::new(e.detail.clone(), (48, y + 10), detail.clone()))?;
        }
        y += 48;
    }
    Ok(())
}

/// `fit.png`: per client group, the ECDF of what the client drew, what it sent and what the
/// server received against the configured CDF, and a QQ plot of the last two against the
/// configured quantiles (points on the diagonal follow the distribution). A fixed interval T
/// gets the ECDF of gap − T instead. A single group with a connection process gets a last
/// row for the client's connect gaps and the server's accept gaps.
pub fn draw_fit<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    d: &Dataset,
) -> Result<(), PlotError> {
    let title = format!(
        "{} — {}: measured gaps against the configured distributions",
        d.scenario.name,
        d.mode.server_name()
    );
    let area = root.titled(&title, title_style())?;
    let rows = fit_rows(d);
    let panels = area.split_evenly((rows.len().max(1), 1));
    for ((what, dist, series), panel) in rows.iter().zip(panels.iter()) {
        let panel = panel.titled(
            &format!("{what} — configured: {}", dist.describe()),
            caption_style(),
        )?;
        if dist.is_continuous() {
            draw_fit_row(&panel, dist, series)?;
        } else {
            draw_fixed_row(&panel, dist, series)?;
        }
    }
    Ok(())
}

fn draw_fit_row<DB: DrawingBackend>(
    panel: &DrawingArea<DB, Shift>,
    dist: &Distribution,
    series: &[FitSeries],
) -> Result<(), PlotError> {
    let (left, rest) = panel.split_horizontally(SIZE.0 * 42 / 100);
    let (middle, key) = rest.split_horizontally(SIZE.0 * 32 / 100);
    let sorted: Vec<Vec<f64>> = series
        .iter()
        .map(|s| arrivals::gof::sorted(&s.values))
        .collect();
    let all: Vec<f64> = sorted.iter().flatten().copied().collect();
    let (lo, hi) = gap_range(dist, &all);
    let mut chart = ChartBuilder::on(&left)
        .margin(10)
        .x_label_area_size(45)
        .y_label_area_size(60)
        .build_cartesian_2d(lo..hi, 0.0..1.02)?;
    chart
        .configure_mesh()
        .x_desc("gap (ms)")
        .y_desc("fraction ≤ x")
        .axis_desc_style((FONT, 15))
        .label_style((FONT, 13))
        .x_labels(6)
        .x_label_formatter(&|x| format!("{x:.*}", axis_decimals(hi - lo)))
        .y_labels(6)
        .light_line_style(WHITE)
        .bold_line_style(GRID)
        .draw()?;
    let mut entries = Vec::new();
    for (s, values) in series.iter().zip(&sorted) {
        let detail = match fidelity::fit(values, dist) {
            Fit::Continuous { ks, ad } => format!(
                "KS D {:.3} · p {}{}",
                ks.statistic,
                fmt_p(ks.p_value),
                ad.map_or_else(String::new, |a| format!(" · AD p {}", fmt_p(a.p_value)))
            ),
            _ => "no values".to_owned(),
        };
        chart.draw_series(LineSeries::new(
            ecdf_steps(values, lo, hi),
            s.color
                .mix(if s.width > 4 { 0.6 } else { 1.0 })
                .stroke_width(s.width),
        ))?;
        entries.push(KeyEntry {
            color: s.color,
            width: s.width,
            dashed: false,
            marker: s.qq.then_some(s.width > 2),
            title: format!("{} (n {})", s.name, values.len()),
            detail,
        });
    }
    let curve: Vec<(f64, f64)> = (0..=400)
        .map(|i| {
            let x = lo + (hi - lo) * f64::from(i) / 400.0;
            (x, dist.cdf_ms(x))
        })
        .collect();
    chart.draw_series(DashedLineSeries::new(curve, 8, 5, BLACK.stroke_width(2)))?;
    entries.push(KeyEntry {
        color: BLACK,
        width: 2,
        dashed: true,
        marker: None,
        title: "configured CDF (left)".to_owned(),
        detail: String::new(),
    });
    entries.push(KeyEntry {
        color: BLACK,
        width: 1,
        dashed: false,
        marker: None,
        title: "y = x (right): measured".to_owned(),
        detail: "quantiles equal the configured ones".to_owned(),
    });

    // QQ: sample quantiles against the configured ones, on equal axes.
    let pairs: Vec<(&FitSeries, Vec<(f64, f64)>)> = series
        .iter()
        .zip(&sorted)
        .filter(|(s, _)| s.qq)
        .map(|(s, v)| {
            (
                s,
                arrivals::gof::qq_pairs_sorted(v, 400, |p| dist.quantile_ms(p)),
            )
        })
        .collect();
    let top = pairs
        .iter()
        .flat_map(|(_, p)| p.iter().flat_map(|&(a, b)| [a, b]))
        .filter(|v| v.is_finite())
        .fold(0.0, f64::max)
        .max(1e-3)
        * 1.05;
    let mut chart = ChartBuilder::on(&middle)
        .margin(10)
        .x_label_area_size(45)
        .y_label_area_size(60)
        .build_cartesian_2d(0.0..top, 0.0..top)?;
    chart
        .configure_mesh()
        .x_desc("configured quantile (ms)")
        .y_desc("measured quantile (ms)")
        .axis_desc_style((FONT, 15))
        .label_style((FONT, 13))
        .x_labels(5)
        .y_labels(5)
        .x_label_formatter(&|x| format!("{x:.*}", axis_decimals(top)))
        .y_label_formatter(&|y| format!("{y:.*}", axis_decimals(top)))
        .light_line_style(WHITE)
        .bold_line_style(GRID)
        .draw()?;
    chart.draw_series(LineSeries::new(
        [(0.0, 0.0), (top, top)],
        BLACK.stroke_width(1),
    ))?;
    for (s, p) in &pairs {
        let color = s.color;
        let hollow = s.width > 2;
        chart.draw_series(p.iter().map(move |&(x, y)| {
            if hollow {
                Circle::new((x, y), 5, color.stroke_width(2))
            } else {
                Circle::new((x, y), 3, color.filled())
            }
        }))?;
    }
    draw_key(&key, &entries)
}

fn draw_fixed_row<DB: DrawingBackend>(
    panel: &DrawingArea<DB, Shift>,
    dist: &Distribution,
    series: &[FitSeries],
) -> Result<(), PlotError> {
    let (left, key) = panel.split_horizontally(SIZE.0 * 68 / 100);
    let t = dist.mean_ms().unwrap_or(0.0);
    // The drawn intervals are T exactly: the configured step at 0 stands for them.
    let shown: Vec<(&FitSeries, Vec<f64>)> = series
        .iter()
        .filter(|s| s.qq)
        .map(|s| {
            let dev: Vec<f64> = s.values.iter().map(|v| v - t).collect();
            (s, arrivals::gof::sorted(&dev))
        })
        .collect();
    let lo = shown
        .iter()
        .flat_map(|(_, v)| v.first().copied())
        .fold(0.0, f64::min);
    let hi = shown
        .iter()
        .flat_map(|(_, v)| v.last().copied())
        .fold(0.0, f64::max);
    let pad = ((hi - lo) * 0.08).max(0.05);
    let (lo, hi) = (lo - pad, hi + pad);
    let mut chart = ChartBuilder::on(&left)
        .margin(10)
        .x_label_area_size(45)
        .y_label_area_size(60)
        .build_cartesian_2d(lo..hi, 0.0..1.02)?;
    chart
        .configure_mesh()
        .x_desc(format!("gap − T (ms), T = {} ms", fmt_ms(t)))
        .y_desc("fraction ≤ x")
        .axis_desc_style((FONT, 15))
        .label_style((FONT, 13))
        .x_labels(8)
        .x_label_formatter(&|x| {
            // A tick a rounding error below zero is zero, not "-0.00".
            let x = if x.abs() < 1e-9 { 0.0 } else { *x };
            format!("{x:.*}", axis_decimals(hi - lo))
        })
        .y_labels(6)
        .light_line_style(WHITE)
        .bold_line_style(GRID)
        .draw()?;
    chart.draw_series(LineSeries::new(
        [(lo, 0.0), (0.0, 0.0), (0.0, 1.0), (hi, 1.0)],
        BLACK.stroke_width(2),
    ))?;
    let mut entries = Vec::new();
    for (s, dev) in &shown {
        let detail = match fidelity::fit(&s.values, dist) {
            Fit::Fixed(e) => format!(
                "|gap − T| mean {} · p99 {} · max {} ms",
                fmt_ms(e.mean),
                fmt_ms(e.p99),
                fmt_ms(e.max)
            ),
            _ => "no values".to_owned(),
        };
        let width = s.width + 1;
        chart.draw_series(LineSeries::new(
            ecdf_steps(dev, lo, hi),
            s.color.stroke_width(width),
        ))?;
        entries.push(KeyEntry {
            color: s.color,
            width,
            dashed: false,
            marker: None,
            title: format!("{} (n {})", s.name, dev.len()),
            detail,
        });
    }
    entries.push(KeyEntry {
        color: BLACK,
        width: 2,
        dashed: false,
        marker: None,
        title: "configured: every gap exactly T".to_owned(),
        detail: String::new(),
    });
    draw_key(&key, &entries)
}

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
        d.scenario.name,
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
    for (panel, caption, x_desc, values, which) in panels {
        let mut chart = ChartBuilder::on(&panel)
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
            let fractions = if which == 0 { &hists[g].0 } else { &hists[g].1 };
            let mut outline = vec![(edges[0], 0.0)];
            for (i, f) in fractions.iter().enumerate() {
                outline.push((edges[i], *f));
                outline.push((edges[i + 1], *f));
            }
            outline.push((edges[bins as usize], 0.0));
            chart.draw_series(std::iter::once(Polygon::new(
                outline.clone(),
                color.mix(0.12).filled(),
            )))?;
            let label = match arrivals::Summary::of(&values[g]) {
                Some(s) => format!(
                    "{}: p50 {} · p99 {} · max {} ms",
                    group.label,
                    fmt_ms(s.median),
                    fmt_ms(s.p99),
                    fmt_ms(s.max)
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
    }
    Ok(())
}

/// Per-mode figures of `distortion.png`: mean and 95% CI half width over the mode's runs.
type Spread = Option<(f64, Option<f64>)>;

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
        first.scenario.name,
        if repeats > 1 {
            format!(" ({repeats} runs each)")
        } else {
            String::new()
        }
    );
    let area = root.titled(&title, title_style())?;
    let (left, right) = area.split_horizontally(SIZE.0 * 11 / 20);
    struct ModeFigures {
        name: String,
        data_d: Spread,
        conn_d: Spread,
        client_gap: Spread,
        server_gap: Spread,
    }
    let figures: Vec<ModeFigures> = sets
        .iter()
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
                name: mode.as_str().to_owned(),
                data_d: spread(&ks, Compared::Data),
                conn_d: spread(&ks, Compared::Connection),
                client_gap: spread(&|c| c.client_mean_ms, Compared::Connection),
                server_gap: spread(&|c| c.server_mean_ms, Compared::Connection),
            })
        })
        .collect();
    let m = figures.len() as f64;
    let names: Vec<String> = figures.iter().map(|f| f.name.clone()).collect();
    let x_fmt = |x: &f64| {
        let r = x.round();
        if (x - r).abs() < 1e-6 && r >= 0.0 {
            names.get(r as usize).cloned().unwrap_or_default()
        } else {
            String::new()
        }
    };

    // Left: KS D per mode, data and connection gaps side by side, its key above it.
    let (key, left) = left.split_vertically(if repeats > 1 { 112 } else { 90 });
    let key = key.titled(
        "two-sample KS distance, clients vs server (0: same, 1: no overlap)",
        caption_style(),
    )?;
    let mut chart = ChartBuilder::on(&left)
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
    // Label, colour, offset of the bar in its mode's slot, and the figure it shows.
    type Bars = (&'static str, RGBColor, f64, fn(&ModeFigures) -> Spread);
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

    // Right: mean connection gap per mode, clients vs server, log scale.
    let values: Vec<f64> = figures
        .iter()
        .flat_map(|f| [f.client_gap, f.server_gap])
        .flatten()
        .map(|(v, _)| v)
        .filter(|v| *v > 0.0)
        .collect();
    let lo = (values.iter().copied().fold(f64::INFINITY, f64::min) / 4.0).max(1e-3);
    let hi = (values.iter().copied().fold(0.0, f64::max) * 8.0).max(lo * 10.0);
    let mut chart = ChartBuilder::on(&right)
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
        .y_label_formatter(&|y| fmt_ms(*y))
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
        chart
            .draw_series(
                bars.iter()
                    .map(|&(x, v)| Rectangle::new([(x, lo), (x + 0.36, v)], color.filled())),
            )?
            .label(label)
            .legend(move |(x, y)| Rectangle::new([(x, y - 6), (x + 18, y + 6)], color.filled()));
        chart.draw_series(bars.iter().map(|&(x, v)| {
            Text::new(
                fmt_ms(v),
                (x + 0.0, v * 1.5),
                (FONT, 13).into_font().color(&BLACK),
            )
        }))?;
    }
    legend(&mut chart, SeriesLabelPosition::UpperLeft)?;
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

    #[test]
    fn fixed_intervals_get_a_window_around_t() {
        let d = Distribution::new(arrivals::DistKind::Deterministic, 0.5, None).expect("valid");
        let (lo, hi) = gap_range(&d, &[500.2, 500.4]);
        assert!(lo < 500.0 && hi > 500.4, "{lo}..{hi}");
        assert!(hi - lo < 50.0, "{lo}..{hi}");
    }

    #[test]
    fn every_figure_renders_at_the_promised_size() {
        let d = crate::dataset::fixtures::iterative();
        let size_of = |bytes: Vec<u8>| {
            let reader = ::png::Decoder::new(std::io::Cursor::new(bytes))
                .read_info()
                .expect("decodes");
            (reader.info().width, reader.info().height)
        };
        let figures = [
            png(SIZE, |a| draw_timeline(a, &d)),
            png(SIZE, |a| draw_data_gaps(a, &d)),
            png(SIZE, |a| draw_connection_gaps(a, &d)),
            png(SIZE, |a| draw_lateness(a, &d)),
            png(SIZE, |a| draw_modes(a, &[vec![&d], vec![&d, &d]])),
            png(SIZE, |a| draw_distortion(a, &[vec![&d], vec![&d, &d]])),
        ];
        for bytes in figures {
            assert_eq!(size_of(bytes.expect("renders")), SIZE);
        }
        // Two groups: one row of panels each, in the smallest figure.
        assert_eq!(fit_size(&d), SIZE);
        let fit = png(fit_size(&d), |a| draw_fit(a, &d)).expect("renders");
        assert_eq!(size_of(fit), SIZE);
    }

    #[test]
    fn fit_png_grows_with_its_rows() {
        // One group with a connection process: its intervals, then its connection gaps;
        // four groups: a taller figure.
        let (mut info, server, client) = crate::dataset::fixtures::records();
        info.scenario_text = crate::dataset::fixtures::SCENARIO.replace(
            "param = 0.2\n",
            "param = 0.2\nconnect_dist = \"e\"\nconnect_param = 5.0\n",
        );
        let d =
            Dataset::new(std::path::Path::new("x"), info.clone(), &server, &client).expect("valid");
        assert_eq!(
            fit_rows(&d).len(),
            2,
            "a connection row needs a single group"
        );
        let mut four = crate::dataset::fixtures::SCENARIO.to_owned();
        for label in ["c", "e"] {
            four.push_str(&format!(
                "[[clients]]\nlabel = \"{label}\"\nworkers = 1\nintervals = 1\ndist = \"e\"\nparam = 5.0\n"
            ));
        }
        info.scenario_text = four;
        let d = Dataset::new(std::path::Path::new("x"), info, &server, &client).expect("valid");
        assert_eq!(fit_size(&d), (1200, 60 + 4 * 320));
        let fit = png(fit_size(&d), |a| draw_fit(a, &d)).expect("renders");
        assert!(!fit.is_empty());
    }

    #[test]
    fn log_bins_count_every_value_once() {
        let edges = [0.01, 0.1, 1.0, 10.0];
        let f = log_bins(&[0.001, 0.05, 0.5, 0.5, 20.0], &edges);
        assert_eq!(f, [0.4, 0.4, 0.2]);
        assert!((f.iter().sum::<f64>() - 1.0).abs() < 1e-12);
    }

    #[test]
    fn log_ticks_drop_trailing_zeros() {
        assert_eq!(fmt_log_tick(0.001), "0.001");
        assert_eq!(fmt_log_tick(0.1), "0.1");
        assert_eq!(fmt_log_tick(10.0), "10");
    }

    #[test]
    fn ms_precision_follows_magnitude() {
        assert_eq!(fmt_ms(1033.516), "1034");
        assert_eq!(fmt_ms(12.34), "12.3");
        assert_eq!(fmt_ms(0.3), "0.30");
        assert_eq!(fmt_ms(0.0123), "0.012");
    }
}
