import Glibc

/// A system call that failed: its name and the `errno` it left.
struct SystemCallError: Error, Equatable, CustomStringConvertible {
    /// The failing call, e.g. `"bind"`.
    let call: String
    /// The `errno` value read immediately after the call.
    let errno: Int32

    /// `"bind: Address already in use (errno 98)"`.
    var description: String {
        "\(call): \(String(cString: strerror(errno))) (errno \(errno))"
    }
}
