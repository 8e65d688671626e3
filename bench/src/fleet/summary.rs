//! What one fleet run measured: per write either a convergence time, a timeout, a failed
//! write or a stale source (and the writes skipped at the end); summarised as `key=value` lines (stdout) and `run<TAB>key<TAB>value` lines
//! (the results file that `gwbench fleet-report` reads), and listed write by write.
//!
//! Percentiles are nearest-rank over every write that A answered with 2xx; a write that did
//! not converge within the bound counts as infinitely slow (written `inf`), so more than 1 %
//! of timeouts shows in p99 rather than disappearing from it.

use std::fmt::Write as _;
use std::time::Duration;

/// What happened to one write.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Outcome {
    /// B proxied the route's source before the write (stale state; not measured).
    Stale,
    /// A answered non-2xx, or did not answer.
    WriteError,
    /// A answered 2xx after `admin`; B proxied the route `converge` after that answer.
    Converged { admin: Duration, converge: Duration },
    /// A answered 2xx after `admin`; B did not proxy the route within the bound.
    TimedOut { admin: Duration },
}

/// The outcome of each write of one run, in order.
#[derive(Debug, Default)]
pub struct Summary {
    /// One entry per attempted write (index = route number).
    pub outcomes: Vec<Outcome>,
    /// Writes never attempted because the run's time budget ran out.
    pub skipped: usize,
    /// The first failure, for the log.
    pub first_error: Option<String>,
}

impl Summary {
    /// Records a failure message if it is the first.
    pub fn note_error(&mut self, message: String) {
        if self.first_error.is_none() {
            self.first_error = Some(message);
        }
    }

    fn count(&self, wanted: fn(&Outcome) -> bool) -> usize {
        self.outcomes.iter().filter(|o| wanted(o)).count()
    }

    /// Writes that converged within the bound.
    pub fn converged(&self) -> usize {
        self.count(|o| matches!(o, Outcome::Converged { .. }))
    }

    /// Writes A accepted that B never proxied within the bound.
    pub fn timeouts(&self) -> usize {
        self.count(|o| matches!(o, Outcome::TimedOut { .. }))
    }

    /// Writes A refused or did not answer.
    pub fn write_errors(&self) -> usize {
        self.count(|o| matches!(o, Outcome::WriteError))
    }

    /// One line per write: `index<TAB>outcome<TAB>admin ms<TAB>convergence ms`.
    pub fn samples(&self) -> String {
        let mut out = String::from("write\toutcome\tadmin_ms\tconverge_ms\n");
        for (index, outcome) in self.outcomes.iter().enumerate() {
            let (name, admin, converge) = match outcome {
                Outcome::Stale => ("stale", None, None),
                Outcome::WriteError => ("write_error", None, None),
                Outcome::Converged { admin, converge } => {
                    ("converged", Some(*admin), Some(*converge))
                }
                Outcome::TimedOut { admin } => ("timeout", Some(*admin), None),
            };
            let ms = |d: Option<Duration>| {
                d.map_or("-".to_string(), |d| format!("{:.3}", d.as_secs_f64() * 1e3))
            };
            let _ = writeln!(out, "{index}\t{name}\t{}\t{}", ms(admin), ms(converge));
        }
        out
    }

    /// The `key`, `value` pairs of this run (milliseconds with 3 decimals, `inf`, or `-`).
    pub fn pairs(&self, writes: usize, timeout: Duration, seconds: f64) -> Vec<(String, String)> {
        let mut converge = Vec::new();
        let mut admin = Vec::new();
        for outcome in &self.outcomes {
            match outcome {
                Outcome::Converged {
                    admin: a,
                    converge: c,
                } => {
                    admin.push(a.as_secs_f64() * 1e3);
                    converge.push(c.as_secs_f64() * 1e3);
                }
                Outcome::TimedOut { admin: a } => {
                    admin.push(a.as_secs_f64() * 1e3);
                    converge.push(f64::INFINITY);
                }
                Outcome::Stale | Outcome::WriteError => {}
            }
        }
        let mut pairs = vec![
            ("writes", writes.to_string()),
            ("converged", self.converged().to_string()),
            ("write_errors", self.write_errors().to_string()),
            ("timeouts", self.timeouts().to_string()),
            (
                "stale",
                self.count(|o| matches!(o, Outcome::Stale)).to_string(),
            ),
            ("skipped", self.skipped.to_string()),
            ("timeout_ms", timeout.as_millis().to_string()),
            ("converge_p50_ms", ms(percentile(&converge, 50.0))),
            ("converge_p99_ms", ms(percentile(&converge, 99.0))),
            ("converge_max_ms", ms(percentile(&converge, 100.0))),
            ("admin_p50_ms", ms(percentile(&admin, 50.0))),
            ("admin_p99_ms", ms(percentile(&admin, 99.0))),
            ("seconds", format!("{seconds:.1}")),
        ];
        if let Some(error) = &self.first_error {
            pairs.push(("first_error", error.replace(['\t', '\n'], " ")));
        }
        pairs.into_iter().map(|(k, v)| (k.to_string(), v)).collect()
    }
}

/// Nearest-rank percentile `p` (0 < p ≤ 100) of `values`; `None` when empty.
pub fn percentile(values: &[f64], p: f64) -> Option<f64> {
    if values.is_empty() {
        return None;
    }
    let mut sorted = values.to_vec();
    sorted.sort_by(|a, b| a.total_cmp(b));
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    Some(sorted[rank.clamp(1, sorted.len()) - 1])
}

fn ms(value: Option<f64>) -> String {
    match value {
        Some(v) if v.is_finite() => format!("{v:.3}"),
        Some(_) => "inf".to_string(),
        None => "-".to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_rank_percentiles() {
        let values: Vec<f64> = (1..=100).map(f64::from).collect();
        assert_eq!(percentile(&values, 50.0), Some(50.0));
        assert_eq!(percentile(&values, 99.0), Some(99.0));
        assert_eq!(percentile(&values, 100.0), Some(100.0));
        assert_eq!(percentile(&[7.0], 99.0), Some(7.0));
        assert_eq!(percentile(&[], 50.0), None);
    }

    #[test]
    fn timeouts_count_as_infinitely_slow() {
        let mut summary = Summary::default();
        let admin = Duration::from_millis(2);
        for i in 0..98 {
            let converge = Duration::from_millis(i);
            summary
                .outcomes
                .push(Outcome::Converged { admin, converge });
        }
        summary.outcomes.push(Outcome::TimedOut { admin });
        summary.outcomes.push(Outcome::TimedOut { admin });
        summary.outcomes.push(Outcome::WriteError);
        let pairs = summary.pairs(100, Duration::from_secs(5), 1.0);
        let get = |key: &str| {
            pairs
                .iter()
                .find(|(k, _)| k == key)
                .map(|(_, v)| v.clone())
                .expect("key present")
        };
        assert_eq!(get("timeouts"), "2");
        assert_eq!(get("converged"), "98");
        assert_eq!(get("converge_p50_ms"), "49.000");
        assert_eq!(get("converge_p99_ms"), "inf");
        assert_eq!(get("converge_max_ms"), "inf");
        assert_eq!(get("write_errors"), "1");
        assert_eq!(get("admin_p50_ms"), "2.000");
        let samples = summary.samples();
        assert!(
            samples.contains("\n3\tconverged\t2.000\t3.000\n"),
            "{samples}"
        );
        assert!(samples.contains("\n98\ttimeout\t2.000\t-\n"), "{samples}");
        assert!(samples.ends_with("\n100\twrite_error\t-\t-\n"), "{samples}");
    }
}
