// Fuzz target: the NPY reader (vtr/io/npy.hpp) on arbitrary bytes. A parse either fails with a message or
// yields an array whose shape and data agree; a parsed array serialises to an image that parses back to
// the same array, and converts to float (and to int64 for integer dtypes) without reading out of bounds.
#include "fuzz_common.hpp"

#include <vtr/io/npy.hpp>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  auto parsed = vtr::try_parse_npy(data, size);
  if (!parsed) {
    vtr_fuzz_check(!parsed.error().message().empty());
    return 0;
  }
  const vtr::npy_array& a = parsed.value();
  vtr_fuzz_check(a.check().ok());
  // Keep the conversions bounded: the parser accepted `size` bytes, so the element count is bounded by it.
  vtr_fuzz_check(a.data.size() <= size);
  auto f = a.try_to_float();
  vtr_fuzz_check(f.ok());
  vtr_fuzz_check(static_cast<vtr::index_t>(f.value().size()) == a.size());
  auto i = a.try_to_int64();
  vtr_fuzz_check(i.ok() == !vtr::npy_is_float(a.dtype));
  if (a.rank() == 2 && a.dtype == vtr::npy_dtype::f4) {
    auto v = a.try_as_view<const float, 2>();
    vtr_fuzz_check(v.ok());
  }
  auto bytes = vtr::try_serialize_npy(a);
  vtr_fuzz_check(bytes.ok());
  auto again = vtr::try_parse_npy(bytes.value());
  vtr_fuzz_check(again.ok());
  vtr_fuzz_check(again.value().dtype == a.dtype && again.value().shape == a.shape && again.value().data == a.data);
  return 0;
}
