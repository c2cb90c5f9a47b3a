import FanoutCore

/// A plain reverse-proxy route: the client's method, headers (minus hop-by-hop) and body go to one upstream;
/// its status, headers and body come back. A failure is answered 502 (504 on timeout) with a JSON body.
final class ProxyExchange: Exchange {
    private unowned let worker: Worker
    private weak var connection: ClientConnection?
    private var transfer: TransferID?
    private var finished = false

    /// Response headers that describe the upstream hop or its framing, not the content; never passed back.
    static let droppedResponseHeaders: Set<String> = [
        "connection", "keep-alive", "proxy-connection", "te", "trailer", "transfer-encoding", "upgrade",
        "content-length", "date", "x-request-id",
    ]

    private init(connection: ClientConnection, worker: Worker) {
        self.worker = worker
        self.connection = connection
    }

    static func start(
        _ proxy: ProxyRoute, target: RequestTarget, parameters: [String: [String]], context: ForwardingContext,
        runtime: RuntimeConfig, on connection: ClientConnection, worker: Worker
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
        let request = UpstreamRequest(
            method: context.request.head.method,
            url: upstream.origin.urlPrefix + pathAndQuery,
            headers: runtime.upstreamHeaderLines[proxy.upstream] + context.passThroughHeaderLines(replacedBy: upstream.headers)
                + context.forwardingHeaderLines(),
            body: context.request.body,
            slot: runtime.admissionSlots[proxy.upstream],
            connectTimeoutMs: upstream.connectTimeoutMs,
            timeoutMs: timeoutMs,
            deadline: worker.loop.now &+ UInt64(timeoutMs) &* 1_000_000,
            maxResponseBytes: runtime.config.limits.maxUpstreamBodyBytes,
            captureHeaders: true,
            mustNotRepeat: !HTTPMethod.isIdempotent(context.request.head.method))
        let exchange = ProxyExchange(connection: connection, worker: worker)
        connection.attach(exchange)
        let id = worker.upstream.start(request) { [weak exchange] result in
            exchange?.finished(result)
        }
        if !exchange.finished { exchange.transfer = id }
    }

    private func finished(_ result: UpstreamResult) {
        guard !finished else { return }
        finished = true
        transfer = nil
        switch result.outcome {
        case .success(let answer):
            let headers = answer.headers.filter { !ProxyExchange.droppedResponseHeaders.contains($0.0.lowercased()) }
            connection?.respond(
                HTTPResponse(status: answer.status, headers: headers.map { (name: $0.0, value: $0.1) }, body: answer.body),
                calls: [(name: "proxy", status: answer.status, durationMs: result.elapsedMs, failure: nil)])
        case .failure(let failure):
            let status = failure == .timeout ? 504 : 502
            connection?.respond(
                .error(status: status, message: "upstream call failed: \(failure.kind): \(failure.message)"),
                calls: [(name: "proxy", status: nil, durationMs: result.elapsedMs, failure: failure.kind)])
        }
    }

    func cancel() {
        guard !finished else { return }
        finished = true
        if let transfer { worker.upstream.cancel(transfer) }
        transfer = nil
    }
}
