import CCurl
import FanoutCore
import Glibc

/// An `Upgrade` request (a WebSocket) on a plain proxy route, tunnelled byte for byte once the partner answers
/// 101. ``TunnelStateMachine`` decides; this object carries it out.
///
/// Until the 101 it is the request's `Exchange`, owned by its `ClientConnection`: libcurl connects (connect
/// only, TLS included, in a multi handle of its own: ``TunnelConnection``), fanout writes the upgrade request head itself and
/// reads the partner's answer head. A 101 goes to the client and the tunnel takes the client's socket from the
/// connection (`ClientConnection.handOverToTunnel`): from then on it owns both sockets, and the worker holds it
/// (`Worker.adopt(_:)`) until it ends. Any other answer is given to the client as a plain response; no tunnel.
///
/// Splicing holds at most one read (64 KiB, the worker's read buffer size) per direction: a side is not read
/// while the other side has not taken its last bytes (back-pressure). A FIN is passed on as `shutdown(SHUT_WR)`
/// (on a TLS partner: the TCP shutdown only, libcurl 7.88.1 has no way to send a close_notify alone).
final class Tunnel: Exchange, EventHandler {
    /// Its worker, not retained nor checked (docs/design/architecture.md, "References back to the worker").
    private unowned(unsafe) let worker: Worker
    /// The connection the request came on, until the tunnel takes its socket or answers it.
    private weak var connection: ClientConnection?
    private var machine: TunnelStateMachine
    private var partner: TunnelConnection?
    private var transfer: CurlTransfer? { partner?.transfer }
    private var partnerFD: Int32 = -1
    private var clientFD: Int32 = -1
    private var requestHead: [UInt8]
    private var requestHeadSent = 0
    /// The partner's answer as it arrives: the head, and a non-101 answer's body.
    private var answer: [UInt8] = []
    private var refusal: TunnelHeads.AnswerHead?
    private var toPartner = Window()
    private var toClient = Window()
    private var timer: TimerID?
    /// The request's record, from the connection once the tunnel is open; finished when the tunnel ends.
    private var record: RequestRecord?
    private let maxAnswerBodyBytes: Int
    private let startedAt: UInt64
    private let spanID: String
    /// The route's one call (index 0) and its upstream, as the record names it.
    private let identity: AccessLogCall.Identity
    private var bytesUp: UInt64 = 0
    private var bytesDown: UInt64 = 0
    /// Set while this object handles an event: the machine's `close` runs after the handler returns to here.
    private var handlingEvent = false

    /// Bytes read from one side, waiting to be written to the other.
    private struct Window {
        var bytes: [UInt8] = []
        var offset = 0
        var isEmpty: Bool { offset >= bytes.count }
        mutating func append(_ more: UnsafeRawBufferPointer) {
            if isEmpty {
                bytes.removeAll(keepingCapacity: true)
                offset = 0
            }
            bytes.append(contentsOf: more)
        }
    }

    private init(
        worker: Worker, connection: ClientConnection, machine: TunnelStateMachine, requestHead: [UInt8],
        maxAnswerBodyBytes: Int, spanID: String, identity: AccessLogCall.Identity
    ) {
        self.worker = worker
        self.connection = connection
        self.machine = machine
        self.requestHead = requestHead
        self.maxAnswerBodyBytes = maxAnswerBodyBytes
        self.startedAt = worker.loop.now
        self.spanID = spanID
        self.identity = identity
    }

