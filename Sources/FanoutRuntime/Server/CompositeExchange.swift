import FanoutCore

/// A composite route in flight. The decisions (what to call when, what to skip, how to combine) belong to
/// ``CompositeRun`` in the core; this type turns its launches into upstream transfers, feeds results back,
/// and answers when the run completes or the route deadline passes (unfinished calls then count as
/// timeouts and are cancelled).
final class CompositeExchange: Exchange {
    /// Its worker, not retained nor checked (docs/design/architecture.md, "References back to the worker").
    private unowned(unsafe) let worker: Worker
    private weak var connection: ClientConnection?
    /// The configuration the request was dispatched with: `route`'s call indices point into its upstreams,
    /// including for calls launched after a reload installed another configuration.
    private let runtime: RuntimeConfig
    private var run: CompositeRun
    /// The run's route, read in place: a copy of its own in the exchange (its calls, static fields and plan
    /// retained and released again) cost about 300 instructions per request (callgrind).
    private var route: CompositeRoute {
        _read { yield run.route }
    }
    /// The calls in flight by launch id (ids count up from 0 in each run), for cancellation. An array, not a
    /// dictionary: the dictionary's storage and hashing cost about 1,000 instructions per call.
    private var transfers: [Worker.CompositeCalls.Handle?] = []
    private var deadlineTimer: TimerID?
    private var finished = false
    private let startedAt: UInt64
    private let deadline: UInt64
    private let sharedHeaders: [String]
    /// How many of `sharedHeaders`' first lines are the forwarding ones (``SharedForwardingLines``).
    private let forwardingLineCount: Int
    /// `sharedHeaders` without the lines that differ on every request (X-Forwarded-For, X-Request-Id): the
    /// part of them that goes into a call's coalescing key (built on the first call that has one).
    private lazy var sharedKeyHeaders: [String] = CallKey.keyedLines(sharedHeaders)
    private let trace: TraceContext
    /// `tracestate: …` when the client's is kept: the same line on every call of the request.
    private let traceStateLine: String?
    /// By call index: what the access log says of each call beyond the run's own record.
    private var callLog: [CallLogFacts]
    /// `pass_header` and `cache_control derived` of the route, and what they need from the calls.
    private let responseHeaders: ResponseHeaderPlan
    /// Only for a route with `pass_header` or `cache_control derived`: other routes gather nothing.
    private var answers: CallAnswerFacts?

    private struct CallLogFacts {
        /// The span id the call carried, when it was sent; a `for_each` call's items each carry their own.
        var spanID: UInt64?
        var itemSpans: [(item: Int, span: UInt64)] = []
        /// Attempts its transfers took, whether any took more than one, whether a hedge's answer won.
        var attempts = 0
        var repeated = false
        var hedged = false
        /// How the cache answered (calls with a cache policy; not kept for `for_each` items).
        var cache: CacheUse?
        /// The HTTP version of its (last) answer.
        var httpVersion: String?
    }

    /// Builds the run in place (a run built outside and passed in was copied into the exchange and destroyed
    /// after, about 1,400 instructions per request, callgrind).
    /// - Throws: the run's ``CompositeRejection`` (the client's input does not fit the route).
    private init(
        route: CompositeRoute, responseHeaders: ResponseHeaderPlan, input: CompositeInput, context: ForwardingContext,
        runtime: RuntimeConfig, connection: ClientConnection, worker: Worker
    ) throws(CompositeRejection) {
        self.run = try CompositeRun(route: route, input: input)
        self.responseHeaders = responseHeaders
        answers =
            responseHeaders.passed.isEmpty && !responseHeaders.derivedCacheControl
            ? nil : CallAnswerFacts(route, responseHeaders)
        self.worker = worker
        self.connection = connection
        self.runtime = runtime
        startedAt = worker.loop.now
        deadline = startedAt &+ UInt64(route.deadlineMs) &* 1_000_000
        trace = context.trace
        traceStateLine = context.trace.traceState.map { "tracestate: " + $0 }
        callLog = [CallLogFacts](filling: CallLogFacts(), count: route.calls.count)
        transfers.reserveCapacity(route.calls.count)
        // The forwarding lines only when an upstream of the route is sent one of them: with `context_headers`
        // leaving them all out, building them (two Strings and the array's growth) was about 1,100 instructions
        // per request for nothing (callgrind).
        var forwarding = ContextHeaders()
        for index in route.calls.indices {
            forwarding.formUnion(runtime.upstreams[route.calls[index].upstream].contextHeaders)
        }
        var shared =
            forwarding.isDisjoint(with: [.forwardedFor, .forwardedProto, .forwardedHost, .requestID])
            ? [] : context.forwardingHeaderLines()
        forwardingLineCount = shared.count
        // Without a `forward_headers` allowlist there is nothing to look for (nor an array to join).
        if !runtime.forwardHeaders.isEmpty { shared += context.allowlistedHeaderLines(runtime.forwardHeaders) }
        sharedHeaders = shared
    }

