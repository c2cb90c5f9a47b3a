import Testing

@testable import FanoutRuntime

/// A streamed request body between the client connection and libcurl's read callback, without either.
@Suite struct BodyPipeTests {
    /// Reads up to `count` bytes the way libcurl's read callback does.
    static func read(_ pipe: BodyPipe, upTo count: Int) -> (BodyPipe.ReadResult, [UInt8]) {
        var room = [UInt8](repeating: 0, count: count)
        let result = room.withUnsafeMutableBytes { pipe.read(into: $0) }
        if case .bytes(let n) = result { return (result, Array(room[..<n])) }
        return (result, [])
    }

    static func append(_ pipe: BodyPipe, _ bytes: [UInt8]) {
        bytes.withUnsafeBytes { pipe.append($0) }
    }

    @Test func bytesThenTheEndReachLibcurlInOrder() {
        let pipe = BodyPipe(declaredLength: 5)
        Self.append(pipe, Array("hello".utf8))
        pipe.finish()
        #expect(pipe.flow == .ended)
        let (first, bytes) = Self.read(pipe, upTo: 3)
        #expect(first == .bytes(3) && bytes == Array("hel".utf8))
        let (second, rest) = Self.read(pipe, upTo: 16)
        #expect(second == .bytes(2) && rest == Array("lo".utf8))
        #expect(Self.read(pipe, upTo: 16).0 == .end)
        #expect(pipe.delivered == 5)
        // Nothing is taken after the end.
        Self.append(pipe, [1, 2, 3])
        #expect(pipe.buffered == 0)
    }

    @Test func anEmptyPipeMakesLibcurlWaitAndBytesWakeIt() {
        let pipe = BodyPipe(declaredLength: nil)
        var woken = 0
        pipe.onAvailable = { woken += 1 }
        #expect(Self.read(pipe, upTo: 16).0 == .wait)
        #expect(pipe.waitingForClient)
        Self.append(pipe, [7])
        #expect(woken == 1 && !pipe.waitingForClient)
        // Not waiting any more: more bytes wake nobody.
        Self.append(pipe, [8])
        #expect(woken == 1)
        #expect(Self.read(pipe, upTo: 16).1 == [7, 8])
    }

    @Test func aBodyThatBreaksOffAbortsTheUploadAndStaysFailed() {
        let pipe = BodyPipe(declaredLength: 10)
        var woken = 0
        pipe.onAvailable = { woken += 1 }
        #expect(Self.read(pipe, upTo: 16).0 == .wait)
        Self.append(pipe, [1, 2])
        pipe.fail()
        #expect(pipe.flow == .failed)
        // The failure wins over the bytes still buffered, and a late end changes nothing.
        #expect(Self.read(pipe, upTo: 16).0 == .abort)
        pipe.finish()
        #expect(pipe.flow == .failed)
        #expect(Self.read(pipe, upTo: 16).0 == .abort)
        #expect(woken == 1)
    }

    @Test func aFullPipeStopsTheClientUntilLibcurlDrainsItBelowTheLowWaterMark() {
        let pipe = BodyPipe(declaredLength: nil)
        var drained = 0
        pipe.onDrained = { drained += 1 }
        Self.append(pipe, [UInt8](repeating: 1, count: BodyPipe.highWater))
        #expect(pipe.isFull)
        // Taken down to just above the low-water mark: the client stays stopped.
        _ = Self.read(pipe, upTo: BodyPipe.highWater - BodyPipe.lowWater)
        #expect(drained == 0 && pipe.buffered == BodyPipe.lowWater)
        _ = Self.read(pipe, upTo: 1)
        #expect(drained == 1)
    }
}
