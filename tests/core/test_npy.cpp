// NPY read/write (include/vtr/io/npy.hpp): round trips, every dtype, 0-d and empty arrays, every
// malformed-input error, and the real golden files.
#include "catch.hpp"

#include <vtr/io/npy.hpp>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <limits>
#include <random>
#include <string>
#include <vector>

namespace {

namespace fs = std::filesystem;
using vtr::index_t;
using vtr::npy_array;
using vtr::npy_dtype;

// A scratch directory unique to this process, removed at exit.
struct scratch_dir {
  fs::path path;
  scratch_dir() {
    std::random_device rd;
    path = fs::temp_directory_path() / ("vtr_test_npy_" + std::to_string(rd()) + std::to_string(rd()));
    fs::create_directories(path);
  }
  ~scratch_dir() {
    std::error_code ec;
    fs::remove_all(path, ec);
  }
};
const fs::path& scratch() {
  static scratch_dir d;
  return d.path;
}

// Builds an NPY image by hand from a header dict text and raw data bytes (format 1.0 unless told).
std::vector<std::byte> make_image(const std::string& dict, const std::string& payload, int major = 1,
                                  bool pad = true) {
  std::string header = dict;
  const std::size_t prefix = major == 1 ? 10 : 12;
  if (pad) {
    while ((prefix + header.size() + 1) % 64 != 0) header += ' ';
    header += '\n';
  }
  std::string img = "\x93NUMPY";
  img += static_cast<char>(major);
  img += '\0';
  const std::size_t n = header.size();
  img += static_cast<char>(n & 0xff);
  img += static_cast<char>((n >> 8) & 0xff);
  if (major != 1) {
    img += static_cast<char>((n >> 16) & 0xff);
    img += static_cast<char>((n >> 24) & 0xff);
  }
  img += header;
  img += payload;
  std::vector<std::byte> out(img.size());
  std::memcpy(out.data(), img.data(), img.size());
  return out;
}

std::string bytes_of(const void* p, std::size_t n) { return std::string(static_cast<const char*>(p), n); }

std::string dict_for(const std::string& descr, const std::string& shape, const std::string& order = "False") {
  return "{'descr': '" + descr + "', 'fortran_order': " + order + ", 'shape': " + shape + ", }";
}

// The error message of a parse that must fail.
std::string parse_error(const std::vector<std::byte>& img) {
  auto r = vtr::try_parse_npy(img);
  REQUIRE_FALSE(r.ok());
  return r.error().message();
}

bool contains(const std::string& haystack, const std::string& needle) {
  return haystack.find(needle) != std::string::npos;
}

}  // namespace

TEST_CASE("npy: float32 round trip through a file keeps shape, dtype and bits", "[npy]") {
  std::vector<float> v(3 * 4);
  for (std::size_t i = 0; i < v.size(); ++i) v[i] = static_cast<float>(i) * 0.25f - 1.0f;
  v[5] = std::numeric_limits<float>::quiet_NaN();
  v[6] = -std::numeric_limits<float>::infinity();
  const fs::path p = scratch() / "f4.npy";
  vtr::write_npy(p, v.data(), {3, 4});
  const npy_array a = vtr::read_npy(p);
  CHECK(a.dtype == npy_dtype::f4);
  CHECK(a.shape == std::vector<index_t>{3, 4});
  CHECK(a.size() == 12);
  const auto back = a.to_float();
  REQUIRE(back.size() == v.size());
  CHECK(std::memcmp(back.data(), v.data(), v.size() * sizeof(float)) == 0);
  const auto view = a.as_view<const float, 2>();
  CHECK(view.extent(0) == 3);
  CHECK(view.extent(1) == 4);
  CHECK(view(2, 3) == v[11]);
}

