import FanoutCore

/// A plain reverse-proxy route: the client's method, headers (minus hop-by-hop) and body go to one upstream;
/// its status, headers and body come back. A failure before the answer began is answered 502 (504 on
/// timeout, 503 for `circuit_open` and `overloaded`: not called) with a JSON body; after it began, the client
/// connection is closed before the body's end.
///
/// Both bodies stream with back-pressure: the request body through a `BodyPipe` (the connection stops
/// reading the client while libcurl has not taken the window), the answer through `UpstreamReceiver` (the
/// transfer pauses while `ClientConnection.outputHighWater` bytes wait for the client). A 1 GiB body in
/// either direction holds a few hundred KiB, never the whole body.
///
/// `timeout` is an idle limit here (like nginx's proxy_read_timeout): the upstream may not stay silent,
/// neither taking the body nor answering, for longer. Time spent waiting on a slow client does not count;
/// the client's own timeouts cover it.
final class ProxyExchange: Exchange, UpstreamReceiver {
    private unowned let worker: Worker
    private weak var connection: ClientConnection?
    private let body: BodyPipe?
    private let timeoutMs: Int
    private let isHead: Bool
    private var transfer: TransferID?
    private var finished = false
    private var headSent = false
    /// The last answer bytes were refused: the transfer is paused until the client takes its output.
    private var receivePaused = false
    private var idleTimer: TimerID?
    /// Progress counters, compared by the idle timer.
    private var received = 0
    private var seenReceived = 0
    private var seenDelivered = 0
    /// The client held things up (a full output window, or an empty body pipe) at some point since the idle
    /// timer last looked. Such an interval is not the upstream's silence, even when the wait ended just before
    /// the timer fired and the upstream has not had time to send again.
    private var waitedForClient = false
    /// The span id the upstream request's `traceparent` carries (16 hex digits), for the access log.
    private let spanID: String

    /// Response headers that describe the upstream hop or its framing, not the content; never passed back.
    /// (The framing fields among them are also left out by `HTTPResponse.serializeHead` itself.)
    static let droppedResponseHeaders: Set<String> = [
        "connection", "keep-alive", "proxy-connection", "te", "trailer", "transfer-encoding", "upgrade",
        "content-length", "date", "x-request-id",
    ]

    private init(
        connection: ClientConnection, worker: Worker, body: BodyPipe?, timeoutMs: Int, isHead: Bool, spanID: String
    ) {
        self.isHead = isHead
        self.spanID = spanID
        self.worker = worker
        self.connection = connection
        self.body = body
        self.timeoutMs = timeoutMs
    }

    /// - Parameter body: the request body as it streams in from the client; nil when the request has none.
    static func start(
        _ proxy: ProxyRoute, target: RequestTarget, parameters: [String: [String]], context: ForwardingContext,
        runtime: RuntimeConfig, body: BodyPipe?, on connection: ClientConnection, worker: Worker
    ) {
        let upstream = runtime.config.upstreams[proxy.upstream]
        let pathAndQuery: String
        if let template = proxy.target {
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
            connection: connection, worker: worker, body: body, timeoutMs: timeoutMs,
            isHead: context.request.head.method == "HEAD", spanID: TraceContext.spanIDHex(spanID))
        var request = UpstreamRequest(
            upstreamName: upstream.name,
            method: context.request.head.method,
            url: upstream.origin.urlPrefix + pathAndQuery,
            headers: runtime.upstreamHeaderLines[proxy.upstream]
                + context.passThroughHeaderLines(replacedBy: upstream.headers)
                + context.forwardingHeaderLines() + context.trace.headerLines(spanID: spanID),
            body: body == nil ? context.request.body : nil,
            slot: runtime.admissionSlots[proxy.upstream],
            connectTimeoutMs: upstream.connectTimeoutMs,
            timeoutMs: timeoutMs,
            deadline: worker.loop.now &+ UInt64(timeoutMs) &* 1_000_000,
            maxResponseBytes: runtime.config.limits.maxUpstreamBodyBytes,
            captureHeaders: true,
            mustNotRepeat: !HTTPMethod.isIdempotent(context.request.head.method))
        request.bodySource = body
        request.receiver = exchange
        request.maxRedirects = upstream.followRedirects
        request.transport = runtime.upstreamTransports[proxy.upstream]
        connection.attach(exchange)
        body?.onAvailable = { [weak exchange] in
            exchange?.waitedForClient = true
            exchange?.resumeSoon(receiving: false)
        }
        let id = worker.upstream.start(request) { [weak exchange] result in
            exchange?.finished(result)
        }
        if !exchange.finished {
            exchange.transfer = id
            exchange.armIdleTimer(milliseconds: timeoutMs)
        }
    }

    // MARK: - Streaming (inside libcurl's write callback: no libcurl calls, no closing)

