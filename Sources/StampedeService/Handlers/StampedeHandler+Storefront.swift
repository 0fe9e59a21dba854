import StampedeHTTP
import StampedeInventory
import StampedeJSON

/// The storefront routes: reading a sale, buying, and a user's orders.
extension StampedeHandler {
    /// `GET /v1/sales/{id}`: from the in-process cache when it is fresh, else read through. A fresh
    /// entry's body is encoded once and served again until the entry is refreshed or the sale's
    /// state moves with the clock (scheduled → live → ended).
    func getSale(_ saleID: String, _ exchange: Exchange) {
        // The request's start time is the cache's clock too: one clock read fewer per answer.
        let cached = inventory.cache.lookupRendered(saleID, now: exchange.started)
        switch cached.lookup {
        case .fresh(let sale):
            let now = Timestamp.now()
            let state = sale.state(at: now)
            if let rendered = cached.rendered, rendered.state == state {
                return exchange.send(HTTPResponse.json(status: 200, rendered.body))
            }
            let body = JSONWriter.encoding(sale, now: now).bytes
            inventory.cache.keepRendered(saleID, SaleCache.RenderedSale(body: body, state: state), version: cached.version)
            exchange.send(HTTPResponse.json(status: 200, body))
        case .absent:
            exchange.send(APIResponse.from(.unknownSale(saleID)))
        case .needsLoad(let stale):
            run(exchange) {
                let sale: Sale?
                do {
                    sale = try await self.inventory.loadSale(saleID)
                } catch {
                    // Redis is unreachable: the last known figures beat no answer.
                    guard let stale else { throw error }
                    sale = stale
                }
                guard let sale else { throw InventoryError.unknownSale(saleID) }
                return APIResponse.json(200, .encoding(sale))
            }
        }
    }

    /// `POST /v1/sales/{id}/orders`: validates, then hands the purchase to the sale's shard, which
    /// answers once the order is committed (or rejected).
    func purchase(_ saleID: String, _ request: HTTPRequest, _ exchange: Exchange) {
        if draining.load(ordering: .relaxed) {
            metrics.recordPurchase(.unavailable)
            return exchange.send(APIResponse.from(.unavailable("this instance is shutting down; retry")))
        }
        if inventory.shedsAtTheDoor(saleID) {
            // Overloaded: answered before the body is even decoded — a shed costs next to nothing,
            // so a flood of them does not take the CPU the admitted purchases need.
            metrics.recordShed(reason: Admission.shedInFlight.reason)
            metrics.recordPurchase(.overloaded)
            return exchange.send(APIResponse.overloaded(retryAfter: live.withLock { $0.retryAfterSeconds }))
        }
        let buyer: (userID: String, quantity: Int64)
        do {
            buyer = try RequestDecoding.purchase(request.body)
        } catch {
            return exchange.send(APIResponse.error(error.status, error.code, error.message))
        }
        let key = request.headers["Idempotency-Key"]
        if let key, !Identifier.isValidIdempotencyKey(key) {
            return exchange.send(APIResponse.error(400, "invalid_id", "Idempotency-Key must match [A-Za-z0-9._:-]{1,128}"))
        }
        let purchase = PurchaseAttempt(saleID: saleID, userID: buyer.userID, quantity: buyer.quantity, idempotencyKey: key)
        switch inventory.cache.lookup(saleID, now: exchange.started) {
        case .fresh(let sale):
            // The token is read only for a sale that requires one: most do not, and a header
            // lookup scans the head.
            if refusesToken(request.headers[PurchaseTokenVerifier.header], sale: sale, purchase, exchange) { return }
            submit(purchase, sale: sale, exchange, retryUnknown: true)
        case .absent:
            exchange.send(APIResponse.from(.unknownSale(saleID)))
        case .needsLoad(let stale):
            // A token-protected sale refuses a bad token before any Redis call when the cache
            // still holds the sale; otherwise its definition is read first.
            let token = request.headers[PurchaseTokenVerifier.header]
            if let stale, refusesToken(token, sale: stale, purchase, exchange) { return }
            Task {
                do {
                    guard let sale = try await self.inventory.loadSale(saleID) else {
                        return exchange.send(APIResponse.from(.unknownSale(saleID)))
                    }
                    if self.refusesToken(token, sale: sale, purchase, exchange) { return }
                    self.submit(purchase, sale: sale, exchange, retryUnknown: true)
                } catch let error as InventoryError {
                    exchange.send(APIResponse.from(error))
                } catch {
                    exchange.send(APIResponse.from(.unavailable("\(error)")))
                }
            }
        }
    }

    /// Answers `403 invalid_token` and returns true when `sale` requires a purchase token and
    /// `token` does not let this user buy in this sale now.
    private func refusesToken(_ token: @autoclosure () -> String?, sale: Sale, _ purchase: PurchaseAttempt,
                              _ exchange: Exchange) -> Bool {
        guard sale.definition.purchaseTokenRequired else { return false }
        let token = token()
        let verifier = live.withLock { $0.purchaseTokens }
        let now = Timestamp.now().milliseconds / 1000
        guard let rejection = verifier.verify(token, saleID: purchase.saleID, userID: purchase.userID, now: now) else {
            return false
        }
        metrics.recordPurchase(.invalidToken)
        metrics.recordLimited("purchase_token_" + rejection.rawValue)
        exchange.send(APIResponse.error(403, "invalid_token", Self.tokenMessage(rejection)))
        return true
    }

