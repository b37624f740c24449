// vtr — NPY files: the binary format numpy.save writes (format versions 1.0, 2.0 and 3.0).
//
// Used by the tests, the vtr-replay tool and users who dump tensors from their Python model to check
// parity (DESIGN §1). An NPY file is:
//   "\x93NUMPY" | major | minor | header length (2 bytes LE for 1.0, 4 bytes LE for 2.0/3.0) |
//   header: a Python dict literal {'descr': '<f4', 'fortran_order': False, 'shape': (3, 4), }
//           padded with spaces and ending in '\n' |
//   the raw elements.
// Supported: little-endian, C (row-major) order, dtypes <f4 <f8 <f2 <i8 <i4 |u1 |b1. Half floats are kept
// as raw 16-bit patterns and converted on request. Everything read from a file is checked before it is
// used: a malformed file (truncated, bad header, absurd shape) yields a vtr::status error, never a read
// out of bounds.
#pragma once

#include "../config.hpp"
#include "../core/error.hpp"
#include "../core/tensor_view.hpp"

#include <array>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>
#include <sstream>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

#if defined(__BYTE_ORDER__) && defined(__ORDER_BIG_ENDIAN__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
#error "vtr/io/npy.hpp stores elements as they lie in memory and needs a little-endian host"
#endif

VTR_NAMESPACE_BEGIN

/// Element types an NPY file may hold here (the numpy "descr" is in the comment).
enum class npy_dtype : std::uint8_t {
  f4,  ///< '<f4' float32
  f8,  ///< '<f8' float64
  f2,  ///< '<f2' float16, kept as raw bits (to_float() converts)
  i8,  ///< '<i8' int64
  i4,  ///< '<i4' int32
  u1,  ///< '|u1' uint8 (the golden cases' booleans)
  b1,  ///< '|b1' numpy bool
};

/// The numpy descr string of a dtype, e.g. "<f4".
inline const char* npy_descr(npy_dtype t) noexcept {
  switch (t) {
    case npy_dtype::f4: return "<f4";
    case npy_dtype::f8: return "<f8";
    case npy_dtype::f2: return "<f2";
    case npy_dtype::i8: return "<i8";
    case npy_dtype::i4: return "<i4";
    case npy_dtype::u1: return "|u1";
    case npy_dtype::b1: return "|b1";
  }
  return "?";
}

/// Bytes per element.
inline std::size_t npy_itemsize(npy_dtype t) noexcept {
  switch (t) {
    case npy_dtype::f8:
    case npy_dtype::i8: return 8;
    case npy_dtype::f4:
    case npy_dtype::i4: return 4;
    case npy_dtype::f2: return 2;
    case npy_dtype::u1:
    case npy_dtype::b1: return 1;
  }
  return 1;
}

/// True for the floating-point dtypes (numpy kind 'f').
inline bool npy_is_float(npy_dtype t) noexcept {
  return t == npy_dtype::f4 || t == npy_dtype::f8 || t == npy_dtype::f2;
}

/// The dtype that stores C++ type T (float, double, int64, int32, uint8, bool).
template <class T>
struct npy_dtype_of;
template <>
struct npy_dtype_of<float> : std::integral_constant<npy_dtype, npy_dtype::f4> {};
template <>
struct npy_dtype_of<double> : std::integral_constant<npy_dtype, npy_dtype::f8> {};
template <>
struct npy_dtype_of<std::int64_t> : std::integral_constant<npy_dtype, npy_dtype::i8> {};
template <>
struct npy_dtype_of<std::int32_t> : std::integral_constant<npy_dtype, npy_dtype::i4> {};
template <>
struct npy_dtype_of<std::uint8_t> : std::integral_constant<npy_dtype, npy_dtype::u1> {};
template <>
struct npy_dtype_of<bool> : std::integral_constant<npy_dtype, npy_dtype::b1> {};
template <class T>
inline constexpr npy_dtype npy_dtype_of_v = npy_dtype_of<std::remove_cv_t<T>>::value;

static_assert(sizeof(float) == 4 && sizeof(double) == 8 && sizeof(bool) == 1,
              "vtr/io/npy.hpp maps float/double/bool to 4/8/1-byte NPY elements");

