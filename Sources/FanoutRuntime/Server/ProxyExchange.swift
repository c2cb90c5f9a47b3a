import FanoutCore

/// A plain reverse-proxy route: the client's method, headers (minus hop-by-hop) and body go to one upstream;
/// its status, headers and body come back. A failure before the answer began is answered 502 (504 on
/// timeout, 503 for `circuit_open` and `overloaded`: not called) with a JSON body; after it began, the client
/// connection is closed before the body's end.
///
/// Both bodies stream with back-pressure: the request body through a `BodyPipe` (the connection stops
/// reading the client while libcurl has not taken the window), the answer through `UpstreamReceiver` (the
/// transfer pauses while ``ClientConnectionStateMachine/outputHighWater`` bytes wait for the client). A 1 GiB
/// body in either direction holds a few hundred KiB, never the whole body.
///
/// `timeout` is an idle limit here (like nginx's proxy_read_timeout; ``IdleLimit``): the upstream may not stay
/// silent, neither taking the body nor answering, for longer, measured from its last byte. Time spent waiting on
/// a slow client does not count; the client's own timeouts cover it. `min_rate` holds the answer's body to a
/// minimum rate (``RateBudget``, paused while the client does not read), so a drip that never leaves the
/// upstream idle for `timeout` still ends. The client's body is held to it by ``ClientConnection``.
final class ProxyExchange: Exchange, UpstreamReceiver {
    /// Its worker, not retained nor checked (docs/design/architecture.md, "References back to the worker").
    private unowned(unsafe) let worker: Worker
    private weak var connection: ClientConnection?
    private let body: BodyPipe?
    private let isHead: Bool
    private var transfer: TransferID?
    /// The call's phase and its two limits (`timeout`, `min_rate`): every decision is the machine's.
    private var state: ProxyCallStateMachine
    /// When the call started (loop clock), for the elapsed time of a call this exchange cuts.
    private let startedAt: UInt64
    /// The one timer watching the state's limits, and when it fires.
    private var watchTimer: TimerID?
    private var watchAt: UInt64 = 0
    /// The span id the upstream request's `traceparent` carries, for the access log and the spans.
    private let spanID: UInt64
    /// The route's one call (index 0) and its upstream, as the record counts and names it.
    private let identity: AccessLogCall.Identity

    private init(
        connection: ClientConnection, worker: Worker, body: BodyPipe?, timeoutMs: Int, minRate: MinimumRate?,
        isHead: Bool, spanID: UInt64, identity: AccessLogCall.Identity
    ) {
        self.isHead = isHead
        self.spanID = spanID
        self.identity = identity
        self.worker = worker
        self.connection = connection
        self.body = body
        self.startedAt = worker.loop.now
        self.state = ProxyCallStateMachine(timeoutMs: timeoutMs, minRate: minRate, start: worker.loop.now)
    }

