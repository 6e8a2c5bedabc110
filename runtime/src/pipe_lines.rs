//! A child process's stdout or stderr, read as lines, in bounded memory.
//!
//! Tasks print whatever bytes they like: the pipe is read as bytes in
//! chunks, split on `\n` (a `\r` before it is dropped too), and each line
//! is decoded lossily (a byte that is not UTF-8 becomes U+FFFD). A line is
//! never held whole: at most `keep` bytes of it are kept, the rest is only
//! counted. Logs and the console get at most [`MAX_LINE`] bytes of a line,
//! then a marker saying how much was cut. The pipe is always read to its
//! end: a reader that stopped early would leave the command blocked on a
//! full pipe, or killed by SIGPIPE.

use std::borrow::Cow;

use tokio::io::{AsyncBufReadExt, AsyncRead, BufReader};

/// The bytes of a line that logs and the console show.
pub const MAX_LINE: usize = 64 * 1024;

/// One line as read: its first bytes, and how long it was.
#[derive(Debug)]
pub struct Line<'a> {
    /// The first bytes of the line (without its newline).
    pub kept: &'a [u8],
    /// The line's whole length in bytes.
    pub len: usize,
}

impl Line<'_> {
    /// Whether more was read than kept.
    pub fn is_cut(&self) -> bool {
        self.len > self.kept.len()
    }

    /// The line for a log: decoded lossily, cut after [`MAX_LINE`] bytes
    /// (at a character boundary) with a marker saying how much was cut.
    pub fn for_log(&self) -> Cow<'_, str> {
        if self.len <= MAX_LINE && !self.is_cut() {
            return String::from_utf8_lossy(self.kept);
        }
        let end = char_boundary(&self.kept[..MAX_LINE.min(self.kept.len())]);
        Cow::Owned(format!(
            "{}… [{} more bytes of this line cut]",
            String::from_utf8_lossy(&self.kept[..end]),
            self.len - end
        ))
    }
}

/// The length of `head` without a UTF-8 character that it cuts short.
fn char_boundary(head: &[u8]) -> usize {
    let n = head.len();
    for back in 1..=n.min(4) {
        let b = head[n - back];
        if b & 0xC0 != 0x80 {
            let width = match b {
                0xF0.. => 4,
                0xE0.. => 3,
                0xC0.. => 2,
                _ => 1,
            };
            return if width > back { n - back } else { n };
        }
    }
    n
}

/// Calls `on_line` with each line of `pipe` until its end (or a read
/// error), keeping at most `keep` bytes of a line in memory (at least
/// [`MAX_LINE`]).
pub async fn read_lines<R: AsyncRead + Unpin>(
    pipe: R,
    keep: usize,
    mut on_line: impl FnMut(&Line<'_>),
) {
    let keep = keep.max(MAX_LINE);
    let mut pipe = BufReader::with_capacity(64 * 1024, pipe);
    let mut buf: Vec<u8> = Vec::new();
    let mut len = 0usize;
    loop {
        let (used, complete) = match pipe.fill_buf().await {
            Ok([]) => break,
            Ok(chunk) => {
                let (part, used, complete) = match chunk.iter().position(|&b| b == b'\n') {
                    Some(i) => (&chunk[..i], i + 1, true),
                    None => (chunk, chunk.len(), false),
                };
                let room = keep.saturating_sub(buf.len());
                buf.extend_from_slice(&part[..part.len().min(room)]);
                len += part.len();
                (used, complete)
            }
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            // EIO and the like: nothing more can be read from this pipe.
            Err(_) => break,
        };
        pipe.consume(used);
        if complete {
            emit(&mut buf, &mut len, &mut on_line);
        }
    }
    if len > 0 {
        emit(&mut buf, &mut len, &mut on_line);
    }
}

fn emit(buf: &mut Vec<u8>, len: &mut usize, on_line: &mut impl FnMut(&Line<'_>)) {
    if buf.len() == *len && buf.last() == Some(&b'\r') {
        buf.pop();
        *len -= 1;
    }
    on_line(&Line {
        kept: buf,
        len: *len,
    });
    buf.clear();
    *len = 0;
    if buf.capacity() > 2 * MAX_LINE {
        // One long line does not keep its buffer for the rest of the task.
        buf.shrink_to(MAX_LINE);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn lines(input: &[u8], keep: usize) -> Vec<(String, usize)> {
        let mut out = Vec::new();
        read_lines(input, keep, |l| out.push((l.for_log().into_owned(), l.len))).await;
        out
    }

    #[tokio::test]
    async fn bytes_that_are_not_utf8_are_replaced_and_reading_goes_on() {
        let got: Vec<String> = lines(b"\xff\xfe ok\nnext\r\nlast without newline", 0)
            .await
            .into_iter()
            .map(|(l, _)| l)
            .collect();
        assert_eq!(got, ["\u{FFFD}\u{FFFD} ok", "next", "last without newline"]);
    }

    #[tokio::test]
    async fn a_line_longer_than_the_limit_is_cut_with_a_marker_and_counted_whole() {
        let mut input = vec![b'x'; MAX_LINE - 1];
        input.extend_from_slice("é".as_bytes()); // straddles the cut
        input.extend_from_slice(&[b'y'; 3 * MAX_LINE]);
        input.extend_from_slice(b"\nshort\n");
        let got = lines(&input, 0).await;
        assert_eq!(got.len(), 2);
        let (first, len) = &got[0];
        assert_eq!(*len, 4 * MAX_LINE + 1);
        let cut = 4 * MAX_LINE + 1 - (MAX_LINE - 1);
        assert!(
            first.ends_with(&format!("x… [{cut} more bytes of this line cut]")),
            "{}",
            &first[first.len() - 60..]
        );
        assert_eq!(got[1], ("short".to_string(), 5));
    }

    #[tokio::test]
    async fn at_most_keep_bytes_of_a_line_are_kept() {
        let input = vec![b'z'; 3 * MAX_LINE];
        let mut kept = 0;
        read_lines(&input[..], 2 * MAX_LINE, |l| kept = l.kept.len()).await;
        assert_eq!(kept, 2 * MAX_LINE);
    }
}
