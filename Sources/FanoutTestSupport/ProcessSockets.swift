import Foundation
import Glibc

/// What this test process holds open, read from `/proc`, for leak checks.
///
/// The proxy under test runs in the test process, so its upstream connections are this process's sockets.
/// Counting only the sockets connected to one stub's port stays exact while other tests run in parallel.
public enum ProcessSockets {
    /// A TCP state as `/proc/net/tcp` spells it (the kernel's `TCP_*` numbers in hex).
    public enum TCPState: String, Sendable {
        case established = "01"
        case finWait1 = "04"
        case finWait2 = "05"
        case timeWait = "06"
        /// The peer closed and this side has not: the socket waits for its owner to notice.
        case closeWait = "08"
        case lastAck = "09"
    }

    /// How many descriptors this process has open (entries of `/proc/self/fd`).
    public static func openDescriptorCount() -> Int {
        (try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/fd").count) ?? 0
    }

    /// How many of this process's descriptors are TCP sockets whose remote end is port `port` (IPv4 or IPv6):
    /// for a stub's port, the connections the proxy (or a test client) holds to that stub, in any state,
    /// `CLOSE_WAIT` included; with `state`, only those in that state. A socket whose connection is over (after
    /// `shutdown`, `LAST_ACK` acknowledged) is in no table and not counted, even while its descriptor is open.
    public static func connections(toPort port: UInt16, inState state: TCPState? = nil) -> Int {
        var inodes = Set<String>()
        for table in ["/proc/self/net/tcp", "/proc/self/net/tcp6"] {
            guard let text = Self.readProcFile(table) else {
                continue
            }
            for line in text.split(separator: "\n").dropFirst() {
                // sl local_address rem_address st tx_queue:rx_queue tr:tm->when retrnsmt uid timeout inode …
                let fields = line.split(separator: " ", omittingEmptySubsequences: true)
                guard fields.count > 9, let colon = fields[2].lastIndex(of: ":"),
                    UInt16(fields[2][fields[2].index(after: colon)...], radix: 16) == port, fields[9] != "0",
                    state.map({ fields[3] == $0.rawValue }) ?? true
                else {
                    continue
                }
                inodes.insert("socket:[\(fields[9])]")
            }
        }
        guard !inodes.isEmpty, let entries = try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/fd")
        else {
            return 0
        }
        return entries.count { entry in
            guard let target = try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/fd/\(entry)")
            else {
                return false
            }
            return inodes.contains(target)
        }
    }

    /// The whole text of a `/proc` file (these report size 0: ``FileContents`` reads until EOF).
    private static func readProcFile(_ path: String) -> String? {
        FileContents.bytes(atPath: path).map { String(decoding: $0, as: UTF8.self) }
    }
}
