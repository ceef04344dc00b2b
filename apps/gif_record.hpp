// `anyrl eval --record out.gif`: rolls out a run's policy and writes the frames as one animated
// GIF (envs::GifWriter: GIF89a, looping, fixed 256-colour palette).
//
// The trainer renders rollouts through Trainer::record_frames (PNG per step), so the frames are
// rendered into a private temporary folder, read back in (episode, step) order, thinned to every
// `every`-th step (plus each episode's last frame) and encoded; the folder is removed afterwards.
#pragma once
#include <cstdint>
#include <filesystem>

#include "anyrl/rl/trainer.hpp"

namespace anyrl::app {

struct GifRecordOptions {
  std::int64_t episodes = 1;  ///< episodes recorded one after the other
  int size = 256;             ///< frame width = height in pixels
  int every = 1;              ///< keep steps 0, every, 2*every, ... and each episode's last frame
  int delay_cs = 4;           ///< per-frame delay in 1/100 s
};

struct GifRecordResult {
  rl::EvalResult eval;  ///< evaluation of the recorded episodes
  int frames = 0;       ///< frames in the GIF
};

/// Throws std::invalid_argument for a path whose folder does not exist or is not writable
/// (checked before any rollout), std::runtime_error when writing fails.
void check_gif_destination(const std::filesystem::path& out);
GifRecordResult record_gif(rl::Trainer& trainer, const std::filesystem::path& out, const GifRecordOptions& opt);

}  // namespace anyrl::app
