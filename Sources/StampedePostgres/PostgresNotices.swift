import CLibpq

/// The notices (warnings) PostgreSQL sent on one connection while a statement ran, as far as they
/// change what the statement's result means.
///
/// With a synchronous standby, a commit whose wait for it is cancelled (`pg_cancel_backend`, the
/// client's cancel request) or cut short by a shutdown still returns success, after a WARNING:
/// "canceling wait for synchronous replication …", detail "The transaction has already committed
/// locally, but might not have been replicated to the standby." The commit is then *not*
/// confirmed — losing the primary's disk would lose it — so `PostgresConnection` reports that
/// statement as `PostgresError.unconfirmedCommit`.
///
/// Confined to its connection's thread like the connection: libpq calls the receiver from inside
/// the connection's own calls.
final class PostgresNotices {
    private var unconfirmedCommit: String?

    /// libpq's notice receiver: keeps the synchronous-replication warning, drops the rest.
    func receive(_ result: OpaquePointer) {
        let message = Self.field(Self.primaryMessageField, of: result) ?? ""
        let detail = Self.field(Self.detailField, of: result) ?? ""
        if Self.isUnconfirmedCommit(message: message, detail: detail) {
            unconfirmedCommit = detail.isEmpty ? message : "\(message): \(detail)"
        }
    }

    /// The warning of the last statement's unconfirmed commit, if any; clears it.
    func takeUnconfirmedCommit() -> String? {
        defer { unconfirmedCommit = nil }
        return unconfirmedCommit
    }

    /// Whether a notice says a commit's wait for synchronous replication ended early (PostgreSQL
    /// 12–17 word it "canceling [the] wait for synchronous replication …" with the detail "…
    /// committed locally, but might not have been replicated …"; either part is enough).
    static func isUnconfirmedCommit(message: String, detail: String) -> Bool {
        (message.contains("wait for synchronous replication") && message.hasPrefix("canceling"))
            || detail.contains("committed locally")
    }

    private static let primaryMessageField = Int32(UInt8(ascii: "M"))
    private static let detailField = Int32(UInt8(ascii: "D"))

    private static func field(_ code: Int32, of result: OpaquePointer) -> String? {
        PQresultErrorField(result, code).map { String(cString: $0) }
    }
}
