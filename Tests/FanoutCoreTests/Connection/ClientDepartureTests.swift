import FanoutCore
import Testing

@Suite struct ClientDepartureTests {
    @Test(arguments: [
        // A reset: nothing can reach the client any more.
        (ClientDeparture.reset, ClientDeparture.Answer.pending, true, ClientDeparture.Verdict.abort),
        (.reset, .pending, false, .abort),
        (.reset, .queued, true, .close),
        (.reset, .queued, false, .close),
        // A FIN: an abort while the answer is pending (nginx's default), unless abort_on_close is off.
        (.closed, .pending, true, .abort),
        (.closed, .pending, false, .keepAnswering),
        // A FIN once the answer is queued: no work is left to save; a half-closed client still reads it.
        (.closed, .queued, true, .keepAnswering),
        (.closed, .queued, false, .keepAnswering),
    ])
    func decidesWhatADepartureMeans(
        departure: ClientDeparture, answer: ClientDeparture.Answer, abortOnClose: Bool,
        verdict: ClientDeparture.Verdict
    ) {
        #expect(departure.verdict(answer: answer, abortOnClose: abortOnClose) == verdict)
    }

    @Test func anAbortIsLoggedAs499() {
        #expect(ClientDeparture.abortStatus == 499)
        #expect(ClientDeparture.allCases.map(\.rawValue) == ["closed", "reset"])
    }
}
