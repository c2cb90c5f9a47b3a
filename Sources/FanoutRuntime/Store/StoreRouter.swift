import FanoutCore

/// One worker's way to the shared store, on the worker's loop: a single server, or a Redis Cluster found by
/// itself. The router owns one ``StoreClient`` per node (the configured address, the seed, first), created on
/// demand; each command goes to the node that serves its key's slot (``ClusterSlotMap``).
///
/// Detection is automatic: once the seed is ready, `INFO cluster` says whether it runs in cluster mode; if so,
/// `CLUSTER SLOTS` gives the map and a connection to every primary opens at once. A `MOVED` reply (a slot that
/// moved, or a seed that became a cluster) assigns the slot, asks for the map again, and sends the command to
/// the node named; `ASK` sends `ASKING` and the command to that node once. A redirected command keeps its
/// first budget: it is resent only with the time left, at most ``maxRedirects`` times. A node that is not
/// ready refuses at once (`unavailable`), as the single connection does: a caller never waits beyond its budget.
final class StoreRouter {
    typealias Completion = StoreClient.Completion

    let loop: EventLoop
    let settings: StoreSettings
    private let workerLabel: String
    private let seed: StoreClient
    /// Every node's connection, the seed's included, by `host:port`.
    private var clients: [String: StoreClient] = [:]

    private enum Mode: Equatable {
        /// Waiting for the seed's answer to `INFO cluster`.
        case detecting
        case standalone
        case cluster
    }
    private var mode = Mode.detecting
    private var slots = ClusterSlotMap()
    private var refreshInFlight = false
    private var timer: TimerID?
    private var closed = false
    /// Redirections followed, by kind (`moved`, `ask`); they are not errors (the store's counters leave them out).
    private(set) var redirects: [String: UInt64] = [:]
    /// Commands the router itself gave up on (a redirection past the budget, or to a node that is not ready).
    private var failures: [String: UInt64] = [:]

    /// A command that comes back with `MOVED`/`ASK` is resent at most this many times.
    static let maxRedirects = 3
    /// How often detection checks the seed, and how often a cluster's map is checked for a node that is down.
    static let detectionIntervalMs = 20
    static let clusterCheckIntervalMs = 1_000

    /// Starts connecting to the seed (`settings.address`) at once.
    /// - Parameter workerLabel: ends every connection's label in log lines (`store 127.0.0.1:7001 worker 0`).
    init(loop: EventLoop, settings: StoreSettings, workerLabel: String) {
        self.loop = loop
        self.settings = settings
        self.workerLabel = workerLabel
        seed = StoreClient(
            loop: loop, settings: settings,
            label: "store \(settings.address.host):\(settings.address.port) \(workerLabel)")
        clients[Self.key(settings.address)] = seed
        scheduleTick(Self.detectionIntervalMs)
    }

    /// Ready for commands: the seed (a single server), or a cluster node.
    var isAvailable: Bool {
        switch mode {
        case .detecting: return false
        case .standalone: return seed.isAvailable
        case .cluster: return clients.values.contains { $0.isAvailable }
        }
    }

    /// Whether the store was found to be a cluster (by `INFO cluster` or a `MOVED` reply).
    var isCluster: Bool { mode == .cluster }

    /// The connections' counters summed; a `MOVED`/`ASK` reply the router followed is not an `error_reply`.
    var counters: StoreClientCounters {
        var sum = StoreClientCounters()
        for client in clients.values {
            sum.roundTrips &+= client.counters.roundTrips
            sum.failures.addCounts(client.counters.failures)
            sum.stateChanges.addCounts(client.counters.stateChanges)
        }
        sum.failures.addCounts(failures)
        let followed = redirects.values.reduce(0, &+)
        if followed > 0, let errors = sum.failures["error_reply"] {
            sum.failures["error_reply"] = errors > followed ? errors - followed : nil
        }
        return sum
    }

    /// ``StoreClient/send(_:budget:completion:)`` on the node that serves the command's key.
    func send(_ command: [String], budget: Duration? = nil, completion: @escaping Completion) {
        send(bytes: command.map { Array($0.utf8) }, budget: budget, completion: completion)
    }

    /// ``StoreClient/send(bytes:budget:completion:)`` on the node that serves the command's key.
    func send(bytes command: [[UInt8]], budget: Duration? = nil, completion: @escaping Completion) {
        let budgetMs = budget.map(StoreClient.milliseconds) ?? settings.commandTimeoutMs
        let deadline = loop.now &+ UInt64(budgetMs) &* 1_000_000
        let client = mode == .cluster ? route(command) : seed
        send(command, to: client, budgetMs: budgetMs, deadline: deadline, redirectsLeft: Self.maxRedirects) {
            completion($0)
        }
    }

    /// Messages of `channel`, from the seed (a cluster delivers every `PUBLISH` to every node's subscribers).
    func subscribe(channel: String, onMessage: @escaping ([UInt8]) -> Void) {
        seed.subscribe(channel: channel, onMessage: onMessage)
    }

    /// Closes every connection; commands waiting get `.connectionLost`.
    func close() {
        closed = true
        if let timer { loop.cancel(timer) }
        timer = nil
        for client in clients.values { client.close() }
    }

    // MARK: - Routing