    /// Starts the composite route `resolved` (its ``ResolvedRoute/composite`` is set), read in place.
    static func start(
        _ resolved: ResolvedRoute, input: CompositeInput, context: ForwardingContext, runtime: RuntimeConfig,
        on connection: ClientConnection, worker: Worker
    ) {
        let exchange: CompositeExchange
        do {
            // `composite!` lends the route to the init in place (a `guard let` would copy it).
            exchange = try CompositeExchange(
                route: resolved.composite!, responseHeaders: resolved.config.responseHeaders, input: input,
                context: context, runtime: runtime, connection: connection, worker: worker)
        } catch {
            connection.respond(.error(status: 400, message: error.message))
            return
        }
        // Everything that needs only the client's input is rendered before any partner is called: a bad
        // parameter is the client's error (400), and no partner sees a request that cannot complete.
        let launches: [CallLaunch]
        do {
            launches = try exchange.run.start(nowMs: 0)
        } catch {
            connection.respond(.error(status: 400, message: error.message))
            return
        }
        connection.attach(exchange)
        // Cancelled when the exchange finishes or is cancelled.
        exchange.deadlineTimer = worker.loop.schedule(afterMilliseconds: exchange.route.deadlineMs) {
            exchange.deadlinePassed()
        }
        exchange.launch(launches)
        exchange.finishIfComplete()
    }

    /// Reads `run` in place. A non-mutating call on the stored struct (`run.isComplete`, `run.response()`)
    /// copied the whole `CompositeRun` first, about 1,000 instructions with its destruction, 8 times per
    /// request of three calls (callgrind); an inout access lends it without a copy.
    private func withRun<T>(_ body: (inout CompositeRun) -> T) -> T {
        body(&run)
    }

    private var nowMs: Double {
        worker.loop.refreshNow()
        return Double(worker.loop.now &- startedAt) / 1_000_000
    }

    private func launch(_ launches: [CallLaunch]) {
        // By index, fields read in place: `for launch in launches` copied each launch (its method, path, headers,
        // body and content type retained and released again), about 150 instructions per call (callgrind).
        for index in launches.indices {
            guard !finished else { return }
            // Fields read in place: a copy of the whole `CallConfig` per call cost about 700 instructions.
            let upstream = runtime.upstreams[route.calls[launches[index].call].upstream]
            let spanID = TraceContext.newSpanID()
            let callHeaders =
                launches[index].headers.isEmpty
                ? upstream.headerLines
                : upstream.headerLines + HeaderLine.lines(launches[index].headers)
            if let item = launches[index].item {
                callLog[launches[index].call].itemSpans.append((item, spanID))
            } else {
                callLog[launches[index].call].spanID = spanID
            }
            var contentTypeLine: String?
            if let contentType = launches[index].contentType, HeaderLine.isSafeValue(contentType) {
                contentTypeLine = "Content-Type: \(contentType)"
            }
            let sendsTrace = upstream.contextHeaders.contains(.traceparent)
            var headers = callHeaders
            // With nothing to add the call sends its upstream's lines as they are: a copy of them per call (to
            // reserve room for lines that never come) was about 300 instructions and an allocation (callgrind).
            if !sharedHeaders.isEmpty || sendsTrace || contentTypeLine != nil {
                headers.reserveCapacity(callHeaders.count + sharedHeaders.count + 3)
                // The upstream's `context_headers`: the default (all of them) takes the shared lines whole, and so
                // does every upstream when no upstream of the route takes a forwarding line (none was built).
                if upstream.sendsAllContextHeaders || forwardingLineCount == 0 {
                    headers += sharedHeaders
                } else {
                    SharedForwardingLines.append(
                        sharedHeaders, forwardingCount: forwardingLineCount, for: upstream.contextHeaders,
                        to: &headers)
                }
                if sendsTrace {
                    // Appended in place, not as an array of their own: one allocation less per call.
                    headers.append(trace.traceparentHeaderLine(spanID: spanID))
                    if let traceStateLine { headers.append(traceStateLine) }
                }
                if let contentTypeLine { headers.append(contentTypeLine) }
            }
            let id = launches[index].id
            // The request goes straight from `callRequest` into the layers, which consume it: built in a local
            // variable here, it was copied on the way in (about 290 instructions per call, callgrind).
            // The exchange hears the outcome as a ``CallListener`` (a closure per call was an allocation). Held
            // strongly, as the deadline timer holds it: every layer drops a call's completion when the call ends,
            // is cancelled or is let go, and `callFinished` ignores one after the answer. A weak reference gave
            // every exchange a side table (ProxyExchange measured 2,000 instructions a request).
            let transfer = worker.calls.start(
                callRequest(
                    launches, index, upstream: upstream, headers: headers, callHeaders: callHeaders,
                    contentTypeLine: contentTypeLine),
                completion: .listener(
                    self, CallTag(id: id, call: launches[index].call, isItem: launches[index].item != nil)))
            // A transfer refused on the spot has already reported through the callback.
            if withRun({ $0.isRunning(id) }) {
                if transfers.count <= id { transfers += repeatElement(nil, count: id + 1 - transfers.count) }
                transfers[id] = transfer
            }
        }
    }

