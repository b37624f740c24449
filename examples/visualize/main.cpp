// vtr-visualize: what each method keeps, drawn on a picture.
//
//   vtr-visualize [--image FILE] [--out DIR] [--small]
//   vtr-visualize --make-sample FILE      writes the procedural sample scene (examples/visualize/sample.png)
//
// The image (default: the committed sample scene) is resized to the 336×336 LLaVA-1.5 view, cut into
// 24×24 patches of 14 px, and each patch becomes a token (tokens.hpp: features from its pixels, and a
// two-head saliency map standing in for attention). Every image method then runs on those tokens through
// the library's public API at about 25 % of the tokens kept, and one PNG per method shows the result
// (render.hpp: dropped patches darkened, kept tokens outlined, merged groups tinted). A short synthetic
// video — slow pans over two parts of the image, i.e. two shots — runs PruneVid and DToMA and gives one
// frame strip per method. --small: an 8-frame video instead of 16 (the CI run).
//
// The attention a method reads is always the same stand-in, laid out as the engine would hand it over:
// a sequence [1 prefix token | visual tokens | 4 text tokens] whose text rows put 70 % of their mass on
// the visual tokens (softmax of the saliency logits per head), 20 % on the prefix (an attention sink)
// and the rest causally on the text. Later text rows attend more sharply (logits × 0.5, 0.67, 0.83, 1), so
// a method reading the last row (FastV, VScan stage 2) and one averaging the rows differ a little.
#include "image.hpp"
#include "render.hpp"
#include "scene.hpp"
#include "tokens.hpp"

#include <vtr/core/apply.hpp>
#include <vtr/core/workspace.hpp>
#include <vtr/methods/dtoma.hpp>
#include <vtr/methods/fastv.hpp>
#include <vtr/methods/fitprune.hpp>
#include <vtr/methods/prunevid.hpp>
#include <vtr/methods/sparsevlm.hpp>
#include <vtr/methods/vscan.hpp>
#include <vtr/ops/merge.hpp>
#include <vtr/policies/keep_ratio_topk.hpp>

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdio>
#include <exception>
#include <filesystem>
#include <functional>
#include <string>
#include <vector>

#ifndef VTR_VISUALIZE_SAMPLE
#define VTR_VISUALIZE_SAMPLE "sample.png"
#endif

namespace {

using namespace viz;
using vtr::index_t;

constexpr index_t kView = 336, kGrid = 24, kPatch = 14;  // LLaVA-1.5: 336 px, 24×24 patches of 14 px
constexpr index_t kFrameGrid = 12;                        // PLLaVA: 24×24 pooled to 12×12 per frame
constexpr index_t kPrefix = 1, kText = 4;                 // the stand-in prompt around the visual tokens
constexpr float kVisualShare = 0.7f, kSinkShare = 0.2f;
constexpr double kKeep = 0.25;                            // the share of the image tokens every method keeps

/// Sharpness of text row t (see the file comment).
float row_sharpness(index_t t) { return 0.5f + 0.5f * static_cast<float>(t) / static_cast<float>(kText - 1); }

/// The tokens as a method sees them after the steps so far: features, logits and provenance.
struct state {
  index_t dim = 0;
  std::vector<float> feats;   // [n][dim]
  std::vector<float> logits;  // [n][kHeads]
  token_list tokens;
  index_t n() const { return static_cast<index_t>(tokens.size()); }

  explicit state(const token_grid& g) : dim(g.dim), feats(g.features), logits(g.logits), tokens(identity_tokens(g.count())) {}

  vtr::matrix_view<const float> features() const { return {feats.data(), {n(), dim}}; }