namespace detail {

/// IEEE binary16 bit pattern to float (exact: every half value is a float value).
inline float npy_half_to_float(std::uint16_t h) noexcept {
  const std::uint32_t sign = static_cast<std::uint32_t>(h & 0x8000u) << 16;
  const std::uint32_t exponent = (h >> 10) & 0x1fu;
  const std::uint32_t mantissa = h & 0x3ffu;
  if (exponent == 0) {
    // Zero or subnormal: mantissa · 2^-24, exactly representable in float.
    const float magnitude = std::ldexp(static_cast<float>(mantissa), -24);
    return sign ? -magnitude : magnitude;
  }
  std::uint32_t bits;
  if (exponent == 0x1f)
    bits = sign | 0x7f800000u | (mantissa << 13);  // inf / NaN (payload kept)
  else
    bits = sign | ((exponent + 112u) << 23) | (mantissa << 13);  // rebias 15 → 127
  float f;
  std::memcpy(&f, &bits, sizeof f);
  return f;
}

/// Element i of raw little-endian storage as double / int64 (no alignment assumption).
template <class T>
T npy_load(const std::byte* p) noexcept {
  T v;
  std::memcpy(&v, p, sizeof v);
  return v;
}

/// Python's repr of a shape tuple: (), (3,), (3, 4).
inline std::string npy_shape_string(const std::vector<index_t>& shape) {
  std::ostringstream os;
  os << '(';
  for (std::size_t d = 0; d < shape.size(); ++d) os << (d ? ", " : "") << shape[d];
  if (shape.size() == 1) os << ',';
  os << ')';
  return os.str();
}

/// Number of elements of a shape, or an error on a negative extent or an overflow of index_t.
inline status npy_element_count(const std::vector<index_t>& shape, index_t& count) {
  index_t n = 1;
  for (index_t e : shape) {
    if (e < 0) return fail("shape ", npy_shape_string(shape), " has a negative extent");
    if (e != 0 && n > std::numeric_limits<index_t>::max() / e)
      return fail("shape ", npy_shape_string(shape), " has more elements than index_t can count");
    n *= e;
  }
  count = n;
  return {};
}

/// Byte size of `count` elements, or an error when it does not fit in size_t.
inline status npy_byte_count(index_t count, npy_dtype t, std::size_t& bytes) {
  const std::size_t item = npy_itemsize(t);
  if (static_cast<std::size_t>(count) > std::numeric_limits<std::size_t>::max() / item)
    return fail(count, " elements of ", npy_descr(t), " do not fit in memory");
  bytes = static_cast<std::size_t>(count) * item;
  return {};
}

/// The parsed header dict.
struct npy_header {
  npy_dtype dtype = npy_dtype::f4;
  bool fortran_order = false;
  std::vector<index_t> shape;
};

/// A strict little reader for the header's Python dict literal. It understands exactly what numpy
/// writes (and the harmless variations: any key order, either quote, optional spaces and trailing
/// commas); anything else is an error naming the offset.
class npy_header_parser {
 public:
  explicit npy_header_parser(std::string_view text) : s_(text) {}

  status parse(npy_header& out) {
    bool seen_descr = false, seen_order = false, seen_shape = false;
    std::string descr;
    skip_space();
    if (!eat('{')) return error("expected '{'");
    skip_space();
    while (!eat('}')) {
      std::string key;
      VTR_TRY(parse_string(key));
      skip_space();
      if (!eat(':')) return error("expected ':' after key '" + key + "'");
      skip_space();
      if (key == "descr") {
        if (seen_descr) return error("duplicate key 'descr'");
        seen_descr = true;
        VTR_TRY(parse_string(descr));
      } else if (key == "fortran_order") {
        if (seen_order) return error("duplicate key 'fortran_order'");
        seen_order = true;
        VTR_TRY(parse_bool(out.fortran_order));
      } else if (key == "shape") {
        if (seen_shape) return error("duplicate key 'shape'");
        seen_shape = true;
        VTR_TRY(parse_shape(out.shape));
      } else {
        return error("unknown key '" + key + "' (an NPY header holds 'descr', 'fortran_order' and 'shape')");
      }
      skip_space();
      if (eat(',')) {
        skip_space();
        continue;
      }
      if (peek() != '}') return error("expected ',' or '}'");
    }
    skip_space();
    if (pos_ != s_.size()) return error("unexpected text after the closing '}'");
    if (!seen_descr || !seen_order || !seen_shape)
      return fail("NPY header is missing key '", !seen_descr ? "descr" : !seen_order ? "fortran_order" : "shape",
                  "'");
    VTR_TRY(parse_descr(descr, out.dtype));
    if (out.fortran_order && out.shape.size() >= 2)
      return fail("NPY array of shape ", npy_shape_string(out.shape),
                  " is in Fortran (column-major) order, which is not supported; save it with "
                  "numpy.ascontiguousarray(a)");
    return {};
  }

