import CFanoutLinux
import FanoutCore
import Glibc
import Synchronization

/// Something that owns a file descriptor registered with an `EventLoop`.
protocol EventHandler: AnyObject {
    /// Called on the loop thread with the epoll event bits for `fd`.
    func handleEvent(fd: Int32, events: UInt32)
}

/// Work that waits for the end of the loop's current turn (``EventLoop/atTurnEnd(_:)``).
protocol TurnEndTask: AnyObject {
    /// Called on the loop thread once the turn's events and due timers have been handled.
    func turnEnded()
}

/// Interest bits, as epoll spells them.
struct Interest: OptionSet {
    let rawValue: UInt32
    static let read = Interest(rawValue: CFANOUT_EPOLLIN)
    static let write = Interest(rawValue: CFANOUT_EPOLLOUT)
    static let readHangup = Interest(rawValue: CFANOUT_EPOLLRDHUP)
    /// Reported whether asked for or not.
    static let hangup = Interest(rawValue: CFANOUT_EPOLLHUP)
    /// Reported whether asked for or not.
    static let error = Interest(rawValue: CFANOUT_EPOLLERR)
}

/// A single-threaded, level-triggered epoll loop with user-space timers.
///
/// One loop per worker thread. Everything registered with it (listener, client connections, libcurl's
/// sockets) is touched only on that thread; the only cross-thread entry points are `execute(_:)` and
/// `requestStop()`, which go through a mutex-guarded queue and an eventfd.
///
/// A turn: one `epoll_wait` (not sleeping when a timer is due or a turn-end task waits), the events' handlers,
/// the due timers (a 0 ms one runs in the same turn), then the turn-end tasks (``atTurnEnd(_:)``). With
/// ``busyPoll`` enabled, a turn that follows one with events first polls without sleeping, for as long as the
/// governor's window says.
///
/// Stale events are dropped: `epoll_data.u64` carries `(generation << 32) | fd`, and an event whose
/// generation is not the fd's current one (closed and reused within the same `epoll_wait` batch) is skipped.
final class EventLoop: @unchecked Sendable {
    private struct Registration {
        var handler: (any EventHandler)?
        var generation: UInt32 = 0
        var interest: UInt32 = 0
    }

    private let epollFD: Int32
    private let wakeFD: Int32
    private var registrations: [Registration] = []
    private var generationCounter: UInt32 = 1
    private let eventBuffer: UnsafeMutableRawPointer
    private let eventCapacity: Int32 = 256
    private var timers = TimerHeap()
    /// Tasks for the end of the current turn, in the order asked (``atTurnEnd(_:)``).
    private var turnEndTasks: [any TurnEndTask] = []
    private let pending = Mutex<[@Sendable () -> Void]>([])
    private let stopFlag = Atomic<Bool>(false)

    /// `epoll_ctl` calls made for registrations so far (tests check that keep-alive upstream transfers make none).
    private(set) var controlCalls = 0

    /// `busy_poll`: after a turn that handled events, how long the next turn polls (`epoll_wait` with a timeout
    /// of 0) before it sleeps. Waking a thread that slept costs the kernel, and on a virtual machine whose idle
    /// vCPU halts it is the larger part of a request's latency at low load (docs/contributing/benchmarks.md). The
    /// window adapts to the idle gaps the loop sees (``BusyPollGovernor``); never after a turn without events, so
    /// an idle loop still sleeps. Off (limit 0) unless set.
    var busyPoll = BusyPollGovernor(limitMicroseconds: 0)
    /// Busy polling so far: turns that found events while polling, and turns that polled in vain and slept
    /// (`fanout_busy_polls_total`).
    private(set) var busyPolls = BusyPollCounts()
    private var lastTurnHadEvents = false

    /// Monotonic nanoseconds, refreshed once per loop iteration (and by `refreshNow()`).
    private(set) var now: UInt64 = monotonicNanoseconds()

    init() throws(SystemError) {
        epollFD = try blockingSyscall("epoll_create1") { epoll_create1(Int32(EPOLL_CLOEXEC)) }
        do {
            wakeFD = try blockingSyscall("eventfd") { eventfd(0, Int32(EFD_CLOEXEC) | Int32(EFD_NONBLOCK)) }
        } catch {
            closeDescriptor(epollFD)
            throw error
        }
        eventBuffer = UnsafeMutableRawPointer.allocate(
            byteCount: Int(eventCapacity) * cfanout_epoll_event_size(), alignment: 8)
        // The wake descriptor uses generation 0 and no handler: it is recognised by its fd.
        _ = cfanout_epoll_ctl(epollFD, EPOLL_CTL_ADD, wakeFD, CFANOUT_EPOLLIN, UInt64(UInt32(bitPattern: wakeFD)))
    }

