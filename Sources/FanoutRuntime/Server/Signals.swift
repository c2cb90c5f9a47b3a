import CFanoutLinux

/// Process signal handling for the executable: SIGPIPE ignored, shutdown signals delivered synchronously
/// to the main thread (never to a worker loop).
public enum Signals {
    /// Call before starting any thread: threads inherit the blocked mask.
    public static func blockShutdownSignals() {
        _ = cfanout_block_shutdown_signals()
    }

    /// Waits for SIGINT, SIGTERM, SIGHUP or SIGQUIT; returns its name.
    public static func waitForShutdownSignal() -> String {
        switch cfanout_wait_shutdown_signal() {
        case SIGINT: return "SIGINT"
        case SIGTERM: return "SIGTERM"
        case SIGHUP: return "SIGHUP"
        case SIGQUIT: return "SIGQUIT"
        default: return "signal"
        }
    }
}
