import Glibc

extension System {
    /// The whole content of the file at `path`, up to `limit` bytes.
    ///
    /// Throws `open`/`read` failures, and `read` with `EFBIG` when the file is larger than `limit`.
    public static func readFile(_ path: String, limit: Int = 1 << 20) throws(SystemCallError) -> [UInt8] {
        let fd = try blocking("open \(path)") { open(path, O_RDONLY | O_CLOEXEC) }
        defer { Glibc.close(fd) }
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 16_384)
        while true {
            let count = try blocking("read \(path)") { chunk.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress, $0.count) } }
            if count == 0 { return bytes }
            bytes.append(contentsOf: chunk[0..<count])
            if bytes.count > limit { throw SystemCallError(call: "read \(path)", errno: EFBIG) }
        }
    }

    /// Writes all of `bytes` to `fd` (a log stream or a terminal), retrying short writes and
    /// `EINTR`; gives up silently on any other error (there is nowhere left to report it).
    public static func writeAll(_ fd: Int32, _ bytes: UnsafeRawBufferPointer) {
        var offset = 0
        while offset < bytes.count {
            let written = Glibc.write(fd, bytes.baseAddress! + offset, bytes.count - offset)
            if written < 0 && errno == EINTR { continue }
            if written <= 0 { return }
            offset += written
        }
    }
}
