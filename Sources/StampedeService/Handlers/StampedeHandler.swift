import Logging
import StampedeHTTP
import StampedeInventory
import StampedeJSON
import StampedeSystem
import Synchronization

/// Stampede's HTTP handler: routes each request and answers it, inline on the event loop when the
/// answer is in memory (cached sales, health, shedding), or from a task when it needs Redis or
/// PostgreSQL. Every answer is counted and timed by route and status.
public final class StampedeHandler: HTTPRequestHandler {
    let inventory: Inventory
    let metrics: ServiceMetrics
    let logger: Logger
    /// The logger's level is `debug` or finer: every answer gets an access log line. Read once,
    /// as the level is fixed at start-up and asking the log handler costs on every request.
    let logsRequests: Bool
    /// The tunables that may change at run time (reload), read on every request.
    let live: Mutex<LiveSettings>
    /// Set by a graceful shutdown: new purchases are refused (`503 unavailable`, nothing taken).
    let draining = Atomic<Bool>(false)
    /// Figures of pools, the HTTP server and repairs, read at scrape time for `/metrics`.
    let scrape: @Sendable () -> ScrapeFigures
    /// Checks each dependency (`redis`, `postgres`) for `/health/ready`.
    let probe: @Sendable () async -> [(name: String, ok: Bool)]
    /// The last probe's result (readiness checks and the background watch), for `/metrics`.
    let lastChecks = Mutex<[(name: String, ok: Bool)]>([])
    /// The limit on failed `/admin` authentications, per client address.
    let adminLimiter: AdminRateLimiter
    /// The named admin credentials this instance knows (refreshed from PostgreSQL by the service).
    let credentials = AdminCredentialTable()
    /// Re-reads the configuration file and applies what can change live (recording who asked).
    let reload: @Sendable (AdminChange) async -> Result<(applied: [String], needsRestart: [String]), ConfigurationError>
    /// How often the named credentials are re-read from PostgreSQL: a rotation or revocation
    /// elsewhere takes effect within a second.
    static let credentialRefreshInterval = Duration.milliseconds(400)

    /// Settings a reload can change without a restart.
    struct LiveSettings {
        var adminToken: [UInt8]
        var retryAfterSeconds: Int
        var defaultReservationTTLSeconds: Int64
        /// Checks purchase tokens with the current (and previous) secret.
        var purchaseTokens: PurchaseTokenVerifier
    }

    init(inventory: Inventory, metrics: ServiceMetrics, logger: Logger, configuration: StampedeConfiguration,
         scrape: @escaping @Sendable () -> ScrapeFigures,
         probe: @escaping @Sendable () async -> [(name: String, ok: Bool)],
         reload: @escaping @Sendable (AdminChange) async -> Result<(applied: [String], needsRestart: [String]), ConfigurationError>) {
        self.inventory = inventory
        self.metrics = metrics
        self.logger = logger
        self.logsRequests = logger.logLevel <= .debug
        self.live = Mutex(LiveSettings(configuration))
        self.adminLimiter = AdminRateLimiter(AdminRateLimiter.Settings(configuration))
        self.scrape = scrape
        self.probe = probe
        self.reload = reload
    }

    /// Starts refusing new purchases and reporting not-ready, for a graceful shutdown.
    func beginDraining() {
        draining.store(true, ordering: .relaxed)
    }

    /// Applies the live part of a configuration.
    func apply(_ configuration: StampedeConfiguration) {
        live.withLock { $0 = LiveSettings(configuration) }
        adminLimiter.apply(AdminRateLimiter.Settings(configuration))
    }

    /// The admin rate limit in force, for `/metrics`.
    var adminRateSettings: (rate: Double, burst: Double) {
        let settings = adminLimiter.settings
        return (settings.rate, Double(settings.burst))
    }

    public func handle(_ request: HTTPRequest, responder: HTTPResponder) {
        let started = responder.dispatchedAtNanos
        let route = request.withPathBytes { Route.match(method: request.method, path: $0) }
        let requestID = RequestID.resolve(incoming: request.headers[RequestID.header])
        let exchange = Exchange(route: route, started: started, responder: responder, handler: self, requestID: requestID,
                                client: request.clientAddress)
        guard route.isAdmin else { return dispatch(route, request, exchange) }
        // Authenticated and permitted, or answered here.
        guard let principal = admit(route, request, exchange) else { return }
        dispatchAdmin(route, request, exchange, change: Self.change(by: principal, exchange))
    }

