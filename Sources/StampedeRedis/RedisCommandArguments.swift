import StampedeSystem

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
        bytes.reserveCapacity(arguments.reduce(1) { $0 + $1.utf8.count })
        lengths.reserveCapacity(arguments.count)
        for argument in arguments { append(argument.utf8) }
        bytes.append(0)
    }

    /// Lays out `EVALSHA sha1 numkeys key… arg…` straight from its parts (no concatenated array of
    /// Strings first: a purchase batch's call carries four arguments per purchase).
    init(evalSHA sha1: String, keys: [String], arguments: [String]) {
        var size = 16 + sha1.utf8.count
        for key in keys { size += key.utf8.count }
        for argument in arguments { size += argument.utf8.count }
        bytes.reserveCapacity(size)
        lengths.reserveCapacity(3 + keys.count + arguments.count)
        append("EVALSHA".utf8)
        append(sha1.utf8)
        append(String(keys.count).utf8)
        for key in keys { append(key.utf8) }
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

    /// Appends the command in RESP, as `redisFormatCommandArgv` writes it (`*argc`, then `$length`
    /// and the bytes of each argument, every line ending in CRLF), straight into `out`: a reactor
    /// connection's output buffer gets a batch's call without a C allocation and `sprintf`s.
    func appendRESP(to out: inout [UInt8]) {
        precondition(!lengths.isEmpty, "a Redis command needs at least its name")
        out.reserveCapacity(out.count + bytes.count + 16 * lengths.count)
        out.append(UInt8(ascii: "*"))
        Self.appendLine(lengths.count, to: &out)
        bytes.withUnsafeBufferPointer { storage in
            var offset = 0
            for length in lengths {
                out.append(UInt8(ascii: "$"))
                Self.appendLine(length, to: &out)
                out.append(contentsOf: UnsafeBufferPointer(rebasing: storage[offset..<offset + length]))
                out.append(13)
                out.append(10)
                offset += length
            }
        }
    }

    /// Appends `value` in decimal, then CRLF.
    private static func appendLine(_ value: Int, to out: inout [UInt8]) {
        DecimalText.append(value, to: &out)
        out.append(13)
        out.append(10)
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
