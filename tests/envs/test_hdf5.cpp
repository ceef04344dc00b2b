// D4RL-format HDF5 I/O: round trips, validation errors, and interop with Python's h5py.
#include <doctest/doctest.h>

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <limits>
#include <string>

#include "anyrl/envs/envs.hpp"

using namespace anyrl::envs;

namespace {

Dataset small(int64_t n = 50) {
  Dataset d;
  d.size = n;
  d.obs_dim = 3;
  d.action_dim = 2;
  for (int64_t i = 0; i < n; ++i) {
    for (int k = 0; k < 3; ++k) d.observations.push_back(0.25f * i + k);
    for (int k = 0; k < 3; ++k) d.next_observations.push_back(0.25f * (i + 1) + k);
    d.actions.push_back(std::sin(0.1f * i));
    d.actions.push_back(-0.5f);
    d.rewards.push_back(i % 10 == 9 ? 1.f : 0.f);
    d.terminals.push_back(i % 10 == 9);
    d.timeouts.push_back(i == n - 1);
  }
  d.infos["goal"] = {2, std::vector<float>(n * 2, 7.f)};
  d.infos["count"] = {1, std::vector<float>(n, 1.f)};
  d.metadata["env"] = "test-env";
  return d;
}

std::string tmp(const std::string& name) { return "envs_test_" + name + ".hdf5"; }

bool have_h5py() {
  static const bool ok = std::system("python3 -c 'import h5py, numpy' > /dev/null 2>&1") == 0;
  return ok;
}

int python(const std::string& script) {
  const std::string path = "envs_test_script.py";
  std::ofstream(path) << script;
  const int rc = std::system(("python3 " + path).c_str());
  std::remove(path.c_str());
  return rc;
}

template <class F>
std::string error_of(F&& f) {
  try {
    f();
  } catch (const DatasetError& e) {
    return e.what();
  }
  return "";
}

}  // namespace

TEST_CASE("round trip float32 and float64, infos and metadata") {
  const Dataset d = small();
  for (bool f64 : {false, true}) {
    WriteOptions w;
    w.float64 = f64;
    write_d4rl(tmp("rt"), d, w);
    const Dataset r = read_d4rl(tmp("rt"));
    CHECK(r.size == d.size);
    CHECK(r.obs_dim == 3);
    CHECK(r.observations == d.observations);
    CHECK(r.next_observations == d.next_observations);
    CHECK(r.actions == d.actions);
    CHECK(r.rewards == d.rewards);
    CHECK(r.terminals == d.terminals);
    CHECK(r.timeouts == d.timeouts);
    CHECK(r.infos.at("goal").dim == 2);
    CHECK(r.infos.at("goal").data == d.infos.at("goal").data);
    CHECK(r.metadata.at("env") == "test-env");
    CHECK(split_episodes(r).size() == 5);
  }
  std::remove(tmp("rt").c_str());
}

TEST_CASE("validation: NaN/Inf with index, action range policy, unreadable files") {
  Dataset d = small();
  d.observations[3 * 17 + 1] = std::numeric_limits<float>::quiet_NaN();
  const std::string msg = error_of([&] { write_d4rl(tmp("bad"), d, {}); });
  CHECK(msg.find("observations") != std::string::npos);
  CHECK(msg.find("index 17") != std::string::npos);

  d = small();
  d.actions[2 * 4] = 1.5f;
  d.actions[2 * 8 + 1] = -3.f;
  write_d4rl(tmp("range"), d, {});
  ReadOptions refuse;
  refuse.action_range = ActionRangePolicy::Refuse;
  const std::string m2 = error_of([&] { read_d4rl(tmp("range"), refuse); });
  CHECK(m2.find("actions") != std::string::npos);
  CHECK(m2.find("index 4") != std::string::npos);
  CHECK(m2.find(tmp("range")) != std::string::npos);
  std::string warning;
  ReadOptions clip;
  clip.warn = [&](const std::string& w) { warning = w; };
  const Dataset c = read_d4rl(tmp("range"), clip);
  CHECK(c.actions[8] == 1.f);
  CHECK(c.actions[17] == -1.f);
  CHECK(warning.find("clipped 2") != std::string::npos);
  std::remove(tmp("range").c_str());

  CHECK(error_of([] { read_d4rl("does-not-exist.hdf5"); }).find("cannot open") != std::string::npos);
  std::ofstream("envs_test_text.hdf5") << "not hdf5";
  CHECK(error_of([] { read_d4rl("envs_test_text.hdf5"); }).find("not an HDF5 file") != std::string::npos);
  std::remove("envs_test_text.hdf5");
}

TEST_CASE("a generated dataset survives write/read unchanged") {
  CollectOptions o;
  o.env = "kitchen-like-mixed";
  o.dataset = "mixed";
  o.size = 3000;
  const Dataset d = collect_dataset(o);
  write_d4rl(tmp("gen"), d);
  const Dataset r = read_d4rl(tmp("gen"));
  CHECK(r.observations == d.observations);
  CHECK(r.infos.at("completed").data == d.infos.at("completed").data);
  CHECK(r.metadata.at("dataset") == "mixed");
  std::remove(tmp("gen").c_str());
}