 private:
  char peek() const noexcept { return pos_ < s_.size() ? s_[pos_] : '\0'; }
  bool eat(char c) noexcept {
    if (pos_ < s_.size() && s_[pos_] == c) {
      ++pos_;
      return true;
    }
    return false;
  }
  void skip_space() noexcept {
    while (pos_ < s_.size() && (s_[pos_] == ' ' || s_[pos_] == '\t' || s_[pos_] == '\n' || s_[pos_] == '\r'))
      ++pos_;
  }
  status error(const std::string& what) const {
    return fail("malformed NPY header at offset ", pos_, ": ", what);
  }

  status parse_string(std::string& out) {
    const char quote = peek();
    if (quote != '\'' && quote != '"') return error("expected a quoted string");
    ++pos_;
    const std::size_t begin = pos_;
    while (pos_ < s_.size() && s_[pos_] != quote) {
      // Escapes and non-ASCII never occur in a header numpy can read back; refuse them.
      const auto c = static_cast<unsigned char>(s_[pos_]);
      if (c == '\\' || c < 0x20 || c >= 0x7f) return error("unsupported character in a string");
      ++pos_;
    }
    if (pos_ >= s_.size()) return error("unterminated string");
    out.assign(s_.substr(begin, pos_ - begin));
    ++pos_;
    return {};
  }

  status parse_bool(bool& out) {
    if (s_.substr(pos_, 4) == "True") {
      pos_ += 4;
      out = true;
      return {};
    }
    if (s_.substr(pos_, 5) == "False") {
      pos_ += 5;
      out = false;
      return {};
    }
    return error("expected True or False");
  }

  status parse_int(index_t& out) {
    if (peek() == '-') return error("negative extent in 'shape'");
    if (peek() < '0' || peek() > '9') return error("expected a non-negative integer in 'shape'");
    index_t v = 0;
    while (peek() >= '0' && peek() <= '9') {
      const index_t digit = peek() - '0';
      if (v > (std::numeric_limits<index_t>::max() - digit) / 10) return error("extent in 'shape' is too large");
      v = v * 10 + digit;
      ++pos_;
    }
    out = v;
    return {};
  }

  status parse_shape(std::vector<index_t>& out) {
    out.clear();
    if (!eat('(')) return error("expected '(' to start 'shape'");
    skip_space();
    while (!eat(')')) {
      index_t e = 0;
      VTR_TRY(parse_int(e));
      out.push_back(e);
      skip_space();
      if (eat(',')) {
        skip_space();
        continue;
      }
      if (peek() != ')') return error("expected ',' or ')' in 'shape'");
    }
    return {};
  }

  static status parse_descr(const std::string& d, npy_dtype& out) {
    struct entry {
      const char* code;
      npy_dtype type;
    };
    static constexpr entry table[] = {{"f4", npy_dtype::f4}, {"f8", npy_dtype::f8}, {"f2", npy_dtype::f2},
                                      {"i8", npy_dtype::i8}, {"i4", npy_dtype::i4}, {"u1", npy_dtype::u1},
                                      {"b1", npy_dtype::b1}};
    if (d.size() == 3) {
      const char order = d[0];
      for (const entry& e : table) {
        if (d.compare(1, 2, e.code) != 0) continue;
        const bool one_byte = npy_itemsize(e.type) == 1;
        // Byte order is meaningless for one-byte elements; numpy writes '|' there.
        if (one_byte && (order == '|' || order == '<' || order == '>' || order == '=')) {
          out = e.type;
          return {};
        }
        if (order == '<') {
          out = e.type;
          return {};
        }
        if (order == '>')
          return fail("NPY dtype '", d, "' is big-endian, which is not supported; save it with a.astype('<",
                      e.code, "')");
      }
    }
    return fail("unsupported NPY dtype '", d, "' (supported: <f4, <f8, <f2, <i8, <i4, |u1, |b1)");
  }

