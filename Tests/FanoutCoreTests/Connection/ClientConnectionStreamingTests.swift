import Testing

@testable import FanoutCore

/// The streamed parts of a client connection's `handling` state, driven with events and an injected clock
/// (nanoseconds): a request body streamed to its exchange, a streamed answer, and what follows them.
@Suite struct ClientConnectionStreamingTests {
    typealias Machine = ClientConnectionStateMachine
    typealias Step = ClientConnectionStateMachine.Step
    static let ms: UInt64 = 1_000_000

    private func check(_ condition: Bool, sourceLocation: Testing.SourceLocation = #_sourceLocation) {
        #expect(condition, sourceLocation: sourceLocation)
    }

    /// `client_timeout` 10 ms, `send_timeout` 30 ms.
    private static func limits(abortOnClose: Bool = true) -> Machine.Limits {
        Machine.Limits(
            clientTimeoutMs: 10, keepaliveTimeoutMs: 75, sendTimeoutMs: 30, lingerMs: 2, keepaliveRequests: 100,
            abortOnClose: abortOnClose)
    }

    /// A connection whose request head is in hand at `now`, its body streaming under `minRate`.
    private func uploading(minRate: MinimumRate? = nil, abortOnClose: Bool = true, now: UInt64 = 0) -> Machine {
        var machine = Machine(limits: Self.limits(abortOnClose: abortOnClose))
        _ = machine.opened(now: 0)
        _ = machine.requestReceived(streamedBody: true, expectsContinue: false, minRate: minRate, now: now)
        return machine
    }

    /// A connection with a complete request in hand whose streamed answer began (chunked unless it declares a
    /// length, keep-alive), its head queued at `headStart`.
    private func answering(headStart: Int = 0, declaredLength: Int? = nil) -> Machine {
        var machine = Machine(limits: Self.limits())
        _ = machine.opened(now: 0)
        _ = machine.requestReceived(streamedBody: false, expectsContinue: false, now: 0)
        let framer = ResponseBodyFramer(
            status: 200, declaredLength: declaredLength, http10: false, headOnly: false, keepAlive: true)
        _ = machine.streamedAnswerStarted(status: 200, framer: framer, headStart: headStart)
        return machine
    }

    // MARK: - Streamed request bodies

    @Test func aStreamedBodyStartsItsTimerWithItsHead() {
        var machine = Machine(limits: Self.limits())
        _ = machine.opened(now: 0)
        check(
            machine.requestReceived(streamedBody: true, expectsContinue: false, now: 4 * Self.ms)
                == Step(
                    timer: .cancel, bodyTimer: .arm(.client, deadline: 14 * Self.ms),
                    .handleRequest(sendContinue: false)))
        #expect(machine.requestBody != nil)
        #expect(machine.bodyTimerArmed)
    }

    @Test func eachReadRestartsTheIdleLimit() {
        var machine = uploading()
        check(machine.bodyBytesRead(now: 8 * Self.ms) == Step(bodyTimer: .arm(.client, deadline: 18 * Self.ms)))
        // The first deadline passed before a read moved it: the timer is armed again, nothing is cut.
        check(machine.bodyTimerFired(now: 12 * Self.ms) == Step(bodyTimer: .arm(.client, deadline: 18 * Self.ms)))
    }

    @Test func anIdleBodyIsCutWith408BeforeAnyAnswer() {
        var machine = uploading()
        check(machine.bodyTimerFired(now: 10 * Self.ms) == Step(.failRequestBody(.notReceivedInTime)))
        #expect(machine.requestBody == nil)
        #expect(RequestBodyFailure.notReceivedInTime.status == 408)
        // The error answer closes the connection.
        #expect(!machine.keepsAlive(requested: false, draining: false))
    }