    /// The upgrade request `context.request` to `proxy`'s upstream. Answers the client itself when the request
    /// cannot be tunnelled (a bad target, a body, no connection could be started).
    static func start(
        _ proxy: ProxyRoute, target: RequestTarget, parameters: [String: [String]], context: ForwardingContext,
        runtime: RuntimeConfig, on connection: ClientConnection, worker: Worker
    ) {
        let head = context.request.head
        let upstream = runtime.config.upstreams[proxy.upstream]
        let pathAndQuery: String
        if let template = proxy.target {
            do {
                let query = try QueryParameters(parsing: target.query)
                pathAndQuery = try template.render(TemplateValues(routeParameters: parameters, query: query))
            } catch {
                connection.respond(.error(status: 400, message: "the request cannot be mapped to the upstream"))
                return
            }
        } else {
            pathAndQuery = target.query.map { "\(target.path)?\($0)" } ?? String(target.path)
        }
        guard let upgrade = head.headers[first: "upgrade"], HeaderLine.isSafeValue(upgrade) else {
            connection.respond(.error(status: 400, message: "the Upgrade header is invalid"))
            return
        }
        let spanID = TraceContext.newSpanID()
        let url = upstream.url(pathAndQuery)
        let resolved = runtime.upstreams[proxy.upstream]
        let contextHeaders = resolved.contextHeaders
        let lines =
            resolved.headerLines + context.passThroughHeaderLines(replacedBy: upstream.headers)
            + context.forwardingHeaderLines(contextHeaders)
            + (contextHeaders.contains(.traceparent) ? context.trace.headerLines(spanID: spanID) : [])
        guard
            let requestHead = TunnelHeads.requestHead(
                method: head.method, url: url, headerLines: lines, upgrade: upgrade)
        else {
            connection.respond(.error(status: 502, message: "the upstream URL has no host"))
            return
        }
        let tunnel = Tunnel(
            worker: worker, connection: connection,
            machine: TunnelStateMachine(idleMilliseconds: proxy.tunnelIdleTimeoutMs, now: worker.loop.now),
            requestHead: requestHead, maxAnswerBodyBytes: runtime.config.limits.maxUpstreamBodyBytes,
            spanID: TraceContext.spanIDHex(spanID), identity: AccessLogCall.Identity(call: 0, upstream: proxy.upstream))
        let partner = TunnelConnection(
            loop: worker.loop, url: url, transport: runtime.upstreams[proxy.upstream].transport,
            connectTimeoutMs: upstream.connectTimeoutMs
        ) { [weak tunnel] code in tunnel?.connected(code) }
        guard let partner else {
            connection.respond(.error(status: 502, message: "upstream call failed: no connection could be started"))
            return
        }
        tunnel.partner = partner
        connection.attach(tunnel)
        tunnel.armTimer(at: tunnel.machine.idleDeadline)
    }

    // MARK: - Before the 101

    private func connected(_ code: CURLcode) {
        guard code == CURLE_OK, let transfer, let socket = transfer.activeSocket else {
            let timedOut = code == CURLE_OPERATION_TIMEDOUT
            let text = transfer?.errorText(code) ?? "no socket"
            refuseClient(
                status: timedOut ? 504 : 502, message: "upstream call failed: \(text)",
                failure: timedOut ? "timeout" : "connection")
            return
        }
        partnerFD = socket
        // libcurl stopped watching it when the transfer completed; watched here from now on.
        if worker.loop.isRegistered(fd: socket) { worker.loop.deregister(fd: socket) }
        worker.loop.register(fd: socket, interest: [.write], handler: self)
        worker.loop.refreshNow()
        if machine.connected(now: worker.loop.now) == .sendRequestHead { writeRequestHead() }
    }

    private func writeRequestHead() {
        guard let transfer else { return }
        while requestHeadSent < requestHead.count {
            let result = requestHead.withUnsafeBytes { bytes in
                transfer.tunnelSend(UnsafeRawBufferPointer(rebasing: bytes[requestHeadSent...]))
            }
            switch result {
            case .moved(let n):
                requestHeadSent += n
            case .wouldBlock:
                worker.loop.setInterest(fd: partnerFD, .write)
                return
            case .ended, .failed:
                refuseClient(
                    status: 502, message: "upstream call failed: the partner closed the connection",
                    failure: "connection")
                return
            }
        }
        worker.loop.setInterest(fd: partnerFD, .read)
        readAnswer()
    }

