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

/// One client connection: reads and parses requests, hands each to its route's handler, writes the answer.
///
/// Requests are answered strictly in order: while one is being handled the connection reads nothing but that
/// request's own streamed body (the next pipelined request waits in the kernel or in `input`), so answers can
/// never overtake each other. The connection's states, its timer, half-close, `100 Continue`, keep-alive and
/// lingering are decided by its ``ClientConnectionStateMachine``; this class performs the steps it returns.
///
/// Streaming (plain proxy routes): the request body is handed to a `BodyPipe` as it arrives, reading paused
/// while the pipe is full; the answer is written as it arrives (`startStreamedResponse`, `sendBodyPart`,
/// `endStreamedResponse`), the exchange pausing its upstream while
/// ``ClientConnectionStateMachine/outputHighWater`` bytes wait for the client. Both stay in `handling`, and the
/// machine decides their timers, cuts and back-pressure; memory per connection is bounded by the two windows.
final class ClientConnection: EventHandler, TurnEndTask {
    let fd: Int32
    let peer: String
    /// The forwarded-header lines of `peer` (``ForwardedPeer``), made once for all the connection's requests.
    let forwardedPeer: ForwardedPeer
    /// A connection to the admin listener: its requests go to ``AdminEndpoint``, not to the routes, and are
    /// neither logged nor counted in the metrics.
    let isAdmin: Bool
    /// Its worker, not retained nor checked (docs/design/architecture.md, "References back to the worker").
    private unowned(unsafe) let worker: Worker
    private var machine: ClientConnectionStateMachine
    private var input: [UInt8] = []
    private var parser: HTTPRequestParser
    private let parserLimits: HTTPParserLimits
    private var output: [UInt8] = []
    private var outputOffset = 0
    /// The timer the machine armed, and its kind.
    private var timer: TimerID?
    private var timerKind = ClientConnectionStateMachine.Timer.client
    /// The action of every `timer`, made once per connection: a closure per arm (the keep-alive timer is armed
    /// once per request) cost an allocation and a weak reference each time.
    private lazy var timerAction: () -> Void = { [weak self] in self?.timerFired() }
    /// The body timer the machine armed while a request body streams.
    private var bodyTimer: TimerID?
    private var exchange: (any Exchange)?
    /// The request being handled: HTTP version, keep-alive and HEAD-ness decide how it is answered.
    private var currentHead: HTTPRequestHead?
    /// What the current request's route lays over its answer (``RequestDispatcher`` sets it).
    private var responseOverlay = ResponseHeaderOverlay()
    /// The request in hand, as the access log and the metrics see it (``RequestRecord``): made by the dispatch
    /// (``begin(_:)``; here only for a request refused before dispatch, and for an admin request), finished
    /// here once its answer is queued or abandoned.
    private var record: RequestRecord?
    /// The current request's body while it is streamed to its exchange (the machine holds its limits).
    private var requestBody: BodyPipe?
    /// While a request without a streamed body is handled, reading stays asked for, as between requests, so a
    /// keep-alive request costs no `epoll_ctl`; only bytes arriving meanwhile (a pipelined request) stop it,
    /// until the answer is out (``updateHandlingInterest()``).
    private var clientSentWhileHandling = false
    /// Streamed answer bytes queued from inside libcurl's write callback wait for ``turnEnded()`` to be written.
    private var flushAtTurnEnd = false

    private var maxInputBytes: Int {
        let limits = parserLimits
        return limits.maxRequestLineBytes + limits.maxHeaderBytes + limits.maxBodyBytes + 64 * 1024
    }

    init(fd: Int32, peer: String, worker: Worker, isAdmin: Bool = false) {
        self.fd = fd
        self.peer = peer
        forwardedPeer = ForwardedPeer(address: peer)
        self.isAdmin = isAdmin
        self.worker = worker
        // One set of limits per connection: the parser's and the input backstop's stay consistent across reloads.
        parserLimits = worker.runtime.parserLimits
        parser = HTTPRequestParser(limits: parserLimits)
        parser.headFirst = true
        machine = ClientConnectionStateMachine(limits: .init(worker.runtime.config))
    }

