//! A child process's stdout or stderr, read as lines.
//!
//! Tasks print whatever bytes they like: the pipe is read as bytes, split
//! on `\n` (a `\r` before it is dropped too), and each line is decoded
//! lossily (a byte that is not UTF-8 becomes U+FFFD). The pipe is always
//! read to its end: a reader that stopped early would leave the command
//! blocked on a full pipe, or killed by SIGPIPE.

use tokio::io::{AsyncBufReadExt, AsyncRead, BufReader};

/// Calls `on_line` with each line of `pipe` until its end (or a read error).
pub async fn read_lines<R: AsyncRead + Unpin>(pipe: R, mut on_line: impl FnMut(&str)) {
    let mut pipe = BufReader::new(pipe);
    let mut buf = Vec::new();
    loop {
        buf.clear();
        match pipe.read_until(b'\n', &mut buf).await {
            Ok(0) => return,
            Ok(_) => on_line(&String::from_utf8_lossy(trim_newline(&buf))),
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            // EIO and the like: nothing more can be read from this pipe.
            Err(_) => return,
        }
    }
}

fn trim_newline(line: &[u8]) -> &[u8] {
    let line = line.strip_suffix(b"\n").unwrap_or(line);
    line.strip_suffix(b"\r").unwrap_or(line)
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn lines(input: &[u8]) -> Vec<String> {
        let mut out = Vec::new();
        read_lines(input, |l| out.push(l.to_string())).await;
        out
    }

    #[tokio::test]
    async fn bytes_that_are_not_utf8_are_replaced_and_reading_goes_on() {
        assert_eq!(
            lines(b"\xff\xfe ok\nnext\r\nlast without newline").await,
            ["\u{FFFD}\u{FFFD} ok", "next", "last without newline"]
        );
    }
}
