/*
 * sha256.h -- header-only HMAC-SHA-256 truncated to 64 bits, for the leakmon native matcher.
 *
 * lm_hmac64(inner, outer, msg, len) == int.from_bytes(hmac.digest(key, msg, "sha256")[:8],
 * "little") or 1, where (inner, outer) come from lm_hmac_init(key, ...). This is the same value
 * as monitor.matching.fingerprints.hashing.Hasher.
 *
 * Two compression functions: a portable one (plain C) and one using the x86 SHA extensions
 * (SHA-NI), compiled with a target attribute so no special compiler flags are needed. The choice
 * is made once, at the first lm_hmac_init (or first hash) call, from __builtin_cpu_supports; a
 * non-empty LEAKMON_NO_SHANI environment variable at that moment forces the portable path.
 * lm_sha256_impl() tells which path is in use ("sha-ni" or "portable"; "" before the choice).
 *
 * Everything is static (one copy per translation unit, including the dispatch choice); unused
 * functions do not warn. C99 + GCC builtins. Thread-safe: the lazy choice is idempotent and
 * stored atomically; all other state belongs to the caller.
 */
#ifndef LM_SHA256_H
#define LM_SHA256_H

#include <stdint.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#if defined(__x86_64__) || defined(__i386__)
#define LM_SHA256_HAVE_SHANI 1
#include <immintrin.h>
#else
#define LM_SHA256_HAVE_SHANI 0
#endif

#define LM__FN static inline __attribute__((unused))

typedef struct { uint32_t h[8]; } lm_sha256_mid; /* state after the key pad block */

typedef void (*lm__compress_fn)(uint32_t st[8], const uint8_t *blocks, size_t nblocks);

static const uint32_t lm__K[64] __attribute__((aligned(16), unused)) = {
    0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
    0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
    0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
    0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
    0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
    0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
    0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
    0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2,
};

static const uint32_t lm__IV[8] __attribute__((unused)) = {
    0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19,
};

static inline uint32_t lm__load_be32(const uint8_t *p)
{
    return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) | (uint32_t)p[3];
}

static inline void lm__store_be32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

/* ---------------------------------------------------------------- portable compression */

#define LM__ROR(x, n) (((x) >> (n)) | ((x) << (32 - (n))))
#define LM__S0(x) (LM__ROR(x, 2) ^ LM__ROR(x, 13) ^ LM__ROR(x, 22))
#define LM__S1(x) (LM__ROR(x, 6) ^ LM__ROR(x, 11) ^ LM__ROR(x, 25))
#define LM__s0(x) (LM__ROR(x, 7) ^ LM__ROR(x, 18) ^ ((x) >> 3))
#define LM__s1(x) (LM__ROR(x, 17) ^ LM__ROR(x, 19) ^ ((x) >> 10))
#define LM__CH(x, y, z) ((z) ^ ((x) & ((y) ^ (z))))
#define LM__MAJ(x, y, z) (((x) & (y)) | ((z) & ((x) | (y))))

/* One round with the working variables renamed instead of shifted. */
#define LM__RND(a, b, c, d, e, f, g, h, k, w)                                                      \
    do {                                                                                           \
        uint32_t t1_ = (h) + LM__S1(e) + LM__CH(e, f, g) + (k) + (w);                              \
        uint32_t t2_ = LM__S0(a) + LM__MAJ(a, b, c);                                               \
        (d) += t1_;                                                                                \
        (h) = t1_ + t2_;                                                                           \
    } while (0)

/* Schedule word i (>= 16) in a rolling 16-word window. */
#define LM__W(i)                                                                                   \
    (W[(i) & 15] += LM__s1(W[((i) - 2) & 15]) + W[((i) - 7) & 15] + LM__s0(W[((i) - 15) & 15]))

