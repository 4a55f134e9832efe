//! Token buckets: a rate with a burst, for quotas, throttles and rate limits.

use std::time::Duration;

use tokio::time::Instant;

/// `rate` tokens a second, up to `burst`.
pub struct TokenBucket {
    rate: f64,
    burst: f64,
    tokens: f64,
    refilled: Instant,
}

impl TokenBucket {
    /// `rate` tokens a second, up to a burst of twice that.
    pub fn new(rate: u32) -> Self {
        let rate = f64::from(rate);
        TokenBucket { rate, burst: 2.0 * rate, tokens: 2.0 * rate, refilled: Instant::now() }
    }

    /// `count` tokens a minute, up to a burst of `count`: for slow, costly actions.
    pub fn per_minute(count: u32) -> Self {
        let burst = f64::from(count);
        TokenBucket { rate: burst / 60.0, burst, tokens: burst, refilled: Instant::now() }
    }

    pub fn take(&mut self) -> bool {
        self.take_many(1)
    }

    /// Takes `amount` tokens whether or not there are as many, and says how long until
    /// the debt is paid, if there is one.
    pub fn charge(&mut self, amount: f64) -> Option<Duration> {
        self.refill();
        self.tokens -= amount;
        self.debt()
    }

    /// How long until the bucket is out of debt, if it is in debt.
    pub fn debt(&mut self) -> Option<Duration> {
        self.refill();
        (self.tokens < 0.0).then(|| Duration::from_secs_f64(-self.tokens / self.rate))
    }

    /// Whether it holds its whole burst: forgetting it would change nothing.
    pub fn is_full(&mut self) -> bool {
        self.refill();
        self.tokens >= self.burst
    }

    fn refill(&mut self) {
        let now = Instant::now();
        let elapsed = now.duration_since(self.refilled).as_secs_f64();
        self.tokens = (self.tokens + elapsed * self.rate).min(self.burst);
        self.refilled = now;
    }

    /// Takes a token, or says how long until there is one.
    pub fn take_or_wait(&mut self) -> Result<(), Duration> {
        if self.take() {
            return Ok(());
        }
        Err(Duration::from_secs_f64((1.0 - self.tokens) / self.rate))
    }

    /// Takes `count` tokens if there are as many, else none.
    pub fn take_many(&mut self, count: usize) -> bool {
        self.refill();
        if self.tokens < count as f64 {
            return false;
        }
        self.tokens -= count as f64;
        true
    }
}

/// What `EventLimit` makes of one more event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Admit,
    /// Over the rate: refuse it, and say so.
    Refuse,
    /// Still sending over the rate after refusals: stop reading the sender.
    CutOff,
}

/// `rate` events a second (a burst of twice that), tolerating brief excess: refusals
/// past a tenth of the rate per second (a burst of twice that) cut the sender off.
pub struct EventLimit {
    admitted: TokenBucket,
    refusals: TokenBucket,
}

impl EventLimit {
    pub fn new(rate: u32) -> Self {
        EventLimit { admitted: TokenBucket::new(rate), refusals: TokenBucket::new((rate / 10).max(1)) }
    }

    pub fn check(&mut self) -> Verdict {
        if self.admitted.take() {
            Verdict::Admit
        } else if self.refusals.take() {
            Verdict::Refuse
        } else {
            Verdict::CutOff
        }
    }
}
