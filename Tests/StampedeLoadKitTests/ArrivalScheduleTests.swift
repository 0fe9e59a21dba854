import Testing
@testable import StampedeLoadKit

@Suite struct ArrivalScheduleTests {
    /// A constant rate sends arrival i at i / rate and holds rate × duration arrivals.
    @Test func constantRateSpacesArrivalsEvenly() throws {
        let schedule = try ArrivalSchedule(rate: 1000, durationSeconds: 2)
        #expect(schedule.offset(of: 0) == 0)
        #expect(abs(schedule.offset(of: 1)! - 0.001) < 1e-12)
        #expect(abs(schedule.offset(of: 1500)! - 1.5) < 1e-9)
        #expect(schedule.totalCount == 2000)
        #expect(schedule.offset(of: 1999) != nil)
        #expect(schedule.offset(of: 2000) == nil)
    }

    /// A linear ramp from 0 to r over R seconds sends r·R/2 arrivals during the ramp, at times
    /// that follow the quadratic cumulative curve, then continues at r.
    @Test func rampFollowsTheCumulativeCurve() throws {
        let schedule = try ArrivalSchedule(rate: 100, durationSeconds: 10, rampFrom: 0, rampSeconds: 4)
        // N(t) = 100 t² / 8 during the ramp: 200 arrivals by t = 4.
        #expect(abs(schedule.cumulativeArrivals(at: 4) - 200) < 1e-9)
        #expect(abs(schedule.offset(of: 50)! - 2) < 1e-9)  // N(2) = 50
        #expect(abs(schedule.offset(of: 200)! - 4) < 1e-9)
        #expect(abs(schedule.offset(of: 300)! - 5) < 1e-9)  // then 100/s
        #expect(schedule.totalCount == 800)
        // Gaps shrink along the ramp.
        let early = schedule.offset(of: 11)! - schedule.offset(of: 10)!
        let late = schedule.offset(of: 191)! - schedule.offset(of: 190)!
        #expect(early > late)
    }

    /// Ramping down works too, and every offset is increasing.
    @Test func rampDownIsMonotonic() throws {
        let schedule = try ArrivalSchedule(rate: 10, durationSeconds: 5, rampFrom: 100, rampSeconds: 2)
        var previous = -1.0
        for index in 0..<schedule.totalCount {
            let offset = try #require(schedule.offset(of: index))
            #expect(offset > previous)
            previous = offset
        }
        #expect(abs(schedule.cumulativeArrivals(at: 2) - 110) < 1e-9)
    }

    /// Interleaving by loop (loop k takes arrivals k, k + n, …) partitions the schedule exactly.
    @Test func loopsPartitionTheArrivals() throws {
        let schedule = try ArrivalSchedule(rate: 500, durationSeconds: 1)
        var seen = Set<Int>()
        for loop in 0..<3 {
            var local = 0
            while schedule.offset(of: local * 3 + loop) != nil {
                seen.insert(local * 3 + loop)
                local += 1
            }
        }
        #expect(seen == Set(0..<500))
    }

    /// Nonsense rates, durations and ramps are refused with a reason.
    @Test func invalidSchedulesAreRefused() {
        #expect(throws: ArrivalSchedule.Invalid.rate(0)) { try ArrivalSchedule(rate: 0, durationSeconds: 1) }
        #expect(throws: ArrivalSchedule.Invalid.duration(-1)) { try ArrivalSchedule(rate: 1, durationSeconds: -1) }
        #expect(throws: ArrivalSchedule.Invalid.self) { try ArrivalSchedule(rate: 1, durationSeconds: 1, rampFrom: 0, rampSeconds: 0) }
        #expect(throws: ArrivalSchedule.Invalid.self) { try ArrivalSchedule(rate: 1, durationSeconds: 1, rampFrom: 1, rampSeconds: 2) }
    }
}

@Suite struct WeightedChoiceTests {
    /// Zipf weights make rank 1 the most popular, in proportion 1/kˢ.
    @Test func zipfFavoursTheFirstRanks() throws {
        let zipf = try #require(WeightedChoice.zipf(count: 4, exponent: 1))
        let harmonic = 1 + 1 / 2.0 + 1 / 3.0 + 1 / 4.0
        #expect(abs(zipf.probability(0) - 1 / harmonic) < 1e-12)
        #expect(abs(zipf.probability(3) - 0.25 / harmonic) < 1e-12)
        var random = RandomSource(seed: 7)
        var counts = [0, 0, 0, 0]
        for _ in 0..<40_000 { counts[zipf.pick(&random)] += 1 }
        #expect(counts[0] > counts[1] && counts[1] > counts[2] && counts[2] > counts[3])
        #expect(abs(Double(counts[0]) / 40_000 - 1 / harmonic) < 0.02)
    }

    /// The band edges map to the right index; zero weights are never picked.
    @Test func bandsMapToIndices() throws {
        let choice = try #require(WeightedChoice(weights: [1, 0, 3]))
        #expect(choice.index(for: 0) == 0)
        #expect(choice.index(for: 0.2499) == 0)
        #expect(choice.index(for: 0.25) == 2)
        #expect(choice.index(for: 0.9999) == 2)
        #expect(WeightedChoice(weights: [0, 0]) == nil)
    }

    /// The operation mix parses `name=weight` lists and rejects unknown operations.
    @Test func operationMixParses() throws {
        let mix = try OperationMix(parsing: "view=3, buy=1")
        #expect(mix.weights == [3, 1, 0, 0, 0])
        #expect(mix.description == "view=3,buy=1,pay=0,cancel=0,orders=0")
        #expect(throws: LoadError.self) { try OperationMix(parsing: "steal=1") }
        #expect(throws: LoadError.self) { try OperationMix(parsing: "view=0") }
    }
}