static void __attribute__((unused))
lm__compress_portable(uint32_t st[8], const uint8_t *p, size_t nblocks)
{
    while (nblocks--) {
        uint32_t W[16];
        uint32_t a = st[0], b = st[1], c = st[2], d = st[3];
        uint32_t e = st[4], f = st[5], g = st[6], h = st[7];
        int i;
        for (i = 0; i < 16; i++)
            W[i] = lm__load_be32(p + 4 * i);
        for (i = 0; i < 16; i += 8) {
            LM__RND(a, b, c, d, e, f, g, h, lm__K[i + 0], W[i + 0]);
            LM__RND(h, a, b, c, d, e, f, g, lm__K[i + 1], W[i + 1]);
            LM__RND(g, h, a, b, c, d, e, f, lm__K[i + 2], W[i + 2]);
            LM__RND(f, g, h, a, b, c, d, e, lm__K[i + 3], W[i + 3]);
            LM__RND(e, f, g, h, a, b, c, d, lm__K[i + 4], W[i + 4]);
            LM__RND(d, e, f, g, h, a, b, c, lm__K[i + 5], W[i + 5]);
            LM__RND(c, d, e, f, g, h, a, b, lm__K[i + 6], W[i + 6]);
            LM__RND(b, c, d, e, f, g, h, a, lm__K[i + 7], W[i + 7]);
        }
        for (; i < 64; i += 8) {
            LM__RND(a, b, c, d, e, f, g, h, lm__K[i + 0], LM__W(i + 0));
            LM__RND(h, a, b, c, d, e, f, g, lm__K[i + 1], LM__W(i + 1));
            LM__RND(g, h, a, b, c, d, e, f, lm__K[i + 2], LM__W(i + 2));
            LM__RND(f, g, h, a, b, c, d, e, lm__K[i + 3], LM__W(i + 3));
            LM__RND(e, f, g, h, a, b, c, d, lm__K[i + 4], LM__W(i + 4));
            LM__RND(d, e, f, g, h, a, b, c, lm__K[i + 5], LM__W(i + 5));
            LM__RND(c, d, e, f, g, h, a, b, lm__K[i + 6], LM__W(i + 6));
            LM__RND(b, c, d, e, f, g, h, a, lm__K[i + 7], LM__W(i + 7));
        }
        st[0] += a; st[1] += b; st[2] += c; st[3] += d;
        st[4] += e; st[5] += f; st[6] += g; st[7] += h;
        p += 64;
    }
}

/* ---------------------------------------------------------------- SHA-NI compression */

#if LM_SHA256_HAVE_SHANI
/*
 * Layout from Intel's SHA extensions whitepaper / noloader's public-domain SHA-Intrinsics:
 * state kept as ABEF / CDGH, four rounds per quad (two sha256rnds2), message schedule with
 * sha256msg1 / sha256msg2. LM__QR(q, ...) does rounds 4q..4q+3; M[q % 4] holds W[4q..4q+3].
 */
#define LM__QR(q, Mq, Mprev, Mnext)                                                                \
    do {                                                                                           \
        __m128i m_ = _mm_add_epi32(Mq, _mm_load_si128((const __m128i *)&lm__K[4 * (q)]));         \
        s1 = _mm_sha256rnds2_epu32(s1, s0, m_);                                                    \
        if ((q) >= 3 && (q) <= 14) {                                                               \
            Mnext = _mm_add_epi32(Mnext, _mm_alignr_epi8(Mq, Mprev, 4));                           \
            Mnext = _mm_sha256msg2_epu32(Mnext, Mq);                                               \
        }                                                                                          \
        m_ = _mm_shuffle_epi32(m_, 0x0E);                                                          \
        s0 = _mm_sha256rnds2_epu32(s0, s1, m_);                                                    \
        if ((q) >= 1 && (q) <= 12)                                                                 \
            Mprev = _mm_sha256msg1_epu32(Mprev, Mq);                                               \
    } while (0)

