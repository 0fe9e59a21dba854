@testable import StampedeInventory
import StampedePostgres
import Testing

/// The array literals of the group insert, written straight into the statement's parameter buffer.
struct PostgresArrayTests {
    /// Every element is quoted, NULL is bare, and quotes and backslashes are escaped.
    @Test func textArraysQuoteEveryElementAndEscapeQuotesAndBackslashes() {
        #expect(PostgresArray.text(["a", nil, #"q"b"#, #"back\slash"#, "", "é"]) == #"{"a",NULL,"q\"b","back\\slash","","é"}"#)
        #expect(PostgresArray.text([String]()) == "{}")
    }

    /// Integers are written in decimal, the extremes and negatives included, with no String each.
    @Test func integerArraysAreDecimal() {
        var parameters = PostgresParameters()
        PostgresArray.appendIntegers([0, 7, -42, Int64.max, Int64.min], to: &parameters) { $0 }
        PostgresArray.appendIntegers([Int64](), to: &parameters) { $0 }
        #expect(parameters.value(at: 0) == "{0,7,-42,9223372036854775807,-9223372036854775808}")
        #expect(parameters.value(at: 1) == "{}")
    }

    /// Each value of the buffer reads back on its own, whichever way it was built.
    @Test func valuesAreSeparateSlicesAndNullHasNone() {
        var parameters = PostgresParameters(["first", nil, ""])
        PostgresArray.appendText(["x", "y"], to: &parameters) { $0 + "!" }
        parameters.append("last")
        #expect(parameters.count == 5)
        #expect((0..<5).map { parameters.value(at: $0) } == ["first", nil, "", #"{"x!","y!"}"#, "last"])
    }
}
