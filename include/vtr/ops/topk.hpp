// vtr — the top-k family (ALGORITHMS §0.4, §2.4, §2.11): deterministic selection of token indices.
//
// Every selection here uses one total order: score descending, then index ascending (§0.4); bottom-k
// uses score ascending, then index ascending. That order is encoded in one 64-bit key per candidate
// (an order-preserving image of the float in the high half, the complemented index in the low half), so
// the hot loops compare plain integers: nth_element + sort of the winners (§2.4 implementation note),
// or a bitmap scan when the caller wants the winners in ascending index order. From 256 candidates on,
// topk/bottomk in ascending order find the k-th key by an adaptive radix select instead and emit the
// winners with one SIMD compare pass (same result, same tie rule; a few µs at n = 2880). For rank order
// (from 32 candidates on) they skip the exact k-th key: every score at or above a cut estimated from a
// sample (about 1.25k of them) is ranked by bucket passes and a branch-free local fix-up, and the first
// k are kept.
//
// NaN scores are rejected: a selection over NaN has no meaning (§0.4 says scores must be finite).
#pragma once

#include "../config.hpp"
#include "../core/error.hpp"
#include "../core/tensor_view.hpp"
#include "../core/workspace.hpp"
#include "../simd/simd.hpp"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <functional>
#include <limits>
#include <vector>

