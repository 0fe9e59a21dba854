import ArgumentParser
import Dispatch
import Glibc
import Logging
import StampedeService
import StampedeInventory
import Synchronization

/// The `stampede` command line: `serve` runs the service, `migrate` applies the schema.
@main
struct Stampede: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "stampede",
        abstract: "A flash-sale inventory service: sells every unit, never one more.",
        version: StampedeVersion.version,
        subcommands: [Serve.self, Migrate.self, Reconcile.self, PrintScript.self, Shards.self, ConfigReference.self],
        defaultSubcommand: Serve.self)
}

/// Options every subcommand shares.
struct CommonOptions: ParsableArguments {
    @Option(name: .shortAndLong, help: "Configuration file (JSON). STAMPEDE_* environment variables override it.")
    var config: String = "Config/stampede.json"

    /// Loads the configuration or exits with a message naming the bad key.
    func load() throws -> StampedeConfiguration {
        do {
            return try ConfigurationLoader.load(path: config)
        } catch {
            throw ValidationError(error.description)
        }
    }

    /// Bootstraps swift-log: text lines, or JSON lines with `log.format = json`.
    func makeLogger(_ configuration: StampedeConfiguration) -> Logger {
        let level = Logger.Level(rawValue: configuration.logLevel) ?? .info
        let json = configuration.logFormat == "json"
        let aggregator = LogAggregator.shared
        LoggingSystem.bootstrap { label in
            var handler: any LogHandler = json ? JSONLinesLogHandler(label: label) : StreamLogHandler.standardError(label: label)
            handler.logLevel = level
            // Repeated warnings (a flood while a store is down) become one line a second with a count.
            return aggregator.wrap(handler, label: label)
        }
        var logger = Logger(label: "stampede")
        logger.logLevel = level
        return logger
    }
}

/// `stampede serve`: runs until SIGINT or SIGTERM; SIGHUP reloads the configuration.
struct Serve: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Run the HTTP service.")

    @OptionGroup var options: CommonOptions

    func run() async throws {
        let configuration = try options.load()
        let logger = options.makeLogger(configuration)
        raiseFileLimit()
        let service = StampedeService(configuration: configuration, configurationPath: options.config, logger: logger)
        do {
            try await service.start()
        } catch {
            logger.critical("cannot start: \(error)")
            throw ExitCode(1)
        }
        // Writes the count of a warning flood that stopped (no later line would carry it).
        let flusher = Task {
            while !Task.isCancelled {
                try? await Task.sleep(nanoseconds: 250_000_000)
                LogAggregator.shared.flushDue()
            }
        }
        defer { flusher.cancel() }
        let signal = await SignalWaiter.wait(reloadingWith: {
            Task {
                switch await service.reload(change: .sighup) {
                case .success(let change): logger.notice("SIGHUP: configuration reloaded", metadata: ["applied": "\(change.applied)", "needs_restart": "\(change.needsRestart)"])
                case .failure(let error): logger.error("SIGHUP: configuration refused: \(error)")
                }
            }
        })
        logger.notice("received \(signal == SIGTERM ? "SIGTERM" : "SIGINT"), stopping")
        await service.stop()
    }

    /// Many concurrent buyers need many descriptors: raise the soft limit to the hard one.
    private func raiseFileLimit() {
        var limit = rlimit()
        if getrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit) == 0, limit.rlim_cur < limit.rlim_max {
            limit.rlim_cur = limit.rlim_max
            _ = setrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit)
        }
    }
}

/// `stampede migrate`: applies the missing schema versions and exits.
struct Migrate: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Apply the PostgreSQL schema migrations and exit.")

    @OptionGroup var options: CommonOptions

    func run() async throws {
        let configuration = try options.load()
        let logger = options.makeLogger(configuration)
        let applied = try await StampedeService.migrate(configuration: configuration)
        logger.notice("schema up to date", metadata: ["applied_now": "\(applied)"])
        print(applied.isEmpty ? "schema already up to date" : "applied migrations \(applied.map(String.init).joined(separator: ", "))")
    }
}

/// `stampede reconcile`: one reconciler pass on demand, printing what it repaired.
struct Reconcile: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Compare Redis with PostgreSQL and repair: stale or lost sale counters, stranded outbox entries, stock returns, due expiries.",
        discussion: "Exits 0 when nothing needed repair, 2 when something did (or would, with --dry-run), 1 when a store is unreachable.")

    @OptionGroup var options: CommonOptions

    @Flag(help: "Only read and print what would be repaired.")
    var dryRun = false

    @Option(help: "Treat outbox entries older than this many seconds as stranded (default: reconciler.outbox_grace_seconds).")
    var outboxGrace: Double?

    func run() async throws {
        let configuration = try options.load()
        var quiet = configuration
        quiet.logLevel = "error"  // the report goes to standard output; logs only for failures
        let logger = options.makeLogger(quiet)
        let report: ReconcileReport
        do {
            report = try await StampedeService.reconcile(configuration: configuration, dryRun: dryRun,
                                                         outboxGraceSeconds: outboxGrace, logger: logger)
        } catch {
            print("reconcile: \(error)")
            throw ExitCode(1)
        }
        print(dryRun ? "reconcile (dry run: nothing changed)" : "reconcile")
        for line in report.findings { print("  " + line) }
        for line in report.drifts { print("  drift: " + line) }
        for line in report.errors { print("  error: " + line) }
        let kinds = ReconcileReport.Kind.allCases.map { "\($0.rawValue)=\(report.counts[$0] ?? 0)" }
        print("  totals: " + kinds.joined(separator: " "))
        if !report.errors.isEmpty { throw ExitCode(1) }
        if report.total > 0 || !report.drifts.isEmpty { throw ExitCode(2) }
    }
}

/// Waits for SIGINT or SIGTERM (returned), running `reload` on each SIGHUP meanwhile.
enum SignalWaiter {
    static func wait(reloadingWith reload: @escaping @Sendable () -> Void) async -> Int32 {
        for sig in [SIGINT, SIGTERM, SIGHUP] { signal(sig, SIG_IGN) }
        let queue = DispatchQueue(label: "stampede.signals")
        return await withCheckedContinuation { continuation in
            let once = Once()
            var sources: [DispatchSourceSignal] = []
            for sig in [SIGINT, SIGTERM] {
                let source = DispatchSource.makeSignalSource(signal: sig, queue: queue)
                source.setEventHandler {
                    if once.claim() { continuation.resume(returning: sig) }
                }
                source.resume()
                sources.append(source)
            }
            let hup = DispatchSource.makeSignalSource(signal: SIGHUP, queue: queue)
            hup.setEventHandler(handler: reload)
            hup.resume()
            sources.append(hup)
            Retained.sources = sources
        }
    }

    /// Keeps the signal sources alive for the life of the process.
    private enum Retained {
        nonisolated(unsafe) static var sources: [DispatchSourceSignal] = []
    }

    /// Resumes the continuation once, whichever signal comes first.
    private final class Once: Sendable {
        private let claimed = Atomic<Bool>(false)
        func claim() -> Bool {
            claimed.compareExchange(expected: false, desired: true, ordering: .relaxed).exchanged
        }
    }
}
