import FanoutCore
import Glibc
import Testing

@testable import FanoutRuntime

/// `busy_poll`: after a turn with events the loop polls without sleeping, for its duration or until a timer is
/// due; after a turn without events it sleeps at once. Real pipes, a real epoll loop; the margins are wide
/// (polls of 1–5 s against events 20–30 ms apart). The late byte comes from a thread of its own, not from a
/// Dispatch queue: under a loaded sanitizer run a queue's worker may start seconds late.
@Suite struct EventLoopBusyPollTests {
    /// Reads a non-blocking pipe on each event and counts the bytes.
    final class PipeReader: EventHandler {
        var bytes = 0
        var onByte: (Int) -> Void = { _ in }

        func handleEvent(fd: Int32, events: UInt32) {
            var byte: UInt8 = 0
            while read(fd, &byte, 1) == 1 {
                bytes += 1
                onByte(bytes)
            }
        }
    }

    /// A governor whose window is already its 5 s limit: gaps within it opened the window at 0.5 s and doubled it.
    private static func openedGovernor() throws -> BusyPollGovernor {
        var governor = BusyPollGovernor(limitMicroseconds: 5_000_000)
        for _ in 0..<5 { governor.idleGapEnded(after: governor.limitNanoseconds) }
        try #require(governor.windowNanoseconds == 5_000_000_000)
        return governor
    }

    /// Runs `body` with a loop that polls as `busyPoll` says after a turn with events, a non-blocking pipe whose
    /// read end it watches with `reader`, and a 30 s timer that stops a run that would hang; closes the pipe after.
    private func withPolledPipe(
        _ busyPoll: BusyPollGovernor, _ body: (EventLoop, PipeReader, _ writeEnd: Int32) throws -> Void
    ) throws {
        let loop = try EventLoop()
        loop.busyPoll = busyPoll
        var fds: [Int32] = [0, 0]
        try #require(Glibc.pipe(&fds) == 0)
        for fd in fds { _ = fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK) }
        let reader = PipeReader()
        loop.register(fd: fds[0], interest: .read, handler: reader)
        defer {
            loop.deregister(fd: fds[0])
            close(fds[0])
            close(fds[1])
        }
        loop.schedule(afterMilliseconds: 30_000) { [weak loop] in loop?.requestStop() }
        try body(loop, reader, fds[1])
    }

    private static func writeByte(_ fd: Int32) {
        var byte: UInt8 = 1
        _ = write(fd, &byte, 1)
    }

    @Test func anEventThatComesWhileTheLoopPollsIsTakenWithoutSleeping() throws {
        try withPolledPipe(Self.openedGovernor()) { loop, reader, writeEnd in
            var writer: OSThread?
            reader.onByte = { count in
                if count == 1 {
                    writer = try? OSThread(name: "late-byte") {
                        usleep(20_000)
                        Self.writeByte(writeEnd)
                    }
                } else {
                    loop.requestStop()
                }
            }
            Self.writeByte(writeEnd)
            loop.run()
            try #require(writer != nil)
            writer?.join()
            #expect(reader.bytes == 2)
            #expect(loop.busyPolls.hits == 1)
            #expect(loop.busyPolls.misses == 0)
        }
    }

    /// A loop that starts with a closed window (as a worker does) opens it once it has seen gaps within the limit,
    /// and then takes the next events while polling. A 10 s limit (the window opens at 1 s) against bytes 20 ms
    /// apart.
    @Test func aLoopThatSeesShortGapsOpensItsWindowAndThenPolls() throws {
        try withPolledPipe(BusyPollGovernor(limitMicroseconds: 10_000_000)) { loop, reader, writeEnd in
            reader.onByte = { count in if count == 6 { loop.requestStop() } }
            let writer = try OSThread(name: "bytes") {
                for _ in 0..<6 {
                    Self.writeByte(writeEnd)
                    usleep(20_000)
                }
            }
            loop.run()
            writer.join()
            #expect(reader.bytes == 6)
            #expect(loop.busyPoll.windowNanoseconds >= 1_000_000_000)
            #expect(loop.busyPolls.hits >= 1)
        }
    }

    @Test func pollingEndsWhenATimerIsDueAndATurnWithoutEventsSleeps() throws {
        try withPolledPipe(Self.openedGovernor()) { loop, reader, writeEnd in
            var fired: [String] = []
            reader.onByte = { _ in
                // Polled until this timer is due (not for 5 s); its turn has no event, so the next one sleeps.
                loop.schedule(afterMilliseconds: 30) {
                    fired.append("first")
                    loop.schedule(afterMilliseconds: 30) {
                        fired.append("second")
                        loop.requestStop()
                    }
                }
            }
            let start = monotonicNanoseconds()
            Self.writeByte(writeEnd)
            loop.run()
            let elapsedMs = (monotonicNanoseconds() - start) / 1_000_000
            #expect(fired == ["first", "second"])
            #expect(loop.busyPolls.misses == 1)
            #expect(loop.busyPolls.hits == 0)
            #expect(elapsedMs < 1_500)
        }
    }
}
