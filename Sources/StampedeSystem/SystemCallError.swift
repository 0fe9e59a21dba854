import Glibc

/// A system call that failed: its name and the `errno` it left.
public struct SystemCallError: Error, Equatable, CustomStringConvertible {
    /// The failing call, e.g. `"bind"`.
    public let call: String
    /// The `errno` value read immediately after the call.
    public let errno: Int32

    /// `"bind: Address already in use (errno 98)"`.
    /// A failure of `call` with `errno`.
    public init(call: String, errno: Int32) {
        self.call = call
        self.errno = errno
    }

    public var description: String {
        "\(call): \(String(cString: strerror(errno))) (errno \(errno))"
    }
}
