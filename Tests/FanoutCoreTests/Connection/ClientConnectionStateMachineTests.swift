import Testing

@testable import FanoutCore

/// The decisions of a client connection, driven with events and an injected clock (nanoseconds).
@Suite struct ClientConnectionStateMachineTests {
    typealias Machine = ClientConnectionStateMachine
    typealias Step = ClientConnectionStateMachine.Step
    static let ms: UInt64 = 1_000_000

    /// `#expect` cannot take a mutating call: the step is compared here.
    private func check(_ condition: Bool, sourceLocation: Testing.SourceLocation = #_sourceLocation) {
        #expect(condition, sourceLocation: sourceLocation)
    }

    private static func limits(keepaliveRequests: Int = 100, abortOnClose: Bool = true) -> Machine.Limits {
        Machine.Limits(
            clientTimeoutMs: 10, keepaliveTimeoutMs: 75, sendTimeoutMs: 30, lingerMs: 2,
            keepaliveRequests: keepaliveRequests,
            abortOnClose: abortOnClose)
    }

    private func opened(keepaliveRequests: Int = 100, abortOnClose: Bool = true) -> Machine {
        var machine = Machine(limits: Self.limits(keepaliveRequests: keepaliveRequests, abortOnClose: abortOnClose))
        _ = machine.opened(now: 0)
        return machine
    }

    /// The framer of a streamed answer to an HTTP/1.1 GET: chunked unless `declaredLength`.
    static func framer(keepAlive: Bool = true, declaredLength: Int? = nil) -> ResponseBodyFramer {
        ResponseBodyFramer(
            status: 200, declaredLength: declaredLength, http10: false, headOnly: false, keepAlive: keepAlive)
    }

    /// A connection with a complete request in hand.
    private func handling(abortOnClose: Bool = true) -> Machine {
        var machine = opened(abortOnClose: abortOnClose)
        _ = machine.requestReceived(streamedBody: false, expectsContinue: false, now: 0)
        return machine
    }

    // MARK: - Reading requests

    @Test func aNewConnectionHasTheClientTimeoutForItsFirstRequest() {
        var machine = Machine(limits: Self.limits())
        check(machine.opened(now: 5 * Self.ms) == Step(timer: .arm(.client, deadline: 15 * Self.ms)))
        #expect(machine.armedTimer == .client)
        #expect(machine.state == .awaitingRequest(continueSent: false))
    }

    @Test func aCompleteRequestCancelsTheTimerAndIsHandled() {
        var machine = opened()
        check(
            machine.requestReceived(streamedBody: false, expectsContinue: false, now: 0)
                == Step(timer: .cancel, .handleRequest(sendContinue: false)))
        #expect(machine.state == .handling(closeAfter: false))
        #expect(machine.armedTimer == nil)
    }

    @Test func thePartOfARequestKeepsTheClientTimerRunningFromItsFirstByte() {
        var machine = opened()
        check(machine.requestIncomplete(expectsContinue: false, now: 3 * Self.ms) == Step())
        #expect(machine.armedTimer == .client)
    }

    @Test func theFirstByteOfTheNextRequestEndsTheKeepaliveWait() {
        var machine = handling()
        machine.answerQueued(keepAlive: true)
        check(
            machine.outputFlushed(inputBuffered: false, draining: false, now: 20 * Self.ms)
                == Step(timer: .arm(.keepalive, deadline: 95 * Self.ms), .readNextRequest))
        check(
            machine.requestIncomplete(expectsContinue: false, now: 50 * Self.ms)
                == Step(timer: .arm(.client, deadline: 60 * Self.ms)))
    }

    @Test func pipelinedRequestsAreAnsweredOneAtATime() {
        var machine = handling()
        // The next request is buffered: it is not read while this one is in hand.
        check(machine.requestReceived(streamedBody: false, expectsContinue: false, now: 0) == Step())
        machine.answerQueued(keepAlive: true)
        #expect(machine.state == .writing(closeAfter: false))
        check(
            machine.outputFlushed(inputBuffered: true, draining: false, now: 0) == Step(.readNextRequest))
        #expect(machine.requestsServed == 1)
        check(
            machine.requestReceived(streamedBody: false, expectsContinue: false, now: 0)
                == Step(.handleRequest(sendContinue: false)))
        machine.answerQueued(keepAlive: true)
        _ = machine.outputFlushed(inputBuffered: false, draining: false, now: 0)
        #expect(machine.requestsServed == 2)
        #expect(machine.armedTimer == .keepalive)
    }