VTR_NAMESPACE_BEGIN
namespace ops {

/// Output order of a selection: ascending original index, or selection (rank) order.
enum class order { ascending, by_rank };

/// Comparison of threshold_select: s > thr (strict) or s >= thr.
enum class threshold_cmp { greater, greater_equal };

/// One contiguous candidate group of grouped_topk: indices [begin, begin + size), keep k of them.
struct topk_group {
  index_t begin = 0;
  index_t size = 0;
  index_t k = 0;
};

/// One row move of a compaction (ALGORITHMS §2.11): row src goes to row dst (src > dst).
struct row_move {
  index_t src = 0;
  index_t dst = 0;
};

namespace detail {

/// Largest candidate count the 64-bit keys can carry (the index lives in 32 bits).
inline constexpr index_t max_topk_candidates = index_t(0xFFFFFFFFll);

/// Order-preserving map float → uint32 (a < b ⇔ key(a) < key(b) for non-NaN values; −0 == +0).
inline std::uint32_t float_order_key(float x) noexcept {
  x += 0.0f;  // −0 + 0 = +0: the two zeros compare equal as floats, so they must share one key
  std::uint32_t b;
  std::memcpy(&b, &x, sizeof b);
  return (b & 0x80000000u) ? ~b : (b | 0x80000000u);
}

/// Key whose descending order is (score descending, index ascending) — §0.4 top-k.
inline std::uint64_t desc_key(float s, index_t i) noexcept {
  return (std::uint64_t(float_order_key(s)) << 32) | std::uint64_t(0xFFFFFFFFu - static_cast<std::uint32_t>(i));
}
/// Key whose descending order is (score ascending, index ascending) — §0.4 bottom-k.
inline std::uint64_t asc_key(float s, index_t i) noexcept {
  return (std::uint64_t(~float_order_key(s)) << 32) | std::uint64_t(0xFFFFFFFFu - static_cast<std::uint32_t>(i));
}
inline index_t key_index(std::uint64_t key) noexcept {
  return static_cast<index_t>(0xFFFFFFFFu - static_cast<std::uint32_t>(key & 0xFFFFFFFFu));
}

/// Index of the first NaN in s, or −1 (SIMD self-comparison; exact position only on failure).
template <class Arch = simd::default_arch>
index_t first_nan(const float* s, index_t n) noexcept {
  using B = simd::batch<float, Arch>;
  constexpr index_t L = static_cast<index_t>(simd::lanes<float, Arch>);
  index_t i = 0;
  for (; i + 4 * L <= n; i += 4 * L) {
    const B a = simd::load<float, Arch>(s + i), b = simd::load<float, Arch>(s + i + L);
    const B c = simd::load<float, Arch>(s + i + 2 * L), d = simd::load<float, Arch>(s + i + 3 * L);
    if (simd::mask_bits((a != a) | (b != b) | (c != c) | (d != d))) break;
  }
  for (; i < n; ++i)
    if (s[i] != s[i]) return i;
  return -1;
}

inline status check_scores(const char* name, const vector_view<const float>& s) {
  VTR_TRY(validate_view(name, s));
  if (s.extent(0) > max_topk_candidates)
    return fail("argument '", name, "' has ", s.extent(0), " candidates; at most ", max_topk_candidates, " are supported");
  const index_t bad = first_nan(s.data_handle(), s.extent(0));
  if (bad >= 0) return fail("argument '", name, "' (shape ", shape_of(s), ") holds NaN at index ", bad, "; scores must not be NaN");
  return {};
}

inline status check_out(const char* name, const vector_view<index_t>& out, index_t need) {
  VTR_TRY(validate_view(name, out));
  if (out.extent(0) < need)
    return fail("output '", name, "' has room for ", out.extent(0), " indices (shape ", shape_of(out), ") but ", need,
                " are selected");
  return {};
}

/// Writes the indices of the k largest keys (in `keys[0, n)`, destroyed) to out in the requested order.
/// `base` is added to every index. Scratch for the ascending bitmap comes from ws.
inline void select_keys(std::uint64_t* keys, index_t n, index_t k, order o, index_t* out, index_t base, workspace& ws) {
  if (k <= 0) return;
  if (k < n) std::nth_element(keys, keys + (k - 1), keys + n, std::greater<std::uint64_t>());
  // After nth_element the k winners are keys[0, k) (keys[k-1] is the k-th largest).
  if (o == order::by_rank) {
    std::sort(keys, keys + k, std::greater<std::uint64_t>());
    for (index_t i = 0; i < k; ++i) out[i] = key_index(keys[i]) + base;
    return;
  }
  if (k <= 32 || k * 16 < n / 64) {
    // Few winners: sorting their indices is cheaper than scanning a bitmap of n bits.
    for (index_t i = 0; i < k; ++i) out[i] = key_index(keys[i]);
    std::sort(out, out + k);
    for (index_t i = 0; i < k; ++i) out[i] += base;
    return;
  }
  // Ascending with many winners: mark them in a bitmap and scan it — O(n/64 + k), no comparison sort.
  const index_t words = (n + 63) / 64;
  workspace::scope sc(ws);
  std::uint64_t* bits = ws.take<std::uint64_t>(static_cast<std::size_t>(words));
  std::fill(bits, bits + words, std::uint64_t(0));
  for (index_t i = 0; i < k; ++i) {
    const index_t j = key_index(keys[i]);
    bits[j >> 6] |= std::uint64_t(1) << (j & 63);
  }
  index_t w = 0;
  for (index_t word = 0; word < words; ++word) {
    std::uint64_t b = bits[word];
    while (b) {
      out[w++] = (word << 6) + __builtin_ctzll(b) + base;
      b &= b - 1;
    }
  }
  VTR_ASSERT(w == k);
}

/// Selection key of a score: larger key = selected first (top-k: the score's order key; bottom-k: its
/// complement). Ties between equal keys are broken by index, outside the key.
template <bool Largest>
inline std::uint32_t select_key(float s) noexcept {
  return Largest ? float_order_key(s) : ~float_order_key(s);
}

/// The score whose selection key is `key` (inverse of select_key; −0 comes back as +0).
template <bool Largest>
inline float key_score(std::uint32_t key) noexcept {
  const std::uint32_t k = Largest ? key : ~key;
  const std::uint32_t b = (k & 0x80000000u) ? (k & 0x7FFFFFFFu) : ~k;
  float f;
  std::memcpy(&f, &b, sizeof f);
  return f;
}

/// Bucket bits per radix_kth_key level, and the counters it needs (four sub-histograms of the first
/// level, one histogram for the later ones). 10 bits rather than 11: half the counters to clear (20 KiB,
/// not 40) and half the bins to walk down; at n = 2880 bottom-k takes 0.3 µs less, top-k the same.
inline constexpr int radix_digit_bits = 10;
inline constexpr std::size_t radix_counters = std::size_t(5) << radix_digit_bits;

/// Σ over h < Hists of the 16 counters p[h·stride, h·stride + 16) (SIMD; a scalar loop of 16·Hists adds
/// is one long dependency chain, and compilers vectorise it only in some contexts).
template <class Arch, int Hists>
inline index_t sum16(const std::uint32_t* p, std::uint32_t stride) noexcept {
  using U = simd::batch<std::uint32_t, Arch>;
  constexpr int UL = static_cast<int>(simd::lanes<std::uint32_t, Arch>);
  static_assert(16 % UL == 0, "a block of 16 counters is a whole number of vectors");
  U acc(0u);
  for (int j = 0; j < 16; j += UL)
    for (int h = 0; h < Hists; ++h) acc += simd::load<std::uint32_t, Arch>(p + h * stride + j);
  return static_cast<index_t>(simd::reduce_add(acc));
}

/// Radix select (ALGORITHMS §5.4 budget: a few µs at n = 2880): the k-th largest 32-bit selection key T
/// of s (1 ≤ k ≤ n), and how many of the keys equal to T are selected (`ties`, the lowest-index ones).
/// Adaptive: each level histograms the live keys over their own range [lo, hi] in ≤ 1024 buckets, so
/// the first level already splits the data's actual spread finely (scores crowd into a few exponent
/// ranges; fixed top-bit buckets would put a large share of them into one bucket and need two more
/// full levels). Only the first level sees every score; the chosen bucket (a contiguous float range)
/// is gathered by a SIMD compare + compress and later levels revisit only it. A few dozen survivors
/// are finished by nth_element. `cand` is scratch for n indices, `counts` for radix_counters
/// (workspace, not the stack: engines run kernels on small worker stacks).
template <class Arch, bool Largest>
inline std::uint32_t radix_kth_key(const float* s, index_t n, index_t k, index_t* cand, std::uint32_t* counts,
                                   index_t& ties) noexcept {
  using B = simd::batch<float, Arch>;
  constexpr index_t L = static_cast<index_t>(simd::lanes<float, Arch>);
  constexpr int digit_bits = radix_digit_bits;
  constexpr std::uint32_t stride = std::uint32_t(1) << digit_bits;  // counters per histogram
  std::uint32_t* hist = counts + 4 * stride;
  // The key range of the scores (one SIMD min/max pass; select_key is monotone).
  float mn = s[0], mx = s[0];
  {
    index_t i = 0;
    if (n >= 4 * L) {
      // Four accumulator pairs: a single pair would wait on the min/max latency every vector.
      B vmn[4], vmx[4];
      for (int j = 0; j < 4; ++j) vmn[j] = vmx[j] = simd::load<float, Arch>(s + j * L);
      for (i = 4 * L; i + 4 * L <= n; i += 4 * L)
        for (int j = 0; j < 4; ++j) {
          const B v = simd::load<float, Arch>(s + i + j * L);
          vmn[j] = simd::min(vmn[j], v);
          vmx[j] = simd::max(vmx[j], v);
        }
      mn = simd::reduce_min(simd::min(simd::min(vmn[0], vmn[1]), simd::min(vmn[2], vmn[3])));
      mx = simd::reduce_max(simd::max(simd::max(vmx[0], vmx[1]), simd::max(vmx[2], vmx[3])));
    }
    for (; i < n; ++i) {
      mn = std::min(mn, s[i]);
      mx = std::max(mx, s[i]);
    }
  }
  std::uint32_t lo = select_key<Largest>(Largest ? mn : mx), hi = select_key<Largest>(Largest ? mx : mn);
  index_t need = k;  // rank, from the top, of the wanted key among the live keys
  index_t m = 0;     // live keys after the first level: s[cand[0, m)]
  for (bool first = true;; first = false) {
    if (lo == hi) {
      ties = need;
      return lo;
    }
    const int width = 32 - __builtin_clz(hi - lo);
    const int shift = width > digit_bits ? width - digit_bits : 0;
    const std::uint32_t bins = ((hi - lo) >> shift) + 1;
    const auto bucket = [&](float x) { return (select_key<Largest>(x) - lo) >> shift; };
    if (first) {
      // Increments of one counter serialise through memory and scores crowd into few buckets, so four
      // interleaved sub-histograms are counted. The bucket numbers are computed a block at a time apart
      // from the increments (1 µs less at n = 2880), with AVX2 where the arch has it: GCC vectorises the
      // scalar loop at -O3 only, and at -O2 the whole top-k of 2880 took 2.4× as long.
      std::uint32_t* sub[4] = {counts, counts + stride, counts + 2 * stride, counts + 3 * stride};
      for (auto* h : sub) std::fill(h, h + bins, 0u);
      std::uint32_t ids[256];
      for (index_t i0 = 0; i0 < n; i0 += 256) {
        const index_t len = std::min<index_t>(256, n - i0);
        index_t j0 = 0;
#if defined(__AVX2__)
        if constexpr (std::is_base_of_v<xsimd::avx2, Arch>) {
          // select_key on 8 lanes (x + 0 folds −0 into +0, then float_order_key's sign-dependent flip,
          // complemented for bottom-k), minus lo, shifted: bucket() exactly.
          const __m256i sign = _mm256_set1_epi32(static_cast<int>(0x80000000u)), vlo = _mm256_set1_epi32(static_cast<int>(lo));
          const __m256i flip = _mm256_set1_epi32(Largest ? 0 : -1);
          const __m128i count = _mm_cvtsi32_si128(shift);
          for (; j0 + 8 <= len; j0 += 8) {
            const __m256i b = _mm256_castps_si256(_mm256_add_ps(_mm256_loadu_ps(s + i0 + j0), _mm256_setzero_ps()));
            const __m256i u = _mm256_xor_si256(_mm256_xor_si256(b, _mm256_or_si256(_mm256_srai_epi32(b, 31), sign)), flip);
            _mm256_storeu_si256(reinterpret_cast<__m256i*>(ids + j0), _mm256_srl_epi32(_mm256_sub_epi32(u, vlo), count));
          }
        }
#endif
        for (index_t j = j0; j < len; ++j) ids[j] = bucket(s[i0 + j]);
        index_t j = 0;
        for (; j + 4 <= len; j += 4)
          for (int h = 0; h < 4; ++h) ++sub[h][ids[j + h]];
        for (; j < len; ++j) ++sub[0][ids[j]];
      }
    } else {
      std::fill(hist, hist + bins, 0u);
      for (index_t i = 0; i < m; ++i) ++hist[bucket(s[cand[i]])];
    }
    // The bucket holding the need-th largest key, walking from the top; need becomes its rank there.
    std::uint32_t b = bins - 1;
    if (first) {
      // The sub-histograms are summed on the way down, 16 bins at a time (SIMD) while a whole block
      // ranks above the wanted key; the bins below the answer are never summed.
      for (; b >= 16; b -= 16) {
        const index_t block = sum16<Arch, 4>(counts + (b - 15), stride);
        if (block >= need) break;
        need -= block;
      }
      const auto count = [&](std::uint32_t x) {
        return index_t(counts[x]) + index_t(counts[x + stride]) + index_t(counts[x + 2 * stride]) +
               index_t(counts[x + 3 * stride]);
      };
      for (; b > 0 && count(b) < need; --b) need -= count(b);
    } else {
      for (; b > 0 && index_t(hist[b]) < need; --b) need -= index_t(hist[b]);
    }
    const std::uint32_t mask = (std::uint32_t(1) << shift) - 1;
    const std::uint32_t blo = lo + (b << shift), bhi = hi - blo > mask ? blo + mask : hi;
    if (shift == 0) {
      ties = need;
      return blo;
    }
    if (first) {
      // Bucket [blo, bhi] is the closed float interval [key_score(blo), key_score(bhi)] (reversed for
      // bottom-k): gather its indices with a SIMD range compare.
      float flo = key_score<Largest>(blo), fhi = key_score<Largest>(bhi);
      if (!Largest) std::swap(flo, fhi);
      const B lv(flo), hv(fhi);
      index_t i = 0;
      index_t* o = cand;
      for (; i + L <= n; i += L) {
        const B v = simd::load<float, Arch>(s + i);
        o = simd::compress_indices((v >= lv) & (v <= hv), i, o);
      }
      for (; i < n; ++i)
        if (s[i] >= flo && s[i] <= fhi) *o++ = i;
      m = static_cast<index_t>(o - cand);
    } else {
      index_t w = 0;
      for (index_t i = 0; i < m; ++i) {
        const std::uint32_t u = select_key<Largest>(s[cand[i]]);
        if (u >= blo && u <= bhi) cand[w++] = cand[i];
      }
      m = w;
    }
    lo = blo;
    hi = bhi;
    if (m <= 64) {
      // Few survivors: order them by (key desc, index asc) — the §0.4 order — and read off the need-th.
      std::uint64_t keys[64] = {};
      for (index_t i = 0; i < m; ++i)
        keys[i] = (std::uint64_t(select_key<Largest>(s[cand[i]])) << 32) |
                  std::uint64_t(0xFFFFFFFFu - static_cast<std::uint32_t>(cand[i]));
      std::nth_element(keys, keys + (need - 1), keys + m, std::greater<std::uint64_t>());
      const std::uint32_t t = static_cast<std::uint32_t>(keys[need - 1] >> 32);
      // Selected ties: survivors with key t ranked at or above the need-th (all the others rank above).
      index_t above = 0;
      for (index_t i = 0; i < m; ++i) above += static_cast<std::uint32_t>(keys[i] >> 32) > t;
      ties = need - above;
      return t;
    }
  }
}

/// Calls emit(i) for every selected i in ascending order: scores strictly better than the threshold
/// score t, plus the first `ties` scores equal to it (lowest indices, §0.4). SIMD compare + mask walk.
template <class Arch, bool Largest, class Emit>
inline void emit_selected(const float* s, index_t n, float t, index_t ties, Emit&& emit) noexcept {
  using B = simd::batch<float, Arch>;
  constexpr index_t L = static_cast<index_t>(simd::lanes<float, Arch>);
  const B tv(t);
  index_t i = 0;
  for (; i + L <= n; i += L) {
    const B v = simd::load<float, Arch>(s + i);
    std::uint64_t win = simd::mask_bits(Largest ? (v > tv) : (v < tv));
    if (ties > 0) {
      std::uint64_t eq = simd::mask_bits(v == tv);
      for (; eq && ties > 0; --ties) {
        win |= eq & (~eq + 1);  // lowest tied lane first: lower index wins
        eq &= eq - 1;
      }
    }
    while (win) {
      emit(i + __builtin_ctzll(win));
      win &= win - 1;
    }
  }
  for (; i < n; ++i) {
    if (Largest ? s[i] > t : s[i] < t) emit(i);
    else if (s[i] == t && ties > 0) {
      emit(i);
      --ties;
    }
  }
}

/// A selection key that, by a sample of every 7th score, some k·(1 + ε) of the n scores reach: the
/// sample's expected count m·k/n above it plus 2.5 standard deviations (and one), so fewer than k reach
/// it with probability < 1% (the caller checks and falls back); ε ≈ 0.25 for k = n/4 at n = 2880.
/// Rounded down to a boundary of ≤ 1024 buckets over the sample's key range (or, when that bucket is
/// crowded, over the bucket's range). `sample` is scratch for ⌈n/7⌉ keys, `hist` for 1024 counters.
/// (The stride is odd so that it does not follow grid rows.)
template <class Arch, bool Largest>
inline std::uint32_t sample_cut(const float* s, index_t n, index_t k, std::uint32_t* sample,
                                std::uint32_t* hist) noexcept {
  constexpr index_t stride = 7;
  const index_t m = (n + stride - 1) / stride;
  std::uint32_t lo = 0xFFFFFFFFu, hi = 0;
  for (index_t j = 0; j < m; ++j) {
    const std::uint32_t u = select_key<Largest>(s[j * stride]);
    sample[j] = u;
    lo = std::min(lo, u);
    hi = std::max(hi, u);
  }
  const double p = static_cast<double>(k) / static_cast<double>(n), mean = static_cast<double>(m) * p;
  const index_t want = static_cast<index_t>(std::ceil(mean + 2.5 * std::sqrt(mean * (1.0 - p)))) + 1;
  if (want >= m) return select_key<Largest>(Largest ? -std::numeric_limits<float>::infinity()
                                                    : std::numeric_limits<float>::infinity());  // all
  // The highest bucket at which the samples counted from the top reach `want`. When that bucket holds
  // many more samples than are still needed (a few outlying keys stretched the range, and the rest
  // crowd into a few buckets: a cut there would let too many scores through), its samples are
  // histogrammed once more over the bucket's own range.
  index_t need = want;
  for (int level = 0;; ++level) {
    int shift = 0;
    while (((hi - lo) >> shift) >= 1024) ++shift;
    const std::uint32_t bins = ((hi - lo) >> shift) + 1;
    std::fill(hist, hist + bins, 0u);
    if (level == 0) {
      for (index_t j = 0; j < m; ++j) ++hist[(sample[j] - lo) >> shift];
    } else {
      for (index_t j = 0; j < m; ++j) {
        const std::uint32_t d = sample[j] - lo;  // wraps for keys below lo
        if (d <= hi - lo) ++hist[d >> shift];
      }
    }
    std::uint32_t b = bins - 1;
    for (; b >= 16; b -= 16) {
      const index_t block = sum16<Arch, 1>(hist + (b - 15), 0);
      if (block >= need) break;
      need -= block;
    }
    for (; b > 0 && index_t(hist[b]) < need; --b) need -= index_t(hist[b]);
    const std::uint32_t blo = lo + (b << shift), mask = (std::uint32_t(1) << shift) - 1;
    if (level == 1 || shift == 0 || 4 * (index_t(hist[b]) - need) <= want) return blo;
    hi = hi - blo > mask ? blo + mask : hi;
    lo = blo;
  }
}

/// win plus the lowest `ties` lanes of eq (a lower index wins a tie, §0.4); ties is counted down.
inline unsigned take_lowest_ties(unsigned win, unsigned eq, index_t& ties) noexcept {
  for (; eq && ties > 0; --ties) {
    win |= eq & (~eq + 1);
    eq &= eq - 1;
  }
  return win;
}

#if defined(__AVX2__)
/// For each 8-bit lane mask, the lanes that are set, in order (the rest 0): the permutation that packs
/// an AVX2 vector's selected lanes to its front, which AVX2 has no instruction for.
struct compress8_table {
  std::uint8_t lanes[256][8] = {};
  constexpr compress8_table() {
    for (int m = 0; m < 256; ++m)
      for (int l = 0, w = 0; l < 8; ++l)
        if (m >> l & 1) lanes[m][w++] = static_cast<std::uint8_t>(l);
  }
};
inline constexpr compress8_table compress8{};
#endif

/// The winners of a selection (scores strictly better than t, plus the first `ties` equal to it, as
/// emit_selected) as selection keys and indices, in ascending index order; returns their count and sets
/// lo/hi to the smallest and largest key. Branch-free per winner on AVX-512 (one compare + two
/// compresses per 16 scores) and AVX2 (a table permutation per 8 scores): the mask walk of emit_selected
/// costs about 1 µs more for 720 of 2880 on AVX-512, 2.5 µs on AVX2. `key` and `idx` need 16 slots of
/// slack past the count (a compressed vector is stored whole).
template <class Arch, bool Largest>
inline index_t emit_keys(const float* s, index_t n, float t, index_t ties, std::uint32_t* key, std::uint32_t* idx,
                         std::uint32_t& lo, std::uint32_t& hi) noexcept {
  index_t w = 0, i = 0;
  lo = 0xFFFFFFFFu;
  hi = 0;
#if defined(__AVX512F__)
  if constexpr (std::is_base_of_v<xsimd::avx512f, Arch>) {
    const __m512 tv = _mm512_set1_ps(t);
    const __m512i sign = _mm512_set1_epi32(static_cast<int>(0x80000000u)), step = _mm512_set1_epi32(16);
    __m512i iv = _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
    __m512i vlo = _mm512_set1_epi32(-1), vhi = _mm512_setzero_si512();
    const bool all_ties = ties >= n;  // every score equal to t is taken: one compare, t included
    for (; i + 16 <= n; i += 16) {
      const __m512 v = _mm512_loadu_ps(s + i);
      unsigned win = all_ties ? _mm512_cmp_ps_mask(v, tv, Largest ? _CMP_GE_OQ : _CMP_LE_OQ)
                              : _mm512_cmp_ps_mask(v, tv, Largest ? _CMP_GT_OQ : _CMP_LT_OQ);
      if (!all_ties && ties > 0) win = take_lowest_ties(win, _mm512_cmp_ps_mask(v, tv, _CMP_EQ_OQ), ties);
      // select_key on 16 lanes: x + 0 folds −0 into +0, then the sign-dependent flip of float_order_key.
      const __m512i b = _mm512_castps_si512(_mm512_add_ps(v, _mm512_setzero_ps()));
      __m512i u = _mm512_xor_si512(b, _mm512_or_si512(_mm512_srai_epi32(b, 31), sign));
      if (!Largest) u = _mm512_ternarylogic_epi32(u, u, u, 0x55);  // ~u
      const __mmask16 m = static_cast<__mmask16>(win);
      vlo = _mm512_mask_min_epu32(vlo, m, vlo, u);
      vhi = _mm512_mask_max_epu32(vhi, m, vhi, u);
      _mm512_storeu_si512(key + w, _mm512_maskz_compress_epi32(m, u));
      _mm512_storeu_si512(idx + w, _mm512_maskz_compress_epi32(m, iv));
      w += __builtin_popcount(win);
      iv = _mm512_add_epi32(iv, step);
    }
    lo = _mm512_reduce_min_epu32(vlo);
    hi = _mm512_reduce_max_epu32(vhi);
  }
#endif
#if defined(__AVX2__)
  if constexpr (std::is_base_of_v<xsimd::avx2, Arch>) {
    const __m256 tv = _mm256_set1_ps(t);
    const __m256i sign = _mm256_set1_epi32(static_cast<int>(0x80000000u)), step = _mm256_set1_epi32(8);
    const __m256i lane_bit = _mm256_setr_epi32(1, 2, 4, 8, 16, 32, 64, 128);
    __m256i iv = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
    __m256i vlo = _mm256_set1_epi32(-1), vhi = _mm256_setzero_si256();
    const bool all_ties = ties >= n;
    for (; i + 8 <= n; i += 8) {
      const __m256 v = _mm256_loadu_ps(s + i);
      unsigned win = static_cast<unsigned>(_mm256_movemask_ps(
          all_ties ? _mm256_cmp_ps(v, tv, Largest ? _CMP_GE_OQ : _CMP_LE_OQ)
                   : _mm256_cmp_ps(v, tv, Largest ? _CMP_GT_OQ : _CMP_LT_OQ)));
      if (!all_ties && ties > 0)
        win = take_lowest_ties(win, static_cast<unsigned>(_mm256_movemask_ps(_mm256_cmp_ps(v, tv, _CMP_EQ_OQ))), ties);
      const __m256i b = _mm256_castps_si256(_mm256_add_ps(v, _mm256_setzero_ps()));
      __m256i u = _mm256_xor_si256(b, _mm256_or_si256(_mm256_srai_epi32(b, 31), sign));
      if (!Largest) u = _mm256_xor_si256(u, _mm256_set1_epi32(-1));
      // The lanes that lose take the neutral key of each bound (all ones for the minimum, 0 for the maximum).
      const __m256i m = _mm256_cmpeq_epi32(_mm256_and_si256(_mm256_set1_epi32(static_cast<int>(win)), lane_bit), lane_bit);
      vlo = _mm256_min_epu32(vlo, _mm256_or_si256(u, _mm256_xor_si256(m, _mm256_set1_epi32(-1))));
      vhi = _mm256_max_epu32(vhi, _mm256_and_si256(u, m));
      const __m256i perm = _mm256_cvtepu8_epi32(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(compress8.lanes[win])));
      _mm256_storeu_si256(reinterpret_cast<__m256i*>(key + w), _mm256_permutevar8x32_epi32(u, perm));
      _mm256_storeu_si256(reinterpret_cast<__m256i*>(idx + w), _mm256_permutevar8x32_epi32(iv, perm));
      w += __builtin_popcount(win);
      iv = _mm256_add_epi32(iv, step);
    }
    alignas(32) std::uint32_t l[8], h[8];
    _mm256_store_si256(reinterpret_cast<__m256i*>(l), vlo);
    _mm256_store_si256(reinterpret_cast<__m256i*>(h), vhi);
    lo = *std::min_element(l, l + 8);
    hi = *std::max_element(h, h + 8);
  }
#endif
  emit_selected<Arch, Largest>(s + i, n - i, t, ties, [&](index_t j) {
    const std::uint32_t u = select_key<Largest>(s[i + j]);
    lo = std::min(lo, u);
    hi = std::max(hi, u);
    key[w] = u;
    idx[w++] = static_cast<std::uint32_t>(i + j);
  });
  return w;
}

/// One odd-even transposition round over the pairs (t[2p], t[2p + 1]), p < pairs: the larger first.
/// Branch-free; compilers vectorise it (stride-2 loads, 64-bit max/min).
inline void odd_even_round(std::uint64_t* __restrict t, index_t pairs) noexcept {
  for (index_t p = 0; p < pairs; ++p) {
    const std::uint64_t x = t[2 * p], y = t[2 * p + 1];
    t[2 * p] = x > y ? x : y;
    t[2 * p + 1] = x > y ? y : x;
  }
}

/// Moves t[i] down into the descending run t[0, i) (one insertion sort step; no store when in order,
/// since a store there would feed the next step's load).
inline void insert_back(std::uint64_t* t, index_t i) noexcept {
  const std::uint64_t v = t[i];
  if (t[i - 1] < v) {
    index_t j = i;
    do {
      t[j] = t[j - 1];
      --j;
    } while (j > 0 && t[j - 1] < v);
    t[j] = v;
  }
}

/// Sorts t[0, c) descending where only a few short runs are out of order: 8 neighbouring pairs are
/// compared without a branch (compare-and-set, OR-ed), and only a block with an inversion takes the
/// scalar insertion steps (a branch per position mispredicts; a branch per clean block of 8 does not).
inline void finish_sort(std::uint64_t* t, index_t c) noexcept {
  index_t i = 1;
  for (; i + 8 <= c; i += 8) {
    bool dirty = false;
    for (index_t j = i; j < i + 8; ++j) dirty |= t[j - 1] < t[j];
    if (dirty)
      for (index_t j = i; j < i + 8; ++j) insert_back(t, j);
  }
  for (; i < c; ++i) insert_back(t, i);
}

/// rank_order's most buckets; its `start` needs rank_buckets + 2 counters (it reuses radix_kth_key's).
inline constexpr std::uint32_t rank_buckets = 4096;
static_assert(rank_buckets + 2 <= radix_counters, "rank_order's counters fit in the radix select's");

/// A bucket of rank_order holding more than this many candidates is bucketed again (or sorted).
inline constexpr std::uint32_t rank_crowded = 32;

/// The counts start[1, bins] become running totals (start[b]: the first slot of bucket b, start[0] = 0
/// left alone); returns the largest count. AVX2 scans 8 counters per step (two shifted adds within each
/// half, the low half's total into the high half, plus the carry, which grows by the block's total
/// broadcast from its last lane): the scalar loop is one dependent add per counter, 13 % of
/// a rank-order top-k at n = 2880.
template <class Arch>
inline std::uint32_t bucket_starts(std::uint32_t* start, std::uint32_t bins) noexcept {
  std::uint32_t total = 0, most = 0, b = 1;
#if defined(__AVX2__)
  // (xsimd's AVX-512 arches do not derive from avx2; their builds have the AVX2 instructions too.)
  if constexpr (std::is_base_of_v<xsimd::avx2, Arch> || std::is_base_of_v<xsimd::avx512f, Arch>) {
    __m256i carry = _mm256_setzero_si256(), vmost = _mm256_setzero_si256();
    const __m256i last = _mm256_set1_epi32(7);
    for (; b + 8 <= bins + 1; b += 8) {
      __m256i x = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(start + b));
      vmost = _mm256_max_epu32(vmost, x);
      x = _mm256_add_epi32(x, _mm256_slli_si256(x, 4));
      x = _mm256_add_epi32(x, _mm256_slli_si256(x, 8));
      x = _mm256_add_epi32(x, _mm256_shuffle_epi32(_mm256_permute2x128_si256(x, x, 0x08), 0xFF));
      _mm256_storeu_si256(reinterpret_cast<__m256i*>(start + b), _mm256_add_epi32(x, carry));
      carry = _mm256_add_epi32(carry, _mm256_permutevar8x32_epi32(x, last));  // one add on the carried chain
    }
    alignas(32) std::uint32_t m[8];
    _mm256_store_si256(reinterpret_cast<__m256i*>(m), vmost);
    most = *std::max_element(m, m + 8);
    total = static_cast<std::uint32_t>(_mm256_cvtsi256_si32(carry));
  }
#endif
  for (; b <= bins; ++b) {
    most = std::max(most, start[b]);
    start[b] = total += start[b];
  }
  return most;
}

