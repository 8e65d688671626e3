//! UDP rate and round-trip client: `window` datagrams in flight against an echo server.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use anyhow::Context;
use tokio::net::UdpSocket;

/// How long a missing echo is waited for before the window is refilled.
const LOSS_WAIT: Duration = Duration::from_millis(50);

/// Sends for `duration` and prints datagrams/s (echoed) and round-trip percentiles.
pub async fn rate(
    target: SocketAddr,
    duration: Duration,
    window: usize,
    size: usize,
) -> anyhow::Result<()> {
    let size = size.max(16);
    let socket = UdpSocket::bind("127.0.0.1:0").await.context("bind")?;
    socket.connect(target).await.context("connect")?;
    let started = Instant::now();
    let deadline = started + duration;
    let mut out = vec![0u8; size];
    let mut buf = vec![0u8; 65536];
    let mut rtts_ns: Vec<u64> = Vec::with_capacity(1 << 20);
    let mut lost_windows = 0u64;
    let send = |out: &mut Vec<u8>| {
        let ns = started.elapsed().as_nanos() as u64;
        out[..8].copy_from_slice(&ns.to_le_bytes());
        ns
    };
    for _ in 0..window {
        send(&mut out);
        socket.send(&out).await.context("send")?;
    }
    while Instant::now() < deadline {
        match tokio::time::timeout(LOSS_WAIT, socket.recv(&mut buf)).await {
            Ok(received) => {
                let n = received.context("recv")?;
                if n >= 8 {
                    let mut stamp = [0u8; 8];
                    stamp.copy_from_slice(&buf[..8]);
                    let now = started.elapsed().as_nanos() as u64;
                    rtts_ns.push(now.saturating_sub(u64::from_le_bytes(stamp)));
                }
                send(&mut out);
                socket.send(&out).await.context("send")?;
            }
            Err(_) => {
                lost_windows += 1;
                for _ in 0..window {
                    send(&mut out);
                    socket.send(&out).await.context("send")?;
                }
            }
        }
    }
    let secs = started.elapsed().as_secs_f64();
    rtts_ns.sort_unstable();
    let pct = |p: f64| -> f64 {
        if rtts_ns.is_empty() {
            return 0.0;
        }
        let i = ((rtts_ns.len() as f64 - 1.0) * p).round() as usize;
        rtts_ns[i] as f64 / 1000.0
    };
    println!("datagrams={}", rtts_ns.len());
    println!("stalls={lost_windows}");
    println!("seconds={secs:.3}");
    println!("dgrams_per_sec={:.0}", rtts_ns.len() as f64 / secs);
    println!("rtt_p50_us={:.1}", pct(0.5));
    println!("rtt_p99_us={:.1}", pct(0.99));
    Ok(())
}
