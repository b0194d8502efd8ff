#include "check/history.hpp"

#include <time.h>

#include <cerrno>
#include <cstring>
#include <stdexcept>
#include <string>
#include <utility>

namespace pjx::harness {
namespace {

// Why `record` is not a history record, or empty when it is one.
std::string record_problem(const Json& record) {
  if (!record.is_object()) return "not a JSON object";
  auto type = record.find("type");
  if (type == record.end() || !type->is_string()) return "no string \"type\"";
  auto t = record.find("t");
  if (t == record.end() || !t->is_number_integer()) return "no integer \"t\"";
  return {};
}

}  // namespace

std::int64_t monotonic_ns() {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<std::int64_t>(ts.tv_sec) * 1'000'000'000 + ts.tv_nsec;
}

HistoryWriter::HistoryWriter(std::filesystem::path file) : path_(std::move(file)) {
  out_.open(path_, std::ios::out | std::ios::trunc | std::ios::binary);
  if (!out_) {
    throw std::runtime_error("cannot create history file " + path_.string() + ": " +
                             std::strerror(errno));
  }
}

void HistoryWriter::append(Json record) {
  if (std::string problem = record_problem(record); !problem.empty()) {
    throw std::invalid_argument("history record has " + problem + ": " +
                                record.dump(-1, ' ', false, Json::error_handler_t::replace));
  }
  out_ << record.dump(-1, ' ', false, Json::error_handler_t::replace) << '\n';
  out_.flush();
  if (!out_) {
    throw std::runtime_error("cannot write history file " + path_.string() + ": " +
                             std::strerror(errno));
  }
  records_.push_back(std::move(record));
}

std::vector<Json> load_history(const std::filesystem::path& file) {
  std::ifstream in(file, std::ios::binary);
  if (!in) {
    throw std::runtime_error("cannot read history file " + file.string() + ": " +
                             std::strerror(errno));
  }
  std::vector<Json> records;
  std::string line;
  std::size_t line_no = 0;
  while (std::getline(in, line)) {
    ++line_no;
    if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
    const std::string where = file.string() + ":" + std::to_string(line_no) + ": ";
    Json record;
    try {
      record = Json::parse(line);
    } catch (const Json::exception& e) {
      throw std::runtime_error(where + "not valid JSON (" + e.what() + ")");
    }
    if (std::string problem = record_problem(record); !problem.empty()) {
      throw std::runtime_error(where + "history record has " + problem);
    }
    if (records.empty() && record["type"] != "meta") {
      throw std::runtime_error(where + "the first record must be \"meta\", found \"" +
                               record["type"].get<std::string>() + "\" (is this a history file?)");
    }
    records.push_back(std::move(record));
  }
  if (in.bad()) {
    throw std::runtime_error("cannot read history file " + file.string() + ": " +
                             std::strerror(errno));
  }
  if (records.empty()) {
    throw std::runtime_error(file.string() + ": empty history, expected a \"meta\" record first");
  }
  return records;
}

}  // namespace pjx::harness
