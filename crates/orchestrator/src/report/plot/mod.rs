//! The PNG plots. Each `draw_*` function draws one figure on a drawing area it is given;
//! [`png`](fn@png) renders a figure into PNG bytes with the embedded DejaVu Sans font, so plots
//! render on machines without system fonts. This module owns what the figures share: size,
//! font, colours, error type, tick formats and axis ranges; one submodule per figure draws it.

mod connection_gaps;
mod data_gaps;
mod delay;
mod distortion;
mod fit;
mod lateness;
mod load;
mod merged;
mod modes;
mod timeline;

use std::sync::Once;

use arrivals::Distribution;
use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::FontStyle;

use super::format::{plot_ms, short_p};

pub use connection_gaps::draw_connection_gaps;
pub use data_gaps::draw_data_gaps;
pub use delay::{draw_delay, draw_delay_modes};
pub use distortion::draw_distortion;
pub use fit::{draw_fit, fit_size};
pub use lateness::draw_lateness;
pub use load::{LOAD_SIZE, draw_delay_steps, draw_load};
pub use merged::{draw_merged, draw_queueing, draw_superposition};
pub use modes::draw_modes;
pub use timeline::draw_timeline;

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
    let (palette, indices) = palette(&rgb);
    let mut out = Vec::new();
    {
        let mut encoder = png::Encoder::new(&mut out, w, h);
        // An indexed PNG is a third the size of an RGB one for these plots (see `palette`).
        encoder.set_color(png::ColorType::Indexed);
        encoder.set_palette(palette);
        encoder.set_depth(png::BitDepth::Eight);
        // `Best` makes files no smaller for these flat-colour plots and takes twice as long
        // (it dominates rendering in debug builds, i.e. in the tests).
        encoder.set_compression(png::Compression::Default);
        encoder.set_filter(png::FilterType::NoFilter);
        let mut writer = encoder.write_header()?;
        writer.write_image_data(&indices)?;
        writer.finish()?;
    }
    Ok(out)
}

/// An image of RGB pixels as at most 256 colours: its palette (RGB triples) and one index
/// per pixel. The plots are flat colours plus the anti-aliased edges of text and curves, a
/// few hundred to a few thousand colours in all: the 256 most frequent are kept exactly
/// (ties by colour value, so a re-render is byte-identical) and every other pixel takes the
/// nearest of them — a change only in the shade of an edge pixel.
fn palette(rgb: &[u8]) -> (Vec<u8>, Vec<u8>) {
    use std::collections::HashMap;
    let mut counts: HashMap<[u8; 3], u64> = HashMap::new();
    for px in rgb.chunks_exact(3) {
        *counts.entry([px[0], px[1], px[2]]).or_default() += 1;
    }
    let mut by_count: Vec<([u8; 3], u64)> = counts.into_iter().collect();
    by_count.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    let kept: Vec<[u8; 3]> = by_count.iter().take(256).map(|(c, _)| *c).collect();
    let distance = |a: [u8; 3], b: [u8; 3]| -> u32 {
        a.iter()
            .zip(b)
            .map(|(x, y)| (i32::from(*x) - i32::from(y)).unsigned_abs().pow(2))
            .sum()
    };
    let index: HashMap<[u8; 3], u8> = by_count
        .iter()
        .map(|(c, _)| {
            let nearest = (0..kept.len())
                .min_by_key(|&i| (distance(*c, kept[i]), i))
                .unwrap_or(0);
            // At most 256 colours are kept: the index fits in a byte.
            (*c, nearest as u8)
        })
        .collect();
    let indices = rgb
        .chunks_exact(3)
        .map(|px| index.get(&[px[0], px[1], px[2]]).copied().unwrap_or(0))
        .collect();
    (kept.concat(), indices)
}

fn title_style() -> TextStyle<'static> {
    (FONT, 24).into_font().color(&BLACK)
}

fn caption_style() -> TextStyle<'static> {
    (FONT, 18).into_font().color(&BLACK)
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

