import Testing

@testable import FanoutCore

/// `busy_poll`'s adaptive window, fed idle gaps in nanoseconds as the loop measures them.
@Suite struct BusyPollGovernorTests {
    static let us: UInt64 = 1_000

    /// The windows after each gap, in µs.
    private static func windows(limit: Int, gaps: [UInt64]) -> [UInt64] {
        var governor = BusyPollGovernor(limitMicroseconds: limit)
        return gaps.map { gap in
            governor.idleGapEnded(after: gap * us)
            return governor.windowNanoseconds / us
        }
    }

    @Test func offNeverOpensAWindow() {
        var governor = BusyPollGovernor(limitMicroseconds: 0)
        #expect(!governor.isEnabled)
        for gap: UInt64 in [1, 10, 100] { governor.idleGapEnded(after: gap * Self.us) }
        #expect(governor.windowNanoseconds == 0)
    }

    @Test func shortGapsOpenTheWindowFromATenthOfTheLimitAndDoubleItUpToTheLimit() {
        #expect(Self.windows(limit: 50, gaps: [30, 30, 30, 30, 30, 30]) == [5, 10, 20, 40, 40, 40])
        #expect(Self.windows(limit: 50, gaps: [45, 45, 45, 45, 45]) == [5, 10, 20, 40, 50])
    }

    @Test func aGapTheWindowCoveredChangesNothing() {
        #expect(Self.windows(limit: 100, gaps: [90, 5, 8, 10]) == [10, 10, 10, 10])
    }

    @Test func gapsLongerThanTheLimitHalveTheWindowThenCloseIt() {
        // Up to 80 µs, then a client that sends every millisecond: 40, 20, 10 (the start), then closed.
        #expect(
            Self.windows(limit: 100, gaps: [60, 60, 60, 60, 1_000, 1_000, 1_000, 1_000, 1_000]) == [
                10, 20, 40, 80, 40, 20, 10, 0, 0,
            ])
    }

    @Test func aWindowClosedByLongGapsOpensAgainWhenTheyShorten() {
        #expect(Self.windows(limit: 50, gaps: [5_000, 20, 20, 5_000, 20]) == [0, 5, 10, 5, 10])
    }

    @Test func aSmallLimitStartsAtOneMicrosecond() {
        #expect(Self.windows(limit: 4, gaps: [3, 3, 3, 3]) == [1, 2, 4, 4])
    }
}
