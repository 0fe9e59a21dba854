import Glibc

/// A minimal blocking HTTP/1.1 client over one keep-alive TCP connection, for tests that must
/// talk to Stampede over real sockets exactly as a storefront would.
///
/// From async tests use the `async` methods: they block a dedicated thread, never a Swift
/// concurrency thread, which the in-process server needs to answer. One caller at a time.
final class HTTPTestClient: @unchecked Sendable {
    /// One answer: status, headers (lower-cased names) and body.
    struct Response: Sendable {
        var status: Int
        var headers: [String: String]
        var body: [UInt8]
        var text: String { String(decoding: body, as: UTF8.self) }
    }

    struct Failure: Error, Sendable, CustomStringConvertible {
        var description: String
    }

    private let fd: Int32
    private var buffer: [UInt8] = []

    /// Connects to 127.0.0.1:`port` (receive timeout `timeoutSeconds`), from the loopback address
    /// `source` when given (a shopper other than 127.0.0.1).
    init(port: Int, timeoutSeconds: Int = 30, source: String? = nil) throws {
        fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw Failure(description: "socket: errno \(errno)") }
        if let source {
            var local = sockaddr_in()
            local.sin_family = sa_family_t(AF_INET)
            local.sin_addr.s_addr = inet_addr(source)
            let bound = withUnsafePointer(to: &local) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
            }
            guard bound == 0 else {
                close(fd)
                throw Failure(description: "bind \(source): errno \(errno)")
            }
        }
        var timeout = timeval(tv_sec: timeoutSeconds, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let result = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard result == 0 else {
            close(fd)
            throw Failure(description: "connect: errno \(errno)")
        }
    }

    deinit { close(fd) }

    /// Serializes a request (with `Content-Length` when there is a body).
    static func encode(_ method: String, _ path: String, body: String? = nil, headers: [(String, String)] = []) -> [UInt8] {
        var text = "\(method) \(path) HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        for (name, value) in headers { text += "\(name): \(value)\r\n" }
        if let body {
            text += "Content-Type: application/json\r\nContent-Length: \(body.utf8.count)\r\n\r\n" + body
        } else {
            text += "\r\n"
        }
        return Array(text.utf8)
    }

    /// `request` on a dedicated thread.
    func call(_ method: String, _ path: String, body: String? = nil, headers: [(String, String)] = []) async throws -> Response {
        try await BlockingThreads.perform { try self.request(method, path, body: body, headers: headers) }
    }

    /// `readResponse` on a dedicated thread.
    func nextResponse() async throws -> Response {
        try await BlockingThreads.perform { try self.readResponse() }
    }

    /// Writes raw bytes.
    func send(_ bytes: [UInt8]) throws {
        var offset = 0
        while offset < bytes.count {
            let written = bytes[offset...].withUnsafeBytes { Glibc.send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            if written < 0 {
                if errno == EINTR { continue }
                throw Failure(description: "send: errno \(errno)")
            }
            offset += written
        }
    }

    /// Sends one request and reads its answer.
    func request(_ method: String, _ path: String, body: String? = nil, headers: [(String, String)] = []) throws -> Response {
        try send(Self.encode(method, path, body: body, headers: headers))
        return try readResponse()
    }

    /// Reads the next answer on the connection.
    func readResponse() throws -> Response {
        while true {
            if let (response, used) = try Self.parse(buffer) {
                buffer.removeFirst(used)
                return response
            }
            var chunk = [UInt8](repeating: 0, count: 65_536)
            let count = chunk.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            if count < 0, errno == EINTR { continue }
            guard count > 0 else { throw Failure(description: count == 0 ? "connection closed" : "recv: errno \(errno)") }
            buffer.append(contentsOf: chunk[0..<count])
        }
    }

    /// Parses one complete answer at the start of `bytes`: the answer and the bytes it used.
    static func parse(_ bytes: [UInt8]) throws -> (Response, Int)? {
        guard bytes.count >= 4 else { return nil }
        var headEnd: Int?
        for i in 0...(bytes.count - 4) where bytes[i] == 13 && bytes[i + 1] == 10 && bytes[i + 2] == 13 && bytes[i + 3] == 10 {
            headEnd = i
            break
        }
        guard let headEnd else { return nil }
        let head = String(decoding: bytes[0..<headEnd], as: UTF8.self)
        let lines = head.split(separator: "\r\n", omittingEmptySubsequences: false)
        let statusParts = lines[0].split(separator: " ")
        guard statusParts.count >= 2, let status = Int(statusParts[1]) else { throw Failure(description: "bad status line \(lines[0])") }
        var headers: [String: String] = [:]
        for line in lines.dropFirst() {
            guard let colon = line.firstIndex(of: ":") else { continue }
            headers[line[..<colon].lowercased()] = line[line.index(after: colon)...].trimmingPrefix(" ").description
        }
        let length = Int(headers["content-length"] ?? "0") ?? 0
        let total = headEnd + 4 + length
        guard bytes.count >= total else { return nil }
        return (Response(status: status, headers: headers, body: Array(bytes[(headEnd + 4)..<total])), total)
    }
}