/* 64 rounds on the state (ABEF, CDGH) with message words m0..m3 (lane i of mj = W[4j + i]). */
__attribute__((target("sha,sse4.1"), always_inline))
static inline void lm__shani_rounds(__m128i *s0p, __m128i *s1p, __m128i m0, __m128i m1,
                                    __m128i m2, __m128i m3)
{
    __m128i s0 = *s0p, s1 = *s1p;

    LM__QR(0, m0, m3, m1);
    LM__QR(1, m1, m0, m2);
    LM__QR(2, m2, m1, m3);
    LM__QR(3, m3, m2, m0);
    LM__QR(4, m0, m3, m1);
    LM__QR(5, m1, m0, m2);
    LM__QR(6, m2, m1, m3);
    LM__QR(7, m3, m2, m0);
    LM__QR(8, m0, m3, m1);
    LM__QR(9, m1, m0, m2);
    LM__QR(10, m2, m1, m3);
    LM__QR(11, m3, m2, m0);
    LM__QR(12, m0, m3, m1);
    LM__QR(13, m1, m0, m2);
    LM__QR(14, m2, m1, m3);
    LM__QR(15, m3, m2, m0);

    *s0p = _mm_add_epi32(s0, *s0p);
    *s1p = _mm_add_epi32(s1, *s1p);
}

/* h[0..7] -> (ABEF, CDGH) */
__attribute__((target("sha,sse4.1"), always_inline))
static inline void lm__shani_load(const uint32_t st[8], __m128i *s0p, __m128i *s1p)
{
    __m128i t = _mm_loadu_si128((const __m128i *)&st[0]);  /* DCBA */
    __m128i s1 = _mm_loadu_si128((const __m128i *)&st[4]); /* HGFE */
    t = _mm_shuffle_epi32(t, 0xB1);                        /* CDAB */
    s1 = _mm_shuffle_epi32(s1, 0x1B);                      /* EFGH */
    *s0p = _mm_alignr_epi8(t, s1, 8);                      /* ABEF */
    *s1p = _mm_blend_epi16(s1, t, 0xF0);                   /* CDGH */
}

__attribute__((target("sha,sse4.1"), unused))
static void lm__compress_shani(uint32_t st[8], const uint8_t *p, size_t nblocks)
{
    const __m128i bswap = _mm_set_epi64x(0x0c0d0e0f08090a0bULL, 0x0405060700010203ULL);
    __m128i s0, s1, t;

    lm__shani_load(st, &s0, &s1);
    while (nblocks--) {
        lm__shani_rounds(&s0, &s1,
                         _mm_shuffle_epi8(_mm_loadu_si128((const __m128i *)(p + 0)), bswap),
                         _mm_shuffle_epi8(_mm_loadu_si128((const __m128i *)(p + 16)), bswap),
                         _mm_shuffle_epi8(_mm_loadu_si128((const __m128i *)(p + 32)), bswap),
                         _mm_shuffle_epi8(_mm_loadu_si128((const __m128i *)(p + 48)), bswap));
        p += 64;
    }
    t = _mm_shuffle_epi32(s0, 0x1B);    /* FEBA */
    s1 = _mm_shuffle_epi32(s1, 0xB1);   /* DCHG */
    s0 = _mm_blend_epi16(t, s1, 0xF0);  /* DCBA */
    s1 = _mm_alignr_epi8(s1, t, 8);     /* HGFE */
    _mm_storeu_si128((__m128i *)&st[0], s0);
    _mm_storeu_si128((__m128i *)&st[4], s1);
}
#endif /* LM_SHA256_HAVE_SHANI */

/* ---------------------------------------------------------------- dispatch */

#if LM_SHA256_HAVE_SHANI
#include <cpuid.h>
/* SSE4.1 (leaf 1, ECX bit 19) and the SHA extensions (leaf 7, EBX bit 29), read with CPUID:
   any GCC or clang has <cpuid.h>, not all accept __builtin_cpu_supports("sha"). */
static int lm__cpu_has_shani(void)
{
    unsigned int a, b, c, d;
    if (!__get_cpuid(1, &a, &b, &c, &d) || !(c & (1u << 19)))
        return 0;
    if (__get_cpuid_max(0, 0) < 7)
        return 0;
    __cpuid_count(7, 0, a, b, c, d);
    return (int)((b >> 29) & 1u);
}
#endif

