import StampedeSystem

/// A point in time as whole milliseconds since the Unix epoch, UTC.
///
/// Stampede passes times to Redis scripts and PostgreSQL as integers, and formats RFC 3339 itself,
/// so the purchase path needs neither Foundation nor a time-zone database.
public struct Timestamp: Sendable, Hashable, Comparable {
    /// Milliseconds since 1970-01-01T00:00:00Z.
    public var milliseconds: Int64

    public init(milliseconds: Int64) { self.milliseconds = milliseconds }

    /// The wall-clock time now.
    public static func now() -> Timestamp {
        Timestamp(milliseconds: WallClock.milliseconds())
    }

    public static func < (lhs: Timestamp, rhs: Timestamp) -> Bool { lhs.milliseconds < rhs.milliseconds }

    /// This time moved by `seconds`.
    public func adding(seconds: Int64) -> Timestamp { Timestamp(milliseconds: milliseconds + seconds * 1000) }

    /// RFC 3339 in UTC: `2026-11-21T12:00:00Z`, with `.mmm` only when the milliseconds are not zero.
    public var rfc3339: String {
        let fields = rfc3339Fields
        guard (0...9999).contains(fields.year) else {
            return slowRFC3339(fields.year, fields.month, fields.day, fields.secondOfDay, fields.millis)
        }
        // Written byte by byte into the string's own storage.
        return String(unsafeUninitializedCapacity: 24) { Self.writeRFC3339(fields, into: $0) }
    }

    /// Appends `rfc3339`'s UTF-8 bytes to `out`, written in place for years 0…9999 (an order's
    /// answer writes two times into its JSON without a String each). Not generic, so a caller in
    /// another module specializes nothing at run time.
    public func appendRFC3339(to out: inout [UInt8]) {
        let fields = rfc3339Fields
        guard (0...9999).contains(fields.year) else {
            out.append(contentsOf: rfc3339.utf8)
            return
        }
        let start = out.count
        out.append(contentsOf: repeatElement(0, count: 24))
        let length = out.withUnsafeMutableBufferPointer { buffer in
            Self.writeRFC3339(fields, into: UnsafeMutableBufferPointer(rebasing: buffer[start...]))
        }
        out.removeLast(24 - length)
    }

    private typealias RFC3339Fields = (year: Int, month: Int, day: Int, secondOfDay: Int, millis: Int)

    private var rfc3339Fields: RFC3339Fields {
        let seconds = milliseconds >= 0 ? milliseconds / 1000 : (milliseconds - 999) / 1000
        let millis = Int(milliseconds - seconds * 1000)
        let days = seconds >= 0 ? seconds / 86_400 : (seconds - 86_399) / 86_400
        let secondOfDay = Int(seconds - days * 86_400)
        let (year, month, day) = Self.civil(fromDays: days)
        return (year, month, day, secondOfDay, millis)
    }

    /// Writes a time of a four-digit year into `out` (24 bytes at least); returns the length.
    private static func writeRFC3339(_ fields: RFC3339Fields, into out: UnsafeMutableBufferPointer<UInt8>) -> Int {
        func put(_ value: Int, _ width: Int, at start: Int) {
            var v = value
            for i in stride(from: start + width - 1, through: start, by: -1) {
                out[i] = UInt8(48 + v % 10)
                v /= 10
            }
        }
        put(fields.year, 4, at: 0); out[4] = UInt8(ascii: "-")
        put(fields.month, 2, at: 5); out[7] = UInt8(ascii: "-")
        put(fields.day, 2, at: 8); out[10] = UInt8(ascii: "T")
        put(fields.secondOfDay / 3600, 2, at: 11); out[13] = UInt8(ascii: ":")
        put(fields.secondOfDay / 60 % 60, 2, at: 14); out[16] = UInt8(ascii: ":")
        put(fields.secondOfDay % 60, 2, at: 17)
        guard fields.millis != 0 else {
            out[19] = UInt8(ascii: "Z")
            return 20
        }
        out[19] = UInt8(ascii: ".")
        put(fields.millis, 3, at: 20)
        out[23] = UInt8(ascii: "Z")
        return 24
    }

    private func slowRFC3339(_ year: Int, _ month: Int, _ day: Int, _ secondOfDay: Int, _ millis: Int) -> String {
        var out = ""
        out.reserveCapacity(24)
        Self.append(year, width: 4, to: &out); out += "-"
        Self.append(month, width: 2, to: &out); out += "-"
        Self.append(day, width: 2, to: &out); out += "T"
        Self.append(secondOfDay / 3600, width: 2, to: &out); out += ":"
        Self.append(secondOfDay / 60 % 60, width: 2, to: &out); out += ":"
        Self.append(secondOfDay % 60, width: 2, to: &out)
        if millis != 0 { out += "."; Self.append(millis, width: 3, to: &out) }
        out += "Z"
        return out
    }

