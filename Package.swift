// swift-tools-version:6.0
import PackageDescription

// Strict by default: Swift 6 language mode (tools 6.0), and every target treats warnings as the
// build's business (CI fails on a warning; see .ci/run).
let swiftSettings: [SwiftSetting] = []

let package = Package(
    name: "fanout",
    products: [
        .executable(name: "fanout", targets: ["fanout"]),
        // The pure core as a library, for the fuzz targets in Fuzz/ (a separate package that depends on this one).
        .library(name: "FanoutCore", targets: ["FanoutCore"]),
    ],
    targets: [
        // C shims: the only places C headers are imported.
        .systemLibrary(
            name: "CCurl",
            path: "Sources/CCurl",
            pkgConfig: "libcurl",
            providers: [.apt(["libcurl4-openssl-dev"])]
        ),
        .systemLibrary(
            name: "CZlib",
            path: "Sources/CZlib",
            pkgConfig: "zlib",
            providers: [.apt(["zlib1g-dev"])]
        ),
        .target(
            name: "CFanoutLinux",
            path: "Sources/CFanoutLinux",
            cSettings: [.define("_GNU_SOURCE")]
        ),
        // TLS to the shared store: OpenSSL's SSL_CTX/SSL behind an opaque handle and a done / wants read /
        // wants write / closed / failed status (a C target, not a system library: the handshake, the error
        // mapping and OpenSSL's macros stay in C, and no OpenSSL type reaches Swift). libssl-dev.
        .target(
            name: "CFanoutTLS",
            path: "Sources/CFanoutTLS",
            linkerSettings: [.linkedLibrary("ssl"), .linkedLibrary("crypto")]
        ),

        // Pure core: parsing, config, routing, templating, stitching. No syscalls, no C modules.
        .target(name: "FanoutCore", swiftSettings: swiftSettings),

        // I/O runtime: syscalls, the epoll event loop, libcurl, the HTTP server.
        // Release builds drop the runtime's dynamic exclusivity checks (about 230 `swift_beginAccess` per
        // `/overview` request, 20k instructions: docs/design/architecture.md, "Exclusivity checks"). Debug
        // builds keep them, and every test (and the sanitizer run) is a debug build, so an overlapping access
        // still traps there.
        .target(
            name: "FanoutRuntime",
            dependencies: ["FanoutCore", "CFanoutLinux", "CFanoutTLS", "CCurl", "CZlib"],
            swiftSettings: swiftSettings + [
                .unsafeFlags(["-enforce-exclusivity=unchecked"], .when(configuration: .release))
            ]
        ),

        // The thin executable.
        .executableTarget(name: "fanout", dependencies: ["FanoutRuntime", "FanoutCore"], swiftSettings: swiftSettings),

        // Micro-benchmark of the JSON layer against Foundation (`swift run -c release json-bench`).
        .executableTarget(
            name: "json-bench",
            dependencies: ["FanoutCore"],
            path: "Benchmarks/JSONBench",
            swiftSettings: swiftSettings
        ),

        // Test-only helpers: upstream stubs on plain blocking sockets (never fanout's own loop), a raw client,
        // gzip for fixtures and for checking fanout's gzip answers (zlib directly, not fanout's encoder).
        .target(name: "FanoutTestSupport", dependencies: ["CZlib"], swiftSettings: swiftSettings),

        .testTarget(
            name: "FanoutCoreTests",
            dependencies: ["FanoutCore", "FanoutTestSupport"],
            exclude: ["Resources"],
            swiftSettings: swiftSettings
        ),
        .testTarget(name: "FanoutTestSupportTests", dependencies: ["FanoutTestSupport"], swiftSettings: swiftSettings),
        .testTarget(
            name: "FanoutRuntimeTests",
            dependencies: ["FanoutRuntime", "FanoutCore", "FanoutTestSupport"],
            swiftSettings: swiftSettings
        ),
    ]
)
