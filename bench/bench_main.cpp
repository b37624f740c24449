// vtr benchmark runner: Google Benchmark with a closing table that pairs every step with the floor (and
// naive version) measured in the same run — see bench_util.hpp for the naming convention.
//
// Defaults (overridable on the command line): 5 repetitions, medians only, 0.05 s minimum per
// repetition, one thread.
#include <benchmark/benchmark.h>

#include <cstdio>
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

// Collects the median of each benchmark (or its single run without repetitions), then prints the table.
class table_reporter : public benchmark::ConsoleReporter {
 public:
  void ReportRuns(const std::vector<Run>& runs) override {
    ConsoleReporter::ReportRuns(runs);
    for (const Run& r : runs) {
      if (r.run_type == Run::RT_Aggregate && r.aggregate_name != "median") continue;
      if (r.error_occurred) continue;
      std::string name = r.run_name.str();
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
    std::printf("\n%-56s %12s %12s %9s %12s %9s\n", "step (median CPU time, 1 thread)", "time us", "floor us",
                "x floor", "naive us", "x naive");
    std::printf("%s\n", std::string(114, '-').c_str());
    for (const std::string& name : order_) {
      const row& r = rows_[name];
      std::printf("%-56s %12.2f ", name.c_str(), r.step);
      if (r.floor > 0) std::printf("%12.2f %9.2f ", r.floor, r.step / r.floor); else std::printf("%12s %9s ", "-", "-");
      if (r.naive > 0) std::printf("%12.2f %9.3f\n", r.naive, r.step / r.naive); else std::printf("%12s %9s\n", "-", "-");
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