    // MARK: - 100 Continue

    @Test func aClientWaitingForContinueGetsItOnce() {
        var machine = opened()
        check(machine.requestIncomplete(expectsContinue: true, now: 0) == Step(.sendContinue))
        #expect(machine.state == .awaitingRequest(continueSent: true))
        check(machine.requestIncomplete(expectsContinue: true, now: 0) == Step())
        // The next request may ask again.
        _ = machine.requestReceived(streamedBody: false, expectsContinue: true, now: 0)
        machine.answerQueued(keepAlive: true)
        _ = machine.outputFlushed(inputBuffered: false, draining: false, now: 0)
        check(machine.requestIncomplete(expectsContinue: true, now: 0).action == .sendContinue)
    }

    @Test func aCollectedBodyGetsContinueOnlyWhenNoneOfItIsBuffered() {
        var machine = opened()
        check(machine.collectingBody(expectsContinue: true, bodyAwaited: false) == Step())
        check(machine.collectingBody(expectsContinue: false, bodyAwaited: true) == Step())
        check(machine.collectingBody(expectsContinue: true, bodyAwaited: true) == Step(.sendContinue))
        check(machine.collectingBody(expectsContinue: true, bodyAwaited: true) == Step())
    }

    @Test func aStreamedBodyGetsContinueWithItsHead() {
        var machine = opened()
        check(
            machine.requestReceived(streamedBody: true, expectsContinue: true, now: 0)
                == Step(
                    timer: .cancel, bodyTimer: .arm(.client, deadline: 10 * Self.ms), .handleRequest(sendContinue: true)
                ))
        var complete = opened()
        check(
            complete.requestReceived(streamedBody: false, expectsContinue: true, now: 0).action
                == .handleRequest(sendContinue: false))
    }

    // MARK: - Timers

    @Test func theClientTimerClosesQuietlyWhenNothingArrived() {
        var machine = opened()
        check(machine.timerFired(.client, inputBuffered: false) == Step(.close))
        #expect(machine.armedTimer == nil)
    }

    @Test func theClientTimerAnswers408ToAPartlyReceivedRequest() {
        var machine = opened()
        _ = machine.requestIncomplete(expectsContinue: false, now: 0)
        check(machine.timerFired(.client, inputBuffered: true) == Step(.answerRequestTimeout))
        #expect(machine.state == .handling(closeAfter: true))
        machine.answerQueued(keepAlive: false)
        check(
            machine.outputFlushed(inputBuffered: false, draining: false, now: 0)
                == Step(timer: .arm(.linger, deadline: 2 * Self.ms), .shutdownWriteAndLinger))
    }

    @Test func theKeepaliveTimerCloses() {
        var machine = handling()
        machine.answerQueued(keepAlive: true)
        _ = machine.outputFlushed(inputBuffered: false, draining: false, now: 0)
        check(machine.timerFired(.keepalive, inputBuffered: false) == Step(.close))
    }

    @Test func theSendTimerRunsWhileTheClientTakesNothingAndIsRearmedOnProgress() {
        var machine = handling()
        machine.answerQueued(keepAlive: true)
        check(
            machine.outputBlocked(progressed: true, now: 1 * Self.ms)
                == Step(timer: .arm(.send, deadline: 31 * Self.ms)))
        check(machine.outputBlocked(progressed: false, now: 2 * Self.ms) == Step())
        check(
            machine.outputBlocked(progressed: true, now: 3 * Self.ms)
                == Step(timer: .arm(.send, deadline: 33 * Self.ms)))
        check(machine.timerFired(.send, inputBuffered: false) == Step(.close))
    }

    @Test func theSendTimerCutsAStreamedAnswerShort() {
        var machine = handling()
        check(machine.streamedAnswerStarted(status: 200, framer: Self.framer(), headStart: 0))
        check(
            machine.answerBytesOffered(waiting: 0, now: 0) == .queue(Step(timer: .arm(.send, deadline: 30 * Self.ms))))
        check(machine.answerBytesOffered(waiting: 0, now: 5 * Self.ms) == .queue(Step()))
        check(machine.timerFired(.send, inputBuffered: false) == Step(.abandonAnswerAndClose))
        #expect(machine.streamedAnswer?.status == 200)
    }

