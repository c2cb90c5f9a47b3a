import FanoutCore
import Testing

@testable import FanoutRuntime

/// The call layers above the client, each on a ``ScriptedCalls`` fake: the call cache (``CallCache``),
/// single-flight coalescing (``CallCoalescer``), hedges, retries and the retry budget (``CallAttempts``).
@Suite struct CoalescingLayerTests {
    @Test func identicalCallsShareOneTransferAndEachGetsItsAnswer() throws {
        let loop = try EventLoop()
        let below = ScriptedCalls()
        let layer = CallCoalescer(loop: loop, client: below)
        let results = Results()
        for name in ["a", "b", "c"] { _ = layer.start(layerRequest(loop), completion: results.completion(name)) }
        #expect(below.started.count == 1)
        #expect(layer.sharedTransfers == 1)
        below.answer(0, body: "shared")
        #expect(["a", "b", "c"].map(results.body) == ["shared", "shared", "shared"])
        #expect(layer.counters.coalesced == ["p": 2])
        #expect(layer.sharedTransfers == 0)
        // The key is free again: the next call starts its own transfer.
        _ = layer.start(layerRequest(loop), completion: results.completion("d"))
        #expect(below.started.count == 2)
    }

    @Test func callsWithoutAKeyOrWithCoalesceOffGoBelowUnchanged() throws {
        let loop = try EventLoop()
        let below = ScriptedCalls()
        let layer = CallCoalescer(loop: loop, client: below)
        let results = Results()
        _ = layer.start(layerRequest(loop, key: nil), completion: results.completion("a"))
        _ = layer.start(layerRequest(loop, key: nil), completion: results.completion("b"))
        _ = layer.start(layerRequest(loop, coalesce: false), completion: results.completion("c"))
        _ = layer.start(layerRequest(loop, coalesce: false), completion: results.completion("d"))
        #expect(below.started.count == 4)
        let handle = layer.start(layerRequest(loop, key: nil), completion: results.completion("e"))
        layer.cancel(handle, timedOut: true)
        #expect(below.cancelled.count == 1 && below.cancelled[0].handle == 4 && below.cancelled[0].timedOut)
        #expect(layer.counters.coalesced.isEmpty)
    }

    @Test func aJoinerThatCancelsLeavesTheTransferToTheOthers() throws {
        let loop = try EventLoop()
        let below = ScriptedCalls()
        let layer = CallCoalescer(loop: loop, client: below)
        let results = Results()
        let first = layer.start(layerRequest(loop), completion: results.completion("a"))
        _ = layer.start(layerRequest(loop), completion: results.completion("b"))
        layer.cancel(first, timedOut: false)
        #expect(below.cancelled.isEmpty)
        below.answer(0)
        #expect(results.byCall["a"] == nil)
        #expect(results.status("b") == 200)
    }

    @Test func whenEveryWaiterCancelsTheTransferIsCancelled() throws {
        let loop = try EventLoop()
        let below = ScriptedCalls()
        let layer = CallCoalescer(loop: loop, client: below)
        let results = Results()
        let first = layer.start(layerRequest(loop), completion: results.completion("a"))
        let second = layer.start(layerRequest(loop), completion: results.completion("b"))
        layer.cancel(first, timedOut: true)
        #expect(below.cancelled.isEmpty)
        layer.cancel(second, timedOut: true)
        #expect(below.cancelled.count == 1 && below.cancelled[0].handle == 0 && below.cancelled[0].timedOut)
        #expect(layer.sharedTransfers == 0)
        #expect(results.byCall.isEmpty)
        _ = layer.start(layerRequest(loop), completion: results.completion("c"))
        #expect(below.started.count == 2)
    }

