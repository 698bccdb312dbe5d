//! A forge's API on loopback for commit status tests: it records every request (method, path,
//! headers, JSON body), in order, and answers with the status codes it is told — a script of
//! answers first, then a standing one that a test may change.

use crate::ok;
use anyhow::{Context, Result};
use std::collections::VecDeque;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU16, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// One request the API saw.
#[derive(Debug, Clone)]
pub struct Call {
    /// `POST`, …
    pub method: String,
    /// The path with its query.
    pub path: String,
    /// Headers, names in lowercase.
    pub headers: Vec<(String, String)>,
    /// The body as JSON (`Null` when it is not JSON).
    pub body: serde_json::Value,
    /// The body's bytes as sent (for checking a signature over them).
    pub raw: Vec<u8>,
    /// The status code it was answered with.
    pub answered: u16,
}

impl Call {
    /// The value of header `name` (lowercase), if sent.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

/// The API server; serves until dropped.
pub struct ForgeApi {
    /// Its port on 127.0.0.1.
    pub port: u16,
    calls: Arc<Mutex<Vec<Call>>>,
    script: Arc<Mutex<VecDeque<u16>>>,
    standing: Arc<AtomicU16>,
    stop: Arc<AtomicBool>,
}

impl ForgeApi {
    /// Answers the first requests with `script`, in order, then 201.
    pub fn try_start(script: &[u16]) -> Result<ForgeApi> {
        let listener = TcpListener::bind("127.0.0.1:0").context("bind the forge API")?;
        listener.set_nonblocking(true)?;
        let api = ForgeApi {
            port: listener.local_addr()?.port(),
            calls: Arc::default(),
            script: Arc::new(Mutex::new(script.iter().copied().collect())),
            standing: Arc::new(AtomicU16::new(201)),
            stop: Arc::default(),
        };
        let (calls, script, standing, stop) = (
            api.calls.clone(),
            api.script.clone(),
            api.standing.clone(),
            api.stop.clone(),
        );
        std::thread::spawn(move || {
            while !stop.load(Ordering::Relaxed) {
                match listener.accept() {
                    Ok((s, _)) => {
                        let next = script.lock().unwrap_or_else(|e| e.into_inner()).pop_front();
                        let code = next.unwrap_or_else(|| standing.load(Ordering::Relaxed));
                        if let Ok(call) = serve(s, code) {
                            calls.lock().unwrap_or_else(|e| e.into_inner()).push(call);
                        }
                    }
                    Err(_) => std::thread::sleep(Duration::from_millis(5)),
                }
            }
        });
        Ok(api)
    }

    /// [`ForgeApi::try_start`] for tests.
    pub fn start(script: &[u16]) -> ForgeApi {
        ok(ForgeApi::try_start(script))
    }

    /// `http://127.0.0.1:PORT`.
    pub fn origin(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// What it answers once the script is used up.
    pub fn answer(&self, code: u16) {
        self.standing.store(code, Ordering::Relaxed);
    }

    /// Every request so far, in order.
    pub fn calls(&self) -> Vec<Call> {
        self.calls.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }
}

impl Drop for ForgeApi {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

/// Reads one request and answers `code` with a small JSON body.
fn serve(mut s: TcpStream, code: u16) -> Result<Call> {
    s.set_nonblocking(false)?;
    s.set_read_timeout(Some(Duration::from_secs(5)))?;
    let mut r = BufReader::new(s.try_clone()?);
    let mut line = String::new();
    r.read_line(&mut line)?;
    let mut parts = line.split_whitespace();
    let method = parts.next().unwrap_or_default().to_string();
    let path = parts.next().unwrap_or_default().to_string();
    let mut headers = Vec::new();
    let mut length = 0usize;
    loop {
        let mut h = String::new();
        r.read_line(&mut h)?;
        let h = h.trim_end();
        if h.is_empty() {
            break;
        }
        if let Some((k, v)) = h.split_once(':') {
            let (k, v) = (k.trim().to_ascii_lowercase(), v.trim().to_string());
            if k == "content-length" {
                length = v.parse().unwrap_or(0);
            }
            headers.push((k, v));
        }
    }
    let mut body = vec![0u8; length.min(1 << 20)];
    r.read_exact(&mut body)?;
    let answer = format!("{{\"id\":1,\"status\":{code}}}");
    write!(
        s,
        "HTTP/1.1 {code} X\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\
         Connection: close\r\n\r\n{answer}",
        answer.len()
    )?;
    Ok(Call {
        method,
        path,
        headers,
        body: serde_json::from_slice(&body).unwrap_or(serde_json::Value::Null),
        raw: body,
        answered: code,
    })
}
