// Writes a Scenario back as a scenario file (scenarios/README.md's format),
// so that a generated plan (pjx-harness chaos) can be read, replayed with
// `pjx-harness run FILE` and edited by hand. parse_scenario() of the text
// gives the same scenario (durations as written, keys in the file's order).
//
// Thread safety: pure function.
#pragma once

#include <string>

#include "scenario.hpp"

namespace pjx::harness {

// `header` is written first as comment lines (each prefixed "# ").
std::string scenario_to_toml(const Scenario& scenario, const std::string& header = "");

// A TOML basic string: quoted, with \\ \" and control characters escaped.
std::string toml_string(const std::string& text);

}  // namespace pjx::harness