    /// The principal an `/admin` request authenticated as, when its role may call `route`; else
    /// answers `401`, `429` (failed authentications from this address past the limit) or `403`
    /// and returns nil.
    private func admit(_ route: Route, _ request: HTTPRequest, _ exchange: Exchange) -> AdminPrincipal? {
        let started = exchange.started
        guard let principal = authenticate(request) else {
            // Only failed authentications count against the address: the right token is never
            // refused for rate, however many calls an operator or a script makes.
            if let retryAfter = adminLimiter.failed(request.clientAddress, now: Double(started) / 1e9) {
                metrics.recordLimited("admin_rate")
                exchange.send(APIResponse.error(429, "rate_limited", "too many failed /admin authentications from this address; retry later",
                                                headers: [("Retry-After", String(retryAfter))]))
                return nil
            }
            exchange.send(APIResponse.error(401, "unauthorized", "a valid Authorization: Bearer token is required"))
            return nil
        }
        guard AdminPermission.allows(route, principal.role) else {
            exchange.send(APIResponse.error(403, "forbidden", "the credential '\(principal.name)' has the role \(principal.role.rawValue), which may only read (GET) under /admin"))
            return nil
        }
        return principal
    }

    /// Who makes an admin request's change, from where, in which request: for its audit entry.
    static func change(by principal: AdminPrincipal, _ exchange: Exchange) -> AdminChange {
        AdminChange(actor: principal.name, address: exchange.client == .unspecified ? nil : "\(exchange.client)",
                    requestID: exchange.requestID)
    }

    /// Answers an admitted `/admin` request by its route; `change` is what its audit entry records.
    private func dispatchAdmin(_ route: Route, _ request: HTTPRequest, _ exchange: Exchange, change: AdminChange) {
        switch route {
        case .putSale(let id): putSale(id, request, exchange, change)
        case .restock(let id): restock(id, request, exchange, change)
        case .changeBuckets(let id): changeBuckets(id, request, exchange, change)
        case .shards: run(exchange) { try await self.shardsResponse() }
        case .reloadConfig: run(exchange) { await self.reloadResponse(change) }
        case .credentials: run(exchange) { try await self.credentialsResponse() }
        case .putCredential(let name): putCredential(name, request, exchange, change)
        case .deleteCredential(let name): deleteCredential(name, exchange, change)
        case .audit: audit(request, exchange)
        case .putGroup(let id): putGroup(id, request, exchange, change)
        case .getGroup(let id): run(exchange) { APIResponse.json(200, .encoding(try await self.inventory.group(id))) }
        case .deleteGroup(let id): deleteGroup(id, exchange, change)
        case .movements(let id): movements(id, request, exchange)
        case .getSale, .purchase, .getOrder, .payOrder, .cancelOrder, .userOrders, .metrics, .live, .ready,
             .methodNotAllowed, .invalidID, .notFound:
            dispatch(route, request, exchange)
        }
    }

    /// Answers a request outside `/admin` by its route.
    private func dispatch(_ route: Route, _ request: HTTPRequest, _ exchange: Exchange) {
        switch route {
        case .getSale(let id): getSale(id, exchange)
        case .purchase(let id): purchase(id, request, exchange)
        case .getOrder(let id): run(exchange) { try await self.orderResponse(self.inventory.order(id)) }
        case .payOrder(let id): run(exchange) { try await self.orderResponse(self.inventory.pay(id)) }
        case .cancelOrder(let id): run(exchange) { try await self.orderResponse(self.inventory.cancel(id)) }
        case .userOrders(let id): run(exchange) { try await self.userOrders(id) }
        case .putSale, .restock, .shards, .reloadConfig, .credentials, .putCredential, .deleteCredential, .audit,
             .putGroup, .getGroup, .deleteGroup, .movements, .changeBuckets:
            // `/admin` routes are answered by `dispatchAdmin` after authentication; should one
            // ever come here, it is refused rather than served unauthenticated.
            exchange.send(APIResponse.error(401, "unauthorized", "a valid Authorization: Bearer token is required"))
        case .metrics: exchange.send(metricsResponse())
        case .live: exchange.send(APIResponse.json(200, Self.status("live")))
        case .ready: run(exchange) { await self.readyResponse() }
        case .methodNotAllowed(let allowed):
            exchange.send(APIResponse.error(405, "method_not_allowed", "allowed: \(allowed)", headers: [("Allow", allowed)]))
        case .invalidID(let id):
            exchange.send(APIResponse.error(400, "invalid_id", "'\(id.prefix(80))' is not an identifier ([A-Za-z0-9._:-]{1,64})"))
        case .notFound:
            exchange.send(APIResponse.error(404, "not_found", "no route for \(request.path.prefix(200))"))
        }
    }

