import StampedeSystem
import Glibc

/// One accepted TCP connection: its parser, the answers it owes in order, and its output.
///
/// Confined to its event loop's thread. The connection reads, parses every complete request,
/// dispatches them while fewer than `maxPipelinedRequests` are unanswered, serializes the ready
/// answers in request order into one reusable buffer and sends it with a single call.
///
/// An HTTPS connection has a `TLSSession` and starts in the handshake: each readiness event
/// advances it one non-blocking step, and OpenSSL's "want read"/"want write" become the epoll
/// interest, so a stalled handshake costs the loop nothing until its timeout closes it. After the
/// handshake the same code runs with `SSL_read`/`SSL_write` in place of `read`/`send`; the plain
/// path pays one nil check per call.
final class HTTPConnection {
    /// Pending output above which the connection stops reading and dispatching until the peer
    /// catches up.
    private static let outputHighWater = 256 * 1024
    /// How long a closing connection keeps discarding input so the close does not reset the
    /// final answer.
    private static let lingerSeconds = 2.0

    /// The number identifying this connection in its loop and in responders.
    let id: UInt64
    /// Its descriptor's registration with the loop's reactor (nil once unregistered).
    var registration: Reactor.Registration?
    /// The socket.
    let fd: Int32
    /// The client's address (for per-address limits and the requests): the peer's, or the one a
    /// trusted proxy's PROXY header names.
    private(set) var clientAddress: ClientAddress
    /// The peer is a trusted proxy and its first bytes have not shown yet whether a PROXY header
    /// comes first; HTTP parsing waits until they have.
    private var awaitsProxyHeader: Bool
    /// What a trusted proxy sent so far while `awaitsProxyHeader`.
    private var proxyHeaderBytes: [UInt8] = []
    /// This connection counts against the per-client limit of `clientAddress` (released on close).
    private(set) var holdsClientSlot: Bool
    /// The TLS state of an HTTPS connection; nil for plain HTTP.
    private let tls: TLSSession?
    /// The TLS handshake has not completed; closes the connection when it passes.
    private var handshakeDeadline: Double?
    /// OpenSSL holds input that epoll cannot report (the read buffer filled up first).
    private var tlsHasBufferedInput = false
    /// The last `SSL_read` needs the socket writable (a TLS 1.3 key update), or the last
    /// `SSL_write` needs it readable.
    private var tlsReadWantsWrite = false
    private var tlsWriteWantsRead = false
    /// Requests taken from this connection, for `maxRequestsPerConnection`.
    private var requestCount = 0
    /// Unowned and unchecked: the loop closes every connection before it releases its resources,
    /// and a connection is only used on the loop's thread, so the loop always outlives it here.
    /// Changes when the connection moves to another loop (`moved(to:)`), on that loop's thread.
    private unowned(unsafe) var loop: EventLoop
    private var parser: HTTPRequestParser
    private var responses = ResponseQueue()
    private var output: [UInt8] = []
    private var outputOffset = 0
    /// The epoll interest registered for the socket.
    private(set) var registeredEvents = EPOLLIN.rawValue
    private var isClosed = false
    /// Inside `service()`: answers completed now are serialized by it, no rescheduling needed.
    private var isServicing = false
    /// No further requests are taken: a closing request, a framing error or a timeout.
    private var stopsParsing = false
    /// The peer shut down its sending side.
    private var inputClosed = false
    /// The final answer is queued; after writing it the connection closes.
    private var closesAfterWrite = false
    /// The output side is shut down and input is being discarded until EOF or this time.
    private var lingerDeadline: Double?
    /// When the loop last read or wrote bytes on this connection.
    private var lastActivity: Double
    /// Since when the parser has held an incomplete request.
    private var incompleteSince: Double?
    /// The sibling loop that produced the latest answers handed over from another thread, and
    /// how many in a row came from it: a connection whose answers keep coming from one other
    /// loop moves there (`EventLoop.scheduleDeparture`).
    private var answeringLoop = -1
    private var answersFromAnsweringLoop = 0
    /// `requestCount` when the connection last moved: at most one move per
    /// `requestsBetweenMoves` requests, so a client buying from sales on different threads in
    /// turn does not move at every request.
    private var requestCountAtLastMove = 0
    private static let answersBeforeMove = 2
    private static let requestsBetweenMoves = 16

