import CHiredis
@testable import StampedeRedis
import Testing

/// `RedisCommandArguments.appendRESP` writes what hiredis' own formatter writes.
struct RedisCommandArgumentsTests {
    /// hiredis' `redisFormatCommandArgv` output for `arguments`.
    private static func hiredisFormat(_ arguments: RedisCommandArguments) -> [UInt8] {
        var formatted: UnsafeMutablePointer<CChar>?
        let length = arguments.withArgv { redisFormatCommandArgv(&formatted, $0, $1, $2) }
        guard length >= 0, let formatted else { return [] }
        defer { redisFreeCommand(formatted) }
        return Array(UnsafeRawBufferPointer(start: formatted, count: Int(length)))
    }

    private static func ours(_ arguments: RedisCommandArguments, after prefix: [UInt8] = []) -> [UInt8] {
        var out = prefix
        arguments.appendRESP(to: &out)
        return Array(out[prefix.count...])
    }

    @Test func textCommands() {
        for command in [["PING"], ["SET", "key", "value"], ["GET", ""], ["HSET", "h", "f", String(repeating: "x", count: 12_345)]] {
            let arguments = RedisCommandArguments(command)
            #expect(Self.ours(arguments) == Self.hiredisFormat(arguments), "\(command.first ?? "")")
        }
        #expect(Self.ours(RedisCommandArguments(["SET", "k", "v"])) == Array("*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$1\r\nv\r\n".utf8))
    }

    @Test func evalSHAWithManyArguments() {
        let keys = (0..<3).map { "{sale-\($0)}:stock" }
        let values = (0..<120).map { "user-\($0)" }
        let arguments = RedisCommandArguments(evalSHA: String(repeating: "a", count: 40), keys: keys, arguments: values)
        #expect(Self.ours(arguments, after: Array("*1\r\n$4\r\nPING\r\n".utf8)) == Self.hiredisFormat(arguments))
    }

    @Test func binaryArguments() {
        let arguments = RedisCommandArguments([Array("SET".utf8), [0, 13, 10, 255], []])
        #expect(Self.ours(arguments) == Self.hiredisFormat(arguments))
    }
}
