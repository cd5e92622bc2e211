//! The body of a response that refused the upgrade, read so the application can see why (a 401's text, a
//! redirect's page), never past a cap. Its end is found as RFC 9112 §6.3 says: no body for 1xx, 204 and
//! 304; chunked transfer coding decoded; `Content-Length` bytes; otherwise up to the end of the stream.
//!
//! The body is for reading, not for continuing on the connection (the client closes it after a refusal),
//! so where the framing is broken the bytes read so far are kept rather than failing.

use super::http::Headers;

/// How the body's end is found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Framing {
    Empty,
    Length(u64),
    Chunked,
    UntilClose,
}

/// RFC 9112 §6.3, in its order for responses.
pub(crate) fn framing(status: u16, headers: &Headers) -> Framing {
    if (100..200).contains(&status) || status == 204 || status == 304 {
        return Framing::Empty;
    }
    if headers.get("Transfer-Encoding").is_some() {
        // §6.3 item 4: chunked only if it is the final coding; otherwise the body lasts until the close.
        return match headers.tokens("Transfer-Encoding").last() {
            Some(coding) if coding.eq_ignore_ascii_case("chunked") => Framing::Chunked,
            _ => Framing::UntilClose,
        };
    }
    let mut lengths = headers.all("Content-Length").map(|v| {
        std::str::from_utf8(v.trim_ascii())
            .ok()?
            .parse::<u64>()
            .ok()
    });
    match lengths.next() {
        // Several lines must agree (§6.3 item 5); what cannot be read lasts until the close.
        Some(Some(length)) if lengths.all(|other| other == Some(length)) => Framing::Length(length),
        Some(_) => Framing::UntilClose,
        None => Framing::UntilClose,
    }
}

/// The body, once complete, capped at `cap` bytes, or at the end of the stream with what came; `None` while
/// more is needed.
pub(crate) fn read_body(framing: Framing, raw: &[u8], cap: usize, eof: bool) -> Option<Vec<u8>> {
    match framing {
        Framing::Empty => Some(Vec::new()),
        Framing::Length(length) => {
            let wanted = usize::try_from(length).unwrap_or(usize::MAX).min(cap);
            (raw.len() >= wanted || eof).then(|| raw[..wanted.min(raw.len())].to_vec())
        }
        Framing::UntilClose => {
            (raw.len() >= cap || eof).then(|| raw[..cap.min(raw.len())].to_vec())
        }
        Framing::Chunked => {
            // The cap bounds what is held, so it counts the bytes as received, chunk lines included:
            // the body is what the first `cap` of them decode to, however they arrived.
            let (body, ended) = decode_chunked(&raw[..cap.min(raw.len())]);
            (ended || eof || raw.len() >= cap).then_some(body)
        }
    }
}

/// Decodes chunks (RFC 9112 §7.1) until the last chunk or malformed input (then `true`), or the end of
/// `raw` (then `false`). Trailer fields are not read.
fn decode_chunked(mut raw: &[u8]) -> (Vec<u8>, bool) {
    let mut body = Vec::new();
    loop {
        let (start, size) = match httparse::parse_chunk_size(raw) {
            Ok(httparse::Status::Complete((_, 0))) | Err(_) => return (body, true),
            Ok(httparse::Status::Complete(found)) => found,
            Ok(httparse::Status::Partial) => return (body, false),
        };
        let data = &raw[start..];
        let size = usize::try_from(size).unwrap_or(usize::MAX);
        body.extend_from_slice(&data[..size.min(data.len())]);
        match size.checked_add(2) {
            Some(end) if data.len() >= end => {
                if &data[size..end] != b"\r\n" {
                    return (body, true);
                }
                raw = &data[end..];
            }
            _ => return (body, false),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(lines: &[(&str, &str)]) -> Headers {
        let mut headers = Headers::default();
        for (name, value) in lines {
            headers.push(name, value);
        }
        headers
    }

    /// The body read whole, byte at a time (never complete before its end), and with trailing bytes.
    fn read_three_ways(framing: Framing, raw: &[u8], cap: usize) -> Vec<u8> {
        let whole = read_body(framing, raw, cap, false).expect("complete");
        for end in 0..raw.len() {
            if let Some(early) = read_body(framing, &raw[..end], cap, false) {
                assert_eq!(early, whole, "complete after {end} bytes");
            }
        }
        let trailing = [raw, b"HTTP/1.1 200 OK\r\n"].concat();
        assert_eq!(
            read_body(framing, &trailing, cap, false).as_deref(),
            Some(&whole[..])
        );
        whole
    }

    #[test]
    fn finds_the_framing_as_rfc_9112_says() {
        let chunked = headers(&[
            ("Transfer-Encoding", "gzip, chunked"),
            ("Content-Length", "3"),
        ]);
        assert_eq!(framing(401, &chunked), Framing::Chunked);
        assert_eq!(
            framing(401, &headers(&[("Transfer-Encoding", "gzip")])),
            Framing::UntilClose
        );
        assert_eq!(
            framing(401, &headers(&[("Content-Length", " 12 ")])),
            Framing::Length(12)
        );
        let disagree = headers(&[("Content-Length", "1"), ("Content-Length", "2")]);
        assert_eq!(framing(401, &disagree), Framing::UntilClose);
        assert_eq!(framing(302, &headers(&[])), Framing::UntilClose);
        assert_eq!(
            framing(304, &headers(&[("Content-Length", "12")])),
            Framing::Empty
        );
        assert_eq!(framing(204, &headers(&[])), Framing::Empty);
    }

    #[test]
    fn reads_content_length_bytes() {
        assert_eq!(read_three_ways(Framing::Length(5), b"hello", 100), b"hello");
    }

    #[test]
    fn caps_a_long_body() {
        assert_eq!(
            read_three_ways(Framing::Length(1 << 40), &[b'x'; 10], 4),
            b"xxxx"
        );
        assert_eq!(
            read_body(Framing::UntilClose, &[b'x'; 10], 4, false).unwrap(),
            b"xxxx"
        );
    }

    #[test]
    fn reads_until_the_close_without_a_length() {
        assert_eq!(read_body(Framing::UntilClose, b"bye", 100, false), None);
        assert_eq!(
            read_body(Framing::UntilClose, b"bye", 100, true).unwrap(),
            b"bye"
        );
    }

    #[test]
    fn keeps_what_came_of_a_body_cut_short() {
        assert_eq!(
            read_body(Framing::Length(10), b"abc", 100, true).unwrap(),
            b"abc"
        );
    }

    #[test]
    fn decodes_chunks_until_the_last_one() {
        let raw = b"5\r\nhello\r\n7;ext=1\r\n, world\r\n0\r\n\r\n";
        assert_eq!(read_three_ways(Framing::Chunked, raw, 100), b"hello, world");
        // Seven bytes as received: a chunk line and four bytes of data.
        assert_eq!(read_three_ways(Framing::Chunked, raw, 7), b"hell");
    }

    #[test]
    fn stops_at_malformed_chunks_with_what_was_decoded() {
        assert_eq!(
            read_body(Framing::Chunked, b"2\r\nhiXX", 100, false).unwrap(),
            b"hi"
        );
        assert_eq!(
            read_body(Framing::Chunked, b"zz\r\n", 100, false).unwrap(),
            b""
        );
    }
}
