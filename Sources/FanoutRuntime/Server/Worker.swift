import FanoutCore
import Glibc

/// One worker: a thread running its own `EventLoop`, its own listening sockets (SO_REUSEPORT) and its own
/// libcurl multi handle. Workers share only the immutable `RuntimeConfig` and the access-log sink.
final class Worker: @unchecked Sendable {
    let index: Int
    /// The configuration new requests are dispatched with. Read and replaced on the loop thread only
    /// (``install(_:)``); a request captures it once at dispatch and never reads it again, so a reload does
    /// not change a request in flight.
    private(set) var runtime: RuntimeConfig
    let loop: EventLoop
    let accessLog: (any AccessLogSink)?
    let upstream: UpstreamClient
    /// The layers a composite call goes through (``UpstreamCalls``): the cache, single-flight coalescing (owned
    /// by the cache), then attempts, then the client.
    typealias CompositeCalls = CallCache<CallAttempts<UpstreamClient>>
    /// Composite calls go through it: identical GETs in flight on this worker share one transfer, and calls
    /// with `cache=` are answered from this worker's cache.
    let calls: CompositeCalls
    /// Below `calls`: hedges and retries of composite calls (`hedge`, `retries`, `retry_budget`).
    let attempts: CallAttempts<UpstreamClient>
    /// This worker's connection to the shared store (`store` block) and the cache level on it; nil without one.
    private(set) var store: StoreRouter?
    /// Exports sampled requests' spans (`tracing`); nil when tracing is not configured.
    private(set) var tracer: TraceExporter?
    private var listeners: [Listener] = []
    private var connections: [ObjectIdentifier: ClientConnection] = [:]
    /// The admin listener (worker 0 only, when `admin_listen` is set). Unlike `listeners` it stays open while
    /// draining, so `/readyz` can answer 503 until the loop stops.
    private var adminListener: Listener?
    private var adminConnections: [ObjectIdentifier: ClientConnection] = [:]
    /// Open `Upgrade` tunnels: each owns its client's socket once the partner answered 101.
    private var tunnels: [ObjectIdentifier: Tunnel] = [:]
    /// This worker's counters: updated on the loop thread only, copied by ``metricsSnapshot()`` (see
    /// ``AdminEndpoint`` for how a scrape gathers every worker's).
    var metrics = ServerMetrics()
    /// The per-route counters of requests dispatched with `runtime`, by route and call index (recording one
    /// hashes no name); added into `metrics` when a snapshot is taken.
    private(set) var routeMetrics: RouteMetricsTable
    /// The tables of earlier configurations, kept while a request dispatched with one may still record into
    /// it; drained with the current one (at each snapshot and reload), and dropped once drained and held by no
    /// request.
    private var retiredRouteMetrics: [RouteMetricsTable] = []
    /// Every worker of the server, this one included, for scrapes (worker 0 only; set before the thread
    /// starts, cleared when the loop ends).
    var scrapedWorkers: [Worker] = []
    /// The status page's "recent" window (worker 0 only, touched on its loop thread; see ``RecentWindow``),
    /// started with the worker.
    var recentWindow: RecentWindow
    let startedAt: UInt64
    private(set) var draining = false
    private var drainTimer: TimerID?
    /// Worker 0 with an admin listener: its loop outlives the other workers' drains (``peersStopped()``),
    /// so `/readyz` answers 503, not a refused connection, until the whole server has drained.
    private var waitsForPeers: Bool
    private var drainFinished = false
    /// Graceful shutdown: the trace exporter sends what it holds before the loop stops.
    private enum ExportFlush { case notStarted, running, done }
    private var exportFlush = ExportFlush.notStarted
    /// Read scratch space shared by this worker's connections (one read at a time on one thread).
    let readBuffer: UnsafeMutableRawBufferPointer
    private var dateCache: (second: Int, value: String) = (-1, "")
    private var requestCounter: UInt64 = 0
    /// Gzip for composite answers (`gzip on`), created on first use; see ``gzipEncoder(level:)``.
    private var gzip: GzipEncoder?
    /// `prefix-index-` of every request id this worker gives (``newRequestID()``): a random per-worker prefix
    /// and the worker's index, made once.
    private let requestIDStem: [UInt8]

