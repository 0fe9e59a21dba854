// swift-tools-version:6.1
import PackageDescription

/// Release builds of the layers on the request path skip the run-time exclusivity checks: the
/// compiler still proves exclusive access statically, and the dynamic checks on class properties
/// (each a thread-local access set insert and remove) cost ~3 % of the CPU of a cached read or a
/// sold-out answer (`perf`, docs/performance.md). Debug builds, and so `scripts/test`, keep them.
let hotPathSettings: [SwiftSetting] = [
    .unsafeFlags(["-enforce-exclusivity=unchecked"], .when(configuration: .release)),
]

/// Stampede: a flash-sale inventory service on a NIO-free epoll HTTP server,
/// Redis (hiredis) for atomic stock decisions and PostgreSQL (libpq) for durable orders.
let package = Package(
    name: "Stampede",
    products: [
        .executable(name: "stampede", targets: ["stampede"]),
        .executable(name: "stampede-load", targets: ["stampede-load"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-log.git", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-metrics.git", from: "2.13.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus.git", from: "2.4.1"),
        .package(url: "https://github.com/apple/swift-argument-parser.git", from: "1.8.2"),
        .package(url: "https://github.com/HdrHistogram/hdrhistogram-swift.git", from: "0.2.0"),
    ],
    targets: [
        // MARK: C libraries and shims
        .target(
            name: "CStampedeSystem",
            cSettings: [.define("_GNU_SOURCE")]
        ),
        .systemLibrary(
            name: "CHiredis",
            pkgConfig: "hiredis",
            providers: [.apt(["libhiredis-dev"])]
        ),
        .systemLibrary(
            name: "CLibpq",
            pkgConfig: "libpq",
            providers: [.apt(["libpq-dev"])]
        ),
        .systemLibrary(
            name: "COpenSSL",
            pkgConfig: "openssl",
            providers: [.apt(["libssl-dev"])]
        ),

        // MARK: Layers
        // The one owner of system calls, the monotonic clock, threads, locks and conditions, file
        // reading and random bytes; every other layer goes through it.
        // Its wrappers are called per request by the event loops: cross-module optimization lets
        // them inline there as they did when they lived in StampedeHTTP.
        .target(
            name: "StampedeSystem",
            dependencies: ["CStampedeSystem"],
            swiftSettings: hotPathSettings + [.unsafeFlags(["-cross-module-optimization"], .when(configuration: .release))]
        ),
        .target(name: "StampedeHTTP", dependencies: ["StampedeSystem", "COpenSSL"], swiftSettings: hotPathSettings),
        // The pool is generic over its connection. Without cross-module optimization its code ran
        // unspecialized for Redis and PostgreSQL connections, looking up generic metadata at run
        // time on every job: 2.6 % of Stampede's samples under purchases (perf), 0.25 % with it.
        .target(name: "StampedePool", dependencies: ["StampedeSystem"], swiftSettings: [.unsafeFlags(["-cross-module-optimization"], .when(configuration: .release))]),
        .target(name: "StampedeRedis", dependencies: ["CHiredis", "StampedeSystem", "StampedePool"]),
        .target(name: "StampedePostgres", dependencies: ["CLibpq", "StampedeSystem", "StampedePool"]),
        .target(
            name: "StampedeInventory",
            dependencies: [
                "StampedeSystem", "StampedeRedis", "StampedePostgres", "StampedePool",
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: hotPathSettings
        ),
        .target(
            name: "StampedeService",
            dependencies: [
                "StampedeSystem", "StampedeHTTP", "StampedeInventory", "StampedePool", "StampedeRedis", "StampedePostgres", "COpenSSL",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus"),
            ],
            swiftSettings: hotPathSettings
        ),
        .executableTarget(
            name: "stampede",
            dependencies: [
                "StampedeSystem",
                "StampedeService",
                "StampedeInventory",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),

        // MARK: Load-test harness
        .target(
            name: "StampedeLoadKit",
            dependencies: [
                "StampedeSystem", "StampedePostgres", "COpenSSL",
                .product(name: "Histogram", package: "hdrhistogram-swift"),
            ],
            path: "LoadTests/StampedeLoadKit"
        ),
        .executableTarget(
            name: "stampede-load",
            dependencies: [
                "StampedeLoadKit",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
            path: "LoadTests/stampede-load"
        ),

        // MARK: Tests
        .testTarget(name: "StampedeSystemTests", dependencies: ["StampedeSystem"]),
        .testTarget(name: "StampedeHTTPTests", dependencies: ["StampedeHTTP", "StampedeSystem"]),
        .testTarget(name: "StampedePoolTests", dependencies: ["StampedePool", "StampedeSystem"]),
        .testTarget(name: "StampedeRedisTests", dependencies: ["StampedeRedis", "CHiredis"]),
        .testTarget(name: "StampedeLoadKitTests", dependencies: ["StampedeLoadKit", "StampedeSystem"]),
        .testTarget(name: "StampedeInventoryTests", dependencies: ["StampedeInventory", "StampedeRedis", "StampedePostgres", "StampedePool", "StampedeSystem"]),
        .testTarget(
            name: "StampedeIntegrationTests",
            dependencies: ["StampedeService", "StampedeInventory", "StampedeRedis", "StampedePostgres", "StampedeHTTP", "StampedeSystem"]
        ),
    ],
    swiftLanguageModes: [.v6]
)

// MARK: JSON module and per-module test targets
// The JSON reader and writer are a module of their own (requests, responses and the configuration
// file all go through it). It is on every answer's path, so release builds optimize it across the
// module boundary: without that its small methods stay calls from the handlers instead of being
// inlined into them. Each module's unit tests are a target named after it.
package.targets.append(contentsOf: [
    .target(
        name: "StampedeJSON",
        dependencies: ["StampedeSystem"],
        swiftSettings: hotPathSettings + [.unsafeFlags(["-cross-module-optimization"], .when(configuration: .release))]
    ),
    .target(name: "StampedeTestSupport", dependencies: ["StampedeJSON"], path: "Tests/StampedeTestSupport"),
    .testTarget(name: "StampedeJSONTests", dependencies: ["StampedeJSON", "StampedeTestSupport", "StampedeSystem"]),
    .testTarget(
        name: "StampedeServiceTests",
        dependencies: [
            "StampedeService", "StampedeJSON", "StampedeInventory", "StampedeHTTP", "StampedePool", "StampedeTestSupport",
            .product(name: "Logging", package: "swift-log"),
        ]
    ),
])
for target in package.targets where ["StampedeService", "stampede", "StampedeIntegrationTests"].contains(target.name) {
    target.dependencies.append("StampedeJSON")
}
for target in package.targets where ["StampedeInventoryTests", "StampedeIntegrationTests"].contains(target.name) {
    target.dependencies.append("StampedeTestSupport")
}

// MARK: Fuzz targets
// libFuzzer executables under Fuzz/, declared only when STAMPEDE_FUZZ is set: `scripts/fuzz` builds
// them in their own scratch path with `-sanitize=fuzzer,address`, so a normal `swift build` or
// `swift test` never sees them. Each defines `LLVMFuzzerTestOneInput` and a `main` that hands it
// to libFuzzer's driver.
if Context.environment["STAMPEDE_FUZZ"] != nil {
    let fuzzTargets: [(name: String, dependencies: [Target.Dependency])] = [
        ("FuzzHTTPParser", ["StampedeHTTP"]),
        ("FuzzJSONBody", ["StampedeService", "StampedeInventory", "StampedeJSON"]),
        ("FuzzRoute", ["StampedeService", "StampedeInventory", "StampedeHTTP"]),
        ("FuzzRedisReply", ["StampedeRedis", "StampedeInventory", "CHiredis"]),
    ]
    package.targets.append(.target(name: "CFuzzDriver", path: "Fuzz/CFuzzDriver"))
    package.targets.append(.target(name: "FuzzSupport", dependencies: ["CFuzzDriver"], path: "Fuzz/FuzzSupport"))
    for target in fuzzTargets {
        package.targets.append(.executableTarget(
            name: target.name,
            dependencies: ["FuzzSupport"] + target.dependencies,
            path: "Fuzz/\(target.name)"
        ))
    }
}
