import Glibc
import Synchronization

/// One thread running an epoll loop for non-blocking client connections (Redis, PostgreSQL): the
/// descriptors it watches call their handlers on this thread, timers fire here, and other threads
/// hand it work with `execute`.
///
/// A connection driven by a reactor never blocks a thread on its socket: a purchase batch's Redis
/// call and its group commit are written, and the thread goes on with whatever else is ready until
/// the answers arrive. Everything registered with a reactor is confined to its thread, so the
/// connections need no locks.
///
/// epoll is used level-triggered (as in the HTTP event loops): a handler that reads less than what
/// is buffered is called again on the next iteration.
///
/// Thread-confinement: `register`, `modify`, `unregister`, `schedule`, `cancel` and `now` are for
/// the reactor's own thread only (inside handlers, timers and work it runs); `execute`,
/// `isCurrent` and `shutdown` may be called from any thread. That is why the class is
/// `@unchecked Sendable`.
public final class Reactor: @unchecked Sendable {
    /// Called on the reactor thread with the epoll events (`EPOLLIN`, `EPOLLOUT`, `EPOLLERR`, …)
    /// of a registered descriptor.
    public typealias Handler = (_ events: UInt32) -> Void

    /// A descriptor registered with a reactor.
    public struct Registration: Hashable, Sendable {
        fileprivate let token: UInt64
    }

    /// A timer scheduled on a reactor, to cancel it.
    public struct Timer: Hashable, Sendable {
        fileprivate let id: UInt64
    }

    /// The reactor's name; its thread's name.
    public let name: String

    private struct Mailbox {
        var work: [@Sendable () -> Void] = []
        var wakeupPending = false
        var stopRequested = false
        var closed = false
    }

    private static let wakeToken: UInt64 = 0
    private static let maxEvents = 128

    private let epollFD: Int32
    private let wakeFD: Int32
    private let mailbox = Mutex(Mailbox())
    private let threadID = Atomic<UInt>(0)
    private let thread = Mutex<SystemThread?>(nil)

    /// A registered descriptor's handler. The epoll token of slot `i` is
    /// `generation << 32 | (i + 1)`: an event still queued for a descriptor unregistered in the
    /// same iteration names an old generation and is dropped, even when its slot was reused.
    private struct HandlerSlot {
        var generation: UInt32 = 0
        var handler: Handler?
    }

    // Reactor-thread state.
    /// Indexed by slot: an event finds its handler without hashing.
    private var handlerSlots: [HandlerSlot] = []
    private var freeSlots: [Int] = []
    private var timers = TimerHeap()
    private var drained: [@Sendable () -> Void] = []
    private var iterationEndHooks: [(hook: IterationHook, body: () -> Void)] = []
    private var nextIterationHook = 0
    /// One-shot work for the end of the current iteration (`atIterationEnd`), and its spare buffer.
    private var iterationEndWork: [() -> Void] = []
    private var runningIterationEndWork: [() -> Void] = []
    /// The time of the current iteration, from the monotonic clock, in nanoseconds as
    /// `MonotonicClock.now()` gives it: the start of the work an event handler does, for handlers
    /// that would otherwise read the clock again.
    public private(set) var nowNanos: UInt64
    /// The same time in seconds.
    public var now: Double { Double(nowNanos) / 1e9 }

    /// Creates the epoll instance and starts the reactor's thread.
    public init(name: String) throws(SystemCallError) {
        let epollFD = try System.epollCreate()
        let wakeFD: Int32
        do {
            wakeFD = try System.eventFD()
            try System.epollControl(epollFD, operation: EPOLL_CTL_ADD, fd: wakeFD, events: EPOLLIN.rawValue, token: Self.wakeToken)
        } catch {
            System.close(epollFD)
            throw error
        }
        self.name = name
        self.epollFD = epollFD
        self.wakeFD = wakeFD
        self.nowNanos = MonotonicClock.now()
        let started = try SystemThread.spawn(name: name) { [self] in run() }
        thread.withLock { $0 = started }
    }

    deinit {
        // The thread holds a reference while it runs, so a reactor is only freed once stopped.
        System.close(epollFD)
        System.close(wakeFD)
    }

    /// Whether the calling code runs on this reactor's thread.
    public var isCurrent: Bool { threadID.load(ordering: .acquiring) == pthread_self() }

    /// Runs `work` on the reactor's thread, after what was handed over before it. From any
    /// thread (on the reactor's own thread it runs on the next iteration). Dropped once the
    /// reactor has stopped: `work` must not be the only way its caller learns of an outcome
    /// after `shutdown`.
    public func execute(_ work: @escaping @Sendable () -> Void) {
        mailbox.withLock { mailbox in
            guard !mailbox.closed else { return }
            mailbox.work.append(work)
            signalIfNeeded(&mailbox)
        }
    }

