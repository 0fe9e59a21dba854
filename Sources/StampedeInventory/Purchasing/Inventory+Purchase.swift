/// What became of a purchase handed to `Inventory.purchase`: exactly one is given to its `answer`.
public enum PurchaseAnswer: Sendable {
    /// The purchase ran to an outcome (or was answered from memory).
    case outcome(PurchaseOutcome, of: PurchaseAttempt)
    /// Shed before any work (`503 overloaded`): nothing was done.
    case shed(Admission)
    /// The caller's own checks refused it — its form (`form` threw) or the sale (`PurchaseCaller.refusal`):
    /// the caller's error, unchanged. Nothing was done.
    case refused(any Error)
}

extension Inventory {
    /// The storefront's one purchase call: from the shed at the door to the committed order.
    ///
    /// In order: a full shard sheds the purchase before its form is even read (a shed costs next to
    /// nothing, so a flood of them leaves the CPU to admitted purchases) — unless the sale is known
    /// to be sold out, which memory answers as cheaply; `form()` then gives the validated purchase
    /// (a thrown error is answered `.refused`); the sale comes from the cache, or is read (rebuilt
    /// from PostgreSQL if Redis lost it); the caller may refuse it for that sale (a purchase token);
    /// the per-user limit is checked; memory answers a sold-out sale; and the shard decides and
    /// commits it. A sale whose counters are gone or stale is rebuilt from PostgreSQL and the
    /// purchase tried once more — the buyer waits for the rebuild; nothing was taken.
    ///
    /// `caller.answer` is called exactly once, maybe before this returns. `started` is the
    /// request's monotonic start, the cache's clock.
    public func purchase(saleID: String, started: UInt64, form: () throws -> PurchaseAttempt, caller: some PurchaseCaller) {
        if shedsAtTheDoor(saleID) { return caller.answer(.shed(.shedInFlight)) }
        let attempt: PurchaseAttempt
        do {
            attempt = try form()
        } catch {
            return caller.answer(.refused(error))
        }
        switch cache.lookup(saleID, now: started) {
        case .fresh(let sale):
            if let refusal = caller.refusal(of: attempt, for: sale) { return caller.answer(.refused(refusal)) }
            submit(attempt, sale: sale, retryStale: true, caller: caller)
        case .absent:
            caller.answer(.outcome(.unknownSale, of: attempt))
        case .needsLoad(let stale):
            // A sale that refuses this buyer refuses before any Redis call while the cache still
            // holds it; otherwise its definition is read first.
            if let stale, let refusal = caller.refusal(of: attempt, for: stale) { return caller.answer(.refused(refusal)) }
            Task {
                do {
                    guard let sale = try await self.loadSale(saleID) else { return caller.answer(.outcome(.unknownSale, of: attempt)) }
                    if let refusal = caller.refusal(of: attempt, for: sale) { return caller.answer(.refused(refusal)) }
                    self.submit(attempt, sale: sale, retryStale: true, caller: caller)
                } catch InventoryError.unknownSale {
                    caller.answer(.outcome(.unknownSale, of: attempt))
                } catch {
                    caller.answer(.outcome(.unavailable(PurchaseBatchProcessor.reason(error)), of: attempt))
                }
            }
        }
    }

    /// Whether a purchase of `saleID` is shed before any work: its shard is full and the sale is
    /// not known to be sold out (those are answered `409` from memory, final and as cheap). The
    /// sold-out board is only consulted for a full shard, so a normal purchase pays one lock here.
    func shedsAtTheDoor(_ saleID: String) -> Bool {
        let limit = directory.atLimit(saleID)
        guard limit.full, !soldOut.isSoldOut(saleID) else { return false }
        limit.shard?.countShed()
        return true
    }

    /// The answer to a purchase when memory alone can give it: `sold_out` (or `sale_ended`) for a
    /// sale known to be sold out, when the purchase has no `Idempotency-Key` (a retry with a key
    /// must reach Redis, which returns the first order if it was in fact taken). Nil otherwise.
    func answerFromMemory(saleID: String, idempotencyKey: String?) -> PurchaseOutcome? {
        guard idempotencyKey == nil else { return nil }
        return soldOut.answer(for: saleID)
    }

