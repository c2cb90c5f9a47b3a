import Glibc

/// The process's open-file limit (RLIMIT_NOFILE). Every client connection, upstream connection and
/// listener is a descriptor; the common soft default of 1024 would stop accepting long before
/// `max_client_connections`, so fanout raises the soft limit to the hard one at start, as Go's runtime and
/// nginx's `worker_rlimit_nofile` do.
public enum OpenFileLimit {
    /// Raises the soft limit to the hard limit; returns the soft limit now in force (nil if it cannot be read).
    @discardableResult
    public static func raiseToHardLimit() -> UInt64? {
        var limit = rlimit()
        guard getrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit) == 0 else { return nil }
        if limit.rlim_cur < limit.rlim_max {
            var raised = limit
            raised.rlim_cur = limit.rlim_max
            if setrlimit(Int32(RLIMIT_NOFILE.rawValue), &raised) == 0 { return UInt64(raised.rlim_cur) }
        }
        return UInt64(limit.rlim_cur)
    }

    /// The start-up warning when `limit` cannot hold `clientConnections`, the upstreams' connection caps and a
    /// few more (listeners, libcurl's resolver, the log), or nil.
    public static func warning(limit: UInt64, clientConnections: Int, upstreamConnections: Int) -> String? {
        let needed = UInt64(clientConnections) + UInt64(upstreamConnections) + 64
        guard limit < needed else { return nil }
        return "the open-file limit is \(limit), below max_client_connections \(clientConnections) plus the upstreams' "
            + "max_connections \(upstreamConnections) (about \(needed) descriptors); beyond it new connections wait "
            + "instead of getting 503 (raise the hard limit: ulimit -Hn, LimitNOFILE=, docker --ulimit nofile=)"
    }
}
