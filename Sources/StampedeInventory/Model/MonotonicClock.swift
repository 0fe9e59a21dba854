import Glibc

/// Nanoseconds from a monotonic clock, for durations (never for dates).
public enum MonotonicClock {
    /// Now, in nanoseconds since an arbitrary start.
    @inline(__always)
    public static func now() -> UInt64 {
        var spec = timespec()
        clock_gettime(CLOCK_MONOTONIC, &spec)
        return UInt64(spec.tv_sec) * 1_000_000_000 + UInt64(spec.tv_nsec)
    }

    /// Seconds from `start` to `end` (default: now).
    @inline(__always)
    public static func seconds(_ end: UInt64 = now(), since start: UInt64) -> Double {
        Double(end &- start) / 1e9
    }
}
