import StampedePool
import Testing

/// The reconnect schedule: immediate first try, doubling waits, a cap, reset on success.
@Suite struct ReconnectBackoffTests {
    /// Waits double from 50 ms up to the 1 s cap and a success allows an immediate attempt again.
    @Test func doublesUpToCapAndResets() {
        let start = ContinuousClock.now
        var backoff = ReconnectBackoff()
        #expect(backoff.allowsAttempt(now: start))
        var waits: [Duration] = []
        for _ in 0..<8 {
            backoff.recordFailure(now: start)
            waits.append(start.duration(to: backoff.nextAttempt!))
        }
        #expect(waits == [50, 100, 200, 400, 800, 1_000, 1_000, 1_000].map { .milliseconds($0) })
        #expect(!backoff.allowsAttempt(now: start + .milliseconds(999)))
        #expect(backoff.allowsAttempt(now: start + .seconds(1)))
        backoff.recordSuccess()
        #expect(backoff.allowsAttempt(now: start))
    }
}
