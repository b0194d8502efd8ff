// The bad protocol lines of docs/bad-inputs.md, each fed to a worker's
// Dispatcher in-process (over a recording backend), checking the one event
// it answers with, that the worker goes on, and that nothing was published.
#include <gtest/gtest.h>

#include <cstdint>
#include <limits>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "dispatcher.hpp"
#include "event_sink.hpp"
#include "pjx/errors.hpp"

namespace pjx::harness {
namespace {

using nlohmann::json;

// Records publishes; throws BackendError when told to.
class RecordingBackend final : public InvalidationBackend {
 public:
  void publish(const KeySet& keys) override {
    if (fail) throw BackendError("database is locked (pjx.db)", 5);
    published.push_back(keys);
  }
  void start(InvalidationHandler, FlushHandler) override { started = true; }
  void stop() override { started = false; }

  std::vector<KeySet> published;
  bool fail = false;
  bool started = false;
};

class BadProtocolLines : public ::testing::Test {
 protected:
  BadProtocolLines()
      : sink_([this](std::string_view line) {
          lines_.emplace_back(line);
          return true;
        }) {
    WorkerBackend wb;
    wb.backend = backend_;
    wb.caps = {};
    wb.impl = "test";
    dispatcher_ = std::make_unique<Dispatcher>(std::move(wb), sink_);
  }

  // Sends `line`; expects exactly one event, returns it, and checks the
  // worker goes on (the line did not end it).
  json answer(const std::string& line) {
    lines_.clear();
    EXPECT_EQ(dispatcher_->handle_line(line), Dispatcher::Next::kContinue) << line;
    EXPECT_EQ(lines_.size(), 1u) << line;
    if (lines_.empty()) return json();
    EXPECT_EQ(lines_[0].back(), '\n');
    return json::parse(lines_[0]);
  }

  // Expects an `error` event with bad_line: true and a message containing `why`.
  void expect_bad_line(const std::string& line, const std::string& why) {
    SCOPED_TRACE(line);
    const json ev = answer(line);
    EXPECT_EQ(ev.value("ev", ""), "error");
    EXPECT_EQ(ev.value("bad_line", false), true);
    EXPECT_FALSE(ev.contains("id"));
    EXPECT_NE(ev.value("message", "").find(why), std::string::npos) << ev.dump();
  }

  // Expects an `error` event for the op, with `id` when given, a message
  // containing `why`, and `unsupported` as given.
  json expect_op_error(const std::string& line, std::optional<std::int64_t> id,
                       const std::string& why, bool unsupported = false) {
    SCOPED_TRACE(line);
    const json ev = answer(line);
    EXPECT_EQ(ev.value("ev", ""), "error");
    EXPECT_FALSE(ev.contains("bad_line"));
    if (id) {
      EXPECT_EQ(ev.value("id", std::int64_t{-999}), *id);
    } else {
      EXPECT_FALSE(ev.contains("id"));
    }
    EXPECT_NE(ev.value("message", "").find(why), std::string::npos) << ev.dump();
    EXPECT_EQ(ev.value("unsupported", false), unsupported);
    return ev;
  }

