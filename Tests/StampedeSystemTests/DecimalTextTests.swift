import StampedeSystem
import Testing

/// `DecimalText` writes what `String(value)` writes, after whatever the buffer held.
struct DecimalTextTests {
    @Test(arguments: [Int64(0), 7, 9, 10, 99, 100, 65_536, 1_000_000_000_000_000_000, -1, -9, -10, -42, Int64.max, Int64.min])
    func matchesStringFormatting(value: Int64) {
        var output = Array("x".utf8)
        DecimalText.append(value, to: &output)
        #expect(String(decoding: output, as: UTF8.self) == "x" + String(value))
        var small: [UInt8] = []
        DecimalText.append(Int(value), to: &small)
        #expect(String(decoding: small, as: UTF8.self) == String(value))
    }
}