    private func readAnswer() {
        guard let transfer else { return }
        while true {
            switch transfer.tunnelReceive(into: worker.readBuffer) {
            case .moved(let n):
                answer.append(contentsOf: UnsafeRawBufferPointer(rebasing: worker.readBuffer[0..<n]))
                if refusal == nil {
                    switch TunnelHeads.parseAnswer(answer) {
                    case .needMoreData:
                        continue
                    case .malformed(let reason):
                        refuseClient(status: 502, message: "upstream call failed: \(reason)", failure: "connection")
                        return
                    case .complete(let head):
                        worker.loop.refreshNow()
                        switch machine.answerHead(status: head.status, now: worker.loop.now) {
                        case .openTunnel:
                            open(head)
                            return
                        default:
                            refusal = head
                        }
                    }
                }
                if let refusal, answerBodyComplete(refusal, ended: false) {
                    answerRefusal(refusal)
                    return
                }
            case .wouldBlock:
                return
            case .ended:
                if let refusal {
                    answerRefusal(refusal)
                } else {
                    refuseClient(
                        status: 502, message: "upstream call failed: the partner closed before answering",
                        failure: "connection")
                }
                return
            case .failed(let text):
                refuseClient(status: 502, message: "upstream call failed: \(text)", failure: "connection")
                return
            }
        }
    }

    /// A non-101 answer's body is complete: its `Content-Length` arrived, or it has none and the partner
    /// closed (a chunked body is not passed on: the client gets the status and headers).
    private func answerBodyComplete(_ head: TunnelHeads.AnswerHead, ended: Bool) -> Bool {
        if head.isChunked { return true }
        if let length = head.contentLength { return answer.count - head.length >= length }
        return ended || answer.count - head.length > maxAnswerBodyBytes
    }

    private func answerRefusal(_ head: TunnelHeads.AnswerHead) {
        var body = head.isChunked ? [] : Array(answer[min(head.length, answer.count)...])
        if let length = head.contentLength, body.count > length { body.removeLast(body.count - length) }
        if body.count > maxAnswerBodyBytes { body.removeLast(body.count - maxAnswerBodyBytes) }
        let calls = [call(status: head.status, failure: nil)]
        let connection = self.connection
        finishWithoutTunnel(.refused)
        connection?.respond(
            HTTPResponse(status: head.status, headers: head.fieldsForClient(), body: body), closeConnection: true,
            calls: .entries(calls))
    }

    /// The tunnel cannot be set up: the client is answered `status`.
    private func refuseClient(status: Int, message: String, failure: String) {
        let calls = [call(status: nil, failure: failure)]
        let connection = self.connection
        finishWithoutTunnel(.partnerError)
        connection?.respond(.error(status: status, message: message), closeConnection: true, calls: .entries(calls))
    }

    private func call(status: Int?, failure: String?) -> AccessLogCall {
        worker.loop.refreshNow()
        return AccessLogCall(
            name: "proxy", identity: identity, status: status,
            durationMs: Double(worker.loop.now &- startedAt) / 1_000_000,
            failure: failure, spanID: spanID, httpVersion: status == nil ? nil : "1.1")
    }

    private func finishWithoutTunnel(_ reason: TunnelStateMachine.EndReason) {
        _ = machine.failed(reason)
        releasePartner()
        cancelTimer()
        connection = nil
    }

    // MARK: - Exchange (before the 101)

    func cancel() {
        guard !machine.isOpen else { return }
        finishWithoutTunnel(.clientError)
    }

    func abandon() -> [AccessLogCall] {
        guard !machine.isClosed else { return [] }
        var call = call(status: nil, failure: nil)
        call.cancelled = true
        cancel()
        return [call]
    }

    // MARK: - The open tunnel

    private func open(_ head: TunnelHeads.AnswerHead) {
        guard let connection, let handed = connection.handOverToTunnel() else {
            finishWithoutTunnel(.clientError)
            return
        }
        self.connection = nil
        clientFD = handed.fd
        record = handed.record
        worker.adopt(self)
        worker.metrics.tunnelsOpened &+= 1
        worker.loop.register(fd: clientFD, interest: [], handler: self)
        let switching = head.switchingProtocolsHead()
        switching.withUnsafeBytes { toClient.append($0) }
        let early = answer.count - head.length
        if early > 0 {
            answer.withUnsafeBytes { toClient.append(UnsafeRawBufferPointer(rebasing: $0[head.length...])) }
            bytesDown &+= UInt64(early)
            worker.metrics.tunnelBytesDown &+= UInt64(early)
        }
        answer = []
        machine.read(switching.count + early, .partnerToClient, now: worker.loop.now)
        if !handed.input.isEmpty {
            handed.input.withUnsafeBytes { toPartner.append($0) }
            bytesUp &+= UInt64(handed.input.count)
            worker.metrics.tunnelBytesUp &+= UInt64(handed.input.count)
            machine.read(handed.input.count, .clientToPartner, now: worker.loop.now)
        }
        if worker.draining {
            end(machine.drain())
            return
        }
        handlingEvent = true
        pump(.partnerToClient)
        pump(.clientToPartner)
        handlingEvent = false
        settle()
    }

