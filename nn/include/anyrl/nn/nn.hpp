// Umbrella header for anyrl::nn.
#pragma once
#include "anyrl/nn/attention.hpp"
#include "anyrl/nn/conv.hpp"
#include "anyrl/nn/init.hpp"
#include "anyrl/nn/layers.hpp"
#include "anyrl/nn/module.hpp"
