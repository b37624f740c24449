// vtr — Visual Token Reduction. Umbrella header: the whole library. Each header also compiles on its own;
// include only what you use to keep compile times down.
#pragma once

#include "config.hpp"
#include "version.hpp"

// core: views, plans, positions, KV compaction, workspace, errors (no math)
#include "core/apply.hpp"
#include "core/batch.hpp"
#include "core/eigen.hpp"
#include "core/error.hpp"
#include "core/half.hpp"
#include "core/kv.hpp"
#include "core/media.hpp"
#include "core/parallel.hpp"
#include "core/plan.hpp"
#include "core/positions.hpp"
#include "core/stage.hpp"
#include "core/tensor_view.hpp"
#include "core/thread_executor.hpp"
#include "core/workspace.hpp"

// simd: the xsimd compatibility layer
#include "simd/simd.hpp"

// ops: the shared kernels
#include "ops/accumulate.hpp"
#include "ops/attention.hpp"
#include "ops/attention_input.hpp"
#include "ops/cluster.hpp"
#include "ops/convert.hpp"
#include "ops/merge.hpp"
#include "ops/rank.hpp"
#include "ops/reduce.hpp"
#include "ops/rope.hpp"
#include "ops/similarity.hpp"
#include "ops/temporal.hpp"
#include "ops/topk.hpp"

// methods and generic policies
#include "methods/dtoma.hpp"
#include "methods/fastv.hpp"
#include "methods/fitprune.hpp"
#include "methods/prunevid.hpp"
#include "methods/sparsevlm.hpp"
#include "methods/vscan.hpp"
#include "policies/frame_dedup.hpp"
#include "policies/frame_gate.hpp"
#include "policies/keep_ratio_topk.hpp"
#include "policies/media_topk.hpp"

// compile-time composition
#include "pipeline.hpp"

// NPY I/O (tests, vtr-replay, tensors dumped from Python)
#include "io/npy.hpp"