TEST_CASE("h5py interop: D4RL layout written by h5py is read; anyrl's file is read by h5py") {
  if (!have_h5py()) {
    MESSAGE("SKIPPED: python3 with h5py and numpy not available (python3 -m pip install h5py numpy)");
    return;
  }
  // h5py writes D4RL's exact layout: float32 observations/actions, float64 rewards (as some
  // D4RL files do), numpy bool terminals/timeouts, gzip-chunked arrays, infos/*, metadata/*.
  REQUIRE(python(R"PY(
import h5py, numpy as np
n = 1000
i = np.arange(n)
with h5py.File('envs_test_py.hdf5', 'w') as f:
    f.create_dataset('observations', data=np.stack([i * 0.5, -i * 0.25, i % 7], 1).astype(np.float32), chunks=(100, 3), compression='gzip')
    f.create_dataset('actions', data=np.stack([np.sin(i), np.cos(i)], 1).astype(np.float32))
    f.create_dataset('rewards', data=(i % 100 == 99).astype(np.float64))
    f.create_dataset('terminals', data=(i % 100 == 99))
    f.create_dataset('timeouts', data=(i % 250 == 249) & (i % 100 != 99), compression='gzip')
    f.create_dataset('infos/goal', data=np.ones((n, 2)), compression='gzip')
    f.create_dataset('infos/qpos', data=np.zeros((n, 15), dtype=np.float32))
    f.create_dataset('metadata/algorithm', data='SAC')
)PY") == 0);
  const Dataset d = read_d4rl("envs_test_py.hdf5");
  CHECK(d.size == 1000);
  CHECK(d.obs_dim == 3);
  CHECK(d.observations[3 * 10 + 0] == 5.f);
  CHECK(d.observations[3 * 10 + 1] == -2.5f);
  CHECK(d.observations[3 * 10 + 2] == 3.f);
  CHECK(d.actions[2 * 3] == doctest::Approx(std::sin(3.0)));
  CHECK(d.rewards[99] == 1.f);
  CHECK(d.terminals[99] == 1);
  CHECK(d.terminals[98] == 0);
  CHECK(d.timeouts[249] == 1);
  CHECK(d.infos.at("goal").dim == 2);
  CHECK(d.infos.at("qpos").dim == 15);
  CHECK(split_episodes(d).size() == 12);  // 10 terminals + timeouts at 249 and 749
  std::remove("envs_test_py.hdf5");

  // anyrl writes, h5py reads the same values and types.
  write_d4rl(tmp("to_py"), small());
  CHECK(python(R"PY(
import h5py, numpy as np, sys
f = h5py.File('envs_test_to_py.hdf5', 'r')
n = 50
i = np.arange(n)
ok = f['observations'].shape == (n, 3) and f['observations'].dtype == np.float32
ok &= np.array_equal(f['observations'][:, 0], (0.25 * i).astype(np.float32))
ok &= np.allclose(f['actions'][:, 0], np.sin(0.1 * i).astype(np.float32))
ok &= f['terminals'].dtype == np.bool_ and int(f['terminals'][:].sum()) == 5
ok &= bool(f['timeouts'][n - 1]) and f['rewards'].shape == (n,)
ok &= f['infos/goal'].shape == (n, 2) and f['next_observations'].shape == (n, 3)
ok &= f.attrs['env'] == 'test-env'
ok &= f['observations'].compression == 'gzip'
print('h5py read anyrl file:', 'OK' if ok else 'MISMATCH')
sys.exit(0 if ok else 1)
)PY") == 0);
  std::remove(tmp("to_py").c_str());
}

TEST_CASE("h5py-written malformed files give clear errors") {
  if (!have_h5py()) {
    MESSAGE("SKIPPED: python3 with h5py and numpy not available");
    return;
  }
  REQUIRE(python(R"PY(
import h5py, numpy as np
with h5py.File('envs_test_missing.hdf5', 'w') as f:
    f['observations'] = np.zeros((10, 2), np.float32)
    f['rewards'] = np.zeros(10, np.float32)
with h5py.File('envs_test_len.hdf5', 'w') as f:
    f['observations'] = np.zeros((10, 2), np.float32)
    f['actions'] = np.zeros((9, 1), np.float32)
    f['rewards'] = np.zeros(10, np.float32)
with h5py.File('envs_test_inf.hdf5', 'w') as f:
    f['observations'] = np.zeros((10, 2), np.float32)
    f['actions'] = np.zeros((10, 1), np.float32)
    r = np.zeros(10); r[6] = np.inf
    f['rewards'] = r
)PY") == 0);
  const std::string missing = error_of([] { read_d4rl("envs_test_missing.hdf5"); });
  CHECK(missing.find("missing required dataset 'actions'") != std::string::npos);
  CHECK(missing.find("envs_test_missing.hdf5") != std::string::npos);
  const std::string len = error_of([] { read_d4rl("envs_test_len.hdf5"); });
  CHECK(len.find("'actions' has 9 rows") != std::string::npos);
  const std::string inf = error_of([] { read_d4rl("envs_test_inf.hdf5"); });
  CHECK(inf.find("'rewards'") != std::string::npos);
  CHECK(inf.find("index 6") != std::string::npos);
  for (const char* f : {"envs_test_missing.hdf5", "envs_test_len.hdf5", "envs_test_inf.hdf5"}) std::remove(f);
}
