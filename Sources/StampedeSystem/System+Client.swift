import CStampedeSystem
import Glibc

extension System {
    /// socket(2) for a TCP stream with `SOCK_CLOEXEC`, non-blocking unless `nonBlocking` is false
    /// (blocking clients bound their waits with `setTimeout` instead).
    public static func socket(domain: Int32, nonBlocking: Bool) throws(SystemCallError) -> Int32 {
        var type = Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue)
        if nonBlocking { type |= Int32(SOCK_NONBLOCK.rawValue) }
        return try blocking("socket") { Glibc.socket(domain, type, 0) }
    }

    /// connect(2). On a non-blocking socket `.wouldBlock` means the connection is under way
    /// (`EINPROGRESS`): wait for writability, then read `pendingError`.
    public static func connect(_ fd: Int32, to address: SocketAddress) throws(SystemCallError) -> IOResult<Void> {
        var storage = address.storage
        while true {
            let result = withUnsafePointer(to: &storage) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { Glibc.connect(fd, $0, address.length) }
            }
            if result == 0 { return .processed(()) }
            let code = errno
            switch code {
            case EINTR, EINPROGRESS: return .wouldBlock
            default: throw SystemCallError(call: "connect", errno: code)
            }
        }
    }

    /// The pending error of a connecting socket (`SO_ERROR`): 0 once connected.
    public static func pendingError(_ fd: Int32) -> Int32 {
        var value: Int32 = 0
        var length = socklen_t(MemoryLayout<Int32>.size)
        guard getsockopt(fd, SOL_SOCKET, SO_ERROR, &value, &length) == 0 else { return errno }
        return value
    }

    /// Sets `SO_RCVTIMEO` and `SO_SNDTIMEO` of a blocking socket: a read or write waiting longer
    /// fails with `EAGAIN`.
    public static func setTimeout(_ fd: Int32, seconds: Int) throws(SystemCallError) {
        var timeout = timeval(tv_sec: seconds, tv_usec: 0)
        for name in [SO_RCVTIMEO, SO_SNDTIMEO] {
            _ = try blocking("setsockopt") { setsockopt(fd, SOL_SOCKET, name, &timeout, socklen_t(MemoryLayout<timeval>.size)) }
        }
    }

    /// epoll_pwait2(2): waits at most `timeoutNanoseconds` (sub-millisecond, where a millisecond
    /// timeout would make a sender that must leave at a given instant either late or spinning).
    /// An interrupted wait returns 0 events.
    public static func epollWait(
        _ epollFD: Int32,
        events: UnsafeMutableBufferPointer<epoll_event>,
        timeoutNanoseconds: UInt64
    ) throws(SystemCallError) -> Int {
        var timeout = timespec(tv_sec: Int(timeoutNanoseconds / 1_000_000_000), tv_nsec: Int(timeoutNanoseconds % 1_000_000_000))
        let count = epoll_pwait2(epollFD, events.baseAddress, Int32(events.count), &timeout, nil)
        if count >= 0 { return Int(count) }
        let code = errno
        if code == EINTR { return 0 }
        throw SystemCallError(call: "epoll_pwait2", errno: code)
    }
}