    func handleEvent(fd: Int32, events: UInt32) {
        let readable = events & (Interest.read.rawValue | Interest.hangup.rawValue | Interest.error.rawValue) != 0
        let writable = events & Interest.write.rawValue != 0
        if !machine.isOpen {
            guard fd == partnerFD, !machine.isClosed else { return }
            if writable && requestHeadSent < requestHead.count {
                writeRequestHead()
            } else if readable {
                readAnswer()
            }
            return
        }
        worker.loop.refreshNow()
        handlingEvent = true
        let (outgoing, incoming): (TunnelStateMachine.Direction, TunnelStateMachine.Direction) =
            fd == clientFD ? (.partnerToClient, .clientToPartner) : (.clientToPartner, .partnerToClient)
        if events & Interest.error.rawValue != 0 {
            carryOut(machine.failed(fd == clientFD ? .clientError : .partnerError))
        } else {
            if writable { pump(outgoing) }
            if readable { pump(incoming) }
        }
        if events & Interest.hangup.rawValue != 0, !machine.isClosed {
            // Both halves of this socket are shut. Not by us: the peer reset it. By both: it is done here, and
            // level-triggered HUP would fire again and again.
            if machine.half(outgoing)?.writeShut != true {
                carryOut(machine.failed(fd == clientFD ? .clientError : .partnerError))
            } else if machine.half(incoming)?.readEnded == true, worker.loop.isRegistered(fd: fd) {
                worker.loop.deregister(fd: fd)
            }
        }
        handlingEvent = false
        settle()
    }

    /// Moves `direction`'s bytes: writes what waits, then reads and writes while the receiver takes them.
    private func pump(_ direction: TunnelStateMachine.Direction) {
        while !machine.isClosed {
            if !write(direction) { return }
            guard machine.mayRead(direction) else { return }
            guard read(direction) else { return }
        }
    }

    /// Writes what waits in `direction`'s window; true when it is empty afterwards.
    private func write(_ direction: TunnelStateMachine.Direction) -> Bool {
        let toClientSide = direction == .partnerToClient
        while true {
            let window = toClientSide ? toClient : toPartner
            if window.isEmpty { return true }
            let result: CurlTransfer.TunnelIO = window.bytes.withUnsafeBytes { all in
                let bytes = UnsafeRawBufferPointer(rebasing: all[window.offset...])
                if toClientSide {
                    do {
                        switch try Socket.send(clientFD, bytes) {
                        case .processed(let n): return .moved(n)
                        case .wouldBlock: return .wouldBlock
                        }
                    } catch {
                        return .failed("\(error)")
                    }
                }
                return transfer?.tunnelSend(bytes) ?? .failed("no partner")
            }
            switch result {
            case .moved(let n):
                if toClientSide { toClient.offset += n } else { toPartner.offset += n }
                carryOut(machine.wrote(n, direction, now: worker.loop.now))
                if machine.isClosed { return false }
            case .wouldBlock:
                return false
            case .ended, .failed:
                carryOut(machine.failed(toClientSide ? .clientError : .partnerError))
                return false
            }
        }
    }

    /// One read from `direction`'s sender; true when bytes came (and wait in the window).
    private func read(_ direction: TunnelStateMachine.Direction) -> Bool {
        let fromClient = direction == .clientToPartner
        let result: CurlTransfer.TunnelIO
        if fromClient {
            do {
                switch try Socket.read(clientFD, into: worker.readBuffer) {
                case .processed(0): result = .ended
                case .processed(let n): result = .moved(n)
                case .wouldBlock: result = .wouldBlock
                }
            } catch {
                result = .failed("\(error)")
            }
        } else {
            result = transfer?.tunnelReceive(into: worker.readBuffer) ?? .failed("no partner")
        }
        switch result {
        case .moved(let n):
            let bytes = UnsafeRawBufferPointer(rebasing: worker.readBuffer[0..<n])
            if fromClient {
                toPartner.append(bytes)
                bytesUp &+= UInt64(n)
                worker.metrics.tunnelBytesUp &+= UInt64(n)
            } else {
                toClient.append(bytes)
                bytesDown &+= UInt64(n)
                worker.metrics.tunnelBytesDown &+= UInt64(n)
            }
            machine.read(n, direction, now: worker.loop.now)
            return true
        case .wouldBlock:
            return false
        case .ended:
            carryOut(machine.readEnded(direction, now: worker.loop.now))
            return false
        case .failed:
            carryOut(machine.failed(fromClient ? .clientError : .partnerError))
            return false
        }
    }

