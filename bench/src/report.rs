//! The benchmark table: medians (min–max) per system and figure, ratios, targets (BENCH.md).
//!
//! Input: lines `system<TAB>figure<TAB>value`, one per measurement (runs repeat lines).
//! Systems: `direct`, `ours`, `nginx`, `haproxy`; and `meta<TAB>routes<TAB>N`, the number of
//! filler routes of the route-scale figure (named in its label). With `baseline` (an older
//! build of ours, `BENCH_BASELINE`), a second table compares ours with it, figure by figure.
//! Every `meta<TAB>NAME<TAB>N` line fills `{NAME}` in the labels (e.g. the idle connection
//! count). `lowlat` is a second gateway in the low-latency mode (`busy_poll_us`): its rows
//! show it in the ours column beside nginx's and HAProxy's default figures.

use std::collections::BTreeMap;
use std::fmt::Write;

const SYSTEMS: [&str; 4] = ["direct", "ours", "nginx", "haproxy"];

/// An older build of ours, run beside the others (`BENCH_BASELINE`).
const BASELINE: &str = "baseline";

/// Our gateway in the low-latency mode (`apisix.stream_proxy.busy_poll_us`).
const LOWLAT: &str = "lowlat";

/// How far ours may fall behind the baseline and still count as no worse: the run-to-run
/// spread of one figure on the 2-core rig.
const NOISE: f64 = 0.05;

/// Which way is better for a figure.
#[derive(Clone, Copy, PartialEq)]
enum Better {
    Higher,
    Lower,
}

/// A target: ours ÷ `peer` compared with `factor` (or an absolute bound when `peer` is None).
struct Target {
    text: &'static str,
    checks: &'static [(Option<&'static str>, f64)],
}

struct Figure {
    key: &'static str,
    label: &'static str,
    better: Better,
    target: Option<Target>,
}

const BULK: Target = Target {
    text: "≥1.5× nginx, ≥1.5× HAProxy, ≥0.8× direct",
    checks: &[
        (Some("nginx"), 1.5),
        (Some("haproxy"), 1.5),
        (Some("direct"), 0.8),
    ],
};

