import CFanoutLinux
import FanoutCore
import Glibc

/// Why a store command has no answer. None of them fails a request: the caller goes on without the store.
enum StoreFailure: Error, Equatable, Sendable {
    /// No connection ready (connecting, or waiting to reconnect): refused at once, nothing sent.
    case unavailable
    /// No answer within the command's budget (the answer, when it comes, is dropped).
    case timedOut
    /// The connection ended before the answer came.
    case connectionLost
    /// The store answered with an error reply (`-ERR …`, `-WRONGTYPE …`).
    case errorReply(String)
}

/// Counters of one worker's store client, read by `Worker.metricsSnapshot()` on the loop thread.
struct StoreClientCounters {
    /// Commands answered by the store (round trips, pipelined or not).
    var roundTrips: UInt64 = 0
    /// Commands that failed: by ``StoreFailure`` case name (`unavailable`, `timed_out`, `connection_lost`,
    /// `error_reply`).
    var failures: [String: UInt64] = [:]
    /// State changes: `connected`, `unavailable`, `reconnected`.
    var stateChanges: [String: UInt64] = [:]
}

/// One worker's connection to the shared store (Redis or Valkey), a RESP2 client on the worker's own
/// `EventLoop`: non-blocking connect, pipelined commands (every command sent during one loop iteration goes
/// out in one `send`), answers matched in order, a deadline per command, and reconnection with backoff
/// (``StoreBackoff``: at most 500 ms between attempts). With `tls on`, a TLS handshake (``TLSConnection``, on
/// the same loop) follows the TCP connect, and every byte goes through it. `AUTH` and `SELECT` go first on every
/// connection.
///
/// State changes are logged once each (``StoreHealth``): a store that stays down logs one line, not one per
/// attempt. While the store is not ready, ``send(_:budget:completion:)`` refuses at once: a caller never
/// waits longer than its budget.
///
/// Used on its loop thread only. A second connection in subscriber mode is opened on the first
/// ``subscribe(channel:onMessage:)`` (a subscribed connection takes no other command).
final class StoreClient: EventHandler {
    typealias Completion = (Result<RESPValue, StoreFailure>) -> Void

    let loop: EventLoop
    let settings: StoreSettings
    private let address: SocketAddress?
    private let label: String
    private let subscriberMode: Bool
    private var fd: Int32 = -1
    private enum Phase {
        /// Waiting for the next attempt.
        case waiting
        case connecting
        /// TCP connected; the TLS handshake is under way (`tls on`).
        case tlsHandshaking
        /// Connected; `AUTH` / `SELECT` answers outstanding.
        case handshaking(remaining: Int)
        case ready
        case closed
    }
    private var phase = Phase.waiting
    private var parser = RESPParser()
    private var output: [UInt8] = []
    private var flushScheduled = false
    private var writeBlocked = false
    /// `tls on`: the configuration every connection of this client uses (shared with its subscriber), or why
    /// it could not be made (each attempt then fails with that reason).
    private let tlsContext: Result<TLSClientContext, TLSSetupError>?
    /// The TLS session of the current connection; released before its socket is closed.
    private var tls: TLSConnection?
    /// A TLS read asked for the socket to be writable (a TLS 1.3 key update): write interest until it is.
    private var readWantsWrite = false

    private struct Pending {
        /// nil once answered by its timer (the reply is still awaited, and dropped).
        var completion: Completion?
        var timer: TimerID?
        var sentAt: UInt64
        /// `AUTH`, `SELECT` (or, with TLS, `PING`) of the handshake.
        var isHandshake = false
    }
    /// Commands sent and not answered, oldest first (from `pendingHead`).
    private var pending: [Pending] = []
    private var pendingHead = 0
    private var health = StoreHealth()
    private var backoff = StoreBackoff()
    private var connectTimer: TimerID?
    private var retryTimer: TimerID?
    private let readBuffer: UnsafeMutableRawBufferPointer
    private(set) var counters = StoreClientCounters()
    /// Why the connection last became unavailable (the reason of its log line).
    private(set) var lastUnavailableReason: String?
    /// Subscriber mode: the handlers by channel.
    private var channels: [String: ([UInt8]) -> Void] = [:]
    private var subscriber: StoreClient?