/// One counting pass of rank_order: the composites src[0, c) (key << 32 | ~index, keys in [lo, hi]) into
/// dst by buckets of equal key width, the best keys first, at most min(max(2c, 2), rank_buckets) of them.
/// Stable, so equal keys keep the order they came in. On return start[b] is the end of bucket b in dst
/// (`start`: rank_buckets + 2 counters); returns the bucket count and sets `crowded` to the largest
/// bucket's size.
template <class Arch>
inline std::uint32_t bucket_pass(const std::uint64_t* src, std::uint64_t* dst, index_t c, std::uint32_t lo,
                                 std::uint32_t hi, std::uint32_t* start, std::uint32_t& crowded) noexcept {
  const std::uint32_t target = static_cast<std::uint32_t>(std::clamp<index_t>(2 * c, 2, rank_buckets));
  int shift = 0;
  while (((hi - lo) >> shift) + 1 > target) ++shift;
  const std::uint32_t bins = ((hi - lo) >> shift) + 1;
  const auto bucket = [hi, shift](std::uint64_t v) { return (hi - static_cast<std::uint32_t>(v >> 32)) >> shift; };
  std::fill(start, start + bins + 1, 0u);
  for (index_t j = 0; j < c; ++j) ++start[bucket(src[j]) + 1];
  crowded = bucket_starts<Arch>(start, bins);
  for (index_t j = 0; j < c; ++j) dst[start[bucket(src[j])]++] = src[j];
  return bins;
}

