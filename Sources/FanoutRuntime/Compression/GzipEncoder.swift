import CZlib
import FanoutCore

/// Gzip-encodes whole answers for clients (`gzip on`): one zlib deflate stream with the gzip wrapper, reset
/// and reused for every answer of one worker (deflateInit2 allocates about 256 KiB of window and hash
/// tables; deflateReset keeps them). Used on its worker's loop thread only.
final class GzipEncoder {
    /// zlib's compression level, 1 to 9.
    let level: Int
    /// Owned: initialized in `init`, ended and freed in `deinit`. zlib keeps pointers into it, so it lives at
    /// a fixed address rather than in a Swift property.
    private let stream: UnsafeMutablePointer<z_stream>

    init?(level: Int) {
        let stream = UnsafeMutablePointer<z_stream>.allocate(capacity: 1)
        stream.initialize(to: z_stream())
        guard czlib_deflate_init_gzip(stream, Int32(level)) == Z_OK else {
            stream.deinitialize(count: 1)
            stream.deallocate()
            return nil
        }
        self.level = level
        self.stream = stream
    }

    deinit {
        deflateEnd(stream)
        stream.deinitialize(count: 1)
        stream.deallocate()
    }

    /// `bytes` as one gzip member, or nil when zlib fails (the answer then goes out unencoded).
    func encode(_ bytes: [UInt8]) -> [UInt8]? {
        guard bytes.count <= Int(UInt32.max) / 2, deflateReset(stream) == Z_OK else { return nil }
        // deflateBound (gzip wrapper included) lets one deflate(Z_FINISH) call finish the stream.
        let capacity = Int(deflateBound(stream, uLong(bytes.count)))
        var finished = false
        let encoded = [UInt8](unsafeUninitializedCapacity: capacity) { output, count in
            bytes.withUnsafeBufferPointer { input in
                // zlib never writes through next_in; its declaration is not const.
                stream.pointee.next_in = UnsafeMutablePointer(mutating: input.baseAddress)
                stream.pointee.avail_in = uInt(input.count)
                stream.pointee.next_out = output.baseAddress
                stream.pointee.avail_out = uInt(output.count)
                finished = deflate(stream, Z_FINISH) == Z_STREAM_END
                count = finished ? output.count - Int(stream.pointee.avail_out) : 0
                stream.pointee.next_in = nil
                stream.pointee.next_out = nil
            }
        }
        return finished ? encoded : nil
    }
}