  std::string_view s_;
  std::size_t pos_ = 0;
};

inline constexpr char npy_magic[] = "\x93NUMPY";
inline constexpr std::size_t npy_magic_size = 6;

/// Parses the preamble and header of an NPY image of `size` bytes; on success `data_offset` is where the
/// elements start and `data_bytes` how many bytes they take (both checked against `size`).
inline status npy_parse_preamble(const unsigned char* b, std::size_t size, npy_header& h, std::size_t& data_offset,
                                 std::size_t& data_bytes) {
  if (size < npy_magic_size || std::memcmp(b, npy_magic, npy_magic_size) != 0)
    return fail("not an NPY file (the first bytes are not \\x93NUMPY)");
  if (size < 10) return fail("NPY data is truncated inside its preamble (", size, " bytes)");
  const unsigned major = b[6], minor = b[7];
  std::size_t prefix = 0, header_len = 0;
  if (major == 1) {
    prefix = 10;
    header_len = std::size_t(b[8]) | std::size_t(b[9]) << 8;
  } else if (major == 2 || major == 3) {
    prefix = 12;
    if (size < prefix) return fail("NPY data is truncated inside its preamble (", size, " bytes)");
    header_len = std::size_t(b[8]) | std::size_t(b[9]) << 8 | std::size_t(b[10]) << 16 | std::size_t(b[11]) << 24;
  } else {
    return fail("unsupported NPY format version ", major, ".", minor, " (supported: 1.0, 2.0, 3.0)");
  }
  if (header_len > size - prefix)
    return fail("NPY header length ", header_len, " runs past the end of the data (", size - prefix,
                " bytes after the preamble)");
  const std::string_view text(reinterpret_cast<const char*>(b + prefix), header_len);
  VTR_TRY(npy_header_parser(text).parse(h));
  index_t count = 0;
  VTR_TRY(npy_element_count(h.shape, count));
  VTR_TRY(npy_byte_count(count, h.dtype, data_bytes));
  data_offset = prefix + header_len;
  const std::size_t available = size - data_offset;
  if (available < data_bytes)
    return fail("NPY data is shorter than its shape: ", npy_shape_string(h.shape), " of ", npy_descr(h.dtype),
                " needs ", data_bytes, " bytes, ", available, " present");
  if (available > data_bytes)
    return fail("NPY data has ", available - data_bytes, " unexpected bytes after the ", data_bytes,
                " bytes of its shape ", npy_shape_string(h.shape));
  return {};
}

}  // namespace detail

/// An owned n-dimensional array as stored in an NPY file: C order, elements as raw little-endian bytes.
struct npy_array {
  npy_dtype dtype = npy_dtype::f4;
  std::vector<index_t> shape;   ///< empty for a 0-d (scalar) array
  std::vector<std::byte> data;  ///< size() · npy_itemsize(dtype) bytes

  std::size_t rank() const noexcept { return shape.size(); }

  /// Number of elements (1 for a 0-d array, 0 if any extent is 0). Assumes a valid shape.
  index_t size() const noexcept {
    index_t n = 1;
    for (index_t e : shape) n *= e;
    return n;
  }

  /// The shape as numpy prints it: (), (3,), (3, 4).
  std::string shape_string() const { return detail::npy_shape_string(shape); }

  /// Checks that shape and data agree (an array built by hand may not).
  status check() const {
    index_t count = 0;
    VTR_TRY(detail::npy_element_count(shape, count));
    std::size_t bytes = 0;
    VTR_TRY(detail::npy_byte_count(count, dtype, bytes));
    if (data.size() != bytes)
      return fail("NPY array of shape ", shape_string(), " and dtype ", npy_descr(dtype), " needs ", bytes,
                  " bytes of data but holds ", data.size());
    return {};
  }

  // ---- typed copies ----

