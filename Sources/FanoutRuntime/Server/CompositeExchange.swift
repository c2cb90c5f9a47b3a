import FanoutCore

/// A composite route in flight: every call started at once, each answer recorded as it lands, one stitched
/// JSON answer when the last call finishes or the route deadline passes (unfinished calls then count as
/// timeouts and are cancelled).
final class CompositeExchange: Exchange {
    private unowned let worker: Worker
    private weak var connection: ClientConnection?
    private let calls: [CallConfig]
    private var outcomes: [CallOutcome?]
    private var transfers: [TransferID?]
    private var remaining: Int
    private var deadlineTimer: TimerID?
    private var finished = false
    private let startedAt: UInt64

    private init(calls: [CallConfig], connection: ClientConnection, worker: Worker) {
        self.worker = worker
        self.connection = connection
        self.calls = calls
        outcomes = Array(repeating: nil, count: calls.count)
        transfers = Array(repeating: nil, count: calls.count)
        remaining = calls.count
        startedAt = worker.loop.now
    }

    static func start(
        _ route: CompositeRoute, values: TemplateValues, context: ForwardingContext, on connection: ClientConnection,
        worker: Worker
    ) {
        let runtime = worker.runtime
        let deadline = worker.loop.now &+ UInt64(route.deadlineMs) &* 1_000_000
        // Build every request before starting any: a bad parameter is the client's error (400), and no
        // partner is called for a request that cannot be completed.
        var requests: [UpstreamRequest] = []
        requests.reserveCapacity(route.calls.count)
        let shared = context.forwardingHeaderLines() + context.allowlistedHeaderLines(runtime.forwardHeaders)
        for call in route.calls {
            let upstream = runtime.config.upstreams[call.upstream]
            let pathAndQuery: String
            do {
                pathAndQuery = try call.target.render(values)
            } catch {
                connection.respond(.error(status: 400, message: error.message))
                return
            }
            requests.append(
                UpstreamRequest(
                    method: call.method,
                    url: upstream.origin.urlPrefix + pathAndQuery,
                    headers: HeaderLine.lines(upstream.headers) + HeaderLine.lines(call.headers) + shared,
                    body: nil,
                    upstream: call.upstream,
                    connectTimeoutMs: upstream.connectTimeoutMs,
                    timeoutMs: call.timeoutMs ?? upstream.timeoutMs,
                    deadline: deadline,
                    maxResponseBytes: runtime.config.limits.maxUpstreamBodyBytes,
                    captureHeaders: false))
        }
        let exchange = CompositeExchange(calls: route.calls, connection: connection, worker: worker)
        connection.attach(exchange)
        exchange.deadlineTimer = worker.loop.schedule(afterMilliseconds: route.deadlineMs) { [weak exchange] in
            exchange?.deadlinePassed()
        }
        for (index, request) in requests.enumerated() {
            let id = worker.upstream.start(request) { [weak exchange] result in
                exchange?.callFinished(index, result)
            }
            if exchange.outcomes[index] == nil { exchange.transfers[index] = id }
        }
    }

    private func callFinished(_ index: Int, _ result: UpstreamResult) {
        guard !finished, outcomes[index] == nil else { return }
        transfers[index] = nil
        let call = calls[index]
        switch result.outcome {
        case .success(let response):
            outcomes[index] = CallOutcome(
                name: call.name, required: call.required,
                result: .answered(UpstreamAnswer(status: response.status, contentType: response.contentType, body: response.body)),
                elapsedMs: result.elapsedMs)
        case .failure(let failure):
            outcomes[index] = CallOutcome(
                name: call.name, required: call.required, result: .failed(failure), elapsedMs: result.elapsedMs)
        }
        remaining -= 1
        if remaining == 0 { finish() }
    }

    private func deadlinePassed() {
        deadlineTimer = nil
        guard !finished else { return }
        worker.loop.refreshNow()
        let elapsed = Double(worker.loop.now &- startedAt) / 1_000_000
        for index in calls.indices where outcomes[index] == nil {
            if let id = transfers[index] { worker.upstream.cancel(id) }
            transfers[index] = nil
            outcomes[index] = CallOutcome(
                name: calls[index].name, required: calls[index].required, result: .failed(.timeout), elapsedMs: elapsed)
        }
        remaining = 0
        finish()
    }

    private func finish() {
        finished = true
        if let timer = deadlineTimer { worker.loop.cancel(timer) }
        deadlineTimer = nil
        let results = outcomes.map { $0! }
        let stitched = ResponseStitcher.stitch(results)
        let response = HTTPResponse(
            status: stitched.status,
            headers: [
                ("Content-Type", "application/json"),
                ("X-Fanout-Complete", stitched.complete ? "true" : "false"),
                ("Server-Timing", stitched.serverTiming),
            ],
            body: stitched.body)
        connection?.respond(response, calls: results.map(accessLogCall(for:)))
    }

    func cancel() {
        guard !finished else { return }
        finished = true
        if let timer = deadlineTimer { worker.loop.cancel(timer) }
        deadlineTimer = nil
        for case let id? in transfers { worker.upstream.cancel(id) }
        transfers = transfers.map { _ in nil }
    }
}
