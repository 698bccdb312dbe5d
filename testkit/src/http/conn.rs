//! A keep-alive HTTP/1.1 connection on tokio: writes whole requests the caller made, reads
//! answers with a `Content-Length` or a chunked body. Cheap per request, so load can be driven
//! through it (the bench's throughput and latency scenarios).

use crate::ok;
use anyhow::{Context, Result, anyhow, bail, ensure};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

/// One connection to 127.0.0.1, reused request after request.
pub struct Conn {
    s: BufReader<TcpStream>,
}

impl Conn {
    /// Connects to 127.0.0.1:`port`, with Nagle off (requests go out whole at once).
    pub async fn try_connect(port: u16) -> Result<Conn> {
        let s = TcpStream::connect(("127.0.0.1", port))
            .await
            .with_context(|| format!("connect to 127.0.0.1:{port}"))?;
        s.set_nodelay(true).context("TCP_NODELAY")?;
        Ok(Conn {
            s: BufReader::new(s),
        })
    }

    /// [`Conn::try_connect`] for tests.
    pub async fn connect(port: u16) -> Conn {
        ok(Conn::try_connect(port).await)
    }

    /// Writes `req` (a whole request) and reads its answer: the status and the body.
    pub async fn roundtrip(&mut self, req: &[u8]) -> Result<(u16, Vec<u8>)> {
        self.s.get_mut().write_all(req).await?;
        let mut line = String::new();
        self.s.read_line(&mut line).await?;
        let status: u16 = line
            .split(' ')
            .nth(1)
            .and_then(|c| c.parse().ok())
            .ok_or_else(|| anyhow!("bad status line {line:?}"))?;
        let mut length = None;
        let mut chunked = false;
        loop {
            line.clear();
            ensure!(self.s.read_line(&mut line).await? > 0, "connection closed");
            let l = line.trim_end();
            if l.is_empty() {
                break;
            }
            if let Some((k, v)) = l.split_once(':') {
                if k.eq_ignore_ascii_case("content-length") {
                    length = v.trim().parse::<usize>().ok();
                } else if k.eq_ignore_ascii_case("transfer-encoding") && v.contains("chunked") {
                    chunked = true;
                }
            }
        }
        let mut body = Vec::new();
        if let Some(n) = length {
            body.resize(n, 0);
            self.s.read_exact(&mut body).await?;
        } else if chunked {
            loop {
                line.clear();
                self.s.read_line(&mut line).await?;
                let n = usize::from_str_radix(line.trim(), 16)
                    .map_err(|_| anyhow!("bad chunk size {line:?}"))?;
                let start = body.len();
                body.resize(start + n + 2, 0);
                self.s.read_exact(&mut body[start..]).await?;
                body.truncate(start + n);
                if n == 0 {
                    break;
                }
            }
        } else {
            bail!("response without length (status {status})");
        }
        Ok((status, body))
    }
}
