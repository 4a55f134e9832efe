//! WebSocket close codes the server sends, and their reasons.

/// The session ended normally.
pub const NORMAL: u16 = 1000;
/// The server is shutting down: reconnect later.
pub const GOING_AWAY: u16 = 1001;
/// The client kept sending events over its rate limit.
pub const POLICY: u16 = 1008;
/// A message was larger than the limit (as jac-cloud).
pub const TOO_BIG: u16 = 1009;
/// No frame (nor pong) within the ping timeout, or a write took too long.
pub const TIMEOUT: u16 = 4000;
/// The client did not read fast enough: its outgoing queue filled up
/// (Centrifugo's 3008 "slow", in the private range).
pub const SLOW_CONSUMER: u16 = 4008;

pub fn reason(code: u16) -> &'static str {
    match code {
        GOING_AWAY => "server shutting down",
        POLICY => "too many events",
        TOO_BIG => "message too big",
        TIMEOUT => "timed out",
        SLOW_CONSUMER => "slow consumer: outgoing queue full",
        _ => "",
    }
}
