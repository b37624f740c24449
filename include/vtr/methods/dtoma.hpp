// vtr — DToMA ("Training-free Dynamic Token MAnipulation for Long Video Understanding", IJCAI 2025),
// ALGORITHMS §3.6.
//
// IMPORTANT: DToMA's official code is unpublished (NJUPT-MCC/DToMA@09f85b7 and yuanrr/DToMA@9335790
// hold only a README). vtr::dtoma follows the project's design notes, made exact by ALGORITHMS §3.6; it
// is NOT a port of official code. When official code appears, a faithful variant is added beside it.
//
// The README's three stages map to three independent steps:
//   shallow       dtoma::quadtree       D1, quadtree merge per frame at the encoder output (§3.6.2)
//   intermediate  dtoma::select         D2, text-guided importance and pruning at layer K (§3.6.3)
//   deep          dtoma::usage_tracker  D3, decode-time usage tracking with KV eviction (§3.6.4)
// They are also exported under neutral names (§3.6, §4.7): vtr::policies::quadtree_merge,
// vtr::policies::relevance_boost and vtr::policies::usage_tracker.
#pragma once

#include "dtoma/quadtree.hpp"
#include "dtoma/select.hpp"
#include "dtoma/usage.hpp"

VTR_NAMESPACE_BEGIN
namespace policies {
/// DToMA D1 under its neutral name (ALGORITHMS §4.7).
using quadtree_merge = dtoma::quadtree;
/// DToMA D2 under its neutral name (ALGORITHMS §4.7).
using relevance_boost = dtoma::select;
/// DToMA D3 under its neutral name (ALGORITHMS §4.7).
using usage_tracker = dtoma::usage_tracker;
}  // namespace policies
VTR_NAMESPACE_END
