//! The `--count N` summary of `stream-route test`: min/median/max of connect time, TLS
//! handshake time and round-trip time over the attempts that got that far, and how many
//! attempts failed.

use std::time::Duration;

use serde_json::{json, Value};

/// min, median and max of one measure.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Spread {
    pub min: Duration,
    pub median: Duration,
    pub max: Duration,
    /// How many attempts measured it.
    pub samples: usize,
}

impl Spread {
    /// The spread of `values`, `None` when empty. The median of an even count is the mean
    /// of the two middle values.
    pub fn of(mut values: Vec<Duration>) -> Option<Spread> {
        values.sort();
        let n = values.len();
        let (min, max) = (*values.first()?, *values.last()?);
        let median = if n % 2 == 1 {
            values[n / 2]
        } else {
            (values[n / 2 - 1] + values[n / 2]) / 2
        };
        Some(Spread {
            min,
            median,
            max,
            samples: n,
        })
    }

    fn to_json(self) -> Value {
        let ms = |d: Duration| (d.as_secs_f64() * 1e6).round() / 1e3;
        json!({"min_ms": ms(self.min), "median_ms": ms(self.median), "max_ms": ms(self.max),
               "samples": self.samples})
    }
}

/// The summary of all attempts.
#[derive(Debug, Clone, PartialEq)]
pub struct Summary {
    pub attempts: usize,
    pub failed: usize,
    pub connect: Option<Spread>,
    pub tls: Option<Spread>,
    pub round_trip: Option<Spread>,
}

/// Summarises `(connect, tls handshake, round trip)` per attempt.
pub fn summarise(
    attempts: impl Iterator<Item = (Option<Duration>, Option<Duration>, Option<Duration>)>,
    failed: usize,
) -> Summary {
    let (mut connect, mut tls, mut rtt) = (Vec::new(), Vec::new(), Vec::new());
    let mut n = 0;
    for (c, t, r) in attempts {
        n += 1;
        connect.extend(c);
        tls.extend(t);
        rtt.extend(r);
    }
    Summary {
        attempts: n,
        failed,
        connect: Spread::of(connect),
        tls: Spread::of(tls),
        round_trip: Spread::of(rtt),
    }
}

impl Summary {
    /// The summary object of the JSON/YAML output.
    pub fn to_json(&self) -> Value {
        json!({"attempts": self.attempts, "failed": self.failed,
               "connect": self.connect.map(Spread::to_json),
               "tls": self.tls.map(Spread::to_json),
               "round_trip": self.round_trip.map(Spread::to_json)})
    }

    /// The table printed after the attempts.
    pub fn render(&self) -> String {
        let ms = |d: Duration| format!("{:.3} ms", d.as_secs_f64() * 1e3);
        let mut out = format!(
            "{} attempts, {} ok, {} failed\n",
            self.attempts,
            self.attempts - self.failed.min(self.attempts),
            self.failed
        );
        let mut table = crate::output::Table::new(&["", "MIN", "MEDIAN", "MAX", "SAMPLES"]);
        for (name, spread) in [
            ("connect", self.connect),
            ("tls", self.tls),
            ("round trip", self.round_trip),
        ] {
            if let Some(s) = spread {
                table.rows.push(vec![
                    name.to_owned(),
                    ms(s.min),
                    ms(s.median),
                    ms(s.max),
                    s.samples.to_string(),
                ]);
            }
        }
        out.push_str(&table.render());
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn spread_has_min_median_max_for_odd_and_even_counts() {
        let odd = Spread::of(vec![ms(5), ms(1), ms(3)]).expect("values");
        assert_eq!((odd.min, odd.median, odd.max), (ms(1), ms(3), ms(5)));
        let even = Spread::of(vec![ms(4), ms(1), ms(2), ms(10)]).expect("values");
        assert_eq!((even.min, even.median, even.max), (ms(1), ms(3), ms(10)));
        assert_eq!(Spread::of(Vec::new()), None);
    }

    #[test]
    fn summary_counts_failures_and_skips_missing_measures() {
        let s = summarise(
            [(Some(ms(1)), None, Some(ms(2))), (None, None, None)].into_iter(),
            1,
        );
        assert_eq!((s.attempts, s.failed), (2, 1));
        assert_eq!(s.connect.map(|c| c.samples), Some(1));
        assert_eq!(s.tls, None);
        let text = s.render();
        assert!(text.starts_with("2 attempts, 1 ok, 1 failed\n"), "{text}");
        assert!(text.contains("round trip  2.000 ms"), "{text}");
        assert!(!text.contains("tls"), "{text}");
    }
}