  /// Applies a plan over the current tokens to everything that shares their axis.
  void advance(const vtr::plan& p) {
    std::vector<float> f(static_cast<std::size_t>(p.size() * dim)), l(static_cast<std::size_t>(p.size() * kHeads));
    vtr::apply(p, features(), vtr::matrix_view<float>(f.data(), {p.size(), dim}));
    vtr::apply(p, vtr::matrix_view<const float>(logits.data(), {n(), kHeads}), vtr::matrix_view<float>(l.data(), {p.size(), kHeads}));
    tokens = follow(tokens, p);
    feats.swap(f);
    logits.swap(l);
  }

  /// The text rows' attention over the whole sequence [prefix | n visual | text]: [kHeads][kText][L].
  std::vector<float> text_attention() const {
    const index_t L = kPrefix + n() + kText;
    std::vector<float> a(static_cast<std::size_t>(kHeads * kText * L), 0.0f);
    for (index_t h = 0; h < kHeads; ++h)
      for (index_t t = 0; t < kText; ++t) {
        float* row = a.data() + (h * kText + t) * L;
        for (index_t j = 0; j < kPrefix; ++j) row[j] = kSinkShare / kPrefix;
        head_softmax(logits, n(), h, kVisualShare, row + kPrefix, row_sharpness(t));
        for (index_t j = 0; j <= t; ++j) row[kPrefix + n() + j] = (1.0f - kVisualShare - kSinkShare) / static_cast<float>(t + 1);
      }
    return a;
  }
  /// The same rows restricted to the visual columns: [kHeads][kText][n].
  std::vector<float> text_to_visual() const {
    std::vector<float> a(static_cast<std::size_t>(kHeads * kText * n()));
    for (index_t h = 0; h < kHeads; ++h)
      for (index_t t = 0; t < kText; ++t) head_softmax(logits, n(), h, kVisualShare, a.data() + (h * kText + t) * n(), row_sharpness(t));
    return a;
  }
  /// [CLS]-like rows of the vision tower: [kHeads][n], one softmax per head.
  std::vector<float> cls_attention() const {
    std::vector<float> a(static_cast<std::size_t>(kHeads * n()));
    for (index_t h = 0; h < kHeads; ++h) head_softmax(logits, n(), h, 1.0f, a.data() + h * n());
    return a;
  }
};

vtr::tensor_view<const float, 3> view3(const std::vector<float>& v, index_t a, index_t b, index_t c) { return {v.data(), {a, b, c}}; }

// ---- the image methods (each returns the final tokens and a short label) ----

struct result {
  std::string file, label;
  token_list tokens;
};

result run_fastv(const token_grid& g, vtr::workspace& ws) {
  state s(g);
  // R = 0.75: round(576 · 0.25) = 144 image tokens stay (ALGORITHMS §3.1).
  const vtr::fastv::select fastv{{/*layer=*/2, vtr::fastv::count_rule::ratio, /*ratio=*/1.0 - kKeep}};
  const auto attn = s.text_attention();
  vtr::fastv::select::inputs in;
  in.attention = vtr::ops::attention_input::from_probs(view3(attn, kHeads, kText, kPrefix + s.n() + kText));
  in.image_start = kPrefix;
  in.image_count = s.n();
  s.advance(visual_part(fastv.plan(in, ws), kPrefix, s.n()));
  return {"fastv.png", "FastV (R = 0.75, last text row)", s.tokens};
}

result run_sparsevlm(const token_grid& g, vtr::workspace& ws) {
  state s(g);
  // v1.5 with a keep table for ~25 %: 300, 200, 140 tokens at layers 2, 6, 15, plus the recycled clusters
  // (ALGORITHMS §3.2.4-§3.2.5): 140 kept + 3 clusters reach the last layers.
  vtr::sparsevlm::prune_params p;
  p.keep_table = std::array<index_t, 3>{300, 200, 140};
  vtr::sparsevlm::prefill run(p, kPrefix, s.n(), kText);
  // Layer-0 inputs: a prefix row, the visual tokens, and 4 text embeddings in the same space — a question
  // about the salient content (saliency-weighted mean), a generic one (plain mean), the most salient token
  // and a function word (the constant component only). The raters are the text rows whose affinity to the
  // image beats the mean (§3.2.3).
  const index_t D = s.dim, n = s.n();
  std::vector<float> x0(static_cast<std::size_t>((kPrefix + n + kText) * D), 0.0f);
  const auto cls = s.cls_attention();
  std::vector<float> w(static_cast<std::size_t>(n));
  index_t top = 0;
  for (index_t j = 0; j < n; ++j) {
    w[static_cast<std::size_t>(j)] = 0.5f * (cls[static_cast<std::size_t>(j)] + cls[static_cast<std::size_t>(n + j)]);
    if (w[static_cast<std::size_t>(j)] > w[static_cast<std::size_t>(top)]) top = j;
  }
  float* text = x0.data() + (kPrefix + n) * D;
  for (index_t j = 0; j < n; ++j)
    for (index_t d = 0; d < D; ++d) {
      const float v = s.feats[static_cast<std::size_t>(j * D + d)];
      text[d] += w[static_cast<std::size_t>(j)] * v;
      text[D + d] += v / static_cast<float>(n);
    }
  std::copy(s.feats.begin() + top * D, s.feats.begin() + (top + 1) * D, text + 2 * D);
  text[3 * D + D - 1] = s.feats[static_cast<std::size_t>(D - 1)];
  x0[static_cast<std::size_t>(D - 1)] = s.feats[static_cast<std::size_t>(D - 1)];  // the prefix row
  std::copy(s.feats.begin(), s.feats.end(), x0.begin() + kPrefix * D);
  run.select_raters(vtr::matrix_view<const float>(x0.data(), {kPrefix + n + kText, D}), ws);
  for (index_t layer : {2, 6, 15}) {
    const auto attn = s.text_to_visual();
    s.advance(run.prune(layer, vtr::ops::attention_input::from_probs(view3(attn, kHeads, kText, s.n())), s.features(), {}, ws));
  }
  return {"sparsevlm.png", "SparseVLM v1.5 (300/200/140 + recycled clusters)", s.tokens};
}

result run_fitprune(const token_grid& g, vtr::workspace& ws) {
  state s(g);
  // A custom recipe deleting 216, 144 and 72 tokens at layers 0, 1, 2: 144 survive (ALGORITHMS §3.3.2).
  vtr::fitprune::layer_params p;
  p.recipe = {216, 144, 72};
  const vtr::fitprune::layer step(p);
  for (index_t l = 0; l < 3; ++l) {
    // Rows: the visual tokens (self-attention stand-in: softmax of feature cosine / 0.1, the same for both
    // heads) then the text rows (the saliency heads), over the visual columns: [H][n + Nt][n].
    const index_t n = s.n(), D = s.dim;
    std::vector<float> unit(s.feats);
    for (index_t i = 0; i < n; ++i) {
      float nn = 0;
      for (index_t d = 0; d < D; ++d) nn += unit[static_cast<std::size_t>(i * D + d)] * unit[static_cast<std::size_t>(i * D + d)];
      nn = 1.0f / std::max(std::sqrt(nn), 1e-6f);
      for (index_t d = 0; d < D; ++d) unit[static_cast<std::size_t>(i * D + d)] *= nn;
    }
    std::vector<float> block(static_cast<std::size_t>(kHeads * (n + kText) * n));
    for (index_t i = 0; i < n; ++i) {
      float* row = block.data() + i * n;
      float mx = -1e30f;
      for (index_t j = 0; j < n; ++j) {
        float c = 0;
        for (index_t d = 0; d < D; ++d) c += unit[static_cast<std::size_t>(i * D + d)] * unit[static_cast<std::size_t>(j * D + d)];
        row[j] = c / 0.1f;
        mx = std::max(mx, row[j]);
      }
      float sum = 0;
      for (index_t j = 0; j < n; ++j) sum += (row[j] = std::exp(row[j] - mx));
      for (index_t j = 0; j < n; ++j) row[j] *= kVisualShare / sum;
    }
    for (index_t h = 1; h < kHeads; ++h) std::copy(block.begin(), block.begin() + n * n, block.begin() + h * (n + kText) * n);
    for (index_t h = 0; h < kHeads; ++h)
      for (index_t t = 0; t < kText; ++t)
        head_softmax(s.logits, n, h, kVisualShare, block.data() + (h * (n + kText) + n + t) * n, row_sharpness(t));
    vtr::fitprune::layer::inputs in;
    in.attn = vtr::ops::attention_input::from_probs(view3(block, kHeads, n + kText, n));
    in.n_visual = n;
    in.n_suffix = kText;
    in.prefix = kPrefix;
    in.layer_index = l;
    s.advance(visual_part(step.plan(in, ws), kPrefix, n));
  }
  return {"fitprune.png", "Fit&Prune (recipe 216/144/72 at layers 0-2)", s.tokens};
}

result run_vscan_stage1(const token_grid& g, vtr::workspace& ws, index_t budget, state* keep_state = nullptr) {
  state s(g);
  // Windowed local scan on the shallow [CLS] row, global scan on the deep one, nearest-kept merge of the
  // rest (ALGORITHMS §3.4.2). T = 144 keeps 16·⌊72/16⌋ + 72 = 136.
  const vtr::vscan::stage1 scan{{budget}};
  const auto cls = s.cls_attention();
  const vtr::matrix_view<const float> rows(cls.data(), {kHeads, s.n()});
  s.advance(scan.plan({s.features(), rows, rows}, ws));
  if (keep_state) *keep_state = s;
  return {"vscan_stage1.png", "VScan stage 1 (T = " + std::to_string(budget) + ")", s.tokens};
}

result run_vscan_stage2(const token_grid& g, vtr::workspace& ws) {
  // Stage 1 at T = 288 after the projector, then stage 2 keeps 144 of those at layer K by the last text
  // row's attention (ALGORITHMS §3.4.5).
  state s(g);
  run_vscan_stage1(g, ws, 288, &s);
  vtr::vscan::stage2_params p = vtr::vscan::stage2_params::llava();
  p.keep = 144;
  const vtr::vscan::stage2 late{p};
  const auto attn = s.text_attention();
  vtr::vscan::stage2::inputs in;
  in.attention = vtr::ops::attention_input::from_probs(view3(attn, kHeads, kText, kPrefix + s.n() + kText));
  in.image_start = kPrefix;
  in.image_count = s.n();
  s.advance(visual_part(late.plan(in, ws), kPrefix, s.n()));
  return {"vscan_stage2.png", "VScan stage 1 (T = 288) + stage 2 (keep 144)", s.tokens};
}

result run_dtoma(const token_grid& g, vtr::workspace& ws) {
  state s(g);
  // D1: quadtree merge of similar cells (one frame, ALGORITHMS §3.6.2); D2: keep the 144 most attended
  // of the merged tokens (§3.6.3, keep_ratio = 144 / count after D1, no relevance map).
  const vtr::dtoma::quadtree d1;
  s.advance(d1.plan({s.features(), 1, g.gh, g.gw}, ws));
  vtr::dtoma::select_params p;
  p.keep_ratio = std::min(1.0, (static_cast<double>(g.count()) * kKeep + 0.5) / static_cast<double>(s.n()));
  const vtr::dtoma::select d2(p);
  const auto attn = s.text_to_visual();
  vtr::dtoma::select::inputs in;
  in.attn = vtr::ops::attention_input::from_probs(view3(attn, kHeads, kText, s.n()));
  s.advance(d2.plan(in, ws));
  return {"dtoma.png", "DToMA D1 quadtree + D2 keep 144", s.tokens};
}

result run_tome(const token_grid& g, vtr::workspace& ws) {
  state s(g);
  // ToMe bipartite soft matching (ALGORITHMS §2.7), r = 54 per block over 8 blocks: 576 → 144, sizes
  // carried so every merge is a size-weighted mean of the original patches.
  std::vector<float> sizes(static_cast<std::size_t>(s.n()), 1.0f);
  for (int block = 0; block < 8; ++block) {
    vtr::ops::tome_result r;
    vtr::ops::tome_bipartite(s.features(), 54, false, false, vtr::vector_view<const float>(sizes.data(), {s.n()}), r, ws);
    s.advance(r.merge);
    sizes = r.sizes;
  }
  return {"tome.png", "ToMe (r = 54 x 8 blocks)", s.tokens};
}

result run_keep_ratio(const token_grid& g, vtr::workspace& ws) {
  state s(g);
  // The neutral policy: top ⌊n · 0.25⌋ by head-mean, row-mean text attention (ALGORITHMS §4.7).
  const vtr::policies::keep_ratio_topk top({kKeep});
  const auto attn = s.text_attention();
  vtr::policies::keep_ratio_topk::inputs in;
  in.attn = vtr::ops::attention_input::from_probs(view3(attn, kHeads, kText, kPrefix + s.n() + kText));
  in.visual_begin = kPrefix;
  in.visual_count = s.n();
  s.advance(top.plan(in, ws));
  return {"keep_ratio_topk.png", "keep_ratio_topk (ratio 0.25)", s.tokens};
}

// ---- the video methods ----

struct video_result {
  std::string file, label;
  token_list tokens;
  std::vector<index_t> frame_segment;  // PruneVid: segment of each frame (empty otherwise)
};

video_result run_prunevid(const token_grid& g, vtr::workspace& ws) {
  state s(g);
  // Stage 1 (ALGORITHMS §3.5.2): segments by DPC-kNN on frame means, static positions averaged over each
  // segment, groups above 14 tokens clustered to half. Stage 2 (§3.5.3): top 40 % per static group and per
  // frame of each dynamic group by the text rows' attention.
  const vtr::prunevid::stage1 s1;
  vtr::prunevid::stage1::details meta;
  s.advance(s1.plan({vtr::tensor_view<const float, 3>(s.feats.data(), {g.frames, g.per_frame(), g.dim})}, ws, &meta));
  const vtr::prunevid::stage2 s2;
  const auto attn = s.text_attention();
  vtr::prunevid::stage2::inputs in;
  in.attention = vtr::ops::attention_input::from_probs(view3(attn, kHeads, kText, kPrefix + s.n() + kText));
  in.segments = meta.sizes();
  in.prefix = kPrefix;
  in.suffix = kText;
  s.advance(visual_part(s2.plan(in, ws), kPrefix, s.n()));
  video_result r{"prunevid_video.png", "PruneVid stage 1 + stage 2", s.tokens, {}};
  for (std::size_t seg = 0; seg < meta.window_sizes.size(); ++seg)
    for (index_t k = 0; k < meta.window_sizes[seg]; ++k) r.frame_segment.push_back(static_cast<index_t>(seg));
  return r;
}

video_result run_dtoma_video(const token_grid& g, vtr::workspace& ws) {
  state s(g);
  // D1 per frame, then D2 with its defaults (keep 30 % of the merged tokens).
  const vtr::dtoma::quadtree d1;
  s.advance(d1.plan({s.features(), g.frames, g.gh, g.gw}, ws));
  const vtr::dtoma::select d2;
  const auto attn = s.text_to_visual();
  vtr::dtoma::select::inputs in;
  in.attn = vtr::ops::attention_input::from_probs(view3(attn, kHeads, kText, s.n()));
  s.advance(d2.plan(in, ws));
  return {"dtoma_video.png", "DToMA D1 per frame + D2 (keep 30 %)", s.tokens, {}};
}

// ---- pictures ----

/// The input view with a faint patch grid.
image grid_picture(const image& view, index_t cell) {
  image out = view;
  for (coord y = 0; y < out.h; ++y)
    for (coord x = 0; x < out.w; ++x)
      if (x % cell == 0 || y % cell == 0) out.at(x, y) = mix(out.at(x, y), rgb{1, 1, 1}, 0.35f);
  return out;
}

/// The stand-in attention (head mean, log scale: the softmax spans ~400×) as a heat overlay on the greyed view.
image saliency_picture(const image& view, const token_grid& g, index_t frame) {
  state s(g);
  const auto cls = s.cls_attention();
  const index_t n = g.count(), nf = g.per_frame();
  std::vector<float> a(static_cast<std::size_t>(n));
  for (index_t j = 0; j < n; ++j) a[static_cast<std::size_t>(j)] = std::log(cls[static_cast<std::size_t>(j)] + cls[static_cast<std::size_t>(n + j)]);
  const float lo = *std::min_element(a.begin(), a.end()), hi = *std::max_element(a.begin(), a.end());
  image out = view;
  for (coord y = 0; y < out.h; ++y)
    for (coord x = 0; x < out.w; ++x) {
      const float v = (a[static_cast<std::size_t>(frame * nf + (y / g.cell) * g.gw + x / g.cell)] - lo) / std::max(hi - lo, 1e-6f);
      const rgb heat = v < 0.5f ? mix(rgb{0.05f, 0.05f, 0.35f}, rgb{0.85f, 0.10f, 0.10f}, 2 * v) : mix(rgb{0.85f, 0.10f, 0.10f}, rgb{1.0f, 0.95f, 0.3f}, 2 * v - 1);
      const float l = luma(out.at(x, y));
      out.at(x, y) = mix(rgb{l, l, l}, heat, 0.7f);
    }
  return out;
}

/// The synthetic video: two shots of slow camera moves over the source image (a pan to the right across
/// the top, then a tilt down over the bottom half), each frame a kFrameGrid × kFrameGrid token grid.
std::vector<image> make_video(const image& src, index_t frames) {
  std::vector<image> v;
  const double s = static_cast<double>(std::min(src.w, src.h)), side = 0.55 * s;
  const double ox = (static_cast<double>(src.w) - s) / 2, oy = (static_cast<double>(src.h) - s) / 2;
  const index_t half = frames / 2;
  for (index_t f = 0; f < frames; ++f) {
    const double t = static_cast<double>(f < half ? f : f - half) / static_cast<double>(std::max<index_t>(half - 1, 1));
    const double x = f < half ? ox + s * (0.05 + 0.12 * t) : ox + s * 0.30;
    const double y = f < half ? oy + s * 0.02 : oy + s * (0.33 + 0.10 * t);
    v.push_back(resample(src, x, y, side, side, kFrameGrid * kPatch, kFrameGrid * kPatch));
  }
  return v;
}

bool save(const std::string& dir, const std::string& file, const image& im, const std::string& what) {
  const std::string path = (std::filesystem::path(dir) / file).string();
  if (!write_png(path, im)) {
    std::fprintf(stderr, "vtr-visualize: cannot write %s\n", path.c_str());
    return false;
  }
  std::printf("%-28s %s\n", path.c_str(), what.c_str());
  return true;
}

std::string summary(const std::string& label, const token_list& t, index_t patches) {
  const tally c = count(t, patches);
  char buf[256];
  std::snprintf(buf, sizeof buf, "%s: %td of %td tokens (patches: %td unchanged, %td merged into %td tokens, %td dropped)",
                label.c_str(), c.tokens, patches, c.unchanged, c.merged_patches, c.merged_tokens, c.dropped);
  return buf;
}

int usage() {
  std::fprintf(stderr,
               "usage: vtr-visualize [--image FILE] [--out DIR] [--small]\n"
               "       vtr-visualize --make-sample FILE\n");
  return 2;
}

int run(int argc, char** argv) {
  std::string image_path, out_dir = "vtr-visualize-out";
  bool small = false;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--image" && i + 1 < argc) {
      image_path = argv[++i];
    } else if (a == "--out" && i + 1 < argc) {
      out_dir = argv[++i];
    } else if (a == "--small") {
      small = true;
    } else if (a == "--make-sample" && i + 1 < argc) {
      const std::string path = argv[++i];
      if (!write_png(path, make_sample_scene(512))) return 1;
      std::printf("%s\n", path.c_str());
      return 0;
    } else {
      return usage();
    }
  }
  image src;
  std::string error;
  if (!image_path.empty()) {
    src = load_image(image_path, error);
    if (src.empty()) {
      std::fprintf(stderr, "vtr-visualize: cannot read %s: %s\n", image_path.c_str(), error.c_str());
      return 1;
    }
  } else {
    src = load_image(VTR_VISUALIZE_SAMPLE, error);
    if (src.empty()) src = make_sample_scene(512);  // the same scene, generated (the file is its output)
  }
  std::filesystem::create_directories(out_dir);
  vtr::workspace ws;
  bool ok = true;

  // ---- one image ----
  const image view = square_view(src, kView);
  const token_grid g = make_tokens({view}, kGrid, kGrid, kPatch);
  ok &= save(out_dir, "input.png", grid_picture(view, kPatch), "the 336x336 view, 24x24 patches of 14 px");
  ok &= save(out_dir, "saliency.png", saliency_picture(view, g, 0), "the saliency stand-in for attention (head mean)");
  const std::vector<std::function<result(const token_grid&, vtr::workspace&)>> methods = {
      run_fastv, run_sparsevlm, run_fitprune, [](const token_grid& t, vtr::workspace& w) { return run_vscan_stage1(t, w, 144); },
      run_vscan_stage2, run_dtoma, run_tome, run_keep_ratio};
  for (const auto& m : methods) {
    const result r = m(g, ws);
    ok &= save(out_dir, r.file, render_frame(view, 0, kGrid, kGrid, kPatch, g.colour, r.tokens), summary(r.label, r.tokens, g.count()));
  }

  // ---- a short video ----
  const index_t frames = small ? 8 : 16;
  const std::vector<image> video = make_video(src, frames);
  const token_grid vg = make_tokens(video, kFrameGrid, kFrameGrid, kPatch);
  std::vector<image> thumbs;
  for (const image& fr : video) thumbs.push_back(resample(fr, 0, 0, static_cast<double>(fr.w), static_cast<double>(fr.h), fr.w / 2, fr.h / 2));
  ok &= save(out_dir, "video.png", tile(thumbs, 16, 2, 0, {}), std::to_string(frames) + " frames of 12x12 tokens, two shots (half size)");
  const rgb palette[] = {{0.95f, 0.45f, 0.20f}, {0.30f, 0.65f, 0.95f}, {0.60f, 0.85f, 0.30f}, {0.85f, 0.45f, 0.85f}};
  for (const auto& m : {run_prunevid, run_dtoma_video}) {
    const video_result r = m(vg, ws);
    std::vector<image> tiles;
    for (index_t f = 0; f < frames; ++f) tiles.push_back(render_frame(video[static_cast<std::size_t>(f)], f, kFrameGrid, kFrameGrid, kPatch, vg.colour, r.tokens));
    std::vector<rgb> bars;
    for (index_t seg : r.frame_segment) bars.push_back(palette[seg % 4]);
    ok &= save(out_dir, r.file, tile(tiles, 8, 4, bars.empty() ? 0 : 5, bars), summary(r.label, r.tokens, vg.count()));
  }
  return ok ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    return run(argc, argv);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "vtr-visualize: %s\n", e.what());
    return 1;
  }
}
