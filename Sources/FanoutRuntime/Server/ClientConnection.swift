import FanoutCore
import Glibc

/// Work started for one request (upstream calls, a delayed static answer) that must stop if the client goes.
protocol Exchange: AnyObject {
    func cancel()
}

/// What the access log needs about the request being answered.
struct RequestLogContext {
    var method: String
    var path: String
    var route: String?
    var requestID: String
    var startedAt: UInt64
}

/// One client connection: reads and parses requests, hands each to its route's handler, writes the answer.
///
/// Requests are answered strictly in order: while one is being handled the connection does not read (the
/// next pipelined request waits in the kernel or in `input`), so answers can never overtake each other.
/// States: waiting for a request (idle or partly received) → handling → writing → waiting again, or
/// lingering/closed when the connection cannot continue.
final class ClientConnection: EventHandler {
    private enum State {
        case waitingForRequest
        case handling
        case writing
        /// After a response that ends the connection: our side is shut, unread input is drained for a
        /// moment so the client sees the answer instead of a reset.
        case lingering
        case closed
    }

    private enum TimerKind {
        case keepalive, client, send, linger
    }

    let fd: Int32
    let peer: String
    private unowned let worker: Worker
    private var state = State.waitingForRequest
    private var input: [UInt8] = []
    private var parser: HTTPRequestParser
    private var output: [UInt8] = []
    private var outputOffset = 0
    private var timer: TimerID?
    private var timerKind: TimerKind?
    private var closeAfterWrite = false
    private var peerHalfClosed = false
    private var requestsServed = 0
    private var exchange: (any Exchange)?
    private var sentContinue = false
    private var processingInput = false
    /// The request being handled: HTTP version, keep-alive and HEAD-ness decide how it is answered.
    private var currentHead: HTTPRequestHead?
    private var logContext: RequestLogContext?

    private var maxInputBytes: Int {
        let limits = worker.runtime.parserLimits
        return limits.maxRequestLineBytes + limits.maxHeaderBytes + limits.maxBodyBytes + 64 * 1024
    }

    init(fd: Int32, peer: String, worker: Worker) {
        self.fd = fd
        self.peer = peer
        self.worker = worker
        parser = HTTPRequestParser(limits: worker.runtime.parserLimits)
    }

    func start() {
        worker.loop.register(fd: fd, interest: [.read, .readHangup], handler: self)
        // A new connection gets the client timeout to send its first request (slowloris on connect).
        arm(.client, milliseconds: worker.runtime.config.timeouts.clientMs)
    }

    // MARK: - Events

    func handleEvent(fd: Int32, events: UInt32) {
        if events & (Interest.error.rawValue | Interest.hangup.rawValue) != 0 && state != .lingering {
            // Reset or fully closed: nothing can be written any more.
            close()
            return
        }
        switch state {
        case .waitingForRequest:
            readAvailable()
        case .handling:
            if events & Interest.readHangup.rawValue != 0 { notePeerHalfClosed() }
        case .writing:
            if events & Interest.readHangup.rawValue != 0 { notePeerHalfClosed() }
            if events & Interest.write.rawValue != 0 { flush() }
        case .lingering:
            discardInput()
        case .closed:
            return
        }
    }

    private func notePeerHalfClosed() {
        peerHalfClosed = true
        // Level-triggered RDHUP would fire again at once: stop asking; ERR/HUP are still reported.
        worker.loop.setInterest(fd: fd, state == .writing ? .write : [])
    }

    private func readAvailable() {
        var sawEOF = false
        reading: while input.count < maxInputBytes {
            do {
                switch try Socket.read(fd, into: worker.readBuffer) {
                case .wouldBlock:
                    break reading
                case .processed(0):
                    sawEOF = true
                    break reading
                case .processed(let n):
                    input.append(contentsOf: UnsafeRawBufferPointer(rebasing: worker.readBuffer[0..<n]))
                    if n < worker.readBuffer.count { break reading }
                }
            } catch {
                close()
                return
            }
        }
        if sawEOF { peerHalfClosed = true }
        processInput()
        if state == .waitingForRequest && peerHalfClosed {
            // The client is done sending and no complete request is left: nothing more to answer.
            close()
        }
    }