    @Test func aBodySlowerThanMinRateIsCut() {
        // 1000 bytes/s with 5 ms of grace; the idle limit (10 ms) is kept by a byte every 4 ms.
        let rate = MinimumRate(bytesPerSecond: 1_000, graceMs: 5)
        var machine = uploading(minRate: rate)
        check(machine.requestBody?.deadline == 5 * Self.ms)
        machine.bodyBytesMoved(1, now: 4 * Self.ms)  // earns 1 ms
        check(machine.bodyBytesRead(now: 4 * Self.ms) == Step(bodyTimer: .arm(.client, deadline: 6 * Self.ms)))
        check(machine.bodyTimerFired(now: 6 * Self.ms) == Step(.failRequestBody(.slowerThanMinRate(rate))))
        #expect(
            RequestBodyFailure.slowerThanMinRate(rate).message
                == "the request body arrived slower than min_rate 1000/s 5ms")
    }

    @Test func aFullPipePausesTheClientsLimits() {
        let rate = MinimumRate(bytesPerSecond: 1_000, graceMs: 5)
        var machine = uploading(minRate: rate)
        check(machine.bodyPipe(full: true, now: 2 * Self.ms) == Step(bodyTimer: .cancel))
        check(machine.bodyPipe(full: true, now: 3 * Self.ms) == Step())
        // Paused: reads (of what was buffered) and a stale timer change nothing.
        check(machine.bodyBytesRead(now: 50 * Self.ms) == Step())
        check(machine.bodyTimerFired(now: 50 * Self.ms) == Step())
        // Room again at 100 ms: the budget runs on from where it paused (3 ms left), the idle limit afresh.
        check(
            machine.bodyPipe(full: false, now: 100 * Self.ms) == Step(bodyTimer: .arm(.client, deadline: 103 * Self.ms))
        )
    }

    @Test func theBodysEndStopsItsTimer() {
        var machine = uploading()
        check(machine.bodyEnded() == Step(bodyTimer: .cancel))
        #expect(machine.requestBody == nil)
        check(machine.bodyTimerFired(now: 100 * Self.ms) == Step())
        check(machine.bodyBytesRead(now: 100 * Self.ms) == Step())
        #expect(machine.keepsAlive(requested: true, draining: false))
    }

    @Test func aMalformedBodyIsAnsweredWithTheParsersStatus() {
        var machine = uploading()
        let failure = RequestBodyFailure.malformed(.bodyTooLarge)
        check(machine.requestBodyFailed(failure) == Step(bodyTimer: .cancel, .failRequestBody(failure)))
        #expect(failure.status == 413)
        #expect(failure.message == HTTPParserError.bodyTooLarge.message)
        check(machine.requestBodyFailed(failure) == Step())
    }

    @Test func aFINMidBodyFailsItOrAbortsByAbortOnClose() {
        var halfClosing = uploading(abortOnClose: false)
        check(halfClosing.clientLeft(.closed) == Step(bodyTimer: .cancel, .failRequestBody(.clientClosed)))
        #expect(RequestBodyFailure.clientClosed.status == 400)
        var aborting = uploading()
        check(aborting.clientLeft(.closed) == Step(.abortRequest(.closed)))
        // After the body ended, a FIN is an ordinary half-close.
        var ended = uploading(abortOnClose: false)
        _ = ended.bodyEnded()
        check(ended.clientLeft(.closed) == Step(.stopReading))
    }

    @Test func aBodyCutAfterTheAnswerBeganOnlyCloses() {
        // A streamed answer began: it is logged with its head's status and the connection closes.
        var machine = uploading()
        let framer = ResponseBodyFramer(
            status: 201, declaredLength: nil, http10: false, headOnly: false, keepAlive: false)
        check(machine.streamedAnswerStarted(status: 201, framer: framer, headStart: 0))
        _ = machine.answerBytesOffered(waiting: 0, now: 0)
        check(
            machine.bodyTimerFired(now: 10 * Self.ms)
                == Step(timer: .cancel, .cutRequestBody(.notReceivedInTime, loggingStatus: 201)))
        // The whole answer was queued (and logged) before the body ended: close only.
        var queued = uploading()
        queued.answerQueued(keepAlive: queued.keepsAlive(requested: true, draining: false))
        #expect(queued.state == .writing(closeAfter: true))
        check(queued.bodyTimerFired(now: 10 * Self.ms) == Step(.cutRequestBody(.notReceivedInTime, loggingStatus: nil)))
    }

    @Test func theNextRequestIsReadOnlyAfterTheStreamedOne() {
        var machine = uploading()
        // Bytes of the next request behind the body are not parsed while this one is in hand.
        check(machine.requestReceived(streamedBody: false, expectsContinue: false, now: 1) == Step())
        _ = machine.bodyEnded()
        machine.answerQueued(keepAlive: machine.keepsAlive(requested: true, draining: false))
        check(machine.outputFlushed(inputBuffered: true, draining: false, now: 5 * Self.ms) == Step(.readNextRequest))
        check(
            machine.requestReceived(streamedBody: false, expectsContinue: false, now: 6 * Self.ms)
                == Step(.handleRequest(sendContinue: false)))
        #expect(!machine.bodyTimerArmed)
    }

    // MARK: - Streamed answers

    @Test func theHeadIsHeldBackUntilItsFirstByteIsSent() {
        var machine = answering(headStart: 7)
        check(machine.retractStreamedHead() == 7)
        #expect(machine.streamedAnswer == nil)
        #expect(machine.state == .handling(closeAfter: false))
        // Retracted, the request can still be answered whole.
        machine.answerQueued(keepAlive: true)
        #expect(machine.state == .writing(closeAfter: false))

        var sent = answering()
        sent.outputSent()
        check(sent.retractStreamedHead() == nil)
        #expect(sent.streamedAnswer?.status == 200)
    }

    @Test func backPressurePausesAndResumesTheExchange() {
        var machine = answering()
        check(
            machine.answerBytesOffered(waiting: 0, now: 0) == .queue(Step(timer: .arm(.send, deadline: 30 * Self.ms))))
        check(machine.answerBytesOffered(waiting: Machine.outputHighWater - 1, now: 1) == .queue(Step()))
        // The client takes nothing: refused, and the exchange waits.
        check(machine.answerBytesOffered(waiting: Machine.outputHighWater, now: 2) == .refuse)
        #expect(machine.streamedAnswer?.exchangeWaits == true)
        check(
            machine.outputBlocked(progressed: true, now: 5 * Self.ms)
                == Step(timer: .arm(.send, deadline: 35 * Self.ms)))
        // Flushed: the send timer stops and the exchange resumes, once.
        check(
            machine.outputFlushed(inputBuffered: false, draining: false, now: 9 * Self.ms)
                == Step(timer: .cancel, .resumeExchange))
        check(machine.outputFlushed(inputBuffered: false, draining: false, now: 9 * Self.ms) == Step())
        #expect(machine.streamedAnswer?.exchangeWaits == false)
    }

    @Test func anEndedAnswerIsWrittenThenTheNextRequestIsRead() {
        var machine = answering()
        var out: [UInt8] = []
        _ = machine.answerBytesOffered(waiting: 0, now: 0)
        [UInt8]("hi".utf8).withUnsafeBytes { machine.frameAnswerBytes($0, into: &out) }
        check(machine.streamedAnswerEnded(into: &out) == 200)
        #expect(String(decoding: out, as: UTF8.self) == "2\r\nhi\r\n0\r\n\r\n")
        #expect(machine.state == .writing(closeAfter: false))
        // Bytes offered after the end (the connection moves on) are dropped.
        check(machine.answerBytesOffered(waiting: 0, now: 0) == .drop)
        check(machine.streamedAnswerEnded(into: &out) == nil)
        check(
            machine.outputFlushed(inputBuffered: false, draining: false, now: 0)
                == Step(timer: .arm(.keepalive, deadline: 75 * Self.ms), .readNextRequest))
    }

    /// libcurl reported the answer whole: its framing ends at once (so it can be written before the transfer's
    /// completion), while the answer stays in hand until the completion ends it, which appends nothing more.
    @Test func anAnswerThatArrivedWholeIsFramedFirstAndEndedByTheCompletion() {
        var machine = answering()
        var out: [UInt8] = []
        _ = machine.answerBytesOffered(waiting: 0, now: 0)
        [UInt8]("hi".utf8).withUnsafeBytes { machine.frameAnswerBytes($0, into: &out) }
        let arrived = machine.streamedAnswerArrived(into: &out)
        #expect(arrived)
        #expect(String(decoding: out, as: UTF8.self) == "2\r\nhi\r\n0\r\n\r\n")
        #expect(machine.state == .handling(closeAfter: false))
        #expect(machine.streamedAnswer?.status == 200)
        check(machine.streamedAnswerEnded(into: &out) == 200)
        #expect(String(decoding: out, as: UTF8.self) == "2\r\nhi\r\n0\r\n\r\n")
        #expect(machine.state == .writing(closeAfter: false))
    }

    @Test func aShortAnswerIsNotWrittenEarlyAndClosesTheConnection() {
        var machine = answering(declaredLength: 4)
        var out: [UInt8] = []
        _ = machine.answerBytesOffered(waiting: 0, now: 0)
        [UInt8]("hi".utf8).withUnsafeBytes { machine.frameAnswerBytes($0, into: &out) }
        let arrived = machine.streamedAnswerArrived(into: &out)
        #expect(!arrived)
        check(machine.streamedAnswerEnded(into: &out) == 200)
        #expect(String(decoding: out, as: UTF8.self) == "hi")
        #expect(machine.state == .writing(closeAfter: true))
    }

    @Test func noAnswerArrivesOutsideAStreamedOne() {
        var machine = Machine(limits: Self.limits())
        _ = machine.opened(now: 0)
        _ = machine.requestReceived(streamedBody: false, expectsContinue: false, now: 0)
        var out: [UInt8] = []
        let arrived = machine.streamedAnswerArrived(into: &out)
        #expect(!arrived)
        #expect(out.isEmpty)
    }

    @Test func anAnswerCutMidStreamIsLoggedWithItsStatusAndCloses() {
        // The client takes nothing for send_timeout: the exchange gives up, the answer's status is logged.
        var machine = answering()
        _ = machine.answerBytesOffered(waiting: 0, now: 0)
        machine.outputSent()
        check(machine.timerFired(.send, inputBuffered: false) == Step(.abandonAnswerAndClose))
        #expect(machine.streamedAnswer?.status == 200)
        check(machine.closed())
        #expect(machine.streamedAnswer == nil)
        check(machine.answerBytesOffered(waiting: 0, now: 0) == .drop)
    }

    @Test func onlyOneStreamedAnswerStartsPerRequest() {
        var machine = answering()
        let framer = ResponseBodyFramer(
            status: 200, declaredLength: nil, http10: false, headOnly: false, keepAlive: true)
        check(!machine.streamedAnswerStarted(status: 500, framer: framer, headStart: 0))
        #expect(machine.streamedAnswer?.status == 200)
    }

    // MARK: - Parsing a pipeline

    @Test func aHalfClosedPipelineIsDecidedWhenTheParsingLoopEnds() {
        // abort_on_close off: the client's FIN came behind three pipelined requests.
        var machine = Machine(limits: Self.limits(abortOnClose: false))
        _ = machine.opened(now: 0)
        machine.readEnded()
        check(machine.parsingStarted())
        _ = machine.requestReceived(streamedBody: false, expectsContinue: false, now: 0)
        // Answered at once, from inside the loop: its flush asks for the next request, the loop runs already.
        machine.answerQueued(keepAlive: true)
        check(machine.outputFlushed(inputBuffered: true, draining: false, now: 0) == Step(.readNextRequest))
        check(!machine.parsingStarted())
        check(machine.inputProcessed() == Step())
        // The loop goes on with the next request, then the last; only then does the connection close.
        _ = machine.requestReceived(streamedBody: false, expectsContinue: false, now: 0)
        machine.answerQueued(keepAlive: true)
        check(machine.outputFlushed(inputBuffered: false, draining: false, now: 0) == Step(.close))
        check(machine.closed())
        check(machine.parsingEnded() == Step())
        #expect(!machine.parsing)
    }

    @Test func aHalfClosedIdleConnectionClosesWhenTheLoopEnds() {
        var machine = Machine(limits: Self.limits(abortOnClose: false))
        _ = machine.opened(now: 0)
        machine.readEnded()
        check(machine.parsingStarted())
        check(machine.parsingEnded() == Step(timer: .cancel, .close))
    }
}
