/// A least-recently-used map bounded by the bytes its entries say they cost, with an expiry time per entry.
///
/// Inserting beyond `capacityBytes` evicts the least recently used entries until the new one fits; an entry
/// larger than the whole capacity is not stored. A lookup of an expired entry removes it and misses. Times are
/// whatever monotonic unit the caller uses (the runtime passes loop nanoseconds). O(1) per operation: a
/// dictionary into a slot array threaded by a doubly linked list (indices, no per-node allocation).
public struct ByteLRU<Value> {
    private struct Slot {
        var key: String
        var value: Value
        var cost: Int
        var expiresAt: UInt64
        var newer: Int
        var older: Int
    }

    public let capacityBytes: Int
    /// Sum of the costs of the stored entries; never above `capacityBytes`.
    public private(set) var usedBytes = 0
    private var index: [String: Int] = [:]
    private var slots: [Slot?] = []
    private var freeSlots: [Int] = []
    /// Most and least recently used slot, -1 when empty.
    private var newest = -1
    private var oldest = -1

    public init(capacityBytes: Int) {
        self.capacityBytes = max(0, capacityBytes)
    }

    public var count: Int { index.count }

    /// The value stored for `key` if it has not expired at `now`; marks it most recently used.
    public mutating func value(forKey key: String, now: UInt64) -> Value? {
        guard let position = index[key], let slot = slots[position] else { return nil }
        if slot.expiresAt <= now {
            remove(at: position)
            return nil
        }
        unlink(position)
        linkAsNewest(position)
        return slot.value
    }

    /// Stores `value` for `key` (replacing an older value), evicting the least recently used entries as
    /// needed. Returns false, storing nothing, when `cost` alone is over the capacity.
    @discardableResult
    public mutating func insert(_ value: Value, forKey key: String, cost: Int, expiresAt: UInt64) -> Bool {
        if let position = index[key] { remove(at: position) }
        guard cost >= 0, cost <= capacityBytes else { return false }
        while usedBytes + cost > capacityBytes, oldest >= 0 { remove(at: oldest) }
        let slot = Slot(key: key, value: value, cost: cost, expiresAt: expiresAt, newer: -1, older: -1)
        let position: Int
        if let reused = freeSlots.popLast() {
            position = reused
            slots[position] = slot
        } else {
            position = slots.count
            slots.append(slot)
        }
        index[key] = position
        usedBytes += cost
        linkAsNewest(position)
        return true
    }

    /// Drops the entry for `key`, if any.
    public mutating func removeValue(forKey key: String) {
        if let position = index[key] { remove(at: position) }
    }

    /// Keys from most to least recently used (for tests).
    public var keysByRecency: [String] {
        var keys: [String] = []
        var position = newest
        while position >= 0, let slot = slots[position] {
            keys.append(slot.key)
            position = slot.older
        }
        return keys
    }

    private mutating func remove(at position: Int) {
        guard let slot = slots[position] else { return }
        unlink(position)
        index[slot.key] = nil
        usedBytes -= slot.cost
        slots[position] = nil
        freeSlots.append(position)
    }

    private mutating func unlink(_ position: Int) {
        guard let slot = slots[position] else { return }
        if slot.newer >= 0 { slots[slot.newer]!.older = slot.older } else { newest = slot.older }
        if slot.older >= 0 { slots[slot.older]!.newer = slot.newer } else { oldest = slot.newer }
        slots[position]!.newer = -1
        slots[position]!.older = -1
    }

    private mutating func linkAsNewest(_ position: Int) {
        slots[position]!.older = newest
        slots[position]!.newer = -1
        if newest >= 0 { slots[newest]!.newer = position }
        newest = position
        if oldest < 0 { oldest = position }
    }
}
