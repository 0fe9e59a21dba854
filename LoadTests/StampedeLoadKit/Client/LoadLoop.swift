import StampedeSystem
import Glibc
import Synchronization

/// One load-generating thread: an epoll instance driving its share of the connections, its own
/// workload and recorder. Thousands of keep-alive connections per thread, one request in flight
/// on each (no pipelining, as a browser or app client would do).
///
/// Open loop: arrivals come from the shared `ArrivalSchedule` (this loop takes every `loopCount`-th
/// one); a request waits in `pending` when no connection is free, and its latency still counts from
/// its intended time. Closed loop: each free connection sends at once.
final class LoadLoop: @unchecked Sendable {
    // @unchecked: everything mutable is touched only by the thread running `prepare` and then
    // `run` (handed over with a thread join); `stop` is atomic.
    let id: Int
    let loopCount: Int
    let target: TargetURL
    let model: TrafficModel
    let workload: Workload
    var recorder: RunRecorder
    let requestTimeout: UInt64
    let stop = Atomic<Bool>(false)

    private let epollFD: Int32
    private var connections: [ClientConnection]
    private var idle: [Int] = []
    private var pending = RingQueue<LoadRequest>()
    private var retries = TimedQueue<LoadRequest>()
    private var inFlight = 0
    private var nextArrival = 0
    private var arrivalsDone = false
    private var readBuffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 65536, alignment: 16)
    private(set) var connectFailures = 0
    private(set) var abandoned = 0
    private(set) var lastError: String?
    /// The client TLS context of an `https://` target.
    private let tlsContext: ClientTLSContext?

    init(id: Int, loopCount: Int, target: TargetURL, model: TrafficModel, connections: Int,
         workload: Workload, recorder: RunRecorder, requestTimeout: UInt64) throws(SystemCallError) {
        self.id = id
        self.loopCount = loopCount
        self.target = target
        self.model = model
        self.workload = workload
        self.recorder = recorder
        self.requestTimeout = requestTimeout
        if let settings = target.tls {
            do { tlsContext = try ClientTLSContext.shared(settings) } catch { throw SystemCallError(call: error.description, errno: EPROTO) }
        } else {
            tlsContext = nil
        }
        epollFD = try System.epollCreate()
        self.connections = (0..<connections).map { ClientConnection(index: $0) }
    }

    deinit {
        for connection in connections where connection.fd >= 0 { System.close(connection.fd) }
        System.close(epollFD)
        readBuffer.deallocate()
    }

    /// Opens every connection (at most 256 handshakes at once), waiting until `deadline`.
    /// Returns how many are connected.
    func prepare(deadline: UInt64) -> Int {
        var next = 0
        var connecting = 0
        let events = UnsafeMutableBufferPointer<epoll_event>.allocate(capacity: 512)
        defer { events.deallocate() }
        while MonotonicClock.now() < deadline {
            while next < connections.count, connecting < 256 {
                if open(connections[next], now: 0) { connecting += 1 }
                next += 1
            }
            if connecting == 0 { break }
            let count = (try? System.epollWait(epollFD, events: events, timeoutNanoseconds: 10_000_000)) ?? 0
            for event in events.prefix(count) {
                let connection = connections[Int(event.data.u64 & 0xFFFF_FFFF)]
                guard connection.token == event.data.u64 else { continue }
                if connection.state == .connecting {
                    finishConnect(connection, now: MonotonicClock.now())
                } else if connection.state == .handshaking {
                    continueHandshake(connection, now: MonotonicClock.now())
                } else {
                    continue
                }
                if connection.state != .handshaking { connecting -= 1 }
            }
        }
        return idle.count
    }

    /// Sends the run's traffic from `start` until the work is done or `hardDeadline` passes.
    func run(start: UInt64, closedLoopEnd: UInt64?, hardDeadline: UInt64) {
        let events = UnsafeMutableBufferPointer<epoll_event>.allocate(capacity: 1024)
        defer { events.deallocate() }
        let now = MonotonicClock.now()
        if start > now { System.sleep(nanoseconds: start - now) }
        var nextMaintenance = start
        while true {
            var now = MonotonicClock.now()
            if stop.load(ordering: .relaxed) || now >= hardDeadline {
                abandoned += inFlight + pending.count + retries.count
                break
            }
            var nextIntended: UInt64?
            if case .openLoop(let schedule) = model, !arrivalsDone {
                while true {
                    guard let intended = schedule.intendedTime(of: nextArrival * loopCount + id, start: start) else {
                        arrivalsDone = true
                        break
                    }
                    if intended > now { nextIntended = intended; break }
                    nextArrival += 1
                    recorder.recordSent(at: intended)
                    if var request = workload.nextRequest(now: intended) {
                        request.intended = intended
                        pending.append(request)
                    }
                }
            }
            while let (due, request) = retries.popDue(now: now) {
                var request = request
                request.intended = due
                recorder.recordSent(at: due)
                pending.append(request)
            }
            while !pending.isEmpty, let index = idle.popLast() {
                send(pending.popFirst()!, on: connections[index], now: now)
            }
            let closedOpen = closedLoopEnd.map { now < $0 } ?? true
            if case .closedLoop = model, closedOpen {
                while let index = idle.last, let request = workload.nextRequest(now: now) {
                    idle.removeLast()
                    var request = request
                    request.intended = now
                    recorder.recordSent(at: now)
                    send(request, on: connections[index], now: now)
                }
            }
            let freshDone: Bool
            switch model {
            case .openLoop: freshDone = arrivalsDone
            case .closedLoop: freshDone = workload.isExhausted || !closedOpen
            }
            if freshDone && pending.isEmpty && retries.isEmpty && inFlight == 0 { break }

            var wake = now + 20_000_000
            if let nextIntended { wake = min(wake, nextIntended) }
            if let due = retries.nextDue { wake = min(wake, due) }
            let count = (try? System.epollWait(epollFD, events: events, timeoutNanoseconds: wake > now ? wake - now : 0)) ?? 0
            now = MonotonicClock.now()
            for event in events.prefix(count) {
                let connection = connections[Int(event.data.u64 & 0xFFFF_FFFF)]
                guard connection.token == event.data.u64 else { continue }
                handle(event.events, connection, now: now)
            }
            if now >= nextMaintenance {
                maintain(now: now)
                nextMaintenance = now + 50_000_000
            }
        }
        for connection in connections where connection.fd >= 0 { close(connection) }
    }

    // MARK: Connections

    /// Starts connecting; false if the socket could not even be created.
    private func open(_ connection: ClientConnection, now: UInt64) -> Bool {
        do {
            let fd = try target.endpoint.startConnect()
            connection.fd = fd
            connection.generation &+= 1
            connection.state = .connecting
            connection.parser = ResponseParser()
            let events = EPOLLIN.rawValue | EPOLLOUT.rawValue | EPOLLRDHUP.rawValue | EPOLLET.rawValue
            try System.epollControl(epollFD, operation: EPOLL_CTL_ADD, fd: fd, events: events, token: connection.token)
            return true
        } catch {
            if connection.fd >= 0 { System.close(connection.fd); connection.fd = -1 }
            connection.state = .closed
            connection.reconnectAt = now + 200_000_000
            connectFailures += 1
            lastError = "\(error)"
            return false
        }
    }

    private func finishConnect(_ connection: ClientConnection, now: UInt64) {
        let error = System.pendingError(connection.fd)
        if error == 0, let tlsContext {
            do {
                connection.tls = try tlsContext.session(fd: connection.fd, host: target.host)
            } catch {
                connectFailures += 1
                lastError = "\(error)"
                close(connection)
                connection.reconnectAt = now + 200_000_000
                return
            }
            connection.state = .handshaking
            continueHandshake(connection, now: now)
        } else if error == 0 {
            connection.state = .idle
            idle.append(connection.index)
        } else {
            connectFailures += 1
            lastError = "connect: \(String(cString: strerror(error)))"
            close(connection)
            connection.reconnectAt = now + 200_000_000
        }
    }

    /// One TLS handshake step; the connection becomes idle once it is done.
    private func continueHandshake(_ connection: ClientConnection, now: UInt64) {
        switch connection.tls?.handshake() ?? .failed("no session") {
        case .done:
            connection.state = .idle
            idle.append(connection.index)
        case .wantRead, .wantWrite:
            return  // edge-triggered IN and OUT are both armed: the next event continues it
        case .failed(let reason):
            connectFailures += 1
            lastError = "TLS handshake: \(reason)"
            close(connection)
            connection.reconnectAt = now + 200_000_000
        }
    }

    private func close(_ connection: ClientConnection) {
        connection.tls = nil
        if connection.fd >= 0 { System.close(connection.fd) }
        connection.fd = -1
        if connection.state == .idle, let position = idle.lastIndex(of: connection.index) { idle.remove(at: position) }
        connection.state = .closed
        connection.generation &+= 1
        connection.reconnectAt = 0
    }

    /// Reopens closed connections and times out requests that waited too long.
    private func maintain(now: UInt64) {
        for connection in connections {
            switch connection.state {
            case .closed where now >= connection.reconnectAt:
                _ = open(connection, now: now)
            case .busy where now - connection.sentAt > requestTimeout:
                fail(connection, "timeout", now: now)
            default:
                break
            }
        }
    }

    // MARK: Requests

    private func send(_ request: LoadRequest, on connection: ClientConnection, now: UInt64) {
        if case .openLoop = model { recorder.recordScheduleLag(nanoseconds: now > request.intended ? now - request.intended : 0) }
        connection.output.removeAll(keepingCapacity: true)
        request.encode(into: &connection.output, host: target.hostHeader)
        connection.written = 0
        connection.request = request
        connection.sentAt = now
        connection.state = .busy
        inFlight += 1
        flush(connection, now: now)
    }

    private func flush(_ connection: ClientConnection, now: UInt64) {
        while connection.written < connection.output.count {
            let step: IOResult<Int>
            do {
                step = try connection.output.withUnsafeBytes { bytes throws(SystemCallError) in
                    try connection.transmit(UnsafeRawBufferPointer(rebasing: bytes[connection.written...]))
                }
            } catch {
                return fail(connection, "reset", now: now)
            }
            switch step {
            case .processed(let count): connection.written += count
            case .wouldBlock: return
            }
        }
    }

    private func handle(_ events: UInt32, _ connection: ClientConnection, now: UInt64) {
        if connection.state == .connecting {
            guard events & (EPOLLOUT.rawValue | EPOLLERR.rawValue | EPOLLHUP.rawValue) != 0 else { return }
            finishConnect(connection, now: now)
            return
        }
        if connection.state == .handshaking {
            continueHandshake(connection, now: now)
            return
        }
        if events & EPOLLOUT.rawValue != 0, connection.state == .busy { flush(connection, now: now) }
        if events & (EPOLLIN.rawValue | EPOLLRDHUP.rawValue | EPOLLHUP.rawValue | EPOLLERR.rawValue) != 0 {
            read(connection, now: now)
        }
    }

    private func read(_ connection: ClientConnection, now: UInt64) {
        while connection.fd >= 0 {
            let step: IOResult<Int>
            do {
                step = try connection.receive(into: readBuffer)
            } catch {
                return fail(connection, "reset", now: now)
            }
            switch step {
            case .wouldBlock:
                return
            case .processed(0):
                return fail(connection, "closed", now: now)
            case .processed(let count):
                connection.parser.append(UnsafeRawBufferPointer(rebasing: readBuffer[..<count]))
                do {
                    while let response = try connection.parser.next() {
                        guard connection.state == .busy, let request = connection.request else {
                            return fail(connection, "unexpected response", now: now)
                        }
                        complete(connection, request, response, now: now)
                        if connection.fd < 0 { return }
                    }
                } catch {
                    return fail(connection, "bad response", now: now)
                }
            }
        }
    }

    private func complete(_ connection: ClientConnection, _ request: LoadRequest, _ response: ClientResponse, now: UInt64) {
        connection.request = nil
        inFlight -= 1
        let from = model.measuresFromIntendedTime ? request.intended : connection.sentAt
        recorder.record(request.route, Outcome(response), latency: now &- from, completedAt: now)
        if case .retry(let again, let due) = workload.complete(request, response: response, failure: nil, now: now) {
            retries.push(again, due: due)
        }
        if response.closesConnection {
            close(connection)
        } else {
            connection.state = .idle
            idle.append(connection.index)
        }
    }

    /// Ends the connection; its request (if any) is counted as a transport error.
    private func fail(_ connection: ClientConnection, _ why: String, now: UInt64) {
        if connection.state == .busy, let request = connection.request {
            connection.request = nil
            inFlight -= 1
            let from = model.measuresFromIntendedTime ? request.intended : connection.sentAt
            recorder.record(request.route, .transportError(why), latency: now &- from, completedAt: now)
            if case .retry(let again, let due) = workload.complete(request, response: nil, failure: why, now: now) {
                retries.push(again, due: due)
            }
        }
        close(connection)
    }
}
