import CFanoutLinux
import Glibc

/// A joinable OS thread running one closure. Used for worker loops and the access-log writer: a fixed
/// number of long-lived threads, never one per request.
final class OSThread: @unchecked Sendable {
    private var handle = pthread_t()
    private var joined = false

    private final class Box {
        let body: @Sendable () -> Void
        init(_ body: @escaping @Sendable () -> Void) { self.body = body }
    }

    init(name: String, _ body: @escaping @Sendable () -> Void) throws(SystemError) {
        let threadName = String(name.prefix(15))
        let box = Unmanaged.passRetained(
            Box({
                // Named for `top -H` and /proc/PID/task/*/comm.
                _ = cfanout_set_thread_name(threadName)
                body()
            })
        ).toOpaque()
        let rc = pthread_create(
            &handle, nil,
            { argument in
                let box = Unmanaged<Box>.fromOpaque(argument!).takeRetainedValue()
                box.body()
                return nil
            }, box)
        if rc != 0 {
            Unmanaged<Box>.fromOpaque(box).release()
            throw SystemError(call: "pthread_create", errno: rc)
        }
    }

    /// Waits for the thread to finish. Idempotent.
    func join() {
        guard !joined else { return }
        joined = true
        pthread_join(handle, nil)
    }
}

/// Lets one thread wait until `count` tasks on other threads have each called ``countDown()``: a POSIX
/// semaphore, owned by this object so a task that runs late never touches freed memory.
final class CountdownLatch: @unchecked Sendable {
    private let semaphore: UnsafeMutablePointer<sem_t>
    private let count: Int

    init(count: Int) {
        self.count = count
        semaphore = .allocate(capacity: 1)
        sem_init(semaphore, 0, 0)
    }

    deinit {
        sem_destroy(semaphore)
        semaphore.deallocate()
    }

    /// Safe from any thread. The corresponding C function is `sem_post`.
    func countDown() {
        sem_post(semaphore)
    }

    /// Returns after `count` calls to ``countDown()``. The corresponding C function is `sem_wait`.
    func wait() {
        for _ in 0..<count {
            while sem_wait(semaphore) != 0 && errno == EINTR {}
        }
    }
}
