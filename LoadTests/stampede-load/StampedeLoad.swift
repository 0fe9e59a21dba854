import ArgumentParser
import Foundation
import StampedeLoadKit

/// The load-test harness: flash-sale scenarios against a running Stampede, honest latency,
/// invariants proven afterwards, JSON and HTML reports.
@main
struct StampedeLoad: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "stampede-load",
        abstract: "Flash-sale load generator for Stampede: scenarios, coordinated-omission-correct latency, invariant checks, reports.",
        subcommands: [Run.self, Compare.self, Merge.self, Verify.self])
}

/// The exit statuses: an invariant violation outranks a missed threshold.
enum ExitStatus {
    static let invariantViolated: Int32 = 1
    static let runFailed: Int32 = 2
    static let thresholdMissed: Int32 = 3
}

struct Run: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run a scenario (exit 0: invariants hold and every --fail-if passes; 1: an invariant is violated; 2: the run could not be done; 3: a --fail-if threshold was missed).",
        subcommands: [Rush.self, Promo.self, Soak.self])
}

/// Options of every scenario.
struct ScenarioOptions: ParsableArguments {
    @Option(help: "Stampede's base URL: http:// or https://, a host name or IPv4 address, a port.")
    var url = "http://127.0.0.1:8080"
    @Option(help: "HTTPS: a PEM file of the authorities to trust (e.g. a self-signed certificate) instead of the system's.")
    var cacert: String?
    @Flag(help: "HTTPS: do not check the server's certificate (a throw-away test certificate).")
    var insecure = false
    @Option(name: .customLong("fail-if"), help: ArgumentHelp("Exit 3 unless the run meets this threshold; repeatable or comma-separated, e.g. 'p99<50ms,error_rate<0.01'. Figures: [ROUTE.]p50|p90|p99|p999|max|mean (with us, ms or s), error_rate, overload_rate, success_rate, throughput, lag_p50|lag_p99|lag_max."))
    var failIf: [String] = []
    @Option(help: "Folder for the JSON and HTML reports (created if missing).")
    var report: String?
    @Option(help: "PostgreSQL URI (libpq) to prove the invariants from the orders table, e.g. postgresql://stampede@127.0.0.1:5439/stampede.")
    var pg: String?
    @Option(help: "Load-generating threads (each drives its share of the connections with epoll).")
    var threads = 2
    @Option(help: "Tries per purchase: retries after 503 (honouring Retry-After) or a lost answer, same Idempotency-Key.")
    var maxAttempts = 20
    @Option(help: "Seconds before an unanswered request counts as a timeout.")
    var timeout = 30.0
    @Flag(help: "No progress line.")
    var quiet = false
    @Option(help: "Write the run's ledger (every acknowledged order, paid, cancelled, shed) to this JSON file before the invariants are checked; `verify` checks it again later.")
    var ledger: String?
    @Option(help: "Run id: the sales are named <scenario>-<run-id>-<n> (n = 0 is promo's most popular), the reports <scenario>-<run-id>.*; letters, digits, '_' and '-', at most 32. Default: a new random one.")
    var runId: String?

    func settings(_ extra: [String: String]) throws -> CommonSettings {
        let target: TargetURL
        do { target = try TargetURL(url, tls: ClientTLSSettings(caFile: cacert, insecure: insecure)) } catch { throw ValidationError(error.description) }
        let thresholds = try parseThresholds(failIf)
        guard let token = ProcessInfo.processInfo.environment["STAMPEDE_ADMIN_TOKEN"], !token.isEmpty else {
            throw ValidationError("set STAMPEDE_ADMIN_TOKEN to Stampede's admin token (scripts/serve uses demo-admin-token)")
        }
        guard threads >= 1, maxAttempts >= 1, timeout > 0 else { throw ValidationError("--threads, --max-attempts and --timeout must be positive") }
        if let runId, runId.isEmpty || runId.count > 32 || !runId.unicodeScalars.allSatisfy({ $0.isASCII && ($0.properties.isAlphabetic || ("0"..."9").contains($0) || $0 == "_" || $0 == "-") }) {
            throw ValidationError("--run-id must be 1 to 32 letters, digits, '_' or '-'")
        }
        var options = extra
        options["url"] = url
        options["threads"] = String(threads)
        options["max_attempts"] = String(maxAttempts)
        options["timeout"] = String(timeout)
        if let pg { options["pg"] = pg }
        if let report { options["report"] = report }
        if let runId { options["run_id"] = runId }
        if !thresholds.isEmpty { options["fail_if"] = thresholds.map(\.text).joined(separator: ",") }
        if let cacert { options["cacert"] = cacert }
        if insecure { options["insecure"] = "true" }
        var settings = CommonSettings(target: target, adminToken: token, postgresURI: pg, reportDirectory: report, threads: threads,
                                      maxAttempts: maxAttempts, requestTimeoutSeconds: timeout, quiet: quiet, runID: runId, options: options)
        settings.thresholds = thresholds
        settings.ledgerPath = ledger
        return settings
    }
}

