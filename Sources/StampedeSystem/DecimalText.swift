/// Integers written as decimal text straight into a byte buffer, without a `String`: HTTP status
/// codes and lengths, RESP headers, PostgreSQL parameters.
public enum DecimalText {
    /// Appends `value` in decimal to `output`, with a `-` first when it is negative.
    ///
    /// The digits are formed in a scratch tuple on the stack and appended once: reversing them in
    /// place through `output[first...]` would make the slice copy the whole buffer each time.
    @inlinable
    public static func append(_ value: Int64, to output: inout [UInt8]) {
        if value < 0 { output.append(UInt8(ascii: "-")) }
        var magnitude = value.magnitude
        if magnitude < 10 {
            output.append(UInt8(ascii: "0") + UInt8(truncatingIfNeeded: magnitude))
            return
        }
        var scratch: (UInt64, UInt64, UInt64) = (0, 0, 0)  // 24 bytes: room for UInt64.max's 20 digits
        withUnsafeMutableBytes(of: &scratch) { digits in
            var cursor = digits.count
            repeat {
                cursor -= 1
                digits[cursor] = UInt8(ascii: "0") + UInt8(truncatingIfNeeded: magnitude % 10)
                magnitude /= 10
            } while magnitude > 0
            output.append(contentsOf: UnsafeRawBufferPointer(rebasing: digits[cursor...]))
        }
    }

    /// Appends `value` in decimal to `output`, with a `-` first when it is negative.
    @inlinable
    public static func append(_ value: Int, to output: inout [UInt8]) {
        append(Int64(value), to: &output)
    }
}