    func upstreamHead(status: Int, headers: [(String, String)], declaredLength: Int?) {
        headSent = true
        let passed = headers.filter { !ProxyExchange.droppedResponseHeaders.contains($0.0.lowercased()) }
        connection?.startStreamedResponse(
            status: status, headers: passed.map { (name: $0.0, value: $0.1) }, declaredLength: declaredLength)
    }

    func upstreamBody(_ bytes: UnsafeRawBufferPointer) -> Bool {
        guard let connection else { return true }  // the client is gone; the transfer is being cancelled
        if connection.sendBodyPart(bytes) {
            received += bytes.count
            return true
        }
        receivePaused = true
        waitedForClient = true
        return false
    }

    func clientTookOutput() {
        guard receivePaused else { return }
        receivePaused = false
        waitedForClient = true
        resumeSoon(receiving: true)
    }

    /// Unpausing can call straight back into the write callback, so it never happens inside the caller's
    /// stack (a flush, a read, a libcurl callback): it runs after the current batch of events.
    private func resumeSoon(receiving: Bool) {
        worker.loop.schedule(afterMilliseconds: 0) { [weak self] in
            guard let self, !self.finished, let transfer = self.transfer else { return }
            self.worker.upstream.resume(transfer, receiving: receiving)
        }
    }

    // MARK: - Idle timeout

    private func armIdleTimer(milliseconds: Int) {
        idleTimer = worker.loop.schedule(afterMilliseconds: milliseconds) { [weak self] in self?.idleTimerFired() }
    }

    private func idleTimerFired() {
        idleTimer = nil
        guard !finished else { return }
        let delivered = body?.delivered ?? 0
        let moved = received != seenReceived || delivered != seenDelivered
        seenReceived = received
        seenDelivered = delivered
        // Waiting on the client (it reads or sends slowly) is not the upstream's silence.
        let waitingOnClient =
            receivePaused || waitedForClient || (body?.waitingForClient ?? false)
            || (connection?.hasPendingOutput ?? false)
        waitedForClient = false
        if moved || waitingOnClient {
            armIdleTimer(milliseconds: timeoutMs)
            return
        }
        if let transfer { worker.upstream.cancel(transfer, timedOut: true) }
        finished(UpstreamResult(outcome: .failure(.timeout), elapsedMs: Double(timeoutMs)))
    }

    // MARK: - Completion

    private func finished(_ result: UpstreamResult) {
        guard !finished else { return }
        finished = true
        transfer = nil
        if let idleTimer { worker.loop.cancel(idleTimer) }
        idleTimer = nil
        body?.onAvailable = nil
        switch result.outcome {
        case .success(let answer):
            let calls = [
                AccessLogCall(
                    name: "proxy", status: answer.status, durationMs: result.elapsedMs, failure: nil, spanID: spanID,
                    httpVersion: answer.httpVersion)
            ]
            if headSent {
                connection?.endStreamedResponse(calls: calls)
                return
            }
            // No body byte came: the whole answer is its head.
            let headers = answer.headers.filter { !ProxyExchange.droppedResponseHeaders.contains($0.0.lowercased()) }
            if isHead {
                // A HEAD answer describes the GET's body: its Content-Length passes through unchanged (when fanout
                // may declare it, see PartnerFraming), and frames no byte.
                connection?.startStreamedResponse(
                    status: answer.status, headers: headers.map { (name: $0.0, value: $0.1) },
                    declaredLength: answer.declaredLength)
                connection?.endStreamedResponse(calls: calls)
                return
            }
            connection?.respond(
                HTTPResponse(status: answer.status, headers: headers.map { (name: $0.0, value: $0.1) }, body: answer.body),
                calls: calls)
        case .failure(let failure):
            let calls = [
                AccessLogCall(
                    name: "proxy", status: nil, durationMs: result.elapsedMs, failure: failure.kind, spanID: spanID)
            ]
            // Failing partners: a failure in the same read as the head leaves the head unsent; answer 502/504 then.
            if headSent, connection?.retractUnsentStreamedHead() != true {
                connection?.abortStreamedResponse(calls: calls)
                return
            }
            // 503 when fanout refused to call (Envoy's UO/UH): the partner was not asked this time.
            let status: Int
            switch failure {
            case .timeout: status = 504
            case .circuitOpen, .overloaded: status = 503
            default: status = 502
            }
            connection?.respond(
                .error(status: status, message: "upstream call failed: \(failure.kind): \(failure.message)"),
                calls: calls)
        }
    }

    func cancel() {
        guard !finished else { return }
        finished = true
        if let idleTimer { worker.loop.cancel(idleTimer) }
        idleTimer = nil
        body?.onAvailable = nil
        if let transfer { worker.upstream.cancel(transfer) }
        transfer = nil
    }
}
