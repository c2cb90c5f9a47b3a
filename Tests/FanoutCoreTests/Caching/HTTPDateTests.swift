import Testing

@testable import FanoutCore

@Suite struct HTTPDateTests {
    /// 2025-06-01T00:00:00Z, for the RFC 850 century rule.
    private let now: Int64 = 1_748_736_000

    @Test(arguments: [
        "Sun, 06 Nov 1994 08:49:37 GMT",
        "Sunday, 06-Nov-94 08:49:37 GMT",
        "Sun Nov  6 08:49:37 1994",
    ])
    func parsesTheThreeFormatsOfRFC9110(_ text: String) {
        #expect(HTTPDate.seconds(text, now: now) == 784_111_777)
    }

    @Test func parsesKnownInstants() {
        #expect(HTTPDate.seconds("Thu, 01 Jan 1970 00:00:00 GMT", now: now) == 0)
        #expect(HTTPDate.seconds("Wed, 21 Oct 2015 07:28:00 GMT", now: now) == 1_445_412_480)
        #expect(HTTPDate.seconds("Thu, 29 Feb 2024 12:00:00 GMT", now: now) == 1_709_208_000)
        #expect(HTTPDate.seconds("Wed Oct 21 07:28:00 2015", now: now) == 1_445_412_480)
    }

    @Test func anRFC850YearMoreThanFiftyYearsAheadIsInThePastCentury() {
        #expect(HTTPDate.seconds("Thursday, 01-Jan-70 00:00:00 GMT", now: now) == 3_155_760_000)  // 2070
        #expect(HTTPDate.seconds("Tuesday, 01-Jan-80 00:00:00 GMT", now: now) == 315_532_800)  // 1980
    }

    @Test(arguments: [
        "0", "", "-1", "Sun, 06 Nov 1994 08:49:37 UTC", "sun, 06 Nov 1994 08:49:37 GMT",
        "Sun, 06 nov 1994 08:49:37 GMT",
        "Sun, 6 Nov 1994 08:49:37 GMT", "Sun, 31 Feb 1994 08:49:37 GMT", "Wed, 29 Feb 2023 08:49:37 GMT",
        "Sun, 06 Nov 1994 24:00:00 GMT", "Sun, 06 Nov 1994 08:60:00 GMT", "Sun, 06 Nov 1994 08:49:37 GMT ",
        "Sunday, 06-Nov-1994 08:49:37 GMT", "Sun Nov 6 08:49:37 1994", "Sun Nov  6 08:49:37 94",
        "Fri, 00 Jan 2021 00:00:00 GMT",
        "Xyz, 06 Nov 1994 08:49:37 GMT",
    ])
    func rejectsAnythingElse(_ text: String) {
        #expect(HTTPDate.seconds(text, now: now) == nil)
    }
}
