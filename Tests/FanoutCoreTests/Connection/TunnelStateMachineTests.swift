import Testing

@testable import FanoutCore

/// The decisions of an `Upgrade` tunnel, on an injected clock (nanoseconds).
@Suite struct TunnelStateMachineTests {
    static let ms: UInt64 = 1_000_000

    private func opened(idleMs: Int = 1_000) -> TunnelStateMachine {
        var machine = TunnelStateMachine(idleMilliseconds: idleMs, now: 0)
        _ = machine.connected(now: 0)
        _ = machine.answerHead(status: 101, now: 0)
        return machine
    }

    @Test func connectingThenAwaiting101ThenOpen() {
        var machine = TunnelStateMachine(idleMilliseconds: 1_000, now: 0)
        #expect(machine.state == .connecting)
        #expect(machine.connected(now: 5 * Self.ms) == .sendRequestHead)
        #expect(machine.state == .awaiting101)
        #expect(machine.answerHead(status: 101, now: 6 * Self.ms) == .openTunnel)
        #expect(machine.isOpen)
        #expect(machine.mayRead(.clientToPartner) && machine.mayRead(.partnerToClient))
    }

    @Test func anyOtherAnswerIsGivenToTheClientAndNoTunnelOpens() {
        var machine = TunnelStateMachine(idleMilliseconds: 1_000, now: 0)
        _ = machine.connected(now: 0)
        #expect(machine.answerHead(status: 403, now: 0) == .answerClient(status: 403))
        #expect(machine.state == .closed(.refused))
        #expect(!machine.mayRead(.clientToPartner))
    }

    @Test func aSideIsNotReadWhileTheOtherSideHasNotTakenItsBytes() {
        var machine = opened()
        machine.read(10, .clientToPartner, now: 0)
        #expect(!machine.mayRead(.clientToPartner))
        #expect(machine.mayRead(.partnerToClient))
        #expect(machine.wrote(4, .clientToPartner, now: 0) == .none)
        #expect(!machine.mayRead(.clientToPartner))
        #expect(machine.wrote(6, .clientToPartner, now: 0) == .none)
        #expect(machine.mayRead(.clientToPartner))
    }

    @Test func aFinIsPassedOnOnlyAfterTheBytesBeforeIt() {
        var machine = opened()
        machine.read(3, .clientToPartner, now: 0)
        #expect(machine.readEnded(.clientToPartner, now: 0) == .none)
        #expect(machine.wrote(3, .clientToPartner, now: 0) == .shutdownWrite(.clientToPartner))
        #expect(machine.isOpen)
        #expect(machine.mayRead(.partnerToClient))
        // The other direction still works; its FIN ends the tunnel.
        machine.read(5, .partnerToClient, now: 0)
        #expect(machine.wrote(5, .partnerToClient, now: 0) == .none)
        #expect(machine.readEnded(.partnerToClient, now: 0) == .close(.finished))
        #expect(machine.state == .closed(.finished))
    }

    @Test func theIdleLimitCountsFromTheLastByteEitherWay() {
        var machine = opened(idleMs: 100)
        machine.read(1, .partnerToClient, now: 80 * Self.ms)
        #expect(machine.idleTimerFired(now: 100 * Self.ms) == .checkIdleAt(180 * Self.ms))
        _ = machine.wrote(1, .partnerToClient, now: 150 * Self.ms)
        #expect(machine.idleTimerFired(now: 180 * Self.ms) == .checkIdleAt(250 * Self.ms))
        #expect(machine.idleTimerFired(now: 250 * Self.ms) == .close(.idleTimeout))
        #expect(machine.idleTimerFired(now: 300 * Self.ms) == .none)
    }

    @Test func aPartnerThatDoesNotAnswerWithinTheLimitIsCut() {
        var machine = TunnelStateMachine(idleMilliseconds: 100, now: 0)
        _ = machine.connected(now: 30 * Self.ms)
        #expect(machine.idleTimerFired(now: 100 * Self.ms) == .checkIdleAt(130 * Self.ms))
        #expect(machine.idleTimerFired(now: 130 * Self.ms) == .close(.idleTimeout))
    }

    @Test func errorsAndDrainCloseOnce() {
        var machine = opened()
        #expect(machine.drain() == .close(.draining))
        #expect(machine.failed(.clientError) == .none)
        #expect(machine.state == .closed(.draining))
        var other = opened()
        #expect(other.failed(.partnerError) == .close(.partnerError))
        #expect(other.wrote(1, .clientToPartner, now: 0) == .none)
    }
}
