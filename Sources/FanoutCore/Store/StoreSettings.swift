/// The `store` block: a Redis or Valkey server every replica of fanout shares (the second level of the call
/// cache). Absent: fanout opens no connection and does no work for it.
public struct StoreSettings: Sendable, Equatable {
    /// `address HOST:PORT`: an IPv4 or IPv6 literal (no name lookup on a loop thread). Default port 6379.
    public var address: ListenAddress
    /// `connect_timeout`: how long one connection attempt may take. Default 200 ms.
    public var connectTimeoutMs = 200
    /// `command_timeout`: how long a call waits for the store's answer before it goes on without it (the
    /// budget of a cache lookup). Default 5 ms.
    public var commandTimeoutMs = 5
    /// `prefix`: the start of every key fanout writes. Default `fanout:`.
    public var prefix = "fanout:"
    /// `password`: sent with `AUTH` after connecting (write it as `${VAR}`); nil: no `AUTH`.
    public var password: String?
    /// `user`: the ACL user of `AUTH user password`; nil: `AUTH password` (the default user).
    public var user: String?
    /// `db`: the database `SELECT`ed after connecting. Default 0 (no `SELECT`).
    public var database = 0
    /// `max_entry`: the largest cache entry written to the store; larger answers stay in the worker's cache
    /// only. Default 256 KiB.
    public var maxEntryBytes = 256 * 1024
    /// `tls on`: the connection is TLS (OpenSSL), and the server's certificate is always verified.
    public var tls = false
    /// `tls_ca`: the PEM bundle the server's certificate is verified against; nil: the system's store.
    public var tlsCA: String?
    /// `tls_server_name`: the name sent as SNI and required in the server's certificate; nil: the address's IP
    /// (matched against the certificate's IP addresses, no SNI).
    public var tlsServerName: String?
    /// `tls_cert` and `tls_key`: the client certificate (PEM, with its chain) and its key, for a server that
    /// authenticates its clients (Redis' `tls-auth-clients yes`); nil: none presented.
    public var tlsCertificate: String?
    public var tlsKey: String?

    public init(address: ListenAddress) {
        self.address = address
    }

    public static let defaultPort: UInt16 = 6379
}

/// When to try connecting to the store again after a failure: 50 ms, then doubling, at most 500 ms, so that
/// a store that comes back is used again within a second.
public struct StoreBackoff: Sendable, Equatable {
    public static let firstDelayMs = 50
    public static let maxDelayMs = 500
    /// Failed attempts since the last good connection.
    public private(set) var failures = 0

    public init() {}

    /// The delay before the next attempt, after one more failure.
    public mutating func failed() -> Int {
        failures += 1
        return min(Self.firstDelayMs << min(failures - 1, 10), Self.maxDelayMs)
    }

    public mutating func connected() {
        failures = 0
    }
}

/// What the store connection's state changes come to, decided once per change so that a store that stays
/// down logs one line, not one per reconnect attempt.
public struct StoreHealth: Sendable, Equatable {
    public enum Change: Sendable, Equatable {
        /// The first good connection.
        case connected
        /// A good connection (or the first attempts) failed; `reason` says how.
        case unavailable(reason: String)
        /// Good again after being unavailable for `afterMs`.
        case reconnected(afterMs: Int)
    }

    public enum State: Sendable, Equatable {
        case starting
        case available
        /// Since `since` (clock nanoseconds).
        case unavailable(since: UInt64)
    }

    public private(set) var state = State.starting
    private var everConnected = false

    public init() {}

    public var isAvailable: Bool { state == .available }

    /// The connection is ready for commands (after `AUTH` and `SELECT`).
    public mutating func ready(now: UInt64) -> Change? {
        switch state {
        case .available:
            return nil
        case .starting:
            state = .available
            everConnected = true
            return .connected
        case .unavailable(let since):
            state = .available
            defer { everConnected = true }
            guard everConnected else { return .connected }
            return .reconnected(afterMs: Int((now &- since) / 1_000_000))
        }
    }

    /// A connection attempt or a good connection failed.
    public mutating func failed(reason: String, now: UInt64) -> Change? {
        switch state {
        case .unavailable:
            return nil
        case .starting, .available:
            state = .unavailable(since: now)
            return .unavailable(reason: reason)
        }
    }
}
