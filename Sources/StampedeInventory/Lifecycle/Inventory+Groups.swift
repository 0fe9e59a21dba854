import StampedeRedis

/// Exclusive groups: their definition, and their claims in Redis rebuilt from PostgreSQL.
///
/// A purchase of a group's sale claims its units in the group first (the group's own slot, so
/// possibly another Redis primary than the sale's), then the sale decides it; a claim whose
/// purchase took nothing is released at once (`StockLedger.settleClaims`), and one a crash left
/// behind by the reconciler (`reconcileGroups`). A cancel or an expiry releases the order's claim
/// with its stock. The claims carry an epoch, and an order of a group's sale commits only under the
/// epoch PostgreSQL holds for the group, so a rebuild of the claims fences off every reservation
/// decided against the claims it replaced. See docs/consistency.md.
extension Inventory {
    /// Creates (`created` true) or changes a group's limit, and (re)builds its claims in Redis at
    /// a new epoch with that limit (reservations in flight under the old claims are fenced off and
    /// retried).
    public func defineGroup(_ group: ExclusiveGroup, change: AdminChange) async throws(InventoryError) -> (group: ExclusiveGroup, created: Bool) {
        if let violation = group.violation() { throw .invalidField(field: violation.field, reason: violation.reason) }
        let created = try await groups.save(group, change: change)
        _ = try await rebuildGroup(group.groupID, force: true)
        guard let saved = try await groups.group(group.groupID) else { throw .unknownGroup(group.groupID) }
        return (saved, created)
    }

    /// A group with its sales.
    public func group(_ groupID: String) async throws(InventoryError) -> ExclusiveGroup {
        guard let group = try await groups.group(groupID) else { throw .unknownGroup(groupID) }
        return group
    }

    /// Deletes a group no sale belongs to (`groupInUse` otherwise) and its claims in Redis;
    /// returns it as it was.
    public func deleteGroup(_ groupID: String, change: AdminChange) async throws(InventoryError) -> ExclusiveGroup {
        guard let group = try await groups.group(groupID) else { throw .unknownGroup(groupID) }
        if !group.sales.isEmpty { throw .groupInUse(groupID) }
        guard try await groups.delete(groupID, change: change) else { throw .unknownGroup(groupID) }
        try await ledger.deleteGroup(groupID)
        return group
    }

    /// Rebuilds a group's claims in Redis from PostgreSQL's held orders at a new epoch, unless Redis
    /// already holds current claims at the epoch PostgreSQL accepts (or `force`). Returns false when
    /// the group does not exist. Concurrent calls in this process share one rebuild.
    @discardableResult
    public func rebuildGroup(_ groupID: String, force: Bool = false) async throws(InventoryError) -> Bool {
        // `~` is not in an identifier: the key never meets a sale's.
        try await joiningRebuild(groupID + "~group") { try await self.performGroupRebuild(groupID, force: force) }
    }

    private func performGroupRebuild(_ groupID: String, force: Bool) async throws(InventoryError) -> Bool {
        var lastError = InventoryError.unavailable("rebuild of group \(groupID) did not finish")
        for _ in 0..<3 {
            let seen = try await ledger.inspectGroup(groupID)
            if !force, seen.isCurrent, try await groups.epochs([groupID])[groupID] == seen.epoch { return true }
            let runID = try await ledger.nodeToken(forGroup: groupID)
            guard let snapshot = try await groups.rebuildSnapshot(groupID, runID: runID,
                                                                  aboveGeneration: seen.epoch?.generation ?? 0) else { return false }
            do {
                if try await ledger.restoreGroup(snapshot) {
                    repairs.withLock { $0.groupsRebuilt += 1 }
                    logger.notice("rebuilt an exclusive group's claims from PostgreSQL", metadata: [
                        "group_id": "\(groupID)", "epoch": "\(snapshot.epoch)", "claims": "\(snapshot.claims.count)",
                        "per_user_limit": "\(snapshot.perUserLimit)",
                    ])
                }
                return true
            } catch {
                lastError = error  // the group's Redis node changed mid-rebuild: start over on the new one
            }
        }
        throw lastError
    }

    /// The reconciler's pass over exclusive groups: claims that cannot be trusted (missing, from
    /// another Redis run, at an epoch PostgreSQL does not accept) are rebuilt; unconfirmed claims
    /// older than the grace whose purchase took nothing — their order is in no sale's outbox and not
    /// in PostgreSQL — are released, and those whose order is committed are confirmed (each claim is
    /// looked at about once, never the whole group each pass). The outbox is read before PostgreSQL: an order leaves the outbox
    /// only once committed, so an order missing from both never was reserved, or was dropped.
    func reconcileGroups(grace: Double, into report: inout ReconcileReport) async throws(InventoryError) {
        let cutoff = Timestamp.now().milliseconds - Int64(grace * 1000)
        for groupID in try await groups.groupIDs() {
            let seen = try await ledger.inspectGroup(groupID)
            let accepted = try await groups.epochs([groupID])[groupID]
            guard seen.isCurrent, let epoch = seen.epoch, accepted == epoch else {
                if !report.dryRun { _ = try await rebuildGroup(groupID) }
                report.record(.groupRebuilt, 1, "group \(groupID): claims missing, from another Redis run or not at PostgreSQL's epoch → rebuilt")
                continue
            }
            // Only the claims not yet seen committed, older than the grace (a bounded number a pass).
            let old = try await ledger.inspectGroup(groupID, unconfirmedBefore: cutoff).unconfirmed
            guard !old.isEmpty else { continue }
            var reserved: Set<String> = []
            for saleID in Set(old.map(\.saleID)) {
                reserved.formUnion(try await ledger.pending(saleID: saleID).map(\.orderID))
            }
            let candidates = old.filter { !reserved.contains($0.orderID) }
            let committed = try await orders.committed(candidates.map(\.orderID))
            let leaked = candidates.filter { !committed.contains($0.orderID) }.map(\.orderID)
            // A committed order's claim stays; it leaves the list the next passes read.
            if !report.dryRun { try await ledger.confirmClaims(group: groupID, orderIDs: Array(committed)) }
            guard !leaked.isEmpty else { continue }
            if !report.dryRun {
                guard let released = try await ledger.releaseClaims(group: groupID, epoch: epoch, orderIDs: leaked) else { continue }
                repairs.withLock { $0.claimsReleased += released }
            }
            report.record(.claimReleased, leaked.count, "group \(groupID): \(leaked.count) claims whose purchase took nothing → released")
        }
    }
}
