//! A recording HTTP server on loopback, for webhooks and health checks: it answers every
//! request with the status and body it was last told to, and keeps each request it saw.

use super::proxy::{find, read_request};
use std::io::Write;
use std::net::TcpListener;
use std::sync::{Arc, Mutex};

/// One request as the server saw it.
#[derive(Clone, Debug)]
pub struct Seen {
    pub method: String,
    pub path: String,
    pub body: String,
}

struct Shared {
    status: u16,
    body: String,
    seen: Vec<Seen>,
}

pub struct HttpServer {
    /// `http://127.0.0.1:PORT`
    pub url: String,
    shared: Arc<Mutex<Shared>>,
}

impl HttpServer {
    /// Starts answering `200 ok` on a free loopback port; it lives as long as the tests.
    pub fn start() -> HttpServer {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind a loopback port");
        let url = format!("http://{}", listener.local_addr().expect("local address"));
        let shared = Arc::new(Mutex::new(Shared {
            status: 200,
            body: "ok".to_string(),
            seen: Vec::new(),
        }));
        let state = shared.clone();
        std::thread::spawn(move || {
            for mut stream in listener.incoming().flatten() {
                let Ok(request) = read_request(&mut stream) else {
                    continue;
                };
                let (status, body) = {
                    let mut s = state.lock().unwrap();
                    s.seen.push(parse(&request));
                    (s.status, s.body.clone())
                };
                let _ = write!(
                    stream,
                    "HTTP/1.1 {status} X\r\nContent-Type: text/plain\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                    body.len()
                );
            }
        });
        HttpServer { url, shared }
    }

    /// From now on every request is answered with `status` and `body`.
    pub fn answer(&self, status: u16, body: &str) {
        let mut s = self.shared.lock().unwrap();
        s.status = status;
        s.body = body.to_string();
    }

    /// Every request seen so far, oldest first.
    pub fn seen(&self) -> Vec<Seen> {
        self.shared.lock().unwrap().seen.clone()
    }
}

fn parse(request: &[u8]) -> Seen {
    let end = find(request, b"\r\n\r\n").unwrap_or(request.len());
    let head = String::from_utf8_lossy(&request[..end]);
    let mut first = head.lines().next().unwrap_or_default().split(' ');
    Seen {
        method: first.next().unwrap_or_default().to_string(),
        path: first.next().unwrap_or_default().to_string(),
        body: String::from_utf8_lossy(request.get(end + 4..).unwrap_or_default()).into_owned(),
    }
}
