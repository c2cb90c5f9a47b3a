import FanoutCore
import Glibc

/// Work started for one request (upstream calls, a delayed static answer) that must stop if the client goes.
protocol Exchange: AnyObject {
    func cancel()
    /// The client went away before the answer was complete: stops the work like `cancel`, and returns the calls
    /// as the access log shows them (the unfinished ones marked cancelled).
    func abandon() -> [AccessLogCall]
    /// A streamed answer: the client took the bytes waiting for it (see `ClientConnection.sendBodyPart`).
    func clientTookOutput()
}

extension Exchange {
    func clientTookOutput() {}

    func abandon() -> [AccessLogCall] {
        cancel()
        return []
    }
}

/// What the access log needs about the request being answered.
struct RequestLogContext {
    var method: String
    var path: String
    var route: String?
    /// The upstream name of each call the route makes, in the order its exchange reports them.
    var callUpstreams: [String] = []
    var requestID: String
    var startedAt: UInt64
    /// The W3C trace id, once the request is dispatched.
    var traceID: String?
    /// The parent id of the client's `traceparent`, when it was taken.
    var parentID: String?
    /// A sampled request under `tracing`: its trace and the id of its server span.
    var serverSpan: (trace: TraceContext, spanID: UInt64)?
}

/// One client connection: reads and parses requests, hands each to its route's handler, writes the answer.
///
/// Requests are answered strictly in order: while one is being handled the connection reads nothing but that
/// request's own streamed body (the next pipelined request waits in the kernel or in `input`), so answers can
/// never overtake each other. The connection's states, its timer, half-close, `100 Continue`, keep-alive and
/// lingering are decided by its ``ClientConnectionStateMachine``; this class performs the steps it returns.
///
/// Streaming (plain proxy routes): the request body is handed to a `BodyPipe` as it arrives, reading paused
/// while the pipe is full; the answer is written as it arrives (`startStreamedResponse`, `sendBodyPart`,
/// `endStreamedResponse`), the exchange pausing its upstream while `outputHighWater` bytes wait for the client.
/// Both stay in `handling`; memory per connection is bounded by the two windows.
final class ClientConnection: EventHandler {
    /// A streamed answer is refused more bytes while this much waits for the client.
    static let outputHighWater = 256 * 1024

    let fd: Int32
    let peer: String
    /// A connection to the admin listener: its requests go to ``AdminEndpoint``, not to the routes, and are
    /// neither logged nor counted in the metrics.
    let isAdmin: Bool
    private unowned let worker: Worker
    private var machine: ClientConnectionStateMachine
    private var input: [UInt8] = []
    private var parser: HTTPRequestParser
    private let parserLimits: HTTPParserLimits
    private var output: [UInt8] = []
    private var outputOffset = 0
    /// The timer the machine armed.
    private var timer: TimerID?
    private var exchange: (any Exchange)?
    private var processingInput = false
    /// The request being handled: HTTP version, keep-alive and HEAD-ness decide how it is answered.
    private var currentHead: HTTPRequestHead?
    /// What the current request's route lays over its answer (``RequestDispatcher`` sets it).
    private var responseOverlay = ResponseHeaderOverlay()
    private var logContext: RequestLogContext?
    /// The current request's body while it is streamed to its exchange.
    private var requestBody: BodyPipe?
    /// Idle limit between two reads of a streamed request body (the `client` timer is the head's), and the
    /// body's `min_rate` budget: one timer for the earlier of the two.
    private var bodyTimer: TimerID?
    private var bodyIdleDeadline: UInt64 = 0
    private var bodyBudget: RateBudget?
    /// The streamed answer being written: every body byte goes through its framer. And its status, for the
    /// access log.
    private var streamedFraming: ResponseBodyFramer?
    private var streamedStatus = 0
    /// Failing partners: where the streamed head starts in `output` while no byte of it has been sent; nil
    /// once `flush` sent anything. See `retractUnsentStreamedHead`.
    private var unsentStreamedHeadStart: Int?
    /// The exchange paused its upstream: tell it when the client has taken the output.
    private var exchangeWaitsForOutput = false

    private var maxInputBytes: Int {
        let limits = parserLimits
        return limits.maxRequestLineBytes + limits.maxHeaderBytes + limits.maxBodyBytes + 64 * 1024
    }

