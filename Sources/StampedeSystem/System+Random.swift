import CStampedeSystem
import Glibc

extension System {
    /// Fills `buffer` with the kernel's random bytes (getrandom(2), blocking only until the
    /// kernel's pool is first initialised at boot).
    public static func randomBytes(_ buffer: UnsafeMutableRawBufferPointer) throws(SystemCallError) {
        var filled = 0
        while filled < buffer.count {
            let count = try blocking("getrandom") { cstampede_getrandom(buffer.baseAddress! + filled, buffer.count - filled) }
            filled += count
        }
    }
}
