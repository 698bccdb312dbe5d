//! Hostile and recording servers on loopback: an HTTP "git server" that writes down every
//! request's path and `Authorization` header and answers as told (challenge, redirect), and a TCP
//! server that accepts and never answers (or answers only later connections, by forwarding them).

use crate::ok;
use anyhow::{Context, Result};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// What the recording server answers.
#[derive(Clone)]
pub enum Answer {
    /// 401 with a Basic challenge, always: a client with credentials sends them once.
    Challenge,
    /// 302 to this URL prefix (plus the request path), always.
    Redirect(String),
    /// 401 until credentials come, then 302 to this URL prefix.
    ChallengeThenRedirect(String),
}

/// One request the server saw.
#[derive(Debug, Clone)]
pub struct Seen {
    /// The request's path.
    pub path: String,
    /// Its `Authorization` header, if any, as sent.
    pub authorization: Option<String>,
}

/// An HTTP server on `ip`, port chosen by the kernel, serving until dropped.
pub struct Recorder {
    /// The port it listens on.
    pub port: u16,
    /// The address it listens on (127.0.0.1 and 127.0.0.2 are two hosts to the daemon).
    pub ip: String,
    seen: Arc<Mutex<Vec<Seen>>>,
    stop: Arc<AtomicBool>,
}

impl Recorder {
    /// Listens on `ip`, port chosen by the kernel, and answers every request with `answer`.
    pub fn try_start(ip: &str, answer: Answer) -> Result<Recorder> {
        let listener = TcpListener::bind((ip, 0)).with_context(|| format!("bind {ip}:0"))?;
        let port = listener.local_addr().context("local_addr")?.port();
        listener.set_nonblocking(true).context("nonblocking")?;
        let seen = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let (s, st) = (seen.clone(), stop.clone());
        std::thread::spawn(move || {
            while !st.load(Ordering::Relaxed) {
                match listener.accept() {
                    Ok((conn, _)) => {
                        let (s, answer) = (s.clone(), answer.clone());
                        std::thread::spawn(move || serve(conn, &s, &answer));
                    }
                    Err(_) => std::thread::sleep(Duration::from_millis(10)),
                }
            }
        });
        Ok(Recorder {
            port,
            ip: ip.to_string(),
            seen,
            stop,
        })
    }

    /// [`Recorder::try_start`] for tests.
    pub fn start(ip: &str, answer: Answer) -> Recorder {
        ok(Recorder::try_start(ip, answer))
    }

    /// `http://IP:PORT` (what `git.hosts` or `webhook.clone_hosts` would name).
    pub fn origin(&self) -> String {
        format!("http://{}:{}", self.ip, self.port)
    }

    /// `http://IP:PORT/{path}`.
    pub fn url(&self, path: &str) -> String {
        format!("{}/{path}", self.origin())
    }

    /// Every request so far, in order.
    pub fn seen(&self) -> Vec<Seen> {
        self.seen.lock().map(|s| s.clone()).unwrap_or_default()
    }

    /// Every `Authorization` header received, decoded from Basic to `user:password`.
    pub fn credentials(&self) -> Vec<String> {
        self.seen()
            .into_iter()
            .filter_map(|s| s.authorization)
            .map(|a| {
                a.strip_prefix("Basic ")
                    .and_then(|b| {
                        use base64::Engine;
                        base64::engine::general_purpose::STANDARD.decode(b).ok()
                    })
                    .map(|b| String::from_utf8_lossy(&b).into_owned())
                    .unwrap_or(a)
            })
            .collect()
    }
}