    init(fd: Int32, peer: String, worker: Worker, isAdmin: Bool = false) {
        self.fd = fd
        self.peer = peer
        self.isAdmin = isAdmin
        self.worker = worker
        // One set of limits per connection: the parser's and the input backstop's stay consistent across reloads.
        parserLimits = worker.runtime.parserLimits
        parser = HTTPRequestParser(limits: parserLimits)
        parser.headFirst = true
        machine = ClientConnectionStateMachine(limits: .init(worker.runtime.config))
    }

    func start() {
        worker.loop.register(fd: fd, interest: [.read, .readHangup], handler: self)
        perform(machine.opened(now: worker.loop.now))
    }

    // MARK: - Events

    func handleEvent(fd: Int32, events: UInt32) {
        if events & (Interest.error.rawValue | Interest.hangup.rawValue) != 0 && machine.state != .lingering {
            // Reset (or both directions shut): nothing can be written any more.
            clientLeft(.reset)
            return
        }
        switch machine.state {
        case .awaitingRequest:
            readAvailable()
        case .handling:
            if events & Interest.write.rawValue != 0 { flush() }
            guard isHandling else { return }
            if requestBody != nil {
                if events & (Interest.read.rawValue | Interest.readHangup.rawValue) != 0 { readBody() }
            } else if events & Interest.readHangup.rawValue != 0 {
                clientLeft(.closed)
            }
        case .writing:
            if events & Interest.readHangup.rawValue != 0 { clientLeft(.closed) }
            if events & Interest.write.rawValue != 0, case .writing = machine.state { flush() }
        case .lingering:
            discardInput()
        case .closed:
            return
        }
    }

    private var isHandling: Bool {
        if case .handling = machine.state { return true }
        return false
    }

    private var isAwaitingRequest: Bool {
        if case .awaitingRequest = machine.state { return true }
        return false
    }

    /// A request is in hand: its answer is pending or being written.
    private var isAnswering: Bool {
        switch machine.state {
        case .handling, .writing: return true
        case .awaitingRequest, .lingering, .closed: return false
        }
    }

    /// The client's side ended: the machine decides what it means (``ClientDeparture``).
    private func clientLeft(_ departure: ClientDeparture) {
        perform(machine.clientLeft(departure))
    }

    /// Carries out one step of the machine: its timer change, then its action.
    private func perform(_ step: ClientConnectionStateMachine.Step) {
        switch step.timer {
        case .unchanged:
            break
        case .cancel:
            if let timer { worker.loop.cancel(timer) }
            timer = nil
        case .arm(let kind, let deadline):
            if let timer { worker.loop.cancel(timer) }
            timer = worker.loop.schedule(at: deadline) { [weak self] in self?.timerFired(kind) }
        }
        switch step.action {
        case .none:
            return
        case .sendContinue:
            sendInterim(Array("HTTP/1.1 100 Continue\r\n\r\n".utf8))
        case .handleRequest(let sendContinue):
            // The caller hands the request over.
            if sendContinue { sendInterim(Array("HTTP/1.1 100 Continue\r\n\r\n".utf8)) }
        case .answerRequestTimeout:
            startRequestContext(method: "-", target: "-")
            respond(
                HTTPResponse.error(status: 408, message: "the request was not received in time"), closeConnection: true)
        case .abortRequest(let departure):
            // No partner keeps working for nobody: the calls are cancelled (a coalesced call only loses this
            // waiter), the request is logged 499 and counted, the connection closes.
            abandonExchange(loggingStatus: ClientDeparture.abortStatus, clientAbort: departure)
            close()
        case .stopReading:
            // Level-triggered RDHUP would fire again at once: stop asking; ERR/HUP are still reported.
            if isHandling {
                updateHandlingInterest()
            } else {
                worker.loop.setInterest(fd: fd, .write)
            }
        case .failRequestBody:
            requestBodyFailed(status: 400, message: "the connection ended before the request body")
        case .readNextRequest:
            worker.loop.setInterest(fd: fd, machine.peerHalfClosed ? [] : [.read, .readHangup])
            if !input.isEmpty {
                processInput()
                perform(machine.inputProcessed())
            } else {
                releaseIdleBuffers()
            }
        case .shutdownWriteAndLinger:
            input = []
            shutdown(fd, Int32(SHUT_WR))
            worker.loop.setInterest(fd: fd, .read)
        case .abandonAnswerAndClose:
            if streamedFraming != nil { abandonExchange(loggingStatus: streamedStatus) }
            close()
        case .close:
            close()
        }
    }

