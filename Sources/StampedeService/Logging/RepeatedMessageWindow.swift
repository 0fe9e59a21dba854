/// The decision behind log aggregation, as a pure value (no clock, no I/O): for each message
/// (level, logger label, text), the first occurrence in an interval is written and the rest are
/// counted; the next line written for it — its next occurrence after the interval, or a summary
/// once the interval has passed — carries that count. So a message repeated thousands of times a
/// second (every purchase refused while PostgreSQL is down) is at most one line per interval.
struct RepeatedMessageWindow<Sample>: Sendable where Sample: Sendable {
    /// What identifies "the same" message.
    struct Key: Hashable, Sendable {
        var level: Int
        var label: String
        var message: String
    }

    /// What to do with one occurrence.
    enum Decision: Equatable {
        /// Write it; `repeated` occurrences of it were left out since its last line.
        case write(repeated: Int)
        /// Leave it out (it is counted).
        case suppress
    }

    /// A summary line due for a message that was left out and not seen since.
    struct Summary {
        var key: Key
        var repeated: Int
        /// The first occurrence that was left out (its metadata carries one request id).
        var sample: Sample
    }

    private struct Entry {
        var windowStart: Double
        var suppressed: Int
        var sample: Sample?
    }

    let interval: Double
    /// Past this many distinct messages, new ones are written as they come (never lost).
    let capacity: Int
    private var entries: [Key: Entry] = [:]

    init(interval: Double, capacity: Int = 1024) {
        self.interval = interval
        self.capacity = capacity
    }

    var trackedCount: Int { entries.count }

    /// One occurrence of `key` at `now` (seconds, monotonic).
    mutating func occurrence(_ key: Key, now: Double, sample: @autoclosure () -> Sample) -> Decision {
        if var entry = entries[key] {
            if now - entry.windowStart < interval {
                if entry.suppressed == 0 { entry.sample = sample() }
                entry.suppressed += 1
                entries[key] = entry
                return .suppress
            }
            entries[key] = Entry(windowStart: now, suppressed: 0, sample: nil)
            return .write(repeated: entry.suppressed)
        }
        if entries.count >= capacity {
            _ = expire(now: now)
            if entries.count >= capacity { return .write(repeated: 0) }
        }
        entries[key] = Entry(windowStart: now, suppressed: 0, sample: nil)
        return .write(repeated: 0)
    }

    /// The summaries due at `now`: messages left out in an interval that has passed and not
    /// seen since. Each starts a new interval (so it is still at most one line per interval);
    /// quiet messages are forgotten.
    mutating func expire(now: Double) -> [Summary] {
        var due: [Summary] = []
        for (key, entry) in entries where now - entry.windowStart >= interval {
            if entry.suppressed > 0, let sample = entry.sample {
                due.append(Summary(key: key, repeated: entry.suppressed, sample: sample))
                entries[key] = Entry(windowStart: now, suppressed: 0, sample: nil)
            } else {
                entries[key] = nil
            }
        }
        return due
    }
}