    @Test func aStreamedAnswerThatCaughtUpStopsTheSendTimer() {
        var machine = handling()
        check(machine.streamedAnswerStarted(status: 200, framer: Self.framer(), headStart: 0))
        _ = machine.answerBytesOffered(waiting: 0, now: 0)
        check(machine.outputFlushed(inputBuffered: false, draining: false, now: 0) == Step(timer: .cancel))
        #expect(machine.state == .handling(closeAfter: false))
        check(machine.outputFlushed(inputBuffered: false, draining: false, now: 0) == Step())
    }

    @Test func theLingerTimerCloses() {
        var machine = handling()
        machine.answerQueued(keepAlive: false)
        _ = machine.outputFlushed(inputBuffered: false, draining: false, now: 0)
        #expect(machine.state == .lingering)
        check(machine.timerFired(.linger, inputBuffered: false) == Step(.close))
    }

    // MARK: - Streamed answers

    @Test func aStreamedAnswerFramedForClosingEndsTheConnection() {
        var machine = handling()
        var out: [UInt8] = []
        check(machine.streamedAnswerStarted(status: 200, framer: Self.framer(keepAlive: false), headStart: 0))
        check(machine.streamedAnswerEnded(into: &out) == 200)
        #expect(machine.state == .writing(closeAfter: true))
    }

    @Test func aStreamedAnswerThatBrokeItsFramingEndsTheConnection() {
        var machine = handling()
        var out: [UInt8] = []
        check(machine.streamedAnswerStarted(status: 200, framer: Self.framer(declaredLength: 5), headStart: 0))
        check(machine.streamedAnswerEnded(into: &out) == 200)
        #expect(machine.state == .writing(closeAfter: true))
        var intact = handling()
        check(intact.streamedAnswerStarted(status: 200, framer: Self.framer(), headStart: 0))
        check(intact.streamedAnswerEnded(into: &out) == 200)
        #expect(intact.state == .writing(closeAfter: false))
        #expect(intact.streamedAnswer == nil)
    }

    // MARK: - Keep-alive

    @Test func keepAliveNeedsTheRequestTheWholeBodyNoDrainAndRequestsLeft() {
        let machine = opened(keepaliveRequests: 2)
        #expect(machine.keepsAlive(requested: true, draining: false))
        #expect(!machine.keepsAlive(requested: false, draining: false))
        #expect(!machine.keepsAlive(requested: true, draining: true))
        var uploading = machine
        _ = uploading.requestReceived(streamedBody: true, expectsContinue: false, now: 0)
        #expect(!uploading.keepsAlive(requested: true, draining: false))
        _ = uploading.bodyEnded()
        #expect(uploading.keepsAlive(requested: true, draining: false))
        var served = machine
        _ = served.requestReceived(streamedBody: false, expectsContinue: false, now: 0)
        served.answerQueued(keepAlive: true)
        _ = served.outputFlushed(inputBuffered: false, draining: false, now: 0)
        #expect(!served.keepsAlive(requested: true, draining: false))
    }

    // MARK: - Half-close and the client leaving

    @Test func aFINThatCameWithARequestAbortsItByDefault() {
        var machine = opened()
        machine.readEnded()
        _ = machine.requestReceived(streamedBody: false, expectsContinue: false, now: 0)
        // Abort on close (the default): the FIN that came with the request aborts it.
        check(machine.requestDispatched() == Step(.abortRequest(.closed)))
    }

    @Test func aHalfClosedClientGetsItsAnswerWithoutAbortOnClose() {
        var machine = opened(abortOnClose: false)
        machine.readEnded()
        check(machine.inputProcessed() == Step(timer: .cancel, .close))
        var pending = opened(abortOnClose: false)
        pending.readEnded()
        _ = pending.requestReceived(streamedBody: false, expectsContinue: false, now: 0)
        check(pending.requestDispatched() == Step(.stopReading))
        pending.answerQueued(keepAlive: true)
        // Written, then closed: the client sends nothing more.
        check(pending.outputFlushed(inputBuffered: false, draining: false, now: 0) == Step(.close))
    }

