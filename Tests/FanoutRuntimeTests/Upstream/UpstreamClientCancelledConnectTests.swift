import FanoutCore
import FanoutTestSupport
import Glibc
import Testing

@testable import FanoutRuntime

/// Issue 15: libcurl 7.88.1 closes the socket of a transfer cancelled while connecting without
/// CURLOPT_CLOSESOCKETFUNCTION. Its loop registration must not outlive it: a stale one made the loop take the
/// next socket with that number for registered, so that socket was never added to epoll and its transfer
/// waited for libcurl's own timeouts (a wide fan-out after the slow scenario took 2 s per request). One real
/// loop and client, real libcurl, a port whose SYNs go unanswered and a real partner on loopback.
@Suite struct UpstreamClientCancelledConnectTests {
    /// A fixed call of `url` (the partner's `/a` or the silent port): one number per URL, as a configuration
    /// gives them.
    static func request(_ url: String, loop: EventLoop, slot: AdmissionSlot) -> UpstreamRequest {
        UpstreamRequest(
            message: UpstreamMessage(
                method: "GET", url: url, fixedURLNumber: url.hasSuffix("/a") ? 0 : 1, headers: [], body: nil),
            policy: CallPolicy(
                upstreamName: "partner", slot: slot, connectTimeoutMs: 5_000, timeoutMs: 5_000,
                deadline: loop.now &+ 8_000_000_000, maxResponseBytes: 1 << 20, captureHeaders: false,
                mustNotRepeat: false))
    }

    /// Calls cancelled while connecting leave no registration behind, and the calls after them (whose sockets
    /// take the freed numbers) are answered at once.
    @Test func callsCancelledWhileConnectingLeaveNoRegistrationBehind() throws {
        let silent = try UnansweredPort()
        defer { silent.close() }
        let stub = try UpstreamStub(routes: ["/a": .json(#"{"a":1}"#)])
        defer { stub.stop() }
        let loop = try EventLoop()
        let client = try #require(UpstreamClient(loop: loop))
        let slot = AdmissionSlot(raw: 0)
        client.setLimits([.init(slot: slot, upstreamName: "partner", limit: 32, queueLimit: nil, breaker: nil)])
        let count = 8

        var connecting: [TransferID] = []
        for _ in 0..<count {
            let url = "http://127.0.0.1:\(silent.port)/never"
            connecting.append(
                client.start(Self.request(url, loop: loop, slot: slot)) { _ in
                    Issue.record("a cancelled call completed")
                })
        }
        var cancelledSockets: [Int32] = []
        var stillRegistered: [Int32] = []
        var stateLeft: [Int32] = []
        var answers: [(status: Int, elapsedMs: Double)] = []
        loop.schedule(afterMilliseconds: 300) {
            // The SYNs go unanswered: every socket is still connecting (libcurl retransmits after 1 s).
            cancelledSockets = client.socketStates.indices.filter { client.socketStates[$0].contains(.connection) }
                .map { Int32($0) }
            for id in connecting { client.cancel(id) }
            stillRegistered = cancelledSockets.filter { loop.isRegistered(fd: $0) }
            stateLeft = cancelledSockets.filter { !client.socketState($0).isEmpty }
            for _ in 0..<count {
                client.start(Self.request(stub.baseURL + "/a", loop: loop, slot: slot)) { result in
                    switch result.outcome {
                    case .success(let answer): answers.append((answer.status, result.elapsedMs))
                    case .failure: answers.append((-1, result.elapsedMs))
                    }
                    if answers.count == count { loop.requestStop() }
                }
            }
        }
        loop.schedule(afterMilliseconds: 10_000) { [weak loop] in loop?.requestStop() }  // never hang the run
        loop.run()
        client.close()

        #expect(cancelledSockets.count == count, "connecting sockets: \(cancelledSockets)")
        #expect(stillRegistered == [], "registrations left for closed sockets")
        #expect(stateLeft == [], "socket states left for closed sockets")
        #expect(answers.map(\.status) == Array(repeating: 200, count: count))
        // A loopback answer takes milliseconds; a socket never added to epoll waited for libcurl's timeouts.
        #expect(answers.allSatisfy { $0.elapsedMs < 1_000 }, "elapsed: \(answers.map(\.elapsedMs))")
    }
}
