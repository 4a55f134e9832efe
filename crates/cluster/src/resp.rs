//! The little of Redis' wire protocol (RESP2) the bus speaks, on sockets it owns: no
//! driver task sits between a socket and the bus, which saves a task hop each way on a
//! message's path (the redis crate still parses URLs and packs commands).

use std::time::Duration;

use bytes::{Buf, Bytes, BytesMut};
use redis::{ConnectionAddr, ConnectionInfo};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

pub type Reader = Box<dyn AsyncRead + Send + Unpin>;
pub type Writer = Box<dyn AsyncWrite + Send + Unpin>;

/// One reply, or one pushed pub/sub message (an array).
#[derive(Debug)]
pub enum Reply {
    Simple(Bytes),
    Error(Bytes),
    /// A count (subscriptions, receivers): checked, not kept.
    Integer,
    Bulk(Option<Bytes>),
    Array(Option<Vec<Reply>>),
}

impl Reply {
    pub fn as_bytes(&self) -> Option<&Bytes> {
        match self {
            Reply::Simple(bytes) | Reply::Bulk(Some(bytes)) => Some(bytes),
            _ => None,
        }
    }
}

fn broken(why: &str) -> std::io::Error {
    std::io::Error::new(std::io::ErrorKind::InvalidData, format!("redis: {why}"))
}

/// Connects to `info`'s address (TCP without Nagle's algorithm, or a Unix socket) and
/// authenticates; `timeout` bounds it all.
pub async fn connect(info: &ConnectionInfo, timeout: Duration) -> std::io::Result<(Reader, Writer, BytesMut)> {
    let connecting = async {
        let (reader, mut writer): (Reader, Writer) = match info.addr() {
            ConnectionAddr::Tcp(host, port) => {
                let stream = tokio::net::TcpStream::connect((host.as_str(), *port)).await?;
                stream.set_nodelay(true)?;
                let (reader, writer) = stream.into_split();
                (Box::new(reader), Box::new(writer))
            }
            ConnectionAddr::Unix(path) => {
                let (reader, writer) = tokio::net::UnixStream::connect(path).await?.into_split();
                (Box::new(reader), Box::new(writer))
            }
            _ => return Err(broken("only redis:// and redis+unix:// addresses are supported")),
        };
        let mut reader = reader;
        let mut buffer = BytesMut::with_capacity(64 << 10);
        let settings = info.redis_settings();
        if let Some(password) = settings.password() {
            let mut auth = redis::cmd("AUTH");
            if let Some(user) = settings.username() {
                auth.arg(user);
            }
            writer.write_all(&auth.arg(password).get_packed_command()).await?;
            if let Reply::Error(message) = read(&mut reader, &mut buffer).await? {
                return Err(broken(&String::from_utf8_lossy(&message)));
            }
        }
        Ok((reader, writer, buffer))
    };
    tokio::time::timeout(timeout, connecting).await.map_err(|_| std::io::Error::from(std::io::ErrorKind::TimedOut))?
}

/// The next reply. Cancel-safe: bytes already read stay in `buffer`.
pub async fn read(reader: &mut Reader, buffer: &mut BytesMut) -> std::io::Result<Reply> {
    loop {
        if let Some(reply) = parse(buffer)? {
            return Ok(reply);
        }
        if reader.read_buf(buffer).await? == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
    }
}

/// The longest header or simple reply line: one longer is refused unread.
const MAX_LINE_BYTES: usize = 64 << 10;
/// The largest bulk string: above the largest notification (16 MiB) in its envelope.
const MAX_BULK_BYTES: i64 = 64 << 20;
/// The most items in one array; pub/sub messages and confirmations have 3 or 4.
const MAX_ARRAY_ITEMS: i64 = 1 << 10;
/// Arrays inside arrays, at most; the replies the bus reads have none.
const MAX_DEPTH: usize = 4;

/// One complete reply from the front of `buffer`, or `None` if it is not all there yet.
/// Whatever Redis sends, what it costs is bounded before it is read: lengths, counts
/// and nesting past the limits above are refused as broken.
pub fn parse(buffer: &mut BytesMut) -> std::io::Result<Option<Reply>> {
    let mut at = 0;
    match parse_at(buffer, &mut at, 0)? {
        Some(reply) => {
            buffer.advance(at);
            Ok(Some(reply))
        }
        None => Ok(None),
    }
}

