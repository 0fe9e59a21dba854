import Foundation
import Testing
@testable import StampedeLoadKit

struct LedgerFileTests {
    /// A ledger written to disk reads back equal, acknowledged orders and the sets of paid,
    /// cancelled and shed purchases included (scripts/dr-drill checks a run's ledger after a restore).
    @Test func roundTripsEverythingTheChecksUse() throws {
        var ledger = RunLedger()
        ledger.acknowledged["o1"] = AcknowledgedOrder(orderID: "o1", saleID: "s", userID: "u1", quantity: 2, idempotencyKey: "k1")
        ledger.acknowledged["o2"] = AcknowledgedOrder(orderID: "o2", saleID: "s", userID: "u2", quantity: 1)
        ledger.paid = ["o1"]
        ledger.cancelled = ["o2"]
        ledger.shedOnlyKeys = ["k9"]
        ledger.unknownKeys = ["k8"]
        ledger.overloadEffects = ["o3"]
        ledger.overloadRetries = 4
        ledger.gaveUp = 1
        let file = LedgerFile(saleIDs: ["s"], ledger: ledger)
        let path = NSTemporaryDirectory() + "ledger-\(UInt64.random(in: 0...UInt64.max)).json"
        defer { try? FileManager.default.removeItem(atPath: path) }
        try file.write(to: path)
        #expect(try LedgerFile.read(from: path) == file)
        #expect(try String(contentsOfFile: path, encoding: .utf8).contains("\"orderID\":\"o1\""))
    }
}
