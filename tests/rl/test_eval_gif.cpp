// `anyrl eval --record out.gif` end to end: a tiny run is trained with rl::Trainer, then the
// command-line program (built alongside, path given by CMake) records it as an animated GIF.
// Also the CLI's errors: missing folder, unknown extension, GIF-only flags without a GIF.
#include <doctest/doctest.h>

#include <sys/wait.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <sstream>
#include <string>
#include <vector>

#include "anyrl/rl/config.hpp"
#include "anyrl/rl/trainer.hpp"
#include "common.hpp"

using namespace anyrl::rl;
namespace fs = std::filesystem;

namespace {

std::string slurp(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

// Runs `anyrl <args>`, stdout/stderr into files next to `dir`; returns the exit code.
int cli(const std::string& args, const fs::path& dir, std::string* out = nullptr, std::string* err = nullptr) {
  const fs::path o = dir / "cli.out", e = dir / "cli.err";
  const std::string cmd = std::string("'") + ANYRL_CLI + "' " + args + " > '" + o.string() + "' 2> '" + e.string() + "'";
  const int st = std::system(cmd.c_str());
  if (out) *out = slurp(o);
  if (err) *err = slurp(e);
  return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

// Image descriptors in a GIF (walks the block structure; -1 when malformed).
int count_frames(const std::string& f) {
  if (f.size() < 13 || f.compare(0, 6, "GIF89a") != 0) return -1;
  const auto u8 = [&](size_t i) { return static_cast<unsigned char>(f[i]); };
  size_t p = 13;
  if (u8(10) & 0x80) p += 3u << ((u8(10) & 7) + 1);
  auto skip_blocks = [&] {
    while (p < f.size() && u8(p) != 0) p += 1 + u8(p);
    ++p;
  };
  int frames = 0;
  while (p < f.size()) {
    const int b = u8(p++);
    if (b == 0x3B) return p == f.size() ? frames : -1;
    if (b == 0x21) {
      ++p;  // label
      skip_blocks();
    } else if (b == 0x2C) {
      if (p + 9 > f.size() || (u8(p + 8) & 0x80)) return -1;
      p += 9 + 1;  // descriptor, LZW minimum code size
      skip_blocks();
      ++frames;
    } else {
      return -1;
    }
  }
  return -1;
}

}  // namespace

TEST_CASE("anyrl eval --record out.gif writes a looping animated GIF") {
  const fs::path dir = anyrl_test::scratch("eval_gif", "run");
  {
    Config c = make_train_config();
    c.load_file((anyrl_test::source_dir() / "configs" / "smoke" / "parl_calql_diffusion.toml").string());
    c.apply_overrides({"train.bc_steps=5", "train.offline_steps=5", "train.online_env_steps=0", "eval.episodes=2",
                       "train.checkpoint_every=0"});
    TrainerOptions o;
    o.progress = false;
    Trainer t(c, dir, o);
    t.run();
  }
  const fs::path gif = dir / "rollout.gif";
  std::string out, err;
  const int rc = cli("eval '" + dir.string() + "' --episodes 1 --record '" + gif.string() +
                         "' --record-every 10 --size 48 --gif-delay 5",
                     dir, &out, &err);
  INFO("stdout: " << out << "\nstderr: " << err);
  REQUIRE(rc == 0);
  const std::string f = slurp(gif);
  REQUIRE(f.size() > 800);
  CHECK(f.compare(0, 6, "GIF89a") == 0);
  CHECK(static_cast<unsigned char>(f[6]) == 48);  // logical screen width, little-endian
  CHECK(static_cast<unsigned char>(f[8]) == 48);
  CHECK(f.find("NETSCAPE2.0") != std::string::npos);
  const int frames = count_frames(f);
  CHECK(frames >= 2);
  CHECK(out.find("(" + std::to_string(frames) + " frames)") != std::string::npos);
  // Only the GIF was added to the run folder (the PNG frames went to a removed temporary folder).
  for (const auto& e : fs::directory_iterator(dir)) CHECK(e.path().extension() != ".png");

  SUBCASE("errors: clear message, non-zero exit, nothing written") {
    CHECK(cli("eval '" + dir.string() + "' --record '" + (dir / "missing" / "x.gif").string() + "'", dir, &out, &err) != 0);
    CHECK(err.find("does not exist") != std::string::npos);
    CHECK(cli("eval '" + dir.string() + "' --record '" + (dir / "x.mp4").string() + "'", dir, &out, &err) != 0);
    CHECK(err.find("unknown extension '.mp4'") != std::string::npos);
    CHECK(cli("eval '" + dir.string() + "' --record '" + (dir / "frames/").string() + "' --record-every 3", dir, &out,
              &err) != 0);
    CHECK(err.find("--record X.gif") != std::string::npos);
    CHECK(cli("eval '" + dir.string() + "' --record '" + gif.string() + "' --record-every 0", dir, &out, &err) != 0);
    CHECK_FALSE(fs::exists(dir / "x.mp4"));
    CHECK_FALSE(fs::exists(dir / "frames"));
  }
  fs::remove_all(dir);
}
