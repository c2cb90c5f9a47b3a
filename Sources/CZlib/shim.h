// zlib for gzip answers to clients (FanoutRuntime's GzipEncoder) and for tests that decode them.
//
// deflateInit2 and inflateInit2 are macros (they pass ZLIB_VERSION and sizeof(z_stream) to the real
// functions), which Swift does not import; these one-line wrappers make them callable. No logic lives here.
// Found through pkg-config (`zlib`); on Debian the headers come from zlib1g-dev.
#ifndef FANOUT_CZLIB_SHIM_H
#define FANOUT_CZLIB_SHIM_H

#include <zlib.h>

/// deflateInit2 with the gzip wrapper (windowBits 15 + 16), memLevel 8 and the default strategy.
static inline int czlib_deflate_init_gzip(z_streamp _Nonnull stream, int level) {
    return deflateInit2(stream, level, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY);
}

/// inflateInit2 for a gzip stream only (windowBits 15 + 16).
static inline int czlib_inflate_init_gzip(z_streamp _Nonnull stream) {
    return inflateInit2(stream, 15 + 16);
}

#endif