    /// Parses RFC 3339: `YYYY-MM-DDTHH:MM:SS[.fraction](Z|±HH:MM)`; `t`/`z` and a space for `T` are
    /// accepted too. Returns nil for anything else, including impossible dates.
    public init?(rfc3339 text: some StringProtocol) {
        let b = Array(text.utf8)
        func digits(_ at: Int, _ count: Int) -> Int? {
            guard at + count <= b.count else { return nil }
            var value = 0
            for i in at..<(at + count) {
                guard b[i] >= 48, b[i] <= 57 else { return nil }
                value = value * 10 + Int(b[i] - 48)
            }
            return value
        }
        func byte(_ at: Int) -> UInt8? { at < b.count ? b[at] : nil }
        guard let year = digits(0, 4), byte(4) == UInt8(ascii: "-"),
              let month = digits(5, 2), byte(7) == UInt8(ascii: "-"),
              let day = digits(8, 2),
              let sep = byte(10), sep == UInt8(ascii: "T") || sep == UInt8(ascii: "t") || sep == UInt8(ascii: " "),
              let hour = digits(11, 2), byte(13) == UInt8(ascii: ":"),
              let minute = digits(14, 2), byte(16) == UInt8(ascii: ":"),
              let second = digits(17, 2)
        else { return nil }
        guard (1...12).contains(month), day >= 1, day <= Self.daysIn(month: month, year: year),
              hour < 24, minute < 60, second < 61 else { return nil }
        var index = 19
        var millis = 0
        if byte(index) == UInt8(ascii: ".") {
            index += 1
            var scale = 100
            let start = index
            while let d = byte(index), d >= 48, d <= 57 {
                millis += Int(d - 48) * scale
                scale /= 10
                index += 1
            }
            guard index > start else { return nil }
        }
        var offsetSeconds = 0
        guard let zone = byte(index) else { return nil }
        if zone == UInt8(ascii: "Z") || zone == UInt8(ascii: "z") {
            index += 1
        } else if zone == UInt8(ascii: "+") || zone == UInt8(ascii: "-") {
            guard let oh = digits(index + 1, 2), byte(index + 3) == UInt8(ascii: ":"),
                  let om = digits(index + 4, 2), oh < 24, om < 60 else { return nil }
            offsetSeconds = (oh * 3600 + om * 60) * (zone == UInt8(ascii: "+") ? 1 : -1)
            index += 6
        } else {
            return nil
        }
        guard index == b.count else { return nil }
        let days = Self.days(fromCivil: year, month, day)
        let seconds = days * 86_400 + Int64(hour * 3600 + minute * 60 + min(second, 59)) - Int64(offsetSeconds)
        let milliseconds = seconds * 1000 + Int64(millis)
        // An offset can carry a time past year 0000 or 9999 in UTC, which `rfc3339` cannot print
        // with four year digits (found by fuzzing: `0000-01-01T00:00:00+01:00`).
        guard Self.representable.contains(milliseconds) else { return nil }
        self.milliseconds = milliseconds
    }

    /// The instants `rfc3339` prints as it parses them: 0000-01-01T00:00:00Z to the last
    /// millisecond of 9999-12-31 in UTC.
    static let representable: ClosedRange<Int64> =
        days(fromCivil: 0, 1, 1) * 86_400_000...(days(fromCivil: 9999, 12, 31) + 1) * 86_400_000 - 1

    // Howard Hinnant's days_from_civil / civil_from_days (public domain algorithms).
    static func days(fromCivil year: Int, _ month: Int, _ day: Int) -> Int64 {
        let y = Int64(month <= 2 ? year - 1 : year)
        let era = (y >= 0 ? y : y - 399) / 400
        let yoe = y - era * 400
        let mp = Int64((month + 9) % 12)
        let doy = (153 * mp + 2) / 5 + Int64(day) - 1
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy
        return era * 146_097 + doe - 719_468
    }

    static func civil(fromDays days: Int64) -> (Int, Int, Int) {
        let z = days + 719_468
        let era = (z >= 0 ? z : z - 146_096) / 146_097
        let doe = z - era * 146_097
        let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100)
        let mp = (5 * doy + 2) / 153
        let day = Int(doy - (153 * mp + 2) / 5 + 1)
        let month = Int(mp < 10 ? mp + 3 : mp - 9)
        let year = Int(yoe + era * 400) + (month <= 2 ? 1 : 0)
        return (year, month, day)
    }

    static func daysIn(month: Int, year: Int) -> Int {
        switch month {
        case 2: return (year % 4 == 0 && year % 100 != 0) || year % 400 == 0 ? 29 : 28
        case 4, 6, 9, 11: return 30
        default: return 31
        }
    }

    private static func append(_ value: Int, width: Int, to out: inout String) {
        var digits = String(value)
        while digits.utf8.count < width { digits = "0" + digits }
        out += digits
    }
}
