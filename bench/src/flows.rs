//! `gwbench flows`: many concurrent active echo flows, each a closed loop (send one message,
//! wait for its echo, check every byte, repeat), with the per-message round-trip latency in an
//! HDR histogram.

use std::cell::{Cell, RefCell};
use std::net::SocketAddr;
use std::rc::Rc;
use std::time::{Duration, Instant};

use anyhow::Context;
use hdrhistogram::Histogram;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const TIMEOUT: Duration = Duration::from_secs(10);

/// Message `seq` of flow `flow`: bytes that differ per flow and per message, so a byte
/// delivered to the wrong flow or out of order is caught.
fn message(flow: usize, seq: u64, buf: &mut [u8]) {
    for (i, b) in buf.iter_mut().enumerate() {
        *b = (flow as u64)
            .wrapping_mul(31)
            .wrapping_add(seq.wrapping_mul(7))
            .wrapping_add(i as u64) as u8;
    }
}

/// Opens `count` connections to `target` (nodelay), each with one echo before the timed
/// loops start: a proxy that has not yet accepted a connection or connected its upstream
/// would otherwise count that set-up in the first message's latency.
async fn open(target: SocketAddr, count: usize) -> anyhow::Result<Vec<TcpStream>> {
    const WARM_UP: [u8; 8] = *b"warm-up!";
    crate::load::open_batched(count, || async move {
        let mut stream = TcpStream::connect(target).await?;
        stream.set_nodelay(true)?;
        stream.write_all(&WARM_UP).await?;
        let mut back = [0u8; 8];
        stream.read_exact(&mut back).await?;
        anyhow::ensure!(back == WARM_UP, "warm-up echo differs");
        anyhow::Ok(stream)
    })
    .await
}

/// One flow's closed loop until `deadline`; each round trip goes into `latency` (ns).
async fn run_flow(
    flow: usize,
    mut stream: TcpStream,
    size: usize,
    deadline: Instant,
    latency: Rc<RefCell<Histogram<u64>>>,
) -> anyhow::Result<u64> {
    let (mut out, mut back) = (vec![0u8; size], vec![0u8; size]);
    let mut seq = 0u64;
    while Instant::now() < deadline {
        message(flow, seq, &mut out);
        let sent = Instant::now();
        let exchange = async {
            stream.write_all(&out).await?;
            stream.read_exact(&mut back).await
        };
        tokio::time::timeout(TIMEOUT, exchange)
            .await
            .context("echo timed out")?
            .context("echo failed")?;
        let took = sent.elapsed();
        anyhow::ensure!(
            back == out,
            "flow {flow}: echo of message {seq} differs from what was sent"
        );
        latency
            .borrow_mut()
            .saturating_record(u64::try_from(took.as_nanos()).unwrap_or(u64::MAX));
        seq += 1;
    }
    Ok(seq)
}

/// Opens `flows` connections to the echo server behind `target`, then runs all their loops
/// for `duration` and prints the message rate and the latency percentiles (µs).
pub async fn run(
    target: SocketAddr,
    flows: usize,
    size: usize,
    duration: Duration,
) -> anyhow::Result<()> {
    anyhow::ensure!(size > 0, "--size must be at least 1 byte");
    let streams = open(target, flows).await?;
    let latency = Rc::new(RefCell::new(
        Histogram::<u64>::new_with_bounds(1, 60_000_000_000, 3).context("histogram")?,
    ));
    let messages = Rc::new(Cell::new(0u64));
    let failure: Rc<RefCell<Option<anyhow::Error>>> = Rc::default();
    let started = Instant::now();
    let deadline = started + duration;
    let local = tokio::task::LocalSet::new();
    for (flow, stream) in streams.into_iter().enumerate() {
        let (latency, messages, failure) = (latency.clone(), messages.clone(), failure.clone());
        local.spawn_local(async move {
            match run_flow(flow, stream, size, deadline, latency).await {
                Ok(n) => messages.set(messages.get() + n),
                Err(e) => {
                    failure.borrow_mut().get_or_insert(e);
                }
            }
        });
    }
    local.await;
    let secs = started.elapsed().as_secs_f64();
    if let Some(e) = failure.borrow_mut().take() {
        return Err(e);
    }
    let latency = latency.borrow();
    let us = |q: f64| latency.value_at_quantile(q) as f64 / 1000.0;
    println!("flows={flows}");
    println!("messages={}", messages.get());
    println!("seconds={secs:.3}");
    println!("msgs_per_sec={:.0}", messages.get() as f64 / secs);
    println!("p50_us={:.1}", us(0.5));
    println!("p99_us={:.1}", us(0.99));
    println!("p999_us={:.1}", us(0.999));
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_differ_per_flow_and_per_sequence() {
        let (mut a, mut b, mut c) = ([0u8; 64], [0u8; 64], [0u8; 64]);
        message(1, 0, &mut a);
        message(2, 0, &mut b);
        message(1, 1, &mut c);
        assert_ne!(a, b);
        assert_ne!(a, c);
    }

    #[tokio::test]
    async fn flows_through_an_echo_server_count_messages() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let target = listener.local_addr().expect("addr");
        tokio::spawn(async move {
            loop {
                let (mut s, _) = listener.accept().await.expect("accept");
                tokio::spawn(async move {
                    let (mut r, mut w) = s.split();
                    let _ = tokio::io::copy(&mut r, &mut w).await;
                });
            }
        });
        let streams = open(target, 3).await.expect("open");
        let latency = Rc::new(RefCell::new(Histogram::new(3).expect("histogram")));
        let deadline = Instant::now() + Duration::from_millis(100);
        let mut total = 0;
        for (flow, stream) in streams.into_iter().enumerate() {
            total += run_flow(flow, stream, 64, deadline, latency.clone())
                .await
                .expect("flow");
        }
        assert!(total > 0);
        assert_eq!(latency.borrow().len(), total);
    }
}
