import Foundation
import Testing

@testable import FanoutCore

@Suite struct AccessLogLineTests {
    /// A call's identity is not logged: these lines are the same whatever it is.
    static let anyCall = AccessLogLine.Call.Identity(call: 0, upstream: 0)

    @Test func serializesOneJSONLine() {
        let line = AccessLogLine(
            time: "2025-01-02T03:04:05.678Z",
            method: "GET",
            path: "/x",
            route: "GET /x",
            status: 200,
            durationMs: 12.34,
            requestID: "abc123",
            traceID: "4bf92f3577b34da6a3ce929d0e0e4736",
            parentID: "a3ce929d0e0e4736",
            calls: [
                AccessLogLine.Call(
                    name: "a", identity: Self.anyCall, status: 200, durationMs: 10.06, failure: nil,
                    spanID: "00f067aa0ba902b7",
                    httpVersion: "2")
            ]
        )
        #expect(
            String(decoding: line.serialized(), as: UTF8.self)
                == #"{"time":"2025-01-02T03:04:05.678Z","method":"GET","path":"/x","route":"GET /x","status":200"#
                + #","duration_ms":12.3,"request_id":"abc123","trace_id":"4bf92f3577b34da6a3ce929d0e0e4736"#
                + #"","parent_id":"a3ce929d0e0e4736","calls":"#
                + #"[{"name":"a","status":200,"http_version":"2","duration_ms":10.1,"span_id":"00f067aa0ba902b7"}]}"#
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
                AccessLogLine.Call(name: "a", identity: Self.anyCall, status: nil, durationMs: 400, failure: "timeout"),
                AccessLogLine.Call(name: "b", identity: Self.anyCall, status: 503, durationMs: 2, failure: "status"),
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
        #expect(object["trace_id"] is NSNull)
        #expect(calls[0]["span_id"] == nil)
        #expect(calls[0]["span_ids"] == nil)
        #expect(calls[0]["http_version"] == nil)
    }

    @Test func writesItemSpansOfAForEachCall() throws {
        let line = AccessLogLine(
            time: "t", method: "GET", path: "/", route: "GET /", status: 200, durationMs: 1, requestID: "r",
            traceID: "0af7651916cd43dd8448eb211c80319c",
            calls: [
                AccessLogLine.Call(
                    name: "one", identity: Self.anyCall, status: 200, durationMs: 1, failure: nil,
                    spanID: "b7ad6b7169203331"),
                AccessLogLine.Call(
                    name: "each", identity: Self.anyCall, status: nil, durationMs: 2, failure: nil,
                    itemSpanIDs: ["00f067aa0ba902b7", "53995c3f42cd8ad8"]),
                AccessLogLine.Call(
                    name: "none", identity: Self.anyCall, status: nil, durationMs: 0, failure: nil, itemSpanIDs: []),
            ]
        )
        let object = try JSONOracle.object(Array(line.serialized().dropLast()))
        #expect(object["trace_id"] as? String == "0af7651916cd43dd8448eb211c80319c")
        let calls = try #require(object["calls"] as? [[String: Any]])
        #expect(calls[0]["span_id"] as? String == "b7ad6b7169203331")
        #expect(calls[1]["span_ids"] as? [String] == ["00f067aa0ba902b7", "53995c3f42cd8ad8"])
        #expect(calls[1]["span_id"] == nil)
        #expect(calls[2]["span_ids"] as? [String] == [])
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

    @Test func writesTheClientAbortAndTheCallsItCancelled() {
        var cancelled = AccessLogLine.Call(
            name: "slow", identity: Self.anyCall, status: nil, durationMs: 250, failure: nil, spanID: "0a")
        cancelled.cancelled = true
        let line = AccessLogLine(
            time: "t", method: "GET", path: "/p", route: "GET /p", status: 499, durationMs: 251, requestID: "r",
            traceID: "t1",
            calls: [
                AccessLogLine.Call(name: "fast", identity: Self.anyCall, status: 200, durationMs: 3, failure: nil),
                cancelled,
            ],
            clientAbort: .reset)
        #expect(
            String(decoding: line.serialized(), as: UTF8.self)
                == #"{"time":"t","method":"GET","path":"/p","route":"GET /p","status":499,"client_abort":"reset""#
                + #","duration_ms":251.0,"request_id":"r","trace_id":"t1","calls":[{"name":"fast","status":200"#
                + #","duration_ms":3.0},{"name":"slow","duration_ms":250.0,"span_id":"0a","cancelled":true}]}"#
                + "\n")
    }
}
