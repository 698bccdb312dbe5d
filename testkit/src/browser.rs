//! A real browser for the web pages' tests: Debian's `chromium`, headless, driven through the
//! DevTools protocol over a websocket on 127.0.0.1 (what Puppeteer does, minus Node). It loads a
//! page, reads its DOM as a person's browser built it (scripts run, event streams flow), emulates
//! a phone or a wide screen in light or dark, and takes screenshots. The browser runs with its
//! own temporary profile and is killed (by its pid) and reaped on `Drop`.

use crate::ok;
use anyhow::{Context, Result, anyhow, bail};
use base64::Engine as _;
use serde_json::{Value, json};
use std::io::{BufRead, BufReader};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};
use tungstenite::stream::MaybeTlsStream;
use tungstenite::{Message, WebSocket};

/// The browser binary (Debian's package installs it here; `scripts/test-deps.sh` does that).
pub const CHROMIUM: &str = "/usr/bin/chromium";

/// One headless browser with one tab.
pub struct Browser {
    child: Child,
    _profile: tempfile::TempDir,
    ws: WebSocket<MaybeTlsStream<TcpStream>>,
    next_id: u64,
    /// `console` messages and uncaught exceptions the page produced, for assertions.
    pub console: Vec<String>,
}

impl Browser {
    /// Starts chromium on `about:blank` and connects to its tab.
    pub fn try_start() -> Result<Browser> {
        let profile = tempfile::tempdir().context("browser profile dir")?;
        let mut child = Command::new(CHROMIUM)
            .args([
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--no-first-run",
                "--no-default-browser-check",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--disable-extensions",
                "--mute-audio",
                "--remote-debugging-address=127.0.0.1",
                "--remote-debugging-port=0",
            ])
            .arg(format!("--user-data-dir={}", profile.path().display()))
            .arg("about:blank")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .with_context(|| format!("start {CHROMIUM}"))?;
        let stderr = child.stderr.take().context("chromium stderr")?;
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            // Reads every line (so chromium never blocks on a full pipe), passing on the one
            // that says where DevTools listens.
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if let Some(url) = line.split("DevTools listening on ").nth(1) {
                    let _ = tx.send(url.trim().to_string());
                }
            }
        });
        let browser_url = match rx.recv_timeout(Duration::from_secs(30)) {
            Ok(u) => u,
            Err(_) => {
                let _ = child.kill();
                let _ = child.wait();
                bail!("chromium did not say where DevTools listens within 30 s");
            }
        };
        let port: u16 = browser_url
            .strip_prefix("ws://127.0.0.1:")
            .and_then(|r| r.split('/').next())
            .and_then(|p| p.parse().ok())
            .ok_or_else(|| anyhow!("unexpected DevTools address {browser_url}"))?;
        let page_url = page_target(port)?;
        let (ws, _) = tungstenite::connect(page_url.as_str()).context("connect to the tab")?;
        let mut b = Browser {
            child,
            _profile: profile,
            ws,
            next_id: 0,
            console: Vec::new(),
        };
        b.call("Page.enable", json!({}))?;
        b.call("Runtime.enable", json!({}))?;
        Ok(b)
    }

    /// [`Browser::try_start`] for tests.
    pub fn start() -> Browser {
        ok(Browser::try_start())
    }

    /// Calls a DevTools method and returns its result (events met meanwhile are noted).
    pub fn call(&mut self, method: &str, params: Value) -> Result<Value> {
        self.next_id += 1;
        let id = self.next_id;
        let msg = json!({"id": id, "method": method, "params": params}).to_string();
        self.ws
            .send(Message::Text(msg.into()))
            .with_context(|| format!("send {method}"))?;
        loop {
            let m = self.ws.read().with_context(|| format!("await {method}"))?;
            let Message::Text(t) = m else { continue };
            let v: Value = serde_json::from_str(t.as_str())?;
            if v["id"] == json!(id) {
                if let Some(e) = v.get("error") {
                    bail!("{method}: {e}");
                }
                return Ok(v["result"].clone());
            }
            match v["method"].as_str() {
                Some("Runtime.consoleAPICalled") => self.console.push(format!(
                    "console.{}: {}",
                    v["params"]["type"].as_str().unwrap_or("?"),
                    v["params"]["args"]
                )),
                Some("Runtime.exceptionThrown") => self
                    .console
                    .push(format!("exception: {}", v["params"]["exceptionDetails"])),
                _ => {}
            }
        }
    }

    /// Evaluates `expr` in the page and returns its value (JSON-serialisable values only).
    pub fn eval(&mut self, expr: &str) -> Result<Value> {
        let r = self.call(
            "Runtime.evaluate",
            json!({"expression": expr, "returnByValue": true}),
        )?;
        if let Some(e) = r.get("exceptionDetails") {
            bail!("{expr}: {e}");
        }
        Ok(r["result"]["value"].clone())
    }

    /// Opens `url` and waits (up to 20 s) until its document has loaded.
    pub fn goto(&mut self, url: &str) -> Result<()> {
        self.call("Page.navigate", json!({"url": url}))?;
        self.wait_for(
            "document.readyState === 'complete' && location.href !== 'about:blank'",
            20,
        )
    }

    /// Waits up to `secs` seconds for `expr` to be true in the page.
    pub fn wait_for(&mut self, expr: &str, secs: u64) -> Result<()> {
        let deadline = Instant::now() + Duration::from_secs(secs);
        loop {
            if self.eval(expr).ok() == Some(Value::Bool(true)) {
                return Ok(());
            }
            if Instant::now() > deadline {
                bail!("not true within {secs} s: {expr}");
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Emulates a screen `width` px wide in light or dark (`prefers-color-scheme`).
    pub fn emulate(&mut self, width: u32, height: u32, dark: bool) -> Result<()> {
        self.call(
            "Emulation.setDeviceMetricsOverride",
            json!({"width": width, "height": height, "deviceScaleFactor": 1, "mobile": width < 600}),
        )?;
        self.call(
            "Emulation.setEmulatedMedia",
            json!({"features": [{"name": "prefers-color-scheme",
                                  "value": if dark { "dark" } else { "light" }}]}),
        )?;
        Ok(())
    }

    /// Writes a PNG of the viewport to `path`.
    pub fn screenshot(&mut self, path: &Path) -> Result<()> {
        let r = self.call("Page.captureScreenshot", json!({"format": "png"}))?;
        let data = r["data"].as_str().context("no screenshot data")?;
        let png = base64::engine::general_purpose::STANDARD.decode(data)?;
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        std::fs::write(path, png).with_context(|| format!("write {}", path.display()))
    }
}

/// The websocket address of the browser's first tab.
fn page_target(port: u16) -> Result<String> {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        if let Ok(r) = crate::http::try_request(port, "GET", "/json/list", &[], b"")
            && let Ok(list) = r.try_json()
            && let Some(url) = list.as_array().and_then(|a| {
                a.iter()
                    .find(|t| t["type"] == "page")
                    .and_then(|t| t["id"].as_str())
            })
        {
            // Built here: chromium writes the Host header it was asked with into its own URLs.
            return Ok(format!("ws://127.0.0.1:{port}/devtools/page/{url}"));
        }
        if Instant::now() > deadline {
            bail!("no tab in chromium's /json/list");
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
