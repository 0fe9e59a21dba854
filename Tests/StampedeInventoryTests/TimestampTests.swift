import StampedeSystem
import Testing
@testable import StampedeInventory

@Suite("Timestamp")
struct TimestampTests {
    // Expected values computed with Python's datetime (UTC).
    static let known: [(String, Int64)] = [
        ("2026-11-21T12:00:00Z", 1_795_262_400_000),
        ("2024-02-29T23:59:59Z", 1_709_251_199_000),
        ("1969-12-31T23:59:59Z", -1000),
        ("1900-01-01T00:00:00Z", -2_208_988_800_000),
        ("2000-01-01T00:00:00Z", 946_684_800_000),
        ("2023-12-31T23:59:59Z", 1_704_067_199_000),
        ("2024-12-31T23:59:59Z", 1_735_689_599_000),
        ("0001-01-01T00:00:00Z", -62_135_596_800_000),
        ("9999-12-31T23:59:59Z", 253_402_300_799_000),
        ("2100-03-01T00:00:00Z", 4_107_542_400_000),
        ("1970-01-01T00:00:00Z", 0),
    ]

    /// Whole seconds are formatted without a fraction, for known dates on both sides of the epoch.
    @Test func formatsWholeSecondsWithoutFraction() {
        for (text, millis) in Self.known {
            #expect(Timestamp(milliseconds: millis).rfc3339 == text)
        }
    }

    /// `appendRFC3339` appends the bytes of `rfc3339`, written in place or (years past 9999) not,
    /// after what the buffer held before.
    @Test func rfc3339BytesMatchTheString() {
        let times = Self.known.map(\.1) + [1_795_262_400_123, 1, -1, -86_400_001, 253_402_300_800_000, -62_135_596_800_001]
        for millis in times {
            let time = Timestamp(milliseconds: millis)
            var out = Array("x=".utf8)
            time.appendRFC3339(to: &out)
            #expect(String(decoding: out, as: UTF8.self) == "x=" + time.rfc3339)
        }
    }

    /// Milliseconds are formatted as a three-digit `.mmm` fraction with leading zeros kept.
    @Test func formatsMilliseconds() {
        #expect(Timestamp(milliseconds: 1_795_262_400_123).rfc3339 == "2026-11-21T12:00:00.123Z")
        #expect(Timestamp(milliseconds: 1_795_262_400_007).rfc3339 == "2026-11-21T12:00:00.007Z")
        #expect(Timestamp(milliseconds: 1_795_262_400_050).rfc3339 == "2026-11-21T12:00:00.050Z")
        #expect(Timestamp(milliseconds: 1).rfc3339 == "1970-01-01T00:00:00.001Z")
    }

    /// Times before 1970 with a fraction floor to the previous second instead of going negative.
    @Test func formatsPre1970Fractions() {
        #expect(Timestamp(milliseconds: -1).rfc3339 == "1969-12-31T23:59:59.999Z")
        #expect(Timestamp(milliseconds: -999).rfc3339 == "1969-12-31T23:59:59.001Z")
        #expect(Timestamp(milliseconds: -1001).rfc3339 == "1969-12-31T23:59:58.999Z")
        #expect(Timestamp(milliseconds: -86_400_000).rfc3339 == "1969-12-31T00:00:00Z")
        #expect(Timestamp(milliseconds: -86_400_001).rfc3339 == "1969-12-30T23:59:59.999Z")
    }

    /// Leap day and the year boundaries around it are formatted correctly.
    @Test func formatsLeapDayAndYearBoundaries() {
        let leapDay = Timestamp(milliseconds: 1_709_251_199_000)
        #expect(leapDay.rfc3339 == "2024-02-29T23:59:59Z")
        #expect(leapDay.adding(seconds: 1).rfc3339 == "2024-03-01T00:00:00Z")
        let newYearsEve = Timestamp(milliseconds: 1_735_689_599_999)
        #expect(newYearsEve.rfc3339 == "2024-12-31T23:59:59.999Z")
        #expect(Timestamp(milliseconds: newYearsEve.milliseconds + 1).rfc3339 == "2025-01-01T00:00:00Z")
        // 2100 is not a leap year: Feb 28 is followed by Mar 1.
        #expect(Timestamp(milliseconds: 4_107_542_400_000).adding(seconds: -1).rfc3339 == "2100-02-28T23:59:59Z")
    }

    /// `Z`-suffixed times parse to the known millisecond values.
    @Test func parsesUTC() {
        for (text, millis) in Self.known {
            #expect(Timestamp(rfc3339: text)?.milliseconds == millis, "\(text)")
        }
    }

    /// An offset that carries the instant out of years 0000…9999 in UTC is refused: `rfc3339` could
    /// not print it back (a fuzzing find: `0000-01-01T00:00:00+01:00` printed as `00-1-12-31…`).
    @Test func rejectsInstantsOutsideFourDigitYears() {
        #expect(Timestamp(rfc3339: "0000-01-01T00:00:00+01:00") == nil)
        #expect(Timestamp(rfc3339: "9999-12-31T23:59:59-00:01") == nil)
        let first = Timestamp(rfc3339: "0000-01-01T00:00:00Z")
        let last = Timestamp(rfc3339: "9999-12-31T23:59:59.999Z")
        #expect(first?.rfc3339 == "0000-01-01T00:00:00Z")
        #expect(last?.rfc3339 == "9999-12-31T23:59:59.999Z")
        #expect(Timestamp(rfc3339: "0000-01-01T00:59:00+00:59")?.rfc3339 == "0000-01-01T00:00:00Z")
    }