TEST_CASE("npy: the written header is what numpy writes", "[npy]") {
  const std::vector<std::int64_t> v{7, -1, 3};
  const auto img = vtr::serialize_npy(npy_array::from(v));
  const std::string s = bytes_of(img.data(), img.size());
  CHECK(s.substr(0, 8) == std::string("\x93NUMPY\x01\x00", 8));
  const std::size_t header_len = static_cast<unsigned char>(s[8]) | static_cast<unsigned char>(s[9]) << 8;
  CHECK((10 + header_len) % 64 == 0);  // elements start 64-byte aligned
  const std::string dict = "{'descr': '<i8', 'fortran_order': False, 'shape': (3,), }";
  CHECK(s.substr(10, dict.size()) == dict);
  CHECK(s.find_first_not_of(' ', 10 + dict.size()) == 10 + header_len - 1);  // space padding
  CHECK(s[10 + header_len - 1] == '\n');
  CHECK(img.size() == 10 + header_len + 3 * 8);
}

TEST_CASE("npy: every dtype round trips and converts", "[npy]") {
  SECTION("float64") {
    const std::vector<double> v{1.5, -2.25, 1e300};
    const auto a = vtr::parse_npy(vtr::serialize_npy(npy_array::from(v)));
    CHECK(a.dtype == npy_dtype::f8);
    CHECK(a.to_double() == v);
    CHECK(a.to_float()[1] == -2.25f);
    CHECK(a.as_view<const double, 1>()(2) == 1e300);
    CHECK_FALSE(a.try_to_int64().ok());
  }
  SECTION("int64") {
    const std::vector<std::int64_t> v{0, -5, std::numeric_limits<std::int64_t>::max()};
    const auto a = vtr::parse_npy(vtr::serialize_npy(npy_array::from(v)));
    CHECK(a.dtype == npy_dtype::i8);
    CHECK(a.to_int64() == v);
    CHECK(a.to_double()[1] == -5.0);
  }
  SECTION("int32") {
    const std::vector<std::int32_t> v{1, -2, 2147483647};
    const auto a = vtr::parse_npy(vtr::serialize_npy(npy_array::from(v.data(), {3})));
    CHECK(a.dtype == npy_dtype::i4);
    CHECK(a.to_int64() == std::vector<std::int64_t>{1, -2, 2147483647});
    CHECK(a.as_view<const std::int32_t, 1>()(1) == -2);
  }
  SECTION("uint8") {
    const std::vector<std::uint8_t> v{0, 1, 255, 7};
    const fs::path p = scratch() / "u1.npy";
    vtr::write_npy(p, v.data(), {2, 2});
    const auto a = vtr::read_npy(p);
    CHECK(a.dtype == npy_dtype::u1);
    CHECK(a.shape == std::vector<index_t>{2, 2});
    CHECK(a.to_int64() == std::vector<std::int64_t>{0, 1, 255, 7});
    CHECK(a.to_float()[2] == 255.0f);
    CHECK(a.as_view<const std::uint8_t, 2>()(1, 0) == 255);
  }
  SECTION("bool: nonzero bytes read as 1") {
    const auto a = vtr::parse_npy(make_image(dict_for("|b1", "(3,)"), std::string("\x00\x01\x02", 3)));
    CHECK(a.dtype == npy_dtype::b1);
    CHECK(a.to_int64() == std::vector<std::int64_t>{0, 1, 1});
    CHECK(a.to_float() == std::vector<float>{0.0f, 1.0f, 1.0f});
    // std::vector<bool> has no data(); bools are written from a plain array.
    const bool flags[2] = {true, false};
    const auto b = vtr::parse_npy(vtr::serialize_npy(npy_array::from(flags, {2})));
    CHECK(b.dtype == npy_dtype::b1);
    CHECK(b.to_int64() == std::vector<std::int64_t>{1, 0});
  }
  SECTION("float16 is kept raw and converts exactly") {
    // 1.0, -2.0, +inf, smallest subnormal 2^-24, 65504 (max), -0.0, 0.333251953125
    const std::uint16_t h[] = {0x3c00, 0xc000, 0x7c00, 0x0001, 0x7bff, 0x8000, 0x3555};
    const auto a = vtr::parse_npy(make_image(dict_for("<f2", "(7,)"), bytes_of(h, sizeof h)));
    CHECK(a.dtype == npy_dtype::f2);
    CHECK(a.data.size() == sizeof h);
    const auto f = a.to_float();
    CHECK(f[0] == 1.0f);
    CHECK(f[1] == -2.0f);
    CHECK(std::isinf(f[2]));
    CHECK(f[3] == std::ldexp(1.0f, -24));
    CHECK(f[4] == 65504.0f);
    CHECK(f[5] == 0.0f);
    CHECK(std::signbit(f[5]));
    CHECK(f[6] == 0.333251953125f);
    CHECK(a.as_view<const std::uint16_t, 1>()(0) == 0x3c00);
    const std::uint16_t nan_bits = 0x7e00;
    CHECK(std::isnan(vtr::parse_npy(make_image(dict_for("<f2", "()"), bytes_of(&nan_bits, 2))).to_float()[0]));
  }
}

