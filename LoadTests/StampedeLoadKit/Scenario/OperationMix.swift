/// The storefront operations of `promo` and their proportions.
public struct OperationMix: Sendable, Equatable, CustomStringConvertible {
    public enum Operation: String, CaseIterable, Sendable {
        case view, buy, pay, cancel, orders
    }

    /// Weight per operation, in `Operation.allCases` order.
    public let weights: [Double]
    let choice: WeightedChoice

    public static let standard = try! OperationMix(parsing: "view=60,buy=20,pay=8,cancel=4,orders=8")

    /// Parses `view=60,buy=20,pay=8,cancel=4,orders=8` (missing operations weigh 0).
    public init(parsing text: String) throws(LoadError) {
        var weights = [Double](repeating: 0, count: Operation.allCases.count)
        for part in text.split(separator: ",") {
            let pair = part.split(separator: "=")
            guard pair.count == 2, let operation = Operation(rawValue: pair[0].trimmingSpaces),
                  let weight = Double(pair[1].trimmingSpaces), weight >= 0 else {
                throw .invalidOption("--mix: '\(part)' is not operation=weight with an operation in view, buy, pay, cancel, orders")
            }
            weights[Operation.allCases.firstIndex(of: operation)!] = weight
        }
        guard let choice = WeightedChoice(weights: weights) else { throw .invalidOption("--mix: at least one weight must be above 0") }
        self.weights = weights
        self.choice = choice
    }

    public func pick(_ random: inout RandomSource) -> Operation {
        Operation.allCases[choice.pick(&random)]
    }

    public var description: String {
        zip(Operation.allCases, weights).map { "\($0.rawValue)=\(Self.format($1))" }.joined(separator: ",")
    }

    private static func format(_ value: Double) -> String {
        value == value.rounded() ? String(Int(value)) : String(value)
    }
}

extension Substring {
    var trimmingSpaces: String {
        String(drop(while: { $0 == " " }).reversed().drop(while: { $0 == " " }).reversed())
    }
}
