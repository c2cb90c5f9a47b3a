import Foundation
import Testing

@testable import FanoutCore

@Suite struct AccessLogLineTests {
    @Test func serializesOneJSONLine() {
        let line = AccessLogLine(
            time: "2025-01-02T03:04:05.678Z",
            method: "GET",
            path: "/x",
            route: "GET /x",
            status: 200,
            durationMs: 12.34,
            requestID: "abc123",
            calls: [(name: "a", status: 200, durationMs: 10.06, failure: nil)]
        )
        #expect(
            String(decoding: line.serialized(), as: UTF8.self)
                == #"{"time":"2025-01-02T03:04:05.678Z","method":"GET","path":"/x","route":"GET /x","status":200"#
                + #","duration_ms":12.3,"request_id":"abc123","calls":[{"name":"a","status":200"#
                + #","duration_ms":10.1}]}"#
                + "\n"
        )
    }

    @Test func writesNullRouteAndFailedCalls() throws {
        let line = AccessLogLine(
            time: "t",
            method: "POST",
            path: "/search?q=\"x\"\n",
            route: nil,
            status: 502,
            durationMs: 1,
            requestID: "r",
            calls: [
                (name: "a", status: nil, durationMs: 400, failure: "timeout"),
                (name: "b", status: 503, durationMs: 2, failure: "status"),
            ]
        )
        let bytes = line.serialized()
        #expect(bytes.last == UInt8(ascii: "\n"))
        #expect(bytes.dropLast().allSatisfy { $0 != UInt8(ascii: "\n") })
        let object = try JSONOracle.object(Array(bytes.dropLast()))
        #expect(object["path"] as? String == "/search?q=\"x\"\n")
        #expect(object["route"] is NSNull)
        let calls = try #require(object["calls"] as? [[String: Any]])
        #expect(calls[0]["status"] == nil)
        #expect(calls[0]["failure"] as? String == "timeout")
        #expect(calls[1]["status"] as? Int == 503)
        #expect(calls[1]["failure"] as? String == "status")
    }

    @Test func writesEmptyCallsForNonCompositeRoutes() {
        let line = AccessLogLine(
            time: "t",
            method: "GET",
            path: "/",
            route: nil,
            status: 404,
            durationMs: 0,
            requestID: "r"
        )
        #expect(String(decoding: line.serialized(), as: UTF8.self).hasSuffix(#","calls":[]}"# + "\n"))
    }
}
