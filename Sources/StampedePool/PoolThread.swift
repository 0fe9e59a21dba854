import Glibc

/// A joinable pthread running one closure: the home of one pool worker and its connection.
///
/// Foundation's `Thread` is not available to these modules, and Swift concurrency's cooperative
/// threads must not block, so blocking C clients get threads of their own.
struct PoolThread: Sendable {
    private let handle: pthread_t

    private final class Entry {
        let body: @Sendable () -> Void
        init(_ body: @escaping @Sendable () -> Void) { self.body = body }
    }

    /// Starts a thread running `body`; thread creation failing means the process is out of resources.
    init(name: String, _ body: @escaping @Sendable () -> Void) {
        let entry = Unmanaged.passRetained(Entry(body)).toOpaque()
        var handle = pthread_t()
        let result = pthread_create(&handle, nil, { context in
            Unmanaged<Entry>.fromOpaque(context!).takeRetainedValue().body()
            return nil
        }, entry)
        precondition(result == 0, "pthread_create for \(name) failed: \(String(cString: strerror(result)))")
        self.handle = handle
    }

    /// Whether the calling code runs on this thread (which must not join itself).
    var isCurrent: Bool { pthread_equal(handle, pthread_self()) != 0 }

    /// Waits for the thread to finish.
    func join() { pthread_join(handle, nil) }

    /// Lets the thread release its resources by itself when it finishes (it cannot join itself).
    func detach() { pthread_detach(handle) }
}
