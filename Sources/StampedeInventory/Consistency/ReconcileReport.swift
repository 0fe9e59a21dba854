/// What one reconciler pass found and (unless it was a dry run) repaired.
public struct ReconcileReport: Sendable, Equatable {
    /// A kind of repair; the raw value is the `kind` label of the repairs counter in `/metrics` (`MetricFamily.reconcilerRepairs`).
    public enum Kind: String, Sendable, CaseIterable {
        /// A sale's Redis counters were missing, from another Redis run, or behind PostgreSQL, and
        /// were rebuilt from the committed orders.
        case saleRebuilt = "sale_rebuilt"
        /// A reservation stranded in the outbox (taken in Redis, never committed) was committed.
        case outboxCommitted = "outbox_committed"
        /// An outbox entry whose order was already committed was cleared.
        case outboxAcknowledged = "outbox_acknowledged"
        /// A cancelled or expired order's stock return, which had not completed, was done.
        case stockReturned = "stock_returned"
        /// A reservation past its `expires_at` was expired and its stock returned.
        case expired = "expired"
        /// An exclusive group's claims were missing, from another Redis run, or at an epoch
        /// PostgreSQL does not accept, and were rebuilt from the held orders.
        case groupRebuilt = "group_rebuilt"
        /// A claim in an exclusive group whose purchase took nothing (a crash between the claim
        /// and the sale's decision) was released.
        case claimReleased = "claim_released"
        /// A sale's stock movements did not sum to `stock_total + restocked − held` (an order or a
        /// sale changed behind Stampede's back): a `repaired` movement closed the difference.
        case ledgerRepaired = "ledger_repaired"
        /// A stock move between a bucketed sale's buckets, left half-done (a crash, a Redis or
        /// PostgreSQL error between its steps), was finished or abandoned.
        case moveFinished = "move_finished"
    }

    /// Whether this pass only looked (`stampede reconcile --dry-run`).
    public var dryRun: Bool
    /// How many of each kind were repaired (or, in a dry run, would be).
    public var counts: [Kind: Int] = [:]
    /// One line per finding, for people: what was wrong and what was (or would be) done.
    public var findings: [String] = []
    /// Sales whose counters do not add up (`available + held + uncommitted ≠ stock + restocked`)
    /// while their epoch is current: worth a look once traffic is quiet (in-flight batches make
    /// a small, passing difference normal under load).
    public var drifts: [String] = []
    /// Steps that could not run (a dependency down); the next pass retries.
    public var errors: [String] = []

    public init(dryRun: Bool) {
        self.dryRun = dryRun
    }

    /// Adds `count` repairs of `kind` with a line describing them.
    mutating func record(_ kind: Kind, _ count: Int, _ finding: String) {
        guard count > 0 else { return }
        counts[kind, default: 0] += count
        findings.append((dryRun ? "would repair: " : "repaired: ") + finding)
    }

    /// Total repairs of every kind.
    public var total: Int { counts.values.reduce(0, +) }

    /// Whether the counters of a sale add up: `available + held + uncommitted == stock + restocked`.
    public static func isConserved(available: Int64, held: Int64, uncommitted: Int64, stock: Int64, restocked: Int64) -> Bool {
        available + held + uncommitted == stock + restocked
    }
}