    /// The upstream request of `launches[index]` (`headers`: every line it sends; `callHeaders`: the upstream's and
    /// the call's own, for the key), with its coalescing key, `coalesce` and cache policy when the call is
    /// merged or cached.
    private func callRequest(
        _ launches: [CallLaunch], _ index: Int, upstream: ResolvedUpstream, headers: [String], callHeaders: [String],
        contentTypeLine: String?
    ) -> UpstreamRequest {
        func built() -> UpstreamRequest {
            UpstreamRequest.compositeCall(
                upstream, method: launches[index].method, pathAndQuery: launches[index].pathAndQuery,
                fixedURL: route.calls[launches[index].call].fixedURL, headers: headers, body: launches[index].body,
                timeoutMs: route.calls[launches[index].call].timeoutMs,
                hedgeDelayMs: route.calls[launches[index].call].hedgeDelayMs,
                retries: route.calls[launches[index].call].retries, deadline: deadline,
                maxResponseBytes: runtime.config.limits.maxUpstreamBodyBytes,
                captureHeaders: answers?.capturesHeaders[launches[index].call] ?? false)
        }
        let cache = route.calls[launches[index].call].cache
        let coalesce = upstream.config.coalesce
        // A call that is neither merged nor cached returns the request as built: a local `var` changed only on the
        // other path was copied on return and then destroyed, about 400 instructions per call (callgrind).
        guard coalesce || cache != nil else { return built() }
        var request = built()
        request.policy.key = coalescingKey(request, upstream, callHeaders, contentTypeLine)
        request.policy.coalesce = coalesce
        request.policy.cache = cache
        return request
    }

    /// The ``CallKey`` of `request` (merging and caching), nil for a call that is never merged nor cached.
    private func coalescingKey(
        _ request: UpstreamRequest, _ upstream: ResolvedUpstream, _ callHeaders: [String], _ contentTypeLine: String?
    ) -> String? {
        let message = request.message
        let policy = request.policy
        return CallKey.coalescing(
            method: message.method, url: message.url, hasBody: message.body != nil, upstreamName: policy.upstreamName,
            connectTimeoutMs: policy.connectTimeoutMs, maxResponseBytes: policy.maxResponseBytes,
            maxRedirects: policy.maxRedirects, acceptEncoding: policy.acceptEncoding, callHeaders: callHeaders,
            sharedKeyHeaders: upstream.sendsAllContextHeaders
                ? sharedKeyHeaders
                : forwardingLineCount == 0
                    ? sharedHeaders  // no forwarding line was built: what `keyed` keeps of the rest, all of it
                    : SharedForwardingLines.keyed(
                        sharedHeaders, forwardingCount: forwardingLineCount, for: upstream.contextHeaders),
            contentTypeLine: contentTypeLine, allHeaders: policy.captureHeaders)
    }

    private func callFinished(_ id: Int, call: Int, isItem: Bool, _ result: UpstreamResult) {
        guard !finished else { return }
        if id < transfers.count { transfers[id] = nil }
        callLog[call].attempts += result.attempts
        callLog[call].repeated = callLog[call].repeated || result.attempts > 1
        callLog[call].hedged = callLog[call].hedged || result.hedgeWon
        if !isItem, let use = result.cache { callLog[call].cache = use }
        answers?.note(result, call: call, isItem: isItem, cached: route.calls[call].cache != nil)
        // The answer read through `UpstreamResult.answer`, the failure through `failure`: binding the outcome's
        // payloads here (`switch result.outcome`, and an `if case .success(let answer)` for the HTTP version) made
        // the optimizer copy the whole result first, every header and cache field retained and released again,
        // about 500 instructions per call (callgrind).
        let callResult: CallResult
        if let response = result.answer {
            if let version = response.httpVersion { callLog[call].httpVersion = version }
            callResult = .answered(
                UpstreamAnswer(status: response.status, contentType: response.contentType, body: response.body))
        } else {
            callResult = .failed(result.failure)
        }
        do {
            let now = nowMs
            let next = try run.finished(id, callResult, elapsedMs: result.elapsedMs, nowMs: now)
            launch(next)
        } catch {
            cancel()
            connection?.respond(.error(status: 400, message: error.message))
            return
        }
        finishIfComplete()
    }