    func start() {
        // Nagle's algorithm would hold a small write back while an earlier one is unacknowledged (a streamed
        // answer's last piece; the client's delayed ACK can make that 40 ms), as nginx's `tcp_nodelay on`
        // avoids. Not a TCP socket (a test's socketpair): nothing to set.
        try? Socket.setOption(fd, Int32(IPPROTO_TCP), TCP_NODELAY, 1)
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
            if machine.requestBody != nil {
                if events & (Interest.read.rawValue | Interest.readHangup.rawValue) != 0 { readBody() }
            } else if events & Interest.readHangup.rawValue != 0 {
                clientLeft(.closed)
            } else if events & Interest.read.rawValue != 0 {
                // Bytes before this answer is out: left in the socket until then (level-triggered, so reading
                // stops being asked for, or this would fire again at once).
                clientSentWhileHandling = true
                updateHandlingInterest()
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

    /// Carries out one step of the machine: its timer changes, then its action.
    private func perform(_ step: ClientConnectionStateMachine.Step) {
        switch step.timer {
        case .unchanged:
            break
        case .cancel:
            if let timer { worker.loop.cancel(timer) }
            timer = nil
        case .arm(let kind, let deadline):
            if let timer { worker.loop.cancel(timer) }
            timerKind = kind
            timer = worker.loop.schedule(at: deadline, timerAction)
        }
        switch step.bodyTimer {
        case .unchanged:
            break
        case .cancel:
            if let bodyTimer { worker.loop.cancel(bodyTimer) }
            bodyTimer = nil
        case .arm(_, let deadline):
            if let bodyTimer { worker.loop.cancel(bodyTimer) }
            bodyTimer = worker.loop.schedule(at: deadline) { [weak self] in self?.bodyTimerFired() }
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
        case .failRequestBody(let failure):
            countIfMinRateCut(failure)
            let pipe = requestBody
            requestBody = nil
            exchange?.cancel()
            exchange = nil
            pipe?.fail()
            respond(HTTPResponse.error(status: failure.status, message: failure.message), closeConnection: true)
        case .cutRequestBody(let failure, let loggingStatus):
            // The close is the answer. Given up before the failed pipe wakes the exchange: the call shows as
            // cancelled (like a client abort's, but not 499).
            countIfMinRateCut(failure)
            if let loggingStatus { abandonExchange(loggingStatus: loggingStatus) }
            close()
        case .resumeExchange:
            exchange?.clientTookOutput()
        case .readNextRequest:
            clientSentWhileHandling = false
            worker.loop.setInterest(fd: fd, machine.peerHalfClosed ? [] : [.read, .readHangup])
            // From inside the parsing loop (a request answered at once), the loop goes on by itself.
            if !input.isEmpty {
                processInput()
            } else {
                releaseIdleBuffers()
            }
        case .shutdownWriteAndLinger:
            input = []
            shutdown(fd, Int32(SHUT_WR))
            worker.loop.setInterest(fd: fd, .read)
        case .abandonAnswerAndClose:
            if let status = machine.streamedAnswer?.status { abandonExchange(loggingStatus: status) }
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

    /// While handling: write when output waits, read when a streamed body has room, else watch for the client
    /// going away, and keep reading asked for until the client sends something (``clientSentWhileHandling``).
    private func updateHandlingInterest() {
        var interest: Interest = []
        if outputOffset < output.count { interest.insert(.write) }
        if !machine.peerHalfClosed {
            if let pipe = requestBody, machine.requestBody != nil {
                // A full pipe reads nothing; RDHUP would then fire again and again, so it waits too.
                if !pipe.isFull { interest.formUnion([.read, .readHangup]) }
            } else {
                interest.insert(.readHangup)
                if !clientSentWhileHandling { interest.insert(.read) }
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
    }

    // MARK: - Requests

    /// Parses and handles buffered requests one at a time. Iterative, so a long pipeline answered
    /// synchronously (static routes, errors) does not recurse: an answer flushed from inside the loop finds it
    /// running (``ClientConnectionStateMachine/parsingStarted()``). When the loop ends, a client that is done
    /// sending and has no complete request left has nothing more to be answered.
    private func processInput() {
        guard machine.parsingStarted() else { return }
        parseBufferedRequests()
        perform(machine.parsingEnded())
    }

    private func parseBufferedRequests() {
        while case .awaitingRequest = machine.state, !input.isEmpty {
            // Thrown, not wrapped in a `Result`: taking the request out of a `Result` copied it (a retain and a
            // release of each of its Strings and arrays).
            // (`Array.withUnsafeBytes` rethrows untyped; the parser throws only `HTTPParserError`.)
            let result: HTTPParseResult
            do {
                result = try input.withUnsafeBytes { bytes in try parser.parse(bytes) }
            } catch {
                // Framing can no longer be trusted: answer and close (RFC 9112 §6.3, §11.2).
                let refusal = error as? HTTPParserError
                startRequestContext(method: "-", target: "-")
                respond(
                    HTTPResponse.error(status: refusal?.status ?? 400, message: refusal?.message ?? "invalid request"),
                    closeConnection: true)
                return
            }
            switch consume result {
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
                perform(machine.requestReceived(streamedBody: false, expectsContinue: false, now: worker.loop.now))
                updateHandlingInterest()
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
        perform(
            machine.requestReceived(
                streamedBody: true, expectsContinue: head.expectsContinue, minRate: streamRules?.minRate,
                now: worker.loop.now))
        handle(HTTPRequest(head: head), body: pipe)
        guard isAnswering, machine.requestBody != nil else { return }
        pumpRequestBody()
        updateInterestAfterPipeChange()
    }

    private func resumeBodyReading() {
        guard isHandling, machine.requestBody != nil else { return }
        pumpRequestBody()
        updateInterestAfterPipeChange()
    }

    /// A full pipe waits for the upstream: neither of the client's limits runs meanwhile (the machine decides).
    private func updateInterestAfterPipeChange() {
        guard isHandling else { return }
        updateHandlingInterest()
        if let pipe = requestBody, machine.requestBody != nil {
            perform(machine.bodyPipe(full: pipe.isFull, now: worker.loop.now))
        }
    }

    /// Reads a streamed body from the socket while its pipe has room.
    private func readBody() {
        guard let pipe = requestBody, machine.requestBody != nil else { return }
        let burst = readBurst(
            while: { !pipe.isFull },
            afterEach: {
                pumpRequestBody()
                return machine.requestBody != nil && isHandling
            })
        if burst.failed { return }
        guard isAnswering else { return }
        if burst.sawEOF {
            perform(machine.clientLeft(.closed))
            guard isHandling else { return }
        }
        if burst.readSomething { perform(machine.bodyBytesRead(now: worker.loop.now)) }
        updateInterestAfterPipeChange()
    }

    /// Moves parsed body bytes from `input` into the pipe, until the pipe is full or the input runs out.
    private func pumpRequestBody() {
        while let pipe = requestBody, machine.requestBody != nil, !pipe.isFull {
            let parsed = input.withUnsafeBytes { bytes -> Result<HTTPParseResult, HTTPParserError> in
                do throws(HTTPParserError) {
                    let result = try parser.parse(bytes)
                    if case .bodyPart(let range, _) = result {
                        pipe.append(UnsafeRawBufferPointer(rebasing: bytes[range]))
                        machine.bodyBytesMoved(range.count, now: worker.loop.now)
                    }
                    return .success(result)
                } catch {
                    return .failure(error)
                }
            }
            switch parsed {
            case .failure(let error):
                perform(machine.requestBodyFailed(.malformed(error)))
                return
            case .success(.needMoreData):
                return
            case .success(.bodyPart(_, let consumed)):
                input.removeFirst(consumed)
            case .success(.bodyEnd(let consumed)):
                input.removeFirst(consumed)
                requestBody = nil
                perform(machine.bodyEnded())
                pipe.finish()
            case .success(.complete), .success(.head):
                preconditionFailure("a new request inside a streamed body")
            }
        }
    }

    /// The record of a request refused before it could be dispatched (its head did not parse, was too large or
    /// did not arrive in time, or the parser refused its body): no route, no calls; `-` for what was not read.
    private func startRequestContext(method: String, target: String) {
        record = RequestRecord(refusedBeforeDispatch: method, target: target, worker: worker)
    }

    private func handle(_ request: HTTPRequest, body: BodyPipe? = nil) {
        currentHead = request.head
        responseOverlay = ResponseHeaderOverlay()
        if isAdmin {
            record = RequestRecord(admin: request.head, worker: worker)
            AdminEndpoint.handle(request, on: self, worker: worker)
            return
        }
        RequestDispatcher.dispatch(request, body: body, on: self, worker: worker)
    }

    /// Called by the dispatcher with the request's record, before anything answers the request: the connection
    /// holds it while the request is in hand and finishes it when the answer is queued or abandoned.
    func begin(_ record: consuming RequestRecord) {
        self.record = record
    }

    /// Called by the dispatcher with the fields the matched route lays over every answer to this request
    /// (`response_header`, `cors`).
    func noteResponseOverlay(_ overlay: ResponseHeaderOverlay) {
        responseOverlay = overlay
    }

    /// Whether the request in hand writes an access-log line or spans, which read its calls' span ids,
    /// versions, cache use and attempts: an exchange builds those only then (``RequestRecord/needsCallDetail(worker:)``).
    var recordsCallDetail: Bool { record?.needsCallDetail(worker: worker) ?? false }

    /// A request was received and is not answered yet (`fanout_requests_in_flight`).
    var hasRequestInFlight: Bool { record != nil }

    func attach(_ exchange: any Exchange) {
        self.exchange = exchange
    }

    /// The partner of an `Upgrade` request answered 101: its `Tunnel` takes the socket, the bytes the client
    /// sent after the request head, and the request's record (the tunnel writes the access-log line when it
    /// ends). The connection ends here without closing the socket; it never serves HTTP again.
    func handOverToTunnel() -> (fd: Int32, input: [UInt8], record: RequestRecord?)? {
        guard isHandling, machine.streamedAnswer == nil, machine.requestBody == nil, outputOffset >= output.count
        else {
            return nil
        }
        let handed = (fd: fd, input: input, record: record)
        _ = machine.closed()
        cancelTimers()
        exchange = nil
        record = nil
        input = []
        output = []
        worker.loop.deregister(fd: fd)
        worker.forget(self)
        return handed
    }

    // MARK: - Responses

    /// Answers the current request. `calls`: the request's upstream calls, as the access log shows them or only
    /// as the metrics count them (``CallReport``). `gzip`: the
    /// answer may be gzip-encoded for a client that accepts it (composite answers). `response` is consumed, so
    /// that the lines added here extend the caller's header array in place (a copy moved them to a new one).
    func respond(
        _ response: consuming HTTPResponse, closeConnection: Bool = false, calls: CallReport = .none,
        gzip: GzipSettings? = nil
    ) {
        guard isHandling || isAwaitingRequest, machine.streamedAnswer == nil else { return }
        exchange = nil
        let head = currentHead
        let http10 = head?.version == .http1_0
        let keepAlive = keepsAlive(unless: closeConnection)
        machine.answerQueued(keepAlive: keepAlive)
        if let gzip {
            Self.negotiateGzip(
                &response, settings: gzip, acceptEncoding: head?.headers.values(named: "accept-encoding") ?? [],
                worker: worker)
        }
        if !responseOverlay.isEmpty { responseOverlay.apply(to: &response.headers) }
        if let id = record?.requestID { response.headers.append(("X-Request-Id", id)) }
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
            draining: worker.draining)
    }

    // MARK: - Streamed responses

    /// Writes the head of an answer whose body follows in pieces (`sendBodyPart`, then `endStreamedResponse`).
    /// The body is framed by `declaredLength` when fanout may declare it (see ``PartnerFraming``), else chunked
    /// (HTTP/1.1) or by closing (HTTP/1.0); a HEAD answer writes no body byte. ``ResponseBodyFramer`` decides
    /// and enforces it. Called from inside libcurl's write callback: queues bytes only (written at the end of the
    /// loop's turn), never sends or closes.
    /// - Parameter lines: the partner's header lines, copied into the head as they are unless the route's
    ///   `response_headers` must change them.
    func startStreamedResponse(status: Int, passing lines: ProxiedHeaderLines, declaredLength: Int?) {
        guard isHandling, machine.streamedAnswer == nil else { return }
        let head = currentHead
        let http10 = head?.version == .http1_0
        let framer = ResponseBodyFramer(
            status: status, declaredLength: declaredLength, http10: http10, headOnly: head?.method == "HEAD",
            keepAlive: keepsAlive(unless: false))
        guard machine.streamedAnswerStarted(status: status, framer: framer, headStart: output.count) else { return }
        var response = HTTPResponse(status: status)
        var lines = lines
        if !responseOverlay.isEmpty {
            // The overlay sets and removes fields by name: the lines become fields for it.
            response.headers = lines.fields
            lines = ProxiedHeaderLines()
            responseOverlay.apply(to: &response.headers)
        }
        if let id = record?.requestID { response.headers.append(("X-Request-Id", id)) }
        let hadPendingOutput = hasPendingOutput
        response.serializeHead(
            into: &output, date: worker.httpDate(), keepAlive: framer.keepAlive, http10: http10,
            framing: framer.framing, passing: lines)
        flushAtTurnEnd(hadPendingOutput: hadPendingOutput)
    }

    /// Bytes of the answer that the client has not taken yet.
    var hasPendingOutput: Bool { outputOffset < output.count }

    /// Queues body bytes of the streamed answer; false when
    /// ``ClientConnectionStateMachine/outputHighWater`` bytes already wait for the client (the exchange pauses
    /// its upstream and hears `clientTookOutput` once they are sent). Called from inside libcurl's write
    /// callback: never sends or closes (the bytes are written at the end of the loop's turn).
    func sendBodyPart(_ bytes: UnsafeRawBufferPointer) -> Bool {
        switch machine.answerBytesOffered(waiting: output.count - outputOffset, now: worker.loop.now) {
        case .drop:
            return true  // going away
        case .refuse:
            return false
        case .queue(let step):
            if outputOffset >= ClientConnectionStateMachine.outputHighWater {
                // Keep the buffer bounded: drop what the client already took.
                output.removeFirst(outputOffset)
                outputOffset = 0
            }
            // send_timeout runs while output waits (`flush` re-arms it on progress).
            perform(step)
            let hadPendingOutput = hasPendingOutput
            machine.frameAnswerBytes(bytes, into: &output)
            flushAtTurnEnd(hadPendingOutput: hadPendingOutput)
            return true
        }
    }

    /// Bytes were queued from inside libcurl's write callback, where nothing is sent: they go out at the end of
    /// the loop's turn, after libcurl returned (in one write with the rest of the answer when the transfer
    /// completes in the same turn), and EPOLLOUT is asked for only if the socket then takes not all of them.
    /// Output that was already waiting is waiting for EPOLLOUT (or for this turn's end) already.
    private func flushAtTurnEnd(hadPendingOutput: Bool) {
        guard !hadPendingOutput, !flushAtTurnEnd else { return }
        flushAtTurnEnd = true
        worker.loop.atTurnEnd(self)
    }

    /// Writes the streamed answer bytes queued during the turn (``flushAtTurnEnd(hadPendingOutput:)``).
    func turnEnded() {
        flushAtTurnEnd = false
        guard isHandling, hasPendingOutput else { return }
        flush()
    }

    /// The partner's answer arrived whole and clean (libcurl reported it complete, no longer than declared): its
    /// framing is finished and the answer written now, before the transfer's completion runs the bookkeeping the
    /// client does not wait for (the upstream's admission, the handle's reuse, the request's record and log
    /// line). Only the write moves here: every state change stays with ``endStreamedResponse(calls:)``, which the
    /// completion calls next, and what the socket does not take (or an error) is left to that flush. Not from a
    /// libcurl callback.
    func streamedAnswerArrived() {
        guard isHandling, machine.streamedAnswerArrived(into: &output), outputOffset < output.count else { return }
        _ = try? sendPendingOutput()
    }

    /// The streamed answer is complete: finishes its framing and writes what is left. A body that did not match
    /// its declared length (short, or longer: the excess was dropped) ends the connection once written, so the
    /// client never reads a byte outside the framing and never reuses a connection it cannot trust. Not from a
    /// libcurl callback.
    func endStreamedResponse(calls: CallReport) {
        guard let status = machine.streamedAnswerEnded(into: &output) else { return }
        exchange = nil
        log(status: status, calls: calls)
        currentHead = nil
        flush()
    }

    /// Failing partners: the upstream failed before any byte of the streamed head reached the socket (typically
    /// in the same read that brought the head: a short body, or one longer than its Content-Length). Forgets
    /// the head and the body bytes queued after it, so the exchange can answer 502/504 instead of closing a
    /// connection on which the client received nothing. Not from a libcurl callback.
    /// - Returns: false when part of the head was already sent: then only `abortStreamedResponse` is left.
    func retractUnsentStreamedHead() -> Bool {
        guard let start = machine.retractStreamedHead() else { return false }
        output.removeSubrange(start...)
        return true
    }

    /// The upstream failed after the head went out: the client can only learn it from the connection closing
    /// before the body's framing says it ended. Not from a libcurl callback.
    func abortStreamedResponse(calls: CallReport) {
        guard isHandling, let status = machine.streamedAnswer?.status else { return }
        exchange = nil
        log(status: status, calls: calls)
        close()
    }

    /// The request in hand ends without its whole answer: the exchange gives its calls up (the unfinished ones
    /// shown cancelled) and the request is logged once, with `status`. The caller closes the connection.
    /// Used when the client went away (499), and when this side cut a streamed answer short (its request body
    /// failed, or the client took nothing for `send_timeout`: the streamed head's status).
    private func abandonExchange(loggingStatus status: Int, clientAbort: ClientDeparture? = nil) {
        let calls = exchange?.abandon() ?? []
        exchange = nil
        log(status: status, calls: .entries(calls), clientAbort: clientAbort)
    }

    /// The request in hand is over: its record is finished (access-log line, metrics, spans) with `status` and
    /// the calls as its exchange reports them. `clientAbort`: the client went away first (`status` is 499).
    private func log(status: Int, calls: CallReport, clientAbort: ClientDeparture? = nil) {
        // A later answer on this connection (a refusal before dispatch) gets no overlay.
        if !responseOverlay.isEmpty { responseOverlay = ResponseHeaderOverlay() }
        // Moved out, not copied: a copy retained each of the record's Strings and references, and clearing the
        // stored one released them again.
        guard let record = record.take() else { return }
        if isAdmin { return }
        record.finish(status: status, calls: calls, clientAbort: clientAbort, worker: worker)
    }

    private func sendInterim(_ bytes: [UInt8]) {
        // A 100 Continue is tiny and goes out on an idle socket; if even that cannot be sent now, the client
        // simply sends its body after its own timeout (RFC 9110 §10.1.1), so nothing is queued.
        _ = try? bytes.withUnsafeBytes { (b) throws(SystemError) -> IOResult<Int> in try Socket.send(fd, b) }
    }

    /// One `send` of the output the client has not taken yet; what the socket took is counted as sent.
    private func sendPendingOutput() throws -> IOResult<Int> {
        let result = try output.withUnsafeBytes { (bytes) throws(SystemError) -> IOResult<Int> in
            try Socket.send(fd, UnsafeRawBufferPointer(rebasing: bytes[outputOffset...]))
        }
        if case .processed(let n) = result, n > 0 {
            outputOffset += n
            machine.outputSent()  // failing partners: the head may be on its way
        }
        return result
    }

    private func flush() {
        var progressed = false
        while outputOffset < output.count {
            let result: IOResult<Int>
            do {
                result = try sendPendingOutput()
            } catch {
                clientLeft(.reset)
                return
            }
            switch result {
            case .processed(let n):
                progressed = progressed || n > 0
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
        // A streamed answer caught up with the client: stop asking for writes (before an exchange that paused
        // for it resumes and queues more).
        if isHandling { updateHandlingInterest() }
        perform(machine.outputFlushed(inputBuffered: !input.isEmpty, draining: worker.draining, now: worker.loop.now))
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
        cancelTimers()
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

    /// Cancels both timers (the machine forgot them as it closed).
    private func cancelTimers() {
        if let timer { worker.loop.cancel(timer) }
        timer = nil
        if let bodyTimer { worker.loop.cancel(bodyTimer) }
        bodyTimer = nil
    }

    private func bodyTimerFired() {
        bodyTimer = nil
        perform(machine.bodyTimerFired(now: worker.loop.now))
    }

    /// The client's side of `fanout_min_rate_cuts_total`, when `failure` is a `min_rate` cut.
    private func countIfMinRateCut(_ failure: RequestBodyFailure) {
        if case .slowerThanMinRate = failure { countMinRateCut(side: "client") }
    }

    /// A streamed body of this connection's current request was cut for moving slower than its route's
    /// `min_rate`; `side` is `client` or `upstream` (`fanout_min_rate_cuts_total`).
    func countMinRateCut(side: String) {
        record?.countMinRateCut(side: side, worker: worker)
    }

    /// `timer` fired: one timer runs at a time, so it is the one of `timerKind`.
    private func timerFired() {
        timer = nil
        perform(machine.timerFired(timerKind, inputBuffered: !input.isEmpty))
    }
}

/// One upstream call as the access log shows it.
typealias AccessLogCall = AccessLogLine.Call
