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

/// One complete reply from the front of `buffer`, or `None` if it is not all there yet.
pub fn parse(buffer: &mut BytesMut) -> std::io::Result<Option<Reply>> {
    let mut at = 0;
    match parse_at(buffer, &mut at)? {
        Some(reply) => {
            buffer.advance(at);
            Ok(Some(reply))
        }
        None => Ok(None),
    }
}

/// Parses the reply starting at `*at`, moving `*at` past it.
fn parse_at(buffer: &BytesMut, at: &mut usize) -> std::io::Result<Option<Reply>> {
    let Some(end) = buffer[*at..].windows(2).position(|pair| pair == b"\r\n") else { return Ok(None) };
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
            *at = after_line;
            if count < 0 {
                Reply::Array(None)
            } else {
                let mut items = Vec::with_capacity(count as usize);
                for _ in 0..count {
                    match parse_at(buffer, at)? {
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
        for cut in 0..message.len() {
            let mut partial = BytesMut::from(&message[..cut]);
            if cut < 37 {
                assert!(parse(&mut partial).unwrap().is_none(), "{cut}");
                assert_eq!(partial.len(), cut, "nothing consumed");
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
}
