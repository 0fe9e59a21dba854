/// Items waiting for a stage of a shard's pipeline (purchases for the Redis decision, reserved
/// orders for the group commit) and whether a drainer is running: a plain value, so the batching
/// rules test without threads.
///
/// Invariant: `draining` is true exactly while some drainer will call `takeBatch` again, so a
/// pushed item is never left behind with nobody to process it. There is no linger delay: a
/// drainer takes whatever is waiting the moment it is free, so a batch is as large as the traffic
/// that arrived during the previous one — 1 at low load, up to `maxSize` under a rush.
struct BatchQueue<Element> {
    private var items: [Element] = []
    private var head = 0
    private(set) var draining = false

    /// Items waiting (not yet taken into a batch).
    var count: Int { items.count - head }

    /// Appends an item; returns true when the caller must start a drainer.
    mutating func push(_ item: Element) -> Bool {
        items.append(item)
        return claimDrain()
    }

    /// Appends items in order; returns true when the caller must start a drainer.
    mutating func push(contentsOf newItems: [Element]) -> Bool {
        items.append(contentsOf: newItems)
        return claimDrain()
    }

    private mutating func claimDrain() -> Bool {
        if draining { return false }
        draining = true
        return true
    }

    /// Takes up to `maxSize` items in arrival order. An empty result ends the drain.
    mutating func takeBatch(maxSize: Int) -> [Element] {
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

/// The queue of purchases waiting for a shard's next Redis decision.
typealias ShardQueue = BatchQueue<PendingPurchase>
