import StampedeSystem
import StampedeTestSupport
import Testing
@testable import StampedeJSON

@Suite("JSONWriter")
struct JSONWriterTests {
    static func text(_ build: (inout JSONWriter) -> Void) -> String {
        var writer = JSONWriter()
        build(&writer)
        return String(decoding: writer.bytes, as: UTF8.self)
    }

    /// Objects and arrays get commas between members only, with keys in the order written.
    @Test func writesObjectsInOrder() {
        let text = Self.text { w in
            w.beginObject()
            w.field("b", "x")
            w.field("a", Int64(1))
            w.field("ok", true)
            w.key("list")
            w.beginArray(); w.int(1); w.int(2); w.beginObject(); w.endObject(); w.null(); w.endArray()
            w.field("half", 0.5)
            w.endObject()
        }
        #expect(text == #"{"b":"x","a":1,"ok":true,"list":[1,2,{},null],"half":0.5}"#)
    }

    /// Quotes, backslashes and control characters are escaped; other text is written as UTF-8.
    @Test func escapesStrings() {
        #expect(Self.text { $0.string("a\"b\\c") } == #""a\"b\\c""#)
        #expect(Self.text { $0.string("l1\nl2\r\t") } == #""l1\nl2\r\t""#)
        #expect(Self.text { $0.string("\u{0}\u{1}\u{1F}\u{08}\u{0C}") } == #""\u0000\u0001\u001f\u0008\u000c""#)
        #expect(Self.text { $0.string("é😀/") } == "\"é😀/\"")
        #expect(Self.text { $0.key("k\"ey"); $0.int(1) } == #""k\"ey":1"#)
    }

    /// Static keys and strings given as UTF-8 bytes write like their String forms, escaping included.
    @Test func staticKeysAndUTF8StringsMatchTheirStringForms() {
        let values = ["plain", "a\"b\\c", "l1\nl2", "\u{1}", "é😀", ""]
        for value in values {
            let viaString = Self.text { w in w.beginObject(); w.field("k", value); w.field("n", Int64(2)); w.endObject() }
            let viaBytes = Self.text { w in
                w.beginObject()
                w.key(static: "k")
                var copy = value
                copy.withUTF8 { w.string(utf8: $0) }
                w.key(static: "n"); w.int(2)
                w.endObject()
            }
            #expect(viaBytes == viaString)
        }
    }

    /// Non-finite doubles become `null`, since JSON has no NaN or infinity.
    @Test func nonFiniteDoublesAreNull() {
        #expect(Self.text { w in w.beginArray(); w.double(.nan); w.double(.infinity); w.double(-.infinity); w.endArray() } == "[null,null,null]")
    }

    /// Integer extremes are written exactly.
    @Test func writesIntegerExtremes() {
        #expect(Self.text { w in w.beginArray(); w.int(Int64.min); w.int(Int64.max); w.int(0); w.endArray() }
            == "[-9223372036854775808,9223372036854775807,0]")
    }

    /// A few hundred generated documents written and parsed back come out identical.
    @Test func roundTripsGeneratedValues() throws {
        var random = SplitMix64(seed: 2026)
        for i in 0..<400 {
            let value = Self.generate(depth: 0, using: &random)
            var writer = JSONWriter()
            writer.writeValue(value)
            let parsed = try JSONParser.parse(writer.bytes)
            #expect(parsed == value, "document \(i): \(String(decoding: writer.bytes, as: UTF8.self))")
        }
    }

    // MARK: generation

    static func generate(depth: Int, using random: inout SplitMix64) -> JSONValue {
        let kind = Int.random(in: 0..<(depth >= 4 ? 5 : 7), using: &random)
        switch kind {
        case 0: return .string(randomString(using: &random))
        case 1:
            let integer = Int64.random(in: Int64.min...Int64.max, using: &random) >> Int64.random(in: 0..<63, using: &random)
            return .number(Double(integer), integer: integer)
        case 2:
            let double = Double.random(in: -1e6...1e6, using: &random) * pow10(Int.random(in: -20...20, using: &random))
            let whole = double.rounded() == double && abs(double) < 9_007_199_254_740_992
            return .number(double, integer: whole ? Int64(double) : nil)
        case 3: return .bool(Bool.random(using: &random))
        case 4: return .null
        case 5:
            return .array((0..<Int.random(in: 0..<5, using: &random)).map { _ in generate(depth: depth + 1, using: &random) })
        default:
            var members: [String: JSONValue] = [:]
            for _ in 0..<Int.random(in: 0..<5, using: &random) {
                members[randomString(using: &random)] = generate(depth: depth + 1, using: &random)
            }
            return .object(members)
        }
    }

    static func pow10(_ exponent: Int) -> Double {
        var result = 1.0
        for _ in 0..<abs(exponent) { result *= 10 }
        return exponent < 0 ? 1 / result : result
    }

    static let alphabet: [Unicode.Scalar] = [
        "a", "Z", "0", " ", "\"", "\\", "/", "\u{0}", "\u{1}", "\u{8}", "\u{9}", "\u{A}", "\u{C}", "\u{D}", "\u{1F}",
        "\u{7F}", "é", "€", "日", "😀", "𝄞", "\u{FFFD}", "\u{2028}",
    ]

    static func randomString(using random: inout SplitMix64) -> String {
        var text = String.UnicodeScalarView()
        for _ in 0..<Int.random(in: 0..<12, using: &random) {
            text.append(alphabet.randomElement(using: &random)!)
        }
        return String(text)
    }
}
