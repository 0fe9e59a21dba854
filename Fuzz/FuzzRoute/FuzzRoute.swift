import FuzzSupport
import StampedeHTTP
import StampedeInventory
import StampedeService

/// Fuzzes route matching (`StampedeService/Routing/Route.swift`) and identifier validation
/// (`StampedeInventory/Model/Identifier.swift`).
///
/// The first byte picks a method; the rest is a request-target. Properties:
/// - `Identifier` agrees with a plain reading of the contract's `[A-Za-z0-9._:-]{1,n}`, for
///   `String` and `Substring` alike;
/// - `HEAD` routes exactly like `GET`; matching is a pure function (same answer twice);
/// - every identifier a route carries is valid and is one of the path's segments; an
///   `invalidID` carries an invalid one;
/// - only `/admin/…` paths give admin routes;
/// - a request's `path` and `query` put back together are its target.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzRoute(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    var input = FuzzInput(data, size)
    let methods: [HTTPMethod] = [.get, .head, .post, .put, .delete, .patch, .options, .other("PURGE")]
    let method = methods[Int(input.byte()) % methods.count]
    let bytes = input.rest()
    let target = String(decoding: bytes, as: UTF8.self)

    checkIdentifier(target)
    checkIdentifier(target.dropFirst())

    let request = HTTPRequest(method: method, target: target)
    let rebuilt = request.path + (request.query.map { "?" + $0 } ?? "")
    require(rebuilt == request.target, "path \(request.path) + query \(String(describing: request.query)) is not \(target)")

    let route = Route.match(method: method, path: request.path)
    require(route == Route.match(method: method, path: request.path), "matching is not deterministic for \(target)")
    if method == .get || method == .head {
        let other: HTTPMethod = method == .get ? .head : .get
        require(route == Route.match(method: other, path: request.path), "HEAD and GET route differently for \(target)")
    }
    require(!route.name.isEmpty, "route without a name")
    if route.isAdmin { require(request.path.hasPrefix("/admin/"), "admin route for \(target)") }

    let segments = request.path.split(separator: "/", omittingEmptySubsequences: false).map(String.init)
    switch route {
    case .getSale(let id), .purchase(let id), .getOrder(let id), .payOrder(let id), .cancelOrder(let id),
         .userOrders(let id), .putSale(let id), .restock(let id), .movements(let id):
        require(Identifier.isValid(id), "route \(route) carries an invalid id")
        require(segments.contains(id), "route \(route) carries an id that is not a segment of \(target)")
    case .invalidID(let id):
        require(!Identifier.isValid(id), "invalidID for the valid id \(id)")
    default:
        break
    }
    return 0
}

/// `Identifier` against a direct reading of the contract's pattern.
func checkIdentifier(_ text: some StringProtocol) {
    func allowed(_ byte: UInt8) -> Bool {
        (byte >= 0x30 && byte <= 0x39) || (byte >= 0x41 && byte <= 0x5A) || (byte >= 0x61 && byte <= 0x7A)
            || byte == UInt8(ascii: ".") || byte == UInt8(ascii: "_") || byte == UInt8(ascii: ":") || byte == UInt8(ascii: "-")
    }
    let utf8 = Array(text.utf8)
    let shape = !utf8.isEmpty && utf8.allSatisfy(allowed)
    require(Identifier.isValid(text) == (shape && utf8.count <= 64), "Identifier.isValid disagrees on \(text)")
    require(Identifier.isValidIdempotencyKey(text) == (shape && utf8.count <= 128), "isValidIdempotencyKey disagrees on \(text)")
    require(Identifier.isValid(String(text)) == Identifier.isValid(Substring(text)), "String and Substring disagree on \(text)")
}

/// The executable's entry point: libFuzzer's driver with this target.
@main
enum FuzzRouteMain {
    static func main() { runFuzzer(fuzzRoute) }
}
