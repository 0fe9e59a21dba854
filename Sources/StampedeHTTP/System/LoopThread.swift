import CStampedeSystem
import Glibc

/// A joinable POSIX thread running one closure.
///
/// Event loops need dedicated threads that block in `epoll_wait`; the Swift standard library has
/// no thread type without Foundation, so this wraps `pthread_create`/`pthread_join`.
struct LoopThread: Sendable {
    private let handle: pthread_t

    /// Starts a thread named `name` (visible in `top -H` and debuggers) that runs `body`.
    static func spawn(name: String, _ body: @escaping @Sendable () -> Void) throws(SystemCallError) -> LoopThread {
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
        return LoopThread(handle: handle)
    }

    /// Waits for the thread to finish. Must not be called from the thread itself.
    func join() {
        pthread_join(handle, nil)
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