    @Test func aSharedTransferIsLetGoBelowWhenItsLastWaiterIsReleased() throws {
        let loop = try EventLoop()
        let below = ScriptedCalls()
        let layer = CallCoalescer(loop: loop, client: below)
        let results = Results()
        let first = layer.start(layerRequest(loop), completion: results.completion("a"))
        let second = layer.start(layerRequest(loop), completion: results.completion("b"))
        layer.release(first)
        #expect(below.released.isEmpty)
        layer.release(second)
        #expect(below.released == [0])
        #expect(below.cancelled.isEmpty)
        #expect(layer.sharedTransfers == 0)
        // Uncoalesced calls are let go below as they are.
        let alone = layer.start(layerRequest(loop, coalesce: false), completion: results.completion("c"))
        layer.release(alone)
        #expect(below.released == [0, 1])
        #expect(results.byCall.isEmpty)
    }

    @Test func eachSharedTransferIsReportedOnceWhenItEnds() throws {
        let loop = try EventLoop()
        let below = ScriptedCalls()
        let layer = CallCoalescer(loop: loop, client: below)
        var ended: [(key: String, status: Int?)] = []
        layer.transferEnded = { key, result in
            var status: Int?
            if case .success(let response) = result?.outcome { status = response.status }
            ended.append((key, status))
        }
        let results = Results()
        for name in ["a", "b"] { _ = layer.start(layerRequest(loop), completion: results.completion(name)) }
        below.answer(0, status: 203)
        #expect(ended.count == 1 && ended[0].key == "GET http://p.test:80/a\n" && ended[0].status == 203)
        // Cancelled when its last waiter leaves: reported with no result; a call that is not coalesced: never.
        let handle = layer.start(layerRequest(loop), completion: results.completion("c"))
        layer.cancel(handle, timedOut: false)
        _ = layer.start(layerRequest(loop, coalesce: false), completion: results.completion("d"))
        below.answer(2)
        #expect(ended.count == 2 && ended[1].status == nil)
    }
}

@Suite struct CacheLayerTests {
    @Test func aFreshEntryAnswersAtOnceWithoutATransfer() throws {
        let loop = try EventLoop()
        let below = ScriptedCalls()
        let layer = CallCache(loop: loop, client: below, cacheBytes: 1 << 20)
        let results = Results()
        let policy = CachePolicy(lifetime: .upTo(milliseconds: 60_000))
        _ = layer.start(layerRequest(loop, cache: policy), completion: results.completion("miss"))
        below.answer(0, body: "stored")
        _ = layer.start(layerRequest(loop, cache: policy), completion: results.completion("hit"))
        #expect(below.started.count == 1)
        #expect(results.body("hit") == "stored")
        #expect(results.byCall["miss"]?.first?.cache == .miss)
        #expect(results.byCall["hit"]?.first?.cache == .hit)
        #expect(layer.counters.cacheHits == ["p": 1] && layer.counters.cacheMisses == ["p": 1])
    }

