#include "gif_record.hpp"

#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <memory>
#include <stdexcept>
#include <string>
#include <tuple>
#include <vector>

#include "anyrl/envs/gif.hpp"

// PNG decoding of the trainer's frames (stb_image, compiled in with internal linkage).
#define STB_IMAGE_STATIC
#define STB_IMAGE_IMPLEMENTATION
#define STBI_ONLY_PNG
#if __has_include(<stb/stb_image.h>)
#include <stb/stb_image.h>
#else
#include <stb_image.h>
#endif

namespace anyrl::app {
namespace fs = std::filesystem;

namespace {

struct FrameFile {
  long long episode = 0;
  long long step = 0;
  fs::path path;
};

// "ep<E>_<S>.png" -> (E, S); false for other names.
bool parse_frame_name(const std::string& name, long long& ep, long long& step) {
  char tail = 0;
  if (std::sscanf(name.c_str(), "ep%lld_%lld.pn%c", &ep, &step, &tail) != 3 || tail != 'g') return false;
  return name.size() > 4 && name.compare(name.size() - 4, 4, ".png") == 0;
}

struct RemoveDir {
  fs::path dir;
  ~RemoveDir() {
    std::error_code ec;
    fs::remove_all(dir, ec);
  }
};

}  // namespace

void check_gif_destination(const fs::path& out) {
  fs::path parent = out.parent_path();
  if (parent.empty()) parent = ".";
  std::error_code ec;
  if (!fs::is_directory(parent, ec))
    throw std::invalid_argument("--record " + out.string() + ": folder '" + parent.string() + "' does not exist");
  if (::access(parent.c_str(), W_OK) != 0)
    throw std::invalid_argument("--record " + out.string() + ": cannot write into '" + parent.string() +
                                "': " + std::strerror(errno));
  if (fs::is_directory(out, ec))
    throw std::invalid_argument("--record " + out.string() + ": is a folder");
}

GifRecordResult record_gif(rl::Trainer& trainer, const fs::path& out, const GifRecordOptions& opt) {
  if (opt.every < 1) throw std::invalid_argument("--record-every must be >= 1");
  check_gif_destination(out);
  static std::atomic<int> counter{0};
  RemoveDir tmp{fs::temp_directory_path() /
                ("anyrl_gif_" + std::to_string(::getpid()) + "_" + std::to_string(counter++))};
  fs::remove_all(tmp.dir);
  GifRecordResult res;
  res.eval = trainer.record_frames(tmp.dir, opt.episodes, opt.size);

  std::vector<FrameFile> files;
  for (const auto& e : fs::directory_iterator(tmp.dir)) {
    FrameFile f;
    if (parse_frame_name(e.path().filename().string(), f.episode, f.step)) {
      f.path = e.path();
      files.push_back(std::move(f));
    }
  }
  std::sort(files.begin(), files.end(),
            [](const FrameFile& a, const FrameFile& b) { return std::tie(a.episode, a.step) < std::tie(b.episode, b.step); });
  if (files.empty()) throw std::runtime_error("--record " + out.string() + ": the rollout produced no frame");

  envs::GifWriter gif(out.string(), opt.size, opt.size, opt.delay_cs);
  for (std::size_t i = 0; i < files.size(); ++i) {
    const bool last_of_episode = i + 1 == files.size() || files[i + 1].episode != files[i].episode;
    if (files[i].step % opt.every != 0 && !last_of_episode) continue;
    int w = 0, h = 0, ch = 0;
    std::unique_ptr<stbi_uc, void (*)(void*)> px(stbi_load(files[i].path.c_str(), &w, &h, &ch, 3), stbi_image_free);
    if (!px || w != opt.size || h != opt.size)
      throw std::runtime_error("--record: cannot read back frame '" + files[i].path.string() + "'");
    gif.add_frame({px.get(), static_cast<std::size_t>(w) * h * 3});
  }
  gif.finish();
  res.frames = gif.frames();
  return res;
}

}  // namespace anyrl::app
