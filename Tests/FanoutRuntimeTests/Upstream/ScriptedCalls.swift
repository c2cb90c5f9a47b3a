import FanoutCore

@testable import FanoutRuntime

/// A scripted layer below the one under test: it records the calls started and cancelled, and completes a call
/// only when the test says so.
final class ScriptedCalls: UpstreamCalls {
    struct Started {
        let request: UpstreamRequest
        let completion: CallCompletion
    }

    private(set) var started: [Started] = []
    /// Handles cancelled, in order, with their `timedOut`.
    private(set) var cancelled: [(handle: Int, timedOut: Bool)] = []
    private var ended: Set<Int> = []
    /// What ``admitsAtOnce(_:)`` answers (a hedge is only sent when true).
    var admitsHedges = true

    func start(_ request: consuming UpstreamRequest, completion: CallCompletion) -> Int {
        started.append(Started(request: request, completion: completion))
        return started.count - 1
    }

    func cancel(_ handle: Int, timedOut: Bool) {
        cancelled.append((handle, timedOut))
        ended.insert(handle)
    }

    /// Handles let go (``UpstreamCalls/release(_:)``), in order.
    private(set) var released: [Int] = []

    func release(_ handle: Int) {
        released.append(handle)
        ended.insert(handle)
    }

    func admitsAtOnce(_ slot: AdmissionSlot) -> Bool { admitsHedges }

    /// Calls started and neither completed nor cancelled.
    var live: [Int] { started.indices.filter { !ended.contains($0) } }

    /// Answers call `handle` with `status` and `body`.
    func answer(_ handle: Int, status: Int = 200, body: String = "ok") {
        precondition(ended.insert(handle).inserted, "call \(handle) already ended")
        let response = UpstreamResponse(
            status: status, contentType: "text/plain", headers: [], body: Array(body.utf8))
        started[handle].completion(UpstreamResult(outcome: .success(response), elapsedMs: 1))
    }

    /// Fails call `handle` with `failure`.
    func fail(_ handle: Int, _ failure: CallFailure) {
        precondition(ended.insert(handle).inserted, "call \(handle) already ended")
        started[handle].completion(UpstreamResult(outcome: .failure(failure), elapsedMs: 1))
    }
}

/// A composite call's request to upstream `p`, as `UpstreamRequest.compositeCall` builds one.
func layerRequest(
    _ loop: EventLoop, key: String? = "GET http://p.test:80/a\n", coalesce: Bool = true, cache: CachePolicy? = nil,
    hedgeDelayMs: Int? = nil, retries: Int = 0, retryBudgetPercent: Int = 20, timeoutMs: Int = 5_000
) -> UpstreamRequest {
    UpstreamRequest(
        message: UpstreamMessage(method: "GET", url: "http://p.test:80/a", headers: [], body: nil),
        policy: CallPolicy(
            upstreamName: "p", slot: AdmissionSlot(raw: 0), connectTimeoutMs: 1_000, timeoutMs: timeoutMs,
            deadline: loop.now &+ UInt64(timeoutMs) &* 1_000_000, maxResponseBytes: 1 << 20, captureHeaders: false,
            mustNotRepeat: false, hedgeDelayMs: hedgeDelayMs, retries: retries,
            retryBudgetPercent: retryBudgetPercent, key: key, coalesce: coalesce, cache: cache))
}

/// Runs `loop` until `done()` holds, for at most `limitMs` (then the caller's expectations fail).
func run(_ loop: EventLoop, until done: @escaping () -> Bool, limitMs: Int = 5_000) {
    loop.refreshNow()
    let end = loop.now &+ UInt64(limitMs) &* 1_000_000
    func check() {
        loop.refreshNow()
        if done() || loop.now >= end {
            loop.requestStop()
        } else {
            loop.schedule(afterMilliseconds: 5) { check() }
        }
    }
    check()
    loop.run()
}

/// Collects the results a layer delivers, by call.
final class Results {
    private(set) var byCall: [String: [UpstreamResult]] = [:]

    func completion(_ name: String) -> (UpstreamResult) -> Void {
        { [self] result in byCall[name, default: []].append(result) }
    }

    func status(_ name: String) -> Int? {
        guard let result = byCall[name]?.first, case .success(let answer) = result.outcome else { return nil }
        return answer.status
    }

    func body(_ name: String) -> String? {
        guard let result = byCall[name]?.first, case .success(let answer) = result.outcome else { return nil }
        return String(decoding: answer.body, as: UTF8.self)
    }
}