TEST_CASE("npy: 0-d and empty arrays", "[npy]") {
  SECTION("0-d scalar") {
    const float x = 3.5f;
    const auto img = vtr::serialize_npy(npy_array::from(&x, {}));
    CHECK(contains(bytes_of(img.data(), img.size()), "'shape': (), }"));
    const auto a = vtr::parse_npy(img);
    CHECK(a.rank() == 0);
    CHECK(a.size() == 1);
    CHECK(a.to_float() == std::vector<float>{3.5f});
    CHECK(a.as_flat<const float>()(0) == 3.5f);
    auto v = a.try_as_view<const float, 1>();
    REQUIRE_FALSE(v.ok());
    CHECK(contains(v.error().message(), "rank 0"));
  }
  SECTION("shape (0,)") {
    const std::vector<std::int64_t> none;
    const fs::path p = scratch() / "empty.npy";
    vtr::write_npy(p, none.data(), {0});
    const auto a = vtr::read_npy(p);
    CHECK(a.dtype == npy_dtype::i8);
    CHECK(a.shape == std::vector<index_t>{0});
    CHECK(a.size() == 0);
    CHECK(a.data.empty());
    CHECK(a.to_int64().empty());
    CHECK(a.as_view<const std::int64_t, 1>().extent(0) == 0);
  }
  SECTION("shape (2, 0, 3)") {
    const auto a = vtr::parse_npy(make_image(dict_for("<f4", "(2, 0, 3)"), ""));
    CHECK(a.shape == std::vector<index_t>{2, 0, 3});
    CHECK(a.size() == 0);
    const auto v = a.as_view<const float, 3>();
    CHECK(v.extent(2) == 3);
    CHECK(v.empty());
  }
}

TEST_CASE("npy: header variations numpy can produce or read are accepted", "[npy]") {
  const float vals[2] = {1.0f, 2.0f};
  const std::string payload = bytes_of(vals, sizeof vals);
  SECTION("format 2.0 and 3.0") {
    for (int major : {2, 3}) {
      const auto a = vtr::parse_npy(make_image(dict_for("<f4", "(2,)"), payload, major));
      CHECK(a.to_float() == std::vector<float>{1.0f, 2.0f});
    }
  }
  SECTION("other key order, double quotes, no trailing comma, no padding") {
    const auto a = vtr::parse_npy(
        make_image("{\"shape\": (1,2), \"descr\": \"<f4\", \"fortran_order\": False}", payload, 1, false));
    CHECK(a.shape == std::vector<index_t>{1, 2});
  }
  SECTION("a 1-D array flagged fortran_order has the C layout") {
    const auto a = vtr::parse_npy(make_image(dict_for("<f4", "(2,)", "True"), payload));
    CHECK(a.size() == 2);
  }
  SECTION("one-byte dtypes with any byte-order mark") {
    for (const char* d : {"|u1", "<u1", ">u1", "|b1"}) {
      const auto a = vtr::parse_npy(make_image(dict_for(d, "(2,)"), std::string("\x01\x02", 2)));
      CHECK(a.size() == 2);
    }
  }
  SECTION("a header longer than 64 KiB is written as format 2.0") {
    // No shape is that long in practice; force it with a rank-25000 shape of ones ("1, " each).
    std::vector<index_t> shape(25000, 1);
    const float one = 1.0f;
    const auto img = vtr::serialize_npy(npy_array::from(&one, shape));
    CHECK(static_cast<unsigned char>(img[6]) == 2);
    const auto a = vtr::parse_npy(img);
    CHECK(a.rank() == 25000);
    CHECK(a.to_float() == std::vector<float>{1.0f});
  }
}

