/// One change of a sale's available stock, as the ledger (`stock_movements`) keeps it.
///
/// `quantity` is signed into available stock, so once work settles (stock returns done, outbox
/// drained, rebuilds done) a sale's movements sum to its `stock_available`.
public struct StockMovement: Sendable, Equatable {
    /// What moved the stock.
    public enum Kind: String, Sendable, CaseIterable {
        /// The sale was created (+stock) or replaced (new stock − old stock − restocked).
        case defined
        /// An admin restock (+quantity).
        case restocked
        /// Orders committed (−units), one row per sale per inserting statement.
        case sold
        /// A reserved or paid order cancelled or expired (+units), one row per order.
        case returned
        /// The reconciler's correction of a difference between the ledger and the sale's figures.
        case repaired
        /// Units moved between a bucketed sale's buckets (−units at the source, +units at the
        /// target; see `StockMove`).
        case moved
    }

    /// The row's id: newer rows have larger ids; the cursor of `GET …/movements?before=`.
    public var id: Int64
    public var at: Timestamp
    public var kind: Kind
    public var quantity: Int64
    /// Who or what moved it: an admin request id, an order id (`<first order id> +<others>` for a
    /// group), or a reconciler pass.
    public var reference: String

    public init(id: Int64, at: Timestamp, kind: Kind, quantity: Int64, reference: String) {
        self.id = id
        self.at = at
        self.kind = kind
        self.quantity = quantity
        self.reference = reference
    }
}

/// A page of a sale's movements, newest first.
public struct StockMovementPage: Sendable, Equatable {
    public var movements: [StockMovement]
    /// The cursor of the next (older) page; nil on the last page.
    public var nextBefore: Int64?

    public init(movements: [StockMovement], nextBefore: Int64?) {
        self.movements = movements
        self.nextBefore = nextBefore
    }
}

/// A sale whose ledger did not sum to its figures (`stock_total + restocked − held`), and the
/// `repaired` quantity that closes the gap.
public struct LedgerDifference: Sendable, Equatable {
    public var saleID: String
    public var quantity: Int64

    public init(saleID: String, quantity: Int64) {
        self.saleID = saleID
        self.quantity = quantity
    }
}
