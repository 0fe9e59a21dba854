/// `rush`: every user of the run tries to buy one unit of the same sale the moment it opens.
///
/// Users are dealt round-robin to the loops (loop k takes users k, k + loops, …); each sends one
/// purchase with its own `Idempotency-Key` and, when shed, retries with the same key after
/// `Retry-After`. Runs closed-loop over the open connections, so at t0 every connection fires.
public final class RushWorkload: Workload {
    public let saleID: String
    private let runID: String
    private let users: Int
    private let loopCount: Int
    private var nextUser: Int
    private var answers: PurchaseAnswers
    private let opensAt: UInt64
    /// Time from the opening to each user's final answer (retries included).
    public private(set) var userWait = MicrosecondHistogram()
    /// Monotonic time of the last `201`.
    public private(set) var lastSale: UInt64 = 0

    public init(saleID: String, runID: String, users: Int, loop: Int, loopCount: Int, maxAttempts: Int, opensAt: UInt64) {
        self.saleID = saleID
        self.runID = runID
        self.users = users
        self.loopCount = loopCount
        nextUser = loop
        answers = PurchaseAnswers(maxAttempts: maxAttempts)
        self.opensAt = opensAt
    }

    public static func userID(runID: String, _ index: Int) -> String { "u-\(runID)-\(index)" }

    public var isExhausted: Bool { nextUser >= users }
    public var ledger: RunLedger { answers.ledger }

    public func nextRequest(now: UInt64) -> LoadRequest? {
        guard nextUser < users else { return nil }
        let user = nextUser
        nextUser += loopCount
        let body = Array("{\"user_id\":\"\(Self.userID(runID: runID, user))\",\"quantity\":1}".utf8)
        return LoadRequest(route: .buy, method: "POST", path: "/v1/sales/\(saleID)/orders", body: body,
                           idempotencyKey: "k-\(runID)-\(user)", tag: user)
    }

    public func complete(_ request: LoadRequest, response: ClientResponse?, failure: String?, now: UInt64) -> FollowUp {
        let (followUp, _) = answers.handle(request, saleID: saleID, userID: Self.userID(runID: runID, request.tag),
                                           quantity: 1, response: response, now: now)
        if case .none = followUp {
            userWait.record(nanoseconds: now &- opensAt)
            if response?.status == 201 { lastSale = max(lastSale, now) }
        }
        return followUp
    }
}