    @Test func aHalfClosedClientWithAPipelineGetsEveryAnswer() {
        var machine = opened(abortOnClose: false)
        machine.readEnded()
        _ = machine.requestReceived(streamedBody: false, expectsContinue: false, now: 0)
        _ = machine.requestDispatched()
        machine.answerQueued(keepAlive: true)
        check(machine.outputFlushed(inputBuffered: true, draining: false, now: 0) == Step(.readNextRequest))
        _ = machine.requestReceived(streamedBody: false, expectsContinue: false, now: 0)
        machine.answerQueued(keepAlive: true)
        check(machine.outputFlushed(inputBuffered: false, draining: false, now: 0) == Step(.close))
    }

    @Test func theDepartureVerdictDependsOnWhereTheAnswerStands() {
        var pending = handling()
        check(pending.clientLeft(.closed) == Step(.abortRequest(.closed)))
        var reset = handling(abortOnClose: false)
        check(reset.clientLeft(.reset) == Step(.abortRequest(.reset)))
        var queued = handling()
        queued.answerQueued(keepAlive: true)
        check(queued.clientLeft(.closed) == Step(.stopReading))
        #expect(queued.peerHalfClosed)
        var queuedReset = handling()
        queuedReset.answerQueued(keepAlive: true)
        check(queuedReset.clientLeft(.reset) == Step(.close))
        var idle = opened()
        check(idle.clientLeft(.closed) == Step(timer: .cancel, .close))
    }

    @Test func aFINInsideAStreamedBodyFailsItWithoutAbortOnClose() {
        var machine = opened(abortOnClose: false)
        _ = machine.requestReceived(streamedBody: true, expectsContinue: false, now: 0)
        check(machine.clientLeft(.closed) == Step(bodyTimer: .cancel, .failRequestBody(.clientClosed)))
        #expect(machine.peerHalfClosed)
        #expect(machine.requestBody == nil)
        var aborting = opened()
        _ = aborting.requestReceived(streamedBody: true, expectsContinue: false, now: 0)
        check(aborting.clientLeft(.closed) == Step(.abortRequest(.closed)))
    }

    @Test func aHalfClosedClientIsNotLingeredFor() {
        var machine = handling(abortOnClose: false)
        _ = machine.clientLeft(.closed)
        machine.answerQueued(keepAlive: false)
        check(machine.outputFlushed(inputBuffered: false, draining: false, now: 0) == Step(.close))
    }

    // MARK: - Drain and close

    @Test func drainingClosesIdleConnectionsAndEndsOthersWithTheirAnswer() {
        let idle = opened()
        #expect(idle.drain(inputBuffered: false) == Step(.close))
        #expect(idle.drain(inputBuffered: true) == Step())
        var busy = handling()
        #expect(busy.drain(inputBuffered: false) == Step())
        // Framed for keep-alive before the drain began: the connection still ends with it.
        busy.answerQueued(keepAlive: true)
        check(
            busy.outputFlushed(inputBuffered: false, draining: true, now: 0)
                == Step(timer: .arm(.linger, deadline: 2 * Self.ms), .shutdownWriteAndLinger))
    }

    @Test func aReloadsLimitsApplyFromTheNextTimerAndDecision() {
        var machine = handling()
        machine.limits = Machine.Limits(
            clientTimeoutMs: 1, keepaliveTimeoutMs: 7, sendTimeoutMs: 3, keepaliveRequests: 1, abortOnClose: false)
        #expect(!machine.keepsAlive(requested: true, draining: false))
        check(machine.clientLeft(.closed) == Step(.stopReading))
        machine.answerQueued(keepAlive: true)
        check(machine.outputBlocked(progressed: true, now: 0) == Step(timer: .arm(.send, deadline: 3 * Self.ms)))
    }

    @Test func closingIsIdempotent() {
        var machine = handling()
        check(machine.closed())
        #expect(machine.state == .closed)
        check(!machine.closed())
        check(machine.requestReceived(streamedBody: false, expectsContinue: false, now: 0) == Step())
        check(machine.timerFired(.client, inputBuffered: true) == Step())
    }

    @Test func aStaleClientTimerDoesNothingOnceTheRequestIsInHand() {
        var machine = handling()
        check(machine.timerFired(.client, inputBuffered: true) == Step())
        #expect(machine.state == .handling(closeAfter: false))
    }

    // MARK: - Driven with bytes, through the real parser and framer

    /// Feeds bytes through `HTTPRequestParser` and the machine the way `ClientConnection` does (collected
    /// bodies), answering every request at once.
    private struct Driver {
        var machine: Machine
        var parser = HTTPRequestParser(limits: HTTPParserLimits())
        var input: [UInt8] = []
        var handled: [String] = []
        var actions: [Machine.Action] = []

