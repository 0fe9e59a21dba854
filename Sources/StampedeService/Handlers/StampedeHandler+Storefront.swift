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
        let cache = inventory.cache
        if let body = cache.renderedBody(saleID, now: exchange.started) {
            return exchange.send(HTTPResponse.json(status: 200, body))
        }
        let cached = cache.lookupVersioned(saleID, now: exchange.started)
        switch cached.lookup {
        case .fresh(let sale):
            let now = Timestamp.now()
            let body = JSONWriter.encoding(sale, now: now).bytes
            cache.keepRendered(saleID, SaleCache.RenderedSale(body: body, of: sale, renderedAt: now, monotonicNow: exchange.started),
                               version: cached.version)
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

    /// `POST /v1/sales/{id}/orders`: one call to the inventory, which sheds, validates (with this
    /// handler's decoding and token check), decides and commits the purchase, and answers once.
    func purchase(_ saleID: String, _ request: HTTPRequest, _ exchange: Exchange) {
        if draining.load(ordering: .relaxed) {
            metrics.recordPurchase(.unavailable)
            return exchange.send(APIResponse.from(.unavailable("this instance is shutting down; retry")))
        }
        inventory.purchase(saleID: saleID, started: exchange.started, form: { () throws(RequestRejection) in
            let buyer = try RequestDecoding.purchase(request.body)
            let key = request.headers["Idempotency-Key"]
            if let key, !Identifier.isValidIdempotencyKey(key) {
                throw .id("Idempotency-Key must match [A-Za-z0-9._:-]{1,128}")
            }
            return PurchaseAttempt(saleID: saleID, userID: buyer.userID, quantity: buyer.quantity, idempotencyKey: key)
        }, caller: StorefrontPurchase(handler: self, request: request, exchange: exchange))
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

    fileprivate func answer(_ outcome: PurchaseOutcome, _ purchase: PurchaseAttempt, _ exchange: Exchange) {
        let response: HTTPResponse
        let name: ServiceMetrics.PurchaseOutcomeName
        switch outcome {
        case .created(let order):
            (name, response) = (.created, Self.created(order))
        case .existing(let order):
            (name, response) = (.existing, APIResponse.json(200, .encoding(order)))
        case .soldOut:
            (name, response) = (.soldOut, APIResponse.soldOut(quantity: purchase.quantity))
        case .limitExceeded:
            (name, response) = (.limitExceeded, APIResponse.error(409, "limit_exceeded", "user \(purchase.userID) would pass the per-user limit"))
        case .groupLimitExceeded:
            (name, response) = (.groupLimitExceeded, APIResponse.error(409, "group_limit_exceeded",
                                                                      "user \(purchase.userID) would pass the limit of the sale's exclusive group"))
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

    /// `201` with the order and its `Location`: the headers built in one array with room for the
    /// `X-Request-Id` the exchange adds (every committed purchase is answered here).
    private static func created(_ order: Order) -> HTTPResponse {
        var headers: [(name: String, value: String)] = []
        headers.reserveCapacity(3)
        headers.append((name: "Content-Type", value: "application/json"))
        headers.append((name: "Location", value: "/v1/orders/" + order.orderID))
        return HTTPResponse(status: 201, headers: headers, body: JSONWriter.encoding(order).bytes)
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

/// A storefront purchase as the inventory sees its caller: the purchase-token check and the HTTP
/// answer. A reference: the inventory keeps it until the answer, in the purchase's callback, where
/// a copy of the request and exchange it holds would retain a dozen references.
final class StorefrontPurchase: PurchaseCaller {
    let handler: StampedeHandler
    let request: HTTPRequest
    let exchange: Exchange

    init(handler: StampedeHandler, request: HTTPRequest, exchange: Exchange) {
        self.handler = handler
        self.request = request
        self.exchange = exchange
    }

    func refusal(of attempt: PurchaseAttempt, for sale: Sale) -> (any Error)? {
        // The token is read only for a sale that requires one: most do not, and a header lookup
        // scans the head.
        guard sale.definition.purchaseTokenRequired else { return nil }
        let verifier = handler.live.withLock { $0.purchaseTokens }
        let now = Timestamp.now().milliseconds / 1000
        return verifier.verify(request.headers[PurchaseTokenVerifier.header], saleID: attempt.saleID,
                               userID: attempt.userID, now: now)
    }

    func answer(_ answer: PurchaseAnswer) {
        let metrics = handler.metrics
        switch answer {
        case .outcome(let outcome, let attempt):
            handler.answer(outcome, attempt, exchange)
        case .shed(let admission):
            // Overloaded: answered before the body is even decoded when the shard is full.
            metrics.recordShed(reason: admission.reason)
            metrics.recordPurchase(.overloaded)
            exchange.send(APIResponse.overloaded(retryAfter: handler.live.withLock { $0.retryAfterSeconds }))
        case .refused(let rejection as PurchaseTokenVerifier.Rejection):
            metrics.recordPurchase(.invalidToken)
            metrics.recordLimited("purchase_token_" + rejection.rawValue)
            exchange.send(APIResponse.error(403, "invalid_token", StampedeHandler.tokenMessage(rejection)))
        case .refused(let rejection as RequestRejection):
            exchange.send(APIResponse.error(rejection.status, rejection.code, rejection.message))
        case .refused(let error):
            exchange.send(APIResponse.from(.unavailable("\(error)")))
        }
    }
}
