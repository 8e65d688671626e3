//! The opt-in low-latency mode (`apisix.stream_proxy.busy_poll_us`), on the real binary: the
//! gateway relays bytes exactly, its workers keep polling while traffic is recent, and it goes
//! back to sleep (no CPU) once traffic stops.

use std::net::SocketAddr;
use std::path::Path;
use std::time::{Duration, Instant};

use testkit::backends::tcp_echo;
use testkit::ports::free_port;
use testkit::programs::cpu_time;
use testkit::wait::{eventually, within};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::process::{Child, Command};

/// The window of the gateway under test: long enough that a message every 2 ms keeps it
/// polling between messages.
const BUSY_POLL_US: u64 = 10_000;

/// A gateway binary on a standalone YAML route to `upstream`, with the low-latency mode on.
struct LowLatencyGateway {
    child: Child,
    listen: SocketAddr,
    _dir: tempfile::TempDir,
}

fn write_config(prefix: &Path, listen: SocketAddr, upstream: SocketAddr, runtime: &str) {
    let conf = prefix.join("conf");
    std::fs::create_dir_all(&conf).expect("conf dir");
    std::fs::write(
        conf.join("config.yaml"),
        format!(
            "apisix:\n  proxy_mode: stream\n  enable_control: false\n  worker_processes: 1\n  \
             data_plane:\n    runtime: {runtime}\n  \
             stream_proxy:\n    busy_poll_us: {BUSY_POLL_US}\n    tcp:\n      - \"{listen}\"\n\
             deployment:\n  role: data_plane\n  role_data_plane:\n    config_provider: yaml\n\
             plugin_attr:\n  prometheus:\n    enable_export_server: false\n"
        ),
    )
    .expect("write config.yaml");
    std::fs::write(
        conf.join("apisix.yaml"),
        format!(
            "stream_routes:\n  - id: 1\n    upstream:\n      type: roundrobin\n      nodes:\n        \"{upstream}\": 1\n#END\n"
        ),
    )
    .expect("write apisix.yaml");
}

impl LowLatencyGateway {
    async fn start(upstream: SocketAddr, runtime: &str) -> LowLatencyGateway {
        let dir = tempfile::tempdir().expect("prefix dir");
        let listen: SocketAddr = format!("127.0.0.1:{}", free_port()).parse().expect("addr");
        write_config(dir.path(), listen, upstream, runtime);
        let prefix = dir.path().to_str().expect("utf-8 prefix");
        let child = Command::new(env!("CARGO_BIN_EXE_apisix-gateway"))
            .args(["start", "-p", prefix, "--log-level", "warn"])
            .env_remove("RUST_LOG")
            .env_remove("APISIX_GATEWAY_RUNTIME")
            .kill_on_drop(true)
            .spawn()
            .expect("start apisix-gateway");
        let gateway = LowLatencyGateway {
            child,
            listen,
            _dir: dir,
        };
        eventually(
            "the gateway relays its route",
            Duration::from_secs(10),
            || async {
                let mut stream = TcpStream::connect(listen).await.ok()?;
                stream.write_all(b"ready?").await.ok()?;
                let mut back = [0u8; 6];
                tokio::time::timeout(Duration::from_secs(1), stream.read_exact(&mut back))
                    .await
                    .ok()?
                    .ok()?;
                (&back == b"ready?").then_some(())
            },
        )
        .await;
        gateway
    }

    /// utime + stime of the gateway process.
    fn cpu(&self) -> Duration {
        cpu_time(self.child.id().expect("gateway pid"))
    }

    /// The times the gateway's threads went to sleep (voluntary context switches), summed
    /// over its threads. Being preempted by other work does not count.
    fn sleeps(&self) -> u64 {
        let pid = self.child.id().expect("gateway pid");
        let tasks = std::fs::read_dir(format!("/proc/{pid}/task")).expect("/proc task dir");
        tasks
            .filter_map(|task| std::fs::read_to_string(task.ok()?.path().join("status")).ok())
            .filter_map(|status| {
                status
                    .lines()
                    .find_map(|line| line.strip_prefix("voluntary_ctxt_switches:"))
                    .and_then(|n| n.trim().parse::<u64>().ok())
            })
            .sum()
    }
}

/// Byte `i` of connection `conn`'s stream.
fn pattern(conn: usize, i: usize) -> u8 {
    (i.wrapping_mul(7) ^ conn.wrapping_mul(131) ^ (i >> 9)) as u8
}

