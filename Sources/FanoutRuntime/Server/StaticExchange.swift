import FanoutCore

/// A `respond` route: a fixed answer, after an optional delay kept on the loop's timers (never a sleep).
final class StaticExchange: Exchange {
    /// Its worker, not retained nor checked (docs/design/architecture.md, "References back to the worker").
    private unowned(unsafe) let worker: Worker
    private var timer: TimerID?

    private init(worker: Worker) {
        self.worker = worker
    }

    static func start(_ answer: StaticResponse, on connection: ClientConnection, worker: Worker) {
        let response = HTTPResponse(
            status: answer.status,
            headers: [("Content-Type", answer.contentType)] + answer.headers.map { ($0.name, $0.value) },
            body: answer.body)
        guard answer.delayMs > 0 else {
            connection.respond(response)
            return
        }
        let exchange = StaticExchange(worker: worker)
        connection.attach(exchange)
        exchange.timer = worker.loop.schedule(afterMilliseconds: answer.delayMs) { [weak connection] in
            connection?.respond(response)
        }
    }

    func cancel() {
        if let timer { worker.loop.cancel(timer) }
        timer = nil
    }
}
