/// Makes order ids that are unique across Stampede instances without coordination.
///
/// The id is 12 hex digits of the creation time in milliseconds followed by 16 random hex digits
/// (`018f3a2b4c5d-9f1e…`-like, 28 characters, no dash): time-ordered for index locality, and 64
/// random bits make a collision between instances practically impossible.
public enum OrderIDGenerator {
    private static let hex: [UInt8] = Array("0123456789abcdef".utf8)

    /// A new id for an order created at `time`.
    public static func next(at time: Timestamp = .now()) -> String {
        var generator = SystemRandomNumberGenerator()
        let random = generator.next() as UInt64
        let millis = UInt64(max(0, time.milliseconds)) & 0xFFFF_FFFF_FFFF
        return String(unsafeUninitializedCapacity: 28) { buffer in
            for i in 0..<12 { buffer[i] = hex[Int((millis >> UInt64((11 - i) * 4)) & 0xF)] }
            for i in 0..<16 { buffer[12 + i] = hex[Int((random >> UInt64((15 - i) * 4)) & 0xF)] }
            return 28
        }
    }
}
