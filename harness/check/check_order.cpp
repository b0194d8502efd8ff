// The order check (rule 20 in checkers.hpp): one publisher's invalidations
// reach each listener in the order it published them. Rows get their ids in
// commit order and listeners read them in id order (WIRE.md), and one
// worker's publishes are sequential, so a listener that sees them out of
// order reorders somewhere (an outbox retried out of order, a batch sorted
// by something else, threads delivering in parallel). A burst's publishes
// run on threads at once and have no order among themselves: left out. So
// is a delivery that comes after the file was restored, replaced or deleted
// once the publish had committed: it is a row of the file's earlier history
// read again (after the flush that such a fault causes, harmless), not the
// publish arriving.
#include <algorithm>
#include <map>

#include "check/check_support.hpp"

namespace pjx::harness::detail {

CheckResult check_order(const HistoryModel& m, const Json& /*params*/) {
  // Publisher incarnation -> its sequential publishes, in op order.
  std::map<std::size_t, std::vector<const Publish*>> by_publisher;
  for (const Publish& p : m.publishes) {
    // Only the op loop's publishes are sequential: not a burst's threads,
    // nor a handler's publishes from the listener thread.
    if (p.acked() && (p.op == "publish" || p.op == "write")) by_publisher[p.publisher].push_back(&p);
  }
  std::vector<const FaultWindow*> file_faults;
  for (const char* action : {"restore_db", "replace_db", "delete_db"}) {
    for (const FaultWindow* f : m.faults_named(action)) file_faults.push_back(f);
  }
  std::size_t pairs = 0;
  std::size_t checked = 0;
  std::size_t inversions = 0;
  Evidence evidence;
  for (auto& [publisher, list] : by_publisher) {
    std::stable_sort(list.begin(), list.end(),
                     [](const Publish* a, const Publish* b) { return a->t_op < b->t_op; });
    for (const Incarnation& r : m.incarnations) {
      if (r.index == publisher) continue;
      // The first delivery of each, in publish order.
      std::vector<std::pair<const Publish*, const Delivery*>> got;
      for (const Publish* p : list) {
        const auto& ds = m.deliveries_of(r.index, p->id);
        if (ds.empty()) continue;
        const Delivery& first = m.deliveries[ds.front()];
        const bool replayed = std::any_of(file_faults.begin(), file_faults.end(), [&](const FaultWindow* f) {
          return f->begin > *p->t_commit && f->begin <= first.t;
        });
        if (!replayed) got.emplace_back(p, &first);
      }
      if (got.size() < 2) continue;
      ++pairs;
      checked += got.size();
      for (std::size_t i = 1; i < got.size(); ++i) {
        if (got[i].second->record > got[i - 1].second->record) continue;
        ++inversions;
        evidence.add(0, "inversion",
                     r.label() + " received publish " + std::to_string(got[i].first->id) +
                         " of " + m.incarnations[publisher].label() + " at " +
                         m.at(got[i].second->t) + ", before publish " +
                         std::to_string(got[i - 1].first->id) + " (at " +
                         m.at(got[i - 1].second->t) + ") which it published first");
      }
    }
  }
  CheckResult r;
  r.name = "order";
  r.bound = "each listener receives one publisher's publishes in the order they were published "
            "(bursts excepted)";
  r.metrics = {{"order_pairs", pairs}, {"ordered_deliveries", checked}, {"inversions", inversions}};
  r.measured = std::to_string(inversions) + " out of order of " + std::to_string(checked) +
               " deliveries over " + std::to_string(pairs) + " publisher/listener pairs";
  r.evidence = evidence.lines();
  if (pairs == 0) {
    r.summary = "no listener received two publishes of one publisher: order not shown";
  } else if (inversions != 0) {
    r.summary = std::to_string(inversions) + " deliveries overtook an earlier publish of the "
                "same publisher";
  } else {
    r.summary = "every listener got each publisher's publishes in order (" +
                std::to_string(pairs) + " pairs)";
  }
  set_verdict(r, m, pairs > 0, inversions != 0);
  return r;
}

}  // namespace pjx::harness::detail
