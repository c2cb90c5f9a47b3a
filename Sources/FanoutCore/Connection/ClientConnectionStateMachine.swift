/// The decisions of one HTTP/1.1 client connection, without any I/O: the runtime (`ClientConnection`) reports
/// what happened on the socket, in the parser and in the exchange, and carries out the returned ``Step``.
///
/// Requests are answered strictly in order: `awaitingRequest` (idle, or part of the next request buffered) →
/// `handling` (a request is in hand: its calls run, its body streams, a streamed answer arrives) → `writing` (the
/// whole answer is queued) → `awaitingRequest` again, or `lingering` (our side shut, input discarded for a
/// moment so the client reads the answer instead of a reset) → `closed`.
///
/// One timer runs at a time, and which one is decided here: `client` from a connection's start or the first
/// byte of a request until it is complete (408, or a quiet close when nothing arrived), `keepalive` between two
/// requests, `send` while the client takes no byte of an answer, `linger` while lingering. Beside it, while a
/// request body streams to its exchange, a body timer holds the client to `client_timeout` between reads and
/// to the route's `min_rate` (``StreamedRequestBody``). Time is an injected monotonic clock in nanoseconds; a
/// step's deadline is absolute on that clock.
///
/// `handling` carries the request's streamed parts: ``requestBody`` while its body arrives, ``streamedAnswer``
/// from a streamed answer's head to its end (its framer, the head held back for retraction until a byte of it
/// is sent, and the exchange paused while ``outputHighWater`` bytes wait for the client).
///
/// A reload replaces the ``limits`` of open connections: they apply from the next timer armed, the next
/// keep-alive decision and the next departure.
public struct ClientConnectionStateMachine: Sendable {
    /// The limits of one connection.
    public struct Limits: Sendable, Equatable {
        /// `client_timeout`.
        public var clientTimeoutMs: Int
        /// `keepalive_timeout`.
        public var keepaliveTimeoutMs: Int
        /// `send_timeout`.
        public var sendTimeoutMs: Int
        /// How long a connection lingers after shutting its side.
        public var lingerMs: Int
        /// `keepalive_requests`: answers on one connection.
        public var keepaliveRequests: Int
        /// `abort_on_close`.
        public var abortOnClose: Bool

        public init(
            clientTimeoutMs: Int, keepaliveTimeoutMs: Int, sendTimeoutMs: Int, lingerMs: Int = 2_000,
            keepaliveRequests: Int, abortOnClose: Bool
        ) {
            self.clientTimeoutMs = clientTimeoutMs
            self.keepaliveTimeoutMs = keepaliveTimeoutMs
            self.sendTimeoutMs = sendTimeoutMs
            self.lingerMs = lingerMs
            self.keepaliveRequests = keepaliveRequests
            self.abortOnClose = abortOnClose
        }

        public init(_ config: FanoutConfig) {
            self.init(
                clientTimeoutMs: config.timeouts.clientMs, keepaliveTimeoutMs: config.timeouts.keepaliveMs,
                sendTimeoutMs: config.timeouts.sendMs, keepaliveRequests: config.limits.keepaliveRequests,
                abortOnClose: config.abortOnClose)
        }
    }

    /// The connection's one timer.
    public enum Timer: Sendable, Equatable {
        /// `client_timeout`: a request is being received (or the first one is awaited).
        case client
        /// `keepalive_timeout`: idle between two requests.
        case keepalive
        /// `send_timeout`: output waits and the client takes none of it.
        case send
        /// Lingering after our side was shut.
        case linger
    }

    public enum State: Sendable, Equatable {
        /// Between two requests: idle, or part of the next request buffered. `continueSent`: the head in hand
        /// was answered `100 Continue`.
        case awaitingRequest(continueSent: Bool)
        /// A request is in hand and its answer is not complete. `closeAfter`: the answer ends the connection
        /// (a streamed head framed for closing, a 408 for a request not received in time).
        case handling(closeAfter: Bool)
        /// The whole answer is queued; writing it is left. `closeAfter`: the connection ends with it.
        case writing(closeAfter: Bool)
        /// Our side is shut; input is discarded until the client's FIN or the `linger` timer.
        case lingering
        case closed
    }

