import Foundation

/// Test clients, each on a thread of its own.
///
/// Test clients block: in sockets, in sleeps, in loops until told to stop. GCD's global pool (`DispatchQueue.global()`,
/// `concurrentPerform`) runs only about as many items at once as there are cores, and on Linux it does not grow
/// when they block. On a 2-core runner, a probe queued behind another suite's six looping clients started
/// seconds late and missed its window. A thread per client starts at once, whatever else runs.
public final class ClientThreads: Sendable {
    private let running = DispatchGroup()

    public init() {}

    /// Starts `body` on a new thread and returns at once.
    public func start(_ body: @escaping @Sendable () -> Void) {
        let running = self.running
        running.enter()
        Thread {
            body()
            running.leave()
        }.start()
    }

    /// Whether every client started so far ended within `seconds`.
    public func wait(seconds: Double) -> Bool {
        self.running.wait(timeout: .now() + seconds) == .success
    }

    /// Runs `body(0)` … `body(count - 1)` at once, each on its own thread, and returns when all of them ended.
    public static func run(_ count: Int, _ body: @escaping @Sendable (Int) -> Void) {
        let threads = ClientThreads()
        for index in 0..<count {
            threads.start { body(index) }
        }
        threads.running.wait()
    }
}
