import FuzzSupport
@testable import StampedeHTTP

/// Fuzzes the incremental HTTP/1.1 request parser (`StampedeHTTP/Parser`).
///
/// The first byte picks a chunk size; the rest is the bytes a client sent. Properties:
/// - the parser never crashes or traps on any bytes (limits small enough to be hit: 512-byte heads,
///   128-byte bodies);
/// - feeding the bytes in chunks gives exactly the requests and the error of feeding them at once
///   (framing cannot depend on how TCP split the stream);
/// - every request's body is as long as its `Content-Length` (0 without one), it carries no
///   `Transfer-Encoding`, and `Connection: close` always ends keep-alive;
/// - a request serialized back to the wire parses to the same request, with no byte left over.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzHTTPParser(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    var input = FuzzInput(data, size)
    let chunk = Int(input.byte() % 32) + 1
    let wire = input.rest()

    let whole = ParseRun(wire, chunk: max(wire.count, 1))
    let pieces = ParseRun(wire, chunk: chunk)
    require(whole == pieces, "chunked parse (\(chunk) bytes) differs: \(whole) vs \(pieces)")

    for request in whole.requests {
        checkInvariants(request)
        checkRoundTrip(request)
    }
    return 0
}

/// A request as plain comparable values.
struct RequestSummary: Equatable, CustomStringConvertible {
    var method: String
    var target: String
    var version: HTTPVersion
    var headers: [[String]]
    var body: [UInt8]
    var keepAlive: Bool

    init(_ request: HTTPRequest) {
        method = request.method.rawValue
        target = request.target
        version = request.version
        headers = request.headers.map { [$0.name, $0.value] }
        body = request.body
        keepAlive = request.keepAlive
    }

    var description: String { "\(method) \(target) \(version) \(headers) body=\(body.count) keepAlive=\(keepAlive)" }
}

/// The requests and the final error a byte stream produces when fed `chunk` bytes at a time.
struct ParseRun: Equatable, CustomStringConvertible {
    var requests: [RequestSummary] = []
    var error: HTTPParseError?

    init(_ wire: [UInt8], chunk: Int) {
        var parser = HTTPRequestParser(maxHeaderBytes: 512, maxBodyBytes: 128)
        var offset = 0
        feeding: while offset < wire.count {
            let end = min(offset + chunk, wire.count)
            parser.append(contentsOf: wire[offset..<end])
            offset = end
            do {
                while let request = try parser.nextRequest() {
                    requests.append(RequestSummary(request))
                }
            } catch {
                self.error = error
                break feeding
            }
        }
    }

    var description: String { "\(requests.count) requests \(requests), error \(String(describing: error))" }
}

func checkInvariants(_ request: RequestSummary) {
    let lengths = request.headers.filter { $0[0].lowercased() == "content-length" }.map { $0[1] }
    let declared = lengths.first.map { Int($0.drop(while: { $0 == "0" })) ?? 0 } ?? 0
    require(request.body.count == declared, "body of \(request.body.count) bytes for Content-Length \(lengths)")
    require(!request.headers.contains { $0[0].lowercased() == "transfer-encoding" }, "Transfer-Encoding accepted")
    let closes = request.headers.contains { field in
        field[0].lowercased() == "connection"
            && field[1].split(separator: ",").contains { $0.trimmingSpaces().lowercased() == "close" }
    }
    require(!(closes && request.keepAlive), "Connection: close left keep-alive on")
    require(request.version == .http1_1 || request.version == .http1_0, "unexpected version")
}

func checkRoundTrip(_ request: RequestSummary) {
    var wire = Array("\(request.method) \(request.target) ".utf8)
    wire += Array((request.version == .http1_1 ? "HTTP/1.1\r\n" : "HTTP/1.0\r\n").utf8)
    for field in request.headers {
        wire += Array("\(field[0]): \(field[1])\r\n".utf8)
    }
    wire += Array("\r\n".utf8)
    wire += request.body

    var parser = HTTPRequestParser(maxHeaderBytes: 1 << 20, maxBodyBytes: 1 << 20)
    parser.append(contentsOf: wire)
    do {
        let reparsed = try parser.nextRequest()
        require(reparsed.map(RequestSummary.init) == request, "round trip of \(request) gave \(String(describing: reparsed.map(RequestSummary.init)))")
        require(!parser.hasBufferedBytes, "round trip of \(request) left bytes over")
    } catch {
        require(false, "round trip of \(request) failed: \(error)")
    }
}

extension Substring {
    func trimmingSpaces() -> Substring {
        var result = self
        while let first = result.first, first == " " || first == "\t" { result.removeFirst() }
        while let last = result.last, last == " " || last == "\t" { result.removeLast() }
        return result
    }
}

/// The executable's entry point: libFuzzer's driver with this target.
@main
enum FuzzHTTPParserMain {
    static func main() { runFuzzer(fuzzHTTPParser) }
}
