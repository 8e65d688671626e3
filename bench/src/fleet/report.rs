//! `gwbench fleet-report`: the convergence table of both fleet runs, from the lines
//! `run<TAB>key<TAB>value` that `gwbench fleet --results` appends (runs `up` and `down`).
//!
//! Targets (issue #14): p99 ≤ 100 ms and max ≤ 1 s in both runs, and every write converges
//! (a write A refused or B never proxied is a miss, not a gap in the figures).

use std::collections::BTreeMap;
use std::fmt::Write as _;

/// The runs, in column order, with their headings.
const RUNS: [(&str, &str); 2] = [("up", "all members up"), ("down", "one member down")];

/// How a row's value is checked.
#[derive(Clone, Copy)]
enum Check {
    /// No target.
    None,
    /// At most this many milliseconds.
    MaxMs(f64),
    /// Every write converged.
    AllConverged,
}

struct Row {
    label: &'static str,
    key: &'static str,
    target: &'static str,
    check: Check,
}

const ROWS: &[Row] = &[
    Row {
        label: "convergence p50 (ms)",
        key: "converge_p50_ms",
        target: "–",
        check: Check::None,
    },
    Row {
        label: "convergence p99 (ms)",
        key: "converge_p99_ms",
        target: "≤ 100",
        check: Check::MaxMs(100.0),
    },
    Row {
        label: "convergence max (ms)",
        key: "converge_max_ms",
        target: "≤ 1000",
        check: Check::MaxMs(1000.0),
    },
    Row {
        label: "writes converged on B",
        key: "converged",
        target: "all",
        check: Check::AllConverged,
    },
    Row {
        label: "failed writes (A: non-2xx or no answer)",
        key: "write_errors",
        target: "–",
        check: Check::None,
    },
    Row {
        label: "not proxied by B within the bound",
        key: "timeouts",
        target: "–",
        check: Check::None,
    },
    Row {
        label: "B proxied the source before the write (stale)",
        key: "stale",
        target: "–",
        check: Check::None,
    },
    Row {
        label: "skipped (run time budget spent)",
        key: "skipped",
        target: "–",
        check: Check::None,
    },
    Row {
        label: "Admin API PUT on A p50 (ms)",
        key: "admin_p50_ms",
        target: "–",
        check: Check::None,
    },
    Row {
        label: "Admin API PUT on A p99 (ms)",
        key: "admin_p99_ms",
        target: "–",
        check: Check::None,
    },
];

/// The values of one run.
type Run = BTreeMap<String, String>;

/// Renders the table; the flag is true when every target is met in every run.
pub fn render(input: &str) -> (String, bool) {
    let mut runs: BTreeMap<String, Run> = BTreeMap::new();
    for line in input.lines() {
        let mut parts = line.splitn(3, '\t');
        if let (Some(run), Some(key), Some(value)) = (parts.next(), parts.next(), parts.next()) {
            runs.entry(run.to_string())
                .or_default()
                .insert(key.to_string(), value.trim().to_string());
        }
    }
    let mut out = String::from("| figure |");
    for (_, heading) in RUNS {
        let _ = write!(out, " {heading} |");
    }
    out.push_str(" target | met? |\n|---|---|---|---|---|\n");
    let mut all_met = true;
    for row in ROWS {
        let _ = write!(out, "| {} |", row.label);
        let mut missed = Vec::new();
        for (run, heading) in RUNS {
            let values = runs.get(run);
            let _ = write!(out, " {} |", cell(row, values));
            if !met(row, values) {
                missed.push(heading);
            }
        }
        let verdict = match (row.check, missed.as_slice()) {
            (Check::None, _) => "–".to_string(),
            (_, []) => "yes".to_string(),
            (_, [one]) => format!("**no** ({one})"),
            _ => "**no**".to_string(),
        };
        all_met &= missed.is_empty();
        let _ = writeln!(out, " {} | {verdict} |", row.target);
    }
    (out, all_met)
}

/// The text of one cell: milliseconds rounded, a timeout as `> <bound>`, counts as they are.
fn cell(row: &Row, run: Option<&Run>) -> String {
    let Some(run) = run else {
        return "not run".to_string();
    };
    let Some(value) = run.get(row.key) else {
        return "–".to_string();
    };
    if row.key == "converged" {
        let writes = run.get("writes").map_or("?", String::as_str);
        return format!("{value} / {writes}");
    }
    if !row.key.ends_with("_ms") {
        return value.clone();
    }
    match value.parse::<f64>() {
        Ok(v) if v.is_finite() => rounded(v),
        Ok(_) => format!(
            "> {}",
            run.get("timeout_ms").map_or("bound", String::as_str)
        ),
        Err(_) => "–".to_string(),
    }
}

/// Milliseconds with three significant digits (0.842, 12.5, 431).
fn rounded(v: f64) -> String {
    if v >= 100.0 {
        format!("{v:.0}")
    } else if v >= 10.0 {
        format!("{v:.1}")
    } else {
        format!("{v:.2}")
    }
}

fn met(row: &Row, run: Option<&Run>) -> bool {
    let number = |key: &str| {
        run.and_then(|r| r.get(key))
            .and_then(|v| v.parse::<f64>().ok())
    };
    match row.check {
        Check::None => true,
        Check::MaxMs(bound) => number(row.key).is_some_and(|v| v <= bound),
        Check::AllConverged => matches!(
            (number("converged"), number("writes")),
            (Some(converged), Some(writes)) if writes > 0.0 && converged == writes
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run_lines(run: &str, p99: &str, max: &str, converged: usize) -> String {
        format!(
            "{run}\twrites\t1000\n{run}\tconverged\t{converged}\n{run}\twrite_errors\t0\n\
             {run}\ttimeouts\t{}\n{run}\tskipped\t0\n{run}\ttimeout_ms\t5000\n\
             {run}\tconverge_p50_ms\t4.250\n{run}\tconverge_p99_ms\t{p99}\n\
             {run}\tconverge_max_ms\t{max}\n{run}\tadmin_p50_ms\t2.000\n{run}\tadmin_p99_ms\t9.000\n",
            1000 - converged
        )
    }

    #[test]
    fn both_runs_within_targets_are_met() {
        let input = run_lines("up", "12.5", "80.0", 1000) + &run_lines("down", "30.1", "400", 1000);
        let (table, met) = render(&input);
        assert!(met, "{table}");
        assert!(
            table.contains("| convergence p99 (ms) | 12.5 | 30.1 | ≤ 100 | yes |"),
            "{table}"
        );
        assert!(
            table.contains("| writes converged on B | 1000 / 1000 | 1000 / 1000 | all | yes |"),
            "{table}"
        );
    }

    #[test]
    fn timeouts_in_one_run_miss_the_targets_and_name_that_run() {
        let input = run_lines("up", "12.5", "80.0", 1000) + &run_lines("down", "inf", "inf", 900);
        let (table, met) = render(&input);
        assert!(!met, "{table}");
        assert!(
            table.contains(
                "| convergence max (ms) | 80.0 | > 5000 | ≤ 1000 | **no** (one member down) |"
            ),
            "{table}"
        );
        assert!(
            table.contains("| 1000 / 1000 | 900 / 1000 | all | **no** (one member down) |"),
            "{table}"
        );
    }

    #[test]
    fn a_missing_run_is_shown_and_missed() {
        let (table, met) = render(&run_lines("up", "1", "2", 1000));
        assert!(!met);
        assert!(
            table.contains("| convergence p50 (ms) | 4.25 | not run | – | – |"),
            "{table}"
        );
    }
}