    /// Buffer capacity a keep-alive connection keeps while it waits for its next request: enough for a usual
    /// request and answer head, so these cost no allocation per request.
    static let idleBufferKeep = 2048

    /// A keep-alive connection back to waiting with nothing buffered gives back buffers grown past
    /// ``idleBufferKeep`` (a large request or answer; `flush` alone keeps up to 512 KiB), so many idle clients
    /// cost little after a burst of large answers.
    private func releaseIdleBuffers() {
        if input.capacity > Self.idleBufferKeep { input = [] }
        if output.capacity > Self.idleBufferKeep, outputOffset >= output.count {
            output = []
            outputOffset = 0
        }
    }

    /// While handling: write when output waits, read when a streamed body has room, else only watch for the
    /// client going away.
    private func updateHandlingInterest() {
        var interest: Interest = []
        if outputOffset < output.count { interest.insert(.write) }
        if !machine.peerHalfClosed {
            if let pipe = requestBody {
                // A full pipe reads nothing; RDHUP would then fire again and again, so it waits too.
                if !pipe.isFull { interest.formUnion([.read, .readHangup]) }
            } else {
                interest.insert(.readHangup)
            }
        }
        worker.loop.setInterest(fd: fd, interest)
    }

    /// What a burst of socket reads into `input` came to.
    private struct ReadBurst {
        var readSomething = false
        var sawEOF = false
        /// The socket failed and the connection was closed.
        var failed = false
    }

    /// Reads into `input` while `more()` holds, until the socket has nothing more for now (or a read came back
    /// short), running `afterEach()` after every read that brought bytes; `afterEach` returning false stops.
    private func readBurst(while more: () -> Bool, afterEach: () -> Bool = { true }) -> ReadBurst {
        var burst = ReadBurst()
        while more() {
            do {
                switch try Socket.read(fd, into: worker.readBuffer) {
                case .wouldBlock:
                    return burst
                case .processed(0):
                    burst.sawEOF = true
                    return burst
                case .processed(let n):
                    burst.readSomething = true
                    input.append(contentsOf: UnsafeRawBufferPointer(rebasing: worker.readBuffer[0..<n]))
                    if !afterEach() || n < worker.readBuffer.count { return burst }
                }
            } catch {
                clientLeft(.reset)
                burst.failed = true
                return burst
            }
        }
        return burst
    }

    private func readAvailable() {
        let burst = readBurst(while: { input.count < maxInputBytes })
        if burst.failed { return }
        if burst.sawEOF { machine.readEnded() }
        processInput()
        // A client that is done sending, and no complete request left: nothing more to answer.
        perform(machine.inputProcessed())
    }

    // MARK: - Requests

