import StampedeInventory
import StampedeJSON

/// Decoding of the credential and audit requests: pure, tested without a server.
extension RequestDecoding {
    /// The body of `PUT /admin/credentials/{name}`: `{"role": "admin" | "viewer"}`.
    static func credentialRole(_ body: [UInt8]) throws(RequestRejection) -> AdminRole {
        let members = try object(body)
        guard let value = members["role"] else { throw .body("role is required") }
        guard let text = value.stringValue, let role = AdminRole(rawValue: text) else {
            throw .body("role must be \"admin\" or \"viewer\"")
        }
        return role
    }

    /// The query of `GET /admin/audit`: `limit` (1…500, default 100), `since` (RFC 3339), `before`
    /// (a cursor from `next_before`: 1 to 18 digits, no leading zero). Numbers are plain digits
    /// (no sign or leading zero), so what the OpenAPI patterns refuse is refused here too. Other
    /// parameters are ignored; a value may be percent-encoded.
    static func auditQuery(_ query: String?) throws(RequestRejection) -> AuditQuery {
        var result = AuditQuery()
        for (name, value) in try queryParameters(query) {
            switch name {
            case "limit":
                guard isPlainNumber(value, maxDigits: 3), let limit = Int(value), AuditQuery.limits.contains(limit) else {
                    throw .query("limit must be a whole number from \(AuditQuery.limits.lowerBound) to \(AuditQuery.limits.upperBound)")
                }
                result.limit = limit
            case "since":
                guard let since = Timestamp(rfc3339: value) else {
                    throw .query("since must be an RFC 3339 time, e.g. 2026-12-01T00:00:00Z")
                }
                result.since = since
            case "before":
                guard isPlainNumber(value, maxDigits: 18), let before = Int64(value) else {
                    throw .query("before must be a cursor given as next_before by an earlier page")
                }
                result.before = before
            default:
                continue
            }
        }
        return result
    }

    /// The `name=value` pairs of a query, values percent-decoded, in order.
    static func queryParameters(_ query: String?) throws(RequestRejection) -> [(name: String, value: String)] {
        guard let query, !query.isEmpty else { return [] }
        var parameters: [(name: String, value: String)] = []
        for pair in query.utf8.split(separator: UInt8(ascii: "&")) {
            let parts = pair.split(separator: UInt8(ascii: "="), maxSplits: 1, omittingEmptySubsequences: false)
            let name = String(decoding: parts[0], as: UTF8.self)
            guard let value = parts.count == 2 ? percentDecoded(parts[1]) : "" else {
                throw .query("\(name.prefix(40)) is not validly percent-encoded")
            }
            parameters.append((name, value))
        }
        return parameters
    }

    /// `[1-9][0-9]*` with at most `maxDigits` digits: no sign, no leading zero, nothing else.
    static func isPlainNumber(_ text: String, maxDigits: Int) -> Bool {
        let digits = text.utf8
        guard let first = digits.first, first != UInt8(ascii: "0"), digits.count <= maxDigits else { return false }
        return digits.allSatisfy { (0x30...0x39).contains($0) }
    }

    /// `%XX` sequences decoded; nil for a malformed escape or a result that is not UTF-8.
    static func percentDecoded(_ bytes: some Collection<UInt8>) -> String? {
        var out: [UInt8] = []
        var iterator = bytes.makeIterator()
        while let byte = iterator.next() {
            guard byte == UInt8(ascii: "%") else {
                out.append(byte)
                continue
            }
            guard let high = iterator.next().flatMap(PurchaseTokenVerifier.nibble),
                  let low = iterator.next().flatMap(PurchaseTokenVerifier.nibble) else { return nil }
            out.append(high << 4 | low)
        }
        return String(validating: out, as: UTF8.self)
    }
}
