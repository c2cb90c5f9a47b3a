// swift-tools-version:6.0
import PackageDescription

// libFuzzer targets for fanout's pure core. A package of its own, so the root package's `swift build` never
// links these executables (they have no `main`: libFuzzer supplies it). Build and run them with
// `scripts/fuzz.sh`, which passes the sanitizer flags; see docs/contributing/fuzzing.md.
//
// Each executable target is one file holding only the `LLVMFuzzerTestOneInput` entry point (a file named
// `main.swift`, or `-parse-as-library`, breaks the link); the properties they check live in `FuzzChecks`.

let targets = ["FuzzRequestParser", "FuzzChunkedBody", "FuzzConfig", "FuzzURLTemplate", "FuzzJSON"]

let package = Package(
    name: "fanout-fuzz",
    // Named explicitly: a path dependency's identity is its folder's name, which depends on the clone.
    dependencies: [.package(name: "fanout", path: "..")],
    targets: [
        .target(name: "FuzzChecks", dependencies: [.product(name: "FanoutCore", package: "fanout")])
    ]
        + targets.map { .executableTarget(name: $0, dependencies: ["FuzzChecks"]) }
)