/// Orders one crowded bucket t[0, c) of rank_order by a second counting pass over the bucket's own key
/// range: a few outlying keys (a self-distance of 0 among distances near 1, an attention sink) stretch
/// the first pass's range so that the rest crowd into a bucket or two. A bucket still crowded after
/// that (keys on two scales again) is sorted. `scratch`: c composites; `start` as bucket_pass.
template <class Arch>
inline void rank_crowded_bucket(std::uint64_t* t, index_t c, std::uint64_t* scratch, std::uint32_t* start) noexcept {
  std::uint32_t lo = 0xFFFFFFFFu, hi = 0;
  for (index_t j = 0; j < c; ++j) {
    const auto u = static_cast<std::uint32_t>(t[j] >> 32);
    lo = std::min(lo, u);
    hi = std::max(hi, u);
  }
  if (lo == hi) return;  // ties only: already in ascending index order (the passes are stable)
  std::copy(t, t + c, scratch);
  std::uint32_t crowded = 0;
  const std::uint32_t bins = bucket_pass<Arch>(scratch, t, c, lo, hi, start, crowded);
  if (crowded <= rank_crowded) return;
  for (std::uint32_t b = 0, begin = 0; b < bins; begin = start[b++])
    if (start[b] - begin > rank_crowded) std::sort(t + begin, t + start[b], std::greater<std::uint64_t>());
}