const FIGURES: &[Figure] = &[
    Figure {
        key: "tput1",
        label: "bulk, 1 stream (Gbit/s)",
        better: Better::Higher,
        target: Some(BULK),
    },
    Figure {
        key: "tputR",
        label: "bulk, 1 stream reverse -R (Gbit/s)",
        better: Better::Higher,
        target: Some(BULK),
    },
    Figure {
        key: "tputP4",
        label: "bulk, 4 streams -P 4 (Gbit/s)",
        better: Better::Higher,
        target: Some(BULK),
    },
    Figure {
        key: "cpu_gb",
        label: "proxy CPU-ms per GB (bulk)",
        better: Better::Lower,
        target: Some(Target {
            text: "≤0.5× nginx",
            checks: &[(Some("nginx"), 0.5)],
        }),
    },
    Figure {
        key: "lat_p50",
        label: "TCP 64 B latency p50 (µs, half RTT)",
        better: Better::Lower,
        target: None,
    },
    Figure {
        key: "lat_p99",
        label: "TCP 64 B latency p99 (µs, half RTT)",
        better: Better::Lower,
        target: None,
    },
    Figure {
        key: "added_p50",
        label: "added p50 vs direct (µs)",
        better: Better::Lower,
        target: Some(Target {
            text: "≤0.8× nginx",
            checks: &[(Some("nginx"), 0.8)],
        }),
    },
    Figure {
        key: "added_p99",
        label: "added p99 vs direct (µs)",
        better: Better::Lower,
        target: Some(Target {
            text: "≤0.8× nginx",
            checks: &[(Some("nginx"), 0.8)],
        }),
    },
    Figure {
        key: "conn_s",
        label: "new connections/s (wrk, Connection: close)",
        better: Better::Higher,
        target: None,
    },
    Figure {
        key: "cpu_kconn",
        label: "proxy CPU-ms per 1,000 connections",
        better: Better::Lower,
        target: Some(Target {
            text: "≤0.8× HAProxy",
            checks: &[(Some("haproxy"), 0.8)],
        }),
    },
    Figure {
        key: "idle_bytes",
        label: "bytes per idle connection (RSS Δ ÷ N)",
        better: Better::Lower,
        target: Some(Target {
            text: "≤4 KiB",
            checks: &[(None, 4096.0)],
        }),
    },
    Figure {
        key: "udp_dps",
        label: "UDP datagrams/s (64 B, 16 in flight)",
        better: Better::Higher,
        target: Some(Target {
            text: "≥1.2× nginx",
            checks: &[(Some("nginx"), 1.2)],
        }),
    },
    Figure {
        key: "udp_p50",
        label: "UDP 64 B latency p50 (µs, half RTT)",
        better: Better::Lower,
        target: None,
    },
    Figure {
        key: "udp_p99",
        label: "UDP 64 B latency p99 (µs, half RTT)",
        better: Better::Lower,
        target: None,
    },
    Figure {
        key: "stats_cost",
        label: "conn/s with live stats ÷ without (registry on in both)",
        better: Better::Higher,
        target: Some(Target {
            text: "≥0.95 (cost within 5 %)",
            checks: &[(None, 0.95)],
        }),
    },
    Figure {
        key: "route_scale",
        label: "conn/s with {routes} routes ÷ with 1 route",
        better: Better::Higher,
        target: Some(Target {
            text: "≥0.9 (cost within 10 %)",
            checks: &[(None, 0.9)],
        }),
    },
    // TLS (scripts/bench_tls.sh): termination, resumption, bulk, SNI passthrough.
    Figure {
        key: "tls_hs_ec",
        label: "TLS 1.3 full handshakes/s, EC P-256 (+ 32 B echo)",
        better: Better::Higher,
        target: None,
    },
    Figure {
        key: "tls_cpu_ec",
        label: "proxy CPU-ms per 1,000 full handshakes, EC P-256",
        better: Better::Lower,
        target: Some(Target {
            text: "≤0.6× nginx",
            checks: &[(Some("nginx"), 0.6)],
        }),
    },
    Figure {
        key: "tls_hs_rsa",
        label: "TLS 1.3 full handshakes/s, RSA 2048 (+ 32 B echo)",
        better: Better::Higher,
        target: None,
    },
    Figure {
        key: "tls_cpu_rsa",
        label: "proxy CPU-ms per 1,000 full handshakes, RSA 2048",
        better: Better::Lower,
        target: None,
    },
    Figure {
        key: "tls_hs_resumed",
        label: "TLS 1.3 resumed handshakes/s (session tickets, EC P-256)",
        better: Better::Higher,
        target: None,
    },
    Figure {
        key: "tls_cpu_resumed",
        label: "proxy CPU-ms per 1,000 resumed handshakes",
        better: Better::Lower,
        target: None,
    },
    Figure {
        key: "tls_resumed_frac",
        label: "share of those handshakes that resumed (rows valid near 1)",
        better: Better::Higher,
        target: Some(Target {
            text: "≥0.99",
            checks: &[(None, 0.99)],
        }),
    },
    Figure {
        key: "tls_bulk",
        label: "TLS bulk download, 4 streams (Gbit/s)",
        better: Better::Higher,
        target: None,
    },
    Figure {
        key: "tls_cpu_gb",
        label: "proxy CPU-ms per GB (TLS bulk)",
        better: Better::Lower,
        target: Some(Target {
            text: "≤0.7× nginx",
            checks: &[(Some("nginx"), 0.7)],
        }),
    },
    Figure {
        key: "sni_conn_s",
        label: "SNI passthrough connections/s (end-to-end handshake + 32 B echo)",
        better: Better::Higher,
        target: None,
    },
    Figure {
        key: "sni_cpu_kconn",
        label: "proxy CPU-ms per 1,000 SNI passthrough connections",
        better: Better::Lower,
        target: None,
    },
    // Concurrency (issue #18): 1,000 active echo flows, many idle connections.
    Figure {
        key: "flows_mps",
        label: "{flows} active echo flows: messages/s (64 B, closed loop)",
        better: Better::Higher,
        target: None,
    },
    Figure {
        key: "flows_p50",
        label: "{flows} flows: per-message latency p50 (µs, round trip)",
        better: Better::Lower,
        target: None,
    },
    Figure {
        key: "flows_p99",
        label: "{flows} flows: per-message latency p99 (µs, round trip)",
        better: Better::Lower,
        target: Some(Target {
            text: "≤0.9× nginx",
            checks: &[(Some("nginx"), 0.9)],
        }),
    },
    Figure {
        key: "flows_p999",
        label: "{flows} flows: per-message latency p99.9 (µs, round trip)",
        better: Better::Lower,
        target: None,
    },
    Figure {
        key: "flows_cpu_us",
        label: "{flows} flows: proxy CPU-µs per message",
        better: Better::Lower,
        target: None,
    },
    Figure {
        key: "idle_rss_mb",
        label: "proxy RSS holding {idle_conns} idle connections (MiB)",
        better: Better::Lower,
        target: Some(Target {
            text: "≤ nginx",
            checks: &[(Some("nginx"), 1.0)],
        }),
    },
    Figure {
        key: "idle_cpu_ms",
        label: "proxy CPU-ms over {idle_secs} s holding them idle",
        better: Better::Lower,
        target: None,
    },
    // The low-latency mode (lowlat, busy_poll_us) against the default figures of the others.
    Figure {
        key: "lat_cpu_pct",
        label: "proxy CPU-% during the TCP latency test",
        better: Better::Lower,
        target: None,
    },
    Figure {
        key: "ll_added_p50",
        label: "low-latency mode (busy_poll_us {busy_poll_us}): added p50 vs direct (µs)",
        better: Better::Lower,
        target: Some(Target {
            text: "≤0.7× nginx",
            checks: &[(Some("nginx"), 0.7)],
        }),
    },
    Figure {
        key: "ll_added_p99",
        label: "low-latency mode: added p99 vs direct (µs)",
        better: Better::Lower,
        target: None,
    },
    Figure {
        key: "ll_cpu_pct",
        label: "low-latency mode: proxy CPU-% during the latency test",
        better: Better::Lower,
        target: None,
    },
    Figure {
        key: "ll_idle_cpu_pct",
        label: "low-latency mode: proxy CPU-% with no traffic",
        better: Better::Lower,
        target: None,
    },
];