TEST_CASE("npy: views check dtype and rank", "[npy]") {
  const std::vector<float> v{1, 2, 3, 4, 5, 6};
  const auto a = npy_array::from(v.data(), {2, 3});
  auto wrong_type = a.try_as_view<const std::int64_t, 2>();
  REQUIRE_FALSE(wrong_type.ok());
  CHECK(contains(wrong_type.error().message(), "dtype <f4"));
  CHECK(contains(wrong_type.error().message(), "<i8"));
  auto wrong_rank = a.try_as_view<const float, 3>();
  REQUIRE_FALSE(wrong_rank.ok());
  CHECK(contains(wrong_rank.error().message(), "(2, 3)"));
  CHECK_THROWS_AS((a.as_view<const float, 1>()), vtr::invalid_input);
  npy_array m = a;
  auto mv = m.as_view<float, 2>();
  mv(1, 2) = 60.0f;
  CHECK(m.to_float()[5] == 60.0f);
  // An array whose data does not match its shape is refused rather than read past its end.
  npy_array broken = a;
  broken.data.resize(8);
  CHECK_FALSE(broken.try_as_view<const float, 2>().ok());
  CHECK_FALSE(broken.try_to_float().ok());
  CHECK_FALSE(vtr::try_serialize_npy(broken).ok());
  npy_array negative = a;
  negative.shape = {-2, -3};
  CHECK(contains(negative.check().message(), "negative"));
}