    // MARK: - Requests

    /// Parses and handles buffered requests one at a time. Iterative, so a long pipeline answered
    /// synchronously (static routes, errors) does not recurse.
    private func processInput() {
        if processingInput { return }
        processingInput = true
        defer { processingInput = false }
        while state == .waitingForRequest && !input.isEmpty {
            let parsed = input.withUnsafeBytes { bytes -> Result<HTTPParseResult, HTTPParserError> in
                do throws(HTTPParserError) {
                    return .success(try parser.parse(bytes))
                } catch {
                    return .failure(error)
                }
            }
            let result: HTTPParseResult
            switch parsed {
            case .success(let value):
                result = value
            case .failure(let error):
                // Framing can no longer be trusted: answer and close (RFC 9112 §6.3, §11.2).
                startRequestContext(method: "-", target: "-")
                respond(HTTPResponse.error(status: error.status, message: error.message), closeConnection: true)
                return
            }
            switch result {
            case .needMoreData:
                if input.count >= maxInputBytes {
                    // Only chunk framing can get here (the parser enforces every other limit first): the
                    // raw request outgrew what one request may buffer. Reading on would spin on EPOLLIN.
                    startRequestContext(method: "-", target: "-")
                    respond(
                        HTTPResponse.error(status: 413, message: "the request's chunked framing is too large"),
                        closeConnection: true)
                    return
                }
                if timerKind != .client { arm(.client, milliseconds: worker.runtime.config.timeouts.clientMs) }
                if !sentContinue, let head = parser.pendingHead, head.expectsContinue {
                    sentContinue = true
                    sendInterim(Array("HTTP/1.1 100 Continue\r\n\r\n".utf8))
                }
                return
            case .complete(let request, let consumed):
                input.removeFirst(consumed)
                sentContinue = false
                cancelTimer()
                state = .handling
                worker.loop.setInterest(fd: fd, peerHalfClosed ? [] : .readHangup)
                handle(request)
            }
        }
    }

    private func startRequestContext(method: String, target: String) {
        logContext = RequestLogContext(
            method: method, path: target, route: nil, requestID: worker.newRequestID(), startedAt: worker.loop.now)
    }

    private func handle(_ request: HTTPRequest) {
        currentHead = request.head
        let requestID = RequestIdentity.accepted(request.head.headers[first: "x-request-id"]) ?? worker.newRequestID()
        logContext = RequestLogContext(
            method: request.head.method, path: request.head.target, route: nil, requestID: requestID,
            startedAt: worker.loop.now)
        RequestDispatcher.dispatch(request, on: self, worker: worker, requestID: requestID)
    }

    /// Called by handlers to name the matched route in the access log.
    func noteRoute(_ name: String) {
        logContext?.route = name
    }

    func attach(_ exchange: any Exchange) {
        self.exchange = exchange
    }

    // MARK: - Responses

    /// Answers the current request. `calls` is what the access log shows for upstream calls.
    func respond(_ response: HTTPResponse, closeConnection: Bool = false, calls: [AccessLogCall] = []) {
        guard state == .handling || state == .waitingForRequest else { return }
        exchange = nil
        let head = currentHead
        let http10 = head?.version == .http1_0
        let keepAlive =
            !closeConnection && (head?.keepAlive ?? false) && !(head?.requestsUpgrade ?? false) && !worker.draining
            && requestsServed + 1 < worker.runtime.config.limits.keepaliveRequests
        closeAfterWrite = !keepAlive
        var response = response
        if let id = logContext?.requestID { response.headers.append(("X-Request-Id", id)) }
        response.serialize(
            into: &output, date: worker.httpDate(), keepAlive: keepAlive, http10: http10,
            headOnly: head?.method == "HEAD")
        log(status: response.status, calls: calls)
        currentHead = nil
        state = .writing
        flush()
    }

    private func log(status: Int, calls: [AccessLogCall]) {
        guard let sink = worker.accessLog, let context = logContext else { return }
        worker.loop.refreshNow()
        let line = AccessLogLine(
            time: iso8601Now(), method: context.method, path: context.path, route: context.route, status: status,
            durationMs: Double(worker.loop.now &- context.startedAt) / 1_000_000, requestID: context.requestID,
            calls: calls)
        sink.write(line.serialized())
        logContext = nil
    }

