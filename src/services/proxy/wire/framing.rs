//! Where an upstream response body ends (RFC 9112 §6), read off the bytes as they pass through
//! unchanged: a length counted down, or chunked framing followed chunk by chunk.

use httparse::Header;

/// How an upstream response body is delimited, from its status and headers.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Framing {
    /// No body (1xx, 204, 304).
    None,
    /// `Content-Length`.
    Length(u64),
    /// `Transfer-Encoding` ending in `chunked`: passed through as it is, framing and all.
    Chunked,
    /// Neither: the body ends when the upstream closes. The client gets it re-chunked.
    Close,
}

/// Why a head cannot be framed.
#[derive(Debug, PartialEq, Eq)]
pub(super) struct BadFraming;

impl Framing {
    /// The body's framing (RFC 9112 §6.3): `Transfer-Encoding` wins over `Content-Length`; a
    /// transfer coding not ending in `chunked` means "until close"; lengths that disagree or do
    /// not parse are an error.
    pub(super) fn of(status: u16, headers: &[Header<'_>]) -> Result<Framing, BadFraming> {
        if status < 200 || status == 204 || status == 304 {
            return Ok(Framing::None);
        }
        let mut length: Option<u64> = None;
        let mut coded = None;
        for header in headers {
            if header.name.eq_ignore_ascii_case("transfer-encoding") {
                coded = Some(last_coding_is_chunked(header.value));
            } else if header.name.eq_ignore_ascii_case("content-length") {
                for item in header.value.split(|b| *b == b',') {
                    let n = parse_decimal(item.trim_ascii()).ok_or(BadFraming)?;
                    if length.is_some_and(|l| l != n) {
                        return Err(BadFraming);
                    }
                    length = Some(n);
                }
            }
        }
        Ok(match (coded, length) {
            (Some(true), _) => Framing::Chunked,
            (Some(false), _) => Framing::Close,
            (None, Some(n)) => Framing::Length(n),
            (None, None) => Framing::Close,
        })
    }
}

fn last_coding_is_chunked(value: &[u8]) -> bool {
    value
        .rsplit(|b| *b == b',')
        .next()
        .is_some_and(|last| last.trim_ascii().eq_ignore_ascii_case(b"chunked"))
}

/// A `Content-Length` value: digits only (no sign, space or list), at most 19 of them.
pub fn parse_decimal(digits: &[u8]) -> Option<u64> {
    if digits.is_empty() || digits.len() > 19 {
        return None;
    }
    digits.iter().try_fold(0u64, |n, b| {
        b.is_ascii_digit().then(|| n * 10 + u64::from(b - b'0'))
    })
}

/// Follows a chunked body through its bytes: where it ends, and whether the bytes so far end on
/// a chunk boundary (where the gateway may end the body itself, cleanly).
#[derive(Debug, Default)]
pub(super) struct Chunks {
    state: State,
    /// Bytes left in the current chunk's data, or the chunk size being read.
    size: u64,
}

#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Reading a chunk size (at least one hex digit).
    #[default]
    SizeStart,
    Size,
    /// A chunk extension, up to CR.
    Extension,
    SizeLf,
    Data,
    DataCr,
    DataLf,
    /// After the last chunk: at the start of a trailer line or the final CRLF.
    TrailerStart,
    Trailer,
    TrailerLf,
    EndLf,
    Done,
}

impl Chunks {
    /// Follows `bytes`; the number of them that belong to the body (all of them unless the body
    /// ended inside), or an error for bytes that are not chunked framing.
    pub(super) fn scan(&mut self, bytes: &[u8]) -> Result<usize, BadFraming> {
        let mut at = 0;
        while at < bytes.len() {
            if self.state == State::Done {
                return Ok(at);
            }
            if self.state == State::Data {
                let take = usize::try_from(self.size)
                    .unwrap_or(usize::MAX)
                    .min(bytes.len() - at);
                at += take;
                self.size -= take as u64;
                if self.size == 0 {
                    self.state = State::DataCr;
                }
                continue;
            }
            self.step(bytes[at])?;
            at += 1;
        }
        Ok(at)
    }

