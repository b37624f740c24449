// vtr benchmark runner: Google Benchmark with a closing table that pairs every step with the floor (and
// naive version) measured in the same run — see bench_util.hpp for the naming convention.
//
// Defaults (overridable on the command line): 5 repetitions, medians only, 0.05 s minimum per
// repetition, one thread.
#include <benchmark/benchmark.h>

#include <cstdio>
#include <algorithm>
#include <cstring>
#include <map>
#include <string>
#include <vector>

namespace {

struct row {
  double step = -1, floor = -1, naive = -1;
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

// The decoder layer a step is compared with: "x/llava15_T96" → "decoder_layer/llava15".
std::string layer_for(const std::string& name) {
  const std::size_t slash = name.find('/');
  if (slash == std::string::npos) return {};
  const std::string shape = name.substr(slash + 1);
  if (shape.rfind("llava_next", 0) == 0) return "decoder_layer/llava_next";
  if (shape.rfind("llava15", 0) == 0) return "decoder_layer/llava15";
  return {};
}

// Collects the median of each benchmark (or its single run without repetitions), then prints the table.
class table_reporter : public benchmark::ConsoleReporter {
 public:
  void ReportRuns(const std::vector<Run>& runs) override {
    ConsoleReporter::ReportRuns(runs);
    for (const Run& r : runs) {
      if (r.run_type == Run::RT_Aggregate && r.aggregate_name != "median") continue;
      if (r.error_occurred) continue;
      std::string name = base_name(r.run_name.str());
      const double us = r.GetAdjustedCPUTime() * to_us(r.time_unit);
      if (r.run_type == Run::RT_Iteration && r.repetitions > 1) continue;  // medians come as aggregates
      if (ends_with(name, "/floor")) {
        rows_[name.substr(0, name.size() - 6)].floor = us;
      } else if (ends_with(name, "/naive")) {
        rows_[name.substr(0, name.size() - 6)].naive = us;
      } else {
        order_.push_back(name);
        rows_[name].step = us;
      }
    }
  }

  void Finalize() override {
    ConsoleReporter::Finalize();
    std::printf("\n%-56s %12s %12s %9s %12s %9s %9s\n", "step (median CPU time, 1 thread)", "time us", "floor us",
                "x floor", "naive us", "x naive", "% layer");
    std::printf("%s\n", std::string(124, '-').c_str());
    for (const std::string& name : order_) {
      const row& r = rows_[name];
      std::printf("%-56s %12.2f ", name.c_str(), r.step);
      if (r.floor > 0) std::printf("%12.2f %9.2f ", r.floor, r.step / r.floor); else std::printf("%12s %9s ", "-", "-");
      if (r.naive > 0) std::printf("%12.2f %9.3f ", r.naive, r.step / r.naive); else std::printf("%12s %9s ", "-", "-");
      const auto layer = rows_.find(layer_for(name));
      if (layer != rows_.end() && layer->second.step > 0 && name.rfind("decoder_layer/", 0) != 0)
        std::printf("%8.4f%%\n", 100.0 * r.step / layer->second.step);
      else
        std::printf("%9s\n", "-");
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
  std::string reps = "--benchmark_repetitions=5", agg = "--benchmark_report_aggregates_only=true",
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