    /// What happens to the timer.
    public enum TimerChange: Sendable, Equatable {
        case unchanged
        /// Replace the running timer (if any) by `timer`, firing at `deadline`.
        case arm(Timer, deadline: UInt64)
        case cancel
    }

    /// What the runtime does next.
    public enum Action: Sendable, Equatable {
        case none
        /// Send `HTTP/1.1 100 Continue` (the client waits for it before sending the body).
        case sendContinue
        /// A request (complete, or the head of a streamed body) is in hand: hand it to its route, watching only
        /// for the client going away. `sendContinue`: answer `100 Continue` first.
        case handleRequest(sendContinue: Bool)
        /// The request in hand was not received within `client_timeout`: answer 408 and close.
        case answerRequestTimeout
        /// The client left with the request unanswered: cancel its work, log it 499, close.
        case abortRequest(ClientDeparture)
        /// The client half-closed: go on with the answer, no longer reading.
        case stopReading
        /// The streamed request body broke off before any answer began: cancel the exchange, fail the body's
        /// pipe, answer the failure's status and close.
        case failRequestBody(RequestBodyFailure)
        /// The streamed request body broke off after the answer began: the exchange gives its calls up and the
        /// request is logged with `loggingStatus` (the streamed head's), or, when the answer was already queued
        /// and logged (nil), nothing more is logged; close.
        case cutRequestBody(RequestBodyFailure, loggingStatus: Int?)
        /// The exchange paused its upstream for a full output buffer, and the client took it all: resume.
        case resumeExchange
        /// The answer is written and the connection stays: read (and parse what is buffered of) the next request.
        case readNextRequest
        /// The answer ends the connection: shut our side (`SHUT_WR`) and discard input while lingering.
        case shutdownWriteAndLinger
        /// A streamed answer is cut short (`send_timeout`): the exchange gives its calls up, it is logged, close.
        case abandonAnswerAndClose
        case close
    }

    /// One decision: the timers' changes and the action, in that order.
    public struct Step: Sendable, Equatable {
        public var timer: TimerChange
        /// The streamed request body's timer (``StreamedRequestBody``); its kind is always `client`.
        public var bodyTimer: TimerChange
        public var action: Action

        public init(timer: TimerChange = .unchanged, bodyTimer: TimerChange = .unchanged, _ action: Action = .none) {
            self.timer = timer
            self.bodyTimer = bodyTimer
            self.action = action
        }

        static let nothing = Step()
    }

    public private(set) var state = State.awaitingRequest(continueSent: false)
    /// The timer the runtime runs, if any.
    public private(set) var armedTimer: Timer?
    /// The client sent its FIN: nothing more is read; the answer in hand may still be written.
    public private(set) var peerHalfClosed = false
    /// Answers completely written on this connection.
    public private(set) var requestsServed = 0
    /// The request body streamed to the exchange, while it arrives (only while `handling`).
    public private(set) var requestBody: StreamedRequestBody?
    /// The streamed answer, from its head to its end (only while `handling`).
    public private(set) var streamedAnswer: StreamedAnswer?
    /// Buffered input is being parsed: a request answered at once must not start parsing it again, and what a
    /// half-closed client's connection comes to is decided once the parsing loop ends.
    public private(set) var parsing = false
    /// The body timer runs.
    public private(set) var bodyTimerArmed = false
    public var limits: Limits

    /// A streamed answer is refused more bytes while this much waits for the client.
    public static let outputHighWater = 256 * 1024

    public init(limits: Limits) {
        self.limits = limits
    }

    // MARK: - Reading requests

