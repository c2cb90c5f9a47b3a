import FanoutCore
import Glibc

/// The second level of the call cache: answers in the shared store, read and written by ``CallCache``
/// through one worker's ``StoreRouter``. Every operation waits at most the store's `command_timeout`; a store
/// that is down or slow makes each of them a miss (counted as a fallback), never a failure.
final class SharedCache {
    let client: StoreRouter
    private let prefix: String
    private let maxEntryBytes: Int
    /// Per upstream name: calls answered from the store, lookups that found nothing usable, lookups that went
    /// on without the store (down, slow, error), entries written, refreshes left to another replica.
    private(set) var hits: [String: UInt64] = [:]
    private(set) var misses: [String: UInt64] = [:]
    private(set) var fallbacks: [String: UInt64] = [:]
    private(set) var writes: [String: UInt64] = [:]
    private(set) var refreshesLeft: [String: UInt64] = [:]

    init(client: StoreRouter) {
        self.client = client
        prefix = client.settings.prefix
        maxEntryBytes = client.settings.maxEntryBytes
    }

    var isAvailable: Bool { client.isAvailable }

    /// An entry found in the store, and how old it is (by the wall clocks of the writer and this replica).
    struct Found {
        var entry: SharedCacheEntry
        var ageMs: Int
    }

    /// Looks `callKey` up; `completion` gets nil for no usable entry (absent, another call's, unreadable) or no
    /// answer within the budget.
    func lookUp(_ callKey: String, upstream: String, completion: @escaping (Found?) -> Void) {
        let keys = SharedCacheKeys(prefix: prefix, callKey: callKey)
        client.send(["GET", keys.entry]) { [weak self] result in
            guard let self else { return completion(nil) }
            let found = self.decode(result, callKey: callKey)
            switch result {
            case .failure: self.fallbacks[upstream, default: 0] &+= 1
            case .success: if found == nil { self.misses[upstream, default: 0] &+= 1 }
            }
            completion(found)
        }
    }

    /// Counts a call answered from an entry ``lookUp(_:upstream:completion:)`` found.
    func countHit(upstream: String) {
        hits[upstream, default: 0] &+= 1
    }

    /// Writes a partner's answer for `keepMs` (its longest window), unless it is larger than `max_entry`.
    func write(_ callKey: String, upstream: String, response: UpstreamResponse, freshness: CacheFreshness, keepMs: Int)
    {
        guard client.isAvailable, keepMs > 0, response.body.count <= maxEntryBytes else { return }
        let entry = SharedCacheEntry(
            callKey: callKey, storedAtMs: wallClockMilliseconds(), status: response.status,
            contentType: response.contentType, headers: response.headers.map { HeaderField(name: $0.0, value: $0.1) },
            body: response.body, httpVersion: response.httpVersion, declaredLength: response.declaredLength,
            freshness: freshness)
        let keys = SharedCacheKeys(prefix: prefix, callKey: callKey)
        writes[upstream, default: 0] &+= 1
        client.send(bytes: [
            Array("SET".utf8), Array(keys.entry.utf8), entry.encoded(), Array("PX".utf8), Array(String(keepMs).utf8),
        ]) { _ in }
    }

    /// What a stale-while-revalidate hit should do about the refresh.
    enum RefreshClaim {
        /// Another replica stored a newer answer: use it, refresh nothing.
        case newer(Found)
        /// This replica took the lock: refresh.
        case claimed
        /// Another replica holds the lock: keep serving stale.
        case heldElsewhere
        /// The store did not answer: refresh locally, as without a store.
        case storeFailed
    }

    /// One round trip (GET and `SET lock NX PX`, pipelined): is there a newer answer than `storedAtMs`, and if
    /// not, may this replica refresh? The lock lasts `lockMs` (the call's timeout).
    func claimRefresh(
        _ callKey: String, upstream: String, newerThan storedAtMs: Int, lockMs: Int,
        completion: @escaping (RefreshClaim) -> Void
    ) {
        let keys = SharedCacheKeys(prefix: prefix, callKey: callKey)
        var newer: Found?
        client.send(["GET", keys.entry]) { [weak self] result in
            if let found = self?.decode(result, callKey: callKey), found.entry.storedAtMs > storedAtMs { newer = found }
        }
        client.send(["SET", keys.lock, "1", "NX", "PX", String(max(1, lockMs))]) { [weak self] result in
            guard let self else { return }
            if let newer { return completion(.newer(newer)) }
            switch result {
            case .success(.null):
                self.refreshesLeft[upstream, default: 0] &+= 1
                completion(.heldElsewhere)
            case .success:
                completion(.claimed)
            case .failure:
                self.fallbacks[upstream, default: 0] &+= 1
                completion(.storeFailed)
            }
        }
    }

    private func decode(_ result: Result<RESPValue, StoreFailure>, callKey: String) -> Found? {
        guard case .success(.bulkString(let bytes)) = result, let entry = SharedCacheEntry(decoding: bytes),
            entry.callKey == callKey
        else { return nil }
        return Found(entry: entry, ageMs: max(0, wallClockMilliseconds() - entry.storedAtMs))
    }
}

extension SharedCacheEntry {
    /// The answer as a worker's cache holds it.
    var response: UpstreamResponse {
        UpstreamResponse(
            status: status, contentType: contentType, headers: headers.map { ($0.name, $0.value) }, body: body,
            httpVersion: httpVersion, declaredLength: declaredLength)
    }
}

/// Wall-clock milliseconds since the epoch (`CLOCK_REALTIME`): the age of a shared cache entry across replicas.
func wallClockMilliseconds() -> Int {
    var spec = timespec()
    clock_gettime(CLOCK_REALTIME, &spec)
    return spec.tv_sec * 1000 + spec.tv_nsec / 1_000_000
}
