import CStampedeSystem
import Glibc

/// What a non-blocking socket call did: moved `n` bytes, or would have blocked.
enum IOStep: Equatable {
    case done(Int)
    case wouldBlock
}

/// A failed system call of the harness's client, naming the call and `errno`.
public struct SocketError: Error, CustomStringConvertible, Equatable {
    public let call: String
    public let errno: Int32

    public var description: String {
        "\(call) failed: \(String(cString: strerror(errno))) (errno \(errno))"
    }
}

/// Every system call the load client makes, wrapped once: `EINTR` retried, `EAGAIN` as
/// `.wouldBlock`, other failures thrown as `SocketError` with `errno` read right after the call.
enum Socket {
    private static func step(_ call: String, _ body: () -> Int) throws(SocketError) -> IOStep {
        while true {
            let result = body()
            if result >= 0 { return .done(result) }
            let code = errno
            switch code {
            case EINTR: continue
            case EAGAIN, EWOULDBLOCK: return .wouldBlock
            default: throw SocketError(call: call, errno: code)
            }
        }
    }

    /// Opens a non-blocking TCP socket and starts connecting to `address`; returns at once.
    static func startConnect(to address: IPv4Endpoint) throws(SocketError) -> Int32 {
        let type = Int32(SOCK_STREAM.rawValue) | Int32(SOCK_NONBLOCK.rawValue) | Int32(SOCK_CLOEXEC.rawValue)
        let fd = Glibc.socket(AF_INET, type, 0)
        guard fd >= 0 else { throw SocketError(call: "socket", errno: errno) }
        var one: Int32 = 1
        _ = setsockopt(fd, Int32(IPPROTO_TCP), TCP_NODELAY, &one, socklen_t(MemoryLayout<Int32>.size))
        var storage = address.sockaddr
        let result = withUnsafePointer(to: &storage) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                Glibc.connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
            }
        }
        if result < 0 {
            let code = errno
            if code != EINPROGRESS && code != EINTR {
                Glibc.close(fd)
                throw SocketError(call: "connect", errno: code)
            }
        }
        return fd
    }

    /// The pending error of a connecting socket (`SO_ERROR`); 0 once connected.
    static func pendingError(_ fd: Int32) -> Int32 {
        var value: Int32 = 0
        var length = socklen_t(MemoryLayout<Int32>.size)
        guard getsockopt(fd, SOL_SOCKET, SO_ERROR, &value, &length) == 0 else { return errno }
        return value
    }

    /// read(2); `.done(0)` is end of stream.
    static func read(_ fd: Int32, into buffer: UnsafeMutableRawBufferPointer) throws(SocketError) -> IOStep {
        try step("read") { Glibc.read(fd, buffer.baseAddress, buffer.count) }
    }

    /// send(2) with `MSG_NOSIGNAL`.
    static func send(_ fd: Int32, _ bytes: UnsafeRawBufferPointer) throws(SocketError) -> IOStep {
        try step("send") { Glibc.send(fd, bytes.baseAddress, bytes.count, Int32(MSG_NOSIGNAL)) }
    }

    static func close(_ fd: Int32) { _ = Glibc.close(fd) }

    static func epollCreate() throws(SocketError) -> Int32 {
        let fd = epoll_create1(Int32(EPOLL_CLOEXEC))
        guard fd >= 0 else { throw SocketError(call: "epoll_create1", errno: errno) }
        return fd
    }

    static func epollAdd(_ epollFD: Int32, _ fd: Int32, events: UInt32, token: UInt64) throws(SocketError) {
        var event = epoll_event()
        event.events = events
        event.data.u64 = token
        guard epoll_ctl(epollFD, EPOLL_CTL_ADD, fd, &event) == 0 else { throw SocketError(call: "epoll_ctl", errno: errno) }
    }

    /// epoll_pwait2(2): waits at most `timeoutNanoseconds` (sub-millisecond, so open-loop sends
    /// leave close to their intended time without spinning).
    static func epollWait(_ epollFD: Int32, _ events: UnsafeMutableBufferPointer<epoll_event>, timeoutNanoseconds: UInt64) -> Int {
        var timeout = timespec(tv_sec: Int(timeoutNanoseconds / 1_000_000_000), tv_nsec: Int(timeoutNanoseconds % 1_000_000_000))
        let count = epoll_pwait2(epollFD, events.baseAddress, Int32(events.count), &timeout, nil)
        return count > 0 ? Int(count) : 0
    }
}

/// An IPv4 address and port (the harness targets loopback or a LAN address, never a name).
public struct IPv4Endpoint: Sendable, Equatable {
    public let host: String
    public let port: Int

    /// `nil` when `host` is not a dotted IPv4 address (`localhost` is accepted as 127.0.0.1).
    public init?(host: String, port: Int) {
        let host = host == "localhost" ? "127.0.0.1" : host
        var address = in_addr()
        guard (1...65535).contains(port), inet_pton(AF_INET, host, &address) == 1 else { return nil }
        self.host = host
        self.port = port
    }

    var sockaddr: sockaddr_in {
        var result = sockaddr_in()
        result.sin_family = sa_family_t(AF_INET)
        result.sin_port = in_port_t(UInt16(port).bigEndian)
        inet_pton(AF_INET, host, &result.sin_addr)
        return result
    }
}

/// Monotonic and wall clocks in the units the harness uses.
public enum Clock {
    /// Nanoseconds on the monotonic clock.
    @inline(__always)
    public static func nanoseconds() -> UInt64 {
        var time = timespec()
        clock_gettime(CLOCK_MONOTONIC, &time)
        return UInt64(time.tv_sec) &* 1_000_000_000 &+ UInt64(time.tv_nsec)
    }

    /// Seconds since the Unix epoch (wall clock).
    public static func wallSeconds() -> Double {
        var time = timespec()
        clock_gettime(CLOCK_REALTIME, &time)
        return Double(time.tv_sec) + Double(time.tv_nsec) / 1_000_000_000
    }

    /// Sleeps the calling thread.
    public static func sleep(nanoseconds: UInt64) {
        var request = timespec(tv_sec: Int(nanoseconds / 1_000_000_000), tv_nsec: Int(nanoseconds % 1_000_000_000))
        var remaining = timespec()
        while nanosleep(&request, &remaining) != 0 && errno == EINTR { request = remaining }
    }
}
