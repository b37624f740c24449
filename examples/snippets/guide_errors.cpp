// Integration guide (docs/integration.md), "Errors": the try_ forms (vtr::status, vtr::result<T>) an engine
// built without exceptions uses, and the throwing forms (vtr::invalid_input). A wrong span is rejected
// before anything is written; returns non-zero if something is off.
#include <vtr/core/apply.hpp>
#include <vtr/core/error.hpp>
#include <vtr/core/workspace.hpp>
#include <vtr/methods/fastv.hpp>
#include <vtr/methods/vscan.hpp>

#include <cstdio>
#include <string>
#include <vector>

int main() {
  using vtr::index_t;
  const index_t H = 4, L = 60;
  std::vector<float> row(static_cast<std::size_t>(H * L), 1.0f / static_cast<float>(L));
  vtr::fastv::select fastv;
  vtr::workspace ws;
  vtr::fastv::select::inputs in;
  in.attention = vtr::ops::attention_input::from_probs(vtr::tensor_view<const float, 3>(row.data(), {H, 1, L}));
  in.image_start = 35;
  in.image_count = 576;  // a bug in the engine: the image span does not fit the 60 keys
  vtr::plan plan = vtr::plan::select(3, {0, 1, 2});
  const vtr::plan before = plan;
  bool ok = true;

  // [guide:errors-try]
  // Status form (builds without exceptions use only these): nothing is written on error.
  if (vtr::status s = fastv.try_plan(in, plan, ws); !s) {
    std::fprintf(stderr, "token reduction skipped: %s\n", s.message().c_str());  // names the argument and shapes
    // …run the layer unpruned: `plan` is exactly as it was
  }
  // Values come as vtr::result<T>: check, then take.
  vtr::result<index_t> n = vtr::vscan::stage1{{/*budget=*/16}}.kept_count(576);
  if (!n) std::fprintf(stderr, "bad budget: %s\n", n.error().message().c_str());
  // [/guide:errors-try]
  ok = ok && plan.origin == before.origin && plan.input_rows == before.input_rows && !n.ok();

#if !defined(VTR_NO_EXCEPTIONS)
  // [guide:errors-throw]
  // Throwing form: vtr::invalid_input (a std::invalid_argument) with the same message.
  try {
    plan = fastv.plan(in, ws);
  } catch (const vtr::invalid_input& e) {
    std::fprintf(stderr, "%s\n", e.what());  // "vtr: image span [35, 611) … is not inside the 60 attention keys"
  }
  // [/guide:errors-throw]
  ok = ok && plan.origin == before.origin;
#endif

  std::printf("guide_errors: %s\n", ok ? "ok" : "FAILED");
  return ok ? 0 : 1;
}