    fn step(&mut self, b: u8) -> Result<(), BadFraming> {
        use State::*;
        self.state = match (self.state, b) {
            (SizeStart | Size, _) if b.is_ascii_hexdigit() => {
                if self.size > u64::MAX >> 8 {
                    return Err(BadFraming);
                }
                self.size = self.size * 16 + u64::from(hex_value(b));
                Size
            }
            (Size, b';' | b' ' | b'\t') | (Extension, _) if b != b'\r' => Extension,
            (Size | Extension, b'\r') => SizeLf,
            (SizeLf, b'\n') if self.size == 0 => TrailerStart,
            (SizeLf, b'\n') => Data,
            (DataCr, b'\r') => DataLf,
            (DataLf, b'\n') => SizeStart,
            (TrailerStart, b'\r') => EndLf,
            (TrailerStart | Trailer, _) if b != b'\r' => Trailer,
            (Trailer, b'\r') => TrailerLf,
            (TrailerLf, b'\n') => TrailerStart,
            (EndLf, b'\n') => Done,
            _ => return Err(BadFraming),
        };
        Ok(())
    }

    /// The whole body has passed.
    pub(super) fn done(&self) -> bool {
        self.state == State::Done
    }

    /// The bytes so far end between two chunks: a last chunk written now ends the body cleanly.
    pub(super) fn at_boundary(&self) -> bool {
        self.state == State::SizeStart && self.size == 0
    }
}

fn hex_value(b: u8) -> u8 {
    match b {
        b'0'..=b'9' => b - b'0',
        b'a'..=b'f' => b - b'a' + 10,
        _ => b - b'A' + 10,
    }
}

/// Appends `data` as one chunk (nothing for no data: an empty chunk would end the body).
pub(super) fn push_chunk(out: &mut Vec<u8>, data: &[u8]) {
    if data.is_empty() {
        return;
    }
    let mut digits = [0u8; 16];
    let mut at = digits.len();
    let mut n = data.len();
    loop {
        at -= 1;
        digits[at] = b"0123456789abcdef"[n % 16];
        n /= 16;
        if n == 0 {
            break;
        }
    }
    out.extend_from_slice(&digits[at..]);
    out.extend_from_slice(b"\r\n");
    out.extend_from_slice(data);
    out.extend_from_slice(b"\r\n");
}

/// The last chunk with no trailers: the end of a chunked body.
pub(super) const LAST_CHUNK: &[u8] = b"0\r\n\r\n";

#[cfg(test)]
mod tests {
    use super::*;

    fn header<'a>(name: &'a str, value: &'a str) -> Header<'a> {
        Header {
            name,
            value: value.as_bytes(),
        }
    }

    #[test]
    fn framing_follows_rfc_9112() {
        assert_eq!(Framing::of(204, &[]), Ok(Framing::None));
        assert_eq!(
            Framing::of(304, &[header("content-length", "5")]),
            Ok(Framing::None)
        );
        assert_eq!(
            Framing::of(200, &[header("Content-Length", "12")]),
            Ok(Framing::Length(12))
        );
        assert_eq!(
            Framing::of(200, &[header("content-length", "3, 3")]),
            Ok(Framing::Length(3))
        );
        assert_eq!(
            Framing::of(200, &[header("content-length", "3, 4")]),
            Err(BadFraming)
        );
        assert_eq!(
            Framing::of(200, &[header("content-length", "-1")]),
            Err(BadFraming)
        );
        assert_eq!(
            Framing::of(200, &[header("content-length", "")]),
            Err(BadFraming)
        );
        assert_eq!(
            Framing::of(
                200,
                &[
                    header("transfer-encoding", "gzip, Chunked"),
                    header("content-length", "9")
                ]
            ),
            Ok(Framing::Chunked)
        );
        assert_eq!(
            Framing::of(200, &[header("transfer-encoding", "gzip")]),
            Ok(Framing::Close)
        );
        assert_eq!(Framing::of(200, &[]), Ok(Framing::Close));
    }

