import FuzzSupport
import StampedeInventory
import StampedeJSON
@testable import StampedeService

/// Fuzzes JSON body decoding (`StampedeService/JSON`, `Handlers/RequestDecoding`).
///
/// The bytes are a request body. Properties:
/// - the parser and every body decoder answer or refuse, never crash (depth, escapes, numbers);
/// - a parsed document written back with `JSONWriter` reparses to the same value;
/// - every refusal is a `400` with one of the contract's codes;
/// - what a decoder accepts is valid: identifiers match the contract's pattern, quantities are in
///   range, a sale definition has no violation;
/// - a time accepted by `Timestamp(rfc3339:)` prints as RFC 3339 text that reparses to the same
///   instant.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzJSONBody(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    var input = FuzzInput(data, size)
    let body = input.rest()

    if let value = try? JSONParser.parse(body) {
        var writer = JSONWriter()
        write(value, into: &writer)
        do {
            let reparsed = try JSONParser.parse(writer.bytes)
            require(reparsed == value, "writer output \(String(decoding: writer.bytes, as: UTF8.self)) reparses to \(reparsed), not \(value)")
        } catch {
            require(false, "writer output \(String(decoding: writer.bytes, as: UTF8.self)) does not reparse: \(error)")
        }
        visitStrings(value, checkTimestamp)
    }

    let codes: Set<String> = ["invalid_body", "invalid_id", "invalid_quantity"]
    func refused(_ rejection: RequestRejection) {
        require(rejection.status == 400 && codes.contains(rejection.code), "unexpected rejection \(rejection)")
    }

    do {
        let purchase = try RequestDecoding.purchase(body)
        require(Identifier.isValid(purchase.userID), "accepted user_id \(purchase.userID)")
        require(purchase.quantity >= 1, "accepted quantity \(purchase.quantity)")
    } catch { refused(error) }

    do {
        let quantity = try RequestDecoding.restock(body)
        require((1...1_000_000_000).contains(quantity), "accepted restock quantity \(quantity)")
    } catch { refused(error) }

    do {
        let sale = try RequestDecoding.saleDefinition(saleID: "fuzz-sale", body, defaultTTL: 900)
        require(sale.violation() == nil, "accepted an invalid sale \(sale)")
        require(Identifier.isValid(sale.sku), "accepted sku \(sale.sku)")
    } catch { refused(error) }
    return 0
}

/// Writes any JSON value with the response writer.
func write(_ value: JSONValue, into writer: inout JSONWriter) {
    switch value {
    case .object(let members):
        writer.beginObject()
        for (name, member) in members {
            writer.key(name)
            write(member, into: &writer)
        }
        writer.endObject()
    case .array(let elements):
        writer.beginArray()
        for element in elements { write(element, into: &writer) }
        writer.endArray()
    case .string(let text): writer.string(text)
    case .number(let double, let integer):
        if let integer { writer.int(integer) } else { writer.double(double) }
    case .bool(let flag): writer.bool(flag)
    case .null: writer.null()
    }
}

func visitStrings(_ value: JSONValue, _ body: (String) -> Void) {
    switch value {
    case .object(let members): members.forEach { body($0.key); visitStrings($0.value, body) }
    case .array(let elements): elements.forEach { visitStrings($0, body) }
    case .string(let text): body(text)
    default: break
    }
}

func checkTimestamp(_ text: String) {
    guard let time = Timestamp(rfc3339: text) else { return }
    let printed = time.rfc3339
    require(Timestamp(rfc3339: printed) == time, "\(text) prints as \(printed), which does not reparse to the same instant")
}

/// The executable's entry point: libFuzzer's driver with this target.
@main
enum FuzzJSONBodyMain {
    static func main() { runFuzzer(fuzzJSONBody) }
}