/// Every `--fail-if` value, each possibly a comma-separated list.
func parseThresholds(_ values: [String]) throws -> [Threshold] {
    var thresholds: [Threshold] = []
    for value in values {
        do { thresholds += try Threshold.parseList(value) } catch { throw ValidationError(error.description) }
    }
    return thresholds
}

/// Prints the summary, names the report files, and exits by the invariants' verdict.
func conclude(_ outcome: () throws -> (RunReport, [String])) throws {
    let report: RunReport, files: [String]
    do {
        (report, files) = try outcome()
    } catch let error as ValidationError {
        throw error
    } catch {
        FileHandle.standardError.write(Data("stampede-load: \(error)\n".utf8))
        throw ExitCode(ExitStatus.runFailed)
    }
    print(report.summaryText, terminator: "")
    for file in files { print("report: \(file)") }
    if !report.invariants.passed { throw ExitCode(ExitStatus.invariantViolated) }
    if report.thresholds?.passed == false { throw ExitCode(ExitStatus.thresholdMissed) }
}

struct Rush: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "A sale of --stock units opens at t0 and --users distinct users all try to buy one at once.")

    @OptionGroup var common: ScenarioOptions
    @Option(help: "Distinct buyers.") var users = 20_000
    @Option(help: "Units on sale.") var stock = 500
    @Option(help: "Per-user limit of the sale.") var perUserLimit = 1
    @Option(help: "Keep-alive connections opened before t0 (the buyers share them).") var connections = 2_000
    @Option(help: "Seconds from creating the sale to its opening.") var leadSeconds = 2
    @Option(help: "Redis slots the sale's stock is spread over (1–16; see docs/API.md, Buckets).") var buckets = 1

    func run() throws {
        guard users >= 1, stock >= 0, perUserLimit >= 1, connections >= 1 else { throw ValidationError("--users, --per-user-limit and --connections must be at least 1, --stock at least 0") }
        guard (1...16).contains(buckets) else { throw ValidationError("--buckets must be between 1 and 16") }
        var options = ["scenario": "rush", "users": String(users), "stock": String(stock),
                       "per_user_limit": String(perUserLimit), "connections": String(connections)]
        if buckets > 1 { options["buckets"] = String(buckets) }
        let common = try self.common.settings(options)
        try conclude {
            try ScenarioRunner.rush(common, RushSettings(users: users, stock: stock, perUserLimit: perUserLimit,
                                                         connections: connections, leadSeconds: leadSeconds, buckets: buckets))
        }
    }
}

/// Options of `promo` and `soak`.
struct PromoOptions: ParsableArguments {
    @Option(help: "Sales in the promotion.") var sales = 8
    @Option(help: "Units per sale.") var stock = 2_000
    @Option(help: "Per-user limit of each sale.") var perUserLimit = 2
    @Option(help: "Distinct users.") var users = 20_000
    @Option(help: "Zipf exponent of sale popularity (0 = uniform; 1.1 = a few hot SKUs).") var zipf = 1.1
    @Option(help: "Operation proportions.") var mix = "view=60,buy=20,pay=8,cancel=4,orders=8"
    @Option(help: "Open loop: requests per second (ignored with --closed).") var rate = 1_000.0
    @Option(help: "Open loop: start the ramp at this rate.") var rampFrom: Double?
    @Option(help: "Open loop: seconds to ramp from --ramp-from to --rate.") var rampSeconds = 0.0
    @Flag(help: "Closed loop: every connection sends as fast as answers come (peak throughput; latency hides queueing).") var closed = false
    @Option(help: "Keep-alive connections.") var connections = 256
    @Option(help: "Seed of the random choices.") var seed: UInt64 = 1
    @Option(help: "Seconds between /metrics scrapes (server memory).") var scrapeEvery = 5

    func settings(duration: Double) throws -> (PromoSettings, [String: String]) {
        let operationMix: OperationMix
        do { operationMix = try OperationMix(parsing: mix) } catch { throw ValidationError(error.description) }
        let model: TrafficModel
        if closed {
            model = .closedLoop(durationSeconds: duration)
        } else {
            do {
                model = .openLoop(try ArrivalSchedule(rate: rate, durationSeconds: duration, rampFrom: rampFrom, rampSeconds: rampSeconds))
            } catch { throw ValidationError(error.description) }
        }
        guard sales >= 1, users >= 1, perUserLimit >= 1, connections >= 1 else { throw ValidationError("--sales, --users, --per-user-limit and --connections must be at least 1") }
        var options = ["sales": String(sales), "stock": String(stock), "per_user_limit": String(perUserLimit), "users": String(users),
                       "zipf": String(zipf), "mix": operationMix.description, "connections": String(connections), "duration": String(duration),
                       "model": closed ? "closed" : "open", "seed": String(seed)]
        if !closed {
            options["rate"] = String(rate)
            if let rampFrom { options["ramp_from"] = String(rampFrom); options["ramp_seconds"] = String(rampSeconds) }
        }
        return (PromoSettings(sales: sales, stock: stock, perUserLimit: perUserLimit, users: users, zipfExponent: zipf, mix: operationMix,
                              model: model, connections: connections, seed: seed, scrapeEvery: scrapeEvery), options)
    }
}