    /// - Parameter body: the request body as it streams in from the client; nil when the request has none.
    static func start(
        _ proxy: ProxyRoute, target: RequestTarget, parameters: [String: [String]], context: ForwardingContext,
        runtime: RuntimeConfig, body: BodyPipe?, on connection: ClientConnection, worker: Worker
    ) {
        let resolved = runtime.upstreams[proxy.upstream]
        let upstream = resolved.config
        let pathAndQuery: String
        if proxy.fixedURL != nil {
            // The configuration made the whole URL (``FixedURL``): nothing to render per request.
            pathAndQuery = ""
        } else if let template = proxy.target {
            do {
                let query = try QueryParameters(parsing: target.query)
                pathAndQuery = try template.render(TemplateValues(routeParameters: parameters, query: query))
            } catch let error as RequestTargetError {
                connection.respond(.error(status: 400, message: error.message))
                return
            } catch let error as TemplateRenderError {
                connection.respond(.error(status: 400, message: error.message))
                return
            } catch {
                connection.respond(.error(status: 400, message: "invalid request"))
                return
            }
        } else {
            pathAndQuery = target.query.map { "\(target.path)?\($0)" } ?? String(target.path)
        }
        let timeoutMs = proxy.timeoutMs ?? upstream.timeoutMs
        let spanID = TraceContext.newSpanID()
        let exchange = ProxyExchange(
            connection: connection, worker: worker, body: body, timeoutMs: timeoutMs, minRate: proxy.minRate,
            isHead: context.request.head.method == "HEAD", spanID: spanID,
            identity: AccessLogCall.Identity(call: 0, upstream: proxy.upstream))
        let method = context.request.head.method
        // One array, reserved once and appended to in place: three `+` made three arrays, each a copy of the
        // last (about 2,000 instructions per request).
        let passThrough = context.passThroughHeaderLines(replacedBy: upstream.headers)
        var headers: [String] = []
        // Two for the trace's lines, four for the forwarding ones.
        headers.reserveCapacity(resolved.headerLines.count + passThrough.count + 4 + 2)
        headers += resolved.headerLines
        headers += passThrough
        // Only the upstream's `context_headers`; the client's own lines of those names never pass through.
        context.appendForwardingHeaderLines(resolved.contextHeaders, to: &headers)
        if resolved.contextHeaders.contains(.traceparent) {
            context.trace.appendHeaderLines(spanID: spanID, to: &headers)
        }
        let request = UpstreamRequest.proxyCall(
            resolved, method: method, pathAndQuery: pathAndQuery, fixedURL: proxy.fixedURL,
            headers: headers,
            body: body == nil ? context.request.body : nil, hooks: StreamingHooks(bodySource: body, receiver: exchange),
            timeoutMs: timeoutMs, deadline: worker.loop.now &+ UInt64(timeoutMs) &* 1_000_000,
            maxResponseBytes: runtime.config.limits.maxUpstreamBodyBytes)
        connection.attach(exchange)
        body?.onAvailable = { [weak exchange] in
            // The upstream waited for the client's body: its idle time starts again now.
            exchange?.noteProgress()
            exchange?.resumeSoon(receiving: false)
        }
        body?.onTaken = { [weak exchange] in exchange?.noteProgress() }
        // Strong references here and in `armWatch`: the transfer holds the exchange as its receiver until it ends
        // anyway, and the watch timer is cancelled when the exchange finishes. A weak one gave every exchange a
        // side table (one more allocation per request). The exchange hears the outcome as a ``CallListener``: a
        // closure was one more allocation per request.
        let id = worker.upstream.start(
            consume request, completion: .listener(exchange, CallTag(id: 0, call: 0, isItem: false)))
        if !exchange.state.isFinished {
            exchange.transfer = id
            exchange.armWatch()
        }
    }

    // MARK: - Streaming (inside libcurl's write callback: no libcurl calls, no closing)

    func upstreamHead(status: Int, lines: ProxiedHeaderLines, declaredLength: Int?) {
        state.headArrived(status: status, at: worker.loop.now)
        // A `min_rate` budget starts now and may be due before the idle limit.
        if state.minRate != nil { armWatch() }
        connection?.startStreamedResponse(status: status, passing: lines, declaredLength: declaredLength)
    }

    func upstreamBody(_ bytes: UnsafeRawBufferPointer) -> Bool {
        guard let connection else { return true }  // the client is gone; the transfer is being cancelled
        if connection.sendBodyPart(bytes) {
            state.bodyTaken(bytes.count, at: worker.loop.now)
            return true
        }
        state.bodyRefused(at: worker.loop.now)
        return false
    }

    func upstreamArrived() {
        // An answer without body bytes has no streamed head yet: the completion answers it whole.
        if state.isStreaming { connection?.streamedAnswerArrived() }
    }

    func clientTookOutput() {
        // The transfer waited for the client: neither the idle time nor the answer's budget ran meanwhile.
        guard state.clientTookOutput(at: worker.loop.now) else { return }
        armWatch()
        resumeSoon(receiving: true)
    }

    /// Unpausing can call straight back into the write callback, so it never happens inside the caller's
    /// stack (a flush, a read, a libcurl callback): it runs after the current batch of events.
    private func resumeSoon(receiving: Bool) {
        worker.loop.schedule(afterMilliseconds: 0) { [weak self] in
            guard let self, !self.state.isFinished, let transfer = self.transfer else { return }
            self.worker.upstream.resume(transfer, receiving: receiving)
        }
    }

    // MARK: - Idle timeout and minimum rate

    private func noteProgress() {
        state.noteProgress(at: worker.loop.now)
    }

    /// Arms the watch timer for the state's ``ProxyCallStateMachine/watchDeadline``, unless it is armed for an
    /// earlier time already: the one armed finds the new deadline when it fires and arms again.
    private func armWatch() {
        let at = state.watchDeadline
        if let watchTimer {
            if watchAt <= at { return }
            worker.loop.cancel(watchTimer)
        }
        watchAt = at
        watchTimer = worker.loop.schedule(at: at) { self.watchTimerFired() }
    }

