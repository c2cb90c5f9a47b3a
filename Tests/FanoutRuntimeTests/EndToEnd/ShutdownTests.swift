import FanoutTestSupport
import Foundation
import Testing

/// SIGTERM on the real `fanout` executable: stop accepting, finish what is in flight within
/// `shutdown_timeout`, exit 0.
@Suite struct ShutdownTests {
    /// A config file in the temporary directory, removed by `remove()`.
    private static func writeConfig(_ text: String) throws -> URL {
        let url = FileManager.default.temporaryDirectory
            .appendingPathComponent("fanout-drain-\(UUID().uuidString).conf")
        try text.write(to: url, atomically: true, encoding: .utf8)
        return url
    }

    @Test func sigtermAnswersTheRequestInFlightStopsAcceptingAndExitsZero() throws {
        let stub = try UpstreamStub(routes: ["/slow": .json(#"{"n":1}"#, delayMs: 1_000)])
        let port = try freeTCPPort()
        let file = try Self.writeConfig(
            """
            listen 127.0.0.1:\(port)
            workers 2
            access_log off
            shutdown_timeout 5s
            route GET /ready {
                respond 200 `{"ready":true}`
            }
            route GET /slow {
                call slow GET \(stub.baseURL)/slow
            }
            """)
        defer { try? FileManager.default.removeItem(at: file) }
        let fanout = try FanoutProcess(["serve", "-c", file.path])
        #expect(FanoutProcess.waitUntilServing(port: port, path: "/ready"), "\(fanout.stderr)")

        // A keep-alive request whose upstream call is running when SIGTERM arrives.
        let client = try RawHTTPClient(port: port, timeoutMs: 5_000)
        try client.send("GET /slow HTTP/1.1\r\nHost: x\r\n\r\n")
        #expect(waitUntil(timeoutMs: 3_000) { stub.requestCount == 1 })
        fanout.send(SIGTERM)

        // New connections are refused while the request is still being answered.
        #expect(
            waitUntil(timeoutMs: 3_000) { (try? RawHTTPClient(port: port, timeoutMs: 200)) == nil },
            "still accepting after SIGTERM")
        let response = try client.readResponse()
        #expect(response.status == 200)
        #expect(response.bodyText == #"{"slow":{"n":1}}"#)
        #expect(response.header("Connection")?.lowercased() == "close")

        #expect(fanout.waitForExit(timeoutMs: 5_000) == 0, "\(fanout.stderr)")
        #expect(fanout.stderr.contains("fanout: SIGTERM: draining (up to 5000 ms)"), "\(fanout.stderr)")
        #expect(fanout.stderr.contains("fanout: stopped"), "\(fanout.stderr)")
    }

    @Test func sigtermGivesUpOnARequestThatOutlivesTheGracePeriodAndStillExitsZero() throws {
        let stub = try UpstreamStub(routes: ["/never": .neverRespond])
        let port = try freeTCPPort()
        let file = try Self.writeConfig(
            """
            listen 127.0.0.1:\(port)
            workers 1
            access_log off
            shutdown_timeout 500ms
            route GET /ready {
                respond 200 `{"ready":true}`
            }
            route GET /never {
                deadline 30s
                call never GET \(stub.baseURL)/never timeout=30s
            }
            """)
        defer { try? FileManager.default.removeItem(at: file) }
        let fanout = try FanoutProcess(["serve", "-c", file.path])
        #expect(FanoutProcess.waitUntilServing(port: port, path: "/ready"), "\(fanout.stderr)")

        let client = try RawHTTPClient(port: port, timeoutMs: 5_000)
        try client.send("GET /never HTTP/1.1\r\nHost: x\r\n\r\n")
        #expect(waitUntil(timeoutMs: 3_000) { stub.requestCount == 1 })
        let (status, elapsed) = measureMs {
            fanout.send(SIGTERM)
            return fanout.waitForExit(timeoutMs: 5_000)
        }
        #expect(status == 0, "\(fanout.stderr)")
        // It waited for the grace period (500 ms), not for the 30 s call.
        #expect(elapsed >= 450 && elapsed < 4_000, "exited after \(elapsed) ms")
        // The request that outlived the grace period got no answer: its connection was closed.
        #expect(throws: TestSupportError.self) { try client.readResponse() }
    }
}
