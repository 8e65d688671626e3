//! UDP sessions: `sessions` sockets, each one gateway session (the gateway keys sessions by
//! the client's address). Every `every` each sends one datagram (64–1023 bytes: an 8-byte
//! header with its session and sequence number, then that datagram's pattern) and waits for
//! the echo; a datagram without an echo within [`WAIT`] is sent again, up to [`TRIES`] times.
//! A datagram that comes back different from what was sent is an error, as is one never
//! echoed.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Context};
use tokio::net::UdpSocket;
use tokio::task::JoinSet;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::pattern;
use super::tally::{bump, Tally};

/// How long an echo is waited for before the datagram is sent again.
const WAIT: Duration = Duration::from_secs(2);
/// Sends of one datagram before it counts as an error.
const TRIES: u32 = 5;
/// Seeds of datagrams start here: session in bits 32.., sequence below.
const SEED_BASE: u64 = 4 << 40;

/// Runs the sessions until `stop`.
pub async fn run(
    target: SocketAddr,
    sessions: usize,
    every: Duration,
    tally: Arc<Tally>,
    stop: CancellationToken,
) {
    let mut tasks = JoinSet::new();
    for id in 0..sessions as u32 {
        let (tally, stop) = (tally.clone(), stop.clone());
        let share = f64::from(id) / sessions.max(1) as f64;
        tasks.spawn(async move {
            if let Err(e) = session(target, id, every, share, &tally, &stop).await {
                tally.fail(format!("udp session {id}: {e:#}"));
            }
        });
    }
    while tasks.join_next().await.is_some() {}
}

/// Datagram `seq` of session `id`.
fn datagram(id: u32, seq: u32) -> Vec<u8> {
    let len = 64 + ((seq as usize * 37 + id as usize) % 960);
    let mut out = Vec::with_capacity(len);
    out.extend_from_slice(&id.to_be_bytes());
    out.extend_from_slice(&seq.to_be_bytes());
    out.extend(pattern::bytes(seed(id, seq), 0, len - 8));
    out
}

fn seed(id: u32, seq: u32) -> u64 {
    SEED_BASE + (u64::from(id) << 32) + u64::from(seq)
}

/// One session until `stop`.
async fn session(
    target: SocketAddr,
    id: u32,
    every: Duration,
    share: f64,
    tally: &Tally,
    stop: &CancellationToken,
) -> anyhow::Result<()> {
    let socket = UdpSocket::bind("127.0.0.1:0").await.context("bind")?;
    socket.connect(target).await.context("connect")?;
    bump(&tally.udp_sessions);
    let mut next = Instant::now() + every.mul_f64(share);
    let mut buf = vec![0u8; 2048];
    for seq in 0u32.. {
        tokio::select! {
            () = stop.cancelled() => return Ok(()),
            () = tokio::time::sleep_until(next) => {}
        }
        next += every;
        let out = datagram(id, seq);
        let mut tries = 0;
        loop {
            socket.send(&out).await.context("send")?;
            match tokio::time::timeout(WAIT, echo_of(&socket, id, seq, &mut buf)).await {
                Ok(result) => break result?,
                Err(_) => {
                    tries += 1;
                    if tries == TRIES {
                        bail!("datagram {seq}: no echo after {TRIES} sends");
                    }
                    bump(&tally.udp_resent);
                }
            }
        }
        bump(&tally.udp_datagrams);
    }
    Ok(())
}

/// Waits for the echo of datagram `seq`; an echo of an earlier one (sent again) is checked and
/// passed over.
async fn echo_of(socket: &UdpSocket, id: u32, seq: u32, buf: &mut [u8]) -> anyhow::Result<()> {
    loop {
        let n = socket.recv(buf).await.context("receive")?;
        let got = &buf[..n];
        if n < 8 {
            bail!("a {n}-byte datagram came back");
        }
        let their_id = u32::from_be_bytes([got[0], got[1], got[2], got[3]]);
        let their_seq = u32::from_be_bytes([got[4], got[5], got[6], got[7]]);
        if their_id != id || their_seq > seq || got != datagram(id, their_seq).as_slice() {
            bail!("datagram {seq}: a different one came back (header {their_id}/{their_seq}, {n} bytes)");
        }
        if their_seq == seq {
            return Ok(());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn datagrams_carry_their_header_and_vary_in_length() {
        let a = datagram(3, 9);
        assert_eq!(&a[..8], &[0, 0, 0, 3, 0, 0, 0, 9]);
        assert!((64..1024).contains(&a.len()));
        assert_ne!(datagram(3, 10).len(), a.len());
        assert_eq!(datagram(3, 9), a);
    }
}