    static func tokenMessage(_ rejection: PurchaseTokenVerifier.Rejection) -> String {
        switch rejection {
        case .missing: "this sale requires a Purchase-Token header"
        case .malformed: "the Purchase-Token is not of the form v1.<expiry>.<hex signature>"
        case .expired: "the Purchase-Token has expired"
        case .tooLongLived: "the Purchase-Token expires too far in the future"
        case .forged: "the Purchase-Token is not valid for this user and sale"
        }
    }

    /// Answers from memory when it can (a sold-out sale), else hands the purchase to its shard.
    private func submit(_ purchase: PurchaseAttempt, sale: Sale, _ exchange: Exchange, retryUnknown: Bool) {
        let limit = sale.definition.perUserLimit
        if purchase.quantity > limit {
            metrics.recordPurchase(.invalidQuantity)
            return exchange.send(APIResponse.error(400, "invalid_quantity", "quantity must be between 1 and the per-user limit \(limit)"))
        }
        if let outcome = inventory.answerFromMemory(saleID: purchase.saleID, idempotencyKey: purchase.idempotencyKey) {
            // The rush after the last unit: no order id, no shard, no Redis call.
            return answer(outcome, purchase, exchange)
        }
        let request = PurchaseRequest(saleID: purchase.saleID, userID: purchase.userID, quantity: purchase.quantity,
                                      idempotencyKey: purchase.idempotencyKey)
        let admission = inventory.admitToShard(PendingPurchase(request: request) { outcome in
            if outcome == .unknownSale || outcome == .stale, retryUnknown {
                // Redis lost the sale, or its counters predate a Redis restart: rebuild them from
                // PostgreSQL, then try once more (the buyer waits for the rebuild, nothing was taken).
                Task {
                    do {
                        if try await self.inventory.rebuild(purchase.saleID), let sale = try await self.inventory.loadSale(purchase.saleID) {
                            self.submit(purchase, sale: sale, exchange, retryUnknown: false)
                        } else {
                            self.answer(.unknownSale, purchase, exchange)
                        }
                    } catch {
                        self.answer(.unavailable("the sale's stock counters are being rebuilt: \(error)"), purchase, exchange)
                    }
                }
                return
            }
            self.answer(outcome, purchase, exchange)
        }, available: sale.available)
        if admission != .queued {
            metrics.recordShed(reason: admission.reason)
            metrics.recordPurchase(.overloaded)
            let retryAfter = live.withLock { $0.retryAfterSeconds }
            exchange.send(APIResponse.overloaded(retryAfter: retryAfter))
        }
    }

    private func answer(_ outcome: PurchaseOutcome, _ purchase: PurchaseAttempt, _ exchange: Exchange) {
        let response: HTTPResponse
        let name: ServiceMetrics.PurchaseOutcomeName
        switch outcome {
        case .created(let order):
            (name, response) = (.created, APIResponse.json(201, .encoding(order), headers: [("Location", "/v1/orders/" + order.orderID)]))
        case .existing(let order):
            (name, response) = (.existing, APIResponse.json(200, .encoding(order)))
        case .soldOut:
            (name, response) = (.soldOut, APIResponse.soldOut(quantity: purchase.quantity))
        case .limitExceeded:
            (name, response) = (.limitExceeded, APIResponse.error(409, "limit_exceeded", "user \(purchase.userID) would pass the per-user limit"))
        case .notStarted:
            (name, response) = (.saleNotStarted, APIResponse.error(409, "sale_not_started", "the sale has not started"))
        case .ended:
            (name, response) = (.saleEnded, APIResponse.error(409, "sale_ended", "the sale has ended"))
        case .invalidQuantity(let limit):
            (name, response) = (.invalidQuantity, APIResponse.error(400, "invalid_quantity", "quantity must be between 1 and the per-user limit \(limit)"))
        case .unknownSale:
            (name, response) = (.unknownSale, APIResponse.from(.unknownSale(purchase.saleID)))
        case .unavailable(let why):
            exchange.logger.warning("purchase answered 503 unavailable", metadata: [
                "request_id": "\(exchange.requestID)", "sale_id": "\(purchase.saleID)", "reason": "\(why)"])
            (name, response) = (.unavailable, APIResponse.from(.unavailable(why)))
        case .stale:
            (name, response) = (.unavailable, APIResponse.from(.unavailable("the sale's stock counters are being rebuilt; retry")))
        }
        metrics.recordPurchase(name)
        exchange.send(response)
    }

    /// `GET /v1/users/{id}/orders`: newest first, at most 100.
    func userOrders(_ userID: String) async throws(InventoryError) -> HTTPResponse {
        let orders = try await inventory.orders(ofUser: userID)
        var writer = JSONWriter(capacity: 64 + orders.count * 280)
        writer.beginObject()
        writer.key("orders")
        writer.beginArray()
        for order in orders { writer.write(order) }
        writer.endArray()
        writer.endObject()
        return APIResponse.json(200, writer)
    }
}

/// A purchase as the storefront asked for it, validated but not yet given an order id (a purchase
/// answered from memory never needs one).
struct PurchaseAttempt: Sendable {
    var saleID: String
    var userID: String
    var quantity: Int64
    var idempotencyKey: String?
}
