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

std::size_t SortedCentres::bucket(double v) const {
  const double b = (v - lo_) * scale_;
  if (!(b > 0.0)) return 0;  // below the range (or NaN)
  const std::size_t m = sorted_.size();
  return b >= static_cast<double>(m) ? m : static_cast<std::size_t>(b);
}

std::size_t SortedCentres::left(double v) const {
  // every value of an earlier bucket is < v, so the answer is at or after the bucket's start
  std::size_t q = start_[bucket(v)];
  while (q < sorted_.size() && sorted_[q] < v) ++q;
  return q;
}

std::size_t SortedCentres::right(double v) const {
  std::size_t q = start_[bucket(v)];
  while (q < sorted_.size() && sorted_[q] <= v) ++q;
  return q;
}

void sweep_pairs(const std::vector<double>& track_cx, const std::vector<double>& half_width,
                 const std::vector<double>& det_cx, SweepScratch& scratch, PairList& out) {
  out.clear();
  if (track_cx.empty() || det_cx.empty()) return;
  SortedCentres& sc = scratch.centres;
  sc.build(det_cx);
  for (std::size_t t = 0; t < track_cx.size(); ++t) {
    // searchsorted(side="left") of cx - hw and searchsorted(side="right") of cx + hw
    const std::size_t hi = sc.right(track_cx[t] + half_width[t]);
    for (std::size_t q = sc.left(track_cx[t] - half_width[t]); q < hi; ++q) {
      out.ti.push_back(static_cast<int>(t));
      out.dj.push_back(sc.index(q));
    }
  }
}

void overlap_pairs(const std::vector<double>& tracks, const std::vector<double>& dets, SweepScratch& scratch,
                   PairList& out) {
  out.clear();
  const std::size_t nt = tracks.size() / 4, nd = dets.size() / 4;
  if (nt == 0 || nd == 0) return;
  std::vector<double>& t_cx = scratch.track_cx;
  std::vector<double>& hw = scratch.half_width;
  std::vector<double>& d_cx = scratch.det_cx;
  PairList& cand = scratch.candidates;
  double max_dw = -INFINITY;
  d_cx.resize(nd);
  for (std::size_t d = 0; d < nd; ++d) {
    const double* b = &dets[4 * d];
    d_cx[d] = 0.5 * (b[0] + b[2]);
    max_dw = std::max(max_dw, b[2] - b[0]);
  }
  t_cx.resize(nt);
  hw.resize(nt);
  for (std::size_t t = 0; t < nt; ++t) {
    const double* b = &tracks[4 * t];
    t_cx[t] = 0.5 * (b[0] + b[2]);
    hw[t] = 0.5 * (b[2] - b[0] + max_dw);
  }
  sweep_pairs(t_cx, hw, d_cx, scratch, cand);
  for (std::size_t p = 0; p < cand.size(); ++p) {
    const double* a = &tracks[4 * cand.ti[p]];
    const double* b = &dets[4 * cand.dj[p]];
    if (b[1] < a[3] && b[3] > a[1] && b[0] < a[2] && b[2] > a[0]) {
      out.ti.push_back(cand.ti[p]);
      out.dj.push_back(cand.dj[p]);
    }
  }
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
  dense_.assign(static_cast<std::size_t>(nr) * nc, kForbidden);
  for (int p : which) dense_[static_cast<std::size_t>(row_rank_[ok_.ti[p]]) * nc + col_rank_[ok_.dj[p]]] = ok_cost_[p];
  solver_.solve(nr, nc, dense_.data(), limit, row_to_col_, col_to_row_);
  for (int r = 0; r < nr; ++r)
    if (row_to_col_[r] >= 0) {
      matched.ti.push_back(rows_[r]);
      matched.dj.push_back(cols_[row_to_col_[r]]);
    }
}

}  // namespace mottrack