    deinit {
        closeDescriptor(wakeFD)
        closeDescriptor(epollFD)
        eventBuffer.deallocate()
    }

    // MARK: - Registration

    /// Starts watching `fd` with `interest` (level-triggered). ERR and HUP are always reported.
    /// A stale entry for the same number (closed elsewhere without deregistering) is replaced.
    func register(fd: Int32, interest: Interest, handler: any EventHandler) {
        let index = Int(fd)
        registrations.growToHold(index, filler: Registration())
        generationCounter &+= 1
        if generationCounter == 0 { generationCounter = 1 }
        registrations[index] = Registration(
            handler: handler, generation: generationCounter, interest: interest.rawValue)
        let data = UInt64(generationCounter) << 32 | UInt64(UInt32(bitPattern: fd))
        controlCalls &+= 1
        if cfanout_epoll_ctl(epollFD, EPOLL_CTL_ADD, fd, interest.rawValue, data) != 0 && errno == EEXIST {
            _ = cfanout_epoll_ctl(epollFD, EPOLL_CTL_MOD, fd, interest.rawValue, data)
        }
    }

    /// Changes what `fd` is watched for; no syscall when nothing changes.
    func setInterest(fd: Int32, _ interest: Interest) {
        let index = Int(fd)
        guard index < registrations.count, registrations[index].handler != nil else { return }
        if registrations[index].interest == interest.rawValue { return }
        registrations[index].interest = interest.rawValue
        let data = UInt64(registrations[index].generation) << 32 | UInt64(UInt32(bitPattern: fd))
        controlCalls &+= 1
        _ = cfanout_epoll_ctl(epollFD, EPOLL_CTL_MOD, fd, interest.rawValue, data)
    }

    /// Stops watching `fd` (before it is closed). `ENOENT`/`EBADF` are harmless here: the descriptor
    /// may already be gone (libcurl's REMOVE after close, or the kernel dropped it on close).
    func deregister(fd: Int32) {
        let index = Int(fd)
        guard index < registrations.count, registrations[index].handler != nil else { return }
        registrations[index] = Registration()
        controlCalls &+= 1
        _ = cfanout_epoll_ctl(epollFD, EPOLL_CTL_DEL, fd, 0, 0)
    }

    func isRegistered(fd: Int32) -> Bool {
        Int(fd) < registrations.count && registrations[Int(fd)].handler != nil
    }

    // MARK: - Timers

    /// Runs `action` on this loop after `milliseconds` (0 = after the current batch of events).
    @discardableResult
    func schedule(afterMilliseconds milliseconds: Int, _ action: @escaping () -> Void) -> TimerID {
        timers.schedule(at: now &+ UInt64(max(0, milliseconds)) &* 1_000_000, action)
    }

    /// Runs `action` on this loop once the monotonic clock reaches `deadline` (nanoseconds, as `now`); a deadline
    /// already past runs after the current batch of events.
    @discardableResult
    func schedule(at deadline: UInt64, _ action: @escaping () -> Void) -> TimerID {
        timers.schedule(at: deadline, action)
    }

    func cancel(_ timer: TimerID) {
        timers.cancel(timer)
    }

    /// Moves `timer` to `milliseconds` from now, keeping its action (no new closure); false if it already
    /// fired or was cancelled.
    func reschedule(_ timer: TimerID, afterMilliseconds milliseconds: Int) -> Bool {
        timers.reschedule(timer, at: now &+ UInt64(max(0, milliseconds)) &* 1_000_000)
    }

    /// Runs `task.turnEnded()` once the current turn's events and due timers have been handled, before the loop
    /// waits again: outside every handler's and libcurl's stack, and without a loop turn or a timer of its own
    /// (no allocation once the list has grown). A task added by another's `turnEnded()` runs in the same pass;
    /// one added outside a turn runs before the next wait. Adding the same task twice runs it twice: the caller
    /// keeps its own flag.
    func atTurnEnd(_ task: any TurnEndTask) {
        turnEndTasks.append(task)
    }

    func refreshNow() {
        now = monotonicNanoseconds()
    }

    // MARK: - Cross-thread

    /// Queues `task` to run on the loop thread and wakes the loop. Safe from any thread.
    func execute(_ task: @escaping @Sendable () -> Void) {
        pending.withLock { $0.append(task) }
        wake()
    }

    /// Asks `run()` to return after the current iteration. Safe from any thread.
    func requestStop() {
        stopFlag.store(true, ordering: .releasing)
        wake()
    }