    /// Lower-case `t` and `z` (and a space for `T`) are accepted as RFC 3339 allows.
    @Test func parsesLowerCaseSeparators() {
        #expect(Timestamp(rfc3339: "2026-11-21t12:00:00z")?.milliseconds == 1_795_262_400_000)
        #expect(Timestamp(rfc3339: "2026-11-21T12:00:00z")?.milliseconds == 1_795_262_400_000)
        #expect(Timestamp(rfc3339: "2026-11-21 12:00:00Z")?.milliseconds == 1_795_262_400_000)
    }

    /// Numeric offsets are converted to UTC (`+02:00` is two hours earlier, `-05:30` later).
    @Test func parsesOffsetsToUTC() {
        #expect(Timestamp(rfc3339: "2026-11-21T14:00:00+02:00")?.rfc3339 == "2026-11-21T12:00:00Z")
        #expect(Timestamp(rfc3339: "2026-11-21T06:30:00-05:30")?.rfc3339 == "2026-11-21T12:00:00Z")
        #expect(Timestamp(rfc3339: "2026-11-21T12:00:00+00:00")?.rfc3339 == "2026-11-21T12:00:00Z")
        #expect(Timestamp(rfc3339: "2026-11-21T12:00:00-00:00")?.rfc3339 == "2026-11-21T12:00:00Z")
        // Crossing a day and a year.
        #expect(Timestamp(rfc3339: "2025-01-01T01:00:00+02:00")?.rfc3339 == "2024-12-31T23:00:00Z")
        #expect(Timestamp(rfc3339: "2024-12-31T20:00:00-05:30")?.rfc3339 == "2025-01-01T01:30:00Z")
    }

    /// Fractions of 1 to 9 digits are read as milliseconds, truncating beyond three digits.
    @Test(arguments: [
        ("5", 500), ("12", 120), ("123", 123), ("1234", 123), ("12345", 123),
        ("123456", 123), ("1234567", 123), ("12345678", 123), ("123456789", 123), ("000000001", 0),
        ("999999999", 999), ("07", 70),
    ])
    func parsesFractions(fraction: String, millis: Int64) {
        let parsed = Timestamp(rfc3339: "2026-11-21T12:00:00.\(fraction)Z")
        #expect(parsed?.milliseconds == 1_795_262_400_000 + millis)
    }

    /// Malformed or impossible times are refused rather than guessed at.
    @Test(arguments: [
        "", "2026-11-21T12:00:00", "2026-13-01T00:00:00Z", "2026-00-01T00:00:00Z",
        "2026-04-31T00:00:00Z", "2023-02-29T00:00:00Z", "2100-02-29T00:00:00Z", "2026-11-21T12:00:00Zjunk",
        "2026-11-21T12:00:00Z ", " 2026-11-21T12:00:00Z", "2026-11-21T24:00:00Z", "2026-11-21T12:60:00Z",
        "2026-11-21T12:00:00.Z", "2026-11-21T12:00:00+0200", "2026-11-21T12:00:00+02", "2026-11-21X12:00:00Z",
        "26-11-21T12:00:00Z", "2026-11-00T12:00:00Z", "2026/11/21T12:00:00Z", "2026-11-21T12:00:00+24:00",
        "not a time",
    ])
    func rejectsInvalid(text: String) {
        #expect(Timestamp(rfc3339: text) == nil)
    }

    /// Feb 29 is accepted in leap years, including the 400-year rule (2000).
    @Test func acceptsLeapDays() {
        #expect(Timestamp(rfc3339: "2024-02-29T00:00:00Z") != nil)
        #expect(Timestamp(rfc3339: "2000-02-29T00:00:00Z") != nil)
    }

    /// Formatting then parsing gives back the same millisecond value over a wide spread of times.
    @Test func roundTripsManyValues() {
        var generator = SplitMix64(seed: 42)
        var values: [Int64] = [0, 1, -1, 999, -999, 1000, -1000, 253_402_300_799_999, -62_135_596_800_000]
        for _ in 0..<2000 {
            values.append(Int64(bitPattern: generator.next()) % 253_402_300_799_999)
        }
        for millis in values where millis >= -62_135_596_800_000 {
            let text = Timestamp(milliseconds: millis).rfc3339
            #expect(Timestamp(rfc3339: text)?.milliseconds == millis, "\(millis) → \(text)")
        }
    }

    /// Parsing then formatting a canonical UTC string gives back the same text.
    @Test func canonicalTextRoundTrips() {
        for text in ["2026-11-21T12:00:00.5Z", "1969-07-20T20:17:40Z", "2024-02-29T12:34:56.789Z"] {
            let formatted = Timestamp(rfc3339: text)?.rfc3339
            #expect(formatted.flatMap { Timestamp(rfc3339: $0) } == Timestamp(rfc3339: text))
        }
        #expect(Timestamp(rfc3339: "2026-11-21T12:00:00.5Z")?.rfc3339 == "2026-11-21T12:00:00.500Z")
    }

    /// Ordering and `adding(seconds:)` follow the millisecond value.
    @Test func comparesAndAdds() {
        let a = Timestamp(milliseconds: 1000)
        #expect(a < a.adding(seconds: 1))
        #expect(a.adding(seconds: -2).milliseconds == -1000)
        #expect(!(a < a))
    }
}
