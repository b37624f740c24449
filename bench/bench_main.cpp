// vtr benchmark runner: Google Benchmark with two closing tables — every step paired with the floor (and
// naive version) measured in the same run and checked against its target, then every method paired with
// its dominant step alone (the share of its time spent outside it) — see bench_util.hpp for the naming
// convention and the target counters. bench/perf_table.py renders the same tables as markdown from the
// JSON output.
//
// Defaults (overridable on the command line): 5 repetitions (the table takes the fastest), 0.05 s minimum per
// repetition, one thread.
#include <benchmark/benchmark.h>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <map>
#include <string>
#include <vector>

namespace {

struct row {
  double step = -1, floor = -1, naive = -1, dominant = -1;
  std::string target;  ///< counter name ("target_memory", …); empty: none
  double limit = 0;
};

bool ends_with(const std::string& s, const char* suffix) {
  const std::size_t n = std::strlen(suffix);
  return s.size() >= n && s.compare(s.size() - n, n, suffix) == 0;
}

// "a/b/iterations:1/repeats:3" → "a/b": Google Benchmark appends run settings to names.
std::string base_name(const std::string& name) {
  std::string out;
  std::size_t start = 0;
  while (start <= name.size()) {
    const std::size_t end = std::min(name.find('/', start), name.size());
    const std::string part = name.substr(start, end - start);
    const bool setting = part.rfind("iterations:", 0) == 0 || part.rfind("repeats:", 0) == 0 ||
                         part.rfind("min_time:", 0) == 0 || part == "real_time" || part == "process_time";
    if (!setting) out += (out.empty() ? "" : "/") + part;
    start = end + 1;
  }
  return out;
}

// The decoder layer a step is compared with: "x/llava15_T96" → "decoder_layer/llava15" — the longest
// measured "decoder_layer/<tag>" whose tag starts the shape (followed by '_' or ending it).
template <class Rows>
const std::string* layer_for(const std::string& name, const Rows& rows) {
  const std::size_t slash = name.find('/');
  if (slash == std::string::npos || name.compare(0, slash, "decoder_layer") == 0) return nullptr;
  const std::string shape = name.substr(slash + 1);
  const std::string* best = nullptr;
  for (const auto& r : rows) {
    const std::string& other = r.first;
    if (other.rfind("decoder_layer/", 0) != 0 || r.second.step <= 0) continue;
    const std::string tag = other.substr(14);
    const bool match = shape.compare(0, tag.size(), tag) == 0 && (shape.size() == tag.size() || shape[tag.size()] == '_');
    if (match && (!best || other.size() > best->size())) best = &other;
  }
  return best;
}

// A row's target as text, and whether it is met ("-" when the reference it needs was not measured).
struct verdict {
  std::string text, met;
};
verdict check(const row& r) {
  char buf[64];
  auto judge = [](bool measured, double value, double limit) {
    return std::string(!measured ? "-" : value <= limit ? "yes" : "NO");
  };
  if (r.target == "target_memory" || r.target == "target_gemm") {
    std::snprintf(buf, sizeof buf, "<=%.1fx %s", r.limit, r.target == "target_gemm" ? "GEMM" : "floor");
    return {buf, judge(r.floor > 0, r.step / r.floor, r.limit)};
  }
  if (r.target == "target_us") {
    std::snprintf(buf, sizeof buf, "<=%g us", r.limit);
    return {buf, judge(true, r.step, r.limit)};
  }
  if (r.target == "target_outside") {
    std::snprintf(buf, sizeof buf, "<=%g%% outside", 100.0 * r.limit);
    return {buf, judge(r.dominant > 0, (r.step - r.dominant) / r.step, r.limit)};
  }
  return {"-", "-"};
}

// Collects the fastest repetition of each benchmark (or its single run without repetitions), then prints
// the tables. The minimum, not the median: on a shared machine noise only ever adds time (other processes
// evict the caches and take the core), so the fastest of the repetitions is the best estimate of what the
// code itself costs, for the step and its floor alike. The console shows Google Benchmark's aggregates;
// the JSON file keeps every repetition (bench/perf_table.py takes the same minimum from it).
class table_reporter : public benchmark::ConsoleReporter {
 public:
  void ReportRuns(const std::vector<Run>& runs) override {
    std::vector<Run> shown;
    std::vector<std::pair<const Run*, double>> best;  // per run name, in run order
    for (const Run& r : runs) {
      const bool repetition = r.run_type == Run::RT_Iteration && r.repetitions > 1;
      if (!repetition) shown.push_back(r);
      if (r.error_occurred || r.run_type == Run::RT_Aggregate) continue;
      const double us = r.GetAdjustedCPUTime() * to_us(r.time_unit);
      auto it = std::find_if(best.begin(), best.end(), [&](const auto& b) { return b.first->run_name.str() == r.run_name.str(); });
      if (it == best.end()) best.emplace_back(&r, us);
      else it->second = std::min(it->second, us);
    }
    ConsoleReporter::ReportRuns(shown);
    for (const auto& [run, us] : best) {
      const Run& r = *run;
      const std::string name = base_name(r.run_name.str());
      if (ends_with(name, "/floor")) {
        rows_[name.substr(0, name.size() - 6)].floor = us;
      } else if (ends_with(name, "/naive")) {
        rows_[name.substr(0, name.size() - 6)].naive = us;
      } else if (ends_with(name, "/dominant")) {
        rows_[name.substr(0, name.size() - 9)].dominant = us;
      } else {
        order_.push_back(name);
        row& x = rows_[name];
        x.step = us;
        for (const auto& c : r.counters)
          if (c.first.rfind("target_", 0) == 0) {
            x.target = c.first;
            x.limit = c.second.value;
          }
      }
    }
  }