    /// Runs `work` on the reactor's thread and waits for it: inline when called there, else
    /// handed over and waited for. On a reactor that has stopped, `work` runs on the calling
    /// thread (nothing runs on the reactor's any more). Must not be called from a reactor's
    /// handler for another reactor that may wait for this one.
    public func executeAndWait(_ work: @escaping @Sendable () -> Void) {
        if isCurrent {
            work()
            return
        }
        let done = ThreadLock(false)
        let condition = ThreadCondition()
        let accepted = mailbox.withLock { mailbox -> Bool in
            guard !mailbox.closed, !mailbox.stopRequested else { return false }
            mailbox.work.append {
                work()
                done.withLock { $0 = true }
                condition.broadcast()
            }
            signalIfNeeded(&mailbox)
            return true
        }
        guard accepted else {
            // Stopped, or stopping (the thread runs no more work once asked to stop): once its
            // thread has left the loop nothing else touches the reactor's state.
            while threadID.load(ordering: .acquiring) != 0 { System.sleep(nanoseconds: 1_000_000) }
            work()
            return
        }
        done.wait(on: condition) { finished in finished ? .done(()) : .wait(until: nil) }
    }

    /// Stops the thread after the current iteration and waits for it (from another thread), or
    /// lets it end on its own (from the reactor's thread). Registered handlers are dropped without
    /// a call: their owners close their descriptors. Idempotent.
    public func shutdown() {
        mailbox.withLock { mailbox in
            guard !mailbox.closed else { return }
            mailbox.stopRequested = true
            signalIfNeeded(&mailbox)
        }
        guard let thread = thread.withLock({ state -> SystemThread? in defer { state = nil }; return state }) else { return }
        if thread.isCurrent { thread.detach() } else { thread.join() }
    }

    private func signalIfNeeded(_ mailbox: inout Mailbox) {
        guard !mailbox.wakeupPending else { return }
        mailbox.wakeupPending = true
        try? System.eventFDSignal(wakeFD)
    }

    // MARK: Reactor thread

    /// Watches `fd` for `events` and calls `handler` on this thread when some are ready.
    public func register(fd: Int32, events: UInt32, handler: @escaping Handler) throws(SystemCallError) -> Registration {
        let slot: Int
        if let free = freeSlots.popLast() {
            slot = free
        } else {
            slot = handlerSlots.count
            handlerSlots.append(HandlerSlot())
        }
        handlerSlots[slot].generation &+= 1
        let token = UInt64(handlerSlots[slot].generation) << 32 | UInt64(slot + 1)
        do {
            try System.epollControl(epollFD, operation: EPOLL_CTL_ADD, fd: fd, events: events, token: token)
        } catch {
            freeSlots.append(slot)
            throw error
        }
        handlerSlots[slot].handler = handler
        return Registration(token: token)
    }

    /// The slot `token` names, if its registration is still current (same generation).
    @inline(__always)
    private func currentSlot(of token: UInt64) -> Int? {
        let slot = Int(truncatingIfNeeded: token & 0xFFFF_FFFF) - 1
        guard slot >= 0, slot < handlerSlots.count, UInt64(handlerSlots[slot].generation) == token >> 32 else { return nil }
        return slot
    }

    /// Changes the events watched for a registered `fd`.
    public func modify(_ registration: Registration, fd: Int32, events: UInt32) throws(SystemCallError) {
        try System.epollControl(epollFD, operation: EPOLL_CTL_MOD, fd: fd, events: events, token: registration.token)
    }

    /// Stops watching `fd` (call it before closing `fd`); its handler is not called again.
    public func unregister(_ registration: Registration, fd: Int32) {
        try? System.epollControl(epollFD, operation: EPOLL_CTL_DEL, fd: fd, events: 0, token: registration.token)
        guard let slot = currentSlot(of: registration.token), handlerSlots[slot].handler != nil else { return }
        handlerSlots[slot].handler = nil
        freeSlots.append(slot)
    }

    /// Calls `body` on this thread once `seconds` have passed (from `now`).
    @discardableResult
    public func schedule(after seconds: Double, _ body: @escaping () -> Void) -> Timer {
        Timer(id: timers.insert(deadline: now + max(0, seconds), body))
    }

    /// Cancels a timer that has not fired (a fired or unknown one is ignored).
    public func cancel(_ timer: Timer) {
        timers.cancel(timer.id)
    }

    /// Calls `work` once, at the end of the current iteration: after every ready descriptor's
    /// handler and the due timers ran, before the `onIterationEnd` hooks. For work that gains from
    /// seeing everything this iteration read (a shard starts a batch once every purchase that
    /// arrived with the first one is queued). Reactor thread only.
    public func atIterationEnd(_ work: @escaping () -> Void) {
        iterationEndWork.append(work)
    }