    /// The connection is accepted: the client gets `client_timeout` to send its first request (slowloris).
    public mutating func opened(now: UInt64) -> Step {
        Step(timer: arm(.client, now: now))
    }

    /// Bytes of a request are buffered but it is not complete. `expectsContinue`: its head is in hand and asks
    /// for `100 Continue`.
    public mutating func requestIncomplete(expectsContinue: Bool, now: UInt64) -> Step {
        guard case .awaitingRequest(let continueSent) = state else { return .nothing }
        // The first byte of a request ends the keep-alive wait: the request has `client_timeout` from here.
        let timer = armedTimer == .client ? TimerChange.unchanged : arm(.client, now: now)
        if expectsContinue && !continueSent {
            state = .awaitingRequest(continueSent: true)
            return Step(timer: timer, .sendContinue)
        }
        return Step(timer: timer)
    }

    /// A request's head is in hand and its body is collected whole; `bodyAwaited`: none of it is buffered yet,
    /// so a client waiting for `100 Continue` gets it now.
    public mutating func collectingBody(expectsContinue: Bool, bodyAwaited: Bool) -> Step {
        guard case .awaitingRequest(false) = state, expectsContinue && bodyAwaited else { return .nothing }
        state = .awaitingRequest(continueSent: true)
        return Step(.sendContinue)
    }

    /// A complete request (`streamedBody` false), or the head of one whose body streams to its exchange: its
    /// body timer starts (`client_timeout` between reads, and `minRate` when the route has one).
    public mutating func requestReceived(
        streamedBody: Bool, expectsContinue: Bool, minRate: MinimumRate? = nil, now: UInt64
    ) -> Step {
        guard case .awaitingRequest(let continueSent) = state else { return .nothing }
        state = .handling(closeAfter: false)
        var step = Step(
            timer: cancelTimer(), .handleRequest(sendContinue: streamedBody && expectsContinue && !continueSent))
        if streamedBody {
            requestBody = StreamedRequestBody(clientTimeoutMs: limits.clientTimeoutMs, minRate: minRate, now: now)
            step.bodyTimer = armBodyTimer()
        }
        return step
    }

    /// The parsing loop over buffered input starts. False when it already runs (a request answered at once
    /// flushed its answer from inside it): the running loop goes on with what is buffered.
    public mutating func parsingStarted() -> Bool {
        if parsing { return false }
        parsing = true
        return true
    }

    /// The parsing loop ended: buffered input was parsed as far as it goes (see ``inputProcessed()``).
    public mutating func parsingEnded() -> Step {
        parsing = false
        return inputProcessed()
    }

    /// The route took the request just received. A client whose FIN came with it (or behind a pipeline) left
    /// while it is pending: the same decision as a FIN while the answer is pending.
    public mutating func requestDispatched() -> Step {
        guard case .handling = state, peerHalfClosed else { return .nothing }
        return clientLeft(.closed)
    }

    /// A read returned 0: the client sends nothing more. What that means is decided once what it sent before
    /// is processed (`inputProcessed`).
    public mutating func readEnded() {
        peerHalfClosed = true
    }

    /// Buffered input was parsed as far as it goes. Waiting for a request from a client that sends nothing
    /// more: nothing is left to answer. Not decided while a parsing loop runs: it may still have requests.
    public mutating func inputProcessed() -> Step {
        guard !parsing, case .awaitingRequest = state, peerHalfClosed else { return .nothing }
        return Step(timer: cancelTimer(), .close)
    }

    // MARK: - The client leaving