    private func watchTimerFired() {
        watchTimer = nil
        // Waiting on the client (it reads or sends slowly) is not the upstream's silence.
        let clientIsBehind = (body?.waitingForClient ?? false) || (connection?.hasPendingOutput ?? false)
        switch state.watchFired(at: worker.loop.now, clientIsBehind: clientIsBehind) {
        case .ended:
            return
        case .cut(let failure):
            if case .tooSlow = failure { connection?.countMinRateCut(side: "upstream") }
            cut(failure)
        case .checkAgain:
            armWatch()
        }
    }

    /// Ends a call the upstream let run too long: cancelled as timed out (it counts against the breaker), with
    /// the time it really took.
    private func cut(_ failure: CallFailure) {
        if let transfer { worker.upstream.cancel(transfer, timedOut: true) }
        worker.loop.refreshNow()
        let elapsedMs = Double(worker.loop.now &- startedAt) / 1_000_000
        finished(UpstreamResult(outcome: .failure(failure), elapsedMs: elapsedMs))
    }

    // MARK: - Completion

    private func finished(_ result: UpstreamResult) {
        guard let endedFrom = state.finish() else { return }
        let headSent = endedFrom.isStreaming
        transfer = nil
        stopWatching()
        switch result.outcome {
        case .success(let answer):
            let calls = report(status: answer.status, durationMs: result.elapsedMs, httpVersion: answer.httpVersion)
            if headSent {
                connection?.endStreamedResponse(calls: calls)
                return
            }
            // No body byte came: the whole answer is its head.
            if isHead {
                // A HEAD answer describes the GET's body: its Content-Length passes through unchanged (when fanout
                // may declare it, see PartnerFraming), and frames no byte.
                connection?.startStreamedResponse(
                    status: answer.status, passing: answer.passedLines, declaredLength: answer.declaredLength)
                connection?.endStreamedResponse(calls: calls)
                return
            }
            connection?.respond(
                HTTPResponse(
                    status: answer.status, headers: answer.passedLines.fields, body: answer.body),
                calls: calls)
        case .failure(let failure):
            let calls = report(durationMs: result.elapsedMs, failure: failure.kind)
            // Failing partners: a failure in the same read as the head leaves the head unsent; answer 502/504 then.
            if headSent, connection?.retractUnsentStreamedHead() != true {
                connection?.abortStreamedResponse(calls: calls)
                return
            }
            connection?.respond(
                .error(
                    status: failure.gatewayStatus, message: "upstream call failed: \(failure.kind): \(failure.message)"),
                calls: calls)
        }
    }

    /// The call as the request's end reports it: its access-log entry for a reader of more than the metrics (a
    /// log line, spans), else only its count. An entry built for nobody cost about 20 retains and releases of
    /// its Strings per proxied request, and a second array.
    private func report(
        status: Int? = nil, durationMs: Double, failure: String? = nil, httpVersion: String? = nil
    ) -> CallReport {
        guard connection?.recordsCallDetail ?? false else {
            return .counts([CallCount(identity: identity, durationMs: durationMs, failure: failure)])
        }
        return .entries([
            AccessLogCall(
                name: "proxy", identity: identity, status: status, durationMs: durationMs, failure: failure,
                spanID: TraceContext.spanIDHex(spanID), httpVersion: httpVersion)
        ])
    }

    func abandon() -> [AccessLogCall] {
        let headStatus = state.headStatus
        guard !state.isFinished else { return [] }
        cancel()
        worker.loop.refreshNow()
        var call = AccessLogCall(
            name: "proxy", identity: identity, status: headStatus,
            durationMs: Double(worker.loop.now &- startedAt) / 1_000_000,
            failure: nil, spanID: loggedSpanID)
        call.cancelled = true
        return [call]
    }

    /// The call's span id in hex, when the request writes an access-log line or spans (nothing else reads it).
    private var loggedSpanID: String? {
        connection?.recordsCallDetail ?? false ? TraceContext.spanIDHex(spanID) : nil
    }

    func cancel() {
        guard state.finish() != nil else { return }
        stopWatching()
        if let transfer { worker.upstream.cancel(transfer) }
        transfer = nil
    }

    private func stopWatching() {
        if let watchTimer { worker.loop.cancel(watchTimer) }
        watchTimer = nil
        body?.onAvailable = nil
        body?.onTaken = nil
    }
}

extension ProxyExchange: CallListener {
    func callFinished(_ tag: CallTag, _ result: UpstreamResult) {
        finished(result)
    }
}
