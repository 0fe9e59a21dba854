import Foundation
import StampedeSystem

/// Options every scenario shares.
public struct CommonSettings: Sendable {
    public var target: TargetURL
    public var adminToken: String
    public var postgresURI: String?
    public var reportDirectory: String?
    public var threads: Int
    public var maxAttempts: Int
    public var requestTimeoutSeconds: Double
    public var quiet: Bool
    /// Names the run's sales (`<scenario>-<runID>-<n>`) and reports; nil: a new random one.
    public var runID: String?
    /// The options as typed, recorded in the report.
    public var options: [String: String]
    /// Where to write the run's ledger (`LedgerFile`) before the invariants are checked; nil: nowhere.
    public var ledgerPath: String?
    /// `--fail-if` thresholds, judged on the finished report.
    public var thresholds: [Threshold] = []

    public init(target: TargetURL, adminToken: String, postgresURI: String?, reportDirectory: String?, threads: Int,
                maxAttempts: Int, requestTimeoutSeconds: Double, quiet: Bool, runID: String? = nil, options: [String: String],
                ledgerPath: String? = nil) {
        self.ledgerPath = ledgerPath
        self.target = target
        self.adminToken = adminToken
        self.postgresURI = postgresURI
        self.reportDirectory = reportDirectory
        self.threads = threads
        self.maxAttempts = maxAttempts
        self.requestTimeoutSeconds = requestTimeoutSeconds
        self.quiet = quiet
        self.runID = runID
        self.options = options
    }
}

/// `rush` settings.
public struct RushSettings: Sendable {
    public var users: Int
    public var stock: Int
    public var perUserLimit: Int
    public var connections: Int
    /// Seconds between creating the sale and its opening (time to open the connections).
    public var leadSeconds: Int
    /// The sale's bucket count (`"buckets"`, 1…16): its stock spread over that many Redis slots.
    public var buckets: Int

    public init(users: Int, stock: Int, perUserLimit: Int, connections: Int, leadSeconds: Int, buckets: Int = 1) {
        self.users = users
        self.stock = stock
        self.perUserLimit = perUserLimit
        self.connections = connections
        self.leadSeconds = leadSeconds
        self.buckets = buckets
    }
}

/// `promo` and `soak` settings.
public struct PromoSettings: Sendable {
    public var sales: Int
    public var stock: Int
    public var perUserLimit: Int
    public var users: Int
    public var zipfExponent: Double
    public var mix: OperationMix
    public var model: TrafficModel
    public var connections: Int
    public var seed: UInt64
    /// Seconds between `/metrics` scrapes.
    public var scrapeEvery: Int

    public init(sales: Int, stock: Int, perUserLimit: Int, users: Int, zipfExponent: Double, mix: OperationMix,
                model: TrafficModel, connections: Int, seed: UInt64, scrapeEvery: Int) {
        self.sales = sales
        self.stock = stock
        self.perUserLimit = perUserLimit
        self.users = users
        self.zipfExponent = zipfExponent
        self.mix = mix
        self.model = model
        self.connections = connections
        self.seed = seed
        self.scrapeEvery = scrapeEvery
    }
}