  std::shared_ptr<RecordingBackend> backend_ = std::make_shared<RecordingBackend>();
  std::vector<std::string> lines_;
  EventSink sink_;
  std::unique_ptr<Dispatcher> dispatcher_;
};

TEST_F(BadProtocolLines, BlankLinesAreIgnoredWithoutAnAnswer) {
  for (const char* line : {"", " ", "\t\r", "   \t  "}) {
    lines_.clear();
    EXPECT_EQ(dispatcher_->handle_line(line), Dispatcher::Next::kContinue);
    EXPECT_TRUE(lines_.empty()) << "answered a blank line";
  }
}

TEST_F(BadProtocolLines, TextThatIsNotJsonIsABadLine) {
  expect_bad_line("this is not json", "not valid JSON");
  expect_bad_line(R"({"op":"start")", "not valid JSON");        // truncated object
  expect_bad_line(R"({"op":"start"} {"op":"stop"})", "not valid JSON");  // two objects on a line
  expect_bad_line(R"({"op":"start",})", "not valid JSON");      // trailing comma
  expect_bad_line(std::string("{\"op\":\"ping\"}\0x", 15), "not valid JSON");  // NUL byte
  expect_bad_line(R"({"op":"ping","id":7E036854775807})", "not valid JSON");  // overflows a double
}

TEST_F(BadProtocolLines, BytesThatAreNotUtf8AreABadLine) {
  expect_bad_line("{\"op\":\"publish\",\"id\":1,\"keys\":[\"\xff\"]}", "not valid JSON");
  expect_bad_line("{\"op\":\"publish\",\"id\":1,\"keys\":[\"\xc0\x80\"]}", "not valid JSON");  // overlong
  expect_bad_line(R"({"op":"publish","id":1,"keys":["\ud800"]})", "not valid JSON");  // lone surrogate
  EXPECT_TRUE(backend_->published.empty());
}

TEST_F(BadProtocolLines, JsonThatIsNotAnObjectWithAStringOpIsABadLine) {
  expect_bad_line("[1,2]", "got a array");
  expect_bad_line("\"start\"", "got a string");
  expect_bad_line("42", "got a number");
  expect_bad_line("null", "got a null");
  expect_bad_line(R"({"id":1})", "no \"op\"");
  expect_bad_line(R"({"op":7})", "\"op\" must be a string");
  expect_bad_line(R"({"op":null})", "\"op\" must be a string");
  expect_bad_line(R"({"op":["start"]})", "\"op\" must be a string");
}

TEST_F(BadProtocolLines, DeeplyNestedJsonIsAnsweredWithoutExhaustingTheStack) {
  const std::string deep = std::string(100000, '[') + std::string(100000, ']');
  expect_bad_line(deep, "got a array");
  const std::string deep_field =
      R"({"op":"frobnicate","x":)" + std::string(100000, '[') + std::string(100000, ']') + "}";
  expect_op_error(deep_field, std::nullopt, "unknown op \"frobnicate\"", /*unsupported=*/true);
}

TEST_F(BadProtocolLines, AnUnknownOpIsUnsupportedAndEchoesItsId) {
  const json ev = expect_op_error(R"({"op":"frobnicate","id":7})", 7, "unknown op \"frobnicate\"",
                                  /*unsupported=*/true);
  EXPECT_EQ(ev.value("op", ""), "frobnicate");
  expect_op_error(R"({"op":""})", std::nullopt, "unknown op \"\"", /*unsupported=*/true);
  expect_op_error(R"({"op":"START"})", std::nullopt, "unknown op", /*unsupported=*/true);
}

TEST_F(BadProtocolLines, StatsWithoutTheStatsCapabilityIsUnsupported) {
  expect_op_error(R"({"op":"stats","id":2})", 2, "no \"stats\" capability", /*unsupported=*/true);
}

TEST_F(BadProtocolLines, AnIdThatIsNotASigned64BitIntegerIsAnErrorForAnyOp) {
  expect_op_error(R"({"op":"ping","id":"7"})", std::nullopt, "\"id\" must be an integer");
  expect_op_error(R"({"op":"ping","id":1.5})", std::nullopt, "\"id\" must be an integer");
  expect_op_error(R"({"op":"ping","id":null})", std::nullopt, "\"id\" must be an integer");
  expect_op_error(R"({"op":"ping","id":9223372036854775808})", std::nullopt,
                  "does not fit a signed 64-bit integer");
  // Even `stop` is not obeyed with a bad id: the worker answers and goes on.
  expect_op_error(R"({"op":"stop","id":"x"})", std::nullopt, "\"id\" must be an integer");
  // The extremes that do fit are accepted.
  EXPECT_EQ(answer(R"({"op":"ping","id":-9223372036854775808})").value("id", std::int64_t{0}),
            std::numeric_limits<std::int64_t>::min());
  EXPECT_EQ(answer(R"({"op":"ping","id":9223372036854775807})").value("id", std::int64_t{0}),
            std::numeric_limits<std::int64_t>::max());
}

TEST_F(BadProtocolLines, APublishWithoutAnIdIsRefusedAndPublishesNothing) {
  expect_op_error(R"({"op":"publish","keys":["a"]})", std::nullopt,
                  "publish needs an integer \"id\"");
  expect_op_error(R"({"op":"publish","id":"3","keys":["a"]})", std::nullopt,
                  "\"id\" must be an integer");
  EXPECT_TRUE(backend_->published.empty());
}

TEST_F(BadProtocolLines, APublishWithBadKeysIsRefusedNamingTheProblemAndPublishesNothing) {
  expect_op_error(R"({"op":"publish","id":3})", 3, "missing \"keys\"");
  expect_op_error(R"({"op":"publish","id":3,"keys":"user:1"})", 3, "must be an array of strings");
  expect_op_error(R"({"op":"publish","id":3,"keys":{"a":1}})", 3, "must be an array of strings");
  expect_op_error(R"({"op":"publish","id":3,"keys":null})", 3, "must be an array of strings");
  expect_op_error(R"({"op":"publish","id":3,"keys":["a",1]})", 3, "\"keys\"[1] must be a string");
  expect_op_error(R"({"op":"publish","id":3,"keys":[["a"]]})", 3, "\"keys\"[0] must be a string");
  EXPECT_TRUE(backend_->published.empty());
}

TEST_F(BadProtocolLines, AnEmptyKeysArrayIsANoOpThatAnswersPublished) {
  const json ev = answer(R"({"op":"publish","id":4,"keys":[]})");
  EXPECT_EQ(ev.value("ev", ""), "published");
  EXPECT_EQ(ev.value("id", 0), 4);
}

TEST_F(BadProtocolLines, APublishTheBackendRefusesIsAnErrorWithItsIdAndMessage) {
  backend_->fail = true;
  expect_op_error(R"({"op":"publish","id":5,"keys":["a"]})", 5, "database is locked");
  backend_->fail = false;
  EXPECT_EQ(answer(R"({"op":"publish","id":6,"keys":["a"]})").value("ev", ""), "published")
      << "the worker goes on after a failed publish";
}

TEST_F(BadProtocolLines, UnknownFieldsAndDuplicateNamesDoNotChangeTheOp) {
  // Extra fields are ignored.
  EXPECT_EQ(answer(R"({"op":"ping","id":1,"colour":"red"})").value("ev", ""), "pong");
  // A duplicated name keeps one value (nlohmann::json keeps the last one).
  const json ev = answer(R"({"op":"ping","id":1,"id":2})");
  EXPECT_EQ(ev.value("ev", ""), "pong");
  EXPECT_EQ(ev.value("id", 0), 2);
}

TEST_F(BadProtocolLines, KeysWithControlCharactersAndEscapesArePublishedAsDecoded) {
  EXPECT_EQ(answer(R"({"op":"publish","id":8,"keys":["a\u0000b","\n","\u00e9"]})").value("ev", ""),
            "published");
  ASSERT_EQ(backend_->published.size(), 1u);
  EXPECT_EQ(backend_->published[0], (KeySet{std::string("a\0b", 3), "\n", "\xc3\xa9"}));
}

}  // namespace
}  // namespace pjx::harness
