/// What an operator defines with `PUT /admin/sales/{sale_id}`: a quantity of one SKU sold at one
/// price inside a time window, with a per-user limit.
public struct SaleDefinition: Sendable, Equatable {
    public var saleID: String
    public var sku: String
    public var priceCents: Int64
    /// Units offered when the sale was defined (restocks are counted apart, in `Sale.restocked`).
    public var stock: Int64
    public var perUserLimit: Int64
    public var startsAt: Timestamp
    public var endsAt: Timestamp
    /// How long a reservation may stay unpaid before it expires and its stock returns.
    public var reservationTTLSeconds: Int64
    /// Purchases must carry a valid purchase token signed by the storefront (opt-in per sale).
    public var purchaseTokenRequired: Bool
    /// The exclusive group the sale belongs to (`ExclusiveGroup`): a buyer's units across the
    /// group's sales are limited together. Nil: none.
    public var exclusiveGroup: String?
    /// How many buckets (Redis hash slots) the stock is spread over, 1…16 (`BucketLayout`).
    public var buckets: Int

    public init(saleID: String, sku: String, priceCents: Int64, stock: Int64, perUserLimit: Int64,
                startsAt: Timestamp, endsAt: Timestamp, reservationTTLSeconds: Int64,
                purchaseTokenRequired: Bool = false, exclusiveGroup: String? = nil, buckets: Int = 1) {
        self.saleID = saleID
        self.sku = sku
        self.priceCents = priceCents
        self.stock = stock
        self.perUserLimit = perUserLimit
        self.startsAt = startsAt
        self.endsAt = endsAt
        self.reservationTTLSeconds = reservationTTLSeconds
        self.purchaseTokenRequired = purchaseTokenRequired
        self.exclusiveGroup = exclusiveGroup
        self.buckets = buckets
    }

    /// The first rule this definition breaks, as `(field, reason)`, or nil when it is valid.
    public func violation() -> (field: String, reason: String)? {
        if !Identifier.isValid(saleID) { return ("sale_id", "must match [A-Za-z0-9._:-]{1,64}") }
        if !Identifier.isValid(sku) { return ("sku", "must match [A-Za-z0-9._:-]{1,64}") }
        if priceCents < 0 { return ("price_cents", "must be >= 0") }
        if stock < 0 { return ("stock", "must be >= 0") }
        if perUserLimit < 1 { return ("per_user_limit", "must be >= 1") }
        if endsAt <= startsAt { return ("ends_at", "must be after starts_at") }
        if reservationTTLSeconds < 1 || reservationTTLSeconds > 7 * 86_400 {
            return ("reservation_ttl_seconds", "must be between 1 and 604800")
        }
        if let exclusiveGroup, !Identifier.isValid(exclusiveGroup) {
            return ("exclusive_group", "must match [A-Za-z0-9._:-]{1,64}")
        }
        if buckets < 1 || buckets > BucketLayout.maxBuckets { return ("buckets", "must be between 1 and 16") }
        return nil
    }
}

/// Where a sale stands, as `GET /v1/sales/{sale_id}` reports it.
public enum SaleState: String, Sendable {
    case scheduled, live
    case soldOut = "sold_out"
    case ended
}

/// A sale with its stock figures, as read from Redis (the fast, authoritative counters).
public struct Sale: Sendable, Equatable {
    public var definition: SaleDefinition
    /// Units added by `POST /admin/sales/{id}/restock` since the sale was defined.
    public var restocked: Int64
    /// Units neither reserved nor paid; never negative. For a bucketed sale, summed over its
    /// buckets.
    public var available: Int64
    /// The child ids of buckets 1…K−1 (bucket 0 is the sale itself); empty for one bucket.
    public var bucketIDs: [String]

    public init(definition: SaleDefinition, restocked: Int64, available: Int64, bucketIDs: [String] = []) {
        self.definition = definition
        self.restocked = restocked
        self.available = max(0, available)
        self.bucketIDs = bucketIDs
    }

    /// The id whose counters decide a purchase by `userID`: the sale's own, or its bucket's.
    @inlinable
    public func counterID(forUser userID: some StringProtocol) -> String {
        guard !bucketIDs.isEmpty else { return definition.saleID }
        let bucket = BucketLayout.bucket(ofUser: userID, count: bucketIDs.count + 1)
        return bucket == 0 ? definition.saleID : bucketIDs[bucket - 1]
    }

    public var saleID: String { definition.saleID }

    /// The state at `now`: outside the window first, then sold out when nothing is available.
    public func state(at now: Timestamp) -> SaleState {
        if now < definition.startsAt { return .scheduled }
        if now >= definition.endsAt { return .ended }
        return available <= 0 ? .soldOut : .live
    }

    /// The next time after `now` at which `state(at:)` changes with the clock alone (the window
    /// opens or closes), or nil when it no longer can: a body rendered at `now` holds until then.
    public func nextStateChange(after now: Timestamp) -> Timestamp? {
        if now < definition.startsAt { return definition.startsAt }
        if now < definition.endsAt { return definition.endsAt }
        return nil
    }
}
