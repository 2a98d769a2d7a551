//! The sender's window for a stream's writes: how many bytes may be written and not yet
//! acknowledged, adapted to the bandwidth-delay product of the path.
//!
//! Each write is sent at once and acknowledged when the receiver has taken it. The controller
//! measures the delivery rate from the acknowledgements and the shortest round trip seen, and
//! sets the window to their product times a growth factor, so a fast link keeps enough bytes in
//! flight to stay busy (never stop-and-wait) and a slow reader never makes the sender buffer more
//! than the window. The constants are capnweb 0.12's, so both implementations behave alike on
//! one link: start at 256 KiB, stay within 64 KiB … 1 GiB, double per round trip while starting
//! up, then grow by a quarter, and decay by a tenth while acknowledgements lag.
//!
//! Pure bookkeeping: time is passed in, so the tests drive it with a simulated link. It owns no
//! I/O and no values.

use std::time::Duration;

/// The window a new stream starts with.
pub(crate) const INITIAL_WINDOW: f64 = 256.0 * 1024.0;
/// The window never grows beyond this.
pub(crate) const MAX_WINDOW: f64 = 1024.0 * 1024.0 * 1024.0;
/// The window never shrinks below this.
pub(crate) const MIN_WINDOW: f64 = 64.0 * 1024.0;
const STARTUP_GROWTH: f64 = 2.0;
const STEADY_GROWTH: f64 = 1.25;
const DECAY: f64 = 0.9;
/// Start-up ends after this many round trips without the window growing by `STEADY_GROWTH`.
const STARTUP_EXIT_ROUNDS: u32 = 3;

/// What the controller remembers of one write until it is acknowledged.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Token {
    sent: f64,
    size: f64,
    delivered_at_send: f64,
    delivered_time_at_send: f64,
    window_at_send: f64,
    window_full_at_send: bool,
}

/// See the module docs. Times are seconds since any fixed origin.
#[derive(Debug)]
pub(crate) struct FlowController {
    window: f64,
    in_flight: f64,
    starting_up: bool,
    delivered: f64,
    delivered_time: f64,
    first_ack_time: Option<f64>,
    first_ack_delivered: f64,
    min_rtt: f64,
    rounds_without_growth: u32,
    last_round_window: f64,
    round_start: f64,
}

impl Default for FlowController {
    fn default() -> Self {
        Self {
            window: INITIAL_WINDOW,
            in_flight: 0.0,
            starting_up: true,
            delivered: 0.0,
            delivered_time: 0.0,
            first_ack_time: None,
            first_ack_delivered: 0.0,
            min_rtt: f64::INFINITY,
            rounds_without_growth: 0,
            last_round_window: 0.0,
            round_start: 0.0,
        }
    }
}

/// Seconds, as the controller counts time.
pub(crate) fn seconds(elapsed: Duration) -> f64 {
    elapsed.as_secs_f64()
}

impl FlowController {
    /// The current window, in bytes.
    #[cfg(test)]
    pub(crate) fn window(&self) -> f64 {
        self.window
    }

    /// Bytes written and not yet acknowledged.
    #[cfg(test)]
    pub(crate) fn in_flight(&self) -> f64 {
        self.in_flight
    }

    /// Whether another write may be sent now.
    pub(crate) fn has_room(&self) -> bool {
        self.in_flight < self.window
    }

    /// A write of `size` bytes is sent at `now`.
    pub(crate) fn on_send(&mut self, size: usize, now: f64) -> Token {
        let size = size as f64;
        self.in_flight += size;
        Token {
            sent: now,
            size,
            delivered_at_send: self.delivered,
            delivered_time_at_send: self.delivered_time,
            window_at_send: self.window,
            window_full_at_send: self.in_flight >= self.window,
        }
    }

    /// A write failed: it no longer counts as in flight.
    pub(crate) fn on_error(&mut self, token: Token) {
        self.in_flight -= token.size;
    }