    private func wake() {
        var one: UInt64 = 1
        _ = withUnsafeBytes(of: &one) { Glibc.write(wakeFD, $0.baseAddress, 8) }
    }

    // MARK: - Running

    /// Drops tasks queued by `execute` that will never run (the loop has stopped). A task may hold its target
    /// strongly (`worker.loop.execute { worker.… }`), so one left queued would keep the loop's owner alive
    /// in a cycle. Call on the loop's thread after `run()` returned.
    func discardPendingTasks() {
        let dropped = pending.withLock { tasks -> [@Sendable () -> Void] in
            defer { tasks.removeAll() }
            return tasks
        }
        _ = dropped  // released here, outside the lock
    }

    /// Runs until `requestStop()`. Never busy-waits beyond ``busyPoll``'s window after a turn with events: with
    /// no timer pending it blocks in `epoll_wait`. A stopped
    /// loop may run again (tests drive one loop in steps).
    func run() {
        while !stopFlag.load(ordering: .acquiring) {
            runOnce()
        }
        stopFlag.store(false, ordering: .releasing)
    }

    private func runOnce() {
        if !turnEndTasks.isEmpty { runTurnEndTasks() }
        var count: Int32 = 0
        let measuresGap = lastTurnHadEvents && busyPoll.isEnabled
        var gapStart: UInt64 = 0
        if measuresGap {
            refreshNow()
            gapStart = now
            if busyPoll.windowNanoseconds > 0 { count = pollWithoutSleeping() }
        }
        if count == 0 {
            count = cfanout_epoll_wait(epollFD, eventBuffer, eventCapacity, waitTimeout())
        }
        refreshNow()
        lastTurnHadEvents = count > 0
        if measuresGap && count > 0 { busyPoll.idleGapEnded(after: now &- gapStart) }
        if count > 0 {
            for i in 0..<count {
                dispatch(
                    events: cfanout_epoll_event_events(eventBuffer, i), data: cfanout_epoll_event_data(eventBuffer, i))
            }
        }
        while let action = timers.popExpired(now: now) {
            action()
        }
        if !turnEndTasks.isEmpty { runTurnEndTasks() }
    }

    /// Polls for events without sleeping, for ``busyPoll``'s window or until the earliest timer is due; the
    /// events' count (0: none came, the turn sleeps as usual). It does not yield the CPU between polls:
    /// `sched_yield` cost about 5 µs of p50 at `-c1`, and under full load the loop finds events at once anyway
    /// (docs/contributing/benchmarks.md).
    private func pollWithoutSleeping() -> Int32 {
        var end = now &+ busyPoll.windowNanoseconds
        if let deadline = timers.earliestDeadline() { end = min(end, deadline) }
        while true {
            let count = cfanout_epoll_wait(epollFD, eventBuffer, eventCapacity, 0)
            if count != 0 {
                busyPolls.hits &+= 1
                return count
            }
            refreshNow()
            if now >= end {
                busyPolls.misses &+= 1
                return 0
            }
        }
    }

    /// The `epoll_wait` timeout until the earliest timer (0 when one is due, -1 without timers).
    private func waitTimeout() -> Int32 {
        let timeout: Int32
        if let deadline = timers.earliestDeadline() {
            refreshNow()
            if deadline <= now {
                timeout = 0
            } else {
                // Round up to whole milliseconds: waking early only to find nothing due costs a wake-up.
                let ms = (deadline - now + 999_999) / 1_000_000
                timeout = Int32(min(ms, UInt64(Int32.max)))
            }
        } else {
            timeout = -1
        }
        return timeout
    }

    private func runTurnEndTasks() {
        var index = 0
        while index < turnEndTasks.count {
            let task = turnEndTasks[index]
            index += 1
            task.turnEnded()
        }
        turnEndTasks.removeAll(keepingCapacity: true)
    }

    private func dispatch(events: UInt32, data: UInt64) {
        let fd = Int32(bitPattern: UInt32(truncatingIfNeeded: data))
        let generation = UInt32(truncatingIfNeeded: data >> 32)
        if fd == wakeFD && generation == 0 {
            drainWakeups()
            return
        }
        let index = Int(fd)
        guard index < registrations.count, registrations[index].generation == generation,
            let handler = registrations[index].handler
        else { return }
        handler.handleEvent(fd: fd, events: events)
    }

    private func drainWakeups() {
        var counter: UInt64 = 0
        _ = withUnsafeMutableBytes(of: &counter) { Glibc.read(wakeFD, $0.baseAddress, 8) }
        let tasks = pending.withLock { tasks -> [@Sendable () -> Void] in
            let taken = tasks
            tasks.removeAll()
            return taken
        }
        for task in tasks { task() }
    }
}