    init(id: UInt64, fd: Int32, loop: EventLoop, client: ClientAddress, tls: TLSSession?, awaitsProxyHeader: Bool = false) {
        self.id = id
        self.fd = fd
        self.loop = loop
        self.clientAddress = client
        self.awaitsProxyHeader = awaitsProxyHeader
        self.holdsClientSlot = !awaitsProxyHeader
        self.tls = tls
        if tls != nil, let timeout = loop.configuration.tls?.handshakeTimeoutSeconds {
            self.handshakeDeadline = loop.now + timeout
        }
        self.parser = HTTPRequestParser(
            maxHeaderBytes: loop.configuration.maxHeaderBytes,
            maxBodyBytes: loop.configuration.maxBodyBytes
        )
        self.lastActivity = loop.now
    }

    private var pendingOutput: Int { output.count - outputOffset }

    // MARK: Events

    /// Reacts to an epoll readiness report.
    func handleEvents(_ events: UInt32) {
        if events & (EPOLLERR.rawValue | EPOLLHUP.rawValue) != 0 {
            close()
        } else if lingerDeadline != nil {
            discardInput()
        } else if handshakeDeadline != nil {
            continueHandshake()
        } else {
            if events & EPOLLIN.rawValue != 0 || (tlsReadWantsWrite && events & EPOLLOUT.rawValue != 0) {
                readInput()
            }
            service()
        }
    }

    /// Advances the TLS handshake one step; once done, reads what the client sent along with its
    /// last handshake message and serves as usual.
    private func continueHandshake() {
        guard let tls else { return }
        switch tls.handshake() {
        case .done:
            handshakeDeadline = nil
            lastActivity = loop.now
            loop.counters.increment(.tlsHandshakes)
            readInput()
            service()
        case .wantRead:
            setInterest(EPOLLIN.rawValue)
        case .wantWrite:
            setInterest(EPOLLOUT.rawValue)
        case .failed(let plainHTTP):
            loop.counters.increment(.tlsHandshakeFailures)
            handshakeDeadline = nil
            tls.release()
            guard plainHTTP else { return close() }
            // A plain HTTP client on the HTTPS port: tell it so in plain text, then close.
            stopsParsing = true
            HTTPConnection.plainHTTPAnswer.withUnsafeBytes { _ = try? System.send(fd, $0) }
            beginLingeringClose()
        }
    }

    /// The `400` a plain HTTP request on the HTTPS port gets, serialized once.
    private static let plainHTTPAnswer: [UInt8] = {
        var bytes: [UInt8] = []
        HTTPResponse.plainHTTPOnTLSPort.serialize(into: &bytes, framing: .closing)
        return bytes
    }()

    /// Records the answer for request `sequence`; schedules a write if it unblocks the queue.
    func complete(_ sequence: UInt64, with response: HTTPResponse) {
        guard !isClosed, responses.complete(sequence, with: response), !isServicing else { return }
        loop.scheduleService(self)
    }

    /// `complete` for an answer handed over from the thread of sibling loop `origin` (-1: a
    /// thread that runs no loop).
    func complete(_ sequence: UInt64, with response: HTTPResponse, from origin: Int) {
        if origin >= 0 && origin == answeringLoop {
            answersFromAnsweringLoop += 1
        } else {
            answeringLoop = origin
            answersFromAnsweringLoop = origin >= 0 ? 1 : 0
        }
        complete(sequence, with: response)
    }