    /// A write was acknowledged at `now`. Returns whether the window has room again.
    pub(crate) fn on_ack(&mut self, token: Token, now: f64) -> bool {
        self.delivered += token.size;
        self.delivered_time = now;
        self.in_flight -= token.size;
        self.min_rtt = self.min_rtt.min(now - token.sent);
        let Some(first_ack_time) = self.first_ack_time else {
            // One acknowledgement gives a round trip but no rate yet.
            self.first_ack_time = Some(now);
            self.first_ack_delivered = self.delivered;
            return self.has_room();
        };
        // The rate over the interval since this write was sent (or since the first
        // acknowledgement, for writes sent before any arrived).
        let (base_time, base_delivered) = if token.delivered_time_at_send == 0.0 {
            (first_ack_time, self.first_ack_delivered)
        } else {
            (token.delivered_time_at_send, token.delivered_at_send)
        };
        let interval = now - base_time;
        let growth = if self.starting_up {
            STARTUP_GROWTH
        } else {
            STEADY_GROWTH
        };
        let mut window = if interval > 0.0 {
            (self.delivered - base_delivered) / interval * self.min_rtt * growth
        } else {
            f64::INFINITY
        };
        window = window.min(token.window_at_send * growth);
        window = if token.window_full_at_send {
            // The sender was waiting on the window: let it shrink, but only gradually.
            window.max(token.window_at_send * DECAY)
        } else {
            // An application-limited sender says nothing about the link: never shrink.
            window.max(self.window)
        };
        self.window = window.clamp(MIN_WINDOW, MAX_WINDOW);
        if self.starting_up && token.sent >= self.round_start {
            if self.window > self.last_round_window * STEADY_GROWTH {
                self.rounds_without_growth = 0;
            } else {
                self.rounds_without_growth += 1;
                if self.rounds_without_growth >= STARTUP_EXIT_ROUNDS {
                    self.starting_up = false;
                }
            }
            self.round_start = now;
            self.last_round_window = self.window;
        }
        self.has_room()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::VecDeque;

    /// A link with a fixed one-way-and-back delay and a bottleneck rate: a write of `size`
    /// bytes is acknowledged `rtt` after it finished crossing the bottleneck.
    struct Link {
        rtt: f64,
        bytes_per_second: f64,
        busy_until: f64,
    }

    impl Link {
        fn ack_time(&mut self, sent: f64, size: usize) -> f64 {
            let start = self.busy_until.max(sent);
            self.busy_until = start + size as f64 / self.bytes_per_second;
            self.busy_until + self.rtt
        }
    }

    /// Runs a sender that always has data (chunks of `chunk` bytes) over `link` for `seconds`;
    /// returns the controller and the most bytes ever in flight.
    fn saturate(link: &mut Link, chunk: usize, seconds: f64) -> (FlowController, f64) {
        let mut fc = FlowController::default();
        let mut pending: VecDeque<(f64, Token)> = VecDeque::new();
        let mut now = 0.0;
        let mut most_in_flight: f64 = 0.0;
        while now < seconds {
            while fc.has_room() {
                let token = fc.on_send(chunk, now);
                pending.push_back((link.ack_time(now, chunk), token));
                most_in_flight = most_in_flight.max(fc.in_flight());
            }
            // Blocked: wait for the next acknowledgement.
            let (at, token) = pending.pop_front().expect("a write is in flight");
            now = at;
            fc.on_ack(token, now);
        }
        (fc, most_in_flight)
    }

    #[test]
    fn a_full_window_blocks_and_an_acknowledgement_unblocks() {
        let mut fc = FlowController::default();
        let chunk = 64 * 1024;
        let mut tokens = Vec::new();
        while fc.has_room() {
            tokens.push(fc.on_send(chunk, 0.0));
        }
        assert_eq!(tokens.len(), 4, "256 KiB of 64 KiB writes fill the window");
        assert!(!fc.has_room());
        let first = tokens.remove(0);
        assert!(fc.on_ack(first, 0.01), "one acknowledgement makes room");
    }

    #[test]
    fn converges_near_the_bandwidth_delay_product() {
        // 100 MB/s with a 20 ms round trip: a product of 2 MB, well above the initial window.
        let mut link = Link {
            rtt: 0.02,
            bytes_per_second: 100e6,
            busy_until: 0.0,
        };
        let (fc, _) = saturate(&mut link, 64 * 1024, 5.0);
        let bdp = 100e6 * 0.02;
        assert!(
            fc.window() >= bdp && fc.window() <= bdp * 3.0,
            "window {} should settle near the product {bdp}",
            fc.window()
        );
    }

    #[test]
    fn a_slow_reader_keeps_the_window_small() {
        // A reader taking 1 MB/s over a 1 ms link: the product is 1 kB, so the window falls to
        // its floor and the sender never has more than that (plus one write) outstanding.
        let mut link = Link {
            rtt: 0.001,
            bytes_per_second: 1e6,
            busy_until: 0.0,
        };
        let (fc, _) = saturate(&mut link, 16 * 1024, 20.0);
        assert_eq!(fc.window(), MIN_WINDOW);
        assert!(fc.in_flight() <= MIN_WINDOW + 16.0 * 1024.0);
    }

    #[test]
    fn an_application_limited_sender_does_not_grow_the_window() {
        // One small write per round trip: the window is never full, so however fast the
        // acknowledgements come, it stays where it started.
        let mut fc = FlowController::default();
        let mut now = 0.0;
        for _ in 0..1000 {
            let token = fc.on_send(1024, now);
            now += 0.001;
            fc.on_ack(token, now);
        }
        assert_eq!(fc.window(), INITIAL_WINDOW);
        assert_eq!(fc.in_flight(), 0.0);
    }

    #[test]
    fn a_failed_write_stops_counting_as_in_flight() {
        let mut fc = FlowController::default();
        let token = fc.on_send(1000, 0.0);
        assert_eq!(fc.in_flight(), 1000.0);
        fc.on_error(token);
        assert_eq!(fc.in_flight(), 0.0);
    }

    #[test]
    fn the_window_stays_within_its_bounds_on_a_very_fast_link() {
        let mut link = Link {
            rtt: 0.5,
            bytes_per_second: 1e12,
            busy_until: 0.0,
        };
        let (fc, most) = saturate(&mut link, 1024 * 1024, 30.0);
        assert!(fc.window() <= MAX_WINDOW);
        assert!(most <= MAX_WINDOW + 1024.0 * 1024.0);
        assert!(fc.window() > INITIAL_WINDOW * 16.0, "grew: {}", fc.window());
    }
}
