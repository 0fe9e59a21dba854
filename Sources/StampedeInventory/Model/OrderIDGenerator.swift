import StampedeSystem
import Synchronization

/// Makes order ids that are unique across Stampede instances without coordination.
///
/// The id is 12 hex digits of the creation time in milliseconds followed by 16 random hex digits
/// (`018f3a2b4c5d-9f1e…`-like, 28 characters, no dash): time-ordered for index locality, and 64
/// random bits make a collision between instances practically impossible.
public enum OrderIDGenerator {
    private static let hex: [UInt8] = Array("0123456789abcdef".utf8)
    /// Random bits from the kernel, fetched 4 KiB at a time: one `getrandom` per 512 ids instead of
    /// one per id (every purchase request gets an id). Still the kernel's random bits, so ids stay
    /// unguessable — an order id is all it takes to read, pay or cancel an order.
    private static let pool = Mutex(RandomPool())

    /// A new id for an order created at `time`.
    public static func next(at time: Timestamp = .now()) -> String {
        let random = pool.withLock { $0.next() }
        let millis = UInt64(max(0, time.milliseconds)) & 0xFFFF_FFFF_FFFF
        return String(unsafeUninitializedCapacity: 28) { buffer in
            for i in 0..<12 { buffer[i] = hex[Int((millis >> UInt64((11 - i) * 4)) & 0xF)] }
            for i in 0..<16 { buffer[12 + i] = hex[Int((random >> UInt64((15 - i) * 4)) & 0xF)] }
            return 28
        }
    }
}

/// A buffer of kernel random bits.
struct RandomPool {
    private var words = [UInt64](repeating: 0, count: 512)
    private var used = 512

    mutating func next() -> UInt64 {
        if used == words.count { refill() }
        defer { used += 1 }
        return words[used]
    }

    private mutating func refill() {
        let filled = words.withUnsafeMutableBytes { buffer in
            Result { () throws(SystemCallError) in try System.randomBytes(buffer) }
        }
        if case .failure = filled {
            // The standard library's generator asks the same kernel source.
            var generator = SystemRandomNumberGenerator()
            for index in words.indices { words[index] = generator.next() }
        }
        used = 0
    }
}