/// Rank order (key descending, then index ascending — §0.4) of k candidates given as keys and ascending
/// indices (emit_keys; key[] is overwritten), keys in [lo, hi]: the first `keep` ≤ k written to out as
/// indices. `comp` and `tmp` hold k composites (key << 32 | ~index: the larger composite ranks first),
/// `start` rank_buckets + 2 counters. One counting pass (bucket_pass) puts the composites into at most
/// 2k buckets, so most buckets hold 0 or 1 candidate and the array is sorted but for short runs; a
/// bucket of more than rank_crowded is bucketed again over its own range (rank_crowded_bucket).
/// Three odd-even transposition rounds then sort every bucket of ≤ 3 (a compare-exchange across a
/// bucket boundary never swaps, so the rounds act on each bucket alone) and finish_sort fixes the rest;
/// both stop at the end of the bucket holding rank `keep` (the candidates past it are never output:
/// about a fifth of them). Branch-free where it matters: the insertion sort that did all the fixing
/// before mispredicted its loop exit about once per moved winner (2 µs at n = 2880, k = 720).
template <class Arch>
inline void rank_order(std::uint32_t* key, const std::uint32_t* idx, index_t k, std::uint32_t lo, std::uint32_t hi,
                       std::uint64_t* comp, std::uint64_t* tmp, std::uint32_t* start, index_t* out,
                       index_t keep) noexcept {
  for (index_t j = 0; j < k; ++j) comp[j] = (std::uint64_t(key[j]) << 32) | std::uint64_t(0xFFFFFFFFu - idx[j]);
  std::uint32_t crowded = 0;
  const std::uint32_t bins = bucket_pass<Arch>(comp, tmp, k, lo, hi, start, crowded);
  // Only the buckets up to the one holding rank `keep` need ordering within: the rest lie past it whole.
  const auto used = static_cast<std::uint32_t>(std::lower_bound(start, start + bins, static_cast<std::uint32_t>(keep)) - start);
  const index_t m = used < bins ? index_t(start[used]) : k;
  if (crowded > rank_crowded) {
    // The crowded buckets' bounds go to key[] (free now: fewer than k/16 pairs), since ranking a bucket
    // reuses `start`; comp is the scratch.
    index_t spans = 0;
    for (std::uint32_t b = 0, begin = 0; b <= used && b < bins; begin = start[b++])
      if (start[b] - begin > rank_crowded) {
        key[2 * spans] = begin;
        key[2 * spans + 1] = start[b];
        ++spans;
      }
    for (index_t s = 0; s < spans; ++s)
      rank_crowded_bucket<Arch>(tmp + key[2 * s], key[2 * s + 1] - key[2 * s], comp, start);
  }
  odd_even_round(tmp, m / 2);
  odd_even_round(tmp + 1, (m - 1) / 2);
  odd_even_round(tmp, m / 2);
  finish_sort(tmp, m);
  for (index_t i = 0; i < keep; ++i) out[i] = key_index(tmp[i]);
}

template <class Arch, bool Largest>
inline void topk_impl(const float* s, index_t n, index_t k, order o, index_t* out, workspace& ws) {
  if (k <= 0) return;
  workspace::scope sc(ws);
  if (n < (o == order::by_rank ? 32 : 256)) {
    // Small inputs: nth_element on 64-bit (key, index) composites is cheaper than clearing the radix
    // select's histograms (Zen 3, k = n/2: 0.44 against 0.54 µs at n = 100, even at n = 171, 1.87
    // against 0.89 µs at n = 576). Rank order needs the radix select only when its sample misleads, and
    // ranks by buckets from 32 scores on (n = 576, k = 288: 3.6 µs against 13 µs by nth_element and sort).
    std::uint64_t* keys = ws.take<std::uint64_t>(static_cast<std::size_t>(n));
    for (index_t i = 0; i < n; ++i) keys[i] = Largest ? desc_key(s[i], i) : asc_key(s[i], i);
    select_keys(keys, n, k, o, out, 0, ws);
    return;
  }
  std::uint32_t* counts = ws.take<std::uint32_t>(radix_counters);  // the radix select's, then rank_order's
  // The k-th best key and how many of its ties are taken; k == n takes everything (threshold = the
  // worst possible key, whose ties never run out).
  const auto threshold = [&](index_t& ties) {
    ties = n;
    if (k == n) return Largest ? -std::numeric_limits<float>::infinity() : std::numeric_limits<float>::infinity();
    index_t* cand = ws.take<index_t>(static_cast<std::size_t>(n));
    return key_score<Largest>(radix_kth_key<Arch, Largest>(s, n, k, cand, counts, ties));
  };
  if (o == order::ascending) {
    index_t ties = 0;
    const float t = threshold(ties);
    index_t w = 0;
    emit_selected<Arch, Largest>(s, n, t, ties, [&](index_t i) { out[w++] = i; });
    VTR_ASSERT(w == k);
    return;
  }
  // Rank order: every score whose key reaches a cut taken from a sample (sample_cut: at least k of them
  // almost always, 1.25k for k = n/4), ranked; the first k are the answer, ties included, since the
  // ranking orders by key and then index. No exact k-th key is needed: ranking 0.25k more candidates
  // costs less than the radix select (0.5 µs net at n = 2880). A sample that misleads (fewer than k
  // reach the cut, or more than 2k + 64: ties at the cut, periodic scores) falls back to the exact key.
  std::uint32_t* key = ws.take<std::uint32_t>(static_cast<std::size_t>(n + 16));
  std::uint32_t* idx = ws.take<std::uint32_t>(static_cast<std::size_t>(n + 16));
  std::uint32_t lo = 0, hi = 0;
  index_t w = 0;
  if (k < n) {
    const float cut = key_score<Largest>(sample_cut<Arch, Largest>(s, n, k, key, counts));
    w = emit_keys<Arch, Largest>(s, n, cut, n, key, idx, lo, hi);
  }
  if (w < k || w > 2 * k + 64) {
    index_t ties = 0;
    const float t = threshold(ties);
    w = emit_keys<Arch, Largest>(s, n, t, ties, key, idx, lo, hi);
    VTR_ASSERT(w == k);
  }
  std::uint64_t* comp = ws.take<std::uint64_t>(static_cast<std::size_t>(w));
  std::uint64_t* tmp = ws.take<std::uint64_t>(static_cast<std::size_t>(w));
  rank_order<Arch>(key, idx, w, lo, hi, comp, tmp, counts, out, k);
}

