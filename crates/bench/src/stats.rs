//! Statistics: the goodness-of-fit pipeline of `cargo bench -p arrivals --bench stats`
//! ([`arrivals::benchmark::gof_pipeline`]), in process, each step next to the one sort.

use crate::table::Row;
use crate::{Sizes, group_rows};

const GROUP: &str = "stats";
const SORT: &str = "gof::sorted (the one sort)";

/// One row per step, in ms, each compared with the sort.
pub fn rows(sizes: &Sizes) -> Vec<Row> {
    group_rows(GROUP, "pipeline", || {
        let steps = arrivals::benchmark::gof_pipeline(sizes.stats_n, 1)?;
        Ok(steps
            .into_iter()
            .map(|s| {
                let n = format!("n = {}", sizes.stats_n);
                let note = if s.name == SORT {
                    n
                } else {
                    format!("{n}; {}", s.result)
                };
                let row = Row::new(GROUP, &s.name, s.took.as_secs_f64() * 1e3, "ms").note(note);
                if s.name == SORT { row } else { row.vs(SORT) }
            })
            .collect())
    })
}