/// The x-axis label of a chart with one slot per server mode at x = 0, 1, …: the mode's
/// name at each slot's centre, nothing elsewhere.
fn mode_label(names: &[String], x: f64) -> String {
    let r = x.round();
    if (x - r).abs() < 1e-6 && r >= 0.0 {
        names.get(r as usize).cloned().unwrap_or_default()
    } else {
        String::new()
    }
}

/// One legend entry of bars from `lo` up to each `(x, value)`, each labelled with its value
/// in milliseconds at `text_at(x, value)`.
fn value_bars<'a, DB: DrawingBackend + 'a, CT: CoordTranslate<From = (f64, f64)>>(
    chart: &mut ChartContext<'a, DB, CT>,
    bars: &[(f64, f64)],
    lo: f64,
    label: &str,
    color: RGBColor,
    text_at: impl Fn(f64, f64) -> (f64, f64),
) -> Result<(), PlotError> {
    chart
        .draw_series(
            bars.iter()
                .map(|&(x, v)| Rectangle::new([(x, lo), (x + 0.36, v)], color.filled())),
        )?
        .label(label)
        .legend(move |(x, y)| Rectangle::new([(x, y - 6), (x + 18, y + 6)], color.filled()));
    chart.draw_series(bars.iter().map(|&(x, v)| {
        Text::new(
            plot_ms(v),
            text_at(x, v),
            (FONT, 13).into_font().color(&BLACK),
        )
    }))?;
    Ok(())
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

/// Colours of the client and server series in `fit.png` and `distortion.png`.
const CLIENT_COLOR: RGBColor = PALETTE[0];
const SERVER_COLOR: RGBColor = PALETTE[1];

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

#[cfg(test)]
mod tests {
    use super::*;

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
            png(SIZE, |a| draw_delay(a, &d)),
            png(SIZE, |a| draw_merged(a, &d)),
            png(SIZE, |a| draw_delay_modes(a, &[vec![&d], vec![&d, &d]])),
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
    fn a_run_of_one_connection_and_no_delays_renders() {
        // One connection has no connection gap: the log axes still need a finite range
        // (plotters loops forever on an infinite one).
        let mut d = crate::dataset::fixtures::iterative();
        d.connections.truncate(1);
        let first = d.connections[0].conn;
        d.messages.retain(|m| m.conn == first);
        d.connects.truncate(1);
        for m in &mut d.messages {
            m.server_delay_ms = Some(0.0);
        }
        for bytes in [
            png(SIZE, |a| draw_distortion(a, &[vec![&d]])),
            png(SIZE, |a| draw_modes(a, &[vec![&d]])),
            png(SIZE, |a| draw_delay(a, &d)),
            png(SIZE, |a| draw_connection_gaps(a, &d)),
        ] {
            assert!(bytes.is_ok());
        }
    }

    #[test]
    fn a_palette_keeps_the_frequent_colours_exactly_and_maps_the_rest_nearby() {
        let mut rgb = Vec::new();
        for i in 0..300u32 {
            // Colour i, i + 1 times: the 256 most frequent are 44..=299.
            for _ in 0..=i {
                rgb.extend([(i % 256) as u8, (i / 256) as u8, 7]);
            }
        }
        let (colours, indices) = palette(&rgb);
        assert_eq!(colours.len(), 256 * 3);
        assert_eq!(indices.len(), rgb.len() / 3);
        let colour = |k: u8| &colours[3 * k as usize..3 * k as usize + 3];
        // The last pixel (colour 299 = (43, 1, 7)) is kept exactly.
        assert_eq!(colour(indices[indices.len() - 1]), [43, 1, 7]);
        // The first (colour 0 = (0, 0, 7), once) maps to the nearest kept one, (0, 1, 7).
        assert_eq!(colour(indices[0]), [0, 1, 7]);
        assert_eq!(palette(&rgb), (colours.clone(), indices), "deterministic");
    }

    #[test]
    fn log_ticks_drop_trailing_zeros() {
        assert_eq!(fmt_log_tick(0.001), "0.001");
        assert_eq!(fmt_log_tick(0.1), "0.1");
        assert_eq!(fmt_log_tick(10.0), "10");
    }
}
