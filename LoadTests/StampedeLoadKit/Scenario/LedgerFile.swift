import Foundation

/// A run's ledger on disk: the sales it bought from and everything it was answered (every order
/// acknowledged with `201`, paid, cancelled, shed), so the invariants can be checked again later by
/// another process — `stampede-load verify` after a disaster-recovery drill restored the stores.
public struct LedgerFile: Codable, Sendable, Equatable {
    public var saleIDs: [String]
    public var ledger: RunLedger

    public init(saleIDs: [String], ledger: RunLedger) {
        self.saleIDs = saleIDs
        self.ledger = ledger
    }

    /// Writes the file as JSON (the types' own key names, sorted), replacing it atomically.
    public func write(to path: String) throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        try encoder.encode(self).write(to: URL(fileURLWithPath: path), options: .atomic)
    }

    public static func read(from path: String) throws -> LedgerFile {
        try JSONDecoder().decode(LedgerFile.self, from: Data(contentsOf: URL(fileURLWithPath: path)))
    }
}