    @Test func aStaleEntryIsServedWhileOneTransferRefreshesIt() throws {
        let loop = try EventLoop()
        let below = ScriptedCalls()
        let layer = CallCache(loop: loop, client: below, cacheBytes: 1 << 20)
        let results = Results()
        // Fresh for 1 ms, then served stale for a minute while it is refreshed.
        let policy = CachePolicy(lifetime: .upTo(milliseconds: 1), staleWhileRevalidateMs: 60_000)
        _ = layer.start(layerRequest(loop, cache: policy), completion: results.completion("first"))
        below.answer(0, body: "old")
        loop.refreshNow()
        let storedAt = loop.now
        run(loop, until: { loop.now >= storedAt &+ 50_000_000 })
        for name in ["stale1", "stale2", "stale3"] {
            _ = layer.start(layerRequest(loop, cache: policy), completion: results.completion(name))
        }
        // Every call answered at once from the stale entry; one refresh for all of them.
        #expect(["stale1", "stale2", "stale3"].map(results.body) == ["old", "old", "old"])
        #expect(results.byCall["stale1"]?.first?.cache == .staleRevalidate)
        #expect(below.started.count == 2)
        #expect(layer.counters.refreshes == ["p": 1] && layer.counters.staleRevalidate == ["p": 3])
        below.answer(1, body: "new")
        #expect(layer.coalescer.sharedTransfers == 0)
        // The refreshed entry answers the next call (stale again by now, so with a refresh of its own).
        _ = layer.start(layerRequest(loop, cache: policy), completion: results.completion("after"))
        #expect(results.body("after") == "new")
    }
    @Test func aSharedTransferIsStoredOnceWithTheLongestPolicyOfItsCalls() throws {
        let loop = try EventLoop()
        let below = ScriptedCalls()
        let layer = CallCache(loop: loop, client: below, cacheBytes: 1 << 20)
        let results = Results()
        let short = CachePolicy(lifetime: .upTo(milliseconds: 1))
        let long = CachePolicy(lifetime: .upTo(milliseconds: 60_000))
        _ = layer.start(layerRequest(loop, cache: short), completion: results.completion("short"))
        _ = layer.start(layerRequest(loop, cache: long), completion: results.completion("long"))
        #expect(below.started.count == 1)
        below.answer(0, body: "once")
        #expect(results.byCall["short"]?.first?.cache == .miss && results.byCall["long"]?.first?.cache == .miss)
        loop.refreshNow()
        let storedAt = loop.now
        run(loop, until: { loop.now >= storedAt &+ 20_000_000 })
        // Past the short policy's life, the entry is still there for the long one.
        _ = layer.start(layerRequest(loop, cache: long), completion: results.completion("hit"))
        #expect(results.body("hit") == "once" && results.byCall["hit"]?.first?.cache == .hit)
        _ = layer.start(layerRequest(loop, cache: short), completion: results.completion("expired"))
        #expect(below.started.count == 2 && results.byCall["expired"] == nil)
        #expect(layer.counters.cacheHits == ["p": 1] && layer.counters.cacheMisses == ["p": 3])
    }

    @Test func aCallThatIsNotCoalescedStoresItsOwnAnswerAndFallsBackOnAFailure() throws {
        let loop = try EventLoop()
        let below = ScriptedCalls()
        let layer = CallCache(loop: loop, client: below, cacheBytes: 1 << 20)
        let results = Results()
        // Fresh for 1 ms, then kept a minute as a fallback for failures.
        let policy = CachePolicy(lifetime: .upTo(milliseconds: 1), staleIfErrorMs: 60_000)
        _ = layer.start(layerRequest(loop, coalesce: false, cache: policy), completion: results.completion("a"))
        below.answer(0, body: "kept")
        #expect(layer.cachedBytes > 0)
        loop.refreshNow()
        let storedAt = loop.now
        run(loop, until: { loop.now >= storedAt &+ 20_000_000 })
        _ = layer.start(layerRequest(loop, coalesce: false, cache: policy), completion: results.completion("b"))
        _ = layer.start(layerRequest(loop, coalesce: false, cache: policy), completion: results.completion("c"))
        #expect(below.started.count == 3 && layer.coalescer.sharedTransfers == 0)
        below.fail(1, .refused)
        below.answer(2, status: 502)
        #expect(results.body("b") == "kept" && results.byCall["b"]?.first?.cache == .staleError)
        #expect(results.body("c") == "kept" && results.byCall["c"]?.first?.cache == .staleError)
        #expect(layer.counters.staleError == ["p": 2] && layer.counters.cacheMisses == ["p": 3])
    }
}

@Suite struct AttemptsLayerTests {
    @Test func aRetryableFailureIsRetriedAfterAPause() throws {
        let loop = try EventLoop()
        let below = ScriptedCalls()
        let layer = CallAttempts(loop: loop, client: below)
        let results = Results()
        _ = layer.start(layerRequest(loop, retries: 1), completion: results.completion("a"))
        below.fail(0, .refused)
        #expect(below.started.count == 1)  // not before the pause
        run(loop, until: { below.started.count == 2 })
        #expect(below.started.count == 2)
        below.answer(1)
        let result = try #require(results.byCall["a"]?.first)
        #expect(results.status("a") == 200)
        #expect(result.attempts == 2 && !result.hedgeWon)
        #expect(layer.counters.retries == ["p": 1])
    }

