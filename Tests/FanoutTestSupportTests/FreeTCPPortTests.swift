import FanoutTestSupport
import Glibc
import Testing

/// ``freeTCPPort()``: ports outside the range the kernel gives outgoing connections, never the same one twice.
@Suite struct FreeTCPPortTests {
    @Test func portsAreDistinctBindableAndBelowTheEphemeralRange() throws {
        let range = try #require(FileContents.bytes(atPath: "/proc/sys/net/ipv4/ip_local_port_range"))
        let ephemeralStart = try #require(
            String(decoding: range, as: UTF8.self).split(whereSeparator: \.isWhitespace).first.flatMap { Int($0) })
        var seen: Set<UInt16> = []
        for _ in 0..<200 {
            let port = try freeTCPPort()
            #expect(Int(port) < ephemeralStart)
            #expect(seen.insert(port).inserted, "port \(port) handed out twice")
        }
        // The caller can bind the port it was given, without SO_REUSEADDR.
        let port = try freeTCPPort()
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        #expect(fd >= 0)
        defer { close(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = port.bigEndian
        address.sin_addr.s_addr = UInt32(0x7F00_0001).bigEndian
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
            }
        }
        #expect(bound == 0, "bind 127.0.0.1:\(port): errno \(errno)")
    }
}
