import CStampedeSystem
import Glibc

/// A joinable POSIX thread running one closure: the one thread type of Stampede (event loops,
/// pool workers, test helpers).
///
/// Event loops block in `epoll_wait` and pool workers in blocking C clients, which must not happen
/// on Swift concurrency's cooperative threads; the standard library has no thread type without
/// Foundation, so this wraps `pthread_create`/`pthread_join`.
public struct SystemThread: Sendable {
    private let handle: pthread_t

    /// Starts a thread named `name` (visible in `top -H` and debuggers; 15 bytes at most) that
    /// runs `body`.
    public static func spawn(name: String, _ body: @escaping @Sendable () -> Void) throws(SystemCallError) -> SystemThread {
        let context = Unmanaged.passRetained(ThreadContext(name: name, body: body)).toOpaque()
        var handle = pthread_t()
        let code = pthread_create(&handle, nil, { argument in
            let context = Unmanaged<ThreadContext>.fromOpaque(argument!).takeRetainedValue()
            cstampede_set_current_thread_name(context.name)
            context.body()
            return nil
        }, context)
        guard code == 0 else {
            Unmanaged<ThreadContext>.fromOpaque(context).release()
            throw SystemCallError(call: "pthread_create", errno: code)
        }
        return SystemThread(handle: handle)
    }

    /// Whether the calling code runs on this thread (which must not join itself).
    public var isCurrent: Bool { pthread_equal(handle, pthread_self()) != 0 }

    /// Waits for the thread to finish. Must not be called from the thread itself.
    public func join() {
        pthread_join(handle, nil)
    }

    /// Lets the thread release its resources by itself when it finishes (it cannot join itself).
    public func detach() {
        pthread_detach(handle)
    }
}

/// What a new thread needs, passed through `pthread_create`'s single pointer argument.
private final class ThreadContext {
    let name: String
    let body: @Sendable () -> Void

    init(name: String, body: @escaping @Sendable () -> Void) {
        self.name = name
        self.body = body
    }
}
