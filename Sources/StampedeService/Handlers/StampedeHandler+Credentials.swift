import StampedeHTTP
import StampedeInventory
import StampedeJSON

/// The named admin credentials: `PUT`, `GET`, `DELETE /admin/credentials…`.
extension StampedeHandler {
    /// `PUT /admin/credentials/{name}`: `201` created, `200` rotated; the new token is in this
    /// answer only. The old token stops working here at once, elsewhere at the next refresh.
    func putCredential(_ name: String, _ request: HTTPRequest, _ exchange: Exchange, _ change: AdminChange) {
        guard !AdminPrincipal.reservedNames.contains(name) else {
            return exchange.send(APIResponse.error(400, "invalid_id", "'\(name)' is reserved (the audit log's name for the configured admin_token or a SIGHUP reload)"))
        }
        let role: AdminRole
        do {
            role = try RequestDecoding.credentialRole(request.body)
        } catch {
            return exchange.send(APIResponse.from(error))
        }
        run(exchange) {
            let token: String
            do {
                token = try AdminToken.generate()
            } catch {
                throw InventoryError.unavailable("no random bytes for a token: \(error)")
            }
            let hash = AdminToken.sha256Hex(token.utf8)
            let created = try await self.inventory.credentials.put(name, role: role, tokenSHA256: hash, change: change)
            self.credentials.store(AdminPrincipal(name: name, role: role), tokenSHA256: hash)
            self.logger.notice(created ? "admin credential created" : "admin credential rotated", metadata: [
                "request_id": "\(exchange.requestID)", "name": "\(name)", "role": "\(role.rawValue)", "actor": "\(change.actor)"])
            var writer = JSONWriter()
            writer.beginObject()
            writer.field("name", name)
            writer.field("role", role.rawValue)
            writer.field("token", token)
            writer.endObject()
            return APIResponse.json(created ? 201 : 200, writer, headers: [("Cache-Control", "no-store")])
        }
    }

    /// `DELETE /admin/credentials/{name}`: `200`, or `404 unknown_credential`.
    func deleteCredential(_ name: String, _ exchange: Exchange, _ change: AdminChange) {
        run(exchange) {
            guard try await self.inventory.credentials.delete(name, change: change) else {
                return APIResponse.error(404, "unknown_credential", "no credential \(name)")
            }
            self.credentials.remove(name: name)
            self.logger.notice("admin credential revoked", metadata: [
                "request_id": "\(exchange.requestID)", "name": "\(name)", "actor": "\(change.actor)"])
            var writer = JSONWriter()
            writer.beginObject()
            writer.field("name", name)
            writer.field("revoked", true)
            writer.endObject()
            return APIResponse.json(200, writer)
        }
    }

    /// `GET /admin/credentials`: names and roles (never tokens or hashes), sorted by name.
    func credentialsResponse() async throws(InventoryError) -> HTTPResponse {
        let list = try await inventory.credentials.list()
        var writer = JSONWriter(capacity: 64 + list.count * 128)
        writer.beginObject()
        writer.key("credentials")
        writer.beginArray()
        for credential in list {
            writer.beginObject()
            writer.field("name", credential.name)
            writer.field("role", credential.role.rawValue)
            writer.field("created_at", credential.createdAt.rfc3339)
            writer.field("updated_at", credential.updatedAt.rfc3339)
            writer.endObject()
        }
        writer.endArray()
        writer.endObject()
        return APIResponse.json(200, writer)
    }

    /// Reloads the credential table from PostgreSQL; keeps the last one when PostgreSQL cannot be
    /// read (returns false then).
    @discardableResult
    func refreshCredentials() async -> Bool {
        let generation = credentials.generation
        do {
            credentials.replace(try await inventory.credentials.hashes(), readAt: generation)
            return true
        } catch {
            return false
        }
    }

    /// Refreshes the credential table every `interval` until cancelled, logging when PostgreSQL
    /// stops and starts answering (not on every failed pass).
    func watchCredentials(every interval: Duration) async {
        var failing = false
        while !Task.isCancelled {
            let ok = await refreshCredentials()
            if ok == failing {
                failing = !ok
                if failing {
                    logger.warning("cannot refresh admin credentials from PostgreSQL; the last known ones stay in force")
                } else {
                    logger.notice("admin credentials refreshed from PostgreSQL again")
                }
            }
            try? await Task.sleep(for: interval)
        }
    }
}
