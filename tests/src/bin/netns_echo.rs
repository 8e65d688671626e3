//! `netns_echo ADDR [NAME]`: a TCP echo server for the fleet tests, small enough to run on any
//! test host (`ip netns exec <ns> netns_echo 198.18.7.21:7000 a`).
//!
//! It binds ADDR, prints `ready <addr>` on stdout, and serves every connection: first the line
//! `NAME\n` when a name is given (so a client learns which node took it), then an echo of every
//! byte; on the client's EOF it finishes echoing and shuts its write side down. It runs until
//! killed. The connection handling is `testkit::backends::serve_echo`, as for the in-process
//! backends.

use std::net::SocketAddr;

use anyhow::Context as _;
use testkit::backends::serve_echo;
use tokio::net::TcpListener;

#[tokio::main(flavor = "current_thread")]
async fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let addr: SocketAddr = args
        .next()
        .context("usage: netns_echo ADDR [NAME]")?
        .parse()
        .context("ADDR must be ip:port")?;
    let greeting = args.next().map(|name| format!("{name}\n"));
    let listener = TcpListener::bind(addr)
        .await
        .with_context(|| format!("binding {addr}"))?;
    println!("ready {}", listener.local_addr()?);
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            continue;
        };
        let greeting = greeting.clone();
        tokio::spawn(async move {
            let _ = serve_echo(stream, greeting).await;
        });
    }
}