  /// All elements as float, in C order. Every dtype converts (int64 values beyond 2^24 round).
  result<std::vector<float>> try_to_float() const {
    VTR_TRY(check());
    std::vector<float> out(static_cast<std::size_t>(size()));
    for (std::size_t i = 0; i < out.size(); ++i) out[i] = static_cast<float>(element_as_double(i));
    return result<std::vector<float>>(std::move(out));
  }
  std::vector<float> to_float() const { return try_to_float().value(); }

  /// All elements as double, in C order. Every dtype converts (int64 values beyond 2^53 round).
  result<std::vector<double>> try_to_double() const {
    VTR_TRY(check());
    std::vector<double> out(static_cast<std::size_t>(size()));
    for (std::size_t i = 0; i < out.size(); ++i) out[i] = element_as_double(i);
    return result<std::vector<double>>(std::move(out));
  }
  std::vector<double> to_double() const { return try_to_double().value(); }

  /// All elements as int64, in C order. Integer and bool dtypes only (bool: nonzero → 1); a float
  /// array is an error rather than a silent truncation.
  result<std::vector<std::int64_t>> try_to_int64() const {
    VTR_TRY(check());
    if (npy_is_float(dtype))
      return fail("NPY array of dtype ", npy_descr(dtype), " holds floats, expected an integer dtype");
    std::vector<std::int64_t> out(static_cast<std::size_t>(size()));
    const std::byte* p = data.data();
    for (std::size_t i = 0; i < out.size(); ++i) {
      switch (dtype) {
        case npy_dtype::i8: out[i] = detail::npy_load<std::int64_t>(p + 8 * i); break;
        case npy_dtype::i4: out[i] = detail::npy_load<std::int32_t>(p + 4 * i); break;
        case npy_dtype::u1: out[i] = detail::npy_load<std::uint8_t>(p + i); break;
        default: out[i] = detail::npy_load<std::uint8_t>(p + i) != 0; break;  // b1
      }
    }
    return result<std::vector<std::int64_t>>(std::move(out));
  }
  std::vector<std::int64_t> to_int64() const { return try_to_int64().value(); }

  // ---- views over the stored elements (no copy) ----

  /// A rank-R view of the elements; T's type must match the dtype exactly (const float ↔ <f4, …) and R
  /// the rank. A 0-d array has no rank-R view (use as_flat()).
  template <class T, std::size_t R>
  result<tensor_view<T, R>> try_as_view() const {
    static_assert(std::is_const_v<T>, "a view of a const npy_array has a const element type: as_view<const T, R>");
    std::array<index_t, R> ext{};
    VTR_TRY(check_view<T>(R));
    for (std::size_t d = 0; d < R; ++d) ext[d] = shape[d];
    return tensor_view<T, R>(reinterpret_cast<T*>(data.data()), ext);
  }
  template <class T, std::size_t R>
  result<tensor_view<T, R>> try_as_view() {
    std::array<index_t, R> ext{};
    VTR_TRY(check_view<T>(R));
    for (std::size_t d = 0; d < R; ++d) ext[d] = shape[d];
    return tensor_view<T, R>(reinterpret_cast<T*>(data.data()), ext);
  }
  template <class T, std::size_t R>
  tensor_view<T, R> as_view() const {
    return try_as_view<T, R>().value();
  }
  template <class T, std::size_t R>
  tensor_view<T, R> as_view() {
    return try_as_view<T, R>().value();
  }

  /// All elements as one rank-1 view (any rank, 0-d included); the dtype must match T.
  template <class T>
  vector_view<T> as_flat() const {
    static_assert(std::is_const_v<T>, "a view of a const npy_array has a const element type: as_flat<const T>");
    raise_if_error(check_view<T>(rank()));
    return vector_view<T>(reinterpret_cast<T*>(data.data()), {size()});
  }

  // ---- building ----

  /// An array holding a copy of `shape`'s product of elements from `src`.
  template <class T>
  static result<npy_array> try_from(const T* src, std::vector<index_t> shape) {
    npy_array a;
    a.dtype = npy_dtype_of_v<T>;
    a.shape = std::move(shape);
    index_t count = 0;
    VTR_TRY(detail::npy_element_count(a.shape, count));
    std::size_t bytes = 0;
    VTR_TRY(detail::npy_byte_count(count, a.dtype, bytes));
    if (bytes != 0 && src == nullptr) return fail("NPY source pointer is null for shape ", a.shape_string());
    a.data.resize(bytes);
    if (bytes) std::memcpy(a.data.data(), src, bytes);
    return result<npy_array>(std::move(a));
  }
  template <class T>
  static npy_array from(const T* src, std::vector<index_t> shape) {
    return try_from(src, std::move(shape)).value();
  }
  /// A 1-D array holding a copy of `v`.
  template <class T>
  static npy_array from(const std::vector<T>& v) {
    return from(v.data(), {static_cast<index_t>(v.size())});
  }

