#include "scenario_writer.hpp"

#include <cstdio>
#include <sstream>

namespace pjx::harness {
namespace {

std::string string_array(const std::vector<std::string>& items) {
  std::string out = "[";
  for (std::size_t i = 0; i < items.size(); ++i) out += (i == 0 ? "" : ", ") + toml_string(items[i]);
  return out + "]";
}

std::string duration(const Duration& d) {
  if (!d.text.empty()) return toml_string(d.text);
  // A duration built in code without its text: its parts, as a sum.
  std::string text;
  auto part = [&](double n, const char* unit) {
    if (n == 0) return;
    char buf[64];
    std::snprintf(buf, sizeof buf, "%.17g%s", n, unit);
    text += (text.empty() ? "" : " + ") + std::string(buf);
  };
  part(d.ms, "ms");
  part(d.poll, " poll");
  part(d.retention, " retention");
  part(d.busy, " busy");
  return toml_string(text.empty() ? "0ms" : text);
}

void write_worker(std::ostream& out, const WorkerSpec& w) {
  out << "\n[[worker]]\nname = " << toml_string(w.name) << "\n";
  if (!w.channel.empty()) out << "channel = " << toml_string(w.channel) << "\n";
  if (w.db) out << "db = " << toml_string(*w.db) << "\n";
  if (w.cmd) out << "cmd = " << toml_string(*w.cmd) << "\n";
  if (!w.env.empty()) {
    out << "env = { ";
    bool first = true;
    for (const auto& [k, v] : w.env) {
      out << (first ? "" : ", ") << toml_string(k) << " = " << toml_string(v);
      first = false;
    }
    out << " }\n";
  }
  if (w.start_at) out << "start_at = " << duration(*w.start_at) << "\n";
  if (w.faketime) out << "faketime = true\n";
  if (w.inotify_instances) out << "inotify_instances = " << *w.inotify_instances << "\n";
  if (w.expect_fatal) out << "expect_fatal = true\nwhy = " << toml_string(w.why) << "\n";
}

void write_fault(std::ostream& out, const FaultSpec& f) {
  out << "\n[[fault]]\naction = " << toml_string(f.action) << "\n";
  if (!f.worker.empty()) out << "worker = " << toml_string(f.worker) << "\n";
  out << "at = " << duration(f.at) << "\n";
  if (f.duration) out << "duration = " << duration(*f.duration) << "\n";
  if (f.during_publish) out << "during_publish = true\n";
  if (f.sidecars) out << "sidecars = true\n";
  if (f.keep > 0) out << "keep = " << f.keep << "\n";
  if (f.action == "clock_step") out << "offset = " << toml_string(f.offset) << "\n";
  if (!f.hosts.empty()) out << "hosts = " << string_array(f.hosts) << "\n";
  if (f.action == "partition") out << "direction = " << toml_string(f.direction) << "\n";
  if (f.abort_server_side) out << "abort_server_side = true\n";
}

}  // namespace

std::string toml_string(const std::string& text) {
  std::string out = "\"";
  for (const char ch : text) {
    const auto c = static_cast<unsigned char>(ch);
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\t': out += "\\t"; break;
      case '\r': out += "\\r"; break;
      default:
        if (c < 0x20 || c == 0x7f) {
          char buf[8];
          std::snprintf(buf, sizeof buf, "\\u%04x", c);
          out += buf;
        } else {
          out += ch;
        }
    }
  }
  return out + "\"";
}