    /// Calls `body` at the end of every iteration, after the ready descriptors' handlers and the
    /// due timers ran: for work that is cheaper once per iteration than once per event (an HTTP
    /// loop writes the answers its connections gathered).
    ///
    /// The reactor holds `body` until `removeIterationEndHook` (a hook may so hold its owner
    /// strongly: a weak capture would give the owner a side table, and every retain of it would
    /// take the runtime's slow path). On the reactor's thread.
    @discardableResult
    public func onIterationEnd(_ body: @escaping () -> Void) -> IterationHook {
        nextIterationHook += 1
        let hook = IterationHook(id: nextIterationHook)
        iterationEndHooks.append((hook, body))
        return hook
    }

    /// Stops calling the hook `onIterationEnd` returned and releases it. On the reactor's thread.
    public func removeIterationEndHook(_ hook: IterationHook) {
        iterationEndHooks.removeAll { $0.hook == hook }
    }

    /// A hook registered with `onIterationEnd`.
    public struct IterationHook: Hashable, Sendable {
        let id: Int
    }

    private func run() {
        threadID.store(pthread_self(), ordering: .releasing)
        let events = UnsafeMutableBufferPointer<epoll_event>.allocate(capacity: Self.maxEvents)
        defer {
            events.deallocate()
            threadID.store(0, ordering: .releasing)
            mailbox.withLock { $0.closed = true; $0.work.removeAll() }
        }
        while true {
            nowNanos = MonotonicClock.now()
            let timeout: UInt64
            if let next = timers.nextDeadline {
                timeout = next <= now ? 0 : UInt64(((next - now) * 1e9).rounded(.up))
            } else {
                timeout = 3_600_000_000_000
            }
            let count: Int
            do {
                count = try System.epollWait(epollFD, events: events, timeoutNanoseconds: timeout)
            } catch {
                return
            }
            nowNanos = MonotonicClock.now()
            for index in 0..<count {
                let event = events[index]
                if event.data.u64 == Self.wakeToken {
                    if drainMailbox() { return }
                } else {
                    if let slot = currentSlot(of: event.data.u64) { handlerSlots[slot].handler?(event.events) }
                }
            }
            while let due = timers.popDue(now: now) { due() }
            while !iterationEndWork.isEmpty {
                swap(&iterationEndWork, &runningIterationEndWork)
                for work in runningIterationEndWork { work() }
                runningIterationEndWork.removeAll(keepingCapacity: true)
            }
            for index in iterationEndHooks.indices { iterationEndHooks[index].body() }
        }
    }

    /// Runs the work handed over by other threads; returns whether a stop was requested.
    private func drainMailbox() -> Bool {
        try? System.eventFDDrain(wakeFD)
        let stop = mailbox.withLock { mailbox in
            swap(&mailbox.work, &drained)
            mailbox.wakeupPending = false
            return mailbox.stopRequested
        }
        if stop { return true }
        for work in drained { work() }
        drained.removeAll(keepingCapacity: true)
        return false
    }
}

/// A reactor's timers: a binary min-heap of deadlines; cancelled timers are dropped when they
/// reach the top.
private struct TimerHeap {
    private var heap: [(deadline: Double, id: UInt64)] = []
    private var bodies: [UInt64: () -> Void] = [:]
    private var nextID: UInt64 = 1

    var nextDeadline: Double? {
        mutating get {
            while let top = heap.first, bodies[top.id] == nil { removeTop() }
            return heap.first?.deadline
        }
    }

    mutating func insert(deadline: Double, _ body: @escaping () -> Void) -> UInt64 {
        let id = nextID
        nextID += 1
        bodies[id] = body
        heap.append((deadline, id))
        var child = heap.count - 1
        while child > 0 {
            let parent = (child - 1) / 2
            guard heap[child].deadline < heap[parent].deadline else { break }
            heap.swapAt(child, parent)
            child = parent
        }
        return id
    }

    mutating func cancel(_ id: UInt64) {
        bodies[id] = nil
    }

    mutating func popDue(now: Double) -> (() -> Void)? {
        while let top = heap.first {
            guard let body = bodies[top.id] else { removeTop(); continue }
            guard top.deadline <= now else { return nil }
            removeTop()
            bodies[top.id] = nil
            return body
        }
        return nil
    }

    private mutating func removeTop() {
        let last = heap.removeLast()
        guard !heap.isEmpty else { return }
        heap[0] = last
        var parent = 0
        while true {
            let left = 2 * parent + 1, right = left + 1
            var smallest = parent
            if left < heap.count, heap[left].deadline < heap[smallest].deadline { smallest = left }
            if right < heap.count, heap[right].deadline < heap[smallest].deadline { smallest = right }
            if smallest == parent { return }
            heap.swapAt(parent, smallest)
            parent = smallest
        }
    }
}