 private:
  double element_as_double(std::size_t i) const noexcept {
    const std::byte* p = data.data();
    switch (dtype) {
      case npy_dtype::f4: return detail::npy_load<float>(p + 4 * i);
      case npy_dtype::f8: return detail::npy_load<double>(p + 8 * i);
      case npy_dtype::f2: return detail::npy_half_to_float(detail::npy_load<std::uint16_t>(p + 2 * i));
      case npy_dtype::i8: return static_cast<double>(detail::npy_load<std::int64_t>(p + 8 * i));
      case npy_dtype::i4: return detail::npy_load<std::int32_t>(p + 4 * i);
      case npy_dtype::u1: return detail::npy_load<std::uint8_t>(p + i);
      case npy_dtype::b1: return detail::npy_load<std::uint8_t>(p + i) != 0 ? 1.0 : 0.0;
    }
    return 0.0;
  }

  template <class T>
  status check_view(std::size_t want_rank) const {
    using U = std::remove_cv_t<T>;
    static_assert(std::is_same_v<U, float> || std::is_same_v<U, double> || std::is_same_v<U, std::int64_t> ||
                      std::is_same_v<U, std::int32_t> || std::is_same_v<U, std::uint8_t> ||
                      std::is_same_v<U, bool> || std::is_same_v<U, std::uint16_t>,
                  "npy_array views hold float, double, int64_t, int32_t, uint8_t, bool or uint16_t (raw <f2)");
    VTR_TRY(check());
    const npy_dtype want = npy_dtype_of_v_or_f2<U>();
    if (dtype != want)
      return fail("NPY array has dtype ", npy_descr(dtype), ", the view asks for ", npy_descr(want),
                  " (use to_float()/to_int64() to convert)");
    if (rank() != want_rank)
      return fail("NPY array has shape ", shape_string(), " (rank ", rank(), "), the view asks for rank ", want_rank);
    if (reinterpret_cast<std::uintptr_t>(data.data()) % alignof(U) != 0)
      return fail("NPY array storage is not aligned for ", npy_descr(dtype));
    return {};
  }
  template <class U>
  static constexpr npy_dtype npy_dtype_of_v_or_f2() noexcept {
    if constexpr (std::is_same_v<U, std::uint16_t>)
      return npy_dtype::f2;
    else
      return npy_dtype_of_v<U>;
  }
};

// ---- reading ----

/// Parses an NPY image held in memory (e.g. a fuzzer's input or a file read by the caller).
inline result<npy_array> try_parse_npy(const void* bytes, std::size_t size) {
  if (bytes == nullptr && size != 0) return fail("NPY data pointer is null");
  detail::npy_header h;
  std::size_t offset = 0, nbytes = 0;
  const auto* b = static_cast<const unsigned char*>(bytes);
  VTR_TRY(detail::npy_parse_preamble(b ? b : reinterpret_cast<const unsigned char*>(""), size, h, offset,
                                            nbytes));
  npy_array a;
  a.dtype = h.dtype;
  a.shape = std::move(h.shape);
  a.data.resize(nbytes);
  if (nbytes) std::memcpy(a.data.data(), b + offset, nbytes);
  return result<npy_array>(std::move(a));
}
inline npy_array parse_npy(const void* bytes, std::size_t size) { return try_parse_npy(bytes, size).value(); }
inline result<npy_array> try_parse_npy(const std::vector<std::byte>& bytes) {
  return try_parse_npy(bytes.data(), bytes.size());
}
inline npy_array parse_npy(const std::vector<std::byte>& bytes) { return try_parse_npy(bytes).value(); }

