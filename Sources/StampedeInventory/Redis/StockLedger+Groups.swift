import StampedeRedis

/// What a batch's claims in exclusive groups came to: one result per purchase of the batch, and
/// the epoch of each group's claims.
struct ClaimRound: Sendable {
    enum Result: Sendable, Equatable {
        /// The purchase's sale belongs to no group.
        case none
        /// Its units are claimed under its order id: released if the sale takes nothing.
        case granted
        /// The buyer's units across the group would pass its limit.
        case refused
        /// The group's claims are missing or from another Redis run: rebuild the group first.
        case stale
    }

    var results: [Result]
    var epochs: [String: RedisEpoch] = [:]

    /// The purchase script's refusals for the purchases at `indexes` (one sale's call):
    /// `position:code,…`, '' when none is refused.
    func refusals(for indexes: [Int]) -> String {
        var text = ""
        for (position, index) in indexes.enumerated() {
            let code: InventoryScripts.PurchaseCode
            switch results[index] {
            case .none, .granted: continue
            case .refused: code = .groupLimitExceeded
            case .stale: code = .stale
            }
            if !text.isEmpty { text += "," }
            text += "\(position + 1):\(code.rawValue)"
        }
        return text
    }
}

/// The claims of exclusive groups (`GroupScripts`, `GroupKeys`).
extension StockLedger {
    /// Claims the units of every purchase of `requests` whose sale belongs to a group: one claim
    /// script per group, pipelined in one round trip. No round trip when none does.
    nonisolated(nonsending) func claim(_ requests: [PurchaseRequest], now: Timestamp,
                                       postgres: PostgresIncarnation?) async throws(InventoryError) -> ClaimRound {
        var round = ClaimRound(results: Array(repeating: .none, count: requests.count))
        var byGroup: [String: [Int]] = [:]
        var groupOrder: [String] = []
        for (index, request) in requests.enumerated() {
            guard let group = request.exclusiveGroup else { continue }
            if byGroup[group] == nil { groupOrder.append(group) }
            byGroup[group, default: []].append(index)
        }
        guard !groupOrder.isEmpty else { return round }
        let calls = groupOrder.map { group in
            let keys = GroupKeys(groupID: group)
            let indexes = byGroup[group]!
            return RedisRoutedCall(key: keys.group) { node in
                var args = [run(of: node, postgres), String(now.milliseconds)]
                args.reserveCapacity(2 + indexes.count * 4)
                for index in indexes {
                    args.append(requests[index].orderID)
                    args.append(requests[index].userID)
                    args.append(String(requests[index].quantity))
                    args.append(requests[index].saleID)
                }
                return .script(RedisScriptCall(GroupScripts.claim, keys: [keys.group, keys.claims, keys.entries, keys.unconfirmed],
                                               arguments: args))
            }
        }
        let replies = try await execute(calls)
        for (group, reply) in zip(groupOrder, replies) {
            let indexes = byGroup[group]!
            guard let items = try reply.value.orThrow().array, let generation = items.first?.int else {
                throw .unavailable("redis: unexpected claim reply")
            }
            if generation < 0 {
                for index in indexes { round.results[index] = .stale }
                continue
            }
            guard items.count == indexes.count + 1 else { throw .unavailable("redis: unexpected claim reply") }
            round.epochs[group] = RedisEpoch(runID: run(of: reply.node, postgres), generation: generation)
            for (position, index) in indexes.enumerated() {
                round.results[index] = items[position + 1].int == 1 ? .granted : .refused
            }
        }
        return round
    }

    /// After the sales decided: releases every granted claim whose purchase took nothing (in one
    /// round trip; a failure leaves them to the reconciler, which finds no order for them), and
    /// turns a group sale's idempotent retry of a reservation still in the outbox into
    /// `unavailable`: its claim may predate a rebuild of the group, so only the reconciler, which
    /// checks the claim, commits it.
    nonisolated(nonsending) func settleClaims(_ requests: [PurchaseRequest], _ decisions: inout [PurchaseDecision], _ round: ClaimRound) async {
        var releases: [String: [String]] = [:]
        for index in requests.indices {
            guard let group = requests[index].exclusiveGroup else { continue }
            if case .duplicate(_, let pending) = decisions[index], pending != nil {
                decisions[index] = .rejected(.unavailable("the original order is not committed yet; retry"))
            }
            guard round.results[index] == .granted else { continue }
            if case .reserved = decisions[index] { continue }
            releases[group, default: []].append(requests[index].orderID)
        }
        let calls = releases.compactMap { group, orderIDs in
            round.epochs[group].map { releaseCall(group: group, epoch: $0, orderIDs: orderIDs) }
        }
        guard !calls.isEmpty else { return }
        _ = try? await execute(calls)
    }

    private func releaseCall(group: String, epoch: RedisEpoch, orderIDs: [String]) -> RedisRoutedCall {
        let keys = GroupKeys(groupID: group)
        return RedisRoutedCall(key: keys.group, .script(RedisScriptCall(
            GroupScripts.release, keys: [keys.group, keys.claims, keys.entries, keys.unconfirmed],
            arguments: [epoch.runID, String(epoch.generation)] + orderIDs)))
    }

