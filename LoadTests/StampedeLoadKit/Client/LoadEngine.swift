import StampedeSystem
import Synchronization

/// Runs a traffic model over several loop threads and reports progress once a second.
///
/// Phase one opens every connection (before the clock starts, like shoppers with the page open);
/// phase two starts all loops at the same instant `start` and waits for them.
public final class LoadEngine {
    public struct Settings: Sendable {
        public var target: TargetURL
        public var model: TrafficModel
        public var connections: Int
        public var threads: Int
        /// Requests without an answer after this long are failed as `error timeout`.
        public var requestTimeoutSeconds: Double = 30
        /// The run is cut off (in-flight work abandoned) this long after the traffic should have ended.
        public var graceSeconds: Double = 60

        public init(target: TargetURL, model: TrafficModel, connections: Int, threads: Int) {
            self.target = target
            self.model = model
            self.connections = connections
            self.threads = threads
        }
    }

    /// What the engine produced.
    public struct Result: Sendable {
        public var measurements: Measurements
        public var timeline: [TimelinePoint]
        public var startWall: Double
        public var elapsedSeconds: Double
        public var connected: Int
        public var connectFailures: Int
        public var abandoned: Int
        public var lastConnectError: String?
    }

    public let settings: Settings
    private let workloads: [Workload]

    /// `workloads` has one workload per thread (`settings.threads` of them).
    public init(settings: Settings, workloads: [Workload]) {
        precondition(workloads.count == settings.threads && settings.threads > 0)
        self.settings = settings
        self.workloads = workloads
    }

    /// Runs the traffic; `startAt` (monotonic ns) delays the start (a sale opening at t0).
    /// `progress` is called on the calling thread once per finished second.
    public func run(startAt: UInt64? = nil, progress: (ProgressSnapshot) -> Void) throws -> Result {
        let threads = settings.threads
        let perLoop = (0..<threads).map { settings.connections / threads + ($0 < settings.connections % threads ? 1 : 0) }
        // The recorder needs the start time, fixed only once the connections are open: the loops
        // are built with a placeholder recorder and given the real one before they run.
        let prepareDeadline = MonotonicClock.now() + 30_000_000_000
        let probeRecorder = RunRecorder(start: 0)
        var loops: [LoadLoop] = []
        for index in 0..<threads {
            loops.append(try LoadLoop(id: index, loopCount: threads, target: settings.target, model: settings.model,
                                      connections: perLoop[index], workload: workloads[index], recorder: probeRecorder,
                                      requestTimeout: UInt64(settings.requestTimeoutSeconds * 1e9)))
        }
        let connected = Mutex(0)
        Self.onThreads(loops) { loop in
            let count = loop.prepare(deadline: prepareDeadline)
            connected.withLock { $0 += count }
        }
        let openConnections = connected.withLock { $0 }
        if openConnections == 0 {
            throw LoadError.cannotConnect(settings.target.description, loops.compactMap(\.lastError).first ?? "no connection opened")
        }

        let start = max(startAt ?? 0, MonotonicClock.now() + 5_000_000)
        let recorder = RunRecorder(start: start)
        // The threads that prepared the loops have ended (joined through the group): safe to hand over.
        for loop in loops { loop.recorder = recorder }
        let expected: Double
        var closedEnd: UInt64?
        switch settings.model {
        case .openLoop(let schedule): expected = schedule.durationSeconds
        case .closedLoop(let duration):
            expected = duration ?? 3600
            if let duration { closedEnd = start + UInt64(duration * 1e9) }
        }
        let closedLoopEnd = closedEnd
        let hardDeadline = start + UInt64((expected + settings.graceSeconds) * 1e9)
        let finished = Atomic<Int>(0)
        let loopThreads = loops.map { loop in
            Self.spawn(name: "load-\(loop.id)") {
                loop.run(start: start, closedLoopEnd: closedLoopEnd, hardDeadline: hardDeadline)
                finished.add(1, ordering: .releasing)
            }
        }

        let startWall = WallClock.seconds() + (Double(start) - Double(MonotonicClock.now())) / 1e9
        var timeline: [Int: SecondAccumulator] = [:]
        var reported = 0
        var totals = SecondAccumulator()
        while finished.load(ordering: .acquiring) < loops.count {
            System.sleep(nanoseconds: 50_000_000)
            let now = MonotonicClock.now()
            guard now > start else { continue }
            let current = Int((now - start) / 1_000_000_000)
            // A completion is recorded right after its clock read: one second of slack is enough.
            guard current - 1 > reported else { continue }
            for (second, accumulator) in recorder.takeSeconds(before: current - 1) {
                timeline[second, default: SecondAccumulator()].merge(accumulator)
                totals.merge(accumulator)
            }
            while reported < current - 1 {
                let point = timeline[reported]?.point(t: reported) ?? SecondAccumulator().point(t: reported)
                progress(ProgressSnapshot(second: reported, last: point, totals: totals.point(t: reported)))
                reported += 1
            }
        }
        for thread in loopThreads { thread.join() }
        let elapsed = Double(MonotonicClock.now() &- start) / 1e9
        for (second, accumulator) in recorder.takeSeconds(before: Int.max) {
            timeline[second, default: SecondAccumulator()].merge(accumulator)
        }
        let lastSecond = timeline.keys.max() ?? -1
        let points = lastSecond < 0 ? [] : (0...lastSecond).map { timeline[$0]?.point(t: $0) ?? SecondAccumulator().point(t: $0) }
        return Result(measurements: recorder.snapshot, timeline: points, startWall: startWall, elapsedSeconds: elapsed,
                      connected: openConnections, connectFailures: loops.reduce(0) { $0 + $1.connectFailures },
                      abandoned: loops.reduce(0) { $0 + $1.abandoned }, lastConnectError: loops.compactMap(\.lastError).first)
    }

    /// Runs `body` for each loop on its own thread and waits for all.
    private static func onThreads(_ loops: [LoadLoop], _ body: @escaping @Sendable (LoadLoop) -> Void) {
        let threads = loops.map { loop in Self.spawn(name: "load-\(loop.id)") { body(loop) } }
        for thread in threads { thread.join() }
    }

    /// Starts a loop thread; failing to create one means the process is out of resources.
    private static func spawn(name: String, _ body: @escaping @Sendable () -> Void) -> SystemThread {
        do {
            return try SystemThread.spawn(name: name, body)
        } catch {
            preconditionFailure("starting thread \(name): \(error)")
        }
    }
}

/// The figures behind one progress line.
public struct ProgressSnapshot: Sendable {
    /// The second just finished (from 0).
    public var second: Int
    /// That second alone.
    public var last: TimelinePoint
    /// Everything so far (percentiles are not meaningful here and are left out of the line).
    public var totals: TimelinePoint
}

/// Why a run could not go ahead.
public enum LoadError: Error, CustomStringConvertible {
    case cannotConnect(String, String)
    case setup(String)
    case invalidOption(String)

    public var description: String {
        switch self {
        case .cannotConnect(let url, let why): "could not connect to \(url): \(why)"
        case .setup(let why): "setup failed: \(why)"
        case .invalidOption(let why): why
        }
    }
}