static lm__compress_fn lm__compress_impl __attribute__((unused)) = 0;

static lm__compress_fn __attribute__((unused)) lm__select(void)
{
    lm__compress_fn f = __atomic_load_n(&lm__compress_impl, __ATOMIC_ACQUIRE);
    if (f)
        return f;
    f = lm__compress_portable;
#if LM_SHA256_HAVE_SHANI
    {
        const char *env = getenv("LEAKMON_NO_SHANI");
        if (!(env && env[0]) && lm__cpu_has_shani())
            f = lm__compress_shani;
    }
#endif
    __atomic_store_n(&lm__compress_impl, f, __ATOMIC_RELEASE);
    return f;
}

static inline lm__compress_fn lm__get(void)
{
    lm__compress_fn f = __atomic_load_n(&lm__compress_impl, __ATOMIC_RELAXED);
    return f ? f : lm__select();
}

/* "sha-ni" or "portable" once chosen (by lm_hmac_init or the first hash), "" before. */
LM__FN const char *lm_sha256_impl(void)
{
    lm__compress_fn f = __atomic_load_n(&lm__compress_impl, __ATOMIC_ACQUIRE);
    if (!f)
        return "";
    return f == lm__compress_portable ? "portable" : "sha-ni";
}

/* ---------------------------------------------------------------- hashing */

/*
 * Absorb a || b into st (which has already absorbed `prior` bytes, a multiple of 64), then the
 * SHA-256 padding. Whole blocks are compressed in place; only the tail (< 64 bytes of message,
 * plus padding) is copied, into a stack buffer.
 */
static inline void lm__absorb_final(lm__compress_fn cf, uint32_t st[8], uint64_t prior,
                                    const uint8_t *a, size_t alen, const uint8_t *b, size_t blen)
{
    uint8_t buf[128];
    size_t fill, n, nb;
    uint64_t bits = (prior + (uint64_t)alen + (uint64_t)blen) * 8;

    n = alen / 64;
    if (n) {
        cf(st, a, n);
        a += n * 64;
        alen -= n * 64;
    }
    if (alen)
        memcpy(buf, a, alen);
    fill = alen;
    if (blen && fill + blen >= 64) {
        size_t take = 64 - fill;
        if (fill) { /* complete the pending block from b */
            memcpy(buf + fill, b, take);
            cf(st, buf, 1);
            b += take;
            blen -= take;
            fill = 0;
        }
        n = blen / 64;
        if (n) {
            cf(st, b, n);
            b += n * 64;
            blen -= n * 64;
        }
    }
    if (blen)
        memcpy(buf + fill, b, blen);
    fill += blen;

    buf[fill++] = 0x80;
    nb = fill <= 56 ? 1 : 2;
    memset(buf + fill, 0, nb * 64 - 8 - fill);
    lm__store_be32(buf + nb * 64 - 8, (uint32_t)(bits >> 32));
    lm__store_be32(buf + nb * 64 - 4, (uint32_t)bits);
    cf(st, buf, nb);
}

#if LM_SHA256_HAVE_SHANI
/* SHA-NI HMAC: the inner digest (words A..H, i.e. outer message words W0..W7) goes straight
   from the state into the outer block's message registers, with no byte conversion. */
__attribute__((target("sha,sse4.1"), unused))
static uint64_t lm__hmac64_shani(const lm_sha256_mid *inner, const lm_sha256_mid *outer,
                                 const uint8_t *a, size_t alen, const uint8_t *b, size_t blen)
{
    uint32_t st[8];
    __m128i s0, s1;
    uint64_t r;

    memcpy(st, inner->h, sizeof st);
    lm__absorb_final(lm__compress_shani, st, 64, a, alen, b, blen);

    lm__shani_load(outer->h, &s0, &s1);
    lm__shani_rounds(&s0, &s1, _mm_loadu_si128((const __m128i *)&st[0]),
                     _mm_loadu_si128((const __m128i *)&st[4]),
                     _mm_set_epi32(0, 0, 0, (int)0x80000000u), /* padding bit */
                     _mm_set_epi32(768, 0, 0, 0));               /* (64 + 32) * 8 bits */
    /* s0 = ABEF: lane 3 = A, lane 2 = B; digest bytes 0..7 = A, B big-endian. */
    r = (uint64_t)__builtin_bswap32((uint32_t)_mm_extract_epi32(s0, 3)) |
        ((uint64_t)__builtin_bswap32((uint32_t)_mm_extract_epi32(s0, 2)) << 32);
    return r ? r : 1;
}
#endif

