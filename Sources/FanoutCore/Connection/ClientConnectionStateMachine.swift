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
/// requests, `send` while the client takes no byte of an answer, `linger` while lingering. Time is an injected
/// monotonic clock in nanoseconds; a step's deadline is absolute on that clock.
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
        /// The client half-closed in the middle of a streamed body: the request cannot be completed (400).
        case failRequestBody
        /// The answer is written and the connection stays: read (and parse what is buffered of) the next request.
        case readNextRequest
        /// The answer ends the connection: shut our side (`SHUT_WR`) and discard input while lingering.
        case shutdownWriteAndLinger
        /// A streamed answer is cut short (`send_timeout`): the exchange gives its calls up, it is logged, close.
        case abandonAnswerAndClose
        case close
    }

    /// One decision: the timer's change and the action, in that order.
    public struct Step: Sendable, Equatable {
        public var timer: TimerChange
        public var action: Action

        public init(timer: TimerChange = .unchanged, _ action: Action = .none) {
            self.timer = timer
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
    public var limits: Limits

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

    /// A complete request (`streamedBody` false), or the head of one whose body streams to its exchange.
    public mutating func requestReceived(streamedBody: Bool, expectsContinue: Bool) -> Step {
        guard case .awaitingRequest(let continueSent) = state else { return .nothing }
        state = .handling(closeAfter: false)
        return Step(
            timer: cancelTimer(), .handleRequest(sendContinue: streamedBody && expectsContinue && !continueSent))
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
    /// more: nothing is left to answer.
    public mutating func inputProcessed() -> Step {
        guard case .awaitingRequest = state, peerHalfClosed else { return .nothing }
        return Step(timer: cancelTimer(), .close)
    }

    // MARK: - The client leaving

    /// The client's side ended (`departure`). `bodyUnfinished`: a streamed request body had not ended.
    public mutating func clientLeft(_ departure: ClientDeparture, bodyUnfinished: Bool = false) -> Step {
        let answer: ClientDeparture.Answer
        switch state {
        case .handling: answer = .pending
        case .writing: answer = .queued
        case .awaitingRequest, .lingering, .closed:
            // No request in hand: nothing to cancel or log.
            return Step(timer: cancelTimer(), .close)
        }
        if departure == .closed && bodyUnfinished && !limits.abortOnClose {
            // A half-close before the body ended: the request cannot be completed, the client hears why.
            peerHalfClosed = true
            return Step(.failRequestBody)
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
    /// and its route allow it; `bodyUnfinished`: its body is still arriving (it cannot be skipped safely).
    public func keepsAlive(requested: Bool, bodyUnfinished: Bool, draining: Bool) -> Bool {
        requested && !bodyUnfinished && !draining && requestsServed + 1 < limits.keepaliveRequests
    }

    /// The whole answer is queued (a refusal may come before any request is in hand).
    public mutating func answerQueued(keepAlive: Bool) {
        switch state {
        case .awaitingRequest, .handling: state = .writing(closeAfter: !keepAlive)
        case .writing, .lingering, .closed: return
        }
    }

    /// The head of a streamed answer is queued; its body follows.
    public mutating func streamedAnswerStarted(keepAlive: Bool) {
        guard case .handling = state else { return }
        state = .handling(closeAfter: !keepAlive)
    }

    /// Body bytes of a streamed answer are queued. `wasCaughtUp`: nothing waited for the client before them.
    /// `send_timeout` runs while output waits: a socket that fills up between two writes may never report
    /// writable again, so no blocked write would start it.
    public mutating func streamedOutputQueued(wasCaughtUp: Bool, now: UInt64) -> Step {
        guard case .handling = state, wasCaughtUp, armedTimer != .send else { return .nothing }
        return Step(timer: arm(.send, now: now))
    }

    /// The streamed answer is complete. `framingComplete`: its body matched its framing; one that did not ends
    /// the connection once written, so the client never reuses a connection it cannot trust.
    public mutating func streamedAnswerEnded(framingComplete: Bool) {
        guard case .handling(let closeAfter) = state else { return }
        state = .writing(closeAfter: closeAfter || !framingComplete)
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
            // A streamed answer caught up with the client.
            return armedTimer == .send ? Step(timer: cancelTimer()) : .nothing
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
}
