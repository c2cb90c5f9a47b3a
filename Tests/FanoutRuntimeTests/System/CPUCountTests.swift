import Testing

@testable import FanoutRuntime

@Suite struct CPUCountTests {
    @Test(
        arguments: [
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

    @Test func findsTheQuotaOfTheProcesssOwnGroupAndItsAncestors() {
        let files = [
            "/sys/fs/cgroup/cpu.max": "max 100000",
            "/sys/fs/cgroup/system.slice/cpu.max": "300000 100000",
            "/sys/fs/cgroup/system.slice/fanout.service/cpu.max": "50000 100000",
        ]
        let v2 = CPUCount.quota(ownCgroups: "0::/system.slice/fanout.service\n", root: "/sys/fs/cgroup") { files[$0] }
        #expect(v2 == 1)
        // A parent's smaller quota applies to its children.
        let parent = CPUCount.quota(ownCgroups: "0::/system.slice/other.service\n", root: "/sys/fs/cgroup") {
            files[$0]
        }
        #expect(parent == 3)

        let v1Files = [
            "/sys/fs/cgroup/cpu,cpuacct/batch/cpu.cfs_quota_us": "150000\n",
            "/sys/fs/cgroup/cpu,cpuacct/batch/cpu.cfs_period_us": "100000\n",
            "/sys/fs/cgroup/cpu,cpuacct/cpu.cfs_quota_us": "-1\n",
            "/sys/fs/cgroup/cpu,cpuacct/cpu.cfs_period_us": "100000\n",
        ]
        let v1 = CPUCount.quota(
            ownCgroups: "12:memory:/batch\n4:cpu,cpuacct:/batch\n", root: "/sys/fs/cgroup"
        ) { v1Files[$0] }
        #expect(v1 == 2)
        // Inside a container the host path does not exist; the group mounted at the root is the container's.
        let container = CPUCount.quota(ownCgroups: "0::/docker/abc\n", root: "/sys/fs/cgroup") {
            $0 == "/sys/fs/cgroup/cpu.max" ? "50000 100000" : nil
        }
        #expect(container == 1)
        #expect(CPUCount.quota(ownCgroups: "", root: "/sys/fs/cgroup") { _ in nil } == nil)
    }

    @Test func usableIsAtLeastOne() {
        #expect(CPUCount.usable() >= 1)
    }
}
