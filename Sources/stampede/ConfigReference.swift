import ArgumentParser
import StampedeService

/// `stampede config-reference`: prints the configuration reference (`docs/configuration.md`),
/// generated from the keys the loader reads.
struct ConfigReference: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "config-reference",
        abstract: "Print the configuration reference (Markdown) generated from the configuration keys.")

    func run() throws {
        print(ConfigurationReference.markdown(), terminator: "")
    }
}
