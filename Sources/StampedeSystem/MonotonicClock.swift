import Glibc

/// The process's one monotonic clock (`CLOCK_MONOTONIC`), for durations and deadlines (never for
/// dates): it does not jump when the wall clock is set.
public enum MonotonicClock {
    /// Now, in nanoseconds since an arbitrary start.
    @inlinable @inline(__always)
    public static func now() -> UInt64 {
        var spec = timespec()
        clock_gettime(CLOCK_MONOTONIC, &spec)
        return UInt64(spec.tv_sec) &* 1_000_000_000 &+ UInt64(spec.tv_nsec)
    }

    /// Now, in seconds since the same arbitrary start.
    @inlinable @inline(__always)
    public static func nowSeconds() -> Double {
        Double(now()) / 1e9
    }

    /// Seconds from `start` to `end` (default: now).
    @inlinable @inline(__always)
    public static func seconds(_ end: UInt64 = now(), since start: UInt64) -> Double {
        Double(end &- start) / 1e9
    }
}

/// The wall clock (`CLOCK_REALTIME`), for dates: order times, expiries, log lines.
public enum WallClock {
    /// Milliseconds since 1970-01-01T00:00:00Z.
    @inlinable
    public static func milliseconds() -> Int64 {
        var spec = timespec()
        clock_gettime(CLOCK_REALTIME, &spec)
        return Int64(spec.tv_sec) * 1000 + Int64(spec.tv_nsec) / 1_000_000
    }

    /// Seconds since 1970-01-01T00:00:00Z, with the fraction.
    @inlinable
    public static func seconds() -> Double {
        var spec = timespec()
        clock_gettime(CLOCK_REALTIME, &spec)
        return Double(spec.tv_sec) + Double(spec.tv_nsec) / 1e9
    }
}
