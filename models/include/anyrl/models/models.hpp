// Umbrella header for anyrl::models.
#pragma once
#include "anyrl/models/autoregressive.hpp"
#include "anyrl/models/critics.hpp"
#include "anyrl/models/diffusion.hpp"
#include "anyrl/models/policy.hpp"
#include "anyrl/models/tanh_gaussian.hpp"
