@testable import FanoutRuntime
import Testing

@Suite struct CPUCountTests {
    @Test(arguments: [
        ("max 100000\n", nil),
        ("50000 100000\n", 1),
        ("100000 100000", 1),
        ("150000 100000", 2),
        ("400000 100000", 4),
        ("garbage", nil),
    ] as [(String, Int?)])
    func readsCgroupV2Quota(text: String, expected: Int?) {
        #expect(CPUCount.parseCgroupV2(text) == expected)
    }

    @Test func readsCgroupV1Quota() {
        #expect(CPUCount.parseCgroupV1(quota: "-1\n", period: "100000\n") == nil)
        #expect(CPUCount.parseCgroupV1(quota: "50000\n", period: "100000\n") == 1)
        #expect(CPUCount.parseCgroupV1(quota: "250000", period: "100000") == 3)
    }

    @Test func usableIsAtLeastOne() {
        #expect(CPUCount.usable() >= 1)
    }
}