    /// - Parameter adminFD: the admin listening socket, handed to worker 0 only.
    init(
        index: Int, runtime: RuntimeConfig, listenerFDs: [Int32], adminFD: Int32? = nil,
        accessLog: (any AccessLogSink)?
    ) throws {
        self.index = index
        self.runtime = runtime
        routeMetrics = RouteMetricsTable(runtime.config)
        self.accessLog = accessLog
        waitsForPeers = adminFD != nil
        outlivesPeers = adminFD != nil
        loop = try EventLoop()
        loop.busyPoll = BusyPollGovernor(limitMicroseconds: runtime.config.busyPollMicroseconds)
        startedAt = loop.now
        recentWindow = RecentWindow(start: loop.now)
        readBuffer = .allocate(byteCount: 64 * 1024, alignment: 16)
        var random = SystemRandomNumberGenerator()
        requestIDStem = Array("\(String(random.next() as UInt64, radix: 16))-\(index)-".utf8)
        guard let client = UpstreamClient(loop: loop) else {
            readBuffer.deallocate()
            throw SystemError(call: "curl_multi_init", errno: ENOMEM)
        }
        client.setLimits(Worker.slotLimits(runtime))
        upstream = client
        let oauth2 = OAuth2Calls(loop: loop, client: client)
        oauth2.configure(Worker.oauth2Entries(runtime))
        client.oauth2 = oauth2
        attempts = CallAttempts(loop: loop, client: client)
        calls = CallCache(loop: loop, client: attempts, cacheBytes: runtime.config.limits.cacheBytesPerWorker)
        connectStore(runtime.config.store)
        tracer = runtime.tracing.map { TraceExporter(loop: loop, client: client, settings: $0) }
        listeners = listenerFDs.map { Listener(fd: $0, worker: self) }
        adminListener = adminFD.map { Listener(fd: $0, worker: self, isAdmin: true) }
    }

    deinit {
        readBuffer.deallocate()
    }

    /// The loop body of the worker thread: returns after a shutdown completes.
    func run() {
        for listener in listeners { listener.start() }
        adminListener?.start()
        loop.run()
        // Teardown on the loop thread, while the loop still exists (libcurl calls back during cleanup).
        for connection in Array(connections.values) + Array(adminConnections.values) { connection.close() }
        for tunnel in Array(tunnels.values) { tunnel.drain() }
        for listener in listeners { listener.close() }
        adminListener?.close()
        store?.close()
        upstream.close()
        scrapedWorkers = []
        loop.discardPendingTasks()
    }

    // MARK: - Connections

    /// Whether one more client connection fits in this worker's share of `max_client_connections`.
    var hasRoomForConnection: Bool {
        connections.count < runtime.clientConnectionsPerWorker
    }

    /// Whether one more admin connection may be opened (a handful suffice for probes and scrapers).
    var hasRoomForAdminConnection: Bool {
        adminConnections.count < 16
    }

    func adopt(_ connection: ClientConnection) {
        if connection.isAdmin {
            adminConnections[ObjectIdentifier(connection)] = connection
        } else {
            connections[ObjectIdentifier(connection)] = connection
        }
    }

    func forget(_ connection: ClientConnection) {
        if connection.isAdmin {
            adminConnections.removeValue(forKey: ObjectIdentifier(connection))
            return
        }
        connections.removeValue(forKey: ObjectIdentifier(connection))
        if draining && connections.isEmpty { finishDrain() }
    }

    /// This worker's gzip encoder at `level`, replaced when a reload changed the level; nil if zlib failed.
    func adopt(_ tunnel: Tunnel) {
        tunnels[ObjectIdentifier(tunnel)] = tunnel
    }

    func forget(_ tunnel: Tunnel) {
        tunnels.removeValue(forKey: ObjectIdentifier(tunnel))
    }

    func gzipEncoder(level: Int) -> GzipEncoder? {
        if gzip?.level != level { gzip = GzipEncoder(level: level) }
        return gzip
    }

    // MARK: - Metrics

