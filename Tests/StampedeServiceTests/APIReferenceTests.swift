import Foundation
import StampedeHTTP
import Testing
@testable import StampedeService

/// `docs/API.md` (the reference in words) and `docs/openapi.yaml` (the machine-readable form) name
/// the same routes and error codes, and every documented route is one the router serves.
@Suite("API reference")
struct APIReferenceTests {
    static let docs = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("docs")

    static func text(_ name: String) throws -> String {
        try String(contentsOf: docs.appendingPathComponent(name), encoding: .utf8)
    }

    /// `METHOD /path` of every `### \`METHOD /path\`` heading of API.md.
    static func referenceRoutes() throws -> Set<String> {
        Set(try text("API.md").split(separator: "\n").compactMap { line -> String? in
            guard line.hasPrefix("### `"), line.hasSuffix("`") else { return nil }
            return String(line.dropFirst(5).dropLast())
        })
    }

    /// `METHOD /path` of every path item of the OpenAPI file (two-space paths, four-space methods).
    static func openAPIRoutes() throws -> Set<String> {
        var routes: Set<String> = []
        var path: String?
        for line in try text("openapi.yaml").split(separator: "\n", omittingEmptySubsequences: false).map(String.init) {
            if line.hasPrefix("  /"), line.hasSuffix(":") {
                path = String(line.dropFirst(2).dropLast())
            } else if !line.hasPrefix("  ") && !line.isEmpty {
                path = nil
            } else if let current = path, line.hasPrefix("    "), !line.hasPrefix("     "), line.hasSuffix(":") {
                let method = line.trimmingCharacters(in: .whitespaces).dropLast()
                if ["get", "put", "post", "delete", "patch"].contains(String(method)) { routes.insert(method.uppercased() + " " + current) }
            }
        }
        return routes
    }

    /// The codes of API.md's "Error codes" table.
    static func referenceErrorCodes() throws -> Set<String> {
        let matches = try NSRegularExpression(pattern: #"^\| `([a-z_]+)` \| [0-9]{3} \|"#, options: .anchorsMatchLines)
        let text = try text("API.md")
        return Set(matches.matches(in: text, range: NSRange(text.startIndex..., in: text)).map {
            String(text[Range($0.range(at: 1), in: text)!])
        })
    }

    /// Every error code the OpenAPI file names: in `error` enums and consts, and as "`NNN code`".
    static func openAPIErrorCodes() throws -> Set<String> {
        let text = try text("openapi.yaml")
        var codes: Set<String> = []
        let patterns = [#"error: \{ const: ([a-z_]+) \}"#, #"`[0-9]{3} ([a-z_]+)`"#]
        for pattern in patterns {
            let expression = try NSRegularExpression(pattern: pattern)
            for match in expression.matches(in: text, range: NSRange(text.startIndex..., in: text)) {
                codes.insert(String(text[Range(match.range(at: 1), in: text)!]))
            }
        }
        let enums = try NSRegularExpression(pattern: #"error: \{ enum: \[([a-z_, ]+)\] \}"#)
        for match in enums.matches(in: text, range: NSRange(text.startIndex..., in: text)) {
            for code in text[Range(match.range(at: 1), in: text)!].split(separator: ",") {
                codes.insert(code.trimmingCharacters(in: .whitespaces))
            }
        }
        return codes
    }

    @Test func bothNameTheSameRoutes() throws {
        let reference = try Self.referenceRoutes()
        let openAPI = try Self.openAPIRoutes()
        #expect(reference.count >= 13)
        #expect(reference.subtracting(openAPI).isEmpty, "in API.md only: \(reference.subtracting(openAPI).sorted())")
        #expect(openAPI.subtracting(reference).isEmpty, "in openapi.yaml only: \(openAPI.subtracting(reference).sorted())")
    }

    @Test func bothNameTheSameErrorCodes() throws {
        let reference = try Self.referenceErrorCodes()
        let openAPI = try Self.openAPIErrorCodes()
        #expect(reference.count >= 20)
        #expect(reference.subtracting(openAPI).isEmpty, "in API.md only: \(reference.subtracting(openAPI).sorted())")
        #expect(openAPI.subtracting(reference).isEmpty, "in openapi.yaml only: \(openAPI.subtracting(reference).sorted())")
    }

    /// Each documented route is served by the router under that route's name, and every route the
    /// router serves is documented.
    @Test func everyRouteIsServedAndDocumented() throws {
        let methods: [String: HTTPMethod] = ["GET": .get, "POST": .post, "PUT": .put, "DELETE": .delete]
        var served: Set<String> = []
        for route in try Self.referenceRoutes() {
            let parts = route.split(separator: " ")
            let method = try #require(methods[String(parts[0])])
            let path = String(parts[1])
            let concrete = path.replacing(/\{[a-z_]+\}/, with: "x1")
            let matched = Route.match(method: method, path: concrete)
            #expect(matched.name == route.replacing(/\{[a-z_]+\}/, with: "{id}"), "\(route) matched \(matched)")
            served.insert(matched.name)
        }
        // The router's names for real routes (the rest are not_found, method_not_allowed, invalid_id).
        #expect(served.count == Route.metricsNameCount - 3)
    }
}
