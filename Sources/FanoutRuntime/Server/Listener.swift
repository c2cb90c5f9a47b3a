import FanoutCore
import Glibc

/// A worker's listening socket: accepts connections and hands them to new `ClientConnection`s, or, beyond the
/// worker's share of `max_client_connections`, answers them 503 at once and closes them.
///
/// The admin listener (`isAdmin`) makes admin connections, which serve only ``AdminEndpoint``; beyond a few
/// at once it closes new ones without an answer.
final class Listener: EventHandler {
    private var fd: Int32
    /// Its worker, not retained nor checked (docs/design/architecture.md, "References back to the worker").
    private unowned(unsafe) let worker: Worker
    private let isAdmin: Bool
    private var pausedTimer: TimerID?

    init(fd: Int32, worker: Worker, isAdmin: Bool = false) {
        self.fd = fd
        self.worker = worker
        self.isAdmin = isAdmin
    }

    func start() {
        worker.loop.register(fd: fd, interest: .read, handler: self)
    }

    func close() {
        guard fd >= 0 else { return }
        if let timer = pausedTimer { worker.loop.cancel(timer) }
        worker.loop.deregister(fd: fd)
        closeDescriptor(fd)
        fd = -1
    }

    func handleEvent(fd: Int32, events: UInt32) {
        // Bounded per wake-up so one busy listener cannot starve the connections already accepted.
        for _ in 0..<64 {
            do {
                switch try Socket.accept(fd) {
                case .wouldBlock:
                    return
                case .processed(let (client, peer)):
                    if isAdmin && !worker.hasRoomForAdminConnection {
                        closeDescriptor(client)
                        continue
                    }
                    guard isAdmin || worker.hasRoomForConnection else {
                        refuseOverCapacity(client)
                        continue
                    }
                    let connection = ClientConnection(
                        fd: client, peer: peer?.host ?? "unknown", worker: worker, isAdmin: isAdmin)
                    worker.adopt(connection)
                    connection.start()
                }
            } catch {
                switch error.errno {
                case EMFILE, ENFILE, ENOBUFS, ENOMEM:
                    // Out of descriptors: with level-triggered epoll, retrying at once would spin. Pause accepting.
                    ErrorLog.write("accept: \(error); pausing accepts for 100 ms")
                    worker.loop.setInterest(fd: fd, [])
                    pausedTimer = worker.loop.schedule(afterMilliseconds: 100) { [weak self] in
                        guard let self, self.fd >= 0 else { return }
                        self.pausedTimer = nil
                        self.worker.loop.setInterest(fd: self.fd, .read)
                    }
                    return
                default:
                    // ECONNABORTED and friends concern one connection only.
                    continue
                }
            }
        }
    }

    // MARK: - Over capacity

    /// Answers a connection over the cap with `503`, `Connection: close` and `Retry-After: 1`, without reading its
    /// request, and closes it. Never waits: the answer goes out in one non-blocking send into the new socket's
    /// empty send buffer (if even that cannot be sent, the client just sees the close). What the client already
    /// sent is read and dropped (bounded) after our FIN, so the close is not turned into a reset that could
    /// destroy the answer before the client reads it.
    private func refuseOverCapacity(_ client: Int32) {
        let requestID = worker.newRequestID()
        let response = HTTPResponse.error(
            status: 503, message: "too many client connections; retry later",
            extraHeaders: [("Retry-After", "1"), ("X-Request-Id", requestID)])
        var bytes: [UInt8] = []
        response.serialize(into: &bytes, date: worker.httpDate(), keepAlive: false, http10: false, headOnly: false)
        _ = try? bytes.withUnsafeBytes { (b) throws(SystemError) -> IOResult<Int> in try Socket.send(client, b) }
        Socket.shutdownWrite(client)
        for _ in 0..<4 {
            guard case .processed(let n)? = try? Socket.read(client, into: worker.readBuffer), n > 0 else { break }
        }
        closeDescriptor(client)
        worker.metrics.recordRequest(route: "", status: 503, seconds: 0)
        if let sink = worker.accessLog {
            let line = AccessLogLine(
                time: iso8601Now(), method: "-", path: "-", route: nil, status: 503, durationMs: 0,
                requestID: requestID)
            sink.write(line.serialized())
        }
    }
}