    /// Commands waiting for an answer beyond which new ones are refused (`unavailable`): a store that stopped
    /// answering does not grow the queue without bound.
    static let maxPending = 10_000

    /// Starts connecting at once.
    /// - Parameter label: names the connection in log lines (`store 127.0.0.1:6379 worker 0`).
    init(loop: EventLoop, settings: StoreSettings, label: String, subscriberMode: Bool = false) {
        self.loop = loop
        self.settings = settings
        self.label = label
        self.subscriberMode = subscriberMode
        tlsContext = Self.makeTLSContext(settings)
        address = SocketAddress(host: settings.address.host, port: settings.address.port)
        readBuffer = .allocate(byteCount: 16 * 1024, alignment: 16)
        connect()
    }

    /// The subscriber connection of `parent`: same settings and TLS configuration (the files are read once).
    private init(subscriberOf parent: StoreClient) {
        loop = parent.loop
        settings = parent.settings
        label = parent.label + " (subscriber)"
        subscriberMode = true
        tlsContext = parent.tlsContext
        address = SocketAddress(host: settings.address.host, port: settings.address.port)
        readBuffer = .allocate(byteCount: 16 * 1024, alignment: 16)
        connect()
    }

    deinit {
        readBuffer.deallocate()
    }

    /// The connection is ready: a command sent now is written at the end of this loop iteration.
    var isAvailable: Bool {
        if case .ready = phase { return true }
        return false
    }

    /// Sends `command` (name and arguments) and runs `completion` on the loop thread with the answer, or with a
    /// ``StoreFailure`` once `budget` (default `command_timeout`) has passed without one. An error reply comes
    /// as `.failure(.errorReply)`. When the store is not ready, `completion` runs before this returns, with
    /// `.unavailable`.
    func send(_ command: [String], budget: Duration? = nil, completion: @escaping Completion) {
        var bytes: [UInt8] = []
        RESPEncoder.append(command, to: &bytes)
        send(encoded: bytes, budget: budget, completion: completion)
    }

    /// ``send(_:budget:completion:)`` with arguments as bytes (a cache entry's value).
    func send(bytes command: [[UInt8]], budget: Duration? = nil, completion: @escaping Completion) {
        var bytes: [UInt8] = []
        RESPEncoder.append(command, to: &bytes)
        send(encoded: bytes, budget: budget, completion: completion)
    }

    private func send(encoded: [UInt8], budget: Duration?, completion: @escaping Completion) {
        guard isAvailable, !subscriberMode, pending.count - pendingHead < Self.maxPending else {
            fail(completion, .unavailable)
            return
        }
        let budgetMs = budget.map(Self.milliseconds) ?? settings.commandTimeoutMs
        let index = pending.count
        let timer = loop.schedule(afterMilliseconds: budgetMs) { [weak self] in self?.commandTimedOut(index) }
        pending.append(Pending(completion: completion, timer: timer, sentAt: loop.now))
        enqueue(encoded)
    }

    /// Runs `onMessage` with the payload of every message published on `channel`, on the loop thread, from a
    /// second connection (subscribed again after every reconnect). Messages published while it is down are lost.
    func subscribe(channel: String, onMessage: @escaping ([UInt8]) -> Void) {
        if subscriberMode {
            channels[channel] = onMessage
            if isAvailable { enqueue(RESPEncoder.encode(["SUBSCRIBE", channel])) }
            return
        }
        if subscriber == nil {
            subscriber = StoreClient(subscriberOf: self)
        }
        subscriber?.subscribe(channel: channel, onMessage: onMessage)
    }

    /// Closes the connection; commands waiting get `.connectionLost`. Call on the loop thread when the worker
    /// stops.
    func close() {
        subscriber?.close()
        subscriber = nil
        tearDown()
        if let retryTimer { loop.cancel(retryTimer) }
        retryTimer = nil
        phase = .closed
        failPending(.connectionLost)
    }

