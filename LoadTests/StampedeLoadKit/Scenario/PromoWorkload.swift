/// `promo`: a storefront during a promotion over several sales with Zipf popularity — views,
/// purchases, payments, cancellations and "my orders" in the proportions of an `OperationMix`.
///
/// Pay and cancel act on orders this loop bought and still holds reserved; with none held they
/// become a view. Buyers are drawn uniformly from the run's users, the sale by popularity.
public final class PromoWorkload: Workload {
    private enum Context {
        case buy(sale: String, user: String)
        case order(String)
    }

    private let runID: String
    private let loop: Int
    private let sales: [String]
    private let popularity: WeightedChoice
    private let mix: OperationMix
    private let users: Int
    private var random: RandomSource
    private var answers: PurchaseAnswers
    private var held: [String] = []
    private var contexts: [Int: Context] = [:]
    private var sequence = 0

    public init(runID: String, loop: Int, sales: [String], zipfExponent: Double, mix: OperationMix, users: Int, seed: UInt64, maxAttempts: Int) {
        self.runID = runID
        self.loop = loop
        self.sales = sales
        popularity = WeightedChoice.zipf(count: sales.count, exponent: zipfExponent)!
        self.mix = mix
        self.users = users
        random = RandomSource(seed: seed &+ UInt64(loop) &* 0x9E37_79B9)
        answers = PurchaseAnswers(maxAttempts: maxAttempts)
    }

    public static func userID(runID: String, _ index: Int) -> String { "pu-\(runID)-\(index)" }

    public var isExhausted: Bool { false }
    public var ledger: RunLedger { answers.ledger }

    public func nextRequest(now: UInt64) -> LoadRequest? {
        sequence += 1
        switch mix.pick(&random) {
        case .view:
            return view()
        case .buy:
            let sale = sales[popularity.pick(&random)]
            let user = Self.userID(runID: runID, Int(random.next() % UInt64(users)))
            contexts[sequence] = .buy(sale: sale, user: user)
            let body = Array("{\"user_id\":\"\(user)\",\"quantity\":1}".utf8)
            return LoadRequest(route: .buy, method: "POST", path: "/v1/sales/\(sale)/orders", body: body,
                               idempotencyKey: "pk-\(runID)-\(loop)-\(sequence)", tag: sequence)
        case .pay:
            return act(.pay, "pay")
        case .cancel:
            return act(.cancel, "cancel")
        case .orders:
            let user = Self.userID(runID: runID, Int(random.next() % UInt64(users)))
            return LoadRequest(route: .userOrders, method: "GET", path: "/v1/users/\(user)/orders", tag: sequence)
        }
    }

    private func view() -> LoadRequest {
        LoadRequest(route: .viewSale, method: "GET", path: "/v1/sales/\(sales[popularity.pick(&random)])", tag: sequence)
    }

    private func act(_ route: LoadRoute, _ verb: String) -> LoadRequest {
        guard !held.isEmpty else { return view() }
        let position = Int(random.next() % UInt64(held.count))
        held.swapAt(position, held.count - 1)
        let orderID = held.removeLast()
        contexts[sequence] = .order(orderID)
        return LoadRequest(route: route, method: "POST", path: "/v1/orders/\(orderID)/\(verb)", tag: sequence)
    }

    public func complete(_ request: LoadRequest, response: ClientResponse?, failure: String?, now: UInt64) -> FollowUp {
        switch contexts[request.tag] {
        case .buy(let sale, let user):
            let (followUp, orderID) = answers.handle(request, saleID: sale, userID: user, quantity: 1, response: response, now: now)
            if case .none = followUp {
                contexts[request.tag] = nil
                if response?.status == 201, let orderID { held.append(orderID) }
            }
            return followUp
        case .order(let orderID):
            contexts[request.tag] = nil
            if response?.status == 200 {
                if request.route == .pay { answers.ledger.paid.insert(orderID) } else { answers.ledger.cancelled.insert(orderID) }
            }
            return .none
        case nil:
            return .none
        }
    }
}