    /// Answers from memory when it can, else hands the purchase to its shard (stock-aware
    /// admission on the sale's cached remaining units). `retryStale`: rebuild and try once more
    /// when the shard finds the sale's counters gone or stale. A purchase of a bucketed sale goes
    /// to its buyer's bucket; when that one is sold out, the bucket is refilled from the others
    /// (`refill`) and the purchase tried again, up to `refillsLeft` times.
    private func submit(_ attempt: PurchaseAttempt, sale: Sale, retryStale: Bool, caller: some PurchaseCaller,
                        refillsLeft: Int = Inventory.refillsPerPurchase) {
        let limit = sale.definition.perUserLimit
        if attempt.quantity > limit { return caller.answer(.outcome(.invalidQuantity(limit: limit), of: attempt)) }
        if let outcome = answerFromMemory(saleID: attempt.saleID, idempotencyKey: attempt.idempotencyKey) {
            // The rush after the last unit: no order id, no shard, no Redis call.
            return caller.answer(.outcome(outcome, of: attempt))
        }
        let counterID = sale.counterID(forUser: attempt.userID)
        let request = PurchaseRequest(saleID: counterID, userID: attempt.userID, quantity: attempt.quantity,
                                      idempotencyKey: attempt.idempotencyKey, exclusiveGroup: sale.definition.exclusiveGroup,
                                      inBucket: !sale.bucketIDs.isEmpty)
        let admission = directory.admit(request, available: sale.available) { outcome in
            if outcome == .soldOut, !sale.bucketIDs.isEmpty {
                guard refillsLeft > 0 else {
                    return caller.answer(.outcome(.unavailable("stock is moving between the sale's buckets; retry"), of: attempt))
                }
                // The buyer's bucket is empty; the sale may not be: units move in from the others.
                Task {
                    switch await self.refill(sale, counterID: counterID, quantity: attempt.quantity) {
                    case .moved:
                        // The bucket count may have changed meanwhile (the buyer's bucket with it): the
                        // cached sale if it is fresh, and a stale or retired bucket is rebuilt or read
                        // again like any (each refill counts, so this ends).
                        var current = sale
                        if case .fresh(let cached) = self.cache.lookup(attempt.saleID) { current = cached }
                        self.submit(attempt, sale: current, retryStale: true, caller: caller, refillsLeft: refillsLeft - 1)
                    case .soldOut: caller.answer(.outcome(.soldOut, of: attempt))
                    case .unavailable(let why): caller.answer(.outcome(.unavailable(why), of: attempt))
                    }
                }
                return
            }
            guard outcome == .unknownSale || outcome == .stale else { return caller.answer(.outcome(outcome, of: attempt)) }
            // A bucketed sale's buckets may be being rebuilt or replaced by a change of the bucket
            // count, maybe more than once while this purchase waits: it is tried again while its
            // refills last, and then answered 503 — never 404, the sale exists.
            let bucketed = !sale.bucketIDs.isEmpty
            guard retryStale || (bucketed && refillsLeft > 0) else {
                if bucketed { return caller.answer(.outcome(.unavailable("the sale's buckets are being rebuilt; retry"), of: attempt)) }
                return caller.answer(.outcome(outcome, of: attempt))
            }
            // Redis lost the sale (or the buyer's bucket), or its counters (or its exclusive group's
            // claims) predate a Redis restart: rebuild them from PostgreSQL, then try once more.
            Task {
                do {
                    if let group = sale.definition.exclusiveGroup { _ = try await self.rebuildGroup(group) }
                    // A bucket a change of the bucket count retired is no more: the sale, read
                    // again, names the buyer's bucket in the new layout.
                    let rebuilt = try await self.rebuild(counterID)
                    if rebuilt || counterID != attempt.saleID, let sale = try await self.loadSale(attempt.saleID) {
                        self.submit(attempt, sale: sale, retryStale: false, caller: caller,
                                    refillsLeft: bucketed ? refillsLeft - 1 : refillsLeft)
                    } else {
                        caller.answer(.outcome(.unknownSale, of: attempt))
                    }
                } catch {
                    caller.answer(.outcome(.unavailable("the sale's stock counters are being rebuilt: \(error)"), of: attempt))
                }
            }
        }
        if admission != .queued { caller.answer(.shed(admission)) }
    }
}
