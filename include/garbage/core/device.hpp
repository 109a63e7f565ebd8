#pragma once
// Where models run: `train.device` and `--device` resolved once, with one error for every entry
// point that takes a device.

#include <string>

#include <c10/core/Device.h>

namespace garbage {

/// "cpu", "cuda", "cuda:N" or "auto" (the first GPU when this build and machine have one, else
/// the CPU). Throws ConfigError naming `setting` for any other name and for a GPU that this
/// build or machine does not have.
c10::Device resolve_device(const std::string& name, const std::string& setting);

}  // namespace garbage
