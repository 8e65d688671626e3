//! [`Sample`]: one row of the soak record (the gateway's reading and the driver's counters at
//! one moment), and the CSV file they are written to.

use std::fmt::Write as _;

use super::probe::GatewayReading;
use super::tally::{get, Tally};

/// The driver's counters at one moment (cumulative since the driver started).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct ClientReading {
    pub held_open: u64,
    pub held_opened: u64,
    pub held_echoes: u64,
    pub churn_done: u64,
    pub churn_skipped: u64,
    pub bulk_conns: u64,
    pub bulk_bytes: u64,
    pub udp_sessions: u64,
    pub udp_datagrams: u64,
    pub udp_resent: u64,
    pub errors: u64,
    /// Every TCP connection and UDP session the driver made.
    pub sessions: u64,
}

impl ClientReading {
    /// The counters of `tally` now.
    pub fn of(tally: &Tally) -> ClientReading {
        ClientReading {
            held_open: get(&tally.held_open),
            held_opened: get(&tally.held_opened),
            held_echoes: get(&tally.held_echoes),
            churn_done: get(&tally.churn_done),
            churn_skipped: get(&tally.churn_skipped),
            bulk_conns: get(&tally.bulk_conns),
            bulk_bytes: get(&tally.bulk_bytes),
            udp_sessions: get(&tally.udp_sessions),
            udp_datagrams: get(&tally.udp_datagrams),
            udp_resent: get(&tally.udp_resent),
            errors: get(&tally.errors),
            sessions: tally.sessions(),
        }
    }
}

/// One row: when, in which phase, the gateway and the driver.
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    /// Seconds since the driver started.
    pub t_secs: f64,
    /// `start`, `warmup`, `drain`, `baseline`, `ramp`, `load`, `after`.
    pub phase: &'static str,
    pub gateway: GatewayReading,
    pub client: ClientReading,
}

/// The CSV header line.
pub const CSV_HEADER: &str = "t_secs,phase,rss_kb,fds,sessions,gw_sessions_total,\
gw_sessions_failed,gw_bytes_from_clients,held_open,churn_done,bulk_bytes,udp_datagrams,client_errors";

/// The samples as CSV, header first.
pub fn csv(samples: &[Sample]) -> String {
    let mut out = String::with_capacity(64 * (samples.len() + 1));
    out.push_str(CSV_HEADER);
    out.push('\n');
    for s in samples {
        let (g, c) = (&s.gateway, &s.client);
        // Writing to a String cannot fail.
        let _ = writeln!(
            out,
            "{:.1},{},{},{},{},{},{},{},{},{},{},{},{}",
            s.t_secs,
            s.phase,
            g.rss_kb,
            g.fds,
            g.sessions,
            g.sessions_total,
            g.sessions_failed,
            g.bytes_from_clients,
            c.held_open,
            c.churn_done,
            c.bulk_bytes,
            c.udp_datagrams,
            c.errors
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_has_a_header_and_one_line_per_sample_with_every_column() {
        let sample = Sample {
            t_secs: 10.04,
            phase: "load",
            gateway: GatewayReading {
                rss_kb: 51_200,
                fds: 20_031,
                sessions: 10_064,
                sessions_total: 7,
                sessions_failed: 0,
                bytes_from_clients: 99,
            },
            client: ClientReading {
                held_open: 10_000,
                churn_done: 5_000,
                bulk_bytes: 1 << 20,
                udp_datagrams: 640,
                errors: 0,
                sessions: 15_064,
                ..ClientReading::default()
            },
        };
        let text = csv(&[sample.clone(), sample]);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 3);
        assert_eq!(lines[0], CSV_HEADER);
        assert_eq!(
            lines[1],
            "10.0,load,51200,20031,10064,7,0,99,10000,5000,1048576,640,0"
        );
        let columns = CSV_HEADER.split(',').count();
        assert!(lines.iter().all(|l| l.split(',').count() == columns));
    }
}
