import CStampedeSystem
import Glibc

/// Every system call Stampede makes, wrapped once: `EINTR` is retried, `EAGAIN` becomes
/// `.wouldBlock`, and any other failure throws a `SystemCallError` naming the call.
///
/// `errno` is read immediately after the failing call, before anything else can overwrite it.
public enum System {
    /// Runs `body` until it is not interrupted; negative results become errors or `.wouldBlock`.
    @inlinable @inline(__always)
    static func retrying<Value: BinaryInteger>(
        _ call: String,
        _ body: () -> Value
    ) throws(SystemCallError) -> IOResult<Value> {
        while true {
            let result = body()
            if result >= 0 { return .processed(result) }
            let code = errno
            switch code {
            case EINTR: continue
            case EAGAIN, EWOULDBLOCK: return .wouldBlock
            default: throw SystemCallError(call: call, errno: code)
            }
        }
    }

    /// Runs a call that must not block (setup calls); `EAGAIN` is reported as an error too.
    @inline(__always)
    static func blocking<Value: BinaryInteger>(
        _ call: String,
        _ body: () -> Value
    ) throws(SystemCallError) -> Value {
        switch try retrying(call, body) {
        case .processed(let value): return value
        case .wouldBlock: throw SystemCallError(call: call, errno: EAGAIN)
        }
    }

    // MARK: Sockets

    /// socket(2) with `SOCK_NONBLOCK | SOCK_CLOEXEC`.
    public static func socket(domain: Int32) throws(SystemCallError) -> Int32 {
        let type = Int32(SOCK_STREAM.rawValue) | Int32(SOCK_NONBLOCK.rawValue) | Int32(SOCK_CLOEXEC.rawValue)
        return try blocking("socket") { Glibc.socket(domain, type, 0) }
    }

    /// setsockopt(2) for an integer option.
    public static func setOption(_ fd: Int32, level: Int32, name: Int32, value: Int32) throws(SystemCallError) {
        var value = value
        _ = try blocking("setsockopt") {
            setsockopt(fd, level, name, &value, socklen_t(MemoryLayout<Int32>.size))
        }
    }

    /// bind(2).
    public static func bind(_ fd: Int32, to address: SocketAddress) throws(SystemCallError) {
        var storage = address.storage
        _ = try blocking("bind") {
            withUnsafePointer(to: &storage) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { Glibc.bind(fd, $0, address.length) }
            }
        }
    }

    /// listen(2).
    public static func listen(_ fd: Int32, backlog: Int32) throws(SystemCallError) {
        _ = try blocking("listen") { Glibc.listen(fd, backlog) }
    }

    /// The port a socket is bound to, from getsockname(2).
    public static func localPort(of fd: Int32) throws(SystemCallError) -> Int {
        var storage = sockaddr_storage()
        var length = socklen_t(MemoryLayout<sockaddr_storage>.size)
        _ = try blocking("getsockname") {
            withUnsafeMutablePointer(to: &storage) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) }
            }
        }
        return SocketAddress(storage: storage, length: length).port
    }

    /// accept4(2) with `SOCK_NONBLOCK | SOCK_CLOEXEC`; `peer` receives the client's address.
    public static func accept(_ fd: Int32, peer: inout SocketAddress) throws(SystemCallError) -> IOResult<Int32> {
        let flags = Int32(SOCK_NONBLOCK.rawValue) | Int32(SOCK_CLOEXEC.rawValue)
        var length = socklen_t(MemoryLayout<sockaddr_storage>.size)
        let result = try withUnsafeMutablePointer(to: &peer.storage) { storage throws(SystemCallError) in
            try storage.withMemoryRebound(to: sockaddr.self, capacity: 1) { address throws(SystemCallError) in
                try retrying("accept4") { cstampede_accept4(fd, address, &length, flags) }
            }
        }
        peer.length = length
        return result
    }

    /// read(2) into `buffer`; `.processed(0)` means the peer closed its side.
    @inlinable
    public static func read(_ fd: Int32, into buffer: UnsafeMutableRawBufferPointer) throws(SystemCallError) -> IOResult<Int> {
        try retrying("read") { Glibc.read(fd, buffer.baseAddress, buffer.count) }
    }

    /// send(2) with `MSG_NOSIGNAL`, so a closed peer yields `EPIPE` instead of killing the process.
    @inlinable
    public static func send(_ fd: Int32, _ bytes: UnsafeRawBufferPointer) throws(SystemCallError) -> IOResult<Int> {
        try retrying("send") { Glibc.send(fd, bytes.baseAddress, bytes.count, Int32(MSG_NOSIGNAL)) }
    }

    /// shutdown(2) of the sending side; errors are irrelevant on a socket about to close.
    public static func shutdownWrite(_ fd: Int32) {
        _ = Glibc.shutdown(fd, Int32(SHUT_WR))
    }

    /// close(2). Not retried on `EINTR`: on Linux the descriptor is released regardless.
    public static func close(_ fd: Int32) {
        _ = Glibc.close(fd)
    }

    // MARK: epoll and eventfd

    /// epoll_create1(2) with `EPOLL_CLOEXEC`.
    public static func epollCreate() throws(SystemCallError) -> Int32 {
        try blocking("epoll_create1") { epoll_create1(Int32(EPOLL_CLOEXEC)) }
    }

    /// epoll_ctl(2): registers (`EPOLL_CTL_ADD`), changes (`EPOLL_CTL_MOD`) or removes
    /// (`EPOLL_CTL_DEL`) interest in `fd`, tagging its events with `token`.
    public static func epollControl(
        _ epollFD: Int32,
        operation: Int32,
        fd: Int32,
        events: UInt32,
        token: UInt64
    ) throws(SystemCallError) {
        var event = epoll_event()
        event.events = events
        event.data.u64 = token
        _ = try blocking("epoll_ctl") { epoll_ctl(epollFD, operation, fd, &event) }
    }

    /// epoll_wait(2); an interrupted wait returns 0 events so the caller re-checks its state.
    public static func epollWait(
        _ epollFD: Int32,
        events: UnsafeMutableBufferPointer<epoll_event>,
        timeoutMilliseconds: Int32
    ) throws(SystemCallError) -> Int {
        let count = epoll_wait(epollFD, events.baseAddress, Int32(events.count), timeoutMilliseconds)
        if count >= 0 { return Int(count) }
        let code = errno
        if code == EINTR { return 0 }
        throw SystemCallError(call: "epoll_wait", errno: code)
    }

    /// eventfd(2), non-blocking and close-on-exec.
    public static func eventFD() throws(SystemCallError) -> Int32 {
        try blocking("eventfd") { eventfd(0, Int32(EFD_NONBLOCK) | Int32(EFD_CLOEXEC)) }
    }

    /// Adds 1 to an eventfd counter, waking its epoll. A full counter (`EAGAIN`) already means
    /// "wake up", so it is not an error.
    public static func eventFDSignal(_ fd: Int32) throws(SystemCallError) {
        var one: UInt64 = 1
        _ = try retrying("write(eventfd)") { Glibc.write(fd, &one, MemoryLayout<UInt64>.size) }
    }

    /// Resets an eventfd counter to zero.
    public static func eventFDDrain(_ fd: Int32) throws(SystemCallError) {
        var value: UInt64 = 0
        _ = try retrying("read(eventfd)") { Glibc.read(fd, &value, MemoryLayout<UInt64>.size) }
    }
}
