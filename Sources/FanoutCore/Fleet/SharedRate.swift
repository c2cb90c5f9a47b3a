/// `rate N/s shared [replicas=N]` of one upstream: the rate is the whole fleet's. Replicas lease batches of
/// tokens from the store (``QuotaLease``); while the store is unavailable each replica keeps `rate / replicas`
/// (shared by its workers as a local `rate` is).
public struct SharedRate: Sendable, Equatable {
    /// The replicas sharing the quota when the store cannot be asked. Default 1: each keeps the whole rate.
    public var replicas: Int = 1

    public init(replicas: Int = 1) {
        self.replicas = replicas
    }

    /// The calls per second one replica keeps for `ratePerSecond` without the store.
    public func fallbackRate(_ ratePerSecond: Double) -> Double {
        ratePerSecond / Double(max(1, replicas))
    }
}
