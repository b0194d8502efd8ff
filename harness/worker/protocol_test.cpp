// Tests of the worker's line codec (protocol.hpp) and event sink.
#include "protocol.hpp"

#include <gtest/gtest.h>

#include <string>
#include <thread>
#include <vector>

#include "event_sink.hpp"

namespace pjx::harness {
namespace {

using nlohmann::json;

Op as_op(const ParsedLine& parsed) {
  const Op* op = std::get_if<Op>(&parsed);
  EXPECT_NE(op, nullptr) << "expected an op, got bad line: "
                         << (op ? "" : std::get<BadLine>(parsed).message);
  return op != nullptr ? *op : Op{};
}

TEST(ProtocolParse, ReadsOpNameIdAndFields) {
  const Op op = as_op(parse_line(R"({"op":"publish","id":17,"keys":["a"]})"));
  EXPECT_EQ(op.name, "publish");
  ASSERT_TRUE(op.id.has_value());
  EXPECT_EQ(*op.id, 17);
  EXPECT_TRUE(op.id_error.empty());
  EXPECT_EQ(op.fields["keys"], json::array({"a"}));
}

TEST(ProtocolParse, ToleratesCarriageReturnAndMissingId) {
  const Op op = as_op(parse_line("{\"op\":\"start\"}\r"));
  EXPECT_EQ(op.name, "start");
  EXPECT_FALSE(op.id.has_value());
  EXPECT_TRUE(op.id_error.empty());
}

TEST(ProtocolParse, LinesThatAreNotOpsAreBadLinesSayingWhy) {
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"not json", "not valid JSON"},
      {R"({"op":"start")", "not valid JSON"},
      {"[1,2]", "got a array"},
      {"\"start\"", "got a string"},
      {R"({"id":1})", "no \"op\""},
      {R"({"op":7})", "\"op\" must be a string"},
      {"{\"op\":\"start\",\"x\":\"\xff\"}", "not valid JSON"},  // not UTF-8
  };
  for (const auto& [line, expected] : cases) {
    const ParsedLine parsed = parse_line(line);
    const BadLine* bad = std::get_if<BadLine>(&parsed);
    ASSERT_NE(bad, nullptr) << line;
    EXPECT_NE(bad->message.find(expected), std::string::npos)
        << "line " << line << " gave: " << bad->message;
  }
}

TEST(ProtocolParse, NonIntegerIdIsAnOpErrorNotABadLine) {
  for (const char* line : {R"({"op":"ping","id":"7"})", R"({"op":"ping","id":1.5})",
                           R"({"op":"ping","id":18446744073709551615})"}) {
    const Op op = as_op(parse_line(line));
    EXPECT_EQ(op.name, "ping");
    EXPECT_FALSE(op.id.has_value()) << line;
    EXPECT_FALSE(op.id_error.empty()) << line;
  }
  const Op negative = as_op(parse_line(R"({"op":"ping","id":-3})"));
  EXPECT_EQ(negative.id, -3);
}

TEST(ProtocolParse, BlankLinesAreRecognised) {
  EXPECT_TRUE(is_blank(""));
  EXPECT_TRUE(is_blank(" \t\r"));
  EXPECT_FALSE(is_blank(" {}"));
}

TEST(ProtocolKeys, AcceptsArraysOfStringsAndCollapsesDuplicates) {
  const KeySet keys = parse_keys(json{{"keys", {"b", "a", "b"}}});
  EXPECT_EQ(keys, (KeySet{"a", "b"}));
  EXPECT_TRUE(parse_keys(json{{"keys", json::array()}}).empty());
}

TEST(ProtocolKeys, RejectsMalformedKeysNamingTheProblem) {
  const std::vector<std::pair<json, std::string>> cases = {
      {json::object(), "missing \"keys\""},
      {json{{"keys", "a"}}, "must be an array"},
      {json{{"keys", {"a", 1}}}, "\"keys\"[1] must be a string"},
      {json{{"keys", {"a", nullptr}}}, "\"keys\"[1]"},
  };
  for (const auto& [fields, expected] : cases) {
    try {
      parse_keys(fields);
      ADD_FAILURE() << "accepted " << fields.dump();
    } catch (const std::invalid_argument& e) {
      EXPECT_NE(std::string(e.what()).find(expected), std::string::npos) << e.what();
    }
  }
}

