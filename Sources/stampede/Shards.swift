import ArgumentParser
import Glibc
import StampedeJSON
import StampedeService

/// `stampede shards`: the live shard table of a running Stampede (`GET /admin/shards`) as text.
struct Shards: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Print the live shard table of a running Stampede (GET /admin/shards).")

    @OptionGroup var options: CommonOptions

    @Option(help: "Stampede's address, host:port (default: the configuration's listen, or STAMPEDE_LISTEN).")
    var address: String?

    @Option(help: "Admin token (default: the configuration's admin_token, or STAMPEDE_ADMIN_TOKEN).")
    var token: String?

    func run() throws {
        let configuration = try options.load()
        let target = address ?? configuration.listen
        guard let (host, port) = StampedeConfiguration.splitHostPort(target) else {
            throw ValidationError("address must be host:port, got \(target)")
        }
        let (status, body) = try AdminRequest.get("/admin/shards", host: host, port: port, token: token ?? configuration.adminToken)
        guard status == 200 else {
            throw ValidationError("GET /admin/shards answered \(status): \(String(decoding: body, as: UTF8.self))")
        }
        print(try ShardTable.render(JSONParser.parse(body)), terminator: "")
    }
}

/// Renders the `/admin/shards` document as an aligned table.
enum ShardTable {
    static func render(_ document: JSONValue) -> String {
        guard case .array(let shards) = document["shards"] else { return "no shards in the answer\n" }
        let header = ["shard", "kind", "sales", "in_flight", "queue", "limit/max", "batch", "mean_batch",
                      "served", "shed", "p50_ms", "p99_ms", "hot"]
        var rows = [header]
        for shard in shards {
            func int(_ key: String) -> String { shard[key]?.integerValue.map(String.init) ?? "-" }
            func number(_ key: String) -> String { shard[key]?.doubleValue.map { String($0) } ?? "-" }
            var sales: [String] = []
            if case .array(let items) = shard["sales"] { sales = items.compactMap(\.stringValue) }
            let kind = shard["pinned_sale"]?.stringValue.map { "pin:" + $0 } ?? "hashed"
            let shown = sales.prefix(3).joined(separator: ",") + (sales.count > 3 ? ",+\(sales.count - 3)" : "")
            rows.append([int("shard"), kind, shown.isEmpty ? "-" : shown, int("in_flight"), int("queue_depth"),
                         int("limit") + "/" + int("max_in_flight"), int("batch_size"), number("mean_batch"),
                         int("requests_served"), int("shed"), number("p50_ms"), number("p99_ms"),
                         shard["hot"]?.boolValue == true ? "HOT" : ""])
        }
        let widths = header.indices.map { column in rows.map { $0[column].count }.max() ?? 0 }
        var out = ""
        for row in rows {
            out += row.enumerated().map { $1.padding(toLength: widths[$0]) }.joined(separator: "  ") + "\n"
        }
        for shard in shards where shard["hot"]?.boolValue == true {
            out += "shard \(shard["shard"]?.integerValue ?? -1) is hot: \(shard["hot_reason"]?.stringValue ?? "")\n"
        }
        if case .array(let pinned) = document["pinned"], !pinned.isEmpty {
            out += "pinned: " + pinned.compactMap(\.stringValue).joined(separator: ", ") + "\n"
        }
        if case .array(let sales) = document["bucketed_sales"], !sales.isEmpty { out += "\n" + buckets(sales) }
        return out
    }

    /// The buckets of each bucketed sale: tag, primary, available and allocated units.
    static func buckets(_ sales: [JSONValue]) -> String {
        let header = ["sale", "bucket", "tag", "primary", "available", "allocated"]
        var rows = [header]
        for sale in sales {
            guard case .array(let buckets) = sale["buckets"] else { continue }
            for bucket in buckets {
                func int(_ key: String) -> String { bucket[key]?.integerValue.map(String.init) ?? "-" }
                rows.append([sale["sale_id"]?.stringValue ?? "?", int("bucket"), bucket["tag"]?.stringValue ?? "-",
                             bucket["primary"]?.stringValue ?? "-", int("available"), int("allocated")])
            }
        }
        let widths = header.indices.map { column in rows.map { $0[column].count }.max() ?? 0 }
        return rows.map { row in row.enumerated().map { $1.padding(toLength: widths[$0]) }.joined(separator: "  ") + "\n" }.joined()
    }
}

extension String {
    fileprivate func padding(toLength length: Int) -> String {
        count >= length ? self : self + String(repeating: " ", count: length - count)
    }
}

/// A one-shot HTTP/1.1 GET over a blocking loopback socket (the CLI needs nothing more).
enum AdminRequest {
    struct Failure: Error, CustomStringConvertible {
        let description: String
    }

    static func get(_ path: String, host: String, port: Int, token: String) throws -> (status: Int, body: [UInt8]) {
        var hints = addrinfo()
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        var list: UnsafeMutablePointer<addrinfo>?
        guard getaddrinfo(host, String(port), &hints, &list) == 0, let info = list else {
            throw Failure(description: "cannot resolve \(host)")
        }
        defer { freeaddrinfo(list) }
        let fd = socket(info.pointee.ai_family, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw Failure(description: "socket: errno \(errno)") }
        defer { close(fd) }
        var timeout = timeval(tv_sec: 5, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        guard connect(fd, info.pointee.ai_addr, info.pointee.ai_addrlen) == 0 else {
            throw Failure(description: "cannot connect to \(host):\(port) (errno \(errno)); is Stampede running?")
        }
        let request = "GET \(path) HTTP/1.1\r\nHost: \(host)\r\nAuthorization: Bearer \(token)\r\nConnection: close\r\n\r\n"
        let bytes = Array(request.utf8)
        var sent = 0
        while sent < bytes.count {
            let n = bytes[sent...].withUnsafeBytes { send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            guard n > 0 else { throw Failure(description: "send failed (errno \(errno))") }
            sent += n
        }
        var response: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 65_536)
        while true {
            let n = chunk.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            if n < 0, errno == EINTR { continue }
            if n <= 0 { break }
            response += chunk[0..<n]
        }
        let separator = Array("\r\n\r\n".utf8)
        guard let split = (0..<max(0, response.count - 3)).first(where: { Array(response[$0..<$0 + 4]) == separator }),
              response.count > 12, let status = Int(String(decoding: response[9..<12], as: UTF8.self))
        else { throw Failure(description: "malformed answer from \(host):\(port)") }
        return (status, Array(response[(split + 4)...]))
    }
}
