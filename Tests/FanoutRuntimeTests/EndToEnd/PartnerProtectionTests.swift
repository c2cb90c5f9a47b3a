import FanoutTestSupport
import Foundation
import Synchronization
import Testing

/// Statuses collected from client threads.
private final class Statuses: Sendable {
    private let values = Mutex<[Int]>([])
    func append(_ status: Int) { values.withLock { $0.append(status) } }
    var all: [Int] { values.withLock { $0 } }
}

/// `breaker` and `max_queue` (docs/reference/partner-protection.md): against a real stub, which counts what reaches it.
@Suite struct PartnerProtectionTests {
    static let failing = UpstreamStub.Behavior.respond(status: 500, body: Array(#"{"error":"down"}"#.utf8))

    @Test func consecutiveFailuresOpenTheBreakerAndOneProbeClosesIt() throws {
        let stub = try UpstreamStub(routes: [
            "/fail": Self.failing, "/ok": .json(#"{"ok":true}"#), "/slow": .json(#"{"slow":true}"#, delayMs: 600),
            "/404": .respond(status: 404, body: Array("{}".utf8)),
        ])
        let server = try TestServer(
            """
            upstream partner {
                url {{stub}}
                breaker 3 1s
            }
            route GET /p/{rest...} {
                proxy partner /{rest...}
            }
            route GET /c {
                call data GET partner /ok optional
            }
            route GET /r {
                call data GET partner /ok
            }
            """, substitutions: ["stub": stub.baseURL])

        // 4xx answers are the request's fault: they never open it, and a 2xx resets the count.
        for _ in 0..<4 { #expect(try server.get("/p/404").status == 404) }
        for _ in 0..<2 { #expect(try server.get("/p/fail").status == 500) }
        #expect(try server.get("/p/ok").status == 200)
        for _ in 0..<3 { #expect(try server.get("/p/fail").status == 500) }
        #expect(stub.requests(forPath: "/fail") == 5)
        #expect(stub.requests(forPath: "/ok") == 1)

        // Open: calls fail fast with 503 / circuit_open and never reach the stub.
        let (open, openMs) = try measureMs { try server.get("/p/ok") }
        #expect(open.status == 503)
        #expect(open.bodyText.contains("circuit_open"))
        #expect(open.bodyText.contains(#""error":"unavailable""#))
        #expect(openMs < 500)
        let composite = try jsonObject(try server.get("/c"))
        let errors = try #require(composite["_errors"] as? [[String: Any]])
        #expect(errors.first?["kind"] as? String == "circuit_open")
        // A required call held back: 503 like a proxy route, since the partner was not asked.
        let required = try server.get("/r")
        #expect(required.status == 503)
        #expect(required.bodyText.contains("circuit_open"))
        #expect(stub.requests(forPath: "/ok") == 1)

        // After the cool-down, exactly one probe goes through; calls meanwhile still fail fast.
        usleep(1_200_000)
        let probe = ClientThreads()
        let probeStatus = Statuses()
        probe.start {
            probeStatus.append((try? server.get("/p/slow").status) ?? -1)
        }
        #expect(waitUntil(timeoutMs: 2_000) { stub.requests(forPath: "/slow") == 1 })
        let duringProbe = try server.get("/p/ok")
        #expect(duringProbe.status == 503)
        #expect(duringProbe.bodyText.contains("circuit_open"))
        #expect(probe.wait(seconds: 5))
        #expect(probeStatus.all == [200])

        // The probe succeeded: closed again.
        #expect(try server.get("/p/ok").status == 200)
        #expect(stub.requests(forPath: "/ok") == 2)
        #expect(stub.requests(forPath: "/slow") == 1)
    }

    @Test func aFailedProbeReopensTheBreaker() throws {
        let stub = try UpstreamStub(routes: ["/fail": Self.failing, "/ok": .json(#"{"ok":true}"#)])
        let closedPort = try freeTCPPort()
        let server = try TestServer(
            """
            upstream partner {
                url {{stub}}
                breaker 2 500ms
            }
            upstream gone {
                url http://127.0.0.1:\(closedPort)
                breaker 1 10s
            }
            route GET /p/{rest...} {
                proxy partner /{rest...}
            }
            route GET /gone {
                proxy gone /x
            }
            """, substitutions: ["stub": stub.baseURL])

        // A refused connection counts like a 5xx.
        #expect(try server.get("/gone").status == 502)
        let gone = try server.get("/gone")
        #expect(gone.status == 503)
        #expect(gone.bodyText.contains("circuit_open"))

        for _ in 0..<2 { #expect(try server.get("/p/fail").status == 500) }
        #expect(try server.get("/p/ok").status == 503)
        usleep(700_000)
        #expect(try server.get("/p/fail").status == 500)  // the probe, and it fails
        #expect(stub.requests(forPath: "/fail") == 3)
        let reopened = try server.get("/p/ok")
        #expect(reopened.status == 503)
        #expect(reopened.bodyText.contains("circuit_open"))
        #expect(stub.requests(forPath: "/ok") == 0)
        usleep(700_000)
        #expect(try server.get("/p/ok").status == 200)
        #expect(try server.get("/p/ok").status == 200)
        #expect(stub.requests(forPath: "/ok") == 2)
    }

    @Test func aFullQueueFailsAtOnceWithOverloaded() throws {
        let stub = try UpstreamStub(routes: ["/slow": .json(#"{"slow":true}"#, delayMs: 1_500)])
        let server = try TestServer(
            """
            upstream partner {
                url {{stub}}
                max_connections 1
                max_queue 1
            }
            route GET /p/{rest...} {
                proxy partner /{rest...}
            }
            route GET /c {
                call data GET partner /slow optional
            }
            """, substitutions: ["stub": stub.baseURL])

        // One call in flight, one waiting in the queue: both sent from this thread, in order, answers read later.
        let request = "GET /p/slow HTTP/1.1\r\nHost: fanout\r\n\r\n"
        let first = try RawHTTPClient(port: server.port, timeoutMs: 10_000)
        try first.send(request)
        #expect(waitUntil(timeoutMs: 2_000) { stub.requests(forPath: "/slow") == 1 })
        let second = try RawHTTPClient(port: server.port, timeoutMs: 10_000)
        try second.send(request)
        usleep(300_000)  // the queued call cannot be observed from outside; 300 ms is plenty on loopback
        #expect(stub.requests(forPath: "/slow") == 1)

        // …so the next one fails at once, on a proxy route and on a composite route.
        let (overflow, overflowMs) = try measureMs { try server.get("/p/slow") }
        #expect(overflow.status == 503)
        #expect(overflow.bodyText.contains("overloaded"))
        #expect(overflow.bodyText.contains("max_queue 1"))
        #expect(overflowMs < 800)
        let composite = try jsonObject(try server.get("/c"))
        let errors = try #require(composite["_errors"] as? [[String: Any]])
        #expect(errors.first?["kind"] as? String == "overloaded")

        // The queued call still gets its turn.
        #expect(try first.readResponse().status == 200)
        #expect(try second.readResponse().status == 200)
        #expect(stub.requests(forPath: "/slow") == 2)
    }

    @Test func rateHoldsCallsInTheQueueUntilTheirTokenIsDue() throws {
        let stub = try UpstreamStub(routes: ["/ok": .json(#"{"ok":true}"#)])
        let server = try TestServer(
            """
            upstream limited {
                url {{stub}}
                rate 4/s
            }
            upstream strict {
                url {{stub}}
                rate 1/m
                max_queue 0
            }
            route GET /p/{rest...} {
                proxy limited /{rest...}
            }
            route GET /s/{rest...} {
                proxy strict /{rest...}
            }
            """, substitutions: ["stub": stub.baseURL])

        // A burst of one second's worth (4) goes at once; the next 4 come one every 250 ms.
        let (burst, burstMs) = try measureMs { try (0..<4).map { _ in try server.get("/p/ok").status } }
        #expect(burst == [200, 200, 200, 200])
        #expect(burstMs < 700)
        let (paced, pacedMs) = try measureMs { try (0..<4).map { _ in try server.get("/p/ok").status } }
        #expect(paced == [200, 200, 200, 200])
        #expect(pacedMs > 850)
        #expect(pacedMs < 5_000)

        // No room to wait: over the rate fails at once.
        #expect(try server.get("/s/ok").status == 200)
        let (over, overMs) = try measureMs { try server.get("/s/ok") }
        #expect(over.status == 503)
        #expect(over.bodyText.contains("overloaded"))
        #expect(overMs < 500)
        #expect(stub.requests(forPath: "/ok") == 9)
    }
}
