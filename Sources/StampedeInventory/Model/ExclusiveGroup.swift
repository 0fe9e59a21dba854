/// An exclusive group of sales ("one doorbuster per shopper"): the units a buyer holds (reserved or
/// paid) across all of the group's sales may not pass `perUserLimit`. Defined with
/// `PUT /admin/groups/{group_id}`; a sale joins it with `"exclusive_group"` in its definition.
public struct ExclusiveGroup: Sendable, Equatable {
    public var groupID: String
    public var perUserLimit: Int64
    /// The sales that belong to the group, by id.
    public var sales: [String]

    public init(groupID: String, perUserLimit: Int64, sales: [String] = []) {
        self.groupID = groupID
        self.perUserLimit = perUserLimit
        self.sales = sales
    }

    /// The first rule this group breaks, as `(field, reason)`, or nil when it is valid.
    public func violation() -> (field: String, reason: String)? {
        if !Identifier.isValid(groupID) { return ("group_id", "must match [A-Za-z0-9._:-]{1,64}") }
        if perUserLimit < 1 || perUserLimit > 1_000_000 { return ("per_user_limit", "must be between 1 and 1000000") }
        return nil
    }
}

/// A group's claims as PostgreSQL's committed orders give them, computed under the lock that moves
/// the group to a new epoch (`GroupRepository.rebuildSnapshot`): what Redis needs to claim again.
public struct GroupSnapshot: Sendable {
    public var groupID: String
    public var epoch: RedisEpoch
    public var perUserLimit: Int64
    /// Every held order (reserved or paid) of the group's sales: its claim.
    public var claims: [GroupClaim]
}

/// One claim of a group: `quantity` units of the group's limit held by `userID` for the order
/// `orderID` of the sale `saleID`, made at `createdAt`.
public struct GroupClaim: Sendable, Equatable {
    public var orderID: String
    public var userID: String
    public var quantity: Int64
    public var saleID: String
    public var createdAt: Timestamp

    public init(orderID: String, userID: String, quantity: Int64, saleID: String, createdAt: Timestamp) {
        self.orderID = orderID
        self.userID = userID
        self.quantity = quantity
        self.saleID = saleID
        self.createdAt = createdAt
    }

    /// Parses a claim record `user|qty|sale|created_ms` of `orderID`; nil when it is not one.
    init?(orderID: String, record: String) {
        let parts = record.split(separator: "|", omittingEmptySubsequences: false)
        guard parts.count == 4, let quantity = Int64(parts[1]), let created = Int64(parts[3]) else { return nil }
        self.init(orderID: orderID, userID: String(parts[0]), quantity: quantity, saleID: String(parts[2]),
                  createdAt: Timestamp(milliseconds: created))
    }
}

/// What a group's commit fence checks for one sale: the group it belongs to and the epoch of the
/// group's claims its purchases were decided under.
public struct GroupFence: Sendable, Hashable {
    public var groupID: String
    public var epoch: RedisEpoch

    public init(groupID: String, epoch: RedisEpoch) {
        self.groupID = groupID
        self.epoch = epoch
    }
}
