/// `FANOUT_ADMIN` in the environment of `fanout serve`: the admin listener, whatever the file says. It supplies
/// `admin_listen` to a file that has none and replaces the file's value otherwise, so the container image
/// (which sets `FANOUT_ADMIN=*:9901`) can point its `HEALTHCHECK` and Kubernetes probes at `/healthz` and
/// `/readyz` with any user's configuration. Its values are `admin_listen`'s: `off`, a port (on 127.0.0.1)
/// or an address like `*:9901`. Unset or empty: the file decides.
public struct AdminListenOverride: Sendable, Equatable {
    public static let variable = "FANOUT_ADMIN"

    /// The admin listener to use; nil: none (`off`).
    public var address: ListenAddress?

    public init(address: ListenAddress?) {
        self.address = address
    }

    /// A `FANOUT_ADMIN` value that is not an `admin_listen` value.
    public struct InvalidValue: Error, Equatable, CustomStringConvertible {
        public var value: String
        public var reason: String

        public var description: String { "\(AdminListenOverride.variable)='\(value)': \(reason)" }
    }

    /// The override `environment` asks for, nil when `FANOUT_ADMIN` is unset or empty.
    public static func from(environment: [String: String]) throws(InvalidValue) -> AdminListenOverride? {
        guard let value = environment[variable], !value.isEmpty else { return nil }
        if value == "off" { return AdminListenOverride(address: nil) }
        let parsed: Result<ListenAddress, ConfigValue.Failure>
        if value.allSatisfy({ $0.isASCII && $0.isNumber }) {
            parsed = ConfigValue.count(value, in: 0...65_535).map { ListenAddress(host: "127.0.0.1", port: UInt16($0)) }
        } else {
            parsed = ConfigValue.listenAddress(value)
        }
        switch parsed {
        case .success(let address):
            return AdminListenOverride(address: address)
        case .failure(let failure):
            throw InvalidValue(
                value: value,
                reason: failure.message + "; expected 'off', a port (on 127.0.0.1) or an address like *:9901")
        }
    }

    /// Puts the override into `config`. Returns a line for the operator when it replaces an `admin_listen`
    /// the file set to something else (nil when it agrees with the file or supplies a missing one).
    public func apply(to config: inout FanoutConfig, file: String) -> String? {
        defer { config.adminListen = address }
        guard let fromFile = config.adminListen, fromFile != address else { return nil }
        let chosen = address.map { "admin_listen \(Self.text($0))" } ?? "no admin listener"
        return "\(Self.variable) overrides \(file): \(chosen), not \(Self.text(fromFile))"
    }

    /// `127.0.0.1:9901`, `*:9901`, `[::1]:9901`.
    static func text(_ address: ListenAddress) -> String {
        address.host.contains(":") ? "[\(address.host)]:\(address.port)" : "\(address.host):\(address.port)"
    }
}