/// Both runtime layouts, one after the other (the CPU checks would disturb each other).
#[tokio::test]
async fn with_busy_polling_bytes_are_relayed_exactly_and_an_idle_gateway_sleeps() {
    for runtime in ["multi", "percore"] {
        exact_busy_then_asleep(runtime).await;
    }
}

/// The checks of this file on a gateway with the runtime layout `runtime`.
async fn exact_busy_then_asleep(runtime: &str) {
    let (upstream, _closed) = tcp_echo().await;
    let gateway = LowLatencyGateway::start(upstream, runtime).await;

    // Exactness: several connections at once, each sending 1 MiB in uneven chunks (small
    // ones copied, big ones spliced) and reading every byte back, then a half-close.
    let mut flows = tokio::task::JoinSet::new();
    for conn in 0..4usize {
        let listen = gateway.listen;
        flows.spawn(async move {
            const TOTAL: usize = 1 << 20;
            let stream = TcpStream::connect(listen).await.expect("connect");
            let (mut read, mut write) = stream.into_split();
            let writer = tokio::spawn(async move {
                let mut sent = 0;
                let mut chunk = 1;
                while sent < TOTAL {
                    let n = chunk.min(TOTAL - sent);
                    let bytes: Vec<u8> = (sent..sent + n).map(|i| pattern(conn, i)).collect();
                    write.write_all(&bytes).await.expect("write");
                    sent += n;
                    chunk = (chunk * 3 + conn) % 200_000 + 1;
                }
                write.shutdown().await.expect("half-close");
            });
            let mut back = Vec::with_capacity(TOTAL);
            read.read_to_end(&mut back).await.expect("read to EOF");
            writer.await.expect("writer");
            assert_eq!(back.len(), TOTAL, "connection {conn}: every byte back");
            let first_wrong = (0..TOTAL).find(|&i| back[i] != pattern(conn, i));
            assert_eq!(first_wrong, None, "connection {conn}: bytes in order");
        });
    }
    within("the exactness flows", async {
        while let Some(done) = flows.join_next().await {
            done.expect("flow");
        }
    })
    .await;

    // Polling: one small exchange every 2 ms for 1 s keeps the window open, so the worker
    // does not go to sleep between them. Without the mode it sleeps in epoll_wait after each
    // leg: at least one voluntary context switch per message. CPU time is not the measure
    // here (a busy machine may give the polling worker little of it), and nothing happening
    // for longer than the window (this client pausing, or a round trip that slow: a busy
    // machine again) lets the gateway sleep rightly, once per leg.
    let mut stream = TcpStream::connect(gateway.listen).await.expect("connect");
    stream.set_nodelay(true).expect("nodelay");
    let window = Duration::from_micros(BUSY_POLL_US);
    let (sleeps_before, started) = (gateway.sleeps(), Instant::now());
    let mut back = [0u8; 64];
    let (mut messages, mut lapses) = (0u64, 0u64);
    let mut last_echo = Instant::now();
    while started.elapsed() < Duration::from_secs(1) {
        if last_echo.elapsed() > window {
            lapses += 1;
        }
        let sent = Instant::now();
        stream.write_all(&[9u8; 64]).await.expect("write");
        within("echo", stream.read_exact(&mut back))
            .await
            .expect("echo");
        assert_eq!(back, [9u8; 64]);
        if sent.elapsed() > window {
            lapses += 2;
        }
        last_echo = Instant::now();
        messages += 1;
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    let sleeps = gateway.sleeps() - sleeps_before;
    assert!(
        sleeps <= lapses + messages / 4,
        "{runtime}: the workers polled between messages instead of sleeping: {sleeps} sleeps \
         for {messages} messages ({lapses} lapses of the window seen by this client)"
    );

    // Idle: no traffic (the connection stays open), the window passes, the workers sleep.
    tokio::time::sleep(Duration::from_millis(200)).await;
    let idle_before = gateway.cpu();
    tokio::time::sleep(Duration::from_secs(1)).await;
    let idle = gateway.cpu() - idle_before;
    assert!(
        idle <= Duration::from_millis(100),
        "{runtime}: an idle gateway does not spin: {idle:?} of CPU in 1 s"
    );

    // Traffic again after the sleep: the first message wakes the workers.
    stream.write_all(b"again").await.expect("write");
    let mut again = [0u8; 5];
    within("echo after idle", stream.read_exact(&mut again))
        .await
        .expect("echo");
    assert_eq!(&again, b"again");
}
