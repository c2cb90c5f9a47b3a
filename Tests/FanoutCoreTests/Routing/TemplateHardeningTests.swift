import Testing

@testable import FanoutCore

/// docs/design/hardening.md "Test vectors", end to end: a raw client segment goes through `RouteTable.match`
/// (decoded once or refused) and then `URLTemplate.render` for the template `/v1/users/{id}/orders`.
@Suite struct TemplateHardeningTests {
    enum Expected: Sendable, CustomStringConvertible {
        case upstreamPath(String)
        case badRequest

        var description: String {
            switch self {
            case .upstreamPath(let path): return path
            case .badRequest: return "400"
            }
        }
    }

    static let vectors: [(String, Expected)] = [
        ("42", .upstreamPath("/v1/users/42/orders")),
        ("a%2Fb", .upstreamPath("/v1/users/a%2Fb/orders")),
        ("a%252Fb", .upstreamPath("/v1/users/a%252Fb/orders")),
        ("..", .badRequest),
        ("%2e%2e", .badRequest),
        ("%2E.", .badRequest),
        (".", .badRequest),
        ("a%3Fx%3D1", .upstreamPath("/v1/users/a%3Fx%3D1/orders")),
        ("a%23b", .upstreamPath("/v1/users/a%23b/orders")),
        ("a%00b", .badRequest),
        ("a%0d%0aX:1", .badRequest),
        ("%", .badRequest),
        ("%4", .badRequest),
        ("%zz", .badRequest),
        ("caf%C3%A9", .upstreamPath("/v1/users/caf%C3%A9/orders")),
        ("%C0%AE%C0%AE", .badRequest),
        ("a;b=c", .upstreamPath("/v1/users/a%3Bb%3Dc/orders")),
        ("@evil.com", .upstreamPath("/v1/users/%40evil.com/orders")),
        ("%5C..%5C", .upstreamPath("/v1/users/%5C..%5C/orders")),
        ("a%20b", .upstreamPath("/v1/users/a%20b/orders")),
        ("http:%2F%2Fevil", .upstreamPath("/v1/users/http%3A%2F%2Fevil/orders")),
        ("~user_1-2.3", .upstreamPath("/v1/users/~user_1-2.3/orders")),
    ]

    static let table: RouteTable = RouteTable(try! makeRoutes([("GET", "/users/{id}")]))

    @Test(arguments: vectors)
    func rendersClientSegmentSafely(segment: String, expected: Expected) throws {
        let template = try URLTemplate(parsing: "/v1/users/{id}/orders")
        let match = Self.table.match(method: "GET", path: "/users/\(segment)"[...])
        switch (match, expected) {
        case (.matched(_, let parameters), .upstreamPath(let path)):
            let values = TemplateValues(routeParameters: parameters, query: QueryParameters())
            #expect(try template.render(values) == path)
        case (.badRequest, .badRequest):
            break
        default:
            Issue.record("segment \(segment): got \(match), expected \(expected)")
        }
    }

    @Test func dotSegmentVectorsAreAlsoRefusedByRequestTarget() {
        for segment in ["..", "%2e%2e", "%2E.", "."] {
            #expect(throws: RequestTargetError.self) { try RequestTarget(parsing: "/users/\(segment)") }
        }
    }

    @Test func catchAllVectors() throws {
        let table = RouteTable(try makeRoutes([("*", "/api/{rest...}")]))
        let template = try URLTemplate(parsing: "/v2/{rest...}")
        let cases: [(String, String?)] = [
            ("/api/a/b", "/v2/a/b"),
            ("/api/a%2Fb/c", "/v2/a%2Fb/c"),
            ("/api/a%252F/%3F", "/v2/a%252F/%3F"),
            ("/api", "/v2/"),
            ("/api/a/", "/v2/a/"),
            ("/api/a/../b", nil),
            ("/api/a/%2e%2e/b", nil),
            ("/api/a//b", nil),
            ("/api/a/%00", nil),
        ]
        for (path, expected) in cases {
            let match = table.match(method: "GET", path: path[...])
            switch (match, expected) {
            case (.matched(_, let parameters), .some(let upstream)):
                let rendered = try template.render(
                    TemplateValues(routeParameters: parameters, query: QueryParameters())
                )
                #expect(rendered == upstream, "\(path)")
            case (.badRequest, .none):
                break
            default:
                Issue.record("\(path): got \(match), expected \(expected ?? "400")")
            }
        }
    }
}

/// Property-style checks with a fixed-seed generator: whatever the bytes, a rendered value stays inside its
/// segment or query component.
@Suite struct TemplateRenderingPropertyTests {
    /// SplitMix64, so failures reproduce.
    struct SeededGenerator: RandomNumberGenerator {
        var state: UInt64
        mutating func next() -> UInt64 {
            self.state &+= 0x9E37_79B9_7F4A_7C15
            var z = self.state
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            return z ^ (z >> 31)
        }
    }

    /// Random bytes biased towards the dangerous ones.
    static func randomBytes(_ generator: inout SeededGenerator) -> [UInt8] {
        let interesting = Array("/?#%.&=+ \\:@;\r\n\t\0".utf8) + [0x7F, 0xC0, 0xAE, 0xFF, 0xE2, 0x82]
        let count = Int.random(in: 0...12, using: &generator)
        return (0..<count).map { _ in
            Bool.random(using: &generator)
                ? interesting.randomElement(using: &generator)!
                : UInt8.random(in: 0...255, using: &generator)
        }
    }

