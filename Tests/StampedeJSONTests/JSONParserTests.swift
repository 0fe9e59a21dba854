import Testing
@testable import StampedeJSON

@Suite("JSONParser")
struct JSONParserTests {
    static func parse(_ text: String) -> JSONValue? { try? JSONParser.parse(text) }

    /// The examples of RFC 8259 section 13 parse with their structure intact.
    @Test func parsesRFC8259Examples() throws {
        let image = """
        {
          "Image": {
            "Width":  800,
            "Height": 600,
            "Title":  "View from 15th Floor",
            "Thumbnail": {
              "Url":    "http://www.example.com/image/481989943",
              "Height": 125,
              "Width":  100
            },
            "Animated" : false,
            "IDs": [116, 943, 234, 38793]
          }
        }
        """
        let value = try JSONParser.parse(image)
        #expect(value["Image"]?["Width"]?.integerValue == 800)
        #expect(value["Image"]?["Title"]?.stringValue == "View from 15th Floor")
        #expect(value["Image"]?["Thumbnail"]?["Url"]?.stringValue == "http://www.example.com/image/481989943")
        #expect(value["Image"]?["Animated"]?.boolValue == false)
        #expect(value["Image"]?["IDs"] == .array([116, 943, 234, 38793].map { .number(Double($0), integer: Int64($0)) }))

        let places = """
        [
          {
             "precision": "zip",
             "Latitude":  37.7668,
             "Longitude": -122.3959,
             "Address":   "",
             "City":      "SAN FRANCISCO",
             "State":     "CA",
             "Zip":       "94107",
             "Country":   "US"
          },
          {
             "precision": "zip",
             "Latitude":  37.371991,
             "Longitude": -122.026020,
             "Address":   "",
             "City":      "SUNNYVALE",
             "State":     "CA",
             "Zip":       "94085",
             "Country":   "US"
          }
        ]
        """
        guard case .array(let list) = try JSONParser.parse(places) else {
            Issue.record("expected an array")
            return
        }
        #expect(list.count == 2)
        #expect(list[1]["Longitude"]?.doubleValue == -122.026020)
        #expect(list[1]["Longitude"]?.integerValue == nil)
        #expect(list[0]["Address"]?.stringValue == "")
        // Scalars at top level (RFC 8259 allows any value).
        #expect(Self.parse("\"Hello world!\"") == .string("Hello world!"))
        #expect(Self.parse("42") == .number(42, integer: 42))
        #expect(Self.parse("true") == .bool(true))
        #expect(Self.parse(" null ") == .null)
        #expect(Self.parse("{}") == .object([:]))
        #expect(Self.parse("[ ]") == .array([]))
    }

    /// Integer literals and whole numbers up to 2^53 carry an integer; fractions do not.
    @Test func numbersAndIntegerDetection() {
        #expect(Self.parse("0") == .number(0, integer: 0))
        #expect(Self.parse("-17") == .number(-17, integer: -17))
        #expect(Self.parse("1.0")?.integerValue == 1)
        #expect(Self.parse("1.5")?.integerValue == nil)
        #expect(Self.parse("1.5")?.doubleValue == 1.5)
        #expect(Self.parse("1e2")?.integerValue == 100)
        #expect(Self.parse("1E+2")?.integerValue == 100)
        #expect(Self.parse("2.5e-1")?.doubleValue == 0.25)
        #expect(Self.parse("1e-2")?.integerValue == nil)
        #expect(Self.parse("9223372036854775807")?.integerValue == Int64.max)
        #expect(Self.parse("-9223372036854775808")?.integerValue == Int64.min)
    }

    /// `-0` is zero, as an integer and as a double with its sign.
    @Test func negativeZero() throws {
        let value = try JSONParser.parse("-0")
        #expect(value.integerValue == 0)
        #expect(value.doubleValue == 0)
        #expect(value.doubleValue?.sign == .minus)
    }

    /// Numbers too big for 64 bits parse as doubles without an integer.
    @Test func hugeNumbers() {
        #expect(Self.parse("9223372036854775808")?.integerValue == nil)
        #expect(Self.parse("9223372036854775808")?.doubleValue == 9_223_372_036_854_775_808)
        #expect(Self.parse("123456789012345678901234567890")?.integerValue == nil)
        #expect(Self.parse("1e300")?.integerValue == nil)
        #expect(Self.parse("1e300")?.doubleValue == 1e300)
    }