    /// Releases the claims of `orderIDs` in `group`, made or counted at `epoch`, each at most once.
    /// Returns how many were released now, or nil when the claims are not at that epoch (rebuilt
    /// since: retry at the current one).
    public func releaseClaims(group: String, epoch: RedisEpoch, orderIDs: [String]) async throws(InventoryError) -> Int? {
        guard !orderIDs.isEmpty else { return 0 }
        let released = try await execute([releaseCall(group: group, epoch: epoch, orderIDs: orderIDs)])[0].value.orThrow().int ?? -1
        return released < 0 ? nil : Int(released)
    }

    /// Writes a group's claims rebuilt from PostgreSQL at `snapshot.epoch`. True when written, false
    /// when the group already is at that epoch or a newer generation; throws `unavailable` when
    /// the node that owns the group is no longer the one the epoch names.
    public func restoreGroup(_ snapshot: GroupSnapshot) async throws(InventoryError) -> Bool {
        let keys = GroupKeys(groupID: snapshot.groupID)
        var args = [snapshot.epoch.runID, String(snapshot.epoch.generation), String(snapshot.perUserLimit)]
        args.reserveCapacity(3 + snapshot.claims.count * 5)
        for claim in snapshot.claims {
            args.append(claim.orderID)
            args.append(claim.userID)
            args.append(String(claim.quantity))
            args.append(claim.saleID)
            args.append(String(claim.createdAt.milliseconds))
        }
        let call = RedisScriptCall(GroupScripts.restore, keys: [keys.group, keys.claims, keys.entries, keys.unconfirmed],
                                   arguments: args)
        return try await restore(call, key: keys.group, run: snapshot.epoch.runID, of: "group \(snapshot.groupID)")
    }

    /// The run string of the Redis node that owns `group`'s keys now: what its rebuild's epoch names.
    public func nodeToken(forGroup group: String) async throws(InventoryError) -> String {
        try await nodeTokens(forKeys: [GroupKeys(groupID: group).group])[0]
    }

    /// A group's epoch, read atomically with the claims of `orderIDs` that exist and (with
    /// `unconfirmedBefore`, epoch milliseconds) up to `limit` unconfirmed claims made at or before
    /// it. Never reads every claim of the group.
    public func inspectGroup(_ group: String, claimsOf orderIDs: [String] = [], unconfirmedBefore cutoff: Int64? = nil,
                             limit: Int = 1000) async throws(InventoryError) -> GroupInspection {
        let keys = GroupKeys(groupID: group)
        let postgres = incarnation.current
        let reply = try await execute([RedisRoutedCall(key: keys.group, .script(RedisScriptCall(
            GroupScripts.inspect, keys: [keys.group, keys.entries, keys.unconfirmed],
            arguments: [cutoff.map(String.init) ?? "", String(limit)] + orderIDs)))])[0]
        guard let items = try reply.value.orThrow().array, items.count == 5 else {
            throw .unavailable("redis: unexpected group inspect reply")
        }
        func claims(_ value: RESPValue) -> [GroupClaim] {
            value.pairs.compactMap { name, record -> GroupClaim? in
                guard let orderID = name.string, let record = record.string else { return nil }
                return GroupClaim(orderID: orderID, record: record)
            }
        }
        let epoch = items[0].string.map { RedisEpoch(runID: $0, generation: items[1].int ?? 0) }
        return GroupInspection(groupID: group, epoch: epoch, serverRunID: run(of: reply.node, postgres),
                               perUserLimit: items[2].int ?? 0, claims: claims(items[3]), unconfirmed: claims(items[4]))
    }

    /// Takes committed orders' claims off the unconfirmed list (they stay claimed).
    public func confirmClaims(group: String, orderIDs: [String]) async throws(InventoryError) {
        guard !orderIDs.isEmpty else { return }
        let key = GroupKeys(groupID: group).unconfirmed
        _ = try await execute([RedisRoutedCall(key: key, .command(["ZREM", key] + orderIDs))])[0].value.orThrow()
    }

    /// The units `userID` has claimed in `group` (nil: none).
    public func claimedUnits(group: String, userID: String) async throws(InventoryError) -> Int64? {
        let key = GroupKeys(groupID: group).claims
        return try await execute([RedisRoutedCall(key: key, .command(["HGET", key, userID]))])[0].value.orThrow().string
            .flatMap { Int64($0) }
    }
}

/// A group's claims as the reconciler sees them in Redis.
public struct GroupInspection: Sendable {
    public var groupID: String
    /// The claims' epoch, nil when the group's keys are missing.
    public var epoch: RedisEpoch?
    /// The run string of the Redis node that answered: the claims are current only if the
    /// epoch's run is this one.
    public var serverRunID: String
    public var perUserLimit: Int64
    /// The claims asked for by order id that exist.
    public var claims: [GroupClaim]
    /// Unconfirmed claims older than the cutoff asked for (the reconciler's candidates).
    public var unconfirmed: [GroupClaim]

    /// Whether the claims may be used: present and rebuilt for this Redis run.
    public var isCurrent: Bool { epoch?.runID == serverRunID }
}

extension StockLedger {
    /// Deletes a group's keys (its claims) from Redis.
    public func deleteGroup(_ group: String) async throws(InventoryError) {
        let keys = GroupKeys(groupID: group)
        _ = try await execute([RedisRoutedCall(key: keys.group, .command(["DEL", keys.group, keys.claims, keys.entries, keys.unconfirmed]))])[0]
            .value.orThrow()
    }
}
