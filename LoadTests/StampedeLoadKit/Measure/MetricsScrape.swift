/// Reads single unlabelled samples out of Prometheus text (`name value` lines).
public enum MetricsScrape {
    /// The value of the first sample of `name` without labels, or the sum over its labelled samples.
    public static func value(_ name: String, in text: String) -> Double? {
        var total: Double?
        for line in text.split(separator: "\n") where line.hasPrefix(name) {
            let rest = line.dropFirst(name.count)
            guard let first = rest.first, first == " " || first == "{" else { continue }
            guard let value = rest.split(separator: " ").last.flatMap({ Double($0) }) else { continue }
            if first == " " { return value }
            total = (total ?? 0) + value
        }
        return total
    }

    /// Takes one sample of the server's figures.
    static func sample(_ client: BlockingHTTPClient, t: Double) -> ServerSample? {
        guard let response = try? client.get("/metrics"), response.status == 200 else { return nil }
        let text = String(decoding: response.body, as: UTF8.self)
        return ServerSample(t: t, residentBytes: value("process_resident_memory_bytes", in: text),
                            openConnections: value("stampede_http_open_connections", in: text),
                            shedTotal: value("stampede_shed_total", in: text))
    }
}