    /// The client's side ended (`departure`).
    public mutating func clientLeft(_ departure: ClientDeparture) -> Step {
        let answer: ClientDeparture.Answer
        switch state {
        case .handling: answer = .pending
        case .writing: answer = .queued
        case .awaitingRequest, .lingering, .closed:
            // No request in hand: nothing to cancel or log.
            return Step(timer: cancelTimer(), .close)
        }
        if departure == .closed && requestBody != nil && !limits.abortOnClose {
            // A half-close before the body ended: the request cannot be completed, the client hears why.
            peerHalfClosed = true
            return requestBodyFailed(.clientClosed)
        }
        switch departure.verdict(answer: answer, abortOnClose: limits.abortOnClose) {
        case .abort:
            return Step(timer: cancelTimer(), .abortRequest(departure))
        case .close:
            return Step(timer: cancelTimer(), .close)
        case .keepAnswering:
            peerHalfClosed = true
            return Step(.stopReading)
        }
    }

    // MARK: - Answers

    /// Whether the connection stays open after the answer to the request in hand. `requested`: the request
    /// and its route allow it. Not while its streamed body is still arriving (it cannot be skipped safely).
    public func keepsAlive(requested: Bool, draining: Bool) -> Bool {
        requested && requestBody == nil && !draining && requestsServed + 1 < limits.keepaliveRequests
    }

    // MARK: - Streamed request bodies

    /// A read brought bytes of the streamed body: its idle limit starts again.
    public mutating func bodyBytesRead(now: UInt64) -> Step {
        guard requestBody != nil else { return .nothing }
        requestBody?.bytesRead(now: now)
        return requestBody?.paused == true ? .nothing : Step(bodyTimer: armBodyTimer())
    }

    /// `count` bytes of the streamed body went into its pipe (they count for `min_rate`).
    public mutating func bodyBytesMoved(_ count: Int, now: UInt64) {
        requestBody?.bytesMoved(count, now: now)
    }

    /// The body's pipe is full (`full`), or has room again: the client's limits pause while the upstream is
    /// the slow side, and start again (the idle limit afresh) when it has room.
    public mutating func bodyPipe(full: Bool, now: UInt64) -> Step {
        guard requestBody?.setPaused(full, now: now) == true else { return .nothing }
        return Step(bodyTimer: full ? cancelBodyTimer() : armBodyTimer())
    }

    /// The streamed body ended: its timer stops.
    public mutating func bodyEnded() -> Step {
        requestBody = nil
        return Step(bodyTimer: cancelBodyTimer())
    }

    /// The body timer fired at `now`: the body is cut when it was idle for `client_timeout` or is slower than
    /// its `min_rate`; else (bytes since moved the deadline on) the timer is armed again.
    public mutating func bodyTimerFired(now: UInt64) -> Step {
        bodyTimerArmed = false
        guard let body = requestBody else { return .nothing }
        if let failure = body.expiry(at: now) { return requestBodyFailed(failure) }
        return Step(bodyTimer: armBodyTimer())
    }

    /// The streamed body broke off (`failure`). Before any answer, the client hears the failure's status; a
    /// streamed answer already begun can only be cut by closing (logged with its head's status); an answer
    /// already queued was logged then.
    public mutating func requestBodyFailed(_ failure: RequestBodyFailure) -> Step {
        guard requestBody != nil else { return .nothing }
        requestBody = nil
        let bodyTimer = cancelBodyTimer()
        switch state {
        case .handling:
            if let answer = streamedAnswer {
                return Step(
                    timer: cancelTimer(), bodyTimer: bodyTimer, .cutRequestBody(failure, loggingStatus: answer.status))
            }
            return Step(bodyTimer: bodyTimer, .failRequestBody(failure))
        case .writing:
            return Step(timer: cancelTimer(), bodyTimer: bodyTimer, .cutRequestBody(failure, loggingStatus: nil))
        case .awaitingRequest, .lingering, .closed:
            return Step(bodyTimer: bodyTimer)
        }
    }

    /// The whole answer is queued (a refusal may come before any request is in hand).
    public mutating func answerQueued(keepAlive: Bool) {
        switch state {
        case .awaitingRequest, .handling: state = .writing(closeAfter: !keepAlive)
        case .writing, .lingering, .closed: return
        }
    }