/// Median, min, max of a non-empty list.
fn stats(values: &[f64]) -> (f64, f64, f64) {
    let mut v = values.to_vec();
    v.sort_by(|a, b| a.total_cmp(b));
    let n = v.len();
    let median = if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    };
    (median, v[0], v[n - 1])
}

fn num(x: f64) -> String {
    let a = x.abs();
    if a >= 100.0 {
        format!("{x:.0}")
    } else if a >= 10.0 {
        format!("{x:.1}")
    } else {
        format!("{x:.2}")
    }
}

/// `n` rounded, with a comma every three digits (10,000).
fn thousands(n: f64) -> String {
    let digits = format!("{:.0}", n.max(0.0));
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// `label` with each `{NAME}` replaced by the `meta` figure NAME (`N` when not recorded).
fn fill(label: &str, metas: &BTreeMap<String, String>) -> String {
    let mut out = String::new();
    let mut rest = label;
    while let Some(open) = rest.find('{') {
        let Some(close) = rest[open..].find('}') else {
            break;
        };
        out.push_str(&rest[..open]);
        let name = &rest[open + 1..open + close];
        out.push_str(metas.get(name).map_or("N", String::as_str));
        rest = &rest[open + close + 1..];
    }
    out.push_str(rest);
    out
}

/// The low-latency rows: the `lowlat` gateway's figures in the ours column, nginx's and
/// HAProxy's default ones beside them (so the ratios and targets compare with those).
fn low_latency_rows(data: &mut BTreeMap<(String, String), Vec<f64>>) {
    for (source, row) in [
        ("added_p50", "ll_added_p50"),
        ("added_p99", "ll_added_p99"),
        ("lat_cpu_pct", "ll_cpu_pct"),
        ("idle_cpu_pct", "ll_idle_cpu_pct"),
    ] {
        let Some(values) = data.get(&(LOWLAT.to_string(), source.to_string())).cloned() else {
            continue;
        };
        data.insert(("ours".to_string(), row.to_string()), values);
        for peer in ["nginx", "haproxy"] {
            if let Some(values) = data.get(&(peer.to_string(), source.to_string())).cloned() {
                data.insert((peer.to_string(), row.to_string()), values);
            }
        }
    }
}

/// Renders the markdown table for `input`.
pub fn render(input: &str) -> String {
    let mut data: BTreeMap<(String, String), Vec<f64>> = BTreeMap::new();
    for line in input.lines() {
        let mut parts = line.split('\t');
        let (Some(system), Some(figure), Some(value)) = (parts.next(), parts.next(), parts.next())
        else {
            continue;
        };
        let Ok(value) = value.trim().parse::<f64>() else {
            continue;
        };
        if value.is_finite() {
            data.entry((system.to_string(), figure.to_string()))
                .or_default()
                .push(value);
        }
    }
    // Added latency per system: median of the system minus median of direct.
    for (fig, added) in [("lat_p50", "added_p50"), ("lat_p99", "added_p99")] {
        let direct = data
            .get(&("direct".to_string(), fig.to_string()))
            .map(|v| stats(v).0);
        if let Some(direct) = direct {
            for system in SYSTEMS[1..].iter().chain(&[BASELINE, LOWLAT]) {
                if let Some(v) = data.get(&(system.to_string(), fig.to_string())) {
                    let added_values: Vec<f64> = v.iter().map(|x| x - direct).collect();
                    data.insert((system.to_string(), added.to_string()), added_values);
                }
            }
        }
    }
    low_latency_rows(&mut data);
    let median = |system: &str, fig: &str| {
        data.get(&(system.to_string(), fig.to_string()))
            .map(|v| stats(v).0)
    };
    let metas: BTreeMap<String, String> = data
        .iter()
        .filter(|((system, _), _)| system == "meta")
        .map(|((_, name), v)| (name.clone(), thousands(stats(v).0)))
        .collect();
    let mut out = String::new();
    out.push_str("| figure | direct | ours | nginx | HAProxy | ours÷direct | ours÷nginx | ours÷HAProxy | target | met |\n");
    out.push_str("|---|---|---|---|---|---|---|---|---|---|\n");
    for fig in FIGURES {
        if SYSTEMS.iter().all(|s| median(s, fig.key).is_none()) {
            continue;
        }
        let mut row = format!("| {} |", fill(fig.label, &metas));
        for system in SYSTEMS {
            match data.get(&(system.to_string(), fig.key.to_string())) {
                Some(v) if v.len() > 1 => {
                    let (m, lo, hi) = stats(v);
                    let _ = write!(row, " {} ({}–{}) |", num(m), num(lo), num(hi));
                }
                Some(v) => {
                    let _ = write!(row, " {} |", num(stats(v).0));
                }
                None => row.push_str(" – |"),
            }
        }
        let ours = median("ours", fig.key);
        for peer in ["direct", "nginx", "haproxy"] {
            match (ours, median(peer, fig.key)) {
                (Some(o), Some(p)) if p != 0.0 => {
                    let _ = write!(row, " {:.2} |", o / p);
                }
                _ => row.push_str(" – |"),
            }
        }
        match &fig.target {
            Some(target) => {
                let met = ours.map(|o| {
                    target.checks.iter().all(|(peer, factor)| {
                        let bound = match peer {
                            Some(peer) => match median(peer, fig.key) {
                                Some(p) => p * factor,
                                None => return true,
                            },
                            None => *factor,
                        };
                        match fig.better {
                            Better::Higher => o >= bound,
                            Better::Lower => o <= bound,
                        }
                    })
                });
                let verdict = match met {
                    Some(true) => "yes",
                    Some(false) => "**no**",
                    None => "–",
                };
                let _ = write!(row, " {} | {} |", target.text, verdict);
            }
            None => row.push_str(" – | – |"),
        }
        out.push_str(&row);
        out.push('\n');
    }
    if FIGURES.iter().any(|f| median(BASELINE, f.key).is_some()) {
        out.push('\n');
        out.push_str(&baseline_table(&|system, fig| median(system, fig), &metas));
    }
    out
}

/// Ours against the older build, per figure: no worse when within [`NOISE`] of it in the
/// figure's better direction.
fn baseline_table(
    median: &dyn Fn(&str, &str) -> Option<f64>,
    metas: &BTreeMap<String, String>,
) -> String {
    let mut out = String::from(
        "| figure | ours | baseline (older build) | ours÷baseline | no worse (5 % noise) |\n|---|---|---|---|---|\n",
    );
    for fig in FIGURES {
        let (Some(ours), Some(base)) = (median("ours", fig.key), median(BASELINE, fig.key)) else {
            continue;
        };
        let ratio = if base != 0.0 { ours / base } else { f64::NAN };
        let no_worse = match fig.better {
            Better::Higher => ours >= base * (1.0 - NOISE),
            Better::Lower => ours <= base * (1.0 + NOISE),
        };
        let _ = writeln!(
            out,
            "| {} | {} | {} | {:.2} | {} |",
            fill(fig.label, metas),
            num(ours),
            num(base),
            ratio,
            if no_worse { "yes" } else { "**no**" }
        );
    }
    out
}

#[cfg(test)]
mod tests {

    #[test]
    fn a_baseline_gets_its_own_table_with_the_figure_direction() {
        let input = "ours\ttput1\t10\nbaseline\ttput1\t10.2\nours\tlat_p50\t30\nbaseline\tlat_p50\t20\ndirect\tlat_p50\t10\n";
        let table = render(input);
        assert!(
            table.contains("| bulk, 1 stream (Gbit/s) | 10.0 | 10.2 | 0.98 | yes |"),
            "{table}"
        );
        assert!(
            table.contains("| added p50 vs direct (µs) | 20.0 | 10.0 | 2.00 | **no** |"),
            "{table}"
        );
        assert!(!render("ours\ttput1\t10\n").contains("baseline"));
    }
    use super::*;

    #[test]
    fn table_has_medians_ratios_and_verdicts() {
        let input = "direct\ttput1\t20\nours\ttput1\t15\nours\ttput1\t17\nours\ttput1\t16\n\
                     nginx\ttput1\t8\nhaproxy\ttput1\t10\nours\tidle_bytes\t5000\n";
        let table = render(input);
        assert!(table.contains("| bulk, 1 stream (Gbit/s) | 20.0 | 16.0 (15.0–17.0) | 8.00 | 10.0 | 0.80 | 2.00 | 1.60 |"), "{table}");
        assert!(table.contains("≤4 KiB | **no** |"), "{table}");
    }

    #[test]
    fn the_route_scale_row_names_the_route_count() {
        let input = "meta\troutes\t10000\nours\troute_scale\t0.98\n";
        let table = render(input);
        assert!(
            table.contains("| conn/s with 10,000 routes ÷ with 1 route | – | 0.98 |"),
            "{table}"
        );
        let quick = render("meta\troutes\t1000\nours\troute_scale\t0.5\n");
        assert!(quick.contains("with 1,000 routes"), "{quick}");
        assert!(quick.contains("| **no** |"), "{quick}");
    }

    #[test]
    fn the_low_latency_gateway_is_compared_with_the_default_of_the_others() {
        let input = "meta\tbusy_poll_us\t50\ndirect\tlat_p50\t10\nours\tlat_p50\t25\n\
                     nginx\tlat_p50\t30\nlowlat\tlat_p50\t20\nlowlat\tlat_cpu_pct\t98\n\
                     nginx\tlat_cpu_pct\t40\nlowlat\tidle_cpu_pct\t0.1\n";
        let table = render(input);
        assert!(
            table.contains("| low-latency mode (busy_poll_us 50): added p50 vs direct (µs) | – | 10.0 | 20.0 | – | – | 0.50 | – | ≤0.7× nginx | yes |"),
            "{table}"
        );
        assert!(
            table.contains(
                "| low-latency mode: proxy CPU-% during the latency test | – | 98.0 | 40.0 |"
            ),
            "{table}"
        );
        assert!(
            table.contains("| low-latency mode: proxy CPU-% with no traffic | – | 0.10 | – |"),
            "{table}"
        );
        assert!(
            table.contains("| added p50 vs direct (µs) | – | 15.0 | 20.0 |"),
            "the default row stays ours: {table}"
        );
    }

    #[test]
    fn concurrency_rows_name_their_counts_and_check_the_targets() {
        let input = "meta\tflows\t1000\nmeta\tidle_conns\t9900\nmeta\tidle_secs\t30\n\
                     ours\tflows_p99\t800\nnginx\tflows_p99\t1000\n\
                     ours\tidle_rss_mb\t60\nnginx\tidle_rss_mb\t50\n";
        let table = render(input);
        assert!(
            table.contains("| 1,000 flows: per-message latency p99 (µs, round trip) | – | 800 | 1000 | – | – | 0.80 | – | ≤0.9× nginx | yes |"),
            "{table}"
        );
        assert!(
            table.contains("| proxy RSS holding 9,900 idle connections (MiB) | – | 60.0 | 50.0 | – | – | 1.20 | – | ≤ nginx | **no** |"),
            "{table}"
        );
        assert!(
            render("ours\tidle_cpu_ms\t5\n").contains("over N s holding them idle"),
            "a missing count reads N"
        );
    }

    #[test]
    fn added_latency_is_relative_to_direct() {
        let input = "direct\tlat_p50\t10\nours\tlat_p50\t25\nnginx\tlat_p50\t30\n";
        let table = render(input);
        assert!(table.contains("| added p50 vs direct (µs) | – | 15.0 | 20.0 | – | – | 0.75 | – | ≤0.8× nginx | yes |"), "{table}");
    }

    #[test]
    fn tls_rows_have_ratios_and_their_targets() {
        let input = "ours\ttls_cpu_ec\t300\nnginx\ttls_cpu_ec\t600\nhaproxy\ttls_cpu_ec\t400\n\
                     ours\ttls_cpu_gb\t800\nnginx\ttls_cpu_gb\t1000\n\
                     ours\ttls_resumed_frac\t0.5\nnginx\ttls_resumed_frac\t1\n\
                     direct\tsni_conn_s\t4000\nours\tsni_conn_s\t3000\n";
        let table = render(input);
        assert!(
            table.contains("| proxy CPU-ms per 1,000 full handshakes, EC P-256 | – | 300 | 600 | 400 | – | 0.50 | 0.75 | ≤0.6× nginx | yes |"),
            "{table}"
        );
        assert!(
            table.contains("| proxy CPU-ms per GB (TLS bulk) | – | 800 | 1000 | – | – | 0.80 | – | ≤0.7× nginx | **no** |"),
            "{table}"
        );
        assert!(
            table.contains("| share of those handshakes that resumed (rows valid near 1) | – | 0.50 | 1.00 | – | – | 0.50 | – | ≥0.99 | **no** |"),
            "{table}"
        );
        assert!(
            table.contains("| SNI passthrough connections/s (end-to-end handshake + 32 B echo) | 4000 | 3000 | – | – | 0.75 |"),
            "{table}"
        );
        assert!(
            !table.contains("RSA 2048"),
            "rows without figures are left out: {table}"
        );
    }
}