    /// Between two requests, with nothing buffered that only this loop could notice: the
    /// connection can leave this loop without losing or reordering anything.
    var isReadyToMove: Bool {
        !isClosed && lingerDeadline == nil && handshakeDeadline == nil && !awaitsProxyHeader
            && !stopsParsing && !closesAfterWrite && !inputClosed
            && responses.outstanding == 0 && pendingOutput == 0
            && !tlsHasBufferedInput && !tlsReadWantsWrite && !tlsWriteWantsRead
    }

    /// Now served by `newLoop` (on its thread, after the old loop let go of the descriptor).
    func moved(to newLoop: EventLoop) {
        loop = newLoop
        answeringLoop = -1
        answersFromAnsweringLoop = 0
        requestCountAtLastMove = requestCount
    }

    /// Asks the loop to move this connection to the loop its answers keep coming from, when
    /// that pays and the connection is between two requests.
    private func followAnswersIfWorthIt() {
        guard answersFromAnsweringLoop >= Self.answersBeforeMove,
            requestCount - requestCountAtLastMove >= Self.requestsBetweenMoves || requestCountAtLastMove == 0,
            isReadyToMove
        else { return }
        answersFromAnsweringLoop = 0
        loop.scheduleDeparture(self, to: answeringLoop)
    }

    /// Applies the read timeout (answer `408`, close), the idle timeout (silent close) and the
    /// end of a lingering close.
    func checkTimeouts() {
        guard !isClosed else { return }
        let now = loop.now
        if let lingerDeadline {
            if now >= lingerDeadline { close() }
        } else if let handshakeDeadline {
            if now >= handshakeDeadline {
                loop.counters.increment(.tlsHandshakeTimeouts)
                close()
            }
        } else if let incompleteSince, !stopsParsing,
            now - incompleteSince >= loop.configuration.readTimeoutSeconds {
            loop.counters.increment(.timeouts)
            finish(with: .requestTimeout)
            service()
        } else if responses.outstanding == 0, incompleteSince == nil,
            now - lastActivity >= loop.configuration.idleTimeoutSeconds {
            loop.counters.increment(.timeouts)
            close()
        }
    }

    // MARK: Work

    /// Dispatches buffered requests, writes ready answers, then closes or updates the epoll
    /// interest to match what the connection is waiting for.
    func service() {
        guard !isClosed, lingerDeadline == nil, handshakeDeadline == nil else { return }
        if tlsHasBufferedInput && !inputClosed && canDispatch { readInput() }
        guard !isClosed else { return }
        isServicing = true
        var progressed = true
        while progressed {
            progressed = dispatchRequests()
            progressed = serializeReadyResponses() || progressed
            guard writeOutput() else { return }
        }
        isServicing = false
        if pendingOutput == 0 {
            if closesAfterWrite {
                beginLingeringClose()
                return
            }
            if inputClosed && responses.outstanding == 0 {
                close()
                return
            }
        }
        updateInterest()
        if tlsHasBufferedInput && !inputClosed && canDispatch {
            // epoll will not report bytes OpenSSL already holds: come back at the end of this
            // loop iteration and read them.
            loop.scheduleService(self)
        } else if answersFromAnsweringLoop > 0 {
            followAnswersIfWorthIt()
        }
    }

    private var canDispatch: Bool {
        !stopsParsing
            && responses.outstanding < loop.configuration.maxPipelinedRequests
            && pendingOutput < Self.outputHighWater
    }