    /// No raw `/ ? #`, space or control byte, `%` only as `%XX`, never a `.`/`..`/empty segment.
    static func checkComponent(_ component: Substring, context: String) {
        let bytes = Array(component.utf8)
        #expect(!bytes.contains { "/?#".utf8.contains($0) || $0 <= 0x20 || $0 >= 0x7F }, "\(context)")
        #expect(PercentCoding.isWellFormed(bytes), "\(context)")
        #expect(bytes.allSatisfy { PercentCoding.isUnreserved($0) || $0 == UInt8(ascii: "%") }, "\(context)")
    }

    @Test func renderedRandomValuesNeverChangeStructure() throws {
        var generator = SeededGenerator(state: 0x5EED)
        let template = try URLTemplate(parsing: "/v1/{id}/x?q={query.q}&z=1")
        for _ in 0..<5_000 {
            let id = String(decoding: Self.randomBytes(&generator), as: UTF8.self)
            // QueryParameters refuses control characters, so the query value goes without them.
            let q = String(
                decoding: Self.randomBytes(&generator).filter { !PercentCoding.isControl($0) },
                as: UTF8.self
            )
            let withQuery = TemplateValues(
                routeParameters: ["id": [id]],
                query: try QueryParameters(parsing: "q=" + Self.formEncode(q))
            )
            do {
                let rendered = try template.render(withQuery)
                #expect(rendered.hasPrefix("/v1/") && rendered.contains("/x?q="), "\(rendered)")
                let segments = rendered.split(separator: "?", maxSplits: 1)[0].split(
                    separator: "/",
                    omittingEmptySubsequences: false
                )
                #expect(segments.count == 4, "\(rendered)")
                #expect(segments[2] != "." && segments[2] != ".." && !segments[2].isEmpty, "\(rendered)")
                Self.checkComponent(segments[2], context: "id \(Array(id.utf8)) → \(rendered)")
                let queryValue = rendered.split(separator: "?", maxSplits: 1)[1].dropFirst(2).prefix { $0 != "&" }
                Self.checkComponent(queryValue, context: "q \(Array(q.utf8)) → \(rendered)")
                #expect(rendered.hasSuffix("&z=1"))
            } catch {
                #expect(error == .invalidPathSegment("id"), "\(error)")
                #expect(id.isEmpty || id == "." || id == "..")
            }
        }
    }

    @Test func renderedRandomCatchAllsNeverProduceDotSegments() throws {
        var generator = SeededGenerator(state: 42)
        let template = try URLTemplate(parsing: "/v2/{rest...}")
        for _ in 0..<2_000 {
            let count = Int.random(in: 1...4, using: &generator)
            let elements = (0..<count).map { _ in String(decoding: Self.randomBytes(&generator), as: UTF8.self) }
            do {
                let rendered = try template.render(
                    TemplateValues(routeParameters: ["rest": elements], query: QueryParameters())
                )
                let segments = rendered.dropFirst(4).split(separator: "/", omittingEmptySubsequences: false)
                #expect(segments.count == elements.count, "\(rendered)")
                for segment in segments {
                    #expect(segment != "." && segment != "..", "\(rendered)")
                    Self.checkComponent(segment, context: rendered)
                }
            } catch {
                #expect(error == .invalidPathSegment("rest"))
                #expect(
                    elements.enumerated().contains {
                        $0.element == "." || $0.element == ".."
                            || ($0.element.isEmpty && $0.offset < elements.count - 1)
                    }
                )
            }
        }
    }

    @Test func randomRawClientSegmentsEitherFailOrRenderSafely() throws {
        var generator = SeededGenerator(state: 7)
        let table = RouteTable(try makeRoutes([("GET", "/users/{id}")]))
        let template = try URLTemplate(parsing: "/v1/users/{id}/orders")
        let alphabet = Array("aZ09-._~%2e2E2F3F00C0AEzz/?#;=@+".utf8)
        for _ in 0..<5_000 {
            let length = Int.random(in: 1...10, using: &generator)
            let raw = String(
                decoding: (0..<length).map { _ in alphabet.randomElement(using: &generator)! },
                as: UTF8.self
            )
            guard !raw.contains("/"), !raw.contains("?"), !raw.contains("#") else { continue }
            switch table.match(method: "GET", path: "/users/\(raw)"[...]) {
            case .matched(_, let parameters):
                let rendered = try template.render(
                    TemplateValues(routeParameters: parameters, query: QueryParameters())
                )
                let segments = rendered.split(separator: "/", omittingEmptySubsequences: false)
                #expect(segments.count == 5, "\(raw) → \(rendered)")
                #expect(!PercentCoding.isDotSegment(segments[3].utf8), "\(raw) → \(rendered)")
                Self.checkComponent(segments[3], context: "\(raw) → \(rendered)")
            case .badRequest:
                break
            case .notFound, .methodNotAllowed:
                Issue.record("unexpected result for \(raw)")
            }
        }
    }

    /// Encodes a test value so `QueryParameters` decodes it back exactly.
    static func formEncode(_ value: String) -> String {
        var bytes: [UInt8] = []
        PercentCoding.appendEncoded(value.utf8, to: &bytes)
        return String(decoding: bytes, as: UTF8.self)
    }
}