    private func finishIfComplete() {
        if !finished && withRun({ $0.isComplete }) { finish() }
    }

    private func deadlinePassed() {
        deadlineTimer = nil
        guard !finished else { return }
        for id in run.expire(nowMs: nowMs) {
            if id < transfers.count, let transfer = transfers[id] {
                transfers[id] = nil
                worker.calls.cancel(transfer, timedOut: true)
            }
        }
        finish()
    }

    private func finish() {
        finished = true
        if let timer = deadlineTimer { worker.loop.cancel(timer) }
        deadlineTimer = nil
        let stitched = withRun { $0.response() }
        // Entries only for a reader of more than the metrics: a log line, spans, `pass_header`.
        let detailed = connection?.recordsCallDetail ?? false
        let runCalls = detailed || answers != nil ? withRun { $0.accessLogCalls } : []
        // Labelled as `HTTPResponse.headers` is: an unlabelled array was converted element by element. Room for
        // the connection's own lines too (`X-Request-Id`, a response overlay's): an array literal had room for
        // its three fields only, and the connection's append moved it to a new one (about 600 instructions).
        var headers: [(name: String, value: String)] = []
        headers.reserveCapacity(8)
        headers.append(("Content-Type", "application/json"))
        headers.append(("X-Fanout-Complete", stitched.complete ? "true" : "false"))
        headers.append(("Server-Timing", stitched.serverTiming))
        if let errors = stitched.errorsHeader { headers.append(("X-Fanout-Errors", errors)) }
        if let answers {
            headers += answers.fields(of: responseHeaders, status: stitched.status, runCalls: runCalls)
        }
        connection?.respond(
            HTTPResponse(status: stitched.status, headers: consume headers, body: stitched.body),
            calls: detailed ? .entries(withTransferFacts(runCalls)) : .counts(withRun { $0.callCounts }),
            gzip: runtime.config.gzip)
    }

    /// The run's access-log entries with what the transfers added: span ids, attempts, cache use, HTTP version.
    /// Only an access-log line or spans read those (``ClientConnection/recordsCallDetail``): without them an
    /// answer reports its calls as ``CompositeRun/callCounts``, and an abandoned request its entries as they are.
    private func withTransferFacts(_ runCalls: [AccessLogCall]) -> [AccessLogCall] {
        guard connection?.recordsCallDetail ?? false else { return runCalls }
        var calls = runCalls
        for index in calls.indices {
            let facts = callLog[index]
            calls[index].spanID = facts.spanID.map(TraceContext.spanIDHex)
            if facts.repeated {
                calls[index].attempts = facts.attempts
                calls[index].hedged = facts.hedged
            }
            calls[index].cache = facts.cache?.rawValue
            calls[index].httpVersion = facts.httpVersion
            if !facts.itemSpans.isEmpty {
                calls[index].itemSpanIDs = facts.itemSpans.sorted { $0.item < $1.item }.map {
                    TraceContext.spanIDHex($0.span)
                }
            }
        }
        return calls
    }

    func abandon() -> [AccessLogCall] {
        guard !finished else { return [] }
        let now = nowMs
        let calls = withTransferFacts(withRun { $0.abandonedAccessLogCalls(nowMs: now) })
        cancel()
        return calls
    }

    func cancel() {
        guard !finished else { return }
        finished = true
        if let timer = deadlineTimer { worker.loop.cancel(timer) }
        deadlineTimer = nil
        // Let go, not cancelled: a call already sent runs on unseen within its upstream's `abort_grace`, so its
        // connection is kept for the next request (``UpstreamCalls/release(_:)``).
        for case let transfer? in transfers { worker.calls.release(transfer) }
        transfers = []
    }
}

extension CompositeExchange: CallListener {
    func callFinished(_ tag: CallTag, _ result: UpstreamResult) {
        callFinished(tag.id, call: tag.call, isItem: tag.isItem, result)
    }
}
