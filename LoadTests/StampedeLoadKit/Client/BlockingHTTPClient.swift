import Glibc

/// A plain blocking HTTP/1.1 client for the run's set-up and checks (creating sales, reading
/// orders back, scraping `/metrics`): one keep-alive connection, one request at a time, on the
/// calling thread. Never used for load.
public final class BlockingHTTPClient {
    public let target: TargetURL
    private var fd: Int32 = -1
    /// The TLS session of an `https://` target.
    private var tls: ClientTLSSession?
    private var parser = ResponseParser()
    private let timeoutSeconds: Int

    public init(target: TargetURL, timeoutSeconds: Int = 10) {
        self.target = target
        self.timeoutSeconds = timeoutSeconds
    }

    deinit { disconnect() }

    /// Sends one request and waits for its answer; reconnects once if the kept connection had closed.
    public func send(_ method: String, _ path: String, body: [UInt8] = [], headers: [(String, String)] = []) throws(SocketError) -> ClientResponse {
        do {
            return try attempt(method, path, body: body, headers: headers)
        } catch {
            disconnect()
            return try attempt(method, path, body: body, headers: headers)
        }
    }

    public func get(_ path: String) throws(SocketError) -> ClientResponse { try send("GET", path) }

    private func attempt(_ method: String, _ path: String, body: [UInt8], headers: [(String, String)]) throws(SocketError) -> ClientResponse {
        if fd < 0 { try connect() }
        var bytes: [UInt8] = []
        bytes.append(contentsOf: "\(method) \(path) HTTP/1.1\r\nHost: \(target.hostHeader)\r\n".utf8)
        for (name, value) in headers { bytes.append(contentsOf: "\(name): \(value)\r\n".utf8) }
        if !body.isEmpty || method == "POST" || method == "PUT" {
            bytes.append(contentsOf: "Content-Type: application/json\r\nContent-Length: \(body.count)\r\n".utf8)
        }
        bytes.append(contentsOf: "\r\n".utf8)
        bytes.append(contentsOf: body)
        var written = 0
        while written < bytes.count {
            if let tls {
                let step = try bytes.withUnsafeBytes { raw in
                    Result { () throws(SocketError) -> IOStep in try tls.send(UnsafeRawBufferPointer(rebasing: raw[written...])) }
                }.get()
                guard case .done(let count) = step else { throw SocketError(call: "SSL_write", errno: ETIMEDOUT) }
                written += count
                continue
            }
            let count = bytes.withUnsafeBytes { Glibc.send(fd, $0.baseAddress! + written, $0.count - written, Int32(MSG_NOSIGNAL)) }
            if count < 0 {
                if errno == EINTR { continue }
                throw SocketError(call: "send", errno: errno)
            }
            written += count
        }
        var buffer = [UInt8](repeating: 0, count: 65536)
        while true {
            do {
                if let response = try parser.next() {
                    if response.closesConnection { disconnect() }
                    return response
                }
            } catch {
                throw SocketError(call: "parse response", errno: EPROTO)
            }
            if let tls {
                let step = try buffer.withUnsafeMutableBytes { raw in
                    Result { () throws(SocketError) -> IOStep in try tls.read(into: raw) }
                }.get()
                guard case .done(let count) = step else { throw SocketError(call: "SSL_read", errno: ETIMEDOUT) }
                if count == 0 { throw SocketError(call: "read", errno: ECONNRESET) }
                buffer.withUnsafeBytes { parser.append(UnsafeRawBufferPointer(rebasing: $0[..<count])) }
                continue
            }
            let count = buffer.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress, $0.count) }
            if count < 0 {
                if errno == EINTR { continue }
                throw SocketError(call: "read", errno: errno)
            }
            if count == 0 { throw SocketError(call: "read", errno: ECONNRESET) }
            buffer.withUnsafeBytes { parser.append(UnsafeRawBufferPointer(rebasing: $0[..<count])) }
        }
    }

    private func connect() throws(SocketError) {
        let socketFD = Glibc.socket(AF_INET, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard socketFD >= 0 else { throw SocketError(call: "socket", errno: errno) }
        var timeout = timeval(tv_sec: timeoutSeconds, tv_usec: 0)
        setsockopt(socketFD, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        setsockopt(socketFD, SOL_SOCKET, SO_SNDTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        var address = target.endpoint.sockaddr
        let result = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { Glibc.connect(socketFD, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard result == 0 else {
            let code = errno
            Glibc.close(socketFD)
            throw SocketError(call: "connect to \(target)", errno: code)
        }
        fd = socketFD
        parser = ResponseParser()
        if let settings = target.tls {
            do throws(ClientTLSError) {
                let session = try ClientTLSContext.shared(settings).session(fd: socketFD, host: target.host)
                tls = session
                // A blocking socket: the handshake runs to its end, or to the socket timeout.
                while true {
                    switch session.handshake() {
                    case .done: return
                    case .wantRead, .wantWrite: throw ClientTLSError(step: "handshake with \(target)", reason: "timed out")
                    case .failed(let reason): throw ClientTLSError(step: "handshake with \(target)", reason: reason)
                    }
                }
            } catch {
                disconnect()
                throw SocketError(call: error.description, errno: EPROTO)
            }
        }
    }

    private func disconnect() {
        tls = nil
        if fd >= 0 { Glibc.close(fd) }
        fd = -1
    }
}
