import Foundation
import Glibc
import StampedeSystem
import Synchronization
import Testing
@testable import StampedeLoadKit

/// A tiny blocking HTTP server on its own threads that answers `200 {}` at once, except that it
/// stalls before answering request number `stallAt` (counted over all connections).
final class StallingServer: Sendable {
    let port: Int
    private let listener: Int32
    private let served = Atomic<Int>(0)
    let stallAt: Int
    let stallMicroseconds: UInt32

    init(stallAt: Int, stallMicroseconds: UInt32) throws {
        self.stallAt = stallAt
        self.stallMicroseconds = stallMicroseconds
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = UInt32(0x7F00_0001).bigEndian
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { pointer in
                bind(fd, pointer, length) == 0 && listen(fd, 64) == 0 && getsockname(fd, pointer, &length) == 0
            }
        }
        guard bound else { close(fd); throw SystemCallError(call: "bind", errno: errno) }
        listener = fd
        port = Int(UInt16(bigEndian: address.sin_port))
        let listener = self.listener
        Thread { [self] in
            while true {
                let fd = accept(listener, nil, nil)
                if fd < 0 { return }
                Thread { self.serve(fd) }.start()
            }
        }.start()
    }

    func stop() { shutdown(listener, Int32(SHUT_RDWR)); close(listener) }

    private func serve(_ fd: Int32) {
        defer { close(fd) }
        var pending: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 4096)
        let answer = Array("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}".utf8)
        while true {
            let count = buffer.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            if count <= 0 { return }
            pending += buffer[..<count]
            while let end = Self.headEnd(pending) {
                pending.removeFirst(end + 4)
                if served.add(1, ordering: .relaxed).newValue == stallAt { usleep(stallMicroseconds) }
                _ = answer.withUnsafeBytes { send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            }
        }
    }

    private static func headEnd(_ bytes: [UInt8]) -> Int? {
        guard bytes.count >= 4 else { return nil }
        for index in 0...(bytes.count - 4) where bytes[index] == 13 && bytes[index + 1] == 10 && bytes[index + 2] == 13 && bytes[index + 3] == 10 {
            return index
        }
        return nil
    }
}

/// Sends `GET /x` forever.
final class FixedWorkload: Workload {
    var isExhausted: Bool { false }
    var ledger: RunLedger { RunLedger() }
    func nextRequest(now: UInt64) -> LoadRequest? { LoadRequest(route: .viewSale, method: "GET", path: "/x") }
    func complete(_ request: LoadRequest, response: ClientResponse?, failure: String?, now: UInt64) -> FollowUp { .none }
}

@Suite(.serialized) struct CoordinatedOmissionTests {
    static func slowAnswers(_ result: LoadEngine.Result) -> UInt64 {
        result.measurements.routes[LoadRoute.viewSale.rawValue].histogram.count(within: 250_000...3_600_000_000)
    }

    /// Open loop over one connection while the server stalls for 600 ms: every scheduled request
    /// is still sent, and the ones that queued behind the stall report the wait they suffered
    /// (latency from the intended send time) — dozens of slow answers, not one.
    @Test func openLoopMeasuresTheStallForEveryQueuedRequest() throws {
        let server = try StallingServer(stallAt: 10, stallMicroseconds: 600_000)
        defer { server.stop() }
        let target = try TargetURL("http://127.0.0.1:\(server.port)")
        let schedule = try ArrivalSchedule(rate: 100, durationSeconds: 1.5)
        let engine = LoadEngine(settings: .init(target: target, model: .openLoop(schedule), connections: 1, threads: 1), workloads: [FixedWorkload()])
        let result = try engine.run { _ in }
        let answered = result.measurements.outcomes[.viewSale]?[.answered(status: 200, error: nil)] ?? 0
        #expect(answered == schedule.totalCount)
        // ~60 requests were due during the stall; at least the first third of them waited > 250 ms.
        #expect(Self.slowAnswers(result) >= 20)
        #expect(result.timeline.reduce(0) { $0 + $1.sent } == schedule.totalCount)
        // The generator fell behind its schedule by the stall: every request's lag is recorded,
        // and the ones that waited for the one connection were sent hundreds of ms late.
        let lag = result.measurements.scheduleLag
        #expect(lag.count == UInt64(schedule.totalCount))
        #expect(lag.summary.maxUs >= 300_000, "\(lag.summary)")
        #expect(lag.histogram.count(within: 250_000...3_600_000_000) >= 20)
    }

    /// The same stall in a closed loop shows as a single slow request: the connection simply
    /// sent nothing meanwhile — the coordinated omission the open loop avoids.
    @Test func closedLoopHidesTheStall() throws {
        let server = try StallingServer(stallAt: 10, stallMicroseconds: 600_000)
        defer { server.stop() }
        let target = try TargetURL("http://127.0.0.1:\(server.port)")
        let engine = LoadEngine(settings: .init(target: target, model: .closedLoop(durationSeconds: 1.5), connections: 1, threads: 1), workloads: [FixedWorkload()])
        let result = try engine.run { _ in }
        #expect(Self.slowAnswers(result) >= 1)
        #expect(Self.slowAnswers(result) < 10)
        #expect(result.measurements.scheduleLag.count == 0, "a closed loop has no schedule to fall behind")
    }

    /// A run against a port nobody listens on fails with a clear error.
    @Test func refusedConnectionIsAnError() throws {
        let server = try StallingServer(stallAt: 0, stallMicroseconds: 0)
        let port = server.port
        server.stop()
        let target = try TargetURL("http://127.0.0.1:\(port)")
        let engine = LoadEngine(settings: .init(target: target, model: .closedLoop(durationSeconds: 0.2), connections: 2, threads: 1), workloads: [FixedWorkload()])
        #expect(throws: LoadError.self) { try engine.run { _ in } }
    }
}

@Suite struct TimedQueueTests {
    /// Items come out by due time, ties in insertion order, only once due.
    @Test func popsInDueOrder() {
        var queue = TimedQueue<String>()
        queue.push("c", due: 30)
        queue.push("a", due: 10)
        queue.push("b1", due: 20)
        queue.push("b2", due: 20)
        #expect(queue.popDue(now: 5) == nil)
        #expect(queue.nextDue == 10)
        var out: [String] = []
        while let (_, item) = queue.popDue(now: 25) { out.append(item) }
        #expect(out == ["a", "b1", "b2"])
        #expect(queue.count == 1)
    }

    /// The ring queue keeps FIFO order while growing.
    @Test func ringQueueIsFIFO() {
        var ring = RingQueue<Int>()
        for value in 0..<10 { ring.append(value) }
        for expected in 0..<5 { #expect(ring.popFirst() == expected) }
        for value in 10..<40 { ring.append(value) }
        var out: [Int] = []
        while let value = ring.popFirst() { out.append(value) }
        #expect(out == Array(5..<40))
    }
}