    private func sendInterim(_ bytes: [UInt8]) {
        // A 100 Continue is tiny and goes out on an idle socket; if even that cannot be sent now, the client
        // simply sends its body after its own timeout (RFC 9110 §10.1.1), so nothing is queued.
        _ = try? bytes.withUnsafeBytes { (b) throws(SystemError) -> IOResult<Int> in try Socket.send(fd, b) }
    }

    private func flush() {
        while outputOffset < output.count {
            let result: IOResult<Int>
            do {
                result = try output.withUnsafeBytes { (bytes) throws(SystemError) -> IOResult<Int> in
                    try Socket.send(fd, UnsafeRawBufferPointer(rebasing: bytes[outputOffset...]))
                }
            } catch {
                close()
                return
            }
            switch result {
            case .processed(let n):
                outputOffset += n
            case .wouldBlock:
                worker.loop.setInterest(fd: fd, peerHalfClosed ? .write : [.write, .readHangup])
                if timerKind != .send { arm(.send, milliseconds: worker.runtime.config.timeouts.sendMs) }
                return
            }
        }
        output.removeAll(keepingCapacity: output.capacity <= 64 * 1024)
        outputOffset = 0
        writeCompleted()
    }

    private func writeCompleted() {
        requestsServed += 1
        cancelTimer()
        if closeAfterWrite {
            startLingering()
            return
        }
        state = .waitingForRequest
        worker.loop.setInterest(fd: fd, peerHalfClosed ? [] : [.read, .readHangup])
        if input.isEmpty {
            if peerHalfClosed {
                close()
                return
            }
            arm(.keepalive, milliseconds: worker.runtime.config.timeouts.keepaliveMs)
        } else {
            processInput()
            if state == .waitingForRequest && peerHalfClosed { close() }
        }
    }

    // MARK: - Closing

    /// Closes the connection now if it is between requests (used when draining).
    func closeIfIdle() {
        if state == .waitingForRequest && input.isEmpty { close() }
    }

    private func startLingering() {
        state = .lingering
        input = []
        shutdown(fd, Int32(SHUT_WR))
        if peerHalfClosed {
            close()
            return
        }
        worker.loop.setInterest(fd: fd, .read)
        arm(.linger, milliseconds: 2_000)
    }

    private func discardInput() {
        while true {
            do {
                switch try Socket.read(fd, into: worker.readBuffer) {
                case .wouldBlock: return
                case .processed(0):
                    close()
                    return
                case .processed: continue
                }
            } catch {
                close()
                return
            }
        }
    }

    /// Releases everything: running upstream calls are cancelled, the descriptor is closed. Idempotent.
    func close() {
        guard state != .closed else { return }
        state = .closed
        cancelTimer()
        exchange?.cancel()
        exchange = nil
        worker.loop.deregister(fd: fd)
        closeDescriptor(fd)
        input = []
        output = []
        worker.forget(self)
    }

    // MARK: - Timers

    private func arm(_ kind: TimerKind, milliseconds: Int) {
        cancelTimer()
        timerKind = kind
        timer = worker.loop.schedule(afterMilliseconds: milliseconds) { [weak self] in
            self?.timerFired(kind)
        }
    }

    private func cancelTimer() {
        if let timer { worker.loop.cancel(timer) }
        timer = nil
        timerKind = nil
    }

    private func timerFired(_ kind: TimerKind) {
        timer = nil
        timerKind = nil
        switch kind {
        case .keepalive, .send, .linger:
            close()
        case .client:
            guard state == .waitingForRequest else { return }
            if input.isEmpty {
                // Nothing of a request arrived: close quietly, as nginx does.
                close()
            } else {
                startRequestContext(method: "-", target: "-")
                state = .handling
                respond(
                    HTTPResponse.error(status: 408, message: "the request was not received in time"), closeConnection: true)
            }
        }
    }
}

/// One upstream call as the access log shows it.
typealias AccessLogCall = (name: String, status: Int?, durationMs: Double, failure: String?)