/// Runs a scenario end to end: creates its sales, drives the load, proves the invariants,
/// writes the reports. Returns the report (its `invariants.passed` decides the exit status).
public enum ScenarioRunner {
    public static func rush(_ common: CommonSettings, _ rush: RushSettings) throws -> (RunReport, [String]) {
        let client = BlockingHTTPClient(target: common.target)
        let admin = SaleAdmin(client: client, token: common.adminToken)
        let runID = common.runID ?? RunID.make()
        let saleID = "rush-\(runID)"
        let nowWall = WallClock.seconds()
        let nowMono = MonotonicClock.now()
        let opensWall = nowWall.rounded(.down) + Double(max(1, rush.leadSeconds)) + 1
        try admin.create(SaleAdmin.Spec(saleID: saleID, sku: "sku-\(saleID)", priceCents: 1999, stock: rush.stock,
                                        perUserLimit: rush.perUserLimit, startsAt: opensWall, endsAt: opensWall + 86_400,
                                        buckets: rush.buckets))
        // Fire 20 ms after the opening second so the server's clock agrees the sale is live.
        let opensMono = nowMono + UInt64((opensWall - nowWall) * 1e9) + 20_000_000
        let threads = max(1, common.threads)
        let workloads = (0..<threads).map {
            RushWorkload(saleID: saleID, runID: runID, users: rush.users, loop: $0, loopCount: threads,
                         maxAttempts: common.maxAttempts, opensAt: opensMono)
        }
        var settings = LoadEngine.Settings(target: common.target, model: .closedLoop(durationSeconds: nil),
                                           connections: max(1, min(rush.connections, rush.users)), threads: threads)
        settings.requestTimeoutSeconds = common.requestTimeoutSeconds
        let before = MetricsScrape.sample(client, t: -1)
        let printer = ProgressPrinter(scenario: "rush", quiet: common.quiet)
        let result = try LoadEngine(settings: settings, workloads: workloads).run(startAt: opensMono) { printer.show($0) }
        printer.finish()
        var report = RunReport.measured(scenario: "rush", target: common.target, options: common.options, settings: settings, result: result)
        report.server.samples = [before, MetricsScrape.sample(client, t: result.elapsedSeconds)].compactMap { $0 }

        var ledger = RunLedger()
        var userWait = MicrosecondHistogram()
        var lastSale: UInt64 = 0
        for workload in workloads {
            ledger.merge(workload.ledger)
            userWait.add(workload.userWait)
            lastSale = max(lastSale, workload.lastSale)
        }
        let buyOutcomes = report.outcomes[LoadRoute.buy.name] ?? [:]
        report.figures = [
            "users": Double(rush.users), "stock": Double(rush.stock), "per_user_limit": Double(rush.perUserLimit),
            "sold_units": Double(ledger.acknowledged.values.reduce(0) { $0 + $1.quantity }),
            "acknowledged_orders": Double(ledger.acknowledged.count),
            "sold_out_answers": Double(buyOutcomes["409 sold_out"] ?? 0),
            "overload_retries": Double(ledger.overloadRetries), "gave_up": Double(ledger.gaveUp),
            "unknown_outcomes": Double(ledger.unknownKeys.count),
            "time_to_sell_out_s": lastSale > opensMono ? Double(lastSale - opensMono) / 1e9 : 0,
            "user_wait_p50_us": Double(userWait.microseconds(at: 50)), "user_wait_p99_us": Double(userWait.microseconds(at: 99)),
            "user_wait_max_us": Double(userWait.count == 0 ? 0 : userWait.histogram.max),
        ]
        return try finish(&report, common: common, admin: admin, saleIDs: [saleID], ledger: ledger, runID: runID)
    }

    public static func promo(_ common: CommonSettings, _ promo: PromoSettings, scenario: String) throws -> (RunReport, [String]) {
        let client = BlockingHTTPClient(target: common.target)
        let scrapeClient = BlockingHTTPClient(target: common.target)
        let admin = SaleAdmin(client: client, token: common.adminToken)
        let runID = common.runID ?? RunID.make()
        let now = WallClock.seconds().rounded(.down)
        let saleIDs = (0..<max(1, promo.sales)).map { "\(scenario)-\(runID)-\($0)" }
        for saleID in saleIDs {
            try admin.create(SaleAdmin.Spec(saleID: saleID, sku: "sku-\(saleID)", priceCents: 4999, stock: promo.stock,
                                            perUserLimit: promo.perUserLimit, startsAt: now - 60, endsAt: now + 86_400))
        }
        let threads = max(1, common.threads)
        let workloads = (0..<threads).map {
            PromoWorkload(runID: runID, loop: $0, sales: saleIDs, zipfExponent: promo.zipfExponent, mix: promo.mix,
                          users: max(1, promo.users), seed: promo.seed, maxAttempts: common.maxAttempts)
        }
        var settings = LoadEngine.Settings(target: common.target, model: promo.model, connections: max(1, promo.connections), threads: threads)
        settings.requestTimeoutSeconds = common.requestTimeoutSeconds
        var samples: [ServerSample] = []
        if let first = MetricsScrape.sample(scrapeClient, t: 0) { samples.append(first) }
        let printer = ProgressPrinter(scenario: scenario, quiet: common.quiet)
        let every = max(1, promo.scrapeEvery)
        let result = try LoadEngine(settings: settings, workloads: workloads).run { snapshot in
            printer.show(snapshot)
            if (snapshot.second + 1) % every == 0, let sample = MetricsScrape.sample(scrapeClient, t: Double(snapshot.second + 1)) {
                samples.append(sample)
            }
        }
        printer.finish()
        if let last = MetricsScrape.sample(scrapeClient, t: result.elapsedSeconds) { samples.append(last) }
        var report = RunReport.measured(scenario: scenario, target: common.target, options: common.options, settings: settings, result: result)
        report.server.samples = samples

        var ledger = RunLedger()
        for workload in workloads { ledger.merge(workload.ledger) }
        report.figures = [
            "sales": Double(saleIDs.count), "stock_per_sale": Double(promo.stock), "users": Double(promo.users),
            "zipf_exponent": promo.zipfExponent, "acknowledged_orders": Double(ledger.acknowledged.count),
            "paid_orders": Double(ledger.paid.count), "cancelled_orders": Double(ledger.cancelled.count),
            "overload_retries": Double(ledger.overloadRetries), "gave_up": Double(ledger.gaveUp),
            "unknown_outcomes": Double(ledger.unknownKeys.count),
        ]
        report.figures.merge(Drift.figures(timeline: report.timeline, samples: samples)) { _, new in new }
        return try finish(&report, common: common, admin: admin, saleIDs: saleIDs, ledger: ledger, runID: runID)
    }

