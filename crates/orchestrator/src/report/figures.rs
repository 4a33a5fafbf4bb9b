//! The figures, as data: per figure its file, its alt text, the page it appears on, its
//! size and what draws it. The writer renders each page's figures from this list and the
//! markdown pages embed them by it, so a figure is added here and placed on its page.
// The closures are not redundant: a generic `draw_*::<DB>` fixes the backend's lifetime,
// the closure stays generic over it as the fn pointer type asks (clippy suggests otherwise).
#![allow(clippy::redundant_closure)]

use plotters::coord::Shift;
use plotters::prelude::{BitMapBackend, DrawingArea};

use super::plot::{self, PlotError};
use crate::dataset::Dataset;

/// What a figure is drawn on.
pub(crate) type Area<'a> = DrawingArea<BitMapBackend<'a>, Shift>;

/// What a figure is drawn from, which is also the page it appears on.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Draw {
    /// Each run's page, from that run.
    Run {
        size: fn(&Dataset) -> (u32, u32),
        draw: fn(&Area<'_>, &Dataset) -> Result<(), PlotError>,
    },
    /// A sweep's page, from the runs of every mode (one list per mode); [`plot::SIZE`].
    Sweep(fn(&Area<'_>, &[Vec<&Dataset>]) -> Result<(), PlotError>),
}

/// One PNG figure of the report.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Figure {
    pub file: &'static str,
    pub alt: &'static str,
    pub draw: Draw,
}

impl Figure {
    /// The markdown that shows it: `![alt](file)`.
    pub fn embed(&self) -> String {
        format!("![{}]({})", self.alt, self.file)
    }
}

fn fixed(_: &Dataset) -> (u32, u32) {
    plot::SIZE
}

pub(crate) const TIMELINE: Figure = Figure {
    file: "timeline.png",
    alt: "timeline",
    draw: Draw::Run {
        size: fixed,
        draw: |a, d| plot::draw_timeline(a, d),
    },
};

pub(crate) const DATA_GAPS: Figure = Figure {
    file: "data-gaps.png",
    alt: "data gaps",
    draw: Draw::Run {
        size: fixed,
        draw: |a, d| plot::draw_data_gaps(a, d),
    },
};

pub(crate) const CONNECTION_GAPS: Figure = Figure {
    file: "connection-gaps.png",
    alt: "connection gaps",
    draw: Draw::Run {
        size: fixed,
        draw: |a, d| plot::draw_connection_gaps(a, d),
    },
};

pub(crate) const FIT: Figure = Figure {
    file: "fit.png",
    alt: "fit",
    draw: Draw::Run {
        size: plot::fit_size,
        draw: |a, d| plot::draw_fit(a, d),
    },
};

pub(crate) const LATENESS: Figure = Figure {
    file: "lateness.png",
    alt: "lateness",
    draw: Draw::Run {
        size: fixed,
        draw: |a, d| plot::draw_lateness(a, d),
    },
};

pub(crate) const DELAY: Figure = Figure {
    file: "delay.png",
    alt: "server delay",
    draw: Draw::Run {
        size: fixed,
        draw: |a, d| plot::draw_delay(a, d),
    },
};

pub(crate) const MERGED: Figure = Figure {
    file: "merged.png",
    alt: "merged data stream",
    draw: Draw::Run {
        size: fixed,
        draw: |a, d| plot::draw_merged(a, d),
    },
};

pub(crate) const MODES: Figure = Figure {
    file: "modes.png",
    alt: "modes",
    draw: Draw::Sweep(|a, sets| plot::draw_modes(a, sets)),
};

pub(crate) const DISTORTION: Figure = Figure {
    file: "distortion.png",
    alt: "distortion",
    draw: Draw::Sweep(|a, sets| plot::draw_distortion(a, sets)),
};

pub(crate) const DELAY_MODES: Figure = Figure {
    file: "delay.png",
    alt: "server delay per mode",
    draw: Draw::Sweep(|a, sets| plot::draw_delay_modes(a, sets)),
};

/// Every figure, in the order they are written.
pub(crate) const FIGURES: [Figure; 10] = [
    TIMELINE,
    DATA_GAPS,
    CONNECTION_GAPS,
    FIT,
    LATENESS,
    DELAY,
    MERGED,
    MODES,
    DISTORTION,
    DELAY_MODES,
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_names_are_unique_per_page_and_embeds_name_them() {
        // A run's figures and a sweep's are written to different folders.
        for run in [true, false] {
            let mut files: Vec<&str> = FIGURES
                .iter()
                .filter(|f| matches!(f.draw, Draw::Run { .. }) == run)
                .map(|f| f.file)
                .collect();
            let n = files.len();
            files.sort_unstable();
            files.dedup();
            assert_eq!(files.len(), n);
        }
        assert_eq!(DATA_GAPS.embed(), "![data gaps](data-gaps.png)");
    }
}
