import Synchronization

/// The counters of one event loop, written by that loop only and read by anyone.
///
/// With a single writer, an increment is a relaxed load plus a relaxed store: no locked
/// read-modify-write on the request path, and no cache line shared between loops.
final class LoopCounters: Sendable {
    /// What a loop counts.
    enum Counter: CaseIterable {
        case accepted, rejectedOverLimit, rejectedPerClient, requests, parseErrors, timeouts, recycled, movedOut
        case tlsHandshakes, tlsHandshakeFailures, tlsHandshakeTimeouts
    }

    private let accepted = Atomic<Int>(0)
    private let rejectedOverLimit = Atomic<Int>(0)
    private let requests = Atomic<Int>(0)
    private let parseErrors = Atomic<Int>(0)
    private let timeouts = Atomic<Int>(0)
    private let rejectedPerClient = Atomic<Int>(0)
    private let recycled = Atomic<Int>(0)
    private let movedOut = Atomic<Int>(0)
    private let tlsHandshakes = Atomic<Int>(0)
    private let tlsHandshakeFailures = Atomic<Int>(0)
    private let tlsHandshakeTimeouts = Atomic<Int>(0)

    /// Adds one to `counter`; call only from the owning loop's thread.
    func increment(_ counter: Counter) {
        switch counter {
        case .accepted: Self.bump(accepted)
        case .rejectedOverLimit: Self.bump(rejectedOverLimit)
        case .requests: Self.bump(requests)
        case .parseErrors: Self.bump(parseErrors)
        case .timeouts: Self.bump(timeouts)
        case .rejectedPerClient: Self.bump(rejectedPerClient)
        case .recycled: Self.bump(recycled)
        case .movedOut: Self.bump(movedOut)
        case .tlsHandshakes: Self.bump(tlsHandshakes)
        case .tlsHandshakeFailures: Self.bump(tlsHandshakeFailures)
        case .tlsHandshakeTimeouts: Self.bump(tlsHandshakeTimeouts)
        }
    }

    /// The current value of `counter`, from any thread.
    func value(_ counter: Counter) -> Int {
        switch counter {
        case .accepted: accepted.load(ordering: .relaxed)
        case .rejectedOverLimit: rejectedOverLimit.load(ordering: .relaxed)
        case .requests: requests.load(ordering: .relaxed)
        case .parseErrors: parseErrors.load(ordering: .relaxed)
        case .timeouts: timeouts.load(ordering: .relaxed)
        case .rejectedPerClient: rejectedPerClient.load(ordering: .relaxed)
        case .recycled: recycled.load(ordering: .relaxed)
        case .movedOut: movedOut.load(ordering: .relaxed)
        case .tlsHandshakes: tlsHandshakes.load(ordering: .relaxed)
        case .tlsHandshakeFailures: tlsHandshakeFailures.load(ordering: .relaxed)
        case .tlsHandshakeTimeouts: tlsHandshakeTimeouts.load(ordering: .relaxed)
        }
    }

    @inline(__always)
    private static func bump(_ atomic: borrowing Atomic<Int>) {
        atomic.store(atomic.load(ordering: .relaxed) &+ 1, ordering: .relaxed)
    }
}

extension HTTPServerStatistics {
    /// Sums the loops' counters; `openConnections` comes from the shared budget.
    init(openConnections: Int, loops: [LoopCounters]) {
        func total(_ counter: LoopCounters.Counter) -> Int {
            loops.reduce(0) { $0 + $1.value(counter) }
        }
        self.init(
            openConnections: openConnections,
            acceptedTotal: total(.accepted),
            rejectedOverLimit: total(.rejectedOverLimit),
            requestsTotal: total(.requests),
            parseErrors: total(.parseErrors),
            timeouts: total(.timeouts),
            rejectedPerClient: total(.rejectedPerClient),
            recycled: total(.recycled),
            moved: total(.movedOut),
            tlsHandshakes: total(.tlsHandshakes),
            tlsHandshakeFailures: total(.tlsHandshakeFailures),
            tlsHandshakeTimeouts: total(.tlsHandshakeTimeouts)
        )
    }
}