static inline uint64_t lm__hmac64_parts(const lm_sha256_mid *inner, const lm_sha256_mid *outer,
                                        const uint8_t *a, size_t alen, const uint8_t *b,
                                        size_t blen)
{
    lm__compress_fn cf = lm__get();
    uint32_t st[8];
    uint8_t blk[64];
    uint64_t r;
    int i;

#if LM_SHA256_HAVE_SHANI
    if (cf == lm__compress_shani)
        return lm__hmac64_shani(inner, outer, a, alen, b, blen);
#endif
    memcpy(st, inner->h, sizeof st);
    lm__absorb_final(cf, st, 64, a, alen, b, blen);

    /* Outer: pad block || 32-byte inner digest || padding: always one block of 96 bytes total. */
    for (i = 0; i < 8; i++)
        lm__store_be32(blk + 4 * i, st[i]);
    memset(blk + 32, 0, 32);
    blk[32] = 0x80;
    blk[62] = 0x03; /* (64 + 32) * 8 = 768 = 0x300 bits */
    memcpy(st, outer->h, sizeof st);
    cf(st, blk, 1);

    /* Digest bytes 0..7 are st[0], st[1] big-endian; read them as a little-endian uint64. */
    r = (uint64_t)__builtin_bswap32(st[0]) | ((uint64_t)__builtin_bswap32(st[1]) << 32);
    return r ? r : 1;
}

/* key: any length (longer than 64 bytes is first hashed, per RFC 2104). Fills the midstates after
   compressing (key ^ 0x36..) and (key ^ 0x5c..) from the SHA-256 IV. Also makes the one-time
   choice of implementation (reading LEAKMON_NO_SHANI) if not yet made. */
LM__FN void lm_hmac_init(const uint8_t *key, size_t key_len, lm_sha256_mid *inner,
                         lm_sha256_mid *outer)
{
    lm__compress_fn cf = lm__get();
    uint8_t k[64], pad[64];
    int i;

    memset(k, 0, sizeof k);
    if (key_len > 64) {
        uint32_t st[8];
        memcpy(st, lm__IV, sizeof st);
        lm__absorb_final(cf, st, 0, key, key_len, 0, 0);
        for (i = 0; i < 8; i++)
            lm__store_be32(k + 4 * i, st[i]);
    } else if (key_len) {
        memcpy(k, key, key_len);
    }

    for (i = 0; i < 64; i++)
        pad[i] = k[i] ^ 0x36;
    memcpy(inner->h, lm__IV, sizeof inner->h);
    cf(inner->h, pad, 1);

    for (i = 0; i < 64; i++)
        pad[i] = k[i] ^ 0x5c;
    memcpy(outer->h, lm__IV, sizeof outer->h);
    cf(outer->h, pad, 1);
}

/* First 8 bytes of HMAC-SHA-256(key, msg) as little-endian uint64; returns 1 instead of 0. */
LM__FN uint64_t lm_hmac64(const lm_sha256_mid *inner, const lm_sha256_mid *outer,
                          const uint8_t *msg, size_t len)
{
    return lm__hmac64_parts(inner, outer, msg, len, 0, 0);
}

/* Same, for a message given in two parts (prefix || body) without copying. */
LM__FN uint64_t lm_hmac64_2(const lm_sha256_mid *inner, const lm_sha256_mid *outer,
                            const uint8_t *a, size_t alen, const uint8_t *b, size_t blen)
{
    return lm__hmac64_parts(inner, outer, a, alen, b, blen);
}

#undef LM__FN

#endif /* LM_SHA256_H */