    private func carryOut(_ action: TunnelStateMachine.Action) {
        switch action {
        case .shutdownWrite(let direction):
            if direction == .partnerToClient {
                Socket.shutdownWrite(clientFD)
            } else if partnerFD >= 0 {
                Socket.shutdownWrite(partnerFD)
            }
        case .close(let reason):
            if !handlingEvent { end(.close(reason)) }
        case .checkIdleAt(let at):
            armTimer(at: at)
        case .none, .sendRequestHead, .openTunnel, .answerClient:
            break
        }
    }

    /// After an event: ends a closed tunnel, or asks epoll for what each side may do now.
    private func settle() {
        if case .closed(let reason) = machine.state {
            end(.close(reason))
            return
        }
        var clientInterest: Interest = []
        var partnerInterest: Interest = []
        if !toClient.isEmpty { clientInterest.insert(.write) }
        if !toPartner.isEmpty { partnerInterest.insert(.write) }
        if machine.mayRead(.clientToPartner) { clientInterest.insert(.read) }
        if machine.mayRead(.partnerToClient) { partnerInterest.insert(.read) }
        if worker.loop.isRegistered(fd: clientFD) { worker.loop.setInterest(fd: clientFD, clientInterest) }
        if worker.loop.isRegistered(fd: partnerFD) { worker.loop.setInterest(fd: partnerFD, partnerInterest) }
    }

    /// The server drains: the tunnel closes now.
    func drain() {
        end(machine.drain())
    }

    /// Closes both sockets and writes the tunnel's access-log line. Idempotent.
    private func end(_ action: TunnelStateMachine.Action) {
        guard clientFD >= 0 else { return }
        let reason: TunnelStateMachine.EndReason
        if case .close(let why) = action {
            reason = why
        } else if case .closed(let why) = machine.state {
            reason = why
        } else {
            return
        }
        if worker.loop.isRegistered(fd: clientFD) { worker.loop.deregister(fd: clientFD) }
        closeDescriptor(clientFD)
        clientFD = -1
        releasePartner()
        cancelTimer()
        finishRecord(reason)
        worker.forget(self)
    }

    private func releasePartner() {
        if partnerFD >= 0, worker.loop.isRegistered(fd: partnerFD) { worker.loop.deregister(fd: partnerFD) }
        partnerFD = -1
        partner?.close()
        partner = nil
    }

    /// Finishes the request's record: status 101, its one call, and what the tunnel passed on.
    private func finishRecord(_ reason: TunnelStateMachine.EndReason) {
        guard let record else { return }
        self.record = nil
        record.finish(
            status: 101, calls: .entries([call(status: 101, failure: nil)]), clientAbort: nil,
            tunnel: AccessLogLine.Tunnel(bytesUp: bytesUp, bytesDown: bytesDown, end: reason.rawValue), worker: worker)
    }

    // MARK: - Idle timeout

    private func armTimer(at deadline: UInt64) {
        cancelTimer()
        timer = worker.loop.schedule(at: deadline) { [weak self] in
            guard let self else { return }
            self.timer = nil
            self.worker.loop.refreshNow()
            let action = self.machine.idleTimerFired(now: self.worker.loop.now)
            if case .close = action {
                if self.machine.isOpen || self.clientFD >= 0 {
                    self.end(action)
                } else {
                    self.refuseClient(
                        status: 504, message: "upstream call failed: no answer within tunnel_idle_timeout",
                        failure: "timeout")
                }
                return
            }
            self.carryOut(action)
        }
    }

    private func cancelTimer() {
        if let timer { worker.loop.cancel(timer) }
        timer = nil
    }
}
