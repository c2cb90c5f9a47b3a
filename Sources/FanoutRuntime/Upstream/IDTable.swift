/// Values by a nonzero `UInt64` id that is handed out in increasing order (``UpstreamClient``'s transfers in
/// flight): open addressing with linear probing, the id's low bits as its place, and backward-shift deletion.
///
/// A `Dictionary` hashed each id with SipHash on every insertion, lookup and removal: about 570 instructions
/// per transfer for the three (callgrind, `/overview`). Ids handed out in order fill neighbouring places, so a
/// probe rarely goes past its first place. At most half full; it grows, never shrinks (as the dictionary did).
///
/// Those neighbouring places form one run as long as the transfers in flight, and a backward-shift deletion
/// looks at every entry after its hole up to an empty place: at `-c64` (192 transfers in flight) that was
/// about 900 instructions per removal (callgrind: 3,238 per `/overview` request against 542 at `-c4`), and it
/// grew with a wide request's items. A removal looks only as far as ``maxDisplacement``: an entry further from
/// the hole than its own distance from its place cannot move into it.
struct IDTable<Value> {
    private struct Entry {
        /// 0: the place is empty.
        var id: UInt64
        var value: Value?
    }

    private var entries: [Entry]
    private(set) var count = 0
    /// No entry is further than this from its place (it may be more than the largest distance now). Ids in
    /// order sit at their own places, so it stays 0 until an id comes while the one `entries.count` before it
    /// is still stored (a transfer that outlives that many others); recounted every `entries.count`
    /// removals, and 0 again whenever the table is empty.
    private(set) var maxDisplacement = 0
    private var removalsSinceRecount = 0

    init() {
        entries = Array(repeating: Entry(id: 0, value: nil), count: 16)
    }

    var isEmpty: Bool { count == 0 }

    /// The places the table has (for the tests).
    var places: Int { entries.count }

    /// The value stored for `id`, nil if none.
    subscript(id: UInt64) -> Value? {
        guard let index = place(of: id) else { return nil }
        return entries[index].value
    }

    /// Stores `value` for `id` (nonzero), replacing the one stored for it.
    mutating func insert(_ value: Value, for id: UInt64) {
        precondition(id != 0, "IDTable ids start at 1")
        if (count + 1) * 2 > entries.count { grow() }
        let mask = entries.count - 1
        var index = Int(truncatingIfNeeded: id) & mask
        while entries[index].id != 0 && entries[index].id != id { index = (index + 1) & mask }
        if entries[index].id == 0 { count += 1 }
        entries[index] = Entry(id: id, value: value)
        maxDisplacement = max(maxDisplacement, (index &- Int(truncatingIfNeeded: id)) & mask)
    }

    /// Removes and returns the value stored for `id`, nil if none.
    @discardableResult
    mutating func removeValue(forKey id: UInt64) -> Value? {
        guard var hole = place(of: id) else { return nil }
        let mask = entries.count - 1
        let removed = entries[hole].value
        entries[hole] = Entry(id: 0, value: nil)
        count -= 1
        // The entries after the hole up to the next empty place move back into it when the hole lies between
        // their own place and where they are, so that every lookup still finds its entry before an empty place.
        // Only those at most `maxDisplacement` past the hole can.
        var index = (hole + 1) & mask
        while entries[index].id != 0 && (index &- hole) & mask <= maxDisplacement {
            let home = Int(truncatingIfNeeded: entries[index].id) & mask
            if (index &- home) & mask >= (index &- hole) & mask {
                entries.swapAt(hole, index)
                hole = index
            }
            index = (index + 1) & mask
        }
        removalsSinceRecount += 1
        if count == 0 {
            maxDisplacement = 0
            removalsSinceRecount = 0
        } else if removalsSinceRecount >= entries.count {
            recountDisplacement()
        }
        return removed
    }

    /// Sets ``maxDisplacement`` to the largest distance now: once per `entries.count` removals, so that it
    /// falls back once the entries that raised it are gone.
    private mutating func recountDisplacement() {
        let mask = entries.count - 1
        var largest = 0
        for index in entries.indices where entries[index].id != 0 {
            largest = max(largest, (index &- Int(truncatingIfNeeded: entries[index].id)) & mask)
        }
        maxDisplacement = largest
        removalsSinceRecount = 0
    }

    /// Every value stored, in no particular order.
    var values: [Value] {
        entries.compactMap { $0.id != 0 ? $0.value : nil }
    }

    mutating func removeAll() {
        entries = Array(repeating: Entry(id: 0, value: nil), count: entries.count)
        count = 0
        maxDisplacement = 0
        removalsSinceRecount = 0
    }

    private func place(of id: UInt64) -> Int? {
        guard id != 0 else { return nil }
        let mask = entries.count - 1
        var index = Int(truncatingIfNeeded: id) & mask
        while true {
            let found = entries[index].id
            if found == id { return index }
            if found == 0 { return nil }
            index = (index + 1) & mask
        }
    }

    private mutating func grow() {
        let old = entries
        entries = Array(repeating: Entry(id: 0, value: nil), count: old.count * 2)
        count = 0
        maxDisplacement = 0
        removalsSinceRecount = 0
        for entry in old where entry.id != 0 {
            if let value = entry.value { insert(value, for: entry.id) }
        }
    }
}
