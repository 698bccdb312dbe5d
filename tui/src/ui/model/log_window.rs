//! The part of a job's log the job view keeps: a window of contiguous chunks at exact byte
//! offsets, split into lines, grown at either end as the person scrolls or the job prints, and
//! trimmed back under [`LOG_CAP`] so a long log never lives in memory whole.

use super::LOG_CAP;
use microci_proto::LogChunk;
use std::collections::VecDeque;

/// The part of a job's log kept in memory: contiguous chunks with their exact byte offsets, and
/// the lines they make.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LogWindow {
    /// Where the window starts when it has no chunks yet.
    pub base: u64,
    /// Contiguous chunks, oldest first.
    pub chunks: VecDeque<LogChunk>,
    /// The window's text split on `\n` (the last entry is the unfinished line, maybe empty).
    pub lines: Vec<String>,
    /// The live stream went past the window's end and is being ignored until re-followed.
    pub detached: bool,
    /// The furthest offset the live stream has reached.
    pub live_end: u64,
    /// A read above the window is in flight.
    pub pending_older: bool,
    /// A read below the window is in flight.
    pub pending_newer: bool,
}

impl LogWindow {
    /// A window that starts (empty) at `base`.
    pub fn at(base: u64) -> LogWindow {
        LogWindow {
            base,
            live_end: base,
            lines: vec![String::new()],
            ..LogWindow::default()
        }
    }

    /// First byte kept.
    pub fn start(&self) -> u64 {
        self.chunks.front().map_or(self.base, |c| c.offset)
    }

    /// Byte just past the window.
    pub fn end(&self) -> u64 {
        self.chunks.back().map_or(self.base, |c| c.next_offset)
    }

    /// Bytes kept.
    pub fn bytes(&self) -> u64 {
        self.end() - self.start()
    }

    /// Lines a person sees (a trailing empty line after the last `\n` is not one).
    pub fn line_count(&self) -> usize {
        match self.lines.last() {
            Some(l) if l.is_empty() => self.lines.len() - 1,
            _ => self.lines.len(),
        }
    }

    /// Appends a chunk that continues the window; false when it does not (repeat or gap).
    pub fn push_back(&mut self, c: LogChunk) -> bool {
        if c.next_offset <= self.end() || c.offset > self.end() {
            return false;
        }
        let mut parts = c.data.split('\n');
        if let (Some(first), Some(last)) = (parts.next(), self.lines.last_mut()) {
            last.push_str(first);
        }
        self.lines.extend(parts.map(String::from));
        self.chunks.push_back(c);
        true
    }

    /// Prepends a chunk that ends where the window starts (or a few bytes before, when the
    /// daemon cut on a character boundary); returns the number of lines added above.
    pub fn push_front(&mut self, c: LogChunk) -> Option<usize> {
        if c.next_offset > self.start() || c.next_offset + 4 < self.start() || c.data.is_empty() {
            return None;
        }
        let mut new: Vec<String> = c.data.split('\n').map(String::from).collect();
        let added = new.len() - 1;
        if let Some(last) = new.last_mut() {
            last.push_str(self.lines.first().map_or("", String::as_str));
        }
        new.extend(self.lines.drain(..).skip(1));
        self.lines = new;
        self.chunks.push_front(c);
        Some(added)
    }

    /// Once over the cap, drops whole chunks from the front down to three quarters of it (so a
    /// fast log does not rebuild the lines on every chunk); returns the lines removed.
    pub fn trim_front(&mut self) -> usize {
        if self.bytes() <= LOG_CAP {
            return 0;
        }
        let mut removed = 0;
        while self.bytes() > LOG_CAP / 4 * 3 && self.chunks.len() > 1 {
            if let Some(c) = self.chunks.pop_front() {
                removed += c.data.matches('\n').count();
                self.base = c.next_offset;
            }
        }
        self.rebuild();
        removed
    }

    /// Drops whole chunks from the back until under the cap.
    pub fn trim_back(&mut self) {
        let mut trimmed = false;
        while self.bytes() > LOG_CAP && self.chunks.len() > 1 {
            self.chunks.pop_back();
            trimmed = true;
        }
        if trimmed {
            self.detached = true;
            self.rebuild();
        }
    }

    fn rebuild(&mut self) {
        let text: String = self.chunks.iter().map(|c| c.data.as_str()).collect();
        self.lines = text.split('\n').map(String::from).collect();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chunk(offset: u64, data: &str) -> LogChunk {
        LogChunk {
            id: 5,
            offset,
            next_offset: offset + data.len() as u64,
            data: data.into(),
        }
    }

    #[test]
    fn log_window_stays_bounded() {
        let mut w = LogWindow::at(0);
        let line = "y".repeat(1023) + "\n";
        let mut at = 0;
        let mut removed = 0;
        for _ in 0..3000 {
            assert!(w.push_back(chunk(at, &line)));
            at += line.len() as u64;
            removed += w.trim_front();
            assert!(w.bytes() <= LOG_CAP + 1024);
        }
        assert_eq!(w.end(), 3000 * 1024);
        assert_eq!(removed + w.line_count(), 3000);
        assert!(w.lines.iter().take(w.line_count()).all(|l| l.len() == 1023));
        // Repeats and gaps are refused.
        assert!(!w.push_back(chunk(at - 1024, &line)));
        assert!(!w.push_back(chunk(at + 10, &line)));
    }
}
