import Foundation
import Synchronization

/// Runs blocking work (socket clients) on dedicated OS threads and awaits the results without
/// blocking a Swift-concurrency thread — the service under test runs its tasks on those.
enum BlockingThreads {
    /// Runs `work(i)` for i in 0..<count, each on its own thread; results in index order.
    static func run<T: Sendable>(_ count: Int, _ work: @escaping @Sendable (Int) -> T) async -> [T] {
        await withCheckedContinuation { (continuation: CheckedContinuation<[T], Never>) in
            let results = Mutex<[Int: T]>([:])
            for index in 0..<count {
                let thread = Thread {
                    let value = work(index)
                    let done = results.withLock { map -> [T]? in
                        map[index] = value
                        return map.count == count ? (0..<count).map { map[$0]! } : nil
                    }
                    if let done { continuation.resume(returning: done) }
                }
                thread.stackSize = 1 << 20
                thread.start()
            }
        }
    }

    /// Runs one blocking call on its own thread and returns (or throws) its result.
    static func perform<T: Sendable>(_ work: @escaping @Sendable () throws -> T) async throws -> T {
        try await run(1) { _ in Result { try work() } }[0].get()
    }
}
