// The committed Guangzhou default (config/), loaded once per test process and shared by every test
// that reads it.

#ifndef TESTS_SUPPORT_GUANGZHOU_H_
#define TESTS_SUPPORT_GUANGZHOU_H_

#include <catch2/catch.hpp>
#include <string>
#include <utility>

#include "absl/status/statusor.h"
#include "engine/config/city_data.h"

namespace gz::testing {

// REQUIRES: DISPATCH_CONFIG_DIR (the test_support target defines it). Fails the test if the
// dataset does not load.
inline const CityData& GuangzhouDefault() {
  static const CityData* const city = [] {
    absl::StatusOr<CityData> loaded = LoadCityData(DISPATCH_CONFIG_DIR);
    if (!loaded.ok()) FAIL("LoadCityData: " << loaded.status().ToString());
    return new CityData(*std::move(loaded));
  }();
  return *city;
}

}  // namespace gz::testing

#endif  // TESTS_SUPPORT_GUANGZHOU_H_
