import Foundation
import Testing
@testable import StampedeService

/// The release identity and the generated documents: the version is semantic and has its
/// changelog entry, the licence is there, and `docs/configuration.md` is what the generator prints.
@Suite("Release")
struct ReleaseTests {
    static let root = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    static func text(_ path: String) throws -> String {
        try String(contentsOf: root.appendingPathComponent(path), encoding: .utf8)
    }

    @Test func versionIsSemantic() throws {
        let parts = StampedeVersion.version.split(separator: ".", omittingEmptySubsequences: false)
        #expect(parts.count == 3 && parts.allSatisfy { !$0.isEmpty && $0.allSatisfy(\.isNumber) }, "\(StampedeVersion.version)")
    }

    /// Keep a Changelog: an Unreleased section, then one `## [X.Y.Z] - YYYY-MM-DD` per version,
    /// the current one included.
    @Test func changelogHasTheCurrentVersion() throws {
        let changelog = try Self.text("CHANGELOG.md")
        #expect(changelog.contains("\n## [Unreleased]\n"))
        let heading = try #require(changelog.split(separator: "\n").first { $0.hasPrefix("## [\(StampedeVersion.version)] - ") })
        let date = heading.split(separator: " ").last.map(String.init) ?? ""
        #expect(date.count == 10 && date.split(separator: "-").count == 3, "\(heading)")
    }

    @Test func licenceIsApache2() throws {
        let licence = try Self.text("LICENSE")
        #expect(licence.contains("Apache License") && licence.contains("Version 2.0, January 2004"))
        #expect(licence.contains("END OF TERMS AND CONDITIONS"))
    }

    /// `docs/configuration.md` is exactly the generator's output (regenerate it with
    /// `stampede config-reference > docs/configuration.md`), so every key is documented with its
    /// current default, range and help.
    @Test func configurationReferenceIsGenerated() throws {
        let file = try Self.text("docs/configuration.md")
        #expect(file == ConfigurationReference.markdown(),
                "docs/configuration.md is stale: run `swift run stampede config-reference > docs/configuration.md`")
        for key in ConfigurationKey.all {
            #expect(file.contains("| `\(key.name)` | `\(key.environmentName)` |"))
        }
    }
}
