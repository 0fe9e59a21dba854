import StampedeHTTP
import StampedeInventory
import StampedeJSON

/// `GET /admin/audit`: the audit log of admin changes, newest first.
extension StampedeHandler {
    /// `GET /admin/audit?limit&since&before`: one page of entries and the cursor of the next;
    /// a bad query value is `400 invalid_query` before PostgreSQL is asked.
    func audit(_ request: HTTPRequest, _ exchange: Exchange) {
        let query: AuditQuery
        do {
            query = try RequestDecoding.auditQuery(request.query)
        } catch {
            return exchange.send(APIResponse.from(error))
        }
        run(exchange) {
            // One more than asked: whether there is a next page.
            var asked = query
            asked.limit += 1
            let entries = try await self.inventory.auditEntries(asked)
            return APIResponse.json(200, Self.auditBody(Array(entries.prefix(query.limit)), more: entries.count > query.limit))
        }
    }

    /// `{"entries": [...], "next_before": "<cursor>" | null}`.
    static func auditBody(_ entries: [RecordedAuditEntry], more: Bool) -> JSONWriter {
        var writer = JSONWriter(capacity: 64 + entries.count * 512)
        writer.beginObject()
        writer.key("entries")
        writer.beginArray()
        for entry in entries {
            writer.beginObject()
            writer.field("id", String(entry.id))
            writer.field("at", entry.at.rfc3339Milliseconds)
            writer.field("actor", entry.actor)
            writer.key("address")
            if let address = entry.address { writer.string(address) } else { writer.null() }
            writer.key("request_id")
            if let requestID = entry.requestID { writer.string(requestID) } else { writer.null() }
            writer.field("action", entry.action)
            writer.field("target", entry.target)
            writer.key("before")
            raw(entry.before, into: &writer)
            writer.key("after")
            raw(entry.after, into: &writer)
            writer.endObject()
        }
        writer.endArray()
        writer.key("next_before")
        if more, let last = entries.last { writer.string(String(last.id)) } else { writer.null() }
        writer.endObject()
        return writer
    }

    /// A JSON document PostgreSQL printed (`jsonb` output is valid JSON), or `null`.
    private static func raw(_ json: String?, into writer: inout JSONWriter) {
        guard let json else { return writer.null() }
        writer.beginComposedValue()
        writer.composedRaw { $0.append(contentsOf: json.utf8) }
    }
}