    // MARK: - Connecting

    /// `tls on`: the TLS configuration (reads `tls_ca`, `tls_cert`, `tls_key`); nil without TLS.
    private static func makeTLSContext(_ settings: StoreSettings) -> Result<TLSClientContext, TLSSetupError>? {
        guard settings.tls else { return nil }
        return Result { () throws(TLSSetupError) in
            try TLSClientContext(
                caFile: settings.tlsCA, certificateFile: settings.tlsCertificate, keyFile: settings.tlsKey)
        }
    }

    private func connect() {
        retryTimer = nil
        guard case .waiting = phase else { return }
        guard let address else {
            connectionFailed("address \(settings.address.host) is not an IP address")
            return
        }
        let socket = Glibc.socket(
            address.family, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_NONBLOCK.rawValue) | Int32(SOCK_CLOEXEC.rawValue),
            0)
        guard socket >= 0 else {
            connectionFailed("socket: \(SystemError(call: "socket", errno: errno))")
            return
        }
        try? Socket.setOption(socket, Int32(IPPROTO_TCP), TCP_NODELAY, 1)
        let result =
            (try? address.withSockAddr { (pointer, length) throws(SystemError) in
                Glibc.connect(socket, pointer, length) == 0 ? 0 : errno
            }) ?? EINVAL
        guard result == 0 || result == EINPROGRESS || result == EINTR else {
            closeDescriptor(socket)
            connectionFailed(SystemError(call: "connect", errno: result).description)
            return
        }
        fd = socket
        phase = .connecting
        loop.register(fd: fd, interest: .write, handler: self)
        connectTimer = loop.schedule(afterMilliseconds: settings.connectTimeoutMs) { [weak self] in
            guard let self else { return }
            switch self.phase {
            case .connecting:
                self.connectionFailed("no connection within \(self.settings.connectTimeoutMs) ms")
            case .tlsHandshaking:
                self.connectionFailed("no TLS handshake within \(self.settings.connectTimeoutMs) ms")
            default:
                return
            }
        }
    }

    /// The socket is connected: with `tls on`, the TLS handshake starts (within the same `connect_timeout`);
    /// without, the connection goes on to `AUTH` and `SELECT`.
    private func socketConnected() {
        guard let tlsContext else {
            connected()
            flush()
            return
        }
        let context: TLSClientContext
        switch tlsContext {
        case .success(let made): context = made
        case .failure(let error):
            connectionFailed("TLS: \(error)")
            return
        }
        do {
            tls = try TLSConnection(
                context: context, fd: fd, serverName: settings.tlsServerName ?? settings.address.host)
        } catch {
            connectionFailed("TLS: \(error)")
            return
        }
        phase = .tlsHandshaking
        continueHandshake()
    }

    /// One step of the TLS handshake; the next one runs when the socket is ready for it.
    private func continueHandshake() {
        guard let tls else { return }
        switch tls.handshake() {
        case .done:
            connected()
            flush()
        case .wantsRead: loop.setInterest(fd: fd, .read)
        case .wantsWrite: loop.setInterest(fd: fd, .write)
        case .closed: connectionFailed("TLS handshake: the store closed the connection")
        case .failed(let reason): connectionFailed(reason)
        }
    }

    /// The socket is connected: `AUTH` and `SELECT` (or a `PING`) go first; the connection is ready when they
    /// are answered.
    private func connected() {
        if let connectTimer { loop.cancel(connectTimer) }
        connectTimer = nil
        var handshake: [[String]] = []
        if let password = settings.password {
            handshake.append(settings.user.map { ["AUTH", $0, password] } ?? ["AUTH", password])
        }
        if settings.database != 0 { handshake.append(["SELECT", String(settings.database)]) }
        // The connection is ready only once the store answered something: the kernel completes the TCP
        // handshake of a store that is frozen or swamped, and TLS 1.3 completes the client's handshake before
        // the server checks the client's certificate (`tls-auth-clients`). Without AUTH or SELECT, a PING.
        if handshake.isEmpty { handshake.append(["PING"]) }
        loop.setInterest(fd: fd, .read)
        phase = .handshaking(remaining: handshake.count)
        for command in handshake {
            pending.append(Pending(completion: nil, timer: nil, sentAt: loop.now, isHandshake: true))
            enqueue(RESPEncoder.encode(command))
        }
        connectTimer = loop.schedule(afterMilliseconds: settings.connectTimeoutMs) { [weak self] in
            guard let self, case .handshaking = self.phase else { return }
            self.connectTimer = nil
            self.connectionFailed("no answer to AUTH/SELECT/PING within \(self.settings.connectTimeoutMs) ms")
        }
    }

    private func becameReady() {
        if let connectTimer { loop.cancel(connectTimer) }
        connectTimer = nil
        phase = .ready
        backoff.connected()
        if let change = health.ready(now: loop.now) { report(change) }
        if subscriberMode {
            for channel in channels.keys.sorted() { enqueue(RESPEncoder.encode(["SUBSCRIBE", channel])) }
        }
    }

    /// Closes the connection (if any), fails what waits on it, and schedules the next attempt.
    private func connectionFailed(_ reason: String) {
        guard !isClosed else { return }
        tearDown()
        // Before the completions run: one that sends again is refused, not queued for the next connection.
        phase = .waiting
        failPending(.connectionLost)
        if let change = health.failed(reason: reason, now: loop.now) { report(change) }
        let delay = backoff.failed()
        retryTimer = loop.schedule(afterMilliseconds: delay) { [weak self] in self?.connect() }
    }

    private var isClosed: Bool {
        if case .closed = phase { return true }
        return false
    }

    private func tearDown() {
        if let connectTimer { loop.cancel(connectTimer) }
        connectTimer = nil
        tls = nil
        if fd >= 0 {
            loop.deregister(fd: fd)
            closeDescriptor(fd)
            fd = -1
        }
        parser = RESPParser()
        output.removeAll(keepingCapacity: true)
        writeBlocked = false
        readWantsWrite = false
    }

    private func report(_ change: StoreHealth.Change) {
        switch change {
        case .connected:
            counters.stateChanges["connected", default: 0] &+= 1
            ErrorLog.write("\(label): connected")
        case .unavailable(let reason):
            counters.stateChanges["unavailable", default: 0] &+= 1
            lastUnavailableReason = reason
            ErrorLog.write("\(label): unavailable (\(reason)); calls go on without it, reconnecting")
        case .reconnected(let afterMs):
            counters.stateChanges["reconnected", default: 0] &+= 1
            ErrorLog.write("\(label): reconnected after \(afterMs) ms")
        }
    }

    // MARK: - Commands

    private func fail(_ completion: Completion, _ failure: StoreFailure) {
        counters.failures[Self.name(of: failure), default: 0] &+= 1
        completion(.failure(failure))
    }

    private func failPending(_ failure: StoreFailure) {
        let waiting = pending[pendingHead...]
        pending.removeAll()
        pendingHead = 0
        for entry in waiting {
            if let timer = entry.timer { loop.cancel(timer) }
            if let completion = entry.completion { fail(completion, failure) }
        }
    }

    /// A command's budget ran out: its caller goes on; the answer, when it comes, is dropped. A store that has
    /// not answered the oldest command for `connect_timeout` is taken for gone: the connection is closed.
    private func commandTimedOut(_ index: Int) {
        guard index >= pendingHead, index < pending.count, let completion = pending[index].completion else { return }
        pending[index].completion = nil
        pending[index].timer = nil
        fail(completion, .timedOut)
        let oldest = pending[pendingHead].sentAt
        if loop.now &- oldest > UInt64(settings.connectTimeoutMs) &* 1_000_000 {
            connectionFailed("no answer for \(settings.connectTimeoutMs) ms")
        }
    }

    private func answered(_ value: RESPValue) {
        if subscriberMode, case .array(let parts) = value, parts.count == 3, parts[0].text == "message" {
            if let channel = parts[1].text, let handler = channels[channel], let payload = parts[2].bytes {
                handler(payload)
            }
            return
        }
        if subscriberMode, case .array(let parts) = value, let kind = parts.first?.text,
            kind == "subscribe" || kind == "unsubscribe"
        {
            return
        }
        guard pendingHead < pending.count else {
            connectionFailed("an answer to no command")
            return
        }
        let entry = pending[pendingHead]
        pendingHead += 1
        if pendingHead == pending.count {
            pending.removeAll(keepingCapacity: true)
            pendingHead = 0
        }
        // Timers hold absolute indices: the array is emptied only when nothing waits (every answer in).
        if entry.isHandshake {
            if case .error(let message) = value {
                connectionFailed("handshake refused: \(message)")
                return
            }
            if case .handshaking(let remaining) = phase {
                if remaining <= 1 { becameReady() } else { phase = .handshaking(remaining: remaining - 1) }
            }
            return
        }
        counters.roundTrips &+= 1
        if let timer = entry.timer { loop.cancel(timer) }
        guard let completion = entry.completion else { return }
        if case .error(let message) = value {
            fail(completion, .errorReply(message))
        } else {
            completion(.success(value))
        }
    }

    // MARK: - I/O

    private func enqueue(_ bytes: [UInt8]) {
        output.append(contentsOf: bytes)
        guard !flushScheduled, !writeBlocked else { return }
        flushScheduled = true
        loop.schedule(afterMilliseconds: 0) { [weak self] in
            guard let self else { return }
            self.flushScheduled = false
            self.flush()
        }
    }

    /// What one write or read on the connection (plain or TLS) came to.
    private enum Transfer {
        case processed(Int)
        /// Again when the socket is writable (`wantsRead`: readable, a TLS session's need).
        case wouldBlock(wantsRead: Bool)
        case closed
        case failed(String)
    }

    private func write(_ bytes: UnsafeRawBufferPointer) -> Transfer {
        if let tls {
            switch tls.write(bytes) {
            case .done(let n): return .processed(n)
            case .wantsWrite: return .wouldBlock(wantsRead: false)
            case .wantsRead: return .wouldBlock(wantsRead: true)
            case .closed: return .closed
            case .failed(let reason): return .failed(reason)
            }
        }
        switch Result(catching: { () throws(SystemError) in try Socket.send(fd, bytes) }) {
        case .success(.processed(let n)): return .processed(n)
        case .success(.wouldBlock): return .wouldBlock(wantsRead: false)
        case .failure(let error): return .failed("send: \(error)")
        }
    }

    private func read(into buffer: UnsafeMutableRawBufferPointer) -> Transfer {
        if let tls {
            switch tls.read(into: buffer) {
            case .done(let n): return .processed(n)
            case .wantsRead: return .wouldBlock(wantsRead: true)
            case .wantsWrite: return .wouldBlock(wantsRead: false)
            case .closed: return .closed
            case .failed(let reason): return .failed(reason)
            }
        }
        switch Result(catching: { () throws(SystemError) in try Socket.read(fd, into: buffer) }) {
        case .success(.processed(0)): return .closed
        case .success(.processed(let n)): return .processed(n)
        case .success(.wouldBlock): return .wouldBlock(wantsRead: true)
        case .failure(let error): return .failed("read: \(error)")
        }
    }

    /// The connection broke while reading or writing. A TLS connection without a client certificate that the
    /// store drops before its first answer was most likely refused for that (TLS 1.3 reports it after the
    /// handshake, and the alert is often lost to the reset): the reason says so.
    private func transportFailed(_ reason: String) {
        if case .handshaking = phase, tls != nil, settings.tlsCertificate == nil {
            connectionFailed(reason + " before its first answer; does it require a client certificate (tls_cert)?")
        } else {
            connectionFailed(reason)
        }
    }

    /// The interest the connection needs now: read always, write while output or a TLS read waits for it.
    private func updateInterest(writeWanted: Bool) {
        loop.setInterest(fd: fd, writeWanted ? [.read, .write] : .read)
    }

    private func flush() {
        guard fd >= 0, !output.isEmpty else { return }
        switch phase {
        case .connecting, .tlsHandshaking: return
        default: break
        }
        var sent = 0
        while sent < output.count {
            let result = output.withUnsafeBytes { bytes in write(UnsafeRawBufferPointer(rebasing: bytes[sent...])) }
            switch result {
            case .processed(let n): sent += n
            case .wouldBlock(let wantsRead):
                output.removeFirst(sent)
                writeBlocked = true
                // A TLS write that needs to read first is retried on the next readable event.
                updateInterest(writeWanted: !wantsRead || readWantsWrite)
                return
            case .closed:
                transportFailed("the store closed the connection")
                return
            case .failed(let reason):
                transportFailed(reason)
                return
            }
        }
        output.removeAll(keepingCapacity: true)
        writeBlocked = false
        // Always (a no-op when unchanged): the writable event that led here cleared `writeBlocked` first, and a
        // write interest left on a level-triggered loop would wake it at once, forever.
        updateInterest(writeWanted: readWantsWrite)
    }

    func handleEvent(fd: Int32, events: UInt32) {
        guard fd == self.fd else { return }
        if case .connecting = phase {
            var code: Int32 = 0
            var length = socklen_t(MemoryLayout<Int32>.size)
            _ = getsockopt(fd, SOL_SOCKET, SO_ERROR, &code, &length)
            if code != 0 || events & Interest.error.rawValue != 0 {
                connectionFailed("connect: \(SystemError(call: "connect", errno: code == 0 ? ECONNREFUSED : code))")
                return
            }
            socketConnected()
            return
        }
        if case .tlsHandshaking = phase {
            continueHandshake()
            return
        }
        if tls != nil {
            // A TLS session may want either direction for either operation: try both on any event.
            if readWantsWrite {
                readWantsWrite = false
                updateInterest(writeWanted: writeBlocked)
            }
            writeBlocked = false
            flush()
            guard self.fd == fd else { return }
            readAvailable()
            return
        }
        if events & Interest.write.rawValue != 0 {
            writeBlocked = false
            flush()
            guard self.fd == fd else { return }
        }
        if events & (Interest.read.rawValue | Interest.hangup.rawValue | Interest.error.rawValue) != 0 {
            readAvailable()
        }
    }

    private func readAvailable() {
        while fd >= 0 {
            switch read(into: readBuffer) {
            case .wouldBlock(let wantsRead):
                if !wantsRead {
                    readWantsWrite = true
                    updateInterest(writeWanted: true)
                }
                return
            case .closed:
                transportFailed("the store closed the connection")
                return
            case .failed(let reason):
                transportFailed(reason)
                return
            case .processed(let n):
                parser.append(UnsafeRawBufferPointer(rebasing: readBuffer[0..<n]))
                while fd >= 0 {
                    let value: RESPValue?
                    do {
                        value = try parser.next()
                    } catch {
                        connectionFailed("not RESP: \(error)")
                        return
                    }
                    guard let value else { break }
                    answered(value)
                }
                // A TLS session may hold decrypted bytes the socket no longer signals: read until it wants more.
                if n < readBuffer.count, tls == nil { return }
            }
        }
    }

    // MARK: - Helpers

    private static func name(of failure: StoreFailure) -> String {
        switch failure {
        case .unavailable: return "unavailable"
        case .timedOut: return "timed_out"
        case .connectionLost: return "connection_lost"
        case .errorReply: return "error_reply"
        }
    }

    /// A budget in whole milliseconds, rounded up, at least 1.
    static func milliseconds(_ duration: Duration) -> Int {
        let (seconds, attoseconds) = duration.components
        let ms = seconds * 1000 + (attoseconds + 999_999_999_999_999) / 1_000_000_000_000_000
        return Int(max(1, min(ms, 3_600_000)))
    }
}