    /// Every escape of RFC 8259 decodes, including `\u` and surrogate pairs.
    @Test func stringEscapes() {
        #expect(Self.parse(#""a\"b\\c\/d\be\ff\ng\rh\ti""#) == .string("a\"b\\c/d\u{08}e\u{0C}f\ng\rh\ti"))
        #expect(Self.parse(#""\u0041\u00e9\u20AC""#) == .string("Aé€"))
        #expect(Self.parse(#""\uD83D\uDE00""#) == .string("😀"))
        #expect(Self.parse(#""\ud834\udd1e""#) == .string("𝄞"))
        #expect(Self.parse(#""\u0000""#) == .string("\u{0}"))
        #expect(Self.parse("\"日本語 é\"") == .string("日本語 é"))
    }

    /// Malformed documents are refused.
    @Test(arguments: [
        "", " ", "[1,]", "{\"a\":1,}", "[,1]", "01", "-01", "00", "1.", ".5", "-", "+1", "1e", "1e+", "0x10",
        #""\uD83D""#, #""\uDE00""#, #""\uD83Dx""#, #""\uD83D\u0041""#, #""\u12""#, #""\uZZZZ""#, #""\x""#,
        "\"a\u{01}b\"", "\"tab\tin\"", "\"line\nbreak\"", "\"unterminated", "[1] 2", "{} x", "truex", "nul",
        "tru", "True", "NaN", "Infinity", "{\"a\" 1}", "{a:1}", "{\"a\":}", "[1 2]", "'a'", "[", "{",
        "\u{FEFF}{}",
    ])
    func rejectsMalformed(text: String) {
        #expect(throws: JSONParser.SyntaxError.self) { try JSONParser.parse(text) }
    }

    /// Invalid UTF-8 inside a string is refused.
    @Test func rejectsInvalidUTF8() {
        #expect(throws: JSONParser.SyntaxError.self) { try JSONParser.parse([0x22, 0xFF, 0x22]) }
        #expect(throws: JSONParser.SyntaxError.self) { try JSONParser.parse([0x22, 0xC3, 0x22]) }
    }

    /// Nesting up to 32 levels parses; 33 is refused.
    @Test func depthLimit() {
        let ok = String(repeating: "[", count: 32) + String(repeating: "]", count: 32)
        let tooDeep = String(repeating: "[", count: 33) + String(repeating: "]", count: 33)
        #expect(Self.parse(ok) != nil)
        #expect(throws: JSONParser.SyntaxError.self) { try JSONParser.parse(tooDeep) }
        let objects = String(repeating: "{\"a\":", count: 33) + "1" + String(repeating: "}", count: 33)
        #expect(throws: JSONParser.SyntaxError.self) { try JSONParser.parse(objects) }
        // Depth is released on the way out, so siblings do not add up.
        let siblings = "[" + Array(repeating: String(repeating: "[", count: 31) + String(repeating: "]", count: 31), count: 40).joined(separator: ",") + "]"
        #expect(Self.parse(siblings) != nil)
    }

    /// The error's offset points at the byte where parsing stopped.
    @Test func errorOffset() {
        #expect(throws: JSONParser.SyntaxError(offset: 4, reason: "unexpected character")) {
            try JSONParser.parse("[1, ]")
        }
        #expect(throws: JSONParser.SyntaxError(offset: 9, reason: "expected a member name")) {
            try JSONParser.parse("{\"a\": 1, }")
        }
        #expect(throws: JSONParser.SyntaxError(offset: 4, reason: "unexpected data after the value")) {
            try JSONParser.parse("[1] 2")
        }
    }

    /// A repeated member name keeps the last value.
    @Test func duplicateKeysKeepLast() {
        #expect(Self.parse(#"{"a":1,"a":2}"#)?["a"]?.integerValue == 2)
    }

    /// Numbers past Double's range are refused instead of reading as infinity, which the writer
    /// could only write back as `null` (a fuzzing find: `[1e400]`, `{"quantity":1e400}`).
    @Test(arguments: ["1e400", "-1e400", "[1e400]", #"{"quantity":1e400}"#, "1" + String(repeating: "0", count: 400)])
    func rejectsNumbersOutOfRange(_ text: String) throws {
        #expect(throws: JSONParser.SyntaxError.self) { try JSONParser.parse(text) }
    }

    /// What the parser reads, the response writer writes back to the same value, numbers at the
    /// edges of their range included (the fuzz target's round-trip property, as examples).
    @Test(arguments: ["1.7976931348623157e308", "-5e-324", "9223372036854775807", "-9223372036854775808",
                      "1e16", "0.1", "-0", #""\u0000\n\"\\""#])
    func writerOutputReparses(_ text: String) throws {
        let value = try JSONParser.parse(text)
        var writer = JSONWriter()
        switch value {
        case .number(let double, let integer):
            if let integer { writer.int(integer) } else { writer.double(double) }
        case .string(let string): writer.string(string)
        default: Issue.record("unexpected \(value)")
        }
        #expect(try JSONParser.parse(writer.bytes) == value)
    }
}