/// Parses the reply starting at `*at`, moving `*at` past it.
fn parse_at(buffer: &BytesMut, at: &mut usize, depth: usize) -> std::io::Result<Option<Reply>> {
    let rest = &buffer[*at..];
    let Some(end) = rest.windows(2).take(MAX_LINE_BYTES).position(|pair| pair == b"\r\n") else {
        return if rest.len() > MAX_LINE_BYTES { Err(broken("a line too long")) } else { Ok(None) };
    };
    if end == 0 {
        return Err(broken("a reply without a type"));
    }
    let line = &buffer[*at + 1..*at + end];
    let kind = buffer[*at];
    let number = || -> std::io::Result<i64> {
        std::str::from_utf8(line).ok().and_then(|text| text.parse().ok()).ok_or_else(|| broken("a bad length"))
    };
    let after_line = *at + end + 2;
    let reply = match kind {
        b'+' | b'-' => {
            let text = Bytes::copy_from_slice(line);
            *at = after_line;
            if kind == b'+' { Reply::Simple(text) } else { Reply::Error(text) }
        }
        b':' => {
            number()?;
            *at = after_line;
            Reply::Integer
        }
        b'$' => {
            let length = number()?;
            if length > MAX_BULK_BYTES {
                return Err(broken("a bulk string too long"));
            }
            if length < 0 {
                *at = after_line;
                Reply::Bulk(None)
            } else {
                let end = after_line + length as usize;
                if buffer.len() < end + 2 {
                    return Ok(None);
                }
                *at = end + 2;
                Reply::Bulk(Some(Bytes::copy_from_slice(&buffer[after_line..end])))
            }
        }
        b'*' => {
            let count = number()?;
            if count > MAX_ARRAY_ITEMS || depth >= MAX_DEPTH {
                return Err(broken("an array too long or too deep"));
            }
            *at = after_line;
            if count < 0 {
                Reply::Array(None)
            } else {
                let mut items = Vec::with_capacity(count as usize);
                for _ in 0..count {
                    match parse_at(buffer, at, depth + 1)? {
                        Some(item) => items.push(item),
                        None => return Ok(None),
                    }
                }
                Reply::Array(Some(items))
            }
        }
        _ => return Err(broken("an unknown reply type")),
    };
    Ok(Some(reply))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_replies_and_waits_for_the_rest_of_one() {
        let message = b"*3\r\n$7\r\nmessage\r\n$5\r\nwh:ab\r\n$3\r\nhi!\r\n:2\r\n+OK\r\n$-1\r\n";
        // Every cut short of the first reply's end waits for more; past it, the first
        // reply parses and leaves the rest of what arrived.
        let first = 37;
        for cut in 0..message.len() {
            let mut partial = BytesMut::from(&message[..cut]);
            let parsed = parse(&mut partial).unwrap();
            if cut < first {
                assert!(parsed.is_none(), "{cut}");
                assert_eq!(partial.len(), cut, "nothing consumed");
            } else {
                assert!(matches!(parsed, Some(Reply::Array(Some(ref items))) if items.len() == 3), "{cut}");
                assert_eq!(partial.len(), cut - first, "{cut}: only the first reply consumed");
            }
        }
        let mut buffer = BytesMut::from(&message[..]);
        let Some(Reply::Array(Some(items))) = parse(&mut buffer).unwrap() else { panic!() };
        let texts: Vec<_> = items.iter().map(|item| item.as_bytes().unwrap().as_ref()).collect();
        assert_eq!(texts, [&b"message"[..], b"wh:ab", b"hi!"]);
        assert!(matches!(parse(&mut buffer).unwrap(), Some(Reply::Integer)));
        assert!(matches!(parse(&mut buffer).unwrap(), Some(Reply::Simple(_))));
        assert!(matches!(parse(&mut buffer).unwrap(), Some(Reply::Bulk(None))));
        assert!(buffer.is_empty());
        assert!(parse(&mut BytesMut::from(&b"?x\r\n"[..])).is_err());
    }

    #[test]
    fn what_a_hostile_redis_sends_is_refused_before_it_costs_memory() {
        for hostile in [&b"*1099511627776\r\n"[..], b"$1099511627776\r\n", b"*1\r\n*1\r\n*1\r\n*1\r\n*1\r\n:1\r\n"] {
            assert!(parse(&mut BytesMut::from(hostile)).is_err(), "{}", String::from_utf8_lossy(hostile));
        }
        let endless_line = BytesMut::from(&vec![b'+'; MAX_LINE_BYTES + 2][..]);
        assert!(parse(&mut endless_line.clone()).is_err());
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(100_000))]
        /// Arbitrary bytes, and arbitrary bytes after a valid reply: never a panic, and a
        /// reply or "not yet" or an error, with nothing consumed but complete replies.
        #[test]
        fn parsing_arbitrary_bytes_never_panics(
            noise in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..256),
            kind in proptest::sample::select(&b"+-:$*"[..]),
        ) {
            let mut buffer = BytesMut::from(&noise[..]);
            let _ = parse(&mut buffer);
            let mut typed = BytesMut::from(&[kind][..]);
            typed.extend_from_slice(&noise);
            let before = typed.len();
            if let Ok(None) = parse(&mut typed) {
                proptest::prop_assert_eq!(typed.len(), before);
            }
        }
    }
}
