@testable import FanoutRuntime

extension EventLoop {
    /// Runs the loop on the calling thread until `done()` holds (checked every millisecond) or `timeoutMs`
    /// pass; returns `done()`. For tests that drive a ``StoreClient`` on a loop of their own.
    @discardableResult
    func run(timeoutMs: Int = 3000, until done: @escaping () -> Bool) -> Bool {
        let start = now
        func check() {
            refreshNow()
            if done() || now - start > UInt64(timeoutMs) * 1_000_000 {
                requestStop()
            } else {
                schedule(afterMilliseconds: 1, check)
            }
        }
        schedule(afterMilliseconds: 0, check)
        run()
        return done()
    }
}
