//! Bulk stream-route creation through the Admin API, over one keep-alive HTTP/1.1 connection
//! (raw requests: the tool stays free of an HTTP client dependency).

use std::net::SocketAddr;

use anyhow::{bail, Context};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

/// PUTs `count` routes `bench-filler-<n>` matching `remote_addr` 10.x.y.z on `port` (so they
/// never match loopback clients) to `upstream`.
pub async fn create(
    admin: SocketAddr,
    key: &str,
    count: usize,
    port: u16,
    upstream: SocketAddr,
) -> anyhow::Result<()> {
    let stream = TcpStream::connect(admin)
        .await
        .with_context(|| format!("cannot connect to the admin api at {admin}"))?;
    let mut stream = BufReader::new(stream);
    for n in 0..count {
        let body = format!(
            r#"{{"remote_addr":"10.{}.{}.{}","server_port":{port},"upstream":{{"type":"roundrobin","nodes":{{"{upstream}":1}}}}}}"#,
            (n >> 16) & 255,
            (n >> 8) & 255,
            n & 255
        );
        let request = format!(
            "PUT /apisix/admin/stream_routes/bench-filler-{n} HTTP/1.1\r\nHost: {admin}\r\n\
             X-API-KEY: {key}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        );
        stream.get_mut().write_all(request.as_bytes()).await?;
        let status = read_response(&mut stream).await?;
        if !(200..300).contains(&status) {
            bail!("admin api answered {status} for route {n}");
        }
    }
    println!("routes={count}");
    Ok(())
}

/// Reads one response (status line, headers, Content-Length body); returns the status.
async fn read_response(stream: &mut BufReader<TcpStream>) -> anyhow::Result<u16> {
    let mut line = String::new();
    stream.read_line(&mut line).await?;
    let status: u16 = line
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .with_context(|| format!("bad status line {line:?}"))?;
    let mut length = 0usize;
    loop {
        line.clear();
        if stream.read_line(&mut line).await? == 0 {
            bail!("admin api closed the connection");
        }
        let header = line.trim_end();
        if header.is_empty() {
            break;
        }
        if let Some((name, value)) = header.split_once(':') {
            if name.eq_ignore_ascii_case("content-length") {
                length = value.trim().parse().context("content-length")?;
            }
        }
    }
    let mut body = vec![0u8; length];
    stream.read_exact(&mut body).await?;
    Ok(status)
}
