import CCurl
import FanoutCore
import Glibc
import Synchronization

/// Why the server could not start.
public enum ServerStartError: Error, CustomStringConvertible {
    case curlInitFailed
    /// A `listen` or `admin_listen` host that is not an IP literal.
    case notAnIPAddress(directive: String, host: String, port: UInt16)
    /// Addresses that could not be listened on: every one that failed, since all are tried before giving up.
    case cannotListen([ListenFailure])

    public var description: String {
        switch self {
        case .curlInitFailed:
            return "curl_global_init failed"
        case .notAnIPAddress(let directive, let host, let port):
            return "\(directive) \(host):\(port): not an IP address"
        case .cannotListen(let failures):
            var text = failures.map(\.description).joined(separator: "; ")
            if failures.contains(where: \.isAddressInUse) {
                text += " (another process listens there: is fanout already running? Stop it or choose another address)"
            }
            return text
        }
    }
}

/// One address the server could not listen on.
public struct ListenFailure: Sendable, CustomStringConvertible {
    /// `listen` or `admin_listen`.
    public var directive: String
    /// The address as tried, like `127.0.0.1:8080`.
    public var address: String
    public var error: SystemError

    /// Another socket already listens on the address (`EADDRINUSE`).
    public var isAddressInUse: Bool { error.errno == EADDRINUSE }

    public var description: String {
        isAddressInUse ? "\(directive) \(address): address in use" : "\(directive) \(address): \(error)"
    }
}

/// What a configuration reload did.
public struct ReloadSummary: Sendable, Equatable {
    /// Routes now served.
    public var routeCount: Int
    /// Settings the new file changes that only a restart applies (`listen`, `admin_listen`, `workers`,
    /// `access_log`); the running values were kept.
    public var needRestart: [String]
}

/// fanout's server: N workers, each a thread with its own event loop, listening sockets and libcurl multi
/// handle. Each `listen` address has one socket per worker in one SO_REUSEPORT group, so the kernel spreads
/// connections across workers; the group's first socket claims the address alone (``Socket/PortSharing/claim``),
/// so a second fanout on the same address fails to start with `address in use` instead of sharing it, unless
/// it is started with `reusePort` (`serve --reuse-port`), which joins the running one's group on purpose.
///
/// ``reload(_:)`` replaces the configuration while serving: each worker installs the new one on its own
/// loop thread; requests in flight finish with the one they were dispatched with.
public final class FanoutServer: @unchecked Sendable {
    /// The configuration in force: the one started with, or the last one reloaded (with the restart-only
    /// settings of the running process).
    public var config: FanoutConfig { current.withLock { $0.config } }
    /// The port actually bound for each `listen` address (useful with port 0).
    public private(set) var ports: [UInt16] = []
    /// The port actually bound for `admin_listen`, nil when it is off.
    public private(set) var adminPort: UInt16?
    public let workerCount: Int
    /// Join the SO_REUSEPORT groups already listening on the addresses (another process's) instead of
    /// claiming them alone: a deliberate handover, `serve --reuse-port`.
    public let reusePort: Bool
    private var workers: [Worker] = []
    private var threads: [OSThread] = []
    private let accessLog: (any AccessLogSink)?
    /// Serializes ``reload(_:)`` and ``shutdown(graceMs:)``.
    private let lifecycleLock = Mutex(())
    /// The installed configuration, with the process's numberings of admission slots and fixed URLs.
    private let current: Mutex<(config: FanoutConfig, slots: AdmissionSlots, fixedURLs: FixedURLNumbers)>

    private static let curlReady: Bool = curl_global_init(Int(CURL_GLOBAL_DEFAULT)) == CURLE_OK

    /// - Parameter reusePort: share the listen and admin addresses with a process already listening there
    ///   (``reusePort``); by default a taken address fails ``start()``.
    public init(config: FanoutConfig, accessLog: (any AccessLogSink)?, reusePort: Bool = false) {
        current = Mutex((config: config, slots: AdmissionSlots(), fixedURLs: FixedURLNumbers()))
        self.accessLog = accessLog
        self.reusePort = reusePort
        switch config.workers {
        case .auto: workerCount = CPUCount.usable()
        case .fixed(let n): workerCount = max(1, n)
        }
    }

    /// Opens every listen address (one socket per worker) and the admin address, then starts the worker
    /// threads. Tries every address before failing, so ``ServerStartError/cannotListen(_:)`` names each one
    /// that is taken.
    public func start() throws {
        guard FanoutServer.curlReady else { throw ServerStartError.curlInitFailed }
        let config = self.config
        var perWorkerFDs = Array(repeating: [Int32](), count: workerCount)
        var adminFD: Int32?
        var failures: [ListenFailure] = []
        do {
            for address in config.listen {
                let socketAddress = try Self.socketAddress(address, directive: "listen")
                do {
                    let group = try openGroup(socketAddress)
                    for (worker, fd) in group.enumerated() { perWorkerFDs[worker].append(fd) }
                    ports.append(try Socket.localAddress(group[0])?.port ?? address.port)
                } catch {
                    failures.append(ListenFailure(directive: "listen", address: "\(socketAddress)", error: error))
                }
            }
            if let address = config.adminListen {
                // One socket, served by worker 0 alone.
                let socketAddress = try Self.socketAddress(address, directive: "admin_listen")
                do {
                    let fd = try Socket.makeListener(
                        address: socketAddress, sharing: reusePort ? .join : .claim, backlog: 64)
                    adminFD = fd
                    adminPort = try Socket.localAddress(fd)?.port ?? address.port
                } catch {
                    failures.append(ListenFailure(directive: "admin_listen", address: "\(socketAddress)", error: error))
                }
            }
            guard failures.isEmpty else { throw ServerStartError.cannotListen(failures) }
            let runtime = current.withLock {
                RuntimeConfig(config: config, workerCount: workerCount, slots: &$0.slots, fixedURLs: &$0.fixedURLs)
            }
            for index in 0..<workerCount {
                workers.append(
                    try Worker(
                        index: index, runtime: runtime, listenerFDs: perWorkerFDs[index],
                        adminFD: index == 0 ? adminFD : nil, accessLog: accessLog))
            }
            workers[0].scrapedWorkers = workers
        } catch {
            if workers.isEmpty {
                for fds in perWorkerFDs { fds.forEach(closeDescriptor) }
                if let adminFD { closeDescriptor(adminFD) }
            }
            throw error
        }
        for worker in workers {
            threads.append(try OSThread(name: "fanout-w\(worker.index)") { worker.run() })
        }
    }