    #[test]
    fn chunks_end_where_the_last_chunk_and_trailers_end() {
        let body = b"5\r\nhello\r\n1;ext=1\r\n!\r\n0\r\nx-trailer: 1\r\n\r\nNEXT";
        // Whole, and byte by byte: the same end.
        let mut whole = Chunks::default();
        assert_eq!(whole.scan(body), Ok(body.len() - 4));
        assert!(whole.done());
        let mut bytewise = Chunks::default();
        let mut taken = 0;
        for b in body.iter() {
            if bytewise.done() {
                break;
            }
            taken += bytewise.scan(std::slice::from_ref(b)).expect("valid");
        }
        assert_eq!(taken, body.len() - 4);
        assert!(bytewise.done());
    }

    #[test]
    fn boundaries_are_known_and_bad_framing_is_refused() {
        let mut chunks = Chunks::default();
        assert!(chunks.at_boundary());
        chunks.scan(b"a\r\n01234").expect("valid");
        assert!(!chunks.at_boundary());
        chunks.scan(b"56789\r").expect("valid");
        assert!(!chunks.at_boundary());
        chunks.scan(b"\n").expect("valid");
        assert!(chunks.at_boundary());
        assert!(!chunks.done());
        for bad in [
            &b"x\r\n"[..],
            b"5\r\nhelloX",
            b"\r\n",
            b"fffffffffffffffff\r\n",
            b"5\n",
        ] {
            assert_eq!(Chunks::default().scan(bad), Err(BadFraming), "{bad:?}");
        }
    }

    proptest::proptest! {
        /// Any chunked body, cut anywhere into reads, ends exactly at its end; whatever follows
        /// it is not taken; and no byte string makes the scanner panic.
        #[test]
        fn chunked_bodies_end_exactly_however_they_are_read(
            chunks in proptest::collection::vec(proptest::collection::vec(proptest::num::u8::ANY, 1..300), 0..8),
            cuts in proptest::collection::vec(0usize..2000, 0..6),
            after in proptest::collection::vec(proptest::num::u8::ANY, 0..20),
        ) {
            let mut body = Vec::new();
            for chunk in &chunks {
                push_chunk(&mut body, chunk);
            }
            body.extend_from_slice(LAST_CHUNK);
            let end = body.len();
            body.extend_from_slice(&after);
            let mut cuts: Vec<usize> = cuts.into_iter().map(|c| c % (body.len() + 1)).collect();
            cuts.push(body.len());
            cuts.sort_unstable();
            let mut scanner = Chunks::default();
            let (mut from, mut taken) = (0, 0);
            for cut in cuts {
                if scanner.done() {
                    break;
                }
                taken += scanner.scan(&body[from..cut]).expect("valid framing");
                from = cut;
            }
            proptest::prop_assert!(scanner.done());
            proptest::prop_assert_eq!(taken, end);
        }

        #[test]
        fn any_bytes_are_scanned_without_panic(bytes in proptest::collection::vec(proptest::num::u8::ANY, 0..512)) {
            let mut scanner = Chunks::default();
            if let Ok(taken) = scanner.scan(&bytes) {
                proptest::prop_assert!(taken <= bytes.len());
            }
        }
    }

    #[test]
    fn chunks_are_written_in_hex() {
        let mut out = Vec::new();
        push_chunk(&mut out, &[b'a'; 26]);
        push_chunk(&mut out, b"");
        out.extend_from_slice(LAST_CHUNK);
        let mut expected = b"1a\r\n".to_vec();
        expected.extend_from_slice(&[b'a'; 26]);
        expected.extend_from_slice(b"\r\n0\r\n\r\n");
        assert_eq!(out, expected);
        let mut check = Chunks::default();
        assert_eq!(check.scan(&out), Ok(out.len()));
        assert!(check.done());
    }
}