struct Promo: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "A storefront over --sales sales with Zipf popularity: view, buy, pay, cancel, my orders in --mix proportions.")

    @OptionGroup var common: ScenarioOptions
    @OptionGroup var promo: PromoOptions
    @Option(help: "Seconds of traffic.") var duration = 60.0

    func run() throws {
        let (settings, options) = try promo.settings(duration: duration)
        let common = try self.common.settings(options.merging(["scenario": "promo"]) { $1 })
        try conclude { try ScenarioRunner.promo(common, settings, scenario: "promo") }
    }
}

struct Soak: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "promo at a fixed rate for a long time, reporting drift of latency and of the server's memory (/metrics).")

    @OptionGroup var common: ScenarioOptions
    @OptionGroup var promo: PromoOptions
    @Option(help: "Seconds of traffic.") var duration = 1_800.0

    func run() throws {
        let (settings, options) = try promo.settings(duration: duration)
        let common = try self.common.settings(options.merging(["scenario": "soak"]) { $1 })
        try conclude { try ScenarioRunner.promo(common, settings, scenario: "soak") }
    }
}

struct Compare: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Print the differences between two JSON reports.")

    @Argument(help: "The first (baseline) report.") var a: String
    @Argument(help: "The second report.") var b: String

    func run() throws {
        let reports = try [a, b].map { path in
            do { return try RunReport.decode(Data(contentsOf: URL(fileURLWithPath: path))) } catch {
                throw ValidationError("\(path): not a stampede-load report (\(error))")
            }
        }
        print(ReportComparison.text(reports[0], reports[1], nameA: a, nameB: b), terminator: "")
    }
}

struct Merge: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Merge the JSON reports of one scenario run by several generators at the same time into one report (latency from the summed histograms).",
        discussion: "Exit 0; 1 when an invariant failed in any report; 3 when a --fail-if threshold is missed by the merged figures.")

    @Argument(help: "The reports (at least two).") var reports: [String]
    @Option(name: .shortAndLong, help: "Where to write the merged JSON report.") var output: String
    @Option(name: .customLong("fail-if"), help: "Thresholds to judge the merged report by (as for run).") var failIf: [String] = []

    func run() throws {
        let thresholds = try parseThresholds(failIf)
        let loaded = try reports.map { path in
            do { return (name: path, report: try RunReport.decode(Data(contentsOf: URL(fileURLWithPath: path)))) } catch {
                throw ValidationError("\(path): not a stampede-load report (\(error))")
            }
        }
        var merged: RunReport
        do { merged = try ReportMerge.merge(loaded) } catch { throw ValidationError(error.description) }
        if !thresholds.isEmpty { merged.thresholds = Threshold.evaluate(thresholds, on: merged) }
        try merged.encoded().write(to: URL(fileURLWithPath: output))
        print(merged.summaryText, terminator: "")
        print("report: \(output)")
        if !merged.invariants.passed { throw ExitCode(ExitStatus.invariantViolated) }
        if merged.thresholds?.passed == false { throw ExitCode(ExitStatus.thresholdMissed) }
    }
}

struct Verify: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Check the invariants again for a ledger written by `run … --ledger` (after a restore, say): every acknowledged order exists, nothing oversold, per-user limits, stock conserved (exit 0: they hold; 1: one is violated; 2: the check could not be done).")

    @Option(help: "The ledger file written by `run … --ledger`.") var ledger: String
    @Option(help: "Stampede's base URL (http://IPv4:port).") var url = "http://127.0.0.1:8080"
    @Option(help: "PostgreSQL URI (libpq) to check the orders table.") var pg: String?

    func run() throws {
        let target: TargetURL
        do { target = try TargetURL(url) } catch { throw ValidationError(error.description) }
        guard let token = ProcessInfo.processInfo.environment["STAMPEDE_ADMIN_TOKEN"], !token.isEmpty else {
            throw ValidationError("set STAMPEDE_ADMIN_TOKEN to Stampede's admin token")
        }
        let results: [InvariantResult]
        do {
            let file = try LedgerFile.read(from: ledger)
            let probe = InvariantProbe(admin: SaleAdmin(client: BlockingHTTPClient(target: target), token: token), postgresURI: pg)
            results = try probe.check(saleIDs: file.saleIDs, ledger: file.ledger)
        } catch {
            FileHandle.standardError.write(Data("stampede-load verify: \(error)\n".utf8))
            throw ExitCode(ExitStatus.runFailed)
        }
        for result in results {
            print("\(result.passed ? "ok    " : "FAILED") \(result.name) (\(result.source)): \(result.detail)")
        }
        if !results.allSatisfy(\.passed) { throw ExitCode(ExitStatus.invariantViolated) }
    }
}
