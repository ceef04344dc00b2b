// Sub-commands of the `anyrl` program. Each takes the arguments after its name and returns
// the process exit code; errors are reported on stderr with a non-zero code.
#pragma once
#include <string>
#include <vector>

namespace anyrl::app {

using Args = std::vector<std::string>;

int cmd_demo(const Args& args);     // PA-RL demo (main job); `demo engine`: MLP regression
int cmd_collect(const Args& args);  // generate an offline dataset (envs)
int cmd_info(const Args& args);     // describe a dataset file or the build
int cmd_plot(const Args& args);     // learning curves (mean ± s.e. over seeds) from run folders
int cmd_train(const Args& args);    // BC -> offline -> online training into a run folder (rl)
int cmd_eval(const Args& args);     // evaluate a run folder's latest checkpoint (rl)

}  // namespace anyrl::app
