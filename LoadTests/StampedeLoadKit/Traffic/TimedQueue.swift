/// A min-heap of items by due time (monotonic ns): retries waiting out their `Retry-After`.
public struct TimedQueue<Item> {
    private var heap: [(due: UInt64, sequence: UInt64, item: Item)] = []
    private var sequence: UInt64 = 0

    public init() {}

    public var count: Int { heap.count }
    public var isEmpty: Bool { heap.isEmpty }
    /// The earliest due time.
    public var nextDue: UInt64? { heap.first?.due }

    public mutating func push(_ item: Item, due: UInt64) {
        sequence &+= 1
        heap.append((due, sequence, item))
        var child = heap.count - 1
        while child > 0 {
            let parent = (child - 1) / 2
            guard Self.less(heap[child], heap[parent]) else { break }
            heap.swapAt(child, parent)
            child = parent
        }
    }

    /// Removes and returns the earliest item if it is due at `now`.
    public mutating func popDue(now: UInt64) -> (due: UInt64, item: Item)? {
        guard let first = heap.first, first.due <= now else { return nil }
        let last = heap.removeLast()
        if !heap.isEmpty {
            heap[0] = last
            var parent = 0
            while true {
                let left = 2 * parent + 1, right = left + 1
                var smallest = parent
                if left < heap.count, Self.less(heap[left], heap[smallest]) { smallest = left }
                if right < heap.count, Self.less(heap[right], heap[smallest]) { smallest = right }
                if smallest == parent { break }
                heap.swapAt(parent, smallest)
                parent = smallest
            }
        }
        return (first.due, first.item)
    }

    private static func less(_ a: (due: UInt64, sequence: UInt64, item: Item), _ b: (due: UInt64, sequence: UInt64, item: Item)) -> Bool {
        a.due != b.due ? a.due < b.due : a.sequence < b.sequence
    }
}

/// A FIFO ring buffer: requests due but waiting for a free connection.
public struct RingQueue<Item> {
    private var storage: [Item?] = Array(repeating: nil, count: 16)
    private var head = 0
    public private(set) var count = 0

    public init() {}

    public var isEmpty: Bool { count == 0 }

    public mutating func append(_ item: Item) {
        if count == storage.count {
            var grown = [Item?](repeating: nil, count: storage.count * 2)
            for i in 0..<count { grown[i] = storage[(head + i) % storage.count] }
            storage = grown
            head = 0
        }
        storage[(head + count) % storage.count] = item
        count += 1
    }

    public mutating func popFirst() -> Item? {
        guard count > 0 else { return nil }
        let item = storage[head]
        storage[head] = nil
        head = (head + 1) % storage.count
        count -= 1
        return item
    }
}
