import StampedeJSON

extension JSONWriter {
    /// Writes any `JSONValue` through the writer's API (integers as `int`, other numbers as
    /// `double`, object members sorted by key): how the JSON and service tests build bodies.
    public mutating func writeValue(_ value: JSONValue) {
        switch value {
        case .object(let members):
            beginObject()
            for (key, member) in members.sorted(by: { $0.key < $1.key }) {
                self.key(key)
                writeValue(member)
            }
            endObject()
        case .array(let elements):
            beginArray()
            for element in elements { writeValue(element) }
            endArray()
        case .string(let text): string(text)
        case .number(_, let integer?): int(integer)
        case .number(let double, nil): self.double(double)
        case .bool(let flag): bool(flag)
        case .null: null()
        }
    }
}
