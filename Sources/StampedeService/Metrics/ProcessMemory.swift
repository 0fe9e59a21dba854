import Glibc
import StampedeSystem

/// The process's resident memory, read from `/proc/self/statm` at scrape time (Linux only).
enum ProcessMemory {
    /// Resident set size in bytes; `nil` where `/proc` is unavailable.
    static func residentBytes() -> Int? {
        guard let bytes = try? System.readFile("/proc/self/statm", limit: 4096) else { return nil }
        // "size resident shared text lib data dt", in pages.
        let fields = bytes.split(separator: UInt8(ascii: " "))
        guard fields.count >= 2, let pages = Int(String(decoding: fields[1], as: UTF8.self)) else { return nil }
        return pages * Int(sysconf(Int32(_SC_PAGESIZE)))
    }
}
