import Testing
@testable import StampedeInventory

/// The reconciler's decisions, from facts given as values (no Redis, no PostgreSQL).
struct ReconcilePlanTests {
    static let run = "node-a@7.1"
    static let epoch = RedisEpoch(runID: run, generation: 3)
    static let now: Int64 = 1_800_000_000_000

    static func figures(stock: Int64 = 10, epoch: RedisEpoch? = ReconcilePlanTests.epoch, taken: Int64 = 0, held: Int64 = 0) -> SaleRepository.Figures {
        SaleRepository.Figures(stock: stock, restocked: 0, epoch: epoch, ordersTaken: taken, held: held)
    }

    static func seen(_ saleID: String = "s", epoch: RedisEpoch? = ReconcilePlanTests.epoch, server: String = run,
                     taken: Int64 = 0, available: Int64 = 10, pending: [(String, PendingRecord)] = []) -> SaleInspection {
        SaleInspection(saleID: saleID, epoch: epoch, generation: epoch?.generation ?? 0, serverRunID: server,
                       ordersTaken: taken, available: available, pending: pending.map { (orderID: $0.0, record: $0.1) })
    }

    static func record(_ user: String, _ quantity: Int64, ageSeconds: Int64) -> PendingRecord {
        let created = now - ageSeconds * 1000
        return PendingRecord("\(user)|\(quantity)|\(created)|\(created + 600_000)|")!
    }

    static func plan(_ truth: [String: SaleRepository.Figures], _ seen: [SaleInspection], accepted: [String: RedisEpoch] = [:],
                     committed: Set<String> = [], graceSeconds: Int64 = 30) -> ReconcilePlan {
        ReconcilePlan.make(truth: truth, seen: seen, accepted: accepted, committed: committed, cutoff: now - graceSeconds * 1000)
    }

    @Test func healthySaleNeedsNothing() {
        let plan = Self.plan(["s": Self.figures(taken: 2, held: 2)], [Self.seen(taken: 2, available: 8)])
        #expect(plan.steps.isEmpty)
        #expect(plan.drifts.isEmpty)
        #expect(plan.description.isEmpty)
    }

    @Test func missingCountersAreRebuiltWithoutInvalidating() {
        let plan = Self.plan(["s": Self.figures()], [Self.seen(epoch: nil)])
        #expect(plan.steps == [.rebuild(saleID: "s", reason: "missing or invalidated in Redis", invalidate: nil)])
    }

    @Test func countersFromAnotherRunAreRebuiltAndNotInvalidated() {
        let plan = Self.plan(["s": Self.figures()], [Self.seen(server: "node-b@7.1")])
        guard case .rebuild(_, let reason, let invalidate) = plan.steps.first else { Issue.record("no rebuild"); return }
        #expect(reason.contains("another Redis run"))
        #expect(invalidate == nil, "the counters are not this run's: nothing to invalidate")
    }

    @Test func redisBehindPostgresIsRebuiltAfterInvalidating() {
        let plan = Self.plan(["s": Self.figures(taken: 5, held: 5)], [Self.seen(taken: 3, available: 7)])
        #expect(plan.steps == [.rebuild(saleID: "s", reason: "Redis is behind: PostgreSQL holds 5 orders, Redis took 3",
                                        invalidate: Self.epoch)])
    }

    @Test func epochMismatchNeedsTheSecondReadToAgree() {
        let newer = RedisEpoch(runID: Self.run, generation: 4)
        let truth = ["s": Self.figures(epoch: newer)]
        let seen = [Self.seen()]
        #expect(ReconcilePlan.epochsToConfirm(truth: truth, seen: seen) == ["s"])
        // A rebuild finished between the reads: PostgreSQL now accepts Redis's epoch — no fault.
        #expect(Self.plan(truth, seen, accepted: ["s": Self.epoch]).steps.isEmpty)
        // Still another epoch on the second read: rebuild.
        let plan = Self.plan(truth, seen, accepted: ["s": newer])
        guard case .rebuild(_, let reason, _) = plan.steps.first else { Issue.record("no rebuild"); return }
        #expect(reason.contains("not the one PostgreSQL accepts"))
    }

    @Test func oldOutboxEntriesAreCommittedOrClearedYoungOnesWait() {
        let pending = [("o-stranded", Self.record("u1", 1, ageSeconds: 60)),
                       ("o-young", Self.record("u2", 1, ageSeconds: 5)),
                       ("o-done", Self.record("u3", 2, ageSeconds: 60))]
        // PostgreSQL holds o-done (2 units held); o-stranded and o-young are in Redis only.
        let plan = Self.plan(["s": Self.figures(taken: 1, held: 2)], [Self.seen(taken: 3, available: 6, pending: pending)],
                             committed: ["o-done"])
        #expect(plan.steps.count == 2)
        guard case .commitStranded(_, let epoch, let stranded) = plan.steps[0],
              case .clearCommitted(_, let cleared) = plan.steps[1] else { Issue.record("\(plan.steps)"); return }
        #expect(epoch == Self.epoch)
        #expect(stranded.map(\.orderID) == ["o-stranded"])
        #expect(cleared.map(\.orderID) == ["o-done"])
        // 6 available + 2 held + 2 uncommitted = 10: conserved.
        #expect(plan.drifts.isEmpty)
        #expect(plan.description.contains("1 reservations stranded in the outbox → commit"))
    }

    @Test func countersThatDoNotAddUpAreADriftNotARepair() {
        let plan = Self.plan(["s": Self.figures(taken: 1, held: 1)], [Self.seen(taken: 1, available: 5)])
        #expect(plan.steps.isEmpty)
        #expect(plan.drifts == ["sale s: available 5 + held 1 + uncommitted 0 ≠ stock 10 + restocked 0"])
    }

    @Test func salesPostgresDoesNotKnowAreLeftAlone() {
        #expect(Self.plan([:], [Self.seen(epoch: nil)]).steps.isEmpty)
    }
}