template <class Arch, bool Largest>
inline result<index_t> try_select(const vector_view<const float>& s, index_t k, order o,
                                  const vector_view<index_t>& out, workspace& ws) {
  VTR_TRY(check_scores("s", s));
  const index_t n = s.extent(0);
  const index_t count = std::clamp<index_t>(k, 0, n);  // §2.4: k is clamped to [0, n]
  VTR_TRY(check_out("out", out, count));
  VTR_TRY(expect_no_alias("out", out, "s", s));
  topk_impl<Arch, Largest>(s.data_handle(), n, count, o, out.data_handle(), ws);
  return count;
}

}  // namespace detail

// ---------------------------------------------------------------------------------------------------
// topk / bottomk (ALGORITHMS §2.4)

/// Upper bound of the workspace bytes topk/bottomk take for n candidates (reserve it once and no call
/// allocates).
inline std::size_t topk_workspace_bytes(index_t n) noexcept {
  // The largest path is rank order from 32 candidates on: the radix select's counters (reused for the
  // sample and the buckets), two 32-bit arrays of n + 16 (the candidates), two 64-bit arrays of at most
  // n and, on a fallback, the radix select's n candidate indices; 6 pieces, each rounded up to the
  // alignment. (32n also covers the small-n path: n composites and an n-bit bitmap.)
  const std::size_t un = static_cast<std::size_t>(std::max<index_t>(n, 1));
  return un * 8 * 4 + (detail::radix_counters + 2 * 16) * 4 + 8 * workspace::alignment;
}

/// The min(max(k, 0), n) best indices of s by (score desc, index asc), in ascending or rank order,
/// written to out[0, count). Returns count. Errors: NaN in s, out too small, out overlapping s.
template <class Arch = simd::default_arch>
result<index_t> try_topk(vector_view<const float> s, index_t k, order o, vector_view<index_t> out, workspace& ws) {
  return detail::try_select<Arch, true>(s, k, o, out, ws);
}
template <class Arch = simd::default_arch>
index_t topk(vector_view<const float> s, index_t k, order o, vector_view<index_t> out, workspace& ws) {
  return detail::try_select<Arch, true>(s, k, o, out, ws).value();
}
/// As topk, into a std::vector resized to the count (its capacity is reused).
template <class Arch = simd::default_arch>
index_t topk(vector_view<const float> s, index_t k, order o, std::vector<index_t>& out, workspace& ws) {
  out.resize(static_cast<std::size_t>(std::clamp<index_t>(k, 0, std::max<index_t>(s.extent(0), 0))));
  return topk<Arch>(s, k, o, view_of(out), ws);
}

/// The min(max(k, 0), n) smallest by (score asc, index asc) — Fit&Prune's deletion order (§0.4, §3.3.2).
template <class Arch = simd::default_arch>
result<index_t> try_bottomk(vector_view<const float> s, index_t k, order o, vector_view<index_t> out, workspace& ws) {
  return detail::try_select<Arch, false>(s, k, o, out, ws);
}
template <class Arch = simd::default_arch>
index_t bottomk(vector_view<const float> s, index_t k, order o, vector_view<index_t> out, workspace& ws) {
  return detail::try_select<Arch, false>(s, k, o, out, ws).value();
}
template <class Arch = simd::default_arch>
index_t bottomk(vector_view<const float> s, index_t k, order o, std::vector<index_t>& out, workspace& ws) {
  out.resize(static_cast<std::size_t>(std::clamp<index_t>(k, 0, std::max<index_t>(s.extent(0), 0))));
  return bottomk<Arch>(s, k, o, view_of(out), ws);
}

// ---------------------------------------------------------------------------------------------------
// grouped_topk (ALGORITHMS §2.4, PruneVid stage 2)

/// Number of indices grouped_topk selects for these groups (Σ clamp(k_g, 0, n_g)); groups unchecked.
inline index_t grouped_topk_count(vector_view<const topk_group> groups) noexcept {
  index_t c = 0;
  for (index_t g = 0; g < groups.extent(0); ++g) c += std::clamp<index_t>(groups(g).k, 0, std::max<index_t>(groups(g).size, 0));
  return c;
}

/// Each group [begin, begin+size) keeps its own top-k_g (k_g clamped to [0, size]); the union is
/// written ascending to out. Groups must lie inside s and must not overlap. Returns the count.
inline result<index_t> try_grouped_topk(vector_view<const float> s, vector_view<const topk_group> groups,
                                        vector_view<index_t> out, workspace& ws) {
  VTR_TRY(validate_view("s", s));
  VTR_TRY(validate_view("groups", groups));
  const index_t n = s.extent(0), ng = groups.extent(0);
  if (n > detail::max_topk_candidates) return fail("argument 's' has too many candidates (", n, ")");
  for (index_t g = 0; g < ng; ++g) {
    const topk_group& gr = groups(g);
    if (gr.begin < 0 || gr.size < 0 || gr.begin > n || gr.size > n - gr.begin)
      return fail("argument 'groups': group ", g, " = ", span_text{gr.begin, gr.size}, " is not inside 's' of shape ",
                  shape_of(s));
    const index_t bad = detail::first_nan(s.data_handle() + gr.begin, gr.size);
    if (bad >= 0) return fail("argument 's' holds NaN at index ", gr.begin + bad, " (in group ", g, "); scores must not be NaN");
  }
  workspace::scope sc(ws);
  // Overlap check on a sorted copy of the non-empty ranges.
  {
    topk_group* sorted = ws.take<topk_group>(static_cast<std::size_t>(std::max<index_t>(ng, 1)));
    index_t m = 0;
    for (index_t g = 0; g < ng; ++g)
      if (groups(g).size > 0) sorted[m++] = groups(g);
    std::sort(sorted, sorted + m, [](const topk_group& a, const topk_group& b) { return a.begin < b.begin; });
    for (index_t g = 1; g < m; ++g)
      if (sorted[g].begin < sorted[g - 1].begin + sorted[g - 1].size)
        return fail("argument 'groups': ranges [", sorted[g - 1].begin, ", ", sorted[g - 1].begin + sorted[g - 1].size,
                    ") and [", sorted[g].begin, ", ", sorted[g].begin + sorted[g].size, ") overlap; groups must be disjoint");
  }
  const index_t count = grouped_topk_count(groups);
  VTR_TRY(detail::check_out("out", out, count));
  VTR_TRY(expect_no_alias("out", out, "s", s));
  VTR_TRY(expect_no_alias("out", out, "groups", groups));

  // Mark every group's winners in one bitmap over s, then scan it: the union comes out ascending.
  const index_t words = (n + 63) / 64;
  std::uint64_t* bits = ws.take<std::uint64_t>(static_cast<std::size_t>(std::max<index_t>(words, 1)));
  std::fill(bits, bits + words, std::uint64_t(0));
  index_t max_size = 0;
  for (index_t g = 0; g < ng; ++g) max_size = std::max(max_size, groups(g).size);
  std::uint64_t* keys = ws.take<std::uint64_t>(static_cast<std::size_t>(std::max<index_t>(max_size, 1)));
  index_t* picked = ws.take<index_t>(static_cast<std::size_t>(std::max<index_t>(max_size, 1)));
  for (index_t g = 0; g < ng; ++g) {
    const topk_group& gr = groups(g);
    const index_t kg = std::clamp<index_t>(gr.k, 0, gr.size);
    if (kg == 0) continue;
    const float* sg = s.data_handle() + gr.begin;
    for (index_t i = 0; i < gr.size; ++i) keys[i] = detail::desc_key(sg[i], i);
    detail::select_keys(keys, gr.size, kg, order::by_rank, picked, gr.begin, ws);
    for (index_t i = 0; i < kg; ++i) bits[picked[i] >> 6] |= std::uint64_t(1) << (picked[i] & 63);
  }
  index_t w = 0;
  index_t* o = out.data_handle();
  for (index_t word = 0; word < words; ++word) {
    std::uint64_t b = bits[word];
    while (b) {
      o[w++] = (word << 6) + __builtin_ctzll(b);
      b &= b - 1;
    }
  }
  VTR_ASSERT(w == count);
  return count;
}
inline index_t grouped_topk(vector_view<const float> s, vector_view<const topk_group> groups, vector_view<index_t> out,
                            workspace& ws) {
  return try_grouped_topk(s, groups, out, ws).value();
}

