/// Integers written as decimal text straight into a byte buffer, without a `String`: HTTP status
/// codes and lengths, RESP headers, PostgreSQL parameters.
public enum DecimalText {
    /// Appends `value` in decimal to `output`, with a `-` first when it is negative.
    @inlinable
    public static func append(_ value: Int64, to output: inout [UInt8]) {
        if value < 0 { output.append(UInt8(ascii: "-")) }
        var magnitude = value.magnitude
        let first = output.count
        repeat {
            output.append(UInt8(ascii: "0") + UInt8(magnitude % 10))
            magnitude /= 10
        } while magnitude > 0
        output[first...].reverse()
    }

    /// Appends `value` in decimal to `output`, with a `-` first when it is negative.
    @inlinable
    public static func append(_ value: Int, to output: inout [UInt8]) {
        append(Int64(value), to: &output)
    }
}
