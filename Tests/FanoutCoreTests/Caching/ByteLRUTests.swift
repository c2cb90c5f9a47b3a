import Testing

@testable import FanoutCore

@Suite struct ByteLRUTests {
    @Test func evictsTheLeastRecentlyUsedUntilTheNewEntryFits() {
        var cache = ByteLRU<Int>(capacityBytes: 100)
        cache.insert(1, forKey: "a", cost: 40, expiresAt: 1_000)
        cache.insert(2, forKey: "b", cost: 40, expiresAt: 1_000)
        #expect(cache.value(forKey: "a", now: 0) == 1)  // a is now the most recent
        cache.insert(3, forKey: "c", cost: 40, expiresAt: 1_000)
        #expect(cache.keysByRecency == ["c", "a"])
        let got1 = cache.value(forKey: "b", now: 0)
        #expect(got1 == nil)
        #expect(cache.usedBytes == 80)
        cache.insert(4, forKey: "d", cost: 100, expiresAt: 1_000)
        #expect(cache.keysByRecency == ["d"])
        #expect(cache.usedBytes == 100)
    }

    @Test func anEntryOverTheCapacityIsNotStoredAndReplacingCountsTheNewCost() {
        var cache = ByteLRU<String>(capacityBytes: 10)
        let got2 = cache.insert("x", forKey: "a", cost: 4, expiresAt: 10)
        #expect(got2)
        let got3 = cache.insert("big", forKey: "b", cost: 11, expiresAt: 10)
        #expect(!got3)
        #expect(cache.keysByRecency == ["a"])
        let got4 = cache.insert("y", forKey: "a", cost: 7, expiresAt: 10)
        #expect(got4)
        #expect(cache.usedBytes == 7)
        #expect(cache.count == 1)
        let got5 = cache.value(forKey: "a", now: 0)
        #expect(got5 == "y")
        // A too-large replacement drops the old value too: it is stale by definition.
        let got6 = cache.insert("huge", forKey: "a", cost: 50, expiresAt: 10)
        #expect(!got6)
        #expect(cache.count == 0)
        #expect(cache.usedBytes == 0)
    }

    @Test func anExpiredEntryMissesAndFreesItsBytes() {
        var cache = ByteLRU<Int>(capacityBytes: 10)
        cache.insert(1, forKey: "a", cost: 5, expiresAt: 100)
        let got7 = cache.value(forKey: "a", now: 99)
        #expect(got7 == 1)
        let got8 = cache.value(forKey: "a", now: 100)
        #expect(got8 == nil)
        #expect(cache.usedBytes == 0)
        #expect(cache.count == 0)
    }

    @Test func staysWithinItsCapacityUnderChurn() {
        var cache = ByteLRU<Int>(capacityBytes: 1_000)
        var generator = SplitMix(seed: 7)
        for round in 0..<5_000 {
            let key = "k\(generator.next() % 200)"
            if generator.next() % 3 == 0 {
                _ = cache.value(forKey: key, now: UInt64(round))
            } else {
                cache.insert(round, forKey: key, cost: Int(generator.next() % 120), expiresAt: UInt64(round + 50))
            }
            #expect(cache.usedBytes <= 1_000)
            #expect(cache.keysByRecency.count == cache.count)
        }
    }
}

/// A small deterministic generator, so the churn test is the same on every run.
private struct SplitMix {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
