/// One command's arguments laid out for hiredis' argv functions: contiguous bytes plus lengths.
///
/// Passing explicit lengths keeps arguments binary-safe (NUL bytes and non-UTF-8 allowed),
/// which the printf-style `redisCommand` is not.
struct RedisCommandArguments: Sendable {
    /// The arguments back to back, then one NUL so that even empty arguments get a valid address.
    private var bytes: [UInt8] = []
    private var lengths: [Int] = []

    /// Lays out text arguments as UTF-8.
    init(_ arguments: [String]) {
        for argument in arguments { append(argument.utf8) }
        bytes.append(0)
    }

    /// Lays out binary arguments unchanged.
    init(_ arguments: [[UInt8]]) {
        for argument in arguments { append(argument) }
        bytes.append(0)
    }

    private mutating func append(_ argument: some Collection<UInt8>) {
        bytes.append(contentsOf: argument)
        lengths.append(argument.count)
    }

    /// Calls `body` with `argc`, `argv` and `argvlen` valid for the duration of the call.
    func withArgv<R>(
        _ body: (Int32, UnsafeMutablePointer<UnsafePointer<CChar>?>, UnsafePointer<Int>) -> R
    ) -> R {
        precondition(!lengths.isEmpty, "a Redis command needs at least its name")
        return bytes.withUnsafeBytes { storage in
            let base = storage.baseAddress!
            var offset = 0
            var pointers: [UnsafePointer<CChar>?] = lengths.map { length in
                defer { offset += length }
                return (base + offset).assumingMemoryBound(to: CChar.self)
            }
            return pointers.withUnsafeMutableBufferPointer { argv in
                lengths.withUnsafeBufferPointer { argvlen in
                    body(Int32(lengths.count), argv.baseAddress!, argvlen.baseAddress!)
                }
            }
        }
    }
}
