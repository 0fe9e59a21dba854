import Glibc
import StampedeSystem

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
    public func send(_ method: String, _ path: String, body: [UInt8] = [], headers: [(String, String)] = []) throws(SystemCallError) -> ClientResponse {
        do {
            return try attempt(method, path, body: body, headers: headers)
        } catch {
            disconnect()
            return try attempt(method, path, body: body, headers: headers)
        }
    }

    public func get(_ path: String) throws(SystemCallError) -> ClientResponse { try send("GET", path) }

    private func attempt(_ method: String, _ path: String, body: [UInt8], headers: [(String, String)]) throws(SystemCallError) -> ClientResponse {
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
                    Result { () throws(SystemCallError) -> IOResult<Int> in try tls.send(UnsafeRawBufferPointer(rebasing: raw[written...])) }
                }.get()
                guard case .processed(let count) = step else { throw SystemCallError(call: "SSL_write", errno: ETIMEDOUT) }
                written += count
                continue
            }
            let step = try bytes.withUnsafeBytes { raw in
                Result { () throws(SystemCallError) -> IOResult<Int> in try System.send(fd, UnsafeRawBufferPointer(rebasing: raw[written...])) }
            }.get()
            // A blocking socket reports its send timeout as `EAGAIN`.
            guard case .processed(let count) = step else { throw SystemCallError(call: "send", errno: ETIMEDOUT) }
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
                throw SystemCallError(call: "parse response", errno: EPROTO)
            }
            if let tls {
                let step = try buffer.withUnsafeMutableBytes { raw in
                    Result { () throws(SystemCallError) -> IOResult<Int> in try tls.read(into: raw) }
                }.get()
                guard case .processed(let count) = step else { throw SystemCallError(call: "SSL_read", errno: ETIMEDOUT) }
                if count == 0 { throw SystemCallError(call: "read", errno: ECONNRESET) }
                buffer.withUnsafeBytes { parser.append(UnsafeRawBufferPointer(rebasing: $0[..<count])) }
                continue
            }
            let step = try buffer.withUnsafeMutableBytes { raw in
                Result { () throws(SystemCallError) -> IOResult<Int> in try System.read(fd, into: raw) }
            }.get()
            guard case .processed(let count) = step else { throw SystemCallError(call: "read", errno: ETIMEDOUT) }
            if count == 0 { throw SystemCallError(call: "read", errno: ECONNRESET) }
            buffer.withUnsafeBytes { parser.append(UnsafeRawBufferPointer(rebasing: $0[..<count])) }
        }
    }

    private func connect() throws(SystemCallError) {
        let socketFD = try System.socket(domain: AF_INET, nonBlocking: false)
        do throws(SystemCallError) {
            try System.setTimeout(socketFD, seconds: timeoutSeconds)
            // A blocking connect that outlives the send timeout ends with `EINPROGRESS`.
            guard case .processed = try System.connect(socketFD, to: target.endpoint.address) else {
                throw SystemCallError(call: "connect", errno: ETIMEDOUT)
            }
        } catch {
            System.close(socketFD)
            throw SystemCallError(call: "connect to \(target)", errno: error.errno)
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
                throw SystemCallError(call: error.description, errno: EPROTO)
            }
        }
    }

    private func disconnect() {
        tls = nil
        if fd >= 0 { System.close(fd) }
        fd = -1
    }
}