    @Test func aHedgeThatAnswersFirstWinsAndTheFirstAttemptIsCancelled() throws {
        let loop = try EventLoop()
        let below = ScriptedCalls()
        let layer = CallAttempts(loop: loop, client: below)
        let results = Results()
        _ = layer.start(layerRequest(loop, hedgeDelayMs: 20), completion: results.completion("a"))
        run(loop, until: { below.started.count == 2 })
        #expect(below.started.count == 2)
        below.answer(1, body: "hedge")
        let result = try #require(results.byCall["a"]?.first)
        #expect(results.body("a") == "hedge")
        #expect(result.attempts == 2 && result.hedgeWon)
        #expect(below.cancelled.count == 1 && below.cancelled[0].handle == 0 && !below.cancelled[0].timedOut)
        #expect(layer.counters.hedges == ["p": 1] && layer.counters.hedgeWins == ["p": 1])
    }

    @Test func noHedgeWhenTheClientWouldNotStartItAtOnce() throws {
        let loop = try EventLoop()
        let below = ScriptedCalls()
        below.admitsHedges = false
        let layer = CallAttempts(loop: loop, client: below)
        let results = Results()
        _ = layer.start(layerRequest(loop, hedgeDelayMs: 10), completion: results.completion("a"))
        loop.refreshNow()
        let start = loop.now
        run(loop, until: { loop.now >= start &+ 100_000_000 })
        #expect(below.started.count == 1)
        below.answer(0)
        #expect(results.byCall["a"]?.first?.attempts == 1)
        #expect(layer.counters.hedges.isEmpty)
    }

    @Test func theRetryBudgetRefusesRetriesBeyondItsFloor() throws {
        let loop = try EventLoop()
        let below = ScriptedCalls()
        let layer = CallAttempts(loop: loop, client: below)
        let results = Results()
        // `retry_budget 0`: only the floor of extra attempts per window.
        let floor = RetryBudget.floorPerSecond * RetryBudget.windowSeconds
        for call in 0...floor {
            _ = layer.start(
                layerRequest(loop, retries: 1, retryBudgetPercent: 0), completion: results.completion("\(call)"))
            below.fail(call, .status(503))
        }
        #expect(layer.counters.budgetRefusals == ["p": 1])
        #expect(layer.counters.retries == ["p": UInt64(floor)])
        // The refused call ends with its failure at once; the others wait for their retry.
        let refused = try #require(results.byCall["\(floor)"]?.first)
        #expect(refused.attempts == 1)
        #expect(results.byCall.count == 1)
    }

    @Test func cancellingACallCancelsEveryAttemptInFlight() throws {
        let loop = try EventLoop()
        let below = ScriptedCalls()
        let layer = CallAttempts(loop: loop, client: below)
        let results = Results()
        let handle = layer.start(layerRequest(loop, hedgeDelayMs: 10), completion: results.completion("a"))
        run(loop, until: { below.started.count == 2 })
        layer.cancel(handle, timedOut: true)
        #expect(below.cancelled.map(\.handle).sorted() == [0, 1])
        #expect(below.cancelled.allSatisfy { $0.timedOut })
        #expect(results.byCall.isEmpty)
    }

    @Test func aReleasedCallLetsItsAttemptsGoAndSendsNoRetryOrHedge() throws {
        let loop = try EventLoop()
        let below = ScriptedCalls()
        let layer = CallAttempts(loop: loop, client: below)
        let results = Results()
        let handle = layer.start(
            layerRequest(loop, hedgeDelayMs: 10, retries: 2), completion: results.completion("a"))
        layer.release(handle)
        #expect(below.released == [0])
        #expect(below.cancelled.isEmpty)
        // Its hedge was due after 10 ms: none goes out, and a late failure of the attempt is not retried.
        loop.refreshNow()
        let start = loop.now
        run(loop, until: { loop.now >= start &+ 60_000_000 })
        // (The client drops a released transfer's answer; even if one reached this layer, nothing follows.)
        below.started[0].completion(UpstreamResult(outcome: .failure(.refused), elapsedMs: 1))
        run(loop, until: { loop.now >= start &+ 400_000_000 })
        #expect(below.started.count == 1)
        #expect(results.byCall.isEmpty)
        #expect(layer.counters.hedges.isEmpty && layer.counters.retries.isEmpty)
    }
}