    /// Parses and handles buffered requests one at a time. Iterative, so a long pipeline answered
    /// synchronously (static routes, errors) does not recurse.
    private func processInput() {
        if processingInput { return }
        processingInput = true
        defer { processingInput = false }
        while case .awaitingRequest = machine.state, !input.isEmpty {
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
                perform(
                    machine.requestIncomplete(
                        expectsContinue: parser.pendingHead?.expectsContinue ?? false, now: worker.loop.now))
                return
            case .complete(let request, let consumed):
                input.removeFirst(consumed)
                perform(machine.requestReceived(streamedBody: false, expectsContinue: false))
                worker.loop.setInterest(fd: fd, machine.peerHalfClosed ? [] : .readHangup)
                handle(request)
                // The client's FIN came before this request was answered (sent right after it, or behind a
                // pipeline).
                perform(machine.requestDispatched())
            case .head(let head, let consumed):
                input.removeFirst(consumed)
                beginBody(of: head)
            case .bodyPart, .bodyEnd:
                preconditionFailure("a streamed body part while waiting for a request")
            }
        }
    }

    /// A request with a body: plain proxy routes stream it (with the route's own limit); every other route
    /// gets it collected whole, under the top-level `max_body`.
    private func beginBody(of head: HTTPRequestHead) {
        let streamRules = isAdmin ? nil : RequestDispatcher.streamedBodyRules(for: head, runtime: worker.runtime)
        let streamLimit = streamRules?.maxBytes
        let declaredLength = parser.pendingBodyLength
        do throws(HTTPParserError) {
            try parser.beginBody(limit: streamLimit ?? parserLimits.maxBodyBytes, streamed: streamLimit != nil)
        } catch {
            currentHead = head
            startRequestContext(method: head.method, target: head.target)
            respond(HTTPResponse.error(status: error.status, message: error.message), closeConnection: true)
            return
        }
        guard streamLimit != nil else {
            // Collected: processInput goes on parsing; a client waiting for 100 Continue gets it now.
            perform(machine.collectingBody(expectsContinue: head.expectsContinue, bodyAwaited: input.isEmpty))
            return
        }
        let pipe = BodyPipe(declaredLength: declaredLength)
        pipe.onDrained = { [weak self] in
            // Inside libcurl's read callback: the pipe is refilled after the current batch of events, from the
            // bytes already read (which no EPOLLIN would announce again) and then from the socket.
            self?.worker.loop.schedule(afterMilliseconds: 0) { [weak self] in self?.resumeBodyReading() }
        }
        requestBody = pipe
        perform(machine.requestReceived(streamedBody: true, expectsContinue: head.expectsContinue))
        bodyBudget = streamRules?.minRate.map { RateBudget($0, start: worker.loop.now) }
        armBodyTimer()
        handle(HTTPRequest(head: head), body: pipe)
        guard isAnswering, requestBody != nil else { return }
        pumpRequestBody()
        updateInterestAfterPipeChange()
    }

    private func resumeBodyReading() {
        guard isHandling, requestBody != nil else { return }
        pumpRequestBody()
        updateInterestAfterPipeChange()
    }

    private func updateInterestAfterPipeChange() {
        guard isHandling else { return }
        updateHandlingInterest()
        if let pipe = requestBody {
            // A full pipe waits for the upstream: neither of the client's limits runs meanwhile.
            if pipe.isFull {
                cancelBodyTimer()
                bodyBudget?.pause(at: worker.loop.now)
            } else if bodyTimer == nil {
                bodyBudget?.resume(at: worker.loop.now)
                armBodyTimer()
            }
        }
    }

    /// Reads a streamed body from the socket while its pipe has room.
    private func readBody() {
        guard let pipe = requestBody else { return }
        let burst = readBurst(
            while: { !pipe.isFull },
            afterEach: {
                pumpRequestBody()
                return requestBody != nil && isHandling
            })
        if burst.failed { return }
        guard isAnswering else { return }
        if burst.sawEOF {
            let step = machine.clientLeft(.closed, bodyUnfinished: requestBody != nil)
            perform(step)
            guard step.action != .failRequestBody, isAnswering else { return }
        }
        if burst.readSomething, requestBody != nil { armBodyTimer() }
        updateInterestAfterPipeChange()
    }

    /// Moves parsed body bytes from `input` into the pipe, until the pipe is full or the input runs out.
    private func pumpRequestBody() {
        while let pipe = requestBody, !pipe.isFull {
            let parsed = input.withUnsafeBytes { bytes -> Result<HTTPParseResult, HTTPParserError> in
                do throws(HTTPParserError) {
                    let result = try parser.parse(bytes)
                    if case .bodyPart(let range, _) = result {
                        pipe.append(UnsafeRawBufferPointer(rebasing: bytes[range]))
                        bodyBudget?.bytesMoved(range.count, at: worker.loop.now)
                    }
                    return .success(result)
                } catch {
                    return .failure(error)
                }
            }
            switch parsed {
            case .failure(let error):
                requestBodyFailed(status: error.status, message: error.message)
                return
            case .success(.needMoreData):
                return
            case .success(.bodyPart(_, let consumed)):
                input.removeFirst(consumed)
            case .success(.bodyEnd(let consumed)):
                input.removeFirst(consumed)
                requestBody = nil
                cancelBodyTimer()
                pipe.finish()
            case .success(.complete), .success(.head):
                preconditionFailure("a new request inside a streamed body")
            }
        }
    }

    /// The streamed body broke off (bad framing, over the limit, timeout, the client left): the upstream
    /// upload is aborted and the client gets an error, or just a close once its answer has begun. That close
    /// is the answer: the request is logged with the streamed head's status, its call as the exchange gives
    /// it up (like a client abort's, but not 499). An answer already complete (`writing`) was logged then.
    private func requestBodyFailed(status: Int, message: String) {
        let pipe = requestBody
        requestBody = nil
        cancelBodyTimer()
        if streamedFraming != nil || !isHandling {
            // Given up before the failed pipe wakes the exchange: the call shows as cancelled.
            if isHandling { abandonExchange(loggingStatus: streamedStatus) }
            pipe?.fail()
            close()
            return
        }
        exchange?.cancel()
        exchange = nil
        pipe?.fail()
        respond(HTTPResponse.error(status: status, message: message), closeConnection: true)
    }

    private func startRequestContext(method: String, target: String) {
        logContext = RequestLogContext(
            method: method, path: target, route: nil, requestID: worker.newRequestID(), startedAt: worker.loop.now)
    }

    private func handle(_ request: HTTPRequest, body: BodyPipe? = nil) {
        currentHead = request.head
        responseOverlay = ResponseHeaderOverlay()
        let requestID = RequestIdentity.accepted(request.head.headers[first: "x-request-id"]) ?? worker.newRequestID()
        logContext = RequestLogContext(
            method: request.head.method, path: request.head.target, route: nil, requestID: requestID,
            startedAt: worker.loop.now)
        if isAdmin {
            AdminEndpoint.handle(request, on: self, worker: worker)
            return
        }
        RequestDispatcher.dispatch(request, body: body, on: self, worker: worker, requestID: requestID)
    }

    /// Called by handlers to name the matched route in the access log and the metrics.
    func noteRoute(_ name: String, callUpstreams: [String]) {
        logContext?.route = name
        logContext?.callUpstreams = callUpstreams
    }

    /// Called by the dispatcher with the fields the matched route lays over every answer to this request
    /// (`response_header`, `cors`).
    func noteResponseOverlay(_ overlay: ResponseHeaderOverlay) {
        responseOverlay = overlay
    }

    /// Called by the dispatcher to name the request's trace (and the client's parent span) in the access log.
    func noteTrace(_ traceID: String, parentID: String?) {
        logContext?.traceID = traceID
        logContext?.parentID = parentID
    }

    /// Called by the dispatcher for a request whose spans are exported (`tracing`, sampled).
    func noteServerSpan(_ trace: TraceContext, spanID: UInt64) {
        logContext?.serverSpan = (trace, spanID)
    }

    /// A request was received and is not answered yet (`fanout_requests_in_flight`).
    var hasRequestInFlight: Bool { logContext != nil }

    func attach(_ exchange: any Exchange) {
        self.exchange = exchange
    }

    /// The partner of an `Upgrade` request answered 101: its `Tunnel` takes the socket, the bytes the client
    /// sent after the request head, and the request's log context (the tunnel writes the access-log line when
    /// it ends). The connection ends here without closing the socket; it never serves HTTP again.
    func handOverToTunnel() -> (fd: Int32, input: [UInt8], log: RequestLogContext?)? {
        guard isHandling, streamedFraming == nil, requestBody == nil, outputOffset >= output.count else {
            return nil
        }
        let handed = (fd: fd, input: input, log: logContext)
        _ = machine.closed()
        cancelTimer()
        cancelBodyTimer()
        exchange = nil
        logContext = nil
        input = []
        output = []
        worker.loop.deregister(fd: fd)
        worker.forget(self)
        return handed
    }

    // MARK: - Responses

    /// Answers the current request. `calls` is what the access log shows for upstream calls. `gzip`: the
    /// answer may be gzip-encoded for a client that accepts it (composite answers).
    func respond(
        _ response: HTTPResponse, closeConnection: Bool = false, calls: [AccessLogCall] = [], gzip: GzipSettings? = nil
    ) {
        guard isHandling || isAwaitingRequest, streamedFraming == nil else { return }
        exchange = nil
        let head = currentHead
        let http10 = head?.version == .http1_0
        let keepAlive = keepsAlive(unless: closeConnection)
        machine.answerQueued(keepAlive: keepAlive)
        var response = response
        if let gzip {
            Self.negotiateGzip(
                &response, settings: gzip, acceptEncoding: head?.headers.values(named: "accept-encoding") ?? [],
                worker: worker)
        }
        if !responseOverlay.isEmpty { responseOverlay.apply(to: &response.headers) }
        if let id = logContext?.requestID { response.headers.append(("X-Request-Id", id)) }
        response.serialize(
            into: &output, date: worker.httpDate(), keepAlive: keepAlive, http10: http10,
            headOnly: head?.method == "HEAD")
        log(status: response.status, calls: calls)
        currentHead = nil
        flush()
    }

    /// Whether the connection stays open after the current answer.
    private func keepsAlive(unless closeConnection: Bool) -> Bool {
        let head = currentHead
        return machine.keepsAlive(
            requested: !closeConnection && (head?.keepAlive ?? false) && !(head?.requestsUpgrade ?? false),
            bodyUnfinished: requestBody != nil, draining: worker.draining)
    }

    // MARK: - Streamed responses

    /// Writes the head of an answer whose body follows in pieces (`sendBodyPart`, then `endStreamedResponse`).
    /// The body is framed by `declaredLength` when fanout may declare it (see ``PartnerFraming``), else chunked
    /// (HTTP/1.1) or by closing (HTTP/1.0); a HEAD answer writes no body byte. ``ResponseBodyFramer`` decides
    /// and enforces it. Called from inside libcurl's write callback: queues bytes and epoll interest only,
    /// never sends or closes.
    func startStreamedResponse(status: Int, headers: [(name: String, value: String)], declaredLength: Int?) {
        guard isHandling, streamedFraming == nil else { return }
        let head = currentHead
        let http10 = head?.version == .http1_0
        let framer = ResponseBodyFramer(
            status: status, declaredLength: declaredLength, http10: http10, headOnly: head?.method == "HEAD",
            keepAlive: keepsAlive(unless: false))
        machine.streamedAnswerStarted(keepAlive: framer.keepAlive)
        var response = HTTPResponse(status: status, headers: headers)
        if !responseOverlay.isEmpty { responseOverlay.apply(to: &response.headers) }
        if let id = logContext?.requestID { response.headers.append(("X-Request-Id", id)) }
        unsentStreamedHeadStart = output.count
        response.serializeHead(
            into: &output, date: worker.httpDate(), keepAlive: framer.keepAlive, http10: http10,
            framing: framer.framing)
        streamedFraming = framer
        streamedStatus = status
        updateHandlingInterest()
    }

    /// Bytes of the answer that the client has not taken yet.
    var hasPendingOutput: Bool { outputOffset < output.count }

    /// Queues body bytes of the streamed answer; false when `outputHighWater` bytes already wait for the client
    /// (the exchange pauses its upstream and hears `clientTookOutput` once they are sent). Called from inside
    /// libcurl's write callback: never sends or closes.
    func sendBodyPart(_ bytes: UnsafeRawBufferPointer) -> Bool {
        guard isHandling, streamedFraming != nil else { return true }  // going away: drop
        if output.count - outputOffset >= ClientConnection.outputHighWater {
            exchangeWaitsForOutput = true
            return false
        }
        if outputOffset >= ClientConnection.outputHighWater {
            // Keep the buffer bounded: drop what the client already took.
            output.removeFirst(outputOffset)
            outputOffset = 0
        }
        // send_timeout runs while output waits (`flush` re-arms it on progress).
        perform(machine.streamedOutputQueued(wasCaughtUp: output.count == outputOffset, now: worker.loop.now))
        streamedFraming?.append(bytes, to: &output)
        updateHandlingInterest()
        return true
    }

    /// The streamed answer is complete: finishes its framing and writes what is left. A body that did not match
    /// its declared length (short, or longer: the excess was dropped) ends the connection once written, so the
    /// client never reads a byte outside the framing and never reuses a connection it cannot trust. Not from a
    /// libcurl callback.
    func endStreamedResponse(calls: [AccessLogCall]) {
        guard isHandling, var framer = streamedFraming else { return }
        machine.streamedAnswerEnded(framingComplete: framer.finish(into: &output) == .complete)
        streamedFraming = nil
        exchangeWaitsForOutput = false
        exchange = nil
        log(status: streamedStatus, calls: calls)
        currentHead = nil
        flush()
    }

    /// Failing partners: the upstream failed before any byte of the streamed head reached the socket (typically
    /// in the same read that brought the head: a short body, or one longer than its Content-Length). Forgets
    /// the head and the body bytes queued after it, so the exchange can answer 502/504 instead of closing a
    /// connection on which the client received nothing. Not from a libcurl callback.
    /// - Returns: false when part of the head was already sent: then only `abortStreamedResponse` is left.
    func retractUnsentStreamedHead() -> Bool {
        guard isHandling, streamedFraming != nil, let start = unsentStreamedHeadStart, outputOffset <= start
        else { return false }
        output.removeSubrange(start...)
        streamedFraming = nil
        exchangeWaitsForOutput = false
        return true
    }

    /// The upstream failed after the head went out: the client can only learn it from the connection closing
    /// before the body's framing says it ended. Not from a libcurl callback.
    func abortStreamedResponse(calls: [AccessLogCall]) {
        guard isHandling, streamedFraming != nil else { return }
        exchange = nil
        log(status: streamedStatus, calls: calls)
        close()
    }

    /// The request in hand ends without its whole answer: the exchange gives its calls up (the unfinished ones
    /// shown cancelled) and the request is logged once, with `status`. The caller closes the connection.
    /// Used when the client went away (499), and when this side cut a streamed answer short (its request body
    /// failed, or the client took nothing for `send_timeout`: the streamed head's status).
    private func abandonExchange(loggingStatus status: Int, clientAbort: ClientDeparture? = nil) {
        let calls = exchange?.abandon() ?? []
        exchange = nil
        log(status: status, calls: calls, clientAbort: clientAbort)
    }

    /// Writes the access-log line of the request just answered and counts it in the worker's metrics.
    /// `clientAbort`: the client went away first (`status` is then 499).
    private func log(status: Int, calls: [AccessLogCall], clientAbort: ClientDeparture? = nil) {
        // The request is over: a later answer on this connection (a refusal before dispatch) gets no overlay.
        responseOverlay = ResponseHeaderOverlay()
        guard let context = logContext else { return }
        logContext = nil
        if isAdmin { return }
        worker.loop.refreshNow()
        let durationMs = Double(worker.loop.now &- context.startedAt) / 1_000_000
        let route = context.route ?? ""
        if let clientAbort {
            worker.metrics.recordClientAbort(route: route, reason: clientAbort, seconds: durationMs / 1_000)
        } else {
            worker.metrics.recordRequest(route: route, status: status, seconds: durationMs / 1_000)
        }
        // A cancelled call neither finished nor failed: it is in the log line only.
        for (index, call) in calls.enumerated() where !call.cancelled {
            let upstream = index < context.callUpstreams.count ? context.callUpstreams[index] : ""
            worker.metrics.recordCall(
                route: route, call: call.name, upstream: upstream, seconds: call.durationMs / 1_000,
                failure: call.failure)
        }
        let sink = worker.accessLog
        guard sink != nil || context.serverSpan != nil else { return }
        let line = AccessLogLine(
            time: iso8601Now(), method: context.method, path: context.path, route: context.route, status: status,
            durationMs: durationMs, requestID: context.requestID, traceID: context.traceID,
            parentID: context.parentID, calls: calls, clientAbort: clientAbort)
        if let span = context.serverSpan, let tracer = worker.tracer {
            tracer.record(
                RequestSpans.spans(
                    for: line, trace: span.trace, serverSpanID: span.spanID, callUpstreams: context.callUpstreams,
                    endUnixNano: wallClockNanoseconds(), newSpanID: TraceContext.newSpanID))
        }
        sink?.write(line.serialized())
    }

    private func sendInterim(_ bytes: [UInt8]) {
        // A 100 Continue is tiny and goes out on an idle socket; if even that cannot be sent now, the client
        // simply sends its body after its own timeout (RFC 9110 §10.1.1), so nothing is queued.
        _ = try? bytes.withUnsafeBytes { (b) throws(SystemError) -> IOResult<Int> in try Socket.send(fd, b) }
    }

    private func flush() {
        var progressed = false
        while outputOffset < output.count {
            let result: IOResult<Int>
            do {
                result = try output.withUnsafeBytes { (bytes) throws(SystemError) -> IOResult<Int> in
                    try Socket.send(fd, UnsafeRawBufferPointer(rebasing: bytes[outputOffset...]))
                }
            } catch {
                clientLeft(.reset)
                return
            }
            switch result {
            case .processed(let n):
                outputOffset += n
                progressed = progressed || n > 0
                if n > 0 { unsentStreamedHeadStart = nil }  // failing partners: the head may be on its way
            case .wouldBlock:
                if isHandling {
                    updateHandlingInterest()
                } else {
                    worker.loop.setInterest(fd: fd, machine.peerHalfClosed ? .write : [.write, .readHangup])
                }
                perform(machine.outputBlocked(progressed: progressed, now: worker.loop.now))
                return
            }
        }
        output.removeAll(keepingCapacity: output.capacity <= 512 * 1024)
        outputOffset = 0
        let wasHandling = isHandling
        perform(machine.outputFlushed(inputBuffered: !input.isEmpty, draining: worker.draining, now: worker.loop.now))
        guard wasHandling else { return }
        // A streamed answer caught up with the client.
        updateHandlingInterest()
        if exchangeWaitsForOutput {
            exchangeWaitsForOutput = false
            exchange?.clientTookOutput()
        }
    }

    // MARK: - Closing

    /// A reload's client limits: from the next timer armed, the next keep-alive check, the next departure.
    func install(_ limits: ClientConnectionStateMachine.Limits) {
        machine.limits = limits
    }

    /// Closes the connection now if it is between requests (used when draining).
    func closeIfIdle() {
        perform(machine.drain(inputBuffered: !input.isEmpty))
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
        guard machine.closed() else { return }
        cancelTimer()
        cancelBodyTimer()
        exchange?.cancel()
        exchange = nil
        requestBody?.fail()
        requestBody = nil
        worker.loop.deregister(fd: fd)
        closeDescriptor(fd)
        input = []
        output = []
        worker.forget(self)
    }

    // MARK: - Timers

    private func cancelTimer() {
        if let timer { worker.loop.cancel(timer) }
        timer = nil
    }

    /// `client_timeout` between two reads of a streamed body, and the route's `min_rate` over it (neither while
    /// the pipe is full: then the upstream is the slow side, and the exchange's timeout covers it). Restarts the
    /// idle part: called when the body starts, after each read, and when the pipe has room again.
    private func armBodyTimer() {
        bodyIdleDeadline = worker.loop.now &+ UInt64(worker.runtime.config.timeouts.clientMs) &* 1_000_000
        scheduleBodyTimer()
    }

    private func scheduleBodyTimer() {
        cancelBodyTimer()
        let at = min(bodyIdleDeadline, bodyBudget?.deadline ?? .max)
        bodyTimer = worker.loop.schedule(at: at) { [weak self] in
            guard let self else { return }
            self.bodyTimer = nil
            guard self.requestBody != nil else { return }
            let now = self.worker.loop.now
            if let budget = self.bodyBudget, budget.isSpent(at: now) {
                self.countMinRateCut(side: "client")
                self.requestBodyFailed(
                    status: 408, message: "the request body arrived slower than min_rate \(budget.rate)")
            } else if now >= self.bodyIdleDeadline {
                self.requestBodyFailed(status: 408, message: "the request body was not received in time")
            } else {
                self.scheduleBodyTimer()  // the budget's deadline moved on with the bytes since
            }
        }
    }

    /// A streamed body of this connection's current request was cut for moving slower than its route's
    /// `min_rate`; `side` is `client` or `upstream` (`fanout_min_rate_cuts_total`).
    func countMinRateCut(side: String) {
        guard let context = logContext else { return }
        let key = ServerMetrics.MinRateCutKey(route: context.route ?? "", side: side)
        worker.metrics.minRateCuts[key, default: 0] &+= 1
    }

    private func cancelBodyTimer() {
        if let bodyTimer { worker.loop.cancel(bodyTimer) }
        bodyTimer = nil
    }

    private func timerFired(_ kind: ClientConnectionStateMachine.Timer) {
        timer = nil
        perform(machine.timerFired(kind, inputBuffered: !input.isEmpty))
    }
}

/// One upstream call as the access log shows it.
typealias AccessLogCall = AccessLogLine.Call