    /// One listening socket per worker on `address`, all in one SO_REUSEPORT group: the first claims the
    /// address (or, with ``reusePort``, joins whoever listens there), the others join it on the port it got.
    /// On failure, closes what it opened.
    private func openGroup(_ address: SocketAddress) throws(SystemError) -> [Int32] {
        var fds: [Int32] = []
        do {
            let first = try Socket.makeListener(address: address, sharing: reusePort ? .join : .claim)
            fds.append(first)
            // With port 0 the kernel picked one for the first socket; the others must share it.
            let bound = try Socket.localAddress(first) ?? address
            while fds.count < workerCount {
                fds.append(try Socket.makeListener(address: bound, sharing: .join))
            }
            return fds
        } catch {
            fds.forEach(closeDescriptor)
            throw error
        }
    }

    private static func socketAddress(_ address: ListenAddress, directive: String) throws(ServerStartError)
        -> SocketAddress
    {
        guard let socketAddress = SocketAddress(host: address.host, port: address.port) else {
            throw .notAnIPAddress(directive: directive, host: address.host, port: address.port)
        }
        return socketAddress
    }

    /// Installs `newConfig` on every worker and returns once each has: requests dispatched from then on use
    /// it, requests in flight finish with the configuration they started with. `listen`, `admin_listen`,
    /// `workers` and `access_log` need a restart: their running values are kept, and the summary names the ones
    /// `newConfig` changes. Safe from any thread (not from a worker's loop thread, which would wait on
    /// itself).
    @discardableResult
    public func reload(_ newConfig: FanoutConfig) -> ReloadSummary {
        lifecycleLock.withLock { _ in
            let (runtime, needRestart) = current.withLock { state in
                var installed = newConfig
                var needRestart: [String] = []
                if installed.listen != state.config.listen {
                    needRestart.append("listen")
                    installed.listen = state.config.listen
                }
                if installed.workers != state.config.workers {
                    needRestart.append("workers")
                    installed.workers = state.config.workers
                }
                if installed.adminListen != state.config.adminListen {
                    needRestart.append("admin_listen")
                    installed.adminListen = state.config.adminListen
                }
                if installed.accessLog != state.config.accessLog {
                    needRestart.append("access_log")
                    installed.accessLog = state.config.accessLog
                }
                state.config = installed
                let runtime = RuntimeConfig(
                    config: installed, workerCount: workerCount, slots: &state.slots, fixedURLs: &state.fixedURLs)
                return (runtime, needRestart)
            }
            let installedEverywhere = CountdownLatch(count: workers.count)
            for worker in workers {
                worker.loop.execute {
                    worker.install(runtime)
                    installedEverywhere.countDown()
                }
            }
            installedEverywhere.wait()
            return ReloadSummary(routeCount: newConfig.routes.count, needRestart: needRestart)
        }
    }

    /// Each worker's `epoll_ctl` calls so far (``EventLoop/controlCalls``), read on its loop thread (tests).
    func epollControlCalls() -> [Int] {
        final class Counts: Sendable {
            let values: Mutex<[Int]>
            init(_ count: Int) { values = Mutex(Array(repeating: 0, count: count)) }
        }
        let counts = Counts(workers.count)
        let read = CountdownLatch(count: workers.count)
        for (index, worker) in workers.enumerated() {
            worker.loop.execute {
                counts.values.withLock { $0[index] = worker.loop.controlCalls }
                read.countDown()
            }
        }
        read.wait()
        return counts.values.withLock { $0 }
    }

    /// Stops accepting, gives in-flight requests `graceMs` (the config's `shutdown_timeout` when nil) to
    /// finish, then stops every worker and waits for their threads. Safe from any thread; idempotent.
    public func shutdown(graceMs: Int? = nil) {
        lifecycleLock.withLock { _ in
            let grace = graceMs ?? config.timeouts.shutdownMs
            drainAndJoin(graceMs: grace)
        }
    }

    private func drainAndJoin(graceMs grace: Int) {
        for worker in workers {
            worker.loop.execute { worker.beginDrain(graceMs: grace) }
        }
        // Worker 0 last: with an admin listener it keeps answering /readyz 503 until the others are done.
        for thread in threads.dropFirst() { thread.join() }
        // Only a worker 0 that waits for its peers is still running here; a task queued on a stopped loop
        // would never run.
        if let first = workers.first, first.outlivesPeers { first.loop.execute { first.peersStopped() } }
        threads.first?.join()
        threads.removeAll()
        workers.removeAll()
    }
}