    /// Hands every complete buffered request to the handler, within the pipelining limit.
    private func dispatchRequests() -> Bool {
        var dispatched = false
        while canDispatch && !awaitsProxyHeader {
            var next: HTTPRequest?
            do {
                next = try parser.nextRequest()
            } catch {
                loop.counters.increment(.parseErrors)
                finish(with: .parseFailure(error))
                return true
            }
            guard var request = next.take() else {
                incompleteSince = parser.hasBufferedBytes ? (incompleteSince ?? loop.now) : nil
                break
            }
            incompleteSince = nil
            dispatched = true
            loop.counters.increment(.requests)
            request.clientAddress = clientAddress
            request.isSecure = tls != nil
            var framing = ResponseFraming(for: request)
            requestCount += 1
            let cap = loop.configuration.maxRequestsPerConnection
            if cap > 0 && requestCount >= cap && !framing.closesConnection {
                // Recycle the connection: this answer says `Connection: close`.
                framing.closesConnection = true
                loop.counters.increment(.recycled)
            }
            stopsParsing = framing.closesConnection
            let sequence = responses.enqueue(framing)
            loop.dispatch(request, connectionID: id, sequence: sequence)
        }
        return dispatched
    }

    /// Queues a server-produced final answer and stops taking requests.
    private func finish(with response: HTTPResponse) {
        stopsParsing = true
        incompleteSince = nil
        responses.enqueue(response, framing: .closing)
    }

    /// Appends every ready answer, in order, to the output buffer.
    private func serializeReadyResponses() -> Bool {
        var serialized = false
        while let (response, framing) = responses.popReady() {
            response.serialize(into: &output, framing: framing)
            serialized = true
            if framing.closesConnection {
                closesAfterWrite = true
                break
            }
        }
        return serialized
    }

    /// Sends pending output until done or the socket is full; `false` if the connection closed.
    private func writeOutput() -> Bool {
        if let tls { return writeEncryptedOutput(tls) }
        while pendingOutput > 0 {
            let result: IOResult<Int>
            do {
                result = try output.withUnsafeBytes { bytes throws(SystemCallError) in
                    try System.send(fd, UnsafeRawBufferPointer(rebasing: bytes[outputOffset...]))
                }
            } catch {
                close()
                return false
            }
            guard case .processed(let written) = result else { return true }
            outputOffset += written
            lastActivity = loop.now
        }
        resetOutput()
        return true
    }

    /// `writeOutput` through `SSL_write` (partial writes enabled, so each call reports progress).
    private func writeEncryptedOutput(_ tls: TLSSession) -> Bool {
        tlsWriteWantsRead = false
        while pendingOutput > 0 {
            let result = output.withUnsafeBytes { bytes in
                tls.write(UnsafeRawBufferPointer(rebasing: bytes[outputOffset...]))
            }
            switch result {
            case .processed(let written):
                outputOffset += written
                lastActivity = loop.now
            case .wantWrite:
                return true
            case .wantRead:
                tlsWriteWantsRead = true
                return true
            case .closed, .failed:
                close()
                return false
            }
        }
        resetOutput()
        return true
    }

    private func resetOutput() {
        // Keep the buffer's capacity for the next answers unless one huge answer inflated it.
        output.removeAll(keepingCapacity: output.capacity <= 1 << 20)
        outputOffset = 0
    }

    /// Reads once into the loop's scratch buffer and appends the bytes to the parser.
    private func readInput() {
        if let tls { return readEncryptedInput(tls) }
        do {
            guard case .processed(let count) = try System.read(fd, into: loop.readBuffer) else { return }
            if count == 0 {
                inputClosed = true
            } else if awaitsProxyHeader {
                lastActivity = loop.now
                readProxyHeader(UnsafeRawBufferPointer(rebasing: loop.readBuffer[..<count]))
            } else {
                parser.append(UnsafeRawBufferPointer(rebasing: loop.readBuffer[..<count]))
                lastActivity = loop.now
            }
        } catch {
            close()
        }
    }

