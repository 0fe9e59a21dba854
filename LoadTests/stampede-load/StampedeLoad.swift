import ArgumentParser

/// The load-test harness. A placeholder until the harness issue builds it: `scripts/bench` and
/// the end-to-end tests drive Stampede meanwhile.
@main
struct StampedeLoad: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "stampede-load",
        abstract: "Flash-sale load generator for Stampede (not built yet: see the load-test harness issue).")

    func run() throws {
        print("stampede-load is not implemented yet; see the README (Load testing).")
        throw ExitCode(2)
    }
}
