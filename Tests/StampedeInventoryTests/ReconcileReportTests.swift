import Testing
@testable import StampedeInventory

@Suite("ReconcileReport")
struct ReconcileReportTests {
    /// Repairs are counted by kind and described; a dry run says "would repair"; zero counts add nothing.
    @Test func reportRecordsRepairs() {
        var report = ReconcileReport(dryRun: true)
        report.record(.saleRebuilt, 1, "sale s1: behind")
        report.record(.outboxCommitted, 0, "nothing")
        report.record(.outboxCommitted, 3, "sale s1: 3 stranded")
        #expect(report.counts == [.saleRebuilt: 1, .outboxCommitted: 3])
        #expect(report.total == 4)
        #expect(report.findings == ["would repair: sale s1: behind", "would repair: sale s1: 3 stranded"])
        #expect(ReconcileReport.Kind.allCases.map(\.rawValue) == ["sale_rebuilt", "outbox_committed", "outbox_acknowledged", "stock_returned", "expired",
                                                                     "group_rebuilt", "claim_released", "ledger_repaired", "move_finished"])
    }

    /// Conservation: available + held + uncommitted equals stock + restocked, and nothing else does.
    @Test func conservation() {
        #expect(ReconcileReport.isConserved(available: 3, held: 5, uncommitted: 2, stock: 8, restocked: 2))
        #expect(!ReconcileReport.isConserved(available: 4, held: 5, uncommitted: 2, stock: 8, restocked: 2))
    }
}