    /// The connection of the node that serves `command`'s slot; the seed when no node is known for it (a
    /// `MOVED` will say which). `SCRIPT` goes to every node (each keeps its own script cache); its answer is
    /// the seed's, or the first ready node's.
    private func route(_ command: [[UInt8]]) -> StoreClient {
        switch StoreCommandKeys.routing(of: command) {
        case .anyNode:
            if command.first.map({ String(decoding: $0, as: UTF8.self).uppercased() }) == "SCRIPT" {
                let others = clients.values.filter { $0 !== seed && $0.isAvailable }
                for other in others { other.send(bytes: command, budget: nil) { _ in } }
            }
            if seed.isAvailable { return seed }
            return clients.values.first { $0.isAvailable } ?? seed
        case .slot(let slot), .crossSlot(first: let slot):
            guard let node = slots.node(forSlot: slot) else { return seed }
            return client(for: node)
        }
    }

    private func send(
        _ command: [[UInt8]], to client: StoreClient, budgetMs: Int, deadline: UInt64, redirectsLeft: Int,
        completion: @escaping Completion
    ) {
        let budget = Duration.milliseconds(budgetMs)
        client.send(bytes: command, budget: budget) { [weak self] result in
            guard let self, !self.closed, case .failure(.errorReply(let text)) = result,
                let redirect = ClusterRedirect(errorReply: text, replyingHost: client.settings.address.host)
            else { return completion(result) }
            self.follow(
                redirect, command: command, deadline: deadline, redirectsLeft: redirectsLeft, completion: completion)
        }
    }

    private func follow(
        _ redirect: ClusterRedirect, command: [[UInt8]], deadline: UInt64, redirectsLeft: Int,
        completion: @escaping Completion
    ) {
        let node: ListenAddress
        var asking = false
        switch redirect {
        case .moved(let slot, let target):
            redirects["moved", default: 0] &+= 1
            if mode != .cluster {
                mode = .cluster
                ErrorLog.write("store \(settings.address.host):\(settings.address.port) \(workerLabel): a cluster")
                scheduleTick(Self.clusterCheckIntervalMs)
            }
            slots.assign(slot: slot, to: target)
            refreshMap()
            node = target
        case .ask(_, let target):
            redirects["ask", default: 0] &+= 1
            node = target
            asking = true
        }
        loop.refreshNow()
        guard redirectsLeft > 0, deadline > loop.now else { return fail(completion, .timedOut) }
        let target = client(for: node)
        guard target.isAvailable else { return fail(completion, .unavailable) }
        let leftMs = Int((deadline - loop.now + 999_999) / 1_000_000)
        // Both go out in this iteration's one write, in order: `ASKING` holds for the next command only.
        if asking { target.send(["ASKING"], budget: .milliseconds(leftMs)) { _ in } }
        send(
            command, to: target, budgetMs: leftMs, deadline: deadline, redirectsLeft: redirectsLeft - 1,
            completion: completion)
    }

    private func fail(_ completion: Completion, _ failure: StoreFailure) {
        failures[failure == .timedOut ? "timed_out" : "unavailable", default: 0] &+= 1
        completion(.failure(failure))
    }

    /// The connection to `node`, opened now if there is none.
    private func client(for node: ListenAddress) -> StoreClient {
        let key = Self.key(node)
        if let known = clients[key] { return known }
        var nodeSettings = settings
        nodeSettings.address = node
        let client = StoreClient(loop: loop, settings: nodeSettings, label: "store \(key) \(workerLabel)")
        clients[key] = client
        return client
    }

    private static func key(_ address: ListenAddress) -> String {
        address.host.contains(":") ? "[\(address.host)]:\(address.port)" : "\(address.host):\(address.port)"
    }

    // MARK: - Detection and the slot map

    private func scheduleTick(_ ms: Int) {
        if let timer { loop.cancel(timer) }
        timer = loop.schedule(afterMilliseconds: ms) { [weak self] in
            guard let self, !self.closed else { return }
            self.timer = nil
            self.tick()
        }
    }

    private func tick() {
        switch mode {
        case .detecting:
            guard seed.isAvailable else { return scheduleTick(Self.detectionIntervalMs) }
            seed.send(["INFO", "cluster"], budget: .milliseconds(settings.connectTimeoutMs)) { [weak self] result in
                guard let self, !self.closed, self.mode == .detecting else { return }
                guard case .success(let value) = result, let text = value.text else {
                    return self.scheduleTick(Self.detectionIntervalMs)
                }
                if text.contains("cluster_enabled:1") {
                    self.mode = .cluster
                    self.refreshMap()
                    self.scheduleTick(Self.clusterCheckIntervalMs)
                } else {
                    self.mode = .standalone
                }
            }
        case .standalone:
            return
        case .cluster:
            // A primary that is down may have been replaced (failover): ask for the map again.
            if slots.assignedSlots < ClusterSlot.count || slots.nodes.contains(where: { !client(for: $0).isAvailable })
            {
                refreshMap()
            }
            scheduleTick(Self.clusterCheckIntervalMs)
        }
    }

    /// Asks a ready node (the seed first) for `CLUSTER SLOTS`, and opens a connection to every primary of the
    /// answer. One request at a time.
    private func refreshMap() {
        guard !refreshInFlight, !closed else { return }
        let asked = seed.isAvailable ? seed : clients.values.first { $0.isAvailable }
        guard let asked else { return }
        refreshInFlight = true
        asked.send(["CLUSTER", "SLOTS"], budget: .milliseconds(settings.connectTimeoutMs)) { [weak self] result in
            guard let self, !self.closed else { return }
            self.refreshInFlight = false
            guard case .success(let reply) = result,
                let map = ClusterSlotMap(clusterSlots: reply, replyingHost: asked.settings.address.host),
                map.assignedSlots > 0
            else { return }
            self.slots = map
            for node in map.nodes { _ = self.client(for: node) }
        }
    }
}