/// Reads an NPY file. Errors name the path.
inline result<npy_array> try_read_npy(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary | std::ios::ate);
  if (!in) return fail("cannot open NPY file '", path.string(), "'");
  const std::streamoff end = in.tellg();
  if (end < 0) return fail("cannot determine the size of NPY file '", path.string(), "'");
  std::vector<std::byte> buf(static_cast<std::size_t>(end));
  in.seekg(0);
  if (!buf.empty() && !in.read(reinterpret_cast<char*>(buf.data()), static_cast<std::streamsize>(buf.size())))
    return fail("cannot read NPY file '", path.string(), "'");
  // Parse in place: the elements are moved to the front of the buffer instead of copied out of it.
  detail::npy_header h;
  std::size_t offset = 0, nbytes = 0;
  const status st = detail::npy_parse_preamble(reinterpret_cast<const unsigned char*>(buf.data()), buf.size(), h,
                                               offset, nbytes);
  if (!st) return fail("NPY file '", path.string(), "': ", st.message());
  buf.erase(buf.begin(), buf.begin() + static_cast<std::ptrdiff_t>(offset));
  buf.resize(nbytes);
  npy_array a;
  a.dtype = h.dtype;
  a.shape = std::move(h.shape);
  a.data = std::move(buf);
  return result<npy_array>(std::move(a));
}
inline npy_array read_npy(const std::filesystem::path& path) { return try_read_npy(path).value(); }

// ---- writing ----

/// The NPY image of an array: format 1.0 (2.0 when the header outgrows 64 KiB), header padded so the
/// elements start on a 64-byte boundary, as numpy does.
inline result<std::vector<std::byte>> try_serialize_npy(const npy_array& a) {
  VTR_TRY(a.check());
  std::string dict = std::string("{'descr': '") + npy_descr(a.dtype) +
                     "', 'fortran_order': False, 'shape': " + a.shape_string() + ", }";
  const auto padded = [&](std::size_t prefix) {
    const std::size_t unpadded = prefix + dict.size() + 1;  // + '\n'
    return dict.size() + 1 + (64 - unpadded % 64) % 64;
  };
  std::size_t prefix = 10;
  std::size_t header_len = padded(prefix);
  if (header_len > 0xffff) {
    prefix = 12;
    header_len = padded(prefix);
  }
  std::vector<std::byte> out(prefix + header_len + a.data.size());
  auto* o = reinterpret_cast<unsigned char*>(out.data());
  std::memcpy(o, detail::npy_magic, detail::npy_magic_size);
  o[6] = prefix == 10 ? 1 : 2;
  o[7] = 0;
  for (std::size_t i = 0; i + 8 < prefix; ++i) o[8 + i] = static_cast<unsigned char>((header_len >> (8 * i)) & 0xffu);
  std::memset(o + prefix, ' ', header_len);
  std::memcpy(o + prefix, dict.data(), dict.size());
  o[prefix + header_len - 1] = '\n';
  if (!a.data.empty()) std::memcpy(o + prefix + header_len, a.data.data(), a.data.size());
  return result<std::vector<std::byte>>(std::move(out));
}
inline std::vector<std::byte> serialize_npy(const npy_array& a) { return try_serialize_npy(a).value(); }

/// Writes an array to an NPY file (replacing it).
inline status try_write_npy(const std::filesystem::path& path, const npy_array& a) {
  auto bytes = try_serialize_npy(a);
  if (!bytes) return bytes.error();
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  if (!out) return fail("cannot create NPY file '", path.string(), "'");
  const auto& b = bytes.value();
  out.write(reinterpret_cast<const char*>(b.data()), static_cast<std::streamsize>(b.size()));
  out.close();
  if (!out) return fail("cannot write NPY file '", path.string(), "'");
  return {};
}
inline void write_npy(const std::filesystem::path& path, const npy_array& a) { raise_if_error(try_write_npy(path, a)); }

/// Writes `shape`'s product of elements from `data` (float, double, int64, int32, uint8 or bool).
template <class T>
status try_write_npy(const std::filesystem::path& path, const T* data, std::vector<index_t> shape) {
  auto a = npy_array::try_from(data, std::move(shape));
  if (!a) return a.error();
  return try_write_npy(path, a.value());
}
template <class T>
void write_npy(const std::filesystem::path& path, const T* data, std::vector<index_t> shape) {
  raise_if_error(try_write_npy(path, data, std::move(shape)));
}

VTR_NAMESPACE_END