    /// Runs an answer that needs I/O in a task; an inventory error becomes its API answer.
    func run(_ exchange: Exchange, _ body: @escaping @Sendable () async throws -> HTTPResponse) {
        Task {
            do {
                exchange.send(try await body())
            } catch let error as InventoryError {
                if case .unavailable(let reason) = error {
                    exchange.logger.warning("answered 503 unavailable", metadata: [
                        "request_id": "\(exchange.requestID)", "route": "\(exchange.route.name)", "reason": "\(reason)"])
                }
                exchange.send(APIResponse.from(error))
            } catch {
                exchange.logger.error("unexpected failure", metadata: [
                    "request_id": "\(exchange.requestID)", "route": "\(exchange.route.name)", "error": "\(error)"])
                exchange.send(APIResponse.from(.unavailable("\(error)")))
            }
        }
    }

    func orderResponse(_ order: Order) -> HTTPResponse {
        APIResponse.json(200, .encoding(order))
    }

    /// Who the bearer token of `request` belongs to: the configured `admin_token` (`bootstrap`),
    /// a named credential (by the SHA-256 of the token, looked up in memory), or nil.
    func authenticate(_ request: HTTPRequest) -> AdminPrincipal? {
        guard let header = request.headers["Authorization"] else { return nil }
        if isBootstrapToken(header) { return .bootstrap }
        let presented = header.utf8
        let prefix = "Bearer ".utf8
        guard presented.starts(with: prefix) else { return nil }
        let token = presented.dropFirst(prefix.count)
        guard AdminToken.isWellFormed(token) else { return nil }
        return credentials.principal(forTokenSHA256: AdminToken.sha256Hex(token))
    }

    /// Constant-time comparison with the configured `admin_token` (no early exit on the first
    /// differing byte).
    func isBootstrapToken(_ header: String) -> Bool {
        let presented = Array(header.utf8)
        let prefix = Array("Bearer ".utf8)
        return live.withLock { settings in
            let expected = settings.adminToken
            guard !expected.isEmpty else { return false }
            var difference = UInt8(presented.count == prefix.count + expected.count ? 0 : 1)
            for i in 0..<(prefix.count + expected.count) {
                let want = i < prefix.count ? prefix[i] : expected[i - prefix.count]
                let got = i < presented.count ? presented[i] : 0
                difference |= want ^ got
            }
            return difference == 0
        }
    }

    static func status(_ text: String) -> JSONWriter {
        var writer = JSONWriter()
        writer.beginObject()
        writer.field("status", text)
        writer.endObject()
        return writer
    }
}

extension StampedeHandler.LiveSettings {
    init(_ configuration: StampedeConfiguration) {
        adminToken = Array(configuration.adminToken.utf8)
        retryAfterSeconds = configuration.retryAfterSeconds
        defaultReservationTTLSeconds = Int64(configuration.defaultReservationTTLSeconds)
        purchaseTokens = PurchaseTokenVerifier(
            secrets: [configuration.purchaseTokenSecret, configuration.purchaseTokenPreviousSecret],
            maxLifetimeSeconds: Int64(configuration.purchaseTokenMaxLifetimeSeconds))
    }
}

extension AdminRateLimiter.Settings {
    init(_ configuration: StampedeConfiguration) {
        self.init(rate: configuration.adminRequestsPerSecond, burst: configuration.adminBurst)
    }
}

/// One request being answered: sends the answer once, with its `X-Request-Id`, and records its
/// metrics (and, at log level `debug`, an access log line).
struct Exchange: Sendable {
    let route: Route
    let started: UInt64
    let responder: HTTPResponder
    /// The handler, for its metrics and logger (one reference to carry instead of two).
    let handler: StampedeHandler
    /// Echoed in the `X-Request-Id` answer header and carried by every log line of this request.
    let requestID: String
    /// The shopper's address (behind a trusted proxy, the one its PROXY header named).
    let client: ClientAddress

    var logger: Logger { handler.logger }

    /// `response` is consumed: its header list (made with room for one more) takes the
    /// `X-Request-Id` in place instead of being copied.
    func send(_ response: consuming HTTPResponse) {
        let nanoseconds = MonotonicClock.now() &- started
        handler.metrics.recordRequest(route: route, status: response.status, nanoseconds: nanoseconds)
        response.headers.append((name: RequestID.header, value: requestID))
        if handler.logsRequests {
            logger.debug("request", metadata: [
                "request_id": "\(requestID)", "client": "\(client)", "route": "\(route.name)", "status": "\(response.status)",
                "duration_us": "\(nanoseconds / 1000)"])
        }
        responder.respond(response)
    }
}
