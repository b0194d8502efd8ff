#include "command_line.hpp"

#include <stdexcept>

namespace pjx::harness {
namespace {

bool is_space(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }

std::string where(std::string_view command, std::size_t pos) {
  return "at character " + std::to_string(pos + 1) + " of \"" + std::string(command) + "\"";
}

}  // namespace

std::vector<std::string> split_command_line(std::string_view command) {
  std::vector<std::string> words;
  std::string word;
  bool in_word = false;  // a word was started, possibly by an empty quote pair
  std::size_t i = 0;
  while (i < command.size()) {
    const char c = command[i];
    if (is_space(c)) {
      if (in_word) words.push_back(std::move(word));
      word.clear();
      in_word = false;
      ++i;
    } else if (c == '\\') {
      if (i + 1 >= command.size()) {
        throw std::invalid_argument("trailing backslash " + where(command, i) +
                                    ": escape it as \\\\ or quote it");
      }
      word += command[i + 1];
      in_word = true;
      i += 2;
    } else if (c == '\'') {
      const std::size_t close = command.find('\'', i + 1);
      if (close == std::string_view::npos) {
        throw std::invalid_argument("unterminated single quote " + where(command, i));
      }
      word.append(command.substr(i + 1, close - i - 1));
      in_word = true;
      i = close + 1;
    } else if (c == '"') {
      std::size_t j = i + 1;
      bool closed = false;
      while (j < command.size()) {
        const char d = command[j];
        if (d == '"') {
          closed = true;
          break;
        }
        if (d == '\\' && j + 1 < command.size()) {
          const char e = command[j + 1];
          if (e == '"' || e == '\\' || e == '$' || e == '`') {
            word += e;
            j += 2;
            continue;
          }
        }
        word += d;
        ++j;
      }
      if (!closed) throw std::invalid_argument("unterminated double quote " + where(command, i));
      in_word = true;
      i = j + 1;
    } else {
      word += c;
      in_word = true;
      ++i;
    }
  }
  if (in_word) words.push_back(std::move(word));
  return words;
}

std::string quote_word(std::string_view word) {
  if (word.empty()) return "''";
  bool safe = true;
  for (const char c : word) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                    c == '-' || c == '_' || c == '.' || c == '/' || c == ':' || c == '=' ||
                    c == ',' || c == '+' || c == '@' || c == '%';
    if (!ok) {
      safe = false;
      break;
    }
  }
  if (safe) return std::string(word);
  std::string out = "'";
  for (const char c : word) {
    if (c == '\'') {
      out += "'\\''";
    } else {
      out += c;
    }
  }
  out += '\'';
  return out;
}

std::string join_command_line(const std::vector<std::string>& words) {
  std::string out;
  for (const std::string& w : words) {
    if (!out.empty()) out += ' ';
    out += quote_word(w);
  }
  return out;
}

}  // namespace pjx::harness
