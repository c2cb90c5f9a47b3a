import Testing

@testable import FanoutRuntime

@Suite struct RandomIDPoolTests {
    /// Draws across several refills of a small pool are all different: a refill that left the buffer as it
    /// was, or handed a value out twice, would repeat one (two equal 64-bit random values among 300 have a
    /// probability of about 2^-47).
    @Test func drawsDifferentValuesAcrossRefills() {
        var pool = RandomIDPool(capacity: 8)
        var seen = Set<UInt64>()
        for _ in 0..<300 { seen.insert(pool.next()) }
        #expect(seen.count == 300)
    }
}
