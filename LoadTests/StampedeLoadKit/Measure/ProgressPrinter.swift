import Glibc
import StampedeSystem

/// The live progress display: one line rewritten in place on a terminal, plain lines (every
/// `plainEvery` seconds) otherwise. Written to standard error so reports on stdout stay clean.
public struct ProgressPrinter {
    public let scenario: String
    public let isTerminal: Bool
    public var plainEvery = 5
    public var quiet = false

    public init(scenario: String, quiet: Bool = false) {
        self.scenario = scenario
        self.quiet = quiet
        isTerminal = isatty(STDERR_FILENO) == 1
    }

    public static func line(_ scenario: String, _ snapshot: ProgressSnapshot) -> String {
        let last = snapshot.last, totals = snapshot.totals
        return "[\(scenario)] \(snapshot.second + 1)s  sent \(totals.sent)  done \(totals.completed)  "
            + "2xx \(totals.success)  4xx \(totals.rejected)  503ovl \(totals.overloaded)  5xx \(totals.serverError)  err \(totals.transportError)  |  "
            + "\(last.completed)/s  p50 \(Format.micros(last.p50Us))  p99 \(Format.micros(last.p99Us))  max \(Format.micros(last.maxUs))"
    }

    public func show(_ snapshot: ProgressSnapshot) {
        guard !quiet else { return }
        let text = Self.line(scenario, snapshot)
        if isTerminal {
            Self.write("\r\u{1B}[K" + text)
        } else if (snapshot.second + 1) % plainEvery == 0 {
            Self.write(text + "\n")
        }
    }

    /// Writes to standard error unbuffered.
    public static func write(_ text: String) {
        var text = text
        text.withUTF8 { System.writeAll(STDERR_FILENO, UnsafeRawBufferPointer($0)) }
    }

    /// Ends the in-place line.
    public func finish() {
        if isTerminal && !quiet { Self.write("\n") }
    }
}

/// Human formats for figures.
public enum Format {
    /// `850µs`, `12.3ms`, `1.20s`.
    public static func micros(_ value: UInt64) -> String {
        if value < 1_000 { return "\(value)µs" }
        if value < 1_000_000 {
            if value % 1_000 == 0 { return "\(value / 1_000)ms" }
            return String(Double(value) / 1_000, decimals: value < 10_000 ? 2 : 1) + "ms"
        }
        return String(Double(value) / 1_000_000, decimals: 2) + "s"
    }

    public static func micros(_ value: Double) -> String { micros(UInt64(max(0, value))) }

    /// Axis labels: integers plainly, fractions with one decimal.
    public static func axisNumber(_ value: Double) -> String {
        value == value.rounded() ? String(Int(value)) : String(value, decimals: 1)
    }
}

extension String {
    init(_ value: Double, decimals: Int) {
        var scale = 1.0
        for _ in 0..<decimals { scale *= 10 }
        let rounded = (value * scale).rounded() / scale
        var text = String(rounded)
        if let dot = text.firstIndex(of: ".") {
            let have = text.distance(from: dot, to: text.endIndex) - 1
            if have < decimals { text += String(repeating: "0", count: decimals - have) }
            if decimals == 0 { text = String(text[..<dot]) }
        }
        self = text
    }
}
