/// The waiting purchases of one shard and whether a drain is running: a plain value, so the
/// batching rules test without threads.
///
/// Invariant: `draining` is true exactly while some drainer will call `takeBatch` again, so a
/// pushed purchase is never left behind with nobody to process it.
struct ShardQueue {
    private var items: [PendingPurchase] = []
    private var head = 0
    private(set) var draining = false

    /// Purchases waiting (not yet taken into a batch).
    var count: Int { items.count - head }

    /// Appends a purchase; returns true when the caller must start a drainer.
    mutating func push(_ purchase: PendingPurchase) -> Bool {
        items.append(purchase)
        if draining { return false }
        draining = true
        return true
    }

    /// Takes up to `maxSize` purchases in arrival order. An empty result ends the drain.
    mutating func takeBatch(maxSize: Int) -> [PendingPurchase] {
        let size = min(max(1, maxSize), count)
        if size == 0 {
            draining = false
            items.removeAll(keepingCapacity: true)
            head = 0
            return []
        }
        let batch = Array(items[head..<(head + size)])
        head += size
        if head == items.count {
            items.removeAll(keepingCapacity: true)
            head = 0
        } else if head > 1024 && head * 2 > items.count {
            items.removeFirst(head)
            head = 0
        }
        return batch
    }
}
