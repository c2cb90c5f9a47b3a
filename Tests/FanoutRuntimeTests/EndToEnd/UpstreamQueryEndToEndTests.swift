import FanoutTestSupport
import Foundation
import Testing

/// An upstream's `query NAME VALUE` parameters reach the partner on every call: composite calls, `for_each`
/// items and proxy routes, after the call's own query, intact whatever the key holds, and never logged.
@Suite struct UpstreamQueryEndToEndTests {
    /// Every character a key must survive: the query's own delimiters, `%`, space, `+` and non-ASCII.
    static let key = "k+y&a=b %41 é/?#~"

    /// The decoded `name=value` pairs of a raw request target's query, in order.
    static func parameters(of target: String) -> [(String, String)] {
        guard let mark = target.firstIndex(of: "?") else { return [] }
        return target[target.index(after: mark)...].split(separator: "&").map { pair in
            let parts = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            let decode = { (text: Substring) in String(text).removingPercentEncoding ?? "<malformed \(text)>" }
            return (decode(parts[0]), parts.count > 1 ? decode(parts[1]) : "")
        }
    }

    @Test func reachesThePartnerIntactOnEveryKindOfCallAfterTheCallsOwnQuery() throws {
        let stub = try UpstreamStub(routes: [
            "/list": .json(#"{"items":[{"id":1},{"id":2}]}"#),
            "/detail/1": .json(#"{"n":1}"#),
            "/detail/2": .json(#"{"n":2}"#),
            "/raw": .json(#"{"raw":true}"#),
            "/down": .respond(status: 503, body: Array(#"{"error":"busy"}"#.utf8)),
        ])
        defer { stub.stop() }
        let server = try TestServer(
            """
            upstream partner {
                url {{stub}}
                query api_key ${PARTNER_KEY}
                query v 2
            }
            route GET /dash {
                call list GET partner /list?limit=5&api_key=written-in-the-call
                call detail GET partner /detail/{item.id} {
                    for_each list.items
                }
            }
            route GET /broken { call down GET partner /down?x=1 }
            route GET /pass/{rest...} { proxy partner /{rest...}?q={query.q} }
            route GET /raw { proxy partner }
            """, substitutions: ["stub": stub.baseURL], environment: ["PARTNER_KEY": Self.key])

        let dash = try server.get("/dash")
        #expect(dash.status == 200, "\(dash.bodyText)")
        let passed = try server.get("/pass/raw?q=%C3%A9")
        #expect(passed.status == 200, "\(passed.bodyText)")
        // A client's own api_key on a pass-through proxy route is replaced, not sent next to the configured one.
        let raw = try server.get("/raw?api_key=client-choice&z=9")
        #expect(raw.status == 200, "\(raw.bodyText)")
        let broken = try server.get("/broken")
        #expect(broken.status == 502)

        let targets = stub.receivedRequests.map(\.target)
        let expected: [String: [(String, String)]] = [
            "/list": [("limit", "5"), ("api_key", Self.key), ("v", "2")],
            "/detail/1": [("api_key", Self.key), ("v", "2")],
            "/detail/2": [("api_key", Self.key), ("v", "2")],
            "/raw": [("q", "é"), ("api_key", Self.key), ("v", "2")],
            "/down": [("x", "1"), ("api_key", Self.key), ("v", "2")],
        ]
        #expect(targets.count == 6, "\(targets)")
        let rawTargets = targets.filter { $0.hasPrefix("/raw?") }
        #expect(rawTargets.count == 2)
        #expect(rawTargets.contains { Self.parameters(of: $0).elementsEqual(expected["/raw"]!, by: ==) } == true)
        #expect(
            rawTargets.contains {
                Self.parameters(of: $0).elementsEqual([("z", "9"), ("api_key", Self.key), ("v", "2")], by: ==)
            })
        for target in targets where !target.hasPrefix("/raw?") {
            let path = String(target.prefix { $0 != "?" })
            let wanted = try #require(expected[path], "\(target)")
            #expect(Self.parameters(of: target).elementsEqual(wanted, by: ==), "\(target)")
        }

        // Neither the key nor its encoded form is in a log line or an answer.
        #expect(waitUntil { server.accessLog.all.count == 4 }, "\(server.accessLog.all)")
        let encoded = try #require(Self.key.addingPercentEncoding(withAllowedCharacters: .alphanumerics))
        let said = server.accessLog.all + [dash.bodyText, passed.bodyText, raw.bodyText, broken.bodyText]
        for text in said {
            #expect(!text.contains(Self.key) && !text.contains(encoded) && !text.contains("%41"), "\(text)")
        }
    }
}
