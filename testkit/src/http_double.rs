//! A tiny HTTP/1.1 server double on 127.0.0.1 port 0 for client tests (the CLI, the TUI): one
//! request per connection (`Connection: close`), each answered by a router closure with a
//! status and a JSON text, and recorded in order. It runs on std threads, so sync and async
//! tests alike can use it.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex};

/// One request the double received.
#[derive(Debug, Clone)]
pub struct Request {
    pub method: String,
    /// The request target: the path with its query.
    pub path: String,
    /// The `X-API-KEY` header.
    pub api_key: Option<String>,
    pub body: String,
}

/// Answers a request with a status and a body (empty: no body).
pub type Router = Arc<dyn Fn(&Request) -> (u16, String) + Send + Sync>;

/// A running double.
pub struct HttpDouble {
    /// `http://127.0.0.1:<port>`.
    pub url: String,
    /// Every request so far, in order.
    pub seen: Arc<Mutex<Vec<Request>>>,
}

impl HttpDouble {
    /// Starts the double on a free port; it serves until the test process ends.
    pub fn start(router: Router) -> HttpDouble {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind the http double");
        let url = format!("http://{}", listener.local_addr().expect("double addr"));
        let seen = Arc::new(Mutex::new(Vec::new()));
        let log = Arc::clone(&seen);
        std::thread::spawn(move || {
            for conn in listener.incoming().flatten() {
                let (router, log) = (Arc::clone(&router), Arc::clone(&log));
                std::thread::spawn(move || serve(conn, &router, &log));
            }
        });
        HttpDouble { url, seen }
    }

    /// A copy of the requests so far.
    pub fn requests(&self) -> Vec<Request> {
        self.seen.lock().expect("request log lock").clone()
    }
}

fn serve(conn: TcpStream, router: &Router, log: &Mutex<Vec<Request>>) {
    let Some(request) = read_request(&conn) else {
        return;
    };
    let (status, text) = router(&request);
    log.lock().expect("request log lock").push(request);
    let mut out = conn;
    let _ = write!(
        out,
        "HTTP/1.1 {status} X\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{text}",
        text.len()
    );
}

fn read_request(conn: &TcpStream) -> Option<Request> {
    let mut reader = BufReader::new(conn.try_clone().ok()?);
    let mut line = String::new();
    reader.read_line(&mut line).ok()?;
    let mut parts = line.split_whitespace();
    let method = parts.next().unwrap_or_default().to_owned();
    let path = parts.next().unwrap_or_default().to_owned();
    let mut headers = HashMap::new();
    loop {
        let mut header = String::new();
        if reader.read_line(&mut header).is_err() || header.trim().is_empty() {
            break;
        }
        if let Some((name, value)) = header.split_once(':') {
            headers.insert(name.trim().to_ascii_lowercase(), value.trim().to_owned());
        }
    }
    let len: usize = headers
        .get("content-length")
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    let mut body = vec![0; len];
    let _ = reader.read_exact(&mut body);
    Some(Request {
        method,
        path,
        api_key: headers.get("x-api-key").cloned(),
        body: String::from_utf8_lossy(&body).into_owned(),
    })
}
