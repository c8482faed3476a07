//! A fault-injecting HTTP proxy on loopback, between keyrot and moto: IAM Throttling
//! errors, 500/503, connection resets, lost responses and added latency, at set rates;
//! and, like IAM itself, Throttling from a token bucket whenever callers go too fast.

use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Fault {
    Throttle,
    Status500,
    Status503,
    /// Close the connection before moto sees the request.
    ResetBefore,
    /// Forward to moto, then close without answering: the call happened, the reply is lost.
    LoseResponse,
    Latency,
}

/// A fault for every request whose body contains a marker (e.g. `Action=GetCallerIdentity`
/// or `secretsmanager.PutSecretValue`), whatever the random rate says.
#[derive(Clone)]
pub struct Rule {
    pub marker: &'static str,
    pub respond: &'static str,
    pub body: &'static str,
}

/// IAM's rate limit as a token bucket: `per_second` requests a second, `burst` at once; a
/// request that finds it empty is answered Throttling (counted as `Fault::Throttle`).
#[derive(Clone, Copy, Debug)]
pub struct Bucket {
    pub per_second: f64,
    pub burst: f64,
}

/// What the proxy does besides forwarding.
#[derive(Clone, Default)]
pub struct Options {
    /// Each request meets a fault with this probability, picked evenly from `faults`.
    pub rate: f64,
    pub faults: Vec<Fault>,
    pub seed: u64,
    pub rules: Vec<Rule>,
    pub bucket: Option<Bucket>,
    /// Added to every request before it is forwarded (a distant endpoint).
    pub delay: Duration,
}

struct Tokens {
    bucket: Bucket,
    left: f64,
    at: std::time::Instant,
}

impl Tokens {
    fn take(&mut self) -> bool {
        let now = std::time::Instant::now();
        let refill = (now - self.at).as_secs_f64() * self.bucket.per_second;
        self.left = (self.left + refill).min(self.bucket.burst);
        self.at = now;
        let ok = self.left >= 1.0;
        if ok {
            self.left -= 1.0;
        }
        ok
    }
}

pub struct Proxy {
    pub endpoint: String,
    pub injected: Arc<Mutex<std::collections::BTreeMap<Fault, u32>>>,
    pub requests: Arc<AtomicU64>,
}

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> f64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 >> 11) as f64 / (1u64 << 53) as f64
    }
}

impl Proxy {
    /// Each request meets a fault with probability `rate`, picked evenly from `faults`.
    pub fn start(upstream: &str, rate: f64, faults: &[Fault], seed: u64) -> Proxy {
        Self::with_rules(upstream, rate, faults, seed, Vec::new())
    }

    /// Like `start`, plus fixed answers for requests that match a rule.
    pub fn with_rules(
        upstream: &str,
        rate: f64,
        faults: &[Fault],
        seed: u64,
        rules: Vec<Rule>,
    ) -> Proxy {
        let options = Options {
            rate,
            faults: faults.to_vec(),
            seed,
            rules,
            ..Options::default()
        };
        Self::launch(upstream, options)
    }

    pub fn launch(upstream: &str, options: Options) -> Proxy {
        let upstream = upstream.trim_start_matches("http://").to_string();
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind proxy");
        let endpoint = format!("http://{}", listener.local_addr().unwrap());
        let injected: Arc<Mutex<std::collections::BTreeMap<Fault, u32>>> = Arc::default();
        let requests = Arc::new(AtomicU64::new(0));
        let rng = Arc::new(Mutex::new(Rng(options.seed | 1)));
        let tokens = options.bucket.map(|bucket| {
            Arc::new(Mutex::new(Tokens {
                bucket,
                left: bucket.burst,
                at: std::time::Instant::now(),
            }))
        });
        let options = Arc::new(options);
        let (inj, reqs) = (injected.clone(), requests.clone());
        std::thread::spawn(move || {
            for conn in listener.incoming() {
                let Ok(client) = conn else { continue };
                let (upstream, rng, inj, reqs, options, tokens) = (
                    upstream.clone(),
                    rng.clone(),
                    inj.clone(),
                    reqs.clone(),
                    options.clone(),
                    tokens.clone(),
                );
                std::thread::spawn(move || {
                    let (roll, pick) = {
                        let mut r = rng.lock().unwrap();
                        (r.next(), r.next())
                    };
                    let faults = &options.faults;
                    let mut fault = (roll < options.rate && !faults.is_empty())
                        .then(|| faults[(pick * faults.len() as f64) as usize % faults.len()]);
                    reqs.fetch_add(1, Ordering::Relaxed);
                    let _ = serve(client, &upstream, &options, || {
                        let empty = tokens.as_ref().is_some_and(|t| !t.lock().unwrap().take());
                        if empty {
                            fault = Some(Fault::Throttle);
                        }
                        if let Some(f) = fault {
                            *inj.lock().unwrap().entry(f).or_default() += 1;
                        }
                        fault
                    });
                });
            }
        });
        Proxy {
            endpoint,
            injected,
            requests,
        }
    }

