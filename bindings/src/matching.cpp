// See matching.hpp.
#include "matching.hpp"

#include <algorithm>
#include <cmath>
#include <utility>

namespace mottrack {
namespace {
constexpr double kForbidden = 1e6;  // matching.py's _FORBIDDEN: far above every cost limit
}  // namespace

double box_iou(const double* a, const double* b) {
  const double iw = std::min(a[2], b[2]) - std::max(a[0], b[0]);
  const double ih = std::min(a[3], b[3]) - std::max(a[1], b[1]);
  const double inter = (iw > 0.0 ? iw : 0.0) * (ih > 0.0 ? ih : 0.0);
  const double area_a = (a[2] - a[0]) * (a[3] - a[1]);
  const double area_b = (b[2] - b[0]) * (b[3] - b[1]);
  const double uni = area_a + area_b - inter;
  return inter / (uni > 1e-12 ? uni : 1e-12);
}

void highest_scores(const double* scores, std::int64_t n, std::int64_t k, std::vector<double>& scratch,
                    std::vector<std::int64_t>& out) {
  scratch.assign(scores, scores + n);
  std::nth_element(scratch.begin(), scratch.begin() + (n - k), scratch.end());
  const double kth = scratch[static_cast<std::size_t>(n - k)];  // np.partition(scores, n - k)[n - k]
  std::int64_t equal_left = k;
  for (std::int64_t i = 0; i < n; ++i) equal_left -= scores[i] > kth;
  out.clear();
  for (std::int64_t i = 0; i < n; ++i) {
    if (scores[i] > kth) {
      out.push_back(i);
    } else if (scores[i] == kth && equal_left > 0) {
      out.push_back(i);
      --equal_left;
    }
  }
}

void SortedCentres::build(const std::vector<double>& values) {
  keyed_.resize(values.size());
  for (std::size_t k = 0; k < values.size(); ++k) keyed_[k] = {values[k], static_cast<int>(k)};
  const bool has_nan = std::any_of(values.begin(), values.end(), [](double v) { return v != v; });
  if (has_nan)
    std::sort(keyed_.begin(), keyed_.end(), [](const std::pair<double, int>& a, const std::pair<double, int>& b) {
      return less_total(a.first, b.first) || (!less_total(b.first, a.first) && a.second < b.second);
    });
  else
    std::sort(keyed_.begin(), keyed_.end());  // by value, ties by index
  std::size_t m = keyed_.size();
  while (m > 0 && keyed_[m - 1].first != keyed_[m - 1].first) --m;  // NaN sorts last
  sorted_.resize(m);
  order_.resize(m);
  for (std::size_t q = 0; q < m; ++q) {
    sorted_[q] = keyed_[q].first;
    order_[q] = keyed_[q].second;
  }
  start_.assign(m + 1, m);
  if (m == 0) return;
  lo_ = sorted_[0];
  const double span = sorted_[m - 1] - sorted_[0];
  scale_ = span > 0.0 && std::isfinite(span) ? static_cast<double>(m) / span : 0.0;
  for (std::size_t q = m; q-- > 0;) start_[bucket(sorted_[q])] = q;  // first position of each bucket
  for (std::size_t b = m; b-- > 0;) start_[b] = std::min(start_[b], start_[b + 1]);  // empty buckets
}

void SortedCentres::reserve(std::size_t n) {
  keyed_.reserve(n);
  sorted_.reserve(n);
  order_.reserve(n);
  start_.reserve(n + 1);
}

std::size_t SortedCentres::search(double v, bool strict, std::size_t lo, std::size_t hi) const {
  const auto first = sorted_.begin() + static_cast<std::ptrdiff_t>(lo);
  const auto last = sorted_.begin() + static_cast<std::ptrdiff_t>(hi);
  return static_cast<std::size_t>((strict ? std::upper_bound(first, last, v) : std::lower_bound(first, last, v)) -
                                  sorted_.begin());
}

std::size_t nearest_block(const SortedCentres& sorted, double x, std::size_t lo, std::size_t count, std::size_t k) {
  std::size_t left = lo, right = lo + count - k;
  while (left < right) {
    const std::size_t mid = left + (right - left) / 2;  // (left + right) // 2
    if (x - sorted.value(mid) > sorted.value(mid + k) - x)
      left = mid + 1;
    else
      right = mid;
  }
  return left;
}

void overlap_pairs(const std::vector<double>& tracks, const std::vector<double>& dets, SweepScratch& scratch,
                   PairList& out) {
  out.clear();
  for_each_overlap(tracks, dets, scratch, [&out](int t, int d) {
    out.ti.push_back(t);
    out.dj.push_back(d);
  });
}

void PairAssigner::assign(const PairList& pairs, const std::vector<double>& cost, double limit, int n_tracks,
                          int n_dets, PairList& matched) {
  matched.clear();
  ok_.clear();
  ok_cost_.clear();
  double max_cost = -INFINITY;
  for (std::size_t p = 0; p < pairs.size(); ++p) {
    if (cost[p] <= limit && std::isfinite(cost[p])) {
      ok_.ti.push_back(pairs.ti[p]);
      ok_.dj.push_back(pairs.dj[p]);
      ok_cost_.push_back(cost[p]);
      max_cost = std::max(max_cost, cost[p]);
    }
  }
  const std::size_t np = ok_.size();
  if (np == 0) return;
  all_.resize(np);
  for (std::size_t p = 0; p < np; ++p) all_[p] = static_cast<int>(p);
  // A pair whose cost equals the limit is as good matched as not: the solver decides, on all pairs.
  if (max_cost >= limit) return solve(all_, limit, n_tracks, n_dets, matched);
  // Degrees of rows and columns: a pair alone on its row and its column is its own component,
  // whose optimum is that pair; only the other pairs need the solver.
  row_rank_.assign(n_tracks, 0);
  col_rank_.assign(n_dets, 0);
  for (std::size_t p = 0; p < np; ++p) {
    ++row_rank_[ok_.ti[p]];
    ++col_rank_[ok_.dj[p]];
  }
  conflict_.clear();
  for (std::size_t p = 0; p < np; ++p)
    if (row_rank_[ok_.ti[p]] != 1 || col_rank_[ok_.dj[p]] != 1) conflict_.push_back(static_cast<int>(p));
  if (conflict_.empty()) {
    matched.ti = ok_.ti;
    matched.dj = ok_.dj;
    return;
  }
  // Equal costs inside the conflicts can make the optimum non-unique, and the solver's pick may then
  // depend on the other rows: solve everything together, as without the split.
  tie_costs_.clear();
  for (int p : conflict_) tie_costs_.push_back(ok_cost_[p]);
  std::sort(tie_costs_.begin(), tie_costs_.end());
  if (std::adjacent_find(tie_costs_.begin(), tie_costs_.end()) != tie_costs_.end())
    return solve(all_, limit, n_tracks, n_dets, matched);
  for (std::size_t p = 0; p < np; ++p)
    if (row_rank_[ok_.ti[p]] == 1 && col_rank_[ok_.dj[p]] == 1) {
      matched.ti.push_back(ok_.ti[p]);
      matched.dj.push_back(ok_.dj[p]);
    }
  solve(conflict_, limit, n_tracks, n_dets, matched);
}

// lap.lapjv(extend_cost=True, cost_limit) on the admissible pairs `which`: the dense matrix spans
// their rows and columns in ascending order (np.unique), every other entry forbidden. Appends the
// matches to `matched`.
void PairAssigner::solve(const std::vector<int>& which, double limit, int n_tracks, int n_dets,
                         PairList& matched) {
  row_rank_.assign(n_tracks, -1);
  col_rank_.assign(n_dets, -1);
  for (int p : which) row_rank_[ok_.ti[p]] = col_rank_[ok_.dj[p]] = 0;
  rows_.clear();
  cols_.clear();
  for (int t = 0; t < n_tracks; ++t)
    if (row_rank_[t] == 0) {
      row_rank_[t] = static_cast<int>(rows_.size());
      rows_.push_back(t);
    }
  for (int d = 0; d < n_dets; ++d)
    if (col_rank_[d] == 0) {
      col_rank_[d] = static_cast<int>(cols_.size());
      cols_.push_back(d);
    }
  const int nr = static_cast<int>(rows_.size()), nc = static_cast<int>(cols_.size());
  if (nr + nc > max_side) return greedy(which, n_tracks, n_dets, matched);  // (nr + nc)^2 would not fit
  dense_.assign(static_cast<std::size_t>(nr) * nc, kForbidden);
  for (int p : which) dense_[static_cast<std::size_t>(row_rank_[ok_.ti[p]]) * nc + col_rank_[ok_.dj[p]]] = ok_cost_[p];
  solver_.solve(nr, nc, dense_.data(), limit, row_to_col_, col_to_row_);
  for (int r = 0; r < nr; ++r)
    if (row_to_col_[r] >= 0) {
      matched.ti.push_back(rows_[r]);
      matched.dj.push_back(cols_[row_to_col_[r]]);
    }
}

// matching.greedy_assign: admissible pairs by (cost, row, column) ascending, each taken when its row
// and its column are still free; stops once min(rows, columns) pairs are taken.
void PairAssigner::greedy(const std::vector<int>& which, int n_tracks, int n_dets, PairList& matched) {
  order_.assign(which.begin(), which.end());
  std::sort(order_.begin(), order_.end(), [this](int a, int b) {
    if (ok_cost_[a] != ok_cost_[b]) return ok_cost_[a] < ok_cost_[b];
    if (ok_.ti[a] != ok_.ti[b]) return ok_.ti[a] < ok_.ti[b];
    return ok_.dj[a] < ok_.dj[b];
  });
  row_used_.assign(static_cast<std::size_t>(n_tracks), 0);
  col_used_.assign(static_cast<std::size_t>(n_dets), 0);
  const std::size_t limit = std::min(rows_.size(), cols_.size());
  std::size_t taken = 0;
  for (int p : order_) {
    const int t = ok_.ti[p], d = ok_.dj[p];
    if (row_used_[t] || col_used_[d]) continue;
    row_used_[t] = col_used_[d] = 1;
    matched.ti.push_back(t);
    matched.dj.push_back(d);
    if (++taken == limit) break;
  }
}

}  // namespace mottrack