    /// A copy of this worker's counters with its gauges filled in (client connections, requests not yet
    /// answered; admin connections not counted). Call on the loop thread.
    func metricsSnapshot() -> ServerMetrics {
        drainRouteMetrics()
        var snapshot = metrics
        snapshot.clientConnections = connections.count
        snapshot.tunnelsOpen = tunnels.count
        if loop.busyPoll.isEnabled { snapshot.busyPolls = loop.busyPolls }
        snapshot.requestsInFlight = connections.values.reduce(0) { $0 + ($1.hasRequestInFlight ? 1 : 0) }
        snapshot.addConnectionUse(self.upstream.connectionUse)
        snapshot.breakerOpens.addCounts(self.upstream.breakerOpens)
        snapshot.addUpstreamLoad(self.upstream.load)
        snapshot.upstreamCalls.merge(calls.counters)
        snapshot.upstreamCalls.merge(calls.coalescer.counters)
        snapshot.upstreamCalls.merge(attempts.counters)
        if let store, let shared = calls.shared {
            snapshot.store.configured = true
            let counters = store.counters
            snapshot.store.roundTrips &+= counters.roundTrips
            snapshot.store.errors.addCounts(counters.failures)
            snapshot.store.stateChanges.addCounts(counters.stateChanges)
            snapshot.store.redirects.addCounts(store.redirects)
            snapshot.store.available += store.isAvailable ? 1 : 0
            snapshot.store.hits.addCounts(shared.hits)
            snapshot.store.misses.addCounts(shared.misses)
            snapshot.store.fallbacks.addCounts(shared.fallbacks)
            snapshot.store.writes.addCounts(shared.writes)
            snapshot.store.refreshesLeft.addCounts(shared.refreshesLeft)
            if let fleet = upstream.fleet {
                snapshot.store.quotaTokensLeased.addCounts(fleet.counters.tokensLeased)
                snapshot.store.quotaWaits.addCounts(fleet.counters.quotaWaits)
                snapshot.store.quotaFallbacks.addCounts(fleet.counters.quotaFallbacks)
                snapshot.store.breakerOpensLearned.addCounts(fleet.counters.breakerOpensLearned)
            }
        }
        if let oauth2 = upstream.oauth2 { snapshot.tokenFetches.addCounts(oauth2.tokenFetches) }
        snapshot.traceExport = tracer?.counts
        return snapshot
    }

    /// Adds every route table's counts into `metrics`, and drops the retired tables no request holds any more
    /// (nothing can record into them after this).
    private func drainRouteMetrics() {
        routeMetrics.drain(into: &metrics)
        var index = retiredRouteMetrics.startIndex
        while index < retiredRouteMetrics.endIndex {
            retiredRouteMetrics[index].drain(into: &metrics)
            if isKnownUniquelyReferenced(&retiredRouteMetrics[index]) {
                retiredRouteMetrics.remove(at: index)
            } else {
                index += 1
            }
        }
    }

    // MARK: - Reload

    /// Makes `runtime` the configuration of the requests dispatched from now on, and installs its upstream
    /// admission limits (slots are stable across configurations, so calls already admitted or queued keep
    /// their place). Call on the loop thread.
    func install(_ runtime: RuntimeConfig) {
        self.runtime = runtime
        loop.busyPoll = BusyPollGovernor(limitMicroseconds: runtime.config.busyPollMicroseconds)
        retiredRouteMetrics.append(routeMetrics)
        routeMetrics = RouteMetricsTable(runtime.config)
        drainRouteMetrics()
        // Client timeouts, `keepalive_requests` and `abort_on_close` apply to open connections too.
        let connectionLimits = ClientConnectionStateMachine.Limits(runtime.config)
        for connection in connections.values { connection.install(connectionLimits) }
        for connection in adminConnections.values { connection.install(connectionLimits) }
        upstream.setLimits(Worker.slotLimits(runtime))
        upstream.oauth2?.configure(Worker.oauth2Entries(runtime))
        calls.setCacheCapacity(runtime.config.limits.cacheBytesPerWorker)
        if runtime.config.store != store?.settings { connectStore(runtime.config.store) }
        if let tracing = runtime.tracing {
            if let tracer {
                tracer.reconfigure(tracing)
            } else {
                tracer = TraceExporter(loop: loop, client: upstream, settings: tracing)
            }
        } else {
            tracer = nil
        }
    }

    /// Opens the connection `settings` names (closing the one of an earlier configuration), or none.
    private func connectStore(_ settings: StoreSettings?) {
        store?.close()
        store = settings.map {
            StoreRouter(loop: loop, settings: $0, workerLabel: "worker \(index)")
        }
        calls.shared = store.map(SharedCache.init(client:))
        // Shared `rate` quotas and breakers use the same connection (docs/operations/fleet.md).
        upstream.attachFleet(
            store.map {
                UpstreamFleet(
                    loop: loop, store: $0, prefix: $0.settings.prefix, commandTimeoutMs: $0.settings.commandTimeoutMs)
            })
        upstream.setLimits(Worker.slotLimits(runtime))
    }