// ---------------------------------------------------------------------------------------------------
// windowed_topk (ALGORITHMS §2.4, VScan-LLaVA local scan)

/// Count windowed_topk returns: (grid_h/win)·(grid_w/win)·clamp(k_per_window, 0, win²).
inline index_t windowed_topk_count(index_t grid_h, index_t grid_w, index_t win, index_t k_per_window) noexcept {
  if (win <= 0) return 0;
  return (grid_h / win) * (grid_w / win) * std::clamp<index_t>(k_per_window, 0, win * win);
}

/// Windows visited row-major; in each window the top k_per_window cells (clamped to [0, win²]) in rank
/// order (ties → lower local id = lower global index), mapped to raster indices of the grid. Errors: a
/// grid side not a multiple of win, s not of grid_h·grid_w scores, NaN, out too small.
inline result<index_t> try_windowed_topk(vector_view<const float> s, index_t grid_h, index_t grid_w, index_t win,
                                         index_t k_per_window, vector_view<index_t> out, workspace& ws) {
  if (win < 1) return fail("argument 'win' = ", win, " must be at least 1");
  if (grid_h < 0 || grid_w < 0) return fail("arguments 'grid_h' = ", grid_h, ", 'grid_w' = ", grid_w, " must be non-negative");
  if (grid_h % win != 0 || grid_w % win != 0)
    return fail("grid ", grid_h, "x", grid_w, " (arguments 'grid_h', 'grid_w') is not divisible by the window 'win' = ", win,
                "; use greedy_capped_windows for such grids (ALGORITHMS §2.4)");
  VTR_TRY(expect_shape("s", s, {grid_h * grid_w}));
  VTR_TRY(detail::check_scores("s", s));
  const index_t kk = std::clamp<index_t>(k_per_window, 0, win * win);
  const index_t count = windowed_topk_count(grid_h, grid_w, win, k_per_window);
  VTR_TRY(detail::check_out("out", out, count));
  VTR_TRY(expect_no_alias("out", out, "s", s));
  if (kk == 0) return count;

  workspace::scope sc(ws);
  const index_t cells = win * win;
  std::uint64_t* keys = ws.take<std::uint64_t>(static_cast<std::size_t>(cells));
  index_t* picked = ws.take<index_t>(static_cast<std::size_t>(kk));
  const float* sp = s.data_handle();
  index_t* o = out.data_handle();
  for (index_t wi = 0; wi < grid_h / win; ++wi)
    for (index_t wj = 0; wj < grid_w / win; ++wj) {
      // Local id t = dy·win + dx, so (score desc, t asc) is the same order as (score desc, global asc).
      for (index_t dy = 0; dy < win; ++dy) {
        const float* row = sp + (wi * win + dy) * grid_w + wj * win;
        for (index_t dx = 0; dx < win; ++dx) keys[dy * win + dx] = detail::desc_key(row[dx], dy * win + dx);
      }
      detail::select_keys(keys, cells, kk, order::by_rank, picked, 0, ws);
      for (index_t i = 0; i < kk; ++i) {
        const index_t t = picked[i];
        *o++ = (wi * win + t / win) * grid_w + (wj * win + t % win);
      }
    }
  return count;
}
inline index_t windowed_topk(vector_view<const float> s, index_t grid_h, index_t grid_w, index_t win, index_t k_per_window,
                             vector_view<index_t> out, workspace& ws) {
  return try_windowed_topk(s, grid_h, grid_w, win, k_per_window, out, ws).value();
}

// ---------------------------------------------------------------------------------------------------
// greedy_capped_windows (ALGORITHMS §2.4, VScan-Qwen local scan)

/// Walks all cells in (score desc, index asc) order and accepts a cell while its window holds fewer than
/// cap = ⌈n_sel / nW⌉ accepted cells, until n_sel are accepted. nWh = max(1, grid_h / win) and
/// nWw = max(1, grid_w / win) (library rule, §3.4.3); remainder rows/columns fold into the last window.
/// Output in acceptance (score) order; the count can fall short of n_sel when caps bind, and is at most
/// min(max(n_sel, 0), grid_h·grid_w) — out needs that much room. Returns the count.
inline result<index_t> try_greedy_capped_windows(vector_view<const float> s, index_t grid_h, index_t grid_w, index_t win,
                                                 index_t n_sel, vector_view<index_t> out, workspace& ws) {
  if (win < 1) return fail("argument 'win' = ", win, " must be at least 1");
  if (grid_h < 0 || grid_w < 0) return fail("arguments 'grid_h' = ", grid_h, ", 'grid_w' = ", grid_w, " must be non-negative");
  const index_t n = grid_h * grid_w;
  VTR_TRY(expect_shape("s", s, {n}));
  VTR_TRY(detail::check_scores("s", s));
  const index_t want = std::clamp<index_t>(n_sel, 0, n);
  VTR_TRY(detail::check_out("out", out, want));
  VTR_TRY(expect_no_alias("out", out, "s", s));
  if (want == 0) return index_t(0);

  const index_t nwh = std::max<index_t>(1, grid_h / win), nww = std::max<index_t>(1, grid_w / win);
  const index_t nw = nwh * nww;
  // The cap uses the requested n_sel (not the clamp): upstream's ceil(n_sel / nW).
  const index_t cap = (std::max<index_t>(n_sel, 0) + nw - 1) / nw;
  workspace::scope sc(ws);
  std::uint64_t* keys = ws.take<std::uint64_t>(static_cast<std::size_t>(n));
  index_t* counts = ws.take<index_t>(static_cast<std::size_t>(nw));
  std::fill(counts, counts + nw, index_t(0));
  const float* sp = s.data_handle();
  for (index_t i = 0; i < n; ++i) keys[i] = detail::desc_key(sp[i], i);
  // Sort lazily: most calls stop well before the end, so order the candidates a chunk at a time.
  index_t w = 0, sorted_end = 0;
  index_t* o = out.data_handle();
  for (index_t pos = 0; pos < n && w < want; ++pos) {
    if (pos == sorted_end) {
      const index_t chunk = std::min(n - sorted_end, std::max<index_t>(2 * (want - w), 64));
      if (sorted_end + chunk < n)
        std::nth_element(keys + sorted_end, keys + sorted_end + chunk - 1, keys + n, std::greater<std::uint64_t>());
      std::sort(keys + sorted_end, keys + sorted_end + chunk, std::greater<std::uint64_t>());
      sorted_end += chunk;
    }
    const index_t t = detail::key_index(keys[pos]);
    const index_t wy = std::min(t / grid_w / win, nwh - 1), wx = std::min(t % grid_w / win, nww - 1);
    index_t& c = counts[wy * nww + wx];
    if (c < cap) {
      o[w++] = t;
      ++c;
    }
  }
  return w;
}
inline index_t greedy_capped_windows(vector_view<const float> s, index_t grid_h, index_t grid_w, index_t win, index_t n_sel,
                                     vector_view<index_t> out, workspace& ws) {
  return try_greedy_capped_windows(s, grid_h, grid_w, win, n_sel, out, ws).value();
}

// ---------------------------------------------------------------------------------------------------
// threshold_select

namespace detail {
template <class Arch>
index_t threshold_indices(const float* s, index_t n, float thr, threshold_cmp cmp, index_t* out) noexcept {
  using B = simd::batch<float, Arch>;
  constexpr index_t L = static_cast<index_t>(simd::lanes<float, Arch>);
  const B t(thr);
  index_t* o = out;
  index_t i = 0;
  if (cmp == threshold_cmp::greater) {
    for (; i + L <= n; i += L) o = simd::compress_indices(simd::load<float, Arch>(s + i) > t, i, o);
    for (; i < n; ++i)
      if (s[i] > thr) *o++ = i;
  } else {
    for (; i + L <= n; i += L) o = simd::compress_indices(simd::load<float, Arch>(s + i) >= t, i, o);
    for (; i < n; ++i)
      if (s[i] >= thr) *o++ = i;
  }
  return static_cast<index_t>(o - out);
}

inline status check_threshold(const vector_view<const float>& s, float thr) {
  VTR_TRY(check_scores("s", s));
  if (thr != thr) return fail("argument 'thr' is NaN");
  return {};
}
}  // namespace detail

