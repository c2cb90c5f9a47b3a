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
        quota(ownCgroups: readSmallFile("/proc/self/cgroup", limit: 4096) ?? "", root: root) {
            readSmallFile($0)
        }
    }

    /// The smallest quota on the way from the process's own cgroup up to the hierarchy's root. A container
    /// sees its own group at the root; a process under systemd's `CPUQuota=` or in a child group on a host
    /// has it further down, named in `/proc/self/cgroup` (`0::/PATH` for v2, `N:cpu,cpuacct:/PATH` for v1).
    /// Directories that do not exist (a host path seen from inside a container) are skipped.
    static func quota(ownCgroups: String, root: String, read: (String) -> String?) -> Int? {
        var v2Path: String?
        var v1Path: String?
        for line in ownCgroups.split(separator: "\n") {
            let fields = line.split(separator: ":", maxSplits: 2, omittingEmptySubsequences: false)
            guard fields.count == 3 else { continue }
            if fields[0] == "0" && fields[1].isEmpty {
                v2Path = String(fields[2])
            } else if fields[1].split(separator: ",").contains("cpu") {
                v1Path = String(fields[2])
            }
        }
        var quotas: [Int] = []
        for directory in ancestors(v2Path ?? "/") {
            if let text = read("\(root)\(directory)cpu.max"), let quota = parseCgroupV2(text) { quotas.append(quota) }
        }
        for mount in ["cpu", "cpu,cpuacct"] {
            for directory in ancestors(v1Path ?? "/") {
                let base = "\(root)/\(mount)\(directory)"
                if let quota = read(base + "cpu.cfs_quota_us"), let period = read(base + "cpu.cfs_period_us"),
                    let cpus = parseCgroupV1(quota: quota, period: period)
                {
                    quotas.append(cpus)
                }
            }
        }
        return quotas.min()
    }

    /// `/a/b` → `/a/b/`, `/a/`, `/`.
    static func ancestors(_ path: String) -> [String] {
        var parts = path.split(separator: "/").map(String.init)
        var result: [String] = []
        while true {
            result.append("/" + parts.map { $0 + "/" }.joined())
            if parts.isEmpty { break }
            parts.removeLast()
        }
        return result
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
        guard let q = Int(quota.filter { !$0.isWhitespace }), let p = Int(period.filter { !$0.isWhitespace }), q > 0,
            p > 0
        else { return nil }
        return (q + p - 1) / p
    }

    static func readSmallFile(_ path: String, limit: Int = 256) -> String? {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return nil }
        defer { closeDescriptor(fd) }
        var buffer = [UInt8](repeating: 0, count: limit)
        let n = buffer.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress, $0.count) }
        guard n > 0 else { return nil }
        return String(decoding: buffer[0..<n], as: UTF8.self)
    }
}
