import ArgumentParser
import StampedeInventory

/// `stampede script NAME`: prints one of the Lua scripts Stampede runs in Redis, so a benchmark
/// (`scripts/bench` drives `redis-benchmark` with the real purchase script) or a person debugging
/// Redis can load exactly what the service runs.
struct PrintScript: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "script",
        abstract: "Print a Lua script Stampede runs in Redis (purchase, release, define, restock, restore).")

    @Argument(help: "The script's name.")
    var name: String

    @Flag(help: "Print the script's SHA-1 (what EVALSHA takes) instead of its source.")
    var sha1 = false

    func run() throws {
        let scripts = [("purchase", InventoryScripts.purchase), ("release", InventoryScripts.release),
                       ("define", InventoryScripts.define), ("restock", InventoryScripts.restock),
                       ("restore", InventoryScripts.restore)]
        guard let script = scripts.first(where: { $0.0 == name })?.1 else {
            throw ValidationError("unknown script '\(name)'; one of: \(scripts.map(\.0).joined(separator: ", "))")
        }
        print(sha1 ? script.sha1 : script.source)
    }
}
