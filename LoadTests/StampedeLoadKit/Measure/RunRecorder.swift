import Synchronization

/// Everything measured about completed requests in one loop (or merged over loops): per-route
/// latency histograms, per-route × outcome counts, and per-second accumulators.
public struct Measurements: Sendable {
    public var routes: [MicrosecondHistogram] = LoadRoute.allCases.map { _ in MicrosecondHistogram() }
    /// Per route, the latencies of 2xx answers only: what the accepted requests waited (fast
    /// `503 overloaded` answers would otherwise hide the queueing of the ones let in).
    public var accepted: [MicrosecondHistogram] = LoadRoute.allCases.map { _ in MicrosecondHistogram() }
    public var outcomes: [LoadRoute: [Outcome: Int]] = [:]
    public var seconds: [Int: SecondAccumulator] = [:]
    /// Open loop: how late each request left against its intended send time (the generator
    /// falling behind its schedule: no free connection, or a busy load thread).
    public var scheduleLag = MicrosecondHistogram()

    public init() {}

    public mutating func merge(_ other: Measurements) {
        for index in routes.indices { routes[index].add(other.routes[index]) }
        for index in accepted.indices { accepted[index].add(other.accepted[index]) }
        for (route, counts) in other.outcomes {
            outcomes[route, default: [:]].merge(counts, uniquingKeysWith: +)
        }
        for (second, accumulator) in other.seconds { seconds[second, default: SecondAccumulator()].merge(accumulator) }
        scheduleLag.add(other.scheduleLag)
    }

    /// All routes' latencies together.
    public var overall: MicrosecondHistogram {
        var all = MicrosecondHistogram()
        for route in routes { all.add(route) }
        return all
    }
}

/// What happened within one second of a run.
public struct SecondAccumulator: Sendable {
    /// Requests due to be sent in this second (open loop: by intended time).
    public var sent = 0
    /// Completions by `OutcomeKind`.
    public var kinds = [Int](repeating: 0, count: OutcomeKind.allCases.count)
    /// Latencies of requests completed in this second (two significant digits: small).
    public var latency = MicrosecondHistogram(significantDigits: .two)

    public init() {}

    public var completed: Int { kinds.reduce(0, +) }

    public mutating func merge(_ other: SecondAccumulator) {
        sent += other.sent
        for index in kinds.indices { kinds[index] += other.kinds[index] }
        latency.add(other.latency)
    }

    /// The timeline point of second `t`.
    public func point(t: Int) -> TimelinePoint {
        TimelinePoint(t: t, sent: sent, completed: completed,
                      success: kinds[OutcomeKind.success.rawValue], rejected: kinds[OutcomeKind.rejected.rawValue],
                      overloaded: kinds[OutcomeKind.overloaded.rawValue], serverError: kinds[OutcomeKind.serverError.rawValue],
                      transportError: kinds[OutcomeKind.transportError.rawValue],
                      p50Us: latency.microseconds(at: 50), p90Us: latency.microseconds(at: 90),
                      p99Us: latency.microseconds(at: 99), maxUs: latency.count == 0 ? 0 : latency.histogram.max)
    }
}

/// One second of the run's timeline (see REPORT-SCHEMA.md).
public struct TimelinePoint: Codable, Sendable, Equatable {
    public var t: Int
    public var sent: Int
    public var completed: Int
    public var success: Int
    public var rejected: Int
    public var overloaded: Int
    public var serverError: Int
    public var transportError: Int
    public var p50Us: UInt64
    public var p90Us: UInt64
    public var p99Us: UInt64
    public var maxUs: UInt64
}

/// A loop's measurements behind a lock: the loop records each completion, the progress display
/// takes finished seconds once a second. Uncontended except for that one take per second.
public final class RunRecorder: Sendable {
    private let state = Mutex(Measurements())
    /// Monotonic ns of second 0.
    public let start: UInt64

    public init(start: UInt64) { self.start = start }

    @inline(__always)
    func second(of time: UInt64) -> Int {
        time <= start ? 0 : Int((time - start) / 1_000_000_000)
    }

    /// Records a completed request: its outcome, latency (ns) and completion time.
    public func record(_ route: LoadRoute, _ outcome: Outcome, latency: UInt64, completedAt: UInt64) {
        let second = second(of: completedAt)
        state.withLock { m in
            m.routes[route.rawValue].record(nanoseconds: latency)
            if outcome.kind == .success { m.accepted[route.rawValue].record(nanoseconds: latency) }
            m.outcomes[route, default: [:]][outcome, default: 0] += 1
            m.seconds[second, default: SecondAccumulator()].kinds[outcome.kind.rawValue] += 1
            m.seconds[second, default: SecondAccumulator()].latency.record(nanoseconds: latency)
        }
    }

    /// Records how late (ns) a request left against its intended send time (open loop).
    public func recordScheduleLag(nanoseconds: UInt64) {
        state.withLock { $0.scheduleLag.record(nanoseconds: nanoseconds) }
    }

    /// Counts a request due at `intended`.
    public func recordSent(at intended: UInt64) {
        let second = second(of: intended)
        state.withLock { $0.seconds[second, default: SecondAccumulator()].sent += 1 }
    }

    /// Removes and returns the accumulators of seconds before `second`.
    public func takeSeconds(before second: Int) -> [Int: SecondAccumulator] {
        state.withLock { m in
            let done = m.seconds.filter { $0.key < second }
            for key in done.keys { m.seconds.removeValue(forKey: key) }
            return done
        }
    }

    /// A copy of everything recorded so far.
    public var snapshot: Measurements { state.withLock { $0 } }
}
