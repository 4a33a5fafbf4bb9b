//! The "theory vs measurement" sections: per run (the inputs, each prediction with its
//! measurement, the merged data stream), across the runs of a mode (with 95 % confidence
//! intervals and a verdict), and the index's table across scenarios.

use std::fmt::Write as _;

use crate::dataset::Dataset;
use crate::report::figures;
use crate::report::format::short_p;
use crate::theory::{self, MIN_CONNECTIONS, Verified};

fn num(v: Option<f64>) -> String {
    match v {
        Some(v) if v.abs() >= 100.0 => format!("{v:.1}"),
        Some(v) => format!("{v:.3}"),
        None => "n/a".to_owned(),
    }
}

/// `## Theory vs measurement` of a run page.
pub(super) fn run_section(out: &mut String, d: &Dataset, results_link: &str) {
    let t = theory::theory(d);
    let i = t.inputs;
    out.push_str("\n## Theory vs measurement\n\n");
    let _ = writeln!(
        out,
        "Queueing theory for this mode, fed with what the run measured: λ = {} connections/s \
         (from the clients' connect calls), E[S] = {} ms and E[S²] = {} ms² (the connections' \
         service times, accept → close), ρ = λE[S] = {}; the connect gaps against an \
         exponential law: {}. An iterative server is an M/G/1 queue, the concurrent modes are \
         M/G/∞; the formulas assume Poisson arrivals and at least {MIN_CONNECTIONS} \
         connections, Little's law nothing. Every figure is in \
         [`theory.csv`]({results_link}/theory.csv).\n",
        num(i.lambda.map(|l| l.per_second())),
        num(i.es_ms),
        num(i.es2_ms2),
        num(i.rho),
        i.poisson.map_or_else(
            || "no gaps".to_owned(),
            |p| format!(
                "KS D = {:.3}, {}",
                p.ks.statistic,
                if p.plausible() {
                    "plausibly Poisson"
                } else {
                    "not Poisson at 5 %"
                }
            )
        )
    );
    out.push_str("| quantity | formula | predicted | measured | |\n|---|---|---:|---:|---|\n");
    for p in &t.predictions {
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} | {} |",
            p.quantity.describe(),
            p.quantity.formula(),
            if p.not_applicable.is_some() {
                "—".to_owned()
            } else {
                num(p.predicted)
            },
            num(p.measured),
            p.not_applicable
                .as_deref()
                .map_or_else(String::new, |w| format!("does not apply: {w}"))
        );
    }
    let m = theory::merged(d);
    let ks = |k: Option<arrivals::gof::KsResult>| {
        k.map_or_else(
            || "n/a | n/a".to_owned(),
            |k| format!("{:.3} | {}", k.statistic, short_p(k.p_value)),
        )
    };
    let _ = writeln!(
        out,
        "\nThe server's **merged** data stream — its {} gaps in time order, from the instant every \
         connection had sent {} messages to the first connection's last message, where all \
         streams are active and past their common start — is \
         the superposition of the clients' streams: Poisson clients merge to a Poisson stream \
         exactly, renewal clients of another law approach one as their number grows \
         (Palm–Khintchine), and for N stationary streams the merged gap Y has \
         P(Y > y) = (1 − F(y)) · Ḡ(y)^(N−1), Ḡ the equilibrium survival of the interval law \
         (concurrent modes only: an iterative server reads one stream at a time).\n",
        m.gaps.len(),
        theory::WARM_UP_MESSAGES
    );
    out.push_str("| merged data gaps against | KS D | KS p | predicted D to the exponential |\n|---|---:|---:|---:|\n");
    let _ = writeln!(
        out,
        "| exponential of the clients' total rate ({} /s) | {} | |",
        num(m.rate_per_ms.map(|r| r * 1e3)),
        ks(m.vs_exponential)
    );
    let _ = writeln!(
        out,
        "| superposition of the clients' streams | {} | {} |",
        ks(m.vs_superposition),
        num(m.predicted_d)
    );
    if m.on_kernel_clock {
        let _ = writeln!(
            out,
            "| exponential, the server's read instants instead of the kernel's | {} | |",
            ks(m.read_vs_exponential)
        );
        out.push_str(
            "\nThe merged gaps are on the kernel's arrival clock: what the clients' streams \
             delivered. The last row takes the server's read instants instead; where its D is \
             larger, the server's reading reshaped the merged stream.\n",
        );
    }
    let _ = write!(out, "\n{}\n", figures::MERGED.embed());
}

/// The predictions of each mode across its runs, with the measured mean, its 95 % CI and
/// the verdict. `sets` holds each mode's runs.
pub(super) fn verified_table(out: &mut String, sets: &[Vec<&Dataset>]) {
    out.push_str("| mode | quantity | formula | predicted | measured | runs | verdict |\n");
    out.push_str("|---|---|---|---:|---:|---:|---|\n");
    for runs in sets {
        let Some(first) = runs.first() else { continue };
        for v in theory::verify(runs) {
            let _ = writeln!(out, "| {} | {} |", first.mode, verified_cells(&v));
        }
    }
}

/// `quantity | formula | predicted | measured ± CI | runs | verdict` of one prediction.
pub(super) fn verified_cells(v: &Verified) -> String {
    let measured = match (v.measured, v.ci95) {
        (Some(m), Some(h)) => format!("{} ± {}", num(Some(m)), num(Some(h))),
        (m, _) => num(m),
    };
    let verdict = match &v.not_applicable {
        Some(why) => format!("does not apply: {why}"),
        None => v.verdict().to_owned(),
    };
    format!(
        "{} | {} | {} | {measured} | {} | {verdict}",
        v.quantity.describe(),
        v.quantity.formula(),
        if v.not_applicable.is_some() {
            "—".to_owned()
        } else {
            num(v.predicted)
        },
        v.runs
    )
}
