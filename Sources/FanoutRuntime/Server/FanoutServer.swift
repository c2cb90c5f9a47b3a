import CCurl
import FanoutCore
import Glibc
import Synchronization

/// Why the server could not start.
public struct ServerStartError: Error, CustomStringConvertible {
    public var description: String
}

/// fanout's server: N workers, each a thread with its own event loop, listening sockets (SO_REUSEPORT,
/// so the kernel spreads connections) and libcurl multi handle.
public final class FanoutServer: @unchecked Sendable {
    public let config: FanoutConfig
    /// The port actually bound for each `listen` address (useful with port 0).
    public private(set) var ports: [UInt16] = []
    public let workerCount: Int
    private var workers: [Worker] = []
    private var threads: [OSThread] = []
    private let accessLog: (any AccessLogSink)?
    private let shutdownLock = Mutex(())

    private static let curlReady: Bool = curl_global_init(Int(CURL_GLOBAL_DEFAULT)) == CURLE_OK

    public init(config: FanoutConfig, accessLog: (any AccessLogSink)?) {
        self.config = config
        self.accessLog = accessLog
        switch config.workers {
        case .auto: workerCount = CPUCount.usable()
        case .fixed(let n): workerCount = max(1, n)
        }
    }

    /// Binds every listen address once per worker and starts the worker threads.
    public func start() throws {
        guard FanoutServer.curlReady else { throw ServerStartError(description: "curl_global_init failed") }
        var perWorkerFDs = Array(repeating: [Int32](), count: workerCount)
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
            let runtime = RuntimeConfig(config: config, workerCount: workerCount)
            for index in 0..<workerCount {
                workers.append(try Worker(index: index, runtime: runtime, listenerFDs: perWorkerFDs[index], accessLog: accessLog))
            }
        } catch {
            if workers.isEmpty { for fds in perWorkerFDs { fds.forEach(closeDescriptor) } }
            throw error
        }
        for worker in workers {
            threads.append(try OSThread(name: "fanout-w\(worker.index)") { worker.run() })
        }
    }

    /// Stops accepting, gives in-flight requests `graceMs` (the config's `shutdown_timeout` when nil) to
    /// finish, then stops every worker and waits for their threads. Safe from any thread; idempotent.
    public func shutdown(graceMs: Int? = nil) {
        shutdownLock.withLock { _ in
            let grace = graceMs ?? config.timeouts.shutdownMs
            drainAndJoin(graceMs: grace)
        }
    }

    private func drainAndJoin(graceMs grace: Int) {
        for worker in workers {
            worker.loop.execute { worker.beginDrain(graceMs: grace) }
        }
        for thread in threads { thread.join() }
        threads.removeAll()
        workers.removeAll()
    }
}
