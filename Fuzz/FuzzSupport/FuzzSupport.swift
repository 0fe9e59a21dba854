import CFuzzDriver

#if canImport(Glibc)
import Glibc
#endif

/// Runs libFuzzer on `target` with this process's command line (`-max_total_time=…`, corpus
/// folders, …) and exits with its status.
///
/// Every fuzz target's `@main` calls this with its `LLVMFuzzerTestOneInput`: SwiftPM links an
/// executable with its own entry point, so libFuzzer's `main` is not used.
public func runFuzzer(_ target: @convention(c) (UnsafePointer<UInt8>?, Int) -> CInt) -> Never {
    var argc = CommandLine.argc
    var argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>? = CommandLine.unsafeArgv
    exit(LLVMFuzzerRunDriver(&argc, &argv, target))
}

/// Stops the fuzzer with a property violation: libFuzzer reports the trap as a crash and saves
/// the input that caused it under the artifact prefix, so it can become a regression test.
public func require(_ condition: Bool, _ message: @autoclosure () -> String, file: StaticString = #fileID, line: UInt = #line) {
    guard !condition else { return }
    fatalError("property violated: \(message())", file: file, line: line)
}

/// A deterministic reader over the fuzzer's bytes, for targets that need a few choices (a chunk
/// size, a method) before the payload.
public struct FuzzInput {
    private let bytes: UnsafeBufferPointer<UInt8>
    private var position = 0

    public init(_ data: UnsafePointer<UInt8>?, _ size: Int) {
        bytes = UnsafeBufferPointer(start: size > 0 ? data : nil, count: size)
    }

    /// The next byte, or 0 once the input is used up.
    public mutating func byte() -> UInt8 {
        guard position < bytes.count else { return 0 }
        defer { position += 1 }
        return bytes[position]
    }

    /// Every byte not consumed yet.
    public mutating func rest() -> [UInt8] {
        defer { position = bytes.count }
        return Array(bytes[min(position, bytes.count)...])
    }
}