    /// Takes a trusted proxy's first bytes: a PROXY v2 header sets the client's address, then the
    /// connection claims that client's slot of the per-client limit (`429` when it is full); plain
    /// HTTP keeps the peer's address. What follows the header goes to the HTTP parser.
    private func readProxyHeader(_ bytes: UnsafeRawBufferPointer) {
        proxyHeaderBytes.append(contentsOf: bytes)
        let httpStart: Int
        switch ProxyProtocolHeader.parse(proxyHeaderBytes) {
        case .incomplete:
            incompleteSince = incompleteSince ?? loop.now
            return
        case .notProxy:
            httpStart = 0
        case .header(let header, let length):
            if let source = header.source { clientAddress = source }
            httpStart = length
        case .invalid:
            awaitsProxyHeader = false
            proxyHeaderBytes = []
            loop.counters.increment(.parseErrors)
            finish(with: .invalidProxyHeader)
            return
        }
        awaitsProxyHeader = false
        incompleteSince = nil
        guard loop.claimClientSlot(clientAddress) else {
            proxyHeaderBytes = []
            finish(with: .tooManyConnections)
            return
        }
        holdsClientSlot = true
        proxyHeaderBytes[httpStart...].withUnsafeBytes { parser.append($0) }
        proxyHeaderBytes = []
    }

    /// `readInput` through `SSL_read`: one TLS record per call, so it reads until OpenSSL needs
    /// the socket again or the scratch buffer is full (then `tlsHasBufferedInput` remembers that
    /// OpenSSL may still hold bytes epoll cannot see).
    private func readEncryptedInput(_ tls: TLSSession) {
        let buffer = loop.readBuffer
        var total = 0
        tlsReadWantsWrite = false
        reading: while total < buffer.count {
            switch tls.read(into: UnsafeMutableRawBufferPointer(rebasing: buffer[total...])) {
            case .processed(let count):
                total += count
            case .wantRead:
                break reading
            case .wantWrite:
                tlsReadWantsWrite = true
                break reading
            case .closed:
                inputClosed = true
                break reading
            case .failed:
                close()
                return
            }
        }
        tlsHasBufferedInput = total == buffer.count && tls.hasBufferedInput
        if total > 0 {
            parser.append(UnsafeRawBufferPointer(rebasing: buffer[..<total]))
            lastActivity = loop.now
        }
    }

    /// Registers for exactly the readiness the connection is waiting on.
    private func updateInterest() {
        var wanted: UInt32 = 0
        if (!inputClosed && canDispatch) || tlsWriteWantsRead { wanted |= EPOLLIN.rawValue }
        if pendingOutput > 0 || tlsReadWantsWrite { wanted |= EPOLLOUT.rawValue }
        setInterest(wanted)
    }

    /// Changes the epoll interest if it differs from what is registered; a failure closes.
    private func setInterest(_ wanted: UInt32) {
        guard wanted != registeredEvents else { return }
        if loop.setInterest(wanted, for: self) {
            registeredEvents = wanted
        } else {
            close()
        }
    }

    // MARK: Closing

    /// Shuts down the sending side after the final answer and discards input until the peer
    /// closes (or `lingerSeconds` pass): closing with unread input would send a reset that can
    /// destroy the answer in flight — the case for a `413` whose body was never read.
    private func beginLingeringClose() {
        tls?.sendCloseNotify()
        System.shutdownWrite(fd)
        // Served its last answer: its client may open the next connection at once, while this one
        // only waits for the peer's close (a lingering connection still counts against the
        // connection budget, for `lingerSeconds` at most).
        if holdsClientSlot {
            holdsClientSlot = false
            loop.releaseClientSlot(clientAddress)
        }
        guard !inputClosed, loop.setInterest(EPOLLIN.rawValue, for: self) else {
            close()
            return
        }
        registeredEvents = EPOLLIN.rawValue
        lingerDeadline = loop.now + Self.lingerSeconds
    }

    private func discardInput() {
        switch try? System.read(fd, into: loop.readBuffer) {
        case .wouldBlock: return
        case .processed(let count) where count > 0: return
        default: close()
        }
    }

    /// Closes the socket (which also removes it from epoll) and forgets the connection.
    /// Answers that arrive later are dropped.
    func close() {
        guard !isClosed else { return }
        isClosed = true
        isServicing = false
        tls?.release()
        loop.unregister(self)
        System.close(fd)
        loop.connectionClosed(self)
    }
}
