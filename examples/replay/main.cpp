// vtr-replay CASES OUT — runs every case under CASES through the library and writes
// OUT/<method-id>/<case-name>/out_<name>.npy (or error.txt when the library rejects the input).
//
// Dump your model's tensors with numpy (np.save(..., arr.astype(np.float32))), write a case.json, replay
// here, and check with tests/golden/compare.py CASES OUT (or --compare).
#include "replay.hpp"

#include <cstdio>
#include <cstring>
#include <exception>
#include <set>
#include <sstream>
#include <string>
#include <vector>

namespace {

namespace fs = std::filesystem;
namespace rp = vtr::replay;

const char* const usage =
    "usage: vtr-replay [--compare] [--only ID[,ID...]] CASES OUT\n"
    "       vtr-replay --list-methods\n"
    "\n"
    "Runs every case directory (one holding a case.json) under CASES through the vtr library and writes\n"
    "OUT/<method-id>/<case-name>/out_<name>.npy, or error.txt with the library's message when it rejects\n"
    "the input. One line per case: PASS-RUN, ERROR (a rejection), UNKNOWN (no runner for the method id) or\n"
    "CRASH. Exit status 0 iff every case ran (a rejection counts as ran).\n"
    "\n"
    "  --compare       also compare with the case's expected out_*.npy (the rules of compare.py) and\n"
    "                  print 'N passed, M failed'; a failed comparison makes the exit status non-zero\n"
    "  --only IDS      run only the cases of these method ids (comma-separated)\n"
    "  --list-methods  print the method ids this build can replay, one per line\n";

std::set<std::string> split_ids(const std::string& s) {
  std::set<std::string> out;
  std::stringstream ss(s);
  std::string id;
  while (std::getline(ss, id, ','))
    if (!id.empty()) out.insert(id);
  return out;
}

// First line of a message (error.txt keeps all of it).
std::string one_line(const std::string& s) { return s.substr(0, s.find('\n')); }

}  // namespace

int main(int argc, char** argv) {
  bool compare = false, list = false;
  std::set<std::string> only;
  std::vector<std::string> positional;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--compare") {
      compare = true;
    } else if (a == "--list-methods") {
      list = true;
    } else if (a == "--only" && i + 1 < argc) {
      only = split_ids(argv[++i]);
    } else if (a.rfind("--only=", 0) == 0) {
      only = split_ids(a.substr(7));
    } else if (a == "-h" || a == "--help") {
      std::fputs(usage, stdout);
      return 0;
    } else if (!a.empty() && a[0] == '-') {
      std::fprintf(stderr, "vtr-replay: unknown option '%s'\n\n%s", a.c_str(), usage);
      return 2;
    } else {
      positional.push_back(a);
    }
  }
  if (list) {
    for (const auto& m : rp::registered_methods()) std::printf("%s\n", m.c_str());
    return 0;
  }
  if (positional.size() != 2) {
    std::fputs(usage, stderr);
    return 2;
  }
  const fs::path cases_root = positional[0], out_root = positional[1];
  std::error_code ec;
  if (!fs::is_directory(cases_root, ec)) {
    std::fprintf(stderr, "vtr-replay: CASES '%s' is not a directory\n", cases_root.string().c_str());
    return 2;
  }

  const auto dirs = rp::find_cases(cases_root);
  int ran = 0, rejected = 0, unknown = 0, crashed = 0, skipped = 0, passed = 0, failed = 0;
  for (const auto& dir : dirs) {
    rp::test_case tc;
    std::string tag = fs::relative(dir, cases_root, ec).generic_string();
    try {
      tc = rp::load_case(dir);
    } catch (const std::exception& e) {
      std::printf("CRASH %s: %s\n", tag.c_str(), one_line(e.what()).c_str());
      ++crashed;
      continue;
    }
    tag = tc.method + "/" + tc.name;
    if (!only.empty() && only.count(tc.method) == 0) {
      ++skipped;
      continue;
    }
    const rp::runner* run = rp::find_runner(tc.method);
    if (run == nullptr) {
      std::printf("UNKNOWN %s: no runner for method id '%s'\n", tag.c_str(), tc.method.c_str());
      ++unknown;
      continue;
    }
    rp::outcome o;
    try {
      o = (*run)(tc);
      rp::write_outcome(o, out_root / tc.method / tc.name);
    } catch (const std::exception& e) {
      std::printf("CRASH %s: %s\n", tag.c_str(), one_line(e.what()).c_str());
      ++crashed;
      continue;
    } catch (...) {
      std::printf("CRASH %s: unknown exception\n", tag.c_str());
      ++crashed;
      continue;
    }
    ++ran;
    if (o.error) {
      ++rejected;
      std::printf("ERROR %s: %s\n", tag.c_str(), one_line(*o.error).c_str());
    } else {
      std::printf("PASS-RUN %s\n", tag.c_str());
    }
    if (compare) {
      rp::comparison c;
      try {
        c = rp::compare_case(tc, o);
      } catch (const std::exception& e) {
        c = {false, std::string("comparison failed: ") + e.what()};
      }
      std::printf("  %s %s  %s\n", c.ok ? "PASS" : "FAIL", tag.c_str(), c.detail.c_str());
      ++(c.ok ? passed : failed);
    }
    std::fflush(stdout);
  }

  std::printf("%d cases: %d ran (%d rejected), %d unknown method, %d crashed", ran + unknown + crashed, ran, rejected,
              unknown, crashed);
  if (skipped) std::printf(", %d skipped (--only)", skipped);
  std::printf("\n");
  if (compare) std::printf("%d passed, %d failed\n", passed, failed);
  if (dirs.empty()) {
    std::fprintf(stderr, "vtr-replay: no case.json under '%s'\n", cases_root.string().c_str());
    return 1;
  }
  if (ran == 0) return 1;
  return (unknown == 0 && crashed == 0 && failed == 0) ? 0 : 1;
}