impl Drop for Recorder {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

fn serve(conn: TcpStream, seen: &Mutex<Vec<Seen>>, answer: &Answer) {
    let _ = conn.set_read_timeout(Some(Duration::from_secs(10)));
    let mut reader = BufReader::new(match conn.try_clone() {
        Ok(c) => c,
        Err(_) => return,
    });
    let mut out = conn;
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).unwrap_or(0) == 0 {
            return;
        }
        let path = line.split_whitespace().nth(1).unwrap_or("").to_string();
        let mut authorization = None;
        let mut length = 0usize;
        loop {
            let mut h = String::new();
            if reader.read_line(&mut h).unwrap_or(0) == 0 {
                return;
            }
            let h = h.trim_end();
            if h.is_empty() {
                break;
            }
            if let Some((k, v)) = h.split_once(':') {
                match k.trim().to_ascii_lowercase().as_str() {
                    "authorization" => authorization = Some(v.trim().to_string()),
                    "content-length" => length = v.trim().parse().unwrap_or(0),
                    _ => {}
                }
            }
        }
        let mut body = vec![0; length];
        let _ = reader.read_exact(&mut body);
        let authorized = authorization.is_some();
        if let Ok(mut s) = seen.lock() {
            s.push(Seen {
                path: path.clone(),
                authorization,
            });
        }
        let reply = match (answer, authorized) {
            (Answer::Redirect(to), _) | (Answer::ChallengeThenRedirect(to), true) => {
                format!("HTTP/1.1 302 Found\r\nLocation: {to}{path}\r\nContent-Length: 0\r\n\r\n")
            }
            _ => "HTTP/1.1 401 Unauthorized\r\nWWW-Authenticate: Basic realm=\"git\"\r\n\
                  Content-Length: 0\r\n\r\n"
                .to_string(),
        };
        if out.write_all(reply.as_bytes()).is_err() {
            return;
        }
    }
}

/// A TCP server that accepts connections and never says a word (a git server that hangs), except
/// that connections after the first `silent` ones are forwarded to `forward_to` when given.
pub struct Silent {
    /// The port it listens on (127.0.0.1).
    pub port: u16,
    accepted: Arc<AtomicUsize>,
    stop: Arc<AtomicBool>,
}

impl Silent {
    /// Listens on 127.0.0.1, holding the first `silent` connections mute and forwarding the
    /// rest to 127.0.0.1:`forward_to` (or holding them too).
    pub fn try_start(silent: usize, forward_to: Option<u16>) -> Result<Silent> {
        let listener = TcpListener::bind(("127.0.0.1", 0)).context("bind 127.0.0.1:0")?;
        let port = listener.local_addr().context("local_addr")?.port();
        listener.set_nonblocking(true).context("nonblocking")?;
        let accepted = Arc::new(AtomicUsize::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        let (n, st) = (accepted.clone(), stop.clone());
        std::thread::spawn(move || {
            let mut held = Vec::new();
            while !st.load(Ordering::Relaxed) {
                match listener.accept() {
                    Ok((conn, _)) => {
                        let i = n.fetch_add(1, Ordering::SeqCst);
                        match forward_to {
                            Some(to) if i >= silent => {
                                std::thread::spawn(move || forward(conn, to));
                            }
                            _ => held.push(conn),
                        }
                    }
                    Err(_) => std::thread::sleep(Duration::from_millis(10)),
                }
            }
        });
        Ok(Silent {
            port,
            accepted,
            stop,
        })
    }

    /// [`Silent::try_start`] for tests.
    pub fn start(silent: usize, forward_to: Option<u16>) -> Silent {
        ok(Silent::try_start(silent, forward_to))
    }

    /// Connections accepted so far.
    pub fn accepted(&self) -> usize {
        self.accepted.load(Ordering::SeqCst)
    }
}

impl Drop for Silent {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

fn forward(client: TcpStream, port: u16) {
    let Ok(server) = TcpStream::connect(("127.0.0.1", port)) else {
        return;
    };
    let (Ok(mut c2), Ok(mut s2)) = (client.try_clone(), server.try_clone()) else {
        return;
    };
    let (mut c, mut s) = (client, server);
    let up = std::thread::spawn(move || {
        let _ = std::io::copy(&mut c, &mut s2);
        let _ = s2.shutdown(std::net::Shutdown::Write);
    });
    let _ = std::io::copy(&mut s, &mut c2);
    let _ = c2.shutdown(std::net::Shutdown::Write);
    let _ = up.join();
}
