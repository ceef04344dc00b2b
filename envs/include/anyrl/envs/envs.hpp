// Umbrella header for anyrl::envs.
#pragma once
#include "anyrl/envs/collect.hpp"
#include "anyrl/envs/dataset.hpp"
#include "anyrl/envs/env.hpp"
#include "anyrl/envs/hdf5_io.hpp"
#include "anyrl/envs/image.hpp"
#include "anyrl/envs/kitchen.hpp"
#include "anyrl/envs/pendulum.hpp"
#include "anyrl/envs/pixels.hpp"
#include "anyrl/envs/pointmaze.hpp"
#include "anyrl/envs/registry.hpp"
#include "anyrl/envs/vector_env.hpp"
