/// How a run offers load.
public enum TrafficModel: Sendable, Equatable {
    /// Requests arrive on a fixed schedule whatever the server does; latency is measured from
    /// each request's intended send time, so a stalled server shows as latency (wrk2's method).
    case openLoop(ArrivalSchedule)
    /// Every connection sends its next request as soon as the previous one is answered, until the
    /// workload has nothing left or `durationSeconds` pass; latency from the actual send. Finds
    /// peak throughput, but hides queueing delay: never quote its percentiles as user latency.
    case closedLoop(durationSeconds: Double?)

    /// The report's name for the model.
    public var name: String {
        switch self {
        case .openLoop: "open"
        case .closedLoop: "closed"
        }
    }

    /// Whether latency counts from the intended send time.
    public var measuresFromIntendedTime: Bool {
        if case .openLoop = self { return true }
        return false
    }
}