std::string scenario_to_toml(const Scenario& s, const std::string& header) {
  std::ostringstream out;
  if (!header.empty()) {
    std::istringstream lines(header);
    for (std::string line; std::getline(lines, line);) out << (line.empty() ? "#" : "# " + line) << "\n";
  }
  out << "name = " << toml_string(s.name) << "\n";
  out << "guarantee = " << toml_string(s.guarantee) << "\n";
  out << "checks = " << string_array(s.checks) << "\n";
  if (s.expect != "pass") out << "expect = " << toml_string(s.expect) << "\n";
  if (!s.requires_caps.empty()) out << "requires = " << string_array(s.requires_caps) << "\n";
  if (s.backends != std::vector<std::string>{"sqlite"}) out << "backends = " << string_array(s.backends) << "\n";
  if (s.timing) out << "timing = " << toml_string(*s.timing) << "\n";
  if (s.quiesce_timeout) out << "quiesce_timeout = " << duration(*s.quiesce_timeout) << "\n";
  if (s.hosts) out << "hosts = true\n";
  for (const WorkerSpec& w : s.workers) write_worker(out, w);
  if (s.workload) {
    const WorkloadSpec& w = *s.workload;
    out << "\n[workload]\npublishes = " << w.publishes << "\n";
    if (w.interval) out << "interval = " << duration(*w.interval) << "\n";
    if (w.rate) out << "rate = " << *w.rate << "\n";
    out << "start = " << duration(w.start) << "\n";
    if (!w.publishers.empty()) out << "publishers = " << string_array(w.publishers) << "\n";
    out << "shared_keys = " << w.shared_keys << "\nkey_space = " << w.key_space << "\n";
    if (w.pad_bytes > 0) out << "pad_bytes = " << w.pad_bytes << "\n";
    if (w.together > 1) out << "together = " << w.together << "\n";
  }
  if (s.reads) {
    const ReadsSpec& r = *s.reads;
    out << "\n[reads]\nops = " << r.ops << "\nstart = " << duration(r.start)
        << "\ninterval = " << duration(r.interval) << "\nkeys = " << r.keys
        << "\nhot_percent = " << r.hot_percent << "\nwrite_percent = " << r.write_percent << "\n";
    if (!r.readers.empty()) out << "readers = " << string_array(r.readers) << "\n";
    if (!r.writers.empty()) out << "writers = " << string_array(r.writers) << "\n";
    out << "races = " << r.races << "\nslow = " << duration(r.slow) << "\nbursts = " << r.bursts
        << "\nburst_size = " << r.burst_size << "\n";
  }
  for (const DataOpSpec& op : s.data_ops) {
    out << "\n[[" << (op.write ? "write" : "read") << "]]\nat = " << duration(op.at)
        << "\nworker = " << toml_string(op.worker) << "\nkey = " << toml_string(op.key) << "\n";
    if (!op.keys.empty()) out << "keys = " << string_array(op.keys) << "\n";
    if (op.slow) out << "slow = " << duration(*op.slow) << "\n";
  }
  for (const PublishSpec& p : s.publishes) {
    out << "\n[[publish]]\nat = " << duration(p.at) << "\n";
    if (!p.worker.empty()) out << "worker = " << toml_string(p.worker) << "\n";
    if (!p.keys.empty()) out << "keys = " << string_array(p.keys) << "\n";
    if (p.await) out << "await = true\n";
  }
  for (const FaultSpec& f : s.faults) write_fault(out, f);
  for (const FileSpec& f : s.files) {
    out << "\n[[file]]\npath = " << toml_string(f.path) << "\n";
    if (f.link.empty()) {
      out << "text = " << toml_string(f.text) << "\n";
    } else {
      out << "link = " << toml_string(f.link) << "\n";
    }
  }
  for (const MountSpec& m : s.mounts) {
    out << "\n[[mount]]\npath = " << toml_string(m.path) << "\nfs = " << toml_string(m.fs) << "\n";
  }
  if (!s.check_params.empty()) {
    for (const auto& [check, params] : s.check_params.items()) {
      out << "\n[check_params." << check << "]\n";
      for (const auto& [k, v] : params.items()) {
        out << k << " = " << (v.is_string() ? toml_string(v.get<std::string>()) : v.dump()) << "\n";
      }
    }
  }
  return out.str();
}

}  // namespace pjx::harness
