/// The delay schedule between one worker's failed connect attempts.
///
/// The first attempt after a lost connection is immediate; each failure doubles the wait, from
/// `initial` up to `maximum`, and a success resets it. Pure: callers pass the current time. While
/// an attempt is not yet due the worker fails jobs fast with the last connect error, so callers
/// see "server down" at once instead of each paying a connect timeout.
public struct ReconnectBackoff: Sendable {
    /// The time base of attempts.
    public typealias Instant = ContinuousClock.Instant

    /// The wait after the first failure.
    public let initial: Duration
    /// The longest wait between attempts.
    public let maximum: Duration
    /// When the next attempt is allowed; `nil` while no failure is pending.
    public private(set) var nextAttempt: Instant?
    private var delay: Duration?

    /// Creates a schedule that allows an attempt now.
    public init(initial: Duration = .milliseconds(50), maximum: Duration = .seconds(1)) {
        self.initial = initial
        self.maximum = maximum
    }

    /// Whether a connect attempt may be made at `now`.
    public func allowsAttempt(now: Instant) -> Bool {
        nextAttempt.map { now >= $0 } ?? true
    }

    /// Records a failed attempt at `now` and schedules the next one.
    public mutating func recordFailure(now: Instant) {
        let next = delay.map { min($0 * 2, maximum) } ?? initial
        delay = next
        nextAttempt = now + next
    }

    /// Records a successful connect: the next loss retries at once.
    public mutating func recordSuccess() {
        delay = nil
        nextAttempt = nil
    }
}