TEST_CASE("npy: malformed input is an error, never a bad read", "[npy]") {
  const float vals[6] = {1, 2, 3, 4, 5, 6};
  const std::string payload = bytes_of(vals, sizeof vals);
  const auto good = make_image(dict_for("<f4", "(2, 3)"), payload);
  REQUIRE(vtr::try_parse_npy(good).ok());

  SECTION("too short / empty / not NPY") {
    CHECK(contains(parse_error({}), "not an NPY file"));
    CHECK(contains(parse_error(std::vector<std::byte>(good.begin(), good.begin() + 4)), "not an NPY file"));
    CHECK(contains(parse_error(std::vector<std::byte>(good.begin(), good.begin() + 8)), "truncated"));
    auto bad = good;
    bad[1] = std::byte{'M'};
    CHECK(contains(parse_error(bad), "not an NPY file"));
    CHECK_FALSE(vtr::try_parse_npy(nullptr, 10).ok());
    CHECK_FALSE(vtr::try_parse_npy(nullptr, 0).ok());
  }
  SECTION("unsupported version") {
    auto bad = good;
    bad[6] = std::byte{4};
    CHECK(contains(parse_error(bad), "version 4.0"));
    bad[6] = std::byte{0};
    CHECK(contains(parse_error(bad), "version 0.0"));
  }
  SECTION("header length beyond the file") {
    auto bad = good;
    bad[8] = std::byte{0xff};
    bad[9] = std::byte{0xff};
    CHECK(contains(parse_error(bad), "header length 65535 runs past the end"));
    auto v2 = make_image(dict_for("<f4", "(2, 3)"), payload, 2);
    v2[11] = std::byte{0x80};  // 2 GiB header in a tiny file
    CHECK(contains(parse_error(v2), "runs past the end"));
    CHECK(contains(parse_error(std::vector<std::byte>(v2.begin(), v2.begin() + 11)), "truncated"));
  }
  SECTION("bad dict") {
    const std::pair<std::string, std::string> cases[] = {
        {"", "expected '{'"},
        {"[1, 2]", "expected '{'"},
        {"{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), ", "expected a quoted string"},
        {"{'descr' '<f4'}", "expected ':'"},
        {"{'descr': '<f4' 'shape': (2, 3)}", "expected ',' or '}'"},
        {"{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), 'extra': 1}", "unknown key 'extra'"},
        {"{'descr': '<f4', 'descr': '<f4', 'fortran_order': False, 'shape': (2, 3)}", "duplicate key 'descr'"},
        {"{'descr': '<f4', 'shape': (2, 3)}", "missing key 'fortran_order'"},
        {"{'fortran_order': False, 'shape': (2, 3)}", "missing key 'descr'"},
        {"{'descr': '<f4', 'fortran_order': False}", "missing key 'shape'"},
        {"{'descr': '<f4', 'fortran_order': false, 'shape': (2, 3)}", "expected True or False"},
        {"{'descr': '<f4', 'fortran_order': False, 'shape': (2, -3)}", "negative extent"},
        {"{'descr': '<f4', 'fortran_order': False, 'shape': (2, x)}", "non-negative integer"},
        {"{'descr': '<f4', 'fortran_order': False, 'shape': (2 3)}", "expected ',' or ')'"},
        {"{'descr': '<f4', 'fortran_order': False, 'shape': [2, 3]}", "expected '('"},
        {"{'descr': '<f4, 'fortran_order': False, 'shape': (2, 3)}", "expected ',' or '}'"},
        {"{'descr': '<f4", "unsupported character"},  // runs into the padding's newline
        {"{'descr': '<\\f4', 'fortran_order': False, 'shape': (2, 3)}", "unsupported character"},
        {"{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3)} x", "after the closing"},
        {"{'descr': '<f4', 'fortran_order': False, 'shape': (99999999999999999999,)}", "too large"},
    };
    for (const auto& [dict, expect] : cases) {
      INFO("header: " << dict);
      const std::string msg = parse_error(make_image(dict, payload));
      CHECK(contains(msg, expect));
      CHECK(contains(msg, "malformed NPY header") == (expect.rfind("missing", 0) != 0));
    }
    CHECK(contains(parse_error(make_image("{'descr': '<f4", "", 1, false)), "unterminated string"));
  }
  SECTION("unsupported or big-endian dtype, Fortran order") {
    CHECK(contains(parse_error(make_image(dict_for(">f4", "(2, 3)"), payload)), "big-endian"));
    CHECK(contains(parse_error(make_image(dict_for(">i8", "(3,)"), payload)), "astype('<i8')"));
    CHECK(contains(parse_error(make_image(dict_for("<c8", "(3,)"), payload)), "unsupported NPY dtype '<c8'"));
    CHECK(contains(parse_error(make_image(dict_for("<U3", "(2,)"), payload)), "unsupported NPY dtype"));
    CHECK(contains(parse_error(make_image(dict_for("|f4", "(2, 3)"), payload)), "unsupported NPY dtype"));
    CHECK(contains(parse_error(make_image(dict_for("f4", "(2, 3)"), payload)), "unsupported NPY dtype"));
    CHECK(contains(parse_error(make_image(dict_for("<f4", "(2, 3)", "True"), payload)), "Fortran"));
  }
  SECTION("shape product overflow") {
    const std::string big = std::to_string(std::numeric_limits<index_t>::max());
    CHECK(contains(parse_error(make_image(dict_for("<f4", "(" + big + ", 2)"), payload)), "more elements"));
    CHECK(contains(parse_error(make_image(dict_for("<f4", "(4294967296, 4294967296)"), payload)),
                   "more elements"));
    // The count fits in index_t but the bytes do not fit in size_t.
    CHECK(contains(parse_error(make_image(dict_for("<f8", "(" + big + ",)"), payload)), "do not fit"));
    // A zero extent makes the product 0 even beside a huge one.
    CHECK(vtr::try_parse_npy(make_image(dict_for("<f4", "(0, " + big + ")"), "")).ok());
  }
  SECTION("data shorter or longer than the shape") {
    CHECK(contains(parse_error(make_image(dict_for("<f4", "(2, 4)"), payload)),
                   "shorter than its shape: (2, 4) of <f4 needs 32 bytes, 24 present"));
    CHECK(contains(parse_error(make_image(dict_for("<f4", "(2, 3)"), payload.substr(0, 23))), "shorter"));
    CHECK(contains(parse_error(make_image(dict_for("<f4", "(2, 2)"), payload)), "8 unexpected bytes"));
  }
  SECTION("every truncation of a valid image fails cleanly") {
    for (std::size_t n = 0; n < good.size(); ++n)
      CHECK_FALSE(vtr::try_parse_npy(good.data(), n).ok());
  }
  SECTION("random byte corruption never crashes") {
    std::mt19937 rng(1234);
    int parsed = 0;
    for (int trial = 0; trial < 3000; ++trial) {
      auto img = good;
      const int flips = 1 + static_cast<int>(rng() % 4);
      for (int f = 0; f < flips; ++f) img[rng() % img.size()] = static_cast<std::byte>(rng() & 0xff);
      auto r = vtr::try_parse_npy(img);
      if (r.ok()) {
        ++parsed;
        CHECK(r.value().check().ok());
      } else {
        CHECK_FALSE(r.error().message().empty());
      }
    }
    CHECK(parsed > 0);  // flips inside the data or padding leave a valid file
  }
  SECTION("file errors name the path") {
    auto r = vtr::try_read_npy(scratch() / "does_not_exist.npy");
    REQUIRE_FALSE(r.ok());
    CHECK(contains(r.error().message(), "does_not_exist.npy"));
    const fs::path p = scratch() / "short.npy";
    {
      std::ofstream out(p, std::ios::binary);
      out.write(reinterpret_cast<const char*>(good.data()), 70);
    }
    auto s = vtr::try_read_npy(p);
    REQUIRE_FALSE(s.ok());
    CHECK(contains(s.error().message(), "short.npy"));
    CHECK_THROWS_AS(vtr::read_npy(p), vtr::invalid_input);
    CHECK_FALSE(vtr::try_write_npy(scratch() / "no_such_dir" / "x.npy", vals, {6}).ok());
  }
}