    /// The head of a streamed answer with `status` was queued at `headStart` in the output; its body follows,
    /// through `framer`. False when no streamed answer can start (none is pending, or one already did).
    public mutating func streamedAnswerStarted(status: Int, framer: ResponseBodyFramer, headStart: Int) -> Bool {
        guard case .handling = state, streamedAnswer == nil else { return false }
        state = .handling(closeAfter: !framer.keepAlive)
        streamedAnswer = StreamedAnswer(status: status, framer: framer, headStart: headStart)
        return true
    }

    /// What becomes of body bytes offered for the streamed answer.
    public enum AnswerBytes: Sendable, Equatable {
        /// No streamed answer is being written (the connection is going away): drop them.
        case drop
        /// ``outputHighWater`` bytes wait for the client: refused; the exchange pauses its upstream and is
        /// resumed (``Action/resumeExchange``) once the client took them.
        case refuse
        /// Frame and queue them, after the step (`send_timeout` starts when they are the first to wait).
        case queue(Step)
    }

    /// Body bytes of the streamed answer are offered while `waiting` bytes wait for the client. `send_timeout`
    /// runs while output waits: a socket that fills up between two writes may never report writable again, so
    /// no blocked write would start it.
    public mutating func answerBytesOffered(waiting: Int, now: UInt64) -> AnswerBytes {
        guard case .handling = state, streamedAnswer != nil else { return .drop }
        if waiting >= Self.outputHighWater {
            streamedAnswer?.exchangeWaits = true
            return .refuse
        }
        guard waiting == 0, armedTimer != .send else { return .queue(.nothing) }
        return .queue(Step(timer: arm(.send, now: now)))
    }

    /// Frames body bytes of the streamed answer into `out` (after ``answerBytesOffered(waiting:now:)`` said so).
    public mutating func frameAnswerBytes(_ bytes: UnsafeRawBufferPointer, into out: inout [UInt8]) {
        streamedAnswer?.framer.append(bytes, to: &out)
    }

    /// The partner's answer arrived whole (libcurl reported it complete, and no longer than it declared): finishes
    /// the streamed answer's framing into `out` ahead of ``streamedAnswerEnded(into:)``, which still ends it (and
    /// then appends nothing more). True when the body matched its framing: the whole answer may be written now.
    public mutating func streamedAnswerArrived(into out: inout [UInt8]) -> Bool {
        guard case .handling = state else { return false }
        return streamedAnswer?.framer.finish(into: &out) == .complete
    }

    /// The streamed answer is complete: finishes its framing into `out` and returns its status (nil when none
    /// was being written). A body that did not match its framing ends the connection once written, so the
    /// client never reuses a connection it cannot trust.
    public mutating func streamedAnswerEnded(into out: inout [UInt8]) -> Int? {
        // Finished in place: the answer is not copied out of the state.
        guard case .handling(let closeAfter) = state, let status = streamedAnswer?.status,
            let ending = streamedAnswer?.framer.finish(into: &out)
        else { return nil }
        streamedAnswer = nil
        state = .writing(closeAfter: closeAfter || ending != .complete)
        return status
    }

    /// Failing partners: the upstream failed before any byte of the streamed head reached the socket. Returns
    /// where the head starts in the output (the caller removes it and everything after it) and forgets the
    /// answer, so the exchange can still answer with an error; nil when part of the head was already sent.
    public mutating func retractStreamedHead() -> Int? {
        guard case .handling = state, let start = streamedAnswer?.unsentHeadStart else { return nil }
        streamedAnswer = nil
        return start
    }

    /// Bytes of the output reached the socket: a streamed head on its way can no longer be retracted.
    public mutating func outputSent() {
        if streamedAnswer?.unsentHeadStart != nil { streamedAnswer?.bytesSent() }
    }

    /// The socket took no more output. `progressed`: some was sent first. `send_timeout` is the longest the
    /// client may take no byte at all: re-armed on progress.
    public mutating func outputBlocked(progressed: Bool, now: UInt64) -> Step {
        guard armedTimer != .send || progressed else { return .nothing }
        return Step(timer: arm(.send, now: now))
    }