    private static func slotLimits(_ runtime: RuntimeConfig) -> [UpstreamClient.SlotLimits] {
        var limits = runtime.upstreams.map { upstream in
            let config = upstream.config
            return UpstreamClient.SlotLimits(
                slot: upstream.slot, upstreamName: config.name, limit: upstream.limitPerWorker,
                queueLimit: upstream.queueLimitPerWorker, breaker: config.breaker,
                ratePerSecond: upstream.ratePerWorker,
                sharedRatePerSecond: config.sharedRate == nil ? nil : config.ratePerSecond, timeoutMs: config.timeoutMs)
        }
        // `oauth2` token requests: one at a time per upstream and worker (single flight), no breaker nor rate.
        let tokens = runtime.upstreams.compactMap { upstream in
            upstream.tokenSlot.map {
                UpstreamClient.SlotLimits(
                    slot: $0, upstreamName: ResolvedUpstream.tokenRequestName(upstream.name), limit: 1)
            }
        }
        limits += tokens
        if let tracing = runtime.tracing {
            limits.append(
                UpstreamClient.SlotLimits(
                    slot: tracing.slot, upstreamName: RuntimeTracing.upstreamName,
                    limit: TraceExporter.maxExportsInFlight, queueLimit: 0))
        }
        return limits
    }

    private static func oauth2Entries(_ runtime: RuntimeConfig) -> [OAuth2Calls.Entry] {
        runtime.upstreams.compactMap { upstream in
            guard let settings = upstream.config.oauth2, let tokenSlot = upstream.tokenSlot else { return nil }
            return OAuth2Calls.Entry(
                slot: upstream.slot, tokenSlot: tokenSlot, upstreamName: upstream.name, settings: settings,
                connectTimeoutMs: upstream.config.connectTimeoutMs)
        }
    }

    // MARK: - Shutdown

    /// Stops accepting, lets in-flight requests finish (closing each connection after its response), closes
    /// idle connections now, and stops the loop when none is left or after `graceMs`. Call on the loop thread.
    func beginDrain(graceMs: Int) {
        guard !draining else { return }
        draining = true
        for listener in listeners { listener.close() }
        listeners.removeAll()
        for connection in Array(connections.values) + Array(adminConnections.values) { connection.closeIfIdle() }
        // A tunnel has no point at which it could end politely: it is closed now (both sockets).
        for tunnel in Array(tunnels.values) { tunnel.drain() }
        if connections.isEmpty {
            finishDrain()
        } else {
            drainTimer = loop.schedule(afterMilliseconds: graceMs) { [weak self] in self?.finishDrain() }
        }
    }

    private func finishDrain() {
        if let timer = drainTimer { loop.cancel(timer) }
        drainTimer = nil
        // The spans of the last requests leave before the loop stops (for at most the export timeout).
        switch exportFlush {
        case .notStarted:
            guard let tracer else { break }
            exportFlush = .running
            tracer.flushAll { [weak self] in
                self?.exportFlush = .done
                self?.finishDrain()
            }
            return
        case .running:
            return
        case .done:
            break
        }
        drainFinished = true
        if !waitsForPeers { loop.requestStop() }
    }

    /// Every other worker's loop has stopped (the server joined their threads): a drained worker 0 stops
    /// too. Call on the loop thread.
    /// Worker 0 with an admin listener: its loop keeps running after its own drain until ``peersStopped()``.
    /// Set once at init, so any thread may read it.
    let outlivesPeers: Bool

    func peersStopped() {
        waitsForPeers = false
        if drainFinished { loop.requestStop() }
    }

    // MARK: - Per-request helpers

    /// The `Date` header value, formatted at most once per second.
    func httpDate() -> String {
        let second = Int(time(nil))
        if second != dateCache.second { dateCache = (second, httpDateNow()) }
        return dateCache.value
    }

    /// A new request id: a random per-worker prefix and a counter (unique across workers and restarts).
    /// Written into one String of the exact size, the counter in lowercase hex as `String(_:radix: 16)`
    /// writes it: an interpolation of the three parts cost about 2,300
    /// instructions per request (callgrind).
    func newRequestID() -> String {
        requestCounter &+= 1
        let counter = requestCounter
        let digits = max(1, (UInt64.bitWidth - counter.leadingZeroBitCount + 3) / 4)
        return requestIDStem.withUnsafeBufferPointer { stem in
            String(unsafeUninitializedCapacity: stem.count + digits) { out in
                _ = out.initialize(from: stem)
                var value = counter
                for position in (stem.count..<stem.count + digits).reversed() {
                    let nibble = UInt8(truncatingIfNeeded: value & 0xF)
                    out[position] = nibble < 10 ? UInt8(ascii: "0") + nibble : UInt8(ascii: "a") + nibble - 10
                    value >>= 4
                }
                return stem.count + digits
            }
        }
    }
}
