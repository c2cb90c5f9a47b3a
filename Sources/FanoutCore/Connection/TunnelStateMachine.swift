/// The decisions of one `Upgrade` tunnel on a proxy route (a WebSocket, say), without any I/O: the runtime
/// (`Tunnel`) reports what happened on the two sockets and carries out the returned ``Action``.
///
/// States: `connecting` to the partner → `awaiting101` (the upgrade request head is written, the answer head
/// awaited) → `open` (bytes are spliced both ways, each direction a ``Half``) → `closed`. Any other answer
/// than 101 closes the tunnel before it opened: the client is answered with that status as a plain response.
///
/// A FIN is passed on: when one side's reading ends and everything it sent has been written to the other side,
/// the other side's write half is shut (`shutdown(SHUT_WR)`). The tunnel ends when both directions are done,
/// on an error, when nothing moved either way for `idleLimit`, or when the server drains. Time is an injected
/// monotonic clock in nanoseconds.
public struct TunnelStateMachine: Sendable {
    /// Which way bytes go.
    public enum Direction: Sendable, Equatable, CaseIterable {
        case clientToPartner
        case partnerToClient
    }

    /// One direction of an open tunnel.
    public struct Half: Sendable, Equatable {
        /// The sending side's reading ended (it sent its FIN).
        public var readEnded = false
        /// Bytes read from the sender and not yet written to the receiver.
        public var pending = 0
        /// The receiver's write half was shut: this direction is done.
        public var writeShut = false
    }

    /// Why a tunnel ended; its access-log and metrics name.
    public enum EndReason: String, Sendable, Equatable {
        /// Both sides sent their FIN and every byte was passed on.
        case finished
        /// Nothing moved either way for `tunnel_idle_timeout`.
        case idleTimeout = "idle_timeout"
        /// The client's socket failed (a reset).
        case clientError = "client_error"
        /// The partner's socket failed, or it could not be reached.
        case partnerError = "partner_error"
        /// The partner answered something other than 101: the client got that answer, no tunnel opened.
        case refused
        /// The server drains (graceful shutdown or reload of a worker).
        case draining
    }

    public enum State: Sendable, Equatable {
        case connecting
        case awaiting101
        case open(clientToPartner: Half, partnerToClient: Half)
        case closed(EndReason)
    }

    /// What the runtime does next.
    public enum Action: Sendable, Equatable {
        case none
        /// Connected: write the upgrade request head to the partner.
        case sendRequestHead
        /// The partner switched protocols: send its 101 head to the client and start splicing.
        case openTunnel
        /// Answer the client with the partner's (non-101) status as a plain response; no tunnel.
        case answerClient(status: Int)
        /// Shut the write half of the receiving side of `direction`.
        case shutdownWrite(Direction)
        /// Close both sockets.
        case close(EndReason)
        /// Check the idle limit again at this time.
        case checkIdleAt(UInt64)
    }

    public private(set) var state: State = .connecting
    private var idle: IdleLimit

    /// - Parameters:
    ///   - idleMilliseconds: `tunnel_idle_timeout`: the longest no byte may move either way once the tunnel is
    ///     open (and the longest the partner may take to connect and answer).
    ///   - now: when the tunnel was asked for.
    public init(idleMilliseconds: Int, now: UInt64) {
        idle = IdleLimit(milliseconds: idleMilliseconds, start: now)
    }

    /// When the idle limit runs out unless something moves first.
    public var idleDeadline: UInt64 { idle.deadline }

    public var isOpen: Bool {
        if case .open = state { return true }
        return false
    }

    public var isClosed: Bool {
        if case .closed = state { return true }
        return false
    }

    /// The connection to the partner is established (TLS included).
    public mutating func connected(now: UInt64) -> Action {
        guard state == .connecting else { return .none }
        idle.noteProgress(at: now)
        state = .awaiting101
        return .sendRequestHead
    }

    /// The partner's answer head arrived.
    public mutating func answerHead(status: Int, now: UInt64) -> Action {
        guard state == .awaiting101 else { return .none }
        idle.noteProgress(at: now)
        if status == 101 {
            state = .open(clientToPartner: Half(), partnerToClient: Half())
            return .openTunnel
        }
        state = .closed(.refused)
        return .answerClient(status: status)
    }

    /// `count` bytes were read from the sender of `direction` (they wait to be written).
    public mutating func read(_ count: Int, _ direction: Direction, now: UInt64) {
        guard count > 0 else { return }
        idle.noteProgress(at: now)
        update(direction) { $0.pending += count }
    }

    /// `count` bytes of `direction` were written to the receiver. Returns the FIN to pass on, or the end.
    public mutating func wrote(_ count: Int, _ direction: Direction, now: UInt64) -> Action {
        if count > 0 { idle.noteProgress(at: now) }
        update(direction) { $0.pending = max(0, $0.pending - count) }
        return afterChange(direction)
    }

    /// The sender of `direction` sent its FIN (a read returned 0).
    public mutating func readEnded(_ direction: Direction, now: UInt64) -> Action {
        idle.noteProgress(at: now)
        update(direction) { $0.readEnded = true }
        return afterChange(direction)
    }

    /// Whether the sender of `direction` may be read now: bounded buffers and back-pressure mean one chunk in
    /// flight per direction, so a side is not read while the other side has not taken its last bytes.
    public func mayRead(_ direction: Direction) -> Bool {
        guard let half = half(direction) else { return false }
        return !half.readEnded && half.pending == 0
    }

    public func half(_ direction: Direction) -> Half? {
        guard case .open(let c2p, let p2c) = state else { return nil }
        return direction == .clientToPartner ? c2p : p2c
    }

    /// A socket failed (or the partner could not be reached, or its answer was not HTTP).
    public mutating func failed(_ reason: EndReason) -> Action {
        if isClosed { return .none }
        state = .closed(reason)
        return .close(reason)
    }

    /// The server drains: an open tunnel (or one still being set up) is closed.
    public mutating func drain() -> Action {
        failed(.draining)
    }

    /// The idle timer fired at `now`.
    public mutating func idleTimerFired(now: UInt64) -> Action {
        if isClosed { return .none }
        switch idle.check(now: now, waitingOnClient: false) {
        case .expired:
            return failed(.idleTimeout)
        case .checkAgain(let at):
            return .checkIdleAt(at)
        }
    }

    private mutating func update(_ direction: Direction, _ change: (inout Half) -> Void) {
        guard case .open(var c2p, var p2c) = state else { return }
        if direction == .clientToPartner { change(&c2p) } else { change(&p2c) }
        state = .open(clientToPartner: c2p, partnerToClient: p2c)
    }

    private mutating func afterChange(_ direction: Direction) -> Action {
        guard case .open(let c2p, let p2c) = state else { return .none }
        let half = direction == .clientToPartner ? c2p : p2c
        if half.readEnded && half.pending == 0 && !half.writeShut {
            update(direction) { $0.writeShut = true }
            let other = direction == .clientToPartner ? p2c : c2p
            if other.writeShut {
                state = .closed(.finished)
                return .close(.finished)
            }
            return .shutdownWrite(direction)
        }
        return .none
    }
}