/// Indices i with s[i] > thr (or ≥ thr), ascending. out needs room for the count; the selection is made
/// in workspace scratch first so that nothing is written when out is too small. Returns the count.
template <class Arch = simd::default_arch>
result<index_t> try_threshold_select(vector_view<const float> s, float thr, threshold_cmp cmp, vector_view<index_t> out,
                                     workspace& ws) {
  VTR_TRY(detail::check_threshold(s, thr));
  VTR_TRY(validate_view("out", out));
  VTR_TRY(expect_no_alias("out", out, "s", s));
  const index_t n = s.extent(0);
  if (out.extent(0) >= n) return detail::threshold_indices<Arch>(s.data_handle(), n, thr, cmp, out.data_handle());
  workspace::scope sc(ws);
  index_t* tmp = ws.take<index_t>(static_cast<std::size_t>(std::max<index_t>(n, 1)));
  const index_t c = detail::threshold_indices<Arch>(s.data_handle(), n, thr, cmp, tmp);
  VTR_TRY(detail::check_out("out", out, c));
  std::copy(tmp, tmp + c, out.data_handle());
  return c;
}
template <class Arch = simd::default_arch>
index_t threshold_select(vector_view<const float> s, float thr, threshold_cmp cmp, vector_view<index_t> out, workspace& ws) {
  return try_threshold_select<Arch>(s, thr, cmp, out, ws).value();
}
/// As above, into a std::vector resized to the count (capacity reused; no workspace needed).
template <class Arch = simd::default_arch>
status try_threshold_select(vector_view<const float> s, float thr, threshold_cmp cmp, std::vector<index_t>& out) {
  VTR_TRY(detail::check_threshold(s, thr));
  const index_t n = s.extent(0);
  out.resize(static_cast<std::size_t>(n));
  const index_t c = detail::threshold_indices<Arch>(s.data_handle(), n, thr, cmp, out.data());
  out.resize(static_cast<std::size_t>(c));
  return {};
}
template <class Arch = simd::default_arch>
index_t threshold_select(vector_view<const float> s, float thr, threshold_cmp cmp, std::vector<index_t>& out) {
  raise_if_error(try_threshold_select<Arch>(s, thr, cmp, out));
  return static_cast<index_t>(out.size());
}

// ---------------------------------------------------------------------------------------------------
// gather_rows / compaction_moves (ALGORITHMS §2.11)

/// out[i] = X[idx[i]] for every i (rows copied in the order of idx). out: [idx.size, X.cols].
template <class T>
status try_gather_rows(matrix_view<const T> x, vector_view<const index_t> idx, matrix_view<T> out) {
  VTR_TRY(validate_view("x", x));
  VTR_TRY(validate_view("idx", idx));
  VTR_TRY(expect_shape("out", out, {idx.extent(0), x.extent(1)}));
  for (index_t i = 0; i < idx.extent(0); ++i)
    if (idx(i) < 0 || idx(i) >= x.extent(0))
      return fail("argument 'idx'[", i, "] = ", idx(i), " is out of range for 'x' of shape ", shape_of(x));
  VTR_TRY(expect_no_alias("out", out, "x", x));
  VTR_TRY(expect_no_alias("out", out, "idx", idx));
  const std::size_t bytes = sizeof(T) * static_cast<std::size_t>(x.extent(1));
  if (bytes == 0) return {};
  for (index_t i = 0; i < idx.extent(0); ++i) std::memcpy(out.row(i), x.row(idx(i)), bytes);
  return {};
}
template <class T>
void gather_rows(matrix_view<const T> x, vector_view<const index_t> idx, matrix_view<T> out) {
  raise_if_error(try_gather_rows<T>(x, idx, out));
}

/// The in-place compaction of a length-`rows` axis to the strictly ascending `keep` (§2.11): one move per
/// kept row whose position changes (src = keep[d] → dst = d; src == dst omitted), in increasing dst order
/// — safe to apply in place since src ≥ dst. Writes the moves to out (cleared first); returns their count.
inline status try_compaction_moves(vector_view<const index_t> keep, index_t rows, std::vector<row_move>& out) {
  VTR_TRY(validate_view("keep", keep));
  if (rows < 0) return fail("argument 'rows' = ", rows, " must be non-negative");
  for (index_t i = 0; i < keep.extent(0); ++i) {
    if (keep(i) < 0 || keep(i) >= rows)
      return fail("argument 'keep'[", i, "] = ", keep(i), " is out of range [0, ", rows, ")");
    if (i > 0 && keep(i) <= keep(i - 1))
      return fail("argument 'keep' must be strictly ascending: keep[", i - 1, "] = ", keep(i - 1), ", keep[", i, "] = ", keep(i));
  }
  out.clear();
  for (index_t d = 0; d < keep.extent(0); ++d)
    if (keep(d) != d) out.push_back({keep(d), d});
  return {};
}
inline index_t compaction_moves(vector_view<const index_t> keep, index_t rows, std::vector<row_move>& out) {
  raise_if_error(try_compaction_moves(keep, rows, out));
  return static_cast<index_t>(out.size());
}

// ---------------------------------------------------------------------------------------------------
// Scalar references (used by the tests): plain sorts by the §0.4 comparator.

namespace ref {

inline std::vector<index_t> topk(const std::vector<float>& s, index_t k, order o, bool largest = true) {
  std::vector<index_t> idx(s.size());
  for (std::size_t i = 0; i < s.size(); ++i) idx[i] = static_cast<index_t>(i);
  std::stable_sort(idx.begin(), idx.end(), [&](index_t a, index_t b) {
    return largest ? s[std::size_t(a)] > s[std::size_t(b)] : s[std::size_t(a)] < s[std::size_t(b)];
  });
  idx.resize(static_cast<std::size_t>(std::clamp<index_t>(k, 0, static_cast<index_t>(s.size()))));
  if (o == order::ascending) std::sort(idx.begin(), idx.end());
  return idx;
}

inline std::vector<index_t> bottomk(const std::vector<float>& s, index_t k, order o) { return topk(s, k, o, false); }

inline std::vector<index_t> grouped_topk(const std::vector<float>& s, const std::vector<topk_group>& groups) {
  std::vector<index_t> all;
  for (const auto& g : groups) {
    std::vector<float> sub(s.begin() + g.begin, s.begin() + g.begin + g.size);
    for (index_t i : topk(sub, g.k, order::by_rank)) all.push_back(i + g.begin);
  }
  std::sort(all.begin(), all.end());
  return all;
}

inline std::vector<index_t> windowed_topk(const std::vector<float>& s, index_t gh, index_t gw, index_t win, index_t k) {
  std::vector<index_t> out;
  for (index_t wi = 0; wi < gh / win; ++wi)
    for (index_t wj = 0; wj < gw / win; ++wj) {
      std::vector<float> local;
      for (index_t t = 0; t < win * win; ++t)
        local.push_back(s[std::size_t((wi * win + t / win) * gw + wj * win + t % win)]);
      for (index_t t : topk(local, k, order::by_rank)) out.push_back((wi * win + t / win) * gw + (wj * win + t % win));
    }
  return out;
}

inline std::vector<index_t> greedy_capped_windows(const std::vector<float>& s, index_t gh, index_t gw, index_t win,
                                                  index_t n_sel) {
  index_t nwh = std::max<index_t>(1, gh / win), nww = std::max<index_t>(1, gw / win);
  const index_t nw = nwh * nww;
  const index_t cap = (std::max<index_t>(n_sel, 0) + nw - 1) / nw;
  std::vector<index_t> count(std::size_t(nw), 0), out;
  if (n_sel <= 0) return out;
  for (index_t t : topk(s, static_cast<index_t>(s.size()), order::by_rank)) {
    const index_t w = std::min(t / gw / win, nwh - 1) * nww + std::min(t % gw / win, nww - 1);
    if (count[std::size_t(w)] < cap) {
      out.push_back(t);
      ++count[std::size_t(w)];
    }
    if (static_cast<index_t>(out.size()) == n_sel) break;
  }
  return out;
}

inline std::vector<index_t> threshold_select(const std::vector<float>& s, float thr, threshold_cmp cmp) {
  std::vector<index_t> out;
  for (std::size_t i = 0; i < s.size(); ++i)
    if (cmp == threshold_cmp::greater ? s[i] > thr : s[i] >= thr) out.push_back(static_cast<index_t>(i));
  return out;
}

}  // namespace ref

}  // namespace ops
VTR_NAMESPACE_END
