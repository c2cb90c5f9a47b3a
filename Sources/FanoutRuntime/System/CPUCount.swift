import CFanoutLinux
import Glibc

/// How many CPUs this process may use: the affinity mask, lowered by a cgroup CPU quota (v2 `cpu.max`, or
/// v1 `cpu.cfs_quota_us` / `cpu.cfs_period_us`), so a container limited to 0.5 CPU gets one worker, not one
/// per host core. Read once at start-up.
enum CPUCount {
    static func usable() -> Int {
        var count = Int(cfanout_affinity_cpu_count())
        if count <= 0 { count = max(1, Int(sysconf(Int32(_SC_NPROCESSORS_ONLN)))) }
        if let quota = cgroupQuota() { count = min(count, quota) }
        return max(1, count)
    }

    /// The quota in whole CPUs (rounded up), or nil when there is none.
    static func cgroupQuota(root: String = "/sys/fs/cgroup") -> Int? {
        if let text = readSmallFile("\(root)/cpu.max") {
            return parseCgroupV2(text)
        }
        if let quota = readSmallFile("\(root)/cpu/cpu.cfs_quota_us") ?? readSmallFile("\(root)/cpu,cpuacct/cpu.cfs_quota_us"),
            let period = readSmallFile("\(root)/cpu/cpu.cfs_period_us") ?? readSmallFile("\(root)/cpu,cpuacct/cpu.cfs_period_us")
        {
            return parseCgroupV1(quota: quota, period: period)
        }
        return nil
    }

    /// `cpu.max` holds `max 100000` (no quota) or `QUOTA PERIOD`.
    static func parseCgroupV2(_ text: String) -> Int? {
        let fields = text.split(whereSeparator: { $0 == " " || $0 == "\n" })
        guard fields.count >= 2, fields[0] != "max", let quota = Int(fields[0]), let period = Int(fields[1]),
            quota > 0, period > 0
        else { return nil }
        return (quota + period - 1) / period
    }

    /// v1: a quota of -1 means none.
    static func parseCgroupV1(quota: String, period: String) -> Int? {
        guard let q = Int(quota.filter { !$0.isWhitespace }), let p = Int(period.filter { !$0.isWhitespace }), q > 0, p > 0
        else { return nil }
        return (q + p - 1) / p
    }

    static func readSmallFile(_ path: String) -> String? {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return nil }
        defer { closeDescriptor(fd) }
        var buffer = [UInt8](repeating: 0, count: 256)
        let n = buffer.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress, $0.count) }
        guard n > 0 else { return nil }
        return String(decoding: buffer[0..<n], as: UTF8.self)
    }
}