    /// How many requests were answered Throttling so far.
    pub fn throttled(&self) -> u32 {
        self.injected
            .lock()
            .unwrap()
            .get(&Fault::Throttle)
            .copied()
            .unwrap_or(0)
    }

    pub fn total_injected(&self) -> u32 {
        self.injected.lock().unwrap().values().sum()
    }
}

/// Reads one HTTP/1.1 request (headers and a Content-Length body).
pub fn read_request(stream: &mut TcpStream) -> std::io::Result<Vec<u8>> {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 8192];
    loop {
        if let Some(end) = find(&buf, b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&buf[..end]).to_ascii_lowercase();
            let len: usize = head
                .lines()
                .find_map(|l| l.strip_prefix("content-length:"))
                .and_then(|v| v.trim().parse().ok())
                .unwrap_or(0);
            while buf.len() < end + 4 + len {
                let n = stream.read(&mut chunk)?;
                if n == 0 {
                    break;
                }
                buf.extend_from_slice(&chunk[..n]);
            }
            return Ok(buf);
        }
        let n = stream.read(&mut chunk)?;
        if n == 0 {
            return Ok(buf);
        }
        buf.extend_from_slice(&chunk[..n]);
    }
}

pub fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

fn respond(client: &mut TcpStream, status: &str, body: &str) -> std::io::Result<()> {
    write!(
        client,
        "HTTP/1.1 {status}\r\nContent-Type: text/xml\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
}

/// Answers one request; `fault` decides its fate once it has arrived and waited out the
/// delay (so the token bucket sees requests when the server would).
fn serve(
    mut client: TcpStream,
    upstream: &str,
    options: &Options,
    fault: impl FnOnce() -> Option<Fault>,
) -> std::io::Result<()> {
    client.set_read_timeout(Some(Duration::from_secs(30)))?;
    let request = read_request(&mut client)?;
    if request.is_empty() {
        return Ok(());
    }
    std::thread::sleep(options.delay);
    let text = String::from_utf8_lossy(&request).into_owned();
    if let Some(rule) = options.rules.iter().find(|r| text.contains(r.marker)) {
        return respond(&mut client, rule.respond, rule.body);
    }
    let fault = fault();
    match fault {
        Some(Fault::Throttle) => {
            let body = "<ErrorResponse xmlns=\"https://iam.amazonaws.com/doc/2010-05-08/\"><Error><Type>Sender</Type><Code>Throttling</Code><Message>Rate exceeded</Message></Error><RequestId>fault-proxy</RequestId></ErrorResponse>";
            return respond(&mut client, "400 Bad Request", body);
        }
        Some(Fault::Status500) => {
            let body = "<ErrorResponse><Error><Type>Receiver</Type><Code>ServiceFailure</Code><Message>injected</Message></Error><RequestId>fault-proxy</RequestId></ErrorResponse>";
            return respond(&mut client, "500 Internal Server Error", body);
        }
        Some(Fault::Status503) => return respond(&mut client, "503 Service Unavailable", ""),
        Some(Fault::ResetBefore) => return client.shutdown(Shutdown::Both),
        Some(Fault::Latency) => std::thread::sleep(Duration::from_millis(250)),
        Some(Fault::LoseResponse) | None => {}
    }
    // One request per upstream connection keeps the proxy simple.
    let text = String::from_utf8_lossy(&request);
    let rewritten = match text.find("\r\n") {
        Some(_) => {
            let end = find(&request, b"\r\n\r\n").unwrap_or(request.len());
            let head: String = String::from_utf8_lossy(&request[..end])
                .lines()
                .filter(|l| !l.to_ascii_lowercase().starts_with("connection:"))
                .collect::<Vec<_>>()
                .join("\r\n");
            let mut out = format!("{head}\r\nConnection: close\r\n\r\n").into_bytes();
            out.extend_from_slice(request.get(end + 4..).unwrap_or_default());
            out
        }
        None => request.clone(),
    };
    let mut up = TcpStream::connect(upstream)?;
    up.write_all(&rewritten)?;
    let mut response = Vec::new();
    up.read_to_end(&mut response)?;
    if fault == Some(Fault::LoseResponse) {
        return client.shutdown(Shutdown::Both);
    }
    client.write_all(&response)?;
    client.shutdown(Shutdown::Write)
}