        mutating func receive(_ text: String, now: UInt64 = 0) {
            input += Array(text.utf8)
            while case .awaitingRequest = machine.state, !input.isEmpty {
                let bytes = input
                guard let result = try? bytes.withUnsafeBytes({ (b) throws(HTTPParserError) in try parser.parse(b) })
                else { return }
                switch result {
                case .complete(let request, let consumed):
                    input.removeFirst(consumed)
                    actions.append(machine.requestReceived(streamedBody: false, expectsContinue: false, now: 0).action)
                    handled.append(request.head.target)
                    machine.answerQueued(keepAlive: request.head.keepAlive)
                    let step = machine.outputFlushed(inputBuffered: !input.isEmpty, draining: false, now: now)
                    actions.append(step.action)
                default:
                    let head = parser.pendingHead
                    actions.append(
                        machine.requestIncomplete(expectsContinue: head?.expectsContinue ?? false, now: now).action)
                    return
                }
            }
            actions.append(machine.inputProcessed().action)
        }
    }

    @Test func aPipelineInOneReadIsAnsweredInOrder() {
        var driver = Driver(machine: opened())
        driver.receive("GET /a HTTP/1.1\r\nHost: x\r\n\r\nGET /b HTTP/1.1\r\nHost: x\r\n\r\nGET /c HTTP/1.1\r\nHo")
        #expect(driver.handled == ["/a", "/b"])
        #expect(driver.machine.requestsServed == 2)
        #expect(driver.machine.armedTimer == .client)
        driver.receive("st: x\r\nConnection: close\r\n\r\n")
        #expect(driver.handled == ["/a", "/b", "/c"])
        #expect(driver.machine.state == .lingering)
        #expect(driver.machine.armedTimer == .linger)
    }

    @Test func aPipelineFollowedByAFINIsAnsweredThenClosed() {
        var driver = Driver(machine: opened(abortOnClose: false))
        driver.machine.readEnded()
        driver.receive("GET /a HTTP/1.1\r\nHost: x\r\n\r\nGET /b HTTP/1.1\r\nHost: x\r\n\r\n")
        #expect(driver.handled == ["/a", "/b"])
        #expect(driver.actions.last == .close)
    }

    @Test func aHeadExpectingContinueIsAnsweredWhileItsBodyIsAwaited() {
        var driver = Driver(machine: opened())
        driver.receive("POST /u HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nExpect: 100-continue\r\n\r\n")
        #expect(driver.actions.first == .sendContinue)
        driver.receive("a")
        #expect(driver.actions.filter { $0 == .sendContinue }.count == 1)
        driver.receive("bc")
        #expect(driver.handled == ["/u"])
    }

    @Test func theFramerDecidesWhetherAStreamedAnswerKeepsTheConnection() {
        var out: [UInt8] = []
        let short = ResponseBodyFramer(
            status: 200, declaredLength: 5, http10: false, headOnly: false, keepAlive: true)
        var machine = handling()
        check(machine.streamedAnswerStarted(status: 200, framer: short, headStart: 0))
        [UInt8]("abc".utf8).withUnsafeBytes { machine.frameAnswerBytes($0, into: &out) }
        check(machine.streamedAnswerEnded(into: &out) == 200)
        #expect(machine.state == .writing(closeAfter: true))

        // HTTP/1.0 without a declared length: the body ends with the connection.
        let untilClose = ResponseBodyFramer(
            status: 200, declaredLength: nil, http10: true, headOnly: false, keepAlive: true)
        var http10 = handling()
        check(http10.streamedAnswerStarted(status: 200, framer: untilClose, headStart: 0))
        #expect(http10.state == .handling(closeAfter: true))

        let exact = ResponseBodyFramer(
            status: 200, declaredLength: 3, http10: false, headOnly: false, keepAlive: true)
        var kept = handling()
        check(kept.streamedAnswerStarted(status: 200, framer: exact, headStart: 0))
        [UInt8]("abc".utf8).withUnsafeBytes { kept.frameAnswerBytes($0, into: &out) }
        check(kept.streamedAnswerEnded(into: &out) == 200)
        #expect(kept.state == .writing(closeAfter: false))
        #expect(String(decoding: out.suffix(3), as: UTF8.self) == "abc")
    }
}