    /// Proves the invariants and writes the reports; returns the report and the files written.
    private static func finish(_ report: inout RunReport, common: CommonSettings, admin: SaleAdmin, saleIDs: [String],
                               ledger: RunLedger, runID: String) throws -> (RunReport, [String]) {
        // Written first: it is the client's record of what was acknowledged, whatever the checks find.
        if let path = common.ledgerPath { try LedgerFile(saleIDs: saleIDs, ledger: ledger).write(to: path) }
        let probe = InvariantProbe(admin: admin, postgresURI: common.postgresURI)
        let checks = try probe.check(saleIDs: saleIDs, ledger: ledger)
        report.invariants = RunReport.InvariantsSection(passed: checks.allSatisfy(\.passed), checks: checks)
        if !common.thresholds.isEmpty { report.thresholds = Threshold.evaluate(common.thresholds, on: report) }
        var written: [String] = []
        if let directory = common.reportDirectory {
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
            let base = "\(directory)/\(report.scenario)-\(runID)"
            try report.encoded().write(to: URL(fileURLWithPath: base + ".json"))
            try Data(HTMLReport.render(report).utf8).write(to: URL(fileURLWithPath: base + ".html"))
            written = [base + ".json", base + ".html"]
        }
        return (report, written)
    }
}

/// Drift of a long run: the first and last tenth of the timeline compared, and the server's memory.
public enum Drift {
    public static func figures(timeline: [TimelinePoint], samples: [ServerSample]) -> [String: Double] {
        var figures: [String: Double] = [:]
        let busy = timeline.filter { $0.completed > 0 }
        if busy.count >= 4 {
            let window = max(1, busy.count / 10)
            let first = busy.prefix(window), last = busy.suffix(window)
            func mean(_ points: ArraySlice<TimelinePoint>, _ value: (TimelinePoint) -> Double) -> Double {
                points.map(value).reduce(0, +) / Double(points.count)
            }
            figures["p99_first_window_us"] = mean(first) { Double($0.p99Us) }.rounded()
            figures["p99_last_window_us"] = mean(last) { Double($0.p99Us) }.rounded()
            figures["p50_first_window_us"] = mean(first) { Double($0.p50Us) }.rounded()
            figures["p50_last_window_us"] = mean(last) { Double($0.p50Us) }.rounded()
            figures["throughput_first_window_rps"] = mean(first) { Double($0.completed) }.rounded()
            figures["throughput_last_window_rps"] = mean(last) { Double($0.completed) }.rounded()
        }
        let memory = samples.filter { $0.residentBytes != nil }
        if let first = memory.first, let last = memory.last, last.t > first.t {
            figures["memory_first_bytes"] = first.residentBytes!
            figures["memory_last_bytes"] = last.residentBytes!
            figures["memory_growth_bytes_per_min"] = ((last.residentBytes! - first.residentBytes!) / (last.t - first.t) * 60).rounded()
        }
        return figures
    }
}