    /// Every queued byte was sent. `inputBuffered`: bytes of a next request wait; `draining`: the server
    /// drains, so the connection ends with this answer (even one framed for keep-alive before the drain began).
    public mutating func outputFlushed(inputBuffered: Bool, draining: Bool, now: UInt64) -> Step {
        switch state {
        case .handling:
            // A streamed answer caught up with the client; an exchange that paused for it goes on.
            let timer = armedTimer == .send ? cancelTimer() : .unchanged
            guard streamedAnswer?.exchangeWaits == true else { return Step(timer: timer) }
            streamedAnswer?.exchangeWaits = false
            return Step(timer: timer, .resumeExchange)
        case .writing(let closeAfter):
            requestsServed += 1
            if closeAfter || draining {
                if peerHalfClosed { return Step(timer: cancelTimer(), .close) }
                state = .lingering
                return Step(timer: arm(.linger, now: now), .shutdownWriteAndLinger)
            }
            state = .awaitingRequest(continueSent: false)
            if inputBuffered { return Step(timer: cancelTimer(), .readNextRequest) }
            if peerHalfClosed { return Step(timer: cancelTimer(), .close) }
            return Step(timer: arm(.keepalive, now: now), .readNextRequest)
        case .awaitingRequest, .lingering, .closed:
            return .nothing
        }
    }

    // MARK: - Timers, drain, end

    /// `timer` fired. `inputBuffered`: part of a request was received.
    public mutating func timerFired(_ timer: Timer, inputBuffered: Bool) -> Step {
        armedTimer = nil
        switch timer {
        case .send:
            // While handling, only a streamed answer waits for the client: it ends here.
            if case .handling = state { return Step(.abandonAnswerAndClose) }
            return Step(.close)
        case .keepalive, .linger:
            return Step(.close)
        case .client:
            guard case .awaitingRequest = state else { return .nothing }
            // Nothing of a request arrived: close quietly, as nginx does.
            guard inputBuffered else { return Step(.close) }
            state = .handling(closeAfter: true)
            return Step(.answerRequestTimeout)
        }
    }

    /// The server drains: a connection between two requests, with nothing of the next one buffered, closes
    /// now; the others end with their answer (`outputFlushed`).
    public func drain(inputBuffered: Bool) -> Step {
        guard case .awaitingRequest = state, !inputBuffered else { return .nothing }
        return Step(.close)
    }

    /// The connection is closed (or its socket handed to a tunnel). Returns false when it already was.
    public mutating func closed() -> Bool {
        if state == .closed { return false }
        state = .closed
        armedTimer = nil
        bodyTimerArmed = false
        requestBody = nil
        streamedAnswer = nil
        return true
    }

    private mutating func arm(_ timer: Timer, now: UInt64) -> TimerChange {
        armedTimer = timer
        let ms: Int
        switch timer {
        case .client: ms = limits.clientTimeoutMs
        case .keepalive: ms = limits.keepaliveTimeoutMs
        case .send: ms = limits.sendTimeoutMs
        case .linger: ms = limits.lingerMs
        }
        return .arm(timer, deadline: now &+ UInt64(max(0, ms)) &* 1_000_000)
    }

    private mutating func cancelTimer() -> TimerChange {
        guard armedTimer != nil else { return .unchanged }
        armedTimer = nil
        return .cancel
    }

    /// Arms the body timer at the streamed body's deadline (it has one: it is not paused).
    private mutating func armBodyTimer() -> TimerChange {
        guard let deadline = requestBody?.deadline else { return cancelBodyTimer() }
        bodyTimerArmed = true
        return .arm(.client, deadline: deadline)
    }

    private mutating func cancelBodyTimer() -> TimerChange {
        guard bodyTimerArmed else { return .unchanged }
        bodyTimerArmed = false
        return .cancel
    }
}