TEST_CASE("npy: reads the real golden files", "[npy][golden]") {
  const fs::path root = VTR_GOLDEN_DIR;
  SECTION("int64 labels") {
    const auto a = vtr::read_npy(root / "prunevid.refine" / "no_change" / "in_labels.npy");
    CHECK(a.dtype == npy_dtype::i8);
    CHECK(a.to_int64() == std::vector<std::int64_t>{0, 0, 1, 1, 0, 0, 2, 2});
  }
  SECTION("float32 matrix and the index lists derived from it") {
    const fs::path dir = root / "fastv.select" / "round_half_even";
    const auto attn = vtr::read_npy(dir / "in_attn_last.npy");
    CHECK(attn.dtype == npy_dtype::f4);
    CHECK(attn.shape == std::vector<index_t>{4, 10});
    const auto v = attn.as_view<const float, 2>();
    for (index_t h = 0; h < 4; ++h)
      for (index_t j = 0; j < 10; ++j) CHECK(std::isfinite(v(h, j)));
    CHECK(vtr::read_npy(dir / "out_kept_image_rel.npy").to_int64() == std::vector<std::int64_t>{1, 2});
    CHECK(vtr::read_npy(dir / "out_keep_idx.npy").to_int64() == std::vector<std::int64_t>{0, 1, 2, 4, 5, 8, 9});
  }
  SECTION("uint8 mask") {
    const auto a = vtr::read_npy(root / "prunevid.stage1" / "identical_frames" / "out_static_mask.npy");
    CHECK(a.dtype == npy_dtype::u1);
    CHECK(a.shape == std::vector<index_t>{1, 144});
    const auto m = a.to_int64();
    CHECK(std::count(m.begin(), m.end(), 1) == 144);
  }
  SECTION("every golden file parses and re-serialises to the same bytes") {
    int files = 0;
    for (const auto& e : fs::recursive_directory_iterator(root)) {
      if (e.path().extension() != ".npy") continue;
      ++files;
      INFO(e.path().string());
      std::ifstream in(e.path(), std::ios::binary);
      std::vector<char> raw((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
      auto a = vtr::try_parse_npy(raw.data(), raw.size());
      REQUIRE(a.ok());
      const auto again = vtr::serialize_npy(a.value());
      CHECK(again.size() == raw.size());
      CHECK(std::memcmp(again.data(), raw.data(), std::min(again.size(), raw.size())) == 0);
    }
    CHECK(files > 300);
  }
}
