import Glibc

/// Why the test client gave up.
struct TestClientError: Error, CustomStringConvertible {
    let description: String
}

/// A response as read by `TestClient`.
struct TestResponse {
    var status: Int
    var headers: [(name: String, value: String)]
    var body: [UInt8]

    /// The first header named `name`, case-insensitively.
    func header(_ name: String) -> String? {
        headers.first { $0.name.lowercased() == name.lowercased() }?.value
    }

    /// The body as UTF-8 text.
    var text: String { String(decoding: body, as: UTF8.self) }
}

/// A tiny blocking HTTP/1.1 client over a Glibc socket, with a receive timeout so a broken server
/// fails a test instead of hanging it.
final class TestClient {
    private let fd: Int32
    private var buffer: [UInt8] = []

    /// Connects to 127.0.0.1:`port` (from the loopback address `source` when given); reads give
    /// up after `timeoutSeconds`.
    init(port: Int, source: String? = nil, timeoutSeconds: Double = 5) throws {
        fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw TestClientError(description: "socket failed: errno \(errno)") }
        if let source {
            var local = sockaddr_in()
            local.sin_family = sa_family_t(AF_INET)
            local.sin_addr.s_addr = inet_addr(source)
            let bound = withUnsafePointer(to: &local) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
            }
            guard bound == 0 else {
                Glibc.close(fd)
                throw TestClientError(description: "bind to \(source) failed: errno \(errno)")
            }
        }
        var timeout = timeval(tv_sec: Int(timeoutSeconds), tv_usec: Int((timeoutSeconds - timeoutSeconds.rounded(.down)) * 1_000_000))
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let result = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
            }
        }
        guard result == 0 else {
            Glibc.close(fd)
            throw TestClientError(description: "connect failed: errno \(errno)")
        }
    }

    deinit {
        Glibc.close(fd)
    }

    /// Shuts down the sending side (the server reads EOF).
    func shutdownWrite() {
        Glibc.shutdown(fd, Int32(SHUT_WR))
    }

    /// Sends all of `text`.
    func send(_ text: String) throws {
        try send(Array(text.utf8))
    }

    /// Sends all of `bytes`.
    func send(_ bytes: [UInt8]) throws {
        var offset = 0
        while offset < bytes.count {
            let sent = bytes.withUnsafeBytes {
                Glibc.send(fd, $0.baseAddress! + offset, bytes.count - offset, Int32(MSG_NOSIGNAL))
            }
            guard sent > 0 else { throw TestClientError(description: "send failed: errno \(errno)") }
            offset += sent
        }
    }

    /// Reads one complete response: the head plus a Content-Length body, unless `bodyExpected`
    /// is false (answers to HEAD).
    func readResponse(bodyExpected: Bool = true) throws -> TestResponse {
        let headEnd = try fill { Self.headEnd(in: $0) }
        let head = String(decoding: buffer[..<(headEnd - 4)], as: UTF8.self)
        var lines = head.split(separator: "\r\n", omittingEmptySubsequences: false).map(String.init)
        let statusLine = lines.removeFirst().split(separator: " ")
        guard statusLine.count >= 2, let status = Int(statusLine[1]) else {
            throw TestClientError(description: "bad status line in \(head)")
        }
        let headers = lines.map { line in
            let colon = line.firstIndex(of: ":")!
            return (name: String(line[..<colon]), value: String(line[line.index(after: colon)...]).trimmingSpaces)
        }
        let announced = headers.first { $0.name.lowercased() == "content-length" }.flatMap { Int($0.value) } ?? 0
        let length = bodyExpected ? announced : 0
        _ = try fill { $0.count >= headEnd + length ? headEnd + length : nil }
        let body = Array(buffer[headEnd..<(headEnd + length)])
        buffer.removeFirst(headEnd + length)
        return TestResponse(status: status, headers: headers, body: body)
    }

    /// Reads until the server closes; returns whether it closed (rather than the read timing out)
    /// and no stray bytes arrived.
    func waitForClose() -> Bool {
        var chunk = [UInt8](repeating: 0, count: 4096)
        while true {
            let count = chunk.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            if count == 0 { return buffer.isEmpty }
            if count < 0 { return errno == ECONNRESET && buffer.isEmpty }
            buffer.append(contentsOf: chunk[..<count])
        }
    }

    /// Receives until `complete` returns a value for the buffered bytes.
    private func fill(until complete: ([UInt8]) -> Int?) throws -> Int {
        var chunk = [UInt8](repeating: 0, count: 4096)
        while true {
            if let done = complete(buffer) { return done }
            let count = chunk.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            if count == 0 { throw TestClientError(description: "connection closed by server") }
            if count < 0 { throw TestClientError(description: "recv failed: errno \(errno)") }
            buffer.append(contentsOf: chunk[..<count])
        }
    }

    private static func headEnd(in bytes: [UInt8]) -> Int? {
        guard bytes.count >= 4 else { return nil }
        for index in 3..<bytes.count
        where bytes[index - 3] == 13 && bytes[index - 2] == 10 && bytes[index - 1] == 13 && bytes[index] == 10 {
            return index + 1
        }
        return nil
    }
}

extension String {
    fileprivate var trimmingSpaces: String {
        String(drop { $0 == " " }.reversed().drop { $0 == " " }.reversed())
    }
}