  void Finalize() override {
    ConsoleReporter::Finalize();
    std::printf("\n%-58s %11s %11s %8s %11s %8s %9s %17s %4s\n", "step (min CPU time of the reps, 1 thread)", "time us", "floor us",
                "x floor", "naive us", "x naive", "% layer", "target", "met");
    std::printf("%s\n", std::string(145, '-').c_str());
    for (const std::string& name : order_) {
      const row& r = rows_[name];
      std::printf("%-58s %11.2f ", name.c_str(), r.step);
      if (r.floor > 0) std::printf("%11.2f %8.2f ", r.floor, r.step / r.floor); else std::printf("%11s %8s ", "-", "-");
      if (r.naive > 0) std::printf("%11.2f %8.3f ", r.naive, r.step / r.naive); else std::printf("%11s %8s ", "-", "-");
      if (const std::string* layer = layer_for(name, rows_))
        std::printf("%8.4f%% ", 100.0 * r.step / rows_.at(*layer).step);
      else
        std::printf("%9s ", "-");
      const verdict v = r.target == "target_outside" ? verdict{"(methods below)", "-"} : check(r);
      std::printf("%17s %4s\n", v.text.c_str(), v.met.c_str());
    }

    std::printf("\n%-58s %11s %11s %10s %17s %4s\n", "method (min CPU time of the reps, 1 thread)", "time us", "dominant us",
                "% outside", "target", "met");
    std::printf("%s\n", std::string(116, '-').c_str());
    for (const std::string& name : order_) {
      const row& r = rows_[name];
      if (r.dominant < 0 && r.target != "target_outside") continue;
      std::printf("%-58s %11.2f ", name.c_str(), r.step);
      if (r.dominant > 0) std::printf("%11.2f %9.1f%% ", r.dominant, 100.0 * (r.step - r.dominant) / r.step);
      else std::printf("%11s %10s ", "-", "-");
      const verdict v = check(r);
      std::printf("%17s %4s\n", v.text.c_str(), v.met.c_str());
    }
    std::fflush(stdout);
  }

 private:
  static double to_us(benchmark::TimeUnit u) {
    switch (u) {
      case benchmark::kNanosecond: return 1e-3;
      case benchmark::kMicrosecond: return 1.0;
      case benchmark::kMillisecond: return 1e3;
      default: return 1e6;
    }
  }
  std::map<std::string, row> rows_;
  std::vector<std::string> order_;
};

bool has_flag(int argc, char** argv, const char* flag) {
  for (int i = 1; i < argc; ++i)
    if (std::strncmp(argv[i], flag, std::strlen(flag)) == 0) return true;
  return false;
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<char*> args(argv, argv + argc);
  std::string reps = "--benchmark_repetitions=5", agg = "--benchmark_report_aggregates_only=false",
              min_time = "--benchmark_min_time=0.05";
  if (!has_flag(argc, argv, "--benchmark_repetitions")) args.push_back(reps.data());
  if (!has_flag(argc, argv, "--benchmark_report_aggregates_only")) args.push_back(agg.data());
  if (!has_flag(argc, argv, "--benchmark_min_time")) args.push_back(min_time.data());
  int n = static_cast<int>(args.size());
  benchmark::Initialize(&n, args.data());
  if (benchmark::ReportUnrecognizedArguments(n, args.data())) return 1;
  table_reporter reporter;
  benchmark::RunSpecifiedBenchmarks(&reporter);
  benchmark::Shutdown();
  return 0;
}
