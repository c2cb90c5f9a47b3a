import CCurl
import FanoutCore
import Glibc
import Synchronization

/// Why the server could not start.
public struct ServerStartError: Error, CustomStringConvertible {
    public var description: String
}

/// What a configuration reload did.
public struct ReloadSummary: Sendable, Equatable {
    /// Routes now served.
    public var routeCount: Int
    /// Settings the new file changes that only a restart applies (`listen`, `admin_listen`, `workers`,
    /// `access_log`); the running values were kept.
    public var needRestart: [String]
}

/// fanout's server: N workers, each a thread with its own event loop, listening sockets (SO_REUSEPORT,
/// so the kernel spreads connections) and libcurl multi handle.
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
    private var workers: [Worker] = []
    private var threads: [OSThread] = []
    private let accessLog: (any AccessLogSink)?
    /// Serializes ``reload(_:)`` and ``shutdown(graceMs:)``.
    private let lifecycleLock = Mutex(())
    private let current: Mutex<(config: FanoutConfig, slots: AdmissionSlots)>

    private static let curlReady: Bool = curl_global_init(Int(CURL_GLOBAL_DEFAULT)) == CURLE_OK

    public init(config: FanoutConfig, accessLog: (any AccessLogSink)?) {
        current = Mutex((config: config, slots: AdmissionSlots()))
        self.accessLog = accessLog
        switch config.workers {
        case .auto: workerCount = CPUCount.usable()
        case .fixed(let n): workerCount = max(1, n)
        }
    }

    /// Binds every listen address once per worker and starts the worker threads.
    public func start() throws {
        guard FanoutServer.curlReady else { throw ServerStartError(description: "curl_global_init failed") }
        let config = self.config
        var perWorkerFDs = Array(repeating: [Int32](), count: workerCount)
        var adminFD: Int32?
        do {
            for address in config.listen {
                guard var socketAddress = SocketAddress(host: address.host, port: address.port) else {
                    throw ServerStartError(description: "listen \(address.host):\(address.port): not an IP address")
                }
                for worker in 0..<workerCount {
                    let fd: Int32
                    do {
                        fd = try Socket.makeListener(address: socketAddress, reusePort: true)
                    } catch {
                        throw ServerStartError(description: "listen \(socketAddress): \(error)")
                    }
                    perWorkerFDs[worker].append(fd)
                    if worker == 0, address.port == 0, let bound = try Socket.localAddress(fd) {
                        // The other workers must share the port the kernel picked for the first one.
                        socketAddress = SocketAddress(host: address.host, port: bound.port) ?? socketAddress
                    }
                }
                ports.append(socketAddress.port)
            }
            if let address = config.adminListen {
                // One socket, served by worker 0 alone; no SO_REUSEPORT, so a second process cannot share it.
                guard let socketAddress = SocketAddress(host: address.host, port: address.port) else {
                    throw ServerStartError(
                        description: "admin_listen \(address.host):\(address.port): not an IP address")
                }
                do {
                    let fd = try Socket.makeListener(address: socketAddress, reusePort: false, backlog: 64)
                    adminFD = fd
                    adminPort = try Socket.localAddress(fd)?.port ?? address.port
                } catch {
                    throw ServerStartError(description: "admin_listen \(socketAddress): \(error)")
                }
            }
            let runtime = current.withLock { RuntimeConfig(config: config, workerCount: workerCount, slots: &$0.slots) }
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
                return (RuntimeConfig(config: installed, workerCount: workerCount, slots: &state.slots), needRestart)
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