TEST(ProtocolUnicode, KeysRoundTripFromEscapesAndRawUtf8) {
  // "é" escaped, "😀" as a surrogate pair escape, and both raw.
  const std::string line =
      "{\"op\":\"publish\",\"id\":1,\"keys\":[\"\\u00e9\",\"\\ud83d\\ude00\","
      "\"caf\xc3\xa9\",\"\xf0\x9f\x98\x80!\"]}";
  const KeySet keys = parse_keys(as_op(parse_line(line)).fields);
  const KeySet expected{"\xc3\xa9", "\xf0\x9f\x98\x80", "caf\xc3\xa9", "\xf0\x9f\x98\x80!"};
  EXPECT_EQ(keys, expected);

  json event = make_event("received", 5);
  event["keys"] = keys;
  const std::string out = format_event(event);
  ASSERT_FALSE(out.empty());
  EXPECT_EQ(out.back(), '\n');
  EXPECT_EQ(out.find('\n'), out.size() - 1) << "one line only";
  EXPECT_NE(out.find("\xf0\x9f\x98\x80"), std::string::npos) << "raw UTF-8, not escaped: " << out;
  const json back = json::parse(out);
  EXPECT_EQ(back["ev"], "received");
  EXPECT_EQ(back["t"], 5);
  EXPECT_EQ(back["keys"].get<KeySet>(), expected);
}

TEST(ProtocolFormat, InvalidUtf8InAMessageIsReplacedNotThrown) {
  json event = make_event("error");
  event["message"] = std::string("cannot open \"/x/\xff\xfe.db\"\nsecond line");
  std::string out;
  ASSERT_NO_THROW(out = format_event(event));
  EXPECT_EQ(out.find('\n'), out.size() - 1) << "newline in a message must be escaped";
  const json back = json::parse(out);
  EXPECT_NE(back["message"].get<std::string>().find("\xef\xbf\xbd"), std::string::npos);
}

TEST(ProtocolFormat, MakeEventOmitsTimeWhenNotGiven) {
  EXPECT_EQ(make_event("fatal"), (json{{"ev", "fatal"}}));
  EXPECT_EQ(make_event("pong", 3), (json{{"ev", "pong"}, {"t", 3}}));
}

TEST(ProtocolClock, MonotonicNanosecondsNeverGoBack) {
  const std::int64_t a = monotonic_ns();
  const std::int64_t b = monotonic_ns();
  EXPECT_GT(a, 0);
  EXPECT_GE(b, a);
}

TEST(EventSink, LinesFromManyThreadsNeverInterleave) {
  std::vector<std::string> lines;
  EventSink sink([&lines](std::string_view line) {
    // Appends in two steps, so that unserialised callers would interleave.
    lines.emplace_back(line.substr(0, line.size() / 2));
    lines.back() += line.substr(line.size() / 2);
    return true;
  });
  constexpr int kThreads = 4;
  constexpr int kEach = 500;
  std::vector<std::thread> threads;
  for (int i = 0; i < kThreads; ++i) {
    threads.emplace_back([&sink, i] {
      for (int n = 0; n < kEach; ++n) {
        json event = make_event("received", n);
        event["keys"] = {std::to_string(i) + ":" + std::string(64, 'x')};
        sink.emit(event);
      }
    });
  }
  for (auto& t : threads) t.join();
  ASSERT_EQ(lines.size(), static_cast<std::size_t>(kThreads * kEach));
  for (const auto& line : lines) {
    ASSERT_EQ(line.back(), '\n');
    EXPECT_FALSE(json::parse(line, nullptr, false).is_discarded()) << line;
  }
}

}  // namespace
}  // namespace pjx::harness
