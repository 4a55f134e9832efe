//! The bytes of one message on the bus: who published it and when, for a client-targeted
//! message its tenant and client ids, then the frame exactly as the sockets receive it
//! (serialized once, by the publisher).
//!
//! `1` · origin tag (8) · publish time, µs since the epoch (8, big-endian) · kind:
//! `g` (a user's or channel's sockets) then the frame, or `c` then
//! `<tenant>\n<client id> <client id>…\n` then the frame.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::extract::ws::Utf8Bytes;
use bytes::{BufMut, Bytes, BytesMut};

const VERSION: u8 = b'1';
const TAG_BYTES: usize = 8;
const HEADER_BYTES: usize = 1 + TAG_BYTES + 8 + 1;

pub struct Envelope {
    pub origin: String,
    published_micros: u64,
    /// Tenant and space-separated client ids, for a client-targeted message.
    pub clients: Option<(String, String)>,
    pub payload: Utf8Bytes,
}

fn now_micros() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |since| since.as_micros() as u64)
}

impl Envelope {
    pub fn encode(origin: &str, clients: Option<(&str, &str)>, payload: &Utf8Bytes) -> Bytes {
        let mut message = BytesMut::with_capacity(HEADER_BYTES + payload.len() + 64);
        message.put_u8(VERSION);
        message.put_slice(origin.as_bytes());
        message.put_u64(now_micros());
        match clients {
            None => message.put_u8(b'g'),
            Some((tenant, ids)) => {
                message.put_u8(b'c');
                for part in [tenant, "\n", ids, "\n"] {
                    message.put_slice(part.as_bytes());
                }
            }
        }
        message.put_slice(payload.as_bytes());
        message.freeze()
    }

    /// `None` for anything this version did not write.
    pub fn decode(mut message: Bytes) -> Option<Envelope> {
        if message.len() < HEADER_BYTES || message[0] != VERSION {
            return None;
        }
        let origin = std::str::from_utf8(&message[1..1 + TAG_BYTES]).ok()?.to_string();
        let published_micros = u64::from_be_bytes(message[1 + TAG_BYTES..HEADER_BYTES - 1].try_into().ok()?);
        let kind = message[HEADER_BYTES - 1];
        let mut body = message.split_off(HEADER_BYTES);
        let clients = match kind {
            b'g' => None,
            b'c' => {
                let mut line = || {
                    let end = body.iter().position(|&byte| byte == b'\n')?;
                    let line = body.split_to(end + 1);
                    Some(std::str::from_utf8(&line[..end]).ok()?.to_string())
                };
                Some((line()?, line()?))
            }
            _ => return None,
        };
        Some(Envelope { origin, published_micros, clients, payload: Utf8Bytes::try_from(body).ok()? })
    }

    /// How long ago it was published, by the publisher's clock.
    pub fn age(&self) -> Duration {
        Duration::from_micros(now_micros().saturating_sub(self.published_micros))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips() {
        let payload = Utf8Bytes::from("{\"type\":\"x\"}");
        let group = Envelope::decode(Envelope::encode("0a1b2c3d", None, &payload)).unwrap();
        assert_eq!((group.origin.as_str(), group.clients, group.payload.as_str()), ("0a1b2c3d", None, &*payload));
        let message = Envelope::encode("0a1b2c3d", Some(("acme", "1:ab 2:cd")), &payload);
        let clients = Envelope::decode(message).unwrap();
        assert_eq!(clients.clients, Some(("acme".to_string(), "1:ab 2:cd".to_string())));
        assert_eq!(clients.payload.as_str(), &*payload);
        assert!(Envelope::decode(Bytes::from_static(b"2garbage-garbage-garbage")).is_none());
        assert!(Envelope::decode(Bytes::from_static(b"1")).is_none());
    }
}
