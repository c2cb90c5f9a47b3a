import FanoutCore

/// What the admin listener (`admin_listen`) answers, on worker 0's loop: `GET /metrics` (the Prometheus text
/// format), `GET /healthz` (200 while the process runs), `GET /readyz` (200 while serving, 503 once
/// draining), `GET /` (the status page, ``StatusPage``) and `GET /status.json` (its figures,
/// ``StatusReport``). Any other path is 404, any other method 405. The main listeners never route here, and
/// this listener never reaches the routes: a connection is one or the other from its accept.
enum AdminEndpoint {
    static let paths: Set<Substring> = ["/", "/status.json", "/metrics", "/healthz", "/readyz"]

    static func handle(_ request: HTTPRequest, on connection: ClientConnection, worker: Worker) {
        let head = request.head
        let path = head.target.split(separator: "?", maxSplits: 1, omittingEmptySubsequences: false).first ?? ""
        guard paths.contains(path) else {
            connection.respond(
                .error(
                    status: 404,
                    message: "the admin listener serves / (status page), /status.json, /metrics, /healthz and /readyz"))
            return
        }
        guard head.method == "GET" || head.method == "HEAD" else {
            let allow = [(name: "Allow", value: "GET, HEAD")]
            connection.respond(.error(status: 405, message: "\(head.method) is not allowed here", extraHeaders: allow))
            return
        }
        switch path {
        case "/healthz":
            connection.respond(plainText(200, "ok\n"))
        case "/readyz":
            // The configuration was loaded before any listener opened; draining is the only unready state.
            connection.respond(worker.draining ? plainText(503, "draining\n") : plainText(200, "ready\n"))
        case "/":
            connection.respond(noStore(contentType: StatusPage.contentType, body: Array(StatusPage.html.utf8)))
        case "/status.json":
            MetricsScrape.start(on: connection, worker: worker) { merged, home in
                let now = home.loop.now
                let baseline = home.recentWindow.advance(to: merged, now: now)
                let report = StatusReport(
                    config: home.runtime.config, metrics: merged, baseline: baseline.metrics,
                    windowSeconds: Double(now &- baseline.at) / 1e9, uptimeSeconds: Double(now &- home.startedAt) / 1e9,
                    windowIsSinceStart: baseline.at == home.startedAt, workers: home.scrapedWorkers.count)
                return noStore(contentType: "application/json", body: report.json)
            }
        default:
            MetricsScrape.start(on: connection, worker: worker) { merged, _ in
                noStore(contentType: MetricsExposition.contentType, body: Array(MetricsExposition.render(merged).utf8))
            }
        }
    }

    static func noStore(contentType: String, body: [UInt8]) -> HTTPResponse {
        HTTPResponse(status: 200, headers: [("Content-Type", contentType), ("Cache-Control", "no-store")], body: body)
    }

    static func plainText(_ status: Int, _ text: String) -> HTTPResponse {
        HTTPResponse(
            status: status, headers: [("Content-Type", "text/plain; charset=utf-8"), ("Cache-Control", "no-store")],
            body: Array(text.utf8))
    }
}

/// One `/metrics` or `/status.json` request: gathers every worker's counters and answers their sum, rendered
/// by the request's `render`.
///
/// Counters live in each worker as plain stored properties, touched on that worker's loop thread only, so the
/// request path takes no lock and no atomic. A scrape runs on worker 0's loop (the admin listener's): it
/// copies worker 0's counters at once, asks every other worker for a copy on that worker's own loop
/// (`loop.execute`), and each worker sends its copy back to worker 0's loop (`loop.execute` again), where
/// the copies are merged; the answer goes out when the last one arrives. The cost is two cross-thread
/// wake-ups per worker per scrape, nothing per request. A worker whose loop has already stopped (the end of
/// a drain) never answers: after ``timeoutMs`` the scrape answers 503 rather than a partial sum.
///
/// `@unchecked Sendable`: the object travels through other workers' closures but is only touched on worker
/// 0's loop thread.
final class MetricsScrape: Exchange, @unchecked Sendable {
    static let timeoutMs = 2_000

    private let home: Worker
    private weak var connection: ClientConnection?
    private var merged: ServerMetrics
    private var waitingFor: Int
    private var timer: TimerID?
    private var finished = false
    /// Turns the sum into the answer; runs on worker 0's loop.
    private let render: (ServerMetrics, Worker) -> HTTPResponse

    private init(
        home: Worker, connection: ClientConnection, merged: ServerMetrics, waitingFor: Int,
        render: @escaping (ServerMetrics, Worker) -> HTTPResponse
    ) {
        self.home = home
        self.render = render
        self.connection = connection
        self.merged = merged
        self.waitingFor = waitingFor
    }

    static func start(
        on connection: ClientConnection, worker home: Worker,
        render: @escaping (ServerMetrics, Worker) -> HTTPResponse
    ) {
        let others = home.scrapedWorkers.filter { $0 !== home }
        let scrape = MetricsScrape(
            home: home, connection: connection, merged: home.metricsSnapshot(), waitingFor: others.count,
            render: render)
        if others.isEmpty {
            scrape.answer()
            return
        }
        connection.attach(scrape)
        scrape.timer = home.loop.schedule(afterMilliseconds: timeoutMs) { [weak scrape] in scrape?.timedOut() }
        for other in others {
            other.loop.execute {
                let snapshot = other.metricsSnapshot()
                home.loop.execute { scrape.add(snapshot) }
            }
        }
    }

    private func add(_ snapshot: ServerMetrics) {
        guard !finished else { return }
        merged.merge(snapshot)
        waitingFor -= 1
        if waitingFor == 0 { answer() }
    }

    private func answer() {
        finish()
        connection?.respond(render(merged, home))
    }

    private func timedOut() {
        timer = nil
        guard !finished else { return }
        finish()
        connection?.respond(.error(status: 503, message: "a worker did not report its metrics (shutting down?)"))
    }

    private func finish() {
        finished = true
        if let timer { home.loop.cancel(timer) }
        timer = nil
    }

    func cancel() {
        guard !finished else { return }
        finish()
    }
}
